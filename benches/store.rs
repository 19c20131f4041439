//! Ingest and query throughput of the Parquet store, measured in process through the library.
//!
//! Reads a folder of CloudTrail logs named by `CTIDX_BENCH_DIR` (for example the `AWSLogs` folder of
//! a synthetic tree), ingests it into a fresh store, then times CloudTracker-style queries on one
//! DataFusion session. Prints a message and exits when the variable is unset.
//! Run with `cargo bench --bench store`.
//!
//! Optional variables:
//! * `CTIDX_BENCH_STORE`: where to write the store (kept afterwards); default: a temporary folder.
//! * `CTIDX_BENCH_SKIP_INGEST=1`: query the store at `CTIDX_BENCH_STORE` as it is.
//! * `CTIDX_BENCH_JOBS`: objects decoded at once (default: number of CPUs).
//! * `CTIDX_BENCH_RUNS`: timed runs per query after one warm-up run (default 5).
//! * `CTIDX_BENCH_USER_ARN`, `CTIDX_BENCH_ROLE_ARN`: query targets; default: the IAM user and the
//!   role (session issuer) with the most events.
//! * `CTIDX_BENCH_ACCOUNT`: account the queries are scoped to; default: the user ARN's account.
//! * `CTIDX_BENCH_FROM`, `CTIDX_BENCH_TO`: `eventTime` range of the list queries (ISO-8601 UTC, the
//!   end excluded); default: the middle half of the days stored.
//! * `CTIDX_BENCH_DAY`: the day of the top-events query; default: the first day stored.
//! * `CTIDX_BENCH_SQL`: more queries to time, as `name=SQL`, separated by `;;`.
//! * `CTIDX_BENCH_ONLY`: time only the queries named, separated by commas (for a profile of one).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use ctidx::ingest::{self, IngestOptions, source};
use ctidx::store::Store;
use datafusion::prelude::SessionContext;

// glibc's allocator spends a fifth of a query's time on the Parquet reader's short-lived buffers.
// mimalloc is built without transparent huge pages (Cargo feature `no_thp`): each fresh 2 MiB page
// is zeroed whole on first touch, which made the first query of a process twice as slow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn main() -> anyhow::Result<()> {
    let Some(source_dir) = env("CTIDX_BENCH_DIR") else {
        println!(
            "CTIDX_BENCH_DIR is not set; skipping the store bench.\n\
             Point it at a folder of CloudTrail logs, for example one made by the synthetic\n\
             generator: gen_cloudtrail.py --out DIR --events 1000000 --accounts 2 --days 30,\n\
             then CTIDX_BENCH_DIR=DIR/AWSLogs cargo bench --bench store"
        );
        return Ok(());
    };
    let runs: usize = env("CTIDX_BENCH_RUNS")
        .map(|v| v.parse::<usize>())
        .transpose()
        .context("CTIDX_BENCH_RUNS")?
        .unwrap_or(5)
        .max(1);
    let skip_ingest = env("CTIDX_BENCH_SKIP_INGEST").is_some_and(|v| v != "0");
    let _temp;
    let store_dir: PathBuf = match env("CTIDX_BENCH_STORE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            if skip_ingest {
                bail!("CTIDX_BENCH_SKIP_INGEST needs CTIDX_BENCH_STORE");
            }
            _temp = tempfile::tempdir()?;
            _temp.path().join("store")
        }
    };
    let store = Store::new(&store_dir);

    if !skip_ingest {
        bench_ingest(Path::new(&source_dir), &store)?;
    }
    println!("store: {} bytes of Parquet", parquet_bytes(&store_dir));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let ctx = ctidx::sql::session(&store)?;
    println!("session created in {:.3} ms", millis(started.elapsed()));

    let targets = runtime.block_on(Targets::resolve(&ctx))?;
    println!(
        "targets: account {}, user {}, role {}, range [{}, {}), day {}",
        targets.account, targets.user, targets.role, targets.from, targets.to, targets.day
    );

    println!();
    println!("| query | rows | first ms | min ms | median ms |");
    println!("|---|---:|---:|---:|---:|");
    let mut all_queries = queries(&targets);
    // Extra queries to time, as `name=SQL` separated by `;;`.
    for extra in env("CTIDX_BENCH_SQL").iter().flat_map(|v| v.split(";;")) {
        if let Some((name, sql)) = extra.split_once('=') {
            all_queries.push((name.trim().to_string(), sql.to_string()));
        }
    }
    let only: Option<Vec<String>> =
        env("CTIDX_BENCH_ONLY").map(|v| v.split(',').map(|n| n.trim().to_string()).collect());
    all_queries.retain(|(name, _)| only.as_ref().is_none_or(|only| only.contains(name)));
    for (name, sql) in all_queries {
        let mut times = Vec::with_capacity(runs + 1);
        let mut rows = 0;
        for _ in 0..=runs {
            let started = Instant::now();
            let batches = runtime.block_on(ctidx::sql::query(&ctx, &sql, None))?;
            times.push(started.elapsed());
            rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>();
        }
        let first = times.remove(0);
        times.sort();
        println!(
            "| {name} | {rows} | {:.1} | {:.1} | {:.1} |",
            millis(first),
            millis(times[0]),
            millis(times[times.len() / 2]),
        );
    }
    if let Some(peak) = peak_rss_mib() {
        println!("\npeak RSS of this process: {peak:.0} MiB");
    }
    Ok(())
}

fn bench_ingest(source_dir: &Path, store: &Store) -> anyhow::Result<()> {
    let listing = source::list_local(source_dir)?;
    let objects = listing.objects.len();
    let compressed: u64 = listing.objects.iter().map(|o| o.size).sum();
    let json_bytes = uncompressed_bytes(&listing);
    let mut options = IngestOptions {
        full: true,
        ..IngestOptions::default()
    };
    if let Some(jobs) = env("CTIDX_BENCH_JOBS") {
        options.jobs = jobs.parse::<usize>().context("CTIDX_BENCH_JOBS")?.max(1);
    }
    let started = Instant::now();
    let report = ingest::ingest(store, listing, &options, &ingest::Silent)?;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    if !report.failures.is_empty() {
        bail!(
            "{} objects failed, first: {}: {}",
            report.failures.len(),
            report.failures[0].location,
            report.failures[0].error
        );
    }
    println!(
        "input: {objects} objects, {} events, {:.1} MB as read, {:.1} MB of JSON",
        report.events_read,
        compressed as f64 / 1e6,
        json_bytes as f64 / 1e6
    );
    println!(
        "ingest ({} jobs): {seconds:.2} s, {:.0} events/s, {:.1} MB/s JSON, {:.1} MB/s as read, \
         {} events stored in {} partitions",
        options.jobs,
        report.events_read as f64 / seconds,
        json_bytes as f64 / 1e6 / seconds,
        compressed as f64 / 1e6 / seconds,
        report.events_stored,
        report.partitions_written
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS after ingest: {peak:.0} MiB");
    }
    Ok(())
}

/// Decompressed size of every object: the gzip trailer's ISIZE (exact for one-member files under
/// 4 GiB), else the file size.
fn uncompressed_bytes(listing: &source::Listing) -> u64 {
    listing
        .objects
        .iter()
        .map(|object| gzip_isize(Path::new(&object.location)).unwrap_or(object.size))
        .sum()
}

fn gzip_isize(path: &Path) -> Option<u64> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic).ok()?;
    if magic != [0x1f, 0x8b] {
        return None;
    }
    let mut trailer = [0u8; 4];
    file.seek(SeekFrom::End(-4)).ok()?;
    file.read_exact(&mut trailer).ok()?;
    Some(u64::from(u32::from_le_bytes(trailer)))
}

fn parquet_bytes(root: &Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            e.file_type().is_file() && name.ends_with(".parquet") && !name.starts_with('.')
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// What the queries look for.
struct Targets {
    account: String,
    user: String,
    role: String,
    from: String,
    to: String,
    day: String,
}

impl Targets {
    async fn resolve(ctx: &SessionContext) -> anyhow::Result<Targets> {
        let user = match env("CTIDX_BENCH_USER_ARN") {
            Some(arn) => arn,
            None => top(
                ctx,
                "SELECT useridentity.arn AS v, count(*) AS n FROM cloudtrail \
                 WHERE useridentity.type = 'IAMUser' AND useridentity.arn IS NOT NULL \
                 GROUP BY 1 ORDER BY n DESC, v LIMIT 1",
            )
            .await?
            .context("no IAM user in the store; set CTIDX_BENCH_USER_ARN")?,
        };
        let account = match env("CTIDX_BENCH_ACCOUNT") {
            Some(account) => account,
            None => user
                .split(':')
                .nth(4)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .context("cannot tell the account from the user ARN; set CTIDX_BENCH_ACCOUNT")?,
        };
        let role = match env("CTIDX_BENCH_ROLE_ARN") {
            Some(arn) => arn,
            None => top(
                ctx,
                &format!(
                    "SELECT useridentity.sessioncontext.sessionissuer.arn AS v, count(*) AS n \
                     FROM cloudtrail WHERE account = {} AND useridentity.type = 'AssumedRole' \
                     AND useridentity.sessioncontext.sessionissuer.arn IS NOT NULL \
                     GROUP BY 1 ORDER BY n DESC, v LIMIT 1",
                    literal(&account)
                ),
            )
            .await?
            .context("no role session in the store; set CTIDX_BENCH_ROLE_ARN")?,
        };
        let days = strings(
            ctx,
            &format!(
                "SELECT DISTINCT day FROM cloudtrail WHERE account = {} ORDER BY day",
                literal(&account)
            ),
        )
        .await?;
        if days.is_empty() {
            bail!("account {account} has no events in the store");
        }
        let from = env("CTIDX_BENCH_FROM")
            .unwrap_or_else(|| format!("{}T00:00:00Z", days[days.len() / 4]));
        let to = env("CTIDX_BENCH_TO")
            .unwrap_or_else(|| format!("{}T00:00:00Z", days[days.len() * 3 / 4]));
        let day = env("CTIDX_BENCH_DAY").unwrap_or_else(|| days[0].clone());
        Ok(Targets {
            account,
            user,
            role,
            from,
            to,
            day,
        })
    }
}

/// The queries, as pairs of name and SQL text. `eventtime` is ISO-8601 text, so a range on it is a
/// range of strings; `month` (a partition column) bounds the files read, and `day` (the first sort
/// key, with a page index) the pages read within them.
fn queries(t: &Targets) -> Vec<(String, String)> {
    let account = literal(&t.account);
    let day_from = literal(t.from.get(..10).unwrap_or(t.from.as_str()));
    let day_to = literal(&last_day(&t.to));
    let month_from = literal(t.from.get(..7).unwrap_or(t.from.as_str()));
    let month_to = literal(last_day(&t.to).get(..7).unwrap_or_default());
    let (from, to) = (literal(&t.from), literal(&t.to));
    let range = format!(
        "account = {account} AND month >= {month_from} AND month <= {month_to} \
         AND day >= {day_from} AND day <= {day_to} \
         AND eventtime >= {from} AND eventtime < {to} AND errorcode IS NULL"
    );
    vec![
        (
            "users_in_range".to_string(),
            format!("SELECT DISTINCT useridentity.username FROM cloudtrail WHERE {range}"),
        ),
        (
            "roles_in_range".to_string(),
            format!(
                "SELECT DISTINCT useridentity.sessioncontext.sessionissuer.username \
                 FROM cloudtrail WHERE {range}"
            ),
        ),
        (
            "user_actions".to_string(),
            format!(
                "SELECT DISTINCT eventsource, eventname FROM cloudtrail \
                 WHERE account = {account} AND useridentity.arn = {} AND errorcode IS NULL",
                literal(&t.user)
            ),
        ),
        (
            "role_actions".to_string(),
            format!(
                "SELECT DISTINCT eventsource, eventname FROM cloudtrail \
                 WHERE account = {account} \
                 AND useridentity.sessioncontext.sessionissuer.arn = {} AND errorcode IS NULL",
                literal(&t.role)
            ),
        ),
        (
            "top_events_day".to_string(),
            format!(
                "SELECT eventname, count(*) AS n FROM cloudtrail \
                 WHERE account = {account} AND month = {} AND day = {} \
                 GROUP BY eventname ORDER BY n DESC, eventname LIMIT 10",
                literal(t.day.get(..7).unwrap_or_default()),
                literal(&t.day)
            ),
        ),
    ]
}

/// The last day an exclusive end time reaches: the day before when the end is midnight.
fn last_day(end: &str) -> String {
    let day = end.get(..10).unwrap_or(end);
    let midnight = matches!(
        end.get(10..),
        Some("T00:00:00Z" | " 00:00:00" | "T00:00:00")
    );
    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(date) if midnight => date
            .pred_opt()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| day.to_string()),
        _ => day.to_string(),
    }
}

/// A SQL string literal.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

async fn strings(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<String>> {
    let batches = ctidx::sql::query(ctx, sql, None).await?;
    let mut out = Vec::new();
    for batch in &batches {
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        let column = column.as_string::<i32>();
        out.extend(
            (0..column.len())
                .filter(|&i| column.is_valid(i))
                .map(|i| column.value(i).to_string()),
        );
    }
    Ok(out)
}

async fn top(ctx: &SessionContext, sql: &str) -> anyhow::Result<Option<String>> {
    Ok(strings(ctx, sql).await?.into_iter().next())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Peak resident set size (Linux `VmHWM`), if the platform reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
