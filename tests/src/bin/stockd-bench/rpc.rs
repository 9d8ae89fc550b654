//! A minimal keep-alive HTTP/1.1 client over a Unix socket, enough for
//! JSON-RPC: POST a body, read the status, `Content-Length` (or chunked)
//! body. Hand-written so the client side of the measurement costs as little
//! as possible and nothing is hidden: one `write` per request, buffered reads.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

pub struct HttpConn {
    path: PathBuf,
    stream: Option<BufReader<UnixStream>>,
    request: Vec<u8>,
    line: String,
    /// Connections opened (1 for a well-behaved keep-alive server).
    pub connects: u64,
}

impl HttpConn {
    pub async fn connect(path: &Path) -> Result<HttpConn> {
        let mut c = HttpConn {
            path: path.to_path_buf(),
            stream: None,
            request: Vec::with_capacity(1024),
            line: String::with_capacity(256),
            connects: 0,
        };
        c.reconnect().await?;
        Ok(c)
    }

    async fn reconnect(&mut self) -> Result<()> {
        let s = UnixStream::connect(&self.path)
            .await
            .with_context(|| format!("connecting to {}", self.path.display()))?;
        self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        self.connects += 1;
        Ok(())
    }

    /// POSTs `body` to `/`; fills `out` with the response body; returns the
    /// HTTP status.
    pub async fn post(&mut self, body: &[u8], out: &mut Vec<u8>) -> Result<u16> {
        if self.stream.is_none() {
            self.reconnect().await?;
        }
        self.request.clear();
        self.request.extend_from_slice(
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ",
        );
        let _ = write!(self.request, "{}", body.len());
        self.request.extend_from_slice(b"\r\n\r\n");
        self.request.extend_from_slice(body);
        let r = self.exchange(out).await;
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    async fn exchange(&mut self, out: &mut Vec<u8>) -> Result<u16> {
        let stream = self.stream.as_mut().expect("connected");
        stream.get_mut().write_all(&self.request).await?;
        self.line.clear();
        if stream.read_line(&mut self.line).await? == 0 {
            bail!("connection closed before the status line");
        }
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {:?}", self.line))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            self.line.clear();
            if stream.read_line(&mut self.line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = Some(v.parse().context("bad content-length")?);
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.eq_ignore_ascii_case("chunked");
                } else if k.eq_ignore_ascii_case("connection") {
                    close = v.eq_ignore_ascii_case("close");
                }
            }
        }
        out.clear();
        if chunked {
            loop {
                self.line.clear();
                stream.read_line(&mut self.line).await?;
                let n = usize::from_str_radix(self.line.trim().split(';').next().unwrap_or(""), 16)
                    .context("bad chunk size")?;
                let at = out.len();
                out.resize(at + n + 2, 0);
                stream.read_exact(&mut out[at..]).await?;
                out.truncate(at + n);
                if n == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            stream.read_exact(out).await?;
        } else {
            stream.read_to_end(out).await?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        Ok(status)
    }

    /// One JSON-RPC call: `Ok(result)` or `Err` with the error object text.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let body = serde_json::to_vec(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params
        }))?;
        let mut out = Vec::new();
        let status = self.post(&body, &mut out).await?;
        let v: Value = serde_json::from_slice(&out).with_context(|| {
            format!(
                "{method}: HTTP {status}, not JSON: {}",
                String::from_utf8_lossy(&out)
            )
        })?;
        if let Some(e) = v.get("error") {
            bail!("{method}: error {e}");
        }
        v.get("result")
            .cloned()
            .with_context(|| format!("{method}: HTTP {status}, no result: {v}"))
    }
}
