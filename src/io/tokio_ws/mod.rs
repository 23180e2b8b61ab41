//! The tokio adapter: a [`Connection`](crate::Connection) over any `AsyncRead + AsyncWrite + Unpin`.
//!
//! ```no_run
//! use rfc6455::io::tokio_ws as ws;
//! # async fn run() -> Result<(), rfc6455::io::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut socket = ws::accept(tcp).await?;
//!         while let Some(message) = socket.recv().await? {
//!             socket.send(message).await?; // echo
//!         }
//!         Ok::<_, rfc6455::io::Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! [`WebSocketStream`] also implements `futures` `Stream<Item = Result<Message, Error>>`
//! and `Sink<Message>`, so `futures`' `StreamExt::split` gives the usual
//! `(sink, stream)` halves; [`into_split`](WebSocketStream::into_split) gives
//! `(reader, writer)` halves with the adapter's own methods (`recv`, `send`,
//! `ping`, `close`, ...) for separate tasks. Either way the read half keeps
//! answering pings and completing the close handshake; poll it even if the
//! application only ever writes.
//!
//! **Cancel safety.** [`recv`](WebSocketStream::recv) is cancel-safe: if its
//! future is dropped (e.g. another `tokio::select!` branch won), no message
//! is lost; received bytes stay in the connection. [`send`](WebSocketStream::send)
//! is cancel-safe in that the message is either not queued at all (dropped
//! while waiting for room in the write buffer) or queued whole, and then
//! written by later calls to `recv`, `send` or `flush`.

mod chunks;
mod handshake;
mod maybe_tls;
mod run_loop;
mod split;
mod stream;

pub use handshake::{accept, accept_tcp, accept_with, client, connect, connect_with, connect_with_dialer};
pub(crate) use handshake::{client_handshake, within};
pub(crate) use maybe_tls::dial;
pub use maybe_tls::MaybeTlsStream;
pub use split::{WebSocketReader, WebSocketWriter};
pub use stream::WebSocketStream;

use std::time::Instant;

/// The current time on tokio's clock (virtual under `tokio::time::pause`).
pub(crate) fn now() -> Instant {
    ::tokio::time::Instant::now().into_std()
}
