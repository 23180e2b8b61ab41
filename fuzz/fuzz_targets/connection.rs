//! Fuzzes `rfc6455::Connection` in either role, with or without
//! permessage-deflate, driven by an arbitrary sequence of operations: peer
//! bytes (raw or as well-formed frames), EOF, every send command (including
//! `send_part`, whose parts are whole messages or fragments), time passing,
//! partial and vectored transmits, releasing idle buffers, turning
//! streaming receive (`set_message_streaming`) on and off, and changing the
//! receive limits mid-connection (`set_max_message_size`,
//! `set_max_frame_size`), with small limits (`max_frame_size`,
//! `max_message_size`, `write_buffer_limit`). Events are drained after every
//! operation.
//!
//! Everything the connection transmits is fed to a second, passive
//! connection of the other role (the "sink"), which must never see a
//! protocol violation; the input chooses whether the sink receives messages
//! whole or in parts (`Event::Part`).
//!
//! Invariants:
//! * the [`Watch`] invariants after every operation: no event after
//!   `Event::Closed`, which comes once; limits respected (a changed
//!   `max_message_size` from the largest one in effect since the previous
//!   message ended); a streamed message's parts in order (`first`/`last`
//!   rules, one kind, no other message in between, text always a valid UTF-8
//!   prefix and valid at the end); state only moves forward; `poll_timeout()`
//!   is `None` once `should_close_transport()`;
//! * a data send is refused with `WriteBufferFull` exactly when the queue is
//!   non-empty and at or over `write_buffer_limit`, and is never refused for
//!   that below it;
//! * every refused command (`UsageError`) leaves the connection unchanged,
//!   and returns the error the state calls for (closing, fragment in
//!   progress, payload too long, unsendable code, invalid UTF-8);
//! * `send_part` returns exactly the result the model predicts: `Closed`
//!   first once closing (closing abandons a message being sent in parts);
//!   then a `first` part while a message is being sent in parts is
//!   `FragmentedMessageInProgress`, a part continuing none is
//!   `NoMessageInParts`; a part that is `first` and `last` is a whole
//!   message (invalid UTF-8 text, then the write buffer limit); other parts
//!   are checked as `send_fragment` checks them (the write buffer limit,
//!   kind, UTF-8 of the parts so far); a part's bytes that the caller still shares
//!   are never changed (a client masks a sole owner's bytes in place);
//! * `close` moves Open to CloseSent and arms `close_timeout`;
//! * transmit runs add up to `buffered_amount()`;
//! * the sink receives exactly the messages and pings that were accepted,
//!   in order, and never fails with a protocol error; in streaming mode its
//!   parts, put back together, are those messages, and a message left
//!   unfinished is a prefix of the fragmented message still being sent.
#![no_main]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::frame::OpCode;
use rfc6455::{
    CloseCode, CloseReason, Config, Connection, DataKind, Event, Message, MessagePart, Role, State, UsageError,
};
use rfc6455_fuzz::{opcode_from, peer_frame, peer_of, FuzzParams, Snapshot, Watch};

#[derive(Debug, Arbitrary)]
struct Deflate {
    params: FuzzParams,
    level: u8,
    threshold: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    server: bool,
    deflate: Option<Deflate>,
    max_frame_size: u16,
    max_message_size: u16,
    write_buffer_limit: u16,
    close_timeout_ms: u16,
    ping_interval_ms: Option<u16>,
    pong_timeout_ms: u16,
    idle_timeout_ms: Option<u16>,
    auto_pong: bool,
    vectored: bool,
    /// The sink receives messages in parts (`set_message_streaming(true)`).
    sink_streaming: bool,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Read(Vec<u8>),
    PeerFrame {
        opcode: u8,
        fin: bool,
        rsv1: bool,
        payload: Vec<u8>,
    },
    PeerClose {
        code: u16,
        reason: String,
    },
    /// A pong answering heartbeat ping number `n` (its payload: `n` as a big-endian u64).
    PeerHeartbeatPong(u8),
    Eof,
    SendText(String),
    SendBinary(Vec<u8>),
    Send {
        text: bool,
        data: Vec<u8>,
    },
    SendFragment {
        text: bool,
        data: Vec<u8>,
        fin: bool,
    },
    /// `send_part` of `data` repeated `repeat + 1` times, up to
    /// [`MAX_PART`] bytes (so a part can reach the zero-copy size of
    /// `send_owned`, 4 KiB).
    SendPart {
        text: bool,
        data: Vec<u8>,
        repeat: u8,
        first: bool,
        last: bool,
        /// Text is made valid UTF-8 first (else raw bytes, which may be
        /// invalid or split a character between parts).
        lossy: bool,
        /// The caller keeps a clone of the part's bytes, so the connection
        /// does not own them alone.
        keep: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    AdvanceTime(u16),
    FireTimer,
    Transmit(u16),
    TransmitVectored {
        slots: u8,
        max: u16,
    },
    ReleaseIdleBuffers,
    SetStreaming(bool),
    SetLimits {
        max_message_size: u16,
        max_frame_size: u16,
    },
}

/// The most bytes a repeated `Op::SendPart` payload has (before text is made valid).
const MAX_PART: usize = 16 << 10;

/// What the sink must receive.
#[derive(Debug, Default)]
struct Model {
    messages: Vec<Message>,
    pings: Vec<Vec<u8>>,
    /// The fragmented message in progress: its kind and bytes so far.
    partial: Option<(DataKind, Vec<u8>)>,
}

impl Model {
    fn finish(&mut self, kind: DataKind, data: Vec<u8>) {
        self.messages.push(match kind {
            DataKind::Text => Message::Text(String::from_utf8(data).expect("sent text is UTF-8").into()),
            DataKind::Binary => Message::Binary(data.into()),
        });
    }
}

struct Harness {
    conn: Connection,
    watch: Watch,
    sink: Connection,
    sink_watch: Watch,
    sink_events: Vec<Event>,
    model: Model,
    now: Instant,
    close_timeout: Duration,
}

impl Harness {
    /// Hands transmitted bytes to the sink.
    fn feed_sink(&mut self, bytes: &[u8]) {
        self.sink.handle_read(bytes, self.now);
        let events = self.sink_watch.drain(&mut self.sink);
        self.sink_events.extend(events);
        // The sink's own output (pongs, close replies) goes nowhere.
        rfc6455_fuzz::transmit_all(&mut self.sink);
    }

    /// Checks a data send: `result` of a send that was attempted with the
    /// connection as in `before`.
    fn check_data_send(&mut self, before: &Snapshot, full: bool, state: State, result: &Result<(), UsageError>) {
        match result {
            Ok(()) => {
                assert!(!full, "a send was accepted with the write buffer full");
                assert_eq!(state, State::Open, "a send was accepted in {state:?}");
            }
            Err(err) => {
                assert_eq!(&Snapshot::of(&self.conn), before, "{err:?} changed the connection");
                match err {
                    UsageError::Closed => assert_ne!(state, State::Open),
                    UsageError::WriteBufferFull { buffered, limit } => {
                        assert!(full && state == State::Open, "WriteBufferFull when not full");
                        assert_eq!(*buffered, self.conn.buffered_amount());
                        assert_eq!(*limit, self.watch.write_buffer_limit);
                    }
                    UsageError::FragmentedMessageInProgress => assert!(self.model.partial.is_some()),
                    UsageError::FragmentKindMismatch { started, requested } => {
                        assert_ne!(started, requested);
                        assert_eq!(self.model.partial.as_ref().map(|p| p.0), Some(*started));
                    }
                    UsageError::InvalidUtf8 => {}
                    other => panic!("unexpected error for a send: {other:?}"),
                }
            }
        }
    }

    fn send_whole(&mut self, kind: DataKind, data: Vec<u8>, shared: bool) {
        let before = Snapshot::of(&self.conn);
        let full = self.conn.is_write_buffer_full();
        let state = self.conn.state();
        let result = match (kind, shared) {
            (DataKind::Text, false) => self.conn.send_text(std::str::from_utf8(&data).expect("text")),
            (DataKind::Binary, false) => self.conn.send_binary(&data),
            (DataKind::Text, true) => {
                self.conn.send(&Message::Text(String::from_utf8(data.clone()).expect("text").into()))
            }
            (DataKind::Binary, true) => self.conn.send(&Message::Binary(data.clone().into())),
        };
        self.check_data_send(&before, full, state, &result);
        if result.is_ok() {
            assert!(self.model.partial.is_none(), "a whole message was accepted during a fragmented one");
            self.model.finish(kind, data);
        }
    }

    fn send_fragment(&mut self, kind: DataKind, data: Vec<u8>, fin: bool) {
        let before = Snapshot::of(&self.conn);
        let full = self.conn.is_write_buffer_full();
        let state = self.conn.state();
        let result = self.conn.send_fragment(kind, &data, fin);
        self.check_data_send(&before, full, state, &result);
        if let Err(UsageError::InvalidUtf8) = result {
            assert_eq!(kind, DataKind::Text);
            let mut so_far = match &self.model.partial {
                Some((_, bytes)) => bytes.clone(),
                None => Vec::new(),
            };
            so_far.extend_from_slice(&data);
            // Invalid now, or incomplete at the end of the message.
            match std::str::from_utf8(&so_far) {
                Ok(_) => panic!("valid UTF-8 refused"),
                Err(err) => assert!(fin || err.error_len().is_some(), "an incomplete character refused mid-message"),
            }
        }
        if result.is_ok() {
            let mut bytes = match self.model.partial.take() {
                Some((started, bytes)) => {
                    assert_eq!(started, kind);
                    bytes
                }
                None => Vec::new(),
            };
            bytes.extend_from_slice(&data);
            if fin {
                self.model.finish(kind, bytes);
            } else {
                self.model.partial = Some((kind, bytes));
            }
        }
    }

    /// What `send_part` must return for this part, with the connection as
    /// it is now.
    fn expected_part_result(&self, kind: DataKind, data: &[u8], first: bool, last: bool) -> Result<(), UsageError> {
        let state = self.conn.state();
        let buffered = self.conn.buffered_amount();
        let limit = self.watch.write_buffer_limit;
        let room = || match state {
            State::Open if buffered > 0 && buffered >= limit => Err(UsageError::WriteBufferFull { buffered, limit }),
            State::Open => Ok(()),
            _ => Err(UsageError::Closed), // CloseSent or Closed
        };
        // Closing comes first (it abandons a message being sent in parts).
        if state != State::Open {
            return Err(UsageError::Closed);
        }
        let in_parts = self.model.partial.as_ref();
        match (first, in_parts) {
            (true, Some(_)) => Err(UsageError::FragmentedMessageInProgress),
            (false, None) => Err(UsageError::NoMessageInParts),
            (true, None) if last => {
                if kind == DataKind::Text && std::str::from_utf8(data).is_err() {
                    return Err(UsageError::InvalidUtf8);
                }
                room()
            }
            (_, in_parts) => {
                room()?;
                let mut so_far = match in_parts {
                    Some((started, _)) if *started != kind => {
                        return Err(UsageError::FragmentKindMismatch { started: *started, requested: kind })
                    }
                    Some((_, bytes)) if kind == DataKind::Text => bytes.clone(),
                    _ => Vec::new(),
                };
                if kind == DataKind::Text {
                    so_far.extend_from_slice(data);
                    // Invalid now, or incomplete at the end of the message.
                    if let Err(err) = std::str::from_utf8(&so_far) {
                        if last || err.error_len().is_some() {
                            return Err(UsageError::InvalidUtf8);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn send_part(&mut self, kind: DataKind, data: Vec<u8>, first: bool, last: bool, keep: bool) {
        let expected = self.expected_part_result(kind, &data, first, last);
        let before = Snapshot::of(&self.conn);
        let bytes = Bytes::from(data.clone());
        let kept = keep.then(|| bytes.clone());
        let result = self.conn.send_part(MessagePart { kind, data: bytes, first, last });
        assert_eq!(result, expected, "send_part({kind:?}, {} bytes, first {first}, last {last})", data.len());
        if let Some(kept) = kept {
            assert_eq!(kept, data, "send_part changed bytes the caller shares");
        }
        if let Err(err) = result {
            assert_eq!(Snapshot::of(&self.conn), before, "{err:?} changed the connection");
            return;
        }
        if first && last {
            self.model.finish(kind, data);
            return;
        }
        let mut bytes = match self.model.partial.take() {
            Some((_, bytes)) => bytes,
            None => Vec::new(),
        };
        bytes.extend_from_slice(&data);
        if last {
            self.model.finish(kind, bytes);
        } else {
            self.model.partial = Some((kind, bytes));
        }
    }

    fn control(&mut self, opcode: OpCode, payload: &[u8]) {
        let before = Snapshot::of(&self.conn);
        let state = self.conn.state();
        let result = match opcode {
            OpCode::Ping => self.conn.ping(payload),
            _ => self.conn.pong(payload),
        };
        match result {
            Ok(()) => {
                assert!(payload.len() <= 125 && state == State::Open);
                if opcode == OpCode::Ping {
                    self.model.pings.push(payload.to_vec());
                }
            }
            Err(err) => {
                assert_eq!(Snapshot::of(&self.conn), before, "{err:?} changed the connection");
                match err {
                    UsageError::ControlPayloadTooLong(len) => assert!(len > 125 && payload.len() > 125),
                    UsageError::Closed => assert!(payload.len() <= 125 && state != State::Open),
                    other => panic!("unexpected error for a control frame: {other:?}"),
                }
            }
        }
    }

    fn close(&mut self, code: u16, reason: &str) {
        let before = Snapshot::of(&self.conn);
        let state = self.conn.state();
        let code = CloseCode(code);
        let empty_ok = code == CloseCode::NO_STATUS && reason.is_empty();
        match self.conn.close(code, reason, self.now) {
            Ok(()) => {
                assert_eq!(state, State::Open);
                assert!(empty_ok || (code.is_sendable() && reason.len() <= 123));
                assert_eq!(self.conn.state(), State::CloseSent);
                assert_eq!(self.conn.poll_timeout(), self.now.checked_add(self.close_timeout));
            }
            Err(err) => {
                assert_eq!(Snapshot::of(&self.conn), before, "{err:?} changed the connection");
                match err {
                    UsageError::UnsendableCloseCode(c) => assert!(!empty_ok && !c.is_sendable()),
                    UsageError::ControlPayloadTooLong(_) => assert!(reason.len() > 123),
                    UsageError::AlreadyClosing => assert_eq!(state, State::CloseSent),
                    UsageError::Closed => assert_eq!(state, State::Closed),
                    other => panic!("unexpected error for close: {other:?}"),
                }
            }
        }
    }

    fn transmit(&mut self, max: usize) {
        let run = self.conn.poll_transmit().to_vec();
        let queued = self.conn.buffered_amount();
        assert_eq!(run.is_empty(), queued == 0, "poll_transmit gave {} bytes with {queued} queued", run.len());
        assert!(run.len() <= queued);
        let n = run.len().min(max);
        self.conn.advance_transmit(n);
        assert_eq!(self.conn.buffered_amount(), queued - n);
        self.feed_sink(&run[..n]);
    }

    fn transmit_vectored(&mut self, slots: usize, max: usize) {
        let mut storage = [IoSlice::new(&[]); 8];
        let slices = &mut storage[..slots];
        let filled = self.conn.poll_transmit_vectored(slices);
        assert!(filled <= slots);
        let runs = &slices[..filled];
        let total: usize = runs.iter().map(|s| s.len()).sum();
        assert!(runs.iter().all(|s| !s.is_empty()), "an empty run");
        let mut bytes = Vec::new();
        for run in runs {
            let room = max - bytes.len();
            bytes.extend_from_slice(&run[..run.len().min(room)]);
        }
        let queued = self.conn.buffered_amount();
        assert!(total <= queued);
        assert_eq!(filled == 0, queued == 0, "no run while bytes are queued, or a run of nothing");
        // With slots to spare, everything queued is in the runs; except that
        // a client masks a shared payload a piece at a time, so the runs stop
        // after the piece ready now (the rest comes on the next call).
        if filled < slots && self.conn.role() == Role::Server {
            assert_eq!(total, queued, "runs do not add up to buffered_amount");
        }
        self.conn.advance_transmit(bytes.len());
        assert_eq!(self.conn.buffered_amount(), queued - bytes.len());
        self.feed_sink(&bytes);
    }
}

fuzz_target!(|input: Input| {
    let start = Instant::now();
    let role = if input.server { Role::Server } else { Role::Client };
    let mut config = Config::default();
    config.max_frame_size = usize::from(input.max_frame_size);
    config.max_message_size = usize::from(input.max_message_size);
    config.write_buffer_limit = usize::from(input.write_buffer_limit);
    config.close_timeout = Duration::from_millis(u64::from(input.close_timeout_ms));
    let ms = |ms: u16| Duration::from_millis(u64::from(ms));
    config.ping_interval = input.ping_interval_ms.map(ms);
    config.pong_timeout = ms(input.pong_timeout_ms);
    config.idle_timeout = input.idle_timeout_ms.map(ms);
    config.auto_pong = input.auto_pong;
    let mut conn = match role {
        Role::Client => Connection::client(&config, start, [1; 32]),
        Role::Server => Connection::server(&config, start),
    };
    conn.set_vectored_transmit(input.vectored);
    let sink_config = Config::default();
    let mut sink = match peer_of(role) {
        Role::Client => Connection::client(&sink_config, start, [2; 32]),
        Role::Server => Connection::server(&sink_config, start),
    };
    sink.set_message_streaming(input.sink_streaming);
    if let Some(deflate) = &input.deflate {
        let params = deflate.params.params();
        let mut ours = DeflateConfig::default();
        ours.level = u32::from(deflate.level % 10);
        ours.threshold = usize::from(deflate.threshold);
        conn = conn.with_deflate(&params, &ours);
        sink = sink.with_deflate(&params, &DeflateConfig::default());
    }
    let mut h = Harness {
        conn,
        watch: Watch::new(config.max_message_size, config.write_buffer_limit),
        sink,
        sink_watch: Watch::new(sink_config.max_message_size, sink_config.write_buffer_limit),
        sink_events: Vec::new(),
        model: Model::default(),
        now: start,
        close_timeout: config.close_timeout,
    };

    for op in input.ops {
        match op {
            Op::Read(bytes) => h.conn.handle_read(&bytes, h.now),
            Op::PeerFrame { opcode, fin, rsv1, payload } => {
                let rsv = if rsv1 { 0x40 } else { 0 };
                let frame = peer_frame(role, opcode_from(opcode), fin, rsv, &payload);
                h.conn.handle_read(&frame, h.now);
            }
            Op::PeerClose { code, reason } => {
                let mut payload = code.to_be_bytes().to_vec();
                payload.extend_from_slice(reason.as_bytes());
                payload.truncate(125);
                let frame = peer_frame(role, OpCode::Close, true, 0, &payload);
                h.conn.handle_read(&frame, h.now);
            }
            Op::PeerHeartbeatPong(n) => {
                let frame = peer_frame(role, OpCode::Pong, true, 0, &u64::from(n).to_be_bytes());
                h.conn.handle_read(&frame, h.now);
            }
            Op::Eof => h.conn.handle_eof(h.now),
            Op::SendText(text) => h.send_whole(DataKind::Text, text.into_bytes(), false),
            Op::SendBinary(data) => h.send_whole(DataKind::Binary, data, false),
            Op::Send { text: true, data } => {
                h.send_whole(DataKind::Text, String::from_utf8_lossy(&data).into_owned().into_bytes(), true)
            }
            Op::Send { text: false, data } => h.send_whole(DataKind::Binary, data, true),
            Op::SendFragment { text, data, fin } => {
                let kind = if text { DataKind::Text } else { DataKind::Binary };
                h.send_fragment(kind, data, fin);
            }
            Op::SendPart { text, data, repeat, first, last, lossy, keep } => {
                let kind = if text { DataKind::Text } else { DataKind::Binary };
                let len = (data.len() * (usize::from(repeat) + 1)).min(MAX_PART);
                let data: Vec<u8> = data.iter().copied().cycle().take(len).collect();
                let data = if text && lossy { String::from_utf8_lossy(&data).into_owned().into_bytes() } else { data };
                h.send_part(kind, data, first, last, keep);
            }
            Op::Ping(payload) => h.control(OpCode::Ping, &payload),
            Op::Pong(payload) => h.control(OpCode::Pong, &payload),
            Op::Close(code, reason) => h.close(code, &reason),
            Op::AdvanceTime(ms) => {
                h.now += Duration::from_millis(u64::from(ms));
                h.conn.handle_timeout(h.now);
            }
            Op::FireTimer => {
                if let Some(deadline) = h.conn.poll_timeout() {
                    h.now = h.now.max(deadline);
                }
                h.conn.handle_timeout(h.now);
                // No timer stays at or before now once events are drained
                // (an adapter would spin on it).
                for _ in 0..3 {
                    h.watch.drain(&mut h.conn);
                    if h.conn.poll_timeout().is_some_and(|deadline| deadline <= h.now) {
                        h.conn.handle_timeout(h.now);
                    }
                }
                assert!(h.conn.poll_timeout().is_none_or(|deadline| deadline > h.now), "a timer stuck in the past");
            }
            Op::Transmit(max) => h.transmit(usize::from(max)),
            Op::TransmitVectored { slots, max } => h.transmit_vectored(usize::from(slots % 8) + 1, usize::from(max)),
            Op::ReleaseIdleBuffers => {
                let before = Snapshot::of(&h.conn);
                h.conn.release_idle_buffers();
                assert_eq!(Snapshot::of(&h.conn), before);
            }
            Op::SetStreaming(on) => {
                let before = Snapshot::of(&h.conn);
                h.conn.set_message_streaming(on);
                assert_eq!(Snapshot::of(&h.conn), before);
            }
            Op::SetLimits { max_message_size, max_frame_size } => {
                let before = Snapshot::of(&h.conn);
                h.conn.set_max_message_size(usize::from(max_message_size));
                h.conn.set_max_frame_size(usize::from(max_frame_size));
                h.watch.set_max_message_size(usize::from(max_message_size));
                assert_eq!(Snapshot::of(&h.conn), before);
            }
        }
        h.watch.check(&h.conn);
        let events = h.watch.drain(&mut h.conn);
        for event in &events {
            if let Event::Closed(CloseReason::Clean { remote, .. }) = event {
                assert!(remote.code == CloseCode::NO_STATUS || remote.code.is_sendable());
            }
        }
    }

    // Everything left goes to the sink, which must have received exactly what
    // was accepted.
    let rest = rfc6455_fuzz::transmit_all(&mut h.conn);
    h.feed_sink(&rest);
    let mut messages = Vec::new();
    let mut pings = Vec::new();
    // The streamed message being put back together.
    let mut streamed: Option<(DataKind, Vec<u8>)> = None;
    for event in &h.sink_events {
        match event {
            Event::Message(message) => {
                assert!(!input.sink_streaming, "a whole message from a streaming sink");
                messages.push(message.clone());
            }
            Event::Part(part) => {
                assert!(input.sink_streaming, "a part from a sink not streaming");
                if part.first {
                    assert!(streamed.is_none(), "a first part inside another streamed message");
                    streamed = Some((part.kind, Vec::new()));
                }
                let (kind, bytes) = streamed.as_mut().expect("a part before any first part");
                assert_eq!(*kind, part.kind, "the kind changed within a streamed message");
                bytes.extend_from_slice(&part.data);
                if part.last {
                    let (kind, bytes) = streamed.take().expect("in a streamed message");
                    messages.push(match kind {
                        DataKind::Text => {
                            Message::Text(String::from_utf8(bytes).expect("streamed text is UTF-8").into())
                        }
                        DataKind::Binary => Message::Binary(bytes.into()),
                    });
                }
            }
            Event::Ping(payload) => pings.push(payload.to_vec()),
            Event::Closed(reason) => {
                assert!(!matches!(reason, CloseReason::Protocol(_)), "the sink failed: {reason}");
            }
            _ => {}
        }
    }
    assert_eq!(messages, h.model.messages, "the sink did not receive what was sent");
    // A message the sink has only begun is the fragmented one still being
    // sent, so far.
    if let Some((kind, bytes)) = &streamed {
        let (sent_kind, sent) = h.model.partial.as_ref().expect("the sink is inside a message nobody is sending");
        assert_eq!(kind, sent_kind);
        assert!(sent.starts_with(bytes), "the sink's unfinished message is not what was sent so far");
    }
    // The sink got the application's pings, in order, and the heartbeat's
    // (payloads 1, 2, 3, ... as big-endian u64) between them.
    let mut expected = h.model.pings.iter().peekable();
    let mut heartbeat = 1u64;
    for ping in &pings {
        if expected.peek().is_some_and(|sent| *sent == ping) {
            expected.next();
        } else {
            assert_eq!(&ping[..], heartbeat.to_be_bytes(), "a ping nobody sent");
            heartbeat += 1;
        }
    }
    assert_eq!(expected.next(), None, "the sink did not receive the pings that were sent");
});
