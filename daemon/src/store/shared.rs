//! Append-only column buffers shared between store generations.
//!
//! A refresh that adds a trading day builds a new generation whose columns
//! are the old ones plus the new day's rows. Copying every column to add
//! one day would cost a second store for a moment (1.3 GB at year scale);
//! instead each buffer is allocated with room to grow, and the new
//! generation writes the new rows into that room and shares everything
//! else. The old generation keeps reading its own rows, which nobody
//! writes again.
//!
//! [`Shared<T>`] is one generation's view: the first `len` values of a
//! buffer that may already hold more (a newer generation's rows). Only the
//! generation whose `len` is the buffer's filled length may append: a
//! second append from an older view is refused, so two generations never
//! write the same room. The room's whole pages are handed back to the
//! kernel when the buffer is made (`madvise(MADV_DONTNEED)`), so they cost
//! no RSS until written: the allocator often reuses pages a freed buffer
//! left resident, and room in them counted (110 MiB at year scale).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Room of fewer bytes than this is not handed back (not worth a call).
const RELEASE_FROM: usize = 64 << 10;

/// The allocation behind one or more [`Shared`] views.
struct Buf<T> {
    ptr: *mut T,
    cap: usize,
    /// Values written so far: every view's `len` is at most this.
    filled: AtomicUsize,
}

// SAFETY: `Buf` owns its allocation like a `Vec<T>`. Values below `filled`
// are never written again and are only read through `&[T]`; values at or
// above it are written by the one caller whose compare-exchange on
// `filled` claimed them, and published to other threads by the `Arc` of
// the new view (its clone and hand-off happen after the write).
unsafe impl<T: Copy + Send + Sync> Send for Buf<T> {}
unsafe impl<T: Copy + Send + Sync> Sync for Buf<T> {}

impl<T> Drop for Buf<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `cap` came from a `Vec<T>` (see `Shared::in_vec`);
        // a length of 0 drops no value (T is Copy anyway).
        unsafe { drop(Vec::from_raw_parts(self.ptr, 0, self.cap)) }
    }
}

/// Hands the whole pages of `ptr[len..cap]` back to the kernel: they read
/// as zeros and cost no RSS until written again.
fn release_room<T>(ptr: *mut T, len: usize, cap: usize) {
    const PAGE: usize = 4096;
    let size = std::mem::size_of::<T>();
    let start = (ptr as usize + len * size).next_multiple_of(PAGE);
    let end = (ptr as usize + cap * size) / PAGE * PAGE;
    if end > start && end - start >= RELEASE_FROM {
        // SAFETY: [start, end) lies inside this buffer's allocation, past
        // every value written (nobody reads it until an append writes it);
        // MADV_DONTNEED on anonymous memory keeps the mapping, which reads
        // as zero pages afterwards. A refusal only leaves the pages resident.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// One generation's rows of a column: `buf[..len]`.
pub struct Shared<T: Copy> {
    buf: Arc<Buf<T>>,
    /// `buf.ptr`, kept here so a read costs what a `Vec`'s does.
    ptr: *const T,
    len: usize,
}

// SAFETY: `ptr` points into `buf`, which `Shared` keeps alive; the values
// a view reads are never written again (see `Buf`).
unsafe impl<T: Copy + Send + Sync> Send for Shared<T> {}
unsafe impl<T: Copy + Send + Sync> Sync for Shared<T> {}

impl<T: Copy + Send + Sync> Shared<T> {
    /// The values of `v`, with room for `room` more appended later, in
    /// `v`'s allocation (grown or trimmed to fit).
    pub fn new(v: Vec<T>, room: usize) -> Shared<T> {
        let want = v.len().saturating_add(room);
        Shared::in_vec(v, want)
    }

    /// `parts` one after the other, with room for `room` more.
    pub fn concat(parts: &[&[T]], room: usize) -> Shared<T> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let want = len.saturating_add(room);
        let mut v = Vec::with_capacity(want);
        for p in parts {
            v.extend_from_slice(p);
        }
        Shared::in_vec(v, want)
    }

    /// A view of `v`'s values in `v`'s allocation, grown (or trimmed) to
    /// about `want` values, its room handed back to the kernel.
    fn in_vec(mut v: Vec<T>, want: usize) -> Shared<T> {
        if v.capacity() < want {
            v.reserve_exact(want - v.len());
        } else if v.capacity() > want.saturating_add(want / 4).max(64) {
            v.shrink_to(want);
        }
        let len = v.len();
        let mut v = std::mem::ManuallyDrop::new(v);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
        release_room(ptr, len, cap);
        Shared {
            buf: Arc::new(Buf {
                ptr,
                cap,
                filled: AtomicUsize::new(len),
            }),
            ptr,
            len,
        }
    }

    /// This view plus `more`, written into the room after it; `None` when
    /// the room is too small or a newer view has already appended (the
    /// caller then builds a new buffer).
    pub fn append(&self, more: &[T]) -> Option<Shared<T>> {
        let end = self.len.checked_add(more.len())?;
        if end > self.buf.cap {
            return None;
        }
        self.buf
            .filled
            .compare_exchange(self.len, end, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // SAFETY: the compare-exchange gave this call alone the values
        // `len..end`, which are inside the allocation (`end <= cap`) and
        // which no view reads (every view's `len` was at most `self.len`).
        unsafe {
            std::ptr::copy_nonoverlapping(more.as_ptr(), self.buf.ptr.add(self.len), more.len());
        }
        Some(Shared {
            buf: Arc::clone(&self.buf),
            ptr: self.ptr,
            len: end,
        })
    }

    /// Values that can still be appended after this view.
    pub fn room(&self) -> usize {
        self.buf.cap - self.len
    }
}

/// Room a buffer of `len` values is given for later appends: a quarter
/// more (about 60 trading days of a year's store), at least 4,096 values;
/// none inside [`tight`].
pub fn room_for(len: usize) -> usize {
    match TIGHT.get() {
        true => 0,
        false => (len / 4).max(4096),
    }
}

thread_local! {
    static TIGHT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `f`, with every buffer made on this thread meanwhile given no room:
/// for values read once and dropped, such as a load's encoded chunks (a
/// chunk's columns would otherwise each keep room for 4,096 more values
/// and block headers, more than their own size). Their blocks are not
/// patched either ([`is_tight`]).
pub fn tight<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            TIGHT.set(self.0);
        }
    }
    let _reset = Reset(TIGHT.replace(true));
    f()
}

/// Whether this thread is in [`tight`]: what it packs is read once, in
/// another order, and packed again, so a block is not worth patching
/// (weighing and patching a year's chunks took about 0.3 s of the COPY).
pub fn is_tight() -> bool {
    TIGHT.get()
}

/// A buffer of `v`'s values with [`room_for`] their number.
impl<T: Copy + Send + Sync> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Shared<T> {
        let room = room_for(v.len());
        Shared::new(v, room)
    }
}

/// `a` followed by `b`: appended into `a`'s room when it can be (the
/// buffer is then shared with `a`), else copied into a new buffer.
pub fn extend<T: Copy + Send + Sync>(a: &Shared<T>, b: &[T]) -> Shared<T> {
    a.append(b)
        .unwrap_or_else(|| Shared::concat(&[a, b], room_for(a.len() + b.len())))
}

impl<T: Copy> Shared<T> {
    /// Bytes of this view's values (the room is not resident until used).
    pub fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }
}

impl<T: Copy> Deref for Shared<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: values below `len` were written before this view existed
        // and are never written again (see `Buf`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Copy> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            buf: Arc::clone(&self.buf),
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl<T: Copy + PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Copy + Eq> Eq for Shared<T> {}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shared(len {}, cap {})", self.len, self.buf.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_shares_the_old_values_and_leaves_the_old_view_alone() {
        let a = Shared::new(vec![1u32, 2, 3], 4);
        let b = a.append(&[4, 5]).expect("room for 2");
        assert_eq!(&*a, &[1, 2, 3]);
        assert_eq!(&*b, &[1, 2, 3, 4, 5]);
        assert_eq!(a.as_ptr(), b.as_ptr(), "one buffer");
        assert_eq!(b.room(), 2);
        // The old view cannot append again: its room is b's rows now.
        assert!(a.append(&[9]).is_none());
        assert_eq!(&*b, &[1, 2, 3, 4, 5]);
        let c = b.append(&[6, 7]).expect("the newest view appends");
        assert!(c.append(&[8]).is_none(), "no room left");
        drop(a);
        drop(b);
        assert_eq!(&*c, &[1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn released_room_appends_like_any_other() {
        // Room well past RELEASE_FROM, its pages handed back.
        let n = RELEASE_FROM;
        let a = Shared::new((0..n as u64).collect(), n);
        let b = a.append(&[7; 100]).expect("room");
        assert_eq!((b.len(), b[n - 1], b[n + 99]), (n + 100, n as u64 - 1, 7));
        let c = Shared::concat(&[&b[..10], &[1, 2]], n);
        assert_eq!(&c[..], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2]);
        let d = c.append(&vec![5; n]).expect("room for n");
        assert!(d[12..].iter().all(|&x| x == 5));
        let small = Shared::concat(&[&[1u8, 2][..], &[3]], 5);
        assert_eq!((&small[..], small.room()), (&[1u8, 2, 3][..], 5));
    }

    #[test]
    fn empty_and_zero_room() {
        let e: Shared<f64> = Shared::new(Vec::new(), 0);
        assert!(e.is_empty());
        assert!(e.append(&[]).is_some());
        assert!(e.append(&[1.0]).is_none());
        let z = Shared::new(vec![1i16], 0);
        assert_eq!(z.bytes(), 2);
        assert_eq!(z.clone(), z);
    }

    #[test]
    fn appends_from_many_threads_at_once_claim_distinct_room() {
        let base = Shared::new(vec![0u64; 10], 1000);
        let winners: Vec<Option<Shared<u64>>> = std::thread::scope(|s| {
            let hs: Vec<_> = (1..=8u64)
                .map(|t| {
                    let base = &base;
                    s.spawn(move || base.append(&[t; 100]))
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let won: Vec<&Shared<u64>> = winners.iter().flatten().collect();
        assert_eq!(won.len(), 1, "exactly one append from the same view");
        let t = won[0][10];
        assert!(won[0][10..].iter().all(|&x| x == t));
        assert_eq!(&base[..], &[0u64; 10]);
    }
}
