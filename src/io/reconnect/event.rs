//! What a [`ReconnectingClient`](super::ReconnectingClient) reports, and where it is.

use std::time::Duration;

use crate::handshake::Response;
use crate::io::Error;
use crate::{CloseReason, Message};

/// What [`ReconnectingClient::next`](super::ReconnectingClient::next) reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A dial starts: `retry` is 0 for a first dial, `n` for the `n`-th
    /// retry in a row.
    Connecting {
        /// How many retries in a row this dial is.
        retry: u32,
    },
    /// The handshake succeeded (the server's response). Set the connection
    /// up here (re-subscribe, re-send state): [`send`](super::ReconnectingClient::send)
    /// works from now on.
    Open(Response),
    /// A message from the server.
    Message(Message),
    /// A dial failed or the connection ended unexpectedly. When `will_retry`,
    /// [`Reconnecting`](Self::Reconnecting) follows; otherwise [`GaveUp`](Self::GaveUp).
    Disconnected {
        /// What failed.
        reason: DisconnectReason,
        /// Whether the client will dial again.
        will_retry: bool,
    },
    /// The client waits `delay` before its `retry`-th retry in a row. Call
    /// [`close`](super::ReconnectingClient::close) to stop instead.
    Reconnecting {
        /// How many retries in a row the next dial will be (1 for the first).
        retry: u32,
        /// How long the client waits before dialing.
        delay: Duration,
    },
    /// The client stopped after a failure: [`Backoff::max_retries`](crate::Backoff::max_retries) retries
    /// in a row failed, or the failure was one that retrying would not fix
    /// (the [`Disconnected`](Self::Disconnected) just before says which).
    /// `next` returns `None` from now on.
    GaveUp {
        /// How many retries in a row were made.
        retries: u32,
    },
    /// The client finished without a failure: the application's
    /// [`close`](super::ReconnectingClient::close) completed, or the server closed
    /// normally (1000). `next` returns `None` from now on.
    Closed {
        /// How the last connection ended; `None` if none was open.
        reason: Option<CloseReason>,
    },
}

/// Why a dial or a connection failed, in [`ClientEvent::Disconnected`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The dial or the opening handshake failed: [`Error::Io`] (refused,
    /// unreachable, reset), [`Error::HandshakeTimeout`], or [`Error::Handshake`]
    /// (a refusal, [`HandshakeError::Rejected`](crate::HandshakeError::Rejected),
    /// carries the server's status).
    DialFailed(Error),
    /// The open connection ended; the reason says how: a close frame from
    /// the server (with its code), a transport that dropped (`Abnormal`), a
    /// protocol error or a timeout.
    Closed(CloseReason),
    /// The open connection's stream failed (usually [`Error::Io`]).
    Transport(Error),
}

/// Where a [`ReconnectingClient`](super::ReconnectingClient) is, like a browser WebSocket's `readyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientState {
    /// Dialing or in the opening handshake.
    Connecting,
    /// A connection is open: messages flow.
    Open,
    /// Waiting out a back-off delay before the next dial.
    Waiting,
    /// The application closed; the close handshake is finishing.
    Closing,
    /// Finished: closed, or gave up. Nothing more happens.
    Closed,
}
