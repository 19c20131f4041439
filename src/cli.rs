//! Command-line interface: one `*Args` struct per subcommand; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::render::Format;
use crate::sql::OutputFormat;
use crate::time::{self, Day};

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
    /// The store: a folder, or s3://BUCKET/PREFIX [default: `store:` in config.yaml, else
    /// ./ctidx-store]
    #[arg(
        long,
        env = "CTIDX_STORE",
        global = true,
        value_name = "PATH|s3://BUCKET/PREFIX"
    )]
    pub store: Option<PathBuf>,

    /// S3-compatible endpoint for S3 logs and stores, addressed path-style [default:
    /// AWS_ENDPOINT_URL, else AWS]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

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
    /// Run SQL over the store; the table is `cloudtrail`, partitioned by `account` and `month`
    Sql(SqlArgs),
    /// Merge each partition's files into one (and move a store of day folders to month folders)
    Compact(CompactArgs),
    /// CloudTracker's questions: which principals are idle, and which privileges each one never uses
    Query(QueryArgs),
    /// Write the least-privilege IAM policy of one user or role: every action it used successfully
    /// in the window, on the resources its calls named
    Policy(PolicyArgs),
    /// Write one self-contained HTML report of every user and role of the accounts: what each holds,
    /// what it used, who is behind shared roles, and the policy it needs
    Report(ReportArgs),
    /// Print the table definition with which Athena, Trino, Spark or DuckDB reads the store
    Ddl(DdlArgs),
    /// List the event names in the store that the IAM mapping does not know
    Unmapped,
    /// Print, per principal of IAM snapshots, the actions granted on all resources without condition
    Grants(GrantsArgs),
    /// Run a scheduler or an executor of a cluster on which `sql` and `query --all` run their scans
    /// (--cluster)
    Cluster(ClusterArgs),
    /// Run the bundled demo: ingest the demo account's logs into a temporary store and answer
    /// CloudTracker's documented questions
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Where the logs are: a folder (walked recursively: AWSLogs layout, or any .json/.json.gz
    /// files) or s3://BUCKET[/PREFIX] [default: the `athena:` section of config.yaml]
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub source: Option<PathBuf>,

    /// Rebuild the store from scratch instead of adding what is new
    #[arg(long)]
    pub full: bool,

    /// Objects decoded in parallel [default: number of CPUs]
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Decoded rows kept in memory before they are spilled to disk beside the store
    #[arg(long, value_name = "MiB", default_value_t = crate::ingest::DEFAULT_MEMORY_BUDGET_MIB)]
    pub memory_budget: usize,

    /// First delivery day to read, UTC (S3: only those days' folders are listed)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub start: Option<Day>,

    /// Last delivery day to read, UTC, inclusive
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub end: Option<Day>,

    /// Only these accounts [default for S3 from config.yaml: the configured accounts]
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,

    /// S3 downloads in flight at once
    #[arg(long, value_name = "N", default_value_t = crate::ingest::s3::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
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

    #[command(flatten)]
    pub cluster: ClusterClientArgs,
}

/// Running a command's scans on a cluster (`ctidx cluster`).
#[derive(Debug, Clone, Args)]
pub struct ClusterClientArgs {
    /// Run the scans on the cluster whose scheduler is at df://HOST:PORT (`ctidx cluster scheduler`);
    /// the rest runs here. The store must be one every executor reads: in S3, or a shared folder
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Mutual TLS between the client, the scheduler and the executors. Without it, their gRPC and Arrow
/// Flight traffic is neither encrypted nor authenticated.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// The certificate authority (PEM) whose certificates this process trusts, and requires of its
    /// peers; with --tls-cert and --tls-key
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,

    /// This process's certificate (PEM), signed by --tls-ca, naming the host its peers dial
    #[arg(long, value_name = "FILE", requires = "tls_ca")]
    pub tls_cert: Option<PathBuf>,

    /// This process's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_ca")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub role: ClusterRole,
}

#[derive(Debug, Subcommand)]
pub enum ClusterRole {
    /// Run a scheduler: it plans each query and hands its tasks to the executors
    Scheduler(SchedulerArgs),
    /// Run an executor: it runs tasks of the scheduler's queries, reading the store itself
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address for clients' and executors' gRPC
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:50050")]
    pub bind: String,

    /// The host name executors and clients reach this scheduler by [default: the bind address]
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// An executor silent for this long is taken as lost: its tasks run again elsewhere
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub executor_timeout: u64,

    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler's address
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,

    /// Address of the Arrow Flight service from which the scheduler's clients and the other
    /// executors fetch this executor's results
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:50051")]
    pub bind: String,

    /// The host name clients and other executors reach this executor by [default: the address the
    /// scheduler sees]
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Tasks run at once [default: the machine's cores]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Where intermediate results are kept until the query that made them ends [default: a new
    /// temporary folder]
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Only these accounts (a store of day folders is moved whole)
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo data folder (config.yaml, iam/, AWSLogs/)
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo"), hide_default_value = true)]
    pub data: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrincipalKind {
    Users,
    Roles,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["list", "user", "role", "all"])))]
pub struct QueryArgs {
    /// Account to look at, by its name or ID in the config; repeat it with --all and --list
    /// [default: the only configured account; with --all and --list, every configured account]
    #[arg(long, value_name = "NAME|ID")]
    pub account: Vec<String>,

    /// List the accounts' users or roles; inactive ones are marked with "-"
    #[arg(long, value_enum, value_name = "users|roles")]
    pub list: Option<PrincipalKind>,

    /// Every user and role of the accounts, in one pass
    #[arg(long, conflicts_with_all = ["destrole", "show_deleted"])]
    pub all: bool,

    /// How to write the findings of --user, --role and --all
    #[arg(long, value_enum, default_value_t = Format::Text, conflicts_with_all = ["list", "destrole"])]
    pub format: Format,

    /// Show what this IAM user is granted and what it used
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Show what this IAM role is granted and what its sessions used
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,

    /// First day of the window, inclusive, UTC [default: one year before --end]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub start: Option<Day>,

    /// Last day of the window, inclusive, UTC [default: today]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub end: Option<Day>,

    /// Print only the actions that were used
    #[arg(long)]
    pub show_used: bool,

    /// Hide List-level and Describe* actions
    #[arg(long)]
    pub ignore_benign: bool,

    /// Hide actions CloudTrail does not record ("?" lines)
    #[arg(long)]
    pub ignore_unknown: bool,

    /// No colours (also off when stdout is not a terminal, or NO_COLOR is set)
    #[arg(long)]
    pub no_color: bool,

    /// Follow the principal's AssumeRole sessions into this role
    #[arg(long, value_name = "ROLE")]
    pub destrole: Option<String>,

    /// The account of --destrole, by name or ID [default: --account]
    #[arg(long, value_name = "NAME|ID", requires = "destrole")]
    pub destaccount: Option<String>,

    /// With --role or --all: everyone who used the role, each with the actions used in its sessions
    #[arg(long, conflicts_with_all = ["destrole", "user", "list"])]
    pub by_session: bool,

    /// How many role assumptions in a chain (user → role → role …) are followed
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_depth: u32,

    /// With --list: also list principals seen in the logs but absent from the IAM snapshot
    #[arg(long, requires = "list")]
    pub show_deleted: bool,

    /// Data events the trail records, as IAM action patterns (e.g. 's3:*Object'); their actions are
    /// then judged used or unused instead of unknown [default: `data_events:` in config.yaml, else none]
    #[arg(long, value_name = "PATTERN")]
    pub data_events: Vec<String>,

    #[command(flatten)]
    pub cluster: ClusterClientArgs,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The account, by name or ID [default: the only configured account]
    #[arg(long, value_name = "NAME|ID")]
    pub account: Option<String>,

    /// The IAM user
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "role",
        conflicts_with = "role"
    )]
    pub user: Option<String>,

    /// The IAM role (what its sessions used)
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,

    /// What the user or role needs inside this role, from the sessions it opened there (directly or
    /// through chains of role assumptions)
    #[arg(long, value_name = "ROLE")]
    pub destrole: Option<String>,

    /// The account of --destrole [default: --account]
    #[arg(long, value_name = "NAME|ID", requires = "destrole")]
    pub destaccount: Option<String>,

    /// Role assumptions followed in a chain, with --destrole
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_depth: u32,

    /// First day of the window (UTC) [default: a year before --end]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub start: Option<Day>,

    /// Last day of the window (UTC), included [default: today]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub end: Option<Day>,

    /// Beyond this many distinct resources of one type for an action, write the narrowest wildcard
    /// that covers them
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_resources: u32,

    /// Where the policy goes, which sets the size limit; a larger policy is split
    #[arg(long, value_enum, default_value_t = crate::render::policy::Target::Managed)]
    pub target: crate::render::policy::Target,

    /// Add the held actions whose use CloudTrail cannot show, as statements of their own
    #[arg(long)]
    pub keep_unknown: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = crate::render::policy::PolicyFormat::Json)]
    pub format: crate::render::policy::PolicyFormat,

    /// Write each action's calls, first and last use, a sample eventID and why each resource is
    /// there, beside the policy (JSON only)
    #[arg(long)]
    pub explain: bool,

    /// Data events the trail logs, as in `query`
    #[arg(long, value_name = "PATTERN")]
    pub data_events: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Account to report, by its name or ID in the config; repeat it [default: every configured
    /// account]
    #[arg(long, value_name = "NAME|ID")]
    pub account: Vec<String>,

    /// First day of the window, inclusive, UTC [default: one year before --end]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub start: Option<Day>,

    /// Last day of the window, inclusive, UTC [default: today]
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = time::parse_day)]
    pub end: Option<Day>,

    /// The HTML file to write
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Leave out the people behind each role's sessions (following sessions is the costliest part
    /// on a large store)
    #[arg(long)]
    pub no_sessions: bool,

    /// How many role assumptions in a chain are followed to find the people behind a session
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_depth: u32,

    /// For each principal's policy: beyond this many distinct resources of one type for an action,
    /// the narrowest wildcard that covers them
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_resources: u32,

    /// For each principal's policy: where it goes, which sets the size limit
    #[arg(long, value_enum, default_value_t = crate::render::policy::Target::Managed)]
    pub target: crate::render::policy::Target,

    /// Data events the trail records, as in `query`
    #[arg(long, value_name = "PATTERN")]
    pub data_events: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The engine that will read the store
    #[arg(long, value_enum)]
    pub engine: crate::store::ddl::Engine,

    /// The table's name, optionally qualified (schema.table; Trino also catalog.schema.table, and an
    /// unqualified name goes to its `default` schema)
    #[arg(long, default_value = "cloudtrail")]
    pub table: String,

    /// Where the engine finds the store, such as s3://BUCKET/PREFIX/ for a copy in S3 [default: the
    /// store's own location]
    #[arg(long, value_name = "URL")]
    pub location: Option<String>,

    /// Athena: take each query's account from its `account = '…'` condition, instead of listing the
    /// store's accounts in the table (which must then be redefined when accounts are added)
    #[arg(long)]
    pub injected_account: bool,
}

#[derive(Debug, Args)]
pub struct GrantsArgs {
    /// IAM snapshots (`aws iam get-account-authorization-details` output); several pages are merged
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub iam: Vec<PathBuf>,

    /// Explain each granted action (scope, conditions, granting statements)
    #[arg(long)]
    pub detailed: bool,
}
