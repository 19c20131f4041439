//! Rows waiting to be written, grouped by partition. When they outgrow the memory budget they are
//! spilled to Arrow IPC files beside the store (on the same disk, not in a RAM-backed temp folder), so
//! memory stays bounded by the budget and the largest single partition, whatever the input size.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use crate::ingest::schema;
use crate::store::{PartitionKey, StoreError};

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

    fn spill(&mut self) -> Result<(), StoreError> {
        for (key, batches) in std::mem::take(&mut self.in_memory) {
            let path = self
                .folder
                .path()
                .join(format!("{}.arrow", self.spill_files));
            self.spill_files += 1;
            let file = File::create(&path).map_err(|e| spill_error(&path, e))?;
            let mut writer = FileWriter::try_new(file, &schema::file_schema())
                .map_err(|e| spill_error(&path, e))?;
            for batch in &batches {
                writer.write(batch).map_err(|e| spill_error(&path, e))?;
            }
            writer.finish().map_err(|e| spill_error(&path, e))?;
            self.spilled.entry(key).or_default().push(path);
        }
        self.bytes = 0;
        Ok(())
    }

    pub fn partition_count(&self) -> usize {
        let mut keys: Vec<&PartitionKey> =
            self.in_memory.keys().chain(self.spilled.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.len()
    }

    /// Every partition with its rows: spilled ones are read back when the partition is taken, so only
    /// the partitions being written are in memory at once.
    pub fn into_partitions(mut self) -> (Vec<StagedPartition>, tempfile::TempDir) {
        let mut keys: Vec<PartitionKey> = self
            .in_memory
            .keys()
            .chain(self.spilled.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        let partitions = keys
            .into_iter()
            .map(|key| StagedPartition {
                in_memory: self.in_memory.remove(&key).unwrap_or_default(),
                spilled: self.spilled.remove(&key).unwrap_or_default(),
                key,
            })
            .collect();
        (partitions, self.folder)
    }
}

pub struct StagedPartition {
    pub key: PartitionKey,
    in_memory: Vec<RecordBatch>,
    spilled: Vec<PathBuf>,
}

impl StagedPartition {
    pub fn batches(self) -> Result<Vec<RecordBatch>, StoreError> {
        let mut batches = self.in_memory;
        for path in &self.spilled {
            let file = File::open(path).map_err(|e| spill_error(path, e))?;
            let reader = FileReader::try_new(file, None).map_err(|e| spill_error(path, e))?;
            for batch in reader {
                batches.push(batch.map_err(|e| spill_error(path, e))?);
            }
        }
        Ok(batches)
    }
}
