//! PostgreSQL binary COPY framing and the binary "send" format of each type
//! the reference layout uses, written exactly as the server writes them (so
//! `COPY … TO STDOUT (FORMAT binary)` of the loaded table reproduces our
//! bytes).

use bytes::{BufMut, BytesMut};

/// Signature, flags (i32 0: no OIDs), header extension length (i32 0).
pub(crate) const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A field count of -1 ends the data.
pub(crate) const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// `numeric` sign words.
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

pub(crate) fn put_null(buf: &mut BytesMut) {
    buf.put_i32(-1);
}

pub(crate) fn put_i16(buf: &mut BytesMut, v: i16) {
    buf.put_i32(2);
    buf.put_i16(v);
}

pub(crate) fn put_i32(buf: &mut BytesMut, v: i32) {
    buf.put_i32(4);
    buf.put_i32(v);
}

pub(crate) fn put_i64(buf: &mut BytesMut, v: i64) {
    buf.put_i32(8);
    buf.put_i64(v);
}

pub(crate) fn put_f32(buf: &mut BytesMut, v: f32) {
    buf.put_i32(4);
    buf.put_u32(v.to_bits());
}

pub(crate) fn put_f64(buf: &mut BytesMut, v: f64) {
    buf.put_i32(8);
    buf.put_u64(v.to_bits());
}

pub(crate) fn put_bool(buf: &mut BytesMut, v: bool) {
    buf.put_i32(1);
    buf.put_u8(v as u8);
}

/// `date`: days since 2000-01-01.
pub(crate) fn put_date(buf: &mut BytesMut, pg_days: i32) {
    put_i32(buf, pg_days);
}

/// `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
pub(crate) fn put_timestamptz(buf: &mut BytesMut, pg_micros: i64) {
    put_i64(buf, pg_micros);
}

/// `text`/`varchar`: the UTF-8 bytes, no terminator.
pub(crate) fn put_text(buf: &mut BytesMut, s: &str) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s.as_bytes());
}

/// `numeric` of the exact decimal `mantissa × 10^-scale`, with display scale
/// `scale` (what a `numeric(p, scale)` column stores).
pub(crate) fn put_numeric(buf: &mut BytesMut, mantissa: i128, scale: u16) {
    let n = NumericDigits::new(mantissa, scale);
    let digits = n.digits();
    buf.put_i32(8 + 2 * digits.len() as i32);
    buf.put_i16(digits.len() as i16);
    buf.put_i16(n.weight);
    buf.put_u16(n.sign);
    buf.put_u16(scale);
    for d in digits {
        buf.put_i16(*d);
    }
}

/// A decimal split into PostgreSQL's base-10000 digit groups.
///
/// The groups are aligned on the decimal point (the fraction is padded on
/// the right to a multiple of four decimal digits), most significant first,
/// with no leading or trailing zero groups: the canonical form
/// `numeric_send` emits. Zero has no groups and weight 0.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NumericDigits {
    /// Power of 10000 of the first group.
    pub weight: i16,
    pub sign: u16,
    groups: [i16; 12],
    len: usize,
}

impl NumericDigits {
    pub fn new(mantissa: i128, scale: u16) -> NumericDigits {
        let sign = if mantissa < 0 {
            NUMERIC_NEG
        } else {
            NUMERIC_POS
        };
        // Right-pad the fraction so the point falls on a group boundary.
        let pad = (4 - scale % 4) % 4;
        let frac_groups = ((scale + pad) / 4) as i32;
        // Padding multiplies by at most 1000: only mantissas beyond 10^35
        // (no column of the reference layout comes near) could overflow.
        let mut v = mantissa
            .unsigned_abs()
            .checked_mul(10u128.pow(pad as u32))
            .expect("numeric mantissa out of range");
        // Least significant group first while converting.
        let mut rev = [0i16; 12];
        let mut n = 0;
        while v > 0 {
            rev[n] = (v % 10_000) as i16;
            v /= 10_000;
            n += 1;
        }
        if n == 0 {
            return NumericDigits {
                weight: 0,
                sign: NUMERIC_POS,
                groups: [0; 12],
                len: 0,
            };
        }
        let weight = (n as i32 - 1 - frac_groups) as i16;
        // Trailing zero groups (the least significant ones) are dropped;
        // the conversion above never yields leading zero groups.
        let skip = rev[..n].iter().take_while(|g| **g == 0).count();
        let mut groups = [0i16; 12];
        for (i, g) in rev[skip..n].iter().rev().enumerate() {
            groups[i] = *g;
        }
        NumericDigits {
            weight,
            sign,
            groups,
            len: n - skip,
        }
    }

    pub fn digits(&self) -> &[i16] {
        &self.groups[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(ndigits, weight, sign, dscale, digits)` as decoded from our bytes.
    fn encode(mantissa: i128, scale: u16) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut buf = BytesMut::new();
        put_numeric(&mut buf, mantissa, scale);
        let b = &buf[..];
        let len = i32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, b.len() - 4, "length prefix");
        let h = |i: usize| [b[4 + i], b[5 + i]];
        let nd = i16::from_be_bytes(h(0));
        let digits = (0..nd as usize)
            .map(|i| i16::from_be_bytes(h(8 + 2 * i)))
            .collect();
        (
            nd,
            i16::from_be_bytes(h(2)),
            u16::from_be_bytes(h(4)),
            u16::from_be_bytes(h(6)),
            digits,
        )
    }

    #[test]
    fn numeric_encoding_cases() {
        // 12.30 → [12, 3000], weight 0, dscale 2.
        assert_eq!(encode(1230, 2), (2, 0, 0x0000, 2, vec![12, 3000]));
        // Zero: no digits, weight 0, positive, dscale kept.
        assert_eq!(encode(0, 2), (0, 0, 0x0000, 2, vec![]));
        // Negative: sign word 0x4000, digits of the magnitude.
        assert_eq!(encode(-1230, 2), (2, 0, 0x4000, 2, vec![12, 3000]));
        // 0.05: only a fraction group, weight -1.
        assert_eq!(encode(5, 2), (1, -1, 0x0000, 2, vec![500]));
        // -0.01
        assert_eq!(encode(-1, 2), (1, -1, 0x4000, 2, vec![100]));
        // 10000.00: trailing zero groups dropped, weight 1.
        assert_eq!(encode(1_000_000, 2), (1, 1, 0x0000, 2, vec![1]));
        // 100000000.00 → [1], weight 2.
        assert_eq!(encode(10_000_000_000, 2), (1, 2, 0x0000, 2, vec![1]));
        // 99999999.99 (numeric(10,2)'s largest) → [9999, 9999, 9900].
        assert_eq!(
            encode(9_999_999_999, 2),
            (3, 1, 0x0000, 2, vec![9999, 9999, 9900])
        );
        // 0.00001 (scale 5): weight -2, group 1000.
        assert_eq!(encode(1, 5), (1, -2, 0x0000, 5, vec![1000]));
        // 1.0001 (scale 4): [1, 1].
        assert_eq!(encode(10_001, 4), (2, 0, 0x0000, 4, vec![1, 1]));
        // Integers (scale 0): 123456789 → [1, 2345, 6789], weight 2.
        assert_eq!(
            encode(123_456_789, 0),
            (3, 2, 0x0000, 0, vec![1, 2345, 6789])
        );
        // Interior zero groups stay: 10000.0001 → [1, 0, 1].
        assert_eq!(encode(100_000_001, 4), (3, 1, 0x0000, 4, vec![1, 0, 1]));
    }

    #[test]
    fn numeric_large_amount() {
        // 123456789012345678.90 → 12|3456|7890|1234|5678 . 9000
        assert_eq!(
            encode(12_345_678_901_234_567_890, 2),
            (6, 4, 0x0000, 2, vec![12, 3456, 7890, 1234, 5678, 9000])
        );
    }

    #[test]
    fn fixed_width_fields() {
        let mut buf = BytesMut::new();
        put_i16(&mut buf, -2);
        put_i32(&mut buf, 7);
        put_i64(&mut buf, 1);
        put_f32(&mut buf, 1.5);
        put_f64(&mut buf, -0.25);
        put_bool(&mut buf, true);
        put_null(&mut buf);
        put_text(&mut buf, "银行");
        assert_eq!(
            &buf[..],
            &[
                0, 0, 0, 2, 0xff, 0xfe, // int2 -2
                0, 0, 0, 4, 0, 0, 0, 7, // int4 7
                0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, // int8 1
                0, 0, 0, 4, 0x3f, 0xc0, 0, 0, // float4 1.5
                0, 0, 0, 8, 0xbf, 0xd0, 0, 0, 0, 0, 0, 0, // float8 -0.25
                0, 0, 0, 1, 1, // bool true
                0xff, 0xff, 0xff, 0xff, // NULL
                0, 0, 0, 6, 0xe9, 0x93, 0xb6, 0xe8, 0xa1, 0x8c, // "银行"
            ][..]
        );
        assert_eq!(HEADER.len(), 19);
        assert_eq!(&HEADER[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(TRAILER, [0xff, 0xff]);
    }
}
