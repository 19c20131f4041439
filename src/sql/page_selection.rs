//! Reads only the pages of a data file that can hold one principal's rows.
//!
//! Rows of a data file are sorted by principal, and the principal columns carry a page index
//! (`store::PAGE_INDEXED_COLUMNS`). DataFusion prunes pages by top-level columns only, not by the
//! fields of a struct such as `useridentity.arn`. So the `cloudtrail` table reads the page index
//! itself: for a filter such as `useridentity.arn = '…'` it hands the Parquet reader, per file, the
//! rows of the pages whose bounds admit the value. The filter is still applied to every row read,
//! so a page read in vain costs time, never a wrong answer.

use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

/// A filter, or the part of one, that the page index can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum RowTest {
    /// The string column at `path` (a top-level column or a struct's field) equals one of `values`.
    OneOf {
        path: Vec<String>,
        values: Vec<String>,
    },
    /// Every test passes.
    All(Vec<RowTest>),
    /// Some test passes.
    Any(Vec<RowTest>),
}

impl RowTest {
    /// The test every row must pass for all of `filters` to be true, or `None` when the page
    /// index can answer none of them.
    pub fn of_filters(filters: &[Expr]) -> Option<RowTest> {
        let tests: Vec<RowTest> = filters.iter().filter_map(RowTest::from_expr).collect();
        (!tests.is_empty()).then_some(RowTest::All(tests))
    }

    /// The test a row must pass for `expr` to be true, or `None` when the page index cannot tell.
    fn from_expr(expr: &Expr) -> Option<RowTest> {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
                Operator::Eq => {
                    let (path, value) = match (column_path(left), string_literal(right)) {
                        (Some(path), Some(value)) => (path, value),
                        _ => (column_path(right)?, string_literal(left)?),
                    };
                    Some(RowTest::OneOf {
                        path,
                        values: vec![value],
                    })
                }
                Operator::And => {
                    let tests: Vec<RowTest> = [left, right]
                        .into_iter()
                        .filter_map(|side| RowTest::from_expr(side))
                        .collect();
                    (!tests.is_empty()).then_some(RowTest::All(tests))
                }
                Operator::Or => Some(RowTest::Any(vec![
                    RowTest::from_expr(left)?,
                    RowTest::from_expr(right)?,
                ])),
                _ => None,
            },
            Expr::InList(in_list) if !in_list.negated => Some(RowTest::OneOf {
                path: column_path(&in_list.expr)?,
                values: in_list
                    .list
                    .iter()
                    .map(string_literal)
                    .collect::<Option<Vec<_>>>()?,
            }),
            _ => None,
        }
    }

    /// The rows of row group `row_group` that may pass, or `None` when it may be any of them.
    fn rows(&self, metadata: &ParquetMetaData, row_group: usize) -> Option<RowSelection> {
        match self {
            RowTest::OneOf { path, values } => pages_holding(metadata, row_group, path, values),
            RowTest::All(tests) => tests
                .iter()
                .filter_map(|test| test.rows(metadata, row_group))
                .reduce(|a, b| a.intersection(&b)),
            RowTest::Any(tests) => tests
                .iter()
                .map(|test| test.rows(metadata, row_group))
                .reduce(|a, b| Some(a?.union(&b?)))?,
        }
    }
}

/// `useridentity.sessioncontext.sessionissuer.arn` as `["useridentity", "sessioncontext", ...]`,
/// from a column or a chain of `get_field` calls.
fn column_path(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::Column(column) => Some(vec![column.name.clone()]),
        Expr::ScalarFunction(function) if function.func.name() == "get_field" => {
            let (base, fields) = function.args.split_first()?;
            let mut path = column_path(base)?;
            for field in fields {
                path.push(string_literal(field)?);
            }
            Some(path)
        }
        _ => None,
    }
}

pub fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(value, _) => value.try_as_str().flatten().map(str::to_string),
        _ => None,
    }
}

/// The file's access plan, or `None` when every row group is to be read whole.
pub fn access_plan(test: &RowTest, metadata: &ParquetMetaData) -> Option<ParquetAccessPlan> {
    let access: Vec<RowGroupAccess> = (0..metadata.num_row_groups())
        .map(|row_group| match test.rows(metadata, row_group) {
            None => RowGroupAccess::Scan,
            Some(rows) if !rows.selects_any() => RowGroupAccess::Skip,
            Some(rows) if rows.skipped_row_count() == 0 => RowGroupAccess::Scan,
            Some(rows) => RowGroupAccess::Selection(rows),
        })
        .collect();
    access
        .iter()
        .any(|a| !matches!(a, RowGroupAccess::Scan))
        .then(|| ParquetAccessPlan::new(access))
}

/// Fewer rows than this, in a file's one row group, are read by one partition: splitting them saves
/// less than opening the file once more costs.
pub const MIN_SPLIT_ROWS: usize = 16 * 1024;

/// `parts` plans that together read what `plan` reads (every row of the file when `None`), each
/// about as many rows, when those rows all lie in one row group. DataFusion spreads a file over its
/// partitions by row group, so without this a file of one row group is read by one thread however
/// many rows it holds. `None` when the rows read lie in more than one row group, or are fewer than
/// [`MIN_SPLIT_ROWS`].
pub fn split_lone_row_group(
    plan: Option<&ParquetAccessPlan>,
    metadata: &ParquetMetaData,
    parts: usize,
) -> Option<Vec<ParquetAccessPlan>> {
    let access: Vec<RowGroupAccess> = match plan {
        Some(plan) => plan.inner().to_vec(),
        None => vec![RowGroupAccess::Scan; metadata.num_row_groups()],
    };
    let mut read = access
        .iter()
        .enumerate()
        .filter(|(_, access)| !matches!(access, RowGroupAccess::Skip));
    let (row_group, lone) = read.next()?;
    if read.next().is_some() || parts < 2 {
        return None;
    }
    let selection = match lone {
        RowGroupAccess::Selection(selection) => selection.clone(),
        _ => {
            let rows = usize::try_from(metadata.row_group(row_group).num_rows()).ok()?;
            RowSelection::from(vec![RowSelector::select(rows)])
        }
    };
    let selected = selection.row_count();
    if selected < MIN_SPLIT_ROWS {
        return None;
    }
    let plans = (0..parts)
        .map(|part| {
            let (from, to) = (selected * part / parts, selected * (part + 1) / parts);
            let mut access = access.clone();
            access[row_group] = RowGroupAccess::Selection(selected_part(&selection, from, to));
            ParquetAccessPlan::new(access)
        })
        .collect();
    Some(plans)
}

/// `selection` keeping only its selected rows from the `from`-th to before the `to`-th (counted
/// among the selected rows); the others are skipped, so it still covers as many rows.
fn selected_part(selection: &RowSelection, from: usize, to: usize) -> RowSelection {
    let mut selectors = Vec::new();
    let mut push = |selector: RowSelector| {
        if selector.row_count > 0 {
            selectors.push(selector);
        }
    };
    let mut selected_before = 0;
    for selector in selection.iter() {
        if selector.skip {
            push(*selector);
            continue;
        }
        let (start, end) = (selected_before, selected_before + selector.row_count);
        selected_before = end;
        let (kept_from, kept_to) = (from.clamp(start, end), to.clamp(start, end));
        push(RowSelector::skip(kept_from - start));
        push(RowSelector::select(kept_to - kept_from));
        push(RowSelector::skip(end - kept_to));
    }
    RowSelection::from(selectors)
}

/// The rows of the pages whose bounds admit one of `values`, in the string column at `path`;
/// `None` when the file has no page index for it.
fn pages_holding(
    metadata: &ParquetMetaData,
    row_group: usize,
    path: &[String],
    values: &[String],
) -> Option<RowSelection> {
    let schema = metadata.file_metadata().schema_descr();
    let leaf = (0..schema.num_columns()).find(|&i| schema.column(i).path().parts() == path)?;
    let ColumnIndexMetaData::BYTE_ARRAY(bounds) =
        metadata.column_index()?.get(row_group)?.get(leaf)?
    else {
        return None;
    };
    let pages = metadata
        .offset_index()?
        .get(row_group)?
        .get(leaf)?
        .page_locations();
    if bounds.num_pages() as usize != pages.len() {
        return None;
    }
    let row_count = metadata.row_group(row_group).num_rows();
    let mut selectors = Vec::with_capacity(pages.len());
    for (page, location) in pages.iter().enumerate() {
        let end = pages
            .get(page + 1)
            .map_or(row_count, |next| next.first_row_index);
        let rows = usize::try_from(end - location.first_row_index).ok()?;
        let admits = match (bounds.min_value(page), bounds.max_value(page)) {
            (Some(min), Some(max)) => values
                .iter()
                .any(|v| min <= v.as_bytes() && v.as_bytes() <= max),
            // A page of nulls only: no value equals anything.
            _ if bounds.is_null_page(page) => false,
            _ => true,
        };
        selectors.push(if admits {
            RowSelector::select(rows)
        } else {
            RowSelector::skip(rows)
        });
    }
    Some(RowSelection::from(selectors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};
    use proptest::prelude::*;

    /// The indices of the rows `selection` selects.
    fn selected_rows(selection: &RowSelection) -> Vec<usize> {
        let mut rows = Vec::new();
        let mut at = 0;
        for selector in selection.iter() {
            if !selector.skip {
                rows.extend(at..at + selector.row_count);
            }
            at += selector.row_count;
        }
        rows
    }

    fn covered(selection: &RowSelection) -> usize {
        selection.row_count() + selection.skipped_row_count()
    }

    /// The metadata of a file of one Int32 column, with a row group of each of `row_groups` rows.
    fn metadata_of(row_groups: &[usize]) -> ParquetMetaData {
        use arrow::array::{Int32Array, RecordBatch};
        use parquet::file::properties::WriterProperties;
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int32, false),
        ]));
        let mut bytes = Vec::new();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(None)
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(&mut bytes, schema.clone(), Some(properties))
                .expect("writer");
        for &rows in row_groups {
            let values = Int32Array::from_iter_values(0..rows as i32);
            let batch = RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(values)])
                .expect("batch");
            writer.write(&batch).expect("writes");
            writer.flush().expect("flushes");
        }
        writer.close().expect("closes");
        parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(bytes))
            .expect("metadata")
    }

    /// The selection each plan makes of row group `row_group`.
    fn selections(plans: &[ParquetAccessPlan], row_group: usize) -> Vec<RowSelection> {
        plans
            .iter()
            .map(|plan| match &plan.inner()[row_group] {
                RowGroupAccess::Selection(selection) => selection.clone(),
                other => panic!("row group {row_group}: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_lone_row_group_is_split_into_parts_that_read_it_once() {
        let metadata = metadata_of(&[40_000]);
        let plans = split_lone_row_group(None, &metadata, 2).expect("split");
        let parts = selections(&plans, 0);
        assert_eq!(parts.len(), 2);
        assert_eq!(selected_rows(&parts[0]), (0..20_000).collect::<Vec<_>>());
        assert_eq!(
            selected_rows(&parts[1]),
            (20_000..40_000).collect::<Vec<_>>()
        );
        assert!(parts.iter().all(|part| covered(part) == 40_000));

        // A selection already made (pages of one principal) is split by the rows it reads.
        let chosen = RowSelection::from(vec![
            RowSelector::skip(1_000),
            RowSelector::select(9_000),
            RowSelector::skip(20_000),
            RowSelector::select(10_000),
        ]);
        let plan = ParquetAccessPlan::new(vec![RowGroupAccess::Selection(chosen.clone())]);
        let parts = selections(
            &split_lone_row_group(Some(&plan), &metadata, 3).expect("split"),
            0,
        );
        let counts: Vec<usize> = parts.iter().map(RowSelection::row_count).collect();
        assert_eq!(counts, [6_333, 6_333, 6_334]);
        let joined: Vec<usize> = parts.iter().flat_map(selected_rows).collect();
        assert_eq!(joined, selected_rows(&chosen));
    }

    #[test]
    fn only_a_lone_row_group_with_enough_rows_is_split() {
        let two = metadata_of(&[20_000, 20_000]);
        assert!(split_lone_row_group(None, &two, 2).is_none());
        let second_only = ParquetAccessPlan::new(vec![RowGroupAccess::Skip, RowGroupAccess::Scan]);
        let plans = split_lone_row_group(Some(&second_only), &two, 2).expect("split");
        assert!(
            plans
                .iter()
                .all(|plan| plan.inner()[0] == RowGroupAccess::Skip)
        );
        let parts = selections(&plans, 1);
        assert_eq!(parts[0].row_count() + parts[1].row_count(), 20_000);

        let small = metadata_of(&[MIN_SPLIT_ROWS - 1]);
        assert!(split_lone_row_group(None, &small, 2).is_none());
        let large = metadata_of(&[MIN_SPLIT_ROWS]);
        assert!(split_lone_row_group(None, &large, 1).is_none());
        assert!(split_lone_row_group(None, &large, 2).is_some());
    }

    proptest! {
        #[test]
        fn a_part_of_a_selection_selects_exactly_its_share(
            runs in proptest::collection::vec((any::<bool>(), 1usize..50), 0..20),
            from in 0usize..600,
            length in 0usize..600,
        ) {
            let selection = RowSelection::from(
                runs.iter()
                    .map(|&(skip, rows)| if skip { RowSelector::skip(rows) } else { RowSelector::select(rows) })
                    .collect::<Vec<_>>(),
            );
            let to = from + length;
            let part = selected_part(&selection, from, to);
            let all = selected_rows(&selection);
            let wanted: Vec<usize> = all.iter().copied().skip(from).take(to.saturating_sub(from)).collect();
            prop_assert_eq!(selected_rows(&part), wanted);
            prop_assert_eq!(covered(&part), covered(&selection));
        }
    }

    fn arn() -> Expr {
        datafusion::functions::core::expr_fn::get_field(col("useridentity"), "arn")
    }

    #[test]
    fn understands_equality_in_lists_and_boolean_structure() {
        let one_of = |values: &[&str]| RowTest::OneOf {
            path: vec!["useridentity".into(), "arn".into()],
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert_eq!(
            RowTest::from_expr(&arn().eq(lit("a"))),
            Some(one_of(&["a"]))
        );
        assert_eq!(
            RowTest::from_expr(&lit("a").eq(arn())),
            Some(one_of(&["a"]))
        );
        assert_eq!(
            RowTest::from_expr(&arn().in_list(vec![lit("a"), lit("b")], false)),
            Some(one_of(&["a", "b"]))
        );
        assert_eq!(
            RowTest::from_expr(&arn().in_list(vec![lit("a")], true)),
            None
        );
        // A conjunct the index cannot answer leaves the other; a disjunct cannot be left out.
        assert_eq!(
            RowTest::from_expr(&arn().eq(lit("a")).and(col("errorcode").is_null())),
            Some(RowTest::All(vec![one_of(&["a"])]))
        );
        assert_eq!(
            RowTest::from_expr(&arn().eq(lit("a")).or(col("errorcode").is_null())),
            None
        );
        assert_eq!(RowTest::from_expr(&arn().not_eq(lit("a"))), None);
        assert_eq!(RowTest::from_expr(&arn().eq(lit(1))), None);
    }
}
