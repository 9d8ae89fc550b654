//! No blocking on the async workers, and SIGTERM acted on at once.
//!
//! - While a large load runs (a table big enough that the reload takes at
//!   least 2 s), no `stock.get` on the generation being served waits more
//!   than MAX_WAIT: decoding and building run on the load thread, not on a
//!   worker. The p99 during / before ratio (issue #15's target: at most 3x)
//!   is printed, not asserted: a timed figure on a shared 2-core machine.
//! - SIGTERM while the load waits for a database that never answers (the
//!   pool's 30 s `connection_timeout`), and SIGTERM in the middle of a large
//!   COPY: the daemon exits within 1 s (no snapshot directory, so there is
//!   no snapshot write to wait for).

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use stockd_tests::inspect::Universe;
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::{Daemon, PgTestDb, Rng};

/// The longest a SIGTERM may take to stop the daemon.
const STOP: Duration = Duration::from_secs(1);
/// A load must take at least this long for the latency comparison.
const LONG_LOAD: Duration = Duration::from_secs(2);
/// The longest a request may wait while a load runs: a quarter of the
/// shortest load measured, so a load on an async worker cannot pass.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// Concurrent `stock.get` clients.
const CLIENTS: usize = 2;

const CONFIG: &str = "[source]\nwindow_days = 0\nrefresh_interval = \"1h\"\n";

/// `q`-quantile of latencies (sorted in place).
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort_unstable();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Doubles the table: every row again, `shift` days earlier.
async fn double(db: &PgTestDb, shift: i32) -> Result<()> {
    let cols: Vec<String> = db
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'daily_stock_data' AND column_name <> 'id' ORDER BY ordinal_position",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let list = cols.join(", ");
    let select = cols
        .iter()
        .map(|c| {
            if c == "date" {
                format!("date - {shift}")
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    db.execute(&format!(
        "INSERT INTO daily_stock_data ({list}) SELECT {select} FROM daily_stock_data"
    ))
    .await?;
    db.execute("ANALYZE daily_stock_data").await
}

/// `stock.get` in a loop on `CLIENTS` connections until `until` resolves;
/// returns every latency.
async fn measure<F: std::future::Future<Output = T>, T>(
    d: &Daemon,
    codes: &[String],
    until: F,
) -> Result<(Vec<Duration>, T)> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut conn = KeepAlive::connect(d.socket()).await?;
        let codes = codes.to_vec();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(c as u64 + 1);
            let mut lat = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let code = &codes[rng.below(codes.len())];
                let t = Instant::now();
                conn.call(
                    "stock.get",
                    &json!({"code": code, "fields": ["close", "pct_chg"]}),
                )
                .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let out = until.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_not_held_up_by_a_large_load_and_sigterm_cancels_it() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let mut params = stockd::demo::DemoParams::seed();
    params.days = 60;
    params.warmup_days = 30;
    db.fill_demo("daily_stock_data", &params).await?;
    let d = Daemon::builder()
        .database_url(db.url())
        .config(CONFIG)
        .start()
        .await?;
    d.wait_info("the first load", Duration::from_secs(120), |i| {
        i["rows"].as_u64().unwrap_or(0) > 0
    })
    .await?;
    let codes = Universe::discover(&d).await?.codes;

    // Grow the table until a reload takes LONG_LOAD (a fast machine needs
    // more rows than a slow one).
    let mut shift = 100;
    let mut result = None;
    for attempt in 0..5 {
        let (before, ()) = measure(&d, &codes, tokio::time::sleep(Duration::from_secs(2))).await?;
        let mut reloader = KeepAlive::connect(d.socket()).await?;
        let reload = async { reloader.call("store.reload", &Value::Null).await };
        let started = Instant::now();
        let (during, reloaded) = measure(&d, &codes, reload).await?;
        let took = started.elapsed();
        let reloaded = reloaded?;
        println!(
            "attempt {attempt}: reload of {} rows took {took:?} (daemon: {} ms); {} requests before, {} during",
            reloaded["rows"], reloaded["duration_ms"], before.len(), during.len()
        );
        if took >= LONG_LOAD {
            result = Some((before, during, took));
            break;
        }
        double(&db, shift).await?;
        shift *= 2;
    }
    let (mut before, mut during, took) =
        result.context("the reload never took 2 s, even after doubling the table 5 times")?;
    let (p50b, p99b) = (quantile(&mut before, 0.5), quantile(&mut before, 0.99));
    let (p50d, p99d) = (quantile(&mut during, 0.5), quantile(&mut during, 0.99));
    let max_d = quantile(&mut during, 1.0);
    println!(
        "stock.get before the load: p50 {p50b:?} p99 {p99b:?} ({} requests); during a {took:?} load: p50 {p50d:?} p99 {p99d:?} max {max_d:?} ({} requests)",
        before.len(),
        during.len()
    );
    // Issue #15's speed target (p99 during the load within 3x the p99
    // before it) is a timed figure: on this project's shared 2-core
    // machines it is reported here and in the note, not asserted (speed
    // targets are checked by benchmarks, not timed tests). What the test
    // asserts is the property behind it: no request waits for the load, as
    // it would if decoding ran on an async worker (the worst wait would then
    // be about the whole load, here at least LONG_LOAD).
    let ratio = p99d.as_secs_f64() / p99b.as_secs_f64().max(1e-9);
    println!(
        "p99 during / before the load: {ratio:.2}x (issue #15 target: at most 3x: {})",
        if ratio <= 3.0 { "met" } else { "MISSED" }
    );
    ensure!(
        max_d <= MAX_WAIT,
        "a stock.get waited {max_d:?} during the load (allowed {MAX_WAIT:?}): the load holds up the async workers"
    );

    // SIGTERM in the middle of the next COPY (seen in pg_stat_activity).
    let sock = d.socket().to_path_buf();
    let reload = tokio::spawn(async move {
        if let Ok(mut c) = KeepAlive::connect(&sock).await {
            let _ = c.try_call("store.reload", &Value::Null).await;
        }
    });
    let mut d = d;
    let copying = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND state = 'active' AND query LIKE 'COPY (SELECT%'";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = db.query(copying, &[]).await?[0].get(0);
        if n > 0 {
            break;
        }
        ensure!(Instant::now() < deadline, "the reload's COPY never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let loads_before = d.stderr().matches("store loaded").count();
    let t = Instant::now();
    let status = d.terminate(Duration::from_secs(30))?;
    let stop = t.elapsed();
    reload.abort();
    ensure!(
        d.stderr().matches("store loaded").count() == loads_before,
        "the load finished before the SIGTERM: no cancellation tested"
    );
    println!("SIGTERM during a load: exited after {stop:?} ({status})");
    ensure!(status.success(), "exit status {status}");
    ensure!(
        stop <= STOP,
        "SIGTERM during a load took {stop:?} to stop the daemon (allowed {STOP:?})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_database_never_answers_exits_at_once() -> Result<()> {
    // A server that accepts connections (the kernel's backlog does) and
    // never says a word: the pool waits for its connection_timeout.
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let port = silent.local_addr()?.port();
    let mut d = Daemon::builder()
        .database_url(&format!(
            "postgresql://stockd@127.0.0.1:{port}/market?sslmode=disable"
        ))
        .config("[source.pool]\nconnection_timeout = \"30s\"\n")
        .any_answer()
        .start()
        .await?;
    // The load is waiting for a connection now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(
        !d.stderr().contains("load failed"),
        "the load did not wait: {}",
        d.stderr()
    );
    let t = Instant::now();
    let status = d.terminate(Duration::from_secs(40))?;
    let stop = t.elapsed();
    println!("SIGTERM while the database never answers: exited after {stop:?} ({status})");
    ensure!(status.success(), "exit status {status}");
    ensure!(
        stop <= STOP,
        "SIGTERM took {stop:?} (allowed {STOP:?}); stderr:\n{}",
        d.stderr()
    );
    drop(silent);
    Ok(())
}
