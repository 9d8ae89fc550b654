//! Shared by the end-to-end tests: a real `stockd` on a temporary socket,
//! a real client, and a temporary directory.
#![allow(dead_code)] // each test binary uses a different part

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use stockctl::conn::{self, Client};
use stockd_api::{AdminStatus, StockdClient};

/// How long a daemon may take to load the demo data set (a debug build on
/// a busy 2-core machine takes ~15 s).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!(
            "stockctl-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `target/<profile>`: the test executable lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps")
        .to_path_buf()
}

/// The `stockd` binary: `STOCKD_BIN`, else `target/<profile>/stockd`, built
/// with `cargo build -p stockd --bin stockd` when missing.
pub fn stockd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STOCKD_BIN") {
        return PathBuf::from(p);
    }
    let dir = profile_dir();
    let bin = dir.join("stockd");
    if bin.exists() {
        return bin;
    }
    let target = dir.parent().expect("target dir");
    let profile = dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "stockd", "--bin", "stockd", "--target-dir"])
        .arg(target)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("run cargo build -p stockd");
    assert!(
        status.success(),
        "cargo build -p stockd --bin stockd failed"
    );
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// The stockctl binary under test.
pub fn stockctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stockctl"))
}

/// A running daemon; killed on drop (its log is printed if the test failed).
pub struct Daemon {
    pub dir: TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts stockd on demo data on `<tmp>/stockd.sock`, with `env`, and
    /// waits until it answers `market.info`.
    pub async fn start(tag: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = TempDir::new(tag);
        let mut d = Daemon::spawn_in(dir, env);
        d.wait_ready().await;
        d
    }

    /// Starts stockd in `dir` without waiting.
    pub fn spawn_in(dir: TempDir, env: &[(&str, &str)]) -> Daemon {
        let socket = dir.path().join("stockd.sock");
        let config = dir.path().join("stockd.toml");
        std::fs::write(&config, "").expect("write config");
        let log = dir.path().join("stockd.log");
        let mut d = Daemon {
            dir,
            socket,
            child: None,
            log,
        };
        d.respawn(env);
        d
    }

    /// Starts the daemon (again) on the same socket.
    pub fn respawn(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut cmd = Command::new(stockd_bin());
        cmd.arg("--config")
            .arg(self.dir.path().join("stockd.toml"))
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("STOCKD_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        self.child = Some(cmd.spawn().expect("spawn stockd"));
    }

    pub async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("stockd exited with {status}:\n{}", self.log_text());
                }
            }
            if let Ok(c) = conn::connect(&self.socket).await {
                if StockdClient::info(&c).await.is_ok() {
                    return;
                }
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "stockd not ready after {READY_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the daemon (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn client(&self) -> Client {
        conn::connect(&self.socket)
            .await
            .expect("connect to the test daemon")
    }

    pub async fn status(&self) -> AdminStatus {
        StockdClient::status(&self.client().await)
            .await
            .expect("admin.status")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- stockd log ---\n{}", self.log_text());
        }
    }
}

/// The effective uid of this process (from /proc, no libc needed).
pub fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("Uid line")
}

/// `setpriv` arguments that run a command as `nobody` (65534), which the
/// daemon does not admit to admin methods. Needs root.
pub fn as_nobody() -> Vec<&'static str> {
    assert_eq!(
        euid(),
        0,
        "this test runs a command as user nobody through setpriv and must run as root \
         (CI does); it checks that a non-admin peer gets exit code 1 / the refusal"
    );
    vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
}
