//! `GET /metrics`, scraped from the socket and from the optional TCP
//! listener (`[metrics] listen`), parsed by a real Prometheus parser (the
//! Python `prometheus_client` text parser, Debian's
//! python3-prometheus-client) and checked against what the daemon says in
//! `admin.status` and `market.info`. The parser is first shown to reject a
//! malformed exposition, so a malformed scrape cannot pass.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use stockd_tests::cluster::free_port;
use stockd_tests::{inspect, Daemon};

/// Parses an exposition on stdin with prometheus_client and prints
/// `{family: {"type", "samples": [[name, labels, value]]}}` as JSON; exits
/// non-zero on anything the parser or the checks below refuse.
const PARSE: &str = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
out = {}
for fam in text_string_to_metric_families(text):
    if fam.name in out:
        sys.exit("family %s twice" % fam.name)
    if fam.type == "unknown":
        sys.exit("family %s has no # TYPE" % fam.name)
    samples = []
    for s in fam.samples:
        if math.isnan(s.value):
            sys.exit("%s%r is NaN" % (s.name, s.labels))
        samples.append([s.name, s.labels, s.value])
    out[fam.name] = {"type": fam.type, "samples": samples}
# Histograms: buckets rise with le and end with +Inf == _count.
for name, fam in out.items():
    if fam["type"] != "histogram":
        continue
    series = {}
    for n, labels, v in fam["samples"]:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "count": None})
        if n.endswith("_bucket"):
            series[key]["buckets"].append((float(labels["le"]), v))
        elif n.endswith("_count"):
            series[key]["count"] = v
    for key, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            sys.exit("%s %r: no +Inf bucket" % (name, key))
        if any(b[i][1] > b[i + 1][1] or b[i][0] >= b[i + 1][0] for i in range(len(b) - 1)):
            sys.exit("%s %r: buckets not cumulative: %r" % (name, key, b))
        if b[-1][1] != s["count"]:
            sys.exit("%s %r: +Inf %r != count %r" % (name, key, b[-1][1], s["count"]))
json.dump(out, sys.stdout)
"#;

/// The Python with prometheus_client: Debian's /usr/bin/python3 first (a
/// pyenv or venv python3 on PATH does not see Debian's modules).
fn python() -> Result<&'static str> {
    for py in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(py)
            .args(["-c", "import prometheus_client.parser"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py);
        }
    }
    bail!(
        "no python3 with prometheus_client: apt-get install python3-prometheus-client (tests/run does)"
    )
}

type Families = BTreeMap<String, Value>;

fn parse(text: &str) -> Result<std::result::Result<Families, String>> {
    use std::io::Write;
    let mut child = Command::new(python()?)
        .args(["-c", PARSE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting python3")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(Ok(serde_json::from_slice(&out.stdout)?))
}

/// `curl ARGS URL`: (content type, body).
fn curl(args: &[&str], url: &str) -> Result<(String, String)> {
    let out = Command::new("curl")
        .args(["-q", "-sS", "--fail", "--max-time", "20"])
        .args(args)
        .args(["-w", "\n%{content_type}", url])
        .output()
        .context("running curl")?;
    ensure!(
        out.status.success(),
        "curl {url}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let (body, ctype) = text.rsplit_once('\n').context("no content type line")?;
    Ok((ctype.to_string(), body.to_string()))
}

/// The value of the sample `name` with exactly `labels`.
fn sample(f: &Families, family: &str, name: &str, labels: &[(&str, &str)]) -> Result<f64> {
    let fam = f
        .get(family)
        .with_context(|| format!("no family {family}"))?;
    let want: BTreeMap<&str, &str> = labels.iter().copied().collect();
    for s in fam["samples"].as_array().context("samples")? {
        let got: BTreeMap<&str, &str> = s[1]
            .as_object()
            .context("labels")?
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
            .collect();
        if s[0] == name && got == want {
            return s[2].as_f64().context("value");
        }
    }
    bail!("no sample {name}{labels:?} in {family}")
}

#[test]
fn the_parser_rejects_a_malformed_exposition() -> Result<()> {
    for bad in [
        "# TYPE x counter\nx{a=\"1\" 3\n",
        "# TYPE x gauge\nx one\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_count 3\nh_sum 1\n",
    ] {
        ensure!(
            parse(bad)?.is_err(),
            "the parser accepted a malformed exposition: {bad:?}"
        );
    }
    ensure!(parse("# TYPE x gauge\nx 1\n")?.is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_socket_and_over_tcp_parse_and_agree() -> Result<()> {
    let port = free_port()?;
    let d = Daemon::builder()
        .config(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"))
        .start()
        .await?;
    let info = d.call("market.info", json!({})).await?;
    let u = inspect::Universe::discover(&d).await?;
    for code in u.codes.iter().take(3) {
        d.call("stock.get", json!({"code": code})).await?;
    }
    d.call("hotspots.ranking", json!({})).await?;
    d.call("hotspots.ranking", json!({})).await?;
    let bad = d
        .try_call("stock.get", json!({"code": "no-such-code"}))
        .await?;
    ensure!(bad.is_err(), "an unknown code was served");

    let socket = d.socket().to_str().context("socket path")?;
    let (ctype, text) = curl(&["--unix-socket", socket], "http://localhost/metrics")?;
    ensure!(
        ctype == "text/plain; version=0.0.4; charset=utf-8",
        "content type {ctype:?}"
    );
    let f = parse(&text)?.map_err(|e| anyhow::anyhow!("{e}\n--- scraped ---\n{text}"))?;
    println!(
        "socket scrape: {} bytes, {} families, {} samples",
        text.len(),
        f.len(),
        f.values()
            .map(|v| v["samples"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    );

    let status = inspect::status(&d).await?;
    // Requests per method, errors, latency histogram.
    let gets = sample(
        &f,
        "stockd_requests",
        "stockd_requests_total",
        &[("method", "stock.get")],
    )?;
    ensure!(gets == 4.0, "stock.get requests {gets}");
    let errs = sample(
        &f,
        "stockd_request_errors",
        "stockd_request_errors_total",
        &[("method", "stock.get")],
    )?;
    ensure!(errs == 1.0, "stock.get errors {errs}");
    let count = sample(
        &f,
        "stockd_request_duration_seconds",
        "stockd_request_duration_seconds_count",
        &[("method", "stock.get")],
    )?;
    ensure!(count == 4.0, "stock.get histogram count {count}");
    ensure!(f["stockd_request_duration_seconds"]["type"] == "histogram");
    // Caches: every cache, with its cap; hotspots hit once.
    for c in &status.caches {
        let cap = sample(
            &f,
            "stockd_cache_max_bytes",
            "stockd_cache_max_bytes",
            &[("cache", &c.name)],
        )?;
        ensure!(
            cap == c.max_bytes as f64,
            "{}: cap {cap} vs {}",
            c.name,
            c.max_bytes
        );
    }
    let hits = sample(
        &f,
        "stockd_cache_hits",
        "stockd_cache_hits_total",
        &[("cache", "hotspots")],
    )?;
    ensure!(hits >= 1.0, "hotspots hits {hits}");
    for family in [
        "stockd_cache_bytes",
        "stockd_cache_entries",
        "stockd_cache_misses",
        "stockd_cache_evictions",
    ] {
        ensure!(f.contains_key(family), "no {family}");
    }
    // Memory and the governor.
    let rss = sample(
        &f,
        "stockd_memory_rss_bytes",
        "stockd_memory_rss_bytes",
        &[],
    )?;
    ensure!(rss > 1e6, "rss {rss}");
    let budget = sample(
        &f,
        "stockd_memory_budget_bytes",
        "stockd_memory_budget_bytes",
        &[],
    )?;
    ensure!(
        budget == status.memory.limit_bytes as f64,
        "budget {budget}"
    );
    let source = sample(
        &f,
        "stockd_memory_budget_info",
        "stockd_memory_budget_info",
        &[("source", &status.memory.budget_source)],
    )?;
    ensure!(source == 1.0 && !status.memory.budget_source.is_empty());
    let ok = sample(
        &f,
        "stockd_memory_state",
        "stockd_memory_state",
        &[("state", &status.memory.state)],
    )?;
    ensure!(ok == 1.0, "memory state {}", status.memory.state);
    // The store.
    let rows = sample(&f, "stockd_store_rows", "stockd_store_rows", &[])?;
    ensure!(
        rows == info["rows"].as_f64().unwrap_or(-1.0),
        "rows {rows} vs {info}"
    );
    let generation = sample(
        &f,
        "stockd_store_generation",
        "stockd_store_generation",
        &[],
    )?;
    ensure!(generation == status.store.generation as f64);
    let age = sample(
        &f,
        "stockd_store_age_seconds",
        "stockd_store_age_seconds",
        &[],
    )?;
    ensure!((0.0..600.0).contains(&age), "store age {age}");
    ensure!(sample(&f, "stockd_loads", "stockd_loads_total", &[])? >= 1.0);
    // Pool, source, watchdog: present (the demo source has no pool).
    for family in [
        "stockd_pool_connections",
        "stockd_pool_timeouts",
        "stockd_pool_errors",
        "stockd_load_failures",
        "stockd_load_seconds",
        "stockd_source_healthy",
        "stockd_watchdog_pings",
        "stockd_store_bytes",
        "stockd_uptime_seconds",
    ] {
        ensure!(f.contains_key(family), "no {family}");
    }

    // The TCP listener serves the same families, and nothing else.
    let (ctype, tcp_text) = curl(&[], &format!("http://127.0.0.1:{port}/metrics"))?;
    ensure!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let tcp = parse(&tcp_text)?.map_err(|e| anyhow::anyhow!("{e}\n--- scraped ---\n{tcp_text}"))?;
    ensure!(
        tcp.keys().collect::<Vec<_>>() == f.keys().collect::<Vec<_>>(),
        "the two scrapes differ in families"
    );
    let other = Command::new("curl")
        .args(["-q", "-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()?;
    ensure!(
        String::from_utf8_lossy(&other.stdout) == "404",
        "GET / on the metrics port: {}",
        String::from_utf8_lossy(&other.stdout)
    );
    println!(
        "tcp scrape on 127.0.0.1:{port}: {} bytes, {} families",
        tcp_text.len(),
        tcp.len()
    );
    Ok(())
}

#[test]
fn a_remote_listen_address_needs_allow_remote() -> Result<()> {
    let dir = stockd_tests::TempDir::new("stockd-metrics")?;
    let config = dir.path().join("stockd.toml");
    let check = |text: &str| -> Result<(bool, String)> {
        std::fs::write(&config, text)?;
        let mut cmd = Command::new(stockd_tests::daemon::stockd_bin()?);
        stockd_tests::daemon::clear_inherited_env(&mut cmd);
        let out = cmd
            .arg("--config")
            .arg(&config)
            .arg("--check-config")
            .output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    let (ok, err) = check("[metrics]\nlisten = \"0.0.0.0:9464\"\n")?;
    ensure!(!ok, "a non-loopback listen address was accepted");
    for needle in [
        "metrics.listen",
        "0.0.0.0:9464",
        "loopback",
        "metrics.allow_remote",
    ] {
        ensure!(
            err.contains(needle),
            "the refusal does not mention {needle:?}: {err}"
        );
    }
    let (ok, err) = check("[metrics]\nlisten = \"localhost\"\n")?;
    ensure!(!ok && err.contains("127.0.0.1:9464"), "{err}");
    let (ok, err) = check("[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n")?;
    ensure!(ok, "allow_remote = true should accept it: {err}");
    let (ok, err) = check("[metrics]\nlisten = \"[::1]:9464\"\n")?;
    ensure!(ok, "::1 is loopback: {err}");
    Ok(())
}
