use arrow::array::{Array, AsArray};

use crate::ExitStatus;
use crate::config::Settings;
use crate::iam::catalogue::Catalogue;
use crate::mapping::{self, Mapping};
use crate::printer::Printer;
use crate::sql::queries;
use crate::store::Store;

/// Prints the (eventsource, eventname) pairs of the store that map to no IAM action, with counts, and
/// the share of records that do map.
pub fn run(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = Store::new(&settings.store);
    let ctx = crate::sql::session(&store)?;
    let batches = super::block_on(queries::EVENT_NAMES.run(&ctx, &queries::NoParams))??;
    let catalogue = Catalogue::embedded();
    let (mut total, mut mapped) = (0u64, 0u64);
    let mut unmapped = Vec::new();
    for batch in &batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8))
        };
        let (Some(Ok(sources)), Some(Ok(names)), Some(Ok(types))) = (
            column("eventsource"),
            column("eventname"),
            column("eventtype"),
        ) else {
            anyhow::bail!("sql/event_names.sql returned unexpected columns");
        };
        let records = arrow::compute::cast(batch.column(3), &arrow::datatypes::DataType::UInt64)?;
        let records = records.as_primitive::<arrow::datatypes::UInt64Type>();
        let (sources, names, types) = (
            sources.as_string::<i32>(),
            names.as_string::<i32>(),
            types.as_string::<i32>(),
        );
        for row in 0..batch.num_rows() {
            let count = records.value(row);
            total += count;
            let event_type = types.is_valid(row).then(|| types.value(row));
            match mapping::map_record(catalogue, event_type, sources.value(row), names.value(row)) {
                Mapping::Unmapped => unmapped.push((
                    count,
                    sources.value(row).to_string(),
                    names.value(row).to_string(),
                )),
                _ => mapped += count,
            }
        }
    }
    unmapped.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (count, source, name) in &unmapped {
        use std::io::Write;
        writeln!(out, "{count}\t{source}\t{name}")?;
    }
    let share = if total == 0 {
        100.0
    } else {
        mapped as f64 * 100.0 / total as f64
    };
    printer.status(format!(
        "{mapped} of {total} records ({share:.2}%) map to IAM actions or need no permission; {} event kinds unmapped",
        unmapped.len()
    ));
    Ok(ExitStatus::Success)
}
