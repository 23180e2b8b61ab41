//! A fault-injecting TCP relay on 127.0.0.1 for tests: it sits between a
//! client and a server and, on command, breaks the link the ways real
//! networks do.
//!
//! Each direction of every link has a [`Fault`]: pass bytes on, black-hole
//! them (a NAT that lost its mapping: the sender's writes succeed and
//! nothing arrives, no FIN, no RST), delay them, throttle them to a rate, or
//! stop reading (the sender's socket buffers fill and its writes block).
//! [`Relay::cut`] ends every open link with a FIN or a reset (`SO_LINGER`
//! 0). [`Relay::after`] arms an action for when a given number of further
//! bytes has passed in one direction, so a test can cut mid-frame or start
//! dropping just after a close frame went through.
//!
//! The relay never reads the WebSocket bytes; it only counts them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes read from one side in one go.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight between reading one side and writing the other (delay line).
const IN_FLIGHT: usize = 64;
/// A throttled direction writes this often.
const THROTTLE_TICK: Duration = Duration::from_millis(20);

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

impl Dir {
    /// The opposite direction.
    pub fn other(self) -> Self {
        match self {
            Self::Up => Self::Down,
            Self::Down => Self::Up,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Up => 0,
            Self::Down => 1,
        }
    }
}

/// What happens to the bytes of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passed on as they arrive.
    Pass,
    /// Read and thrown away, including bytes already in flight: the sender
    /// sees its writes succeed, the receiver sees nothing (half-open).
    BlackHole,
    /// Passed on this long after they were read.
    Delay(Duration),
    /// Passed on at this many bytes per second.
    Throttle(u64),
    /// Not read at all (and nothing in flight is written): the sender's
    /// socket buffers fill up and its writes block.
    Stall,
}

/// How [`Relay::cut`] ends a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Both sides get a FIN (an orderly end of stream) after what was in flight.
    Fin,
    /// Both sides get a reset at once (`SO_LINGER` 0), what was in flight is lost.
    Rst,
}

/// What [`Relay::after`] does once its bytes have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sets the fault of a direction.
    Set(Dir, Fault),
    /// Cuts the link the bytes passed on.
    Cut(Cut),
}

/// Counters, in bytes and links, since the relay started.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes written to the receiving side, per [`Dir`].
    pub passed: [AtomicU64; 2],
    /// Bytes black-holed, per [`Dir`].
    pub dropped: [AtomicU64; 2],
    /// Links accepted.
    pub links: AtomicU64,
    /// Links whose server side ended its stream or failed (FIN or RST seen by the relay).
    pub server_ended: AtomicU64,
    /// Links whose client side ended its stream or failed.
    pub client_ended: AtomicU64,
}

impl Stats {
    /// Bytes passed in `dir`.
    pub fn passed(&self, dir: Dir) -> u64 {
        self.passed[dir.index()].load(Ordering::Relaxed)
    }

    /// Bytes black-holed in `dir`.
    pub fn dropped(&self, dir: Dir) -> u64 {
        self.dropped[dir.index()].load(Ordering::Relaxed)
    }
}

/// An action armed by [`Relay::after`].
#[derive(Debug)]
struct Trigger {
    dir: Dir,
    remaining: u64,
    action: Action,
}

/// What every link shares with the relay's handle.
#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    /// `SO_RCVBUF` of the relay's sockets to the server, if set.
    upstream_recv_buffer: Option<u32>,
    faults: watch::Sender<[Fault; 2]>,
    /// Bumped by each cut; links watch it.
    cuts: watch::Sender<(u64, Cut)>,
    trigger: Mutex<Option<Trigger>>,
    stats: Stats,
}

impl Shared {
    fn set(&self, dir: Dir, fault: Fault) {
        self.faults.send_modify(|faults| faults[dir.index()] = fault);
    }

    fn cut_all(&self, how: Cut) {
        self.cuts.send_modify(|(generation, cut)| {
            *generation += 1;
            *cut = how;
        });
    }
}

/// The relay: listening on 127.0.0.1, forwarding to one upstream address.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Listens on 127.0.0.1 (a free port) and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::start_with(upstream, None).await
    }

    /// [`start`](Self::start), with the receive buffer of the relay's
    /// sockets to the server set to `upstream_recv_buffer` bytes: a small
    /// one makes a throttled direction push back on the server's writes
    /// steadily, as a slow link's small window does, rather than in the
    /// 64 KiB steps of loopback's default window.
    pub async fn start_with(upstream: SocketAddr, upstream_recv_buffer: Option<u32>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let shared = Arc::new(Shared {
            upstream,
            upstream_recv_buffer,
            faults: watch::channel([Fault::Pass; 2]).0,
            cuts: watch::channel((0, Cut::Fin)).0,
            trigger: Mutex::new(None),
            stats: Stats::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Self { addr, shared, accept }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://` URL of the relay with `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Sets the fault of one direction, on open links and on those to come.
    pub fn set(&self, dir: Dir, fault: Fault) {
        self.shared.set(dir, fault);
    }

    /// Sets both directions to `fault`.
    pub fn set_both(&self, fault: Fault) {
        self.shared.faults.send_replace([fault; 2]);
    }

    /// Back to passing everything on.
    pub fn heal(&self) {
        self.set_both(Fault::Pass);
    }

    /// Ends every open link now.
    pub fn cut(&self, how: Cut) {
        self.shared.cut_all(how);
    }

    /// Arms `action` for when `bytes` more bytes have been read in `dir`
    /// (the bytes up to that point are passed on, the rest meet the action).
    pub fn after(&self, dir: Dir, bytes: u64, action: Action) {
        *self.shared.trigger.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Trigger { dir, remaining: bytes, action });
    }

    /// Whether an action armed by [`after`](Self::after) is still waiting for its bytes.
    pub fn armed(&self) -> bool {
        self.shared.trigger.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.cut_all(Cut::Rst);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        shared.stats.links.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(link(client, Arc::clone(&shared)));
    }
}

/// One client's link: dials upstream, then pumps both directions until
/// both ended or the link is cut.
async fn link(client: TcpStream, shared: Arc<Shared>) {
    let Ok(server) = dial(&shared).await else {
        return; // dropping the client closes it: the same as a refused dial
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut cuts = shared.cuts.subscribe();
    cuts.mark_unchanged();
    let (own_cut_tx, mut own_cut) = watch::channel(None::<Cut>);
    let pumps = async {
        tokio::join!(
            pump(&client, &server, Dir::Up, &shared, &own_cut_tx),
            pump(&server, &client, Dir::Down, &shared, &own_cut_tx)
        )
    };
    let how = tokio::select! {
        _ = pumps => None,
        changed = cuts.changed() => changed.ok().map(|()| cuts.borrow().1),
        changed = own_cut.wait_for(Option::is_some) => changed.ok().and_then(|cut| *cut),
    };
    match how {
        Some(Cut::Rst) => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
        Some(Cut::Fin) => {
            let _ = shutdown_write(&client);
            let _ = shutdown_write(&server);
            // Read (and drop) until both sides close, so neither gets a
            // reset for bytes it sends after the FIN; bounded.
            let drain = async { tokio::join!(drain(&client), drain(&server)) };
            let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        }
        None => {}
    }
}

/// Connects to the server, with the receive buffer asked for.
async fn dial(shared: &Shared) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if let Some(size) = shared.upstream_recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(shared.upstream).await
}

/// What travels from a direction's reader to its writer.
enum Item {
    Bytes(Instant, Vec<u8>),
    /// An armed action whose bytes have just passed.
    Act(Action),
    /// The sending side ended its stream.
    Eof,
}

/// One direction: reads `from`, writes `to`, as the direction's fault says.
async fn pump(from: &TcpStream, to: &TcpStream, dir: Dir, shared: &Shared, cut: &watch::Sender<Option<Cut>>) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::join!(read_side(from, dir, shared, tx), write_side(to, dir, shared, rx, cut));
}

async fn read_side(from: &TcpStream, dir: Dir, shared: &Shared, tx: mpsc::Sender<Item>) {
    let mut faults = shared.faults.subscribe();
    loop {
        let fault = faults.borrow_and_update()[dir.index()];
        if fault == Fault::Stall {
            if faults.changed().await.is_err() {
                return;
            }
            continue;
        }
        // Throttled: read no more than a tick's worth at a time, so the
        // sender is held back at the link's rate, not by a full delay line.
        let size = match fault {
            Fault::Throttle(rate) => per_tick(rate).min(CHUNK),
            _ => CHUNK,
        };
        let mut buf = vec![0; size];
        let read = tokio::select! {
            read = read_some(from, &mut buf) => read,
            _ = faults.changed() => continue,
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let ended = match dir {
                    Dir::Up => &shared.stats.client_ended,
                    Dir::Down => &shared.stats.server_ended,
                };
                ended.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Item::Eof).await;
                return;
            }
            Ok(n) => n,
        };
        buf.truncate(n);
        let at = Instant::now();
        let fired = {
            let mut trigger = shared.trigger.lock().unwrap_or_else(PoisonError::into_inner);
            match trigger.as_mut() {
                Some(armed) if armed.dir == dir && armed.remaining <= n as u64 => {
                    let head = usize::try_from(armed.remaining).unwrap_or(n);
                    let action = armed.action;
                    *trigger = None;
                    Some((head, action))
                }
                Some(armed) if armed.dir == dir => {
                    armed.remaining -= n as u64;
                    None
                }
                _ => None,
            }
        };
        let items = match fired {
            None => vec![Item::Bytes(at, buf)],
            Some((head, action)) => {
                let tail = buf.split_off(head);
                if let Action::Set(dir, fault) = action {
                    // Set at once, so the tail already meets the fault.
                    shared.set(dir, fault);
                }
                vec![Item::Bytes(at, buf), Item::Act(action), Item::Bytes(at, tail)]
            }
        };
        for item in items {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }
}

async fn write_side(
    to: &TcpStream,
    dir: Dir,
    shared: &Shared,
    mut rx: mpsc::Receiver<Item>,
    cut: &watch::Sender<Option<Cut>>,
) {
    let mut faults = shared.faults.subscribe();
    while let Some(item) = rx.recv().await {
        let (read_at, bytes) = match item {
            // A black hole swallows the FIN too (a NAT that lost the mapping).
            Item::Eof if faults.borrow_and_update()[dir.index()] == Fault::BlackHole => return,
            Item::Eof => {
                let _ = shutdown_write(to);
                return;
            }
            Item::Act(Action::Cut(how)) => {
                cut.send_replace(Some(how));
                return;
            }
            Item::Act(Action::Set(..)) => continue,
            Item::Bytes(_, bytes) if bytes.is_empty() => continue,
            Item::Bytes(at, bytes) => (at, bytes),
        };
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let fault = faults.borrow_and_update()[dir.index()];
            let piece = match fault {
                Fault::BlackHole => {
                    shared.stats.dropped[dir.index()].fetch_add(rest.len() as u64, Ordering::Relaxed);
                    break;
                }
                Fault::Stall => {
                    if faults.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                Fault::Delay(delay) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(read_at + delay) => {}
                        _ = faults.changed() => continue,
                    }
                    rest.len()
                }
                Fault::Throttle(rate) => {
                    tokio::time::sleep(THROTTLE_TICK).await;
                    per_tick(rate).min(rest.len())
                }
                Fault::Pass => rest.len(),
            };
            let (now, later) = rest.split_at(piece);
            if write_all(to, now).await.is_err() {
                return;
            }
            shared.stats.passed[dir.index()].fetch_add(now.len() as u64, Ordering::Relaxed);
            rest = later;
        }
    }
}

/// Bytes a direction throttled to `rate` bytes per second passes per tick.
fn per_tick(rate: u64) -> usize {
    (rate as f64 * THROTTLE_TICK.as_secs_f64()).max(1.0) as usize
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Reads and drops until the end of the stream or an error.
async fn drain(stream: &TcpStream) {
    let mut buf = vec![0; CHUNK];
    while let Ok(1..) = read_some(stream, &mut buf).await {}
}

/// Sends a FIN: no more bytes this way (tokio's `shutdown` needs `&mut`).
fn shutdown_write(stream: &TcpStream) -> std::io::Result<()> {
    socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
}
