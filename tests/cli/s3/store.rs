//! A store in S3 (`--store s3://BUCKET/PREFIX`), on the loopback S3 server: every reading command
//! gives the answers it gives on the same store on disk, with few requests.

use std::collections::BTreeMap;
use std::path::PathBuf;

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
        // folders, an account's day folders, one listing that stops at the first data file.
        assert!(requests.lists.len() <= 6, "{shape}: {:?}", requests.lists);
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

#[test]
fn writing_a_store_in_s3_is_refused_with_a_way_forward() {
    let served = served_demo();
    let output = on_store(
        &served,
        &url(),
        &[
            "ingest",
            "--source",
            demo_dir().join("AWSLogs").to_str().expect("utf-8"),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not write them yet")
            && stderr(&output).contains("aws s3 sync"),
        "{}",
        stderr(&output)
    );
    let output = on_store(&served, &url(), &["compact"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("does not write them yet"),
        "{}",
        stderr(&output)
    );
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
