//! One client connection: HTTP/1.1 (and its WebSocket upgrade) served by
//! hyper with the slow-client bounds of `server.client_timeout`.
//!
//! - Headers: hyper's `header_read_timeout` — a request's head must arrive
//!   within the timeout once the connection waits for it (so an idle
//!   keep-alive connection is closed after the same time, and a client
//!   trickling one header byte a second is cut off).
//! - Body: read by the server's service under the same timeout.
//! - Responses: [`Guarded`] fails a write that makes no progress for the
//!   timeout, so a client that never reads its answers cannot pin a
//!   connection slot (and its buffers) forever.

use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A stream whose writes fail with `TimedOut` after `timeout` without
/// progress.
pub struct Guarded<T> {
    inner: T,
    timeout: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> Guarded<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        Guarded {
            inner,
            timeout,
            stall: None,
        }
    }

    /// Called when the inner write is pending: arms the stall timer (once
    /// per stall) and fails when it fires.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.timeout;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took no response bytes for {timeout:?} (server.client_timeout)"
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<R>(&mut self, r: io::Result<R>) -> Poll<io::Result<R>> {
        self.stall = None;
        Poll::Ready(r)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_shutdown(cx) {
            Poll::Ready(r) => self.progressed(r),
            Poll::Pending => self.stalled(cx),
        }
    }
}

/// Serves one connection until the client leaves, a bound is hit, or
/// `stopped` resolves (then in-flight requests finish first).
pub async fn serve<S, B>(
    stream: tokio::net::UnixStream,
    service: S,
    timeout: Duration,
    stopped: impl Future<Output = ()>,
) -> Result<(), hyper::Error>
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(Guarded::new(stream, timeout));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn, stopped);
    tokio::select! {
        res = &mut conn => res,
        _ = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}
