//! The named queries in `sql/`, embedded once, each with the typed parameters it takes.
//!
//! A file names its parameters (`$account`, `$first_day`, ...), and a Rust struct holds their
//! values: each value is bound to the placeholder of its name, never pasted into the text, so a call
//! cannot pass two of them in the wrong order. A query refuses parameters that are not exactly its
//! placeholders, and a test binds every query to the struct its callers use.

use std::collections::HashMap;

use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::sql::SqlError;
use crate::time::Window;

/// The values of a query's placeholders, by name.
pub trait Params {
    fn values(&self) -> Vec<(&'static str, ScalarValue)>;
}

/// One file of `sql/`.
#[derive(Debug, Clone, Copy)]
pub struct NamedQuery {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! named {
    ($name:literal) => {
        NamedQuery {
            name: $name,
            text: include_str!(concat!("../../sql/", $name, ".sql")),
        }
    };
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_string()))
}

/// A window's first and last day, as the `day` column writes them, and their months, as the
/// `month` partitions name them: a query tests both, so that engines skip the other months' folders.
fn days(window: &Window) -> [(&'static str, ScalarValue); 4] {
    [
        ("first_day", text(&window.start_text())),
        ("last_day", text(&window.end_text())),
        ("first_month", text(&window.start_month_text())),
        ("last_month", text(&window.end_month_text())),
    ]
}

/// No parameters.
pub struct NoParams;

impl Params for NoParams {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        Vec::new()
    }
}

/// The principals of an account that made a successful call in a window.
pub struct ActivePrincipals<'a> {
    pub account: &'a str,
    pub window: &'a Window,
}

impl Params for ActivePrincipals<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![("account", text(self.account))];
        values.extend(days(self.window));
        values
    }
}

/// The calls one principal made in a window: a user's own calls, or those of a role's sessions.
pub struct PrincipalCalls<'a> {
    pub account: &'a str,
    pub window: &'a Window,
    pub principal_arn: &'a str,
}

impl Params for PrincipalCalls<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![("account", text(self.account))];
        values.extend(days(self.window));
        values.push(("principal_arn", text(self.principal_arn)));
        values
    }
}

/// The days in which to look for the events that opened role sessions.
pub struct SessionEvents<'a> {
    pub window: &'a Window,
}

impl Params for SessionEvents<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        days(self.window).into()
    }
}

/// What one principal did inside one destination role, through its sessions.
pub struct PersonSessions<'a> {
    pub principal_arn: &'a str,
    /// AIDA…/AROA…: matches the copy of a cross-account call the destination account records.
    pub principal_id: &'a str,
    /// The start of the principal's own session ARNs; for a user, one that starts none.
    pub session_prefix: &'a str,
    pub max_depth: u32,
    pub role_arn: &'a str,
}

impl Params for PersonSessions<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        vec![
            ("principal_arn", text(self.principal_arn)),
            ("principal_id", text(self.principal_id)),
            ("session_prefix", text(self.session_prefix)),
            (
                "max_depth",
                ScalarValue::Int64(Some(i64::from(self.max_depth))),
            ),
            ("role_arn", text(self.role_arn)),
        ]
    }
}

/// What was done in the sessions of `person_sessions`: in one destination role, in a window.
pub struct SessionCalls<'a> {
    pub role_arn: &'a str,
    pub role_account: &'a str,
    pub window: &'a Window,
}

impl Params for SessionCalls<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![
            ("role_arn", text(self.role_arn)),
            ("role_account", text(self.role_account)),
        ];
        values.extend(days(self.window));
        values
    }
}

/// The people behind one role's sessions, and the calls each made in them.
pub struct RoleCallsByPerson<'a> {
    pub account: &'a str,
    pub window: &'a Window,
    pub role_arn: &'a str,
    pub max_depth: u32,
}

impl Params for RoleCallsByPerson<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![
            ("account", text(self.account)),
            ("role_arn", text(self.role_arn)),
            (
                "max_depth",
                ScalarValue::Int64(Some(i64::from(self.max_depth))),
            ),
        ];
        values.extend(days(self.window));
        values
    }
}

/// A window of days, for the queries over every principal.
pub struct Days<'a> {
    pub window: &'a Window,
}

impl Params for Days<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        days(self.window).into()
    }
}

/// The resources principals named in their successful calls.
pub struct Resources<'a> {
    pub window: &'a Window,
    /// One principal's ARN; `None` for every principal.
    pub principal_arn: Option<&'a str>,
    /// How many ARNs to keep for each principal and kind of call.
    pub max_resources: usize,
}

impl Params for Resources<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![
            (
                "principal_arn",
                text(self.principal_arn.unwrap_or_default()),
            ),
            (
                "max_resources",
                ScalarValue::Int64(Some(i64::try_from(self.max_resources).unwrap_or(i64::MAX))),
            ),
        ];
        values.extend(days(self.window));
        values
    }
}

/// The people behind every role's sessions in a window.
pub struct RolesByPerson<'a> {
    pub window: &'a Window,
    pub max_depth: u32,
}

impl Params for RolesByPerson<'_> {
    fn values(&self) -> Vec<(&'static str, ScalarValue)> {
        let mut values = vec![(
            "max_depth",
            ScalarValue::Int64(Some(i64::from(self.max_depth))),
        )];
        values.extend(days(self.window));
        values
    }
}

/// Takes [`RolesByPerson`]; run with [`NamedQuery::run_in_accounts`] after [`SESSION_LINKS`].
pub const ALL_ROLE_CALLS_BY_PERSON: NamedQuery = named!("all_role_calls_by_person");
/// Takes [`Days`]; run with [`NamedQuery::run_in_accounts`].
pub const ALL_CALLS: NamedQuery = named!("all_calls");
/// Takes [`Days`]; run with [`NamedQuery::stream_in_accounts`].
pub const ALL_REQUESTS: NamedQuery = named!("all_requests");
/// Takes [`Days`]; run with [`NamedQuery::run_in_accounts`].
pub const DAILY_CALLS: NamedQuery = named!("daily_calls");
/// Takes [`Days`]; run with [`NamedQuery::run_in_accounts`].
pub const DAYS_WITH_LOGS: NamedQuery = named!("days_with_logs");
/// Takes [`Resources`]; run with [`NamedQuery::run_in_accounts`].
pub const ALL_RESOURCES: NamedQuery = named!("all_resources");
/// [`ALL_CALLS`] from the activity summaries (the table `activity`, see
/// [`crate::sql::register_activity`]).
pub const ALL_CALLS_SUMMARIZED: NamedQuery = named!("summaries/all_calls");
/// [`DAILY_CALLS`] from the activity summaries.
pub const DAILY_CALLS_SUMMARIZED: NamedQuery = named!("summaries/daily_calls");
/// [`ALL_RESOURCES`] from the activity summaries.
pub const ALL_RESOURCES_SUMMARIZED: NamedQuery = named!("summaries/all_resources");
/// What an activity summary holds, over the `cloudtrail` table. Takes [`NoParams`].
pub const ACTIVITY_SUMMARY: NamedQuery = named!("summaries/activity");
/// Takes [`ActivePrincipals`].
pub const ACTIVE_USERS: NamedQuery = named!("active_users");
/// Takes [`ActivePrincipals`].
pub const ACTIVE_ROLES: NamedQuery = named!("active_roles");
/// Takes [`PrincipalCalls`].
pub const USER_CALLS: NamedQuery = named!("user_calls");
/// Takes [`PrincipalCalls`].
pub const ROLE_CALLS: NamedQuery = named!("role_calls");
/// Takes [`NoParams`].
pub const EVENT_NAMES: NamedQuery = named!("event_names");
/// Takes [`SessionEvents`].
pub const SESSION_EVENTS: NamedQuery = named!("session_events");
/// Takes [`NoParams`].
pub const SESSION_LINKS: NamedQuery = named!("session_links");
/// Takes [`SessionCalls`].
pub const SESSION_CALLS: NamedQuery = named!("session_calls");
/// Takes [`PersonSessions`]; materialized as `person_sessions` for [`SESSION_CALLS`] and
/// [`SESSION_REQUESTS`].
pub const PERSON_SESSIONS: NamedQuery = named!("person_sessions");
/// Takes [`SessionCalls`].
pub const SESSION_REQUESTS: NamedQuery = named!("session_requests");
/// Takes [`RoleCallsByPerson`].
pub const ROLE_CALLS_BY_PERSON: NamedQuery = named!("role_calls_by_person");
/// Takes [`PrincipalCalls`].
pub const PRINCIPAL_REQUESTS: NamedQuery = named!("principal_requests");

impl NamedQuery {
    pub async fn run(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &dyn Params,
    ) -> Result<Vec<arrow::array::RecordBatch>, SqlError> {
        let values = self.bind(params)?;
        crate::sql::query(ctx, self.text, values)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs the query on the partitions of `accounts` only: for the queries whose result has the
    /// column `account` and that leave choosing accounts to their caller.
    pub async fn run_in_accounts(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &dyn Params,
        accounts: &[String],
    ) -> Result<Vec<arrow::array::RecordBatch>, SqlError> {
        let values = self.bind(params)?;
        crate::sql::query_in_accounts(ctx, self.text, values, accounts)
            .await
            .map_err(|e| self.error(e))
    }

    /// As [`NamedQuery::run_in_accounts`], with the batches streamed as they are made.
    pub async fn stream_in_accounts(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &dyn Params,
        accounts: &[String],
    ) -> Result<datafusion::physical_plan::SendableRecordBatchStream, SqlError> {
        let values = self.bind(params)?;
        crate::sql::stream_in_accounts(ctx, self.text, values, accounts)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs the query and keeps its result in memory as a table named after the query, for the
    /// queries that read it.
    pub async fn materialize(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        params: &dyn Params,
    ) -> Result<(), SqlError> {
        let values = self.bind(params)?;
        crate::sql::materialize(ctx, self.text, values, self.name)
            .await
            .map_err(|e| self.error(e))
    }

    /// As [`NamedQuery::materialize`], over the accounts reachable from `start` through the
    /// accounts the result names in its column `next` (see [`crate::sql::materialize_reaching`]),
    /// planned in `source` and kept in `ctx`.
    /// Gives the accounts read.
    pub async fn materialize_reaching(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        source: &datafusion::prelude::SessionContext,
        params: &dyn Params,
        start: &[String],
        next: &str,
    ) -> Result<Vec<String>, SqlError> {
        let values = self.bind(params)?;
        crate::sql::materialize_reaching(ctx, source, self.text, values, start, next, self.name)
            .await
            .map_err(|e| self.error(e))
    }

    /// The values by name; each placeholder of the text gets one, and each value has a placeholder.
    fn bind(&self, params: &dyn Params) -> Result<Option<ParamValues>, SqlError> {
        let values: HashMap<String, ScalarValue> = params
            .values()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        let placeholders = self.placeholders()?;
        let mut given: Vec<&String> = values.keys().collect();
        given.sort_unstable();
        if placeholders.iter().ne(given.iter().copied()) {
            return Err(SqlError::Query(format!(
                "sql/{}.sql takes {placeholders:?}, given {given:?}",
                self.name
            )));
        }
        Ok((!values.is_empty()).then(|| ParamValues::from(values)))
    }

    fn error(&self, error: SqlError) -> SqlError {
        SqlError::Query(format!("sql/{}.sql: {error}", self.name))
    }

    /// The names of the placeholders (`$name`) outside literals and comments, sorted, once each.
    pub fn placeholders(&self) -> Result<Vec<String>, SqlError> {
        let tokens = Tokenizer::new(&GenericDialect {}, self.text)
            .tokenize()
            .map_err(|e| SqlError::Query(format!("sql/{}.sql: {e}", self.name)))?;
        let mut names: Vec<String> = Vec::new();
        for token in tokens {
            if let Token::Placeholder(placeholder) = token {
                let name = placeholder
                    .strip_prefix('$')
                    .filter(|name| !name.is_empty() && !name.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        SqlError::Query(format!(
                            "sql/{}.sql: placeholder {placeholder:?} has no name; write $name",
                            self.name
                        ))
                    })?;
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_string());
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> crate::time::Day {
        crate::time::parse_day(text).expect("a day")
    }

    /// Every file has a header and exactly the placeholders its parameters name.
    fn check(query: NamedQuery, params: impl Params) {
        assert!(
            query.text.starts_with("-- "),
            "sql/{}.sql needs a header comment",
            query.name
        );
        let mut names: Vec<&str> = params.values().iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            query.placeholders().expect("tokenizes"),
            names,
            "sql/{}.sql",
            query.name
        );
        query.bind(&params).expect("binds");
    }

    #[test]
    fn every_named_query_takes_exactly_its_parameters() {
        let window = Window::new(Some(day("2024-01-01")), Some(day("2024-01-31"))).expect("window");
        let active = || ActivePrincipals {
            account: "1",
            window: &window,
        };
        check(ACTIVE_USERS, active());
        check(ACTIVE_ROLES, active());
        let calls = || PrincipalCalls {
            account: "1",
            window: &window,
            principal_arn: "arn",
        };
        check(USER_CALLS, calls());
        check(ROLE_CALLS, calls());
        check(PRINCIPAL_REQUESTS, calls());
        check(EVENT_NAMES, NoParams);
        check(SESSION_EVENTS, SessionEvents { window: &window });
        check(SESSION_LINKS, NoParams);
        check(
            PERSON_SESSIONS,
            PersonSessions {
                principal_arn: "p",
                principal_id: "AIDA",
                session_prefix: "p/",
                max_depth: 5,
                role_arn: "r",
            },
        );
        let session_calls = || SessionCalls {
            role_arn: "r",
            role_account: "2",
            window: &window,
        };
        check(SESSION_CALLS, session_calls());
        check(SESSION_REQUESTS, session_calls());
        check(
            ROLE_CALLS_BY_PERSON,
            RoleCallsByPerson {
                account: "1",
                window: &window,
                role_arn: "r",
                max_depth: 5,
            },
        );
        check(ALL_CALLS, Days { window: &window });
        check(ALL_REQUESTS, Days { window: &window });
        check(DAILY_CALLS, Days { window: &window });
        check(DAYS_WITH_LOGS, Days { window: &window });
        check(ALL_CALLS_SUMMARIZED, Days { window: &window });
        check(DAILY_CALLS_SUMMARIZED, Days { window: &window });
        check(ACTIVITY_SUMMARY, NoParams);
        check(
            ALL_RESOURCES_SUMMARIZED,
            Resources {
                window: &window,
                principal_arn: None,
                max_resources: 20,
            },
        );
        check(
            ALL_ROLE_CALLS_BY_PERSON,
            RolesByPerson {
                window: &window,
                max_depth: 5,
            },
        );
        check(
            ALL_RESOURCES,
            Resources {
                window: &window,
                principal_arn: None,
                max_resources: 20,
            },
        );
        // The other engines' variant takes the same parameters.
        let athena = NamedQuery {
            name: "all_resources.athena",
            text: include_str!("../../sql/all_resources.athena.sql"),
        };
        assert_eq!(
            athena.placeholders().expect("tokenizes"),
            ALL_RESOURCES.placeholders().expect("tokenizes")
        );
    }

    #[test]
    fn placeholders_are_named_and_found_outside_literals_and_comments() {
        let query = |text: &'static str| NamedQuery { name: "test", text };
        let cases: [(&'static str, Result<Vec<&str>, ()>); 5] = [
            ("SELECT $b, $a, $b", Ok(vec!["a", "b"])),
            ("SELECT '$x' FROM t WHERE a = $y", Ok(vec!["y"])),
            ("-- what $z\nSELECT 1", Ok(vec![])),
            ("SELECT $1", Err(())),
            ("SELECT ?", Err(())),
        ];
        for (text, expected) in cases {
            let found = query(text).placeholders().map_err(|_| ());
            let found = found.map(|names| names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
            let expected = expected.map(|names| names.iter().map(|n| n.to_string()).collect());
            assert_eq!(found, expected, "{text}");
        }
        let window = Window::default();
        assert!(
            query("SELECT $a")
                .bind(&PrincipalCalls {
                    account: "1",
                    window: &window,
                    principal_arn: "u"
                })
                .is_err()
        );
    }
}
