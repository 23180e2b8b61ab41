//! Plumbing tests for the blocking adapter (`rfc6455::io::blocking`): short
//! reads and writes, `WouldBlock` and `Interrupted` at every position, EOF,
//! misbehaving streams, and real loopback TCP. Protocol rules are tested in
//! the core; here we only check that the adapter moves every byte exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::noise::noise;
use common::{client_frame, close_payload, config, server_frame};
use rfc6455::frame::{FrameDecoder, OpCode};
use rfc6455::handshake::{ClientRequest, Reject};
use rfc6455::io::blocking::{self, MaybeTlsStream, StreamHooks, WebSocket};
use rfc6455::io::Error;
use rfc6455::{
    CloseCode, CloseFrame, CloseReason, Config, Connection, HandshakeError, Initiator, Message, ProtocolError,
    ReadyState, Role, TimeoutKind, UsageError,
};

// ----- a scripted stream ---------------------------------------------------------------------------------------------

/// A stream that serves `input` in short reads and records what is written in
/// short writes. A fault position fires once: the read (or write) that would
/// start at that offset of the input (or output) fails with `fault_kind`
/// instead, and no read or write crosses a pending fault position, so every
/// fault is hit exactly where it was placed.
#[derive(Debug)]
struct Mock {
    input: Vec<u8>,
    read_pos: usize,
    /// Reads return 1..=max_read bytes, cycling (`usize::MAX`: as much as asked).
    max_read: usize,
    read_calls: usize,
    read_faults: Vec<usize>,
    /// After the input: `Ok(0)` if true, else `WouldBlock` (nothing arrived yet).
    eof: bool,
    output: Vec<u8>,
    max_write: usize,
    write_calls: usize,
    write_faults: Vec<usize>,
    fault_kind: ErrorKind,
    /// Indices of `flush` calls that fail with `WouldBlock`.
    flush_faults: Vec<usize>,
    flush_calls: usize,
    /// Faults that fired.
    fired: usize,
}

impl Mock {
    fn new(input: Vec<u8>) -> Self {
        Self {
            input,
            read_pos: 0,
            max_read: usize::MAX,
            read_calls: 0,
            read_faults: Vec::new(),
            eof: false,
            output: Vec::new(),
            max_write: usize::MAX,
            write_calls: 0,
            write_faults: Vec::new(),
            fault_kind: ErrorKind::WouldBlock,
            flush_faults: Vec::new(),
            flush_calls: 0,
            fired: 0,
        }
    }

    /// Length of the next short read or write.
    fn step(calls: usize, max: usize) -> usize {
        if max == usize::MAX {
            usize::MAX
        } else {
            1 + calls % max
        }
    }

    /// Fires the fault at `pos`, if any; else how far the next transfer may go.
    fn check_fault(faults: &mut Vec<usize>, pos: usize, fired: &mut usize, kind: ErrorKind) -> io::Result<usize> {
        if let Some(i) = faults.iter().position(|&p| p == pos) {
            faults.remove(i);
            *fired += 1;
            return Err(kind.into());
        }
        Ok(faults.iter().filter(|&&p| p > pos).min().map_or(usize::MAX, |p| p - pos))
    }
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = Self::check_fault(&mut self.read_faults, self.read_pos, &mut self.fired, self.fault_kind)?;
        let left = self.input.len() - self.read_pos;
        if left == 0 {
            return if self.eof { Ok(0) } else { Err(ErrorKind::WouldBlock.into()) };
        }
        let n = buf.len().min(left).min(room).min(Self::step(self.read_calls, self.max_read));
        self.read_calls += 1;
        buf[..n].copy_from_slice(&self.input[self.read_pos..self.read_pos + n]);
        self.read_pos += n;
        Ok(n)
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = Self::check_fault(&mut self.write_faults, self.output.len(), &mut self.fired, self.fault_kind)?;
        let n = buf.len().min(room).min(Self::step(self.write_calls, self.max_write));
        self.write_calls += 1;
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let call = self.flush_calls;
        self.flush_calls += 1;
        if let Some(i) = self.flush_faults.iter().position(|&k| k == call) {
            self.flush_faults.remove(i);
            self.fired += 1;
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(())
    }
}

fn server_ws<S: Read + Write>(stream: S) -> WebSocket<S> {
    server_ws_with(stream, &config())
}

fn server_ws_with<S: Read + Write>(stream: S, config: &Config) -> WebSocket<S> {
    WebSocket::from_connection(stream, Connection::server(config, Instant::now()))
}

/// Decodes everything a server wrote, as its client would; no partial frame may remain.
fn frames_sent_by_server(bytes: &[u8]) -> Vec<(OpCode, Vec<u8>)> {
    let mut decoder = FrameDecoder::new(Role::Client, usize::MAX);
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).expect("the server's output must decode") {
        assert!(frame.header.fin);
        frames.push((frame.header.opcode, frame.payload.to_vec()));
    }
    assert!(buf.is_empty() && !decoder.is_mid_frame(), "a partial frame was written");
    frames
}

fn is_would_block(err: &Error) -> bool {
    matches!(err, Error::Io(e) if e.kind() == ErrorKind::WouldBlock)
}

/// What a run of `read()` calls produced.
#[derive(Debug)]
struct Run {
    messages: Vec<Message>,
    would_blocks: usize,
    /// `Ok` for `Ok(None)`, else the first error that was not `WouldBlock`.
    end: Result<(), Error>,
}

/// Calls `read()` (retrying after `WouldBlock`) until the end of the stream.
fn read_to_end<S: Read + Write>(ws: &mut WebSocket<S>) -> Run {
    let mut run = Run { messages: Vec::new(), would_blocks: 0, end: Ok(()) };
    for _ in 0..100_000 {
        match ws.read() {
            Ok(Some(message)) => run.messages.push(message),
            Ok(None) => return run,
            Err(err) if is_would_block(&err) => run.would_blocks += 1,
            Err(err) => {
                run.end = Err(err);
                return run;
            }
        }
    }
    panic!("read() never reached the end: {run:?}");
}

// ----- the script ----------------------------------------------------------------------------------------------------

fn binary_payload() -> Vec<u8> {
    (0..300u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// What a client sends: data, pings (one in the middle of a fragmented
/// message), and a close.
fn client_wire() -> Vec<u8> {
    [
        client_frame(OpCode::Text, true, b"hello"),
        client_frame(OpCode::Ping, true, b"p1"),
        client_frame(OpCode::Binary, true, &binary_payload()),
        client_frame(OpCode::Text, false, b"frag"),
        client_frame(OpCode::Ping, true, b"p2"),
        client_frame(OpCode::Continuation, true, "ment \u{2713}".as_bytes()),
        client_frame(OpCode::Close, true, &close_payload(1000, b"bye")),
    ]
    .concat()
}

fn expected_messages() -> Vec<Message> {
    vec![Message::from("hello"), Message::from(binary_payload()), Message::from("fragment \u{2713}")]
}

/// What the server must answer: one pong per ping, one close reply, nothing else.
fn expected_replies() -> Vec<(OpCode, Vec<u8>)> {
    vec![(OpCode::Pong, b"p1".to_vec()), (OpCode::Pong, b"p2".to_vec()), (OpCode::Close, close_payload(1000, b""))]
}

/// Runs the script over `mock` and checks every outcome; `would_blocks` is
/// how many `WouldBlock` errors `read()` must have surfaced.
fn run_script(mock: Mock, would_blocks: usize, what: &str) {
    run_script_surfacing(mock, would_blocks, would_blocks..=would_blocks, what);
}

/// As [`run_script`], with `faults` faults of which `read()` surfaces a
/// number in `surfaced`: a write that would block is not reported while
/// there is input to read (`read` reads, and fires timers, meanwhile).
fn run_script_surfacing(mock: Mock, faults: usize, surfaced: std::ops::RangeInclusive<usize>, what: &str) {
    let would_blocks = faults;
    let mut ws = server_ws(mock);
    let run = read_to_end(&mut ws);
    assert!(run.end.is_ok(), "{what}: {:?}", run.end);
    assert_eq!(run.messages, expected_messages(), "{what}");
    assert!(surfaced.contains(&run.would_blocks), "{what}: {} surfaced", run.would_blocks);
    match ws.connection().close_reason() {
        Some(CloseReason::Clean { initiator: Initiator::Remote, remote }) => {
            assert_eq!((remote.code, remote.reason.as_str()), (CloseCode::NORMAL, "bye"), "{what}");
        }
        other => panic!("{what}: expected a clean close, got {other:?}"),
    }
    let (mock, _) = ws.into_parts();
    assert_eq!(mock.fired, would_blocks, "{what}: every fault must have been hit");
    assert_eq!(mock.read_pos, mock.input.len(), "{what}: input left unread");
    assert_eq!(frames_sent_by_server(&mock.output), expected_replies(), "{what}");
}

// ----- WouldBlock / Interrupted --------------------------------------------------------------------------------------

#[test]
fn clean_run_without_faults() {
    for max_read in [1, 2, 3, usize::MAX] {
        for max_write in [1, 2, usize::MAX] {
            let mut mock = Mock::new(client_wire());
            (mock.max_read, mock.max_write) = (max_read, max_write);
            run_script(mock, 0, &format!("max_read {max_read}, max_write {max_write}"));
        }
    }
}

#[test]
fn read_surfaces_would_block_at_every_input_position_and_loses_nothing() {
    let len = client_wire().len();
    for max_read in [1, 3, usize::MAX] {
        for pos in 0..len {
            let mut mock = Mock::new(client_wire());
            mock.max_read = max_read;
            mock.max_write = 2;
            mock.read_faults = vec![pos];
            run_script(mock, 1, &format!("read WouldBlock at {pos}/{len}, max_read {max_read}"));
        }
    }
}

#[test]
fn read_surfaces_would_block_at_every_position_of_the_pongs_and_close_reply() {
    let out_len: usize = expected_replies().iter().map(|(_, payload)| 2 + payload.len()).sum();
    for max_write in [1, 2, 3, usize::MAX] {
        for pos in 0..out_len {
            let mut mock = Mock::new(client_wire());
            mock.max_write = max_write;
            mock.write_faults = vec![pos];
            run_script(mock, 1, &format!("write WouldBlock at {pos}/{out_len}, max_write {max_write}"));
        }
        // Two faults at once, at every pair of positions.
        for first in 0..out_len {
            for second in first..out_len {
                let mut mock = Mock::new(client_wire());
                mock.max_write = max_write;
                mock.write_faults = vec![first, second];
                run_script(mock, 2, &format!("write WouldBlock at {first} and {second}, max_write {max_write}"));
            }
        }
    }
}

#[test]
fn read_surfaces_would_block_from_every_flush() {
    let mut clean = server_ws(Mock::new(client_wire()));
    assert!(read_to_end(&mut clean).end.is_ok());
    let flushes = clean.get_ref().flush_calls;
    assert!(flushes > 0);
    for call in 0..flushes {
        let mut mock = Mock::new(client_wire());
        mock.max_write = 3;
        mock.flush_faults = vec![call];
        run_script_surfacing(mock, 1, 0..=1, &format!("flush WouldBlock at call {call}/{flushes}"));
    }
}

#[test]
fn interrupted_reads_and_writes_are_retried() {
    let in_len = client_wire().len();
    let out_len: usize = expected_replies().iter().map(|(_, payload)| 2 + payload.len()).sum();
    for (max_read, max_write) in [(1, 1), (2, 3), (usize::MAX, usize::MAX)] {
        let mut mock = Mock::new(client_wire());
        (mock.max_read, mock.max_write) = (max_read, max_write);
        mock.fault_kind = ErrorKind::Interrupted;
        mock.read_faults = (0..in_len).collect();
        mock.write_faults = (0..out_len).collect();
        let mut ws = server_ws(mock);
        let run = read_to_end(&mut ws);
        assert!(run.end.is_ok(), "{:?}", run.end);
        assert_eq!(run.would_blocks, 0);
        assert_eq!(run.messages, expected_messages());
        let (mock, _) = ws.into_parts();
        assert_eq!(mock.fired, in_len + out_len, "every Interrupted must have been hit and retried");
        assert_eq!(frames_sent_by_server(&mock.output), expected_replies());
    }
}

#[test]
fn send_queues_despite_would_block_and_flush_surfaces_it() {
    let text = "a message long enough to need a few short writes";
    let frame = server_frame(OpCode::Text, true, text.as_bytes());
    for max_write in [1, 3, usize::MAX] {
        for pos in 0..frame.len() {
            let what = format!("WouldBlock twice at {pos}/{}, max_write {max_write}", frame.len());
            let mut mock = Mock::new(Vec::new());
            mock.max_write = max_write;
            mock.write_faults = vec![pos, pos];
            let mut ws = server_ws(mock);
            // `send` reports the message as queued: a would-block stream keeps the rest queued.
            ws.send(text).unwrap();
            assert_eq!(ws.buffered_amount(), frame.len() - pos, "{what}");
            assert_eq!(ws.get_ref().output, frame[..pos], "{what}");
            let err = ws.flush().unwrap_err();
            assert!(is_would_block(&err), "{what}: {err:?}");
            assert_eq!(ws.buffered_amount(), frame.len() - pos, "{what}");
            ws.flush().unwrap();
            assert_eq!(ws.buffered_amount(), 0, "{what}");
            assert_eq!(ws.get_ref().fired, 2, "{what}");
            assert_eq!(ws.get_ref().output, frame, "{what}: every byte exactly once");
        }
    }
}

#[test]
fn feed_batches_replies_until_read_has_to_wait() {
    // Three messages arrive in one read; echoing them with `feed` writes
    // nothing until `read` runs out of buffered input, then one write.
    let texts = ["one", "two", "three"];
    let input: Vec<u8> = texts.iter().flat_map(|t| client_frame(OpCode::Text, true, t.as_bytes())).collect();
    let mut ws = server_ws(Mock::new(input));
    for text in texts {
        let message = ws.read().unwrap().unwrap();
        assert_eq!(message, Message::from(text));
        ws.feed(message).unwrap();
        assert_eq!(ws.get_ref().write_calls, 0, "fed {text}: nothing written yet");
    }
    let err = ws.read().unwrap_err();
    assert!(is_would_block(&err), "{err:?}");
    assert_eq!(ws.get_ref().write_calls, 1, "all three replies in one write");
    let expected: Vec<_> = texts.iter().map(|t| (OpCode::Text, t.as_bytes().to_vec())).collect();
    assert_eq!(frames_sent_by_server(&ws.get_ref().output), expected);
}

#[test]
fn send_into_a_full_write_buffer_surfaces_would_block_and_does_not_queue() {
    let mut config = config();
    config.write_buffer_limit = 16;
    let first = "the first message, longer than the write buffer limit";
    let second = "the second";
    let frames =
        [server_frame(OpCode::Text, true, first.as_bytes()), server_frame(OpCode::Text, true, second.as_bytes())];
    let len = frames[0].len();
    // Positions that leave at least `write_buffer_limit` bytes of the first frame queued.
    for pos in 0..=len - 16 {
        let what = format!("WouldBlock twice at {pos}/{len}");
        let mut mock = Mock::new(Vec::new());
        mock.max_write = 5;
        mock.write_faults = vec![pos, pos];
        let mut ws = server_ws_with(mock, &config);
        ws.send(first).unwrap();
        assert_eq!(ws.buffered_amount(), len - pos, "{what}");
        assert!(ws.connection().is_write_buffer_full(), "{what}");
        let err = ws.send(second).unwrap_err();
        assert!(is_would_block(&err), "{what}: {err:?}");
        assert_eq!(ws.buffered_amount(), len - pos, "{what}: the refused message must not be queued");
        ws.send(second).unwrap();
        assert_eq!(ws.buffered_amount(), 0, "{what}");
        assert_eq!(ws.get_ref().output, frames.concat(), "{what}: each message exactly once");
    }
}

#[test]
fn server_close_survives_would_block_at_every_position() {
    let close = server_frame(OpCode::Close, true, &close_payload(1001, b"server bye"));
    let reply = client_frame(OpCode::Close, true, &close_payload(1001, b""));
    for max_write in [1, 2, usize::MAX] {
        for pos in 0..close.len() {
            let what = format!("WouldBlock twice at {pos}/{}, max_write {max_write}", close.len());
            let mut mock = Mock::new(reply.clone());
            mock.max_write = max_write;
            // The first fault is absorbed by `close`; the second comes out of
            // `read` unless the peer's close reply can be read meanwhile.
            mock.write_faults = vec![pos, pos];
            let mut ws = server_ws(mock);
            ws.close(CloseCode::GOING_AWAY, "server bye").unwrap();
            assert_eq!(ws.buffered_amount(), close.len() - pos, "{what}");
            let run = read_to_end(&mut ws);
            assert!(run.end.is_ok(), "{what}: {:?}", run.end);
            assert!(run.messages.is_empty(), "{what}");
            assert!(run.would_blocks <= 1, "{what}");
            assert_eq!(ws.get_ref().fired, 2, "{what}: both faults hit");
            match ws.connection().close_reason() {
                Some(CloseReason::Clean { initiator: Initiator::Local, remote }) => {
                    assert_eq!(remote.code, CloseCode::GOING_AWAY, "{what}");
                }
                other => panic!("{what}: expected a clean close, got {other:?}"),
            }
            assert_eq!(ws.get_ref().output, close, "{what}: exactly one close frame");
        }
    }
}

#[test]
fn a_would_block_read_past_the_deadline_fires_the_close_timeout() {
    let close = server_frame(OpCode::Close, true, &close_payload(1000, b""));
    let timeout = Duration::from_secs(1);
    let mut config = config();
    config.close_timeout = timeout;
    // No hooks: the timer can fire only when a read returns, here with WouldBlock.
    let mut ws = server_ws_with(Mock::new(Vec::new()), &config);
    let closed_at = Instant::now();
    ws.close(CloseCode::NORMAL, "").unwrap();
    // A read of the mock takes microseconds: far inside the 1 s.
    let err = ws.read().unwrap_err();
    assert!(is_would_block(&err), "before the deadline: {err:?}");
    // Read until the timer fires, however late this thread gets to run.
    let outcome = loop {
        match ws.read() {
            Err(err) if is_would_block(&err) && closed_at.elapsed() < WAIT => thread::sleep(Duration::from_millis(10)),
            other => break other,
        }
    };
    match outcome {
        Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake))) => {}
        other => panic!("expected a close-handshake timeout within {WAIT:?}, got {other:?}"),
    }
    assert!(closed_at.elapsed() >= timeout, "fired early, after {:?}", closed_at.elapsed());
    assert!(matches!(ws.read(), Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake)))));
    assert_eq!(ws.get_ref().output, close, "exactly one close frame");
}

// ----- EOF -----------------------------------------------------------------------------------------------------------

fn assert_abnormal(result: Result<Option<Message>, Error>, what: &str) {
    match result {
        Err(Error::Closed(CloseReason::Abnormal)) => {}
        other => panic!("{what}: expected Err(Closed(Abnormal)), got {other:?}"),
    }
}

#[test]
fn eof_mid_frame_is_abnormal() {
    // A 16-bit extended length, so the cut also falls inside the length and the mask.
    let wire = client_frame(OpCode::Binary, true, &binary_payload());
    for max_read in [1, usize::MAX] {
        for cut in 1..wire.len() {
            let what = format!("EOF after {cut}/{} bytes, max_read {max_read}", wire.len());
            let mut mock = Mock::new(wire[..cut].to_vec());
            mock.max_read = max_read;
            mock.eof = true;
            let mut ws = server_ws(mock);
            assert_abnormal(ws.read(), &what);
            // The end is sticky.
            assert_abnormal(ws.read(), &what);
            assert!(ws.get_ref().output.is_empty(), "{what}: nothing may be sent after EOF");
        }
    }
}

#[test]
fn eof_at_a_frame_boundary_without_close_is_abnormal() {
    let mut mock = Mock::new(Vec::new());
    mock.eof = true;
    assert_abnormal(server_ws(mock).read(), "EOF at once");

    let wire = [client_frame(OpCode::Text, true, b"one"), client_frame(OpCode::Binary, true, b"two")].concat();
    let mut mock = Mock::new(wire);
    mock.eof = true;
    mock.max_read = 3;
    let mut ws = server_ws(mock);
    assert_eq!(ws.read().unwrap(), Some(Message::from("one")));
    assert_eq!(ws.read().unwrap(), Some(Message::from(&b"two"[..])));
    assert_abnormal(ws.read(), "EOF after two frames");
    assert_abnormal(ws.read(), "EOF after two frames, again");
}

// ----- misbehaving streams -------------------------------------------------------------------------------------------

/// A reader that writes `data` and then claims `claim(buf.len())` bytes.
#[derive(Debug)]
struct LyingReader {
    data: Vec<u8>,
    claim: fn(usize) -> usize,
    reads: usize,
}

impl Read for LyingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.reads > 1 {
            return Ok(0);
        }
        let n = self.data.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        Ok((self.claim)(buf.len()))
    }
}

impl Write for LyingReader {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reader_claiming_more_than_its_buffer_does_not_panic() {
    let claims: [fn(usize) -> usize; 3] = [|len| len + 1, |len| len * 2, |_| usize::MAX];
    for claim in claims {
        let stream = LyingReader { data: client_frame(OpCode::Text, true, b"real"), claim, reads: 0 };
        let mut ws = server_ws(stream);
        // The real frame comes through; the made-up bytes after it (zeros) are not
        // a valid client frame (no mask), so the connection fails with 1002
        // instead of panicking.
        assert_eq!(ws.read().unwrap(), Some(Message::from("real")));
        match ws.read() {
            Err(Error::Closed(CloseReason::Protocol(ProtocolError::UnmaskedFrame))) => {}
            other => panic!("expected an unmasked-frame failure, got {other:?}"),
        }
        assert_eq!(ws.connection().close_reason().map(CloseReason::code), Some(CloseCode::PROTOCOL_ERROR));
    }
}

/// A writer that claims to have written more than it was given.
#[derive(Debug, Default)]
struct LyingWriter {
    written: Vec<u8>,
}

impl Read for LyingWriter {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(ErrorKind::WouldBlock.into())
    }
}

impl Write for LyingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(usize::MAX)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_claiming_more_than_it_was_given_does_not_panic() {
    let mut ws = server_ws(LyingWriter::default());
    ws.send("first").unwrap();
    ws.send("second").unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    let expected = [server_frame(OpCode::Text, true, b"first"), server_frame(OpCode::Text, true, b"second")].concat();
    assert_eq!(ws.get_ref().written, expected);
}

// ----- the protocol's verbs ------------------------------------------------------------------------------------------

fn assert_control_payload_too_long(result: Result<(), Error>, what: &str) {
    assert!(matches!(result, Err(Error::Usage(UsageError::ControlPayloadTooLong(126)))), "{what}: {result:?}");
}

#[test]
fn ping_and_pong_go_out_as_control_frames_and_an_oversized_payload_is_refused() {
    // The peer answers the ping, then sends a message.
    let input =
        [client_frame(OpCode::Pong, true, b"are you there"), client_frame(OpCode::Text, true, b"after")].concat();
    let mut ws = server_ws(Mock::new(input));
    ws.ping(b"are you there").unwrap();
    ws.pong(b"unsolicited").unwrap();
    // The core's limit, surfaced as the adapter's error; nothing is queued.
    assert_control_payload_too_long(ws.ping(&[0; 126]), "ping");
    assert_control_payload_too_long(ws.pong(&[0; 126]), "pong");
    assert_eq!(ws.buffered_amount(), 0);
    ws.ping(&[7; 125]).unwrap();
    let expected = [
        (OpCode::Ping, b"are you there".to_vec()),
        (OpCode::Pong, b"unsolicited".to_vec()),
        (OpCode::Ping, vec![7; 125]),
    ];
    assert_eq!(frames_sent_by_server(&ws.get_ref().output), expected);
    // read consumes the peer's pong; an application's ping is not a
    // round-trip sample (only the heartbeat's are).
    assert_eq!(ws.read().unwrap(), Some(Message::text("after")));
    assert_eq!(ws.rtt(), None);
}

#[test]
fn ping_waits_for_room_in_a_full_write_buffer_unless_told_to_fail() {
    let mut config = config();
    config.write_buffer_limit = 16;
    let first = "a message longer than the write buffer limit";
    let ping = server_frame(OpCode::Ping, true, b"p");
    for (when_full, queued) in [(blocking::WhenBufferFull::Wait, false), (blocking::WhenBufferFull::Fail, true)] {
        let mut mock = Mock::new(Vec::new());
        mock.write_faults = vec![0, 0];
        let mut ws = server_ws_with(mock, &config);
        ws.set_when_buffer_full(when_full);
        ws.send(first).unwrap();
        assert!(ws.connection().is_write_buffer_full());
        let before = ws.buffered_amount();
        let result = ws.ping(b"p");
        if queued {
            // Queued behind the message; the write would block, which a send
            // does not report.
            result.unwrap();
            assert_eq!(ws.buffered_amount(), before + ping.len(), "{when_full:?}");
        } else {
            // Wait writes the queue out first: that would block, and the ping
            // is not queued.
            let err = result.unwrap_err();
            assert!(is_would_block(&err), "{when_full:?}: {err:?}");
            assert_eq!(ws.buffered_amount(), before, "{when_full:?}");
        }
    }
}

#[test]
fn close_reason_and_ready_state_follow_a_close_we_start() {
    // The client's answer to our close is already in the stream.
    let mut ws = server_ws(Mock::new(client_frame(OpCode::Close, true, &close_payload(4000, b"client agrees"))));
    assert_eq!((ws.ready_state(), ws.close_reason()), (ReadyState::Open, None));
    ws.close(CloseCode(4000), "server done").unwrap();
    assert_eq!((ws.ready_state(), ws.close_reason()), (ReadyState::Closing, None));
    assert!(matches!(ws.read(), Ok(None)));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    clean_close(ws.close_reason().cloned(), Initiator::Local, CloseCode(4000), "client agrees");
}

#[test]
fn close_reason_and_ready_state_after_the_peer_closes() {
    let mut ws = server_ws(Mock::new(client_frame(OpCode::Close, true, &close_payload(4000, b"client done"))));
    ws.feed("queued before the close").unwrap();
    assert_eq!(ws.buffered_amount(), server_frame(OpCode::Text, true, b"queued before the close").len());
    // 4000 is the peer's own code, not a normal close: the read says so.
    let Err(Error::Closed(reason)) = ws.read() else { panic!("a peer's close with 4000 is not the end of the stream") };
    clean_close(Some(reason), Initiator::Remote, CloseCode(4000), "client done");
    assert_eq!(ws.buffered_amount(), 0);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    clean_close(ws.close_reason().cloned(), Initiator::Remote, CloseCode(4000), "client done");
    let expected = [(OpCode::Text, b"queued before the close".to_vec()), (OpCode::Close, close_payload(4000, b""))];
    assert_eq!(frames_sent_by_server(&ws.get_ref().output), expected);
}

// ----- loopback TCP --------------------------------------------------------------------------------------------------

/// Bound on every wait in the TCP tests, and on every timer test: a timer
/// of at most a few hundred milliseconds must fire within it.
const WAIT: Duration = Duration::from_secs(10);

/// How long a peer that "holds the connection until the test is done" holds
/// it at most: longer than [`WAIT`], so that a read that fails to wake up
/// by itself ends in [`finish`]'s panic rather than in the peer's EOF.
const HOLD: Duration = Duration::from_secs(60);

/// Runs `f` on a thread; [`finish`] waits for it, at most [`WAIT`].
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

fn finish<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not finish within {WAIT:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Accepts one TCP connection and the WebSocket upgrade, with stream hooks.
fn accept_one(listener: &TcpListener) -> WebSocket<TcpStream> {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut ws = blocking::accept(stream).unwrap();
    ws.set_stream_hooks(StreamHooks::tcp());
    ws
}

/// A client whose close timeout is far beyond [`WAIT`]: if its `read()`
/// returns `Ok(None)` in time, it saw the server close the TCP connection.
fn connect_to(port: u16) -> WebSocket<MaybeTlsStream> {
    let mut config = Config::default();
    config.close_timeout = Duration::from_secs(600);
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/chat")).unwrap();
    let (mut ws, response) = blocking::connect_with(&request, &config).unwrap();
    assert_eq!(response.status(), 101);
    ws.set_read_timeout(Some(WAIT));
    ws
}

/// The server's side: echoes until the end, returns what it saw.
#[derive(Debug)]
struct ServerOutcome {
    received: Vec<Message>,
    end: Result<Option<Message>, Error>,
    reason: Option<CloseReason>,
    /// Kept open until the test has the client's outcome: the client must see
    /// EOF because the adapter shut the stream down, not because it was dropped.
    _ws: WebSocket<TcpStream>,
}

fn tcp_messages() -> Vec<Message> {
    vec![Message::from("hello over TCP"), Message::from(binary_payload()), Message::from(vec![0u8; 200_000])]
}

fn clean_close(reason: Option<CloseReason>, initiator: Initiator, code: CloseCode, text: &str) {
    match reason {
        Some(CloseReason::Clean { initiator: got, remote: CloseFrame { code: got_code, reason } }) => {
            assert_eq!((got, got_code, reason.as_str()), (initiator, code, text));
        }
        other => panic!("expected a clean close by {initiator:?}, got {other:?}"),
    }
}

#[test]
fn tcp_messages_both_ways_then_the_client_closes() {
    let (listener, port) = listener();
    let server = spawn(move || {
        let mut ws = accept_one(&listener);
        let mut received = Vec::new();
        let end = loop {
            match ws.read() {
                Ok(Some(message)) => {
                    ws.send(message.clone()).unwrap();
                    received.push(message);
                }
                other => break other,
            }
        };
        ServerOutcome { received, end, reason: ws.connection().close_reason().cloned(), _ws: ws }
    });
    let client = spawn(move || {
        let mut ws = connect_to(port);
        let mut echoes = Vec::new();
        for message in tcp_messages() {
            ws.send(message).unwrap();
            echoes.push(ws.read().unwrap().expect("an echo"));
        }
        ws.close(CloseCode::NORMAL, "client bye").unwrap();
        let started = Instant::now();
        let end = ws.read();
        (echoes, end, ws.connection().close_reason().cloned(), started.elapsed())
    });
    let (echoes, end, reason, waited) = finish(&client, "the client");
    let server = finish(&server, "the server");

    assert_eq!(echoes, tcp_messages());
    assert!(matches!(end, Ok(None)), "client end: {end:?}");
    assert!(waited < WAIT, "the client must have seen the server's TCP close, not its close timeout");
    clean_close(reason, Initiator::Local, CloseCode::NORMAL, "");

    assert_eq!(server.received, tcp_messages());
    assert!(matches!(server.end, Ok(None)), "server end: {:?}", server.end);
    clean_close(server.reason, Initiator::Remote, CloseCode::NORMAL, "client bye");
}

#[test]
fn tcp_server_initiated_close() {
    let (listener, port) = listener();
    let server = spawn(move || {
        let mut ws = accept_one(&listener);
        let first = ws.read().unwrap();
        ws.send("goodbye").unwrap();
        ws.close(CloseCode::GOING_AWAY, "server bye").unwrap();
        let mut received: Vec<Message> = first.into_iter().collect();
        let end = loop {
            match ws.read() {
                Ok(Some(message)) => received.push(message),
                other => break other,
            }
        };
        ServerOutcome { received, end, reason: ws.connection().close_reason().cloned(), _ws: ws }
    });
    let client = spawn(move || {
        let mut ws = connect_to(port);
        ws.send("please close").unwrap();
        let started = Instant::now();
        let mut received = Vec::new();
        let end = loop {
            match ws.read() {
                Ok(Some(message)) => received.push(message),
                other => break other,
            }
        };
        (received, end, ws.connection().close_reason().cloned(), started.elapsed())
    });
    let (received, end, reason, waited) = finish(&client, "the client");
    let server = finish(&server, "the server");

    assert_eq!(received, vec![Message::from("goodbye")]);
    assert!(matches!(end, Ok(None)), "client end: {end:?}");
    clean_close(reason, Initiator::Remote, CloseCode::GOING_AWAY, "server bye");
    assert!(waited < WAIT, "the client must have seen the server's TCP close, not its close timeout");

    assert_eq!(server.received, vec![Message::from("please close")]);
    assert!(matches!(server.end, Ok(None)), "server end: {:?}", server.end);
    clean_close(server.reason, Initiator::Local, CloseCode::GOING_AWAY, "");
}

#[test]
fn tcp_rejected_upgrade() {
    let (listener, port) = listener();
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut path = String::new();
        let result = blocking::accept_with(stream, &Config::default(), |request| {
            path = request.path().to_owned();
            Err(Reject::new(403).unwrap())
        });
        (path, result.map(|_| ()))
    });
    let client = spawn(move || blocking::connect(format!("ws://127.0.0.1:{port}/private")).map(|_| ()));
    let client = finish(&client, "the client");
    let (path, server) = finish(&server, "the server");

    assert_eq!(path, "/private");
    match server {
        Err(Error::Refused(http::StatusCode::FORBIDDEN)) => {}
        other => panic!("server: expected Err(Refused(403)), got {other:?}"),
    }
    match client {
        Err(Error::Handshake(HandshakeError::Rejected(response))) => assert_eq!(response.status(), 403),
        other => panic!("client: expected a rejected handshake, got {other:?}"),
    }
}

#[test]
fn tcp_close_timeout_uses_the_stream_hooks() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // A server that completes the handshake, then neither reads nor answers.
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut ws = blocking::accept(stream).unwrap();
        // Writes the 101 (see `accept_writes_the_101_before_returning`).
        ws.flush().unwrap();
        let _ = done_rx.recv_timeout(HOLD);
        drop(ws);
    });
    let client = spawn(move || {
        let mut config = Config::default();
        config.close_timeout = Duration::from_millis(300);
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (mut ws, _) = blocking::connect_with(&request, &config).unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
        let started = Instant::now();
        // `connect_with` installed the hooks: the adapter's own read timeout
        // wakes the read at the deadline.
        let result = ws.read();
        (result, started.elapsed())
    });
    let (result, waited) = finish(&client, "the client");
    done_tx.send(()).unwrap();
    finish(&server, "the server");
    match result {
        Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake))) => {}
        other => panic!("expected a close-handshake timeout, got {other:?}"),
    }
    assert!(waited >= Duration::from_millis(300) && waited < WAIT, "waited {waited:?}");
}

// `accept`/`accept_with` write the 101 before returning: a server that accepts
// and then waits before any I/O must not leave the client's handshake hanging.
#[test]
fn accept_writes_the_101_before_returning() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let ws = blocking::accept(stream).unwrap();
        // The handshake is done: hold the connection without further I/O for now.
        let _ = done_rx.recv_timeout(HOLD);
        drop(ws);
    });
    let client = spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Well inside `finish`'s wait, so that a missing 101 ends in a read timeout.
        stream.set_read_timeout(Some(WAIT / 2)).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        blocking::client(&request, stream, &Config::default()).map(|(_, response)| response.status())
    });
    let client = finish(&client, "the client");
    let _ = done_tx.send(());
    finish(&server, "the server");
    match client {
        Ok(http::StatusCode::SWITCHING_PROTOCOLS) => {}
        other => panic!("the client got no 101 while the server held the accepted connection: {other:?}"),
    }
}

// ----- liveness, backpressure and transport defaults ----------------------------------------------------------------

#[test]
fn the_heartbeat_drops_a_silent_peer_over_tcp() {
    let (listener, port) = listener();
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(100));
        config.pong_timeout = Duration::from_millis(100);
        let mut ws = blocking::accept_tcp(stream, &config, |_| Ok(Default::default())).unwrap();
        let started = Instant::now();
        // `accept_tcp` installed the hooks: the adapter's own read timeout
        // wakes the read to ping, then to give up.
        let result = ws.read();
        (result, started.elapsed())
    });
    // A client that completes the handshake, then neither reads nor answers.
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let (client, _) = blocking::client(&request, stream, &Config::default()).unwrap();
    let (result, waited) = finish(&server, "the server");
    match result {
        Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong))) => {}
        other => panic!("expected a pong timeout, got {other:?}"),
    }
    assert!(waited >= Duration::from_millis(200) && waited < WAIT, "waited {waited:?}");
    // The client, reading at last: the ping, then the server's 1011 and the end.
    let (mut stream, _) = client.into_parts();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut wire = Vec::new();
    stream.read_to_end(&mut wire).unwrap();
    let frames = frames_sent_by_server(&wire);
    assert_eq!(frames[0], (OpCode::Ping, 1u64.to_be_bytes().to_vec()));
    assert_eq!((frames[1].0, &frames[1].1[..2]), (OpCode::Close, &1011u16.to_be_bytes()[..]));
    assert_eq!(frames.len(), 2);
}

#[test]
fn a_full_write_buffer_waits_or_fails_as_configured() {
    const MESSAGE: usize = 16 << 10;
    let mut config = config();
    config.write_buffer_limit = 64 << 10;
    // `feed` queues without writing, so the queue fills up.
    let mut ws = server_ws_with(io::Cursor::new(Vec::new()), &config);
    ws.set_when_buffer_full(blocking::WhenBufferFull::Fail);
    let mut queued = 0;
    let refused = loop {
        match ws.feed(vec![1u8; MESSAGE]) {
            Ok(()) => queued += 1,
            Err(err) => break err,
        }
        assert!(queued <= 4, "the queue grew past its limit");
    };
    assert!(matches!(refused, Error::Usage(rfc6455::UsageError::WriteBufferFull { .. })), "{refused:?}");
    assert_eq!(queued, 4);
    assert!(ws.buffered_amount() >= config.write_buffer_limit && ws.buffered_amount() < config.write_buffer_limit + 64);
    // Waiting (the default) writes the queue out first and then takes it.
    ws.set_when_buffer_full(blocking::WhenBufferFull::Wait);
    ws.feed(vec![1u8; MESSAGE]).unwrap();
    assert!(ws.buffered_amount() < MESSAGE + 16);
    assert_eq!(frames_sent_by_server(ws.get_ref().get_ref()).len(), 4);
}

#[test]
fn tcp_helpers_set_nodelay_unless_told_not_to() {
    for nodelay in [true, false] {
        let (listener, port) = listener();
        let mut config = Config::default();
        config.tcp_nodelay = nodelay;
        let server_config = config.clone();
        let server = spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let ws = blocking::accept_tcp(stream, &server_config, |_| Ok(Default::default())).unwrap();
            ws.get_ref().nodelay().unwrap()
        });
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (client, _) = blocking::connect_with(&request, &config).unwrap();
        assert_eq!(client.get_ref().get_ref().nodelay().unwrap(), nodelay, "client");
        assert_eq!(finish(&server, "the server"), nodelay, "server");
    }
}

#[test]
fn the_applications_read_timeout_still_bounds_read_while_the_adapter_drives_timers() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Pings every 50 ms: bytes arrive all the time, but no message.
        let mut config = Config::default();
        config.ping_interval = Some(Duration::from_millis(50));
        let mut ws = blocking::accept_tcp(stream, &config, |_| Ok(Default::default())).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(20)));
        let hold = Instant::now() + HOLD;
        while done_rx.try_recv().is_err() && Instant::now() < hold {
            match ws.read() {
                Err(Error::Io(err)) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                _ => break,
            }
        }
        drop(ws);
    });
    let client = spawn(move || {
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (mut ws, _) = blocking::connect_with(&request, &Config::default()).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let first = ws.read();
        let waited = started.elapsed();
        // Nothing was lost: the connection is still open and usable.
        ws.send("still open").unwrap();
        (format!("{first:?}"), waited, ws.connection().ready_state())
    });
    let (first, waited, state) = finish(&client, "the client");
    // The server may have ended already (the client's end reached it).
    let _ = done_tx.send(());
    finish(&server, "the server");
    assert!(first.contains("WouldBlock") || first.contains("TimedOut"), "{first}");
    // The heartbeat's pings (and this end's pongs) did not extend the limit.
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "waited {waited:?}");
    assert_eq!(state, rfc6455::ReadyState::Open);
}

/// A non-blocking transport to a peer that vanished: nothing to read, and
/// writes would block. Counts the writes tried.
#[derive(Default)]
struct Vanished {
    writes: usize,
}

impl Read for Vanished {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(ErrorKind::WouldBlock.into())
    }
}

impl Write for Vanished {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        Err(ErrorKind::WouldBlock.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn timers_fire_on_a_non_blocking_stream_with_bytes_stuck_in_the_queue() {
    let mut config = config();
    config.ping_interval = Some(Duration::from_millis(50));
    config.pong_timeout = Duration::from_millis(50);
    let mut ws = server_ws_with(Vanished::default(), &config);
    ws.feed("queued").unwrap();
    let until = Instant::now() + WAIT;
    let outcome = loop {
        match ws.read() {
            Err(err) if is_would_block(&err) && Instant::now() < until => thread::sleep(Duration::from_millis(5)),
            other => break other,
        }
    };
    match outcome {
        Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong))) => {}
        other => panic!("expected a pong timeout, got {other:?}"),
    }
}

/// As in the tokio adapter: `read` ends with `Ok(None)` only after a normal
/// close from the peer (1000, 1001, no code); 1011 and others are errors.
#[test]
fn only_a_normal_close_from_the_peer_ends_the_stream_quietly() {
    let cases: [(Vec<u8>, Option<u16>); 5] = [
        (close_payload(1000, b""), None),
        (close_payload(1001, b"going away"), None),
        (Vec::new(), None),
        (close_payload(1011, b"server error"), Some(1011)),
        (close_payload(4001, b"app code"), Some(4001)),
    ];
    for (payload, error_code) in cases {
        let mut ws = server_ws(Mock::new(client_frame(OpCode::Close, true, &payload)));
        let end = ws.read();
        match error_code {
            None => assert!(matches!(end, Ok(None)), "{payload:?}: {end:?}"),
            Some(code) => assert!(
                matches!(&end, Err(Error::Closed(reason)) if reason.was_clean() && reason.code() == CloseCode(code)),
                "{payload:?}: {end:?}"
            ),
        }
    }
}

/// In-memory transport: reads come from `input`; writes go to `output` until
/// `broken`, then fail (a stream the peer ended after its close frame).
struct WritesBreak {
    input: std::io::Cursor<Vec<u8>>,
    output: Vec<u8>,
    broken: bool,
}

impl std::io::Read for WritesBreak {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl std::io::Write for WritesBreak {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.broken {
            return Err(std::io::Error::other("the peer ended this stream"));
        }
        self.output.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Err(std::io::Error::other("the peer ended this stream"));
        }
        Ok(())
    }
}

/// As in the tokio adapter: once our close frame is out, a transport that
/// stops taking writes does not hide the peer's close waiting to be read.
#[test]
fn a_transport_that_stops_taking_writes_after_our_close_still_delivers_the_peers_close() {
    let stream = WritesBreak {
        input: std::io::Cursor::new(common::server_frame(OpCode::Close, true, &common::close_payload(1000, b""))),
        output: Vec::new(),
        broken: false,
    };
    let mut ws = WebSocket::from_connection(stream, Connection::client(&Config::default(), Instant::now(), [7; 32]));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(!ws.get_ref().output.is_empty(), "our close frame went out");
    ws.get_mut().broken = true;
    assert_eq!(ws.read().unwrap(), None, "a clean close");
    assert!(ws.connection().close_reason().is_some_and(|reason| reason.is_normal()));
}

/// Fan-out on the blocking adapter: one prepared message to several sockets.
#[test]
fn a_prepared_message_reaches_every_blocking_subscriber() {
    let (listener, port) = listener();
    let subscribers = 5;
    let clients = thread::spawn(move || {
        (0..subscribers)
            .map(|_| {
                let mut ws = connect_to(port);
                ws.read().unwrap()
            })
            .collect::<Vec<_>>()
    });
    let prepared = rfc6455::PreparedMessage::new("to everyone");
    let mut servers = Vec::new();
    for _ in 0..subscribers {
        let mut ws = accept_one(&listener);
        ws.send_prepared(&prepared).unwrap();
        servers.push(ws);
    }
    let received = clients.join().unwrap();
    assert_eq!(received, vec![Some(Message::text("to everyone")); subscribers]);
}

/// With hooks that do nothing (a non-blocking stream), the close timer runs
/// out inside a closing write: the next read ends with the close timeout,
/// not with `WouldBlock` and no deadline left to wake it.
#[test]
fn a_close_timer_that_runs_out_while_writing_ends_the_next_read() {
    let mut config = config();
    config.close_timeout = Duration::from_millis(50);
    let mut ws = server_ws_with(Vanished::default(), &config);
    ws.set_stream_hooks(StreamHooks::new(|_, _| Ok(()), |_, _| Ok(()), |_| Ok(())));
    ws.close(CloseCode::NORMAL, "").unwrap();
    thread::sleep(Duration::from_millis(100));
    match ws.read() {
        Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake))) => {}
        other => panic!("expected the close timeout, got {other:?}"),
    }
    assert!(ws.connection().is_closed());
}

/// A peer that completes the handshake, then reads nothing and sends
/// nothing, held open until the test ends (at most [`HOLD`]).
fn silent_peer(port: u16, done: mpsc::Receiver<()>) -> mpsc::Receiver<()> {
    spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // Small, so that a few MiB fill it (loopback's may grow to 32 MiB).
        socket2::SockRef::from(&stream).set_recv_buffer_size(64 << 10).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (client, _) = blocking::client(&request, stream, &Config::default()).unwrap();
        let _ = done.recv_timeout(HOLD);
        drop(client);
    })
}

/// `set_write_timeout` bounds a send to a peer that reads nothing (the rest
/// stays queued), and the idle timer then ends the connection from inside
/// `read` although the queue never drains: the close it starts is bounded
/// by the close timeout.
#[test]
fn a_write_limit_bounds_a_send_and_the_timers_end_a_stuck_connection() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel();
    let peer = silent_peer(port, done_rx);
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        socket2::SockRef::from(&stream).set_send_buffer_size(64 << 10).unwrap();
        let mut config = Config::default();
        config.idle_timeout = Some(Duration::from_millis(300));
        config.close_timeout = Duration::from_millis(300);
        let mut ws = blocking::accept_tcp(stream, &config, |_| Ok(Default::default())).unwrap();
        ws.set_write_timeout(Some(Duration::from_millis(50)));
        let started = Instant::now();
        let sent = ws.send(noise(8 << 20));
        let (send_took, queued) = (started.elapsed(), ws.buffered_amount());
        let started = Instant::now();
        let end = ws.read();
        (sent.is_ok(), send_took, queued, format!("{end:?}"), started.elapsed())
    });
    let (sent, send_took, queued, end, read_took) = finish(&server, "the server");
    let _ = done_tx.send(());
    finish(&peer, "the peer");
    assert!(sent, "the send was refused");
    assert!(queued > 0, "the peer took all 8 MiB");
    assert!(send_took < Duration::from_secs(2), "the send took {send_took:?}");
    assert!(end.contains("Timeout"), "{end}");
    // The idle timeout (300 ms), then the close it started (300 ms).
    assert!(read_took >= Duration::from_millis(250) && read_took < Duration::from_secs(3), "read took {read_took:?}");
}

/// A read limit that runs out while the read writes (its pongs to a peer
/// that pings without reading) still returns at the limit.
#[test]
fn the_read_limit_bounds_the_writes_inside_read() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The peer: handshake, then pings with 125-byte payloads as fast as its
    // socket takes them, never reading.
    let peer = spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (client, _) = blocking::client(&request, stream, &Config::default()).unwrap();
        let (mut stream, _) = client.into_parts();
        stream.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
        let ping = client_frame(OpCode::Ping, true, &[1u8; 125]);
        let until = Instant::now() + WAIT;
        while done_rx.try_recv().is_err() && Instant::now() < until {
            let _ = stream.write_all(&ping);
        }
    });
    let server = spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = blocking::accept_tcp(stream, &Config::default(), |_| Ok(Default::default())).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(200)));
        // Long enough for the pongs to fill both sockets.
        let mut took = Vec::new();
        for _ in 0..10 {
            let started = Instant::now();
            let result = ws.read();
            took.push(started.elapsed());
            match result {
                Err(err) if is_would_block(&err) => {}
                other => return Err(format!("{other:?}")),
            }
        }
        Ok((took, ws.buffered_amount()))
    });
    let outcome = finish(&server, "the server");
    let _ = done_tx.send(());
    finish(&peer, "the peer");
    let (took, queued) = outcome.expect("every read ended at its limit");
    assert!(queued > 0, "the pongs never backed up: the test proves nothing");
    for took in took {
        assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(2), "a read took {took:?}");
    }
}

/// A read limit shorter than an earlier one: the stream's read timeout left
/// from the earlier read is re-armed, not taken for the new limit.
#[test]
fn a_longer_read_limit_after_a_short_one_waits_its_full_length() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel();
    let peer = silent_peer(port, done_rx);
    let (stream, _) = listener.accept().unwrap();
    let mut ws = blocking::accept_tcp(stream, &Config::default(), |_| Ok(Default::default())).unwrap();
    let mut waits = Vec::new();
    for limit in [20, 500] {
        ws.set_read_timeout(Some(Duration::from_millis(limit)));
        let started = Instant::now();
        let result = ws.read();
        assert!(matches!(&result, Err(err) if is_would_block(err)), "{result:?}");
        waits.push(started.elapsed());
    }
    let _ = done_tx.send(());
    finish(&peer, "the peer");
    assert!(waits[1] >= Duration::from_millis(500), "the 500 ms read returned after {:?}", waits[1]);
}

/// A zero read limit still reads once: a message already in the socket is
/// returned.
#[test]
fn a_zero_read_limit_returns_a_message_already_there() {
    let (listener, port) = listener();
    let client = spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (mut client, _) = blocking::client(&request, stream, &Config::default()).unwrap();
        client.send("already here").unwrap();
        thread::sleep(Duration::from_millis(300));
    });
    let (stream, _) = listener.accept().unwrap();
    let mut ws = blocking::accept_tcp(stream, &Config::default(), |_| Ok(Default::default())).unwrap();
    thread::sleep(Duration::from_millis(100));
    ws.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(ws.read().unwrap(), Some(Message::from("already here")));
    finish(&client, "the client");
}

/// The write limit counts from the call: against a peer that reads slowly
/// (so that every write makes some progress), a send still returns at the
/// limit, with the rest queued, and a later flush goes on writing.
#[test]
fn a_write_limit_counts_from_the_call_against_a_slow_reader() {
    let (listener, port) = listener();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The peer reads 16 KiB every 10 ms (1.6 MB/s: 4 MiB take 2.6 s).
    let peer = spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket2::SockRef::from(&stream).set_recv_buffer_size(64 << 10).unwrap();
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
        let (client, _) = blocking::client(&request, stream, &Config::default()).unwrap();
        let (mut stream, _) = client.into_parts();
        stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut buf = [0u8; 16 << 10];
        let until = Instant::now() + WAIT;
        while done_rx.try_recv().is_err() && Instant::now() < until {
            let _ = stream.read(&mut buf);
            thread::sleep(Duration::from_millis(10));
        }
    });
    let (stream, _) = listener.accept().unwrap();
    socket2::SockRef::from(&stream).set_send_buffer_size(64 << 10).unwrap();
    let mut ws = blocking::accept_tcp(stream, &Config::default(), |_| Ok(Default::default())).unwrap();
    ws.set_write_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let sent = ws.send(noise(4 << 20));
    let took = started.elapsed();
    let queued = ws.buffered_amount();
    let flushed = ws.flush();
    let _ = done_tx.send(());
    finish(&peer, "the peer");
    assert!(sent.is_ok(), "{sent:?}");
    // Without the limit (or with one restarted by each write's progress)
    // the send would take the seconds the peer needs for 4 MiB.
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "the send took {took:?}");
    assert!(queued > 0 && queued < 4 << 20, "{queued} bytes queued");
    assert!(matches!(&flushed, Err(err) if is_would_block(err)), "{flushed:?}");
    assert!(ws.buffered_amount() < queued, "the flush wrote nothing");
}

/// With hooks on a non-blocking stream, a deadline a few milliseconds
/// away does not make `read` spin on the write that would
/// block until it passes.
#[test]
fn a_short_timeout_on_a_non_blocking_stream_does_not_spin() {
    let mut config = config();
    config.ping_interval = Some(Duration::from_millis(3));
    let mut ws = server_ws_with(Vanished::default(), &config);
    ws.set_stream_hooks(StreamHooks::new(|_, _| Ok(()), |_, _| Ok(()), |_| Ok(())));
    ws.feed("queued").unwrap();
    let mut calls = 0;
    let until = Instant::now() + Duration::from_millis(50);
    while Instant::now() < until {
        let result = ws.read();
        assert!(matches!(&result, Err(err) if is_would_block(err)), "{result:?}");
        calls += 1;
        thread::sleep(Duration::from_millis(1));
    }
    let writes = ws.get_ref().writes;
    // A few writes per read call (the queued message, then the ping that
    // joins it), not thousands.
    assert!(writes <= calls * 4, "{writes} writes in {calls} reads");
}
