//! Where the store keeps its data: a partition's folder, a data file's name and the days it names,
//! and which files are data files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{StoreError, io_error};

/// One partition of the store: an account's events of one UTC month. One folder per month, not
/// per day, so that a quiet account's few events a day make a file a month, not a file a day (each
/// Parquet file carries kilobytes of metadata whatever its size). Within a file rows are sorted by
/// day first, so a window of days still reads only its own pages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub account: String,
    /// `YYYY-MM`.
    pub month: String,
}

impl PartitionKey {
    /// Relative directory, with the account percent-encoded unless it is plainly safe.
    pub fn relative_dir(&self) -> PathBuf {
        PathBuf::from(format!("account={}", encode_value(&self.account)))
            .join(format!("month={}", self.month))
    }
}

/// What Hive-style escaping leaves as it is: `[A-Za-z0-9_-]`.
const PARTITION_VALUE_ESCAPES: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');

/// Hive-style escaping: anything but `[A-Za-z0-9_-]` becomes `%XX`, so no value can name another
/// directory (`..`, `/`) or hide itself (leading `.`).
pub(super) fn encode_value(value: &str) -> String {
    if value.is_empty() {
        return "%00".into();
    }
    percent_encoding::utf8_percent_encode(value, PARTITION_VALUE_ESCAPES).to_string()
}

pub(super) fn decode_value(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

static FILE_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A data file's key in a remote store, `account=…/FOLDER/NAME`: the account (decoded) and the
/// folder; `None` for any other key.
pub(super) fn data_file_key(key: &str) -> Option<(String, &str)> {
    let mut parts = key.split('/');
    let (Some(account), Some(folder), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let account = account.strip_prefix("account=")?;
    is_data_file(Path::new(name)).then(|| (decode_value(account), folder))
}

/// The data files of a local folder, sorted.
pub(super) fn local_data_files_in(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_error(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_data_file(p))
        .collect();
    files.sort();
    Ok(files)
}

pub(super) fn is_data_file(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.ends_with(".parquet") && !n.starts_with('.') && !n.starts_with('_'))
}

pub(super) fn new_file_name() -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let sequence = FILE_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("part-{now}-{}-{sequence}.parquet", std::process::id())
}

/// The first and last day of a file's rows, inclusive.
pub type DayRange = (String, String);

/// A new data file's name, naming the days its rows hold when they are known
/// (`part-…_2024-03-01_2024-03-31.parquet`): a query for a window of days leaves out the files of
/// its month that hold none of them without opening them ([`day_range_of_name`]).
pub(super) fn new_data_file_name(days: Option<&DayRange>) -> String {
    let name = new_file_name();
    match days {
        Some((first, last)) if is_day_text(first) && is_day_text(last) => {
            format!(
                "{}_{first}_{last}.parquet",
                name.trim_end_matches(".parquet")
            )
        }
        _ => name,
    }
}

fn is_day_text(text: &str) -> bool {
    crate::time::day_text(text) == Some(text)
}

/// The days a data file's name says its rows hold, if it says.
pub fn day_range_of_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix(".parquet")?;
    let (rest, last) = stem.rsplit_once('_')?;
    let (_, first) = rest.rsplit_once('_')?;
    (is_day_text(first) && is_day_text(last)).then_some((first, last))
}

/// The days a data file holds: from its name, or from the `day=` folder of the earlier layout.
pub(super) fn day_range_of_file(path: &Path) -> Option<DayRange> {
    let name = path.file_name()?.to_str()?;
    if let Some((first, last)) = day_range_of_name(name) {
        return Some((first.to_string(), last.to_string()));
    }
    let folder = path.parent()?.file_name()?.to_str()?;
    let day = folder.strip_prefix("day=")?;
    is_day_text(day).then(|| (day.to_string(), day.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_cannot_escape_the_store() {
        let cases = [
            ("111111111111", "111111111111"),
            ("../../etc", "%2E%2E%2F%2E%2E%2Fetc"),
            (".hidden", "%2Ehidden"),
            ("", "%00"),
            ("a b/c", "a%20b%2Fc"),
        ];
        for (value, encoded) in cases {
            assert_eq!(encode_value(value), encoded);
            if !value.is_empty() {
                assert_eq!(decode_value(encoded), value);
            }
        }
    }

    #[test]
    fn a_data_file_name_says_which_days_it_holds() {
        let days = ("2024-03-01".to_string(), "2024-03-31".to_string());
        let name = new_data_file_name(Some(&days));
        assert!(name.starts_with("part-") && name.ends_with("_2024-03-01_2024-03-31.parquet"));
        assert!(is_data_file(Path::new(&name)));
        assert_eq!(day_range_of_name(&name), Some(("2024-03-01", "2024-03-31")));
        let unknown = ("unknown".to_string(), "unknown".to_string());
        assert_eq!(day_range_of_name(&new_data_file_name(Some(&unknown))), None);
        assert_eq!(day_range_of_name(&new_data_file_name(None)), None);
        assert_eq!(
            day_range_of_name("part-x_2024-02-30_2024-03-01.parquet"),
            None
        );
        let old = Path::new("account=1/day=2024-03-02/part-x.parquet");
        assert_eq!(
            day_range_of_file(old),
            Some(("2024-03-02".to_string(), "2024-03-02".to_string()))
        );
    }
}
