//! Whether a reconnecting client should dial again after a connection or a
//! handshake ended: a pure policy over close reasons and handshake failures.
//!
//! The rule: what may change by itself is retried (the transport, timeouts,
//! a server that is restarting or overloaded); what the server would say
//! again to the same request is not (it refused us, or it said we broke its
//! rules); a normal close from the server (1000) ends the session without
//! being a failure. The tokio
//! [`ReconnectingClient`](crate::io::reconnect::ReconnectingClient) follows
//! this policy; a client that closes on its own is never retried (the driver
//! does not ask).

use crate::{CloseCode, CloseReason, HandshakeError};

/// What a reconnecting client does once a connection or a dial has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryDecision {
    /// A failure that may go away by itself: dial again after a back-off delay.
    Retry,
    /// Not a failure: the session ended on purpose (a close with code 1000).
    /// Stop without retrying.
    Finish,
    /// A failure that the same request would meet again: stop and report it.
    GiveUp,
}

impl RetryDecision {
    /// The decision after an open connection ended for `reason`.
    ///
    /// A clean close is judged by its code, whoever started it (the
    /// application's own `close` never gets here: the client stops; a close
    /// the connection started by itself, such as `Config::idle_timeout`'s
    /// 1001, is judged like the server's):
    ///
    /// * [`CloseCode::NORMAL`] (1000: "the purpose of the connection is
    ///   fulfilled", RFC 6455 §7.4.1) → [`Finish`](Self::Finish).
    /// * A clean close with a code saying the client was at fault or is not
    ///   welcome (1002 protocol error, 1003 unsupported data, 1007 invalid
    ///   payload, 1008 policy violation, 1009 too big, 1010 missing
    ///   extension) → [`GiveUp`](Self::GiveUp): the next connection would send
    ///   the same things and meet the same answer.
    /// * Anything else → [`Retry`](Self::Retry): the server going away (1001),
    ///   restarting (1012), overloaded (1013), failing (1011, 1014), a close
    ///   frame without a code (1005), application codes (3000-4999), whose
    ///   meaning only the application knows (it may stop the client when it
    ///   sees them), a transport that dropped (1006), a peer that broke the
    ///   protocol, or a timer that ran out.
    pub fn after_close(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::Clean { remote, .. } => Self::after_close_code(remote.code),
            _ => Self::Retry,
        }
    }

    /// The decision for a close frame from the server with `code`, as in
    /// [`after_close`](Self::after_close).
    pub fn after_close_code(code: CloseCode) -> Self {
        const CLIENT_AT_FAULT: [CloseCode; 6] = [
            CloseCode::PROTOCOL_ERROR,
            CloseCode::UNSUPPORTED_DATA,
            CloseCode::INVALID_PAYLOAD,
            CloseCode::POLICY_VIOLATION,
            CloseCode::MESSAGE_TOO_BIG,
            CloseCode::MANDATORY_EXTENSION,
        ];
        if code == CloseCode::NORMAL {
            Self::Finish
        } else if CLIENT_AT_FAULT.contains(&code) {
            Self::GiveUp
        } else {
            Self::Retry
        }
    }

    /// The decision after the opening handshake failed with `err` (transport
    /// errors and timeouts are the driver's to retry).
    ///
    /// * The server answered with a status other than 101: see
    ///   [`after_status`](Self::after_status).
    /// * Any other handshake error means the peer does not speak WebSocket
    ///   the way we asked (a wrong accept key, a subprotocol or extension we
    ///   did not offer, a malformed head): a misconfiguration that retrying
    ///   will not fix → [`GiveUp`](Self::GiveUp).
    pub fn after_handshake_error(err: &HandshakeError) -> Self {
        match err {
            HandshakeError::Rejected(response) => Self::after_status(response.status()),
            _ => Self::GiveUp,
        }
    }

    /// The decision after the server refused the upgrade with HTTP `status`.
    ///
    /// * 5xx (the server or a proxy in front of it is failing or
    ///   restarting), 408 (request timeout) and 429 (too many requests) →
    ///   [`Retry`](Self::Retry): they describe the moment, not the request.
    /// * Any other status (401 or 403: the credentials in the request's
    ///   headers were refused; 404: no such endpoint; 3xx: redirects are not
    ///   followed; 426: version) → [`GiveUp`](Self::GiveUp): the same request
    ///   would get the same answer, so retrying would only load the server.
    pub fn after_status(status: http::StatusCode) -> Self {
        match status.as_u16() {
            408 | 429 | 500..=599 => Self::Retry,
            _ => Self::GiveUp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseFrame, Initiator, ProtocolError, TimeoutKind};

    fn clean(initiator: Initiator, code: u16) -> CloseReason {
        CloseReason::Clean { initiator, remote: CloseFrame { code: CloseCode(code), reason: "".into() } }
    }

    #[test]
    fn close_codes() {
        use RetryDecision::*;
        let table: [(u16, RetryDecision); 16] = [
            (1000, Finish),
            (1001, Retry),
            (1002, GiveUp),
            (1003, GiveUp),
            (1005, Retry),
            (1007, GiveUp),
            (1008, GiveUp),
            (1009, GiveUp),
            (1010, GiveUp),
            (1011, Retry),
            (1012, Retry),
            (1013, Retry),
            (1014, Retry),
            (3000, Retry),
            (4000, Retry),
            (4999, Retry),
        ];
        for (code, expected) in table {
            for initiator in [Initiator::Remote, Initiator::Local] {
                let decision = RetryDecision::after_close(&clean(initiator, code));
                assert_eq!(decision, expected, "code {code} from {initiator:?}");
            }
        }
    }

    #[test]
    fn unclean_ends_are_retried() {
        for reason in [
            CloseReason::Abnormal,
            CloseReason::Timeout(TimeoutKind::CloseHandshake),
            CloseReason::Timeout(TimeoutKind::Pong),
            CloseReason::Protocol(ProtocolError::InvalidUtf8),
        ] {
            assert_eq!(RetryDecision::after_close(&reason), RetryDecision::Retry, "{reason:?}");
        }
    }

    #[test]
    fn statuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            let code = http::StatusCode::from_u16(status).unwrap();
            assert_eq!(RetryDecision::after_status(code), RetryDecision::Retry, "{status}");
        }
        for status in [200, 301, 302, 400, 401, 403, 404, 426, 600] {
            let code = http::StatusCode::from_u16(status).unwrap();
            assert_eq!(RetryDecision::after_status(code), RetryDecision::GiveUp, "{status}");
        }
    }

    #[test]
    fn handshake_errors_other_than_a_status_give_up() {
        assert_eq!(RetryDecision::after_handshake_error(&HandshakeError::AcceptMismatch), RetryDecision::GiveUp);
        assert_eq!(
            RetryDecision::after_handshake_error(&HandshakeError::MissingHeader("Upgrade")),
            RetryDecision::GiveUp
        );
    }
}
