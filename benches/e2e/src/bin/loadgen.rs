//! Load generator for the end-to-end echo benchmark.
//!
//! ```text
//! loadgen --addr A --conns N --size BYTES --mode pingpong|flood|latency|idle
//!         --secs T [--warmup S] [--window W] [--rate R]
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
//!
//! Echoes are counted for T seconds after a warm-up (default 0.5 s). One
//! line goes to stdout:
//! `RESULT mode=.. conns=.. size=.. secs=.. msgs=.. msgs_per_s=.. mb_per_s=.. p50_us=.. p99_us=.. stalled_conns=..`
//! (`mb_per_s`: echoed payload, 10^6 bytes per second, one direction;
//! `stalled_conns`: connections with no echo in the measured interval).
//! Any connection error, an unexpected frame, or no echo at all exits non-zero.
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
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
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
            "--mode" => {
                args.mode = match value.as_str() {
                    "pingpong" => Mode::PingPong,
                    "flood" => Mode::Flood,
                    "latency" => Mode::Latency,
                    "idle" => Mode::Idle,
                    _ => return Err(bad(&"expected pingpong, flood, latency or idle")),
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

/// Minimal parser of the server's frames: expects unmasked FIN + binary
/// frames of exactly `size` bytes; skips pings and pongs; anything else is
/// an error. Keeps at most a partial header between reads.
struct Parser {
    size: u64,
    header: [u8; 10],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Whether the frame being skipped is an echo (counts when done).
    counting: bool,
}

impl Parser {
    fn new(size: usize) -> Self {
        Self { size: size as u64, header: [0; 10], header_len: 0, skip: 0, counting: false }
    }

    /// Parses a header at the start of `b`: `Ok(None)` if incomplete, else
    /// (header length, first byte, payload length).
    fn header(b: &[u8]) -> Res<Option<(usize, u8, u64)>> {
        if b.len() < 2 {
            return Ok(None);
        }
        if b[1] & 0x80 != 0 {
            return Err("server sent a masked frame".into());
        }
        let (header_len, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u64::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().unwrap())),
            126 | 127 => return Ok(None),
            len => (2, u64::from(len)),
        };
        Ok(Some((header_len, b[0], len)))
    }

    fn start_frame(&mut self, first: u8, len: u64) -> Res<u64> {
        match first {
            0x82 if len == self.size => self.counting = true,
            0x82 => return Err(format!("echo of {len} bytes, sent {}", self.size)),
            0x89 | 0x8a => self.counting = false, // ping, pong
            0x88 => return Err("server sent a close frame".into()),
            other => return Err(format!("unexpected frame, first byte {other:#04x}")),
        }
        self.skip = len;
        Ok(u64::from(len == 0 && self.counting))
    }

    /// Consumes `data`; returns how many echoes completed in it.
    fn feed(&mut self, mut data: &[u8]) -> Res<u64> {
        let mut done = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                self.skip -= n;
                data = &data[n as usize..];
                done += u64::from(self.skip == 0 && self.counting);
                continue;
            }
            if self.header_len == 0 {
                if let Some((header_len, first, len)) = Self::header(data)? {
                    data = &data[header_len..];
                    done += self.start_frame(first, len)?;
                    continue;
                }
            }
            // A header split across reads: gather it byte by byte.
            self.header[self.header_len] = data[0];
            self.header_len += 1;
            data = &data[1..];
            if let Some((_, first, len)) = Self::header(&self.header[..self.header_len])? {
                self.header_len = 0;
                done += self.start_frame(first, len)?;
            }
        }
        Ok(done)
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

/// Connects, upgrades, and checks that one frame comes back intact.
async fn connect(addr: SocketAddr, frame: &[u8], payload: &[u8]) -> Res<(TcpStream, Parser)> {
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
    // The server has nothing to say before our first frame; bytes past the
    // head would be a protocol error, which the echo check below catches.
    let mut got = head.split_off(end);
    tcp.write_all(frame).await.map_err(|e| format!("write: {e}"))?;
    let header_len = if payload.len() < 126 {
        2
    } else if payload.len() <= 0xffff {
        4
    } else {
        10
    };
    while got.len() < header_len + payload.len() {
        if tcp.read_buf(&mut got).await.map_err(|e| format!("read: {e}"))? == 0 {
            return Err("connection closed before the first echo".into());
        }
    }
    let mut parser = Parser::new(payload.len());
    if parser.feed(&got)? != 1 || got[header_len..] != *payload {
        return Err("the first echo does not match what was sent".into());
    }
    Ok((tcp, parser))
}

/// pingpong and flood: keeps `window` messages in flight. The byte stream
/// sent is the frame repeated forever, so writes come from `batch` (the
/// frame `window + 1` times) at the current phase, however they split.
async fn run_window(
    id: usize,
    tcp: TcpStream,
    mut parser: Parser,
    batch: Rc<[u8]>,
    frame_len: usize,
    window: usize,
    stats: Rc<Stats>,
) {
    let mut buf = vec![0u8; READ_BUF];
    // When each in-flight message was queued (one entry per message).
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(window);
    let mut credit = window;
    let mut unsent = 0; // bytes queued but not written yet
    let mut phase = 0; // offset in the frame where the next write starts
    let result: Res<()> = async {
        loop {
            if credit > 0 {
                let now = Instant::now();
                sent.extend(std::iter::repeat_n(now, credit));
                unsent += credit * frame_len;
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
            }
        }
    }
    .await;
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
    let conns: Vec<(TcpStream, Parser)> = futures_util::stream::iter(0..args.conns)
        .map(|i| {
            let (frame, payload) = (frame.clone(), payload.clone());
            async move {
                match tokio::time::timeout(CONNECT_TIMEOUT, connect(args.addr, &frame, &payload)).await {
                    Ok(result) => result.map_err(|e| format!("connection {i}: {e}")),
                    Err(_) => Err(format!("connection {i}: no handshake and echo within {CONNECT_TIMEOUT:?}")),
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

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
        measuring: Cell::new(false),
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
                local.spawn_local(run_window(id, tcp, parser, batch.clone(), frame.len(), window, stats));
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
        Mode::Idle => unreachable!(),
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
