//! Helpers for running the real `ctidx` binary on files written by the tests.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

pub fn ctidx() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ctidx"));
    command.env_remove("CTIDX_STORE").env("NO_COLOR", "1");
    command
}

pub fn run(args: &[&str]) -> Output {
    ctidx().args(args).output().expect("ctidx runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn ingest(source: &Path, store: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "ingest",
        "--source",
        source.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

pub fn sql(store: &Path, query: &str) -> Output {
    run(&[
        "sql",
        "--store",
        store.to_str().expect("utf-8"),
        "--format",
        "csv",
        query,
    ])
}

/// The set of eventIDs in the store, and the number of rows.
pub fn stored_event_ids(store: &Path) -> (BTreeSet<String>, usize) {
    let output = sql(store, "SELECT eventid FROM cloudtrail");
    assert!(output.status.success(), "sql failed: {}", stderr(&output));
    let text = stdout(&output);
    let rows: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
    let count = rows.len();
    (rows.into_iter().collect(), count)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// A CloudTrail record as AWS writes them, for an IAM user.
pub fn record(
    account: &str,
    time: &str,
    source: &str,
    name: &str,
    event_id: &str,
    user: &str,
) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": format!("AIDA{user}"),
            "arn": format!("arn:aws:iam::{account}:user/{user}"),
            "accountId": account,
            "accessKeyId": format!("AKIA{user}"),
            "userName": user
        },
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": {"maxResults": 10},
        "responseElements": null,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// Where AWS would put an object of `account` in `region` delivered on `day` (`YYYY-MM-DD`).
pub fn aws_key(root: &Path, account: &str, region: &str, day: &str, suffix: &str) -> PathBuf {
    let (y, rest) = day.split_at(4);
    let (m, d) = (&rest[1..3], &rest[4..6]);
    root.join(format!(
        "AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{y}{m}{d}T0000Z_{suffix}.json.gz"
    ))
}

/// Deterministic generated data: `files` objects of `per_file` records spread over accounts, days
/// and users. Returns the eventIDs written.
pub fn generate(root: &Path, files: usize, per_file: usize) -> BTreeSet<String> {
    let accounts = ["111111111111", "222222222222"];
    let names = [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("iam.amazonaws.com", "GetUser"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("lambda.amazonaws.com", "ListFunctions20150331"),
    ];
    let mut ids = BTreeSet::new();
    for file in 0..files {
        let account = accounts[file % accounts.len()];
        let day = format!("2024-03-{:02}", 1 + (file / 2) % 28);
        let mut records = Vec::with_capacity(per_file);
        for i in 0..per_file {
            let n = file * per_file + i;
            let id = format!("{:08x}-0000-4000-8000-{:012x}", file, n);
            let (source, name) = names[n % names.len()];
            let time = format!(
                "{day}T{:02}:{:02}:{:02}Z",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60
            );
            records.push(record(
                account,
                &time,
                source,
                name,
                &id,
                &format!("user{}", n % 17),
            ));
            ids.insert(id);
        }
        let body = serde_json::to_vec(&json!({ "Records": records })).expect("json");
        write(
            &aws_key(root, account, "us-east-1", &day, &format!("{file:016}")),
            &gzip(&body),
        );
    }
    ids
}

/// One run of ctidx: its raw wait status (0 when it exited with 0) and its peak resident memory in
/// KiB, from the kernel's accounting for that child.
// The child is reaped by wait4, which std cannot see.
#[allow(clippy::zombie_processes)]
pub fn peak_rss_kib(mut command: Command) -> (i32, i64) {
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; status and usage point to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    (status, usage.ru_maxrss)
}

/// The folder of real public logs and IAM snapshots. The tests that need it are `#[ignore]`d, so a
/// run without it shows them as ignored; asked for with `--include-ignored`, they fail without it.
pub fn realdata_dir() -> PathBuf {
    std::env::var_os("CTIDX_REALDATA_DIR")
        .map(PathBuf::from)
        .expect("CTIDX_REALDATA_DIR must name the folder of real public logs (cloudtrail/, iam/)")
}

/// The folders of `_ctidx` that hold a summary of each data file.
pub const SUMMARY_FOLDERS: [&str; 2] = ["activity", "sessions"];

/// Every file and folder under the store, relative, that is not a data file with its summaries, a
/// partition folder, a summary of a data file that is there, `_ctidx` itself, the manifest or the
/// lock: what a crash left and recovery must remove.
pub fn store_leftovers(store: &Path) -> Vec<String> {
    let mut leftovers = Vec::new();
    let mut stack = vec![store.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("store folder").flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(store)
                .expect("under the store")
                .to_string_lossy()
                .into_owned();
            let name = entry.file_name().to_string_lossy().into_owned();
            let parent = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            let summary_of = SUMMARY_FOLDERS
                .iter()
                .find_map(|folder| relative.strip_prefix(&format!("_ctidx/{folder}/")));
            let expected = if path.is_dir() {
                name.starts_with("account=")
                    || name.starts_with("month=")
                    || relative == "_ctidx"
                    || SUMMARY_FOLDERS
                        .iter()
                        .any(|f| relative == format!("_ctidx/{f}"))
            } else if let Some(data_file) = summary_of {
                // A summary stands only beside its data file.
                store.join(data_file).is_file()
            } else if relative.starts_with("_ctidx") {
                relative == "_ctidx/manifest.json" || relative == "_ctidx/lock"
            } else {
                SUMMARY_FOLDERS
                    .iter()
                    .all(|folder| store.join("_ctidx").join(folder).join(&relative).is_file())
                    && parent.is_some_and(|p| p.starts_with("month="))
                    && name.starts_with("part-")
                    && name.ends_with(".parquet")
            };
            if !expected {
                leftovers.push(relative);
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    leftovers.sort();
    leftovers
}

pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
}

/// The demo logs ingested once for all tests.
pub fn demo_store() -> &'static Path {
    static STORE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let output = ingest(
                &demo_dir().join("AWSLogs"),
                &dir.path().join("store"),
                &["--quiet"],
            );
            assert!(output.status.success(), "{}", stderr(&output));
            dir
        })
        .path()
}

/// Every file under `root`, recursively, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("dir")
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The records of one CloudTrail file (`{"Records":[...]}` or a bare array, gzip when its name ends
/// in `.gz`), read without ctidx; `None` for a file that is not `.json` or `.json.gz`.
pub fn log_records(path: &Path) -> Option<Vec<Value>> {
    let name = path.to_string_lossy().to_string();
    let bytes = std::fs::read(path).expect("read");
    let text = if name.ends_with(".json.gz") {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else if name.ends_with(".json") {
        bytes
    } else {
        return None;
    };
    let value: Value = serde_json::from_slice(&text).expect("json");
    Some(match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("Records") {
            Some(Value::Array(items)) => items,
            _ => panic!("{name}: no Records"),
        },
        _ => panic!("{name}: unexpected shape"),
    })
}

/// Installs a Debian package with apt-get (as root, or with `sudo -n`): the tests install what
/// they need.
pub fn apt_install(package: &str) {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let sudo: Vec<&str> = if is_root { vec![] } else { vec!["sudo", "-n"] };
    for step in [
        vec!["apt-get", "update", "-qq"],
        vec![
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            package,
        ],
    ] {
        let mut command: Vec<&str> = sudo.clone();
        command.extend(step);
        let status = Command::new(command[0])
            .args(&command[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get runs");
        assert!(status.success(), "could not install {package}: {command:?}");
    }
}
