//! Rows waiting to be written, grouped by partition. When they outgrow the memory budget they are
//! sorted and spilled to Arrow IPC files beside the store (on the same disk, not in a RAM-backed temp
//! folder): each spill is a sorted run, and a partition is written by merging its runs, so memory
//! stays bounded by the budget whatever the input size, however large one partition is.

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

pub struct Staging {
    in_memory: BTreeMap<PartitionKey, Vec<RecordBatch>>,
    spilled: BTreeMap<PartitionKey, Vec<PathBuf>>,
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
            bytes: 0,
            budget,
            folder,
            spill_files: 0,
        })
    }

    pub fn push(&mut self, key: PartitionKey, batch: RecordBatch) -> Result<(), StoreError> {
        let batch = without_spare_capacity(batch).map_err(|e| StoreError::Invalid {
            path: key.relative_dir().display().to_string(),
            message: format!("cannot stage decoded rows: {e}"),
        })?;
        self.bytes += batch.get_array_memory_size();
        self.in_memory.entry(key).or_default().push(batch);
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts and writes partitions' rows as one run each, newest month first, until what stays in
    /// memory is at most half the budget. The oldest months are the next to close and be written, so
    /// their rows are kept: written from memory, they make no round trip through the disk. The
    /// chosen partitions are written in parallel, so that a spill keeps every core busy rather than
    /// stalling the decoders behind one thread.
    fn spill(&mut self) -> Result<(), StoreError> {
        let mut newest_first: Vec<PartitionKey> = self.in_memory.keys().cloned().collect();
        newest_first.sort_by(|a, b| {
            b.month
                .cmp(&a.month)
                .then_with(|| a.account.cmp(&b.account))
        });
        let mut partitions: Vec<(PathBuf, PartitionKey, Vec<RecordBatch>)> = Vec::new();
        for key in newest_first {
            if self.bytes <= self.budget / 2 {
                break;
            }
            let batches = self.in_memory.remove(&key).unwrap_or_default();
            self.bytes = self.bytes.saturating_sub(memory_bytes(&batches));
            let path = self
                .folder
                .path()
                .join(format!("{}.arrow", self.spill_files));
            self.spill_files += 1;
            partitions.push((path, key, batches));
        }
        let written: Vec<Result<(PartitionKey, PathBuf), StoreError>> = partitions
            .into_par_iter()
            .map(|(path, key, batches)| {
                write_run(&path, &batches).map_err(|e| spill_error(&path, e))?;
                Ok((key, path))
            })
            .collect();
        for result in written {
            let (key, path) = result?;
            self.spilled.entry(key).or_default().push(path);
        }
        Ok(())
    }

    /// The keys of every staged partition, in memory or spilled, in order.
    fn keys(&self) -> Vec<PartitionKey> {
        let mut keys: Vec<PartitionKey> = self
            .in_memory
            .keys()
            .chain(self.spilled.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Takes one partition's rows out of staging.
    fn take(&mut self, key: PartitionKey) -> StagedPartition {
        let in_memory = self.in_memory.remove(&key).unwrap_or_default();
        self.bytes = self.bytes.saturating_sub(memory_bytes(&in_memory));
        StagedPartition {
            in_memory,
            spilled: self.spilled.remove(&key).unwrap_or_default(),
            folder: self.folder.path().to_path_buf(),
            key,
        }
    }

    /// Takes out the partitions of `account` before the month of day `open_from` (all of the
    /// account's when `None`), to be written now; except those in `held`, which stay until the end
    /// of the run.
    pub fn take_closed(
        &mut self,
        account: &str,
        open_from: Option<&str>,
        held: &BTreeSet<PartitionKey>,
    ) -> Vec<StagedPartition> {
        self.keys()
            .into_iter()
            .filter(|key| {
                key.account == account
                    && open_from.is_none_or(|open| {
                        key.month.as_str() < crate::time::month_of_day(open).unwrap_or(open)
                    })
                    && !held.contains(key)
            })
            .map(|key| self.take(key))
            .collect()
    }

    pub fn partition_count(&self) -> usize {
        self.keys().len()
    }

    /// Every partition with its rows: spilled ones are read back when the partition is taken, so only
    /// the partitions being written are in memory at once.
    pub fn into_partitions(mut self) -> (Vec<StagedPartition>, tempfile::TempDir) {
        let partitions = self.keys().into_iter().map(|key| self.take(key)).collect();
        (partitions, self.folder)
    }
}

fn memory_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.get_array_memory_size()).sum()
}

/// The batch with its arrays' spare capacity given back. Decoded arrays keep what their builders
/// reserved, about 45% of their size on CloudTrail data; without it the budget counts, and memory
/// holds, only the rows themselves.
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
fn write_run(path: &Path, batches: &[RecordBatch]) -> Result<(), arrow::error::ArrowError> {
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

pub struct StagedPartition {
    pub key: PartitionKey,
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
            let sorted = sort_rows(&self.in_memory).map_err(|e| StoreError::Invalid {
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

    fn key(month: &str) -> PartitionKey {
        PartitionKey {
            account: "111111111111".into(),
            month: month.into(),
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
    fn a_spill_writes_the_newest_months_and_a_run_is_removed_once_opened() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let size = without_spare_capacity(day_batch("2024-03-01", 200))
            .expect("same columns")
            .get_array_memory_size();
        // Room for two and a half months: the third spills until at most half the budget is held.
        let mut staging = Staging::new(scratch.path(), size * 5 / 2).expect("staging");
        for month in ["2024-01", "2024-02", "2024-03"] {
            let day = format!("{month}-01");
            staging
                .push(key(month), day_batch(&day, 200))
                .expect("push");
        }
        let in_memory: Vec<&str> = staging.in_memory.keys().map(|k| k.month.as_str()).collect();
        let spilled: Vec<&str> = staging.spilled.keys().map(|k| k.month.as_str()).collect();
        assert_eq!(in_memory, ["2024-01"]);
        assert_eq!(spilled, ["2024-02", "2024-03"]);
        let folder = staging.folder.path().to_path_buf();
        assert_eq!(files_in(&folder), 2);

        let runs = staging.take(key("2024-03")).runs().expect("runs");
        assert_eq!(files_in(&folder), 1, "an opened run no longer has a name");
        let rows: usize = runs
            .into_iter()
            .flatten()
            .map(|batch| batch.expect("reads back").num_rows())
            .sum();
        assert_eq!(rows, 200);
        assert_eq!(staging.partition_count(), 2);
    }
}
