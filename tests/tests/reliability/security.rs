//! Reliability scenarios: security.
//!
//! - "security: socket": `server.socket_mode` and `server.socket_group` set
//!   the socket file's mode and group; a process of another uid without
//!   group access cannot connect (EACCES); one in the socket's group but not
//!   admin is served data and refused (1007) every admin method; root and a
//!   member of an admin group are admitted. Other users are made with
//!   `setpriv` (uid 65533, which has no name); the two groups are created
//!   for the run with `groupadd` and removed after it.
//! - "caps: at the boundary": request body, batch, subscriptions, `codes`,
//!   `n`, `fields`, name length, and the history span served while memory
//!   is critical: each at its cap is served and one over is refused naming
//!   the cap.
//! - "security: systemd exposure": `systemd-analyze security --offline=yes`
//!   on systemd/stockd.service stays at or below 1.5.
//!
//! Helpers used by input.rs too (running the binary, running as another
//! user) live here.

use crate::report::{Report, Scenario};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use stockd_api::{limits, StockdSubscriptions};
use stockd_tests::accounts::TestGroup;
use stockd_tests::daemon::stockd_bin;
use stockd_tests::util::run_as;
use stockd_tests::{Daemon, RpcError, TempDir};

/// A uid and gid with no name on the system and no rights anywhere.
pub(crate) const STRANGER: u32 = 65533;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("security: socket", Duration::from_secs(120), socket),
        Scenario::new("caps: at the boundary", Duration::from_secs(120), caps),
        Scenario::new(
            "security: systemd exposure",
            Duration::from_secs(60),
            exposure,
        ),
    ]
}

// ---------------------------------------------------------------- helpers

/// What one run of the `stockd` binary did.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit code; `None` if it was still running at the deadline (killed).
    pub code: Option<i32>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The stderr lines that are not log lines (`stockd: …`).
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("stockd: "))
            .collect()
    }
}

/// Runs `stockd args` with `config` as its config file (in `dir`), the
/// given `STOCKD_*` environment only, optionally as `user` (uid, gid), and
/// kills it after `deadline`.
pub(crate) async fn run_stockd(
    dir: &Path,
    config: &str,
    args: &[String],
    env: &[(String, String)],
    user: Option<(u32, u32)>,
    deadline: Duration,
) -> Result<Run> {
    let bin = stockd_bin()?;
    let config_path = dir.join("stockd.toml");
    std::fs::write(&config_path, config)?;
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644))?;
    let mut cmd = match user {
        Some((uid, gid)) => {
            let mut c = tokio::process::Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(&bin);
            c
        }
        None => tokio::process::Command::new(&bin),
    };
    cmd.arg("--config").arg(&config_path).args(args);
    stockd_tests::daemon::clear_inherited_env(cmd.as_std_mut());
    cmd.env_remove("RUNTIME_DIRECTORY")
        .env_remove("XDG_RUNTIME_DIR")
        .env("HOME", "/");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().context("spawning stockd")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let code = match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => Some(status?.code().unwrap_or(-1)),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let elapsed = started.elapsed();
    let stderr = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .map(|r| r.unwrap_or_default())
        .unwrap_or_default();
    Ok(Run {
        code,
        stderr,
        elapsed,
    })
}

/// Connects to the socket as `uid`/`gid`/`groups` with Python and sends one
/// JSON-RPC call over HTTP: `Err(errno)` if the connect failed, else the
/// response document.
async fn call_as(
    uid: u32,
    gid: u32,
    groups: &[u32],
    socket: &Path,
    method: &str,
    params: Value,
) -> Result<Result<Value, i64>> {
    const PY: &str = r#"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect_errno": e.errno, "error": str(e)}))
    sys.exit(0)
body = sys.argv[2].encode()
s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
buf = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    buf += c
head, _, rest = buf.partition(b"\r\n\r\n")
if b"chunked" in head.lower():
    out = b""
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        out += rest[:n]
        rest = rest[n + 2:]
    rest = out
print(rest.decode())
"#;
    let body = Daemon::request(method, &params, 7).to_string();
    let socket = socket.to_str().context("socket path is not UTF-8")?;
    let out = run_as(
        uid,
        gid,
        groups,
        "/usr/bin/python3",
        &["-I", "-c", PY, socket, &body],
    )
    .await?;
    if !out.status.success() {
        bail!(
            "python as uid {uid} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))?;
    if let Some(errno) = doc.get("connect_errno").and_then(Value::as_i64) {
        return Ok(Err(errno));
    }
    Ok(Ok(doc))
}

fn admin_calls() -> Vec<(&'static str, Value)> {
    vec![
        ("admin.status", json!({})),
        ("cache.clear", json!({})),
        (
            "cache.resize",
            json!({"name": "signals", "max_bytes": "1MiB"}),
        ),
        ("store.reload", json!({})),
        ("memory.trim", json!({})),
    ]
}

fn short(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------- socket

async fn socket(report: Report) -> Result<()> {
    let sock_group = TestGroup::create("stkdsock")?;
    let admin_group = TestGroup::create("stkdadm")?;

    // Default group: the daemon's own (root here).
    let d = Daemon::builder().start().await?;
    let meta = std::fs::metadata(d.socket())?;
    let own_gid = nix::unistd::getegid().as_raw();
    report.check(
        "default socket: mode 0660, group = the daemon's own",
        format!(
            "mode {:04o}, gid {} (daemon gid {own_gid})",
            meta.mode() & 0o777,
            meta.gid()
        ),
        meta.mode() & 0o777 == 0o660 && meta.gid() == own_gid,
    );
    drop(d);

    // Configured mode and group.
    let config = format!(
        "[server]\nsocket_mode = \"0660\"\nsocket_group = \"{}\"\nadmin_groups = [\"{}\"]\n",
        sock_group.name, admin_group.name
    );
    let d = match Daemon::builder()
        .config(&config)
        .ready_timeout(Duration::from_secs(60))
        .start()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            report.check(
                "server.socket_group accepted and applied",
                format!(
                    "the daemon did not start: {}",
                    short(
                        format!("{e:#}")
                            .lines()
                            .find(|l| l.starts_with("stockd: "))
                            .unwrap_or(&format!("{e:#}"))
                    )
                ),
                false,
            );
            return Ok(());
        }
    };
    std::fs::set_permissions(d.dir(), std::fs::Permissions::from_mode(0o755))?;
    let meta = std::fs::metadata(d.socket())?;
    report.check(
        "socket_mode 0660 + socket_group: file mode and group as configured",
        format!(
            "mode {:04o}, gid {} ({} = {})",
            meta.mode() & 0o777,
            meta.gid(),
            sock_group.name,
            sock_group.gid
        ),
        meta.mode() & 0o777 == 0o660 && meta.gid() == sock_group.gid,
    );

    // Another uid, no group access: the kernel refuses the connect.
    let r = call_as(
        STRANGER,
        STRANGER,
        &[],
        d.socket(),
        "market.info",
        json!({}),
    )
    .await?;
    report.check(
        "uid 65533 without the socket's group cannot connect",
        match &r {
            Err(errno) => format!("connect errno {errno} (EACCES = 13)"),
            Ok(doc) => format!("connected and answered {}", short(&doc.to_string())),
        },
        r == Err(13),
    );

    // In the socket's group, not admin: data served, admin forbidden.
    let member = [sock_group.gid];
    let r = call_as(
        STRANGER,
        STRANGER,
        &member,
        d.socket(),
        "market.dates",
        json!({}),
    )
    .await?;
    let served = matches!(&r, Ok(doc) if doc["result"].as_array().is_some_and(|a| !a.is_empty()));
    report.check(
        "uid 65533 in the socket's group connects and gets data",
        match &r {
            Err(errno) => format!("connect errno {errno}"),
            Ok(doc) => format!(
                "market.dates: {} dates",
                doc["result"].as_array().map_or(0, Vec::len)
            ),
        },
        served,
    );
    let mut refused = 0;
    let mut wrong = Vec::new();
    for (method, params) in admin_calls() {
        let r = call_as(STRANGER, STRANGER, &member, d.socket(), method, params).await?;
        let e = r.as_ref().ok().and_then(RpcError::from_response);
        match e {
            Some(e) if e.code == 1007 && e.message.contains(method) => refused += 1,
            _ => wrong.push(format!("{method}: {}", short(&format!("{r:?}")))),
        }
    }
    report.check(
        "same process: every admin method answers 1007 forbidden naming it",
        if wrong.is_empty() {
            format!("{refused}/{} refused", admin_calls().len())
        } else {
            wrong.join("; ")
        },
        wrong.is_empty(),
    );

    // Root and a member of an admin group (primary gid) are admitted.
    let root = d.try_call("admin.status", json!({})).await?;
    report.check(
        "root: admin.status served",
        match &root {
            Ok(_) => "served".to_string(),
            Err(e) => e.to_string(),
        },
        root.is_ok(),
    );
    let r = call_as(
        STRANGER,
        admin_group.gid,
        &[admin_group.gid, sock_group.gid],
        d.socket(),
        "admin.status",
        json!({}),
    )
    .await?;
    let ok = matches!(&r, Ok(doc) if doc.get("result").is_some());
    report.check(
        "uid 65533 with the admin group: admin.status served",
        match &r {
            Err(errno) => format!("connect errno {errno}"),
            Ok(doc) if ok => "served".to_string(),
            Ok(doc) => short(&doc.to_string()),
        },
        ok,
    );
    drop(d);

    // An unknown socket group: a clear error, non-zero exit.
    let dir = TempDir::new("stockd-sec")?;
    let missing = "no-such-group-stockd";
    let run = run_stockd(
        dir.path(),
        &format!("[server]\nsocket_group = \"{missing}\"\n"),
        &[
            "--socket".into(),
            dir.path().join("s.sock").display().to_string(),
        ],
        &[],
        None,
        Duration::from_secs(30),
    )
    .await?;
    let lines = run.error_lines();
    report.check(
        "socket_group naming no group: exits non-zero naming it",
        format!(
            "exit {:?} in {:.1} s: {}",
            run.code,
            run.elapsed.as_secs_f64(),
            short(&lines.join(" / "))
        ),
        matches!(run.code, Some(c) if c != 0)
            && lines.len() == 1
            && lines[0].contains(missing)
            && lines[0].contains("socket_group"),
    );
    Ok(())
}

// ---------------------------------------------------------------- caps

/// Code, message and data of a jsonrpsee client error.
fn client_error(e: &jsonrpsee::core::ClientError) -> Option<(i32, String)> {
    match e {
        jsonrpsee::core::ClientError::Call(obj) => Some((
            obj.code(),
            format!(
                "{} {}",
                obj.message(),
                obj.data().map(|d| d.get()).unwrap_or_default()
            ),
        )),
        _ => None,
    }
}

fn outcome(r: &Result<Value, RpcError>) -> String {
    match r {
        Ok(v) => format!("served ({} bytes)", v.to_string().len()),
        Err(e) => format!("{} {}", e.code, short(&e.text())),
    }
}

fn refused_naming(r: &Result<Value, RpcError>, needles: &[&str]) -> bool {
    matches!(r, Err(e) if e.code != -32603 && needles.iter().all(|n| e.text().contains(n)))
}

async fn caps(report: Report) -> Result<()> {
    let d = Daemon::demo().await?;
    let u = stockd_tests::inspect::Universe::discover(&d).await?;
    let code = u.codes.first().context("no codes")?.clone();

    // Request body: default max_request_bytes 65536.
    let max = 65536usize;
    let mut at = serde_json::to_vec(&Daemon::request("market.dates", &Value::Null, 1))?;
    at.resize(max, b' ');
    let r = d.http(&at).await?;
    let doc: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    report.check(
        "request body of exactly max_request_bytes (65536) is served",
        format!(
            "HTTP {}, {}",
            r.status,
            if doc.get("result").is_some() {
                "result"
            } else {
                "no result"
            }
        ),
        r.status == 200 && doc.get("result").is_some(),
    );
    at.push(b' ');
    let r = d.http(&at).await?;
    let text = r.body.clone();
    report.check(
        "65537 bytes: HTTP 413 naming 65537 and 65536",
        format!("HTTP {}: {}", r.status, short(&text)),
        r.status == 413
            && text.contains("65537")
            && (text.contains("65536") || text.contains("64 KiB")),
    );

    // Batch.
    let batch = |n: u64| -> Result<Vec<u8>> {
        let calls: Vec<Value> = (0..n)
            .map(|i| Daemon::request("market.info", &Value::Null, i))
            .collect();
        Ok(serde_json::to_vec(&calls)?)
    };
    let cap = u64::from(limits::MAX_BATCH);
    let (_, doc) = d.raw(&batch(cap)?).await?;
    let n_ok = doc.as_array().map_or(0, |a| {
        a.iter().filter(|r| r.get("result").is_some()).count()
    });
    report.check(
        format!("batch of {cap} calls served"),
        format!("{n_ok} results"),
        n_ok as u64 == cap,
    );
    let (status, doc) = d.raw(&batch(cap + 1)?).await?;
    let doc1 = match &doc {
        Value::Array(a) if a.len() == 1 => a[0].clone(),
        other => other.clone(),
    };
    let e = RpcError::from_response(&doc1);
    report.check(
        format!("batch of {} refused naming {cap}", cap + 1),
        format!(
            "HTTP {status}: {}",
            e.as_ref()
                .map_or(short(&doc.to_string()), |e| short(&e.to_string()))
        ),
        e.is_some_and(|e| e.text().contains(&cap.to_string())),
    );

    // Subscriptions per connection.
    let ws = d.ws().await?;
    let mut subs = Vec::new();
    let mut first_err = None;
    for _ in 0..limits::MAX_SUBSCRIPTIONS_PER_CONNECTION {
        match StockdSubscriptions::subscribe_status(&ws, Some(60_000)).await {
            Ok(s) => subs.push(s),
            Err(e) => {
                first_err = Some(e.to_string());
                break;
            }
        }
    }
    let fifth = StockdSubscriptions::subscribe_status(&ws, Some(60_000)).await;
    let fifth_text = match &fifth {
        Ok(_) => "accepted".to_string(),
        Err(e) => client_error(e).map_or(e.to_string(), |(c, m)| format!("{c} {}", short(&m))),
    };
    let cap_subs = limits::MAX_SUBSCRIPTIONS_PER_CONNECTION;
    report.check(
        format!(
            "{cap_subs} subscriptions on one connection accepted, the {}th refused",
            cap_subs + 1
        ),
        format!(
            "{} accepted{}; next: {fifth_text}",
            subs.len(),
            first_err
                .map(|e| format!(" (then {e})"))
                .unwrap_or_default()
        ),
        subs.len() == cap_subs as usize
            && fifth.is_err()
            && fifth_text.to_lowercase().contains("subscription"),
    );
    drop(subs);
    drop(ws);

    // stock.many codes.
    let codes =
        |n: usize| -> Vec<String> { (0..n).map(|i| u.codes[i % u.codes.len()].clone()).collect() };
    let at = d
        .try_call("stock.many", json!({"codes": codes(limits::MAX_CODES)}))
        .await?;
    let over = d
        .try_call("stock.many", json!({"codes": codes(limits::MAX_CODES + 1)}))
        .await?;
    report.check(
        format!(
            "stock.many: {} codes served, {} refused naming {}",
            limits::MAX_CODES,
            limits::MAX_CODES + 1,
            limits::MAX_CODES
        ),
        format!("{} / {}", outcome(&at), outcome(&over)),
        at.is_ok() && refused_naming(&over, &[&limits::MAX_CODES.to_string()]),
    );

    // stock.top n.
    let n = limits::MAX_TOP_N;
    let at = d
        .try_call("stock.top", json!({"by": "close", "n": n}))
        .await?;
    let over = d
        .try_call("stock.top", json!({"by": "close", "n": n + 1}))
        .await?;
    report.check(
        format!("stock.top: n = {n} served, {} refused naming {n}", n + 1),
        format!("{} / {}", outcome(&at), outcome(&over)),
        at.is_ok() && refused_naming(&over, &[&n.to_string(), &(n + 1).to_string()]),
    );

    // fields.
    let f = limits::MAX_FIELDS;
    let at = d
        .try_call(
            "stock.get",
            json!({"code": code, "fields": vec!["close"; f]}),
        )
        .await?;
    let over = d
        .try_call(
            "stock.get",
            json!({"code": code, "fields": vec!["close"; f + 1]}),
        )
        .await?;
    report.check(
        format!("fields: {f} names served, {} refused naming {f}", f + 1),
        format!("{} / {}", outcome(&at), outcome(&over)),
        at.is_ok() && refused_naming(&over, &[&f.to_string()]),
    );

    // Name length: 128 bytes is looked up (unknown stock), 129 refused.
    let l = limits::MAX_NAME_LEN;
    let at = d
        .try_call("stock.get", json!({"code": "7".repeat(l)}))
        .await?;
    let over = d
        .try_call("stock.get", json!({"code": "7".repeat(l + 1)}))
        .await?;
    report.check(
        format!(
            "code of {l} bytes looked up (1001), {} refused naming {l}",
            l + 1
        ),
        format!("{} / {}", outcome(&at), outcome(&over)),
        matches!(&at, Err(e) if e.code == 1001)
            && matches!(&over, Err(e) if e.code != 1001)
            && refused_naming(&over, &[&l.to_string()]),
    );

    drop(d);
    history_cap(&report).await
}

/// The history span cap applies while memory is critical: a database of 65
/// dates (the demo holds fewer than the cap), served once with no budget and
/// once with a budget of 3/4 of the RSS the first run had.
async fn history_cap(report: &Report) -> Result<()> {
    let db = stockd_tests::PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let dates: Vec<String> = (1..=31)
        .map(|d| format!("2024-01-{d:02}"))
        .chain((1..=29).map(|d| format!("2024-02-{d:02}")))
        .chain((1..=5).map(|d| format!("2024-03-{d:02}")))
        .collect();
    let refs: Vec<&str> = dates.iter().map(String::as_str).collect();
    // Enough rows that the process is well above the smallest budget
    // (16 MiB) the config allows.
    let stocks = 3000u32;
    db.fill_small("daily_stock_data", stocks, &refs).await?;
    let codes: Vec<String> = (0..stocks).map(|i| format!("{}", 600000 + i)).collect();
    let code = codes[0].clone();
    let cap_h = limits::MAX_HISTORY_DAYS_WHEN_CRITICAL;
    let last = dates[dates.len() - 1].clone();
    let span = |n: usize| json!({"code": code, "from": dates[dates.len() - n], "to": last});
    let many = |n: usize| json!({"codes": codes[..n]});

    let d = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", "0"])
        .start()
        .await?;
    let normal = d.try_call("stock.history", span(cap_h + 1)).await?;
    let rss = stockd_tests::inspect::status(&d).await?.memory.rss_bytes;
    // A budget the process is over from its first sample.
    let limit_mib = (rss * 3 / 4 / (1 << 20)).max(16);
    report.check(
        format!("memory ok: history over {} dates served", cap_h + 1),
        outcome(&normal),
        normal.is_ok(),
    );
    drop(d);

    let d = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", "0"])
        .env("STOCKD_MEMORY_LIMIT", &format!("{limit_mib}MiB"))
        .env("STOCKD_CACHE_SIGNALS_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "1MiB")
        .env("STOCKD_CACHE_QUERY_MAX_BYTES", "1MiB")
        .start()
        .await?;
    let state = stockd_tests::wait_until(
        "memory state critical",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let d = &d;
            async move {
                let s = stockd_tests::inspect::status(d)
                    .await
                    .map_err(|e| e.to_string())?;
                if s.memory.state == "critical" {
                    Ok(s.memory.state)
                } else {
                    Err(format!(
                        "{} (rss {} of {})",
                        s.memory.state, s.memory.rss_bytes, s.memory.limit_bytes
                    ))
                }
            }
        },
    )
    .await?;
    let at = d.try_call("stock.history", span(cap_h)).await?;
    let over = d.try_call("stock.history", span(cap_h + 1)).await?;
    report.check(
        format!(
            "memory {state}: history over {cap_h} dates served, {} refused (overloaded)",
            cap_h + 1
        ),
        format!("{} / {}", outcome(&at), outcome(&over)),
        at.is_ok() && matches!(&over, Err(e) if e.code == 1008),
    );
    let cm = limits::MAX_CODES_WHEN_CRITICAL;
    let at = d.try_call("stock.many", many(cm)).await?;
    let over = d.try_call("stock.many", many(cm + 1)).await?;
    report.check(
        format!(
            "memory critical: stock.many of {cm} codes served, {} refused",
            cm + 1
        ),
        format!("{} / {}", outcome(&at), outcome(&over)),
        at.is_ok() && matches!(&over, Err(e) if e.code == 1008),
    );
    Ok(())
}

// ---------------------------------------------------------------- systemd

async fn exposure(report: Report) -> Result<()> {
    let unit = Path::new(stockd_tests::WORKSPACE_ROOT).join("systemd/stockd.service");
    let out = tokio::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .await
        .context("running systemd-analyze (package systemd; .ci/run installs it)")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .with_context(|| format!("no overall exposure line in:\n{text}"))?;
    let figure: f64 = line
        .rsplit_once(": ")
        .and_then(|(_, after)| after.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no number in {line:?}"))?;
    report.check(
        "systemd-analyze security --offline=yes stockd.service ≤ 1.5",
        format!("exposure {figure}"),
        figure <= 1.5,
    );
    Ok(())
}
