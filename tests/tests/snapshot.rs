//! Warm restart: after a load the daemon writes a snapshot to the snapshot
//! directory; a daemon started while its table cannot be loaded serves that
//! snapshot (marked stale) with the same values; a corrupt snapshot is
//! ignored with a log line and the daemon loads from PostgreSQL; a snapshot
//! write killed with SIGKILL leaves the previous snapshot loadable.

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stockd_tests::warm::{probe, start};
use stockd_tests::{Daemon, PgTestDb, TempDir};

const SNAPSHOT: &str = "store.snapshot";

async fn wait_log(daemon: &Daemon, needle: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !daemon.stderr().contains(needle) {
        ensure!(
            Instant::now() < deadline,
            "'{needle}' not logged within {timeout:?}; stderr:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_serves_when_the_table_cannot_be_loaded() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small("daily_stock_data", 40, &["2024-03-01", "2024-03-04"])
        .await?;
    let snapdir = TempDir::new("stockd-snap")?;

    // First run: loads from PostgreSQL and writes the snapshot.
    let mut first = start(&db, snapdir.path()).await?;
    wait_log(&first, "snapshot written", Duration::from_secs(30)).await?;
    let info = first.call("market.info", Value::Null).await?;
    let values = probe(&first).await?;
    ensure!(!info["source"]["stale"].as_bool().unwrap_or(true), "{info}");
    first.terminate(Duration::from_secs(10))?;
    ensure!(snapdir.path().join(SNAPSHOT).exists(), "no snapshot file");

    // The table goes away: the next start serves the snapshot, stale.
    db.execute("ALTER TABLE daily_stock_data RENAME TO gone")
        .await?;
    let spawned = Instant::now();
    let second = start(&db, snapdir.path()).await?;
    let warm = spawned.elapsed();
    let info2 = second.call("market.info", Value::Null).await?;
    ensure!(
        info2["source"]["stale"] == json!(true),
        "not marked stale: {info2}"
    );
    ensure!(info2["rows"] == info["rows"], "{info2} vs {info}");
    ensure!(
        info2["generation"] == info["generation"],
        "{info2} vs {info}"
    );
    ensure!(
        probe(&second).await? == values,
        "values differ after restore"
    );
    wait_log(&second, "snapshot restored", Duration::from_secs(5)).await?;
    let status = second.call("admin.status", Value::Null).await?;
    ensure!(status["store"]["stale"] == json!(true), "{status}");
    println!("warm start from snapshot: first answer after {warm:?}");

    // The table comes back: the retried load replaces the stale store.
    db.execute("ALTER TABLE gone RENAME TO daily_stock_data")
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let i = second.call("market.info", Value::Null).await?;
        if i["source"]["stale"] == json!(false) {
            ensure!(
                i["generation"].as_u64() > info2["generation"].as_u64(),
                "{i}"
            );
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "never left the stale snapshot: {i}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_snapshot_is_ignored_and_postgres_loads() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_small("daily_stock_data", 20, &["2024-03-01"])
        .await?;
    let snapdir = TempDir::new("stockd-snap")?;
    let mut first = start(&db, snapdir.path()).await?;
    wait_log(&first, "snapshot written", Duration::from_secs(30)).await?;
    first.terminate(Duration::from_secs(10))?;

    let path = snapdir.path().join(SNAPSHOT);
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes)?;

    let second = start(&db, snapdir.path()).await?;
    wait_log(&second, "snapshot ignored", Duration::from_secs(10)).await?;
    let info = second.call("market.info", Value::Null).await?;
    ensure!(info["source"]["stale"] == json!(false), "{info}");
    ensure!(info["rows"] == json!(20), "{info}");
    // A truncated one too.
    drop(second);
    std::fs::write(&path, &bytes[..bytes.len() / 3])?;
    let third = start(&db, snapdir.path()).await?;
    wait_log(&third, "snapshot ignored", Duration::from_secs(10)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_snapshot_write_keeps_the_previous_one() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    // Large enough that a snapshot write takes a noticeable time.
    db.fill_demo("daily_stock_data", &stockd::demo::DemoParams::seed())
        .await?;
    let snapdir = TempDir::new("stockd-snap")?;
    let mut d = start(&db, snapdir.path()).await?;
    wait_log(&d, "snapshot written", Duration::from_secs(60)).await?;
    let values = probe(&d).await?;

    // Reload until a write is caught in the act, then SIGKILL.
    let mut caught = false;
    for _ in 0..20 {
        let sock = d.socket().to_path_buf();
        let reload = tokio::spawn(async move {
            let _ = stockd_tests::http::post(
                &sock,
                br#"{"jsonrpc":"2.0","id":1,"method":"store.reload"}"#,
            )
            .await;
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !caught {
            let tmp = std::fs::read_dir(snapdir.path())?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(".tmp."));
            if tmp {
                d.signal(nix::sys::signal::Signal::SIGKILL)?;
                caught = true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reload.abort();
        if caught {
            break;
        }
    }
    ensure!(caught, "never saw a snapshot write in progress");
    d.wait_exit(Duration::from_secs(10))?;
    // The rename never happened: the complete previous file is in place.
    ensure!(
        snapdir.path().join(SNAPSHOT).exists(),
        "snapshot gone after a killed write"
    );

    db.execute("ALTER TABLE daily_stock_data RENAME TO gone")
        .await?;
    let started = Instant::now();
    let restored = start(&db, snapdir.path()).await?;
    println!(
        "warm start from a seed-scale snapshot (86,836 rows): first answer after {:?}",
        started.elapsed()
    );
    ensure!(
        probe(&restored).await? == values,
        "values differ after restore"
    );
    wait_log(&restored, "snapshot restored", Duration::from_secs(5)).await?;
    let leftovers: Vec<String> = std::fs::read_dir(snapdir.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    ensure!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    Ok(())
}
