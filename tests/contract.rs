//! The caller contract of the run loop (crate docs, "The run loop"): after
//! draining, nothing is left to send or report; the zero-copy receive path
//! behaves like `handle_read`; misuse of it garbles the stream but cannot
//! panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::IoSlice;
use std::time::Instant;

use bytes::{BufMut, Bytes};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, CloseReason, Connection, DataKind, Event, Message, ProtocolError, Role, State};

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
    assert_eq!(
        client_events,
        [Event::Message(Message::Binary("d".into())), Event::Pong { payload: "p".into(), rtt: None }]
    );
    for conn in [&mut pair.client, &mut pair.server] {
        assert_eq!(conn.poll_event(), None);
        assert!(conn.poll_transmit().is_empty());
        assert_eq!(conn.buffered_amount(), 0);
        let heartbeat = config().ping_interval.map(|interval| pair.now + interval);
        assert_eq!(conn.poll_timeout(), heartbeat, "no timer but the heartbeat's while open and idle");
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

    let mut copied = Connection::server(&config(), Instant::now());
    let mut direct = Connection::server(&config(), Instant::now());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for piece in wire.chunks(3) {
        copied.handle_read(piece, Instant::now());
        a.extend(events(&mut copied));
        direct.recv_buffer(piece.len()).put_slice(piece);
        direct.handle_received(Instant::now());
        b.extend(events(&mut direct));
    }
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert_eq!(take_transmit(&mut copied), take_transmit(&mut direct));
}

#[test]
fn releasing_idle_buffers_between_any_two_bytes_loses_nothing() {
    // An adapter releases the buffers whenever a read would wait, which can
    // be anywhere in a frame; also with a reply still queued.
    let mut wire = client_frame(OpCode::Text, false, "héllo ".as_bytes());
    wire.extend(client_frame(OpCode::Ping, true, b"ping"));
    wire.extend(client_frame(OpCode::Continuation, true, &[b'w'; 300]));
    let mut reference = Connection::server(&config(), Instant::now());
    reference.handle_read(&wire, Instant::now());
    let expected = events(&mut reference);
    let expected_out = take_transmit(&mut reference);
    assert_eq!(expected.len(), 2, "{expected:?}");
    for step in [1, 2, 7, 150] {
        let mut conn = Connection::server(&config(), Instant::now());
        let mut got = Vec::new();
        for piece in wire.chunks(step) {
            conn.release_idle_buffers();
            conn.recv_buffer(piece.len()).put_slice(piece);
            conn.handle_received(Instant::now());
            got.extend(events(&mut conn));
        }
        conn.release_idle_buffers();
        assert_eq!(got, expected, "pieces of {step}");
        assert_eq!(take_transmit(&mut conn), expected_out, "pieces of {step}: the pong survives");
    }
}

#[test]
fn tampering_with_the_recv_buffer_garbles_the_frame_but_cannot_panic_or_overrun_it() {
    // `recv_buffer` documents that removing bytes corrupts the stream. The
    // decoder keeps the declared length: whatever arrives after the header
    // is payload until 300 bytes are in, so the garbage comes out as one
    // 300-byte message, and the first 0xFF after it is a header with a
    // reserved opcode: 1002.
    let wire = client_frame(OpCode::Binary, true, &[9; 300]);
    for cut in [0, 1, 5, 8, 100] {
        let mut conn = Connection::server(&config(), Instant::now());
        conn.recv_buffer(0).put_slice(&wire[..150]);
        assert_eq!(events(&mut conn), [], "cut {cut}: half a frame");
        conn.recv_buffer(0).truncate(cut);
        assert_eq!(events(&mut conn), [], "cut {cut}: truncated");
        conn.recv_buffer(0).put_slice(&wire[150..]);
        assert_eq!(events(&mut conn), [], "cut {cut}: the rest, after the truncation");
        conn.recv_buffer(0).clear();
        conn.recv_buffer(0).put_slice(&[0xFF; 64]);
        assert_eq!(events(&mut conn), [], "cut {cut}: cleared, then garbage");
        conn.recv_buffer(0).put_slice(&[0xFF; 300]);
        let events = events(&mut conn);
        match &events[..] {
            [Event::Message(Message::Binary(garbage)), Event::Closed(CloseReason::Protocol(err))] => {
                assert_eq!(garbage.len(), 300, "cut {cut}: the declared length is kept");
                assert_eq!(*err, ProtocolError::UnknownOpcode(0xF), "cut {cut}");
            }
            other => panic!("cut {cut}: expected the garbled frame then a protocol error, got {other:?}"),
        }
        assert_eq!(conn.state(), State::Closed);
        let frames = sent_frames(&mut conn);
        assert_eq!(frames.len(), 1, "cut {cut}: only the close frame");
        assert_eq!(close_code_of(&frames[0]), Some(1002), "cut {cut}");
    }
}

/// An endpoint that follows the crate docs' run loop literally over an
/// in-memory pipe: drain events, write, maybe close, then block on input.
struct Endpoint {
    conn: Connection,
    events: Vec<Event>,
    transport_closed: bool,
}

impl Endpoint {
    /// Runs the loop until it would block. `inbox` holds bytes the peer wrote;
    /// `peer_closed` says the peer closed its transport.
    fn run_until_blocked(&mut self, inbox: &mut Vec<u8>, peer_closed: bool, outbox: &mut Vec<u8>, echo: bool) {
        let now = Instant::now();
        let mut eof_fed = false;
        for _ in 0..1000 {
            while let Some(event) = self.conn.poll_event() {
                if let (true, Event::Message(message)) = (echo, &event) {
                    self.conn.send(message).expect("an open connection echoes");
                }
                self.events.push(event);
            }
            let bytes = self.conn.poll_transmit().to_vec();
            self.conn.advance_transmit(bytes.len());
            outbox.extend(bytes);
            if self.conn.should_close_transport() {
                self.transport_closed = true;
                return;
            }
            if !inbox.is_empty() {
                let bytes = std::mem::take(inbox);
                self.conn.handle_read(&bytes, now);
            } else if peer_closed && !eof_fed {
                eof_fed = true;
                self.conn.handle_eof(now);
            } else {
                return; // blocked on the transport
            }
        }
        panic!("the loop never blocked");
    }
}

#[test]
fn the_documented_run_loop_never_blocks_with_replies_unsent() {
    let now = Instant::now();
    let mut client =
        Endpoint { conn: Connection::client(&config(), now, [42; 32]), events: vec![], transport_closed: false };
    let mut server = Endpoint { conn: Connection::server(&config(), now), events: vec![], transport_closed: false };
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());

    client.conn.ping(b"are you there").unwrap();
    client.conn.send_text("echo me").unwrap();
    client.run_until_blocked(&mut to_client, false, &mut to_server, false);
    server.run_until_blocked(&mut to_server, false, &mut to_client, true);
    client.run_until_blocked(&mut to_client, false, &mut to_server, false);
    assert_eq!(
        client.events,
        [Event::Pong { payload: "are you there".into(), rtt: None }, Event::Message(Message::from("echo me"))],
        "the pong and the echo must be written in the iteration that produced them"
    );

    client.conn.close(CloseCode::NORMAL, "bye", now).unwrap();
    client.run_until_blocked(&mut to_client, false, &mut to_server, false);
    server.run_until_blocked(&mut to_server, false, &mut to_client, true);
    assert!(server.transport_closed, "the server closes once its close reply is written");
    client.run_until_blocked(&mut to_client, server.transport_closed, &mut to_server, false);
    assert!(client.transport_closed, "the client closes after the server's EOF");
    assert!(matches!(client.events.last(), Some(Event::Closed(reason)) if reason.was_clean()));
    assert!(to_server.is_empty() && to_client.is_empty(), "nothing left unsent");
}

#[test]
fn the_documented_run_loop_sends_the_close_frame_of_a_protocol_error() {
    let now = Instant::now();
    let mut server = Endpoint { conn: Connection::server(&config(), now), events: vec![], transport_closed: false };
    let mut inbox = client_frame(OpCode::Continuation, true, b"no message to continue");
    let mut outbox = Vec::new();
    server.run_until_blocked(&mut inbox, false, &mut outbox, true);
    assert!(server.transport_closed);
    let mut decoder = rfc6455::frame::FrameDecoder::new(Role::Client, 1 << 20);
    let frame = decoder.decode(&mut bytes::BytesMut::from(&outbox[..])).unwrap().unwrap();
    assert_eq!(close_code_of(&frame), Some(1002));
}

/// Bytes that differ from position to position.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

// ----- vectored transmit ---------------------------------------------------------------------------------------------

/// Queues a mix of small frames, shared payloads and copied payloads.
fn queue_mix(conn: &mut Connection, big: &Bytes) -> Vec<Message> {
    let text = Message::from("x".repeat(5000));
    conn.send_text("a").unwrap();
    conn.send(&Message::Binary(big.clone())).unwrap();
    conn.ping(b"p").unwrap();
    conn.send(&text).unwrap();
    conn.send_binary(&[1; 5000]).unwrap();
    conn.send(&Message::Binary(Bytes::from_static(&[2; 100]))).unwrap();
    vec![
        Message::from("a"),
        Message::Binary(big.clone()),
        text,
        Message::Binary(vec![1; 5000].into()),
        Message::Binary(vec![2; 100].into()),
    ]
}

/// Writes the queue out through `poll_transmit_vectored` in writes of at most
/// `max_write` bytes, as a transport with partial writes would; returns the
/// bytes and whether a slice pointed into `shared`.
fn write_vectored(conn: &mut Connection, max_write: usize, shared: &Bytes) -> (Vec<u8>, bool) {
    let (mut wire, mut aliased) = (Vec::new(), false);
    for _ in 0..100_000 {
        let mut slices = [IoSlice::new(&[]); 4];
        let filled = conn.poll_transmit_vectored(&mut slices);
        if filled == 0 {
            return (wire, aliased);
        }
        let mut written = 0;
        for slice in &slices[..filled] {
            aliased |= shared.as_ptr_range().contains(&slice.as_ptr());
            let take = slice.len().min(max_write - written);
            wire.extend_from_slice(&slice[..take]);
            written += take;
        }
        conn.advance_transmit(written);
    }
    panic!("the queue never drained");
}

#[test]
fn vectored_transmit_shares_large_payloads_in_frame_order() {
    let big = Bytes::from(pattern(20_000));
    for max_write in [1, 3, 4096, 1 << 20] {
        let mut server = Connection::server(&config(), Instant::now());
        server.set_vectored_transmit(true);
        let expected = queue_mix(&mut server, &big);
        let queued = server.buffered_amount();
        assert!(server.poll_transmit().len() < queued, "the big payload is a run of its own");
        let (wire, aliased) = write_vectored(&mut server, max_write, &big);
        assert!(aliased, "the 20 KB payload was written from the caller's Bytes, not a copy");
        assert_eq!(wire.len(), queued);
        assert_eq!(server.buffered_amount(), 0);
        let (events, _) = feed(Role::Client, &config(), &wire);
        let messages: Vec<Message> =
            events.into_iter().filter_map(|e| if let Event::Message(m) = e { Some(m) } else { None }).collect();
        assert_eq!(messages, expected, "writes of {max_write}");
    }
}

#[test]
fn without_vectored_transmit_everything_is_one_copied_run() {
    let big = Bytes::from(pattern(20_000));
    let mut server = Connection::server(&config(), Instant::now());
    let expected = queue_mix(&mut server, &big);
    assert_eq!(server.poll_transmit().len(), server.buffered_amount());
    let (wire, aliased) = write_vectored(&mut server, 1 << 20, &big);
    assert!(!aliased);
    let (events, _) = feed(Role::Client, &config(), &wire);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::Message(_))).count(), expected.len());
}

#[test]
fn clients_mask_a_copy_even_with_vectored_transmit() {
    let big = Bytes::from(pattern(20_000));
    let mut client = Connection::client(&config(), Instant::now(), [42; 32]);
    client.set_vectored_transmit(true);
    let expected = queue_mix(&mut client, &big);
    let (wire, aliased) = write_vectored(&mut client, 1 << 20, &big);
    assert!(!aliased, "a client never writes the caller's bytes: they must be masked");
    assert_eq!(big, Bytes::from(pattern(20_000)), "the caller's payload is untouched");
    let (events, _) = feed(Role::Server, &config(), &wire);
    let messages: Vec<Message> =
        events.into_iter().filter_map(|e| if let Event::Message(m) = e { Some(m) } else { None }).collect();
    assert_eq!(messages, expected);
}

/// A client masks a large shared payload into a small stage as it is
/// written, never into a copy of its whole size; whatever the write sizes,
/// the server reads back every message, in order.
#[test]
fn clients_mask_a_large_shared_payload_a_piece_at_a_time() {
    // Under the default 1 MiB write buffer limit with the rest queued.
    let big = Bytes::from(pattern(1000 << 10));
    for max_write in [4095, 100_000, 1 << 21] {
        let mut client = Connection::client(&config(), Instant::now(), [7; 32]);
        client.set_vectored_transmit(true);
        client.send_text("before").unwrap();
        client.send(&Message::Binary(big.clone())).unwrap();
        client.send(&Message::Binary(big.slice(..5000))).unwrap();
        client.send_text("after").unwrap();
        let mut longest = 0;
        let mut wire = Vec::new();
        for _ in 0..10_000 {
            let mut slices = [IoSlice::new(&[]); 8];
            let filled = client.poll_transmit_vectored(&mut slices);
            if filled == 0 {
                break;
            }
            longest = slices[..filled].iter().map(|s| s.len()).max().unwrap_or(0).max(longest);
            let mut written = 0;
            for slice in &slices[..filled] {
                let take = slice.len().min(max_write - written);
                wire.extend_from_slice(&slice[..take]);
                written += take;
            }
            client.advance_transmit(written);
        }
        assert_eq!(client.buffered_amount(), 0, "the queue drained");
        assert!(longest <= 256 << 10, "runs of at most one 256 KiB piece, not {longest}");
        assert_eq!(big, Bytes::from(pattern(1000 << 10)), "the caller's payload is untouched");
        assert_eq!(
            server_messages(&wire),
            [
                Message::from("before"),
                Message::Binary(big.clone()),
                Message::Binary(big.slice(..5000)),
                Message::from("after")
            ],
            "writes of {max_write}"
        );
    }
}

/// `send_owned`: a client masks a payload it alone holds in place and
/// writes it from that allocation; a payload someone else still holds is
/// masked in a copy and left untouched; the server reads both back whole.
#[test]
fn a_client_masks_an_owned_payload_in_place_and_never_a_shared_one() {
    for max_write in [1, 4096, 1 << 20] {
        let mut client = Connection::client(&config(), Instant::now(), [42; 32]);
        client.set_vectored_transmit(true);

        // Held twice: masked in a copy, the caller's bytes untouched.
        let held = Bytes::from(pattern(20_000));
        client.send_owned(Message::Binary(held.clone())).unwrap();
        let (wire, aliased) = write_vectored(&mut client, max_write, &held);
        assert!(!aliased, "a payload held elsewhere is never masked in place");
        assert_eq!(held, Bytes::from(pattern(20_000)), "the caller's bytes are untouched");
        let mut messages = server_messages(&wire);

        // The only reference: masked where it lies and written from there.
        let sole = Bytes::from(pattern(30_000));
        let sole_range = sole.as_ptr_range();
        client.send_text("before").unwrap();
        client.send_owned(Message::Binary(sole)).unwrap();
        client.send_text("after").unwrap();
        let mut slices = [IoSlice::new(&[]); 4];
        let filled = client.poll_transmit_vectored(&mut slices);
        assert!(
            slices[..filled].iter().any(|slice| sole_range.contains(&slice.as_ptr())),
            "the sole reference is written from its own allocation"
        );
        let (wire, _) = write_vectored(&mut client, max_write, &Bytes::new());
        messages.extend(server_messages(&wire));
        assert_eq!(
            messages,
            [
                Message::Binary(pattern(20_000).into()),
                Message::from("before"),
                Message::Binary(pattern(30_000).into()),
                Message::from("after")
            ],
            "writes of {max_write}"
        );
    }
}

/// `send_owned` keeps `send`'s rules: after our close it refuses.
#[test]
fn send_owned_refuses_after_close_like_send() {
    let mut client = Connection::client(&config(), Instant::now(), [1; 32]);
    client.set_vectored_transmit(true);
    client.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    let refused = client.send_owned(Message::Binary(Bytes::from(pattern(10_000))));
    assert_eq!(refused, Err(rfc6455::UsageError::Closed));
    assert_eq!(client.send(&Message::from("x")), Err(rfc6455::UsageError::Closed));
}

fn server_messages(wire: &[u8]) -> Vec<Message> {
    let (events, _) = feed(Role::Server, &config(), wire);
    events.into_iter().filter_map(|e| if let Event::Message(m) = e { Some(m) } else { None }).collect()
}
