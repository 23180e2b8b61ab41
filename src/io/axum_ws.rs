//! An axum extractor for WebSocket routes (feature `axum`, on `axum-core`
//! so that it works with any axum 0.8): [`WebSocketUpgrade`], with the names
//! axum's own has (`protocols`, `on_failed_upgrade`, `on_upgrade`) and what
//! ours adds: a [`Config`] (limits, heartbeat, permessage-deflate), an
//! [`OriginPolicy`], and the request to check credentials against.
//!
//! ```no_run
//! use axum::{response::Response, routing::get, Router};
//! use rfc6455::io::axum_ws::{WebSocket, WebSocketUpgrade};
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.on_upgrade(|mut socket: WebSocket| async move {
//!         while let Ok(Some(message)) = socket.recv().await {
//!             if socket.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let app: Router = Router::new().route("/ws", get(ws));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! WebSocket over HTTP/2 (RFC 8441) arrives as a `CONNECT`: route both
//! methods (`get(ws).connect(ws)`, or `any(ws)`), and serve HTTP/2 with
//! extended CONNECT allowed: `axum::serve` does with axum's `http2`
//! feature; with hyper-util's auto builder, `builder.http2().enable_connect_protocol()`.
//! `Message` and `CloseCode` are re-exported here, beside [`WebSocket`].
//!
//! An invalid upgrade never reaches the handler: the extractor answers it
//! (400, 405, or 426 with `Sec-WebSocket-Version: 13`). A foreign `Origin`
//! gets 403 from [`on_upgrade`](WebSocketUpgrade::on_upgrade) when an
//! [`origin_policy`](WebSocketUpgrade::origin_policy) is set.

use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;

use super::hyper_ws::{UpgradeError, UpgradeFuture};
use super::tokio_ws::now;
use super::Error;
use crate::handshake::{Accept, OriginPolicy, Reject, UpgradeRequest};
use crate::Config;

pub use super::hyper_ws::WebSocket;
/// The message type (text or binary), re-exported where axum users look for
/// it; the same as [`crate::Message`].
pub use crate::{CloseCode, Message};

/// The extractor of a WebSocket route: a valid upgrade request, waiting for
/// [`on_upgrade`](Self::on_upgrade) to accept it.
#[must_use = "return `on_upgrade(...)` from the handler, or nothing is upgraded"]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    request: UpgradeRequest,
    on_upgrade: OnUpgrade,
    config: Config,
    protocols: Vec<String>,
    origin_policy: Option<OriginPolicy>,
    on_failed: F,
}

impl<F> std::fmt::Debug for WebSocketUpgrade<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("request", &self.request)
            .field("protocols", &self.protocols)
            .field("origin_policy", &self.origin_policy)
            .finish_non_exhaustive()
    }
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// The connection's [`Config`]: limits, heartbeat, timeouts,
    /// permessage-deflate (with feature `deflate`). Default: `Config::default()`.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this route speaks. The client's first offer that is
    /// among them is chosen ([`selected_protocol`](Self::selected_protocol))
    /// and sent back in `Sec-WebSocket-Protocol`; if none is, the upgrade
    /// goes ahead without one (check `selected_protocol` to refuse instead).
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the `Origin` header with `policy` (see [`OriginPolicy`]): a
    /// request from an origin it does not admit is answered 403 by
    /// [`on_upgrade`](Self::on_upgrade). Browsers send `Origin`; set a policy
    /// on any route a browser page can reach, or any site can open it with
    /// the user's cookies. Default: no check, as with axum's own extractor
    /// (the policy you pass decides; [`OriginPolicy::default`] is
    /// same-origin).
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.origin_policy = Some(policy);
        self
    }

    /// The request: path, headers, `Origin`, offered subprotocols and
    /// extensions, [`bearer_token`](UpgradeRequest::bearer_token),
    /// [`cookie`](UpgradeRequest::cookie), to authenticate before upgrading.
    pub fn request(&self) -> &UpgradeRequest {
        &self.request
    }

    /// The subprotocol that [`on_upgrade`](Self::on_upgrade) will accept: the
    /// client's first offer among [`protocols`](Self::protocols).
    pub fn selected_protocol(&self) -> Option<&str> {
        self.request.protocols().find(|offered| self.protocols.iter().any(|ours| ours == offered))
    }

    /// What to do if the connection cannot be handed over after the `101`
    /// (the client went away, or the server runs without upgrades); by
    /// default nothing.
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            request: self.request,
            on_upgrade: self.on_upgrade,
            config: self.config,
            protocols: self.protocols,
            origin_policy: self.origin_policy,
            on_failed: callback,
        }
    }

    /// Accepts the upgrade: returns the `101 Switching Protocols` response
    /// for the handler to return, and runs `callback` with the WebSocket in
    /// a new tokio task once axum has sent it. A foreign `Origin` (with an
    /// [`origin_policy`](Self::origin_policy)) gets 403 instead.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(Err(reject)) = self.origin_policy.as_ref().map(|policy| policy.check(&self.request)) {
            return rejection(&reject);
        }
        let mut accept = Accept::new();
        if let Some(protocol) = self.selected_protocol() {
            match accept.protocol(protocol) {
                Ok(with_protocol) => accept = with_protocol,
                Err(err) => return rejection(&Reject::from(err)),
            }
        }
        let (response, conn) = match self.request.accept_http(&accept, &self.config, now()) {
            Ok(answer) => answer,
            Err(err) => return rejection(&Reject::from(err)),
        };
        let (upgrade, on_failed) = (UpgradeFuture::new(self.on_upgrade, conn), self.on_failed);
        ::tokio::spawn(async move {
            match upgrade.await {
                Ok(socket) => callback(socket).await,
                Err(err) => on_failed.call(err),
            }
        });
        response.map(|()| Body::empty())
    }
}

fn rejection(reject: &Reject) -> Response {
    reject.to_http().map(Body::from)
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    /// Validates the upgrade as our own server handshake does (with the
    /// default [`Config`]'s header limits), and takes the connection's
    /// upgrade handle from hyper.
    async fn from_request_parts(parts: &mut http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = if parts.method == http::Method::CONNECT {
            let protocol = super::hyper_ws::protocol_of(&parts.extensions);
            UpgradeRequest::from_http2_parts(parts, protocol, &Config::default())
        } else {
            UpgradeRequest::from_http_parts(parts, &Config::default())
        }
        .map_err(|err| WebSocketUpgradeRejection(UpgradeError::refused(Reject::from_error(&err))))?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
            let reject = Reject::new(http::StatusCode::UPGRADE_REQUIRED).map(|reject| {
                reject.body("this connection cannot be upgraded (is the server hyper with upgrades on?)\n")
            });
            WebSocketUpgradeRejection(UpgradeError::refused(reject.unwrap_or_else(Reject::from)))
        })?;
        Ok(Self {
            request,
            on_upgrade,
            config: Config::default(),
            protocols: Vec::new(),
            origin_policy: None,
            on_failed: DefaultOnFailedUpgrade,
        })
    }
}

/// Why [`WebSocketUpgrade`] refused a request; answers it with the status
/// (400, 405, 426) and a short plain-text reason.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct WebSocketUpgradeRejection(UpgradeError);

impl WebSocketUpgradeRejection {
    /// The status of the answer.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.0.into_http().map(Body::from)
    }
}

/// What [`WebSocketUpgrade::on_failed_upgrade`] runs when the connection
/// cannot be handed over: any `FnOnce(Error) + Send + 'static`.
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the reason.
    fn call(self, error: Error);
}

impl<F: FnOnce(Error) + Send + 'static> OnFailedUpgrade for F {
    fn call(self, error: Error) {
        self(error);
    }
}

/// The default [`OnFailedUpgrade`]: does nothing (the client is gone).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, _error: Error) {}
}
