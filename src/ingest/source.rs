//! Where CloudTrail objects come from, and what their names say about them.
//!
//! Getting bytes is kept apart from decoding them: this module lists objects and reads their bytes;
//! [`super::decode`] turns bytes into rows.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::s3::{S3Entry, S3Listing, S3Source, S3Url, Window};

/// What a key in the `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>` layout says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub org: Option<String>,
    pub account: String,
    pub region: String,
    /// Delivery day, `YYYY-MM-DD`.
    pub date: String,
}

/// Why an object is not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    Digest,
    Insight,
    OtherAwsLog,
    NotJson,
    Hidden,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::Digest => "CloudTrail-Digest",
            SkipReason::Insight => "CloudTrail-Insight",
            SkipReason::OtherAwsLog => "not a CloudTrail log",
            SkipReason::NotJson => "not .json/.json.gz",
            SkipReason::Hidden => "hidden",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// A CloudTrail log object; `layout` is set when its key follows the AWSLogs layout.
    Log {
        layout: Option<Layout>,
    },
    Skip(SkipReason),
}

/// Classifies an object by its key (a `/`-separated path relative to the source root).
pub fn classify(key: &str) -> Classification {
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let Some(file_name) = parts.last() else {
        return Classification::Skip(SkipReason::NotJson);
    };
    if parts.iter().any(|p| p.starts_with('.')) {
        return Classification::Skip(SkipReason::Hidden);
    }
    if file_name.contains("_CloudTrail-Digest_") || parts.contains(&"CloudTrail-Digest") {
        return Classification::Skip(SkipReason::Digest);
    }
    if file_name.contains("_CloudTrail-Insight_") || parts.contains(&"CloudTrail-Insight") {
        return Classification::Skip(SkipReason::Insight);
    }
    let lower = file_name.to_ascii_lowercase();
    if !(lower.ends_with(".json") || lower.ends_with(".json.gz")) {
        return Classification::Skip(SkipReason::NotJson);
    }
    // The layout starts after `AWSLogs`, or at the root when the source is that folder itself.
    let aws_logs = parts.iter().rposition(|p| *p == "AWSLogs");
    let start = aws_logs.map_or(0, |aws_logs| aws_logs + 1);
    let mut rest = &parts[start..parts.len() - 1];
    let org = match rest.first() {
        Some(p) if p.starts_with("o-") => {
            let org = p.to_string();
            rest = &rest[1..];
            Some(org)
        }
        _ => None,
    };
    match rest {
        [account, "CloudTrail", region, year, month, day, ..] if is_account(account) => {
            let date = format!("{year}-{month}-{day}");
            let valid = crate::ingest::decode::day_of(&date).is_some();
            let layout = valid.then(|| Layout {
                org,
                account: account.to_string(),
                region: region.to_string(),
                date,
            });
            Classification::Log { layout }
        }
        [account, service, ..]
            if aws_logs.is_some() && is_account(account) && *service != "CloudTrail" =>
        {
            Classification::Skip(SkipReason::OtherAwsLog)
        }
        _ => Classification::Log { layout: None },
    }
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

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
}

#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<SourceObject>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Where the objects are downloaded from, when they are in S3.
    pub s3: Option<S3Source>,
}

impl Listing {
    /// Keeps the objects delivered in `window` (by their key's day), for `accounts` (all if
    /// empty). Objects whose key says neither are kept.
    pub fn retain(&mut self, window: &Window, accounts: &[String]) {
        self.objects.retain(|object| {
            object.layout.as_ref().is_none_or(|layout| {
                window.contains(&layout.date)
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
            s3: Some(source),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {path}: {source}")]
    Walk {
        path: String,
        source: walkdir::Error,
    },
    #[error("source {0} does not exist")]
    Missing(String),
}

/// Lists every file under `root`, recursively, in a stable order.
pub fn list_local(root: &Path) -> Result<Listing, SourceError> {
    if !root.exists() {
        return Err(SourceError::Missing(root.display().to_string()));
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut listing = Listing::default();
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker {
        let entry = entry.map_err(|source| SourceError::Walk {
            path: root.display().to_string(),
            source,
        })?;
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
            Classification::Log { layout } => {
                let metadata = entry.metadata().map_err(|source| SourceError::Walk {
                    path: entry.path().display().to_string(),
                    source,
                })?;
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos().to_string())
                    .unwrap_or_default();
                listing.objects.push(SourceObject {
                    location: entry.path().display().to_string(),
                    size: metadata.len(),
                    version: modified,
                    layout,
                    origin: Origin::Local(entry.path().to_path_buf()),
                });
            }
        }
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(org: Option<&str>, account: &str, region: &str, date: &str) -> Classification {
        Classification::Log {
            layout: Some(Layout {
                org: org.map(String::from),
                account: account.into(),
                region: region.into(),
                date: date.into(),
            }),
        }
    }

    #[test]
    fn classifies_keys() {
        let cases = [
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/111111111111_CloudTrail_us-east-1_20240301T0000Z_abc.json.gz",
                layout(None, "111111111111", "us-east-1", "2024-03-01"),
            ),
            (
                "prefix/AWSLogs/o-abc123/222222222222/CloudTrail/eu-west-1/2024/12/31/x.json",
                layout(Some("o-abc123"), "222222222222", "eu-west-1", "2024-12-31"),
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/03/01/111111111111_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T000000Z.json.gz",
                Classification::Skip(SkipReason::Digest),
            ),
            (
                "AWSLogs/111111111111/CloudTrail-Insight/us-east-1/2024/03/01/x.json.gz",
                Classification::Skip(SkipReason::Insight),
            ),
            (
                "AWSLogs/111111111111/elasticloadbalancing/us-east-1/2024/03/01/x.json.gz",
                Classification::Skip(SkipReason::OtherAwsLog),
            ),
            (
                "CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_W.json",
                Classification::Log { layout: None },
            ),
            ("some/dir/attack.JSON", Classification::Log { layout: None }),
            // A source that is the AWSLogs folder itself.
            (
                "111111111111/CloudTrail/us-east-1/2024/03/01/x.json.gz",
                layout(None, "111111111111", "us-east-1", "2024-03-01"),
            ),
            (
                "o-abc123/222222222222/CloudTrail/eu-west-1/2024/12/31/x.json",
                layout(Some("o-abc123"), "222222222222", "eu-west-1", "2024-12-31"),
            ),
            // Outside AWSLogs, a folder named like an account is not taken for another service's.
            (
                "111111111111/exports/x.json",
                Classification::Log { layout: None },
            ),
            ("README.md", Classification::Skip(SkipReason::NotJson)),
            ("logs/x.json.bz2", Classification::Skip(SkipReason::NotJson)),
            (".cache/x.json", Classification::Skip(SkipReason::Hidden)),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2024/02/30/x.json.gz",
                Classification::Log { layout: None },
            ),
            (
                "AWSLogs/1111/CloudTrail/us-east-1/2024/02/03/x.json.gz",
                Classification::Log { layout: None },
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(classify(key), expected, "{key}");
        }
    }
}
