//! The client side of the opening handshake (RFC 6455 §4.1).

use std::borrow::Cow;
use std::ops::Range;
use std::time::Instant;

use bytes::{Buf, BufMut, BytesMut};
use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;

use super::head::{Head, HeadBuffer};
use super::head_writer::HeadWriter;
use super::url::WsUrl;
use super::{check_extra_header, AcceptKey, ClientKey, VERSION};
use crate::extensions::{negotiate, ExtensionOffer, Negotiated};
use crate::http_token::{has_token, is_token};
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
    /// may not contain CR, LF or NUL; headers the handshake sets itself
    /// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`, ...) are refused.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    reason: Range<usize>,
    head: Head,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    /// What the connection runs of the accepted extensions (permessage-deflate).
    negotiated: Negotiated,
}

impl Response {
    /// The permessage-deflate parameters agreed on, if the server accepted our offer.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<&crate::extensions::deflate::DeflateParams> {
        self.negotiated.deflate()
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
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

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with their parameters.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
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
    outcome: Option<Result<Response, HandshakeError>>,
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
            outcome: None,
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
    /// While the head is incomplete, bytes past `Config::max_handshake_bytes`
    /// are dropped (the next `poll_response` fails with
    /// [`HandshakeError::HeadTooLarge`]); after a failure everything is
    /// dropped, so a caller that keeps reading cannot grow memory. Once the
    /// response is complete, call [`into_connection`](Self::into_connection)
    /// before reading further.
    pub fn handle_read(&mut self, data: &[u8]) {
        let keep = match self.outcome {
            None => self.recv.buf.len() < self.config.max_handshake_bytes,
            Some(Ok(_)) => true,
            Some(Err(_)) => false,
        };
        if keep {
            self.recv.buf.extend_from_slice(data);
        }
    }

    /// The receive buffer, to read into without a copy. Only append to it.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        if matches!(self.outcome, Some(Err(_))) {
            self.recv.buf.clear();
        }
        &mut self.recv.buf
    }

    /// Parses and validates the response once its head has arrived.
    ///
    /// Returns [`Status::Partial`] while the head is incomplete. Checks status
    /// 101, `Upgrade: websocket`, `Connection: Upgrade`,
    /// `Sec-WebSocket-Accept`, and that the subprotocol and extensions were
    /// offered. A non-101 answer is [`HandshakeError::Rejected`] with the
    /// status and headers. Once complete or failed, later calls return the
    /// same result.
    pub fn poll_response(&mut self) -> Result<Status<Response>, HandshakeError> {
        if self.outcome.is_none() {
            let Some(end) = self
                .recv
                .find_end(self.config.max_handshake_bytes)
                .inspect_err(|err| self.outcome = Some(Err(err.clone())))?
            else {
                return Ok(Status::Partial);
            };
            let head = self.recv.buf.split_to(end).freeze();
            self.outcome = Some(self.validate(head));
        }
        match &self.outcome {
            Some(Ok(response)) => Ok(Status::Complete(response.clone())),
            Some(Err(err)) => Err(err.clone()),
            None => Ok(Status::Partial),
        }
    }

    fn validate(&self, head: bytes::Bytes) -> Result<Response, HandshakeError> {
        let (line, head) = Head::parse_response(head, self.config.max_headers)?;
        if line.minor_version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion);
        }
        let mut response = Response {
            status: line.status,
            reason: line.reason,
            head,
            protocol: None,
            extensions: Vec::new(),
            negotiated: Negotiated::default(),
        };
        if response.status != 101 {
            return Err(HandshakeError::Rejected(Box::new(response)));
        }
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
        match self.outcome {
            Some(Ok(response)) => {
                let conn =
                    Connection::from_parts(Role::Client, &self.config, now, self.recv.buf, self.send, Some(self.rng));
                Ok(conn.with_negotiated(&response.negotiated, &self.config))
            }
            _ => Err(UsageError::HandshakeIncomplete),
        }
    }
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
    fn protocol_names_must_be_tokens() {
        assert!(request().protocol("two words").is_err());
        assert!(request().protocol("").is_err());
    }
}
