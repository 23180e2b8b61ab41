//! Incremental parsing of the handshake head and the bytes around it: heads
//! fed a byte at a time, frames that arrive in the same read as the head or
//! split across the hand-off to the connection, the zero-copy receive
//! buffer, and request bytes the client has not written yet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::handshake::*;
use rfc6455::frame::OpCode;
use rfc6455::handshake::{Accept, ServerHandshake};
use rfc6455::{Event, Message};

#[test]
fn server_fed_one_byte_at_a_time_completes_on_the_last_head_byte_and_keeps_early_frames() {
    let head = request_with(&[], &["Origin: http://example.com"]);
    let mut wire = head.clone();
    wire.extend(common::client_frame(OpCode::Text, true, b"early"));
    wire.extend(common::client_frame(OpCode::Binary, true, &[9, 8, 7]));

    let mut hs = ServerHandshake::new(&config());
    for (i, byte) in wire.iter().enumerate() {
        hs.handle_read(&[*byte]);
        let status = hs.poll_request().unwrap();
        assert_eq!(status.is_complete(), i + 1 >= head.len(), "after {} bytes", i + 1);
    }
    let mut server = hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert!(text(&take(&mut server)).starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert_eq!(
        common::events(&mut server),
        [Event::Message(Message::from("early")), Event::Message(Message::Binary(Bytes::from_static(&[9, 8, 7]))),]
    );
}

#[test]
fn server_keeps_a_masked_frame_sent_in_the_same_read_as_the_request() {
    let request = chat_request();
    let client_hs = client_handshake(&request);
    let mut wire = client_hs.poll_transmit().to_vec();
    wire.extend(common::client_frame(OpCode::Text, true, b"hi"));
    let mut hs = ServerHandshake::new(&config());
    hs.handle_read(&wire);
    assert!(hs.poll_request().unwrap().is_complete());
    let mut server = hs.accept(&Accept::new(), Instant::now()).unwrap();
    assert_eq!(common::events(&mut server), [Event::Message(Message::from("hi"))]);
}

#[test]
fn client_fed_one_byte_at_a_time_completes_on_the_last_head_byte_and_keeps_early_frames() {
    let head = switching_response(&[], &[]);
    let mut wire = head.clone();
    wire.extend(common::server_frame(OpCode::Text, true, b"welcome"));
    wire.extend(common::server_frame(OpCode::Ping, true, b"p"));

    let request = chat_request();
    let mut hs = client_handshake(&request);
    let written = hs.poll_transmit().len();
    hs.advance_transmit(written);
    for (i, byte) in wire.iter().enumerate() {
        hs.handle_read(&[*byte]);
        let status = hs.poll_response().unwrap();
        assert_eq!(status.is_complete(), i + 1 >= head.len(), "after {} bytes", i + 1);
    }
    let mut client = hs.into_connection(Instant::now()).unwrap();
    assert_eq!(
        common::events(&mut client),
        [Event::Message(Message::from("welcome")), Event::Ping(Bytes::from_static(b"p"))]
    );
    // The automatic pong goes out, masked.
    let frames = common::sent_frames(&mut client);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].header.opcode, OpCode::Pong);
    assert_eq!(&frames[0].payload[..], b"p");
}

#[test]
fn client_keeps_a_frame_the_server_sent_right_after_its_101() {
    let now = Instant::now();
    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    assert!(server_hs.poll_request().unwrap().is_complete());
    let mut server = server_hs.accept(&Accept::new(), now).unwrap();
    server.send_text("first").unwrap();
    server.send_text("second").unwrap();

    // The 101 and both frames arrive in one read.
    client_hs.handle_read(&take(&mut server));
    assert!(client_hs.poll_response().unwrap().is_complete());
    let mut client = client_hs.into_connection(now).unwrap();
    assert_eq!(
        common::events(&mut client),
        [Event::Message(Message::from("first")), Event::Message(Message::from("second"))]
    );
}

#[test]
fn a_frame_split_between_handshake_and_connection_is_reassembled() {
    let now = Instant::now();
    let frame = common::server_frame(OpCode::Text, true, b"split across the hand-off");
    let (early, late) = frame.split_at(5);
    let mut wire = switching_response(&[], &[]);
    wire.extend_from_slice(early);

    let request = chat_request();
    let mut hs = client_handshake(&request);
    hs.handle_read(&wire);
    assert!(hs.poll_response().unwrap().is_complete());
    let mut client = hs.into_connection(now).unwrap();
    assert_eq!(client.poll_event(), None);
    client.handle_read(late, now);
    assert_eq!(common::events(&mut client), [Event::Message(Message::from("split across the hand-off"))]);
}

#[test]
fn reading_into_the_receive_buffer_works_like_handle_read() {
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.recv_buffer().extend_from_slice(&request_with(&[], &[]));
    assert!(server_hs.poll_request().unwrap().is_complete());

    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    client_hs.recv_buffer().extend_from_slice(&switching_response(&[], &[]));
    assert!(client_hs.poll_response().unwrap().is_complete());
}

#[test]
fn client_transmit_supports_partial_writes() {
    let request = chat_request();
    let mut hs = client_handshake(&request);
    let full = hs.poll_transmit().to_vec();
    assert_eq!(text(&full), plain_request("/chat", "server.example.com"));
    hs.advance_transmit(10);
    assert_eq!(hs.poll_transmit(), &full[10..]);
    hs.advance_transmit(full.len());
    assert!(hs.poll_transmit().is_empty());
}

#[test]
fn unwritten_request_bytes_move_to_the_connection() {
    let request = chat_request();
    let mut client_hs = client_handshake(&request);
    let full = client_hs.poll_transmit().to_vec();
    client_hs.advance_transmit(10); // a partial write, then the response arrives
    client_hs.handle_read(&switching_response(&[], &[]));
    assert!(client_hs.poll_response().unwrap().is_complete());
    let mut client = client_hs.into_connection(Instant::now()).unwrap();
    assert_eq!(client.poll_transmit(), &full[10..]);
}
