//! `ctidx ingest` from S3: the real binary against a real S3 server on loopback.

#[cfg(feature = "cluster")]
mod cluster;
mod server;
mod store;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::support::*;
use server::Server;

const BUCKET: &str = "trail";

/// `ctidx` with the server's credentials in the environment and nothing else from AWS settings.
fn ctidx_aws(home: &Path) -> Command {
    let mut command = ctidx();
    for name in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_DEFAULT_REGION",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_ACCESS_KEY_ID", server::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", server::SECRET_KEY)
        .env("AWS_REGION", server::REGION)
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn s3_ingest_command(
    server: &Server,
    home: &Path,
    store: &Path,
    source: &str,
    extra: &[&str],
) -> Command {
    let mut command = ctidx_aws(home);
    command
        .args([
            "ingest",
            "--source",
            source,
            "--endpoint-url",
            &server.endpoint,
        ])
        .arg("--store")
        .arg(store)
        .args(extra);
    command
}

fn s3_ingest(server: &Server, home: &Path, store: &Path, source: &str, extra: &[&str]) -> Output {
    s3_ingest_command(server, home, store, source, extra)
        .output()
        .expect("ctidx runs")
}

fn gets(server: &Server) -> u32 {
    server.control.get_keys().values().sum()
}

fn days(store: &Path) -> Vec<String> {
    let output = sql(store, "SELECT DISTINCT day FROM cloudtrail ORDER BY day");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().skip(1).map(String::from).collect()
}

#[test]
fn more_than_1000_keys_are_paged_through_and_a_rerun_downloads_only_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    let expected = generate(&server.root.join(BUCKET).join("logs"), 1030, 2);
    // Not logs: skipped, never downloaded.
    server.put(BUCKET, "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/111111111111_CloudTrail-Digest_us-east-1_x.json.gz", b"digest");
    server.put(
        BUCKET,
        "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/readme.txt",
        b"text",
    );

    let first = s3_ingest(
        &server,
        dir.path(),
        &store,
        "s3://trail/logs",
        &["--concurrency", "8"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("ingested 1030 objects, 2060 events"),
        "{}",
        stderr(&first)
    );
    assert_eq!(stored_event_ids(&store), (expected.clone(), expected.len()));
    let object_pages = server
        .control
        .lists()
        .iter()
        .filter(|(_, delimited)| !delimited)
        .count();
    assert!(
        object_pages >= 2,
        "the listing was paged: {object_pages} pages"
    );
    assert_eq!(
        gets(&server),
        1030,
        "each log downloaded once, nothing else"
    );

    server.control.reset_counts();
    let again = s3_ingest(&server, dir.path(), &store, "s3://trail/logs", &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("ingested 0 objects"),
        "{}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains("1030 unchanged"),
        "{}",
        stderr(&again)
    );
    assert_eq!(gets(&server), 0, "nothing downloaded again");

    // A changed object (new ETag) is downloaded again; its events are not stored twice.
    let changed = aws_key(
        &server.root.join(BUCKET).join("logs"),
        "111111111111",
        "us-east-1",
        "2024-03-01",
        &format!("{:016}", 0),
    );
    let mut body = serde_json::from_slice::<serde_json::Value>(&gunzip(
        &std::fs::read(&changed).expect("read"),
    ))
    .expect("json");
    let records = body["Records"].as_array_mut().expect("records");
    records.push(record(
        "111111111111",
        "2024-03-01T12:00:00Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "added-later",
        "bob",
    ));
    std::fs::write(&changed, gzip(body.to_string().as_bytes())).expect("write");
    server.control.reset_counts();
    let third = s3_ingest(&server, dir.path(), &store, "s3://trail/logs", &[]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("ingested 1 objects, 3 events (1 new, 2 duplicates)"),
        "{}",
        stderr(&third)
    );
    assert_eq!(gets(&server), 1);
    assert_eq!(stored_event_ids(&store).1, expected.len() + 1);
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn put_log(server: &Server, key: &str, account: &str, day: &str, ids: &[&str]) {
    let records: Vec<_> = ids
        .iter()
        .map(|id| {
            record(
                account,
                &format!("{day}T08:00:00Z"),
                "ec2.amazonaws.com",
                "DescribeInstances",
                id,
                "alice",
            )
        })
        .collect();
    server.put(
        BUCKET,
        key,
        &gzip(json!({ "Records": records }).to_string().as_bytes()),
    );
}

fn org_key(org: &str, account: &str, region: &str, day: &str, n: u32) -> String {
    let (y, m, d) = (&day[..4], &day[5..7], &day[8..10]);
    format!(
        "trails/AWSLogs/{org}/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{y}{m}{d}T0000Z_{n}.json.gz"
    )
}

#[test]
fn an_organization_trail_from_the_config_reads_the_configured_accounts_in_every_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    let org = "o-abc123def4";
    put_log(
        &server,
        &org_key(org, "111111111111", "us-east-1", "2024-05-01", 1),
        "111111111111",
        "2024-05-01",
        &["a1"],
    );
    put_log(
        &server,
        &org_key(org, "111111111111", "ap-southeast-4", "2024-05-02", 2),
        "111111111111",
        "2024-05-02",
        &["a2"],
    );
    put_log(
        &server,
        &org_key(org, "222222222222", "eu-west-1", "2024-05-02", 3),
        "222222222222",
        "2024-05-02",
        &["b1"],
    );
    put_log(
        &server,
        &org_key(org, "999999999999", "eu-west-1", "2024-05-02", 4),
        "999999999999",
        "2024-05-02",
        &["not-configured"],
    );
    put_log(
        &server,
        &org_key("o-zzzzzzzzzz", "111111111111", "eu-west-1", "2024-05-02", 5),
        "111111111111",
        "2024-05-02",
        &["other-org"],
    );
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "athena:\n  s3_bucket: {BUCKET}\n  path: trails\n  org_id: {org}\naccounts:\n  - name: prod\n    id: 111111111111\n    iam: prod.json\n  - name: dev\n    id: 222222222222\n    iam: dev.json\n"
        ),
    )
    .expect("config");

    let output = ctidx_aws(dir.path())
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .arg("ingest")
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .output()
        .expect("ctidx runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let (ids, rows) = stored_event_ids(&store);
    assert_eq!(ids, ["a1", "a2", "b1"].map(String::from).into());
    assert_eq!(rows, 3);
    for (prefix, _) in server.control.lists() {
        assert!(
            !prefix.contains("999999999999") && !prefix.contains("o-zzzzzzzzzz"),
            "{prefix} was listed"
        );
    }
}

#[test]
fn a_date_window_lists_and_downloads_only_its_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    let all_days = [
        "2024-02-28",
        "2024-02-29",
        "2024-03-01",
        "2024-03-02",
        "2024-04-01",
    ];
    let mut keys_by_day = Vec::new();
    for (n, day) in all_days.iter().enumerate() {
        for region in ["us-east-1", "eu-north-1"] {
            let key = aws_key(
                Path::new("logs"),
                "111111111111",
                region,
                day,
                &format!("{n:016}"),
            );
            let key = key.to_str().expect("utf-8").to_string();
            let id = format!("{day}-{region}");
            put_log(&server, &key, "111111111111", day, &[&id]);
            keys_by_day.push((day.to_string(), key));
        }
    }
    let output = s3_ingest(
        &server,
        dir.path(),
        &store,
        "s3://trail/logs/",
        &["--start", "2024-02-29", "--end", "2024-03-01"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(days(&store), ["2024-02-29", "2024-03-01"]);
    let fetched: BTreeSet<String> = server.control.get_keys().into_keys().collect();
    let in_window: BTreeSet<String> = keys_by_day
        .iter()
        .filter(|(day, _)| day.as_str() == "2024-02-29" || day.as_str() == "2024-03-01")
        .map(|(_, key)| key.clone())
        .collect();
    assert_eq!(
        fetched, in_window,
        "only the window's objects were downloaded"
    );
    let object_listings: BTreeSet<String> = server
        .control
        .lists()
        .into_iter()
        .filter(|(_, delimited)| !delimited)
        .map(|(prefix, _)| prefix)
        .collect();
    let expected: BTreeSet<String> = ["us-east-1", "eu-north-1"]
        .iter()
        .flat_map(|region| {
            ["2024/02/29/", "2024/03/01/"]
                .map(|day| format!("logs/AWSLogs/111111111111/CloudTrail/{region}/{day}"))
        })
        .collect();
    assert_eq!(
        object_listings, expected,
        "only the window's day folders were listed"
    );
}

#[test]
fn an_object_that_fails_once_is_retried_and_a_corrupt_one_is_reported_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    let key = |n: u32| {
        format!(
            "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/06/01/111111111111_CloudTrail_us-east-1_20240601T0000Z_{n}.json.gz"
        )
    };
    put_log(&server, &key(1), "111111111111", "2024-06-01", &["one"]);
    put_log(&server, &key(2), "111111111111", "2024-06-01", &["two"]);
    server.put(BUCKET, &key(3), b"\x1f\x8b\x08\x00 this is not gzip");
    put_log(&server, &key(4), "111111111111", "2024-06-01", &["four"]);
    server.control.fail_once(&key(2));
    server.control.fail_always(&key(4));

    let run = || {
        ctidx_aws(dir.path())
            .env("AWS_MAX_ATTEMPTS", "3")
            .args([
                "ingest",
                "--source",
                "s3://trail/logs",
                "--endpoint-url",
                &server.endpoint,
            ])
            .arg("--store")
            .arg(&store)
            .output()
            .expect("ctidx runs")
    };
    let output = run();
    assert!(!output.status.success(), "the corrupt object fails the run");
    let err = stderr(&output);
    assert_eq!(
        server.control.gets(&key(2)),
        2,
        "503 SlowDown, then success"
    );
    assert!(err.contains(&format!("s3://{BUCKET}/{}", key(3))), "{err}");
    assert_eq!(
        server.control.gets(&key(4)),
        3,
        "AWS_MAX_ATTEMPTS is obeyed"
    );
    assert!(
        err.contains(&format!("s3://{BUCKET}/{}: S3 kept failing", key(4))),
        "{err}"
    );
    assert!(err.contains("ingested 2 objects, 2 events"), "{err}");
    assert_eq!(
        stored_event_ids(&store).0,
        ["one", "two"].map(String::from).into()
    );

    // The failed objects were not recorded: a rerun tries them (and only them) again.
    server.control.reset_counts();
    assert!(!run().status.success());
    assert_eq!(
        server.control.get_keys().into_keys().collect::<Vec<_>>(),
        vec![key(3), key(4)]
    );
}

#[test]
fn credentials_come_from_the_environment_and_bad_ones_are_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    let key = "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/06/01/x.json.gz";
    put_log(&server, key, "111111111111", "2024-06-01", &["one"]);

    let wrong = ctidx_aws(dir.path())
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args([
            "ingest",
            "--source",
            "s3://trail/logs",
            "--endpoint-url",
            &server.endpoint,
        ])
        .arg("--store")
        .arg(&store)
        .output()
        .expect("ctidx runs");
    assert!(!wrong.status.success());
    let err = stderr(&wrong);
    assert!(
        err.contains("s3://trail: the credentials were rejected (SignatureDoesNotMatch)"),
        "{err}"
    );
    assert!(err.contains("AWS_PROFILE"), "{err}");

    let none = ctidx_aws(dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "ingest",
            "--source",
            "s3://trail/logs",
            "--endpoint-url",
            &server.endpoint,
        ])
        .arg("--store")
        .arg(&store)
        .output()
        .expect("ctidx runs");
    assert!(!none.status.success());
    let err = stderr(&none);
    assert!(
        err.contains("s3://trail: no AWS credentials found"),
        "{err}"
    );
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");

    let missing = s3_ingest(&server, dir.path(), &store, "s3://no-such-bucket/logs", &[]);
    assert!(
        stderr(&missing).contains("s3://no-such-bucket: no such bucket"),
        "{}",
        stderr(&missing)
    );

    server.control.deny(key);
    let denied = s3_ingest(&server, dir.path(), &store, "s3://trail/logs", &[]);
    assert!(!denied.status.success());
    let err = stderr(&denied);
    assert!(
        err.contains(&format!("s3://trail/{key}: access denied")),
        "{err}"
    );

    let bad_url = s3_ingest(&server, dir.path(), &store, "s3://", &[]);
    assert!(
        stderr(&bad_url).contains("is not an S3 location"),
        "{}",
        stderr(&bad_url)
    );
}

#[test]
fn the_bucket_region_is_used_when_the_configured_one_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    put_log(
        &server,
        "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/06/01/x.json.gz",
        "111111111111",
        "2024-06-01",
        &["one"],
    );
    server.control.enforce_region();
    let output = ctidx_aws(dir.path())
        .env("AWS_REGION", "us-west-2")
        .args([
            "ingest",
            "--source",
            "s3://trail/logs",
            "--endpoint-url",
            &server.endpoint,
        ])
        .arg("--store")
        .arg(&store)
        .output()
        .expect("ctidx runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_event_ids(&store).1, 1);
}

#[test]
fn account_values_from_objects_cannot_place_files_outside_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let store = dir.path().join("store");
    // Outside the AWSLogs layout, the partition account comes from the records themselves.
    for (n, account) in ["../../../escaped", "/absolute/escaped", "..", "a/../../b"]
        .iter()
        .enumerate()
    {
        let body = json!({"Records": [record(account, "2024-06-01T00:00:00Z", "s3.amazonaws.com", "ListBuckets", &format!("e{n}"), "eve")]});
        server.put(
            BUCKET,
            &format!("odd/{n}..%2F..%2Fescape.json"),
            body.to_string().as_bytes(),
        );
    }
    let output = s3_ingest(&server, dir.path(), &store, "s3://trail/odd", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stored_event_ids(&store).1, 4);
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !["s3", "store"].contains(&name.as_str()))
        .collect();
    assert!(outside.is_empty(), "written outside the store: {outside:?}");
    for entry in std::fs::read_dir(&store).expect("store") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(!name.contains('/') && name != "..", "{name}");
    }
}

#[test]
fn sigkill_during_an_s3_ingest_then_rerun_stores_every_event_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let expected = generate(&server.root.join(BUCKET).join("logs"), 240, 150);
    let source = "s3://trail/logs";

    let timing_store = dir.path().join("timing");
    let started = std::time::Instant::now();
    let full = s3_ingest(&server, dir.path(), &timing_store, source, &["--quiet"]);
    assert!(full.status.success(), "{}", stderr(&full));
    let full_run = started.elapsed();

    for (attempt, fraction) in [0.1, 0.3, 0.5, 0.7, 0.9, 1.1].iter().enumerate() {
        let store = dir.path().join(format!("store-{attempt}"));
        // Two interrupted runs in a row, then one that completes.
        for _ in 0..2 {
            let mut child = s3_ingest_command(&server, dir.path(), &store, source, &["--quiet"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(full_run.mul_f64(*fraction));
            let _ = child.kill();
            let _ = child.wait();
        }
        let finish = s3_ingest(&server, dir.path(), &store, source, &[]);
        assert!(finish.status.success(), "{}", stderr(&finish));
        let (ids, rows) = stored_event_ids(&store);
        assert_eq!(rows, expected.len(), "attempt {attempt}: rows");
        assert_eq!(ids, expected, "attempt {attempt}: ids");
    }
}

#[test]
fn memory_stays_bounded_as_the_object_count_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("s3"));
    let small = generate(&server.root.join(BUCKET).join("small"), 200, 100);
    let large = generate(&server.root.join(BUCKET).join("large"), 1600, 100);
    let run = |prefix: &str, store: &Path| {
        peak_rss_kib(s3_ingest_command(
            &server,
            dir.path(),
            store,
            &format!("s3://trail/{prefix}"),
            &["--quiet", "--memory-budget", "8"],
        ))
    };
    let (small_store, large_store) = (dir.path().join("small"), dir.path().join("large"));
    let (status, small_rss) = run("small", &small_store);
    assert_eq!(status, 0);
    let (status, large_rss) = run("large", &large_store);
    assert_eq!(status, 0);
    assert_eq!(stored_event_ids(&small_store).1, small.len());
    assert_eq!(stored_event_ids(&large_store).1, large.len());
    println!(
        "peak memory: {} objects {} MiB, {} objects {} MiB",
        200,
        small_rss / 1024,
        1600,
        large_rss / 1024
    );
    // Eight times the objects and events: memory must not follow them.
    assert!(
        large_rss < small_rss * 3 / 2 + 32 * 1024,
        "peak memory grew with the object count: {small_rss} KiB for 200 objects, {large_rss} KiB for 1600"
    );
}
