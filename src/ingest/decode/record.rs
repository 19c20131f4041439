//! The records of an object: the envelope, the array, and each record's members in one pass.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::columns::{BatchBuilder, EVENT_TIME, NO_COLUMN, RECORD_START, REQUIRED_COLUMNS};
use super::nested::{NestedState, ValueSeed};
use super::{DecodeError, Limits, NotCloudTrail};
use crate::store::schema::{Field, Kind, RECORD};

/// `{"Records": [...]}`: the array is decoded, other top-level keys are an error.
pub(super) struct EnvelopeSeed<'a, 'de>(pub(super) RecordsSeed<'a, 'de>);

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

pub(super) struct RecordsSeed<'a, 'de> {
    pub(super) builder: &'a mut BatchBuilder,
    pub(super) limits: Limits,
    pub(super) failure: &'a mut Option<DecodeError>,
    pub(super) index: usize,
    /// The object's whole text, which every borrowed key points into.
    pub(super) text: &'de str,
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
    // Inlined into serde_json's loop over the records, as `JsonStr` is into its loop over keys:
    // as calls across codegen units they cost 2% of an ingest's instructions.
    #[inline]
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
        let mut previous = RECORD_START;
        while let Some(JsonStr(key)) = map.next_key()? {
            if let Some(member) = pending.take()
                && let Err(message) = record.close_nested(text, &member, Some(&key))
            {
                return Err(self.reject(message));
            }
            let column = self.builder.column_of(previous, &key);
            previous = column.unwrap_or(NO_COLUMN);
            let Some(column) = column else {
                let value: &'de RawValue = map.next_value()?;
                record.keep_extra(&key, value.get());
                continue;
            };
            if std::mem::replace(&mut record.set[column], true) {
                return Err(self.reject(format!("{key} appears twice")));
            }
            self.builder.columns[column].pad_to(self.builder.rows);
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
            } else if let Some(start) = string_start(text, field, &key) {
                // A string for a text column is read once, as a string. Its JSON literal is only
                // measured, for the record's size.
                let JsonStr(value) = map.next_value()?;
                let literal_length = match &value {
                    Cow::Borrowed(value) => Ok(value.len() + 2),
                    Cow::Owned(_) => member_text_from(text, start).map(str::len),
                };
                if let Err(message) = literal_length
                    .and_then(|length| record.text(self.builder, column, &key, &value, length))
                {
                    return Err(self.reject(message));
                }
            } else {
                let value: &'de RawValue = map.next_value()?;
                if let Err(message) = record.member(self.builder, column, &key, value) {
                    return Err(self.reject(message));
                }
            }
        }
        if let Some(member) = pending.take()
            && let Err(message) = record.close_nested(text, &member, None)
        {
            return Err(self.reject(message));
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

/// Where the value of the member named by `key` begins, when the member belongs to a text column
/// and its value is a string (`None` too for a key that was unescaped, whose place is not known).
fn string_start(text: &str, field: &Field, key: &str) -> Option<usize> {
    if !matches!(field.kind, Kind::Text) {
        return None;
    }
    let start = value_start(text, key)?;
    (text.as_bytes().get(start) == Some(&b'"')).then_some(start)
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
    let comma = bytes
        .get(start..quote)?
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
pub(super) fn push_json_string(out: &mut String, text: &str) {
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

    /// Counts a nested member decoded in place, and keeps it in extrafields if it was not exact.
    /// Its text ends before `next_key` when that key's place is known, else it is read again.
    fn close_nested(
        &mut self,
        text: &str,
        member: &NestedMember,
        next_key: Option<&str>,
    ) -> Result<(), String> {
        let raw = match next_key.and_then(|key| member_text_before(text, member.start, key)) {
            Some(raw) => raw,
            None => member_text_from(text, member.start)?,
        };
        self.size += member.key.len() + raw.len();
        if !member.exact {
            self.keep_in_extra(member.key, raw);
        }
        Ok(())
    }

    /// Appends a string member of a text column: `value` is its text, and `literal_length` the
    /// length of the JSON string it was read from.
    fn text(
        &mut self,
        builder: &mut BatchBuilder,
        column: usize,
        key: &str,
        value: &str,
        literal_length: usize,
    ) -> Result<(), String> {
        self.size += key.len() + literal_length;
        self.append_text(builder, column, value)
    }

    fn append_text(
        &mut self,
        builder: &mut BatchBuilder,
        column: usize,
        value: &str,
    ) -> Result<(), String> {
        if column == *EVENT_TIME && crate::time::day_text(value).is_none() {
            return Err(format!("eventTime {value:?} is not an ISO-8601 UTC time"));
        }
        builder.columns[column].text().append_value(value);
        self.non_null[column] = true;
        Ok(())
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
                self.append_text(builder, column, &text)?;
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
        let mut extra = self.extra;
        if extra.is_empty() {
            builder.extra.append_null();
        } else {
            extra.push('}');
            builder.extra.append_value(&extra);
        }
        builder.extra_text = extra;
        builder.rows += 1;
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
pub(super) fn parse_str(text: &str) -> Result<Cow<'_, str>, String> {
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
pub(super) struct JsonStr<'a>(pub(super) Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for JsonStr<'de> {
    // See `RecordSeed::deserialize`.
    #[inline]
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
