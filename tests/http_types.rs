//! The handshake's values as the `http` crate's types: what a client sees of
//! the server's response, what a server hook sees of the request, and the
//! statuses both sides use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::handshake::*;
use http::{header, Method, StatusCode, Version};
use rfc6455::handshake::Reject;
use rfc6455::HandshakeError;

#[test]
fn the_hooks_request_converts_with_every_header_in_order() {
    let wire = request_with(&[], &["Authorization: Bearer s3cr3t", "X-Latin: caf\u{e9}", "x-dup: 1", "X-Dup: 2"]);
    let request = server_accepts(&wire);
    let http = request.to_http();
    assert_eq!(http.method(), Method::GET);
    assert_eq!(http.version(), Version::HTTP_11);
    assert_eq!(http.uri(), "/chat");
    assert_eq!(http.uri(), request.uri());
    assert_eq!(http.headers()[header::AUTHORIZATION], "Bearer s3cr3t");
    assert_eq!(http.headers()[header::HOST], "server.example.com");
    let dups: Vec<_> = http.headers().get_all("x-dup").iter().collect();
    assert_eq!(dups, ["1", "2"]);
    // Every header the parser accepted is in the map, with the same bytes.
    assert_eq!(http.headers().len(), request.headers().count());
    for (name, value) in request.headers() {
        assert!(http.headers().get_all(name).iter().any(|v| v.as_bytes() == value), "{name}");
    }
}

#[test]
fn obs_text_in_a_header_value_survives_the_conversion() {
    let mut wire = request_with(&[], &[]);
    let end = wire.len() - 2;
    wire.splice(end..end, b"X-Bytes: \x80\xff\tend\r\n".iter().copied());
    let request = server_accepts(&wire);
    assert_eq!(request.to_http().headers()["x-bytes"].as_bytes(), b"\x80\xff\tend");
}

#[test]
fn raw_utf8_in_the_target_is_kept() {
    let request = server_accepts(&request_head("GET /caf\u{e9}?q=\u{e9} HTTP/1.1", &[], &[]));
    assert_eq!(request.uri().path(), "/caf\u{e9}");
    assert_eq!(request.target(), "/caf\u{e9}?q=\u{e9}");
}

#[test]
fn absolute_form_targets_become_absolute_uris() {
    let request = server_accepts(&request_head("GET ws://server.example.com/chat?x=1 HTTP/1.1", &[], &[]));
    assert_eq!(request.uri().path(), "/chat");
    assert_eq!(request.uri().query(), Some("x=1"));
    assert_eq!(request.uri().host(), Some("server.example.com"));
}

#[test]
fn a_target_that_is_not_a_uri_is_refused_with_400() {
    // httparse lets `<`, `>` and a backtick through; a URI may not hold them.
    let err = server_error(&request_head("GET /a<b> HTTP/1.1", &[], &[]));
    assert_eq!(err, HandshakeError::InvalidTarget);
    assert_eq!(err.status_hint(), StatusCode::BAD_REQUEST);
    assert_eq!(Reject::from_error(&err).status(), 400);
}

#[test]
fn the_clients_response_converts() {
    let request = chat_request();
    let response = client_accepts(&request, &switching_response(&[], &["Set-Cookie: a=1", "Set-Cookie: b=2"]));
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let http = response.to_http();
    assert_eq!(http.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(http.headers()[header::UPGRADE], "websocket");
    let cookies: Vec<_> = http.headers().get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(http.headers().len(), response.headers().count());
}

#[test]
fn a_status_below_100_is_a_malformed_response() {
    for line in ["HTTP/1.1 000 Zero", "HTTP/1.1 099 Low"] {
        let err = client_error(&chat_request(), &response_head(line, &[]));
        assert!(matches!(err, HandshakeError::Http(_)), "{line}: {err:?}");
    }
}
