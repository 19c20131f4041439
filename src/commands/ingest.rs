use anyhow::Context;

use crate::ExitStatus;
use crate::cli::IngestArgs;
use crate::config::Settings;
use crate::ingest::{self, IngestOptions, IngestReport, source};
use crate::printer::Printer;
use crate::store::Store;

pub fn run(
    settings: &Settings,
    args: &IngestArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = Store::new(&settings.store);
    let listing = source::list_local(&args.source).context("cannot list the source")?;
    let mut options = IngestOptions {
        full: args.full,
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        ..IngestOptions::default()
    };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    printer.detail(format!(
        "{} objects listed under {}",
        listing.objects.len(),
        args.source.display()
    ));
    let progress = printer.progress_bytes();
    let report = ingest::ingest(&store, listing, &options, &progress)
        .with_context(|| format!("ingest into {} failed", store.root().display()))?;
    progress.finish_and_clear();
    printer.status(summary(&report));
    if report.failures.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        printer.error(format!(
            "{} objects failed and were not recorded as ingested; fix or remove them and run again",
            report.failures.len()
        ));
        Ok(ExitStatus::Failure)
    }
}

fn summary(report: &IngestReport) -> String {
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    let mut line = format!(
        "ingested {} objects, {} events ({} new, {} duplicates), {:.1} MB in {:.2}s ({:.0} events/s, {:.1} MB/s); {} unchanged, {} failed",
        report.objects_ingested,
        report.events_read,
        report.events_stored,
        report.duplicates(),
        report.bytes_read as f64 / 1e6,
        seconds,
        report.events_read as f64 / seconds,
        report.bytes_read as f64 / 1e6 / seconds,
        report.objects_unchanged,
        report.failures.len(),
    );
    if !report.skipped.is_empty() {
        let skipped: Vec<String> = report
            .skipped
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        line.push_str(&format!("; skipped {}", skipped.join(", ")));
    }
    line
}
