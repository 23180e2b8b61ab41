//! Hostile peers: inputs built to exhaust a WebSocket endpoint's memory or
//! time, each with its exact outcome and a bound on what the library
//! allocated meanwhile (allocations are counted per thread by
//! `common::alloc`, so these tests run in parallel without seeing each
//! other's memory); peers that trickle their handshake (slowloris); and a
//! stream that fails between reads.
//!
//! Hostile inputs whose point is a protocol rule or a size limit, not memory,
//! are tested with their topic: `tests/rules.rs` (framing rules, UTF-8),
//! `tests/limits.rs` (frame and message limits, huge declared lengths),
//! `tests/close.rs` (malformed close frames), `tests/handshake_limits.rs` (the
//! handshake head limit, byte by byte), `tests/handshake_server.rs` (duplicate
//! headers), `tests/deflate.rs` (deflate bombs) and `tests/blocking.rs`
//! (misbehaving streams).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::alloc::{measure, Counting};
use common::handshake::server_poll_with;
use common::*;
use rfc6455::extensions::ExtensionOffer;
use rfc6455::frame::OpCode;
use rfc6455::{CloseReason, Config, Connection, Event, HandshakeError, Message, Status};

#[global_allocator]
static GLOBAL: Counting = Counting;

// ----- helpers -------------------------------------------------------------------------------------------------------

fn server_with(edit: impl FnOnce(&mut Config)) -> Connection {
    let mut config = config();
    edit(&mut config);
    Connection::server(&config, Instant::now())
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

/// A valid upgrade request with `extra` header lines.
fn request(extra: &[String]) -> Vec<u8> {
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    common::handshake::request_with(&[], &extra)
}

#[test]
fn ten_thousand_headers_are_refused_with_431() {
    let lines: Vec<String> = (0..10_000).map(|i| format!("X-{i}: {i}")).collect();
    // Over the default head limit long before the header limit.
    let err = server_poll_with(&config(), &request(&lines)).unwrap_err();
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 8 << 10 });
    assert_eq!(err.status_hint(), 431);
    // With room for the bytes, the header count limit is what stops it.
    let mut roomy = config();
    roomy.max_handshake_bytes = 1 << 20;
    let (verdict, usage) = measure(|| server_poll_with(&roomy, &request(&lines)));
    let err = verdict.unwrap_err();
    assert_eq!(err, HandshakeError::TooManyHeaders { limit: 64 });
    assert_eq!(err.status_hint(), 431);
    assert!(usage.peak < 2 << 20, "{usage:?}");
}

#[test]
fn pathological_token_lists_are_bounded_by_the_head_limit() {
    let many = |item: &str, n: usize| vec![item; n].join(",");
    let deflate = || ExtensionOffer::new("permessage-deflate").unwrap();
    // Each line, and what a server that allows its size makes of it.
    let cases: Vec<(String, Vec<&str>, Vec<ExtensionOffer>)> = vec![
        (format!("Sec-WebSocket-Protocol: {}", many("chat", 3000)), vec!["chat"; 3000], vec![]),
        // Empty list elements are allowed (RFC 9110 §5.6.1) and name nothing.
        (format!("Sec-WebSocket-Protocol: {}", many("", 10_000)), vec![], vec![]),
        (format!("Sec-WebSocket-Extensions: {}", many("permessage-deflate", 800)), vec![], vec![deflate(); 800]),
        (
            format!("Sec-WebSocket-Extensions: permessage-deflate{}", ";a=1".repeat(3000)),
            vec![],
            vec![(0..3000).fold(deflate(), |offer, _| offer.with_param("a", Some("1")).unwrap())],
        ),
        // A quoted string of 6,000 escapes unquotes to 6,000 bytes.
        (
            format!("Sec-WebSocket-Extensions: x; q=\"{}\"", "\\a".repeat(6000)),
            vec![],
            vec![ExtensionOffer::new("x").unwrap().with_param("q", Some(&"a".repeat(6000))).unwrap()],
        ),
    ];
    for (line, protocols, extensions) in &cases {
        let what = &line[..40];
        // Under the default 8 KiB limit: refused as too large.
        let err = server_poll_with(&config(), &request(std::slice::from_ref(line))).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 8 << 10 }, "{what}");
        // Allowed by a large limit: parsed in full, without blowing up.
        let mut roomy = config();
        roomy.max_handshake_bytes = 1 << 20;
        let (verdict, usage) = measure(|| server_poll_with(&roomy, &request(std::slice::from_ref(line))));
        assert!(usage.peak < 4 << 20, "{what}: {usage:?}");
        let Ok(Status::Complete(request)) = verdict else { panic!("{what}: {verdict:?}") };
        assert_eq!(request.protocols().collect::<Vec<_>>(), *protocols, "{what}");
        assert_eq!(request.extensions(), extensions, "{what}");
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
    let err = rfc6455::io::tokio_ws::accept_with(io, &config(), |_| Ok(Default::default())).await.unwrap_err();
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
