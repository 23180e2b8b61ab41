//! A sans-IO WebSocket ([RFC 6455]) implementation, with blocking and tokio
//! adapters.
//!
//! # Quick start
//!
//! A tokio client (feature `tokio`; the blocking adapter, `io::blocking`, has
//! the same calls without `.await`):
//!
//! ```no_run
//! use rfc6455::{io::tokio_ws as ws, CloseCode};
//!
//! # async fn run() -> Result<(), rfc6455::io::Error> {
//! let (mut socket, _response) = ws::connect("ws://127.0.0.1:9001/").await?;
//! socket.send("hello").await?;
//! if let Some(reply) = socket.recv().await? {
//!     println!("got {reply:?}");
//! }
//! socket.close(CloseCode::NORMAL, "done").await?;
//! while socket.recv().await?.is_some() {} // until the server answers the close
//! println!("{:?}", socket.connection().close_reason());
//! # Ok(()) }
//! ```
//!
//! and an echo server, one task per connection:
//!
//! ```no_run
//! use rfc6455::io::tokio_ws as ws;
//!
//! # async fn run() -> Result<(), rfc6455::io::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut socket = ws::accept(tcp).await?;
//!         while let Some(message) = socket.recv().await? {
//!             socket.send(message).await?;
//!         }
//!         Ok::<_, rfc6455::io::Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! Pings, pongs and the close handshake are answered for you; `Message`
//! holds data only. Limits, the heartbeat and permessage-deflate are set in
//! [`Config`] (`accept_with`, `connect_with`).
//!
//! # Coming from tokio-tungstenite
//!
//! | tokio-tungstenite | here (`rfc6455::io::tokio_ws as ws`) |
//! |---|---|
//! | `connect_async(request)` | `ws::connect(request)`: a `&str`, `String`, `http::Uri`, `http::Request<()>` or [`handshake::ClientRequest`] ([`IntoClientRequest`]) |
//! | `accept_async(stream)`, `accept_hdr_async(stream, callback)` | `ws::accept(stream)`, `ws::accept_with(stream, &config, hook)` |
//! | `WebSocketConfig` | [`Config`] |
//! | `StreamExt::next`, `SinkExt::send`, `StreamExt::split` | the same; also `recv()`, `send()`, and `into_split()` for `(reader, writer)` |
//! | `Message::Ping`/`Pong` | `ping(payload)`, `pong(payload)`; received pings are answered for you |
//! | `Message::Close`, `Error::ConnectionClosed` | `recv()` gives `Ok(None)` after a normal close, `Err(Error::Closed(reason))` after any other ([`CloseReason::is_normal`]) |
//! | `close(None)` | `close(CloseCode::NORMAL, "")`, then `recv()` until `Ok(None)` |
//! | `response.status()` | an `http::StatusCode`; `to_http()` gives `http::Response<()>` |
//!
//! The README's section of the same name says why the differences are
//! deliberate.
//!
//! # The sans-IO core
//!
//! The core of this crate is pure code: it takes bytes and the current time
//! in, and gives bytes to send, events and the next deadline out. It never
//! touches a socket, never reads the clock and never spawns anything, so the
//! same protocol logic runs under any runtime, in tests at virtual speed,
//! and in a fuzzer.
//!
//! * [`handshake`]: the HTTP/1.1 upgrade, client ([`handshake::ClientHandshake`])
//!   and server ([`handshake::ServerHandshake`]).
//! * [`Connection`]: the state machine after the handshake: framing,
//!   fragmentation, incremental UTF-8 validation, control frames, the close
//!   handshake and size limits.
//! * [`frame`]: the frame codec on its own, for tools that need frames.
//! * [`Backoff`] and [`RetryDecision`]: when and how soon a client that
//!   reconnects dials again (`io::reconnect`, feature `tokio`, drives them).
//!
//! ## Example: a client and a server in memory
//!
//! ```
//! use std::time::Instant;
//! use rfc6455::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
//! use rfc6455::{CloseCode, Config, Connection, Event, Message, Status};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now();
//! let config = Config::default();
//!
//! // Opening handshake: the client's request goes to the server ...
//! let request = ClientRequest::new("ws://example.com/chat")?.protocol("chat")?;
//! let mut client_hs = ClientHandshake::new(&request, &config, rand::random());
//! let mut server_hs = ServerHandshake::new(&config);
//! server_hs.handle_read(client_hs.poll_transmit());
//! client_hs.advance_transmit(client_hs.poll_transmit().len());
//! let Status::Complete(upgrade) = server_hs.poll_request()? else { unreachable!() };
//! assert_eq!(upgrade.path(), "/chat");
//! let mut server = server_hs.accept(&Accept::new().protocol("chat")?, now)?;
//!
//! // ... and the server's 101 response comes back.
//! client_hs.handle_read(server.poll_transmit());
//! let n = server.poll_transmit().len();
//! server.advance_transmit(n);
//! let Status::Complete(response) = client_hs.poll_response()? else { unreachable!() };
//! assert_eq!(response.protocol(), Some("chat"));
//! let mut client = client_hs.into_connection(now)?;
//!
//! // Moves every pending byte from one side to the other.
//! fn deliver(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     let bytes = from.poll_transmit().to_vec();
//!     from.advance_transmit(bytes.len());
//!     to.handle_read(&bytes, now);
//! }
//!
//! client.send_text("hello")?;
//! deliver(&mut client, &mut server, now);
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::from("hello"))));
//!
//! // The client closes; the server answers; both see a clean close.
//! client.close(CloseCode::NORMAL, "bye", now)?;
//! deliver(&mut client, &mut server, now);
//! let Some(Event::Closed(reason)) = server.poll_event() else { unreachable!() };
//! assert!(reason.was_clean());
//! deliver(&mut server, &mut client, now);
//! let Some(Event::Closed(reason)) = client.poll_event() else { unreachable!() };
//! assert_eq!(reason.code(), CloseCode::NORMAL);
//! assert!(server.should_close_transport()); // the server closes TCP first
//! # Ok(())
//! # }
//! ```
//!
//! ## The run loop
//!
//! An adapter that puts a [`Connection`] on a transport repeats, in this order:
//!
//! 1. hand every [`Connection::poll_event`] to the application until it
//!    returns `None` (decoding happens here, and may queue pongs and close
//!    replies; the application may queue messages);
//! 2. write [`Connection::poll_transmit`] to the transport and report what
//!    was written with [`Connection::advance_transmit`];
//! 3. stop once [`Connection::should_close_transport`] is true (close the
//!    transport);
//! 4. wait until the transport is readable (or writable, while
//!    [`Connection::buffered_amount`] is not zero) or until
//!    [`Connection::poll_timeout`], then call [`Connection::handle_read`],
//!    [`Connection::handle_eof`] or [`Connection::handle_timeout`] with the
//!    current time.
//!
//! Draining events before writing matters: a pong or a close reply queued
//! while decoding must go out before the loop blocks on the next read. Drain
//! events before sending too, so that a close from the peer is seen before
//! more data is queued after it.
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
// docs.rs builds with `--cfg docsrs` on nightly: mark feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod budget;
mod config;
pub mod connection;
mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
mod http_token;
#[cfg(any(feature = "blocking", feature = "tokio"))]
pub mod io;
mod reconnect;
mod role;
mod utf8;

pub use budget::MemoryBudget;
pub use config::Config;
pub use connection::{
    CloseFrame, Connection, Event, Message, MessagePart, PreparedMessage, ReadyState, RttEstimate, State,
};
pub use error::{CloseReason, HandshakeError, HttpParseError, Initiator, ProtocolError, TimeoutKind, UsageError};
pub use frame::{CloseCode, DataKind};
pub use handshake::IntoClientRequest;
pub use reconnect::{Backoff, RetryDecision};
pub use role::Role;
pub use utf8::Utf8Bytes;

/// The result of parsing something that may not have fully arrived yet.
///
/// "Need more bytes" is a value, not an error: on `Partial`, append what the
/// transport delivers next and call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status<T> {
    /// Parsing finished with this result.
    Complete(T),
    /// More input is needed.
    Partial,
}

impl<T> Status<T> {
    /// True for `Complete`.
    pub fn is_complete(&self) -> bool {
        matches!(self, Self::Complete(_))
    }

    /// The result, if complete.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(value) => Some(value),
            Self::Partial => None,
        }
    }
}

/// The README's examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
