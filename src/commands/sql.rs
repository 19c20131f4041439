use std::io::Read;

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::SqlArgs;
use crate::config::Settings;

pub fn run(settings: &Settings, args: &SqlArgs) -> anyhow::Result<ExitStatus> {
    let text = match (&args.query, &args.file) {
        (Some(query), _) => query.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read SQL file {}", file.display()))?,
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read SQL from stdin")?;
            text
        }
    };
    if text.trim().is_empty() {
        anyhow::bail!("no SQL given: pass a query, -f FILE, or SQL on stdin");
    }
    let store = settings.open_store()?;
    let ctx = crate::sql::session(&store)?;
    let statements = crate::sql::split_statements(&text)?;
    let Some((last, before)) = statements.split_last() else {
        anyhow::bail!("no SQL given: pass a query, -f FILE, or SQL on stdin");
    };
    // Earlier statements (CREATE TABLE ... AS, CREATE VIEW, SET) prepare for the last one, whose
    // result is printed.
    for statement in before {
        crate::commands::block_on(crate::sql::query(&ctx, statement, None))??;
    }
    let batches = crate::commands::block_on(crate::sql::query(&ctx, last, None))??;
    let stdout = std::io::stdout();
    crate::sql::write_batches(&batches, args.format, &mut stdout.lock())?;
    Ok(ExitStatus::Success)
}
