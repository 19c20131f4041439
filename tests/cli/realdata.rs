//! The real public logs under `CTIDX_REALDATA_DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctidx::store::schema;
use serde_json::Value;

use crate::support::*;

/// Every record of every CloudTrail file under `dir`, read independently of ctidx.
fn source_records(dir: &Path) -> Vec<Value> {
    files_under(dir)
        .iter()
        .filter_map(|path| log_records(path))
        .flatten()
        .collect()
}

#[test]
#[ignore = "needs CTIDX_REALDATA_DIR"]
fn every_real_record_is_stored_once_and_reconstructs_without_losing_a_field() {
    let root = realdata_dir();
    let source = root.join("cloudtrail");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    // The same eventID may be delivered more than once (the sample holds copies); it is stored once
    // per account, and every copy is identical to the stored one.
    let mut originals: BTreeMap<String, Value> = BTreeMap::new();
    let records = source_records(&source);
    for record in &records {
        let id = record["eventID"].as_str().expect("eventID").to_string();
        if let Some(previous) = originals.insert(id.clone(), record.clone()) {
            assert_eq!(
                &previous, record,
                "two different records share eventID {id}"
            );
        }
    }

    let mut rebuilt: BTreeMap<String, Value> = BTreeMap::new();
    for entry in walk_parquet(&store) {
        for batch in ctidx::store::read_parquet(&entry).expect("read") {
            for row in 0..batch.num_rows() {
                let record = schema::reconstruct(&batch, row).expect("reconstruct");
                let id = record["eventID"].as_str().expect("eventID").to_string();
                assert!(
                    rebuilt.insert(id.clone(), record).is_none(),
                    "eventID {id} stored twice"
                );
            }
        }
    }
    assert_eq!(rebuilt.len(), originals.len());
    for (id, original) in &originals {
        assert_eq!(
            rebuilt.get(id),
            Some(original),
            "record {id} differs after the round trip"
        );
    }
    eprintln!(
        "real data: {} records read, {} distinct events stored and reconstructed field for field",
        records.len(),
        rebuilt.len()
    );
}

/// The store's data files (not the summaries under `_ctidx`).
fn walk_parquet(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "parquet"))
        .filter(|path| !path.starts_with(root.join("_ctidx")))
        .collect()
}
