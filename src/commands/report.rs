//! `ctidx report`: every user and role of the selected accounts, with what it needs, as one HTML file.

use crate::store::SummaryKind;
use std::io::BufWriter;

use anyhow::Context;
use chrono::Utc;

use super::query::all::{Warnings, report_problems};
use crate::ExitStatus;
use crate::cli::ReportArgs;
use crate::config::Settings;
use crate::findings::Unrecorded;
use crate::findings::organization::{self, Scope, days_with_logs};
use crate::iam::catalogue::Catalogue;
use crate::iam::recorded::RecordingConfig;
use crate::printer::Printer;
use crate::render::policy::Options;
use crate::render::report::{ReportOptions, ReportRenderer};
use crate::time::Window;

pub fn run(
    settings: &Settings,
    args: &ReportArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let window = Window::new(args.start, args.end)?.or_last_year(Utc::now().date_naive())?;
    let accounts = settings.accounts(&args.account)?;
    let store = settings.open_store()?;
    let ctx = crate::sql::session(&store)?;
    super::read_summaries(&ctx, &store, printer, &SummaryKind::ALL)?;

    let patterns = if args.data_events.is_empty() {
        &settings.config.data_events
    } else {
        &args.data_events
    };
    let recording = RecordingConfig::from_patterns(patterns)?;
    let catalogue = Catalogue::embedded();
    let days = days_with_logs(&ctx, &store, &accounts, &window)?;
    let scope = Scope {
        settings,
        accounts,
        window,
        recording: &recording,
        catalogue,
        days_with_logs: &days,
        by_session: (!args.no_sessions).then_some(args.max_depth),
        needs_and_days: true,
    };
    let options = ReportOptions {
        policy: Options {
            max_resources: args.max_resources as usize,
            target: args.target,
            keep_unknown: false,
        },
    };
    // Written beside its destination and moved there whole: never a half-written report.
    let folder = match args.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ctidx-report");
    // Meant to be shared: readable by all, as a file written with the usual umask would be.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let file = builder
        .tempfile_in(folder)
        .with_context(|| format!("cannot write a file in {}", folder.display()))?;
    let mut out = BufWriter::new(file);
    let generated = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let unrecorded = Unrecorded::new(catalogue, &recording);
    let mut renderer = ReportRenderer::new(
        &mut out,
        catalogue,
        &unrecorded,
        &window,
        options,
        days.clone(),
        generated,
    );
    let survey = organization::survey(
        &scope,
        &ctx,
        &mut Warnings {
            inner: &mut renderer,
            printer,
        },
    )?;
    let principals = renderer.principal_count();
    renderer.finish(&survey)?;
    let file = out.into_inner().map_err(|error| error.into_error())?;
    file.persist(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    printer.status(format!(
        "wrote {}: {principals} principals, {:.1} MB",
        args.out.display(),
        size as f64 / 1e6
    ));
    Ok(report_problems(&survey, printer))
}
