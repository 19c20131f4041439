//! Stores of the earlier day layout (`account=…/day=YYYY-MM-DD/`): found, and moved once into
//! month partitions by `ctidx compact`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use super::names::{data_file_key, local_data_files_in};
use super::{PartitionKey, Store, StoreError, WriteLock};

impl Store {
    /// The data files of a store in the day layout of an earlier ctidx (`account=…/day=…/`), by
    /// the month partition each moves to.
    pub fn day_layout_files(&self) -> Result<BTreeMap<PartitionKey, Vec<PathBuf>>, StoreError> {
        let mut moving: BTreeMap<PartitionKey, Vec<PathBuf>> = BTreeMap::new();
        let mut add = |account: String, day: &str, path: PathBuf| {
            let month = crate::time::month_of_day(day).unwrap_or("unknown");
            moving
                .entry(PartitionKey {
                    account,
                    month: month.to_string(),
                })
                .or_default()
                .push(path);
        };
        if let Some(remote) = &self.remote {
            for key in remote.keys("")? {
                if let Some((account, folder)) = data_file_key(&key)
                    && let Some(day) = folder.strip_prefix("day=")
                {
                    add(account, day, self.root.join(&key));
                }
            }
        } else {
            for (account, folder, path) in self.local_account_subfolders()? {
                if let Some(day) = folder.strip_prefix("day=") {
                    for file in local_data_files_in(&path)? {
                        add(account.clone(), day, file);
                    }
                }
            }
        }
        for files in moving.values_mut() {
            files.sort();
        }
        Ok(moving)
    }

    /// Moves the files of one month of the day layout ([`Store::day_layout_files`]) into its month
    /// partition, merged with the files already there into one (crash-safe through the same journal
    /// as a compaction). Returns the files merged.
    pub fn move_day_files(
        &self,
        key: &PartitionKey,
        day_files: &[PathBuf],
        lock: &WriteLock,
    ) -> Result<usize, StoreError> {
        let in_partition = self.data_files(key)?;
        let merged = self.merge_files(key, &in_partition, day_files, lock)?;
        if self.remote.is_none() {
            // The day folders are empty now; one holding anything else stays, and says so.
            for folder in day_files.iter().filter_map(|file| file.parent()) {
                let _ = fs::remove_dir(folder);
            }
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::path::Path;

    use parquet::arrow::ArrowWriter;

    use super::super::schema::{self, column};
    use super::super::{day_range_of_name, new_file_name, read_parquet};
    use super::*;

    /// A data file as an earlier ctidx wrote it, into `account=…/day=…`: without the `day` column.
    fn write_day_layout_file(root: &Path, account: &str, day: &str, ids: &[&str]) {
        let records: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                serde_json::json!({
                    "eventVersion": "1.08", "eventTime": format!("{day}T10:00:00Z"),
                    "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "eventID": id,
                    "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/{id}")},
                })
            })
            .collect();
        let text = serde_json::json!({ "Records": records }).to_string();
        let batch = crate::ingest::decode::decode_json(text.as_bytes(), Default::default())
            .expect("decodes");
        let day_column = batch.schema().index_of(column::DAY).expect("day column");
        let batch = batch
            .project(&(0..day_column).collect::<Vec<_>>())
            .expect("projects");
        let dir = root
            .join(format!("account={account}"))
            .join(format!("day={day}"));
        fs::create_dir_all(&dir).expect("folder");
        let file = File::create(dir.join(new_file_name())).expect("file");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("writes");
        writer.close().expect("closes");
    }

    #[test]
    fn compact_moves_a_store_of_day_folders_into_month_partitions() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_day_layout_file(dir.path(), "111111111111", "2024-03-02", &["b", "c"]);
        write_day_layout_file(dir.path(), "111111111111", "2024-03-01", &["a", "c"]);
        write_day_layout_file(dir.path(), "111111111111", "2024-04-01", &["d"]);
        write_day_layout_file(dir.path(), "222222222222", "2024-03-01", &["e"]);
        let store = Store::new(dir.path());
        assert!(store.partitions().is_err(), "refused before the move");
        let lock = store.lock_for_writing().expect("lock");
        let moving = store.day_layout_files().expect("lists");
        assert_eq!(moving.len(), 3);
        for (key, files) in &moving {
            store.move_day_files(key, files, &lock).expect("moves");
        }
        assert!(store.day_layout_files().expect("lists").is_empty());
        let partitions = store.partitions().expect("month layout");
        let march = &partitions[&PartitionKey {
            account: "111111111111".into(),
            month: "2024-03".into(),
        }];
        let name = march[0].file_name().expect("name").to_string_lossy();
        assert_eq!(day_range_of_name(&name), Some(("2024-03-01", "2024-03-02")));
        let mut rows = Vec::new();
        for (key, files) in &partitions {
            assert_eq!(files.len(), 1, "{key:?}");
            for batch in read_parquet(&files[0]).expect("reads") {
                let ids = schema::text_column(&batch, column::EVENT_ID).expect("ids");
                let days = schema::text_column(&batch, column::DAY).expect("days");
                for row in 0..batch.num_rows() {
                    rows.push((
                        key.account.clone(),
                        key.month.clone(),
                        days.value(row).to_string(),
                        ids.value(row).to_string(),
                    ));
                }
            }
        }
        let row = |account: &str, month: &str, day: &str, id: &str| {
            (account.into(), month.into(), day.into(), id.into())
        };
        // Sorted by day first; the repeated event "c" is stored once.
        assert_eq!(
            rows,
            vec![
                row("111111111111", "2024-03", "2024-03-01", "a"),
                row("111111111111", "2024-03", "2024-03-01", "c"),
                row("111111111111", "2024-03", "2024-03-02", "b"),
                row("111111111111", "2024-04", "2024-04-01", "d"),
                row("222222222222", "2024-03", "2024-03-01", "e"),
            ]
        );
    }

    #[test]
    fn a_store_with_day_folders_is_refused_with_how_to_move_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let day = dir
            .path()
            .join("account=111111111111")
            .join("day=2024-03-01");
        fs::create_dir_all(&day).expect("folder");
        fs::write(day.join("part.parquet"), b"x").expect("file");
        let store = Store::new(dir.path());
        for error in [
            store.is_empty().map(|_| ()),
            store.partition_keys().map(|_| ()),
            store.partitions().map(|_| ()),
        ] {
            let message = error.expect_err("refused").to_string();
            assert!(message.contains("day=YYYY-MM-DD"), "{message}");
            assert!(message.contains("ctidx compact"), "{message}");
        }
    }
}
