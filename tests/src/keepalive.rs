//! A keep-alive HTTP/1.1 JSON-RPC client over a Unix socket (hyper's
//! client connection): one connection, many requests, one after another.
//! The [`crate::http`] helper opens a connection per request, which is what
//! a test of exact bytes wants; load tests want what a real client does.

use crate::daemon::{Daemon, RpcError};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::net::UnixStream;

/// One keep-alive connection to the daemon.
pub struct KeepAlive {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
    next_id: u64,
}

impl KeepAlive {
    /// Connects and completes the HTTP/1.1 handshake.
    pub async fn connect(path: &Path) -> Result<KeepAlive> {
        let stream = UnixStream::connect(path)
            .await
            .with_context(|| format!("connecting to {}", path.display()))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(KeepAlive {
            sender,
            driver,
            next_id: 1,
        })
    }

    /// POSTs `body` to `/`; returns the status and the whole body.
    pub async fn post(&mut self, body: Vec<u8>) -> Result<(u16, Bytes)> {
        let exchange = async {
            self.sender
                .ready()
                .await
                .context("the keep-alive connection closed")?;
            let req = http::Request::builder()
                .method(http::Method::POST)
                .uri("/")
                .header(http::header::HOST, "localhost")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))?;
            let resp = self
                .sender
                .send_request(req)
                .await
                .context("sending the request")?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .context("reading the response body")?
                .to_bytes();
            Ok::<_, anyhow::Error>((status, body))
        };
        tokio::time::timeout(Duration::from_secs(60), exchange)
            .await
            .context("no HTTP response within 60 s")?
    }

    /// Calls `method` (`Value::Null` = no params member); the outer error is
    /// a transport failure, the inner one the JSON-RPC error answered.
    pub async fn try_call(
        &mut self,
        method: &str,
        params: &Value,
    ) -> Result<Result<Value, RpcError>> {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_vec(&Daemon::request(method, params, id))?;
        let (status, raw) = self.post(body).await?;
        let doc: Value = serde_json::from_slice(&raw).with_context(|| {
            format!(
                "HTTP {status}: response to {method} is not JSON: {}",
                String::from_utf8_lossy(&raw)
            )
        })?;
        if let Some(e) = RpcError::from_response(&doc) {
            return Ok(Err(e));
        }
        if doc.get("id").and_then(Value::as_u64) != Some(id) {
            bail!("response to {method} carries the wrong id (sent {id}): {doc}");
        }
        match doc.get("result") {
            Some(r) => Ok(Ok(r.clone())),
            None => bail!("HTTP {status}: response has neither result nor error: {doc}"),
        }
    }

    /// Calls `method`; any failure is an error.
    pub async fn call(&mut self, method: &str, params: &Value) -> Result<Value> {
        self.try_call(method, params)
            .await?
            .with_context(|| format!("calling {method} with {params}"))
    }

    /// Calls `method` and decodes the result.
    pub async fn call_as<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: &Value,
    ) -> Result<T> {
        let v = self.call(method, params).await?;
        serde_json::from_value(v).with_context(|| format!("decoding the result of {method}"))
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
