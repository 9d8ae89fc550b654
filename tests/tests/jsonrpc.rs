//! JSON-RPC 2.0 as the specification writes it, against the daemon: every
//! example of §7 one by one (with the contract's methods in place of
//! `subtract`/`sum`), the Request object rules of §4 (jsonrpc, method,
//! params, id), every error with `data: {kind, value}`, `GET /` told to
//! POST, `rpc.discover` listing the contract, one answer per call whether
//! it comes alone, in a batch or over the WebSocket, and an oversized body
//! answered (413 and its JSON error) to a client that writes it in full
//! before reading.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::io::{Read, Write};
use stockd_tests::inspect::Universe;
use stockd_tests::Daemon;

async fn post(d: &Daemon, body: &str) -> Result<(u16, String)> {
    let r = d.http(body.as_bytes()).await?;
    Ok((r.status, r.body))
}

async fn post_json(d: &Daemon, body: &str) -> Result<Value> {
    let (status, text) = post(d, body).await?;
    serde_json::from_str(&text).with_context(|| format!("HTTP {status} for {body}: {text:?}"))
}

/// An error object as the contract promises: code, message and
/// `data: {kind, value}`.
fn error_of(doc: &Value, code: i64, kind: &str) -> Result<()> {
    let e = &doc["error"];
    ensure!(e["code"] == code, "expected code {code}: {doc}");
    ensure!(e["message"].is_string(), "no message: {doc}");
    ensure!(e["data"]["kind"] == kind, "expected kind {kind}: {doc}");
    ensure!(e["data"]["value"].is_string(), "no data.value: {doc}");
    ensure!(doc["jsonrpc"] == "2.0", "no jsonrpc member: {doc}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_specifications_examples() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let code = &u.codes[0];

    // rpc call with positional parameters.
    let doc = post_json(
        &d,
        &format!(
            r#"{{"jsonrpc":"2.0","method":"stock.get","params":["{code}",null,["close"]],"id":1}}"#
        ),
    )
    .await?;
    ensure!(
        doc["id"] == 1 && doc["result"]["code"] == *code,
        "positional: {doc}"
    );
    ensure!(
        doc["result"]["values"].as_object().map(|o| o.len()) == Some(1),
        "positional fields: {doc}"
    );
    // Fewer positional params than the method takes: the rest are absent.
    let doc = post_json(
        &d,
        &format!(r#"{{"jsonrpc":"2.0","method":"stock.get","params":["{code}"],"id":2}}"#),
    )
    .await?;
    ensure!(doc["result"]["code"] == *code, "short positional: {doc}");

    // rpc call with named parameters.
    let doc = post_json(
        &d,
        &format!(r#"{{"jsonrpc":"2.0","method":"stock.get","params":{{"code":"{code}"}},"id":3}}"#),
    )
    .await?;
    ensure!(
        doc["id"] == 3 && doc["result"]["code"] == *code,
        "named: {doc}"
    );

    // A Notification: nothing is sent back.
    let (status, body) = post(
        &d,
        r#"{"jsonrpc":"2.0","method":"market.dates","params":[]}"#,
    )
    .await?;
    ensure!(
        status == 204 && body.is_empty(),
        "notification: HTTP {status} {body:?}"
    );

    // rpc call of non-existent method.
    let doc = post_json(&d, r#"{"jsonrpc":"2.0","method":"foobar","id":"1"}"#).await?;
    error_of(&doc, -32601, "unknown_method")?;
    ensure!(doc["id"] == "1", "id of -32601: {doc}");

    // rpc call with invalid JSON: where it broke is said.
    let doc = post_json(
        &d,
        r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#,
    )
    .await?;
    error_of(&doc, -32700, "parse_error")?;
    ensure!(doc["id"].is_null(), "parse error id: {doc}");
    ensure!(
        doc["error"]["data"]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("line 1 column")),
        "parse error position: {doc}"
    );

    // rpc call with invalid Request object.
    let doc = post_json(&d, r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#).await?;
    error_of(&doc, -32600, "invalid_request")?;
    ensure!(doc["id"].is_null(), "invalid request id: {doc}");

    // rpc call Batch, invalid JSON.
    let doc = post_json(
        &d,
        r#"[{"jsonrpc":"2.0","method":"market.dates","params":[],"id":"1"},{"jsonrpc":"2.0","method"]"#,
    )
    .await?;
    error_of(&doc, -32700, "parse_error")?;

    // rpc call with an empty Array: one error, not an array.
    let doc = post_json(&d, "[]").await?;
    error_of(&doc, -32600, "invalid_request")?;
    ensure!(doc["id"].is_null(), "empty batch id: {doc}");

    // rpc call with an invalid Batch (but not empty).
    let doc = post_json(&d, "[1]").await?;
    let a = doc.as_array().context("[1] answer is not an array")?;
    ensure!(a.len() == 1, "[1]: {doc}");
    error_of(&a[0], -32600, "invalid_request")?;

    // rpc call with invalid Batch.
    let doc = post_json(&d, "[1,2,3]").await?;
    let a = doc.as_array().context("[1,2,3] answer is not an array")?;
    ensure!(a.len() == 3, "[1,2,3]: {doc}");
    for e in a {
        error_of(e, -32600, "invalid_request")?;
        ensure!(e["id"].is_null(), "{e}");
    }

    // rpc call Batch: answers for the calls, none for the notification.
    let batch = format!(
        r#"[
        {{"jsonrpc":"2.0","method":"market.dates","id":"1"}},
        {{"jsonrpc":"2.0","method":"market.info","params":{{}}}},
        {{"jsonrpc":"2.0","method":"stock.get","params":["{code}"],"id":"2"}},
        {{"foo":"boo"}},
        {{"jsonrpc":"2.0","method":"foo.get","params":{{"name":"myself"}},"id":"5"}},
        {{"jsonrpc":"2.0","method":"stock.top","params":{{"by":"pct_chg","n":2}},"id":"9"}}
    ]"#
    );
    let doc = post_json(&d, &batch).await?;
    let a = doc.as_array().context("batch answer is not an array")?;
    ensure!(a.len() == 5, "mixed batch: {doc}");
    let by_id = |id: &str| a.iter().find(|x| x["id"] == id).cloned();
    ensure!(
        by_id("1").is_some_and(|x| x["result"].is_array()),
        "id 1: {doc}"
    );
    ensure!(
        by_id("2").is_some_and(|x| x["result"]["code"] == *code),
        "id 2: {doc}"
    );
    error_of(
        &by_id("5").context("id 5 missing")?,
        -32601,
        "unknown_method",
    )?;
    ensure!(
        by_id("9").is_some_and(|x| x["result"].as_array().map(Vec::len) == Some(2)),
        "id 9: {doc}"
    );
    let invalid = a
        .iter()
        .find(|x| x["id"].is_null())
        .context("no answer for {foo}")?;
    error_of(invalid, -32600, "invalid_request")?;

    // rpc call Batch (all notifications): nothing is sent back.
    let (status, body) = post(
        &d,
        r#"[{"jsonrpc":"2.0","method":"market.dates","params":[]},{"jsonrpc":"2.0","method":"market.info"}]"#,
    )
    .await?;
    ensure!(
        status == 204 && body.is_empty(),
        "all notifications: HTTP {status} {body:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_objects_are_checked_member_by_member() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let code = &u.codes[0];
    for (body, member) in [
        (
            r#"{"jsonrpc":"1.0","method":"market.dates","id":1}"#,
            "jsonrpc",
        ),
        (r#"{"method":"market.dates","id":1}"#, "jsonrpc"),
        (
            r#"{"jsonrpc":2.0,"method":"market.dates","id":1}"#,
            "jsonrpc",
        ),
        (r#"{"jsonrpc":"2.0","id":1}"#, "method"),
        (r#"{"jsonrpc":"2.0","method":null,"id":1}"#, "method"),
        (
            r#"{"jsonrpc":"2.0","method":"market.dates","params":"bar","id":1}"#,
            "params",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"market.dates","params":7,"id":1}"#,
            "params",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"market.dates","id":{"a":1}}"#,
            "id",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"market.dates","id":[1]}"#,
            "id",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"market.dates","id":true}"#,
            "id",
        ),
        ("\"a string\"", ""),
        ("42", ""),
    ] {
        let doc = post_json(&d, body).await?;
        error_of(&doc, -32600, "invalid_request").with_context(|| body.to_string())?;
        ensure!(doc["id"].is_null(), "{body}: {doc}");
        ensure!(doc["error"]["data"]["value"] == member, "{body}: {doc}");
    }
    // Ids of every allowed kind are echoed as sent.
    for id in [r#""abc""#, "null", "-5", "1.5", "18446744073709551616"] {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"market.dates","id":{id}}}"#);
        let (_, text) = post(&d, &body).await?;
        ensure!(
            text.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#)),
            "id {id}: {text}"
        );
    }
    // Params: unknown names, missing and wrong-typed ones are named.
    for (method, params, value, says) in [
        (
            "stock.get",
            json!({"code": code, "feilds": ["close"]}),
            "feilds",
            "it takes: code, date, fields",
        ),
        (
            "stock.top",
            json!({"by": "pct_chg", "limit": 2}),
            "limit",
            "'limit'",
        ),
        ("stock.get", json!({}), "code", "needs 'code'"),
        (
            "stock.get",
            json!({"code": code, "fields": ["close", 3]}),
            "fields[1]",
            "fields[1]",
        ),
        ("stock.get", json!([code, null, null, 4]), "4", "at most 3"),
        ("market.info", json!({"x": 1}), "x", "it takes none"),
    ] {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let doc = post_json(&d, &call.to_string()).await?;
        error_of(&doc, -32602, "invalid_params").with_context(|| call.to_string())?;
        ensure!(doc["error"]["data"]["value"] == value, "{call}: {doc}");
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        ensure!(message.contains(says), "{call}: {doc}");
    }
    // Application errors carry their kind and value too.
    let doc = post_json(
        &d,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "stock.get", "params": {"code": "NOPE00"}})
            .to_string(),
    )
    .await?;
    error_of(&doc, 1001, "unknown_stock")?;
    ensure!(doc["error"]["data"]["value"] == "NOPE00", "{doc}");
    // A subscription over a POST says it needs a WebSocket.
    let doc = post_json(
        &d,
        r#"{"jsonrpc":"2.0","id":9,"method":"admin.subscribe_status","params":{}}"#,
    )
    .await?;
    error_of(&doc, -32600, "invalid_request")?;
    ensure!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("WebSocket")),
        "{doc}"
    );
    // GET and other methods: JSON telling to POST JSON-RPC.
    for method in ["GET", "PUT", "DELETE"] {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket())?;
        write!(
            s,
            "{method} / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let r = stockd_tests::http::parse_response(&raw)?;
        ensure!(r.status == 405, "{method}: HTTP {}", r.status);
        ensure!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{method}: content type {:?}",
            r.header("content-type")
        );
        let doc: Value = serde_json::from_str(&r.body)?;
        error_of(&doc, -32600, "invalid_request")?;
        ensure!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("POST")),
            "{method}: {doc}"
        );
    }
    Ok(())
}

/// `rpc.discover` is the contract: every method, each param with whether
/// it is required, as OpenRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_discover_lists_the_contract() -> Result<()> {
    let d = Daemon::demo().await?;
    let doc = d.call("rpc.discover", Value::Null).await?;
    ensure!(
        doc["openrpc"].as_str().is_some_and(|v| v.starts_with("1.")),
        "{doc}"
    );
    let methods = doc["methods"].as_array().context("no methods")?;
    let mut served: Vec<&str> = methods.iter().filter_map(|m| m["name"].as_str()).collect();
    served.sort_unstable();
    let mut contract: Vec<&str> = stockd_api::METHODS.iter().map(|m| m.name).collect();
    contract.sort_unstable();
    ensure!(
        served == contract,
        "rpc.discover {served:?} vs contract {contract:?}"
    );
    for m in stockd_api::METHODS {
        let entry = methods
            .iter()
            .find(|e| e["name"] == m.name)
            .context("entry")?;
        let names: Vec<&str> = entry["params"]
            .as_array()
            .map(|p| p.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        ensure!(
            names == m.params,
            "{}: params {names:?} vs {:?}",
            m.name,
            m.params
        );
    }
    Ok(())
}

/// One request path: a call alone, in a batch of one and over the
/// WebSocket gets the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_answered_alike_alone_in_a_batch_and_over_websocket() -> Result<()> {
    use jsonrpsee::core::client::ClientT;
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let code = u.codes[0].clone();
    let industry = u.industries[0].clone();
    let date = u.latest().to_string();
    let ws = d.ws().await?;
    let calls = [
        ("stock.get", json!({"code": code})),
        ("stock.get", json!({"code": "NOPE00"})),
        (
            "stock.many",
            json!({"codes": [code, "NOPE00"], "date": date}),
        ),
        ("stock.many", json!({"codes": [code], "layout": "columns"})),
        ("stock.history", json!({"code": code, "fields": ["close"]})),
        (
            "stock.top",
            json!({"by": "pct_chg", "n": 3, "layout": "columns"}),
        ),
        ("stock.top", json!({"by": "no_such_column"})),
        ("hotspots.ranking", json!({"n": 3})),
        ("industry.detail", json!({"industry": industry})),
        ("signals.stock", json!({"code": code})),
        ("stock.list", json!({"limit": 5})),
        ("stock.list", json!({"limt": 5})),
        ("market.dates", json!({})),
    ];
    for (i, (method, params)) in calls.iter().enumerate() {
        let call = json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params});
        let single = post_json(&d, &call.to_string()).await?;
        let batch = post_json(&d, &json!([call]).to_string()).await?;
        ensure!(
            batch.as_array().and_then(|a| a.first()) == Some(&single),
            "{call}: alone {single}, in a batch {batch}"
        );
        let mut obj = jsonrpsee::core::params::ObjectParams::new();
        for (k, v) in params.as_object().cloned().unwrap_or_default() {
            obj.insert(&k, v)?;
        }
        let params = obj;
        let over_ws: Result<Value, _> = ws.request(method, params).await;
        match over_ws {
            Ok(v) => ensure!(
                single["result"] == v,
                "{call}: HTTP {single}, WebSocket {v}"
            ),
            Err(jsonrpsee::core::ClientError::Call(e)) => {
                let e = serde_json::to_value(&e)?;
                ensure!(single["error"] == e, "{call}: HTTP {single}, WebSocket {e}")
            }
            Err(e) => anyhow::bail!("{call} over the WebSocket: {e}"),
        }
    }
    // The columns layout holds the same rows as the rows layout.
    let rows = d
        .call("stock.top", json!({"by": "pct_chg", "n": 5, "date": date}))
        .await?;
    let table = d
        .call(
            "stock.top",
            json!({"by": "pct_chg", "n": 5, "date": date, "layout": "columns"}),
        )
        .await?;
    let fields = table["fields"].as_array().context("fields")?;
    for (i, row) in rows.as_array().context("rows")?.iter().enumerate() {
        ensure!(table["codes"][i] == row["code"] && table["dates"][i] == row["date"]);
        for (j, f) in fields.iter().enumerate() {
            let f = f.as_str().unwrap_or_default();
            ensure!(
                table["rows"][i][j] == row["values"][f],
                "row {i} field {f}: {} vs {}",
                table["rows"][i][j],
                row["values"][f]
            );
        }
    }
    Ok(())
}

/// A client that writes a whole oversized body before reading (as
/// Python's http.client does) reads the 413 and its JSON-RPC error, 50
/// times in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_written_in_full_gets_its_answer() -> Result<()> {
    let d = Daemon::builder()
        .config("[server]\nmax_request_bytes = \"64KiB\"\n")
        .start()
        .await?;
    let body = vec![b' '; 200 * 1024];
    let socket = d.socket().to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for i in 0..50 {
            let mut s = std::os::unix::net::UnixStream::connect(&socket)?;
            write!(
                s,
                "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )?;
            s.write_all(&body)
                .with_context(|| format!("attempt {i}: writing the body"))?;
            let mut raw = Vec::new();
            s.read_to_end(&mut raw)
                .with_context(|| format!("attempt {i}: reading the answer"))?;
            let r = stockd_tests::http::parse_response(&raw)?;
            ensure!(r.status == 413, "attempt {i}: HTTP {}", r.status);
            let doc: Value = serde_json::from_str(&r.body)?;
            error_of(&doc, 1009, "limit_exceeded")?;
        }
        Ok(())
    })
    .await??;
    Ok(())
}
