//! A load, off the async workers: one long-lived thread (`stockd-load`)
//! opens a connection of its own, receives the binary COPY stream and
//! decodes it into the store as it arrives, on a single-threaded runtime
//! that serves nothing else. The serving runtime only waits for the
//! answer, so neither the COPY's network traffic nor its decoding runs on
//! a worker that requests need.
//!
//! The thread runs at a lower CPU priority than the async workers
//! ([`crate::memory::BACKGROUND_NICE`]). Because it both reads the socket
//! and decodes, a busy machine slows the whole pipeline: when requests need
//! the CPU, the thread reads less, PostgreSQL's backend blocks on a full
//! socket buffer and takes less CPU too, instead of racing the workers.
//!
//! Dropping the future of [`copy_and_build`] (the load was cancelled, e.g.
//! by SIGTERM) tells the thread to stop: it drops the connection (the
//! server ends the COPY) and the half-built store, and waits for the next
//! load.
//!
//! One thread for all loads, not one per load: mimalloc hands a thread's
//! freed pages back only when that thread asks, so the thread that built
//! the previous store is the one that collects after the next load.

use super::{pg_detail, LoadError};
use crate::pgconn::Connector;
use crate::store::copy::CopyDecoder;
use crate::store::schema::ColumnSpec;
use crate::store::{LoadInfo, Store, StoreBuilder};
use futures_util::TryStreamExt;
use std::sync::{mpsc as stdmpsc, Mutex, OnceLock};
use tokio::sync::oneshot;

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

/// What one load reads and builds.
pub struct CopyJob {
    /// Opens the load's own connection (not one of the pool's: a pooled
    /// connection's traffic is driven by a task on the serving runtime).
    pub connector: Connector,
    /// `COPY (…) TO STDOUT (FORMAT binary)`.
    pub sql: String,
    pub specs: Vec<ColumnSpec>,
    pub code: String,
    pub date: String,
    /// The expected row count (capacity only).
    pub rows: usize,
    pub table: String,
    pub info: LoadInfo,
}

/// Runs `job` on the load thread: connects, copies, decodes and builds.
/// Dropping the returned future cancels the load.
pub async fn copy_and_build(job: CopyJob) -> Result<Store, LoadError> {
    let (done_tx, done) = oneshot::channel();
    // Never sent: dropping it (with this future) is the cancellation.
    let (_cancel, mut cancelled) = oneshot::channel::<()>();
    let work: Job = Box::new(move || {
        let result = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(async {
                tokio::select! {
                    r = run(job) => Some(r),
                    _ = &mut cancelled => None,
                }
            }),
            Err(e) => Some(Err(LoadError::Task(format!(
                "cannot start the load thread's runtime: {e}"
            )))),
        };
        // The builder's buffers (the store's columns are in buffers of
        // their own now), a cancelled build, and whatever other threads
        // freed of this thread's pages go back to the kernel before the
        // store is handed over, so the RSS it is served with is its own.
        crate::memory::release_to_os();
        if let Some(result) = result {
            let _ = done_tx.send(result);
        }
    });
    queue()?
        .send(work)
        .map_err(|_| LoadError::Task("the load thread has stopped".into()))?;
    done.await
        .map_err(|_| LoadError::Task("the load thread dropped the load".into()))?
}

/// The load thread's part.
async fn run(job: CopyJob) -> Result<Store, LoadError> {
    let store_error = |source| LoadError::Store {
        table: job.table.clone(),
        source,
    };
    let ncols = job.specs.len();
    let mut builder =
        StoreBuilder::new(job.specs, &job.code, &job.date, job.rows).map_err(&store_error)?;
    let mut decoder = CopyDecoder::new(ncols);
    let (client, connection) = job
        .connector
        .connect_raw()
        .await
        .map_err(|e| LoadError::Connect(pg_detail(&e)))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("the load's connection closed: {}", pg_detail(&e));
        }
    });
    let copied = async {
        let stream = client.copy_out(job.sql.as_str()).await?;
        tracing::debug!("connected; COPY started");
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.try_next().await? {
            decoder.feed(&chunk, &mut builder).map_err(&store_error)?;
        }
        Ok::<(), LoadError>(())
    }
    .await;
    drop(client);
    match copied {
        // The connection says goodbye to the server and ends.
        Ok(()) => {
            let _ = driver.await;
        }
        // It may still be receiving the rest of the COPY: cut it off.
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    }
    decoder.finish().map_err(&store_error)?;
    tracing::debug!(
        rows = builder.rows(),
        builder_mib = format!("{:.1}", builder.heap_bytes() as f64 / 1048576.0),
        "COPY drained; putting the rows in (date, code) order"
    );
    Ok(builder.finish(job.info))
}
