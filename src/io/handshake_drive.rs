//! The protocol side of running an opening handshake over a stream, shared by the blocking and tokio adapters: what to write, when to read, what the end of the stream means, and what the server's hook decides.
//!
//! Each adapter pumps a [`HandshakeDrive`] in one loop: ask
//! [`poll`](HandshakeDrive::poll) for the next [`Step`], move bytes as it
//! says, repeat. The adapters only move bytes and keep time (the handshake
//! timeout is theirs); every decision is made here or in the sans-IO
//! handshake.

use std::io;
use std::time::Instant;

use bytes::BytesMut;

use super::Error;
use crate::handshake::{Accept, ClientHandshake, ClientRequest, Reject, Response, ServerHandshake, UpgradeRequest};
use crate::{Config, Connection, Status, UsageError};

/// How many bytes an adapter asks the stream for at a time during the
/// handshake.
pub(crate) const READ_CHUNK: usize = 16 << 10;

/// What an adapter does next for a handshake.
#[derive(Debug)]
pub(crate) enum Step {
    /// Write all of [`transmit`](HandshakeDrive::transmit) to the stream and
    /// flush it, then [`advance_transmit`](HandshakeDrive::advance_transmit)
    /// by its length.
    Write,
    /// Read once, up to [`READ_CHUNK`] bytes, into
    /// [`recv_buffer`](HandshakeDrive::recv_buffer), then report the count
    /// with [`received`](HandshakeDrive::received) (0 at the end of the stream).
    Read,
    /// The handshake is done: take its result with
    /// [`finish`](HandshakeDrive::finish).
    Done,
    /// The upgrade was refused: write all of
    /// [`transmit`](HandshakeDrive::transmit) (the rejection), close the
    /// transport, then fail with this error.
    Refused(Error),
}

/// One side of an opening handshake, as an adapter pumps it.
pub(crate) trait HandshakeDrive {
    /// What a completed handshake gives.
    type Done;

    /// The next thing to do, at time `now`.
    fn poll(&mut self, now: Instant) -> Result<Step, Error>;

    /// Bytes to write to the stream.
    fn transmit(&self) -> &[u8];

    /// Removes `written` bytes from the front of [`transmit`](Self::transmit).
    fn advance_transmit(&mut self, written: usize);

    /// The buffer to read into (only append to it).
    fn recv_buffer(&mut self) -> &mut BytesMut;

    /// Reports that a read appended `n` bytes to the receive buffer; 0 means
    /// the stream ended.
    fn received(&mut self, n: usize);

    /// The result, once [`poll`](Self::poll) returned [`Step::Done`], at time `now`.
    fn finish(self, now: Instant) -> Result<Self::Done, Error>;
}

/// The client's handshake: write the request, read until the response is
/// complete (for a refusal, its body too, as far as
/// [`ClientHandshake::poll_response`] reads it), then give the connection and
/// the response.
#[derive(Debug)]
pub(crate) struct ClientDrive {
    hs: ClientHandshake,
    /// The server's `101`, once it has arrived.
    response: Option<Response>,
    eof: bool,
}

impl ClientDrive {
    /// A handshake for `request`, keyed and seeded from the operating system.
    pub(crate) fn new(request: &ClientRequest, config: &Config) -> Self {
        Self { hs: ClientHandshake::new(request, config, super::os_seed()), response: None, eof: false }
    }
}

impl HandshakeDrive for ClientDrive {
    type Done = (Connection, Response);

    fn poll(&mut self, _now: Instant) -> Result<Step, Error> {
        if !self.hs.poll_transmit().is_empty() {
            return Ok(Step::Write);
        }
        // After the end of the stream, a refusal whose body was being read
        // completes with what arrived; an incomplete head cannot.
        match self.hs.poll_response()? {
            Status::Complete(response) => {
                self.response = Some(response);
                Ok(Step::Done)
            }
            Status::Partial if self.eof => Err(eof_during_handshake()),
            Status::Partial => Ok(Step::Read),
        }
    }

    fn transmit(&self) -> &[u8] {
        self.hs.poll_transmit()
    }

    fn advance_transmit(&mut self, written: usize) {
        self.hs.advance_transmit(written);
    }

    fn recv_buffer(&mut self) -> &mut BytesMut {
        self.hs.recv_buffer()
    }

    fn received(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
            self.hs.handle_eof();
        }
    }

    fn finish(self, now: Instant) -> Result<Self::Done, Error> {
        let response = self.response.ok_or(UsageError::HandshakeIncomplete)?;
        Ok((self.hs.into_connection(now)?, response))
    }
}

/// The server's handshake: read until the request is complete, let the hook
/// decide, then give the connection (with the `101` queued in it) or the
/// rejection to write.
#[derive(Debug)]
pub(crate) struct ServerDrive<F> {
    hs: ServerHandshake,
    /// Taken when the request is complete.
    hook: Option<F>,
    /// The connection, once the hook accepted.
    accepted: Option<Connection>,
    eof: bool,
}

impl<F> ServerDrive<F>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    /// A handshake whose request `hook` accepts or rejects.
    pub(crate) fn new(config: &Config, hook: F) -> Self {
        Self { hs: ServerHandshake::new(config), hook: Some(hook), accepted: None, eof: false }
    }

    /// Once the request is complete, what the hook decides.
    fn answer(&mut self, request: &UpgradeRequest, now: Instant) -> Step {
        let Some(hook) = self.hook.take() else {
            return Step::Refused(Error::Usage(UsageError::HandshakeAnswered));
        };
        match hook(request) {
            Ok(accept) => match self.hs.accept(&accept, now) {
                Ok(conn) => {
                    self.accepted = Some(conn);
                    Step::Done
                }
                Err(err) => {
                    // The hook chose something the client did not offer: our bug, not theirs.
                    if let Ok(reject) = Reject::new(500) {
                        self.hs.reject(&reject);
                    }
                    Step::Refused(Error::Usage(err))
                }
            },
            Err(reject) => {
                self.hs.reject(&reject);
                Step::Refused(Error::Refused(reject.status()))
            }
        }
    }
}

impl<F> HandshakeDrive for ServerDrive<F>
where
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    type Done = Connection;

    fn poll(&mut self, now: Instant) -> Result<Step, Error> {
        if self.eof {
            return Err(eof_during_handshake());
        }
        match self.hs.poll_request() {
            Ok(Status::Partial) => Ok(Step::Read),
            Ok(Status::Complete(request)) => Ok(self.answer(&request, now)),
            Err(err) => {
                self.hs.reject(&Reject::from_error(&err));
                Ok(Step::Refused(Error::Handshake(err)))
            }
        }
    }

    fn transmit(&self) -> &[u8] {
        self.hs.poll_transmit()
    }

    fn advance_transmit(&mut self, written: usize) {
        self.hs.advance_transmit(written);
    }

    fn recv_buffer(&mut self) -> &mut BytesMut {
        self.hs.recv_buffer()
    }

    fn received(&mut self, n: usize) {
        self.eof |= n == 0;
    }

    fn finish(self, _now: Instant) -> Result<Connection, Error> {
        Ok(self.accepted.ok_or(UsageError::HandshakeIncomplete)?)
    }
}

fn eof_during_handshake() -> Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection during the handshake").into()
}
