//! Load and bad input for the chat example (`examples/chat`), with this crate's tokio client.
//!
//! ```text
//! cargo run --release --example chat -- --addr 127.0.0.1:8080
//! cargo run --release --example chat_load -- --addr 127.0.0.1:8080 [--clients 1000] [--rooms 10] [--messages 5] [--rate 1]
//! cargo run --release --example chat_load -- --addr 127.0.0.1:8080 --bad-input
//! ```
//!
//! Load: the clients join their rooms (round-robin over the nodes of `--addr A,B,...`), wait until
//! all have, then each says `--messages` messages, `--rate` a second. Every member must get every
//! message of its room once and in order (`seq` without gaps, each sender's messages in the order
//! said). Printed: connect time, fan-out latency (send to each receipt, on one clock: the clients
//! are all in this process), throughput. `--bad-input`: each kind of bad client, on a connection of
//! its own, gets the error frame or close code the server promises, while a member of the same
//! room stays connected and at the end still exchanges messages.
//!
//! Exit status 0 when everything passed, else 1 with a line per failure; a 120 s deadline bounds
//! the run. A thousand clients and the server on one machine need `ulimit -n` above 2,000.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rfc6455::io::tokio_ws::{self as ws, MaybeTlsStream, WebSocketStream};
use rfc6455::io::Error;
use rfc6455::{CloseCode, Config, HandshakeError, Message};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;
use tokio::time::timeout;

const USAGE: &str = "usage: chat_load --addr HOST:PORT[,HOST:PORT...] [--clients 1000] [--rooms 10] [--messages 5] \
                     [--rate 1] [--bad-input]";
const DEADLINE: Duration = Duration::from_secs(120);
/// For a load client to connect and join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// For a room's last message, after the last one was due to be said.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// For one `--bad-input` check, in this room.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
const ROOM: &str = "bad-input";

type Socket = WebSocketStream<MaybeTlsStream>;

/// What the server sends (`examples/chat/protocol.rs`) as far as read here;
/// welcome, presence, typing, rooms and rtt are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    Joined {},
    Message {
        seq: u64,
        nick: String,
        text: String,
    },
    Error {
        code: String,
        message: String,
    },
    Pong {
        id: u64,
    },
    #[serde(other)]
    Other,
}

struct Args {
    addrs: Vec<String>,
    clients: usize,
    rooms: usize,
    messages: usize,
    /// Messages a second per client (the server allows 20, after a burst of 40).
    rate: f64,
    bad_input: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args { addrs: Vec::new(), clients: 1000, rooms: 10, messages: 5, rate: 1.0, bad_input: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let count = |text: String| text.parse().ok().filter(|&n| n > 0).ok_or(format!("{arg} {text:?}: not a count"));
        match arg.as_str() {
            "--addr" => parsed.addrs = value()?.split(',').map(str::to_owned).collect(),
            "--clients" => parsed.clients = count(value()?)?,
            "--rooms" => parsed.rooms = count(value()?)?,
            "--messages" => parsed.messages = count(value()?)?,
            "--rate" => {
                parsed.rate = value()?.parse().ok().filter(|r| (0.1..=20.0).contains(r)).ok_or("--rate: 0.1 to 20")?
            }
            "--bad-input" => parsed.bad_input = true,
            _ => return Err(USAGE.into()),
        }
    }
    if parsed.addrs.iter().all(String::is_empty) {
        return Err(format!("--addr is needed\n{USAGE}"));
    }
    parsed.rooms = parsed.rooms.min(parsed.clients);
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let work = async {
        if !args.bad_input {
            return load(&args).await;
        }
        let mut passed = true;
        for addr in &args.addrs {
            passed &= bad_input(addr).await;
        }
        passed
    };
    match timeout(DEADLINE, work).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(_) => {
            println!("FAIL: not done within the {} s deadline", DEADLINE.as_secs());
            ExitCode::FAILURE
        }
    }
}

// Talking to the chat ---------------------------------------------------------

/// A session token: `GET /token` over plain HTTP/1.1; the body is the token.
async fn token(addr: &str) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("GET /token from {addr}: {e}");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.map_err(failed)?;
    let request = format!("GET /token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.map_err(failed)?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.map_err(failed)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.trim().to_owned()),
        _ => Err(format!("GET /token from {addr}: {:?}", response.lines().next().unwrap_or("no answer"))),
    }
}

/// A token, the WebSocket (offering permessage-deflate if `deflate`, as browsers do), the welcome.
async fn open(addr: &str, deflate: bool) -> Result<Socket, String> {
    let mut config = Config::default();
    if !deflate {
        config.deflate = None;
    }
    let url = format!("ws://{addr}/ws?token={}", token(addr).await?);
    let (mut socket, _) = ws::connect_with(url, &config).await.map_err(|e| format!("connect to {addr}: {e}"))?;
    next(&mut socket).await?;
    Ok(socket)
}

/// The next message from the server, parsed; the end of the connection is
/// an error that says how it ended.
async fn next(socket: &mut Socket) -> Result<Incoming, String> {
    match socket.recv().await {
        Ok(Some(Message::Text(text))) => serde_json::from_str(text.as_str()).map_err(|e| format!("{text}: {e}")),
        Ok(Some(Message::Binary(_))) => Err("a binary message from the server".into()),
        Ok(None) => Err("the server closed the connection".into()),
        Err(err) => Err(format!("the connection ended: {err}")),
    }
}

async fn send(socket: &mut Socket, request: Value) -> Result<(), String> {
    let Err(err) = socket.send(request.to_string()).await else { return Ok(()) };
    // Most likely the server closed first: how the connection ended says why.
    let ended = async {
        loop {
            if let Err(why) = next(socket).await {
                return why;
            }
        }
    };
    Err(timeout(Duration::from_secs(1), ended).await.unwrap_or_else(|_| format!("send: {err}")))
}

fn say(text: &str) -> Value {
    json!({"type": "say", "text": text})
}

/// Joins `room` as `nick` and waits for `joined`; an error frame is an error.
async fn join(socket: &mut Socket, room: &str, nick: &str) -> Result<(), String> {
    send(socket, json!({"type": "join", "room": room, "nick": nick})).await?;
    loop {
        match next(socket).await? {
            Incoming::Joined {} => return Ok(()),
            Incoming::Error { code, message } => return Err(format!("join refused: {code}: {message}")),
            _ => {}
        }
    }
}

/// Reads (answering the heartbeat) until `until` completes, with its output;
/// a message or an error frame meanwhile is a failure.
async fn read_while<T>(socket: &mut Socket, until: impl Future<Output = T>) -> Result<T, String> {
    tokio::pin!(until);
    loop {
        tokio::select! {
            // `until` first: a message that comes once a barrier is passed belongs to what follows.
            biased;
            done = &mut until => return Ok(done),
            incoming = next(socket) => match incoming? {
                Incoming::Message { seq, text, .. } => return Err(format!("unexpected message #{seq} {text:?}")),
                Incoming::Error { code, message } => return Err(format!("unexpected error frame {code}: {message}")),
                _ => {}
            },
        }
    }
}

// Load ------------------------------------------------------------------------

/// What the load clients share: the clock of the send timestamps, the two
/// points everyone waits for (all joined; all got everything), the plan.
struct Shared {
    start: Instant,
    joined: Barrier,
    done: Barrier,
    clients: usize,
    rooms: usize,
    messages: usize,
    rate: f64,
}

/// One member's view of its room, checked message by message (`seq` without gaps, each
/// sender's messages once and in the order said), and what it measured: times since `Shared::start`.
struct Inbox {
    shared: Arc<Shared>,
    room: usize,
    connect: Duration,
    first_send: Duration,
    /// Messages from each member so far, by position (client `room + position * rooms`).
    got: Vec<usize>,
    last_seq: Option<u64>,
    latencies: Vec<Duration>,
    last_at: Duration,
}

impl Inbox {
    fn expected(&self) -> usize {
        self.got.len() * self.shared.messages
    }

    /// Checks what came at `now`: presence and the like pass, an error frame fails.
    fn take(&mut self, incoming: Incoming, now: Duration) -> Result<(), String> {
        let (seq, nick, text) = match incoming {
            Incoming::Message { seq, nick, text } => (seq, nick, text),
            Incoming::Error { code, message } => return Err(format!("unexpected error frame {code}: {message}")),
            _ => return Ok(()),
        };
        if let Some(last) = self.last_seq.filter(|&last| seq != last + 1) {
            let what = if seq <= last { "a duplicate or out of order" } else { "messages lost" };
            return Err(format!("seq {seq} after {last}: {what}"));
        }
        self.last_seq = Some(seq);
        // "c17 #3 t=NANOS": the sender, its message number, when it was said.
        let mut words = text.split(' ');
        let mut number = |prefix: &str| words.next()?.strip_prefix(prefix)?.parse::<usize>().ok();
        let (Some(sender), Some(k), Some(nanos)) = (number("c"), number("#"), number("t=")) else {
            return Err(format!("#{seq} {text:?}: not a load message"));
        };
        let (shared, position) = (&self.shared, sender / self.shared.rooms);
        let said_here = sender % shared.rooms == self.room && position < self.got.len() && k < shared.messages;
        if !said_here || nick != format!("c{sender}") {
            return Err(format!("#{seq} {text:?} from {nick}: not said in this room"));
        }
        let expected = self.got[position];
        if k != expected {
            let what = if k < expected { "a duplicate" } else { "lost or out of order" };
            return Err(format!("#{seq} {text:?} when c{sender} #{expected} was next: {what}"));
        }
        self.got[position] += 1;
        self.latencies.push(now.saturating_sub(Duration::from_nanos(nanos as u64)));
        self.last_at = now;
        Ok(())
    }
}

/// One load client: joins, waits for everyone, says its messages and
/// checks what its room delivers until it has everything.
async fn load_client(id: usize, addr: &str, shared: Arc<Shared>) -> Result<Inbox, String> {
    let room = id % shared.rooms;
    let joining = async {
        let mut socket = open(addr, true).await?;
        join(&mut socket, &format!("load-{room}"), &format!("c{id}")).await?;
        Ok::<_, String>(socket)
    };
    let mut socket =
        timeout(JOIN_TIMEOUT, joining).await.map_err(|_| format!("not joined within {JOIN_TIMEOUT:?}"))??;
    let connect = shared.start.elapsed();
    // Everyone in before anyone speaks: then every member gets every message.
    read_while(&mut socket, shared.joined.wait()).await?;
    let members = (shared.clients - room).div_ceil(shared.rooms);
    let (got, latencies) = (vec![0; members], Vec::with_capacity(members * shared.messages));
    let (first_send, last_seq, last_at) = (Duration::ZERO, None, Duration::ZERO);
    let mut inbox = Inbox { shared: Arc::clone(&shared), room, connect, first_send, got, last_seq, latencies, last_at };
    // A message every `every`, the clients' first ones spread over one interval.
    let every = Duration::from_secs_f64(1.0 / shared.rate);
    let first = tokio::time::Instant::now() + every.mul_f64(id as f64 / shared.clients as f64);
    let mut tick = tokio::time::interval_at(first, every);
    let deadline = tokio::time::sleep(every * shared.messages as u32 + DELIVERY_TIMEOUT);
    tokio::pin!(deadline);
    let mut said = 0;
    while inbox.latencies.len() < inbox.expected() {
        tokio::select! {
            _ = tick.tick(), if said < shared.messages => {
                let now = shared.start.elapsed();
                inbox.first_send = if said == 0 { now } else { inbox.first_send };
                send(&mut socket, say(&format!("c{id} #{said} t={}", now.as_nanos()))).await?;
                said += 1;
            }
            incoming = next(&mut socket) => inbox.take(incoming?, shared.start.elapsed())?,
            () = &mut deadline => {
                let (got, expected) = (inbox.latencies.len(), inbox.expected());
                return Err(format!("lost: {got} of the room's {expected} messages came in time"));
            }
        }
    }
    // Nothing more may come (it would be a duplicate) while the others finish.
    read_while(&mut socket, shared.done.wait()).await?;
    let _ = socket.close(CloseCode::NORMAL, "done").await;
    let _ = timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = socket.recv().await {} }).await;
    Ok(inbox)
}

/// Runs the load; prints the measurements, or the failures.
async fn load(args: &Args) -> bool {
    let (clients, rooms, messages) = (args.clients, args.rooms, args.messages);
    let nodes = args.addrs.join(",");
    println!("chat_load: {clients} clients in {rooms} rooms on {nodes}, {messages} messages each at {}/s", args.rate);
    let (joined, done) = (Barrier::new(clients), Barrier::new(clients));
    let shared = Arc::new(Shared { start: Instant::now(), joined, done, clients, rooms, messages, rate: args.rate });
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..clients {
        // Round-robin over the nodes within a room: its members are on all of them.
        let addr = args.addrs[(id / rooms) % args.addrs.len()].clone();
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let inbox = load_client(id, &addr, shared).await;
            inbox.map_err(|why| format!("c{id} (load-{} on {addr}): {why}", id % rooms))
        });
    }
    let (mut inboxes, mut failures) = (Vec::new(), Vec::new());
    // After a failure the others may wait for the failed one at a barrier:
    // two more seconds to hear from those that failed too, then stop.
    let mut cutoff = tokio::time::Instant::now() + DEADLINE;
    loop {
        let result = tokio::select! {
            result = tasks.join_next() => match result {
                Some(result) => result.unwrap_or_else(|err| Err(format!("a client task failed: {err}"))),
                None => break,
            },
            () = tokio::time::sleep_until(cutoff) => break,
        };
        match result {
            Ok(inbox) => inboxes.push(inbox),
            Err(why) => {
                failures.push(why);
                cutoff = cutoff.min(tokio::time::Instant::now() + Duration::from_secs(2));
            }
        }
    }
    if !failures.is_empty() {
        failures.iter().take(10).for_each(|why| println!("FAIL {why}"));
        println!("FAIL: {} clients failed ({} not shown)", failures.len(), failures.len().saturating_sub(10));
        return false;
    }
    let first_send = inboxes.iter().map(|inbox| inbox.first_send).min().unwrap_or_default();
    let busy = inboxes.iter().map(|inbox| inbox.last_at).max().unwrap_or_default().saturating_sub(first_send);
    let connects = percentiles(inboxes.iter().map(|inbox| inbox.connect).collect());
    let latencies: Vec<Duration> = inboxes.into_iter().flat_map(|inbox| inbox.latencies).collect();
    let delivered = latencies.len();
    println!("connect (token, handshake, join; max: all joined): {connects}");
    println!("fan-out latency (send to receipt): {} over {delivered} receipts", percentiles(latencies));
    let per_second = delivered as f64 / busy.as_secs_f64().max(1e-9);
    println!(
        "delivered {delivered} messages ({} said) in {:.2} s: {per_second:.0}/s",
        clients * messages,
        busy.as_secs_f64()
    );
    println!("ok: every member got every message of its room exactly once and in order");
    true
}

/// `p50 .., p99 .., max ..` of `values`, in milliseconds.
fn percentiles(mut values: Vec<Duration>) -> String {
    values.sort_unstable();
    let at =
        |q: f64| values.get(((values.len().max(1) - 1) as f64 * q) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.99), at(1.0))
}

// Bad input -------------------------------------------------------------------

/// How a probe's connection starts.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Fresh,
    Joined,
    /// Joined, without permessage-deflate: a frame as big as its text.
    Plain,
}

/// What a probe must get back.
#[derive(Clone, Copy)]
enum Expect {
    /// This error frame, and then still an answer to a ping.
    Refused(&'static str),
    /// This close code.
    Closes(CloseCode),
    /// `slow_down` errors, then close 1008.
    Flooded,
}

/// Runs the `--bad-input` checks against `addr`, printing `ok ...` or `FAIL ...` for each.
async fn bad_input(addr: &str) -> bool {
    use {Expect::*, Setup::*};
    println!("chat_load --bad-input on {addr}");
    let mut passed = true;
    let mut report = |name: &str, result: Result<String, String>| {
        match &result {
            Ok(detail) => println!("ok {name}: {detail}"),
            Err(why) => println!("FAIL {name}: {why}"),
        }
        passed &= result.is_ok();
    };
    let text = |value: Value| Message::from(value.to_string());
    let (long, huge) = ("x".repeat(70 << 10), "x".repeat(600 << 10));
    let nick = text(json!({"type": "join", "room": ROOM, "nick": "<script>"}));
    let ping = text(json!({"type": "ping", "id": 1}));
    let too_big = Closes(CloseCode::MESSAGE_TOO_BIG);
    let probes = [
        ("a 70 KiB say gets too_long", Joined, vec![text(say(&long))], Refused("too_long")),
        ("invalid JSON gets bad_request", Fresh, vec![r#"{"type":"say","#.into()], Refused("bad_request")),
        (r#"{"type":"shout"} gets bad_request"#, Fresh, vec![text(json!({"type": "shout"}))], Refused("bad_request")),
        ("say before join gets not_in_room", Fresh, vec![text(say("hello"))], Refused("not_in_room")),
        ("the nickname <script> gets bad_name", Fresh, vec![nick], Refused("bad_name")),
        ("500 requests at once get slow_down, then close 1008", Joined, vec![ping; 500], Flooded),
        ("a binary frame gets close 1003", Joined, vec![vec![0_u8; 16].into()], Closes(CloseCode::UNSUPPORTED_DATA)),
        ("a 600 KiB text frame gets close 1009", Plain, vec![huge.as_str().into()], too_big),
        ("600 KiB of text deflated to ~1 KiB gets close 1009", Joined, vec![huge.into()], too_big),
    ];
    // A well-behaved member of the room: it reads (and answers the heartbeat) while the others misbehave.
    let watcher = within(async {
        let mut socket = open(addr, true).await?;
        join(&mut socket, ROOM, "watcher").await?;
        Ok(socket)
    });
    let mut watcher = match watcher.await {
        Ok(watcher) => watcher,
        Err(why) => {
            report("a well-behaved member joins the room", Err(why));
            return false;
        }
    };
    let checks = async {
        for (name, setup, requests, expect) in probes {
            report(name, within(probe(addr, setup, requests, expect)).await);
        }
        report("a WebSocket without a token is refused with 401", within(no_token(addr)).await);
    };
    let exchanged = match read_while(&mut watcher, checks).await {
        Ok(()) => within(exchange(&mut watcher, addr)).await,
        Err(why) => Err(format!("during the checks: {why}")),
    };
    report("a member of the room, connected throughout, still exchanges messages", exchanged);
    passed
}

async fn within<T>(check: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    timeout(CHECK_TIMEOUT, check).await.unwrap_or_else(|_| Err(format!("nothing decisive within {CHECK_TIMEOUT:?}")))
}

/// Sends `requests` at once on a connection of its own and checks the answer.
async fn probe(addr: &str, setup: Setup, requests: Vec<Message>, expect: Expect) -> Result<String, String> {
    let mut socket = open(addr, setup != Setup::Plain).await?;
    if setup != Setup::Fresh {
        join(&mut socket, ROOM, "probe").await?;
    }
    for request in requests {
        if socket.feed(request).await.is_err() {
            break; // the server closed before it took them all: checked below
        }
    }
    let _ = socket.flush().await;
    let code = match expect {
        Expect::Closes(code) => code,
        Expect::Flooded => CloseCode::POLICY_VIOLATION,
        Expect::Refused(code) => loop {
            if let Incoming::Error { code: got, message } = next(&mut socket).await? {
                if got != code {
                    return Err(format!("{got} ({message}), not {code}"));
                }
                send(&mut socket, json!({"type": "ping", "id": 7})).await?;
                while !matches!(next(&mut socket).await?, Incoming::Pong { id: 7 }) {}
                return Ok(format!("{code}: {message}; a ping after it is still answered"));
            }
        },
    };
    let mut slow_down = 0;
    while let Ok(incoming) = next(&mut socket).await {
        slow_down += usize::from(matches!(incoming, Incoming::Error { code, .. } if code == "slow_down"));
    }
    match socket.close_reason() {
        None => Err("still open".into()),
        Some(reason) if reason.code() != code => {
            Err(format!("ended with {} ({reason}), not {}", reason.code().0, code.0))
        }
        Some(reason) if matches!(expect, Expect::Flooded) && slow_down == 0 => {
            Err(format!("no slow_down before: {reason}"))
        }
        Some(reason) if slow_down > 0 => Ok(format!("{slow_down} slow_down, then {reason}")),
        Some(reason) => Ok(reason.to_string()),
    }
}

async fn no_token(addr: &str) -> Result<String, String> {
    match ws::connect(format!("ws://{addr}/ws")).await {
        Ok(_) => Err("the upgrade was accepted".into()),
        Err(Error::Handshake(HandshakeError::Rejected(response))) if response.status() == 401 => {
            Ok(format!("refused: {}", Error::Handshake(HandshakeError::Rejected(response))))
        }
        Err(err) => Err(format!("not a 401: {err}")),
    }
}

/// The watcher and a newcomer to the room each say something the other hears.
async fn exchange(watcher: &mut Socket, addr: &str) -> Result<String, String> {
    let mut newcomer = open(addr, true).await?;
    join(&mut newcomer, ROOM, "newcomer").await?;
    send(watcher, say("still here")).await?;
    while !heard(next(&mut newcomer).await?, "still here")? {}
    send(&mut newcomer, say("welcome back")).await?;
    while !heard(next(watcher).await?, "welcome back")? {}
    let _ = newcomer.close(CloseCode::NORMAL, "done").await;
    let _ = watcher.close(CloseCode::NORMAL, "done").await;
    Ok("the watcher and a newcomer heard each other".into())
}

/// Whether `incoming` is the message `text`; an error frame is a failure.
fn heard(incoming: Incoming, text: &str) -> Result<bool, String> {
    match incoming {
        Incoming::Message { text: said, .. } => Ok(said == text),
        Incoming::Error { code, message } => Err(format!("unexpected error frame {code}: {message}")),
        _ => Ok(false),
    }
}
