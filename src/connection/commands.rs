//! What the application asks of a [`Connection`]: send a message or a
//! fragment, ping, pong, close; and how each becomes frames in the send queue.

use std::time::Instant;

use bytes::Bytes;
use rand::Rng;

use super::close::ControlPayload;
use super::send_queue::ZERO_COPY_MIN;
use super::state::Transition;
use super::timer::Timer;
use super::{Connection, Message, MessagePart, Role, State};
use crate::frame::{
    encode_frame, encode_frame_head, encode_masked_head, CloseCode, DataKind, FrameHeader, MaskKey, OpCode,
    MAX_HEADER_LEN,
};
use crate::{UsageError, Utf8Bytes};

impl Connection {
    /// Queues a text message as a single frame.
    ///
    /// Fails with [`UsageError::Closed`] once a close frame was sent or the
    /// connection closed, with [`UsageError::FragmentedMessageInProgress`]
    /// while a [`send_fragment`](Self::send_fragment) message is open, and with
    /// [`UsageError::WriteBufferFull`] at the high-water mark. Then write out
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_message(OpCode::Text, text.as_bytes(), None, false)
    }

    /// Queues a binary message as a single frame. Errors as for
    /// [`send_text`](Self::send_text); then write out [`poll_transmit`](Self::poll_transmit).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.send_message(OpCode::Binary, data, None, false)
    }

    /// Queues a whole [`Message`]; see [`send_text`](Self::send_text).
    ///
    /// The payload is shared, not copied, when
    /// [`set_vectored_transmit`](Self::set_vectored_transmit) is on, the
    /// payload is 4 KiB or more and it is not compressed: a server queues it
    /// as it is; a client, which must mask, masks it into a small staging
    /// buffer a piece (up to 256 KiB) at a time as the transport writes it,
    /// so a large message costs no copy of its own size.
    /// [`send_owned`](Self::send_owned) masks a payload the client owns in
    /// place instead.
    #[inline]
    pub fn send(&mut self, message: &Message) -> Result<(), UsageError> {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, text.as_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
        };
        let shared = self.shares(payload.len()).then_some(payload);
        self.send_message(opcode, payload, shared, false)
    }

    /// Queues a whole [`Message`] that the connection may take apart: as
    /// [`send`](Self::send), and in addition a client masks the payload in
    /// place and queues it without a copy when it holds the payload's only
    /// reference (a `Message` made from a `Vec<u8>`, `String` or `BytesMut`
    /// and not cloned), [`set_vectored_transmit`](Self::set_vectored_transmit)
    /// is on, the payload is 4 KiB or more and it is not compressed. The
    /// adapters send this way.
    ///
    /// The errors are those of [`send_text`](Self::send_text), found before
    /// anything is queued; the message is dropped with the error. To retry
    /// after [`UsageError::WriteBufferFull`], wait until
    /// [`is_write_buffer_full`](Self::is_write_buffer_full) is false before
    /// sending, or use [`send`](Self::send), which borrows.
    #[inline]
    pub fn send_owned(&mut self, message: Message) -> Result<(), UsageError> {
        let (opcode, mut payload) = match message {
            Message::Text(text) => (OpCode::Text, text.into_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
        };
        let len = payload.len();
        let compress = self.deflater.as_ref().is_some_and(|d| len >= d.threshold());
        if self.role == Role::Client && self.vectored_transmit && len >= ZERO_COPY_MIN && !compress {
            match payload.try_into_mut() {
                Ok(mut owned) => {
                    // Masked in place, not copied: the queue holds the only reference.
                    self.begin_message(Queued { owned: len, ..Queued::header_only() })?;
                    let key = self.next_mask_key().unwrap_or(MaskKey([0; 4]));
                    encode_masked_head(self.send.tail(), opcode, true, key, &mut owned);
                    self.send.push_shared(owned.freeze(), true);
                    return Ok(());
                }
                Err(shared) => payload = shared,
            }
        }
        let shared = self.shares(len).then_some(&payload);
        // Given to the queue: its memory alone once this returns, unless the caller kept a clone.
        let owned = payload.is_unique();
        self.send_message(opcode, &payload, shared, owned)
    }

    /// A shared payload of `len` bytes is queued by reference: as it is by a
    /// server, masked a piece at a time as it is written by a client.
    pub(super) fn shares(&self, len: usize) -> bool {
        self.vectored_transmit && len >= ZERO_COPY_MIN
    }

    /// Queues a [`MessagePart`] as received from a peer in parts (see
    /// [`set_message_streaming`](Self::set_message_streaming)), so a
    /// message of any size can be relayed in memory bounded by its parts: a
    /// part that is `first` and `last` is a whole message and goes as one
    /// frame ([`send_owned`](Self::send_owned)); other parts go as fragments
    /// ([`send_fragment`](Self::send_fragment)), the `last` one ending the
    /// message.
    ///
    /// Errors, found before anything is queued: [`UsageError::Closed`]
    /// first once closing (which abandons a message being sent in parts);
    /// then [`UsageError::FragmentedMessageInProgress`] for a `first` part while
    /// another message is being sent in parts; [`UsageError::NoMessageInParts`]
    /// for a part that continues a message nobody began; then those of
    /// `send_fragment` (or of `send_owned` for a whole message); for text,
    /// [`UsageError::InvalidUtf8`] once the parts so far cannot be UTF-8.
    ///
    /// ```
    /// # use std::time::Instant;
    /// use rfc6455::{Config, Connection, DataKind, MessagePart};
    /// let mut relay = Connection::server(&Config::default(), Instant::now());
    /// let part = |data: &'static [u8], first, last| MessagePart { kind: DataKind::Binary, data: data.into(), first, last };
    /// relay.send_part(part(b"a huge ", true, false))?;
    /// relay.send_part(part(b"message", false, true))?;
    /// // Two frames: binary without FIN, then a final continuation.
    /// assert_eq!(relay.poll_transmit(), b"\x02\x07a huge \x80\x07message");
    /// # Ok::<(), rfc6455::UsageError>(())
    /// ```
    pub fn send_part(&mut self, part: MessagePart) -> Result<(), UsageError> {
        let MessagePart { kind, data, first, last } = part;
        // Closing abandons a message being sent in parts: say so before
        // judging the part's place in it.
        self.check_open()?;
        match (first, self.outgoing.is_some()) {
            (true, true) => return Err(UsageError::FragmentedMessageInProgress),
            (false, false) => return Err(UsageError::NoMessageInParts),
            _ => {}
        }
        if first && last {
            let message = match kind {
                DataKind::Binary => Message::Binary(data),
                DataKind::Text => Message::Text(Utf8Bytes::try_from(data).map_err(|_| UsageError::InvalidUtf8)?),
            };
            return self.send_owned(message);
        }
        self.send_fragment(kind, &data, last)
    }

    /// Queues one fragment of a message that is sent in pieces (for data
    /// produced as a stream). The first call starts a `kind` message; later
    /// calls must pass the same `kind`; `fin = true` ends it. Pings, pongs and
    /// close may be sent between fragments; other messages may not.
    ///
    /// For text, each fragment may split a character, but the fragments
    /// together must be valid UTF-8: an invalid sequence is refused with
    /// [`UsageError::InvalidUtf8`] as soon as it is seen.
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], fin: bool) -> Result<(), UsageError> {
        self.check_can_send_data()?;
        let opcode = match self.outgoing {
            None => kind.opcode(),
            Some(started) if started == kind => OpCode::Continuation,
            Some(started) => return Err(UsageError::FragmentKindMismatch { started, requested: kind }),
        };
        let utf8 = if kind == DataKind::Text {
            let mut validator = self.outgoing_utf8.clone();
            validator.feed(data).map_err(|_| UsageError::InvalidUtf8)?;
            if fin {
                validator.finish().map_err(|_| UsageError::InvalidUtf8)?;
            }
            Some(validator)
        } else {
            None
        };
        // A message in pieces is compressed whole, whatever its size.
        let compress = if opcode == OpCode::Continuation { self.outgoing_compressed } else { self.deflater.is_some() };
        self.reserve_send(Queued { copied: data.len(), compress, ..Queued::header_only() })?;
        if let Some(validator) = utf8 {
            self.outgoing_utf8 = validator;
        }
        self.outgoing_compressed = compress;
        self.outgoing = if fin { None } else { Some(kind) };
        self.flush_pending_pong();
        self.idle.on_sent();
        self.push_data(opcode, fin, data, self.outgoing_compressed);
        Ok(())
    }

    /// Queues a ping with up to 125 bytes of payload. Refused once a close
    /// frame was sent. Then write out [`poll_transmit`](Self::poll_transmit).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        let payload = ControlPayload::new(payload)?;
        self.check_open()?;
        self.push_frame(OpCode::Ping, true, payload.as_slice());
        Ok(())
    }

    /// Queues a pong with up to 125 bytes of payload: the answer to a ping
    /// when `Config::auto_pong` is off, or an unsolicited heartbeat. Then
    /// write out [`poll_transmit`](Self::poll_transmit).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        let payload = ControlPayload::new(payload)?;
        self.check_open()?;
        self.push_frame(OpCode::Pong, true, payload.as_slice());
        Ok(())
    }

    /// Starts the close handshake: queues a close frame with `code` and
    /// `reason` (at most 123 bytes) and arms `Config::close_timeout` from
    /// `now`; write out [`poll_transmit`](Self::poll_transmit) and keep
    /// reading. Messages that arrive before the peer's close are still
    /// delivered; [`Event::Closed`](crate::Event::Closed) follows the peer's answer.
    ///
    /// `code` must satisfy [`CloseCode::is_sendable`], or be
    /// [`CloseCode::NO_STATUS`] with an empty reason to send a close frame
    /// without a code. Fails with [`UsageError::AlreadyClosing`] if a close
    /// frame was already sent.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), UsageError> {
        let payload = ControlPayload::close(code, reason)?;
        match self.state {
            State::Open => {}
            State::CloseSent => return Err(UsageError::AlreadyClosing),
            State::Closed => return Err(UsageError::Closed),
        }
        self.now = now;
        self.pending_pong = None;
        self.push_frame(OpCode::Close, true, payload.as_slice());
        self.transition(Transition::SendClose);
        self.stop_liveness_timers();
        self.timers.set_after(Timer::Close, now, self.close_timeout);
        Ok(())
    }

    pub(super) fn check_open(&self) -> Result<(), UsageError> {
        match self.state {
            State::Open => Ok(()),
            State::CloseSent | State::Closed => Err(UsageError::Closed),
        }
    }

    pub(super) fn check_can_send_data(&self) -> Result<(), UsageError> {
        self.check_open()?;
        if self.is_write_buffer_full() {
            return Err(UsageError::WriteBufferFull { buffered: self.send.len(), limit: self.write_buffer_limit });
        }
        Ok(())
    }

    /// Queues a whole message; `shared` (the same bytes as `data`, owned) is
    /// queued without a copy unless the message is compressed.
    #[inline]
    pub(super) fn send_message(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        shared: Option<&Bytes>,
        owned: bool,
    ) -> Result<(), UsageError> {
        let compress = self.deflater.as_ref().is_some_and(|d| data.len() >= d.threshold());
        let queued = match shared.filter(|_| !compress) {
            Some(payload) => Queued {
                // A client masks it a piece at a time into the stage.
                masked: if self.role == Role::Client { payload.len() } else { 0 },
                // Nobody else holds it: the queue's memory, though not copied.
                owned: if owned { payload.len() } else { 0 },
                ..Queued::header_only()
            },
            None => Queued { copied: data.len(), compress, ..Queued::header_only() },
        };
        self.begin_message(queued)?;
        match shared.filter(|_| !compress) {
            Some(payload) => match self.next_mask_key() {
                None => {
                    encode_frame_head(self.send.tail(), opcode, true, 0, payload.len());
                    self.send.push_shared(payload.clone(), owned);
                }
                Some(key) => {
                    let header =
                        FrameHeader { fin: true, rsv: 0, opcode, mask: Some(key), payload_len: payload.len() as u64 };
                    header.encode(self.send.tail());
                    self.send.push_masked(payload.clone(), key, owned);
                }
            },
            None => self.push_data(opcode, true, data, compress),
        }
        Ok(())
    }

    /// Checks that a whole message may be sent now (and that the memory
    /// budget, if any, has room for what it will `queue`), and readies the
    /// queue for it: a pong waiting for room goes first, and the idle timer
    /// hears that we sent.
    #[inline]
    pub(super) fn begin_message(&mut self, queued: Queued) -> Result<(), UsageError> {
        self.check_can_send_data()?;
        if self.outgoing.is_some() {
            return Err(UsageError::FragmentedMessageInProgress);
        }
        self.reserve_send(queued)?;
        self.flush_pending_pong();
        self.idle.on_sent();
        Ok(())
    }

    /// A fresh masking key for the next frame: `Some` for a client (RFC 6455
    /// §5.3), `None` for a server.
    fn next_mask_key(&mut self) -> Option<MaskKey> {
        self.rng.as_mut().map(|rng| MaskKey::from(rng.next_u32()))
    }

    /// Queues a data frame, compressing its payload if asked (RSV1 goes on a
    /// message's first frame only, RFC 7692 §6.1).
    #[inline]
    pub(super) fn push_data(&mut self, opcode: OpCode, fin: bool, data: &[u8], compress: bool) {
        let Some(deflater) = self.deflater.as_mut().filter(|_| compress) else {
            return self.push_frame(opcode, fin, data);
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        deflater.compress(data, fin, &mut scratch);
        let rsv = if opcode == OpCode::Continuation { 0 } else { FrameHeader::RSV1 };
        self.encode(opcode, fin, rsv, &scratch);
        self.scratch = scratch;
    }

    /// Answers a ping: at once while the send queue is under its limit,
    /// otherwise by remembering only the latest payload until it drains.
    pub(super) fn queue_auto_pong(&mut self, payload: &Bytes) {
        let Ok(pong) = ControlPayload::new(payload) else {
            return; // the decoder admits no control payload over 125 bytes
        };
        self.pending_pong = Some(pong);
        self.flush_pending_pong();
    }

    #[inline]
    pub(super) fn flush_pending_pong(&mut self) {
        if self.pending_pong.is_none() || self.is_write_buffer_full() {
            return;
        }
        if let Some(pong) = self.pending_pong.take() {
            self.push_frame(OpCode::Pong, true, pong.as_slice());
        }
    }

    #[inline]
    pub(super) fn push_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.encode(opcode, fin, 0, payload);
    }

    #[inline]
    pub(super) fn encode(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = self.next_mask_key();
        encode_frame(self.send.tail(), opcode, fin, rsv, mask, payload);
    }

    /// Asks the memory budget, if there is one, for what queuing a frame
    /// will take: refused with [`UsageError::OverBudget`], nothing queued.
    #[inline]
    pub(super) fn reserve_send(&mut self, queued: Queued) -> Result<(), UsageError> {
        if !self.charge.is_budgeted() {
            return Ok(());
        }
        self.reserve_send_budgeted(queued)
    }

    #[inline(never)]
    fn reserve_send_budgeted(&mut self, queued: Queued) -> Result<(), UsageError> {
        let Queued { copied, compress, masked, owned } = queued;
        let growth = owned.saturating_add(if compress {
            // Deflate's worst case: a little over the input (stored blocks).
            let out = copied.saturating_add(copied / 1024).saturating_add(64);
            out.saturating_sub(self.scratch.capacity())
                .saturating_add(self.send.growth_for(out.saturating_add(MAX_HEADER_LEN), 0))
        } else {
            self.send.growth_for(copied.saturating_add(MAX_HEADER_LEN), masked)
        });
        let total = self.held_bytes().saturating_add(growth);
        if self.charge.cover(total) {
            return Ok(());
        }
        let (needed, limit) = self.charge.shortfall(total);
        Err(UsageError::OverBudget { needed, limit })
    }
}

/// What sending a frame puts in the send queue, for the memory budget.
#[derive(Debug, Clone, Copy)]
pub(super) struct Queued {
    /// Payload bytes copied into the queue (before compression).
    pub(super) copied: usize,
    /// Whether they are compressed first.
    pub(super) compress: bool,
    /// The length of a shared payload a client masks a piece at a time.
    pub(super) masked: usize,
    /// Payload bytes queued without a copy that nobody else holds (a
    /// message given to `send_owned`): the queue's memory all the same.
    pub(super) owned: usize,
}

impl Queued {
    /// A frame header before a payload that is not copied and stays shared.
    pub(super) fn header_only() -> Self {
        Self { copied: 0, compress: false, masked: 0, owned: 0 }
    }
}
