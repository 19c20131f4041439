//! A nested member (a struct, a list of structs or a map), decoded straight into its builder.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::columns::{ColumnBuilder, same_key};
use super::record::{JsonStr, parse_str};
use crate::store::schema::{Field, Kind};

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
pub(super) struct ValueSeed<'a> {
    pub(super) field: &'a Field,
    pub(super) builder: &'a mut ColumnBuilder,
    pub(super) state: &'a mut NestedState,
}

/// What decoding a nested member learns beside its values.
pub(super) struct NestedState {
    /// Whether the member fits the schema exactly (else it is kept whole in extrafields too).
    pub(super) exact: bool,
    /// Why the member does not fit the schema at all, with its path; `None` when decoding stopped
    /// on the JSON itself.
    pub(super) failure: Option<String>,
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
                        Some(f) if same_key(f.json, &key) => Some(expected),
                        _ => fields.iter().position(|f| same_key(f.json, &key)),
                    };
                    match position {
                        Some(i) => {
                            expected = i + 1;
                            if set & (1 << i) != 0 {
                                let message = format!("{}.{key} appears twice", self.field.json);
                                return Err(fail(self.state, message));
                            }
                            set |= 1 << i;
                            members[i].pad_to(validity.len());
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
                    ..
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
