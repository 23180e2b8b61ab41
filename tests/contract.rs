//! The caller contract of the run loop (crate docs, "The run loop"): after
//! draining, nothing is left to send or report; the zero-copy receive path
//! behaves like `handle_read`; misuse of it cannot panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::Instant;

use bytes::BufMut;
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Connection, DataKind, Event, Message, Role};

#[test]
fn after_draining_there_is_nothing_left_to_send_or_report() {
    let mut pair = Pair::new();
    pair.client.send_text("a").unwrap();
    pair.client.ping(b"p").unwrap();
    pair.client.send_fragment(DataKind::Binary, b"b", false).unwrap();
    pair.client.send_fragment(DataKind::Binary, b"c", true).unwrap();
    pair.server.send_binary(b"d").unwrap();
    let (client_events, server_events) = pair.drive();
    assert_eq!(
        server_events,
        [Event::Message(Message::from("a")), Event::Ping("p".into()), Event::Message(Message::Binary("bc".into()))]
    );
    assert_eq!(client_events, [Event::Message(Message::Binary("d".into())), Event::Pong("p".into())]);
    for conn in [&mut pair.client, &mut pair.server] {
        assert_eq!(conn.poll_event(), None);
        assert!(conn.poll_transmit().is_empty());
        assert_eq!(conn.buffered_amount(), 0);
        assert_eq!(conn.poll_timeout(), None, "no timer while open and idle");
    }
    pair.client.close(CloseCode::NORMAL, "", pair.now).unwrap();
    pair.drive();
    for conn in [&mut pair.client, &mut pair.server] {
        assert_eq!(conn.poll_event(), None);
        assert!(conn.poll_transmit().is_empty());
    }
}

#[test]
fn recv_buffer_path_gives_the_same_events_as_handle_read() {
    let mut wire = client_frame(OpCode::Text, false, "héllo ".as_bytes());
    wire.extend(client_frame(OpCode::Ping, true, b"x"));
    wire.extend(client_frame(OpCode::Continuation, true, "wörld".as_bytes()));
    wire.extend(client_frame(OpCode::Close, true, &close_payload(1000, b"")));

    let mut copied = Connection::new(Role::Server, &config(), Instant::now());
    let mut direct = Connection::new(Role::Server, &config(), Instant::now());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for piece in wire.chunks(3) {
        copied.handle_read(piece, Instant::now());
        a.extend(events(&mut copied));
        direct.recv_buffer().put_slice(piece);
        direct.handle_received(Instant::now());
        b.extend(events(&mut direct));
    }
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert_eq!(take_transmit(&mut copied), take_transmit(&mut direct));
}

#[test]
fn tampering_with_the_recv_buffer_cannot_panic() {
    let wire = client_frame(OpCode::Binary, true, &[9; 300]);
    for cut in [0, 1, 5, 8, 100] {
        let mut conn = Connection::new(Role::Server, &config(), Instant::now());
        conn.recv_buffer().put_slice(&wire[..150]);
        let _ = events(&mut conn);
        conn.recv_buffer().truncate(cut);
        let _ = events(&mut conn);
        conn.recv_buffer().put_slice(&wire[150..]);
        let _ = events(&mut conn);
        conn.recv_buffer().clear();
        conn.recv_buffer().put_slice(&[0xFF; 64]);
        let _ = events(&mut conn);
    }
}
