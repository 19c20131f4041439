//! The API operations of the AWS SDK service models, by IAM prefix (`data/api-operations.tsv`): what
//! tells an action no call performs from one whose calls CloudTrail shows, and what every event kind
//! is measured against.

use std::collections::HashMap;
use std::sync::LazyLock;

use thiserror::Error;

use super::is_name;

pub(super) const API_OPERATIONS_TSV: &str = include_str!("../../data/api-operations.tsv");

// The embedded file is checked by unit tests; failing here means the build shipped a broken file.
static EMBEDDED_OPERATIONS: LazyLock<ApiOperations> = LazyLock::new(|| {
    ApiOperations::from_tsv(API_OPERATIONS_TSV)
        .expect("embedded data/api-operations.tsv must parse")
});

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiOperationsError {
    #[error(
        "line {line}: expected 2 or 3 tab-separated fields (IAM prefix, operation, note), found {found}"
    )]
    WrongFieldCount { line: usize, found: usize },
    #[error("line {line}: invalid {what} {value:?}")]
    InvalidName {
        line: usize,
        what: &'static str,
        value: String,
    },
    #[error("line {line}: a second \"# source:\" line")]
    DuplicateSource { line: usize },
    #[error("no \"# source:\" line naming where the operations come from")]
    MissingSource,
}

/// The API operations of the AWS SDK service models, by IAM prefix: `data/api-operations.tsv`.
#[derive(Debug)]
pub struct ApiOperations {
    /// The text of the `# source:` comment line, used as the reason's source.
    source: &'static str,
    /// Key: lower-case IAM prefix. Names as the models spell them.
    operations: HashMap<String, Vec<&'static str>>,
}

impl ApiOperations {
    /// The operations of `data/api-operations.tsv`, embedded in the binary.
    pub fn embedded() -> &'static ApiOperations {
        &EMBEDDED_OPERATIONS
    }

    /// Parses `prefix<TAB>Operation[<TAB>note]` lines. Exactly one comment line must start with
    /// `# source:`; its text becomes the source of every fact derived from the file. Other `#` lines and
    /// blank lines are skipped.
    pub fn from_tsv(text: &'static str) -> Result<ApiOperations, ApiOperationsError> {
        let mut source = None;
        let mut operations: HashMap<String, Vec<&'static str>> = HashMap::new();
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim_end_matches('\r');
            if let Some(comment) = trimmed.strip_prefix('#') {
                if let Some(text) = comment.trim_start().strip_prefix("source:")
                    && source.replace(text.trim()).is_some()
                {
                    return Err(ApiOperationsError::DuplicateSource { line });
                }
                continue;
            }
            if trimmed.trim().is_empty() {
                continue;
            }
            let fields: Vec<&'static str> = trimmed.split('\t').map(str::trim).collect();
            let (prefix, name) = match fields[..] {
                [prefix, name] | [prefix, name, _] => (prefix, name),
                _ => {
                    return Err(ApiOperationsError::WrongFieldCount {
                        line,
                        found: fields.len(),
                    });
                }
            };
            for (what, value) in [("IAM prefix", prefix), ("operation name", name)] {
                if !is_name(value) {
                    return Err(ApiOperationsError::InvalidName {
                        line,
                        what,
                        value: value.to_string(),
                    });
                }
            }
            operations
                .entry(prefix.to_ascii_lowercase())
                .or_default()
                .push(name);
        }
        let source = source
            .filter(|text| !text.is_empty())
            .ok_or(ApiOperationsError::MissingSource)?;
        Ok(ApiOperations { source, operations })
    }

    /// The source line's text, e.g. `no API operation performs it (botocore 1.44.5 service models): ...`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether some SDK model is assigned to the IAM prefix (any case).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.operations.contains_key(&prefix.to_ascii_lowercase())
    }

    /// The operations of one IAM prefix (any case); empty when no model is assigned to it.
    pub fn operations(&self, prefix: &str) -> &[&'static str] {
        self.operations
            .get(&prefix.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The number of operations, over all prefixes.
    pub fn operation_count(&self) -> usize {
        self.operations.values().map(Vec::len).sum()
    }

    /// All prefixes with a model, sorted.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut prefixes: Vec<&str> = self.operations.keys().map(String::as_str).collect();
        prefixes.sort_unstable();
        prefixes
    }
}
