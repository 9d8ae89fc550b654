//! Reliability scenarios under load: a mixed workload over 64 keep-alive
//! connections (the CI run and the documented soak), a connection storm at
//! ten times the connection limit, and slow clients.
//!
//! ```text
//! cargo test -p stockd-tests --test reliability -- soak      # the 60 s load alone
//! cargo test -p stockd-tests --test reliability -- storm
//! cargo test -p stockd-tests --test reliability -- slow
//! STOCKD_SOAK_SECS=1800 cargo test --release -p stockd-tests --test reliability -- soak   # 30-minute soak
//! STOCKD_SOAK_SECS=1800 STOCKD_SOAK_SCALE=year cargo test --release -p stockd-tests --test reliability -- soak
//! ```
//!
//! With `STOCKD_SOAK_SCALE` (`seed`, `quarter` or `year`, the benchmark's
//! scales) the load runs against a PostgreSQL table of that size instead
//! of the embedded demo, with a snapshot directory and a `NOTIFY` every
//! `STOCKD_SOAK_NOTIFY_SECS` (default 60), each after one held row's
//! `updated_at` moved, so each is a full reload; the report
//! adds RSS at start and end and the RSS slope in MiB/h after the first
//! 5 minutes (target ≤ 1 MiB/h). CI sets neither variable.
//!
//! (`-- load` selects the load scenario and also any other scenario whose
//! name contains "load", e.g. the faults' "mid-load".) Nothing in the client grows with the run length except one RSS
//! sample per second: latencies go into a fixed-size histogram, error
//! examples are capped.

use crate::report::{Report, Scenario};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockd_api::AdminStatus;
use stockd_tests::inspect::{self, Universe};
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::procfs::{mib, vm_rss};
use stockd_tests::{http, Daemon, Rng};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

const MIB: u64 = 1 << 20;

pub fn scenarios() -> Vec<Scenario> {
    let load_secs = soak_secs().unwrap_or(LOAD_SECS);
    vec![
        Scenario::new(
            "load: mixed 64 connections (soak)",
            // Start, discovery and the final status on a loaded debug build;
            // at scale also filling the table and the first load.
            Duration::from_secs(
                load_secs
                    + 150
                    + if matches!(soak_scale(), Ok(Some(_))) {
                        900
                    } else {
                        0
                    },
            ),
            mixed_load,
        ),
        Scenario::new(
            "storm: 10× connection limit",
            Duration::from_secs(120),
            storm,
        ),
        Scenario::new("slow: clients", Duration::from_secs(120), slow_clients),
    ]
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Latencies in a fixed log-linear histogram (microseconds; 32 sub-buckets
/// per power of two, so a quantile is within ~3%), so a 30-minute soak
/// keeps constant memory.
#[derive(Clone)]
struct Latencies {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

const SUB: u64 = 32;
const SUB_BITS: u32 = 5;

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            buckets: vec![0; (64 - SUB_BITS as usize + 1) * SUB as usize],
            count: 0,
            max_us: 0,
        }
    }
}

impl Latencies {
    fn index(us: u64) -> usize {
        if us < SUB {
            return us as usize;
        }
        let e = 63 - us.leading_zeros(); // ≥ SUB_BITS
        let sub = (us >> (e - SUB_BITS)) & (SUB - 1);
        ((e - SUB_BITS + 1) as u64 * SUB + sub) as usize
    }

    /// The largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let e = i / SUB + SUB_BITS as u64 - 1;
        let sub = i % SUB;
        ((SUB + sub) << (e - SUB_BITS as u64)) + (1 << (e - SUB_BITS as u64)) - 1
    }

    fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.buckets[Self::index(us)] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    fn merge(&mut self, o: &Latencies) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.max_us = self.max_us.max(o.max_us);
    }

    /// The `q` quantile (0..=1), rounded up to its bucket's upper bound.
    fn quantile_us(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::upper(i).min(self.max_us);
            }
        }
        self.max_us
    }
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Open file descriptors of `pid`.
fn fd_count(pid: u32) -> Result<usize> {
    let dir = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("reading {dir}"))?
        .count())
}

/// One JSON-RPC POST as raw bytes.
fn request_bytes(method: &str, params: &Value, id: u64, close: bool) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(&Daemon::request(method, params, id))?;
    let mut out = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// What a raw connection got back.
#[derive(Debug)]
enum Outcome {
    /// A whole response (keep-alive: the connection may stay open).
    Response { status: u16, body: String },
    /// The daemon closed (EOF or reset) after sending `partial` bytes.
    Closed { partial: usize, how: String },
    /// Nothing conclusive within the deadline.
    TimedOut { partial: usize },
}

/// Reads one HTTP/1.1 response (content-length or read-to-close) from a
/// raw stream, within `timeout`. Bytes already received survive a reset.
async fn read_response(stream: &mut UnixStream, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(o) = parse_complete(&buf, false) {
            return o;
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        let how = match read {
            Err(_) => return Outcome::TimedOut { partial: buf.len() },
            Ok(Ok(0)) => "EOF".to_string(),
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                continue;
            }
            Ok(Err(e)) => format!("{:?}", e.kind()),
        };
        // Closed: a response without content-length ends here.
        if let Some(o) = parse_complete(&buf, true) {
            return o;
        }
        return Outcome::Closed {
            partial: buf.len(),
            how,
        };
    }
}

fn parse_complete(buf: &[u8], at_eof: bool) -> Option<Outcome> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let rest = &buf[split + 4..];
    let body = match len {
        Some(n) if rest.len() >= n => &rest[..n],
        Some(_) => return None,
        None if at_eof => rest,
        None => return None,
    };
    Some(Outcome::Response {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// Connects a raw stream within `timeout`.
async fn connect(socket: &Path, timeout: Duration) -> Result<UnixStream> {
    tokio::time::timeout(timeout, UnixStream::connect(socket))
        .await
        .context("connect timed out")?
        .with_context(|| format!("connecting to {}", socket.display()))
}

/// Least-squares slope of (seconds, bytes) points, in MiB per minute.
fn slope_mib_per_min(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    sxy / sxx * 60.0 / MIB as f64
}

/// The lowest point of each whole `cycle`-second window after `from`
/// (points are (seconds, value)); a window the samples end inside is left
/// out.
fn cycle_troughs(points: &[(f64, f64)], from: f64, cycle: f64) -> Vec<(f64, f64)> {
    let end = points.last().map_or(from, |p| p.0);
    let mut troughs: Vec<(f64, f64)> = Vec::new();
    let mut start = from;
    while start + cycle <= end {
        let low = points
            .iter()
            .filter(|p| p.0 >= start && p.0 < start + cycle)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some(&p) = low {
            troughs.push(p);
        }
        start += cycle;
    }
    troughs
}

/// Clients doing light requests on keep-alive connections until stopped,
/// plus (optionally) one request per fresh connection every 250 ms: the
/// "normal clients" of the storm and slow-client scenarios.
struct Normal {
    stop: Arc<AtomicBool>,
    /// Set while a phase of interest runs; requests completed while it is
    /// set are counted in `during`.
    phase: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<NormalTally>>,
}

#[derive(Default)]
struct NormalTally {
    requests: u64,
    during: u64,
    errors: u64,
    examples: Vec<String>,
    lat: Latencies,
}

impl NormalTally {
    fn merge(&mut self, o: NormalTally) {
        self.requests += o.requests;
        self.during += o.during;
        self.errors += o.errors;
        for e in o.examples {
            if self.examples.len() < 3 {
                self.examples.push(e);
            }
        }
        self.lat.merge(&o.lat);
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.examples.len() < 3 {
            self.examples.push(what);
        }
    }
}

/// A light request: `i` picks among market.info, stock.get, stock.top.
fn light_request(i: u64, codes: &[String]) -> (&'static str, Value) {
    match i % 3 {
        0 => ("market.info", json!({})),
        1 if !codes.is_empty() => (
            "stock.get",
            json!({"code": codes[(i as usize / 3) % codes.len()], "fields": ["close", "pct_chg"]}),
        ),
        _ => (
            "stock.top",
            json!({"by": "pct_chg", "n": 10, "fields": ["close"]}),
        ),
    }
}

impl Normal {
    /// Connects `keepalive` clients (each confirmed with one request) and,
    /// if `prober`, a task opening a new connection per request.
    async fn start(
        socket: &Path,
        keepalive: usize,
        prober: bool,
        codes: Arc<Vec<String>>,
    ) -> Result<Normal> {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for k in 0..keepalive {
            let mut conn = KeepAlive::connect(socket).await?;
            conn.call("market.info", &json!({}))
                .await
                .context("first request of a normal keep-alive client")?;
            let (stop, phase, codes) = (stop.clone(), phase.clone(), codes.clone());
            let socket = socket.to_path_buf();
            tasks.push(tokio::spawn(async move {
                let mut t = NormalTally::default();
                let mut i = k as u64;
                while !stop.load(Ordering::Relaxed) {
                    let (method, params) = light_request(i, &codes);
                    i += 1;
                    let during = phase.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let r = conn.try_call(method, &params).await;
                    t.lat.record(started.elapsed());
                    t.requests += 1;
                    match r {
                        Ok(Ok(_)) => {
                            if during && phase.load(Ordering::Relaxed) {
                                t.during += 1;
                            }
                        }
                        Ok(Err(e)) => t.error(format!("keep-alive {method}: {e}")),
                        Err(e) => {
                            t.error(format!("keep-alive {method}: {e:#}"));
                            // The connection is gone; the failure is
                            // counted, the client carries on with a new one.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            if let Ok(c) = KeepAlive::connect(&socket).await {
                                conn = c;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                t
            }));
        }
        if prober {
            let (stop, phase, socket) = (stop.clone(), phase.clone(), socket.to_path_buf());
            tasks.push(tokio::spawn(async move {
                let mut t = NormalTally::default();
                let body = serde_json::to_vec(&Daemon::request("market.info", &json!({}), 1))
                    .unwrap_or_default();
                while !stop.load(Ordering::Relaxed) {
                    let during = phase.load(Ordering::Relaxed);
                    let started = Instant::now();
                    let r = http::post(&socket, &body).await;
                    t.lat.record(started.elapsed());
                    t.requests += 1;
                    match r {
                        Ok(resp) if resp.status == 200 && resp.body.contains("\"result\"") => {
                            if during && phase.load(Ordering::Relaxed) {
                                t.during += 1;
                            }
                        }
                        Ok(resp) => t.error(format!(
                            "new connection: HTTP {} {}",
                            resp.status,
                            abbreviate(&resp.body, 200)
                        )),
                        Err(e) => t.error(format!("new connection: {e:#}")),
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                t
            }));
        }
        Ok(Normal { stop, phase, tasks })
    }

    async fn finish(self) -> Result<NormalTally> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = NormalTally::default();
        for t in self.tasks {
            all.merge(t.await.context("normal client task")?);
        }
        Ok(all)
    }
}

fn abbreviate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------------
// 1. Mixed load (and soak)
// ---------------------------------------------------------------------------

/// Concurrent keep-alive connections.
const LOAD_CONNECTIONS: usize = 64;
/// Seconds of load in CI; `STOCKD_SOAK_SECS` overrides.
const LOAD_SECS: u64 = 60;
/// The daemon's memory budget. The demo daemon's RSS is ~70 MiB in a debug
/// build before load; 64 connections with answers of up to ~1 MiB in
/// flight and 8 MiB of caches add a few tens of MiB. 256 MiB leaves the
/// governor's high mark (80% = 205 MiB) out of reach unless something
/// grows without bound.
const LOAD_MEMORY_LIMIT_MIB: u64 = 256;
/// Small cache caps, so every cache is full (and evicting) within the
/// warm-up: the growth check then sees the steady state, and evictions run
/// all through the run.
const LOAD_CACHE_CAP: &str = "2MiB";
/// Allowed growth over the measured (post-warm-up) part of the run, from
/// the least-squares slope: 10% of the budget. RSS is not flat under load:
/// it moves by ±5 MiB with the answers in flight, settles over the first
/// two minutes (+8–10 MiB in a debug build), and its level follows the
/// throughput — in a 600 s debug soak it stepped up 15 MiB when the shared
/// machine freed up and throughput went from ~600 to ~1600 req/s, then
/// stayed flat. A bound below that would fail on the machine, not on the
/// daemon. What it catches: in the 60 s run, growth of more than
/// ~36 MiB/min (≥ ~1.5 KB leaked per request at debug-build rates); in
/// the 30-minute soak (24 min measured), more than 1 MiB/min.
const LOAD_GROWTH_ALLOWED_MIB: f64 = 0.1 * LOAD_MEMORY_LIMIT_MIB as f64;
/// The least warm-up: connections' buffers, allocator pages and the
/// caches settle in the first tens of seconds.
const LOAD_WARMUP_MIN: Duration = Duration::from_secs(20);
/// p99 bounds: the client's includes queueing behind 63 other connections
/// on two cores in a debug build; the daemon's is handler time only.
const LOAD_CLIENT_P99_MAX: Duration = Duration::from_secs(2);
const LOAD_DAEMON_P99_MAX: Duration = Duration::from_secs(1);

/// The soak's data set when `STOCKD_SOAK_SCALE` names one: the
/// benchmark's scales (stockd-bench `--scale`).
fn soak_scale() -> Result<Option<(&'static str, stockd::demo::DemoParams)>> {
    let seed = stockd::demo::DemoParams::seed();
    let Ok(s) = std::env::var("STOCKD_SOAK_SCALE") else {
        return Ok(None);
    };
    Ok(Some(match s.trim() {
        "seed" => ("seed", seed),
        "quarter" => (
            "quarter",
            stockd::demo::DemoParams {
                stocks: 5_400,
                days: 61,
                suspended: 0,
                ..seed
            },
        ),
        "year" => (
            "year",
            stockd::demo::DemoParams {
                stocks: 5_400,
                days: 244,
                suspended: 0,
                ..seed
            },
        ),
        other => bail!("STOCKD_SOAK_SCALE={other:?}: give seed, quarter or year"),
    }))
}

/// Seconds between two NOTIFYs of a soak on PostgreSQL
/// (`STOCKD_SOAK_NOTIFY_SECS`, default 60).
fn soak_notify_secs() -> Result<u64> {
    match std::env::var("STOCKD_SOAK_NOTIFY_SECS") {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 1)
            .with_context(|| {
                format!("STOCKD_SOAK_NOTIFY_SECS={s:?}: give a whole number of seconds, at least 1")
            }),
        Err(_) => Ok(60),
    }
}

/// The memory budget of a soak on PostgreSQL: a year-scale store with a
/// second one being built beside it during every reload.
const SOAK_PG_MEMORY_LIMIT_MIB: u64 = 2048;
/// A soak's RSS slope is measured after this warm-up.
const SOAK_WARMUP: Duration = Duration::from_secs(300);
/// Target RSS slope of a soak, MiB per hour.
const SOAK_SLOPE_MAX_MIB_PER_H: f64 = 1.0;

fn soak_secs() -> Result<u64> {
    match std::env::var("STOCKD_SOAK_SECS") {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 10)
            .with_context(|| {
                format!("STOCKD_SOAK_SECS={s:?}: give a whole number of seconds, at least 10")
            }),
        Err(_) => Ok(LOAD_SECS),
    }
}

const DATA_METHODS: [&str; 9] = [
    "market.info",
    "market.dates",
    "stock.get",
    "stock.many",
    "stock.top",
    "stock.history",
    "hotspots.ranking",
    "industry.detail",
    "signals.stock",
];

/// What a valid answer must look like (cheap checks, so a daemon that
/// answers the wrong thing under load is caught).
enum Shape {
    Object,
    Array,
    /// An object whose `code` is this.
    Code(String),
    /// `rows` + `missing` account for this many codes.
    Many(usize),
    /// An array of at most this many entries.
    AtMost(usize),
}

struct Call {
    method: &'static str,
    params: Value,
    /// `Some(code)`: a deliberately bad request that must get this error.
    expect_error: Option<i64>,
    shape: Shape,
}

fn any<'a>(rng: &mut Rng, v: &'a [String]) -> &'a str {
    &v[rng.below(v.len())]
}

/// `date` for methods that take any held date: absent, the latest, or any.
fn any_date(rng: &mut Rng, u: &Universe, p: &mut Value) {
    match rng.below(4) {
        0 | 1 => {}
        2 => p["date"] = json!(u.latest()),
        _ => p["date"] = json!(any(rng, &u.dates)),
    }
}

/// `date` for per-stock lookups: absent or the latest (a stock may be
/// suspended on an earlier date, which is a correct 1002, not a fault).
fn latest_date(rng: &mut Rng, u: &Universe, p: &mut Value) {
    if rng.below(2) == 0 {
        p["date"] = json!(u.latest());
    }
}

fn any_fields(rng: &mut Rng, u: &Universe, p: &mut Value) {
    if rng.below(2) == 0 {
        let k = 1 + rng.below(8);
        let f: Vec<&str> = rng
            .sample(u.numeric_columns.len(), k)
            .into_iter()
            .map(|i| u.numeric_columns[i].as_str())
            .collect();
        p["fields"] = json!(f);
    }
}

/// One request of the mixed workload: every data method and view with
/// varied valid parameters, and 5% deliberately bad requests.
fn pick(rng: &mut Rng, u: &Universe) -> Call {
    let ok = |method, params, shape| Call {
        method,
        params,
        expect_error: None,
        shape,
    };
    match rng.below(100) {
        0..=4 => ok("market.info", json!({}), Shape::Object),
        5..=9 => ok("market.dates", json!({}), Shape::Array),
        10..=27 => {
            let code = any(rng, &u.codes).to_string();
            let mut p = json!({ "code": code });
            latest_date(rng, u, &mut p);
            any_fields(rng, u, &mut p);
            ok("stock.get", p, Shape::Code(code))
        }
        28..=37 => {
            // Mostly small batches, sometimes up to 300 codes.
            let max = if rng.below(10) == 0 { 300 } else { 40 };
            let k = 1 + rng.below(max.min(u.codes.len()));
            let codes: Vec<&str> = rng
                .sample(u.codes.len(), k)
                .into_iter()
                .map(|i| u.codes[i].as_str())
                .collect();
            let mut p = json!({ "codes": codes });
            any_date(rng, u, &mut p);
            any_fields(rng, u, &mut p);
            ok("stock.many", p, Shape::Many(k))
        }
        38..=52 => {
            let n = if rng.below(20) == 0 {
                500
            } else {
                1 + rng.below(100)
            };
            let mut p = json!({
                "by": any(rng, &u.numeric_columns),
                "n": n,
                "order": if rng.below(2) == 0 { "desc" } else { "asc" },
            });
            any_date(rng, u, &mut p);
            if rng.below(4) == 0 {
                p["industry"] = json!(any(rng, &u.industries));
            }
            any_fields(rng, u, &mut p);
            ok("stock.top", p, Shape::AtMost(n))
        }
        53..=62 => {
            let code = any(rng, &u.codes).to_string();
            let mut p = json!({ "code": code });
            if rng.below(3) != 0 {
                let a = rng.below(u.dates.len());
                let b = rng.below(u.dates.len());
                p["from"] = json!(u.dates[a.min(b)]);
                p["to"] = json!(u.dates[a.max(b)]);
            }
            any_fields(rng, u, &mut p);
            ok("stock.history", p, Shape::Code(code))
        }
        63..=72 => {
            let mut p = json!({ "n": 1 + rng.below(stockd_api::HOTSPOTS_MAX_N as usize) });
            any_date(rng, u, &mut p);
            ok("hotspots.ranking", p, Shape::Object)
        }
        73..=83 => {
            let mut p = json!({ "industry": any(rng, &u.industries) });
            any_date(rng, u, &mut p);
            ok("industry.detail", p, Shape::Object)
        }
        84..=94 => {
            let code = any(rng, &u.codes).to_string();
            let mut p = json!({ "code": code });
            latest_date(rng, u, &mut p);
            ok("signals.stock", p, Shape::Code(code))
        }
        _ => {
            let n = rng.next_u64() % 1_000_000;
            let (method, params, code) = match rng.below(4) {
                0 => ("stock.get", json!({"code": format!("NOSUCH{n}")}), 1001),
                1 => (
                    "stock.get",
                    json!({"code": any(rng, &u.codes), "date": "1999-01-04"}),
                    1002,
                ),
                2 => (
                    "stock.top",
                    json!({"by": format!("no_such_column_{n}")}),
                    1003,
                ),
                _ => (
                    "industry.detail",
                    json!({"industry": format!("No such industry {n}")}),
                    1004,
                ),
            };
            Call {
                method,
                params,
                expect_error: Some(code),
                shape: Shape::Object,
            }
        }
    }
}

fn shape_ok(shape: &Shape, v: &Value) -> bool {
    match shape {
        Shape::Object => v.is_object(),
        Shape::Array => v.as_array().is_some_and(|a| !a.is_empty()),
        Shape::Code(c) => v["code"].as_str() == Some(c.as_str()),
        Shape::Many(k) => {
            let rows = v["rows"].as_array().map_or(usize::MAX, Vec::len);
            let missing = v["missing"].as_array().map_or(usize::MAX, Vec::len);
            rows.saturating_add(missing) == *k
        }
        Shape::AtMost(n) => v.as_array().is_some_and(|a| a.len() <= *n),
    }
}

#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    expected_errors: u64,
    /// An error answer that was not the deliberate one (or a result where
    /// an error was due).
    unexpected: u64,
    /// A result of the wrong shape.
    wrong: u64,
    /// Connection failures, timeouts, unparseable answers.
    transport: u64,
    per_method: BTreeMap<&'static str, u64>,
    examples: Vec<String>,
    lat: Latencies,
}

impl Tally {
    fn example(&mut self, e: String) {
        if self.examples.len() < 5 {
            self.examples.push(e);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.expected_errors += o.expected_errors;
        self.unexpected += o.unexpected;
        self.wrong += o.wrong;
        self.transport += o.transport;
        for (m, n) in o.per_method {
            *self.per_method.entry(m).or_insert(0) += n;
        }
        for e in o.examples {
            self.example(e);
        }
        self.lat.merge(&o.lat);
    }
}

async fn load_worker(
    socket: PathBuf,
    u: Arc<Universe>,
    seed: u64,
    until: Instant,
    served: Arc<AtomicU64>,
) -> Tally {
    let mut t = Tally::default();
    let mut rng = Rng::new(seed);
    let mut conn: Option<KeepAlive> = None;
    while Instant::now() < until {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match KeepAlive::connect(&socket).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    t.transport += 1;
                    t.example(format!("connect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let call = pick(&mut rng, &u);
        let started = Instant::now();
        let answer = c.try_call(call.method, &call.params).await;
        t.lat.record(started.elapsed());
        t.sent += 1;
        served.fetch_add(1, Ordering::Relaxed);
        *t.per_method.entry(call.method).or_insert(0) += 1;
        match (answer, call.expect_error) {
            (Ok(Ok(v)), None) if shape_ok(&call.shape, &v) => t.ok += 1,
            (Ok(Ok(v)), None) => {
                t.wrong += 1;
                t.example(format!(
                    "{} {}: wrong answer {}",
                    call.method,
                    call.params,
                    abbreviate(&v.to_string(), 300)
                ));
            }
            (Ok(Err(e)), Some(code)) if e.code == code => t.expected_errors += 1,
            (Ok(Err(e)), _) => {
                t.unexpected += 1;
                t.example(format!("{} {}: {e}", call.method, call.params));
            }
            (Ok(Ok(_)), Some(code)) => {
                t.unexpected += 1;
                t.example(format!(
                    "{} {}: answered a result, expected error {code}",
                    call.method, call.params
                ));
            }
            (Err(e), _) => {
                t.transport += 1;
                t.example(format!("{} {}: {e:#}", call.method, call.params));
                conn = None;
            }
        }
    }
    t
}

struct RssSample {
    at_s: f64,
    rss: u64,
    /// Bytes held by the caches (admin.status), taken with the RSS.
    caches: u64,
    /// Requests answered so far.
    requests: u64,
}

#[derive(Default)]
struct Sampled {
    rss: Vec<RssSample>,
    /// Governor states seen in admin.status.
    states: BTreeMap<String, u64>,
    max_cache_bytes: u64,
    status_failures: u64,
}

/// Samples the daemon's RSS from /proc and its caches' bytes from
/// admin.status every second, until `stop`; prints progress every 5 s (30 s
/// for runs over two minutes).
async fn sampler(
    socket: PathBuf,
    pid: u32,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    run: Duration,
) -> Result<Sampled> {
    let mut out = Sampled::default();
    let mut conn = KeepAlive::connect(&socket).await?;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every: u64 = if run > Duration::from_secs(120) {
        30
    } else {
        5
    };
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let rss = vm_rss(pid).context("the daemon's RSS (did it exit?)")?;
        let at_s = started.elapsed().as_secs_f64();
        let requests = served.load(Ordering::Relaxed);
        let status = conn
            .call_as::<AdminStatus>("admin.status", &Value::Null)
            .await;
        let (caches, state) = match status {
            Ok(s) => (s.caches.iter().map(|c| c.bytes).sum(), s.memory.state),
            Err(_) => {
                out.status_failures += 1;
                if let Ok(c) = KeepAlive::connect(&socket).await {
                    conn = c;
                }
                continue;
            }
        };
        out.max_cache_bytes = out.max_cache_bytes.max(caches);
        if n.is_multiple_of(every) {
            println!(
                "  [{at_s:5.0} s] {requests} requests, rss {}, caches {}, governor {state}, threads {}",
                mib(rss),
                mib(caches),
                stockd_tests::procfs::status_field(pid, "Threads")
                    .map(|b| (b / 1024).to_string())
                    .unwrap_or_default()
            );
        }
        *out.states.entry(state).or_insert(0) += 1;
        out.rss.push(RssSample {
            at_s,
            rss,
            caches,
            requests,
        });
        n += 1;
    }
    Ok(out)
}

async fn mixed_load(report: Report) -> Result<()> {
    let run = Duration::from_secs(soak_secs()?);
    let scale = soak_scale()?;
    let notify_every = soak_notify_secs()?;
    let limit_mib = if scale.is_some() {
        SOAK_PG_MEMORY_LIMIT_MIB
    } else {
        LOAD_MEMORY_LIMIT_MIB
    };
    let limit = limit_mib * MIB;
    let cache_toml = ["hotspots", "industry", "signals", "query"]
        .iter()
        .map(|c| format!("[cache.{c}]\nmax_bytes = \"{LOAD_CACHE_CAP}\"\n"))
        .collect::<String>();
    let mut builder = Daemon::builder()
        .env("STOCKD_MEMORY_LIMIT", &format!("{limit_mib}MiB"))
        .config(&cache_toml);
    // A soak on PostgreSQL: the table, the snapshot directory, the NOTIFYs.
    let mut pg = None;
    if let Some((name, params)) = &scale {
        let db = stockd_tests::PgTestDb::new().await?;
        db.create_fixture_table().await?;
        let filled = Instant::now();
        let rows = db.fill_demo("daily_stock_data", params).await?;
        db.execute("ANALYZE daily_stock_data").await?;
        println!(
            "  {name} scale: {rows} rows in PostgreSQL ({:?} to fill)",
            filled.elapsed()
        );
        let snapdir = stockd_tests::TempDir::new("stockd-soak-snap")?;
        builder = builder
            .database_url(db.url())
            .env("STOCKD_SOURCE_WINDOW_DAYS", &params.days.to_string())
            .env("STOCKD_SNAPSHOT_DIR", &snapdir.path().display().to_string())
            .ready_timeout(Duration::from_secs(300));
        pg = Some((Arc::new(db), snapdir));
    }
    let d = builder.start().await?;
    if pg.is_some() {
        d.wait_info("the first load", Duration::from_secs(300), |i| {
            i["rows"].as_u64().unwrap_or(0) > 0
        })
        .await?;
    }
    let pid = d.pid().context("no daemon pid")?;
    let socket = d.socket().to_path_buf();
    let universe = Arc::new(Universe::discover(&d).await?);
    let baseline = vm_rss(pid)?;
    println!(
        "  universe: {} codes, {} dates, {} industries, {} numeric columns; baseline RSS {}; {} connections for {:?}",
        universe.codes.len(),
        universe.dates.len(),
        universe.industries.len(),
        universe.numeric_columns.len(),
        mib(baseline),
        LOAD_CONNECTIONS,
        run
    );

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let notifier = match &pg {
        Some((db, _)) => {
            let (db, stop) = (db.clone(), stop.clone());
            let every = Duration::from_secs(notify_every);
            Some(tokio::spawn(async move {
                let (mut sent, mut failed) = (0u64, 0u64);
                let mut next = Instant::now() + every;
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        // A held row's change column moves, so the NOTIFY
                        // is a full reload (without a change, it would read
                        // nothing and share the store: an incremental one).
                        let touched = db
                            .execute(
                                "UPDATE daily_stock_data SET updated_at = clock_timestamp() \
                                 WHERE id = (SELECT min(id) FROM daily_stock_data)",
                            )
                            .await;
                        match db.notify("stockd_refresh").await.and(touched) {
                            Ok(()) => sent += 1,
                            Err(_) => failed += 1,
                        }
                        next += every;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                (sent, failed)
            }))
        }
        None => None,
    };
    let generation_at_start = d.call("market.info", json!({})).await?["generation"]
        .as_u64()
        .unwrap_or(0);
    let sampling = tokio::spawn(sampler(
        socket.clone(),
        pid,
        stop.clone(),
        served.clone(),
        run,
    ));
    let started = Instant::now();
    let until = started + run;
    let workers: Vec<_> = (0..LOAD_CONNECTIONS)
        .map(|i| {
            tokio::spawn(load_worker(
                socket.clone(),
                universe.clone(),
                0x5eed_0000 + i as u64,
                until,
                served.clone(),
            ))
        })
        .collect();
    let mut t = Tally::default();
    let mut served_per_connection = Vec::new();
    for w in workers {
        let one = w.await.context("load worker")?;
        served_per_connection.push(one.ok + one.expected_errors);
        t.merge(one);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let sampled = sampling.await.context("sampler task")??;
    let status = inspect::status(&d).await?;
    if let Some(n) = notifier {
        let (sent, failed) = n.await.context("notifier task")?;
        let info = d.call("market.info", json!({})).await?;
        let generation = info["generation"].as_u64().unwrap_or(0);
        let reloads = generation.saturating_sub(generation_at_start);
        let stderr = d.stderr();
        let snapshots = stderr.matches("snapshot written").count();
        let failures = stderr.matches("load failed").count();
        report.check(
            "refreshes: NOTIFYs reload the table (a NOTIFY during a load joins the next one), no load failed",
            format!(
                "{sent} NOTIFY sent ({failed} failed to send), {reloads} reloads (generation {generation_at_start} -> {generation}), {failures} failed loads, {snapshots} snapshots written; {} rows served",
                info["rows"]
            ),
            sent > 0 && failed == 0 && failures == 0 && reloads * 2 >= sent,
        );
    }
    let (hits, misses) = status
        .caches
        .iter()
        .fold((0u64, 0u64), |(h, m), c| (h + c.hits, m + c.misses));
    println!(
        "  caches: {hits} hits, {misses} misses ({:.0}% of cached-method requests computed afresh)",
        100.0 * misses as f64 / (hits + misses).max(1) as f64
    );

    // Errors.
    report.check(
        "zero unexpected errors (every answer a valid result or the deliberate error)",
        format!(
            "{} requests: {} results, {} deliberate bad requests answered with the expected code (1001/1002/1003/1004), {} unexpected errors, {} wrong answers, {} transport failures{}",
            t.sent,
            t.ok,
            t.expected_errors,
            t.unexpected,
            t.wrong,
            t.transport,
            if t.examples.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", t.examples.join(" / "))
            }
        ),
        t.sent > 0 && t.unexpected == 0 && t.wrong == 0 && t.transport == 0,
    );

    // Throughput, and the daemon counted what the clients sent.
    let daemon_count: u64 = DATA_METHODS
        .iter()
        .map(|m| inspect::requests(&status, m).count)
        .sum();
    let daemon_errors: u64 = DATA_METHODS
        .iter()
        .map(|m| inspect::requests(&status, m).errors)
        .sum();
    let idle_connections = served_per_connection.iter().filter(|&&n| n == 0).count();
    let methods_missing: Vec<&str> = DATA_METHODS
        .iter()
        .copied()
        .filter(|m| t.per_method.get(m).copied().unwrap_or(0) == 0)
        .collect();
    let answered = t.ok + t.expected_errors + t.unexpected + t.wrong;
    report.check(
        "requests served and throughput (every data method and view, every connection)",
        format!(
            "{} served in {} = {:.0} req/s over {} connections (min {} per connection); per method: {}; daemon counted {} data requests, {} errors",
            answered,
            secs(elapsed),
            answered as f64 / elapsed.as_secs_f64(),
            LOAD_CONNECTIONS,
            served_per_connection.iter().min().copied().unwrap_or(0),
            t.per_method
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            daemon_count,
            daemon_errors
        ),
        answered > 0
            && idle_connections == 0
            && methods_missing.is_empty()
            && daemon_count >= answered
            && daemon_errors >= t.expected_errors,
    );

    // Latency, client side and daemon side.
    let p99 = t.lat.quantile_us(0.99);
    report.check(
        format!(
            "client p99 latency ≤ {} (queueing behind 63 connections included)",
            secs(LOAD_CLIENT_P99_MAX)
        ),
        format!(
            "p50 {}, p99 {}, p99.9 {}, max {}",
            ms(t.lat.quantile_us(0.5)),
            ms(p99),
            ms(t.lat.quantile_us(0.999)),
            ms(t.lat.max_us)
        ),
        t.lat.count > 0 && p99 <= LOAD_CLIENT_P99_MAX.as_micros() as u64,
    );
    let daemon_p99: Vec<(&str, u64)> = DATA_METHODS
        .iter()
        .map(|m| (*m, inspect::requests(&status, m).p99_us))
        .collect();
    let worst = daemon_p99.iter().map(|p| p.1).max().unwrap_or(0);
    report.check(
        format!(
            "daemon p99 per method (admin.status) ≤ {}",
            secs(LOAD_DAEMON_P99_MAX)
        ),
        daemon_p99
            .iter()
            .map(|(m, us)| format!("{m} {}", ms(*us)))
            .collect::<Vec<_>>()
            .join(", "),
        worst <= LOAD_DAEMON_P99_MAX.as_micros() as u64,
    );

    // RSS within the budget, sampled every second.
    let max_rss = sampled.rss.iter().map(|s| s.rss).max().unwrap_or(0);
    let expected_samples = (elapsed.as_secs_f64() * 0.8) as usize;
    report.check(
        format!("RSS sampled every second stays within the {limit_mib} MiB budget"),
        format!(
            "{} samples: baseline {}, max {} ({:.0}% of budget), final {}; daemon peak (VmHWM) {}; governor states {:?}; caches at most {} of 4 × {LOAD_CACHE_CAP}",
            sampled.rss.len(),
            mib(baseline),
            mib(max_rss),
            max_rss as f64 * 100.0 / limit as f64,
            mib(sampled.rss.last().map_or(0, |s| s.rss)),
            mib(stockd_tests::procfs::status_field(pid, "VmHWM").unwrap_or(0)),
            sampled.states,
            mib(sampled.max_cache_bytes),
        ),
        sampled.rss.len() >= expected_samples && max_rss > 0 && max_rss <= limit,
    );

    // No growth trend after the warm-up. The caches fill towards their caps
    // through the run by design, so the trend is taken of RSS net of the
    // caches' bytes (the raw RSS slope is reported beside it).
    let soak = run >= Duration::from_secs(600);
    let warmup = if soak {
        SOAK_WARMUP.as_secs_f64()
    } else {
        (run.as_secs_f64() * 0.2).max(LOAD_WARMUP_MIN.as_secs_f64())
    };
    let after: Vec<&RssSample> = sampled.rss.iter().filter(|s| s.at_s >= warmup).collect();
    let net: Vec<(f64, f64)> = after
        .iter()
        .map(|s| (s.at_s, s.rss as f64 - s.caches as f64))
        .collect();
    let raw: Vec<(f64, f64)> = after.iter().map(|s| (s.at_s, s.rss as f64)).collect();
    // With a reload every cycle (a soak on PostgreSQL), RSS is a saw: each
    // reload holds a second store while it builds. A line fitted through
    // every sample then follows where the window happens to cut the last
    // tooth, not growth; growth shows in the troughs, the steady RSS
    // between reloads. So the trend is fitted to each whole cycle's lowest
    // sample, and the every-sample slope is reported beside it.
    let cycle = pg.as_ref().map(|_| notify_every as f64);
    let (fit_net, fit_raw, fitted) = match cycle {
        Some(c) => (
            cycle_troughs(&net, warmup, c),
            cycle_troughs(&raw, warmup, c),
            format!("the lowest sample of each whole {c:.0} s reload cycle"),
        ),
        None => (net.clone(), raw.clone(), "every sample".to_string()),
    };
    let slope = slope_mib_per_min(&fit_net);
    let slope_raw = slope_mib_per_min(&fit_raw);
    let slope_every = slope_mib_per_min(&raw);
    let (window_s, requests) = match (after.first(), after.last()) {
        (Some(f), Some(l)) => (l.at_s - f.at_s, l.requests.saturating_sub(f.requests)),
        _ => (0.0, 0),
    };
    let projected = slope * window_s / 60.0;
    let per_request = if requests > 0 {
        slope * MIB as f64 / 60.0 * window_s / requests as f64
    } else {
        0.0
    };
    let (lo, hi) = raw
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    report.check(
        format!(
            "no RSS growth after a {warmup:.0} s warm-up: least-squares slope of RSS net of cache bytes (over {fitted}) × window ≤ {LOAD_GROWTH_ALLOWED_MIB} MiB"
        ),
        format!(
            "slope {slope:+.2} MiB/min (raw RSS {slope_raw:+.2} MiB/min; through every sample {slope_every:+.2} MiB/min) over {} points ({:.1} min) = {projected:+.1} MiB, {per_request:+.0} B per request over {requests} requests; RSS after warm-up {:.1}–{:.1} MiB",
            fit_net.len(),
            window_s / 60.0,
            lo / MIB as f64,
            hi / MIB as f64
        ),
        fit_net.len() >= 10 && projected <= LOAD_GROWTH_ALLOWED_MIB,
    );
    if soak {
        let first = sampled.rss.first().map_or(0, |s| s.rss);
        let last = sampled.rss.last().map_or(0, |s| s.rss);
        let per_h = slope_raw * 60.0;
        report.check(
            format!(
                "soak: RSS slope after the first {:.0} min ≤ {SOAK_SLOPE_MAX_MIB_PER_H} MiB/h (least squares over {fitted}; one sample per second)",
                warmup / 60.0
            ),
            format!(
                "RSS start {} (before load: {}), end {}; slope {per_h:+.2} MiB/h (net of cache bytes {:+.2} MiB/h) over {:.1} min, {} points; through every sample {:+.2} MiB/h",
                mib(first),
                mib(baseline),
                mib(last),
                slope * 60.0,
                window_s / 60.0,
                fit_raw.len(),
                slope_every * 60.0,
            ),
            fit_raw.len() >= 10 && per_h <= SOAK_SLOPE_MAX_MIB_PER_H,
        );
    }
    if sampled.status_failures > 0 {
        report.check(
            "admin.status answered the sampler",
            format!("{} failures", sampled.status_failures),
            false,
        );
    }
    drop(d);
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Connection storm
// ---------------------------------------------------------------------------

const STORM_LIMIT: usize = 16;
/// Keep-alive clients connected before the storm and served through it.
const STORM_ESTABLISHED: usize = 4;
const STORM_CONNECTIONS: usize = 10 * STORM_LIMIT;
/// How long a storm connection waits for its answer before it counts as
/// hung (the daemon answers within milliseconds when healthy).
const STORM_ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// The storm is held open this long before it closes.
const STORM_HOLD: Duration = Duration::from_secs(2);
/// New connections must be served again within this after the storm.
const STORM_RECOVERY_MAX: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum StormKind {
    Admitted(UnixStream),
    Refused503,
    Refused503Unclean(String),
    Closed(String),
    ConnectFailed(String),
    Hung(usize),
    Other(String),
}

async fn storm_one(socket: PathBuf, go: Arc<tokio::sync::Barrier>) -> StormKind {
    go.wait().await;
    let mut s = match connect(&socket, STORM_ANSWER_TIMEOUT).await {
        Ok(s) => s,
        Err(e) => return StormKind::ConnectFailed(format!("{e:#}")),
    };
    let req = match request_bytes("market.info", &json!({}), 1, false) {
        Ok(r) => r,
        Err(e) => return StormKind::Other(format!("{e:#}")),
    };
    // A refused connection may be closed before the request is written;
    // the answer it got is read all the same.
    let _ = s.write_all(&req).await;
    match read_response(&mut s, STORM_ANSWER_TIMEOUT).await {
        Outcome::Response { status: 200, body } if body.contains("\"result\"") => {
            StormKind::Admitted(s)
        }
        Outcome::Response { status: 503, body } => {
            let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let msg = doc["error"]["message"].as_str().unwrap_or_default();
            if doc["error"]["code"] == json!(1009)
                && msg.contains("server.max_connections")
                && msg.contains(&STORM_LIMIT.to_string())
            {
                StormKind::Refused503
            } else {
                StormKind::Refused503Unclean(abbreviate(&body, 200))
            }
        }
        Outcome::Response { status, body } => {
            StormKind::Other(format!("HTTP {status} {}", abbreviate(&body, 200)))
        }
        Outcome::Closed { partial: 0, how } => StormKind::Closed(how),
        Outcome::Closed { partial, how } => {
            StormKind::Other(format!("closed ({how}) after {partial} bytes"))
        }
        Outcome::TimedOut { partial } => StormKind::Hung(partial),
    }
}

/// Opens `n` connections at once, each asking market.info; returns how
/// many got a 200 (the streams are dropped).
async fn admitted_now(socket: &Path, n: usize) -> usize {
    let go = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| tokio::spawn(storm_one(socket.to_path_buf(), go.clone())))
        .collect();
    let mut ok = 0;
    for t in tasks {
        if let Ok(StormKind::Admitted(_)) = t.await {
            ok += 1;
        }
    }
    ok
}

async fn storm(report: Report) -> Result<()> {
    let d = Daemon::builder()
        .env("STOCKD_SERVER_MAX_CONNECTIONS", &STORM_LIMIT.to_string())
        .start()
        .await?;
    let pid = d.pid().context("no daemon pid")?;
    let socket = d.socket().to_path_buf();
    let codes: Vec<String> = d
        .call(
            "stock.top",
            json!({"by": "close", "n": 50, "fields": ["close"]}),
        )
        .await?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    // Let the readiness probe's connection finish closing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fd_base = fd_count(pid)?;

    let normal = Normal::start(&socket, STORM_ESTABLISHED, false, Arc::new(codes)).await?;
    normal.phase.store(true, Ordering::Relaxed);
    let storm_started = Instant::now();
    let go = Arc::new(tokio::sync::Barrier::new(STORM_CONNECTIONS));
    let tasks: Vec<_> = (0..STORM_CONNECTIONS)
        .map(|_| tokio::spawn(storm_one(socket.clone(), go.clone())))
        .collect();
    let mut kinds = Vec::new();
    for t in tasks {
        kinds.push(t.await.context("storm connection task")?);
    }
    let classified_in = storm_started.elapsed();
    let fd_peak = fd_count(pid)?;
    let mut admitted: Vec<UnixStream> = Vec::new();
    let (mut refused, mut connect_failed, mut hung) = (0, 0, 0);
    let mut closes: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad: Vec<String> = Vec::new();
    for k in kinds {
        match k {
            StormKind::Admitted(s) => admitted.push(s),
            StormKind::Refused503 => refused += 1,
            StormKind::Closed(how) => *closes.entry(how).or_insert(0) += 1,
            StormKind::ConnectFailed(e) => {
                connect_failed += 1;
                if bad.len() < 3 {
                    bad.push(format!("connect: {e}"));
                }
            }
            StormKind::Hung(partial) => {
                hung += 1;
                if bad.len() < 3 {
                    bad.push(format!(
                        "no answer within {STORM_ANSWER_TIMEOUT:?} ({partial} bytes)"
                    ));
                }
            }
            StormKind::Refused503Unclean(b) => {
                bad.push(format!("503 without the limit error: {b}"))
            }
            StormKind::Other(e) => bad.push(e),
        }
    }
    let closed: usize = closes.values().sum();
    let slots = STORM_LIMIT - STORM_ESTABLISHED;
    let unclean = bad.len() - connect_failed.min(bad.len()) - hung.min(bad.len());
    report.check(
        format!(
            "{STORM_CONNECTIONS} connections at once (limit {STORM_LIMIT}, {STORM_ESTABLISHED} established): {slots} admitted, the excess refused cleanly, none hung"
        ),
        format!(
            "{} admitted, {} HTTP 503 + 1009 naming server.max_connections = {STORM_LIMIT}, {} closed without an answer {:?}, {} connect failures, {} hung, {} other; all answered in {}{}",
            admitted.len(),
            refused,
            closed,
            closes,
            connect_failed,
            hung,
            unclean,
            secs(classified_in),
            if bad.is_empty() { String::new() } else { format!("; e.g. {}", bad.join(" / ")) }
        ),
        admitted.len() == slots && refused + closed == STORM_CONNECTIONS - slots && bad.is_empty(),
    );

    // Admitted storm connections keep working on the same connection.
    let mut again_ok = 0;
    for (i, s) in admitted.iter_mut().enumerate() {
        let req = request_bytes("market.dates", &json!({}), 2 + i as u64, false)?;
        if s.write_all(&req).await.is_ok() {
            if let Outcome::Response { status: 200, .. } =
                read_response(s, STORM_ANSWER_TIMEOUT).await
            {
                again_ok += 1;
            }
        }
    }
    report.check(
        "admitted storm connections answer a second request on the same connection",
        format!("{again_ok} of {}", admitted.len()),
        again_ok == admitted.len() && !admitted.is_empty(),
    );

    // Hold, then close the storm; the established clients stay throughout.
    tokio::time::sleep(STORM_HOLD.saturating_sub(storm_started.elapsed())).await;
    normal.phase.store(false, Ordering::Relaxed);
    let storm_len = storm_started.elapsed();
    drop(admitted);
    let closed_at = Instant::now();
    // Recovery: every slot not held by the established clients admits a
    // new connection again (a leaked slot would show as a 503 here).
    let mut attempts = 0;
    let recovered = loop {
        attempts += 1;
        let ok = admitted_now(&socket, slots).await;
        if ok == slots {
            break Some(closed_at.elapsed());
        }
        if closed_at.elapsed() > STORM_RECOVERY_MAX * 3 {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    report.check(
        format!(
            "after the storm closes, {slots} new connections at once are all served within {}",
            secs(STORM_RECOVERY_MAX)
        ),
        match recovered {
            Some(t) => format!("recovered in {} ({attempts} attempts)", secs(t)),
            None => format!(
                "not recovered after {} ({attempts} attempts)",
                secs(closed_at.elapsed())
            ),
        },
        recovered.is_some_and(|t| t <= STORM_RECOVERY_MAX),
    );

    let n = normal.finish().await?;
    report.check(
        format!("{STORM_ESTABLISHED} established keep-alive clients served through the storm"),
        format!(
            "{} requests during the {} storm (of {} in all), {} errors, p99 {}, max {}{}",
            n.during,
            secs(storm_len),
            n.requests,
            n.errors,
            ms(n.lat.quantile_us(0.99)),
            ms(n.lat.max_us),
            if n.examples.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", n.examples.join(" / "))
            }
        ),
        n.errors == 0 && n.during >= STORM_ESTABLISHED as u64,
    );

    // File descriptors back near the baseline once everything closed.
    let fd_deadline = Instant::now() + Duration::from_secs(15);
    let fd_end = loop {
        let now = fd_count(pid)?;
        if now <= fd_base + 2 || Instant::now() > fd_deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    report.check(
        "daemon fds return to baseline (±2) after all clients close",
        format!("baseline {fd_base}, with the storm's admitted connections open {fd_peak}, after {fd_end}"),
        fd_end <= fd_base + 2 && fd_peak >= fd_base + slots,
    );
    drop(d);
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Slow clients
// ---------------------------------------------------------------------------

const SLOW_LIMIT: usize = 16;
/// `server.client_timeout` of the daemon under test.
const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Slow clients of each kind: 3 + 3 + 2 + 2 + 2 = 12 of the 16 slots.
fn slow_count(kind: SlowKind) -> usize {
    match kind {
        SlowKind::HeaderTrickle | SlowKind::BodyTrickle => 3,
        _ => 2,
    }
}
/// A slow client must be cut off within the client timeout plus this.
const SLOW_SLACK: Duration = Duration::from_secs(5);
/// How long a slow client waits to be cut off before giving up.
const SLOW_WINDOW: Duration = Duration::from_secs(20);
/// Normal clients' p99 bound while the slow ones hold their connections.
const SLOW_NORMAL_P99_MAX: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SlowKind {
    HeaderTrickle,
    BodyTrickle,
    NeverReads,
    Idle,
    IdleAfterRequest,
}

impl SlowKind {
    const ALL: [SlowKind; 5] = [
        SlowKind::HeaderTrickle,
        SlowKind::BodyTrickle,
        SlowKind::NeverReads,
        SlowKind::Idle,
        SlowKind::IdleAfterRequest,
    ];

    fn describe(self) -> &'static str {
        match self {
            SlowKind::HeaderTrickle => "(a) request headers sent one byte a second",
            SlowKind::BodyTrickle => "(b) headers sent, body one byte a second",
            SlowKind::NeverReads => {
                "(c) pipelined stock.many of 1000 codes × all columns, response never read"
            }
            SlowKind::Idle => "(d) connected, never sends anything",
            SlowKind::IdleAfterRequest => {
                "(e) keep-alive connection idle after one answered request"
            }
        }
    }
}

struct SlowResult {
    kind: SlowKind,
    /// When the daemon closed the connection, from the moment the client
    /// started its request (or connected, for the idle one).
    cut_after: Option<Duration>,
    note: String,
    /// Held open until the slot check is done.
    _stream: Option<UnixStream>,
}

/// Writes `bytes` one per second, watching for the daemon closing.
async fn trickle(s: &mut UnixStream, bytes: &[u8], started: Instant) -> (Option<Duration>, String) {
    let mut buf = [0u8; 4096];
    let mut got: Vec<u8> = Vec::new();
    let mut sent = 0;
    for (i, b) in bytes.iter().enumerate() {
        if started.elapsed() > SLOW_WINDOW {
            break;
        }
        sent = i + 1;
        if let Err(e) = s.write_all(std::slice::from_ref(b)).await {
            return (
                Some(started.elapsed()),
                format!("write failed after {i} bytes ({:?})", e.kind()),
            );
        }
        let tick = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(tick);
        loop {
            tokio::select! {
                _ = &mut tick => break,
                r = s.read(&mut buf) => match r {
                    Ok(0) | Err(_) => {
                        let what = answer_note(&got);
                        return (Some(started.elapsed()), format!("closed after {} bytes sent{what}", i + 1));
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                },
            }
        }
    }
    (
        None,
        format!(
            "{sent} of {} bytes sent, still open{}",
            bytes.len(),
            answer_note(&got)
        ),
    )
}

fn answer_note(got: &[u8]) -> String {
    if got.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(got);
    format!(
        ", answered {:?}",
        abbreviate(text.lines().next().unwrap_or_default(), 60)
    )
}

/// Waits (without reading) for the daemon to close `s`: the socket's
/// readiness reports read-closed (EPOLLRDHUP) even with unread data queued.
async fn wait_closed_unread(s: &UnixStream, started: Instant) -> Option<Duration> {
    while started.elapsed() < SLOW_WINDOW {
        if let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_millis(100), s.ready(Interest::READABLE)).await
        {
            if r.is_read_closed() {
                return Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn slow_one(socket: PathBuf, kind: SlowKind, codes: Arc<Vec<String>>) -> Result<SlowResult> {
    let mut s = connect(&socket, Duration::from_secs(10)).await?;
    let body = serde_json::to_vec(&Daemon::request("market.info", &json!({}), 1))?;
    let (cut_after, note) = match kind {
        SlowKind::HeaderTrickle => {
            let req = request_bytes("market.info", &json!({}), 1, false)?;
            let started = Instant::now();
            trickle(&mut s, &req, started).await
        }
        SlowKind::BodyTrickle => {
            let head = format!(
                "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let started = Instant::now();
            s.write_all(head.as_bytes()).await?;
            trickle(&mut s, &body, started).await
        }
        SlowKind::NeverReads => {
            let params = json!({ "codes": &codes[..codes.len().min(1000)] });
            let mut reqs = Vec::new();
            for id in 0..8 {
                reqs.extend(request_bytes("stock.many", &params, id, false)?);
            }
            let started = Instant::now();
            // The daemon may stop reading once its writes block; the
            // requests are small, so they fit the socket buffer.
            let written = tokio::time::timeout(Duration::from_secs(5), s.write_all(&reqs)).await;
            let note = match written {
                Ok(Ok(())) => format!("{} bytes of requests written", reqs.len()),
                Ok(Err(e)) => format!("request write failed ({:?})", e.kind()),
                Err(_) => "request write blocked".to_string(),
            };
            (wait_closed_unread(&s, started).await, note)
        }
        SlowKind::Idle | SlowKind::IdleAfterRequest => {
            if kind == SlowKind::IdleAfterRequest {
                s.write_all(&request_bytes("market.info", &json!({}), 1, false)?)
                    .await?;
                match read_response(&mut s, Duration::from_secs(30)).await {
                    Outcome::Response { status: 200, .. } => {}
                    other => bail!("keep-alive request before idling: {other:?}"),
                }
            }
            let started = Instant::now();
            let mut buf = [0u8; 1024];
            match tokio::time::timeout(SLOW_WINDOW, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => (Some(started.elapsed()), "closed".to_string()),
                Ok(Ok(n)) => (
                    Some(started.elapsed()),
                    format!("sent {n} bytes unasked{}", answer_note(&buf[..n])),
                ),
                Err(_) => (None, "still open".to_string()),
            }
        }
    };
    Ok(SlowResult {
        kind,
        cut_after,
        note,
        _stream: Some(s),
    })
}

/// The harness's way of seeing a close without reading must work, or the
/// never-reads check would measure nothing.
async fn self_check_read_closed() -> Result<()> {
    let (mut a, b) = UnixStream::pair()?;
    a.write_all(&[7u8; 4096]).await?;
    drop(a);
    let started = Instant::now();
    match wait_closed_unread(&b, started).await {
        Some(_) => Ok(()),
        None => bail!("harness: read-closed readiness is not reported with unread data queued"),
    }
}

async fn slow_clients(report: Report) -> Result<()> {
    self_check_read_closed().await?;
    let timeout_text = format!("{}s", SLOW_CLIENT_TIMEOUT.as_secs());
    let limit_text = SLOW_LIMIT.to_string();
    let started = Daemon::builder()
        .env("STOCKD_SERVER_MAX_CONNECTIONS", &limit_text)
        .env("STOCKD_SERVER_CLIENT_TIMEOUT", &timeout_text)
        .start()
        .await;
    let d = match started {
        Ok(d) => {
            report.check(
                format!("the daemon takes server.client_timeout = {timeout_text}"),
                "started with STOCKD_SERVER_CLIENT_TIMEOUT",
                true,
            );
            d
        }
        Err(e) if format!("{e:#}").to_lowercase().contains("client_timeout") => {
            report.check(
                format!("the daemon takes server.client_timeout = {timeout_text}"),
                format!(
                    "refused: {}; running without it",
                    abbreviate(
                        format!("{e:#}")
                            .lines()
                            .find(|l| l.to_lowercase().contains("client_timeout"))
                            .unwrap_or_default()
                            .trim(),
                        200
                    )
                ),
                false,
            );
            Daemon::builder()
                .env("STOCKD_SERVER_MAX_CONNECTIONS", &limit_text)
                .start()
                .await?
        }
        Err(e) => return Err(e),
    };
    let socket = d.socket().to_path_buf();
    let pid = d.pid().context("no daemon pid")?;
    let universe = Universe::discover(&d).await?;
    let codes = Arc::new(universe.codes.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = vm_rss(pid)?;

    // Normal clients: 2 keep-alive + 1 new connection at a time; with 12
    // slow clients that is 15 of the 16 slots.
    let normal = Normal::start(&socket, 2, true, codes.clone()).await?;
    normal.phase.store(true, Ordering::Relaxed);
    let slow_started = Instant::now();
    let mut tasks = Vec::new();
    for kind in SlowKind::ALL {
        for _ in 0..slow_count(kind) {
            tasks.push(tokio::spawn(slow_one(socket.clone(), kind, codes.clone())));
        }
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.context("slow client task")??);
    }
    let slow_phase = slow_started.elapsed();
    let rss_during = vm_rss(pid)?;
    normal.phase.store(false, Ordering::Relaxed);
    let n = normal.finish().await?;
    let p99 = n.lat.quantile_us(0.99);
    report.check(
        format!(
            "normal clients (2 keep-alive, 1 new connection every 250 ms) served while {} slow clients are connected: no errors, p99 ≤ {}",
            results.len(),
            secs(SLOW_NORMAL_P99_MAX)
        ),
        format!(
            "{} requests during the {} slow phase ({} in all), {} errors, p50 {}, p99 {}, max {}{}",
            n.during,
            secs(slow_phase),
            n.requests,
            n.errors,
            ms(n.lat.quantile_us(0.5)),
            ms(p99),
            ms(n.lat.max_us),
            if n.examples.is_empty() { String::new() } else { format!("; e.g. {}", n.examples.join(" / ")) }
        ),
        n.errors == 0 && n.during > 0 && p99 <= SLOW_NORMAL_P99_MAX.as_micros() as u64,
    );

    let bound = SLOW_CLIENT_TIMEOUT + SLOW_SLACK;
    for kind in SlowKind::ALL {
        let mine: Vec<&SlowResult> = results.iter().filter(|r| r.kind == kind).collect();
        let all_cut = mine.iter().all(|r| r.cut_after.is_some_and(|t| t <= bound));
        let figure = mine
            .iter()
            .map(|r| match r.cut_after {
                Some(t) => format!("cut after {} ({})", secs(t), r.note),
                None => format!("not cut within {} ({})", secs(SLOW_WINDOW), r.note),
            })
            .collect::<Vec<_>>()
            .join("; ");
        report.check(
            format!(
                "slow client {}: disconnected within client_timeout {} + {}",
                kind.describe(),
                secs(SLOW_CLIENT_TIMEOUT),
                secs(SLOW_SLACK)
            ),
            figure,
            all_cut,
        );
    }

    // With the slow clients' streams still open on our side, every slot
    // must be free again: the daemon let go of them itself.
    let admitted = admitted_now(&socket, SLOW_LIMIT).await;
    report.check(
        "the slow clients' slots are free again (all 16 slots admit a new connection while the slow clients' ends are still open)",
        format!(
            "{admitted} of {SLOW_LIMIT} admitted; daemon RSS {} before, {} with the slow clients",
            mib(rss_before),
            mib(rss_during)
        ),
        admitted == SLOW_LIMIT,
    );
    drop(results);
    drop(d);
    Ok(())
}
