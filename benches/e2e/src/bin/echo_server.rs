//! Echo server for the end-to-end benchmark: every text and binary message
//! comes back unchanged, with one of seven WebSocket implementations, or
//! (`raw-tcp`) the bytes come back without any WebSocket at all.
//!
//! `echo_server --impl IMPL [--mode echo|stream|broadcast] [--addr 127.0.0.1:0]`
//! prints `listening on ADDR` once it accepts, then serves until killed.
//! `echo_server --impls` lists the implementations this build has, one a
//! line.
//!
//! IMPL is `rfc6455-tokio`, `rfc6455-blocking`, `tungstenite`
//! (tokio-tungstenite), `fastwebsockets`, `tokio-websockets`, one of the
//! two axum servers, which differ only in the extractor: `axum-tungstenite`
//! (axum's own `extract::ws`) and `axum-rfc6455` (`rfc6455::io::axum_ws`;
//! only with this crate's feature `rfc6455-axum`), or `raw-tcp`: the
//! physical limit, a TCP echo that answers the upgrade request with a fixed
//! 101 and then returns whatever bytes arrive (the client's masked frames)
//! with no framing, on the same runtime.
//!
//! `--mode stream`: the echo for huge messages. rfc6455 (both adapters)
//! echoes each message part by part as it arrives (`recv_part`/`read_part`,
//! then `send_part`), never holding it whole; the peers have no such API
//! and echo as in `--mode echo` (fastwebsockets frame by frame, the others
//! message by message), which is the most economical their APIs allow.
//!
//! `--mode broadcast` (the four tokio WebSocket servers only; see
//! [`broadcast`]): every connection is a subscriber, and each message
//! received on any connection is sent to every other connection.
//!
//! Common ground: every tokio server runs on a single-threaded runtime
//! (`new_current_thread`), every accepted socket gets `TCP_NODELAY`, nobody
//! negotiates compression (rfc6455 is built without `deflate`; the peers
//! never offer it), and every library keeps its default limits, which all
//! admit far more than the 16 KiB messages the benchmark sends. Each
//! connection is a plain `tokio::spawn`ed task, so tokio's cooperative
//! budget makes a busy connection yield to the others. (fastwebsockets' and
//! tokio-websockets' own echo examples wrap connections in
//! `tokio::task::unconstrained`; under flood that let one connection starve
//! the rest here, so no server uses it.) Errors on a connection (the load
//! generator exits without a close handshake) end that connection silently.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Rfc6455Tokio,
    Rfc6455Blocking,
    Tungstenite,
    FastWebSockets,
    TokioWebSockets,
    AxumTungstenite,
    AxumRfc6455,
    RawTcp,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Echo,
    Stream,
    Broadcast,
}

impl Impl {
    /// Every implementation by its `--impl` name, built or not.
    const ALL: [(&'static str, Impl); 8] = [
        ("rfc6455-tokio", Self::Rfc6455Tokio),
        ("rfc6455-blocking", Self::Rfc6455Blocking),
        ("tungstenite", Self::Tungstenite),
        ("fastwebsockets", Self::FastWebSockets),
        ("tokio-websockets", Self::TokioWebSockets),
        ("axum-tungstenite", Self::AxumTungstenite),
        ("axum-rfc6455", Self::AxumRfc6455),
        ("raw-tcp", Self::RawTcp),
    ];

    /// Whether this build can serve it (`axum-rfc6455` needs feature `rfc6455-axum`).
    fn built(self) -> bool {
        !matches!(self, Self::AxumRfc6455) || cfg!(feature = "rfc6455-axum")
    }

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, imp)| *imp == self).map_or("?", |(n, _)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, imp)| imp)
    }
}

fn impl_names() -> String {
    let names: Vec<_> = Impl::ALL.iter().filter(|(_, imp)| imp.built()).map(|(n, _)| *n).collect();
    names.join(", ")
}

/// `None`: the arguments asked for `--impls`, which is answered here.
fn parse_args() -> Result<Option<(Impl, Mode, SocketAddr)>, String> {
    let mut imp = None;
    let mut mode = Mode::Echo;
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--impl" => {
                let name = value()?;
                let found = Impl::parse(&name).ok_or(format!("unknown --impl {name:?}; one of {}", impl_names()))?;
                if !found.built() {
                    return Err(format!(
                        "--impl {name} is not in this build: enable feature `rfc6455-axum` of benches/e2e"
                    ));
                }
                imp = Some(found);
            }
            "--impls" => {
                let mut out = std::io::stdout().lock();
                for (name, _) in Impl::ALL.iter().filter(|(_, imp)| imp.built()) {
                    let _ = writeln!(out, "{name}");
                }
                return Ok(None);
            }
            "--addr" => {
                let v = value()?;
                addr = v.parse().map_err(|e| format!("invalid --addr {v:?}: {e}"))?;
            }
            "--mode" => {
                mode = match value()?.as_str() {
                    "echo" => Mode::Echo,
                    "stream" => Mode::Stream,
                    "broadcast" => Mode::Broadcast,
                    other => return Err(format!("unknown --mode {other:?}; echo, stream or broadcast")),
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: echo_server --impl IMPL [--mode echo|stream|broadcast] \
                     [--addr ADDR] | --impls"
                ))
            }
        }
    }
    let imp = imp.ok_or(format!("--impl is required: one of {}", impl_names()))?;
    if mode == Mode::Broadcast && !broadcast::supported(imp) {
        let why =
            if imp == Impl::Rfc6455Blocking { format!(": {}", broadcast::WHY_NOT_BLOCKING) } else { String::new() };
        return Err(format!(
            "--mode broadcast is served by rfc6455-tokio, tungstenite, fastwebsockets and tokio-websockets \
             only, not {}{why}",
            imp.name(),
        ));
    }
    Ok(Some((imp, mode, addr)))
}

fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// The echo loop for the three `Stream + Sink` libraries (rfc6455's tokio
/// adapter, tokio-tungstenite, tokio-websockets), written the same way for
/// each: a data message is `feed`ed (queued, no flush), and the sink is
/// flushed only when the next message is not immediately available. A burst
/// of requests that arrived together is therefore answered with one write.
/// This is what `StreamExt::forward` does on split halves, without the lock
/// that splitting puts between the halves.
async fn echo_sink<W, M, E>(mut ws: W, is_data: fn(&M) -> bool) -> Result<(), E>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    loop {
        // One poll: `Some` if a message (or the end) is ready without waiting.
        let next = match ws.next().now_or_never() {
            Some(next) => next,
            None => {
                ws.flush().await?;
                ws.next().await
            }
        };
        match next {
            Some(Ok(message)) if is_data(&message) => ws.feed(message).await?,
            Some(Ok(_)) => {} // control frames: each library answers pings itself
            Some(Err(err)) => return Err(err),
            None => return ws.flush().await,
        }
    }
}

/// rfc6455, tokio adapter: `accept` with the default `Config`, then its
/// documented batching loop: `recv`, `feed`, `recv`, ... `feed` queues the
/// echo without writing, and `recv` writes everything queued in one call
/// before it waits for the socket, so a burst is answered with one write and
/// a lone message costs no extra flush. (Its `Stream + Sink` impl also works
/// with the shared loop below, at one more poll per message.) `recv` yields
/// only text and binary messages; pings are answered inside.
async fn rfc6455_tokio(tcp: TcpStream) -> Result<(), rfc6455::io::Error> {
    let mut ws = rfc6455::io::tokio_ws::accept(tcp).await?;
    while let Some(message) = ws.recv().await? {
        ws.feed(message).await?;
    }
    Ok(())
}

/// rfc6455, tokio adapter, `--mode stream`: each part goes back as it
/// arrives (`recv_part`, `send_part`), so a message of any size is echoed
/// in memory bounded by the reads.
async fn rfc6455_tokio_stream(tcp: TcpStream) -> Result<(), rfc6455::io::Error> {
    let mut ws = rfc6455::io::tokio_ws::accept(tcp).await?;
    while let Some(part) = ws.recv_part().await? {
        ws.send_part(part).await?;
    }
    Ok(())
}

/// tokio-tungstenite: `accept_async` with the default `WebSocketConfig`
/// (128 KiB read buffer, writes buffered up to 128 KiB before they go out),
/// then the shared loop. tungstenite queues the pong for a ping itself.
async fn tungstenite(tcp: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let ws = tokio_tungstenite::accept_async(tcp).await?;
    echo_sink(ws, |m: &tokio_tungstenite::tungstenite::Message| m.is_text() || m.is_binary()).await
}

/// tokio-websockets: `ServerBuilder::accept` with default `Config`/`Limits`
/// (its sink flushes by itself once 8 KiB are queued), then the shared loop.
/// Note that its `Stream` itself tries to write out queued frames before it
/// reads the next one, so in practice each echo still costs its own write;
/// that is the library's choice, not the loop's.
async fn tokio_websockets(tcp: TcpStream) -> Result<(), tokio_websockets::Error> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await?;
    echo_sink(ws, |m: &tokio_websockets::Message| m.is_text() || m.is_binary()).await
}

/// fastwebsockets, as its README and `examples/echo_server.rs` do it: the
/// upgrade through a hyper 1 HTTP/1 connection (`upgrade::upgrade` plus
/// `with_upgrades`), then `read_frame`/`write_frame` on a `FragmentCollector`
/// with automatic pong and close. fastwebsockets has no write queue: each
/// `write_frame` is written out at once (vectored above 1 KiB), so there is
/// no batching to exploit.
mod fws {
    use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response};
    use tokio::net::TcpStream;

    async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => return Ok(()),
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
    }

    async fn upgrade(mut request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut request)?;
        tokio::task::spawn(async move {
            let _ = echo(fut).await;
        });
        Ok(response)
    }

    pub(crate) async fn serve(tcp: TcpStream) -> Result<(), hyper::Error> {
        let io = hyper_util::rt::TokioIo::new(tcp);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, hyper::service::service_fn(upgrade))
            .with_upgrades()
            .await
    }
}

/// The two axum servers: one router, one route `/`, served by `axum::serve`
/// (hyper-util's auto connection builder, HTTP/1 only in this build) with
/// `TCP_NODELAY` set through `tap_io`, as axum's docs show. They differ only
/// in the extractor, and both echo with the plain loop the extractors
/// document, `recv` then `send` (each `send` writes and flushes at once).
/// With one message in flight per connection (the ping-pong rows), there is
/// nothing to batch, so `feed`-style loops would not change the numbers.
/// Both keep their extractor's default configuration.
mod axum_servers {
    use std::net::SocketAddr;

    use axum::response::Response;
    use axum::routing::get;
    use axum::serve::ListenerExt;
    use axum::Router;
    use tokio::net::TcpListener;

    use super::Impl;

    /// axum's own extractor (tokio-tungstenite inside, the version axum
    /// depends on, which may trail the `tungstenite` server's). `recv` also
    /// shows pings, pongs and close frames, which tungstenite answers itself;
    /// only text and binary messages are echoed.
    async fn tungstenite(ws: axum::extract::ws::WebSocketUpgrade) -> Response {
        use axum::extract::ws::Message;
        ws.on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Text(_) | Message::Binary(_)) && socket.send(message).await.is_err() {
                    break;
                }
            }
        })
    }

    /// rfc6455's extractor: `recv` yields only text and binary messages
    /// (pings are answered inside), `Ok(None)` after the close handshake.
    #[cfg(feature = "rfc6455-axum")]
    async fn rfc6455(ws: rfc6455::io::axum_ws::WebSocketUpgrade) -> Response {
        use rfc6455::io::axum_ws::WebSocket;
        ws.on_upgrade(|mut socket: WebSocket| async move {
            while let Ok(Some(message)) = socket.recv().await {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
        })
    }

    pub(crate) async fn serve(imp: Impl, addr: SocketAddr) -> std::io::Result<()> {
        let router = match imp {
            Impl::AxumTungstenite => Router::new().route("/", get(tungstenite)),
            #[cfg(feature = "rfc6455-axum")]
            Impl::AxumRfc6455 => Router::new().route("/", get(rfc6455)),
            _ => unreachable!("not an axum server, or not built: {imp:?}"),
        };
        let listener = TcpListener::bind(addr).await?;
        super::announce(listener.local_addr()?);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await
    }
}

/// The physical limit: no WebSocket. Reads the upgrade request's head,
/// answers it with a fixed 101 (the accept value from rfc6455's public
/// helper), then writes back every byte that arrives as it arrives: the load
/// generator gets its own masked frames back (`loadgen --accept-masked`).
async fn raw_tcp(mut tcp: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut filled = 0;
    let end = loop {
        if let Some(at) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if filled == buf.len() {
            return Err(std::io::Error::other("request head too long"));
        }
        match tcp.read(&mut buf[filled..]).await? {
            0 => return Ok(()),
            n => filled += n,
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let key = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find_map(|(name, value)| name.trim().eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim()))
        .ok_or_else(|| std::io::Error::other("no Sec-WebSocket-Key"))?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        rfc6455::handshake::accept_key(key.as_bytes()).as_str()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.write_all(&buf[end..filled]).await?;
    loop {
        match tcp.read(&mut buf).await? {
            0 => return Ok(()),
            n => tcp.write_all(&buf[..n]).await?,
        }
    }
}

/// Binds, announces, and runs `serve` on every accepted socket (with
/// `TCP_NODELAY`) in its own task; a connection's error ends that connection
/// only.
async fn accept_loop<F, Fut>(addr: SocketAddr, serve: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(serve(tcp));
    }
}

async fn serve_tokio(imp: Impl, mode: Mode, addr: SocketAddr) -> std::io::Result<()> {
    accept_loop(addr, move |tcp| async move {
        let _ = match imp {
            Impl::Rfc6455Tokio if mode == Mode::Stream => rfc6455_tokio_stream(tcp).await.map_err(drop),
            Impl::Rfc6455Tokio => rfc6455_tokio(tcp).await.map_err(drop),
            Impl::Tungstenite => tungstenite(tcp).await.map_err(drop),
            Impl::TokioWebSockets => tokio_websockets(tcp).await.map_err(drop),
            Impl::FastWebSockets => fws::serve(tcp).await.map_err(drop),
            Impl::RawTcp => raw_tcp(tcp).await.map_err(drop),
            Impl::Rfc6455Blocking | Impl::AxumTungstenite | Impl::AxumRfc6455 => {
                unreachable!("served by serve_blocking or axum_servers::serve")
            }
        };
    })
    .await
}

/// rfc6455, blocking adapter: a thread per connection running a
/// `read()`/`feed()` loop: `feed` queues the echo without writing, and
/// `read` writes everything queued in one call before it waits for the
/// socket, so a burst of messages is answered with one write (the adapter's
/// documented batching; `send` would write each echo at once).
///
/// `--mode stream`: `read_part`, `send_part`, each part echoed as it arrives.
fn serve_blocking(mode: Mode, addr: SocketAddr) -> std::io::Result<()> {
    use rfc6455::io::blocking;
    let listener = std::net::TcpListener::bind(addr)?;
    announce(listener.local_addr()?);
    for tcp in listener.incoming() {
        let tcp = tcp?;
        std::thread::Builder::new().spawn(move || -> Result<(), rfc6455::io::Error> {
            tcp.set_nodelay(true)?;
            let mut ws = blocking::accept(tcp)?;
            ws.set_stream_hooks(blocking::StreamHooks::tcp());
            if mode == Mode::Stream {
                while let Some(part) = ws.read_part()? {
                    ws.send_part(part)?;
                }
                return Ok(());
            }
            while let Some(message) = ws.read()? {
                ws.feed(message)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `--mode broadcast`: every connection subscribes to one hub, and each
/// text or binary message received on any connection goes to every other
/// connection (not back to its sender).
///
/// The hub is a `tokio::sync::broadcast` channel of `(sender id, message)`
/// with the same capacity, [`CAPACITY`] messages, for every implementation;
/// the message type is whatever that library sends most cheaply to many
/// sockets:
///
/// * rfc6455-tokio: a [`rfc6455::PreparedMessage`], framed once by the
///   task that received it; each subscriber `feed_prepared`s every message
///   that is ready and flushes once (the frame is shared by reference from
///   4 KiB up: vectored transmit is on by default on a TCP stream; smaller
///   frames are copied once).
/// * tokio-tungstenite and tokio-websockets: their `Message`, cloned (both
///   keep the payload in `Bytes`, so a clone is a reference count); each
///   subscriber `feed`s every message that is ready and flushes once.
/// * fastwebsockets: the payload as `Bytes` (the received `BytesMut`
///   frozen, no copy) and its opcode; each subscriber writes a `Frame` that
///   borrows those bytes with `write_frame`, on the write half of
///   `WebSocket::split` (feature `unstable-split`: its `read_frame` is not
///   cancel-safe, so reading and writing need two halves).
///
/// The stream-like libraries (ours, tungstenite, tokio-websockets) run one
/// task per connection that `select!`s between its socket and its
/// subscription (both cancel-safe), so no lock sits between a reader and a
/// writer half. A subscriber that falls more than [`CAPACITY`] messages
/// behind loses the oldest ones (`RecvError::Lagged`): they are counted and
/// reported on stderr, and never buffered, so a slow subscriber cannot grow
/// the server's memory; the load generator reports them as lost.
///
/// rfc6455-blocking has no broadcast server: see [`WHY_NOT_BLOCKING`].
mod broadcast {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use futures_util::{Sink, SinkExt, Stream, StreamExt};
    use tokio::net::TcpStream;
    use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

    use super::Impl;

    /// Messages the hub keeps for subscribers that have not taken them yet.
    pub(crate) const CAPACITY: usize = 1024;

    /// Why `rfc6455-blocking` is not in the broadcast rows.
    pub(crate) const WHY_NOT_BLOCKING: &str =
        "the blocking socket has no read and write halves, so a thread per subscriber cannot wait on \
         its socket and on the hub at once; two threads and a lock per subscriber, 20,000 threads at \
         10,000 subscribers, would measure that workaround rather than the library";

    pub(crate) fn supported(imp: Impl) -> bool {
        matches!(imp, Impl::Rfc6455Tokio | Impl::Tungstenite | Impl::FastWebSockets | Impl::TokioWebSockets)
    }

    /// Messages dropped for lagging subscribers, over the server's life.
    static LAGGED: AtomicU64 = AtomicU64::new(0);

    #[derive(Clone)]
    pub(crate) struct Hub<M> {
        tx: broadcast::Sender<(u64, M)>,
        ids: Arc<AtomicU64>,
    }

    impl<M: Clone> Hub<M> {
        fn new() -> Self {
            Self { tx: broadcast::channel(CAPACITY).0, ids: Arc::new(AtomicU64::new(0)) }
        }

        /// Subscribes a new connection: what it publishes and what it receives.
        fn join(&self) -> (Publisher<M>, Subscriber<M>) {
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            (Publisher { id, tx: self.tx.clone() }, Subscriber { id, rx: self.tx.subscribe() })
        }
    }

    struct Publisher<M> {
        id: u64,
        tx: broadcast::Sender<(u64, M)>,
    }

    impl<M> Publisher<M> {
        fn publish(&self, message: M) {
            // Err only without subscribers, and this connection's own one exists.
            let _ = self.tx.send((self.id, message));
        }
    }

    struct Subscriber<M> {
        id: u64,
        rx: broadcast::Receiver<(u64, M)>,
    }

    impl<M: Clone> Subscriber<M> {
        fn lagged(&self, missed: u64) {
            let total = LAGGED.fetch_add(missed, Ordering::Relaxed) + missed;
            eprintln!("echo_server: subscriber {} lagged: {missed} messages dropped ({total} in all)", self.id);
        }

        /// The next message from another connection.
        async fn next(&mut self) -> M {
            loop {
                match self.rx.recv().await {
                    Ok((from, message)) if from != self.id => return message,
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => self.lagged(missed),
                    // The publisher half of this very connection keeps the channel open.
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        }

        /// The next message from another connection if one is ready.
        fn try_next(&mut self) -> Option<M> {
            loop {
                match self.rx.try_recv() {
                    Ok((from, message)) if from != self.id => return Some(message),
                    Ok(_) => {}
                    Err(TryRecvError::Lagged(missed)) => self.lagged(missed),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
                }
            }
        }
    }

    /// rfc6455, tokio adapter: one task, `recv` or the hub; a received
    /// message is framed once into a `PreparedMessage` for all subscribers,
    /// and every one ready is `feed_prepared`, then one flush.
    async fn rfc6455_tokio(tcp: TcpStream, hub: Hub<rfc6455::PreparedMessage>) -> Result<(), rfc6455::io::Error> {
        let mut ws = rfc6455::io::tokio_ws::accept(tcp).await?;
        let (publisher, mut subscriber) = hub.join();
        loop {
            tokio::select! {
                received = ws.recv() => match received? {
                    Some(message) => publisher.publish(rfc6455::PreparedMessage::new(message)),
                    None => return Ok(()),
                },
                prepared = subscriber.next() => {
                    ws.feed_prepared(&prepared).await?;
                    while let Some(prepared) = subscriber.try_next() {
                        ws.feed_prepared(&prepared).await?;
                    }
                    ws.flush().await?;
                }
            }
        }
    }

    /// tokio-tungstenite and tokio-websockets: one task, the stream or the
    /// hub; every message ready is `feed`, then one flush.
    async fn sink_stream<W, M, E>(mut ws: W, hub: Hub<M>, is_data: fn(&M) -> bool) -> Result<(), E>
    where
        W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
        M: Clone,
    {
        let (publisher, mut subscriber) = hub.join();
        loop {
            tokio::select! {
                received = ws.next() => match received {
                    Some(Ok(message)) if is_data(&message) => publisher.publish(message),
                    Some(Ok(_)) => {} // control frames: each library answers pings itself
                    Some(Err(err)) => return Err(err),
                    None => return Ok(()),
                },
                message = subscriber.next() => {
                    ws.feed(message).await?;
                    while let Some(message) = subscriber.try_next() {
                        ws.feed(message).await?;
                    }
                    ws.flush().await?;
                }
            }
        }
    }

    async fn tungstenite(
        tcp: TcpStream,
        hub: Hub<tokio_tungstenite::tungstenite::Message>,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let ws = tokio_tungstenite::accept_async(tcp).await?;
        sink_stream(ws, hub, |m: &tokio_tungstenite::tungstenite::Message| m.is_text() || m.is_binary()).await
    }

    async fn tokio_websockets(
        tcp: TcpStream,
        hub: Hub<tokio_websockets::Message>,
    ) -> Result<(), tokio_websockets::Error> {
        let (_request, ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await?;
        sink_stream(ws, hub, |m: &tokio_websockets::Message| m.is_text() || m.is_binary()).await
    }

    /// fastwebsockets: the upgrade through hyper as in the echo server, then
    /// `split` into a `FragmentCollectorRead` and a `WebSocketWrite`, driven
    /// by one task. The reader's "obligated" frames (a pong or a close reply)
    /// are not written: the load generator sends neither pings nor closes,
    /// and a close ends the connection.
    mod fws {
        use fastwebsockets::{upgrade, FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError};
        use http_body_util::Empty;
        use hyper::body::{Bytes, Incoming};
        use hyper::{Request, Response};
        use tokio::net::TcpStream;

        use super::Hub;

        pub(super) type Shared = (OpCode, Bytes);

        async fn subscribe(fut: upgrade::UpgradeFut, hub: Hub<Shared>) -> Result<(), WebSocketError> {
            let (rx, mut tx) = fut.await?.split(tokio::io::split);
            let mut rx = FragmentCollectorRead::new(rx);
            let (publisher, mut subscriber) = hub.join();
            let reader = async {
                loop {
                    let frame = rx.read_frame(&mut |_| async { Ok::<_, WebSocketError>(()) }).await?;
                    let payload = match frame.payload {
                        Payload::Bytes(bytes) => bytes.freeze(),
                        other => Bytes::copy_from_slice(&other),
                    };
                    match frame.opcode {
                        OpCode::Close => return Ok(()),
                        OpCode::Text | OpCode::Binary => publisher.publish((frame.opcode, payload)),
                        _ => {}
                    }
                }
            };
            let writer = async {
                loop {
                    let (opcode, payload) = subscriber.next().await;
                    tx.write_frame(Frame::new(true, opcode, None, Payload::Borrowed(&payload))).await?;
                }
            };
            tokio::select! {
                done = reader => done,
                done = writer => done,
            }
        }

        pub(super) async fn serve(tcp: TcpStream, hub: Hub<Shared>) -> Result<(), hyper::Error> {
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                let hub = hub.clone();
                async move {
                    let (response, fut) = upgrade::upgrade(&mut request)?;
                    tokio::task::spawn(async move {
                        let _ = subscribe(fut, hub).await;
                    });
                    Ok::<Response<Empty<Bytes>>, WebSocketError>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(tcp);
            hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades().await
        }
    }

    pub(crate) async fn serve(imp: Impl, addr: SocketAddr) -> std::io::Result<()> {
        use super::accept_loop;
        match imp {
            Impl::Rfc6455Tokio => {
                let hub = Hub::new();
                accept_loop(addr, move |tcp| {
                    let hub = hub.clone();
                    async move {
                        let _ = rfc6455_tokio(tcp, hub).await;
                    }
                })
                .await
            }
            Impl::Tungstenite => {
                let hub = Hub::new();
                accept_loop(addr, move |tcp| {
                    let hub = hub.clone();
                    async move {
                        let _ = tungstenite(tcp, hub).await;
                    }
                })
                .await
            }
            Impl::TokioWebSockets => {
                let hub = Hub::new();
                accept_loop(addr, move |tcp| {
                    let hub = hub.clone();
                    async move {
                        let _ = tokio_websockets(tcp, hub).await;
                    }
                })
                .await
            }
            Impl::FastWebSockets => {
                let hub = Hub::new();
                accept_loop(addr, move |tcp| {
                    let hub = hub.clone();
                    async move {
                        let _ = fws::serve(tcp, hub).await;
                    }
                })
                .await
            }
            _ => unreachable!("no broadcast server for {imp:?}: parse_args refuses it"),
        }
    }
}

fn main() -> ExitCode {
    let (imp, mode, addr) = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("echo_server: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match imp {
        Impl::Rfc6455Blocking => serve_blocking(mode, addr),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|rt| {
            rt.block_on(async {
                match (mode, imp) {
                    (Mode::Broadcast, _) => broadcast::serve(imp, addr).await,
                    (_, Impl::AxumTungstenite | Impl::AxumRfc6455) => axum_servers::serve(imp, addr).await,
                    _ => serve_tokio(imp, mode, addr).await,
                }
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_server: {err}");
            ExitCode::FAILURE
        }
    }
}
