//! Fuzzes the permessage-deflate receive path: a server `Connection` with
//! deflate negotiated (fuzzed parameters) and a small `max_message_size` and
//! `max_frame_size` (0..64 KiB) receives masked frames with RSV1 set, fed in
//! arbitrary chunks. Payloads are real raw-deflate output of arbitrary text
//! and binary data (fragmented), decompression bombs (64 KiB to 16 MiB of
//! zeros compressed to a few KiB), plain frames, pings, and arbitrary bytes
//! posing as compressed data.
//!
//! Invariants:
//! * every delivered message is at most `max_message_size` bytes;
//! * while every frame is well-formed, the events are exactly the expected
//!   ones: each message inflates to the original data, and the first message
//!   (or frame) over a limit, bombs included, ends the connection with
//!   `Event::Closed` and close code 1009, after which nothing is reported;
//! * with arbitrary frames, a failure is reported with close code 1002,
//!   1007 or 1009 (or a clean close, for a valid close frame), never a panic;
//! * no single allocation made while receiving exceeds twice the configured
//!   limits plus a fixed allowance for the inflater and the bytes read
//!   (a bomb never makes the connection allocate its inflated size).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::frame::{FrameHeader, OpCode};
use rfc6455::{CloseCode, CloseReason, Config, Connection, Event, Message, Role};
use rfc6455_fuzz::{chunks, opcode_from, peer_frame, split_even, Compressor, FuzzParams, Watch};

/// Records the largest single allocation while armed.
struct Tracking;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    if ARMED.load(Ordering::Relaxed) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Sizes of the bombs: all above the largest `max_message_size` (64 KiB - 1).
const BOMB_SIZES: [usize; 3] = [1 << 16, 1 << 20, 16 << 20];

/// The bombs: zeros compressed once per process, with a 512-byte window so
/// that any negotiated window inflates them.
fn bombs() -> &'static [Vec<u8>; 3] {
    static BOMBS: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    BOMBS.get_or_init(|| BOMB_SIZES.map(|size| Compressor::new(6, 9, true).message(&vec![0; size])))
}

#[derive(Debug, Arbitrary)]
enum InMessage {
    Text { text: String, pieces: u8 },
    Binary { data: Vec<u8>, pieces: u8 },
    Bomb { which: u8, pieces: u8 },
    Plain(Vec<u8>),
    Ping(Vec<u8>),
    Raw { opcode: u8, fin: bool, rsv1: bool, payload: Vec<u8> },
}

#[derive(Debug, Arbitrary)]
struct Input {
    params: FuzzParams,
    max_message_size: u16,
    max_frame_size: u16,
    level: u8,
    chunk_seed: u8,
    messages: Vec<InMessage>,
}

/// An expected event; `TooBig` stands for `Event::Closed` with code 1009.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Message(Message),
    Ping(Vec<u8>),
    TooBig,
}

fn expect_of(event: &Event) -> Option<Expect> {
    match event {
        Event::Message(message) => Some(Expect::Message(message.clone())),
        Event::Ping(payload) => Some(Expect::Ping(payload.to_vec())),
        Event::Closed(reason) if reason.code() == CloseCode::MESSAGE_TOO_BIG => Some(Expect::TooBig),
        _ => None,
    }
}

/// Frames for one compressed message split into `pieces` fragments.
fn compressed_frames(opcode: OpCode, payload: &[u8], pieces: u8) -> (Vec<u8>, usize) {
    let parts = split_even(payload, pieces % 8);
    let mut wire = Vec::new();
    let mut largest = 0;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        let (op, rsv) = if i == 0 { (opcode, FrameHeader::RSV1) } else { (OpCode::Continuation, 0) };
        wire.extend_from_slice(&peer_frame(Role::Server, op, i == last, rsv, part));
        largest = largest.max(part.len());
    }
    (wire, largest)
}

fuzz_target!(|input: Input| {
    let now = Instant::now();
    let params = input.params.params();
    let mut config = Config::default();
    config.max_message_size = usize::from(input.max_message_size);
    config.max_frame_size = usize::from(input.max_frame_size);
    let bombs = bombs();
    let mut conn = Connection::server(&config, now).with_deflate(&params, &DeflateConfig::default());
    let mut watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    // What a client with these parameters sends.
    let mut compressor =
        Compressor::new(u32::from(input.level % 10), params.client_max_window_bits, params.client_no_context_takeover);

    let mut expected: Vec<Expect> = Vec::new();
    let mut actual: Vec<Expect> = Vec::new();
    // False once an arbitrary "compressed" frame made the outcome unknowable.
    let mut modelled = true;
    let mut ended = false;
    for message in input.messages {
        let (wire, outcome) = match &message {
            InMessage::Text { text, pieces } => {
                let payload = compressor.message(text.as_bytes());
                let (wire, largest) = compressed_frames(OpCode::Text, &payload, *pieces);
                let fits = text.len() <= config.max_message_size && largest <= config.max_frame_size;
                (wire, if fits { Expect::Message(Message::from(text.as_str())) } else { Expect::TooBig })
            }
            InMessage::Binary { data, pieces } => {
                let payload = compressor.message(data);
                let (wire, largest) = compressed_frames(OpCode::Binary, &payload, *pieces);
                let fits = data.len() <= config.max_message_size && largest <= config.max_frame_size;
                (wire, if fits { Expect::Message(Message::from(data.clone())) } else { Expect::TooBig })
            }
            InMessage::Bomb { which, pieces } => {
                let bomb = &bombs[usize::from(*which) % bombs.len()];
                (compressed_frames(OpCode::Binary, bomb, *pieces).0, Expect::TooBig)
            }
            InMessage::Plain(data) => {
                let wire = peer_frame(Role::Server, OpCode::Binary, true, 0, data);
                let fits = data.len() <= config.max_message_size && data.len() <= config.max_frame_size;
                (wire, if fits { Expect::Message(Message::from(data.clone())) } else { Expect::TooBig })
            }
            InMessage::Ping(payload) => {
                let payload = &payload[..payload.len().min(125)];
                let wire = peer_frame(Role::Server, OpCode::Ping, true, 0, payload);
                let fits = payload.len() <= config.max_frame_size;
                (wire, if fits { Expect::Ping(payload.to_vec()) } else { Expect::TooBig })
            }
            InMessage::Raw { opcode, fin, rsv1, payload } => {
                modelled = false;
                let rsv = if *rsv1 { FrameHeader::RSV1 } else { 0 };
                (peer_frame(Role::Server, opcode_from(*opcode), *fin, rsv, payload), Expect::TooBig)
            }
        };
        if modelled && !ended {
            ended = outcome == Expect::TooBig;
            expected.push(outcome);
        }
        let largest_read = wire.len();
        let pieces = chunks(&wire, input.chunk_seed);
        LARGEST.store(0, Ordering::Relaxed);
        ARMED.store(true, Ordering::Relaxed);
        let mut events = Vec::new();
        for piece in pieces {
            conn.handle_read(piece, now);
            events.extend(watch.drain(&mut conn));
        }
        ARMED.store(false, Ordering::Relaxed);
        let largest = LARGEST.load(Ordering::Relaxed);
        let allowance = 2 * (config.max_message_size + config.max_frame_size + largest_read) + (256 << 10);
        assert!(largest <= allowance, "a {largest}-byte allocation (allowance {allowance})");
        for event in &events {
            match event {
                // A raw frame may be a valid close frame.
                Event::Closed(CloseReason::Clean { .. }) => assert!(!modelled, "a clean close from modelled frames"),
                Event::Closed(reason) => {
                    let code = reason.code();
                    assert!(matches!(reason, CloseReason::Protocol(_)), "unexpected close {reason}");
                    assert!([1002, 1007, 1009].contains(&code.0), "unexpected close code {code}");
                }
                _ => {}
            }
        }
        actual.extend(events.iter().filter_map(expect_of));
        if modelled {
            assert_eq!(actual, expected, "events differ from the model");
        }
    }
});
