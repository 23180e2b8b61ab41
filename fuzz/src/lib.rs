//! Shared helpers for the fuzz targets: input splitting, deterministic
//! chunking, frame building, a raw-deflate compressor, and [`Watch`], which
//! checks the invariants every [`Connection`] must keep whatever it is fed.

use std::time::Instant;

use arbitrary::Arbitrary;
use flate2::{Compress, Compression, FlushCompress};
use rfc6455::extensions::deflate::DeflateParams;
use rfc6455::frame::{encode_frame, MaskKey, OpCode};
use rfc6455::{Config, Connection, DataKind, Event, MessagePart, Role, State};

/// The masking key of every frame the harnesses build for a server to read.
pub const KEY: MaskKey = MaskKey([0x37, 0xfa, 0x21, 0x3d]);

/// Upper bound on events drained in one go (each event consumes at least two
/// input bytes, so a real input never comes near it).
pub const MAX_EVENTS: usize = 1 << 20;

/// Splits `data` into a fixed-size prefix (zero-padded when `data` is
/// shorter) and the rest. Byte-oriented targets read their settings from the
/// prefix so that a seed is "settings, then wire bytes".
/// A handshake config with small limits taken from three fuzzed bytes: the
/// head limit (up to 8 KiB) from two, the header limit (up to 64) from one;
/// 64 KiB frames and messages for the connection that may follow.
pub fn handshake_config([lo, hi, max_headers]: [u8; 3]) -> Config {
    let mut config = Config::default();
    config.max_handshake_bytes = usize::from(u16::from_le_bytes([lo, hi]) & 0x1FFF);
    config.max_headers = usize::from(max_headers % 65);
    config.max_message_size = 1 << 16;
    config.max_frame_size = 1 << 16;
    config
}

pub fn take_prefix<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut prefix = [0u8; N];
    let n = data.len().min(N);
    prefix[..n].copy_from_slice(&data[..n]);
    (prefix, &data[n..])
}

/// Cuts `data` into chunks chosen by `seed`: 0 gives one byte at a time, 255
/// one single chunk, anything else pseudo-random lengths from 1 to
/// `3 * seed + 1` (the same seed always gives the same cut).
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    match seed {
        0 => data.chunks(1).collect(),
        255 => vec![data],
        _ => {
            let max = 3 * usize::from(seed) + 1;
            let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
            let mut out = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                // xorshift32
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let len = (state as usize % max + 1).min(rest.len());
                let (head, tail) = rest.split_at(len);
                out.push(head);
                rest = tail;
            }
            out
        }
    }
}

/// The other role.
pub fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// One frame as the peer of a `receiver` would send it: masked with [`KEY`]
/// when the receiver is a server, unmasked otherwise. Only the RSV bits of
/// `rsv` (`0x70`) are used; nothing else is checked, so control frames may
/// be fragmented or too long (raw bytes reach the reserved opcodes).
pub fn peer_frame(receiver: Role, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) -> Vec<u8> {
    let mask = match receiver {
        Role::Server => Some(KEY),
        Role::Client => None,
    };
    let mut out = Vec::with_capacity(payload.len() + 14);
    encode_frame(&mut out, opcode, fin, rsv & 0x70, mask, payload);
    out
}

/// An opcode from a fuzzer byte: the six defined opcodes, cycling.
pub fn opcode_from(byte: u8) -> OpCode {
    match byte % 6 {
        0 => OpCode::Continuation,
        1 => OpCode::Text,
        2 => OpCode::Binary,
        3 => OpCode::Close,
        4 => OpCode::Ping,
        _ => OpCode::Pong,
    }
}

/// Takes everything `conn` wants to transmit.
pub fn transmit_all(conn: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let run = conn.poll_transmit();
        if run.is_empty() {
            return bytes;
        }
        let n = run.len();
        bytes.extend_from_slice(run);
        conn.advance_transmit(n);
    }
}

/// permessage-deflate parameters from fuzzer input, always valid: window
/// bits 8..=15.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct FuzzParams {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// Server window bits, mapped to 8..=15.
    pub server_bits: u8,
    /// Client window bits, mapped to 8..=15.
    pub client_bits: u8,
}

impl FuzzParams {
    /// The parameters, as a handshake would agree on them.
    pub fn params(&self) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: 8 + self.server_bits % 8,
            client_max_window_bits: 8 + self.client_bits % 8,
        }
    }
}

/// A raw-deflate compressor as a permessage-deflate sender uses it: sync
/// flush per message, the `00 00 ff ff` tail stripped.
pub struct Compressor {
    compress: Compress,
    reset_after_message: bool,
}

impl Compressor {
    /// A compressor with a window of `2^window_bits` (8 is raised to 9, as
    /// zlib has no 8-bit window for compression) at `level` (0..=9).
    pub fn new(level: u32, window_bits: u8, reset_after_message: bool) -> Self {
        let bits = window_bits.clamp(9, 15);
        Self {
            compress: Compress::new_with_window_bits(Compression::new(level.min(9)), false, bits),
            reset_after_message,
        }
    }

    /// Compresses one whole message and returns the payload to send.
    pub fn message(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start = self.compress.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity() + 64);
            }
            let consumed = (self.compress.total_in() - start) as usize;
            self.compress.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync).expect("deflate misuse");
            let consumed = (self.compress.total_in() - start) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        } else {
            out.push(0);
        }
        if self.reset_after_message {
            self.compress.reset();
        }
        out
    }
}

/// Splits `data` into `pieces` (at least one) nearly equal parts, some
/// possibly empty.
pub fn split_even(data: &[u8], pieces: u8) -> Vec<&[u8]> {
    let pieces = usize::from(pieces.max(1));
    let size = data.len().div_ceil(pieces).max(1);
    let mut out: Vec<&[u8]> = data.chunks(size).collect();
    if out.is_empty() {
        out.push(&[]);
    }
    out
}

/// Checks the invariants of one [`Connection`] as a harness drives it.
///
/// * no event follows [`Event::Closed`], which comes at most once, and
///   after a full drain it has been reported exactly when the state is `Closed`;
/// * messages respect `max_message_size` (the largest limit in effect since
///   the previous message ended, when [`Watch::set_max_message_size`] changes
///   it), control payloads 125 bytes;
/// * the parts of a streamed message ([`Event::Part`]) come in order: `first`
///   on exactly the first, `last` on exactly the last, only the last may be
///   empty, one kind throughout, no other message (whole or in parts) in
///   between; their total stays within `max_message_size`; a text message's
///   parts so far are always a valid UTF-8 prefix, and valid UTF-8 once the
///   last part arrives;
/// * the state only moves forward (Open, CloseSent, Closed);
/// * once [`Connection::should_close_transport`] is true it stays true, and
///   [`Connection::poll_timeout`] is `None`;
/// * [`Connection::is_write_buffer_full`] matches the documented rule.
#[derive(Debug)]
pub struct Watch {
    /// `Config::max_message_size` of the connection.
    pub max_message_size: usize,
    /// `Config::write_buffer_limit` of the connection.
    pub write_buffer_limit: usize,
    /// `Event::Closed` was reported.
    pub closed: bool,
    state: State,
    should_close: bool,
    /// The largest `max_message_size` in effect since the last message
    /// ended: the bound on the next message, which may have begun under any
    /// of them (a changed limit also applies to the rest of a message in
    /// progress).
    limit_since_message: usize,
    /// The streamed message in progress, if any.
    streamed: Option<Streamed>,
}

/// A message being received in parts, as far as [`Watch`] has seen it.
#[derive(Debug)]
struct Streamed {
    kind: DataKind,
    /// Bytes handed out so far.
    len: usize,
    /// The text's last bytes that are not yet a whole character (at most 3).
    unfinished: Vec<u8>,
}

fn rank(state: State) -> u8 {
    match state {
        State::Open => 0,
        State::CloseSent => 1,
        State::Closed => 2,
        other => panic!("a state this watch does not know: {other:?}"),
    }
}

impl Watch {
    /// A watch for a fresh connection.
    pub fn new(max_message_size: usize, write_buffer_limit: usize) -> Self {
        Self {
            max_message_size,
            write_buffer_limit,
            closed: false,
            state: State::Open,
            should_close: false,
            limit_since_message: max_message_size,
            streamed: None,
        }
    }

    /// Follows [`Connection::set_max_message_size`].
    pub fn set_max_message_size(&mut self, max_message_size: usize) {
        self.max_message_size = max_message_size;
        self.limit_since_message = self.limit_since_message.max(max_message_size);
    }

    /// The bound on the size of the message being received.
    fn message_bound(&self) -> usize {
        self.limit_since_message.max(self.max_message_size)
    }

    /// A message ended: the next one begins under the current limit.
    fn message_ended(&mut self) {
        self.limit_since_message = self.max_message_size;
    }

    fn check_part(&mut self, part: &MessagePart) {
        let bound = self.message_bound();
        if part.first {
            assert!(self.streamed.is_none(), "a first part inside another streamed message: {part:?}");
            self.streamed = Some(Streamed { kind: part.kind, len: 0, unfinished: Vec::new() });
        }
        let streamed = self.streamed.as_mut().expect("a part without a first part before it");
        assert_eq!(streamed.kind, part.kind, "the kind changed within a streamed message");
        assert!(part.last || !part.data.is_empty(), "an empty part that is not the last");
        streamed.len += part.data.len();
        assert!(
            streamed.len <= bound,
            "streamed message of {} bytes so far over max_message_size {bound}",
            streamed.len
        );
        if part.kind == DataKind::Text {
            // Every prefix of the concatenation must be a valid UTF-8 prefix:
            // only an incomplete character at the end may fail.
            streamed.unfinished.extend_from_slice(&part.data);
            match std::str::from_utf8(&streamed.unfinished) {
                Ok(_) => streamed.unfinished.clear(),
                Err(err) => {
                    assert!(err.error_len().is_none(), "invalid UTF-8 in a streamed text message: {err}");
                    streamed.unfinished.drain(..err.valid_up_to());
                }
            }
            if part.last {
                assert!(streamed.unfinished.is_empty(), "a streamed text message ends mid-character");
            }
        }
        if part.last {
            self.streamed = None;
            self.message_ended();
        }
    }

    /// Drains every event, checking each, then checks the state.
    pub fn drain(&mut self, conn: &mut Connection) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = conn.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match &event {
                Event::Message(message) => {
                    assert!(self.streamed.is_none(), "a whole message between the parts of a streamed one");
                    let bound = self.message_bound();
                    assert!(message.len() <= bound, "message of {} bytes over max_message_size {bound}", message.len());
                    self.message_ended();
                }
                Event::Part(part) => self.check_part(part),
                Event::Ping(payload) | Event::Pong { payload, .. } => assert!(payload.len() <= 125),
                Event::Closed(reason) => {
                    self.closed = true;
                    assert!(conn.is_closed(), "Closed reported in state {:?}", conn.state());
                    assert_eq!(conn.close_reason(), Some(reason));
                }
                _ => {}
            }
            events.push(event);
            assert!(events.len() <= MAX_EVENTS, "poll_event never returns None");
        }
        assert_eq!(conn.is_closed(), self.closed, "state Closed but Event::Closed not reported (or the reverse)");
        assert_eq!(conn.poll_event(), None, "poll_event after None and nothing new");
        self.check(conn);
        events
    }

    /// Checks the state invariants (call after any input or command).
    pub fn check(&mut self, conn: &Connection) {
        let state = conn.state();
        assert!(rank(state) >= rank(self.state), "state went back from {:?} to {state:?}", self.state);
        self.state = state;
        assert_eq!(conn.is_closed(), state == State::Closed);
        if self.closed {
            assert_eq!(state, State::Closed);
        }
        let should_close = conn.should_close_transport();
        if self.should_close {
            assert!(should_close, "should_close_transport went back to false");
        }
        self.should_close = should_close;
        if should_close {
            assert!(conn.is_closed(), "should_close_transport before Closed");
            assert_eq!(conn.poll_timeout(), None, "a timer armed after should_close_transport");
        }
        let buffered = conn.buffered_amount();
        assert_eq!(conn.is_write_buffer_full(), buffered > 0 && buffered >= self.write_buffer_limit);
    }
}

/// What a usage error must leave untouched.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    state: State,
    buffered: usize,
    timeout: Option<Instant>,
    reason: Option<rfc6455::CloseReason>,
    closing: bool,
}

impl Snapshot {
    /// The observable state of `conn`.
    pub fn of(conn: &Connection) -> Self {
        Self {
            state: conn.state(),
            buffered: conn.buffered_amount(),
            timeout: conn.poll_timeout(),
            reason: conn.close_reason().cloned(),
            closing: conn.should_close_transport(),
        }
    }
}
