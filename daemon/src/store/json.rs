//! Writes store values straight into JSON text, exactly as PostgreSQL holds
//! them: floats in their shortest round-trip form (bit-exact when parsed back
//! at the same width), numeric with its declared scale, dates as
//! `YYYY-MM-DD`, timestamps as ISO 8601, NULL as `null`. Values JSON cannot
//! hold as numbers (NaN, ±Infinity) are written as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"`.

use super::column::{decimal_exp, decimal_f64, Column, ColumnData};
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

/// A float in its shortest round-trip form, by zmij (Schubfach): the same
/// text as ryu's in the range written without an exponent (ryu writes
/// `1e16` and `1e-7` where zmij writes `1e+16` and `1e-07`), measured at
/// 23 against 39–58 ns a value on random doubles below 100.
fn write_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(v));
    } else {
        out.push_str(non_finite(v.is_nan(), v > 0.0));
    }
}

/// How zmij writes a float without an exponent: as `digits.0` while the
/// value has at most `int_max` integer digits, as `0.000digits` while it
/// has at most `zeros_max` zeros after the point (zmij's `FIXED_DEC_EXP`,
/// the same as ryu's `format64` and `format32`: 16 and 4 for f64, 13 and
/// 5 for f32).
struct Plain {
    /// DBL_DIG / FLT_DIG: a decimal of at most this many significant
    /// digits is the only one of at most that many that reads back as its
    /// float, so it is also the shortest form zmij writes.
    max_digits: usize,
    int_max: i32,
    zeros_max: i32,
}

const PLAIN_F64: Plain = Plain {
    max_digits: 15,
    int_max: 16,
    zeros_max: 4,
};
const PLAIN_F32: Plain = Plain {
    max_digits: 6,
    int_max: 13,
    zeros_max: 5,
};

/// Writes the float `m / 10^e` (the store holds it as that decimal, checked
/// bit for bit at load) from its digits, exactly as [`write_f64`] /
/// [`write_f32`] would through zmij, without converting it to a float and
/// searching for its shortest form. Returns `false`, writing nothing, when
/// it cannot be sure of zmij's text: more than `max_digits` significant
/// digits, or a magnitude zmij writes with an exponent.
fn write_decimal(out: &mut String, m: i64, mut e: u32, p: &Plain) -> bool {
    if m == 0 {
        // The decimal 0 is +0.0 (a -0.0 is never held as a decimal).
        out.push_str("0.0");
        return true;
    }
    let mut u = m.unsigned_abs();
    while e > 0 && u.is_multiple_of(10) {
        u /= 10;
        e -= 1;
    }
    let mut ib = itoa::Buffer::new();
    let digits = ib.format(u);
    let len = digits.len();
    if len > p.max_digits {
        return false;
    }
    // The value is digits × 10^-e, with 10^(kk-1) <= |value| < 10^kk.
    let kk = len as i32 - e as i32;
    let plain = if kk > 0 {
        kk <= p.int_max
    } else {
        -kk <= p.zeros_max
    };
    if !plain {
        return false;
    }
    if m < 0 {
        out.push('-');
    }
    if e == 0 {
        out.push_str(digits);
        out.push_str(".0");
    } else if kk > 0 {
        out.push_str(&digits[..kk as usize]);
        out.push('.');
        out.push_str(&digits[kk as usize..]);
    } else {
        out.push_str("0.");
        for _ in 0..-kk {
            out.push('0');
        }
        out.push_str(digits);
    }
    true
}

fn write_f32(out: &mut String, v: f32) {
    if v.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(v));
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
        ColumnData::Float4(v) => match v.exp {
            Some(e) if write_decimal(out, v.values.get(row), e as u32, &PLAIN_F32) => {}
            _ => write_f32(out, v.f32(row)),
        },
        ColumnData::DecimalF64 { den, values } => {
            let m = values.get(row).unwrap_or(0);
            match (decimal_exp(*den), i64::try_from(m)) {
                (Some(e), Ok(m)) if write_decimal(out, m, e as u32, &PLAIN_F64) => {}
                _ => write_f64(out, decimal_f64(m, *den)),
            }
        }
        ColumnData::Float8(_) => write_f64(out, col.data.f64_at(row)),
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

    /// `write_decimal` of `m / 10^e` against zmij's text of the float the
    /// store would hold for it: equal whenever it writes; how often it did.
    fn decimals_agree_with_zmij(f64s: bool, cases: &mut dyn Iterator<Item = (i64, u32)>) -> usize {
        let mut wrote = 0;
        for (m, e) in cases {
            let mut fast = String::new();
            let zmij_text = if f64s {
                let x = m as f64 / 10f64.powi(e as i32);
                if !write_decimal(&mut fast, m, e, &PLAIN_F64) {
                    continue;
                }
                let mut t = String::new();
                write_f64(&mut t, x);
                t
            } else {
                let x = m as f32 / 10f32.powi(e as i32);
                if !write_decimal(&mut fast, m, e, &PLAIN_F32) {
                    continue;
                }
                let mut t = String::new();
                write_f32(&mut t, x);
                t
            };
            assert_eq!(fast, zmij_text, "m = {m}, e = {e}, f64 = {f64s}");
            wrote += 1;
        }
        wrote
    }

    #[test]
    fn decimals_are_written_as_zmij_writes_their_floats() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // SplitMix64.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        // Random mantissas of every length up to 2^53 (f64) / 2^24 (f32),
        // every exponent a store can hold, both signs, trailing zeros.
        let mut cases = Vec::new();
        for digits in 1..=16u32 {
            for _ in 0..4_000 {
                let top = 10u64.pow(digits).min(1 << 53);
                let mut m = (next() % top) as i64;
                if next() % 4 == 0 {
                    m -= m % 1000;
                }
                if next() % 2 == 0 {
                    m = -m;
                }
                cases.push((m, (next() % 10) as u32));
            }
        }
        let edges = [
            0,
            1,
            -1,
            9,
            10,
            99_999,
            100_000,
            999_999,
            1 << 24,
            (1 << 53) - 1,
            1 << 53,
        ];
        for m in edges {
            for e in 0..10 {
                cases.push((m, e));
                cases.push((-m, e));
            }
        }
        let n = cases.len();
        let wrote = decimals_agree_with_zmij(true, &mut cases.iter().copied());
        assert!(wrote > n / 2, "the fast path wrote {wrote} of {n} doubles");
        let reals: Vec<(i64, u32)> = cases
            .iter()
            .filter(|(m, _)| m.unsigned_abs() <= 1 << 24)
            .copied()
            .collect();
        let wrote = decimals_agree_with_zmij(false, &mut reals.iter().copied());
        assert!(
            wrote > reals.len() / 4,
            "the fast path wrote {wrote} of {} reals",
            reals.len()
        );
        // What zmij writes with an exponent is left to zmij.
        assert!(!write_decimal(&mut String::new(), 5, 9, &PLAIN_F64));
        assert!(!write_decimal(
            &mut String::new(),
            1234567890123456,
            0,
            &PLAIN_F64
        ));
    }

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
