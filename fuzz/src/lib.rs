//! Checks shared by the decode targets.

use ctidx::ingest::decode::DecodeError;
use ctidx::store::schema;
use ctidx::time::day_text;
use datafusion::arrow::array::RecordBatch;
use serde_json::Value;

/// A decode's result with the error as the user reads it, so two ways of decoding the same JSON
/// can be compared.
pub fn outcome(result: Result<RecordBatch, DecodeError>) -> Result<RecordBatch, String> {
    result.map_err(|error| error.to_string())
}

/// Panics, saying `what` went wrong, unless two outcomes are the same.
pub fn assert_same_outcome(
    found: &Result<RecordBatch, String>,
    expected: &Result<RecordBatch, String>,
    what: &str,
) {
    let summary = |outcome: &Result<RecordBatch, String>| match outcome {
        Ok(batch) => format!("{} rows", batch.num_rows()),
        Err(error) => format!("error {error:?}"),
    };
    assert!(
        found == expected,
        "{what}: {} where {} was expected",
        summary(found),
        summary(expected)
    );
}

/// What every batch the decoder returns must satisfy: the store's schema, one row per record of
/// `json`, each row rebuilding to its record exactly, and an `eventTime` that names a day (the
/// partition the row is filed under).
pub fn check_batch(json: &[u8], batch: &RecordBatch) {
    assert_eq!(batch.schema(), schema::file_schema(), "schema");
    // serde_json's `Value` refuses a little JSON that the decoder keeps as raw text (numbers
    // beyond f64, lone surrogate escapes); such input is only checked for not panicking.
    let Ok(document) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let records = match &document {
        Value::Array(records) => records,
        Value::Object(envelope) => match envelope.get("Records") {
            Some(Value::Array(records)) => records,
            other => panic!("decoded an envelope without a Records array: {other:?}"),
        },
        other => panic!("decoded a document that is neither an array nor an object: {other:?}"),
    };
    assert_eq!(batch.num_rows(), records.len(), "rows");
    for (row, record) in records.iter().enumerate() {
        let rebuilt = schema::reconstruct(batch, row)
            .unwrap_or_else(|error| panic!("row {row} does not rebuild: {error}"));
        assert_eq!(&rebuilt, record, "row {row} does not rebuild to its record");
        let time = rebuilt
            .get("eventTime")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("row {row} has no textual eventTime"));
        assert!(
            day_text(time).is_some(),
            "row {row}: eventTime {time:?} names no day"
        );
    }
}
