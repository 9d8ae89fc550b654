//! One real `stockd` process per test: its own temporary directory, socket,
//! config file and stderr log. Started with [`DaemonBuilder::start`], which
//! returns once the socket answers `market.info`; stopped with SIGTERM on
//! drop. The daemon's stderr is printed on drop, which libtest shows only
//! for a failed test.

use crate::http;
use crate::util::{tail, TempDir};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A JSON-RPC error response.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(d) = &self.data {
            write!(f, " (data: {d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// Reads the `error` member of a response document.
    pub fn from_response(doc: &Value) -> Option<RpcError> {
        let e = doc.get("error")?;
        Some(RpcError {
            code: e.get("code")?.as_i64()?,
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            data: e.get("data").cloned(),
        })
    }

    /// Message and data as one string, for "does it name the value" checks.
    pub fn text(&self) -> String {
        match &self.data {
            Some(d) => format!("{} {d}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Path of the `stockd` binary: `STOCKD_BIN` if set, else
/// `target/<profile>/stockd` next to this test executable, (re)built once
/// per test process with `cargo build -p stockd --bin stockd` so it is never
/// stale (cargo releases its build lock while tests run; an up-to-date build
/// is a no-op).
pub fn stockd_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_or_build("stockd", "STOCKD_BIN").map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Path of the `stockctl` binary: `STOCKCTL_BIN` if set, else built and
/// found like [`stockd_bin`].
pub fn stockctl_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_or_build("stockctl", "STOCKCTL_BIN").map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

/// `env_var` if set, else `CARGO_BIN_EXE_<name>` if set, else
/// `target/<profile>/<name>` built from the package of the same name.
fn find_or_build(name: &str, env_var: &str) -> Result<PathBuf> {
    // STOCKD_BIN / STOCKCTL_BIN, else CARGO_BIN_EXE_<name> (tests/run sets
    // it to what `cargo test` built; not a STOCKD_* name, which a daemon
    // started without clearing its environment would refuse as unknown).
    if let Some(p) =
        std::env::var_os(env_var).or_else(|| std::env::var_os(format!("CARGO_BIN_EXE_{name}")))
    {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    // target/<profile>/deps/<test-exe> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target/<profile> directory")?
        .to_path_buf();
    let bin = profile_dir.join(name);
    let target_dir = profile_dir.parent().context("no target directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("debug")
        .to_string();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        name,
        "--bin",
        name,
        "--target-dir",
    ])
    .arg(target_dir)
    .current_dir(crate::WORKSPACE_ROOT);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) if bin.exists() => eprintln!(
            "warning: cargo build of {name} failed, using the existing {}:\n{}",
            bin.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(o) => bail!(
            "cargo build -p {name} --bin {name} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if bin.exists() => {
            eprintln!(
                "warning: cannot run cargo ({e}); using the existing {}",
                bin.display()
            )
        }
        Err(e) => bail!("cannot run cargo to build {name}: {e}"),
    }
    if !bin.exists() {
        bail!("{} does not exist after building", bin.display());
    }
    Ok(bin)
}

/// How to start a daemon.
#[derive(Debug, Default, Clone)]
pub struct DaemonBuilder {
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    config: Option<String>,
    database_url: Option<String>,
    ready_timeout: Option<Duration>,
    stale_socket: bool,
    any_answer: bool,
}

impl DaemonBuilder {
    /// Serve from this database (`--database-url`).
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_string());
        self
    }

    /// An extra command-line argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable (all inherited `STOCKD_*` are removed).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Contents of the TOML file given with `--config` (default: empty, so a
    /// config in /etc never leaks into a test).
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_string());
        self
    }

    /// How long to wait for `market.info` to answer (default 60 s).
    pub fn ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = Some(t);
        self
    }

    /// Count the daemon started once `market.info` answers at all, also
    /// with an error (nothing loaded yet: the database is not reachable).
    pub fn any_answer(mut self) -> Self {
        self.any_answer = true;
        self
    }

    /// Leave a stale socket file (bound, then abandoned) at the path before
    /// starting.
    pub fn stale_socket(mut self) -> Self {
        self.stale_socket = true;
        self
    }

    /// Starts the daemon and waits until it answers `market.info`.
    pub async fn start(self) -> Result<Daemon> {
        let bin = stockd_bin()?;
        let dir = TempDir::new("stockd-test")?;
        let socket = dir.path().join("stockd.sock");
        let config_path = dir.path().join("stockd.toml");
        std::fs::write(&config_path, self.config.as_deref().unwrap_or(""))?;
        let stderr_path = dir.path().join("stderr.log");
        let stdout_path = dir.path().join("stdout.log");
        if self.stale_socket {
            let l = std::os::unix::net::UnixListener::bind(&socket)
                .context("binding the stale socket")?;
            drop(l);
            assert!(
                socket.exists(),
                "stale socket file should remain after close"
            );
        }
        let mut cmd = Command::new(&bin);
        cmd.arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config_path);
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(&self.args);
        clear_inherited_env(&mut cmd);
        cmd.env("RUST_BACKTRACE", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path)?)
            .stderr(std::fs::File::create(&stderr_path)?)
            .current_dir(dir.path());
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let mut d = Daemon {
            child: Some(child),
            socket,
            stderr_path,
            dir,
            exit: None,
        };
        d.wait_ready(
            self.ready_timeout.unwrap_or(Duration::from_secs(60)),
            self.any_answer,
        )
        .await?;
        Ok(d)
    }
}

/// A running `stockd`.
pub struct Daemon {
    child: Option<Child>,
    socket: PathBuf,
    stderr_path: PathBuf,
    dir: TempDir,
    exit: Option<ExitStatus>,
}

impl Daemon {
    pub fn builder() -> DaemonBuilder {
        DaemonBuilder::default()
    }

    /// A daemon on the embedded demo data set.
    pub async fn demo() -> Result<Daemon> {
        Daemon::builder().start().await
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read(&self.stderr_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    async fn wait_ready(&mut self, timeout: Duration, any_answer: bool) -> Result<()> {
        let start = Instant::now();
        let mut last: String;
        loop {
            if let Some(status) = self.try_exit()? {
                bail!(
                    "stockd exited with {status} before answering; stderr:\n{}",
                    tail(&self.stderr(), 60)
                );
            }
            if self.socket.exists() {
                match self.try_call("market.info", Value::Null).await {
                    Ok(Ok(_)) => return Ok(()),
                    Ok(Err(_)) if any_answer => return Ok(()),
                    Ok(Err(e)) => last = e.to_string(),
                    Err(e) => last = format!("{e:#}"),
                }
            } else {
                last = "socket file not there yet".into();
            }
            if start.elapsed() > timeout {
                bail!(
                    "stockd did not answer market.info within {timeout:?} (last: {last}); stderr:\n{}",
                    tail(&self.stderr(), 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn try_exit(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.exit {
            return Ok(Some(s));
        }
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let s = child.try_wait()?;
        self.exit = s;
        Ok(s)
    }

    /// POSTs `body` and returns the HTTP status and the whole response.
    pub async fn http(&self, body: &[u8]) -> Result<http::Response> {
        http::post(&self.socket, body).await
    }

    /// POSTs `body`; returns the status and the body as JSON (a body that is
    /// not JSON comes back as a JSON string holding its text).
    pub async fn raw(&self, body: &[u8]) -> Result<(u16, Value)> {
        let r = self.http(body).await?;
        let v = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body));
        Ok((r.status, v))
    }

    /// The request document for `method` with `params` (`Value::Null` =
    /// no params member).
    pub fn request(method: &str, params: &Value, id: u64) -> Value {
        let mut req = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            req["params"] = params.clone();
        }
        req
    }

    /// Calls `method` over HTTP; the outer error is a transport failure, the
    /// inner one the JSON-RPC error the daemon answered.
    pub async fn try_call(&self, method: &str, params: Value) -> Result<Result<Value, RpcError>> {
        let body = serde_json::to_vec(&Daemon::request(method, &params, 1))?;
        let (status, doc) = self.raw(&body).await?;
        if let Some(e) = RpcError::from_response(&doc) {
            return Ok(Err(e));
        }
        match doc.get("result") {
            Some(r) => Ok(Ok(r.clone())),
            None => bail!("HTTP {status}: response has neither result nor error: {doc}"),
        }
    }

    /// Calls `method`; any failure (transport or JSON-RPC) is an error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.try_call(method, params)
            .await?
            .with_context(|| format!("calling {method}"))
    }

    /// Calls `method` and returns the raw response text of a successful
    /// call (number literals exactly as the daemon wrote them).
    pub async fn call_raw(&self, method: &str, params: Value) -> Result<String> {
        let body = serde_json::to_vec(&Daemon::request(method, &params, 1))?;
        let r = self.http(&body).await?;
        let doc: Value = serde_json::from_str(&r.body)
            .with_context(|| format!("HTTP {}: body is not JSON: {}", r.status, r.body))?;
        if let Some(e) = RpcError::from_response(&doc) {
            return Err(anyhow!(e).context(format!("calling {method} with {params}")));
        }
        Ok(r.body)
    }

    /// A typed jsonrpsee WebSocket client over the Unix socket; implements
    /// `stockd_api::StockdClient` and `stockd_api::StockdClient`.
    pub async fn ws(&self) -> Result<jsonrpsee::ws_client::WsClient> {
        let stream = tokio::net::UnixStream::connect(&self.socket).await?;
        let client = jsonrpsee::ws_client::WsClientBuilder::default()
            .request_timeout(Duration::from_secs(60))
            .build_with_stream("ws://localhost", stream)
            .await
            .context("WebSocket handshake over the Unix socket")?;
        Ok(client)
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal(nix::sys::signal::Signal::SIGTERM)?;
        self.wait_exit(timeout)
    }

    /// Sends a signal to the daemon.
    pub fn signal(&mut self, sig: nix::sys::signal::Signal) -> Result<()> {
        if self.try_exit()?.is_some() {
            return Ok(());
        }
        let pid = self.pid().context("no child")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig)
            .with_context(|| format!("kill -{sig} {pid}"))
    }

    /// Waits for the daemon to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_exit()? {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                bail!(
                    "stockd still running {timeout:?} after the signal; stderr:\n{}",
                    tail(&self.stderr(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `market.info` until `pred` holds on it.
    pub async fn wait_info(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            match self.try_call("market.info", Value::Null).await {
                Ok(Ok(info)) if pred(&info) => return Ok(info),
                Ok(Ok(info)) => last = info.to_string(),
                Ok(Err(e)) => last = e.to_string(),
                Err(e) => last = format!("{e:#}"),
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what}; last market.info: {}\nstderr:\n{}",
                    abbreviate(&last, 2000),
                    tail(&self.stderr(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn abbreviate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let running = matches!(self.try_exit(), Ok(None));
        if running {
            let _ = self.signal(nix::sys::signal::Signal::SIGTERM);
            if self.wait_exit(Duration::from_secs(10)).is_err() {
                if let Some(c) = self.child.as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        // Always printed: libtest captures a test thread's output and shows
        // it only when the test fails (a test returning `Err` drops its
        // daemon before failing, so `thread::panicking()` cannot tell).
        eprintln!(
            "----- stockd stderr ({}) -----\n{}\n----- end of stockd stderr -----",
            self.socket.display(),
            tail(&self.stderr(), 200)
        );
    }
}

/// Removes what a daemon must not inherit from the test's environment:
/// every `STOCKD_*` variable (the developer's own settings) and systemd's
/// notify, socket-activation and watchdog variables.
pub fn clear_inherited_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STOCKD_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("WATCHDOG_USEC");
}
