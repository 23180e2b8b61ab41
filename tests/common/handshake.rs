//! Fixtures for the opening-handshake tests (`tests/handshake_*.rs`): the
//! RFC 6455 §1.3 key, valid request and response heads with overrides, and
//! the server's and client's verdicts on a head.

use rfc6455::handshake::{
    ClientHandshake, ClientKey, ClientRequest, Reject, Response, ServerHandshake, UpgradeRequest,
};
use rfc6455::{Config, Connection, HandshakeError, Status};

/// The key of RFC 6455 §1.3 and the accept value it must produce.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn sample_key() -> ClientKey {
    ClientKey::from_nonce(*b"the sample nonce")
}

/// These tests are about RFC 6455 alone; permessage-deflate negotiation is
/// tested in tests/deflate.rs.
pub fn config() -> Config {
    #[allow(unused_mut)] // without the `deflate` feature (the published crate's default)
    let mut config = super::config();
    #[cfg(feature = "deflate")]
    {
        config.deflate = None;
    }
    config
}

pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// The header lines of a valid upgrade request, as (name, value).
pub const VALID_REQUEST: [(&str, &str); 5] = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", SAMPLE_KEY),
    ("Sec-WebSocket-Version", "13"),
];

/// A request head: `request_line`, the valid headers with each name in
/// `overrides` replaced by its value (or removed, for `None`), then `extra`.
pub fn request_head(request_line: &str, overrides: &[(&str, Option<&str>)], extra: &[&str]) -> Vec<u8> {
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
pub fn request_with(overrides: &[(&str, Option<&str>)], extra: &[&str]) -> Vec<u8> {
    request_head("GET /chat HTTP/1.1", overrides, extra)
}

/// The server's verdict on `wire`, delivered in one read.
pub fn server_poll_with(config: &Config, wire: &[u8]) -> Result<Status<UpgradeRequest>, HandshakeError> {
    let mut hs = ServerHandshake::new(config);
    hs.handle_read(wire);
    hs.poll_request()
}

pub fn server_accepts(wire: &[u8]) -> UpgradeRequest {
    match server_poll_with(&config(), wire) {
        Ok(Status::Complete(request)) => request,
        other => panic!("expected a valid request, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

pub fn server_error(wire: &[u8]) -> HandshakeError {
    server_error_with(&config(), wire)
}

pub fn server_error_with(config: &Config, wire: &[u8]) -> HandshakeError {
    match server_poll_with(config, wire) {
        Err(err) => err,
        other => panic!("expected an error, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

/// What `Reject::from_error(err)` writes, as text.
pub fn rejection_for(err: &HandshakeError) -> String {
    let mut out = Vec::new();
    Reject::from_error(err).write(&mut out);
    String::from_utf8(out).unwrap()
}

/// The header lines of a valid 101 answer to [`sample_key`].
pub const VALID_RESPONSE: [&str; 3] =
    ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="];

/// A response head with `status_line` and `lines`.
pub fn response_head(status_line: &str, lines: &[&str]) -> Vec<u8> {
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
pub fn switching_response(without: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut lines: Vec<&str> = VALID_RESPONSE
        .iter()
        .copied()
        .filter(|line| !without.iter().any(|name| line.starts_with(&format!("{name}:"))))
        .collect();
    lines.extend_from_slice(extra);
    response_head("HTTP/1.1 101 Switching Protocols", &lines)
}

pub fn client_handshake(request: &ClientRequest) -> ClientHandshake {
    ClientHandshake::with_key(request, sample_key(), &config(), [42; 32])
}

pub fn chat_request() -> ClientRequest {
    ClientRequest::new("ws://server.example.com/chat").unwrap()
}

/// The client's verdict on `wire` (one read) for `request`.
pub fn client_poll(request: &ClientRequest, wire: &[u8]) -> Result<Status<Response>, HandshakeError> {
    let mut hs = client_handshake(request);
    hs.handle_read(wire);
    hs.poll_response()
}

pub fn client_accepts(request: &ClientRequest, wire: &[u8]) -> Response {
    match client_poll(request, wire) {
        Ok(Status::Complete(response)) => response,
        other => panic!("expected a valid response, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

pub fn client_error(request: &ClientRequest, wire: &[u8]) -> HandshakeError {
    match client_poll(request, wire) {
        Err(err) => err,
        other => panic!("expected an error, got {other:?} for\n{}", String::from_utf8_lossy(wire)),
    }
}

/// Everything `conn` wants to send, marked as written.
pub fn take(conn: &mut Connection) -> Vec<u8> {
    super::take_transmit(conn)
}

/// The request line and headers `ClientHandshake` writes for `url` with the sample key.
pub fn request_bytes(url: &str) -> String {
    let request = ClientRequest::new(url).unwrap();
    let hs = client_handshake(&request);
    String::from_utf8(hs.poll_transmit().to_vec()).unwrap()
}

/// The request `ClientHandshake` should write for a target and Host (no options).
pub fn plain_request(target: &str, host: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A head that never ends: `first_line` then padding headers, `total` bytes.
pub fn endless_head(first_line: &str, total: usize) -> Vec<u8> {
    let mut head = format!("{first_line}\r\n").into_bytes();
    while head.len() < total {
        head.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    head.truncate(total);
    head
}

/// A valid request of exactly `total` bytes (padded with one `X-Pad` header).
pub fn padded_request(total: usize) -> Vec<u8> {
    let base = request_with(&[], &[]).len();
    let pad = total - base - "X-Pad: \r\n".len();
    let line = format!("X-Pad: {}", "a".repeat(pad));
    let head = request_with(&[], &[&line]);
    assert_eq!(head.len(), total);
    head
}
