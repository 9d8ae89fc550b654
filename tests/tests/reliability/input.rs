//! Reliability scenarios: bad input.
//!
//! - "fuzz: request path": a seeded property-based fuzz over the real
//!   socket. The default run replays a fixed list of seeds
//!   ([`FUZZ_SEEDS`]: every seed that ever found a bug, plus fixed ones),
//!   a fixed number of cases each, so the suite gives the same verdict
//!   every time; `STOCKD_FUZZ_SEED=<n>` replays one seed,
//!   `STOCKD_FUZZ_SEED=random` (or `STOCKD_FUZZ_SECS=<s>` alone) draws a
//!   fresh one and runs for `STOCKD_FUZZ_SECS` (default 60): arbitrary bytes, malformed HTTP,
//!   arbitrary JSON shapes in every JSON-RPC position, batches of random
//!   sizes, and valid requests of every method with one field replaced by a
//!   random value. Every request must be answered or cleanly closed within
//!   a deadline, every call with an id answered, the daemon must not panic,
//!   errors must name the bad value, and nothing loaded may change.
//! - "config: table": malformed and invalid configurations, each run of the
//!   real binary exits non-zero with one error line naming the problem.
//! - "quoted: identifiers": a table whose schema, table and column names
//!   all need quoting loads and reads back equal to PostgreSQL; request
//!   params carrying SQL reach no statement.

use crate::report::{Report, Scenario};
use crate::security::run_stockd;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stockd_tests::compare::{self, RowReader};
use stockd_tests::inspect::Universe;
use stockd_tests::pg::{quote_ident, quote_literal};
use stockd_tests::{Daemon, PgTestDb, Rng, RpcError, TempDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new(
            "fuzz: request path",
            Duration::from_secs(FuzzPlan::from_env().max_secs() + 150),
            fuzz,
        ),
        Scenario::new("config: table", Duration::from_secs(150), config_table),
        Scenario::new("quoted: identifiers", Duration::from_secs(120), quoted),
    ]
}

/// Seeds the default run replays. The first found a naming bug (an error
/// about a control-only string in a mutated array); add every seed that
/// ever finds one.
const FUZZ_SEEDS: &[u64] = &[15876506852688489663, 1, 2];

/// Cases each worker sends per seed in the default run: 1,800 requests
/// over the list (an idle 2-core box answers ~150 fuzz requests a second,
/// reloads included).
const FUZZ_CASES_PER_WORKER: u64 = 150;

/// Upper bound of one seed's run in the default plan, so a slow machine
/// cannot stall the suite (the cases not sent are reported).
const FUZZ_SEED_MAX_SECS: u64 = 30;

/// What the fuzz runs: which seeds, each for a number of cases or seconds.
struct FuzzPlan {
    seeds: Vec<u64>,
    /// `Some(n)`: n cases per worker per seed (bounded by
    /// [`FUZZ_SEED_MAX_SECS`]); `None`: `secs` seconds per seed.
    cases: Option<u64>,
    secs: u64,
}

impl FuzzPlan {
    fn from_env() -> FuzzPlan {
        let secs_var = std::env::var("STOCKD_FUZZ_SECS")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let seed_var = std::env::var("STOCKD_FUZZ_SEED").ok();
        match (seed_var.as_deref().map(str::trim), secs_var) {
            (Some("random"), secs) | (None, secs @ Some(_)) => FuzzPlan {
                seeds: vec![stockd_tests::util::random_u64()],
                cases: None,
                secs: secs.unwrap_or(60),
            },
            (Some(seed), secs) => FuzzPlan {
                seeds: vec![seed.parse().unwrap_or_else(|_| {
                    panic!("STOCKD_FUZZ_SEED must be a number or 'random', not {seed:?}")
                })],
                cases: secs.is_none().then_some(FUZZ_CASES_PER_WORKER),
                secs: secs.unwrap_or(FUZZ_SEED_MAX_SECS),
            },
            (None, None) => FuzzPlan {
                seeds: FUZZ_SEEDS.to_vec(),
                cases: Some(FUZZ_CASES_PER_WORKER),
                secs: FUZZ_SEED_MAX_SECS,
            },
        }
    }

    /// The longest the whole plan may take.
    fn max_secs(&self) -> u64 {
        self.secs * self.seeds.len() as u64
    }

    fn describe(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        match self.cases {
            Some(n) => format!(
                "seeds {} × {n} cases × {WORKERS} connections",
                seeds.join(", ")
            ),
            None => format!("seed {} for {} s", seeds.join(", "), self.secs),
        }
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

// ================================================================ fuzz

/// How long one exchange may take before it counts as a hang.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);
/// A store.reload rebuilds the store, and waits behind reloads queued
/// before it.
const RELOAD_DEADLINE: Duration = Duration::from_secs(120);
/// Concurrent fuzzing connections.
const WORKERS: u64 = 4;

const SQLISH: &[&str] = &[
    "'; DROP TABLE daily_stock_data; --",
    "\" OR 1=1 --",
    "x'); SELECT pg_sleep(10); --",
    "\\'; DELETE FROM daily_stock_data; --",
    "a\u{0}b",
    "\u{0}",
    "close\"; DROP SCHEMA public CASCADE; --",
    "$$; COPY (SELECT 1) TO PROGRAM 'id'; $$",
    "1; TRUNCATE daily_stock_data",
    "\\\\",
    "''''",
];

const ODD_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "18446744073709551616",
    "-9223372036854775809",
    "-0",
    "0.0000000000000000000001",
    "1E+2",
    "1.5",
    "-1",
    "4294967296",
    "9007199254740993",
];

/// What one generated request is and what it must get.
struct Case {
    class: &'static str,
    bytes: Vec<u8>,
    /// Shut the write side after sending (requests the server cannot
    /// complete would otherwise wait for more bytes, legitimately).
    half_close: bool,
    /// A JSON-RPC call with an `id` member (or a batch holding one): must
    /// get a JSON answer.
    expects_json: bool,
    /// The call's `id` is an object or array.
    odd_id: bool,
    /// For mutations: the field replaced and the value put there.
    mutated: Option<(String, Value)>,
    /// A store.reload call.
    reload: bool,
    /// For a batch of 1 to 100 calls: how many carry an id (each must get
    /// its own answer).
    batch_ids: Option<usize>,
}

struct Gen {
    rng: Rng,
    u: Arc<Universe>,
    /// Set when a generated call names store.reload.
    reload: bool,
}

impl Gen {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.below(xs.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.rng.below(100) < percent
    }

    fn string(&mut self) -> String {
        match self.rng.below(7) {
            0 => self.pick(SQLISH).to_string(),
            1 => "9".repeat(1 + self.rng.below(20_000)),
            2 => "\u{202e}𝕏\u{fffd}\u{1}\u{7f}ǅ\u{200b}日本".to_string(),
            3 => self.pick(&self.u.codes.clone()).clone(),
            4 => self.pick(&self.u.dates.clone()).clone(),
            5 => String::new(),
            _ => (0..self.rng.below(12))
                .map(|_| char::from_u32(self.rng.below(0x3000) as u32).unwrap_or('?'))
                .collect(),
        }
    }

    /// A random JSON value as text (numbers beyond f64/i64 included).
    fn value_text(&mut self, depth: u32) -> String {
        let kinds = if depth > 3 { 8 } else { 11 };
        match self.rng.below(kinds) {
            0 => "null".into(),
            1 => if self.chance(50) { "true" } else { "false" }.into(),
            2 => (self.rng.next_u64() as i64 % 2000 - 1000).to_string(),
            3 => self.pick(ODD_NUMBERS).to_string(),
            4 | 5 => serde_json::to_string(&self.string()).unwrap_or_default(),
            6 => match self.rng.below(3) {
                // Escapes serde_json may refuse.
                0 => r#""\ud800""#.into(),
                1 => r#""\x41""#.into(),
                _ => r#""\u0000""#.into(),
            },
            7 => (self.rng.next_u64() as f64 / 7.0).to_string(),
            8 => {
                let n = self.rng.below(5);
                let items: Vec<String> = (0..n).map(|_| self.value_text(depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            9 => {
                let n = self.rng.below(5);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let k = serde_json::to_string(&self.string()).unwrap_or_default();
                        format!("{k}:{}", self.value_text(depth + 1))
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
            _ => {
                let d = 10 + self.rng.below(3000);
                if self.chance(50) {
                    format!("{}{}", "[".repeat(d), "]".repeat(d))
                } else {
                    format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d))
                }
            }
        }
    }

    /// Valid params for `method`.
    fn valid(&mut self, method: &str) -> Value {
        let u = self.u.clone();
        let code = self.pick(&u.codes).clone();
        let date = self.pick(&u.dates).clone();
        let industry = self.pick(&u.industries).clone();
        let column = self.pick(&u.numeric_columns).clone();
        match method {
            "stock.get" => json!({"code": code, "date": date, "fields": [column]}),
            "stock.many" => json!({"codes": [code, u.codes[0]], "date": date}),
            "stock.history" => {
                json!({"code": code, "from": u.dates[0], "to": date, "fields": [column]})
            }
            "stock.top" => json!({"by": column, "n": 5, "order": "asc", "date": date,
                                  "industry": industry, "fields": ["close"]}),
            "hotspots.ranking" => json!({"date": date, "n": 3}),
            "industry.detail" => json!({"industry": industry, "date": date}),
            "signals.stock" => json!({"code": code, "date": date}),
            "stock.list" => json!({"industry": industry, "prefix": code.get(..2).unwrap_or(""),
                                   "name": "", "offset": 0, "limit": 5}),
            "admin.subscribe_status" => json!({"interval_ms": 1000}),
            "cache.clear" => json!({"name": "query"}),
            "cache.resize" => json!({"name": "query", "max_bytes": "16MiB"}),
            _ => json!({}),
        }
    }

    /// A request document as text, positions valid or random.
    fn call_text(&mut self) -> (String, bool, bool) {
        let mut parts = Vec::new();
        match self.rng.below(10) {
            0..=6 => parts.push(r#""jsonrpc":"2.0""#.to_string()),
            7 => {}
            _ => parts.push(format!(r#""jsonrpc":{}"#, self.value_text(0))),
        }
        let mut method = stockd_api::METHODS[self.rng.below(stockd_api::METHODS.len())].name;
        while method == "store.reload" && self.chance(90) {
            method = stockd_api::METHODS[self.rng.below(stockd_api::METHODS.len())].name;
        }
        match self.rng.below(10) {
            0..=5 => {
                self.reload |= method == "store.reload";
                parts.push(format!(r#""method":"{method}""#))
            }
            6 => {}
            7 | 8 => parts.push(format!(
                r#""method":{}"#,
                serde_json::to_string(&self.string()).unwrap_or_default()
            )),
            _ => parts.push(format!(r#""method":{}"#, self.value_text(0))),
        }
        match self.rng.below(10) {
            0..=3 => parts.push(format!(r#""params":{}"#, self.valid(method))),
            4 => {}
            _ => parts.push(format!(r#""params":{}"#, self.value_text(0))),
        }
        let (has_id, odd) = match self.rng.below(20) {
            0..=8 => {
                parts.push(format!(r#""id":{}"#, self.rng.below(1_000_000)));
                (true, false)
            }
            9..=11 => {
                parts.push(format!(
                    r#""id":{}"#,
                    serde_json::to_string(&self.string()).unwrap_or_default()
                ));
                (true, false)
            }
            12 => {
                parts.push(r#""id":null"#.into());
                (true, false)
            }
            13 | 14 => (false, false),
            15 => {
                parts.push(format!(r#""id":[{}]"#, self.rng.below(9)));
                (true, true)
            }
            16 => {
                parts.push(format!(r#""id":{{"n":{}}}"#, self.rng.below(9)));
                (true, true)
            }
            _ => {
                let v = self.value_text(0);
                let odd = v.starts_with('[') || v.starts_with('{');
                parts.push(format!(r#""id":{v}"#));
                (true, odd)
            }
        };
        // Shuffle the members a little: order must not matter.
        if self.chance(30) {
            parts.reverse();
        }
        (format!("{{{}}}", parts.join(",")), has_id, odd)
    }

    fn next(&mut self) -> Case {
        match self.rng.below(100) {
            0..=9 => self.raw_bytes(),
            10..=27 => self.bad_http(),
            28..=54 => self.json_shape(),
            _ => self.mutation(),
        }
    }

    fn raw_bytes(&mut self) -> Case {
        let n = self.rng.below(3000);
        let bytes = (0..n).map(|_| self.rng.next_u64() as u8).collect();
        Case {
            class: "raw bytes",
            bytes,
            half_close: true,
            expects_json: false,
            odd_id: false,
            mutated: None,
            reload: false,
            batch_ids: None,
        }
    }

    fn bad_http(&mut self) -> Case {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"market.dates"}"#;
        let head = "Host: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n";
        let len = body.len();
        let text: Vec<u8> = match self.rng.below(16) {
            0 => b"GET\r\n\r\n".to_vec(),
            1 => format!("POST / HTTP/9.9\r\n{head}Content-Length: {len}\r\n\r\n{body}").into(),
            2 => format!("POST  HTTP/1.1\r\n{head}\r\n").into(),
            3 => format!(
                "{} / HTTP/1.1\r\n{head}Content-Length: {len}\r\n\r\n{body}",
                self.string().replace(['\r', '\n'], "")
            )
            .into(),
            4 => format!("POST /{} HTTP/1.1\r\n{head}\r\n", "a".repeat(100_000)).into(),
            5 => format!(
                "POST / HTTP/1.1\r\n{head}X-Big: {}\r\nContent-Length: {len}\r\n\r\n{body}",
                "b".repeat(100_000)
            )
            .into(),
            6 => {
                let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
                format!("POST / HTTP/1.1\r\n{head}{many}Content-Length: {len}\r\n\r\n{body}")
                    .into()
            }
            7 => format!(
                "POST / HTTP/1.1\r\n{head}Content-Length: {len}\r\nContent-Length: {}\r\n\r\n{body}",
                len + 5
            )
            .into(),
            8 => format!("POST / HTTP/1.1\r\n{head}Content-Length: -1\r\n\r\n{body}").into(),
            9 => format!("POST / HTTP/1.1\r\n{head}Content-Length: abc\r\n\r\n{body}").into(),
            10 => format!(
                "POST / HTTP/1.1\r\n{head}Content-Length: {}\r\n\r\n{body}",
                len + 1 + self.rng.below(100_000)
            )
            .into(),
            11 => format!(
                "POST / HTTP/1.1\r\n{head}Content-Length: {}\r\n\r\n{body}GARBAGE",
                len.saturating_sub(1 + self.rng.below(10))
            )
            .into(),
            12 => format!(
                "POST / HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n"
            )
            .into(),
            13 => format!(
                "POST / HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{:x}\r\n{body}\r\nffffffffffffffffff\r\n",
                len
            )
            .into(),
            14 => format!("POST / HTTP/1.1\r\n{head}Bad Header Line\r\n X-Folded: y\r\n\u{0}: \u{0}\r\n\r\n")
                .into(),
            _ => {
                // A valid request cut at a random point.
                let full =
                    format!("POST / HTTP/1.1\r\n{head}Content-Length: {len}\r\n\r\n{body}");
                let cut = self.rng.below(full.len());
                full.as_bytes()[..cut].to_vec()
            }
        };
        Case {
            class: "malformed HTTP",
            bytes: text,
            half_close: true,
            expects_json: false,
            odd_id: false,
            mutated: None,
            reload: false,
            batch_ids: None,
        }
    }

    fn json_shape(&mut self) -> Case {
        self.reload = false;
        let mut batch_ids = None;
        let (text, expects, odd) = match self.rng.below(10) {
            0 | 1 => (self.value_text(0), true, false),
            2..=6 => self.call_text(),
            _ => {
                let n = match self.rng.below(6) {
                    0 => 0,
                    1 => 100,
                    2 => 101,
                    3 => 100 + self.rng.below(100),
                    _ => 1 + self.rng.below(10),
                };
                let mut ids = 0;
                let mut odd = false;
                let calls: Vec<String> = (0..n)
                    .map(|_| {
                        let (t, id, o) = self.call_text();
                        ids += usize::from(id);
                        odd |= o;
                        t
                    })
                    .collect();
                if (1..=100).contains(&n) {
                    batch_ids = Some(ids);
                }
                (
                    format!("[{}]", calls.join(",")),
                    ids > 0 || n == 0 || n > 100,
                    odd,
                )
            }
        };
        Case {
            class: "JSON shape",
            bytes: http_post(text.as_bytes()),
            half_close: false,
            expects_json: expects,
            odd_id: odd,
            mutated: None,
            reload: self.reload,
            batch_ids,
        }
    }

    fn mutation(&mut self) -> Case {
        let mut method = stockd_api::METHODS[self.rng.below(stockd_api::METHODS.len())].name;
        // Each store.reload rebuilds the store: keep them rare so the fuzz
        // is not a reload storm.
        while method == "store.reload" && self.chance(90) {
            method = stockd_api::METHODS[self.rng.below(stockd_api::METHODS.len())].name;
        }
        let mut params = self.valid(method);
        let fields: Vec<String> = params
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut mutated = None;
        if let Some(obj) = params.as_object_mut() {
            let text = self.value_text(0);
            if let (false, Ok(v)) = (fields.is_empty(), serde_json::from_str::<Value>(&text)) {
                let f = fields[self.rng.below(fields.len())].clone();
                obj.insert(f.clone(), v.clone());
                mutated = Some((f, v));
            } else {
                obj.insert(self.string(), json!(1));
            }
        }
        let id = self.rng.below(1_000_000) as u64;
        let doc = Daemon::request(method, &params, id);
        Case {
            class: "mutated call",
            bytes: http_post(doc.to_string().as_bytes()),
            half_close: false,
            expects_json: true,
            odd_id: false,
            mutated,
            reload: method == "store.reload",
            batch_ids: None,
        }
    }
}

fn http_post(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Default)]
struct Stats {
    sent: u64,
    by_class: std::collections::BTreeMap<String, u64>,
    hangs: Vec<String>,
    unanswered: Vec<String>,
    unanswered_odd_id: u64,
    /// Unanswered calls by the JSON type of their id.
    unanswered_by_id: std::collections::BTreeMap<&'static str, u64>,
    not_json: Vec<String>,
    reloads: u64,
    named_checked: u64,
    named_missed: Vec<String>,
    max_latency: Duration,
    /// The first request of each answer class, printed after the run.
    examples: Vec<String>,
    reloads_sent: u64,
}

impl Stats {
    fn count(&mut self, k: String, example: impl FnOnce() -> String) {
        let n = self.by_class.entry(k.clone()).or_default();
        *n += 1;
        if *n == 1 {
            self.examples.push(format!("{k}: {}", example()));
        }
    }
}

enum Outcome {
    Hang,
    Closed,
    Answer(stockd_tests::http::Response),
    Garbled(String),
}

async fn exchange(socket: &std::path::Path, case: &Case) -> Result<Outcome> {
    let io = async {
        let mut s = tokio::net::UnixStream::connect(socket).await?;
        let _ = s.write_all(&case.bytes).await;
        if case.half_close {
            let _ = s.shutdown().await;
        }
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw).await;
        anyhow::Ok(raw)
    };
    let deadline = if case.reload {
        RELOAD_DEADLINE
    } else {
        EXCHANGE_DEADLINE
    };
    match tokio::time::timeout(deadline, io).await {
        Err(_) => Ok(Outcome::Hang),
        Ok(Err(e)) => Err(e),
        Ok(Ok(raw)) if raw.is_empty() => Ok(Outcome::Closed),
        Ok(Ok(raw)) => match stockd_tests::http::parse_response(&raw) {
            Ok(r) => Ok(Outcome::Answer(r)),
            Err(e) => Ok(Outcome::Garbled(format!(
                "{e}: {}",
                short(&String::from_utf8_lossy(&raw), 120)
            ))),
        },
    }
}

/// The request as text: the body of a well-formed request, else the start
/// of the bytes.
fn show(case: &Case) -> String {
    let text = String::from_utf8_lossy(&case.bytes);
    match (case.half_close, text.split_once("\r\n\r\n")) {
        (false, Some((_, body))) => short(body, 200),
        _ => short(&text, 200),
    }
}

/// The JSON type of a single call's `id`, for the unanswered-call figure.
fn id_kind(case: &Case) -> &'static str {
    if case.batch_ids.is_some() {
        return "in a batch";
    }
    let text = String::from_utf8_lossy(&case.bytes);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match serde_json::from_str::<Value>(body) {
        Err(_) => "unparsable document",
        Ok(doc) => match doc.get("id") {
            None => "no id",
            Some(Value::Null) => "null",
            Some(Value::Bool(_)) => "bool",
            Some(Value::Number(n)) if n.is_f64() => "fractional number",
            Some(Value::Number(_)) => "integer",
            Some(Value::String(_)) => "string",
            Some(Value::Array(_)) => "array",
            Some(Value::Object(_)) => "object",
        },
    }
}

/// The request's body (or bytes), up to 2000 characters.
fn full(case: &Case) -> String {
    let text = String::from_utf8_lossy(&case.bytes);
    short(text.split_once("\r\n\r\n").map_or(&text, |(_, b)| b), 2000)
}

fn judge(case: &Case, outcome: Outcome, st: &mut Stats) {
    let show = || show(case);
    match outcome {
        Outcome::Hang => {
            st.count("hang".into(), show);
            st.hangs.push(format!("{}: {}", case.class, show()));
        }
        Outcome::Closed => {
            st.count("closed without answer".into(), show);
            if case.expects_json {
                if case.odd_id {
                    st.unanswered_odd_id += 1;
                }
                *st.unanswered_by_id.entry(id_kind(case)).or_default() += 1;
                st.unanswered
                    .push(format!("{}: {}", id_kind(case), full(case)));
            }
        }
        Outcome::Garbled(e) => {
            st.count("garbled answer".into(), show);
            st.not_json.push(format!("{}: {e}", case.class));
        }
        Outcome::Answer(r) => {
            let doc: Option<Value> = serde_json::from_str(&r.body).ok();
            let kind = match &doc {
                _ if r.body.trim().is_empty() => "empty body",
                Some(Value::Array(_)) => "batch answer",
                Some(d) if d.get("result").is_some() => "result",
                Some(d) if d.get("error").is_some() => "error",
                Some(_) => "other JSON",
                None => "not JSON",
            };
            st.count(format!("HTTP {} {kind}", r.status), || {
                format!("{} → {}", show(), short(&r.body, 160))
            });
            let answered = match (&doc, case.batch_ids) {
                (Some(Value::Array(a)), Some(ids)) => a.len() >= ids,
                (Some(Value::Null), _) => false,
                _ => kind != "empty body",
            };
            if case.expects_json && !answered {
                if case.odd_id {
                    st.unanswered_odd_id += 1;
                }
                *st.unanswered_by_id.entry(id_kind(case)).or_default() += 1;
                st.unanswered
                    .push(format!("{}: {}", id_kind(case), full(case)));
            }
            if case.expects_json && (kind == "not JSON" || (kind == "other JSON" && answered)) {
                st.not_json.push(format!(
                    "HTTP {} {} to {}",
                    r.status,
                    short(&r.body, 60),
                    show()
                ));
            }
            if case.reload && kind == "result" {
                st.reloads += 1;
            }
            if let (Some((field, value)), Some(d)) = (&case.mutated, &doc) {
                if let Some(e) = RpcError::from_response(d) {
                    let checkable = e.code == -32602 || (1001..=1010).contains(&e.code);
                    if checkable {
                        st.named_checked += 1;
                        let text = e.text();
                        let v = match value {
                            Value::String(s) => s.chars().take(20).collect::<String>(),
                            other => short(&other.to_string(), 20)
                                .trim_end_matches('…')
                                .to_string(),
                        };
                        let escaped = short(&Value::String(v.clone()).to_string(), 22);
                        // An array is named by one of its strings (an
                        // unknown column inside `fields`), and the daemon
                        // echoes values without control characters.
                        let visible =
                            |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
                        let element_named = value.as_array().is_some_and(|items| {
                            items.iter().filter_map(Value::as_str).any(|s| {
                                let s = visible(&s.chars().take(20).collect::<String>());
                                if s.is_empty() {
                                    // An empty or control-only name has
                                    // nothing visible to show.
                                    true
                                } else {
                                    text.contains(&s)
                                }
                            })
                        });
                        // null is "absent" for an optional param: the
                        // error is then about another one.
                        let named = value.is_null()
                            || text.contains(field.as_str())
                            || (!v.is_empty() && text.contains(&v))
                            || (!visible(&v).is_empty() && text.contains(&visible(&v)))
                            || text.contains(escaped.trim_matches('"'))
                            || element_named;
                        if !named {
                            st.named_missed.push(format!(
                                "{field} = {}: {} {}",
                                short(&value.to_string(), 40),
                                e.code,
                                short(&text, 120)
                            ));
                        }
                    }
                }
            }
        }
    }
}

async fn fuzz(report: Report) -> Result<()> {
    let plan = FuzzPlan::from_env();
    println!(
        "  fuzz: {} (replay one: STOCKD_FUZZ_SEED=<seed>; a fresh one: STOCKD_FUZZ_SEED=random)",
        plan.describe()
    );
    let d = Arc::new(Daemon::demo().await?);
    let u = Arc::new(Universe::discover(&d).await?);
    let info0 = d.call("market.info", json!({})).await?;
    let (code, date) = (u.codes[0].clone(), u.latest().to_string());
    let row0 = d
        .call_raw("stock.get", json!({"code": code, "date": date}))
        .await?;

    let stats = Arc::new(Mutex::new(Stats::default()));
    let reloads_sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut cut_short = 0u64;
    for &seed in &plan.seeds {
        let until = Instant::now() + Duration::from_secs(plan.secs);
        let mut tasks = Vec::new();
        for w in 0..WORKERS {
            let (d, u, stats) = (d.clone(), u.clone(), stats.clone());
            let reloads_sent = reloads_sent.clone();
            let cases = plan.cases;
            tasks.push(tokio::spawn(async move {
                let mut g = Gen {
                    rng: Rng::new(seed ^ w.wrapping_mul(0x9E37_79B9)),
                    u,
                    reload: false,
                };
                let mut sent = 0u64;
                while Instant::now() < until && !matches!(cases, Some(n) if sent >= n) {
                    let case = g.next();
                    sent += 1;
                    let t = Instant::now();
                    let outcome = exchange(d.socket(), &case).await;
                    if case.reload {
                        reloads_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let took = t.elapsed();
                    let mut st = stats.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    st.sent += 1;
                    st.max_latency = st.max_latency.max(took);
                    match outcome {
                        Ok(o) => judge(&case, o, &mut st),
                        Err(e) => {
                            st.count("connect/IO error".into(), || format!("{e:#}"));
                            st.not_json.push(format!("{}: {e:#}", case.class));
                        }
                    }
                }
                anyhow::Ok(cases.map_or(0, |n| n.saturating_sub(sent)))
            }));
        }
        for t in tasks {
            cut_short += t.await??;
        }
    }
    let seed = plan
        .seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let secs = plan.max_secs();
    if cut_short > 0 {
        println!(
            "  {cut_short} planned cases not sent: a seed's run reached its {} s bound",
            plan.secs
        );
    }
    let mut st = std::mem::take(&mut *stats.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    st.reloads_sent = reloads_sent.load(std::sync::atomic::Ordering::Relaxed);
    let findings = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings.txt");
    let mut text = format!("seed {seed}\n");
    for (title, list) in [
        ("hangs", &st.hangs),
        ("unanswered calls", &st.unanswered),
        ("answers that are not JSON-RPC", &st.not_json),
        (
            "errors not naming the replaced field or value",
            &st.named_missed,
        ),
    ] {
        text.push_str(&format!("\n# {title} ({})\n", list.len()));
        for l in list {
            text.push_str(l);
            text.push('\n');
        }
    }
    if let Err(e) = std::fs::write(&findings, text) {
        println!("  cannot write {}: {e}", findings.display());
    } else {
        println!("  findings written to {}", findings.display());
    }
    println!("  first request of each answer class:");
    for e in &st.examples {
        println!("    {e}");
    }

    let classes: Vec<String> = st
        .by_class
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    report.check(
        format!("fuzz seed {seed}, ≤ {secs} s: requests sent and answered or closed"),
        format!(
            "{} requests; {}; max latency {:.2} s",
            st.sent,
            classes.join(", "),
            st.max_latency.as_secs_f64()
        ),
        st.sent > 0,
    );
    report.check(
        format!(
            "hangs (no answer or close within {} s)",
            EXCHANGE_DEADLINE.as_secs()
        ),
        format!(
            "{}{}",
            st.hangs.len(),
            st.hangs
                .first()
                .map(|h| format!(", e.g. {h}"))
                .unwrap_or_default()
        ),
        st.hangs.is_empty(),
    );
    report.check(
        "calls carrying an id left without a JSON-RPC answer",
        format!(
            "{} (id types: {}; {} with an object/array id){}",
            st.unanswered.len(),
            st.unanswered_by_id
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            st.unanswered_odd_id,
            st.unanswered
                .first()
                .map(|h| format!(", e.g. {h}"))
                .unwrap_or_default()
        ),
        st.unanswered.is_empty(),
    );
    report.check(
        "answers to JSON bodies are JSON-RPC documents",
        format!(
            "{} not{}",
            st.not_json.len(),
            st.not_json
                .first()
                .map(|h| format!(", e.g. {h}"))
                .unwrap_or_default()
        ),
        st.not_json.is_empty(),
    );
    report.check(
        "mutated calls: errors name the replaced field or value",
        format!(
            "{} of {} errors checked do not{}",
            st.named_missed.len(),
            st.named_checked,
            st.named_missed
                .iter()
                .take(3)
                .map(|m| format!("; {m}"))
                .collect::<String>()
        ),
        st.named_checked > 0 && st.named_missed.is_empty(),
    );

    // Alive, no panic, nothing lost.
    let stderr = d.stderr();
    let panics = stderr.lines().filter(|l| l.contains("panicked")).count();
    let alive = d
        .pid()
        .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
        .is_some_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        });
    report.check(
        "daemon up and never panicked",
        format!("alive {alive}, {panics} \"panicked\" lines in stderr"),
        alive && panics == 0,
    );
    let g0 = info0["generation"].as_u64().unwrap_or(0);
    let info1 = d
        .wait_info(
            "generation settled after the fuzz's store.reload calls",
            Duration::from_secs(30),
            |i| i["generation"].as_u64().unwrap_or(0) >= g0,
        )
        .await?;
    let g1 = info1["generation"].as_u64().unwrap_or(0);
    let row1 = d
        .call_raw("stock.get", json!({"code": code, "date": date}))
        .await?;
    report.check(
        "nothing lost: rows unchanged, generation moved only by store.reload, a known row identical",
        format!(
            "rows {} → {}, generation {g0} → {g1} ({} store.reload sent, {} answered), row {code} {date} {}",
            info0["rows"],
            info1["rows"],
            st.reloads_sent,
            st.reloads,
            if row0 == row1 { "identical" } else { "DIFFERS" }
        ),
        info0["rows"] == info1["rows"]
            && info1["rows"].as_u64().unwrap_or(0) > 0
            && g1 >= g0
            && g1 <= g0 + st.reloads_sent
            && row0 == row1,
    );
    Ok(())
}

// ================================================================ config

struct ConfigCase {
    name: &'static str,
    config: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// Run as nobody instead of root.
    as_nobody: bool,
    /// Strings the one error line must contain.
    names: Vec<String>,
}

fn cc(name: &'static str, config: &str, names: &[&str]) -> ConfigCase {
    ConfigCase {
        name,
        config: config.to_string(),
        env: Vec::new(),
        args: vec!["--check-config".into()],
        as_nobody: false,
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

async fn config_table(report: Report) -> Result<()> {
    let dir = TempDir::new("stockd-cfg")?;
    let base = stockd_tests::pg::base_url()?;
    let mut cases = vec![
        cc(
            "malformed TOML",
            "[server\nsocket_mode = \"0660\"\n",
            &["invalid TOML", "line 1"],
        ),
        cc(
            "wrong type",
            "[server]\nmax_connections = \"many\"\n",
            &["server.max_connections"],
        ),
        cc(
            "negative size",
            "[server]\nmax_request_bytes = -5\n",
            &["server.max_request_bytes", "-5"],
        ),
        cc(
            "negative cache size",
            "[cache.query]\nmax_bytes = \"-1MiB\"\n",
            &["cache.query.max_bytes", "-1MiB"],
        ),
        cc(
            "zero connections",
            "[server]\nmax_connections = 0\n",
            &["server.max_connections", "0"],
        ),
        cc(
            "huge pool",
            "[source.pool]\nmax_size = 100000\n",
            &["source.pool.max_size", "100000"],
        ),
        cc(
            "request size over the cap",
            "[server]\nmax_request_bytes = \"1GiB\"\n",
            &["server.max_request_bytes", "1GiB"],
        ),
        cc(
            "unknown key",
            "[server]\nsockett = \"/tmp/x.sock\"\n",
            &["sockett"],
        ),
        cc("unknown section", "[nope]\nx = 1\n", &["nope"]),
        cc(
            "bad socket_mode",
            "[server]\nsocket_mode = \"0999\"\n",
            &["server.socket_mode", "0999"],
        ),
        cc(
            "socket_mode wider than 0777",
            "[server]\nsocket_mode = \"01777\"\n",
            &["server.socket_mode", "01777"],
        ),
        cc(
            "window_days over the cap",
            "[source]\nwindow_days = 100001\n",
            &["source.window_days", "100001"],
        ),
        cc(
            "zero refresh interval",
            "[source]\nrefresh_interval = \"0s\"\n",
            &["source.refresh_interval", "0s"],
        ),
        cc(
            "memory.high above critical",
            "[memory]\nhigh = 0.99\ncritical = 0.5\n",
            &["memory."],
        ),
        cc(
            "unreachable database",
            "[source]\ndatabase_url = \"postgres://postgres@127.0.0.1:1/postgres\"\n",
            &["127.0.0.1:1", "refused"],
        ),
        cc(
            "missing table",
            &format!("[source]\ndatabase_url = \"{base}\"\ntable = \"no_such_table_stockd\"\n"),
            &["no_such_table_stockd", "does not exist"],
        ),
    ];
    let mut env_case = cc("unknown STOCKD_ variable", "", &["STOCKD_SERVER_SOCKETT"]);
    env_case.env = vec![("STOCKD_SERVER_SOCKETT".into(), "/tmp/x.sock".into())];
    cases.push(env_case);
    let mut env_case = cc(
        "bad value by environment",
        "",
        &["source.window_days", "abc", "STOCKD_SOURCE_WINDOW_DAYS"],
    );
    env_case.env = vec![("STOCKD_SOURCE_WINDOW_DAYS".into(), "abc".into())];
    cases.push(env_case);
    // Socket problems show at a real start.
    let missing = dir.path().join("missing-dir");
    let mut c = cc("socket in a missing directory", "", &["missing-dir"]);
    c.args = vec![
        "--socket".into(),
        missing.join("s.sock").display().to_string(),
    ];
    cases.push(c);
    let locked = dir.path().join("root-only");
    std::fs::create_dir(&locked)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    let mut c = cc(
        "socket in a directory the daemon (nobody) cannot write",
        "",
        &["root-only", "ermission denied"],
    );
    c.args = vec![
        "--socket".into(),
        locked.join("s.sock").display().to_string(),
    ];
    c.as_nobody = true;
    cases.push(c);

    for c in &cases {
        let user = c.as_nobody.then_some((65534, 65534));
        let run = run_stockd(
            dir.path(),
            &c.config,
            &c.args,
            &c.env,
            user,
            Duration::from_secs(30),
        )
        .await?;
        let lines = run.error_lines();
        let missing: Vec<&String> = c
            .names
            .iter()
            .filter(|n| !lines.first().is_some_and(|l| l.contains(n.as_str())))
            .collect();
        report.check(
            format!("config {}: non-zero exit, one error line naming it", c.name),
            format!(
                "exit {} in {:.1} s: {}{}",
                run.code
                    .map_or("none (still running, killed)".into(), |c| c.to_string()),
                run.elapsed.as_secs_f64(),
                short(&lines.join(" / "), 220),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" [does not name {missing:?}]")
                }
            ),
            matches!(run.code, Some(code) if code != 0) && lines.len() == 1 && missing.is_empty(),
        );
    }

    // What a normal start does with an unreachable database: it keeps
    // running (serving nothing yet) and retrying, as a service whose
    // database comes up later must.
    let run = run_stockd(
        dir.path(),
        "[source]\ndatabase_url = \"postgres://postgres@127.0.0.1:1/postgres\"\nrefresh_interval = \"1s\"\n",
        &[
            "--socket".into(),
            dir.path().join("retry.sock").display().to_string(),
        ],
        &[],
        None,
        Duration::from_secs(6),
    )
    .await?;
    let retries = run
        .stderr
        .lines()
        .filter(|l| l.contains("127.0.0.1:1") || l.to_lowercase().contains("refused"))
        .count();
    report.check(
        "start with an unreachable database: keeps running and retrying, logging why",
        format!(
            "after {:.1} s: {}, {retries} log lines naming the address/refusal",
            run.elapsed.as_secs_f64(),
            run.code
                .map_or("still running".to_string(), |c| format!("exited {c}"))
        ),
        run.code.is_none() && retries >= 1,
    );
    Ok(())
}

// ================================================================ quoted

const Q_SCHEMA: &str = "Mkt \"Q\" Ω";
const Q_TABLE: &str = "Daily \"Bars\" 表";
const Q_CODE: &str = "Ticker \"X\"";
const Q_DATE: &str = "Order";

async fn quoted(report: Report) -> Result<()> {
    let db = PgTestDb::new().await?;
    let table = format!("{}.{}", quote_ident(Q_SCHEMA), quote_ident(Q_TABLE));
    let cols = [
        (Q_CODE, "text NOT NULL"),
        (Q_DATE, "date NOT NULL"),
        ("Close Price", "numeric(12,2)"),
        ("select", "double precision"),
        ("user", "integer"),
        ("ÄÖÜ vol", "bigint"),
        ("a\"b", "real"),
        ("GROUP", "boolean"),
        ("名称", "text"),
    ];
    let ddl_cols: Vec<String> = cols
        .iter()
        .map(|(n, t)| format!("{} {t}", quote_ident(n)))
        .collect();
    db.execute(&format!(
        "CREATE SCHEMA {s}; CREATE TABLE {table} ({}, PRIMARY KEY ({}, {}));
         INSERT INTO {table} SELECT 'S' || lpad(i::text, 3, '0'), DATE '2024-05-01' + d,
            (i * 10 + d)::numeric / 3, i * 0.25 + d, i * 100 + d, i::bigint * 1000000007,
            (i / 7.0)::real, (i + d) % 2 = 0, '股票 \"' || i || '\" ''x'''
         FROM generate_series(1, 30) AS i, generate_series(0, 4) AS d;",
        ddl_cols.join(", "),
        quote_ident(Q_CODE),
        quote_ident(Q_DATE),
        s = quote_ident(Q_SCHEMA),
    ))
    .await?;
    let toml_str = |s: &str| Value::String(s.to_string()).to_string();
    let d = Daemon::builder()
        .database_url(db.url())
        .args(["--table", &table, "--window-days", "0"])
        .env("STOCKD_SOURCE_REFRESH_INTERVAL", "1h")
        .config(&format!(
            "[columns]\ncode = {}\ndate = {}\n",
            toml_str(Q_CODE),
            toml_str(Q_DATE)
        ))
        .start()
        .await?;

    // Every row, every column, against PostgreSQL.
    let pg_cols = compare::discover(db.client(), &table).await?;
    let reader = RowReader::prepare(db.client(), &table, &pg_cols, Q_CODE, Q_DATE).await?;
    let keys: Vec<(String, String)> = db
        .query(
            &format!(
                "SELECT {}, {}::text FROM {table} ORDER BY 1, 2",
                quote_ident(Q_CODE),
                quote_ident(Q_DATE)
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let info = d.call("market.info", json!({})).await?;
    let mut diffs = Vec::new();
    for (code, date) in &keys {
        let expected = reader
            .read(db.client(), code, date)
            .await?
            .context("row vanished")?;
        let body = d
            .call_raw("stock.get", json!({"code": code, "date": date}))
            .await?;
        let row = compare::raw_row(&body)?;
        for diff in compare::compare_values(&reader.cols, &expected, &row.values, &[Q_CODE, Q_DATE])
        {
            diffs.push(format!("({code}, {date}): {diff}"));
        }
    }
    let held: Vec<String> = info["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let want: Vec<String> = pg_cols.iter().map(|c| c.name.clone()).collect();
    report.check(
        "quoted schema/table/columns (spaces, \", upper case, reserved, unicode) load and read back equal to PostgreSQL",
        format!(
            "{} rows (SQL {}), columns {}; {} differences{}",
            info["rows"],
            keys.len(),
            if held == want { "as in the catalog" } else { "DIFFER" },
            diffs.len(),
            diffs.first().map(|d| format!(", e.g. {d}")).unwrap_or_default()
        ),
        info["rows"].as_u64() == Some(keys.len() as u64) && held == want && diffs.is_empty(),
    );
    // Ranking by a reserved-word column, as PostgreSQL orders it.
    let got = d
        .call(
            "stock.top",
            json!({"by": "select", "n": 5, "date": "2024-05-05"}),
        )
        .await?;
    let got: Vec<String> = got
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["code"].as_str().map(str::to_string))
        .collect();
    let want: Vec<String> = db
        .query(
            &format!(
                "SELECT {c} FROM {table} WHERE {dt} = DATE '2024-05-05' ORDER BY \"select\" DESC, {c} COLLATE \"C\" LIMIT 5",
                c = quote_ident(Q_CODE),
                dt = quote_ident(Q_DATE)
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    report.check(
        "stock.top by the reserved-word column \"select\" matches SQL",
        format!("{got:?}"),
        got == want && !got.is_empty(),
    );

    // SQL-ish params to every method: clear errors or empty answers, the
    // table intact, and the daemon ran no statement meanwhile.
    let before = activity(&db).await?;
    let mut answers = 0;
    let mut bad = Vec::new();
    for inj in SQLISH {
        for m in stockd_api::METHODS {
            let method = m.name;
            if m.params.is_empty() || m.kind != stockd_api::Kind::Call {
                // Nothing to inject into (store.reload would run the
                // configured load); subscriptions need a WebSocket.
                continue;
            }
            let all = json!({
                "code": inj, "codes": [inj], "date": inj, "from": inj, "to": inj,
                "fields": [inj], "by": inj, "industry": inj, "order": inj, "name": inj,
                "max_bytes": inj, "prefix": inj, "layout": inj, "n": inj, "offset": inj,
                "limit": inj, "interval_ms": inj,
            });
            // Only the names the method takes: the injected text must reach
            // its handler, not stop at the unknown-name check.
            let params: serde_json::Map<String, serde_json::Value> = m
                .params
                .iter()
                .map(|p| (p.to_string(), all[*p].clone()))
                .collect();
            let params = serde_json::Value::Object(params);
            let (status, doc) = d
                .raw(&serde_json::to_vec(&Daemon::request(method, &params, 9))?)
                .await?;
            answers += 1;
            match (RpcError::from_response(&doc), doc.get("result")) {
                (Some(e), _) if e.code != -32603 && !e.message.is_empty() => {}
                (None, Some(_)) => {}
                _ => bad.push(format!(
                    "{method}: HTTP {status} {}",
                    short(&doc.to_string(), 100)
                )),
            }
        }
    }
    let after = activity(&db).await?;
    let ran: Vec<String> = after
        .iter()
        .filter(|a| !before.contains(a) && !a.1.is_empty())
        .map(|(pid, at, q)| format!("pid {pid} at {at}: {}", short(q, 80)))
        .collect();
    let leaked: Vec<&String> = after
        .iter()
        .map(|a| &a.2)
        .filter(|q| SQLISH.iter().any(|s| s.len() > 4 && q.contains(s)))
        .collect();
    let still = db
        .query(&format!("SELECT count(*) FROM {table}"), &[])
        .await?;
    let n: i64 = still[0].get(0);
    report.check(
        "SQL-ish params to every method: clear errors, table intact, no statement from the daemon",
        format!(
            "{answers} calls, {} without a clear answer{}; table rows {n}; daemon backends {} → {}, {} ran a statement meanwhile{}; {} show an injected string",
            bad.len(),
            bad.first().map(|b| format!(" (e.g. {b})")).unwrap_or_default(),
            before.len(),
            after.len(),
            ran.len(),
            ran.first().map(|r| format!(" (e.g. {r})")).unwrap_or_default(),
            leaked.len()
        ),
        bad.is_empty() && n == keys.len() as i64 && ran.is_empty() && leaked.is_empty() && !before.is_empty(),
    );
    ensure!(!keys.is_empty(), "the quoted table is empty");
    Ok(())
}

/// `(pid, query_start, query)` of every other backend on `db`'s database.
async fn activity(db: &PgTestDb) -> Result<Vec<(i32, String, String)>> {
    let sql = format!(
        "SELECT pid, coalesce(query_start::text, ''), query FROM pg_stat_activity
         WHERE datname = {} AND pid <> pg_backend_pid() ORDER BY pid",
        quote_literal(db.name())
    );
    let rows = db.query(&sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, i32>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
            )
        })
        .collect())
}
