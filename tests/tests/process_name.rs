//! The process is called `stockd` wherever an admin looks: `ps`,
//! `pgrep -x stockd`, systemd's "Killing process N (stockd)". The daemon
//! re-executes itself at start (to set a mimalloc option), and an exec
//! through `/proc/self/exe` would name it `exe`.

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use std::process::Command;
use stockd_tests::Daemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_is_named_stockd() -> Result<()> {
    let daemon = Daemon::demo().await?;
    daemon.call("market.info", Value::Null).await?;
    let pid = daemon.pid().context("the daemon has a pid")?;

    // The re-exec did happen (the test would prove nothing otherwise): the
    // variable it sets is in the running image's environment.
    let environ = std::fs::read(format!("/proc/{pid}/environ"))
        .with_context(|| format!("reading /proc/{pid}/environ"))?;
    for name in ["MIMALLOC_ARENA_EAGER_COMMIT=", "MIMALLOC_PURGE_DELAY="] {
        ensure!(
            environ
                .split(|b| *b == 0)
                .any(|kv| kv.starts_with(name.as_bytes())),
            "stockd (pid {pid}) did not re-execute itself with {name}… set"
        );
    }

    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .with_context(|| format!("reading /proc/{pid}/comm"))?;
    ensure!(
        comm.trim_end() == "stockd",
        "/proc/{pid}/comm is {:?}, not \"stockd\"",
        comm.trim_end()
    );

    let out = Command::new("pgrep")
        .args(["-x", "stockd"])
        .output()
        .context("running pgrep (Debian package procps)")?;
    let pids = String::from_utf8_lossy(&out.stdout);
    ensure!(
        pids.lines().any(|l| l.trim() == pid.to_string()),
        "`pgrep -x stockd` does not list the daemon's pid {pid}; it printed {:?} (exit {})",
        pids,
        out.status
    );

    // What ps shows in its COMMAND column (the name systemd logs too).
    let out = Command::new("ps")
        .args(["-o", "comm=", "-p", &pid.to_string()])
        .output()
        .context("running ps (Debian package procps)")?;
    let shown = String::from_utf8_lossy(&out.stdout);
    ensure!(
        shown.trim() == "stockd",
        "`ps -o comm= -p {pid}` shows {:?}",
        shown.trim()
    );
    Ok(())
}
