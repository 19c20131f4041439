//! Range filters that a data file's statistics settle for every row.
//!
//! `eventtime >= '2024-03-11T00:00:00Z' AND eventtime < '2024-03-21T00:00:00Z'` over ten days of
//! partitions is true for every row of every file inside the window: each row group's minimum
//! and maximum `eventtime` say so. Such files need neither the test nor the column read for it;
//! only the files at the window's edges do. `day = '2024-03-03'` is such a range too: the day's
//! file is read without the test. Comparing ISO-8601 text row by row was about half the
//! time of a query that lists a window's principals.

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use parquet::basic::{ColumnOrder, SortOrder, Type as PhysicalType};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};

use super::page_selection::string_literal;

/// `column` lies within the bounds, each inclusive or not; a bound that is `None` is open.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRange {
    pub column: String,
    lower: Option<Bound>,
    upper: Option<Bound>,
}

#[derive(Debug, Clone, PartialEq)]
struct Bound {
    value: String,
    inclusive: bool,
}

impl Bound {
    fn new(value: String, inclusive: bool) -> Option<Bound> {
        Some(Bound { value, inclusive })
    }
}

impl ColumnRange {
    /// The range `expr` asks of a top-level text column: `<`, `<=`, `>`, `>=` or `=` (a range of
    /// one value) against a text literal, on either side, or `BETWEEN` two literals. `None` for
    /// anything else.
    pub fn from_expr(expr: &Expr) -> Option<ColumnRange> {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (column, op, value) = match (column_name(left), string_literal(right)) {
                    (Some(column), Some(value)) => (column, *op, value),
                    _ => (column_name(right)?, op.swap()?, string_literal(left)?),
                };
                let (lower, upper) = match op {
                    Operator::Gt => (Bound::new(value, false), None),
                    Operator::GtEq => (Bound::new(value, true), None),
                    Operator::Lt => (None, Bound::new(value, false)),
                    Operator::LtEq => (None, Bound::new(value, true)),
                    Operator::Eq => (Bound::new(value.clone(), true), Bound::new(value, true)),
                    _ => return None,
                };
                Some(ColumnRange {
                    column,
                    lower,
                    upper,
                })
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => Some(ColumnRange {
                column: column_name(expr)?,
                lower: Bound::new(string_literal(low)?, true),
                upper: Bound::new(string_literal(high)?, true),
            }),
            _ => None,
        }
    }

    /// The range's bounds, each taken as inclusive (which admits more, never less).
    pub fn loose_bounds(&self) -> (Option<&str>, Option<&str>) {
        (
            self.lower.as_ref().map(|b| b.value.as_str()),
            self.upper.as_ref().map(|b| b.value.as_str()),
        )
    }

    /// Whether `value` is in the range.
    pub fn admits(&self, value: &[u8]) -> bool {
        self.lower.as_ref().is_none_or(|b| b.is_passed_by(value))
            && self
                .upper
                .as_ref()
                .is_none_or(|b| b.is_not_reached_by(value))
    }

    /// Whether every value from `min` to `max` is in the range.
    pub fn admits_all_of(&self, min: &[u8], max: &[u8]) -> bool {
        self.lower.as_ref().is_none_or(|b| b.is_passed_by(min))
            && self.upper.as_ref().is_none_or(|b| b.is_not_reached_by(max))
    }

    /// Whether no value from `min` to `max` is in the range.
    pub fn admits_none_of(&self, min: &[u8], max: &[u8]) -> bool {
        self.lower.as_ref().is_some_and(|b| !b.is_passed_by(max))
            || self
                .upper
                .as_ref()
                .is_some_and(|b| !b.is_not_reached_by(min))
    }

    /// Whether the file's statistics show that every row of it is in the range. `false` whenever
    /// they cannot tell: no statistics, a null, a legacy (signed) byte order, no such column.
    pub fn holds_for_every_row(&self, metadata: &ParquetMetaData) -> bool {
        self.every_row_group(metadata, |_rows, nulls, bounds| {
            let (Some(0), Some((min, max))) = (nulls, bounds) else {
                return false;
            };
            self.admits_all_of(min, max)
        })
    }

    /// Whether the file's statistics show that no row of it is in the range: each row group is
    /// all nulls, or its values all lie beyond one bound.
    pub fn holds_for_no_row(&self, metadata: &ParquetMetaData) -> bool {
        self.every_row_group(metadata, |rows, nulls, bounds| {
            nulls == Some(rows) || bounds.is_some_and(|(min, max)| self.admits_none_of(min, max))
        })
    }

    /// The file's leaf column of the range, when its bounds can be compared with the range's
    /// ([`bounds_in_byte_order`]).
    fn ordered_leaf(&self, metadata: &ParquetMetaData) -> Option<usize> {
        self.leaf(metadata)
            .filter(|&leaf| bounds_in_byte_order(metadata, leaf))
    }

    /// The file's leaf column of the range, if the file has it.
    pub fn leaf(&self, metadata: &ParquetMetaData) -> Option<usize> {
        let schema = metadata.file_metadata().schema_descr();
        (0..schema.num_columns())
            .find(|&i| schema.column(i).path().parts() == std::slice::from_ref(&self.column))
    }

    /// Whether `check(rows, nulls, (min, max))` is true of every row group of the column. `false`
    /// when the file has no such text column or a row group has no statistics. Bounds in the
    /// legacy (signed) byte order are not used.
    ///
    /// A minimum the writer truncated is a prefix of the true one, so no larger; a truncated
    /// maximum was rounded up, so no smaller. The checks above stay sound with either.
    fn every_row_group(
        &self,
        metadata: &ParquetMetaData,
        check: impl Fn(u64, Option<u64>, Option<Bounds>) -> bool,
    ) -> bool {
        let Some(leaf) = self.ordered_leaf(metadata) else {
            return false;
        };
        metadata.row_groups().iter().all(|row_group| {
            let rows = u64::try_from(row_group.num_rows()).unwrap_or(0);
            let Some((nulls, bounds)) = chunk_statistics(row_group, leaf) else {
                return rows == 0;
            };
            rows == 0 || check(rows, nulls, bounds)
        })
    }
}

/// A minimum and a maximum.
pub type Bounds<'a> = (&'a [u8], &'a [u8]);

/// The null count and the bounds that a row group's statistics give for its column `leaf`; `None`
/// when it has none.
pub fn chunk_statistics(
    row_group: &RowGroupMetaData,
    leaf: usize,
) -> Option<(Option<u64>, Option<Bounds<'_>>)> {
    let stats = row_group.column(leaf).statistics()?;
    let bounds = match (stats.min_bytes_opt(), stats.max_bytes_opt()) {
        (Some(min), Some(max)) if !stats.is_min_max_deprecated() => Some((min, max)),
        _ => None,
    };
    Some((stats.null_count_opt(), bounds))
}

impl Bound {
    /// As a lower bound: whether `x` is above it (or on it, when inclusive).
    fn is_passed_by(&self, x: &[u8]) -> bool {
        let value = self.value.as_bytes();
        if self.inclusive {
            x >= value
        } else {
            x > value
        }
    }

    /// As an upper bound: whether `x` is below it (or on it, when inclusive).
    fn is_not_reached_by(&self, x: &[u8]) -> bool {
        let value = self.value.as_bytes();
        if self.inclusive {
            x <= value
        } else {
            x < value
        }
    }
}

fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(column) => Some(column.name.clone()),
        _ => None,
    }
}

/// Whether the statistics of `leaf` are text in byte order (not the legacy signed order), so that
/// its bounds can be compared with a range's.
pub fn bounds_in_byte_order(metadata: &ParquetMetaData, leaf: usize) -> bool {
    let file = metadata.file_metadata();
    file.schema_descr().column(leaf).physical_type() == PhysicalType::BYTE_ARRAY
        && file.column_order(leaf) == ColumnOrder::TYPE_DEFINED_ORDER(SortOrder::UNSIGNED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::prelude::{col, lit};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::SerializedFileReader;

    fn range(lower: Option<(&str, bool)>, upper: Option<(&str, bool)>) -> ColumnRange {
        let bound = |b: Option<(&str, bool)>| {
            b.map(|(value, inclusive)| Bound {
                value: value.to_string(),
                inclusive,
            })
        };
        ColumnRange {
            column: "eventtime".into(),
            lower: bound(lower),
            upper: bound(upper),
        }
    }

    #[test]
    fn understands_comparisons_on_either_side_and_between() {
        let t = || col("eventtime");
        assert_eq!(
            ColumnRange::from_expr(&t().gt_eq(lit("a"))),
            Some(range(Some(("a", true)), None))
        );
        assert_eq!(
            ColumnRange::from_expr(&t().gt(lit("a"))),
            Some(range(Some(("a", false)), None))
        );
        assert_eq!(
            ColumnRange::from_expr(&lit("a").gt(t())),
            Some(range(None, Some(("a", false))))
        );
        assert_eq!(
            ColumnRange::from_expr(&lit("a").lt_eq(t())),
            Some(range(Some(("a", true)), None))
        );
        assert_eq!(
            ColumnRange::from_expr(&t().between(lit("a"), lit("b"))),
            Some(range(Some(("a", true)), Some(("b", true))))
        );
        assert_eq!(
            ColumnRange::from_expr(&t().not_between(lit("a"), lit("b"))),
            None
        );
        assert_eq!(
            ColumnRange::from_expr(&lit("a").eq(t())),
            Some(range(Some(("a", true)), Some(("a", true))))
        );
        assert_eq!(ColumnRange::from_expr(&t().not_eq(lit("a"))), None);
        assert_eq!(ColumnRange::from_expr(&t().gt(lit(1))), None);
        assert_eq!(ColumnRange::from_expr(&t().gt(col("eventname"))), None);
    }

    /// The metadata of a file whose `eventtime` row groups hold `groups`, with statistics
    /// truncated to `truncate` bytes.
    fn truncated_metadata_of(
        groups: &[&[Option<&str>]],
        truncate: Option<usize>,
    ) -> Arc<ParquetMetaData> {
        let file = tempfile::tempfile().expect("temporary file");
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("eventtime", arrow::datatypes::DataType::Utf8, true),
        ]));
        let properties = WriterProperties::builder()
            .set_statistics_truncate_length(truncate)
            .build();
        let mut writer = ArrowWriter::try_new(
            file.try_clone().expect("file"),
            schema.clone(),
            Some(properties),
        )
        .expect("writer");
        for rows in groups {
            let column: ArrayRef = Arc::new(StringArray::from(rows.to_vec()));
            let batch = RecordBatch::try_new(schema.clone(), vec![column]).expect("batch");
            writer.write(&batch).expect("write");
            writer.flush().expect("flush");
        }
        writer.close().expect("close");
        let reader = SerializedFileReader::new(file).expect("reader");
        Arc::new(reader.metadata().clone())
    }

    fn metadata_of(groups: &[&[Option<&str>]]) -> Arc<ParquetMetaData> {
        truncated_metadata_of(groups, None)
    }

    #[test]
    fn a_file_is_settled_only_when_every_row_group_is_inside() {
        let file = metadata_of(&[&[Some("2024-03-12T01"), Some("2024-03-12T09")]]);
        let window = range(Some(("2024-03-11", true)), Some(("2024-03-21", false)));
        assert!(window.holds_for_every_row(&file));
        assert!(range(Some(("2024-03-12T01", true)), None).holds_for_every_row(&file));
        assert!(!range(Some(("2024-03-12T01", false)), None).holds_for_every_row(&file));
        assert!(!range(None, Some(("2024-03-12T02", false))).holds_for_every_row(&file));

        assert!(!window.holds_for_no_row(&file));
        assert!(range(Some(("2024-03-12T09", false)), None).holds_for_no_row(&file));
        assert!(!range(Some(("2024-03-12T09", true)), None).holds_for_no_row(&file));
        assert!(range(None, Some(("2024-03-12T01", false))).holds_for_no_row(&file));
        assert!(!range(None, Some(("2024-03-12T01", true))).holds_for_no_row(&file));

        let straddling = metadata_of(&[&[Some("2024-03-12T01")], &[Some("2024-03-21T00")]]);
        assert!(!window.holds_for_every_row(&straddling));
        assert!(!window.holds_for_no_row(&straddling));
        let after = range(Some(("2024-03-21", true)), None);
        assert!(!after.holds_for_every_row(&straddling));
        assert!(!after.holds_for_no_row(&straddling));

        // A null fails every comparison.
        let with_null = metadata_of(&[&[Some("2024-03-12T01"), None]]);
        assert!(!window.holds_for_every_row(&with_null));
        assert!(!window.holds_for_no_row(&with_null));
        let only_nulls = metadata_of(&[&[None, None]]);
        assert!(window.holds_for_no_row(&only_nulls));
        assert!(!window.holds_for_every_row(&only_nulls));

        let other_column = ColumnRange {
            column: "eventname".into(),
            ..window.clone()
        };
        assert!(!other_column.holds_for_every_row(&file));
        assert!(!other_column.holds_for_no_row(&file));
    }

    #[test]
    fn truncated_statistics_never_settle_a_row_outside() {
        // Statistics truncated to 4 bytes: min "2024", max "2025" (rounded up from "2024").
        let file = truncated_metadata_of(&[&[Some("2024-03-12"), Some("2024-03-20")]], Some(4));
        // Every row is >= "2024-03-01", but the truncated minimum cannot show it: not settled.
        assert!(!range(Some(("2024-03-01", true)), None).holds_for_every_row(&file));
        // Every row is < "2024-04", but the rounded-up maximum cannot show it either.
        assert!(!range(None, Some(("2024-04", false))).holds_for_every_row(&file));
        // Nor can they show that no row is past "2024-03-25" or before "2024-03-01".
        assert!(!range(Some(("2024-03-25", true)), None).holds_for_no_row(&file));
        assert!(!range(None, Some(("2024-03-01", false))).holds_for_no_row(&file));
        // Bounds the truncated values do decide.
        assert!(range(Some(("2023", true)), Some(("2026", false))).holds_for_every_row(&file));
        assert!(range(Some(("2025-01", true)), None).holds_for_no_row(&file));
        assert!(range(None, Some(("2024", false))).holds_for_no_row(&file));
    }
}
