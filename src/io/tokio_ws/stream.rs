//! The tokio [`WebSocketStream`]: receiving, sending and closing on one task, as methods and as futures `Stream` and `Sink`.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::Stream;

use super::chunks::ChunkReader;
use super::now;
use super::run_loop::{impl_sink, poll_next, Inner};
use super::split::{self, WebSocketReader, WebSocketWriter};
use crate::io::Error;
use crate::{CloseCode, CloseReason, Connection, DataKind, Message, MessagePart, ReadyState, RttEstimate};

/// A WebSocket over an async stream.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    inner: Inner<S>,
    /// The `Stream` impl has yielded its end.
    ended: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wraps a connection whose handshake is done (bytes that came with the
    /// handshake must already be in it).
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        Self { inner: Inner::new(stream, conn), ended: false }
    }

    /// Receives the next message, answering pings and completing the close
    /// handshake on the way. `Ok(None)` once the connection ended normally
    /// ([`CloseReason::is_normal`](crate::CloseReason::is_normal): we closed,
    /// or the peer closed with 1000, 1001 or no code) and the transport was
    /// shut down; [`Error::Closed`] with the reason if it ended otherwise (the
    /// peer closed with another code such as 1011, broke the protocol, went
    /// away without a close frame, or a timer ran out). Cancel-safe. After the end,
    /// [`connection().close_reason()`](Connection::close_reason) says how it
    /// ended (the peer's close code and reason, who closed first).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Receives the next part of a message: messages from now on are handed
    /// out in parts as their bytes arrive ([`MessagePart`]: kind, bytes,
    /// `first`, `last`), so a message of any size (an upload written to
    /// disk, a file forwarded) costs memory for the reads only. A message
    /// already begun whole comes as one part. `Ok(None)` and errors as for
    /// [`recv`](Self::recv). Both limits still apply: raise
    /// `Config::max_message_size` to the largest message the connection may
    /// receive, and `Config::max_frame_size` to the largest frame its peer
    /// sends (one that sends a whole upload as one frame needs it as high;
    /// memory stays at the reads either way). Calling
    /// [`recv`](Self::recv) instead goes back to whole messages from the next
    /// one (in the middle of a message received in parts, `recv` fails with
    /// [`UsageError::MessageInParts`](crate::UsageError::MessageInParts)).
    /// Cancel-safe.
    ///
    /// ```no_run
    /// # async fn f(mut socket: rfc6455::io::tokio_ws::WebSocketStream<tokio::net::TcpStream>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::AsyncWriteExt;
    /// let mut file = tokio::fs::File::create("upload.bin").await?;
    /// while let Some(part) = socket.recv_part().await? {
    ///     file.write_all(&part.data).await?;
    ///     if part.last {
    ///         break; // the whole message is on disk
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv_part(&mut self) -> Result<Option<MessagePart>, Error> {
        poll_fn(|cx| self.inner.poll_recv_part(cx)).await
    }

    /// Sends a message of `kind` whose payload is read from `reader` to its
    /// end, as fragments of 64 KiB written as they are read (waiting for room
    /// under `Config::write_buffer_limit`): memory stays bounded whatever the
    /// size. Returns the payload's length. For text, the bytes must be valid
    /// UTF-8 (checked across fragments: [`UsageError::InvalidUtf8`](crate::UsageError::InvalidUtf8)).
    ///
    /// Not cancel-safe, and an error from `reader` ends it midway: either
    /// leaves the message unfinished, so nothing else can be sent (sends fail
    /// with [`FragmentedMessageInProgress`](crate::UsageError::FragmentedMessageInProgress));
    /// close the connection then. A peer that refuses the message (1009:
    /// over its limit) closes, and the send fails with the transport's error
    /// (a broken pipe); [`recv`](Self::recv) then returns the peer's reason,
    /// [`Error::Closed`] with its code.
    ///
    /// ```no_run
    /// # async fn f(mut socket: rfc6455::io::tokio_ws::WebSocketStream<tokio::net::TcpStream>) -> Result<(), Box<dyn std::error::Error>> {
    /// let file = tokio::fs::File::open("video.mp4").await?;
    /// let sent = socket.send_from(rfc6455::DataKind::Binary, file).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_from<R: AsyncRead + Unpin>(&mut self, kind: DataKind, reader: R) -> Result<u64, Error> {
        let mut chunks = ChunkReader::new(reader);
        loop {
            let (chunk, last) = chunks.next().await?;
            poll_fn(|cx| self.inner.poll_room(cx)).await.map_err(|err| self.inner.write_error(err))?;
            self.inner.conn.send_fragment(kind, chunk, last)?;
            poll_fn(|cx| self.inner.poll_write_out(cx)).await.map_err(|err| self.inner.write_error(err))?;
            if last {
                return Ok(chunks.total);
            }
        }
    }

    /// Sends a [`MessagePart`] and writes it out (waiting for room under
    /// `Config::write_buffer_limit` first): with [`recv_part`](Self::recv_part)
    /// on another connection, relays a message of any size in memory bounded
    /// by its parts. A part that is `first` and `last` goes as one message;
    /// the others as fragments the size of the parts, the `last` ending the
    /// message (see [`Connection::send_part`] for the errors). Until then
    /// only pings, pongs and close may be sent.
    ///
    /// The receiving end still counts the whole message against its
    /// `max_message_size` (raise it there too); its `max_frame_size` only
    /// has to admit the parts. A connection that waits to be relayed to must
    /// keep reading meanwhile (`recv` in a `select!`), or its peer's
    /// heartbeat declares it dead after `ping_interval + pong_timeout`.
    ///
    /// ```no_run
    /// # async fn f(
    /// #     mut from: rfc6455::io::tokio_ws::WebSocketStream<tokio::net::TcpStream>,
    /// #     mut to: rfc6455::io::tokio_ws::WebSocketStream<tokio::net::TcpStream>,
    /// # ) -> Result<(), rfc6455::io::Error> {
    /// // Forward every message, however large, as it arrives.
    /// while let Some(part) = from.recv_part().await? {
    ///     to.send_part(part).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_part(&mut self, part: MessagePart) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_room(cx)).await.map_err(|err| self.inner.write_error(err))?;
        self.inner.conn.send_part(part)?;
        poll_fn(|cx| self.inner.poll_write_out(cx)).await.map_err(|err| self.inner.write_error(err))
    }

    /// Queues a message (waiting for room under `Config::write_buffer_limit`
    /// first) and writes it out: it returns once the stream has taken all
    /// the queued bytes, so a peer that reads nothing keeps it waiting once
    /// the kernel's socket buffers (often megabytes) are full. Cancel-safe:
    /// see the module docs; put a timeout on it, or keep a task in
    /// [`recv`](Self::recv) with `Config::ping_interval` set, whose heartbeat
    /// ends such a connection and the wait with it.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        feed(&mut self.inner, message.into()).await?;
        poll_fn(|cx| self.inner.poll_write_out(cx)).await.map_err(|err| self.inner.write_error(err))
    }

    /// Queues a message (waiting for room under `Config::write_buffer_limit`
    /// first) without writing it: it goes out, with everything queued before
    /// and after it, in one write at the next [`recv`](Self::recv) that has
    /// to wait for the stream, or at [`send`](Self::send) or
    /// [`flush`](Self::flush). For answering a burst of messages with one
    /// system call: `recv`, `feed`, `recv`, ... (`SinkExt::feed` does the
    /// same). Cancel-safe like `send`.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        feed(&mut self.inner, message.into()).await
    }

    /// Sends a [`PreparedMessage`](crate::PreparedMessage): the same frame,
    /// encoded once, for every connection a message goes to (a chat room, a
    /// feed). Waits for room under `Config::write_buffer_limit` as
    /// [`send`](Self::send) does, so one slow subscriber holds back only its
    /// own task. Cancel-safe like `send`.
    ///
    /// ```no_run
    /// # async fn f(subscribers: &mut [rfc6455::io::tokio_ws::WebSocketStream<tokio::net::TcpStream>]) -> Result<(), rfc6455::io::Error> {
    /// let update = rfc6455::PreparedMessage::new("price 42.17");
    /// for socket in subscribers.iter_mut() {
    ///     socket.send_prepared(&update).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        poll_fn(|cx| self.inner.poll_write_out(cx)).await.map_err(|err| self.inner.write_error(err))
    }

    /// Queues a [`PreparedMessage`](crate::PreparedMessage) without writing
    /// it, as [`feed`](Self::feed) does for a message: a subscriber task
    /// that finds several updates waiting feeds them all, then
    /// [`flush`](Self::flush)es once (one system call, not one per update).
    /// Waits for room under `Config::write_buffer_limit` first. Cancel-safe.
    pub async fn feed_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_room(cx)).await.map_err(|err| self.inner.write_error(err))?;
        Ok(self.inner.conn.send_prepared(message)?)
    }

    /// Starts the close handshake: queues the close frame and writes out
    /// everything queued before it. Keep calling [`recv`](Self::recv) until
    /// it returns `Ok(None)`, then read the peer's answer from
    /// [`connection().close_reason()`](Connection::close_reason).
    ///
    /// Bounded by `Config::close_timeout`: against a peer that reads
    /// nothing (its socket full, the queue stuck behind it) `close` returns
    /// `Ok` once the timeout has passed, and the next `recv` returns
    /// `Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake)))`
    /// and drops the transport. (`SinkExt::close` waits for the stream
    /// without that bound: its other half, after `StreamExt::split`, owns
    /// the timer.)
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.conn.close(code, reason, now())?;
        poll_fn(|cx| self.inner.poll_write_out_timed(cx)).await.map_err(|err| self.inner.write_error(err))
    }

    /// Writes out everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_write_out(cx)).await.map_err(|err| self.inner.write_error(err))
    }

    /// Sends a ping with up to 125 bytes of payload: queued like
    /// [`send`](Self::send) (waiting for room under
    /// `Config::write_buffer_limit` first) and written out. Cancel-safe in
    /// the same way.
    ///
    /// The peer's pong is not returned by [`recv`](Self::recv), and does not
    /// update [`rtt`](Self::rtt), which only the heartbeat's own pings
    /// (`Config::ping_interval`) measure. Fails with
    /// [`UsageError::ControlPayloadTooLong`](crate::UsageError::ControlPayloadTooLong)
    /// (shorten the payload) or, once a close frame was sent,
    /// [`UsageError::Closed`](crate::UsageError::Closed), as
    /// [`Connection::ping`] does; nothing is queued then.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_room(cx)).await.map_err(|err| self.inner.write_error(err))?;
        self.inner.conn.ping(payload)?;
        self.flush().await
    }

    /// Sends a pong with up to 125 bytes of payload (an unsolicited
    /// heartbeat: pings that arrive are answered for you, see
    /// `Config::auto_pong`), queued and written out like [`ping`](Self::ping),
    /// with the same errors ([`Connection::pong`]).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_room(cx)).await.map_err(|err| self.inner.write_error(err))?;
        self.inner.conn.pong(payload)?;
        self.flush().await
    }

    /// Why the connection closed, once it has: the peer's close code and
    /// reason and who closed first for a clean close, or what went wrong.
    /// `None` while it is open or closing. As [`Connection::close_reason`].
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.inner.conn.close_reason()
    }

    /// Bytes queued for the stream and not yet written (the browser API's
    /// `bufferedAmount`). As [`Connection::buffered_amount`].
    pub fn buffered_amount(&self) -> usize {
        self.inner.conn.buffered_amount()
    }

    /// `Open`, `Closing` once a close frame was sent, or `Closed` (the
    /// browser API's `readyState`). As [`Connection::ready_state`].
    pub fn ready_state(&self) -> ReadyState {
        self.inner.conn.ready_state()
    }

    /// The round-trip time measured by the heartbeat's pings
    /// (`Config::ping_interval`); `None` until one was answered. As
    /// [`Connection::rtt`].
    pub fn rtt(&self) -> Option<RttEstimate> {
        self.inner.conn.rtt()
    }

    /// The protocol state machine underneath.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// Changes the message and frame size limits (`Config::max_message_size`,
    /// `Config::max_frame_size`) of this connection from now on: e.g. raised
    /// for an upload route only, after the handshake told which route it is.
    pub fn set_receive_limits(&mut self, max_message_size: usize, max_frame_size: usize) {
        self.inner.conn.set_max_message_size(max_message_size);
        self.inner.conn.set_max_frame_size(max_frame_size);
    }

    /// The stream, e.g. to read socket options.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.stream_mut()
    }

    /// Splits into a read half and a write half for separate tasks. The read
    /// half answers pings and completes the close handshake on its own, so an
    /// application that only writes must still poll it.
    ///
    /// Returns `(reader, writer)`, read half first as tokio's
    /// `TcpStream::into_split` does. It is named `into_split`, not `split`, so
    /// that `futures`' `StreamExt::split` (which gives `(sink, stream)`, write
    /// half first) keeps its name and order: code written for
    /// tokio-tungstenite's `let (write, read) = socket.split();` works
    /// unchanged, with the `Sink` and `Stream` halves.
    pub fn into_split(self) -> (WebSocketReader<S>, WebSocketWriter<S>) {
        split::halves(self.inner, self.ended)
    }
}

async fn feed<S: AsyncRead + AsyncWrite + Unpin>(inner: &mut Inner<S>, message: Message) -> Result<(), Error> {
    if inner.conn.is_write_buffer_full() {
        poll_fn(|cx| inner.poll_room(cx)).await.map_err(|err| inner.write_error(err))?;
    }
    Ok(inner.conn.send_owned(message)?)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        poll_next(&mut this.inner, &mut this.ended, cx)
    }
}

impl<S> WebSocketStream<S> {
    fn with_inner<T>(&mut self, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
        f(&mut self.inner)
    }
}

impl_sink!(WebSocketStream);
