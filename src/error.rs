//! Error types, one per layer.
//!
//! * [`ProtocolError`]: the peer broke RFC 6455. Never returned from an input
//!   method: the connection sends a close frame with
//!   [`ProtocolError::close_code`] and reports
//!   [`Event::Closed`](crate::Event::Closed) with [`CloseReason::Protocol`].
//! * [`HandshakeError`]: the opening handshake failed (bad request or
//!   response, limits exceeded, rejected by the server). Servers can turn it
//!   into an HTTP response with [`HandshakeError::status_hint`].
//! * [`UsageError`]: the caller asked for something the protocol or the
//!   current state does not allow. Returned at once; the connection is unchanged.

use std::fmt;

use crate::frame::CloseCode;
use crate::handshake::Response;
use crate::CloseFrame;

/// A violation of RFC 6455 by the peer, detected while decoding its frames.
///
/// Each variant maps to the close code we send ([`close_code`](Self::close_code)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame used an opcode the RFC reserves (0x3-0x7, 0xB-0xF).
    #[error("peer sent a frame with reserved opcode {0:#x}")]
    UnknownOpcode(u8),
    /// A frame set RSV bits that no negotiated extension defines.
    #[error("peer set reserved bits {0:#04x} that no negotiated extension defines")]
    ReservedBits(u8),
    /// A close, ping or pong frame had FIN clear.
    #[error("peer sent a fragmented control frame")]
    FragmentedControlFrame,
    /// A close, ping or pong frame carried more than 125 bytes.
    #[error("peer sent a control frame longer than 125 bytes")]
    ControlFrameTooLong,
    /// A 64-bit payload length had its most significant bit set.
    #[error("peer sent a 64-bit frame length with the top bit set")]
    LengthOverflow,
    /// A payload length was not written in the shortest possible form.
    #[error("peer sent a frame length in a longer form than needed")]
    NonMinimalLength,
    /// A server received a frame without a masking key.
    #[error("client sent an unmasked frame")]
    UnmaskedFrame,
    /// A client received a frame with a masking key.
    #[error("server sent a masked frame")]
    MaskedFrame,
    /// A control frame had RSV1 (the permessage-deflate bit) set.
    #[error("peer sent a compressed control frame")]
    CompressedControlFrame,
    /// A continuation frame had RSV1 set (only a message's first frame may).
    #[error("peer set the compression bit on a continuation frame")]
    CompressedContinuation,
    /// A compressed message did not inflate.
    #[error("peer sent compressed data that does not inflate")]
    InvalidCompressedData,
    /// A continuation frame arrived while no fragmented message was in progress.
    #[error("peer sent a continuation frame with no message to continue")]
    UnexpectedContinuation,
    /// A text or binary frame arrived while a fragmented message was still in progress.
    #[error("peer started a new message before finishing the previous fragmented one")]
    ExpectedContinuation,
    /// A text message (or a close reason) was not valid UTF-8.
    #[error("peer sent text that is not valid UTF-8")]
    InvalidUtf8,
    /// A close frame had a one-byte payload (a code needs two).
    #[error("peer sent a close frame with a one-byte payload")]
    TruncatedCloseCode,
    /// A close frame carried a code that may not be sent on the wire.
    #[error("peer sent close code {0}, which may not appear on the wire")]
    InvalidCloseCode(u16),
    /// A frame's declared payload exceeded `Config::max_frame_size`.
    #[error("peer sent a {len}-byte frame; the limit is {limit} (raise Config::max_frame_size to accept it)")]
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message grew past `Config::max_message_size`.
    #[error("peer sent a message of at least {len} bytes; the limit is {limit} (raise Config::max_message_size to accept it)")]
    MessageTooLarge {
        /// The size the message would reach with the frame being received.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The memory budget shared by all connections (`Config::memory_budget`)
    /// could not grant the room this connection's peer needed next; the
    /// connection was closed with 1013 (try again later), the others go on.
    /// Many of these mean the budget is too small for the traffic, or
    /// peers send large (or highly compressed) messages at once.
    #[error("the memory budget shared by all connections ({limit} bytes, Config::memory_budget) had no room for {needed} more bytes for this peer's data; closed with 1013 (try again later)")]
    OverBudget {
        /// The bytes this connection asked for beyond what it held.
        needed: usize,
        /// The budget's ceiling.
        limit: usize,
    },
}

impl ProtocolError {
    /// The close code to send for this error: 1007 for invalid UTF-8 or
    /// compressed data that does not inflate, 1009 for size limits, 1013
    /// when the memory budget is exhausted, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::OverBudget { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The reason text for the close frame sent to the peer: what it did,
    /// without the advice `Display` gives this side's developer.
    pub(crate) fn peer_reason(&self) -> String {
        match self {
            Self::FrameTooLarge { limit, .. } => format!("frame too large: the limit is {limit} bytes"),
            Self::MessageTooLarge { limit, .. } => format!("message too large: the limit is {limit} bytes"),
            Self::OverBudget { .. } => "server busy: try again later".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The opening handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head was not valid HTTP/1.1.
    #[error("malformed HTTP head: {0}")]
    Http(HttpParseError),
    /// The head grew past `Config::max_handshake_bytes` without ending.
    #[error("handshake head exceeds {limit} bytes (raise Config::max_handshake_bytes to accept it)")]
    HeadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The head had more header fields than `Config::max_headers`.
    #[error("handshake has more than {limit} header fields (raise Config::max_headers to accept it)")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// The request method was not GET.
    #[error("WebSocket upgrade requests must use GET")]
    MethodNotGet,
    /// The HTTP version was older than 1.1.
    #[error("WebSocket upgrades need HTTP/1.1 or later")]
    UnsupportedHttpVersion,
    /// A required header was missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The `Sec-WebSocket-Extensions` header did not follow the RFC 6455 §9.1 grammar.
    #[error(transparent)]
    InvalidExtensions(#[from] crate::extensions::ExtensionSyntaxError),
    /// A header had a value the handshake cannot accept.
    #[error("invalid {0} header")]
    InvalidHeader(&'static str),
    /// The request target is not a URI (RFC 9112 §3.2) that
    /// [`http::Uri`] accepts: it holds `<`, `>` or a backtick, which a client
    /// should have percent-encoded.
    #[error("the request target is not a valid URI")]
    InvalidTarget,
    /// A header that must appear once appeared more than once.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// The client sent more than `Config::max_handshake_bytes` of data after
    /// its request, before the server answered it (RFC 6455 §4.1 says a
    /// client waits for the response).
    #[error("client sent more than {limit} bytes before its handshake was answered")]
    TooMuchEarlyData {
        /// The configured limit.
        limit: usize,
    },
    /// The client asked for a protocol version other than 13. Reply 426 with
    /// `Sec-WebSocket-Version: 13` ([`Reject::from_error`](crate::handshake::Reject::from_error) does).
    #[error("unsupported Sec-WebSocket-Version (this server speaks version 13)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` did not base64-decode to exactly 16 bytes.
    #[error("Sec-WebSocket-Key must be 16 bytes in base64")]
    InvalidKey,
    /// The server's `Sec-WebSocket-Accept` did not match our key.
    #[error("Sec-WebSocket-Accept does not match the key we sent")]
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    #[error("server chose subprotocol {0:?}, which we did not offer")]
    UnofferedProtocol(String),
    /// The server accepted an extension we did not offer.
    #[error("server accepted extension {0:?}, which we did not offer")]
    UnofferedExtension(String),
    /// The server's permessage-deflate parameters break RFC 7692 §7.1 or
    /// grant more than we offered.
    #[error("invalid permessage-deflate response: {0}")]
    InvalidDeflateResponse(&'static str),
    /// The server accepted permessage-deflate more than once.
    #[error("the server accepted permessage-deflate more than once")]
    DuplicateDeflate,
    /// The server answered with a status other than 101.
    #[error("server refused the upgrade with status {}", .0.status().as_u16())]
    Rejected(Box<Response>),
}

impl HandshakeError {
    /// The HTTP status a server should answer with: 431 for size limits, 426
    /// for an unsupported version, 405 for a non-GET method, 400 otherwise.
    ///
    /// ```
    /// use rfc6455::HandshakeError;
    /// assert_eq!(HandshakeError::MethodNotGet.status_hint(), http::StatusCode::METHOD_NOT_ALLOWED);
    /// ```
    pub fn status_hint(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            Self::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::Rejected(response) => response.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why httparse refused the head (our own copy, so httparse stays out of the public API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpParseError {
    /// Invalid byte in a header name.
    HeaderName,
    /// Invalid byte in a header value.
    HeaderValue,
    /// Invalid line ending.
    NewLine,
    /// Invalid status code or reason.
    Status,
    /// Invalid token (method).
    Token,
    /// Invalid HTTP version.
    Version,
}

impl fmt::Display for HttpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeaderName => "invalid header name",
            Self::HeaderValue => "invalid header value",
            Self::NewLine => "invalid line ending",
            Self::Status => "invalid status line",
            Self::Token => "invalid method",
            Self::Version => "invalid HTTP version",
        })
    }
}

/// The caller asked for something the protocol or the current state forbids.
/// The connection is unchanged; fix the call and try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// We sent a close frame, or the connection closed (the peer's close was
    /// answered, or the connection failed): no data, ping or pong may follow.
    #[error("the connection is closing or closed; nothing more can be sent")]
    Closed,
    /// `close` was called after a close frame was already sent.
    #[error("close was already sent")]
    AlreadyClosing,
    /// A ping, pong or close payload (code plus reason) exceeded 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125 (close reasons may be at most 123 bytes)")]
    ControlPayloadTooLong(usize),
    /// The close code may not be sent on the wire (see [`CloseCode::is_sendable`]).
    #[error("close code {0} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)")]
    UnsendableCloseCode(CloseCode),
    /// A whole message was sent while a fragmented one was still open.
    #[error("a fragmented message is in progress: finish it with send_fragment(.., fin = true) first")]
    FragmentedMessageInProgress,
    /// `send_fragment` continued a message with a different kind than it started with.
    #[error("send_fragment continued a {started:?} message as {requested:?}")]
    FragmentKindMismatch {
        /// The kind the message started with.
        started: crate::frame::DataKind,
        /// The kind passed to this call.
        requested: crate::frame::DataKind,
    },
    /// Queued bytes are at or above `Config::write_buffer_limit`.
    #[error("write buffer holds {buffered} bytes, at or above its limit of {limit}: write out poll_transmit() first")]
    WriteBufferFull {
        /// Bytes currently queued.
        buffered: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The [`MemoryBudget`](crate::MemoryBudget) in `Config::memory_budget`
    /// cannot hold what this send would queue: nothing was queued. The
    /// budget is shared by every connection, so this usually means this
    /// connection's peer reads slower than you send (its queue holds the
    /// memory) or the server is out of room: drop the message, send it
    /// later, or close this connection with
    /// [`CloseCode::TRY_AGAIN_LATER`] (1013).
    #[error(
        "the memory budget (limit {limit} bytes) cannot hold {needed} more bytes for this send: nothing was queued; \
         drop the message, retry later, or close this connection with 1013"
    )]
    OverBudget {
        /// Bytes past what this connection already holds that the send asked for.
        needed: usize,
        /// The budget's limit.
        limit: usize,
    },
    /// Text passed to `send_fragment` is not valid UTF-8.
    #[error("text fragments must form valid UTF-8")]
    InvalidUtf8,
    /// `recv` (or `read`) met a message that began in parts: finish it with
    /// `recv_part` (`read_part`).
    #[error("a message is being received in parts: call recv_part (read_part) until its last part, then recv (read)")]
    MessageInParts,
    /// [`Connection::send_part`](crate::Connection::send_part) was given a
    /// part that continues a message (`first` unset) while no message is
    /// being sent in parts: send the message's first part first.
    #[error("a part without `first` was sent, but no message is being sent in parts: send its first part first")]
    NoMessageInParts,
    /// The handshake has not completed yet.
    #[error("the handshake has not completed yet")]
    HandshakeIncomplete,
    /// The handshake was already answered (accepted or rejected).
    #[error("the handshake was already answered")]
    HandshakeAnswered,
    /// The server tried to accept an extension the client did not offer.
    #[error("extension {0:?} was not offered by the client")]
    ExtensionNotOffered(String),
    /// The extension may not be offered or accepted by hand (see the message).
    #[error("extension {0:?} cannot be added by hand: permessage-deflate is negotiated from Config::deflate (feature `deflate`); other deflate variants are not implemented")]
    UnsupportedExtension(String),
    /// The server tried to select a subprotocol the client did not offer.
    #[error("subprotocol {0:?} was not offered by the client")]
    ProtocolNotOffered(String),
    /// A header the handshake writes itself (`Host`, `Upgrade`, `Connection`,
    /// `Content-Length`, `Transfer-Encoding`, `Sec-WebSocket-*`) was added by
    /// hand, e.g. copied from a request built for tungstenite.
    #[error(
        "header {0:?} is written by the handshake itself: leave it out (subprotocols go through protocol(), \
         permessage-deflate through Config::deflate)"
    )]
    ReservedHeader(String),
    /// A subprotocol, header name or header value is not valid in an HTTP head.
    #[error("invalid {0} for an HTTP head")]
    InvalidHeader(&'static str),
    /// An origin given to [`OriginPolicy::allow`](crate::handshake::OriginPolicy::allow)
    /// is not of the form `scheme://host[:port]` (http, https, ws or wss).
    #[error(
        "invalid origin {0:?}: write it as a browser sends it, e.g. https://app.example.com or http://localhost:3000"
    )]
    InvalidOrigin(String),
    /// The URL could not be used for a WebSocket connection.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(&'static str),
    /// An [`http::Request`] given as a client request cannot open a WebSocket
    /// (see [`IntoClientRequest`](crate::IntoClientRequest)).
    #[error("invalid WebSocket upgrade request: {0}")]
    InvalidRequest(&'static str),
}

/// Why the connection ended, reported once by
/// [`Event::Closed`](crate::Event::Closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The close handshake completed: both close frames were exchanged.
    Clean {
        /// Who sent the first close frame.
        initiator: Initiator,
        /// The close frame the peer sent (code [`CloseCode::NO_STATUS`] if it
        /// carried no code).
        remote: CloseFrame,
    },
    /// The peer broke the protocol; we sent a close frame with
    /// [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// The transport ended before a close frame arrived (close code 1006).
    Abnormal,
    /// A timer ran out.
    Timeout(TimeoutKind),
}

impl CloseReason {
    /// The close code as a browser's `CloseEvent.code` would show it: the peer's
    /// code for a clean close, our code for a protocol error, 1006 otherwise.
    pub fn code(&self) -> CloseCode {
        match self {
            Self::Clean { remote, .. } => remote.code,
            Self::Protocol(err) => err.close_code(),
            Self::Abnormal | Self::Timeout(_) => CloseCode::ABNORMAL,
        }
    }

    /// The reason text of the peer's close frame for a clean close (often
    /// empty); empty for every other end, whose `Display` describes it.
    pub fn reason(&self) -> &str {
        match self {
            Self::Clean { remote, .. } => remote.reason.as_str(),
            Self::Protocol(_) | Self::Abnormal | Self::Timeout(_) => "",
        }
    }

    /// True when the close handshake completed (the browser API's `wasClean`).
    /// A peer that closes with 1011 (internal error) closes cleanly too; see
    /// [`is_normal`](Self::is_normal) for "nothing went wrong".
    pub fn was_clean(&self) -> bool {
        matches!(self, Self::Clean { .. })
    }

    /// True when the connection ended as intended: the close handshake
    /// completed, and either we started it (whatever code the peer answered)
    /// or the peer started it with 1000 (normal), 1001 (going away) or no
    /// code at all. Anything else is not normal: a peer closing with an error
    /// code such as 1011 or 1008, a protocol error, a lost transport, a timeout.
    ///
    /// The adapters end their streams on it: `recv`/`read` return `Ok(None)`
    /// after a normal end and `Err(Error::Closed(reason))` after any other.
    ///
    /// ```
    /// use rfc6455::{CloseCode, CloseFrame, CloseReason, Initiator, Utf8Bytes};
    /// let peer_closed =
    ///     |code| CloseReason::Clean { initiator: Initiator::Remote, remote: CloseFrame { code, reason: Utf8Bytes::new() } };
    /// assert!(peer_closed(CloseCode::NORMAL).is_normal());
    /// assert!(peer_closed(CloseCode::GOING_AWAY).is_normal());
    /// assert!(!peer_closed(CloseCode::INTERNAL_ERROR).is_normal());
    /// assert!(peer_closed(CloseCode::INTERNAL_ERROR).was_clean()); // clean, but not normal
    /// assert!(!CloseReason::Abnormal.is_normal());
    /// ```
    pub fn is_normal(&self) -> bool {
        match self {
            Self::Clean { initiator: Initiator::Local, .. } => true,
            Self::Clean { initiator: Initiator::Remote, remote } => {
                matches!(remote.code, CloseCode::NORMAL | CloseCode::GOING_AWAY | CloseCode::NO_STATUS)
            }
            Self::Protocol(_) | Self::Abnormal | Self::Timeout(_) => false,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Clean { initiator, remote } => {
                let first = match initiator {
                    Initiator::Local => "we",
                    Initiator::Remote => "the peer",
                };
                write!(f, "closed cleanly ({first} closed first); peer code {}", remote.code)?;
                if !remote.reason.is_empty() {
                    write!(f, ", reason {:?}", remote.reason.as_str())?;
                }
                Ok(())
            }
            Self::Protocol(err) => write!(f, "connection failed: {err}"),
            Self::Abnormal => f.write_str("connection lost without a close frame (1006)"),
            Self::Timeout(kind) => write!(f, "timed out: {kind}"),
        }
    }
}

/// Which endpoint sent the first close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We did (the application called `close`).
    Local,
    /// The peer did.
    Remote,
}

/// Which timer ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// We sent a close frame and the peer did not answer within `Config::close_timeout`.
    CloseHandshake,
    /// The heartbeat pinged the peer after `Config::ping_interval` of
    /// silence and nothing came back within `Config::pong_timeout`: the peer
    /// (or the path to it: a NAT, a dropped Wi-Fi link) is gone.
    Pong,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CloseHandshake => f.write_str("the peer did not answer our close frame"),
            Self::Pong => f.write_str("the peer did not answer the heartbeat ping"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_rfc_section_7_4_1() {
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode(1007));
        assert_eq!(ProtocolError::FrameTooLarge { len: 2, limit: 1 }.close_code(), CloseCode(1009));
        assert_eq!(ProtocolError::MessageTooLarge { len: 2, limit: 1 }.close_code(), CloseCode(1009));
        assert_eq!(ProtocolError::OverBudget { needed: 2, limit: 1 }.close_code(), CloseCode(1013));
        assert_eq!(ProtocolError::ReservedBits(0x40).close_code(), CloseCode(1002));
        assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode(1002));
    }

    #[test]
    fn status_hints() {
        assert_eq!(HandshakeError::HeadTooLarge { limit: 1 }.status_hint(), 431);
        assert_eq!(HandshakeError::TooManyHeaders { limit: 1 }.status_hint(), 431);
        assert_eq!(HandshakeError::UnsupportedVersion.status_hint(), 426);
        assert_eq!(HandshakeError::InvalidKey.status_hint(), 400);
        assert_eq!(HandshakeError::MethodNotGet.status_hint(), 405);
    }
}
