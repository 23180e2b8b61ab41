//! A client that dials again after a failure, with exponential back-off and
//! jitter, on top of the [tokio adapter](mod@crate::io::tokio_ws).
//!
//! [`ReconnectingClient::next`] drives everything and reports what happens
//! as [`ClientEvent`]s. Each dial sends the same [`ClientRequest`] (its
//! headers, e.g. an `Authorization` token, and its subprotocols); on every
//! [`ClientEvent::Open`] the application sets the new connection up again
//! (re-subscribes): the server kept nothing from the previous one.
//!
//! ```no_run
//! use rfc6455::handshake::ClientRequest;
//! use rfc6455::io::reconnect::{ClientEvent, ReconnectingClient};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let request = ClientRequest::new("ws://127.0.0.1:9001/feed")?.header("Authorization", "Bearer s3cr3t")?;
//! let mut client = ReconnectingClient::new(request, rfc6455::Config::default())?;
//! while let Some(event) = client.next().await {
//!     match event {
//!         ClientEvent::Open(_) => client.send("subscribe prices").await?,
//!         ClientEvent::Message(message) => println!("{message:?}"),
//!         other => eprintln!("{other:?}"), // connecting, disconnected, reconnecting, ...
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! **When it dials again.** After a failed dial or handshake, or an open
//! connection that ended, as [`RetryDecision`] decides: transport errors,
//! timeouts, 5xx/408/429 answers and servers going away (1001, 1011-1014)
//! are retried; refusals that would repeat (401, 403, 404, ...) and closes
//! that blame the client (1002, 1003, 1007-1010) give up; a normal close from
//! the server (1000) finishes. The application's own [`close`](ReconnectingClient::close)
//! always finishes. Waits follow [`Backoff`]; the retry count starts again
//! once a connection stayed open for [`Backoff::reset_after`].
//!
//! **Cancel safety.** `next` is cancel-safe: a dial, a wait or a read in
//! progress is kept in the client and resumed by the next call, so `next`
//! can sit in a `tokio::select!` beside a timer that sends.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::time::{Instant, Sleep};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::proxy::ProxyError;
use super::tokio_ws::{client_handshake, dial, within, MaybeTlsStream, WebSocketStream};
use super::Error;
use super::{Dialer, TlsError};
use crate::handshake::{ClientRequest, Response};
use crate::{Backoff, CloseCode, CloseReason, Config, Connection, Message, RetryDecision, UsageError};

mod event;

pub use event::{ClientEvent, ClientState, DisconnectReason};

/// What dials a transport: called once per dial.
type Connector<S> = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Result<S, Error>> + Send>> + Send>;

/// A dial and its handshake in progress.
type Dialing<S> = Pin<Box<dyn Future<Output = Result<(WebSocketStream<S>, Response), Error>> + Send>>;

enum Phase<S> {
    /// The next call to `next` dials.
    Dial,
    Dialing(Dialing<S>),
    Waiting(Pin<Box<Sleep>>),
    Open {
        socket: WebSocketStream<S>,
        since: Instant,
    },
    Closing(WebSocketStream<S>),
    Finished,
}

/// A WebSocket client that reconnects; see the [module docs](self).
pub struct ReconnectingClient<S> {
    request: ClientRequest,
    config: Config,
    connector: Connector<S>,
    backoff: Backoff,
    rng: StdRng,
    /// Retries made in the current series of failures.
    retries: u32,
    phase: Phase<S>,
    /// Events decided but not yet returned by `next`.
    events: VecDeque<ClientEvent>,
}

impl ReconnectingClient<MaybeTlsStream> {
    /// A client for a `ws://` or `wss://` request that dials the request's
    /// host and port directly (TCP with `TCP_NODELAY`, then TLS for `wss://`
    /// with the default TLS configuration). Nothing happens until
    /// [`next`](Self::next). For a proxy or your own TLS configuration use
    /// [`with_dialer`](Self::with_dialer).
    ///
    /// `request` is a URL, an [`http::Uri`], an
    /// [`http::Request<()>`](http::Request) or a [`ClientRequest`]; see
    /// [`IntoClientRequest`](crate::IntoClientRequest) for what is refused.
    pub fn new(request: impl crate::IntoClientRequest, config: Config) -> Result<Self, UsageError> {
        Self::with_dialer(request, config, Dialer::new())
    }

    /// A client that dials through `dialer` (a proxy, explicit or from the
    /// environment; your own TLS configuration), once per dial. A proxy or
    /// TLS failure counts as a failed dial: retried, except a TLS setup that
    /// cannot succeed (no TLS feature, no roots, a certificate refused) and a
    /// proxy that refuses this client (401/403/407, SOCKS rules or
    /// credentials), which give up.
    pub fn with_dialer(
        request: impl crate::IntoClientRequest,
        config: Config,
        dialer: Dialer,
    ) -> Result<Self, UsageError> {
        let request = request.into_client_request()?;
        let (dial_request, dial_config) = (request.clone(), config.clone());
        Ok(Self::from_parts(request, config, move || {
            let (request, config, dialer) = (dial_request.clone(), dial_config.clone(), dialer.clone());
            Box::pin(async move { dial(&request, &config, &dialer).await })
        }))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ReconnectingClient<S> {
    /// A client whose transport comes from `connector`, called once per dial
    /// (a stream you build yourself, an in-memory stream in tests); an error
    /// from it counts as a failed dial. Dialing and the handshake together
    /// are bounded by `Config::handshake_timeout`.
    ///
    /// `request` is anything [`IntoClientRequest`](crate::IntoClientRequest)
    /// takes, as for [`new`](ReconnectingClient::new); a `wss://` request is
    /// fine here, the connector dials TLS.
    ///
    /// # Errors
    ///
    /// What [`IntoClientRequest`](crate::IntoClientRequest) refuses, before
    /// any dial.
    pub fn with_connector<F, Fut>(
        request: impl crate::IntoClientRequest,
        config: Config,
        mut connector: F,
    ) -> Result<Self, UsageError>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
    {
        let request = request.into_client_request()?;
        Ok(Self::from_parts(request, config, move || {
            let stream = connector();
            Box::pin(async move { Ok(stream.await?) })
        }))
    }

    fn from_parts<F>(request: ClientRequest, config: Config, connector: F) -> Self
    where
        F: FnMut() -> Pin<Box<dyn Future<Output = Result<S, Error>> + Send>> + Send + 'static,
    {
        Self {
            request,
            config,
            connector: Box::new(connector),
            backoff: Backoff::default(),
            rng: StdRng::from_seed(super::os_seed()),
            retries: 0,
            phase: Phase::Dial,
            events: VecDeque::new(),
        }
    }

    /// Sets the back-off schedule (default: [`Backoff::default`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Seeds the generator of the delays' jitter, for reproducible tests
    /// (default: seeded from the operating system).
    pub fn rng_seed(mut self, seed: [u8; 32]) -> Self {
        self.rng = StdRng::from_seed(seed);
        self
    }

    /// Replaces the request used from the next dial on (a refreshed token).
    /// `request` is anything [`IntoClientRequest`](crate::IntoClientRequest)
    /// takes.
    ///
    /// # Errors
    ///
    /// What [`IntoClientRequest`](crate::IntoClientRequest) refuses; the
    /// current request is then kept.
    pub fn set_request(&mut self, request: impl crate::IntoClientRequest) -> Result<(), UsageError> {
        self.request = request.into_client_request()?;
        Ok(())
    }

    /// The open connection's state machine (statistics, negotiated
    /// parameters), or `None` while not connected.
    pub fn connection(&self) -> Option<&Connection> {
        match &self.phase {
            Phase::Open { socket, .. } | Phase::Closing(socket) => Some(socket.connection()),
            _ => None,
        }
    }

    /// The next event: drives dials, waits and the open connection until
    /// something happens. `None` after [`ClientEvent::GaveUp`] or
    /// [`ClientEvent::Closed`]. Cancel-safe.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            match &mut self.phase {
                Phase::Dial => self.start_dial(),
                Phase::Dialing(dialing) => {
                    let result = dialing.as_mut().await;
                    self.dialed(result);
                }
                Phase::Waiting(sleep) => {
                    sleep.as_mut().await;
                    self.phase = Phase::Dial;
                }
                Phase::Open { socket, .. } | Phase::Closing(socket) => {
                    let result = socket.recv().await;
                    self.received(result);
                }
                Phase::Finished => return None,
            }
        }
    }

    /// Sends a message on the open connection. [`Error::NotConnected`] while
    /// dialing or waiting (nothing is queued for a later connection: send it
    /// again after [`ClientEvent::Open`]); [`UsageError::Closed`] once closing
    /// or finished. An I/O error here also ends the connection, which `next`
    /// then reports. Cancel-safe like [`WebSocketStream::send`].
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Open { socket, .. } => socket.send(message).await,
            Phase::Closing(_) | Phase::Finished => Err(UsageError::Closed.into()),
            Phase::Dial | Phase::Dialing(_) | Phase::Waiting(_) => Err(Error::NotConnected),
        }
    }

    /// Closes for good: no dial follows. With a connection open, sends a
    /// close frame with `code` and `reason`; keep calling [`next`](Self::next),
    /// which finishes the close handshake and reports [`ClientEvent::Closed`].
    /// While dialing or waiting, stops at once (`next` reports `Closed`).
    ///
    /// A `code` that may not be sent or a `reason` over 123 bytes returns
    /// [`Error::Usage`] and changes nothing. An I/O error writing the close
    /// frame is returned, but the client is closing all the same. Closing
    /// again returns [`UsageError::AlreadyClosing`] or [`UsageError::Closed`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Open { socket, since } => {
                // Closing before the first await: a cancelled close still closes.
                self.phase = Phase::Closing(socket);
                let Phase::Closing(socket) = &mut self.phase else { return Ok(()) };
                match socket.close(code, reason).await {
                    // The connection was already ending (the server closed
                    // first): it finishes as a close the application asked for.
                    Err(Error::Usage(UsageError::Closed | UsageError::AlreadyClosing)) => Ok(()),
                    Err(Error::Usage(err)) => {
                        if let Phase::Closing(socket) = std::mem::replace(&mut self.phase, Phase::Finished) {
                            self.phase = Phase::Open { socket, since };
                        }
                        Err(err.into())
                    }
                    result => result,
                }
            }
            Phase::Closing(socket) => {
                self.phase = Phase::Closing(socket);
                Err(UsageError::AlreadyClosing.into())
            }
            Phase::Finished => Err(UsageError::Closed.into()),
            Phase::Dial | Phase::Dialing(_) | Phase::Waiting(_) => {
                // A wait or a dial announced but not yet reported will not happen.
                self.events.retain(|event| !matches!(event, ClientEvent::Reconnecting { .. }));
                self.events.push_back(ClientEvent::Closed { reason: None });
                Ok(())
            }
        }
    }

    fn start_dial(&mut self) {
        let (request, config) = (self.request.clone(), self.config.clone());
        let stream = (self.connector)();
        let limit = config.handshake_timeout;
        let dial_and_handshake = async move {
            let stream = stream.await?;
            client_handshake(&request, stream, &config).await
        };
        self.phase = Phase::Dialing(Box::pin(within(limit, dial_and_handshake)));
        self.events.push_back(ClientEvent::Connecting { retry: self.retries });
    }

    fn dialed(&mut self, result: Result<(WebSocketStream<S>, Response), Error>) {
        match result {
            Ok((socket, response)) => {
                self.phase = Phase::Open { socket, since: Instant::now() };
                self.events.push_back(ClientEvent::Open(response));
            }
            Err(err) => {
                let decision = match &err {
                    Error::Io(_) | Error::HandshakeTimeout(_) => RetryDecision::Retry,
                    Error::Handshake(err) => RetryDecision::after_handshake_error(err),
                    // No TLS library, no roots, a bad PEM: the same next time.
                    Error::Tls(err) if !matches!(err, TlsError::Handshake { .. }) => RetryDecision::GiveUp,
                    // An untrusted certificate stays untrusted.
                    Error::Tls(err) if err.is_certificate_error() => RetryDecision::GiveUp,
                    Error::Tls(_) => RetryDecision::Retry,
                    // A proxy that refuses this client (403, 407) or cannot be
                    // used as configured will do so again; a proxy that is
                    // down, or could not reach the server (502, a SOCKS
                    // "host unreachable"), may not.
                    Error::Proxy(err) => proxy_retry(err),
                    _ => RetryDecision::GiveUp, // a usage error: our request is wrong
                };
                self.failed(DisconnectReason::DialFailed(err), decision);
            }
        }
    }

    fn received(&mut self, result: Result<Option<Message>, Error>) {
        let result = match result {
            Ok(Some(message)) => {
                self.events.push_back(ClientEvent::Message(message));
                return;
            }
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        let (socket, since) = match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Open { socket, since } => (socket, Some(since)),
            Phase::Closing(socket) => (socket, None),
            other => {
                self.phase = other; // not reached: `next` reads only in the two phases above
                return;
            }
        };
        let reason = match result {
            Ok(()) => DisconnectReason::Closed(close_reason(socket.connection())),
            Err(Error::Closed(reason)) => DisconnectReason::Closed(reason),
            Err(err) => DisconnectReason::Transport(err),
        };
        let Some(since) = since else {
            // The application closed: finished, however the close went.
            let reason = match reason {
                DisconnectReason::Closed(reason) => Some(reason),
                _ => socket.connection().close_reason().cloned(),
            };
            self.events.push_back(ClientEvent::Closed { reason });
            return;
        };
        if since.elapsed() >= self.backoff.reset_after {
            self.retries = 0; // it was up long enough: a new series of failures
        }
        let decision = match &reason {
            DisconnectReason::Closed(reason) => RetryDecision::after_close(reason),
            DisconnectReason::DialFailed(_) | DisconnectReason::Transport(_) => RetryDecision::Retry,
        };
        match (decision, reason) {
            (RetryDecision::Finish, DisconnectReason::Closed(reason)) => {
                self.events.push_back(ClientEvent::Closed { reason: Some(reason) });
            }
            (decision, reason) => self.failed(reason, decision),
        }
    }

    /// Reports a failure, then waits to retry or gives up.
    fn failed(&mut self, reason: DisconnectReason, decision: RetryDecision) {
        let delay = match decision {
            RetryDecision::Retry => self.backoff.delay(self.retries, &mut self.rng),
            RetryDecision::Finish | RetryDecision::GiveUp => None,
        };
        self.events.push_back(ClientEvent::Disconnected { reason, will_retry: delay.is_some() });
        match delay {
            Some(delay) => {
                self.retries = self.retries.saturating_add(1);
                self.events.push_back(ClientEvent::Reconnecting { retry: self.retries, delay });
                self.phase = Phase::Waiting(Box::pin(::tokio::time::sleep(delay)));
            }
            None => {
                self.events.push_back(ClientEvent::GaveUp { retries: self.retries });
                self.phase = Phase::Finished;
            }
        }
    }
}

impl<S> ReconnectingClient<S> {
    /// Where the client is now. Events that `next` has not returned yet may
    /// still describe the way here.
    pub fn state(&self) -> ClientState {
        match self.phase {
            Phase::Dial | Phase::Dialing(_) => ClientState::Connecting,
            Phase::Waiting(_) => ClientState::Waiting,
            Phase::Open { .. } => ClientState::Open,
            Phase::Closing(_) => ClientState::Closing,
            Phase::Finished => ClientState::Closed,
        }
    }
}

/// Whether a dial that failed at the proxy is worth repeating.
fn proxy_retry(err: &ProxyError) -> RetryDecision {
    match err {
        ProxyError::Refused { status, .. } if matches!(status.as_u16(), 401 | 403 | 407) => RetryDecision::GiveUp,
        ProxyError::SocksNoAcceptableAuth | ProxyError::SocksAuthFailed => RetryDecision::GiveUp,
        // Reply 2: "connection not allowed by ruleset".
        ProxyError::SocksRefused { reply: 2 } => RetryDecision::GiveUp,
        ProxyError::InvalidUrl { .. } | ProxyError::TooLong { .. } | ProxyError::InvalidTarget(_) => {
            RetryDecision::GiveUp
        }
        _ => RetryDecision::Retry,
    }
}

/// How a connection that ended with a clean close ended (always known then).
fn close_reason(conn: &Connection) -> CloseReason {
    conn.close_reason().cloned().unwrap_or(CloseReason::Abnormal)
}

impl<S> fmt::Debug for ReconnectingClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the request: its headers may hold credentials.
        f.debug_struct("ReconnectingClient")
            .field("host", &self.request.host())
            .field("target", &self.request.target())
            .field("state", &self.state())
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}
