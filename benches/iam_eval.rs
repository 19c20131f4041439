//! Times parsing a real `get-account-authorization-details` export and evaluating every principal
//! against the embedded action catalogue.
//!
//! Reads `$CTIDX_REALDATA_DIR/iam/cloudsplaining/example.json`; prints a message and exits when the
//! variable is unset. Run with `cargo bench --bench iam_eval`.

use std::time::{Duration, Instant};

use ctidx::iam::authz::AuthorizationDetails;
use ctidx::iam::catalogue::Catalogue;
use ctidx::iam::eval::{Evaluator, principals};

const RUNS: usize = 10;

fn main() -> anyhow::Result<()> {
    let Some(directory) = std::env::var_os("CTIDX_REALDATA_DIR") else {
        println!("CTIDX_REALDATA_DIR is not set; skipping the iam_eval bench");
        return Ok(());
    };
    let path = std::path::Path::new(&directory).join("iam/cloudsplaining/example.json");
    let text = std::fs::read_to_string(&path)?;

    let started = Instant::now();
    let catalogue = Catalogue::embedded();
    let catalogue_time = started.elapsed();

    let mut parse_times = Vec::with_capacity(RUNS);
    let mut compile_times = Vec::with_capacity(RUNS);
    let mut evaluate_times = Vec::with_capacity(RUNS);
    let mut granted_total = 0;
    let mut principal_count = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let details = AuthorizationDetails::from_json_str(&text)?;
        parse_times.push(started.elapsed());

        let started = Instant::now();
        let evaluator = Evaluator::new(&details, catalogue);
        compile_times.push(started.elapsed());

        let started = Instant::now();
        let all = principals(&details);
        granted_total = 0;
        for principal in &all {
            granted_total += evaluator.evaluate(*principal)?.granted.len();
        }
        evaluate_times.push(started.elapsed());
        principal_count = all.len();
    }

    println!(
        "{} ({} principals, {} catalogue actions, {granted_total} granted actions in total)",
        path.display(),
        principal_count,
        catalogue.actions().len()
    );
    println!(
        "catalogue load (first use): {:>9.3} ms",
        millis(catalogue_time)
    );
    report("parse authorization details", &mut parse_times);
    report("compile policies", &mut compile_times);
    report("evaluate all principals", &mut evaluate_times);
    Ok(())
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    let median = times[times.len() / 2];
    let min = times[0];
    println!(
        "{label:<28} median {:>9.3} ms   min {:>9.3} ms   ({RUNS} runs)",
        millis(median),
        millis(min)
    );
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
