//! The named queries in `sql/`, embedded once.
//!
//! The files use `?` placeholders, as Athena and Trino prepared statements do; DataFusion numbers its
//! placeholders (`$1`, `$2`, ...), so each `?` outside literals and comments is numbered in order when a
//! query is loaded. Values are always bound as parameters, never pasted into the text.

use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::sql::SqlError;

#[derive(Debug, Clone, Copy)]
pub struct NamedQuery {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! named {
    ($name:literal) => {
        NamedQuery {
            name: $name,
            text: include_str!(concat!("../sql/", $name, ".sql")),
        }
    };
}

pub const ACTIVE_USERS: NamedQuery = named!("active_users");
pub const ACTIVE_ROLES: NamedQuery = named!("active_roles");
pub const USER_CALLS: NamedQuery = named!("user_calls");
pub const ROLE_CALLS: NamedQuery = named!("role_calls");
pub const EVENT_NAMES: NamedQuery = named!("event_names");
pub const SESSION_EVENTS: NamedQuery = named!("session_events");
pub const SESSION_LINKS: NamedQuery = named!("session_links");
pub const SESSION_CALLS: NamedQuery = named!("session_calls");
pub const ROLE_CALLS_BY_PERSON: NamedQuery = named!("role_calls_by_person");

pub const ALL: &[NamedQuery] = &[
    ACTIVE_USERS,
    ACTIVE_ROLES,
    USER_CALLS,
    ROLE_CALLS,
    EVENT_NAMES,
    SESSION_EVENTS,
    SESSION_LINKS,
    SESSION_CALLS,
    ROLE_CALLS_BY_PERSON,
];

impl NamedQuery {
    /// The text with `?` placeholders numbered for DataFusion, and how many there are.
    pub fn numbered(&self) -> Result<(String, usize), SqlError> {
        number_placeholders(self.text)
            .map_err(|e| SqlError::Query(format!("sql/{}.sql: {e}", self.name)))
    }

    pub async fn run(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &[&str],
    ) -> Result<Vec<arrow::array::RecordBatch>, SqlError> {
        let (text, values) = self.bind(params)?;
        crate::sql::query(ctx, &text, values)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs the query and keeps its result in memory as a table named after the query, for the
    /// queries that read it.
    pub async fn materialize(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &[&str],
    ) -> Result<(), SqlError> {
        let (text, values) = self.bind(params)?;
        crate::sql::materialize(ctx, &text, values, self.name)
            .await
            .map_err(|e| self.error(e))
    }

    fn bind(&self, params: &[&str]) -> Result<(String, Vec<ScalarValue>), SqlError> {
        let (text, expected) = self.numbered()?;
        if expected != params.len() {
            return Err(SqlError::Query(format!(
                "sql/{}.sql takes {expected} parameters, {} given",
                self.name,
                params.len()
            )));
        }
        let values = params
            .iter()
            .map(|p| ScalarValue::Utf8(Some(p.to_string())))
            .collect();
        Ok((text, values))
    }

    fn error(&self, error: SqlError) -> SqlError {
        SqlError::Query(format!("sql/{}.sql: {error}", self.name))
    }
}

fn number_placeholders(text: &str) -> Result<(String, usize), String> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let mut count = 0;
    let mut out = String::with_capacity(text.len() + 8);
    for token in tokens {
        match token {
            Token::Placeholder(p) if p == "?" => {
                count += 1;
                out.push_str(&format!("${count}"));
            }
            other => out.push_str(&other.to_string()),
        }
    }
    Ok((out, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_outside_literals_and_comments() {
        let cases = [
            ("SELECT ? , ?", "SELECT $1 , $2", 2),
            (
                "SELECT '?' FROM t WHERE a = ?",
                "SELECT '?' FROM t WHERE a = $1",
                1,
            ),
            ("-- what?\nSELECT 1", "-- what?\nSELECT 1", 0),
        ];
        for (input, expected, n) in cases {
            assert_eq!(
                number_placeholders(input),
                Ok((expected.to_string(), n)),
                "{input}"
            );
        }
    }

    #[test]
    fn every_named_query_has_a_header_and_parses() {
        for query in ALL {
            assert!(
                query.text.starts_with("-- "),
                "sql/{}.sql needs a header comment",
                query.name
            );
            query.numbered().expect("tokenizes");
        }
    }
}
