//! `GET /metrics`: the daemon's figures in the Prometheus text exposition
//! format 0.0.4, rendered at scrape time from the same state `admin.status`
//! reads (RSS, cache bytes and the store are read when asked, never
//! counted on the hot path). Request counts and latency histograms come
//! from [`crate::stats`], which the request path already keeps.
//!
//! Written by hand rather than through a metrics crate: every figure
//! already lives in the app state, and the format is a few lines of text
//! per family; a registry would be a second copy of each counter.

use super::reload::COUNTERS;
use super::status;
use super::Shared;
use crate::stats::EXPORT_BOUNDS_US;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers as written, others with Rust's shortest
/// round-trip form (never `inf`/`NaN`: callers pass finite figures).
fn value(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".to_string()
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, l)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(l));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", value(v));
    }

    /// A family with one unlabelled sample.
    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

/// The whole exposition. Reads /proc and the cgroup files: call it off
/// the async workers.
pub fn render(shared: &Shared) -> String {
    let st = status::status(shared);
    let mut o = Out(String::with_capacity(16 * 1024));

    o.family("stockd_build_info", "gauge", "stockd's version.");
    o.sample("stockd_build_info", &[("version", &st.version)], 1.0);
    o.one(
        "stockd_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        shared.started.elapsed().as_secs_f64(),
    );

    // Requests, per method of the contract ("other" for unknown names).
    o.family(
        "stockd_requests_total",
        "counter",
        "JSON-RPC calls answered, by method.",
    );
    for (m, count, _, _) in shared.stats.each() {
        o.sample("stockd_requests_total", &[("method", m)], count as f64);
    }
    o.family(
        "stockd_request_errors_total",
        "counter",
        "JSON-RPC calls answered with an error, by method.",
    );
    for (m, _, errors, _) in shared.stats.each() {
        o.sample(
            "stockd_request_errors_total",
            &[("method", m)],
            errors as f64,
        );
    }
    let h = "stockd_request_duration_seconds";
    o.family(h, "histogram", "Time to answer a JSON-RPC call, by method.");
    for (m, _, _, hist) in shared.stats.each() {
        let (below, total, sum_us) = hist.export();
        for (le, n) in EXPORT_BOUNDS_US.iter().zip(below) {
            let le = value(*le as f64 / 1e6);
            o.sample(
                &format!("{h}_bucket"),
                &[("method", m), ("le", &le)],
                n as f64,
            );
        }
        o.sample(
            &format!("{h}_bucket"),
            &[("method", m), ("le", "+Inf")],
            total as f64,
        );
        o.sample(&format!("{h}_sum"), &[("method", m)], sum_us as f64 / 1e6);
        o.sample(&format!("{h}_count"), &[("method", m)], total as f64);
    }

    // Caches.
    type CacheFigure = fn(&stockd_api::CacheStatus) -> u64;
    let caches: [(&str, &str, &str, CacheFigure); 6] = [
        (
            "stockd_cache_bytes",
            "gauge",
            "Bytes held by the cache.",
            |c| c.bytes,
        ),
        (
            "stockd_cache_max_bytes",
            "gauge",
            "The cache's cap in bytes (cache.resize, [cache.*] max_bytes).",
            |c| c.max_bytes,
        ),
        (
            "stockd_cache_entries",
            "gauge",
            "Entries held by the cache.",
            |c| c.entries,
        ),
        (
            "stockd_cache_hits_total",
            "counter",
            "Lookups answered from the cache.",
            |c| c.hits,
        ),
        (
            "stockd_cache_misses_total",
            "counter",
            "Lookups the cache could not answer.",
            |c| c.misses,
        ),
        (
            "stockd_cache_evictions_total",
            "counter",
            "Entries evicted to stay under the cap.",
            |c| c.evictions,
        ),
    ];
    for (name, kind, help, f) in caches {
        o.family(name, kind, help);
        for c in &st.caches {
            o.sample(name, &[("cache", &c.name)], f(c) as f64);
        }
    }

    // Memory.
    let m = &st.memory;
    o.one(
        "stockd_memory_rss_bytes",
        "gauge",
        "Resident set size (VmRSS from /proc).",
        m.rss_bytes as f64,
    );
    o.one(
        "stockd_memory_peak_rss_bytes",
        "gauge",
        "Peak resident set size (VmHWM).",
        m.peak_rss_bytes as f64,
    );
    o.one(
        "stockd_memory_budget_bytes",
        "gauge",
        "The memory budget the governor holds the daemon to.",
        m.limit_bytes as f64,
    );
    o.family(
        "stockd_memory_budget_info",
        "gauge",
        "Where the memory budget came from.",
    );
    o.sample(
        "stockd_memory_budget_info",
        &[("source", &m.budget_source)],
        1.0,
    );
    o.one(
        "stockd_memory_high_ratio",
        "gauge",
        "The governor's high mark, as a fraction of the budget (caches halve above it).",
        m.high_mark,
    );
    o.one(
        "stockd_memory_critical_ratio",
        "gauge",
        "The governor's critical mark, as a fraction of the budget (caches clear, expensive calls refused).",
        m.critical_mark,
    );
    o.family(
        "stockd_memory_state",
        "gauge",
        "The governor's state: 1 for the current one of ok, high, critical.",
    );
    for s in ["ok", "high", "critical"] {
        o.sample(
            "stockd_memory_state",
            &[("state", s)],
            f64::from(u8::from(m.state == s)),
        );
    }
    if let Some(v) = m.cgroup_limit_bytes {
        o.one(
            "stockd_memory_cgroup_limit_bytes",
            "gauge",
            "The cgroup's memory limit.",
            v as f64,
        );
    }
    if let Some(v) = m.cgroup_usage_bytes {
        o.one(
            "stockd_memory_cgroup_usage_bytes",
            "gauge",
            "The cgroup's memory use.",
            v as f64,
        );
    }
    if let Some(v) = m.psi_some_avg10 {
        o.one(
            "stockd_memory_psi_some_avg10",
            "gauge",
            "PSI memory pressure, some avg10 (percent of time stalled).",
            v,
        );
    }

    // The store.
    let s = &st.store;
    o.one(
        "stockd_store_loaded",
        "gauge",
        "1 once a store is in service.",
        f64::from(u8::from(s.loaded)),
    );
    o.one("stockd_store_rows", "gauge", "Rows held.", s.rows as f64);
    o.one(
        "stockd_store_dates",
        "gauge",
        "Trading dates held.",
        s.dates as f64,
    );
    o.one(
        "stockd_store_bytes",
        "gauge",
        "Heap bytes of the store.",
        s.bytes as f64,
    );
    o.one(
        "stockd_store_generation",
        "gauge",
        "Generation of the store in service (each load adds one).",
        s.generation as f64,
    );
    let age = shared.store.load().as_ref().map_or(0.0, |st| {
        st.info
            .loaded_at
            .elapsed()
            .unwrap_or_default()
            .as_secs_f64()
    });
    o.one(
        "stockd_store_age_seconds",
        "gauge",
        "Seconds since the store in service was loaded.",
        age,
    );
    o.one(
        "stockd_store_stale",
        "gauge",
        "1 while the store is older than the source could give (snapshot, or the source failing).",
        f64::from(u8::from(s.stale)),
    );
    o.one(
        "stockd_store_last_load_seconds",
        "gauge",
        "Duration of the load that built the store in service.",
        s.load_ms as f64 / 1e3,
    );

    // Loads and the source.
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    o.one(
        "stockd_loads_total",
        "counter",
        "Loads that succeeded and were put in service.",
        c(&COUNTERS.loads),
    );
    o.one(
        "stockd_load_seconds_total",
        "counter",
        "Total duration of the loads counted in stockd_loads_total.",
        c(&COUNTERS.load_ms_total) / 1e3,
    );
    o.one(
        "stockd_load_failures_total",
        "counter",
        "Loads that failed (the previous store kept serving).",
        c(&COUNTERS.load_failures),
    );
    o.one(
        "stockd_load_lock_timeouts_total",
        "counter",
        "Loads that gave up waiting for a table lock.",
        c(&COUNTERS.lock_timeouts),
    );
    o.one(
        "stockd_load_retries_total",
        "counter",
        "Loads retried by the daemon after a failure.",
        c(&COUNTERS.retries),
    );
    o.one(
        "stockd_reloads_coalesced_total",
        "counter",
        "Reload requests answered by a load another request started.",
        c(&COUNTERS.coalesced),
    );
    o.family(
        "stockd_source_healthy",
        "gauge",
        "1 while the last contact with the source worked.",
    );
    o.sample(
        "stockd_source_healthy",
        &[("kind", &st.source.kind)],
        f64::from(u8::from(st.source.healthy)),
    );

    // The pool (all zero with the demo source).
    let p = &st.pool;
    o.one(
        "stockd_pool_max_connections",
        "gauge",
        "source.pool.max_size.",
        f64::from(p.max_size),
    );
    o.one(
        "stockd_pool_connections",
        "gauge",
        "Open PostgreSQL connections.",
        f64::from(p.size),
    );
    o.one(
        "stockd_pool_idle_connections",
        "gauge",
        "Idle PostgreSQL connections.",
        f64::from(p.idle),
    );
    o.one(
        "stockd_pool_in_use_connections",
        "gauge",
        "PostgreSQL connections in use.",
        f64::from(p.in_use),
    );
    o.one(
        "stockd_pool_waits_total",
        "counter",
        "Checkouts that had to wait for a connection.",
        p.waits as f64,
    );
    o.one(
        "stockd_pool_timeouts_total",
        "counter",
        "Checkouts that gave up after source.pool.connection_timeout.",
        p.timeouts as f64,
    );
    o.one(
        "stockd_pool_errors_total",
        "counter",
        "Connections that failed to open or were found broken.",
        p.errors as f64,
    );

    // systemd.
    o.one(
        "stockd_watchdog_pings_total",
        "counter",
        "WATCHDOG=1 pings sent to systemd.",
        st.systemd.watchdog_pings as f64,
    );
    if let Some(ms) = st.systemd.watchdog_interval_ms {
        o.one(
            "stockd_watchdog_interval_seconds",
            "gauge",
            "systemd's WatchdogSec.",
            ms as f64 / 1e3,
        );
    }
    if let Some(t) = crate::systemd::last_watchdog_ping() {
        let since = t
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        o.one(
            "stockd_watchdog_last_ping_timestamp_seconds",
            "gauge",
            "When the last watchdog ping was sent (Unix time).",
            since,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut o = Out(String::new());
        o.sample("x", &[("a", "1"), ("b", "q\"")], 2.5);
        assert_eq!(o.0, "x{a=\"1\",b=\"q\\\"\"} 2.5\n");
        assert_eq!(value(3.0), "3");
        assert_eq!(value(0.000016), "0.000016");
    }

    #[test]
    fn every_sample_belongs_to_a_declared_family() {
        let config = crate::config::Config::default();
        let shared = Shared::new(&config);
        shared.stats.record("market.info", 120, false);
        shared.stats.record("market.info", 3_000, true);
        let text = render(&shared);
        let mut families = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or_default();
                assert!(families.insert(name.to_string()), "{name} declared twice");
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| families.contains(*b))
                .unwrap_or(name);
            assert!(families.contains(base), "{line}: no # TYPE for {base}");
            let v = line.rsplit(' ').next().unwrap_or_default();
            assert!(v.parse::<f64>().is_ok(), "{line}: value {v}");
        }
        assert!(
            text.contains("stockd_requests_total{method=\"market.info\"} 2\n"),
            "{text}"
        );
        assert!(text.contains(
            "stockd_request_duration_seconds_bucket{method=\"market.info\",le=\"0.000256\"} 1\n"
        ));
        assert!(text.contains(
            "stockd_request_duration_seconds_bucket{method=\"market.info\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("stockd_request_errors_total{method=\"market.info\"} 1\n"));
    }
}
