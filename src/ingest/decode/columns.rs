//! The Arrow builders a decoded object's records are appended to, one per column of the store.

use std::cell::RefCell;
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

fn next_room(room: &mut impl Iterator<Item = Room>) -> Room {
    room.next().unwrap_or_default()
}

impl ColumnBuilder {
    /// A builder for a column of `kind`, whose Arrow type in the store's schema is `data_type`.
    /// The types are taken from the schema, made once, rather than made again for each object.
    /// Each buffer reserves the next of `room`, taken in the order of [`ColumnBuilder::visit_buffers`].
    fn new(
        kind: &Kind,
        data_type: &DataType,
        room: &mut impl Iterator<Item = Room>,
    ) -> ColumnBuilder {
        match (kind, data_type) {
            (Kind::Text | Kind::BoolText | Kind::JsonText, _) => {
                ColumnBuilder::Text(next_room(room).string_builder())
            }
            (Kind::Struct(members), DataType::Struct(fields)) => ColumnBuilder::Struct {
                fields: fields.clone(),
                members: members
                    .iter()
                    .zip(fields.iter())
                    .map(|(member, field)| {
                        ColumnBuilder::new(&member.kind, field.data_type(), room)
                    })
                    .collect(),
                validity: NullBufferBuilder::new(0),
            },
            (Kind::ListOfStruct(members), DataType::List(item_field)) => ColumnBuilder::List {
                item_field: item_field.clone(),
                offsets: next_room(room).offsets(),
                item: Box::new(ColumnBuilder::new(
                    &Kind::Struct(members),
                    item_field.data_type(),
                    room,
                )),
                validity: NullBufferBuilder::new(0),
            },
            (Kind::StringMap, DataType::Map(entries_field, _)) => ColumnBuilder::Map {
                entries_field: entries_field.clone(),
                offsets: next_room(room).offsets(),
                keys: next_room(room).string_builder(),
                values: next_room(room).string_builder(),
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

    /// Rows appended so far. A text column's count is taken from its offsets (one more than its
    /// rows, from the first): the builder's own count is a call into arrow-buffer that is not
    /// inlined, made for each member of each record.
    fn len(&self) -> usize {
        match self {
            ColumnBuilder::Text(b) => b.offsets_slice().len().saturating_sub(1),
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

    /// Each of its buffers, in the order [`ColumnBuilder::new`] reserves them.
    fn visit_buffers(&self, visit: &mut impl FnMut(Buffer)) {
        match self {
            ColumnBuilder::Text(b) => visit(Buffer::Text(b)),
            ColumnBuilder::Struct { members, .. } => members
                .iter()
                .for_each(|member| member.visit_buffers(visit)),
            ColumnBuilder::List { item, offsets, .. } => {
                visit(Buffer::Offsets(offsets));
                item.visit_buffers(visit);
            }
            ColumnBuilder::Map {
                keys,
                values,
                offsets,
                ..
            } => {
                visit(Buffer::Offsets(offsets));
                visit(Buffer::Text(keys));
                visit(Buffer::Text(values));
            }
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
    /// For each column, and for [`RECORD_START`] and [`NO_COLUMN`], the column of the key that came
    /// after it last time. Records list their keys in one order, leaving out those they do not
    /// have, so one comparison usually finds the column: on 1M generated events this guess missed
    /// 5.6% of keys, where the column of the key at the same position in the last record missed 21%.
    next_columns: [Option<usize>; RECORD.len() + 2],
    /// Records appended. A column may hold fewer rows: those missing are nulls ([`ColumnBuilder::pad_to`]).
    pub(super) rows: usize,
    /// The length of the object's JSON text.
    text_bytes: usize,
}

/// What one buffer of a builder holds: values (rows, or list entries) and their bytes of text.
#[derive(Debug, Default, Clone, Copy)]
struct Room {
    items: usize,
    bytes: usize,
}

/// [`Room`] per byte of an object's JSON text.
#[derive(Debug, Clone, Copy)]
struct Density {
    items: f64,
    bytes: f64,
}

/// Spare room reserved beyond the last object's density, so that an object a little denser than
/// the last does not grow its buffers (each growth copies the buffer into one twice its size).
const HEADROOM: f64 = 1.125;

/// One buffer of a [`ColumnBuilder`].
enum Buffer<'a> {
    Text(&'a StringBuilder),
    Offsets(&'a [i32]),
}

impl Room {
    fn of(buffer: Buffer) -> Room {
        match buffer {
            Buffer::Text(builder) => Room {
                items: builder.len(),
                bytes: builder.values_slice().len(),
            },
            Buffer::Offsets(offsets) => Room {
                items: offsets.len().saturating_sub(1),
                bytes: 0,
            },
        }
    }

    fn per_text_byte(self, text_bytes: f64) -> Density {
        Density {
            items: self.items as f64 / text_bytes,
            bytes: self.bytes as f64 / text_bytes,
        }
    }

    fn string_builder(self) -> StringBuilder {
        StringBuilder::with_capacity(self.items, self.bytes)
    }

    fn offsets(self) -> Vec<i32> {
        let mut offsets = Vec::with_capacity(self.items + 1);
        offsets.push(0);
        offsets
    }
}

impl Density {
    fn for_text(self, text_bytes: usize) -> Room {
        let scaled = |density: f64| (density * text_bytes as f64 * HEADROOM).ceil() as usize;
        Room {
            items: scaled(self.items),
            bytes: scaled(self.bytes),
        }
    }
}

thread_local! {
    /// The density of each buffer of the last object the thread decoded, in the order of
    /// [`ColumnBuilder::visit_buffers`], then the extrafields'. Growing a builder by doubling
    /// copied each buffer about once more and faulted in fresh pages each time; an object's
    /// records are much like the last's.
    static LAST_ROOM: RefCell<Vec<Density>> = const { RefCell::new(Vec::new()) };
}

impl BatchBuilder {
    /// Builders for an object of `text_bytes` bytes of JSON, each reserving what its column took
    /// per byte of text in the last object this thread decoded.
    pub(super) fn new(text_bytes: usize) -> BatchBuilder {
        LAST_ROOM.with_borrow(|last| {
            let mut room = last.iter().map(|density| density.for_text(text_bytes));
            BatchBuilder {
                columns: RECORD
                    .iter()
                    .zip(schema::file_schema().fields().iter())
                    .map(|(field, arrow_field)| {
                        ColumnBuilder::new(&field.kind, arrow_field.data_type(), &mut room)
                    })
                    .collect(),
                extra: next_room(&mut room).string_builder(),
                extra_text: String::new(),
                next_columns: [None; RECORD.len() + 2],
                rows: 0,
                text_bytes,
            }
        })
    }

    /// The room each buffer took, per byte of text, kept for the thread's next object.
    fn remember_room(&self) {
        let mut room = Vec::new();
        for column in &self.columns {
            column.visit_buffers(&mut |buffer| room.push(Room::of(buffer)));
        }
        room.push(Room::of(Buffer::Text(&self.extra)));
        let text_bytes = self.text_bytes.max(1) as f64;
        LAST_ROOM.with_borrow_mut(|last| {
            last.clear();
            last.extend(room.iter().map(|room| room.per_text_byte(text_bytes)));
        });
    }

    /// The column a record's key goes to, if it has one; `previous` is the column of the key before
    /// it, or [`RECORD_START`], or [`NO_COLUMN`].
    pub(super) fn column_of(&mut self, previous: usize, key: &str) -> Option<usize> {
        let Some(next) = self.next_columns.get_mut(previous) else {
            return RECORD_KEYS.get(key).copied();
        };
        if let Some(column) = *next
            && same_key(RECORD[column].json, key)
        {
            return Some(column);
        }
        *next = RECORD_KEYS.get(key).copied();
        *next
    }

    pub(super) fn finish(mut self) -> Result<RecordBatch, DecodeError> {
        let rows = self.rows;
        for column in &mut self.columns {
            column.pad_to(rows);
        }
        self.remember_room();
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

/// What comes before a record's first key, for [`BatchBuilder::column_of`].
pub(super) const RECORD_START: usize = RECORD.len();
/// What comes before the key after one that has no column.
pub(super) const NO_COLUMN: usize = RECORD.len() + 1;

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

    /// A record with a value in a list, a map and nested structs, each of its own size.
    const NESTED: &str = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithWebIdentity","eventID":"e1","userIdentity":{"type":"WebIdentityUser","principalId":"accounts.google.com:1234567","sessionContext":{"webIdFederationData":{"federatedProvider":"accounts.google.com","attributes":{"audience":"a-long-audience-value.apps.googleusercontent.com","sub":"s"}}}},"resources":[{"ARN":"arn:aws:iam::111122223333:role/a-role-with-a-long-name","accountId":"111122223333","type":"AWS::IAM::Role"}],"readOnly":true}]}"#;

    #[test]
    fn each_buffer_reserves_what_its_own_buffer_took_in_the_last_object() {
        super::super::decode_json(NESTED.as_bytes(), super::super::Limits::default())
            .expect("decodes");
        let taken = LAST_ROOM.with_borrow(|last| {
            last.iter()
                .map(|density| density.for_text(NESTED.len()))
                .collect::<Vec<_>>()
        });
        let builder = BatchBuilder::new(NESTED.len());
        // Bytes reserved for each buffer's text (none for offsets).
        let mut reserved = Vec::new();
        for column in &builder.columns {
            column.visit_buffers(&mut |buffer| {
                reserved.push(match buffer {
                    Buffer::Text(b) => b.values_capacity(),
                    Buffer::Offsets(_) => 0,
                })
            });
        }
        reserved.push(builder.extra.values_capacity());
        assert_eq!(taken.len(), reserved.len());
        let mut texts = 0;
        for (index, (taken, reserved)) in taken.iter().zip(&reserved).enumerate() {
            assert!(
                *reserved >= taken.bytes,
                "buffer {index}: {reserved} bytes reserved for {taken:?}"
            );
            texts += usize::from(taken.bytes > 0);
        }
        // The record's values are in text, list and map buffers alike.
        assert!(texts >= 12, "{texts} buffers held text");
    }

    proptest! {
        #[test]
        fn a_key_finds_its_column_whatever_came_before(
            records in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        (0..RECORD.len()).prop_map(|i| RECORD[i].json.to_string()),
                        "[a-zA-Z]{1,12}",
                    ],
                    0..12,
                ),
                0..8,
            )
        ) {
            let mut builder = BatchBuilder::new(0);
            for keys in &records {
                let mut previous = RECORD_START;
                for key in keys {
                    let column = builder.column_of(previous, key);
                    prop_assert_eq!(column, RECORD_KEYS.get(key.as_str()).copied(), "{}", key);
                    previous = column.unwrap_or(NO_COLUMN);
                }
            }
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
