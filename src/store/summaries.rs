//! What ctidx writes beside each data file, under `_ctidx/<kind>/` with the data file's partition
//! folders and name, so that some questions read far fewer rows than the events:
//!
//! * activity summaries ([`super::activity`]): calls counted by day, principal and kind of call;
//! * session openings: the file's rows that can have opened a role session, with the columns
//!   `sql/session_events.sql` reads (of a JSON document, the values at the paths it reads), which
//!   otherwise scans every event of the window for them.
//!
//! A summary is put in place before its data file, and removed with it. The summaries of a kind
//! answer for the store only when every data file has one and every one its data file
//! ([`Store::summaries_complete`]); otherwise readers read the events.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::schema::{self, column};
use super::{
    META_DIR, Store, StoreError, WriteLock, activity, io_error, is_data_file, parquet_error,
    parquet_run, s3, write_atomically,
};
use crate::json_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryKind {
    Activity,
    SessionOpenings,
}

impl SummaryKind {
    pub const ALL: [SummaryKind; 2] = [SummaryKind::Activity, SummaryKind::SessionOpenings];

    /// Its folder in `_ctidx`.
    pub fn folder(self) -> &'static str {
        match self {
            SummaryKind::Activity => activity::ACTIVITY_DIR,
            SummaryKind::SessionOpenings => "sessions",
        }
    }
}

/// The event names that open a role session, by event source: a row of any other kind, or one
/// with an error code, cannot be kept by `sql/session_events.sql`.
const SESSION_OPENINGS: [(&str, &str); 4] = [
    ("sts.amazonaws.com", "AssumeRole"),
    ("sts.amazonaws.com", "AssumeRoleWithSAML"),
    ("sts.amazonaws.com", "AssumeRoleWithWebIdentity"),
    ("signin.amazonaws.com", "SwitchRole"),
];

/// The columns `sql/session_events.sql` reads (beside the partition columns): what the session
/// openings keep of each row.
const OPENING_COLUMNS: [&str; 9] = [
    column::DAY,
    column::EVENT_SOURCE,
    column::EVENT_NAME,
    "errorcode",
    "sharedeventid",
    column::USER_IDENTITY,
    "requestparameters",
    "responseelements",
    "additionaleventdata",
];

/// The JSON paths `sql/session_events.sql` reads of the JSON columns of [`OPENING_COLUMNS`]: what
/// the openings keep of their documents. A role's session token alone is most of the bytes of the
/// response that returned it.
const OPENING_JSON_PATHS: [(&str, &[&str]); 3] = [
    ("requestparameters", &["$.roleArn"]),
    (
        "responseelements",
        &[
            "$.credentials.accessKeyId",
            "$.assumedRoleUser.arn",
            "$.SwitchRole",
        ],
    ),
    ("additionaleventdata", &["$.SwitchFrom"]),
];

/// The steps of a JSON column's kept paths; None when one of them does not parse.
type KeptSteps = Option<Vec<Vec<json_path::Step>>>;

/// [`OPENING_JSON_PATHS`] as steps, parsed once. A column whose paths did not all parse is kept
/// whole (the unit tests check that they do).
static OPENING_JSON_STEPS: LazyLock<Vec<(&str, KeptSteps)>> = LazyLock::new(|| {
    OPENING_JSON_PATHS
        .iter()
        .map(|(column, paths)| {
            (
                *column,
                paths.iter().map(|path| json_path::parse(path)).collect(),
            )
        })
        .collect()
});

/// `column` with each document reduced to the values at `steps`.
fn keep_read_json(
    column: &ArrayRef,
    steps: &[Vec<json_path::Step>],
) -> Result<ArrayRef, ArrowError> {
    let documents = column.as_string_opt::<i32>().ok_or_else(|| {
        ArrowError::SchemaError(format!("a JSON column of type {}", column.data_type()))
    })?;
    let kept: StringArray = documents
        .iter()
        .map(|document| {
            document.map(|text| json_path::keep_only(text, steps).unwrap_or_else(|| text.into()))
        })
        .collect();
    Ok(Arc::new(kept))
}

/// The columns of a session openings file: the store's, but only [`OPENING_COLUMNS`].
pub fn openings_schema() -> arrow::datatypes::SchemaRef {
    static SCHEMA: std::sync::LazyLock<arrow::datatypes::SchemaRef> =
        std::sync::LazyLock::new(|| {
            let file = schema::file_schema();
            let indices: Vec<usize> = file
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, field)| OPENING_COLUMNS.contains(&field.name().as_str()))
                .map(|(index, _)| index)
                .collect();
            std::sync::Arc::new(file.project(&indices).unwrap_or_else(|_| (*file).clone()))
        });
    std::sync::Arc::clone(&SCHEMA)
}

/// The rows of a data file that can have opened a role session.
#[derive(Default)]
pub struct OpeningsBuilder {
    rows: Vec<RecordBatch>,
}

impl OpeningsBuilder {
    fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let source = schema::text_column(batch, column::EVENT_SOURCE)?;
        let name = schema::text_column(batch, column::EVENT_NAME)?;
        let error = schema::text_column(batch, "errorcode")?;
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|row| {
                Some(
                    error.is_null(row)
                        && source.is_valid(row)
                        && name.is_valid(row)
                        && SESSION_OPENINGS.contains(&(source.value(row), name.value(row))),
                )
            })
            .collect();
        let kept = filter_record_batch(batch, &keep)?;
        if kept.num_rows() > 0 {
            let columns = openings_schema()
                .fields()
                .iter()
                .map(|field| {
                    let column = kept.column_by_name(field.name()).ok_or_else(|| {
                        ArrowError::SchemaError(format!("no column {}", field.name()))
                    })?;
                    match OPENING_JSON_STEPS
                        .iter()
                        .find(|(name, _)| name == field.name())
                    {
                        Some((_, Some(steps))) => keep_read_json(column, steps),
                        _ => Ok(column.clone()),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.rows
                .push(RecordBatch::try_new(openings_schema(), columns)?);
        }
        Ok(())
    }

    /// Zstandard throughout: the openings are mostly JSON of one shape (the calls' parameters and
    /// responses), which compresses well across rows.
    fn into_parquet(self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .build();
        let options = ArrowWriterOptions::new()
            .with_properties(properties)
            .with_skip_arrow_metadata(true);
        let mut writer = ArrowWriter::try_new_with_options(Vec::new(), openings_schema(), options)?;
        for batch in &self.rows {
            writer.write(batch)?;
        }
        writer.into_inner()
    }
}

/// A summary being built.
pub enum SummaryBuilder {
    Activity(activity::SummaryBuilder),
    SessionOpenings(OpeningsBuilder),
}

impl SummaryBuilder {
    fn new(kind: SummaryKind) -> SummaryBuilder {
        match kind {
            SummaryKind::Activity => SummaryBuilder::Activity(Default::default()),
            SummaryKind::SessionOpenings => SummaryBuilder::SessionOpenings(Default::default()),
        }
    }

    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            SummaryBuilder::Activity(builder) => builder.add(batch),
            SummaryBuilder::SessionOpenings(builder) => builder.add(batch),
        }
    }

    pub fn into_parquet(self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        match self {
            SummaryBuilder::Activity(builder) => builder.into_parquet(),
            SummaryBuilder::SessionOpenings(builder) => builder.into_parquet(),
        }
    }
}

/// Puts a summary's bytes at `at`: a key of `remote`, or without one a path on disk.
pub(super) fn put_summary(
    remote: Option<&s3::S3Store>,
    at: &str,
    bytes: Vec<u8>,
) -> Result<(), StoreError> {
    if let Some(remote) = remote {
        remote.put(at, bytes, object_store::PutMode::Overwrite)?;
        return Ok(());
    }
    let path = Path::new(at);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    write_atomically(path, &bytes)
}

impl Store {
    pub(super) fn summaries_root(&self, kind: SummaryKind) -> PathBuf {
        self.root.join(META_DIR).join(kind.folder())
    }

    /// Where the summary of `kind` of the data file at `path` goes.
    pub(super) fn summary_path(&self, kind: SummaryKind, path: &Path) -> PathBuf {
        self.summaries_root(kind).join(self.relative(path))
    }

    /// Where a summary at `path` is put: the path itself, or for a store in S3 its key.
    fn summary_location(&self, path: &Path) -> String {
        match &self.remote {
            Some(_) => self.relative(path),
            None => path.display().to_string(),
        }
    }

    /// A builder of each kind of summary for the data file at `path`, with where it goes.
    pub(super) fn summary_builders(&self, path: &Path) -> Vec<(SummaryBuilder, String)> {
        SummaryKind::ALL
            .into_iter()
            .map(|kind| {
                let at = self.summary_location(&self.summary_path(kind, path));
                (SummaryBuilder::new(kind), at)
            })
            .collect()
    }

    /// The summaries of `kind`, as paths inside their folder (`account=…/month=…/NAME`), with the
    /// names of files written aside (`.*.tmp`) on disk.
    pub(super) fn summary_files(&self, kind: SummaryKind) -> Result<BTreeSet<String>, StoreError> {
        let prefix = format!("{META_DIR}/{}/", kind.folder());
        if let Some(remote) = &self.remote {
            return Ok(remote
                .keys(&prefix)?
                .into_iter()
                .filter_map(|key| key.strip_prefix(&prefix).map(str::to_string))
                .collect());
        }
        let root = self.summaries_root(kind);
        Ok(walkdir::WalkDir::new(&root)
            .min_depth(3)
            .max_depth(3)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .filter_map(|entry| {
                let relative = entry.path().strip_prefix(&root).ok()?;
                Some(
                    relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                )
            })
            .collect())
    }

    /// Removes the summaries (and summaries written aside) whose data file is not in the store, and
    /// the folders that leaves empty. Every writer does so on a store on disk; on a store in S3,
    /// where it takes a listing of the whole store, `compact` does.
    pub fn remove_orphan_summaries(&self, _lock: &WriteLock) -> Result<(), StoreError> {
        if let Some(remote) = &self.remote {
            let data = self.live_data_files()?;
            for kind in SummaryKind::ALL {
                for relative in self.summary_files(kind)? {
                    if !data.contains(&relative) {
                        let path = self.summary_path(kind, &self.root.join(&relative));
                        remote.delete(&self.relative(&path))?;
                    }
                }
            }
            return Ok(());
        }
        for kind in SummaryKind::ALL {
            let root = self.summaries_root(kind);
            for relative in self.summary_files(kind)? {
                if !is_data_file(Path::new(&relative)) || !self.root.join(&relative).exists() {
                    let path = root.join(&relative);
                    fs::remove_file(&path).map_err(io_error(&path))?;
                }
            }
            // And the folders left empty; one that is not empty stays.
            for entry in walkdir::WalkDir::new(&root)
                .min_depth(1)
                .contents_first(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_dir())
            {
                let _ = fs::remove_dir(entry.path());
            }
        }
        Ok(())
    }

    /// The data files of the store, but those an interrupted compaction replaced, as paths inside
    /// the store.
    fn live_data_files(&self) -> Result<BTreeSet<String>, StoreError> {
        let superseded: BTreeSet<String> = self
            .superseded_files()?
            .iter()
            .map(|path| self.relative(path))
            .collect();
        Ok(self
            .partitions()?
            .values()
            .flatten()
            .map(|path| self.relative(path))
            .filter(|relative| !superseded.contains(relative))
            .collect())
    }

    /// Whether every data file of the store has its summary of `kind`, and every such summary its
    /// data file: only then do the summaries answer for the store. A store written before
    /// summaries existed, or a writer interrupted, leaves them incomplete until `ctidx compact`;
    /// queries then read the events.
    pub fn summaries_complete(&self, kind: SummaryKind) -> Result<bool, StoreError> {
        Ok(self.complete_summaries(&[kind])?.contains(&kind))
    }

    /// Those of `kinds` whose summaries are complete ([`Store::summaries_complete`]), from one
    /// listing of the data files.
    pub fn complete_summaries(
        &self,
        kinds: &[SummaryKind],
    ) -> Result<Vec<SummaryKind>, StoreError> {
        let data = self.live_data_files()?;
        let mut complete = Vec::new();
        for &kind in kinds {
            if !data.is_empty() && data == self.summary_files(kind)? {
                complete.push(kind);
            }
        }
        Ok(complete)
    }

    /// Writes the summaries that data files lack (a store written before they existed). Returns
    /// how many data files it read.
    pub fn summarize_missing(&self, _lock: &WriteLock) -> Result<usize, StoreError> {
        let written = SummaryKind::ALL.map(|kind| self.summary_files(kind));
        let written = written.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut read = 0;
        for relative in self.live_data_files()? {
            let missing: Vec<SummaryKind> = SummaryKind::ALL
                .into_iter()
                .zip(&written)
                .filter(|(_, files)| !files.contains(&relative))
                .map(|(kind, _)| kind)
                .collect();
            if missing.is_empty() {
                continue;
            }
            let path = self.root.join(&relative);
            let mut builders: Vec<(SummaryBuilder, String)> = missing
                .into_iter()
                .map(|kind| {
                    let at = self.summary_location(&self.summary_path(kind, &path));
                    (SummaryBuilder::new(kind), at)
                })
                .collect();
            let (run, _) = parquet_run(self.open_data_file(&path)?, &path)?;
            for batch in run {
                let batch = batch?;
                for (builder, _) in &mut builders {
                    builder.add(&batch).map_err(|e| StoreError::Invalid {
                        path: path.display().to_string(),
                        message: format!("cannot summarize rows: {e}"),
                    })?;
                }
            }
            for (builder, at) in builders {
                let bytes = builder
                    .into_parquet()
                    .map_err(parquet_error(Path::new(&at)))?;
                put_summary(self.remote.as_deref(), &at, bytes)?;
            }
            read += 1;
        }
        Ok(read)
    }

    /// The folder of the summaries of `kind`: a local path, or for a store in S3 its key prefix.
    pub fn summaries_location(&self, kind: SummaryKind) -> String {
        match &self.remote {
            Some(_) => format!("{META_DIR}/{}/", kind.folder()),
            None => self.summaries_root(kind).display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pairs `json_extract_scalar(<column>, '<path>')` of `sql`, and how often each column is
    /// named at all.
    fn json_reads(sql: &str) -> (BTreeSet<(String, String)>, usize, usize) {
        let mut reads = BTreeSet::new();
        let mut calls = 0;
        for call in sql.split("json_extract_scalar(").skip(1) {
            let (column, rest) = call.split_once(',').expect("two arguments");
            let path = rest
                .trim_start()
                .strip_prefix('\'')
                .expect("a literal path");
            let (path, _) = path.split_once('\'').expect("a closed literal");
            reads.insert((column.trim().to_string(), path.to_string()));
            calls += 1;
        }
        let mentions = OPENING_JSON_PATHS
            .iter()
            .map(|(column, _)| sql.matches(column).count())
            .sum();
        (reads, calls, mentions)
    }

    /// The openings keep of a JSON document exactly what the session query reads of it: a path
    /// the query reads and the openings dropped would read nothing from them, silently.
    #[test]
    fn the_openings_keep_the_json_paths_the_session_query_reads() {
        let sql = crate::sql::queries::SESSION_EVENTS.text;
        let (reads, calls, mentions) = json_reads(sql);
        let kept: BTreeSet<(String, String)> = OPENING_JSON_PATHS
            .iter()
            .flat_map(|(column, paths)| {
                paths
                    .iter()
                    .map(|path| (column.to_string(), path.to_string()))
            })
            .collect();
        assert_eq!(reads, kept);
        // Every mention of a JSON column is such a call (none passes a whole document on).
        assert_eq!(calls, mentions, "{sql}");
        for (column, _) in OPENING_JSON_PATHS {
            assert!(OPENING_COLUMNS.contains(&column), "{column}");
        }
        for (column, steps) in OPENING_JSON_STEPS.iter() {
            assert!(steps.is_some(), "the paths of {column} parse");
        }
    }

    #[test]
    fn the_openings_keep_the_rows_that_open_sessions_and_the_values_read() {
        use arrow::array::new_null_array;
        let schema = schema::file_schema();
        let rows = [
            (
                "sts.amazonaws.com",
                "AssumeRole",
                None,
                r#"{"roleArn":"arn:aws:iam::1:role/r","roleSessionName":"s"}"#,
                r#"{"credentials":{"accessKeyId":"ASIA1","sessionToken":"token"},"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"}}"#,
            ),
            (
                "sts.amazonaws.com",
                "AssumeRole",
                Some("AccessDenied"),
                "{}",
                "{}",
            ),
            ("s3.amazonaws.com", "ListBuckets", None, "{}", "{}"),
            (
                "signin.amazonaws.com",
                "SwitchRole",
                None,
                "not json",
                r#"{"SwitchRole":"Success","other":1}"#,
            ),
        ];
        let columns = schema
            .fields()
            .iter()
            .map(|field| -> ArrayRef {
                let text =
                    |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
                match field.name().as_str() {
                    "eventsource" => text(rows.iter().map(|row| Some(row.0)).collect()),
                    "eventname" => text(rows.iter().map(|row| Some(row.1)).collect()),
                    "errorcode" => text(rows.iter().map(|row| row.2).collect()),
                    "requestparameters" => text(rows.iter().map(|row| Some(row.3)).collect()),
                    "responseelements" => text(rows.iter().map(|row| Some(row.4)).collect()),
                    _ if field.is_nullable() => new_null_array(field.data_type(), rows.len()),
                    _ => text(vec![Some("2024-03-01"); rows.len()]),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema, columns).expect("a batch");
        let mut openings = OpeningsBuilder::default();
        openings.add(&batch).expect("kept");
        let kept = &openings.rows[0];
        assert_eq!(kept.num_rows(), 2);
        let text = |name: &str| -> Vec<Option<String>> {
            schema::text_column(kept, name)
                .expect("text")
                .iter()
                .map(|value| value.map(str::to_string))
                .collect()
        };
        assert_eq!(
            text("responseelements"),
            [
                Some(r#"{"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s"},"credentials":{"accessKeyId":"ASIA1"}}"#.to_string()),
                Some(r#"{"SwitchRole":"Success"}"#.to_string()),
            ]
        );
        assert_eq!(
            text("requestparameters"),
            [
                Some(r#"{"roleArn":"arn:aws:iam::1:role/r"}"#.to_string()),
                Some("not json".to_string())
            ]
        );
        assert_eq!(text("additionaleventdata"), [None, None]);
    }
}
