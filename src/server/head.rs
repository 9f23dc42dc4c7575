//! The HTTP/1 request-head gate: sits between a connection and hyper's HTTP/1 parser, so that
//! hyper only ever sees request heads it will take, and whatever it would refuse with an empty
//! 400 gets a JSON error instead.
//!
//! - **curl-style URLs.** PostgREST's docs write `curl "…?select=id,json_data->>blood_type"` and
//!   `?name=in.("Hi, there","Yes")`: curl sends those characters raw, and the `http` crate
//!   refuses them in a request target. The gate percent-encodes, in the request target only,
//!   every byte no URI may hold raw: space, `"`, `#`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`,
//!   `}` and bytes over 0x7F. tusk percent-decodes the path and the query, so the request means
//!   what the client wrote.
//! - **JSON refusals.** A head over `server-max-header-size` (431 `TUSK431`), a request target
//!   over 65534 bytes (414 `TUSK414`), more than [`MAX_HEADERS`] headers (431), another HTTP
//!   version (505 `TUSK505`), a malformed request line, header, `Content-Length` or
//!   `Transfer-Encoding` (400 `TUSK400`): the gate checks what hyper would check, and instead of
//!   the bad head it hands hyper a stand-in request (`GET /`, `Connection: close`) and records
//!   the refusal; the connection's service answers that request with the refusal's JSON error
//!   ([`Refusal`]), and the connection closes. Nothing the client sent reaches the pipeline.
//! - **Bodies are never touched.** The gate follows HTTP/1 framing as hyper does
//!   (`Transfer-Encoding: chunked` wins over `Content-Length`, no body without either), so body
//!   bytes pass unchanged and only the bytes of each request head are rewritten. When a chunked
//!   body is malformed the gate stops rewriting: hyper refuses that body (400 `PGRST102`) and
//!   closes the connection.
//! - **h2c.** With cleartext HTTP/2 allowed, a connection opening with HTTP/2's preface passes
//!   unchanged.

use crate::error::Error;
use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// At most this many headers in one request head, as hyper.
pub(super) const MAX_HEADERS: usize = 100;
/// The longest request target hyper takes.
const MAX_TARGET: usize = u16::MAX as usize - 1;
/// What a connection speaking HTTP/2 without TLS sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// What hyper is handed instead of a refused head.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\nhost: tusk\r\nconnection: close\r\n\r\n";

/// A refused request head, shared by the gate and the connection's service: the number of the
/// stand-in request (the connection's requests counted from 0) and the error to answer it with.
pub(super) type Refusal = Arc<Mutex<Option<(u64, Error)>>>;

/// Where the gate is in the stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A connection's first bytes: maybe HTTP/2's preface.
    Start,
    /// Reading a request head.
    Head,
    /// A body of this many more bytes.
    Length(u64),
    /// A chunked body.
    Chunked(Chunk),
    /// Everything passes unchanged (h2c, or a body the gate cannot follow).
    Through,
    /// A head was refused: nothing more is read.
    Refused,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The chunk size (hex), so far.
    Size(u64),
    /// After the size: an extension, until the line ends.
    Extension(u64),
    /// Inside a chunk's data: this many bytes left.
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk; whether at the start of a line.
    Trailer(bool),
}

/// The gate's bookkeeping, apart from any I/O (see [`HeadGate`] for the stream).
pub(super) struct Gate {
    state: State,
    /// Read, not yet looked at.
    raw: BytesMut,
    /// Ready for hyper.
    out: BytesMut,
    /// How far `raw` was searched for the end of the head.
    scanned: usize,
    max_head: usize,
    /// Request heads handed to hyper, stand-ins included.
    heads: u64,
    refusal: Refusal,
}

impl Gate {
    pub(super) fn new(max_head: usize, h2c: bool, refusal: Refusal) -> Gate {
        let state = if h2c { State::Start } else { State::Head };
        Gate { state, raw: BytesMut::new(), out: BytesMut::new(), scanned: 0, max_head, heads: 0, refusal }
    }

    /// Takes what was read.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        self.run();
    }

    /// The end of the input: what is left is handed on as it is (hyper closes on a partial head).
    pub(super) fn finish(&mut self) {
        if self.state != State::Refused {
            let rest = self.raw.split();
            self.out.extend_from_slice(&rest);
        }
    }

    /// Moves what can be decided from `raw` to `out`.
    fn run(&mut self) {
        loop {
            let before = (self.raw.len(), self.state);
            match self.state {
                State::Start => self.start(),
                State::Head => self.head(),
                State::Length(n) => {
                    let take = self.raw.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    let part = self.raw.split_to(take);
                    self.out.extend_from_slice(&part);
                    let left = n.saturating_sub(take as u64);
                    self.state = if left == 0 { State::Head } else { State::Length(left) };
                }
                State::Chunked(c) => self.chunked(c),
                State::Through => {
                    let rest = self.raw.split();
                    self.out.extend_from_slice(&rest);
                }
                State::Refused => self.raw.clear(),
            }
            if self.raw.is_empty() || (self.raw.len(), self.state) == before {
                return;
            }
        }
    }

    fn start(&mut self) {
        let n = self.raw.len().min(H2_PREFACE.len());
        if self.raw[..n] != H2_PREFACE[..n] {
            self.state = State::Head;
        } else if n == H2_PREFACE.len() {
            self.state = State::Through;
        }
    }

    /// A whole head in `raw`: checked, its target encoded, handed on; or refused.
    fn head(&mut self) {
        // Empty lines before a request line are ignored (RFC 9112, 2.2).
        while matches!(self.raw.first(), Some(b'\r' | b'\n')) {
            self.raw.advance(1);
            self.scanned = 0;
        }
        let Some(end) = head_end(&self.raw, self.scanned) else {
            self.scanned = self.raw.len().saturating_sub(2);
            if self.raw.len() > self.max_head {
                let limit = self.max_head;
                self.refuse(431, format!("The request head is larger than {limit} bytes"));
            }
            return;
        };
        self.scanned = 0;
        if end > self.max_head {
            let limit = self.max_head;
            return self.refuse(431, format!("The request head is larger than {limit} bytes"));
        }
        let head = self.raw.split_to(end);
        match check(&head) {
            Ok((head, next)) => {
                self.out.extend_from_slice(&head);
                self.heads = self.heads.saturating_add(1);
                self.state = next;
            }
            Err((status, details)) => self.refuse(status, details),
        }
    }

    fn refuse(&mut self, status: u16, details: String) {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some((self.heads, Error::BadHead { status, details }));
        }
        self.out.extend_from_slice(STAND_IN);
        self.heads = self.heads.saturating_add(1);
        self.raw.clear();
        self.state = State::Refused;
    }

    /// Follows a chunked body byte by byte (a chunk's data in one piece), handing every byte on.
    fn chunked(&mut self, mut c: Chunk) {
        let mut i = 0;
        while i < self.raw.len() {
            if let Chunk::Data(n) = c {
                let take = (self.raw.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
                i += take;
                let left = n.saturating_sub(take as u64);
                c = if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) };
                continue;
            }
            let b = self.raw[i];
            i += 1;
            let next = match (c, b) {
                (Chunk::Size(n), b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                    let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                    n.checked_mul(16).and_then(|n| n.checked_add(digit)).map(Chunk::Size)
                }
                (Chunk::Size(n) | Chunk::Extension(n), b'\n') if n == 0 => Some(Chunk::Trailer(true)),
                (Chunk::Size(n) | Chunk::Extension(n), b'\n') => Some(Chunk::Data(n)),
                (Chunk::Size(n) | Chunk::Extension(n), _) => Some(Chunk::Extension(n)),
                (Chunk::DataEnd, b'\r') => Some(Chunk::DataEnd),
                (Chunk::DataEnd, b'\n') => Some(Chunk::Size(0)),
                (Chunk::DataEnd, _) => None,
                (Chunk::Trailer(true), b'\n') => {
                    // The body's end: what follows is the next request.
                    let body = self.raw.split_to(i);
                    self.out.extend_from_slice(&body);
                    self.state = State::Head;
                    return;
                }
                (Chunk::Trailer(start), b'\r') => Some(Chunk::Trailer(start)),
                (Chunk::Trailer(_), b'\n') => Some(Chunk::Trailer(true)),
                (Chunk::Trailer(_), _) => Some(Chunk::Trailer(false)),
                (Chunk::Data(_), _) => Some(c),
            };
            match next {
                Some(n) => c = n,
                None => {
                    // Not a chunked body hyper will take: it refuses it and closes.
                    self.state = State::Through;
                    break;
                }
            }
        }
        let body = self.raw.split_to(i);
        self.out.extend_from_slice(&body);
        if self.state != State::Through {
            self.state = State::Chunked(c);
        }
    }
}

/// Where the head in `raw` ends (after its empty line), searching from `from`.
fn head_end(raw: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < raw.len() {
        if raw[i] == b'\n' {
            match (raw.get(i + 1), raw.get(i + 2)) {
                (Some(b'\n'), _) => return Some(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Whether `b` may stand raw in a request target.
fn raw_ok(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !matches!(b, b'"' | b'#' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}')
}

/// The request line with its target percent-encoded; the target is everything between the
/// first and the last space, so a space inside it is encoded too.
fn encode_line(line: &[u8]) -> Result<Vec<u8>, String> {
    if line.iter().any(|&b| (b < 0x20 && b != b'\r') || b == 0x7f) {
        return Err("The request line holds a control character".into());
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (Some(first), Some(last)) = (line.iter().position(|&b| b == b' '), line.iter().rposition(|&b| b == b' '))
    else {
        return Err("The request line is not METHOD TARGET VERSION".into());
    };
    if last <= first + 1 {
        return Err("The request line is not METHOD TARGET VERSION".into());
    }
    let mut out = Vec::with_capacity(line.len() + 2);
    out.extend_from_slice(&line[..=first]);
    for &b in &line[first + 1..last] {
        if raw_ok(b) {
            out.push(b);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out.extend_from_slice(&line[last..]);
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// Checks a whole head as hyper will, with its target encoded: the head to hand on and the
/// framing of its body, or the status and reason to refuse it with.
fn check(head: &[u8]) -> Result<(Vec<u8>, State), (u16, String)> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let mut out = encode_line(&head[..line_end]).map_err(|e| (400, e))?;
    out.extend_from_slice(&head[(line_end + 1).min(head.len())..]);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&out) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err((400, "The request head is incomplete".into())),
        Err(httparse::Error::TooManyHeaders) => {
            return Err((431, format!("The request has more than {MAX_HEADERS} headers")))
        }
        Err(httparse::Error::Version) => return Err((505, "Only HTTP/1.0, HTTP/1.1 and HTTP/2 are served".into())),
        Err(e) => return Err((400, format!("The request head is malformed: {e}"))),
    }
    let target = req.path.unwrap_or_default();
    if target.len() > MAX_TARGET {
        return Err((414, format!("The request target is longer than {MAX_TARGET} bytes")));
    }
    if hyper::Uri::try_from(target).is_err() {
        return Err((400, "The request target is not a valid URI".into()));
    }
    let http11 = req.version == Some(1);
    let (mut length, mut chunked, mut te) = (None::<u64>, false, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err((400, "HTTP/1.0 has no Transfer-Encoding".into()));
            }
            te = true;
            let last = std::str::from_utf8(h.value).ok().and_then(|v| v.rsplit(',').next());
            chunked = last.is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") && !te {
            let n = content_length(h.value).ok_or((400, "The Content-Length header is invalid".to_string()))?;
            if length.is_some_and(|l| l != n) {
                return Err((400, "The Content-Length headers differ".into()));
            }
            length = Some(n);
        }
    }
    let state = match (te, chunked, length) {
        (true, false, _) => return Err((400, "The last Transfer-Encoding is not chunked".into())),
        (true, true, _) => State::Chunked(Chunk::Size(0)),
        (false, _, Some(n)) if n > 0 => State::Length(n),
        _ => State::Head,
    };
    Ok((out, state))
}

/// A `Content-Length` value as hyper reads it: digits only, below `u64::MAX - 2`.
fn content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse::<u64>().ok().filter(|&n| n < u64::MAX - 2)
}

/// A stream whose reads go through a [`Gate`]; writes pass unchanged.
pub(super) struct HeadGate<I> {
    io: I,
    gate: Gate,
    eof: bool,
}

impl<I> HeadGate<I> {
    pub(super) fn new(io: I, gate: Gate) -> HeadGate<I> {
        HeadGate { io, gate, eof: false }
    }
}

impl<I: AsyncRead + Unpin> HeadGate<I> {
    /// Reads until the connection's first bytes tell whether it opens with HTTP/2's preface
    /// (h2c prior knowledge, only when the gate was made for it): whether it does. What was read
    /// stays in the gate for the first reads of hyper's connection, HTTP/1 or HTTP/2. An
    /// empty connection is not HTTP/2 (hyper's HTTP/1 connection then ends quietly).
    pub(super) async fn sniff_h2c(&mut self) -> io::Result<bool> {
        std::future::poll_fn(|cx| self.poll_sniff(cx)).await
    }

    fn poll_sniff(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        while self.gate.state == State::Start && !self.eof {
            std::task::ready!(self.poll_fill(cx))?;
        }
        Poll::Ready(Ok(self.gate.state == State::Through))
    }

    /// Reads what the socket has (up to 8 KiB) and feeds it to the gate; at the end of the
    /// stream, marks it and lets the gate finish.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Not zeroed: this runs on every read of every connection (and a read that finds
        // nothing yet still prepared its buffer); zeroing 8 KiB each time was a fifth of a
        // small request's instructions.
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut read = ReadBuf::uninit(&mut chunk);
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        if read.filled().is_empty() {
            self.eof = true;
            self.gate.finish();
        } else {
            self.gate.feed(read.filled());
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for HeadGate<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.gate.out.is_empty() {
                let n = this.gate.out.len().min(buf.remaining());
                buf.put_slice(&this.gate.out[..n]);
                this.gate.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            match this.gate.state {
                // hyper answers the stand-in and closes: nothing more is read.
                State::Refused => return Poll::Pending,
                _ if this.eof => return Poll::Ready(Ok(())),
                // The rest of a body longer than hyper's buffer: read straight into it.
                State::Length(n) if this.gate.raw.is_empty() && n >= buf.remaining() as u64 => {
                    let before = buf.filled().len();
                    std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let got = buf.filled().len().saturating_sub(before);
                    if got == 0 {
                        this.eof = true;
                    } else {
                        let left = n.saturating_sub(got as u64);
                        this.gate.state = if left == 0 { State::Head } else { State::Length(left) };
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Through if this.gate.raw.is_empty() => return Pin::new(&mut this.io).poll_read(cx, buf),
                _ => {}
            }
            std::task::ready!(this.poll_fill(cx))?;
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HeadGate<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift generator: the property test below is reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, n: usize, pool: &[u8]) -> Vec<u8> {
            (0..n).map(|_| pool[self.below(pool.len())]).collect()
        }
    }

    fn gate() -> Gate {
        Gate::new(64 * 1024, true, Refusal::default())
    }

    /// Runs `input` through a gate in pieces of random sizes.
    fn through(input: &[u8], rng: &mut Rng) -> (Vec<u8>, Gate) {
        let mut g = gate();
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let n = (1 + rng.below(40)).min(input.len() - i);
            g.feed(&input[i..i + n]);
            i += n;
            out.extend_from_slice(&g.out.split());
        }
        g.finish();
        out.extend_from_slice(&g.out.split());
        (out, g)
    }

    fn encoded(target: &[u8]) -> Vec<u8> {
        let line = encode_line(&[b"GET ", target, b" HTTP/1.1"].concat()).expect("line");
        line[4..line.len() - 11].to_vec()
    }

    #[test]
    fn curl_style_targets_are_percent_encoded() {
        assert_eq!(
            encoded(b"/people?select=id,json_data->>blood_type"),
            b"/people?select=id,json_data-%3E%3Eblood_type"
        );
        assert_eq!(encoded(b"/t?name=in.(\"Hi, there\",\"Yes\")"), b"/t?name=in.(%22Hi,%20there%22,%22Yes%22)");
        assert_eq!(encoded("/t?a=eq.José{|}^`\\#".as_bytes()), b"/t?a=eq.Jos%C3%A9%7B%7C%7D%5E%60%5C%23");
        assert_eq!(encoded(b"/t?a=eq.100%25&b=[1]"), b"/t?a=eq.100%25&b=[1]");
        assert!(encode_line(b"GET /a\x00 HTTP/1.1").is_err());
        assert!(encode_line(b"GET /a").is_err());
    }

    #[test]
    fn refusals_carry_their_status() {
        let status = |head: &[u8]| check(head).err().map(|(s, _)| s);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), Some(400));
        assert_eq!(status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), Some(400));
        assert_eq!(status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET http://[::1/ HTTP/1.1\r\n\r\n"), Some(400));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(status(many.as_bytes()), Some(431));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET));
        assert_eq!(status(long.as_bytes()), Some(414));
        let mut g = Gate::new(100, false, Refusal::default());
        g.feed(format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(200)).as_bytes());
        assert_eq!(&g.out[..], STAND_IN);
        let refused = g.refusal.lock().expect("lock").take();
        assert!(matches!(refused, Some((0, Error::BadHead { status: 431, .. }))), "{refused:?}");
    }

    #[test]
    fn h2c_preface_passes_unchanged() {
        let mut rng = Rng(7);
        let input = [H2_PREFACE, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00\"<>"].concat();
        assert_eq!(through(&input, &mut rng).0, input);
    }

    /// The property: over random request sequences (raw targets, bodies of every framing holding
    /// bytes that look like request heads, pipelined, read in random pieces), only the targets
    /// change, and every head handed on parses as hyper parses it.
    #[test]
    fn only_request_targets_change_whatever_the_framing() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let target_pool = b"abc/?=&.,()-_%\"<>{}|^`\\# \xc3\xa9[]";
        let body_pool = b"xyz\r\n0;\" <>GET / HTTP/1.1 chunked";
        for _ in 0..400 {
            let (mut input, mut expected) = (Vec::new(), Vec::new());
            for _ in 0..1 + rng.below(4) {
                let mut target = b"/".to_vec();
                let n = rng.below(30);
                target.extend(rng.bytes(n, target_pool));
                // No space right before "HTTP": that is where the version starts.
                let target = if target.ends_with(b" ") { [&target[..], b"x"].concat() } else { target };
                let n = rng.below(60);
                let body = rng.bytes(n, body_pool);
                let (headers, framed) = match rng.below(3) {
                    0 => (String::new(), Vec::new()),
                    1 => (format!("Content-Length: {}\r\n", body.len()), body.clone()),
                    _ => {
                        let mut framed = Vec::new();
                        for part in body.chunks(1 + rng.below(20)) {
                            let ext = if rng.below(2) == 0 { ";a=\"b\"" } else { "" };
                            framed.extend(format!("{:X}{ext}\r\n", part.len()).into_bytes());
                            framed.extend(part);
                            framed.extend(b"\r\n");
                        }
                        let trailer = if rng.below(2) == 0 { "T: 1\r\n" } else { "" };
                        framed.extend(format!("0\r\n{trailer}\r\n").into_bytes());
                        ("Transfer-Encoding: chunked\r\n".to_string(), framed)
                    }
                };
                let head = |t: &[u8]| [b"POST ", t, b" HTTP/1.1\r\nHost: x\r\n", headers.as_bytes(), b"\r\n"].concat();
                input.extend(head(&target));
                input.extend(&framed);
                let out_head = head(&encoded(&target));
                let mut parsed = [httparse::EMPTY_HEADER; 8];
                let mut req = httparse::Request::new(&mut parsed);
                assert!(req.parse(&out_head).is_ok_and(|s| s.is_complete()));
                assert!(hyper::Uri::try_from(req.path.unwrap_or_default()).is_ok(), "{:?}", req.path);
                expected.extend(out_head);
                expected.extend(&framed);
            }
            let (out, g) = through(&input, &mut rng);
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
            assert_eq!(g.state, State::Head);
            assert!(g.refusal.lock().expect("lock").is_none());
        }
    }
}
