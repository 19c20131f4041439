//! Readers never write, a crash leaves nothing a writer does not remove, and one unreadable path
//! does not stop a listing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;

use crate::support::*;

const ACCOUNT: &str = "111111111111";

/// A store of one partition, holding `events` events.
fn small_store(dir: &Path, events: usize) -> PathBuf {
    let (source, store) = (dir.join("logs"), dir.join("store"));
    let records: Vec<_> = (0..events)
        .map(|i| {
            record(
                ACCOUNT,
                &format!("2024-05-01T10:00:{:02}Z", i % 60),
                "s3.amazonaws.com",
                "ListBuckets",
                &format!("event-{i}"),
                "alice",
            )
        })
        .collect();
    write(
        &aws_key(&source, ACCOUNT, "us-east-1", "2024-05-01", "a"),
        &gzip(json!({ "Records": records }).to_string().as_bytes()),
    );
    let output = ingest(&source, &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    store
}

/// Every path under `root` (the root itself included) with its size and modification time.
fn state(root: &Path) -> BTreeMap<PathBuf, (bool, u64, SystemTime)> {
    let mut state = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let metadata = std::fs::symlink_metadata(&path).expect("metadata");
        let modified = metadata.modified().expect("modification time");
        state.insert(path.clone(), (metadata.is_dir(), metadata.len(), modified));
        if metadata.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("folder")
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    state
}

fn count(store: &Path) -> String {
    let output = sql(store, "SELECT count(*) AS n FROM cloudtrail");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn partition_dir(store: &Path) -> PathBuf {
    store.join(format!("account={ACCOUNT}/month=2024-05"))
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("partition")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

#[test]
fn sql_and_query_create_change_and_remove_nothing_in_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = small_store(dir.path(), 5);
    // What an interrupted writer leaves: a file written aside and a folder of spilled rows. Only a
    // writer may remove them.
    write(&partition_dir(&store).join(".part-x.parquet.tmp"), b"half");
    write(&store.join("_ctidx/.spill-abc/0.arrow"), b"rows");
    write(
        &dir.path().join("iam.json"),
        json!({"UserDetailList": [{"UserName": "alice", "UserId": "AIDA1",
            "Arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "Path": "/",
            "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [],
            "AttachedManagedPolicies": []}],
            "GroupDetailList": [], "RoleDetailList": [], "Policies": []})
        .to_string()
        .as_bytes(),
    );
    write(
        &dir.path().join("config.yaml"),
        format!("accounts:\n  - name: one\n    id: '{ACCOUNT}'\n    iam: iam.json\n").as_bytes(),
    );
    let before = state(&store);
    let config = dir.path().join("config.yaml");
    let (config, store_text) = (
        config.to_str().expect("utf-8"),
        store.to_str().expect("utf-8"),
    );
    for args in [
        vec![
            "sql",
            "--store",
            store_text,
            "SELECT count(*) FROM cloudtrail",
        ],
        vec![
            "query",
            "--config",
            config,
            "--store",
            store_text,
            "--list",
            "users",
            "--start",
            "2024-01-01",
            "--end",
            "2024-12-31",
        ],
        vec![
            "query",
            "--config",
            config,
            "--store",
            store_text,
            "--user",
            "alice",
            "--start",
            "2024-01-01",
            "--end",
            "2024-12-31",
        ],
    ] {
        let output = run(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(state(&store), before, "a reader changed the store");

    // A writer removes what was left.
    let compact = run(&["compact", "--store", store_text]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert_eq!(store_leftovers(&store), Vec::<String>::new());
}

#[test]
fn readers_leave_out_what_an_interrupted_compaction_replaced_and_writers_finish_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = small_store(dir.path(), 7);
    let expected = count(&store);
    assert!(expected.ends_with("\n7\n"), "{expected}");
    // A compaction that stopped after its merged file was in place, before the old ones went.
    let partition = partition_dir(&store);
    let [old] = data_files(&partition).try_into().expect("one data file");
    let merged = partition.join("part-99999999T999999.999999Z-1-0.parquet");
    std::fs::copy(&old, &merged).expect("copy");
    let old_name = old
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    write(
        &store.join("_ctidx/compaction.json"),
        json!({
            "partition": format!("account={ACCOUNT}/month=2024-05"),
            "new_file": "part-99999999T999999.999999Z-1-0.parquet",
            "old_files": [old_name],
        })
        .to_string()
        .as_bytes(),
    );
    let before = state(&store);
    assert_eq!(count(&store), expected, "a replaced file was read again");
    assert_eq!(stored_event_ids(&store).1, 7);
    assert_eq!(state(&store), before);

    // A compaction whose merged file never arrived replaced nothing.
    std::fs::rename(&merged, dir.path().join("aside.parquet")).expect("move");
    assert_eq!(count(&store), expected);
    std::fs::rename(dir.path().join("aside.parquet"), &merged).expect("move back");

    let compact = run(&["compact", "--store", store.to_str().expect("utf-8")]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert_eq!(data_files(&partition), [merged]);
    assert_eq!(store_leftovers(&store), Vec::<String>::new());
    assert_eq!(count(&store), expected);
}

/// The ingest command, without the file-permission bypass root has: as root, a folder with mode
/// 000 would still be read.
fn ingest_without_root_bypass(source: &Path, store: &Path) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut command = ctidx();
    command.args([
        "ingest",
        "--source",
        source.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    // CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave the bounding set, so the program run has
    // neither.
    unsafe {
        command.pre_exec(|| {
            for capability in [1, 2] {
                if libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 {
                    let error = std::io::Error::last_os_error();
                    // Without the capability to drop capabilities, none were held.
                    if error.raw_os_error() != Some(libc::EPERM) {
                        return Err(error);
                    }
                }
            }
            Ok(())
        });
    }
    command.output().expect("ctidx runs")
}

#[test]
fn an_unreadable_folder_and_a_symlink_loop_fail_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let event = |id: &str| json!({"Records": [record(ACCOUNT, "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", id, "alice")]});
    write(
        &source.join("a/good.json"),
        event("good").to_string().as_bytes(),
    );
    write(
        &source.join("locked/hidden.json"),
        event("locked").to_string().as_bytes(),
    );
    write(
        &source.join("z/late.json"),
        event("late").to_string().as_bytes(),
    );
    std::os::unix::fs::symlink(&source, source.join("a/loop")).expect("symlink");
    std::fs::set_permissions(
        source.join("locked"),
        std::fs::Permissions::from_mode(0o000),
    )
    .expect("chmod");

    let output = ingest_without_root_bypass(&source, &store);
    std::fs::set_permissions(
        source.join("locked"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod back");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("/locked") && l.contains("cannot read")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("/a/loop") && l.contains("symbolic link loop")),
        "{err}"
    );
    assert!(err.contains("2 failed"), "{err}");
    let (ids, rows) = stored_event_ids(&store);
    assert_eq!(rows, 2);
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["good".to_string(), "late".to_string()]
    );
}
