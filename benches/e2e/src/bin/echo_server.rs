//! Echo server for the end-to-end benchmark: every text and binary message
//! comes back unchanged, with one of seven WebSocket implementations.
//!
//! `echo_server --impl IMPL [--addr 127.0.0.1:0]` prints `listening on ADDR`
//! once it accepts, then serves until killed. `echo_server --impls` lists
//! the implementations this build has, one a line.
//!
//! IMPL is `rfc6455-tokio`, `rfc6455-blocking`, `tungstenite`
//! (tokio-tungstenite), `fastwebsockets`, `tokio-websockets`, or one of the
//! two axum servers, which differ only in the extractor: `axum-tungstenite`
//! (axum's own `extract::ws`) and `axum-rfc6455` (`rfc6455::io::axum_ws`;
//! only with this crate's feature `rfc6455-axum`).
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

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
enum Impl {
    Rfc6455Tokio,
    Rfc6455Blocking,
    Tungstenite,
    FastWebSockets,
    TokioWebSockets,
    AxumTungstenite,
    AxumRfc6455,
}

impl Impl {
    /// Every implementation by its `--impl` name, built or not.
    const ALL: [(&'static str, Impl); 7] = [
        ("rfc6455-tokio", Self::Rfc6455Tokio),
        ("rfc6455-blocking", Self::Rfc6455Blocking),
        ("tungstenite", Self::Tungstenite),
        ("fastwebsockets", Self::FastWebSockets),
        ("tokio-websockets", Self::TokioWebSockets),
        ("axum-tungstenite", Self::AxumTungstenite),
        ("axum-rfc6455", Self::AxumRfc6455),
    ];

    /// Whether this build can serve it (`axum-rfc6455` needs feature `rfc6455-axum`).
    fn built(self) -> bool {
        !matches!(self, Self::AxumRfc6455) || cfg!(feature = "rfc6455-axum")
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
fn parse_args() -> Result<Option<(Impl, SocketAddr)>, String> {
    let mut imp = None;
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
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: echo_server --impl IMPL [--addr ADDR] | --impls"
                ))
            }
        }
    }
    Ok(Some((imp.ok_or(format!("--impl is required: one of {}", impl_names()))?, addr)))
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

async fn serve_tokio(imp: Impl, addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    announce(listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            // A connection's error ends that connection only.
            let _ = match imp {
                Impl::Rfc6455Tokio => rfc6455_tokio(tcp).await.map_err(drop),
                Impl::Tungstenite => tungstenite(tcp).await.map_err(drop),
                Impl::TokioWebSockets => tokio_websockets(tcp).await.map_err(drop),
                Impl::FastWebSockets => fws::serve(tcp).await.map_err(drop),
                Impl::Rfc6455Blocking | Impl::AxumTungstenite | Impl::AxumRfc6455 => {
                    unreachable!("served by serve_blocking or axum_servers::serve")
                }
            };
        });
    }
}

/// rfc6455, blocking adapter: a thread per connection running a
/// `read()`/`feed()` loop: `feed` queues the echo without writing, and
/// `read` writes everything queued in one call before it waits for the
/// socket, so a burst of messages is answered with one write (the adapter's
/// documented batching; `send` would write each echo at once).
fn serve_blocking(addr: SocketAddr) -> std::io::Result<()> {
    use rfc6455::io::blocking;
    let listener = std::net::TcpListener::bind(addr)?;
    announce(listener.local_addr()?);
    for tcp in listener.incoming() {
        let tcp = tcp?;
        std::thread::Builder::new().spawn(move || -> Result<(), rfc6455::io::Error> {
            tcp.set_nodelay(true)?;
            let mut ws = blocking::accept(tcp)?;
            ws.set_stream_hooks(blocking::StreamHooks::tcp());
            while let Some(message) = ws.read()? {
                ws.feed(message)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let (imp, addr) = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("echo_server: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match imp {
        Impl::Rfc6455Blocking => serve_blocking(addr),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|rt| {
            rt.block_on(async {
                match imp {
                    Impl::AxumTungstenite | Impl::AxumRfc6455 => axum_servers::serve(imp, addr).await,
                    _ => serve_tokio(imp, addr).await,
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
