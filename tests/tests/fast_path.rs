//! The fast path (single HTTP calls of data methods, answered without
//! jsonrpsee's request machinery) and jsonrpsee's own path give the same
//! answers: every data method, successes and handler errors, is sent once
//! as a single call (fast path) and once as a batch of one (jsonrpsee), and
//! the two answers must be equal. Calls the fast path must not take
//! (positional params, unknown members, wrong types) still get jsonrpsee's
//! answers, and the fast path's calls are counted in `admin.status`. Ids
//! jsonrpsee cannot take (objects, arrays, booleans, negative or fractional
//! numbers, broken strings) get -32600 naming them, also inside a batch;
//! a subscription over POST says it needs a WebSocket; a parameter of the
//! wrong type is named.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stockd_tests::inspect::{self, requests, Universe};
use stockd_tests::Daemon;

/// The answer to `call` sent alone, and the one inside a batch of one.
async fn both_ways(d: &Daemon, call: &Value) -> Result<(Value, Value)> {
    let single = d.http(call.to_string().as_bytes()).await?;
    ensure!(
        single.status == 200,
        "single call {call}: HTTP {}",
        single.status
    );
    let single: Value =
        serde_json::from_str(&single.body).with_context(|| format!("single answer to {call}"))?;
    let batch = d.http(json!([call]).to_string().as_bytes()).await?;
    ensure!(
        batch.status == 200,
        "batch call {call}: HTTP {}",
        batch.status
    );
    let batch: Value = serde_json::from_str(&batch.body)?;
    let one = batch
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .with_context(|| format!("batch answer to {call} is {batch}"))?;
    Ok((single, one))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_answers_equal_jsonrpsee_answers() -> Result<()> {
    let d = Daemon::demo().await?;
    let u = Universe::discover(&d).await?;
    let code = u.codes[0].clone();
    let other = u.codes[1].clone();
    let date = u.latest().to_string();
    let first = u.dates[0].clone();
    let industry = u.industries[0].clone();
    let params = [
        ("stock.get", json!({"code": code})),
        (
            "stock.get",
            json!({"code": code, "date": date, "fields": ["close", "pct_chg"]}),
        ),
        ("stock.get", json!({"code": "NOPE00"})),
        (
            "stock.get",
            json!({"code": code, "fields": ["no_such_column"]}),
        ),
        (
            "stock.many",
            json!({"codes": [code, other, "NOPE00"], "date": date}),
        ),
        (
            "stock.history",
            json!({"code": code, "from": first, "fields": ["close"]}),
        ),
        ("stock.history", json!({"code": code, "from": "2001-13-01"})),
        ("stock.top", json!({"by": "pct_chg", "n": 5})),
        (
            "stock.top",
            json!({"by": "pct_chg", "n": 3, "order": "asc", "industry": industry}),
        ),
        ("stock.top", json!({"by": "no_such_column"})),
        ("hotspots.ranking", json!({"n": 3})),
        (
            "industry.detail",
            json!({"industry": industry, "date": date}),
        ),
        ("industry.detail", json!({"industry": "No Such Industry"})),
        ("signals.stock", json!({"code": code})),
        ("stock.list", json!({})),
        (
            "stock.list",
            json!({"industry": industry, "prefix": "6", "offset": 1, "limit": 5}),
        ),
        ("stock.list", json!({"limit": 5000})),
    ];
    let mut fast_calls = 0u64;
    for (i, (method, p)) in params.iter().enumerate() {
        let call = json!({"jsonrpc": "2.0", "id": i, "method": method, "params": p});
        let (single, batched) = both_ways(&d, &call).await?;
        ensure!(
            single == batched,
            "{method} {p}: the fast path answered\n{single}\nbut jsonrpsee answered\n{batched}"
        );
        ensure!(
            single.get("result").is_some() || single.get("error").is_some(),
            "{method} {p}: neither result nor error in {single}"
        );
        fast_calls += 1;
    }
    // String ids and absent params (a method whose params are all optional).
    let call = json!({"jsonrpc": "2.0", "id": "abc", "method": "hotspots.ranking"});
    let (single, batched) = both_ways(&d, &call).await?;
    ensure!(single == batched, "absent params: {single} vs {batched}");
    ensure!(single["id"] == "abc", "string id not echoed: {single}");
    fast_calls += 1;

    // Shapes the fast path leaves to jsonrpsee: the answers are jsonrpsee's.
    for call in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "stock.get", "params": [code]}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "stock.get", "params": {"code": code, "extra": 1}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "stock.top", "params": {"by": "close", "n": -1}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "stock.get", "params": {"code": 5}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "stock.list", "params": {"limt": 5}}),
    ] {
        let (single, batched) = both_ways(&d, &call).await?;
        ensure!(single == batched, "{call}: {single} vs {batched}");
    }

    // An object or array id is an invalid request, answered, not ignored.
    for id in [json!({"a": 1}), json!([1])] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "market.info"});
        let resp = d.http(call.to_string().as_bytes()).await?;
        let doc: Value = serde_json::from_str(&resp.body)
            .with_context(|| format!("answer to id {id}: {:?}", resp.body))?;
        ensure!(
            doc["error"]["code"] == -32600 && doc["id"].is_null(),
            "id {id}: {doc}"
        );
    }

    // Ids jsonrpsee cannot take are refused by name, never answered `null`.
    for (id, kind) in [
        ("-5", "the number -5"),
        ("true", "the boolean true"),
        ("1.5", "the number 1.5"),
        (r#""\ud800""#, "not valid Unicode"),
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"market.dates"}}"#);
        let resp = d.http(body.as_bytes()).await?;
        let doc: Value = serde_json::from_str(&resp.body)
            .with_context(|| format!("answer to id {id}: {:?}", resp.body))?;
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        ensure!(
            doc["error"]["code"] == -32600 && message.contains(kind),
            "id {id}: {doc}"
        );
    }
    // In a batch, a call with an object id is answered beside the others.
    let batch = json!([
        {"jsonrpc": "2.0", "id": {"n": 1}, "method": "market.dates"},
        {"jsonrpc": "2.0", "id": 2, "method": "market.dates"},
    ]);
    let resp = d.http(batch.to_string().as_bytes()).await?;
    let doc: Value = serde_json::from_str(&resp.body)?;
    let answers = doc.as_array().context("batch answer is not an array")?;
    ensure!(
        answers.len() == 2
            && answers
                .iter()
                .any(|a| a["id"] == 2 && a["result"].is_array())
            && answers.iter().any(|a| a["error"]["code"] == -32600),
        "batch with an object id: {doc}"
    );
    // A subscription over a POST says it needs a WebSocket.
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "admin.subscribe_status", "params": {}});
    let doc: Value = serde_json::from_str(&d.http(call.to_string().as_bytes()).await?.body)?;
    ensure!(
        doc["id"] == 9
            && doc["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("WebSocket")),
        "subscription over HTTP: {doc}"
    );
    // stock.list refuses an unknown param name (the fast path leaves the
    // call to jsonrpsee, whose middleware names it).
    let call = json!({"jsonrpc": "2.0", "id": 6, "method": "stock.list", "params": {"limt": 5}});
    let (single, _) = both_ways(&d, &call).await?;
    let message = single["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        single["error"]["code"] == -32602 && message.contains("'limt'"),
        "unknown stock.list param not named: {single}"
    );

    // A parameter of the wrong type is named, on both paths.
    let call =
        json!({"jsonrpc": "2.0", "id": 3, "method": "stock.get", "params": {"code": {"a": 1}}});
    let (single, batched) = both_ways(&d, &call).await?;
    ensure!(single == batched, "{call}: {single} vs {batched}");
    let message = single["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        single["error"]["code"] == -32602 && message.contains("'code'"),
        "wrong-typed code not named: {single}"
    );

    // The fast path's calls are counted like jsonrpsee's (each call above
    // was made once each way, so every method counts an even number).
    let status = inspect::status(&d).await?;
    let mut counted = 0;
    for m in [
        "stock.get",
        "stock.many",
        "stock.history",
        "stock.top",
        "hotspots.ranking",
        "industry.detail",
        "signals.stock",
        "stock.list",
    ] {
        counted += requests(&status, m).count;
    }
    ensure!(
        counted >= 2 * fast_calls,
        "admin.status counts {counted} data calls; at least {} were made",
        2 * fast_calls
    );
    Ok(())
}
