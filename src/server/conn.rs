//! Connections: the accept loop shared by TCP and the unix socket, TLS when configured
//! ([`super::tls`]), HTTP/1.1 and HTTP/2 on each connection (hyper's own HTTP/1 and HTTP/2
//! connections: HTTP/2 by ALPN on TLS, or by its preface on cleartext, "h2c prior knowledge",
//! which the head gate recognises), the connection timeouts, graceful shutdown, and reading a
//! request body within its limits.
//!
//! In charge of the HTTP layer's limits, so that no client can hold a connection or memory
//! without sending a request:
//! - `server-header-timeout`: a request's head must be complete this long after its first byte
//!   (or after connecting, for the first request; the TLS handshake counts as part of it);
//! - `server-idle-timeout`: a kept-alive connection waiting for its next request, or a response
//!   the client stopped reading, is closed after this long without progress;
//! - `server-body-timeout`: a body that pauses this long between two parts is answered 408
//!   (TUSK408);
//! - `server-max-body-size`: a body over it is answered 413 (TUSK413): refused from its
//!   `Content-Length` before reading, or as soon as a chunked body goes past it, never buffered
//!   beyond it;
//! - `server-max-header-size`: an HTTP/1 head over it is 431 (TUSK431, from [`super::head`]);
//!   HTTP/2's header list is limited to the same size.
//!
//! The layers of a connection, from the socket up: the socket, [`Timed`] (the header and idle
//! timeouts, so they cover the TLS handshake too), TLS, the HTTP/1 head gate
//! ([`super::head`], not on HTTP/2), hyper. Each request (each HTTP/2 stream) is handled in a
//! future of its own: when the client goes away or resets the stream, hyper drops it, and the
//! database work is cancelled (`db::run`).
//!
//! The limits are read from the current configuration for each new connection and request, so
//! a reload applies them.

use super::head::{Gate, HeadGate, Refusal};
use super::tls::Tls;
use crate::error::Error;
use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// What handles one request: the peer and the request in, the response out. A request head
/// the HTTP/1 gate refused comes as its error, to be answered with it.
pub(super) type Handler = Arc<
    dyn Fn(
            Option<SocketAddr>,
            Result<hyper::Request<Incoming>, Error>,
        ) -> Pin<Box<dyn Future<Output = axum::response::Response> + Send>>
        + Send
        + Sync,
>;

/// The timeouts and head limit of one connection, taken from the configuration when it is
/// accepted.
#[derive(Clone, Copy)]
pub(super) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    /// `server-max-header-size`.
    pub max_head: usize,
}

impl Timeouts {
    pub fn of(config: &crate::config::Config) -> Timeouts {
        Timeouts {
            header: config.server_header_timeout,
            idle: config.server_idle_timeout,
            max_head: config.server_max_header_size,
        }
    }
}

/// Accepts connections until `shutdown` resolves, then waits for the open ones to finish
/// (idle ones are closed at once, busy ones after their response).
pub(super) async fn serve(
    listener: Listen,
    timeouts: impl Fn() -> Timeouts,
    handler: Handler,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Tells connections still reading their first bytes (before hyper has them) to close.
    let (stop, stopping) = tokio::sync::watch::channel(false);
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
        let tls = tls.as_ref().map(|t| t.acceptor());
        let conn = Conn { peer, timeouts: timeouts(), handler: handler.clone(), stopping: stopping.clone() };
        match stream {
            Stream::Tcp(s) => conn.serve(s, tls, graceful.watcher()),
            Stream::Unix(s) => conn.serve(s, tls, graceful.watcher()),
        }
    }
    drop(listener);
    let _ = stop.send(true);
    graceful.shutdown().await;
}

/// One accepted connection, ready to speak HTTP.
struct Conn {
    peer: Option<SocketAddr>,
    timeouts: Timeouts,
    handler: Handler,
    /// True once the server is shutting down.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// What a connection speaks, as far as known before hyper reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// Cleartext: HTTP/1, or HTTP/2 if it opens with HTTP/2's preface.
    Cleartext,
    /// TLS, ALPN chose HTTP/1.1 (or nothing).
    Http1,
    /// TLS, ALPN chose h2.
    Http2,
}

impl Conn {
    /// Serves `io` in a task of its own (after the TLS handshake, with `tls`), watched for
    /// graceful shutdown.
    fn serve<I>(self, io: I, tls: Option<tokio_rustls::TlsAcceptor>, watcher: Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let io = Timed::new(io, activity.clone(), self.timeouts);
        // The TLS path boxed: its handshake state is large, and a cleartext connection's task
        // would otherwise carry (and be copied with) it.
        tokio::spawn(async move {
            match tls {
                None => self.http(io, Proto::Cleartext, activity, watcher).await,
                Some(acceptor) => {
                    Box::pin(async move {
                        match acceptor.accept(io).await {
                            Ok(tls) => {
                                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                                self.http(tls, if h2 { Proto::Http2 } else { Proto::Http1 }, activity, watcher).await
                            }
                            // Not TLS, a handshake that failed or took too long (the header timeout).
                            Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                        }
                    })
                    .await
                }
            }
        });
    }

    /// Speaks HTTP on `io` until the connection ends.
    async fn http<I>(self, io: I, proto: Proto, activity: Arc<Activity>, watcher: Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let refusal = Refusal::default();
        let (peer, handler, limits, mut stopping) = (self.peer, self.handler, self.timeouts, self.stopping);
        let (requests, refused) = (Arc::new(AtomicU64::new(0)), refusal.clone());
        let service = hyper::service::service_fn(move |req| {
            let (handler, busy) = (handler.clone(), Busy::start(&activity));
            // HTTP/1 requests come in order: the gate's stand-in is the one with its number.
            let n = requests.fetch_add(1, Ordering::AcqRel);
            let refusal = refused.lock().ok().and_then(|mut r| r.take_if(|(i, _)| *i == n)).map(|(_, e)| e);
            async move {
                let response = handler(peer, refusal.map_or(Ok(req), Err)).await;
                drop(busy);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        // hyper's own HTTP/1 and HTTP/2 connections, chosen here: on TLS by ALPN, on cleartext by
        // the gate, which reads until it knows whether the connection opens with HTTP/2's
        // preface and keeps what it read for hyper. (hyper-util's `auto` connection would read
        // the first bytes again itself, copy them into a rewind buffer and have hyper parse a
        // partial head first: about 5 % of a small request's instructions.)
        let gate = (proto != Proto::Http2).then(|| Gate::new(limits.max_head, proto == Proto::Cleartext, refusal));
        let result = match gate {
            None => Box::pin(serve_h2(io, limits, service, watcher)).await,
            Some(gate) => {
                let mut io = HeadGate::new(io, gate);
                // Not yet watched by `watcher` (hyper has not got the connection): a shutdown
                // closes a connection that has sent nothing yet, as hyper would.
                let sniffed = tokio::select! {
                    s = io.sniff_h2c() => s,
                    _ = stopping.wait_for(|s| *s) => return,
                };
                match sniffed {
                    Err(e) => Err(e.into()),
                    // Boxed: an HTTP/1 connection's task does not carry HTTP/2's state.
                    Ok(true) => Box::pin(serve_h2(io, limits, service, watcher)).await,
                    Ok(false) => {
                        let mut http1 = hyper::server::conn::http1::Builder::new();
                        // No hyper timer: the header and idle timeouts are `Timed`'s, which tells
                        // them apart.
                        http1.keep_alive(true).max_buf_size(limits.max_head.saturating_add(16 * 1024));
                        watcher.watch(http1.serve_connection(TokioIo::new(io), service)).await.map_err(Into::into)
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!("connection closed: {e}");
        }
    }
}

/// Serves HTTP/2 on `io` (after ALPN's h2, or h2c's preface) until the connection ends.
async fn serve_h2<I, S>(
    io: I,
    limits: Timeouts,
    service: S,
    watcher: Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = axum::body::Body> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut http2 = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    http2.max_header_list_size(u32::try_from(limits.max_head).unwrap_or(u32::MAX));
    watcher.watch(http2.serve_connection(TokioIo::new(io), service)).await.map_err(Into::into)
}

/// A request being handled, for its connection's [`Activity`]: counted from its start until its
/// future ends, answered or dropped (the client went away, an HTTP/2 stream was reset).
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Busy {
        activity.busy.fetch_add(1, Ordering::AcqRel);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the connection's idle timeout must start even if nothing is written
            // (an HTTP/2 stream reset by the client).
            self.0.idle.wake();
        }
    }
}

/// What the request handler tells a connection's [`Timed`] stream: how many requests are being
/// handled (HTTP/2 handles several at once), and how many were answered; and whom to wake
/// when the last one ends.
#[derive(Default)]
struct Activity {
    busy: AtomicUsize,
    answered: AtomicU64,
    /// The connection's task, registered by [`Timed`] while busy.
    idle: AtomicWaker,
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
///
/// Every poll outside the busy phase polls the deadline too, whatever the I/O returned, so the
/// deadline always holds the task's waker: hyper may not read again after writing a response
/// (when its last read was blocked), so a deadline re-armed by a write and not polled then
/// would never wake the connection, and an idle one would stay open until the client left.
/// While busy, the end of the last request wakes the task instead ([`Activity::idle`]).
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
        if self.activity.busy.load(Ordering::Acquire) > 0 {
            self.phase = Phase::Busy;
            return;
        }
        let answered = self.activity.answered.load(Ordering::Acquire);
        if answered != self.answered || self.phase == Phase::Busy {
            self.answered = answered;
            self.restart(Phase::Idle, self.timeouts.idle);
        }
    }

    /// Registers the task to be woken by the deadline (outside the busy phase) or by the end
    /// of the last request (while busy); whether the deadline has passed.
    fn watch(&mut self, cx: &mut Context<'_>) -> bool {
        if self.phase == Phase::Busy {
            self.activity.idle.register(cx.waker());
            // The last request may have ended before the registration.
            if self.activity.busy.load(Ordering::Acquire) == 0 {
                cx.waker().wake_by_ref();
            }
            return false;
        }
        self.deadline.as_mut().poll(cx).is_ready()
    }

    /// `Pending`, or the timeout's error when the deadline has passed (and was not paused).
    fn pending_or_timeout<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.watch(cx) {
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
                this.watch(cx);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }
}

impl<I> Timed<I> {
    /// A write's outcome, with the deadlines kept: progress on a response re-arms the idle one.
    fn wrote(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 && self.phase == Phase::Idle {
                    // A response making progress.
                    self.restart(Phase::Idle, self.timeouts.idle);
                }
                self.watch(cx);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending_or_timeout(cx),
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Timed<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.follow();
        let written = Pin::new(&mut this.io).poll_write(cx, data);
        this.wrote(cx, written)
    }

    /// Forwarded, so that hyper sees a vectored stream and queues a response's body behind
    /// its head instead of copying the body into its own write buffer, which would then keep
    /// the size of the largest response for as long as the connection stays open.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.follow();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::task::{Wake, Waker};
    use tokio::io::AsyncWriteExt;

    /// A waker that records being woken.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    const SHORT: Timeouts =
        Timeouts { header: Duration::from_millis(50), idle: Duration::from_millis(50), max_head: 1024 };

    /// The connection task's waker must be woken when the idle deadline passes, however the
    /// request went: here the way a loaded machine takes it, where the head is already there at
    /// the first read (so the deadline is never polled in the head phase), the last read before
    /// the answer is made while the request is busy, and hyper, having seen that read blocked,
    /// does not read again after writing the response.
    #[tokio::test]
    async fn the_idle_deadline_wakes_the_connection_after_an_answer() {
        let (mut client, server) = tokio::io::duplex(4096);
        let activity = Arc::new(Activity::default());
        let mut timed = Timed::new(server, activity.clone(), SHORT);
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut space = [0u8; 256];
        let mut buf = ReadBuf::new(&mut space);
        assert!(matches!(Pin::new(&mut timed).poll_read(&mut cx, &mut buf), Poll::Ready(Ok(()))));
        let busy = Busy::start(&activity);
        let mut buf = ReadBuf::new(&mut space);
        assert!(Pin::new(&mut timed).poll_read(&mut cx, &mut buf).is_pending());
        drop(busy);
        assert!(matches!(Pin::new(&mut timed).poll_write(&mut cx, b"HTTP/1.1 200 OK\r\n\r\n"), Poll::Ready(Ok(_))));
        flag.0.store(false, Ordering::SeqCst);
        tokio::time::sleep(SHORT.idle * 4).await;
        assert!(flag.0.load(Ordering::SeqCst), "the idle deadline passed without waking the connection");
        let mut buf = ReadBuf::new(&mut space);
        match Pin::new(&mut timed).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected the idle timeout, got {other:?}"),
        }
    }

    /// A request that ends without a write (an HTTP/2 stream reset by the client) still lets the
    /// idle timeout run: the end of the last busy request wakes the connection.
    #[tokio::test]
    async fn the_end_of_the_last_request_wakes_the_connection() {
        let (_client, server) = tokio::io::duplex(4096);
        let activity = Arc::new(Activity::default());
        let mut timed = Timed::new(server, activity.clone(), SHORT);
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let busy = Busy::start(&activity);
        let mut space = [0u8; 256];
        let mut buf = ReadBuf::new(&mut space);
        assert!(Pin::new(&mut timed).poll_read(&mut cx, &mut buf).is_pending());
        flag.0.store(false, Ordering::SeqCst);
        drop(busy);
        assert!(flag.0.load(Ordering::SeqCst), "the request's end did not wake the connection");
    }

    /// hyper copies a response body into its own write buffer (and keeps that buffer at the
    /// largest response's size while the connection stays open) unless the stream says it
    /// writes vectors: `Timed` must say what the socket under it says, and write both slices.
    #[tokio::test]
    async fn vectored_writes_go_through() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let activity = Arc::new(Activity::default());
        let mut timed = Timed::new(server, activity, SHORT);
        assert!(timed.is_write_vectored(), "a TCP socket writes vectors, and so does Timed over it");
        let waker = Waker::from(Arc::new(Flag::default()));
        let mut cx = Context::from_waker(&waker);
        let bufs = [io::IoSlice::new(b"head "), io::IoSlice::new(b"body")];
        match Pin::new(&mut timed).poll_write_vectored(&mut cx, &bufs) {
            Poll::Ready(Ok(9)) => {}
            other => panic!("expected both slices written, got {other:?}"),
        }
        let mut got = [0u8; 9];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"head body");
    }
}
