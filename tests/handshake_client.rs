//! The client side of the opening handshake (RFC 6455 §4.1): the request
//! it writes for a URL, and how it validates the server's answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::handshake::*;
use rfc6455::extensions::ExtensionOffer;
use rfc6455::handshake::{accept_key, ClientRequest};
use rfc6455::{HandshakeError, Status, UsageError};

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
    let mut wire = response_head(
        "HTTP/1.1 403 Forbidden",
        &["Content-Length: 5", "X-Why: banned", "Set-Cookie: a=1", "Set-Cookie: b=2"],
    );
    wire.extend_from_slice(b"nope!");
    let err = client_error(&request, &wire);
    assert_eq!(err.status_hint(), 403);
    assert_eq!(err.to_string(), "server refused the upgrade with status 403");
    let HandshakeError::Rejected(response) = &err else { panic!("expected Rejected, got {err:?}") };
    assert_eq!(response.status(), 403);
    assert_eq!(response.reason(), "Forbidden");
    assert_eq!(response.header("x-why"), Some(&b"banned"[..]));
    assert_eq!(response.header("Set-Cookie"), Some(&b"a=1"[..]));
    assert_eq!(response.body(), b"nope!");
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
