//! Fuzzes `rfc6455::handshake::ClientHandshake` with arbitrary response bytes
//! fed in arbitrary chunks to `handle_read`, `poll_response` after each chunk,
//! with small `max_handshake_bytes` (0..8 KiB) and `max_headers` (0..=64).
//!
//! The request for `ws://example.com/chat` uses the RFC 6455 §1.3 sample key
//! (`dGhlIHNhbXBsZSBub25jZQ==`, accepted by `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`),
//! so seeds and the fuzzer can write responses that pass the accept check.
//!
//! Input: `[limit_lo, limit_hi, max_headers, chunk_seed, flags]` then the
//! response bytes. Flags: bit 0 no permessage-deflate in the config, bit 1
//! offer the subprotocols `chat` and `superchat`.
//!
//! Invariants:
//! * once `poll_response` completed or failed, later calls return the same;
//! * the bytes buffered before the outcome is known (head, then a
//!   rejection's body) never exceed `max_handshake_bytes` plus one chunk;
//! * fed in one piece or in chunks, the outcome is the same, before and
//!   after `handle_eof`;
//! * still partial means the head is incomplete (fewer than
//!   `max_handshake_bytes` bytes) or a rejection's body is (fewer than twice
//!   that plus one); after `handle_eof`, only the former;
//! * a rejection carries a status other than 101 and at most
//!   `max_handshake_bytes` bytes of body;
//! * a complete response is a 101 whose subprotocol and extensions were
//!   offered, with permessage-deflate parameters exactly when it accepted
//!   permessage-deflate (and only if offered); `into_connection` then gives a
//!   client `Connection` that decodes the bytes after the head keeping the
//!   connection invariants.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::PERMESSAGE_DEFLATE;
use rfc6455::handshake::{ClientHandshake, ClientKey, ClientRequest, Response};
use rfc6455::{Config, HandshakeError, Role, Status};
use rfc6455_fuzz::{chunks, handshake_config, take_prefix, Watch};

type Outcome = Result<Response, HandshakeError>;

fn check_consistent(seen: &mut Option<Outcome>, now: Result<Status<Response>, HandshakeError>) {
    match (seen.as_ref(), now) {
        (None, Ok(Status::Partial)) => {}
        (None, Ok(Status::Complete(response))) => *seen = Some(Ok(response)),
        (None, Err(err)) => *seen = Some(Err(err)),
        (Some(Ok(first)), Ok(Status::Complete(response))) => assert_eq!(first, &response, "the response changed"),
        (Some(Err(first)), Err(err)) => assert_eq!(first, &err, "the error changed"),
        (Some(first), now) => panic!("poll_response went from {first:?} to {now:?}"),
    }
}

fn handshake(config: &Config, protocols: bool) -> ClientHandshake {
    let mut request = ClientRequest::new("ws://example.com/chat").expect("a valid URL");
    if protocols {
        request = request.protocol("chat").and_then(|r| r.protocol("superchat")).expect("tokens");
    }
    let hs = ClientHandshake::with_key(&request, ClientKey::from_nonce(*b"the sample nonce"), config, [42; 32]);
    assert_eq!(hs.key().accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let sent = String::from_utf8(hs.poll_transmit().to_vec()).expect("the request is ASCII");
    assert!(sent.starts_with("GET /chat HTTP/1.1\r\nHost: example.com\r\n"), "{sent:?}");
    assert!(sent.contains("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), "{sent:?}");
    assert!(sent.ends_with("\r\n\r\n"));
    hs
}

fuzz_target!(|data: &[u8]| {
    let ([lo, hi, max_headers, chunk_seed, flags], wire) = take_prefix::<5>(data);
    let mut config = handshake_config([lo, hi, max_headers]);
    let limit = config.max_handshake_bytes;
    if flags & 1 != 0 {
        config.deflate = None;
    }
    let protocols = flags & 2 != 0;

    let mut hs = handshake(&config, protocols);
    let mut seen: Option<Outcome> = None;
    for piece in chunks(wire, chunk_seed) {
        hs.handle_read(piece);
        if seen.is_none() {
            let buffered = hs.recv_buffer().len();
            assert!(
                buffered <= limit + piece.len(),
                "{buffered} bytes buffered, limit {limit} + chunk {}",
                piece.len()
            );
        }
        check_consistent(&mut seen, hs.poll_response());
    }
    check_consistent(&mut seen, hs.poll_response());

    let mut whole = handshake(&config, protocols);
    whole.handle_read(wire);
    assert_eq!(whole.poll_response(), hs.poll_response(), "one piece and chunks disagree");
    if seen.is_none() {
        assert!(wire.len() <= 2 * limit, "still partial after {} bytes (limit {limit})", wire.len());
        hs.handle_eof();
        whole.handle_eof();
        check_consistent(&mut seen, hs.poll_response());
        assert_eq!(whole.poll_response(), hs.poll_response(), "one piece and chunks disagree after the end");
    }

    match seen {
        None => assert!(wire.len() < limit, "still partial at the end after {} bytes (limit {limit})", wire.len()),
        Some(Err(HandshakeError::Rejected(response))) => {
            assert_ne!(response.status(), 101);
            assert_eq!(response.to_http().headers().len(), response.headers().count(), "a header lost in to_http");
            assert!(response.body().len() <= limit, "{} body bytes kept (limit {limit})", response.body().len());
            assert!(wire.len() >= response.body().len(), "a body longer than the input");
        }
        Some(Err(_)) => {}
        Some(Ok(response)) => {
            assert_eq!(response.status(), 101);
            assert_eq!(response.to_http().headers().len(), response.headers().count(), "a header lost in to_http");
            if let Some(protocol) = response.protocol() {
                assert!(protocols && (protocol == "chat" || protocol == "superchat"), "unoffered {protocol:?}");
            }
            let mut deflate_accepted = false;
            for extension in response.extensions() {
                assert!(extension.name().eq_ignore_ascii_case(PERMESSAGE_DEFLATE), "unoffered {extension}");
                deflate_accepted = true;
            }
            assert!(!deflate_accepted || config.deflate.is_some(), "permessage-deflate accepted but not offered");
            assert_eq!(response.deflate().is_some(), deflate_accepted);
            if let Some(params) = response.deflate() {
                assert!((8..=15).contains(&params.server_max_window_bits));
                assert!((8..=15).contains(&params.client_max_window_bits));
            }
            let mut conn = hs.into_connection(Instant::now()).expect("a complete handshake gives a connection");
            assert_eq!(conn.role(), Role::Client);
            let mut watch = Watch::new(config.max_message_size, config.write_buffer_limit);
            watch.drain(&mut conn);
        }
    }
});
