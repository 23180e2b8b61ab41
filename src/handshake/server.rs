//! The server side of the opening handshake (RFC 6455 §4.2).

use std::borrow::Cow;
use std::ops::Range;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::head::{Head, HeadBuffer};
use super::{check_extra_header, ClientKey, VERSION};
use crate::extensions::{negotiate, ExtensionOffer};
use crate::http_token::{has_token, is_token, list_elements};
use crate::{Config, Connection, HandshakeError, Role, Status, UsageError};

/// A validated WebSocket upgrade request, for the application to inspect
/// before it accepts or rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    head: Head,
    target: Range<usize>,
    host: Range<usize>,
    key: ClientKey,
    extensions: Vec<ExtensionOffer>,
}

impl UpgradeRequest {
    /// The request target: path and query, as sent (e.g. `/chat?room=1`).
    pub fn target(&self) -> &str {
        self.head.text(&self.target)
    }

    /// The path part of the target (before any `?`). For an absolute-form
    /// target (`GET http://host/chat HTTP/1.1`, allowed by RFC 6455 §4.2.1)
    /// this is the path after the authority (`/chat`).
    pub fn path(&self) -> &str {
        let target = self.target();
        let without_query = target.split_once('?').map_or(target, |(path, _)| path);
        match without_query.split_once("://") {
            Some((_scheme, rest)) if !without_query.starts_with('/') => rest.find('/').map_or("/", |i| &rest[i..]),
            _ => without_query,
        }
    }

    /// The query part of the target (after the `?`), if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    /// The `Host` header.
    pub fn host(&self) -> &str {
        self.head.text(&self.host)
    }

    /// The `Origin` header, sent by browsers: check it against the origins
    /// you serve to stop cross-site WebSocket hijacking.
    pub fn origin(&self) -> Option<&str> {
        self.head.first("Origin").and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The client's `Sec-WebSocket-Key`.
    pub fn key(&self) -> &ClientKey {
        &self.key
    }

    /// Every header as (name, value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.iter()
    }

    /// The first header called `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.first(name)
    }

    /// The token of an `Authorization: Bearer <token>` header (RFC 6750),
    /// if there is one. Compare it with
    /// [`secrets_equal`](crate::handshake::secrets_equal), not `==`.
    /// (Browsers cannot set this header on a WebSocket; they authenticate
    /// with cookies, a query parameter or the first message.)
    pub fn bearer_token(&self) -> Option<&[u8]> {
        let value = self.header("Authorization")?;
        let scheme = value.get(..7)?;
        let token = value.get(7..)?.trim_ascii();
        (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
    }

    /// The value of the cookie called `name` in the `Cookie` header(s), if
    /// sent (RFC 6265 §5.4: `name=value` pairs separated by `; `).
    pub fn cookie(&self, name: &str) -> Option<&[u8]> {
        self.head
            .values("Cookie")
            .flat_map(|value| value.split(|&b| b == b';'))
            .filter_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|&b| b == b'=')?;
                Some((pair.get(..eq)?, pair.get(eq + 1..)?))
            })
            .find_map(|(key, value)| (key == name.as_bytes()).then_some(value))
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.head.values("Sec-WebSocket-Protocol").flat_map(list_elements).filter_map(|p| std::str::from_utf8(p).ok())
    }

    /// The extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    fn parse(bytes: Bytes, config: &Config) -> Result<Self, HandshakeError> {
        let (line, head) = Head::parse_request(bytes, config.max_headers)?;
        if !line.method_is_get {
            return Err(HandshakeError::MethodNotGet);
        }
        if line.minor_version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let host = head.required("Host")?;
        if host.is_empty() || std::str::from_utf8(host).is_err() {
            return Err(HandshakeError::InvalidHeader("Host"));
        }
        let host = head.range_of(host);
        if !has_token(head.values("Upgrade"), "websocket") {
            return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
        }
        if !has_token(head.values("Connection"), "upgrade") {
            return Err(HandshakeError::MissingHeader("Connection: Upgrade"));
        }
        match head.single("Sec-WebSocket-Version") {
            Ok(Some(version)) if version == VERSION.as_bytes() => {}
            _ => return Err(HandshakeError::UnsupportedVersion),
        }
        let key = ClientKey::parse(head.required("Sec-WebSocket-Key")?)?;
        for value in head.values("Sec-WebSocket-Protocol") {
            if !list_elements(value).all(is_token) {
                return Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol"));
            }
        }
        let mut extensions = Vec::new();
        for value in head.values("Sec-WebSocket-Extensions") {
            let value =
                std::str::from_utf8(value).map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"))?;
            extensions.extend(ExtensionOffer::parse_list(value)?);
        }
        Ok(Self { target: line.target, host, head, key, extensions })
    }
}

/// How to answer an [`UpgradeRequest`] with `101 Switching Protocols`.
///
/// ```
/// use rfc6455::handshake::Accept;
/// let accept = Accept::new().protocol("chat")?.header("Set-Cookie", "session=1; HttpOnly")?;
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// A plain acceptance: no subprotocol, no extension, no extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects one of the subprotocols the client offered; it must be an
    /// HTTP token.
    pub fn protocol(mut self, name: &str) -> Result<Self, UsageError> {
        if !is_token(name.as_bytes()) {
            return Err(UsageError::InvalidHeader("subprotocol name (not an HTTP token)"));
        }
        self.protocol = Some(name.to_owned());
        Ok(self)
    }

    /// Accepts one of the extensions the client offered, with the response
    /// parameters, for an extension the application runs above the frame
    /// layer. permessage-deflate (which browsers offer) is accepted from
    /// `Config::deflate` (feature `deflate`), not by hand, and the other
    /// deflate variants need RSV bits the connection does not run: those are
    /// refused with [`UsageError::UnsupportedExtension`].
    pub fn extension(mut self, response: ExtensionOffer) -> Result<Self, UsageError> {
        super::check_supported_extension(response.name())?;
        self.extensions.push(response);
        Ok(self)
    }

    /// Adds a response header (e.g. `Set-Cookie`). Same rules as
    /// [`ClientRequest::header`](super::ClientRequest::header).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Writes the `101` response for a client that sent `key`.
    pub fn write(&self, key: &ClientKey, out: &mut impl BufMut) {
        let accept = key.accept_key();
        let mut line = |parts: &[&str]| {
            for part in parts {
                out.put_slice(part.as_bytes());
            }
            out.put_slice(b"\r\n");
        };
        line(&["HTTP/1.1 101 Switching Protocols"]);
        line(&["Upgrade: websocket"]);
        line(&["Connection: Upgrade"]);
        line(&["Sec-WebSocket-Accept: ", accept.as_str()]);
        if let Some(protocol) = &self.protocol {
            line(&["Sec-WebSocket-Protocol: ", protocol]);
        }
        if !self.extensions.is_empty() {
            let accepted: Vec<String> = self.extensions.iter().map(ToString::to_string).collect();
            line(&["Sec-WebSocket-Extensions: ", &accepted.join(", ")]);
        }
        for (name, value) in &self.headers {
            line(&[name, ": ", value]);
        }
        line(&[]);
    }

    fn check_against(&self, request: &UpgradeRequest) -> Result<(), UsageError> {
        if let Some(protocol) = &self.protocol {
            if !request.protocols().any(|offered| offered == protocol) {
                return Err(UsageError::ProtocolNotOffered(protocol.clone()));
            }
        }
        for extension in &self.extensions {
            let offered = request.extensions().iter().any(|o| o.name().eq_ignore_ascii_case(extension.name()));
            if !offered {
                return Err(UsageError::ExtensionNotOffered(extension.name().to_owned()));
            }
        }
        Ok(())
    }
}

/// An HTTP response that refuses the upgrade.
///
/// ```
/// use rfc6455::handshake::Reject;
/// let reject = Reject::new(401)?.header("WWW-Authenticate", "Bearer")?.body("token required");
/// let mut out = Vec::new();
/// reject.write(&mut out);
/// assert!(out.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// A mistake in building the answer inside a handshake hook (an invalid
/// header, a subprotocol the client did not offer) is the server's fault:
/// `?` turns it into `500 Internal Server Error`, without the details.
impl From<UsageError> for Reject {
    fn from(_: UsageError) -> Self {
        Self { status: 500, headers: Vec::new(), body: Bytes::from_static(b"internal error\n") }
    }
}

impl Reject {
    /// A rejection with `status`, which must be in 200..=599 and not 101.
    pub fn new(status: u16) -> Result<Self, UsageError> {
        if !(200..=599).contains(&status) {
            return Err(UsageError::InvalidHeader("rejection status (must be 200-599)"));
        }
        Ok(Self { status, headers: Vec::new(), body: Bytes::new() })
    }

    /// `403 Forbidden`: the request is understood and refused (a foreign
    /// `Origin`, a user without access). Add a body to say why.
    pub fn forbidden() -> Self {
        Self { status: 403, headers: Vec::new(), body: Bytes::new() }
    }

    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`: credentials are
    /// missing or wrong (a bad token).
    pub fn unauthorized() -> Self {
        let headers = vec![("WWW-Authenticate".to_owned(), "Bearer".to_owned())];
        Self { status: 401, headers, body: Bytes::new() }
    }

    /// The right answer to a failed handshake: its
    /// [`status_hint`](HandshakeError::status_hint), `Sec-WebSocket-Version: 13`
    /// for an unsupported version (426), `Allow: GET` for a wrong method
    /// (405), and the error's message as the body.
    pub fn from_error(err: &HandshakeError) -> Self {
        let status = match err.status_hint() {
            status @ 200..=599 => status,
            _ => 400,
        };
        let mut headers = Vec::new();
        match status {
            426 => {
                headers.push(("Sec-WebSocket-Version".to_owned(), VERSION.to_owned()));
                headers.push(("Upgrade".to_owned(), "websocket".to_owned()));
            }
            405 => headers.push(("Allow".to_owned(), "GET".to_owned())),
            _ => {}
        }
        Self { status, headers, body: Bytes::from(format!("{err}\n")) }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Adds a header (same rules as [`Accept::header`]).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sets the body (sent with a `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Writes the response, asking the client to close the connection.
    pub fn write(&self, out: &mut impl BufMut) {
        let status = self.status.to_string();
        let length = self.body.len().to_string();
        let mut line = |parts: &[&str]| {
            for part in parts {
                out.put_slice(part.as_bytes());
            }
            out.put_slice(b"\r\n");
        };
        line(&["HTTP/1.1 ", &status, " ", reason_phrase(self.status)]);
        // A sender of `Upgrade` must list it in `Connection` (RFC 9110 §7.8).
        let upgrade = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        line(&[if upgrade { "Connection: Upgrade, close" } else { "Connection: close" }]);
        line(&["Content-Length: ", &length]);
        let has_content_type = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !self.body.is_empty() && !has_content_type {
            line(&["Content-Type: text/plain; charset=utf-8"]);
        }
        for (name, value) in &self.headers {
            line(&[name, ": ", value]);
        }
        line(&[]);
        out.put_slice(&self.body);
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Rejected",
    }
}

#[derive(Debug)]
enum Phase {
    Reading,
    Received(UpgradeRequest),
    Failed(HandshakeError),
}

/// A server's opening handshake as a sans-IO state machine.
///
/// Feed bytes from the transport to [`handle_read`](Self::handle_read) and
/// call [`poll_request`](Self::poll_request) until it yields the request.
/// Decide, then either [`accept`](Self::accept) it (which gives the
/// [`Connection`], with the `101` response queued as its first bytes to
/// send) or [`reject`](Self::reject) it (then write out
/// [`poll_transmit`](Self::poll_transmit) and close the transport). After a
/// [`HandshakeError`], answer with `reject(&Reject::from_error(&err))`.
#[derive(Debug)]
pub struct ServerHandshake {
    config: Config,
    recv: HeadBuffer,
    send: BytesMut,
    phase: Phase,
    /// `accept` or `reject` was called.
    answered: bool,
}

impl ServerHandshake {
    /// A handshake waiting for the client's request.
    pub fn new(config: &Config) -> Self {
        Self {
            config: config.clone(),
            recv: HeadBuffer::default(),
            send: BytesMut::new(),
            phase: Phase::Reading,
            answered: false,
        }
    }

    /// Hands over bytes read from the transport. Then call
    /// [`poll_request`](Self::poll_request).
    ///
    /// Memory stays bounded whatever the caller does: while the head is
    /// incomplete, bytes past `Config::max_handshake_bytes` are dropped (the
    /// next `poll_request` fails with [`HandshakeError::HeadTooLarge`]);
    /// once the request is complete, a client that sends more than that
    /// before being answered fails the handshake with
    /// [`HandshakeError::TooMuchEarlyData`]; after a failure or an answer,
    /// everything is dropped. Stop reading once the request is complete,
    /// until you accept.
    pub fn handle_read(&mut self, data: &[u8]) {
        let limit = self.config.max_handshake_bytes;
        match &self.phase {
            _ if self.answered => {}
            Phase::Reading if self.recv.buf.len() < limit => self.recv.buf.extend_from_slice(data),
            Phase::Received(_) if self.recv.buf.len() + data.len() <= limit => self.recv.buf.extend_from_slice(data),
            Phase::Received(_) => {
                self.recv.buf = BytesMut::new();
                self.phase = Phase::Failed(HandshakeError::TooMuchEarlyData { limit });
            }
            Phase::Reading | Phase::Failed(_) => {}
        }
    }

    /// The receive buffer, to read into without a copy. Only append to it,
    /// and prefer [`handle_read`](Self::handle_read) unless the copy matters:
    /// this path cannot enforce the limits until the next
    /// [`poll_request`](Self::poll_request).
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        if self.answered || matches!(self.phase, Phase::Failed(_)) {
            self.recv.buf.clear();
        }
        &mut self.recv.buf
    }

    /// Parses and validates the request once its head has arrived.
    ///
    /// Returns [`Status::Partial`] while the head is incomplete. Checks the
    /// method (GET), HTTP/1.1 or later, `Host`, `Upgrade: websocket`,
    /// `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a 16-byte
    /// `Sec-WebSocket-Key`, and the syntax of the offered subprotocols and
    /// extensions. Once complete or failed, later calls return the same
    /// result, also after the request was answered.
    pub fn poll_request(&mut self) -> Result<Status<UpgradeRequest>, HandshakeError> {
        if let Phase::Received(_) = self.phase {
            let limit = self.config.max_handshake_bytes;
            if !self.answered && self.recv.buf.len() > limit {
                self.recv.buf = BytesMut::new();
                self.phase = Phase::Failed(HandshakeError::TooMuchEarlyData { limit });
            }
        }
        if matches!(self.phase, Phase::Reading) {
            match self.recv.find_end(self.config.max_handshake_bytes) {
                Ok(None) => return Ok(Status::Partial),
                Ok(Some(end)) => {
                    let head = self.recv.buf.split_to(end).freeze();
                    self.phase = match UpgradeRequest::parse(head, &self.config) {
                        Ok(request) => Phase::Received(request),
                        Err(err) => Phase::Failed(err),
                    };
                }
                Err(err) => self.phase = Phase::Failed(err),
            }
        }
        match &self.phase {
            Phase::Reading => Ok(Status::Partial),
            Phase::Received(request) => Ok(Status::Complete(request.clone())),
            Phase::Failed(err) => Err(err.clone()),
        }
    }

    /// Accepts the request: the returned [`Connection`] starts with the `101`
    /// response queued in [`poll_transmit`](Connection::poll_transmit) and with
    /// any bytes the client sent after its request already received (drain
    /// its [`poll_event`](Connection::poll_event), then write out its
    /// `poll_transmit`).
    ///
    /// Fails, leaving the handshake as it was, if the request has not been
    /// received, or if `accept` selects a subprotocol or extension the client
    /// did not offer.
    pub fn accept(&mut self, accept: &Accept, now: Instant) -> Result<Connection, UsageError> {
        let request = match &self.phase {
            _ if self.answered => return Err(UsageError::HandshakeAnswered),
            Phase::Received(request) => request,
            Phase::Reading | Phase::Failed(_) => return Err(UsageError::HandshakeIncomplete),
        };
        accept.check_against(request)?;
        // permessage-deflate is accepted from the config, never by hand.
        let (negotiated, response) = negotiate::negotiate_server(request.extensions(), &self.config);
        let accept = match response {
            Some(response) => {
                let mut accept = accept.clone();
                accept.extensions.push(response);
                Cow::Owned(accept)
            }
            None => Cow::Borrowed(accept),
        };
        let mut send = std::mem::take(&mut self.send);
        accept.write(request.key(), &mut send);
        let recv = std::mem::take(&mut self.recv.buf);
        self.answered = true;
        let conn = Connection::from_parts(Role::Server, &self.config, now, recv, send, None);
        Ok(conn.with_negotiated(&negotiated, &self.config))
    }

    /// Refuses the upgrade: queues `reject` in
    /// [`poll_transmit`](Self::poll_transmit). Write it out, then close the
    /// transport. Has no effect once the handshake was answered.
    pub fn reject(&mut self, reject: &Reject) {
        if self.answered {
            return;
        }
        reject.write(&mut self.send);
        self.recv.buf = BytesMut::new();
        self.answered = true;
    }

    /// Bytes to write to the transport (a rejection, once [`reject`](Self::reject) was called).
    pub fn poll_transmit(&self) -> &[u8] {
        &self.send
    }

    /// Removes `written` bytes from the front of [`poll_transmit`](Self::poll_transmit).
    pub fn advance_transmit(&mut self, written: usize) {
        self.send.advance(written.min(self.send.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn rfc_example_request_and_response() {
        let mut hs = ServerHandshake::new(&Config::default());
        hs.handle_read(RFC_REQUEST);
        let Ok(Status::Complete(request)) = hs.poll_request() else { panic!("request should parse") };
        assert_eq!(request.host(), "server.example.com");
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(request.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
        let mut conn = hs.accept(&Accept::new().protocol("chat").unwrap(), Instant::now()).unwrap();
        assert_eq!(
            std::str::from_utf8(conn.poll_transmit()).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    #[test]
    fn accept_refuses_unoffered_choices_and_keeps_the_handshake() {
        let mut hs = ServerHandshake::new(&Config::default());
        hs.handle_read(RFC_REQUEST);
        assert!(hs.poll_request().is_ok());
        assert_eq!(
            hs.accept(&Accept::new().protocol("mqtt").unwrap(), Instant::now()).unwrap_err(),
            UsageError::ProtocolNotOffered("mqtt".into())
        );
        let ext = ExtensionOffer::new("x-foo").unwrap();
        assert_eq!(
            hs.accept(&Accept::new().extension(ext).unwrap(), Instant::now()).unwrap_err(),
            UsageError::ExtensionNotOffered("x-foo".into())
        );
        assert!(hs.accept(&Accept::new(), Instant::now()).is_ok());
        assert_eq!(hs.accept(&Accept::new(), Instant::now()).unwrap_err(), UsageError::HandshakeAnswered);
    }

    #[test]
    fn reject_from_version_error_advertises_13() {
        let mut out = Vec::new();
        Reject::from_error(&HandshakeError::UnsupportedVersion).write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{text}");
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(Reject::new(101).is_err());
    }
}
