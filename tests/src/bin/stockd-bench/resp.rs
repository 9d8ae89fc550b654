//! A minimal RESP2 client for Redis over TCP or a Unix socket: commands are
//! encoded into one buffer (so a pipeline is one `write`), replies parsed
//! from a read buffer. Hand-written like the stockd client ([`crate::rpc`])
//! so both sides of the comparison cost the same kind of client work: no
//! connection multiplexer, no per-reply boxing, nothing hidden.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where Redis listens.
#[derive(Debug, Clone, serde::Serialize)]
pub enum RedisAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl std::fmt::Display for RedisAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisAddr::Tcp(a) => write!(f, "tcp {a}"),
            RedisAddr::Unix(p) => write!(f, "unix {}", p.display()),
        }
    }
}

/// One reply, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    /// `None` for the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` for the nil array.
    Array(Option<Vec<Resp>>),
}

impl Resp {
    pub fn into_array(self) -> Result<Vec<Resp>> {
        match self {
            Resp::Array(Some(a)) => Ok(a),
            Resp::Array(None) => Ok(Vec::new()),
            Resp::Error(e) => bail!("redis error: {e}"),
            other => bail!("expected an array, got {other:?}"),
        }
    }

    /// A bulk string as an owned `String` (`None` for nil).
    pub fn into_string(self) -> Result<Option<String>> {
        match self {
            Resp::Bulk(Some(b)) => Ok(Some(String::from_utf8(b)?)),
            Resp::Bulk(None) => Ok(None),
            Resp::Simple(s) => Ok(Some(s)),
            Resp::Int(i) => Ok(Some(i.to_string())),
            Resp::Error(e) => bail!("redis error: {e}"),
            other => bail!("expected a string, got {other:?}"),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct RespConn {
    stream: Box<dyn Io>,
    /// Commands queued since the last flush.
    out: Vec<u8>,
    queued: usize,
    buf: Vec<u8>,
    start: usize,
}

impl RespConn {
    pub async fn connect(addr: &RedisAddr, db: u32) -> Result<RespConn> {
        let stream: Box<dyn Io> = match addr {
            RedisAddr::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .with_context(|| format!("connecting to Redis at {a}"))?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            RedisAddr::Unix(p) => Box::new(
                tokio::net::UnixStream::connect(p)
                    .await
                    .with_context(|| format!("connecting to Redis at {}", p.display()))?,
            ),
        };
        let mut c = RespConn {
            stream,
            out: Vec::with_capacity(64 * 1024),
            queued: 0,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        };
        if db != 0 {
            let dbs = db.to_string();
            let r = c.call(&["SELECT", dbs.as_str()]).await?;
            if r != Resp::Simple("OK".into()) {
                bail!("SELECT {db}: {r:?}");
            }
        }
        Ok(c)
    }

    /// Queues one command (not sent until [`flush`](Self::flush)).
    pub fn queue<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        use std::io::Write;
        let _ = write!(self.out, "*{}\r\n", args.len());
        for a in args {
            let a = a.as_ref();
            let _ = write!(self.out, "${}\r\n", a.len());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
        self.queued += 1;
    }

    /// Bytes queued and not yet sent.
    pub fn queued_bytes(&self) -> usize {
        self.out.len()
    }

    /// Sends every queued command; returns how many replies to read.
    pub async fn flush(&mut self) -> Result<usize> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(std::mem::take(&mut self.queued))
    }

    /// One command, one reply.
    pub async fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Resp> {
        self.queue(args);
        self.flush().await?;
        self.read().await
    }

    /// The next reply.
    pub async fn read(&mut self) -> Result<Resp> {
        loop {
            if let Some((v, n)) = parse(&self.buf[self.start..])? {
                self.start += n;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(v);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let at = self.buf.len();
            self.buf.resize(at + 64 * 1024, 0);
            let n = self.stream.read(&mut self.buf[at..]).await?;
            self.buf.truncate(at + n);
            if n == 0 {
                bail!("Redis closed the connection");
            }
        }
    }
}

fn line(b: &[u8]) -> Option<(&[u8], usize)> {
    let i = b.windows(2).position(|w| w == b"\r\n")?;
    Some((&b[..i], i + 2))
}

fn int(b: &[u8]) -> Result<i64> {
    std::str::from_utf8(b)?
        .parse()
        .with_context(|| format!("bad RESP integer {:?}", String::from_utf8_lossy(b)))
}

/// One reply from the front of `b`: `None` if incomplete.
fn parse(b: &[u8]) -> Result<Option<(Resp, usize)>> {
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    let Some((head, mut used)) = line(&b[1..]) else {
        return Ok(None);
    };
    used += 1;
    let text = || String::from_utf8_lossy(head).into_owned();
    Ok(Some(match kind {
        b'+' => (Resp::Simple(text()), used),
        b'-' => (Resp::Error(text()), used),
        b':' => (Resp::Int(int(head)?), used),
        b'$' => {
            let n = int(head)?;
            if n < 0 {
                (Resp::Bulk(None), used)
            } else {
                let n = n as usize;
                if b.len() < used + n + 2 {
                    return Ok(None);
                }
                (Resp::Bulk(Some(b[used..used + n].to_vec())), used + n + 2)
            }
        }
        b'*' => {
            let n = int(head)?;
            if n < 0 {
                (Resp::Array(None), used)
            } else {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    match parse(&b[used..])? {
                        Some((v, k)) => {
                            items.push(v);
                            used += k;
                        }
                        None => return Ok(None),
                    }
                }
                (Resp::Array(Some(items)), used)
            }
        }
        other => bail!("bad RESP type byte {other:#x}"),
    }))
}
