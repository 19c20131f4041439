//! The order of every data file's rows (day, principal, event time, event ID), and the copy of rows
//! from many batches into that order.

use std::sync::Arc;

use ahash::AHashMap;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, RecordBatch, RecordBatchOptions, StringArray,
    StructArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;

use super::schema::{self, column};

/// The principal a row belongs to: the role behind a session, else the identity's ARN, else the
/// service that acted.
pub fn principal_column(batch: &RecordBatch) -> Result<StringArray, ArrowError> {
    let missing = |path: &str| ArrowError::SchemaError(format!("the rows have no column `{path}`"));
    let identity = batch
        .column_by_name(column::USER_IDENTITY)
        .and_then(|c| c.as_struct_opt())
        .ok_or_else(|| missing(column::USER_IDENTITY))?;
    let path_in = |mut at: &StructArray, path: &[&str]| -> Result<ArrayRef, ArrowError> {
        let (last, parents) = path.split_last().ok_or_else(|| missing(""))?;
        for parent in parents {
            at = at
                .column_by_name(parent)
                .and_then(|c| c.as_struct_opt())
                .ok_or_else(|| missing(parent))?;
        }
        at.column_by_name(last)
            .cloned()
            .ok_or_else(|| missing(last))
    };
    let candidates = [
        path_in(
            identity,
            &[column::SESSION_CONTEXT, column::SESSION_ISSUER, column::ARN],
        )?,
        path_in(identity, &[column::ARN])?,
        path_in(identity, &[column::INVOKED_BY])?,
    ];
    let candidates = candidates
        .iter()
        .map(|c| {
            c.as_string_opt::<i32>()
                .ok_or_else(|| missing("useridentity"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            candidates
                .iter()
                .find(|c| c.is_valid(row))
                .map(|c| c.value(row))
        })
        .collect())
}

/// How many columns rows are sorted by ([`sort_key_columns`]).
pub const SORT_KEYS: usize = 4;

/// The columns rows are sorted by, in order: day, principal, event time, event ID. Day first, so
/// that a window of days is a run of pages in each file of a month; within a day one principal's
/// rows are adjacent, so the page index finds them.
pub fn sort_key_columns(batch: &RecordBatch) -> Result<Vec<ArrayRef>, ArrowError> {
    let day: ArrayRef = Arc::new(schema::text_column(batch, column::DAY)?.clone());
    let mut columns: Vec<ArrayRef> = vec![day, Arc::new(principal_column(batch)?)];
    for name in [column::EVENT_TIME, column::EVENT_ID] {
        columns.push(Arc::new(schema::text_column(batch, name)?.clone()));
    }
    Ok(columns)
}

/// Where a row goes: its day's and principal's ranks, then the part of its event time after the
/// day, as an integer that sorts as the text does (see [`time_after_day`]).
struct Place {
    day_and_principal: u64,
    time_after_day: u128,
    batch: u32,
    row: u32,
}

/// Up to 16 bytes of `time` after its first 10 (the `YYYY-MM-DD` its day is made of), big-endian
/// and padded with zeros. For two times of the same day, a different value orders them as their
/// text does; an equal value leaves it to the text itself (later bytes, or a zero byte in the text).
fn time_after_day(time: &str) -> u128 {
    let mut bytes = [0u8; 16];
    if let Some(rest) = time.as_bytes().get(10..) {
        let length = rest.len().min(16);
        bytes[..length].copy_from_slice(&rest[..length]);
    }
    u128::from_be_bytes(bytes)
}

/// The rows of `batches` as one batch sorted by day, principal, time and event ID: the order of
/// every data file, and of every run merged into one. Only the sort keys are concatenated; each row
/// is copied once, from its batch to its place. The batches are consumed column by column: each
/// column of theirs is freed once its rows are copied, so that sorting holds little more than the
/// rows once, not twice.
pub fn sort_rows(batches: Vec<RecordBatch>) -> Result<RecordBatch, ArrowError> {
    let places = sorted_places(&batches)?;
    gather_consuming(batches, &places)
}

/// Where each row of the sorted rows comes from: (batch, row).
fn sorted_places(batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>, ArrowError> {
    let keys: Vec<Vec<ArrayRef>> = batches
        .iter()
        .map(sort_key_columns)
        .collect::<Result<_, _>>()?;
    let keys: Vec<Vec<&StringArray>> = keys
        .iter()
        .map(|columns| columns.iter().map(|c| c.as_string::<i32>()).collect())
        .collect();
    let text = |batch: usize, key: usize| keys[batch][key];
    let value = |batch: usize, key: usize, row: usize| {
        let column = text(batch, key);
        column.is_valid(row).then(|| column.value(row))
    };
    // Day and principal take few values: each is ranked once, and rows are sorted by the two ranks
    // packed in one integer, then by time and event ID. Comparing four text columns row by row was
    // a quarter of the time of sorting them.
    let day_ranks = text_ranks((0..keys.len()).map(|batch| text(batch, 0)));
    let principal_ranks = text_ranks((0..keys.len()).map(|batch| text(batch, 1)));
    let rank = |ranks: &AHashMap<&str, u32>, text: Option<&str>| {
        text.and_then(|text| ranks.get(text)).copied().unwrap_or(0)
    };
    // Rows of one rank share their day, so their times share the day's text (a day is the start of
    // its row's event time) and differ after it. Rows without a day (their time is missing or not
    // a time) are compared by the whole text.
    let day_starts_time = (0..keys.len()).all(|batch| {
        (0..text(batch, 0).len()).all(|row| match value(batch, 0, row) {
            None | Some("") => true,
            Some(day) => value(batch, 2, row).is_some_and(|time| time.starts_with(day)),
        })
    });
    let mut places: Vec<Place> =
        Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for (batch, rows) in batches.iter().map(RecordBatch::num_rows).enumerate() {
        for row in 0..rows {
            let day = value(batch, 0, row);
            let principal = rank(&principal_ranks, value(batch, 1, row));
            let time_after_day = match (day, value(batch, 2, row)) {
                (Some(day), Some(time)) if day_starts_time && !day.is_empty() => {
                    time_after_day(time)
                }
                _ => 0,
            };
            places.push(Place {
                day_and_principal: (u64::from(rank(&day_ranks, day)) << 32) | u64::from(principal),
                time_after_day,
                batch: batch as u32,
                row: row as u32,
            });
        }
    }
    let by_text = |a: &Place, b: &Place, key: usize| {
        value(a.batch as usize, key, a.row as usize).cmp(&value(
            b.batch as usize,
            key,
            b.row as usize,
        ))
    };
    places.sort_unstable_by(|a, b| {
        (a.day_and_principal, a.time_after_day)
            .cmp(&(b.day_and_principal, b.time_after_day))
            .then_with(|| by_text(a, b, 2))
            .then_with(|| by_text(a, b, 3))
    });
    Ok(places
        .into_iter()
        .map(|place| (place.batch as usize, place.row as usize))
        .collect())
}

/// [`gather_rows`] from batches it owns, each of their columns dropped once gathered.
fn gather_consuming(
    batches: Vec<RecordBatch>,
    places: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let Some(first) = batches.first() else {
        return Ok(RecordBatch::new_empty(schema::file_schema()));
    };
    let schema = first.schema();
    let mut by_column: Vec<Vec<ArrayRef>> = (0..schema.fields().len())
        .map(|_| Vec::with_capacity(batches.len()))
        .collect();
    for batch in batches {
        let (_, columns, _) = batch.into_parts();
        for (arrays, column) in by_column.iter_mut().zip(columns) {
            arrays.push(column);
        }
    }
    gather_columns(schema, by_column, places)
}

/// Each distinct value of `columns` and its rank in byte order, from 1: rank 0 is left for null,
/// which sorts first, as in the order [`super::merge`] keeps.
fn text_ranks<'a>(columns: impl Iterator<Item = &'a StringArray>) -> AHashMap<&'a str, u32> {
    let mut ranks: AHashMap<&str, u32> = AHashMap::new();
    for column in columns {
        let mut last = None;
        for text in column.iter().flatten() {
            if last != Some(text) {
                ranks.entry(text).or_insert(0);
                last = Some(text);
            }
        }
    }
    let mut distinct: Vec<&str> = ranks.keys().copied().collect();
    distinct.sort_unstable();
    for (rank, text) in distinct.into_iter().enumerate() {
        ranks.insert(text, rank as u32 + 1);
    }
    ranks
}

/// One batch of the rows at `places` (batch, row) of `batches`, in that order: what
/// `interleave_record_batch` does, without visiting the rows of a column that is null in every
/// batch. A CloudTrail record fills about two thirds of the store's columns; the rest, and the
/// members of a struct left empty (`addendum`, `onBehalfOf`, `webIdFederationData`), cost as much to
/// copy row by row as a column of values.
pub fn gather_rows(
    batches: &[RecordBatch],
    places: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let Some(first) = batches.first() else {
        return Ok(RecordBatch::new_empty(schema::file_schema()));
    };
    let schema = first.schema();
    let by_column = (0..schema.fields().len())
        .map(|index| batches.iter().map(|b| b.column(index).clone()).collect());
    gather_columns(schema, by_column, places)
}

/// One batch of `schema` whose columns are the rows at `places` of each column's arrays (one array
/// per batch), each column's arrays dropped once its rows are gathered.
fn gather_columns(
    schema: SchemaRef,
    by_column: impl IntoIterator<Item = Vec<ArrayRef>>,
    places: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let columns = by_column
        .into_iter()
        .map(|arrays| {
            let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            gather(&arrays, places)
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(places.len())),
    )
}

fn gather(arrays: &[&dyn Array], places: &[(usize, usize)]) -> Result<ArrayRef, ArrowError> {
    let Some(first) = arrays.first() else {
        return Err(ArrowError::InvalidArgumentError(
            "no arrays to gather rows from".into(),
        ));
    };
    let data_type = first.data_type();
    if arrays.iter().all(|array| array.null_count() == array.len()) {
        return Ok(new_null_array(data_type, places.len()));
    }
    let DataType::Struct(fields) = data_type else {
        return arrow::compute::interleave(arrays, places);
    };
    let structs: Vec<&StructArray> = arrays
        .iter()
        .map(|array| {
            array.as_struct_opt().ok_or_else(|| {
                ArrowError::InvalidArgumentError("struct arrays of different types".into())
            })
        })
        .collect::<Result<_, _>>()?;
    let members = (0..fields.len())
        .map(|index| {
            let members: Vec<&dyn Array> =
                structs.iter().map(|s| s.column(index).as_ref()).collect();
            gather(&members, places)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let nulls = arrays.iter().any(|array| array.null_count() > 0).then(|| {
        let mut valid = BooleanBufferBuilder::new(places.len());
        for &(batch, row) in places {
            valid.append(arrays[batch].is_valid(row));
        }
        NullBuffer::new(valid.finish())
    });
    Ok(Arc::new(StructArray::try_new(
        fields.clone(),
        members,
        nulls,
    )?))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;
    use arrow::array::StringBuilder;
    use arrow::datatypes::{Field, Fields};
    use proptest::prelude::*;

    #[test]
    fn a_time_after_its_day_orders_as_its_text() {
        let times = [
            "2024-03-11",
            "2024-03-11 02:00:00",
            "2024-03-11T02:25:13Z",
            "2024-03-11T02:25:13.5Z",
            "2024-03-11T02:25:13.500000000000Z",
            "2024-03-11T02:25:13.500000000000ZZ",
            "2024-03-11T02:25:13Z\0",
            "2024-03-11T02:25:14Z",
        ];
        for a in times {
            for b in times {
                let by_key = time_after_day(a).cmp(&time_after_day(b));
                assert!(
                    by_key == Ordering::Equal || by_key == a.cmp(b),
                    "{a:?} {b:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn time_keys_never_contradict_the_text(a in "2024-03-11[T \\x00:0-9.Z]{0,24}", b in "2024-03-11[T \\x00:0-9.Z]{0,24}") {
            let by_key = time_after_day(&a).cmp(&time_after_day(&b));
            prop_assert!(by_key == Ordering::Equal || by_key == a.cmp(&b));
        }
    }

    fn text(values: &[Option<&str>]) -> ArrayRef {
        let mut builder = StringBuilder::new();
        for value in values {
            builder.append_option(*value);
        }
        Arc::new(builder.finish())
    }

    #[test]
    fn gathering_skips_null_columns_and_keeps_struct_nulls() {
        let fields = Fields::from(vec![
            Field::new("full", DataType::Utf8, true),
            Field::new("empty", DataType::Utf8, true),
        ]);
        let make = |full: &[Option<&str>], valid: Option<Vec<bool>>| -> ArrayRef {
            let empty = text(&vec![None; full.len()]);
            Arc::new(
                StructArray::try_new(
                    fields.clone(),
                    vec![text(full), empty],
                    valid.map(NullBuffer::from),
                )
                .expect("struct"),
            )
        };
        let a = make(&[Some("a0"), None], Some(vec![true, false]));
        let b = make(&[Some("b0"), Some("b1")], None);
        let arrays: Vec<&dyn Array> = vec![a.as_ref(), b.as_ref()];
        let places = [(1, 1), (0, 1), (0, 0), (1, 0)];
        let gathered = gather(&arrays, &places).expect("gathers");
        let expected = arrow::compute::interleave(&arrays, &places).expect("interleaves");
        assert_eq!(gathered.as_ref(), expected.as_ref());
        assert_eq!(gathered.null_count(), 1);
        let empty_only: Vec<&dyn Array> = vec![a.as_struct().column(1).as_ref()];
        let nulls = gather(&empty_only, &[(0, 1), (0, 0), (0, 1)]).expect("gathers");
        assert_eq!((nulls.len(), nulls.null_count()), (3, 3));
    }
}
