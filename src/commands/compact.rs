use crate::ExitStatus;
use crate::cli::CompactArgs;
use crate::config::Settings;
use crate::printer::Printer;

pub fn run(
    settings: &Settings,
    args: &CompactArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let store = settings.open_store()?;
    let lock = store.lock_for_writing()?;
    let selected =
        |account: &str| args.account.is_empty() || args.account.iter().any(|a| a == account);
    let (mut months, mut moved) = (0u64, 0u64);
    for (key, files) in store.day_layout_files()? {
        moved += store.move_day_files(&key, &files, &lock)? as u64;
        months += 1;
        printer.detail(format!("moved into {}", key.relative_dir().display()));
    }
    if months > 0 {
        printer.status(format!(
            "moved the store to one folder per month: {moved} files of day folders into {months} month partitions"
        ));
    }
    let (mut partitions, mut merged) = (0u64, 0u64);
    for (key, files) in store.partitions()? {
        if files.len() < 2 || !selected(&key.account) {
            continue;
        }
        merged += store.compact_partition(&key, &lock)? as u64;
        partitions += 1;
        printer.detail(format!("compacted {}", key.relative_dir().display()));
    }
    printer.status(format!(
        "compacted {partitions} partitions ({merged} files merged)"
    ));
    store.remove_orphan_summaries(&lock)?;
    let summarized = store.summarize_missing(&lock)?;
    if summarized > 0 {
        printer.status(format!(
            "summarized the activity of {summarized} data files written before summaries existed"
        ));
    }
    Ok(ExitStatus::Success)
}
