//! Property tests: the frame codec round-trips, masking agrees with its
//! bytewise definition, the connection's events do not depend on how the
//! byte stream is chunked, and incremental UTF-8 validation agrees with
//! `std::str::from_utf8`.
//!
//! Every property compares the code under test with an expectation computed
//! here, independently (a reference header layout, the RFC's masking
//! formula, the operations the sender performed, the standard library's
//! UTF-8 decoder).

mod common;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use rfc6455::frame::{apply_mask, encode_frame, Frame, FrameDecoder, FrameHeader, MaskKey, OpCode};
use rfc6455::{
    CloseCode, CloseFrame, CloseReason, Connection, DataKind, Event, Initiator, Message, ProtocolError, Role, Status,
    Utf8Bytes,
};

use common::{Pair, KEY};

// ----- shared helpers ---------------------------------------------------------

/// Every opcode with its wire value, as RFC 6455 §5.2 lists them.
const OPCODES: [(OpCode, u8); 6] = [
    (OpCode::Continuation, 0x0),
    (OpCode::Text, 0x1),
    (OpCode::Binary, 0x2),
    (OpCode::Close, 0x8),
    (OpCode::Ping, 0x9),
    (OpCode::Pong, 0xA),
];

/// The wire value of `opcode`, from the table above.
fn wire_opcode(opcode: OpCode) -> u8 {
    OPCODES.iter().find(|(op, _)| *op == opcode).map(|&(_, bits)| bits).unwrap_or(0xFF)
}

/// Control opcodes have the high bit of the 4-bit opcode set (RFC 6455 §5.5).
fn is_control(opcode: OpCode) -> bool {
    wire_opcode(opcode) & 0x8 != 0
}

/// Splits `data` into consecutive pieces whose sizes cycle through `sizes`
/// (zeros count as one byte, so the split always makes progress).
fn split_by<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(usize::MAX).max(1).min(rest.len());
        let (piece, tail) = rest.split_at(size);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Sorted cut positions in `0..=len` chosen by `indices`.
fn cut_points(len: usize, indices: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = indices.iter().map(|index| index.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// `data` cut at `cuts` (sorted); `cuts.len() + 1` pieces, some possibly empty.
fn split_at_cuts<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        pieces.push(&data[start..cut]);
        start = cut;
    }
    pieces
}

/// A string built from arbitrary characters, at most `max_bytes` long.
fn string_up_to(max_chars: usize, max_bytes: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max_chars).prop_map(move |chars| {
        let mut text = String::new();
        for c in chars {
            if text.len() + c.len_utf8() > max_bytes {
                break;
            }
            text.push(c);
        }
        text
    })
}

// ----- 1. frame header round-trip ------------------------------------------------

/// The header layout of RFC 6455 §5.2, written out byte by byte: FIN, RSV
/// and opcode; MASK and the 7-bit length (126 and 127 announce a 16-bit or
/// 64-bit big-endian length, each used only when the shorter form cannot
/// hold the value); then the masking key.
fn reference_header(fin: bool, rsv: u8, opcode_bits: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | rsv | opcode_bits];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xFFFF {
        out.push(mask_bit | 126);
        out.extend_from_slice(&[(len >> 8) as u8, len as u8]);
    } else {
        out.push(mask_bit | 127);
        out.extend((0..8).rev().map(|i| (len >> (8 * i)) as u8));
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

fn data_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=125,
        126u64..=0xFFFF,
        0x1_0000u64..(1 << 63),
        select(vec![0u64, 125, 126, 127, 0xFFFF, 0x1_0000, (1 << 63) - 1]),
    ]
}

/// Headers that keep the RFC's invariants: control frames are final and
/// carry at most 125 bytes; lengths stay below 2^63.
fn header_strategy() -> impl Strategy<Value = FrameHeader> {
    (select(OPCODES.to_vec()), any::<bool>(), 0u8..8, option::of(any::<[u8; 4]>()), data_len(), 0u64..=125).prop_map(
        |((opcode, _), fin, rsv_bits, mask, len, control_len)| {
            let control = is_control(opcode);
            FrameHeader {
                fin: fin || control,
                rsv: rsv_bits << 4,
                opcode,
                mask: mask.map(MaskKey),
                payload_len: if control { control_len } else { len },
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Encoding writes exactly the RFC layout, and decoding gives back the
    /// same header and its length; every strict prefix is `Partial`, and
    /// bytes after the header are ignored.
    #[test]
    fn header_encode_decode_round_trip(header in header_strategy(), trailing in vec(any::<u8>(), 0..16)) {
        let expected = reference_header(
            header.fin,
            header.rsv,
            wire_opcode(header.opcode),
            header.mask.map(|key| key.0),
            header.payload_len,
        );

        let mut out = Vec::new();
        header.encode(&mut out);
        prop_assert_eq!(&out, &expected);
        prop_assert_eq!(header.encoded_len(), expected.len());

        prop_assert_eq!(FrameHeader::decode(&out), Ok(Status::Complete((header, expected.len()))));
        for cut in 0..out.len() {
            prop_assert_eq!(FrameHeader::decode(&out[..cut]), Ok(Status::Partial), "prefix of {} bytes", cut);
        }
        let mut longer = out.clone();
        longer.extend_from_slice(&trailing);
        prop_assert_eq!(FrameHeader::decode(&longer), Ok(Status::Complete((header, expected.len()))));
    }
}

// ----- 2. frame round-trip through the incremental decoder -----------------------

#[derive(Debug, Clone)]
struct FrameSpec {
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    key: [u8; 4],
    payload: Vec<u8>,
}

/// Payloads of every length class: short, 16-bit and (rarely, generated from
/// a seed to keep things fast) 64-bit lengths.
fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..=125),
        3 => vec(any::<u8>(), 126..=600),
        1 => (0x1_0000usize..=0x1_0100, any::<u8>())
            .prop_map(|(len, seed)| (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()),
    ]
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (select(OPCODES.to_vec()), any::<bool>(), 0u8..8, any::<[u8; 4]>(), payload_strategy()).prop_map(
        |((opcode, _), fin, rsv_bits, key, mut payload)| {
            let control = is_control(opcode);
            if control {
                payload.truncate(125);
            }
            FrameSpec { opcode, fin: fin || control, rsv: rsv_bits << 4, key, payload }
        },
    )
}

/// Chunk sizes for feeding a decoder: mostly small, sometimes everything at once.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![4 => 1usize..=16, 2 => 1usize..=300, 1 => Just(usize::MAX)], 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A stream of frames, masked (client to server) or not (server to
    /// client), decodes to the same frames whatever the read sizes.
    #[test]
    fn frames_round_trip_in_any_chunking(
        specs in vec(frame_spec(), 1..8),
        masked in any::<bool>(),
        sizes in chunk_sizes(),
    ) {
        let mut wire = Vec::new();
        let mut expected_len = 0;
        for spec in &specs {
            let mask = masked.then_some(MaskKey(spec.key));
            encode_frame(&mut wire, spec.opcode, spec.fin, spec.rsv, mask, &spec.payload);
            let header = reference_header(
                spec.fin,
                spec.rsv,
                wire_opcode(spec.opcode),
                masked.then_some(spec.key),
                spec.payload.len() as u64,
            );
            expected_len += header.len() + spec.payload.len();
        }
        prop_assert_eq!(wire.len(), expected_len);

        let role = if masked { Role::Server } else { Role::Client };
        let mut decoder = FrameDecoder::new(role, usize::MAX);
        decoder.set_allowed_rsv(0x70);
        let mut buf = BytesMut::new();
        let mut decoded: Vec<Frame> = Vec::new();
        for piece in split_by(&wire, &sizes) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(frame)) => decoded.push(frame),
                    Ok(None) => break,
                    Err(err) => return Err(TestCaseError::fail(format!("decode error: {err}"))),
                }
            }
        }
        prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());
        prop_assert!(!decoder.is_mid_frame());
        prop_assert_eq!(decoded.len(), specs.len());
        for (frame, spec) in decoded.iter().zip(&specs) {
            prop_assert_eq!(frame.header.opcode, spec.opcode);
            prop_assert_eq!(frame.header.fin, spec.fin);
            prop_assert_eq!(frame.header.rsv, spec.rsv);
            prop_assert_eq!(frame.header.mask, masked.then_some(MaskKey(spec.key)));
            prop_assert_eq!(frame.header.payload_len, spec.payload.len() as u64);
            prop_assert!(frame.payload[..] == spec.payload[..], "payload differs");
        }
    }
}

// ----- 3. masking ---------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `apply_mask` equals `b[i] ^ key[(i + offset) % 4]`, undoes itself, and
    /// gives the same result applied whole or piece by piece.
    #[test]
    fn mask_matches_definition_and_is_an_involution(
        data in vec(any::<u8>(), 0..200),
        key in any::<[u8; 4]>(),
        offset in prop_oneof![0usize..16, 0usize..(1 << 40)],
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let expected: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, &b)| b ^ key[(i + offset) % 4])
            .collect();

        let mut whole = data.clone();
        apply_mask(&mut whole, MaskKey(key), offset);
        prop_assert_eq!(&whole, &expected);

        let mut twice = whole.clone();
        apply_mask(&mut twice, MaskKey(key), offset);
        prop_assert_eq!(&twice, &data);

        let mut pieces = data.clone();
        let cuts = cut_points(data.len(), &cuts);
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&data.len())) {
            apply_mask(&mut pieces[start..end], MaskKey(key), offset + start);
            start = end;
        }
        prop_assert_eq!(&pieces, &expected);
    }
}

// ----- 4. connection events do not depend on chunking ------------------------------

/// One thing the sending application does.
#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A message sent with `send_fragment`, cut at `cuts`, with a ping
    /// before fragment `i` when `pings[i - 1]` is set.
    Fragmented {
        kind: DataKind,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        pings: Vec<Option<Vec<u8>>>,
    },
}

fn fragmented_strategy() -> impl Strategy<Value = Op> {
    let text = string_up_to(60, 240).prop_map(|text| (DataKind::Text, text.into_bytes()));
    let binary = vec(any::<u8>(), 0..300).prop_map(|data| (DataKind::Binary, data));
    (prop_oneof![text, binary], vec(any::<Index>(), 0..5), vec(option::weighted(0.4, vec(any::<u8>(), 0..12)), 5))
        .prop_map(|((kind, payload), cuts, pings)| {
            let cuts = cut_points(payload.len(), &cuts);
            Op::Fragmented { kind, payload, cuts, pings }
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => string_up_to(60, 240).prop_map(Op::Text),
        3 => vec(any::<u8>(), 0..300).prop_map(Op::Binary),
        1 => vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
        1 => vec(any::<u8>(), 0..=125).prop_map(Op::Pong),
        3 => fragmented_strategy(),
    ]
}

/// The close that ends the sequence: a sendable code and a reason of at
/// most 123 bytes, or no code at all.
fn close_strategy() -> impl Strategy<Value = (CloseCode, String)> {
    prop_oneof![
        1 => Just((CloseCode::NO_STATUS, String::new())),
        4 => (
            prop_oneof![select(vec![1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]), 3000u16..=4999],
            string_up_to(40, 123),
        )
            .prop_map(|(code, reason)| (CloseCode(code), reason)),
    ]
}

/// Performs `ops` then `close` on `conn`; every call must be accepted.
fn perform(conn: &mut Connection, ops: &[Op], close: &(CloseCode, String), now: std::time::Instant) {
    for op in ops {
        match op {
            Op::Text(text) => conn.send_text(text).unwrap(),
            Op::Binary(data) => conn.send_binary(data).unwrap(),
            Op::Ping(data) => conn.ping(data).unwrap(),
            Op::Pong(data) => conn.pong(data).unwrap(),
            Op::Fragmented { kind, payload, cuts, pings } => {
                let pieces = split_at_cuts(payload, cuts);
                let last = pieces.len() - 1;
                for (i, piece) in pieces.into_iter().enumerate() {
                    if let Some(Some(ping)) = i.checked_sub(1).and_then(|j| pings.get(j)) {
                        conn.ping(ping).unwrap();
                    }
                    conn.send_fragment(*kind, piece, i == last).unwrap();
                }
            }
        }
    }
    conn.close(close.0, &close.1, now).unwrap();
}

/// The events the receiving side must report for `ops` then `close`.
fn expected_events(ops: &[Op], close: &(CloseCode, String)) -> Vec<Event> {
    let mut events = Vec::new();
    for op in ops {
        match op {
            Op::Text(text) => events.push(Event::Message(Message::Text(Utf8Bytes::from(text.as_str())))),
            Op::Binary(data) => events.push(Event::Message(Message::Binary(Bytes::from(data.clone())))),
            Op::Ping(data) => events.push(Event::Ping(Bytes::from(data.clone()))),
            Op::Pong(data) => events.push(Event::Pong { payload: Bytes::from(data.clone()), rtt: None }),
            Op::Fragmented { kind, payload, cuts, pings } => {
                let fragments = cuts.len() + 1;
                for ping in pings.iter().take(fragments - 1).flatten() {
                    events.push(Event::Ping(Bytes::from(ping.clone())));
                }
                let message = match kind {
                    DataKind::Text => {
                        let text = String::from_utf8(payload.clone()).unwrap();
                        Message::Text(Utf8Bytes::from(text))
                    }
                    DataKind::Binary => Message::Binary(Bytes::from(payload.clone())),
                };
                events.push(Event::Message(message));
            }
        }
    }
    events.push(Event::Closed(CloseReason::Clean {
        initiator: Initiator::Remote,
        remote: CloseFrame { code: close.0, reason: Utf8Bytes::from(close.1.as_str()) },
    }));
    events
}

/// Runs `ops` and `close` on one side of a fresh pair and delivers the bytes
/// to the other side in `chunk`-sized reads. Returns the receiver's events
/// and the frames the receiver sent back.
fn deliver(client_sends: bool, ops: &[Op], close: &(CloseCode, String), chunk: usize) -> (Vec<Event>, Vec<Frame>) {
    let mut pair = Pair::new();
    pair.chunk = chunk;
    let now = pair.now;
    if client_sends {
        perform(&mut pair.client, ops, close, now);
        let events = pair.to_server();
        (events, common::sent_frames(&mut pair.server))
    } else {
        perform(&mut pair.server, ops, close, now);
        let events = pair.to_client();
        (events, common::sent_frames(&mut pair.client))
    }
}

/// The receiver answers every ping with a pong of the same payload and
/// echoes the close code (an empty close for a close without code).
fn check_replies(ops: &[Op], close: &(CloseCode, String), replies: &[Frame]) -> Result<(), TestCaseError> {
    let mut pings: Vec<&[u8]> = Vec::new();
    for op in ops {
        match op {
            Op::Ping(data) => pings.push(data),
            Op::Fragmented { cuts, pings: between, .. } => {
                pings.extend(between.iter().take(cuts.len()).flatten().map(Vec::as_slice));
            }
            Op::Text(_) | Op::Binary(_) | Op::Pong(_) => {}
        }
    }
    prop_assert_eq!(replies.len(), pings.len() + 1, "replies: {:?}", replies);
    for (reply, ping) in replies.iter().zip(&pings) {
        prop_assert_eq!(reply.header.opcode, OpCode::Pong);
        prop_assert_eq!(&reply.payload[..], *ping);
    }
    let last = &replies[pings.len()];
    prop_assert_eq!(last.header.opcode, OpCode::Close);
    let echoed: Vec<u8> = if close.0 == CloseCode::NO_STATUS { Vec::new() } else { close.0 .0.to_be_bytes().to_vec() };
    prop_assert_eq!(&last.payload[..], &echoed[..]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Client to server: the server's events are the messages, pings, pongs
    /// and close the client sent, both when the bytes arrive at once and when
    /// they arrive in small reads.
    #[test]
    fn client_to_server_events_do_not_depend_on_chunking(
        ops in vec(op_strategy(), 0..8),
        close in close_strategy(),
        chunk in 1usize..=64,
    ) {
        let expected = expected_events(&ops, &close);
        let (whole, replies) = deliver(true, &ops, &close, usize::MAX);
        let (chunked, chunked_replies) = deliver(true, &ops, &close, chunk);
        prop_assert_eq!(&whole, &chunked);
        prop_assert_eq!(&whole, &expected);
        check_replies(&ops, &close, &replies)?;
        check_replies(&ops, &close, &chunked_replies)?;
    }

    /// Server to client, likewise.
    #[test]
    fn server_to_client_events_do_not_depend_on_chunking(
        ops in vec(op_strategy(), 0..8),
        close in close_strategy(),
        chunk in 1usize..=64,
    ) {
        let expected = expected_events(&ops, &close);
        let (whole, replies) = deliver(false, &ops, &close, usize::MAX);
        let (chunked, chunked_replies) = deliver(false, &ops, &close, chunk);
        prop_assert_eq!(&whole, &chunked);
        prop_assert_eq!(&whole, &expected);
        check_replies(&ops, &close, &replies)?;
        check_replies(&ops, &close, &chunked_replies)?;
    }
}

// ----- 5. incremental UTF-8 validation ----------------------------------------------

/// Text with characters of every width, to take arbitrary byte slices of.
const SAMPLE: &str = "a\u{7f}\u{80}é\u{7ff}\u{800}€日本\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}𝄞😀\u{10ffff}κόσμε";

fn continuation() -> impl Strategy<Value = u8> {
    0x80u8..=0xBF
}

/// Pieces that keep a text valid.
fn valid_atom() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        vec(0x20u8..0x7F, 0..6),
        any::<char>().prop_map(|c| c.to_string().into_bytes()),
        // A run of whole characters of the sample.
        (any::<Index>(), 0usize..6).prop_map(|(start, count)| {
            let chars: Vec<char> = SAMPLE.chars().collect();
            let start = start.index(chars.len());
            chars.iter().skip(start).take(count).collect::<String>().into_bytes()
        }),
    ]
    .boxed()
}

/// A multi-byte character cut short.
fn truncated_char() -> impl Strategy<Value = Vec<u8>> {
    (any::<char>(), any::<Index>()).prop_map(|(c, cut)| {
        let bytes = c.to_string().into_bytes();
        if bytes.len() < 2 {
            vec![0xE2, 0x82]
        } else {
            bytes[..1 + cut.index(bytes.len() - 1)].to_vec()
        }
    })
}

/// Pieces that are, or may make the text, invalid.
fn suspicious_atom() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        // An arbitrary byte slice of the sample: may cut characters.
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| {
            let bytes = SAMPLE.as_bytes();
            let (a, b) = (a.index(bytes.len() + 1), b.index(bytes.len() + 1));
            bytes[a.min(b)..a.max(b)].to_vec()
        }),
        truncated_char(),
        // Overlong encodings of 2, 3 and 4 bytes.
        (0xC0u8..=0xC1, continuation()).prop_map(|(a, b)| vec![a, b]),
        (0x80u8..=0x9F, continuation()).prop_map(|(b, c)| vec![0xE0, b, c]),
        (0x80u8..=0x8F, continuation(), continuation()).prop_map(|(b, c, d)| vec![0xF0, b, c, d]),
        // UTF-16 surrogates U+D800-U+DFFF.
        (0xA0u8..=0xBF, continuation()).prop_map(|(b, c)| vec![0xED, b, c]),
        // Above U+10FFFF.
        (0x90u8..=0xBF, continuation(), continuation()).prop_map(|(b, c, d)| vec![0xF4, b, c, d]),
        (0xF5u8..=0xF7, continuation(), continuation(), continuation()).prop_map(|(a, b, c, d)| vec![a, b, c, d]),
        // Bytes that never appear in UTF-8, lone continuations, anything.
        (0xF8u8..=0xFF).prop_map(|b| vec![b]),
        continuation().prop_map(|b| vec![b]),
        any::<u8>().prop_map(|b| vec![b]),
    ]
    .boxed()
}

fn utf8_payload() -> impl Strategy<Value = Vec<u8>> {
    let valid = vec(valid_atom(), 0..10);
    let mixed = vec(prop_oneof![6 => valid_atom(), 4 => suspicious_atom()], 0..10);
    let nearly_valid = (vec(valid_atom(), 0..6), suspicious_atom(), vec(valid_atom(), 0..6))
        .prop_map(|(before, bad, after)| vec![before.concat(), bad, after.concat()]);
    // Valid text that stops in the middle of a character: only the end of
    // the message shows it is invalid.
    let cut_short = (vec(valid_atom(), 0..8), truncated_char()).prop_map(|(before, cut)| vec![before.concat(), cut]);
    prop_oneof![4 => valid, 4 => mixed, 2 => nearly_valid, 1 => cut_short].prop_map(|atoms| atoms.concat())
}

/// A text message sent in fragments cut at `cuts`, with a ping before
/// fragment `i` when `pings[i - 1]` is set.
#[derive(Debug, Clone)]
struct TextMessage {
    payload: Vec<u8>,
    cuts: Vec<usize>,
    pings: Vec<Option<Vec<u8>>>,
    key: [u8; 4],
}

fn text_message() -> impl Strategy<Value = TextMessage> {
    (utf8_payload(), vec(any::<Index>(), 0..5), vec(option::weighted(0.3, vec(any::<u8>(), 0..8)), 5), any::<[u8; 4]>())
        .prop_map(|(payload, cuts, pings, key)| TextMessage {
            cuts: cut_points(payload.len(), &cuts),
            payload,
            pings,
            key,
        })
}

impl TextMessage {
    /// The ping sent just before fragment `i`, if any.
    fn ping_before(&self, i: usize) -> Option<&Vec<u8>> {
        i.checked_sub(1).and_then(|j| self.pings.get(j)).and_then(Option::as_ref)
    }

    /// The client frames of this message.
    fn encode(&self, wire: &mut Vec<u8>) {
        let fragments = split_at_cuts(&self.payload, &self.cuts);
        let last = fragments.len() - 1;
        for (i, fragment) in fragments.into_iter().enumerate() {
            if let Some(ping) = self.ping_before(i) {
                encode_frame(wire, OpCode::Ping, true, 0, Some(KEY), ping);
            }
            let opcode = if i == 0 { OpCode::Text } else { OpCode::Continuation };
            encode_frame(wire, opcode, i == last, 0, Some(MaskKey(self.key)), fragment);
        }
    }
}

/// The length of the shortest prefix of `bytes` that no continuation can
/// make valid UTF-8, according to the standard library; `None` if every
/// prefix could still be completed.
fn first_impossible_prefix(bytes: &[u8]) -> Option<usize> {
    (1..=bytes.len()).find(|&end| matches!(std::str::from_utf8(&bytes[..end]), Err(err) if err.error_len().is_some()))
}

/// The events a server must report for `messages`, and the pings among
/// them (which it must answer). A message is delivered exactly when
/// `std::str::from_utf8` accepts its payload. The first invalid one ends the
/// connection with `InvalidUtf8`; the error is found in the fragment holding
/// the first byte that makes the text impossible (or, for text cut short, at
/// the last fragment), so only the pings before that fragment are reported.
fn expected_utf8_events(messages: &[TextMessage]) -> (Vec<Event>, Vec<Vec<u8>>) {
    let mut events = Vec::new();
    let mut pings = Vec::new();
    for message in messages {
        let fragments = message.cuts.len() + 1;
        let failing_fragment = match std::str::from_utf8(&message.payload) {
            Ok(_) => None,
            Err(_) => Some(match first_impossible_prefix(&message.payload) {
                // Byte `end - 1` lies in the fragment whose range holds it.
                Some(end) => message.cuts.iter().filter(|&&cut| cut < end).count(),
                None => fragments - 1,
            }),
        };
        let reached = failing_fragment.map_or(fragments, |f| f + 1);
        for i in 0..reached {
            if let Some(ping) = message.ping_before(i) {
                events.push(Event::Ping(Bytes::from(ping.clone())));
                pings.push(ping.clone());
            }
        }
        match std::str::from_utf8(&message.payload) {
            Ok(text) => events.push(Event::Message(Message::Text(Utf8Bytes::from(text)))),
            Err(_) => {
                events.push(Event::Closed(CloseReason::Protocol(ProtocolError::InvalidUtf8)));
                break;
            }
        }
    }
    (events, pings)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A server delivers a fragmented text message exactly when its payload
    /// is valid UTF-8 as a whole, whatever the fragment boundaries, read
    /// sizes and pings in between, and otherwise fails with 1007.
    #[test]
    fn incremental_utf8_agrees_with_std(
        messages in vec(text_message(), 1..=3),
        sizes in vec(prop_oneof![4 => 1usize..=8, 2 => 1usize..=64, 1 => Just(usize::MAX)], 1..6),
    ) {
        let mut wire = Vec::new();
        for message in &messages {
            message.encode(&mut wire);
        }
        let (expected, pings) = expected_utf8_events(&messages);

        let now = std::time::Instant::now();
        let mut server = Connection::server(&common::config(), now);
        let mut events = Vec::new();
        for piece in split_by(&wire, &sizes) {
            server.handle_read(piece, now);
            events.extend(common::events(&mut server));
        }
        prop_assert_eq!(&events, &expected);

        let replies = common::sent_frames(&mut server);
        let failed = matches!(events.last(), Some(Event::Closed(_)));
        prop_assert_eq!(replies.len(), pings.len() + usize::from(failed), "replies: {:?}", replies);
        for (reply, ping) in replies.iter().zip(&pings) {
            prop_assert_eq!(reply.header.opcode, OpCode::Pong);
            prop_assert_eq!(&reply.payload[..], &ping[..]);
        }
        if failed {
            let close = &replies[pings.len()];
            prop_assert_eq!(common::close_code_of(close), Some(1007));
        }
    }
}
