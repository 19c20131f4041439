//! `ctidx cluster scheduler|executor`.

use crate::ExitStatus;
use crate::cli::{ClusterArgs, ClusterRole};
use crate::cluster::{StoreObjects, Tls, executor, scheduler};
use crate::config::Settings;
use crate::printer::Printer;

pub fn run(
    settings: &Settings,
    args: &ClusterArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // Ballista's own log: warnings and errors, everything with --verbose, or as RUST_LOG says.
    let level = if printer.is_verbose() { "info" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    match &args.role {
        ClusterRole::Scheduler(args) => {
            let stores = StoreObjects::connect(settings)?;
            let reads = stores.describe();
            let scheduler = scheduler::Scheduler {
                bind: args.bind.clone(),
                external_host: args.external_host.clone(),
                executor_timeout_seconds: args.executor_timeout,
                stores,
                tls: Tls::load(&args.tls)?,
            };
            let tls = if args.tls.tls_ca.is_some() {
                "TLS"
            } else {
                "no TLS"
            };
            crate::runtime::block_on(scheduler::serve(scheduler, |address| {
                printer.status(format!(
                    "scheduler listening on {address} ({tls}), reading {reads}"
                ));
            }))??;
        }
        ClusterRole::Executor(args) => {
            let stores = StoreObjects::connect(settings)?;
            // Kept until the executor stops; a temporary one is then removed.
            let temporary;
            let work_dir = match &args.work_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        anyhow::anyhow!("cannot create --work-dir {}: {e}", dir.display())
                    })?;
                    dir.clone()
                }
                None => {
                    temporary = tempfile::Builder::new()
                        .prefix("ctidx-executor-")
                        .tempdir()?;
                    temporary.path().to_path_buf()
                }
            };
            printer.status(format!(
                "executor serving results on {}, pulling tasks from {}, reading {}",
                args.bind,
                args.scheduler,
                stores.describe()
            ));
            let executor = executor::Executor {
                scheduler: args.scheduler.clone(),
                bind: args.bind.clone(),
                external_host: args.external_host.clone(),
                concurrency: args.concurrency,
                work_dir,
                stores,
                tls: Tls::load(&args.tls)?,
            };
            crate::runtime::block_on(executor::serve(executor))??;
        }
    }
    Ok(ExitStatus::Success)
}
