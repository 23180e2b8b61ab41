//! The server side of the opening handshake (RFC 6455 §4.2) as a state machine: reading the request, then accepting or rejecting it.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::head::HeadBuffer;
use super::request::UpgradeRequest;
use super::response::{Accept, Reject};
use crate::{Config, Connection, HandshakeError, Role, Status, UsageError};

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
        let (accept, negotiated) = accept.negotiated_for(request, &self.config)?;
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
    use crate::extensions::ExtensionOffer;

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
}
