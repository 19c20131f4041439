//! Inputs a fuzz target once failed on (see fuzz/README.md), kept under
//! `tests/fixtures/fuzz/<target>/`: each goes through the library call its target makes and must
//! give the outcome the target checks for.

use std::io::Read;
use std::path::Path;

use ctidx::iam::authz::{AuthorizationDetails, CreateDate};
use ctidx::ingest::decode::{Limits, decode_json, decode_object};
use ctidx::json_path;
use ctidx::sql::split_statements;
use datafusion::arrow::array::RecordBatch;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Every file of one target's folder, by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| {
            let path = entry.expect("readable folder").path();
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("readable file"))
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", folder.display());
    inputs
}

fn summary(outcome: &Result<RecordBatch, String>) -> String {
    match outcome {
        Ok(batch) => format!("{} rows", batch.num_rows()),
        Err(error) => format!("error {error:?}"),
    }
}

/// A gzip object reads as what an independent streaming inflate reads from it: every member, or the
/// same error its text gives.
#[test]
fn decode_gzip_reads_every_member() {
    for (name, object) in inputs("decode_gzip") {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(&object[..])
            .read_to_end(&mut text)
            .unwrap_or_else(|error| panic!("{name} is not gzip: {error}"));
        let decoded = decode_object(&object, Limits::default()).map_err(|e| e.to_string());
        let expected = decode_json(&text, Limits::default()).map_err(|e| e.to_string());
        assert!(
            decoded == expected,
            "{name}: {} where {} was expected",
            summary(&decoded),
            summary(&expected)
        );
    }
}

/// The tokens of `text` as DataFusion reads them, whitespace and comments left out.
fn significant_tokens(text: &str) -> Vec<Token> {
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .unwrap_or_else(|error| panic!("{text:?} does not tokenize: {error}"))
        .into_iter()
        .filter(|token| !matches!(token, Token::Whitespace(_)))
        .collect()
}

/// Each statement of a script reads as the script's tokens between two semicolons.
#[test]
fn sql_split_keeps_statements_as_written() {
    for (name, bytes) in inputs("sql_split") {
        let script = std::str::from_utf8(&bytes).expect("UTF-8");
        // As the fuzz target does, a script the splitter refuses is fine; one it splits must split
        // right.
        let Ok(statements) = split_statements(script) else {
            continue;
        };
        let script_tokens = significant_tokens(script);
        let expected: Vec<&[Token]> = script_tokens
            .split(|token| *token == Token::SemiColon)
            .filter(|statement| !statement.is_empty())
            .collect();
        let found: Vec<Vec<Token>> = statements
            .iter()
            .map(|statement| significant_tokens(statement))
            .collect();
        assert_eq!(found, expected, "{name}: {statements:?}");
    }
}

/// Every creation date a snapshot is read with prints as a date that parses back to the same instant;
/// a date that could not is refused with the snapshot.
#[test]
fn iam_authz_dates_print_as_they_parse() {
    for (name, bytes) in inputs("iam_authz") {
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        let details = match AuthorizationDetails::from_json_str(text) {
            Ok(details) => details,
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains("CreateDate"), "{name}: {message}");
                continue;
            }
        };
        let dates = details
            .users
            .iter()
            .map(|user| &user.create_date)
            .chain(details.groups.iter().map(|group| &group.create_date))
            .chain(details.roles.iter().map(|role| &role.create_date));
        for date in dates.flatten() {
            let printed = date.rfc3339();
            let reparsed = CreateDate::parse(&printed)
                .unwrap_or_else(|| panic!("{name}: {printed:?} does not parse"));
            assert_eq!(reparsed.utc, date.utc, "{name}: {printed:?}");
        }
    }
}

/// What the session openings keep of a JSON document reads the same at each path as the document.
#[test]
fn json_keep_only_keeps_what_each_path_reads() {
    for (name, bytes) in inputs("json_keep_only") {
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        let (paths, document) = text
            .split_once('\n')
            .expect("a line of paths, then a document");
        let paths: Vec<&str> = paths.split('\t').collect();
        let steps: Vec<_> = paths
            .iter()
            .map(|path| json_path::parse(path).expect("a path"))
            .collect();
        let kept = json_path::keep_only(document, &steps).unwrap_or_else(|| document.to_string());
        for path in paths {
            assert_eq!(
                json_path::scalar_at(&kept, path),
                json_path::scalar_at(document, path),
                "{name}: {path} in {document:?}, kept as {kept:?}"
            );
        }
    }
}
