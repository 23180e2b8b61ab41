//! A server restart under 1,000 reconnecting clients, over real TCP on
//! 127.0.0.1 and in real time.
//!
//! An in-process echo server (`tokio_ws::accept` on a `TcpListener` bound
//! to port 0) serves 1,000 [`ReconnectingClient`]s, each with its own jitter
//! seed and a back-off of 200 ms base, 2 s cap, no retry limit. The clients
//! connect in batches (so the listen backlog never overflows) and each
//! exchanges one message. Then the server is killed the way a process dies:
//! its task and the `JoinSet` holding every connection are aborted, so all
//! sockets close at once. After a downtime of 3 s a new listener is bound to
//! the same port and serves again. (3 s, not 1 s: the peak-second/mean check
//! below can only fail over a window longer than 3 s; see there.)
//!
//! Every client must open a second time and exchange a message again, none
//! may give up, and all within a bound. Each client's connector dials the TCP
//! stream itself and logs the instant and outcome of every dial; from the
//! kill to the last dial the test prints the dial histogram per second and
//! per 100 ms, the mean rate and the peak-second/mean ratio, and asserts the
//! spread the issue asks for: no second above 3x the mean dial rate, and no
//! 100 ms after the restart holding more than a third of the clients'
//! successful re-dials. Run with `--nocapture` to see the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rfc6455::io::reconnect::{ClientEvent, ReconnectingClient};
use rfc6455::io::tokio_ws::accept;
use rfc6455::{Backoff, Config};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

/// How many clients the issue asks for.
const CLIENTS: usize = 1_000;
/// Clients started at once during the ramp-up; the next batch starts when
/// this one is open, so the listen backlog never holds more than this.
const RAMP_BATCH: usize = 100;
/// The listen backlog asked for (the kernel caps it at `somaxconn`).
const BACKLOG: u32 = 1_024;
/// How long the server stays dead. Long enough that the window from the
/// kill to the last dial (about the downtime plus `BACKOFF_CAP`) is well
/// over 3 s, so that a peak second above 3x the mean can happen at all.
const DOWNTIME: Duration = Duration::from_secs(3);
/// The back-off of every client: the first retry within 200 ms, ceilings
/// doubling to 2 s, so the reconnect phase lasts a few seconds.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// Bound on the whole test.
const TEST_LIMIT: Duration = Duration::from_secs(30);
/// Bound on one ramp-up batch opening and echoing.
const RAMP_LIMIT: Duration = Duration::from_secs(10);
/// Bound on every client being back after the restart. A client waits at
/// most `BACKOFF_CAP` between dials, so all are back about 2 s after the
/// restart; this leaves room for a slow machine.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
/// The "no second with more than ~3x the mean dial rate".
const MAX_PEAK_SECOND_TO_MEAN: f64 = 3.0;
/// The shortest window over which that check means something: a 1 s peak is
/// at most the whole window's dials, so over a window of `w` seconds the
/// ratio cannot exceed `w`. With 4 s, a second holding 3/4 of all dials or
/// more fails.
const MIN_WINDOW: Duration = Duration::from_secs(4);
/// The largest share of the clients' successful re-dials one 100 ms bucket
/// after the restart may hold: more would be a thundering herd.
const MAX_REDIAL_SHARE_PER_100_MS: f64 = 1.0 / 3.0;
/// File descriptors per client: its socket and the server's.
const FDS_PER_CLIENT: u64 = 2;
/// File descriptors kept for everything else (runtime, harness, listener).
const FDS_RESERVED: u64 = 200;

const SECOND: Duration = Duration::from_secs(1);
const TENTH: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_clients_come_back_after_a_server_restart_with_spread_dials() {
    let Some(clients) = client_count() else { return };
    timeout(TEST_LIMIT, restart_scenario(clients)).await.expect("the restart scenario did not finish within 30 s");
}

/// How many clients this process has file descriptors for: [`CLIENTS`], or
/// fewer (printing why) when the soft `ulimit -n` is too low; `None` when
/// not even a few fit.
fn client_count() -> Option<usize> {
    let needed = CLIENTS as u64 * FDS_PER_CLIENT + FDS_RESERVED;
    let Some(limit) = open_file_limit() else {
        println!("open-file limit unknown (no /proc/self/limits): running {CLIENTS} clients");
        return Some(CLIENTS);
    };
    if limit >= needed {
        return Some(CLIENTS);
    }
    let fitting = usize::try_from(limit.saturating_sub(FDS_RESERVED) / FDS_PER_CLIENT).unwrap_or(0);
    if fitting < 10 {
        println!("ulimit -n is {limit}: too few file descriptors for even 10 clients; skipping the test");
        return None;
    }
    println!("ulimit -n is {limit}, below the {needed} that {CLIENTS} clients need: running {fitting} clients");
    Some(fitting)
}

/// The soft limit on open files from `/proc/self/limits` (Linux), or `None`
/// when unknown or unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The scenario: ramp up, kill, wait, restart, wait for every client, then
/// measure the dial schedule and assert on it.
async fn restart_scenario(clients: usize) {
    let listener = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let mut server = JoinSet::new();
    server.spawn(serve(listener));

    let dial_log = DialLog::default();
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let mut tally = Tally::new(clients);
    let mut client_tasks = JoinSet::new();
    let ramp_started = Instant::now();
    for batch_start in (0..clients).step_by(RAMP_BATCH) {
        let batch_end = (batch_start + RAMP_BATCH).min(clients);
        for client in batch_start..batch_end {
            client_tasks.spawn(run_client(client, reconnecting_client(client, addr, &dial_log), report_tx.clone()));
        }
        let batch_ready = tally.wait_until(&mut reports, |tally| tally.all_exchanged(batch_start..batch_end, 1));
        timeout(RAMP_LIMIT, batch_ready).await.expect("a ramp-up batch did not open and echo within 10 s");
    }
    println!("ramp-up: {clients} clients open and echoed in {:?}", ramp_started.elapsed());
    assert_eq!(tally.max_opens(), 1, "a client reconnected before the server was killed");

    // Kill: `shutdown` aborts the server task and waits until it is dropped,
    // with its listener and its JoinSet, which aborts every connection task.
    let killed_at = Instant::now();
    server.shutdown().await;
    tokio::time::sleep_until(killed_at + DOWNTIME).await;
    // The restart counts from just before the bind. A dial that connects may
    // still have been started (its connector called) a moment before: the
    // connect itself runs at the client task's next poll. The report counts
    // those; there are a few per run at most.
    let restarted_at = Instant::now();
    let listener = listen(addr).expect("bind the same port again after the downtime");
    server.spawn(serve(listener));

    let all_back = tally.wait_until(&mut reports, |tally| tally.all_exchanged(0..clients, 2));
    timeout(RECOVERY_LIMIT, all_back).await.expect("not every client was back within 10 s of the restart");
    let all_back_at = tally.last_reopen().expect("every client reopened");
    assert_eq!(tally.max_opens(), 2, "a client opened more than once after the restart");
    client_tasks.shutdown().await;
    server.shutdown().await;

    let dials = dial_log.since(killed_at);
    let schedule = Schedule::measure(&dials, clients, killed_at, restarted_at);
    println!("downtime: {:?} (kill to new listener)", restarted_at - killed_at);
    println!(
        "all {clients} clients back {:?} after the kill, {:?} after the restart",
        all_back_at - killed_at,
        all_back_at - restarted_at
    );
    println!("{}", schedule.report());

    assert_eq!(schedule.redials, clients, "one successful dial per client after the restart");
    // No thundering herd at the new server: the clients' successful
    // re-dials spread over the 2 s after the restart.
    let herd_limit = (clients as f64 * MAX_REDIAL_SHARE_PER_100_MS) as usize;
    let busiest_redial_tenth = schedule.redials_per_tenth.iter().copied().max().unwrap_or(0);
    assert!(
        busiest_redial_tenth <= herd_limit,
        "{busiest_redial_tenth} of {clients} clients re-dialed successfully within one 100 ms (limit {herd_limit})"
    );
    // The busiest second is the first after the kill, for a reason of the
    // schedule, not a herd: every client starts its series of failures at
    // the kill, and the first ceilings (200, 400, 800 ms) put about three
    // dials per client into that second, against about one per second once
    // the ceiling is at the 2 s cap (mean delay 1 s). Jitter spreads them
    // within the second (the 100 ms buckets) but cannot undo that
    // front-loading; it is where the "~3x" comes from, and the ratio
    // tends to 3 as the downtime grows. The mean is over the whole window,
    // kill to last dial, untrimmed. The 100 ms buckets just after the kill
    // are denser still (every first retry falls in [0, 200 ms], against a
    // closed port); the measure is per second, so they are printed,
    // not asserted. Both the buckets aligned on the kill and any second at
    // all (sliding) are held to the limit.
    //
    // This check alone would pass a schedule without jitter (all clients at
    // the same few instants, a second or more apart); the 100 ms check on
    // the re-dials above is the one that catches a herd.
    assert!(
        schedule.window >= MIN_WINDOW,
        "the window {:?} is too short for the peak-second check to be able to fail",
        schedule.window
    );
    for (what, peak) in [("1 s bucket", schedule.peak_second), ("1 s, sliding,", schedule.peak_sliding_second)] {
        let ratio = peak as f64 / schedule.mean_rate();
        assert!(
            ratio <= MAX_PEAK_SECOND_TO_MEAN,
            "the busiest {what} held {peak} dials, {ratio:.2}x the mean rate of {:.0}/s (limit {MAX_PEAK_SECOND_TO_MEAN}x)",
            schedule.mean_rate()
        );
    }
}

/// A listener on `addr` with `SO_REUSEADDR`, so the restarted server can
/// take the port back while the killed server's connections sit in
/// TIME_WAIT.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The echo server: accepts until aborted, each connection in a task of a
/// `JoinSet` owned here, so aborting this future drops every socket.
async fn serve(listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                connections.spawn(echo(stream));
            }
            Err(err) => {
                // Out of file descriptors, say: the clients will retry.
                eprintln!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

/// One server connection: the handshake, then every message sent back,
/// until the connection ends.
async fn echo(stream: TcpStream) {
    let Ok(mut socket) = accept(stream).await else { return };
    while let Ok(Some(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            return;
        }
    }
}

/// One dial by a client's connector.
#[derive(Debug, Clone, Copy)]
struct Dial {
    client: usize,
    /// When the client called its connector.
    at: Instant,
    /// Whether the TCP connection was established (not refused).
    connected: bool,
}

/// Every dial of every client, shared by the connectors.
#[derive(Debug, Default, Clone)]
struct DialLog(Arc<Mutex<Vec<Dial>>>);

impl DialLog {
    /// Adds one dial.
    fn record(&self, dial: Dial) {
        self.0.lock().unwrap().push(dial);
    }

    /// The dials started at or after `start`, in the order they started.
    fn since(&self, start: Instant) -> Vec<Dial> {
        let mut dials: Vec<Dial> = self.0.lock().unwrap().iter().copied().filter(|dial| dial.at >= start).collect();
        dials.sort_by_key(|dial| dial.at);
        dials
    }
}

/// Client `client`: dials `addr` itself, logging each dial in `log`, with
/// the test's back-off and a seed of its own.
fn reconnecting_client(client: usize, addr: SocketAddr, log: &DialLog) -> ReconnectingClient<TcpStream> {
    let log = log.clone();
    let connector = move || {
        let (log, at) = (log.clone(), Instant::now());
        async move {
            let stream = TcpStream::connect(addr).await;
            log.record(Dial { client, at, connected: stream.is_ok() });
            let stream = stream?;
            stream.set_nodelay(true)?;
            Ok(stream)
        }
    };
    let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
    backoff.max_retries = None;
    let mut seed = [0x5a; 32];
    seed[..8].copy_from_slice(&(client as u64).to_le_bytes());
    ReconnectingClient::with_connector(format!("ws://{addr}/restart"), Config::default(), connector)
        .expect("a valid request")
        .backoff(backoff)
        .rng_seed(seed)
}

/// What a client task tells the test.
#[derive(Debug)]
enum Report {
    /// The client's handshake succeeded.
    Open { client: usize, at: Instant },
    /// The server echoed the client's message.
    Echo { client: usize },
    /// The client stopped (gave up, closed, or `next` returned `None`).
    Ended { client: usize, how: String },
}

/// Drives client `client`: on every open it sends one message; reports
/// opens, echoes and any end.
async fn run_client(client: usize, mut ws: ReconnectingClient<TcpStream>, reports: mpsc::UnboundedSender<Report>) {
    while let Some(event) = ws.next().await {
        let report = match event {
            ClientEvent::Open(_) => {
                let at = Instant::now();
                // A failed send ends the connection, which `next` reports.
                let _ = ws.send(format!("hello from client {client}")).await;
                Report::Open { client, at }
            }
            ClientEvent::Message(_) => Report::Echo { client },
            ClientEvent::Disconnected { will_retry: false, reason } => {
                Report::Ended { client, how: format!("a disconnect it will not retry: {reason:?}") }
            }
            ClientEvent::GaveUp { retries } => {
                Report::Ended { client, how: format!("gave up after {retries} retries") }
            }
            ClientEvent::Closed { reason } => Report::Ended { client, how: format!("closed: {reason:?}") },
            _ => continue,
        };
        if reports.send(report).is_err() {
            return;
        }
    }
    let _ = reports.send(Report::Ended { client, how: "next() returned None".to_owned() });
}

/// The test's view of every client: opens, echoes and the last open.
#[derive(Debug)]
struct Tally {
    opens: Vec<u32>,
    echoes: Vec<u32>,
    last_open: Vec<Option<Instant>>,
}

impl Tally {
    /// No client has opened yet.
    fn new(clients: usize) -> Self {
        Self { opens: vec![0; clients], echoes: vec![0; clients], last_open: vec![None; clients] }
    }

    /// Folds in reports until `done` holds; panics on a client that ended.
    async fn wait_until(&mut self, reports: &mut mpsc::UnboundedReceiver<Report>, done: impl Fn(&Self) -> bool) {
        while !done(self) {
            match reports.recv().await.expect("every client task dropped its sender") {
                Report::Open { client, at } => {
                    self.opens[client] += 1;
                    self.last_open[client] = Some(at);
                }
                Report::Echo { client } => self.echoes[client] += 1,
                Report::Ended { client, how } => panic!("client {client} stopped: {how}"),
            }
        }
    }

    /// Whether each client in `clients` opened and got its echo `times` times.
    fn all_exchanged(&self, clients: std::ops::Range<usize>, times: u32) -> bool {
        clients.into_iter().all(|client| self.opens[client] >= times && self.echoes[client] >= times)
    }

    /// The most opens of any one client.
    fn max_opens(&self) -> u32 {
        self.opens.iter().copied().max().unwrap_or(0)
    }

    /// The latest of the clients' last opens.
    fn last_reopen(&self) -> Option<Instant> {
        self.last_open.iter().copied().max().flatten()
    }
}

/// The dials from the kill to the last dial, measured.
#[derive(Debug)]
struct Schedule {
    clients: usize,
    /// Dials from the kill on.
    total: usize,
    /// Of those, dials the closed port refused.
    refused: usize,
    /// Dials that connected (all after the restart).
    redials: usize,
    /// Of those, dials whose connector was called before the restart (the
    /// SYN went out after the new listener was up).
    redials_started_before_restart: usize,
    /// From the kill to the last dial.
    window: Duration,
    /// Dials per second from the kill (the last bucket may be partial).
    per_second: Vec<usize>,
    /// Dials per 100 ms from the kill.
    per_tenth: Vec<usize>,
    /// Successful dials per 100 ms from the restart.
    redials_per_tenth: Vec<usize>,
    /// The largest 1 s bucket.
    peak_second: usize,
    /// The most dials in any 1 s, wherever it starts (not only on buckets).
    peak_sliding_second: usize,
    /// How many clients dialed `n` times from the kill on, by `n`.
    clients_by_dials: BTreeMap<usize, usize>,
}

impl Schedule {
    /// Measures `dials` (sorted, all at or after `killed_at`).
    fn measure(dials: &[Dial], clients: usize, killed_at: Instant, restarted_at: Instant) -> Self {
        let offsets: Vec<Duration> = dials.iter().map(|dial| dial.at - killed_at).collect();
        let window = offsets.last().copied().unwrap_or_default();
        let per_second = histogram(offsets.iter().copied(), SECOND);
        let per_tenth = histogram(offsets.iter().copied(), TENTH);
        // The port was closed from the kill to the restart: every dial that
        // connected is a re-dial to the new server.
        let redials = dials.iter().filter(|dial| dial.connected);
        let redials_per_tenth =
            histogram(redials.clone().map(|dial| dial.at.saturating_duration_since(restarted_at)), TENTH);
        let mut dials_per_client = vec![0; clients];
        for dial in dials {
            dials_per_client[dial.client] += 1;
        }
        let mut clients_by_dials = BTreeMap::new();
        for count in dials_per_client {
            *clients_by_dials.entry(count).or_insert(0) += 1;
        }
        Self {
            clients,
            total: dials.len(),
            refused: dials.iter().filter(|dial| !dial.connected).count(),
            redials: redials.clone().count(),
            redials_started_before_restart: redials.filter(|dial| dial.at < restarted_at).count(),
            window,
            peak_second: per_second.iter().copied().max().unwrap_or(0),
            peak_sliding_second: most_within(&offsets, SECOND),
            per_second,
            per_tenth,
            redials_per_tenth,
            clients_by_dials,
        }
    }

    /// Dials per second over the window.
    fn mean_rate(&self) -> f64 {
        self.total as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    /// The largest 1 s bucket over the mean rate.
    fn peak_to_mean(&self) -> f64 {
        self.peak_second as f64 / self.mean_rate()
    }

    /// The figures, as printed by the test.
    fn report(&self) -> String {
        let mut out = String::new();
        let mean_per_client = self.total as f64 / self.clients as f64;
        let _ = writeln!(
            out,
            "dials from the kill on: {} ({} refused, {} connected)",
            self.total,
            self.refused,
            self.total - self.refused
        );
        let _ = writeln!(
            out,
            "dials per client: mean {mean_per_client:.2}; clients by dial count: {:?}",
            self.clients_by_dials
        );
        let _ = writeln!(out, "window (kill to last dial): {:?}", self.window);
        let _ = writeln!(out, "mean dial rate: {:.0}/s", self.mean_rate());
        let _ = writeln!(
            out,
            "peak 1 s bucket: {} dials = {:.2}x the mean (any 1 s, sliding: {} = {:.2}x)",
            self.peak_second,
            self.peak_to_mean(),
            self.peak_sliding_second,
            self.peak_sliding_second as f64 / self.mean_rate()
        );
        let _ = writeln!(out, "dials per 1 s from the kill:");
        write_bars(&mut out, &self.per_second, SECOND);
        let _ = writeln!(out, "dials per 100 ms from the kill:");
        write_bars(&mut out, &self.per_tenth, TENTH);
        let _ = writeln!(
            out,
            "successful re-dials per 100 ms from the restart ({} in all, {} called before the restart):",
            self.redials, self.redials_started_before_restart
        );
        write_bars(&mut out, &self.redials_per_tenth, TENTH);
        out
    }
}

/// Counts of `offsets` per `bucket`-long slot, from zero to the last offset.
fn histogram(offsets: impl Iterator<Item = Duration>, bucket: Duration) -> Vec<usize> {
    let mut counts = Vec::new();
    for offset in offsets {
        let slot = usize::try_from(offset.as_nanos() / bucket.as_nanos()).unwrap();
        if counts.len() <= slot {
            counts.resize(slot + 1, 0);
        }
        counts[slot] += 1;
    }
    counts
}

/// The most of the sorted `offsets` inside any half-open span `width` long.
fn most_within(offsets: &[Duration], width: Duration) -> usize {
    let mut start = 0;
    let mut most = 0;
    for (end, offset) in offsets.iter().enumerate() {
        while *offset - offsets[start] >= width {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

/// One line per bucket: its start, its count and a bar.
fn write_bars(out: &mut String, counts: &[usize], bucket: Duration) {
    let widest = counts.iter().copied().max().unwrap_or(0).max(1);
    for (slot, count) in counts.iter().enumerate() {
        let start = bucket * u32::try_from(slot).unwrap();
        let bar = "#".repeat(count * 60 / widest);
        let _ = writeln!(out, "  {:>6.1} s {count:>5} {bar}", start.as_secs_f64());
    }
}
