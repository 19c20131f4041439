//! Activity summaries: for each data file, its calls by IAM users and role sessions counted by day,
//! principal and kind of call, with the resources the successful ones named. They are written with
//! the data file, under `_ctidx/activity/` with the same partition folders and file name, so that a
//! question about every principal of an organization reads a tenth of the rows instead of every
//! event. `sql/activity_summary.sql` defines a summary's rows over the `cloudtrail` table; a test
//! holds this code to it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListBuilder, RecordBatch, StringArray, StringBuilder,
    StructArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::schema::{self, column};

/// The folder of `_ctidx` that holds the summaries.
pub const ACTIVITY_DIR: &str = "activity";

/// The error codes of a call refused for lack of permission, as the call queries of `sql/` list them.
pub const DENIED_ERROR_CODES: [&str; 8] = [
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
];

const FIRST_CALL: &str = "first_call";
const LAST_CALL: &str = "last_call";

/// The columns of a summary file (the partition columns `account` and `month` are its folders).
pub fn summary_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        Arc::new(Schema::new(vec![
            text(column::DAY, false),
            text("principal_type", true),
            text("principal_arn", true),
            text(column::EVENT_SOURCE, true),
            text(column::EVENT_NAME, true),
            text(column::EVENT_TYPE, true),
            Field::new("calls", DataType::Int64, false),
            Field::new("denied_calls", DataType::Int64, false),
            text(FIRST_CALL, true),
            text(LAST_CALL, true),
            Field::new(
                "resources",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                false,
            ),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// What is counted for one day, principal and kind of call.
#[derive(Default)]
struct Group {
    /// Event source, event name, event type.
    call: [Option<String>; CALL_PARTS],
    calls: i64,
    denied_calls: i64,
    first_call: Option<String>,
    last_call: Option<String>,
    resources: BTreeSet<String>,
}

/// The parts of a group's key that name its principal's day, in [`summary_schema`] order: day,
/// principal type, principal ARN.
const PRINCIPAL_PARTS: usize = 3;

/// The parts of a group's key that name its kind of call: event source, event name, event type.
const CALL_PARTS: usize = 3;

/// One principal's calls on one day.
struct PrincipalDay {
    /// Day, principal type, principal ARN.
    key: [Option<String>; PRINCIPAL_PARTS],
    groups: Vec<Group>,
    /// Index into `groups` by the [`CALL_PARTS`] parts of [`Group::call`] (see [`key_of`]), kept
    /// only once there are more than [`SEARCHED_GROUPS`] groups.
    by_call: HashMap<Vec<u8>, usize, ahash::RandomState>,
    /// The group of the row counted last: a principal often makes the same call several times in
    /// a row (29% of the rows of 1M generated events).
    last: Option<usize>,
}

/// Groups of a principal's day looked for one by one, without hashing. Most principals make only
/// a few kinds of call a day: 1M generated events have about nine per principal's day (103,210
/// groups in 11,865 principal's days), and on a two-day partition of them, searching took fewer
/// instructions than a hash table for each principal's day (`add`: 77.7M against 80.7M).
const SEARCHED_GROUPS: usize = 16;

impl PrincipalDay {
    fn new(key: [Option<String>; PRINCIPAL_PARTS]) -> PrincipalDay {
        PrincipalDay {
            key,
            groups: Vec::new(),
            by_call: HashMap::default(),
            last: None,
        }
    }

    /// The group of a kind of call, added if new; `key` is a buffer to reuse.
    fn group_of(&mut self, call: [Option<&str>; CALL_PARTS], key: &mut Vec<u8>) -> &mut Group {
        let same = |group: &Group| same_parts(&group.call, call);
        if let Some(at) = self.last.filter(|at| same(&self.groups[*at])) {
            return &mut self.groups[at];
        }
        let found = if self.groups.len() <= SEARCHED_GROUPS {
            self.groups.iter().position(same)
        } else {
            if self.by_call.is_empty() {
                for (at, group) in self.groups.iter().enumerate() {
                    let mut known = Vec::new();
                    key_of(&mut known, group.call.iter().map(Option::as_deref));
                    self.by_call.insert(known, at);
                }
            }
            key_of(key, call);
            self.by_call.get(key.as_slice()).copied()
        };
        let at = found.unwrap_or_else(|| {
            let at = self.groups.len();
            if !self.by_call.is_empty() {
                self.by_call.insert(key.clone(), at);
            }
            self.groups.push(Group {
                call: owned(call),
                ..Group::default()
            });
            at
        });
        self.last = Some(at);
        &mut self.groups[at]
    }
}

/// Counts the rows of a data file as they are written, and gives its summary.
///
/// Rows come in runs of one day and principal (the store's order), so the principal's day is looked
/// up once per run and only the kind of call once per row: with all six parts of the key hashed for
/// every row, counting took a tenth of the time of writing a data file.
#[derive(Default)]
pub struct SummaryBuilder {
    principal_days: Vec<PrincipalDay>,
    /// Index into `principal_days` by its key (see [`key_of`]), for rows that come back to a
    /// day and principal after others.
    by_principal_day: HashMap<Vec<u8>, usize, ahash::RandomState>,
    /// The principal's day of the row counted last.
    current: Option<usize>,
    key: Vec<u8>,
}

/// The columns of the store's rows a summary reads.
struct Columns<'a> {
    day: &'a StringArray,
    identity: &'a StructArray,
    identity_type: &'a StringArray,
    identity_arn: &'a StringArray,
    issuer: &'a StructArray,
    session: &'a StructArray,
    issuer_arn: &'a StringArray,
    source: &'a StringArray,
    name: &'a StringArray,
    event_type: &'a StringArray,
    error_code: &'a StringArray,
    time: &'a StringArray,
    resources: &'a arrow::array::ListArray,
}

fn missing(name: &str) -> ArrowError {
    ArrowError::SchemaError(format!(
        "the rows have no column `{name}` of the store's type"
    ))
}

fn member<'a>(parent: &'a StructArray, name: &str) -> Result<&'a ArrayRef, ArrowError> {
    parent.column_by_name(name).ok_or_else(|| missing(name))
}

fn text_member<'a>(parent: &'a StructArray, name: &str) -> Result<&'a StringArray, ArrowError> {
    member(parent, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| missing(name))
}

fn struct_member<'a>(parent: &'a StructArray, name: &str) -> Result<&'a StructArray, ArrowError> {
    member(parent, name)?
        .as_struct_opt()
        .ok_or_else(|| missing(name))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Columns<'a>, ArrowError> {
        let identity = batch
            .column_by_name(column::USER_IDENTITY)
            .and_then(|c| c.as_struct_opt())
            .ok_or_else(|| missing(column::USER_IDENTITY))?;
        let session = struct_member(identity, column::SESSION_CONTEXT)?;
        let issuer = struct_member(session, column::SESSION_ISSUER)?;
        Ok(Columns {
            day: schema::text_column(batch, column::DAY)?,
            identity,
            identity_type: text_member(identity, "type")?,
            identity_arn: text_member(identity, column::ARN)?,
            session,
            issuer,
            issuer_arn: text_member(issuer, column::ARN)?,
            source: schema::text_column(batch, column::EVENT_SOURCE)?,
            name: schema::text_column(batch, column::EVENT_NAME)?,
            event_type: schema::text_column(batch, column::EVENT_TYPE)?,
            error_code: schema::text_column(batch, "errorcode")?,
            time: schema::text_column(batch, column::EVENT_TIME)?,
            resources: batch
                .column_by_name("resources")
                .and_then(|c| c.as_list_opt::<i32>())
                .ok_or_else(|| missing("resources"))?,
        })
    }

    /// The principal's type and ARN, as `sql/all_calls.sql` reads them: a user's ARN, or the ARN of
    /// the role behind a session. `None` for other identities, which summaries leave out.
    fn principal(&self, row: usize) -> Option<(&'a str, Option<&'a str>)> {
        let kind = text(self.identity_type, row).filter(|_| self.identity.is_valid(row))?;
        let arn = match kind {
            "IAMUser" => text(self.identity_arn, row),
            "AssumedRole" => text(self.issuer_arn, row)
                .filter(|_| self.session.is_valid(row) && self.issuer.is_valid(row)),
            _ => return None,
        };
        Some((kind, arn))
    }
}

fn text(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

/// Sets `key` to the bytes of `parts`, each a presence byte, then its length and bytes when
/// present, so that no two different lists of parts give the same bytes.
fn key_of<'a>(key: &mut Vec<u8>, parts: impl IntoIterator<Item = Option<&'a str>>) {
    key.clear();
    for part in parts {
        match part {
            None => key.push(0),
            Some(text) => {
                key.push(1);
                key.extend_from_slice(&(text.len() as u64).to_le_bytes());
                key.extend_from_slice(text.as_bytes());
            }
        }
    }
}

/// Whether the parts kept in a key are `parts`. Called for nearly every row, with few parts.
#[inline(always)]
fn same_parts<const N: usize>(known: &[Option<String>; N], parts: [Option<&str>; N]) -> bool {
    known
        .iter()
        .zip(parts)
        .all(|(known, part)| known.as_deref() == part)
}

fn owned<const N: usize>(parts: [Option<&str>; N]) -> [Option<String>; N] {
    parts.map(|part| part.map(str::to_string))
}

fn keep_min(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(|current| value < current) {
        replace_text(slot, value);
    }
}

/// Rows come in time order within a principal's day, so the last call changes at nearly every call:
/// its text is overwritten in place rather than allocated again.
fn keep_max(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(|current| value > current) {
        replace_text(slot, value);
    }
}

fn replace_text(slot: &mut Option<String>, value: &str) {
    let text = slot.get_or_insert_with(String::new);
    text.clear();
    text.push_str(value);
}

impl SummaryBuilder {
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let columns = Columns::of(batch)?;
        let resource_items = columns.resources.values().as_struct_opt();
        let resource_arns = resource_items
            .and_then(|items| items.column_by_name(column::ARN))
            .and_then(|arns| arns.as_string_opt::<i32>());
        for row in 0..batch.num_rows() {
            let Some((kind, arn)) = columns.principal(row) else {
                continue;
            };
            let principal_day = [text(columns.day, row), Some(kind), arn];
            let at = self.principal_day_of(principal_day);
            let call = [
                text(columns.source, row),
                text(columns.name, row),
                text(columns.event_type, row),
            ];
            let group = self.principal_days[at].group_of(call, &mut self.key);
            let Some(code) = text(columns.error_code, row) else {
                group.calls += 1;
                if let Some(time) = text(columns.time, row) {
                    keep_min(&mut group.first_call, time);
                    keep_max(&mut group.last_call, time);
                }
                if let (Some(items), Some(arns)) = (resource_items, resource_arns)
                    && columns.resources.is_valid(row)
                {
                    let offsets = columns.resources.value_offsets();
                    for item in offsets[row] as usize..offsets[row + 1] as usize {
                        if items.is_valid(item) && arns.is_valid(item) {
                            let arn = arns.value(item);
                            if !group.resources.contains(arn) {
                                group.resources.insert(arn.to_string());
                            }
                        }
                    }
                }
                continue;
            };
            if DENIED_ERROR_CODES.contains(&code) {
                group.denied_calls += 1;
            }
        }
        Ok(())
    }

    /// The index of the principal's day in `principal_days`, added if new.
    fn principal_day_of(&mut self, key: [Option<&str>; PRINCIPAL_PARTS]) -> usize {
        if let Some(at) = self
            .current
            .filter(|at| same_parts(&self.principal_days[*at].key, key))
        {
            return at;
        }
        key_of(&mut self.key, key);
        let at = match self.by_principal_day.get(self.key.as_slice()) {
            Some(at) => *at,
            None => {
                let at = self.principal_days.len();
                self.by_principal_day.insert(self.key.clone(), at);
                self.principal_days.push(PrincipalDay::new(owned(key)));
                at
            }
        };
        self.current = Some(at);
        at
    }

    /// The summary's rows, sorted by their key.
    pub fn finish(self) -> Result<RecordBatch, ArrowError> {
        let mut principal_days = self.principal_days;
        principal_days.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let mut principal_keys: [StringBuilder; PRINCIPAL_PARTS] =
            std::array::from_fn(|_| StringBuilder::new());
        let mut call_keys: [StringBuilder; CALL_PARTS] =
            std::array::from_fn(|_| StringBuilder::new());
        let (mut calls, mut denied) = (Int64Builder::new(), Int64Builder::new());
        let (mut first, mut last) = (StringBuilder::new(), StringBuilder::new());
        let mut resources = ListBuilder::new(StringBuilder::new());
        for principal_day in principal_days {
            let mut groups = principal_day.groups;
            groups.sort_unstable_by(|a, b| a.call.cmp(&b.call));
            for group in &groups {
                for (builder, part) in principal_keys.iter_mut().zip(&principal_day.key) {
                    builder.append_option(part.as_deref());
                }
                for (builder, part) in call_keys.iter_mut().zip(&group.call) {
                    builder.append_option(part.as_deref());
                }
                calls.append_value(group.calls);
                denied.append_value(group.denied_calls);
                first.append_option(group.first_call.as_deref());
                last.append_option(group.last_call.as_deref());
                for arn in &group.resources {
                    resources.values().append_value(arn);
                }
                resources.append(true);
            }
        }
        let mut columns: Vec<ArrayRef> = principal_keys
            .iter_mut()
            .chain(call_keys.iter_mut())
            .map(|builder| Arc::new(builder.finish()) as ArrayRef)
            .collect();
        columns.push(Arc::new(calls.finish()));
        columns.push(Arc::new(denied.finish()));
        columns.push(Arc::new(first.finish()));
        columns.push(Arc::new(last.finish()));
        columns.push(Arc::new(resources.finish()));
        RecordBatch::try_new(summary_schema(), columns)
    }

    /// The summary as the bytes of a Parquet file: Zstandard, and the call times as the differences
    /// from the time before them (rows of one day share its date and most of the hour). On 1M
    /// generated events this took the summaries from 2.92 MB with Snappy and dictionaries to 1.94 MB.
    pub fn into_parquet(self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        let batch = self.finish()?;
        let properties = [FIRST_CALL, LAST_CALL].into_iter().fold(
            WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?)),
            |builder, column| {
                builder
                    .set_column_dictionary_enabled(column.into(), false)
                    .set_column_encoding(column.into(), Encoding::DELTA_BYTE_ARRAY)
            },
        );
        let properties = properties.build();
        let mut writer = ArrowWriter::try_new(Vec::new(), summary_schema(), Some(properties))?;
        writer.write(&batch)?;
        writer.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use crate::ingest::{self, IngestOptions, source};
    use crate::sql::queries;
    use crate::store::Store;

    /// A record of account 111111111111; `identity` and `extra` are JSON members.
    fn record(id: usize, time: &str, name: &str, identity: &str, extra: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"{name}","eventID":"e{id}","eventType":"AwsApiCall","recipientAccountId":"111111111111","userIdentity":{identity}{extra}}}"#
        )
    }

    const ALICE: &str = r#"{"type":"IAMUser","arn":"arn:aws:iam::111111111111:user/alice","accountId":"111111111111","userName":"alice"}"#;
    const DEPLOY: &str = r#"{"type":"AssumedRole","arn":"arn:aws:sts::111111111111:assumed-role/deploy/s","accountId":"111111111111","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111111111111:role/deploy","userName":"deploy"}}}"#;
    const BARE_SESSION: &str = r#"{"type":"AssumedRole","arn":"arn:aws:sts::111111111111:assumed-role/x/s","accountId":"111111111111"}"#;
    const SERVICE: &str = r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#;
    const ROOT: &str =
        r#"{"type":"Root","arn":"arn:aws:iam::111111111111:root","accountId":"111111111111"}"#;

    fn resources(arns: &[&str]) -> String {
        let items: Vec<String> = arns
            .iter()
            .map(|arn| {
                format!(r#"{{"ARN":"{arn}","accountId":"111111111111","type":"AWS::S3::Object"}}"#)
            })
            .collect();
        format!(
            r#","resources":[{},{{"accountId":"111111111111"}}]"#,
            items.join(",")
        )
    }

    /// Every case a summary must count as `summaries/activity.sql` does: successful calls with
    /// resources named again, refused calls (counted or not), sessions with and without the role
    /// behind them, identities left out, two days and two months.
    fn records() -> Vec<String> {
        let denied = r#","errorCode":"AccessDenied""#;
        let throttled = r#","errorCode":"ThrottlingException""#;
        vec![
            record(
                1,
                "2024-03-01T10:00:00Z",
                "GetObject",
                ALICE,
                &resources(&["arn:aws:s3:::b/2", "arn:aws:s3:::b/1"]),
            ),
            record(
                2,
                "2024-03-01T11:00:00Z",
                "GetObject",
                ALICE,
                &resources(&["arn:aws:s3:::b/1"]),
            ),
            record(3, "2024-03-01T09:00:00Z", "GetObject", ALICE, ""),
            record(4, "2024-03-01T08:00:00Z", "GetObject", ALICE, denied),
            record(5, "2024-03-01T12:00:00Z", "GetObject", ALICE, throttled),
            record(
                6,
                "2024-03-02T10:00:00Z",
                "GetObject",
                ALICE,
                &resources(&["arn:aws:s3:::b/3"]),
            ),
            record(
                7,
                "2024-03-02T10:00:00Z",
                "PutObject",
                ALICE,
                &format!("{denied}{}", resources(&["arn:aws:s3:::b/4"])),
            ),
            record(
                8,
                "2024-03-02T10:30:00Z",
                "PutObject",
                DEPLOY,
                &resources(&["arn:aws:s3:::b/5"]),
            ),
            record(
                9,
                "2024-03-02T10:40:00Z",
                "PutObject",
                DEPLOY,
                r#","errorCode":"Client.UnauthorizedOperation""#,
            ),
            record(10, "2024-03-02T10:50:00Z", "ListBuckets", BARE_SESSION, ""),
            record(11, "2024-03-02T11:00:00Z", "ListBuckets", SERVICE, ""),
            record(12, "2024-03-02T11:10:00Z", "ListBuckets", ROOT, ""),
            record(13, "2024-04-01T00:00:00Z", "ListBuckets", DEPLOY, ""),
        ]
    }

    /// A principal's day finds each of its kinds of call again, whether they are looked for one by
    /// one or, past [`super::SEARCHED_GROUPS`], through the index built from those already there.
    #[test]
    fn a_principal_day_finds_every_kind_of_call_again() {
        let mut day = super::PrincipalDay::new([None, None, None]);
        let mut key = Vec::new();
        let names: Vec<String> = (0..40).map(|i| format!("Call{i}")).collect();
        let call = |i: usize| {
            let source = (!i.is_multiple_of(3)).then_some("s3.amazonaws.com");
            let event_type = (!i.is_multiple_of(5)).then_some("AwsApiCall");
            [source, Some(names[i].as_str()), event_type]
        };
        for i in 0..names.len() {
            day.group_of(call(i), &mut key).calls += 1;
            // Every earlier kind of call once more, out of order.
            for j in (0..=i).rev().step_by(3) {
                day.group_of(call(j), &mut key).calls += 1;
            }
        }
        assert_eq!(day.groups.len(), names.len());
        assert!(!day.by_call.is_empty());
        for i in 0..names.len() {
            let expected_calls =
                1 + (i..names.len()).filter(|last| (last - i) % 3 == 0).count() as i64;
            let group = day.group_of(call(i), &mut key);
            let found: Vec<Option<&str>> = group.call.iter().map(|p| p.as_deref()).collect();
            assert_eq!(found, call(i), "call {i}");
            assert_eq!(group.calls, expected_calls, "call {i}");
        }
    }

    /// The store's order puts a day's calls by one principal together, but a summary must not
    /// depend on it: rows that come back to a principal's day after others, across batches, are
    /// counted with its first ones.
    #[test]
    fn a_summary_does_not_depend_on_the_order_of_its_rows() {
        let text = format!("{{\"Records\":[{}]}}", records().join(","));
        let batch = crate::ingest::decode::decode_json(text.as_bytes(), Default::default())
            .expect("decodes");
        let sorted = crate::store::order::sort_rows(vec![batch.clone()]).expect("sorts");
        let mut in_order = super::SummaryBuilder::default();
        in_order.add(&sorted).expect("counts");
        let expected = in_order.finish().expect("finishes");
        assert!(expected.num_rows() > 5, "{expected:?}");

        let rows = batch.num_rows() as u32;
        // 5 and 13 rows have no common factor: every row once, principals' days interleaved.
        assert_eq!(rows, 13);
        let scrambled: arrow::array::UInt32Array = (0..rows).map(|i| i * 5 % rows).collect();
        let scrambled = arrow::compute::take_record_batch(&batch, &scrambled).expect("takes");
        let mut out_of_order = super::SummaryBuilder::default();
        for start in (0..scrambled.num_rows()).step_by(4) {
            let length = 4.min(scrambled.num_rows() - start);
            out_of_order
                .add(&scrambled.slice(start, length))
                .expect("counts");
        }
        assert_eq!(out_of_order.finish().expect("finishes"), expected);
    }

    fn text_of(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
        let batches = crate::sql::block_on(crate::sql::query(ctx, sql, None))
            .expect("runtime")
            .expect("query runs");
        arrow::util::pretty::pretty_format_batches(&batches)
            .expect("prints")
            .to_string()
    }

    const COLUMNS: &str = "account, month, day, principal_type, principal_arn, eventsource, \
        eventname, eventtype, calls, denied_calls, first_call, last_call, \
        array_to_string(resources, ' ') AS resources";

    #[test]
    fn summaries_written_with_the_data_hold_what_their_definition_computes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs folder");
        let records = records();
        let (first, second) = records.split_at(7);
        for (name, part) in [("a.json", first), ("b.json", second)] {
            let text = format!("{{\"Records\":[{}]}}", part.join(","));
            std::fs::write(logs.join(name), text).expect("writes logs");
        }
        let store = Store::new(dir.path().join("store"));
        let listing = source::list_local(&logs).expect("lists");
        ingest::ingest(&store, listing, &IngestOptions::default(), &ingest::Silent)
            .expect("ingests");
        assert!(
            store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );

        let ctx = crate::sql::session(&store).expect("session");
        crate::sql::register_summaries(&ctx, &store, crate::store::SummaryKind::Activity)
            .expect("registers");
        let defined = text_of(
            &ctx,
            &format!(
                "SELECT {COLUMNS} FROM ({}) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
                queries::ACTIVITY_SUMMARY.text
            ),
        );
        let written = text_of(
            &ctx,
            &format!("SELECT {COLUMNS} FROM activity ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"),
        );
        assert_eq!(written, defined);
        // alice's GetObject of 2024-03-01: three successful calls (times of those only), one
        // refused for lack of permission, one throttled; the ARNs named, once each, in order.
        assert!(
            written.contains(
                "| 3     | 1            | 2024-03-01T09:00:00Z | 2024-03-01T11:00:00Z | arn:aws:s3:::b/1 arn:aws:s3:::b/2 |"
            ),
            "{written}"
        );
        assert!(
            !written.contains("AWSService") && !written.contains("Root"),
            "{written}"
        );
        assert_eq!(written.matches("AssumedRole").count(), 3, "{written}");
    }

    #[test]
    fn summaries_follow_compaction_and_a_store_without_them_is_summarized_by_compact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs folder");
        let store = Store::new(dir.path().join("store"));
        // Two ingests: two files in the partition of March.
        for (index, part) in records().chunks(7).enumerate() {
            let text = format!("{{\"Records\":[{}]}}", part.join(","));
            std::fs::write(logs.join(format!("{index}.json")), text).expect("writes logs");
            let listing = source::list_local(&logs).expect("lists");
            ingest::ingest(&store, listing, &IngestOptions::default(), &ingest::Silent)
                .expect("ingests");
        }
        let summaries = |store: &Store| {
            store
                .summary_files(crate::store::SummaryKind::Activity)
                .expect("lists")
                .len()
        };
        assert_eq!(summaries(&store), 3);
        let lock = store.lock_for_writing().expect("locks");
        for key in store.partition_keys().expect("partitions") {
            store.compact_partition(&key, &lock).expect("compacts");
        }
        assert_eq!(summaries(&store), 2, "the merged files' summaries are gone");
        assert!(
            store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );

        // A summary removed (as in a store written before summaries) makes them incomplete until
        // compact writes it again; one without its data file is removed by the next writer.
        let (kept, removed) = {
            let files: Vec<String> = store
                .summary_files(crate::store::SummaryKind::Activity)
                .expect("lists")
                .into_iter()
                .collect();
            (files[0].clone(), files[1].clone())
        };
        let removed_path = store
            .summaries_root(crate::store::SummaryKind::Activity)
            .join(&removed);
        let bytes = std::fs::read(&removed_path).expect("reads");
        std::fs::remove_file(&removed_path).expect("removes");
        assert!(
            !store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );
        assert_eq!(store.summarize_missing(&lock).expect("summarizes"), 1);
        assert_eq!(std::fs::read(&removed_path).expect("written again"), bytes);
        assert!(
            store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );
        drop(lock);

        let orphan = store
            .summaries_root(crate::store::SummaryKind::Activity)
            .join(kept.replace(".parquet", "-orphan.parquet"));
        std::fs::write(&orphan, b"left by a writer that stopped").expect("writes");
        assert!(
            !store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );
        drop(store.lock_for_writing().expect("locks"));
        assert!(!orphan.exists());
        assert!(
            store
                .summaries_complete(crate::store::SummaryKind::Activity)
                .expect("lists")
        );
    }
}
