//! rfc6455, through its sans-IO [`Connection`] and handshake types.
//!
//! There is no transport: the benchmark hands bytes in with
//! `Connection::handle_read` and takes them out of `poll_transmit`, which is
//! exactly what the blocking and tokio adapters do around a socket.

use std::time::Instant;

use rfc6455::handshake::{Accept, ServerHandshake};
use rfc6455::{Config, Connection, Event, Message, Role, Status};

use crate::{Handshaker, Receiver, Sender, Sink, MAX_FRAME, MAX_MESSAGE};

/// The configuration used everywhere: defaults (which already allow 16 MiB
/// frames and 64 MiB messages), limits spelled out, permessage-deflate off so
/// that the handshake declines the browser's offer as the peers do.
pub fn config() -> Config {
    let mut config = Config::default();
    config.max_frame_size = MAX_FRAME;
    config.max_message_size = MAX_MESSAGE;
    config.deflate = None;
    config
}

/// Receive path: `handle_read` copies the bytes into the connection's
/// receive buffer (the copy a socket read into that buffer would make; the
/// zero-copy `recv_buffer` + `handle_received` variant only pays off when
/// reading from a real socket), then `poll_event` decodes, unmasks,
/// validates UTF-8 and yields each message, whose `Utf8Bytes` borrows the
/// received frame (no copy for single-frame messages).
pub struct Rfc6455Receiver {
    conn: Connection,
    wire: Vec<u8>,
    chunk: usize,
    now: Instant,
}

impl Rfc6455Receiver {
    /// `wire` is fed `chunk` bytes per `handle_read` (all at once for `usize::MAX`).
    pub fn new(wire: Vec<u8>, chunk: usize) -> Self {
        let now = Instant::now();
        Self { conn: Connection::server(&config(), now), wire, chunk: chunk.max(1), now }
    }
}

impl Receiver for Rfc6455Receiver {
    fn receive_pass<F: FnMut(&[u8])>(&mut self, messages: usize, mut on_text: F) {
        let mut received = 0;
        for piece in self.wire.chunks(self.chunk) {
            self.conn.handle_read(piece, self.now);
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(Message::Text(text)) => {
                        on_text(text.as_str().as_bytes());
                        received += 1;
                    }
                    other => panic!("rfc6455: unexpected {other:?}"),
                }
            }
        }
        assert_eq!(received, messages, "rfc6455: one pass must hold exactly the expected messages");
    }
}

/// Send path, as the tokio adapter does over a TCP socket (a stream that
/// writes vectored): `send` queues each `Message` (a server queues payloads
/// of 4 KiB and more without copying them, with `set_vectored_transmit`;
/// a client masks them a 256 KiB piece at a time as they are written), then `poll_transmit_vectored` +
/// `advance_transmit` write the queue to the sink, one vectored write per
/// batch of up to 64 slices (the sink copies each slice, as `writev` would).
pub struct Rfc6455Sender {
    conn: Connection,
    sink: Sink,
}

impl Rfc6455Sender {
    pub fn new(role: Role) -> Self {
        let mut conn = match role {
            Role::Client => Connection::client(&config(), Instant::now(), [7; 32]),
            Role::Server => Connection::server(&config(), Instant::now()),
        };
        conn.set_vectored_transmit(true);
        Self { conn, sink: Sink::default() }
    }
}

impl Sender for Rfc6455Sender {
    fn send_batch(&mut self, payload: &bytes::Bytes, count: usize) {
        let message = Message::Binary(payload.clone());
        for _ in 0..count {
            self.conn.send(&message).expect("rfc6455: send");
        }
        loop {
            let mut slices = [std::io::IoSlice::new(&[]); 64];
            let filled = self.conn.poll_transmit_vectored(&mut slices);
            if filled == 0 {
                break;
            }
            let mut written = 0;
            for slice in &slices[..filled] {
                self.sink.write(slice);
                written += slice.len();
            }
            self.conn.advance_transmit(written);
        }
    }

    fn into_output(self) -> Vec<u8> {
        self.sink.into_bytes()
    }
}

/// Handshake: `ServerHandshake::handle_read` + `poll_request` parse and
/// validate the request (including the syntax of the extension offer),
/// `accept` declines permessage-deflate (off in the config), writes the `101`
/// response and returns the open `Connection`; the response is then taken
/// from its `poll_transmit`. This is the only public path to an accepted
/// connection, so building the `Connection` is part of the measurement.
pub struct Rfc6455Handshaker {
    config: Config,
    accept: Accept,
    now: Instant,
}

impl Default for Rfc6455Handshaker {
    fn default() -> Self {
        Self { config: config(), accept: Accept::new(), now: Instant::now() }
    }
}

impl Handshaker for Rfc6455Handshaker {
    fn handshake(&mut self, request: &[u8], out: &mut Vec<u8>) {
        let mut handshake = ServerHandshake::new(&self.config);
        handshake.handle_read(request);
        let Ok(Status::Complete(upgrade)) = handshake.poll_request() else {
            panic!("rfc6455: the request must parse");
        };
        std::hint::black_box(upgrade.path());
        let mut conn = handshake.accept(&self.accept, self.now).expect("rfc6455: accept");
        out.clear();
        let response = conn.poll_transmit();
        out.extend_from_slice(response);
        let written = response.len();
        conn.advance_transmit(written);
    }
}

/// rfc6455's public masking function (`frame::apply_mask`, offset 0).
#[inline]
pub fn mask(buf: &mut [u8], key: [u8; 4]) {
    rfc6455::frame::apply_mask(buf, rfc6455::frame::MaskKey(key), 0);
}
