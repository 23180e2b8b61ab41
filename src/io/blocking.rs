//! The blocking adapter: a [`Connection`] over any `std::io::Read + Write`.
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
//! `Config::handshake_timeout`, and install [`StreamHooks::tcp`]. The
//! [`WebSocket`] itself also works over a non-blocking stream: a `WouldBlock`
//! from the stream comes back as [`Error::Io`] and nothing is lost; call
//! again when the stream is ready.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{end_of_stream, read_into, server_step, Error, ReadSize, ServerStep, READ_CHUNK};
use crate::handshake::{Accept, ClientHandshake, ClientRequest, Reject, Response, ServerHandshake, UpgradeRequest};
use crate::{CloseCode, Config, Connection, Event, Message, Status, UsageError};

/// What the adapter may do with a stream besides reading and writing.
///
/// With hooks, the connection's timers (heartbeat, idle and close timeouts)
/// fire on an idle connection: the adapter owns the stream's read timeout
/// (limit reads with [`WebSocket::set_read_timeout`] instead), and the
/// transport is shut down when the connection ends. Without them, timers
/// fire only when the stream returns from a read, and the stream is closed
/// when the [`WebSocket`] is dropped.
///
/// Timers run inside [`WebSocket::read`]: an application that only sends
/// never notices a dead peer. A write to a dead peer whose socket buffer is
/// full blocks until TCP gives up; use a non-blocking stream, or the tokio
/// adapter, where that matters.
/// [`connect`] installs [`StreamHooks::tcp`]; after [`accept`] on a
/// `TcpStream`, install them with [`WebSocket::set_stream_hooks`].
#[derive(Debug)]
pub struct StreamHooks<S> {
    /// Sets how long the next read may block (`None`: no limit), like
    /// [`TcpStream::set_read_timeout`].
    pub set_read_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
    /// Closes the transport, like `TcpStream::shutdown(Shutdown::Both)`.
    pub shutdown: fn(&S) -> io::Result<()>,
}

impl StreamHooks<TcpStream> {
    /// The hooks for a `TcpStream`.
    pub fn tcp() -> Self {
        Self { set_read_timeout: TcpStream::set_read_timeout, shutdown: |s| s.shutdown(Shutdown::Both) }
    }
}

/// A WebSocket over a blocking (or non-blocking) stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    hooks: Option<StreamHooks<S>>,
    /// The read timeout last given to the stream, to skip redundant calls.
    read_timeout: Option<Duration>,
    /// The application's limit on a blocking read (with hooks).
    read_limit: Option<Duration>,
    read_size: ReadSize,
    when_full: WhenBufferFull,
    finished: bool,
}

/// What [`WebSocket::send`] and [`WebSocket::feed`] do when the bytes queued
/// for the stream have reached `Config::write_buffer_limit` (a slow reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenBufferFull {
    /// Write the queue out first, blocking until the peer has taken enough
    /// of it (the default): the sender is slowed to the reader's pace.
    #[default]
    Wait,
    /// Refuse the message at once with
    /// [`UsageError::WriteBufferFull`]: for applications that would rather
    /// drop, coalesce or disconnect than stall on a slow reader (a feed that
    /// only the latest update matters for). Reading, [`flush`](WebSocket::flush)
    /// or [`send`](WebSocket::send)ing later drains the queue.
    Fail,
}

impl<S: Read + Write> WebSocket<S> {
    /// Limits how long [`read`](Self::read) waits for the peer: past
    /// `limit` without a message it returns an [`Error::Io`] of kind
    /// `WouldBlock` or `TimedOut`, and nothing is lost (call `read` again).
    /// `None` (the default): wait as long as the connection is alive.
    ///
    /// With [`StreamHooks`] (which the TCP helpers install) the adapter sets
    /// the stream's own read timeout to drive the connection's timers, so set
    /// your limit here, not on the stream. Without hooks this does nothing:
    /// set the timeout on the stream yourself.
    pub fn set_read_timeout(&mut self, limit: Option<Duration>) {
        self.read_limit = limit;
    }

    /// Chooses what sending does at the write buffer's limit: wait (the
    /// default) or fail.
    pub fn set_when_buffer_full(&mut self, when_full: WhenBufferFull) {
        self.when_full = when_full;
    }

    /// Wraps a connection whose handshake is done (bytes that came with the
    /// handshake must already be in it).
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self {
            stream,
            conn,
            hooks: None,
            read_timeout: None,
            read_limit: None,
            read_size: ReadSize::new(),
            when_full: WhenBufferFull::Wait,
            finished: false,
        }
    }

    /// Lets the adapter set read timeouts and shut the stream down; see [`StreamHooks`].
    pub fn set_stream_hooks(&mut self, hooks: StreamHooks<S>) {
        self.hooks = Some(hooks);
    }

    /// Reads the next message, answering pings and completing the close
    /// handshake on the way.
    ///
    /// Returns `Ok(None)` once the connection has closed cleanly (and the
    /// transport was shut down), [`Error::Closed`] if it ended otherwise
    /// (protocol error, lost transport: code 1006, timeout). With a
    /// non-blocking stream, `WouldBlock` comes back as [`Error::Io`]; call
    /// again later, nothing is lost.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        loop {
            while let Some(event) = self.conn.poll_event() {
                if let Event::Message(message) = event {
                    return Ok(Some(message));
                }
            }
            if self.finished {
                return end_of_stream(&self.conn);
            }
            let written = match self.write_out() {
                // A non-blocking stream that takes no more for now: read
                // (and fire due timers) meanwhile.
                Err(err) if err.kind() == ErrorKind::WouldBlock => Ok(()),
                other => other,
            };
            let result = written.and_then(|()| {
                if self.conn.should_close_transport() {
                    self.finished = true;
                    if let Some(hooks) = &self.hooks {
                        let _ = (hooks.shutdown)(&self.stream);
                    }
                    return Ok(());
                }
                self.fill()
            });
            match result {
                // The transport broke after the WebSocket had closed: nothing is lost.
                Err(err) if self.conn.is_closed() && err.kind() != ErrorKind::WouldBlock => self.finished = true,
                other => other?,
            }
        }
    }

    /// Queues a message and writes it out.
    ///
    /// `Ok` means the message is queued: with a non-blocking stream it may
    /// still be partly unwritten (see [`buffered_amount`](Self::buffered_amount));
    /// [`flush`](Self::flush) when the stream is writable. An `Err` means it
    /// was not queued.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.feed(message)?;
        self.flush_queued()
    }

    /// Queues a message without writing it: it goes out, with everything
    /// queued before and after it, in one write at the next [`read`](Self::read)
    /// that has to wait for the stream, or at [`send`](Self::send) or
    /// [`flush`](Self::flush). For answering a burst of messages with one
    /// system call (e.g. an echo loop: `read`, `feed`, `read`, ...).
    ///
    /// If the write buffer is over `Config::write_buffer_limit`, queued bytes
    /// are written first (or the message is refused: see
    /// [`set_when_buffer_full`](Self::set_when_buffer_full)); an `Err` means
    /// the message was not queued.
    pub fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        match self.conn.send(&message) {
            Err(UsageError::WriteBufferFull { .. }) if self.when_full == WhenBufferFull::Wait => {
                self.write_out()?;
                Ok(self.conn.send(&message)?)
            }
            other => Ok(other?),
        }
    }

    /// Starts the close handshake with `code` and `reason`; keep calling
    /// [`read`](Self::read) until it returns `Ok(None)`, which happens once the
    /// peer has answered (or the close timeout ran out).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason, Instant::now())?;
        self.flush_queued()
    }

    /// Writes out everything queued (pongs, close frames, messages) and
    /// flushes the stream.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.write_out()?)
    }

    /// Bytes queued but not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// The protocol state machine underneath.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream and the connection, for whoever takes over.
    pub fn into_parts(self) -> (S, Connection) {
        (self.stream, self.conn)
    }

    /// Writes queued bytes; a would-block stream leaves them queued.
    fn flush_queued(&mut self) -> Result<(), Error> {
        match self.write_out() {
            Err(err) if err.kind() == ErrorKind::WouldBlock => Ok(()),
            other => Ok(other?),
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        loop {
            let queued = self.conn.poll_transmit();
            if queued.is_empty() {
                return self.stream.flush();
            }
            match self.stream.write(queued) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.conn.advance_transmit(n),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// One read from the stream into the connection, or the timers that are due.
    fn fill(&mut self) -> io::Result<()> {
        let started = Instant::now();
        self.arm_read_timeout(started)?;
        let want = self.read_size.get();
        let result = read_into(self.conn.recv_buffer(want), want, |buf| self.stream.read(buf));
        let now = Instant::now();
        match result {
            Ok(0) => self.conn.handle_eof(now),
            Ok(n) => {
                self.read_size.record(n);
                self.conn.handle_received(now);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A read timeout (ours or the caller's) or a non-blocking stream.
                let waited = now.duration_since(started);
                match self.conn.poll_timeout() {
                    Some(deadline) if deadline <= now => self.conn.handle_timeout(now),
                    // The application's limit ran out.
                    _ if self.hooks.is_some() && self.read_limit.is_some_and(|limit| waited >= limit) => {
                        return Err(err)
                    }
                    // Our read timeout, armed for a deadline that has since
                    // moved later: arm it afresh and read again.
                    Some(_) if self.read_timeout.is_some_and(|armed| waited >= armed) => self.read_timeout = None,
                    _ => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
        Ok(())
    }

    /// Sets the stream's read timeout to the time left until the
    /// connection's next deadline, lazily: the timeout only ever shortens
    /// here (by more than [`TIMER_SLACK`]), and a deadline that moved later
    /// (the heartbeat's moves with every read) is caught when the old timeout
    /// fires early. So a busy connection makes no system call per read.
    fn arm_read_timeout(&mut self, now: Instant) -> io::Result<()> {
        let Some(hooks) = &self.hooks else { return Ok(()) };
        let until_deadline = self
            .conn
            .poll_timeout()
            .map(|deadline| deadline.saturating_duration_since(now).max(Duration::from_millis(1)));
        let timeout = match (until_deadline, self.read_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let rearm = match (timeout, self.read_timeout) {
            (Some(wanted), Some(armed)) => wanted.saturating_add(TIMER_SLACK) < armed,
            (wanted, armed) => wanted != armed,
        };
        if rearm {
            (hooks.set_read_timeout)(&self.stream, timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }
}

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY` unless
/// `Config::tcp_nodelay` is off) and performs the
/// client handshake. For `wss://`, connect a TLS stream yourself and use [`client`].
pub fn connect(url: &str) -> Result<(WebSocket<TcpStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, &Config::default())
}

/// [`connect`] with a prepared request (subprotocols, headers) and a config.
pub fn connect_with(request: &ClientRequest, config: &Config) -> Result<(WebSocket<TcpStream>, Response), Error> {
    if request.is_secure() {
        return Err(UsageError::InvalidUrl("wss:// needs TLS: connect a TLS stream yourself and use client()").into());
    }
    let started = Instant::now();
    // A limit too far away to represent is no limit.
    let stream = match config.handshake_timeout.and_then(|limit| Some((limit, started.checked_add(limit)?))) {
        Some((limit, deadline)) => {
            let addrs = (request.host(), request.port()).to_socket_addrs()?;
            connect_before(addrs, deadline).map_err(|err| timed_out(err, started, limit))?
        }
        None => TcpStream::connect((request.host(), request.port()))?,
    };
    stream.set_nodelay(config.tcp_nodelay)?;
    let (stream, (conn, response)) = with_deadline(stream, started, config.handshake_timeout, |stream| {
        let (ws, response) = client(request, stream, config)?;
        let (stream, conn) = ws.into_parts();
        Ok((stream, (conn, response)))
    })?;
    let mut ws = WebSocket::from_connection(stream, conn);
    ws.set_stream_hooks(StreamHooks::tcp());
    Ok((ws, response))
}

/// Performs the server handshake over a TCP stream: [`accept_with`], with
/// `TCP_NODELAY`, `Config::handshake_timeout` (a peer that has not sent its
/// whole request by then gets [`Error::HandshakeTimeout`] and is dropped),
/// and [`StreamHooks::tcp`] installed.
pub fn accept_tcp<F>(stream: TcpStream, config: &Config, hook: F) -> Result<WebSocket<TcpStream>, Error>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let started = Instant::now();
    stream.set_nodelay(config.tcp_nodelay)?;
    let (stream, conn) = with_deadline(stream, started, config.handshake_timeout, |stream| {
        Ok(accept_with(stream, config, hook)?.into_parts())
    })?;
    let mut ws = WebSocket::from_connection(stream, conn);
    ws.set_stream_hooks(StreamHooks::tcp());
    Ok(ws)
}

/// How late a read timeout may fire after the connection's deadline before
/// it is re-armed (a system call).
const TIMER_SLACK: Duration = Duration::from_millis(5);

/// A TCP stream whose reads and writes block at most until a deadline (if
/// any), then fail with `TimedOut`.
#[derive(Debug)]
struct DeadlineStream {
    stream: TcpStream,
    deadline: Option<Instant>,
}

impl DeadlineStream {
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
fn with_deadline<T>(
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
fn timed_out(err: io::Error, started: Instant, limit: Duration) -> Error {
    let timeout = matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock);
    if timeout && started.elapsed() >= limit {
        Error::HandshakeTimeout(limit)
    } else {
        Error::Io(err)
    }
}

/// Connects to the first of `addrs` that answers before `deadline`.
fn connect_before(addrs: impl Iterator<Item = SocketAddr>, deadline: Instant) -> io::Result<TcpStream> {
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

/// Performs the client handshake over `stream` (blocking until done).
pub fn client<S: Read + Write>(
    request: &ClientRequest,
    mut stream: S,
    config: &Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let mut hs = ClientHandshake::new(request, config, super::os_seed());
    stream.write_all(hs.poll_transmit())?;
    stream.flush()?;
    hs.advance_transmit(hs.poll_transmit().len());
    let response = loop {
        if let Status::Complete(response) = hs.poll_response()? {
            break response;
        }
        if read_into(hs.recv_buffer(), READ_CHUNK, |buf| read_retrying(&mut stream, buf))? == 0 {
            return Err(eof_during_handshake());
        }
    };
    let conn = hs.into_connection(Instant::now())?;
    Ok((WebSocket::from_connection(stream, conn), response))
}

/// Performs the server handshake over `stream`, accepting any valid request.
pub fn accept<S: Read + Write>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, &Config::default(), |_| Ok(Accept::new()))
}

/// Performs the server handshake, letting `hook` inspect the request (path,
/// headers, `Origin`, offered subprotocols) and accept or reject it. A
/// rejection, or an invalid request, is answered over `stream` and returned
/// as an error.
pub fn accept_with<S, F>(mut stream: S, config: &Config, hook: F) -> Result<WebSocket<S>, Error>
where
    S: Read + Write,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let mut hs = ServerHandshake::new(config);
    let mut hook = Some(hook);
    loop {
        match server_step(&mut hs, &mut hook, Instant::now()) {
            ServerStep::Accepted(conn) => {
                let mut socket = WebSocket::from_connection(stream, *conn);
                socket.write_out()?; // the 101 response
                return Ok(socket);
            }
            ServerStep::Refused(err) => {
                stream.write_all(hs.poll_transmit())?;
                stream.flush()?;
                return Err(err);
            }
            ServerStep::NeedMore => {
                if read_into(hs.recv_buffer(), READ_CHUNK, |buf| read_retrying(&mut stream, buf))? == 0 {
                    return Err(eof_during_handshake());
                }
            }
        }
    }
}

fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn eof_during_handshake() -> Error {
    io::Error::new(ErrorKind::UnexpectedEof, "the peer closed the connection during the handshake").into()
}
