//! The transport: the Unix socket's accept loop with its connection cap,
//! peer credentials and groups taken per connection ([`peer`]), and each connection served by
//! [`http::ConnService`] under the slow-client bounds of [`conn`].

pub mod conn;
pub mod http;
pub mod listener;
pub mod metrics_tcp;
pub mod peer;

pub use listener::{bind, BindError};

use crate::app::Shared;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{stop_channel, BatchRequestConfig, Server, ServerConfig};
use std::sync::Arc;
use std::time::Duration;
use stockd_api::{AppError, ErrorKind};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

/// Limits of the server, from `[server]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: u32,
    pub max_request_bytes: u32,
    /// `server.client_timeout`: see [`conn`].
    pub client_timeout: Duration,
}

/// The 503 written to a connection over `server.max_connections`.
fn too_many_connections(limit: u32) -> Vec<u8> {
    let err = AppError::new(
        ErrorKind::LimitExceeded,
        limit.to_string(),
        format!("too many connections: the limit is {limit} (server.max_connections); retry later"),
    );
    let body = crate::rpc::error_response("null", &crate::rpc::app_error_object(&err));
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to `drain`), and returns.
pub async fn serve(
    listener: UnixListener,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let cfg = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(crate::rpc::MAX_RESPONSE_BYTES as u32)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(stockd_api::limits::MAX_BATCH))
        .max_subscriptions_per_connection(stockd_api::limits::MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .build();
    let module = crate::rpc::ws::module(shared.clone());
    let middleware =
        RpcServiceBuilder::new().layer_fn(|service| crate::rpc::ws::UnknownMethods { service });
    let builder = Server::builder()
        .set_config(cfg)
        .set_rpc_middleware(middleware)
        .to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let methods: jsonrpsee::Methods = module.into();
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    tokio::pin!(shutdown);
    // The loop beats the heartbeat at least every second, also when idle.
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    loop {
        shared.heartbeat.beat();
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            _ = beat.tick() => continue,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let limit = limits.max_connections;
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    stream.write_all(&too_many_connections(limit)),
                )
                .await;
            });
            continue;
        };
        let rpc_svc = builder.clone().build(methods.clone(), stop_handle.clone());
        let app = shared.clone();
        let stopped = stop_handle.clone().shutdown();
        let timeout = limits.client_timeout;
        let max_body = limits.max_request_bytes as u64;
        tokio::spawn(async move {
            // Per connection, so a group joined since the daemon started
            // counts on the caller's next connection.
            let cred = peer::credentials(&stream).await;
            let svc = http::ConnService {
                ws: rpc_svc,
                app,
                cred,
                max_body,
                timeout,
            };
            if let Err(e) = conn::serve(stream, svc, timeout, stopped).await {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = server_handle.stop();
    // In-flight connections hold permits; wait for all of them back.
    let all = limits.max_connections;
    if tokio::time::timeout(drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {drain:?}; closing them");
    }
}
