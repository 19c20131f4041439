//! One module per subcommand.

#[cfg(feature = "cluster")]
mod cluster;
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
use crate::store::SummaryKind;

pub fn run(settings: &Settings, command: Command, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Ingest(args) => ingest::run(settings, &args, printer),
        Command::Sql(args) => sql::run(settings, &args, printer),
        Command::Compact(args) => compact::run(settings, &args, printer),
        Command::Demo(args) => demo::run(&args, printer),
        Command::Query(args) => query::run(settings, &args, printer),
        Command::Policy(args) => policy::run(settings, &args, printer),
        Command::Report(args) => report::run(settings, &args, printer),
        Command::Ddl(args) => ddl::run(settings, &args),
        Command::Unmapped => unmapped::run(settings, printer),
        Command::Grants(args) => grants::run(&args, printer),
        #[cfg(feature = "cluster")]
        Command::Cluster(args) => cluster::run(settings, &args, printer),
        #[cfg(not(feature = "cluster"))]
        Command::Cluster(_) => Err(without_cluster()),
    }
}

/// DataFusion is async; commands are not. One runtime per command run.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(crate::sql::block_on(future)?)
}

/// Registers the store's summaries of `kinds` in `ctx`, those that are complete, and says with
/// `--verbose` what the questions will read.
pub(crate) fn read_summaries(
    ctx: &datafusion::prelude::SessionContext,
    store: &crate::store::Store,
    printer: &Printer,
    kinds: &[SummaryKind],
) -> anyhow::Result<()> {
    let complete = store.complete_summaries(kinds)?;
    for &kind in kinds {
        let (summaries, missing) = match kind {
            SummaryKind::Activity => ("activity summaries", "reading the events"),
            SummaryKind::SessionOpenings => ("session openings", "reading the events for sessions"),
        };
        if complete.contains(&kind) {
            crate::sql::register_summaries(ctx, store, kind)?;
            printer.detail(format!("reading the store's {summaries}"));
        } else {
            printer.detail(format!(
                "{missing}: some data files have no {summaries} (`ctidx compact` writes them)"
            ));
        }
    }
    Ok(())
}

/// Where a command's queries run: on the cluster of `--cluster`, else in this process.
pub(crate) struct Session {
    pub ctx: datafusion::prelude::SessionContext,
    #[cfg(feature = "cluster")]
    cluster: Option<crate::cluster::client::ClusterSession>,
}

impl Session {
    pub fn open(
        store: &crate::store::Store,
        cluster: &crate::cli::ClusterClientArgs,
    ) -> anyhow::Result<Session> {
        #[cfg(feature = "cluster")]
        if let Some(cluster) = crate::cluster::client::connect(store, cluster)? {
            return Ok(Session {
                ctx: cluster.ctx.clone(),
                cluster: Some(cluster),
            });
        }
        #[cfg(not(feature = "cluster"))]
        if cluster.cluster.is_some() {
            return Err(without_cluster());
        }
        Ok(Session {
            ctx: crate::sql::session(store)?,
            #[cfg(feature = "cluster")]
            cluster: None,
        })
    }

    /// Lets the questions read the store's summaries, when they are complete, instead of the
    /// events ([`read_summaries`]). In this process only: a cluster reads the events.
    pub fn read_summaries(
        &self,
        store: &crate::store::Store,
        printer: &Printer,
        kinds: &[SummaryKind],
    ) -> anyhow::Result<()> {
        #[cfg(feature = "cluster")]
        if self.cluster.is_some() {
            return Ok(());
        }
        read_summaries(&self.ctx, store, printer, kinds)
    }

    /// Says what ran here instead of on the cluster, and names the cluster in an error.
    pub fn finish<T>(&self, result: anyhow::Result<T>, printer: &Printer) -> anyhow::Result<T> {
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &self.cluster {
            for note in cluster.notes() {
                printer.status(format!("note: {note}"));
            }
            return result.map_err(|e| e.context(format!("on the cluster at {}", cluster.url)));
        }
        let _ = printer;
        result
    }
}

#[cfg(not(feature = "cluster"))]
fn without_cluster() -> anyhow::Error {
    anyhow::anyhow!("this ctidx was built without cluster mode (cargo feature `cluster`)")
}
