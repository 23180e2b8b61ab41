//! The blocking handshake entry points (connect, client, accept) and the loop that pumps the shared handshake drive over a `Read + Write` stream.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::deadline::{connect_before, timed_out, with_deadline};
use super::read_into;
use super::stream::{StreamHooks, WebSocket};
use crate::handshake::{Accept, IntoClientRequest, Reject, Response, UpgradeRequest};
use crate::io::handshake_drive::{ClientDrive, HandshakeDrive, ServerDrive, Step, READ_CHUNK};
use crate::io::Error;
use crate::{Config, UsageError};

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY` unless
/// `Config::tcp_nodelay` is off) and performs the
/// client handshake. For `wss://`, connect a TLS stream yourself and use [`client`].
///
/// `request` is a URL (`&str`, `String`), an [`http::Uri`], an
/// [`http::Request<()>`](http::Request) (its headers are sent) or a
/// [`ClientRequest`](crate::handshake::ClientRequest): see
/// [`IntoClientRequest`] for what is refused.
///
/// ```no_run
/// use rfc6455::io::blocking;
/// let (ws, _) = blocking::connect("ws://127.0.0.1:9001/chat")?;
/// let uri: http::Uri = "ws://127.0.0.1:9001/chat".parse().expect("a valid URI");
/// let (ws, _) = blocking::connect(uri)?;
/// # Ok::<(), rfc6455::io::Error>(())
/// ```
pub fn connect(request: impl IntoClientRequest) -> Result<(WebSocket<TcpStream>, Response), Error> {
    connect_with(request, &Config::default())
}

/// [`connect`] with a config. Connecting and the handshake together may take
/// up to `Config::handshake_timeout`.
pub fn connect_with(
    request: impl IntoClientRequest,
    config: &Config,
) -> Result<(WebSocket<TcpStream>, Response), Error> {
    let request = request.into_client_request()?;
    let request = &request;
    if request.is_secure() {
        return Err(UsageError::InvalidUrl("wss:// needs TLS: connect a TLS stream yourself and use client()").into());
    }
    let started = Instant::now();
    // A limit too far away to represent is no limit.
    let stream = match config.handshake_timeout.and_then(|limit| Some((limit, started.checked_add(limit)?))) {
        Some((limit, deadline)) => {
            let addrs = (request.host(), request.port()).to_socket_addrs()?;
            connect_before(addrs, deadline).map_err(|err| timed_out(err, started, limit))?
        }
        None => TcpStream::connect((request.host(), request.port()))?,
    };
    stream.set_nodelay(config.tcp_nodelay)?;
    let (stream, (conn, response)) = with_deadline(stream, started, config.handshake_timeout, |stream| {
        let (ws, response) = client(request, stream, config)?;
        let (stream, conn) = ws.into_parts();
        Ok((stream, (conn, response)))
    })?;
    let mut ws = WebSocket::from_connection(stream, conn);
    ws.set_stream_hooks(StreamHooks::tcp());
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

/// Performs the client handshake over `stream` (a TLS stream for `wss://`),
/// blocking until done. `request` is anything [`IntoClientRequest`] takes,
/// as for [`connect`].
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
fn drive<S: Read + Write, D: HandshakeDrive>(stream: &mut S, mut handshake: D) -> Result<D::Done, Error> {
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
