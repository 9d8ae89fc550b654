//! A minimal HTTP/1.1 client over a Unix socket: one POST per connection,
//! `Connection: close`, the response read to EOF. Hand-written rather than
//! hyper so the tests see the exact response bytes (raw JSON number
//! literals) and so an oversized body the server refuses early does not turn
//! into a client-side error: a failed write is ignored and the response the
//! server already sent is still read.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// What came back: status code, headers (lower-case names) and body text.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `body` to `/` on the socket at `path` with `Content-Type:
/// application/json`.
pub async fn post(path: &Path, body: &[u8]) -> Result<Response> {
    post_with(path, body, &[("Content-Type", "application/json")]).await
}

/// POSTs `body` with the given extra headers (Host, Content-Length and
/// Connection are always sent).
pub async fn post_with(path: &Path, body: &[u8], headers: &[(&str, &str)]) -> Result<Response> {
    parse_response(&exchange(path, body, headers).await?)
}

/// A response whose body is kept as bytes (an Arrow stream is not text).
#[derive(Debug, Clone)]
pub struct BinaryResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl BinaryResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// As [`post_with`], the body kept as bytes.
pub async fn post_binary(
    path: &Path,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Result<BinaryResponse> {
    let (status, headers, body) = parse_parts(&exchange(path, body, headers).await?)?;
    Ok(BinaryResponse {
        status,
        headers,
        body,
    })
}

/// One request on a new connection; the whole response as sent.
async fn exchange(path: &Path, body: &[u8], headers: &[(&str, &str)]) -> Result<Vec<u8>> {
    let exchange = async {
        let mut stream = UnixStream::connect(path)
            .await
            .with_context(|| format!("connecting to {}", path.display()))?;
        let mut head = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        // The server may answer (e.g. 413) and close before reading it all.
        let write_err = stream.write_all(&req).await.err();
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw).await;
        if raw.is_empty() {
            if let Some(e) = write_err {
                bail!("writing the request failed and no response came: {e}");
            }
            read.context("reading the response")?;
            bail!("the connection closed without a response");
        }
        Ok(raw)
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .context("no HTTP response within 60 s")?
}

/// Parses one whole HTTP/1 response (head and body, chunked or not).
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let (status, headers, body) = parse_parts(raw)?;
    let body = String::from_utf8(body).context("response body is not UTF-8")?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

type Parts = (u16, Vec<(String, String)>, Vec<u8>);

fn parse_parts(raw: &[u8]) -> Result<Parts> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("response has no header terminator")?;
    let head = std::str::from_utf8(&raw[..split]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 response: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if rest.len() < len {
            bail!("body shorter ({}) than content-length {len}", rest.len());
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = std::str::from_utf8(&rest[..eol])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Sends `body` as an HTTP POST on a new connection and never reads the
/// answer: the daemon holds the unsent part of the response in memory
/// until the connection closes (the governor and memory-pressure tests
/// drive RSS up this way).
pub async fn hold(socket: &Path, body: &[u8]) -> Result<UnixStream> {
    let mut s = UnixStream::connect(socket).await?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        let r = parse_response(
            b"HTTP/1.1 413 Payload Too Large\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (413, "abcde"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    }
}
