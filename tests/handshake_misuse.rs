//! Caller misuse of the handshake builders, refused with a `UsageError`
//! before anything is written: header injection, reserved and
//! handshake-owned header names, subprotocol names, URLs, rejection
//! statuses, and extensions the connection cannot run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::handshake::*;
use rfc6455::extensions::ExtensionOffer;
use rfc6455::handshake::{Accept, ClientRequest, Reject, ServerHandshake};
use rfc6455::{Status, UsageError};

/// The value `UsageError::InvalidHeader` carries for a value with CR, LF or NUL.
const BAD_VALUE: UsageError = UsageError::InvalidHeader("header value (contains CR, LF or NUL)");

/// ... for a header name that is not a token.
const BAD_NAME: UsageError = UsageError::InvalidHeader("header name (not an HTTP token)");

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
    // The message names the header and says what to do instead.
    let message = UsageError::ReservedHeader("Sec-WebSocket-Protocol".to_owned()).to_string();
    assert!(message.contains("\"Sec-WebSocket-Protocol\"") && message.contains("protocol()"), "{message}");
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
        let reserved = UsageError::ReservedHeader(name.to_owned());
        assert_eq!(chat_request().header(name, "x").unwrap_err(), reserved, "{name}");
        assert_eq!(Accept::new().header(name, "x").unwrap_err(), reserved, "{name}");
        assert_eq!(Reject::new(403).unwrap().header(name, "x").unwrap_err(), reserved, "{name}");
    }
}

// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` are written by the
// handshake itself (from `protocol`/`extension`), so `.header(..)` refuses them:
// otherwise a server could bypass the `ProtocolNotOffered`/`ExtensionNotOffered`
// checks of `accept`, and a client could offer a subprotocol it then refuses.
#[test]
fn handshake_owned_negotiation_headers_are_refused_as_extra_headers() {
    for name in ["Sec-WebSocket-Protocol", "sec-websocket-extensions"] {
        assert_eq!(
            chat_request().header(name, "chat").unwrap_err(),
            UsageError::ReservedHeader(name.to_owned()),
            "{name}"
        );
        assert_eq!(
            Accept::new().header(name, "chat").unwrap_err(),
            UsageError::ReservedHeader(name.to_owned()),
            "{name}"
        );
    }
}

#[test]
fn subprotocol_names_must_be_tokens() {
    const BAD_PROTOCOL: UsageError = UsageError::InvalidHeader("subprotocol name (not an HTTP token)");
    for bad in ["two words", "", "a,b", "chat\r\n", "chat\r\nX-Injected: 1", "chät", "\"q\""] {
        assert_eq!(chat_request().protocol(bad).unwrap_err(), BAD_PROTOCOL, "client: {bad:?}");
        assert_eq!(Accept::new().protocol(bad).unwrap_err(), BAD_PROTOCOL, "server: {bad:?}");
    }
    assert!(chat_request().protocol("v2.chat+json").is_ok());
    assert!(Accept::new().protocol("v2.chat+json").is_ok());
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
