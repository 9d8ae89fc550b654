//! Writes store values straight into JSON text, exactly as PostgreSQL holds
//! them: floats in their shortest round-trip form (bit-exact when parsed back
//! at the same width), numeric with its declared scale, dates as
//! `YYYY-MM-DD`, timestamps as ISO 8601, NULL as `null`. Values JSON cannot
//! hold as numbers (NaN, ±Infinity) are written as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"`.

use super::column::{Column, ColumnData};
use super::{numeric, time};

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(v));
    } else {
        out.push_str(non_finite(v.is_nan(), v > 0.0));
    }
}

fn write_f32(out: &mut String, v: f32) {
    if v.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(v));
    } else {
        out.push_str(non_finite(v.is_nan(), v > 0.0));
    }
}

fn non_finite(nan: bool, positive: bool) -> &'static str {
    match (nan, positive) {
        (true, _) => "\"NaN\"",
        (false, true) => "\"Infinity\"",
        (false, false) => "\"-Infinity\"",
    }
}

/// Appends the value of `row` in `col` as JSON.
pub fn write_value(out: &mut String, col: &Column, row: usize) {
    if col.is_null(row) {
        out.push_str("null");
        return;
    }
    let mut ib = itoa::Buffer::new();
    match &col.data {
        ColumnData::Int2(v) | ColumnData::Int4(v) | ColumnData::Int8(v) => {
            out.push_str(ib.format(v.get(row)))
        }
        ColumnData::Float4(v) => write_f32(out, v.f32(row)),
        ColumnData::Float8(_) | ColumnData::DecimalF64 { .. } => {
            write_f64(out, col.data.f64_at(row))
        }
        ColumnData::Decimal { scale, values } => match values.get(row) {
            Some(m) => numeric::write_scaled(out, m, *scale),
            None => out.push_str("\"NaN\""),
        },
        ColumnData::DecimalText(a) => {
            let s = a.get(row);
            if s.as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_digit() || *c == b'-')
                && s != "-Infinity"
            {
                out.push_str(s);
            } else {
                write_str(out, s);
            }
        }
        ColumnData::Bool(b) => out.push_str(if b.get(row) { "true" } else { "false" }),
        ColumnData::Date(v) => {
            out.push('"');
            time::write_date(out, v.get(row) as i32);
            out.push('"');
        }
        ColumnData::Timestamp(v) => {
            out.push('"');
            time::write_timestamp(out, v.get(row), false);
            out.push('"');
        }
        ColumnData::TimestampTz(v) => {
            out.push('"');
            time::write_timestamp(out, v.get(row), true);
            out.push('"');
        }
        ColumnData::Text { dict, codes } => write_str(out, dict.get(codes.get(row) as usize)),
    }
}

/// The value as f64 for ranking and statistics (`None` for NULL, NaN and
/// non-numeric columns). Exact for every integer up to 2^53 and every
/// float; decimals are converted from their exact mantissa.
#[inline]
pub fn value_f64(col: &Column, row: usize) -> Option<f64> {
    if col.is_null(row) {
        return None;
    }
    let v = match &col.data {
        ColumnData::Int2(v) | ColumnData::Int4(v) | ColumnData::Int8(v) => v.get(row) as f64,
        ColumnData::Float4(v) => v.f32(row) as f64,
        ColumnData::Float8(_) | ColumnData::DecimalF64 { .. } => col.data.f64_at(row),
        ColumnData::Decimal { scale, values } => {
            values.get(row)? as f64 / 10f64.powi(*scale as i32)
        }
        ColumnData::DecimalText(a) => a.get(row).parse().ok()?,
        _ => return None,
    };
    (!v.is_nan()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::column::{Bitmap, Decimals};

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}银行");
        assert_eq!(s, r#""a\"b\\c\nd\u0001银行""#);
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}银行");
    }

    #[test]
    fn floats_round_trip_bit_exact() {
        let vals = [0.1f32, -3.4028235e38, 1.0e-45, 123.456, -0.0];
        let col = Column {
            data: ColumnData::Float4(crate::store::column::Reals::new(&vals)),
            nulls: None,
        };
        for (i, v) in vals.iter().enumerate() {
            let mut s = String::new();
            write_value(&mut s, &col, i);
            let back: f32 = s.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{s}");
        }
        let mut s = String::new();
        write_f64(&mut s, f64::NEG_INFINITY);
        assert_eq!(s, "\"-Infinity\"");
    }

    #[test]
    fn decimals_keep_scale_and_nulls_are_null() {
        let mut nulls = Bitmap::default();
        nulls.push(false);
        nulls.push(true);
        nulls.push(false);
        let col = Column {
            data: ColumnData::Decimal {
                scale: 2,
                values: Decimals::Packed(crate::store::packed::Packed::new(&[1230, 0, i64::MIN])),
            },
            nulls: Some(nulls),
        };
        let out: Vec<String> = (0..3)
            .map(|r| {
                let mut s = String::new();
                write_value(&mut s, &col, r);
                s
            })
            .collect();
        assert_eq!(out, ["12.30", "null", "\"NaN\""]);
        assert_eq!(value_f64(&col, 0), Some(12.3));
        assert_eq!(value_f64(&col, 2), None);
    }
}
