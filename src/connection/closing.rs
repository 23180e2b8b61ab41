//! How a [`Connection`] ends: failing on a protocol error, giving up on a
//! silent peer, entering `Closed` through the state table, and the
//! [`Ending`] that waits until the received bytes are decoded.

use bytes::BytesMut;

use super::close::{truncate_utf8, ControlPayload};
use super::state::{Teardown, Transition};
use super::timer::Timer;
use super::{Connection, Ending, Event, State, MAX_CLOSE_REASON};
use crate::frame::{CloseCode, OpCode};
use crate::{CloseReason, ProtocolError, TimeoutKind};

impl Connection {
    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with the
    /// error's code unless one was sent already, and closes.
    pub(super) fn fail(&mut self, err: ProtocolError) {
        let (code, message) = (err.close_code(), err.peer_reason());
        self.close_and_enter(code, &message, Transition::Fail, CloseReason::Protocol(err));
    }

    /// The heartbeat got no answer: the peer or the path is gone. Closes at
    /// once; the close frame (1011) goes out only if the transport still
    /// takes it.
    pub(super) fn give_up_on_peer(&mut self) {
        let reason = CloseReason::Timeout(TimeoutKind::Pong);
        self.close_and_enter(
            CloseCode::INTERNAL_ERROR,
            &TimeoutKind::Pong.to_string(),
            Transition::Unresponsive,
            reason,
        );
    }

    /// Queues a close frame with `code` and (the start of) `message` unless
    /// one was sent already, then enters `Closed`.
    pub(super) fn close_and_enter(
        &mut self,
        code: CloseCode,
        message: &str,
        transition: Transition,
        reason: CloseReason,
    ) {
        if self.state == State::Open {
            if let Ok(payload) = ControlPayload::close(code, truncate_utf8(message, MAX_CLOSE_REASON)) {
                self.pending_pong = None;
                self.push_frame(OpCode::Close, true, payload.as_slice());
            }
        }
        self.enter_closed(transition, reason);
    }

    pub(super) fn enter_closed(&mut self, transition: Transition, reason: CloseReason) {
        if !self.transition(transition) {
            return;
        }
        self.teardown = Teardown::after_close(self.role, transition);
        if self.ending.take() == Some(Ending::PeerEof) {
            self.teardown = self.teardown.on_peer_eof();
        }
        self.stop_liveness_timers();
        // Bound the wait for the flush or for the peer's TCP close.
        self.timers.set_after(Timer::Close, self.now, self.close_timeout);
        self.pending_pong = None;
        self.outgoing = None;
        self.deflater = None;
        self.scratch = Vec::new();
        self.recv = BytesMut::new();
        self.incoming.clear();
        self.settle_charge();
        self.unreported_close = Some(reason.clone());
        self.close_reason = Some(reason);
    }

    /// Records what ends the connection once the received bytes are decoded,
    /// unless something that takes precedence already does.
    pub(super) fn end_when_decoded(&mut self, ending: Ending) {
        if self.ending.is_none_or(|current| ending > current) {
            self.ending = Some(ending);
        }
    }

    /// Stops the heartbeat and idle timers: they only run while open.
    pub(super) fn stop_liveness_timers(&mut self) {
        for timer in [Timer::Ping, Timer::Pong, Timer::Idle] {
            self.timers.stop(timer);
        }
        if self.ending == Some(Ending::PongTimeout) {
            self.ending = None;
        }
    }

    /// Applies a transition through the state table; false if it does not apply.
    pub(super) fn transition(&mut self, transition: Transition) -> bool {
        match self.state.next(transition) {
            Some(next) => {
                self.state = next;
                true
            }
            None => false,
        }
    }

    pub(super) fn take_close_event(&mut self) -> Option<Event> {
        self.unreported_close.take().map(Event::Closed)
    }
}
