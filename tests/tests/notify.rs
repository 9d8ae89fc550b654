//! stockd under a fake systemd: a Unix datagram socket given as
//! NOTIFY_SOCKET that the test reads, WATCHDOG_USEC=1 s (WATCHDOG_PID
//! unset), and socket activation through `systemd-socket-activate` (package
//! systemd). Checks:
//! - READY=1 arrives, and only once the socket answers `market.info` (the
//!   fake systemd calls it the moment READY arrives);
//! - STATUS= lines parse and give the rows `market.info` reports;
//! - WATCHDOG=1 pings arrive at about 2/s (interval / 2);
//! - with the test-only fault hook `STOCKD_TEST_STALL_AFTER_MS=2000`, the
//!   pings stop once the runtime's workers are stalled;
//! - STOPPING=1 on SIGTERM;
//! - a socket passed with LISTEN_FDS is served (and the configured path is
//!   neither bound nor removed); LISTEN_PID of another process is ignored.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stockd_tests::daemon::stockd_bin;
use stockd_tests::util::{tail, TempDir};
use stockd_tests::Daemon;

/// One line of one notification datagram, with when it arrived; for
/// READY=1 also what `market.info` answered at that moment.
#[derive(Debug, Clone)]
struct Msg {
    at: Instant,
    line: String,
    probe: Option<Result<u64, String>>,
}

/// The service manager's side of sd_notify.
struct FakeSystemd {
    path: PathBuf,
    msgs: Arc<Mutex<Vec<Msg>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl FakeSystemd {
    /// Binds `dir/notify.sock`; on READY=1, calls `market.info` on
    /// `probe_socket` before reading on.
    fn new(dir: &Path, probe_socket: PathBuf) -> Result<FakeSystemd> {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).context("binding the fake NOTIFY_SOCKET")?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (msgs.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                let n = match sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(_) => continue, // timeout: check `stop`
                };
                let at = Instant::now();
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let probe = (line == "READY=1").then(|| rows_now(&probe_socket));
                    m.lock().unwrap().push(Msg {
                        at,
                        line: line.to_string(),
                        probe,
                    });
                }
            }
        });
        Ok(FakeSystemd {
            path,
            msgs,
            stop,
            reader: Some(reader),
        })
    }

    fn msgs(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    fn first(&self, pred: impl Fn(&str) -> bool) -> Option<Msg> {
        self.msgs().into_iter().find(|m| pred(&m.line))
    }

    /// Waits for a line matching `pred`, failing early if `proc` exits.
    fn wait_for(
        &self,
        what: &str,
        proc: &mut Proc,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.first(&pred) {
                return Ok(m);
            }
            if let Some(status) = proc.child.try_wait()? {
                bail!(
                    "stockd exited with {status} before {what}; messages: {:?}\nstderr:\n{}",
                    self.lines(),
                    tail(&proc.stderr(), 60)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "no {what} within {timeout:?}; messages: {:?}\nstderr:\n{}",
                    self.lines(),
                    tail(&proc.stderr(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.msgs().into_iter().map(|m| m.line).collect();
        v.dedup();
        v
    }

    fn pings_between(&self, from: Instant, to: Instant) -> Vec<Instant> {
        self.msgs()
            .into_iter()
            .filter(|m| m.line == "WATCHDOG=1" && m.at > from && m.at <= to)
            .map(|m| m.at)
            .collect()
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// `market.info` over the socket, synchronously: the row count.
fn rows_now(socket: &Path) -> Result<u64, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"market.info"}"#;
    let resp = rt
        .block_on(stockd_tests::http::post(socket, body))
        .map_err(|e| format!("{e:#}"))?;
    let doc: Value = serde_json::from_str(&resp.body).map_err(|e| format!("{e}: {}", resp.body))?;
    doc["result"]["rows"]
        .as_u64()
        .ok_or_else(|| format!("HTTP {}: no result.rows in {}", resp.status, resp.body))
}

/// A stockd (or systemd-socket-activate → stockd) process, SIGKILLed on
/// drop if still running; its stderr is printed on drop (libtest shows it
/// for failed tests only).
struct Proc {
    child: Child,
    stderr_path: PathBuf,
}

impl Proc {
    fn stderr(&self) -> String {
        std::fs::read(&self.stderr_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!(
                    "still running {timeout:?} after SIGTERM; stderr:\n{}",
                    tail(&self.stderr(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        eprintln!(
            "----- stockd stderr -----\n{}\n----- end -----",
            tail(&self.stderr(), 120)
        );
    }
}

/// A command with a clean environment for stockd: no inherited `STOCKD_*`,
/// sd_notify or activation variables.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("STOCKD_")
            || [
                "NOTIFY_SOCKET",
                "WATCHDOG_USEC",
                "WATCHDOG_PID",
                "LISTEN_FDS",
                "LISTEN_PID",
                "LISTEN_FDNAMES",
                "JOURNAL_STREAM",
            ]
            .contains(&k.as_str())
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

fn spawn(mut cmd: Command, dir: &Path) -> Result<Proc> {
    let stderr_path = dir.join("stderr.log");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path)?)
        .current_dir(dir);
    let child = cmd.spawn().context("spawning stockd")?;
    Ok(Proc { child, stderr_path })
}

/// `stockd --socket DIR/stockd.sock --config DIR/stockd.toml` (empty config:
/// demo data) under the fake systemd with a 1 s watchdog.
fn start_demo(dir: &Path, notify: &FakeSystemd, extra_env: &[(&str, &str)]) -> Result<Proc> {
    let config = dir.join("stockd.toml");
    std::fs::write(&config, "")?;
    let mut cmd = clean(Command::new(stockd_bin()?));
    cmd.arg("--socket")
        .arg(dir.join("stockd.sock"))
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "1000000");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    spawn(cmd, dir)
}

/// The figures of a STATUS line such as
/// `serving 86836 rows · 30 days · rss 41 MiB · caches 3.2/64 MiB · demo · ok`.
#[derive(Debug)]
struct Status {
    rows: u64,
    days: u64,
    rss_mib: f64,
    cache_mib: f64,
    cap_mib: f64,
    source: String,
    state: Vec<String>,
}

fn parse_status(line: &str) -> Result<Status> {
    let text = line.strip_prefix("STATUS=").context("not a STATUS line")?;
    let parts: Vec<&str> = text.split(" · ").collect();
    ensure!(parts.len() >= 6, "too few parts in {text:?}");
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let head = words(parts[0]);
    ensure!(
        head.len() == 3 && head[0] == "serving" && head[2] == "rows",
        "expected 'serving N rows' in {text:?}"
    );
    let days = words(parts[1]);
    ensure!(
        days.len() == 2 && (days[1] == "days" || days[1] == "day"),
        "expected 'N days' in {text:?}"
    );
    let rss = words(parts[2]);
    ensure!(
        rss.len() == 3 && rss[0] == "rss" && rss[2] == "MiB",
        "expected 'rss X MiB' in {text:?}"
    );
    let caches = words(parts[3]);
    ensure!(
        caches.len() == 3 && caches[0] == "caches" && caches[2] == "MiB",
        "expected 'caches A/B MiB' in {text:?}"
    );
    let (held, cap) = caches[1].split_once('/').context("caches A/B")?;
    Ok(Status {
        rows: head[1]
            .parse()
            .with_context(|| format!("rows in {text:?}"))?,
        days: days[0]
            .parse()
            .with_context(|| format!("days in {text:?}"))?,
        rss_mib: rss[1].parse().with_context(|| format!("rss in {text:?}"))?,
        cache_mib: held
            .parse()
            .with_context(|| format!("cache bytes in {text:?}"))?,
        cap_mib: cap
            .parse()
            .with_context(|| format!("cache cap in {text:?}"))?,
        source: parts[4].to_string(),
        state: parts[5..].iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn status_line_parser_accepts_the_documented_example() -> Result<()> {
    let s = parse_status(
        "STATUS=serving 86836 rows · 30 days · rss 41 MiB · caches 3.2/64 MiB · pg 1/4 · ok",
    )?;
    assert_eq!((s.rows, s.days), (86836, 30));
    assert_eq!((s.rss_mib, s.cache_mib, s.cap_mib), (41.0, 3.2, 64.0));
    assert_eq!(s.source, "pg 1/4");
    assert_eq!(s.state, vec!["ok"]);
    assert!(parse_status("STATUS=loading").is_err());
    Ok(())
}

#[test]
fn ready_after_socket_answers_status_watchdog_and_stopping() -> Result<()> {
    let dir = TempDir::new("stockd-notify")?;
    let socket = dir.path().join("stockd.sock");
    let notify = FakeSystemd::new(dir.path(), socket.clone())?;
    let mut proc = start_demo(dir.path(), &notify, &[])?;

    let ready = notify.wait_for("READY=1", &mut proc, Duration::from_secs(90), |l| {
        l == "READY=1"
    })?;
    let rows_at_ready = match &ready.probe {
        Some(Ok(rows)) => *rows,
        other => bail!(
            "READY=1 came before the socket answered market.info: {other:?}\nstderr:\n{}",
            tail(&proc.stderr(), 40)
        ),
    };
    ensure!(rows_at_ready > 0, "market.info at READY reports no rows");
    let ready_count = notify.msgs().iter().filter(|m| m.line == "READY=1").count();
    ensure!(ready_count == 1, "READY=1 sent {ready_count} times");

    // STATUS: one line an admin reads, with the rows market.info reports.
    let status = notify.wait_for(
        "a STATUS= line after READY",
        &mut proc,
        Duration::from_secs(15),
        |l| l.starts_with("STATUS=serving"),
    )?;
    let st = parse_status(&status.line)?;
    ensure!(
        st.rows == rows_at_ready,
        "STATUS rows {} vs market.info {rows_at_ready}: {}",
        st.rows,
        status.line
    );
    ensure!(st.days > 0, "{}", status.line);
    ensure!(st.rss_mib > 1.0, "rss in {}", status.line);
    ensure!(
        st.cap_mib > 0.0 && st.cache_mib <= st.cap_mib,
        "caches in {}",
        status.line
    );
    ensure!(
        st.source == "demo",
        "demo data shows 'demo': {}",
        status.line
    );
    ensure!(
        st.state == ["ok"],
        "a healthy demo daemon says ok: {}",
        status.line
    );
    for m in notify
        .msgs()
        .iter()
        .filter(|m| m.line.starts_with("STATUS=serving"))
    {
        parse_status(&m.line)?;
    }

    // Watchdog: WATCHDOG_USEC=1 s → a ping every 0.5 s.
    let from = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let pings = notify.pings_between(from, Instant::now()).len();
    ensure!(
        (3..=12).contains(&pings),
        "{pings} WATCHDOG=1 pings in 3 s with WATCHDOG_USEC=1000000 (expected about 6)"
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    let term = Instant::now();
    let exit = proc.terminate(Duration::from_secs(20))?;
    ensure!(exit.success(), "exit status {exit} after SIGTERM");
    std::thread::sleep(Duration::from_millis(200));
    let stopping = notify.first(|l| l == "STOPPING=1").with_context(|| {
        format!(
            "no STOPPING=1 after SIGTERM; messages: {:?}",
            notify.lines()
        )
    })?;
    ensure!(stopping.at >= term, "STOPPING=1 before SIGTERM");
    Ok(())
}

#[test]
fn watchdog_pings_stop_when_the_runtime_stalls() -> Result<()> {
    let dir = TempDir::new("stockd-stall")?;
    let socket = dir.path().join("stockd.sock");
    let notify = FakeSystemd::new(dir.path(), socket)?;
    let mut proc = start_demo(
        dir.path(),
        &notify,
        &[("STOCKD_TEST_STALL_AFTER_MS", "2000")],
    )?;
    let ready = notify.wait_for("READY=1", &mut proc, Duration::from_secs(90), |l| {
        l == "READY=1"
    })?;

    // The hook logs the moment it blocks the workers; watch stderr for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stalled_at = loop {
        if proc.stderr().contains("TEST FAULT HOOK: stalling") {
            break Instant::now();
        }
        if let Some(status) = proc.child.try_wait()? {
            bail!(
                "stockd exited with {status}; stderr:\n{}",
                tail(&proc.stderr(), 40)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the stall hook never fired (is STOCKD_TEST_STALL_AFTER_MS accepted and \
                 systemd::spawn_test_stall_hook called?); stderr:\n{}",
                tail(&proc.stderr(), 40)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let before = notify
        .pings_between(ready.at - Duration::from_secs(60), stalled_at)
        .len();
    ensure!(
        before >= 2,
        "only {before} pings before the stall: the watchdog was not running"
    );

    let quiet_from = stalled_at + Duration::from_millis(500);
    let quiet_to = quiet_from + Duration::from_millis(2500);
    std::thread::sleep(
        quiet_to.saturating_duration_since(Instant::now()) + Duration::from_millis(100),
    );
    let after = notify.pings_between(quiet_from, quiet_to);
    ensure!(
        after.is_empty(),
        "{} WATCHDOG=1 pings in the 2.5 s from 0.5 s after the stall (expected none)",
        after.len()
    );
    ensure!(
        proc.child.try_wait()?.is_none(),
        "stockd should hang, not exit"
    );
    Ok(())
}

#[test]
fn serves_on_a_socket_passed_by_socket_activation() -> Result<()> {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("systemd-socket-activate is missing: apt-get install systemd");
    }
    let dir = TempDir::new("stockd-activate")?;
    let activated = dir.path().join("activated.sock");
    let configured = dir.path().join("configured.sock");
    let config = dir.path().join("stockd.toml");
    std::fs::write(&config, "")?;
    let notify = FakeSystemd::new(dir.path(), activated.clone())?;

    // systemd-socket-activate binds the socket, waits for the first
    // connection, then execs stockd (same pid) with LISTEN_PID/LISTEN_FDS
    // and fd 3; it passes on only the variables named with -E.
    let mut cmd = clean(Command::new("systemd-socket-activate"));
    cmd.arg("-l")
        .arg(&activated)
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify.path.display()))
        .arg("--setenv=RUST_BACKTRACE=1")
        .arg("--")
        .arg(stockd_bin()?)
        .arg("--socket")
        .arg(&configured)
        .arg("--config")
        .arg(&config);
    let mut proc = spawn(cmd, dir.path())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !activated.exists() {
        ensure!(
            Instant::now() < deadline,
            "systemd-socket-activate did not bind; stderr:\n{}",
            proc.stderr()
        );
        ensure!(
            proc.child.try_wait()?.is_none(),
            "systemd-socket-activate exited: {}",
            proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The first client connects before stockd runs: its request waits in
    // the listen backlog and is answered once stockd serves.
    let rows = rows_now(&activated)
        .map_err(anyhow::Error::msg)
        .with_context(|| {
            format!(
                "market.info on the activated socket; stderr:\n{}",
                tail(&proc.stderr(), 40)
            )
        })?;
    ensure!(rows > 0);
    let ready = notify.wait_for("READY=1", &mut proc, Duration::from_secs(30), |l| {
        l == "READY=1"
    })?;
    ensure!(
        matches!(ready.probe, Some(Ok(_))),
        "READY before the activated socket answered: {:?}",
        ready.probe
    );
    ensure!(
        !configured.exists(),
        "stockd bound the configured socket although it was passed one"
    );

    let exit = proc.terminate(Duration::from_secs(20))?;
    ensure!(exit.success(), "exit status {exit} after SIGTERM");
    ensure!(
        activated.exists(),
        "stockd removed the activated socket file: it belongs to the socket unit"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_fds_for_another_process_are_ignored() -> Result<()> {
    // LISTEN_PID names another process (as in a child of an activated
    // service): stockd binds its configured socket and never touches fd 3.
    let daemon = Daemon::builder()
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .start()
        .await?;
    ensure!(daemon.socket().exists());
    let info = daemon.call("market.info", Value::Null).await?;
    ensure!(info["rows"].as_u64().unwrap_or(0) > 0);
    Ok(())
}
