//! The admin methods and their gate, for real.
//!
//! - The gate: the daemon's socket is opened to everyone (mode 0666 in a
//!   0755 directory) and child processes run as `nobody` (uid 65534, via
//!   `setpriv`) call it with curl and with a raw WebSocket: data methods are
//!   served, every admin method answers 1007 "forbidden" naming the method
//!   and the rule, and nothing it asked for happens. `server.admin_uids`
//!   and `server.admin_groups` let exactly the named uid / group in.
//! - `admin.subscribe_status` over the typed WebSocket client: updates at
//!   the interval asked with rising uptime; an interval below 250 ms and a
//!   fifth subscription on one connection are refused.
//! - `memory.trim`, `store.reload` and the per-method request figures of
//!   `admin.status` (exact counts, errors, "other" for unknown methods,
//!   batched calls included).

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use stockd_api::{AdminStatus, ReloadResult, StockdClient, StockdSubscriptions, TrimResult};
use stockd_tests::inspect::{self, cache, requests, Universe, CACHES};
use stockd_tests::procfs::{mib, vm_rss};
use stockd_tests::util::run_as;
use stockd_tests::{Daemon, RpcError};

const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;
/// A uid and gid with no name on the system and no rights anywhere.
const STRANGER: u32 = 65533;
const MIB: u64 = 1024 * 1024;

/// A daemon whose socket anyone may open: mode 0666, in a 0755 directory.
async fn open_daemon(env: &[(&str, &str)], config: &str) -> Result<Daemon> {
    let mut b = Daemon::builder()
        .env("STOCKD_SERVER_SOCKET_MODE", "0666")
        .config(config);
    for (k, v) in env {
        b = b.env(k, v);
    }
    let d = b.start().await?;
    std::fs::set_permissions(d.dir(), std::fs::Permissions::from_mode(0o755))?;
    let mode = std::fs::metadata(d.socket())?.permissions().mode() & 0o777;
    ensure!(mode == 0o666, "socket mode {mode:o}, asked for 0666");
    Ok(d)
}

/// Calls `method` with curl from a process running as `uid`/`gid`.
async fn curl_as(
    uid: u32,
    gid: u32,
    socket: &Path,
    method: &str,
    params: Value,
) -> Result<Result<Value, RpcError>> {
    let body = Daemon::request(method, &params, 7).to_string();
    let socket = socket.to_str().context("socket path is not UTF-8")?;
    let out = run_as(
        uid,
        gid,
        &[],
        "curl",
        &[
            "-q",
            "-sS",
            "--max-time",
            "20",
            "--unix-socket",
            socket,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
            "http://localhost/",
        ],
    )
    .await?;
    ensure!(
        out.status.success(),
        "curl as uid {uid} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "curl as uid {uid}: not JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    if let Some(e) = RpcError::from_response(&doc) {
        return Ok(Err(e));
    }
    doc.get("result")
        .cloned()
        .map(Ok)
        .with_context(|| format!("curl as uid {uid}: no result: {doc}"))
}

/// A WebSocket client in Python's standard library (there is no other
/// without third-party modules): upgrades, sends one JSON-RPC request and
/// prints the first frame the server sends back.
const PY_WS: &str = r#"
import base64, json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    c = s.recv(4096)
    if not c:
        sys.exit("connection closed during the handshake: %r" % buf)
    buf += c
head, rest = buf.split(b"\r\n\r\n", 1)
if not head.startswith(b"HTTP/1.1 101"):
    sys.exit("no upgrade: %r" % head)
payload = sys.argv[2].encode()
mask = os.urandom(4)
n = len(payload)
hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
def read(k):
    global rest
    while len(rest) < k:
        c = s.recv(65536)
        if not c:
            sys.exit("connection closed")
        rest += c
    out, rest = rest[:k], rest[k:]
    return out
h = read(2)
n = h[1] & 0x7f
if n == 126:
    n = int.from_bytes(read(2), "big")
elif n == 127:
    n = int.from_bytes(read(8), "big")
print(read(n).decode())
"#;

/// Sends `admin.subscribe_status` over a WebSocket from a process running
/// as `uid`/`gid`; returns the first answer (the subscription id, or the
/// error).
async fn ws_subscribe_as(uid: u32, gid: u32, socket: &Path) -> Result<Result<Value, RpcError>> {
    let req = Daemon::request("admin.subscribe_status", &json!({"interval_ms": 250}), 3);
    let socket = socket.to_str().context("socket path is not UTF-8")?;
    let out = run_as(
        uid,
        gid,
        &[],
        "/usr/bin/python3",
        &["-I", "-c", PY_WS, socket, &req.to_string()],
    )
    .await?;
    ensure!(
        out.status.success(),
        "python as uid {uid} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))?;
    if let Some(e) = RpcError::from_response(&doc) {
        return Ok(Err(e));
    }
    doc.get("result")
        .cloned()
        .map(Ok)
        .with_context(|| format!("no result: {doc}"))
}

/// Every admin method, with harmless but effective params.
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

/// Checks `r` is "forbidden" naming `method`, the caller and the rule.
fn expect_forbidden(method: &str, uid: u32, r: Result<Value, RpcError>) -> Result<RpcError> {
    let e = match r {
        Ok(v) => bail!("{method} was served to uid {uid}: {v}"),
        Err(e) => e,
    };
    ensure!(e.code == 1007, "{method}: expected 1007 forbidden, got {e}");
    for needle in [
        method,
        &format!("uid {uid}"),
        "root",
        "server.admin_uids",
        "server.admin_groups",
    ] {
        ensure!(
            e.message.contains(needle),
            "{method}: the refusal does not mention {needle:?}: {e}"
        );
    }
    let data = e.data.clone().unwrap_or_default();
    ensure!(
        data["kind"] == "forbidden" && data["value"] == method,
        "{method}: data {data}"
    );
    Ok(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_is_served_data_but_refused_admin() -> Result<()> {
    let d = open_daemon(&[], "").await?;
    let u = Universe::discover(&d).await?;
    d.call("signals.stock", json!({"code": u.codes[0]})).await?;
    let before = inspect::status(&d).await?;
    ensure!(
        cache(&before, "signals")?.entries == 1,
        "{:?}",
        before.caches
    );

    // Data methods are open to anyone who can open the socket.
    let info = curl_as(NOBODY, NOGROUP, d.socket(), "market.info", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("market.info as nobody: {e}"))?;
    ensure!(
        info["rows"] == json!(before.store.rows),
        "market.info as nobody: {info}"
    );
    let row = curl_as(
        NOBODY,
        NOGROUP,
        d.socket(),
        "stock.get",
        json!({"code": u.codes[0]}),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("stock.get as nobody: {e}"))?;
    ensure!(row["code"] == json!(u.codes[0]), "{row}");
    curl_as(
        NOBODY,
        NOGROUP,
        d.socket(),
        "signals.stock",
        json!({"code": u.codes[1]}),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("signals.stock as nobody: {e}"))?;

    // Every admin method is refused, naming the method and the rule.
    for (m, p) in admin_calls() {
        let r = curl_as(NOBODY, NOGROUP, d.socket(), m, p).await?;
        expect_forbidden(m, NOBODY, r)?;
    }
    let r = ws_subscribe_as(NOBODY, NOGROUP, d.socket()).await?;
    expect_forbidden("admin.subscribe_status", NOBODY, r)?;

    // Nothing of what was asked happened; root (this process) passes.
    let after = inspect::status(&d).await?;
    ensure!(
        after.store.generation == before.store.generation,
        "a refused store.reload reloaded: generation {} -> {}",
        before.store.generation,
        after.store.generation
    );
    let (b, a) = (cache(&before, "signals")?, cache(&after, "signals")?);
    ensure!(
        a.max_bytes == b.max_bytes && a.entries == 2,
        "a refused cache.clear / cache.resize had an effect: {b:?} -> {a:?}"
    );
    for (m, _) in admin_calls() {
        let (rb, ra) = (requests(&before, m), requests(&after, m));
        let own = u64::from(m == "admin.status"); // `before` itself
        ensure!(
            ra.errors == rb.errors + 1 && ra.count == rb.count + 1 + own,
            "{m}: the refusal is not counted as one failed call: {rb:?} -> {ra:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_uids_let_exactly_that_uid_in() -> Result<()> {
    let d = open_daemon(&[("STOCKD_SERVER_ADMIN_UIDS", &NOBODY.to_string())], "").await?;
    let s = curl_as(NOBODY, NOGROUP, d.socket(), "admin.status", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("admin.status as an admin uid: {e}"))?;
    let s: AdminStatus = serde_json::from_value(s)?;
    ensure!(s.store.loaded && s.memory.rss_bytes > 0, "{s:?}");
    for (m, p) in admin_calls() {
        if m == "store.reload" {
            continue; // a full reload is covered below, once
        }
        curl_as(NOBODY, NOGROUP, d.socket(), m, p)
            .await?
            .map_err(|e| anyhow::anyhow!("{m} as an admin uid: {e}"))?;
    }
    let r = curl_as(NOBODY, NOGROUP, d.socket(), "store.reload", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("store.reload as an admin uid: {e}"))?;
    ensure!(
        r["generation"] == json!(s.store.generation + 1),
        "store.reload as nobody: {r}"
    );
    let sub = ws_subscribe_as(NOBODY, NOGROUP, d.socket())
        .await?
        .map_err(|e| anyhow::anyhow!("admin.subscribe_status as an admin uid: {e}"))?;
    ensure!(!sub.is_null(), "no subscription id: {sub}");
    // Another uid is still refused, and the message lists the admin uid.
    let r = curl_as(STRANGER, STRANGER, d.socket(), "admin.status", json!({})).await?;
    let e = expect_forbidden("admin.status", STRANGER, r)?;
    ensure!(
        e.message.contains(&NOBODY.to_string()),
        "the rule does not list admin uid {NOBODY}: {e}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_groups_let_members_in() -> Result<()> {
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(NOGROUP))?
        .context("gid 65534 has no name here")?
        .name;
    let d = open_daemon(&[], &format!("[server]\nadmin_groups = [\"{group}\"]\n")).await?;
    // uid nobody, primary group 65534: in the group.
    curl_as(NOBODY, NOGROUP, d.socket(), "admin.status", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("admin.status as a member of {group}: {e}"))?;
    curl_as(NOBODY, NOGROUP, d.socket(), "memory.trim", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("memory.trim as a member of {group}: {e}"))?;
    // The same uid with another primary group (and no supplementary ones):
    // not a member, refused, and the rule names the group.
    let r = curl_as(NOBODY, STRANGER, d.socket(), "admin.status", json!({})).await?;
    let e = expect_forbidden("admin.status", NOBODY, r)?;
    ensure!(
        e.message.contains(&group),
        "the rule does not list {group}: {e}"
    );
    // Data methods for everyone still.
    curl_as(NOBODY, STRANGER, d.socket(), "market.dates", json!({}))
        .await?
        .map_err(|e| anyhow::anyhow!("market.dates: {e}"))?;
    Ok(())
}

/// The JSON-RPC error object of a client error, if it is one.
fn call_error(e: &jsonrpsee::core::client::Error) -> Option<(i32, String)> {
    match e {
        jsonrpsee::core::client::Error::Call(o) => Some((
            o.code(),
            format!(
                "{} {}",
                o.message(),
                o.data().map(|d| d.get().to_string()).unwrap_or_default()
            ),
        )),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_status_pushes_updates() -> Result<()> {
    let d = Daemon::demo().await?;
    let ws = d.ws().await?;
    let mut sub = StockdSubscriptions::subscribe_status(&ws, Some(250)).await?;
    let started = Instant::now();
    let window = Duration::from_millis(2100);
    let mut got: Vec<(Duration, AdminStatus)> = Vec::new();
    while started.elapsed() < window {
        let left = window.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, sub.next()).await {
            Err(_) => break,
            Ok(None) => bail!("the subscription ended after {} updates", got.len()),
            Ok(Some(r)) => got.push((started.elapsed(), r.context("decoding an update")?)),
        }
    }
    let times: Vec<u128> = got.iter().map(|(t, _)| t.as_millis()).collect();
    let uptimes: Vec<u64> = got.iter().map(|(_, s)| s.uptime_s).collect();
    ensure!(
        got.len() >= 3 && got.len() <= 11,
        "{} updates in {window:?} at 250 ms (at ms {times:?})",
        got.len()
    );
    ensure!(
        uptimes.windows(2).all(|w| w[0] <= w[1]) && uptimes.last() > uptimes.first(),
        "uptime does not rise: {uptimes:?} at ms {times:?}"
    );
    // Spaced by the interval (the first comes at once): the median gap is
    // about 250 ms (a busy client may read two at once now and then).
    let mut gaps: Vec<u128> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2];
    ensure!(
        (200..=400).contains(&median),
        "updates are not 250 ms apart: sorted gaps {gaps:?} ms"
    );
    for (_, s) in &got {
        ensure!(
            s.caches.len() == CACHES.len() && s.store.loaded,
            "an update is not a full status: {s:?}"
        );
    }
    sub.unsubscribe().await?;

    // Intervals out of range: refused, naming the value and the minimum.
    for (ms, needles) in [(100u64, ["100", "250"]), (3_600_001, ["3600001", "250"])] {
        match StockdSubscriptions::subscribe_status(&ws, Some(ms)).await {
            Ok(_) => bail!("interval_ms {ms} was accepted"),
            Err(e) => {
                let (code, text) = call_error(&e).with_context(|| format!("interval {ms}: {e}"))?;
                ensure!(code == -32602, "interval {ms}: code {code}: {text}");
                for n in needles {
                    ensure!(
                        text.contains(n),
                        "interval {ms}: {text:?} does not name {n}"
                    );
                }
            }
        }
    }

    // At most 4 subscriptions on one connection; a fifth is refused, and
    // ending one makes room again. Other connections are not affected.
    // (The subscriptions above free their slots when their tasks end, just
    // after the unsubscribe or refusal is answered: poll, within 3 s.)
    let mut subs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    for i in 0..4 {
        let s = loop {
            match StockdSubscriptions::subscribe_status(&ws, Some(60_000)).await {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("subscription {}", i + 1)),
            }
        };
        subs.push(s);
    }
    match StockdSubscriptions::subscribe_status(&ws, Some(60_000)).await {
        Ok(_) => bail!("a fifth subscription on one connection was accepted"),
        Err(e) => {
            let (code, text) = call_error(&e).with_context(|| format!("fifth: {e}"))?;
            ensure!(
                text.to_lowercase().contains("subscriptions"),
                "fifth subscription: {code} {text}"
            );
        }
    }
    let other = d.ws().await?;
    let s = StockdSubscriptions::subscribe_status(&other, Some(60_000))
        .await
        .context("a subscription on another connection")?;
    drop(s);
    subs.pop().context("no subscription")?.unsubscribe().await?;
    // The slot is freed when the subscription's task ends, just after the
    // unsubscribe is answered: poll.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut again = loop {
        match StockdSubscriptions::subscribe_status(&ws, Some(250)).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e).context("a subscription after ending one"),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), again.next())
        .await
        .context("no update on the new subscription")?
        .context("the new subscription ended")??;
    // The connection still serves calls.
    StockdClient::info(&ws).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_trim_sheds_to_half_and_reports_rss() -> Result<()> {
    let d = Daemon::builder()
        .env("STOCKD_CACHE_SIGNALS_MAX_BYTES", "512KiB")
        .env("STOCKD_CACHE_QUERY_MAX_BYTES", "512KiB")
        .env("STOCKD_CACHE_HOTSPOTS_MAX_BYTES", "256KiB")
        .env("STOCKD_CACHE_INDUSTRY_MAX_BYTES", "256KiB")
        .start()
        .await?;
    let pid = d.pid().context("pid")?;
    let u = Universe::discover(&d).await?;
    let mut conn = stockd_tests::keepalive::KeepAlive::connect(d.socket()).await?;
    for i in 0..1500 {
        let date = &u.dates[i % u.dates.len()];
        conn.call(
            "signals.stock",
            &json!({"code": u.codes[i % u.codes.len()], "date": date}),
        )
        .await?;
        conn.call(
            "stock.top",
            &json!({"by": "close", "n": 1 + i % 100, "date": date}),
        )
        .await?;
        if i < 300 {
            conn.call(
                "industry.detail",
                &json!({"industry": u.industries[i % u.industries.len()], "date": date}),
            )
            .await?;
            conn.call("hotspots.ranking", &json!({"date": date, "n": 1 + i % 100}))
                .await?;
        }
    }
    let s0 = inspect::status(&d).await?;
    for c in &s0.caches {
        ensure!(
            c.bytes > c.max_bytes / 2,
            "cache {} not over half: {c:?}",
            c.name
        );
    }
    let proc_before = vm_rss(pid)?;
    let t: TrimResult = serde_json::from_value(d.call("memory.trim", Value::Null).await?)?;
    let proc_after = vm_rss(pid)?;
    let s1 = inspect::status(&d).await?;
    eprintln!(
        "memory.trim: {} -> {} (/proc {} -> {}), {} bytes dropped",
        mib(t.rss_before),
        mib(t.rss_after),
        mib(proc_before),
        mib(proc_after),
        t.cache_bytes_dropped
    );
    let near = |a: u64, b: u64| a.abs_diff(b) <= 16 * MIB;
    ensure!(
        near(t.rss_before, proc_before) && near(t.rss_after, proc_after),
        "memory.trim reported {t:?}; /proc said {proc_before} before and {proc_after} after"
    );
    ensure!(
        t.rss_after <= t.rss_before + MIB,
        "RSS grew across a trim: {t:?}"
    );
    let mut dropped = 0;
    for c in &s1.caches {
        let was = cache(&s0, &c.name)?;
        ensure!(
            c.bytes <= c.max_bytes / 2 && c.max_bytes == was.max_bytes,
            "after memory.trim {}: {was:?} -> {c:?}",
            c.name
        );
        dropped += was.bytes - c.bytes;
    }
    ensure!(
        t.cache_bytes_dropped == dropped,
        "memory.trim says it dropped {} bytes; the caches lost {dropped}",
        t.cache_bytes_dropped
    );
    // Memory is ok, so the caps are whole again at once: the signals cache
    // fills past half.
    ensure!(s1.memory.state == "ok", "{:?}", s1.memory);
    for i in 0..1500 {
        conn.call(
            "signals.stock",
            &json!({"code": u.codes[(i + 11) % u.codes.len()], "date": u.latest()}),
        )
        .await?;
    }
    let s2 = inspect::status(&d).await?;
    let sig = cache(&s2, "signals")?;
    ensure!(
        sig.bytes > sig.max_bytes / 2,
        "after a trim at ok the cap should be whole again: {sig:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_reload_answers_the_next_generation() -> Result<()> {
    let d = Daemon::demo().await?;
    let info0 = d.call("market.info", Value::Null).await?;
    let g0 = info0["generation"].as_u64().context("generation")?;
    let r: ReloadResult = serde_json::from_value(d.call("store.reload", Value::Null).await?)?;
    ensure!(
        r.generation == g0 + 1 && r.rows == info0["rows"].as_u64().unwrap_or(0),
        "store.reload answered {r:?}; market.info said generation {g0}, rows {}",
        info0["rows"]
    );
    let info1 = d.call("market.info", Value::Null).await?;
    ensure!(
        info1["generation"] == json!(g0 + 1) && info1["loaded_at"] != info0["loaded_at"],
        "market.info after reload: {} / {}",
        info1["generation"],
        info1["loaded_at"]
    );
    let s = inspect::status(&d).await?;
    ensure!(
        s.store.generation == g0 + 1 && s.store.rows == r.rows,
        "admin.status store after reload: {:?}",
        s.store
    );
    // Over the typed client too, and again.
    let ws = d.ws().await?;
    let r2 = StockdClient::store_reload(&ws).await?;
    ensure!(r2.generation == g0 + 2, "second reload: {r2:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_count_every_call_by_method() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let s1 = inspect::status(&d).await?;
    let mut conn = stockd_tests::keepalive::KeepAlive::connect(d.socket()).await?;
    for _ in 0..3 {
        conn.call("market.info", &Value::Null).await?;
    }
    for code in u.codes.iter().take(4) {
        conn.call("stock.get", &json!({"code": code})).await?;
    }
    for bad in ["999999", "nope"] {
        let r = conn.try_call("stock.get", &json!({"code": bad})).await?;
        ensure!(
            matches!(&r, Err(e) if e.code == 1001),
            "stock.get {bad}: {r:?}"
        );
    }
    for code in u.codes.iter().take(2) {
        conn.call("signals.stock", &json!({"code": code})).await?;
    }
    conn.call("cache.clear", &json!({"name": "query"})).await?;
    for m in ["no.such", "stock.gett", "admin.statuses"] {
        let r = conn.try_call(m, &json!({})).await?;
        match r {
            Err(e) if e.code == -32601 && e.text().contains(m) => {}
            other => bail!("unknown method {m}: {other:?}"),
        }
    }
    // Over the WebSocket too.
    let ws = d.ws().await?;
    StockdClient::info(&ws).await?;
    StockdClient::dates(&ws).await?;
    let s2 = inspect::status(&d).await?;

    let expect: &[(&str, u64, u64)] = &[
        ("market.info", 4, 0),
        ("market.dates", 1, 0),
        ("stock.get", 6, 2),
        ("signals.stock", 2, 0),
        ("cache.clear", 1, 0),
        ("admin.status", 1, 0), // s1 itself is recorded after it answered
        ("other", 3, 3),
        ("hotspots.ranking", 0, 0),
        ("industry.detail", 0, 0),
        ("stock.history", 0, 0),
    ];
    let mut problems = Vec::new();
    for &(m, count, errors) in expect {
        let (a, b) = (requests(&s1, m), requests(&s2, m));
        if b.count - a.count != count || b.errors - a.errors != errors {
            problems.push(format!(
                "{m}: count +{} errors +{} (want +{count} / +{errors}): {a:?} -> {b:?}",
                b.count - a.count,
                b.errors - a.errors
            ));
        }
        if b.count > 0 && (b.p50_us == 0 || b.p50_us > b.p99_us) {
            problems.push(format!("{m}: latency figures {b:?}"));
        }
    }
    // Unknown names never get a slot of their own.
    for r in &s2.requests {
        if r.method != "other" && stockd_api::method(&r.method).is_none() {
            problems.push(format!("a slot for an unknown method: {r:?}"));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_calls_are_counted_and_named_too() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let s1 = inspect::status(&d).await?;
    let batch = json!([
        Daemon::request("market.info", &Value::Null, 1),
        Daemon::request("stock.get", &json!({"code": u.codes[0]}), 2),
        Daemon::request("stock.get", &json!({"code": "999999"}), 3),
        Daemon::request("no.such", &json!({}), 4),
    ]);
    let (status, doc) = d.raw(batch.to_string().as_bytes()).await?;
    let answers = doc
        .as_array()
        .with_context(|| format!("HTTP {status}: {doc}"))?;
    ensure!(answers.len() == 4, "batch answered {doc}");
    let unknown = answers
        .iter()
        .find(|a| a["id"] == json!(4))
        .context("no answer for id 4")?;
    let mut problems = Vec::new();
    let msg = unknown["error"]["message"].as_str().unwrap_or_default();
    if !msg.contains("no.such") {
        problems.push(format!(
            "an unknown method in a batch is not named: {unknown}"
        ));
    }
    let s2 = inspect::status(&d).await?;
    for (m, count, errors) in [("market.info", 1, 0), ("stock.get", 2, 1), ("other", 1, 1)] {
        let (a, b) = (requests(&s1, m), requests(&s2, m));
        if b.count - a.count != count || b.errors - a.errors != errors {
            problems.push(format!(
                "{m} in a batch: count +{} errors +{} (want +{count} / +{errors})",
                b.count - a.count,
                b.errors - a.errors
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
