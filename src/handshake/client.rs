//! The client side of the opening handshake (RFC 6455 §4.1).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;

use super::head::{Head, HeadBuffer};
use super::head_writer::HeadWriter;
use super::url::WsUrl;
use super::{check_extra_header, AcceptKey, ClientKey, VERSION};
use crate::extensions::{negotiate, ExtensionOffer, Negotiated};
use crate::http_token::{has_token, is_token, list_elements};
use crate::{Config, Connection, HandshakeError, Role, Status, UsageError};

/// What a client asks for: the URL, and optionally subprotocols, extension
/// offers and extra headers (an `Authorization` token, an `Origin`, cookies).
///
/// ```
/// use rfc6455::handshake::ClientRequest;
/// let request = ClientRequest::new("wss://example.com/feed?v=2")?
///     .protocol("chat.v2")?
///     .header("Authorization", "Bearer s3cr3t")?;
/// assert_eq!((request.host(), request.port(), request.is_secure()), ("example.com", 443, true));
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    url: WsUrl,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL. Refuses other schemes,
    /// fragments (`#...`) and credentials in the URL.
    pub fn new(url: &str) -> Result<Self, UsageError> {
        Ok(Self { url: WsUrl::parse(url)?, protocols: Vec::new(), extensions: Vec::new(), headers: Vec::new() })
    }

    /// Offers a subprotocol (in order of preference); it must be an HTTP token.
    pub fn protocol(mut self, name: &str) -> Result<Self, UsageError> {
        if !is_token(name.as_bytes()) {
            return Err(UsageError::InvalidHeader("subprotocol name (not an HTTP token)"));
        }
        self.protocols.push(name.to_owned());
        Ok(self)
    }

    /// Offers an extension that the application runs above the frame layer.
    /// permessage-deflate is offered from `Config::deflate` (feature
    /// `deflate`), not by hand, and the other deflate variants need RSV bits
    /// the connection does not run: those are refused with
    /// [`UsageError::UnsupportedExtension`].
    pub fn extension(mut self, offer: ExtensionOffer) -> Result<Self, UsageError> {
        super::check_supported_extension(offer.name())?;
        self.extensions.push(offer);
        Ok(self)
    }

    /// Adds a header to the request. The name must be a token and the value
    /// may not contain CR, LF or NUL ([`UsageError::InvalidHeader`]); headers
    /// the handshake sets itself (`Host`, `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Key`, ...) are refused with [`UsageError::ReservedHeader`].
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, UsageError> {
        check_extra_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The host to connect to (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.url.host
    }

    /// The port to connect to (80 or 443 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.url.port
    }

    /// True for `wss://`: the transport must be TLS.
    pub fn is_secure(&self) -> bool {
        self.url.secure
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.url.target
    }

    /// The offered subprotocols.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Writes the upgrade request with `key` to `out`.
    pub fn write(&self, key: &ClientKey, out: &mut impl BufMut) {
        let mut head = HeadWriter::request(out, "GET", &self.url.target);
        head.header("Host", &self.url.host_header())
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", key.as_str())
            .header("Sec-WebSocket-Version", VERSION);
        if !self.protocols.is_empty() {
            head.header("Sec-WebSocket-Protocol", &self.protocols.join(", "));
        }
        if !self.extensions.is_empty() {
            let offers: Vec<String> = self.extensions.iter().map(ToString::to_string).collect();
            head.header("Sec-WebSocket-Extensions", &offers.join(", "));
        }
        for (name, value) in &self.headers {
            head.header(name, value);
        }
        head.finish();
    }
}

/// The server's response to the upgrade request: a `101` on success, or
/// whatever it answered instead, inside [`HandshakeError::Rejected`].
///
/// For a refusal, the client reads the body too (see
/// [`ClientHandshake::poll_response`] for how much), so that the server's
/// explanation reaches the error: [`body`](Self::body). `Debug` shows what a
/// person needs: the status, the reason, the header lines and, for a
/// refusal, the body (its first KiB, as lossy UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    status: http::StatusCode,
    reason: Range<usize>,
    head: Head,
    body: Bytes,
    body_state: BodyState,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    /// What the connection runs of the accepted extensions (permessage-deflate).
    negotiated: Negotiated,
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
enum Framing {
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
    fn of(status: u16, head: &Head) -> Self {
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
    fn wanted(self, limit: usize) -> usize {
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

/// Where a client handshake stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for the response head.
    Head,
    /// The server refused; reading the body of its answer.
    Body { response: Box<Response>, framing: Framing },
    /// Complete (a valid `101`) or failed; later polls repeat it.
    Done(Result<Response, HandshakeError>),
}

/// A client's opening handshake as a sans-IO state machine.
///
/// Write [`poll_transmit`](Self::poll_transmit) to the transport, feed what
/// comes back to [`handle_read`](Self::handle_read) and call
/// [`poll_response`](Self::poll_response) until it is complete, then turn the
/// handshake into a [`Connection`] with [`into_connection`](Self::into_connection).
/// Bytes the server sent right after its response are kept for the connection.
#[derive(Debug)]
pub struct ClientHandshake {
    config: Config,
    rng: StdRng,
    recv: HeadBuffer,
    send: BytesMut,
    key: ClientKey,
    expected_accept: AcceptKey,
    protocols: Vec<String>,
    extension_names: Vec<String>,
    phase: Phase,
    /// The transport ended ([`handle_eof`](Self::handle_eof)).
    eof: bool,
}

impl ClientHandshake {
    /// Starts a handshake with a random key. `seed` seeds the generator of
    /// that key and of the connection's masking keys: take it from the
    /// operating system (`rand::random()` with the `rand` crate, or
    /// `getrandom::fill` with `getrandom`), since RFC 6455
    /// §10.3 requires masks a peer cannot predict. The core never reads
    /// entropy by itself; the adapters pass a seed from the OS.
    pub fn new(request: &ClientRequest, config: &Config, seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        Self::build(request, ClientKey::from_nonce(nonce), config, rng)
    }

    /// Starts a handshake with a caller-chosen key (for tests and for callers
    /// with their own source of randomness).
    ///
    /// `seed` seeds the masking keys, as for [`new`](Self::new).
    pub fn with_key(request: &ClientRequest, key: ClientKey, config: &Config, seed: [u8; 32]) -> Self {
        Self::build(request, key, config, StdRng::from_seed(seed))
    }

    fn build(request: &ClientRequest, key: ClientKey, config: &Config, rng: StdRng) -> Self {
        // permessage-deflate is offered from the config, never by hand.
        let request = match negotiate::client_offer(config) {
            Some(offer) => {
                let mut request = request.clone();
                request.extensions.push(offer);
                Cow::Owned(request)
            }
            None => Cow::Borrowed(request),
        };
        let mut send = BytesMut::with_capacity(256);
        request.write(&key, &mut send);
        Self {
            config: config.clone(),
            rng,
            recv: HeadBuffer::default(),
            send,
            key,
            expected_accept: key.accept_key(),
            protocols: request.protocols.clone(),
            extension_names: request.extensions.iter().map(|e| e.name().to_owned()).collect(),
            phase: Phase::Head,
            eof: false,
        }
    }

    /// The key sent in `Sec-WebSocket-Key`.
    pub fn key(&self) -> &ClientKey {
        &self.key
    }

    /// Bytes of the request still to be written to the transport.
    pub fn poll_transmit(&self) -> &[u8] {
        &self.send
    }

    /// Removes `written` bytes from the front of [`poll_transmit`](Self::poll_transmit).
    pub fn advance_transmit(&mut self, written: usize) {
        self.send.advance(written.min(self.send.len()));
    }

    /// Hands over bytes read from the transport. Then call
    /// [`poll_response`](Self::poll_response).
    ///
    /// Memory stays bounded by `Config::max_handshake_bytes` (plus the last
    /// delivery): while the head is incomplete, bytes past twice that limit
    /// (a head and the part of a refusal's body that is kept) are dropped,
    /// and the next `poll_response` fails with
    /// [`HandshakeError::HeadTooLarge`] if the head did not end within the
    /// limit; while a refusal's body is read, bytes past what is kept of it
    /// are dropped; after a failure everything is dropped, so a caller that
    /// keeps reading cannot grow memory. Once the response is complete, call
    /// [`into_connection`](Self::into_connection) before reading further.
    pub fn handle_read(&mut self, data: &[u8]) {
        let limit = self.config.max_handshake_bytes;
        let keep = match &self.phase {
            _ if self.eof => false,
            Phase::Head => self.recv.buf.len() <= limit.saturating_mul(2),
            Phase::Body { framing, .. } => self.recv.buf.len() < framing.wanted(limit),
            Phase::Done(Ok(_)) => true,
            Phase::Done(Err(_)) => false,
        };
        if keep {
            self.recv.buf.extend_from_slice(data);
        }
    }

    /// Reports that the transport ended (a read returned 0 bytes). Then call
    /// [`poll_response`](Self::poll_response).
    ///
    /// While a refusal's body is being read, what arrived is its body
    /// ([`BodyState::EndedEarly`] if it is shorter than its
    /// `Content-Length`), and `poll_response` returns the rejection. While
    /// the head is incomplete, `poll_response` keeps returning
    /// [`Status::Partial`]: the handshake cannot complete, and the caller
    /// reports the end of the transport its own way.
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The receive buffer, to read into without a copy. Only append to it.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        if matches!(self.phase, Phase::Done(Err(_))) {
            self.recv.buf.clear();
        }
        &mut self.recv.buf
    }

    /// Parses and validates the response once it has arrived.
    ///
    /// Returns [`Status::Partial`] while the head is incomplete. Checks status
    /// 101, `Upgrade: websocket`, `Connection: Upgrade`,
    /// `Sec-WebSocket-Accept`, and that the subprotocol and extensions were
    /// offered. Once complete or failed, later calls return the same result.
    ///
    /// Any other status is [`HandshakeError::Rejected`], with the status, the
    /// headers and the body ([`Response::body`]), read as far as can be done
    /// without waiting forever or without bound, keeping at most
    /// `Config::max_handshake_bytes` of it (so `poll_response` returns
    /// `Partial` after the head until then):
    ///
    /// * `1xx`, `204` and `304` have no body;
    /// * `Transfer-Encoding` (chunked): the body is not read
    ///   ([`BodyState::NotRead`]);
    /// * `Content-Length: n`: the first `n` bytes, or the first
    ///   `max_handshake_bytes` of them ([`BodyState::Truncated`]), or what
    ///   arrived before [`handle_eof`](Self::handle_eof)
    ///   ([`BodyState::EndedEarly`]);
    /// * no length and `Connection: close`: everything until `handle_eof`,
    ///   or the first `max_handshake_bytes` once more arrived
    ///   ([`BodyState::Truncated`]);
    /// * no length and no `Connection: close` (or an invalid
    ///   `Content-Length`): the body is not read ([`BodyState::NotRead`]),
    ///   since its end cannot be known.
    ///
    /// A server that announces a body and never sends it keeps the handshake
    /// `Partial`: the caller's handshake timeout (the adapters'
    /// `Config::handshake_timeout`) still applies.
    pub fn poll_response(&mut self) -> Result<Status<Response>, HandshakeError> {
        if let Phase::Head = self.phase {
            match self.recv.find_end(self.config.max_handshake_bytes) {
                Err(err) => self.phase = Phase::Done(Err(err)),
                Ok(None) => return Ok(Status::Partial),
                Ok(Some(end)) => {
                    let head = self.recv.buf.split_to(end).freeze();
                    self.phase = match self.parse(head) {
                        Ok(response) if response.status == http::StatusCode::SWITCHING_PROTOCOLS => {
                            Phase::Done(self.validate(response))
                        }
                        Ok(response) => match Framing::of(response.status.as_u16(), &response.head) {
                            Framing::Skip(state) => Phase::Done(Err(reject(response, Bytes::new(), state))),
                            framing => Phase::Body { response: Box::new(response), framing },
                        },
                        Err(err) => Phase::Done(Err(err)),
                    };
                }
            }
        }
        if let Phase::Body { framing, .. } = self.phase {
            let Some((body, state)) = take_body(&mut self.recv.buf, framing, self.config.max_handshake_bytes, self.eof)
            else {
                return Ok(Status::Partial);
            };
            if let Phase::Body { response, .. } = std::mem::replace(&mut self.phase, Phase::Head) {
                self.phase = Phase::Done(Err(reject(*response, body, state)));
            }
        }
        match &self.phase {
            Phase::Done(Ok(response)) => Ok(Status::Complete(response.clone())),
            Phase::Done(Err(err)) => Err(err.clone()),
            Phase::Head | Phase::Body { .. } => Ok(Status::Partial),
        }
    }

    /// Parses a complete response head.
    fn parse(&self, head: Bytes) -> Result<Response, HandshakeError> {
        let (line, head) = Head::parse_response(head, self.config.max_headers)?;
        if line.minor_version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        Ok(Response {
            status: line.status,
            reason: line.reason,
            head,
            body: Bytes::new(),
            body_state: BodyState::Complete,
            protocol: None,
            extensions: Vec::new(),
            negotiated: Negotiated::default(),
        })
    }

    /// Checks a `101` response.
    fn validate(&self, mut response: Response) -> Result<Response, HandshakeError> {
        let head = &response.head;
        if !has_token(head.values("Upgrade"), "websocket") {
            return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
        }
        if !has_token(head.values("Connection"), "upgrade") {
            return Err(HandshakeError::MissingHeader("Connection: Upgrade"));
        }
        if head.required("Sec-WebSocket-Accept")? != self.expected_accept.as_str().as_bytes() {
            return Err(HandshakeError::AcceptMismatch);
        }
        let (extensions, negotiated) =
            negotiate::negotiate_client(head.values("Sec-WebSocket-Extensions"), &self.extension_names, &self.config)?;
        let protocol = match head.single("Sec-WebSocket-Protocol")? {
            None => None,
            Some(chosen) => {
                let chosen = String::from_utf8_lossy(chosen);
                if !self.protocols.iter().any(|p| *p == chosen) {
                    return Err(HandshakeError::UnofferedProtocol(chosen.into_owned()));
                }
                Some(chosen.into_owned())
            }
        };
        response.protocol = protocol;
        response.extensions = extensions;
        response.negotiated = negotiated;
        Ok(response)
    }

    /// The connection, once [`poll_response`](Self::poll_response) has
    /// succeeded, with any bytes that followed the response already received
    /// (drain its [`poll_event`](Connection::poll_event) now) and any
    /// request bytes not yet written still queued in its
    /// [`poll_transmit`](Connection::poll_transmit).
    pub fn into_connection(self, now: Instant) -> Result<Connection, UsageError> {
        match self.phase {
            Phase::Done(Ok(response)) => {
                let conn =
                    Connection::from_parts(Role::Client, &self.config, now, self.recv.buf, self.send, Some(self.rng));
                Ok(conn.with_negotiated(&response.negotiated, &self.config))
            }
            _ => Err(UsageError::HandshakeIncomplete),
        }
    }
}

/// The refusal `response` with its `body`.
fn reject(mut response: Response, body: Bytes, state: BodyState) -> HandshakeError {
    response.body = body;
    response.body_state = state;
    HandshakeError::Rejected(Box::new(response))
}

/// The body, once enough of it is in `buf` (or the transport ended) to
/// decide: see [`ClientHandshake::poll_response`].
fn take_body(buf: &mut BytesMut, framing: Framing, limit: usize, eof: bool) -> Option<(Bytes, BodyState)> {
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

    fn request() -> ClientRequest {
        ClientRequest::new("ws://server.example.com/chat").unwrap()
    }

    #[test]
    fn writes_rfc_style_request() {
        let key = ClientKey::from_nonce(*b"the sample nonce");
        let request = request()
            .protocol("chat")
            .unwrap()
            .protocol("superchat")
            .unwrap()
            .header("Origin", "http://example.com")
            .unwrap();
        let mut out = Vec::new();
        request.write(&key, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://example.com\r\n\r\n"
        );
    }

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

    #[test]
    fn protocol_names_must_be_tokens() {
        assert!(request().protocol("two words").is_err());
        assert!(request().protocol("").is_err());
    }
}
