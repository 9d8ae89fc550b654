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
//! write the same room. Unwritten room is virtual memory until it is
//! written (the allocator maps large buffers fresh from the kernel), so it
//! costs no RSS.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        // SAFETY: `ptr` and `cap` came from a `Vec<T>` (see `Shared::new`);
        // a length of 0 drops no value (T is Copy anyway).
        unsafe { drop(Vec::from_raw_parts(self.ptr, 0, self.cap)) }
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
    /// The values of `v`, with room for `room` more appended later. Reuses
    /// `v`'s allocation when it already has the room.
    pub fn new(mut v: Vec<T>, room: usize) -> Shared<T> {
        let want = v.len().saturating_add(room);
        if v.capacity() < want {
            v.reserve_exact(want - v.len());
        } else if v.capacity() > want.saturating_add(want / 4).max(64) {
            v.shrink_to(want);
        }
        let len = v.len();
        let mut v = std::mem::ManuallyDrop::new(v);
        let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
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
/// more (about 60 trading days of a year's store), at least 4,096 values.
pub fn room_for(len: usize) -> usize {
    (len / 4).max(4096)
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
    a.append(b).unwrap_or_else(|| {
        let n = a.len() + b.len();
        let mut v = Vec::with_capacity(n + room_for(n));
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        v.into()
    })
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
