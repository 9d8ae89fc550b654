//! Snapshots are never torn: reloads run in a tight loop while the daemon
//! is killed at random moments, 50 times, with SIGTERM or SIGKILL. After
//! every kill the snapshot file is a complete one (it reads back, checksum
//! and all) of the same or a newer generation than the one before, and the
//! next start is a warm restart from it serving the same values.
//!
//! Half the kills come at a random moment of the reload cycle (uniform
//! over twice its measured length); the other half as soon as a snapshot
//! write is seen in progress (its temporary file exists), plus a random
//! 0–5 ms, so many land mid-write. The test prints how many did.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use stockd::store::snapshot;
use stockd_tests::keepalive::KeepAlive;
use stockd_tests::warm::{probe, start};
use stockd_tests::{util, PgTestDb, Rng, TempDir};

const KILLS: usize = 50;
/// The daemon's wait for a snapshot write at stop (main.rs SNAPSHOT_WAIT)
/// plus the 1 s a stop may take otherwise.
const STOP_BOUND: Duration = Duration::from_secs(6);

fn temp_files(dir: &Path) -> Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_during_reloads_the_snapshot_is_never_torn() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let params = stockd::demo::DemoParams::seed();
    db.fill_demo("daily_stock_data", &params).await?;
    let rows = params.rows();
    let snapdir = TempDir::new("stockd-snapkill")?;
    let path = snapdir.path().join(snapshot::FILE_NAME);

    let mut first = start(&db, snapdir.path()).await?;
    first
        .wait_info("the first load", Duration::from_secs(60), |i| {
            i["source"]["stale"] == json!(false)
        })
        .await?;
    let values = probe(&first).await?;
    // One reload cycle (load, swap; the snapshot write runs beside the next).
    let t = Instant::now();
    first.call("store.reload", Value::Null).await?;
    let cycle = t.elapsed();
    util::wait_until(
        "the first snapshot",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            match snapshot::read(&path) {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;
    first.terminate(STOP_BOUND)?;
    drop(first);
    let mut generation = snapshot::read(&path)?.info.generation;

    let seed = util::random_u64();
    println!("seed {seed}; one reload takes {cycle:?}");
    let mut rng = Rng::new(seed);
    let (mut during_write, mut sigterms, mut longest_stop) = (0, 0, Duration::ZERO);
    let started = Instant::now();
    for round in 0..KILLS {
        let mut d = start(&db, snapdir.path()).await?;
        // Every start after a kill is a warm restart from what it left.
        ensure!(
            d.stderr().contains("snapshot restored"),
            "round {round}: no warm restart; stderr:\n{}",
            util::tail(&d.stderr(), 40)
        );
        ensure!(
            probe(&d).await? == values,
            "round {round}: values differ after the restart"
        );
        let pid = d.pid().context("no pid")?;
        let sock = d.socket().to_path_buf();
        let reloads = tokio::spawn(async move {
            let Ok(mut c) = KeepAlive::connect(&sock).await else {
                return;
            };
            loop {
                if c.try_call("store.reload", &Value::Null).await.is_err() {
                    return;
                }
            }
        });
        let mine = format!(".tmp.{pid}.");
        if round % 2 == 0 {
            let upto = (cycle * 2).as_millis() as usize + 200;
            tokio::time::sleep(Duration::from_millis(rng.below(upto) as u64)).await;
        } else {
            // Kill mid-write: poll for this process's temporary file.
            let deadline = Instant::now() + cycle * 4 + Duration::from_secs(10);
            while Instant::now() < deadline
                && !temp_files(snapdir.path())?
                    .iter()
                    .any(|n| n.contains(&mine))
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_micros(rng.below(5000) as u64)).await;
        }
        let writing = temp_files(snapdir.path())?
            .iter()
            .any(|n| n.contains(&mine));
        during_write += usize::from(writing);
        let term = rng.below(2) == 0;
        let sig = if term {
            nix::sys::signal::Signal::SIGTERM
        } else {
            nix::sys::signal::Signal::SIGKILL
        };
        let killed = Instant::now();
        d.signal(sig)?;
        let status = d
            .wait_exit(STOP_BOUND)
            .with_context(|| format!("round {round}: {sig} did not stop the daemon"))?;
        let stop = killed.elapsed();
        reloads.abort();
        if term {
            sigterms += 1;
            longest_stop = longest_stop.max(stop);
            ensure!(
                status.success(),
                "round {round}: SIGTERM exit {status}; stderr:\n{}",
                util::tail(&d.stderr(), 40)
            );
        }
        let snap = snapshot::read(&path)
            .with_context(|| format!("round {round}: the snapshot after {sig} does not read"))?;
        ensure!(
            snap.rows() as u64 == rows,
            "round {round}: snapshot has {} rows, the table {rows}",
            snap.rows()
        );
        ensure!(
            snap.info.generation >= generation,
            "round {round}: snapshot generation went back from {generation} to {}",
            snap.info.generation
        );
        generation = snap.info.generation;
        drop(d);
    }
    // The last one too, and unfinished writes are cleaned up at start.
    let d = start(&db, snapdir.path()).await?;
    ensure!(probe(&d).await? == values, "values differ at the end");
    let pid = d.pid().context("no pid")?;
    let stale: Vec<String> = temp_files(snapdir.path())?
        .into_iter()
        .filter(|n| !n.contains(&format!(".tmp.{pid}.")))
        .collect();
    ensure!(
        stale.is_empty(),
        "temporary files of killed runs left: {stale:?}"
    );
    println!(
        "{KILLS} kills ({sigterms} SIGTERM, longest stop {longest_stop:?}), {during_write} during a snapshot write; last generation {generation}; {:?}",
        started.elapsed()
    );
    ensure!(
        during_write >= KILLS / 5,
        "only {during_write} of {KILLS} kills landed during a snapshot write"
    );
    Ok(())
}
