//! Closed-loop load: `clients` tasks, each issuing its next request as soon
//! as the previous answer is read and decoded. Bounded in time and count:
//! each client stops at the deadline or after `max_requests`, each request
//! has a timeout, and the whole measurement has a hard cap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cpu::{CpuUse, Snapshot};
use crate::ops::{Op, Rng};
use crate::prepare::Universe;
use crate::target::{CallError, Target, TargetClient};

/// A request slower than this ends its client (something is wrong).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OpStats {
    pub op: Op,
    pub target: &'static str,
    pub clients: usize,
    pub duration_s: f64,
    /// Requests started in the measured window and answered.
    pub requests: u64,
    pub warmup_requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Clients that stopped early on a transport error or timeout.
    pub failed_clients: usize,
    pub throughput: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    /// Average items per answer (rows; history dates; industries).
    pub rows_per_request: f64,
    /// Answers with a row count other than the expected one.
    pub wrong_row_count: u64,
    /// CPU time of everyone during the recorded window.
    pub cpu: Option<CpuUse>,
    /// The target's server CPU time per answered request (stockd process,
    /// or all PostgreSQL backends).
    pub server_cpu_us_per_req: Option<f64>,
    /// The benchmark client's CPU time per answered request.
    pub client_cpu_us_per_req: Option<f64>,
}

#[derive(Default)]
struct ClientResult {
    latencies_ns: Vec<u64>,
    warmup: u64,
    errors: u64,
    first_error: Option<String>,
    failed: Option<String>,
    rows: u64,
    wrong_rows: u64,
}

pub async fn run<T: Target>(
    target: &T,
    op: Op,
    universe: Arc<Universe>,
    cfg: &RunConfig,
) -> Result<OpStats> {
    let mut clients = Vec::with_capacity(cfg.clients);
    for i in 0..cfg.clients {
        clients.push(
            target
                .client()
                .await
                .with_context(|| format!("{} client {i}", target.name()))?,
        );
    }
    let start = Instant::now();
    let warm_end = start + cfg.warmup;
    let end = warm_end + cfg.duration;
    let expected = op.expected_rows();
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(warm_end.into()).await;
        let a = tokio::task::spawn_blocking(Snapshot::take).await.ok()?;
        tokio::time::sleep_until(end.into()).await;
        let b = tokio::task::spawn_blocking(Snapshot::take).await.ok()?;
        Some((a, b))
    });
    let mut tasks = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let universe = universe.clone();
        let mut rng = Rng::for_client(cfg.seed, op, i);
        let max = cfg.max_requests;
        tasks.push(tokio::spawn(async move {
            let mut r = ClientResult {
                latencies_ns: Vec::with_capacity(64 * 1024),
                ..Default::default()
            };
            loop {
                let t0 = Instant::now();
                if t0 >= end || r.latencies_ns.len() as u64 >= max {
                    break;
                }
                let req = op.next(&mut rng, &universe);
                let res = tokio::time::timeout(REQUEST_TIMEOUT, client.execute(req)).await;
                let dt = t0.elapsed();
                let measured = t0 >= warm_end;
                match res {
                    Ok(Ok(rows)) => {
                        if measured {
                            r.latencies_ns.push(dt.as_nanos() as u64);
                            r.rows += rows as u64;
                            if expected.is_some_and(|e| rows != e) {
                                r.wrong_rows += 1;
                            }
                        } else {
                            r.warmup += 1;
                        }
                    }
                    Ok(Err(CallError::Answer(e))) => {
                        r.errors += 1;
                        r.first_error.get_or_insert(e);
                    }
                    Ok(Err(CallError::Transport(e))) => {
                        r.failed = Some(format!("{e:#}"));
                        break;
                    }
                    Err(_) => {
                        r.failed = Some(format!("request timed out after {REQUEST_TIMEOUT:?}"));
                        break;
                    }
                }
            }
            r
        }));
    }
    let hard_stop = cfg.warmup + cfg.duration + REQUEST_TIMEOUT + Duration::from_secs(10);
    let mut all = Vec::new();
    let (mut warm, mut errors, mut rows, mut wrong, mut failed) = (0, 0, 0, 0, 0);
    let mut first_error = None;
    for t in tasks {
        let abort = t.abort_handle();
        let left = hard_stop.saturating_sub(start.elapsed());
        let r = match tokio::time::timeout(left, t).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => anyhow::bail!("client task failed: {e}"),
            Err(_) => {
                abort.abort();
                failed += 1;
                first_error.get_or_insert_with(|| "client did not stop in time".to_string());
                continue;
            }
        };
        all.extend_from_slice(&r.latencies_ns);
        warm += r.warmup;
        errors += r.errors;
        rows += r.rows;
        wrong += r.wrong_rows;
        if let Some(f) = r.failed {
            failed += 1;
            first_error.get_or_insert(format!("client failed: {f}"));
        }
        if let Some(e) = r.first_error {
            first_error.get_or_insert(e);
        }
    }
    let snaps = match tokio::time::timeout(Duration::from_secs(5), sampler).await {
        Ok(Ok(s)) => s,
        _ => None,
    };
    let cpu = snaps.map(|(a, b)| a.until(&b, target.server_pid().unwrap_or(0)));
    all.sort_unstable();
    let n = all.len();
    let q = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        all[rank - 1] as f64 / 1000.0
    };
    let secs = cfg.duration.as_secs_f64();
    Ok(OpStats {
        op,
        target: target.name(),
        clients: cfg.clients,
        duration_s: secs,
        requests: n as u64,
        warmup_requests: warm,
        errors,
        first_error,
        failed_clients: failed,
        throughput: n as f64 / secs,
        mean_us: if n == 0 {
            f64::NAN
        } else {
            all.iter().sum::<u64>() as f64 / n as f64 / 1000.0
        },
        p50_us: q(0.50),
        p90_us: q(0.90),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: all.last().map_or(f64::NAN, |x| *x as f64 / 1000.0),
        rows_per_request: if n == 0 { 0.0 } else { rows as f64 / n as f64 },
        wrong_row_count: wrong,
        cpu,
        server_cpu_us_per_req: cpu.filter(|_| n > 0).map(|c| {
            let s = if target.server_pid().is_some() {
                c.server_s
            } else {
                c.postgres_s
            };
            s * 1e6 / n as f64
        }),
        client_cpu_us_per_req: cpu.filter(|_| n > 0).map(|c| c.client_s * 1e6 / n as f64),
    })
}
