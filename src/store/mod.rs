//! The store: Hive-partitioned Parquet (`account=<id>/month=<YYYY-MM>/part-*.parquet`) that any
//! Parquet reader understands, plus ctidx's own bookkeeping under `_ctidx/` (ignored by readers, as
//! names starting with `_` are).
//!
//! A data file appears whole or not at all: it is written under a dot-name ending in `.tmp` and
//! renamed into place. Before a partition gets a new file, the event IDs already stored there are
//! removed from it, so re-ingesting after a crash never duplicates an event.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::AHashSet;
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use schema::column;

use crate::ingest::s3::{ConnectOptions, S3Error, S3Url};

pub mod activity;
mod bookkeeping;
mod data_file;
mod day_layout;
pub mod ddl;
mod listing;
mod merge;
mod names;
mod order;
pub mod s3;
pub mod schema;
pub mod summaries;
pub use bookkeeping::{Manifest, ManifestEntry, WriteLock};
use data_file::{FileLayout, ParquetFile, parquet_run, write_atomically};
pub use data_file::{PAGE_INDEXED_COLUMNS, SMALL_FILE_ROWS, read_parquet};
pub use merge::{Run, merge_sorted_runs};
pub use names::{DayRange, PartitionKey, day_range_of_name};
use names::{day_range_of_file, is_data_file, new_data_file_name, new_file_name};
pub use order::{principal_column, sort_rows};
pub use summaries::SummaryKind;

const META_DIR: &str = "_ctidx";
const MANIFEST: &str = "manifest.json";
const COMPACTION_JOURNAL: &str = "compaction.json";
const LOCK: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("store file {path}")]
    Parquet {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("store file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("store {0} is being written by another ctidx process; wait for it to finish")]
    Busy(String),
    #[error("store {location}: {detail}")]
    Remote { location: String, detail: String },
    #[error(
        "store {0}: the write lock could not be renewed, and another writer may hold it now; nothing more was recorded\n  hint: run again: what was not recorded is read again"
    )]
    LostLock(String),
    #[error(
        "store {0} holds one folder per day (day=YYYY-MM-DD), the layout of an earlier ctidx; this one writes and reads one folder per month (month=YYYY-MM)\n  hint: run `ctidx compact` once to move the store to the month layout"
    )]
    DayLayout(String),
}

fn parquet_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> StoreError + '_ {
    move |source| StoreError::Parquet {
        path: path.display().to_string(),
        source,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Where the store is when it is in S3 (`root` is then its `s3://` URL, for messages).
    remote: Option<Arc<s3::S3Store>>,
}

impl Store {
    /// The store in the folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            remote: None,
        }
    }

    /// The store at `location`: a folder, or `s3://BUCKET/PREFIX`, reached with the usual AWS
    /// settings and `options`.
    pub fn open(location: &Path, options: &ConnectOptions) -> Result<Store, S3Error> {
        match location.to_str().filter(|text| S3Url::is_s3(text)) {
            Some(text) => {
                let url = S3Url::parse(text)?;
                let remote = s3::S3Store::connect(url, options)?;
                Ok(Store {
                    root: location.to_path_buf(),
                    remote: Some(Arc::new(remote)),
                })
            }
            None => Ok(Store::new(location)),
        }
    }

    /// The store's bucket and prefix, when it is in S3.
    pub fn remote(&self) -> Option<&s3::S3Store> {
        self.remote.as_deref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn meta(&self, name: &str) -> PathBuf {
        self.root.join(META_DIR).join(name)
    }

    /// `path` (under the store's root) as a `/`-separated path inside the store.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A folder on the store's disk for a writer's temporary files (for a store in S3, a
    /// temporary folder of this process).
    pub fn scratch_dir(&self) -> Result<PathBuf, StoreError> {
        if let Some(remote) = &self.remote {
            return remote.scratch_dir();
        }
        let path = self.root.join(META_DIR);
        fs::create_dir_all(&path).map_err(io_error(&path))?;
        Ok(path)
    }

    /// Removes every partition and the manifest (`ingest --full`).
    pub fn clear(&self, _lock: &WriteLock) -> Result<(), StoreError> {
        if let Some(remote) = &self.remote {
            let lock = format!("{META_DIR}/{LOCK}");
            for key in remote.keys("")? {
                if key != lock {
                    remote.delete(&key)?;
                }
            }
            return Ok(());
        }
        for (_, folder) in self.account_folders()? {
            let account_path = self.root.join(folder);
            if !account_path.is_dir() {
                continue;
            }
            // Partitions of either layout; anything else in the folder stays, and so does it.
            for entry in fs::read_dir(&account_path)
                .map_err(io_error(&account_path))?
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("month=") || name.starts_with("day=") {
                    let dir = entry.path();
                    fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
                }
            }
            let _ = fs::remove_dir(&account_path);
        }
        for kind in SummaryKind::ALL {
            let summaries = self.summaries_root(kind);
            if summaries.exists() {
                fs::remove_dir_all(&summaries).map_err(io_error(&summaries))?;
            }
        }
        let manifest = self.meta(MANIFEST);
        if manifest.exists() {
            fs::remove_file(&manifest).map_err(io_error(&manifest))?;
        }
        Ok(())
    }

    /// Event IDs stored in `files` (one column read per file).
    pub fn event_ids(&self, files: &[PathBuf]) -> Result<EventIds, StoreError> {
        let mut ids = EventIds::default();
        for path in files {
            if let Some(remote) = &self.remote {
                // Only the eventid column chunk (and the footer) is fetched.
                remote.read_text_column(&self.relative(path), column::EVENT_ID, |id| {
                    ids.insert(id);
                })?;
                continue;
            }
            let file = self.open_data_file(path)?;
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
            let Some(index) = builder
                .parquet_schema()
                .columns()
                .iter()
                .position(|c| c.name() == column::EVENT_ID)
            else {
                return Err(StoreError::Invalid {
                    path: path.display().to_string(),
                    message: "no eventid column".into(),
                });
            };
            let mask = ProjectionMask::leaves(builder.parquet_schema(), [index]);
            let reader = builder
                .with_projection(mask)
                .build()
                .map_err(parquet_error(path))?;
            for batch in reader {
                let batch = batch.map_err(|e| StoreError::Invalid {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let column = batch.column(0).as_string::<i32>();
                for id in column.iter().flatten() {
                    ids.insert(id);
                }
            }
        }
        Ok(ids)
    }

    /// Merges `runs` (each sorted by day, principal and time), drops events already in `known_ids` (and
    /// repeats among the runs), and writes what remains as one new file of the partition, streaming:
    /// memory holds about one batch per run, whatever the partition's size. Returns the rows written
    /// and the new file, if any row was left to write.
    pub fn write_partition(
        &self,
        key: &PartitionKey,
        days: Option<&DayRange>,
        runs: Vec<Run<'_>>,
        known_ids: &mut EventIds,
        _lock: &WriteLock,
    ) -> Result<(usize, Option<PathBuf>), StoreError> {
        let dir = self.root.join(key.relative_dir());
        let mut file: Option<ParquetFile> = None;
        let mut rows = 0;
        merge::merge_sorted_runs(runs, merge::MERGED_BATCH_ROWS, &dir, |batch| {
            let batch = drop_known_events(&batch, known_ids).map_err(|e| StoreError::Invalid {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
            if batch.num_rows() == 0 {
                return Ok(());
            }
            let file = match &mut file {
                Some(file) => file,
                None => file.insert(self.create_data_file(
                    &dir.join(new_data_file_name(days)),
                    FileLayout::for_rows(batch.num_rows()),
                )?),
            };
            rows += batch.num_rows();
            file.write(&batch)
        })?;
        let Some(file) = file else {
            return Ok((rows, None));
        };
        let path = file.path.clone();
        file.commit()?;
        Ok((rows, Some(path)))
    }

    /// A data file of the store, opened for reading (for a store in S3, a local copy that is gone
    /// once closed).
    fn open_data_file(&self, path: &Path) -> Result<File, StoreError> {
        let Some(remote) = &self.remote else {
            return File::open(path).map_err(io_error(path));
        };
        let scratch = remote.scratch_dir()?;
        let copy = tempfile::NamedTempFile::new_in(&scratch).map_err(io_error(&scratch))?;
        remote.download(&self.relative(path), copy.path())?;
        copy.reopen().map_err(io_error(path))
    }

    /// A new data file at `path` that appears there whole when committed (for a store in S3,
    /// written in the scratch folder, then uploaded).
    fn create_data_file(&self, path: &Path, layout: FileLayout) -> Result<ParquetFile, StoreError> {
        let Some(remote) = &self.remote else {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
            return ParquetFile::create(path, None, layout, self.summary_builders(path));
        };
        let local = remote.scratch_dir()?.join(new_file_name());
        ParquetFile::create(
            &local,
            Some((Arc::clone(remote), self.relative(path))),
            layout,
            self.summary_builders(path),
        )
    }

    /// Merges a partition's files into one (crash-safe through a journal). Returns files merged.
    pub fn compact_partition(
        &self,
        key: &PartitionKey,
        lock: &WriteLock,
    ) -> Result<usize, StoreError> {
        let files = self.data_files(key)?;
        if files.len() < 2 {
            return Ok(files.len());
        }
        self.merge_files(key, &files, &[], lock)
    }

    /// Merges `in_partition` (files of `key`'s folder) and `elsewhere` (files of other folders) into
    /// one new file of `key`, through the compaction journal. Returns the files merged.
    fn merge_files(
        &self,
        key: &PartitionKey,
        in_partition: &[PathBuf],
        elsewhere: &[PathBuf],
        lock: &WriteLock,
    ) -> Result<usize, StoreError> {
        let files: Vec<&PathBuf> = in_partition.iter().chain(elsewhere).collect();
        let (runs, rows): (Vec<Run<'_>>, Vec<usize>) = files
            .iter()
            .map(|path| parquet_run(self.open_data_file(path)?, path))
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .unzip();
        let dir = self.root.join(key.relative_dir());
        let ranges: Option<Vec<DayRange>> = files.iter().map(|f| day_range_of_file(f)).collect();
        let days = ranges.and_then(|ranges| {
            let first = ranges.iter().map(|(first, _)| first).min()?.clone();
            let last = ranges.iter().map(|(_, last)| last).max()?.clone();
            Some((first, last))
        });
        let name = new_data_file_name(days.as_ref());
        self.begin_compaction(key, &name, in_partition, elsewhere)?;
        let layout = FileLayout::for_rows(rows.iter().sum());
        let mut file = self.create_data_file(&dir.join(&name), layout)?;
        let mut seen = EventIds::default();
        merge::merge_sorted_runs(runs, merge::MERGED_BATCH_ROWS, &dir, |batch| {
            let batch = drop_known_events(&batch, &mut seen).map_err(|e| StoreError::Invalid {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
            file.write(&batch)
        })?;
        lock.check(self)?;
        file.commit()?;
        self.finish_compaction()?;
        Ok(files.len())
    }
}

/// The event IDs of a partition, each kept as its 128-bit XXH3 hash: 16 bytes rather than a heap
/// string, so a partition of millions of events costs tens of MB. Two distinct IDs share a hash with
/// probability about n²/2^129: below 10^-18 for ten billion events in one partition. The set hashes
/// them again with aHash (randomly keyed, as the IDs come from the logs), not the standard SipHash,
/// which cost more than XXH3 itself.
#[derive(Default)]
pub struct EventIds(AHashSet<u128>);

impl EventIds {
    /// Adds the ID; false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        self.0.insert(xxhash_rust::xxh3::xxh3_128(id.as_bytes()))
    }
}

fn drop_known_events(
    batch: &RecordBatch,
    known_ids: &mut EventIds,
) -> Result<RecordBatch, ArrowError> {
    let ids = schema::text_column(batch, column::EVENT_ID)?;
    let keep: BooleanArray = (0..ids.len())
        .map(|row| Some(ids.is_null(row) || known_ids.insert(ids.value(row))))
        .collect();
    if keep.true_count() == keep.len() {
        return Ok(batch.clone());
    }
    filter_record_batch(batch, &keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_known_once() {
        let mut ids = EventIds::default();
        assert!(ids.insert("3f1c0a4e-0000-4000-8000-000000000001"));
        assert!(ids.insert("3f1c0a4e-0000-4000-8000-000000000002"));
        assert!(!ids.insert("3f1c0a4e-0000-4000-8000-000000000001"));
        assert!(ids.insert(""));
        assert!(!ids.insert(""));
        let many: Vec<String> = (0..100_000).map(|i| format!("event-{i}")).collect();
        assert!(many.iter().all(|id| ids.insert(id)));
        assert!(many.iter().all(|id| !ids.insert(id)));
    }
}
