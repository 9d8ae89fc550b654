//! The per-connection HTTP service: a POST's body is gated (size, read
//! time) and answered by [`crate::rpc::answer`] (or, when its `Accept`
//! names `application/vnd.apache.arrow.stream`, by
//! [`crate::rpc::answer_arrow`]: an Arrow IPC stream, errors in JSON); a WebSocket upgrade goes
//! to jsonrpsee; `GET /metrics` is answered with the Prometheus exposition
//! ([`crate::app::metrics`]); anything else is told, in JSON, to POST
//! JSON-RPC.
//!
//! A body over the limit is read and thrown away (up to [`DRAIN_MAX_BYTES`]
//! or [`DRAIN_MAX_TIME`]) before the 413 goes out, as web servers do with
//! a lingering close: a client that writes its whole body before reading
//! (Python's `http.client`) then reads the answer instead of a reset.

use crate::app::{PeerCred, Shared};
use crate::rpc;
use http_body_util::BodyExt;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use std::sync::Arc;
use std::time::Duration;
use stockd_api::{AppError, ErrorKind};

/// Most bytes of an oversized body read and discarded before answering.
pub const DRAIN_MAX_BYTES: u64 = 8 << 20;
/// Longest time spent discarding an oversized body.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(1);

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct ConnService<S> {
    /// jsonrpsee's service, for WebSocket upgrades.
    pub ws: S,
    pub app: Arc<Shared>,
    pub cred: Option<PeerCred>,
    pub max_body: u64,
    pub timeout: Duration,
}

/// An error Response object with an HTTP status.
fn refusal(status: http::StatusCode, error: &str) -> HttpResponse {
    let mut resp = json_response(rpc::error_response("null", error));
    *resp.status_mut() = status;
    resp
}

fn app_refusal(status: http::StatusCode, e: AppError) -> HttpResponse {
    refusal(status, &rpc::app_error_object(&e))
}

/// A refusal after which the connection is closed (the request's body
/// was not read to its end).
fn closing(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

fn json_response(body: String) -> HttpResponse {
    let mut resp = HttpResponse::new(HttpBody::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn arrow_response(stream: Vec<u8>) -> HttpResponse {
    let mut resp = HttpResponse::new(HttpBody::from(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(crate::arrow::CONTENT_TYPE),
    );
    resp
}

/// Whether `Accept` names the Arrow stream type (with a q above 0):
/// then a row-list method is answered as Arrow, and anything else with a
/// JSON error saying which methods can be.
fn wants_arrow(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case(crate::arrow::CONTENT_TYPE) && !refused
        })
}

fn too_large(len: impl std::fmt::Display, max_body: u64) -> HttpResponse {
    closing(app_refusal(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        AppError::new(
            ErrorKind::LimitExceeded,
            len.to_string(),
            format!(
                "request body is {len} bytes; the limit is {max_body} (server.max_request_bytes)"
            ),
        ),
    ))
}

/// Reads and drops the rest of `body`, within the drain bounds.
async fn drain<B>(mut body: B)
where
    B: hyper::body::Body + Unpin,
    B::Data: hyper::body::Buf,
{
    let mut left = DRAIN_MAX_BYTES;
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame
                .data_ref()
                .map_or(0, |d| hyper::body::Buf::remaining(d) as u64);
            match left.checked_sub(n) {
                Some(l) => left = l,
                None => break,
            }
        }
    })
    .await;
}

/// `GET /` and other methods: a JSON answer saying how to call.
fn not_a_post(method: &http::Method) -> HttpResponse {
    let shown = stockd_api::shown(method.as_str());
    let mut resp = refusal(
        http::StatusCode::METHOD_NOT_ALLOWED,
        &rpc::error_object(
            rpc::INVALID_REQUEST,
            &format!(
                "stockd speaks JSON-RPC 2.0: POST a JSON request to /, e.g. \
                 curl --unix-socket /run/stockd/stockd.sock -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"rpc.discover\"}}' http://localhost/ \
                 (or open a WebSocket); {shown} is not served"
            ),
            "invalid_request",
            &shown,
        ),
    );
    resp.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    resp
}

/// `GET /metrics`: the Prometheus text exposition, rendered on a blocking
/// thread (it reads /proc and the cgroup files).
pub async fn metrics(app: Arc<Shared>, head: bool) -> HttpResponse {
    match tokio::task::spawn_blocking(move || crate::app::metrics::render(&app)).await {
        Ok(text) => {
            let len = text.len();
            let mut resp =
                HttpResponse::new(HttpBody::from(if head { String::new() } else { text }));
            let h = resp.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(crate::app::metrics::CONTENT_TYPE),
            );
            if head {
                h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
            }
            resp
        }
        Err(e) => app_refusal(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            AppError::new(
                ErrorKind::Internal,
                "/metrics",
                format!("internal error rendering /metrics: {e}"),
            ),
        ),
    }
}

fn is_upgrade(req: &HttpRequest<hyper::body::Incoming>) -> bool {
    req.headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl<S> hyper::service::Service<HttpRequest<hyper::body::Incoming>> for ConnService<S>
where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>,
    >;

    fn call(&self, mut req: HttpRequest<hyper::body::Incoming>) -> Self::Future {
        if let Some(c) = &self.cred {
            req.extensions_mut().insert(c.clone());
        }
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() == "/metrics"
                && matches!(*req.method(), http::Method::GET | http::Method::HEAD)
            {
                return Ok(metrics(this.app.clone(), req.method() == http::Method::HEAD).await);
            }
            if req.method() != http::Method::POST {
                if is_upgrade(&req) {
                    let mut svc = this.ws.clone();
                    return tower::Service::call(&mut svc, req.map(HttpBody::new)).await;
                }
                return Ok(not_a_post(req.method()));
            }
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let arrow = wants_arrow(req.headers());
            let (_, mut body) = req.into_parts();
            if let Some(len) = declared.filter(|&l| l > this.max_body) {
                drain(&mut body).await;
                return Ok(too_large(len, this.max_body));
            }
            // Read up to the limit under the client timeout.
            let max = this.max_body;
            let read = async {
                let mut bytes = Vec::new();
                while let Some(frame) = body.frame().await {
                    let frame = frame?;
                    if let Some(d) = frame.data_ref() {
                        if bytes.len() as u64 + d.len() as u64 > max {
                            return Ok::<_, hyper::Error>(None);
                        }
                        bytes.extend_from_slice(d);
                    }
                }
                Ok(Some(bytes))
            };
            let bytes = match tokio::time::timeout(this.timeout, read).await {
                Ok(Ok(Some(b))) => b,
                Ok(Ok(None)) => {
                    drain(&mut body).await;
                    return Ok(too_large(format!("more than {max}"), max));
                }
                Ok(Err(e)) => {
                    return Ok(closing(app_refusal(
                        http::StatusCode::BAD_REQUEST,
                        AppError::new(
                            ErrorKind::InvalidParams,
                            "",
                            format!("could not read the request body: {e}"),
                        ),
                    )))
                }
                Err(_) => {
                    let t = this.timeout;
                    return Ok(closing(app_refusal(
                        http::StatusCode::REQUEST_TIMEOUT,
                        AppError::new(
                            ErrorKind::LimitExceeded,
                            format!("{t:?}"),
                            format!(
                                "the request body did not arrive within {t:?} (server.client_timeout)"
                            ),
                        ),
                    )));
                }
            };
            let answer = if arrow {
                rpc::answer_arrow(&this.app, &bytes, this.cred.as_ref())
                    .await
                    .map(|a| a.map_or_else(json_response, arrow_response))
            } else {
                rpc::answer(&this.app, &bytes, this.cred.as_ref())
                    .await
                    .map(json_response)
            };
            Ok(answer.unwrap_or_else(|| {
                let mut resp = HttpResponse::new(HttpBody::empty());
                *resp.status_mut() = http::StatusCode::NO_CONTENT;
                resp
            }))
        })
    }
}
