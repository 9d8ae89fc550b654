//! The CPU side of a load, off the async workers: one long-lived thread
//! (`stockd-load`) decodes the binary COPY stream and builds the store.
//! The async side only moves bytes from the connection into a bounded
//! channel (blocks of about [`BLOCK`]), so a year-scale load never holds a
//! worker for more than a memory copy, and a slow decoder slows the COPY
//! (back-pressure) instead of buffering the table in memory.
//!
//! Dropping a [`Build`] (the load was cancelled, e.g. by SIGTERM, or failed
//! on the network side) closes the channel; the thread then drops the
//! half-built store and waits for the next load.
//!
//! The thread runs at a lower CPU priority than the async workers
//! ([`crate::memory::BACKGROUND_NICE`]): on a small box, requests get the
//! CPU first and the load takes what is left.
//!
//! One thread for all loads, not one per load: mimalloc hands a thread's
//! freed pages back only when that thread asks, so the thread that built
//! the previous store is the one that collects after the next load.

use super::LoadError;
use crate::store::copy::CopyDecoder;
use crate::store::schema::ColumnSpec;
use crate::store::{LoadInfo, Store, StoreBuilder, StoreError};
use bytes::{Bytes, BytesMut};
use std::sync::{mpsc as stdmpsc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Bytes gathered before a block is handed to the decoder.
pub const BLOCK: usize = 256 << 10;
/// Blocks in flight between the connection and the decoder (so at most
/// about 2 MiB buffered).
pub const BLOCKS_IN_FLIGHT: usize = 8;

enum Msg {
    Data(Bytes),
    End(LoadInfo),
}

type Job = Box<dyn FnOnce() + Send>;

/// The load thread's queue, started at the first load.
fn queue() -> Result<stdmpsc::Sender<Job>, LoadError> {
    static QUEUE: OnceLock<Mutex<Option<stdmpsc::Sender<Job>>>> = OnceLock::new();
    let slot = QUEUE.get_or_init(|| Mutex::new(None));
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tx) = slot.as_ref() {
        return Ok(tx.clone());
    }
    let (tx, rx) = stdmpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("stockd-load".into())
        .spawn(move || {
            crate::memory::lower_thread_priority();
            while let Ok(job) = rx.recv() {
                // A panic fails that load (its answer channel is dropped),
                // not every later one.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("the load thread panicked; the load failed");
                }
            }
        })
        .map_err(|e| LoadError::Task(format!("cannot start the load thread: {e}")))?;
    *slot = Some(tx.clone());
    Ok(tx)
}

/// A store being built on the load thread from the bytes fed to it.
pub struct Build {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<Result<Store, StoreError>>,
    buf: BytesMut,
    table: String,
}

impl Build {
    /// Queues a build of a store with these columns on the load thread;
    /// `rows` is the expected row count (capacity only).
    pub fn start(
        specs: Vec<ColumnSpec>,
        code: &str,
        date: &str,
        rows: usize,
        table: &str,
    ) -> Result<Build, LoadError> {
        let (tx, rx) = mpsc::channel(BLOCKS_IN_FLIGHT);
        let (done_tx, done) = oneshot::channel();
        let (code, date) = (code.to_string(), date.to_string());
        let job: Job = Box::new(move || {
            if let Some(result) = decode(rx, specs, &code, &date, rows) {
                let _ = done_tx.send(result);
            }
            // The spare capacity of the builder, a cancelled build, and
            // whatever other threads freed of this thread's pages.
            crate::memory::release_to_os();
        });
        queue()?
            .send(job)
            .map_err(|_| LoadError::Task("the load thread has stopped".into()))?;
        Ok(Build {
            tx,
            done,
            buf: BytesMut::new(),
            table: table.to_string(),
        })
    }

    /// Hands over one chunk of the COPY stream (sent on in blocks).
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<(), LoadError> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= BLOCK {
            self.send_block().await?;
        }
        Ok(())
    }

    async fn send_block(&mut self) -> Result<(), LoadError> {
        let block = self.buf.split().freeze();
        if self.tx.send(Msg::Data(block)).await.is_err() {
            // The decoder stopped: it found an error in the data.
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// Why the load thread stopped early.
    async fn failure(&mut self) -> LoadError {
        match (&mut self.done).await {
            Ok(Err(source)) => LoadError::Store {
                table: self.table.clone(),
                source,
            },
            Ok(Ok(_)) => LoadError::Task("the decoder ended before the data".into()),
            Err(_) => LoadError::Task("the load thread dropped the load".into()),
        }
    }

    /// The end of the stream: the store, built with `info`.
    pub async fn finish(mut self, info: LoadInfo) -> Result<Store, LoadError> {
        if !self.buf.is_empty() {
            self.send_block().await?;
        }
        if self.tx.send(Msg::End(info)).await.is_err() {
            return Err(self.failure().await);
        }
        match self.done.await {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(source)) => Err(LoadError::Store {
                table: self.table,
                source,
            }),
            Err(_) => Err(LoadError::Task("the load thread dropped the load".into())),
        }
    }
}

/// The load thread's part: `None` when the input ended without an end
/// (the load was cancelled).
fn decode(
    mut rx: mpsc::Receiver<Msg>,
    specs: Vec<ColumnSpec>,
    code: &str,
    date: &str,
    rows: usize,
) -> Option<Result<Store, StoreError>> {
    let ncols = specs.len();
    let mut builder = match StoreBuilder::new(specs, code, date, rows) {
        Ok(b) => b,
        Err(e) => return Some(Err(e)),
    };
    let mut decoder = CopyDecoder::new(ncols);
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Data(block) => {
                if let Err(e) = decoder.feed(&block, &mut builder) {
                    return Some(Err(e));
                }
            }
            Msg::End(info) => {
                return Some(decoder.finish().map(|()| builder.finish(info)));
            }
        }
    }
    None
}
