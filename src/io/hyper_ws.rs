//! WebSocket routes inside a hyper 1.x server (feature `hyper`): the upgrade
//! is validated and answered by the same code as our own server handshake,
//! and the connection then runs on hyper's upgraded stream with the tokio
//! adapter.
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::{Either, Empty, Full};
//! use rfc6455::io::hyper_ws;
//!
//! type Body = Either<Empty<Bytes>, Full<Bytes>>;
//!
//! // A hyper service: the WebSocket route beside ordinary ones.
//! async fn route(mut request: http::Request<hyper::body::Incoming>) -> Result<http::Response<Body>, hyper::Error> {
//!     if request.uri().path() != "/ws" || !hyper_ws::is_upgrade_request(&request) {
//!         return Ok(http::Response::new(Either::Right(Full::from("hello"))));
//!     }
//!     match hyper_ws::upgrade(&mut request) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let mut socket = upgrade.await?;
//!                 while let Some(message) = socket.recv().await? {
//!                     socket.send(message).await?;
//!                 }
//!                 Ok::<_, rfc6455::io::Error>(())
//!             });
//!             Ok(response.map(Either::Left))
//!         }
//!         // 400, 426 (with Sec-WebSocket-Version: 13), 403 from a hook ...
//!         Err(refused) => Ok(refused.into_response().map(Either::Right)),
//!     }
//! }
//! ```
//!
//! Serve HTTP/1.1 connections with `.with_upgrades()` (hyper's
//! `server::conn::http1::Builder::serve_connection(..).with_upgrades()`, or
//! hyper-util's auto builder's `serve_connection_with_upgrades`): without it
//! hyper never hands the connection over, and the [`UpgradeFuture`] fails.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

use super::tokio_ws::{now, WebSocketStream};
use super::Error;
use crate::handshake::{Accept, Reject, UpgradeRequest};
use crate::http_token::has_token;
use crate::{Config, Connection, HandshakeError};

/// A WebSocket over hyper's upgraded connection: the tokio adapter's
/// [`WebSocketStream`], with all its methods (`recv`, `send`, `close`,
/// `into_split`, `Stream`/`Sink`).
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// True if `request` asks for a WebSocket: an HTTP/1.1 upgrade
/// (`Upgrade: websocket` and `Connection: Upgrade`) or HTTP/2's extended
/// `CONNECT` with `:protocol` `websocket` (RFC 8441), whether or not it is a
/// valid one: route it to [`upgrade`], which answers an invalid one with the
/// right status.
pub fn is_upgrade_request<B>(request: &http::Request<B>) -> bool {
    if is_extended_connect(request) {
        return true;
    }
    let values = |name| request.headers().get_all(name).into_iter().map(http::HeaderValue::as_bytes);
    has_token(values(http::header::UPGRADE), "websocket") && has_token(values(http::header::CONNECTION), "upgrade")
}

/// RFC 8441's extended CONNECT with `:protocol` `websocket` (HTTP/2).
fn is_extended_connect<B>(request: &http::Request<B>) -> bool {
    request.method() == http::Method::CONNECT
        && protocol_of(request.extensions()).is_some_and(|protocol| protocol.eq_ignore_ascii_case("websocket"))
}

/// The `:protocol` pseudo-header of an HTTP/2 request, which hyper keeps
/// in the request's extensions.
pub(crate) fn protocol_of(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<hyper::ext::Protocol>().map(hyper::ext::Protocol::as_str)
}

/// Accepts a WebSocket upgrade with the default [`Config`], choosing no
/// subprotocol; see [`upgrade_with`].
///
/// # Errors
///
/// An [`UpgradeError`] holding the HTTP response to send instead (400,
/// 405, 426).
pub fn upgrade<B>(
    request: &mut http::Request<B>,
) -> Result<(http::Response<Empty<Bytes>>, UpgradeFuture), UpgradeError> {
    upgrade_with(request, &Config::default(), |_| Ok(Accept::new()))
}

/// Accepts a WebSocket upgrade: validates `request` exactly as our own
/// server handshake does (`GET`, HTTP/1.1, `Upgrade`/`Connection`, `Host`,
/// the key, `Sec-WebSocket-Version: 13`, the syntax of subprotocols and
/// extensions; or, over HTTP/2, RFC 8441's extended `CONNECT` with
/// `:protocol` `websocket`, answered `200`), lets `hook` decide (Origin policy, authentication, the
/// subprotocol; a [`Reject`] becomes the response), negotiates
/// permessage-deflate from `config`, and gives the `101` response to return
/// from the service and the future of the WebSocket, which resolves once
/// hyper has sent the response and handed the connection over.
///
/// # Errors
///
/// An [`UpgradeError`] holding the HTTP response to send instead: 400 for
/// a malformed upgrade, 405 for a method other than `GET`, 426 with
/// `Sec-WebSocket-Version: 13` for another version, the hook's own
/// rejection, 500 if the hook chose a subprotocol the client did not offer.
pub fn upgrade_with<B, F>(
    request: &mut http::Request<B>,
    config: &Config,
    hook: F,
) -> Result<(http::Response<Empty<Bytes>>, UpgradeFuture), UpgradeError>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let upgrade = if request.method() == http::Method::CONNECT {
        UpgradeRequest::from_http2(request, protocol_of(request.extensions()), config)
    } else {
        UpgradeRequest::from_http(request, config)
    }
    .map_err(UpgradeError::invalid)?;
    let accept = hook(&upgrade).map_err(UpgradeError::refused)?;
    let (response, conn) =
        upgrade.accept_http(&accept, config, now()).map_err(|err| UpgradeError::refused(Reject::from(err)))?;
    let on_upgrade = hyper::upgrade::on(request);
    Ok((response.map(|()| Empty::new()), UpgradeFuture { on_upgrade, conn: Some(conn) }))
}

/// The WebSocket of an accepted upgrade: resolves once hyper has written the
/// `101` response and handed the connection over (so return the response
/// from your service first, and await this in a spawned task).
#[must_use = "the WebSocket exists only once this future is awaited"]
pub struct UpgradeFuture {
    on_upgrade: OnUpgrade,
    conn: Option<Connection>,
}

impl std::fmt::Debug for UpgradeFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeFuture").field("done", &self.conn.is_none()).finish_non_exhaustive()
    }
}

impl UpgradeFuture {
    /// The future for an upgrade answered elsewhere (the axum extractor):
    /// `conn` runs over what `on_upgrade` gives.
    #[cfg(feature = "axum")]
    pub(crate) fn new(on_upgrade: OnUpgrade, conn: Connection) -> Self {
        Self { on_upgrade, conn: Some(conn) }
    }
}

impl Future for UpgradeFuture {
    /// The WebSocket, or [`Error::Io`] if hyper could not hand the connection
    /// over (the client went away, or the server runs without upgrades).
    type Output = Result<WebSocket, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let upgraded = match Pin::new(&mut this.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        let conn = this.conn.take().ok_or(Error::Usage(crate::UsageError::Closed))?;
        Poll::Ready(match upgraded {
            Ok(upgraded) => Ok(WebSocketStream::from_connection(TokioIo::new(upgraded), conn)),
            Err(err) => Err(Error::Io(std::io::Error::other(format!(
                "hyper did not hand the connection over ({err}); serve HTTP/1.1 connections with .with_upgrades()"
            )))),
        })
    }
}

/// An upgrade that was not accepted, with the HTTP response to send
/// instead ([`into_response`](Self::into_response)).
#[derive(Debug, thiserror::Error)]
#[error("WebSocket upgrade refused with {}: {}", .0.response.status(), .0.reason)]
pub struct UpgradeError(Box<Refusal>);

#[derive(Debug)]
struct Refusal {
    response: http::Response<Bytes>,
    reason: String,
    handshake: Option<HandshakeError>,
}

impl UpgradeError {
    fn invalid(err: HandshakeError) -> Self {
        let response = Reject::from_error(&err).to_http();
        Self(Box::new(Refusal { response, reason: err.to_string(), handshake: Some(err) }))
    }

    pub(crate) fn refused(reject: Reject) -> Self {
        let response = reject.to_http();
        let reason = String::from_utf8_lossy(response.body()).trim().to_owned();
        let reason = if reason.is_empty() { "refused by the handshake hook".to_owned() } else { reason };
        Self(Box::new(Refusal { response, reason, handshake: None }))
    }

    /// The status of the response (400, 403, 426, ...).
    pub fn status(&self) -> http::StatusCode {
        self.0.response.status()
    }

    /// What was wrong with the request, if it was not a valid upgrade (as
    /// opposed to one the hook refused).
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        self.0.handshake.as_ref()
    }

    /// The response to send: the status, its headers (`Sec-WebSocket-Version`
    /// for a 426) and a short plain-text body saying why.
    pub fn into_response(self) -> http::Response<Full<Bytes>> {
        self.0.response.map(Full::new)
    }

    /// The response with its body as `Bytes`, for any body type.
    pub fn into_http(self) -> http::Response<Bytes> {
        self.0.response
    }
}

/// Opens a WebSocket over HTTP/2 (RFC 8441) on an HTTP/2 connection you
/// made with hyper's client (`hyper::client::conn::http2::handshake`): an
/// extended `CONNECT` for `request`'s path, with its headers, subprotocols
/// and the permessage-deflate offer from `config`. Several WebSockets and
/// ordinary requests can share the connection; each WebSocket is one
/// HTTP/2 stream, with HTTP/2's flow control underneath.
///
/// `request`'s scheme says which `:scheme` to send (`wss` for `https`);
/// the connection itself (h2c, or TLS with ALPN `h2`) is yours, with any
/// request body type that has a `Default` (the extended CONNECT sends an
/// empty one): `Empty<Bytes>`, `Full<Bytes>`, `BoxBody`. The exchange is
/// bounded by `Config::handshake_timeout`; a refusal's body is read (up to
/// `Config::max_handshake_bytes`) into the error's response.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use hyper_util::rt::{TokioExecutor, TokioIo};
/// use rfc6455::io::hyper_ws;
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:8080").await?;
/// let (mut sender, connection) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
///     TokioExecutor::new(),
///     TokioIo::new(tcp),
/// )
/// .await?;
/// tokio::spawn(connection);
/// let (mut socket, _) = hyper_ws::connect_h2(&mut sender, "ws://127.0.0.1:8080/ws", &Default::default()).await?;
/// socket.send("over HTTP/2").await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Io`] if the server does not allow extended CONNECT (it must
/// send `SETTINGS_ENABLE_CONNECT_PROTOCOL`: hyper's
/// `http2().enable_connect_protocol()`), or the connection failed;
/// [`Error::Handshake`] with the response for a refusal (any status but
/// 2xx) or an answer that chose what was not offered.
pub async fn connect_h2<B>(
    sender: &mut hyper::client::conn::http2::SendRequest<B>,
    request: impl crate::IntoClientRequest,
    config: &Config,
) -> Result<(WebSocket, crate::handshake::Response), Error>
where
    B: hyper::body::Body + Default + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request = request.into_client_request()?;
    super::tokio_ws::within(config.handshake_timeout, open_h2(sender, &request, config)).await
}

async fn open_h2<B>(
    sender: &mut hyper::client::conn::http2::SendRequest<B>,
    request: &crate::handshake::ClientRequest,
    config: &Config,
) -> Result<(WebSocket, crate::handshake::Response), Error>
where
    B: hyper::body::Body + Default + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;

    let mut handshake = crate::handshake::ClientHandshake::new(request, config, super::os_seed());
    let mut connect = handshake.http2_request(request.is_secure()).map(|()| B::default());
    connect.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
    let response = sender.send_request(connect).await.map_err(|err| {
        Error::Io(std::io::Error::other(format!(
            "the HTTP/2 server did not take the WebSocket request ({err}): it must allow RFC 8441's extended CONNECT \
             (SETTINGS_ENABLE_CONNECT_PROTOCOL; in hyper, http2().enable_connect_protocol())"
        )))
    })?;
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        // A refusal: its body says why, read up to the handshake's limit.
        let limited = http_body_util::Limited::new(body, config.max_handshake_bytes.saturating_add(1));
        let text = limited.collect().await.ok().map(|collected| collected.to_bytes());
        return Err(handshake
            .handle_http2_response(&parts, text)
            .err()
            .map_or(Error::Usage(crate::UsageError::HandshakeIncomplete), Error::Handshake));
    }
    let answer = handshake.handle_http2_response(&parts, None)?;
    let upgraded = hyper::upgrade::on(http::Response::from_parts(parts, body))
        .await
        .map_err(|err| Error::Io(std::io::Error::other(format!("the HTTP/2 stream was not handed over: {err}"))))?;
    let conn = handshake.into_connection(now())?;
    Ok((WebSocketStream::from_connection(TokioIo::new(upgraded), conn), answer))
}
