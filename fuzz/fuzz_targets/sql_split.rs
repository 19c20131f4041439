//! Splitting a `ctidx sql` script into statements.

#![no_main]

use ctidx::sql::split_statements;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(script) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(statements) = split_statements(script) else {
        return;
    };
    // Each statement, read again, is the script's tokens between two semicolons: nothing lost,
    // nothing changed, nothing carried over from a neighbour. Statements that are only comments
    // and whitespace are dropped.
    let script_tokens = significant_tokens(script).expect("the script tokenized once");
    let expected: Vec<&[Token]> = script_tokens
        .split(|token| *token == Token::SemiColon)
        .filter(|statement| !statement.is_empty())
        .collect();
    let found: Vec<Vec<Token>> = statements
        .iter()
        .map(|statement| {
            significant_tokens(statement).unwrap_or_else(|error| {
                panic!("statement {statement:?} does not tokenize: {error}")
            })
        })
        .collect();
    assert_eq!(found, expected, "statements {statements:?}");
});

/// The tokens of `text` as DataFusion reads them, whitespace and comments left out.
fn significant_tokens(text: &str) -> Result<Vec<Token>, String> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|error| error.to_string())?;
    Ok(tokens
        .into_iter()
        .filter(|token| !matches!(token, Token::Whitespace(_)))
        .collect())
}
