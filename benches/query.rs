//! Whole-process time of `ctidx query` questions on an existing store (no assertions).
//!
//! ```sh
//! CTIDX_BENCH_CONFIG=gen/config.yaml CTIDX_BENCH_STORE=gen.store CTIDX_BENCH_ACCOUNT=prod \
//! CTIDX_BENCH_USER=olivia.wright CTIDX_BENCH_ROLE=backup-operator CTIDX_BENCH_ASSUMER=bob.adams \
//! CTIDX_BENCH_WINDOW=2024-03-01:2024-03-31 cargo bench --bench query
//! ```
//! The store is made with `ctidx ingest`, for example from `gen_cloudtrail.py` output. For role
//! sessions at scale, `benches/gen_sessions.py --sessions 100000` writes logs, an IAM snapshot and a
//! config (account `bench`, users `user000`…, roles `role00`…); `benches/check_sessions.py` checks
//! `--destrole` answers against the generator's record of who did what in which role.

use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let var = |name: &str| std::env::var(name).ok();
    let (Some(config), Some(store), Some(account)) = (
        var("CTIDX_BENCH_CONFIG"),
        var("CTIDX_BENCH_STORE"),
        var("CTIDX_BENCH_ACCOUNT"),
    ) else {
        eprintln!(
            "set CTIDX_BENCH_CONFIG, CTIDX_BENCH_STORE and CTIDX_BENCH_ACCOUNT (see the file header); skipped"
        );
        return;
    };
    let window = var("CTIDX_BENCH_WINDOW").unwrap_or_else(|| "2024-03-01:2024-03-31".into());
    let (start, end) = window
        .split_once(':')
        .unwrap_or(("2024-03-01", "2024-03-31"));
    let mut questions: Vec<Vec<String>> = vec![
        vec!["--list".into(), "users".into()],
        vec!["--list".into(), "roles".into()],
    ];
    if let Some(user) = var("CTIDX_BENCH_USER") {
        questions.push(vec!["--user".into(), user]);
    }
    if let Some(role) = var("CTIDX_BENCH_ROLE") {
        questions.push(vec!["--role".into(), role.clone()]);
        questions.push(vec!["--role".into(), role.clone(), "--by-session".into()]);
        if let Some(assumer) = var("CTIDX_BENCH_ASSUMER") {
            questions.push(vec!["--user".into(), assumer, "--destrole".into(), role]);
        }
    }
    println!(
        "{:<60} {:>10} {:>10} {:>8}",
        "question (whole process)", "min", "median", "lines"
    );
    for question in questions {
        let mut times = Vec::new();
        let mut lines = 0;
        for _ in 0..7 {
            let started = Instant::now();
            let output = Command::new(env!("CARGO_BIN_EXE_ctidx"))
                .args([
                    "query",
                    "--quiet",
                    "--config",
                    &config,
                    "--store",
                    &store,
                    "--account",
                    &account,
                ])
                .args(["--start", start, "--end", end])
                .args(&question)
                .output();
            times.push(started.elapsed());
            match output {
                Ok(output) if output.status.success() => {
                    lines = output.stdout.split(|b| *b == b'\n').count() - 1
                }
                Ok(output) => {
                    eprintln!(
                        "{question:?} failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                    break;
                }
                Err(error) => {
                    eprintln!("cannot run ctidx: {error}");
                    return;
                }
            }
        }
        times.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        if let (Some(min), Some(median)) = (times.first(), times.get(times.len() / 2)) {
            println!(
                "{:<60} {:>10} {:>10} {:>8}",
                question.join(" "),
                ms(*min),
                ms(*median),
                lines
            );
        }
    }
}
