//! What the store keeps under `_ctidx/` besides summaries: the manifest of ingested objects, the
//! write lock, and the journal that lets a compaction interrupted halfway be finished by the next
//! writer.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::data_file::write_atomically;
use super::names::PartitionKey;
use super::{
    COMPACTION_JOURNAL, LOCK, MANIFEST, META_DIR, Store, StoreError, SummaryKind, io_error, s3,
};

/// What has been ingested: source object → its size and version when ingested.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub objects: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub size: u64,
    pub version: String,
    pub events: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CompactionJournal {
    partition: PathBuf,
    new_file: String,
    /// Names of the replaced files in `partition`.
    old_files: Vec<String>,
    /// Replaced files elsewhere in the store (the day folders of the earlier layout), as paths
    /// inside the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    moved_files: Vec<String>,
}

/// Holds the store's write lock until dropped: a locked file, or a lease on a lock object in S3.
#[derive(Debug)]
pub struct WriteLock {
    _file: Option<File>,
    lease: Option<s3::Lease>,
}

impl WriteLock {
    /// Fails when the lock is no longer held (a lease in S3 that could not be renewed), so that
    /// a writer that lost it records nothing more.
    pub(super) fn check(&self, store: &Store) -> Result<(), StoreError> {
        match &self.lease {
            Some(lease) if lease.is_lost() => {
                Err(StoreError::LostLock(store.root.display().to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl Store {
    /// Takes the exclusive write lock (creating the store if needed) and repairs what an interrupted
    /// writer left behind.
    pub fn lock_for_writing(&self) -> Result<WriteLock, StoreError> {
        if let Some(remote) = &self.remote {
            let lease = s3::Lease::acquire(Arc::clone(remote), &format!("{META_DIR}/{LOCK}"))?;
            let lock = WriteLock {
                _file: None,
                lease: Some(lease),
            };
            self.finish_compaction()?;
            return Ok(lock);
        }
        let meta = self.root.join(META_DIR);
        fs::create_dir_all(&meta).map_err(io_error(&meta))?;
        let path = self.meta(LOCK);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(self.root.display().to_string()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
        let lock = WriteLock {
            _file: Some(file),
            lease: None,
        };
        self.recover()?;
        self.remove_orphan_summaries(&lock)?;
        Ok(lock)
    }

    /// The data files that a compaction interrupted after its new file was in place has replaced:
    /// readers leave them out, and the next writer removes them. Reading this changes nothing.
    pub fn superseded_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        let path = self.meta(COMPACTION_JOURNAL);
        let text = if let Some(remote) = &self.remote {
            match remote.read(&format!("{META_DIR}/{COMPACTION_JOURNAL}"))? {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => return Ok(Vec::new()),
            }
        } else {
            match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io_error(&path)(e)),
            }
        };
        // A journal that cannot be read was never completed, so no old file was replaced.
        let Ok(journal) = serde_json::from_str::<CompactionJournal>(&text) else {
            return Ok(Vec::new());
        };
        let new_file_exists = match &self.remote {
            Some(remote) => remote.exists(&format!(
                "{}/{}",
                journal.partition.display(),
                journal.new_file
            ))?,
            None => self
                .root
                .join(&journal.partition)
                .join(&journal.new_file)
                .exists(),
        };
        if !new_file_exists {
            return Ok(Vec::new());
        }
        let dir = self.root.join(&journal.partition);
        Ok(journal
            .old_files
            .iter()
            .map(|old| dir.join(old))
            .chain(
                journal
                    .moved_files
                    .iter()
                    .map(|moved| self.root.join(moved)),
            )
            .collect())
    }

    /// [`Store::superseded_files`] as the object-store locations DataFusion lists them under.
    pub fn superseded_locations(&self) -> Result<Vec<String>, StoreError> {
        let files = self.superseded_files()?;
        Ok(match &self.remote {
            Some(remote) => files
                .iter()
                .filter_map(|file| file.strip_prefix(&self.root).ok())
                .map(|relative| remote.path(&relative.to_string_lossy()).to_string())
                .collect(),
            None => files
                .iter()
                .filter_map(|path| path.canonicalize().ok())
                .map(|path| path.to_string_lossy().trim_start_matches('/').to_string())
                .collect(),
        })
    }

    /// Records, before a compaction writes `new_file` into `key`'s folder, the files it replaces:
    /// `in_partition` (files of that folder) and `elsewhere` (files of other folders).
    pub(super) fn begin_compaction(
        &self,
        key: &PartitionKey,
        new_file: &str,
        in_partition: &[PathBuf],
        elsewhere: &[PathBuf],
    ) -> Result<(), StoreError> {
        let journal = CompactionJournal {
            partition: key.relative_dir(),
            new_file: new_file.to_string(),
            old_files: in_partition
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect(),
            moved_files: elsewhere.iter().map(|p| self.relative(p)).collect(),
        };
        let journal_bytes = serde_json::to_vec(&journal).map_err(|e| StoreError::Invalid {
            path: self.root.join(&journal.partition).display().to_string(),
            message: e.to_string(),
        })?;
        match &self.remote {
            Some(remote) => remote
                .put(
                    &format!("{META_DIR}/{COMPACTION_JOURNAL}"),
                    journal_bytes,
                    object_store::PutMode::Overwrite,
                )
                .map(|_| ()),
            None => write_atomically(&self.meta(COMPACTION_JOURNAL), &journal_bytes),
        }
    }

    /// Removes the files a compaction replaced, then its journal.
    pub(super) fn finish_compaction(&self) -> Result<(), StoreError> {
        if let Some(remote) = &self.remote {
            for path in self.superseded_files()? {
                remote.delete(&self.relative(&path))?;
                for kind in SummaryKind::ALL {
                    remote.delete(&self.relative(&self.summary_path(kind, &path)))?;
                }
            }
            return remote.delete(&format!("{META_DIR}/{COMPACTION_JOURNAL}"));
        }
        for path in self.superseded_files()? {
            let summaries = SummaryKind::ALL.map(|kind| self.summary_path(kind, &path));
            for path in summaries.into_iter().chain([path]) {
                if path.exists() {
                    fs::remove_file(&path).map_err(io_error(&path))?;
                }
            }
        }
        let journal_path = self.meta(COMPACTION_JOURNAL);
        if journal_path.exists() {
            fs::remove_file(&journal_path).map_err(io_error(&journal_path))?;
        }
        Ok(())
    }

    /// Repairs what an interrupted writer left: finishes a compaction, removes files written
    /// aside (`.*.tmp`) and everything in `_ctidx` but the manifest, the lock and the summaries
    /// (spilled rows). Summaries without their data file are removed after it.
    fn recover(&self) -> Result<(), StoreError> {
        self.finish_compaction()?;
        let meta = self.root.join(META_DIR);
        for entry in fs::read_dir(&meta).map_err(io_error(&meta))?.flatten() {
            let name = entry.file_name();
            if name == MANIFEST
                || name == LOCK
                || SummaryKind::ALL.iter().any(|kind| name == kind.folder())
            {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(io_error(&path))?;
        }
        for entry in walkdir::WalkDir::new(&self.root)
            .into_iter()
            .filter_entry(|entry| entry.file_name() != META_DIR)
            .filter_map(Result::ok)
        {
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file() && name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(entry.path()).map_err(io_error(entry.path()))?;
            }
        }
        Ok(())
    }

    pub fn manifest(&self) -> Result<Manifest, StoreError> {
        let path = self.meta(MANIFEST);
        let read = match &self.remote {
            Some(remote) => remote
                .read(&format!("{META_DIR}/{MANIFEST}"))?
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)),
            None => fs::read(&path),
        };
        match read {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid {
                path: path.display().to_string(),
                message: format!(
                    "unreadable manifest ({e}); rerun with --full to rebuild the store"
                ),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    pub fn save_manifest(&self, manifest: &Manifest, lock: &WriteLock) -> Result<(), StoreError> {
        lock.check(self)?;
        let path = self.meta(MANIFEST);
        let bytes = serde_json::to_vec(manifest).map_err(|e| StoreError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if let Some(remote) = &self.remote {
            // A PUT replaces an object whole: readers see the old manifest or the new one.
            remote.put(
                &format!("{META_DIR}/{MANIFEST}"),
                bytes,
                object_store::PutMode::Overwrite,
            )?;
            return Ok(());
        }
        write_atomically(&path, &bytes)
    }
}
