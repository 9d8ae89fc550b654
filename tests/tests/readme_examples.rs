//! The README's two client examples, run for real against a demo-data
//! daemon: the block after `<!-- example:curl -->` (a ```sh fence) through
//! `sh`, the block after `<!-- example:python -->` (a ```python fence)
//! through `python3 -`, both with `STOCKD_SOCKET` set. Each must exit 0 and
//! print a JSON-RPC result the daemon really holds (or, for an example that
//! prints text, lines naming stocks the daemon serves).
//!
//! The README is the lead's; the blocks are expected to look like this:
//!
//! ````text
//! <!-- example:curl -->
//! ```sh
//! curl -s --unix-socket "$STOCKD_SOCKET" http://localhost/ \
//!   -H 'Content-Type: application/json' \
//!   -d '{"jsonrpc":"2.0","id":1,"method":"stock.get","params":{"code":"600519"}}'
//! ```
//!
//! <!-- example:python -->
//! ```python
//! import http.client, json, os, socket
//! ...
//! ```
//! ````

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use stockd_tests::Daemon;

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

#[test]
fn example_extraction() {
    let text = "x\n<!-- example:curl -->\n\n```sh\ncurl a\necho b\n```\n<!-- example:python -->\n````python\nprint(1)\n````\n";
    assert_eq!(example(text, "curl", "sh").unwrap(), "curl a\necho b\n");
    assert_eq!(example(text, "python", "python").unwrap(), "print(1)\n");
    assert!(example("<!-- example:curl -->\n```bash\nx\n```", "curl", "sh").is_err());
    assert!(example("nothing", "curl", "sh").is_err());
}
