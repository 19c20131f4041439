//! Cluster mode: a scheduler and two executors as real `ctidx cluster` processes on 127.0.0.1, the
//! store on the loopback S3 server, and `sql --cluster` / `query --all --cluster` against local runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::server::Server;
use super::*;

const STORE_BUCKET: &str = "stores";
const STORE_PREFIX: &str = "org/ctidx";

struct Organization {
    dir: tempfile::TempDir,
    config: PathBuf,
    local: PathBuf,
    server: Server,
}

impl Organization {
    fn url(&self) -> String {
        format!("s3://{STORE_BUCKET}/{STORE_PREFIX}")
    }

    /// `ctidx ARGS` on the store in S3, with the organization's config.
    fn ctidx(&self, args: &[&str]) -> Command {
        let mut command = ctidx_aws(self.dir.path());
        command
            .arg("--config")
            .arg(&self.config)
            .args([
                "--store",
                &self.url(),
                "--endpoint-url",
                &self.server.endpoint,
            ])
            .args(args);
        command
    }

    /// The same on the store's folder, without the server.
    fn local(&self, args: &[&str]) -> Output {
        ctidx()
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.local)
            .args(args)
            .output()
            .expect("ctidx runs")
    }
}

/// A generated 3-account organization, ingested into a folder the server serves as
/// `s3://stores/org/ctidx`.
fn organization(events: &str) -> Organization {
    let generator = std::env::var_os("CTIDX_GENERATOR")
        .map(PathBuf::from)
        .expect("CTIDX_GENERATOR must name gen_cloudtrail.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let org = dir.path().join("org");
    let generated = Command::new("python3")
        .arg(&generator)
        .arg("--out")
        .arg(&org)
        .args(["--events", events, "--accounts", "3", "--days", "10"])
        .args(["--seed", "11", "--jobs", "2"])
        .output()
        .expect("python3 runs");
    assert!(generated.status.success(), "{}", stderr(&generated));
    let root = dir.path().join("s3");
    let local = root.join(STORE_BUCKET).join(STORE_PREFIX);
    let output = ingest(&org.join("AWSLogs"), &local, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let server = Server::start(&root);
    Organization {
        config: org.join("config.yaml"),
        local,
        server,
        dir,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A `ctidx cluster` process, killed when dropped; its stderr lines arrive on `lines`.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    fn start(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ctidx cluster starts");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line containing `text`.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with {text:?}; stderr so far: {:?}", self.seen);
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Cluster {
    url: String,
    _scheduler: Process,
    executors: Vec<(Process, PathBuf)>,
}

fn start_cluster(org: &Organization, executors: usize) -> Cluster {
    start_cluster_with(&|args| org.ctidx(args), org.dir.path(), executors, &[])
}

/// A scheduler and `executors` executors, each run as `ctidx(ARGS + extra)`.
fn start_cluster_with(
    ctidx: &dyn Fn(&[&str]) -> Command,
    work: &Path,
    executors: usize,
    extra: &[&str],
) -> Cluster {
    let with_extra = |args: &[&str]| {
        let mut command = ctidx(args);
        command.args(extra);
        command
    };
    let mut scheduler = Process::start(with_extra(&[
        "cluster",
        "scheduler",
        "--bind",
        "127.0.0.1:0",
        "--executor-timeout",
        "15",
    ]));
    let line = scheduler.wait_for("scheduler listening on");
    let address = line
        .split_whitespace()
        .nth(3)
        .expect("scheduler listening on ADDRESS")
        .to_string();
    let executors = (0..executors)
        .map(|n| {
            let work_dir = work.join(format!("executor-{n}"));
            let bind = format!("127.0.0.1:{}", free_port());
            let mut executor = Process::start(with_extra(&[
                "cluster",
                "executor",
                "--scheduler",
                &address,
                "--bind",
                &bind,
                "--concurrency",
                "1",
                "--work-dir",
                path_text(&work_dir),
            ]));
            executor.wait_for("executor serving results on");
            (executor, work_dir)
        })
        .collect();
    Cluster {
        url: format!("df://{address}"),
        _scheduler: scheduler,
        executors,
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

const QUERIES: &[&str] = &[
    "SELECT account, count(*) AS events, count(DISTINCT useridentity.arn) AS principals \
     FROM cloudtrail GROUP BY account ORDER BY account",
    "SELECT account, useridentity.arn AS arn, eventsource, eventname, count(*) AS calls, \
     max(eventtime) AS last FROM cloudtrail WHERE errorcode IS NULL \
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    "SELECT day, count(*) AS events FROM cloudtrail WHERE account = \
     (SELECT min(account) FROM cloudtrail) GROUP BY day ORDER BY day",
    "SELECT json_extract_scalar(requestparameters, '$.roleArn') AS role, count(*) AS n \
     FROM cloudtrail WHERE eventname = 'AssumeRole' GROUP BY 1 ORDER BY 2 DESC, 1",
];

#[test]
#[ignore = "needs CTIDX_GENERATOR (benchmarks' gen_cloudtrail.py)"]
fn cluster_answers_equal_local_answers_and_a_lost_executor_never_gives_a_wrong_one() {
    let org = organization("60000");
    let cluster = start_cluster(&org, 2);

    for query in QUERIES {
        let local = org.local(&["sql", "--format", "csv", query]);
        assert!(local.status.success(), "{}", stderr(&local));
        let remote = org
            .ctidx(&["sql", "--format", "csv", "--cluster", &cluster.url, query])
            .output()
            .expect("ctidx runs");
        assert!(remote.status.success(), "{query}\n{}", stderr(&remote));
        assert!(stdout(&local).lines().count() > 1, "{query}: no rows");
        assert_eq!(stdout(&remote), stdout(&local), "{query}");
        assert!(!stderr(&remote).contains("note:"), "{}", stderr(&remote));
    }
    // Every executor took part.
    for (_, work_dir) in &cluster.executors {
        assert!(
            std::fs::read_dir(work_dir).map(|d| d.count()).unwrap_or(0) > 0,
            "executor {} ran no task",
            work_dir.display()
        );
    }

    // A recursive query runs here, and says so.
    let recursive = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \
                     (SELECT count(DISTINCT account) FROM cloudtrail)) SELECT max(i) AS i FROM n";
    let remote = org
        .ctidx(&[
            "sql",
            "--format",
            "csv",
            "--cluster",
            &cluster.url,
            recursive,
        ])
        .output()
        .expect("ctidx runs");
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(stdout(&remote), "i\n3\n");
    assert!(
        stderr(&remote).contains("note: a recursive query (WITH RECURSIVE) ran on this machine"),
        "{}",
        stderr(&remote)
    );

    // Every principal of every account: the same document, with and without people by session.
    for extra in [&[][..], &["--by-session"][..]] {
        let mut args = vec![
            "query",
            "--all",
            "--format",
            "json",
            // Only used actions: with every principal's unused grants the document is 1.7 GB.
            "--show-used",
            "--start",
            "2024-03-01",
        ];
        args.extend_from_slice(&["--end", "2024-03-10"]);
        args.extend_from_slice(extra);
        let local = org.local(&args);
        assert!(local.status.success(), "{}", stderr(&local));
        // In this process on the store in S3: its activity summaries, read through the server.
        let in_s3 = org
            .ctidx(&[&args[..], &["-v"]].concat())
            .output()
            .expect("ctidx runs");
        assert!(in_s3.status.success(), "{}", stderr(&in_s3));
        assert!(
            stderr(&in_s3).contains("reading the store's activity summaries"),
            "{}",
            stderr(&in_s3)
        );
        assert!(
            in_s3.stdout == local.stdout,
            "S3 and disk give other answers"
        );
        args.extend_from_slice(&["--cluster", &cluster.url]);
        let remote = org.ctidx(&args).output().expect("ctidx runs");
        assert!(remote.status.success(), "{}", stderr(&remote));
        let principals = serde_json::from_slice::<serde_json::Value>(&local.stdout).expect("JSON")
            ["principals"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(principals > 10, "{principals} principals");
        assert!(
            remote.stdout == local.stdout,
            "{extra:?}: the documents differ ({} and {} bytes)",
            remote.stdout.len(),
            local.stdout.len()
        );
        let notes = stderr(&remote).contains("ran on this machine");
        assert_eq!(notes, !extra.is_empty(), "{}", stderr(&remote));
    }

    lost_executor_mid_query(&org, cluster);
}

/// One executor is killed once it has finished a task of a two-stage query. The query must then
/// give the right answer or fail naming the cluster; afterwards the cluster still answers.
fn lost_executor_mid_query(org: &Organization, mut cluster: Cluster) {
    let join = "SELECT count(*) AS pairs, sum(length(a.eventid)) AS width FROM cloudtrail a \
                JOIN cloudtrail b ON a.eventname = b.eventname AND a.account = b.account";
    let expected = org.local(&["sql", "--format", "csv", join]);
    assert!(expected.status.success(), "{}", stderr(&expected));

    let (mut victim, work_dir) = cluster.executors.remove(0);
    let jobs_before = job_folders(&work_dir);
    let started = Instant::now();
    let mut query = org
        .ctidx(&["sql", "--format", "csv", "--cluster", &cluster.url, join])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ctidx runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    while job_folders(&work_dir) == jobs_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        query.try_wait().expect("wait").is_none(),
        "the query ended before an executor could be lost"
    );
    victim.kill();
    let killed_at = started.elapsed();
    let output = wait_with_limit(query, Duration::from_secs(600));
    if output.status.success() {
        assert_eq!(stdout(&output), stdout(&expected));
    } else {
        let message = stderr(&output);
        assert!(
            message.contains(&format!("on the cluster at {}", cluster.url)),
            "{message}"
        );
        assert!(
            stdout(&output).is_empty(),
            "a failed query printed: {}",
            stdout(&output)
        );
    }
    eprintln!(
        "executor killed {:.1} s into the query, which ended {:.1} s in with {}",
        killed_at.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        if output.status.success() {
            "the right answer"
        } else {
            "an error naming the cluster"
        }
    );

    let after = org
        .ctidx(&[
            "sql",
            "--format",
            "csv",
            "--cluster",
            &cluster.url,
            QUERIES[0],
        ])
        .output()
        .expect("ctidx runs");
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(
        stdout(&after),
        stdout(&org.local(&["sql", "--format", "csv", QUERIES[0]]))
    );
}

fn job_folders(work_dir: &Path) -> usize {
    std::fs::read_dir(work_dir).map(|d| d.count()).unwrap_or(0)
}

/// The output of `child`, which is killed if it runs past `limit` (the test then fails: a query
/// that lost an executor must end).
fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!("still running after {limit:?}: {}", stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_cluster_address_or_tls_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = ctidx()
        .arg("--store")
        .arg(demo_store().join("store"))
        .args(["sql", "--cluster", "http://sched:50050", "select 1"])
        .output()
        .expect("ctidx runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--cluster http://sched:50050: expected df://HOST:PORT"));

    let missing = dir.path().join("ca.pem");
    let output = ctidx()
        .arg("--store")
        .arg(demo_store().join("store"))
        .args(["sql", "--cluster", "df://127.0.0.1:1", "--tls-ca"])
        .arg(&missing)
        .args(["--tls-cert"])
        .arg(&missing)
        .args(["--tls-key"])
        .arg(&missing)
        .arg("select 1")
        .output()
        .expect("ctidx runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("cannot read TLS file {}", missing.display())),
        "{}",
        stderr(&output)
    );

    let output = ctidx()
        .arg("--store")
        .arg(demo_store().join("store"))
        .args(["query", "--user", "alice", "--cluster", "df://127.0.0.1:1"])
        .output()
        .expect("ctidx runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--cluster runs `query --all`"),
        "{}",
        stderr(&output)
    );

    // Nothing listens there: the error names the cluster.
    let port = free_port();
    let output = ctidx()
        .arg("--store")
        .arg(demo_store().join("store"))
        .args(["sql", "--cluster", &format!("df://127.0.0.1:{port}")])
        .arg("select count(*) from cloudtrail")
        .output()
        .expect("ctidx runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("on the cluster at df://127.0.0.1:{port}")),
        "{}",
        stderr(&output)
    );
}

/// A certificate authority and one certificate for 127.0.0.1, for both ends of every connection.
fn certificates(dir: &Path) -> Vec<String> {
    if Command::new("openssl").arg("version").output().is_err() {
        apt_install("openssl");
    }
    let extensions = dir.join("extensions.cnf");
    std::fs::write(
        &extensions,
        "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .expect("write");
    let file = |name: &str| path_text(&dir.join(name)).to_string();
    for step in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ctidx test CA",
            "-keyout",
            &file("ca.key"),
            "-out",
            &file("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &file("node.key"),
            "-out",
            &file("node.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &file("node.csr"),
            "-CA",
            &file("ca.pem"),
            "-CAkey",
            &file("ca.key"),
            "-CAcreateserial",
            "-out",
            &file("node.pem"),
            "-extfile",
            &file("extensions.cnf"),
        ],
    ] {
        let output = Command::new("openssl")
            .args(&step)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {step:?}: {}",
            stderr(&output)
        );
    }
    vec![
        "--tls-ca".to_string(),
        file("ca.pem"),
        "--tls-cert".to_string(),
        file("node.pem"),
        "--tls-key".to_string(),
        file("node.key"),
    ]
}

#[test]
fn with_tls_the_cluster_answers_and_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = certificates(dir.path());
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let on_demo = |args: &[&str]| {
        let mut command = ctidx();
        command
            .arg("--store")
            .arg(demo_store().join("store"))
            .args(args);
        command
    };
    let cluster = start_cluster_with(&on_demo, dir.path(), 2, &tls);
    let query =
        "SELECT account, eventname, count(*) AS n FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2";
    let local = on_demo(&["sql", "--format", "csv", query])
        .output()
        .expect("ctidx runs");
    assert!(local.status.success(), "{}", stderr(&local));

    let mut args = vec!["sql", "--format", "csv", "--cluster", &cluster.url];
    args.extend_from_slice(&tls);
    args.push(query);
    let remote = on_demo(&args).output().expect("ctidx runs");
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(stdout(&remote), stdout(&local));

    let plain = on_demo(&["sql", "--format", "csv", "--cluster", &cluster.url, query])
        .output()
        .expect("ctidx runs");
    assert_eq!(plain.status.code(), Some(2), "{}", stdout(&plain));
    assert!(stdout(&plain).is_empty());
    assert!(
        stderr(&plain).contains(&format!("on the cluster at {}", cluster.url)),
        "{}",
        stderr(&plain)
    );
}

/// Each process of the cluster reads the store with its own AWS credentials, from its own
/// environment: a scheduler or executor whose secret is wrong refuses to start, naming the bucket,
/// however right the client's are; with right ones, the cluster answers as the client does alone.
#[test]
fn each_cluster_process_reads_the_store_with_its_own_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let output = ingest(
        &demo_dir().join("AWSLogs"),
        &root.join(STORE_BUCKET).join(STORE_PREFIX),
        &["--quiet"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let server = Server::start(&root);
    let url = format!("s3://{STORE_BUCKET}/{STORE_PREFIX}");
    let on_s3 = |secret: &str, args: &[&str]| {
        let mut command = ctidx_aws(dir.path());
        command
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .args(["--store", &url, "--endpoint-url", &server.endpoint])
            .args(args);
        command
    };
    let refused = |mut command: Command| {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ctidx runs");
        let output = wait_with_limit(child, Duration::from_secs(60));
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(&format!(
                "s3://{STORE_BUCKET}: the credentials were rejected"
            )),
            "{}",
            stderr(&output)
        );
    };
    refused(on_s3(
        "not-the-secret",
        &["cluster", "scheduler", "--bind", "127.0.0.1:0"],
    ));

    let right = |args: &[&str]| on_s3(server::SECRET_KEY, args);
    let cluster = start_cluster_with(&right, dir.path(), 1, &[]);
    let scheduler = cluster.url.trim_start_matches("df://").to_string();
    refused(on_s3(
        "not-the-secret",
        &[
            "cluster",
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--work-dir",
            path_text(&dir.path().join("refused-executor")),
        ],
    ));

    let query = "SELECT account, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1";
    let local = right(&["sql", "--format", "csv", query])
        .output()
        .expect("ctidx runs");
    assert!(local.status.success(), "{}", stderr(&local));
    let remote = right(&["sql", "--format", "csv", "--cluster", &cluster.url, query])
        .output()
        .expect("ctidx runs");
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(stdout(&remote), stdout(&local));
}
