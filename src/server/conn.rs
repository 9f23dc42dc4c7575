//! Connections: the accept loop shared by TCP and the unix socket, HTTP/1 on each connection
//! (hyper), the connection timeouts, graceful shutdown, and reading a request body within its
//! limits.
//!
//! In charge of the HTTP layer's limits, so that no client can hold a connection or memory
//! without sending a request:
//! - `server-header-timeout`: a request's head must be complete this long after its first byte
//!   (or after connecting, for the first request);
//! - `server-idle-timeout`: a kept-alive connection waiting for its next request, or a response
//!   the client stopped reading, is closed after this long without progress;
//! - `server-body-timeout`: a body that pauses this long between two parts is answered 408
//!   (TUSK408);
//! - `server-max-body-size`: a body over it is answered 413 (TUSK413): refused from its
//!   `Content-Length` before reading, or as soon as a chunked body goes past it, never buffered
//!   beyond it.
//!
//! The limits are read from the current configuration for each new connection and request, so
//! a reload applies them. A TLS acceptor slots in at [`Conn::serve`]: it wraps the accepted
//! stream before it is handed to hyper.

use crate::error::Error;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The listener: TCP (`server-host`/`server-port`) or a unix socket (`server-unix-socket`).
pub(super) enum Listen {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// An accepted connection, before HTTP.
enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listen {
    /// The next connection and its peer (`None` on the unix socket).
    async fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listen::Tcp(l) => l.accept().await.map(|(s, a)| (Stream::Tcp(s), Some(a))),
            Listen::Unix(l) => l.accept().await.map(|(s, _)| (Stream::Unix(s), None)),
        }
    }
}

/// What handles one request: the peer and the request in, the response out.
pub(super) type Handler = Arc<
    dyn Fn(
            Option<SocketAddr>,
            hyper::Request<Incoming>,
        ) -> Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
        + Send
        + Sync,
>;

/// The timeouts of one connection, taken from the configuration when it is accepted.
#[derive(Clone, Copy)]
pub(super) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

impl Timeouts {
    pub fn of(config: &crate::config::Config) -> Timeouts {
        Timeouts { header: config.server_header_timeout, idle: config.server_idle_timeout }
    }
}

/// Accepts connections until `shutdown` resolves, then waits for the open ones to finish
/// (idle ones are closed at once, busy ones after their response).
pub(super) async fn serve(
    listener: Listen,
    timeouts: impl Fn() -> Timeouts,
    handler: Handler,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::error!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = Conn { peer, timeouts: timeouts(), handler: handler.clone() };
        match stream {
            Stream::Tcp(s) => conn.serve(s, &graceful),
            Stream::Unix(s) => conn.serve(s, &graceful),
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One accepted connection, ready to speak HTTP.
struct Conn {
    peer: Option<SocketAddr>,
    timeouts: Timeouts,
    handler: Handler,
}

impl Conn {
    /// Serves HTTP/1 on `io` in a task of its own, watched for graceful shutdown.
    fn serve<I>(self, io: I, graceful: &hyper_util::server::graceful::GracefulShutdown)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let io = hyper_util::rt::TokioIo::new(Timed::new(io, activity.clone(), self.timeouts));
        let (peer, handler) = (self.peer, self.handler);
        let service = hyper::service::service_fn(move |req| {
            let (handler, activity) = (handler.clone(), activity.clone());
            async move {
                activity.busy.store(true, Ordering::Release);
                let response = handler(peer, req).await;
                activity.busy.store(false, Ordering::Release);
                activity.answered.fetch_add(1, Ordering::AcqRel);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        // No hyper timer: the header and idle timeouts are `Timed`'s, which tells them apart.
        let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
}

/// What the request handler tells a connection's [`Timed`] stream: whether a request is being
/// handled, and how many were answered.
#[derive(Default)]
struct Activity {
    busy: AtomicBool,
    answered: AtomicU64,
}

/// Where a connection stands, for its timeouts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Receiving a request's head: the header timeout runs from its first byte.
    Head,
    /// A request is being handled: the body timeout is the handler's; nothing runs here.
    Busy,
    /// Between requests (or writing a response): the idle timeout runs from the last progress.
    Idle,
}

/// A stream that fails with `TimedOut` when its phase's deadline passes without progress.
struct Timed<I> {
    io: I,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    phase: Phase,
    /// `activity.answered` when last looked at.
    answered: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<I> Timed<I> {
    fn new(io: I, activity: Arc<Activity>, timeouts: Timeouts) -> Timed<I> {
        let deadline = Box::pin(tokio::time::sleep(timeouts.header));
        Timed { io, activity, timeouts, phase: Phase::Head, answered: 0, deadline }
    }

    fn restart(&mut self, phase: Phase, after: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + after);
    }

    /// Follows the handler: busy while it runs, idle once it answered.
    fn follow(&mut self) {
        if self.activity.busy.load(Ordering::Acquire) {
            self.phase = Phase::Busy;
            return;
        }
        let answered = self.activity.answered.load(Ordering::Acquire);
        if answered != self.answered || self.phase == Phase::Busy {
            self.answered = answered;
            self.restart(Phase::Idle, self.timeouts.idle);
        }
    }

    /// `Pending`, or the timeout's error when the deadline has passed (and was not paused).
    fn pending_or_timeout<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.phase != Phase::Busy && self.deadline.as_mut().poll(cx).is_ready() {
            let what = if self.phase == Phase::Head { "request headers" } else { "idle connection" };
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))));
        }
        Poll::Pending
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Timed<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.follow();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && this.phase == Phase::Idle {
                    // The next request's first byte: its head must follow in time.
                    this.restart(Phase::Head, this.timeouts.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Timed<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.follow();
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 && this.phase == Phase::Idle {
                    // A response making progress.
                    this.restart(Phase::Idle, this.timeouts.idle);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Reads a request body whole, refusing one over `limit` bytes (413, from `Content-Length`
/// before reading when it is declared) and one that pauses longer than `pause` (408). A body
/// that cannot be read (a malformed chunk, a connection lost midway) is a 400 (PGRST102).
pub(super) async fn read_body(
    body: Incoming,
    content_length: Option<&str>,
    limit: u64,
    pause: Duration,
) -> Result<Bytes, Error> {
    let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::BodyTooLarge(limit));
    }
    // Reserve what is declared (it is within the limit): growing the buffer by doubling
    // would hold the old and the new one at once, 1.5x the body. Pages reserved but not
    // written (a client that declares more than it sends) take no memory.
    let mut buf = BytesMut::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout(pause, body.frame()).await {
            Err(_) => return Err(Error::BodyTimeout(pause.as_secs())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Error::InvalidBody(format!("Could not read the request body: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            let total = (buf.len() as u64).saturating_add(data.len() as u64);
            if total > limit {
                return Err(Error::BodyTooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
