//! JSON-RPC 2.0, once: a request body (one call or a batch) becomes its
//! answer text. Each Request object is checked as the specification says
//! (§4: `jsonrpc` exactly "2.0", `method` a string, `params` an object or
//! array when present, `id` a string, number or null when present; §6:
//! batches), parsed against the contract ([`stockd_api::Call`]), run by
//! [`crate::handlers`] and written as a Response object with the handler's
//! JSON document copied in verbatim. The HTTP transport calls [`answer`];
//! the WebSocket module ([`ws`]) calls [`run`] for each call jsonrpsee
//! hands it. A POST that asks for an Arrow answer gets [`answer_arrow`]:
//! one call of a row-list method ([`crate::handlers::arrow::METHODS`]) as
//! an Arrow IPC stream, every error as the same JSON Response object.
//!
//! Every error object carries `data: {"kind", "value"}`: `parse_error`
//! (-32700, the value says where the JSON broke), `invalid_request`
//! (-32600, the value names the member), `unknown_method` (-32601),
//! `invalid_params` (-32602), `internal_error` (-32603), and the
//! application kinds of [`stockd_api::ErrorKind`].

pub mod ws;

use crate::app::{PeerCred, Shared};
use crate::cache::Doc;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Instant;
use stockd_api::{limits, AppError, Call, CallError, Kind};

/// Largest answer (1000 rows × every column fits with room to spare).
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// JSON-RPC's own error codes.
pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;

/// An error object: `{"code", "message", "data": {"kind", "value"}}`.
pub fn error_object(code: i32, message: &str, kind: &str, value: &str) -> String {
    serde_json::json!({
        "code": code,
        "message": message,
        "data": {"kind": kind, "value": value},
    })
    .to_string()
}

/// The error object of an application error.
pub fn app_error_object(e: &AppError) -> String {
    error_object(e.kind.code(), &e.message, e.kind.as_str(), &e.value)
}

/// A Response object with `id` (JSON text) and an error object.
pub fn error_response(id: &str, error: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#)
}

fn invalid_request(member: &str, message: String) -> String {
    error_response(
        "null",
        &error_object(
            INVALID_REQUEST,
            &format!("Invalid Request: {message}"),
            "invalid_request",
            member,
        ),
    )
}

/// The -32601 error for `method`, naming the methods there are.
pub fn unknown_method(method: &str) -> String {
    let shown = stockd_api::shown(method);
    let names: Vec<&str> = stockd_api::METHODS.iter().map(|m| m.name).collect();
    error_object(
        METHOD_NOT_FOUND,
        &format!(
            "method '{shown}' does not exist; methods: {}",
            names.join(", ")
        ),
        "unknown_method",
        &shown,
    )
}

/// What a JSON value is, for messages.
fn kind_of(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// `Some(raw)` for a member that is present, also when it is `null`
/// (serde would read a present `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The members of a Request object, as sent.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// A checked Request object: the method, params and id (`None` for a
/// notification), or the Invalid Request answer.
fn request(raw: &RawValue) -> Result<(String, Option<&RawValue>, Option<&RawValue>), String> {
    if !raw.get().starts_with('{') {
        return Err(invalid_request(
            "",
            format!("a call is a JSON object; got {}", kind_of(raw)),
        ));
    }
    let env: Envelope = serde_json::from_str(raw.get())
        .map_err(|e| invalid_request("", format!("the call object is not readable: {e}")))?;
    match env.jsonrpc.map(|v| serde_json::from_str::<String>(v.get())) {
        Some(Ok(v)) if v == "2.0" => {}
        Some(_) => {
            return Err(invalid_request(
                "jsonrpc",
                "jsonrpc must be the string \"2.0\"".into(),
            ))
        }
        None => {
            return Err(invalid_request(
                "jsonrpc",
                "the member jsonrpc: \"2.0\" is missing".into(),
            ))
        }
    }
    if let Some(id) = env.id {
        if !matches!(
            id.get().as_bytes().first(),
            Some(b'"' | b'n' | b'-' | b'0'..=b'9')
        ) {
            return Err(invalid_request(
                "id",
                format!("id must be a string, a number or null; got {}", kind_of(id)),
            ));
        }
        // The id is echoed as sent: it must read back as JSON a client can
        // decode (no lone UTF-16 surrogate escape, no number out of range).
        if serde_json::from_str::<serde_json::Value>(id.get()).is_err() {
            return Err(invalid_request(
                "id",
                "the id cannot be echoed: it holds an unpaired UTF-16 surrogate escape or a \
                 number out of range; send a plain string or a number"
                    .into(),
            ));
        }
    }
    let method = match env.method {
        None => {
            return Err(invalid_request(
                "method",
                "the member method is missing".into(),
            ))
        }
        Some(m) => serde_json::from_str::<String>(m.get()).map_err(|_| {
            invalid_request(
                "method",
                format!("method must be a string; got {}", kind_of(m)),
            )
        })?,
    };
    if let Some(p) = env.params {
        if !matches!(p.get().as_bytes().first(), Some(b'{' | b'[')) {
            return Err(invalid_request(
                "params",
                format!(
                    "params must be an object (by name) or an array (by position); got {}",
                    kind_of(p)
                ),
            ));
        }
    }
    Ok((method, env.params, env.id))
}

/// Runs one parsed call and records it: the handler's document, or the
/// error object.
pub async fn run(app: &Shared, call: Call, peer: Option<&PeerCred>) -> Result<Doc, String> {
    let started = Instant::now();
    let name = call.method().name;
    let result = crate::handlers::handle(app, call, peer).await;
    let result = match result {
        Ok(doc) if doc.len() > MAX_RESPONSE_BYTES => Err(app_error_object(&AppError::new(
            stockd_api::ErrorKind::LimitExceeded,
            doc.len().to_string(),
            format!(
                "the answer is {} bytes; the largest sent is {MAX_RESPONSE_BYTES}: ask for fewer rows or fields",
                doc.len()
            ),
        ))),
        Ok(doc) => Ok(doc),
        Err(e) => Err(app_error_object(&e)),
    };
    app.stats
        .record(name, started.elapsed().as_micros() as u64, result.is_err());
    result
}

/// Parses `method` + `params` against the contract: the call, or the
/// error object (unknown method, invalid params; recorded).
pub fn parse(app: &Shared, method: &str, params: Option<&RawValue>) -> Result<Call, String> {
    Call::parse(method, params).map_err(|e| match e {
        CallError::UnknownMethod => {
            app.stats.record(method, 0, true);
            unknown_method(method)
        }
        CallError::InvalidParams(e) => {
            app.stats.record(method, 0, true);
            app_error_object(&e)
        }
    })
}

/// One Request object's answer (`None` for a notification).
async fn one(app: &Shared, raw: &RawValue, peer: Option<&PeerCred>) -> Option<String> {
    let (method, params, id) = match request(raw) {
        Ok(r) => r,
        Err(answer) => return Some(answer),
    };
    let id_text = id.map_or("null", RawValue::get);
    let result = match parse(app, &method, params) {
        Ok(call) => match call.method().kind {
            Kind::Subscription { .. } => Err(error_object(
                INVALID_REQUEST,
                &format!(
                    "{method} needs a WebSocket connection: subscription updates cannot be sent as answers to an HTTP POST (connect with ws://, or poll admin.status)"
                ),
                "invalid_request",
                &method,
            )),
            Kind::Call => run(app, call, peer).await,
        },
        Err(e) => Err(e),
    };
    id?;
    Some(match result {
        Ok(doc) => {
            let mut out = String::with_capacity(doc.len() + id_text.len() + 32);
            out.push_str(r#"{"jsonrpc":"2.0","id":"#);
            out.push_str(id_text);
            out.push_str(r#","result":"#);
            out.push_str(&doc);
            out.push('}');
            out
        }
        Err(error) => error_response(id_text, &error),
    })
}

/// The JSON-RPC error for a request an Arrow answer was asked for that
/// cannot have one (`value` names what was sent, `what` says what it is,
/// `instead` what to do).
fn no_arrow(value: &str, what: &str, instead: &str) -> String {
    error_object(
        INVALID_REQUEST,
        &format!(
            "{what} cannot be answered as Arrow (Accept: {}); the methods answered as Arrow are {}: {instead}",
            crate::arrow::CONTENT_TYPE,
            crate::handlers::arrow::METHODS.join(", ")
        ),
        "invalid_request",
        value,
    )
}

/// Runs one parsed call for an Arrow answer and records it like [`run`].
async fn run_arrow(app: &Shared, call: Call, peer: Option<&PeerCred>) -> Result<Vec<u8>, String> {
    let started = Instant::now();
    let name = call.method().name;
    let result = crate::handlers::arrow::handle(app, call, peer)
        .await
        .and_then(|bytes| {
            crate::handlers::arrow::check_size(bytes.len(), MAX_RESPONSE_BYTES).map(|()| bytes)
        })
        .map_err(|e| app_error_object(&e));
    app.stats
        .record(name, started.elapsed().as_micros() as u64, result.is_err());
    result
}

/// The answer to a request body sent with `Accept:
/// application/vnd.apache.arrow.stream`: `Ok` an Arrow IPC stream, `Err` a
/// JSON Response object (every error, including a batch, a method without
/// a row list and a subscription), `None` for a notification.
pub async fn answer_arrow(
    app: &Shared,
    body: &[u8],
    peer: Option<&PeerCred>,
) -> Option<Result<Vec<u8>, String>> {
    let raw: &RawValue = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) => return answer(app, body, peer).await.map(Err),
    };
    if raw.get().starts_with('[') {
        return Some(Err(error_response(
            "null",
            &no_arrow(
                "batch",
                "a batch (a JSON array of calls)",
                "send one call per request for Arrow, or the batch with Accept: application/json",
            ),
        )));
    }
    let (method, params, id) = match request(raw) {
        Ok(r) => r,
        Err(answer) => return Some(Err(answer)),
    };
    let id_text = id.map_or("null", RawValue::get);
    let result = match parse(app, &method, params) {
        Ok(call) if crate::handlers::arrow::supports(&call) => run_arrow(app, call, peer).await,
        Ok(call) => {
            app.stats.record(call.method().name, 0, true);
            Err(no_arrow(
                call.method().name,
                &format!("method '{}' has no row list and", call.method().name),
                "send it with Accept: application/json (or no Accept)",
            ))
        }
        Err(e) => Err(e),
    };
    id?;
    Some(result.map_err(|error| error_response(id_text, &error)))
}

/// The answer to a request body: one Response object, an array of them
/// for a batch, or `None` when every call was a notification (nothing is
/// sent back).
pub async fn answer(app: &Shared, body: &[u8], peer: Option<&PeerCred>) -> Option<String> {
    let raw: &RawValue = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            let at = format!("line {} column {}", e.line(), e.column());
            return Some(error_response(
                "null",
                &error_object(
                    PARSE_ERROR,
                    &format!("Parse error: {e}"),
                    "parse_error",
                    &at,
                ),
            ));
        }
    };
    if !raw.get().starts_with('[') {
        return one(app, raw, peer).await;
    }
    let calls: Vec<&RawValue> = match serde_json::from_str(raw.get()) {
        Ok(c) => c,
        Err(e) => return Some(invalid_request("", format!("unreadable batch: {e}"))),
    };
    if calls.is_empty() {
        return Some(invalid_request(
            "",
            "the batch is empty; send at least one call".into(),
        ));
    }
    let max = limits::MAX_BATCH as usize;
    if calls.len() > max {
        return Some(error_response(
            "null",
            &app_error_object(&AppError::new(
                stockd_api::ErrorKind::LimitExceeded,
                calls.len().to_string(),
                format!(
                    "the batch holds {} calls; at most {max} are allowed",
                    calls.len()
                ),
            )),
        ));
    }
    let mut answers = Vec::with_capacity(calls.len());
    let mut bytes = 0;
    for c in calls {
        if let Some(a) = one(app, c, peer).await {
            bytes += a.len() + 1;
            if bytes > MAX_RESPONSE_BYTES {
                return Some(error_response(
                    "null",
                    &app_error_object(&AppError::new(
                        stockd_api::ErrorKind::LimitExceeded,
                        bytes.to_string(),
                        format!(
                            "the batch's answers exceed {MAX_RESPONSE_BYTES} bytes: send fewer calls at once"
                        ),
                    )),
                ));
            }
            answers.push(a);
        }
    }
    if answers.is_empty() {
        return None;
    }
    Some(format!("[{}]", answers.join(",")))
}
