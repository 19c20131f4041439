//! Where CloudTrail objects come from: local folders and S3 listings.
//!
//! Getting bytes is kept apart from decoding them: this module lists objects and reads their bytes;
//! [`super::decode`] turns bytes into rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Failure;
use super::keys::{Classification, Layout, SkipReason, classify, keep_deliveries};
use super::s3::{S3Entry, S3Listing, S3Source, S3Url};
use crate::time::Window;

/// One object to ingest.
#[derive(Debug, Clone)]
pub struct SourceObject {
    /// Where it is: an absolute local path or an `s3://bucket/key` URL. Names it in messages and in
    /// the manifest.
    pub location: String,
    pub size: u64,
    /// Modification time (local) or ETag (S3): with `size`, tells whether it changed since ingested.
    pub version: String,
    pub layout: Option<Layout>,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Origin {
    Local(PathBuf),
    /// Fetched by the listing's [`S3Source`].
    S3 {
        key: String,
    },
}

impl SourceObject {
    /// The order ingest reads objects in: by account, delivery day and region (objects outside the
    /// `AWSLogs` layout first), then by location, so that partitions close one after another.
    pub fn delivery_order(a: &SourceObject, b: &SourceObject) -> std::cmp::Ordering {
        fn key(object: &SourceObject) -> Option<(&str, &str, &str)> {
            let layout = object.layout.as_ref()?;
            Some((&layout.account, &layout.date, &layout.region))
        }
        key(a)
            .cmp(&key(b))
            .then_with(|| a.location.cmp(&b.location))
    }

    /// An object of an S3 listing.
    pub fn s3(url: &S3Url, entry: S3Entry) -> SourceObject {
        SourceObject {
            location: url.location(&entry.key),
            size: entry.size,
            version: entry.version,
            layout: entry.layout,
            origin: Origin::S3 { key: entry.key },
        }
    }

    #[cfg(test)]
    pub fn for_test(layout: Option<Layout>) -> SourceObject {
        SourceObject {
            location: "test".into(),
            size: 0,
            version: String::new(),
            layout,
            origin: Origin::Local(PathBuf::from("test")),
        }
    }

    /// The key of an S3 object.
    pub fn s3_key(&self) -> Option<&str> {
        match &self.origin {
            Origin::S3 { key } => Some(key),
            Origin::Local(_) => None,
        }
    }

    /// Reads a local object; S3 objects are downloaded by [`S3Source::download`].
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        match &self.origin {
            Origin::Local(path) => std::fs::read(path),
            Origin::S3 { .. } => Err(std::io::Error::other("an S3 object is not read locally")),
        }
    }

    /// Asks the kernel to start reading a local object's file into memory, so that the decoder
    /// that takes it soon finds it there instead of waiting on the disk. Only a hint: a file that
    /// cannot be opened now is reported when it is read.
    pub fn read_ahead(&self) {
        #[cfg(target_os = "linux")]
        if let Origin::Local(path) = &self.origin
            && let Ok(file) = std::fs::File::open(path)
        {
            let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::WillNeed);
        }
    }
}

#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<SourceObject>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Paths that could not be listed (an unreadable folder, a symlink loop); the rest was listed.
    pub failures: Vec<Failure>,
    /// Where the objects are downloaded from, when they are in S3.
    pub s3: Option<S3Source>,
}

impl Listing {
    /// Keeps the objects delivered in `window` (by their key's day), for `accounts` (all if
    /// empty). Objects whose key says neither are kept.
    pub fn retain(&mut self, window: &Window, accounts: &[String]) {
        self.objects.retain(|object| {
            object.layout.as_ref().is_none_or(|layout| {
                window.contains_text(&layout.date)
                    && (accounts.is_empty() || accounts.contains(&layout.account))
            })
        });
    }

    /// The objects of an S3 listing, to be downloaded from `source`.
    pub fn from_s3(url: &S3Url, listing: S3Listing, source: S3Source) -> Listing {
        Listing {
            objects: listing
                .entries
                .into_iter()
                .map(|entry| SourceObject::s3(url, entry))
                .collect(),
            skipped: listing.skipped,
            failures: Vec::new(),
            s3: Some(source),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {0} does not exist")]
    Missing(String),
}

/// Lists every file under `root`, recursively, in a stable order. A path that cannot be read is
/// reported in the listing's failures; the walk goes on.
pub fn list_local(root: &Path) -> Result<Listing, SourceError> {
    if !root.exists() {
        return Err(SourceError::Missing(root.display().to_string()));
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut listing = Listing::default();
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                listing.failures.push(walk_failure(&root, &error));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(&root).unwrap_or(entry.path());
        let key = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let key = if key.is_empty() {
            entry.file_name().to_string_lossy().into_owned()
        } else {
            key
        };
        match classify(&key) {
            Classification::Skip(reason) => *listing.skipped.entry(reason).or_default() += 1,
            Classification::Log { layout, in_layout } => {
                let metadata = match entry.metadata() {
                    Ok(metadata) => metadata,
                    Err(error) => {
                        listing.failures.push(walk_failure(&root, &error));
                        continue;
                    }
                };
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos().to_string())
                    .unwrap_or_default();
                let object = SourceObject {
                    location: entry.path().display().to_string(),
                    size: metadata.len(),
                    version: modified,
                    layout,
                    origin: Origin::Local(entry.path().to_path_buf()),
                };
                found.push((object, in_layout));
            }
        }
    }
    listing.objects = keep_deliveries(found, &mut listing.skipped);
    Ok(listing)
}

/// A path the walk could not read, named in full, with why (without the path again).
fn walk_failure(root: &Path, error: &walkdir::Error) -> Failure {
    let location = error.path().unwrap_or(root).display().to_string();
    let reason = if let Some(ancestor) = error.loop_ancestor() {
        format!("symbolic link loop back to {}", ancestor.display())
    } else if let Some(io) = error.io_error() {
        format!("cannot read: {io}")
    } else {
        error.to_string()
    };
    Failure {
        location,
        error: reason,
    }
}
