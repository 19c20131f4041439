//! The store's partitions and data files, found from folder names (or, in S3, key listings) alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::names::{
    PartitionKey, data_file_key, day_range_of_name, decode_value, encode_value, is_data_file,
    local_data_files_in,
};
use super::{META_DIR, Store, StoreError, io_error};

impl Store {
    /// Every partition with its data files, sorted.
    pub fn partitions(&self) -> Result<BTreeMap<PartitionKey, Vec<PathBuf>>, StoreError> {
        let mut partitions: BTreeMap<PartitionKey, Vec<PathBuf>> = BTreeMap::new();
        if let Some(remote) = &self.remote {
            for key in remote.keys("")? {
                let Some((account, folder)) = data_file_key(&key) else {
                    continue;
                };
                if folder.starts_with("day=") {
                    return Err(StoreError::DayLayout(self.root.display().to_string()));
                }
                let Some(month) = folder.strip_prefix("month=") else {
                    continue;
                };
                partitions
                    .entry(PartitionKey {
                        account,
                        month: month.to_string(),
                    })
                    .or_default()
                    .push(self.root.join(&key));
            }
            return Ok(partitions);
        }
        for (account, folder, path) in self.local_account_subfolders()? {
            if folder.starts_with("day=") {
                return Err(StoreError::DayLayout(self.root.display().to_string()));
            }
            let Some(month) = folder.strip_prefix("month=") else {
                continue;
            };
            let files = local_data_files_in(&path)?;
            if !files.is_empty() {
                partitions.insert(
                    PartitionKey {
                        account,
                        month: month.to_string(),
                    },
                    files,
                );
            }
        }
        Ok(partitions)
    }

    /// Each folder inside an `account=` folder of a local store: the account (decoded), the
    /// folder's name and its path.
    pub(super) fn local_account_subfolders(
        &self,
    ) -> Result<Vec<(String, String, PathBuf)>, StoreError> {
        let mut folders = Vec::new();
        for (account, folder) in self.account_folders()? {
            let account_path = self.root.join(&folder);
            for entry in fs::read_dir(&account_path)
                .map_err(io_error(&account_path))?
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                folders.push((account.clone(), name, entry.path()));
            }
        }
        Ok(folders)
    }

    /// Every partition, from the folder names alone: two levels of folders are read, not the
    /// thousands of month folders of a wide store. A month folder counts even if it holds no data
    /// file, which only a hand-made change to the store leaves.
    pub fn partition_keys(&self) -> Result<BTreeSet<PartitionKey>, StoreError> {
        let mut keys = BTreeSet::new();
        for (account, folder) in self.account_folders()? {
            keys.extend(
                self.months_in(&folder)?
                    .into_iter()
                    .map(|month| PartitionKey {
                        account: account.clone(),
                        month,
                    }),
            );
        }
        Ok(keys)
    }

    /// The partitions of one account, as [`Store::partition_keys`] finds them.
    pub fn account_partition_keys(
        &self,
        account: &str,
    ) -> Result<BTreeSet<PartitionKey>, StoreError> {
        let folder = format!("account={}", encode_value(account));
        Ok(self
            .months_in(&folder)?
            .into_iter()
            .map(|month| PartitionKey {
                account: account.to_string(),
                month,
            })
            .collect())
    }

    /// The days of `window` on which the store holds logs of `account`, from file names alone, when
    /// every file of the window's months names a single day (as a busy account's files do); `None`
    /// when some file holds several days, and only reading it can tell which.
    pub fn days_from_file_names(
        &self,
        account: &str,
        window: &crate::time::Window,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let (first_month, last_month) = (window.start_month_text(), window.end_month_text());
        let in_window = |month: &str| month >= first_month.as_str() && month <= last_month.as_str();
        // In S3, one listing of the account's objects rather than one per month.
        let files: Vec<PathBuf> = match &self.remote {
            Some(remote) => {
                let folder = format!("account={}", encode_value(account));
                remote
                    .keys(&format!("{folder}/"))?
                    .into_iter()
                    .filter(|key| {
                        data_file_key(key).is_some_and(|(_, folder)| {
                            folder.strip_prefix("month=").is_some_and(in_window)
                        })
                    })
                    .map(|key| self.root.join(key))
                    .collect()
            }
            None => {
                let mut files = Vec::new();
                for key in self.account_partition_keys(account)? {
                    if in_window(&key.month) {
                        files.extend(self.data_files(&key)?);
                    }
                }
                files
            }
        };
        let mut days = BTreeSet::new();
        for file in files {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            match name.as_deref().and_then(day_range_of_name) {
                Some((first, last)) if first == last => {
                    if window.contains_text(first) {
                        days.insert(first.to_string());
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(days.into_iter().collect()))
    }

    /// The accounts that have a folder in the store, in order.
    pub fn accounts(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .account_folders()?
            .into_iter()
            .map(|(account, _)| account)
            .collect())
    }

    /// Whether no partition holds a data file; stops at the first that does.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        if let Some(remote) = &self.remote {
            // One listing of the whole store, in key order: `_ctidx/` holds a handful of objects,
            // and the first data file ends it.
            return Ok(!remote.any_object("", |path| {
                !path.as_ref().contains(META_DIR) && is_data_file(Path::new(path.as_ref()))
            })?);
        }
        for (_, folder) in self.account_folders()? {
            for month in self.months_in(&folder)? {
                let month_path = self.root.join(&folder).join(format!("month={month}"));
                let Ok(entries) = fs::read_dir(&month_path) else {
                    continue;
                };
                if entries.flatten().any(|entry| is_data_file(&entry.path())) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Each `account=` folder: the account (decoded) and the folder's name.
    pub(super) fn account_folders(&self) -> Result<Vec<(String, String)>, StoreError> {
        let names = match &self.remote {
            Some(remote) => remote.folders("")?,
            None => {
                let Ok(entries) = fs::read_dir(&self.root) else {
                    return Ok(Vec::new());
                };
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            }
        };
        let mut accounts: Vec<(String, String)> = names
            .into_iter()
            .filter_map(|name| {
                let account = decode_value(name.strip_prefix("account=")?);
                Some((account, name))
            })
            .collect();
        accounts.sort();
        Ok(accounts)
    }

    /// The months of the `month=` folders in an account's folder; none when it does not exist. A
    /// `day=` folder is the layout of an earlier ctidx: an error says how to move the store on.
    fn months_in(&self, account_folder: &str) -> Result<Vec<String>, StoreError> {
        let names = match &self.remote {
            Some(remote) => remote.folders(account_folder)?,
            None => {
                let path = self.root.join(account_folder);
                let entries = match fs::read_dir(&path) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io_error(&path)(e)),
                };
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            }
        };
        if names.iter().any(|name| name.starts_with("day=")) {
            return Err(StoreError::DayLayout(self.root.display().to_string()));
        }
        let mut months: Vec<String> = names
            .iter()
            .filter_map(|name| name.strip_prefix("month=").map(str::to_string))
            .collect();
        months.sort();
        Ok(months)
    }

    pub fn data_files(&self, key: &PartitionKey) -> Result<Vec<PathBuf>, StoreError> {
        if let Some(remote) = &self.remote {
            let folder = self.relative(&self.root.join(key.relative_dir()));
            return Ok(remote
                .keys(&format!("{folder}/"))?
                .into_iter()
                .filter(|key| is_data_file(Path::new(key)))
                .map(|key| self.root.join(key))
                .collect());
        }
        let dir = self.root.join(key.relative_dir());
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        local_data_files_in(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::names::new_data_file_name;

    #[test]
    fn partitions_are_found_from_folder_names_and_emptiness_from_the_first_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        assert!(store.is_empty().expect("reads"), "no folder at all");
        let month = |account: &str, month: &str| {
            let path = dir
                .path()
                .join(format!("account={}", encode_value(account)))
                .join(format!("month={month}"));
            fs::create_dir_all(&path).expect("folder");
            path
        };
        month("111111111111", "2024-04");
        month("111111111111", "2024-03");
        let other = month("a b", "2024-03");
        fs::create_dir_all(dir.path().join("not-a-partition")).expect("folder");
        assert!(
            store.is_empty().expect("reads"),
            "folders without data files"
        );
        fs::write(other.join("part.parquet"), b"x").expect("file");
        assert!(!store.is_empty().expect("reads"));
        let key = |account: &str, month: &str| PartitionKey {
            account: account.into(),
            month: month.into(),
        };
        assert_eq!(
            store.partition_keys().expect("reads"),
            BTreeSet::from([
                key("111111111111", "2024-03"),
                key("111111111111", "2024-04"),
                key("a b", "2024-03"),
            ])
        );
        assert_eq!(
            store.account_partition_keys("a b").expect("reads"),
            BTreeSet::from([key("a b", "2024-03")])
        );
        assert!(
            store
                .account_partition_keys("222222222222")
                .expect("reads")
                .is_empty()
        );
    }

    #[test]
    fn days_with_logs_come_from_names_only_while_every_file_names_one_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let month = dir.path().join("account=111111111111/month=2024-03");
        fs::create_dir_all(&month).expect("folder");
        for day in ["2024-03-02", "2024-03-05", "2024-03-09"] {
            let days = (day.to_string(), day.to_string());
            fs::write(month.join(new_data_file_name(Some(&days))), b"x").expect("file");
        }
        let day = |text| crate::time::parse_day(text).expect("day");
        let window = crate::time::Window::new(Some(day("2024-03-03")), Some(day("2024-03-31")))
            .expect("window");
        assert_eq!(
            store
                .days_from_file_names("111111111111", &window)
                .expect("lists"),
            Some(vec!["2024-03-05".to_string(), "2024-03-09".to_string()])
        );
        assert_eq!(
            store
                .days_from_file_names("222222222222", &window)
                .expect("lists"),
            Some(vec![])
        );
        let several = ("2024-03-10".to_string(), "2024-03-12".to_string());
        fs::write(month.join(new_data_file_name(Some(&several))), b"x").expect("file");
        assert_eq!(
            store
                .days_from_file_names("111111111111", &window)
                .expect("lists"),
            None
        );
    }
}
