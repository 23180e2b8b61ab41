//! The opening handshake (RFC 6455 §4) through the public API: the RFC
//! examples, request bytes, incremental parsing with bytes that follow the
//! head, server and client validation, size limits and caller misuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use rfc6455::extensions::{ExtensionOffer, ExtensionSyntaxError};
use rfc6455::frame::OpCode;
use rfc6455::handshake::{
    accept_key, secrets_equal, Accept, ClientHandshake, ClientKey, ClientRequest, OriginPolicy, Reject, Response,
    ServerHandshake, UpgradeRequest,
};
use rfc6455::{Config, Connection, Event, HandshakeError, Message, Status, UsageError};

// ----- fixtures -------------------------------------------------------------------------------

/// The key of RFC 6455 §1.3 and the accept value it must produce.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The value `UsageError::InvalidHeader` carries for a value with CR, LF or NUL.
const BAD_VALUE: UsageError = UsageError::InvalidHeader("header value (contains CR, LF or NUL)");
/// ... for a header name that is not a token.
const BAD_NAME: UsageError = UsageError::InvalidHeader("header name (not an HTTP token)");
/// ... for a header the handshake writes itself.
const RESERVED_NAME: UsageError =
    UsageError::InvalidHeader("header name (set by the handshake itself; use the dedicated option instead)");

fn sample_key() -> ClientKey {
    ClientKey::from_nonce(*b"the sample nonce")
}

/// These tests are about RFC 6455 alone; permessage-deflate negotiation is
/// tested in tests/deflate.rs.
fn config() -> Config {
    let mut config = common::config();
    config.deflate = None;
    config
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// The header lines of a valid upgrade request, as (name, value).
const VALID_REQUEST: [(&str, &str); 5] = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", SAMPLE_KEY),
    ("Sec-WebSocket-Version", "13"),
];

/// A request head: `request_line`, the valid headers with each name in
/// `overrides` replaced by its value (or removed, for `None`), then `extra`.
fn request_head(request_line: &str, overrides: &[(&str, Option<&str>)], extra: &[&str]) -> Vec<u8> {
    let mut head = format!("{request_line}\r\n");
    for (name, value) in VALID_REQUEST {
        let value = match overrides.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, replaced)) => *replaced,
            None => Some(value),
        };
        if let Some(value) = value {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A GET request for `/chat` with overrides and extra lines.
fn request_with(overrides: &[(&str, Option<&str>)], extra: &[&str]) -> Vec<u8> {
    request_head("GET /chat HTTP/1.1", overrides, extra)
}

/// The server's verdict on `wire`, delivered in one read.
fn server_poll_with(config: &Config, wire: &[u8]) -> Result<Status<UpgradeRequest>, HandshakeError> {
    let mut hs = ServerHandshake::new(config);
    hs.handle_read(wire);
    hs.poll_request()
}

fn server_accepts(wire: &[u8]) -> UpgradeRequest {
    match server_poll_with(&config(), wire) {
        Ok(Status::Complete(request)) => request,
        other => panic!("expected a valid request, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

fn server_error(wire: &[u8]) -> HandshakeError {
    server_error_with(&config(), wire)
}

fn server_error_with(config: &Config, wire: &[u8]) -> HandshakeError {
    match server_poll_with(config, wire) {
        Err(err) => err,
        other => panic!("expected an error, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

/// What `Reject::from_error(err)` writes, as text.
fn rejection_for(err: &HandshakeError) -> String {
    let mut out = Vec::new();
    Reject::from_error(err).write(&mut out);
    String::from_utf8(out).unwrap()
}

/// The header lines of a valid 101 answer to [`sample_key`].
const VALID_RESPONSE: [&str; 3] =
    ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="];

/// A response head with `status_line` and `lines`.
fn response_head(status_line: &str, lines: &[&str]) -> Vec<u8> {
    let mut head = format!("{status_line}\r\n");
    for line in lines {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A 101 response: the valid lines minus those starting with a name in
/// `without`, plus `extra`.
fn switching_response(without: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut lines: Vec<&str> = VALID_RESPONSE
        .iter()
        .copied()
        .filter(|line| !without.iter().any(|name| line.starts_with(&format!("{name}:"))))
        .collect();
    lines.extend_from_slice(extra);
    response_head("HTTP/1.1 101 Switching Protocols", &lines)
}

fn client_handshake(request: &ClientRequest) -> ClientHandshake {
    ClientHandshake::with_key(request, sample_key(), &config(), [42; 32])
}

fn chat_request() -> ClientRequest {
    ClientRequest::new("ws://server.example.com/chat").unwrap()
}

/// The client's verdict on `wire` (one read) for `request`.
fn client_poll(request: &ClientRequest, wire: &[u8]) -> Result<Status<Response>, HandshakeError> {
    let mut hs = client_handshake(request);
    hs.handle_read(wire);
    hs.poll_response()
}

fn client_accepts(request: &ClientRequest, wire: &[u8]) -> Response {
    match client_poll(request, wire) {
        Ok(Status::Complete(response)) => response,
        other => panic!("expected a valid response, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

fn client_error(request: &ClientRequest, wire: &[u8]) -> HandshakeError {
    match client_poll(request, wire) {
        Err(err) => err,
        other => panic!("expected an error, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

/// Everything `conn` wants to send, marked as written.
fn take(conn: &mut Connection) -> Vec<u8> {
    common::take_transmit(conn)
}

/// The request line and headers `ClientHandshake` writes for `url` with the sample key.
fn request_bytes(url: &str) -> String {
    let request = ClientRequest::new(url).unwrap();
    let hs = client_handshake(&request);
    String::from_utf8(hs.poll_transmit().to_vec()).unwrap()
}

/// The request `ClientHandshake` should write for a target and Host (no options).
fn plain_request(target: &str, host: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A head that never ends: `first_line` then padding headers, `total` bytes.
fn endless_head(first_line: &str, total: usize) -> Vec<u8> {
    let mut head = format!("{first_line}\r\n").into_bytes();
    while head.len() < total {
        head.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    head.truncate(total);
    head
}

/// A valid request of exactly `total` bytes (padded with one `X-Pad` header).
fn padded_request(total: usize) -> Vec<u8> {
    let base = request_with(&[], &[]).len();
    let pad = total - base - "X-Pad: \r\n".len();
    let line = format!("X-Pad: {}", "a".repeat(pad));
    let head = request_with(&[], &[&line]);
    assert_eq!(head.len(), total);
    head
}

// ----- RFC 6455 examples and a full exchange ----------------------------------------------------

#[test]
fn rfc_1_3_accept_key_example() {
    assert_eq!(accept_key(SAMPLE_KEY.as_bytes()).as_str(), SAMPLE_ACCEPT);
    assert_eq!(sample_key().as_str(), SAMPLE_KEY);
    assert_eq!(sample_key().accept_key().as_str(), SAMPLE_ACCEPT);
}

#[test]
fn rfc_example_full_handshake_with_subprotocol_selection() {
    let now = Instant::now();
    let request = chat_request()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap()
        .header("Origin", "http://example.com")
        .unwrap();
    let mut client_hs = client_handshake(&request);
    assert_eq!(client_hs.key().as_str(), SAMPLE_KEY);
    let request_wire = client_hs.poll_transmit().to_vec();
    assert_eq!(
        text(&request_wire),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://example.com\r\n\r\n"
    );
    client_hs.advance_transmit(request_wire.len());
    assert!(client_hs.poll_transmit().is_empty());

    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(&request_wire);
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("the RFC request must be accepted") };
    assert_eq!(upgrade.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    assert_eq!(upgrade.origin(), Some("http://example.com"));
    assert_eq!(upgrade.key().as_str(), SAMPLE_KEY);
    let mut server = server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap();

    let response_wire = take(&mut server);
    assert_eq!(
        text(&response_wire),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    client_hs.handle_read(&response_wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("the server's 101 must be accepted") };
    assert_eq!(response.status(), 101);
    assert_eq!(response.reason(), "Switching Protocols");
    assert_eq!(response.protocol(), Some("chat"));
    assert!(response.extensions().is_empty());
    assert_eq!(response.header("sec-websocket-accept"), Some(SAMPLE_ACCEPT.as_bytes()));
    let mut client = client_hs.into_connection(now).unwrap();
    assert!(client.poll_transmit().is_empty(), "the request must not be sent twice");

    // Both directions work afterwards.
    client.send_text("hello").unwrap();
    server.handle_read(&take(&mut client), now);
    assert_eq!(common::events(&mut server), [Event::Message(Message::from("hello"))]);
    server.send_binary(&[1, 2, 3]).unwrap();
    client.handle_read(&take(&mut server), now);
    assert_eq!(common::events(&mut client), [Event::Message(Message::Binary(Bytes::from_static(&[1, 2, 3])))]);
}

#[test]
fn seeded_random_key_is_reproducible_and_accepted() {
    let request = chat_request();
    let first = ClientHandshake::new(&request, &config(), [42; 32]);
    let second = ClientHandshake::new(&request, &config(), [42; 32]);
    assert_eq!(first.key(), second.key());
    assert_eq!(first.poll_transmit(), second.poll_transmit());
    assert_ne!(ClientHandshake::new(&request, &config(), [7; 32]).key(), first.key());

    let mut client_hs = first;
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("a generated key must be accepted") };
    assert_eq!(upgrade.key(), client_hs.key());
    assert_eq!(upgrade.key().as_str().len(), 24);
    let mut server = server_hs.accept(&Accept::new(), Instant::now()).unwrap();
    let response_wire = take(&mut server);
    let accept_line = format!("\r\nSec-WebSocket-Accept: {}\r\n", client_hs.key().accept_key().as_str());
    assert!(text(&response_wire).contains(&accept_line));
    client_hs.handle_read(&response_wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("expected the 101 to be accepted") };
    assert_eq!(response.protocol(), None);
}

#[test]
fn request_bytes_for_urls() {
    assert_eq!(request_bytes("ws://example.com/chat"), plain_request("/chat", "example.com"));
    assert_eq!(request_bytes("ws://example.com:9001/chat"), plain_request("/chat", "example.com:9001"));
    assert_eq!(
        request_bytes("ws://example.com/chat?room=1&user=x"),
        plain_request("/chat?room=1&user=x", "example.com")
    );
    assert_eq!(request_bytes("ws://[::1]:9001/x?y=1"), plain_request("/x?y=1", "[::1]:9001"));
    assert_eq!(request_bytes("ws://[2001:db8::7]/"), plain_request("/", "[2001:db8::7]"));
    assert_eq!(request_bytes("ws://127.0.0.1:8080"), plain_request("/", "127.0.0.1:8080"));
    // No path: the target is "/", also in front of a query.
    assert_eq!(request_bytes("ws://example.com"), plain_request("/", "example.com"));
    assert_eq!(request_bytes("ws://example.com?q=1"), plain_request("/?q=1", "example.com"));
    // Default ports are left out of Host; the other scheme's default is not.
    assert_eq!(request_bytes("ws://example.com:80/"), plain_request("/", "example.com"));
    assert_eq!(request_bytes("wss://example.com:443/"), plain_request("/", "example.com"));
    assert_eq!(request_bytes("ws://example.com:443/"), plain_request("/", "example.com:443"));
    assert_eq!(request_bytes("wss://example.com:80/"), plain_request("/", "example.com:80"));
    assert_eq!(request_bytes("wss://example.com/feed"), plain_request("/feed", "example.com"));
    // Bytes a request target may not contain are percent-encoded, so a URL
    // cannot inject a header line.
    assert_eq!(
        request_bytes("ws://example.com/a b\r\nX-Injected: 1"),
        plain_request("/a%20b%0D%0AX-Injected:%201", "example.com")
    );
}

#[test]
fn request_url_parts() {
    let parts = |url: &str| {
        let request = ClientRequest::new(url).unwrap();
        (request.host().to_owned(), request.port(), request.is_secure(), request.target().to_owned())
    };
    assert_eq!(parts("ws://example.com/chat"), ("example.com".into(), 80, false, "/chat".into()));
    assert_eq!(parts("wss://example.com"), ("example.com".into(), 443, true, "/".into()));
    assert_eq!(parts("WSS://example.com:8443/a?b"), ("example.com".into(), 8443, true, "/a?b".into()));
    assert_eq!(parts("ws://[::1]:9001/x?y=1"), ("::1".into(), 9001, false, "/x?y=1".into()));
}

#[test]
fn client_transmit_supports_partial_writes() {
    let request = chat_request();
    let mut hs = client_handshake(&request);
    let full = hs.poll_transmit().to_vec();
    assert_eq!(text(&full), plain_request("/chat", "server.example.com"));
    hs.advance_transmit(10);
    assert_eq!(hs.poll_transmit(), &full[10..]);
    hs.advance_transmit(full.len());
    assert!(hs.poll_transmit().is_empty());
}

// ----- incremental parsing and bytes after the head ---------------------------------------------

#[test]
fn server_fed_one_byte_at_a_time_completes_on_the_last_head_byte_and_keeps_early_frames() {
    let head = request_with(&[], &["Origin: http://example.com"]);
    let mut wire = head.clone();
    wire.extend(common::client_frame(OpCode::Text, true, b"early"));
    wire.extend(common::client_frame(OpCode::Binary, true, &[9, 8, 7]));

    let mut hs = ServerHandshake::new(&config());
    for (i, byte) in wire.iter().enumerate() {
        hs.handle_read(&[*byte]);
        let status = hs.poll_request().unwrap();
        assert_eq!(status.is_complete(), i + 1 >= head.len(), "after {} bytes", i + 1);
    }
    let mut server = hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert!(text(&take(&mut server)).starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert_eq!(
        common::events(&mut server),
        [Event::Message(Message::from("early")), Event::Message(Message::Binary(Bytes::from_static(&[9, 8, 7]))),]
    );
}

#[test]
fn server_keeps_a_masked_frame_sent_in_the_same_read_as_the_request() {
    let request = chat_request();
    let client_hs = client_handshake(&request);
    let mut wire = client_hs.poll_transmit().to_vec();
    wire.extend(common::client_frame(OpCode::Text, true, b"hi"));
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&wire);
    assert!(hs.poll_request().unwrap().is_complete());
    let mut server = hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert_eq!(common::events(&mut server), [Event::Message(Message::from("hi"))]);
}

#[test]
fn client_fed_one_byte_at_a_time_completes_on_the_last_head_byte_and_keeps_early_frames() {
    let head = switching_response(&[], &[]);
    let mut wire = head.clone();
    wire.extend(common::server_frame(OpCode::Text, true, b"welcome"));
    wire.extend(common::server_frame(OpCode::Ping, true, b"p"));

    let request = chat_request();
    let mut hs = client_handshake(&request);
    let written = hs.poll_transmit().len();
    hs.advance_transmit(written);
    for (i, byte) in wire.iter().enumerate() {
        hs.handle_read(&[*byte]);
        let status = hs.poll_response().unwrap();
        assert_eq!(status.is_complete(), i + 1 >= head.len(), "after {} bytes", i + 1);
    }
    let mut client = hs.into_connection(Instant::now()).unwrap();
    assert_eq!(
        common::events(&mut client),
        [Event::Message(Message::from("welcome")), Event::Ping(Bytes::from_static(b"p"))]
    );
    // The automatic pong goes out, masked.
    let frames = common::sent_frames(&mut client);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].header.opcode, OpCode::Pong);
    assert_eq!(&frames[0].payload[..], b"p");
}

#[test]
fn client_keeps_a_frame_the_server_sent_right_after_its_101() {
    let now = Instant::now();
    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    assert!(server_hs.poll_request().unwrap().is_complete());
    let mut server = server_hs.accept(&Accept::new(), now).unwrap();
    server.send_text("first").unwrap();
    server.send_text("second").unwrap();

    // The 101 and both frames arrive in one read.
    client_hs.handle_read(&take(&mut server));
    assert!(client_hs.poll_response().unwrap().is_complete());
    let mut client = client_hs.into_connection(now).unwrap();
    assert_eq!(
        common::events(&mut client),
        [Event::Message(Message::from("first")), Event::Message(Message::from("second"))]
    );
}

#[test]
fn a_frame_split_between_handshake_and_connection_is_reassembled() {
    let now = Instant::now();
    let frame = common::server_frame(OpCode::Text, true, b"split across the hand-off");
    let (early, late) = frame.split_at(5);
    let mut wire = switching_response(&[], &[]);
    wire.extend_from_slice(early);

    let request = chat_request();
    let mut hs = client_handshake(&request);
    hs.handle_read(&wire);
    assert!(hs.poll_response().unwrap().is_complete());
    let mut client = hs.into_connection(now).unwrap();
    assert_eq!(client.poll_event(), None);
    client.handle_read(late, now);
    assert_eq!(common::events(&mut client), [Event::Message(Message::from("split across the hand-off"))]);
}

#[test]
fn reading_into_the_receive_buffer_works_like_handle_read() {
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.recv_buffer().extend_from_slice(&request_with(&[], &[]));
    assert!(server_hs.poll_request().unwrap().is_complete());

    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    client_hs.recv_buffer().extend_from_slice(&switching_response(&[], &[]));
    assert!(client_hs.poll_response().unwrap().is_complete());
}

// ----- server validation ------------------------------------------------------------------------

#[test]
fn server_accepts_the_minimal_valid_request() {
    let request = server_accepts(&request_with(&[], &[]));
    assert_eq!(request.target(), "/chat");
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), None);
    assert_eq!(request.query(), None);
    assert_eq!(request.protocols().count(), 0);
    assert!(request.extensions().is_empty());
}

#[test]
fn server_refuses_other_methods_with_405_and_allow_get() {
    for method in ["POST", "PUT", "HEAD", "get"] {
        let err = server_error(&request_head(&format!("{method} /chat HTTP/1.1"), &[], &[]));
        assert_eq!(err, HandshakeError::MethodNotGet, "{method}");
        assert_eq!(err.status_hint(), 405);
    }
    let err = HandshakeError::MethodNotGet;
    let reject = Reject::from_error(&err);
    assert_eq!(reject.status(), 405);
    let body = format!("{err}\n");
    assert_eq!(
        rejection_for(&err),
        format!(
            "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: {}\r\n\
             Content-Type: text/plain; charset=utf-8\r\nAllow: GET\r\n\r\n{body}",
            body.len()
        )
    );

    // Through the handshake: the rejection is what gets transmitted.
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_head("POST /chat HTTP/1.1", &[], &[]));
    let err = hs.poll_request().unwrap_err();
    hs.reject(&Reject::from_error(&err));
    assert_eq!(text(hs.poll_transmit()), rejection_for(&HandshakeError::MethodNotGet));
    assert_eq!(hs.accept(&Accept::new(), Instant::now()).unwrap_err(), UsageError::HandshakeAnswered);
}

#[test]
fn server_refuses_http_1_0() {
    let err = server_error(&request_head("GET /chat HTTP/1.0", &[], &[]));
    assert_eq!(err, HandshakeError::UnsupportedHttpVersion);
    assert_eq!(err.status_hint(), 400);
}

#[test]
fn server_requires_exactly_one_non_empty_host() {
    let err = server_error(&request_with(&[("Host", None)], &[]));
    assert_eq!(err, HandshakeError::MissingHeader("Host"));
    assert_eq!(err.status_hint(), 400);
    let err = server_error(&request_with(&[], &["Host: other.example.com"]));
    assert_eq!(err, HandshakeError::DuplicateHeader("Host"));
    assert_eq!(err.status_hint(), 400);
    assert_eq!(
        server_error(&request_with(&[], &["host: server.example.com"])),
        HandshakeError::DuplicateHeader("Host")
    );
    assert_eq!(server_error(&request_with(&[("Host", Some(""))], &[])), HandshakeError::InvalidHeader("Host"));
}

#[test]
fn server_finds_upgrade_and_connection_tokens_case_insensitively_in_lists() {
    for (upgrade, connection) in [
        ("websocket", "Upgrade"),
        ("WebSocket", "upgrade"),
        ("WEBSOCKET", "UPGRADE"),
        ("websocket", "keep-alive, Upgrade"),
        ("websocket", "Upgrade, keep-alive"),
        ("websocket", "keep-alive,upgrade"),
        ("h2c, websocket", "keep-alive , Upgrade , close"),
    ] {
        server_accepts(&request_with(&[("Upgrade", Some(upgrade)), ("Connection", Some(connection))], &[]));
    }
    // Header names are case-insensitive too, and tokens may be spread over
    // several header lines.
    server_accepts(&request_with(
        &[("Upgrade", None), ("Connection", None)],
        &["upgrade: websocket", "CONNECTION: keep-alive", "connection: Upgrade"],
    ));

    let no_connection = HandshakeError::MissingHeader("Connection: Upgrade");
    for connection in [Some("upgrades"), Some("keep-alive"), Some("up grade"), Some("Upgrade-Insecure"), None] {
        let err = server_error(&request_with(&[("Connection", connection)], &[]));
        assert_eq!(err, no_connection, "{connection:?}");
        assert_eq!(err.status_hint(), 400);
    }
    let no_upgrade = HandshakeError::MissingHeader("Upgrade: websocket");
    for upgrade in [Some("websockets"), Some("web socket"), Some("h2c"), None] {
        assert_eq!(server_error(&request_with(&[("Upgrade", upgrade)], &[])), no_upgrade, "{upgrade:?}");
    }
}

#[test]
fn server_refuses_other_versions_with_426_advertising_13() {
    for version in [Some("8"), Some("12"), Some("14"), Some(""), None] {
        let err = server_error(&request_with(&[("Sec-WebSocket-Version", version)], &[]));
        assert_eq!(err, HandshakeError::UnsupportedVersion, "{version:?}");
        assert_eq!(err.status_hint(), 426);
    }
    // Two version headers are not version 13 either: repeated fields read as
    // one list (RFC 9110 §5.3), and neither "13, 13" nor "13, 8" is 13.
    for second in ["13", "8"] {
        let err = server_error(&request_with(&[], &[&format!("Sec-WebSocket-Version: {second}")]));
        assert_eq!(err, HandshakeError::UnsupportedVersion, "13, {second}");
        assert_eq!(err.status_hint(), 426);
    }

    let err = HandshakeError::UnsupportedVersion;
    let body = format!("{err}\n");
    assert_eq!(
        rejection_for(&err),
        format!(
            "HTTP/1.1 426 Upgrade Required\r\nConnection: Upgrade, close\r\nContent-Length: {}\r\n\
             Content-Type: text/plain; charset=utf-8\r\nSec-WebSocket-Version: 13\r\n\
             Upgrade: websocket\r\n\r\n{body}",
            body.len()
        )
    );
}

// RFC 9110 §7.8 (RFC 7230 §6.7): a sender of `Upgrade` must also list
// "upgrade" in `Connection`; the caller cannot add it (`Connection` is reserved).
#[test]
fn rejection_426_lists_upgrade_in_connection() {
    let mut out = Vec::new();
    Reject::from_error(&HandshakeError::UnsupportedVersion).write(&mut out);
    let text = String::from_utf8(out).unwrap();
    let connection = text.lines().find_map(|line| line.strip_prefix("Connection: ")).expect("a Connection header");
    assert!(
        connection.split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")),
        "Connection: {connection}"
    );
}

#[test]
fn server_validates_the_key() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let fifteen = b64(&[0x5A; 15]);
    let seventeen = b64(&[0x5A; 17]);
    let sixteen = b64(&[0x5A; 16]);
    assert_eq!(fifteen.len(), 20);
    assert_eq!(seventeen.len(), 24);
    server_accepts(&request_with(&[("Sec-WebSocket-Key", Some(&sixteen))], &[]));
    for bad in [
        fifteen.as_str(),
        seventeen.as_str(),
        "!GhlIHNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25jZQ===",
        "dGhlIHNhbXBsZSBub25jZR==",
        "dGhlIHNhbXBsZSBub25jZQ",
        "",
    ] {
        let err = server_error(&request_with(&[("Sec-WebSocket-Key", Some(bad))], &[]));
        assert_eq!(err, HandshakeError::InvalidKey, "{bad:?}");
        assert_eq!(err.status_hint(), 400);
    }
    assert_eq!(
        server_error(&request_with(&[("Sec-WebSocket-Key", None)], &[])),
        HandshakeError::MissingHeader("Sec-WebSocket-Key")
    );
    // A second key, different or the same, is refused.
    for second in [sixteen.as_str(), SAMPLE_KEY] {
        let err = server_error(&request_with(&[], &[&format!("Sec-WebSocket-Key: {second}")]));
        assert_eq!(err, HandshakeError::DuplicateHeader("Sec-WebSocket-Key"), "{second}");
        assert_eq!(err.status_hint(), 400);
    }
}

#[test]
fn server_validates_subprotocol_syntax() {
    let request = server_accepts(&request_with(&[], &["Sec-WebSocket-Protocol: chat,, superchat ,v2.chat"]));
    assert_eq!(request.protocols().collect::<Vec<_>>(), ["chat", "superchat", "v2.chat"]);
    for bad in ["chat, super chat", "chat;v=1", "\"chat\"", "chat/1"] {
        let line = format!("Sec-WebSocket-Protocol: {bad}");
        assert_eq!(
            server_error(&request_with(&[], &[&line])),
            HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"),
            "{bad:?}"
        );
    }
}

#[test]
fn server_exposes_offered_extensions_with_params() {
    let request = server_accepts(&request_with(
        &[],
        &[
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo; level=\"3\"; fast",
            "Sec-WebSocket-Extensions: x-bar",
        ],
    ));
    let expected = [
        ExtensionOffer::new("permessage-deflate").unwrap().with_param("client_max_window_bits", None).unwrap(),
        ExtensionOffer::new("x-foo").unwrap().with_param("level", Some("3")).unwrap().with_param("fast", None).unwrap(),
        ExtensionOffer::new("x-bar").unwrap(),
    ];
    assert_eq!(request.extensions(), expected);
    assert_eq!(request.extensions()[0].param("client_max_window_bits"), Some(None));
    assert_eq!(request.extensions()[1].param("LEVEL"), Some(Some("3")));
    assert_eq!(request.extensions()[1].param("absent"), None);
}

#[test]
fn server_refuses_malformed_extensions() {
    let err = server_error(&request_with(&[], &["Sec-WebSocket-Extensions: permessage-deflate; =1"]));
    assert_eq!(
        err,
        HandshakeError::InvalidExtensions(ExtensionSyntaxError { at: 20, problem: "expected a parameter name" })
    );
    assert_eq!(err.status_hint(), 400);
    for bad in ["x-foo bar", "x-foo;", "x-foo; p=", "x-foo; p=\"a b\"", "x-foo; p=\"open", "\"x-foo\""] {
        let line = format!("Sec-WebSocket-Extensions: {bad}");
        let err = server_error(&request_with(&[], &[&line]));
        assert!(matches!(err, HandshakeError::InvalidExtensions(_)), "{bad:?}: {err:?}");
    }
}

#[test]
fn server_exposes_target_origin_and_headers() {
    let wire = request_head(
        "GET /chat/room?id=7&lang=en HTTP/1.1",
        &[("Host", Some("server.example.com:8080"))],
        &["Origin: https://app.example.com", "X-Custom: 42", "Cookie: a=1"],
    );
    let request = server_accepts(&wire);
    assert_eq!(request.target(), "/chat/room?id=7&lang=en");
    assert_eq!(request.path(), "/chat/room");
    assert_eq!(request.query(), Some("id=7&lang=en"));
    assert_eq!(request.host(), "server.example.com:8080");
    assert_eq!(request.origin(), Some("https://app.example.com"));
    assert_eq!(request.key().as_str(), SAMPLE_KEY);
    assert_eq!(request.header("x-custom"), Some(&b"42"[..]));
    assert_eq!(request.header("COOKIE"), Some(&b"a=1"[..]));
    assert_eq!(request.header("absent"), None);
    let names: Vec<&str> = request.headers().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin", "X-Custom", "Cookie"]
    );
    assert_eq!(server_accepts(&request_head("GET /a? HTTP/1.1", &[], &[])).query(), Some(""));
}

// RFC 6455 §4.2.1 item 1 lets the request target be "an absolute HTTP/HTTPS
// URI containing the /resource name/"; `path()` is then the path after the authority.
#[test]
fn absolute_form_target_exposes_its_path() {
    let request = server_accepts(&request_head("GET http://server.example.com/chat?x=1 HTTP/1.1", &[], &[]));
    assert_eq!(request.target(), "http://server.example.com/chat?x=1");
    assert_eq!(request.query(), Some("x=1"));
    assert_eq!(request.path(), "/chat");
}

#[test]
fn server_failures_are_sticky_and_cannot_be_accepted() {
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_head("GET /chat HTTP/1.0", &[], &[]));
    assert_eq!(hs.poll_request(), Err(HandshakeError::UnsupportedHttpVersion));
    hs.handle_read(&request_with(&[], &[]));
    assert_eq!(hs.poll_request(), Err(HandshakeError::UnsupportedHttpVersion));
    assert_eq!(hs.accept(&Accept::new(), Instant::now()).unwrap_err(), UsageError::HandshakeIncomplete);
}

#[test]
fn server_reject_writes_the_response() {
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_with(&[], &[]));
    assert!(hs.poll_request().unwrap().is_complete());
    let reject = Reject::new(401).unwrap().header("WWW-Authenticate", "Bearer").unwrap().body("token required");
    hs.reject(&reject);
    assert_eq!(
        text(hs.poll_transmit()),
        "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 14\r\n\
         Content-Type: text/plain; charset=utf-8\r\nWWW-Authenticate: Bearer\r\n\r\ntoken required"
    );
    // The client sees the rejection with its status and headers.
    let request = chat_request();
    let err = client_error(&request, hs.poll_transmit());
    let HandshakeError::Rejected(response) = &err else { panic!("expected Rejected, got {err:?}") };
    assert_eq!(response.status(), 401);
    assert_eq!(response.reason(), "Unauthorized");
    assert_eq!(response.header("www-authenticate"), Some(&b"Bearer"[..]));
    assert_eq!(response.header("Content-Length"), Some(&b"14"[..]));
    assert_eq!(err.status_hint(), 401);

    hs.advance_transmit(9);
    assert!(text(hs.poll_transmit()).starts_with("401 Unauthorized\r\n"));
    assert_eq!(hs.accept(&Accept::new(), Instant::now()).unwrap_err(), UsageError::HandshakeAnswered);
}

// ----- limits -----------------------------------------------------------------------------------

fn small_limit_config() -> Config {
    let mut config = config();
    config.max_handshake_bytes = 256;
    config
}

#[test]
fn head_without_terminator_over_the_limit_is_too_large() {
    let config = small_limit_config();
    let err = server_error_with(&config, &endless_head("GET /chat HTTP/1.1", 300));
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 256 });
    assert_eq!(err.status_hint(), 431);
    assert!(rejection_for(&err).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    // Below the limit it is just incomplete.
    assert_eq!(server_poll_with(&config, &endless_head("GET /chat HTTP/1.1", 255)), Ok(Status::Partial));
}

#[test]
fn head_exactly_at_the_limit_is_accepted_and_one_byte_more_is_not() {
    let config = small_limit_config();
    let at_limit = padded_request(256);
    assert!(server_poll_with(&config, &at_limit).unwrap().is_complete());

    // The terminator arrives, but too late.
    let over = padded_request(257);
    assert_eq!(server_poll_with(&config, &over), Err(HandshakeError::HeadTooLarge { limit: 256 }));

    // The same, one byte at a time.
    let mut hs = ServerHandshake::new(&config);
    for (i, byte) in at_limit.iter().enumerate() {
        hs.handle_read(&[*byte]);
        assert_eq!(hs.poll_request().unwrap().is_complete(), i + 1 == at_limit.len());
    }
    let mut hs = ServerHandshake::new(&config);
    let mut fed = 0;
    let err = loop {
        hs.handle_read(&over[fed..=fed]);
        fed += 1;
        match hs.poll_request() {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(_)) => panic!("an over-long head was accepted"),
            Err(err) => break err,
        }
    };
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 256 });
    assert_eq!(fed, 256);

    // Bytes after a head at the limit do not count against it.
    let mut with_frame = at_limit;
    with_frame.extend(common::client_frame(OpCode::Text, true, &[b'x'; 1000]));
    assert!(server_poll_with(&config, &with_frame).unwrap().is_complete());
}

#[test]
fn default_limit_refuses_a_100_kib_header_line() {
    let line = format!("X-Big: {}", "a".repeat(100 * 1024));
    let err = server_error(&request_with(&[], &[&line]));
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 8 * 1024 });
    assert_eq!(err.status_hint(), 431);
}

#[test]
fn one_mib_head_fed_one_byte_at_a_time_fails_at_the_limit() {
    let limit = Config::default().max_handshake_bytes;
    assert_eq!(limit, 8 * 1024);
    let head = endless_head("GET /chat HTTP/1.1", 1 << 20);
    let mut hs = ServerHandshake::new(&config());
    let mut fed = 0usize;
    let err = loop {
        assert!(fed < head.len(), "never failed");
        hs.handle_read(&head[fed..=fed]);
        fed += 1;
        match hs.poll_request() {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(_)) => panic!("an endless head was accepted"),
            Err(err) => break err,
        }
    };
    assert_eq!(err, HandshakeError::HeadTooLarge { limit });
    assert!(fed <= limit, "failed only after {fed} bytes");
    assert_eq!(fed, limit);
    // And it stays failed.
    hs.handle_read(&head[fed..fed + 100]);
    assert_eq!(hs.poll_request(), Err(HandshakeError::HeadTooLarge { limit }));
}

#[test]
fn client_one_mib_response_fed_one_byte_at_a_time_fails_at_the_limit() {
    let limit = Config::default().max_handshake_bytes;
    let head = endless_head("HTTP/1.1 101 Switching Protocols", 1 << 20);
    let request = chat_request();
    let mut hs = client_handshake(&request);
    let mut fed = 0usize;
    let err = loop {
        assert!(fed < head.len(), "never failed");
        hs.handle_read(&head[fed..=fed]);
        fed += 1;
        match hs.poll_response() {
            Ok(Status::Partial) => {}
            Ok(Status::Complete(_)) => panic!("an endless head was accepted"),
            Err(err) => break err,
        }
    };
    assert_eq!(err, HandshakeError::HeadTooLarge { limit });
    assert_eq!(fed, limit);
    assert_eq!(hs.into_connection(Instant::now()).unwrap_err(), UsageError::HandshakeIncomplete);
}

#[test]
fn header_count_is_limited() {
    let max = Config::default().max_headers;
    assert_eq!(max, 64);
    let extra_lines = |n: usize| (0..n).map(|i| format!("X-H{i}: {i}")).collect::<Vec<_>>();
    let lines = extra_lines(max - VALID_REQUEST.len());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let request = server_accepts(&request_with(&[], &refs));
    assert_eq!(request.headers().count(), max);

    let lines = extra_lines(max - VALID_REQUEST.len() + 1);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let err = server_error(&request_with(&[], &refs));
    assert_eq!(err, HandshakeError::TooManyHeaders { limit: max });
    assert_eq!(err.status_hint(), 431);

    // A custom limit, on the client too.
    let mut config = config();
    config.max_headers = 3;
    assert_eq!(server_error_with(&config, &request_with(&[], &[])), HandshakeError::TooManyHeaders { limit: 3 });
    let request = chat_request();
    let mut hs = ClientHandshake::with_key(&request, sample_key(), &config, [42; 32]);
    hs.handle_read(&switching_response(&[], &[]));
    assert!(hs.poll_response().unwrap().is_complete());
    let mut hs = ClientHandshake::with_key(&request, sample_key(), &config, [42; 32]);
    hs.handle_read(&switching_response(&[], &["X-Extra: 1"]));
    assert_eq!(hs.poll_response(), Err(HandshakeError::TooManyHeaders { limit: 3 }));
}

#[test]
fn client_response_over_the_limit_is_too_large() {
    let config = small_limit_config();
    let request = chat_request();
    let pad = format!("X-Pad: {}", "a".repeat(300));
    let mut hs = ClientHandshake::with_key(&request, sample_key(), &config, [42; 32]);
    hs.handle_read(&switching_response(&[], &[&pad]));
    assert_eq!(hs.poll_response(), Err(HandshakeError::HeadTooLarge { limit: 256 }));
}

// ----- client validation ------------------------------------------------------------------------

#[test]
fn client_accepts_a_valid_101_in_any_case() {
    let request = chat_request();
    let response = client_accepts(&request, &switching_response(&[], &[]));
    assert_eq!(response.status(), 101);
    assert_eq!(response.protocol(), None);
    let response = client_accepts(
        &request,
        &response_head(
            "HTTP/1.1 101 Switching Protocols",
            &[
                "upgrade: WebSocket",
                "CONNECTION: keep-alive, upgrade",
                "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "Server: test",
            ],
        ),
    );
    assert_eq!(response.header("server"), Some(&b"test"[..]));
    assert_eq!(response.headers().count(), 4);
}

#[test]
fn client_reports_a_non_101_answer_as_rejected_with_status_and_headers() {
    let request = chat_request();
    let wire = response_head(
        "HTTP/1.1 403 Forbidden",
        &["Content-Length: 5", "X-Why: banned", "Set-Cookie: a=1", "Set-Cookie: b=2"],
    );
    let err = client_error(&request, &wire);
    assert_eq!(err.status_hint(), 403);
    assert_eq!(err.to_string(), "server refused the upgrade with status 403");
    let HandshakeError::Rejected(response) = &err else { panic!("expected Rejected, got {err:?}") };
    assert_eq!(response.status(), 403);
    assert_eq!(response.reason(), "Forbidden");
    assert_eq!(response.header("x-why"), Some(&b"banned"[..]));
    assert_eq!(response.header("Set-Cookie"), Some(&b"a=1"[..]));
    let headers: Vec<(&str, &[u8])> = response.headers().collect();
    assert_eq!(
        headers,
        [
            ("Content-Length", &b"5"[..]),
            ("X-Why", &b"banned"[..]),
            ("Set-Cookie", &b"a=1"[..]),
            ("Set-Cookie", &b"b=2"[..]),
        ]
    );
    // A 200 is not an upgrade either.
    let err = client_error(&request, &response_head("HTTP/1.1 200 OK", &VALID_RESPONSE));
    assert!(matches!(&err, HandshakeError::Rejected(r) if r.status() == 200), "{err:?}");
}

#[test]
fn client_checks_the_accept_value() {
    let request = chat_request();
    let wrong = format!("Sec-WebSocket-Accept: {}", accept_key(b"AAAAAAAAAAAAAAAAAAAAAA==").as_str());
    assert_eq!(
        client_error(&request, &switching_response(&["Sec-WebSocket-Accept"], &[&wrong])),
        HandshakeError::AcceptMismatch
    );
    // The key itself echoed back is not the accept value.
    let echoed = format!("Sec-WebSocket-Accept: {SAMPLE_KEY}");
    assert_eq!(
        client_error(&request, &switching_response(&["Sec-WebSocket-Accept"], &[&echoed])),
        HandshakeError::AcceptMismatch
    );
    assert_eq!(
        client_error(&request, &switching_response(&["Sec-WebSocket-Accept"], &[])),
        HandshakeError::MissingHeader("Sec-WebSocket-Accept")
    );
    assert_eq!(
        client_error(&request, &switching_response(&[], &[&format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}")])),
        HandshakeError::DuplicateHeader("Sec-WebSocket-Accept")
    );
}

#[test]
fn client_requires_upgrade_and_connection() {
    let request = chat_request();
    assert_eq!(
        client_error(&request, &switching_response(&["Upgrade"], &[])),
        HandshakeError::MissingHeader("Upgrade: websocket")
    );
    assert_eq!(
        client_error(&request, &switching_response(&["Upgrade"], &["Upgrade: h2c"])),
        HandshakeError::MissingHeader("Upgrade: websocket")
    );
    assert_eq!(
        client_error(&request, &switching_response(&["Connection"], &[])),
        HandshakeError::MissingHeader("Connection: Upgrade")
    );
    assert_eq!(
        client_error(&request, &switching_response(&["Connection"], &["Connection: upgrades"])),
        HandshakeError::MissingHeader("Connection: Upgrade")
    );
}

#[test]
fn client_refuses_http_1_0_response() {
    let request = chat_request();
    assert_eq!(
        client_error(&request, &response_head("HTTP/1.0 101 Switching Protocols", &VALID_RESPONSE)),
        HandshakeError::UnsupportedHttpVersion
    );
}

#[test]
fn client_refuses_a_subprotocol_it_did_not_offer() {
    let offered = chat_request().protocol("chat").unwrap().protocol("superchat").unwrap();
    let response = client_accepts(&offered, &switching_response(&[], &["Sec-WebSocket-Protocol: superchat"]));
    assert_eq!(response.protocol(), Some("superchat"));
    assert_eq!(
        client_error(&offered, &switching_response(&[], &["Sec-WebSocket-Protocol: mqtt"])),
        HandshakeError::UnofferedProtocol("mqtt".into())
    );
    // Subprotocol names are compared exactly.
    assert_eq!(
        client_error(&offered, &switching_response(&[], &["Sec-WebSocket-Protocol: Chat"])),
        HandshakeError::UnofferedProtocol("Chat".into())
    );
    // None offered: any choice is refused.
    assert_eq!(
        client_error(&chat_request(), &switching_response(&[], &["Sec-WebSocket-Protocol: chat"])),
        HandshakeError::UnofferedProtocol("chat".into())
    );
}

#[test]
fn client_refuses_an_extension_it_did_not_offer() {
    let plain = chat_request();
    assert_eq!(
        client_error(&plain, &switching_response(&[], &["Sec-WebSocket-Extensions: permessage-deflate"])),
        HandshakeError::UnofferedExtension("permessage-deflate".into())
    );
    let offered = chat_request().extension(ExtensionOffer::new("x-foo").unwrap()).unwrap();
    assert_eq!(
        text(client_handshake(&offered).poll_transmit()),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: x-foo\r\n\r\n"
    );
    assert_eq!(
        client_error(&offered, &switching_response(&[], &["Sec-WebSocket-Extensions: x-foo, x-bar"])),
        HandshakeError::UnofferedExtension("x-bar".into())
    );
    let response = client_accepts(&offered, &switching_response(&[], &["Sec-WebSocket-Extensions: x-foo; level=3"]));
    assert_eq!(response.extensions(), [ExtensionOffer::new("x-foo").unwrap().with_param("level", Some("3")).unwrap()]);
    assert!(matches!(
        client_error(&offered, &switching_response(&[], &["Sec-WebSocket-Extensions: x-foo;"])),
        HandshakeError::InvalidExtensions(_)
    ));
}

#[test]
fn client_into_connection_needs_a_completed_handshake() {
    let now = Instant::now();
    let request = chat_request();
    let hs = client_handshake(&request);
    assert_eq!(hs.into_connection(now).unwrap_err(), UsageError::HandshakeIncomplete);

    let head = switching_response(&[], &[]);
    let mut hs = client_handshake(&request);
    hs.handle_read(&head[..head.len() - 1]);
    assert_eq!(hs.poll_response(), Ok(Status::Partial));
    assert_eq!(hs.into_connection(now).unwrap_err(), UsageError::HandshakeIncomplete);

    // Bytes arrived but poll_response was never called.
    let mut hs = client_handshake(&request);
    hs.handle_read(&head);
    assert_eq!(hs.into_connection(now).unwrap_err(), UsageError::HandshakeIncomplete);

    // A failed handshake stays failed.
    let mut hs = client_handshake(&request);
    hs.handle_read(&switching_response(&["Sec-WebSocket-Accept"], &["Sec-WebSocket-Accept: nope"]));
    assert_eq!(hs.poll_response(), Err(HandshakeError::AcceptMismatch));
    assert_eq!(hs.poll_response(), Err(HandshakeError::AcceptMismatch));
    assert_eq!(hs.into_connection(now).unwrap_err(), UsageError::HandshakeIncomplete);
}

// ----- caller misuse ----------------------------------------------------------------------------

#[test]
fn header_values_cannot_inject_lines() {
    for value in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b", "\r\n"] {
        assert_eq!(chat_request().header("X-Test", value).unwrap_err(), BAD_VALUE, "{value:?}");
        assert_eq!(Accept::new().header("X-Test", value).unwrap_err(), BAD_VALUE, "{value:?}");
        assert_eq!(Reject::new(403).unwrap().header("X-Test", value).unwrap_err(), BAD_VALUE, "{value:?}");
    }
    for name in ["X-Evil\r\nInjected", "Bad Name", "Colon:", "", "Ünicode"] {
        assert_eq!(chat_request().header(name, "v").unwrap_err(), BAD_NAME, "{name:?}");
        assert_eq!(Accept::new().header(name, "v").unwrap_err(), BAD_NAME, "{name:?}");
        assert_eq!(Reject::new(403).unwrap().header(name, "v").unwrap_err(), BAD_NAME, "{name:?}");
    }
    // A well-formed extra header is written as given.
    let request = chat_request().header("Authorization", "Bearer s3cr3t").unwrap();
    assert!(text(client_handshake(&request).poll_transmit()).ends_with("\r\nAuthorization: Bearer s3cr3t\r\n\r\n"));
}

#[test]
fn reserved_header_names_are_refused() {
    for name in [
        "Host",
        "host",
        "Upgrade",
        "CONNECTION",
        "Content-Length",
        "Transfer-Encoding",
        "Sec-WebSocket-Key",
        "sec-websocket-version",
        "Sec-WebSocket-Accept",
    ] {
        assert_eq!(chat_request().header(name, "x").unwrap_err(), RESERVED_NAME, "{name}");
        assert_eq!(Accept::new().header(name, "x").unwrap_err(), RESERVED_NAME, "{name}");
        assert_eq!(Reject::new(403).unwrap().header(name, "x").unwrap_err(), RESERVED_NAME, "{name}");
    }
}

// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` are written by the
// handshake itself (from `protocol`/`extension`), so `.header(..)` refuses them:
// otherwise a server could bypass the `ProtocolNotOffered`/`ExtensionNotOffered`
// checks of `accept`, and a client could offer a subprotocol it then refuses.
#[test]
fn handshake_owned_negotiation_headers_are_refused_as_extra_headers() {
    for name in ["Sec-WebSocket-Protocol", "sec-websocket-extensions"] {
        assert_eq!(chat_request().header(name, "chat").unwrap_err(), RESERVED_NAME, "{name}");
        assert_eq!(Accept::new().header(name, "chat").unwrap_err(), RESERVED_NAME, "{name}");
    }
}

#[test]
fn subprotocol_names_must_be_tokens() {
    const BAD_PROTOCOL: UsageError = UsageError::InvalidHeader("subprotocol name (not an HTTP token)");
    for bad in ["two words", "", "a,b", "chat\r\n", "chät", "\"q\""] {
        assert_eq!(chat_request().protocol(bad).unwrap_err(), BAD_PROTOCOL, "{bad:?}");
    }
    assert!(chat_request().protocol("v2.chat+json").is_ok());
}

#[test]
fn bad_urls_are_refused() {
    let url_error = |url: &str| ClientRequest::new(url).unwrap_err();
    assert_eq!(url_error("http://example.com/"), UsageError::InvalidUrl("the scheme must be ws or wss"));
    assert_eq!(url_error("https://example.com/"), UsageError::InvalidUrl("the scheme must be ws or wss"));
    assert_eq!(url_error("example.com/chat"), UsageError::InvalidUrl("expected ws://host/path or wss://host/path"));
    assert_eq!(
        url_error("ws://example.com/chat#frag"),
        UsageError::InvalidUrl("WebSocket URLs may not have a #fragment")
    );
    assert_eq!(url_error("ws://example.com/#"), UsageError::InvalidUrl("WebSocket URLs may not have a #fragment"));
    let credentials =
        UsageError::InvalidUrl("credentials in the URL are not supported; send an Authorization header instead");
    assert_eq!(url_error("ws://user:pw@example.com/"), credentials);
    assert_eq!(url_error("wss://user@example.com"), credentials);
    let port = UsageError::InvalidUrl("the port must be between 1 and 65535");
    assert_eq!(url_error("ws://example.com:0/"), port);
    assert_eq!(url_error("ws://example.com:65536/"), port);
    assert_eq!(url_error("ws://example.com:x/"), UsageError::InvalidUrl("the port must be a number"));
    assert_eq!(url_error("ws:///chat"), UsageError::InvalidUrl("the URL has no host"));
    assert_eq!(
        url_error("ws://exa\r\nmple.com/"),
        UsageError::InvalidUrl("the host contains characters a host name may not have")
    );
    assert_eq!(url_error("ws://[::1/"), UsageError::InvalidUrl("unterminated [IPv6] host"));
}

#[test]
fn accepting_an_unoffered_subprotocol_is_a_usage_error_and_the_handshake_survives() {
    let now = Instant::now();
    let request = chat_request().protocol("chat").unwrap();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    // Before the request arrived there is nothing to accept.
    assert_eq!(server_hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeIncomplete);
    server_hs.handle_read(client_hs.poll_transmit());
    assert!(server_hs.poll_request().unwrap().is_complete());

    assert_eq!(
        server_hs.accept(&Accept::new().protocol("mqtt").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("mqtt".into())
    );
    assert_eq!(
        server_hs.accept(&Accept::new().protocol("Chat").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("Chat".into())
    );
    assert_eq!(
        server_hs.accept(&Accept::new().extension(ExtensionOffer::new("x-foo").unwrap()).unwrap(), now).unwrap_err(),
        UsageError::ExtensionNotOffered("x-foo".into())
    );
    assert!(server_hs.poll_transmit().is_empty(), "nothing may be sent by a refused accept");
    assert!(server_hs.poll_request().unwrap().is_complete());

    let mut server = server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap();
    client_hs.handle_read(&take(&mut server));
    let Ok(Status::Complete(response)) = client_hs.poll_response() else {
        panic!("the corrected accept must complete the handshake")
    };
    assert_eq!(response.protocol(), Some("chat"));
    assert_eq!(server_hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeAnswered);

    // With no subprotocol offered at all, choosing one is refused too.
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(&request_with(&[], &[]));
    assert!(server_hs.poll_request().unwrap().is_complete());
    assert_eq!(
        server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("chat".into())
    );
    assert!(server_hs.accept(&Accept::new(), now).is_ok());
}

#[test]
fn accepted_extension_and_headers_reach_the_client() {
    let now = Instant::now();
    let offer = ExtensionOffer::new("x-foo").unwrap().with_param("level", Some("3")).unwrap();
    let request = chat_request().extension(offer).unwrap();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("request refused") };
    assert_eq!(upgrade.extensions()[0].param("level"), Some(Some("3")));
    let accept = Accept::new()
        .extension(ExtensionOffer::new("X-Foo").unwrap())
        .unwrap()
        .header("Set-Cookie", "session=1")
        .unwrap();
    let mut server = server_hs.accept(&accept, now).unwrap();
    let wire = take(&mut server);
    assert_eq!(
        text(&wire),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: X-Foo\r\n\
         Set-Cookie: session=1\r\n\r\n"
    );
    client_hs.handle_read(&wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("response refused") };
    assert_eq!(response.extensions(), [ExtensionOffer::new("X-Foo").unwrap()]);
    assert_eq!(response.header("set-cookie"), Some(&b"session=1"[..]));
}

#[test]
fn reject_status_must_be_a_final_non_upgrade_status() {
    let bad = UsageError::InvalidHeader("rejection status (must be 200-599)");
    for status in [0, 100, 101, 199, 600, 999] {
        assert_eq!(Reject::new(status).unwrap_err(), bad, "{status}");
    }
    for status in [200, 400, 599] {
        assert_eq!(Reject::new(status).unwrap().status(), status);
    }
}

#[test]
fn unwritten_request_bytes_move_to_the_connection() {
    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    let full = client_hs.poll_transmit().to_vec();
    client_hs.advance_transmit(10); // a partial write, then the response arrives
    client_hs.handle_read(&switching_response(&[], &[]));
    assert!(client_hs.poll_response().unwrap().is_complete());
    let mut client = client_hs.into_connection(Instant::now()).unwrap();
    assert_eq!(client.poll_transmit(), &full[10..]);
}

#[test]
fn poll_request_keeps_answering_after_accept_and_reject() {
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_with(&[], &[]));
    let first = hs.poll_request().unwrap();
    hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert_eq!(hs.poll_request().unwrap(), first);

    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_with(&[("Sec-WebSocket-Version", Some("8"))], &[]));
    let err = hs.poll_request().unwrap_err();
    hs.reject(&Reject::from_error(&err));
    assert_eq!(hs.poll_request().unwrap_err(), err);
}

#[test]
fn server_buffers_at_most_the_head_limit_before_polling() {
    let mut config = config();
    config.max_handshake_bytes = 1024;
    let mut hs = ServerHandshake::new(&config);
    let chunk = vec![b'a'; 64 << 10];
    for _ in 0..512 {
        hs.handle_read(&chunk); // 32 MiB offered without a single poll
    }
    assert_eq!(hs.recv_buffer().len(), chunk.len(), "only the first read, before the limit, is kept");
    assert_eq!(hs.poll_request().unwrap_err(), HandshakeError::HeadTooLarge { limit: 1024 });
    assert!(hs.recv_buffer().is_empty());
}

#[test]
fn early_data_before_accept_is_bounded() {
    let mut config = config();
    config.max_handshake_bytes = 1024;
    let mut hs = ServerHandshake::new(&config);
    hs.handle_read(&request_with(&[], &[]));
    assert!(hs.poll_request().unwrap().is_complete());
    hs.handle_read(&[0x81; 1000]); // a client that does not wait for the 101
    assert!(hs.poll_request().unwrap().is_complete(), "a little early data is tolerated");
    hs.handle_read(&[0x81; 100]);
    assert_eq!(hs.poll_request().unwrap_err(), HandshakeError::TooMuchEarlyData { limit: 1024 });
    assert_eq!(hs.accept(&Accept::new(), Instant::now()).unwrap_err(), UsageError::HandshakeIncomplete);
}

#[test]
fn extensions_the_connection_cannot_run_are_refused() {
    let deflate = || ExtensionOffer::new("permessage-deflate").unwrap();
    let unsupported = UsageError::UnsupportedExtension("permessage-deflate".into());
    assert_eq!(chat_request().extension(deflate()).unwrap_err(), unsupported);
    assert_eq!(Accept::new().extension(deflate()).unwrap_err(), unsupported);
    // A browser's offer is still visible to the application, and accepting
    // without it works.
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&request_with(&[], &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]));
    let Status::Complete(request) = hs.poll_request().unwrap() else { panic!() };
    assert_eq!(request.extensions()[0].name(), "permessage-deflate");
    let mut conn = hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert!(!text(conn.poll_transmit()).contains("Extensions"));
}

#[test]
fn accept_protocol_must_be_a_token() {
    assert_eq!(
        Accept::new().protocol("chat\r\nX-Injected: 1").unwrap_err(),
        UsageError::InvalidHeader("subprotocol name (not an HTTP token)")
    );
}

// ----- hooks: Origin policy, bearer tokens, cookies -------------------------------------------

/// A request from a page of `origin` (or from a program, for `None`) to `Host: host`.
fn from_origin(host: &str, origin: Option<&str>) -> UpgradeRequest {
    let origin = origin.map(|origin| format!("Origin: {origin}"));
    server_accepts(&request_with(
        &[("Host", Some(host)), ("Origin", None)],
        &origin.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
}

#[test]
fn same_origin_policy_admits_the_servers_own_pages_and_programs_only() {
    let policy = OriginPolicy::default();
    assert_eq!(policy, OriginPolicy::same_origin());
    for (host, origin, admitted) in [
        ("chat.example.com", Some("https://chat.example.com"), true),
        ("chat.example.com", Some("http://Chat.Example.com"), true),
        ("chat.example.com:8080", Some("http://chat.example.com:8080"), true),
        ("chat.example.com:8080", Some("http://chat.example.com"), false),
        ("chat.example.com", Some("https://evil.example"), false),
        ("chat.example.com", Some("https://chat.example.com.evil.example"), false),
        ("chat.example.com", Some("null"), false),
        ("chat.example.com", None, true),
    ] {
        let request = from_origin(host, origin);
        assert_eq!(policy.admits(&request), admitted, "Host {host}, Origin {origin:?}");
        assert_eq!(policy.check(&request).is_ok(), admitted);
    }
}

#[test]
fn origin_allow_lists_and_their_rejection() {
    let policy = OriginPolicy::only_listed().allow("https://app.example.com").unwrap().require_origin();
    assert!(policy.admits(&from_origin("api.example.com", Some("https://app.example.com:443"))));
    assert!(!policy.admits(&from_origin("api.example.com", Some("http://app.example.com"))), "scheme differs");
    assert!(!policy.admits(&from_origin("api.example.com", Some("https://api.example.com"))), "not listed");
    assert!(!policy.admits(&from_origin("api.example.com", None)), "origin required");
    let reject = policy.check(&from_origin("api.example.com", Some("https://evil.example"))).unwrap_err();
    let mut out = Vec::new();
    reject.write(&mut out);
    assert!(text(&out).starts_with("HTTP/1.1 403 Forbidden\r\n"), "{}", text(&out));
    assert!(text(&out).ends_with("origin not allowed\n"), "{}", text(&out));
    assert!(OriginPolicy::any().admits(&from_origin("x", Some("https://anything.example"))));
    for bad in ["app.example.com", "https://app.example.com/", "https://app.example.com:x", "mailto://x"] {
        assert_eq!(OriginPolicy::same_origin().allow(bad), Err(UsageError::InvalidOrigin(bad.into())), "{bad}");
    }
}

#[test]
fn bearer_tokens_and_cookies_are_read_from_the_request() {
    let request = server_accepts(&request_with(
        &[],
        &["Authorization: bearer  s3cr3t ", "Cookie: theme=dark; session=abc123", "Cookie: other=1"],
    ));
    assert_eq!(request.bearer_token(), Some(&b"s3cr3t"[..]));
    assert!(secrets_equal(request.bearer_token().unwrap(), b"s3cr3t"));
    assert!(!secrets_equal(request.bearer_token().unwrap(), b"s3cr3T"));
    assert_eq!(request.cookie("session"), Some(&b"abc123"[..]));
    assert_eq!(request.cookie("other"), Some(&b"1"[..]));
    assert_eq!(request.cookie("sess"), None);
    for header in ["Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer ", "Authorization: Bear"] {
        assert_eq!(server_accepts(&request_with(&[], &[header])).bearer_token(), None, "{header}");
    }
    let mut out = Vec::new();
    Reject::unauthorized().write(&mut out);
    assert!(
        text(&out).starts_with("HTTP/1.1 401 Unauthorized\r\n") && text(&out).contains("WWW-Authenticate: Bearer\r\n")
    );
}

#[test]
fn a_usage_error_in_a_hook_becomes_a_500_through_question_mark() {
    let hook = |_: &UpgradeRequest| -> Result<Accept, Reject> { Ok(Accept::new().header("Bad Name", "x")?) };
    let reject = hook(&server_accepts(&request_with(&[], &[]))).unwrap_err();
    assert_eq!(reject.status(), 500);
}
