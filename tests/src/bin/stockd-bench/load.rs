//! Load time: the daemon's cold load vs draining the same binary COPY with
//! the same client library and nothing else.

use std::time::Instant;

use anyhow::Result;
use futures_util::TryStreamExt;

use crate::daemon::{LoadLine, ProcMem};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DrainRun {
    /// From sending the COPY to the last byte (connection already open).
    pub ms: f64,
    /// Connecting first, for reference.
    pub connect_ms: f64,
    pub bytes: u64,
}

/// Drains `sql` (a `COPY … TO STDOUT (FORMAT binary)`) over a fresh
/// connection with tokio-postgres `copy_out`, discarding the bytes.
pub async fn drain(url: &str, sql: &str) -> Result<DrainRun> {
    let t0 = Instant::now();
    let client = crate::prepare::connect(url).await?;
    let connect_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let t1 = Instant::now();
    let stream = client.copy_out(sql).await?;
    futures_util::pin_mut!(stream);
    let mut bytes = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len() as u64;
    }
    Ok(DrainRun {
        ms: t1.elapsed().as_secs_f64() * 1000.0,
        connect_ms,
        bytes,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadRun {
    /// Spawn → first `market.info` answer with rows.
    pub wall_ready_ms: f64,
    /// The daemon's own figure (admin.status store.load_ms, else its log).
    pub load_ms: Option<u64>,
    pub load_ms_source: &'static str,
    pub log: LoadLine,
    pub mem_after_ready: Option<ProcMem>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    pub runs: Vec<LoadRun>,
    pub drains: Vec<DrainRun>,
    pub best_load_ms: Option<u64>,
    pub best_wall_ready_ms: f64,
    pub best_drain_ms: f64,
    pub copy_bytes: u64,
    /// best_load_ms / best_drain_ms (the target's ratio).
    pub ratio: Option<f64>,
    /// best_wall_ready_ms / best_drain_ms (includes process start).
    pub wall_ratio: f64,
    pub copy_sql_head: String,
}

impl LoadResult {
    pub fn new(runs: Vec<LoadRun>, drains: Vec<DrainRun>, copy_sql: &str) -> LoadResult {
        let best_load_ms = runs.iter().filter_map(|r| r.load_ms).min();
        let best_wall = runs
            .iter()
            .map(|r| r.wall_ready_ms)
            .fold(f64::INFINITY, f64::min);
        let best_drain = drains.iter().map(|d| d.ms).fold(f64::INFINITY, f64::min);
        let copy_bytes = drains.first().map_or(0, |d| d.bytes);
        let head: String = copy_sql.chars().take(90).collect();
        LoadResult {
            ratio: best_load_ms.map(|l| l as f64 / best_drain),
            wall_ratio: best_wall / best_drain,
            best_load_ms,
            best_wall_ready_ms: best_wall,
            best_drain_ms: best_drain,
            copy_bytes,
            runs,
            drains,
            copy_sql_head: format!("{head}…"),
        }
    }
}
