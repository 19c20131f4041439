//! A data file: how its columns are encoded, and how it is written aside and put in place whole.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::summaries::{self, SummaryBuilder};
use super::{Run, StoreError, io_error, parquet_error, s3, schema};

/// Columns whose values are (nearly) unique per event, and how they are encoded instead of with a
/// dictionary, which would only be built to be abandoned. IDs are lengths, then bytes; times, sorted
/// within each principal, are what each adds to the one before.
const UNIQUE_VALUE_COLUMNS: [(&str, Encoding); 4] = [
    ("eventid", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ("requestid", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ("sharedeventid", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ("eventtime", Encoding::DELTA_BYTE_ARRAY),
];

/// Columns that carry per-page min/max statistics (the Parquet page index). Rows are sorted by day,
/// then principal, so the pages of one day, and of one user or role within it, are few and
/// adjacent: a query on one of these columns reads those pages and skips the rest of the file.
/// Other columns keep statistics per column chunk only, which keeps the page index small.
pub const PAGE_INDEXED_COLUMNS: [&str; 8] = [
    "useridentity.arn",
    "useridentity.username",
    "useridentity.principalid",
    "useridentity.accesskeyid",
    "useridentity.sessioncontext.sessionissuer.arn",
    "useridentity.sessioncontext.sessionissuer.username",
    "eventtime",
    "day",
];

/// Rows per data page: small enough that one principal's pages are a small part of a file, large
/// enough that page headers and the page index stay a small part of the store. 4,096 rather than
/// 2,048: the data files of 1M generated events came out 1.3% smaller (5M: 1.7%), and the
/// per-principal and list queries took the same time within their run-to-run spread.
const PAGE_ROWS: usize = 4096;

/// Longest page-index bound kept whole. ARNs of roles reached through Identity Center run past the
/// Parquet default of 64 bytes; a truncated bound is still correct but separates fewer principals.
const PAGE_INDEX_BOUND_BYTES: usize = 512;

/// Columns compressed with Snappy; every other column of a large file uses Zstandard. These are the
/// small, dictionary-encoded columns that the per-principal, list and session queries filter, group
/// or join on. Reading a Zstandard column chunk begins with setting up a decompression context, and
/// on these columns that cost more query time than their bytes saved: with every column in
/// Zstandard, the one-user query on 1M generated events took 16.1 ms in process instead of 9.0.
/// The other columns are read rarely or not at all by ctidx's own queries, and Zstandard makes
/// them a third smaller than Snappy does.
const SNAPPY_COLUMNS: [&str; 17] = [
    "day",
    "useridentity.type",
    "useridentity.arn",
    "useridentity.username",
    "useridentity.accountid",
    "useridentity.sessioncontext.sessionissuer.type",
    "useridentity.sessioncontext.sessionissuer.arn",
    "useridentity.sessioncontext.sessionissuer.username",
    "useridentity.sessioncontext.sessionissuer.accountid",
    "useridentity.sessioncontext.sessionissuer.principalid",
    "useridentity.sessioncontext.sourceidentity",
    "eventsource",
    "eventname",
    "eventtype",
    "errorcode",
    "awsregion",
    "recipientaccountid",
];

/// Columns written without statistics: long, nearly unique text (IDs, request and response
/// bodies, user agents) whose minimum and maximum over a column chunk span almost every value, so
/// no engine can skip a row group by them. Working them out compared every value of these columns
/// as it was written, and they took a large part of a quiet account's file footer.
const UNPRUNABLE_COLUMNS: [&str; 12] = [
    "eventid",
    "requestid",
    "sharedeventid",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "errormessage",
    "extrafields",
    "useragent",
    "useridentity.sessioncontext.attributes.creationdate",
    "tlsdetails.clientprovidedhostheader",
];

fn column_path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}

/// Partitions of fewer rows than this are written as [`FileLayout::Small`] files. Ingest merges a
/// month's files again when rows delivered late reach it and every file of it is this small.
pub const SMALL_FILE_ROWS: usize = 1024;

/// How a data file's columns are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileLayout {
    /// Dictionaries, Snappy for [`SNAPPY_COLUMNS`] and Zstandard for the rest, and a page index on
    /// [`PAGE_INDEXED_COLUMNS`].
    Large,
    /// For the few events of a quiet account's day: Snappy, plain values and no page index or
    /// offset index, since the file is one page per column. Each Zstandard column chunk costs a compression and a
    /// decompression context to write (and one to read) whatever its size: on a store of quiet
    /// accounts (about twenty events a partition) setting them up was a fifth of the ingest's time.
    /// Dictionary pages and the page index were a third of such a file, and saved nothing there.
    Small,
}

impl FileLayout {
    /// For a file of `rows` rows (or whose first batch has `rows` rows, when it is written as its
    /// rows are merged).
    pub(super) fn for_rows(rows: usize) -> FileLayout {
        if rows < SMALL_FILE_ROWS {
            FileLayout::Small
        } else {
            FileLayout::Large
        }
    }
}

fn writer_properties(layout: FileLayout) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_data_page_row_count_limit(PAGE_ROWS)
        // A page's rows encoded in one call per column, not four: each call works out statistics
        // and checks the page's size. 1M generated events: ingest wall 0.982x (farm-bench -n 8),
        // the store 0.03% smaller.
        .set_write_batch_size(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_index_truncate_length(Some(PAGE_INDEX_BOUND_BYTES));
    let builder = UNPRUNABLE_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_statistics_enabled(column_path(column), EnabledStatistics::None)
    });
    if layout == FileLayout::Small {
        return builder
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_offset_index_disabled(true)
            .build();
    }
    let builder = UNIQUE_VALUE_COLUMNS
        .iter()
        .fold(builder, |builder, (column, encoding)| {
            builder
                .set_column_dictionary_enabled(column_path(column), false)
                .set_column_encoding(column_path(column), *encoding)
        });
    // Level 1, not 3: on 1M generated events level 3 made the store only 0.3% smaller (a page's few
    // thousand values leave the higher level little to find) and took 4% more ingest time.
    let zstd = Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default());
    let builder = SNAPPY_COLUMNS
        .iter()
        .fold(builder.set_compression(zstd), |builder, column| {
            builder.set_column_compression(column_path(column), Compression::SNAPPY)
        });
    PAGE_INDEXED_COLUMNS
        .iter()
        .fold(builder, |builder, column| {
            builder.set_column_statistics_enabled(column_path(column), EnabledStatistics::Page)
        })
        .build()
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = temp_path(path);
    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    fs::rename(&temp, path).map_err(io_error(path))?;
    sync_dir(path);
    Ok(())
}

const ROW_GROUP_MAX_BYTES: usize = 32 << 20;

/// A Parquet file written aside and renamed into place by [`ParquetFile::commit`], so it appears
/// whole or not at all.
pub(super) struct ParquetFile {
    pub(super) path: PathBuf,
    temp: PathBuf,
    writer: ArrowWriter<File>,
    /// For a store in S3: where the file goes once written.
    upload: Option<(Arc<s3::S3Store>, String)>,
    /// The file's summaries, built as its rows are written, each with where it goes: a path on
    /// disk, or for a store in S3 a key.
    summaries: Vec<(SummaryBuilder, String)>,
}

impl ParquetFile {
    pub(super) fn create(
        path: &Path,
        upload: Option<(Arc<s3::S3Store>, String)>,
        layout: FileLayout,
        summaries: Vec<(SummaryBuilder, String)>,
    ) -> Result<ParquetFile, StoreError> {
        let temp = temp_path(path);
        let file = File::create(&temp).map_err(io_error(&temp))?;
        // No copy of the Arrow schema in the footer: the Parquet schema says the same for these
        // types, every reader is given the store's schema, and on a quiet account's file of twenty
        // events the copy was 4.9 KB of 22.7.
        let options = ArrowWriterOptions::new()
            .with_properties(writer_properties(layout))
            .with_skip_arrow_metadata(true);
        let writer = ArrowWriter::try_new_with_options(file, schema::file_schema(), options)
            .map_err(parquet_error(&temp))?;
        Ok(ParquetFile {
            path: path.to_path_buf(),
            temp,
            writer,
            upload,
            summaries,
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        for (summary, _) in &mut self.summaries {
            summary.add(batch).map_err(|e| StoreError::Invalid {
                path: self.temp.display().to_string(),
                message: format!("cannot summarize rows: {e}"),
            })?;
        }
        self.writer
            .write(batch)
            .map_err(parquet_error(&self.temp))?;
        // A row group is held in memory until it is flushed: bound it by bytes as well as rows, so
        // wide records cannot make it large.
        if self.writer.memory_size() > ROW_GROUP_MAX_BYTES {
            self.writer.flush().map_err(parquet_error(&self.temp))?;
        }
        Ok(())
    }

    /// Puts the summaries in place, then the data file: a data file never stands without its
    /// summaries. One left without its data file by a failure in between is removed by the next
    /// writer.
    pub(super) fn commit(self) -> Result<(), StoreError> {
        let temp = self.temp;
        let remote = self.upload.as_ref().map(|(remote, _)| remote.as_ref());
        for (summary, at) in self.summaries {
            let bytes = summary
                .into_parquet()
                .map_err(parquet_error(Path::new(&at)))?;
            summaries::put_summary(remote, &at, bytes)?;
        }
        let file = self.writer.into_inner().map_err(parquet_error(&temp))?;
        if let Some((remote, key)) = &self.upload {
            drop(file);
            let uploaded = remote.upload(&temp, key);
            let _ = fs::remove_file(&temp);
            return uploaded;
        }
        file.sync_all().map_err(io_error(&temp))?;
        fs::rename(&temp, &self.path).map_err(io_error(&self.path))?;
        sync_dir(&self.path);
        Ok(())
    }
}

fn sync_dir(path: &Path) {
    // Makes the rename durable; not every platform can open a directory, which is fine.
    if let Some(parent) = path.parent()
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// A data file's rows, batch by batch, and how many there are.
pub(super) fn parquet_run(file: File, path: &Path) -> Result<(Run<'static>, usize), StoreError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error(path))?;
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let reader = builder.build().map_err(parquet_error(path))?;
    let path = path.display().to_string();
    let run: Run<'static> = Box::new(reader.map(move |batch| {
        batch
            .and_then(schema::in_file_schema)
            .map_err(|e| StoreError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })
    }));
    Ok((run, rows))
}

pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    let file = File::open(path).map_err(io_error(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet_error(path))?
        .build()
        .map_err(parquet_error(path))?;
    reader
        .map(|batch| {
            batch.map_err(|e| StoreError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_partition_gets_plain_snappy_columns_without_indexes() {
        assert_eq!(FileLayout::for_rows(SMALL_FILE_ROWS - 1), FileLayout::Small);
        assert_eq!(FileLayout::for_rows(SMALL_FILE_ROWS), FileLayout::Large);
        let payload = column_path("requestparameters");
        let principal = column_path(PAGE_INDEXED_COLUMNS[0]);
        let small = writer_properties(FileLayout::Small);
        assert_eq!(small.compression(&payload), Compression::SNAPPY);
        assert!(!small.dictionary_enabled(&principal));
        assert_eq!(
            small.statistics_enabled(&principal),
            EnabledStatistics::Chunk
        );
        assert!(small.offset_index_disabled());
        let large = writer_properties(FileLayout::Large);
        assert!(matches!(large.compression(&payload), Compression::ZSTD(_)));
        assert_eq!(large.compression(&principal), Compression::SNAPPY);
        assert!(large.dictionary_enabled(&principal));
        assert_eq!(
            large.statistics_enabled(&principal),
            EnabledStatistics::Page
        );
        assert!(!large.offset_index_disabled());
    }

    /// A column named in the writer's settings but absent from the schema would be silently
    /// ignored.
    #[test]
    fn columns_named_in_writer_settings_exist() {
        let schema = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema::file_schema())
            .expect("parquet schema");
        let leaves: Vec<String> = schema
            .columns()
            .iter()
            .map(|column| column.path().string())
            .collect();
        let unique = UNIQUE_VALUE_COLUMNS.iter().map(|(column, _)| column);
        for column in SNAPPY_COLUMNS
            .iter()
            .chain(&PAGE_INDEXED_COLUMNS)
            .chain(&UNPRUNABLE_COLUMNS)
            .chain(unique)
        {
            assert!(
                leaves.contains(&column.to_string()),
                "{column} not in {leaves:?}"
            );
        }
    }
}
