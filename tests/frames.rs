//! RFC 6455 §5.7 byte-exact examples, through the public connection API.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Connection, DataKind, Event, Message, Role};

const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const MASKED_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

fn hello() -> Event {
    Event::Message(Message::from("Hello"))
}

#[test]
fn client_receives_unmasked_hello() {
    let (events, frames) = feed(Role::Client, &config(), &UNMASKED_HELLO);
    assert_eq!(events, [hello()]);
    assert!(frames.is_empty());
}

#[test]
fn server_receives_masked_hello() {
    let (events, _) = feed(Role::Server, &config(), &MASKED_HELLO);
    assert_eq!(events, [hello()]);
}

#[test]
fn fragmented_hello() {
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let (events, _) = feed(Role::Client, &config(), &wire);
    assert_eq!(events, [hello()]);
}

#[test]
fn every_example_decodes_identically_one_byte_at_a_time() {
    let mut conn = Connection::server(&config(), Instant::now());
    let mut seen = Vec::new();
    for byte in MASKED_HELLO {
        conn.handle_read(&[byte], Instant::now());
        seen.extend(events(&mut conn));
    }
    assert_eq!(seen, [hello()]);
}

#[test]
fn ping_is_answered_with_a_masked_pong_carrying_the_same_payload() {
    // §5.7: unmasked ping "Hello" from the server to the client.
    let mut client = Connection::client(&config(), Instant::now(), [42; 32]);
    client.handle_read(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], Instant::now());
    assert_eq!(events(&mut client), [Event::Ping(Bytes::from_static(b"Hello"))]);
    let wire = take_transmit(&mut client);
    // A masked pong: 0x8A, 0x85, 4 key bytes, 5 masked payload bytes.
    assert_eq!(wire.len(), 11);
    assert_eq!(wire[..2], [0x8a, 0x85]);
    let key = &wire[2..6];
    let unmasked: Vec<u8> = wire[6..].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
    assert_eq!(unmasked, b"Hello");
}

#[test]
fn server_output_matches_rfc_bytes() {
    let mut server = Connection::server(&config(), Instant::now());
    server.send_text("Hello").unwrap();
    assert_eq!(take_transmit(&mut server), UNMASKED_HELLO);

    server.send_fragment(DataKind::Text, b"Hel", false).unwrap();
    server.send_fragment(DataKind::Text, b"lo", true).unwrap();
    assert_eq!(take_transmit(&mut server), [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);

    server.ping(b"Hello").unwrap();
    assert_eq!(take_transmit(&mut server), [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

    server.send_binary(&[7; 256]).unwrap();
    let wire = take_transmit(&mut server);
    assert_eq!(wire[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(wire.len(), 4 + 256);

    server.send_binary(&[7; 65536]).unwrap();
    let wire = take_transmit(&mut server);
    assert_eq!(wire[..10], [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
    assert_eq!(wire.len(), 10 + 65536);
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    let mut client = Connection::client(&config(), Instant::now(), [42; 32]);
    for _ in 0..8 {
        client.send_text("Hello").unwrap();
    }
    let frames = sent_frames(&mut client);
    assert_eq!(frames.len(), 8);
    let keys: std::collections::HashSet<_> = frames.iter().map(|f| f.header.mask.unwrap()).collect();
    assert_eq!(keys.len(), 8, "each frame needs its own masking key");
    assert!(frames.iter().all(|f| &f.payload[..] == b"Hello"));
}

#[test]
fn the_seed_decides_the_masks_same_seed_same_wire() {
    let wire = |seed| {
        let mut client = Connection::client(&config(), Instant::now(), seed);
        client.send_binary(b"x").unwrap();
        take_transmit(&mut client)
    };
    assert_eq!(wire([1; 32]), wire([1; 32]));
    assert_ne!(wire([1; 32]), wire([2; 32]));
}

#[test]
fn large_binary_message_arrives_whole_across_chunked_reads() {
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let wire = client_frame(OpCode::Binary, true, &payload);
    let mut server = Connection::server(&config(), Instant::now());
    for piece in wire.chunks(4096) {
        server.handle_read(piece, Instant::now());
        let events = events(&mut server);
        if let Some(Event::Message(Message::Binary(data))) = events.first() {
            assert_eq!(data[..], payload[..]);
            return;
        }
        assert!(events.is_empty());
    }
    panic!("message never arrived");
}
