//! permessage-deflate (RFC 7692): negotiation tables for both roles through
//! the handshakes, round trips for every parameter combination in any
//! chunking, the RSV1 rules, and decompression bombs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use proptest::prelude::*;
use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams};
use rfc6455::frame::{encode_frame, FrameDecoder, FrameHeader, OpCode};
use rfc6455::handshake::{Accept, ClientHandshake, ClientKey, ClientRequest, ServerHandshake};
use rfc6455::{
    CloseCode, CloseReason, Config, Connection, DataKind, Event, HandshakeError, Message, ProtocolError, Role, Status,
};

fn deflate_config(edit: impl FnOnce(&mut DeflateConfig)) -> Config {
    let mut deflate = DeflateConfig::default();
    edit(&mut deflate);
    let mut config = config();
    config.deflate = Some(deflate);
    config
}

/// The server's `Sec-WebSocket-Extensions` answer to a request offering `offer`.
fn server_answer(config: &Config, offer: Option<&str>) -> (Option<String>, Connection) {
    let mut request = String::from(
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    if let Some(offer) = offer {
        request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    request.push_str("\r\n");
    let mut hs = ServerHandshake::new(config);
    hs.handle_read(request.as_bytes());
    assert!(hs.poll_request().unwrap().is_complete());
    let mut conn = hs.accept(&Accept::new(), Instant::now()).unwrap();
    let head = String::from_utf8(take_transmit(&mut conn)).unwrap();
    let answer = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: ")).map(str::to_owned);
    (answer, conn)
}

#[test]
fn server_negotiation_table() {
    let default = deflate_config(|_| {});
    let cases: &[(&Config, Option<&str>, Option<&str>)] = &[
        (&default, None, None),
        (&default, Some("permessage-deflate; client_max_window_bits"), Some("permessage-deflate")),
        (&default, Some("x-webkit-deflate-frame, permessage-deflate"), Some("permessage-deflate")),
        (
            &default,
            Some("permessage-deflate; server_max_window_bits=8; server_no_context_takeover"),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=8"),
        ),
        // The first acceptable offer wins; malformed ones are declined, not fatal.
        (
            &default,
            Some("permessage-deflate; server_max_window_bits=99, permessage-deflate; client_no_context_takeover"),
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        (&default, Some("permessage-deflate; bogus"), None),
        (&default, Some("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"), None),
    ];
    for (config, offer, expected) in cases {
        assert_eq!(server_answer(config, *offer).0.as_deref(), *expected, "offer {offer:?}");
    }
    // The server's own limits.
    let strict = deflate_config(|d| {
        d.server_no_context_takeover = true;
        d.server_max_window_bits = 10;
        d.client_max_window_bits = 9;
    });
    assert_eq!(
        server_answer(&strict, Some("permessage-deflate; client_max_window_bits")).0.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
    );
    // Turned off.
    let mut off = config();
    off.deflate = None;
    assert_eq!(server_answer(&off, Some("permessage-deflate")).0, None);
}

fn client_with(config: &Config, response_extensions: &[&str]) -> Result<Option<DeflateParams>, HandshakeError> {
    let request = ClientRequest::new("ws://h/").unwrap();
    let key = ClientKey::from_nonce(*b"the sample nonce");
    let mut hs = ClientHandshake::with_key(&request, key, config, [42; 32]);
    let sent = String::from_utf8(hs.poll_transmit().to_vec()).unwrap();
    assert_eq!(
        sent.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: ")),
        config.deflate.as_ref().map(|d| d.offer().to_string()).as_deref()
    );
    let mut response = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
    );
    for line in response_extensions {
        response.push_str(&format!("Sec-WebSocket-Extensions: {line}\r\n"));
    }
    response.push_str("\r\n");
    hs.handle_read(response.as_bytes());
    match hs.poll_response()? {
        Status::Complete(response) => Ok(response.deflate().copied()),
        Status::Partial => panic!("incomplete"),
    }
}

#[test]
fn client_negotiation_table() {
    let default = deflate_config(|_| {});
    let params = |snct, cnct, s, c| DeflateParams {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: s,
        client_max_window_bits: c,
    };
    assert_eq!(client_with(&default, &[]), Ok(None));
    assert_eq!(client_with(&default, &["permessage-deflate"]), Ok(Some(params(false, false, 15, 15))));
    assert_eq!(
        client_with(&default, &["permessage-deflate; server_no_context_takeover; client_max_window_bits=9"]),
        Ok(Some(params(true, false, 15, 9)))
    );
    let invalid = HandshakeError::InvalidDeflateResponse;
    for (bad, expected) in [
        (
            &["permessage-deflate; client_max_window_bits"][..],
            invalid("client_max_window_bits in a response needs a value"),
        ),
        (&["permessage-deflate; server_max_window_bits=7"], invalid("window bits must be 8 to 15")),
        (&["permessage-deflate; mystery"], invalid("unknown permessage-deflate parameter")),
        (&["permessage-deflate, permessage-deflate"], HandshakeError::DuplicateDeflate),
        (&["permessage-deflate", "permessage-deflate"], HandshakeError::DuplicateDeflate),
        (&["x-other"], HandshakeError::UnofferedExtension("x-other".into())),
    ] {
        assert_eq!(client_with(&default, bad), Err(expected), "{bad:?}");
    }
    let limited = deflate_config(|d| d.server_max_window_bits = 10);
    assert_eq!(
        client_with(&limited, &["permessage-deflate"]),
        Err(invalid("server_max_window_bits is larger than we asked for")),
        "the server must honour our limit"
    );
    assert_eq!(
        client_with(&limited, &["permessage-deflate; server_max_window_bits=9"]),
        Ok(Some(params(false, false, 9, 15)))
    );
    let mut off = config();
    off.deflate = None;
    assert_eq!(
        client_with(&off, &["permessage-deflate"]),
        Err(HandshakeError::UnofferedExtension("permessage-deflate".into()))
    );
}

#[test]
fn a_full_handshake_in_memory_negotiates_and_compresses_both_ways() {
    let config = deflate_config(|d| d.threshold = 0);
    let request = ClientRequest::new("ws://h/").unwrap();
    let mut client_hs = ClientHandshake::new(&request, &config, [42; 32]);
    let mut server_hs = ServerHandshake::new(&config);
    server_hs.handle_read(client_hs.poll_transmit());
    client_hs.advance_transmit(client_hs.poll_transmit().len());
    assert!(server_hs.poll_request().unwrap().is_complete());
    let mut server = server_hs.accept(&Accept::new(), Instant::now()).unwrap();
    client_hs.handle_read(&take_transmit(&mut server));
    let Status::Complete(response) = client_hs.poll_response().unwrap() else { panic!() };
    assert!(response.deflate().is_some());
    let mut client = client_hs.into_connection(Instant::now()).unwrap();

    let text = "compress me ".repeat(1000);
    client.send_text(&text).unwrap();
    let wire = take_transmit(&mut client);
    assert!(wire.len() < text.len() / 10, "{} bytes on the wire for {}", wire.len(), text.len());
    assert_eq!(wire[0] & 0x40, 0x40, "RSV1 set");
    server.handle_read(&wire, Instant::now());
    assert_eq!(events(&mut server), [Event::Message(Message::from(text.as_str()))]);
    server.send_binary(&[7; 10_000]).unwrap();
    let wire = take_transmit(&mut server);
    assert!(wire.len() < 200);
    client.handle_read(&wire, Instant::now());
    assert!(matches!(&events(&mut client)[..], [Event::Message(Message::Binary(b))] if b[..] == [7; 10_000]));
}

/// A client and a server with deflate on, wired back to back.
fn deflate_pair(params: &DeflateParams, deflate: &DeflateConfig) -> Pair {
    let mut pair = Pair::new();
    let now = pair.now;
    let cfg = config();
    pair.client = Connection::client(&cfg, now, [42; 32]).with_deflate(params, deflate);
    pair.server = Connection::server(&cfg, now).with_deflate(params, deflate);
    pair
}

#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Fragmented(Vec<Vec<u8>>),
    Ping(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let compressible = prop::collection::vec(prop::sample::select(b"abc ".to_vec()), 0..3000);
    prop_oneof![
        "[a-zé€ ]{0,400}".prop_map(Op::Text),
        compressible.clone().prop_map(Op::Binary),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(Op::Binary),
        prop::collection::vec(compressible, 2..5).prop_map(Op::Fragmented),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(Op::Ping),
    ]
}

fn expected_event(op: &Op) -> Event {
    match op {
        Op::Text(text) => Event::Message(Message::from(text.as_str())),
        Op::Binary(data) => Event::Message(Message::from(data.clone())),
        Op::Fragmented(parts) => Event::Message(Message::from(parts.concat())),
        Op::Ping(payload) => Event::Ping(payload.clone().into()),
    }
}

fn apply(conn: &mut Connection, op: &Op) {
    match op {
        Op::Text(text) => conn.send_text(text).unwrap(),
        Op::Binary(data) => conn.send_binary(data).unwrap(),
        Op::Fragmented(parts) => {
            for (i, part) in parts.iter().enumerate() {
                conn.send_fragment(DataKind::Binary, part, i + 1 == parts.len()).unwrap();
                if i == 0 {
                    conn.ping(b"between fragments").unwrap();
                }
            }
        }
        Op::Ping(payload) => conn.ping(payload).unwrap(),
    }
}

fn expected_events(ops: &[Op]) -> Vec<Event> {
    ops.iter()
        .flat_map(|op| {
            let mut events = Vec::new();
            if let Op::Fragmented(_) = op {
                events.push(Event::Ping("between fragments".into()));
            }
            events.push(expected_event(op));
            events
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn round_trips_for_every_parameter_combination_in_any_chunking(
        server_bits in 8u8..=15,
        client_bits in 8u8..=15,
        server_reset: bool,
        client_reset: bool,
        level in 0u32..=9,
        threshold in prop::sample::select(vec![0usize, 64, 1000]),
        chunk in 1usize..200,
        ops in prop::collection::vec(op(), 1..8),
    ) {
        let params = DeflateParams {
            server_no_context_takeover: server_reset,
            client_no_context_takeover: client_reset,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let mut deflate = DeflateConfig::default();
        deflate.level = level;
        deflate.threshold = threshold;
        for chunking in [usize::MAX, chunk] {
            let mut pair = deflate_pair(&params, &deflate);
            pair.chunk = chunking;
            for op in &ops {
                apply(&mut pair.client, op);
                apply(&mut pair.server, op);
            }
            let (client_events, server_events) = pair.drive();
            let data_only = |events: Vec<Event>| -> Vec<Event> {
                events.into_iter().filter(|e| !matches!(e, Event::Pong { .. })).collect()
            };
            prop_assert_eq!(data_only(server_events), expected_events(&ops));
            prop_assert_eq!(data_only(client_events), expected_events(&ops));
        }
    }
}

/// Hand-built compressed client frames.
fn compressed_frame(opcode: OpCode, fin: bool, compressed: &[u8]) -> Vec<u8> {
    client_frame_rsv(opcode, fin, FrameHeader::RSV1, compressed)
}

fn server_with_deflate(max_message_size: usize) -> Connection {
    let mut config = config();
    config.max_message_size = max_message_size;
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    Connection::server(&config, Instant::now()).with_deflate(&params, &DeflateConfig::default())
}

fn protocol_error(conn: &mut Connection) -> ProtocolError {
    match events(conn).last() {
        Some(Event::Closed(CloseReason::Protocol(err))) => err.clone(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn rsv1_rules_once_negotiated() {
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&client_frame_rsv(OpCode::Ping, true, FrameHeader::RSV1, b""), Instant::now());
    assert_eq!(protocol_error(&mut server), ProtocolError::CompressedControlFrame);
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(1002));

    let mut server = server_with_deflate(1 << 20);
    let mut wire = compressed_frame(OpCode::Text, false, &deflate_raw(b"Hel"));
    wire.extend(compressed_frame(OpCode::Continuation, true, &deflate_raw(b"lo")));
    server.handle_read(&wire, Instant::now());
    assert_eq!(protocol_error(&mut server), ProtocolError::CompressedContinuation);

    // RSV2 and RSV3 stay reserved.
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&client_frame_rsv(OpCode::Text, true, FrameHeader::RSV2, b"x"), Instant::now());
    assert_eq!(protocol_error(&mut server), ProtocolError::ReservedBits(FrameHeader::RSV2));
}

#[test]
fn compressed_fragments_interleaved_with_control_frames() {
    let mut server = server_with_deflate(1 << 20);
    let compressed = deflate_raw("fragmented and compressed, κόσμε".as_bytes());
    let (a, b) = compressed.split_at(compressed.len() / 2);
    let mut wire = compressed_frame(OpCode::Text, false, a);
    wire.extend(client_frame(OpCode::Ping, true, b"p"));
    wire.extend(client_frame(OpCode::Continuation, true, b));
    for piece in wire.chunks(3) {
        server.handle_read(piece, Instant::now());
    }
    assert_eq!(
        events(&mut server),
        [Event::Ping("p".into()), Event::Message(Message::from("fragmented and compressed, κόσμε"))]
    );
}

#[test]
fn invalid_compressed_data_and_invalid_utf8_inside_it() {
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&compressed_frame(OpCode::Binary, true, &[0xff, 0xfe, 0xfd]), Instant::now());
    assert_eq!(protocol_error(&mut server), ProtocolError::InvalidCompressedData);
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(1007));

    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&compressed_frame(OpCode::Text, true, &deflate_raw(b"ok \xff")), Instant::now());
    assert_eq!(protocol_error(&mut server), ProtocolError::InvalidUtf8);
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // 64 MiB of zeros compress to about 64 KiB; the limit is 1 MiB.
    let bomb = deflate_raw(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&compressed_frame(OpCode::Binary, true, &bomb), Instant::now());
    let err = protocol_error(&mut server);
    assert!(matches!(err, ProtocolError::MessageTooLarge { limit: 1048576, len } if len <= (1 << 20) + 1), "{err:?}");
    assert_eq!(close_code_of(sent_frames(&mut server).last().unwrap()), Some(1009));
}

#[test]
fn a_gigabyte_bomb_is_refused_after_inflating_no_more_than_the_limit() {
    // About 1 MiB on the wire that would inflate to 1 GiB (deflate's ratio tops
    // out near 1000:1, so this is as small as a 1 GiB bomb gets).
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut bomb = Vec::with_capacity(2 << 20);
    for i in 0..1024 {
        let flush = if i == 1023 { flate2::FlushCompress::Sync } else { flate2::FlushCompress::None };
        let start = compress.total_in();
        while compress.total_in() - start < zeros.len() as u64 || (i == 1023 && bomb.len() == bomb.capacity()) {
            bomb.reserve(64 << 10);
            let done = (compress.total_in() - start) as usize;
            compress.compress_vec(&zeros[done..], &mut bomb, flush).unwrap();
        }
    }
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&compressed_frame(OpCode::Binary, true, &bomb), Instant::now());
    match protocol_error(&mut server) {
        ProtocolError::MessageTooLarge { len, limit } => {
            assert_eq!(limit, 1 << 20);
            assert!(len <= (1 << 20) + 1, "inflated {len} bytes before stopping");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_small_compressed_fragments_cannot_exceed_the_limit() {
    // Each fragment inflates to 64 KiB; 20 of them pass a 1 MiB limit.
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let mut server = server_with_deflate(1 << 20);
    let zeros = vec![0u8; 64 << 10];
    for i in 0..20 {
        let mut piece = Vec::with_capacity(1 << 10);
        compress.compress_vec(&zeros, &mut piece, flate2::FlushCompress::Sync).unwrap();
        let opcode = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
        let frame = if i == 0 { compressed_frame(opcode, false, &piece) } else { client_frame(opcode, false, &piece) };
        server.handle_read(&frame, Instant::now());
        if !events(&mut server).is_empty() {
            assert_eq!(server.close_reason().unwrap().code(), CloseCode::MESSAGE_TOO_BIG);
            assert_eq!(i, 16, "the 17th fragment takes it over 1 MiB");
            return;
        }
    }
    panic!("the limit was never enforced");
}

#[test]
fn uncompressed_messages_still_work_and_small_ones_stay_uncompressed() {
    let mut server = server_with_deflate(1 << 20);
    server.handle_read(&client_frame(OpCode::Text, true, b"plain"), Instant::now());
    assert_eq!(events(&mut server), [Event::Message(Message::from("plain"))]);
    server.send_text("tiny").unwrap(); // below the default threshold
    let wire = take_transmit(&mut server);
    assert_eq!(wire[0] & 0x40, 0, "no RSV1 below the threshold");
    let mut decoder = FrameDecoder::new(Role::Client, 1 << 20);
    let frame = decoder.decode(&mut BytesMut::from(&wire[..])).unwrap().unwrap();
    assert_eq!(&frame.payload[..], b"tiny");
    // An empty compressed message (RFC 7692 §7.2.3.6: a single 0x00 byte).
    let mut out = Vec::new();
    encode_frame(&mut out, OpCode::Binary, true, FrameHeader::RSV1, Some(KEY), &[0x00]);
    server.handle_read(&out, Instant::now());
    assert_eq!(events(&mut server), [Event::Message(Message::Binary(Default::default()))]);
}

/// A prepared message on connections with permessage-deflate: each connection
/// compresses it (its context is its own), and the client gets it back whole;
/// below the threshold the prepared frame goes out as it is.
#[test]
fn a_prepared_message_is_compressed_per_connection_with_deflate() {
    let text = "a live feed update, the same for every subscriber. ".repeat(200);
    let prepared = rfc6455::PreparedMessage::new(text.as_str());
    let small = rfc6455::PreparedMessage::new("tick");
    for _ in 0..3 {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut pair = deflate_pair(&params, &DeflateConfig::default());
        pair.server.send_prepared(&prepared).unwrap();
        let wire = take_transmit(&mut pair.server);
        assert_eq!(wire[0] & 0x40, 0x40, "RSV1: compressed");
        assert!(wire.len() < prepared.frame().len() / 4, "{} bytes on the wire", wire.len());
        pair.client.handle_read(&wire, pair.now);
        assert_eq!(events(&mut pair.client), [Event::Message(Message::from(text.as_str()))]);
        pair.server.send_prepared(&small).unwrap();
        assert_eq!(take_transmit(&mut pair.server), small.frame().as_ref(), "below the threshold: the frame as it is");
    }
}

/// Without context takeover on the server's side, a prepared message is
/// compressed once per window size and level: every connection with the same
/// parameters sends the same bytes (the same allocation from 4 KiB up with
/// vectored transmit), which are what `send` would have produced, and each
/// client inflates them; a connection with a smaller window gets its own.
#[test]
fn a_prepared_message_is_compressed_once_without_context_takeover() {
    let text = "the same order book update for every subscriber; ".repeat(2000);
    let prepared = rfc6455::PreparedMessage::new(text.as_str());
    let params = |bits| DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: false,
        server_max_window_bits: bits,
        client_max_window_bits: 15,
    };
    let mut first_wire: Option<Vec<u8>> = None;
    let mut first_ptr = None;
    for _ in 0..3 {
        let mut pair = deflate_pair(&params(15), &DeflateConfig::default());
        pair.server.set_vectored_transmit(true);
        // Twice on the same connection: no history carried over either.
        for _ in 0..2 {
            pair.server.send_prepared(&prepared).unwrap();
            let mut slices = [std::io::IoSlice::new(&[]); 4];
            let filled = pair.server.poll_transmit_vectored(&mut slices);
            let ptr = slices[..filled].iter().map(|s| s.as_ptr()).find(|_| true).unwrap();
            assert_eq!(*first_ptr.get_or_insert(ptr), ptr, "every connection queues the one compressed frame");
            let wire = take_transmit(&mut pair.server);
            assert_eq!(wire[0] & 0x40, 0x40, "RSV1: compressed");
            assert_eq!(first_wire.get_or_insert_with(|| wire.clone()), &wire);
            pair.client.handle_read(&wire, pair.now);
            assert_eq!(events(&mut pair.client), [Event::Message(Message::from(text.as_str()))]);
        }
    }
    // What `send` on a fresh connection with the same parameters sends.
    let mut pair = deflate_pair(&params(15), &DeflateConfig::default());
    pair.server.send_text(&text).unwrap();
    assert_eq!(Some(take_transmit(&mut pair.server)), first_wire);
    // Another window size: its own compression, still inflated correctly.
    let mut pair = deflate_pair(&params(9), &DeflateConfig::default());
    pair.server.send_prepared(&prepared).unwrap();
    let wire = take_transmit(&mut pair.server);
    assert_ne!(Some(&wire), first_wire.as_ref());
    pair.client.handle_read(&wire, pair.now);
    assert_eq!(events(&mut pair.client), [Event::Message(Message::from(text.as_str()))]);
}
