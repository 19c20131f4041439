//! ctidx: CloudTrail logs → a columnar index → which IAM privileges each principal really uses.
//!
//! Data flows one way: [`ingest`] reads CloudTrail objects into the Parquet [`store`]; [`sql`] runs
//! queries over it; the [`iam`] layer says what each principal is granted, [`mapping`] turns events
//! into the IAM actions they exercised, [`findings`] computes what each principal holds and does,
//! and [`render`] writes the findings as CloudTracker's diff, JSON, NDJSON or CSV.

pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod commands;
pub mod config;
pub mod findings;
pub mod iam;
pub mod ingest;
pub mod json_path;
pub mod mapping;
pub mod printer;
pub mod render;
pub mod runtime;
pub mod sql;
pub mod store;
pub mod time;

use std::process::ExitCode;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The command ran but some input failed (for example an object that could not be ingested).
    Failure,
    /// The command could not run.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

pub fn run(cli: cli::Cli) -> anyhow::Result<ExitStatus> {
    let printer = printer::Printer::new(cli.global.quiet, cli.global.verbose);
    let settings = config::Settings::resolve(&cli.global)?;
    commands::run(&settings, cli.command, &printer)
}
