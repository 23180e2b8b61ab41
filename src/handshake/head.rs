//! Finding, bounding and parsing an HTTP/1.1 head without re-scanning.
//!
//! [`HeadBuffer`] accumulates bytes and looks for the blank line that ends the
//! head, remembering how far it has looked, so bytes arriving one at a time
//! cost linear work in total. Only once the head is complete does httparse
//! parse it, once. The parsed head is kept as one `Bytes` plus byte ranges,
//! so requests and responses own their data without a copy per header.

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::error::HttpParseError;
use crate::HandshakeError;

/// Receive buffer for a handshake head, with the end-of-head search state.
#[derive(Debug, Default)]
pub(crate) struct HeadBuffer {
    pub(crate) buf: BytesMut,
    /// Index of the next byte to examine for a line feed.
    scanned: usize,
}

impl HeadBuffer {
    /// Looks for the end of the head in the bytes received so far; returns
    /// its length (through the blank line). Fails once `limit` bytes arrived
    /// without one.
    pub(crate) fn find_end(&mut self, limit: usize) -> Result<Option<usize>, HandshakeError> {
        let end = self.scan();
        match end {
            Some(end) if end <= limit => Ok(Some(end)),
            Some(_) => Err(HandshakeError::HeadTooLarge { limit }),
            None if self.buf.len() >= limit => Err(HandshakeError::HeadTooLarge { limit }),
            None => Ok(None),
        }
    }

    /// Bytes examined so far (each is examined once, plus at most two again
    /// at a line feed that ends a delivery). Exposed for the linearity test.
    #[cfg(test)]
    pub(crate) fn scanned(&self) -> usize {
        self.scanned
    }

    fn scan(&mut self) -> Option<usize> {
        let buf = &self.buf[..];
        let mut from = self.scanned;
        while let Some(offset) = buf.get(from..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            let lf = from + offset;
            match (buf.get(lf + 1), buf.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // Undecided until more bytes arrive: resume at this line feed.
                    self.scanned = lf;
                    return None;
                }
                _ => from = lf + 1,
            }
        }
        self.scanned = buf.len();
        None
    }
}

/// A parsed head: its bytes and the ranges of each header's name and value.
/// Its `Debug` is the header lines (see [`Head::lines`]), never the ranges.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Head {
    bytes: Bytes,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.lines(), f)
    }
}

/// The header fields of a [`Head`] as `name: value` lines (lossy UTF-8), for
/// `Debug` output: what a person reading an error wants to see.
pub(crate) struct HeaderLines<'a>(&'a Head);

impl fmt::Debug for HeaderLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0;
        f.debug_list()
            .entries(head.headers.iter().map(|(name, value)| {
                format!("{}: {}", String::from_utf8_lossy(head.slice(name)), String::from_utf8_lossy(head.slice(value)))
            }))
            .finish()
    }
}

/// Where `part` lies inside `whole` (`part` must borrow from `whole`).
fn range_in(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

/// Up to this many headers (the default limit), httparse's scratch space
/// lives on the stack.
const STACK_HEADERS: usize = 64;

/// Scratch space for `max_headers` headers: the stack array when it is big
/// enough, else a heap one.
fn header_storage<'a, 'h>(
    on_stack: &'a mut [httparse::Header<'h>; STACK_HEADERS],
    on_heap: &'a mut Vec<httparse::Header<'h>>,
    max_headers: usize,
) -> &'a mut [httparse::Header<'h>] {
    if max_headers <= STACK_HEADERS {
        on_stack.get_mut(..max_headers).unwrap_or_default()
    } else {
        on_heap.resize(max_headers, httparse::EMPTY_HEADER);
        on_heap
    }
}

fn map_httparse(err: httparse::Error, max_headers: usize) -> HandshakeError {
    HandshakeError::Http(match err {
        httparse::Error::TooManyHeaders => return HandshakeError::TooManyHeaders { limit: max_headers },
        httparse::Error::HeaderName => HttpParseError::HeaderName,
        httparse::Error::HeaderValue => HttpParseError::HeaderValue,
        httparse::Error::NewLine => HttpParseError::NewLine,
        httparse::Error::Status => HttpParseError::Status,
        httparse::Error::Version => HttpParseError::Version,
        httparse::Error::Token => HttpParseError::Token,
    })
}

/// The request line of a parsed request head.
#[derive(Debug)]
pub(crate) struct RequestLine {
    pub(crate) method_is_get: bool,
    pub(crate) minor_version: u8,
    pub(crate) target: Range<usize>,
}

/// The status line of a parsed response head.
#[derive(Debug)]
pub(crate) struct StatusLine {
    pub(crate) minor_version: u8,
    pub(crate) status: http::StatusCode,
    pub(crate) reason: Range<usize>,
}

impl Head {
    /// Parses a complete request head.
    pub(crate) fn parse_request(bytes: Bytes, max_headers: usize) -> Result<(RequestLine, Head), HandshakeError> {
        let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut on_heap = Vec::new();
        let mut request = httparse::Request::new(header_storage(&mut on_stack, &mut on_heap, max_headers));
        match request.parse(&bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HandshakeError::Http(HttpParseError::NewLine)),
            Err(err) => return Err(map_httparse(err, max_headers)),
        }
        let line = RequestLine {
            method_is_get: request.method == Some("GET"),
            minor_version: request.version.unwrap_or(0),
            target: range_in(&bytes, request.path.unwrap_or_default().as_bytes()),
        };
        let headers = Self::ranges(&bytes, request.headers);
        Ok((line, Head { bytes, headers }))
    }

    /// Parses a complete response head.
    pub(crate) fn parse_response(bytes: Bytes, max_headers: usize) -> Result<(StatusLine, Head), HandshakeError> {
        let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut on_heap = Vec::new();
        let mut response = httparse::Response::new(header_storage(&mut on_stack, &mut on_heap, max_headers));
        match response.parse(&bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HandshakeError::Http(HttpParseError::NewLine)),
            Err(err) => return Err(map_httparse(err, max_headers)),
        }
        // httparse takes any three digits; a status below 100 does not exist.
        let status = http::StatusCode::from_u16(response.code.unwrap_or(0))
            .map_err(|_| HandshakeError::Http(HttpParseError::Status))?;
        let line = StatusLine {
            minor_version: response.version.unwrap_or(0),
            status,
            reason: range_in(&bytes, response.reason.unwrap_or_default().as_bytes()),
        };
        let headers = Self::ranges(&bytes, response.headers);
        Ok((line, Head { bytes, headers }))
    }

    fn ranges(bytes: &[u8], headers: &[httparse::Header<'_>]) -> Vec<(Range<usize>, Range<usize>)> {
        headers.iter().map(|h| (range_in(bytes, h.name.as_bytes()), range_in(bytes, h.value))).collect()
    }

    /// The bytes in `range` (empty if out of bounds, which cannot happen for
    /// ranges this head recorded).
    pub(crate) fn slice(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or_default()
    }

    /// The bytes in `range`, sharing this head's buffer (empty if out of bounds).
    pub(crate) fn shared(&self, range: &Range<usize>) -> Bytes {
        self.bytes.slice_ref(self.slice(range))
    }

    /// The header fields as an [`http::HeaderMap`], in order; the values
    /// share this head's buffer (no copy), the names are
    /// [`http::HeaderName`]s (lowercase; standard names without allocating).
    /// Both follow RFC 9110's field syntax, as httparse does, so every field
    /// the parser accepted is converted; one that `http` still refused (a
    /// name over 64 KiB) would be left out.
    pub(crate) fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(self.slice(name));
            let value = http::HeaderValue::from_maybe_shared(self.shared(value));
            if let (Ok(name), Ok(value)) = (name, value) {
                map.append(name, value);
            }
        }
        map
    }

    /// The range of `part`, a slice borrowed from this head.
    pub(crate) fn range_of(&self, part: &[u8]) -> Range<usize> {
        range_in(&self.bytes, part)
    }

    /// `range` as text; header names, request targets and reasons that
    /// httparse accepted are ASCII or at worst Latin-1 bytes, shown as empty
    /// when not UTF-8.
    pub(crate) fn text(&self, range: &Range<usize>) -> &str {
        std::str::from_utf8(self.slice(range)).unwrap_or_default()
    }

    /// The header fields as `name: value` lines, for `Debug` output.
    pub(crate) fn lines(&self) -> HeaderLines<'_> {
        HeaderLines(self)
    }

    /// Every header as (name, value), in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(name, value)| (self.text(name), self.slice(value)))
    }

    /// The values of every header called `name` (case-insensitively), in order.
    pub(crate) fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| self.slice(n).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.slice(v))
    }

    /// The value of a header that may appear at most once.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first.map(crate::http_token::trim))
    }

    /// The value of a header that must appear exactly once.
    pub(crate) fn required(&self, name: &'static str) -> Result<&[u8], HandshakeError> {
        self.single(name)?.ok_or(HandshakeError::MissingHeader(name))
    }

    /// The first value of header `name`, if any.
    pub(crate) fn first(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_end_with_crlf_or_bare_lf_in_any_split() {
        for head in [&b"GET / HTTP/1.1\r\nHost: a\r\n\r\nEXTRA"[..], b"GET / HTTP/1.1\nHost: a\n\nEXTRA"] {
            let expected = head.len() - 5;
            for split in 0..head.len() {
                let mut hb = HeadBuffer::default();
                hb.buf.extend_from_slice(&head[..split]);
                let first = hb.find_end(1024).unwrap();
                hb.buf.extend_from_slice(&head[split..]);
                let end = first.or_else(|| hb.find_end(1024).unwrap());
                assert_eq!(end, Some(expected), "split {split}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_scans_linearly_and_stops_at_the_limit() {
        let mut hb = HeadBuffer::default();
        let line = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut fed = 0usize;
        let limit = 1 << 20;
        let result = loop {
            let byte = line[fed % line.len()];
            hb.buf.extend_from_slice(&[byte]);
            fed += 1;
            match hb.find_end(limit) {
                Ok(None) => assert!(hb.scanned() <= fed),
                other => break other,
            }
        };
        assert_eq!(result, Err(HandshakeError::HeadTooLarge { limit }));
        assert_eq!(fed, limit);
    }

    #[test]
    fn parses_request_and_keeps_ranges() {
        let bytes = Bytes::from_static(b"GET /chat?x=1 HTTP/1.1\r\nHost: server\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
        let (line, head) = Head::parse_request(bytes, 8).unwrap();
        assert!(line.method_is_get);
        assert_eq!(line.minor_version, 1);
        assert_eq!(head.text(&line.target), "/chat?x=1");
        assert_eq!(head.values("x-a").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(head.single("X-A"), Err(HandshakeError::DuplicateHeader("X-A")));
        assert_eq!(head.required("host"), Ok(&b"server"[..]));
        assert_eq!(head.required("Origin"), Err(HandshakeError::MissingHeader("Origin")));
    }

    #[test]
    fn debug_shows_header_lines_not_ranges() {
        let bytes = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: server\r\nX-Bytes: caf\xe9\r\n\r\n");
        let (_, head) = Head::parse_request(bytes, 8).unwrap();
        assert_eq!(format!("{head:?}"), "[\"Host: server\", \"X-Bytes: caf\u{fffd}\"]");
    }

    #[test]
    fn too_many_headers() {
        let bytes = Bytes::from_static(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assert_eq!(Head::parse_request(bytes, 2).unwrap_err(), HandshakeError::TooManyHeaders { limit: 2 });
    }
}
