//! Encoded column blocks: values in blocks of [`BLOCK`] rows, each block
//! with the codec that is smallest for it, measured when it is built.
//!
//! - [`IntBlocks`]: integers (and dates, timestamps, dictionary codes,
//!   numeric mantissas) as frame-of-reference + bit-packing at any width
//!   0–64. A constant block has width 0 and costs no data words.
//! - [`FloatBlocks`]: `real` / `double precision` by their bit patterns,
//!   per block one of: *decimal* (value = mantissa / 10^e, verified bit for
//!   bit, mantissas frame-of-reference bit-packed: the ALP idea), *split*
//!   (ALP-RD: the high bits from a dictionary of at most 8 entries, the low
//!   bits bit-packed) or *plain*; values no codec holds are exceptions kept
//!   aside with their position.
//!
//! Every block is read one value at a time without decoding it: find the
//! block, compute the bit offset, read one or two 64-bit words. The packer
//! is written here rather than taken from a crate: the crates at hand
//! (`bitpacking`: 32-bit lanes only; `fastlanes`: interleaved layouts whose
//! single-value read needs the lane transpose) do not give an O(1) read of
//! one 64-bit value at any width, which `stock.get` needs.

/// Rows per block.
pub const BLOCK: usize = 1024;
const BLOCK_SHIFT: usize = 10;

#[inline]
fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Bits needed to hold `max`.
#[inline]
pub fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Words holding `n` values of `width` bits.
#[inline]
fn words_for(n: usize, width: u32) -> usize {
    (n * width as usize).div_ceil(64)
}

/// Appends `values`, `width` bits each, least significant bit first.
pub fn pack(values: impl IntoIterator<Item = u64>, n: usize, width: u32, out: &mut Vec<u64>) {
    if width == 0 {
        return;
    }
    let start = out.len();
    out.resize(start + words_for(n, width), 0);
    let words = &mut out[start..];
    let m = mask(width);
    let mut bit = 0usize;
    for v in values.into_iter().take(n) {
        let v = v & m;
        let (w, s) = (bit / 64, (bit % 64) as u32);
        words[w] |= v << s;
        if s + width > 64 {
            words[w + 1] |= v >> (64 - s);
        }
        bit += width as usize;
    }
}

/// The value of `width` bits starting at bit `bit` of `words`.
#[inline]
pub fn unpack(words: &[u64], bit: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let (w, s) = (bit / 64, (bit % 64) as u32);
    let mut v = words[w] >> s;
    if s + width > 64 {
        v |= words[w + 1] << (64 - s);
    }
    v & mask(width)
}

/// How one column's blocks are encoded, for `admin.status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mix {
    /// (codec name, blocks).
    pub codecs: Vec<(&'static str, u64)>,
}

impl Mix {
    fn add(&mut self, name: &'static str) {
        match self.codecs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.codecs.push((name, 1)),
        }
    }
}

/// One integer block's header: kept together so that a point read costs
/// one cache line for the header and one or two for the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IntHead {
    /// The minimum (frame of reference).
    base: i64,
    /// The first data word.
    off: u32,
    /// Bits per value, 0..=64.
    width: u8,
}

/// Frame-of-reference, bit-packed integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntBlocks {
    len: usize,
    heads: Vec<IntHead>,
    words: Vec<u64>,
}

/// The parts of an [`IntBlocks`], as a snapshot stores them.
pub struct IntParts {
    pub len: usize,
    pub bases: Vec<i64>,
    pub offs: Vec<u32>,
    pub widths: Vec<u8>,
    pub words: Vec<u64>,
}

impl IntBlocks {
    /// Encodes `n` values.
    pub fn encode(n: usize, values: impl IntoIterator<Item = i64>) -> IntBlocks {
        let nb = n.div_ceil(BLOCK);
        let mut out = IntBlocks {
            len: 0,
            heads: Vec::with_capacity(nb),
            words: Vec::new(),
        };
        let mut buf = Vec::with_capacity(BLOCK);
        let mut it = values.into_iter().take(n);
        loop {
            buf.clear();
            buf.extend(it.by_ref().take(BLOCK));
            if buf.is_empty() {
                break;
            }
            out.push_block(&buf);
            if buf.len() < BLOCK {
                break;
            }
        }
        out.words.shrink_to_fit();
        out
    }

    fn push_block(&mut self, v: &[i64]) {
        let lo = v.iter().copied().min().unwrap_or(0);
        let hi = v.iter().copied().max().unwrap_or(0);
        let width = width_of(hi.wrapping_sub(lo) as u64);
        self.heads.push(IntHead {
            base: lo,
            off: self.words.len() as u32,
            width: width as u8,
        });
        pack(
            v.iter().map(|&x| x.wrapping_sub(lo) as u64),
            v.len(),
            width,
            &mut self.words,
        );
        self.len += v.len();
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Value `i`, O(1): one or two words read.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let h = self.heads[i >> BLOCK_SHIFT];
        let width = h.width as u32;
        if width == 0 {
            return h.base;
        }
        let bit = h.off as usize * 64 + (i & (BLOCK - 1)) * width as usize;
        h.base.wrapping_add(unpack(&self.words, bit, width) as i64)
    }

    /// Decodes `out.len()` values from `start` (a run: one block header
    /// per block, not per value).
    pub fn decode_into(&self, start: usize, out: &mut [i64]) {
        let mut i = start;
        let mut done = 0;
        while done < out.len() {
            let b = i >> BLOCK_SHIFT;
            let k = i & (BLOCK - 1);
            let take = (BLOCK - k).min(out.len() - done);
            let h = self.heads[b];
            let (width, base) = (h.width as u32, h.base);
            let bit0 = h.off as usize * 64 + k * width as usize;
            for (j, o) in out[done..done + take].iter_mut().enumerate() {
                *o =
                    base.wrapping_add(unpack(&self.words, bit0 + j * width as usize, width) as i64);
            }
            done += take;
            i += take;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8 + self.heads.capacity() * std::mem::size_of::<IntHead>()
    }

    pub fn mix(&self, mix: &mut Mix) {
        for h in &self.heads {
            mix.add(if h.width == 0 { "const" } else { "for" });
        }
    }

    pub fn parts(&self) -> IntParts {
        IntParts {
            len: self.len,
            bases: self.heads.iter().map(|h| h.base).collect(),
            offs: self.heads.iter().map(|h| h.off).collect(),
            widths: self.heads.iter().map(|h| h.width).collect(),
            words: self.words.clone(),
        }
    }

    /// Blocks from their parts; `None` unless every block's words are there.
    pub fn from_parts(p: IntParts) -> Option<IntBlocks> {
        let nb = p.len.div_ceil(BLOCK);
        if p.bases.len() != nb || p.offs.len() != nb || p.widths.len() != nb {
            return None;
        }
        for b in 0..nb {
            let n = (p.len - b * BLOCK).min(BLOCK);
            let w = p.widths[b] as u32;
            if w > 64 || p.offs[b] as usize + words_for(n, w) > p.words.len() {
                return None;
            }
        }
        let heads = (0..nb)
            .map(|b| IntHead {
                base: p.bases[b],
                off: p.offs[b],
                width: p.widths[b],
            })
            .collect();
        Some(IntBlocks {
            len: p.len,
            heads,
            words: p.words,
        })
    }
}

/// A float type held by its bit pattern.
pub trait FloatBits: Copy {
    const BITS: u32;
    /// Largest decimal exponent tried (10^e exact in this type).
    const MAX_EXP: u8;
    fn to_u64(self) -> u64;
    fn from_u64(b: u64) -> Self;
    /// mantissa / 10^e, the one formula encoding verifies against.
    fn from_decimal(m: i64, e: u8) -> Self;
    fn to_f64(self) -> f64;
}

const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

impl FloatBits for f64 {
    const BITS: u32 = 64;
    const MAX_EXP: u8 = 18;
    #[inline]
    fn to_u64(self) -> u64 {
        self.to_bits()
    }
    #[inline]
    fn from_u64(b: u64) -> f64 {
        f64::from_bits(b)
    }
    #[inline]
    fn from_decimal(m: i64, e: u8) -> f64 {
        m as f64 / POW10[e as usize]
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl FloatBits for f32 {
    const BITS: u32 = 32;
    const MAX_EXP: u8 = 10;
    #[inline]
    fn to_u64(self) -> u64 {
        self.to_bits() as u64
    }
    #[inline]
    fn from_u64(b: u64) -> f32 {
        f32::from_bits(b as u32)
    }
    #[inline]
    fn from_decimal(m: i64, e: u8) -> f32 {
        m as f32 / POW10_F32[e as usize]
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

const PLAIN: u8 = 0;
const DECIMAL: u8 = 1;
const SPLIT: u8 = 2;

/// One float block's header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloatHead {
    pub kind: u8,
    /// Bits per packed value.
    pub width: u8,
    /// Decimal: the exponent e. Split: bits of the right (low) part.
    pub param: u8,
    pub dict_len: u8,
    pub off: u32,
    /// Decimal: the smallest mantissa.
    pub base: i64,
    pub exc_start: u32,
    pub exc_len: u32,
    pub dict_start: u32,
}

/// Floats by block: decimal, split (ALP-RD) or plain, plus exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatBlocks<T> {
    len: usize,
    heads: Vec<FloatHead>,
    words: Vec<u64>,
    /// Split blocks' left parts.
    dict: Vec<u16>,
    /// Exceptions: position in the block, ascending, and the bit pattern.
    exc_pos: Vec<u16>,
    exc_val: Vec<u64>,
    _t: std::marker::PhantomData<T>,
}

impl<T> Default for FloatBlocks<T> {
    fn default() -> Self {
        FloatBlocks {
            len: 0,
            heads: Vec::new(),
            words: Vec::new(),
            dict: Vec::new(),
            exc_pos: Vec::new(),
            exc_val: Vec::new(),
            _t: std::marker::PhantomData,
        }
    }
}

/// The parts of a [`FloatBlocks`], as a snapshot stores them.
pub struct FloatParts {
    pub len: usize,
    pub heads: Vec<FloatHead>,
    pub words: Vec<u64>,
    pub dict: Vec<u16>,
    pub exc_pos: Vec<u16>,
    pub exc_val: Vec<u64>,
}

/// Cost in bits of one exception (position + bit pattern).
const EXC_BITS: usize = 16 + 64;

/// A decimal encoding of a block, if one is worth trying.
struct DecimalPlan {
    e: u8,
    base: i64,
    width: u32,
    mantissas: Vec<i64>,
    /// Rows the exponent does not hold.
    exceptions: Vec<usize>,
}

impl DecimalPlan {
    fn bits(&self, n: usize) -> usize {
        n * self.width as usize + self.exceptions.len() * EXC_BITS
    }
}

fn decimal_mantissa<T: FloatBits>(x: T, e: u8) -> Option<i64> {
    let m = (x.to_f64() * POW10[e as usize]).round();
    // Stay inside i64 with room: FoR subtracts the block minimum.
    if !m.is_finite() || m.abs() > (1u64 << 62) as f64 {
        return None;
    }
    let m = m as i64;
    (T::from_decimal(m, e).to_u64() == x.to_u64()).then_some(m)
}

fn plan_decimal<T: FloatBits>(v: &[T]) -> Option<DecimalPlan> {
    // The exponent: the largest of the smallest exponents of a sample
    // (values no exponent holds become exceptions).
    let step = (v.len() / 32).max(1);
    let mut e = None;
    for &x in v.iter().step_by(step) {
        if let Some(ex) = (0..=T::MAX_EXP).find(|&e| decimal_mantissa(x, e).is_some()) {
            e = Some(e.map_or(ex, |p: u8| p.max(ex)));
        }
    }
    let e = e?;
    let mut mantissas = Vec::with_capacity(v.len());
    let mut exceptions = Vec::new();
    for (i, &x) in v.iter().enumerate() {
        match decimal_mantissa(x, e) {
            Some(m) => mantissas.push(m),
            None => {
                exceptions.push(i);
                mantissas.push(i64::MAX); // replaced by the base below
            }
        }
        if exceptions.len() > v.len() / 2 {
            return None;
        }
    }
    let real = || {
        mantissas
            .iter()
            .enumerate()
            .filter(|(i, _)| exceptions.binary_search(i).is_err())
            .map(|(_, &m)| m)
    };
    let lo = real().min()?;
    let hi = real().max()?;
    for &i in &exceptions {
        mantissas[i] = lo;
    }
    Some(DecimalPlan {
        e,
        base: lo,
        width: width_of(hi.wrapping_sub(lo) as u64),
        mantissas,
        exceptions,
    })
}

/// A split (ALP-RD) encoding of a block.
struct SplitPlan {
    right: u32,
    dict: Vec<u16>,
    code_width: u32,
    exceptions: usize,
}

impl SplitPlan {
    fn bits(&self, n: usize) -> usize {
        n * (self.right + self.code_width) as usize
            + self.exceptions * EXC_BITS
            + self.dict.len() * 16
    }
}

/// Values a split plan's width is chosen on (the dictionary and the
/// exceptions are then counted on the whole block): choosing on all 1,024
/// cost about 100 µs a block, a quarter of a year-scale load.
const SPLIT_SAMPLE: usize = 128;

fn plan_split<T: FloatBits>(v: &[T]) -> Option<SplitPlan> {
    let n = v.len();
    let step = (n / SPLIT_SAMPLE).max(1);
    let mut top: Vec<u16> = v
        .iter()
        .step_by(step)
        .map(|x| (x.to_u64() >> (T::BITS - 16)) as u16)
        .collect();
    top.sort_unstable();
    let sampled = top.len();
    let mut groups: Vec<(u16, usize)> = Vec::new();
    for &t in &top {
        match groups.last_mut() {
            Some((g, c)) if *g == t => *c += 1,
            _ => groups.push((t, 1)),
        }
    }
    let mut best: Option<SplitPlan> = None;
    let mut counts: Vec<(usize, u16)> = Vec::new();
    for left in 3..=16u32 {
        counts.clear();
        for &(g, c) in &groups {
            let key = g >> (16 - left);
            match counts.last_mut() {
                Some((cc, k)) if *k == key => *cc += c,
                _ => counts.push((c, key)),
            }
        }
        // The 8 most frequent left parts of the sample.
        let d = counts.len().min(8);
        if counts.len() > d {
            counts.select_nth_unstable_by(d - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        }
        let covered: usize = counts[..d].iter().map(|c| c.0).sum();
        let plan = SplitPlan {
            right: T::BITS - left,
            dict: counts[..d].iter().map(|c| c.1).collect(),
            code_width: width_of(d.saturating_sub(1) as u64),
            exceptions: sampled - covered,
        };
        if best
            .as_ref()
            .is_none_or(|b| plan.bits(sampled) < b.bits(sampled))
        {
            best = Some(plan);
        }
    }
    // The exceptions of the whole block, for the size comparison.
    let mut plan = best?;
    plan.exceptions = v
        .iter()
        .filter(|x| !plan.dict.contains(&((x.to_u64() >> plan.right) as u16)))
        .count();
    Some(plan)
}

impl<T: FloatBits> FloatBlocks<T> {
    pub fn encode(n: usize, values: impl IntoIterator<Item = T>) -> FloatBlocks<T> {
        let mut out = FloatBlocks::default();
        out.heads.reserve(n.div_ceil(BLOCK));
        let mut buf = Vec::with_capacity(BLOCK);
        let mut it = values.into_iter().take(n);
        loop {
            buf.clear();
            buf.extend(it.by_ref().take(BLOCK));
            if buf.is_empty() {
                break;
            }
            out.push_block(&buf);
            if buf.len() < BLOCK {
                break;
            }
        }
        out.words.shrink_to_fit();
        out.dict.shrink_to_fit();
        out.exc_pos.shrink_to_fit();
        out.exc_val.shrink_to_fit();
        out
    }

    fn push_block(&mut self, v: &[T]) {
        let n = v.len();
        let plain_bits = n * T::BITS as usize;
        let mut head = FloatHead {
            off: self.words.len() as u32,
            exc_start: self.exc_pos.len() as u32,
            dict_start: self.dict.len() as u32,
            ..FloatHead::default()
        };
        let dec = plan_decimal(v);
        let dec_bits = dec.as_ref().map_or(usize::MAX, |d| d.bits(n));
        // A split never beats a decimal block of under ~20 bits a value.
        let split = if dec_bits > n * 20 {
            plan_split(v)
        } else {
            None
        };
        let split_bits = split.as_ref().map_or(usize::MAX, |s| s.bits(n));
        if let Some(d) = dec.filter(|_| dec_bits <= split_bits && dec_bits < plain_bits) {
            head.kind = DECIMAL;
            head.width = d.width as u8;
            head.param = d.e;
            head.base = d.base;
            pack(
                d.mantissas.iter().map(|&m| m.wrapping_sub(d.base) as u64),
                n,
                d.width,
                &mut self.words,
            );
            for &i in &d.exceptions {
                self.exc_pos.push(i as u16);
                self.exc_val.push(v[i].to_u64());
            }
        } else if let Some(s) = split.filter(|_| split_bits < plain_bits) {
            head.kind = SPLIT;
            head.width = (s.right + s.code_width) as u8;
            head.param = s.right as u8;
            head.dict_len = s.dict.len() as u8;
            let rmask = mask(s.right);
            let mut packed = Vec::with_capacity(n);
            for (i, x) in v.iter().enumerate() {
                let b = x.to_u64();
                let left = (b >> s.right) as u16;
                let code = match s.dict.iter().position(|&l| l == left) {
                    Some(c) => c as u64,
                    None => {
                        self.exc_pos.push(i as u16);
                        self.exc_val.push(b);
                        0
                    }
                };
                packed.push((code << s.right) | (b & rmask));
            }
            pack(packed, n, head.width as u32, &mut self.words);
            self.dict.extend_from_slice(&s.dict);
        } else {
            head.kind = PLAIN;
            head.width = T::BITS as u8;
            pack(v.iter().map(|x| x.to_u64()), n, T::BITS, &mut self.words);
        }
        head.exc_len = self.exc_pos.len() as u32 - head.exc_start;
        self.heads.push(head);
        self.len += n;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Value `i`, O(1) (an exception costs a binary search of its block's
    /// few exceptions).
    #[inline]
    pub fn get(&self, i: usize) -> T {
        let h = &self.heads[i >> BLOCK_SHIFT];
        let k = i & (BLOCK - 1);
        if h.exc_len > 0 {
            let s = h.exc_start as usize;
            let pos = &self.exc_pos[s..s + h.exc_len as usize];
            if let Ok(j) = pos.binary_search(&(k as u16)) {
                return T::from_u64(self.exc_val[s + j]);
            }
        }
        let width = h.width as u32;
        let x = unpack(&self.words, h.off as usize * 64 + k * width as usize, width);
        match h.kind {
            DECIMAL => T::from_decimal(h.base.wrapping_add(x as i64), h.param),
            SPLIT => {
                let right = h.param as u32;
                let code = (x >> right) as usize;
                let left = self
                    .dict
                    .get(h.dict_start as usize + code)
                    .copied()
                    .unwrap_or(0) as u64;
                T::from_u64((left << right) | (x & mask(right)))
            }
            _ => T::from_u64(x),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
            + self.heads.capacity() * std::mem::size_of::<FloatHead>()
            + self.dict.capacity() * 2
            + self.exc_pos.capacity() * 2
            + self.exc_val.capacity() * 8
    }

    pub fn mix(&self, mix: &mut Mix) {
        for h in &self.heads {
            mix.add(match h.kind {
                DECIMAL if h.width == 0 => "const",
                DECIMAL => "decimal",
                SPLIT => "split",
                _ => "plain",
            });
        }
    }

    pub fn parts(&self) -> FloatParts {
        FloatParts {
            len: self.len,
            heads: self.heads.clone(),
            words: self.words.clone(),
            dict: self.dict.clone(),
            exc_pos: self.exc_pos.clone(),
            exc_val: self.exc_val.clone(),
        }
    }

    /// Blocks from their parts; `None` unless every header is consistent
    /// (reads then stay inside the buffers).
    pub fn from_parts(p: FloatParts) -> Option<FloatBlocks<T>> {
        let nb = p.len.div_ceil(BLOCK);
        if p.heads.len() != nb || p.exc_pos.len() != p.exc_val.len() {
            return None;
        }
        for (b, h) in p.heads.iter().enumerate() {
            let n = (p.len - b * BLOCK).min(BLOCK);
            let w = h.width as u32;
            let ok_kind = match h.kind {
                PLAIN => w == T::BITS,
                DECIMAL => h.param <= T::MAX_EXP && w <= 64,
                SPLIT => {
                    (h.param as u32) < T::BITS
                        && w >= h.param as u32
                        && w <= 64
                        && h.dict_len <= 8
                        && h.dict_start as usize + h.dict_len as usize <= p.dict.len()
                }
                _ => false,
            };
            let exc_end = h.exc_start as usize + h.exc_len as usize;
            if !ok_kind
                || h.off as usize + words_for(n, w) > p.words.len()
                || exc_end > p.exc_pos.len()
                || p.exc_pos[h.exc_start as usize..exc_end]
                    .windows(2)
                    .any(|w| w[0] >= w[1])
            {
                return None;
            }
        }
        Some(FloatBlocks {
            len: p.len,
            heads: p.heads,
            words: p.words,
            dict: p.dict,
            exc_pos: p.exc_pos,
            exc_val: p.exc_val,
            _t: std::marker::PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so failures repeat.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn pack_unpack_every_width() {
        let mut r = Rng(7);
        for width in 0..=64u32 {
            for n in [0usize, 1, 63, 64, 65, 1000] {
                let v: Vec<u64> = (0..n).map(|_| r.next() & mask(width)).collect();
                let mut words = vec![u64::MAX]; // data after other data
                pack(v.iter().copied(), n, width, &mut words);
                assert_eq!(words.len(), 1 + words_for(n, width));
                for (i, &x) in v.iter().enumerate() {
                    assert_eq!(
                        unpack(&words, 64 + i * width as usize, width),
                        x,
                        "w{width}"
                    );
                }
            }
        }
    }

    fn check_ints(v: &[i64]) {
        let b = IntBlocks::encode(v.len(), v.iter().copied());
        assert_eq!(b.len(), v.len());
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(b.get(i), x, "row {i}");
        }
        let mut run = vec![0; v.len().saturating_sub(5)];
        b.decode_into(5.min(v.len()), &mut run);
        assert_eq!(&run[..], &v[5.min(v.len())..][..run.len()]);
        let back = IntBlocks::from_parts(b.parts()).expect("parts");
        assert_eq!(back, b);
    }

    #[test]
    fn ints_round_trip_at_every_width_and_block_boundary() {
        let mut r = Rng(11);
        for width in 0..=64u32 {
            // A last partial block, and a base that is not zero.
            let n = 2 * BLOCK + 37;
            let base = (r.next() as i64) >> 2;
            let v: Vec<i64> = (0..n)
                .map(|_| base.wrapping_add((r.next() & mask(width)) as i64))
                .collect();
            check_ints(&v);
        }
        check_ints(&[]);
        check_ints(&[i64::MIN, i64::MAX, 0, -1]);
        check_ints(&vec![42; BLOCK]);
        check_ints(&vec![i64::MIN; BLOCK + 1]);
        let b = IntBlocks::encode(BLOCK, std::iter::repeat(7));
        assert_eq!(b.words.len(), 0, "a constant block has no data words");
    }

    #[test]
    fn int_parts_that_do_not_add_up_are_refused() {
        let b = IntBlocks::encode(3000, (0..3000).map(|i| i * 1000));
        let mut p = b.parts();
        p.words.pop();
        assert!(IntBlocks::from_parts(p).is_none());
        let mut p = b.parts();
        p.widths[0] = 65;
        assert!(IntBlocks::from_parts(p).is_none());
        let mut p = b.parts();
        p.len += BLOCK;
        assert!(IntBlocks::from_parts(p).is_none());
    }

    fn check_floats<T: FloatBits + std::fmt::Debug + PartialEq>(v: &[T]) -> FloatBlocks<T> {
        let b = FloatBlocks::encode(v.len(), v.iter().copied());
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(b.get(i).to_u64(), x.to_u64(), "row {i}: {x:?}");
        }
        let back = FloatBlocks::<T>::from_parts(b.parts()).expect("parts");
        assert_eq!(back, b);
        b
    }

    fn edge_f64() -> Vec<f64> {
        vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_beef), // NaN payload
            f64::from_bits(0xfff0_0000_0000_0001), // signalling, negative
            f64::MIN_POSITIVE,
            f64::from_bits(1), // smallest subnormal
            f64::MAX,
            f64::MIN,
            0.1,
            1.0 / 3.0,
            -4364473.72,
            9.223372036854776e18,
        ]
    }

    #[test]
    fn doubles_round_trip_bit_exact_in_every_codec() {
        let mut r = Rng(3);
        let n = 3 * BLOCK + 5;
        // Decimals (prices), some exceptions among them.
        let mut prices: Vec<f64> = (0..n)
            .map(|_| (r.next() % 100_000) as f64 / 100.0)
            .collect();
        for (i, x) in edge_f64().into_iter().enumerate() {
            prices[i * 97] = x;
        }
        let b = check_floats(&prices);
        let mut mix = Mix::default();
        b.mix(&mut mix);
        assert!(mix.codecs.iter().any(|c| c.0 == "decimal"), "{mix:?}");
        // Full-mantissa values of similar magnitude: split.
        let full: Vec<f64> = (0..n)
            .map(|_| (r.next() % 1_000_000) as f64 / 7.0 - 5e4)
            .collect();
        let b = check_floats(&full);
        let mut mix = Mix::default();
        b.mix(&mut mix);
        assert!(mix.codecs.iter().any(|c| c.0 == "split"), "{mix:?}");
        // Random bit patterns (NaNs of every payload among them): plain.
        let noise: Vec<f64> = (0..n).map(|_| f64::from_bits(r.next())).collect();
        check_floats(&noise);
        // Edges alone, constants, empty.
        check_floats(&edge_f64());
        check_floats(&vec![-0.0; BLOCK + 3]);
        check_floats(&[f64::NAN; 10]);
        check_floats::<f64>(&[]);
        // Large integers near 2^53..2^62.
        let big: Vec<f64> = (0..n)
            .map(|i| (1u64 << 53) as f64 + (i as f64) * 2.0)
            .collect();
        check_floats(&big);
    }

    #[test]
    fn reals_round_trip_bit_exact_in_every_codec() {
        let mut r = Rng(5);
        let n = 2 * BLOCK + 100;
        let mut v: Vec<f32> = (0..n).map(|_| (r.next() % 10_000) as f32 / 100.0).collect();
        let edges = [
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0xff80_0001),
            f32::MAX,
            f32::MIN,
            f32::from_bits(1),
            1.2345678,
        ];
        for (i, x) in edges.into_iter().enumerate() {
            v[i * 101] = x;
        }
        check_floats(&v);
        let full: Vec<f32> = (0..n)
            .map(|_| (r.next() % 1_000_000) as f32 / 7.0)
            .collect();
        check_floats(&full);
        let noise: Vec<f32> = (0..n).map(|_| f32::from_bits(r.next() as u32)).collect();
        check_floats(&noise);
        check_floats(&edges);
    }

    #[test]
    fn float_parts_that_do_not_add_up_are_refused() {
        let v: Vec<f64> = (0..3000).map(|i| i as f64 / 7.0).collect();
        let b = FloatBlocks::<f64>::encode(v.len(), v.iter().copied());
        let mut p = b.parts();
        p.words.truncate(p.words.len() / 2);
        assert!(FloatBlocks::<f64>::from_parts(p).is_none());
        let mut p = b.parts();
        p.heads[0].kind = 9;
        assert!(FloatBlocks::<f64>::from_parts(p).is_none());
        let mut p = b.parts();
        p.heads[0].exc_len += 1000;
        assert!(FloatBlocks::<f64>::from_parts(p).is_none());
    }

    #[test]
    fn full_mantissa_doubles_cost_less_than_plain() {
        let mut r = Rng(9);
        let v: Vec<f64> = (0..BLOCK)
            .map(|_| ((r.next() % 2_000_000) as f64 - 1e6) / 3e5)
            .collect();
        let b = check_floats(&v);
        assert!(b.words.len() * 64 < BLOCK * 64, "{}", b.words.len());
    }
}
