//! The memory governor under real memory pressure.
//!
//! - Ramp: the budget is computed from a throwaway daemon's baseline RSS
//!   (baseline at 60% of `memory.limit`), then the test makes the daemon
//!   hold memory it cannot cache away: large `stock.many` responses on
//!   connections that never read them (each holds ~1.8 MiB in the daemon
//!   until the client closes). Step by step it goes ok → high (caches cut to
//!   half their caps) → critical (caches cleared, expensive methods answer
//!   "overloaded" naming the method, cheap ones keep working) → high (down
//!   from critical, after releasing part of the held memory) → ok (after
//!   releasing the rest), each transition logged once.
//! - Budget below the baseline: the daemon sits in critical from its first
//!   sample, without flapping, refusing exactly the expensive methods.
//! - A store of more than 60 dates (PostgreSQL): long `stock.history` is
//!   refused while critical too.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stockd_api::AdminStatus;
use stockd_tests::inspect::{self, cache, Universe, CACHES};
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::procfs::{mib, vm_rss};
use stockd_tests::{http, Daemon, PgTestDb, RpcError};
use tokio::net::UnixStream;

const MIB: u64 = 1024 * 1024;
/// The default marks (`memory.high`, `memory.critical`) and the governor's
/// hysteresis, as fractions of the budget.
const HIGH: f64 = 0.80;
const CRITICAL: f64 = 0.95;
const HYSTERESIS: f64 = 0.05;
/// Where the baseline sits in the ramp test's budget. 0.60 rather than
/// higher: the critical → high step needs RSS parked in a band between
/// the marks, and the band must be several held responses (~1.8 MiB each)
/// wide, since one `memory.trim` can return more than the response it
/// follows (with the old ~10 MiB band the test failed now and then).
const BASELINE_SHARE: f64 = 0.60;

/// Caps of the ramp daemons: small enough that a 1.8 MiB response is never
/// cached (the memory held is the responses'), large enough to see them
/// shed.
const RAMP_CAPS: [(&str, &str); 4] = [
    ("STOCKD_CACHE_SIGNALS_MAX_BYTES", "1MiB"),
    ("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "256KiB"),
    ("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "256KiB"),
    ("STOCKD_CACHE_QUERY_MAX_BYTES", "256KiB"),
];

async fn ramp_daemon(limit: u64) -> Result<Daemon> {
    let mut b = Daemon::builder().env("STOCKD_MEMORY_LIMIT", &limit.to_string());
    for (k, v) in RAMP_CAPS {
        b = b.env(k, v);
    }
    b.start().await
}

/// What both the baseline run and the ramp run do first: discover the data
/// set and fill the derived caches (signals to its cap).
async fn warm_up(d: &Daemon) -> Result<Universe> {
    let u = Universe::discover(d).await?;
    let mut conn = KeepAlive::connect(d.socket()).await?;
    for i in 0..2000 {
        let code = &u.codes[i % u.codes.len()];
        let date = &u.dates[(i / u.codes.len()) % u.dates.len()];
        conn.call("signals.stock", &json!({"code": code, "date": date}))
            .await?;
    }
    for (i, date) in u.dates.iter().enumerate() {
        conn.call("hotspots.ranking", &json!({"date": date, "n": 100}))
            .await?;
        conn.call(
            "industry.detail",
            &json!({"industry": u.industries[i % u.industries.len()], "date": date}),
        )
        .await?;
    }
    Ok(u)
}

/// The largest RSS over a second of samples, read from /proc.
async fn settled_rss(pid: u32) -> Result<u64> {
    let mut max = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..10 {
        tick.tick().await;
        max = max.max(vm_rss(pid)?);
    }
    Ok(max)
}

/// Polls /proc until `pred(rss)` holds or `timeout` passes; returns the
/// last reading.
async fn rss_until(pid: u32, timeout: Duration, pred: impl Fn(u64) -> bool) -> Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let rss = vm_rss(pid)?;
        if pred(rss) || Instant::now() >= deadline {
            return Ok(rss);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records a state if it differs from the last one recorded.
fn note(seen: &mut Vec<String>, state: &str) {
    if seen.last().map(String::as_str) != Some(state) {
        seen.push(state.to_string());
    }
}

/// Polls `admin.status` until the memory state is `want`; every state seen
/// is recorded.
async fn wait_state(
    conn: &mut KeepAlive,
    seen: &mut Vec<String>,
    want: &str,
    timeout: Duration,
    pid: u32,
) -> Result<AdminStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        let s: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
        note(seen, &s.memory.state);
        if s.memory.state == want {
            return Ok(s);
        }
        if Instant::now() >= deadline {
            bail!(
                "memory state still {} after {timeout:?} waiting for {want} (rss {} /proc {}, limit {}); states seen {seen:?}",
                s.memory.state,
                mib(s.memory.rss_bytes),
                mib(vm_rss(pid)?),
                mib(s.memory.limit_bytes)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a line containing `needle` in the daemon's stderr.
async fn wait_log(d: &Daemon, needle: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = d.stderr();
        if log.contains(needle) {
            return Ok(log);
        }
        if Instant::now() >= deadline {
            bail!("the log has no line with {needle:?}:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks an answer is "overloaded" (1008) naming `method`.
fn expect_overloaded(method: &str, r: Result<Value, RpcError>) -> Result<()> {
    match r {
        Ok(v) => bail!(
            "{method} was served while memory is critical: {}",
            &v.to_string()[..v.to_string().len().min(200)]
        ),
        Err(e) => {
            ensure!(
                e.code == 1008,
                "{method}: expected 1008 overloaded, got {e}"
            );
            ensure!(
                e.message.contains(method),
                "{method}: the error does not name it: {e}"
            );
            let kind = e
                .data
                .as_ref()
                .and_then(|d| d.get("kind"))
                .and_then(Value::as_str);
            ensure!(
                kind == Some("overloaded"),
                "{method}: data.kind {kind:?}: {e}"
            );
            Ok(())
        }
    }
}

/// The calls that must be refused while critical, and the cheap ones that
/// must keep working (on a store of at most 60 dates).
async fn check_critical_answers(conn: &mut KeepAlive, u: &Universe) -> Result<()> {
    let codes51: Vec<&String> = u.codes.iter().take(51).collect();
    let codes50: Vec<&String> = u.codes.iter().take(50).collect();
    let refused = [
        ("hotspots.ranking", json!({})),
        ("industry.detail", json!({"industry": u.industries[0]})),
        ("signals.stock", json!({"code": u.codes[0]})),
        ("stock.many", json!({"codes": codes51})),
    ];
    for (m, p) in refused {
        expect_overloaded(m, conn.try_call(m, &p).await?)?;
    }
    let served = [
        ("market.info", json!({})),
        ("market.dates", json!({})),
        ("stock.get", json!({"code": u.codes[0]})),
        ("stock.many", json!({"codes": codes50, "fields": ["close"]})),
        (
            "stock.history",
            json!({"code": u.codes[0], "fields": ["close"]}),
        ),
        ("stock.top", json!({"by": "close", "n": 3})),
        ("memory.trim", json!({})),
    ];
    for (m, p) in served {
        conn.try_call(m, &p)
            .await?
            .map_err(|e| anyhow::anyhow!("{m} {p} refused while critical: {e}"))?;
    }
    Ok(())
}

/// A daemon whose budget puts its baseline RSS at [`BASELINE_SHARE`], and
/// the memory the test makes it hold.
struct Ramp {
    d: Daemon,
    pid: u32,
    conn: KeepAlive,
    u: Universe,
    limit: u64,
    /// The request whose response is held: `stock.many` of 1000 codes.
    big: Vec<u8>,
    held: Vec<UnixStream>,
    /// Memory states seen, consecutive duplicates merged.
    seen: Vec<String>,
}

impl Ramp {
    async fn start() -> Result<Ramp> {
        // The baseline: a throwaway daemon with the same caps and warm-up
        // and a budget it cannot reach.
        let baseline = {
            let d = ramp_daemon(4096 * MIB).await?;
            warm_up(&d).await?;
            settled_rss(d.pid().context("pid")?).await?
        };
        let limit = (baseline as f64 / BASELINE_SHARE).ceil() as u64;
        eprintln!(
            "baseline {}, limit {}: high at {}, critical at {}",
            mib(baseline),
            mib(limit),
            mib(mark(limit, HIGH)),
            mib(mark(limit, CRITICAL))
        );
        let d = ramp_daemon(limit).await?;
        let pid = d.pid().context("pid")?;
        let u = warm_up(&d).await?;
        let conn = KeepAlive::connect(d.socket()).await?;
        let big = serde_json::to_vec(&Daemon::request(
            "stock.many",
            &json!({"codes": u.codes.iter().take(1000).collect::<Vec<_>>()}),
            1,
        ))?;
        let mut r = Ramp {
            d,
            pid,
            conn,
            u,
            limit,
            big,
            held: Vec::new(),
            seen: Vec::new(),
        };
        let s0 = r.wait_state("ok", Duration::from_secs(5)).await?;
        ensure!(s0.memory.limit_bytes == limit, "limit {:?}", s0.memory);
        let rss0 = vm_rss(pid)?;
        ensure!(
            rss0 < mark(limit, HIGH - HYSTERESIS),
            "the daemon starts at {} of a {} budget, not below the high mark's hysteresis band (baseline run: {})",
            mib(rss0),
            mib(limit),
            mib(baseline)
        );
        Ok(r)
    }

    async fn status(&mut self) -> Result<AdminStatus> {
        let s: AdminStatus = self.conn.call_as("admin.status", &Value::Null).await?;
        note(&mut self.seen, &s.memory.state);
        Ok(s)
    }

    async fn wait_state(&mut self, want: &str, timeout: Duration) -> Result<AdminStatus> {
        wait_state(&mut self.conn, &mut self.seen, want, timeout, self.pid).await
    }

    /// `memory.trim`: with the caches already at half their caps (high or
    /// critical) it only returns freed memory to the OS, so RSS counts what
    /// is really held.
    async fn trim(&mut self) -> Result<()> {
        self.conn.call("memory.trim", &json!({})).await?;
        Ok(())
    }

    /// Holds one more large response and waits for RSS to show it.
    async fn hold_one(&mut self) -> Result<()> {
        let before = vm_rss(self.pid)?;
        self.held
            .push(http::hold(self.d.socket(), &self.big).await?);
        rss_until(self.pid, Duration::from_secs(3), |r| r >= before + MIB).await?;
        Ok(())
    }

    /// Holds responses one at a time while RSS is below `target`, until
    /// the state is `want`; any state other than `want` and `from` fails.
    async fn climb(
        &mut self,
        from: &str,
        want: &str,
        target: u64,
        trim: bool,
    ) -> Result<AdminStatus> {
        let started = Instant::now();
        loop {
            let s = self.status().await?;
            if s.memory.state == want {
                eprintln!(
                    "{want} after {:.1} s with {} responses held, rss {}",
                    started.elapsed().as_secs_f64(),
                    self.held.len(),
                    mib(s.memory.rss_bytes)
                );
                return Ok(s);
            }
            ensure!(
                s.memory.state == from,
                "went {} on the way from {from} to {want}; states {:?}",
                s.memory.state,
                self.seen
            );
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "not {want} after 60 s: rss {} (target {}), {} responses held",
                mib(vm_rss(self.pid)?),
                mib(target),
                self.held.len()
            );
            if vm_rss(self.pid)? < target {
                self.hold_one().await?;
                if trim {
                    self.trim().await?;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `fraction` of `limit`, in bytes.
fn mark(limit: u64, fraction: f64) -> u64 {
    (limit as f64 * fraction) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressure_goes_high_then_critical_and_back() -> Result<()> {
    let mut r = Ramp::start().await?;
    let limit = r.limit;
    let s0 = r.status().await?;
    let sig0 = cache(&s0, "signals")?.clone();
    ensure!(
        sig0.bytes > sig0.max_bytes / 2,
        "signals cache not filled past half its cap: {sig0:?}"
    );

    // ok → high: RSS just over the high mark, never near critical.
    let s_high = r
        .climb("ok", "high", mark(limit, HIGH) + 2 * MIB, false)
        .await?;
    wait_log(&r.d, "memory high: ").await?;
    for name in CACHES {
        let c = cache(&s_high, name)?;
        ensure!(
            c.bytes <= c.max_bytes / 2,
            "at high, cache {name} holds more than half its cap: {c:?}"
        );
    }
    let sig_high = cache(&s_high, "signals")?;
    ensure!(
        sig_high.bytes < sig0.bytes && sig_high.evictions > sig0.evictions,
        "the signals cache was not shed at high: {sig0:?} -> {sig_high:?}"
    );
    // Expensive methods are still served at high.
    let code = r.u.codes[5].clone();
    r.conn
        .call("signals.stock", &json!({"code": code}))
        .await
        .context("signals.stock at high")?;

    // high → critical, trimming after each step so that RSS is what is
    // held, and the transition's own trim cannot drop it out of critical.
    let s_crit = r
        .climb("high", "critical", mark(limit, CRITICAL) + 3 * MIB, true)
        .await?;
    wait_log(&r.d, "memory critical: ").await?;
    for c in &s_crit.caches {
        ensure!(
            c.entries == 0 && c.bytes == 0,
            "at critical, cache {} was not cleared: {c:?}",
            c.name
        );
    }
    let u = r.u.clone();
    check_critical_answers(&mut r.conn, &u).await?;
    let s = r.status().await?;
    ensure!(
        s.memory.state == "critical",
        "left critical while memory was still held (rss {}): the refusals above may not have been made at critical",
        mib(s.memory.rss_bytes)
    );
    let refused = inspect::requests(&s, "hotspots.ranking");
    ensure!(
        refused.errors >= 1,
        "the refusal is not counted: {refused:?}"
    );

    // critical → high: release held responses until RSS is inside the
    // high band, clear of both the critical exit and the high exit.
    let band_top = mark(limit, CRITICAL - HYSTERESIS - 0.03);
    let band_bottom = mark(limit, HIGH - HYSTERESIS + 0.01);
    while vm_rss(r.pid)? > band_top {
        ensure!(
            r.held.pop().is_some(),
            "released every held response and RSS is still {}",
            mib(vm_rss(r.pid)?)
        );
        let before = vm_rss(r.pid)?;
        rss_until(r.pid, Duration::from_millis(500), |x| x + MIB <= before).await?;
        r.trim().await?;
    }
    // A trim can return more than the one response released: hold one
    // again (each ~1.8 MiB) to come back into the band before the
    // governor's next sample, which is what the band is for.
    for _ in 0..3 {
        if vm_rss(r.pid)? >= band_bottom {
            break;
        }
        r.hold_one().await?;
    }
    let rss_band = vm_rss(r.pid)?;
    ensure!(
        rss_band >= band_bottom,
        "releasing one response dropped RSS below the high band: {} (band {}..{})",
        mib(rss_band),
        mib(band_bottom),
        mib(band_top)
    );
    let s_down = r.wait_state("high", Duration::from_secs(10)).await?;
    wait_log(&r.d, "memory high (down from critical)").await?;
    // Expensive methods are served again; caches at half their caps.
    r.conn
        .call("hotspots.ranking", &json!({}))
        .await
        .context("hotspots.ranking after critical")?;
    r.conn
        .call("signals.stock", &json!({"code": code}))
        .await
        .context("signals.stock after critical")?;
    for name in CACHES {
        let c = cache(&s_down, name)?;
        ensure!(c.bytes <= c.max_bytes / 2, "at high again, {name}: {c:?}");
    }

    // high → ok: release the rest.
    r.held.clear();
    r.trim().await?;
    let s_ok = r.wait_state("ok", Duration::from_secs(15)).await?;
    let log = wait_log(&r.d, "memory ok: ").await?;
    ensure!(
        r.seen == ["ok", "high", "critical", "high", "ok"],
        "states seen {:?}",
        r.seen
    );
    // Each transition was logged once.
    for needle in [
        "memory high: ",
        "memory critical: ",
        "memory high (down from critical)",
        "memory ok: ",
    ] {
        let count = log.matches(needle).count();
        ensure!(count == 1, "{needle:?} logged {count} times:\n{log}");
    }
    // Back at ok the caps are whole again: the signals cache fills past
    // half of its cap.
    for c in &s_ok.caches {
        ensure!(
            c.max_bytes == cache(&s0, &c.name)?.max_bytes,
            "cap of {} changed: {c:?}",
            c.name
        );
    }
    let mut conn = KeepAlive::connect(r.d.socket()).await?;
    for i in 0..2000 {
        let code = &u.codes[(i + 7) % u.codes.len()];
        let date = &u.dates[u.dates.len() - 2];
        conn.call("signals.stock", &json!({"code": code, "date": date}))
            .await?;
    }
    let s_end = r.status().await?;
    let sig_end = cache(&s_end, "signals")?;
    ensure!(
        s_end.memory.state == "ok"
            && sig_end.bytes > sig_end.max_bytes / 2
            && sig_end.bytes <= sig_end.max_bytes,
        "back at ok the signals cache should use its whole cap: {sig_end:?}, state {}",
        s_end.memory.state
    );
    Ok(())
}

/// Once the memory that made it critical is gone, the daemon must step
/// down by itself: on a server nobody is there to call `memory.trim`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_critical_by_itself_once_the_load_is_gone() -> Result<()> {
    let mut r = Ramp::start().await?;
    let limit = r.limit;
    r.climb("ok", "high", mark(limit, HIGH) + 2 * MIB, false)
        .await?;
    // Trimming after each step, so RSS is what is held and the state
    // stays critical while it is held.
    r.climb("high", "critical", mark(limit, CRITICAL) + 3 * MIB, true)
        .await?;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let s = r.status().await?;
        ensure!(
            s.memory.state == "critical",
            "left critical while the memory was still held: {:?}",
            s.memory
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The load goes away: every held response is dropped, nothing else is
    // called but admin.status.
    let held = r.held.len();
    r.held.clear();
    let waited = r.wait_state("ok", Duration::from_secs(20)).await;
    if let Err(e) = waited {
        // Say where the memory is: freed by the daemon, or still in use.
        let rss = vm_rss(r.pid)?;
        let t: stockd_api::TrimResult = r.conn.call_as("memory.trim", &json!({})).await?;
        bail!(
            "{e:#}\nafter dropping the {held} held responses RSS stayed at {}; a memory.trim then returned it to {} \
             (freed but never given back to the OS: the governor returns memory only on entering critical)",
            mib(rss),
            mib(t.rss_after)
        );
    }
    let log = wait_log(&r.d, "memory ok: ").await?;
    ensure!(
        log.matches("memory critical: ").count() == 1,
        "critical entered more than once:\n{log}"
    );
    // Expensive methods are served again.
    r.conn.call("hotspots.ranking", &json!({})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_below_the_baseline_sits_in_critical() -> Result<()> {
    // The demo store alone is ~56 MiB: a 40 MiB budget is over from the
    // first sample.
    let d = Daemon::builder()
        .env("STOCKD_MEMORY_LIMIT", "40MiB")
        .env("STOCKD_CACHE_SIGNALS_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_QUERY_MAX_BYTES", "1MiB")
        .start()
        .await?;
    let pid = d.pid().context("pid")?;
    let mut conn = KeepAlive::connect(d.socket()).await?;
    let mut seen = Vec::new();
    let s = wait_state(
        &mut conn,
        &mut seen,
        "critical",
        Duration::from_secs(10),
        pid,
    )
    .await?;
    ensure!(s.memory.limit_bytes == 40 * MIB, "{:?}", s.memory);
    ensure!(
        s.memory.rss_bytes >= (40.0 * MIB as f64 * CRITICAL) as u64,
        "critical with rss {}",
        mib(s.memory.rss_bytes)
    );
    let log = wait_log(&d, "memory critical: ").await?;
    ensure!(
        log.contains("40.0 MiB"),
        "the critical line does not name the budget:\n{log}"
    );

    // Universe::discover needs hotspots.ranking, refused now: find codes
    // through the cheap methods.
    let dates: Vec<String> = serde_json::from_value(conn.call("market.dates", &json!({})).await?)?;
    let top = conn
        .call(
            "stock.top",
            &json!({"by": "close", "n": 500, "fields": ["industry"]}),
        )
        .await?;
    let rows = top.as_array().context("stock.top")?;
    let codes: Vec<String> = rows
        .iter()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    let industries: Vec<String> = rows
        .iter()
        .filter_map(|r| r["values"]["industry"].as_str().map(str::to_string))
        .collect();
    ensure!(
        !codes.is_empty() && !industries.is_empty(),
        "stock.top {top}"
    );
    let u = Universe {
        dates,
        codes,
        industries,
        numeric_columns: vec!["close".into()],
    };
    check_critical_answers(&mut conn, &u).await?;
    // Nothing expensive was computed, so the derived caches stay empty.
    let s = inspect::status(&d).await?;
    for name in ["hotspots", "industry", "signals"] {
        let c = cache(&s, name)?;
        ensure!(
            c.entries == 0 && c.misses == 0,
            "cache {name} at critical: {c:?}"
        );
    }
    // The refusals are counted as errors of their methods.
    for m in ["hotspots.ranking", "industry.detail", "signals.stock"] {
        let r = inspect::requests(&s, m);
        ensure!(r.count == 1 && r.errors == 1, "{m}: {r:?}");
    }

    // It sits there: no flapping over several governor samples, however
    // much is trimmed (the store itself is over the budget).
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let s: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
        ensure!(
            s.memory.state == "critical",
            "left critical: {:?}",
            s.memory
        );
        conn.call("cache.clear", &json!({})).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = d.stderr();
    ensure!(
        log.matches("memory critical: ").count() == 1 && !log.contains("memory ok: "),
        "the state flapped:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_history_is_refused_while_critical() -> Result<()> {
    // 70 trading days held (more than the 60 served while critical), in a
    // tiny store; marks far below the RSS of any process so it is critical
    // at once.
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let params = stockd::demo::DemoParams {
        stocks: 60,
        days: 70,
        suspended: 0,
        ..stockd::demo::DemoParams::embedded()
    };
    db.fill_demo("daily_stock_data", &params).await?;
    let d = Daemon::builder()
        .database_url(db.url())
        .config(
            "[source]\nwindow_days = 0\n\n[memory]\nlimit = \"16MiB\"\nhigh = 0.2\ncritical = 0.3\n\n[cache.hotspots]\nmax_bytes = \"256KiB\"\n[cache.industry]\nmax_bytes = \"256KiB\"\n[cache.signals]\nmax_bytes = \"256KiB\"\n[cache.query]\nmax_bytes = \"256KiB\"\n",
        )
        .start()
        .await?;
    let pid = d.pid().context("pid")?;
    let mut conn = KeepAlive::connect(d.socket()).await?;
    let info = conn.call("market.info", &json!({})).await?;
    ensure!(info["dates"]["count"] == json!(70), "{}", info["dates"]);
    let mut seen = Vec::new();
    wait_state(
        &mut conn,
        &mut seen,
        "critical",
        Duration::from_secs(10),
        pid,
    )
    .await?;
    let top = conn
        .call(
            "stock.top",
            &json!({"by": "close", "n": 60, "fields": ["close"]}),
        )
        .await?;
    let code = top[0]["code"].as_str().context("stock.top")?.to_string();
    expect_overloaded(
        "stock.history",
        conn.try_call("stock.history", &json!({"code": code}))
            .await?,
    )?;
    // A short span is cheap and still served while critical.
    let last = info["dates"]["last"].as_str().context("dates.last")?;
    let short = conn
        .call("stock.history", &json!({"code": code, "from": last}))
        .await
        .context("a one-day history while critical")?;
    ensure!(short["dates"] == json!([last]), "{short}");
    conn.call("stock.get", &json!({"code": code})).await?;
    conn.call("market.info", &json!({})).await?;
    Ok(())
}
