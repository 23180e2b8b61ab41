//! The split halves of a tokio [`WebSocketStream`](super::WebSocketStream): a reader and a writer for separate tasks, sharing one run loop behind a mutex.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::Stream;

use super::chunks::ChunkReader;
use super::now;
use super::run_loop::{impl_sink, poll_next, Inner};
use crate::io::Error;
use crate::{CloseCode, CloseReason, Connection, DataKind, Message, MessagePart, ReadyState, RttEstimate};

/// The read half of a split [`WebSocketStream`](super::WebSocketStream).
#[derive(Debug)]
pub struct WebSocketReader<S> {
    shared: Arc<Mutex<Inner<S>>>,
    ended: bool,
}

/// The write half of a split [`WebSocketStream`](super::WebSocketStream).
#[derive(Debug)]
pub struct WebSocketWriter<S> {
    shared: Arc<Mutex<Inner<S>>>,
}

fn locked<S, T>(shared: &Mutex<Inner<S>>, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The getters both halves have: they read the state the halves share.
macro_rules! shared_state_getters {
    ($other:literal, $example:literal) => {
        #[doc = concat!("Runs `f` on the protocol state machine underneath (shared with the ", $other, " half), e.g. `", $example, "`.")]
        pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
            locked(&self.shared, |inner| f(&inner.conn))
        }

        /// As [`WebSocketStream::close_reason`](super::WebSocketStream::close_reason),
        /// cloned out of the state shared with the other half.
        pub fn close_reason(&self) -> Option<CloseReason> {
            self.with_connection(|conn| conn.close_reason().cloned())
        }

        /// As [`WebSocketStream::buffered_amount`](super::WebSocketStream::buffered_amount)
        /// (the queue is shared with the other half).
        pub fn buffered_amount(&self) -> usize {
            self.with_connection(Connection::buffered_amount)
        }

        /// As [`WebSocketStream::ready_state`](super::WebSocketStream::ready_state).
        pub fn ready_state(&self) -> ReadyState {
            self.with_connection(Connection::ready_state)
        }

        /// As [`WebSocketStream::rtt`](super::WebSocketStream::rtt).
        pub fn rtt(&self) -> Option<RttEstimate> {
            self.with_connection(Connection::rtt)
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketReader<S> {
    shared_state_getters!("write", "reader.with_connection(|c| c.rtt())");

    /// As [`WebSocketStream::recv`](super::WebSocketStream::recv). Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_recv(cx))).await
    }

    /// As [`WebSocketStream::set_receive_limits`](super::WebSocketStream::set_receive_limits).
    pub fn set_receive_limits(&mut self, max_message_size: usize, max_frame_size: usize) {
        locked(&self.shared, |inner| {
            inner.conn.set_max_message_size(max_message_size);
            inner.conn.set_max_frame_size(max_frame_size);
        });
    }

    /// As [`WebSocketStream::recv_part`](super::WebSocketStream::recv_part):
    /// messages in parts, memory bounded by the reads. Cancel-safe.
    pub async fn recv_part(&mut self) -> Result<Option<MessagePart>, Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_recv_part(cx))).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketWriter<S> {
    shared_state_getters!("read", "writer.with_connection(|c| c.buffered_amount())");

    /// As [`WebSocketStream::send`](super::WebSocketStream::send). Cancel-safe in the same way.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// As [`WebSocketStream::feed`](super::WebSocketStream::feed): queued bytes go out at `send` or
    /// [`flush`](Self::flush), or when the read half next has to wait for the stream; a `recv`
    /// already waiting is not woken for them, so `flush` after a burst of `feed`s.
    pub async fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
        Ok(locked(&self.shared, |inner| inner.conn.send_owned(message))?)
    }

    /// As [`WebSocketStream::send_from`](super::WebSocketStream::send_from):
    /// a message read from `reader` to its end, in 64 KiB fragments. Not
    /// cancel-safe; an error leaves the message unfinished.
    pub async fn send_from<R: AsyncRead + Unpin>(&mut self, kind: DataKind, reader: R) -> Result<u64, Error> {
        let mut chunks = ChunkReader::new(reader);
        loop {
            let (chunk, last) = chunks.next().await?;
            poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
                .await
                .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
            locked(&self.shared, |inner| inner.conn.send_fragment(kind, chunk, last))?;
            self.flush().await?;
            if last {
                return Ok(chunks.total);
            }
        }
    }

    /// As [`WebSocketStream::send_part`](super::WebSocketStream::send_part):
    /// one part of a message relayed in parts, written out.
    pub async fn send_part(&mut self, part: MessagePart) -> Result<(), Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
        locked(&self.shared, |inner| inner.conn.send_part(part))?;
        self.flush().await
    }

    /// As [`WebSocketStream::send_prepared`](super::WebSocketStream::send_prepared):
    /// a message encoded once for many connections. Cancel-safe like `send`.
    pub async fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        self.flush().await
    }

    /// As [`WebSocketStream::feed_prepared`](super::WebSocketStream::feed_prepared):
    /// queued, written at the next `flush` or `send`. Cancel-safe.
    pub async fn feed_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
        Ok(locked(&self.shared, |inner| inner.conn.send_prepared(message))?)
    }

    /// As [`WebSocketStream::close`](super::WebSocketStream::close), bounded by
    /// `Config::close_timeout` the same way; the read half completes the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        locked(&self.shared, |inner| {
            inner.conn.close(code, reason, now())?;
            // The read half waits for the answer, bounded by the close timer it must now arm.
            inner.wake_reader();
            Ok::<(), crate::UsageError>(())
        })?;
        loop {
            let (ending, deadline) = locked(&self.shared, |inner| (inner.conn.is_ending(), inner.conn.poll_timeout()));
            match deadline {
                // Its own timer: the shared one wakes the read half.
                Some(deadline) if !ending => {
                    let at = ::tokio::time::Instant::from_std(deadline);
                    match ::tokio::time::timeout_at(at, self.flush()).await {
                        Ok(result) => return result,
                        Err(_) => locked(&self.shared, Inner::fire_timers),
                    }
                }
                // Over (a timer ended it): what the socket takes now goes out, nothing is waited for.
                _ if ending => {
                    let attempt =
                        poll_fn(|cx| Poll::Ready(locked(&self.shared, |inner| inner.poll_write_out(cx)))).await;
                    return match attempt {
                        // The read half may have shut the transport down already.
                        Poll::Ready(Err(err)) if !locked(&self.shared, |inner| inner.conn.is_closed()) => {
                            Err(locked(&self.shared, |inner| inner.write_error(err)))
                        }
                        Poll::Ready(_) | Poll::Pending => Ok(()),
                    };
                }
                _ => return self.flush().await,
            }
        }
    }

    /// Writes out everything queued and flushes the stream.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_write_out(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))
    }

    /// As [`WebSocketStream::ping`](super::WebSocketStream::ping). Cancel-safe in the same way.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
        locked(&self.shared, |inner| inner.conn.ping(payload))?;
        self.flush().await
    }

    /// As [`WebSocketStream::pong`](super::WebSocketStream::pong). Cancel-safe in the same way.
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        poll_fn(|cx| locked(&self.shared, |inner| inner.poll_room(cx)))
            .await
            .map_err(|err| locked(&self.shared, |inner| inner.write_error(err)))?;
        locked(&self.shared, |inner| inner.conn.pong(payload))?;
        self.flush().await
    }
}

/// Splits one run loop into halves: from now on both may write, so writes
/// wake every waiting writer.
pub(super) fn halves<S>(mut inner: Inner<S>, ended: bool) -> (WebSocketReader<S>, WebSocketWriter<S>) {
    inner.write_wakers = Some(Arc::default());
    let shared = Arc::new(Mutex::new(inner));
    (WebSocketReader { shared: Arc::clone(&shared), ended }, WebSocketWriter { shared })
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketReader<S> {
    type Item = Result<Message, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        locked(&this.shared, |inner| poll_next(inner, &mut this.ended, cx))
    }
}

impl<S> WebSocketWriter<S> {
    fn with_inner<T>(&mut self, f: impl FnOnce(&mut Inner<S>) -> T) -> T {
        locked(&self.shared, f)
    }
}

impl_sink!(WebSocketWriter);
