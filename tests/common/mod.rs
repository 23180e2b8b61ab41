//! Shared test kit: two connections wired back to back in memory with a
//! virtual clock that jumps from deadline to deadline, and builders for raw
//! frames. `alloc` counts allocations; `handshake` holds the fixtures of the
//! handshake tests; `noise` makes bytes that do not compress.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::wrong_self_convention,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod alloc;
pub mod handshake;
pub mod noise;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use rfc6455::frame::{encode_frame, Frame, FrameDecoder, MaskKey, OpCode};
use rfc6455::{CloseCode, CloseReason, Config, Connection, Event, Role};

/// A fixed masking key for hand-built client frames.
pub const KEY: MaskKey = MaskKey([0x37, 0xfa, 0x21, 0x3d]);

/// The default config.
pub fn config() -> Config {
    Config::default()
}

/// A fixed seed for client masking keys, so runs are reproducible.
pub const SEED: [u8; 32] = [42; 32];

/// A fresh open connection of `role` (a client masks with keys from [`SEED`]).
pub fn connection(role: Role, config: &Config, now: Instant) -> Connection {
    match role {
        Role::Client => Connection::client(config, now, SEED),
        Role::Server => Connection::server(config, now),
    }
}

/// A client frame (masked with [`KEY`]).
pub fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, 0, Some(KEY), payload);
    out
}

/// A client frame with RSV bits set.
pub fn client_frame_rsv(opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, rsv, Some(KEY), payload);
    out
}

/// A server frame (unmasked).
pub fn server_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, 0, None, payload);
    out
}

/// A close payload: code then reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// Drains every event.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).take(10_000).collect()
}

/// Takes everything `conn` wants to transmit.
pub fn take_transmit(conn: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let run = conn.poll_transmit().to_vec();
        if run.is_empty() {
            return bytes;
        }
        conn.advance_transmit(run.len());
        bytes.extend_from_slice(&run);
    }
}

/// Decodes everything `conn` transmitted, as its peer would.
pub fn sent_frames(conn: &mut Connection) -> Vec<Frame> {
    let peer = match conn.role() {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut decoder = FrameDecoder::new(peer, usize::MAX);
    let mut buf = BytesMut::from(&take_transmit(conn)[..]);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).expect("our own output must decode") {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "trailing partial frame in our output");
    frames
}

/// The code of a close frame's payload.
pub fn close_code_of(frame: &Frame) -> Option<u16> {
    assert_eq!(frame.header.opcode, OpCode::Close);
    (frame.payload.len() >= 2).then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
}

/// Feeds `wire` to a fresh connection of `role` and returns its events and
/// the frames it sent in reply.
pub fn feed(role: Role, config: &Config, wire: &[u8]) -> (Vec<Event>, Vec<Frame>) {
    let mut conn = connection(role, config, Instant::now());
    conn.handle_read(wire, Instant::now());
    let events = events(&mut conn);
    let frames = sent_frames(&mut conn);
    (events, frames)
}

/// Asserts that a server fed `wire` fails with `code`: the last event is
/// `Closed(Protocol(..))` with that code and the last frame sent is a close
/// with that code.
pub fn assert_server_fails(wire: &[u8], code: CloseCode) -> Vec<Event> {
    assert_fails(Role::Server, &config(), wire, code)
}

/// As [`assert_server_fails`], for any role and config.
pub fn assert_fails(role: Role, config: &Config, wire: &[u8], code: CloseCode) -> Vec<Event> {
    let (events, frames) = feed(role, config, wire);
    match events.last() {
        Some(Event::Closed(CloseReason::Protocol(err))) => assert_eq!(err.close_code(), code, "{err}"),
        other => panic!("expected a protocol failure with {code}, got {other:?} (all events: {events:?})"),
    }
    let close = frames.last().expect("a close frame must be sent");
    assert_eq!(close_code_of(close), Some(code.0));
    events
}

/// A client and a server connection wired back to back, with a virtual clock.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    /// Bytes per delivery; `usize::MAX` delivers everything at once.
    pub chunk: usize,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_configs(&config(), &config())
    }

    pub fn with_configs(client: &Config, server: &Config) -> Self {
        let now = Instant::now();
        Self {
            client: Connection::client(client, now, [42; 32]),
            server: Connection::server(server, now),
            now,
            chunk: usize::MAX,
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Moves the client's pending bytes to the server, in `chunk`-sized reads,
    /// and returns the server's events.
    pub fn to_server(&mut self) -> Vec<Event> {
        Self::transfer(&mut self.client, &mut self.server, self.chunk, self.now)
    }

    /// Moves the server's pending bytes to the client and returns the client's events.
    pub fn to_client(&mut self) -> Vec<Event> {
        Self::transfer(&mut self.server, &mut self.client, self.chunk, self.now)
    }

    fn transfer(from: &mut Connection, to: &mut Connection, chunk: usize, now: Instant) -> Vec<Event> {
        let bytes = take_transmit(from);
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            to.handle_read(piece, now);
            events.extend(std::iter::from_fn(|| to.poll_event()).take(10_000));
        }
        events.extend(std::iter::from_fn(|| to.poll_event()).take(10_000));
        events
    }

    /// Shuttles bytes both ways until neither side has anything to send;
    /// returns (client events, server events). The clock does not move.
    pub fn drive(&mut self) -> (Vec<Event>, Vec<Event>) {
        let (mut client_events, mut server_events) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            if self.client.poll_transmit().is_empty() && self.server.poll_transmit().is_empty() {
                break;
            }
            server_events.extend(self.to_server());
            client_events.extend(self.to_client());
        }
        (client_events, server_events)
    }

    /// The earlier of the two connections' deadlines.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs both connections on the virtual clock until `deadline`, as
    /// quinn-proto's test pair does: shuttles bytes as [`drive`](Self::drive)
    /// does and, when neither side has anything left to send, jumps `now` to
    /// the earlier [`next_timeout`](Self::next_timeout) and fires both
    /// connections' due timers there (early calls are no-ops). Timers due at
    /// `deadline` fire; `now` is `deadline` on return. Bytes arrive the
    /// moment they are sent, and the transport never closes by itself: call
    /// `handle_eof` for that. Returns (client events, server events).
    pub fn run_until(&mut self, deadline: Instant) -> (Vec<Event>, Vec<Event>) {
        let (mut client_events, mut server_events) = self.drive();
        for _ in 0..100_000 {
            match self.next_timeout() {
                Some(at) if at <= deadline => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    client_events.extend(events(&mut self.client));
                    server_events.extend(events(&mut self.server));
                    let (client, server) = self.drive();
                    client_events.extend(client);
                    server_events.extend(server);
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return (client_events, server_events);
                }
            }
        }
        panic!("the timers kept firing without the clock reaching the deadline");
    }

    /// [`run_until`](Self::run_until) `now + by`.
    pub fn run_for(&mut self, by: Duration) -> (Vec<Event>, Vec<Event>) {
        self.run_until(self.now + by)
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

/// Raw deflate of `data` with a sync flush and the tail stripped: the
/// payload of a permessage-deflate frame (RFC 7692 §7.2.1).
pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    loop {
        let consumed = compress.total_in() as usize;
        out.reserve(64 << 10);
        compress.compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Sync).unwrap();
        if compress.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}
