//! DataFusion over the store: the `cloudtrail` table, named queries from `sql/`, and output formats.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

use crate::cli::OutputFormat;
use crate::ingest::schema;
use crate::store::Store;

pub const TABLE: &str = "cloudtrail";

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(
        "the store at {0} holds no events yet\n  hint: fill it with `ctidx ingest --source <folder of CloudTrail logs> --store {0}`"
    )]
    EmptyStore(String),
    #[error("{0}")]
    Query(String),
}

/// A DataFusion session with the store registered as `cloudtrail`.
pub fn session(store: &Store) -> anyhow::Result<SessionContext> {
    store.recover_if_idle()?;
    if store.partitions()?.is_empty() {
        return Err(SqlError::EmptyStore(store.root().display().to_string()).into());
    }
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    let root = store
        .root()
        .canonicalize()
        .with_context(|| format!("store {}", store.root().display()))?;
    let url = ListingTableUrl::parse(format!("{}/", root.display()))
        .map_err(|e| SqlError::Query(e.to_string()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            schema::PARTITION_COLUMNS
                .iter()
                .map(|c| (c.to_string(), DataType::Utf8))
                .collect(),
        );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema::file_schema());
    let table = ListingTable::try_new(config).map_err(|e| SqlError::Query(e.to_string()))?;
    ctx.register_table(TABLE, Arc::new(table))
        .map_err(|e| SqlError::Query(e.to_string()))?;
    Ok(ctx)
}

/// Runs one statement with positional parameters (`$1`, `$2`, ...) bound, never pasted into the text.
pub async fn query(
    ctx: &SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>, SqlError> {
    let frame = ctx.sql(sql).await.map_err(clean)?;
    let frame = if params.is_empty() {
        frame
    } else {
        frame.with_param_values(params).map_err(clean)?
    };
    frame.collect().await.map_err(clean)
}

fn clean(error: datafusion::error::DataFusionError) -> SqlError {
    SqlError::Query(error.strip_backtrace().trim().to_string())
}

pub fn write_batches(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(&flatten_nested(batch)?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// CSV has no nested values: struct, list and map columns are written as JSON text.
fn flatten_nested(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let single = RecordBatch::try_from_iter([("v", column.clone())])?;
            let mut buffer = Vec::new();
            {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
                writer.write(&single)?;
                writer.finish()?;
            }
            let texts: arrow::array::StringArray = String::from_utf8(buffer)?
                .lines()
                .zip(0..column.len())
                .map(|(line, row)| {
                    if column.is_null(row) {
                        None
                    } else {
                        serde_json::from_str::<serde_json::Value>(line)
                            .ok()
                            .and_then(|v| v.get("v").map(|v| v.to_string()))
                    }
                })
                .collect();
            fields.push(arrow::datatypes::Field::new(
                field.name(),
                DataType::Utf8,
                true,
            ));
            columns.push(Arc::new(texts) as arrow::array::ArrayRef);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

use arrow::array::Array;
