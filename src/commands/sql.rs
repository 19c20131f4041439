use std::io::Read;

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::SqlArgs;
use crate::config::Settings;
use crate::printer::Printer;

pub fn run(settings: &Settings, args: &SqlArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
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
    let statements = crate::sql::split_statements(&text)?;
    let Some((last, before)) = statements.split_last() else {
        anyhow::bail!("no SQL given: pass a query, -f FILE, or SQL on stdin");
    };
    let store = settings.open_store()?;
    let session = crate::commands::Session::open(&store, &args.cluster)?;
    let ctx = &session.ctx;
    // Earlier statements (CREATE TABLE ... AS, CREATE VIEW, SET) prepare for the last one, whose
    // result is printed.
    let batches = session.finish(
        crate::commands::block_on(async {
            for statement in before {
                crate::sql::query(ctx, statement, None).await?;
            }
            crate::sql::query(ctx, last, None).await
        })
        .and_then(|result| Ok(result?)),
        printer,
    )?;
    let stdout = std::io::stdout();
    crate::sql::write_batches(&batches, args.format, &mut stdout.lock())?;
    Ok(ExitStatus::Success)
}
