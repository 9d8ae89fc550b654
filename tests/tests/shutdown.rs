//! Lifecycle: a stale socket file left at the path is replaced at start;
//! SIGTERM stops the daemon cleanly (exit 0 within 10 s, socket file
//! removed), letting an in-flight request finish; a live socket is never
//! stolen by a second daemon.

use anyhow::{ensure, Result};
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use stockd_tests::Daemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced_and_sigterm_stops_cleanly() -> Result<()> {
    let mut daemon = Daemon::builder().stale_socket().start().await?;
    let info = daemon.call("market.info", Value::Null).await?;
    ensure!(
        info["source"]["kind"] == "demo",
        "demo daemon reports source {}",
        info["source"]
    );

    let socket = daemon.socket().to_path_buf();
    ensure!(socket.exists());
    let started = Instant::now();
    let status = daemon.terminate(Duration::from_secs(10))?;
    ensure!(
        status.success(),
        "stockd exited with {status} on SIGTERM; stderr:\n{}",
        daemon.stderr()
    );
    ensure!(started.elapsed() < Duration::from_secs(10));
    ensure!(
        !socket.exists(),
        "the socket file {} is still there after SIGTERM",
        socket.display()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_also_stops_cleanly_and_in_flight_requests_finish() -> Result<()> {
    let mut daemon = Daemon::demo().await?;
    // A large request in flight while the signal arrives.
    let codes: Vec<String> = (0..1000).map(|i| format!("{:06}", 600000 + i)).collect();
    let body = serde_json::to_vec(&Daemon::request("stock.many", &json!({"codes": codes}), 1))?;
    let socket = daemon.socket().to_path_buf();
    let in_flight = tokio::spawn(async move { stockd_tests::http::post(&socket, &body).await });
    tokio::time::sleep(Duration::from_millis(5)).await;
    daemon.signal(Signal::SIGINT)?;
    let status = daemon.wait_exit(Duration::from_secs(10))?;
    ensure!(
        status.success(),
        "stockd exited with {status} on SIGINT; stderr:\n{}",
        daemon.stderr()
    );
    ensure!(!daemon.socket().exists(), "socket file left after SIGINT");
    // The request either completed with a full answer or was never accepted;
    // it must not be cut off halfway.
    match in_flight.await? {
        Ok(r) => {
            let doc: Value = serde_json::from_str(&r.body).map_err(|e| {
                anyhow::anyhow!("in-flight response cut off ({e}): {} bytes", r.body.len())
            })?;
            ensure!(
                doc.get("result").is_some(),
                "in-flight request answered {doc}"
            );
        }
        Err(e) => {
            let msg = format!("{e:#}");
            ensure!(
                msg.contains("connect") || msg.contains("without a response"),
                "in-flight request failed midway: {msg}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_not_taken_over() -> Result<()> {
    let first = Daemon::demo().await?;
    let bin = stockd_tests::daemon::stockd_bin()?;
    let err_path = first.dir().join("second.stderr");
    let mut second = std::process::Command::new(bin)
        .arg("--socket")
        .arg(first.socket())
        .arg("--config")
        .arg(first.dir().join("stockd.toml"))
        .env_remove("STOCKD_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = second.try_wait()? {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let out_stderr = std::fs::read(&err_path).unwrap_or_default();
    ensure!(
        status.is_some_and(|s| !s.success()),
        "a second stockd on a live socket should refuse to start; it {}",
        match status {
            Some(s) => format!("exited {s}"),
            None => "was still running after 30 s".into(),
        }
    );
    let stderr = String::from_utf8_lossy(&out_stderr);
    ensure!(
        stderr.contains(&first.socket().display().to_string()),
        "the refusal should name the socket path:\n{stderr}"
    );
    // The first one still serves.
    first.call("market.info", Value::Null).await?;
    Ok(())
}
