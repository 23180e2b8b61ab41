//! Hostile peers: inputs built to crash, hang or exhaust a WebSocket
//! endpoint, each with its exact outcome and, where memory is the attack, a
//! bound on what the library allocated meanwhile. Allocations are counted
//! per thread by a global allocator, so these tests run in parallel without
//! seeing each other's memory.
//!
//! Cases covered elsewhere (see README "Security"): the handshake head limit
//! byte by byte (`tests/handshake.rs`, `src/handshake/head.rs`), deflate
//! bombs (`tests/deflate.rs`), misbehaving streams (`tests/blocking.rs`).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::handshake::{ServerHandshake, UpgradeRequest};
use rfc6455::{CloseCode, CloseReason, Config, Connection, Event, HandshakeError, Message, ProtocolError, Status};

// ----- a per-thread counting allocator -------------------------------------------------------------------------------

struct Counting;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of memory
    /// another thread allocated can make it go below zero: it is signed).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last [`measure`] started.
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Allocation calls (including reallocations) by this thread.
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn record(delta: isize, call: bool) {
    // `try_with`: the thread-locals may be gone while the thread exits.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    if call {
        let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
    }
}

// SAFETY: every call goes to the system allocator unchanged; the wrapper only
// updates thread-local counters, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as isize, true);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as isize), false);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as isize - layout.size() as isize, true);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What `f` allocated on this thread.
#[derive(Debug)]
struct Usage {
    /// Most bytes live at once, above what was live when `f` started.
    peak: usize,
    /// Allocation calls.
    calls: usize,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let calls = CALLS.with(Cell::get);
    let out = f();
    let usage = Usage { peak: (PEAK.with(Cell::get) - start).max(0) as usize, calls: CALLS.with(Cell::get) - calls };
    (out, usage)
}

// ----- helpers -------------------------------------------------------------------------------------------------------

fn server_with(edit: impl FnOnce(&mut Config)) -> Connection {
    let mut config = config();
    edit(&mut config);
    Connection::server(&config, Instant::now())
}

/// The close code a failed connection reported, with the error.
fn failure(events: &[Event]) -> (CloseCode, ProtocolError) {
    match events.last() {
        Some(Event::Closed(CloseReason::Protocol(err))) => (err.close_code(), err.clone()),
        other => panic!("expected a protocol failure, got {other:?} (all: {events:?})"),
    }
}

/// The close frame the connection queued, decoded: its code.
fn sent_close_code(conn: &mut Connection) -> Option<u16> {
    sent_frames(conn).iter().find(|f| f.header.opcode == OpCode::Close).and_then(close_code_of)
}

const TOO_BIG: CloseCode = CloseCode::MESSAGE_TOO_BIG;

// ----- frame lengths -------------------------------------------------------------------------------------------------

#[test]
fn huge_declared_lengths_fail_without_allocating_for_them() {
    let cases: [(&[u8], CloseCode); 3] = [
        // 2^63 - 1: a legal encoding, far over any limit.
        (&[0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4], TOO_BIG),
        // The top bit set: not a legal length at all.
        (&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], CloseCode::PROTOCOL_ERROR),
        // One byte over a 1 MiB frame limit (16-bit length form can't say it: 64-bit form).
        (&[0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4], TOO_BIG),
    ];
    for (wire, code) in cases {
        let mut server = server_with(|c| c.max_frame_size = 1 << 20);
        server.handle_read(wire, Instant::now());
        let (events, usage) = measure(|| events(&mut server));
        assert_eq!(failure(&events).0, code, "{wire:02x?}");
        // Decoding the header and queueing the close frame: a few small buffers.
        assert!(usage.peak < 4096, "{wire:02x?}: {usage:?}");
        assert_eq!(sent_close_code(&mut server), Some(code.0));
    }
}

// ----- many tiny frames ----------------------------------------------------------------------------------------------

/// Feeds `frame` `count` times in batches of about 64 KiB.
fn feed_repeated(server: &mut Connection, frame: &[u8], count: usize) -> Vec<Event> {
    let per_batch = (64 << 10) / frame.len();
    let batch: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * per_batch).collect();
    let mut all = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(per_batch);
        server.handle_read(&batch[..n * frame.len()], Instant::now());
        all.extend(events(server));
        left -= n;
    }
    all
}

#[test]
fn a_million_empty_continuation_frames_cost_no_memory_per_frame() {
    let mut server = server_with(|_| {});
    server.handle_read(&client_frame(OpCode::Binary, false, b"a"), Instant::now());
    let empty = client_frame(OpCode::Continuation, false, b"");
    let (events, usage) = measure(|| feed_repeated(&mut server, &empty, 1_000_000));
    assert!(events.is_empty(), "{events:?}");
    // The receive buffer for one 64 KiB batch, and nothing per frame.
    assert!(usage.peak < 256 << 10, "{usage:?}");
    assert!(usage.calls < 100, "{usage:?}");
    server.handle_read(&client_frame(OpCode::Continuation, true, b"z"), Instant::now());
    assert_eq!(common::events(&mut server), [Event::Message(Message::Binary("az".into()))]);
}

#[test]
fn a_million_one_byte_fragments_cost_memory_in_proportion_to_the_message() {
    let mut server = server_with(|_| {});
    server.handle_read(&client_frame(OpCode::Binary, false, b"a"), Instant::now());
    let one = client_frame(OpCode::Continuation, false, b"b");
    let (events, usage) = measure(|| {
        let mut events = feed_repeated(&mut server, &one, 1_000_000);
        server.handle_read(&client_frame(OpCode::Continuation, true, b"c"), Instant::now());
        events.extend(common::events(&mut server));
        events
    });
    let [Event::Message(Message::Binary(message))] = &events[..] else { panic!("{events:?}") };
    assert_eq!(message.len(), 1_000_002);
    assert!(message[1..1_000_001].iter().all(|&b| b == b'b'));
    // The message (1 MB, grown by doubling) and one receive batch.
    assert!(usage.peak < 3 << 20, "{usage:?}");
    assert!(usage.calls < 200, "{usage:?}");
}

#[test]
fn a_frame_delivered_one_byte_per_read_costs_memory_in_proportion_to_the_frame() {
    let mut server = server_with(|_| {});
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let wire = client_frame(OpCode::Binary, true, &payload);
    let (events, usage) = measure(|| {
        let mut all = Vec::new();
        for byte in wire.chunks(1) {
            server.handle_read(byte, Instant::now());
            all.extend(events(&mut server));
        }
        all
    });
    assert_eq!(events, [Event::Message(Message::Binary(payload.into()))]);
    assert!(usage.peak < 300_000, "{usage:?}");
    // Growth is geometric, so a handful of reallocations, not one per byte.
    assert!(usage.calls < 100, "{usage:?}");
}

#[test]
fn a_fragmented_message_just_over_the_message_limit_fails_with_1009() {
    let limit = 100_000;
    let mut server = server_with(|c| c.max_message_size = limit);
    let mut wire = client_frame(OpCode::Text, false, &[b'x'; 60_000]);
    wire.extend(client_frame(OpCode::Continuation, false, &[b'y'; 40_000])); // exactly at the limit
    server.handle_read(&wire, Instant::now());
    assert!(events(&mut server).is_empty());
    let (events, usage) = measure(|| {
        server.handle_read(&client_frame(OpCode::Continuation, true, b"z"), Instant::now());
        events(&mut server)
    });
    assert_eq!(failure(&events), (TOO_BIG, ProtocolError::MessageTooLarge { len: 100_001, limit }));
    assert!(usage.peak < 4096, "refused at the header, nothing buffered for it: {usage:?}");
    assert_eq!(sent_close_code(&mut server), Some(1009));
    // At the limit exactly is fine.
    let mut server = server_with(|c| c.max_message_size = limit);
    wire.extend(client_frame(OpCode::Continuation, true, b""));
    server.handle_read(&wire, Instant::now());
    let [Event::Message(message)] = &common::events(&mut server)[..] else { panic!() };
    assert_eq!(message.len(), limit);
}

// ----- UTF-8 ---------------------------------------------------------------------------------------------------------

/// Sends `text` as a message in fragments cut at `cuts`, each fragment's
/// frame delivered in reads of `read` bytes; returns the events.
fn text_in_pieces(text: &[u8], cuts: &[usize], read: usize) -> Vec<Event> {
    let mut wire = Vec::new();
    let mut start = 0;
    let ends: Vec<usize> = cuts.iter().copied().chain([text.len()]).collect();
    for (i, &end) in ends.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Text } else { OpCode::Continuation };
        wire.extend(client_frame(opcode, i + 1 == ends.len(), &text[start..end]));
        start = end;
    }
    let mut server = server_with(|_| {});
    let mut all = Vec::new();
    for piece in wire.chunks(read) {
        server.handle_read(piece, Instant::now());
        all.extend(events(&mut server));
    }
    all
}

#[test]
fn invalid_utf8_fails_with_1007_wherever_the_message_is_cut() {
    let bad: [(&str, &[u8]); 7] = [
        ("overlong slash", b"ab\xC0\xAFcd"),
        ("overlong 3-byte NUL", b"ab\xE0\x80\x80cd"),
        ("overlong 4-byte", b"ab\xF0\x80\x80\xAFcd"),
        ("UTF-16 surrogate D800", b"ab\xED\xA0\x80cd"),
        ("UTF-16 surrogate DFFF", b"ab\xED\xBF\xBFcd"),
        ("above U+10FFFF", b"ab\xF4\x90\x80\x80cd"),
        ("lone continuation", b"ab\x80cd"),
    ];
    for (what, text) in bad {
        for cut in 0..=text.len() {
            for read in [1, 3, 1000] {
                let events = text_in_pieces(text, &[cut], read);
                let (code, err) = failure(&events);
                assert_eq!((code, err), (CloseCode::INVALID_PAYLOAD, ProtocolError::InvalidUtf8), "{what}, cut {cut}");
                assert!(!events.iter().any(|e| matches!(e, Event::Message(_))), "{what}: a message got through");
            }
        }
    }
    // The same positions with valid 2-, 3- and 4-byte characters pass.
    let good = "ab\u{e9}\u{2713}\u{1F511}cd".as_bytes();
    for cut in 0..=good.len() {
        let events = text_in_pieces(good, &[cut], 1);
        assert_eq!(events, [Event::Message(Message::from("ab\u{e9}\u{2713}\u{1F511}cd"))], "cut {cut}");
    }
}

// ----- control frames ------------------------------------------------------------------------------------------------

#[test]
fn every_control_opcode_with_a_126_byte_payload_fails_with_1002() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        let mut server = server_with(|_| {});
        server.handle_read(&client_frame(opcode, true, &[b'a'; 126]), Instant::now());
        let events = events(&mut server);
        assert_eq!(failure(&events), (CloseCode::PROTOCOL_ERROR, ProtocolError::ControlFrameTooLong), "{opcode:?}");
        assert_eq!(sent_close_code(&mut server), Some(1002), "{opcode:?}");
    }
}

#[test]
fn malformed_close_frames_fail_with_the_right_code() {
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("one byte", vec![0x03], 1002),
        ("code 0", close_payload(0, b""), 1002),
        ("code 999", close_payload(999, b""), 1002),
        ("1004 reserved", close_payload(1004, b""), 1002),
        ("1005 never on the wire", close_payload(1005, b""), 1002),
        ("1006 never on the wire", close_payload(1006, b""), 1002),
        ("1015 never on the wire", close_payload(1015, b""), 1002),
        ("1016 unassigned", close_payload(1016, b""), 1002),
        ("2999 unassigned", close_payload(2999, b""), 1002),
        ("5000 out of range", close_payload(5000, b""), 1002),
        ("invalid UTF-8 reason", close_payload(1000, b"bye \xFF"), 1007),
        ("surrogate in reason", close_payload(1000, b"\xED\xA0\x80"), 1007),
    ];
    for (what, payload, code) in cases {
        let mut server = server_with(|_| {});
        server.handle_read(&client_frame(OpCode::Close, true, &payload), Instant::now());
        let events = events(&mut server);
        assert_eq!(failure(&events).0, CloseCode(code), "{what}");
        assert_eq!(sent_close_code(&mut server), Some(code), "{what}");
    }
    // 125 bytes (code + 123-byte reason) is the largest legal close frame.
    let mut server = server_with(|_| {});
    server.handle_read(&client_frame(OpCode::Close, true, &close_payload(4000, &[b'r'; 123])), Instant::now());
    assert!(matches!(events(&mut server).last(), Some(Event::Closed(reason)) if reason.was_clean()));
}

// ----- a peer that never reads -------------------------------------------------------------------------------------

#[test]
fn sending_to_a_peer_that_never_reads_stops_at_the_write_buffer_limit() {
    let limit = 64 << 10;
    let mut server = server_with(|c| c.write_buffer_limit = limit);
    let chunk = vec![7u8; 10_000];
    let (refused, usage) = measure(|| {
        // The transport never takes a byte: nothing is ever advanced.
        (0..1000).find_map(|_| server.send_binary(&chunk).err())
    });
    let buffered = server.buffered_amount();
    assert_eq!(refused, Some(rfc6455::UsageError::WriteBufferFull { buffered, limit }));
    assert!(buffered < limit + chunk.len() + 16, "{buffered}");
    assert!(usage.peak < 4 * limit, "{usage:?}");
}

// ----- the handshake -------------------------------------------------------------------------------------------------

const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

fn request(extra: &[String]) -> Vec<u8> {
    let mut head = format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY_LINE}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn server_verdict(config: &Config, wire: &[u8]) -> Result<Status<UpgradeRequest>, HandshakeError> {
    let mut hs = ServerHandshake::new(config);
    hs.handle_read(wire);
    hs.poll_request()
}

#[test]
fn ten_thousand_headers_are_refused_with_431() {
    let lines: Vec<String> = (0..10_000).map(|i| format!("X-{i}: {i}")).collect();
    // Over the default head limit long before the header limit.
    let err = server_verdict(&config(), &request(&lines)).unwrap_err();
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 8 << 10 });
    assert_eq!(err.status_hint(), 431);
    // With room for the bytes, the header count limit is what stops it.
    let mut roomy = config();
    roomy.max_handshake_bytes = 1 << 20;
    let (verdict, usage) = measure(|| server_verdict(&roomy, &request(&lines)));
    let err = verdict.unwrap_err();
    assert_eq!(err, HandshakeError::TooManyHeaders { limit: 64 });
    assert_eq!(err.status_hint(), 431);
    assert!(usage.peak < 2 << 20, "{usage:?}");
}

#[test]
fn pathological_token_lists_are_bounded_by_the_head_limit() {
    let many = |item: &str, n: usize| vec![item; n].join(",");
    let cases = [
        format!("Sec-WebSocket-Protocol: {}", many("chat", 3000)),
        format!("Sec-WebSocket-Protocol: {}", many("", 10_000)),
        format!("Sec-WebSocket-Extensions: {}", many("permessage-deflate", 800)),
        format!("Sec-WebSocket-Extensions: permessage-deflate{}", ";a=1".repeat(3000)),
        format!("Sec-WebSocket-Extensions: x; q=\"{}\"", "\\a".repeat(6000)),
    ];
    for line in &cases {
        // Under the default 8 KiB limit: refused as too large.
        let err = server_verdict(&config(), &request(std::slice::from_ref(line))).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 8 << 10 }, "{}", &line[..40]);
        // Allowed by a large limit: parsed (or refused for its syntax) without blowing up.
        let mut roomy = config();
        roomy.max_handshake_bytes = 1 << 20;
        let (verdict, usage) = measure(|| server_verdict(&roomy, &request(std::slice::from_ref(line))));
        assert!(usage.peak < 4 << 20, "{}: {usage:?}", &line[..40]);
        match verdict {
            Ok(Status::Complete(request)) => {
                assert!(request.protocols().count() <= 3000);
                assert!(request.extensions().len() <= 800);
            }
            Ok(Status::Partial) => panic!("a whole head is not partial"),
            Err(err) => assert_eq!(err.status_hint(), 400, "{}: {err}", &line[..40]),
        }
    }
}

#[test]
fn duplicate_or_conflicting_headers_are_refused() {
    let cases: [(&str, HandshakeError, u16); 4] = [
        (KEY_LINE, HandshakeError::DuplicateHeader("Sec-WebSocket-Key"), 400),
        ("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==", HandshakeError::DuplicateHeader("Sec-WebSocket-Key"), 400),
        ("Host: evil.example", HandshakeError::DuplicateHeader("Host"), 400),
        // Repeated fields read as one list (RFC 9110 5.3): "13, 8" is not version 13.
        ("Sec-WebSocket-Version: 8", HandshakeError::UnsupportedVersion, 426),
    ];
    for (line, expected, status) in cases {
        let err = server_verdict(&config(), &request(&[line.to_string()])).unwrap_err();
        assert_eq!(err, expected, "{line}");
        assert_eq!(err.status_hint(), status, "{line}");
    }
}

// ----- slowloris -----------------------------------------------------------------------------------------------------

#[cfg(feature = "blocking")]
#[test]
fn blocking_accept_drops_a_peer_that_trickles_its_request() {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let trickler = std::thread::spawn(move || {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // One byte every 50 ms: the head would take minutes.
        for byte in request(&[]).iter().take(40) {
            if tcp.write_all(&[*byte]).is_err() {
                return; // dropped by the server: what we expect
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (stream, _) = listener.accept().unwrap();
    let mut config = config();
    config.handshake_timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let err = rfc6455::io::blocking::accept_tcp(stream, &config, |_| Ok(Default::default())).unwrap_err();
    assert!(matches!(err, rfc6455::io::Error::HandshakeTimeout(limit) if limit == Duration::from_millis(300)), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the limit, not by the trickle");
    trickler.join().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn tokio_accept_drops_a_peer_that_trickles_its_request() {
    use tokio::io::AsyncWriteExt;
    let (io, mut peer) = tokio::io::duplex(1 << 16);
    let head = request(&[]);
    let trickle = tokio::spawn(async move {
        for byte in head.iter().take(40) {
            if peer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let err = rfc6455::io::tokio::accept_with(io, &config(), |_| Ok(Default::default())).await.unwrap_err();
    assert!(matches!(err, rfc6455::io::Error::HandshakeTimeout(limit) if limit == Duration::from_secs(10)), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(10), "the default limit, on tokio's clock");
    trickle.await.unwrap();
}

// ----- a stream that fails mid-frame ---------------------------------------------------------------------------------

/// Gives `data` in `step`-byte reads with an error before every read after
/// the first, then EOF.
#[cfg(feature = "blocking")]
struct FailingReader {
    data: Vec<u8>,
    at: usize,
    step: usize,
    fail_next: bool,
    errors: usize,
}

#[cfg(feature = "blocking")]
impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.fail_next && self.at < self.data.len() {
            self.fail_next = false;
            self.errors += 1;
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        self.fail_next = true;
        let n = self.step.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(feature = "blocking")]
impl std::io::Write for FailingReader {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "blocking")]
#[test]
fn read_errors_mid_frame_surface_as_io_errors_and_lose_nothing() {
    use rfc6455::io::{blocking::WebSocket, Error};
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let data = [client_frame(OpCode::Binary, true, &payload), client_frame(OpCode::Text, true, b"next")].concat();
    let reads = data.len().div_ceil(777);
    let stream = FailingReader { data, at: 0, step: 777, fail_next: false, errors: 0 };
    let mut ws = WebSocket::from_connection(stream, Connection::server(&config(), Instant::now()));
    let mut messages = Vec::new();
    let mut io_errors = 0;
    let end = loop {
        assert!(io_errors < 100, "never ended");
        match ws.read() {
            Ok(Some(message)) => messages.push(message),
            Err(Error::Io(err)) => {
                assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
                io_errors += 1;
            }
            other => break other,
        }
    };
    assert_eq!(messages, [Message::Binary(payload.into()), Message::from("next")]);
    assert_eq!(io_errors, ws.get_ref().errors);
    assert_eq!(io_errors, reads - 1, "an error between every two reads, each surfaced");
    // The stream then ends without a close frame: abnormal, reported once, no panic.
    assert!(matches!(end, Err(Error::Closed(CloseReason::Abnormal))), "{end:?}");
}
