//! One test per framing rule of RFC 6455 §5 and §8.1, each asserting the exact
//! close code sent and reported.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use rfc6455::frame::{Frame, FrameHeader, OpCode};
use rfc6455::{CloseCode, CloseReason, Config, Connection, Event, Message, ProtocolError, Role};

const PROTOCOL: CloseCode = CloseCode::PROTOCOL_ERROR;
const INVALID_PAYLOAD: CloseCode = CloseCode::INVALID_PAYLOAD;

fn protocol_error(events: &[Event]) -> &ProtocolError {
    match events.last() {
        Some(Event::Closed(CloseReason::Protocol(err))) => err,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn reserved_bits_without_extension() {
    for rsv in [FrameHeader::RSV1, FrameHeader::RSV2, FrameHeader::RSV3] {
        let events = assert_server_fails(&client_frame_rsv(OpCode::Text, true, rsv, b"x"), PROTOCOL);
        assert_eq!(protocol_error(&events), &ProtocolError::ReservedBits(rsv));
    }
    // Also on control frames.
    assert_server_fails(&client_frame_rsv(OpCode::Ping, true, FrameHeader::RSV1, b""), PROTOCOL);
}

#[test]
fn reserved_opcodes() {
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let wire = [0x80 | opcode, 0x80, 1, 2, 3, 4];
        let events = assert_server_fails(&wire, PROTOCOL);
        assert_eq!(protocol_error(&events), &ProtocolError::UnknownOpcode(opcode));
    }
}

#[test]
fn fragmented_control_frames() {
    for opcode in [0x8u8, 0x9, 0xA] {
        let wire = [opcode, 0x80, 1, 2, 3, 4]; // FIN clear
        let events = assert_server_fails(&wire, PROTOCOL);
        assert_eq!(protocol_error(&events), &ProtocolError::FragmentedControlFrame);
    }
}

#[test]
fn control_frames_over_125_bytes() {
    for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
        let events = assert_server_fails(&client_frame(opcode, true, &[b'a'; 126]), PROTOCOL);
        assert_eq!(protocol_error(&events), &ProtocolError::ControlFrameTooLong);
    }
    // 125 bytes is fine.
    let (events, frames) = feed(Role::Server, &config(), &client_frame(OpCode::Ping, true, &[b'a'; 125]));
    assert_eq!(events, [Event::Ping(Bytes::from(vec![b'a'; 125]))]);
    assert_eq!(frames[0].payload.len(), 125);
}

#[test]
fn continuation_without_a_message() {
    let events = assert_server_fails(&client_frame(OpCode::Continuation, true, b"x"), PROTOCOL);
    assert_eq!(protocol_error(&events), &ProtocolError::UnexpectedContinuation);
}

#[test]
fn new_message_inside_a_fragmented_one() {
    for second in [OpCode::Text, OpCode::Binary] {
        let mut wire = client_frame(OpCode::Text, false, b"a");
        wire.extend(client_frame(second, true, b"b"));
        let events = assert_server_fails(&wire, PROTOCOL);
        assert_eq!(protocol_error(&events), &ProtocolError::ExpectedContinuation);
    }
}

#[test]
fn masking_by_role() {
    let events = assert_server_fails(&server_frame(OpCode::Text, true, b"x"), PROTOCOL);
    assert_eq!(protocol_error(&events), &ProtocolError::UnmaskedFrame);
    let events = assert_fails(Role::Client, &config(), &client_frame(OpCode::Text, true, b"x"), PROTOCOL);
    assert_eq!(protocol_error(&events), &ProtocolError::MaskedFrame);

    let mut lenient = config();
    lenient.accept_unmasked_frames = true;
    let (events, _) = feed(Role::Server, &lenient, &server_frame(OpCode::Text, true, b"x"));
    assert_eq!(events, [Event::Message(Message::from("x"))]);
}

#[test]
fn lengths_must_be_minimal_and_below_2_pow_63() {
    let events = assert_fails(Role::Client, &config(), &[0x82, 126, 0, 5, 1, 2, 3, 4, 5], PROTOCOL);
    assert_eq!(protocol_error(&events), &ProtocolError::NonMinimalLength);
    let events = assert_fails(Role::Client, &config(), &[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], PROTOCOL);
    assert_eq!(protocol_error(&events), &ProtocolError::LengthOverflow);
}

#[test]
fn invalid_utf8_in_a_single_frame() {
    let events = assert_server_fails(&client_frame(OpCode::Text, true, b"ok \xc0\xaf"), INVALID_PAYLOAD);
    assert_eq!(protocol_error(&events), &ProtocolError::InvalidUtf8);
}

#[test]
fn invalid_utf8_fails_at_the_fragment_that_breaks_it() {
    // κόσμε, then a fragment starting with a stray continuation byte.
    let mut server = Connection::server(&config(), Instant::now());
    server.handle_read(&client_frame(OpCode::Text, false, "κόσμε".as_bytes()), Instant::now());
    assert!(events(&mut server).is_empty());
    server.handle_read(&client_frame(OpCode::Continuation, false, b"\x80"), Instant::now());
    let events = events(&mut server);
    assert_eq!(protocol_error(&events), &ProtocolError::InvalidUtf8);
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(1007));
}

#[test]
fn invalid_utf8_fails_mid_frame_before_the_rest_arrives() {
    // Autobahn 6.4.3 style: one text frame whose first chunk is valid, the
    // second chunk invalid, and the rest never sent.
    let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64";
    let wire = client_frame(OpCode::Text, true, payload);
    let mut server = Connection::server(&config(), Instant::now());
    let header_len = 6;
    server.handle_read(&wire[..header_len + 11], Instant::now()); // valid so far
    assert!(events(&mut server).is_empty());
    server.handle_read(&wire[header_len + 11..header_len + 13], Instant::now()); // F4 90: impossible
    let events = events(&mut server);
    assert_eq!(protocol_error(&events), &ProtocolError::InvalidUtf8);
}

/// Sends `text` as a message in fragments cut at `cuts`, delivered in reads
/// of `read` bytes; returns the server's events and the frames it sent.
fn text_in_pieces(text: &[u8], cuts: &[usize], read: usize) -> (Vec<Event>, Vec<Frame>) {
    let mut wire = Vec::new();
    let mut start = 0;
    let ends: Vec<usize> = cuts.iter().copied().chain([text.len()]).collect();
    for (i, &end) in ends.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Text } else { OpCode::Continuation };
        wire.extend(client_frame(opcode, i + 1 == ends.len(), &text[start..end]));
        start = end;
    }
    let mut server = Connection::server(&config(), Instant::now());
    let mut all = Vec::new();
    for piece in wire.chunks(read) {
        server.handle_read(piece, Instant::now());
        all.extend(events(&mut server));
    }
    (all, sent_frames(&mut server))
}

#[test]
fn invalid_utf8_fails_with_1007_wherever_the_message_is_cut() {
    let bad: [(&str, &[u8]); 7] = [
        ("overlong slash", b"ab\xC0\xAFcd"),
        ("overlong 3-byte NUL", b"ab\xE0\x80\x80cd"),
        ("overlong 4-byte", b"ab\xF0\x80\x80\xAFcd"),
        ("UTF-16 surrogate D800", b"ab\xED\xA0\x80cd"),
        ("UTF-16 surrogate DFFF", b"ab\xED\xBF\xBFcd"),
        ("above U+10FFFF", b"ab\xF4\x90\x80\x80cd"),
        ("lone continuation", b"ab\x80cd"),
    ];
    for (what, text) in bad {
        for cut in 0..=text.len() {
            for read in [1, 3, 1000] {
                let (events, frames) = text_in_pieces(text, &[cut], read);
                assert_eq!(
                    events,
                    [Event::Closed(CloseReason::Protocol(ProtocolError::InvalidUtf8))],
                    "{what}, cut {cut}, reads of {read}"
                );
                assert_eq!(frames.len(), 1, "{what}, cut {cut}: only the close frame");
                assert_eq!(close_code_of(&frames[0]), Some(1007), "{what}, cut {cut}");
            }
        }
    }
    // The same positions with valid 2-, 3- and 4-byte characters pass.
    let good = "ab\u{e9}\u{2713}\u{1F511}cd";
    for cut in 0..=good.len() {
        let (events, frames) = text_in_pieces(good.as_bytes(), &[cut], 1);
        assert_eq!(events, [Event::Message(Message::from(good))], "cut {cut}");
        assert!(frames.is_empty());
    }
}

#[test]
fn text_split_inside_a_character_across_fragments_is_valid() {
    let euro = "€".as_bytes(); // E2 82 AC
    let mut wire = client_frame(OpCode::Text, false, &euro[..1]);
    wire.extend(client_frame(OpCode::Continuation, false, &euro[1..2]));
    wire.extend(client_frame(OpCode::Continuation, true, &euro[2..]));
    let (events, _) = feed(Role::Server, &config(), &wire);
    assert_eq!(events, [Event::Message(Message::from("€"))]);
}

#[test]
fn text_ending_inside_a_character_is_invalid() {
    let mut wire = client_frame(OpCode::Text, false, b"a");
    wire.extend(client_frame(OpCode::Continuation, true, &"€".as_bytes()[..2]));
    assert_server_fails(&wire, INVALID_PAYLOAD);
}

#[test]
fn binary_messages_are_not_validated() {
    let (events, _) = feed(Role::Server, &config(), &client_frame(OpCode::Binary, true, b"\xff\xfe"));
    assert_eq!(events, [Event::Message(Message::Binary(Bytes::from_static(b"\xff\xfe")))]);
}

#[test]
fn control_frames_interleave_with_fragments() {
    let mut wire = client_frame(OpCode::Text, false, b"Hel");
    wire.extend(client_frame(OpCode::Ping, true, b"p1"));
    wire.extend(client_frame(OpCode::Continuation, false, b"l"));
    wire.extend(client_frame(OpCode::Pong, true, b"p2"));
    wire.extend(client_frame(OpCode::Continuation, true, b"o"));
    let (events, frames) = feed(Role::Server, &config(), &wire);
    assert_eq!(
        events,
        [
            Event::Ping(Bytes::from_static(b"p1")),
            Event::Pong { payload: Bytes::from_static(b"p2"), rtt: None },
            Event::Message(Message::from("Hello")),
        ]
    );
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].header.opcode, &frames[0].payload[..]), (OpCode::Pong, &b"p1"[..]));
}

#[test]
fn every_ping_in_one_read_gets_its_own_pong() {
    let wire: Vec<u8> = (0..10u8).flat_map(|i| client_frame(OpCode::Ping, true, &[i; 3])).collect();
    let (events, frames) = feed(Role::Server, &config(), &wire);
    assert_eq!(events.len(), 10);
    let pongs: Vec<_> = frames.iter().map(|f| (f.header.opcode, f.payload.to_vec())).collect();
    let expected: Vec<_> = (0..10u8).map(|i| (OpCode::Pong, vec![i; 3])).collect();
    assert_eq!(pongs, expected);
}

#[test]
fn auto_pong_can_be_disabled_and_done_by_hand() {
    let mut config: Config = config();
    config.auto_pong = false;
    let mut server = Connection::server(&config, Instant::now());
    server.handle_read(&client_frame(OpCode::Ping, true, b"hi"), Instant::now());
    let Some(Event::Ping(payload)) = server.poll_event() else { panic!() };
    assert!(server.poll_transmit().is_empty());
    server.pong(&payload).unwrap();
    let frames = sent_frames(&mut server);
    assert_eq!((frames[0].header.opcode, &frames[0].payload[..]), (OpCode::Pong, &b"hi"[..]));
}

#[test]
fn only_the_latest_pong_is_kept_while_the_write_buffer_is_full() {
    let mut config = config();
    config.write_buffer_limit = 64;
    let mut server = Connection::server(&config, Instant::now());
    server.send_binary(&[0; 100]).unwrap(); // now over the limit, and not drained
    let wire: Vec<u8> = (0..50u8).flat_map(|i| client_frame(OpCode::Ping, true, &[i])).collect();
    server.handle_read(&wire, Instant::now());
    assert_eq!(events(&mut server).len(), 50);
    // Nothing was added while the buffer stayed full...
    assert_eq!(server.buffered_amount(), 102);
    // ... and once it drains, exactly one pong follows, for the latest ping.
    let frames = sent_frames(&mut server);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].header.opcode, OpCode::Binary);
    assert_eq!((frames[1].header.opcode, &frames[1].payload[..]), (OpCode::Pong, &[49u8][..]));
}

#[test]
fn a_failed_connection_ignores_everything_after_the_error() {
    let mut wire = client_frame(OpCode::Continuation, true, b"bad");
    wire.extend(client_frame(OpCode::Text, true, b"after"));
    wire.extend(client_frame(OpCode::Ping, true, b"after"));
    let (events, frames) = feed(Role::Server, &config(), &wire);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(frames.len(), 1, "only the close frame");
}

#[test]
fn a_zero_write_buffer_limit_still_answers_pings() {
    let mut config = config();
    config.write_buffer_limit = 0;
    let (_, frames) = feed(Role::Server, &config, &client_frame(OpCode::Ping, true, b"x"));
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].header.opcode, &frames[0].payload[..]), (OpCode::Pong, &b"x"[..]));
}
