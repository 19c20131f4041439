//! The stages of ingest, each timed alone on one thread.
//!
//! A whole ingest keeps every core busy, and its wall time varies by several percent from one run
//! to the next, so a change that saves one or two percent of its work cannot be seen there. Here
//! each stage runs on the same objects, already in memory, many times over; the fastest run is
//! the stage's cost, and it usually repeats to within one or two percent (on a busy machine,
//! alternate the builds compared and repeat each).
//!
//! Reads the objects ingest would read under the folder named by `CTIDX_BENCH_DIR` (for example
//! the `AWSLogs` folder of a synthetic tree); those that do not decode as CloudTrail records are
//! left out. `inflate` times the gzip objects only. Prints a message and exits when the variable
//! is unset.
//! Run with `cargo bench --bench ingest_stages`.
//!
//! Stages: `inflate` (libdeflate), `json-scan` (serde_json reading the text and keeping nothing),
//! `decode` (the text into a batch of the store's columns), `inflate+decode` (what a decoding thread
//! does with an object), `sort` (the objects' rows in the store's order, as one partition) and
//! `write` (that partition as a data file with its summaries, in a fresh store each run).
//!
//! Optional variables:
//! * `CTIDX_BENCH_OBJECTS`: objects read, the first that ingest reads (default 300);
//! * `CTIDX_BENCH_RUNS`: timed runs per stage after one warm-up run (default 10);
//! * `CTIDX_BENCH_ONLY`: time only the stages named, separated by commas (for a profile of one).
//!
//! When even the fastest runs differ by more than a change saves, count instructions instead: one
//! run of one stage under `valgrind --tool=callgrind` (with `CTIDX_BENCH_RUNS=1` and fewer objects)
//! gives the same count each time for the same build, and `callgrind_annotate --inclusive=yes`
//! gives it per function, for example `Store::write_partition` for the write stage.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow::array::RecordBatch;
use ctidx::ingest::decode::{Limits, decode_json, decode_object};
use ctidx::ingest::source;
use ctidx::store::{EventIds, PartitionKey, Run, Store, sort_rows};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STAGES: [&str; 6] = [
    "inflate",
    "json-scan",
    "decode",
    "inflate+decode",
    "sort",
    "write",
];

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    env(name)
        .map(|v| v.parse::<usize>())
        .transpose()
        .with_context(|| format!("{name} must be a whole number"))
        .map(|n| n.unwrap_or(default).max(1))
}

fn main() -> anyhow::Result<()> {
    let Some(source_dir) = env("CTIDX_BENCH_DIR") else {
        println!(
            "CTIDX_BENCH_DIR is not set; skipping the ingest stages bench.\n\
             Point it at a folder of CloudTrail logs, for example one made by the synthetic\n\
             generator: gen_cloudtrail.py --out DIR --events 1000000 --accounts 2 --days 30,\n\
             then CTIDX_BENCH_DIR=DIR/AWSLogs cargo bench --bench ingest_stages"
        );
        return Ok(());
    };
    let objects = env_number("CTIDX_BENCH_OBJECTS", 300)?;
    let runs = env_number("CTIDX_BENCH_RUNS", 10)?;
    let only: Vec<String> = env("CTIDX_BENCH_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    for name in &only {
        if !STAGES.contains(&name.as_str()) {
            bail!("CTIDX_BENCH_ONLY: no stage {name:?}; the stages are {STAGES:?}");
        }
    }
    let timed = |stage: &str| only.is_empty() || only.iter().any(|s| s == stage);

    let limits = Limits::default();
    let mut compressed = Vec::new();
    let mut texts = Vec::new();
    let mut batches = Vec::new();
    let mut skipped = 0;
    for (path, bytes) in read_objects(Path::new(&source_dir), objects)? {
        let text = if is_gzip(&bytes) {
            inflate(&bytes).with_context(|| path.clone())?
        } else {
            bytes.clone()
        };
        // A folder of real logs holds other JSON documents too; only what decodes is timed.
        match decode_json(&text, limits) {
            Ok(batch) => {
                compressed.push((path, bytes));
                texts.push(text);
                batches.push(batch);
            }
            Err(_) => skipped += 1,
        }
    }
    if batches.is_empty() {
        bail!("none of the objects under {source_dir} decodes as CloudTrail records");
    }
    let events: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let json_bytes: usize = texts.iter().map(Vec::len).sum();
    println!(
        "input: {} objects ({skipped} more that are not logs left out), {events} events, {:.1} MB as \
         read, {:.1} MB of JSON; {runs} runs a stage, one thread",
        compressed.len(),
        compressed.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / 1e6,
        json_bytes as f64 / 1e6,
    );
    // What a stage's figures are per: its events and its bytes of JSON.
    let all = (events, json_bytes);
    let gzipped: Vec<usize> = (0..compressed.len())
        .filter(|&i| is_gzip(&compressed[i].1))
        .collect();
    let gzipped_scope = (
        gzipped
            .iter()
            .map(|&i| batches[i].num_rows())
            .sum::<usize>(),
        gzipped.iter().map(|&i| texts[i].len()).sum::<usize>(),
    );
    let report = |stage: &str, (events, json_bytes): (usize, usize), times: Vec<Duration>| {
        let mut seconds: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        seconds.sort_by(f64::total_cmp);
        let (best, median) = (seconds[0], seconds[seconds.len() / 2]);
        println!(
            "{stage:>15}: best {:8.2} ms, median {:8.2} ms, {:6.0} ns/event, {:6.0} MB/s of JSON",
            best * 1e3,
            median * 1e3,
            best * 1e9 / events.max(1) as f64,
            json_bytes as f64 / 1e6 / best
        );
    };
    let measure =
        |stage: &str, scope: (usize, usize), body: &mut dyn FnMut() -> anyhow::Result<()>| {
            if timed(stage) && scope.0 > 0 {
                report(stage, scope, time_runs(runs, body)?);
            }
            anyhow::Ok(())
        };

    measure("inflate", gzipped_scope, &mut || {
        for &i in &gzipped {
            std::hint::black_box(inflate(&compressed[i].1)?);
        }
        Ok(())
    })?;
    // serde_json reading the same text and keeping nothing: the floor of decoding with it, against
    // which the cost of building the columns shows.
    measure("json-scan", all, &mut || {
        for text in &texts {
            let value: serde::de::IgnoredAny = serde_json::from_slice(text)?;
            std::hint::black_box(value);
        }
        Ok(())
    })?;
    measure("decode", all, &mut || {
        for text in &texts {
            std::hint::black_box(decode_json(text, limits)?);
        }
        Ok(())
    })?;
    measure("inflate+decode", all, &mut || {
        for (_, bytes) in &compressed {
            std::hint::black_box(decode_object(bytes, limits)?);
        }
        Ok(())
    })?;
    // The objects are one partition here, whatever their accounts and days: what is timed is the
    // sort and the copy of every row into its place.
    measure("sort", all, &mut || {
        std::hint::black_box(sort_rows(batches.clone())?);
        Ok(())
    })?;
    if timed("write") {
        let sorted = sort_rows(batches.clone())?;
        let folder = tempfile::tempdir()?;
        let key = PartitionKey {
            account: "111111111111".into(),
            month: "2024-01".into(),
        };
        let mut written = 0;
        // Events repeated among the objects are written once, as ingest writes them.
        let mut distinct = None;
        measure("write", all, &mut || {
            written += 1;
            let store = Store::new(folder.path().join(written.to_string()));
            let lock = store.lock_for_writing()?;
            let run: Run<'static> = Box::new(std::iter::once(Ok(sorted.clone())));
            let (rows, _) =
                store.write_partition(&key, None, vec![run], &mut EventIds::default(), &lock)?;
            if *distinct.get_or_insert(rows) != rows {
                bail!("wrote {rows} rows, where the first run wrote {distinct:?}");
            }
            drop(lock);
            std::fs::remove_dir_all(store.root())?;
            Ok(())
        })?;
    }
    Ok(())
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The first `limit` objects under `dir` that ingest would read, in the order it reads them (an
/// account's days one after another, every region of a day), with their bytes. Taken in path
/// order instead, they were one region over many days: a partition of few rows per day and
/// principal, unlike any that ingest writes.
fn read_objects(dir: &Path, limit: usize) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut objects = source::list_local(dir)?.objects;
    if objects.is_empty() {
        bail!("no logs under {}", dir.display());
    }
    objects.sort_by(source::SourceObject::delivery_order);
    objects.truncate(limit);
    objects
        .into_iter()
        .map(|object| {
            let bytes = object.read().with_context(|| object.location.clone())?;
            Ok((object.location, bytes))
        })
        .collect()
}

fn inflate(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let size = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|tail| tail.try_into().ok())
        .map(u32::from_le_bytes)
        .context("shorter than a gzip trailer")?;
    let mut out = vec![0; size as usize];
    let written = libdeflater::Decompressor::new()
        .gzip_decompress(bytes, &mut out)
        .map_err(|e| anyhow::anyhow!("cannot decompress: {e}"))?;
    out.truncate(written);
    Ok(out)
}

/// Times `runs` calls of `stage`, after one untimed call.
fn time_runs(
    runs: usize,
    mut stage: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    stage()?;
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            stage()?;
            Ok(started.elapsed())
        })
        .collect()
}
