//! Typed column buffers. Integers, dates, timestamps, numeric mantissas,
//! decimal-valued doubles and the bit patterns of other doubles and reals
//! are held bit-packed in blocks of 1,024 rows (see [`super::packed`]),
//! each block at the width its own values need; text as dictionary codes
//! of 1, 2 or 4 bytes; booleans and NULLs as bitmaps. Values are written
//! back out exactly as PostgreSQL holds them (see [`super::json`]).

use super::packed::{self, f64_key, Packed, BLOCK};
use super::shared::{extend, room_for, Shared};
use std::collections::HashMap;
use std::sync::Arc;

/// Bits per block of a [`Bitmap::sparse`] bitmap.
const BITS_BLOCK: usize = 4096;
const WORDS_BLOCK: usize = BITS_BLOCK / 64;
/// A block of a sparse bitmap with no bit set.
const NO_WORDS: u32 = u32::MAX;

/// A fixed-length bit set.
///
/// Dense (one bit a row), or, for a column's NULL map, sparse
/// ([`Bitmap::sparse`]): only the blocks of 4,096 rows that hold a set bit
/// keep their words. A year of demo data has NULLs in 49 columns, 34 of
/// them in fewer than half the blocks (`up_limit`: 2 rows in 2 of 322);
/// their dense maps took 161 KiB each.
#[derive(Debug, Clone, Default)]
pub struct Bitmap {
    words: Vec<u64>,
    len: usize,
    /// Sparse: where each block's words start in `words`, or [`NO_WORDS`].
    blocks: Option<Box<[u32]>>,
}

impl PartialEq for Bitmap {
    fn eq(&self, other: &Bitmap) -> bool {
        self.len == other.len && self.dense_words() == other.dense_words()
    }
}

impl Eq for Bitmap {}

impl Bitmap {
    pub fn with_capacity(bits: usize) -> Bitmap {
        Bitmap {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
            blocks: None,
        }
    }

    pub fn push(&mut self, bit: bool) {
        if self.blocks.is_some() {
            *self = Bitmap::from_dense(self.dense_words().into_owned(), self.len);
        }
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }

    /// The index in `words` of the word holding bit `i`; `None` in a sparse
    /// block with no bit set.
    #[inline]
    fn word_of(&self, i: usize) -> Option<usize> {
        match &self.blocks {
            None => Some(i / 64),
            Some(b) => match b[i / BITS_BLOCK] {
                NO_WORDS => None,
                at => Some(at as usize + (i % BITS_BLOCK) / 64),
            },
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.word_of(i)
            .is_some_and(|w| self.words[w] >> (i % 64) & 1 == 1)
    }

    /// The address of the word holding bit `i` (for a prefetch hint).
    #[inline]
    pub fn addr(&self, i: usize) -> *const u8 {
        let w = self.word_of(i).unwrap_or(0);
        self.words.as_ptr().wrapping_add(w).cast()
    }

    fn from_dense(words: Vec<u64>, len: usize) -> Bitmap {
        Bitmap {
            words,
            len,
            blocks: None,
        }
    }

    /// The same bits, with only the blocks that hold a set bit kept when
    /// that is smaller (a NULL map of a column whose NULLs are rare or
    /// bunched: a new listing's first days).
    pub fn sparse(self) -> Bitmap {
        if self.blocks.is_some() {
            return self;
        }
        let kept = self
            .words
            .chunks(WORDS_BLOCK)
            .filter(|b| b.iter().any(|&w| w != 0))
            .count();
        let blocks = self.words.len().div_ceil(WORDS_BLOCK);
        if (kept * WORDS_BLOCK * 8 + blocks * 4) * 2 > self.words.len() * 8 {
            return self;
        }
        let mut words = Vec::with_capacity(kept * WORDS_BLOCK);
        let mut at = Vec::with_capacity(blocks);
        for b in self.words.chunks(WORDS_BLOCK) {
            if b.iter().any(|&w| w != 0) {
                at.push(words.len() as u32);
                words.extend_from_slice(b);
            } else {
                at.push(NO_WORDS);
            }
        }
        Bitmap {
            words,
            len: self.len,
            blocks: Some(at.into()),
        }
    }

    /// One bit a row, as a snapshot and Arrow hold them.
    pub(crate) fn dense_words(&self) -> std::borrow::Cow<'_, [u64]> {
        let Some(blocks) = &self.blocks else {
            return std::borrow::Cow::Borrowed(&self.words);
        };
        let mut out = vec![0u64; self.len.div_ceil(64)];
        for (b, &at) in blocks.iter().enumerate() {
            if at != NO_WORDS {
                let start = b * WORDS_BLOCK;
                let n = WORDS_BLOCK.min(out.len() - start);
                out[start..start + n].copy_from_slice(&self.words[at as usize..at as usize + n]);
            }
        }
        std::borrow::Cow::Owned(out)
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
        self.words.capacity() * 8 + self.blocks.as_ref().map_or(0, |b| b.len() * 4)
    }

    fn shrink(&mut self) {
        self.words.shrink_to_fit();
    }

    /// The bits in the order `perm` gives: bit i of the result is bit
    /// `perm[i]` of `self`.
    pub fn permute(&self, perm: &[u32]) -> Bitmap {
        let mut out = Bitmap::with_capacity(perm.len());
        for &r in perm {
            out.push(self.get(r as usize));
        }
        out
    }

    /// These bits followed by `more`'s (`None` stands for all clear).
    pub(crate) fn concat(
        a: Option<&Bitmap>,
        a_len: usize,
        b: Option<&Bitmap>,
        b_len: usize,
    ) -> Bitmap {
        let mut out = Bitmap::with_capacity(a_len + b_len);
        for i in 0..a_len {
            out.push(a.is_some_and(|a| a.get(i)));
        }
        for i in 0..b_len {
            out.push(b.is_some_and(|b| b.get(i)));
        }
        out
    }

    /// A bitmap from its words; `None` if they do not match `len`.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<Bitmap> {
        (words.len() == len.div_ceil(64)).then(|| Bitmap::from_dense(words, len))
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

    /// The strings in the order `perm` gives.
    fn permute(&self, perm: &[u32]) -> StrArena {
        let mut out = StrArena {
            bytes: String::with_capacity(self.bytes.len()),
            ends: Vec::with_capacity(perm.len()),
        };
        for &r in perm {
            out.push(self.get(r as usize));
        }
        out
    }

    /// These strings followed by `more`'s.
    fn concat(&self, more: &StrArena) -> StrArena {
        let mut out = StrArena {
            bytes: String::with_capacity(self.bytes.len() + more.bytes.len()),
            ends: Vec::with_capacity(self.len() + more.len()),
        };
        for i in 0..self.len() {
            out.push(self.get(i));
        }
        for i in 0..more.len() {
            out.push(more.get(i));
        }
        out
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

/// Dictionary codes, bit-packed in blocks like integers ([`Packed`]).
///
/// A load numbers a dictionary so that its codes follow the rows (see
/// [`ColumnBuilder::renumber`]): the code column's in code order, which a
/// date's rows follow, and the others' by their first row in code order,
/// so that the codes of a code and a name column rise along a date's rows
/// and a block holds them as offsets from a line (year scale: 3.0 and 6.8
/// bits a value, dictionary included, against 16 as 2-byte codes); a
/// column of a few dozen industries takes their width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codes(Packed);

impl Default for Codes {
    /// No codes (a snapshot's values held by stock, until linked to the
    /// code column's: [`ColumnData::link_codes`]).
    fn default() -> Codes {
        Codes::new(&[])
    }
}

impl Codes {
    fn new(codes: &[u32]) -> Codes {
        Codes(Packed::of(codes))
    }

    /// `packed` as the codes of a dictionary of `entries`, if every one
    /// is below it (a snapshot's part, checked).
    pub(super) fn from_packed(packed: Packed, entries: usize) -> Option<Codes> {
        let in_range = packed
            .iter()
            .all(|c| usize::try_from(c).is_ok_and(|c| c < entries));
        in_range.then_some(Codes(packed))
    }

    pub(super) fn packed(&self) -> &Packed {
        &self.0
    }

    fn at(&self, i: usize) -> *const u8 {
        self.0.addr(i)
    }

    fn permute(&self, perm: &[u32]) -> Codes {
        Codes(self.0.permute(perm))
    }

    /// Row `i`'s code. Codes are below the dictionary's length (built so,
    /// or checked), so the narrowing is exact.
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        self.0.get(i) as u32
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn heap_bytes(&self) -> usize {
        self.0.bytes()
    }

    /// These codes followed by `more`'s (codes of a dictionary that
    /// extends this one's), in the room after these where there is some.
    fn append(&self, more: &[u32]) -> Codes {
        Codes(
            self.0
                .append(&more.iter().map(|&c| i64::from(c)).collect::<Vec<_>>()),
        )
    }
}

/// Scaled decimal mantissas: bit-packed in blocks (see [`Packed`]) when
/// every one fits an i64, else 16 bytes each. The minimum of the type is
/// the NaN sentinel: `numeric(p,s)` never reaches it, since p digits fit
/// with room to spare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decimals {
    Packed(Packed),
    I128(Shared<i128>),
    /// Offsets from a value of the row's stock (see [`ByCode`]).
    ByCode(ByCode),
}

/// Mantissas held as offsets from a value of each stock: mantissa =
/// `base[code] + offset`, the offsets bit-packed (wrapping, so every i64
/// is exact). A date's rows are a run of every stock, so a block of plain
/// frame-of-reference spans the whole market's range; a value that moves
/// little for a stock (its share count, which changes on a corporate
/// action, or none) spans only its own stock's moves this way. Chosen at
/// load per column when it is at least a tenth smaller
/// ([`Decimals::by_code`]): the demo data's `total_share` and
/// `float_share` take 0.5 bits a value at year scale, the bases included,
/// instead of 37 (291.4 -> 282.4 B/row; RSS after load 396 -> 386 MiB).
///
/// `codes` are the code column's own (the same buffers, not counted
/// twice); `base` has one value per entry of its dictionary, the middle of
/// that stock's range at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByCode {
    pub base: Arc<[i64]>,
    pub codes: Codes,
    pub offsets: Packed,
}

impl ByCode {
    #[inline]
    fn get(&self, i: usize) -> i64 {
        let base = self.base.get(self.codes.get(i) as usize).copied();
        base.unwrap_or(0).wrapping_add(self.offsets.get(i))
    }

    /// The offsets of `values` from `base`, which grows to a dictionary
    /// of `entries`, a new stock's base the middle of its values; a NULL
    /// row (`null(r)`) holds 0. `code(r)`: the code of `values[r]`.
    /// `None` if a code is not below `entries`.
    fn offsets(
        base: &mut Vec<i64>,
        entries: usize,
        values: &[i64],
        code: impl Fn(usize) -> u32,
        null: impl Fn(usize) -> bool,
    ) -> Option<Vec<i64>> {
        let known = base.len();
        let mut range = vec![(i64::MAX, i64::MIN); entries.checked_sub(known)?];
        for (r, &v) in values.iter().enumerate() {
            let c = code(r) as usize;
            if c >= entries {
                return None;
            }
            if c < known || v == i64::MIN || null(r) {
                continue;
            }
            let (lo, hi) = &mut range[c - known];
            (*lo, *hi) = ((*lo).min(v), (*hi).max(v));
        }
        base.extend(range.iter().map(|&(lo, hi)| middle(lo, hi)));
        let offsets = values
            .iter()
            .enumerate()
            .map(|(r, &v)| match null(r) {
                true => 0,
                false => v.wrapping_sub(base[code(r) as usize]),
            })
            .collect();
        Some(offsets)
    }
}

/// A store's codes, a row each, and the number of entries of its code
/// dictionary: what values held by stock are read by.
pub type StockCodes<'a> = (&'a Codes, usize);

/// The middle of `lo..=hi`, or 0 for an empty range (`lo > hi`).
fn middle(lo: i64, hi: i64) -> i64 {
    match lo <= hi {
        true => ((lo as i128 + hi as i128) / 2) as i64,
        false => 0,
    }
}

impl Decimals {
    fn at(&self, i: usize) -> *const u8 {
        match self {
            Decimals::Packed(v) => v.addr(i),
            Decimals::I128(v) => v.as_ptr().wrapping_add(i).cast(),
            Decimals::ByCode(v) => v.offsets.addr(i),
        }
    }

    /// The bit-packed blocks of these mantissas (of their offsets, held
    /// by stock), if they are so held.
    fn packed(&self) -> Option<&Packed> {
        match self {
            Decimals::Packed(v) => Some(v),
            Decimals::ByCode(v) => Some(&v.offsets),
            Decimals::I128(_) => None,
        }
    }

    fn permute(&self, perm: &[u32]) -> Decimals {
        match self {
            Decimals::Packed(v) => Decimals::Packed(v.permute(perm)),
            Decimals::I128(v) => Decimals::I128(gather(v, perm)),
            // The codes would move too: plain again (a load chooses
            // after its rows are in order, so this is not met there).
            Decimals::ByCode(v) => Decimals::Packed(Packed::new(
                &perm.iter().map(|&r| v.get(r as usize)).collect::<Vec<_>>(),
            )),
        }
    }

    /// The mantissa, or `None` for NaN.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i128> {
        match self {
            Decimals::Packed(v) => {
                let m = v.get(i);
                (m != i64::MIN).then_some(m as i128)
            }
            Decimals::I128(v) => (v[i] != i128::MIN).then_some(v[i]),
            Decimals::ByCode(v) => {
                let m = v.get(i);
                (m != i64::MIN).then_some(m as i128)
            }
        }
    }

    /// Bytes held (the codes of [`Decimals::ByCode`] are the code
    /// column's, counted there).
    fn heap_bytes(&self) -> usize {
        match self {
            Decimals::Packed(v) => v.bytes(),
            Decimals::I128(v) => v.bytes(),
            Decimals::ByCode(v) => v.offsets.bytes() + v.base.len() * 8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Decimals::Packed(v) => v.len(),
            Decimals::I128(v) => v.len(),
            Decimals::ByCode(v) => v.offsets.len(),
        }
    }

    /// These mantissas held by stock ([`ByCode`]) when that is at least a
    /// tenth smaller, judged on about 64 blocks spread over the rows
    /// (whose rows give each stock's middle there): then all of them, each
    /// stock's base the middle of its range. `codes` are the rows' codes,
    /// of a dictionary of `entries`, and `ids` the same decoded; `null(r)`:
    /// row r is NULL (it holds 0). A year's 45 such columns are judged in
    /// about 50 ms on 2 cores.
    pub fn by_code(
        &self,
        (codes, entries): StockCodes<'_>,
        ids: &[u32],
        null: impl Fn(usize) -> bool + Copy,
    ) -> Option<Decimals> {
        let Decimals::Packed(plain) = self else {
            return None;
        };
        let (rows, blocks) = (plain.len(), plain.len() / BLOCK);
        if codes.len() != rows || ids.len() != rows || blocks < 4 {
            return None;
        }
        // About 64 blocks, spread over the dates.
        let sample: Vec<usize> = (0..blocks).step_by(blocks.div_ceil(64)).collect();
        let rows_at: Vec<usize> = sample
            .iter()
            .flat_map(|&b| b * BLOCK..(b + 1) * BLOCK)
            .collect();
        let values: Vec<i64> = rows_at.iter().map(|&r| plain.get(r)).collect();
        let code = |k: usize| ids[rows_at[k]];
        let offsets = ByCode::offsets(&mut Vec::new(), entries, &values, code, |k| {
            null(rows_at[k])
        })?;
        let was: usize = sample.iter().map(|&b| plain.block_bytes(b)).sum();
        let now: usize = offsets.chunks(BLOCK).map(packed::block_bytes_of).sum();
        let base_share = entries * 8 * sample.len() / blocks;
        if (now + base_share) * 10 > was * 9 {
            return None;
        }
        let values: Vec<i64> = plain.iter().collect();
        let mut base = Vec::with_capacity(entries);
        let offsets = ByCode::offsets(&mut base, entries, &values, |r| ids[r], null)?;
        Some(Decimals::ByCode(ByCode {
            base: base.into(),
            codes: codes.clone(),
            offsets: Packed::new(&offsets),
        }))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mantissas as i64, NaN as `i64::MIN`; `None` if one needs more.
    fn narrow_values(&self) -> Option<Vec<i64>> {
        (0..self.len())
            .map(|i| match self.get(i) {
                None => Some(i64::MIN),
                Some(m) => i64::try_from(m).ok().filter(|&m| m != i64::MIN),
            })
            .collect()
    }

    /// These mantissas followed by `more`'s: appended into this column's
    /// blocks when both are packed, else all of them again as i128.
    /// Offsets by stock are appended when `by` gives the codes of every
    /// row (these and `more`'s) and which of `more`'s rows are NULL; else
    /// every mantissa is packed again.
    fn append(&self, more: &Decimals, by: Option<(StockCodes<'_>, Option<&Bitmap>)>) -> Decimals {
        match (self, more) {
            (Decimals::ByCode(a), _) => {
                let at = a.offsets.len();
                if let (Some((codes, nulls)), Some(b)) = (by, more.narrow_values()) {
                    let mut base = a.base.to_vec();
                    let null = |r: usize| nulls.is_some_and(|n| n.get(r));
                    let code = |r: usize| codes.0.get(at + r);
                    let offsets = (codes.0.len() == at + b.len())
                        .then(|| ByCode::offsets(&mut base, codes.1, &b, code, null))
                        .flatten();
                    if let Some(offsets) = offsets {
                        return Decimals::ByCode(ByCode {
                            base: match base.len() == a.base.len() {
                                true => a.base.clone(),
                                false => base.into(),
                            },
                            codes: codes.0.clone(),
                            offsets: a.offsets.append(&offsets),
                        });
                    }
                }
                let all = (0..at).map(|i| self.get(i));
                let all = all.chain((0..more.len()).map(|i| more.get(i)));
                Mantissas::I128(all.map(|m| m.unwrap_or(i128::MIN)).collect()).narrow()
            }
            (Decimals::Packed(a), Decimals::Packed(b)) => Decimals::Packed(a.append_packed(b)),
            (Decimals::Packed(a), _) => match more.narrow_values() {
                Some(b) => Decimals::Packed(a.append(&b)),
                None => Decimals::I128(Shared::from(
                    (0..self.len())
                        .map(|i| self.get(i))
                        .chain((0..more.len()).map(|i| more.get(i)))
                        .map(|m| m.unwrap_or(i128::MIN))
                        .collect::<Vec<_>>(),
                )),
            },
            (Decimals::I128(a), _) => Decimals::I128(extend(
                a,
                &(0..more.len())
                    .map(|i| more.get(i).unwrap_or(i128::MIN))
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

/// Mantissas being loaded: [`Decimals`] while it grows.
#[derive(Debug)]
pub enum Mantissas {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I128(Vec<i128>),
}

impl Mantissas {
    /// An empty buffer of the width `precision` digits need.
    fn for_precision(precision: u16, capacity: usize) -> Mantissas {
        Mantissas::of_width(
            match precision {
                0..=4 => 2,
                5..=9 => 4,
                10..=18 => 8,
                _ => 16,
            },
            capacity,
        )
    }

    fn of_width(bytes: usize, capacity: usize) -> Mantissas {
        match bytes {
            0..=2 => Mantissas::I16(Vec::with_capacity(capacity)),
            3..=4 => Mantissas::I32(Vec::with_capacity(capacity)),
            5..=8 => Mantissas::I64(Vec::with_capacity(capacity)),
            _ => Mantissas::I128(Vec::with_capacity(capacity)),
        }
    }

    /// The last mantissa pushed, if any and not NaN.
    fn last(&self) -> Option<i128> {
        match self {
            Mantissas::I16(v) => v.last().filter(|&&m| m != i16::MIN).map(|&m| m as i128),
            Mantissas::I32(v) => v.last().filter(|&&m| m != i32::MIN).map(|&m| m as i128),
            Mantissas::I64(v) => v.last().filter(|&&m| m != i64::MIN).map(|&m| m as i128),
            Mantissas::I128(v) => v.last().filter(|&&m| m != i128::MIN).copied(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Mantissas::I16(v) => v.capacity() * 2,
            Mantissas::I32(v) => v.capacity() * 4,
            Mantissas::I64(v) => v.capacity() * 8,
            Mantissas::I128(v) => v.capacity() * 16,
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
            Mantissas::I16(v) => put(v, m, i16::MIN),
            Mantissas::I32(v) => put(v, m, i32::MIN),
            Mantissas::I64(v) => put(v, m, i64::MIN),
            Mantissas::I128(v) => put(v, m, i128::MIN),
        }
    }

    /// The mantissas bit-packed when every one fits an i64 (lossless: the
    /// declared precision is an upper bound, the data often needs less),
    /// else as i128.
    fn narrow(self) -> Decimals {
        let packed = |v: Vec<i64>| Decimals::Packed(Packed::new(&v));
        match self {
            Mantissas::I16(v) => packed(
                v.iter()
                    .map(|&m| if m == i16::MIN { i64::MIN } else { m as i64 })
                    .collect(),
            ),
            Mantissas::I32(v) => packed(
                v.iter()
                    .map(|&m| if m == i32::MIN { i64::MIN } else { m as i64 })
                    .collect(),
            ),
            Mantissas::I64(v) => packed(v),
            Mantissas::I128(v) => {
                let narrow = all_some(
                    v.len(),
                    v.iter().map(|&m| match m {
                        i128::MIN => Some(i64::MIN),
                        m => i64::try_from(m).ok().filter(|&m| m != i64::MIN),
                    }),
                );
                match narrow {
                    Some(n) => packed(n),
                    None => Decimals::I128(v.into()),
                }
            }
        }
    }
}

/// Powers of ten that are exact in f64, for [`ColumnData::DecimalF64`].
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// The value of a [`ColumnData::DecimalF64`] mantissa: the same division
/// [`decimal_floats`] verified at load.
#[inline]
pub fn decimal_f64(mantissa: i128, den: u64) -> f64 {
    // The same rounding either way; from i64 it is one instruction, from
    // i128 a library call.
    match i64::try_from(mantissa) {
        Ok(m) => m as f64 / den as f64,
        Err(_) => mantissa as f64 / den as f64,
    }
}

/// The largest denominator a [`ColumnData::DecimalF64`] may have: every
/// integer up to 2^53 is exact in f64.
pub const MAX_DEN: u64 = 1 << 53;

/// The exponent `e` of a denominator that is 10^e (a decimal); `None`
/// for a fraction's.
#[inline]
pub fn decimal_exp(den: u64) -> Option<u8> {
    let e = den.checked_ilog10()?;
    (e < POW10.len() as u32 && 10u64.pow(e) == den).then_some(e as u8)
}

/// Factors `m` of the fraction denominators `m × 10^e` tried when a double
/// column is not decimal: every `m` up to 250 (the longest usual moving
/// window, MA250) that is not a product of twos and fives only (those make
/// decimals). A moving average of prices in cents over 30 days is
/// `sum / 3000` (m = 3), an ATR over 14 days `sum / 1400` (m = 14).
fn fraction_factors() -> impl Iterator<Item = u64> {
    (3..=250u64).filter(|&m| {
        let mut r = m;
        while r % 2 == 0 {
            r /= 2;
        }
        while r % 5 == 0 {
            r /= 5;
        }
        r != 1
    })
}

/// Mantissa of `x` over `den` when `mantissa / den` gives `x` back bit for
/// bit through [`decimal_f64`] and the mantissa is at most 2^53.
#[inline]
fn over(x: f64, den: f64) -> Option<i64> {
    const LIMIT: f64 = MAX_DEN as f64;
    let m = (x * den).round();
    if m.is_nan() || m.abs() > LIMIT {
        return None;
    }
    let m = m as i64;
    ((m as f64 / den).to_bits() == x.to_bits()).then_some(m)
}

/// The smallest `m × 10^e` (e ≤ 9) over which every value of `v` is an
/// exact mantissa, trying exponents in order: a full-precision value fails
/// every exponent at once, so a column that is not such costs a few
/// operations per `m`. The exponent only grows, so the caller checks every
/// value again at the one returned.
fn smallest_den(v: &[f64], m: u64) -> Option<u64> {
    let mut e = 0;
    for &x in v {
        while over(x, m as f64 * POW10[e]).is_none() {
            e += 1;
            if e == POW10.len() {
                return None;
            }
        }
    }
    Some(m * POW10[e] as u64)
}

/// Mantissas and denominator that give back every value of `v` bit for
/// bit through [`decimal_f64`] (value = mantissa as f64 / den, one
/// correctly rounded division of exact operands), if every mantissa is at
/// most 2^53 (else `None`: the column stays plain f64). Non-finite values
/// and -0.0 keep a column plain.
///
/// Decimals first (den = 10^e: prices, volumes, money); then fractions
/// `m × 10^e` (see [`fraction_factors`]): the factors that fit the first
/// 64 non-integer values are tried on the whole column, the smallest
/// denominator they need first.
/// Either way every value is encoded and checked at the denominator
/// chosen, so nothing is ever held that does not read back exactly.
pub(crate) fn decimal_floats(v: &[f64]) -> Option<(u64, Decimals)> {
    let encode = |den: u64| -> Option<(u64, Decimals)> {
        let out = all_some(v.len(), v.iter().map(|&x| over(x, den as f64)));
        Some((den, Decimals::Packed(Packed::new(&out?))))
    };
    if let Some(den) = smallest_den(v, 1) {
        return encode(den);
    }
    let sample: Vec<f64> = v
        .iter()
        .copied()
        .filter(|x| x.fract() != 0.0)
        .take(64)
        .collect();
    // Smallest denominator first: a 120-day average is an integer over
    // 12,000 and also (five times larger) over 60,000.
    let mut dens: Vec<(u64, u64)> = fraction_factors()
        .filter_map(|m| Some((smallest_den(&sample, m)?, m)))
        .collect();
    dens.sort_unstable();
    dens.into_iter()
        .find_map(|(_, m)| encode(smallest_den(v, m)?))
}

/// The `len` items of `items`, or `None` at the first that is `None`, in a
/// vector sized once: collecting into `Option<Vec<_>>` cannot know the
/// length and grows the vector by doubling (copies, page faults and
/// purges: a tenth of a load's finish).
fn all_some<T>(len: usize, items: impl Iterator<Item = Option<T>>) -> Option<Vec<T>> {
    let mut out = Vec::with_capacity(len);
    for x in items {
        out.push(x?);
    }
    Some(out)
}

/// Distinct values a [`Doubles`] dictionary holds at most (codes of at
/// most 8 bits).
pub const DICT_MAX: usize = 256;

/// A `double precision` column that is neither decimal nor fraction: as
/// codes into a dictionary of its distinct values when it has at most
/// [`DICT_MAX`] of them (an indicator on a fixed grid: `psy12`, the share
/// of up days among the last 12, takes 13 values), else by bit pattern
/// ([`f64_key`]). Both are bit-exact: the dictionary holds bit patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct Doubles {
    /// The distinct values' bit patterns; `None`: `values` holds keys.
    pub dict: Option<Arc<[u64]>>,
    pub values: Packed,
}

impl Doubles {
    pub fn new(v: &[f64]) -> Doubles {
        // No rows, no dictionary (a snapshot refuses an empty one).
        match (!v.is_empty()).then(|| dictionary(&[], v)).flatten() {
            Some((dict, codes)) => Doubles {
                dict: Some(dict.into()),
                values: Packed::new(&codes),
            },
            None => Doubles {
                dict: None,
                values: Packed::of_f64s(v),
            },
        }
    }

    /// A column of keys, or of codes into `dict` (every code checked to be
    /// one of its entries, for a snapshot's).
    pub fn from_parts(dict: Option<Vec<u64>>, values: Packed) -> Result<Doubles, &'static str> {
        if let Some(d) = &dict {
            if d.is_empty() || d.len() > DICT_MAX {
                return Err("double dictionary empty or over 256 values");
            }
            if values.iter().any(|c| c < 0 || c as usize >= d.len()) {
                return Err("double dictionary code past its entries");
            }
        }
        Ok(Doubles {
            dict: dict.map(Into::into),
            values,
        })
    }

    /// Row `i`'s value.
    #[inline]
    pub fn f64(&self, i: usize) -> f64 {
        let k = self.values.get(i);
        match &self.dict {
            None => super::packed::f64_of(k),
            // Codes are below the dictionary's length (built so, or checked).
            Some(d) => f64::from_bits(d[k as usize]),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.values.bytes() + self.dict.as_ref().map_or(0, |d| d.len() * 8)
    }

    fn permute(&self, perm: &[u32]) -> Doubles {
        Doubles {
            dict: self.dict.clone(),
            values: self.values.permute(perm),
        }
    }

    /// These values followed by `more`: appended into this column's blocks
    /// as keys, or as codes when the dictionary holds them or can take the
    /// new ones (appended after the old entries, whose codes stay); else
    /// the whole column is encoded again.
    fn append(&self, more: &[f64]) -> Doubles {
        match &self.dict {
            None => Doubles {
                dict: None,
                values: self
                    .values
                    .append(&more.iter().map(|&x| f64_key(x)).collect::<Vec<_>>()),
            },
            Some(d) => match dictionary(d, more) {
                Some((dict, codes)) => Doubles {
                    dict: Some(if dict.len() == d.len() {
                        d.clone()
                    } else {
                        dict.into()
                    }),
                    values: self.values.append(&codes),
                },
                None => {
                    let mut all: Vec<f64> = (0..self.len()).map(|i| self.f64(i)).collect();
                    all.extend_from_slice(more);
                    Doubles::new(&all)
                }
            },
        }
    }
}

/// `known` (a dictionary's entries) followed by the new distinct bit
/// patterns of `v`, and `v`'s codes into it; `None` past [`DICT_MAX`]
/// entries (a column of any other doubles stops after 257 values). New
/// entries are put in key order, so that nearby values get nearby codes.
fn dictionary(known: &[u64], v: &[f64]) -> Option<(Vec<u64>, Vec<i64>)> {
    let mut at: HashMap<u64, i64> = known.iter().zip(0..).map(|(&b, i)| (b, i)).collect();
    let mut new: Vec<u64> = Vec::new();
    for x in v {
        let b = x.to_bits();
        if !at.contains_key(&b) {
            if at.len() == DICT_MAX {
                return None;
            }
            at.insert(b, -1);
            new.push(b);
        }
    }
    new.sort_unstable_by_key(|&b| f64_key(f64::from_bits(b)));
    let mut dict = known.to_vec();
    for b in new {
        at.insert(b, dict.len() as i64);
        dict.push(b);
    }
    let codes = all_some(v.len(), v.iter().map(|x| at.get(&x.to_bits()).copied()));
    Some((dict, codes?))
}

/// Powers of ten that are exact in f32, for [`Reals`].
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// A `real` column: as decimal mantissas, bit-packed, when every value is
/// an integer of at most 2^24 over a power of ten (value = mantissa as
/// f32 / 10^exp, one correctly rounded division of exact operands, checked
/// bit for bit at load); else by the values' bit patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reals {
    pub exp: Option<u8>,
    pub values: Packed,
}

impl Reals {
    pub fn new(v: &[f32]) -> Reals {
        match decimal_reals(v) {
            Some((exp, m)) => Reals {
                exp: Some(exp),
                values: Packed::new(&m),
            },
            None => Reals {
                exp: None,
                values: Packed::of_f32s(v),
            },
        }
    }

    /// Row `i`'s value.
    #[inline]
    pub fn f32(&self, i: usize) -> f32 {
        let k = self.values.get(i);
        match self.exp {
            None => super::packed::f32_of(k),
            Some(e) => k as f32 / POW10_F32[e as usize],
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.values.bytes()
    }

    fn permute(&self, perm: &[u32]) -> Reals {
        Reals {
            exp: self.exp,
            values: self.values.permute(perm),
        }
    }

    /// These values followed by `more`'s: appended into this column's
    /// blocks when `more` is held alike (its values encode at this
    /// exponent, checked), else the whole column encoded again.
    fn append(&self, more: &Reals) -> Reals {
        let theirs: Vec<f32> = (0..more.len()).map(|i| more.f32(i)).collect();
        let keys: Option<Vec<i64>> = match self.exp {
            None => Some(theirs.iter().map(|&x| super::packed::f32_key(x)).collect()),
            Some(e) => all_some(
                theirs.len(),
                theirs.iter().map(|&x| real_mantissa(x, e as usize)),
            ),
        };
        match keys {
            Some(k) => Reals {
                exp: self.exp,
                values: self.values.append(&k),
            },
            None => {
                let mut all: Vec<f32> = (0..self.len()).map(|i| self.f32(i)).collect();
                all.extend_from_slice(&theirs);
                Reals::new(&all)
            }
        }
    }
}

/// `x`'s mantissa at exponent `e`, if it gives `x` back bit for bit.
fn real_mantissa(x: f32, e: usize) -> Option<i64> {
    const LIMIT: f64 = (1u32 << 24) as f64;
    let m = (x as f64 * POW10_F32[e] as f64).round();
    if m.is_nan() || m.abs() > LIMIT {
        return None;
    }
    let m = m as i64;
    ((m as f32 / POW10_F32[e]).to_bits() == x.to_bits()).then_some(m)
}

/// The smallest exponent at which every value of `v` is a mantissa of at
/// most 2^24 (see [`Reals`]), and the mantissas.
fn decimal_reals(v: &[f32]) -> Option<(u8, Vec<i64>)> {
    let mut e = 0;
    for &x in v {
        while real_mantissa(x, e).is_none() {
            e += 1;
            if e == POW10_F32.len() {
                return None;
            }
        }
    }
    let m = all_some(v.len(), v.iter().map(|&x| real_mantissa(x, e)))?;
    Some((e as u8, m))
}

/// One column's values. A NULL row holds a placeholder (the value of the
/// row before it, so that it does not widen its block; empty text, false);
/// the column's null bitmap says which rows are NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Integers, dates and timestamps are held bit-packed in blocks
    /// ([`Packed`]); doubles and reals by their bit patterns (see
    /// [`super::packed::f64_key`]).
    Int2(Packed),
    Int4(Packed),
    Int8(Packed),
    Float4(Reals),
    Float8(Doubles),
    /// A `double precision` column whose every value is an integer over a
    /// power of ten (prices, volumes, money with two decimals — most of a
    /// market table) or over `m × 10^e` (moving averages of prices in
    /// cents): value = mantissa as f64 / den, bit-packed. Chosen at load
    /// only when that exact division gives back every loaded value bit for
    /// bit (see [`decimal_floats`]).
    DecimalF64 {
        /// 10^e for a decimal, m × 10^e for a fraction; at most [`MAX_DEN`].
        den: u64,
        values: Decimals,
    },
    /// `numeric(p,s)` with s ≤ 38 digits of mantissa: value = mantissa / 10^scale.
    Decimal {
        scale: u16,
        values: Decimals,
    },
    /// Unconstrained or very wide numeric: exact canonical decimal text
    /// (`NaN`, `Infinity` and `-Infinity` included).
    DecimalText(StrArena),
    Bool(Bitmap),
    /// Days since 2000-01-01 (PostgreSQL's epoch); i32::MIN/MAX = -infinity/infinity.
    Date(Packed),
    /// Microseconds since 2000-01-01 00:00:00; i64::MIN/MAX = -infinity/infinity.
    Timestamp(Packed),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(Packed),
    /// Dictionary-encoded text.
    Text {
        dict: StrArena,
        codes: Codes,
    },
}

impl ColumnData {
    /// The bit-packed blocks holding this column's values (a text
    /// column's codes), if they are so held (every type but booleans,
    /// decimal text and numeric past 18 digits).
    #[inline]
    pub fn packed(&self) -> Option<&Packed> {
        match self {
            ColumnData::Int2(v)
            | ColumnData::Int4(v)
            | ColumnData::Date(v)
            | ColumnData::Int8(v)
            | ColumnData::Timestamp(v)
            | ColumnData::TimestampTz(v) => Some(v),
            ColumnData::Float4(v) => Some(&v.values),
            ColumnData::Float8(v) => Some(&v.values),
            ColumnData::DecimalF64 { values, .. } | ColumnData::Decimal { values, .. } => {
                values.packed()
            }
            ColumnData::Text { codes, .. } => Some(codes.packed()),
            ColumnData::DecimalText(_) | ColumnData::Bool(_) => None,
        }
    }

    /// Bytes of the values (a buffer's room for later rows is not
    /// resident until written, so it is not counted).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ColumnData::Int2(v)
            | ColumnData::Int4(v)
            | ColumnData::Date(v)
            | ColumnData::Int8(v)
            | ColumnData::Timestamp(v)
            | ColumnData::TimestampTz(v) => v.bytes(),
            ColumnData::Float4(v) => v.bytes(),
            ColumnData::Float8(v) => v.bytes(),
            ColumnData::DecimalF64 { values, .. } => values.heap_bytes(),
            ColumnData::Decimal { values, .. } => values.heap_bytes(),
            ColumnData::DecimalText(a) => a.heap_bytes(),
            ColumnData::Bool(b) => b.heap_bytes(),
            ColumnData::Text { dict, codes } => dict.heap_bytes() + codes.heap_bytes(),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Int2(v)
            | ColumnData::Int4(v)
            | ColumnData::Date(v)
            | ColumnData::Int8(v)
            | ColumnData::Timestamp(v)
            | ColumnData::TimestampTz(v) => v.len(),
            ColumnData::Float4(v) => v.len(),
            ColumnData::Float8(v) => v.len(),
            ColumnData::DecimalF64 { values, .. } | ColumnData::Decimal { values, .. } => {
                values.len()
            }
            ColumnData::DecimalText(a) => a.len(),
            ColumnData::Bool(b) => b.len(),
            ColumnData::Text { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A double column's values (NULL rows hold their placeholder).
    fn f64s(&self) -> Option<Vec<f64>> {
        match self {
            ColumnData::Float8(_) | ColumnData::DecimalF64 { .. } => {
                Some((0..self.len()).map(|i| self.f64_at(i)).collect())
            }
            _ => None,
        }
    }

    /// Row `i` of a double column, whichever way it is held (0.0 for
    /// another type).
    #[inline]
    pub fn f64_at(&self, i: usize) -> f64 {
        match self {
            ColumnData::Float8(v) => v.f64(i),
            ColumnData::DecimalF64 { den, values } => decimal_f64(values.get(i).unwrap_or(0), *den),
            _ => 0.0,
        }
    }

    /// The decimals of a numeric or decimal-valued double column.
    fn decimals(&self) -> Option<&Decimals> {
        match self {
            ColumnData::DecimalF64 { values, .. } | ColumnData::Decimal { values, .. } => {
                Some(values)
            }
            _ => None,
        }
    }

    /// This column held by stock ([`Decimals::by_code`]) when that is
    /// smaller; `codes` are the code column's, of a dictionary of
    /// `entries`, `nulls` this column's.
    pub(super) fn by_code(
        &self,
        codes: StockCodes<'_>,
        ids: &[u32],
        nulls: Option<&Bitmap>,
    ) -> Option<ColumnData> {
        let null = |r: usize| nulls.is_some_and(|n| n.get(r));
        let values = self.decimals()?.by_code(codes, ids, null)?;
        Some(match self {
            ColumnData::DecimalF64 { den, .. } => ColumnData::DecimalF64 { den: *den, values },
            ColumnData::Decimal { scale, .. } => ColumnData::Decimal {
                scale: *scale,
                values,
            },
            _ => return None,
        })
    }

    /// Values held by stock read from a snapshot take the code column's
    /// `codes` (of a dictionary of `entries`): checked to have a base for
    /// every entry and a code for every row.
    pub(super) fn link_codes(&mut self, codes: &Codes, entries: usize) -> Result<(), &'static str> {
        if let ColumnData::DecimalF64 {
            values: Decimals::ByCode(v),
            ..
        }
        | ColumnData::Decimal {
            values: Decimals::ByCode(v),
            ..
        } = self
        {
            if v.base.len() != entries || v.offsets.len() != codes.len() {
                return Err("values held by stock do not match the code column");
            }
            v.codes = codes.clone();
        }
        Ok(())
    }

    /// These values followed by `more`'s (see [`Column::append`]); `None`
    /// when `more` is not the same table type. `by`: the codes of every
    /// row and `more`'s NULLs, for values held by stock ([`ByCode`]).
    pub(super) fn append(
        &self,
        more: &ColumnData,
        by: Option<(StockCodes<'_>, Option<&Bitmap>)>,
    ) -> Option<ColumnData> {
        use ColumnData as D;
        Some(match (self, more) {
            (D::Int2(a), D::Int2(b)) => D::Int2(a.append_packed(b)),
            (D::Int4(a), D::Int4(b)) => D::Int4(a.append_packed(b)),
            (D::Int8(a), D::Int8(b)) => D::Int8(a.append_packed(b)),
            (D::Float4(a), D::Float4(b)) => D::Float4(a.append(b)),
            (D::Float8(a), b @ D::Float8(_)) => D::Float8(a.append(&b.f64s()?)),
            (D::Date(a), D::Date(b)) => D::Date(a.append_packed(b)),
            (D::Timestamp(a), D::Timestamp(b)) => D::Timestamp(a.append_packed(b)),
            (D::TimestampTz(a), D::TimestampTz(b)) => D::TimestampTz(a.append_packed(b)),
            (D::DecimalF64 { den: da, values: a }, D::DecimalF64 { den: db, values: b })
                if da == db =>
            {
                D::DecimalF64 {
                    den: *da,
                    values: a.append(b, by),
                }
            }
            // Plain doubles stay plain: the new rows' values are doubles.
            (D::Float8(a), b @ D::DecimalF64 { .. }) => D::Float8(a.append(&b.f64s()?)),
            // New values whose own smallest denominator is another one (or
            // none): appended over this column's when every one of them is
            // exact over it too (a day whose sums were all even); else the
            // whole column is encoded again (the exact check of every value
            // decides, as at load).
            (a @ D::DecimalF64 { den, values }, b @ (D::DecimalF64 { .. } | D::Float8(_))) => {
                let more = b.f64s()?;
                let same = all_some(more.len(), more.iter().map(|&x| over(x, *den as f64)));
                if let Some(m) = same {
                    return Some(D::DecimalF64 {
                        den: *den,
                        values: values.append(&Decimals::Packed(Packed::new(&m)), by),
                    });
                }
                let mut v = a.f64s()?;
                v.extend_from_slice(&more);
                ColumnBuilder::Float8(v).finish()
            }
            (
                D::Decimal {
                    scale: sa,
                    values: a,
                },
                D::Decimal {
                    scale: sb,
                    values: b,
                },
            ) if sa == sb => D::Decimal {
                scale: *sa,
                values: a.append(b, by),
            },
            (D::DecimalText(a), D::DecimalText(b)) => D::DecimalText(a.concat(b)),
            (D::Bool(a), D::Bool(b)) => D::Bool(Bitmap::concat(Some(a), a.len(), Some(b), b.len())),
            (
                D::Text {
                    dict: da,
                    codes: ca,
                },
                D::Text {
                    dict: db,
                    codes: cb,
                },
            ) => {
                // The new rows' strings join this dictionary (a copy: it
                // is small next to the codes), their codes are renumbered.
                let mut dict = da.clone();
                let mut ids: HashMap<&str, u32> =
                    (0..da.len()).map(|i| (da.get(i), i as u32)).collect();
                let renumber: Vec<u32> = (0..db.len())
                    .map(|j| {
                        let s = db.get(j);
                        *ids.entry(s).or_insert_with(|| dict.push(s))
                    })
                    .collect();
                let codes: Vec<u32> = (0..cb.len())
                    .map(|r| renumber[cb.get(r) as usize])
                    .collect();
                let codes = ca.append(&codes);
                D::Text { dict, codes }
            }
            _ => return None,
        })
    }

    /// A short name of the physical layout, for `admin.status` and docs.
    pub fn layout(&self) -> &'static str {
        match self {
            ColumnData::Int2(_) | ColumnData::Int4(_) | ColumnData::Int8(_) => "int-packed",
            ColumnData::Float4(v) => match v.exp {
                Some(_) => "f32-decimal-packed",
                None => "f32-packed",
            },
            ColumnData::Float8(v) => match v.dict {
                Some(_) => "f64-dict-packed",
                None => "f64-packed",
            },
            ColumnData::DecimalF64 { den, values } => match (values, decimal_exp(*den).is_some()) {
                (Decimals::Packed(_), true) => "f64-decimal-packed",
                (Decimals::Packed(_), false) => "f64-fraction-packed",
                (Decimals::ByCode(_), true) => "f64-decimal-by-stock",
                (Decimals::ByCode(_), false) => "f64-fraction-by-stock",
                (Decimals::I128(_), _) => "f64-decimal-i128",
            },
            ColumnData::Decimal { values, .. } => match values {
                Decimals::Packed(_) => "decimal-packed",
                Decimals::ByCode(_) => "decimal-by-stock",
                Decimals::I128(_) => "decimal-i128",
            },
            ColumnData::DecimalText(_) => "decimal-text",
            ColumnData::Bool(_) => "bitmap",
            ColumnData::Date(_) => "date-packed",
            ColumnData::Timestamp(_) | ColumnData::TimestampTz(_) => "timestamp-packed",
            ColumnData::Text { .. } => "dict-packed",
        }
    }
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

    pub fn heap_bytes(&self) -> usize {
        self.data.heap_bytes() + self.nulls.as_ref().map_or(0, Bitmap::heap_bytes)
    }

    /// Asks the CPU to start bringing `row`'s value (and its NULL bit)
    /// into cache, without waiting for it. Writers of many values call it
    /// some values ahead (`query::Ahead`): the loads then overlap instead
    /// of each waiting its turn on main memory (one column is one array,
    /// so one row's values are as many cache lines as columns).
    #[inline]
    pub fn prefetch(&self, row: usize) {
        let at: *const u8 = match &self.data {
            ColumnData::Int2(v)
            | ColumnData::Int4(v)
            | ColumnData::Date(v)
            | ColumnData::Int8(v)
            | ColumnData::Timestamp(v)
            | ColumnData::TimestampTz(v) => v.addr(row),
            ColumnData::Float4(v) => v.values.addr(row),
            ColumnData::Float8(v) => v.values.addr(row),
            ColumnData::DecimalF64 { values, .. } | ColumnData::Decimal { values, .. } => {
                values.at(row)
            }
            ColumnData::DecimalText(a) => a.ends.as_ptr().wrapping_add(row).cast(),
            ColumnData::Bool(b) => b.addr(row),
            ColumnData::Text { codes, .. } => codes.at(row),
        };
        prefetch(at);
        if let Some(n) = &self.nulls {
            prefetch(n.addr(row));
        }
    }

    /// The first step of [`Column::prefetch`] for a bit-packed column:
    /// asks for the header of `row`'s block, whose fields locate the value.
    /// A reader of many values calls it a step ahead of `prefetch`, so that
    /// the header is in cache when `prefetch` computes the value's address.
    #[inline]
    pub fn prefetch_head(&self, row: usize) {
        if let Some(p) = self.data.packed() {
            prefetch(p.head_addr(row));
        }
    }

    /// This column's rows followed by `more`'s (the same table column,
    /// loaded from newer rows alone). Values are written into the room of
    /// this column's buffers where the two are held alike, so the old and
    /// the new generation share them; where they are not (a wider decimal,
    /// another exponent, a dictionary that outgrows its code width) or the
    /// room is used up, the column is copied into a new buffer. NULL
    /// bitmaps, boolean and decimal-text columns are copied (they are
    /// small, or rare). `None` when `more` is another type of column.
    pub fn append(&self, more: &Column, codes: Option<StockCodes<'_>>) -> Option<Column> {
        let by = codes.map(|c| (c, more.nulls.as_ref()));
        let data = self.data.append(&more.data, by)?;
        let nulls = match (&self.nulls, &more.nulls) {
            (None, None) => None,
            (a, b) => Some(
                Bitmap::concat(a.as_ref(), self.data.len(), b.as_ref(), more.data.len()).sparse(),
            ),
        };
        Some(Column { data, nulls })
    }

    /// The column with its rows in the order `perm` gives: row i of the
    /// result is row `perm[i]` of `self`. Every index in `perm` is a row.
    pub fn permute(self, perm: &[u32]) -> Column {
        let data = match self.data {
            ColumnData::Int2(v) => ColumnData::Int2(v.permute(perm)),
            ColumnData::Int4(v) => ColumnData::Int4(v.permute(perm)),
            ColumnData::Int8(v) => ColumnData::Int8(v.permute(perm)),
            ColumnData::Float4(v) => ColumnData::Float4(v.permute(perm)),
            ColumnData::Float8(v) => ColumnData::Float8(v.permute(perm)),
            ColumnData::DecimalF64 { den, values } => ColumnData::DecimalF64 {
                den,
                values: values.permute(perm),
            },
            ColumnData::Decimal { scale, values } => ColumnData::Decimal {
                scale,
                values: values.permute(perm),
            },
            ColumnData::DecimalText(a) => ColumnData::DecimalText(a.permute(perm)),
            ColumnData::Bool(b) => ColumnData::Bool(b.permute(perm)),
            ColumnData::Date(v) => ColumnData::Date(v.permute(perm)),
            ColumnData::Timestamp(v) => ColumnData::Timestamp(v.permute(perm)),
            ColumnData::TimestampTz(v) => ColumnData::TimestampTz(v.permute(perm)),
            ColumnData::Text { dict, codes } => ColumnData::Text {
                dict,
                codes: codes.permute(perm),
            },
        };
        Column {
            data,
            nulls: self.nulls.as_ref().map(|n| n.permute(perm).sparse()),
        }
    }
}

/// A hint to fetch the cache line holding `at`; nothing where the target
/// has no stable prefetch instruction.
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults and reads nothing the
    // program sees, whatever the address (callers pass in-bounds ones).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// `v[perm[0]], v[perm[1]], …`, in a buffer with room to append.
fn gather<T: Copy + Send + Sync>(v: &[T], perm: &[u32]) -> Shared<T> {
    let mut out = Vec::with_capacity(perm.len() + room_for(perm.len()));
    out.extend(perm.iter().map(|&r| v[r as usize]));
    out.into()
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
        values: Mantissas,
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
                values: Mantissas::for_precision(p, capacity),
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
                None => v.last().copied().unwrap_or_default(),
            }),
            ColumnBuilder::Int4(v) => v.push(match raw {
                Some(r) => i32::from_be_bytes(fixed(r, "integer")?),
                None => v.last().copied().unwrap_or_default(),
            }),
            ColumnBuilder::Int8(v) => v.push(match raw {
                Some(r) => i64::from_be_bytes(fixed(r, "bigint")?),
                None => v.last().copied().unwrap_or_default(),
            }),
            ColumnBuilder::Float4(v) => v.push(match raw {
                Some(r) => f32::from_be_bytes(fixed(r, "real")?),
                None => v.last().copied().unwrap_or_default(),
            }),
            ColumnBuilder::Float8(v) => v.push(match raw {
                Some(r) => f64::from_be_bytes(fixed(r, "double precision")?),
                None => v.last().copied().unwrap_or_default(),
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
                    None => Some(values.last().unwrap_or(0)),
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
                None => v.last().copied().unwrap_or_default(),
            }),
            ColumnBuilder::Timestamp(v) | ColumnBuilder::TimestampTz(v) => v.push(match raw {
                Some(r) => i64::from_be_bytes(fixed(r, "timestamp")?),
                None => v.last().copied().unwrap_or_default(),
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

    /// Numbers a text column's dictionary again, so that its codes follow
    /// the rows (see [`Codes`]): in string order for the code column
    /// (`by_code` is `None`); else in the order of each string's first row
    /// by code, then row, `by_code` being the code column's codes of the
    /// same rows. A date's rows are held in code order, so the codes of
    /// both then rise along them, a stock's name beside its code, which
    /// packs them to a few bits a value. Not a text column: nothing.
    pub fn renumber(&mut self, by_code: Option<&Codes>) {
        let ColumnBuilder::Text {
            dict,
            lookup,
            codes,
        } = self
        else {
            return;
        };
        let n = dict.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        match by_code.filter(|k| k.len() == codes.len()) {
            None => order.sort_unstable_by(|&a, &b| dict.get(a as usize).cmp(dict.get(b as usize))),
            Some(keys) => {
                let mut first = vec![(u32::MAX, u32::MAX); n];
                for (r, &c) in codes.iter().enumerate() {
                    let f = &mut first[c as usize];
                    *f = (*f).min((keys.get(r), r as u32));
                }
                order.sort_unstable_by_key(|&e| first[e as usize]);
            }
        }
        let mut new_of = vec![0u32; n];
        let mut renumbered = StrArena::default();
        for &old in &order {
            new_of[old as usize] = renumbered.push(dict.get(old as usize));
        }
        for c in codes.iter_mut() {
            *c = new_of[*c as usize];
        }
        for c in lookup.values_mut() {
            *c = new_of[*c as usize];
        }
        *dict = renumbered;
    }

    /// Freezes into the narrowest representation and releases spare capacity.
    pub fn finish(self) -> ColumnData {
        // Each buffer keeps room to append later rows (see `shared`).
        match self {
            ColumnBuilder::Int2(v) => ColumnData::Int2(Packed::of(&v)),
            ColumnBuilder::Int4(v) => ColumnData::Int4(Packed::of(&v)),
            ColumnBuilder::Int8(v) => ColumnData::Int8(Packed::new(&v)),
            ColumnBuilder::Float4(v) => ColumnData::Float4(Reals::new(&v)),
            ColumnBuilder::Float8(v) => match decimal_floats(&v) {
                Some((den, values)) => ColumnData::DecimalF64 { den, values },
                None => ColumnData::Float8(Doubles::new(&v)),
            },
            ColumnBuilder::Decimal { scale, values, .. } => ColumnData::Decimal {
                scale,
                values: values.narrow(),
            },
            ColumnBuilder::DecimalText(mut a) => {
                a.shrink();
                ColumnData::DecimalText(a)
            }
            ColumnBuilder::Bool(mut b) => {
                b.shrink();
                ColumnData::Bool(b)
            }
            ColumnBuilder::Date(v) => ColumnData::Date(Packed::of(&v)),
            ColumnBuilder::Timestamp(v) => ColumnData::Timestamp(Packed::new(&v)),
            ColumnBuilder::TimestampTz(v) => ColumnData::TimestampTz(Packed::new(&v)),
            ColumnBuilder::Text {
                mut dict, codes, ..
            } => {
                dict.shrink();
                ColumnData::Text {
                    dict,
                    codes: Codes::new(&codes),
                }
            }
        }
    }

    /// Whether a load encodes a column of `kind` chunk by chunk (see
    /// [`ColumnBuilder::gather`]): the bit-packed numbers, dates and
    /// timestamps. Not text, though its codes are bit-packed too: its
    /// dictionary is numbered once all rows are in (see
    /// [`ColumnBuilder::renumber`]); its builder holds 4 bytes a row.
    pub fn packs(kind: super::schema::ColumnKind) -> bool {
        use super::schema::ColumnKind as K;
        match kind {
            K::Int2
            | K::Int4
            | K::Int8
            | K::Float4
            | K::Float8
            | K::Date
            | K::Timestamp
            | K::TimestampTz => true,
            K::Numeric {
                precision: Some(p),
                scale: Some(_),
            } => p <= 38,
            K::Numeric { .. } | K::Bool | K::Text => false,
        }
    }

    /// A builder of `kind` holding rows `order` (`n` of them) of `pieces`:
    /// one column's rows, the [`ColumnBuilder::finish`]es of builders of
    /// `kind` appended one to another.
    /// Every value is read back as it was pushed, so the builder finishes
    /// into the column that one builder of all the rows would have given.
    pub fn gather(
        kind: super::schema::ColumnKind,
        pieces: &ColumnData,
        order: impl Iterator<Item = usize>,
        n: usize,
    ) -> ColumnBuilder {
        let mut b = ColumnBuilder::new(kind, n);
        let packed = pieces.packed();
        let int = |r: usize| packed.map_or(0, |v| v.get(r));
        match &mut b {
            ColumnBuilder::Int2(v) => v.extend(order.map(|r| int(r) as i16)),
            ColumnBuilder::Int4(v) | ColumnBuilder::Date(v) => {
                v.extend(order.map(|r| int(r) as i32))
            }
            ColumnBuilder::Int8(v)
            | ColumnBuilder::Timestamp(v)
            | ColumnBuilder::TimestampTz(v) => v.extend(order.map(int)),
            ColumnBuilder::Float4(v) => v.extend(order.map(|r| match pieces {
                ColumnData::Float4(x) => x.f32(r),
                _ => 0.0,
            })),
            ColumnBuilder::Float8(v) => v.extend(order.map(|r| pieces.f64_at(r))),
            ColumnBuilder::Decimal { values: out, .. } => {
                for r in order {
                    let m = match pieces {
                        ColumnData::Decimal { values, .. } => values.get(r),
                        _ => Some(0),
                    };
                    // The piece was a builder of this precision: it fits.
                    out.push(m);
                }
            }
            // Never encoded chunk by chunk (see `packs`): never in pieces.
            ColumnBuilder::DecimalText(_) | ColumnBuilder::Bool(_) | ColumnBuilder::Text { .. } => {
            }
        }
        b
    }

    /// `pieces`' rows in `order` (`n` of them), encoded as `pieces` holds
    /// them, without reading them back as values and choosing a codec
    /// again, where that is the codec one pass over all the rows would
    /// choose: integers, dates and timestamps; numerics held as scaled
    /// integers; doubles and reals held as decimals (every piece was
    /// checked exact over the denominator they share) or by bit pattern
    /// (a piece that is neither decimal nor a small dictionary makes the
    /// whole column neither). `None` for the others (a dictionary of
    /// doubles, numerics past 18 digits): [`ColumnBuilder::gather`] then
    /// reads them back, and [`ColumnBuilder::finish`] encodes them again.
    pub fn regather(
        pieces: &ColumnData,
        order: impl Iterator<Item = usize>,
        n: usize,
    ) -> Option<ColumnData> {
        let packed = move |p: &Packed| {
            let mut v = Vec::with_capacity(n);
            v.extend(order.map(|r| p.get(r)));
            Packed::new(&v)
        };
        use ColumnData as D;
        Some(match pieces {
            D::Int2(p) => D::Int2(packed(p)),
            D::Int4(p) => D::Int4(packed(p)),
            D::Int8(p) => D::Int8(packed(p)),
            D::Date(p) => D::Date(packed(p)),
            D::Timestamp(p) => D::Timestamp(packed(p)),
            D::TimestampTz(p) => D::TimestampTz(packed(p)),
            D::Float4(Reals { exp, values }) => D::Float4(Reals {
                exp: *exp,
                values: packed(values),
            }),
            D::Float8(Doubles { dict: None, values }) => D::Float8(Doubles {
                dict: None,
                values: packed(values),
            }),
            D::DecimalF64 {
                den,
                values: Decimals::Packed(p),
            } => D::DecimalF64 {
                den: *den,
                values: Decimals::Packed(packed(p)),
            },
            D::Decimal {
                scale,
                values: Decimals::Packed(p),
            } => D::Decimal {
                scale: *scale,
                values: Decimals::Packed(packed(p)),
            },
            _ => return None,
        })
    }

    /// Moves the rows into the order `perm` gives (row i becomes row
    /// `perm[i]`), before [`ColumnBuilder::finish`] encodes them once.
    pub fn permute(&mut self, perm: &[u32]) {
        fn g<T: Copy>(v: &mut Vec<T>, perm: &[u32]) {
            *v = perm.iter().map(|&r| v[r as usize]).collect();
        }
        match self {
            ColumnBuilder::Int2(v) => g(v, perm),
            ColumnBuilder::Int4(v) | ColumnBuilder::Date(v) => g(v, perm),
            ColumnBuilder::Int8(v)
            | ColumnBuilder::Timestamp(v)
            | ColumnBuilder::TimestampTz(v) => g(v, perm),
            ColumnBuilder::Float4(v) => g(v, perm),
            ColumnBuilder::Float8(v) => g(v, perm),
            ColumnBuilder::Decimal { values, .. } => match values {
                Mantissas::I16(v) => g(v, perm),
                Mantissas::I32(v) => g(v, perm),
                Mantissas::I64(v) => g(v, perm),
                Mantissas::I128(v) => g(v, perm),
            },
            ColumnBuilder::DecimalText(a) => *a = a.permute(perm),
            ColumnBuilder::Bool(b) => *b = b.permute(perm),
            ColumnBuilder::Text { codes, .. } => g(codes, perm),
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

    /// Every value decoded from the decimal form is the loaded value, bit
    /// for bit, or the column stays plain f64.
    fn round_trips(v: &[f64]) -> Option<u64> {
        let (den, values) = decimal_floats(v)?;
        assert!(matches!(values, Decimals::Packed(_)));
        for (i, &x) in v.iter().enumerate() {
            let back = decimal_f64(values.get(i).expect("no sentinel"), den);
            assert_eq!(back.to_bits(), x.to_bits(), "{x} over {den}");
        }
        Some(den)
    }

    #[test]
    fn decimal_floats_are_exact_or_refused() {
        assert_eq!(round_trips(&[8.97, 8.99, 0.0, 10.03, -0.42]), Some(100));
        assert_eq!(round_trips(&[26320900.0, 0.0, 1.0]), Some(1));
        assert_eq!(round_trips(&[9.166, 9.4975, 7.98925]), Some(100_000));
        assert_eq!(round_trips(&[-4364473.72, 14915051.25]), Some(100));
        // Wide mantissas, up to 2^53.
        assert_eq!(round_trips(&[232479349.25, 1.0]), Some(100));
        assert_eq!(round_trips(&[123456789012.34, -0.01]), Some(100));
        assert_eq!(round_trips(&[9007199254740992.0]), Some(1));
        // Too many digits, too large, not finite, negative zero.
        let full = [0.09719585162277156, 0.7390851332151607, 12.345678901234567];
        assert_eq!(round_trips(&full), None);
        assert_eq!(round_trips(&[1e16, 1.0]), None);
        assert_eq!(round_trips(&[1.0, f64::NAN]), None);
        assert_eq!(round_trips(&[1.0, f64::INFINITY]), None);
        assert_eq!(round_trips(&[-0.0]), None);
        assert_eq!(round_trips(&[]), Some(1));
    }

    #[test]
    fn moving_averages_of_cents_are_fractions() {
        let mut r = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        // MA30 of prices in cents: a sum of 30 cent prices over 3,000.
        let sums: Vec<i64> = (0..5000)
            .map(|_| (next() % 90_000_000) as i64 + 30)
            .collect();
        let ma30: Vec<f64> = sums.iter().map(|&s| s as f64 / 3000.0).collect();
        assert_eq!(round_trips(&ma30), Some(3000));
        let atr14: Vec<f64> = sums.iter().map(|&s| s as f64 / 1400.0).collect();
        assert_eq!(round_trips(&atr14), Some(1400));
        // Also an integer over 60,000 (m = 6), but the smaller one is kept.
        let ma120: Vec<f64> = sums.iter().map(|&s| s as f64 / 12000.0).collect();
        assert_eq!(round_trips(&ma120), Some(12000));
        // Odd sums over 6,000 are not a thirtieth of anything smaller.
        let ma60: Vec<f64> = sums.iter().map(|&s| (2 * s + 1) as f64 / 6000.0).collect();
        assert_eq!(round_trips(&ma60), Some(6000));
        assert_eq!(round_trips(&[1.0 / 3.0, 2.0 / 3.0, 5.0]), Some(3));
        // One value that is no such fraction keeps the column plain, wherever it is.
        for at in [0, 70, 4999] {
            let mut v = ma30.clone();
            v[at] = 0.7390851332151607;
            assert_eq!(round_trips(&v), None, "at {at}");
        }
        // Integers first (a sample of whole numbers proves nothing).
        let mut v = vec![50.0; 100];
        v.extend_from_slice(&ma30);
        assert_eq!(round_trips(&v), Some(3000));
        // Two roundings ((k / 12) × 100) are not one division: plain.
        let psy: Vec<f64> = (0..13).map(|k| k as f64 / 12.0 * 100.0).collect();
        assert_eq!(round_trips(&psy), None);
        // A day whose sums are all multiples of ten is a fraction over
        // 300 alone, and appends over the column's 3,000.
        let col = ColumnBuilder::Float8(ma30.clone()).finish();
        let day: Vec<f64> = (1..200).map(|k| (k * 10) as f64 / 3000.0).collect();
        let day_col = ColumnBuilder::Float8(day.clone()).finish();
        assert!(matches!(day_col, ColumnData::DecimalF64 { den: 300, .. }));
        let both = col.append(&day_col, None).expect("same type");
        assert!(matches!(both, ColumnData::DecimalF64 { den: 3000, .. }));
        let want: Vec<u64> = ma30.iter().chain(&day).map(|x| x.to_bits()).collect();
        let got: Vec<u64> = both
            .f64s()
            .expect("doubles")
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got, want);
        // A day with a value that is no such fraction: the column turns plain.
        let odd = ColumnBuilder::Float8(vec![0.7390851332151607]).finish();
        let plain = col.append(&odd, None).expect("same type");
        assert_eq!(plain.layout(), "f64-packed");
        assert_eq!(
            plain.f64s().expect("doubles").last().map(|x| x.to_bits()),
            Some(0.7390851332151607f64.to_bits())
        );
    }

    #[test]
    fn doubles_with_few_values_are_dictionary_codes_bit_for_bit() {
        let bits = |d: &Doubles| -> Vec<u64> { (0..d.len()).map(|i| d.f64(i).to_bits()).collect() };
        let of = |v: &[f64]| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };
        // psy12: k / 12 × 100, thirteen values, two roundings each.
        // (Whole blocks: the rows after the last one are held plain.)
        let n = super::super::packed::BLOCK * 5;
        let psy: Vec<f64> = (0..n)
            .map(|i| ((i * 7) % 13) as f64 / 12.0 * 100.0)
            .collect();
        let d = Doubles::new(&psy);
        assert_eq!(d.dict.as_ref().map(|d| d.len()), Some(13));
        assert_eq!(bits(&d), of(&psy));
        assert!(d.bytes() * 8 / psy.len() < 6, "{} bytes", d.bytes());
        // NaN payloads, -0.0, ±Infinity and subnormals are entries like any other.
        let odd = [
            f64::from_bits(0x7ff4_0000_0000_0001),
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 8.0,
            1.0 / 3.0,
        ];
        let v: Vec<f64> = (0..5000).map(|i| odd[i % odd.len()]).collect();
        assert_eq!(bits(&Doubles::new(&v)), of(&v));
        // A new day with values the dictionary lacks: entries appended.
        let more = [2.0 / 3.0, 1.0 / 3.0, f64::NAN];
        let grown = d.append(&more);
        assert_eq!(grown.dict.as_ref().map(|d| d.len()), Some(16));
        let want: Vec<f64> = psy.iter().chain(&more).copied().collect();
        assert_eq!(bits(&grown), of(&want));
        // The same values again share the dictionary.
        let same = grown.append(&[100.0, 0.0]);
        assert!(Arc::ptr_eq(
            grown.dict.as_ref().expect("dict"),
            same.dict.as_ref().expect("dict")
        ));
        // Past 256 distinct values: bit patterns, every value kept.
        let many: Vec<f64> = (0..300).map(|i| (i as f64 + 0.5).sqrt()).collect();
        let keys = grown.append(&many);
        assert!(keys.dict.is_none());
        let want: Vec<f64> = want.iter().chain(&many).copied().collect();
        assert_eq!(bits(&keys), of(&want));
        let col = ColumnBuilder::Float8(many).finish();
        assert_eq!(col.layout(), "f64-packed");
        assert!(
            Doubles::new(&[]).dict.is_none(),
            "an empty column has no dictionary"
        );
        assert_eq!(
            ColumnBuilder::Float8(psy).finish().layout(),
            "f64-dict-packed"
        );
        // A snapshot's codes past the entries, or a dictionary too large, are refused.
        let codes = Packed::new(&[0, 1, 2]);
        assert!(Doubles::from_parts(Some(vec![1, 2, 3]), codes.clone()).is_ok());
        assert!(Doubles::from_parts(Some(vec![1, 2]), codes.clone()).is_err());
        assert!(Doubles::from_parts(Some(vec![]), Packed::new(&[])).is_err());
        assert!(Doubles::from_parts(Some(vec![0; DICT_MAX + 1]), codes).is_err());
        assert!(Doubles::from_parts(Some(vec![1]), Packed::new(&[-1])).is_err());
    }

    #[test]
    fn reals_are_decimals_when_exact_and_bit_patterns_otherwise() {
        let check = |v: &[f32]| {
            let r = Reals::new(v);
            for (i, &x) in v.iter().enumerate() {
                assert_eq!(r.f32(i).to_bits(), x.to_bits(), "{x}");
            }
            r.exp
        };
        assert_eq!(check(&[2.35, -9.99, 0.0, 10.0, 7.98]), Some(2));
        assert_eq!(check(&[1.5, 100.0]), Some(1));
        assert_eq!(check(&[16777216.0]), Some(0));
        assert_eq!(check(&[0.1, f32::NAN]), None);
        assert_eq!(check(&[-0.0, 1.0]), None);
        assert_eq!(check(&[1.0 / 3.0]), None);
        assert_eq!(check(&[f32::INFINITY]), None);
        assert_eq!(check(&[]), Some(0));
        // Appending: the same exponent shares, another one fits or re-encodes.
        let a = Reals::new(&[1.25, 2.5]);
        let b = a.append(&Reals::new(&[3.5]));
        assert_eq!((b.exp, b.f32(2)), (Some(2), 3.5));
        let c = b.append(&Reals::new(&[0.001]));
        assert_eq!((c.exp, c.f32(3), c.f32(0)), (Some(3), 0.001, 1.25));
        let d = c.append(&Reals::new(&[f32::NAN]));
        assert_eq!(d.exp, None);
        assert!(d.f32(4).is_nan());
        assert_eq!(d.f32(1), 2.5);
    }

    use crate::store::schema::ColumnKind;

    #[test]
    fn decimals_narrow_to_the_loaded_range_and_keep_nan() {
        let build = |p: u16, ms: &[Option<i128>]| {
            let mut d = Mantissas::for_precision(p, ms.len());
            assert!(ms.iter().all(|&m| d.push(m)));
            d.narrow()
        };
        let d = build(10, &[Some(1230), Some(-5), None]);
        assert!(matches!(d, Decimals::Packed(_)));
        assert_eq!((d.get(0), d.get(1), d.get(2)), (Some(1230), Some(-5), None));
        let d = build(12, &[Some(9_999_999_999)]);
        assert!(matches!(d, Decimals::Packed(_)));
        assert_eq!(d.get(0), Some(9_999_999_999));
        let big = 10i128.pow(30);
        let d = build(38, &[Some(big), None, Some(-1)]);
        assert!(matches!(d, Decimals::I128(_)));
        assert_eq!((d.get(0), d.get(1), d.get(2)), (Some(big), None, Some(-1)));
        let d = build(38, &[Some(i64::MAX as i128), None]);
        assert!(matches!(d, Decimals::Packed(_)));
        assert_eq!((d.get(0), d.get(1)), (Some(i64::MAX as i128), None));
    }

    #[test]
    fn decimals_held_by_stock_read_back_every_value_and_append() {
        // Ten dates of 3,000 stocks in code order; each stock's value
        // moves by one a day, with NaN and the extremes among them.
        let stocks = 3000usize;
        let codes_v: Vec<u32> = (0..10).flat_map(|_| 0..stocks as u32).collect();
        let codes = Codes::new(&codes_v);
        let values: Vec<i64> = codes_v
            .iter()
            .enumerate()
            .map(|(r, &c)| match r {
                7 => i64::MIN,
                11 => i64::MAX,
                12 => i64::MIN + 1,
                _ => (c as i64 * 1_000_003) % 97_000_000 * 10_000 + (r / stocks) as i64,
            })
            .collect();
        let plain = Decimals::Packed(Packed::new(&values));
        let held = plain
            .by_code((&codes, stocks), &codes_v, |r| r == 20)
            .expect("smaller by stock");
        assert!(matches!(held, Decimals::ByCode(_)));
        // 106,800 bytes against 153,792: the two stocks with an extreme
        // value take 64 bits on every date (a stock's offsets span its own
        // range), the other blocks none.
        assert!(held.heap_bytes() < plain.heap_bytes() * 3 / 4);
        let same = |d: &Decimals| (0..values.len()).all(|r| r == 20 || d.get(r) == plain.get(r));
        assert!(same(&held));
        assert_eq!(held.get(7), None, "NaN");

        // Values with no stock in them are not held by stock.
        let noise: Vec<i64> = (0..values.len() as i64)
            .map(|r| r.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64) >> 20)
            .collect();
        let noise = Decimals::Packed(Packed::new(&noise));
        assert!(noise
            .by_code((&codes, stocks), &codes_v, |_| false)
            .is_none());
        // Nor are codes that are not all below the dictionary's size.
        assert!(plain
            .by_code((&codes, stocks - 1), &codes_v, |_| false)
            .is_none());

        // A day without stock 0, with a new stock and a NULL row.
        let day: Vec<u32> = (1..=stocks as u32).collect();
        let all = codes.append(&day);
        let more: Vec<i64> = day.iter().map(|&c| c as i64 * 5).collect();
        let mut nulls = Bitmap::with_capacity(more.len());
        (0..more.len()).for_each(|i| nulls.push(i == 3));
        let more_d = Decimals::Packed(Packed::new(&more));
        let grown = held.append(&more_d, Some(((&all, stocks + 1), Some(&nulls))));
        let Decimals::ByCode(g) = &grown else {
            panic!("still held by stock: {grown:?}");
        };
        assert_eq!(g.base.len(), stocks + 1);
        assert!(same(&grown));
        let new_rows = (0..more.len()).filter(|&i| i != 3);
        assert!(new_rows
            .clone()
            .all(|i| grown.get(values.len() + i) == Some(more[i] as i128)));
        // Without the codes, every value is packed again, none lost.
        let flat = held.append(&more_d, None);
        assert!(matches!(flat, Decimals::Packed(_)));
        assert!(same(&flat));
        assert!(new_rows
            .clone()
            .all(|i| flat.get(values.len() + i) == Some(more[i] as i128)));
        // Codes that do not cover every row: packed again too.
        let short = held.append(&more_d, Some(((&codes, stocks), None)));
        assert!(matches!(short, Decimals::Packed(_)));
        assert!(same(&short));
    }

    #[test]
    fn text_is_dictionary_encoded() {
        let mut b = ColumnBuilder::new(ColumnKind::Text, 4);
        for s in ["银行", "半导体", "银行", "银行"] {
            b.push(Some(s.as_bytes())).unwrap();
        }
        match b.finish() {
            ColumnData::Text { dict, codes } => {
                assert_eq!(dict.len(), 2);
                assert_eq!(dict.get(codes.get(2) as usize), "银行");
                assert_eq!(dict.get(codes.get(1) as usize), "半导体");
            }
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The strings of a finished text column, row by row.
    fn texts(d: &ColumnData) -> Vec<String> {
        match d {
            ColumnData::Text { dict, codes } => (0..codes.len())
                .map(|r| dict.get(codes.get(r) as usize).to_owned())
                .collect(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn renumbered_dictionaries_keep_every_row_and_follow_the_order_asked() {
        let rows = ["600000", "000001", "300750", "000001", "600000", ""];
        // The code column's codes of these rows: 2, 0, 1, 0, 2, 3.
        let keys = Codes::new(&[2, 0, 1, 0, 2, 3]);
        for sorted in [true, false] {
            let mut b = ColumnBuilder::new(ColumnKind::Text, 4);
            for s in rows {
                b.push(Some(s.as_bytes())).unwrap();
            }
            b.renumber((!sorted).then_some(&keys));
            // Strings pushed after a renumbering find their new codes.
            b.push(Some(b"300750")).unwrap();
            b.push(Some(b"688981")).unwrap();
            let d = b.finish();
            let mut want: Vec<&str> = rows.to_vec();
            want.extend(["300750", "688981"]);
            assert_eq!(texts(&d), want, "sorted: {sorted}");
            let ColumnData::Text { dict, codes } = &d else {
                unreachable!()
            };
            assert_eq!(dict.len(), 5);
            let entries: Vec<&str> = (0..dict.len()).map(|i| dict.get(i)).collect();
            let order = if sorted {
                ["", "000001", "300750", "600000", "688981"]
            } else {
                ["000001", "300750", "600000", "", "688981"]
            };
            assert_eq!(entries, order, "sorted: {sorted}");
            assert_eq!(codes.get(6), 2 - u32::from(!sorted));
            assert_eq!(codes.get(7), 4);
        }
    }

    #[test]
    fn codes_that_rise_along_the_rows_pack_to_almost_nothing() {
        // 2,048 codes a day, in code order, for four days: the code column
        // of a store held by (date, code), loaded in the opposite order.
        let day: Vec<String> = (0..2_048).map(|c| format!("{:06}", 2_048 - c)).collect();
        let mut b = ColumnBuilder::new(ColumnKind::Text, 4 * 2_048);
        for _ in 0..4 {
            for s in day.iter().rev() {
                b.push(Some(s.as_bytes())).unwrap();
            }
        }
        b.renumber(None);
        let d = b.finish();
        let ColumnData::Text { codes, .. } = &d else {
            unreachable!()
        };
        // Every block a line: its 16-byte header and two words (one of
        // them the spare word), no bits a value.
        let bytes = codes.packed().bytes();
        assert!(bytes <= 8 * (16 + 16), "{bytes} bytes for 8,192 codes");
        let texts = texts(&d);
        assert_eq!(texts[0], "000001");
        assert_eq!(texts[2_047], "002048");
        assert_eq!(texts[8_191], "002048");
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

    #[test]
    fn sparse_bitmaps_keep_only_blocks_with_a_bit_set() {
        // Lengths that end inside a word and inside a block; set bits in
        // a few blocks (the first, a middle one, the partial last one).
        for len in [BITS_BLOCK * 40 + 77, BITS_BLOCK * 3, 130] {
            let set = |i: usize| {
                i == 0 || (BITS_BLOCK * 7..BITS_BLOCK * 7 + 300).contains(&i) || i == len - 1
            };
            let mut dense = Bitmap::with_capacity(len);
            for i in 0..len {
                dense.push(set(i));
            }
            let sparse = dense.clone().sparse();
            assert!((0..len).all(|i| sparse.get(i) == set(i)), "len {len}");
            assert_eq!(sparse, dense);
            assert_eq!(sparse.dense_words(), dense.dense_words());
            assert_eq!(sparse.count_ones(), dense.count_ones());
            if len > BITS_BLOCK * 10 {
                assert!(sparse.blocks.is_some());
                assert!(
                    sparse.heap_bytes() * 5 < dense.heap_bytes(),
                    "{} vs {} bytes",
                    sparse.heap_bytes(),
                    dense.heap_bytes()
                );
            }
            // Growing a sparse map (an append) keeps every bit.
            let mut grown = sparse.clone();
            grown.push(true);
            assert!((0..len).all(|i| grown.get(i) == set(i)) && grown.get(len));
        }
        // Bits in every block: kept dense.
        let mut every = Bitmap::with_capacity(BITS_BLOCK * 8);
        for i in 0..BITS_BLOCK * 8 {
            every.push(i % 1000 == 0);
        }
        assert!(every.sparse().blocks.is_none());
    }
}
