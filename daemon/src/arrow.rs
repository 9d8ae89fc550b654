//! Arrow answers (`Accept: application/vnd.apache.arrow.stream`): a list of
//! store rows written as one Arrow IPC stream (schema, one record batch,
//! end-of-stream), with arrow-rs's own array builders and stream writer.
//!
//! Free of JSON-RPC: [`crate::handlers::arrow`] decides which rows (through
//! the JSON method itself) and what else goes in; this module turns store
//! columns into Arrow columns with exact types:
//!
//! | store column                    | Arrow type                          |
//! |---------------------------------|-------------------------------------|
//! | `smallint`/`integer`/`bigint`   | int16 / int32 / int64               |
//! | `real` / `double precision`     | float32 / float64 (bit for bit: NaN, ±Infinity, -0.0 kept) |
//! | `numeric(p,s)`, p ≤ 38          | decimal128(max(p,s), s)             |
//! | `numeric`, `numeric(p,s)` p > 38 | utf8, the exact decimal text       |
//! | `boolean`                       | boolean                             |
//! | `date`                          | date32                              |
//! | `timestamp`                     | timestamp(µs)                       |
//! | `timestamptz`                   | timestamp(µs, "UTC")                |
//! | `text`/`varchar`/`char`         | dictionary(int32, utf8)             |
//!
//! NULL is an Arrow null. A value the exact Arrow type cannot hold — `NaN`
//! in a `numeric(p,s)` column, `infinity`/`-infinity` in a date or
//! timestamp column, a date or timestamp beyond the Arrow type's range —
//! makes that column of that answer a utf8 column of the exact text the
//! JSON answer writes (`NaN`, `12.30`, `infinity`, `2024-01-02`), and its
//! field's metadata says so (`stockd.text`): nothing is rounded, dropped
//! or turned into a null. Every field of a store column carries its
//! PostgreSQL type in `stockd.pg_type`.
//!
//! The one place values are read from the store is [`store_column`] (one
//! `match` on [`ColumnData`]).

use crate::store::column::ColumnData;
use crate::store::schema::ColumnKind;
use crate::store::{numeric, time, Store};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, NullArray, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use std::collections::HashMap;
use std::sync::Arc;

/// The media type of an Arrow IPC stream (what the client puts in
/// `Accept` and gets back in `Content-Type`).
pub const CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";

/// Field metadata: the column's PostgreSQL type (`numeric(10,2)`, `real`).
pub const META_PG_TYPE: &str = "stockd.pg_type";
/// Field metadata on a column served as text instead of its exact type:
/// why (e.g. `NaN in numeric(10,2)`).
pub const META_TEXT: &str = "stockd.text";
/// Field metadata: the table column a view's semantic column reads.
pub const META_COLUMN: &str = "stockd.column";
/// Field metadata on an all-null column whose table column does not exist.
pub const META_MISSING: &str = "stockd.missing";

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One answer's columns, added left to right, all of `rows` values.
pub struct Table {
    rows: usize,
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Table {
    pub fn new(rows: usize) -> Table {
        Table {
            rows,
            fields: Vec::new(),
            arrays: Vec::new(),
        }
    }

    /// The names taken so far.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name().as_str())
    }

    fn push(&mut self, field: Field, array: ArrayRef) {
        debug_assert_eq!(array.len(), self.rows, "column {}", field.name());
        self.fields.push(field);
        self.arrays.push(array);
    }

    /// A plain utf8 column (the row key `code`).
    pub fn push_strings<'a>(&mut self, name: &str, values: impl Iterator<Item = &'a str>) {
        let a = StringArray::from_iter_values(values);
        self.push(Field::new(name, DataType::Utf8, false), Arc::new(a));
    }

    /// A dictionary-encoded utf8 column of a few distinct strings
    /// (`industry`, `side`).
    pub fn push_labels<'a>(&mut self, name: &str, values: impl Iterator<Item = &'a str>) {
        let mut dict: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, i32> = HashMap::new();
        let keys = Int32Array::from_iter_values(values.map(|s| {
            *index.entry(s).or_insert_with(|| {
                dict.push(s);
                dict.len() as i32 - 1
            })
        }));
        let (field, array) = dictionary(name, false, keys, dict);
        self.push(field, array);
    }

    /// An int32 column (ranks).
    pub fn push_i32(&mut self, name: &str, values: impl Iterator<Item = i32>) {
        let a = Int32Array::from_iter_values(values);
        self.push(Field::new(name, DataType::Int32, false), Arc::new(a));
    }

    /// A date column of PostgreSQL days (the row key `date`).
    pub fn push_dates(&mut self, name: &str, days: impl Iterator<Item = i32>) {
        let days: Vec<Option<i32>> = days.map(Some).collect();
        let (dt, array, text) = date_array(&days);
        let mut field = Field::new(name, dt, false);
        if let Some(why) = text {
            field.set_metadata(HashMap::from([(META_TEXT.to_string(), why)]));
        }
        self.push(field, array);
    }

    /// Column `col` of `store` at `rows`, named `name`, with `meta` added
    /// to its field's metadata.
    pub fn push_store_column(
        &mut self,
        name: &str,
        store: &Store,
        col: usize,
        rows: &[usize],
        mut meta: HashMap<String, String>,
    ) {
        let spec = &store.specs()[col];
        let (dt, array, text) = store_column(store, col, rows);
        meta.insert(META_PG_TYPE.into(), spec.pg_type.clone());
        if let Some(why) = text {
            meta.insert(META_TEXT.into(), why);
        }
        let field = Field::new(name, dt, true).with_metadata(meta);
        self.push(field, array);
    }

    /// An all-null column (a semantic column the table does not have).
    pub fn push_missing(&mut self, name: &str, column: &str) {
        let field = Field::new(name, DataType::Null, true).with_metadata(HashMap::from([(
            META_MISSING.to_string(),
            column.to_string(),
        )]));
        self.push(field, Arc::new(NullArray::new(self.rows)));
    }

    /// The IPC stream: the schema (with `meta`), one record batch, the
    /// end-of-stream marker.
    pub fn into_stream(self, meta: HashMap<String, String>) -> Result<Vec<u8>, ArrowError> {
        let schema = Arc::new(Schema::new_with_metadata(self.fields, meta));
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let batch = RecordBatch::try_new_with_options(schema.clone(), self.arrays, &opts)?;
        let size: usize = batch
            .columns()
            .iter()
            .map(|a| a.get_buffer_memory_size())
            .sum();
        let mut w =
            arrow_ipc::writer::StreamWriter::try_new(Vec::with_capacity(size + 4096), &schema)?;
        w.write(&batch)?;
        w.finish()?;
        w.into_inner()
    }
}

/// A name not in `taken`: `base`, else `_base`, `__base`, …
pub fn free_name(base: &str, taken: &[&str]) -> String {
    let mut name = base.to_string();
    while taken.contains(&name.as_str()) {
        name.insert(0, '_');
    }
    name
}

fn dictionary(name: &str, nullable: bool, keys: Int32Array, dict: Vec<&str>) -> (Field, ArrayRef) {
    let values: ArrayRef = Arc::new(StringArray::from(dict));
    let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    // The keys index `dict` by construction.
    let array = DictionaryArray::<Int32Type>::new(keys, values);
    (Field::new(name, dt, nullable), Arc::new(array))
}

/// Utf8 text of each value (`None` = NULL), written by `write`.
fn texts(
    values: impl Iterator<Item = Option<usize>>,
    write: impl Fn(usize, &mut String),
) -> ArrayRef {
    let mut buf = String::new();
    let a: StringArray = values
        .map(|v| {
            v.map(|i| {
                buf.clear();
                write(i, &mut buf);
                buf.clone()
            })
        })
        .collect();
    Arc::new(a)
}

/// Date32 of PostgreSQL days; the exact text if a value is ±infinity or
/// out of date32's range.
fn date_array(days: &[Option<i32>]) -> (DataType, ArrayRef, Option<String>) {
    let shifted: Option<Vec<Option<i32>>> = days
        .iter()
        .map(|d| match d {
            None => Some(None),
            Some(i32::MIN | i32::MAX) => None,
            Some(d) => d.checked_add(PG_EPOCH_DAYS).map(Some),
        })
        .collect();
    match shifted {
        Some(v) => (DataType::Date32, Arc::new(Date32Array::from(v)), None),
        None => (
            DataType::Utf8,
            texts(
                days.iter().enumerate().map(|(i, d)| d.map(|_| i)),
                |i, out| time::write_date(out, days[i].unwrap_or_default()),
            ),
            Some("a date date32 cannot hold (infinity, -infinity or out of range)".into()),
        ),
    }
}

/// Timestamp(µs) of PostgreSQL microseconds; the exact text if a value is
/// ±infinity or out of range.
fn timestamp_array(micros: &[Option<i64>], utc: bool) -> (DataType, ArrayRef, Option<String>) {
    let shifted: Option<Vec<Option<i64>>> = micros
        .iter()
        .map(|m| match m {
            None => Some(None),
            Some(i64::MIN | i64::MAX) => None,
            Some(m) => m.checked_add(PG_EPOCH_MICROS).map(Some),
        })
        .collect();
    let tz: Option<Arc<str>> = utc.then(|| Arc::from("UTC"));
    match shifted {
        Some(v) => {
            let a = TimestampMicrosecondArray::from(v).with_timezone_opt(tz.clone());
            (
                DataType::Timestamp(TimeUnit::Microsecond, tz),
                Arc::new(a),
                None,
            )
        }
        None => (
            DataType::Utf8,
            texts(
                micros.iter().enumerate().map(|(i, m)| m.map(|_| i)),
                |i, out| time::write_timestamp(out, micros[i].unwrap_or_default(), utc),
            ),
            Some(
                "a timestamp timestamp(µs) cannot hold (infinity, -infinity or out of range)"
                    .into(),
            ),
        ),
    }
}

/// The Arrow type and values of store column `col` at `rows`, and, when
/// the column is served as text instead of its exact type, why. The only
/// function that reads store values.
pub fn store_column(
    store: &Store,
    col: usize,
    rows: &[usize],
) -> (DataType, ArrayRef, Option<String>) {
    let column = &store.columns()[col];
    let spec = &store.specs()[col];
    let some = |r: usize| !column.is_null(r);
    match &column.data {
        ColumnData::Int2(v) => (
            DataType::Int16,
            Arc::new(Int16Array::from_iter(
                rows.iter().map(|&r| some(r).then(|| v.get(r) as i16)),
            )),
            None,
        ),
        ColumnData::Int4(v) => (
            DataType::Int32,
            Arc::new(Int32Array::from_iter(
                rows.iter().map(|&r| some(r).then(|| v.get(r) as i32)),
            )),
            None,
        ),
        ColumnData::Int8(v) => (
            DataType::Int64,
            Arc::new(Int64Array::from_iter(
                rows.iter().map(|&r| some(r).then(|| v.get(r))),
            )),
            None,
        ),
        ColumnData::Float4(v) => (
            DataType::Float32,
            Arc::new(Float32Array::from_iter(
                rows.iter().map(|&r| some(r).then(|| v.f32(r))),
            )),
            None,
        ),
        // As the JSON writer reads them.
        ColumnData::Float8(_) | ColumnData::DecimalF64 { .. } => (
            DataType::Float64,
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|&r| some(r).then(|| column.data.f64_at(r))),
            )),
            None,
        ),
        ColumnData::Decimal { scale, values } => {
            let mantissas: Vec<Option<Option<i128>>> = rows
                .iter()
                .map(|&r| some(r).then(|| values.get(r)))
                .collect();
            let precision = match spec.kind {
                ColumnKind::Numeric {
                    precision: Some(p), ..
                } => p,
                _ => 38,
            };
            // numeric(p,s) with s > p (PostgreSQL 15+) holds values below
            // 10^(p-s): decimal128(s,s) holds them exactly.
            let precision = precision.max(*scale).max(1);
            let nan = mantissas.iter().any(|m| matches!(m, Some(None)));
            let fits = precision <= 38;
            if !nan && fits {
                let a = Decimal128Array::from_iter(mantissas.into_iter().map(Option::flatten))
                    .with_precision_and_scale(precision as u8, *scale as i8);
                if let Ok(a) = a {
                    return (a.data_type().clone(), Arc::new(a), None);
                }
            }
            let why = if nan {
                format!("NaN in {}", spec.pg_type)
            } else {
                format!("{} is wider than decimal128", spec.pg_type)
            };
            let scale = *scale;
            (
                DataType::Utf8,
                texts(
                    rows.iter().map(|&r| some(r).then_some(r)),
                    |r, out| match values.get(r) {
                        Some(m) => numeric::write_scaled(out, m, scale),
                        None => out.push_str("NaN"),
                    },
                ),
                Some(why),
            )
        }
        ColumnData::DecimalText(a) => (
            DataType::Utf8,
            Arc::new(StringArray::from_iter(
                rows.iter().map(|&r| some(r).then(|| a.get(r))),
            )),
            Some(format!(
                "{} has no fixed precision and scale ≤ 38: exact decimal text",
                spec.pg_type
            )),
        ),
        ColumnData::Bool(b) => (
            DataType::Boolean,
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|&r| some(r).then(|| b.get(r))),
            )),
            None,
        ),
        ColumnData::Date(v) => {
            let days: Vec<Option<i32>> = rows
                .iter()
                .map(|&r| some(r).then(|| v.get(r) as i32))
                .collect();
            date_array(&days)
        }
        ColumnData::Timestamp(v) | ColumnData::TimestampTz(v) => {
            let utc = matches!(column.data, ColumnData::TimestampTz(_));
            let micros: Vec<Option<i64>> =
                rows.iter().map(|&r| some(r).then(|| v.get(r))).collect();
            timestamp_array(&micros, utc)
        }
        ColumnData::Text { dict, codes } => {
            // Only the strings of these rows, in order of first use.
            let mut used: Vec<&str> = Vec::new();
            let mut index: HashMap<u32, i32> = HashMap::new();
            let keys: Int32Array = rows
                .iter()
                .map(|&r| {
                    some(r).then(|| {
                        let code = codes.get(r);
                        *index.entry(code).or_insert_with(|| {
                            used.push(dict.get(code as usize));
                            used.len() as i32 - 1
                        })
                    })
                })
                .collect();
            let (field, array) = dictionary("", true, keys, used);
            (field.data_type().clone(), array, None)
        }
    }
}
