//! The Arrow builders a decoded object's records are appended to, one per column of the store.

use std::sync::{Arc, LazyLock};

use ahash::AHashMap;
use arrow::array::{
    ArrayBuilder, ArrayRef, AsArray, ListArray, MapArray, NullBufferBuilder, RecordBatch,
    StringBuilder, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields};

use super::DecodeError;
use crate::store::schema::{self, Kind, RECORD, REQUIRED_JSON_KEYS};

/// One growing column, shaped like its [`Kind`].
pub(super) enum ColumnBuilder {
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
        entries_field: FieldRef,
        keys: StringBuilder,
        values: StringBuilder,
        offsets: Vec<i32>,
        validity: NullBufferBuilder,
    },
}

impl ColumnBuilder {
    /// A builder for a column of `kind`, whose Arrow type in the store's schema is `data_type`.
    /// The types are taken from the schema, made once, rather than made again for each object.
    pub(super) fn new(kind: &Kind, data_type: &DataType) -> ColumnBuilder {
        match (kind, data_type) {
            (Kind::Text | Kind::BoolText | Kind::JsonText, _) => {
                ColumnBuilder::Text(StringBuilder::new())
            }
            (Kind::Struct(members), DataType::Struct(fields)) => ColumnBuilder::Struct {
                fields: fields.clone(),
                members: members
                    .iter()
                    .zip(fields.iter())
                    .map(|(member, field)| ColumnBuilder::new(&member.kind, field.data_type()))
                    .collect(),
                validity: NullBufferBuilder::new(0),
            },
            (Kind::ListOfStruct(members), DataType::List(item_field)) => ColumnBuilder::List {
                item_field: item_field.clone(),
                item: Box::new(ColumnBuilder::new(
                    &Kind::Struct(members),
                    item_field.data_type(),
                )),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            },
            (Kind::StringMap, DataType::Map(entries_field, _)) => ColumnBuilder::Map {
                entries_field: entries_field.clone(),
                keys: StringBuilder::new(),
                values: StringBuilder::new(),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            },
            (kind, data_type) => {
                unreachable!("the store's schema gives {kind:?} the type {data_type}")
            }
        }
    }

    pub(super) fn append_null(&mut self) {
        self.append_nulls(1);
    }

    /// Rows appended so far.
    fn len(&self) -> usize {
        match self {
            ColumnBuilder::Text(b) => b.len(),
            ColumnBuilder::Struct { validity, .. } => validity.len(),
            ColumnBuilder::List { offsets, .. } | ColumnBuilder::Map { offsets, .. } => {
                offsets.len().saturating_sub(1)
            }
        }
    }

    fn append_nulls(&mut self, rows: usize) {
        match self {
            ColumnBuilder::Text(b) => b.append_nulls(rows),
            // Members are padded when their next value comes, or when the struct is finished.
            ColumnBuilder::Struct { validity, .. } => validity.append_n_nulls(rows),
            ColumnBuilder::List {
                offsets, validity, ..
            }
            | ColumnBuilder::Map {
                offsets, validity, ..
            } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.resize(offsets.len() + rows, last);
                validity.append_n_nulls(rows);
            }
        }
    }

    /// Nulls up to `rows` rows. A record's absent members, and a struct's, are not appended one by
    /// one as each record ends, but all at once when the column's next value comes or when the batch
    /// is finished: most columns are absent from most records.
    pub(super) fn pad_to(&mut self, rows: usize) {
        let length = self.len();
        if length < rows {
            self.append_nulls(rows - length);
        }
    }

    pub(super) fn text(&mut self) -> &mut StringBuilder {
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
                let rows = validity.len();
                let children: Vec<ArrayRef> = members
                    .into_iter()
                    .map(|mut member| {
                        member.pad_to(rows);
                        member.finish()
                    })
                    .collect();
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
                entries_field,
                mut keys,
                mut values,
                offsets,
                mut validity,
            } => {
                let DataType::Struct(entry_fields) = entries_field.data_type().clone() else {
                    unreachable!("map entries are a struct")
                };
                let entries = StructArray::new(
                    entry_fields,
                    vec![Arc::new(keys.finish()), Arc::new(values.finish())],
                    None,
                );
                Arc::new(MapArray::new(
                    entries_field,
                    OffsetBuffer::new(offsets.into()),
                    entries,
                    validity.finish(),
                    false,
                ))
            }
        }
    }
}

pub(super) struct BatchBuilder {
    pub(super) columns: Vec<ColumnBuilder>,
    pub(super) extra: StringBuilder,
    /// The buffer a record's extrafields are written in, kept from record to record.
    pub(super) extra_text: String,
    /// The column of each key of the last record, by position: records of one object nearly always
    /// list their keys in the same order, so one comparison usually finds the column.
    last_key_columns: Vec<Option<usize>>,
    /// Records appended. A column may hold fewer rows: those missing are nulls ([`ColumnBuilder::pad_to`]).
    pub(super) rows: usize,
}

impl BatchBuilder {
    pub(super) fn new() -> BatchBuilder {
        BatchBuilder {
            columns: RECORD
                .iter()
                .zip(schema::file_schema().fields().iter())
                .map(|(field, arrow_field)| {
                    ColumnBuilder::new(&field.kind, arrow_field.data_type())
                })
                .collect(),
            extra: StringBuilder::new(),
            extra_text: String::new(),
            last_key_columns: Vec::new(),
            rows: 0,
        }
    }

    /// The column a record's key at position `slot` goes to, if it has one.
    pub(super) fn column_of(&mut self, slot: usize, key: &str) -> Option<usize> {
        if let Some(Some(column)) = self.last_key_columns.get(slot).copied()
            && same_key(RECORD[column].json, key)
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

    pub(super) fn finish(self) -> Result<RecordBatch, DecodeError> {
        let rows = self.rows;
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .into_iter()
            .map(|mut column| {
                column.pad_to(rows);
                column.finish()
            })
            .collect();
        let mut extra = self.extra;
        arrays.push(Arc::new(extra.finish()));
        let days = schema::day_column(arrays[*EVENT_TIME].as_string::<i32>());
        arrays.push(Arc::new(days));
        RecordBatch::try_new(schema::file_schema(), arrays)
            .map_err(|e| DecodeError::Shape(format!("internal: cannot assemble batch: {e}")))
    }
}

/// Whether two member names are equal, compared in registers: a record's keys are short, and a
/// call to `memcmp` for each of them was 2% of ingest's time.
#[inline]
pub(super) fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let length = a.len();
    if length != b.len() {
        return false;
    }
    // Two loads that overlap when the key is shorter than both: its first and its last bytes.
    fn ends<const N: usize>(bytes: &[u8]) -> ([u8; N], [u8; N]) {
        let mut first = [0; N];
        let mut last = [0; N];
        first.copy_from_slice(&bytes[..N]);
        last.copy_from_slice(&bytes[bytes.len() - N..]);
        (first, last)
    }
    match length {
        4..=8 => ends::<4>(a) == ends::<4>(b),
        9..=16 => ends::<8>(a) == ends::<8>(b),
        17..=32 => ends::<16>(a) == ends::<16>(b),
        _ => a == b,
    }
}

pub(super) static RECORD_KEYS: LazyLock<AHashMap<&'static str, usize>> = LazyLock::new(|| {
    RECORD
        .iter()
        .enumerate()
        .map(|(i, f)| (f.json, i))
        .collect()
});
pub(super) static EVENT_TIME: LazyLock<usize> = LazyLock::new(|| RECORD_KEYS["eventTime"]);
pub(super) static REQUIRED_COLUMNS: LazyLock<[(&str, usize); REQUIRED_JSON_KEYS.len()]> =
    LazyLock::new(|| REQUIRED_JSON_KEYS.map(|key| (key, RECORD_KEYS[key])));

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_differing_in_any_one_byte_differ() {
        for key in RECORD.iter().map(|field| field.json) {
            assert!(same_key(key, key), "{key}");
            for at in 0..key.len() {
                let mut changed = key.as_bytes().to_vec();
                changed[at] ^= 0x20;
                let changed = String::from_utf8(changed).expect("ASCII stays ASCII");
                assert!(!same_key(key, &changed), "{key} against {changed}");
            }
            assert!(!same_key(key, &key[1..]), "{key} against a shorter key");
        }
    }

    proptest! {
        #[test]
        fn same_key_is_equality(a in "[a-cA-C]{0,40}", b in "[a-cA-C]{0,40}") {
            prop_assert_eq!(same_key(&a, &b), a == b);
            prop_assert!(same_key(&a, &a.clone()));
        }
    }
}
