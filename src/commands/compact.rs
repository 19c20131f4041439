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
    let (mut partitions, mut merged) = (0u64, 0u64);
    for (key, files) in store.partitions()? {
        if files.len() < 2 || !(args.account.is_empty() || args.account.contains(&key.account)) {
            continue;
        }
        merged += store.compact_partition(&key, &lock)? as u64;
        partitions += 1;
        printer.detail(format!("compacted {}", key.relative_dir().display()));
    }
    printer.status(format!(
        "compacted {partitions} partitions ({merged} files merged)"
    ));
    Ok(ExitStatus::Success)
}
