//! Reloads: what asks for one ([`Trigger`], [`ReloadRequest`]), how the
//! source has fared ([`COUNTERS`]), and how a failure is described while an
//! older store keeps serving ([`serving_now`]). The refresh task in
//! [`crate::source`] answers the requests; handlers and signals send them.

use super::Shared;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use stockd_api::ReloadResult;
use tokio::sync::oneshot;

/// How the PostgreSQL source has fared since start (`admin.status`
/// `source`): one source per process, so process-wide counters.
pub struct SourceCounters {
    /// Loads that failed (any cause); the previous store kept serving.
    pub load_failures: AtomicU64,
    /// Loads that gave up waiting for a table lock after
    /// `source.pool.connection_timeout` (the table was locked, e.g. by an
    /// ETL transaction).
    pub lock_timeouts: AtomicU64,
    /// Loads retried by the daemon itself after a failure.
    pub retries: AtomicU64,
    /// Loads that succeeded, and their total duration in ms (`/metrics`).
    pub loads: AtomicU64,
    pub load_ms_total: AtomicU64,
    /// Reload requests answered by a load another request started
    /// (`store.reload`, NOTIFY and SIGHUP arriving while one was queued).
    pub coalesced: AtomicU64,
}

pub static COUNTERS: SourceCounters = SourceCounters {
    loads: AtomicU64::new(0),
    load_ms_total: AtomicU64::new(0),
    load_failures: AtomicU64::new(0),
    lock_timeouts: AtomicU64::new(0),
    retries: AtomicU64::new(0),
    coalesced: AtomicU64::new(0),
};

impl SourceCounters {
    /// A load that succeeded in `ms` milliseconds.
    pub fn record_load(&self, ms: u64) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.load_ms_total.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Start,
    Poll,
    Notify,
    /// SIGHUP or `store.reload`.
    Request,
    /// The daemon's own retry after a failed load.
    Retry,
    /// A check of a pending date's row count (the settle rule).
    Pending,
}

/// A reload asked of the refresh task; `reply` hears how it went.
pub struct ReloadRequest {
    pub trigger: Trigger,
    pub reply: Option<oneshot::Sender<Result<ReloadResult, String>>>,
}

impl ReloadRequest {
    pub fn new(trigger: Trigger) -> ReloadRequest {
        ReloadRequest {
            trigger,
            reply: None,
        }
    }

    pub fn answer(self, shared: &Shared, result: Result<(), String>, started: Instant) {
        if let Some(reply) = self.reply {
            let _ = reply.send(result.map(|()| {
                let store = shared.store.load();
                ReloadResult {
                    generation: store.as_ref().map_or(0, |s| s.info.generation),
                    rows: store.as_ref().map_or(0, |s| s.rows() as u64),
                    duration_ms: started.elapsed().as_millis() as u64,
                }
            }));
        }
    }
}

/// What is served now, for messages about a failure: "generation 3
/// (loaded 2m5s ago) keeps serving", or that nothing is.
pub fn serving_now(shared: &Shared) -> Option<String> {
    let store = shared.store.load();
    let store = store.as_ref()?;
    let age = store.info.loaded_at.elapsed().unwrap_or_default();
    Some(format!(
        "generation {} (loaded {} ago{}) keeps serving",
        store.info.generation,
        human_age(age),
        if shared.stale.load(Ordering::Relaxed) {
            ", stale"
        } else {
            ""
        }
    ))
}

/// `2h3m`, `4m12s`, `9.5s`.
fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_write_them() {
        assert_eq!(human_age(Duration::from_millis(9500)), "9.5s");
        assert_eq!(human_age(Duration::from_secs(252)), "4m12s");
        assert_eq!(human_age(Duration::from_secs(7380)), "2h3m");
    }
}
