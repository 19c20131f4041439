//! The Arrow builders a decoded object's records are appended to, one per column of the store.

use std::sync::{Arc, LazyLock};

use ahash::AHashMap;
use arrow::array::{
    ArrayRef, AsArray, BooleanBufferBuilder, ListArray, MapArray, NullBufferBuilder, RecordBatch,
    StringArray, StructArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, FieldRef, Fields};

use super::DecodeError;
use crate::store::schema::{self, Kind, RECORD, REQUIRED_JSON_KEYS};

/// A text column being built. Its buffers stay with the decoding thread from one object to the
/// next, and each object's array is a copy of exactly its size: fresh builders for every object
/// were grown by doubling, faulted in page by page, and shrunk again when staged.
pub(super) struct TextBuilder {
    values: Vec<u8>,
    /// Where each value begins in `values`, then where the last ends.
    offsets: Vec<i32>,
    valid: BooleanBufferBuilder,
    nulls: usize,
}

impl Default for TextBuilder {
    fn default() -> Self {
        TextBuilder {
            values: Vec::new(),
            offsets: vec![0],
            valid: BooleanBufferBuilder::new(0),
            nulls: 0,
        }
    }
}

impl TextBuilder {
    pub(super) fn append_value(&mut self, value: impl AsRef<str>) {
        self.values.extend_from_slice(value.as_ref().as_bytes());
        // An object holds at most 2 GiB of text (`Limits::max_object_bytes`); a column past
        // `i32::MAX` is refused by `take` before its offsets are used.
        self.offsets.push(self.values.len() as i32);
        self.valid.append(true);
    }

    pub(super) fn append_null(&mut self) {
        self.append_nulls(1);
    }

    fn append_nulls(&mut self, rows: usize) {
        let end = self.offsets.last().copied().unwrap_or(0);
        self.offsets.resize(self.offsets.len() + rows, end);
        self.valid.append_n(rows, false);
        self.nulls += rows;
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn capacity_bytes(&self) -> usize {
        self.values.capacity() + self.offsets.capacity() * 4
    }

    /// The column as an array of exactly its size; the builder is left empty, with its buffers.
    fn take(&mut self) -> Result<StringArray, DecodeError> {
        if i32::try_from(self.values.len()).is_err() {
            return Err(DecodeError::Shape(format!(
                "{} bytes of text in one column of one object, more than a column holds",
                self.values.len()
            )));
        }
        let nulls = (self.nulls > 0).then(|| {
            NullBuffer::new(arrow::buffer::BooleanBuffer::new(
                Buffer::from(self.valid.as_slice().to_vec()),
                0,
                self.len(),
            ))
        });
        let array = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(self.offsets.clone())),
            Buffer::from(self.values.clone()),
            nulls,
        )
        .map_err(|e| DecodeError::Shape(format!("internal: cannot assemble a column: {e}")));
        self.values.clear();
        self.offsets.truncate(1);
        self.valid.truncate(0);
        self.nulls = 0;
        array
    }
}

/// One growing column, shaped like its [`Kind`].
pub(super) enum ColumnBuilder {
    Text(TextBuilder),
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
        keys: TextBuilder,
        values: TextBuilder,
        offsets: Vec<i32>,
        validity: NullBufferBuilder,
    },
}

impl ColumnBuilder {
    pub(super) fn new(kind: &Kind) -> ColumnBuilder {
        match kind {
            Kind::Text | Kind::BoolText | Kind::JsonText => {
                ColumnBuilder::Text(TextBuilder::default())
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
                keys: TextBuilder::default(),
                values: TextBuilder::default(),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
            },
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

    pub(super) fn text(&mut self) -> &mut TextBuilder {
        match self {
            ColumnBuilder::Text(b) => b,
            _ => unreachable!("text builder expected for a text kind"),
        }
    }

    /// Bytes its buffers hold, filled or not.
    fn capacity_bytes(&self) -> usize {
        match self {
            ColumnBuilder::Text(b) => b.capacity_bytes(),
            ColumnBuilder::Struct { members, .. } => {
                members.iter().map(ColumnBuilder::capacity_bytes).sum()
            }
            ColumnBuilder::List { item, offsets, .. } => {
                item.capacity_bytes() + offsets.capacity() * 4
            }
            ColumnBuilder::Map {
                keys,
                values,
                offsets,
                ..
            } => keys.capacity_bytes() + values.capacity_bytes() + offsets.capacity() * 4,
        }
    }

    /// The column as an array; the builder is left empty, keeping its buffers.
    fn take(&mut self) -> Result<ArrayRef, DecodeError> {
        Ok(match self {
            ColumnBuilder::Text(b) => Arc::new(b.take()?),
            ColumnBuilder::Struct {
                fields,
                members,
                validity,
            } => {
                let rows = validity.len();
                let children = members
                    .iter_mut()
                    .map(|member| {
                        member.pad_to(rows);
                        member.take()
                    })
                    .collect::<Result<Vec<ArrayRef>, _>>()?;
                Arc::new(StructArray::new(
                    fields.clone(),
                    children,
                    validity.finish(),
                ))
            }
            ColumnBuilder::List {
                item_field,
                item,
                offsets,
                validity,
            } => Arc::new(ListArray::new(
                item_field.clone(),
                take_offsets(offsets),
                item.take()?,
                validity.finish(),
            )),
            ColumnBuilder::Map {
                keys,
                values,
                offsets,
                validity,
            } => {
                let entries_field = schema::map_entries_field();
                let DataType::Struct(entry_fields) = entries_field.data_type().clone() else {
                    unreachable!("map entries are a struct")
                };
                let entries = StructArray::new(
                    entry_fields,
                    vec![Arc::new(keys.take()?), Arc::new(values.take()?)],
                    None,
                );
                Arc::new(MapArray::new(
                    Arc::new(entries_field),
                    take_offsets(offsets),
                    entries,
                    validity.finish(),
                    false,
                ))
            }
        })
    }
}

/// A copy of `offsets`, which are left holding only the first.
fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    let taken = OffsetBuffer::new(ScalarBuffer::from(offsets.clone()));
    offsets.truncate(1);
    taken
}

pub(super) struct BatchBuilder {
    pub(super) columns: Vec<ColumnBuilder>,
    pub(super) extra: TextBuilder,
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
            columns: RECORD.iter().map(|f| ColumnBuilder::new(&f.kind)).collect(),
            extra: TextBuilder::default(),
            extra_text: String::new(),
            last_key_columns: Vec::new(),
            rows: 0,
        }
    }

    /// The column a record's key at position `slot` goes to, if it has one.
    pub(super) fn column_of(&mut self, slot: usize, key: &str) -> Option<usize> {
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

    /// The records appended as a batch; the builder is left empty, keeping its buffers for the
    /// next object.
    pub(super) fn finish(&mut self) -> Result<RecordBatch, DecodeError> {
        let rows = std::mem::take(&mut self.rows);
        let mut arrays = self
            .columns
            .iter_mut()
            .map(|column| {
                column.pad_to(rows);
                column.take()
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        arrays.push(Arc::new(self.extra.take()?));
        let days = schema::day_column(arrays[*EVENT_TIME].as_string::<i32>());
        arrays.push(Arc::new(days));
        RecordBatch::try_new(schema::file_schema(), arrays)
            .map_err(|e| DecodeError::Shape(format!("internal: cannot assemble batch: {e}")))
    }

    /// Bytes its buffers hold, filled or not.
    pub(super) fn capacity_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(ColumnBuilder::capacity_bytes)
            .sum::<usize>()
            + self.extra.capacity_bytes()
            + self.extra_text.capacity()
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
