//! Decoding PostgreSQL rows into owned values, column by column, so the
//! PostgreSQL side of a measurement does the same kind of work as the stockd
//! side (which parses every JSON response into a `serde_json::Value`): every
//! column of every returned row is decoded from the binary wire format into
//! a Rust value (numeric into an exact scaled integer, text into a `String`).

use std::error::Error;

use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

type BoxError = Box<dyn Error + Sync + Send>;

#[derive(Debug, Clone, PartialEq)]
pub enum PgValue {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    /// `mantissa × 10^-scale`.
    Numeric {
        mantissa: i128,
        scale: u16,
    },
    NumericNaN,
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since 2000-01-01 00:00 (UTC for timestamptz).
    Timestamp(i64),
    /// Any other type (or a numeric too large for i128), raw.
    Raw(Vec<u8>),
}

const BOOL: u32 = 16;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const NAME: u32 = 19;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgValue, BoxError> {
        Ok(match ty.oid() {
            BOOL => PgValue::Bool(raw.first().copied().unwrap_or(0) != 0),
            INT2 => PgValue::I16(i16::from_be_bytes(be(raw)?)),
            INT4 => PgValue::I32(i32::from_be_bytes(be(raw)?)),
            INT8 => PgValue::I64(i64::from_be_bytes(be(raw)?)),
            FLOAT4 => PgValue::F32(f32::from_be_bytes(be(raw)?)),
            FLOAT8 => PgValue::F64(f64::from_be_bytes(be(raw)?)),
            TEXT | VARCHAR | BPCHAR | NAME => PgValue::Text(std::str::from_utf8(raw)?.to_owned()),
            DATE => PgValue::Date(i32::from_be_bytes(be(raw)?)),
            TIMESTAMP | TIMESTAMPTZ => PgValue::Timestamp(i64::from_be_bytes(be(raw)?)),
            NUMERIC => decode_numeric(raw)?,
            _ => PgValue::Raw(raw.to_vec()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<PgValue, BoxError> {
        Ok(PgValue::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Binary numeric: ndigits, weight, sign, dscale, then base-10000 digits.
fn decode_numeric(raw: &[u8]) -> Result<PgValue, BoxError> {
    if raw.len() < 8 {
        return Err("short numeric".into());
    }
    let w = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
    let ndigits = w(0) as usize;
    let weight = w(2) as i32;
    let sign = u16::from_be_bytes([raw[4], raw[5]]);
    let dscale = u16::from_be_bytes([raw[6], raw[7]]);
    if sign == 0xC000 {
        return Ok(PgValue::NumericNaN);
    }
    if raw.len() < 8 + 2 * ndigits {
        return Err("short numeric digits".into());
    }
    let mut m: i128 = 0;
    for i in 0..ndigits {
        let d = w(8 + 2 * i) as i128;
        m = match m.checked_mul(10_000).and_then(|x| x.checked_add(d)) {
            Some(x) => x,
            None => return Ok(PgValue::Raw(raw.to_vec())),
        };
    }
    // value = m × 10000^(weight − ndigits + 1); scaled by 10^dscale.
    let exp10 = 4 * (weight - ndigits as i32 + 1) + dscale as i32;
    if exp10 >= 0 {
        for _ in 0..exp10 {
            m = match m.checked_mul(10) {
                Some(x) => x,
                None => return Ok(PgValue::Raw(raw.to_vec())),
            };
        }
    } else {
        for _ in 0..(-exp10) {
            m /= 10;
        }
    }
    if sign == 0x4000 {
        m = -m;
    }
    Ok(PgValue::Numeric {
        mantissa: m,
        scale: dscale,
    })
}

/// A `date` parameter as days since 2000-01-01 (no chrono needed).
#[derive(Debug, Clone, Copy)]
pub struct PgDate(pub i32);

impl ToSql for PgDate {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Decodes every column of `row`, appending to `out`.
pub fn decode_row(
    row: &tokio_postgres::Row,
    out: &mut Vec<PgValue>,
) -> Result<(), tokio_postgres::Error> {
    for i in 0..row.len() {
        out.push(row.try_get::<_, PgValue>(i)?);
    }
    Ok(())
}
