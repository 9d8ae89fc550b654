//! Complete days only: an ETL job inserting a new trading day in batches
//! never makes a half-inserted day the default ("latest") date, never slides
//! the window for it, and the day is served by default within
//! `source.settle` (+ the pending check interval and one load) of its last
//! batch; a pending day is served when asked for by date, and `market.info`
//! names it; a NOTIFY publishes a day at once, whatever its size.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use stockd_tests::{Daemon, PgTestDb};

const TABLE: &str = "daily_stock_data";
const STOCKS: u32 = 600;
const OLD_DATES: [&str; 7] = [
    "2024-01-02",
    "2024-01-03",
    "2024-01-04",
    "2024-01-05",
    "2024-01-08",
    "2024-01-09",
    "2024-01-10",
];
const NEW: &str = "2024-01-11";
const WINDOW: u64 = 5;
const SETTLE_S: u64 = 3;

/// Inserts stocks `from..to` (index, as `fill_small` numbers them) on `date`.
async fn insert_batch(db: &PgTestDb, date: &str, from: u32, to: u32) -> Result<()> {
    db.execute(&format!(
        "INSERT INTO {TABLE} (stock_code, stock_name, date, industry, close, pct_chg, amount, volume, updated_at)
         SELECT lpad((600000 + i)::text, 6, '0'), 'Stock ' || i, DATE '{date}',
                (ARRAY['Banking','Mining','Software'])[1 + i % 3],
                round((20 + i * 0.37)::numeric, 2), ((i * 11) % 21 - 10)::real / 3,
                1000.5 * i, 1000 * i, now()
         FROM generate_series({from}, {}) AS i",
        to - 1
    ))
    .await
}

async fn daemon(db: &PgTestDb) -> Result<Daemon> {
    Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1s")
        .env("STOCKD_SOURCE_WINDOW_DAYS", &WINDOW.to_string())
        .env("STOCKD_SOURCE_SETTLE", &format!("{SETTLE_S}s"))
        .env("STOCKD_SOURCE_MIN_DAY_FRACTION", "0.9")
        .start()
        .await
}

fn last(info: &Value) -> &str {
    info["dates"]["last"].as_str().unwrap_or("")
}

/// Every answer given without a date, checked for the partial day.
async fn answers_without_a_date(daemon: &Daemon, info0: &Value) -> Result<Option<String>> {
    let info = daemon.call("market.info", Value::Null).await?;
    if last(&info) == NEW {
        // Published: from here on the new day is the default.
        return Ok(None);
    }
    if info["dates"] != info0["dates"] || info["rows"] != info0["rows"] {
        return Ok(Some(format!(
            "market.info moved before the day was complete: {}\nwas {}",
            info["dates"], info0["dates"]
        )));
    }
    for (method, params) in [
        ("stock.top", json!({"by": "close", "n": 500})),
        ("hotspots.ranking", json!({})),
        ("stock.get", json!({"code": "600001"})),
        ("stock.many", json!({"codes": ["600002", "600599"]})),
        (
            "stock.history",
            json!({"code": "600003", "fields": ["close"]}),
        ),
        ("market.dates", json!({})),
    ] {
        let body = daemon.call_raw(method, params.clone()).await?;
        if body.contains(NEW) {
            // Unless the day was published between the two calls.
            let now = daemon.call("market.info", Value::Null).await?;
            if last(&now) != NEW {
                return Ok(Some(format!(
                    "{method} {params} without a date showed the partial day {NEW}: {}",
                    &body[..body.len().min(600)]
                )));
            }
        }
    }
    Ok(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_inserted_in_batches_is_the_default_only_once_complete() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small(TABLE, STOCKS, &OLD_DATES).await?;
    let daemon = daemon(&db).await?;
    let info0 = daemon.call("market.info", Value::Null).await?;
    ensure!(
        last(&info0) == OLD_DATES[6]
            && info0["dates"]["count"] == WINDOW
            && info0["dates"]["first"] == OLD_DATES[2],
        "{info0}"
    );
    ensure!(info0["pending"].is_null(), "{info0}");

    // The poller checks every answer given without a date, continuously,
    // until the day is published.
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);
    let violation = Mutex::new(None::<String>);
    let poller = async {
        while !stop.load(Ordering::Relaxed) {
            let found = match answers_without_a_date(&daemon, &info0).await {
                Ok(v) => v,
                Err(e) => Some(format!("{e:#}")),
            };
            if let Some(v) = found {
                violation
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(v);
            }
            rounds.fetch_add(1, Ordering::Relaxed);
        }
    };

    // The ETL: 10 batches of STOCKS/10 rows, one every 2 s (20 s in all),
    // each its own transaction, as a job inserting a day over minutes does;
    // then the wait for the day to be published.
    let etl = async {
        let per = STOCKS / 10;
        let mut pending_seen = Value::Null;
        let mut by_date_seen = false;
        let mut last_batch = Instant::now();
        for b in 0..10 {
            if b > 0 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            insert_batch(&db, NEW, b * per, (b + 1) * per).await?;
            last_batch = Instant::now();
            let info = daemon.call("market.info", Value::Null).await?;
            if !info["pending"].is_null() {
                pending_seen = info["pending"].clone();
            }
            // Served when asked for by date (once loaded).
            if let Ok(Ok(row)) = daemon
                .try_call("stock.get", json!({"code": "600000", "date": NEW}))
                .await
            {
                by_date_seen |= row["date"] == NEW;
            }
        }
        let published = daemon
            .wait_info(
                "the complete day to become the default date",
                Duration::from_secs(SETTLE_S + 20),
                |i| last(i) == NEW,
            )
            .await;
        let after = last_batch.elapsed();
        stop.store(true, Ordering::Relaxed);
        Ok::<_, anyhow::Error>((published?, after, pending_seen, by_date_seen))
    };
    let (etl, ()) = tokio::join!(etl, poller);
    let (info, after, pending_seen, by_date_seen) = etl?;
    let rounds = rounds.load(Ordering::Relaxed);
    eprintln!(
        "partial day: published {:.2}s after the last batch (settle {SETTLE_S}s); {rounds} polling rounds of 7 calls without a date during the ETL",
        after.as_secs_f64()
    );
    if let Some(v) = violation.lock().unwrap_or_else(|e| e.into_inner()).take() {
        anyhow::bail!("{v}");
    }
    ensure!(rounds >= 20, "only {rounds} polling rounds ran");
    ensure!(
        after <= Duration::from_secs(SETTLE_S + 2),
        "published {after:?} after the last batch; settle is {SETTLE_S}s, allowed settle + 2 s"
    );
    ensure!(
        after >= Duration::from_secs(SETTLE_S) - Duration::from_millis(200),
        "published {after:?} after the last batch, before settle ({SETTLE_S}s) could have passed"
    );
    ensure!(
        pending_seen["date"] == NEW
            && pending_seen["reason"]
                .as_str()
                .is_some_and(|r| r.contains("source.settle")),
        "market.info never named the pending day: {pending_seen}"
    );
    ensure!(by_date_seen, "the pending day was never served by date");
    // The window slid by exactly one complete day, now that one arrived.
    ensure!(
        info["dates"]["count"] == WINDOW
            && info["dates"]["first"] == OLD_DATES[3]
            && info["pending"].is_null(),
        "{info}"
    );
    let rows: i64 = db
        .query(
            &format!(
                "SELECT count(*) FROM {TABLE} WHERE date >= DATE '{}'",
                OLD_DATES[3]
            ),
            &[],
        )
        .await?[0]
        .get(0);
    ensure!(info["rows"] == rows, "rows {} vs SQL {rows}", info["rows"]);
    let top = daemon
        .call("stock.top", json!({"by": "close", "n": 1}))
        .await?;
    ensure!(top[0]["date"] == NEW, "{top}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_day_waits_for_notify() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small(TABLE, STOCKS, &OLD_DATES).await?;
    let daemon = daemon(&db).await?;
    // One row of a new day (the case): settled, but far below 0.9
    // of the day before.
    insert_batch(&db, NEW, 0, 1).await?;
    let info = daemon
        .wait_info(
            "the one-row day to settle and be reported short",
            Duration::from_secs(SETTLE_S + 10),
            |i| {
                i["pending"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("fewer than"))
            },
        )
        .await?;
    ensure!(
        last(&info) == OLD_DATES[6]
            && info["pending"]["date"] == NEW
            && info["pending"]["rows"] == 1,
        "{info}"
    );
    let top = daemon
        .call("stock.top", json!({"by": "close", "n": 5}))
        .await?;
    ensure!(
        top.as_array()
            .is_some_and(|a| a.len() == 5 && a.iter().all(|r| r["date"] == OLD_DATES[6])),
        "{top}"
    );
    let ranking = daemon.call_raw("hotspots.ranking", json!({})).await?;
    ensure!(!ranking.contains(NEW), "{ranking}");

    // NOTIFY says the data is complete: published at once.
    let t = Instant::now();
    db.notify("stockd_refresh").await?;
    let info = daemon
        .wait_info("NOTIFY to publish the day", Duration::from_secs(10), |i| {
            last(i) == NEW
        })
        .await
        .context("after NOTIFY")?;
    eprintln!(
        "short day: published {:.2}s after NOTIFY",
        t.elapsed().as_secs_f64()
    );
    ensure!(info["pending"].is_null(), "{info}");
    Ok(())
}
