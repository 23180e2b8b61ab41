//! TCP deadlines for the blocking handshake: a stream whose reads and writes time out at a deadline, connecting before one, and turning a late timeout into `Error::HandshakeTimeout`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::io::Error;

/// A TCP stream whose reads and writes block at most until a deadline (if
/// any), then fail with `TimedOut`. Without a deadline, a plain TCP stream:
/// the transport under a client's `MaybeTlsStream`, whose handshake (and
/// proxy tunnel, and TLS handshake) ran with one.
#[derive(Debug)]
pub(super) struct DeadlineStream {
    stream: TcpStream,
    deadline: Option<Instant>,
}

impl DeadlineStream {
    /// `stream`, its reads and writes limited to `deadline`.
    pub(super) fn new(stream: TcpStream, deadline: Option<Instant>) -> Self {
        Self { stream, deadline }
    }

    /// The TCP stream.
    pub(super) fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Lifts the deadline (the handshake is done) and the stream's timeouts with it.
    pub(super) fn clear_deadline(&mut self) -> io::Result<()> {
        if self.deadline.take().is_some() {
            self.stream.set_read_timeout(None)?;
            self.stream.set_write_timeout(None)?;
        }
        Ok(())
    }

    /// Limits the next read (or write) to the time left; fails once none is.
    fn arm(&self, set: fn(&TcpStream, Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        let Some(deadline) = self.deadline else { return Ok(()) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        set(&self.stream, Some(left))
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_read_timeout)?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_write_timeout)?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Runs `handshake` over `stream` with reads and writes limited to
/// `started + limit` (no limit when `None` or past what `Instant` can hold), then clears the stream's
/// timeouts. A read or write that ran out of time becomes
/// [`Error::HandshakeTimeout`].
pub(super) fn with_deadline<T>(
    stream: TcpStream,
    started: Instant,
    limit: Option<Duration>,
    handshake: impl FnOnce(DeadlineStream) -> Result<(DeadlineStream, T), Error>,
) -> Result<(TcpStream, T), Error> {
    let Some(limit) = limit else {
        let (timed, out) = handshake(DeadlineStream { stream, deadline: None })?;
        return Ok((timed.stream, out));
    };
    let deadline = started.checked_add(limit);
    let (timed, out) = handshake(DeadlineStream { stream, deadline }).map_err(|err| match err {
        Error::Io(err) => timed_out(err, started, limit),
        other => other,
    })?;
    timed.stream.set_read_timeout(None)?;
    timed.stream.set_write_timeout(None)?;
    Ok((timed.stream, out))
}

/// `err`, or [`Error::HandshakeTimeout`] if it is a timeout past the limit
/// (a read timeout shows as `WouldBlock` on Unix, `TimedOut` on Windows).
pub(super) fn timed_out(err: io::Error, started: Instant, limit: Duration) -> Error {
    let timeout = matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock);
    if timeout && started.elapsed() >= limit {
        Error::HandshakeTimeout(limit)
    } else {
        Error::Io(err)
    }
}

/// Connects to the first of `addrs` that answers before `deadline`.
pub(super) fn connect_before(addrs: impl Iterator<Item = SocketAddr>, deadline: Instant) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, "the host name resolved to no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(last)
}
