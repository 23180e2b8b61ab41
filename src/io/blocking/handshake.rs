//! The blocking handshake entry points (connect, client, accept) and the loop that pumps the shared handshake drive over a `Read + Write` stream.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::deadline::{timed_out, with_deadline};
use super::maybe_tls::{dial, MaybeTlsStream};
use super::read_into;
use super::stream::{StreamHooks, WebSocket};
use crate::handshake::{Accept, IntoClientRequest, Reject, Response, UpgradeRequest};
use crate::io::handshake_drive::{ClientDrive, HandshakeDrive, ServerDrive, Step, READ_CHUNK};
use crate::io::Dialer;
use crate::io::Error;
use crate::Config;

/// Connects to a `ws://` or `wss://` URL and performs the client handshake:
/// TCP (with `TCP_NODELAY` unless `Config::tcp_nodelay` is off), then TLS
/// for `wss://` (with a TLS feature on: see [`crate::io::tls`]). No proxy:
/// see [`connect_with_dialer`] for proxies and your own TLS configuration.
///
/// `request` is a URL (`&str`, `String`), an [`http::Uri`], an
/// [`http::Request<()>`](http::Request) (its headers are sent) or a
/// [`ClientRequest`](crate::handshake::ClientRequest): see
/// [`IntoClientRequest`] for what is refused.
///
/// ```no_run
/// use rfc6455::io::blocking;
/// let (ws, _) = blocking::connect("ws://127.0.0.1:9001/chat")?;
/// let uri: http::Uri = "wss://example.com/chat".parse().expect("a valid URI");
/// let (ws, _) = blocking::connect(uri)?;
/// # Ok::<(), rfc6455::io::Error>(())
/// ```
pub fn connect(request: impl IntoClientRequest) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    connect_with(request, &Config::default())
}

/// [`connect`] with a config. Connecting, TLS and the handshake together may
/// take up to `Config::handshake_timeout`.
pub fn connect_with(
    request: impl IntoClientRequest,
    config: &Config,
) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    connect_with_dialer(request, config, &Dialer::new())
}

/// [`connect_with`] through `dialer`: a proxy (explicit or from the
/// environment) and your own TLS configuration. Dialing, the proxy's tunnel,
/// TLS and the handshake together may take up to `Config::handshake_timeout`.
/// The socket gets [`StreamHooks::maybe_tls`].
///
/// ```no_run
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use rfc6455::io::{blocking, Dialer};
/// let dialer = Dialer::new().proxy_from_env()?; // HTTPS_PROXY, NO_PROXY, ... as curl reads them
/// let (ws, _) = blocking::connect_with_dialer("wss://example.com/feed", &Default::default(), &dialer)?;
/// # Ok(()) }
/// ```
pub fn connect_with_dialer(
    request: impl IntoClientRequest,
    config: &Config,
    dialer: &Dialer,
) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    let request = request.into_client_request()?;
    let started = Instant::now();
    // A limit too far away to represent is no limit.
    let limit = config.handshake_timeout.and_then(|limit| Some((limit, started.checked_add(limit)?)));
    let handshake = || {
        let mut stream = dial(&request, config, dialer, limit.map(|(_, deadline)| deadline))?;
        let (ws, response) = client(&request, &mut stream, config)?;
        let (_, conn) = ws.into_parts();
        stream.clear_deadline()?;
        Ok((stream, conn, response))
    };
    let (stream, conn, response) = handshake().map_err(|err| match (err, limit) {
        (Error::Io(err), Some((limit, _))) => timed_out(err, started, limit),
        (err, _) => err,
    })?;
    let mut ws = WebSocket::from_connection(stream, conn);
    ws.set_stream_hooks(StreamHooks::maybe_tls());
    Ok((ws, response))
}

/// Performs the server handshake over a TCP stream: [`accept_with`], with
/// `TCP_NODELAY`, `Config::handshake_timeout` (a peer that has not sent its
/// whole request by then gets [`Error::HandshakeTimeout`] and is dropped),
/// and [`StreamHooks::tcp`] installed.
pub fn accept_tcp<F>(stream: TcpStream, config: &Config, hook: F) -> Result<WebSocket<TcpStream>, Error>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let started = Instant::now();
    stream.set_nodelay(config.tcp_nodelay)?;
    let (stream, conn) = with_deadline(stream, started, config.handshake_timeout, |stream| {
        Ok(accept_with(stream, config, hook)?.into_parts())
    })?;
    let mut ws = WebSocket::from_connection(stream, conn);
    ws.set_stream_hooks(StreamHooks::tcp());
    Ok(ws)
}

/// Performs the client handshake over a stream you connected yourself (a
/// TLS stream of your own, an in-memory stream),
/// blocking until done. `request` is anything [`IntoClientRequest`] takes,
/// as for [`connect`]. As for [`accept_with`], `Config::handshake_timeout`
/// and the [`StreamHooks`] are yours to set.
pub fn client<S: Read + Write>(
    request: impl IntoClientRequest,
    mut stream: S,
    config: &Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let request = request.into_client_request()?;
    let (conn, response) = drive(&mut stream, ClientDrive::new(&request, config))?;
    Ok((WebSocket::from_connection(stream, conn), response))
}

/// Performs the server handshake over `stream`, accepting any valid request.
pub fn accept<S: Read + Write>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, &Config::default(), |_| Ok(Accept::new()))
}

/// Performs the server handshake, letting `hook` inspect the request (path,
/// headers, `Origin`, offered subprotocols) and accept or reject it. A
/// rejection, or an invalid request, is answered over `stream` and returned
/// as an error.
///
/// `Config::handshake_timeout` is not applied here (the stream is yours):
/// set read and write timeouts on it for the handshake, then clear them
/// and install [`StreamHooks`] for the connection's timers, as
/// [`accept_tcp`] does for a `TcpStream`.
pub fn accept_with<S, F>(mut stream: S, config: &Config, hook: F) -> Result<WebSocket<S>, Error>
where
    S: Read + Write,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let conn = drive(&mut stream, ServerDrive::new(config, hook))?;
    let mut socket = WebSocket::from_connection(stream, conn);
    socket.write_out()?; // the 101 response
    Ok(socket)
}

/// Pumps a handshake over `stream` until it is done, blocking.
pub(super) fn drive<S: Read + Write, D: HandshakeDrive>(stream: &mut S, mut handshake: D) -> Result<D::Done, Error> {
    loop {
        match handshake.poll(Instant::now())? {
            Step::Write => {
                stream.write_all(handshake.transmit())?;
                stream.flush()?;
                let written = handshake.transmit().len();
                handshake.advance_transmit(written);
            }
            Step::Read => {
                let n = read_into(handshake.recv_buffer(), READ_CHUNK, |buf| read_retrying(stream, buf))?;
                handshake.received(n);
            }
            Step::Done => return handshake.finish(Instant::now()),
            Step::Refused(err) => {
                // The stream closes when the caller drops it.
                stream.write_all(handshake.transmit())?;
                stream.flush()?;
                return Err(err);
            }
        }
    }
}

fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
