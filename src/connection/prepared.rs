//! [`PreparedMessage`]: a message framed once, to be queued on many server
//! connections by reference (fan-out: chat rooms, live feeds).

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

use super::commands::Queued;
use super::{Connection, Message, Role};
use crate::extensions::{Deflater, DeflaterKey};
use crate::frame::{encode_frame, FrameHeader, OpCode};
use crate::UsageError;

/// Prepared frames at least this long are queued by reference, shorter ones
/// copied. Lower than for a message's payload (4 KiB), since here the
/// frame's bytes are shared by every subscriber: measured with 1,000
/// subscribers of 1 KiB messages (`benches/compare.sh` broadcast rows),
/// sharing took the server's peak memory from 26.7 to 10.2 MB and delivered
/// 1.40-1.53 M messages/s instead of 0.94-1.16 M.
const SHARE_MIN: usize = 512;

/// A message encoded once as a server's frame, for sending the same message
/// to many connections: each [`Connection::send_prepared`] queues the same
/// bytes (by reference from 512 bytes up with vectored transmit on, else
/// one copy of the frame; never a new encoding). Cheap to clone: one
/// reference count.
///
/// ```
/// use std::time::Instant;
/// use rfc6455::{Config, Connection, PreparedMessage};
///
/// let update = PreparedMessage::new("price 42.17");
/// let mut subscribers: Vec<Connection> =
///     (0..3).map(|_| Connection::server(&Config::default(), Instant::now())).collect();
/// for conn in &mut subscribers {
///     conn.send_prepared(&update)?; // backpressure still applies per connection
///     assert_eq!(conn.poll_transmit(), update.frame().as_ref());
/// }
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
///
/// What cannot be shared is still done per connection, by the same rules as
/// [`Connection::send`]: a client masks each frame with its own key (RFC
/// 6455 §5.3). With permessage-deflate, a message over the compression
/// threshold is compressed once for every connection that negotiated no
/// context takeover for its sending direction (`server_no_context_takeover`
/// for a server: the compressed bytes then depend only on the message, the
/// window size and the level, so connections that share those share the
/// compressed frame), and by each connection itself with context takeover
/// (the compressed bytes depend on what that connection sent before).
#[derive(Debug, Clone)]
pub struct PreparedMessage(Arc<Prepared>);

/// What every clone of a [`PreparedMessage`] shares (one reference count
/// per clone, however many buffers).
#[derive(Debug)]
struct Prepared {
    opcode: OpCode,
    payload: Bytes,
    /// The unmasked, uncompressed frame: header and payload.
    frame: Bytes,
    /// Compressed frames, one per compressor key seen so far (a server has
    /// one or a few): filled by the first connection with that key.
    compressed: Mutex<Vec<(DeflaterKey, Bytes)>>,
}

impl PartialEq for PreparedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.0.opcode == other.0.opcode && self.0.payload == other.0.payload
    }
}

impl Eq for PreparedMessage {}

impl PreparedMessage {
    /// Encodes `message` (text or binary, as for
    /// [`Connection::send`]) as one final, unmasked frame. A received
    /// [`Message`] can be passed as it is: its payload is shared, not copied
    /// (the frame holds one copy, made here once for all connections).
    pub fn new(message: impl Into<Message>) -> Self {
        let (opcode, payload) = match message.into() {
            Message::Text(text) => (OpCode::Text, text.into_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
        };
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, opcode, true, 0, None, &payload);
        Self(Arc::new(Prepared { opcode, payload, frame: frame.freeze(), compressed: Mutex::default() }))
    }

    /// The encoded frame a server connection without compression queues.
    pub fn frame(&self) -> &Bytes {
        &self.0.frame
    }

    /// The message's payload length.
    pub fn len(&self) -> usize {
        self.0.payload.len()
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.0.payload.is_empty()
    }

    /// The compressed frame for compressors with `key`, compressing the
    /// message the first time a connection asks for it.
    fn compressed_frame(&self, key: DeflaterKey) -> Bytes {
        // A poisoned lock only means another thread panicked mid-push: the
        // list is still valid.
        let mut frames = self.0.compressed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, frame)) = frames.iter().find(|(k, _)| *k == key) {
            return frame.clone();
        }
        let mut compressed = Vec::new();
        Deflater::compress_alone(key, &self.0.payload, &mut compressed);
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, self.0.opcode, true, FrameHeader::RSV1, None, &compressed);
        let frame = frame.freeze();
        frames.push((key, frame.clone()));
        frame
    }
}

impl<T: Into<Message>> From<T> for PreparedMessage {
    fn from(message: T) -> Self {
        Self::new(message)
    }
}

impl Connection {
    /// Queues a [`PreparedMessage`]: on a server connection, an encoded frame
    /// it shares with every other connection it goes to (by reference from
    /// 512 bytes up with [`set_vectored_transmit`](Self::set_vectored_transmit)
    /// on, else one copy), compressed once per compressor setting when
    /// permessage-deflate without context takeover applies; otherwise (a
    /// client, or deflate with context takeover) as [`send`](Self::send)
    /// would. Errors as for [`send_text`](Self::send_text),
    /// [`UsageError::WriteBufferFull`] included: backpressure applies per
    /// connection.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), UsageError> {
        let compressor = self.deflater.as_ref().filter(|d| prepared.0.payload.len() >= d.threshold());
        let shared_key = compressor.map(Deflater::shared_output_key);
        if self.role == Role::Client || shared_key.is_some_and(|key| key.is_none()) {
            let shared = self.shares(prepared.0.payload.len()).then_some(&prepared.0.payload);
            return self.send_message(prepared.0.opcode, &prepared.0.payload, shared, false);
        }
        let frame = match shared_key.flatten() {
            Some(key) => prepared.compressed_frame(key),
            None => prepared.0.frame.clone(),
        };
        let shared = self.vectored_transmit && frame.len() >= SHARE_MIN;
        // A shared frame is the prepared message's memory; a copied one the queue's.
        self.begin_message(Queued { copied: if shared { 0 } else { frame.len() }, ..Queued::header_only() })?;
        if shared {
            self.send.push_shared(frame, false);
        } else {
            self.send.tail().extend_from_slice(&frame);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::time::Instant;

    use super::*;
    use crate::Config;

    fn server(vectored: bool) -> Connection {
        let mut conn = Connection::server(&Config::default(), Instant::now());
        conn.set_vectored_transmit(vectored);
        conn
    }

    /// Everything queued, as one buffer.
    fn queued(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        while conn.buffered_amount() > 0 {
            let n = {
                let chunk = conn.poll_transmit();
                out.extend_from_slice(chunk);
                chunk.len()
            };
            conn.advance_transmit(n);
        }
        out
    }

    #[test]
    fn a_server_queues_exactly_what_send_would_for_every_length_class() {
        for len in [0, 1, 20, 125, 126, 4095, 4096, 65535, 65536, 100_000] {
            for vectored in [false, true] {
                for message in [Message::binary(vec![7u8; len]), Message::text("é".repeat(len / 2))] {
                    let (mut sent, mut prepared) = (server(vectored), server(vectored));
                    sent.send(&message).unwrap();
                    prepared.send_prepared(&PreparedMessage::new(message.clone())).unwrap();
                    assert_eq!(queued(&mut prepared), queued(&mut sent), "len {len}, vectored {vectored}");
                }
            }
        }
    }

    #[test]
    fn a_large_frame_is_shared_by_every_connection_not_copied() {
        let prepared = PreparedMessage::new(vec![1u8; 64 << 10]);
        for _ in 0..10 {
            let mut conn = server(true);
            conn.send_prepared(&prepared).unwrap();
            let mut slices = [IoSlice::new(&[]); 4];
            let filled = conn.poll_transmit_vectored(&mut slices);
            assert_eq!(filled, 1);
            assert_eq!(slices[0].as_ptr(), prepared.frame().as_ptr(), "the connection holds the prepared bytes");
        }
    }

    #[test]
    fn a_client_masks_with_its_own_key_and_backpressure_still_applies() {
        let prepared = PreparedMessage::new("to the server");
        let mut client = Connection::client(&Config::default(), Instant::now(), [3; 32]);
        client.send_prepared(&prepared).unwrap();
        let frame = queued(&mut client);
        assert_ne!(frame, prepared.frame().as_ref(), "masked, so not the server's frame");
        assert_eq!(frame.len(), prepared.frame().len() + 4, "the same frame plus a masking key");

        let config = Config { write_buffer_limit: 1 << 10, ..Config::default() };
        let mut slow = Connection::server(&config, Instant::now());
        let big = PreparedMessage::new(vec![0u8; 2 << 10]);
        slow.send_prepared(&big).unwrap();
        assert!(matches!(slow.send_prepared(&big), Err(UsageError::WriteBufferFull { .. })));
    }
}
