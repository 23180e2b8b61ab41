//! Size limits of the opening handshake: the head limit (at the limit, one
//! byte over, and a 1 MiB head fed a byte at a time, on both sides), the
//! header count, and what a server buffers before it polls or accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::handshake::*;
use rfc6455::frame::OpCode;
use rfc6455::handshake::{Accept, ClientHandshake, ServerHandshake};
use rfc6455::{Config, HandshakeError, Status, UsageError};

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
