//! The tokio adapter: a [`Connection`] over any `AsyncRead + AsyncWrite + Unpin`.
//!
//! ```no_run
//! use rfc6455::io::tokio as ws;
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
//! and `Sink<Message>`, and [`split`](WebSocketStream::split)s into halves
//! for separate tasks: the read half keeps answering pings and completing the
//! close handshake even if the application only ever writes.
//!
//! **Cancel safety.** [`recv`](WebSocketStream::recv) is cancel-safe: if its
//! future is dropped (e.g. another `tokio::select!` branch won), no message
//! is lost; received bytes stay in the connection. [`send`](WebSocketStream::send)
//! is cancel-safe in that the message is either not queued at all (dropped
//! while waiting for room in the write buffer) or queued whole, and then
//! written by later calls to `recv`, `send` or `flush`.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use ::tokio::time::Sleep;
use futures_core::Stream;
use futures_sink::Sink;
use tokio_util::io::poll_read_buf;

use super::{end_of_stream, server_step, Error, ReadSize, ServerStep, READ_CHUNK};
use crate::handshake::{Accept, ClientHandshake, ClientRequest, Reject, Response, ServerHandshake, UpgradeRequest};
use crate::{CloseCode, Config, Connection, Event, Message, State, Status, UsageError};

/// Most I/O slices handed to one vectored write (Linux takes up to 1024).
const MAX_WRITE_SLICES: usize = 32;

/// The current time on tokio's clock (virtual under `tokio::time::pause`).
fn now() -> Instant {
    ::tokio::time::Instant::now().into_std()
}

/// Wakes every task that waits for the stream to become writable: the
/// stream remembers only one waker, and with split halves two tasks may write.
#[derive(Debug, Default)]
struct WriteWakers(Mutex<Vec<Waker>>);

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The stream, the connection and the one timer: everything both halves share.
#[derive(Debug)]
struct Inner<S> {
    stream: S,
    conn: Connection,
    timer: Option<Pin<Box<Sleep>>>,
    timer_deadline: Option<Instant>,
    /// Set once split: both halves may write, so writes wake them all.
    write_wakers: Option<Arc<WriteWakers>>,
    read_size: ReadSize,
    finished: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(stream: S, mut conn: Connection) -> Self {
        // A stream that writes vectored (TCP) takes large payloads without a
        // copy; one that does not (TLS wrappers often) gets them coalesced,
        // so a frame header never goes out in a write of its own.
        conn.set_vectored_transmit(stream.is_write_vectored());
        Self {
            stream,
            conn,
            timer: None,
            timer_deadline: None,
            write_wakers: None,
            read_size: ReadSize::new(),
            finished: false,
        }
    }

    /// The run loop until the next message, the end of the stream, or a wait.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        loop {
            while let Some(event) = self.conn.poll_event() {
                if let Event::Message(message) = event {
                    return Poll::Ready(Ok(Some(message)));
                }
            }
            if self.finished {
                return Poll::Ready(end_of_stream(&self.conn));
            }
            let progress = match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) | Poll::Pending => self.poll_transport(cx),
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            };
            match progress {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                // The transport broke after the WebSocket had closed: nothing is lost.
                Poll::Ready(Err(_)) if self.conn.is_closed() => self.finished = true,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err.into())),
            }
        }
    }

    /// Shuts the transport down when the connection says so, else reads
    /// once and fires the timer if it is due. `Ready(Ok)` means progress was
    /// made.
    ///
    /// A due timer fires after the read, so bytes that arrived in time (a
    /// pong the application was too busy to read) count before it; and it
    /// fires even when the read had bytes, so a flooding peer cannot hold a
    /// deadline off.
    fn poll_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.should_close_transport() {
            let _ = ready!(self.with_write_waker(cx, |stream, cx| Pin::new(stream).poll_shutdown(cx)));
            self.finished = true;
            return Poll::Ready(Ok(()));
        }
        let due = self.poll_timer(cx).is_ready();
        let read = self.poll_read(cx);
        if due {
            self.conn.handle_timeout(now());
            return match read {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(())),
            };
        }
        read
    }

    /// Reads once into the connection.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let want = self.read_size.get();
        let read = poll_read_buf(Pin::new(&mut self.stream), cx, self.conn.recv_buffer(want));
        if read.is_pending() && !self.read_size.is_busy() {
            // Nothing to read and not busy: an idle connection keeps no
            // buffer memory. (A busy one keeps its buffers, or it would
            // reallocate them between bursts.)
            self.conn.release_idle_buffers();
        }
        match ready!(read)? {
            0 => self.conn.handle_eof(now()),
            n => {
                self.read_size.record(n);
                self.conn.handle_received(now());
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Keeps the one timer on the connection's next deadline; `Ready` when due.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.conn.poll_timeout();
        if deadline != self.timer_deadline {
            self.timer_deadline = deadline;
            if let Some(deadline) = deadline {
                let at = ::tokio::time::Instant::from_std(deadline);
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(at),
                    None => self.timer = Some(Box::pin(::tokio::time::sleep_until(at))),
                }
            }
        }
        match (&mut self.timer, deadline) {
            (Some(timer), Some(_)) => timer.as_mut().poll(cx),
            _ => Poll::Pending,
        }
    }

    /// Writes everything queued and flushes the stream.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let run = self.conn.poll_transmit().len();
            if run == 0 {
                return self.with_write_waker(cx, |stream, cx| Pin::new(stream).poll_flush(cx));
            }
            let (stream, conn) = (&mut self.stream, &mut self.conn);
            let written = if run == conn.buffered_amount() {
                // One run (the usual case): a plain write.
                ready!(Self::write_with(&self.write_wakers, cx, |cx| Pin::new(stream)
                    .poll_write(cx, conn.poll_transmit())))?
            } else {
                let mut slices = [io::IoSlice::new(&[]); MAX_WRITE_SLICES];
                let filled = conn.poll_transmit_vectored(&mut slices);
                let slices = slices.get(..filled).unwrap_or_default();
                ready!(Self::write_with(&self.write_wakers, cx, |cx| Pin::new(stream).poll_write_vectored(cx, slices)))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.advance_transmit(written);
        }
    }

    /// Waits until a message may be queued (the write buffer is under its limit).
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.is_write_buffer_full() {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn with_write_waker<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut S, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let stream = &mut self.stream;
        Self::write_with(&self.write_wakers, cx, |cx| op(stream, cx))
    }

    /// Runs a write-side poll with a waker that wakes every waiting writer.
    fn write_with<T>(
        wakers: &Option<Arc<WriteWakers>>,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Some(wakers) = wakers else {
            return op(cx); // not split: one task writes, its waker is enough
        };
        // Register before polling: the stream may wake before it returns Pending.
        let register = |waiting: &mut Vec<Waker>| {
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
        };
        register(&mut wakers.0.lock().unwrap_or_else(PoisonError::into_inner));
        let shared = Waker::from(Arc::clone(wakers));
        let result = op(&mut Context::from_waker(&shared));
        if result.is_ready() {
            let mut waiting = wakers.0.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.retain(|w| !w.will_wake(cx.waker()));
        }
        result
    }
}

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
    /// handshake on the way. `Ok(None)` once the connection closed cleanly
    /// and the transport was shut down; [`Error::Closed`] if it ended
    /// otherwise. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Queues a message (waiting for room under `Config::write_buffer_limit`
    /// first) and writes it out. Cancel-safe: see the module docs.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        feed(&mut self.inner, message.into()).await?;
        Ok(poll_fn(|cx| self.inner.poll_write_out(cx)).await?)
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

    /// Starts the close handshake; keep calling [`recv`](Self::recv) until it
    /// returns `Ok(None)`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.conn.close(code, reason, now())?;
        self.flush().await
    }

    /// Writes out everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        Ok(poll_fn(|cx| self.inner.poll_write_out(cx)).await?)
    }

    /// The protocol state machine underneath.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The stream, e.g. to read socket options.
    pub fn get_ref(&self) -> &S {
        &self.inner.stream
    }

    /// The stream. Reading or writing it directly corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.stream
    }

    /// Splits into a read half and a write half for separate tasks. The read
    /// half answers pings and completes the close handshake on its own, so an
    /// application that only writes must still poll it.
    pub fn split(self) -> (WebSocketReader<S>, WebSocketWriter<S>) {
        let mut inner = self.inner;
        inner.write_wakers = Some(Arc::default());
        let shared = Arc::new(Mutex::new(inner));
        (WebSocketReader { shared: Arc::clone(&shared), ended: self.ended }, WebSocketWriter { shared })
    }
}

async fn feed<S: AsyncRead + AsyncWrite + Unpin>(inner: &mut Inner<S>, message: Message) -> Result<(), Error> {
    poll_fn(|cx| inner.poll_room(cx)).await?;
    Ok(inner.conn.send(&message)?)
}

/// The read half of a split [`WebSocketStream`].
#[derive(Debug)]
pub struct WebSocketReader<S> {
    shared: Arc<Mutex<Inner<S>>>,
    ended: bool,
}

/// The write half of a split [`WebSocketStream`].
#[derive(Debug)]
pub struct WebSocketWriter<S> {
    shared: Arc<Mutex<Inner<S>>>,
}

fn locked<S, T>(shared: &Mutex<Inner<S>>, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner))
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketReader<S> {
    /// Runs `f` on the protocol state machine underneath (shared with the
    /// write half), e.g. `reader.with_connection(|c| c.rtt())`.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        locked(&self.shared, |inner| f(&inner.conn))
    }

    /// As [`WebSocketStream::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_recv(cx))).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketWriter<S> {
    /// Runs `f` on the protocol state machine underneath (shared with the
    /// read half), e.g. `writer.with_connection(|c| c.buffered_amount())`.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        locked(&self.shared, |inner| f(&inner.conn))
    }

    /// As [`WebSocketStream::send`]. Cancel-safe in the same way.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// As [`WebSocketStream::feed`]: queued bytes go out at the next `recv`
    /// of the read half that waits for the stream, or at `send` or `flush`.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx))).await?;
        Ok(locked(&self.shared, |inner| inner.conn.send(&message))?)
    }

    /// As [`WebSocketStream::close`]; the read half completes the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        locked(&self.shared, |inner| inner.conn.close(code, reason, now()))?;
        self.flush().await
    }

    /// Writes out everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        Ok(poll_fn(|cx| locked(&self.shared, |inner| inner.poll_write_out(cx))).await?)
    }
}

fn poll_next<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut Inner<S>,
    ended: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Message, Error>>> {
    if *ended {
        return Poll::Ready(None);
    }
    let item = ready!(inner.poll_recv(cx)).transpose();
    *ended = !matches!(item, Some(Ok(_)));
    Poll::Ready(item)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        poll_next(&mut this.inner, &mut this.ended, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketReader<S> {
    type Item = Result<Message, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        locked(&this.shared, |inner| poll_next(inner, &mut this.ended, cx))
    }
}

/// The `Sink` operations, on an `Inner` however it is owned.
impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn start_send(&mut self, message: Message) -> Result<(), Error> {
        Ok(self.conn.send(&message)?)
    }

    /// Sends a normal close (if none was sent) and writes it out; the read
    /// side completes the close handshake.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            self.conn.close(CloseCode::NORMAL, "", now())?;
        }
        Poll::Ready(Ok(ready!(self.poll_write_out(cx))?))
    }
}

macro_rules! impl_sink {
    ($type:ident) => {
        impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for $type<S> {
            type Error = Error;
            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.get_mut().with_inner(|inner| inner.poll_room(cx).map_err(Error::from))
            }
            fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
                self.get_mut().with_inner(|inner| inner.start_send(message))
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.get_mut().with_inner(|inner| inner.poll_write_out(cx).map_err(Error::from))
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.get_mut().with_inner(|inner| inner.poll_close(cx))
            }
        }
    };
}

impl<S> WebSocketStream<S> {
    fn with_inner<T>(&mut self, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
        f(&mut self.inner)
    }
}

impl<S> WebSocketWriter<S> {
    fn with_inner<T>(&mut self, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
        locked(&self.shared, f)
    }
}

impl_sink!(WebSocketStream);
impl_sink!(WebSocketWriter);

/// Runs a handshake future, giving up with [`Error::HandshakeTimeout`] after
/// `limit` (dropping the future drops the stream, which closes it).
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    handshake: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => ::tokio::time::timeout(limit, handshake).await.unwrap_or(Err(Error::HandshakeTimeout(limit))),
        None => handshake.await,
    }
}

/// Connects to a `ws://` URL over TCP (with `TCP_NODELAY` unless
/// `Config::tcp_nodelay` is off) and performs the
/// client handshake. For `wss://`, connect a TLS stream yourself and use [`client`].
pub async fn connect(url: &str) -> Result<(WebSocketStream<TcpStream>, Response), Error> {
    connect_with(&ClientRequest::new(url)?, &Config::default()).await
}

/// [`connect`] with a prepared request (subprotocols, headers) and a config.
/// Connecting and the handshake together may take up to
/// `Config::handshake_timeout`.
pub async fn connect_with(
    request: &ClientRequest,
    config: &Config,
) -> Result<(WebSocketStream<TcpStream>, Response), Error> {
    if request.is_secure() {
        return Err(UsageError::InvalidUrl("wss:// needs TLS: connect a TLS stream yourself and use client()").into());
    }
    within(config.handshake_timeout, async {
        let stream = TcpStream::connect((request.host(), request.port())).await?;
        stream.set_nodelay(config.tcp_nodelay)?;
        client_handshake(request, stream, config).await
    })
    .await
}

/// Performs the client handshake over `stream`, giving up with
/// [`Error::HandshakeTimeout`] after `Config::handshake_timeout`.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    request: &ClientRequest,
    stream: S,
    config: &Config,
) -> Result<(WebSocketStream<S>, Response), Error> {
    within(config.handshake_timeout, client_handshake(request, stream, config)).await
}

pub(crate) async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    request: &ClientRequest,
    mut stream: S,
    config: &Config,
) -> Result<(WebSocketStream<S>, Response), Error> {
    let mut hs = ClientHandshake::new(request, config, super::os_seed());
    stream.write_all(hs.poll_transmit()).await?;
    stream.flush().await?;
    hs.advance_transmit(hs.poll_transmit().len());
    let response = loop {
        if let Status::Complete(response) = hs.poll_response()? {
            break response;
        }
        let buf = hs.recv_buffer();
        buf.reserve(READ_CHUNK);
        if stream.read_buf(buf).await? == 0 {
            return Err(eof_during_handshake());
        }
    };
    let conn = hs.into_connection(now())?;
    Ok((WebSocketStream::from_connection(stream, conn), response))
}

/// Performs the server handshake over `stream`, accepting any valid request.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<WebSocketStream<S>, Error> {
    accept_with(stream, &Config::default(), |_| Ok(Accept::new())).await
}

/// Performs the server handshake over an accepted TCP stream, after setting
/// `TCP_NODELAY` on it (unless `Config::tcp_nodelay` is off); otherwise as
/// [`accept_with`].
pub async fn accept_tcp<F>(stream: TcpStream, config: &Config, hook: F) -> Result<WebSocketStream<TcpStream>, Error>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    stream.set_nodelay(config.tcp_nodelay)?;
    accept_with(stream, config, hook).await
}

/// Performs the server handshake, letting `hook` inspect the request (path,
/// headers, `Origin`, offered subprotocols) and accept or reject it. A
/// rejection, or an invalid request, is answered over `stream` and returned
/// as an error. A peer that has not completed the handshake within
/// `Config::handshake_timeout` (slowloris) gets [`Error::HandshakeTimeout`]
/// and the stream is dropped.
pub async fn accept_with<S, F>(stream: S, config: &Config, hook: F) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    within(config.handshake_timeout, accept_handshake(stream, config, hook)).await
}

async fn accept_handshake<S, F>(mut stream: S, config: &Config, hook: F) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let mut hs = ServerHandshake::new(config);
    let mut hook = Some(hook);
    loop {
        match server_step(&mut hs, &mut hook, now()) {
            ServerStep::Accepted(conn) => {
                let mut socket = WebSocketStream::from_connection(stream, *conn);
                socket.flush().await?; // the 101 response
                return Ok(socket);
            }
            ServerStep::Refused(err) => {
                stream.write_all(hs.poll_transmit()).await?;
                stream.shutdown().await?;
                return Err(err);
            }
            ServerStep::NeedMore => {
                let buf = hs.recv_buffer();
                buf.reserve(READ_CHUNK);
                if stream.read_buf(buf).await? == 0 {
                    return Err(eof_during_handshake());
                }
            }
        }
    }
}

fn eof_during_handshake() -> Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection during the handshake").into()
}
