//! The optional TCP listener of `[metrics] listen`: HTTP/1.1 serving only
//! `GET /metrics` (the same exposition as on the socket), for a Prometheus
//! that cannot reach a Unix socket. Bounded like the socket: at most
//! [`MAX_CONNECTIONS`] at once, `server.client_timeout` for a request's
//! head and for a stalled response.

use super::conn::Guarded;
use crate::app::Shared;
use hyper_util::rt::{TokioIo, TokioTimer};
use jsonrpsee::server::{HttpBody, HttpResponse};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Scrapers served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 8;

/// Binds `addr`, with an error that names it.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for /metrics (metrics.listen): {e}"),
        )
    })
}

fn plain(status: http::StatusCode, text: &str) -> HttpResponse {
    let mut resp = HttpResponse::new(HttpBody::from(text.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves `/metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("metrics listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = shared.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let head = req.method() == http::Method::HEAD;
                        let resp = if req.uri().path() != "/metrics" {
                            plain(
                                http::StatusCode::NOT_FOUND,
                                "stockd serves only /metrics here\n",
                            )
                        } else if !(head || req.method() == http::Method::GET) {
                            let mut r =
                                plain(http::StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
                            r.headers_mut().insert(
                                http::header::ALLOW,
                                http::HeaderValue::from_static("GET, HEAD"),
                            );
                            r
                        } else {
                            super::http::metrics(app, head).await
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            let io = TokioIo::new(Guarded::new(stream, timeout));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!("metrics connection closed: {e}");
            }
            drop(permit);
        });
    }
}
