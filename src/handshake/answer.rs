//! The server's answer as the client sees it: [`Response`] (a `101`, or a
//! refusal with its body) and how much of a refusal's body is read.

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::head::Head;
use crate::extensions::{ExtensionOffer, Negotiated};
use crate::http_token::{has_token, list_elements};
use crate::HandshakeError;

/// The server's response to the upgrade request: a `101` on success, or
/// whatever it answered instead, inside [`HandshakeError::Rejected`].
///
/// For a refusal, the client reads the body too (see
/// [`ClientHandshake::poll_response`](super::ClientHandshake::poll_response) for how much), so that the server's
/// explanation reaches the error: [`body`](Self::body). `Debug` shows what a
/// person needs: the status, the reason, the header lines and, for a
/// refusal, the body (its first KiB, as lossy UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub(super) status: http::StatusCode,
    pub(super) reason: Range<usize>,
    pub(super) head: Head,
    pub(super) body: Bytes,
    pub(super) body_state: BodyState,
    pub(super) protocol: Option<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
    /// What the connection runs of the accepted extensions (permessage-deflate).
    pub(super) negotiated: Negotiated,
}

/// How much of a response's body [`Response::body`] holds.
///
/// Only a refused handshake's body is read; a `101` has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyState {
    /// All of it (possibly nothing: a `101`, a `204`, `Content-Length: 0`).
    Complete,
    /// The first `Config::max_handshake_bytes` bytes of a longer body; the
    /// rest was not read.
    Truncated,
    /// What arrived before the server closed the connection, short of its
    /// `Content-Length`.
    EndedEarly,
    /// None of it: the body's length was not known in advance and the server
    /// did not say it would close the connection after it (chunked
    /// `Transfer-Encoding`, an invalid `Content-Length`, or neither a
    /// length nor `Connection: close`), so reading it could wait forever.
    NotRead,
}

/// How many bytes of a body `Debug` shows.
const DEBUG_BODY: usize = 1 << 10;

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Response");
        out.field("status", &self.status).field("reason", &self.reason()).field("headers", &self.head.lines());
        if self.status == http::StatusCode::SWITCHING_PROTOCOLS {
            out.field("protocol", &self.protocol).field("extensions", &self.extensions);
        } else {
            out.field("body", &LossyText(&self.body, DEBUG_BODY));
            if self.body_state != BodyState::Complete {
                out.field("body_state", &self.body_state);
            }
        }
        out.finish()
    }
}

/// Bytes shown as a string (lossy UTF-8, escaped as `str`'s `Debug` does),
/// at most `.1` of them, followed by how many more there are.
struct LossyText<'a>(&'a [u8], usize);

impl fmt::Debug for LossyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LossyText(bytes, limit) = *self;
        let shown = bytes.get(..limit).unwrap_or(bytes);
        fmt::Debug::fmt(&String::from_utf8_lossy(shown), f)?;
        match bytes.len() - shown.len() {
            0 => Ok(()),
            more => write!(f, " (+{more} more bytes)"),
        }
    }
}

impl Response {
    /// The permessage-deflate parameters agreed on, if the server accepted our offer.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&crate::extensions::deflate::DeflateParams> {
        self.negotiated.deflate()
    }

    /// The HTTP status: `101 Switching Protocols` for an accepted upgrade.
    /// [`http::StatusCode`] compares with a `u16` (`response.status() == 401`).
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The status line and headers as an [`http::Response<()>`](http::Response),
    /// for code that works with the `http` crate's types (the body of a
    /// refusal stays in [`body`](Self::body)). Built on each call: the header
    /// values share the response's buffer, so only the names and the map are
    /// allocated. Every header the parser accepted is there, in order
    /// (RFC 9110 field syntax on both sides; a name `http` would still
    /// refuse, over 64 KiB, would be left out). The reason phrase is not part
    /// of `http::Response`: read it from [`reason`](Self::reason).
    ///
    /// ```
    /// use rfc6455::handshake::{ClientHandshake, ClientRequest};
    /// use rfc6455::{Config, HandshakeError};
    ///
    /// let request = ClientRequest::new("ws://example.com/")?;
    /// let mut handshake = ClientHandshake::new(&request, &Config::default(), [0; 32]);
    /// handshake.handle_read(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n");
    /// let Err(HandshakeError::Rejected(response)) = handshake.poll_response() else { panic!("a 401") };
    /// let response = response.to_http();
    /// assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
    /// assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    /// # Ok::<(), rfc6455::UsageError>(())
    /// ```
    pub fn to_http(&self) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = self.status;
        *response.headers_mut() = self.head.header_map();
        response
    }

    /// The reason phrase (empty if absent or not UTF-8).
    pub fn reason(&self) -> &str {
        self.head.text(&self.reason)
    }

    /// Every header as (name, value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.iter()
    }

    /// The first header called `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.first(name)
    }

    /// The body of a refusal, as far as it was read (see
    /// [`body_state`](Self::body_state)): often the server's reason, e.g.
    /// `{"error":"bad token"}`. Empty for a `101`.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether [`body`](Self::body) is the whole body, the start of it, or nothing.
    pub fn body_state(&self) -> BodyState {
        self.body_state
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with their parameters.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

/// How the body of a refusal ends, so how much of it the client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body to read, for the reason given.
    Skip(BodyState),
    /// `Content-Length`: that many bytes, of which the first `limit` are kept.
    Length(u64),
    /// No length, and `Connection: close`: everything until the server closes.
    UntilClose,
}

impl Framing {
    /// RFC 9112 §6.3, simplified: a status without a body, then
    /// `Transfer-Encoding` (not decoded), then `Content-Length` (every value
    /// the same number), then `Connection: close`.
    pub(super) fn of(status: u16, head: &Head) -> Self {
        if matches!(status, 100..=199 | 204 | 304) {
            return Self::Skip(BodyState::Complete);
        }
        if head.first("Transfer-Encoding").is_some() {
            return Self::Skip(BodyState::NotRead);
        }
        let mut lengths = head.values("Content-Length").flat_map(list_elements).map(parse_length);
        match lengths.next() {
            Some(Some(first)) if lengths.all(|other| other == Some(first)) => Self::Length(first),
            Some(_) => Self::Skip(BodyState::NotRead),
            None if has_token(head.values("Connection"), "close") => Self::UntilClose,
            None => Self::Skip(BodyState::NotRead),
        }
    }

    /// How many body bytes to wait for before deciding, given the limit:
    /// a length up to the limit, or one byte past the limit to tell a body
    /// that fits from one that does not.
    pub(super) fn wanted(self, limit: usize) -> usize {
        match self {
            Self::Skip(_) => 0,
            Self::Length(len) => usize::try_from(len).map_or(limit, |len| len.min(limit)),
            Self::UntilClose => limit.saturating_add(1),
        }
    }
}

/// A `Content-Length` value: decimal digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The refusal `response` with its `body`.
pub(super) fn reject(mut response: Response, body: Bytes, state: BodyState) -> HandshakeError {
    response.body = body;
    response.body_state = state;
    HandshakeError::Rejected(Box::new(response))
}

/// The body, once enough of it is in `buf` (or the transport ended) to
/// decide: see [`ClientHandshake::poll_response`].
pub(super) fn take_body(buf: &mut BytesMut, framing: Framing, limit: usize, eof: bool) -> Option<(Bytes, BodyState)> {
    let wanted = framing.wanted(limit);
    let (take, state) = match framing {
        Framing::Skip(state) => (0, state),
        Framing::Length(len) if buf.len() >= wanted => {
            let whole = u64::try_from(wanted).is_ok_and(|wanted| wanted >= len);
            (wanted, if whole { BodyState::Complete } else { BodyState::Truncated })
        }
        Framing::Length(_) if eof => (buf.len(), BodyState::EndedEarly),
        Framing::UntilClose if buf.len() >= wanted => (limit, BodyState::Truncated),
        Framing::UntilClose if eof => (buf.len(), BodyState::Complete),
        Framing::Length(_) | Framing::UntilClose => return None,
    };
    Some((buf.split_to(take.min(buf.len())).freeze(), state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_text_shows_at_most_its_limit() {
        assert_eq!(format!("{:?}", LossyText(b"{\"a\":1}\r\n", 16)), r#""{\"a\":1}\r\n""#);
        assert_eq!(format!("{:?}", LossyText(b"abcdef", 4)), r#""abcd" (+2 more bytes)"#);
        assert_eq!(format!("{:?}", LossyText(b"ab\xffc", 16)), "\"ab\u{fffd}c\"");
    }

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"0021"), Some(21));
        assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"18446744073709551616", b"+1", b"-1", b"1.0", b"0x10", b" 1"] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn body_waits_for_the_length_or_one_past_the_limit() {
        assert_eq!(Framing::Length(5).wanted(10), 5);
        assert_eq!(Framing::Length(50).wanted(10), 10);
        assert_eq!(Framing::Length(u64::MAX).wanted(10), 10);
        assert_eq!(Framing::UntilClose.wanted(10), 11);
        assert_eq!(Framing::UntilClose.wanted(usize::MAX), usize::MAX);
        let mut buf = BytesMut::from(&b"abc"[..]);
        assert_eq!(take_body(&mut buf, Framing::Length(5), 10, false), None);
        assert_eq!(
            take_body(&mut buf, Framing::Length(5), 10, true),
            Some((Bytes::from_static(b"abc"), BodyState::EndedEarly))
        );
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        assert_eq!(
            take_body(&mut buf, Framing::Length(9), 4, false),
            Some((Bytes::from_static(b"abcd"), BodyState::Truncated))
        );
        assert_eq!(&buf[..], b"ef");
    }
}
