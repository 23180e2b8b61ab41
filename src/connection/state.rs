//! Every state transition of a [`Connection`](super::Connection), in one place.
//!
//! House rules: nothing outside this file decides what state follows what;
//! `Connection` asks [`State::next`] and [`Teardown::after_close`] and stores
//! the answer. The table is role-agnostic except for who closes the
//! transport, which RFC 6455 §7.1.1 assigns to the server.

use crate::{Initiator, Role};

/// Where a connection is in its life (the handshake is already done).
///
/// More states may be added (match with a `_` arm, or compare with `==`);
/// [`ReadyState`], the browser API's four, will not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Incoming messages are
    /// still delivered; nothing but the close frame may be sent.
    CloseSent,
    /// The WebSocket is over: close frames were exchanged, or the connection
    /// failed. Flush [`poll_transmit`](super::Connection::poll_transmit) and
    /// close the transport when
    /// [`should_close_transport`](super::Connection::should_close_transport) says so.
    Closed,
}

/// The connection's state as the browser API's `WebSocket.readyState` names
/// it, for applications and UIs that think in those terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// The opening handshake is under way (or, for a reconnecting client,
    /// a new connection is being dialed).
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent; the peer's answer is awaited.
    Closing,
    /// The WebSocket is over.
    Closed,
}

/// What happened, as far as the state machine is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The application sent a close frame.
    SendClose,
    /// A valid close frame arrived from the peer.
    ReceiveClose,
    /// The peer broke the protocol.
    Fail,
    /// The transport ended (EOF) before the close handshake finished.
    TransportEnded,
    /// The close-handshake timer ran out.
    CloseTimeout,
    /// The heartbeat's ping went unanswered: the peer is presumed dead.
    Unresponsive,
}

impl State {
    /// The state after `transition`, or `None` when the transition does not
    /// apply in this state (the caller treats that as "nothing happens" or
    /// as a usage error, as appropriate).
    pub(crate) fn next(self, transition: Transition) -> Option<State> {
        use Transition::*;
        match (self, transition) {
            (State::Open, SendClose) => Some(State::CloseSent),
            (State::Open | State::CloseSent, ReceiveClose | Fail | TransportEnded) => Some(State::Closed),
            (State::CloseSent, CloseTimeout) | (State::Open, Unresponsive) => Some(State::Closed),
            (State::Open, CloseTimeout) | (State::CloseSent, SendClose | Unresponsive) | (State::Closed, _) => None,
        }
    }

    /// The browser API's name for this state.
    pub(crate) fn ready_state(self) -> ReadyState {
        match self {
            State::Open => ReadyState::Open,
            State::CloseSent => ReadyState::Closing,
            State::Closed => ReadyState::Closed,
        }
    }

    /// Who initiated the close handshake that `ReceiveClose` completes from this state.
    pub(crate) fn close_initiator(self) -> Initiator {
        match self {
            State::CloseSent => Initiator::Local,
            State::Open | State::Closed => Initiator::Remote,
        }
    }
}

/// When to close the transport once the WebSocket is [`State::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Teardown {
    /// Still open: keep the transport.
    Keep,
    /// Close it once every queued byte has been written.
    AfterFlush,
    /// Wait for the peer to close it first (a client after a clean close
    /// handshake, RFC 6455 §7.1.1), until the close timeout.
    AwaitPeer,
    /// Close it now, even with bytes still queued.
    Now,
}

impl Teardown {
    /// The teardown plan on entering `Closed` through `transition`.
    pub(crate) fn after_close(role: Role, transition: Transition) -> Teardown {
        match (transition, role) {
            (Transition::ReceiveClose, Role::Client) => Teardown::AwaitPeer,
            (Transition::ReceiveClose | Transition::Fail | Transition::TransportEnded, _) => Teardown::AfterFlush,
            (Transition::CloseTimeout | Transition::Unresponsive, _) => Teardown::Now,
            // Sending close never closes the connection by itself.
            (Transition::SendClose, _) => Teardown::Keep,
        }
    }

    /// The plan once the peer has closed its side of the transport.
    pub(crate) fn on_peer_eof(self) -> Teardown {
        match self {
            Teardown::AwaitPeer => Teardown::AfterFlush,
            other => other,
        }
    }

    /// The plan once the closing deadline has passed.
    pub(crate) fn on_deadline(self) -> Teardown {
        match self {
            Teardown::Keep => Teardown::Keep,
            _ => Teardown::Now,
        }
    }

    /// Whether the transport should be closed now, given whether bytes are
    /// still queued for it.
    pub(crate) fn close_now(self, send_queue_empty: bool) -> bool {
        match self {
            Teardown::Keep | Teardown::AwaitPeer => false,
            Teardown::AfterFlush => send_queue_empty,
            Teardown::Now => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transition::*;

    #[test]
    fn transition_table() {
        let all = [SendClose, ReceiveClose, Fail, TransportEnded, CloseTimeout, Unresponsive];
        let expected = |state, t| match (state, t) {
            (State::Open, SendClose) => Some(State::CloseSent),
            (State::Open, ReceiveClose | Fail | TransportEnded | Unresponsive) => Some(State::Closed),
            (State::CloseSent, ReceiveClose | Fail | TransportEnded | CloseTimeout) => Some(State::Closed),
            _ => None,
        };
        for state in [State::Open, State::CloseSent, State::Closed] {
            for t in all {
                assert_eq!(state.next(t), expected(state, t), "{state:?} + {t:?}");
            }
        }
    }

    #[test]
    fn teardown_plans() {
        assert_eq!(Teardown::after_close(Role::Server, ReceiveClose), Teardown::AfterFlush);
        assert_eq!(Teardown::after_close(Role::Client, ReceiveClose), Teardown::AwaitPeer);
        assert_eq!(Teardown::after_close(Role::Client, Fail), Teardown::AfterFlush);
        assert_eq!(Teardown::after_close(Role::Client, CloseTimeout), Teardown::Now);
        assert_eq!(Teardown::after_close(Role::Server, Unresponsive), Teardown::Now);
        assert_eq!(Teardown::AwaitPeer.on_peer_eof(), Teardown::AfterFlush);
        assert_eq!(Teardown::AwaitPeer.on_deadline(), Teardown::Now);
        assert_eq!(Teardown::Keep.on_deadline(), Teardown::Keep);
        assert!(!Teardown::AfterFlush.close_now(false));
        assert!(Teardown::AfterFlush.close_now(true));
        assert!(Teardown::Now.close_now(false));
        assert!(!Teardown::AwaitPeer.close_now(true));
    }
}
