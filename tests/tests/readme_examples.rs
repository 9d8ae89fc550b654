//! Every recipe in README.md, run for real. Each recipe is the fenced
//! block after a `<!-- example:NAME -->` marker, read from README.md at test
//! time, so a recipe edited into something that no longer works fails here:
//!
//! - `demo` (```sh): the demo run command, through `sh` with a `cargo`
//!   function that accepts exactly `cargo run --release --bin stockd -- ARGS`
//!   and execs the already-built `stockd` with ARGS; the daemon must serve
//!   the demo data on the socket the command names, famous codes included.
//! - `curl` (```sh) and `python` (```python): through `sh -e` and
//!   `python3 -` with `STOCKD_SOCKET` set; each must exit 0 and print a
//!   JSON-RPC result the daemon really holds (or text lines naming stocks it
//!   serves).
//! - `postgres` (```sh): the load-your-own-PostgreSQL recipe, every line
//!   but the last through `sh -e` in a directory holding
//!   `packaging/examples/daily_stock_data.sql` and `target/release/stockd`
//!   (the built binary; `cargo build --release` must be written as such and
//!   is not repeated), with PGHOST/PGPORT/PGUSER pointing at the test's
//!   PostgreSQL and a unique database name in place of `market`; the last
//!   line starts the daemon on that database. The daemon must serve every
//!   demo row equal to PostgreSQL, and an ordinary INSERT must then work.
//! - `stockctl` (```sh): each line through `sh` with the built `stockctl`
//!   first on PATH and `STOCKD_SOCKET` set, against a demo daemon; each must
//!   exit 0 within 60 s and print what the daemon holds.
//!
//! [`every_example_marker_has_a_test`] fails when README.md gains a marker
//! this file does not run, or loses one it does.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use stockd_tests::daemon::{stockctl_bin, stockd_bin};
use stockd_tests::{pg, Daemon, TempDir};

/// The markers README.md holds, each run by a test below.
const EXAMPLES: [&str; 6] = [
    "demo",
    "curl",
    "python",
    "python-async",
    "postgres",
    "stockctl",
];

/// Large caps the demo data holds under their real names and industries,
/// which the README's examples use.
const FAMOUS: [(&str, &str, &str); 3] = [
    ("600519", "贵州茅台", "白酒"),
    ("000001", "平安银行", "银行"),
    ("300750", "宁德时代", "电池"),
];

fn readme() -> Result<String> {
    let path = format!("{}/README.md", stockd_tests::WORKSPACE_ROOT);
    std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
}

/// The body of the fenced block (with info string `lang`) that follows the
/// marker; exactly one marker must exist.
fn example(readme: &str, marker: &str, lang: &str) -> Result<String> {
    let tag = format!("<!-- example:{marker} -->");
    let found = readme.matches(&tag).count();
    ensure!(
        found == 1,
        "README.md must contain {tag} exactly once (found {found})"
    );
    let after = &readme[readme.find(&tag).unwrap_or(0) + tag.len()..];
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().unwrap_or_default().trim();
    let (ticks, info) = fence.split_at(fence.find(|c| c != '`').unwrap_or(fence.len()));
    ensure!(
        ticks.len() >= 3 && info.trim() == lang,
        "{tag} must be followed by a ```{lang} block, found {fence:?}"
    );
    let mut body = Vec::new();
    for l in lines {
        if l.trim_start().starts_with(ticks) && l.trim().trim_start_matches('`').is_empty() {
            return Ok(body.join("\n") + "\n");
        }
        body.push(l);
    }
    bail!("the ```{lang} block after {tag} is not closed")
}

/// Runs `program args` with `script` on stdin and STOCKD_SOCKET set.
fn run(program: &str, args: &[&str], script: &str, daemon: &Daemon) -> Result<String> {
    let mut child = Command::new(program)
        .args(args)
        .env("STOCKD_SOCKET", daemon.socket())
        .current_dir(daemon.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.success(),
        "{program} exited with {}\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// Every JSON object or array in `out`: the whole text, else a stream of
/// values, else each line (bare numbers and strings do not count: a text
/// line such as `107979 rows` starts with one).
fn json_values(out: &str) -> Vec<Value> {
    let structured = |v: &Value| v.is_object() || v.is_array();
    if let Ok(v) = serde_json::from_str::<Value>(out.trim()) {
        return vec![v].into_iter().filter(structured).collect();
    }
    let mut vals: Vec<Value> = serde_json::Deserializer::from_str(out)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .filter(structured)
        .collect();
    if vals.is_empty() {
        vals = out
            .lines()
            .filter_map(|l| serde_json::from_str(l.trim()).ok())
            .filter(structured)
            .collect();
    }
    vals
}

/// The printed output must hold a successful JSON-RPC result (the whole
/// response or just its result) that the daemon really gives: a stock row
/// (checked against `stock.get`), a list of rows (`stock.top`/`stock.many`,
/// first row checked) or `market.info` (row count checked).
async fn check_output(what: &str, out: &str, daemon: &Daemon) -> Result<()> {
    let vals = json_values(out);
    if vals.is_empty() {
        return check_text_output(what, out, daemon).await;
    }
    for v in &vals {
        ensure!(v.get("error").is_none(), "{what} printed an error: {v}");
        let result = v.get("result").unwrap_or(v);
        if result.get("columns").is_some() && result.get("rows").is_some_and(Value::is_u64) {
            let info = daemon.call("market.info", Value::Null).await?;
            ensure!(
                info["rows"] == result["rows"],
                "{what} printed market.info rows {} vs {}",
                result["rows"],
                info["rows"]
            );
            return Ok(());
        }
        let row = match result {
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            Value::Object(o) if o.get("rows").is_some_and(Value::is_array) => o["rows"][0].clone(),
            other => other.clone(),
        };
        if let Some(code) = row.get("code").and_then(Value::as_str) {
            let mut params = json!({"code": code});
            if let Some(date) = row.get("date").and_then(Value::as_str) {
                params["date"] = json!(date);
            }
            let fields: Vec<String> = row
                .get("values")
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            if !fields.is_empty() {
                params["fields"] = json!(fields);
            }
            let truth = daemon.call("stock.get", params).await.with_context(|| {
                format!("{what} printed stock {code:?}, which the daemon does not serve")
            })?;
            if row.get("date").is_some() && row.get("values").is_some() {
                ensure!(
                    truth["values"] == row["values"],
                    "{what} printed values that differ from the daemon's:\n{row}\nvs\n{truth}"
                );
            }
            return Ok(());
        }
    }
    bail!("{what} printed no recognisable stockd result:\n{out}")
}

/// An example that prints text rather than JSON must still show real data:
/// every line that starts with a stock code the daemon serves counts, and
/// at least one such line is required; a printed row count must be the
/// daemon's.
async fn check_text_output(what: &str, out: &str, daemon: &Daemon) -> Result<()> {
    let info = daemon.call("market.info", Value::Null).await?;
    let mut codes = 0;
    for line in out.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if first.len() > 3 && first.chars().all(|c| c.is_ascii_alphanumeric()) {
            let known = daemon
                .try_call(
                    "stock.get",
                    json!({"code": first, "fields": ["stock_code"]}),
                )
                .await?;
            if known.is_ok() {
                codes += 1;
            }
        }
        if line.contains("rows") {
            let rows = info["rows"].to_string();
            ensure!(
                line.contains(&rows),
                "{what} printed {line:?}, but the daemon holds {rows} rows"
            );
        }
    }
    ensure!(
        codes > 0,
        "{what} printed neither JSON nor a line starting with a stock code the daemon serves:\n{out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_example_runs() -> Result<()> {
    let script = example(&readme()?, "curl", "sh")?;
    ensure!(
        script.contains("curl") && script.contains("STOCKD_SOCKET"),
        "the curl example should use curl and $STOCKD_SOCKET:\n{script}"
    );
    let daemon = Daemon::demo().await?;
    let out = run("sh", &["-e"], &script, &daemon)?;
    check_output("the curl example", &out, &daemon).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_python_example_runs() -> Result<()> {
    let script = example(&readme()?, "python", "python")?;
    ensure!(
        script.contains("STOCKD_SOCKET"),
        "the Python example should read $STOCKD_SOCKET:\n{script}"
    );
    let daemon = Daemon::demo().await?;
    let out = run("python3", &["-"], &script, &daemon)?;
    check_output("the Python example", &out, &daemon).await
}

/// The asyncio example prints `date industry avg_pct_change` for the three
/// hottest industries, the average parsed as `Decimal`: each line must be
/// the daemon's own answer, digit for digit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_python_async_example_runs() -> Result<()> {
    let script = example(&readme()?, "python-async", "python")?;
    ensure!(
        script.contains("asyncio") && script.contains("STOCKD_SOCKET"),
        "the asyncio example should use asyncio and read $STOCKD_SOCKET:\n{script}"
    );
    let daemon = Daemon::demo().await?;
    let out = run("python3", &["-"], &script, &daemon)?;
    let ranking = daemon.call("hotspots.ranking", json!({"n": 3})).await?;
    let date = ranking["date"].as_str().context("ranking date")?;
    let want: Vec<String> = ranking["industries"]
        .as_array()
        .context("ranking industries")?
        .iter()
        .map(|i| {
            format!(
                "{date} {} {}",
                i["industry"].as_str().unwrap_or("?"),
                i["avg_pct_change"]
            )
        })
        .collect();
    let got: Vec<&str> = out.lines().collect();
    ensure!(
        want.len() == 3 && got == want,
        "the asyncio example printed:\n{out}\nthe daemon's ranking says:\n{}",
        want.join("\n")
    );
    Ok(())
}

#[test]
fn every_example_marker_has_a_test() -> Result<()> {
    let text = readme()?;
    let open = "<!-- example:";
    let mut found: Vec<&str> = text
        .match_indices(open)
        .map(|(i, _)| {
            let rest = &text[i + open.len()..];
            rest[..rest.find(" -->").unwrap_or(rest.len().min(40))].trim()
        })
        .collect();
    found.sort_unstable();
    let mut expected = EXAMPLES.to_vec();
    expected.sort_unstable();
    ensure!(
        found == expected,
        "README.md's example markers are {found:?}; tests/tests/readme_examples.rs runs {expected:?}"
    );
    Ok(())
}

/// A spawned shell (or what it exec'd) that is killed when dropped.
struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    /// Runs `script` with `sh -c` in `dir`, without the caller's STOCKD_*
    /// variables, stdout and stderr to `dir/background.log`.
    fn spawn(script: &str, dir: &Path, env: &[(String, String)]) -> Result<Background> {
        let log = dir.join("background.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).current_dir(dir);
        stockd_tests::daemon::clear_inherited_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = cmd.spawn().context("spawning sh")?;
        Ok(Background { child, log })
    }

    fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until `socket` answers `market.info` (the process must stay
    /// up meanwhile) and returns the result.
    async fn wait_info(&mut self, socket: &Path, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("socket not there yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the daemon exited with {status}:\n{}", self.log());
            }
            if socket.exists() {
                match call_socket(socket, "market.info", Value::Null).await {
                    Ok(info) => return Ok(info),
                    Err(e) => last = format!("{e:#}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "{} did not answer market.info within {timeout:?} ({last}):\n{}",
            socket.display(),
            self.log()
        )
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One JSON-RPC call on a socket; the daemon's error is an error here.
async fn call_socket(socket: &Path, method: &str, params: Value) -> Result<Value> {
    let body = Daemon::request(method, &params, 1).to_string();
    let resp = stockd_tests::http::post(socket, body.as_bytes()).await?;
    let doc: Value = serde_json::from_str(&resp.body)
        .with_context(|| format!("{method}: not JSON: {}", resp.body))?;
    ensure!(doc.get("error").is_none(), "{method} failed: {doc}");
    Ok(doc["result"].clone())
}

/// The famous large caps must be served under their real names and
/// industries.
async fn check_famous(socket: &Path) -> Result<()> {
    for (code, name, industry) in FAMOUS {
        let row = call_socket(
            socket,
            "stock.get",
            json!({"code": code, "fields": ["stock_name", "industry"]}),
        )
        .await?;
        ensure!(
            row["values"] == json!({"stock_name": name, "industry": industry}),
            "{code} should be {name} ({industry}): {row}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_demo_command_serves_the_demo_data() -> Result<()> {
    let script = example(&readme()?, "demo", "sh")?;
    ensure!(
        script.contains("cargo run --release --bin stockd --"),
        "the demo block should run `cargo run --release --bin stockd -- ...`:\n{script}"
    );
    let dir = TempDir::new("readme-demo")?;
    let bin = stockd_bin()?;
    // The built binary stands in for `cargo run`: any other cargo call fails.
    let shim = r#"cargo() {
  if [ "$1 $2 $3 $4 $5" != "run --release --bin stockd --" ]; then
    echo "this test runs only 'cargo run --release --bin stockd -- ARGS', not: cargo $*" >&2
    exit 97
  fi
  shift 5
  exec "$README_STOCKD_BIN" "$@"
}
"#;
    let env = [("README_STOCKD_BIN".to_string(), bin.display().to_string())];
    let mut daemon = Background::spawn(&format!("{shim}{script}"), dir.path(), &env)?;
    let socket = dir.path().join("stockd.sock");
    let info = daemon
        .wait_info(&socket, Duration::from_secs(120))
        .await
        .context("the README's demo command should serve ./stockd.sock")?;
    let rows = stockd::demo::DemoParams::embedded().rows();
    ensure!(
        info["source"]["kind"] == "demo" && info["rows"] == rows,
        "the demo command should serve the {rows} demo rows (is /etc/stockd/stockd.toml \
         configuring a database?): {info}"
    );
    check_famous(&socket).await
}

/// `text` with every whole-word `word` (not inside an identifier) replaced.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(ident) || after.is_some_and(ident) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// PGHOST, PGPORT, PGUSER (and PGPASSWORD when the URL has one) for the
/// test's PostgreSQL server, from its maintenance URL.
fn pg_env(base: &str) -> Result<Vec<(String, String)>> {
    use tokio_postgres::config::Host;
    let cfg: tokio_postgres::Config = base
        .parse()
        .with_context(|| format!("parsing the test server's URL {base}"))?;
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => bail!("the test server's URL {base} names no host"),
    };
    let mut env = vec![
        ("PGHOST".to_string(), host),
        (
            "PGPORT".to_string(),
            cfg.get_ports().first().copied().unwrap_or(5432).to_string(),
        ),
        (
            "PGUSER".to_string(),
            cfg.get_user().unwrap_or("postgres").to_string(),
        ),
        ("PSQLRC".to_string(), "/dev/null".to_string()),
    ];
    if let Some(pw) = cfg.get_password() {
        env.push((
            "PGPASSWORD".to_string(),
            String::from_utf8_lossy(pw).into_owned(),
        ));
    }
    Ok(env)
}

/// Drops the recipe's database at the end, whatever happened.
struct DropDb {
    name: String,
    base: String,
}

impl Drop for DropDb {
    fn drop(&mut self) {
        let base = self.base.clone();
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            pg::quote_ident(&self.name)
        );
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let c = pg::connect(&base).await?;
                c.batch_execute(&sql).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop database {}", self.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_postgres_recipe_loads_and_leaves_the_table_insertable() -> Result<()> {
    let script = example(&readme()?, "postgres", "sh")?;
    let lines: Vec<&str> = script.lines().filter(|l| !l.trim().is_empty()).collect();
    let (daemon_line, setup) = lines.split_last().context("the postgres recipe is empty")?;
    ensure!(
        setup.first().map(|l| l.trim()) == Some("cargo build --release"),
        "the postgres recipe should start with `cargo build --release`:\n{script}"
    );
    ensure!(
        daemon_line.starts_with("./target/release/stockd ")
            && daemon_line.contains("--database-url postgres:///market"),
        "the postgres recipe should end by starting ./target/release/stockd on \
         postgres:///market:\n{script}"
    );

    let base = pg::base_url()?;
    let db = format!(
        "stockd_readme_{}_{:08x}",
        std::process::id(),
        stockd_tests::util::random_u64() as u32
    );
    let _cleanup = DropDb {
        name: db.clone(),
        base: base.clone(),
    };
    let env = pg_env(&base)?;

    // A directory laid out like the checkout after `cargo build --release`.
    let dir = TempDir::new("readme-postgres")?;
    std::fs::create_dir_all(dir.path().join("packaging/examples"))?;
    std::fs::copy(
        stockd_tests::FIXTURE_SQL,
        dir.path().join("packaging/examples/daily_stock_data.sql"),
    )
    .context("copying the reference layout")?;
    std::fs::create_dir_all(dir.path().join("target/release"))?;
    std::os::unix::fs::symlink(stockd_bin()?, dir.path().join("target/release/stockd"))?;

    let shim = r#"cargo() {
  if [ "$*" != "build --release" ]; then
    echo "this test stands in only for 'cargo build --release', not: cargo $*" >&2
    exit 97
  fi
}
set -e
"#;
    let setup_script = format!("{shim}{}\n", replace_word(&setup.join("\n"), "market", &db));
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&setup_script).current_dir(dir.path());
    stockd_tests::daemon::clear_inherited_env(&mut cmd);
    let out = cmd
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("PGDATABASE")
        .env_remove("PGSERVICE")
        .output()
        .context("running the postgres recipe")?;
    ensure!(
        out.status.success(),
        "the postgres recipe failed ({}):\n{setup_script}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The line runs as written (`postgres:///market` read as libpq reads
    // it, the server found through PGHOST/PGPORT/PGUSER), only the
    // database name made unique.
    let line = replace_word(daemon_line, "market", &db);
    let mut daemon = Background::spawn(&format!("exec {line}"), dir.path(), &env)?;
    let socket = dir.path().join("stockd.sock");
    let info = daemon
        .wait_info(&socket, Duration::from_secs(180))
        .await
        .with_context(|| format!("the recipe's daemon line `{line}` should serve ./stockd.sock"))?;
    let rows = stockd::demo::DemoParams::embedded().rows();
    ensure!(
        info["source"]["kind"] == "postgres" && info["rows"] == rows,
        "the daemon should serve the {rows} rows the recipe loaded: {info}"
    );
    check_famous(&socket).await?;

    // What it serves is what PostgreSQL holds.
    let client = pg::connect(&pg::with_dbname(&base, &db)).await?;
    let served = call_socket(
        &socket,
        "stock.get",
        json!({"code": "600519", "fields": ["close", "pct_chg"]}),
    )
    .await?;
    let held = client
        .query_one(
            "SELECT close::text, pct_chg::float8 FROM daily_stock_data \
             WHERE stock_code = '600519' AND date = $1::text::date",
            &[&served["date"].as_str().context("stock.get date")?],
        )
        .await?;
    let close: String = held.get(0);
    let pct: f64 = held.get(1);
    let served_close = served["values"]["close"].to_string();
    ensure!(
        served_close == close
            && served["values"]["pct_chg"].as_f64().map(|v| v as f32) == Some(pct as f32),
        "600519 served {served} but PostgreSQL holds close {close}, pct_chg {pct}"
    );

    // The recipe leaves the table ready for ordinary inserts.
    let id: i64 = client
        .query_one(
            "INSERT INTO daily_stock_data (stock_code, stock_name, date) \
             VALUES ('600519', '贵州茅台', DATE '2026-11-30') RETURNING id",
            &[],
        )
        .await
        .context("an ordinary INSERT after the recipe")?
        .get(0);
    ensure!(
        id == rows as i64 + 1,
        "the INSERT got id {id}, expected {}",
        rows + 1
    );
    Ok(())
}

/// Runs one README line through `sh -c` with `path` as PATH and
/// STOCKD_SOCKET set; it must exit 0 within `timeout`. Returns stdout.
fn run_line(line: &str, path: &str, daemon: &Daemon, timeout: Duration) -> Result<String> {
    let dir = daemon.dir();
    let out_path = dir.join("line.out");
    let err_path = dir.join("line.err");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line).current_dir(dir);
    stockd_tests::daemon::clear_inherited_env(&mut cmd);
    let mut child = cmd
        .env("PATH", path)
        .env("STOCKD_SOCKET", daemon.socket())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("running {line}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`{line}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path)?;
    ensure!(
        status.success(),
        "`{line}` exited with {status}\nstdout:\n{stdout}\nstderr:\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    Ok(stdout)
}

/// The value after `--flag` (or `-f`) among `args`.
fn flag<'a>(args: &[&'a str], names: &[&str]) -> Option<&'a str> {
    args.windows(2)
        .find(|w| names.contains(&w[0]))
        .map(|w| w[1])
}

/// Bytes in a README size such as `4MiB`.
fn size_bytes(s: &str) -> Result<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().with_context(|| format!("size {s}"))?;
    let unit = match &s[digits..] {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => bail!("size unit {other:?} in {s}"),
    };
    Ok(n * unit)
}

/// Checks what one stockctl line printed against the daemon.
async fn check_stockctl(
    line: &str,
    out: &str,
    daemon: &Daemon,
    generation: &mut u64,
) -> Result<()> {
    let words: Vec<&str> = line
        .split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let json_out = words.contains(&"--json");
    let info = daemon.call("market.info", Value::Null).await?;
    let rows = info["rows"].as_u64().context("market.info rows")?;
    match words.get(1).copied() {
        Some("status") if json_out => {
            let v: Value = serde_json::from_str(out).with_context(|| format!("`{line}` JSON"))?;
            ensure!(
                v["store"]["rows"] == rows,
                "`{line}` printed store rows {} but the daemon holds {rows}",
                v["store"]["rows"]
            );
        }
        Some("status") => {
            let plain = out.replace(',', "");
            ensure!(
                plain.contains(&rows.to_string()),
                "`{line}` should show the {rows} rows held:\n{out}"
            );
        }
        Some("get") => {
            let code = words.get(2).context("stockctl get needs a code")?;
            let mut params = json!({"code": code});
            if let Some(fields) = flag(&words, &["--fields"]) {
                params["fields"] = json!(fields.split(',').collect::<Vec<_>>());
            }
            let truth = daemon.call("stock.get", params).await?;
            ensure!(out.contains(code), "`{line}` should name {code}:\n{out}");
            // `NAME  VALUE` lines; a number may be printed at its column's
            // scale (20.10 for 20.1), so numbers compare as numbers.
            let values = truth["values"].as_object().context("stock.get values")?;
            for (name, v) in values {
                let shown = out.lines().find_map(|l| {
                    let l = l.trim();
                    let rest = l.strip_prefix(name.as_str())?;
                    rest.starts_with(char::is_whitespace).then(|| rest.trim())
                });
                let Some(shown) = shown else {
                    bail!("`{line}` should show {name}:\n{out}");
                };
                let same = match v {
                    Value::String(s) => shown == s,
                    Value::Number(n) => shown.parse::<f64>().ok() == n.as_f64(),
                    other => {
                        let text = other.to_string();
                        shown == text
                    }
                };
                ensure!(
                    same,
                    "`{line}` shows {name} = {shown}, the daemon {v}:\n{out}"
                );
            }
        }
        Some("top") => {
            let by = flag(&words, &["--by"]).context("stockctl top needs --by")?;
            let n: u64 = flag(&words, &["-n", "--count"]).unwrap_or("20").parse()?;
            let truth = daemon
                .call("stock.top", json!({"by": by, "n": n, "fields": [by]}))
                .await?;
            let want: Vec<&str> = truth
                .as_array()
                .context("stock.top rows")?
                .iter()
                .filter_map(|r| r["code"].as_str())
                .collect();
            let shown: Vec<&str> = out
                .lines()
                .filter_map(|l| l.split_whitespace().find(|w| want.contains(w)))
                .collect();
            ensure!(
                want.len() as u64 == n && shown == want,
                "`{line}` should list {want:?} in that order:\n{out}"
            );
        }
        Some("cache") => {
            let status = stockd_tests::inspect::status(daemon).await?;
            match words.get(2).copied() {
                Some("list") => {
                    for name in stockd_tests::inspect::CACHES {
                        ensure!(
                            out.contains(name),
                            "`{line}` should list cache {name}:\n{out}"
                        );
                    }
                }
                Some("resize") => {
                    let name = words.get(3).context("cache resize needs a name")?;
                    let want = size_bytes(words.get(4).context("cache resize needs a size")?)?;
                    let cap = stockd_tests::inspect::cache(&status, name)?.max_bytes;
                    ensure!(
                        cap == want,
                        "`{line}`: cache {name} cap is {cap}, not {want}"
                    );
                }
                Some("clear") => {
                    let name = words.get(3).context("cache clear needs a name here")?;
                    let entries = stockd_tests::inspect::cache(&status, name)?.entries;
                    ensure!(
                        entries == 0,
                        "`{line}`: cache {name} still holds {entries} entries"
                    );
                }
                other => bail!("`{line}`: no check for `stockctl cache {other:?}`; add one"),
            }
        }
        Some("reload") => {
            let now = info["generation"]
                .as_u64()
                .context("market.info generation")?;
            ensure!(
                now > *generation,
                "`{line}` did not load a new generation ({now})"
            );
        }
        Some("search") => {
            // `stockctl search TEXT`: codes starting with TEXT or names
            // containing it; every name match the daemon has must show.
            let text = words.get(2).context("stockctl search needs a text here")?;
            let truth = daemon
                .call("stock.list", json!({"name": text, "limit": 1000}))
                .await?;
            let stocks = truth["stocks"].as_array().context("stock.list stocks")?;
            ensure!(
                !stocks.is_empty(),
                "`{line}`: no demo stock is named *{text}*"
            );
            for s in stocks {
                let code = s["code"].as_str().context("stock.list code")?;
                ensure!(out.contains(code), "`{line}` should show {code}:\n{out}");
            }
        }
        Some("trim") => ensure!(!out.trim().is_empty(), "`{line}` printed nothing"),
        other => {
            bail!("`{line}`: no check for `stockctl {other:?}`; add one to readme_examples.rs")
        }
    }
    *generation = info["generation"].as_u64().unwrap_or(*generation);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_stockctl_examples_run() -> Result<()> {
    let script = example(&readme()?, "stockctl", "sh")?;
    let daemon = Daemon::demo().await?;
    let bin = stockctl_bin()?;
    let bin_dir = bin.parent().context("stockctl has no directory")?;
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let info = daemon.call("market.info", Value::Null).await?;
    let mut generation = info["generation"].as_u64().context("generation")?;
    let mut ran = 0;
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        ensure!(
            line.starts_with("stockctl "),
            "every line of the stockctl block should run stockctl: {line}"
        );
        let out = run_line(line, &path, &daemon, Duration::from_secs(60))?;
        check_stockctl(line, &out, &daemon, &mut generation)
            .await
            .with_context(|| format!("checking `{line}`"))?;
        ran += 1;
    }
    ensure!(ran > 0, "the stockctl block runs nothing");
    Ok(())
}

#[test]
fn example_extraction() {
    let text = "x\n<!-- example:curl -->\n\n```sh\ncurl a\necho b\n```\n<!-- example:python -->\n````python\nprint(1)\n````\n";
    assert_eq!(example(text, "curl", "sh").unwrap(), "curl a\necho b\n");
    assert_eq!(example(text, "python", "python").unwrap(), "print(1)\n");
    assert!(example("<!-- example:curl -->\n```bash\nx\n```", "curl", "sh").is_err());
    assert!(example("nothing", "curl", "sh").is_err());
}

#[test]
fn word_replacement_spares_identifiers() {
    assert_eq!(
        replace_word(
            "createdb market; psql market -c 'x' postgres:///market",
            "market",
            "db1"
        ),
        "createdb db1; psql db1 -c 'x' postgres:///db1"
    );
    assert_eq!(
        replace_word("supermarket market_x market", "market", "m"),
        "supermarket market_x m"
    );
}
