//! Load generator for the end-to-end echo benchmark.
//!
//! ```text
//! loadgen --addr A --conns N --size BYTES --mode pingpong|flood|latency|idle|broadcast
//!         --secs T [--warmup S] [--window W] [--rate R] [--count C] [--accept-masked]
//! ```
//!
//! Opens N WebSocket connections to A (a hand-written HTTP upgrade with a
//! fixed `Sec-WebSocket-Key`; the 101 status and `Sec-WebSocket-Accept` are
//! checked), and on each one echoes a single frame and compares the payload
//! byte for byte. Then it sends ONE pre-built masked binary frame (fixed
//! payload, fixed mask key: identical bytes for every server) over and over,
//! and parses the server's unmasked frames minimally (header and length; the
//! payload is skipped; nothing is allocated per frame):
//!
//! * `pingpong`: one message in flight per connection.
//! * `flood`: W messages in flight per connection (default 64, capped so
//!   that W * size <= 1 MiB); echoed messages are replaced at once, all that
//!   can go in one write.
//! * `latency`: one message at a time at a fixed total rate R (default
//!   1000/s) spread over the connections; reports round-trip percentiles.
//! * `idle`: opens the connections, prints `READY conns=N`, holds them idle
//!   for T seconds, checks none was closed. The driver reads the server's
//!   RSS meanwhile.
//! * `broadcast` (against `echo_server --mode broadcast`): N subscribers and
//!   one publisher; see below.
//!
//! `--accept-masked` is for `echo_server --impl raw-tcp`, which returns the
//! client's own masked frames: the parser then accepts masked frames (and
//! the first echo must equal the frame sent). Without it a masked frame from
//! the server is an error, as RFC 6455 requires.
//!
//! Echoes are counted for T seconds after a warm-up (default 0.5 s); or,
//! with `--count C` (pingpong and flood), every connection sends exactly C
//! messages and the run ends when all C x N echoes are back, counting all
//! of them (no warm-up, no time limit but a stall check: no echo anywhere
//! for 10 s is an error). The fixed count is for instruction counting
//! (benches/instructions.sh): the server does the same work whatever the
//! speed of the machine. One line goes to stdout:
//! `RESULT mode=.. conns=.. size=.. secs=.. msgs=.. msgs_per_s=.. mb_per_s=.. p50_us=.. p99_us=.. stalled_conns=..`
//! (`mb_per_s`: echoed payload, 10^6 bytes per second, one direction;
//! `stalled_conns`: connections with no echo in the measured interval).
//! Any connection error, an unexpected frame, or no echo at all exits non-zero.
//!
//! # Broadcast
//!
//! Opens N subscriber connections and one publisher connection (no echo
//! check: the server would broadcast it). The publisher's messages are
//! binary, `size` bytes (at least 8), the first 8 bytes a big-endian
//! sequence number. Settle: the publisher sends a hello (sequence number
//! `u64::MAX`) every 100 ms until every subscriber has received one, so the
//! server has registered them all; hellos come before message 0 in every
//! subscriber's stream, so extra ones are ignored.
//!
//! Flow control, measured against the slowest subscriber: message k is sent
//! only once message k - W has reached every subscriber (W = `--window`,
//! default 16). So no queue anywhere holds more than W messages per
//! subscriber, however fast the server fans out; the server's fan-out rate
//! is what limits the publisher. A subscriber that sees message j while it
//! expected i < j lost i..j (the server dropped them for a lagging
//! subscriber): they count as lost and as resolved for the window. A
//! message older than one already seen is out of order: an error. No
//! progress for 5 s is an error too (a stalled subscriber would hold the
//! window forever).
//!
//! `RESULT mode=broadcast conns=N size=.. window=W secs=.. published=..
//! delivered=.. msgs_per_s=.. mb_per_s=.. lost=.. stalled_conns=..`, over
//! the measured interval: `published` messages sent by the publisher,
//! `delivered` messages received summed over subscribers, `msgs_per_s`
//! delivered per second, `lost` messages subscribers found missing (expected
//! minus delivered, in-flight messages aside), `stalled_conns` subscribers
//! that received nothing. The publisher must never get anything back.
//!
//! Runs on a single-threaded tokio runtime; every connection is a task.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// The RFC 6455 sample key, and the accept value it must produce.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MASK: [u8; 4] = [0x5a, 0x13, 0xc7, 0x8e];
/// Flood window default, and the cap on bytes in flight per connection.
const DEFAULT_WINDOW: usize = 64;
const MAX_INFLIGHT_BYTES: usize = 1 << 20;
const READ_BUF: usize = 64 << 10;
/// Connections set up at once (keeps the servers' accept backlogs short).
const CONNECT_CONCURRENCY: usize = 64;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Res<T> = Result<T, String>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    PingPong,
    Flood,
    Latency,
    Idle,
    Broadcast,
}

#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    mode: Mode,
    secs: f64,
    warmup: f64,
    window: Option<usize>,
    rate: f64,
    /// Messages per connection (`--count`): a fixed amount of work instead of a time.
    count: Option<u64>,
    accept_masked: bool,
}

fn parse_args() -> Res<Args> {
    let mut addr = None;
    let mut args = Args {
        addr: ([127, 0, 0, 1], 0).into(),
        conns: 1,
        size: 20,
        mode: Mode::PingPong,
        secs: 2.0,
        warmup: 0.5,
        window: None,
        rate: 1000.0,
        count: None,
        accept_masked: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--accept-masked" {
            args.accept_masked = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("invalid {flag} {value:?}: {e}");
        match flag.as_str() {
            "--addr" => addr = Some(value.parse().map_err(|e| bad(&e))?),
            "--conns" => args.conns = value.parse().map_err(|e| bad(&e))?,
            "--size" => args.size = value.parse().map_err(|e| bad(&e))?,
            "--secs" => args.secs = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => args.warmup = value.parse().map_err(|e| bad(&e))?,
            "--window" => args.window = Some(value.parse().map_err(|e| bad(&e))?),
            "--rate" => args.rate = value.parse().map_err(|e| bad(&e))?,
            "--count" => args.count = Some(value.parse().map_err(|e| bad(&e))?),
            "--mode" => {
                args.mode = match value.as_str() {
                    "pingpong" => Mode::PingPong,
                    "flood" => Mode::Flood,
                    "latency" => Mode::Latency,
                    "idle" => Mode::Idle,
                    "broadcast" => Mode::Broadcast,
                    _ => return Err(bad(&"expected pingpong, flood, latency, idle or broadcast")),
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    args.addr = addr.ok_or("--addr is required")?;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.conns == 0 || args.window == Some(0) || !positive(args.secs) || !positive(args.rate) {
        return Err("--conns, --window, --secs and --rate must be positive".into());
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        return Err("--warmup must be zero or positive".into());
    }
    if args.count == Some(0) || (args.count.is_some() && !matches!(args.mode, Mode::PingPong | Mode::Flood)) {
        return Err("--count must be positive, and is for pingpong and flood only".into());
    }
    if args.mode == Mode::Broadcast && (args.size < 8 || args.accept_masked) {
        return Err("broadcast needs --size 8 or more (the sequence number), and no --accept-masked".into());
    }
    Ok(args)
}

/// The one client frame: FIN + binary, masked with `MASK`, a fixed payload.
/// Returns the frame and the unmasked payload (to check the first echo).
fn build_frame(size: usize) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(31) + 7) as u8).collect();
    let mut frame = vec![0x82];
    match size {
        0..=125 => frame.push(0x80 | size as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    (frame, payload)
}

/// Minimal parser of the server's frames: expects unmasked binary messages
/// of exactly `size` bytes, each one frame or fragmented (a server that
/// echoes a huge message part by part as it arrives sends it as fragments);
/// skips pings and pongs; anything else is an error. Keeps at most a
/// partial header between reads. With
/// `accept_masked` (the raw TCP echo, which returns our own masked frames)
/// a masked frame is accepted too: its key is skipped, its payload only
/// counted. With `capture_seq` (broadcast) the first 8 payload bytes of
/// each message are read as its big-endian sequence number.
struct Parser {
    size: u64,
    accept_masked: bool,
    capture_seq: bool,
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Whether the frame being skipped ends an echo (counts when done).
    counting: bool,
    /// Bytes of a fragmented message received so far, while one is open.
    fragmented: Option<u64>,
    /// The first payload bytes of the current frame (`capture_seq`).
    seq: [u8; 8],
}

impl Parser {
    fn new(size: usize) -> Self {
        Self {
            size: size as u64,
            accept_masked: false,
            capture_seq: false,
            header: [0; 14],
            header_len: 0,
            skip: 0,
            counting: false,
            fragmented: None,
            seq: [0; 8],
        }
    }

    /// Parses a header at the start of `b`: `Ok(None)` if incomplete, else
    /// (header length, first byte, payload length).
    fn header(&self, b: &[u8]) -> Res<Option<(usize, u8, u64)>> {
        if b.len() < 2 {
            return Ok(None);
        }
        let key_len = match b[1] & 0x80 {
            0 => 0,
            _ if self.accept_masked => 4,
            _ => return Err("server sent a masked frame".into()),
        };
        let (header_len, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u64::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().unwrap())),
            126 | 127 => return Ok(None),
            len => (2, u64::from(len)),
        };
        if b.len() < header_len + key_len {
            return Ok(None);
        }
        Ok(Some((header_len + key_len, b[0], len)))
    }

    fn start_frame(&mut self, first: u8, len: u64) -> Res<u64> {
        let fin = first & 0x80 != 0;
        let before = match (first & 0x7f, self.fragmented) {
            (0x09 | 0x0a, _) if fin => {
                // ping, pong (also between fragments)
                self.counting = false;
                self.skip = len;
                return Ok(0);
            }
            (0x08, _) => return Err("server sent a close frame".into()),
            (0x02, None) if fin || !self.capture_seq => 0, // a message begins
            (0x00, Some(before)) => before,                // it continues
            _ => return Err(format!("unexpected frame, first byte {first:#04x}")),
        };
        let total = before + len;
        if total > self.size || (fin && total != self.size) {
            return Err(format!("echo of {total} bytes, sent {}", self.size));
        }
        self.fragmented = (!fin).then_some(total);
        self.counting = fin;
        self.skip = len;
        Ok(u64::from(len == 0 && self.counting))
    }

    /// Consumes `data`; returns how many echoes completed in it.
    fn feed(&mut self, data: &[u8]) -> Res<u64> {
        let mut done = 0;
        self.feed_with(data, |_| {
            done += 1;
            Ok(())
        })?;
        Ok(done)
    }

    /// Consumes `data`, calling `on_message` with the sequence number (0
    /// without `capture_seq`) of every message completed in it.
    fn feed_with(&mut self, mut data: &[u8], mut on_message: impl FnMut(u64) -> Res<()>) -> Res<()> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                if self.capture_seq && self.counting {
                    let at = (self.size - self.skip) as usize;
                    if at < self.seq.len() {
                        let k = (self.seq.len() - at).min(n as usize);
                        self.seq[at..at + k].copy_from_slice(&data[..k]);
                    }
                }
                self.skip -= n;
                data = &data[n as usize..];
                if self.skip == 0 && self.counting {
                    on_message(u64::from_be_bytes(self.seq))?;
                }
                continue;
            }
            if self.header_len == 0 {
                if let Some((header_len, first, len)) = self.header(data)? {
                    data = &data[header_len..];
                    if self.start_frame(first, len)? == 1 {
                        on_message(0)?;
                    }
                    continue;
                }
            }
            // A header split across reads: gather it byte by byte.
            self.header[self.header_len] = data[0];
            self.header_len += 1;
            data = &data[1..];
            if let Some((_, first, len)) = self.header(&self.header[..self.header_len])? {
                self.header_len = 0;
                if self.start_frame(first, len)? == 1 {
                    on_message(0)?;
                }
            }
        }
        Ok(())
    }
}

/// Round-trip times in nanoseconds, log-linear buckets (~1% resolution).
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Histogram {
    const SUB: u32 = 7; // 2^7 sub-buckets per power of two (64 of them used)

    fn new() -> Self {
        Self { buckets: vec![0; 58 * 64 + 128], count: 0 }
    }

    fn index(ns: u64) -> usize {
        if ns < 1 << Self::SUB {
            return ns as usize;
        }
        let shift = 64 - ns.leading_zeros() - Self::SUB;
        (shift as usize) * 64 + (ns >> shift) as usize
    }

    fn value(index: usize) -> u64 {
        if index < 1 << Self::SUB {
            return index as u64;
        }
        let shift = index / 64 - 1;
        let mantissa = (index - shift * 64) as u64;
        (mantissa << shift) + (1 << shift) / 2 // the bucket's midpoint
    }

    fn record(&mut self, ns: u64, n: u64) {
        self.buckets[Self::index(ns)] += n;
        self.count += n;
    }

    /// The `q` quantile in microseconds, or NaN without samples.
    fn quantile_us(&self, q: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::value(i) as f64 / 1000.0;
            }
        }
        unreachable!("rank <= count")
    }
}

/// Shared by all connection tasks (single thread, so `Cell`s).
struct Stats {
    measuring: Cell<bool>,
    /// Connection tasks that ended (with `--count`: sent and got back all).
    finished: Cell<usize>,
    msgs: Cell<u64>,
    per_conn: Vec<Cell<u64>>,
    rtt: RefCell<Histogram>,
    error: RefCell<Option<String>>,
}

impl Stats {
    /// Counts `n` echoes on connection `id` that were sent at `sent`.
    fn echoed(&self, id: usize, n: u64, sent: Instant, now: Instant) {
        if self.measuring.get() {
            self.msgs.set(self.msgs.get() + n);
            self.per_conn[id].set(self.per_conn[id].get() + n);
            self.rtt.borrow_mut().record(now.saturating_duration_since(sent).as_nanos() as u64, n);
        }
    }

    fn fail(&self, id: usize, err: String) {
        self.error.borrow_mut().get_or_insert_with(|| format!("connection {id}: {err}"));
    }
}

/// Connects, upgrades, and (`echo`: the frame and its payload) checks that
/// one frame comes back intact: unmasked, or with `accept_masked` exactly
/// as sent. `size` is the payload size the parser expects.
async fn connect(
    addr: SocketAddr,
    size: usize,
    echo: Option<(&[u8], &[u8])>,
    accept_masked: bool,
) -> Res<(TcpStream, Parser)> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.map_err(|e| format!("handshake write: {e}"))?;
    let mut head = Vec::with_capacity(512);
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > 8192 || tcp.read_buf(&mut head).await.map_err(|e| format!("handshake read: {e}"))? == 0 {
            return Err(format!("no complete handshake response: {:?}", String::from_utf8_lossy(&head)));
        }
    };
    let text = std::str::from_utf8(&head[..end]).map_err(|_| "non-UTF-8 handshake response")?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101 ") && status != "HTTP/1.1 101" {
        return Err(format!("expected 101 Switching Protocols, got {status:?}"));
    }
    let accept = lines.filter_map(|line| line.split_once(':')).find_map(|(name, value)| {
        name.trim().eq_ignore_ascii_case("sec-websocket-accept").then(|| value.trim().to_owned())
    });
    if accept.as_deref() != Some(ACCEPT) {
        return Err(format!("bad Sec-WebSocket-Accept {accept:?}"));
    }
    let mut parser = Parser::new(size);
    parser.accept_masked = accept_masked;
    // The server has nothing to say before our first frame; bytes past the
    // head would be a protocol error, which the echo check below catches.
    let mut got = head.split_off(end);
    let Some((frame, payload)) = echo else {
        if !got.is_empty() {
            return Err(format!("{} unexpected bytes after the handshake response", got.len()));
        }
        return Ok((tcp, parser));
    };
    if accept_masked {
        tcp.write_all(frame).await.map_err(|e| format!("write: {e}"))?;
        // raw-tcp returns our frame byte for byte.
        while got.len() < frame.len() {
            if tcp.read_buf(&mut got).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Err("connection closed before the first echo".into());
            }
        }
        if parser.feed(&got)? != 1 || got != frame {
            return Err("the first echo does not match what was sent".into());
        }
        return Ok((tcp, parser));
    }
    // One frame or fragments (a huge message may come back in pieces, and
    // a server that echoes parts as they arrive starts before the frame is
    // all sent: read while writing).
    let (mut reader, mut writer) = tcp.split();
    let write = async { writer.write_all(frame).await.map_err(|e| format!("write: {e}")) };
    let read = async {
        loop {
            if let Some(done) = first_message(&got)? {
                return Ok(done);
            }
            if reader.read_buf(&mut got).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Err("connection closed before the first echo".to_string());
            }
        }
    };
    let (written, read) = tokio::join!(write, read);
    written?;
    let (echoed, used) = read?;
    if used != got.len() || echoed != payload || parser.feed(&got)? != 1 {
        return Err("the first echo does not match what was sent".into());
    }
    Ok((tcp, parser))
}

/// The payload of the first binary message in `bytes` (unmasked server
/// frames: one, or fragments; pings and pongs skipped) and the bytes it
/// took, once it is complete.
fn first_message(bytes: &[u8]) -> Res<Option<(Vec<u8>, usize)>> {
    let mut at = 0;
    let mut payload = Vec::new();
    loop {
        let Some(b) = bytes.get(at..).filter(|b| b.len() >= 2) else { return Ok(None) };
        if b[1] & 0x80 != 0 {
            return Err("server sent a masked frame".into());
        }
        let (head, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u64::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().unwrap())),
            126 | 127 => return Ok(None),
            len => (2, u64::from(len)),
        };
        let end = head + len as usize;
        if b.len() < end {
            return Ok(None);
        }
        match b[0] & 0x0f {
            0x9 | 0xa => {}
            0x2 | 0x0 => payload.extend_from_slice(&b[head..end]),
            other => return Err(format!("unexpected opcode {other:#x} in the first echo")),
        }
        at += end;
        if b[0] & 0x8f == 0x82 || b[0] & 0x8f == 0x80 {
            return Ok(Some((payload, at)));
        }
    }
}

/// pingpong and flood: keeps `window` messages in flight. The byte stream
/// sent is the frame repeated forever, so writes come from `batch` (the
/// frame `window + 1` times) at the current phase, however they split.
/// What every pingpong or flood connection sends.
#[derive(Clone)]
struct Sending {
    /// The frame `window + 1` times.
    batch: Rc<[u8]>,
    frame_len: usize,
    /// Messages in flight.
    window: usize,
    /// Messages in all (`--count`), or no end.
    count: Option<u64>,
}

async fn run_window(id: usize, tcp: TcpStream, mut parser: Parser, sending: Sending, stats: Rc<Stats>) {
    let Sending { batch, frame_len, window, count } = sending;
    let mut buf = vec![0u8; READ_BUF];
    // With `count`: messages still to send, and echoes still to receive.
    let mut to_send = count.unwrap_or(u64::MAX);
    let mut to_receive = count.unwrap_or(u64::MAX);
    // When each in-flight message was queued (one entry per message).
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(window);
    let mut credit = window;
    let mut unsent = 0; // bytes queued but not written yet
    let mut phase = 0; // offset in the frame where the next write starts
    let result: Res<()> = async {
        loop {
            let credit_now = (credit as u64).min(to_send) as usize;
            if credit_now > 0 {
                let now = Instant::now();
                sent.extend(std::iter::repeat_n(now, credit_now));
                unsent += credit_now * frame_len;
                to_send -= credit_now as u64;
                credit = 0;
            }
            while unsent > 0 {
                let chunk = &batch[phase..phase + unsent.min(batch.len() - phase)];
                match tcp.try_write(chunk) {
                    Ok(n) => {
                        unsent -= n;
                        phase = (phase + n) % frame_len;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            let interest = if unsent > 0 { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let ready = tcp.ready(interest).await.map_err(|e| e.to_string())?;
            if !ready.is_readable() && !ready.is_read_closed() {
                continue;
            }
            let n = match tcp.try_read(&mut buf) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            let done = parser.feed(&buf[..n])?;
            if done > 0 {
                let now = Instant::now();
                if done as usize > sent.len() {
                    return Err("more echoes than messages sent".into());
                }
                for at in sent.drain(..done as usize) {
                    stats.echoed(id, 1, at, now);
                }
                credit += done as usize;
                to_receive -= done;
                if to_receive == 0 {
                    return Ok(());
                }
            }
        }
    }
    .await;
    stats.finished.set(stats.finished.get() + 1);
    if let Err(err) = result {
        stats.fail(id, err);
    }
}

/// latency: one message at a time every `interval`, starting at `start`.
async fn run_paced(
    id: usize,
    mut tcp: TcpStream,
    mut parser: Parser,
    frame: Rc<[u8]>,
    start: Instant,
    interval: Duration,
    stats: Rc<Stats>,
) {
    let mut buf = vec![0u8; READ_BUF];
    let result: Res<()> = async {
        let mut next = start;
        loop {
            tokio::time::sleep_until(next.into()).await;
            let sent = Instant::now();
            // Late (the previous echo took long): go now, never in a burst.
            next = (next + interval).max(sent);
            tcp.write_all(&frame).await.map_err(|e| format!("write: {e}"))?;
            let mut done = 0;
            while done == 0 {
                match tcp.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
                    0 => return Err("server closed the connection".into()),
                    n => done = parser.feed(&buf[..n])?,
                }
            }
            if done != 1 {
                return Err("more echoes than messages sent".into());
            }
            stats.echoed(id, 1, sent, Instant::now());
        }
    }
    .await;
    if let Err(err) = result {
        stats.fail(id, err);
    }
}

fn percentiles(h: &Histogram) -> (f64, f64) {
    (h.quantile_us(0.50), h.quantile_us(0.99))
}

async fn run(args: Args) -> Res<()> {
    let (frame, payload) = build_frame(args.size);
    let (frame, payload): (Rc<[u8]>, Rc<[u8]>) = (frame.into(), payload.into());
    let broadcast = args.mode == Mode::Broadcast;
    let total = args.conns + usize::from(broadcast); // and the publisher
    let conns: Vec<(TcpStream, Parser)> = futures_util::stream::iter(0..total)
        .map(|i| {
            let (frame, payload) = (frame.clone(), payload.clone());
            async move {
                let echo = (!broadcast).then_some((&frame[..], &payload[..]));
                let connected = connect(args.addr, args.size, echo, args.accept_masked);
                match tokio::time::timeout(CONNECT_TIMEOUT, connected).await {
                    Ok(result) => result.map_err(|e| format!("connection {i}: {e}")),
                    Err(_) => Err(format!("connection {i}: no handshake and echo within {CONNECT_TIMEOUT:?}")),
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

    if broadcast {
        return run_broadcast(&args, conns, &frame).await;
    }
    if args.mode == Mode::Idle {
        println!("READY conns={}", conns.len());
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
        let mut buf = [0u8; 64];
        for (i, (tcp, _)) in conns.iter().enumerate() {
            match tcp.try_read(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Ok(0) => return Err(format!("connection {i}: closed by the server while idle")),
                Ok(n) => return Err(format!("connection {i}: {n} unexpected bytes while idle")),
                Err(e) => return Err(format!("connection {i}: {e}")),
            }
        }
        println!("RESULT mode=idle conns={} size={} secs={:.2}", conns.len(), args.size, args.secs);
        return Ok(());
    }

    let stats = Rc::new(Stats {
        measuring: Cell::new(args.count.is_some()),
        finished: Cell::new(0),
        msgs: Cell::new(0),
        per_conn: (0..args.conns).map(|_| Cell::new(0)).collect(),
        rtt: RefCell::new(Histogram::new()),
        error: RefCell::new(None),
    });
    let window = match args.mode {
        Mode::PingPong | Mode::Latency => 1,
        _ => args.window.unwrap_or((MAX_INFLIGHT_BYTES / args.size.max(1)).clamp(1, DEFAULT_WINDOW)),
    };
    let batch: Rc<[u8]> = frame.repeat(window + 1).into();
    let local = tokio::task::LocalSet::new();
    let begin = Instant::now();
    for (id, (tcp, parser)) in conns.into_iter().enumerate() {
        let stats = stats.clone();
        match args.mode {
            Mode::Latency => {
                // Total rate R: each connection sends every conns/R seconds,
                // the connections staggered evenly.
                let interval = Duration::from_secs_f64(args.conns as f64 / args.rate);
                let start = begin + Duration::from_secs_f64(id as f64 / args.rate);
                local.spawn_local(run_paced(id, tcp, parser, frame.clone(), start, interval, stats));
            }
            _ => {
                let sending = Sending { batch: batch.clone(), frame_len: frame.len(), window, count: args.count };
                local.spawn_local(run_window(id, tcp, parser, sending, stats));
            }
        }
    }
    let stats2 = stats.clone();
    let elapsed = local
        .run_until(async move {
            let stats = stats2;
            let check = || stats.error.borrow().clone().map_or(Ok(()), Err);
            let sleep_checking = |secs: f64| {
                let check = &check;
                async move {
                    let until = Instant::now() + Duration::from_secs_f64(secs);
                    while Instant::now() < until {
                        check()?;
                        let left = until.saturating_duration_since(Instant::now());
                        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
                    }
                    check()
                }
            };
            if args.count.is_some() {
                // Until every connection is done; no echo for STALL_LIMIT * 2 is an error.
                let started = Instant::now();
                let (mut last, mut last_change) = (0, Instant::now());
                while stats.finished.get() < args.conns {
                    check()?;
                    if stats.msgs.get() != last {
                        (last, last_change) = (stats.msgs.get(), Instant::now());
                    } else if last_change.elapsed() > STALL_LIMIT * 2 {
                        return Err(format!("no echo for {:?} with --count", STALL_LIMIT * 2));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                check()?;
                return Ok(started.elapsed().as_secs_f64());
            }
            sleep_checking(args.warmup).await?;
            stats.measuring.set(true);
            let started = Instant::now();
            sleep_checking(args.secs).await?;
            stats.measuring.set(false);
            Ok::<_, String>(started.elapsed().as_secs_f64())
        })
        .await?;

    let msgs = stats.msgs.get();
    if msgs == 0 {
        return Err("nothing was echoed in the measured interval".into());
    }
    let stalled = stats.per_conn.iter().filter(|c| c.get() == 0).count();
    let (p50, p99) = percentiles(&stats.rtt.borrow());
    let mode = match args.mode {
        Mode::PingPong => "pingpong",
        Mode::Flood => "flood",
        Mode::Latency => "latency",
        Mode::Idle | Mode::Broadcast => unreachable!(),
    };
    println!(
        "RESULT mode={mode} conns={} size={} window={window} secs={elapsed:.3} msgs={msgs} msgs_per_s={:.0} \
         mb_per_s={:.2} p50_us={p50:.1} p99_us={p99:.1} stalled_conns={stalled}",
        args.conns,
        args.size,
        msgs as f64 / elapsed,
        (msgs * args.size as u64) as f64 / elapsed / 1e6,
    );
    Ok(())
}

/// Sequence number of the broadcast settle message.
const HELLO: u64 = u64::MAX;
const BROADCAST_WINDOW: usize = 16;
/// No message reaching every subscriber for this long fails the run.
const STALL_LIMIT: Duration = Duration::from_secs(5);
/// Read buffer per subscriber (there may be 10,000 of them).
const SUBSCRIBER_READ_BUF: usize = 8 << 10;

/// Broadcast state shared by the publisher and subscriber tasks.
struct Broadcast {
    subscribers: usize,
    window: u64,
    /// Per subscriber: the next sequence number it expects, whether it got a
    /// hello, and its deliveries in the measured interval.
    expected: Vec<Cell<u64>>,
    greeted: Vec<Cell<bool>>,
    delivered_to: Vec<Cell<u64>>,
    greeted_count: Cell<usize>,
    /// Per message in flight (slot `seq % window`): subscribers that have
    /// it (or lost it).
    done: Vec<Cell<usize>>,
    /// Messages `0..complete` reached (or were lost by) every subscriber.
    complete: Cell<u64>,
    /// Messages `0..sent` were handed to the publisher's socket.
    sent: Cell<u64>,
    last_progress: Cell<Instant>,
    /// Wakes the publisher: every subscriber greeted, or `complete` moved.
    progress: tokio::sync::Notify,
    measuring: Cell<bool>,
    delivered: Cell<u64>,
    lost: Cell<u64>,
    error: RefCell<Option<String>>,
}

impl Broadcast {
    fn fail(&self, who: &str, err: String) {
        self.error.borrow_mut().get_or_insert_with(|| format!("{who}: {err}"));
    }

    /// Message `seq` reached one more subscriber (or was lost by it).
    fn resolve(&self, seq: u64) {
        let slot = &self.done[(seq % self.window) as usize];
        slot.set(slot.get() + 1);
        let mut complete = self.complete.get();
        while self.done[(complete % self.window) as usize].get() == self.subscribers && complete < self.sent.get() {
            self.done[(complete % self.window) as usize].set(0);
            complete += 1;
        }
        if complete != self.complete.get() {
            self.complete.set(complete);
            self.last_progress.set(Instant::now());
            self.progress.notify_one();
        }
    }

    fn received(&self, id: usize, seq: u64) -> Res<()> {
        if seq == HELLO {
            if !self.greeted[id].replace(true) {
                self.greeted_count.set(self.greeted_count.get() + 1);
                if self.greeted_count.get() == self.subscribers {
                    self.progress.notify_one();
                }
            }
            return Ok(());
        }
        let expected = self.expected[id].get();
        if seq < expected {
            return Err(format!("message {seq} after message {}: out of order", expected - 1));
        }
        if seq >= self.sent.get() {
            return Err(format!("message {seq}, but only {} were sent", self.sent.get()));
        }
        for missing in expected..seq {
            self.resolve(missing);
        }
        self.resolve(seq);
        self.expected[id].set(seq + 1);
        if self.measuring.get() {
            self.lost.set(self.lost.get() + (seq - expected));
            self.delivered.set(self.delivered.get() + 1);
            self.delivered_to[id].set(self.delivered_to[id].get() + 1);
        }
        Ok(())
    }
}

async fn broadcast_subscriber(id: usize, mut tcp: TcpStream, mut parser: Parser, state: Rc<Broadcast>) {
    parser.capture_seq = true;
    let mut buf = vec![0u8; SUBSCRIBER_READ_BUF];
    let result: Res<()> = async {
        loop {
            match tcp.read(&mut buf).await.map_err(|e| format!("read: {e}"))? {
                0 => return Err("server closed the connection".into()),
                n => parser.feed_with(&buf[..n], |seq| state.received(id, seq))?,
            }
        }
    }
    .await;
    if let Err(err) = result {
        state.fail(&format!("subscriber {id}"), err);
    }
}

/// Sends hellos until every subscriber has one, then messages within the
/// window; `frame` is the masked template frame whose first 8 payload bytes
/// are overwritten with each sequence number.
async fn broadcast_publisher(mut tcp: TcpStream, frame: Rc<[u8]>, size: usize, state: Rc<Broadcast>) {
    let at = frame.len() - size;
    let encode = |out: &mut Vec<u8>, seq: u64| {
        let start = out.len();
        out.extend_from_slice(&frame);
        for (i, b) in seq.to_be_bytes().into_iter().enumerate() {
            out[start + at + i] = b ^ MASK[i % 4];
        }
    };
    let result: Res<()> = async {
        let mut batch = Vec::new();
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while state.greeted_count.get() < state.subscribers {
            if Instant::now() > deadline {
                return Err(format!(
                    "only {} of {} subscribers got a hello within {CONNECT_TIMEOUT:?}",
                    state.greeted_count.get(),
                    state.subscribers
                ));
            }
            batch.clear();
            encode(&mut batch, HELLO);
            tcp.write_all(&batch).await.map_err(|e| format!("write: {e}"))?;
            let _ = tokio::time::timeout(Duration::from_millis(100), state.progress.notified()).await;
        }
        state.last_progress.set(Instant::now());
        let mut buf = [0u8; 64];
        loop {
            batch.clear();
            let limit = state.complete.get() + state.window;
            for seq in state.sent.get()..limit {
                encode(&mut batch, seq);
            }
            state.sent.set(limit);
            tcp.write_all(&batch).await.map_err(|e| format!("write: {e}"))?;
            // Wait for progress; the server must never send the publisher anything.
            tokio::select! {
                _ = state.progress.notified() => {}
                ready = tcp.readable() => {
                    ready.map_err(|e| e.to_string())?;
                    match tcp.try_read(&mut buf) {
                        Ok(0) => return Err("server closed the connection".into()),
                        Ok(n) => return Err(format!("{n} bytes from the server: its own messages came back")),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(format!("read: {e}")),
                    }
                }
            }
        }
    }
    .await;
    if let Err(err) = result {
        state.fail("publisher", err);
    }
}

async fn run_broadcast(args: &Args, mut conns: Vec<(TcpStream, Parser)>, frame: &Rc<[u8]>) -> Res<()> {
    let window = args.window.unwrap_or(BROADCAST_WINDOW);
    let (publisher, _) = conns.pop().expect("the publisher's connection");
    let state = Rc::new(Broadcast {
        subscribers: conns.len(),
        window: window as u64,
        expected: (0..conns.len()).map(|_| Cell::new(0)).collect(),
        greeted: (0..conns.len()).map(|_| Cell::new(false)).collect(),
        delivered_to: (0..conns.len()).map(|_| Cell::new(0)).collect(),
        greeted_count: Cell::new(0),
        done: (0..window).map(|_| Cell::new(0)).collect(),
        complete: Cell::new(0),
        sent: Cell::new(0),
        last_progress: Cell::new(Instant::now()),
        progress: tokio::sync::Notify::new(),
        measuring: Cell::new(false),
        delivered: Cell::new(0),
        lost: Cell::new(0),
        error: RefCell::new(None),
    });
    let local = tokio::task::LocalSet::new();
    for (id, (tcp, parser)) in conns.into_iter().enumerate() {
        local.spawn_local(broadcast_subscriber(id, tcp, parser, state.clone()));
    }
    local.spawn_local(broadcast_publisher(publisher, frame.clone(), args.size, state.clone()));
    let (secs, warmup) = (args.secs, args.warmup);
    let state2 = state.clone();
    let (elapsed, published) = local
        .run_until(async move {
            let state = state2;
            let check = || {
                if let Some(err) = state.error.borrow().clone() {
                    return Err(err);
                }
                let settled = state.greeted_count.get() == state.subscribers;
                if settled && state.last_progress.get().elapsed() > STALL_LIMIT {
                    let slot = &state.done[(state.complete.get() % state.window) as usize];
                    return Err(format!(
                        "stalled: message {} reached {} of {} subscribers in {STALL_LIMIT:?}",
                        state.complete.get(),
                        slot.get(),
                        state.subscribers
                    ));
                }
                Ok(())
            };
            let sleep_checking = |secs: f64| {
                let check = &check;
                async move {
                    let until = Instant::now() + Duration::from_secs_f64(secs);
                    while Instant::now() < until {
                        check()?;
                        let left = until.saturating_duration_since(Instant::now());
                        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
                    }
                    check()
                }
            };
            while state.greeted_count.get() < state.subscribers {
                sleep_checking(0.01).await?;
            }
            sleep_checking(warmup).await?;
            state.measuring.set(true);
            let (started, first) = (Instant::now(), state.sent.get());
            sleep_checking(secs).await?;
            state.measuring.set(false);
            Ok::<_, String>((started.elapsed().as_secs_f64(), state.sent.get() - first))
        })
        .await?;
    let delivered = state.delivered.get();
    if delivered == 0 {
        return Err("no message was delivered in the measured interval".into());
    }
    let stalled = state.delivered_to.iter().filter(|c| c.get() == 0).count();
    println!(
        "RESULT mode=broadcast conns={} size={} window={window} secs={elapsed:.3} published={published} \
         delivered={delivered} msgs_per_s={:.0} mb_per_s={:.2} lost={} stalled_conns={stalled}",
        args.conns,
        args.size,
        delivered as f64 / elapsed,
        (delivered * args.size as u64) as f64 / elapsed / 1e6,
        state.lost.get(),
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadgen: runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: FAILED: {err}");
            ExitCode::FAILURE
        }
    }
}
