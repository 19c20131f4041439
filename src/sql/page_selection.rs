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
