//! Size limits, tested at `limit` and `limit + 1` (refusals measured with a
//! counting allocator), and the write-buffer high-water mark.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::Instant;

use common::alloc::{measure, Counting};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, CloseReason, Config, Connection, DataKind, Event, Message, ProtocolError, Role, UsageError};

#[global_allocator]
static GLOBAL: Counting = Counting;

const TOO_BIG: CloseCode = CloseCode::MESSAGE_TOO_BIG;

fn limited(frame: usize, message: usize) -> Config {
    let mut config = config();
    config.max_frame_size = frame;
    config.max_message_size = message;
    config
}

#[test]
fn frame_size_limit() {
    let config = limited(1000, 10_000);
    let (events, _) = feed(Role::Server, &config, &client_frame(OpCode::Binary, true, &[1; 1000]));
    assert!(matches!(&events[..], [Event::Message(m)] if m.len() == 1000));
    // One byte over fails as soon as the header is in: only 8 bytes are fed.
    let wire = client_frame(OpCode::Binary, true, &[1; 1001]);
    let events = assert_fails(Role::Server, &config, &wire[..8], TOO_BIG);
    assert!(matches!(
        events.last(),
        Some(Event::Closed(CloseReason::Protocol(ProtocolError::FrameTooLarge { len: 1001, limit: 1000 })))
    ));
}

#[test]
fn message_size_limit_over_fragments() {
    let config = limited(1000, 2500);
    let mut wire = client_frame(OpCode::Text, false, &[b'a'; 1000]);
    wire.extend(client_frame(OpCode::Continuation, false, &[b'b'; 1000]));

    let mut at_limit = wire.clone();
    at_limit.extend(client_frame(OpCode::Continuation, true, &[b'c'; 500]));
    let (delivered, _) = feed(Role::Server, &config, &at_limit);
    assert!(matches!(&delivered[..], [Event::Message(Message::Text(t))] if t.len() == 2500));

    // One byte over: the last fragment's header alone is enough to refuse
    // it, and nothing is buffered for it.
    let mut server = Connection::server(&config, Instant::now());
    server.handle_read(&wire, Instant::now());
    assert!(events(&mut server).is_empty());
    let last = client_frame(OpCode::Continuation, true, &[b'c'; 501]);
    let (events, usage) = measure(|| {
        server.handle_read(&last[..8], Instant::now());
        events(&mut server)
    });
    assert_eq!(
        events,
        [Event::Closed(CloseReason::Protocol(ProtocolError::MessageTooLarge { len: 2501, limit: 2500 }))]
    );
    assert!(usage.peak < 4096, "refused at the header, nothing buffered for it: {usage:?}");
    let frames = sent_frames(&mut server);
    assert_eq!(frames.len(), 1, "only the close frame");
    assert_eq!(close_code_of(&frames[0]), Some(1009));
}

#[test]
fn single_frame_message_over_the_message_limit() {
    let config = limited(10_000, 100);
    let wire = client_frame(OpCode::Binary, true, &[0; 101]);
    assert_fails(Role::Server, &config, &wire[..8], TOO_BIG);
}

#[test]
fn huge_declared_lengths_fail_without_allocating_for_them() {
    let limit = 1 << 20;
    let cases: [(&[u8], ProtocolError); 3] = [
        // 2^63 - 1: a legal encoding, far over any limit.
        (
            &[0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4],
            ProtocolError::FrameTooLarge { len: (1 << 63) - 1, limit },
        ),
        // The top bit set: not a legal length at all.
        (&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], ProtocolError::LengthOverflow),
        // One byte over a 1 MiB frame limit (the 16-bit length form can't say it: 64-bit form).
        (
            &[0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4],
            ProtocolError::FrameTooLarge { len: limit as u64 + 1, limit },
        ),
    ];
    for (wire, expected) in cases {
        let mut config = config();
        config.max_frame_size = limit;
        let mut server = Connection::server(&config, Instant::now());
        server.handle_read(wire, Instant::now());
        let (events, usage) = measure(|| events(&mut server));
        assert_eq!(events, [Event::Closed(CloseReason::Protocol(expected.clone()))], "{wire:02x?}");
        // Decoding the header and queueing the close frame: a few small buffers.
        assert!(usage.peak < 4096, "{wire:02x?}: {usage:?}");
        let frames = sent_frames(&mut server);
        assert_eq!(frames.len(), 1, "{wire:02x?}: only the close frame");
        assert_eq!(close_code_of(&frames[0]), Some(expected.close_code().0), "{wire:02x?}");
    }
}

#[test]
fn write_buffer_high_water_mark() {
    let mut config = config();
    config.write_buffer_limit = 1000;
    let mut server = Connection::server(&config, Instant::now());
    server.send_binary(&[0; 600]).unwrap();
    server.send_binary(&[0; 600]).unwrap(); // under the mark when queued: accepted
    assert_eq!(server.buffered_amount(), 1208);
    assert_eq!(server.send_binary(b"x"), Err(UsageError::WriteBufferFull { buffered: 1208, limit: 1000 }));
    assert_eq!(server.send_fragment(DataKind::Binary, b"x", true), server.send_binary(b"x"));
    // Control frames are not held back by it.
    server.ping(b"still alive").unwrap();
    server.advance_transmit(300);
    assert_eq!(server.buffered_amount(), 1208 + 13 - 300);
    server.send_binary(b"x").unwrap();
}

#[test]
fn a_ping_flood_to_a_peer_that_never_reads_stays_bounded() {
    let mut config = config();
    config.write_buffer_limit = 4096;
    let mut server = Connection::server(&config, Instant::now());
    let ping = client_frame(OpCode::Ping, true, &[7; 125]);
    let batch: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 100).collect();
    for _ in 0..100 {
        server.handle_read(&batch, Instant::now());
        assert_eq!(events(&mut server).len(), 100);
        // The transport would block: nothing is written, and the queue holds
        // at most the limit plus one pong all along.
        assert!(server.buffered_amount() <= 4096 + 127, "{}", server.buffered_amount());
    }
    // What was queued is pongs only, as many as the limit holds.
    let frames = sent_frames(&mut server);
    assert!(frames.iter().all(|f| f.header.opcode == OpCode::Pong && f.payload[..] == [7; 125]));
    assert!(frames.len() >= 4096 / 127, "{} pongs", frames.len());
}

#[test]
fn receive_buffer_grows_to_the_frame_not_to_double_it() {
    let len = 3 << 20;
    let wire = client_frame(OpCode::Binary, true, &vec![5; len]);
    let mut server = Connection::server(&config(), Instant::now());
    let mut peak = 0;
    for piece in wire.chunks(64 << 10) {
        server.handle_read(piece, Instant::now());
        peak = peak.max(server.recv_buffer(0).capacity());
        if let Some(Event::Message(message)) = server.poll_event() {
            assert_eq!(message.len(), len);
        }
    }
    // Plain doubling would reach 4 MiB; growth stops at the frame's end.
    assert!(peak <= len + (64 << 10), "peak capacity {peak}");
}

#[test]
fn a_message_at_the_limit_is_assembled_with_growth_capped_by_the_limit() {
    let config = limited(1 << 20, 3_000_000);
    let mut server = Connection::server(&config, Instant::now());
    let piece = vec![b'a'; 1 << 20];
    server.handle_read(&client_frame(OpCode::Binary, false, &piece), Instant::now());
    server.handle_read(&client_frame(OpCode::Continuation, false, &piece), Instant::now());
    let tail = vec![b'b'; 3_000_000 - (2 << 20)];
    server.handle_read(&client_frame(OpCode::Continuation, true, &tail), Instant::now());
    let events = events(&mut server);
    let [Event::Message(Message::Binary(data))] = &events[..] else { panic!("{events:?}") };
    assert_eq!(data.len(), 3_000_000);
}
