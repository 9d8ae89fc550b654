//! Reliability scenarios: faults of the daemon's dependencies.
//!
//! - PostgreSQL stopped while serving (a private cluster, never the shared
//!   one): the store keeps serving, status says the source is unhealthy,
//!   and once PostgreSQL is back the pool recovers and the next refresh
//!   loads new data, without a restart.
//! - The COPY backend killed mid-load: the old generation keeps serving and
//!   the daemon retries the load by itself.
//! - Pool exhaustion: one pool connection, the table locked, a burst of
//!   reloads: every wait is bounded by the config, counted in status, and
//!   the daemon keeps answering; a reload succeeds once the lock is gone.
//! - Snapshot faults: a write killed with SIGKILL, a corrupted and a
//!   truncated snapshot: the next start says so and loads from PostgreSQL.
//! - Memory pressure inside a cgroup v1 memory group (budget "auto" from
//!   the group's limit): the governor sheds and refuses, the kernel never
//!   OOM-kills the daemon.

use crate::report::{Report, Scenario};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockd::demo::DemoParams;
use stockd_api::AdminStatus;
use stockd_tests::inspect::{self, Universe};
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::procfs::{mib, status_field, vm_rss};
use stockd_tests::{http, Daemon, DaemonBuilder, PgTestDb, TempDir};

const TABLE: &str = "daily_stock_data";
const SNAPSHOT: &str = "store.snapshot";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new(
            "fault: PostgreSQL stopped while serving",
            Duration::from_secs(120),
            pg_stopped,
        ),
        Scenario::new(
            "fault: connection killed mid-load",
            Duration::from_secs(120),
            killed_mid_load,
        ),
        Scenario::new(
            "fault: pool exhaustion",
            Duration::from_secs(90),
            pool_exhaustion,
        ),
        Scenario::new("fault: snapshot", Duration::from_secs(150), snapshot),
        Scenario::new(
            "fault: memory pressure",
            Duration::from_secs(120),
            memory_pressure,
        ),
    ]
}

// ---------------------------------------------------------------- helpers

fn generation(info: &Value) -> u64 {
    info["generation"].as_u64().unwrap_or(0)
}

fn last_date(info: &Value) -> String {
    info["dates"]["last"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Codes to ask for: the top `n` by close.
async fn some_codes(d: &Daemon, n: usize) -> Result<Vec<String>> {
    let top = d
        .call(
            "stock.top",
            json!({"by": "close", "n": n, "fields": ["close"]}),
        )
        .await?;
    let codes: Vec<String> = top
        .as_array()
        .context("stock.top is not an array")?
        .iter()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    ensure!(!codes.is_empty(), "stock.top returned no codes: {top}");
    Ok(codes)
}

/// What [`Traffic`] counted.
struct Served {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Served {
    fn figure(&self) -> String {
        match &self.first_error {
            None => format!("{} requests served, 0 errors", self.ok),
            Some(e) => format!(
                "{} requests served, {} errors (first: {e})",
                self.ok, self.errors
            ),
        }
    }
}

/// A client calling cheap data methods in a loop on a keep-alive
/// connection while a fault is on, counting answers and errors.
struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Served>,
}

impl Traffic {
    fn start(d: &Daemon, codes: Vec<String>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let socket = d.socket().to_path_buf();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut s = Served {
                ok: 0,
                errors: 0,
                first_error: None,
            };
            let mut conn: Option<KeepAlive> = None;
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                i += 1;
                let (method, params) = match i % 3 {
                    0 => ("market.info", json!({})),
                    1 => ("stock.get", json!({"code": codes[i % codes.len()]})),
                    _ => (
                        "stock.many",
                        json!({"codes": codes.iter().take(5).collect::<Vec<_>>(), "fields": ["close"]}),
                    ),
                };
                let result = match conn.as_mut() {
                    Some(c) => c.try_call(method, &params).await,
                    None => match KeepAlive::connect(&socket).await {
                        Ok(c) => conn.insert(c).try_call(method, &params).await,
                        Err(e) => Err(e),
                    },
                };
                let failure = match result {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(format!("{method}: {e}")),
                    Err(e) => {
                        conn = None;
                        Some(format!("{method}: {e:#}"))
                    }
                };
                match failure {
                    None => s.ok += 1,
                    Some(f) => {
                        s.errors += 1;
                        s.first_error.get_or_insert(f);
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            s
        });
        Traffic { stop, task }
    }

    async fn finish(self) -> Result<Served> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.context("the traffic task panicked")
    }
}

/// Polls `admin.status` until `pred` holds on it.
async fn wait_status(
    d: &Daemon,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&AdminStatus) -> bool,
) -> Result<AdminStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = inspect::status(d).await?;
        if pred(&s) {
            return Ok(s);
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}; source {:?}, pool {:?}, store generation {}",
                s.source,
                s.pool,
                s.store.generation
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for a log line containing `needle` past the first `from` bytes of
/// stderr; returns that line.
async fn wait_log_line(d: &Daemon, from: usize, needle: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = d.stderr();
        if let Some(line) = log
            .get(from..)
            .unwrap_or("")
            .lines()
            .find(|l| l.contains(needle))
        {
            return Ok(line.trim().to_string());
        }
        if Instant::now() >= deadline {
            bail!(
                "no log line with {needle:?} within {timeout:?}; stderr:\n{}",
                stockd_tests::util::tail(log.get(from..).unwrap_or(""), 40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Shortens a log line for a table cell (drops the timestamp prefix the
/// daemon's log may carry and caps the length).
fn quote(line: &str) -> String {
    let line = line.trim();
    let mut s: String = line.chars().take(220).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    format!("\"{s}\"")
}

/// Rows of the newest `window` dates of the table (what a store with
/// `window_days = window` holds).
async fn window_rows(db: &tokio_postgres::Client, window: i64) -> Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(*) FROM daily_stock_data WHERE date >= \
             (SELECT min(date) FROM (SELECT DISTINCT date FROM daily_stock_data ORDER BY 1 DESC LIMIT $1) w)",
            &[&window],
        )
        .await?
        .get(0))
}

/// Adds a complete date after the last one (copies of every row of the
/// last date, so the daemon's completeness rule publishes it once its count
/// settles, or at once on NOTIFY); returns it.
async fn add_date(db: &tokio_postgres::Client) -> Result<String> {
    db.batch_execute(
        "INSERT INTO daily_stock_data (stock_code, stock_name, date, industry, close)
         SELECT stock_code, stock_name, date + 1, industry, close FROM daily_stock_data
         WHERE date = (SELECT max(date) FROM daily_stock_data) ORDER BY stock_code",
    )
    .await
    .context("adding a date")?;
    Ok(db
        .query_one("SELECT max(date)::text FROM daily_stock_data", &[])
        .await?
        .get(0))
}

// ------------------------------------------------- 1. PostgreSQL stopped

const FAST_POOL: &str = "[source]\nrefresh_interval = \"1s\"\nsettle = \"1s\"\n\n[source.pool]\nmax_size = 2\nmin_idle = 1\nconnection_timeout = \"1s\"\n";

async fn pg_stopped(report: Report) -> Result<()> {
    let mut cluster = stockd_tests::cluster::small_demo_cluster(200, 10).await?;
    let d = Daemon::builder()
        .database_url(&cluster.url("postgres"))
        .config(FAST_POOL)
        .start()
        .await?;
    let pid = d.pid().context("pid")?;
    let info0 = d.call("market.info", Value::Null).await?;
    let s0 = wait_status(&d, "a healthy source", Duration::from_secs(10), |s| {
        s.source.healthy
    })
    .await?;
    let traffic = Traffic::start(&d, some_codes(&d, 50).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Stop PostgreSQL (fast: clients disconnected, clean shutdown).
    let stopped_at = Instant::now();
    let mut c = cluster;
    cluster = tokio::task::spawn_blocking(move || c.stop("fast").map(|()| c)).await??;
    let s_down = wait_status(
        &d,
        "the source to show unhealthy",
        Duration::from_secs(15),
        |s| !s.source.healthy,
    )
    .await?;
    let noticed = stopped_at.elapsed();
    let err = s_down.source.last_error.clone().unwrap_or_default();
    report.check(
        "PostgreSQL stopped (pg_ctl stop -m fast): admin.status shows the source unhealthy",
        format!(
            "after {:.1} s: healthy=false, last_error {}",
            noticed.as_secs_f64(),
            quote(&err)
        ),
        !err.is_empty(),
    );
    // Keep serving through the outage for a few change checks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let info_down = d.call("market.info", Value::Null).await?;
    report.check(
        "while PostgreSQL is down the store keeps serving, marked stale",
        format!(
            "generation {} ({} rows) served, source.stale={}",
            generation(&info_down),
            info_down["rows"],
            info_down["source"]["stale"]
        ),
        generation(&info_down) == generation(&info0)
            && info_down["rows"] == info0["rows"]
            && info_down["source"]["stale"] == json!(true),
    );

    // Start it again: the pool reconnects by itself.
    let mut c = cluster;
    let restarted_at = Instant::now();
    cluster = tokio::task::spawn_blocking(move || c.start().map(|()| c)).await??;
    let up_after = restarted_at.elapsed();
    let s_up = wait_status(
        &d,
        "the source to be healthy again",
        Duration::from_secs(30),
        |s| s.source.healthy,
    )
    .await?;
    let healthy_after = restarted_at.elapsed();
    let client = cluster.connect("postgres").await?;
    let inserted_at = Instant::now();
    let new_date = add_date(&client).await?;
    let info1 = d
        .wait_info(
            "the refresh after PostgreSQL came back",
            Duration::from_secs(30),
            |i| last_date(i) == new_date,
        )
        .await?;
    let refreshed_after = inserted_at.elapsed();
    let rows_sql = window_rows(&client, 30).await?;
    let served = traffic.finish().await?;
    let s_end = inspect::status(&d).await?;
    report.check(
        "PostgreSQL started again: the pool recovers by itself, source healthy",
        format!(
            "pg_ctl start took {:.1} s; healthy {:.1} s after the start; pool size {}/{}; while down: pool.timeouts {} → {} (checkouts that gave up after connection_timeout 1s), pool.errors {} → {}",
            up_after.as_secs_f64(),
            healthy_after.as_secs_f64(),
            s_up.pool.size,
            s_up.pool.max_size,
            s0.pool.timeouts,
            s_up.pool.timeouts,
            s0.pool.errors,
            s_up.pool.errors
        ),
        s_up.source.healthy,
    );
    report.check(
        "the next refresh succeeds with no restart (new date inserted, found by polling)",
        format!(
            "date {new_date} served {:.1} s after the insert: generation {} → {}, {} rows (SQL {rows_sql}), stale={}; same pid {pid}, uptime {} s",
            refreshed_after.as_secs_f64(),
            generation(&info0),
            generation(&info1),
            info1["rows"],
            info1["source"]["stale"],
            s_end.uptime_s
        ),
        // One load finds the new date (pending), a second publishes it
        // once its count settles: one or two generations.
        generation(&info1) > generation(&info0)
            && info1["rows"] == json!(rows_sql)
            && info1["source"]["stale"] == json!(false)
            && d.pid() == Some(pid)
            && s_end.uptime_s >= stopped_at.elapsed().as_secs(),
    );
    report.check(
        "requests through the outage and the recovery",
        served.figure(),
        served.errors == 0 && served.ok > 100,
    );
    Ok(())
}

// --------------------------------------------- 2. connection killed mid-load

async fn killed_mid_load(report: Report) -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_demo(TABLE, &DemoParams::seed()).await?;
    let d = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    let traffic = Traffic::start(&d, some_codes(&d, 50).await?);
    let watcher = db.connect().await?;

    // NOTIFY and kill the daemon's COPY backend while it streams; a load
    // that finishes before it is seen is retried with yet another date.
    let mut caught = None;
    for attempt in 1..=6 {
        let info0 = d.call("market.info", Value::Null).await?;
        let new_date = add_date(db.client()).await?;
        let log_len = d.stderr().len();
        db.notify("stockd_refresh").await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let killed = watcher
                .query(
                    "SELECT pid FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND state <> 'idle' AND query ILIKE 'COPY%'
                       AND pg_terminate_backend(pid)",
                    &[],
                )
                .await?;
            if let Some(r) = killed.first() {
                caught = Some((Instant::now(), r.get::<_, i32>(0), info0, new_date, log_len));
                break;
            }
            let now = d.call("market.info", Value::Null).await?;
            if generation(&now) > generation(&info0) {
                break; // loaded before it was seen: try again
            }
        }
        if caught.is_some() {
            eprintln!("caught the COPY on attempt {attempt}");
            break;
        }
    }
    let (killed_at, backend, info0, new_date, log_len) =
        caught.context("never saw the daemon's COPY in pg_stat_activity to kill it")?;

    // Every answer from now on is the old generation, whole, or the new
    // one, whole.
    let old_last = last_date(&info0);
    let mut old_for = Duration::ZERO;
    let mut polls = 0u32;
    let info1 = loop {
        let i = d.call("market.info", Value::Null).await?;
        polls += 1;
        if generation(&i) == generation(&info0) {
            ensure!(
                last_date(&i) == old_last && i["rows"] == info0["rows"],
                "the old generation changed after the killed load: {i}"
            );
            old_for = killed_at.elapsed();
        } else {
            break i;
        }
        ensure!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no new generation within 30 s of the killed load, and no NOTIFY was sent; stderr:\n{}",
            stockd_tests::util::tail(&d.stderr(), 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let to_new = killed_at.elapsed();
    let failed = wait_log_line(&d, log_len, "load failed", Duration::from_secs(5)).await?;
    let retry = wait_log_line(&d, log_len, "retrying the load", Duration::from_secs(5)).await?;
    let rows_sql = window_rows(db.client(), 30).await?;
    let s = inspect::status(&d).await?;
    let served = traffic.finish().await?;
    report.check(
        "COPY backend killed (pg_terminate_backend): the old generation keeps serving",
        format!(
            "backend {backend} killed; generation {} ({} rows, last {old_last}) served for {:.2} s after ({polls} polls), log {}",
            generation(&info0),
            info0["rows"],
            old_for.as_secs_f64(),
            quote(&failed)
        ),
        !failed.is_empty(),
    );
    report.check(
        "the load is retried by the daemon (no NOTIFY, refresh_interval 1h) and succeeds",
        format!(
            "generation {} with {new_date}, {} rows (SQL {rows_sql}) {:.2} s after the kill; retries {}, load_failures {}; log {}",
            generation(&info1),
            info1["rows"],
            to_new.as_secs_f64(),
            s.source.retries,
            s.source.load_failures,
            quote(&retry)
        ),
        generation(&info1) == generation(&info0) + 1
            && last_date(&info1) == new_date
            && info1["rows"] == json!(rows_sql)
            && s.source.retries >= 1
            && s.source.healthy,
    );
    report.check(
        "requests while the load was killed and retried",
        served.figure(),
        served.errors == 0 && served.ok > 50,
    );
    Ok(())
}

// ------------------------------------------------------ 3. pool exhaustion

async fn pool_exhaustion(report: Report) -> Result<()> {
    const RELOADS: usize = 6;
    const NOTIFIES: usize = 3;
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small(TABLE, 40, &["2024-01-02", "2024-01-03"])
        .await?;
    let d = Daemon::builder()
        .database_url(db.url())
        .config(
            "[source]\nrefresh_interval = \"1h\"\n\n[source.pool]\nmax_size = 1\nmin_idle = 0\nconnection_timeout = \"1s\"\n",
        )
        .start()
        .await?;
    let info0 = d.call("market.info", Value::Null).await?;
    let s0 = inspect::status(&d).await?;
    let traffic = Traffic::start(&d, some_codes(&d, 40).await?);

    // A new date (so a successful reload shows), then the table locked by
    // an open transaction, as an ETL job would.
    let new_date = add_date(db.client()).await?;
    let locker = db.connect().await?;
    locker
        .batch_execute("BEGIN; LOCK TABLE daily_stock_data IN ACCESS EXCLUSIVE MODE")
        .await?;
    let fired = Instant::now();
    let mut reloads = Vec::new();
    for _ in 0..RELOADS {
        let socket = d.socket().to_path_buf();
        reloads.push(tokio::spawn(async move {
            let started = Instant::now();
            let body = br#"{"jsonrpc":"2.0","id":1,"method":"store.reload"}"#;
            let r = tokio::time::timeout(
                Duration::from_secs(30),
                stockd_tests::http::post(&socket, body),
            )
            .await;
            (started.elapsed(), r)
        }));
    }
    for _ in 0..NOTIFIES {
        db.notify("stockd_refresh").await?;
    }
    // While they wait the daemon answers.
    let s_mid = inspect::status(&d).await?;
    let mut slowest = Duration::ZERO;
    let mut answers = Vec::new();
    for r in reloads {
        let (took, r) = r.await?;
        slowest = slowest.max(took);
        let resp = r
            .map_err(|_| anyhow::anyhow!("store.reload not answered within 30 s"))?
            .context("store.reload")?;
        answers.push(resp.body);
    }
    let all_refused = answers.iter().all(|b| b.contains("lock timeout"));
    report.check(
        format!("pool max_size 1, connection_timeout 1s, table locked: {RELOADS} concurrent store.reload + {NOTIFIES} NOTIFY each answered within a bounded time"),
        format!(
            "slowest answer {:.1} s; every answer an error naming the wait: {}; admin.status answered meanwhile (pool in use {}/{})",
            slowest.as_secs_f64(),
            quote(answers.first().map(String::as_str).unwrap_or_default()),
            s_mid.pool.in_use,
            s_mid.pool.max_size
        ),
        all_refused && slowest < Duration::from_secs(15),
    );
    let s_locked = inspect::status(&d).await?;
    report.check(
        "the timeouts are counted in admin.status",
        format!(
            "source.lock_timeouts {}, load_failures {}, coalesced {} (of {} requests), retries {}; pool size {} of max {}, pool.timeouts {}, last_error {}",
            s_locked.source.lock_timeouts,
            s_locked.source.load_failures,
            s_locked.source.coalesced,
            RELOADS + NOTIFIES,
            s_locked.source.retries,
            s_locked.pool.size,
            s_locked.pool.max_size,
            s_locked.pool.timeouts,
            quote(s_locked.source.last_error.as_deref().unwrap_or_default())
        ),
        s_locked.source.lock_timeouts >= 1
            && s_locked.source.lock_timeouts > s0.source.lock_timeouts
            && s_locked.source.coalesced >= 1
            && s_locked.pool.size <= 1
            && !s_locked.source.healthy,
    );
    let info_locked = d.call("market.info", Value::Null).await?;
    ensure!(
        generation(&info_locked) == generation(&info0),
        "a new generation while the table was locked: {info_locked}"
    );

    // The lock goes away: a reload succeeds.
    locker.batch_execute("COMMIT").await?;
    let released = Instant::now();
    let r = d.call("store.reload", Value::Null).await?;
    let info1 = d.call("market.info", Value::Null).await?;
    let served = traffic.finish().await?;
    report.check(
        "no deadlock: once the lock is released a store.reload succeeds",
        format!(
            "generation {} → {} with {new_date} ({} rows) {:.2} s after COMMIT ({:.1} s after the burst)",
            generation(&info0),
            r["generation"],
            r["rows"],
            released.elapsed().as_secs_f64(),
            fired.elapsed().as_secs_f64()
        ),
        r["generation"].as_u64() > Some(generation(&info0)) && last_date(&info1) == new_date,
    );
    report.check(
        "requests while the pool was held",
        served.figure(),
        served.errors == 0 && served.ok > 50,
    );
    Ok(())
}

// ------------------------------------------------------------- 4. snapshot

async fn start_with_snapshots(db: &PgTestDb, dir: &Path) -> Result<Daemon> {
    Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SNAPSHOT_DIR", &dir.display().to_string())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await
}

fn tmp_files(dir: &Path) -> Result<Vec<(String, u64)>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect())
}

/// After a start: the store in service came from PostgreSQL (a "store
/// loaded" line, not stale, the table's row count).
async fn loaded_from_postgres(d: &Daemon, rows: i64) -> Result<Value> {
    wait_log_line(d, 0, "store loaded", Duration::from_secs(60)).await?;
    d.wait_info(
        "the store loaded from PostgreSQL",
        Duration::from_secs(60),
        |i| i["source"]["stale"] == json!(false) && i["rows"] == json!(rows),
    )
    .await
}

async fn snapshot(report: Report) -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    // Large enough that a snapshot write takes a noticeable time.
    db.fill_demo(TABLE, &DemoParams::seed()).await?;
    let rows = window_rows(db.client(), 30).await?;
    let snapdir = TempDir::new("stockd-snap")?;
    let path = snapdir.path().join(SNAPSHOT);

    // kill -9 while a snapshot is being written.
    let mut d = start_with_snapshots(&db, snapdir.path()).await?;
    wait_log_line(&d, 0, "snapshot written", Duration::from_secs(60)).await?;
    let mut caught = None;
    for attempt in 1..=20 {
        let sock = d.socket().to_path_buf();
        let reload = tokio::spawn(async move {
            let _ = stockd_tests::http::post(
                &sock,
                br#"{"jsonrpc":"2.0","id":1,"method":"store.reload"}"#,
            )
            .await;
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && caught.is_none() {
            if !tmp_files(snapdir.path())?.is_empty() {
                d.signal(nix::sys::signal::Signal::SIGKILL)?;
                caught = Some(attempt);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reload.abort();
        if caught.is_some() {
            break;
        }
    }
    let attempt = caught.context("never saw a snapshot write in progress to kill")?;
    d.wait_exit(Duration::from_secs(10))?;
    drop(d);
    let leftovers = tmp_files(snapdir.path())?;
    let previous = std::fs::metadata(&path).map(|m| m.len()).ok();
    let d = start_with_snapshots(&db, snapdir.path()).await?;
    let removed = wait_log_line(
        &d,
        0,
        "removed unfinished snapshot writes",
        Duration::from_secs(10),
    )
    .await;
    let info = loaded_from_postgres(&d, rows).await?;
    // (The new daemon writes its own snapshot after the load: only the
    // killed writer's file must be gone.)
    let left_now: Vec<_> = tmp_files(snapdir.path())?
        .into_iter()
        .filter(|f| leftovers.iter().any(|l| l.0 == f.0))
        .collect();
    report.check(
        "snapshot write killed with SIGKILL: the next start discards the partial write, says so, and loads from PostgreSQL",
        format!(
            "killed on reload {attempt} with {leftovers:?} left beside the previous complete snapshot ({previous:?} bytes); log {}; then generation {} from PostgreSQL, {} rows, stale=false; the killed write's temp file still there: {left_now:?}",
            removed.as_ref().map(|l| quote(l)).unwrap_or_else(|e| format!("NOT LOGGED: {e:#}")),
            generation(&info),
            info["rows"]
        ),
        removed.is_ok() && !leftovers.is_empty() && left_now.is_empty() && previous.is_some(),
    );
    wait_log_line(&d, 0, "snapshot written", Duration::from_secs(60)).await?;
    let mut d = d;
    d.terminate(Duration::from_secs(10))?;
    drop(d);

    // Corrupted on disk: bytes flipped in the middle.
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&path, &bytes)?;
    let mut d = start_with_snapshots(&db, snapdir.path()).await?;
    let ignored = wait_log_line(&d, 0, "snapshot ignored", Duration::from_secs(10)).await;
    let info = loaded_from_postgres(&d, rows).await?;
    report.check(
        "snapshot corrupted on disk (16 bytes flipped mid-file): ignored, logged, loaded from PostgreSQL",
        format!(
            "log {}; generation {}, {} rows from PostgreSQL (SQL {rows}), stale=false",
            ignored.as_ref().map(|l| quote(l)).unwrap_or_else(|e| format!("NOT LOGGED: {e:#}")),
            generation(&info),
            info["rows"]
        ),
        ignored.is_ok() && generation(&info) == 1,
    );
    wait_log_line(&d, 0, "snapshot written", Duration::from_secs(60)).await?;
    d.terminate(Duration::from_secs(10))?;
    drop(d);

    // Truncated to a third.
    let whole = std::fs::read(&path)?;
    std::fs::write(&path, &whole[..whole.len() / 3])?;
    let d = start_with_snapshots(&db, snapdir.path()).await?;
    let ignored = wait_log_line(&d, 0, "snapshot ignored", Duration::from_secs(10)).await;
    let info = loaded_from_postgres(&d, rows).await?;
    report.check(
        "snapshot truncated to a third: ignored, logged, loaded from PostgreSQL",
        format!(
            "{} of {} bytes kept; log {}; generation {}, {} rows, stale=false",
            whole.len() / 3,
            whole.len(),
            ignored
                .as_ref()
                .map(|l| quote(l))
                .unwrap_or_else(|e| format!("NOT LOGGED: {e:#}")),
            generation(&info),
            info["rows"]
        ),
        ignored.is_ok() && generation(&info) == 1,
    );
    Ok(())
}

// ------------------------------------------------------ 5. memory pressure

const CGROUP_V1_MEMORY: &str = "/sys/fs/cgroup/memory";
/// Where the daemon's baseline sits in the budget.
const BASELINE_SHARE: f64 = 0.70;

/// A cgroup v1 memory group, removed on drop (once its tasks are gone).
struct MemCgroup {
    dir: PathBuf,
}

impl MemCgroup {
    fn create(limit: u64) -> Result<MemCgroup> {
        let dir = Path::new(CGROUP_V1_MEMORY).join(format!(
            "stockd-fault-{}-{:08x}",
            std::process::id(),
            stockd_tests::util::random_u64() as u32
        ));
        std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let g = MemCgroup { dir };
        g.write("memory.limit_in_bytes", &limit.to_string())?;
        // A thread must be able to join it (how the daemon is started).
        let tasks = g.dir.join("tasks");
        std::thread::spawn(move || {
            let tid = nix::unistd::gettid();
            std::fs::write(&tasks, tid.to_string())
                .with_context(|| format!("writing thread {tid} to {}", tasks.display()))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the probe thread panicked"))??;
        Ok(g)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let p = self.dir.join(file);
        std::fs::write(&p, value).with_context(|| format!("writing {value} to {}", p.display()))
    }

    fn read(&self, file: &str) -> Result<String> {
        let p = self.dir.join(file);
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    }

    fn number(&self, file: &str) -> Result<u64> {
        let text = self.read(file)?;
        text.trim()
            .parse()
            .with_context(|| format!("{file} holds {text:?}"))
    }

    /// A `key value` line of a file such as memory.oom_control.
    fn field(&self, file: &str, key: &str) -> Result<u64> {
        let text = self.read(file)?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{file} has no {key} line: {text:?}"))
    }

    fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Starts a daemon inside the group: a thread of its own joins the
    /// group (v1 moves single threads), spawns the daemon, which inherits
    /// the group from the spawning thread, and ends.
    async fn start(&self, builder: DaemonBuilder) -> Result<Daemon> {
        // Build the binary outside the group (cargo must not run under
        // its limit).
        stockd_tests::daemon::stockd_bin()?;
        let tasks = self.dir.join("tasks");
        tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || -> Result<Daemon> {
                let tid = nix::unistd::gettid();
                std::fs::write(&tasks, tid.to_string())
                    .with_context(|| format!("writing thread {tid} to {}", tasks.display()))?;
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(builder.start())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the thread starting the daemon panicked"))?
        })
        .await?
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "warning: could not remove the cgroup {}",
            self.dir.display()
        );
    }
}

/// Caps small enough that a held 1.8 MiB response is never cached.
fn small_caches(b: DaemonBuilder) -> DaemonBuilder {
    b.env("STOCKD_CACHE_SIGNALS_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "256KiB")
        .env("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "256KiB")
        .env("STOCKD_CACHE_QUERY_MAX_BYTES", "256KiB")
}

async fn memory_pressure(report: Report) -> Result<()> {
    // The baseline: a daemon with the same caches and a budget it cannot
    // reach; its settled RSS and its peak (the store build).
    let (baseline, peak) = {
        let d = small_caches(Daemon::builder())
            .env("STOCKD_MEMORY_LIMIT", "4GiB")
            .start()
            .await?;
        Universe::discover(&d).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pid = d.pid().context("pid")?;
        (vm_rss(pid)?, status_field(pid, "VmHWM")?)
    };
    // Baseline at 70% of the budget, and room for the load's peak.
    let limit = ((baseline as f64 / BASELINE_SHARE) as u64).max(peak + peak / 5);
    let (cgroup, d) = match MemCgroup::create(limit) {
        Ok(g) => {
            let d = g.start(small_caches(Daemon::builder())).await?;
            (Some(g), d)
        }
        Err(e) => {
            eprintln!("no cgroup ({e:#}); falling back to memory.limit = {limit}");
            let d = small_caches(Daemon::builder())
                .env("STOCKD_MEMORY_LIMIT", &limit.to_string())
                .start()
                .await?;
            (None, d)
        }
    };
    let pid = d.pid().context("pid")?;
    let mut conn = KeepAlive::connect(d.socket()).await?;
    let s0: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
    let how = match &cgroup {
        Some(g) => {
            let in_group = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?
                .lines()
                .any(|l| l.contains(":memory:") && l.ends_with(&g.name()));
            let kernel_limit = g.number("memory.limit_in_bytes")?;
            report.check(
                "cgroup v1 memory group, memory.limit = \"auto\": the budget is the group's limit",
                format!(
                    "{CGROUP_V1_MEMORY}/{} limit {} (baseline {}, load peak {}); daemon in the group: {in_group}; budget {}, cgroup_limit_bytes {:?}",
                    g.name(),
                    mib(kernel_limit),
                    mib(baseline),
                    mib(peak),
                    mib(s0.memory.limit_bytes),
                    s0.memory.cgroup_limit_bytes
                ),
                in_group
                    && s0.memory.limit_bytes == kernel_limit
                    && s0.memory.cgroup_limit_bytes == Some(kernel_limit),
            );
            format!("cgroup {}", g.name())
        }
        None => {
            report.check(
                "no cgroup could be created: fallback to a tiny memory.limit",
                format!(
                    "memory.limit {} (baseline {}), budget {}",
                    mib(limit),
                    mib(baseline),
                    mib(s0.memory.limit_bytes)
                ),
                s0.memory.limit_bytes == limit,
            );
            format!("memory.limit {} (no cgroup)", mib(limit))
        }
    };

    // Drive memory up: large stock.many answers on connections that never
    // read them, one at a time, until the governor is critical.
    let u = Universe::discover(&d).await?;
    let big = serde_json::to_vec(&Daemon::request(
        "stock.many",
        &json!({"codes": u.codes.iter().take(1000).collect::<Vec<_>>()}),
        1,
    ))?;
    let mut held = Vec::new();
    let mut seen: Vec<String> = vec![s0.memory.state.clone()];
    let started = Instant::now();
    let mut s = s0.clone();
    while s.memory.state != "critical" {
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "not critical after 60 s: rss {}, budget {}, {} responses held, states {seen:?}",
            mib(vm_rss(pid)?),
            mib(s.memory.limit_bytes),
            held.len()
        );
        ensure!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
            "the daemon died under pressure ({how}); stderr:\n{}",
            stockd_tests::util::tail(&d.stderr(), 20)
        );
        if vm_rss(pid)? < (s.memory.limit_bytes as f64 * 0.97) as u64 {
            held.push(http::hold(d.socket(), &big).await?);
            conn.call("memory.trim", &json!({})).await?;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        s = conn.call_as("admin.status", &Value::Null).await?;
        if seen.last() != Some(&s.memory.state) {
            seen.push(s.memory.state.clone());
        }
    }
    let rss_critical = vm_rss(pid)?;
    // Shedding: expensive calls are refused with 1008 "overloaded", cheap
    // ones are served.
    let codes51: Vec<&String> = u.codes.iter().take(51).collect();
    let expensive = [
        ("hotspots.ranking", json!({})),
        ("industry.detail", json!({"industry": u.industries[0]})),
        ("signals.stock", json!({"code": u.codes[0]})),
        ("stock.many", json!({"codes": codes51})),
        ("store.reload", json!({})),
    ];
    let mut refused = 0;
    let mut wrongly = Vec::new();
    for (m, p) in &expensive {
        match conn.try_call(m, p).await? {
            Err(e) if e.code == 1008 => refused += 1,
            other => wrongly.push(format!("{m}: {other:?}")),
        }
    }
    let mut cheap_ok = 0;
    for _ in 0..20 {
        if conn
            .try_call(
                "stock.get",
                &json!({"code": u.codes[cheap_ok % u.codes.len()]}),
            )
            .await?
            .is_ok()
        {
            cheap_ok += 1;
        }
    }
    let s_crit: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
    let caches_empty = s_crit.caches.iter().all(|c| c.bytes == 0);
    report.check(
        "memory driven up with held large responses: the governor goes high/critical and sheds",
        format!(
            "{how}: states {seen:?} after {} held 1000-code stock.many answers in {:.1} s; rss {} of budget {}; caches emptied: {caches_empty}; {refused}/{} expensive calls answered 1008 overloaded, {cheap_ok}/20 stock.get served{}",
            held.len(),
            started.elapsed().as_secs_f64(),
            mib(rss_critical),
            mib(s_crit.memory.limit_bytes),
            expensive.len(),
            if wrongly.is_empty() { String::new() } else { format!("; not refused: {wrongly:?}") }
        ),
        seen.iter().any(|x| x == "high" || x == "critical")
            && s_crit.memory.state == "critical"
            && refused == expensive.len()
            && cheap_ok == 20
            && caches_empty,
    );

    // Release the pressure; the daemon steps down by itself.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    let s_after = loop {
        let s: AdminStatus = conn.call_as("admin.status", &Value::Null).await?;
        if s.memory.state == "ok" || Instant::now() >= deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
    let served_after = conn.call("hotspots.ranking", &json!({})).await.is_ok();
    match &cgroup {
        Some(g) => {
            let oom_kills = g.field("memory.oom_control", "oom_kill")?;
            let under_oom = g.field("memory.oom_control", "under_oom")?;
            let failcnt = g.number("memory.failcnt")?;
            let max_usage = g.number("memory.max_usage_in_bytes")?;
            report.check(
                "not OOM-killed: process alive, the group's oom_kill counter 0, back to ok",
                format!(
                    "alive {alive}, oom_kill {oom_kills}, under_oom {under_oom}, memory.failcnt {failcnt}, max usage {} of {}; state {} after release, expensive calls served again: {served_after}",
                    mib(max_usage),
                    mib(g.number("memory.limit_in_bytes")?),
                    s_after.memory.state
                ),
                alive && oom_kills == 0 && under_oom == 0 && s_after.memory.state == "ok" && served_after,
            );
        }
        None => {
            report.check(
                "process alive, back to ok after the pressure is released (no cgroup: no kernel limit)",
                format!(
                    "alive {alive}, state {} after release, expensive calls served again: {served_after}",
                    s_after.memory.state
                ),
                alive && s_after.memory.state == "ok" && served_after,
            );
        }
    }
    drop(conn);
    drop(d);
    drop(cgroup);
    Ok(())
}
