//! The HTTP `CONNECT` tunnel (RFC 9110 §9.3.6), sans-IO: write the request,
//! read the proxy's answer head (at most 8 KiB), open on any 2xx.
//!
//! Interim 1xx answers other than `101` are skipped (RFC 9110 §15.2), within
//! the same 8 KiB. The body of a refusal is not read: the connection is
//! dropped. Bytes after a 2xx head are an error, not data: the target cannot
//! have spoken before the client.

use std::fmt;
use std::fmt::Write as _;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Buf, BytesMut};
use http::StatusCode;

use super::{Credentials, ProxyError};
use crate::io::handshake_drive::{HandshakeDrive, Step};
use crate::io::Error;
use crate::UsageError;

/// The most bytes the proxy's answer head (all heads, with interim 1xx
/// answers) may take.
const HEAD_LIMIT: usize = 8 << 10;
/// The most header fields one answer head may have.
const MAX_HEADERS: usize = 64;
/// The most bytes of the reason phrase kept for [`ProxyError::Refused`].
const REASON_LIMIT: usize = 128;

/// An HTTP `CONNECT` tunnel being opened. `Debug` shows its state, never the
/// request (it may hold credentials).
pub(crate) struct HttpConnect {
    /// The request, until written.
    out: BytesMut,
    /// The proxy's answer as it arrives.
    recv: BytesMut,
    /// How far `recv` was searched for the end of the head, and where in a
    /// line end the search stopped.
    scanned: usize,
    line_end: LineEnd,
    /// Bytes of interim 1xx heads already read and dropped.
    consumed: usize,
    eof: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Waiting,
    Open,
    /// Sticky: every later poll fails the same way.
    Failed(ProxyError),
}

/// Where the search for the blank line that ends the head stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    /// Inside a line.
    InLine,
    /// Just after a line feed: a line feed or CR LF here ends the head.
    LineStart,
    /// After a line feed and a carriage return.
    LineStartCr,
}

impl HttpConnect {
    /// A tunnel to `host:port` (a name, or an address with IPv6 unbracketed),
    /// with Basic authentication if `credentials` are given. An invalid host
    /// fails the first [`poll`](HandshakeDrive::poll), before anything is
    /// sent.
    pub(crate) fn new(host: &str, port: u16, credentials: Option<&Credentials>) -> HttpConnect {
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let (state, out) = match check_host(host) {
            Ok(()) => (State::Waiting, request(host, port, credentials)),
            Err(err) => (State::Failed(err), BytesMut::new()),
        };
        HttpConnect {
            out,
            recv: BytesMut::new(),
            scanned: 0,
            line_end: LineEnd::InLine,
            consumed: 0,
            eof: false,
            state,
        }
    }

    /// Reads the answer as far as it has arrived: `true` once the tunnel is
    /// open, `false` to read more.
    fn read_answer(&mut self) -> Result<bool, ProxyError> {
        loop {
            let head_so_far = self.recv.get(..self.recv.len().min(5)).unwrap_or_default();
            if !b"HTTP/".starts_with(head_so_far) {
                return Err(ProxyError::Malformed("the answer is not HTTP; is this a SOCKS proxy? use socks5://"));
            }
            let limit = HEAD_LIMIT.saturating_sub(self.consumed);
            let Some(end) = self.find_end() else {
                if self.recv.len() >= limit {
                    return Err(ProxyError::Malformed("the answer's head exceeds 8 KiB"));
                }
                if self.eof {
                    return Err(ProxyError::Closed);
                }
                return Ok(false);
            };
            if end > limit {
                return Err(ProxyError::Malformed("the answer's head exceeds 8 KiB"));
            }
            let (status, reason) = parse_head(self.recv.get(..end).unwrap_or_default())?;
            if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                self.recv.advance(end);
                self.consumed += end;
                self.scanned = 0;
                self.line_end = LineEnd::InLine;
                continue;
            }
            if !status.is_success() {
                return Err(ProxyError::Refused { status, reason });
            }
            if self.recv.len() > end {
                return Err(ProxyError::Malformed(
                    "the proxy sent bytes after its 2xx answer, before the tunnel was used",
                ));
            }
            return Ok(true);
        }
    }

    /// The length of the head (through its blank line) if it has arrived.
    /// Each byte is examined once however the answer is split.
    fn find_end(&mut self) -> Option<usize> {
        while let Some(&byte) = self.recv.get(self.scanned) {
            self.scanned += 1;
            self.line_end = match (self.line_end, byte) {
                (LineEnd::LineStart | LineEnd::LineStartCr, b'\n') => return Some(self.scanned),
                (_, b'\n') => LineEnd::LineStart,
                (LineEnd::LineStart, b'\r') => LineEnd::LineStartCr,
                _ => LineEnd::InLine,
            };
        }
        None
    }
}

impl HandshakeDrive for HttpConnect {
    type Done = ();

    fn poll(&mut self, _now: Instant) -> Result<Step, Error> {
        match &self.state {
            State::Failed(err) => return Err(err.clone().into()),
            State::Open => return Ok(Step::Done),
            State::Waiting if !self.out.is_empty() => return Ok(Step::Write),
            State::Waiting => {}
        }
        match self.read_answer() {
            Ok(true) => {
                self.state = State::Open;
                Ok(Step::Done)
            }
            Ok(false) => Ok(Step::Read),
            Err(err) => {
                self.state = State::Failed(err.clone());
                Err(err.into())
            }
        }
    }

    fn transmit(&self) -> &[u8] {
        &self.out
    }

    fn advance_transmit(&mut self, written: usize) {
        self.out.advance(written.min(self.out.len()));
    }

    fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    fn received(&mut self, n: usize) {
        self.eof |= n == 0;
    }

    fn finish(self, _now: Instant) -> Result<(), Error> {
        match self.state {
            State::Open => Ok(()),
            _ => Err(UsageError::HandshakeIncomplete.into()),
        }
    }
}

impl fmt::Debug for HttpConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnect")
            .field("state", &self.state)
            .field("unsent", &self.out.len())
            .field("received", &self.recv.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

/// A host fit for the request line and `Host` header: no spaces, controls,
/// or URL delimiters that would change the request's meaning.
fn check_host(host: &str) -> Result<(), ProxyError> {
    if host.is_empty() {
        return Err(ProxyError::InvalidTarget("the host name is empty"));
    }
    let fits = host.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@' | b'[' | b']'));
    if !fits {
        return Err(ProxyError::InvalidTarget(
            "the host name holds spaces, control characters, non-ASCII or URL delimiters \
             (use the punycode form of international names)",
        ));
    }
    Ok(())
}

/// `CONNECT host:port HTTP/1.1`, its `Host`, and `Proxy-Authorization` if
/// there are credentials.
fn request(host: &str, port: u16, credentials: Option<&Credentials>) -> BytesMut {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut text = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(Credentials { user, password }) = credentials {
        let token = STANDARD.encode(format!("{user}:{password}"));
        let _ = write!(text, "Proxy-Authorization: Basic {token}\r\n");
    }
    text.push_str("\r\n");
    BytesMut::from(text.as_bytes())
}

/// The status and reason phrase of a complete head.
fn parse_head(head: &[u8]) -> Result<(StatusCode, String), ProxyError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(ProxyError::Malformed("the answer's head is incomplete")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProxyError::Malformed("the answer has more than 64 header fields"))
        }
        Err(_) => return Err(ProxyError::Malformed("the answer is not valid HTTP/1.1")),
    }
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ProxyError::Malformed("the answer has no valid status code"))?;
    Ok((status, bounded_reason(response.reason.unwrap_or_default())))
}

/// The reason phrase trimmed, controls replaced by spaces, cut to
/// [`REASON_LIMIT`] bytes on a character boundary.
fn bounded_reason(reason: &str) -> String {
    let mut kept = String::new();
    for c in reason.trim().chars() {
        if kept.len() + c.len_utf8() > REASON_LIMIT {
            break;
        }
        kept.push(if c.is_control() { ' ' } else { c });
    }
    kept.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::proxy::testing::{every_split, run};

    const OK: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

    fn creds(user: &str, password: &str) -> Credentials {
        Credentials { user: user.into(), password: password.into() }
    }

    fn connect() -> HttpConnect {
        HttpConnect::new("example.com", 443, None)
    }

    fn proxy_error(result: Result<(), Error>) -> ProxyError {
        match result {
            Err(Error::Proxy(err)) => err,
            other => panic!("expected a proxy error, got {other:?}"),
        }
    }

    #[test]
    fn request_bytes() {
        let (written, result) = run(connect(), &[OK], usize::MAX);
        result.unwrap();
        assert_eq!(written, [b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec()]);

        for host in ["::1", "[::1]"] {
            let (written, _) = run(HttpConnect::new(host, 9001, None), &[OK], usize::MAX);
            assert_eq!(written, [b"CONNECT [::1]:9001 HTTP/1.1\r\nHost: [::1]:9001\r\n\r\n".to_vec()]);
        }

        // RFC 7617's example.
        let with_creds = HttpConnect::new("10.0.0.1", 80, Some(&creds("Aladdin", "open sesame")));
        let (written, result) = run(with_creds, &[OK], usize::MAX);
        result.unwrap();
        assert_eq!(
            written,
            [b"CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\
               Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
                .to_vec()]
        );
    }

    #[test]
    fn any_2xx_opens_the_tunnel_in_every_split() {
        let answers: [&[u8]; 5] = [
            OK,
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.1 204 \r\nVia: 1.1 squid\r\nProxy-Agent: x\r\n\r\n",
            b"HTTP/1.1 299 Whatever\n\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ];
        for answer in answers {
            every_split(answer, |chunk| {
                let (_, result) = run(connect(), &[answer], chunk);
                assert!(result.is_ok(), "{:?} in chunks of {chunk}: {result:?}", String::from_utf8_lossy(answer));
            });
        }
    }

    #[test]
    fn refusals_carry_status_and_reason_in_every_split() {
        let cases: [(&[u8], u16, &str); 5] = [
            (
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
                407,
                "Proxy Authentication Required",
            ),
            (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!", 403, "Forbidden"),
            (b"HTTP/1.1 502   Bad   Gateway  \r\n\r\n", 502, "Bad   Gateway"),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, "Switching Protocols"),
            (b"HTTP/1.1 503 \r\n\r\n", 503, ""),
        ];
        for (answer, code, reason) in cases {
            every_split(answer, |chunk| {
                let (_, result) = run(connect(), &[answer], chunk);
                let err = proxy_error(result);
                assert_eq!(
                    err,
                    ProxyError::Refused { status: StatusCode::from_u16(code).unwrap(), reason: reason.into() }
                );
                assert_eq!(err.status().map(|s| s.as_u16()), Some(code));
            });
        }
    }

    #[test]
    fn reason_is_bounded_and_sanitised() {
        let answer = format!("HTTP/1.1 407 {}\r\n\r\n", "x".repeat(1000));
        let (_, result) = run(connect(), &[answer.as_bytes()], usize::MAX);
        let ProxyError::Refused { reason, .. } = proxy_error(result) else { panic!() };
        assert_eq!(reason.len(), REASON_LIMIT);
        // httparse gives no reason for non-ASCII (obs-text); the status still counts.
        let (_, result) = run(connect(), &["HTTP/1.1 502 Mauvaise passerelle é\r\n\r\n".as_bytes()], usize::MAX);
        let err = proxy_error(result);
        assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
        assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
        // Cut on a character boundary; controls become spaces.
        let cut = bounded_reason(&"é".repeat(100));
        assert_eq!((cut.len(), cut.chars().count()), (REASON_LIMIT, REASON_LIMIT / 2));
        assert_eq!(bounded_reason(&format!("x{}", "é".repeat(100))).len(), REASON_LIMIT - 1);
        assert_eq!(bounded_reason(" a\tb\x7f "), "a b");
    }

    #[test]
    fn bytes_after_a_2xx_head_are_malformed() {
        let answer = b"HTTP/1.1 200 OK\r\n\r\n\x81\x05hello";
        let (_, result) = run(connect(), &[answer], usize::MAX);
        assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("after its 2xx")));
    }

    #[test]
    fn end_of_stream_before_the_head_is_closed_in_every_split() {
        let partial = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n";
        for cut in 0..=partial.len() {
            let answer = &partial[..cut];
            every_split(answer, |chunk| {
                let (_, result) = run(connect(), &[answer], chunk);
                assert_eq!(proxy_error(result), ProxyError::Closed, "cut at {cut}, chunks of {chunk}");
            });
        }
    }

    #[test]
    fn not_http_is_malformed_at_the_first_byte() {
        for answer in [&b"\x05\x00"[..], b"SSH-2.0-OpenSSH\r\n", b"HTTX/1.1 200 OK\r\n\r\n", b"\r\n\r\n"] {
            every_split(answer, |chunk| {
                let (_, result) = run(connect(), &[answer], chunk);
                assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("not HTTP")));
            });
        }
        // Starts like HTTP, but is not.
        let (_, result) = run(connect(), &[b"HTTP/1.1 abc\r\n\r\n"], usize::MAX);
        assert!(matches!(proxy_error(result), ProxyError::Malformed(_)));
    }

    fn head_of(len: usize) -> Vec<u8> {
        let fixed = b"HTTP/1.1 200 OK\r\nX: \r\n\r\n".len();
        format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(len - fixed)).into_bytes()
    }

    #[test]
    fn head_limit_is_8_kib() {
        for chunk in [1, 1000, usize::MAX] {
            let at_limit = head_of(HEAD_LIMIT);
            assert_eq!(at_limit.len(), HEAD_LIMIT);
            let (_, result) = run(connect(), &[&at_limit], chunk);
            assert!(result.is_ok(), "{result:?}");

            let over = head_of(HEAD_LIMIT + 1);
            let (_, result) = run(connect(), &[&over], chunk);
            assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("8 KiB")), "chunk {chunk}");

            // A head that never ends fails at the limit, without waiting for the end.
            let mut endless = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            endless.resize(3 * HEAD_LIMIT, b'a');
            let (_, result) = run(connect(), &[&endless], chunk);
            assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("8 KiB")));
        }
        // Interim answers count towards the same limit.
        let mut answer = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(HEAD_LIMIT / 25);
        answer.extend_from_slice(OK);
        let (_, result) = run(connect(), &[&answer], usize::MAX);
        assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("8 KiB")));
    }

    #[test]
    fn too_many_headers_is_malformed() {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            answer.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        answer.extend_from_slice(b"\r\n");
        let (_, result) = run(connect(), &[&answer], usize::MAX);
        assert!(matches!(proxy_error(result), ProxyError::Malformed(m) if m.contains("64 header")));
    }

    #[test]
    fn invalid_targets_fail_before_anything_is_sent() {
        for host in ["", "a b", "evil.com\r\nX-Injected: 1", "a/b", "user@host", "é.com", "[]"] {
            let (written, result) = run(HttpConnect::new(host, 443, None), &[OK], usize::MAX);
            assert!(written.is_empty(), "{host:?}");
            assert!(matches!(proxy_error(result), ProxyError::InvalidTarget(_)), "{host:?}");
        }
    }

    #[test]
    fn state_after_the_end() {
        let mut tunnel = connect();
        let now = Instant::now();
        assert!(matches!(tunnel.poll(now), Ok(Step::Write)));
        tunnel.advance_transmit(usize::MAX);
        assert!(matches!(tunnel.poll(now), Ok(Step::Read)));
        tunnel.recv_buffer().extend_from_slice(b"HTTP/1.1 407 x\r\n\r\n");
        tunnel.received(19);
        assert!(tunnel.poll(now).is_err());
        assert!(tunnel.poll(now).is_err(), "errors are sticky");
        assert!(matches!(tunnel.finish(now), Err(Error::Usage(UsageError::HandshakeIncomplete))));

        let mut tunnel = connect();
        tunnel.advance_transmit(usize::MAX);
        tunnel.recv_buffer().extend_from_slice(OK);
        tunnel.received(OK.len());
        assert!(matches!(tunnel.poll(now), Ok(Step::Done)));
        assert!(matches!(tunnel.poll(now), Ok(Step::Done)));
        tunnel.finish(now).unwrap();
    }

    #[test]
    fn debug_hides_the_credentials() {
        let tunnel = HttpConnect::new("h", 1, Some(&creds("user", "hunter2")));
        let debug = format!("{tunnel:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("dXNlcjpodW50ZXIy"), "{debug}");
    }
}
