//! Streaming k-way merge of runs that are each sorted by day, principal, time and eventID, so that a
//! partition of any size is written (or compacted) holding about one batch per run in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};

use super::StoreError;
use super::order::{SORT_KEYS, gather_rows, sort_key_columns};

/// A sorted run: its batches in order.
pub type Run<'a> = Box<dyn Iterator<Item = Result<RecordBatch, StoreError>> + Send + 'a>;

/// Rows per merged batch handed to `emit`. Each is a copy of its rows, about 1.3 KB an event on
/// CloudTrail data, held by each writer beside the Parquet row group it fills: 8k rows is about
/// 10 MiB (32k cost 42 MiB a writer, for no measurable speed).
pub const MERGED_BATCH_ROWS: usize = 8 * 1024;

struct Cursor<'a> {
    run: Run<'a>,
    batch: RecordBatch,
    keys: Rows,
    position: usize,
    /// Where `batch` sits among the batches the pending output rows point into.
    slot: usize,
}

fn keys(converter: &RowConverter, batch: &RecordBatch) -> Result<Rows, ArrowError> {
    converter.convert_columns(&sort_key_columns(batch)?)
}

fn merge_error(context: &Path) -> impl Fn(ArrowError) -> StoreError + '_ {
    move |error| StoreError::Invalid {
        path: context.display().to_string(),
        message: format!("cannot merge sorted rows: {error}"),
    }
}

/// The next non-empty batch of `run`, with its sort keys.
fn next_batch(
    run: &mut Run<'_>,
    converter: &RowConverter,
    context: &Path,
) -> Result<Option<(RecordBatch, Rows)>, StoreError> {
    for batch in run.by_ref() {
        let batch = batch?;
        if batch.num_rows() > 0 {
            let keys = keys(converter, &batch).map_err(merge_error(context))?;
            return Ok(Some((batch, keys)));
        }
    }
    Ok(None)
}

/// Merges `runs` into batches of at most `rows_per_batch` rows in sort order, calling `emit` with
/// each. Rows with equal keys keep no particular order among themselves. Errors name `context`.
pub fn merge_sorted_runs(
    runs: Vec<Run<'_>>,
    rows_per_batch: usize,
    context: &Path,
    mut emit: impl FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if runs.len() == 1 {
        // One run is already in order: hand it on in slices, copying nothing.
        let rows_per_batch = rows_per_batch.max(1);
        for batch in runs.into_iter().flatten() {
            let batch = batch?;
            let mut offset = 0;
            while offset < batch.num_rows() {
                let length = rows_per_batch.min(batch.num_rows() - offset);
                emit(batch.slice(offset, length))?;
                offset += length;
            }
        }
        return Ok(());
    }
    let converter = RowConverter::new(vec![SortField::new(DataType::Utf8); SORT_KEYS])
        .map_err(merge_error(context))?;
    let mut cursors: Vec<Option<Cursor>> = Vec::new();
    let mut slots: Vec<RecordBatch> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(OwnedRow, usize)>> = BinaryHeap::new();
    for mut run in runs {
        if let Some((batch, keys)) = next_batch(&mut run, &converter, context)? {
            heap.push(Reverse((keys.row(0).owned(), cursors.len())));
            slots.push(batch.clone());
            cursors.push(Some(Cursor {
                run,
                batch,
                keys,
                position: 0,
                slot: slots.len() - 1,
            }));
        }
    }
    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(rows_per_batch.max(1));
    while let Some(Reverse((_, index))) = heap.pop() {
        // Take rows from this run while they come no later than the next run's head: one heap
        // operation per stretch of rows, not per row.
        let mut exhausted = false;
        loop {
            let Some(cursor) = cursors[index].as_mut() else {
                exhausted = true;
                break;
            };
            pending.push((cursor.slot, cursor.position));
            cursor.position += 1;
            if cursor.position == cursor.batch.num_rows() {
                match next_batch(&mut cursor.run, &converter, context)? {
                    Some((batch, keys)) => {
                        slots.push(batch.clone());
                        cursor.slot = slots.len() - 1;
                        cursor.batch = batch;
                        cursor.keys = keys;
                        cursor.position = 0;
                    }
                    None => {
                        cursors[index] = None;
                        exhausted = true;
                    }
                }
            }
            if pending.len() >= rows_per_batch.max(1) {
                flush(&mut pending, &mut slots, &mut cursors, context, &mut emit)?;
            }
            if exhausted {
                break;
            }
            let Some(cursor) = cursors[index].as_ref() else {
                break;
            };
            let next_is_later = heap
                .peek()
                .is_some_and(|Reverse((head, _))| cursor.keys.row(cursor.position) > head.row());
            if next_is_later {
                break;
            }
        }
        if !exhausted && let Some(cursor) = cursors[index].as_ref() {
            heap.push(Reverse((cursor.keys.row(cursor.position).owned(), index)));
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut slots, &mut cursors, context, &mut emit)?;
    }
    Ok(())
}

/// Builds the pending rows into one batch, then forgets every batch no cursor still reads from.
fn flush(
    pending: &mut Vec<(usize, usize)>,
    slots: &mut Vec<RecordBatch>,
    cursors: &mut [Option<Cursor>],
    context: &Path,
    emit: &mut impl FnMut(RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let merged = gather_rows(slots, pending).map_err(merge_error(context))?;
    pending.clear();
    slots.clear();
    for cursor in cursors.iter_mut().flatten() {
        slots.push(cursor.batch.clone());
        cursor.slot = slots.len() - 1;
    }
    emit(merged)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, StringArray};
    use proptest::prelude::*;

    use super::*;

    /// A batch of the store's schema whose rows have the given (principal, time, id) keys.
    fn batch(rows: &[(String, String, String)]) -> RecordBatch {
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|(principal, time, id)| {
                // An empty principal stands for an identity with no ARN: the row's principal is null.
                let identity = if principal.is_empty() {
                    serde_json::json!({"type": "AWSService"})
                } else {
                    serde_json::json!({"type": "IAMUser", "arn": principal, "accountId": "1"})
                };
                serde_json::json!({
                    "eventVersion": "1.08", "eventTime": time, "eventSource": "s3.amazonaws.com",
                    "eventName": "ListBuckets", "awsRegion": "us-east-1", "eventID": id,
                    "userIdentity": identity,
                })
            })
            .collect();
        let text = serde_json::json!({ "Records": records }).to_string();
        crate::ingest::decode::decode_json(text.as_bytes(), Default::default()).expect("decodes")
    }

    fn ids(batches: &[RecordBatch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                let ids = b
                    .column_by_name("eventid")
                    .expect("eventid")
                    .as_string::<i32>();
                (0..ids.len())
                    .map(|i| ids.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn key_strategy() -> impl Strategy<Value = (String, String, String)> {
        // Times of one day that differ only past the 26th byte, or in their separator.
        let suffixes = [
            "T00:00:0{t}Z",
            "T00:00:0{t}.5Z",
            "T00:00:0{t}.000000000001Z",
            "T00:00:0{t}.000000000002Z",
            " 00:00:0{t}",
            "",
        ];
        (0u8..5, 1u8..3, 0u8..6, 0..suffixes.len(), 0u32..1_000_000).prop_map(
            move |(p, d, t, suffix, id)| {
                let time = format!(
                    "2024-03-0{d}{}",
                    suffixes[suffix].replace("{t}", &t.to_string())
                );
                (
                    // A null principal sorts first, as the empty text does in `sort_keys`.
                    if p == 4 {
                        String::new()
                    } else {
                        format!("arn:aws:iam::1:user/u{p}")
                    },
                    time,
                    format!("{id:08}"),
                )
            },
        )
    }

    /// The store's order: day, principal, time, event ID.
    fn sort_keys(rows: &mut [(String, String, String)]) {
        rows.sort_by(|a, b| (&a.1[..10], a).cmp(&(&b.1[..10], b)));
    }

    proptest! {
        #[test]
        fn merging_sorted_runs_equals_sorting_everything(
            runs in prop::collection::vec(prop::collection::vec(key_strategy(), 0..40), 0..6),
            rows_per_batch in 1usize..50,
            batch_rows in 1usize..15,
        ) {
            let mut expected: Vec<(String, String, String)> = runs.iter().flatten().cloned().collect();
            sort_keys(&mut expected);
            let sorted_runs: Vec<Vec<RecordBatch>> = runs
                .iter()
                .map(|run| {
                    let mut run = run.clone();
                    sort_keys(&mut run);
                    run.chunks(batch_rows).map(batch).collect()
                })
                .collect();
            let boxed: Vec<Run> = sorted_runs
                .into_iter()
                .map(|batches| Box::new(batches.into_iter().map(Ok)) as Run)
                .collect();
            let mut out = Vec::new();
            merge_sorted_runs(boxed, rows_per_batch, Path::new("test"), |b| {
                assert!(b.num_rows() <= rows_per_batch);
                out.push(b);
                Ok(())
            }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Equal keys may come in any order; their ids are equal too, so the id list is exact.
            let expected_ids: Vec<String> = expected.iter().map(|(_, _, id)| id.clone()).collect();
            let merged_keys: Vec<(String, String, String)> = out
                .iter()
                .flat_map(|b| {
                    let columns = sort_key_columns(b).expect("sort keys");
                    let strings: Vec<&StringArray> = columns.iter().map(|c| c.as_string::<i32>()).collect();
                    (0..b.num_rows()).map(move |i| {
                        (strings[1].value(i).to_string(), strings[2].value(i).to_string(), strings[3].value(i).to_string())
                    }).collect::<Vec<_>>()
                })
                .collect();
            prop_assert_eq!(&merged_keys, &expected);
            prop_assert_eq!(ids(&out), expected_ids);
        }

        #[test]
        fn sorting_several_batches_equals_sorting_their_rows(
            rows in prop::collection::vec(key_strategy(), 0..60),
            batch_rows in 1usize..15,
        ) {
            let mut expected = rows.clone();
            sort_keys(&mut expected);
            let batches: Vec<RecordBatch> = rows.chunks(batch_rows).map(batch).collect();
            let sorted = crate::store::sort_rows(batches)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected_ids: Vec<String> = expected.iter().map(|(_, _, id)| id.clone()).collect();
            prop_assert_eq!(ids(&[sorted]), expected_ids);
        }
    }
}
