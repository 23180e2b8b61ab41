//! A refused handshake, as the client sees it: the body of the server's
//! answer is read (bounded, and without waiting forever) so that it reaches
//! the error, and the error's `Debug` shows what a person needs (status,
//! reason, header lines, body), never byte ranges or raw buffers. Sans-IO
//! first, then through the tokio and blocking adapters against a raw TCP
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use common::handshake::*;
use rfc6455::handshake::{BodyState, ClientHandshake, Response};
use rfc6455::io::Error;
use rfc6455::{Config, HandshakeError, Status};

const BODY: &str = r#"{"error":"bad token"}"#;

/// A 401 with a JSON body, as an API gateway answers a bad token.
fn unauthorized() -> Vec<u8> {
    let mut wire = response_head(
        "HTTP/1.1 401 Unauthorized",
        &["Content-Type: application/json", &format!("Content-Length: {}", BODY.len()), "WWW-Authenticate: Bearer"],
    );
    wire.extend_from_slice(BODY.as_bytes());
    wire
}

/// `status_line` and `lines`, then `body`.
fn answer(status_line: &str, lines: &[&str], body: &[u8]) -> Vec<u8> {
    let mut wire = response_head(status_line, lines);
    wire.extend_from_slice(body);
    wire
}

fn handshake_with(config: &Config) -> ClientHandshake {
    ClientHandshake::with_key(&chat_request(), sample_key(), config, [42; 32])
}

fn rejected(err: HandshakeError) -> Response {
    match err {
        HandshakeError::Rejected(response) => *response,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// The client's verdict on `wire`, in one read, then (if `eof`) the end of the stream.
fn poll_once(config: &Config, wire: &[u8], eof: bool) -> Result<Status<Response>, HandshakeError> {
    let mut hs = handshake_with(config);
    hs.handle_read(wire);
    if eof {
        hs.handle_eof();
    }
    hs.poll_response()
}

fn refusal(config: &Config, wire: &[u8], eof: bool) -> Response {
    match poll_once(config, wire, eof) {
        Err(err) => rejected(err),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn assert_readable(debug: &str) {
    for internal in ["..", "bytes:", "Head", "negotiated", "b\""] {
        assert!(!debug.contains(internal), "{internal:?} in {debug}");
    }
}

#[test]
fn debug_of_a_401_shows_status_reason_headers_and_body() {
    let err = client_error(&chat_request(), &unauthorized());
    let debug = format!("{err:?}");
    assert_eq!(
        debug,
        r#"Rejected(Response { status: 401, reason: "Unauthorized", headers: ["Content-Type: application/json", "Content-Length: 21", "WWW-Authenticate: Bearer"], body: "{\"error\":\"bad token\"}" })"#
    );
    for wanted in ["401", "Unauthorized", "Content-Type: application/json", "WWW-Authenticate: Bearer", "bad token"] {
        assert!(debug.contains(wanted), "{wanted:?} missing from {debug}");
    }
    // The body, escaped as any string in `Debug`.
    assert!(debug.contains(&format!("{BODY:?}")), "{debug}");
    assert_readable(&debug);
    assert_readable(&format!("{err:#?}"));
    // Display is unchanged.
    assert_eq!(err.to_string(), "server refused the upgrade with status 401");

    // Wrapped in the adapters' error, as `main` would print it.
    let err = Error::from(err);
    let debug = format!("{err:?}");
    assert!(debug.starts_with("Handshake(Rejected(Response { status: 401, "), "{debug}");
    assert!(debug.contains(&format!("{BODY:?}")), "{debug}");
    assert_readable(&debug);

    let response = rejected(client_error(&chat_request(), &unauthorized()));
    assert_eq!(response.body(), BODY.as_bytes());
    assert_eq!(response.body_state(), BodyState::Complete);
}

#[test]
fn debug_of_a_101_and_of_headers_that_are_not_utf8() {
    let response = client_accepts(&chat_request(), &switching_response(&[], &["Server: caf\u{e9}"]));
    let debug = format!("{response:?}");
    assert_eq!(
        debug,
        "Response { status: 101, reason: \"Switching Protocols\", headers: [\"Upgrade: websocket\", \
         \"Connection: Upgrade\", \"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\", \
         \"Server: caf\u{e9}\"], protocol: None, extensions: [] }"
    );
    let mut wire = response_head("HTTP/1.1 403 Forbidden", &["Content-Length: 3"]);
    wire.extend_from_slice(&[b'n', 0xff, b'o']);
    let debug = format!("{:?}", refusal(&config(), &wire, false));
    assert!(debug.contains("body: \"n\u{fffd}o\""), "{debug}");
    assert_readable(&debug);
}

#[test]
fn a_body_over_the_limit_is_truncated_and_the_error_still_arrives() {
    let config = config();
    let limit = config.max_handshake_bytes;
    let long = vec![b'x'; limit * 3];
    let length = format!("Content-Length: {}", long.len());

    // All of it sent: the first `limit` bytes are kept.
    let response = refusal(&config, &answer("HTTP/1.1 500 Internal Server Error", &[&length], &long), false);
    assert_eq!(response.body(), &long[..limit]);
    assert_eq!(response.body_state(), BodyState::Truncated);
    let debug = format!("{response:?}");
    assert!(debug.contains(&format!("(+{} more bytes)", limit - 1024)), "{debug}");
    assert!(debug.contains("body_state: Truncated"), "{debug}");
    assert!(debug.len() < 1300, "Debug shows the first KiB only: {} bytes", debug.len());

    // Only the first `limit` bytes sent, and the server waits: the client does not.
    let response = refusal(&config, &answer("HTTP/1.1 500 Internal Server Error", &[&length], &long[..limit]), false);
    assert_eq!((response.body().len(), response.body_state()), (limit, BodyState::Truncated));

    // The limit exactly, and one byte more (Content-Length).
    for (len, state) in [(limit, BodyState::Complete), (limit + 1, BodyState::Truncated)] {
        let wire = answer("HTTP/1.1 400 Bad Request", &[&format!("Content-Length: {len}")], &long[..len]);
        let response = refusal(&config, &wire, false);
        assert_eq!((response.body(), response.body_state()), (&long[..limit.min(len)], state), "{len}");
    }
    // The same without a length, up to the end of the stream: the client
    // waits for one byte past the limit before it calls the body truncated.
    let close = ["Connection: close"];
    assert_eq!(
        poll_once(&config, &answer("HTTP/1.1 400 Bad Request", &close, &long[..limit]), false),
        Ok(Status::Partial)
    );
    for (len, state) in [(limit, BodyState::Complete), (limit + 1, BodyState::Truncated)] {
        let response = refusal(&config, &answer("HTTP/1.1 400 Bad Request", &close, &long[..len]), true);
        assert_eq!((response.body(), response.body_state()), (&long[..limit], state), "{len}");
    }
    let response = refusal(&config, &answer("HTTP/1.1 400 Bad Request", &close, &long), false);
    assert_eq!((response.body(), response.body_state()), (&long[..limit], BodyState::Truncated));

    // A length too large for any platform is truncated the same way.
    let huge = answer("HTTP/1.1 413 Payload Too Large", &["Content-Length: 18446744073709551615"], &long);
    assert_eq!(refusal(&config, &huge, false).body_state(), BodyState::Truncated);
}

#[test]
fn a_body_fed_one_byte_at_a_time_arrives_whole() {
    let wire = unauthorized();
    let body_starts = wire.len() - BODY.len();
    for through_recv_buffer in [false, true] {
        let mut hs = handshake_with(&config());
        let mut outcome = None;
        for (i, byte) in wire.iter().enumerate() {
            if through_recv_buffer {
                hs.recv_buffer().extend_from_slice(&[*byte]);
            } else {
                hs.handle_read(&[*byte]);
            }
            match hs.poll_response() {
                Ok(Status::Partial) => assert!(i + 1 < wire.len(), "still partial after the last byte"),
                Ok(Status::Complete(response)) => panic!("a 401 completed: {response:?}"),
                Err(err) => {
                    assert_eq!(i + 1, wire.len(), "failed at byte {i} of {} (body from {body_starts})", wire.len());
                    outcome = Some(err);
                }
            }
        }
        let response = rejected(outcome.expect("no rejection"));
        assert_eq!((response.body(), response.body_state()), (BODY.as_bytes(), BodyState::Complete));
        // Later calls, and later bytes, change nothing.
        hs.handle_read(b"more");
        assert_eq!(rejected(hs.poll_response().unwrap_err()), response);
    }
}

#[test]
fn reads_fed_without_polling_keep_the_body_and_stay_bounded() {
    let mut config = config();
    config.max_handshake_bytes = 256;
    let body = vec![b'b'; 250];
    let wire = answer("HTTP/1.1 403 Forbidden", &["Content-Length: 250"], &body);
    assert!(wire.len() > config.max_handshake_bytes);
    // Every byte handed over before the first poll: the body is all there.
    let mut hs = handshake_with(&config);
    for byte in &wire {
        hs.handle_read(&[*byte]);
    }
    let response = rejected(hs.poll_response().unwrap_err());
    assert_eq!((response.body(), response.body_state()), (&body[..], BodyState::Complete));

    // A peer that sends without end cannot grow the buffer, polled or not.
    let mut hs = handshake_with(&config);
    hs.handle_read(&response_head("HTTP/1.1 403 Forbidden", &["Content-Length: 100000000"]));
    for _ in 0..1000 {
        hs.handle_read(&[b'z'; 1000]);
        assert!(hs.recv_buffer().len() <= 2 * 256 + 1 + 1000);
    }
    let response = rejected(hs.poll_response().unwrap_err());
    assert_eq!((response.body().len(), response.body_state()), (256, BodyState::Truncated));
    let mut hs = handshake_with(&config);
    hs.handle_read(&response_head("HTTP/1.1 403 Forbidden", &["Connection: close"]));
    assert_eq!(hs.poll_response(), Ok(Status::Partial));
    for _ in 0..1000 {
        hs.handle_read(&[b'z'; 100]);
        assert!(hs.recv_buffer().len() <= 256 + 1 + 100);
    }
}

#[test]
fn a_body_cut_short_by_the_end_of_the_stream_is_a_rejection_not_a_hang() {
    let wire = answer("HTTP/1.1 401 Unauthorized", &["Content-Length: 100"], b"{\"error\":");
    let mut hs = handshake_with(&config());
    hs.handle_read(&wire);
    // Still waiting for the rest ...
    assert_eq!(hs.poll_response(), Ok(Status::Partial));
    // ... until the stream ends: what arrived is the body.
    hs.handle_eof();
    let response = rejected(hs.poll_response().unwrap_err());
    assert_eq!((response.status(), response.body()), (http::StatusCode::UNAUTHORIZED, &b"{\"error\":"[..]));
    assert_eq!(response.body_state(), BodyState::EndedEarly);
    let debug = format!("{response:?}");
    assert!(debug.contains("body_state: EndedEarly"), "{debug}");
    // Bytes after the end of the stream are ignored.
    let mut hs = handshake_with(&config());
    hs.handle_read(&wire);
    hs.handle_eof();
    hs.handle_read(b"late");
    assert_eq!(rejected(hs.poll_response().unwrap_err()).body(), b"{\"error\":");
    // The end of the stream inside the head: the handshake cannot complete,
    // and says so by staying partial (the adapters turn it into an error).
    let mut hs = handshake_with(&config());
    hs.handle_read(b"HTTP/1.1 401 Unauth");
    hs.handle_eof();
    assert_eq!(hs.poll_response(), Ok(Status::Partial));
}

#[test]
fn which_bodies_are_read() {
    let config = config();
    let check = |wire: Vec<u8>, eof: bool, body: &[u8], state: BodyState| {
        let response = refusal(&config, &wire, eof);
        assert_eq!((response.body(), response.body_state()), (body, state), "{}", String::from_utf8_lossy(&wire));
    };
    // Content-Length: exactly that many bytes, whatever follows.
    check(answer("HTTP/1.1 403 Forbidden", &["Content-Length: 4"], b"denyEXTRA"), false, b"deny", BodyState::Complete);
    check(answer("HTTP/1.1 403 Forbidden", &["Content-Length: 0"], b"EXTRA"), false, b"", BodyState::Complete);
    // Repeated, equal lengths are one length; different ones are not a length.
    check(
        answer("HTTP/1.1 403 Forbidden", &["Content-Length: 2, 2", "content-length: 2"], b"no"),
        false,
        b"no",
        BodyState::Complete,
    );
    check(
        answer("HTTP/1.1 403 Forbidden", &["Content-Length: 2", "Content-Length: 3"], b"no!"),
        false,
        b"",
        BodyState::NotRead,
    );
    check(answer("HTTP/1.1 403 Forbidden", &["Content-Length: -1"], b"no!"), false, b"", BodyState::NotRead);
    check(answer("HTTP/1.1 403 Forbidden", &["Content-Length: +3"], b"no!"), false, b"", BodyState::NotRead);
    // Chunked is not decoded, and wins over a length.
    check(
        answer("HTTP/1.1 403 Forbidden", &["Transfer-Encoding: chunked"], b"2\r\nno\r\n0\r\n\r\n"),
        false,
        b"",
        BodyState::NotRead,
    );
    check(
        answer("HTTP/1.1 403 Forbidden", &["Transfer-Encoding: chunked", "Content-Length: 2"], b"no"),
        false,
        b"",
        BodyState::NotRead,
    );
    // No length: read to the end of the stream only when the server said it closes.
    check(
        answer("HTTP/1.1 403 Forbidden", &["Connection: keep-alive, close"], b"go away"),
        true,
        b"go away",
        BodyState::Complete,
    );
    check(answer("HTTP/1.1 403 Forbidden", &[], b"go away"), false, b"", BodyState::NotRead);
    // Statuses without a body.
    for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
        check(answer(&format!("HTTP/1.1 {status}"), &["Content-Length: 5"], b"12345"), false, b"", BodyState::Complete);
    }
    // A 200 is a refusal too, with its body.
    check(answer("HTTP/1.1 200 OK", &["Content-Length: 5"], b"hello"), false, b"hello", BodyState::Complete);
    // A 101 has no body: the bytes after it are the connection's.
    let response = client_accepts(&chat_request(), &switching_response(&[], &["Content-Length: 5"]));
    assert_eq!((response.body(), response.body_state()), (&b""[..], BodyState::Complete));
}

// Through the adapters, against a server that speaks raw HTTP.

/// Reads an HTTP request head from `stream` (blocking).
fn read_head(stream: &mut std::net::TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the client hung up mid-request");
        head.push(byte[0]);
    }
}

/// A TCP server on 127.0.0.1 that answers one request with `pieces`, a
/// pause between them, then closes if `close` (else waits for the client to).
fn raw_server(pieces: Vec<Vec<u8>>, close: bool) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        read_head(&mut stream);
        for piece in pieces {
            stream.write_all(&piece).unwrap();
            stream.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        if !close {
            let _ = stream.read(&mut [0u8; 64]);
        }
    });
    (port, server)
}

/// The 401 in three writes: the head, then the body in two halves.
fn unauthorized_in_pieces() -> Vec<Vec<u8>> {
    let wire = unauthorized();
    let body_starts = wire.len() - BODY.len();
    vec![wire[..body_starts].to_vec(), wire[body_starts..body_starts + 5].to_vec(), wire[body_starts + 5..].to_vec()]
}

fn adapter_rejection(result: Result<(), Error>) -> Response {
    match result {
        Err(Error::Handshake(err)) => rejected(err),
        other => panic!("expected a rejected handshake, got {other:?}"),
    }
}

#[test]
fn blocking_client_error_carries_the_body() {
    // The server keeps the connection open: the length ends the body.
    let (port, server) = raw_server(unauthorized_in_pieces(), false);
    let result = rfc6455::io::blocking::connect(format!("ws://127.0.0.1:{port}/")).map(|_| ());
    let response = adapter_rejection(result);
    assert_eq!(
        (response.status(), response.reason(), response.body()),
        (http::StatusCode::UNAUTHORIZED, "Unauthorized", BODY.as_bytes())
    );
    server.join().unwrap();

    // No length, Connection: close: the end of the stream ends it.
    let wire = answer("HTTP/1.1 403 Forbidden", &["Connection: close"], b"origin not allowed");
    let (port, server) = raw_server(vec![wire], true);
    let response = adapter_rejection(rfc6455::io::blocking::connect(format!("ws://127.0.0.1:{port}/")).map(|_| ()));
    assert_eq!((response.body(), response.body_state()), (&b"origin not allowed"[..], BodyState::Complete));
    server.join().unwrap();

    // The server closes before the announced body is complete.
    let wire = answer("HTTP/1.1 401 Unauthorized", &["Content-Length: 100"], b"partial");
    let (port, server) = raw_server(vec![wire], true);
    let response = adapter_rejection(rfc6455::io::blocking::connect(format!("ws://127.0.0.1:{port}/")).map(|_| ()));
    assert_eq!((response.body(), response.body_state()), (&b"partial"[..], BodyState::EndedEarly));
    server.join().unwrap();
}

#[test]
fn blocking_client_gives_up_on_a_body_that_never_comes() {
    let wire = answer("HTTP/1.1 401 Unauthorized", &["Content-Length: 100"], b"partial");
    let (port, server) = raw_server(vec![wire], false);
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_millis(300));
    let request = rfc6455::handshake::ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let started = std::time::Instant::now();
    let result = rfc6455::io::blocking::connect_with(&request, &config).map(|_| ());
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Err(Error::HandshakeTimeout(_)) => {}
        Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::TimedOut => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    server.join().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_client_error_carries_the_body() {
    let connect = |port: u16| async move {
        let url = format!("ws://127.0.0.1:{port}/");
        tokio::time::timeout(Duration::from_secs(10), rfc6455::io::tokio_ws::connect(&url))
            .await
            .expect("the handshake hung")
            .map(|_| ())
    };
    let (port, server) = raw_server(unauthorized_in_pieces(), false);
    let response = adapter_rejection(connect(port).await);
    assert_eq!(
        (response.status(), response.reason(), response.body()),
        (http::StatusCode::UNAUTHORIZED, "Unauthorized", BODY.as_bytes())
    );
    let debug = format!("{:?}", Error::Handshake(HandshakeError::Rejected(Box::new(response))));
    assert!(debug.contains(&format!("{BODY:?}")), "{debug}");
    server.join().unwrap();

    let wire = answer("HTTP/1.1 403 Forbidden", &["Connection: close"], b"origin not allowed");
    let (port, server) = raw_server(vec![wire], true);
    let response = adapter_rejection(connect(port).await);
    assert_eq!((response.body(), response.body_state()), (&b"origin not allowed"[..], BodyState::Complete));
    server.join().unwrap();

    let wire = answer("HTTP/1.1 401 Unauthorized", &["Content-Length: 100"], b"partial");
    let (port, server) = raw_server(vec![wire], true);
    let response = adapter_rejection(connect(port).await);
    assert_eq!((response.body(), response.body_state()), (&b"partial"[..], BodyState::EndedEarly));
    server.join().unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn tokio_client_gives_up_on_a_body_that_never_comes() {
    let wire = answer("HTTP/1.1 401 Unauthorized", &["Content-Length: 100"], b"partial");
    let (port, server) = raw_server(vec![wire], false);
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_millis(300));
    let request = rfc6455::handshake::ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), rfc6455::io::tokio_ws::connect_with(&request, &config))
        .await
        .expect("the handshake timeout did not apply")
        .map(|_| ());
    assert!(matches!(result, Err(Error::HandshakeTimeout(_))), "{result:?}");
    server.join().unwrap();
}
