//! Adapters that put a [`Connection`] on a real transport.
//!
//! This directory is the only part of the crate that does I/O or reads the
//! clock. The adapters are thin: each is the run loop of the crate docs
//! written for one kind of stream. They move bytes between the stream and the
//! connection and drive its one timer; every protocol decision (what to send,
//! when to close, what a frame means) is the [`Connection`]'s.
//!
//! * [`blocking`] (feature `blocking`, on by default): `std::io::{Read, Write}`.
//! * `tokio_ws` (feature `tokio`): `AsyncRead + AsyncWrite`, with futures
//!   `Stream`/`Sink`. Named so that `use rfc6455::io::tokio_ws;` leaves the
//!   `tokio` crate's name alone.
//! * `reconnect` (feature `tokio`): a client on top of the tokio adapter
//!   that re-dials with exponential back-off and jitter.
//!
//! Clients reach their server as a [`Dialer`] says: directly or through a
//! [`proxy`] (HTTP CONNECT or SOCKS5, explicit or from the environment), and
//! with TLS for `wss://` ([`tls`]: rustls or native-tls, behind features).
//! Every connect function gives a `MaybeTlsStream` (TCP, or TLS over TCP).

#[cfg(feature = "axum")]
pub mod axum_ws;
#[cfg(feature = "blocking")]
pub mod blocking;
mod dial;
// Crate internals for the fuzz targets in fuzz/; only under cargo-fuzz (`--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod handshake_drive;
#[cfg(feature = "hyper")]
pub mod hyper_ws;
pub mod proxy;
#[cfg(feature = "tokio")]
pub mod reconnect;
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio_ws;

pub use dial::Dialer;
pub use tls::{TlsConnector, TlsError};

use std::io;

use crate::{CloseReason, Connection, HandshakeError, UsageError};

/// The smallest read once the connection is open: enough for most messages,
/// small enough that a quiet connection's buffer stays at 2 KiB.
const MIN_READ: usize = 2 << 10;

/// How much an adapter asks the stream for per read: it doubles while reads
/// come back full (a busy peer: fewer, larger reads) up to `MAX` (256 KiB),
/// and halves back towards `MIN_READ` (2 KiB) after `SHRINK_AFTER` reads in a
/// row came back under a quarter full. (Halving at the first small read made
/// 16 KiB echoes oscillate: a full 16 KiB read, then one for the frame's last
/// 8 bytes, every message.)
/// Measured on loopback with 100 connections flooding 16 KiB messages:
/// 16 KiB reads 29k msgs/s, up to 128 KiB 59k, up to 256 KiB 63k.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadSize {
    size: usize,
    small_reads: u8,
}

impl ReadSize {
    const MAX: usize = 256 << 10;
    const SHRINK_AFTER: u8 = 4;

    pub(crate) fn new() -> Self {
        Self { size: MIN_READ, small_reads: 0 }
    }

    /// The size of the next read.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    pub(crate) fn get(self) -> usize {
        self.size
    }

    /// Recent reads came back full: the peer sends faster than we read.
    #[cfg(any(feature = "tokio", test))]
    pub(crate) fn is_busy(self) -> bool {
        self.size > MIN_READ
    }

    /// The least spare room worth reading into: half the read size. Asking
    /// for the whole read size would make the receive buffer reclaim its
    /// front (or grow) before almost every read, since each message taken
    /// out of it leaves the spare room that much smaller.
    #[cfg(feature = "tokio")]
    pub(crate) fn min_spare(self) -> usize {
        self.size / 2
    }

    /// Takes note that a read of `self.get()` bytes returned `n`.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    pub(crate) fn record(&mut self, n: usize) {
        self.record_read(n, self.size);
    }

    /// Takes note that a read offered `offered` bytes of room returned `n`:
    /// a read that filled the room it had (or the read size) came back full.
    pub(crate) fn record_read(&mut self, n: usize, offered: usize) {
        if n >= self.size.min(offered) {
            self.size = (self.size * 2).min(Self::MAX);
            self.small_reads = 0;
        } else if n < self.size / 4 {
            self.small_reads += 1;
            if self.small_reads >= Self::SHRINK_AFTER {
                self.size = (self.size / 2).max(MIN_READ);
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
    }
}

/// An error from an adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed. `WouldBlock` from a non-blocking stream arrives here
    /// too: nothing was lost, call again when the stream is ready.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The opening handshake failed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The call is not allowed in the connection's current state.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The server's hook refused the upgrade with this status; the rejection
    /// was sent to the client.
    #[error("the upgrade request was refused with status {}", .0.as_u16())]
    Refused(http::StatusCode),
    /// The peer did not complete the opening handshake within
    /// `Config::handshake_timeout`; the transport was dropped.
    #[error("the opening handshake did not complete within {0:?} (Config::handshake_timeout)")]
    HandshakeTimeout(std::time::Duration),
    /// The connection did not end normally: the peer closed with a code other
    /// than 1000, 1001 or none (the reason holds it, e.g. 1011), broke the
    /// protocol, or the transport dropped, or a timer ran out. A normal end
    /// ([`CloseReason::is_normal`]) is not an error: reads then return `Ok(None)`.
    #[error("{0}")]
    Closed(CloseReason),
    /// TLS could not be set up for a `wss://` URL: no TLS feature is on, no
    /// root certificate could be loaded, or the TLS handshake failed (an
    /// untrusted or expired certificate, another host's name).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A `ReconnectingClient` (`io::reconnect`) has no open
    /// connection right now (it is dialing or waiting to re-dial). Nothing
    /// was queued: messages are not kept across connections. Send again
    /// after the next `ClientEvent::Open`.
    #[error("not connected: send after the next ClientEvent::Open (messages are not kept across reconnects)")]
    NotConnected,
    /// A proxy refused or broke the tunnel (see [`ProxyError`](proxy::ProxyError)
    /// for each case and what to do), or its URL was not usable.
    #[error(transparent)]
    Proxy(#[from] proxy::ProxyError),
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(err) => err,
            Error::Closed(CloseReason::Abnormal) => io::Error::new(io::ErrorKind::UnexpectedEof, err),
            Error::Closed(CloseReason::Timeout(_)) | Error::HandshakeTimeout(_) => {
                io::Error::new(io::ErrorKind::TimedOut, err)
            }
            Error::Handshake(_) | Error::Closed(_) => io::Error::new(io::ErrorKind::InvalidData, err),
            Error::NotConnected => io::Error::new(io::ErrorKind::NotConnected, err),
            // Refusals: PermissionDenied (407, 403, SOCKS rules and
            // authentication), ConnectionRefused (other refusals), or what
            // the SOCKS reply says; a broken answer InvalidData; EOF UnexpectedEof.
            Error::Proxy(proxy) => io::Error::new(proxy.io_kind(), Error::Proxy(proxy)),
            Error::Tls(TlsError::NotEnabled) => io::Error::new(io::ErrorKind::Unsupported, err),
            Error::Tls(_) => io::Error::new(io::ErrorKind::InvalidData, err),
            other => io::Error::other(other),
        }
    }
}

/// 32 bytes from the operating system's entropy source: the seed of a
/// client's handshake key and masking keys, and of the reconnection jitter.
/// The sans-IO core takes seeds as arguments; only the adapters draw them.
pub(crate) fn os_seed() -> [u8; 32] {
    rand::random()
}

/// What the end of a connection means for a read: a normal end
/// ([`CloseReason::is_normal`]) is the end of the stream (`None`), anything
/// else an error, so that a peer closing with 1011 is not mistaken for 1000.
pub(crate) fn end_of_stream(conn: &Connection) -> Result<Option<crate::Message>, Error> {
    match conn.close_reason() {
        Some(reason) if !reason.is_normal() => Err(Error::Closed(reason.clone())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_grows_while_reads_come_back_full_and_shrinks_when_idle() {
        let mut size = ReadSize::new();
        assert_eq!(size.get(), MIN_READ);
        assert!(!size.is_busy());
        let mut seen = Vec::new();
        for _ in 0..9 {
            size.record(size.get());
            seen.push(size.get() >> 10);
        }
        assert_eq!(seen, [4, 8, 16, 32, 64, 128, 256, 256, 256]);
        assert!(size.is_busy());
        // A read that comes back a quarter full or more keeps the size.
        size.record(ReadSize::MAX / 4);
        assert_eq!(size.get(), ReadSize::MAX);
        // A full read and a short tail, over and over (a 16 KiB echo with its
        // header): the size stays, one read per message.
        let mut echo = ReadSize::new();
        for _ in 0..20 {
            let want = echo.get();
            let frame = (16 << 10) + 8;
            echo.record(want.min(frame));
            if want < frame {
                echo.record(frame - want);
            }
        }
        assert!(echo.get() > (16 << 10), "{}", echo.get());
        // Mostly empty reads, several in a row, halve it, never below the
        // starting size.
        for _ in 0..3 {
            size.record(100);
        }
        assert_eq!(size.get(), ReadSize::MAX, "not after 3");
        size.record(100);
        assert_eq!(size.get(), ReadSize::MAX / 2, "after 4");
        for _ in 0..40 {
            size.record(100);
        }
        assert_eq!(size.get(), MIN_READ);
        assert!(!size.is_busy());
    }
}
