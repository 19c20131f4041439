use anyhow::Context;

use crate::ExitStatus;
use crate::cli::DdlArgs;
use crate::config::Settings;
use crate::store::ddl::{AccountProjection, Engine, TableDefinition};

pub fn run(settings: &Settings, args: &DdlArgs) -> anyhow::Result<ExitStatus> {
    let store = settings.open_store()?;
    if !store.superseded_files()?.is_empty() {
        anyhow::bail!(
            "the store at {} holds the files of an interrupted compaction beside their replacement; \
             another engine would read their events twice\n  hint: run `ctidx compact --store {}` first",
            store.root().display(),
            store.root().display()
        );
    }
    let location = match (&args.location, store.remote()) {
        (Some(location), _) => location.clone(),
        (None, Some(remote)) => remote.url().to_string(),
        (None, None) => {
            let root = store.root().canonicalize().with_context(|| {
                format!(
                    "store {} (pass --location to describe a store elsewhere)",
                    store.root().display()
                )
            })?;
            match args.engine {
                Engine::Duckdb => root.display().to_string(),
                _ => format!("file://{}", root.display()),
            }
        }
    };
    let accounts = if args.injected_account {
        AccountProjection::Injected
    } else {
        AccountProjection::Enumerated(store.accounts()?)
    };
    let definition = TableDefinition {
        engine: args.engine,
        table: args.table.clone(),
        location,
        accounts,
    };
    print!("{}", definition.statements()?);
    Ok(ExitStatus::Success)
}
