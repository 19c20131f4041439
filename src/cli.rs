//! Command-line interface: one `*Args` struct per subcommand; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Find over-privileged AWS IAM users and roles: index CloudTrail logs into Parquet, query them with
/// SQL, and compare the privileges each principal was granted with the calls it made.
#[derive(Debug, Parser)]
#[command(name = "ctidx", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The store folder [default: `store:` in config.yaml, else ./ctidx-store]
    #[arg(long, env = "CTIDX_STORE", global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// CloudTracker-style config file (accounts, IAM snapshots, optional `store:`)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more about what is being done
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail logs into the store (incremental: unchanged objects are skipped)
    Ingest(IngestArgs),
    /// Run SQL over the store; the table is `cloudtrail`, partitioned by `account` and `day`
    Sql(SqlArgs),
    /// Merge each partition's files into one
    Compact(CompactArgs),
    /// Run the bundled demo: ingest the demo account's logs into a temporary store and answer
    /// CloudTracker's documented questions
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Folder of CloudTrail logs (walked recursively: AWSLogs layout, or any .json/.json.gz files)
    #[arg(long, value_name = "DIR")]
    pub source: PathBuf,

    /// Rebuild the store from scratch instead of adding what is new
    #[arg(long)]
    pub full: bool,

    /// Objects decoded in parallel [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query; omit it (and -f) to read SQL from stdin
    #[arg(conflicts_with = "file")]
    pub query: Option<String>,

    /// Read the query from a file
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Only these accounts
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo data folder (config.yaml, iam/, AWSLogs/)
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo"), hide_default_value = true)]
    pub data: PathBuf,
}
