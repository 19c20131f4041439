//! `ctidx unmapped`: the event kinds the mapping has no answer for, then a summary line of its own.

use std::path::Path;
use std::process::Stdio;

use serde_json::json;

use crate::support::*;

const SUMMARY: &str =
    "3 of 6 records (50.00%) map to IAM actions or to a class without one; 2 event kinds unmapped";

/// A store of six records: three the mapping knows (an action, a no-permission class, a
/// console-internal call) and two kinds it does not, one of them twice.
fn store_with_unmapped_events(dir: &Path) -> std::path::PathBuf {
    let events = [
        ("iam.amazonaws.com", "GetUser"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("cloudshell.amazonaws.com", "sendHeartBeat"),
        ("example.amazonaws.com", "DoSomethingNew"),
        ("example.amazonaws.com", "DoSomethingNew"),
        ("iam.amazonaws.com", "NoSuchCall"),
    ];
    let records: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, (source, name))| {
            record(
                "111111111111",
                &format!("2024-03-01T00:00:{i:02}Z"),
                source,
                name,
                &format!("00000000-0000-4000-8000-{i:012}"),
                "alice",
            )
        })
        .collect();
    let logs = dir.join("logs");
    let body = serde_json::to_vec(&json!({ "Records": records })).expect("json");
    write(
        &aws_key(&logs, "111111111111", "us-east-1", "2024-03-01", "0"),
        &gzip(&body),
    );
    let store = dir.join("store");
    let output = ingest(&logs, &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    store
}

#[test]
fn lists_unmapped_kinds_on_stdout_and_the_summary_alone_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_unmapped_events(dir.path());
    let output = run(&["unmapped", "--store", store.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "2\texample.amazonaws.com\tDoSomethingNew\n1\tiam.amazonaws.com\tNoSuchCall\n"
    );
    assert_eq!(stderr(&output), format!("{SUMMARY}\n"));

    let quiet = run(&[
        "unmapped",
        "--quiet",
        "--store",
        store.to_str().expect("utf-8"),
    ]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stdout(&quiet), stdout(&output));
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn summary_is_a_line_of_its_own_after_the_list_on_a_shared_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_unmapped_events(dir.path());
    let shared_path = dir.path().join("output.txt");
    let shared = std::fs::File::create(&shared_path).expect("create");
    let status = ctidx()
        .args(["unmapped", "--store", store.to_str().expect("utf-8")])
        .stdout(Stdio::from(shared.try_clone().expect("clone")))
        .stderr(Stdio::from(shared))
        .status()
        .expect("ctidx runs");
    assert!(status.success());
    let text = std::fs::read_to_string(&shared_path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "2\texample.amazonaws.com\tDoSomethingNew",
            "1\tiam.amazonaws.com\tNoSuchCall",
            SUMMARY,
        ],
        "{text:?}"
    );
    assert!(text.ends_with('\n'), "{text:?}");
}
