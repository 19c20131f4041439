//! The rows of a data file that pass the range filters its statistics do not settle.
//!
//! A file at a window's edge holds rows on both sides of it. Rather than test every row it reads,
//! the scan is told beforehand which rows to read: the pages whose bounds lie inside the range are
//! read whole, the pages outside it not at all, and only for the pages that straddle an edge is the
//! range's column read here and tested value by value. Rows sorted by day keep those pages few: a
//! window of whole days cuts one page per edge.
//!
//! The scan then reads only rows that pass, with no filter above it, so DataFusion can push the
//! reading of one member of a struct (`useridentity.username`) into it: a filter between the two
//! made it read the whole struct.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

use super::settled_ranges::{Bounds, ColumnRange, bounds_in_byte_order, chunk_statistics};

/// What the bounds of a run of rows say of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Inside,
    Outside,
    /// Some rows may be inside and others not: their values must be read.
    Straddling,
}

/// The access plan that reads, of the rows `plan` reads (all when `None`), those that are in
/// every one of `ranges`. Pages are chosen by their bounds; values are read only for the pages
/// that straddle a range's edge.
pub async fn rows_in_ranges(
    store: &Arc<dyn ObjectStore>,
    file: &PartitionedFile,
    metadata: &Arc<ParquetMetaData>,
    ranges: &[&ColumnRange],
    plan: Option<&ParquetAccessPlan>,
) -> Result<Option<ParquetAccessPlan>> {
    let mut by_column: BTreeMap<&str, Vec<&ColumnRange>> = BTreeMap::new();
    for range in ranges {
        by_column.entry(&range.column).or_default().push(range);
    }
    let mut access = Vec::with_capacity(metadata.num_row_groups());
    for row_group in 0..metadata.num_row_groups() {
        let rows = usize::try_from(metadata.row_group(row_group).num_rows()).unwrap_or(0);
        let mut read = match plan.map(|plan| &plan.inner()[row_group]) {
            Some(RowGroupAccess::Skip) => {
                access.push(RowGroupAccess::Skip);
                continue;
            }
            Some(RowGroupAccess::Selection(selection)) => selection.clone(),
            Some(RowGroupAccess::Scan) | None => {
                RowSelection::from(vec![RowSelector::select(rows)])
            }
        };
        for tests in by_column.values() {
            if !read.selects_any() {
                break;
            }
            let passing = passing_rows(store, file, metadata, row_group, tests, &read).await?;
            read = read.intersection(&passing);
        }
        access.push(if !read.selects_any() {
            RowGroupAccess::Skip
        } else if read.skipped_row_count() == 0 {
            RowGroupAccess::Scan
        } else {
            RowGroupAccess::Selection(read)
        });
    }
    Ok(access
        .iter()
        .any(|a| !matches!(a, RowGroupAccess::Scan))
        .then(|| ParquetAccessPlan::new(access)))
}

/// The rows of `row_group` whose value of the tests' column passes every test, among those of
/// `read` (the others may be marked either way).
async fn passing_rows(
    store: &Arc<dyn ObjectStore>,
    file: &PartitionedFile,
    metadata: &Arc<ParquetMetaData>,
    row_group: usize,
    tests: &[&ColumnRange],
    read: &RowSelection,
) -> Result<RowSelection> {
    let rows = usize::try_from(metadata.row_group(row_group).num_rows()).unwrap_or(0);
    let Some(leaf) = tests[0].leaf(metadata) else {
        // A column the file lacks is null in each row, and a null is in no range.
        return Ok(RowSelection::from(vec![RowSelector::skip(rows)]));
    };
    // Bounds in the legacy (signed) byte order say nothing: every value is read.
    let runs = if bounds_in_byte_order(metadata, leaf) {
        verdicts(metadata, row_group, leaf, tests)
    } else {
        vec![(rows, Verdict::Straddling)]
    };
    let mut passes = Vec::with_capacity(rows);
    let mut straddling = Vec::with_capacity(runs.len());
    for &(count, verdict) in &runs {
        passes.extend(std::iter::repeat_n(verdict == Verdict::Inside, count));
        straddling.push(match verdict {
            Verdict::Straddling => RowSelector::select(count),
            _ => RowSelector::skip(count),
        });
    }
    let to_read = RowSelection::from(straddling).intersection(read);
    if to_read.selects_any() {
        let values = read_column(store, file, metadata, row_group, leaf, &to_read).await?;
        let mut values = values.iter();
        let mut at = 0;
        for selector in to_read.iter() {
            if !selector.skip {
                for pass in &mut passes[at..at + selector.row_count] {
                    let value = values.next().flatten();
                    *pass = value.is_some_and(|v| tests.iter().all(|t| t.admits(v.as_bytes())));
                }
            }
            at += selector.row_count;
        }
    }
    Ok(RowSelection::from_filters(&[BooleanArray::from(passes)]))
}

/// Runs of rows of `row_group`, in order, each with what its bounds say of the tests: a run per
/// page when the column has a page index, else one run for the row group.
fn verdicts(
    metadata: &ParquetMetaData,
    row_group: usize,
    leaf: usize,
    tests: &[&ColumnRange],
) -> Vec<(usize, Verdict)> {
    let rows = metadata.row_group(row_group).num_rows();
    let verdict = |nulls: Option<u64>, page_rows: u64, bounds: Option<Bounds>| {
        if nulls == Some(page_rows) {
            return Verdict::Outside;
        }
        let Some((min, max)) = bounds else {
            return Verdict::Straddling;
        };
        if tests.iter().any(|t| t.admits_none_of(min, max)) {
            Verdict::Outside
        } else if nulls == Some(0) && tests.iter().all(|t| t.admits_all_of(min, max)) {
            Verdict::Inside
        } else {
            Verdict::Straddling
        }
    };
    let whole_row_group = || {
        let (nulls, bounds) =
            chunk_statistics(metadata.row_group(row_group), leaf).unwrap_or((None, None));
        let rows_u64 = u64::try_from(rows).unwrap_or(0);
        vec![(
            usize::try_from(rows).unwrap_or(0),
            verdict(nulls, rows_u64, bounds),
        )]
    };
    let index = metadata
        .column_index()
        .and_then(|index| index.get(row_group)?.get(leaf));
    let pages = metadata
        .offset_index()
        .and_then(|index| index.get(row_group)?.get(leaf))
        .map(|index| index.page_locations());
    let (Some(ColumnIndexMetaData::BYTE_ARRAY(bounds)), Some(pages)) = (index, pages) else {
        return whole_row_group();
    };
    if usize::try_from(bounds.num_pages()).ok() != Some(pages.len()) {
        return whole_row_group();
    }
    pages
        .iter()
        .enumerate()
        .map(|(page, location)| {
            let end = pages
                .get(page + 1)
                .map_or(rows, |next| next.first_row_index);
            let page_rows = u64::try_from(end - location.first_row_index).unwrap_or(0);
            let nulls = if bounds.is_null_page(page) {
                Some(page_rows)
            } else {
                bounds
                    .null_count(page)
                    .and_then(|count| u64::try_from(count).ok())
            };
            let page_bounds = bounds.min_value(page).zip(bounds.max_value(page));
            (
                usize::try_from(page_rows).unwrap_or(0),
                verdict(nulls, page_rows, page_bounds),
            )
        })
        .collect()
}

/// The values of text column `leaf` in the rows `rows` selects of `row_group`, in order.
async fn read_column(
    store: &Arc<dyn ObjectStore>,
    file: &PartitionedFile,
    metadata: &Arc<ParquetMetaData>,
    row_group: usize,
    leaf: usize,
    rows: &RowSelection,
) -> Result<arrow::array::StringArray> {
    let in_file = |error: parquet::errors::ParquetError| {
        DataFusionError::Context(
            format!(
                "reading {} to choose the rows in range",
                file.object_meta.location
            ),
            Box::new(DataFusionError::ParquetError(Box::new(error))),
        )
    };
    let reader: Box<dyn AsyncFileReader> = DefaultParquetFileReaderFactory::new(Arc::clone(store))
        .create_reader(0, file.clone(), None, &ExecutionPlanMetricsSet::new())?;
    let options = ArrowReaderOptions::new();
    let reader_metadata =
        ArrowReaderMetadata::try_new(Arc::clone(metadata), options).map_err(in_file)?;
    let mask = ProjectionMask::leaves(metadata.file_metadata().schema_descr(), [leaf]);
    let batches: Vec<_> =
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, reader_metadata)
            .with_row_groups(vec![row_group])
            .with_projection(mask)
            .with_row_selection(rows.clone())
            .build()
            .map_err(in_file)?
            .try_collect()
            .await
            .map_err(in_file)?;
    let columns = batches
        .iter()
        .map(|batch| arrow::compute::cast(batch.column(0), &DataType::Utf8))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let columns: Vec<&dyn Array> = columns.iter().map(|column| column.as_ref()).collect();
    let values = if columns.is_empty() {
        arrow::array::new_empty_array(&DataType::Utf8)
    } else {
        arrow::compute::concat(&columns)?
    };
    Ok(values.as_string::<i32>().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::{col, lit};
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use proptest::prelude::*;

    /// A row's `day` and `eventtime`.
    type Row = (Option<String>, Option<String>);

    /// A file in memory of columns `day` and `eventtime`, `page_rows` rows per page and
    /// `group_rows` per row group, with a page index on both columns when `page_index`.
    fn file_of(
        rows: &[Row],
        page_rows: usize,
        group_rows: usize,
        page_index: bool,
    ) -> (Arc<dyn ObjectStore>, PartitionedFile, Arc<ParquetMetaData>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Utf8, true),
            Field::new("eventtime", DataType::Utf8, true),
        ]));
        let statistics = if page_index {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::Chunk
        };
        let properties = WriterProperties::builder()
            .set_data_page_row_count_limit(page_rows)
            .set_write_batch_size(page_rows)
            .set_max_row_group_row_count(Some(group_rows))
            .set_statistics_enabled(statistics)
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, Arc::clone(&schema), Some(properties))
            .expect("writer");
        let column = |pick: fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(pick).collect::<Vec<_>>()))
        };
        let batch = RecordBatch::try_new(
            schema,
            vec![column(|r| r.0.as_deref()), column(|r| r.1.as_deref())],
        )
        .expect("batch");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let bytes = bytes::Bytes::from(bytes);
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&bytes)
            .expect("metadata");
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let size = bytes.len() as u64;
        crate::sql::block_on(store.put(&Path::from("f.parquet"), bytes.into()))
            .expect("runtime")
            .expect("put");
        (
            store,
            PartitionedFile::new("f.parquet", size),
            Arc::new(metadata),
        )
    }

    /// The indices of the rows `plan` reads, of a file of `rows` rows in groups of `group_rows`.
    fn rows_read(plan: Option<&ParquetAccessPlan>, rows: usize, group_rows: usize) -> Vec<usize> {
        let Some(plan) = plan else {
            return (0..rows).collect();
        };
        let mut read = Vec::new();
        for (group, access) in plan.inner().iter().enumerate() {
            let first = group * group_rows;
            let count = group_rows.min(rows - first);
            match access {
                RowGroupAccess::Skip => {}
                RowGroupAccess::Scan => read.extend(first..first + count),
                RowGroupAccess::Selection(selection) => {
                    let mut at = first;
                    for selector in selection.iter() {
                        if !selector.skip {
                            read.extend(at..at + selector.row_count);
                        }
                        at += selector.row_count;
                    }
                    assert_eq!(at, first + count, "a selection covers its row group");
                }
            }
        }
        read
    }

    fn chosen(
        rows: &[Row],
        ranges: &[ColumnRange],
        prior: Option<&ParquetAccessPlan>,
        (page_rows, group_rows, page_index): (usize, usize, bool),
    ) -> Vec<usize> {
        let (store, file, metadata) = file_of(rows, page_rows, group_rows, page_index);
        let ranges: Vec<&ColumnRange> = ranges.iter().collect();
        let plan = crate::sql::block_on(rows_in_ranges(&store, &file, &metadata, &ranges, prior))
            .expect("runtime")
            .expect("rows in ranges");
        rows_read(plan.as_ref(), rows.len(), group_rows)
    }

    fn passing(rows: &[Row], ranges: &[ColumnRange], among: impl Fn(usize) -> bool) -> Vec<usize> {
        (0..rows.len())
            .filter(|&i| {
                among(i)
                    && ranges.iter().all(|range| {
                        let value = match range.column.as_str() {
                            "day" => &rows[i].0,
                            _ => &rows[i].1,
                        };
                        value.as_deref().is_some_and(|v| range.admits(v.as_bytes()))
                    })
            })
            .collect()
    }

    fn range_of(expr: datafusion::prelude::Expr) -> ColumnRange {
        ColumnRange::from_expr(&expr).expect("a range")
    }

    /// Rows of times sorted as the store sorts them: by day, then by one of a few principals.
    fn day_sorted_rows(days: u32, per_day: u32) -> Vec<Row> {
        let mut rows = Vec::new();
        for day in 1..=days {
            for principal in 0..3 {
                for i in 0..per_day / 3 {
                    let second = i * 86_400 / (per_day / 3) + principal;
                    let time = format!(
                        "2024-03-{day:02}T{:02}:{:02}:{:02}Z",
                        second / 3600,
                        second / 60 % 60,
                        second % 60
                    );
                    rows.push((Some(format!("2024-03-{day:02}")), Some(time)));
                }
            }
        }
        rows
    }

    #[test]
    fn a_window_of_whole_days_reads_only_the_pages_at_its_edges() {
        let rows = day_sorted_rows(3, 3000);
        let window = [
            range_of(col("eventtime").gt_eq(lit("2024-03-02T00:00:00Z"))),
            range_of(col("eventtime").lt(lit("2024-03-03T00:00:00Z"))),
        ];
        let (store, file, metadata) = file_of(&rows, 100, rows.len(), true);
        let ranges: Vec<&ColumnRange> = window.iter().collect();
        let plan = crate::sql::block_on(rows_in_ranges(&store, &file, &metadata, &ranges, None))
            .expect("runtime")
            .expect("rows in ranges");
        assert_eq!(
            rows_read(plan.as_ref(), rows.len(), rows.len()),
            (3000..6000).collect::<Vec<_>>()
        );
        let verdicts = verdicts(&metadata, 0, 1, &ranges);
        let straddling = verdicts
            .iter()
            .filter(|(_, v)| *v == Verdict::Straddling)
            .count();
        assert!(straddling <= 2, "{straddling} pages of {}", verdicts.len());
    }

    #[test]
    fn a_column_the_file_lacks_admits_no_row() {
        let rows = day_sorted_rows(1, 30);
        let range = range_of(col("eventsource").gt_eq(lit("a")));
        assert!(chosen(&rows, &[range], None, (10, 30, true)).is_empty());
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            8 => (1u32..4, 0u32..24).prop_map(|(d, h)| Some(format!("2024-03-0{d}T{h:02}"))),
        ]
    }

    fn bound() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u32..4, 0u32..24).prop_map(|(d, h)| format!("2024-03-0{d}T{h:02}")),
            (1u32..4).prop_map(|d| format!("2024-03-0{d}")),
            Just("2024-03-05".to_string()),
            Just("2024".to_string()),
        ]
    }

    fn a_range() -> impl Strategy<Value = ColumnRange> {
        (
            prop_oneof![Just("day"), Just("eventtime")],
            0usize..5,
            bound(),
        )
            .prop_map(|(column, op, value)| {
                let c = col(column);
                range_of(match op {
                    0 => c.gt(lit(value)),
                    1 => c.gt_eq(lit(value)),
                    2 => c.lt(lit(value)),
                    3 => c.lt_eq(lit(value)),
                    _ => c.eq(lit(value)),
                })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The rows chosen are exactly those that pass every range, among those the prior plan
        /// reads, whatever the order of the values, the pages, the row groups and the nulls.
        #[test]
        fn the_rows_chosen_are_exactly_those_in_range(
            mut rows in prop::collection::vec(value(), 1..300),
            sort in any::<bool>(),
            ranges in prop::collection::vec(a_range(), 1..4),
            page_rows in 1usize..40,
            group_rows in 5usize..200,
            page_index in any::<bool>(),
            prior_every in prop::option::of(2usize..5),
        ) {
            if sort {
                rows.sort();
            }
            let rows: Vec<Row> = rows
                .into_iter()
                .map(|time| (time.as_ref().map(|t| t[..10].to_string()), time))
                .collect();
            let groups = rows.len().div_ceil(group_rows);
            // A prior plan reading every `n`-th row group whole and a selection of the others.
            let prior = prior_every.map(|n| {
                ParquetAccessPlan::new(
                    (0..groups)
                        .map(|g| {
                            let count = group_rows.min(rows.len() - g * group_rows);
                            match g % n {
                                0 => RowGroupAccess::Skip,
                                1 => RowGroupAccess::Scan,
                                _ => RowGroupAccess::Selection(RowSelection::from_filters(&[
                                    BooleanArray::from((0..count).map(|i| i % 3 != 0).collect::<Vec<_>>()),
                                ])),
                            }
                        })
                        .collect(),
                )
            });
            let prior_reads = rows_read(prior.as_ref(), rows.len(), group_rows);
            let expected = passing(&rows, &ranges, |i| prior_reads.contains(&i));
            prop_assert_eq!(
                chosen(&rows, &ranges, prior.as_ref(), (page_rows, group_rows, page_index)),
                expected
            );
        }
    }
}
