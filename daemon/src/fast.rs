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

/// A call jsonrpsee would mishandle over HTTP, found before it sees it:
/// the -32600 message, and the id to echo (when the id itself is fine).
#[derive(Debug)]
pub struct Refused<'a> {
    pub message: String,
    pub id: Option<&'a RawValue>,
}

/// Checks one call object. jsonrpsee 0.26 takes ids only as strings, null
/// or integers from 0 to u64::MAX: an object or array id made it treat the
/// call as a notification (no answer), and a negative, fractional, huge or
/// boolean id, or a string with a lone surrogate, got the body `null`.
/// Subscriptions need a WebSocket; over a POST jsonrpsee answered only
/// "Internal error".
pub fn refuse(call: &RawValue) -> Option<Refused<'_>> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        method: Option<&'a RawValue>,
    }
    if !is_object(call.get().as_bytes()) {
        return None;
    }
    let env: Envelope = serde_json::from_str(call.get()).ok()?;
    if let Some(id) = env.id {
        let text = id.get();
        let kind = match text.as_bytes().first()? {
            b'n' => None,
            b'"' => serde_json::from_str::<String>(text)
                .err()
                .map(|e| format!("a string that is not valid Unicode ({e})")),
            b'{' => Some("an object".to_string()),
            b'[' => Some("an array".to_string()),
            b't' | b'f' => Some(format!("the boolean {text}")),
            _ => text
                .parse::<u64>()
                .is_err()
                .then(|| format!("the number {}", clip(text))),
        };
        if let Some(kind) = kind {
            return Some(Refused {
                message: format!(
                    "Invalid request: id is {kind}; this server takes a string, null or an integer from 0 to {}",
                    u64::MAX
                ),
                id: None,
            });
        }
    }
    let method = env
        .method
        .and_then(|m| serde_json::from_str::<&str>(m.get()).ok());
    if let Some(m @ ("admin.subscribe_status" | "admin.unsubscribe_status")) = method {
        return Some(Refused {
            message: format!(
                "{m} needs a WebSocket connection: subscription updates cannot be sent as answers to an HTTP POST (connect with ws://, or poll admin.status)"
            ),
            id: env.id,
        });
    }
    None
}

/// At most 40 characters of `text`, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The -32600 error document for a refused call.
pub fn refusal_doc(r: &Refused) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32600,"message":{}}}}}"#,
        r.id.map_or("null", RawValue::get),
        serde_json::Value::from(r.message.as_str())
    )
}

/// A batch with refused calls split: the answers for the refused ones, and
/// the body of the rest for jsonrpsee (`None` if no call was refused or the
/// body is not a batch).
pub fn split_batch(body: &[u8]) -> Option<(Vec<String>, Option<String>)> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return None;
    }
    let calls: Vec<&RawValue> = serde_json::from_slice(body).ok()?;
    if calls.len() > stockd_api::limits::MAX_BATCH as usize {
        return None;
    }
    let mut refused = Vec::new();
    let mut rest = Vec::new();
    for c in &calls {
        match refuse(c) {
            Some(r) => refused.push(refusal_doc(&r)),
            None => rest.push(c.get()),
        }
    }
    if refused.is_empty() {
        return None;
    }
    let rest = (!rest.is_empty()).then(|| format!("[{}]", rest.join(",")));
    Some((refused, rest))
}

/// Whether `body` is a JSON object (serde would also read a struct from
/// an array, which here is a batch).
fn is_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    industry: Option<String>,
    prefix: Option<String>,
    name: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
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
        "stock.list" => {
            let p: ListParams = params(raw)?;
            StockServer::list(rpc, p.industry, p.prefix, p.name, p.offset, p.limit)
        }
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

    fn refused(body: &str) -> Option<String> {
        let raw: &RawValue = serde_json::from_str(body).expect("test JSON");
        refuse(raw).map(|r| refusal_doc(&r))
    }

    #[test]
    fn ids_jsonrpsee_cannot_take_are_refused_by_name() {
        for (id, kind) in [
            (r#"{"a":1}"#, "an object"),
            ("[1]", "an array"),
            ("true", "the boolean true"),
            ("-5", "the number -5"),
            ("1.5", "the number 1.5"),
            ("123456789012345678901234567890", "the number 1234"),
            (r#""\ud800""#, "not valid Unicode"),
        ] {
            let doc = refused(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#))
                .unwrap_or_else(|| panic!("id {id} taken"));
            assert!(doc.contains(kind), "id {id}: {doc}");
            assert!(doc.contains(r#""id":null"#), "{doc}");
        }
        for id in ["0", "18446744073709551615", r#""x""#, "null"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#);
            assert_eq!(refused(&body), None, "id {id}");
        }
        assert_eq!(refused(r#"{"jsonrpc":"2.0","method":"m"}"#), None);
    }

    #[test]
    fn subscriptions_over_http_are_refused_with_their_id() {
        let doc = refused(r#"{"jsonrpc":"2.0","id":7,"method":"admin.subscribe_status"}"#)
            .expect("refused");
        assert!(
            doc.contains("WebSocket") && doc.contains(r#""id":7"#),
            "{doc}"
        );
    }

    #[test]
    fn batches_keep_good_calls_and_answer_refused_ones() {
        let body = br#"[{"jsonrpc":"2.0","id":{"n":1},"method":"m"},{"jsonrpc":"2.0","id":2,"method":"m"}]"#;
        let (refused, rest) = split_batch(body).expect("split");
        assert_eq!(refused.len(), 1);
        assert_eq!(
            rest.as_deref(),
            Some(r#"[{"jsonrpc":"2.0","id":2,"method":"m"}]"#)
        );
        assert_eq!(
            split_batch(br#"[{"jsonrpc":"2.0","id":2,"method":"m"}]"#),
            None
        );
        let (_, rest) = split_batch(br#"[{"id":true}]"#).expect("split");
        assert_eq!(rest, None);
    }

    #[test]
    fn only_objects_are_single_calls() {
        assert!(is_object(b" \n{\"id\":1}"));
        assert!(!is_object(b"[{\"id\":{}}]"));
        assert!(!is_object(b""));
    }
}
