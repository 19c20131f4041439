use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

#[test]
fn generated_data_round_trips_exactly_and_reruns_are_incremental() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let expected = generate(&source, 40, 120);

    let first = ingest(&source, &store, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("ingested 40 objects, 4800 events"),
        "{}",
        stderr(&first)
    );
    let (ids, rows) = stored_event_ids(&store);
    assert_eq!(rows, expected.len());
    assert_eq!(ids, expected);

    let again = ingest(&source, &store, &[]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("ingested 0 objects, 0 events"),
        "{}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains("40 unchanged"),
        "{}",
        stderr(&again)
    );
    assert_eq!(stored_event_ids(&store).1, expected.len());

    let full = ingest(&source, &store, &["--full"]);
    assert!(full.status.success());
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));

    // Partition columns prune and filter.
    let by_day = sql(
        &store,
        "SELECT count(*) AS n FROM cloudtrail WHERE account = '111111111111' AND day = '2024-03-01'",
    );
    assert_eq!(
        stdout(&by_day).lines().nth(1),
        Some("120"),
        "{}",
        stderr(&by_day)
    );
}

#[test]
fn one_run_writes_at_most_one_file_per_partition_and_compact_merges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    // Many objects for the same account and day.
    let mut expected = BTreeSet::new();
    for batch in 0..2 {
        for file in 0..6 {
            let id = format!("id-{batch}-{file}");
            let body = json!({"Records": [record("111111111111", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", &id, "alice")]});
            write(
                &aws_key(
                    &source,
                    "111111111111",
                    "us-east-1",
                    "2024-05-01",
                    &format!("{batch}{file:015}"),
                ),
                &gzip(body.to_string().as_bytes()),
            );
            expected.insert(id);
        }
        let output = ingest(&source, &store, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let partition = store.join("account=111111111111/month=2024-05");
    let parquet_files = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .expect("partition")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    };
    assert_eq!(parquet_files(&partition), 2, "one file per run");
    let compact = run(&["compact", "--store", store.to_str().expect("utf-8")]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert_eq!(parquet_files(&partition), 1);
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
}

#[test]
fn partitions_are_written_as_months_close_and_late_deliveries_are_merged_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let account = "111111111111";
    let mut expected = BTreeSet::new();
    let mut add = |delivered: &str, event_day: &str, id: String, region: &str| {
        let time = format!("{event_day}T23:59:00Z");
        let body = json!({"Records": [record(account, &time, "s3.amazonaws.com", "ListBuckets", &id, "alice")]});
        write(
            &aws_key(&source, account, region, delivered, &id),
            &gzip(body.to_string().as_bytes()),
        );
        expected.insert(id);
    };
    let days: Vec<String> = (26..=30)
        .map(|day| format!("2024-04-{day}"))
        .chain((1..=6).map(|day| format!("2024-05-0{day}")))
        .collect();
    for date in &days {
        for region in ["us-east-1", "eu-west-1"] {
            add(date, date, format!("on-time-{date}-{region}"), region);
        }
    }
    // Delivered the next day, in the next month, as CloudTrail does for events just before midnight.
    add("2024-05-01", "2024-04-30", "next-day".into(), "us-east-1");
    // Delivered days late, after April's partition was written.
    add(
        "2024-05-04",
        "2024-04-29",
        "five-days-late".into(),
        "eu-west-1",
    );
    add(
        "2024-05-06",
        "2024-04-27",
        "nine-days-late".into(),
        "us-east-1",
    );
    // The source is the AWSLogs folder itself.
    let output = ingest(&source.join("AWSLogs"), &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
    for month in ["2024-04", "2024-05"] {
        let partition = store.join(format!("account={account}/month={month}"));
        let files = std::fs::read_dir(&partition)
            .expect("partition")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .count();
        assert_eq!(files, 1, "month {month}: one file for one run");
    }
    let rerun = ingest(&source.join("AWSLogs"), &store, &[]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
}

#[test]
fn duplicate_deliveries_are_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let a = record(
        "111111111111",
        "2024-05-01T10:00:00Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "dup-1",
        "alice",
    );
    let b = record(
        "111111111111",
        "2024-05-01T10:00:01Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "uniq-2",
        "alice",
    );
    write(
        &source.join("one.json"),
        json!({"Records": [a, b]}).to_string().as_bytes(),
    );
    write(
        &source.join("two.json.gz"),
        &gzip(json!({"Records": [a]}).to_string().as_bytes()),
    );
    // A bare array of records is accepted too.
    write(
        &source.join("three.json"),
        json!([a]).to_string().as_bytes(),
    );
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("4 events (2 new, 2 duplicates)"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stored_event_ids(&store).1, 2);
}

#[test]
fn bad_objects_are_reported_by_name_and_retried_while_the_rest_is_ingested() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let good = record(
        "111111111111",
        "2024-05-01T10:00:00Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "good-1",
        "alice",
    );
    write(
        &source.join("good.json"),
        json!({"Records": [good]}).to_string().as_bytes(),
    );
    let gz = gzip(json!({"Records": [good]}).to_string().as_bytes());
    let mut missing_time = good.clone();
    missing_time
        .as_object_mut()
        .expect("object")
        .remove("eventTime");
    let mut missing_source = good.clone();
    missing_source
        .as_object_mut()
        .expect("object")
        .remove("eventSource");
    let mut identity_string = good.clone();
    identity_string["userIdentity"] = json!("root");
    let huge = "x".repeat(17 << 20);
    let mut huge_record = good.clone();
    huge_record["requestParameters"] = json!({ "blob": huge });
    let bad: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.json.gz", gz[..gz.len() / 2].to_vec(), "gzip"),
        (
            "invalid.json",
            b"{\"Records\": [ {\"eventTime\": ".to_vec(),
            "invalid JSON",
        ),
        (
            "shape.json",
            br#"{"Items": []}"#.to_vec(),
            "wrong top-level shape",
        ),
        (
            "no-time.json",
            json!({"Records": [missing_time]}).to_string().into_bytes(),
            "missing eventTime",
        ),
        (
            "no-source.json",
            json!({"Records": [missing_source]})
                .to_string()
                .into_bytes(),
            "missing eventSource",
        ),
        (
            "identity.json",
            json!({"Records": [identity_string]})
                .to_string()
                .into_bytes(),
            "userIdentity: expected an object, found a string",
        ),
        ("empty.json.gz", Vec::new(), "empty file"),
        (
            "huge.json",
            json!({"Records": [huge_record]}).to_string().into_bytes(),
            "larger than",
        ),
    ];
    for (name, bytes, _) in &bad {
        write(&source.join(name), bytes);
    }
    let output = ingest(&source, &store, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    for (name, _, reason) in &bad {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not reported: {err}"));
        assert!(line.contains(reason), "{name}: {line}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(stored_event_ids(&store).1, 1);

    // Failed objects are retried; once fixed, they are ingested.
    let rerun = ingest(&source, &store, &[]);
    assert!(
        stderr(&rerun).contains(&format!("{} failed", bad.len())),
        "{}",
        stderr(&rerun)
    );
    for (name, _, _) in &bad {
        std::fs::remove_file(source.join(name)).expect("remove");
    }
    let fixed = record(
        "111111111111",
        "2024-05-02T10:00:00Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "fixed-1",
        "alice",
    );
    write(
        &source.join("invalid.json"),
        json!({"Records": [fixed]}).to_string().as_bytes(),
    );
    let rerun = ingest(&source, &store, &[]);
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert_eq!(stored_event_ids(&store).1, 2);
}

#[test]
fn skips_digests_insights_and_other_files_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let good = record(
        "111111111111",
        "2024-05-01T10:00:00Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "good-1",
        "alice",
    );
    write(
        &aws_key(&source, "111111111111", "us-east-1", "2024-05-01", "a"),
        &gzip(json!({"Records": [good]}).to_string().as_bytes()),
    );
    write(
        &source.join("AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/05/01/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T000000Z.json.gz"),
        &gzip(br#"{"digestStartTime":"x"}"#),
    );
    write(
        &source.join("AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2024/05/01/x.json.gz"),
        &gzip(b"{}"),
    );
    write(&source.join("README.md"), b"notes");
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("skipped 1 CloudTrail-Digest, 1 CloudTrail-Insight, 1 not .json/.json.gz"),
        "{err}"
    );
}

#[test]
fn a_cloudtracker_working_folder_ingests_its_trail_and_skips_the_rest_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (folder, store) = (dir.path().join("work"), dir.path().join("store"));
    let records = |day: &str, ids: &[&str]| {
        let records: Vec<_> = ids
            .iter()
            .map(|id| {
                record(
                    "111111111111",
                    &format!("{day}T10:00:00Z"),
                    "s3.amazonaws.com",
                    "ListBuckets",
                    id,
                    "alice",
                )
            })
            .collect();
        gzip(json!({ "Records": records }).to_string().as_bytes())
    };
    write(
        &aws_key(&folder, "111111111111", "us-east-1", "2024-05-01", "a"),
        &records("2024-05-01", &["e1", "e2"]),
    );
    write(
        &aws_key(&folder, "111111111111", "eu-west-1", "2024-05-02", "b"),
        &records("2024-05-02", &["e3"]),
    );
    write(
        &folder.join("AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/05/01/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T000000Z.json.gz"),
        &gzip(br#"{"digestStartTime":"2024-05-01T00:00:00Z","digestEndTime":"2024-05-01T01:00:00Z"}"#),
    );
    // What sits beside the trail in CloudTracker's layout: its config, the IAM snapshot, a policy.
    write(
        &folder.join("config.yaml"),
        b"accounts:\n  - name: demo\n    id: '111111111111'\n    iam: account-data/demo.json\n",
    );
    write(
        &folder.join("account-data/demo.json"),
        br#"{"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}"#,
    );
    write(
        &folder.join("policy.json"),
        br#"{"Version": "2012-10-17", "Statement": []}"#,
    );
    write(
        &folder.join("notes/exported.json"),
        br#"[{"eventTime": "2024-05-03T00:00:00Z"}]"#,
    );

    let output = ingest(&folder, &store, &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("skipped 1 CloudTrail-Digest, 1 not .json/.json.gz, 3 outside the AWSLogs/…/CloudTrail/ layout"),
        "{err}"
    );
    assert!(err.contains("0 failed"), "{err}");
    assert_eq!(stored_event_ids(&store).1, 3);

    // Inside the layout, a broken object still fails, by name.
    let truncated = records("2024-05-03", &["e4"]);
    let key = aws_key(&folder, "111111111111", "us-east-1", "2024-05-03", "c");
    write(&key, &truncated[..truncated.len() - 9]);
    let output = ingest(&folder, &store, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("error: {}", key.display())) && err.contains("gzip"),
        "{err}"
    );
    assert_eq!(stored_event_ids(&store).1, 3);
}

#[test]
fn documents_that_are_not_logs_are_skipped_by_content_where_there_is_no_trail_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (folder, store) = (dir.path().join("loose"), dir.path().join("store"));
    let log = json!({"Records": [record("111111111111", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", "e1", "alice")]});
    write(&folder.join("attack.json"), log.to_string().as_bytes());
    write(
        &folder.join("iam-snapshot.json"),
        br#"{"UserDetailList": [], "RoleDetailList": [], "GroupDetailList": [], "Policies": []}"#,
    );
    write(&folder.join("trust-policy.json"), br#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}"#);
    write(&folder.join("odd-name.json.gz"), &gzip(br#"{"awsAccountId": "111111111111", "digestStartTime": "x", "digestEndTime": "y", "logFiles": []}"#));
    write(
        &folder.join("settings.json"),
        br#"{"accounts": [{"name": "demo", "id": "111111111111"}]}"#,
    );
    let output = ingest(&folder, &store, &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("skipped 1 IAM authorization details, 1 IAM policy document, 1 CloudTrail digest, 1 CloudTracker config"),
        "{err}"
    );
    assert_eq!(stored_event_ids(&store).1, 1);

    // Something that looks like a log and is broken still fails: a Records key, or an array.
    write(
        &folder.join("broken.json"),
        br#"{"Records": [{"eventTime": 5}]}"#,
    );
    write(&folder.join("unknown.json"), br#"{"something": "else"}"#);
    let output = ingest(&folder, &store, &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("broken.json") && err.contains("unknown.json"),
        "{err}"
    );
    assert!(err.contains("2 failed"), "{err}");
}

#[test]
fn edge_case_records_from_the_wild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let records = json!([
        // eventVersion 1.01: no eventType, no readOnly.
        {"eventVersion":"1.01","userIdentity":{"type":"Root","principalId":"111111111111","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111"},"eventTime":"2015-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"console","requestParameters":null,"responseElements":null,"requestID":"r1","eventID":"edge-1"},
        // A service event without userIdentity.
        {"eventVersion":"1.08","eventTime":"2024-05-01T00:00:00Z","eventSource":"kms.amazonaws.com","eventName":"RotateKey","awsRegion":"us-east-1","eventID":"edge-2","eventType":"AwsServiceEvent","recipientAccountId":"111111111111","serviceEventDetails":{"keyId":"k"},"readOnly":false},
        // Identity Center user.
        {"eventVersion":"1.09","userIdentity":{"type":"IdentityCenterUser","accountId":"111111111111","onBehalfOf":{"userId":"u-1","identityStoreArn":"arn:aws:identitystore::111111111111:identitystore/d-1"},"credentialId":"c-1"},"eventTime":"2024-05-01T01:00:00Z","eventSource":"sso.amazonaws.com","eventName":"ListAccounts","eventID":"edge-3","recipientAccountId":"111111111111"},
        // GovCloud ARNs.
        {"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws-us-gov:sts::111111111111:assumed-role/admin/x","accountId":"111111111111","accessKeyId":"ASIAX","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws-us-gov:iam::111111111111:role/admin","accountId":"111111111111","userName":"admin"},"attributes":{"creationDate":"2024-05-01T00:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-01T02:00:00Z","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"us-gov-west-1","eventID":"edge-4","recipientAccountId":"111111111111","resources":[{"ARN":"arn:aws-us-gov:s3:::b","type":"AWS::S3::Bucket"}],"tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":"s3.amazonaws.com"}}
    ]);
    write(&source.join("edge.json"), records.to_string().as_bytes());
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let query = sql(
        &store,
        "SELECT eventid, useridentity.type AS kind, useridentity.sessioncontext.sessionissuer.arn AS issuer, account, day FROM cloudtrail ORDER BY eventid",
    );
    assert!(query.status.success(), "{}", stderr(&query));
    let text = stdout(&query);
    assert!(
        text.contains("edge-1,Root,,111111111111,2015-01-01"),
        "{text}"
    );
    assert!(text.contains("edge-2,,,111111111111,2024-05-01"), "{text}");
    assert!(
        text.contains("edge-3,IdentityCenterUser,,111111111111,2024-05-01"),
        "{text}"
    );
    assert!(
        text.contains(
            "edge-4,AssumedRole,arn:aws-us-gov:iam::111111111111:role/admin,111111111111,2024-05-01"
        ),
        "{text}"
    );
}

#[test]
fn sql_reads_queries_from_argument_file_and_stdin_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let store_arg = store.to_str().expect("utf-8");

    let empty = run(&["sql", "--store", store_arg, "SELECT 1"]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(
        stderr(&empty).contains("holds no events yet") && stderr(&empty).contains("ctidx ingest"),
        "{}",
        stderr(&empty)
    );

    generate(&source, 2, 3);
    assert!(ingest(&source, &store, &[]).status.success());
    let query =
        "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY eventname";

    let table = run(&["sql", "--store", store_arg, query]);
    assert!(stdout(&table).contains("| eventname"), "{}", stdout(&table));
    let csv = run(&["sql", "--store", store_arg, "--format", "csv", query]);
    assert!(
        stdout(&csv).starts_with("eventname,n\nDescribeInstances,"),
        "{}",
        stdout(&csv)
    );
    let json_out = run(&["sql", "--store", store_arg, "--format", "json", query]);
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&json_out)).expect("json array");
    assert_eq!(parsed.as_array().map(Vec::len), Some(5));
    let ndjson = run(&["sql", "--store", store_arg, "--format", "ndjson", query]);
    assert_eq!(stdout(&ndjson).lines().count(), 5);

    let file = dir.path().join("q.sql");
    std::fs::write(&file, query).expect("write");
    let from_file = run(&[
        "sql",
        "--store",
        store_arg,
        "--format",
        "csv",
        "-f",
        file.to_str().expect("utf-8"),
    ]);
    assert_eq!(stdout(&from_file), stdout(&csv));

    let mut child = ctidx()
        .args(["sql", "--store", store_arg, "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(query.as_bytes())
            .expect("write");
    }
    let from_stdin = child.wait_with_output().expect("wait");
    assert_eq!(stdout(&from_stdin), stdout(&csv));

    // Nested columns still print as CSV (as JSON text).
    let nested = run(&[
        "sql",
        "--store",
        store_arg,
        "--format",
        "csv",
        "SELECT useridentity FROM cloudtrail LIMIT 1",
    ]);
    assert!(
        stdout(&nested).contains("\"\"type\"\":\"\"IAMUser\"\""),
        "{}",
        stdout(&nested)
    );

    let bad = run(&["sql", "--store", store_arg, "SELEC nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = stderr(&bad);
    assert!(
        err.starts_with("error: ") && !err.contains("backtrace") && err.lines().count() <= 3,
        "{err}"
    );
}

#[test]
fn sigkill_at_any_point_then_rerun_stores_every_event_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("logs");
    let expected = generate(&source, 300, 200);

    // Time one undisturbed run, then kill runs at fractions of it.
    let timing_store = dir.path().join("timing");
    let started = Instant::now();
    assert!(
        ingest(&source, &timing_store, &["--quiet"])
            .status
            .success()
    );
    let full_run = started.elapsed();

    for (attempt, fraction) in [0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.1].iter().enumerate() {
        let store = dir.path().join(format!("store-{attempt}"));
        // Two interrupted runs in a row, then one that completes.
        for _ in 0..2 {
            let mut child = ctidx()
                .args([
                    "ingest",
                    "--quiet",
                    "--source",
                    source.to_str().expect("utf-8"),
                    "--store",
                    store.to_str().expect("utf-8"),
                    // Every other attempt spills rows to disk, so kills land during spills too.
                    "--memory-budget",
                    if attempt % 2 == 1 { "1" } else { "192" },
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(full_run.mul_f64(*fraction));
            let _ = child.kill();
            let _ = child.wait();
        }
        let finish = ingest(&source, &store, &[]);
        assert!(finish.status.success(), "{}", stderr(&finish));
        let (ids, rows) = stored_event_ids(&store);
        assert_eq!(rows, expected.len(), "attempt {attempt}: rows");
        assert_eq!(ids, expected, "attempt {attempt}: ids");
        assert_eq!(
            store_leftovers(&store),
            Vec::<String>::new(),
            "attempt {attempt}"
        );
    }
    let _ = Duration::ZERO;
}

fn walk_names(root: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

#[test]
fn a_small_memory_budget_spills_to_disk_and_stores_the_same_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let expected = generate(&source, 60, 150);
    let output = ingest(&source, &store, &["--memory-budget", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
    let leftovers: Vec<String> = std::fs::read_dir(store.join("_ctidx"))
        .expect("meta")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".spill-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `files` objects of `per_file` records, all of one account and one day: a single partition.
fn one_partition(root: &std::path::Path, files: usize, per_file: usize) -> usize {
    for file in 0..files {
        let records: Vec<_> = (0..per_file)
            .map(|i| {
                let n = file * per_file + i;
                record(
                    "111111111111",
                    &format!(
                        "2024-03-01T{:02}:{:02}:{:02}Z",
                        (n / 3600) % 24,
                        (n / 60) % 60,
                        n % 60
                    ),
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    &format!("{file:08x}-0000-4000-8000-{n:012x}"),
                    &format!("user{}", n % 13),
                )
            })
            .collect();
        write(
            &aws_key(
                root,
                "111111111111",
                "us-east-1",
                "2024-03-01",
                &file.to_string(),
            ),
            &gzip(json!({ "Records": records }).to_string().as_bytes()),
        );
    }
    files * per_file
}

#[test]
fn one_partition_larger_than_the_memory_budget_is_written_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    let small_events = one_partition(&small, 40, 1000);
    let large_events = one_partition(&large, 320, 1000);
    let run = |source: &std::path::Path, store: &std::path::Path| {
        let mut command = ctidx();
        command
            .args(["ingest", "--quiet", "--memory-budget", "8", "--source"])
            .arg(source)
            .arg("--store")
            .arg(store);
        peak_rss_kib(command)
    };
    let (small_store, large_store) = (
        dir.path().join("small-store"),
        dir.path().join("large-store"),
    );
    let (status, small_rss) = run(&small, &small_store);
    assert_eq!(status, 0);
    let (status, large_rss) = run(&large, &large_store);
    assert_eq!(status, 0);
    assert_eq!(stored_event_ids(&small_store).1, small_events);
    assert_eq!(stored_event_ids(&large_store).1, large_events);
    // Eight times the events in one partition; spilled runs merged into one file.
    let files = walk_names(&large_store.join("account=111111111111"));
    assert_eq!(files.len(), 1, "{files:?}");
    println!(
        "peak memory, one partition: {small_events} events {} MiB, {large_events} events {} MiB",
        small_rss / 1024,
        large_rss / 1024
    );
    assert!(
        large_rss < small_rss * 3 / 2 + 32 * 1024,
        "peak memory grew with the partition: {small_rss} KiB for {small_events} events, {large_rss} KiB for {large_events}"
    );
}

/// A busy day (16,384 events or more) is a file of its own as soon as it closes; quiet days wait
/// for their month and share one file; a query sees every event either way.
#[test]
fn a_busy_day_is_a_file_of_its_own_and_quiet_days_share_their_month() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let account = "111111111111";
    let mut expected = BTreeSet::new();
    for (day, events) in [("2024-05-01", 16_400), ("2024-05-02", 5), ("2024-05-03", 5)] {
        let records: Vec<serde_json::Value> = (0..events)
            .map(|n| {
                let id = format!("{day}-{n}");
                expected.insert(id.clone());
                record(
                    account,
                    &format!("{day}T10:00:00Z"),
                    "s3.amazonaws.com",
                    "ListBuckets",
                    &id,
                    &format!("user{}", n % 7),
                )
            })
            .collect();
        write(
            &aws_key(&source, account, "us-east-1", day, "0"),
            &gzip(json!({ "Records": records }).to_string().as_bytes()),
        );
    }
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let partition = store.join(format!("account={account}/month=2024-05"));
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&partition)
        .expect("partition")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
    let days = stdout(&sql(
        &store,
        "SELECT day, count(*) AS n FROM cloudtrail WHERE month = '2024-05' GROUP BY day ORDER BY day",
    ));
    assert_eq!(
        days,
        "day,n\n2024-05-01,16400\n2024-05-02,5\n2024-05-03,5\n"
    );
}

/// Rewrites a month-layout store as an earlier ctidx laid it out: one folder per account and day
/// (`account=…/day=YYYY-MM-DD/`), files without the `day` column. Returns the day files written.
fn rewrite_as_day_layout(store: &std::path::Path) -> Vec<std::path::PathBuf> {
    use arrow::array::{Array, StringArray, UInt32Array};
    use arrow::compute::take_record_batch;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let mut written = Vec::new();
    let month_files: Vec<_> = files_under(store)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| p.to_string_lossy().contains("/month="))
        .collect();
    for (number, path) in month_files.iter().enumerate() {
        let account_dir = path
            .parent()
            .and_then(|month| month.parent())
            .expect("account folder");
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).expect("open"))
                .expect("parquet")
                .build()
                .expect("reader");
        let mut by_day: std::collections::BTreeMap<String, Vec<arrow::record_batch::RecordBatch>> =
            Default::default();
        for batch in reader {
            let batch = batch.expect("batch");
            let day_index = batch.schema().index_of("day").expect("day column");
            let days = batch
                .column(day_index)
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("day is text")
                .clone();
            let without_day: Vec<usize> = (0..batch.num_columns())
                .filter(|c| *c != day_index)
                .collect();
            let batch = batch.project(&without_day).expect("project");
            let distinct: BTreeSet<&str> = (0..days.len()).map(|row| days.value(row)).collect();
            for day in distinct {
                let rows = UInt32Array::from_iter_values(
                    (0..days.len() as u32).filter(|row| days.value(*row as usize) == day),
                );
                let rows = take_record_batch(&batch, &rows).expect("take");
                by_day.entry(day.to_string()).or_default().push(rows);
            }
        }
        for (day, batches) in by_day {
            let folder = account_dir.join(format!("day={day}"));
            std::fs::create_dir_all(&folder).expect("day folder");
            let file = folder.join(format!("part-{number:05}-0000.parquet"));
            let mut writer = ArrowWriter::try_new(
                std::fs::File::create(&file).expect("create"),
                batches[0].schema(),
                None,
            )
            .expect("writer");
            for batch in &batches {
                writer.write(batch).expect("write");
            }
            writer.close().expect("close");
            written.push(file);
        }
    }
    for path in &month_files {
        std::fs::remove_dir_all(path.parent().expect("month folder")).ok();
    }
    written
}

#[test]
fn compact_moves_a_day_layout_store_and_every_answer_stays_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let mut expected = generate(&source, 24, 40);
    // A second month for one account.
    let april: Vec<serde_json::Value> = (0..30)
        .map(|n| {
            let id = format!("april-{n}");
            expected.insert(id.clone());
            record(
                "111111111111",
                &format!("2024-04-{:02}T08:00:00Z", 1 + n % 3),
                "iam.amazonaws.com",
                "GetUser",
                &id,
                "alice",
            )
        })
        .collect();
    write(
        &aws_key(&source, "111111111111", "us-east-1", "2024-04-01", "april"),
        &gzip(json!({ "Records": april }).to_string().as_bytes()),
    );
    let output = ingest(&source, &store, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let answers = |store: &std::path::Path| {
        let output = sql(
            store,
            "SELECT account, month, day, eventid, eventtime, eventname, useridentity.arn AS arn \
             FROM cloudtrail ORDER BY eventid",
        );
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let before = answers(&store);
    assert_eq!(before.lines().count(), expected.len() + 1);

    let day_files = rewrite_as_day_layout(&store);
    assert!(day_files.len() > 12, "{day_files:?}");
    // One day file delivered twice, as a crash of the earlier layout's writer could leave it.
    let twice = &day_files[0];
    std::fs::copy(twice, twice.with_file_name("part-99999-0000.parquet")).expect("copy");

    let refused = sql(&store, "SELECT 1");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("ctidx compact"),
        "{}",
        stderr(&refused)
    );

    let compact = run(&["compact", "--store", store.to_str().expect("utf-8")]);
    assert!(compact.status.success(), "{}", stderr(&compact));
    assert!(
        stderr(&compact).contains("moved the store to one folder per month"),
        "{}",
        stderr(&compact)
    );
    let leftovers: Vec<_> = files_under(&store)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/day="))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // One file per month partition: 2 accounts in March, one in April; each with its summaries.
    let month_files = files_under(&store)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| !p.starts_with(store.join("_ctidx")))
        .count();
    assert_eq!(month_files, 3);
    assert_eq!(store_leftovers(&store), Vec::<String>::new());
    assert_eq!(answers(&store), before);
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
}
