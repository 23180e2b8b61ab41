//! The server side of the opening handshake (RFC 6455 §4.2): how it
//! validates an upgrade request, what it exposes of it, and the rejections
//! it writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::handshake::*;
use rfc6455::extensions::{ExtensionOffer, ExtensionSyntaxError};
use rfc6455::handshake::{Accept, Reject, ServerHandshake};
use rfc6455::{HandshakeError, UsageError};

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

    // The 426 names the version it speaks, and lists "upgrade" in
    // `Connection` as RFC 9110 §7.8 asks of a sender of `Upgrade` (the caller
    // cannot add it: `Connection` is reserved).
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
