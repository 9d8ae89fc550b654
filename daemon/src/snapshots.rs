//! The one snapshot writer: a dedicated thread that writes the newest
//! store handed to it, one write at a time. A store handed over while a
//! write runs waits; a newer one replaces it (the older is never written,
//! and its memory is released at once). At shutdown a running write is
//! waited for up to a bound, then cancelled: it stops between two blocks
//! and removes its temporary file, so the previous snapshot stays whole.
//!
//! The thread is not a tokio blocking-pool thread: the runtime's shutdown
//! neither waits for it nor cuts it off at a random point.

use crate::store::{snapshot, Store};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What `shutdown` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No write was running.
    Idle,
    /// The running write finished within the bound.
    Finished,
    /// The running write was cancelled; the previous snapshot is in place.
    Abandoned,
}

#[derive(Default)]
struct State {
    /// The store to write next (a newer one replaces it).
    pending: Option<Arc<Store>>,
    /// A write is running.
    writing: bool,
    /// No more writes: the thread exits once idle.
    closed: bool,
    /// Writes completed, and stores replaced before they were written.
    written: u64,
    superseded: u64,
}

struct Inner {
    dir: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
    cancel: AtomicBool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands stores to the writer thread; see the module documentation.
pub struct SnapshotWriter {
    inner: Arc<Inner>,
}

impl SnapshotWriter {
    /// Starts the writer thread for snapshots in `dir`.
    pub fn start(dir: PathBuf) -> std::io::Result<SnapshotWriter> {
        let inner = Arc::new(Inner {
            dir,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            cancel: AtomicBool::new(false),
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("stockd-snapshot".into())
            .spawn(move || {
                crate::memory::lower_thread_priority();
                run(&worker)
            })?;
        Ok(SnapshotWriter { inner })
    }

    /// Asks for `store` to be written; returns at once. A store waiting
    /// for the running write to end is replaced by this one.
    pub fn submit(&self, store: Arc<Store>) {
        let mut st = self.inner.lock();
        if st.closed {
            return;
        }
        if st.pending.replace(store).is_some() {
            st.superseded += 1;
            tracing::debug!("a newer store replaces the snapshot waiting to be written");
        }
        self.inner.changed.notify_all();
    }

    /// (writes completed, stores replaced before being written).
    pub fn counts(&self) -> (u64, u64) {
        let st = self.inner.lock();
        (st.written, st.superseded)
    }

    /// Stops the writer: a store not yet being written is dropped; a
    /// running write is waited for up to `wait`, then cancelled (it removes
    /// its temporary file within one block) and waited for up to `wait`
    /// again at most, never longer.
    pub fn shutdown(&self, wait: Duration) -> Stopped {
        let started = Instant::now();
        let mut st = self.inner.lock();
        st.closed = true;
        if st.pending.take().is_some() {
            tracing::info!(
                "stopping: the newest store's snapshot was not started; the previous snapshot is kept"
            );
        }
        self.inner.changed.notify_all();
        if !st.writing {
            return Stopped::Idle;
        }
        tracing::info!(
            ?wait,
            "stopping: waiting for the snapshot write in progress"
        );
        let (mut st, timeout) = self
            .inner
            .changed
            .wait_timeout_while(st, wait, |s| s.writing)
            .unwrap_or_else(|e| e.into_inner());
        if !timeout.timed_out() {
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "snapshot write finished"
            );
            return Stopped::Finished;
        }
        self.inner.cancel.store(true, Ordering::Relaxed);
        tracing::warn!(
            ?wait,
            "stopping: the snapshot write took longer than the wait; cancelled, the previous snapshot is kept"
        );
        (st, _) = self
            .inner
            .changed
            .wait_timeout_while(st, wait, |s| s.writing)
            .unwrap_or_else(|e| e.into_inner());
        drop(st);
        Stopped::Abandoned
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        st.closed = true;
        st.pending = None;
        self.inner.changed.notify_all();
    }
}

fn run(inner: &Inner) {
    loop {
        let store = {
            let mut st = inner.lock();
            loop {
                if let Some(s) = st.pending.take() {
                    st.writing = true;
                    break s;
                }
                if st.closed {
                    return;
                }
                st = inner.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            snapshot::write_cancellable(&store, &inner.dir, &inner.cancel)
        }))
        .unwrap_or_else(|_| {
            Err(snapshot::SnapshotError::Io(std::io::Error::other(
                "the snapshot writer panicked",
            )))
        });
        let generation = store.info.generation;
        // The store may be the last reference to a replaced generation.
        drop(store);
        let ok = result.is_ok();
        match result {
            Ok(path) => tracing::info!(
                path = %path.display(),
                generation,
                ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            ),
            Err(e) => tracing::warn!(
                generation,
                "snapshot not written to {}: {e}; the previous snapshot is kept",
                inner.dir.display()
            ),
        }
        let mut st = inner.lock();
        st.writing = false;
        st.written += u64::from(ok);
        inner.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoParams;

    fn store(generation: u64) -> Arc<Store> {
        let mut p = DemoParams::seed();
        p.stocks = 40;
        p.days = 3;
        p.suspended = 2;
        Arc::new(crate::source::load_demo(&p, generation).unwrap())
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stockd-writer-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_newest_store_is_written_and_shutdown_is_idle_after() {
        let dir = tempdir("newest");
        let w = SnapshotWriter::start(dir.clone()).unwrap();
        for g in 1..=20 {
            w.submit(store(g));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = w.inner.lock();
            if s.pending.is_none() && !s.writing {
                break;
            }
            drop(s);
            assert!(Instant::now() < deadline, "writer never went idle");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (written, superseded) = w.counts();
        assert_eq!(written + superseded, 20, "{written} + {superseded}");
        let back = snapshot::read(&dir.join(snapshot::FILE_NAME)).unwrap();
        assert_eq!(back.info.generation, 20);
        assert_eq!(w.shutdown(Duration::from_secs(1)), Stopped::Idle);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [snapshot::FILE_NAME]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
