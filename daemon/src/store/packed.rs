//! Integers in blocks of [`BLOCK`] rows, each block frame-of-reference +
//! bit-packed at the width its own values need (0–64 bits).
//!
//! Rows are held by (date, code), so a block is a run of one trading day's
//! rows of a column (5,400 stocks a day): prices in cents need about 18
//! bits there, not 32; a date is constant (0 bits); a timestamp written
//! the same day needs far fewer than 64.
//!
//! A read of one value touches the block's 16-byte header and the 8 bytes
//! from the value's first byte: no block is ever decoded as a whole. Every
//! block is followed by a spare word, so that read never leaves the block.
//! Blocks of 1,024 rows rather than 4,096: a block then holds a day's end
//! (where a line of timestamps or ids starts again) one time in five at
//! year scale (5,400 rows a day) instead of three times in four, and a
//! smaller block spans a narrower range of values. Measured at year scale
//! (demo data, one benchmark run per binary, back to back): 309 -> 298.5
//! B/row (`created_at` 28.3 -> 7.3 bits), the vendor-style set 230 -> 219
//! B/row, RSS after load 415 -> 399 MiB. A year's headers grow from 5 to
//! 20 KiB a column (1.6 MiB for 83 columns, in cache less often):
//! `stock.history`, one row of each date and so one header per date and
//! column, measured 4,264 against 4,697 requests a second (8 clients,
//! 0.91x), `stock.get` 27,865 against 28,669 (0.97x). (Before linear
//! blocks, 1,024-row blocks saved less and cost more: 348 -> 339 B/row
//! for 6,437 -> 5,264 history requests a second.)
//!
//! A block may be patched: its values at a narrower width and the few
//! that need more put aside after it (frame-of-reference with exceptions,
//! as PFOR), chosen per block when that is smaller. A day of a market's
//! amounts, prices or flows spans stocks of every size, and the largest
//! few widen a plain block by several bits for all its rows. Measured at
//! year scale: the demo data 282.4 -> 271.7 B/row, the vendor-style set
//! 202.4 -> 190.3 B/row. A read of such a lane (all ones) looks its value
//! up among the block's exceptions (a binary search of their lanes); the
//! weighing and patching add about 0.3 s to a year's load.
//!
//! Blocks are sealed when full and never written again; they live in
//! [`Shared`] buffers, so a refresh that appends a day appends whole blocks
//! into the room after them and the old generation keeps reading its own.
//! The rows after the last full block (fewer than [`BLOCK`]) are each
//! generation's own `tail`, packed alike in words of its own: the next
//! append reads them back and seals them with the new rows. (Held plain,
//! 8 bytes a value, the tails took 1.6 of the demo data's 301 B/row.) The
//! packer is written here rather than taken from a crate: the bit-packing
//! crates at hand pack 32-bit lanes or interleave values across lanes, and
//! neither gives a one-value read at any width up to 64.
//!
//! [`room_for`]: super::shared::room_for

use super::shared::{extend, room_for, Shared};
use std::sync::Arc;

/// Rows per block.
pub const BLOCK: usize = 1024;
const SHIFT: usize = 10;

/// One sealed block: `value = base + step × lane + bits`, `bits` being
/// `width` bits at word `word` of the words buffer, lane by lane (all
/// wrapping, so every i64 is exact).
///
/// `step` is 0 for plain frame-of-reference. A block whose values rise by
/// about the same amount a row (a serial id: 1; timestamps a job wrote
/// one row after another within a day) is held as its offsets from that
/// line: a bigserial `id` in (date, code) order takes 0 bits instead of 12.
///
/// A patched block ([`PATCHED`]) holds most of its values at `width`
/// bits and the few it cannot (its exceptions) aside, after its words;
/// such a lane holds all ones (see [`pack_patched`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Head {
    pub base: i64,
    /// `word << 24 | step as u16 << 8 | patched << 7 | width`.
    pub meta: u64,
}

/// The flag of a patched block in [`Head::meta`].
const PATCHED: u64 = 0x80;

impl Head {
    fn new(base: i64, word: usize, step: i16, width: u32) -> Head {
        Head {
            base,
            meta: (word as u64) << 24 | (step as u16 as u64) << 8 | width as u64,
        }
    }

    #[inline]
    fn patched(self) -> bool {
        self.meta & PATCHED != 0
    }

    #[inline]
    fn word(self) -> usize {
        (self.meta >> 24) as usize
    }

    #[inline]
    fn step(self) -> i64 {
        (self.meta >> 8) as u16 as i16 as i64
    }

    #[inline]
    fn width(self) -> u32 {
        (self.meta & 0x7f) as u32
    }
}

/// Words `lanes` values of `width` bits take, the spare word included.
#[inline]
fn block_words(lanes: usize, width: u32) -> usize {
    (lanes * width as usize).div_ceil(64).max(1) + 1
}

/// Frame-of-reference, bit-packed integers (see the module doc).
#[derive(Clone)]
pub struct Packed {
    heads: Shared<Head>,
    words: Shared<u64>,
    /// The rows after the sealed blocks.
    tail: Tail,
    len: usize,
}

impl Packed {
    /// `values`, with room in the buffers for a quarter more blocks of
    /// their width ([`room_for`]: about 60 trading days at year scale).
    pub fn new(values: &[i64]) -> Packed {
        let full = values.len() / BLOCK * BLOCK;
        let (heads, words) = seal(&values[..full], 0);
        Packed {
            heads: Shared::from(heads),
            words: Shared::from(words),
            tail: Tail::of(&values[full..]),
            len: values.len(),
        }
    }

    /// Rows held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Row `i`'s value. `i < len()`.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        match self.heads.get(i >> SHIFT) {
            Some(&h) => unpack(h, &self.words, i & (BLOCK - 1), BLOCK),
            None => self.tail.get(i - self.heads.len() * BLOCK),
        }
    }

    /// The address of the word holding row `i` (for a prefetch hint).
    #[inline]
    pub fn addr(&self, i: usize) -> *const u8 {
        match self.heads.get(i >> SHIFT) {
            Some(&h) => {
                let bit = h.word() * 64 + (i & (BLOCK - 1)) * h.width() as usize;
                self.words.as_ptr().wrapping_add(bit / 64).cast()
            }
            None => self.tail.words.as_ptr().cast(),
        }
    }

    /// The address of the header of row `i`'s block (for a prefetch hint:
    /// [`Packed::addr`] reads it).
    #[inline]
    pub fn head_addr(&self, i: usize) -> *const u8 {
        self.heads.as_ptr().wrapping_add(i >> SHIFT).cast()
    }

    /// Every value, in row order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len).map(move |i| self.get(i))
    }

    /// Bytes sealed block `b` takes: its header and words.
    pub fn block_bytes(&self, b: usize) -> usize {
        self.heads.get(b).map_or(0, |&h| {
            std::mem::size_of::<Head>() + block_span(h, &self.words, BLOCK).unwrap_or(0) * 8
        })
    }

    /// Bytes held: block headers, words and the tail.
    pub fn bytes(&self) -> usize {
        self.heads.bytes() + self.words.bytes() + self.tail.bytes()
    }

    /// These rows followed by `more`. The full blocks `more` completes are
    /// appended into this column's room (shared with it) when there is
    /// room and no newer generation appended first; else copied.
    pub fn append(&self, more: &[i64]) -> Packed {
        let mut rest: Vec<i64> = Vec::with_capacity(self.tail.len + more.len());
        rest.extend(self.tail.values());
        rest.extend_from_slice(more);
        let full = rest.len() / BLOCK * BLOCK;
        let (heads, words) = seal(&rest[..full], self.words.len());
        Packed {
            heads: extend(&self.heads, &heads),
            words: extend(&self.words, &words),
            tail: Tail::of(&rest[full..]),
            len: self.len + more.len(),
        }
    }

    /// These rows followed by `more`'s (see [`Packed::append`]).
    pub fn append_packed(&self, more: &Packed) -> Packed {
        self.append(&more.iter().collect::<Vec<_>>())
    }

    /// The rows in the order `perm` gives (row i is row `perm[i]`).
    pub fn permute(&self, perm: &[u32]) -> Packed {
        let v: Vec<i64> = perm.iter().map(|&r| self.get(r as usize)).collect();
        Packed::new(&v)
    }

    /// The parts a snapshot stores: headers, words, the tail's values.
    pub fn parts(&self) -> (&[Head], &[u64], Vec<i64>) {
        (&self.heads, &self.words, self.tail.values().collect())
    }

    /// A column from a snapshot's parts (`words` with [`room_for`] spare
    /// capacity is kept where it is), checked so that no read can
    /// leave them: `len` rows, every block's words inside `words`.
    pub fn from_parts(
        len: usize,
        heads: Vec<Head>,
        words: Vec<u64>,
        tail: Vec<i64>,
    ) -> Result<Packed, &'static str> {
        if heads
            .len()
            .checked_mul(BLOCK)
            .and_then(|n| n.checked_add(tail.len()))
            != Some(len)
            || tail.len() >= BLOCK
        {
            return Err("packed column: rows do not add up");
        }
        for h in &heads {
            if h.width() > 64 {
                return Err("packed column: width over 64");
            }
            let end = block_span(*h, &words, BLOCK).and_then(|n| h.word().checked_add(n));
            if end.is_none_or(|end| end > words.len()) {
                return Err("packed column: block past its words");
            }
        }
        Ok(Packed {
            heads: Shared::from(heads),
            words: Shared::from(words),
            tail: Tail::of(&tail),
            len,
        })
    }
}

/// Where zero's exponent field (0: zeros and subnormals) is put among the
/// others in a double's key: next to 2^-13 (about 1.2e-4), so that an
/// indicator that is exactly 0.0 now and then (`wr14` at a 14-day high,
/// `bias6` on its average) widens its block by a bit or so instead of the
/// 11 bits between exponent 0 and the exponents of values near 1.
const ZERO_EXP: u64 = 1010;
const EXP_MASK: u64 = 0x7ff << 52;

/// A double's key in a [`Packed`]: its bit pattern with the exponent field
/// 0 moved to [`ZERO_EXP`] (the exponents from 1 to `ZERO_EXP` one down),
/// rotated left by one, so the sign is the lowest bit and values of either
/// sign with nearby exponents share their high bits (one block then needs
/// the bits of its exponents' spread plus the mantissa's, not 64). Only
/// the exponent field is permuted, so the key is bit-exact for every
/// value: NaN payloads, ±Infinity, -0.0 and subnormals included.
///
/// The top bit is flipped so that the keys' order as i64 (in which blocks
/// take their minimum) is their order as u64: exponents 1023 (values in
/// [1, 2)) and 1024 ([2, 4)) are then next to each other, not 2^64 apart.
#[inline]
pub fn f64_key(x: f64) -> i64 {
    let bits = x.to_bits();
    let e = (bits & EXP_MASK) >> 52;
    let e = match e {
        0 => ZERO_EXP,
        e if e <= ZERO_EXP => e - 1,
        e => e,
    };
    let bits = (bits & !EXP_MASK) | (e << 52);
    (bits.rotate_left(1) ^ (1 << 63)) as i64
}

#[inline]
pub fn f64_of(key: i64) -> f64 {
    let bits = ((key as u64) ^ (1 << 63)).rotate_right(1);
    let e = (bits & EXP_MASK) >> 52;
    let e = match e {
        ZERO_EXP => 0,
        e if e < ZERO_EXP => e + 1,
        e => e,
    };
    f64::from_bits((bits & !EXP_MASK) | (e << 52))
}

/// A `real`'s key, as [`f64_key`].
#[inline]
pub fn f32_key(x: f32) -> i64 {
    x.to_bits().rotate_left(1) as i64
}

#[inline]
pub fn f32_of(key: i64) -> f32 {
    f32::from_bits((key as u32).rotate_right(1))
}

impl Packed {
    /// Integers of any width.
    pub fn of<T: Copy + Into<i64>>(v: &[T]) -> Packed {
        Packed::new(&v.iter().map(|&x| x.into()).collect::<Vec<i64>>())
    }

    pub fn of_f64s(v: &[f64]) -> Packed {
        Packed::new(&v.iter().map(|&x| f64_key(x)).collect::<Vec<i64>>())
    }

    pub fn of_f32s(v: &[f32]) -> Packed {
        Packed::new(&v.iter().map(|&x| f32_key(x)).collect::<Vec<i64>>())
    }

    /// Row `i` of a column of doubles.
    #[inline]
    pub fn f64(&self, i: usize) -> f64 {
        f64_of(self.get(i))
    }

    /// Row `i` of a column of reals.
    #[inline]
    pub fn f32(&self, i: usize) -> f32 {
        f32_of(self.get(i))
    }
}

/// `v` minus `step × lane`, wrapping.
#[inline]
fn off_line(v: i64, step: i64, lane: usize) -> i64 {
    v.wrapping_sub(step.wrapping_mul(lane as i64))
}

/// The base and width a block needs as offsets from the line of `step`
/// (0: plain frame-of-reference).
fn frame(block: &[i64], step: i64) -> (i64, u32) {
    let (lo, hi) = block
        .iter()
        .enumerate()
        .map(|(lane, &v)| off_line(v, step, lane))
        .fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let range = hi.wrapping_sub(lo) as u64;
    (lo, 64 - range.leading_zeros())
}

/// The rise a row from the block's first value to its last, rounded, when
/// it fits a header's 16 bits; else 0.
fn slope(block: &[i64]) -> i64 {
    let (Some(&first), Some(&last)) = (block.first(), block.last()) else {
        return 0;
    };
    let lanes = (block.len() - 1).max(1) as i128;
    let rise = last as i128 - first as i128;
    let s = (2 * rise + rise.signum() * lanes).div_euclid(2 * lanes);
    i16::try_from(s).map_or(0, i64::from)
}

/// Encodes `values` (a whole number of blocks) whose first word will sit
/// at `first_word` of the words buffer.
///
/// The blocks are packed into this thread's scratch buffer, then copied
/// once into a buffer of their size and [`room_for`] it: growing each
/// column's own buffer block by block copied it about twice over and
/// faulted in every size it passed through (a third of a load's finish).
fn seal(values: &[i64], first_word: usize) -> (Vec<Head>, Vec<u64>) {
    let mut heads = Vec::with_capacity(values.len() / BLOCK);
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        for block in values.chunks_exact(BLOCK) {
            heads.push(pack(block, first_word, scratch));
        }
        let mut words = Vec::with_capacity(scratch.len() + room_for(scratch.len()));
        words.extend_from_slice(scratch);
        (heads, words)
    })
}

thread_local! {
    /// [`seal`]'s buffer, kept between columns; [`release_scratch`]
    /// frees it.
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's packing buffer (a long-lived thread calls it when
/// it has packed what it had to; a worker's goes with the thread).
pub fn release_scratch() {
    SCRATCH.with_borrow_mut(|s| *s = Vec::new());
}

/// Packs one block of at most [`BLOCK`] values at the end of `words`
/// (whose first word sits at `first_word` of its buffer), followed by a
/// spare word; its header.
fn pack(block: &[i64], first_word: usize, words: &mut Vec<u64>) -> Head {
    let (mut step, (mut lo, mut width)) = (0, frame(block, 0));
    if width > 0 {
        let s = slope(block);
        if s != 0 {
            let (l, w) = frame(block, s);
            if w < width {
                (step, lo, width) = (s, l, w);
            }
        }
    }
    let at = words.len();
    if width >= PATCH_FROM && !super::shared::is_tight() {
        if let Some((window, narrow)) = patch_plan(block, step, lo, width) {
            let head = pack_patched(
                block,
                first_word,
                words,
                (step, lo, width),
                (window, narrow),
            );
            if words.len() - at < block_words(block.len(), width) {
                return head;
            }
            words.truncate(at);
        }
    }
    let head = Head::new(lo, first_word + at, step as i16, width);
    words.resize(at + block_words(block.len(), width), 0);
    if width == 0 {
        return head;
    }
    let out = &mut words[at..];
    for (lane, &v) in block.iter().enumerate() {
        put_bits(
            out,
            lane,
            width,
            off_line(v, step, lane).wrapping_sub(lo) as u64,
        );
    }
    head
}

/// Writes `x` (of at most `width` bits) as value `i` of `width` bits from
/// the start of `out`.
#[inline]
fn put_bits(out: &mut [u64], i: usize, width: u32, x: u64) {
    let bit = i * width as usize;
    let (w, s) = (bit / 64, bit % 64);
    out[w] |= x << s;
    if s + width as usize > 64 {
        out[w + 1] |= x >> (64 - s);
    }
}

/// Value `i` of `width` bits from word `at` of `words` (whose word after
/// the value's last exists).
#[inline]
fn get_bits(words: &[u64], at: usize, i: usize, width: u32) -> u64 {
    let bit = i * width as usize;
    let w = at + bit / 64;
    let pair = (words[w] as u128) | ((words[w + 1] as u128) << 64);
    let mask = ((1u128 << width) - 1) as u64;
    (pair >> (bit % 64)) as u64 & mask
}

/// The narrowest width at which a block is worth patching.
const PATCH_FROM: u32 = 8;

/// Whether a block of `width` bits (offsets from the line of `step`,
/// lowest `lo`) is smaller patched: most values at a narrower width, the
/// rest aside at `width` bits with their lane (about 16 + `width` bits
/// each, and four words). A market's day spans stocks of every size, so
/// a column of amounts or prices is a few bits narrower for most of its
/// rows than for its largest few. Two windows are weighed at every width:
/// from the lowest value up, and centred on the median of 31 of the
/// block's values (for a flow with tails on both sides), each on every
/// eighth value (the packing then puts aside what does not fit, and
/// [`pack`] keeps the plain block if that came out larger). Returns the
/// window's lowest value and its width, or `None` if patching would save
/// less than a word.
fn patch_plan(block: &[i64], step: i64, lo: i64, width: u32) -> Option<(i64, u32)> {
    let lanes = block.len();
    if lanes < 64 || width > 62 {
        return None;
    }
    let x = |lane: usize| off_line(block[lane], step, lane);
    let mut probe: Vec<i64> = (0..31).map(|k| x(k * lanes / 31)).collect();
    probe.sort_unstable();
    let mid = probe[15];
    // How many of the sampled values need k bits: from `lo` up, and away
    // from `mid` (within 2^62 of each other: no overflow).
    let (mut up, mut around) = ([0u32; 64], [0u32; 64]);
    let stride = 8;
    for lane in (0..lanes).step_by(stride) {
        let v = x(lane);
        up[(64 - (v.wrapping_sub(lo) as u64).leading_zeros()) as usize] += 1;
        around[(64 - v.wrapping_sub(mid).unsigned_abs().leading_zeros()) as usize] += 1;
    }
    let sampled = lanes.div_ceil(stride);
    let cost = |bits: u32, fit: usize| {
        let out = (sampled - fit) * lanes / sampled;
        block_words(lanes, bits) + 2 + out.div_ceil(4) + block_words(out, width)
    };
    let plain = block_words(lanes, width);
    let mut best: Option<(usize, i64, u32)> = None;
    let (mut fit_up, mut fit_around) = (up[0] as usize, 0usize);
    for bits in 1..width {
        // Fits below all ones of `bits` bits (roughly: the values of
        // exactly all ones are put aside too).
        fit_up += up[bits as usize] as usize;
        fit_around += around[bits as usize - 1] as usize;
        let half = 1i64 << (bits - 1);
        for (fit, window) in [(fit_up, Some(lo)), (fit_around, mid.checked_sub(half - 1))] {
            let (words, Some(window)) = (cost(bits, fit), window) else {
                continue;
            };
            if words < best.map_or(plain, |b| b.0) {
                best = Some((words, window, bits));
            }
        }
    }
    best.map(|(_, window, bits)| (window, bits))
}

/// Packs a block patched (see [`Head`]): lanes from `window` at `narrow`
/// bits, all ones for an exception; after them (and their spare word),
/// the exceptions: a word `count | width << 16`, a word `lo`, the lanes
/// 4 to a word (16 bits each, ascending), and the values from `lo` at
/// `width` bits followed by a spare word.
fn pack_patched(
    block: &[i64],
    first_word: usize,
    words: &mut Vec<u64>,
    (step, lo, width): (i64, i64, u32),
    (window, narrow): (i64, u32),
) -> Head {
    let at = words.len();
    let head = Head {
        meta: Head::new(window, first_word + at, step as i16, narrow).meta | PATCHED,
        base: window,
    };
    words.resize(at + block_words(block.len(), narrow), 0);
    let all_ones = (1u64 << narrow) - 1;
    let (mut lanes, mut aside) = (Vec::new(), Vec::new());
    for (lane, &v) in block.iter().enumerate() {
        let v = off_line(v, step, lane);
        let mut x = v.wrapping_sub(window) as u64;
        if x >= all_ones {
            lanes.push(lane as u64);
            aside.push(v.wrapping_sub(lo) as u64);
            x = all_ones;
        }
        put_bits(&mut words[at..], lane, narrow, x);
    }
    words.push(lanes.len() as u64 | (width as u64) << 16);
    words.push(lo as u64);
    words.extend(lanes.chunks(4).map(|c| {
        c.iter()
            .enumerate()
            .fold(0u64, |w, (k, &lane)| w | lane << (16 * k))
    }));
    let values = words.len();
    words.resize(values + block_words(aside.len(), width), 0);
    for (i, &y) in aside.iter().enumerate() {
        put_bits(&mut words[values..], i, width, y);
    }
    head
}

/// Words a block of `lanes` lanes headed by `h` spans from its first word
/// in `words`: its lanes and, patched, its exceptions. `None` when they
/// are not all inside `words` (a damaged snapshot).
fn block_span(h: Head, words: &[u64], lanes: usize) -> Option<usize> {
    let own = block_words(lanes, h.width());
    if !h.patched() {
        return Some(own);
    }
    let aside = *words.get(h.word().checked_add(own)?)?;
    let (count, width) = ((aside & 0xffff) as usize, ((aside >> 16) & 0xff) as u32);
    if count > lanes || width > 64 {
        return None;
    }
    Some(own + 2 + count.div_ceil(4) + block_words(count, width))
}

/// The exception at `lane` of the patched block `h` of `lanes` lanes.
#[cold]
#[inline(never)]
fn exception(h: Head, words: &[u64], lane: usize, lanes: usize) -> i64 {
    let at = h.word() + block_words(lanes, h.width());
    let (aside, lo) = (words[at], words[at + 1] as i64);
    let (count, width) = ((aside & 0xffff) as usize, ((aside >> 16) & 0xff) as u32);
    let lane_at = |i: usize| ((words[at + 2 + i / 4] >> (16 * (i % 4))) & 0xffff) as usize;
    let (mut a, mut b) = (0, count);
    while a < b {
        let m = (a + b) / 2;
        match lane_at(m) < lane {
            true => a = m + 1,
            false => b = m,
        }
    }
    let values = at + 2 + count.div_ceil(4);
    let y = match a < count && lane_at(a) == lane {
        true => get_bits(words, values, a, width),
        // A lane of all ones that is not listed: only a damaged file
        // could hold one (it is checksummed before it is read).
        false => 0,
    };
    lo.wrapping_add(y as i64)
        .wrapping_add(h.step().wrapping_mul(lane as i64))
}

/// Bytes a block of `values` takes packed: header and words.
pub fn block_bytes_of(values: &[i64]) -> usize {
    let mut words = Vec::new();
    pack(values, 0, &mut words);
    std::mem::size_of::<Head>() + words.len() * 8
}

/// The value at `lane` of the block `h` heads in `words`.
#[inline]
fn unpack(h: Head, words: &[u64], lane: usize, lanes: usize) -> i64 {
    let width = h.width();
    let bit = h.word() * 64 + lane * width as usize;
    let mask = ((1u128 << width) - 1) as u64;
    let bits = if cfg!(target_endian = "little") && width <= 56 {
        // One 8-byte read from the value's first byte holds all of it (its
        // first bit is at most 7 bits in); the block's spare word keeps
        // the read inside the block.
        // SAFETY: the words are initialised u64s; u8 has no alignment and
        // no invalid values, and the byte length is the words' length × 8.
        let bytes =
            unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) };
        let at = bit / 8;
        let raw = bytes[at..at + 8]
            .first_chunk::<8>()
            .map_or(0, |b| u64::from_le_bytes(*b));
        raw >> (bit % 8)
    } else {
        let w = bit / 64;
        let pair = (words[w] as u128) | ((words[w + 1] as u128) << 64);
        (pair >> (bit % 64)) as u64
    };
    let x = bits & mask;
    if x == mask && h.patched() {
        return exception(h, words, lane, lanes);
    }
    h.base
        .wrapping_add(x as i64)
        .wrapping_add(h.step().wrapping_mul(lane as i64))
}

/// The rows after a column's sealed blocks (fewer than [`BLOCK`]), packed
/// as a block of their own in words of their own: each generation's own,
/// never shared, so a refresh that appends reads them back and seals them
/// with its rows.
#[derive(Clone)]
struct Tail {
    head: Head,
    words: Arc<[u64]>,
    len: usize,
}

impl Tail {
    fn of(values: &[i64]) -> Tail {
        let mut words = Vec::new();
        // No rows: no words (and a header that is never read).
        let head = match values {
            [] => Head::new(0, 0, 0, 0),
            _ => pack(values, 0, &mut words),
        };
        Tail {
            head,
            words: words.into(),
            len: values.len(),
        }
    }

    #[inline]
    fn get(&self, lane: usize) -> i64 {
        unpack(self.head, &self.words, lane, self.len)
    }

    fn values(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len).map(|lane| self.get(lane))
    }

    fn bytes(&self) -> usize {
        match self.len {
            0 => 0,
            _ => std::mem::size_of::<Head>() + self.words.len() * 8,
        }
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Packed {}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Packed(len {}, {} blocks, {} words)",
            self.len,
            self.heads.len(),
            self.words.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so failures repeat.
    fn rng(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    fn check(v: &[i64]) {
        let p = Packed::new(v);
        assert_eq!(p.len(), v.len());
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(p.get(i), x, "row {i} of {}", v.len());
        }
        let (h, w, t) = p.parts();
        let back = Packed::from_parts(v.len(), h.to_vec(), w.to_vec(), t.to_vec()).expect("parts");
        assert_eq!(back, p);
        // Appended after a cut anywhere (a tail read back and sealed with
        // the new rows): the same values.
        for cut in [0, v.len() / 3, v.len().saturating_sub(1), v.len()] {
            let joined = Packed::new(&v[..cut]).append(&v[cut..]);
            assert!(
                joined.iter().eq(v.iter().copied()),
                "cut at {cut} of {}",
                v.len()
            );
        }
    }

    #[test]
    fn a_tail_is_packed_like_a_block() {
        // 1,000 rows after the last block, values of 4 bits: its header
        // and 63 + 1 words, not 8 bytes a value.
        let v: Vec<i64> = (0..BLOCK + 1_000).map(|i| (i * 7 % 16) as i64).collect();
        let tail = Packed::new(&v).bytes() - Packed::new(&v[..BLOCK]).bytes();
        assert_eq!(tail, 16 + (1_000 * 4usize).div_ceil(64) * 8 + 8);
        check(&v);
    }

    #[test]
    fn every_width_round_trips_with_edge_values() {
        let mut r = rng(0x9e37_79b9_7f4a_7c15);
        for width in 0..=64u32 {
            let n = BLOCK * 3 + 17;
            let v: Vec<i64> = (0..n)
                .map(|_| {
                    let m = if width == 64 {
                        u64::MAX
                    } else {
                        (1u64 << width) - 1
                    };
                    (r() & m) as i64 - 5
                })
                .collect();
            check(&v);
        }
        let edges = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
        let v: Vec<i64> = (0..BLOCK * 2 + 3).map(|i| edges[i % edges.len()]).collect();
        check(&v);
        check(&[]);
        check(&[42]);
        check(&vec![7; BLOCK]);
    }

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff4_0000_0000_0001),
            f64::from_bits(0xfff8_0000_dead_beef),
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE / 4.0,
            f64::MAX,
            f64::MIN,
            1.0 / 3.0,
        ];
        let mut r = rng(3);
        let mut v: Vec<f64> = (0..BLOCK * 3)
            .map(|i| match i % 4 {
                0 => f64::from_bits(r()),
                1 => (r() % 20_000) as f64 / 997.0 - 10.0,
                _ => specials[i % specials.len()],
            })
            .collect();
        v.extend_from_slice(&specials);
        let p = Packed::of_f64s(&v);
        for (i, &x) in v.iter().enumerate() {
            assert_eq!(p.f64(i).to_bits(), x.to_bits(), "row {i}");
        }
        let v32: Vec<f32> = v
            .iter()
            .map(|&x| x as f32)
            .chain([-0.0f32, f32::from_bits(0x7fc0_0123)])
            .collect();
        let p = Packed::of_f32s(&v32);
        for (i, &x) in v32.iter().enumerate() {
            assert_eq!(p.f32(i).to_bits(), x.to_bits(), "row {i}");
        }
        // Indicators of either sign around zero: far fewer than 64 bits.
        let macd: Vec<f64> = (0..BLOCK * 8)
            .map(|_| (r() % 4_000_000) as f64 / 1e6 - 2.0 + 1e-9)
            .collect();
        let bits = Packed::of_f64s(&macd).bytes() as f64 * 8.0 / macd.len() as f64;
        assert!(bits < 60.0, "{bits} bits a value");
        // An oscillator in [0, 100] that is exactly 0.0 now and then.
        let wr: Vec<f64> = (0..BLOCK * 8)
            .map(|i| match i % 50 {
                0 => 0.0,
                _ => (r() % 1_000_000) as f64 / 9_999.0 + 0.01,
            })
            .collect();
        let p = Packed::of_f64s(&wr);
        for (i, &x) in wr.iter().enumerate() {
            assert_eq!(p.f64(i).to_bits(), x.to_bits(), "row {i}");
        }
        let bits = p.bytes() as f64 * 8.0 / wr.len() as f64;
        assert!(bits < 59.0, "{bits} bits a value");
        // Every exponent field, both signs, with arbitrary mantissas.
        for e in 0..2048u64 {
            for sign in [0, 1u64 << 63] {
                let x = f64::from_bits(sign | e << 52 | (r() >> 12));
                assert_eq!(f64_of(f64_key(x)).to_bits(), x.to_bits(), "exponent {e}");
            }
        }
        // Prices either side of 2.0 (exponents 1023 and 1024).
        let ma: Vec<f64> = (0..BLOCK * 8)
            .map(|_| 1.0 + (r() % 3_000_000) as f64 / 1e6)
            .collect();
        let bits = Packed::of_f64s(&ma).bytes() as f64 * 8.0 / ma.len() as f64;
        assert!(bits < 56.0, "{bits} bits a value");
    }

    #[test]
    fn narrow_blocks_cost_their_width() {
        // One "day" of prices in cents: 18 bits, not 32 or 64.
        let mut r = rng(7);
        let v: Vec<i64> = (0..BLOCK * 100)
            .map(|_| 100 + (r() % 200_000) as i64)
            .collect();
        let p = Packed::new(&v);
        let bits = p.bytes() as f64 * 8.0 / v.len() as f64;
        assert!(bits < 18.5, "{bits} bits a value");
        let c = Packed::new(&vec![9_000; BLOCK * 10]);
        assert!(
            c.bytes() * 8 / (BLOCK * 10) < 1,
            "a constant column is almost free"
        );
    }

    #[test]
    fn blocks_on_a_line_are_held_as_offsets_from_it() {
        let bits = |v: &[i64]| Packed::new(v).bytes() as f64 * 8.0 / v.len() as f64;
        // A bigserial id: 0 bits (a block's 16-byte header, its one word
        // of zero-width values and its spare word only).
        let ids: Vec<i64> = (1..=(BLOCK * 20) as i64).collect();
        check(&ids);
        let overhead = 32.0 * 8.0 / BLOCK as f64;
        assert!(
            bits(&ids) <= overhead,
            "ids: {} bits a value, {overhead} the blocks' own cost",
            bits(&ids)
        );
        // Timestamps a job wrote 1,117 µs apart, with a jump to the next
        // day inside some blocks; and 983 µs apart plus 0-6 µs of noise.
        let day = 86_400_000_000i64;
        let ts: Vec<i64> = (0..BLOCK * 20)
            .map(|i| (i / 5400) as i64 * day + (i % 5400) as i64 * 1_117)
            .collect();
        check(&ts);
        // Plain frame-of-reference: 23 bits a block within a day, 37 across
        // a day's end (about 34 on average); on the line: 0 within a day.
        assert!(bits(&ts) < 30.0, "timestamps: {} bits a value", bits(&ts));
        let mut r = rng(5);
        let noisy: Vec<i64> = (0..BLOCK * 8)
            .map(|i| 1_700_000_000_000_000 + i as i64 * 983 + (r() % 7) as i64)
            .collect();
        check(&noisy);
        assert!(
            bits(&noisy) < 4.5,
            "noisy line: {} bits a value",
            bits(&noisy)
        );
        // Falling lines, steps at and past the header's 16 bits, lines
        // through i64's ends (wrapping), and random values on a line.
        for step in [-1i64, -32_768, 32_767, 32_768, -40_000, 1 << 40] {
            let v: Vec<i64> = (0..BLOCK * 3)
                .map(|i| (i as i64).wrapping_mul(step))
                .collect();
            check(&v);
            let w: Vec<i64> = (0..BLOCK * 3)
                .map(|i| i64::MAX.wrapping_add((i as i64).wrapping_mul(step)))
                .collect();
            check(&w);
            let x: Vec<i64> = (0..BLOCK * 3)
                .map(|i| {
                    (i as i64)
                        .wrapping_mul(step)
                        .wrapping_add(r() as i64 >> (r() % 64))
                })
                .collect();
            check(&x);
        }
    }

    #[test]
    fn an_append_shares_sealed_blocks_and_leaves_the_old_rows_alone() {
        let mut r = rng(11);
        let old: Vec<i64> = (0..BLOCK * 4 + 300).map(|_| (r() % 1000) as i64).collect();
        let more: Vec<i64> = (0..BLOCK + 900)
            .map(|_| (r() % 100_000) as i64 - 50)
            .collect();
        let a = Packed::new(&old);
        let b = a.append(&more);
        let all: Vec<i64> = old.iter().chain(&more).copied().collect();
        assert_eq!(b, Packed::new(&all), "the same as built at once");
        assert_eq!(a, Packed::new(&old), "the old view reads its own rows");
        assert_eq!(a.words.as_ptr(), b.words.as_ptr(), "one words buffer");
        // A second append from the old view copies (its room is b's now).
        let c = a.append(&[1, 2, 3]);
        assert_ne!(c.words.as_ptr(), b.words.as_ptr());
        let all_c: Vec<i64> = old.iter().chain(&[1, 2, 3]).copied().collect();
        assert_eq!(c, Packed::new(&all_c));
        assert_eq!(b, Packed::new(&all));
        // Many small appends, each sealing at most one block.
        let mut p = Packed::new(&[]);
        let mut want = Vec::new();
        for k in 0..40 {
            let day: Vec<i64> = (0..(k * 97) % 700).map(|_| r() as i64).collect();
            p = p.append(&day);
            want.extend_from_slice(&day);
            assert_eq!(p.len(), want.len());
        }
        assert_eq!(p, Packed::new(&want));
    }

    #[test]
    fn a_few_wide_values_are_put_aside() {
        // Most values of 20 bits, one in fifty of 40 on either side of
        // them (a market's amounts and net flows): patched blocks, about
        // 21 bits a value and the wide ones aside, instead of 42.
        let mut r = rng(42);
        let v: Vec<i64> = (0..BLOCK * 4 + 300)
            .map(|i| {
                let x = (r() % (1 << 20)) as i64;
                match i % 50 {
                    0 => x << 20,
                    25 => -(x << 20),
                    _ => x,
                }
            })
            .collect();
        let p = Packed::new(&v);
        assert!(p.heads.iter().all(|h| h.patched()));
        let bits = p.bytes() * 8 / v.len();
        assert!((21..26).contains(&bits), "{bits} bits a value");
        check(&v);
        // Values of all ones at the narrow width, exceptions at a block's
        // first and last lanes, a block with a line (ids rising by 3).
        let mut v: Vec<i64> = (0..BLOCK).map(|i| (i % 1024) as i64).collect();
        v.extend((0..BLOCK).map(|i| if i % 9 == 0 { 1023 } else { (i % 1000) as i64 }));
        v[BLOCK] = 1 << 40;
        v[2 * BLOCK - 1] = -(1 << 40);
        v.extend((0..BLOCK as i64).map(|i| 3 * i + if i % 100 == 7 { 1 << 35 } else { i % 5 }));
        check(&v);
        let p = Packed::new(&v);
        assert!(p.heads[1].patched() && p.heads[2].patched());

        // A damaged snapshot: exceptions past the words, or more of them
        // than the block has lanes, are refused.
        let (h, w, t) = p.parts();
        let (h, w, t) = (h.to_vec(), w.to_vec(), t.to_vec());
        assert!(
            Packed::from_parts(p.len(), h.clone(), w[..w.len() - 2].to_vec(), t.clone()).is_err()
        );
        let mut many = w.clone();
        many[h[1].word() + block_words(BLOCK, h[1].width())] |= 0xffff;
        assert!(Packed::from_parts(p.len(), h.clone(), many, t.clone()).is_err());
        assert!(Packed::from_parts(p.len(), h, w, t).is_ok());
    }

    #[test]
    fn snapshot_parts_that_do_not_add_up_are_refused() {
        let p = Packed::new(&(0..BLOCK as i64 * 2 + 5).collect::<Vec<_>>());
        let (h, w, t) = p.parts();
        let (h, w, t) = (h.to_vec(), w.to_vec(), t.to_vec());
        assert!(Packed::from_parts(p.len() + 1, h.clone(), w.clone(), t.clone()).is_err());
        assert!(
            Packed::from_parts(p.len(), h.clone(), w[..w.len() - 1].to_vec(), t.clone()).is_err()
        );
        let mut wide = h.clone();
        wide[0].meta |= 0xff;
        assert!(Packed::from_parts(p.len(), wide, w.clone(), t.clone()).is_err());
        let mut far = h.clone();
        far[1].meta = (u64::MAX >> 24) << 24 | 3;
        assert!(Packed::from_parts(p.len(), far, w.clone(), t.clone()).is_err());
        assert!(Packed::from_parts(p.len(), h, w, t).is_ok());
    }
}
