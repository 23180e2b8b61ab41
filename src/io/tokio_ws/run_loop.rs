//! The tokio run loop both the [`WebSocketStream`](super::WebSocketStream) and its split halves drive: the stream, the connection and the one timer, with reading, writing, timers and the `Stream`/`Sink` operations.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::time::Sleep;
use tokio_util::io::poll_read_buf;

use super::now;
use crate::io::{end_of_stream, Error, ReadSize};
use crate::{CloseCode, Connection, Event, Message, MessagePart, ReadyState, State, UsageError};

/// Most I/O slices handed to one vectored write (Linux takes up to 1024).
const MAX_WRITE_SLICES: usize = 32;

/// Wakes every task that waits for the stream to become writable: the
/// stream remembers only one waker, and with split halves two tasks may write.
#[derive(Debug, Default)]
pub(super) struct WriteWakers(Mutex<Vec<Waker>>);

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The stream, the connection and the one timer: everything both halves share.
#[derive(Debug)]
pub(super) struct Inner<S> {
    pub(super) stream: S,
    pub(super) conn: Connection,
    timer: Option<Pin<Box<Sleep>>>,
    /// When `timer` is set to fire: at or before the connection's next
    /// deadline (see [`Inner::poll_timer`]).
    timer_armed: Option<Instant>,
    /// The waker `timer` holds since it was last polled (`None` once reset):
    /// while the same task waits again, the timer needs no new poll.
    timer_waker: Option<Waker>,
    /// Set once split: both halves may write, so writes wake them all.
    pub(super) write_wakers: Option<Arc<WriteWakers>>,
    read_size: ReadSize,
    finished: bool,
    /// Bytes were written since the stream was last flushed (or it never
    /// was): a stream that buffers (TLS) holds them until flushed.
    unflushed: bool,
    /// The task last seen in `recv` (the read half's, when split by either
    /// `into_split` or `StreamExt::split`).
    read_waker: Option<Waker>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(super) fn new(stream: S, mut conn: Connection) -> Self {
        // A stream that writes vectored (TCP) takes large payloads without a
        // copy; one that does not (TLS wrappers often) gets them coalesced,
        // so a frame header never goes out in a write of its own.
        conn.set_vectored_transmit(stream.is_write_vectored());
        Self {
            stream,
            conn,
            timer: None,
            timer_armed: None,
            timer_waker: None,
            write_wakers: None,
            read_size: ReadSize::new(),
            finished: false,
            unflushed: true,
            read_waker: None,
        }
    }

    /// The stream, for the caller to use directly: it is flushed at the next write-out.
    pub(super) fn stream_mut(&mut self) -> &mut S {
        self.unflushed = true;
        &mut self.stream
    }

    /// The run loop until the next whole message, the end of the stream, or a wait.
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        Poll::Ready(match ready!(self.poll_data(cx, false)) {
            Ok(Some(Event::Part(_))) => Err(UsageError::MessageInParts.into()),
            Ok(Some(Event::Message(message))) => Ok(Some(message)),
            Ok(_) => Ok(None),
            Err(err) => Err(err),
        })
    }

    /// The run loop until the next part of a message (a message that began
    /// whole is one part), the end of the stream, or a wait.
    pub(super) fn poll_recv_part(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<MessagePart>, Error>> {
        Poll::Ready(match ready!(self.poll_data(cx, true)) {
            Ok(Some(Event::Part(part))) => Ok(Some(part)),
            Ok(Some(Event::Message(message))) => Ok(Some(message.into())),
            Ok(_) => Ok(None),
            Err(err) => Err(err),
        })
    }

    /// The run loop until the next [`Event::Message`] or [`Event::Part`]
    /// (messages from now on handed out `in_parts` or whole), the end of the
    /// stream (`None`), or a wait.
    #[inline]
    fn poll_data(&mut self, cx: &mut Context<'_>, in_parts: bool) -> Poll<Result<Option<Event>, Error>> {
        self.conn.set_message_streaming(in_parts);
        if !self.read_waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            self.read_waker = Some(cx.waker().clone());
        }
        loop {
            while let Some(event) = self.conn.poll_event() {
                if matches!(event, Event::Message(_) | Event::Part(_)) {
                    return Poll::Ready(Ok(Some(event)));
                }
            }
            if self.finished {
                return Poll::Ready(end_of_stream(&self.conn).map(|_| None));
            }
            let progress = match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) | Poll::Pending => self.poll_transport(cx),
                // Closing: a transport that stopped taking bytes (an HTTP/2
                // stream the peer ended after its close frame) may still hold
                // the peer's close. Read it; the close timeout bounds the wait.
                // Closed, and the transport takes no more: nothing is left
                // to wait for (the close reason is known).
                Poll::Ready(Err(_)) if self.conn.is_closed() => {
                    self.finished = true;
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(_)) if self.is_closing() => self.poll_transport(cx),
                // A peer that stopped taking bytes may have said why first
                // (a close with 1009 for a message over its limit): read
                // what has already arrived, and report the write's error
                // only if nothing more is there.
                Poll::Ready(Err(err)) => match self.poll_transport(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                    Poll::Ready(Err(_)) | Poll::Pending => Poll::Ready(Err(err)),
                },
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

    /// True once a close frame was sent or received.
    fn is_closing(&self) -> bool {
        matches!(self.conn.ready_state(), ReadyState::Closing | ReadyState::Closed)
    }

    /// Shuts the transport down when the connection says so, else reads
    /// once and fires the timer if it is due. `Ready(Ok)` means progress was
    /// made.
    ///
    /// A due timer fires after the read, so bytes that arrived in time (a
    /// pong the application was too busy to read) count before it; and it
    /// fires even when the read had bytes, so a flooding peer cannot hold a
    /// deadline off. After a read that had bytes the deadline is compared
    /// with the read's own clock reading (the loop comes back here until a
    /// read would block, and only then waits on the timer), so a busy
    /// connection does not poll the timer once per message.
    fn poll_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.should_close_transport() {
            let _ = ready!(self.with_write_waker(cx, |stream, cx| Pin::new(stream).poll_shutdown(cx)));
            self.finished = true;
            return Poll::Ready(Ok(()));
        }
        let read = self.poll_read(cx);
        let due = match read {
            Poll::Ready(Ok(at)) => self.conn.poll_timeout().is_some_and(|deadline| deadline <= at),
            Poll::Ready(Err(_)) | Poll::Pending => self.poll_timer(cx).is_ready(),
        };
        if due {
            self.conn.handle_timeout(now());
            return match read {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                Poll::Ready(Ok(_)) | Poll::Pending => Poll::Ready(Ok(())),
            };
        }
        read.map_ok(drop)
    }

    /// Reads once into the connection; `Ok` holds the time the bytes (or
    /// the end of the stream) were handed to it.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Instant>> {
        let buf = self.conn.recv_buffer(self.read_size.min_spare());
        let offered = buf.capacity() - buf.len();
        let read = poll_read_buf(Pin::new(&mut self.stream), cx, buf);
        if read.is_pending() && !self.read_size.is_busy() {
            // Nothing to read and not busy: an idle connection keeps no
            // buffer memory. (A busy one keeps its buffers, or it would
            // reallocate them between bursts.)
            self.conn.release_idle_buffers();
        }
        let n = ready!(read)?;
        let at = now();
        match n {
            0 => self.conn.handle_eof(at),
            n => {
                self.read_size.record_read(n, offered);
                self.conn.handle_received(at);
            }
        }
        Poll::Ready(Ok(at))
    }

    /// Waits on the connection's next deadline with the one timer; `Ready`
    /// when due.
    ///
    /// The timer is set lazily: a deadline that moved later (the heartbeat's
    /// next ping, pushed back by every message received) leaves it where it
    /// was, and when it fires early it is set again to the deadline now in
    /// force; only a deadline earlier than the timer's resets it. So a busy
    /// connection resets its timer about once per interval, not once per
    /// message.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.conn.poll_timeout() else {
            return Poll::Pending; // the timer may fire uselessly; it is set again before use
        };
        let at = ::tokio::time::Instant::from_std(deadline);
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.timer_armed.is_none_or(|armed| deadline < armed) {
                    timer.as_mut().reset(at);
                    self.timer_armed = Some(deadline);
                    self.timer_waker = None;
                }
                timer
            }
            None => {
                self.timer_armed = Some(deadline);
                self.timer_waker = None;
                self.timer.insert(Box::pin(::tokio::time::sleep_until(at)))
            }
        };
        // Polled by this task before and not fired since: it will wake this
        // task when it fires, so polling it again (about a hundred
        // instructions, once per message on a busy connection) is not needed.
        if self.timer_waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) && !timer.is_elapsed() {
            return Poll::Pending;
        }
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                if !self.timer_waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                    self.timer_waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            if self.timer_armed.is_some_and(|armed| armed >= deadline) {
                self.timer_waker = None;
                return Poll::Ready(());
            }
            // Fired for a deadline that has since moved later.
            timer.as_mut().reset(at);
            self.timer_armed = Some(deadline);
            self.timer_waker = None;
        }
    }

    /// Writes out everything queued, as [`poll_write_out`](Self::poll_write_out)
    /// does, while the connection's timers run: a peer that reads nothing
    /// cannot hold a close past `close_timeout`. `Ready(Ok)` once written,
    /// or once a timer ended the connection (the next `recv` says why and
    /// drops the transport). For the unsplit stream: the one timer wakes
    /// the task that polled it last.
    pub(super) fn poll_write_out_timed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.poll_write_out(cx) {
                Poll::Pending => {}
                done => return done,
            }
            // The socket takes no more: stop once the connection is over,
            // else wait for the next deadline (the close timer's at the latest).
            if self.conn.is_ending() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_timer(cx));
            self.fire_timers();
        }
    }

    /// Fires the connection's due timers, and wakes the reading task to
    /// learn the outcome.
    pub(super) fn fire_timers(&mut self) {
        self.conn.handle_timeout(now());
        self.wake_reader();
    }

    /// Wakes the task waiting in `recv` (a read half), so that it looks at
    /// the connection again: a close the write side started arms a timer
    /// the read side must wait on.
    pub(super) fn wake_reader(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
    }

    /// Writes everything queued and flushes the stream.
    #[inline]
    pub(super) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing to write or flush (every other call of an echo loop):
        // answered without entering the writing code.
        if !self.unflushed && !self.conn.has_transmit() {
            return Poll::Ready(Ok(()));
        }
        self.poll_write_out_now(cx)
    }

    /// [`poll_write_out`](Self::poll_write_out) past its quick check.
    fn poll_write_out_now(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let run = self.conn.poll_transmit().len();
            if run == 0 {
                if !self.unflushed {
                    return Poll::Ready(Ok(()));
                }
                ready!(self.with_write_waker(cx, |stream, cx| Pin::new(stream).poll_flush(cx)))?;
                self.unflushed = false;
                return Poll::Ready(Ok(()));
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
            self.unflushed = true;
            self.conn.advance_transmit(written);
        }
    }

    /// A failed write as the application sees it: when the connection had
    /// already ended for a reason that is not normal (a heartbeat that gave
    /// up closes the transport under a writer waiting for room), that
    /// reason, `Error::Closed`; otherwise the I/O error.
    pub(super) fn write_error(&self, err: io::Error) -> Error {
        match end_of_stream(&self.conn) {
            Err(closed) => closed,
            Ok(_) => err.into(),
        }
    }

    /// Waits until a message may be queued (the write buffer is under its limit).
    pub(super) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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

/// The `Sink` operations, on an `Inner` however it is owned.
impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(super) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        Ok(self.conn.send_owned(message)?)
    }

    /// Sends a normal close (if none was sent) and writes it out; the read
    /// side completes the close handshake, and is woken to arm the close
    /// timer. The write waits for the stream: the `Sink` may be one half of
    /// `StreamExt::split`, whose other half the one timer wakes (the
    /// inherent `close` is the one bounded by `close_timeout`).
    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            self.conn.close(CloseCode::NORMAL, "", now())?;
            self.wake_reader();
        }
        Poll::Ready(Ok(ready!(self.poll_write_out(cx))?))
    }
}

pub(super) fn poll_next<S: AsyncRead + AsyncWrite + Unpin>(
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

/// Implements `Sink<Message>` for a type with a `with_inner` method that
/// runs a closure on its [`Inner`].
macro_rules! impl_sink {
    ($type:ident) => {
        impl<S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin> ::futures_sink::Sink<$crate::Message>
            for $type<S>
        {
            type Error = $crate::io::Error;
            fn poll_ready(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.get_mut().with_inner(|inner| inner.poll_room(cx).map_err(|err| inner.write_error(err)))
            }
            fn start_send(self: ::std::pin::Pin<&mut Self>, message: $crate::Message) -> Result<(), Self::Error> {
                self.get_mut().with_inner(|inner| inner.start_send(message))
            }
            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.get_mut().with_inner(|inner| inner.poll_write_out(cx).map_err(|err| inner.write_error(err)))
            }
            /// Sends a close frame with code 1000 (normal), unless one was sent
            /// already, and writes it out; the read side completes the close
            /// handshake. For another code, call the adapter's own
            /// `close(code, reason)` (on the socket or its `into_split` writer).
            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Result<(), Self::Error>> {
                self.get_mut().with_inner(|inner| inner.poll_close(cx))
            }
        }
    };
}
pub(super) use impl_sink;
