//! The tokio handshake entry points (connect, client, accept), the handshake timeout, and the loop that pumps the shared handshake drive over an async stream.

use std::future::Future;
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;

use super::maybe_tls::{dial, MaybeTlsStream};
use super::now;
use super::stream::WebSocketStream;
use crate::handshake::{Accept, ClientRequest, IntoClientRequest, Reject, Response, UpgradeRequest};
use crate::io::handshake_drive::{ClientDrive, HandshakeDrive, ServerDrive, Step, READ_CHUNK};
use crate::io::Dialer;
use crate::io::Error;
use crate::Config;

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

/// Connects to a `ws://` or `wss://` URL and performs the client handshake:
/// TCP (with `TCP_NODELAY` unless `Config::tcp_nodelay` is off), then TLS
/// for `wss://` (with a TLS feature on: see [`crate::io::tls`]). No proxy:
/// see [`connect_with_dialer`] for proxies and your own TLS configuration.
///
/// `request` is a URL (`&str`, `String`), an [`http::Uri`], an
/// [`http::Request<()>`](http::Request) (its headers are sent) or a
/// [`ClientRequest`]: see [`IntoClientRequest`] for what is refused.
///
/// ```no_run
/// # async fn f() -> Result<(), rfc6455::io::Error> {
/// use rfc6455::io::tokio_ws;
/// let (ws, _) = tokio_ws::connect("ws://127.0.0.1:9001/chat").await?;
/// let request = http::Request::get("wss://example.com/chat")
///     .header("Authorization", "Bearer s3cr3t")
///     .body(())
///     .expect("a valid request");
/// let (ws, _) = tokio_ws::connect(request).await?;
/// # Ok(()) }
/// ```
pub async fn connect(request: impl IntoClientRequest) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    connect_with(request, &Config::default()).await
}

/// [`connect`] with a config. Connecting, TLS and the handshake together may
/// take up to `Config::handshake_timeout`.
pub async fn connect_with(
    request: impl IntoClientRequest,
    config: &Config,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    connect_with_dialer(request, config, &Dialer::new()).await
}

/// [`connect_with`] through `dialer`: a proxy (explicit or from the
/// environment) and your own TLS configuration. Dialing, the proxy's tunnel,
/// TLS and the handshake together may take up to `Config::handshake_timeout`.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use rfc6455::io::{tokio_ws, Dialer};
/// let dialer = Dialer::new().proxy_from_env()?; // HTTPS_PROXY, NO_PROXY, ... as curl reads them
/// let (ws, _) = tokio_ws::connect_with_dialer("wss://example.com/feed", &Default::default(), &dialer).await?;
/// # Ok(()) }
/// ```
pub async fn connect_with_dialer(
    request: impl IntoClientRequest,
    config: &Config,
    dialer: &Dialer,
) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
    let request = request.into_client_request()?;
    let request = &request;
    within(config.handshake_timeout, async {
        // Boxed for the same reason as the handshake's state (see `drive`):
        // a TLS handshake in progress is kilobytes that the caller's future
        // would otherwise keep for the connection's lifetime.
        let stream = Box::pin(dial(request, config, dialer)).await?;
        client_handshake(request, stream, config).await
    })
    .await
}

/// Performs the client handshake over a stream you connected yourself (a
/// TLS stream of your own, an in-memory stream),
/// giving up with [`Error::HandshakeTimeout`] after
/// `Config::handshake_timeout`. `request` is anything [`IntoClientRequest`]
/// takes, as for [`connect`].
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    request: impl IntoClientRequest,
    stream: S,
    config: &Config,
) -> Result<(WebSocketStream<S>, Response), Error> {
    let request = request.into_client_request()?;
    within(config.handshake_timeout, client_handshake(&request, stream, config)).await
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
pub(super) async fn drive<S, D>(stream: &mut S, mut handshake: Box<D>) -> Result<D::Done, Error>
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
