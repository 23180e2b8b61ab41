//! The blocking [`WebSocket`]: the run loop over a `Read + Write` stream, with the hooks that let it arm read timeouts for the connection's timers and shut the transport down.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::read_into;
use crate::io::{end_of_stream, Error, ReadSize};
use crate::{
    CloseCode, CloseReason, Connection, DataKind, Event, Message, MessagePart, ReadyState, RttEstimate, UsageError,
};

/// Bytes per fragment of a message sent with [`WebSocket::send_from`].
const SEND_CHUNK: usize = 64 << 10;

/// What the adapter may do with a stream besides reading and writing.
///
/// With hooks, the connection's timers (heartbeat, idle and close timeouts)
/// fire on an idle connection and while [`WebSocket::read`] writes what is
/// queued (pongs, fed messages), and the writes of [`WebSocket::close`] are
/// bounded by `Config::close_timeout`: the adapter owns the stream's read
/// and write timeouts (set your limits with [`WebSocket::set_read_timeout`]
/// and [`WebSocket::set_write_timeout`] instead), and shuts the transport
/// down when the connection ends. Without them, timers fire only when the
/// stream returns from a read, and the stream is closed when the
/// [`WebSocket`] is dropped.
///
/// Over a TLS stream, which may read inside a write and write inside a
/// read (rustls' `StreamOwned`), the adapter arms both timeouts for each
/// bound; a bound may then take up to about twice as long (the stream waits
/// once for its pending records, once for the new ones).
///
/// An application that only sends never notices a dead peer, and a `send`
/// to a peer that reads nothing blocks once its socket is full, until TCP
/// gives up: limit sends with [`WebSocket::set_write_timeout`] (a write that
/// times out leaves the rest queued, as on a non-blocking stream), or use
/// the tokio adapter, whose sends can be wrapped in `tokio::time::timeout`,
/// where that matters.
///
/// [`connect`](super::connect) installs [`StreamHooks::maybe_tls`] and
/// [`accept_tcp`](super::accept_tcp) [`StreamHooks::tcp`]; over a stream of
/// your own (after [`accept_with`](super::accept_with) or
/// [`client`](super::client)), install them with
/// [`WebSocket::set_stream_hooks`] (clear a timeout you set on the stream
/// for the handshake first).
#[derive(Debug)]
#[non_exhaustive]
pub struct StreamHooks<S> {
    /// Sets how long the next read may block (`None`: no limit), like
    /// [`TcpStream::set_read_timeout`].
    pub set_read_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
    /// Sets how long the next write may block (`None`: no limit), like
    /// [`TcpStream::set_write_timeout`]: so that a peer that reads nothing
    /// cannot hold a read past the connection's timers, nor a close past
    /// `Config::close_timeout`.
    pub set_write_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
    /// Closes the transport, like `TcpStream::shutdown(Shutdown::Both)`.
    pub shutdown: fn(&S) -> io::Result<()>,
}

impl<S> StreamHooks<S> {
    /// Hooks for a stream of your own, e.g. a TLS stream over a `TcpStream`:
    ///
    /// ```
    /// # struct MyTls { sock: std::net::TcpStream }
    /// use rfc6455::io::blocking::StreamHooks;
    /// let hooks = StreamHooks::new(
    ///     |tls: &MyTls, limit| tls.sock.set_read_timeout(limit),
    ///     |tls: &MyTls, limit| tls.sock.set_write_timeout(limit),
    ///     |tls: &MyTls| tls.sock.shutdown(std::net::Shutdown::Both),
    /// );
    /// ```
    pub fn new(
        set_read_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
        set_write_timeout: fn(&S, Option<Duration>) -> io::Result<()>,
        shutdown: fn(&S) -> io::Result<()>,
    ) -> Self {
        Self { set_read_timeout, set_write_timeout, shutdown }
    }
}

impl StreamHooks<TcpStream> {
    /// The hooks for a `TcpStream`.
    pub fn tcp() -> Self {
        Self::new(TcpStream::set_read_timeout, TcpStream::set_write_timeout, |s| s.shutdown(Shutdown::Both))
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
    /// The read timeout fired before what it was armed for: set it afresh
    /// before reading.
    read_stale: bool,
    /// The write timeout last given to the stream (with hooks).
    write_timeout: Option<Duration>,
    /// The last write did not end with a flush: a TLS stream may write
    /// its pending records inside a read.
    unflushed: bool,
    /// The application's limit on a blocking write (with hooks).
    write_limit: Option<Duration>,
    read_size: ReadSize,
    when_full: WhenBufferFull,
    finished: bool,
}

/// What [`WebSocket::send`] and [`WebSocket::feed`] do when the bytes queued
/// for the stream have reached `Config::write_buffer_limit` (a slow reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
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
    /// The limit counts from the call, whatever arrives meanwhile short of a
    /// message (pings, part of a message), and bounds the writes `read`
    /// makes too (pongs, fed messages: what a peer that reads nothing does
    /// not take stays queued). `None` (the default): wait as long as the
    /// connection is alive. A zero limit still reads once.
    ///
    /// With [`StreamHooks`] (which the TCP helpers install) the adapter sets
    /// the stream's own read timeout to drive the connection's timers, so set
    /// your limit here, not on the stream. Without hooks this does nothing:
    /// set the timeout on the stream yourself.
    pub fn set_read_timeout(&mut self, limit: Option<Duration>) {
        self.read_limit = limit.map(|limit| limit.max(MIN_LIMIT));
    }

    /// Limits how long writing may block, counted from the call (in
    /// [`send`](Self::send), [`flush`](Self::flush), a [`feed`](Self::feed)
    /// at the write buffer's limit, and the writes inside [`read`](Self::read)):
    /// past `limit` the rest stays queued, nothing lost, as with a
    /// non-blocking stream. `send` then returns `Ok` (the message is
    /// queued, not all written: [`buffered_amount`](Self::buffered_amount)
    /// says how much is left, and the next `send`, `flush` or `read` goes
    /// on writing); `flush` returns an [`Error::Io`] of kind `WouldBlock`
    /// or `TimedOut`, and so does a `feed` or `send` that had to make room
    /// under `Config::write_buffer_limit` (the message is then not queued).
    /// `None` (the default): wait as long as the peer takes.
    ///
    /// With [`StreamHooks`] the adapter sets the stream's write timeout
    /// (closing, it is bounded by `Config::close_timeout` too), so set your
    /// limit here, not on the stream. Without hooks this does nothing: set
    /// the timeout on the stream yourself.
    pub fn set_write_timeout(&mut self, limit: Option<Duration>) {
        self.write_limit = limit.map(|limit| limit.max(MIN_LIMIT));
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
            write_timeout: None,
            write_limit: None,
            read_stale: false,
            unflushed: false,
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
    /// Returns `Ok(None)` once the connection has ended normally (and the
    /// transport was shut down): we closed, or the peer closed with 1000, 1001
    /// or no code ([`CloseReason::is_normal`](crate::CloseReason::is_normal)).
    /// [`Error::Closed`] carries the reason of any other end: the peer closed
    /// with another code such as 1011, broke the protocol, went away without
    /// a close frame (1006), or a timer ran out. With a
    /// non-blocking stream, `WouldBlock` comes back as [`Error::Io`]; call
    /// again later, nothing is lost. After the end,
    /// [`connection().close_reason()`](Connection::close_reason) says how it
    /// ended.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        match self.read_data(false)? {
            Some(Event::Part(_)) => Err(UsageError::MessageInParts.into()),
            Some(Event::Message(message)) => Ok(Some(message)),
            _ => Ok(None),
        }
    }

    /// Reads the next part of a message: messages from now on are handed out
    /// in parts as their bytes arrive ([`MessagePart`]: kind, bytes, `first`,
    /// `last`), so a message of any size costs memory for the reads only. A
    /// message already begun whole comes as one part. `Ok(None)` and errors
    /// as for [`read`](Self::read); raise `Config::max_message_size` and
    /// `Config::max_frame_size` to what the connection may receive. Calling
    /// [`read`](Self::read) instead goes back to whole messages from the next
    /// one (in the middle of a message received in parts, `read` fails with
    /// [`UsageError::MessageInParts`]).
    ///
    /// ```no_run
    /// # fn f(mut socket: rfc6455::io::blocking::WebSocket<std::net::TcpStream>) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::Write;
    /// let mut file = std::fs::File::create("upload.bin")?;
    /// while let Some(part) = socket.read_part()? {
    ///     file.write_all(&part.data)?;
    ///     if part.last {
    ///         break; // the whole message is on disk
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn read_part(&mut self) -> Result<Option<MessagePart>, Error> {
        match self.read_data(true)? {
            Some(Event::Part(part)) => Ok(Some(part)),
            Some(Event::Message(message)) => Ok(Some(message.into())),
            _ => Ok(None),
        }
    }

    /// Sends a message of `kind` whose payload is read from `reader` to its
    /// end, as fragments of 64 KiB written as they are read: memory stays
    /// bounded whatever the size. Returns the payload's length. For text, the
    /// bytes must be valid UTF-8 (checked across fragments:
    /// [`UsageError::InvalidUtf8`]). An error (from `reader` or the stream)
    /// leaves the message unfinished, so nothing else can be sent (sends fail
    /// with [`UsageError::FragmentedMessageInProgress`]): close the
    /// connection then.
    ///
    /// ```no_run
    /// # fn f(mut socket: rfc6455::io::blocking::WebSocket<std::net::TcpStream>) -> Result<(), Box<dyn std::error::Error>> {
    /// let file = std::fs::File::open("video.mp4")?;
    /// let sent = socket.send_from(rfc6455::DataKind::Binary, file)?;
    /// # Ok(()) }
    /// ```
    pub fn send_from<R: Read>(&mut self, kind: DataKind, mut reader: R) -> Result<u64, Error> {
        let mut buf = vec![0; SEND_CHUNK];
        let mut total = 0;
        loop {
            let mut filled = 0;
            let mut last = false;
            while let Some(spare) = buf.get_mut(filled..).filter(|spare| !spare.is_empty()) {
                match reader.read(spare) {
                    Ok(0) => {
                        last = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(err) => return Err(err.into()),
                }
            }
            let chunk = buf.get(..filled).unwrap_or_default();
            match self.conn.send_fragment(kind, chunk, last) {
                Err(UsageError::WriteBufferFull { .. }) if self.when_full == WhenBufferFull::Wait => {
                    self.write_out()?;
                    self.conn.send_fragment(kind, chunk, last)?;
                }
                other => other?,
            }
            self.flush_queued()?;
            total += filled as u64;
            if last {
                return Ok(total);
            }
        }
    }

    /// Sends a [`MessagePart`] and writes it out: with [`read_part`](Self::read_part)
    /// on another socket, relays a message of any size in memory bounded by
    /// its parts. A part that is `first` and `last` goes as one message; the
    /// others as fragments, the `last` ending the message (see
    /// [`Connection::send_part`] for the errors). At the write buffer's limit
    /// it waits or fails as [`send`](Self::send) does.
    ///
    /// ```no_run
    /// # fn f(mut from: rfc6455::io::blocking::WebSocket<std::net::TcpStream>,
    /// #      mut to: rfc6455::io::blocking::WebSocket<std::net::TcpStream>) -> Result<(), rfc6455::io::Error> {
    /// while let Some(part) = from.read_part()? {
    ///     to.send_part(part)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn send_part(&mut self, part: MessagePart) -> Result<(), Error> {
        if self.conn.is_write_buffer_full() && self.when_full == WhenBufferFull::Wait {
            self.write_out()?;
        }
        self.conn.send_part(part)?;
        self.flush_queued()
    }

    /// The run loop until the next [`Event::Message`] or [`Event::Part`]
    /// (messages from now on handed out `in_parts` or whole), or the end.
    fn read_data(&mut self, in_parts: bool) -> Result<Option<Event>, Error> {
        self.conn.set_message_streaming(in_parts);
        // The application's limit counts from here, however many reads
        // (pings, pieces of a message) it takes.
        let limit_ends = self.read_limit.and_then(|limit| Instant::now().checked_add(limit));
        let mut first_read = true;
        loop {
            while let Some(event) = self.conn.poll_event() {
                if matches!(event, Event::Message(_) | Event::Part(_)) {
                    return Ok(Some(event));
                }
            }
            if self.finished {
                return end_of_stream(&self.conn).map(|_| None);
            }
            // The connection's timers (and the read limit) bound the writes
            // as well as the reads.
            let written = match self.write_out_timed(limit_ends) {
                // A non-blocking stream that takes no more for now, or a
                // limit: read (and fire due timers) meanwhile.
                Err(err) if is_timeout(&err) => Ok(()),
                // Closing: a transport that stopped taking bytes may still
                // hold the peer's close. Read it; the close timeout bounds the wait.
                Err(_) if matches!(self.conn.ready_state(), ReadyState::Closing | ReadyState::Closed) => Ok(()),
                other => other,
            };
            // A timer gave up while writing: the events say how it ended.
            if written.is_ok() && self.conn.is_ending() && !self.conn.is_closed() {
                continue;
            }
            let result = written.and_then(|()| {
                if self.conn.should_close_transport() {
                    self.finished = true;
                    if let Some(hooks) = &self.hooks {
                        let _ = (hooks.shutdown)(&self.stream);
                    }
                    return Ok(());
                }
                let filled = self.fill(limit_ends, first_read);
                first_read = false;
                filled
            });
            match result {
                // The transport broke after the WebSocket had closed: nothing is lost.
                Err(err) if self.conn.is_closed() && !is_timeout(&err) => self.finished = true,
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

    /// Sends a [`PreparedMessage`](crate::PreparedMessage): the same frame,
    /// encoded once, for every connection a message goes to. At the write
    /// buffer's limit it waits or fails as [`send`](Self::send) does.
    pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message)?;
        self.flush_queued()
    }

    /// Queues a [`PreparedMessage`](crate::PreparedMessage) without writing
    /// it, as [`feed`](Self::feed) does for a message; at the write buffer's
    /// limit it writes queued bytes first (or fails: see
    /// [`set_when_buffer_full`](Self::set_when_buffer_full)).
    pub fn feed_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        match self.conn.send_prepared(message) {
            Err(UsageError::WriteBufferFull { .. }) if self.when_full == WhenBufferFull::Wait => {
                self.write_out()?;
                Ok(self.conn.send_prepared(message)?)
            }
            other => Ok(other?),
        }
    }

    /// Queues a message without writing it (unless the queue is at its
    /// limit: see below): it goes out, with everything
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
    ///
    /// It writes out what is queued before the close frame. With
    /// [`StreamHooks`] (which the TCP helpers install) the writes are bounded
    /// by `Config::close_timeout`: against a peer that reads nothing (its
    /// socket full, the queue stuck behind it) `close` returns `Ok` once the
    /// timeout has passed, and the next `read` returns
    /// `Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake)))`
    /// and shuts the transport down. Without hooks, set a write timeout on
    /// the stream yourself if peers may stop reading.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason, Instant::now())?;
        match self.write_out_timed(None) {
            Err(err) if is_timeout(&err) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Writes out everything queued (pongs, close frames, messages) and
    /// flushes the stream.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.write_out_timed(None)?)
    }

    /// Sends a ping with up to 125 bytes of payload: queued and written out
    /// like [`send`](Self::send) (with a non-blocking stream it may stay
    /// partly queued: [`flush`](Self::flush) later).
    ///
    /// If the write buffer is over `Config::write_buffer_limit` and
    /// [`WhenBufferFull::Wait`] is chosen (the default), queued bytes are
    /// written first, as `send` does; with [`WhenBufferFull::Fail`] the ping
    /// is queued anyway (a control frame is at most 131 bytes).
    ///
    /// The peer's pong is not returned by [`read`](Self::read) and does not
    /// update [`rtt`](Self::rtt), which only the heartbeat's own pings
    /// (`Config::ping_interval`) measure. Fails with
    /// [`UsageError::ControlPayloadTooLong`] (shorten the payload) or, once
    /// a close frame was sent, [`UsageError::Closed`], as
    /// [`Connection::ping`] does; nothing is queued then.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.wait_for_room()?;
        self.conn.ping(payload)?;
        self.flush_queued()
    }

    /// Sends a pong with up to 125 bytes of payload (an unsolicited
    /// heartbeat: pings that arrive are answered for you, see
    /// `Config::auto_pong`), queued and written out like [`ping`](Self::ping),
    /// with the same errors ([`Connection::pong`]).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.wait_for_room()?;
        self.conn.pong(payload)?;
        self.flush_queued()
    }

    /// Bytes queued but not yet written (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// Why the connection closed, once it has: the peer's close code and
    /// reason and who closed first for a clean close, or what went wrong.
    /// `None` while it is open or closing. As [`Connection::close_reason`].
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.conn.close_reason()
    }

    /// `Open`, `Closing` once a close frame was sent, or `Closed` (the
    /// browser API's `readyState`). As [`Connection::ready_state`].
    pub fn ready_state(&self) -> ReadyState {
        self.conn.ready_state()
    }

    /// The round-trip time measured by the heartbeat's pings
    /// (`Config::ping_interval`); `None` until one was answered. As
    /// [`Connection::rtt`].
    pub fn rtt(&self) -> Option<RttEstimate> {
        self.conn.rtt()
    }

    /// The protocol state machine underneath.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Changes the message and frame size limits (`Config::max_message_size`,
    /// `Config::max_frame_size`) of this connection from now on: e.g. raised
    /// for an upload route only, after the handshake told which route it is.
    pub fn set_receive_limits(&mut self, max_message_size: usize, max_frame_size: usize) {
        self.conn.set_max_message_size(max_message_size);
        self.conn.set_max_frame_size(max_frame_size);
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

    /// With [`WhenBufferFull::Wait`], writes the queue out first if it is at
    /// its limit, as [`feed`](Self::feed) does when the core refuses a message.
    fn wait_for_room(&mut self) -> io::Result<()> {
        if self.when_full == WhenBufferFull::Wait && self.conn.is_write_buffer_full() {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes queued bytes; a would-block stream leaves them queued.
    fn flush_queued(&mut self) -> Result<(), Error> {
        match self.write_out() {
            Err(err) if is_timeout(&err) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Writes queued bytes as [`write_out`](Self::write_out) does, while the
    /// connection's timers run (with hooks): the stream's write timeout is
    /// armed for the next deadline, and timers fire when it passes; a read's
    /// limit (`limit_ends`) and the application's write limit bound it too.
    /// `Ok` once written, or once a timer ended the connection (the events
    /// say how); `WouldBlock` once a limit passed or from a non-blocking
    /// stream, the rest queued. Once the connection is over (a timer gave
    /// up), its last bytes go only if the stream takes them within
    /// [`LAST_WORDS_WAIT`].
    ///
    /// Open, with no deadline and no limit, this is a plain `write_out`.
    fn write_out_timed(&mut self, limit_ends: Option<Instant>) -> io::Result<()> {
        if self.hooks.is_none()
            || (self.conn.ready_state() == ReadyState::Open
                && limit_ends.is_none()
                && self.conn.poll_timeout().is_none())
        {
            return self.write_out();
        }
        let write_ends = self.write_limit.and_then(|limit| Instant::now().checked_add(limit));
        let ends = [limit_ends, write_ends].into_iter().flatten().min();
        self.write_bounded(ends, true)
    }

    /// Writes queued bytes and flushes the stream, with the application's
    /// write limit (with hooks): past it, `WouldBlock` with the rest queued.
    pub(super) fn write_out(&mut self) -> io::Result<()> {
        if self.hooks.is_some() && (self.write_limit.is_some() || self.write_timeout.is_some()) {
            let ends = self.write_limit.and_then(|limit| Instant::now().checked_add(limit));
            return self.write_bounded(ends, false);
        }
        let result = loop {
            let queued = self.conn.poll_transmit();
            if queued.is_empty() {
                break self.stream.flush();
            }
            match self.stream.write(queued) {
                Ok(0) => break Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.conn.advance_transmit(n),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => break Err(err),
            }
        };
        self.unflushed = result.is_err();
        result
    }

    /// The write loop with the stream's write timeout (hooks required)
    /// armed for `limit_ends` and, with `timers`, for the connection's
    /// deadlines, which fire as they pass. See [`write_out_timed`](Self::write_out_timed).
    fn write_bounded(&mut self, limit_ends: Option<Instant>, timers: bool) -> io::Result<()> {
        let result = self.write_bounded_inner(limit_ends, timers);
        self.unflushed = result.is_err() || self.conn.has_transmit();
        result
    }

    fn write_bounded_inner(&mut self, limit_ends: Option<Instant>, timers: bool) -> io::Result<()> {
        let Some((set_read_timeout, set_write_timeout)) =
            self.hooks.as_ref().map(|hooks| (hooks.set_read_timeout, hooks.set_write_timeout))
        else {
            return self.write_out();
        };
        let mut last_words_end = None;
        loop {
            let started = Instant::now();
            if timers && last_words_end.is_none() && self.conn.should_close_transport() {
                last_words_end = started.checked_add(LAST_WORDS_WAIT);
            }
            let deadline = match timers {
                true => last_words_end.or_else(|| self.conn.poll_timeout()),
                false => None,
            };
            // The bound, armed lazily: a timeout already as short stays (a
            // busy connection makes no system call per write), and one that
            // fires before the bound is lifted below. The read timeout is
            // shortened too: a TLS stream may read inside a write.
            if let Some(wanted) = [deadline, limit_ends].into_iter().flatten().min().map(|at| until(at, started)) {
                if self.write_timeout.is_none_or(|armed| wanted.saturating_add(TIMER_SLACK) < armed) {
                    set_write_timeout(&self.stream, Some(wanted))?;
                    self.write_timeout = Some(wanted);
                }
                // (A read that finds it shorter than it needs fires early
                // and re-arms: no system call here per message.)
                if self.read_timeout.is_none_or(|armed| wanted.saturating_add(TIMER_SLACK) < armed) {
                    set_read_timeout(&self.stream, Some(wanted))?;
                    self.read_timeout = Some(wanted);
                }
            }
            let queued = self.conn.poll_transmit();
            let result = if queued.is_empty() {
                self.stream.flush().map(|()| None)
            } else {
                self.stream.write(queued).map(Some)
            };
            let now = Instant::now();
            match result {
                Ok(None) => return Ok(()),
                Ok(Some(0)) => return Err(ErrorKind::WriteZero.into()),
                Ok(Some(n)) => self.conn.advance_transmit(n),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if is_timeout(&err) => {
                    let waited = now.duration_since(started);
                    match deadline {
                        // The last words were not taken.
                        _ if last_words_end.is_some() => return Ok(()),
                        Some(deadline) if deadline <= now => {}
                        // A limit ran out: the rest stays queued.
                        _ if limit_ends.is_some_and(|ends| ends <= now + TIMER_SLACK) => return Err(err),
                        // Ours (or a read's, inside a TLS write), fired
                        // before what it was armed for: lift both, and the
                        // loop arms what is wanted now.
                        _ if [self.write_timeout, self.read_timeout]
                            .into_iter()
                            .flatten()
                            .any(|armed| fired(waited, armed)) =>
                        {
                            set_write_timeout(&self.stream, None)?;
                            self.write_timeout = None;
                            set_read_timeout(&self.stream, None)?;
                            self.read_timeout = None;
                        }
                        // A non-blocking stream.
                        _ => return Err(err),
                    }
                }
                Err(err) => return Err(err),
            }
            // A peer that takes the bytes slowly does not outlast a deadline.
            if last_words_end.is_some_and(|end| end <= now) {
                return Ok(());
            }
            if last_words_end.is_none() && deadline.is_some_and(|deadline| deadline <= now) {
                self.conn.handle_timeout(now);
                if self.conn.is_ending() {
                    return Ok(());
                }
            }
        }
    }

    /// One read from the stream into the connection, or the timers that are due.
    ///
    /// `limit_ends`: when the application's read limit runs out (with
    /// hooks): past it, `WouldBlock` without reading, unless this is the
    /// `first` read of the call (a short limit still reads once).
    fn fill(&mut self, limit_ends: Option<Instant>, first: bool) -> io::Result<()> {
        let started = Instant::now();
        let limit_ends = limit_ends.filter(|_| self.hooks.is_some());
        if !first && limit_ends.is_some_and(|ends| ends <= started) {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.arm_read_timeout(started, limit_ends)?;
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
                    _ if limit_ends.is_some_and(|ends| ends <= now) => return Err(err),
                    // Our read timeout, armed for a deadline (or a limit)
                    // that has since moved later: arm it afresh and read again.
                    _ if self.read_timeout.is_some_and(|armed| fired(waited, armed)) => self.read_stale = true,
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
    fn arm_read_timeout(&mut self, now: Instant, limit_ends: Option<Instant>) -> io::Result<()> {
        let Some(hooks) = &self.hooks else { return Ok(()) };
        let timeout = [self.conn.poll_timeout(), limit_ends].into_iter().flatten().min().map(|at| until(at, now));
        let rearm = self.read_stale
            || match (timeout, self.read_timeout) {
                (Some(wanted), Some(armed)) => wanted.saturating_add(TIMER_SLACK) < armed,
                (wanted, armed) => wanted != armed,
            };
        if rearm {
            (hooks.set_read_timeout)(&self.stream, timeout)?;
            self.read_timeout = timeout;
            self.read_stale = false;
        }
        // A TLS stream writes its pending records inside a read: bound
        // that write too.
        if self.unflushed {
            if let Some(wanted) = timeout {
                if self.write_timeout.is_none_or(|armed| wanted.saturating_add(TIMER_SLACK) < armed) {
                    (hooks.set_write_timeout)(&self.stream, Some(wanted))?;
                    self.write_timeout = Some(wanted);
                }
            }
        }
        Ok(())
    }
}

/// How long a write may wait for room once the connection is over (its
/// last close frame after a timer gave up on the peer): the socket takes
/// it at once or never.
const LAST_WORDS_WAIT: Duration = Duration::from_millis(1);

/// How long from `now` until `at`, at least [`MIN_LIMIT`].
fn until(at: Instant, now: Instant) -> Duration {
    at.saturating_duration_since(now).max(MIN_LIMIT)
}

/// Whether a timeout of `armed` has fired after `waited` (rather than a
/// non-blocking stream returning at once): within [`TIMER_SLACK`], or half
/// of a short one.
fn fired(waited: Duration, armed: Duration) -> bool {
    waited.saturating_add(TIMER_SLACK.min(armed / 2)) >= armed
}

/// A timeout's error: `WouldBlock` (Unix) or `TimedOut` (Windows), or a
/// non-blocking stream's.
fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The shortest timeout the adapter gives a stream (a zero one is refused
/// by `TcpStream`).
const MIN_LIMIT: Duration = Duration::from_millis(1);

/// How late a read timeout may fire after the connection's deadline before
/// it is re-armed (a system call).
const TIMER_SLACK: Duration = Duration::from_millis(5);
