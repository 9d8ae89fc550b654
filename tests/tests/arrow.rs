//! Arrow answers (`Accept: application/vnd.apache.arrow.stream`, issue #17
//! item 2): every row-list method's stream, read back with arrow-rs's IPC
//! reader, equals the JSON answer of the same call value for value —
//! decimals as the exact JSON literal, floats bit for bit (NaN, ±Infinity,
//! -0.0), NULL as null, dates and timestamps as the JSON text — with the
//! Arrow type each PostgreSQL type maps to; and every error comes back as
//! a JSON-RPC error object with a JSON content type.
//!
//! Two data sets: the demo (the reference layout: numeric(10,2), real,
//! double, text, timestamptz, …; all five methods) and a small PostgreSQL
//! table of edge values (NaN in numeric(10,2), unconstrained numeric,
//! ±infinity timestamps, extremes, key columns named `code` and `date`).

use anyhow::{bail, ensure, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use stockd_tests::http::{post_binary, BinaryResponse};
use stockd_tests::{Daemon, PgTestDb};

const ARROW: &str = "application/vnd.apache.arrow.stream";
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

async fn post(daemon: &Daemon, body: &Value, accept: &str) -> Result<BinaryResponse> {
    post_binary(
        daemon.socket(),
        &serde_json::to_vec(body)?,
        &[("Content-Type", "application/json"), ("Accept", accept)],
    )
    .await
}

fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
}

/// The Arrow answer of `method`: schema and the one record batch.
async fn arrow_call(
    daemon: &Daemon,
    method: &str,
    params: Value,
) -> Result<(Arc<Schema>, RecordBatch)> {
    let r = post(daemon, &request(method, params.clone()), ARROW).await?;
    if r.header("content-type") != Some(ARROW) {
        bail!(
            "{method} {params}: content-type {:?}, body {}",
            r.header("content-type"),
            String::from_utf8_lossy(&r.body)
        );
    }
    ensure!(r.status == 200, "{method}: HTTP {}", r.status);
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(r.body), None)
        .with_context(|| format!("{method}: not an Arrow IPC stream"))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{method}: reading the stream"))?;
    ensure!(
        batches.len() == 1,
        "{method}: {} batches, expected 1",
        batches.len()
    );
    let batch = batches.into_iter().next().context("no batch")?;
    Ok((schema, batch))
}

/// The JSON-RPC error an Arrow request got (checking it came as JSON).
async fn arrow_error(daemon: &Daemon, body: &Value) -> Result<Value> {
    let r = post(daemon, body, ARROW).await?;
    let ct = r.header("content-type").unwrap_or_default();
    ensure!(
        ct.starts_with("application/json"),
        "error answer has content-type {ct:?}"
    );
    let doc: Value = serde_json::from_slice(&r.body)?;
    doc.get("error")
        .cloned()
        .with_context(|| format!("expected an error object, got {doc}"))
}

/// One Arrow cell, in a form comparable with the JSON text.
#[derive(Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    F32(f32),
    F64(f64),
    Dec(String),
    Str(String),
    Bool(bool),
    Date(String),
    Ts(String),
}

fn cell(a: &ArrayRef, i: usize) -> Result<Cell> {
    if a.is_null(i) {
        return Ok(Cell::Null);
    }
    Ok(match a.data_type() {
        DataType::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(i) as i64),
        DataType::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(i) as i64),
        DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => Cell::F32(a.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => Cell::F64(a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, s) => {
            let m = a.as_primitive::<Decimal128Type>().value(i);
            let mut out = String::new();
            stockd::store::numeric::write_scaled(&mut out, m, *s as u16);
            Cell::Dec(out)
        }
        DataType::Utf8 => Cell::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::Boolean => Cell::Bool(a.as_boolean().value(i)),
        DataType::Date32 => Cell::Date(stockd::store::time::date_string(
            a.as_primitive::<Date32Type>().value(i) - PG_EPOCH_DAYS,
        )),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let mut out = String::new();
            stockd::store::time::write_timestamp(
                &mut out,
                a.as_primitive::<TimestampMicrosecondType>().value(i) - PG_EPOCH_MICROS,
                tz.is_some(),
            );
            Cell::Ts(out)
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_dictionary::<Int32Type>();
            let k = d.keys().value(i) as usize;
            Cell::Str(d.values().as_string::<i32>().value(k).to_string())
        }
        other => bail!("unexpected Arrow type {other}"),
    })
}

/// Whether `cell` is the value the JSON literal `raw` writes.
fn same(cell: &Cell, raw: &str) -> bool {
    let text = || -> String {
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).unwrap_or_default()
        } else {
            raw.to_string()
        }
    };
    match cell {
        Cell::Null => raw == "null",
        Cell::Int(v) => raw.parse::<i64>().ok() == Some(*v),
        Cell::F32(v) => match text().as_str() {
            "NaN" => v.is_nan(),
            "Infinity" => *v == f32::INFINITY,
            "-Infinity" => *v == f32::NEG_INFINITY,
            t => t.parse::<f32>().map(f32::to_bits).ok() == Some(v.to_bits()),
        },
        Cell::F64(v) => match text().as_str() {
            "NaN" => v.is_nan(),
            "Infinity" => *v == f64::INFINITY,
            "-Infinity" => *v == f64::NEG_INFINITY,
            t => t.parse::<f64>().map(f64::to_bits).ok() == Some(v.to_bits()),
        },
        // The exact literal: same digits, same scale.
        Cell::Dec(s) => raw == s,
        Cell::Str(s) | Cell::Date(s) | Cell::Ts(s) => raw != "null" && text() == *s,
        Cell::Bool(b) => raw == if *b { "true" } else { "false" },
    }
}

/// The Arrow type a column of PostgreSQL type `pg` must have.
fn expected_type(pg: &str) -> DataType {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    match pg {
        "smallint" => DataType::Int16,
        "integer" => DataType::Int32,
        "bigint" => DataType::Int64,
        "real" => DataType::Float32,
        "double precision" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp without time zone" | "timestamp" => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        "timestamp with time zone" | "timestamptz" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        "numeric" => DataType::Utf8,
        _ if pg.starts_with("numeric(") => {
            let inner = pg.trim_start_matches("numeric(").trim_end_matches(')');
            let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
            let (p, s): (u8, i8) = (p.trim().parse().unwrap_or(0), s.trim().parse().unwrap_or(0));
            if p > 38 {
                DataType::Utf8
            } else {
                DataType::Decimal128(p, s)
            }
        }
        _ => dict,
    }
}

/// A `layout: "columns"` answer, values as sent.
#[derive(Deserialize)]
struct Table {
    fields: Vec<String>,
    codes: Vec<String>,
    dates: Vec<String>,
    rows: Vec<Vec<Box<RawValue>>>,
    #[serde(default)]
    missing: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct History {
    code: String,
    dates: Vec<String>,
    columns: BTreeMap<String, Vec<Box<RawValue>>>,
}

fn result_text(body: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Resp<'a> {
        #[serde(borrow)]
        result: &'a RawValue,
    }
    let r: Resp = serde_json::from_str(body).with_context(|| format!("not a result: {body}"))?;
    Ok(r.result.get().to_string())
}

/// Checks one stream against column-wise JSON values: key columns, then
/// `fields` (name, type by `types`, every value). Returns how many cells
/// were compared.
fn check_rows(
    what: &str,
    schema: &Schema,
    batch: &RecordBatch,
    (codes, dates): (&[String], &[String]),
    fields: &[String],
    value: impl Fn(usize, usize) -> String,
    types: &BTreeMap<String, String>,
) -> Result<usize> {
    let keys = schema
        .metadata()
        .get("stockd.key_columns")
        .with_context(|| format!("{what}: no stockd.key_columns"))?;
    let (kc, kd) = keys.split_once(',').context("key columns")?;
    ensure!(
        schema.fields().len() == fields.len() + 2,
        "{what}: {} Arrow columns for {} fields + code + date",
        schema.fields().len(),
        fields.len()
    );
    ensure!(
        schema.field(0).name() == kc && schema.field(1).name() == kd,
        "{what}: key columns {:?} {:?} vs metadata {keys}",
        schema.field(0).name(),
        schema.field(1).name()
    );
    ensure!(
        batch.num_rows() == codes.len(),
        "{what}: {} rows vs {} in JSON",
        batch.num_rows(),
        codes.len()
    );
    let mut compared = 0;
    for r in 0..codes.len() {
        ensure!(
            cell(batch.column(0), r)? == Cell::Str(codes[r].clone()),
            "{what}: row {r} code {:?} vs {}",
            cell(batch.column(0), r)?,
            codes[r]
        );
        ensure!(
            cell(batch.column(1), r)? == Cell::Date(dates[r].clone()),
            "{what}: row {r} date {:?} vs {}",
            cell(batch.column(1), r)?,
            dates[r]
        );
    }
    for (j, name) in fields.iter().enumerate() {
        let field = schema.field(j + 2);
        ensure!(
            field.name() == name,
            "{what}: column {j} is {} not {name}",
            field.name()
        );
        let pg = types
            .get(name)
            .with_context(|| format!("no type for {name}"))?;
        ensure!(
            field.metadata().get("stockd.pg_type") == Some(pg),
            "{what}: {name} stockd.pg_type {:?} vs {pg}",
            field.metadata().get("stockd.pg_type")
        );
        let want = expected_type(pg);
        let col = batch.column(j + 2);
        if col.data_type() != &want {
            // Only a value the exact type cannot hold makes it text.
            ensure!(
                col.data_type() == &DataType::Utf8 && field.metadata().contains_key("stockd.text"),
                "{what}: {name} ({pg}) is {} (expected {want}), metadata {:?}",
                col.data_type(),
                field.metadata()
            );
        }
        for r in 0..codes.len() {
            let c = cell(col, r)?;
            let raw = value(r, j);
            ensure!(
                same(&c, &raw),
                "{what}: {name} ({pg}) row {r} ({} {}): Arrow {c:?} vs JSON {raw}",
                codes[r],
                dates[r]
            );
            compared += 1;
        }
    }
    Ok(compared)
}

async fn types_of(daemon: &Daemon) -> Result<BTreeMap<String, String>> {
    let info = daemon.call("market.info", Value::Null).await?;
    Ok(info["columns"]
        .as_array()
        .context("columns")?
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["type"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// `stock.many` / `stock.top` (layout columns) Arrow vs JSON.
async fn check_table_method(
    daemon: &Daemon,
    types: &BTreeMap<String, String>,
    method: &str,
    params: Value,
) -> Result<usize> {
    let mut jp = params.clone();
    jp["layout"] = json!("columns");
    let body = daemon.call_raw(method, jp).await?;
    let t: Table = serde_json::from_str(&result_text(&body)?)?;
    let (schema, batch) = arrow_call(daemon, method, params.clone()).await?;
    let what = format!("{method} {params}");
    if method == "stock.many" {
        let result: Value = serde_json::from_str(
            schema
                .metadata()
                .get("stockd.result")
                .context("stockd.result")?,
        )?;
        ensure!(
            result["missing"] == json!(t.missing.clone().unwrap_or_default()),
            "{what}: missing {} vs {:?}",
            result["missing"],
            t.missing
        );
    }
    ensure!(
        schema.metadata().get("stockd.method").map(String::as_str) == Some(method),
        "{what}: stockd.method"
    );
    check_rows(
        &what,
        &schema,
        &batch,
        (&t.codes, &t.dates),
        &t.fields,
        |r, j| t.rows[r][j].get().to_string(),
        types,
    )
}

async fn check_history(
    daemon: &Daemon,
    types: &BTreeMap<String, String>,
    params: Value,
) -> Result<usize> {
    let body = daemon.call_raw("stock.history", params.clone()).await?;
    let h: History = serde_json::from_str(&result_text(&body)?)?;
    let (schema, batch) = arrow_call(daemon, "stock.history", params.clone()).await?;
    // JSON columns come as an object; the Arrow fields in request order.
    let fields: Vec<String> = schema.fields()[2..]
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for f in &fields {
        ensure!(
            h.columns.contains_key(f),
            "history: Arrow column {f} not in JSON"
        );
    }
    ensure!(fields.len() == h.columns.len(), "history: column count");
    let codes = vec![h.code.clone(); h.dates.len()];
    check_rows(
        &format!("stock.history {params}"),
        &schema,
        &batch,
        (&codes, &h.dates),
        &fields,
        |r, j| h.columns[&fields[j]][r].get().to_string(),
        types,
    )
}

/// A view's members: (group, rank, code, JSON member object).
fn view_members(method: &str, result: &Value) -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    if method == "hotspots.ranking" {
        for ind in result["industries"].as_array().into_iter().flatten() {
            let name = ind["industry"].as_str().unwrap_or_default().to_string();
            for (i, m) in ind["leaders"].as_array().into_iter().flatten().enumerate() {
                out.push((name.clone(), i as i64 + 1, m.clone()));
            }
        }
    } else {
        for side in ["gainers", "losers"] {
            for (i, m) in result[side].as_array().into_iter().flatten().enumerate() {
                out.push((
                    side.trim_end_matches('s').to_string(),
                    i as i64 + 1,
                    m.clone(),
                ));
            }
        }
    }
    out
}

/// A view's member table vs its JSON lists: the JSON figures are f64
/// (a real as its shortest float4 text, a numeric converted from its
/// exact decimal); the Arrow values are the exact column values.
async fn check_view(daemon: &Daemon, method: &str, params: Value) -> Result<usize> {
    let json = daemon.call(method, params.clone()).await?;
    let (schema, batch) = arrow_call(daemon, method, params.clone()).await?;
    let members = view_members(method, &json);
    let what = format!("{method} {params}");
    ensure!(
        !members.is_empty(),
        "{what}: the view has no members to compare"
    );
    ensure!(
        batch.num_rows() == members.len(),
        "{what}: {} rows vs {} members",
        batch.num_rows(),
        members.len()
    );
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let group = if method == "hotspots.ranking" {
        "industry"
    } else {
        "side"
    };
    ensure!(
        names
            == [
                group,
                "rank",
                "code",
                "date",
                "name",
                "pct_change",
                "close",
                "amount",
                "volume_ratio"
            ],
        "{what}: columns {names:?}"
    );
    let date = json["date"].as_str().context("date")?;
    let mut compared = 0;
    for (r, (g, rank, m)) in members.iter().enumerate() {
        ensure!(
            cell(batch.column(0), r)? == Cell::Str(g.clone()),
            "{what}: row {r} group"
        );
        ensure!(
            cell(batch.column(1), r)? == Cell::Int(*rank),
            "{what}: row {r} rank"
        );
        ensure!(
            cell(batch.column(2), r)? == Cell::Str(m["code"].as_str().unwrap_or_default().into()),
            "{what}: row {r} code"
        );
        ensure!(
            cell(batch.column(3), r)? == Cell::Date(date.into()),
            "{what}: row {r} date"
        );
        for (j, key) in ["name", "pct_change", "close", "amount", "volume_ratio"]
            .iter()
            .enumerate()
        {
            let c = cell(batch.column(4 + j), r)?;
            let want = &m[*key];
            let ok = match (&c, want) {
                (Cell::Null, Value::Null) => true,
                (Cell::Str(s), Value::String(w)) => s == w,
                // A real as its shortest float4 text read as f64.
                (Cell::F32(v), Value::Number(n)) => {
                    format!("{v}").parse::<f64>().ok() == n.as_f64()
                }
                (Cell::F64(v), Value::Number(n)) => Some(*v) == n.as_f64(),
                (Cell::Dec(s), Value::Number(n)) => s.parse::<f64>().ok() == n.as_f64(),
                (Cell::Int(v), Value::Number(n)) => Some(*v as f64) == n.as_f64(),
                _ => false,
            };
            ensure!(ok, "{what}: row {r} {key}: Arrow {c:?} vs JSON {want}");
            compared += 1;
        }
    }
    let result: Value = serde_json::from_str(
        schema
            .metadata()
            .get("stockd.result")
            .context("stockd.result")?,
    )?;
    ensure!(result["date"] == json["date"], "{what}: stockd.result date");
    Ok(compared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_list_method_equals_its_json_answer() -> Result<()> {
    let daemon = Daemon::demo().await?;
    let types = types_of(&daemon).await?;
    let dates = daemon.call("market.dates", Value::Null).await?;
    let dates: Vec<String> = serde_json::from_value(dates)?;
    let first = dates.first().context("no dates")?.clone();
    let list = daemon.call("stock.list", json!({"limit": 40})).await?;
    let codes: Vec<String> = list["stocks"]
        .as_array()
        .context("stocks")?
        .iter()
        .filter_map(|s| s["code"].as_str().map(String::from))
        .collect();
    let mut n = 0;
    // Every column; a few; an unknown code and an older date.
    n += check_table_method(&daemon, &types, "stock.many", json!({"codes": codes})).await?;
    n += check_table_method(
        &daemon,
        &types,
        "stock.many",
        json!({"codes": [codes[0], "NOPE", codes[1]], "date": first, "fields": ["close", "stock_name", "pct_chg", "is_st", "created_at"]}),
    )
    .await?;
    n += check_table_method(
        &daemon,
        &types,
        "stock.top",
        json!({"by": "pct_chg", "n": 500}),
    )
    .await?;
    n += check_table_method(
        &daemon,
        &types,
        "stock.top",
        json!({"by": "amount", "n": 7, "order": "asc", "date": first, "fields": ["amount", "volume", "rank"]}),
    )
    .await?;
    n += check_history(&daemon, &types, json!({"code": codes[3]})).await?;
    n += check_history(
        &daemon,
        &types,
        json!({"code": codes[4], "from": dates[3], "to": dates[9], "fields": ["pe", "industry", "limit_status"]}),
    )
    .await?;
    n += check_view(&daemon, "hotspots.ranking", json!({"n": 5})).await?;
    let hot = daemon.call("hotspots.ranking", json!({"n": 1})).await?;
    let industry = hot["industries"][0]["industry"]
        .as_str()
        .context("an industry")?;
    n += check_view(
        &daemon,
        "industry.detail",
        json!({"industry": industry, "date": first}),
    )
    .await?;
    ensure!(n > 40_000, "only {n} values compared");
    eprintln!("arrow: {n} values equal to the JSON answers");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_json_rpc_errors() -> Result<()> {
    let daemon = Daemon::demo().await?;
    let methods = "stock.many, stock.top, stock.history, hotspots.ranking, industry.detail";

    // A method without a row list.
    let e = arrow_error(&daemon, &request("market.info", json!({}))).await?;
    ensure!(
        e["code"] == -32600 && e["data"]["value"] == "market.info",
        "market.info: {e}"
    );
    let msg = e["message"].as_str().unwrap_or_default();
    ensure!(
        msg.contains("market.info") && msg.contains(methods),
        "market.info message: {msg}"
    );
    let e = arrow_error(&daemon, &request("stock.get", json!({"code": "600519"}))).await?;
    ensure!(e["data"]["value"] == "stock.get", "stock.get: {e}");

    // A batch.
    let batch = json!([
        request("stock.top", json!({"by": "pct_chg"})),
        request("stock.top", json!({"by": "close"}))
    ]);
    let e = arrow_error(&daemon, &batch).await?;
    ensure!(
        e["code"] == -32600 && e["message"].as_str().unwrap_or_default().contains("batch"),
        "batch: {e}"
    );

    // The method's own errors, as the JSON call gives them.
    for (method, params, kind) in [
        (
            "stock.many",
            json!({"codes": ["600519"], "fields": ["close", "nope"]}),
            "unknown_column",
        ),
        ("stock.history", json!({"code": "NOPE"}), "unknown_stock"),
        ("stock.top", json!({"by": "stock_name"}), "invalid_params"),
        (
            "stock.top",
            json!({"by": "pct_chg", "n": 501}),
            "limit_exceeded",
        ),
        (
            "stock.many",
            json!({"codes": ["600519"], "date": "2001-02-30"}),
            "invalid_params",
        ),
        (
            "industry.detail",
            json!({"industry": "No Such Industry"}),
            "unknown_industry",
        ),
        (
            "stock.many",
            json!({"codes": ["600519"], "fields": []}),
            "invalid_params",
        ),
    ] {
        let e = arrow_error(&daemon, &request(method, params.clone())).await?;
        let j = daemon.try_call(method, params.clone()).await?;
        let j = match j {
            Err(j) => j,
            Ok(v) => bail!("{method} {params}: the JSON call succeeded: {v}"),
        };
        ensure!(
            e["data"]["kind"] == kind,
            "{method} {params}: kind {} (want {kind}): {e}",
            e["data"]["kind"]
        );
        ensure!(
            e["message"].as_str() == Some(j.message.as_str()),
            "{method} {params}: Arrow error {e} vs JSON {}",
            j.message
        );
    }

    // Unknown method, parse error, bad params.
    let e = arrow_error(&daemon, &request("stock.nope", json!({}))).await?;
    ensure!(e["code"] == -32601, "unknown method: {e}");
    let r = post_binary(daemon.socket(), b"{not json", &[("Accept", ARROW)]).await?;
    let doc: Value = serde_json::from_slice(&r.body)?;
    ensure!(doc["error"]["code"] == -32700, "parse error: {doc}");
    let e = arrow_error(&daemon, &request("stock.top", json!({"by": 5}))).await?;
    ensure!(e["code"] == -32602, "bad params: {e}");

    // A notification gets nothing back, as in JSON.
    let r = post(
        &daemon,
        &json!({"jsonrpc": "2.0", "method": "stock.top", "params": {"by": "pct_chg"}}),
        ARROW,
    )
    .await?;
    ensure!(
        r.status == 204 && r.body.is_empty(),
        "notification: HTTP {}",
        r.status
    );

    // q=0 refuses Arrow: a JSON answer; a list with Arrow in it: Arrow.
    let r = post(
        &daemon,
        &request("stock.top", json!({"by": "pct_chg"})),
        &format!("{ARROW};q=0, application/json"),
    )
    .await?;
    ensure!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "q=0"
    );
    let r = post(
        &daemon,
        &request("stock.top", json!({"by": "pct_chg"})),
        &format!("application/json;q=0.5, {ARROW}"),
    )
    .await?;
    ensure!(
        r.header("content-type") == Some(ARROW),
        "Accept list with Arrow"
    );

    // The daemon is still up and answering.
    daemon.call("market.info", Value::Null).await?;
    Ok(())
}

/// Edge values: NaN in numeric(10,2) (the column falls back to text in an
/// answer holding it, decimal128 in one that does not), unconstrained
/// numeric (text), ±infinity timestamps (text), float NaN/±Infinity/-0.0
/// and extremes (bit for bit), NULLs, and key columns named `code` and
/// `date` (the key columns become `_code`/`_date`).
const EDGE_DDL: &str = r#"
CREATE TABLE edge (
    code   text NOT NULL,
    date   date NOT NULL,
    px     numeric(10,2),
    safe   numeric(12,4),
    exact  numeric,
    wide   numeric(40,2),
    d      double precision,
    r      real,
    s      smallint,
    i      integer,
    b      bigint,
    f      boolean,
    ts     timestamp,
    tz     timestamptz,
    day    date,
    label  varchar(20),
    PRIMARY KEY (code, date)
);
INSERT INTO edge
SELECT 'C' || lpad(n::text, 2, '0'), DATE '2024-05-01' + k,
       (n * 1.25 + k)::numeric(10,2), (n / 7.0)::numeric(12,4), (n::numeric / 3),
       (n * 1000000000000)::numeric(40,2), n * 0.1 + k, (n / 3.0)::real,
       n::smallint, n * 1000, n::bigint * 10000000000, n % 2 = 0,
       TIMESTAMP '2024-05-01 09:30:00' + make_interval(secs => n * 1.5),
       TIMESTAMPTZ '2024-05-01 01:00:00+00' + make_interval(days => k, secs => n * 0.000001),
       DATE '1999-12-31' + n, 'L' || (n % 3)
FROM generate_series(1, 20) AS n, generate_series(0, 2) AS k;
INSERT INTO edge VALUES
 ('NAN', DATE '2024-05-03', 'NaN', -0.0001, 'NaN', 'NaN', 'NaN', 'NaN', -32768, -2147483648,
  -9223372036854775808, false, 'infinity', '-infinity', DATE '0001-01-01', E'Ünï "q" \\ 😀'),
 ('INF', DATE '2024-05-03', -99999999.99, 99999999.9999, 'Infinity', 1e37,
  'Infinity', '-Infinity', 32767, 2147483647, 9223372036854775807, true,
  '1969-12-31 23:59:59.999999', '1900-01-01 00:00:00+00', DATE '2200-01-01', ''),
 ('ZERO', DATE '2024-05-03', -0.00, 0, '-1e-30', 0, '-0', '-0', 0, 0, 0, NULL,
  NULL, NULL, NULL, NULL),
 ('NULL', DATE '2024-05-03', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL),
 ('TINY', DATE '2024-05-03', 0.01, 0.0001, 1e-300, 0.01, '5e-324', '1e-45', 1, 1, 1, true,
  '2000-01-01 00:00:00.000001', '2038-01-19 03:14:08.25+00', DATE '2000-01-01', 'L1');
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_values_are_exact_or_exact_text() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.execute(EDGE_DDL).await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .args(["--table", "edge", "--window-days", "30"])
        .config("[columns]\ncode = \"code\"\ndate = \"date\"\n")
        .start()
        .await?;
    let types = types_of(&daemon).await?;
    let codes: Vec<String> = (1..=20)
        .map(|n| format!("C{n:02}"))
        .chain(["NAN", "INF", "ZERO", "NULL", "TINY"].map(String::from))
        .collect();
    let mut n = 0;
    // The last day holds the edge rows: NaN in px, infinity in ts/tz.
    n += check_table_method(&daemon, &types, "stock.many", json!({"codes": codes})).await?;
    let (schema, _) = arrow_call(&daemon, "stock.many", json!({"codes": codes})).await?;
    let ty = |name: &str| -> Result<(DataType, Option<String>)> {
        let f = schema.field_with_name(name)?;
        Ok((
            f.data_type().clone(),
            f.metadata().get("stockd.text").cloned(),
        ))
    };
    ensure!(
        schema.field(0).name() == "_code" && schema.field(1).name() == "_date",
        "key columns renamed"
    );
    ensure!(
        ty("px")?.0 == DataType::Utf8 && ty("px")?.1.is_some(),
        "px with NaN: {:?}",
        ty("px")?
    );
    ensure!(
        ty("safe")?.0 == DataType::Decimal128(12, 4),
        "safe: {:?}",
        ty("safe")?
    );
    ensure!(
        ty("exact")?.0 == DataType::Utf8,
        "exact: {:?}",
        ty("exact")?
    );
    ensure!(ty("wide")?.0 == DataType::Utf8, "wide: {:?}", ty("wide")?);
    ensure!(
        ty("ts")?.0 == DataType::Utf8,
        "ts with infinity: {:?}",
        ty("ts")?
    );
    ensure!(
        ty("d")?.0 == DataType::Float64 && ty("r")?.0 == DataType::Float32,
        "floats"
    );
    // The first day has none of them: exact types.
    n += check_table_method(
        &daemon,
        &types,
        "stock.many",
        json!({"codes": codes[..20], "date": "2024-05-01"}),
    )
    .await?;
    let (schema, _) = arrow_call(
        &daemon,
        "stock.many",
        json!({"codes": codes[..20], "date": "2024-05-01"}),
    )
    .await?;
    ensure!(
        schema.field_with_name("px")?.data_type() == &DataType::Decimal128(10, 2),
        "px without NaN: {}",
        schema.field_with_name("px")?.data_type()
    );
    ensure!(
        schema.field_with_name("tz")?.data_type()
            == &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "tz: {}",
        schema.field_with_name("tz")?.data_type()
    );
    n += check_table_method(
        &daemon,
        &types,
        "stock.top",
        json!({"by": "d", "n": 500, "order": "asc"}),
    )
    .await?;
    n += check_table_method(&daemon, &types, "stock.top", json!({"by": "px", "n": 500})).await?;
    for code in ["NAN", "C05"] {
        n += check_history(&daemon, &types, json!({"code": code})).await?;
    }
    eprintln!("arrow edge: {n} values equal to the JSON answers");
    Ok(())
}
