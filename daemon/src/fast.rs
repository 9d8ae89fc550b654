//! The fast path: one JSON-RPC call of a data method in one HTTP POST,
//! answered without going through jsonrpsee's request machinery.
//!
//! Why: jsonrpsee 0.26 re-parses every response it builds
//! (`MethodResponse::response` → `RawValue::from_string`), which for a
//! 37 KB `stock.top` answer was half of the daemon's CPU per request. The
//! handlers already produce JSON text; here it is framed and sent as is.
//!
//! Only the plain case is taken: a single object with exactly `jsonrpc`
//! `"2.0"`, a data `method`, an object (or absent) `params` that
//! deserialises into that method's parameters, and a number, string or
//! null `id`. Anything else — batches, positional params, unknown
//! members, wrong types, admin methods, subscriptions — goes to jsonrpsee
//! unchanged, so error messages for bad requests stay jsonrpsee's own and
//! the two paths cannot disagree about what is valid. Answers (results and
//! handler errors) are byte-for-byte what jsonrpsee writes: `jsonrpc`,
//! `id`, then `result` or `error`. Calls are counted in the same
//! per-method statistics.

use crate::server::{Json, Rpc};
use crate::stats::RequestStats;
use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Instant;
use stockd_api::{StockServer, ViewsServer};

/// The envelope of a single call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call<'a> {
    jsonrpc: &'a str,
    method: &'a str,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow)]
    id: &'a RawValue,
}

/// The `id` of a single-call body that jsonrpsee would take for a
/// notification (an object or an array): JSON-RPC 2.0 allows only a
/// string, a number or null. Returns the kind found.
pub fn bad_id(body: &[u8]) -> Option<&'static str> {
    if !is_object(body) {
        return None;
    }
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    let call: IdOnly = serde_json::from_slice(body).ok()?;
    match call.id?.get().as_bytes().first()? {
        b'{' => Some("an object"),
        b'[' => Some("an array"),
        _ => None,
    }
}

/// Whether `body` is a JSON object (serde would also read a struct from
/// an array, which here is a batch).
fn is_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetParams {
    code: String,
    date: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManyParams {
    codes: Vec<String>,
    date: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    code: String,
    from: Option<String>,
    to: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopParams {
    by: String,
    n: Option<u64>,
    order: Option<String>,
    date: Option<String>,
    industry: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HotspotsParams {
    date: Option<String>,
    n: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndustryParams {
    industry: String,
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalsParams {
    code: String,
    date: Option<String>,
}

/// Parameters of `method`: absent means `{}` (as the recording middleware
/// does for jsonrpsee), anything but an object is left to jsonrpsee.
fn params<T: DeserializeOwned>(raw: Option<&RawValue>) -> Option<T> {
    let text = raw.map_or("{}", RawValue::get);
    if !is_object(text.as_bytes()) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Runs the handler of `method` if the call takes the fast path.
fn dispatch(rpc: &Rpc, method: &str, raw: Option<&RawValue>) -> Option<RpcResult<Json>> {
    Some(match method {
        "stock.get" => {
            let p: GetParams = params(raw)?;
            StockServer::get(rpc, p.code, p.date, p.fields)
        }
        "stock.many" => {
            let p: ManyParams = params(raw)?;
            StockServer::many(rpc, p.codes, p.date, p.fields)
        }
        "stock.history" => {
            let p: HistoryParams = params(raw)?;
            StockServer::history(rpc, p.code, p.from, p.to, p.fields)
        }
        "stock.top" => {
            let p: TopParams = params(raw)?;
            StockServer::top(rpc, p.by, p.n, p.order, p.date, p.industry, p.fields)
        }
        "hotspots.ranking" => {
            let p: HotspotsParams = params(raw)?;
            ViewsServer::hotspots(rpc, p.date, p.n)
        }
        "industry.detail" => {
            let p: IndustryParams = params(raw)?;
            ViewsServer::industry(rpc, p.industry, p.date)
        }
        "signals.stock" => {
            let p: SignalsParams = params(raw)?;
            ViewsServer::signals(rpc, p.code, p.date)
        }
        _ => return None,
    })
}

/// The answer document for `body`, or `None` when jsonrpsee should take
/// the call. `max_response` is the largest answer jsonrpsee would send;
/// larger ones are left to it (it answers with its own error).
pub fn answer(rpc: &Rpc, stats: &RequestStats, body: &[u8], max_response: usize) -> Option<String> {
    if !is_object(body) {
        return None;
    }
    let call: Call = serde_json::from_slice(body).ok()?;
    if call.jsonrpc != "2.0" {
        return None;
    }
    let id = call.id.get();
    if !matches!(
        id.as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9' | b'n')
    ) {
        return None;
    }
    let started = Instant::now();
    let result = dispatch(rpc, call.method, call.params)?;
    let mut out = String::with_capacity(64);
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(id);
    let failed = match &result {
        Ok(json) => {
            out.push_str(r#","result":"#);
            out.push_str(json.text());
            false
        }
        Err(e) => {
            out.push_str(r#","error":"#);
            out.push_str(&error_text(e));
            true
        }
    };
    out.push('}');
    if out.len() > max_response {
        return None;
    }
    stats.record(call.method, started.elapsed().as_micros() as u64, failed);
    Some(out)
}

/// An error object as jsonrpsee writes it (`code`, `message`, `data`).
fn error_text(e: &ErrorObjectOwned) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| {
        format!(
            r#"{{"code":{},"message":"internal error writing an error"}}"#,
            e.code()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_are_single_calls() {
        assert!(is_object(b" \n{\"id\":1}"));
        assert!(!is_object(b"[{\"id\":{}}]"));
        assert!(!is_object(b""));
        assert_eq!(bad_id(br#"{"id":{"a":1},"method":"m"}"#), Some("an object"));
        assert_eq!(bad_id(br#"{"id":[1],"method":"m"}"#), Some("an array"));
        assert_eq!(
            bad_id(br#"[{"id":{"a":1}}]"#),
            None,
            "a batch is jsonrpsee's"
        );
        assert_eq!(bad_id(br#"{"id":1}"#), None);
        assert_eq!(bad_id(br#"{"id":null}"#), None);
    }
}
