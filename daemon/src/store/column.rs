//! Typed column buffers, each no wider than its PostgreSQL type needs:
//! smallint is 2 bytes, numeric(p,s) a scaled integer of the narrowest width
//! that holds the loaded values, text a dictionary code of 1, 2 or 4 bytes,
//! booleans and NULLs bitmaps. Values are written back out exactly as
//! PostgreSQL holds them (see [`super::json`]).

use super::packed::{FloatBlocks, IntBlocks, Mix};
use std::collections::HashMap;

/// A fixed-length bit set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    len: usize,
}

impl Bitmap {
    pub fn with_capacity(bits: usize) -> Bitmap {
        Bitmap {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
        }
    }

    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// A bitmap from its words; `None` if they do not match `len`.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<Bitmap> {
        (words.len() == len.div_ceil(64)).then_some(Bitmap { words, len })
    }
}

/// Strings stored back to back in one buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrArena {
    bytes: String,
    ends: Vec<u32>,
}

impl StrArena {
    pub fn push(&mut self, s: &str) -> u32 {
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len() as u32);
        (self.ends.len() - 1) as u32
    }

    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4
    }

    fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    pub(crate) fn parts(&self) -> (&str, &[u32]) {
        (&self.bytes, &self.ends)
    }

    /// An arena from its parts; `None` unless the ends are ascending,
    /// within the bytes and on character boundaries.
    pub(crate) fn from_parts(bytes: String, ends: Vec<u32>) -> Option<StrArena> {
        let mut prev = 0u32;
        for &e in &ends {
            if e < prev || e as usize > bytes.len() || !bytes.is_char_boundary(e as usize) {
                return None;
            }
            prev = e;
        }
        Some(StrArena { bytes, ends })
    }
}

/// Scaled decimal mantissas as loaded, before encoding. The minimum of each width is the NaN sentinel:
/// `numeric(p,s)` never reaches it, since p digits fit with room to spare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decimals {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I128(Vec<i128>),
}

impl Decimals {
    /// The mantissa, or `None` for NaN.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i128> {
        match self {
            Decimals::I16(v) => (v[i] != i16::MIN).then_some(v[i] as i128),
            Decimals::I32(v) => (v[i] != i32::MIN).then_some(v[i] as i128),
            Decimals::I64(v) => (v[i] != i64::MIN).then_some(v[i] as i128),
            Decimals::I128(v) => (v[i] != i128::MIN).then_some(v[i]),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Decimals::I16(v) => v.capacity() * 2,
            Decimals::I32(v) => v.capacity() * 4,
            Decimals::I64(v) => v.capacity() * 8,
            Decimals::I128(v) => v.capacity() * 16,
        }
    }

    /// An empty buffer of the width `precision` digits need.
    fn for_precision(precision: u16, capacity: usize) -> Decimals {
        match precision {
            0..=4 => Decimals::I16(Vec::with_capacity(capacity)),
            5..=9 => Decimals::I32(Vec::with_capacity(capacity)),
            10..=18 => Decimals::I64(Vec::with_capacity(capacity)),
            _ => Decimals::I128(Vec::with_capacity(capacity)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Decimals::I16(v) => v.len(),
            Decimals::I32(v) => v.len(),
            Decimals::I64(v) => v.len(),
            Decimals::I128(v) => v.len(),
        }
    }

    /// Appends a mantissa (`None` = NaN); `false` if it does not fit.
    fn push(&mut self, m: Option<i128>) -> bool {
        // The minimum of each width is the NaN sentinel, so it is refused as
        // a value (a p-digit mantissa never reaches it anyway).
        fn put<T: TryFrom<i128> + PartialEq + Copy>(
            v: &mut Vec<T>,
            m: Option<i128>,
            nan: T,
        ) -> bool {
            match m {
                None => v.push(nan),
                Some(m) => match T::try_from(m) {
                    Ok(x) if x != nan => v.push(x),
                    _ => return false,
                },
            }
            true
        }
        match self {
            Decimals::I16(v) => put(v, m, i16::MIN),
            Decimals::I32(v) => put(v, m, i32::MIN),
            Decimals::I64(v) => put(v, m, i64::MIN),
            Decimals::I128(v) => put(v, m, i128::MIN),
        }
    }
}

/// Numeric mantissas in blocks. `Narrow` holds them frame-of-reference
/// bit-packed, with `i64::MIN` as NaN; `Wide` (a mantissa beyond i64: 19 to
/// 38 digits) holds them plain, with `i128::MIN` as NaN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mantissas {
    Narrow(IntBlocks),
    Wide(Vec<i128>),
}

impl Mantissas {
    /// The mantissa, or `None` for NaN.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i128> {
        match self {
            Mantissas::Narrow(b) => {
                let m = b.get(i);
                (m != i64::MIN).then_some(m as i128)
            }
            Mantissas::Wide(v) => (v[i] != i128::MIN).then_some(v[i]),
        }
    }

    fn encode(d: &Decimals, order: &[u32]) -> Mantissas {
        let n = order.len();
        let all_narrow = (0..d.len()).all(|i| {
            d.get(i)
                .is_none_or(|m| m > i64::MIN as i128 && m <= i64::MAX as i128)
        });
        let at = |&r: &u32| d.get(r as usize);
        if all_narrow {
            Mantissas::Narrow(IntBlocks::encode(
                n,
                order.iter().map(|r| at(r).map_or(i64::MIN, |m| m as i64)),
            ))
        } else {
            Mantissas::Wide(order.iter().map(|r| at(r).unwrap_or(i128::MIN)).collect())
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Mantissas::Narrow(b) => b.heap_bytes(),
            Mantissas::Wide(v) => v.capacity() * 16,
        }
    }
}

/// One column's values, encoded (see [`super::packed`]). A NULL row holds
/// a zero/empty placeholder; the column's null bitmap says which rows are
/// NULL. Read through [`Column::value`] and [`Column::values`], not by
/// matching on this.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Int2(IntBlocks),
    Int4(IntBlocks),
    Int8(IntBlocks),
    Float4(FloatBlocks<f32>),
    Float8(FloatBlocks<f64>),
    /// `numeric(p,s)` with p ≤ 38: value = mantissa / 10^scale.
    Decimal {
        scale: u16,
        values: Mantissas,
    },
    /// Unconstrained or very wide numeric: exact canonical decimal text
    /// (`NaN`, `Infinity` and `-Infinity` included).
    DecimalText(StrArena),
    Bool(Bitmap),
    /// Days since 2000-01-01 (PostgreSQL's epoch); i32::MIN/MAX = -infinity/infinity.
    Date(IntBlocks),
    /// Microseconds since 2000-01-01 00:00:00; i64::MIN/MAX = -infinity/infinity.
    Timestamp(IntBlocks),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(IntBlocks),
    /// Dictionary-encoded text, codes bit-packed.
    Text {
        dict: StrArena,
        codes: IntBlocks,
    },
}

impl ColumnData {
    pub fn heap_bytes(&self) -> usize {
        match self {
            ColumnData::Int2(b)
            | ColumnData::Int4(b)
            | ColumnData::Int8(b)
            | ColumnData::Date(b)
            | ColumnData::Timestamp(b)
            | ColumnData::TimestampTz(b) => b.heap_bytes(),
            ColumnData::Float4(b) => b.heap_bytes(),
            ColumnData::Float8(b) => b.heap_bytes(),
            ColumnData::Decimal { values, .. } => values.heap_bytes(),
            ColumnData::DecimalText(a) => a.heap_bytes(),
            ColumnData::Bool(b) => b.heap_bytes(),
            ColumnData::Text { dict, codes } => dict.heap_bytes() + codes.heap_bytes(),
        }
    }

    /// Blocks by codec (`const`, `for`, `decimal`, `split`, `plain`, or
    /// the whole column's layout for the unblocked ones).
    pub fn mix(&self) -> Mix {
        let mut mix = Mix::default();
        match self {
            ColumnData::Int2(b)
            | ColumnData::Int4(b)
            | ColumnData::Int8(b)
            | ColumnData::Date(b)
            | ColumnData::Timestamp(b)
            | ColumnData::TimestampTz(b)
            | ColumnData::Decimal {
                values: Mantissas::Narrow(b),
                ..
            } => b.mix(&mut mix),
            ColumnData::Text { codes, .. } => {
                codes.mix(&mut mix);
                for c in &mut mix.codecs {
                    c.0 = if c.0 == "const" {
                        "dict-const"
                    } else {
                        "dict-for"
                    };
                }
            }
            ColumnData::Float4(b) => b.mix(&mut mix),
            ColumnData::Float8(b) => b.mix(&mut mix),
            ColumnData::Decimal {
                values: Mantissas::Wide(_),
                ..
            } => mix.codecs.push(("i128", 1)),
            ColumnData::DecimalText(_) => mix.codecs.push(("text", 1)),
            ColumnData::Bool(_) => mix.codecs.push(("bitmap", 1)),
        }
        mix
    }
}

/// One value as read from a column: the typed, per-row view every reader
/// uses (JSON, ranking, views, Arrow).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    /// smallint, integer, bigint.
    Int(i64),
    Float4(f32),
    Float8(f64),
    /// `numeric(p,s)`: mantissa / 10^scale; `None` = NaN.
    Decimal {
        mantissa: Option<i128>,
        scale: u16,
    },
    /// Unconstrained numeric as canonical text (`NaN`, `Infinity`, …).
    DecimalText(&'a str),
    Bool(bool),
    /// PostgreSQL days (see [`ColumnData::Date`]).
    Date(i32),
    Timestamp(i64),
    TimestampTz(i64),
    Text(&'a str),
}

/// A finished column: its values and, if any row is NULL, a null bitmap.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub data: ColumnData,
    /// Bit set = NULL. `None` when the column holds no NULL.
    pub nulls: Option<Bitmap>,
}

impl Column {
    #[inline]
    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.get(row))
    }

    /// The value of `row`, decoding that one value only (O(1)).
    #[inline]
    pub fn value(&self, row: usize) -> Value<'_> {
        if self.is_null(row) {
            return Value::Null;
        }
        match &self.data {
            ColumnData::Int2(b) | ColumnData::Int4(b) | ColumnData::Int8(b) => {
                Value::Int(b.get(row))
            }
            ColumnData::Float4(b) => Value::Float4(b.get(row)),
            ColumnData::Float8(b) => Value::Float8(b.get(row)),
            ColumnData::Decimal { scale, values } => Value::Decimal {
                mantissa: values.get(row),
                scale: *scale,
            },
            ColumnData::DecimalText(a) => Value::DecimalText(a.get(row)),
            ColumnData::Bool(b) => Value::Bool(b.get(row)),
            ColumnData::Date(b) => Value::Date(b.get(row) as i32),
            ColumnData::Timestamp(b) => Value::Timestamp(b.get(row)),
            ColumnData::TimestampTz(b) => Value::TimestampTz(b.get(row)),
            ColumnData::Text { dict, codes } => Value::Text(dict.get(codes.get(row) as usize)),
        }
    }

    /// The values of a run of rows, in order.
    pub fn values(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = Value<'_>> + '_ {
        rows.map(move |r| self.value(r))
    }

    /// The dictionary code of a text column's row (`None` for NULL or a
    /// column that is not text): compare codes, not strings, in scans.
    #[inline]
    pub fn text_code(&self, row: usize) -> Option<u32> {
        match &self.data {
            ColumnData::Text { codes, .. } if !self.is_null(row) => Some(codes.get(row) as u32),
            _ => None,
        }
    }

    /// A text column's dictionary (code → string).
    pub fn dict(&self) -> Option<&StrArena> {
        match &self.data {
            ColumnData::Text { dict, .. } => Some(dict),
            _ => None,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.data.heap_bytes() + self.nulls.as_ref().map_or(0, Bitmap::heap_bytes)
    }

    /// A column of the given doubles (tests).
    #[cfg(test)]
    pub fn from_f64(v: &[f64]) -> Column {
        Column {
            data: ColumnData::Float8(FloatBlocks::encode(v.len(), v.iter().copied())),
            nulls: None,
        }
    }

    /// A column of the given reals (tests).
    #[cfg(test)]
    pub fn from_f32(v: &[f32]) -> Column {
        Column {
            data: ColumnData::Float4(FloatBlocks::encode(v.len(), v.iter().copied())),
            nulls: None,
        }
    }
}

pub use super::decode::DecodeError;

/// Accumulates one column's binary COPY fields.
pub enum ColumnBuilder {
    Int2(Vec<i16>),
    Int4(Vec<i32>),
    Int8(Vec<i64>),
    Float4(Vec<f32>),
    Float8(Vec<f64>),
    Decimal {
        precision: u16,
        scale: u16,
        values: Decimals,
    },
    DecimalText(StrArena),
    Bool(Bitmap),
    Date(Vec<i32>),
    Timestamp(Vec<i64>),
    TimestampTz(Vec<i64>),
    Text {
        dict: StrArena,
        lookup: HashMap<Box<str>, u32>,
        codes: Vec<u32>,
    },
}

/// Field bytes of a fixed-width type, checked.
fn fixed<const N: usize>(raw: &[u8], kind: &'static str) -> Result<[u8; N], DecodeError> {
    raw.try_into().map_err(|_| DecodeError::Length {
        kind,
        expected: N,
        got: raw.len(),
    })
}

impl ColumnBuilder {
    pub fn new(kind: super::schema::ColumnKind, capacity: usize) -> ColumnBuilder {
        use super::schema::ColumnKind as K;
        match kind {
            K::Int2 => ColumnBuilder::Int2(Vec::with_capacity(capacity)),
            K::Int4 => ColumnBuilder::Int4(Vec::with_capacity(capacity)),
            K::Int8 => ColumnBuilder::Int8(Vec::with_capacity(capacity)),
            K::Float4 => ColumnBuilder::Float4(Vec::with_capacity(capacity)),
            K::Float8 => ColumnBuilder::Float8(Vec::with_capacity(capacity)),
            K::Numeric {
                precision: Some(p),
                scale: Some(s),
            } if p <= 38 => ColumnBuilder::Decimal {
                precision: p,
                scale: s,
                values: Decimals::for_precision(p, capacity),
            },
            K::Numeric { .. } => ColumnBuilder::DecimalText(StrArena::default()),
            K::Bool => ColumnBuilder::Bool(Bitmap::with_capacity(capacity)),
            K::Date => ColumnBuilder::Date(Vec::with_capacity(capacity)),
            K::Timestamp => ColumnBuilder::Timestamp(Vec::with_capacity(capacity)),
            K::TimestampTz => ColumnBuilder::TimestampTz(Vec::with_capacity(capacity)),
            K::Text => ColumnBuilder::Text {
                dict: StrArena::default(),
                lookup: HashMap::new(),
                codes: Vec::with_capacity(capacity),
            },
        }
    }

    /// Appends one field in PostgreSQL's binary send format (`None` = NULL,
    /// which appends a placeholder; the caller records the NULL).
    pub fn push(&mut self, raw: Option<&[u8]>) -> Result<(), DecodeError> {
        match self {
            ColumnBuilder::Int2(v) => v.push(match raw {
                Some(r) => i16::from_be_bytes(fixed(r, "smallint")?),
                None => 0,
            }),
            ColumnBuilder::Int4(v) => v.push(match raw {
                Some(r) => i32::from_be_bytes(fixed(r, "integer")?),
                None => 0,
            }),
            ColumnBuilder::Int8(v) => v.push(match raw {
                Some(r) => i64::from_be_bytes(fixed(r, "bigint")?),
                None => 0,
            }),
            ColumnBuilder::Float4(v) => v.push(match raw {
                Some(r) => f32::from_be_bytes(fixed(r, "real")?),
                None => 0.0,
            }),
            ColumnBuilder::Float8(v) => v.push(match raw {
                Some(r) => f64::from_be_bytes(fixed(r, "double precision")?),
                None => 0.0,
            }),
            ColumnBuilder::Decimal {
                precision,
                scale,
                values,
            } => {
                let m = match raw {
                    Some(r) => {
                        let n = super::numeric::PgNumeric::parse(r)?;
                        match n.to_scaled(*scale) {
                            Some(m) => Some(m),
                            None if n.is_nan() => None,
                            None => {
                                return Err(DecodeError::NumericOverflow {
                                    precision: *precision,
                                    scale: *scale,
                                })
                            }
                        }
                    }
                    None => Some(0),
                };
                if !values.push(m) {
                    return Err(DecodeError::NumericOverflow {
                        precision: *precision,
                        scale: *scale,
                    });
                }
            }
            ColumnBuilder::DecimalText(a) => {
                match raw {
                    Some(r) => a.push(&super::numeric::PgNumeric::parse(r)?.to_string()),
                    None => a.push(""),
                };
            }
            ColumnBuilder::Bool(b) => b.push(match raw {
                Some(r) => fixed::<1>(r, "boolean")?[0] != 0,
                None => false,
            }),
            ColumnBuilder::Date(v) => v.push(match raw {
                Some(r) => i32::from_be_bytes(fixed(r, "date")?),
                None => 0,
            }),
            ColumnBuilder::Timestamp(v) | ColumnBuilder::TimestampTz(v) => v.push(match raw {
                Some(r) => i64::from_be_bytes(fixed(r, "timestamp")?),
                None => 0,
            }),
            ColumnBuilder::Text {
                dict,
                lookup,
                codes,
            } => {
                let s = match raw {
                    Some(r) => std::str::from_utf8(r).map_err(|_| DecodeError::Utf8)?,
                    None => "",
                };
                let code = match lookup.get(s) {
                    Some(&c) => c,
                    None => {
                        if dict.heap_bytes() + s.len() > u32::MAX as usize {
                            return Err(DecodeError::TooLarge);
                        }
                        let c = dict.push(s);
                        lookup.insert(s.into(), c);
                        c
                    }
                };
                codes.push(code);
            }
        }
        Ok(())
    }

    /// Encodes the values in row order `order` (indexes into what was
    /// pushed), block by block.
    pub fn finish(self, order: &[u32]) -> ColumnData {
        let n = order.len();
        fn ints<T: Copy + Into<i64>>(v: &[T], order: &[u32]) -> IntBlocks {
            IntBlocks::encode(order.len(), order.iter().map(|&r| v[r as usize].into()))
        }
        match self {
            ColumnBuilder::Int2(v) => ColumnData::Int2(ints(&v, order)),
            ColumnBuilder::Int4(v) => ColumnData::Int4(ints(&v, order)),
            ColumnBuilder::Int8(v) => ColumnData::Int8(ints(&v, order)),
            ColumnBuilder::Float4(v) => {
                ColumnData::Float4(FloatBlocks::encode(n, order.iter().map(|&r| v[r as usize])))
            }
            ColumnBuilder::Float8(v) => {
                ColumnData::Float8(FloatBlocks::encode(n, order.iter().map(|&r| v[r as usize])))
            }
            ColumnBuilder::Decimal { scale, values, .. } => ColumnData::Decimal {
                scale,
                values: Mantissas::encode(&values, order),
            },
            ColumnBuilder::DecimalText(a) => {
                let mut out = StrArena::default();
                for &r in order {
                    out.push(a.get(r as usize));
                }
                out.shrink();
                ColumnData::DecimalText(out)
            }
            ColumnBuilder::Bool(b) => {
                let mut out = Bitmap::with_capacity(n);
                for &r in order {
                    out.push(b.get(r as usize));
                }
                ColumnData::Bool(out)
            }
            ColumnBuilder::Date(v) => ColumnData::Date(ints(&v, order)),
            ColumnBuilder::Timestamp(v) => ColumnData::Timestamp(ints(&v, order)),
            ColumnBuilder::TimestampTz(v) => ColumnData::TimestampTz(ints(&v, order)),
            ColumnBuilder::Text {
                mut dict, codes, ..
            } => {
                dict.shrink();
                ColumnData::Text {
                    dict,
                    codes: IntBlocks::encode(n, order.iter().map(|&r| codes[r as usize] as i64)),
                }
            }
        }
    }

    /// Dictionary codes and dictionary of a text builder (the key column:
    /// the row order is computed from them before anything is encoded).
    pub fn text_parts(&self) -> Option<(&StrArena, &[u32])> {
        match self {
            ColumnBuilder::Text { dict, codes, .. } => Some((dict, codes)),
            _ => None,
        }
    }

    /// The raw days of a date builder.
    pub fn date_values(&self) -> Option<&[i32]> {
        match self {
            ColumnBuilder::Date(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes held so far (for load progress and the memory figures).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ColumnBuilder::Int2(v) => v.capacity() * 2,
            ColumnBuilder::Int4(v) | ColumnBuilder::Date(v) => v.capacity() * 4,
            ColumnBuilder::Float4(v) => v.capacity() * 4,
            ColumnBuilder::Int8(v)
            | ColumnBuilder::Timestamp(v)
            | ColumnBuilder::TimestampTz(v) => v.capacity() * 8,
            ColumnBuilder::Float8(v) => v.capacity() * 8,
            ColumnBuilder::Decimal { values, .. } => values.heap_bytes(),
            ColumnBuilder::DecimalText(a) => a.heap_bytes(),
            ColumnBuilder::Bool(b) => b.heap_bytes(),
            ColumnBuilder::Text {
                dict,
                lookup,
                codes,
            } => dict.heap_bytes() * 2 + lookup.capacity() * 24 + codes.capacity() * 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::schema::ColumnKind;

    #[test]
    fn mantissas_keep_nan_and_30_digit_values() {
        let build = |p: u16, ms: &[Option<i128>]| {
            let mut d = Decimals::for_precision(p, ms.len());
            assert!(ms.iter().all(|&m| d.push(m)));
            let order: Vec<u32> = (0..ms.len() as u32).collect();
            Mantissas::encode(&d, &order)
        };
        let d = build(10, &[Some(1230), Some(-5), None]);
        assert!(matches!(d, Mantissas::Narrow(_)));
        assert_eq!((d.get(0), d.get(1), d.get(2)), (Some(1230), Some(-5), None));
        let d = build(12, &[Some(9_999_999_999)]);
        assert_eq!(d.get(0), Some(9_999_999_999));
        let big = 10i128.pow(30);
        let d = build(38, &[Some(big), Some(-big), None, Some(0)]);
        assert!(matches!(d, Mantissas::Wide(_)));
        assert_eq!(
            (0..4).map(|i| d.get(i)).collect::<Vec<_>>(),
            [Some(big), Some(-big), None, Some(0)]
        );
        // i64::MIN itself does not fit the narrow form (it is its NaN).
        let d = build(19, &[Some(i64::MIN as i128), Some(i64::MAX as i128)]);
        assert_eq!(d.get(0), Some(i64::MIN as i128));
        assert_eq!(d.get(1), Some(i64::MAX as i128));
    }

    #[test]
    fn text_is_dictionary_encoded() {
        let mut b = ColumnBuilder::new(ColumnKind::Text, 4);
        for s in ["银行", "半导体", "银行", "银行"] {
            b.push(Some(s.as_bytes())).unwrap();
        }
        let col = Column {
            data: b.finish(&[3, 1, 0, 2]),
            nulls: None,
        };
        assert_eq!(col.dict().map(StrArena::len), Some(2));
        let got: Vec<Value> = col.values(0..4).collect();
        use Value::Text;
        assert_eq!(
            got,
            [Text("银行"), Text("半导体"), Text("银行"), Text("银行")]
        );
        assert_eq!(col.text_code(1), Some(1));
    }

    #[test]
    fn wrong_width_is_an_error_not_a_panic() {
        let mut b = ColumnBuilder::new(ColumnKind::Int4, 1);
        assert_eq!(
            b.push(Some(&[0, 1])),
            Err(DecodeError::Length {
                kind: "integer",
                expected: 4,
                got: 2
            })
        );
    }

    #[test]
    fn bitmap_round_trips() {
        let mut b = Bitmap::with_capacity(130);
        for i in 0..130 {
            b.push(i % 3 == 0);
        }
        assert_eq!(b.len(), 130);
        assert!((0..130).all(|i| b.get(i) == (i % 3 == 0)));
        assert_eq!(b.count_ones(), 44);
    }
}
