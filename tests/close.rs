//! The close handshake (RFC 6455 §5.5.1, §7), transport teardown and timers.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{
    CloseCode, CloseFrame, CloseReason, Connection, Event, Initiator, Message, ProtocolError, Role, State, TimeoutKind,
    UsageError,
};

fn clean(events: &[Event]) -> (Initiator, CloseFrame) {
    match events.last() {
        Some(Event::Closed(CloseReason::Clean { initiator, remote })) => (*initiator, remote.clone()),
        other => panic!("expected a clean close, got {other:?}"),
    }
}

#[test]
fn client_initiated_close_completes_and_the_server_closes_tcp_first() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode::NORMAL, "done", pair.now).unwrap();
    assert_eq!(pair.client.state(), State::CloseSent);
    assert_eq!(pair.client.poll_timeout(), Some(pair.now + rfc6455::Config::default().close_timeout));

    let server_events = pair.to_server();
    let (initiator, remote) = clean(&server_events);
    assert_eq!((initiator, remote.code, remote.reason.as_str()), (Initiator::Remote, CloseCode::NORMAL, "done"));
    assert_eq!(pair.server.state(), State::Closed);
    assert!(!pair.server.should_close_transport(), "its close reply is not written yet");

    let client_events = pair.to_client();
    let (initiator, remote) = clean(&client_events);
    assert_eq!((initiator, remote.code), (Initiator::Local, CloseCode::NORMAL));
    assert!(pair.server.should_close_transport());
    assert!(!pair.client.should_close_transport(), "the client waits for the server's TCP close");

    pair.client.handle_eof(pair.now);
    assert!(pair.client.should_close_transport());
    assert_eq!(pair.client.poll_event(), None, "nothing after Closed");
    assert_eq!(pair.server.poll_event(), None);
}

#[test]
fn server_initiated_close() {
    let mut pair = Pair::new();
    pair.server.close(CloseCode(4000), "app", pair.now).unwrap();
    let (initiator, remote) = clean(&pair.to_client());
    assert_eq!((initiator, remote.code), (Initiator::Remote, CloseCode(4000)));
    let (initiator, remote) = clean(&pair.to_server());
    assert_eq!((initiator, remote.code), (Initiator::Local, CloseCode(4000)));
    assert!(pair.server.should_close_transport());
}

#[test]
fn reply_echoes_the_code_without_the_reason() {
    let wire = client_frame(OpCode::Close, true, &close_payload(1001, b"going"));
    let (events, frames) = feed(Role::Server, &config(), &wire);
    assert_eq!(clean(&events).1.code, CloseCode::GOING_AWAY);
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0].payload[..], &1001u16.to_be_bytes());
}

#[test]
fn empty_close_gets_an_empty_reply_and_reports_no_status() {
    let (events, frames) = feed(Role::Server, &config(), &client_frame(OpCode::Close, true, b""));
    assert_eq!(clean(&events).1.code, CloseCode::NO_STATUS);
    assert!(frames[0].payload.is_empty());
}

#[test]
fn one_byte_close_payload_is_a_protocol_error() {
    let events = assert_server_fails(&client_frame(OpCode::Close, true, &[0x03]), CloseCode::PROTOCOL_ERROR);
    assert!(matches!(events.last(), Some(Event::Closed(CloseReason::Protocol(ProtocolError::TruncatedCloseCode)))));
}

#[test]
fn codes_that_may_not_be_sent_are_refused() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        let events = assert_server_fails(
            &client_frame(OpCode::Close, true, &close_payload(code, b"")),
            CloseCode::PROTOCOL_ERROR,
        );
        assert!(
            matches!(events.last(), Some(Event::Closed(CloseReason::Protocol(ProtocolError::InvalidCloseCode(c)))) if *c == code),
            "{code}"
        );
    }
}

#[test]
fn valid_codes_are_echoed() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        let (events, frames) =
            feed(Role::Server, &config(), &client_frame(OpCode::Close, true, &close_payload(code, b"")));
        assert_eq!(clean(&events).1.code, CloseCode(code));
        assert_eq!(close_code_of(&frames[0]), Some(code));
    }
}

#[test]
fn close_reason_must_be_utf8() {
    for reason in [&b"bad \xff"[..], b"\xED\xA0\x80" /* a UTF-16 surrogate */] {
        let wire = client_frame(OpCode::Close, true, &close_payload(1000, reason));
        let events = assert_server_fails(&wire, CloseCode::INVALID_PAYLOAD);
        assert_eq!(events, [Event::Closed(CloseReason::Protocol(ProtocolError::InvalidUtf8))], "{reason:02x?}");
    }
    // 123 bytes of multi-byte text is fine.
    let reason = "é".repeat(61) + "x";
    assert_eq!(reason.len(), 123);
    let (events, _) =
        feed(Role::Server, &config(), &client_frame(OpCode::Close, true, &close_payload(1000, reason.as_bytes())));
    assert_eq!(clean(&events).1.reason.as_str(), reason);
}

#[test]
fn local_close_arguments_are_checked() {
    let mut conn = Connection::server(&config(), Instant::now());
    let now = Instant::now();
    assert_eq!(conn.close(CloseCode::NORMAL, &"x".repeat(124), now), Err(UsageError::ControlPayloadTooLong(126)));
    assert_eq!(conn.close(CloseCode::ABNORMAL, "", now), Err(UsageError::UnsendableCloseCode(CloseCode::ABNORMAL)));
    assert_eq!(conn.state(), State::Open, "a refused close changes nothing");
    conn.close(CloseCode::NORMAL, &"x".repeat(123), now).unwrap();
    assert_eq!(conn.close(CloseCode::NORMAL, "", now), Err(UsageError::AlreadyClosing));
}

#[test]
fn close_without_a_code() {
    let mut conn = Connection::server(&config(), Instant::now());
    conn.close(CloseCode::NO_STATUS, "", Instant::now()).unwrap();
    let frames = sent_frames(&mut conn);
    assert_eq!(frames[0].header.opcode, OpCode::Close);
    assert!(frames[0].payload.is_empty());
}

#[test]
fn after_sending_close_only_close_may_follow_but_messages_still_arrive() {
    let mut server = Connection::server(&config(), Instant::now());
    server.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    sent_frames(&mut server);
    assert_eq!(server.send_text("late"), Err(UsageError::Closed));
    assert_eq!(server.ping(b""), Err(UsageError::Closed));
    assert_eq!(server.pong(b""), Err(UsageError::Closed));

    let mut wire = client_frame(OpCode::Text, true, b"in flight");
    wire.extend(client_frame(OpCode::Ping, true, b"p"));
    wire.extend(client_frame(OpCode::Close, true, &close_payload(1000, b"")));
    server.handle_read(&wire, Instant::now());
    let events = events(&mut server);
    assert_eq!(events[0], Event::Message(Message::from("in flight")));
    assert_eq!(clean(&events).0, Initiator::Local);
    assert!(sent_frames(&mut server).is_empty(), "no pong and no second close after our close");
}

#[test]
fn nothing_is_sent_after_the_close_reply_and_later_bytes_are_ignored() {
    let mut wire = client_frame(OpCode::Close, true, &close_payload(1000, b""));
    wire.extend(client_frame(OpCode::Ping, true, b"p"));
    wire.extend(client_frame(OpCode::Text, true, b"t"));
    let (events, frames) = feed(Role::Server, &config(), &wire);
    assert_eq!(events.len(), 1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].header.opcode, OpCode::Close);
}

#[test]
fn a_protocol_error_after_our_close_does_not_send_a_second_close() {
    let mut server = Connection::server(&config(), Instant::now());
    server.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    assert_eq!(sent_frames(&mut server).len(), 1);
    server.handle_read(&client_frame(OpCode::Continuation, true, b"x"), Instant::now());
    let events = events(&mut server);
    assert_eq!(events, [Event::Closed(CloseReason::Protocol(ProtocolError::UnexpectedContinuation))]);
    assert!(sent_frames(&mut server).is_empty());
    assert!(server.should_close_transport());
}

#[test]
fn close_timeout_when_the_peer_never_answers() {
    let start = Instant::now();
    let mut config = config();
    config.close_timeout = Duration::from_secs(3);
    let mut client = Connection::client(&config, start, [42; 32]);
    client.close(CloseCode::NORMAL, "", start).unwrap();
    let deadline = client.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(3));

    client.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(client.poll_event(), None, "early calls are no-ops");
    assert_eq!(client.state(), State::CloseSent);

    client.handle_timeout(deadline);
    assert_eq!(client.poll_event(), Some(Event::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake))));
    assert!(client.should_close_transport(), "close now, even with bytes still queued");
    client.handle_timeout(deadline + Duration::from_secs(10));
    assert_eq!(client.poll_event(), None);
}

#[test]
fn client_gives_up_waiting_for_the_servers_tcp_close() {
    let mut pair = Pair::new();
    let start = pair.now;
    let close_timeout = rfc6455::Config::default().close_timeout;
    pair.server.close(CloseCode::NORMAL, "", pair.now).unwrap();
    // The server's TCP close never comes (the pair does not model it).
    let (client_events, _) = pair.run_until(start + close_timeout - Duration::from_millis(1));
    assert!(matches!(&client_events[..], [Event::Closed(reason)] if reason.was_clean()), "{client_events:?}");
    assert!(pair.server.should_close_transport());
    assert!(!pair.client.should_close_transport(), "the client waits for the server's TCP close");
    let (client_events, _) = pair.run_until(start + close_timeout);
    assert_eq!(client_events, [], "Closed was already reported");
    assert!(pair.client.should_close_transport(), "at the close timeout it closes the transport itself");
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn server_gives_up_flushing_to_a_peer_that_never_reads() {
    let mut server = Connection::server(&config(), Instant::now());
    server.handle_read(&client_frame(OpCode::Close, true, &close_payload(1000, b"")), Instant::now());
    events(&mut server);
    assert!(!server.should_close_transport(), "reply not written yet");
    server.handle_timeout(server.poll_timeout().unwrap());
    assert!(server.should_close_transport());
}

#[test]
fn eof_without_close_is_abnormal_1006_after_delivering_complete_frames() {
    let mut server = Connection::server(&config(), Instant::now());
    let mut wire = client_frame(OpCode::Text, true, b"last words");
    wire.extend(&client_frame(OpCode::Text, true, b"cut off")[..4]);
    server.handle_read(&wire, Instant::now());
    server.handle_eof(Instant::now());
    let events = events(&mut server);
    assert_eq!(events, [Event::Message(Message::from("last words")), Event::Closed(CloseReason::Abnormal)]);
    assert_eq!(server.close_reason().unwrap().code(), CloseCode::ABNORMAL);
    assert!(server.should_close_transport());
    assert!(server.poll_transmit().is_empty(), "no close frame to a closed transport");
}

#[test]
fn eof_after_the_peers_close_is_a_clean_close() {
    let mut server = Connection::server(&config(), Instant::now());
    server.handle_read(&client_frame(OpCode::Close, true, &close_payload(1000, b"")), Instant::now());
    server.handle_eof(Instant::now());
    let events = events(&mut server);
    assert!(clean(&events).1.code == CloseCode::NORMAL);
}

#[test]
fn an_unbounded_close_timeout_means_no_deadline_not_a_panic() {
    let mut config = config();
    config.close_timeout = Duration::MAX;
    let mut server = Connection::server(&config, Instant::now());
    server.handle_read(&client_frame(OpCode::Close, true, &close_payload(1000, b"")), Instant::now());
    assert!(clean(&events(&mut server)).1.code == CloseCode::NORMAL);
    assert_eq!(server.poll_timeout(), None);
    let mut client = Connection::client(&config, Instant::now(), [42; 32]);
    client.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn a_close_reply_already_received_beats_the_timer() {
    let start = Instant::now();
    let mut client = Connection::client(&config(), start, [42; 32]);
    client.close(CloseCode::NORMAL, "", start).unwrap();
    let deadline = client.poll_timeout().unwrap();
    // The reply and the deadline arrive in the same loop iteration.
    client.handle_read(&server_frame(OpCode::Close, true, &close_payload(1000, b"")), deadline);
    client.handle_timeout(deadline);
    let (initiator, remote) = clean(&events(&mut client));
    assert_eq!((initiator, remote.code), (Initiator::Local, CloseCode::NORMAL));
}

#[test]
fn the_timer_is_disarmed_once_the_transport_should_close() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode::NORMAL, "", pair.now).unwrap();
    pair.drive();
    assert!(pair.server.should_close_transport());
    assert_eq!(pair.server.poll_timeout(), None);
    assert!(pair.client.poll_timeout().is_some(), "still waiting for the server's TCP close");
    pair.client.handle_eof(pair.now);
    assert_eq!(pair.client.poll_timeout(), None);
}
