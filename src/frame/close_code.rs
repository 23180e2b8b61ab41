//! Close status codes (RFC 6455 §7.4).

use std::fmt;

/// A close status code (RFC 6455 §7.4).
///
/// The code space is open (registered codes, library codes 3000-3999, private
/// codes 4000-4999), so this is a number with named constants rather than an
/// enum. Use [`CloseCode::is_sendable`] to check a code before putting it on
/// the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint received a type of data it cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no status code was present. Never sent on the wire; reported when
    /// the peer's close frame had an empty payload.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a close frame. Never sent on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a text message was not valid UTF-8 (or data was inconsistent with its type).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a frame or message was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response from upstream.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed. Never sent on the wire.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// Allowed: 1000-1003, 1007-1014 and 3000-4999. Everything else (0-999,
    /// the reserved 1004-1006 and 1015, unassigned 1016-2999, and 5000 and
    /// above) is rejected with a protocol error when received.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "no unsafe code below; 65,536 codes take 15 s under Miri")]
    fn sendable_codes_match_rfc_ranges() {
        let sendable: Vec<u16> = (0..=u16::MAX).filter(|&c| CloseCode(c).is_sendable()).collect();
        assert_eq!(sendable.len(), 4 + 8 + 2000);
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!CloseCode(c).is_sendable(), "{c}");
        }
        for c in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999] {
            assert!(CloseCode(c).is_sendable(), "{c}");
        }
    }
}
