//! Refresh: NOTIFY triggers a reload at once; polling finds changed rows
//! through the change column and new dates by itself; a new day is read
//! alone (incremental), and so is a date with a changed or deleted row
//! while the rows retired stay under an eighth (a full load past it); a load that fails (table renamed, connection killed mid-COPY)
//! leaves the previous generation serving, is logged, and the daemon
//! recovers afterwards.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stockd_tests::compare::{self, RowReader};
use stockd_tests::{Daemon, PgTestDb};

const TABLE: &str = "daily_stock_data";
const D1: &str = "2024-01-02";
const D2: &str = "2024-01-03";
const D3: &str = "2024-01-04";

fn generation(info: &Value) -> u64 {
    info["generation"].as_u64().unwrap_or(0)
}

fn last_date(info: &Value) -> &str {
    info["dates"]["last"].as_str().unwrap_or("")
}

async fn small_db() -> Result<PgTestDb> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small(TABLE, 30, &[D1, D2]).await?;
    Ok(db)
}

async fn sql_count(db: &PgTestDb) -> Result<u64> {
    Ok(db
        .query("SELECT count(*) FROM daily_stock_data", &[])
        .await?[0]
        .get::<_, i64>(0) as u64)
}

/// Waits (10 s at most, with polling every 1 s) until 600003's close on
/// D2 reads `want`.
async fn wait_close(daemon: &Daemon, want: &str, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = daemon
            .call_raw("stock.get", json!({"code": "600003", "date": D2}))
            .await?;
        if compare::raw_row(&row)?.values.get("close").map(|v| v.get()) == Some(want) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{what} was not found by polling within 10 s: {row}\nstderr:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With polling every 1 s and nothing changed, three polls load nothing.
async fn no_load_while_unchanged(daemon: &Daemon) -> Result<()> {
    let settled = daemon.call("market.info", Value::Null).await?;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let after = daemon.call("market.info", Value::Null).await?;
    ensure!(
        generation(&after) == generation(&settled),
        "polls with nothing changed loaded again: generation {} then {}\nstderr:\n{}",
        generation(&settled),
        generation(&after),
        daemon.stderr()
    );
    Ok(())
}

/// Waits until stderr, past its first `from` bytes, has a line that looks
/// like an error report; returns that part of the log.
async fn wait_error_logged(daemon: &Daemon, from: usize, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = daemon.stderr();
        let new = log.get(from..).unwrap_or("").to_string();
        if new.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("fail")
        }) {
            return Ok(new);
        }
        ensure!(
            Instant::now() < deadline,
            "no error logged within {timeout:?} after the failure; new stderr:\n{new}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_triggers_an_immediate_reload() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    let info0 = daemon.call("market.info", Value::Null).await?;
    ensure!(last_date(&info0) == D2, "initial last date: {info0}");
    let gen0 = generation(&info0);

    db.fill_small(TABLE, 30, &[D3]).await?;
    db.notify("stockd_refresh").await?;
    let info = daemon
        .wait_info("the NOTIFY reload", Duration::from_secs(10), |i| {
            last_date(i) == D3
        })
        .await?;
    ensure!(
        generation(&info) == gen0 + 1,
        "generation {} after one reload from {gen0}",
        generation(&info)
    );
    ensure!(
        info["rows"] == sql_count(&db).await?,
        "rows after reload: {info}"
    );
    let close: String = db
        .query("SELECT close::text FROM daily_stock_data WHERE stock_code = '600007' AND date = $1::text::date", &[&D3])
        .await?[0]
        .get(0);
    let body = daemon
        .call_raw("stock.get", json!({"code": "600007"}))
        .await?;
    let row = compare::raw_row(&body)?;
    ensure!(
        row.date.as_deref() == Some(D3)
            && row.values.get("close").map(|v| v.get()) == Some(close.as_str()),
        "stock.get after reload: {body}, SQL close {close}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_channel_is_configurable() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .env("STOCKD_SOURCE_NOTIFY_CHANNEL", "etl_done_42")
        .start()
        .await?;
    let gen0 = generation(&daemon.call("market.info", Value::Null).await?);
    db.fill_small(TABLE, 30, &[D3]).await?;
    db.notify("etl_done_42").await?;
    let info = daemon
        .wait_info(
            "the reload on the configured channel",
            Duration::from_secs(10),
            |i| last_date(i) == D3,
        )
        .await?;
    ensure!(generation(&info) > gen0, "{info}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_finds_changed_rows_and_new_dates() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1s")
        .env("STOCKD_SOURCE_CHANGE_COLUMN", "updated_at")
        // A new date is the default once its count settles (partial_day.rs).
        .env("STOCKD_SOURCE_SETTLE", "1s")
        .start()
        .await?;
    let before = daemon
        .call("stock.get", json!({"code": "600003", "date": D2}))
        .await?;
    ensure!(before["values"]["close"] != json!(4242.42), "{before}");

    // A changed value: same dates, same row count; only updated_at says so.
    db.execute(&format!(
        "UPDATE daily_stock_data SET close = 4242.42, updated_at = clock_timestamp() + interval '1 second'
         WHERE stock_code = '600003' AND date = DATE '{D2}'"
    ))
    .await?;
    wait_close(&daemon, "4242.42", "the changed close (updated_at)").await?;

    // A new date, no NOTIFY.
    db.fill_small(TABLE, 30, &[D3]).await?;
    let info = daemon
        .wait_info(
            "polling to find the new date",
            Duration::from_secs(10),
            |i| last_date(i) == D3,
        )
        .await?;
    ensure!(info["rows"] == sql_count(&db).await?, "{info}");

    // Nothing changes: the polls that follow find the fingerprint the
    // last load kept (its change mark taken from the rows it read) and
    // load nothing.
    no_load_while_unchanged(&daemon).await
}

/// A change column that is not a timestamp (here the bigint `id`) is
/// compared as text: an edit that raises it is found by polling, and with
/// nothing changed the polls load nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_column_of_another_type_is_compared_as_text() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1s")
        .env("STOCKD_SOURCE_CHANGE_COLUMN", "id")
        .start()
        .await?;
    no_load_while_unchanged(&daemon).await?;
    // Same dates, same count, same updated_at: only the id says so.
    db.execute(&format!(
        "UPDATE daily_stock_data SET id = 9000000, close = 4343.43 \
         WHERE stock_code = '600003' AND date = DATE '{D2}'"
    ))
    .await?;
    wait_close(&daemon, "4343.43", "the edit (id only)").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_load_keeps_the_previous_generation() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    let info0 = daemon.call("market.info", Value::Null).await?;
    let row0 = daemon.call("stock.get", json!({"code": "600011"})).await?;

    let log_len = daemon.stderr().len();
    db.execute("ALTER TABLE daily_stock_data RENAME TO daily_stock_data_moved")
        .await?;
    db.notify("stockd_refresh").await?;
    let logged = wait_error_logged(&daemon, log_len, Duration::from_secs(10)).await?;
    ensure!(
        logged.contains("daily_stock_data"),
        "the error log should name the table:\n{logged}"
    );
    let info1 = daemon.call("market.info", Value::Null).await?;
    ensure!(
        generation(&info1) == generation(&info0)
            && info1["rows"] == info0["rows"]
            && info1["dates"] == info0["dates"],
        "after a failed load the previous store must keep serving:\nbefore {info0}\nafter  {info1}"
    );
    let row1 = daemon.call("stock.get", json!({"code": "600011"})).await?;
    ensure!(
        row1 == row0,
        "values changed after a failed load:\n{row0}\n{row1}"
    );

    // Back in place, with a new date: the next NOTIFY recovers.
    db.execute("ALTER TABLE daily_stock_data_moved RENAME TO daily_stock_data")
        .await?;
    db.fill_small(TABLE, 30, &[D3]).await?;
    db.notify("stockd_refresh").await?;
    let info2 = daemon
        .wait_info(
            "recovery after the table is back",
            Duration::from_secs(10),
            |i| last_date(i) == D3,
        )
        .await?;
    ensure!(generation(&info2) > generation(&info0), "{info2}");
    ensure!(info2["rows"] == sql_count(&db).await?, "{info2}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_copy_keeps_the_previous_generation() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_demo(TABLE, &stockd::demo::DemoParams::seed())
        .await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    let sample_code: String = db
        .query(
            "SELECT stock_code FROM daily_stock_data GROUP BY 1
             HAVING count(*) = (SELECT count(DISTINCT date) FROM daily_stock_data) ORDER BY 1 LIMIT 1",
            &[],
        )
        .await?[0]
        .get(0);

    // A new date, so a successful reload is visible; then NOTIFY and kill
    // the daemon's COPY backend while it streams. (Only the start of the
    // query text is matched: pg_stat_activity truncates it at
    // track_activity_query_size, 1 KiB, long before "TO STDOUT".)
    db.execute(
        "INSERT INTO daily_stock_data (stock_code, date, close)
         SELECT stock_code, date + 1, close FROM daily_stock_data
         WHERE date = (SELECT max(date) FROM daily_stock_data) ORDER BY stock_code LIMIT 50",
    )
    .await?;
    let new_date: String = db
        .query("SELECT max(date)::text FROM daily_stock_data", &[])
        .await?[0]
        .get(0);
    let watcher = db.connect().await?;
    let mut killed = None;
    let mut seen = std::collections::BTreeSet::new();
    let (mut info0, mut row0, mut log_len);
    let mut attempts = 0;
    loop {
        // What is in service before this attempt.
        info0 = daemon.call("market.info", Value::Null).await?;
        let gen0 = generation(&info0);
        row0 = daemon
            .call(
                "stock.get",
                json!({"code": sample_code, "date": info0["dates"]["first"]}),
            )
            .await?;
        log_len = daemon.stderr().len();
        attempts += 1;
        // A held row's change column moves: the NOTIFY reads the whole
        // table (a full load, the long COPY to kill), not only the new day.
        db.execute(
            "UPDATE daily_stock_data SET updated_at = clock_timestamp()
             WHERE id = (SELECT min(id) FROM daily_stock_data)",
        )
        .await?;
        db.notify("stockd_refresh").await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut polls = 0u32;
        while Instant::now() < deadline && killed.is_none() {
            let rows = watcher
                .query(
                    "SELECT pid, state, left(query, 60),
                            CASE WHEN query ILIKE 'COPY%' THEN pg_terminate_backend(pid) END
                     FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND state <> 'idle'",
                    &[],
                )
                .await?;
            for r in &rows {
                seen.insert(format!(
                    "{:?} {:?}",
                    r.get::<_, Option<String>>(1),
                    r.get::<_, Option<String>>(2)
                ));
                if r.get::<_, Option<bool>>(3) == Some(true) {
                    killed = Some(r.get::<_, i32>(0));
                }
            }
            polls += 1;
            if polls == 200 {
                polls = 0;
                if generation(&daemon.call("market.info", Value::Null).await?) > gen0 {
                    break; // the load finished before we saw it; try again
                }
            }
        }
        if killed.is_some() || attempts == 5 {
            break;
        }
    }
    let pid = killed.with_context(|| {
        format!("never saw the daemon's COPY in pg_stat_activity to kill it; saw {seen:#?}")
    })?;
    let logged = wait_error_logged(&daemon, log_len, Duration::from_secs(10)).await?;

    // Consistent, never half: either the old generation (old dates, same
    // values) or — if the daemon retried on its own — a complete new one.
    let info1 = daemon.call("market.info", Value::Null).await?;
    let last0 = last_date(&info0).to_string();
    let sql_rows_old: i64 = db
        .query("SELECT count(*) FROM daily_stock_data WHERE date <= $1::text::date AND date >= $2::text::date",
            &[&last0, &info0["dates"]["first"].as_str().unwrap_or_default()])
        .await?[0]
        .get(0);
    if generation(&info1) == generation(&info0) {
        ensure!(
            info1["rows"] == info0["rows"] && info1["dates"] == info0["dates"] && info1["rows"] == sql_rows_old,
            "old generation changed after the killed load (backend {pid}):\nbefore {info0}\nafter  {info1}"
        );
        let row1 = daemon
            .call(
                "stock.get",
                json!({"code": sample_code, "date": info0["dates"]["first"]}),
            )
            .await?;
        ensure!(
            row1 == row0,
            "values changed after the killed load:\n{row0}\n{row1}"
        );
    } else {
        ensure!(
            last_date(&info1) == new_date,
            "a new generation after the killed load must be complete: {info1}\nlog:\n{logged}"
        );
    }

    // And it recovers on the next NOTIFY.
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info(
            "recovery after the killed connection",
            Duration::from_secs(30),
            |i| last_date(i) == new_date,
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_is_served_by_default_within_the_refresh_interval() -> Result<()> {
    let db = small_db().await?;
    // No change column configured: the default ("auto") finds updated_at.
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "2s")
        .start()
        .await?;
    ensure!(
        daemon.stderr().contains("change column: updated_at"),
        "the log should say which change column is used:\n{}",
        daemon.stderr()
    );
    let gen0 = generation(&daemon.call("market.info", Value::Null).await?);
    // An old row: the first date, not the latest.
    let t = Instant::now();
    db.execute(&format!(
        "UPDATE daily_stock_data SET close = 9.99, updated_at = now()
         WHERE stock_code = '600004' AND date = DATE '{D1}'"
    ))
    .await?;
    let deadline = t + Duration::from_secs(10);
    loop {
        let row = daemon
            .call_raw("stock.get", json!({"code": "600004", "date": D1}))
            .await?;
        if compare::raw_row(&row)?.values.get("close").map(|v| v.get()) == Some("9.99") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the correction was not served within 10 s: {row}\nstderr:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = t.elapsed();
    eprintln!(
        "correction served {:.2}s after the UPDATE (refresh_interval 2s)",
        took.as_secs_f64()
    );
    ensure!(
        took <= Duration::from_secs(4),
        "served after {took:?}; allowed refresh_interval (2 s) + 2 s"
    );
    let info = daemon.call("market.info", Value::Null).await?;
    ensure!(generation(&info) > gen0, "{info}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_loaded_the_log_says_so_and_retries_follow_the_schedule() -> Result<()> {
    // Nothing listens on port 1: every load fails, so the harness's
    // Daemon (which waits for market.info) cannot be used; a bare process.
    let dir = std::env::temp_dir().join(format!("stockd-retries-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("stderr.log");
    let config = dir.join("stockd.toml");
    std::fs::write(
        &config,
        "[source.pool]\nconnection_timeout = \"1s\"\nmin_idle = 0\n",
    )?;
    let mut child = std::process::Command::new(stockd_tests::daemon::stockd_bin()?)
        .args(["--config"])
        .arg(&config)
        .arg("--socket")
        .arg(dir.join("stockd.sock"))
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/postgres"])
        .env_clear()
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()?;
    let result = async {
        // 0.5 + 1 + 2 + 4 + 8 s of waits, plus up to 1 s per failed attempt.
        let deadline = Instant::now() + Duration::from_secs(40);
        let expected = ["in 500ms", "in 1s", "in 2s", "in 4s", "in 8s"];
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let seen: Vec<&str> = expected
                .iter()
                .copied()
                .filter(|w| log.contains(&format!("retrying the load {w}")))
                .collect();
            if seen.len() == expected.len() && log.contains("5 retries failed") {
                return Ok::<_, anyhow::Error>(log);
            }
            ensure!(
                Instant::now() < deadline,
                "retries after 0.5, 1, 2, 4, 8 s expected from the first failure; saw {seen:?}\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let log = result?;
    let _ = std::fs::remove_dir_all(&dir);
    // In order, the first one right after the first failure at start.
    let at = |w: &str| {
        log.find(&format!("retrying the load {w}"))
            .unwrap_or(usize::MAX)
    };
    ensure!(
        at("in 500ms") < at("in 1s")
            && at("in 1s") < at("in 2s")
            && at("in 2s") < at("in 4s")
            && at("in 4s") < at("in 8s"),
        "{log}"
    );
    ensure!(
        log.contains("trigger=Start") && log.contains("listening, nothing loaded yet"),
        "the log should say nothing is loaded:\n{log}"
    );
    ensure!(
        !log.contains("keeps serving") && !log.lines().any(|l| l.contains(" ready")),
        "no store serves, yet the log says one does:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_names_the_generation_still_served() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    let gen0 = generation(&daemon.call("market.info", Value::Null).await?);
    db.execute("ALTER TABLE daily_stock_data RENAME TO daily_stock_data_moved")
        .await?;
    let answer = daemon.try_call("store.reload", Value::Null).await?;
    let Err(e) = answer else {
        anyhow::bail!("store.reload succeeded with the table gone: {answer:?}");
    };
    let text = e.text();
    ensure!(
        e.code == 1011 && text.contains("reload_failed") && !text.contains("store_not_loaded"),
        "an older store serves, so reload_failed (1011), not store_not_loaded (1006): {} {text}",
        e.code
    );
    ensure!(
        text.contains("reload failed")
            && text.contains(&format!("generation {gen0}"))
            && text.contains("ago")
            && text.contains("daily_stock_data"),
        "the error should say the reload failed and which generation (and its age) serves: {text}"
    );
    ensure!(
        daemon
            .stderr()
            .contains(&format!("generation {gen0} (loaded")),
        "{}",
        daemon.stderr()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_says_what_it_found_in_the_database() -> Result<()> {
    let db = small_db().await?;
    let output = std::process::Command::new(stockd_tests::daemon::stockd_bin()?)
        .args([
            "--check-config",
            "--config",
            "/dev/null",
            "--database-url",
            db.url(),
        ])
        .env_clear()
        .output()?;
    let out = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = sql_count(&db).await?;
    for needle in [
        "source: PostgreSQL postgres@127.0.0.1:".to_string(),
        format!("/{} (sslmode=prefer, password: none)", db.name()),
        format!("table: \"daily_stock_data\", {rows} rows, dates {D1} to {D2}"),
        "columns found: 83 (".to_string(),
        "stock_code character varying(10)".to_string(),
        "change column: updated_at (found by source.change_column = \"auto\")".to_string(),
        // The reference table has every semantic column but stock.list's
        // optional two.
        "semantic columns not found (what needs them answers missing_column, or null in stock.list): board (board), list_date (list_date)".to_string(),
    ] {
        ensure!(out.contains(&needle), "{needle:?} missing from:\n{out}");
    }
    Ok(())
}

/// Every row of the table, read through `stock.get`, equals PostgreSQL's,
/// and the daemon holds exactly the table's rows.
async fn matches_the_table(daemon: &Daemon, db: &PgTestDb) -> Result<()> {
    matches_the_table_since(daemon, db, "-infinity").await
}

/// Every row of the table dated `since` or later, read through
/// `stock.get`, equals PostgreSQL's, and the daemon holds exactly those.
async fn matches_the_table_since(daemon: &Daemon, db: &PgTestDb, since: &str) -> Result<()> {
    let cols = compare::discover(db.client(), TABLE).await?;
    let reader = RowReader::prepare(db.client(), TABLE, &cols, "stock_code", "date").await?;
    let keys = db
        .query(
            "SELECT stock_code, date::text FROM daily_stock_data WHERE date >= $1::text::date ORDER BY 1, 2",
            &[&since],
        )
        .await?;
    let mut failures = Vec::new();
    for k in &keys {
        let (code, date): (String, String) = (k.get(0), k.get(1));
        failures
            .extend(compare::row_differences(daemon, &reader, db.client(), &code, &date).await?);
    }
    ensure!(
        failures.is_empty(),
        "{} differences with PostgreSQL; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    let info = daemon.call("market.info", Value::Null).await?;
    ensure!(
        info["rows"] == keys.len() as u64,
        "{} rows in the table: {info}",
        keys.len()
    );
    Ok(())
}

/// `admin.status` → `store`: (read_kind, read_rows, read_dates,
/// read_dropped_dates, read_reread_dates, retired_rows).
async fn last_read_all(daemon: &Daemon) -> Result<(String, u64, u64, u64, u64, u64)> {
    let st = daemon.call("admin.status", json!({})).await?;
    let s = &st["store"];
    let n = |k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    Ok((
        s["read_kind"].as_str().unwrap_or_default().to_string(),
        n("read_rows"),
        n("read_dates"),
        n("read_dropped_dates"),
        n("read_reread_dates"),
        n("retired_rows"),
    ))
}

/// After a refresh: what it read is `want` (see [`last_read_all`]), and
/// the daemon holds exactly the table's rows dated `since` or later.
async fn read_was(
    daemon: &Daemon,
    db: &PgTestDb,
    want: (String, u64, u64, u64, u64, u64),
    since: &str,
    what: &str,
) -> Result<()> {
    let got = last_read_all(daemon).await?;
    ensure!(
        got == want,
        "{what}: read {got:?}, expected {want:?}\nstderr:\n{}",
        daemon.stderr()
    );
    matches_the_table_since(daemon, db, since).await
}

/// `admin.status` → `store`: (read_kind, read_rows, read_dates).
async fn last_read(daemon: &Daemon) -> Result<(String, u64, u64)> {
    let st = daemon.call("admin.status", json!({})).await?;
    let s = &st["store"];
    Ok((
        s["read_kind"].as_str().unwrap_or_default().to_string(),
        s["read_rows"].as_u64().unwrap_or(0),
        s["read_dates"].as_u64().unwrap_or(0),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_day_is_read_alone_and_a_changed_old_row_reads_all() -> Result<()> {
    let db = small_db().await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .start()
        .await?;
    ensure!(
        last_read(&daemon).await? == ("full".into(), 60, 2),
        "the first load reads the table: {:?}",
        last_read(&daemon).await?
    );

    // A new day, with codes never seen before (the text dictionaries grow).
    db.fill_small(TABLE, 40, &[D3]).await?;
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info("the new day", Duration::from_secs(10), |i| {
            last_date(i) == D3
        })
        .await?;
    ensure!(
        last_read(&daemon).await? == ("incremental".into(), 40, 1),
        "only the new day's rows are read: {:?}\nstderr:\n{}",
        last_read(&daemon).await?,
        daemon.stderr()
    );
    matches_the_table(&daemon, &db).await?;
    let top = daemon
        .call("stock.top", json!({"by": "volume", "n": 3}))
        .await?;
    ensure!(
        top[0]["code"] == "600039",
        "a code new on the new day ranks first: {top}"
    );

    // A correction of an old row, seen through updated_at: all is read.
    db.execute(&format!(
        "UPDATE daily_stock_data SET close = 77.77, updated_at = clock_timestamp() + interval '1 second'
         WHERE stock_code = '600001' AND date = DATE '{D1}'"
    ))
    .await?;
    db.notify("stockd_refresh").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while last_read(&daemon).await?.0 != "full" {
        ensure!(
            Instant::now() < deadline,
            "no full load after a held row changed: {:?}",
            last_read(&daemon).await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(last_read(&daemon).await? == ("full".into(), 100, 3));
    matches_the_table(&daemon, &db).await?;

    // A deleted old row (the count of held rows drops): all is read too,
    // after another incremental day.
    let d4 = "2024-01-05";
    db.fill_small(TABLE, 40, &[d4]).await?;
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info("the next day", Duration::from_secs(10), |i| {
            last_date(i) == d4
        })
        .await?;
    ensure!(last_read(&daemon).await? == ("incremental".into(), 40, 1));
    db.execute(&format!(
        "DELETE FROM daily_stock_data WHERE stock_code = '600002' AND date = DATE '{D2}'"
    ))
    .await?;
    db.notify("stockd_refresh").await?;
    let info = daemon
        .wait_info("the reload after a delete", Duration::from_secs(10), |i| {
            i["rows"] == 139
        })
        .await?;
    ensure!(
        last_read(&daemon).await? == ("full".into(), 139, 4),
        "{:?} {info}",
        last_read(&daemon).await?
    );
    matches_the_table(&daemon, &db).await?;
    Ok(())
}

/// With a window of 20 trading days: a new day drops the oldest date and
/// reads only the new day; a held row edited (its `updated_at` newer), or
/// deleted (its date's row count differs), reads only its date again; each leaves the old rows retired in the shared
/// buffers, and the refresh that would retire more than an eighth of the
/// rows held loads in full instead, which gives them back. After each,
/// the daemon holds exactly the window's rows, equal to PostgreSQL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moving_window_and_an_edited_day_are_read_alone_until_an_eighth_is_retired() -> Result<()>
{
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let day = |i: u32| format!("2024-03-{:02}", i + 1);
    let days: Vec<String> = (0..21).map(day).collect();
    let refs: Vec<&str> = days.iter().map(String::as_str).collect();
    db.fill_small(TABLE, 10, &refs).await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .env("STOCKD_SOURCE_WINDOW_DAYS", "20")
        .start()
        .await?;
    let full = ("full".to_string(), 200, 20, 0, 0, 0);
    read_was(
        &daemon,
        &db,
        full.clone(),
        &day(1),
        "the first load reads the window",
    )
    .await?;

    // A new day: the window drops 2024-03-02, and reads 10 rows.
    db.fill_small(TABLE, 10, &[&day(21)]).await?;
    db.notify("stockd_refresh").await?;
    let info = daemon
        .wait_info("the new day", Duration::from_secs(10), |i| {
            last_date(i) == day(21)
        })
        .await?;
    ensure!(
        info["dates"]["first"] == day(2).as_str() && info["rows"] == 200,
        "the oldest date left the window: {info}"
    );
    read_was(
        &daemon,
        &db,
        ("incremental".into(), 10, 1, 1, 0, 10),
        &day(2),
        "only the new day's rows are read",
    )
    .await?;
    let gone = daemon
        .call("stock.get", json!({"code": "600003", "date": day(1)}))
        .await;
    ensure!(
        gone.as_ref()
            .is_err_and(|e| format!("{e:#}").contains("unknown_date")),
        "a date the window dropped is not served: {gone:?}"
    );

    // An edit of a held row, seen through updated_at: its date is read again.
    let generation_before = generation(&daemon.call("market.info", Value::Null).await?);
    db.execute(&format!(
        "UPDATE daily_stock_data SET close = 77.77, updated_at = clock_timestamp() + interval '1 second'
         WHERE stock_code = '600003' AND date = DATE '{}'",
        day(10)
    ))
    .await?;
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info("the edit", Duration::from_secs(10), |i| {
            generation(i) > generation_before
        })
        .await?;
    read_was(
        &daemon,
        &db,
        ("incremental".into(), 10, 1, 0, 1, 20),
        &day(2),
        "only the edited date is read again",
    )
    .await?;

    // The next day would retire 30 rows of 200, more than an eighth: a
    // full load, which holds no retired row.
    db.fill_small(TABLE, 10, &[&day(22)]).await?;
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info("the day after", Duration::from_secs(10), |i| {
            last_date(i) == day(22)
        })
        .await?;
    read_was(
        &daemon,
        &db,
        full,
        &day(3),
        "a full load gives the retired rows back",
    )
    .await?;

    // A deleted row: the count of held rows drops, and the one date whose
    // count differs is read again (9 rows).
    db.execute(&format!(
        "DELETE FROM daily_stock_data WHERE stock_code = '600004' AND date = DATE '{}'",
        day(12)
    ))
    .await?;
    db.notify("stockd_refresh").await?;
    daemon
        .wait_info("the delete", Duration::from_secs(10), |i| i["rows"] == 199)
        .await?;
    read_was(
        &daemon,
        &db,
        ("incremental".into(), 9, 1, 0, 1, 10),
        &day(3),
        "only the date that lost a row is read again",
    )
    .await?;
    Ok(())
}
