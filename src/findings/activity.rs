//! What principals did, as the store answers it: the rows of the call queries of `sql/`, read into
//! [`CallActivity`], with the resources each kind of call named.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, UInt64Type};
use arrow::error::ArrowError;
use datafusion::prelude::SessionContext;

use super::needs::RequestRef;
use super::{CallActivity, RESOURCES_SHOWN};
use crate::sql::SqlError;
use crate::sql::queries::{self, NamedQuery};
use crate::store::schema::column;
use crate::time::Window;

/// An account and the ARN of one of its principals.
pub type PrincipalKey = (String, String);

/// The calls of every principal of `accounts` in `window`, by account and principal ARN: one scan
/// for all of them (`sql/all_calls.sql`), and one for the resources they named, at most
/// `max_resources` per kind of call.
pub async fn of_accounts(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
    max_resources: usize,
) -> Result<HashMap<PrincipalKey, Vec<CallActivity>>, QueryError> {
    let query = summarized(ctx, queries::ALL_CALLS, queries::ALL_CALLS_SUMMARIZED);
    let calls = query
        .run_in_accounts(ctx, &queries::Days { window }, accounts)
        .await?;
    let mut activity: HashMap<PrincipalKey, Vec<CallActivity>> = HashMap::new();
    let rows = activity_rows(&calls, &[column::ACCOUNT, "principal_arn"])
        .map_err(|error| QueryError::Rows(query.name, error))?;
    for (mut key, call) in rows {
        let (Some(arn), Some(account)) = (key.pop().flatten(), key.pop().flatten()) else {
            continue;
        };
        activity.entry((account, arn)).or_default().push(call);
    }
    let resources = resources(ctx, accounts, window, None, max_resources).await?;
    for ((account, arn), calls) in &mut activity {
        attach_resources(calls, |source, name| {
            resources.get(&(account.clone(), arn.clone(), source.into(), name.into()))
        });
    }
    Ok(activity)
}

/// `summarized` when the session has the activity summaries (`crate::sql::register_activity`), else
/// `over_events`: two queries with the same answer.
fn summarized(ctx: &SessionContext, over_events: NamedQuery, summarized: NamedQuery) -> NamedQuery {
    match ctx.table_exist(crate::sql::ACTIVITY_TABLE) {
        Ok(true) => summarized,
        _ => over_events,
    }
}

/// The calls of one principal, as `query` (a query taking [`queries::PrincipalCalls`]) gives
/// them, with the resources they named.
pub async fn of_principal(
    ctx: &SessionContext,
    query: NamedQuery,
    account: &str,
    principal_arn: &str,
    window: &Window,
) -> Result<Vec<CallActivity>, QueryError> {
    let batches = query
        .run(
            ctx,
            &queries::PrincipalCalls {
                account,
                window,
                principal_arn,
            },
        )
        .await?;
    let mut calls: Vec<CallActivity> = activity_rows(&batches, &[])
        .map_err(|error| QueryError::Rows(query.name, error))?
        .into_iter()
        .map(|(_, call)| call)
        .collect();
    let resources = resources(
        ctx,
        &[account.to_string()],
        window,
        Some(principal_arn),
        RESOURCES_SHOWN,
    )
    .await?;
    attach_resources(&mut calls, |source, name| {
        resources.get(&(
            account.to_string(),
            principal_arn.to_string(),
            source.into(),
            name.into(),
        ))
    });
    Ok(calls)
}

/// How many calls a principal made on one day of the window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DailyCalls {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub calls: u64,
    pub denied_calls: u64,
}

/// The calls of every principal of `accounts` on each day of `window` (`sql/daily_calls.sql`), by
/// account and principal ARN, each principal's days in order.
pub async fn daily_of_accounts(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
) -> Result<HashMap<PrincipalKey, Vec<DailyCalls>>, QueryError> {
    let query = summarized(ctx, queries::DAILY_CALLS, queries::DAILY_CALLS_SUMMARIZED);
    let batches = query
        .run_in_accounts(ctx, &queries::Days { window }, accounts)
        .await?;
    let shape = |error| QueryError::Rows(query.name, error);
    let mut daily: HashMap<PrincipalKey, Vec<DailyCalls>> = HashMap::new();
    for batch in &batches {
        let [account, arn, day] =
            [column::ACCOUNT, "principal_arn", column::DAY].map(|name| text_column(batch, name));
        let (account, arn, day) = (
            account.map_err(shape)?,
            arn.map_err(shape)?,
            day.map_err(shape)?,
        );
        let calls = count_column(batch, "calls").map_err(shape)?;
        let denied = count_column(batch, "denied_calls").map_err(shape)?;
        for row in 0..batch.num_rows() {
            let (Some(account), Some(arn), Some(day)) =
                (value(&account, row), value(&arn, row), value(&day, row))
            else {
                continue;
            };
            daily.entry((account, arn)).or_default().push(DailyCalls {
                day,
                calls: number(&calls, row),
                denied_calls: number(&denied, row),
            });
        }
    }
    for days in daily.values_mut() {
        days.sort_by(|a, b| a.day.cmp(&b.day));
    }
    Ok(daily)
}

/// The days of `window` on which the store holds logs of each of `accounts`
/// (`sql/days_with_logs.sql`), in order; an account without any is absent.
pub async fn days_with_logs(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
) -> Result<BTreeMap<String, Vec<String>>, QueryError> {
    let query = queries::DAYS_WITH_LOGS;
    let batches = query
        .run_in_accounts(ctx, &queries::Days { window }, accounts)
        .await?;
    let shape = |error| QueryError::Rows(query.name, error);
    let mut days: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for batch in &batches {
        let account = text_column(batch, column::ACCOUNT).map_err(shape)?;
        let day = text_column(batch, column::DAY).map_err(shape)?;
        for row in 0..batch.num_rows() {
            if let (Some(account), Some(day)) = (value(&account, row), value(&day, row)) {
                days.entry(account).or_default().push(day);
            }
        }
    }
    for of_account in days.values_mut() {
        of_account.sort();
    }
    Ok(days)
}

/// Every successful call of the principals of `accounts` in `window` (`sql/all_requests.sql`), as it
/// streams in: `visit(account, principal ARN, request)` for each, with `calls` 1.
pub async fn each_request(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
    mut visit: impl FnMut(&str, &str, &RequestRef<'_>),
) -> Result<(), QueryError> {
    use futures::StreamExt;
    let query = queries::ALL_REQUESTS;
    let mut stream = query
        .stream_in_accounts(ctx, &queries::Days { window }, accounts)
        .await?;
    let shape = |error| QueryError::Rows(query.name, error);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|error| {
            QueryError::Sql(SqlError::Query(format!("sql/{}.sql: {error}", query.name)))
        })?;
        let columns = [
            column::ACCOUNT,
            "principal_arn",
            column::EVENT_SOURCE,
            column::EVENT_NAME,
            column::EVENT_TYPE,
            "recipientaccountid",
            "awsregion",
            "requestparameters",
            "eventtime",
            "eventid",
        ]
        .map(|name| text_column(&batch, name));
        let mut arrays = Vec::with_capacity(columns.len());
        for column in columns {
            arrays.push(column.map_err(shape)?);
        }
        let texts: Vec<_> = arrays
            .iter()
            .map(|array| array.as_string::<i32>())
            .collect();
        let at = |column: usize, row: usize| {
            let array = texts[column];
            array.is_valid(row).then(|| array.value(row))
        };
        for row in 0..batch.num_rows() {
            let (Some(account), Some(principal), Some(event_source), Some(event_name)) =
                (at(0, row), at(1, row), at(2, row), at(3, row))
            else {
                continue;
            };
            let time = at(8, row);
            visit(
                account,
                principal,
                &RequestRef {
                    event_source,
                    event_name,
                    event_type: at(4, row),
                    account: at(5, row),
                    region: at(6, row),
                    parameters: at(7, row),
                    calls: 1,
                    first_call: time,
                    last_call: time,
                    sample_event: at(9, row),
                },
            );
        }
    }
    Ok(())
}

/// The first two steps of following role sessions (`sql/session_events.sql`, then
/// `sql/session_links.sql`), kept in memory as the tables the session queries read, for the sessions
/// in the roles of `accounts`. Only the accounts a chain into those can pass through are read:
/// `accounts`, then the accounts their session events name as callers, and so on. A session opened
/// the day before the window still counts. Gives the accounts read.
pub async fn follow_sessions(
    ctx: &SessionContext,
    window: &Window,
    accounts: &[String],
) -> Result<Vec<String>, QueryError> {
    let sessions_window = window.widened_before(1);
    let read = queries::SESSION_EVENTS
        .materialize_reaching(
            ctx,
            &crate::sql::reading_session_openings(ctx),
            &queries::SessionEvents {
                window: &sessions_window,
            },
            accounts,
            "caller_account",
        )
        .await?;
    queries::SESSION_LINKS
        .materialize(ctx, &queries::NoParams)
        .await?;
    Ok(read)
}

/// The calls made in each role's sessions, by account, role ARN and the person behind the session
/// (`sql/all_role_calls_by_person.sql`, after the session steps).
pub async fn of_people_in_roles(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
    max_depth: u32,
) -> Result<HashMap<PrincipalKey, BTreeMap<String, Vec<CallActivity>>>, QueryError> {
    follow_sessions(ctx, window, accounts).await?;
    let query = queries::ALL_ROLE_CALLS_BY_PERSON;
    let batches = query
        .run_in_accounts(ctx, &queries::RolesByPerson { window, max_depth }, accounts)
        .await?;
    let rows = activity_rows(&batches, &[column::ACCOUNT, "role_arn", "person"])
        .map_err(|error| QueryError::Rows(query.name, error))?;
    let mut people: HashMap<PrincipalKey, BTreeMap<String, Vec<CallActivity>>> = HashMap::new();
    for (mut key, call) in rows {
        let person = key.pop().flatten().unwrap_or_else(|| "unknown".into());
        let (Some(role), Some(account)) = (key.pop().flatten(), key.pop().flatten()) else {
            continue;
        };
        people
            .entry((account, role))
            .or_default()
            .entry(person)
            .or_default()
            .push(call);
    }
    Ok(people)
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("sql/{0}.sql gave rows of another shape")]
    Rows(&'static str, #[source] ArrowError),
}

/// Account, principal ARN, event source and event name.
type ResourceKey = (String, String, String, String);

/// One principal's distinct successful requests (`sql/principal_requests.sql`), and the resource
/// ARNs (`resources[].ARN`) its calls of each kind named, by event source and name, at most
/// `max_resources` of each kind.
pub async fn requests_of(
    ctx: &SessionContext,
    account: &str,
    principal_arn: &str,
    window: &Window,
    max_resources: usize,
) -> Result<(Vec<Request>, HashMap<(String, String), Vec<String>>), QueryError> {
    let query = queries::PRINCIPAL_REQUESTS;
    let batches = query
        .run(
            ctx,
            &queries::PrincipalCalls {
                account,
                window,
                principal_arn,
            },
        )
        .await?;
    let requests = request_rows(&batches).map_err(|error| QueryError::Rows(query.name, error))?;
    let accounts = [account.to_string()];
    let by_kind = resources(ctx, &accounts, window, Some(principal_arn), max_resources)
        .await?
        .into_iter()
        .map(|((_, _, source, name), (arns, _))| ((source, name), arns))
        .collect();
    Ok((requests, by_kind))
}

/// The distinct successful requests one principal made in a destination role through its sessions
/// (`sql/person_sessions.sql`, then `sql/session_requests.sql`).
pub async fn session_requests_of(
    ctx: &SessionContext,
    person: &queries::PersonSessions<'_>,
    calls: &queries::SessionCalls<'_>,
) -> Result<Vec<Request>, QueryError> {
    follow_sessions(ctx, calls.window, &[calls.role_account.to_string()]).await?;
    queries::PERSON_SESSIONS.materialize(ctx, person).await?;
    let query = queries::SESSION_REQUESTS;
    let batches = query.run(ctx, calls).await?;
    request_rows(&batches).map_err(|error| QueryError::Rows(query.name, error))
}

/// One row of `sql/principal_requests.sql`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub event_source: String,
    pub event_name: String,
    pub event_type: Option<String>,
    /// The account the call was made in (`recipientAccountId`), and its region.
    pub account: Option<String>,
    pub region: Option<String>,
    /// `requestParameters` as CloudTrail wrote it (JSON).
    pub parameters: Option<String>,
    pub calls: u64,
    pub first_call: Option<String>,
    pub last_call: Option<String>,
    /// The smallest eventID of these calls.
    pub sample_event: Option<String>,
}

fn request_rows(batches: &[RecordBatch]) -> Result<Vec<Request>, ArrowError> {
    let mut requests = Vec::new();
    for batch in batches {
        let [
            source,
            name,
            kind,
            account,
            region,
            parameters,
            first,
            last,
            sample,
        ] = [
            column::EVENT_SOURCE,
            column::EVENT_NAME,
            column::EVENT_TYPE,
            "recipientaccountid",
            "awsregion",
            "requestparameters",
            "first_call",
            "last_call",
            "sample_event",
        ]
        .map(|name| text_column(batch, name));
        let (source, name, kind, account, region, parameters, first, last, sample) = (
            source?,
            name?,
            kind?,
            account?,
            region?,
            parameters?,
            first?,
            last?,
            sample?,
        );
        let calls = count_column(batch, "calls")?;
        for row in 0..batch.num_rows() {
            let (Some(event_source), Some(event_name)) = (value(&source, row), value(&name, row))
            else {
                continue;
            };
            requests.push(Request {
                event_source,
                event_name,
                event_type: value(&kind, row),
                account: value(&account, row),
                region: value(&region, row),
                parameters: value(&parameters, row),
                calls: number(&calls, row),
                first_call: value(&first, row),
                last_call: value(&last, row),
                sample_event: value(&sample, row),
            });
        }
    }
    Ok(requests)
}

/// The resources named by each principal's successful calls of each kind (`sql/all_resources.sql`).
async fn resources(
    ctx: &SessionContext,
    accounts: &[String],
    window: &Window,
    principal_arn: Option<&str>,
    max_resources: usize,
) -> Result<HashMap<ResourceKey, (Vec<String>, u64)>, QueryError> {
    let query = match principal_arn {
        None => summarized(
            ctx,
            queries::ALL_RESOURCES,
            queries::ALL_RESOURCES_SUMMARIZED,
        ),
        Some(_) => queries::ALL_RESOURCES,
    };
    let batches = query
        .run_in_accounts(
            ctx,
            &queries::Resources {
                window,
                principal_arn,
                max_resources,
            },
            accounts,
        )
        .await?;
    let shape = |error| QueryError::Rows(query.name, error);
    let mut resources: HashMap<ResourceKey, (Vec<String>, u64)> = HashMap::new();
    for batch in &batches {
        let [account, arn, source, name, resource] = [
            column::ACCOUNT,
            "principal_arn",
            column::EVENT_SOURCE,
            column::EVENT_NAME,
            "resource_arn",
        ]
        .map(|name| text_column(batch, name));
        let (account, arn, source, name, resource) = (
            account.map_err(shape)?,
            arn.map_err(shape)?,
            source.map_err(shape)?,
            name.map_err(shape)?,
            resource.map_err(shape)?,
        );
        let seen = count_column(batch, "resources_seen").map_err(shape)?;
        for row in 0..batch.num_rows() {
            let (Some(account), Some(arn), Some(source), Some(name), Some(resource)) = (
                value(&account, row),
                value(&arn, row),
                value(&source, row),
                value(&name, row),
                value(&resource, row),
            ) else {
                continue;
            };
            let entry = resources.entry((account, arn, source, name)).or_default();
            entry.0.push(resource);
            entry.1 = entry.1.max(number(&seen, row));
        }
    }
    for (arns, _) in resources.values_mut() {
        arns.sort();
    }
    Ok(resources)
}

/// Gives each kind of call the resources `of(event source, event name)` has for it. Resources are
/// counted by source and name, so when one source and name came with several event types, only the
/// first of those calls carries them.
fn attach_resources<'a>(
    calls: &mut [CallActivity],
    of: impl Fn(&str, &str) -> Option<&'a (Vec<String>, u64)>,
) {
    let mut given = std::collections::HashSet::new();
    for call in calls.iter_mut() {
        if let Some((arns, seen)) = of(&call.event_source, &call.event_name)
            && given.insert((call.event_source.clone(), call.event_name.clone()))
        {
            call.resources = arns.clone();
            call.resources_seen = *seen;
        }
    }
}

fn text_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))?;
    arrow::compute::cast(column, &DataType::Utf8)
}

fn count_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))?;
    arrow::compute::cast(column, &DataType::UInt64)
}

fn value(array: &ArrayRef, row: usize) -> Option<String> {
    let array = array.as_string::<i32>();
    array.is_valid(row).then(|| array.value(row).to_string())
}

fn number(array: &ArrayRef, row: usize) -> u64 {
    let array = array.as_primitive::<UInt64Type>();
    if array.is_valid(row) {
        array.value(row)
    } else {
        0
    }
}

/// One row of a query of calls: the values of the asked key columns, and the calls.
pub type KeyedCall = (Vec<Option<String>>, CallActivity);

/// The rows of a query of calls (`sql/user_calls.sql` and its kin): `eventsource`, `eventname`,
/// `eventtype`, `calls`, `first_call`, `last_call`, and `denied_calls` where the query counts them;
/// each with the row's values of the columns `keys` (such as the person behind a session).
pub fn activity_rows(batches: &[RecordBatch], keys: &[&str]) -> Result<Vec<KeyedCall>, ArrowError> {
    let mut rows = Vec::new();
    for batch in batches {
        let optional = |name: &str, to: &DataType| -> Result<Option<ArrayRef>, ArrowError> {
            batch
                .column_by_name(name)
                .map(|column| arrow::compute::cast(column, to))
                .transpose()
        };
        let sources = text_column(batch, column::EVENT_SOURCE)?;
        let names = text_column(batch, column::EVENT_NAME)?;
        let calls = count_column(batch, "calls")?;
        let types = optional(column::EVENT_TYPE, &DataType::Utf8)?;
        let denied = optional("denied_calls", &DataType::UInt64)?;
        let first = optional("first_call", &DataType::Utf8)?;
        let last = optional("last_call", &DataType::Utf8)?;
        let keys = keys
            .iter()
            .map(|name| text_column(batch, name))
            .collect::<Result<Vec<_>, _>>()?;
        let maybe = |array: &Option<ArrayRef>, row: usize| {
            array.as_ref().and_then(|array| value(array, row))
        };
        for row in 0..batch.num_rows() {
            let (Some(event_source), Some(event_name)) = (value(&sources, row), value(&names, row))
            else {
                continue;
            };
            rows.push((
                keys.iter().map(|key| value(key, row)).collect(),
                CallActivity {
                    event_source,
                    event_name,
                    event_type: maybe(&types, row),
                    calls: number(&calls, row),
                    denied_calls: denied.as_ref().map_or(0, |denied| number(denied, row)),
                    first_call: maybe(&first, row),
                    last_call: maybe(&last, row),
                    resources: Vec::new(),
                    resources_seen: 0,
                },
            ));
        }
    }
    Ok(rows)
}
