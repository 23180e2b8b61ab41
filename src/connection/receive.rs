//! What a decoded frame does to a [`Connection`]: messages delivered,
//! pings answered, pongs timed, a close frame answered; and the receive
//! buffer's growth.

use std::time::Instant;

use bytes::BytesMut;

use super::close::ControlPayload;
use super::state::Transition;
use super::{buffer, CloseFrame, Connection, Ending, Event, MessagePart, State, SHRINK_RECV_ABOVE};
use crate::frame::{Frame, OpCode};
use crate::{CloseReason, ProtocolError};

impl Connection {
    pub(super) fn on_frame_complete(&mut self, frame: Frame) -> Result<Option<Event>, ProtocolError> {
        // Once a large frame has been split off, a big receive buffer is mostly
        // empty tail: move the few remaining bytes to a small one, so small
        // messages kept by the application do not pin the large allocation.
        if self.recv.capacity() > SHRINK_RECV_ABOVE && self.recv.len() <= buffer::MIN_CAPACITY {
            let mut small = BytesMut::with_capacity(buffer::MIN_CAPACITY);
            small.extend_from_slice(&self.recv);
            self.recv = small;
        }
        self.on_frame(frame)
    }

    pub(super) fn on_frame(&mut self, frame: Frame) -> Result<Option<Event>, ProtocolError> {
        match frame.header.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                let others = self.recv.capacity() + self.output_held();
                let event = self.incoming.on_data_frame(frame, &mut self.charge, others)?;
                let ended = matches!(&event, Some(Event::Message(_) | Event::Part(MessagePart { last: true, .. })));
                if ended {
                    self.settle_charge(); // the message is the application's now
                }
                if ended && self.state == State::Open {
                    self.idle.on_received(self.now, &mut self.timers);
                }
                Ok(event)
            }
            OpCode::Ping => {
                if self.auto_pong && self.state == State::Open {
                    self.queue_auto_pong(&frame.payload);
                }
                Ok(Some(Event::Ping(frame.payload)))
            }
            OpCode::Pong => {
                let rtt = self.heartbeat.on_pong(&frame.payload, self.now, &mut self.timers);
                if self.ending == Some(Ending::PongTimeout) {
                    self.ending = None;
                }
                if self.state != State::Open {
                    self.stop_liveness_timers();
                }
                Ok(Some(Event::Pong { payload: frame.payload, rtt }))
            }
            OpCode::Close => {
                let remote = CloseFrame::parse(frame.payload)?;
                if self.state == State::Open {
                    let reply = ControlPayload::echo(remote.code);
                    self.pending_pong = None;
                    self.push_frame(OpCode::Close, true, reply.as_slice());
                }
                let initiator = self.state.close_initiator();
                self.enter_closed(Transition::ReceiveClose, CloseReason::Clean { initiator, remote });
                Ok(None)
            }
        }
    }

    /// Bytes arrived from the peer at `now`: the heartbeat hears it, and a
    /// pending give-up on it is called off.
    #[inline]
    pub(super) fn on_heard(&mut self, now: Instant) {
        self.reads_in_use = self.reads_in_use.saturating_add(1);
        if self.state == State::Open {
            self.heartbeat.on_heard(now, &mut self.timers);
        }
        if self.ending == Some(Ending::PongTimeout) {
            self.ending = None;
        }
    }

    /// Grows the receive buffer for `additional` bytes: not far past the
    /// end of the frame being received (unless the bytes themselves go
    /// further), and see [`buffer::reserve_recv`].
    pub(super) fn reserve_recv(&mut self, additional: usize) {
        // A streamed frame is handed on as it arrives: the buffer holds
        // reads, never the frame.
        let frame_end = self.decoder.frame_end().filter(|_| !self.incoming.streams_frame());
        let others = self.incoming.held() + self.output_held();
        let charge = &mut self.charge;
        let reserved = buffer::reserve_recv(&mut self.recv, additional, frame_end, |capacity| {
            charge.cover(others.saturating_add(capacity))
        });
        if let Err(capacity) = reserved {
            // The budget refused: fail this connection (1013), drop what it sent.
            let err = self.charge.refused(others.saturating_add(capacity));
            self.fail(err);
        }
    }

    /// Gives back to the memory budget what the buffers no longer hold.
    #[inline]
    pub(super) fn settle_charge(&mut self) {
        if self.charge.is_budgeted() {
            let held = self.held_bytes();
            self.charge.settle(held);
        }
    }

    /// What the connection's buffers hold, as the memory budget counts it:
    /// the receive buffer, a message being reassembled or inflated, and the
    /// send queue's own memory (not payloads shared with the application).
    pub(super) fn held_bytes(&self) -> usize {
        self.recv.capacity() + self.incoming.held() + self.output_held()
    }

    /// The send side's share of [`held_bytes`](Self::held_bytes).
    #[inline]
    pub(super) fn output_held(&self) -> usize {
        self.send.held() + self.scratch.capacity()
    }

    /// Hands out the data messages that begin from now on in parts as they
    /// arrive ([`Event::Part`]), or whole ([`Event::Message`], the default):
    /// for messages too large to hold, such as uploads written to disk.
    ///
    /// A streamed message costs memory for the reads only: its frames are
    /// handed on as their bytes arrive, whatever their size (a compressed
    /// one's parts are what each read inflates to). `Config::max_frame_size`
    /// and `Config::max_message_size` still apply: raise them for this
    /// connection to what it may receive. A message already begun keeps the
    /// form it began with.
    ///
    /// ```
    /// use std::time::Instant;
    /// use rfc6455::frame::{encode_frame, MaskKey, OpCode};
    /// use rfc6455::{Config, Connection, Event};
    ///
    /// let mut server = Connection::server(&Config::default(), Instant::now());
    /// server.set_message_streaming(true);
    /// let mut wire = Vec::new();
    /// encode_frame(&mut wire, OpCode::Binary, true, 0, Some(MaskKey([1, 2, 3, 4])), &[7; 10_000]);
    /// let mut received = 0;
    /// for read in wire.chunks(4096) {
    ///     server.handle_read(read, Instant::now());
    ///     while let Some(Event::Part(part)) = server.poll_event() {
    ///         assert!(part.data.iter().all(|&b| b == 7));
    ///         received += part.data.len(); // e.g. write it to a file
    ///         if part.last {
    ///             assert_eq!(received, 10_000);
    ///         }
    ///     }
    /// }
    /// ```
    pub fn set_message_streaming(&mut self, on: bool) {
        self.incoming.set_streaming(on);
    }

    /// Changes `Config::max_message_size` for this connection, for what is
    /// received from now on: e.g. a server that learns in its handshake hook
    /// which route a connection is for raises it for an upload route only.
    pub fn set_max_message_size(&mut self, max_message_size: usize) {
        self.incoming.set_max_message_size(max_message_size);
    }

    /// Changes `Config::max_frame_size` for this connection, for frames whose
    /// header has not arrived yet.
    pub fn set_max_frame_size(&mut self, max_frame_size: usize) {
        self.decoder.set_max_frame_size(max_frame_size);
    }
}
