//! Rows waiting to be written, grouped by partition. When they outgrow the memory budget they are
//! sorted and spilled to Arrow IPC files beside the store (on the same disk, not in a RAM-backed temp
//! folder): each spill is a sorted run, and a partition is written by merging its runs, so memory
//! stays bounded by the budget whatever the input size, however large one partition is.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use rayon::prelude::*;

use crate::ingest::schema;
use crate::store::{PartitionKey, Run, StoreError, merge_sorted_runs, sort_by_principal_and_time};

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
        self.bytes += batch.get_array_memory_size();
        self.in_memory.entry(key).or_default().push(batch);
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts and writes every partition's rows as one run each, the partitions in parallel, so that
    /// a spill keeps every core busy rather than stalling the decoders behind one thread.
    fn spill(&mut self) -> Result<(), StoreError> {
        let first = self.spill_files;
        let partitions: Vec<(PathBuf, PartitionKey, Vec<RecordBatch>)> =
            std::mem::take(&mut self.in_memory)
                .into_iter()
                .enumerate()
                .map(|(i, (key, batches))| {
                    let path = self.folder.path().join(format!("{}.arrow", first + i));
                    (path, key, batches)
                })
                .collect();
        self.spill_files += partitions.len();
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
        self.bytes = 0;
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
        let released: usize = in_memory.iter().map(|b| b.get_array_memory_size()).sum();
        self.bytes = self.bytes.saturating_sub(released);
        StagedPartition {
            in_memory,
            spilled: self.spilled.remove(&key).unwrap_or_default(),
            folder: self.folder.path().to_path_buf(),
            key,
        }
    }

    /// Takes out the partitions of `account` before day `open_from` (all of the account's when
    /// `None`), to be written now; except those in `held`, which stay until the end of the run.
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
                    && open_from.is_none_or(|open| key.day.as_str() < open)
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

/// Rows per batch of a spilled run: the merge holds one such batch per run it reads.
const SPILL_SLICE_ROWS: usize = 1024;
/// Most runs merged at once; more are first merged in groups into longer runs.
const MERGE_FAN_IN: usize = 16;
static MERGED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Writes the batches, sorted by principal and time, as one spilled run.
fn write_run(path: &Path, batches: &[RecordBatch]) -> Result<(), arrow::error::ArrowError> {
    let sorted = sort_by_principal_and_time(batches)?;
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

fn spilled_run(path: PathBuf) -> Result<Run<'static>, StoreError> {
    let file = File::open(&path).map_err(|e| spill_error(&path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| spill_error(&path, e))?;
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
        .iter()
        .cloned()
        .map(spilled_run)
        .collect::<Result<Vec<_>, _>>()?;
    let file = File::create(&path).map_err(|e| spill_error(&path, e))?;
    let mut writer =
        FileWriter::try_new(file, &schema::file_schema()).map_err(|e| spill_error(&path, e))?;
    merge_sorted_runs(runs, SPILL_SLICE_ROWS, &path, |batch| {
        writer.write(&batch).map_err(|e| spill_error(&path, e))
    })?;
    writer.finish().map_err(|e| spill_error(&path, e))?;
    for done in group {
        let _ = std::fs::remove_file(done);
    }
    Ok(path)
}

impl StagedPartition {
    /// Bytes of its rows held in memory (not counting the spilled ones).
    pub fn memory_bytes(&self) -> usize {
        self.in_memory
            .iter()
            .map(|b| b.get_array_memory_size())
            .sum()
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
            let sorted =
                sort_by_principal_and_time(&self.in_memory).map_err(|e| StoreError::Invalid {
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
