//! A store in S3 (`--store s3://BUCKET/PREFIX`), on the loopback S3 server: every reading command
//! gives the answers it gives on the same store on disk, with few requests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::server::Server;
use super::*;

const STORE_BUCKET: &str = "stores";
const STORE_PREFIX: &str = "org/ctidx";

/// The demo ingested into a folder that the server serves as `s3://stores/org/ctidx`.
struct Served {
    _dir: tempfile::TempDir,
    home: PathBuf,
    local: PathBuf,
    server: Server,
}

fn served_demo() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let local = root.join(STORE_BUCKET).join(STORE_PREFIX);
    let output = ingest(&demo_dir().join("AWSLogs"), &local, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let server = Server::start(&root);
    Served {
        home: dir.path().to_path_buf(),
        local,
        server,
        _dir: dir,
    }
}

fn url() -> String {
    format!("s3://{STORE_BUCKET}/{STORE_PREFIX}")
}

/// `ctidx ARGS --store STORE` with the demo config, on the local folder or on the S3 URL.
fn on_store(served: &Served, store: &str, args: &[&str]) -> Output {
    let mut command = ctidx_aws(&served.home);
    command
        .args(args)
        .arg("--config")
        .arg(demo_dir().join("config.yaml"))
        .args(["--store", store, "--endpoint-url", &served.server.endpoint]);
    command.output().expect("ctidx runs")
}

/// Requests of one command: LIST (prefix, with delimiter), GET and HEAD per key, bytes sent.
#[derive(Debug)]
struct Requests {
    lists: Vec<(String, bool)>,
    gets: BTreeMap<String, u32>,
    heads: BTreeMap<String, u32>,
    bytes: u64,
}

impl Requests {
    fn get_count(&self) -> u32 {
        self.gets.values().sum()
    }

    fn summary(&self) -> String {
        format!(
            "{} LIST, {} GET ({} objects), {} HEAD, {} bytes",
            self.lists.len(),
            self.get_count(),
            self.gets.len(),
            self.heads.values().sum::<u32>(),
            self.bytes
        )
    }
}

fn requests_of(served: &Served, args: &[&str]) -> (Output, Requests) {
    served.server.control.reset_counts();
    let output = on_store(served, &url(), args);
    let control = &served.server.control;
    let requests = Requests {
        lists: control.lists(),
        gets: control.get_keys(),
        heads: control.heads(),
        bytes: control.bytes_out(),
    };
    (output, requests)
}

const SHAPES: [&str; 9] = [
    "sql|SELECT account, count(*) AS events FROM cloudtrail GROUP BY account ORDER BY account",
    "sql|SELECT count(*) FROM cloudtrail WHERE account = '111111111111' AND day = '2018-01-09'",
    "query --list users --account demo --start 2018-01-01 --end 2018-03-31",
    "query --account demo --user alice --start 2018-01-01 --end 2018-03-31",
    "query --account demo --role admin --by-session --start 2018-01-01 --end 2018-03-31",
    "query --account demo --user alice --destrole admin --start 2018-01-01 --end 2018-03-31",
    "query --all --format json --start 2018-01-01 --end 2018-03-31",
    "policy --account demo --user alice --start 2018-01-01 --end 2018-03-31",
    "query --list roles --account backup --start 2018-01-01 --end 2018-03-31",
];

fn shape_args(shape: &str) -> Vec<&str> {
    match shape.split_once('|') {
        Some(("sql", query)) => vec!["sql", "--format", "csv", query],
        Some((command, _)) => vec![command],
        None => shape.split(' ').collect(),
    }
}

#[test]
fn every_reading_command_answers_from_s3_as_from_disk() {
    let served = served_demo();
    let local = served.local.to_str().expect("utf-8").to_string();
    let mut counts = Vec::new();
    for shape in SHAPES {
        let args = shape_args(shape);
        let on_disk = on_store(&served, &local, &args);
        let (in_s3, requests) = requests_of(&served, &args);
        assert!(on_disk.status.success(), "{shape}: {}", stderr(&on_disk));
        assert!(in_s3.status.success(), "{shape}: {}", stderr(&in_s3));
        assert!(!stdout(&on_disk).trim().is_empty(), "{shape}: no output");
        assert_eq!(stdout(&in_s3), stdout(&on_disk), "{shape}");
        counts.push(format!("{shape}: {}", requests.summary()));

        // Nothing is read twice for its footer: no data file is fetched more often than it has
        // column chunks to read, and none is asked about with a HEAD (listings give sizes).
        assert!(requests.heads.is_empty(), "{shape}: {requests:?}");
        // Listing follows the statements, not the store's 9 partitions of 90 days: the account
        // folders, an account's month folders, one listing that stops at the first data file, one
        // of the account's files whose names may tell the days with logs (and, as the demo's
        // month files hold many days each, the query that reads them instead).
        // A question that follows sessions (or asks about every principal) first checks that the
        // store's summaries are complete: one listing of the store and one of each summary folder
        // it reads.
        let summaries =
            if shape.contains("--all") || shape.contains("session") || shape.contains("destrole") {
                3
            } else {
                0
            };
        assert!(
            requests.lists.len() <= 8 + summaries,
            "{shape}: {:?}",
            requests.lists
        );
    }
    println!("{}", counts.join("\n"));
}

#[test]
fn a_one_account_query_reads_only_that_account() {
    let served = served_demo();
    let (output, requests) = requests_of(
        &served,
        &[
            "query",
            "--account",
            "demo",
            "--user",
            "alice",
            "--start",
            "2018-01-01",
            "--end",
            "2018-03-31",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let other = format!("{STORE_PREFIX}/account=222222222222/");
    assert!(
        requests.gets.keys().all(|key| !key.starts_with(&other)),
        "{requests:?}"
    );
    assert!(
        requests
            .lists
            .iter()
            .all(|(prefix, _)| !prefix.starts_with(&other)),
        "{requests:?}"
    );
    assert!(requests.get_count() > 0);
}

#[test]
fn footers_are_read_once_per_process() {
    let served = served_demo();
    // Two statements over the same files in one process: the second finds every footer cached.
    let query = "SELECT count(*) FROM cloudtrail WHERE account = '111111111111'";
    let (once, single) = requests_of(&served, &["sql", "--format", "csv", query]);
    assert!(once.status.success(), "{}", stderr(&once));
    let twice_query = format!("CREATE TABLE a AS {query}; {query}");
    let (twice, double) = requests_of(&served, &["sql", "--format", "csv", &twice_query]);
    assert!(twice.status.success(), "{}", stderr(&twice));
    assert_eq!(stdout(&once), stdout(&twice));
    let data_gets = |r: &Requests| -> u32 {
        r.gets
            .iter()
            .filter(|(key, _)| key.ends_with(".parquet"))
            .map(|(_, n)| n)
            .sum()
    };
    assert!(data_gets(&single) > 0);
    // The second scan reads the data pages again, never the footers: fewer than twice the requests.
    assert!(
        data_gets(&double) < 2 * data_gets(&single),
        "one scan {}, two scans {}",
        single.summary(),
        double.summary()
    );
}

/// An empty bucket on the server, for ingests to write a store into.
fn empty_bucket() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let local = root.join(STORE_BUCKET).join(STORE_PREFIX);
    std::fs::create_dir_all(root.join(STORE_BUCKET)).expect("bucket");
    let server = Server::start(&root);
    Served {
        home: dir.path().to_path_buf(),
        local,
        server,
        _dir: dir,
    }
}

/// The event IDs of the store in S3, and its row count.
fn s3_event_ids(served: &Served) -> (BTreeSet<String>, usize) {
    let output = on_store(
        served,
        &url(),
        &["sql", "--format", "csv", "SELECT eventid FROM cloudtrail"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<String> = stdout(&output)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    let count = rows.len();
    (rows.into_iter().collect(), count)
}

/// Waits (up to a minute) until the writer has created `path`.
fn wait_until_exists(path: &Path) {
    let started = std::time::Instant::now();
    while !path.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn ingest_into_s3(served: &Served, source: &Path, extra: &[&str]) -> Command {
    let mut command = ctidx_aws(&served.home);
    command
        .args(["ingest", "--quiet", "--source"])
        .arg(source)
        .args(["--store", &url(), "--endpoint-url", &served.server.endpoint])
        .args(extra);
    command
}

#[test]
fn ingest_and_compact_write_a_store_in_s3_that_reads_as_the_one_on_disk() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    // 80 objects over 2 accounts and 28 days: objects n and n + 56 land in the same partition.
    let expected = generate(&logs, 80, 25);
    let first_half = served.home.join("first");
    for entry in files_under(&logs.join("AWSLogs")) {
        let name = entry
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let number: usize = name
            .trim_end_matches(".json.gz")
            .rsplit('_')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("numbered object");
        if number < 56 {
            let to = first_half.join(entry.strip_prefix(&logs).expect("under logs"));
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&entry, &to).expect("copy");
        }
    }
    // Two ingests (half, then all), so partitions get a second file, then a compaction.
    for source in [first_half.join("AWSLogs"), logs.join("AWSLogs")] {
        let output = ingest_into_s3(&served, &source, &[])
            .output()
            .expect("ctidx runs");
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let (ids, rows) = s3_event_ids(&served);
    assert_eq!((ids.len(), rows), (expected.len(), expected.len()));
    assert_eq!(ids, expected);
    // The manifest made the second ingest skip the first half.
    let puts = served.server.control.puts();
    assert!(
        puts.contains_key(&format!("{STORE_PREFIX}/_ctidx/manifest.json")),
        "{puts:?}"
    );

    let files_before = files_under(&served.local)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    let output = on_store(&served, &url(), &["compact"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let files_after = files_under(&served.local)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(
        files_after < files_before,
        "{files_before} -> {files_after}"
    );
    assert_eq!(s3_event_ids(&served), (expected.clone(), expected.len()));
    // The lock is given back, and nothing is left beside the store's own objects.
    let leftovers: Vec<String> = files_under(&served.local)
        .iter()
        .map(|p| {
            p.strip_prefix(&served.local)
                .expect("under")
                .display()
                .to_string()
        })
        .filter(|name| !name.ends_with(".parquet") && name != "_ctidx/manifest.json")
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    // The same logs ingested on disk give the same answers.
    let on_disk = served.home.join("local-store");
    assert!(
        ingest(&logs.join("AWSLogs"), &on_disk, &["--quiet"])
            .status
            .success()
    );
    let query = "SELECT account, day, eventid, eventname FROM cloudtrail ORDER BY eventid";
    let local = on_store(
        &served,
        on_disk.to_str().expect("utf-8"),
        &["sql", "--format", "csv", query],
    );
    let remote = on_store(&served, &url(), &["sql", "--format", "csv", query]);
    assert_eq!(stdout(&remote), stdout(&local));
}

#[test]
fn a_large_data_file_is_uploaded_in_parts() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    // One partition of 800,000 events (about 5.9 MB of Parquet), uploaded in parts of 5 MiB (S3's
    // least).
    generate(&logs, 1, 800_000);
    let output = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .env("CTIDX_S3_PART_MIB", "5")
        .output()
        .expect("ctidx runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let sizes: Vec<u64> = files_under(&served.local)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| std::fs::metadata(p).expect("size").len())
        .collect();
    assert!(
        sizes.iter().any(|&size| size >= 5 << 20),
        "no data file reaches one part: {sizes:?}; give the test more events"
    );
    let uploads = served.server.control.multipart_uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(s3_event_ids(&served).1, 800_000);
}

#[test]
fn a_live_writer_holds_the_lock_and_a_gone_one_does_not() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    let expected = generate(&logs, 10, 20);
    let lock = served.local.join("_ctidx/lock");
    std::fs::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;

    // This test's own process, alive, with time left: refused, and the holder is named.
    let live = json!({"host": host, "pid": std::process::id(), "expires_ms": now + 100_000});
    std::fs::write(&lock, live.to_string()).expect("lock");
    let output = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .output()
        .expect("ctidx runs");
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("being written by another ctidx process"),
        "{message}"
    );
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    assert!(!served.local.join("_ctidx/manifest.json").exists());

    // Another machine's lock past its time, and a lock of a process of this machine that is gone:
    // both are taken over.
    let dead_pid = {
        let mut child = Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    };
    for stale in [
        json!({"host": "elsewhere", "pid": 1, "expires_ms": now - 1}),
        json!({"host": host, "pid": dead_pid, "expires_ms": now + 100_000}),
    ] {
        std::fs::write(&lock, stale.to_string()).expect("lock");
        let output = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
            .output()
            .expect("ctidx runs");
        assert!(output.status.success(), "{stale}: {}", stderr(&output));
        assert!(!lock.exists(), "the lock is given back");
    }
    assert_eq!(s3_event_ids(&served), (expected.clone(), expected.len()));
}

#[test]
fn a_long_ingest_renews_its_lock_past_the_lease() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    let expected = generate(&logs, 2400, 200);
    let lock = served.local.join("_ctidx/lock");
    // A 0.3 s lease, renewed every 0.075 s: an ingest that runs longer keeps the store.
    let mut first = ingest_into_s3(&served, &logs.join("AWSLogs"), &["--memory-budget", "1"])
        .env("CTIDX_S3_LOCK_SECONDS", "0.3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    wait_until_exists(&lock);
    let taken = std::fs::read_to_string(&lock).unwrap_or_default();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let renewed = std::fs::read_to_string(&lock).unwrap_or_default();
    let second = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .env("CTIDX_S3_LOCK_SECONDS", "0.3")
        .output()
        .expect("ctidx runs");
    let still_running = first.try_wait().expect("status").is_none();
    assert!(first.wait().expect("wait").success());
    println!("the first ingest ran {:?}", started.elapsed());
    assert!(
        still_running,
        "the first ingest ended before its lease ran out: give it more work"
    );
    // Past its first lease, the lock was renewed, and the second ingest was refused.
    assert_ne!(taken, renewed, "the lock was not renewed");
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("being written by another ctidx process"),
        "{}",
        stderr(&second)
    );
    assert_eq!(s3_event_ids(&served), (expected.clone(), expected.len()));
}

#[test]
fn the_store_of_config_yaml_can_be_in_s3() {
    let served = served_demo();
    let config = served.home.join("config.yaml");
    let demo_config = std::fs::read_to_string(demo_dir().join("config.yaml")).expect("config");
    let demo_iam = demo_dir().join("iam");
    std::fs::write(
        &config,
        format!(
            "store: {}\n{}",
            url(),
            demo_config.replace("iam/", &format!("{}/", demo_iam.display()))
        ),
    )
    .expect("config");
    let mut command = ctidx_aws(&served.home);
    let output = command
        .args(["sql", "--format", "csv", "SELECT count(*) FROM cloudtrail"])
        .arg("--config")
        .arg(&config)
        .args(["--endpoint-url", &served.server.endpoint])
        .output()
        .expect("ctidx runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "count(*)\n60\n");
    assert!(!served.server.control.get_keys().is_empty(), "read from S3");
}

#[test]
fn two_ingests_at_once_one_is_refused_and_nothing_is_lost() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    let expected = generate(&logs, 200, 200);
    let lock = served.local.join("_ctidx/lock");
    let mut first = ingest_into_s3(&served, &logs.join("AWSLogs"), &["--memory-budget", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_until_exists(&lock);
    let second = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .output()
        .expect("ctidx runs");
    let first_status = first.wait().expect("wait");
    assert!(first_status.success());
    // The first held the lock while the second started, unless it had already finished.
    if !second.status.success() {
        assert!(
            stderr(&second).contains("being written by another ctidx process"),
            "{}",
            stderr(&second)
        );
    }
    let again = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .output()
        .expect("ctidx runs");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(s3_event_ids(&served), (expected.clone(), expected.len()));
}

#[test]
fn sigkill_then_rerun_stores_every_event_in_s3_exactly_once() {
    let served = empty_bucket();
    let logs = served.home.join("logs");
    let expected = generate(&logs, 120, 100);
    let started = std::time::Instant::now();
    let timing = empty_bucket();
    assert!(
        ingest_into_s3(&timing, &logs.join("AWSLogs"), &[])
            .status()
            .expect("runs")
            .success()
    );
    let full_run = started.elapsed();
    for fraction in [0.1, 0.4, 0.7, 0.95] {
        let mut child = ingest_into_s3(&served, &logs.join("AWSLogs"), &["--memory-budget", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(full_run.mul_f64(fraction));
        let _ = child.kill();
        let _ = child.wait();
    }
    let finish = ingest_into_s3(&served, &logs.join("AWSLogs"), &[])
        .output()
        .expect("ctidx runs");
    assert!(finish.status.success(), "{}", stderr(&finish));
    let (ids, rows) = s3_event_ids(&served);
    assert_eq!(rows, expected.len());
    assert_eq!(ids, expected);
}

#[test]
fn a_missing_bucket_or_an_empty_prefix_is_named() {
    let served = served_demo();
    let output = on_store(&served, "s3://no-such-bucket/ctidx", &["sql", "SELECT 1"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no-such-bucket"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("no such bucket"),
        "{}",
        stderr(&output)
    );
    let output = on_store(
        &served,
        &format!("s3://{STORE_BUCKET}/elsewhere"),
        &["sql", "SELECT 1"],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("holds no events yet"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("s3://stores/elsewhere"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_one_user_query_fetches_only_that_users_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let local = root.join(STORE_BUCKET).join(STORE_PREFIX);
    generate(&dir.path().join("logs"), 2, 100_000);
    let output = ingest(&dir.path().join("logs/AWSLogs"), &local, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let served = Served {
        home: dir.path().to_path_buf(),
        local,
        server: Server::start(&root),
        _dir: dir,
    };
    let whole_account = "SELECT count(DISTINCT eventid), count(DISTINCT requestid) FROM cloudtrail \
                         WHERE account = '111111111111'";
    let one_user =
        format!("{whole_account} AND useridentity.arn = 'arn:aws:iam::111111111111:user/user3'");
    let one_user = one_user.as_str();
    let local = served.local.to_str().expect("utf-8").to_string();
    for query in [one_user, whole_account] {
        let (in_s3, _) = requests_of(&served, &["sql", "--format", "csv", query]);
        let on_disk = on_store(&served, &local, &["sql", "--format", "csv", query]);
        assert!(in_s3.status.success(), "{}", stderr(&in_s3));
        assert_eq!(stdout(&in_s3), stdout(&on_disk));
    }
    let (_, user) = requests_of(&served, &["sql", "--format", "csv", one_user]);
    let user_fetches = served.server.control.fetches();
    let (_, account) = requests_of(&served, &["sql", "--format", "csv", whole_account]);
    let account_fetches = served.server.control.fetches();
    // Past the one read of each file's last 64 KiB (footer and page index), what was fetched.
    let data_bytes = |fetches: &[(String, u64)]| -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        fetches
            .iter()
            .filter(|(key, _)| key.ends_with(".parquet") && !seen.insert(key.clone()))
            .map(|(_, bytes)| bytes)
            .sum()
    };
    let (user_data, account_data) = (data_bytes(&user_fetches), data_bytes(&account_fetches));
    println!(
        "one user: {}, {user_data} bytes of data pages",
        user.summary()
    );
    println!(
        "whole account: {}, {account_data} bytes of data pages",
        account.summary()
    );
    // 17 users share the file: one user's event and request IDs are a few of its pages.
    assert!(
        user_data * 5 < account_data,
        "one user {user_fetches:?}\nwhole account {account_fetches:?}"
    );
}

#[test]
fn a_store_in_another_region_is_read_in_its_own_region() {
    let served = served_demo();
    served.server.control.enforce_region();
    let mut command = ctidx_aws(&served.home);
    let output = command
        .env("AWS_REGION", "us-west-2")
        .args(["sql", "--format", "csv", "SELECT count(*) FROM cloudtrail"])
        .args(["--store", &url(), "--endpoint-url", &served.server.endpoint])
        .output()
        .expect("ctidx runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "count(*)\n60\n");
}
