//! S3 ingest from an S3 server on loopback against local-folder ingest of the same objects.
//!
//! Writes `CTIDX_BENCH_OBJECTS` (default 2000) gzipped CloudTrail objects of
//! `CTIDX_BENCH_RECORDS` records each (default 100) into a temporary folder, serves that folder
//! with `s3s-fs` on 127.0.0.1, then ingests it into fresh stores, from the folder and through
//! `s3://`, alternately, twice each. Prints the best times and their ratio.
//! `CTIDX_BENCH_CONCURRENCY` sets the downloads in flight (default 16).
//! Run with `cargo bench --bench s3_vs_local`.

#[allow(dead_code)]
#[path = "../tests/cli/s3/server.rs"]
mod server;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use ctidx::ingest::s3::{ConnectOptions, ListOptions, S3Source, S3Url};
use ctidx::ingest::{self, IngestOptions, IngestReport, source};
use ctidx::store::Store;

const BUCKET: &str = "bench";
const ROUNDS: usize = 2;

fn keep_best(best: &mut Option<(IngestReport, Duration)>, report: IngestReport, time: Duration) {
    if best.as_ref().is_none_or(|(_, t)| time < *t) {
        *best = Some((report, time));
    }
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().context(name.to_string()),
        _ => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let objects = env_number("CTIDX_BENCH_OBJECTS", 2000)?;
    let records = env_number("CTIDX_BENCH_RECORDS", 100)?;
    let concurrency = env_number("CTIDX_BENCH_CONCURRENCY", 16)?;
    // Before any thread exists: the SDK reads its credentials from the environment.
    // SAFETY: no other thread is running yet.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", server::ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", server::SECRET_KEY);
        std::env::set_var("AWS_REGION", server::REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
    }
    let dir = tempfile::tempdir()?;
    let logs = dir.path().join("s3").join(BUCKET).join("logs");
    let bytes = write_objects(&logs, objects, records)?;
    println!(
        "{objects} objects of {records} records, {:.1} MB gzipped",
        bytes as f64 / 1e6
    );
    let server = server::Server::start(&dir.path().join("s3"));

    let options = IngestOptions {
        concurrency,
        ..IngestOptions::default()
    };
    let url = S3Url::parse(&format!("s3://{BUCKET}/logs"))?;
    let connect = ConnectOptions {
        endpoint_url: Some(server.endpoint.clone()),
        ..ConnectOptions::default()
    };
    let list_options = ListOptions {
        concurrency,
        ..ListOptions::default()
    };

    // Alternating rounds, best of each, so that neither side alone pays for a cold cache.
    let (mut local, mut remote) = (
        None::<(IngestReport, Duration)>,
        None::<(IngestReport, Duration)>,
    );
    for round in 0..ROUNDS {
        let started = Instant::now();
        let listing = source::list_local(&logs)?;
        let store = Store::new(dir.path().join(format!("store-local-{round}")));
        let report = ingest::ingest(&store, listing, &options, &ingest::Silent)?;
        keep_best(&mut local, report, started.elapsed());

        let started = Instant::now();
        let s3 = S3Source::connect(BUCKET, &connect)?;
        let listing = source::Listing::from_s3(&url, s3.list(&url, &list_options, &|_| {})?, s3);
        let store = Store::new(dir.path().join(format!("store-s3-{round}")));
        let report = ingest::ingest(&store, listing, &options, &ingest::Silent)?;
        keep_best(&mut remote, report, started.elapsed());
    }
    let ((local, local_time), (remote, s3_time)) =
        (local.context("no rounds")?, remote.context("no rounds")?);

    anyhow::ensure!(
        local.events_stored == remote.events_stored && remote.failures.is_empty(),
        "the two ingests differ: {} and {} events stored, {} failures",
        local.events_stored,
        remote.events_stored,
        remote.failures.len()
    );
    report("local folder", &local, local_time);
    report("S3 (loopback)", &remote, s3_time);
    println!(
        "S3 / local time ratio: {:.2}",
        s3_time.as_secs_f64() / local_time.as_secs_f64().max(1e-9)
    );
    Ok(())
}

fn report(name: &str, report: &IngestReport, time: Duration) {
    let seconds = time.as_secs_f64().max(1e-9);
    println!(
        "{name:>14}: {} objects, {} events in {seconds:.2}s ({:.0} events/s, {:.1} MB/s)",
        report.objects_ingested,
        report.events_stored,
        report.events_read as f64 / seconds,
        report.bytes_read as f64 / 1e6 / seconds,
    );
}

/// Writes the objects in the AWSLogs layout; returns their total size.
fn write_objects(root: &Path, objects: usize, records: usize) -> anyhow::Result<u64> {
    let accounts = ["111111111111", "222222222222", "333333333333"];
    let regions = ["us-east-1", "eu-west-1"];
    let mut total = 0;
    for n in 0..objects {
        let account = accounts[n % accounts.len()];
        let region = regions[(n / accounts.len()) % regions.len()];
        let day = 1 + (n / 6) % 28;
        let mut body = String::from("{\"Records\":[");
        for i in 0..records {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDA{i}","arn":"arn:aws:iam::{account}:user/u{u}","accountId":"{account}","userName":"u{u}"}},"eventTime":"2024-03-{day:02}T{h:02}:{m:02}:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"{region}","sourceIPAddress":"192.0.2.1","userAgent":"bench","requestParameters":null,"responseElements":null,"eventID":"{n:08x}-0000-4000-8000-{i:012x}","eventType":"AwsApiCall","recipientAccountId":"{account}"}}"#,
                u = i % 13,
                h = (i / 60) % 24,
                m = i % 60,
            ));
        }
        body.push_str("]}");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(body.as_bytes())?;
        let gz = encoder.finish()?;
        let path = root.join(format!(
            "AWSLogs/{account}/CloudTrail/{region}/2024/03/{day:02}/{account}_CloudTrail_{region}_202403{day:02}T0000Z_{n:08}.json.gz"
        ));
        std::fs::create_dir_all(path.parent().context("parent")?)?;
        std::fs::write(&path, &gz)?;
        total += gz.len() as u64;
    }
    Ok(total)
}
