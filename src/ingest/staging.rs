//! Rows waiting to be written, grouped by account and day. When they outgrow the memory budget they
//! are sorted and spilled to Arrow IPC files beside the store (on the same disk, not in a RAM-backed
//! temp folder): each spill is a sorted run, and a file is written by merging its runs, so memory
//! stays bounded by the budget whatever the input size, however large one partition is.
//!
//! Closed days are written in order as soon as consecutive days of a month hold [`FILE_ROWS`] rows:
//! a busy day is a file of its own, a quieter account's days share one; the days of a month left
//! when it closes are written together, so that a quiet account's month is one file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use rayon::prelude::*;

use crate::store::schema;
use crate::store::{PartitionKey, Run, StoreError, merge_sorted_runs, sort_rows};

/// Rows at which consecutive closed days are written as one file (about 16 MiB of decoded rows):
/// a busy day alone, a quieter account's days a few at a time. Each file carries its own
/// dictionaries, footer and summaries: on 300k generated events (5,000 a day in each of two
/// accounts) a file per day made the store 20% larger than a file per month.
pub const FILE_ROWS: usize = 16 * 1024;

/// An account's rows of one UTC day: what is staged together.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayKey {
    pub account: String,
    /// `YYYY-MM-DD`, or `unknown`.
    pub day: String,
}

impl DayKey {
    /// The partition the day belongs to.
    pub fn partition(&self) -> PartitionKey {
        PartitionKey {
            account: self.account.clone(),
            month: crate::time::month_of_day(&self.day)
                .unwrap_or("unknown")
                .to_string(),
        }
    }
}

pub struct Staging {
    in_memory: BTreeMap<DayKey, Vec<RecordBatch>>,
    spilled: BTreeMap<DayKey, Vec<PathBuf>>,
    rows: BTreeMap<DayKey, usize>,
    bytes: usize,
    budget: usize,
    folder: tempfile::TempDir,
    spill_files: usize,
}

fn spill_error(path: &Path, error: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid {
        path: path.display().to_string(),
        message: format!("cannot spill rows to disk: {error}"),
    }
}

impl Staging {
    /// `scratch` is a folder on the store's disk; a crash may leave a `.spill-*` folder there, which
    /// the store removes on its next write.
    pub fn new(scratch: &Path, budget: usize) -> Result<Staging, StoreError> {
        let folder = tempfile::Builder::new()
            .prefix(".spill-")
            .tempdir_in(scratch)
            .map_err(|e| spill_error(scratch, e))?;
        Ok(Staging {
            in_memory: BTreeMap::new(),
            spilled: BTreeMap::new(),
            rows: BTreeMap::new(),
            bytes: 0,
            budget,
            folder,
            spill_files: 0,
        })
    }

    pub fn push(&mut self, key: DayKey, batch: RecordBatch) -> Result<(), StoreError> {
        let batch = without_spare_capacity(batch).map_err(|e| StoreError::Invalid {
            path: key.partition().relative_dir().display().to_string(),
            message: format!("cannot stage decoded rows: {e}"),
        })?;
        self.bytes += batch.get_array_memory_size();
        *self.rows.entry(key.clone()).or_default() += batch.num_rows();
        self.in_memory.entry(key).or_default().push(batch);
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts and writes days' rows, newest day first, until what stays in memory is at most half the
    /// budget. The oldest days are the next to close and be written, so their rows are kept: written
    /// from memory, they make no round trip through the disk. Each day is written as runs of at most
    /// a quarter of the budget ([`SPILL_RUN_SHARE`]), sorted in parallel, so that a spill keeps
    /// every core busy rather than stalling the decoders behind one thread, even when one busy day
    /// is all it writes.
    fn spill(&mut self) -> Result<(), StoreError> {
        let mut newest_first: Vec<DayKey> = self.in_memory.keys().cloned().collect();
        newest_first.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.account.cmp(&b.account)));
        let mut runs: Vec<(PathBuf, DayKey, Vec<RecordBatch>)> = Vec::new();
        for key in newest_first {
            if self.bytes <= self.budget / 2 {
                break;
            }
            let batches = self.in_memory.remove(&key).unwrap_or_default();
            self.bytes = self.bytes.saturating_sub(memory_bytes(&batches));
            for run in groups_of_at_most(batches, self.budget / SPILL_RUN_SHARE) {
                let path = self
                    .folder
                    .path()
                    .join(format!("{}.arrow", self.spill_files));
                self.spill_files += 1;
                runs.push((path, key.clone(), run));
            }
        }
        let written: Vec<Result<(DayKey, PathBuf), StoreError>> = runs
            .into_par_iter()
            .map(|(path, key, batches)| {
                write_run(&path, batches).map_err(|e| spill_error(&path, e))?;
                Ok((key, path))
            })
            .collect();
        for result in written {
            let (key, path) = result?;
            self.spilled.entry(key).or_default().push(path);
        }
        Ok(())
    }

    /// The keys of every staged day, in memory or spilled, in order.
    fn keys(&self) -> Vec<DayKey> {
        let mut keys: Vec<DayKey> = self
            .in_memory
            .keys()
            .chain(self.spilled.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Takes days' rows out of staging, as one file of their partition (the days are of one month).
    fn take(&mut self, days: Vec<DayKey>) -> StagedPartition {
        let mut in_memory = Vec::new();
        let mut spilled = Vec::new();
        for day in &days {
            let batches = self.in_memory.remove(day).unwrap_or_default();
            self.bytes = self.bytes.saturating_sub(memory_bytes(&batches));
            in_memory.extend(batches);
            spilled.extend(self.spilled.remove(day).unwrap_or_default());
            self.rows.remove(day);
        }
        let key = days.first().map(DayKey::partition).unwrap_or(PartitionKey {
            account: String::new(),
            month: String::new(),
        });
        StagedPartition {
            key,
            days,
            in_memory,
            spilled,
            folder: self.folder.path().to_path_buf(),
        }
    }

    /// Takes out, to be written now, the days of `account` before day `open_from` (all of the
    /// account's when `None`) that are ready: consecutive days of a month as one file once they hold
    /// [`FILE_ROWS`] rows, and the rest of each month before `open_from`'s as one file. Days in
    /// `held` stay until the end of the run, and so do the last days of `open_from`'s month that
    /// hold fewer rows.
    pub fn take_closed(
        &mut self,
        account: &str,
        open_from: Option<&str>,
        held: &BTreeSet<DayKey>,
    ) -> Vec<StagedPartition> {
        let open_month = open_from.map(|open| crate::time::month_of_day(open).unwrap_or(open));
        let month_closed = |days: &[DayKey]| {
            days.first().is_some_and(|first| {
                open_month.is_none_or(|open| first.partition().month.as_str() < open)
            })
        };
        let mut files = Vec::new();
        let mut group: Vec<DayKey> = Vec::new();
        let mut group_rows = 0;
        for key in self.keys() {
            if key.account != account
                || open_from.is_some_and(|open| key.day.as_str() >= open)
                || held.contains(&key)
            {
                continue;
            }
            if group
                .first()
                .is_some_and(|first| first.partition() != key.partition())
            {
                let month = std::mem::take(&mut group);
                if month_closed(&month) {
                    files.push(month);
                }
                group_rows = 0;
            }
            group_rows += self.rows.get(&key).copied().unwrap_or_default();
            group.push(key);
            if group_rows >= FILE_ROWS {
                files.push(std::mem::take(&mut group));
                group_rows = 0;
            }
        }
        if month_closed(&group) {
            files.push(group);
        }
        files.into_iter().map(|days| self.take(days)).collect()
    }

    pub fn partition_count(&self) -> usize {
        self.keys()
            .iter()
            .map(DayKey::partition)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Every staged day, as one file per partition: spilled rows are read back when the file is
    /// written, so only the files being written are in memory at once.
    pub fn into_partitions(mut self) -> (Vec<StagedPartition>, tempfile::TempDir) {
        let mut by_partition: BTreeMap<PartitionKey, Vec<DayKey>> = BTreeMap::new();
        for key in self.keys() {
            by_partition.entry(key.partition()).or_default().push(key);
        }
        let partitions = by_partition
            .into_values()
            .map(|days| self.take(days))
            .collect();
        (partitions, self.folder)
    }
}

/// One spilled run holds at most the budget divided by this: a quarter. When days outgrow the budget
/// (5M generated events: a day of one account is about 80 MiB of rows), a spill of the newest day as
/// one run, of up to the whole budget, is sorted on one thread while the decoders wait. Runs of a
/// quarter are sorted two at a time, and each holds less while it is sorted. 5M events, default
/// budget, 5 alternated runs: peak 455-481 MiB against 466-512, wall 0.978x. An eighth of the
/// budget peaked lower still (438 MiB) but took 5% more time, with more runs to merge.
const SPILL_RUN_SHARE: usize = 4;

/// `batches` in consecutive groups of at most `limit` bytes; a batch larger than `limit` is a group
/// of its own.
fn groups_of_at_most(batches: Vec<RecordBatch>, limit: usize) -> Vec<Vec<RecordBatch>> {
    let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
    let mut group_bytes = 0;
    for batch in batches {
        let bytes = batch.get_array_memory_size();
        match groups.last_mut() {
            Some(group) if group_bytes + bytes <= limit => group.push(batch),
            _ => {
                groups.push(vec![batch]);
                group_bytes = 0;
            }
        }
        group_bytes += bytes;
    }
    groups
}

fn memory_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.get_array_memory_size()).sum()
}

/// The batch with its arrays' spare capacity given back, so that the budget counts the rows
/// themselves. Decoded arrays keep what their builders reserved, about 45% of their size on
/// CloudTrail data. The allocator moves a block only when it shrinks to less than half, so memory
/// still holds more than the budget counts: on 1M generated events, 1,260 MiB of blocks for 895 MiB
/// of staged rows over the run.
fn without_spare_capacity(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let (schema, mut columns, rows) = batch.into_parts();
    for column in &mut columns {
        if let Some(array) = Arc::get_mut(column) {
            array.shrink_to_fit();
        }
    }
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
}

/// Rows per batch of a spilled run: the merge holds one such batch per run it reads.
const SPILL_SLICE_ROWS: usize = 1024;
/// Most runs merged at once; more are first merged in groups into longer runs.
const MERGE_FAN_IN: usize = 16;
static MERGED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Writes the batches, sorted by day, principal and time, as one spilled run.
fn write_run(path: &Path, batches: Vec<RecordBatch>) -> Result<(), arrow::error::ArrowError> {
    let sorted = sort_rows(batches)?;
    let mut writer = FileWriter::try_new(File::create(path)?, &schema::file_schema())?;
    // Written in slices so that reading the run back holds one slice at a time.
    let mut offset = 0;
    while offset < sorted.num_rows() {
        let length = SPILL_SLICE_ROWS.min(sorted.num_rows() - offset);
        writer.write(&sorted.slice(offset, length))?;
        offset += length;
    }
    writer.finish()
}

/// Staged rows to be written as one file of the partition `key`.
pub struct StagedPartition {
    pub key: PartitionKey,
    /// The days whose rows these are, in order.
    pub days: Vec<DayKey>,
    in_memory: Vec<RecordBatch>,
    spilled: Vec<PathBuf>,
    folder: PathBuf,
}

/// A spilled run, read once: its name is removed as soon as it is open, so its disk space is freed
/// when the reader is done with it, not at the end of the run. (Where an open file cannot be
/// removed, the staging folder's removal at the end frees it.)
fn spilled_run(path: PathBuf) -> Result<Run<'static>, StoreError> {
    let file = File::open(&path).map_err(|e| spill_error(&path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| spill_error(&path, e))?;
    let _ = std::fs::remove_file(&path);
    Ok(Box::new(reader.map(move |batch| {
        batch.map_err(|e| spill_error(&path, e))
    })))
}

/// Merges spilled runs into one longer spilled run.
fn merge_spills(group: Vec<PathBuf>, folder: &Path) -> Result<PathBuf, StoreError> {
    let path = folder.join(format!(
        "merged-{}.arrow",
        MERGED_RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let runs = group
        .into_iter()
        .map(spilled_run)
        .collect::<Result<Vec<_>, _>>()?;
    let file = File::create(&path).map_err(|e| spill_error(&path, e))?;
    let mut writer =
        FileWriter::try_new(file, &schema::file_schema()).map_err(|e| spill_error(&path, e))?;
    merge_sorted_runs(runs, SPILL_SLICE_ROWS, &path, |batch| {
        writer.write(&batch).map_err(|e| spill_error(&path, e))
    })?;
    writer.finish().map_err(|e| spill_error(&path, e))?;
    Ok(path)
}

impl StagedPartition {
    /// Bytes of its rows held in memory (not counting the spilled ones).
    pub fn memory_bytes(&self) -> usize {
        memory_bytes(&self.in_memory)
    }

    /// The partition's rows as at most [`MERGE_FAN_IN`] sorted runs (what is still in memory, then
    /// the spills, read back slice by slice as the merge asks for them), so that writing the
    /// partition holds a bounded number of slices whatever its size.
    pub fn runs(self) -> Result<Vec<Run<'static>>, StoreError> {
        let mut spilled = self.spilled;
        while spilled.len() + 1 > MERGE_FAN_IN {
            let group: Vec<PathBuf> = spilled.drain(..MERGE_FAN_IN).collect();
            spilled.push(merge_spills(group, &self.folder)?);
        }
        let mut runs: Vec<Run<'static>> = Vec::new();
        if !self.in_memory.is_empty() {
            let sorted = sort_rows(self.in_memory).map_err(|e| StoreError::Invalid {
                path: self.key.relative_dir().display().to_string(),
                message: format!("cannot sort staged rows: {e}"),
            })?;
            runs.push(Box::new(std::iter::once(Ok(sorted))));
        }
        for path in spilled {
            runs.push(spilled_run(path)?);
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    fn key(day: &str) -> DayKey {
        DayKey {
            account: "111111111111".into(),
            day: day.into(),
        }
    }

    fn day_batch(day: &str, rows: usize) -> RecordBatch {
        let records: Vec<serde_json::Value> = (0..rows)
            .map(|n| {
                serde_json::json!({
                    "eventVersion": "1.08", "eventTime": format!("{day}T10:00:00Z"),
                    "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
                    "eventID": format!("{day}-{n}"),
                    "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::1:user/u{n}")},
                })
            })
            .collect();
        let text = serde_json::json!({ "Records": records }).to_string();
        crate::ingest::decode::decode_json(text.as_bytes(), Default::default()).expect("decodes")
    }

    /// What `rows` rows of one day count for in staging.
    fn staged_size(rows: usize) -> usize {
        without_spare_capacity(day_batch("2024-03-01", rows))
            .expect("same columns")
            .get_array_memory_size()
    }

    fn files_in(folder: &Path) -> usize {
        std::fs::read_dir(folder).expect("staging folder").count()
    }

    #[test]
    fn spare_capacity_is_given_back_and_rows_are_unchanged() {
        let batch = day_batch("2024-03-01", 300);
        let size = batch.get_array_memory_size();
        let tight = without_spare_capacity(batch).expect("same columns");
        assert_eq!(tight, day_batch("2024-03-01", 300));
        assert!(tight.get_array_memory_size() < size);
    }

    #[test]
    fn a_spill_writes_the_newest_days_and_a_run_is_removed_once_opened() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let size = staged_size(200);
        // Room for two and a half days: the third spills until at most half the budget is held.
        let mut staging = Staging::new(scratch.path(), size * 5 / 2).expect("staging");
        for day in ["2024-03-01", "2024-03-02", "2024-03-03"] {
            staging.push(key(day), day_batch(day, 200)).expect("push");
        }
        let in_memory: Vec<&str> = staging.in_memory.keys().map(|k| k.day.as_str()).collect();
        let spilled: Vec<&str> = staging.spilled.keys().map(|k| k.day.as_str()).collect();
        assert_eq!(in_memory, ["2024-03-01"]);
        assert_eq!(spilled, ["2024-03-02", "2024-03-03"]);
        let folder = staging.folder.path().to_path_buf();
        assert_eq!(files_in(&folder), 2);

        let runs = staging.take(vec![key("2024-03-03")]).runs().expect("runs");
        assert_eq!(files_in(&folder), 1, "an opened run no longer has a name");
        let rows: usize = runs
            .into_iter()
            .flatten()
            .map(|batch| batch.expect("reads back").num_rows())
            .sum();
        assert_eq!(rows, 200);
        assert_eq!(staging.partition_count(), 1);
    }

    #[test]
    fn a_day_larger_than_a_quarter_of_the_budget_spills_as_several_sorted_runs() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let size = staged_size(50);
        // Nine batches of one day pass the budget; a quarter of it holds two of them.
        let mut staging = Staging::new(scratch.path(), size * 17 / 2).expect("staging");
        for _ in 0..9 {
            staging
                .push(key("2024-03-01"), day_batch("2024-03-01", 50))
                .expect("push");
        }
        assert!(staging.in_memory.is_empty());
        assert_eq!(staging.spilled[&key("2024-03-01")].len(), 5);
        assert_eq!(files_in(staging.folder.path()), 5);

        let runs = staging.take(vec![key("2024-03-01")]).runs().expect("runs");
        assert_eq!(runs.len(), 5);
        let mut rows = 0;
        for run in runs {
            let batches: Vec<RecordBatch> = run.map(|batch| batch.expect("reads back")).collect();
            let principals: Vec<String> = batches
                .iter()
                .flat_map(|batch| {
                    let identity = batch.column_by_name("useridentity").expect("identity");
                    let arns = identity.as_struct().column_by_name("arn").expect("arn");
                    let arns = arns.as_string::<i32>().iter().flatten();
                    arns.map(str::to_string).collect::<Vec<_>>()
                })
                .collect();
            assert!(principals.is_sorted(), "a run is sorted by principal");
            rows += principals.len();
        }
        assert_eq!(rows, 9 * 50);
    }

    #[test]
    fn closed_days_are_written_as_they_reach_a_file_and_the_rest_waits_for_its_month() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let mut staging = Staging::new(scratch.path(), usize::MAX).expect("staging");
        for (day, rows) in [
            ("2024-03-30", 10),
            ("2024-03-31", FILE_ROWS),
            ("2024-04-01", 10),
            ("2024-04-02", FILE_ROWS / 2),
            ("2024-04-03", FILE_ROWS / 2),
            ("2024-04-04", 10),
            ("2024-04-05", 10),
        ] {
            staging.push(key(day), day_batch(day, rows)).expect("push");
        }
        let days = |files: &[StagedPartition]| -> Vec<Vec<String>> {
            files
                .iter()
                .map(|f| f.days.iter().map(|d| d.day.clone()).collect())
                .collect()
        };
        let none = BTreeSet::new();
        // April 2 still open: March's days reach a file together, and March is closed.
        let closed = staging.take_closed("111111111111", Some("2024-04-02"), &none);
        assert_eq!(days(&closed), [vec!["2024-03-30", "2024-03-31"]]);
        assert_eq!(closed[0].key.month, "2024-03");
        // April 5 open: April 1 to 3 reach a file; April 4 waits, its month being open.
        let closed = staging.take_closed("111111111111", Some("2024-04-05"), &none);
        assert_eq!(
            days(&closed),
            [vec!["2024-04-01", "2024-04-02", "2024-04-03"]]
        );
        let held = BTreeSet::from([key("2024-04-05")]);
        let closed = staging.take_closed("111111111111", None, &held);
        assert_eq!(days(&closed), [vec!["2024-04-04"]]);
        let (rest, _folder) = staging.into_partitions();
        assert_eq!(days(&rest), [vec!["2024-04-05"]]);
    }
}
