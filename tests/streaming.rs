//! Messages received in parts (`Connection::set_message_streaming`): the
//! bytes come out whole and in order whatever the reads and frames, UTF-8 is
//! still checked across parts, limits still hold, control frames still come
//! between parts, and memory stays bounded by the reads, not the message.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::alloc::{measure, Counting};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, CloseReason, Config, Connection, DataKind, Event, Message, MessagePart};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn streaming_server(config: &Config) -> Connection {
    let mut server = Connection::server(config, Instant::now());
    server.set_message_streaming(true);
    server
}

/// Feeds `wire` in reads of `read` bytes; returns every event.
fn feed_in_reads(conn: &mut Connection, wire: &[u8], read: usize) -> Vec<Event> {
    let mut all = Vec::new();
    for piece in wire.chunks(read) {
        conn.handle_read(piece, Instant::now());
        all.extend(events(conn));
    }
    all
}

/// The messages the parts add up to, checking the first/last flags.
fn reassemble(events: &[Event]) -> Vec<(DataKind, Vec<u8>)> {
    let mut messages = Vec::new();
    let mut open: Option<(DataKind, Vec<u8>)> = None;
    for event in events {
        let Event::Part(MessagePart { kind, data, first, last }) = event else { continue };
        assert_eq!(*first, open.is_none(), "first marks exactly a message's first part");
        let (open_kind, bytes) = open.get_or_insert_with(|| (*kind, Vec::new()));
        assert_eq!(open_kind, kind, "one kind per message");
        bytes.extend_from_slice(data);
        if *last {
            messages.push(open.take().unwrap());
        }
    }
    assert!(open.is_none(), "every message was finished");
    messages
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn parts_add_up_to_the_messages_for_every_read_size_and_fragmentation() {
    let big = pattern(50_000);
    let text = "añ€😀 ".repeat(3000); // characters of 1 to 4 bytes, cut everywhere
    let mut wire = client_frame(OpCode::Binary, true, &big);
    let bytes = text.as_bytes();
    wire.extend(client_frame(OpCode::Text, false, &bytes[..7001]));
    wire.extend(client_frame(OpCode::Continuation, false, &bytes[7001..7001]));
    wire.extend(client_frame(OpCode::Continuation, true, &bytes[7001..]));
    wire.extend(client_frame(OpCode::Binary, true, b""));
    for read in [1, 2, 3, 7, 100, 4096, 65536, 1 << 20] {
        let mut server = streaming_server(&config());
        let events = feed_in_reads(&mut server, &wire, read);
        assert!(events.iter().all(|e| matches!(e, Event::Part(_))), "reads of {read}: {events:?}");
        let messages = reassemble(&events);
        assert_eq!(
            messages,
            [(DataKind::Binary, big.clone()), (DataKind::Text, bytes.to_vec()), (DataKind::Binary, Vec::new())],
            "reads of {read}"
        );
        if read < 4096 {
            assert!(events.len() > 10, "small reads give many parts: {}", events.len());
        }
    }
}

#[test]
fn a_ping_between_fragments_comes_between_parts_and_is_answered() {
    let mut wire = client_frame(OpCode::Binary, false, &pattern(1000));
    wire.extend(client_frame(OpCode::Ping, true, b"hi"));
    wire.extend(client_frame(OpCode::Continuation, true, &pattern(10)));
    let mut server = streaming_server(&config());
    let events = feed_in_reads(&mut server, &wire, 300);
    let ping = events.iter().position(|e| *e == Event::Ping("hi".into())).expect("the ping");
    assert!(matches!(&events[ping - 1], Event::Part(p) if !p.last));
    assert!(matches!(&events[ping + 1..], [.., Event::Part(p)] if p.last));
    let mut expected = pattern(1000);
    expected.extend(pattern(10));
    assert_eq!(reassemble(&events), [(DataKind::Binary, expected)]);
    let answered = sent_frames(&mut server);
    assert_eq!(answered[0].header.opcode, OpCode::Pong);
}

#[test]
fn invalid_utf8_fails_with_1007_before_the_part_holding_it_is_handed_out() {
    let mut payload = "valid text ".repeat(100).into_bytes();
    payload.extend_from_slice(&[0xC3, 0x28]); // an impossible sequence
    payload.extend_from_slice(b"more");
    let wire = client_frame(OpCode::Text, true, &payload);
    let mut server = streaming_server(&config());
    let events = feed_in_reads(&mut server, &wire, 256);
    let handed_out: Vec<u8> = events
        .iter()
        .filter_map(|e| if let Event::Part(p) = e { Some(p.data.to_vec()) } else { None })
        .flatten()
        .collect();
    assert!(std::str::from_utf8(&handed_out).is_ok(), "only valid UTF-8 was handed out");
    assert!(handed_out.len() < 1100);
    assert!(matches!(events.last(), Some(Event::Closed(CloseReason::Protocol(_)))), "{:?}", events.last());
    let frames = sent_frames(&mut server);
    assert_eq!(close_code_of(frames.last().unwrap()), Some(1007));

    // A character cut off by the message's end.
    let wire = client_frame(OpCode::Text, true, &[b'a', 0xE2, 0x82]);
    let mut server = streaming_server(&config());
    feed_in_reads(&mut server, &wire, 1);
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(1007));
}

#[test]
fn the_message_limit_holds_across_streamed_fragments() {
    let mut config = Config::default();
    config.max_message_size = 10_000;
    let mut wire = client_frame(OpCode::Binary, false, &pattern(6000));
    wire.extend(client_frame(OpCode::Continuation, true, &pattern(6000)));
    let mut server = streaming_server(&config);
    feed_in_reads(&mut server, &wire, 1000);
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(CloseCode::MESSAGE_TOO_BIG.0));
}

#[test]
fn a_message_begun_whole_stays_whole_and_the_next_one_streams() {
    let mut server = Connection::server(&config(), Instant::now());
    let mut wire = client_frame(OpCode::Text, false, b"first ");
    wire.extend(client_frame(OpCode::Continuation, true, b"message"));
    wire.extend(client_frame(OpCode::Binary, true, &pattern(5000)));
    server.handle_read(&wire[..10], Instant::now());
    assert!(events(&mut server).is_empty());
    server.set_message_streaming(true);
    let got = feed_in_reads(&mut server, &wire[10..], 1000);
    assert_eq!(got[0], Event::Message(Message::text("first message")));
    assert_eq!(reassemble(&got[1..]), [(DataKind::Binary, pattern(5000))]);

    // And back: whole messages again from the next one.
    server.set_message_streaming(false);
    server.handle_read(&client_frame(OpCode::Binary, true, b"whole"), Instant::now());
    assert_eq!(events(&mut server), [Event::Message(Message::binary(&b"whole"[..]))]);
}

/// The point of streaming: a 64 MiB frame in 64 KiB reads, handed on and
/// dropped part by part, costs about one read of memory, not the frame.
#[test]
fn a_huge_frame_costs_memory_for_the_reads_only() {
    let len = 64 << 20;
    let mut config = Config::default();
    config.max_frame_size = len;
    config.max_message_size = len;
    let wire = client_frame(OpCode::Binary, true, &vec![0x5a; len]);
    let mut server = streaming_server(&config);
    let (received, usage) = measure(|| {
        let mut received = 0usize;
        for read in wire.chunks(64 << 10) {
            server.handle_read(read, Instant::now());
            while let Some(event) = server.poll_event() {
                let Event::Part(part) = event else { panic!("{event:?}") };
                assert!(part.data.iter().all(|&b| b == 0x5a));
                received += part.data.len();
            }
        }
        received
    });
    assert_eq!(received, len);
    assert!(usage.peak < 1 << 20, "{usage:?}");

    // The same frame delivered whole needs the frame.
    let mut whole = Connection::server(&config, Instant::now());
    let (_, usage) = measure(|| {
        for read in wire.chunks(64 << 10) {
            whole.handle_read(read, Instant::now());
            while whole.poll_event().is_some() {}
        }
    });
    assert!(usage.peak >= len, "whole: {usage:?}");
}

#[cfg(feature = "deflate")]
mod deflate {
    use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams};

    use super::*;

    fn deflate_streaming_pair(max_message_size: usize) -> (Connection, Connection) {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut config = Config::default();
        config.max_message_size = max_message_size;
        let client = Connection::client(&config, Instant::now(), SEED).with_deflate(&params, &DeflateConfig::default());
        let mut server = Connection::server(&config, Instant::now()).with_deflate(&params, &DeflateConfig::default());
        server.set_message_streaming(true);
        (client, server)
    }

    #[test]
    fn a_compressed_message_is_inflated_part_by_part() {
        let (mut client, mut server) = deflate_streaming_pair(64 << 20);
        let text = "a compressible line of text, again and again; ".repeat(20_000);
        for _ in 0..2 {
            // Twice: the context carried over between messages still inflates.
            client.send_text(&text).unwrap();
            let wire = take_transmit(&mut client);
            assert!(wire.len() < text.len() / 10);
            let events = feed_in_reads(&mut server, &wire, 512);
            assert!(events.len() > 3, "{} parts", events.len());
            assert_eq!(reassemble(&events), [(DataKind::Text, text.clone().into_bytes())]);
        }
    }

    #[test]
    fn a_streamed_deflate_bomb_stops_at_the_message_limit() {
        let (mut sender, mut server) = deflate_streaming_pair(1 << 20);
        // 8 MiB of zeros compress to a few KiB; the receiver allows 1 MiB.
        sender.send_binary(&vec![0u8; 8 << 20]).unwrap();
        let wire = take_transmit(&mut sender);
        let events = feed_in_reads(&mut server, &wire, 1024);
        let handed_out: usize =
            events.iter().filter_map(|e| if let Event::Part(p) = e { Some(p.data.len()) } else { None }).sum();
        assert!(handed_out <= 1 << 20, "{handed_out}");
        assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(CloseCode::MESSAGE_TOO_BIG.0));
    }
}

fn part(kind: DataKind, data: &[u8], first: bool, last: bool) -> MessagePart {
    MessagePart { kind, data: data.to_vec().into(), first, last }
}

#[test]
fn parts_received_from_one_peer_relay_to_another_as_the_same_messages() {
    // Messages fragmented on the way in and read in pieces are received in
    // parts by a relay and sent on with send_part, part by part; the far end
    // receives the same messages.
    let text = "ünïcödé ".repeat(2_000);
    let mut wire = client_frame(OpCode::Text, false, &text.as_bytes()[..5]); // splits a character
    wire.extend(client_frame(OpCode::Continuation, false, &text.as_bytes()[5..9_000]));
    wire.extend(client_frame(OpCode::Continuation, true, &text.as_bytes()[9_000..]));
    wire.extend(client_frame(OpCode::Binary, true, &pattern(3_000)));
    let mut relay_in = streaming_server(&config());
    let mut relay_out = Connection::client(&config(), Instant::now(), [5; 32]);
    let mut parts = 0;
    for read in feed_in_reads(&mut relay_in, &wire, 1_000) {
        if let Event::Part(part) = read {
            parts += 1;
            relay_out.send_part(part).unwrap();
        }
    }
    assert!(parts > 4, "{parts} parts");
    let frames = sent_frames(&mut relay_out);
    let mut far_end = Connection::server(&config(), Instant::now());
    let mut out = Vec::new();
    for frame in &frames {
        let mut bytes = Vec::new();
        rfc6455::frame::encode_frame(
            &mut bytes,
            frame.header.opcode,
            frame.header.fin,
            0,
            Some(rfc6455::frame::MaskKey([3, 1, 4, 1])),
            &frame.payload,
        );
        out.extend(bytes);
    }
    far_end.handle_read(&out, Instant::now());
    let received = events(&mut far_end);
    assert_eq!(
        received,
        [Event::Message(Message::Text(text.into())), Event::Message(Message::Binary(pattern(3_000).into()))]
    );
}

#[test]
fn send_part_refuses_parts_out_of_order_and_invalid_text_before_queuing_anything() {
    use rfc6455::UsageError;
    let mut conn = Connection::server(&config(), Instant::now());
    // A part that is first and last is a whole message: one frame.
    conn.send_part(part(DataKind::Binary, b"whole", true, true)).unwrap();
    let whole = sent_frames(&mut conn);
    assert_eq!(whole.len(), 1);
    assert!(whole[0].header.fin && whole[0].header.opcode == OpCode::Binary && &whole[0].payload[..] == b"whole");
    assert_eq!(conn.send_part(part(DataKind::Binary, b"x", false, true)), Err(UsageError::NoMessageInParts));
    assert_eq!(conn.send_part(part(DataKind::Text, b"\xff", true, true)), Err(UsageError::InvalidUtf8));
    assert_eq!(conn.buffered_amount(), 0, "nothing queued by refused parts");
    conn.send_part(part(DataKind::Text, "é".as_bytes().get(..1).unwrap(), true, false)).unwrap();
    assert_eq!(
        conn.send_part(part(DataKind::Binary, b"y", true, true)),
        Err(UsageError::FragmentedMessageInProgress),
        "a new message while one is being sent in parts"
    );
    assert!(matches!(
        conn.send_part(part(DataKind::Binary, b"y", false, true)),
        Err(UsageError::FragmentKindMismatch { .. })
    ));
    let queued = conn.buffered_amount();
    conn.send_part(part(DataKind::Text, "é".as_bytes().get(1..).unwrap(), false, true)).unwrap();
    assert!(conn.buffered_amount() > queued, "the character completed across parts");
    let frames = sent_frames(&mut conn);
    assert_eq!(frames.len(), 2);
    assert_eq!([&frames[0].payload[..], &frames[1].payload[..]].concat(), "é".as_bytes());
    assert!(!frames[0].header.fin && frames[1].header.fin && frames[1].header.opcode == OpCode::Continuation);
}

#[test]
fn send_part_on_a_closing_connection_says_closed_whatever_the_part() {
    // Closing abandons a message being sent in parts: the error is that the
    // connection closed, not that the part is out of place.
    use rfc6455::UsageError;
    let mut conn = Connection::server(&config(), Instant::now());
    conn.send_part(part(DataKind::Binary, b"begun", true, false)).unwrap();
    conn.close(CloseCode::NORMAL, "", Instant::now()).unwrap();
    for (first, last) in [(false, false), (false, true), (true, false), (true, true)] {
        assert_eq!(
            conn.send_part(part(DataKind::Binary, b"x", first, last)),
            Err(UsageError::Closed),
            "{first} {last}"
        );
    }
}
