//! Fuzzes `rfc6455::handshake::ServerHandshake` with arbitrary request bytes
//! fed in arbitrary chunks, `poll_request` after each chunk, with small
//! `max_handshake_bytes` (0..8 KiB) and `max_headers` (0..=64).
//!
//! Input: `[limit_lo, limit_hi, max_headers, chunk_seed, flags]` then the
//! request bytes. Flags: bit 0 accept as soon as the request is complete
//! (the rest arrives after the answer), bit 1 no permessage-deflate in the
//! config, bit 2 select the first offered subprotocol.
//!
//! Invariants:
//! * once `poll_request` returned a request it keeps returning that request,
//!   until early data past the limit turns it into `TooMuchEarlyData`; once
//!   it returned an error it keeps returning that error;
//! * the bytes it buffers never exceed `max_handshake_bytes` plus one chunk;
//! * fed in one piece or in chunks, the outcome is the same;
//! * an error has a 4xx status hint and `Reject::from_error` writes that
//!   status line;
//! * a request is accepted with `accept(&Accept::new(), now)`, whose
//!   `Connection` transmits a `101` response with the right
//!   `Sec-WebSocket-Accept` (and `Sec-WebSocket-Extensions` exactly when
//!   permessage-deflate was negotiable), and decodes the early data keeping
//!   the connection invariants; a second answer is refused.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rfc6455::handshake::{Accept, Reject, ServerHandshake, UpgradeRequest};
use rfc6455::{Config, HandshakeError, Status, UsageError};
use rfc6455_fuzz::{chunks, handshake_config, take_prefix, Watch};

type Outcome = Result<UpgradeRequest, HandshakeError>;

/// Checks that `now` (a `poll_request` result) is consistent with `seen`,
/// the first final result, and updates `seen`.
fn check_consistent(seen: &mut Option<Outcome>, now: Result<Status<UpgradeRequest>, HandshakeError>, limit: usize) {
    match (seen.as_ref(), now) {
        (None, Ok(Status::Partial)) => {}
        (None, Ok(Status::Complete(request))) => {
            let http = request.to_http();
            assert_eq!(http.headers().len(), request.headers().count(), "a header lost in to_http");
            assert_eq!(http.uri(), request.uri());
            *seen = Some(Ok(request));
        }
        (None, Err(err)) => *seen = Some(Err(err)),
        (Some(Ok(first)), Ok(Status::Complete(request))) => assert_eq!(first, &request, "the request changed"),
        (Some(Ok(_)), Err(err)) => {
            assert_eq!(err, HandshakeError::TooMuchEarlyData { limit }, "a complete request turned into another error");
            *seen = Some(Err(err));
        }
        (Some(Err(first)), Err(err)) => assert_eq!(first, &err, "the error changed"),
        (Some(first), now) => panic!("poll_request went from {first:?} to {now:?}"),
    }
}

fn check_error(hs: &mut ServerHandshake, err: &HandshakeError) {
    let status = err.status_hint().as_u16();
    assert!((400..=499).contains(&status), "status hint {status} for {err:?}");
    let reject = Reject::from_error(err);
    assert_eq!(reject.status(), status);
    hs.reject(&reject);
    let head = format!("HTTP/1.1 {status} ");
    assert!(hs.poll_transmit().starts_with(head.as_bytes()));
    // Answered: input is dropped, and the result stays.
    hs.handle_read(b"GET / HTTP/1.1\r\n\r\n");
    assert!(hs.recv_buffer().is_empty());
    assert_eq!(hs.poll_request().as_ref().err(), Some(err));
}

fn accept(hs: &mut ServerHandshake, request: &UpgradeRequest, config: &Config, protocol: bool, now: Instant) {
    let mut answer = Accept::new();
    if protocol {
        if let Some(first) = request.protocols().next() {
            // Offered protocols were checked to be tokens.
            answer = answer.protocol(first).expect("an offered protocol is a token");
        }
    }
    let mut conn = hs.accept(&answer, now).expect("accepting a complete request");
    assert_eq!(hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeAnswered);
    let response = conn.poll_transmit().to_vec();
    let text = String::from_utf8(response).expect("the 101 response is ASCII");
    assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n"), "{text:?}");
    let accept_line = format!("\r\nSec-WebSocket-Accept: {}\r\n", request.key().accept_key().as_str());
    assert!(text.contains(&accept_line), "{text:?}");
    let negotiable = config
        .deflate
        .as_ref()
        .is_some_and(|deflate| request.extensions().iter().any(|offer| deflate.accept_offer(offer).is_some()));
    assert_eq!(text.contains("\r\nSec-WebSocket-Extensions: permessage-deflate"), negotiable, "{text:?}");
    let mut watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    watch.drain(&mut conn);
}

fuzz_target!(|data: &[u8]| {
    let ([lo, hi, max_headers, chunk_seed, flags], wire) = take_prefix::<5>(data);
    let mut config = handshake_config([lo, hi, max_headers]);
    let limit = config.max_handshake_bytes;
    if flags & 2 != 0 {
        config.deflate = None;
    }
    let accept_early = flags & 1 != 0;
    let now = Instant::now();

    let mut hs = ServerHandshake::new(&config);
    let mut seen: Option<Outcome> = None;
    let mut answered = false;
    for piece in chunks(wire, chunk_seed) {
        hs.handle_read(piece);
        if !answered {
            let buffered = hs.recv_buffer().len();
            assert!(
                buffered <= limit + piece.len(),
                "{buffered} bytes buffered, limit {limit} + chunk {}",
                piece.len()
            );
        }
        check_consistent(&mut seen, hs.poll_request(), limit);
        if let (Some(Ok(request)), true, false) = (&seen, accept_early, answered) {
            let request = request.clone();
            accept(&mut hs, &request, &config, flags & 4 != 0, now);
            answered = true;
        }
    }
    check_consistent(&mut seen, hs.poll_request(), limit);

    if !answered {
        // The same bytes in one piece give the same outcome.
        let mut whole = ServerHandshake::new(&config);
        whole.handle_read(wire);
        let _ = whole.poll_request();
        assert_eq!(whole.poll_request(), hs.poll_request(), "one piece and chunks disagree");
    }

    match seen {
        Some(Ok(request)) if !answered => accept(&mut hs, &request, &config, flags & 4 != 0, now),
        Some(Ok(_)) => {}
        Some(Err(err)) => check_error(&mut hs, &err),
        None => {
            assert!(wire.len() < limit, "still partial after {} bytes (limit {limit})", wire.len());
            assert_eq!(hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeIncomplete);
        }
    }
});
