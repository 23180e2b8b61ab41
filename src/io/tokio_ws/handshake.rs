//! The tokio handshake entry points (connect, client, accept), the handshake timeout, and the loop that pumps the shared handshake drive over an async stream.

use std::future::Future;
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;

use super::now;
use super::stream::WebSocketStream;
use crate::handshake::{Accept, ClientRequest, Reject, Response, UpgradeRequest};
use crate::io::handshake_drive::{ClientDrive, HandshakeDrive, ServerDrive, Step, READ_CHUNK};
use crate::io::Error;
use crate::{Config, UsageError};

/// Runs a handshake future, giving up with [`Error::HandshakeTimeout`] after
/// `limit` (dropping the future drops the stream, which closes it).
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    handshake: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => ::tokio::time::timeout(limit, handshake).await.unwrap_or(Err(Error::HandshakeTimeout(limit))),
        None => handshake.await,
    }
}

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY` unless
/// `Config::tcp_nodelay` is off) and performs the
/// client handshake. For `wss://`, connect a TLS stream yourself and use [`client`].
pub async fn connect(url: &str) -> Result<(WebSocketStream<TcpStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, &Config::default()).await
}

/// [`connect`] with a prepared request (subprotocols, headers) and a config.
/// Connecting and the handshake together may take up to
/// `Config::handshake_timeout`.
pub async fn connect_with(
    request: &ClientRequest,
    config: &Config,
) -> Result<(WebSocketStream<TcpStream>, Response), Error> {
    if request.is_secure() {
        return Err(UsageError::InvalidUrl("wss:// needs TLS: connect a TLS stream yourself and use client()").into());
    }
    within(config.handshake_timeout, async {
        let stream = TcpStream::connect((request.host(), request.port())).await?;
        stream.set_nodelay(config.tcp_nodelay)?;
        client_handshake(request, stream, config).await
    })
    .await
}

/// Performs the client handshake over `stream`, giving up with
/// [`Error::HandshakeTimeout`] after `Config::handshake_timeout`.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    request: &ClientRequest,
    stream: S,
    config: &Config,
) -> Result<(WebSocketStream<S>, Response), Error> {
    within(config.handshake_timeout, client_handshake(request, stream, config)).await
}

pub(crate) async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    request: &ClientRequest,
    mut stream: S,
    config: &Config,
) -> Result<(WebSocketStream<S>, Response), Error> {
    let (conn, response) = drive(&mut stream, Box::new(ClientDrive::new(request, config))).await?;
    Ok((WebSocketStream::from_connection(stream, conn), response))
}

/// Performs the server handshake over `stream`, accepting any valid request.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<WebSocketStream<S>, Error> {
    accept_with(stream, &Config::default(), |_| Ok(Accept::new())).await
}

/// Performs the server handshake over an accepted TCP stream, after setting
/// `TCP_NODELAY` on it (unless `Config::tcp_nodelay` is off); otherwise as
/// [`accept_with`].
pub async fn accept_tcp<F>(stream: TcpStream, config: &Config, hook: F) -> Result<WebSocketStream<TcpStream>, Error>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    stream.set_nodelay(config.tcp_nodelay)?;
    accept_with(stream, config, hook).await
}

/// Performs the server handshake, letting `hook` inspect the request (path,
/// headers, `Origin`, offered subprotocols) and accept or reject it. A
/// rejection, or an invalid request, is answered over `stream` and returned
/// as an error. A peer that has not completed the handshake within
/// `Config::handshake_timeout` (slowloris) gets [`Error::HandshakeTimeout`]
/// and the stream is dropped.
pub async fn accept_with<S, F>(stream: S, config: &Config, hook: F) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    within(config.handshake_timeout, accept_handshake(stream, config, hook)).await
}

async fn accept_handshake<S, F>(mut stream: S, config: &Config, hook: F) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let conn = drive(&mut stream, Box::new(ServerDrive::new(config, hook))).await?;
    let mut socket = WebSocketStream::from_connection(stream, conn);
    socket.flush().await?; // the 101 response
    Ok(socket)
}

/// Pumps a handshake over `stream` until it is done.
///
/// The handshake's state is boxed: a future holds its largest state for as
/// long as it lives, and the caller's task usually lives as long as the
/// connection, so state kept inline would cost every idle connection its size
/// (about 2.5 KiB) long after the handshake.
async fn drive<S, D>(stream: &mut S, mut handshake: Box<D>) -> Result<D::Done, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: HandshakeDrive,
{
    loop {
        match handshake.poll(now())? {
            Step::Write => {
                stream.write_all(handshake.transmit()).await?;
                stream.flush().await?;
                let written = handshake.transmit().len();
                handshake.advance_transmit(written);
            }
            Step::Read => {
                let buf = handshake.recv_buffer();
                buf.reserve(READ_CHUNK);
                let n = stream.read_buf(buf).await?;
                handshake.received(n);
            }
            Step::Done => return (*handshake).finish(now()),
            Step::Refused(err) => {
                stream.write_all(handshake.transmit()).await?;
                stream.shutdown().await?;
                return Err(err);
            }
        }
    }
}
