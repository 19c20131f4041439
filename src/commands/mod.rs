//! One module per subcommand.

mod compact;
mod ddl;
mod demo;
mod grants;
mod ingest;
mod policy;
pub mod query;
mod report;
mod sql;
mod unmapped;

use crate::ExitStatus;
use crate::cli::Command;
use crate::config::Settings;
use crate::printer::Printer;

pub fn run(settings: &Settings, command: Command, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Ingest(args) => ingest::run(settings, &args, printer),
        Command::Sql(args) => sql::run(settings, &args),
        Command::Compact(args) => compact::run(settings, &args, printer),
        Command::Demo(args) => demo::run(&args, printer),
        Command::Query(args) => query::run(settings, &args, printer),
        Command::Policy(args) => policy::run(settings, &args, printer),
        Command::Report(args) => report::run(settings, &args, printer),
        Command::Ddl(args) => ddl::run(settings, &args),
        Command::Unmapped => unmapped::run(settings, printer),
        Command::Grants(args) => grants::run(&args, printer),
    }
}

/// DataFusion is async; commands are not. One runtime per command run.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(crate::sql::block_on(future)?)
}
