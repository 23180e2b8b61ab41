//! The blocking adapter: a [`Connection`](crate::Connection) over any `std::io::Read + Write`.
//!
//! ```no_run
//! use rfc6455::io::blocking;
//! use std::net::TcpListener;
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), rfc6455::io::Error> {
//!         let mut ws = blocking::accept_tcp(stream?, &rfc6455::Config::default(), |_| Ok(Default::default()))?;
//!         while let Some(message) = ws.read()? {
//!             ws.send(message)?; // echo
//!         }
//!         Ok(())
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The handshake functions block until the handshake is done; the TCP ones
//! ([`connect`], [`connect_with`], [`accept_tcp`]) give up after
//! `Config::handshake_timeout`, and install [`StreamHooks`]. The
//! [`WebSocket`] itself also works over a non-blocking stream: a `WouldBlock`
//! from the stream comes back as [`Error::Io`](crate::io::Error::Io) and nothing is lost; call
//! again when the stream is ready.

mod deadline;
mod handshake;
mod maybe_tls;
mod stream;

pub use handshake::{accept, accept_tcp, accept_with, client, connect, connect_with, connect_with_dialer};
pub use maybe_tls::MaybeTlsStream;
pub use stream::{StreamHooks, WebSocket, WhenBufferFull};

use std::io;

use bytes::BytesMut;

/// Appends up to `max` bytes from `read` to `buf`.
/// `read` gets zeroed spare space (so plain `std::io::Read` can fill it);
/// a reader that claims more than it was given is clamped.
fn read_into(buf: &mut BytesMut, max: usize, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + max, 0);
    let result = buf.get_mut(start..).map_or(Ok(0), read);
    let filled = result.as_ref().map_or(0, |n| (*n).min(max));
    buf.truncate(start + filled);
    result.map(|_| filled)
}
