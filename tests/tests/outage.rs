//! A database outage, honestly handled. A private PostgreSQL cluster
//! (tests/src/cluster.rs) feeds a daemon polling every 2 s with the pool's
//! default 30 s `connection_timeout`; the cluster is stopped for
//! `STOCKD_OUTAGE_SECS` (default 60) and started again. Checked, with the
//! figures printed:
//!
//! - the first WARN/ERROR line about it within 2 s of the stop, naming the
//!   cause (no password in it);
//! - data served throughout (a call every 200 ms, none failing);
//! - `store.reload` during the outage answers at once with 1011
//!   `reload_failed` naming the generation still served, not 1006;
//! - after the restart, a new date inserted then is served within
//!   `refresh_interval` + 5 s of the restart.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stockd_tests::Daemon;

const REFRESH: Duration = Duration::from_secs(2);

/// Lines of the log after byte `from` that are warnings or errors.
fn warnings(log: &str, from: usize) -> Vec<String> {
    log.get(from..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_string)
        .collect()
}

/// One call on its own connection; an error answer is an error.
async fn call(socket: &std::path::Path, method: &str, params: Value) -> Result<()> {
    let body = serde_json::to_vec(&Daemon::request(method, &params, 1))?;
    let r = stockd_tests::http::post(socket, &body).await?;
    let doc: Value = serde_json::from_str(&r.body)
        .with_context(|| format!("HTTP {}: not JSON: {}", r.status, r.body))?;
    if let Some(e) = stockd_tests::RpcError::from_response(&doc) {
        bail!("{e}");
    }
    Ok(())
}

fn last_date(info: &Value) -> String {
    info["dates"]["last"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_reported_at_once_served_through_and_recovered_from() -> Result<()> {
    let outage = Duration::from_secs(
        std::env::var("STOCKD_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    let mut cluster = stockd_tests::cluster::small_demo_cluster(200, 10).await?;
    let d = Daemon::builder()
        .database_url(&cluster.url("postgres"))
        .config(&format!(
            "[source]\nrefresh_interval = \"{}s\"\nsettle = \"1s\"\n",
            REFRESH.as_secs()
        ))
        .start()
        .await?;
    let info0 = d.call("market.info", json!({})).await?;
    let code = d
        .call(
            "stock.top",
            json!({"by": "close", "n": 1, "fields": ["close"]}),
        )
        .await?[0]["code"]
        .as_str()
        .context("a code")?
        .to_string();

    // Calls every 200 ms from here to the end.
    let socket_d = d.socket().to_path_buf();
    let stop_traffic = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop_traffic.clone();
    let traffic = tokio::spawn(async move {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
            for (m, p) in [
                ("market.info", json!({})),
                ("stock.get", json!({"code": code})),
            ] {
                match call(&socket_d, m, p).await {
                    Ok(()) => ok += 1,
                    Err(e) => failed.push(format!("{m}: {e:#}")),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (ok, failed)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Stop PostgreSQL.
    let from = d.stderr().len();
    let stopped = Instant::now();
    let mut c = cluster;
    cluster = tokio::task::spawn_blocking(move || c.stop("fast").map(|()| c)).await??;
    let stop_took = stopped.elapsed();
    let (first_warning, warned_after) = loop {
        if let Some(w) = warnings(&d.stderr(), from).into_iter().next() {
            break (w, stopped.elapsed());
        }
        if stopped.elapsed() > Duration::from_secs(10) {
            bail!(
                "no WARN/ERROR within 10 s of stopping PostgreSQL; log:\n{}",
                stockd_tests::util::tail(&d.stderr(), 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "stop: pg_ctl stop -m fast took {:.2} s; first warning {:.2} s after the stop began: {first_warning}",
        stop_took.as_secs_f64(),
        warned_after.as_secs_f64()
    );
    ensure!(
        warned_after <= Duration::from_secs(2),
        "the first warning came {:.2} s after the stop (allowed: 2 s): {first_warning}",
        warned_after.as_secs_f64()
    );

    // A refused connection is named within a poll, not after the pool's 30 s.
    let named = loop {
        let log = d.stderr();
        if let Some(l) = warnings(&log, from)
            .into_iter()
            .find(|l| l.to_lowercase().contains("connection refused"))
        {
            break l;
        }
        if stopped.elapsed() > REFRESH + Duration::from_secs(8) {
            bail!(
                "no warning naming the refused connection; log:\n{}",
                stockd_tests::util::tail(&log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "refused connection logged {:.2} s after the stop: {named}",
        stopped.elapsed().as_secs_f64()
    );

    // store.reload while down: at once, and says an older store serves.
    let asked = Instant::now();
    let reload = d.try_call("store.reload", json!({})).await?;
    let answered = asked.elapsed();
    let e = match reload {
        Ok(v) => bail!("store.reload succeeded with PostgreSQL down: {v}"),
        Err(e) => e,
    };
    println!(
        "store.reload while down answered in {:.2} s: {} {}",
        answered.as_secs_f64(),
        e.code,
        e.message
    );
    ensure!(
        e.code == 1011 && e.text().contains("reload_failed"),
        "expected 1011 reload_failed: {e}"
    );
    let generation = info0["generation"].as_u64().unwrap_or(0);
    ensure!(
        e.message.contains(&format!("generation {generation}"))
            && e.message.contains("keeps serving"),
        "the message should name generation {generation} as still served: {}",
        e.message
    );
    ensure!(
        answered < Duration::from_secs(10),
        "store.reload took {answered:?} (the pool's connection_timeout is 30 s)"
    );
    let status = stockd_tests::inspect::status(&d).await?;
    ensure!(
        !status.source.healthy && status.store.stale,
        "while down: source {:?}, stale {}",
        status.source,
        status.store.stale
    );

    // The rest of the outage.
    tokio::time::sleep(outage.saturating_sub(stopped.elapsed())).await;
    let info_down = d.call("market.info", json!({})).await?;
    ensure!(
        info_down["generation"] == info0["generation"] && info_down["rows"] == info0["rows"],
        "the store changed during the outage: {info_down}"
    );

    // Start it again and add a date at once.
    let mut c = cluster;
    let restarted = Instant::now();
    cluster = tokio::task::spawn_blocking(move || c.start().map(|()| c)).await??;
    let start_took = restarted.elapsed();
    let client = cluster.connect("postgres").await?;
    client
        .batch_execute(
            "INSERT INTO daily_stock_data (stock_code, stock_name, date, industry, close)
             SELECT stock_code, stock_name, date + 1, industry, close FROM daily_stock_data
             WHERE date = (SELECT max(date) FROM daily_stock_data) ORDER BY stock_code",
        )
        .await?;
    let new_date: String = client
        .query_one("SELECT max(date)::text FROM daily_stock_data", &[])
        .await?
        .get(0);
    let limit = REFRESH + Duration::from_secs(5);
    let served_after = loop {
        let info = d.call("market.info", json!({})).await?;
        if last_date(&info) == new_date {
            break restarted.elapsed();
        }
        if restarted.elapsed() > limit + Duration::from_secs(20) {
            bail!(
                "{new_date} not served {:?} after the restart; market.info {info}; log:\n{}",
                restarted.elapsed(),
                stockd_tests::util::tail(&d.stderr(), 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop_traffic.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = traffic.await?;
    let status = stockd_tests::inspect::status(&d).await?;
    println!(
        "restart: pg_ctl start took {:.2} s; new date {new_date} served {:.2} s after the restart (limit {:.0} s: refresh_interval {} s + 5 s); last load {} ms; {ok} calls served through a {} s outage, {} failed",
        start_took.as_secs_f64(),
        served_after.as_secs_f64(),
        limit.as_secs_f64(),
        REFRESH.as_secs(),
        status.store.load_ms,
        outage.as_secs(),
        failed.len()
    );
    ensure!(
        failed.is_empty(),
        "calls failed during the outage: {failed:?}"
    );
    ensure!(ok > 10, "only {ok} calls made");
    ensure!(
        served_after <= limit,
        "new data served {:.2} s after the restart; allowed {:.0} s",
        served_after.as_secs_f64(),
        limit.as_secs_f64()
    );
    ensure!(
        status.source.healthy && !status.store.stale,
        "after recovery: {:?}",
        status.source
    );
    ensure!(
        status.store.load_ms < 10_000,
        "the first load after the outage took {} ms",
        status.store.load_ms
    );
    Ok(())
}
