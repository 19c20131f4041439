use anyhow::Context;

use crate::ExitStatus;
use crate::cli::{DemoArgs, OutputFormat};
use crate::ingest::{self, IngestOptions, source};
use crate::printer::Printer;
use crate::store::Store;

pub fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let logs = args.data.join("AWSLogs");
    let workspace = tempfile::tempdir().context("cannot create a temporary store")?;
    let store = Store::new(workspace.path().join("store"));
    let listing = source::list_local(&logs)
        .with_context(|| format!("demo data not found at {}", args.data.display()))?;
    let report = ingest::ingest(
        &store,
        listing,
        &IngestOptions::default(),
        &indicatif::ProgressBar::hidden(),
    )?;
    printer.status(format!(
        "demo: ingested {} events from {} objects into a temporary store",
        report.events_stored, report.objects_ingested
    ));
    if !report.failures.is_empty() {
        anyhow::bail!(
            "the demo data has {} unreadable objects",
            report.failures.len()
        );
    }
    let ctx = crate::sql::session(&store)?;
    let question = "SELECT account, useridentity.type AS identity_type, coalesce(useridentity.username, useridentity.sessioncontext.sessionissuer.username) AS principal, count(*) AS calls FROM cloudtrail WHERE errorcode IS NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    println!("$ ctidx sql \"{question}\"");
    let batches = crate::commands::block_on(crate::sql::query(&ctx, question, Vec::new()))??;
    crate::sql::write_batches(&batches, OutputFormat::Table, &mut std::io::stdout().lock())?;
    Ok(ExitStatus::Success)
}
