//! One `stockd` process for the benchmark: spawned on a socket in a
//! temporary directory with an empty config file (so /etc/stockd and
//! STOCKD_* variables do not change what is measured), its stderr kept in
//! memory and in `<out>/stockd-<n>.log`, stopped with SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::rpc::HttpConn;

pub struct StockdProcess {
    child: Child,
    pub pid: u32,
    pub socket: PathBuf,
    log: Arc<Mutex<String>>,
    pub spawned: Instant,
}

/// What the daemon's "store loaded" log line says.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadLine {
    pub load_ms: Option<u64>,
    pub store_mib: Option<f64>,
    pub rows: Option<u64>,
}

/// /proc/<pid>/status figures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProcMem {
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
}

pub struct SpawnArgs<'a> {
    pub bin: &'a Path,
    pub dir: &'a Path,
    pub run: usize,
    /// Names the log file: `<log_dir>/stockd-<label>.log`.
    pub label: &'a str,
    pub log_dir: &'a Path,
    pub database_url: &'a str,
    pub table: &'a str,
    pub window_days: u32,
    /// Extra TOML for the config file (e.g. a `[snapshot]` dir); empty:
    /// defaults only.
    pub config: &'a str,
}

impl StockdProcess {
    pub fn spawn(a: SpawnArgs<'_>) -> Result<StockdProcess> {
        let socket = a.dir.join(format!("stockd-{}.sock", a.run));
        let _ = std::fs::remove_file(&socket);
        let config = a.dir.join(format!("stockd-{}.toml", a.run));
        std::fs::write(
            &config,
            format!("# stockd-bench: defaults, plus:\n{}\n", a.config),
        )?;
        let mut cmd = Command::new(a.bin);
        cmd.arg("--config")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .arg("--database-url")
            .arg(a.database_url)
            .arg("--table")
            .arg(a.table)
            .arg("--window-days")
            .arg(a.window_days.to_string())
            .arg("--log")
            .arg("info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("STOCKD_")
                || k == "RUST_LOG"
                || k == "STATE_DIRECTORY"
            {
                cmd.env_remove(k);
            }
        }
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", a.bin.display()))?;
        let pid = child.id();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped");
        let sink = log.clone();
        let mut file = std::fs::File::create(a.log_dir.join(format!("stockd-{}.log", a.label)))?;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                let _ = writeln!(file, "{line}");
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        Ok(StockdProcess {
            child,
            pid,
            socket,
            log,
            spawned,
        })
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let l = self.log();
        let lines: Vec<&str> = l.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Polls `market.info` until the store is loaded; returns the time from
    /// spawn to that first successful answer, and the answer.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(Duration, Value)> {
        let deadline = self.spawned + timeout;
        let mut last_err = String::new();
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!(
                    "stockd exited ({st}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "stockd not ready after {timeout:?} (last: {last_err}):\n{}",
                    self.log_tail()
                );
            }
            if self.socket.exists() {
                match HttpConn::connect(&self.socket).await {
                    Ok(mut c) => match c.call("market.info", serde_json::json!({})).await {
                        Ok(info) if info.get("rows").and_then(Value::as_u64).unwrap_or(0) > 0 => {
                            return Ok((self.spawned.elapsed(), info));
                        }
                        Ok(info) => last_err = format!("market.info without rows: {info}"),
                        Err(e) => last_err = format!("{e:#}"),
                    },
                    Err(e) => last_err = format!("{e:#}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The last "store loaded" line of the log (waits up to 2 s for it: the
    /// log line and readiness race).
    pub async fn load_line(&self) -> LoadLine {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().rev().find(|l| l.contains("store loaded")) {
                return LoadLine {
                    load_ms: field(line, "load_ms").and_then(|v| v.parse().ok()),
                    store_mib: field(line, "store_mib").and_then(|v| v.parse().ok()),
                    rows: field(line, "rows").and_then(|v| v.parse().ok()),
                };
            }
            if Instant::now() > deadline {
                return LoadLine::default();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// VmRSS and VmHWM from /proc: the independent memory figure.
    pub fn proc_mem(&self) -> Option<ProcMem> {
        proc_mem(self.pid)
    }

    /// `admin.status`, if the daemon has it (`None` on "method not found").
    pub async fn admin_status(&self) -> Result<Option<Value>> {
        let mut c = HttpConn::connect(&self.socket).await?;
        match c.call("admin.status", serde_json::json!({})).await {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let msg = format!("{e:#}");
                if msg.contains("-32601") || msg.contains("not found") {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// SIGTERM, then SIGKILL after `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(st) = self.child.try_wait()? {
            return Ok(st);
        }
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let st = self.child.wait()?;
                bail!("stockd did not stop within {timeout:?} of SIGTERM; killed ({st})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for StockdProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn proc_mem(pid: u32) -> Option<ProcMem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    Some(ProcMem {
        rss_bytes: kb("VmRSS:")?,
        peak_rss_bytes: kb("VmHWM:").unwrap_or(0),
    })
}

/// `key=value` or `key="value"` from a tracing line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&pat) {
        let at = from + i;
        let ok_start = at == 0 || line.as_bytes()[at - 1] == b' ';
        let rest = &line[at + pat.len()..];
        if ok_start {
            return Some(if let Some(r) = rest.strip_prefix('"') {
                &r[..r.find('"').unwrap_or(r.len())]
            } else {
                &rest[..rest.find(' ').unwrap_or(rest.len())]
            });
        }
        from = at + pat.len();
    }
    None
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
