use anyhow::Context;
use clap::Parser;

use crate::ExitStatus;
use crate::cli::{Cli, Command, DemoArgs};
use crate::config::Settings;
use crate::ingest::{self, IngestOptions, source};
use crate::printer::Printer;
use crate::store::Store;

/// CloudTracker's documented examples, as ctidx commands on the demo accounts.
const EXAMPLES: &[&str] = &[
    "--account demo --list users --start 2018-01-01",
    "--account demo --list roles --start 2018-01-01",
    "--account demo --user alice --start 2018-01-01 --show-used",
    "--account demo --user alice --start 2018-01-01 --ignore-benign",
    "--account demo --role admin --start 2018-01-01 --show-used",
    "--account demo --user alice --start 2018-01-01 --destrole admin --show-used",
    "--account demo --user charlie --start 2018-01-01 --destrole admin --show-used",
    "--account demo --user charlie --start 2018-01-01 --destaccount backup --destrole admin --show-used",
    "--account demo --role admin --start 2018-01-01 --by-session",
];

pub fn run(args: &DemoArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let workspace = tempfile::tempdir().context("cannot create a temporary store")?;
    let store = Store::new(workspace.path().join("store"));
    let logs = args.data.join("AWSLogs");
    let listing = source::list_local(&logs)
        .with_context(|| format!("demo data not found at {}", args.data.display()))?;
    let report = ingest::ingest(&store, listing, &IngestOptions::default(), &ingest::Silent)?;
    if !report.failures.is_empty() {
        anyhow::bail!(
            "the demo data has {} unreadable objects",
            report.failures.len()
        );
    }
    printer.status(format!(
        "demo: ingested {} events from {} objects into a temporary store",
        report.events_stored, report.objects_ingested
    ));
    let settings =
        Settings::for_config(&args.data.join("config.yaml"), store.root().to_path_buf())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for example in EXAMPLES {
        use std::io::Write;
        writeln!(out, "\n$ ctidx query {example}")?;
        let cli = Cli::try_parse_from(["ctidx", "query"].into_iter().chain(example.split(' ')))?;
        let Command::Query(query) = cli.command else {
            unreachable!("the examples are query commands")
        };
        super::query::answer(&settings, &query, &mut out, false, printer)?;
    }
    Ok(ExitStatus::Success)
}
