//! The client side of the opening handshake (RFC 6455 §4.1): the
//! [`ClientHandshake`] state machine.

use std::borrow::Cow;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;

use super::answer::{reject, take_body, BodyState, Framing, Response};
use super::client_request::ClientRequest;
use super::head::{Head, HeadBuffer};
use super::{AcceptKey, ClientKey};
use crate::extensions::{negotiate, Negotiated};
use crate::http_token::has_token;
use crate::{Config, Connection, HandshakeError, Role, Status, UsageError};

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
    fn validate(&self, response: Response) -> Result<Response, HandshakeError> {
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
        self.negotiate(response)
    }

    /// Checks the subprotocol and extensions a response chose against the
    /// offer, and negotiates the extensions.
    fn negotiate(&self, mut response: Response) -> Result<Response, HandshakeError> {
        let head = &response.head;
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

    /// The request for WebSocket over HTTP/2 (RFC 8441): an extended
    /// `CONNECT` with the same target, subprotocols, extensions (the
    /// permessage-deflate offer from the config included) and headers as the
    /// HTTP/1.1 request, without `Host` (the authority is in the URI),
    /// `Upgrade`, `Connection` and the key. Send it with `:protocol` set to
    /// `websocket` (hyper: the `ext::Protocol` extension), then pass the
    /// response to [`handle_http2_response`](Self::handle_http2_response).
    /// The HTTP/1.1 request is dropped: [`poll_transmit`](Self::poll_transmit)
    /// is empty from now on.
    pub fn http2_request(&mut self, https: bool) -> http::Request<()> {
        let written = std::mem::take(&mut self.send).freeze();
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::CONNECT;
        *request.version_mut() = http::Version::HTTP_2;
        let lines = written.len() / 4; // a header line takes at least 4 bytes
        let Ok((line, head)) = Head::parse_request(written, lines) else { return request };
        let mut headers = head.header_map();
        let authority = headers.remove(http::header::HOST);
        for name in [http::header::UPGRADE, http::header::CONNECTION, http::header::SEC_WEBSOCKET_KEY] {
            headers.remove(name);
        }
        let scheme = if https { "https" } else { "http" };
        let authority = authority.as_ref().and_then(|value| value.to_str().ok()).unwrap_or("localhost");
        if let Ok(uri) = format!("{scheme}://{authority}{}", head.text(&line.target)).parse() {
            *request.uri_mut() = uri;
        }
        *request.headers_mut() = headers;
        request
    }

    /// Checks the HTTP/2 server's answer to [`http2_request`](Self::http2_request):
    /// a `2xx` whose subprotocol and extensions were offered. Then
    /// [`into_connection`](Self::into_connection) gives the connection to
    /// run over the HTTP/2 stream.
    ///
    /// `refusal_body` is the body of a refusal, as far as the caller read it
    /// (`None`: not read); it is ignored for a `2xx`, whose body is the
    /// WebSocket. At most `Config::max_handshake_bytes` of it are kept.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Rejected`] with the response for any other status;
    /// an unoffered subprotocol or extension as over HTTP/1.1.
    pub fn handle_http2_response(
        &mut self,
        parts: &http::response::Parts,
        refusal_body: Option<Bytes>,
    ) -> Result<Response, HandshakeError> {
        let mut head = BytesMut::new();
        let reason = parts.status.canonical_reason().unwrap_or("Response");
        head.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).as_bytes());
        for (name, value) in &parts.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let result = self.parse(head.freeze()).and_then(|response| {
            if parts.status.is_success() {
                self.negotiate(response)
            } else {
                let limit = self.config.max_handshake_bytes;
                Err(match refusal_body {
                    None => reject(response, Bytes::new(), BodyState::NotRead),
                    Some(body) if body.len() > limit => reject(response, body.slice(..limit), BodyState::Truncated),
                    Some(body) => reject(response, body, BodyState::Complete),
                })
            }
        });
        self.phase = Phase::Done(result.clone());
        result
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
