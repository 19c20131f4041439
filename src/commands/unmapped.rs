use std::io::Write;

use arrow::array::{Array, AsArray};

use crate::ExitStatus;
use crate::config::Settings;
use crate::iam::catalogue::Catalogue;
use crate::mapping::{self, Mapping};
use crate::printer::Printer;
use crate::sql::queries;
use crate::store::schema::column;

/// Prints the (eventsource, eventname) pairs of the store that the mapping has no answer for, one
/// `records<TAB>source<TAB>name` line each on stdout, then the share of records that do map as a line of
/// its own on stderr.
pub fn run(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let store = settings.open_store()?;
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
        let (Some(Ok(sources)), Some(Ok(names)), Some(Ok(types)), Some(records)) = (
            column(column::EVENT_SOURCE),
            column(column::EVENT_NAME),
            column(column::EVENT_TYPE),
            batch.column_by_name("records"),
        ) else {
            anyhow::bail!("sql/event_names.sql returned unexpected columns");
        };
        let records = arrow::compute::cast(records, &arrow::datatypes::DataType::UInt64)?;
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
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (count, source, name) in &unmapped {
        writeln!(out, "{count}\t{source}\t{name}")?;
    }
    // Every listed line is out before the summary, so the two never interleave on a shared terminal.
    out.flush()?;
    printer.status(summary(mapped, total, unmapped.len()));
    Ok(ExitStatus::Success)
}

fn summary(mapped: u64, total: u64, unmapped_kinds: usize) -> String {
    let share = if total == 0 {
        100.0
    } else {
        mapped as f64 * 100.0 / total as f64
    };
    format!(
        "{mapped} of {total} records ({share:.2}%) map to IAM actions or to a class without one; \
         {unmapped_kinds} event kinds unmapped"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_one_line_with_the_share() {
        let cases = [
            (
                (0, 0, 0),
                "0 of 0 records (100.00%) map to IAM actions or to a class without one; 0 event kinds unmapped",
            ),
            (
                (2, 3, 1),
                "2 of 3 records (66.67%) map to IAM actions or to a class without one; 1 event kinds unmapped",
            ),
            (
                (995, 1000, 4),
                "995 of 1000 records (99.50%) map to IAM actions or to a class without one; 4 event kinds unmapped",
            ),
        ];
        for ((mapped, total, kinds), expected) in cases {
            let text = summary(mapped, total, kinds);
            assert_eq!(text, expected);
            assert!(!text.contains('\n'), "{text:?}");
        }
    }
}
