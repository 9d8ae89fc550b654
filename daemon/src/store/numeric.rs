//! PostgreSQL `numeric` in its binary form, decoded exactly: base-10000
//! digit groups, never through f64.

use super::decode::DecodeError;
use std::fmt;

const POS: u16 = 0x0000;
const NEG: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// Most base-10000 groups we accept in one value (PostgreSQL's own limit is
/// 131072 digits before the point and 16383 after: about 36,864 groups).
const MAX_GROUPS: usize = 40_000;

/// A decoded numeric: `digits` are base-10000 groups, the first worth
/// 10000^weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgNumeric {
    sign: u16,
    weight: i16,
    dscale: u16,
    digits: Vec<u16>,
}

impl PgNumeric {
    pub fn parse(raw: &[u8]) -> Result<PgNumeric, DecodeError> {
        if raw.len() < 8 {
            return Err(DecodeError::Numeric("shorter than its 8-byte header"));
        }
        let be16 = |i: usize| u16::from_be_bytes([raw[i], raw[i + 1]]);
        let ndigits = be16(0) as usize;
        let weight = be16(2) as i16;
        let sign = be16(4);
        let dscale = be16(6);
        if ndigits > MAX_GROUPS {
            return Err(DecodeError::Numeric("too many digit groups"));
        }
        if raw.len() != 8 + 2 * ndigits {
            return Err(DecodeError::Numeric(
                "length does not match its digit count",
            ));
        }
        if !matches!(sign, POS | NEG | NAN | PINF | NINF) {
            return Err(DecodeError::Numeric("unknown sign word"));
        }
        let mut digits = Vec::with_capacity(ndigits);
        for i in 0..ndigits {
            let d = be16(8 + 2 * i);
            if d >= 10_000 {
                return Err(DecodeError::Numeric("digit group out of range"));
            }
            digits.push(d);
        }
        Ok(PgNumeric {
            sign,
            weight,
            dscale,
            digits,
        })
    }

    pub fn is_nan(&self) -> bool {
        self.sign == NAN
    }

    /// The value × 10^scale as an integer, if it is finite, exact at that
    /// scale and fits in i128 (the minimum is reserved as the NaN sentinel).
    pub fn to_scaled(&self, scale: u16) -> Option<i128> {
        if !matches!(self.sign, POS | NEG) {
            return None;
        }
        let mut acc: i128 = 0;
        // Digit group i is worth 10000^(weight - i); shift all so the last
        // kept decimal is 10^-scale.
        let mut lowest_exp10: i64 = 0; // exponent of the accumulated unit
        for (i, &d) in self.digits.iter().enumerate() {
            let exp10 = 4 * (self.weight as i64 - i as i64);
            if i == 0 {
                acc = d as i128;
            } else {
                acc = acc.checked_mul(10_000)?.checked_add(d as i128)?;
            }
            lowest_exp10 = exp10;
        }
        if self.digits.is_empty() {
            return Some(0);
        }
        // acc is in units of 10^lowest_exp10; convert to units of 10^-scale.
        let shift = lowest_exp10 + scale as i64;
        let scaled = if shift >= 0 {
            acc.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
        } else {
            let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
            if acc % div != 0 {
                return None; // more decimals than the column's scale
            }
            acc / div
        };
        let v = if self.sign == NEG { -scaled } else { scaled };
        (v != i128::MIN).then_some(v)
    }
}

impl fmt::Display for PgNumeric {
    /// PostgreSQL's own text form: all `dscale` decimals, no exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sign {
            NAN => return f.write_str("NaN"),
            PINF => return f.write_str("Infinity"),
            NINF => return f.write_str("-Infinity"),
            _ => {}
        }
        let mut out = String::new();
        if self.sign == NEG {
            out.push('-');
        }
        // Integer part: groups with weight >= 0.
        if self.weight < 0 || self.digits.is_empty() {
            out.push('0');
        } else {
            for w in 0..=self.weight as usize {
                let d = self.digits.get(w).copied().unwrap_or(0);
                if w == 0 {
                    out.push_str(&d.to_string());
                } else {
                    out.push_str(&format!("{d:04}"));
                }
            }
        }
        if self.dscale > 0 {
            out.push('.');
            let mut frac = String::with_capacity(self.dscale as usize + 4);
            // Fraction groups have weight -1, -2, …
            let mut w = -1i32;
            while frac.len() < self.dscale as usize {
                let idx = self.weight as i32 - w; // index of weight w
                let d = if idx >= 0 {
                    self.digits.get(idx as usize).copied().unwrap_or(0)
                } else {
                    0
                };
                frac.push_str(&format!("{d:04}"));
                w -= 1;
            }
            frac.truncate(self.dscale as usize);
            out.push_str(&frac);
        }
        f.write_str(&out)
    }
}

/// Writes `mantissa / 10^scale` with exactly `scale` decimals.
pub fn write_scaled(out: &mut String, mantissa: i128, scale: u16) {
    let mut buf = itoa::Buffer::new();
    // u128 digits take a slower division; most mantissas fit a u64.
    let digits = match u64::try_from(mantissa.unsigned_abs()) {
        Ok(m) => buf.format(m),
        Err(_) => buf.format(mantissa.unsigned_abs()),
    };
    if mantissa < 0 {
        out.push('-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.push_str(digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn decodes_scaled_values_exactly() {
        // 12.30 = [12, 3000] weight 0 dscale 2
        let n = PgNumeric::parse(&enc(2, 0, POS, 2, &[12, 3000])).unwrap();
        assert_eq!(n.to_scaled(2), Some(1230));
        assert_eq!(n.to_string(), "12.30");
        // -0.05 = [500] weight -1
        let n = PgNumeric::parse(&enc(1, -1, NEG, 2, &[500])).unwrap();
        assert_eq!(n.to_scaled(2), Some(-5));
        assert_eq!(n.to_string(), "-0.05");
        // 123456789012.34 = [1234, 5678, 9012, 3400] weight 2
        let n = PgNumeric::parse(&enc(4, 2, POS, 2, &[1234, 5678, 9012, 3400])).unwrap();
        assert_eq!(n.to_scaled(2), Some(12345678901234));
        assert_eq!(n.to_string(), "123456789012.34");
        // 20000 = [2] weight 1 (trailing zero groups stripped)
        let n = PgNumeric::parse(&enc(1, 1, POS, 0, &[2])).unwrap();
        assert_eq!(n.to_scaled(2), Some(2_000_000));
        assert_eq!(n.to_string(), "20000");
        // zero with dscale 2
        let n = PgNumeric::parse(&enc(0, 0, POS, 2, &[])).unwrap();
        assert_eq!(n.to_scaled(2), Some(0));
        assert_eq!(n.to_string(), "0.00");
    }

    #[test]
    fn nan_infinity_and_too_many_decimals() {
        let nan = PgNumeric::parse(&enc(0, 0, NAN, 0, &[])).unwrap();
        assert!(nan.is_nan());
        assert_eq!(nan.to_scaled(2), None);
        assert_eq!(nan.to_string(), "NaN");
        let inf = PgNumeric::parse(&enc(0, 0, NINF, 0, &[])).unwrap();
        assert_eq!(inf.to_string(), "-Infinity");
        // 1.005 at scale 2 is not exact.
        let n = PgNumeric::parse(&enc(2, 0, POS, 3, &[1, 50])).unwrap();
        assert_eq!(n.to_scaled(2), None);
        assert_eq!(n.to_string(), "1.005");
    }

    #[test]
    fn wide_values_keep_every_digit() {
        // 40 digits: 1234567890123456789012345678901234567890.5
        let groups = [
            1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012, 3456, 7890, 5000,
        ];
        let n = PgNumeric::parse(&enc(11, 9, POS, 1, &groups)).unwrap();
        assert_eq!(n.to_string(), "1234567890123456789012345678901234567890.5");
        assert_eq!(n.to_scaled(1), None); // beyond i128
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert!(PgNumeric::parse(&[0, 1]).is_err());
        assert!(PgNumeric::parse(&enc(2, 0, POS, 0, &[1])).is_err());
        assert!(PgNumeric::parse(&enc(1, 0, POS, 0, &[10_000])).is_err());
        assert!(PgNumeric::parse(&enc(1, 0, 0x1234, 0, &[1])).is_err());
    }

    #[test]
    fn scaled_writer() {
        let w = |m, s| {
            let mut o = String::new();
            write_scaled(&mut o, m, s);
            o
        };
        assert_eq!(w(1230, 2), "12.30");
        assert_eq!(w(-5, 2), "-0.05");
        assert_eq!(w(0, 2), "0.00");
        assert_eq!(w(7, 0), "7");
        assert_eq!(w(-123, 4), "-0.0123");
        // Either side of the u64 fast path, and the extremes of i128.
        assert_eq!(w(u64::MAX as i128, 2), "184467440737095516.15");
        assert_eq!(w(-(u64::MAX as i128) - 1, 0), "-18446744073709551616");
        assert_eq!(
            w(i128::MIN, 38),
            "-1.70141183460469231731687303715884105728"
        );
        assert_eq!(w(i128::MAX, 0), i128::MAX.to_string());
    }
}
