//! Bytes of one CloudTrail object → one Arrow [`RecordBatch`] with [`schema::file_schema`].
//!
//! Accepts what AWS delivers (gzip or plain `{"Records":[...]}`) and a bare JSON array of records.
//! Every problem is a [`DecodeError`] that says what is wrong and where; the caller names the file.

use std::borrow::Cow;
use std::cell::RefCell;

use ahash::AHashMap;
use std::fmt;
use std::io::Read;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, AsArray, ListArray, MapArray, NullBufferBuilder, RecordBatch, StringBuilder,
    StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::store::schema::{self, Field, Kind, RECORD, REQUIRED_JSON_KEYS};

/// Limits that keep a hostile or broken object from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed object accepted.
    pub max_object_bytes: u64,
    /// Largest single record accepted (CloudTrail itself caps events far below this).
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_bytes: 2 << 30,
            max_record_bytes: 16 << 20,
        }
    }
}

/// JSON documents that sit beside CloudTrail logs in a working folder and are recognisably not logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotCloudTrail {
    AuthorizationDetails,
    PolicyDocument,
    Digest,
    CloudTrackerConfig,
}

impl NotCloudTrail {
    /// What an object of this top-level keys is, when they name another known document. A
    /// `Records` key always means a log, broken or not.
    pub fn recognise<'a>(keys: impl IntoIterator<Item = &'a str> + Clone) -> Option<NotCloudTrail> {
        let has = |wanted: &[&str]| keys.clone().into_iter().any(|key| wanted.contains(&key));
        if has(&["Records"]) {
            None
        } else if has(&[
            "UserDetailList",
            "GroupDetailList",
            "RoleDetailList",
            "Policies",
        ]) {
            Some(NotCloudTrail::AuthorizationDetails)
        } else if has(&["Statement", "PolicyDocument", "PolicyVersion"]) {
            Some(NotCloudTrail::PolicyDocument)
        } else if has(&[
            "digestStartTime",
            "digestEndTime",
            "digestPublicKeyFingerprint",
        ]) {
            Some(NotCloudTrail::Digest)
        } else if has(&["accounts"]) {
            Some(NotCloudTrail::CloudTrackerConfig)
        } else {
            None
        }
    }
}

impl fmt::Display for NotCloudTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotCloudTrail::AuthorizationDetails => "IAM authorization details",
            NotCloudTrail::PolicyDocument => "IAM policy document",
            NotCloudTrail::Digest => "CloudTrail digest",
            NotCloudTrail::CloudTrackerConfig => "CloudTracker config",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("decompresses to more than {limit} bytes; refusing to read further")]
    TooLarge { limit: u64 },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("wrong top-level shape: {0}")]
    Shape(String),
    #[error("not a CloudTrail log: {0}")]
    NotCloudTrail(NotCloudTrail),
    #[error("record {index}: {message}")]
    Record { index: usize, message: String },
}

/// Decompresses `bytes` if they are gzip (by magic number, not by name) and decodes the records.
pub fn decode_object(bytes: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return decode_json(bytes, limits);
    }
    if let Some(size) = trusted_trailer_size(bytes, limits.max_object_bytes) {
        let decoded = INFLATER.with_borrow_mut(|inflater| {
            let text = inflater.inflate_whole(bytes, size)?;
            let decoded = decode_text(text, limits);
            inflater.shrink();
            Some(decoded)
        });
        if let Some(decoded) = decoded {
            return decoded;
        }
    }
    decode_text(&gunzip_streaming(bytes, limits.max_object_bytes)?, limits)
}

fn decode_text(text: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    decode_json(text, limits)
}

/// Deflate's densest encoding turns 258 bytes into about 2 bits, so no stream inflates beyond about
/// 1,032 times its size.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Inflated text at most this long stays with its thread for the next object.
const KEPT_TEXT_BYTES: usize = 16 << 20;

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::default());
}

/// A decoding thread's decompressor and the buffer of the object it inflated last. A fresh buffer
/// for each object (half a megabyte of CloudTrail JSON) was zeroed, then faulted in page by page.
#[derive(Default)]
struct Inflater {
    decompressor: Option<libdeflater::Decompressor>,
    text: Vec<u8>,
}

impl Inflater {
    /// CloudTrail writes one gzip member, whose trailer gives its inflated `size`: such a member is
    /// inflated by libdeflate in one call, about twice as fast as streaming. Anything else (several
    /// members, a size that does not match, damage) gives `None`, for the streaming path, which
    /// reports the error.
    fn inflate_whole(&mut self, bytes: &[u8], size: usize) -> Option<&[u8]> {
        if self.text.len() < size {
            self.text.resize(size, 0);
        }
        let text = &mut self.text[..size];
        let inflated = self
            .decompressor
            .get_or_insert_with(libdeflater::Decompressor::new)
            .gzip_decompress(bytes, text);
        (inflated.is_ok_and(|n| n == size) && first_member_is_whole(bytes)).then_some(&*text)
    }

    fn shrink(&mut self) {
        if self.text.len() > KEPT_TEXT_BYTES {
            self.text = Vec::new();
        }
    }
}

/// Inflates gzip data of at most `limit` bytes.
#[cfg(test)]
fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    if let Some(size) = trusted_trailer_size(bytes, limit) {
        let mut inflater = Inflater::default();
        if let Some(text) = inflater.inflate_whole(bytes, size) {
            return Ok(text.to_vec());
        }
    }
    gunzip_streaming(bytes, limit)
}

fn gunzip_streaming(bytes: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let mut text = Vec::with_capacity(bytes.len().saturating_mul(8));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut text)
        .map_err(DecodeError::Gzip)?;
    if text.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(text)
}

/// Whether the gzip member libdeflate inflated spans all of `bytes`: libdeflate stops after the
/// first member and ignores what follows. Having inflated as many bytes as the input's last four
/// say, that member's own size field holds those same four bytes, so a member that ends early (two
/// members of equal size, trailing data) shows them before the end. A chance earlier occurrence
/// only sends the input down the streaming path.
fn first_member_is_whole(bytes: &[u8]) -> bool {
    let Some(trailer_at) = bytes.len().checked_sub(4) else {
        return false;
    };
    let trailer = &bytes[trailer_at..];
    bytes.windows(4).position(|window| window == trailer) == Some(trailer_at)
}

/// The inflated size a gzip trailer records (modulo 2^32, as gzip stores it), when it is within
/// `limit` and within what the compressed bytes can hold: memory of that size is set aside at once.
fn trusted_trailer_size(bytes: &[u8], limit: u64) -> Option<usize> {
    let trailer: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = u64::from(u32::from_le_bytes(trailer));
    let inflatable = (bytes.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    (size <= limit.min(inflatable)).then_some(size as usize)
}

/// Decodes uncompressed JSON: `{"Records":[...]}` or `[...]`.
pub fn decode_json(text: &[u8], limits: Limits) -> Result<RecordBatch, DecodeError> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    // Checked once for the whole object, so that serde_json need not check every value it borrows.
    let text = simdutf8::compat::from_utf8(text).map_err(|e| {
        DecodeError::Json(format!(
            "not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    let mut builder = BatchBuilder::new();
    let mut failure = None;
    let seed = RecordsSeed {
        builder: &mut builder,
        limits,
        failure: &mut failure,
        index: 0,
        text,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = match first {
        Some(b'{') => EnvelopeSeed(seed).deserialize(&mut de),
        Some(b'[') => seed.deserialize(&mut de),
        Some(_) => {
            return Err(DecodeError::Shape(
                "expected {\"Records\":[...]} or a JSON array of records".into(),
            ));
        }
        None => return Err(DecodeError::Empty),
    };
    if let Some(failure) = failure {
        return Err(failure);
    }
    outcome.map_err(|e| DecodeError::Json(e.to_string()))?;
    de.end().map_err(|e| DecodeError::Json(e.to_string()))?;
    builder.finish()
}

/// One growing column, shaped like its [`Kind`].
enum ColumnBuilder {
    Text(StringBuilder),
    Struct {
        fields: Fields,
        members: Vec<ColumnBuilder>,
        validity: NullBufferBuilder,
    },
    List {
        item_field: FieldRef,
        item: Box<ColumnBuilder>,
        offsets: Vec<i32>,
        validity: NullBufferBuilder,
    },
    Map {
        keys: StringBuilder,
        values: StringBuilder,
        offsets: Vec<i32>,
        validity: NullBufferBuilder,
    },
}

impl ColumnBuilder {
    fn new(kind: &Kind) -> ColumnBuilder {
        match kind {
            Kind::Text | Kind::BoolText | Kind::JsonText => {
                ColumnBuilder::Text(StringBuilder::new())
            }
            Kind::Struct(members) => ColumnBuilder::Struct {
                fields: schema::struct_fields(members),
                members: members
                    .iter()
                    .map(|m| ColumnBuilder::new(&m.kind))
                    .collect(),
                validity: NullBufferBuilder::new(0),
            },
            Kind::ListOfStruct(members) => {
                let DataType::List(item_field) = schema::arrow_type(kind) else {
                    unreachable!("ListOfStruct maps to a List type")
                };
                ColumnBuilder::List {
                    item_field,
                    item: Box::new(ColumnBuilder::new(&Kind::Struct(members))),
                    offsets: vec![0],
                    validity: NullBufferBuilder::new(0),
                }
            }
            Kind::StringMap => ColumnBuilder::Map {
                keys: StringBuilder::new(),
                values: StringBuilder::new(),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            },
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Text(b) => b.append_null(),
            ColumnBuilder::Struct {
                members, validity, ..
            } => {
                members.iter_mut().for_each(ColumnBuilder::append_null);
                validity.append_null();
            }
            ColumnBuilder::List {
                offsets, validity, ..
            }
            | ColumnBuilder::Map {
                offsets, validity, ..
            } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
                validity.append_null();
            }
        }
    }

    fn text(&mut self) -> &mut StringBuilder {
        match self {
            ColumnBuilder::Text(b) => b,
            _ => unreachable!("text builder expected for a text kind"),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Struct {
                fields,
                members,
                mut validity,
            } => {
                let children: Vec<ArrayRef> =
                    members.into_iter().map(ColumnBuilder::finish).collect();
                Arc::new(StructArray::new(fields, children, validity.finish()))
            }
            ColumnBuilder::List {
                item_field,
                item,
                offsets,
                mut validity,
            } => Arc::new(ListArray::new(
                item_field,
                OffsetBuffer::new(offsets.into()),
                item.finish(),
                validity.finish(),
            )),
            ColumnBuilder::Map {
                mut keys,
                mut values,
                offsets,
                mut validity,
            } => {
                let entries_field = schema::map_entries_field();
                let DataType::Struct(entry_fields) = entries_field.data_type().clone() else {
                    unreachable!("map entries are a struct")
                };
                let entries = StructArray::new(
                    entry_fields,
                    vec![Arc::new(keys.finish()), Arc::new(values.finish())],
                    None,
                );
                Arc::new(MapArray::new(
                    Arc::new(entries_field),
                    OffsetBuffer::new(offsets.into()),
                    entries,
                    validity.finish(),
                    false,
                ))
            }
        }
    }
}

struct BatchBuilder {
    columns: Vec<ColumnBuilder>,
    extra: StringBuilder,
    /// The buffer a record's extrafields are written in, kept from record to record.
    extra_text: String,
    /// The column of each key of the last record, by position: records of one object nearly always
    /// list their keys in the same order, so one comparison usually finds the column.
    last_key_columns: Vec<Option<usize>>,
}

impl BatchBuilder {
    fn new() -> BatchBuilder {
        BatchBuilder {
            columns: RECORD.iter().map(|f| ColumnBuilder::new(&f.kind)).collect(),
            extra: StringBuilder::new(),
            extra_text: String::new(),
            last_key_columns: Vec::new(),
        }
    }

    /// The column a record's key at position `slot` goes to, if it has one.
    fn column_of(&mut self, slot: usize, key: &str) -> Option<usize> {
        if let Some(Some(column)) = self.last_key_columns.get(slot).copied()
            && RECORD[column].json == key
        {
            return Some(column);
        }
        let column = RECORD_KEYS.get(key).copied();
        if slot >= self.last_key_columns.len() {
            self.last_key_columns.resize(slot + 1, None);
        }
        self.last_key_columns[slot] = column;
        column
    }

    fn finish(self) -> Result<RecordBatch, DecodeError> {
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect();
        let mut extra = self.extra;
        arrays.push(Arc::new(extra.finish()));
        let days = schema::day_column(arrays[*EVENT_TIME].as_string::<i32>());
        arrays.push(Arc::new(days));
        RecordBatch::try_new(schema::file_schema(), arrays)
            .map_err(|e| DecodeError::Shape(format!("internal: cannot assemble batch: {e}")))
    }
}

static RECORD_KEYS: LazyLock<AHashMap<&'static str, usize>> = LazyLock::new(|| {
    RECORD
        .iter()
        .enumerate()
        .map(|(i, f)| (f.json, i))
        .collect()
});
static EVENT_TIME: LazyLock<usize> = LazyLock::new(|| RECORD_KEYS["eventTime"]);
static REQUIRED_COLUMNS: LazyLock<[(&str, usize); REQUIRED_JSON_KEYS.len()]> =
    LazyLock::new(|| REQUIRED_JSON_KEYS.map(|key| (key, RECORD_KEYS[key])));

/// `{"Records": [...]}`: the array is decoded, other top-level keys are an error.
struct EnvelopeSeed<'a, 'de>(RecordsSeed<'a, 'de>);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a Records array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut records = Some(self.0);
        let mut keys = Vec::new();
        while let Some(JsonStr(key)) = map.next_key()? {
            match (key.as_ref(), records.take()) {
                ("Records", Some(seed)) => map.next_value_seed(seed)?,
                (_, seed) => {
                    records = seed;
                    keys.push(key.into_owned());
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(seed) = records {
            let keys_seen = keys.iter().map(String::as_str);
            if let Some(document) = NotCloudTrail::recognise(keys_seen) {
                *seed.failure = Some(DecodeError::NotCloudTrail(document));
                return Err(de::Error::custom("not a log"));
            }
            *seed.failure = Some(DecodeError::Shape(if keys.is_empty() {
                "an empty object, without a Records array".into()
            } else {
                format!(
                    "an object without a Records array (keys: {})",
                    keys.join(", ")
                )
            }));
            return Err(de::Error::custom("no Records"));
        }
        if !keys.is_empty() {
            return Err(de::Error::custom(format!(
                "unexpected top-level keys beside Records: {}",
                keys.join(", ")
            )));
        }
        Ok(())
    }
}

struct RecordsSeed<'a, 'de> {
    builder: &'a mut BatchBuilder,
    limits: Limits,
    failure: &'a mut Option<DecodeError>,
    index: usize,
    /// The object's whole text, which every borrowed key points into.
    text: &'de str,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let mut rejected = None;
            let record = RecordSeed {
                builder: &mut *self.builder,
                limits: self.limits,
                rejected: &mut rejected,
                text: self.text,
            };
            match seq.next_element_seed(record) {
                Ok(Some(())) => self.index += 1,
                Ok(None) => return Ok(()),
                Err(error) => {
                    if let Some(message) = rejected {
                        *self.failure = Some(DecodeError::Record {
                            index: self.index,
                            message,
                        });
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// One record, read in one pass. Scalar members are taken as raw JSON and go to their columns;
/// nested members (structs, lists, maps) are decoded straight into their builders as they are
/// read. A nested member's own text is found again, by its place in the object, only for what
/// needs it: the record's size, and extrafields when the member does not fit the schema exactly.
/// Why a record is refused goes to `rejected`, so that the caller can number it.
struct RecordSeed<'a, 'de> {
    builder: &'a mut BatchBuilder,
    limits: Limits,
    rejected: &'a mut Option<String>,
    text: &'de str,
}

impl RecordSeed<'_, '_> {
    fn reject<E: de::Error>(self, message: String) -> E {
        *self.rejected = Some(message);
        E::custom("bad record")
    }
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A nested member decoded in place, whose text is known once the next key (or the record's end)
/// is reached.
struct NestedMember<'de> {
    key: &'de str,
    /// Where its value begins in the object's text.
    start: usize,
    exact: bool,
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let text = self.text;
        let mut record = RecordState::new(std::mem::take(&mut self.builder.extra_text));
        let mut pending: Option<NestedMember<'de>> = None;
        let mut slot = 0;
        while let Some(JsonStr(key)) = map.next_key()? {
            if let Some(member) = pending.take() {
                let raw = member_text_before(text, member.start, &key)
                    .map_or_else(|| member_text_from(text, member.start), Ok);
                match raw {
                    Ok(raw) => record.close_nested(&member, raw),
                    Err(message) => return Err(self.reject(message)),
                }
            }
            let column = self.builder.column_of(slot, &key);
            slot += 1;
            let Some(column) = column else {
                let value: &'de RawValue = map.next_value()?;
                record.keep_extra(&key, value.get());
                continue;
            };
            if std::mem::replace(&mut record.set[column], true) {
                return Err(self.reject(format!("{key} appears twice")));
            }
            let field = &RECORD[column];
            let nested_start = match (&field.kind, &key) {
                (Kind::Struct(_) | Kind::ListOfStruct(_) | Kind::StringMap, Cow::Borrowed(key)) => {
                    value_start(text, key).map(|start| (*key, start))
                }
                _ => None,
            };
            if let Some((key, start)) = nested_start {
                let mut state = NestedState::default();
                let decoded = map.next_value_seed(ValueSeed {
                    field,
                    builder: &mut self.builder.columns[column],
                    state: &mut state,
                });
                if let Err(error) = decoded {
                    return Err(match state.failure {
                        Some(message) => self.reject(message),
                        None => error,
                    });
                }
                record.non_null[column] = text.as_bytes().get(start) != Some(&b'n');
                pending = Some(NestedMember {
                    key,
                    start,
                    exact: state.exact,
                });
            } else {
                let value: &'de RawValue = map.next_value()?;
                if let Err(message) = record.member(self.builder, column, &key, value) {
                    return Err(self.reject(message));
                }
            }
        }
        if let Some(member) = pending.take() {
            match member_text_from(text, member.start) {
                Ok(raw) => record.close_nested(&member, raw),
                Err(message) => return Err(self.reject(message)),
            }
        }
        match record.finish(self.builder, self.limits) {
            Ok(()) => Ok(()),
            Err(message) => Err(self.reject(message)),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.reject("expected an object, found an array".into()))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.reject("expected an object, found a string".into()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.reject("expected an object, found a boolean".into()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.reject("expected an object, found a number".into()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.reject("expected an object, found a number".into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.reject("expected an object, found a number".into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.reject("expected an object, found null".into()))
    }
}

/// Where `key`, a string serde_json borrowed from `text`, begins in it; `None` for a key it had to
/// unescape into a string of its own.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let offset = (key.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    (offset + key.len() <= text.len()).then_some(offset)
}

/// Where the value of the member named by `key` begins: past the key's closing quote, the colon
/// and any whitespace.
fn value_start(text: &str, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = key_offset(text, key)? + key.len();
    (bytes.get(at) == Some(&b'"')).then_some(())?;
    at = skip_whitespace(bytes, at + 1);
    (bytes.get(at) == Some(&b':')).then_some(())?;
    Some(skip_whitespace(bytes, at + 1))
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The text of the value that begins at `start` and is followed by the member named `next_key`:
/// everything up to the comma before that key, less whitespace.
fn member_text_before<'de>(text: &'de str, start: usize, next_key: &str) -> Option<&'de str> {
    let bytes = text.as_bytes();
    let quote = key_offset(text, next_key)?.checked_sub(1)?;
    (bytes.get(quote) == Some(&b'"')).then_some(())?;
    let comma = bytes[start..quote]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())?
        + start;
    (bytes[comma] == b',').then_some(())?;
    let end = bytes[start..comma]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())?
        + start
        + 1;
    text.get(start..end)
}

/// The text of the value that begins at `start`, read again to its end: for the last member of a
/// record, or when the next key's place is not known.
fn member_text_from(text: &str, start: usize) -> Result<&str, String> {
    let rest = text.get(start..).unwrap_or_default();
    let mut de = serde_json::Deserializer::from_str(rest);
    <&RawValue as serde::Deserialize>::deserialize(&mut de)
        .map(RawValue::get)
        .map_err(|e| strip_position(&e))
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        // A string cannot fail to encode.
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    }
}

/// What is known of the record being read.
struct RecordState {
    /// Columns it has a member for.
    set: [bool; RECORD.len()],
    /// Columns it has a member for that is not null.
    non_null: [bool; RECORD.len()],
    /// Its members' text, without the punctuation between them.
    size: usize,
    /// Members that have no column or do not fit theirs exactly, as a JSON object being written.
    extra: String,
}

impl RecordState {
    /// A record's state, writing its extrafields in `extra` (emptied first).
    fn new(mut extra: String) -> RecordState {
        extra.clear();
        RecordState {
            set: [false; RECORD.len()],
            non_null: [false; RECORD.len()],
            size: 0,
            extra,
        }
    }

    fn keep_extra(&mut self, key: &str, raw: &str) {
        self.size += key.len() + raw.len();
        self.keep_in_extra(key, raw);
    }

    fn keep_in_extra(&mut self, key: &str, raw: &str) {
        let extra = &mut self.extra;
        extra.push(if extra.is_empty() { '{' } else { ',' });
        push_json_string(extra, key);
        extra.push(':');
        extra.push_str(raw);
    }

    fn close_nested(&mut self, member: &NestedMember, raw: &str) {
        self.size += member.key.len() + raw.len();
        if !member.exact {
            self.keep_in_extra(member.key, raw);
        }
    }

    /// Appends a member given as raw JSON to its column.
    fn member(
        &mut self,
        builder: &mut BatchBuilder,
        column: usize,
        key: &str,
        value: &RawValue,
    ) -> Result<(), String> {
        self.size += key.len() + value.get().len();
        let field = &RECORD[column];
        let target = &mut builder.columns[column];
        let exact = match decode_top_level(field, value).map_err(|m| format!("{key}: {m}"))? {
            (Decoded::Null, exact) => {
                target.append_null();
                exact
            }
            (Decoded::Text(text), exact) => {
                if column == *EVENT_TIME && crate::time::day_text(&text).is_none() {
                    return Err(format!("eventTime {text:?} is not an ISO-8601 UTC time"));
                }
                target.text().append_value(text);
                self.non_null[column] = true;
                exact
            }
            (Decoded::Nested(raw), _) => {
                let mut state = NestedState::default();
                let mut de = serde_json::Deserializer::from_str(raw);
                ValueSeed {
                    field,
                    builder: target,
                    state: &mut state,
                }
                .deserialize(&mut de)
                .map_err(|e| state.failure.take().unwrap_or_else(|| strip_position(&e)))?;
                self.non_null[column] = true;
                state.exact
            }
        };
        if !exact {
            self.keep_in_extra(key, value.get());
        }
        Ok(())
    }

    /// Checks the whole record and completes its row. A record that fails leaves its builders
    /// half-appended; the caller then drops the whole batch.
    fn finish(self, builder: &mut BatchBuilder, limits: Limits) -> Result<(), String> {
        if self.size > limits.max_record_bytes {
            return Err(format!(
                "{} bytes, larger than the {} byte limit for one record",
                self.size, limits.max_record_bytes
            ));
        }
        for (required, column) in *REQUIRED_COLUMNS {
            if !self.non_null[column] {
                return Err(format!("missing {required}"));
            }
        }
        for (column, present) in self.set.iter().enumerate() {
            if !present {
                builder.columns[column].append_null();
            }
        }
        let mut extra = self.extra;
        if extra.is_empty() {
            builder.extra.append_null();
        } else {
            extra.push('}');
            builder.extra.append_value(&extra);
        }
        builder.extra_text = extra;
        Ok(())
    }
}

enum Decoded<'a> {
    Null,
    Text(Cow<'a, str>),
    /// A struct, list or map, decoded straight into its builder (exactness is learnt there).
    Nested(&'a str),
}

/// Returns the value to store and whether it round-trips exactly.
fn decode_top_level<'a>(field: &Field, raw: &'a RawValue) -> Result<(Decoded<'a>, bool), String> {
    let text = raw.get();
    let first = text.as_bytes().first().copied().unwrap_or(b'n');
    if first == b'n' {
        // An explicit null: the column is null, and the key's presence is kept in extrafields.
        return Ok((Decoded::Null, false));
    }
    match &field.kind {
        Kind::JsonText => Ok((Decoded::Text(Cow::Borrowed(text)), true)),
        Kind::Text => match first {
            b'"' => Ok((Decoded::Text(parse_str(text)?), true)),
            b'{' | b'[' => Err(format!("expected a string, found {}", json_kind(text))),
            _ => Ok((Decoded::Text(Cow::Borrowed(text)), false)),
        },
        Kind::BoolText => match text {
            "true" | "false" => Ok((Decoded::Text(Cow::Borrowed(text)), true)),
            _ if first == b'"' => Ok((Decoded::Text(parse_str(text)?), false)),
            _ => Err(format!("expected a boolean, found {}", json_kind(text))),
        },
        Kind::Struct(_) | Kind::StringMap if first != b'{' => {
            Err(format!("expected an object, found {}", json_kind(text)))
        }
        Kind::ListOfStruct(_) if first != b'[' => {
            Err(format!("expected an array, found {}", json_kind(text)))
        }
        Kind::Struct(_) | Kind::StringMap | Kind::ListOfStruct(_) => {
            Ok((Decoded::Nested(text), true))
        }
    }
}

/// The text of a JSON string literal. Without a backslash it is the literal less its quotes, as
/// serde_json has already checked it; otherwise it is decoded.
fn parse_str(text: &str) -> Result<Cow<'_, str>, String> {
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.as_bytes().contains(&b'\\')
    {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<JsonStr>(text)
        .map(|s| s.0)
        .map_err(|e| strip_position(&e))
}

/// A JSON string, borrowed from the input unless it holds escapes. (serde's own `Cow<str>` always
/// allocates, which cost an allocation per key and per value of every record.)
struct JsonStr<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for JsonStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = JsonStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// serde_json appends "at line L column C" of the fragment being decoded, which misleads here.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => message,
    }
}

/// Records why a nested member does not fit the schema, and stops its decoding.
fn fail<E: de::Error>(state: &mut NestedState, message: String) -> E {
    let error = E::custom(&message);
    state.failure = Some(message);
    error
}

fn wrong_kind<E: de::Error>(field: &Field, state: &mut NestedState, found: &str) -> E {
    let expected = match field.kind {
        Kind::Text | Kind::JsonText => "a string",
        Kind::BoolText => "a boolean",
        Kind::Struct(_) | Kind::StringMap => "an object",
        Kind::ListOfStruct(_) => "an array",
    };
    fail(
        state,
        format!("{}: expected {expected}, found {found}", field.json),
    )
}

/// Appends one nested JSON value (struct, list or map member) to its builder.
struct ValueSeed<'a> {
    field: &'a Field,
    builder: &'a mut ColumnBuilder,
    state: &'a mut NestedState,
}

/// What decoding a nested member learns beside its values.
struct NestedState {
    /// Whether the member fits the schema exactly (else it is kept whole in extrafields too).
    exact: bool,
    /// Why the member does not fit the schema at all, with its path; `None` when decoding stopped
    /// on the JSON itself.
    failure: Option<String>,
}

impl Default for NestedState {
    fn default() -> Self {
        NestedState {
            exact: true,
            failure: None,
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_> {
    fn wrong<E: de::Error>(self, found: &str) -> E {
        wrong_kind(self.field, self.state, found)
    }

    fn scalar<E: de::Error>(self, text: &str, found: &str) -> Result<(), E> {
        match self.field.kind {
            Kind::Text | Kind::BoolText | Kind::JsonText => {
                self.state.exact = false;
                self.builder.text().append_value(text);
                Ok(())
            }
            _ => Err(self.wrong(found)),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for {}", self.field.json)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.field.kind {
            Kind::Text | Kind::JsonText => {
                self.builder.text().append_value(v);
                Ok(())
            }
            Kind::BoolText => self.scalar(v, "a string"),
            _ => Err(self.wrong("a string")),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(if v { "true" } else { "false" }, "a boolean")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v.to_string(), "a number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v.to_string(), "a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(&v.to_string(), "a number")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.state.exact = false;
        self.builder.append_null();
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (
            Kind::ListOfStruct(members),
            ColumnBuilder::List {
                item,
                offsets,
                validity,
                ..
            },
        ) = (&self.field.kind, &mut *self.builder)
        else {
            return Err(wrong_kind(self.field, self.state, "an array"));
        };
        let item_field = Field {
            column: "item",
            json: self.field.json,
            kind: Kind::Struct(members),
        };
        let mut count = 0i32;
        while seq
            .next_element_seed(ValueSeed {
                field: &item_field,
                builder: item,
                state: self.state,
            })?
            .is_some()
        {
            count += 1;
        }
        let last = offsets.last().copied().unwrap_or(0);
        offsets.push(last + count);
        validity.append_non_null();
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match (&self.field.kind, &mut *self.builder) {
            (
                Kind::Struct(fields),
                ColumnBuilder::Struct {
                    members, validity, ..
                },
            ) => {
                // One bit per member (a schema test keeps structs at 64 members or fewer).
                let mut set = 0u64;
                // Members usually come in the schema's order: try the one after the last match first.
                let mut expected = 0;
                while let Some(JsonStr(key)) = map.next_key()? {
                    let position = match fields.get(expected) {
                        Some(f) if f.json == key => Some(expected),
                        _ => fields.iter().position(|f| f.json == key),
                    };
                    match position {
                        Some(i) => {
                            expected = i + 1;
                            if set & (1 << i) != 0 {
                                let message = format!("{}.{key} appears twice", self.field.json);
                                return Err(fail(self.state, message));
                            }
                            set |= 1 << i;
                            let decoded = map.next_value_seed(ValueSeed {
                                field: &fields[i],
                                builder: &mut members[i],
                                state: self.state,
                            });
                            if let Err(error) = decoded {
                                // Only a member that does not fit is named by its path; an error
                                // in the JSON itself goes up as it is.
                                return Err(match self.state.failure.take() {
                                    Some(inner) => {
                                        fail(self.state, format!("{}.{inner}", self.field.json))
                                    }
                                    None => error,
                                });
                            }
                        }
                        None => {
                            self.state.exact = false;
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                for (i, member) in members.iter_mut().enumerate() {
                    if set & (1 << i) == 0 {
                        member.append_null();
                    }
                }
                validity.append_non_null();
                Ok(())
            }
            (
                Kind::StringMap,
                ColumnBuilder::Map {
                    keys,
                    values,
                    offsets,
                    validity,
                },
            ) => {
                let mut count = 0i32;
                while let Some(JsonStr(key)) = map.next_key()? {
                    let value: &RawValue = map.next_value()?;
                    match value.get().as_bytes().first() {
                        Some(b'"') => {
                            let text = match parse_str(value.get()) {
                                Ok(text) => text,
                                Err(message) => return Err(fail(self.state, message)),
                            };
                            values.append_value(text)
                        }
                        Some(b'n') => values.append_null(),
                        _ => {
                            self.state.exact = false;
                            values.append_value(value.get());
                        }
                    }
                    keys.append_value(key);
                    count += 1;
                }
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last + count);
                validity.append_non_null();
                Ok(())
            }
            _ => Err(wrong_kind(self.field, self.state, "an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::EXTRA_FIELDS;
    use arrow::array::{Array, AsArray};

    fn decode(text: &str) -> Result<RecordBatch, DecodeError> {
        decode_json(text.as_bytes(), Limits::default())
    }

    const MINIMAL: &str = r#"{"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","eventID":"e1","readOnly":true}"#;

    #[test]
    fn recognises_documents_that_are_not_logs() {
        let cases: [(&[&str], Option<NotCloudTrail>); 8] = [
            (&["Records"], None),
            (&["Records", "UserDetailList"], None),
            (
                &[
                    "UserDetailList",
                    "GroupDetailList",
                    "RoleDetailList",
                    "Policies",
                ],
                Some(NotCloudTrail::AuthorizationDetails),
            ),
            (
                &["RoleDetailList"],
                Some(NotCloudTrail::AuthorizationDetails),
            ),
            (
                &["Version", "Statement"],
                Some(NotCloudTrail::PolicyDocument),
            ),
            (
                &[
                    "awsAccountId",
                    "digestStartTime",
                    "digestEndTime",
                    "logFiles",
                ],
                Some(NotCloudTrail::Digest),
            ),
            (
                &["accounts", "athena"],
                Some(NotCloudTrail::CloudTrackerConfig),
            ),
            (&["eventTime", "eventName"], None),
        ];
        for (keys, expected) in cases {
            assert_eq!(
                NotCloudTrail::recognise(keys.iter().copied()),
                expected,
                "{keys:?}"
            );
        }
    }

    #[test]
    fn accepts_records_envelope_and_bare_array() {
        for text in [
            format!("{{\"Records\":[{MINIMAL}]}}"),
            format!("[{MINIMAL},{MINIMAL}]"),
        ] {
            let batch = decode(&text).expect("decodes");
            assert!(batch.num_rows() >= 1);
        }
        assert_eq!(
            decode("{\"Records\":[]}").map(|b| b.num_rows()).ok(),
            Some(0)
        );
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("{\"Records\":[", "invalid JSON"),
            ("{\"Foo\":[]}", "without a Records array"),
            ("\"text\"", "wrong top-level shape"),
            (
                "{\"Records\":[1]}",
                "record 0: expected an object, found a number",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventName":"X","eventID":"e"}]}"#,
                "missing eventSource",
            ),
            (
                r#"{"Records":[{"eventSource":"s3.amazonaws.com","eventName":"X","eventID":"e"}]}"#,
                "missing eventTime",
            ),
            (
                r#"{"Records":[{"eventTime":"yesterday","eventSource":"s","eventName":"X","eventID":"e"}]}"#,
                "not an ISO-8601",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":"root"}]}"#,
                "userIdentity: expected an object, found a string",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{"sessionContext":{"sessionIssuer":[]}}}]}"#,
                "sessionIssuer: expected an object, found an array",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":{"a":1},"eventName":"X","eventID":"e"}]}"#,
                "eventSource: expected a string",
            ),
            (
                r#"{"Records":[{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","resources":{}}]}"#,
                "resources: expected an array",
            ),
        ];
        for (input, expected) in cases {
            let err = decode(input).expect_err(input).to_string();
            assert!(
                err.contains(expected),
                "{input:?}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_offset() {
        let mut text = format!("{{\"Records\":[{MINIMAL}]}}").into_bytes();
        let at = text.len() - 10;
        text[at] = 0xff;
        let err = decode_json(&text, Limits::default())
            .expect_err("not UTF-8")
            .to_string();
        assert!(
            err.contains(&format!("not UTF-8: invalid byte at offset {at}")),
            "{err}"
        );
    }

    #[test]
    fn rejects_huge_record_and_gzip_problems() {
        let big = format!(
            r#"{{"Records":[{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","requestParameters":"{}"}}]}}"#,
            "x".repeat(2000)
        );
        let limits = Limits {
            max_record_bytes: 1000,
            ..Limits::default()
        };
        let err = decode_json(big.as_bytes(), limits)
            .expect_err("too big")
            .to_string();
        assert!(err.contains("larger than the 1000 byte limit"), "{err}");
        // A nested member counts whole, read in place and last in its record.
        let identity = format!(r#"{{"userName":"{}"}}"#, "y".repeat(2000));
        for big in [
            format!(
                r#"{{"Records":[{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{identity}}}]}}"#
            ),
            format!(
                r#"{{"Records":[{{"userIdentity":{identity},"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e"}}]}}"#
            ),
        ] {
            let err = decode_json(big.as_bytes(), limits)
                .expect_err("too big")
                .to_string();
            assert!(
                err.contains("bytes, larger than the 1000 byte limit"),
                "{err}"
            );
        }

        let mut gz = Vec::new();
        {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
            enc.write_all(format!("{{\"Records\":[{MINIMAL}]}}").as_bytes())
                .ok();
        }
        assert_eq!(
            decode_object(&gz, Limits::default())
                .map(|b| b.num_rows())
                .ok(),
            Some(1)
        );
        let truncated = &gz[..gz.len() / 2];
        let err = decode_object(truncated, Limits::default())
            .expect_err("truncated")
            .to_string();
        assert!(err.contains("gzip"), "{err}");
        let small = Limits {
            max_object_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            decode_object(&gz, small),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    fn gzip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).expect("in memory");
        encoder.finish().expect("in memory")
    }

    #[test]
    fn gunzip_takes_one_member_fast_and_the_rest_streaming() {
        let first = format!("{{\"Records\":[{MINIMAL},");
        let second = format!("{MINIMAL}]}}");
        let single = gzip(&(first.clone() + &second));
        assert_eq!(
            gunzip(&single, 1 << 20).ok(),
            Some((first.clone() + &second).into_bytes())
        );

        // Two members (as `cat a.gz b.gz` makes): the trailer only gives the second one's size.
        let mut two = gzip(&first);
        two.extend(gzip(&second));
        let batch = decode_object(&two, Limits::default()).expect("both members");
        assert_eq!(batch.num_rows(), 2);

        // A trailer that lies about the size, and a damaged CRC, are both errors, not short reads.
        let mut wrong_size = single.clone();
        let at = wrong_size.len() - 4;
        wrong_size[at] ^= 1;
        assert!(matches!(
            gunzip(&wrong_size, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));
        let mut wrong_crc = single.clone();
        wrong_crc[at - 1] ^= 1;
        assert!(matches!(
            gunzip(&wrong_crc, 1 << 20),
            Err(DecodeError::Gzip(_))
        ));
        // A trailer claiming more than the limit is not trusted either.
        assert!(matches!(
            gunzip(&single, 10),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    /// Found by the `decode_gzip` fuzz target: two members of equal size read as the first alone,
    /// because the fast path trusted the last trailer, which the first member's size matched.
    #[test]
    fn members_of_equal_size_are_all_read() {
        let mut two = gzip("aaaa");
        two.extend(gzip("bbbb"));
        assert_eq!(gunzip(&two, 1 << 20).ok(), Some(b"aaaabbbb".to_vec()));
        let mut trailing = gzip("aaaa");
        trailing.extend(&trailing.clone()[trailing.len() - 8..]);
        assert!(gunzip(&trailing, 1 << 20).is_err());
    }

    #[test]
    fn a_trailer_is_trusted_only_as_far_as_the_compressed_bytes_reach() {
        let single = gzip(&format!("{{\"Records\":[{MINIMAL}]}}"));
        let claimed = single.len() - 4;
        assert!(trusted_trailer_size(&single, 2 << 30).is_some());
        let mut huge = single.clone();
        huge[claimed..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(trusted_trailer_size(&huge, 8 << 30), None);
        // Still read, and refused by the streaming path for what it is.
        assert!(matches!(gunzip(&huge, 8 << 30), Err(DecodeError::Gzip(_))));
        let in_reach = (single.len() as u64 * MAX_DEFLATE_RATIO) as u32;
        huge[claimed..].copy_from_slice(&in_reach.to_le_bytes());
        assert_eq!(
            trusted_trailer_size(&huge, 8 << 30),
            Some(in_reach as usize)
        );
        assert_eq!(trusted_trailer_size(&[0x1f, 0x8b, 0], 1 << 20), None);
    }

    #[test]
    fn round_trips_records_exactly() {
        let records = [
            MINIMAL.to_string(),
            r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"1","accessKeyId":"ASIA1","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/r","accountId":"1","userName":"r"},"webIdFederationData":{"federatedProvider":"x","attributes":{"a":"b","n":null}},"attributes":{"creationDate":"2024-03-01T09:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-03-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","requestParameters":{"userName":"x","n":[1,2.5,{"q":null}]},"responseElements":null,"eventID":"e2","resources":[{"ARN":"arn:x","accountId":"1","type":"T"},{"ARN":"arn:y","ARNPrefix":"p"}],"managementEvent":true,"tlsDetails":{"tlsVersion":"TLSv1.3"},"unknownTop":{"a":[1]}}"#.to_string(),
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e3","userIdentity":{"type":"AWSService","invokedBy":"x","extraThing":1,"sessionContext":{}},"readOnly":"true","errorCode":42,"resources":[],"addendum":{"reason":null}}"#.to_string(),
        ];
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        let batch = decode(&text).expect("decodes");
        assert_eq!(batch.num_rows(), records.len());
        for (row, original) in records.iter().enumerate() {
            let original: serde_json::Value = serde_json::from_str(original).expect("valid");
            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
            assert_eq!(rebuilt, original, "row {row}");
        }
        let readonly = batch.column_by_name("readonly").expect("column");
        assert_eq!(readonly.as_string::<i32>().value(0), "true");
        let extra = batch
            .column_by_name(EXTRA_FIELDS)
            .expect("column")
            .as_string::<i32>();
        assert!(extra.is_null(0));
        assert!(extra.value(1).contains("managementEvent"));
    }

    #[test]
    fn keys_are_written_as_json_encodes_them() {
        for key in [
            "plain",
            "",
            "é€😀",
            "quo\"te",
            "back\\slash",
            "tab\tnew\nline\u{1f}",
            "\u{7f}",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, key);
            assert_eq!(out, serde_json::to_string(key).expect("encodes"), "{key:?}");
        }
    }

    #[test]
    fn nested_members_read_in_place_keep_their_own_text() {
        // userIdentity inexact in the middle (whitespace around it), tlsDetails inexact and last,
        // resources exact; then the same with an escaped key, which is decoded from its own text.
        let records = [
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e1", "userIdentity" :  {"type":"IAMUser","n":1} , "resources":[{"ARN":"arn:x"}],"tlsDetails": {"tlsVersion":"TLSv1.3","z":[true]}
            }"#,
            r#"{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e2","userIdentity":{"type":"IAMUser","n":2},"tlsDetails":{"tlsVersion":"TLSv1.2"}}"#,
            r#"{"eventTime":"2024-03-01T10:00:00Z","userIdentity":null,"eventSource":"s","eventName":"X","eventID":"e3"}"#,
        ];
        let text = format!("{{\"Records\":[{}]}}", records.join(" ,\n"));
        let batch = decode(&text).expect("decodes");
        let extra = batch
            .column_by_name(EXTRA_FIELDS)
            .expect("column")
            .as_string::<i32>();
        assert_eq!(
            extra.value(0),
            r#"{"userIdentity":{"type":"IAMUser","n":1},"tlsDetails":{"tlsVersion":"TLSv1.3","z":[true]}}"#
        );
        assert_eq!(
            extra.value(1),
            r#"{"userIdentity":{"type":"IAMUser","n":2}}"#
        );
        assert_eq!(extra.value(2), r#"{"userIdentity":null}"#);
        for (row, original) in records.iter().enumerate() {
            let original: serde_json::Value = serde_json::from_str(original).expect("valid");
            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
            assert_eq!(rebuilt, original, "row {row}");
        }
    }

    #[test]
    fn nested_members_that_do_not_fit_name_their_path_and_broken_json_is_json() {
        let record = |identity: &str| {
            format!(
                r#"{{"Records":[{MINIMAL},{{"eventTime":"2024-03-01T10:00:00Z","eventSource":"s","eventName":"X","eventID":"e","userIdentity":{identity},"tlsDetails":{{}}}}]}}"#
            )
        };
        let cases = [
            (
                r#"{"sessionContext":{"sessionIssuer":{"arn":{}}}}"#,
                "record 1: userIdentity.sessionContext.sessionIssuer.arn: expected a string, found an object",
            ),
            (
                r#"{"type":"a","type":"b"}"#,
                "record 1: userIdentity.type appears twice",
            ),
            (
                r#"[1]"#,
                "record 1: userIdentity: expected an object, found an array",
            ),
        ];
        for (identity, expected) in cases {
            let err = decode(&record(identity)).expect_err(identity).to_string();
            assert_eq!(err, expected, "{identity}");
        }
        let err = decode(&record(r#"{"sessionContext":{"x":[1,}}"#))
            .expect_err("broken")
            .to_string();
        assert!(err.starts_with("invalid JSON: "), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        /// Member names a record may carry: every column's JSON name at every depth (so values of
        /// the wrong type reach each builder), and some names no column has.
        fn member_names() -> Vec<&'static str> {
            fn collect(fields: &[Field], names: &mut Vec<&'static str>) {
                for field in fields {
                    names.push(field.json);
                    if let Kind::Struct(members) | Kind::ListOfStruct(members) = &field.kind {
                        collect(members, names);
                    }
                }
            }
            let mut names = vec!["managementEvent", "unknownKey", "é\"quoted\\"];
            collect(RECORD, &mut names);
            names
        }

        fn json_value() -> BoxedStrategy<Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1e6f64..1e6).prop_map(Value::from),
                "[a-z0-9:/\\\\\"\\u{0}-\\u{1f}é€😀 ]{0,12}".prop_map(Value::String),
            ];
            let leaf = leaf.boxed();
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((prop::sample::select(member_names()), inner), 0..5)
                        .prop_map(|members| {
                            Value::Object(
                                members
                                    .into_iter()
                                    .map(|(k, v)| (k.to_string(), v))
                                    .collect(),
                            )
                        }),
                ]
            })
            .boxed()
        }

        fn text() -> impl Strategy<Value = String> {
            "[a-z0-9:/\\\\\"\\u{0}-\\u{1f}é€😀 ]{0,12}"
        }

        fn object(members: Vec<(String, Value)>) -> Value {
            Value::Object(members.into_iter().collect())
        }

        /// A value of the type the schema expects for `kind`, with unknown members mixed in.
        fn typed_value(kind: &'static Kind) -> BoxedStrategy<Value> {
            match kind {
                Kind::Text => text().prop_map(Value::String).boxed(),
                Kind::BoolText => any::<bool>().prop_map(Value::Bool).boxed(),
                Kind::JsonText => json_value(),
                Kind::Struct(members) => typed_members(members).prop_map(object).boxed(),
                Kind::ListOfStruct(members) => {
                    prop::collection::vec(typed_members(members).prop_map(object), 0..3)
                        .prop_map(Value::Array)
                        .boxed()
                }
                Kind::StringMap => prop::collection::vec((text(), prop::option::of(text())), 0..3)
                    .prop_map(|entries| {
                        object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
                                .collect(),
                        )
                    })
                    .boxed(),
            }
        }

        /// Some of `fields`, each with a well-typed value, in a random order, sometimes with a
        /// member the schema does not know.
        fn typed_members(fields: &'static [Field]) -> BoxedStrategy<Vec<(String, Value)>> {
            let chosen: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
                .iter()
                .map(|field| {
                    prop::option::of(
                        typed_value(&field.kind).prop_map(|v| (field.json.to_string(), v)),
                    )
                    .boxed()
                })
                .collect();
            (
                chosen,
                prop::option::of(json_value()),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(members, unknown, shift)| {
                    let mut members: Vec<(String, Value)> = members.into_iter().flatten().collect();
                    members.extend(unknown.map(|v| ("unknownMember".to_string(), v)));
                    if !members.is_empty() {
                        let by = shift.index(members.len());
                        members.rotate_left(by);
                    }
                    members
                })
                .boxed()
        }

        fn with_required(mut record: Map<String, Value>, id: String) -> Value {
            record.insert("eventTime".into(), "2024-03-01T10:00:00Z".into());
            record.insert("eventSource".into(), "s3.amazonaws.com".into());
            record.insert("eventName".into(), "ListBuckets".into());
            record.insert("eventID".into(), id.into());
            Value::Object(record)
        }

        /// Records with members of any type under any name: mostly refused, which is the point.
        fn loose_record() -> impl Strategy<Value = Value> {
            (
                prop::collection::vec((prop::sample::select(member_names()), json_value()), 0..8),
                "[a-z0-9-]{1,8}",
            )
                .prop_map(|(members, id)| {
                    let record = members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                    with_required(record, id)
                })
        }

        /// Records shaped like CloudTrail's, which must all be stored.
        fn typed_record() -> impl Strategy<Value = Value> {
            (typed_members(RECORD), "[a-z0-9-]{1,8}")
                .prop_map(|(members, id)| with_required(members.into_iter().collect(), id))
        }

        /// A record, and whether it is shaped like CloudTrail's.
        fn record() -> impl Strategy<Value = (Value, bool)> {
            prop_oneof![
                loose_record().prop_map(|record| (record, false)),
                typed_record().prop_map(|record| (record, true)),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever the records hold, decoding either stores every record so that it is rebuilt
            /// exactly, whatever order its keys come in, or refuses the object naming a record that
            /// is not shaped like CloudTrail's. An object of CloudTrail-shaped records is stored.
            #[test]
            fn decoded_records_rebuild_exactly(records in prop::collection::vec(record(), 1..6), pretty in any::<bool>()) {
                let typed: Vec<bool> = records.iter().map(|(_, typed)| *typed).collect();
                let records: Vec<Value> = records.into_iter().map(|(record, _)| record).collect();
                let envelope = serde_json::json!({ "Records": records });
                // Pretty-printed text puts whitespace around every member, which the decoder
                // steps over to find a nested member's text by its place.
                let text = if pretty {
                    serde_json::to_string_pretty(&envelope)
                } else {
                    serde_json::to_string(&envelope)
                }
                .expect("serializable");
                // Compared with the records as the text reads back (serde_json parses floats
                // approximately; the store keeps the text itself).
                let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
                let records = parsed["Records"].as_array().expect("records").clone();
                match decode(&text) {
                    Ok(batch) => {
                        prop_assert_eq!(batch.num_rows(), records.len());
                        for (row, original) in records.iter().enumerate() {
                            let rebuilt = schema::reconstruct(&batch, row).expect("reconstructs");
                            prop_assert_eq!(&rebuilt, original);
                        }
                    }
                    Err(DecodeError::Record { index, message }) => {
                        prop_assert!(index < typed.len(), "record {} of {}", index, typed.len());
                        prop_assert!(!typed[index], "a CloudTrail-shaped record refused: {}", message);
                    }
                    Err(other) => prop_assert!(false, "refused as a whole: {}", other),
                }
            }

            /// Records shaped like CloudTrail's are never refused.
            #[test]
            fn well_typed_records_are_stored(records in prop::collection::vec(typed_record(), 1..6)) {
                let text = serde_json::to_string(&serde_json::json!({ "Records": records }))
                    .expect("serializable");
                let decoded = decode(&text);
                prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
            }

            /// Arbitrary bytes, plain or gzip, never panic the decoder.
            #[test]
            fn arbitrary_bytes_are_refused_or_decoded(bytes in prop::collection::vec(any::<u8>(), 0..512), gzipped in any::<bool>()) {
                let bytes = if gzipped {
                    gzip(&String::from_utf8_lossy(&bytes))
                } else {
                    bytes
                };
                let _ = decode_object(&bytes, Limits::default());
            }
        }
    }
}
