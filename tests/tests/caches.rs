//! The caches are capped in bytes whatever the request pattern.
//!
//! - Cache-busting: about 300,000 distinct derived requests (every
//!   `signals.stock` (code, date) pair of the demo data set, `stock.top`,
//!   `stock.history`, `hotspots.ranking` and `industry.detail` variants, and
//!   a hot set repeated every 20th request) over 8 keep-alive connections
//!   against tiny caps, while `admin.status` and /proc are sampled every
//!   200 ms: every cache stays within its cap at every sample, evictions
//!   grow, hits happen for the repeated keys, every lookup is counted once,
//!   and RSS stays within `memory.limit`.
//! - `cache.resize` evicts down at once and refuses bad sizes by name;
//!   unknown caches are named; `cache.clear` by name and for all;
//!   `store.reload` bumps the generation and empties the caches.
//! - A config whose caps exceed `memory.limit` is refused at start (exit 2)
//!   with a message naming both numbers.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockd_api::{AdminStatus, CacheClearResult, CacheResizeResult, ReloadResult};
use stockd_tests::inspect::{self, cache, Universe, CACHES};
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::procfs::{mib, vm_rss};
use stockd_tests::{Daemon, Rng, RpcError, TempDir};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The budget of the cache-busting daemon.
const LIMIT: u64 = 300 * MIB;
/// Tiny caps, so that every cache evicts all the time.
const SIGNALS_CAP: u64 = 256 * KIB;
const QUERY_CAP: u64 = 256 * KIB;
const HOTSPOTS_CAP: u64 = 64 * KIB;
const INDUSTRY_CAP: u64 = 64 * KIB;

/// Keep-alive connections sending the workload.
const CONNECTIONS: usize = 8;
/// Every REPEAT-th request is one of the hot keys.
const REPEAT: usize = 20;
/// Distinct `stock.top` and `stock.history` variants.
const TOP_VARIANTS: usize = 120_000;
const HISTORY_VARIANTS: usize = 60_000;
/// Sampling period of `admin.status` and /proc.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// The workload must finish within this (it takes about a minute on a
/// quiet 2-core machine in a debug build); a hang fails instead of waiting
/// forever.
const WORKLOAD_DEADLINE: Duration = Duration::from_secs(240);

async fn small_caps_daemon() -> Result<Daemon> {
    Daemon::builder()
        .env("STOCKD_MEMORY_LIMIT", &LIMIT.to_string())
        .env("STOCKD_CACHE_SIGNALS_MAX_BYTES", "256KiB")
        .env("STOCKD_CACHE_QUERY_MAX_BYTES", "256KiB")
        .env("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "64KiB")
        .env("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "64KiB")
        .start()
        .await
}

/// The derived methods, in the order the workload counts them.
const METHODS: [&str; 5] = [
    "signals.stock",
    "stock.top",
    "stock.history",
    "hotspots.ranking",
    "industry.detail",
];

/// The cache each method goes through.
fn cache_of(method: &str) -> &'static str {
    match method {
        "signals.stock" => "signals",
        "hotspots.ranking" => "hotspots",
        "industry.detail" => "industry",
        _ => "query",
    }
}

/// Every distinct request of the workload, decoded from an index, plus a
/// small hot set repeated throughout.
struct Plan {
    u: Universe,
    signals: usize,
    top: usize,
    history: usize,
    hotspots: usize,
    industry: usize,
    /// (from, to) index pairs with from <= to.
    windows: Vec<(usize, usize)>,
    /// The request sequence: indices below `distinct()` are distinct
    /// requests, `distinct() + h` is hot key `h`.
    seq: Vec<u32>,
}

const HOT_KEYS: usize = 4;

impl Plan {
    fn new(u: Universe) -> Plan {
        let d = u.dates.len();
        let windows: Vec<(usize, usize)> =
            (0..d).flat_map(|a| (a..d).map(move |b| (a, b))).collect();
        let signals = u.codes.len() * d;
        let top_space = u.numeric_columns.len() * d * 2 * (u.industries.len() + 1) * 10;
        let top = TOP_VARIANTS.min(top_space);
        let history = HISTORY_VARIANTS.min(u.codes.len() * windows.len());
        let hotspots = d * stockd_api::HOTSPOTS_MAX_N as usize;
        let industry = d * u.industries.len();
        let mut plan = Plan {
            u,
            signals,
            top,
            history,
            hotspots,
            industry,
            windows,
            seq: Vec::new(),
        };
        let distinct = plan.distinct();
        let mut order: Vec<u32> = (0..distinct as u32).collect();
        let mut rng = Rng::new(0xC_AC4E_B057);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut seq = Vec::with_capacity(distinct + distinct / (REPEAT - 1) + 1);
        let mut hot = 0usize;
        for idx in order {
            if seq.len() % REPEAT == REPEAT - 1 {
                seq.push((distinct + hot % HOT_KEYS) as u32);
                hot += 1;
            }
            seq.push(idx);
        }
        plan.seq = seq;
        plan
    }

    fn distinct(&self) -> usize {
        self.signals + self.top + self.history + self.hotspots + self.industry
    }

    /// The method and params of request `i` of the sequence.
    fn request(&self, i: usize) -> (&'static str, Value) {
        let u = &self.u;
        let d = u.dates.len();
        let idx = self.seq[i] as usize;
        if idx >= self.distinct() {
            let latest = u.latest();
            return match idx - self.distinct() {
                0 => ("hotspots.ranking", json!({"date": latest, "n": 10})),
                1 => (
                    "industry.detail",
                    json!({"industry": u.industries[0], "date": latest}),
                ),
                2 => ("signals.stock", json!({"code": u.codes[0], "date": latest})),
                _ => ("stock.top", json!({"by": "close", "n": 5, "date": latest})),
            };
        }
        let mut j = idx;
        if j < self.signals {
            return (
                "signals.stock",
                json!({"code": u.codes[j / d], "date": u.dates[j % d]}),
            );
        }
        j -= self.signals;
        if j < self.top {
            let nb = u.numeric_columns.len();
            let by = &u.numeric_columns[j % nb];
            let r = j / nb;
            let date = &u.dates[r % d];
            let r = r / d;
            let order = ["desc", "asc"][r % 2];
            let r = r / 2;
            let ni = u.industries.len() + 1;
            let industry = match r % ni {
                0 => Value::Null,
                k => Value::String(u.industries[k - 1].clone()),
            };
            let n = 5 + r / ni;
            return (
                "stock.top",
                json!({"by": by, "n": n, "order": order, "date": date,
                       "industry": industry, "fields": ["close"]}),
            );
        }
        j -= self.top;
        if j < self.history {
            let code = &u.codes[j % u.codes.len()];
            let (a, b) = self.windows[j / u.codes.len()];
            return (
                "stock.history",
                json!({"code": code, "from": u.dates[a], "to": u.dates[b],
                       "fields": ["close", "pct_chg"]}),
            );
        }
        j -= self.history;
        if j < self.hotspots {
            return (
                "hotspots.ranking",
                json!({"date": u.dates[j % d], "n": 1 + j / d}),
            );
        }
        j -= self.hotspots;
        let ni = u.industries.len();
        (
            "industry.detail",
            json!({"industry": u.industries[j % ni], "date": u.dates[j / ni]}),
        )
    }

    /// Requests per method in the whole sequence (hot repeats included).
    fn calls_per_method(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for i in 0..self.seq.len() {
            *m.entry(self.request_method(i)).or_insert(0) += 1;
        }
        m
    }

    fn request_method(&self, i: usize) -> &'static str {
        let idx = self.seq[i] as usize;
        let bounds = [
            (self.signals, "signals.stock"),
            (self.top, "stock.top"),
            (self.history, "stock.history"),
            (self.hotspots, "hotspots.ranking"),
            (self.industry, "industry.detail"),
        ];
        if idx >= self.distinct() {
            return [
                "hotspots.ranking",
                "industry.detail",
                "signals.stock",
                "stock.top",
            ][idx - self.distinct()];
        }
        let mut j = idx;
        for (n, m) in bounds {
            if j < n {
                return m;
            }
            j -= n;
        }
        unreachable!()
    }

    /// Distinct keys per cache.
    fn distinct_per_cache(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([
            ("signals", self.signals as u64),
            ("query", (self.top + self.history + 1) as u64),
            ("hotspots", self.hotspots as u64),
            ("industry", self.industry as u64),
        ])
    }
}

#[derive(Default, Debug)]
struct WorkerReport {
    sent: BTreeMap<&'static str, u64>,
    /// (method, error code) → count.
    errors: BTreeMap<(&'static str, i64), u64>,
    /// A few error texts, for the failure message.
    examples: Vec<String>,
}

async fn worker(
    socket: PathBuf,
    plan: Arc<Plan>,
    first: usize,
    stop: Arc<AtomicBool>,
) -> Result<WorkerReport> {
    let mut conn = KeepAlive::connect(&socket).await?;
    let mut report = WorkerReport::default();
    let mut i = first;
    while i < plan.seq.len() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (method, params) = plan.request(i);
        let answer = conn
            .try_call(method, &params)
            .await
            .with_context(|| format!("request {i}: {method} {params}"))?;
        *report.sent.entry(method).or_insert(0) += 1;
        if let Err(e) = answer {
            *report.errors.entry((method, e.code)).or_insert(0) += 1;
            if report.examples.len() < 3 {
                report.examples.push(format!("{method} {params}: {e}"));
            }
        }
        i += CONNECTIONS;
    }
    Ok(report)
}

struct Sample {
    at: Duration,
    status: AdminStatus,
    proc_rss: u64,
}

async fn sampler(socket: PathBuf, pid: u32, stop: Arc<AtomicBool>) -> Result<Vec<Sample>> {
    let mut conn = KeepAlive::connect(&socket).await?;
    let started = Instant::now();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    loop {
        tick.tick().await;
        let last = stop.load(Ordering::Relaxed);
        let status: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
        let proc_rss = vm_rss(pid)?;
        samples.push(Sample {
            at: started.elapsed(),
            status,
            proc_rss,
        });
        if last {
            return Ok(samples);
        }
    }
}

fn caps() -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("hotspots", HOTSPOTS_CAP),
        ("industry", INDUSTRY_CAP),
        ("signals", SIGNALS_CAP),
        ("query", QUERY_CAP),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_busting_keeps_every_cache_within_its_cap() -> Result<()> {
    let d = small_caps_daemon().await?;
    let pid = d.pid().context("no daemon pid")?;
    let u = Universe::discover(&d).await?;
    let plan = Arc::new(Plan::new(u));
    let total = plan.seq.len();
    ensure!(
        total >= 250_000,
        "the workload has only {total} requests (the data set is smaller than expected: {} codes, {} dates)",
        plan.u.codes.len(),
        plan.u.dates.len()
    );
    let calls = plan.calls_per_method();
    eprintln!(
        "cache-busting: {total} requests ({} distinct) over {CONNECTIONS} connections: {calls:?}",
        plan.distinct()
    );

    let before = inspect::status(&d).await?;
    ensure!(
        before.memory.limit_bytes == LIMIT,
        "limit {:?}",
        before.memory
    );
    for (name, cap) in caps() {
        let c = cache(&before, name)?;
        ensure!(
            c.max_bytes == cap,
            "cache {name}: max_bytes {} != configured {cap}",
            c.max_bytes
        );
    }
    let rss_before = vm_rss(pid)?;

    let stop_sampler = Arc::new(AtomicBool::new(false));
    let stop_workers = Arc::new(AtomicBool::new(false));
    let sampling = tokio::spawn(sampler(d.socket().to_path_buf(), pid, stop_sampler.clone()));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|w| {
            tokio::spawn(worker(
                d.socket().to_path_buf(),
                plan.clone(),
                w,
                stop_workers.clone(),
            ))
        })
        .collect();
    let mut reports = Vec::new();
    let joined = tokio::time::timeout(WORKLOAD_DEADLINE, async {
        let mut out = Vec::new();
        for w in workers {
            out.push(w.await);
        }
        out
    })
    .await;
    let elapsed = started.elapsed();
    stop_sampler.store(true, Ordering::Relaxed);
    let joined = match joined {
        Ok(j) => j,
        Err(_) => {
            stop_workers.store(true, Ordering::Relaxed);
            anyhow::bail!("the workload did not finish within {WORKLOAD_DEADLINE:?}");
        }
    };
    for r in joined {
        reports.push(r.context("worker panicked")??);
    }
    let samples = sampling.await.context("sampler panicked")??;
    let after = inspect::status(&d).await?;

    // What was sent, and which errors came back.
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors: BTreeMap<(&str, i64), u64> = BTreeMap::new();
    let mut examples = Vec::new();
    for r in &reports {
        for (m, n) in &r.sent {
            *sent.entry(m).or_insert(0) += n;
        }
        for (k, n) in &r.errors {
            *errors.entry(*k).or_insert(0) += n;
        }
        examples.extend(r.examples.iter().cloned());
    }
    let sent_total: u64 = sent.values().sum();
    let max_rss = samples.iter().map(|s| s.proc_rss).max().unwrap_or(0);
    eprintln!(
        "cache-busting: {sent_total} requests in {:.1} s ({:.0}/s), {} samples; RSS {} before, {} max, {} after; errors {errors:?}",
        elapsed.as_secs_f64(),
        sent_total as f64 / elapsed.as_secs_f64(),
        samples.len(),
        mib(rss_before),
        mib(max_rss),
        mib(vm_rss(pid)?)
    );
    ensure!(
        sent_total == total as u64,
        "sent {sent_total} of {total} requests"
    );
    for (m, n) in &calls {
        ensure!(
            sent.get(m) == Some(n),
            "{m}: sent {:?}, planned {n}",
            sent.get(m)
        );
    }
    // A signals.stock on a day the stock was suspended is "unknown date";
    // nothing else may fail.
    let bad: Vec<_> = errors
        .iter()
        .filter(|((m, code), _)| !(*m == "signals.stock" && *code == 1002))
        .collect();
    ensure!(
        bad.is_empty(),
        "unexpected errors {bad:?}; e.g. {examples:?}"
    );
    let unknown_dates = errors.get(&("signals.stock", 1002)).copied().unwrap_or(0);
    ensure!(
        unknown_dates <= plan.signals as u64 / 100,
        "{unknown_dates} signals.stock answered unknown date; e.g. {examples:?}"
    );

    // Every sample: every cache within its cap, RSS within the budget.
    ensure!(
        samples.len() as f64 >= elapsed.as_secs_f64() / SAMPLE_EVERY.as_secs_f64() * 0.4,
        "only {} samples in {elapsed:?}",
        samples.len()
    );
    let mut violations = Vec::new();
    for s in &samples {
        for c in &s.status.caches {
            if c.bytes > c.max_bytes {
                violations.push(format!(
                    "at {:?}: cache {} holds {} bytes, cap {}",
                    s.at, c.name, c.bytes, c.max_bytes
                ));
            }
            if c.max_bytes != caps()[c.name.as_str()] {
                violations.push(format!(
                    "at {:?}: cache {} cap changed to {}",
                    s.at, c.name, c.max_bytes
                ));
            }
        }
        if s.proc_rss > LIMIT || s.status.memory.rss_bytes > LIMIT {
            violations.push(format!(
                "at {:?}: RSS {} (/proc) / {} (admin.status) over memory.limit {}",
                s.at, s.proc_rss, s.status.memory.rss_bytes, LIMIT
            ));
        }
    }
    ensure!(
        violations.is_empty(),
        "{} violations, first: {:#?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    // RSS stays near the baseline: the caps total 640 KiB; allow 16 MiB
    // for connection buffers, threads and allocator slack (measured: about
    // 5 MiB), far below what 300,000 retained results would cost.
    let caps_total: u64 = caps().values().sum();
    ensure!(
        max_rss <= rss_before + caps_total + 16 * MIB,
        "RSS grew from {} to {} during the workload",
        mib(rss_before),
        mib(max_rss)
    );

    // Evictions grow all along; hits happen for the repeated keys; every
    // request looked its cache up exactly once.
    let first = &samples[0].status;
    let distinct = plan.distinct_per_cache();
    let hot_repeats = (total / REPEAT) as u64 / HOT_KEYS as u64;
    for name in CACHES {
        let mut last_ev = 0;
        for s in &samples {
            let ev = cache(&s.status, name)?.evictions;
            ensure!(
                ev >= last_ev,
                "cache {name}: evictions went down {last_ev} -> {ev}"
            );
            last_ev = ev;
        }
        let b = cache(&before, name)?;
        let f = cache(first, name)?;
        let a = cache(&after, name)?;
        ensure!(
            a.evictions > f.evictions && a.evictions - b.evictions >= distinct[name] / 2,
            "cache {name}: evictions {} at the first sample, {} at the end (before {}), for {} distinct keys",
            f.evictions,
            a.evictions,
            b.evictions,
            distinct[name]
        );
        let lookups: u64 = METHODS
            .iter()
            .filter(|m| cache_of(m) == name)
            .map(|m| calls[m])
            .sum();
        let (hits, misses) = (a.hits - b.hits, a.misses - b.misses);
        ensure!(
            hits + misses == lookups,
            "cache {name}: {hits} hits + {misses} misses != {lookups} requests"
        );
        ensure!(
            misses >= distinct[name],
            "cache {name}: {misses} misses for {} distinct keys",
            distinct[name]
        );
        ensure!(
            hits >= hot_repeats / 2,
            "cache {name}: only {hits} hits though its hot key was requested {hot_repeats} times"
        );
        ensure!(
            a.entries > 0 && a.bytes <= a.max_bytes,
            "cache {name} at the end: {a:?}"
        );
    }
    Ok(())
}

/// Fills the caches with `n` distinct requests per derived method.
async fn fill(d: &Daemon, u: &Universe, n: usize) -> Result<()> {
    let mut conn = KeepAlive::connect(d.socket()).await?;
    let dates = u.dates.len();
    for i in 0..n {
        let code = &u.codes[i % u.codes.len()];
        let date = &u.dates[(i / u.codes.len()) % dates];
        conn.call("signals.stock", &json!({"code": code, "date": date}))
            .await?;
        conn.call(
            "stock.top",
            &json!({"by": "close", "n": 1 + i % 50, "date": date}),
        )
        .await?;
        conn.call(
            "industry.detail",
            &json!({"industry": u.industries[i % u.industries.len()], "date": u.dates[i % dates]}),
        )
        .await?;
        conn.call(
            "hotspots.ranking",
            &json!({"date": u.dates[i % dates], "n": 1 + (i / dates) % 100}),
        )
        .await?;
    }
    Ok(())
}

fn expect_error(
    r: Result<Value, RpcError>,
    codes: &[i64],
    names: &[&str],
    what: &str,
) -> Result<RpcError> {
    let e = match r {
        Ok(v) => anyhow::bail!("{what}: expected an error, got {v}"),
        Err(e) => e,
    };
    ensure!(
        codes.contains(&e.code),
        "{what}: error code {} not in {codes:?}: {e}",
        e.code
    );
    let text = e.text();
    ensure!(
        names.iter().any(|n| text.contains(n)),
        "{what}: the error does not name {names:?}: {e}"
    );
    Ok(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_evicts_down_at_once() -> Result<()> {
    let d = Daemon::builder()
        .env("STOCKD_MEMORY_LIMIT", "300MiB")
        .start()
        .await?;
    let u = Universe::discover(&d).await?;
    fill(&d, &u, 400).await?;
    let s0 = inspect::status(&d).await?;
    let sig0 = cache(&s0, "signals")?.clone();
    ensure!(
        sig0.bytes > 64 * KIB && sig0.entries >= 400,
        "signals cache not filled: {sig0:?}"
    );

    // Shrink with a unit string: evicted at once, the very next status
    // shows the new cap held.
    let r: CacheResizeResult = serde_json::from_value(
        d.call(
            "cache.resize",
            json!({"name": "signals", "max_bytes": "16KiB"}),
        )
        .await?,
    )?;
    let s1 = inspect::status(&d).await?;
    let sig1 = cache(&s1, "signals")?;
    ensure!(r.name == "signals" && r.max_bytes == 16 * KIB, "{r:?}");
    ensure!(
        sig1.max_bytes == 16 * KIB && sig1.bytes <= 16 * KIB && sig1.bytes > 0,
        "after resizing to 16KiB: {sig1:?}"
    );
    ensure!(
        r.evicted_entries == sig0.entries - sig1.entries
            && r.evicted_bytes == sig0.bytes - sig1.bytes
            && sig1.evictions == sig0.evictions + r.evicted_entries,
        "resize reported {r:?}; the cache went from {sig0:?} to {sig1:?}"
    );
    // The other caches are untouched.
    for name in ["hotspots", "industry", "query"] {
        let (a, b) = (cache(&s0, name)?, cache(&s1, name)?);
        ensure!(
            a.entries == b.entries && a.max_bytes == b.max_bytes,
            "resizing signals changed {name}: {a:?} -> {b:?}"
        );
    }
    // New entries keep within the new cap.
    fill(&d, &u, 100).await?;
    let s2 = inspect::status(&d).await?;
    let sig2 = cache(&s2, "signals")?;
    ensure!(sig2.bytes <= 16 * KIB, "after more requests: {sig2:?}");

    // Shrink with a number of bytes.
    let r: CacheResizeResult = serde_json::from_value(
        d.call(
            "cache.resize",
            json!({"name": "query", "max_bytes": 10_000}),
        )
        .await?,
    )?;
    let s3 = inspect::status(&d).await?;
    let q = cache(&s3, "query")?;
    ensure!(
        r.max_bytes == 10_000 && q.max_bytes == 10_000 && q.bytes <= 10_000,
        "{r:?} / {q:?}"
    );
    // Zero: nothing can be held at all.
    d.call(
        "cache.resize",
        json!({"name": "hotspots", "max_bytes": "0B"}),
    )
    .await?;
    d.call("hotspots.ranking", json!({"n": 3})).await?;
    let s4 = inspect::status(&d).await?;
    let h = cache(&s4, "hotspots")?;
    ensure!(h.entries == 0 && h.bytes == 0 && h.max_bytes == 0, "{h:?}");
    // Growing again lets it fill past the old cap.
    d.call(
        "cache.resize",
        json!({"name": "signals", "max_bytes": "4MiB"}),
    )
    .await?;
    fill(&d, &u, 200).await?;
    let s5 = inspect::status(&d).await?;
    let sig5 = cache(&s5, "signals")?;
    ensure!(
        sig5.max_bytes == 4 * MIB && sig5.bytes > 16 * KIB && sig5.bytes <= 4 * MIB,
        "after growing to 4MiB: {sig5:?}"
    );

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_and_clear_refuse_bad_input_by_name() -> Result<()> {
    let d = Daemon::builder()
        .env("STOCKD_MEMORY_LIMIT", "300MiB")
        .start()
        .await?;
    let u = Universe::discover(&d).await?;
    fill(&d, &u, 20).await?;
    let s5 = inspect::status(&d).await?;

    // Bad sizes: named in the error, nothing changed.
    let bad = [
        (json!("12 parsecs"), vec!["12 parsecs"]),
        (json!(-1), vec!["-1"]),
        (json!("10GiB"), vec!["10GiB", "10737418240"]),
        (json!("1.5MiB"), vec!["1.5MiB"]),
    ];
    let mut problems = Vec::new();
    for (v, names) in &bad {
        let r = d
            .try_call("cache.resize", json!({"name": "signals", "max_bytes": v}))
            .await?;
        if let Err(e) = expect_error(r, &[-32602, 1009], names, &format!("max_bytes {v}")) {
            problems.push(format!("{e:#}"));
        }
    }
    // A cap the budget cannot hold: both numbers named.
    let r = d
        .try_call(
            "cache.resize",
            json!({"name": "query", "max_bytes": "4GiB"}),
        )
        .await?;
    match expect_error(
        r,
        &[1009],
        &["4294967296"],
        "max_bytes 4GiB over a 300MiB budget",
    ) {
        Ok(e) if !e.text().contains(&(300 * MIB).to_string()) => problems.push(format!(
            "4GiB over the budget: the error does not name the budget: {e}"
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("{e:#}")),
    }
    // Unknown cache: named, and the caches listed.
    for (method, params) in [
        (
            "cache.resize",
            json!({"name": "sessions", "max_bytes": "1MiB"}),
        ),
        ("cache.clear", json!({"name": "sessions"})),
    ] {
        let e = match expect_error(
            d.try_call(method, params).await?,
            &[1005],
            &["sessions"],
            method,
        ) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        if !CACHES.iter().all(|c| e.message.contains(c)) {
            problems.push(format!("{method}: the error does not list the caches: {e}"));
        }
        if e.data
            .as_ref()
            .and_then(|d| d.get("kind"))
            .and_then(Value::as_str)
            != Some("unknown_cache")
        {
            problems.push(format!("{method}: data.kind is not unknown_cache: {e}"));
        }
    }
    let s6 = inspect::status(&d).await?;
    for name in CACHES {
        ensure!(
            cache(&s6, name)?.max_bytes == cache(&s5, name)?.max_bytes,
            "a refused call changed {name}: {:?}",
            cache(&s6, name)?
        );
        ensure!(
            cache(&s6, name)?.entries == cache(&s5, name)?.entries,
            "a refused call evicted from {name}: {:?}",
            cache(&s6, name)?
        );
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_one_cache_or_all() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    fill(&d, &u, 60).await?;
    let s0 = inspect::status(&d).await?;
    for name in CACHES {
        ensure!(
            cache(&s0, name)?.entries > 0,
            "cache {name} empty after filling: {:?}",
            s0.caches
        );
    }

    let r: CacheClearResult =
        serde_json::from_value(d.call("cache.clear", json!({"name": "signals"})).await?)?;
    let s1 = inspect::status(&d).await?;
    let sig0 = cache(&s0, "signals")?;
    ensure!(
        r.dropped.len() == 1
            && r.dropped[0].name == "signals"
            && r.dropped[0].entries == sig0.entries
            && r.dropped[0].bytes == sig0.bytes,
        "cache.clear signals answered {r:?}; the cache held {sig0:?}"
    );
    let sig1 = cache(&s1, "signals")?;
    ensure!(
        sig1.entries == 0 && sig1.bytes == 0 && sig1.max_bytes == sig0.max_bytes,
        "after clearing: {sig1:?}"
    );
    for name in ["hotspots", "industry", "query"] {
        let (a, b) = (cache(&s0, name)?, cache(&s1, name)?);
        ensure!(
            a.entries == b.entries && a.bytes == b.bytes,
            "clearing signals touched {name}: {a:?} -> {b:?}"
        );
    }
    // A request for a cleared key is a miss again.
    let key = json!({"code": u.codes[0], "date": u.dates[0]});
    d.call("signals.stock", key.clone()).await?;
    let s2 = inspect::status(&d).await?;
    ensure!(
        cache(&s2, "signals")?.misses == sig1.misses + 1 && cache(&s2, "signals")?.entries == 1,
        "after clearing, the first request should miss: {:?}",
        cache(&s2, "signals")?
    );

    // Without a name: every cache.
    let r: CacheClearResult = serde_json::from_value(d.call("cache.clear", json!({})).await?)?;
    let s3 = inspect::status(&d).await?;
    let names: Vec<&str> = r.dropped.iter().map(|x| x.name.as_str()).collect();
    ensure!(
        names == CACHES,
        "cache.clear without a name dropped {names:?}"
    );
    for x in &r.dropped {
        let had = cache(&s2, &x.name)?;
        ensure!(
            x.entries == had.entries && x.bytes == had.bytes,
            "cache.clear reported {x:?}, the cache held {had:?}"
        );
    }
    for c in &s3.caches {
        ensure!(c.entries == 0 && c.bytes == 0, "after clearing all: {c:?}");
    }
    // With no params member at all, too.
    d.call("signals.stock", key).await?;
    let r: CacheClearResult = serde_json::from_value(d.call("cache.clear", Value::Null).await?)?;
    ensure!(
        r.dropped.iter().map(|x| x.entries).sum::<u64>() == 1,
        "cache.clear (no params) dropped {r:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_bumps_the_generation_and_empties_the_caches() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    fill(&d, &u, 40).await?;
    let s0 = inspect::status(&d).await?;
    let g0 = s0.store.generation;
    for name in CACHES {
        ensure!(
            cache(&s0, name)?.entries > 0,
            "cache {name} empty: {:?}",
            s0.caches
        );
    }
    let key = json!({"code": u.codes[1], "date": u.latest()});
    d.call("signals.stock", key.clone()).await?;
    let before_reload = d.call("signals.stock", key.clone()).await?;
    let hits0 = cache(&inspect::status(&d).await?, "signals")?.hits;

    let r: ReloadResult = serde_json::from_value(d.call("store.reload", Value::Null).await?)?;
    ensure!(
        r.generation == g0 + 1,
        "store.reload answered {r:?}, generation was {g0}"
    );
    ensure!(
        r.rows == s0.store.rows,
        "store.reload rows {} != {}",
        r.rows,
        s0.store.rows
    );
    let s1 = inspect::status(&d).await?;
    ensure!(
        s1.store.generation == g0 + 1,
        "admin.status generation {}",
        s1.store.generation
    );
    let info = d.call("market.info", Value::Null).await?;
    ensure!(
        info["generation"] == json!(g0 + 1),
        "market.info generation {}",
        info["generation"]
    );
    for c in &s1.caches {
        ensure!(c.entries == 0 && c.bytes == 0, "after store.reload: {c:?}");
    }
    // The same request is computed afresh for the new generation (a miss),
    // gives the same answer (the demo data is deterministic), and is then
    // served from the cache.
    let after_reload = d.call("signals.stock", key.clone()).await?;
    let s2 = inspect::status(&d).await?;
    let sig2 = cache(&s2, "signals")?;
    ensure!(
        sig2.hits == hits0 && sig2.misses == cache(&s1, "signals")?.misses + 1,
        "first request after reload should miss: {sig2:?}"
    );
    ensure!(
        after_reload == before_reload,
        "{after_reload} != {before_reload}"
    );
    d.call("signals.stock", key).await?;
    let s3 = inspect::status(&d).await?;
    ensure!(
        cache(&s3, "signals")?.hits == hits0 + 1,
        "{:?}",
        cache(&s3, "signals")?
    );
    Ok(())
}

/// The stockd binary with no inherited `STOCKD_*` (nor systemd) variables
/// and `env` set.
fn stockd_command(env: &[(&str, &str)]) -> Result<std::process::Command> {
    let mut cmd = std::process::Command::new(stockd_tests::daemon::stockd_bin()?);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STOCKD_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("NOTIFY_SOCKET").env_remove("LISTEN_FDS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null());
    Ok(cmd)
}

/// Runs stockd with `env` and a config file, expecting it to refuse to
/// start; returns its stderr.
fn refused_start(config: &str, env: &[(&str, &str)]) -> Result<String> {
    let dir = TempDir::new("stockd-caps")?;
    let socket = dir.path().join("stockd.sock");
    let cfg = dir.path().join("stockd.toml");
    std::fs::write(&cfg, config)?;
    let mut cmd = stockd_command(env)?;
    cmd.arg("--socket").arg(&socket).arg("--config").arg(&cfg);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "stockd kept running with caps over the budget; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.code() == Some(2),
        "expected exit status 2, got {}; stderr:\n{stderr}",
        out.status
    );
    ensure!(!socket.exists(), "a refused daemon left a socket behind");
    Ok(stderr)
}

#[test]
fn caps_over_the_budget_are_refused_at_start() -> Result<()> {
    // The default caps (8+8+8+16 MiB = 40 MiB) over a 32 MiB budget.
    let err = refused_start("", &[("STOCKD_MEMORY_LIMIT", "32MiB")])?;
    for (bytes, human) in [(40 * MIB, "40MiB"), (32 * MIB, "32MiB")] {
        ensure!(
            err.contains(&bytes.to_string()) || err.contains(human),
            "the refusal does not name {human} ({bytes} bytes):\n{err}"
        );
    }
    ensure!(
        err.contains("memory.limit"),
        "the refusal does not name memory.limit:\n{err}"
    );

    // From the config file, with caps that are not whole MiB.
    let config = r#"
[memory]
limit = "16MiB"

[cache.query]
max_bytes = "16MiB"

[cache.signals]
max_bytes = "64KiB"

[cache.hotspots]
max_bytes = "64KiB"

[cache.industry]
max_bytes = "64KiB"
"#;
    let err = refused_start(config, &[])?;
    let caps = 16 * MIB + 3 * 64 * KIB;
    for (bytes, human) in [(caps, "16576KiB"), (16 * MIB, "16MiB")] {
        ensure!(
            err.contains(&bytes.to_string()) || err.contains(human),
            "the refusal does not name {human} ({bytes} bytes):\n{err}"
        );
    }
    // Exactly at the budget is fine: the same caps with a budget equal to
    // their sum start (checked with --check-config, which validates and
    // exits).
    let ok = stockd_command(&[("STOCKD_MEMORY_LIMIT", "40MiB")])?
        .args(["--check-config", "--config", "/dev/null"])
        .output()?;
    ensure!(
        ok.status.success(),
        "caps equal to the budget were refused: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    Ok(())
}
