use anyhow::Context;

use crate::ExitStatus;
use crate::cli::IngestArgs;
use crate::config::Settings;
use crate::ingest::s3::{ConnectOptions, ListOptions, S3Source, S3Url};
use crate::ingest::{self, IngestOptions, IngestReport, source};
use crate::printer::Printer;
use crate::time::Window;

pub fn run(
    settings: &Settings,
    args: &IngestArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = settings.open_store()?;
    let window = Window::new(args.start, args.end)?;
    let progress = printer.progress_bytes();
    let (listing, described) = list(settings, args, &window, &progress)?;
    let mut options = IngestOptions {
        full: args.full,
        memory_budget: args.memory_budget.saturating_mul(1 << 20),
        concurrency: args.concurrency.max(1),
        ..IngestOptions::default()
    };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    progress.suspend(|| {
        printer.detail(format!(
            "{} objects listed under {described}",
            listing.objects.len()
        ))
    });
    let report = ingest::ingest(&store, listing, &options, &ProgressReporter(&progress))
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

/// The objects of `--source`, else of the config's `athena:` bucket; and what they are, in words.
fn list(
    settings: &Settings,
    args: &IngestArgs,
    window: &Window,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(source::Listing, String)> {
    let s3_source = args
        .source
        .as_deref()
        .map(|path| (path, path.to_str().filter(|text| S3Url::is_s3(text))));
    let (url, accounts, org_id) = match s3_source {
        Some((path, None)) => {
            let mut listing = source::list_local(path).context("cannot list the source")?;
            listing.retain(window, &args.account);
            return Ok((listing, path.display().to_string()));
        }
        Some((_, Some(text))) => (S3Url::parse(text)?, args.account.clone(), None),
        None => {
            let athena = settings.config.athena.as_ref().context(
                "no --source, and the config has no `athena:` section\n  hint: pass --source DIR or --source s3://BUCKET/PREFIX",
            )?;
            let accounts = if args.account.is_empty() {
                settings
                    .config
                    .accounts
                    .iter()
                    .map(|a| a.id.clone())
                    .collect()
            } else {
                args.account.clone()
            };
            (
                S3Url::from_parts(&athena.s3_bucket, &athena.path)?,
                accounts,
                athena.org_id.clone(),
            )
        }
    };
    let s3 = S3Source::connect(
        &url.bucket,
        &ConnectOptions {
            endpoint_url: settings.endpoint_url.clone(),
            ..ConnectOptions::default()
        },
    )?;
    let options = ListOptions {
        accounts,
        org_id,
        window: *window,
        concurrency: args.concurrency.max(1),
    };
    let listing = s3.list(&url, &options, &|listed| {
        progress.set_message(format!("listed {listed} objects"));
    })?;
    Ok((source::Listing::from_s3(&url, listing, s3), url.to_string()))
}

/// Shows a run on the progress bar, and each failure as it happens.
struct ProgressReporter<'a>(&'a indicatif::ProgressBar);

impl ingest::Reporter for ProgressReporter<'_> {
    fn planned(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advanced(&self, bytes: u64, status: &str) {
        self.0.inc(bytes);
        self.0.set_message(status.to_string());
    }
    fn failed(&self, failure: &ingest::Failure) {
        self.0
            .suspend(|| eprintln!("error: {}: {}", failure.location, failure.error));
    }
    fn stage(&self, status: &str) {
        self.0.set_message(status.to_string());
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
