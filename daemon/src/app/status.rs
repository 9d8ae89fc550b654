//! `admin.status`: one page assembled from the store, /proc, the pool, the
//! caches, the request statistics and the source's health.

use super::reload::COUNTERS;
use super::Shared;
use crate::memory;
use crate::store::time;
use stockd_api::{
    AdminStatus, ColumnMemory, MemoryStatus, PoolStatus, SourceStatus, StoreStatus, SystemdStatus,
};

fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}

/// What each column costs, and how its values are held.
fn column_bytes(s: &crate::store::Store) -> Vec<ColumnMemory> {
    s.specs()
        .iter()
        .zip(s.columns())
        .map(|(spec, c)| {
            let bytes = c.data.heap_bytes() as u64;
            let null_bytes = c.nulls.as_ref().map_or(0, |n| n.heap_bytes()) as u64;
            ColumnMemory {
                name: spec.name.clone(),
                pg_type: spec.pg_type.clone(),
                layout: c.data.layout().to_string(),
                bytes,
                null_bytes,
                bits_per_value: if s.held_rows() == 0 {
                    0.0
                } else {
                    ((bytes + null_bytes) as f64 * 8.0 / s.held_rows() as f64 * 100.0).round()
                        / 100.0
                },
            }
        })
        .collect()
}

/// `admin.status`.
pub fn status(shared: &Shared) -> AdminStatus {
    let store = shared.store.load_full();
    let stale = shared.stale.load(std::sync::atomic::Ordering::Relaxed);
    let store = match store.as_deref() {
        Some(s) => {
            let since = s
                .info
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let bytes = s.heap_bytes() as u64;
            StoreStatus {
                loaded: true,
                rows: s.rows() as u64,
                dates: s.dates().len() as u64,
                stocks: s.stocks() as u64,
                columns: s.specs().len() as u64,
                bytes,
                bytes_per_row: if s.rows() == 0 {
                    0.0
                } else {
                    (bytes as f64 / s.rows() as f64 * 10.0).round() / 10.0
                },
                generation: s.info.generation,
                loaded_at: Some(time::rfc3339_from_unix(
                    since.as_secs() as i64,
                    since.subsec_micros(),
                )),
                load_ms: s.info.load_ms,
                stale,
                read_kind: s.info.read.kind.as_str().to_string(),
                read_rows: s.info.read.rows,
                read_dates: s.info.read.dates,
                read_dropped_dates: s.info.read.dropped_dates,
                read_reread_dates: s.info.read.reread_dates,
                retired_rows: s.retired_rows() as u64,
                column_bytes: column_bytes(s),
                index_bytes: s.index_bytes() as u64,
            }
        }
        None => StoreStatus {
            loaded: false,
            rows: 0,
            dates: 0,
            stocks: 0,
            columns: 0,
            bytes: 0,
            bytes_per_row: 0.0,
            generation: 0,
            loaded_at: None,
            load_ms: 0,
            stale,
            read_kind: String::new(),
            read_dropped_dates: 0,
            read_reread_dates: 0,
            retired_rows: 0,
            read_rows: 0,
            read_dates: 0,
            column_bytes: Vec::new(),
            index_bytes: 0,
        },
    };
    let (rss, peak) = memory::rss().unwrap_or((0, 0));
    let pool = shared
        .pool
        .get()
        .map_or_else(PoolStatus::default, |p| p.figures());
    let health = shared.health();
    AdminStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: shared.started.elapsed().as_secs(),
        store,
        memory: MemoryStatus {
            rss_bytes: rss,
            peak_rss_bytes: peak,
            limit_bytes: shared.governor.budget,
            budget_source: shared.governor.budget_source.clone(),
            cgroup_limit_bytes: memory::cgroup_limit(),
            cgroup_usage_bytes: memory::cgroup_usage(),
            psi_some_avg10: crate::governor::psi_some_avg10(),
            high_mark: shared.governor.high,
            critical_mark: shared.governor.critical,
            state: shared.governor.state().as_str().to_string(),
        },
        pool,
        caches: shared.caches.all().iter().map(|c| c.status()).collect(),
        requests: shared.stats.status(),
        source: SourceStatus {
            kind: shared.source_kind.to_string(),
            healthy: health.0,
            last_error: health.1,
            load_failures: counter(&COUNTERS.load_failures),
            lock_timeouts: counter(&COUNTERS.lock_timeouts),
            retries: counter(&COUNTERS.retries),
            coalesced: counter(&COUNTERS.coalesced),
        },
        systemd: SystemdStatus {
            notify: crate::systemd::under_service_manager(),
            watchdog_interval_ms: crate::systemd::watchdog_interval().map(|d| d.as_millis() as u64),
            watchdog_pings: crate::systemd::watchdog_pings(),
            last_watchdog_ping: crate::systemd::last_watchdog_ping().map(|t| {
                let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                time::rfc3339_from_unix(since.as_secs() as i64, since.subsec_micros())
            }),
        },
    }
}
