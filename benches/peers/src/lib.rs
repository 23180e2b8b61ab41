//! Shared kit for the peer benchmarks (`benches/peers.rs`): identical inputs
//! for every implementation, an in-memory transport, a poller for futures that
//! never wait, independent checks of what each implementation produced, and
//! one adapter module per implementation behind three small traits.
//!
//! The inputs and the checks are written here rather than taken from any of
//! the measured crates, so that no implementation grades its own homework.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub mod fastwebsockets_impl;
pub mod rfc6455_impl;
pub mod tokio_websockets_impl;
pub mod tungstenite_impl;

// ----- inputs -------------------------------------------------------------------

/// Message sizes of the `receive` and `send` groups.
pub const SIZES: [(usize, &str); 4] = [(16, "16B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// Payload bytes per benchmark iteration, at least: small messages are
/// batched so that per-iteration overhead is amortised.
pub const BATCH_BYTES: usize = 64 << 10;

/// Largest message any implementation is asked to handle; every
/// implementation is configured to accept at least this much.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Largest frame accepted (the same value for every implementation that has
/// a separate frame limit).
pub const MAX_FRAME: usize = 16 << 20;

/// Bytes per read call in the `4KiB_chunks` receive mode.
pub const CHUNK: usize = 4096;

/// Messages per iteration for messages of `len` bytes.
pub fn messages_per_pass(len: usize) -> usize {
    (BATCH_BYTES / len.max(1)).max(1)
}

/// One line of the text payloads: chat-like JSON, mostly ASCII with 2-, 3-
/// and 4-byte UTF-8 sequences (14 of its 111 bytes are non-ASCII), as
/// application text usually is.
pub const TEXT_LINE: &str =
    "{\"user\":\"zoë\",\"room\":\"東京\",\"text\":\"Meet at the café at 10:00, bring the key 🔑 please\",\"ts\":1718000000}\n";

/// A text payload of exactly `len` bytes: [`TEXT_LINE`] repeated, cut at a
/// character boundary and padded with ASCII spaces.
pub fn text_payload(len: usize) -> String {
    let mut text = String::with_capacity(len);
    'fill: loop {
        for ch in TEXT_LINE.chars() {
            if text.len() + ch.len_utf8() > len {
                break 'fill;
            }
            text.push(ch);
        }
    }
    while text.len() < len {
        text.push(' ');
    }
    text
}

/// Appends one final frame with `opcode` and `payload`, masked with `mask` if
/// given (a client frame), to `out`. Written here, independent of the
/// implementations under test.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().zip(key.iter().cycle()).map(|(byte, k)| byte ^ k));
        }
        None => out.extend_from_slice(payload),
    }
}

/// `count` masked client text frames carrying `payload`, each with its own
/// masking key (as browsers do), concatenated.
pub fn masked_text_wire(payload: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * (payload.len() + 14));
    let mut state = 0x9e37_79b9_u32;
    for _ in 0..count {
        // xorshift32: varied, reproducible keys.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        push_frame(&mut out, 0x1, payload, Some(state.to_be_bytes()));
    }
    out
}

/// A typical upgrade request from Chrome, permessage-deflate offer included.
pub const CHROME_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://example.com:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// The `Sec-WebSocket-Key` of [`CHROME_REQUEST`].
pub const CHROME_KEY: &str = "x3JJHMbDL1EzLkh9GBhXDw==";

// ----- the three things an implementation does here ----------------------------

/// Server side of a connection receiving masked text messages.
pub trait Receiver {
    /// Receives exactly `messages` text messages (one pass over the input) and
    /// calls `on_text` with each payload, already unmasked and UTF-8 validated
    /// by the implementation.
    fn receive_pass<F: FnMut(&[u8])>(&mut self, messages: usize, on_text: F);
}

/// One end of a connection sending binary messages into a [`Sink`].
pub trait Sender {
    /// True when the implementation masks the caller's payload buffer in
    /// place, so that after the first message the bytes sent differ from the
    /// original payload (see `fastwebsockets_impl`).
    const MASKS_IN_PLACE: bool = false;
    /// Encodes `count` binary messages carrying `payload` and writes them to
    /// the sink, flushed.
    fn send_batch(&mut self, payload: &bytes::Bytes, count: usize);
    /// Everything written to the sink so far (checks only).
    fn into_output(self) -> Vec<u8>;
}

/// Server side of the opening handshake.
pub trait Handshaker {
    /// Parses `request` and writes the whole `101` response into `out`
    /// (cleared first).
    fn handshake(&mut self, request: &[u8], out: &mut Vec<u8>);
}

// ----- in-memory transport --------------------------------------------------------

/// Bytes a [`Sink`] keeps before starting over: enough for the largest
/// batch, so checks see everything.
const SINK_CAPACITY: usize = 4 << 20;

/// Where written bytes go: copied into a reused buffer (as a kernel copies
/// into a socket buffer), which starts over when full. Every byte is touched
/// once; nothing is allocated after the first fill.
#[derive(Debug)]
pub struct Sink {
    buf: Vec<u8>,
    total: u64,
}

impl Default for Sink {
    fn default() -> Self {
        Self { buf: Vec::with_capacity(SINK_CAPACITY), total: 0 }
    }
}

impl Sink {
    /// Copies `data` in.
    #[inline]
    pub fn write(&mut self, data: &[u8]) {
        if self.buf.len() + data.len() > self.buf.capacity() {
            self.buf.clear();
        }
        self.buf.extend_from_slice(data);
        self.total += data.len() as u64;
    }

    /// The bytes in the buffer (since it last started over).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// All bytes written, if the buffer never started over (checks only).
    pub fn into_bytes(self) -> Vec<u8> {
        assert_eq!(self.total, self.buf.len() as u64, "sink wrapped: check with a smaller batch");
        self.buf
    }
}

/// An in-memory transport: reads come from `input` (repeated forever when
/// `cyclic`, so a long-lived connection sees one pass per iteration without
/// any reset), at most `max_read` bytes per read call; writes go to a [`Sink`].
/// Implements both `std::io` and tokio's I/O traits, never blocks, and never
/// zero-fills the reader's buffer (tokio `ReadBuf::put_slice` only copies).
#[derive(Debug)]
pub struct MemStream {
    input: Vec<u8>,
    pos: usize,
    max_read: usize,
    cyclic: bool,
    pub sink: Sink,
}

impl MemStream {
    /// A transport whose peer sends `input` over and over.
    pub fn cyclic(input: Vec<u8>, max_read: usize) -> Self {
        Self { input, pos: 0, max_read: max_read.max(1), cyclic: true, sink: Sink::default() }
    }

    /// A transport whose peer sends `input` once, then EOF.
    pub fn once(input: Vec<u8>) -> Self {
        Self { input, pos: 0, max_read: usize::MAX, cyclic: false, sink: Sink::default() }
    }

    /// A transport whose peer sends nothing (EOF); for writing.
    pub fn write_only() -> Self {
        Self::once(Vec::new())
    }

    /// Length of one pass of the input.
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Starts the input over and empties the sink.
    pub fn rewind(&mut self) {
        self.pos = 0;
        self.sink.buf.clear();
        self.sink.total = 0;
    }

    /// The range of `input` the next read of up to `want` bytes returns.
    #[inline]
    fn next_read(&mut self, want: usize) -> std::ops::Range<usize> {
        if self.pos == self.input.len() && self.cyclic {
            self.pos = 0;
        }
        let start = self.pos;
        let n = want.min(self.max_read).min(self.input.len() - start);
        self.pos += n;
        start..start + n
    }
}

impl io::Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let range = self.next_read(buf.len());
        let n = range.len();
        buf[..n].copy_from_slice(&self.input[range]);
        Ok(n)
    }
}

impl io::Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink.write(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|buf| self.write(buf).unwrap_or(0)).sum())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let range = this.next_read(buf.remaining());
        buf.put_slice(&this.input[range]);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().sink.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    // Like a TCP socket (writev), so implementations that use vectored writes
    // take that path.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        for buf in bufs {
            this.sink.write(buf);
            n += buf.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits: every poll of [`MemStream`] is ready, so
/// the async implementations complete on the first poll. This measures their
/// code without a runtime's scheduling overhead (none of them needs a runtime
/// context for in-memory I/O). Panics if the future does wait.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory future returned Pending"),
    }
}

// ----- independent checks -----------------------------------------------------------

/// A frame as parsed by [`parse_frames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    /// Unmasked.
    pub payload: Vec<u8>,
}

/// Splits `wire` into frames; panics on a truncated or trailing frame.
pub fn parse_frames(mut wire: &[u8]) -> Vec<ParsedFrame> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        assert!(wire.len() >= 2, "truncated frame header");
        let (b0, b1) = (wire[0], wire[1]);
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (u64::from_be_bytes(wire[2..10].try_into().expect("8 bytes")) as usize, 10),
            n => (n as usize, 2),
        };
        let key = masked.then(|| {
            let key: [u8; 4] = wire[at..at + 4].try_into().expect("4 bytes");
            at += 4;
            key
        });
        assert!(wire.len() >= at + len, "truncated frame payload");
        let mut payload = wire[at..at + len].to_vec();
        if let Some(key) = key {
            payload.iter_mut().zip(key.iter().cycle()).for_each(|(byte, k)| *byte ^= k);
        }
        frames.push(ParsedFrame { fin: b0 & 0x80 != 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, masked, payload });
        wire = &wire[at + len..];
    }
    frames
}

/// Checks a `101` response for [`CHROME_REQUEST`]: status, upgrade headers,
/// the accept value, and no extension accepted.
pub fn check_101(response: &[u8], expected_accept: &str) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let status = parsed.parse(response).expect("the response must parse");
    assert_eq!(status, httparse::Status::Complete(response.len()), "exactly one response head");
    assert_eq!(parsed.code, Some(101));
    let header = |name: &str| {
        parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.to_ascii_lowercase())
    };
    assert_eq!(header("upgrade").as_deref(), Some(&b"websocket"[..]));
    assert_eq!(header("connection").as_deref(), Some(&b"upgrade"[..]));
    let accept = parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"));
    assert_eq!(accept.map(|h| h.value), Some(expected_accept.as_bytes()));
    assert_eq!(header("sec-websocket-extensions"), None, "permessage-deflate must be declined");
}

// ----- HTTP glue for fastwebsockets ------------------------------------------------

/// Parses an HTTP/1.1 request head into an `http::Request`, as a hyper
/// server would before handing it to fastwebsockets (fastwebsockets has no
/// request parser of its own). Built on httparse, as hyper's is.
pub fn parse_http_request(buf: &[u8]) -> http::Request<()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        other => panic!("bad request head: {other:?}"),
    }
    let mut request = http::Request::new(());
    *request.method_mut() = http::Method::from_bytes(parsed.method.unwrap_or_default().as_bytes()).expect("method");
    *request.uri_mut() = parsed.path.unwrap_or_default().parse().expect("request target");
    *request.version_mut() = if parsed.version == Some(0) { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
    let map = request.headers_mut();
    map.reserve(parsed.headers.len());
    for header in parsed.headers.iter() {
        let name = http::HeaderName::from_bytes(header.name.as_bytes()).expect("header name");
        let value = http::HeaderValue::from_bytes(header.value).expect("header value");
        map.append(name, value);
    }
    request
}

/// Writes an `http::Response` head as HTTP/1.1, as a hyper server would.
pub fn write_http_response<B>(response: &http::Response<B>, out: &mut Vec<u8>) {
    let status = response.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_exact_and_mixed() {
        for (len, _) in SIZES {
            let text = text_payload(len);
            assert_eq!(text.len(), len);
            assert!(!text.is_ascii());
            if len >= 1024 {
                assert!(text.chars().any(|c| c.len_utf8() == 4) && text.chars().any(|c| c.len_utf8() == 3));
            }
        }
    }

    #[test]
    fn own_encoder_and_parser_agree() {
        assert_eq!(TEXT_LINE.len(), 111);
        assert_eq!(TEXT_LINE.bytes().filter(|b| !b.is_ascii()).count(), 14);
        let payload = text_payload(70_000);
        let wire = masked_text_wire(payload.as_bytes(), 3);
        let frames = parse_frames(&wire);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.fin && f.masked && f.opcode == 1 && f.payload == payload.as_bytes()));
        // The RFC 6455 §5.7 example.
        let mut hello = Vec::new();
        push_frame(&mut hello, 1, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(hello, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn cyclic_reads_respect_chunks_and_wrap() {
        use std::io::Read;
        let mut stream = MemStream::cyclic((0..10u8).collect(), 4);
        let mut buf = [0u8; 16];
        let reads: Vec<usize> = (0..4).map(|_| stream.read(&mut buf).expect("read")).collect();
        assert_eq!(reads, [4, 4, 2, 4]);
        assert_eq!(&buf[..4], &[0, 1, 2, 3]);
    }
}
