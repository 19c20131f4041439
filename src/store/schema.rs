//! The store's columns: names and types of the CloudTrail table AWS documents for Athena.
//!
//! One table of [`Field`]s drives everything: the Arrow schema, the JSON → Arrow decoder in
//! [`super::decode`], and [`reconstruct`], which turns a stored row back into the record it came from.
//! Nothing in a record is dropped: a top-level key with no column, an explicit `null`, or a nested
//! object that its struct column cannot hold exactly (an unknown key, a number where text was
//! expected) is also kept verbatim in the JSON-text column [`EXTRA_FIELDS`].

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field as ArrowField, Fields, Schema, SchemaRef};
use serde_json::{Map, Value};

/// How a JSON value is stored.
#[derive(Debug)]
pub enum Kind {
    /// A JSON string, stored as text.
    Text,
    /// A JSON boolean stored as `"true"`/`"false"` text, as Athena's table declares `readonly`.
    BoolText,
    /// Any JSON value, stored as its JSON text.
    JsonText,
    /// A JSON object with known keys.
    Struct(&'static [Field]),
    /// A JSON array of objects with known keys.
    ListOfStruct(&'static [Field]),
    /// A JSON object of string values.
    StringMap,
}

/// One column (or struct member): its lower-case column name and the JSON key it comes from.
#[derive(Debug)]
pub struct Field {
    pub column: &'static str,
    pub json: &'static str,
    pub kind: Kind,
}

const fn text(column: &'static str, json: &'static str) -> Field {
    Field {
        column,
        json,
        kind: Kind::Text,
    }
}

const fn json_text(column: &'static str, json: &'static str) -> Field {
    Field {
        column,
        json,
        kind: Kind::JsonText,
    }
}

const SESSION_ISSUER: &[Field] = &[
    text("type", "type"),
    text("principalid", "principalId"),
    text("arn", "arn"),
    text("accountid", "accountId"),
    text("username", "userName"),
];

const SESSION_ATTRIBUTES: &[Field] = &[
    text("mfaauthenticated", "mfaAuthenticated"),
    text("creationdate", "creationDate"),
];

const WEB_ID_FEDERATION: &[Field] = &[
    text("federatedprovider", "federatedProvider"),
    Field {
        column: "attributes",
        json: "attributes",
        kind: Kind::StringMap,
    },
];

const SESSION_CONTEXT: &[Field] = &[
    Field {
        column: "attributes",
        json: "attributes",
        kind: Kind::Struct(SESSION_ATTRIBUTES),
    },
    Field {
        column: "sessionissuer",
        json: "sessionIssuer",
        kind: Kind::Struct(SESSION_ISSUER),
    },
    text("ec2roledelivery", "ec2RoleDelivery"),
    Field {
        column: "webidfederationdata",
        json: "webIdFederationData",
        kind: Kind::Struct(WEB_ID_FEDERATION),
    },
    text("sourceidentity", "sourceIdentity"),
];

const ON_BEHALF_OF: &[Field] = &[
    text("userid", "userId"),
    text("identitystorearn", "identityStoreArn"),
];

const USER_IDENTITY: &[Field] = &[
    text("type", "type"),
    text("principalid", "principalId"),
    text("arn", "arn"),
    text("accountid", "accountId"),
    text("invokedby", "invokedBy"),
    text("accesskeyid", "accessKeyId"),
    text("username", "userName"),
    text("identityprovider", "identityProvider"),
    text("credentialid", "credentialId"),
    Field {
        column: "onbehalfof",
        json: "onBehalfOf",
        kind: Kind::Struct(ON_BEHALF_OF),
    },
    Field {
        column: "sessioncontext",
        json: "sessionContext",
        kind: Kind::Struct(SESSION_CONTEXT),
    },
];

const RESOURCE: &[Field] = &[
    text("arn", "ARN"),
    text("accountid", "accountId"),
    text("type", "type"),
];

const ADDENDUM: &[Field] = &[
    text("reason", "reason"),
    text("updatedfields", "updatedFields"),
    text("originalrequestid", "originalRequestID"),
    text("originaleventid", "originalEventID"),
];

const TLS_DETAILS: &[Field] = &[
    text("tlsversion", "tlsVersion"),
    text("ciphersuite", "cipherSuite"),
    text("clientprovidedhostheader", "clientProvidedHostHeader"),
];

/// The record's columns, in the order of Athena's CloudTrail table.
pub const RECORD: &[Field] = &[
    text("eventversion", "eventVersion"),
    Field {
        column: "useridentity",
        json: "userIdentity",
        kind: Kind::Struct(USER_IDENTITY),
    },
    text("eventtime", "eventTime"),
    text("eventsource", "eventSource"),
    text("eventname", "eventName"),
    text("awsregion", "awsRegion"),
    text("sourceipaddress", "sourceIPAddress"),
    text("useragent", "userAgent"),
    text("errorcode", "errorCode"),
    text("errormessage", "errorMessage"),
    json_text("requestparameters", "requestParameters"),
    json_text("responseelements", "responseElements"),
    json_text("additionaleventdata", "additionalEventData"),
    text("requestid", "requestID"),
    text("eventid", "eventID"),
    Field {
        column: "resources",
        json: "resources",
        kind: Kind::ListOfStruct(RESOURCE),
    },
    text("eventtype", "eventType"),
    text("apiversion", "apiVersion"),
    Field {
        column: "readonly",
        json: "readOnly",
        kind: Kind::BoolText,
    },
    text("recipientaccountid", "recipientAccountId"),
    json_text("serviceeventdetails", "serviceEventDetails"),
    text("sharedeventid", "sharedEventID"),
    text("vpcendpointid", "vpcEndpointId"),
    text("vpcendpointaccountid", "vpcEndpointAccountId"),
    text("eventcategory", "eventCategory"),
    Field {
        column: "addendum",
        json: "addendum",
        kind: Kind::Struct(ADDENDUM),
    },
    text(
        "sessioncredentialfromconsole",
        "sessionCredentialFromConsole",
    ),
    json_text("edgedevicedetails", "edgeDeviceDetails"),
    Field {
        column: "tlsdetails",
        json: "tlsDetails",
        kind: Kind::Struct(TLS_DETAILS),
    },
];

/// JSON-text column holding, as one JSON object, every top-level member that the columns above do not
/// hold exactly (keys as they appear in the record).
pub const EXTRA_FIELDS: &str = "extrafields";

/// The columns, and members of `useridentity`, that ctidx reads itself.
pub mod column {
    /// The partition columns.
    pub const ACCOUNT: &str = "account";
    pub const MONTH: &str = "month";
    /// The UTC day of `eventtime` (`YYYY-MM-DD`): a column of every data file, the first key rows
    /// are sorted by.
    pub const DAY: &str = "day";
    pub const EVENT_TIME: &str = "eventtime";
    pub const EVENT_ID: &str = "eventid";
    pub const EVENT_SOURCE: &str = "eventsource";
    pub const EVENT_NAME: &str = "eventname";
    pub const EVENT_TYPE: &str = "eventtype";
    pub const RECIPIENT_ACCOUNT_ID: &str = "recipientaccountid";
    pub const USER_IDENTITY: &str = "useridentity";
    /// Members of `useridentity`.
    pub const ARN: &str = "arn";
    pub const ACCOUNT_ID: &str = "accountid";
    pub const INVOKED_BY: &str = "invokedby";
    pub const SESSION_CONTEXT: &str = "sessioncontext";
    pub const SESSION_ISSUER: &str = "sessionissuer";
}

/// A text column of a batch of the store's schema; an error names it when it is missing or not text.
pub fn text_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow::array::StringArray, arrow::error::ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_string_opt::<i32>())
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!("the rows have no text column `{name}`"))
        })
}

/// Partition columns, in directory order: `account=<id>/month=<YYYY-MM>`.
pub const PARTITION_COLUMNS: [&str; 2] = [column::ACCOUNT, column::MONTH];

/// Columns a record must have; a record without one is rejected with its file.
pub const REQUIRED_JSON_KEYS: [&str; 4] = ["eventTime", "eventSource", "eventName", "eventID"];

pub fn arrow_type(kind: &Kind) -> DataType {
    match kind {
        Kind::Text | Kind::BoolText | Kind::JsonText => DataType::Utf8,
        Kind::Struct(fields) => DataType::Struct(struct_fields(fields)),
        Kind::ListOfStruct(fields) => DataType::List(Arc::new(ArrowField::new(
            "item",
            DataType::Struct(struct_fields(fields)),
            true,
        ))),
        Kind::StringMap => DataType::Map(Arc::new(map_entries_field()), false),
    }
}

pub fn map_entries_field() -> ArrowField {
    ArrowField::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            ArrowField::new("key", DataType::Utf8, false),
            ArrowField::new("value", DataType::Utf8, true),
        ])),
        false,
    )
}

pub fn struct_fields(fields: &[Field]) -> Fields {
    fields
        .iter()
        .map(|f| ArrowField::new(f.column, arrow_type(&f.kind), true))
        .collect()
}

/// Schema of the Parquet files (without the partition columns, which live in directory names):
/// the record's columns, [`EXTRA_FIELDS`] and [`column::DAY`].
pub fn file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<ArrowField> = struct_fields(RECORD)
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(ArrowField::new(EXTRA_FIELDS, DataType::Utf8, true));
        fields.push(ArrowField::new(column::DAY, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// The UTC day of each event time, for the [`column::DAY`] column. Ingest has checked that every
/// record's `eventTime` begins with one; a row without one gets an empty day rather than a made-up
/// one.
pub fn day_column(times: &arrow::array::StringArray) -> arrow::array::StringArray {
    let mut days = arrow::array::StringBuilder::with_capacity(times.len(), times.len() * 10);
    for row in 0..times.len() {
        let time = if times.is_valid(row) {
            times.value(row)
        } else {
            ""
        };
        days.append_value(crate::time::day_text(time).unwrap_or_default());
    }
    days.finish()
}

/// A batch read from a data file, in [`file_schema`]: files of the day layout, written before the
/// [`column::DAY`] column existed, get it from `eventtime`.
pub fn in_file_schema(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    if batch.column_by_name(column::DAY).is_some() {
        return Ok(batch);
    }
    let days = day_column(text_column(&batch, column::EVENT_TIME)?);
    let (_, mut columns, _) = batch.into_parts();
    columns.push(Arc::new(days));
    RecordBatch::try_new(file_schema(), columns)
}

/// Rebuilds, from row `row` of a batch with [`file_schema`], the JSON record it was decoded from.
pub fn reconstruct(batch: &RecordBatch, row: usize) -> Result<Value, String> {
    let mut record = Map::new();
    for field in RECORD {
        let column = batch
            .column_by_name(field.column)
            .ok_or_else(|| format!("column {} missing", field.column))?;
        if let Some(value) = value_at(field, column.as_ref(), row)? {
            record.insert(field.json.to_string(), value);
        }
    }
    if let Some(extra) = batch.column_by_name(EXTRA_FIELDS) {
        let extra = extra.as_string::<i32>();
        if extra.is_valid(row) {
            let parsed: Map<String, Value> = serde_json::from_str(extra.value(row))
                .map_err(|e| format!("{EXTRA_FIELDS}: {e}"))?;
            record.extend(parsed);
        }
    }
    Ok(Value::Object(record))
}

fn value_at(field: &Field, array: &dyn Array, row: usize) -> Result<Option<Value>, String> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match &field.kind {
        Kind::Text => Value::String(array.as_string::<i32>().value(row).to_string()),
        Kind::BoolText => Value::Bool(array.as_string::<i32>().value(row) == "true"),
        Kind::JsonText => serde_json::from_str(array.as_string::<i32>().value(row))
            .map_err(|e| format!("{}: {e}", field.column))?,
        Kind::Struct(members) => struct_value(members, array.as_struct(), row)?,
        Kind::ListOfStruct(members) => {
            let list = array.as_list::<i32>();
            let items = list.value(row);
            let items = items.as_struct();
            let mut values = Vec::with_capacity(items.len());
            for i in 0..items.len() {
                values.push(struct_value(members, items, i)?);
            }
            Value::Array(values)
        }
        Kind::StringMap => {
            let map = array.as_map();
            let entries = map.value(row);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            let mut object = Map::new();
            for i in 0..entries.len() {
                let value = if values.is_null(i) {
                    Value::Null
                } else {
                    Value::String(values.value(i).to_string())
                };
                object.insert(keys.value(i).to_string(), value);
            }
            Value::Object(object)
        }
    }))
}

fn struct_value(
    members: &[Field],
    array: &arrow::array::StructArray,
    row: usize,
) -> Result<Value, String> {
    let mut object = Map::new();
    for (member, column) in members.iter().zip(array.columns()) {
        if let Some(value) = value_at(member, column.as_ref(), row)? {
            object.insert(member.json.to_string(), value);
        }
    }
    Ok(Value::Object(object))
}

/// `schema` with its text fields, at the top or nested, as `Utf8View`, or back as `Utf8`
/// (`views` false). Queries read the store's text as views: a value read is not copied out of the
/// Parquet page it was decoded into.
pub fn text_views(schema: &Schema, views: bool) -> Schema {
    let fields: Vec<ArrowField> = schema
        .fields()
        .iter()
        .map(|field| text_field(field, views))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// `data_type`, its text (at the top or nested) as `Utf8View` or as `Utf8`.
pub fn text_type(data_type: &DataType, views: bool) -> DataType {
    match data_type {
        DataType::Utf8 | DataType::Utf8View if views => DataType::Utf8View,
        DataType::Utf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|field| Arc::new(text_field(field, views)))
                .collect(),
        ),
        DataType::List(item) => DataType::List(Arc::new(text_field(item, views))),
        DataType::Map(entries, sorted) => {
            DataType::Map(Arc::new(text_field(entries, views)), *sorted)
        }
        other => other.clone(),
    }
}

fn text_field(field: &ArrowField, views: bool) -> ArrowField {
    field
        .clone()
        .with_data_type(text_type(field.data_type(), views))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_views_reach_nested_text_and_come_back() {
        fn has_plain_text(data_type: &DataType) -> bool {
            match data_type {
                DataType::Utf8 => true,
                DataType::Struct(fields) => fields.iter().any(|f| has_plain_text(f.data_type())),
                DataType::List(item) => has_plain_text(item.data_type()),
                DataType::Map(entries, _) => has_plain_text(entries.data_type()),
                _ => false,
            }
        }
        let plain = file_schema();
        let viewed = text_views(&plain, true);
        assert!(plain.fields().iter().any(|f| has_plain_text(f.data_type())));
        assert!(
            !viewed
                .fields()
                .iter()
                .any(|f| has_plain_text(f.data_type()))
        );
        assert_eq!(text_views(&viewed, false), *plain);
    }

    #[test]
    fn column_names_are_lower_case_and_unique() {
        let schema = file_schema();
        let mut seen = std::collections::HashSet::new();
        for field in schema.fields() {
            assert_eq!(field.name(), &field.name().to_lowercase());
            assert!(
                seen.insert(field.name().clone()),
                "duplicate {}",
                field.name()
            );
        }
        for key in REQUIRED_JSON_KEYS {
            assert!(RECORD.iter().any(|f| f.json == key), "{key} has no column");
        }
    }

    #[test]
    fn structs_have_at_most_64_members() {
        // The decoder tracks which members a JSON object set in one u64.
        fn check(fields: &[Field]) {
            assert!(fields.len() <= 64);
            for field in fields {
                if let Kind::Struct(members) | Kind::ListOfStruct(members) = &field.kind {
                    check(members);
                }
            }
        }
        check(RECORD);
    }

    #[test]
    fn athena_nested_columns_exist() {
        let schema = file_schema();
        let identity = schema
            .field_with_name("useridentity")
            .map(|f| f.data_type().clone());
        let Ok(DataType::Struct(fields)) = identity else {
            panic!("useridentity is not a struct")
        };
        for name in [
            "type",
            "arn",
            "accountid",
            "invokedby",
            "accesskeyid",
            "onbehalfof",
            "sessioncontext",
        ] {
            assert!(fields.find(name).is_some(), "useridentity.{name} missing");
        }
    }
}
