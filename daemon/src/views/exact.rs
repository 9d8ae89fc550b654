//! Exact decimal arithmetic for the statistics of the derived views (sums,
//! means, medians, the heat score), so that a figure reads `7.98`, not
//! `7.980000019073486`.
//!
//! # The decimal value of a stored value
//!
//! - `numeric`: its exact value at its own scale (the declared scale of a
//!   `numeric(p,s)` column, e.g. `1234.50` has scale 2);
//! - `real` and `double precision`: the decimal of its shortest round-trip
//!   text, as PostgreSQL prints it and `stock.get` writes it (`7.98`, scale
//!   2; `1e-7`, scale 7), trailing zeros dropped (`7`, scale 0);
//! - integers: themselves, scale 0.
//!
//! A value is held as a mantissa in an `i128` and a scale of at most
//! [`MAX_SCALE`] decimals. A value that does not fit (±Infinity, more than
//! [`MAX_SCALE`] decimals, a magnitude near 10^20 and beyond) has no exact
//! form: a statistic over it is computed in double precision instead, as
//! it was before this module (and as PostgreSQL does for floats).
//!
//! # Scales and rounding
//!
//! - a sum is exact, at the largest scale of its values (as PostgreSQL's
//!   `sum(numeric)`);
//! - a median (`percentile_cont(0.5)`) is exact: the middle value, or the
//!   mean of the two middle values, which needs at most one more decimal;
//! - a mean is rounded to the given scale (the views use the inputs' scale
//!   plus 2: the mean of 2-decimal values has 4 decimals), **half away
//!   from zero**, as PostgreSQL's `round(numeric, s)`: 0.00005 → 0.0001,
//!   −0.00005 → −0.0001.
//!
//! Results are JSON numbers: the nearest double to the exact decimal, which
//! prints as that decimal (without trailing zeros) whenever it has at most
//! 15 significant digits.

use crate::store::column::{Column, ColumnData};
use crate::store::json::value_f64;
use std::cmp::Ordering;

/// Most decimals a value may have to be held exactly.
pub const MAX_SCALE: u32 = 18;

/// Largest magnitude of a single value's mantissa: leaves room for summing
/// 10^8 values and for the two extra decimals of a mean inside an `i128`.
const MAX_MANTISSA: i128 = 10i128.pow(28);

/// An exact decimal: `m × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub m: i128,
    pub scale: u32,
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl Dec {
    /// A decimal from text: `-12.50`, `7`, `1e-7`, `1.5E+3`. The scale is
    /// the number of decimals written (minus the exponent), never negative;
    /// `None` for anything else or past the limits.
    pub fn parse(text: &str) -> Option<Dec> {
        let (num, exp) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (neg, digits) = match num.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, num.strip_prefix('+').unwrap_or(num)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut m: i128 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            if !c.is_ascii_digit() {
                return None;
            }
            m = m.checked_mul(10)?.checked_add((c - b'0') as i128)?;
        }
        let scale = frac.len() as i64 - exp as i64;
        let (m, scale) = if scale < 0 {
            (m.checked_mul(pow10(u32::try_from(-scale).ok()?)?)?, 0)
        } else {
            (m, u32::try_from(scale).ok()?)
        };
        if scale > MAX_SCALE || m > MAX_MANTISSA {
            return None;
        }
        Some(Dec {
            m: if neg { -m } else { m },
            scale,
        })
    }

    /// Without trailing zeros after the point (`7.50` → `7.5`, `7.0` → `7`).
    pub fn normalized(mut self) -> Dec {
        while self.scale > 0 && self.m % 10 == 0 {
            self.m /= 10;
            self.scale -= 1;
        }
        self
    }

    /// The same value at a scale at least as large (`None` on overflow).
    pub fn rescale(self, scale: u32) -> Option<Dec> {
        let up = scale.checked_sub(self.scale)?;
        Some(Dec {
            m: self.m.checked_mul(pow10(up)?)?,
            scale,
        })
    }

    /// The nearest double (correctly rounded, through the decimal text).
    pub fn to_f64(self) -> f64 {
        let mut s = String::with_capacity(48);
        crate::store::numeric::write_scaled(&mut s, self.m, self.scale as u16);
        // The text is always a valid decimal; 0.0 is unreachable.
        s.parse().unwrap_or(0.0)
    }

    /// Exact comparison (`None` only if the mantissas cannot be brought to
    /// one scale).
    pub fn cmp_exact(self, other: Dec) -> Option<Ordering> {
        let s = self.scale.max(other.scale);
        Some(self.rescale(s)?.m.cmp(&other.rescale(s)?.m))
    }

    /// `self + other`, at the larger scale.
    pub fn checked_add(self, other: Dec) -> Option<Dec> {
        let s = self.scale.max(other.scale);
        Some(Dec {
            m: self.rescale(s)?.m.checked_add(other.rescale(s)?.m)?,
            scale: s,
        })
    }
}

/// `num / den` rounded to an integer, half away from zero (`den` ≠ 0).
pub fn div_round(num: i128, den: i128) -> Option<i128> {
    let q = num.checked_div(den)?;
    let r = num.checked_rem(den)?;
    // |2r| ≥ |den| means the remainder is at least half way.
    if r.unsigned_abs() >= den.unsigned_abs() - r.unsigned_abs() && r != 0 {
        let away = if (num < 0) != (den < 0) { -1 } else { 1 };
        q.checked_add(away)
    } else {
        Some(q)
    }
}

/// The exact decimal value of `row` in `col` (see the module header);
/// `None` for NULL, NaN, non-numeric columns, and values without an exact
/// form within the limits.
pub fn value(col: &Column, row: usize) -> Option<Dec> {
    if col.is_null(row) {
        return None;
    }
    let shortest = |v: f64| -> Option<Dec> {
        v.is_finite()
            .then(|| Dec::parse(ryu::Buffer::new().format_finite(v)))?
            .map(Dec::normalized)
    };
    match &col.data {
        ColumnData::Int2(v) | ColumnData::Int4(v) | ColumnData::Int8(v) => Some(Dec {
            m: v.get(row) as i128,
            scale: 0,
        }),
        ColumnData::Float4(v) if v.f32(row).is_finite() => {
            Dec::parse(ryu::Buffer::new().format_finite(v.f32(row))).map(Dec::normalized)
        }
        ColumnData::Float4(_) => None,
        // Doubles held as decimal mantissas are still doubles: their
        // decimal is their shortest text, as for a plain double.
        ColumnData::Float8(_) | ColumnData::DecimalF64 { .. } => shortest(value_f64(col, row)?),
        ColumnData::Decimal { scale, values } => {
            let m = values.get(row)?;
            let scale = *scale as u32;
            (scale <= MAX_SCALE && m.unsigned_abs() <= MAX_MANTISSA as u128)
                .then_some(Dec { m, scale })
        }
        ColumnData::DecimalText(a) => Dec::parse(a.get(row)),
        _ => None,
    }
}

/// A running sum of one column's values over a set of rows, exact while
/// every value has an exact form (see the module header), in double
/// precision from the first one that does not.
#[derive(Debug, Clone, Default)]
pub struct Sum {
    /// Values added.
    n: u64,
    /// The exact sum; `None` before the first value or once exactness is
    /// lost.
    exact: Option<Dec>,
    inexact: bool,
    /// The sum in double precision, kept for the inexact case.
    float: f64,
}

impl Sum {
    /// Adds a value: `float` as [`value_f64`] reads it, `exact` as
    /// [`value`] does.
    pub fn add(&mut self, float: f64, exact: Option<Dec>) {
        self.n += 1;
        self.float += float;
        if self.inexact {
            return;
        }
        let next = match (self.exact, exact) {
            (None, Some(e)) if self.n == 1 => Some(e),
            (Some(s), Some(e)) => s.checked_add(e),
            _ => None,
        };
        self.exact = next;
        self.inexact = next.is_none();
    }

    /// Adds the value of `row` in `col`, if it has one (NULL and NaN are
    /// skipped, as SQL aggregates skip NULL).
    pub fn add_row(&mut self, col: &Column, row: usize) {
        if let Some(f) = value_f64(col, row) {
            self.add(f, value(col, row));
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The exact sum (`None` if no value was added or one had no exact
    /// form).
    pub fn exact(&self) -> Option<Dec> {
        self.exact.filter(|_| !self.inexact)
    }

    /// The sum; `None` when no value was added (SQL's `sum` of nothing).
    pub fn total(&self) -> Option<f64> {
        match self.exact() {
            Some(e) => Some(e.to_f64()),
            None => (self.n > 0).then_some(self.float),
        }
    }

    /// The mean rounded to `scale` decimals, half away from zero (`None`
    /// when no value was added). `scale` below the sum's own scale is
    /// raised to it.
    pub fn mean(&self, scale: u32) -> Option<f64> {
        self.mean_plus(scale, 0, 0)
    }

    /// `round(sum / n + extra_num / n + whole, scale)` — the mean with
    /// further terms over the same count and a whole number added, rounded
    /// once (the heat score). `None` when no value was added.
    pub fn mean_plus(&self, scale: u32, extra_num: i64, whole: i64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let exact = self.exact().and_then(|sum| {
            let t = scale.max(sum.scale);
            let n = self.n as i128;
            // (sum + extra_num + whole × n) / n, rounded once: rounding
            // before adding `whole` would round −0.09375 + 6 to 5.9062,
            // where 5.90625 rounds to 5.9063.
            let extra = (extra_num as i128).checked_add((whole as i128).checked_mul(n)?)?;
            let num = sum
                .rescale(t)?
                .m
                .checked_add(extra.checked_mul(pow10(t)?)?)?;
            Some(
                Dec {
                    m: div_round(num, n)?,
                    scale: t,
                }
                .to_f64(),
            )
        });
        Some(exact.unwrap_or_else(|| {
            let n = self.n as f64;
            self.float / n + extra_num as f64 / n + whole as f64
        }))
    }
}

/// `percentile_cont(0.5)` of values sorted in either direction: the middle
/// value, or the mean of the two middle ones (exact, one more decimal at
/// most). `get` gives an element's value as (double, exact decimal); if
/// either middle value has no exact form the mean is taken in double
/// precision, as PostgreSQL does. `None` for no values.
pub fn median<T>(sorted: &[T], get: impl Fn(&T) -> (f64, Option<Dec>)) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        let (f, e) = get(&sorted[n / 2]);
        return Some(e.map_or(f, Dec::to_f64));
    }
    let (a, b) = (get(&sorted[n / 2 - 1]), get(&sorted[n / 2]));
    let exact = a.1.zip(b.1).and_then(|(x, y)| {
        let sum = x.checked_add(y)?;
        // sum / 2 = sum × 5 / 10: exact at one more decimal.
        Some(
            Dec {
                m: sum.m.checked_mul(5)?,
                scale: sum.scale + 1,
            }
            .normalized()
            .to_f64(),
        )
    });
    // percentile_cont's own formula: lo + (hi − lo) × 0.5.
    let (lo, hi) = if a.0 <= b.0 { (a.0, b.0) } else { (b.0, a.0) };
    Some(exact.unwrap_or(lo + (hi - lo) * 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: i128, scale: u32) -> Dec {
        Dec { m, scale }
    }

    #[test]
    fn parse_reads_plain_and_exponent_forms() {
        assert_eq!(Dec::parse("7.98"), Some(d(798, 2)));
        assert_eq!(Dec::parse("-0.02"), Some(d(-2, 2)));
        assert_eq!(Dec::parse("12.50"), Some(d(1250, 2)));
        assert_eq!(Dec::parse("7"), Some(d(7, 0)));
        assert_eq!(Dec::parse("1e-7"), Some(d(1, 7)));
        assert_eq!(Dec::parse("1.5E+3"), Some(d(1500, 0)));
        assert_eq!(Dec::parse("-2.5e1"), Some(d(-25, 0)));
        assert_eq!(Dec::parse(".5"), Some(d(5, 1)));
        for bad in [
            "", "-", ".", "1.2.3", "1e", "abc", "NaN", "Infinity", "1e-19",
        ] {
            assert_eq!(Dec::parse(bad), None, "{bad}");
        }
        assert_eq!(Dec::parse("1e30"), None, "past the mantissa limit");
        assert_eq!(Dec::parse("7.0").map(Dec::normalized), Some(d(7, 0)));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 10), Some(1));
        assert_eq!(div_round(-5, 10), Some(-1));
        assert_eq!(div_round(4, 10), Some(0));
        assert_eq!(div_round(-4, 10), Some(0));
        assert_eq!(div_round(15, 10), Some(2));
        assert_eq!(div_round(-15, 10), Some(-2));
        assert_eq!(div_round(7, 3), Some(2));
        assert_eq!(div_round(8, 3), Some(3));
        assert_eq!(div_round(-8, 3), Some(-3));
        assert_eq!(div_round(5, -10), Some(-1));
        assert_eq!(div_round(1, 0), None);
    }

    #[test]
    fn real_values_read_as_their_shortest_text() {
        let col = Column {
            data: ColumnData::Float4(crate::store::column::Reals::new(&[
                7.98,
                -0.02,
                20.0,
                f32::INFINITY,
                1.2345678,
            ])),
            nulls: None,
        };
        let got: Vec<Option<Dec>> = (0..5).map(|r| value(&col, r)).collect();
        assert_eq!(
            got,
            [
                Some(d(798, 2)),
                Some(d(-2, 2)),
                Some(d(20, 0)),
                None,
                Some(d(12345678, 7))
            ]
        );
        let col = Column {
            data: ColumnData::Float8(crate::store::column::Doubles::new(&[0.1, 1e300])),
            nulls: None,
        };
        assert_eq!(value(&col, 0), Some(d(1, 1)));
        assert_eq!(value(&col, 1), None, "too large for an exact form");
    }

    /// The noise the issue measured: the mean of 7.98 (real) as double is
    /// 7.980000019073486; exactly it is 7.98.
    #[test]
    fn mean_and_sum_are_exact() {
        let mut s = Sum::default();
        for v in [7.98f32, 7.98, 7.98] {
            s.add(v as f64, Dec::parse(&v.to_string()));
        }
        assert_eq!(s.mean(4), Some(7.98));
        assert_eq!(s.total(), Some(23.94));
        assert_ne!(7.98f32 as f64, 7.98, "the float path would show noise");

        // 0.1 + 0.2 is 0.30000000000000004 in doubles.
        let mut s = Sum::default();
        s.add(0.1, Dec::parse("0.1"));
        s.add(0.2, Dec::parse("0.2"));
        assert_eq!(s.total(), Some(0.3));
        // Mean 0.15 at scale 3.
        assert_eq!(s.mean(3), Some(0.15));

        // 1/3 and -2/3 of a cent, rounded at 4 decimals, half away from zero.
        let mut s = Sum::default();
        for m in [1, 0, 0] {
            s.add(m as f64 / 100.0, Some(d(m, 2)));
        }
        assert_eq!(s.mean(4), Some(0.0033));
        let mut s = Sum::default();
        for m in [-1, -1, 0] {
            s.add(m as f64 / 100.0, Some(d(m, 2)));
        }
        assert_eq!(s.mean(4), Some(-0.0067));
        // Exactly half way: -0.00005 → -0.0001; 0.00005 → 0.0001.
        let mut s = Sum::default();
        s.add(-0.0001, Some(d(-1, 4)));
        s.add(0.0, Some(d(0, 4)));
        assert_eq!(s.mean(4), Some(-0.0001));
        let mut s = Sum::default();
        s.add(0.0001, Some(d(1, 4)));
        s.add(0.0, Some(d(0, 4)));
        assert_eq!(s.mean(4), Some(0.0001));

        assert_eq!(Sum::default().total(), None);
        assert_eq!(Sum::default().mean(4), None);
    }

    #[test]
    fn a_value_without_exact_form_makes_the_sum_a_float() {
        let mut s = Sum::default();
        s.add(1.5, Some(d(15, 1)));
        s.add(f64::INFINITY, None);
        s.add(1.0, Some(d(1, 0)));
        assert_eq!(s.exact(), None);
        assert_eq!(s.total(), Some(f64::INFINITY));
        let mut s = Sum::default();
        s.add(0.1, None);
        s.add(0.2, Some(d(2, 1)));
        assert_eq!(s.total(), Some(0.1 + 0.2));
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn mean_plus_rounds_once() {
        // (0.01 + 0.02) / 3 + 5 × 1 / 3 + 2 = 0.01 + 1.6666… + 2 = 3.6767 (4 dp).
        let mut s = Sum::default();
        for m in [1, 2, 0] {
            s.add(m as f64 / 100.0, Some(d(m, 2)));
        }
        assert_eq!(s.mean_plus(4, 5, 2), Some(3.6767));
        // n = 6, (0.03 + 5 × -1) / 6 = -0.828333… → -0.8283.
        let mut s = Sum::default();
        for m in [3, 0, 0, 0, 0, 0] {
            s.add(m as f64 / 100.0, Some(d(m, 2)));
        }
        assert_eq!(s.mean_plus(4, -5, 0), Some(-0.8283));
        // The whole part is inside the rounding: (-0.75 + 0.0) / 8 + 6 =
        // 5.90625 → 5.9063 (rounding -0.09375 first would give 5.9062).
        let mut s = Sum::default();
        for m in [-75, 0, 0, 0, 0, 0, 0, 0] {
            s.add(m as f64 / 100.0, Some(d(m, 2)));
        }
        assert_eq!(s.mean_plus(4, 0, 6), Some(5.9063));
        assert_eq!(s.mean_plus(4, 0, -6), Some(-6.0938));
    }

    #[test]
    fn median_is_exact_and_takes_one_more_decimal_for_two_middles() {
        let get = |v: &(f64, Option<Dec>)| *v;
        let vals = |xs: &[&str]| -> Vec<(f64, Option<Dec>)> {
            xs.iter()
                .map(|x| (x.parse::<f32>().unwrap() as f64, Dec::parse(x)))
                .collect()
        };
        assert_eq!(median(&vals(&[]), get), None);
        assert_eq!(median(&vals(&["-0.02"]), get), Some(-0.02));
        assert_eq!(median(&vals(&["-0.05", "-0.02", "7.98"]), get), Some(-0.02));
        assert_eq!(median(&vals(&["-0.05", "-0.02"]), get), Some(-0.035));
        assert_eq!(median(&vals(&["7.98", "0.01"]), get), Some(3.995));
        assert_eq!(median(&vals(&["0.01", "0.03"]), get), Some(0.02));
        // Without an exact form: percentile_cont's float formula.
        let mixed = [(1.0, None), (2.0, Some(d(2, 0)))];
        assert_eq!(median(&mixed, get), Some(1.5));
    }

    #[test]
    fn to_f64_is_the_nearest_double() {
        assert_eq!(d(798, 2).to_f64(), 7.98);
        assert_eq!(d(-35, 3).to_f64(), -0.035);
        assert_eq!(d(12345678901234, 2).to_f64(), 123456789012.34);
        assert_eq!(d(0, 4).to_f64(), 0.0);
        assert_eq!(d(5, 0).cmp_exact(d(50, 1)), Some(Ordering::Equal));
        assert_eq!(d(-1, 2).cmp_exact(d(0, 0)), Some(Ordering::Less));
    }
}
