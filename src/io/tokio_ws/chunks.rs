//! A message's payload read from an `AsyncRead` in fixed-size chunks, for
//! [`WebSocketStream::send_from`](super::WebSocketStream::send_from).

use ::tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes per fragment of a message sent from a reader: large enough that
/// frame headers and system calls cost nothing next to the payload, small
/// enough that memory stays bounded by it.
pub(super) const CHUNK: usize = 64 << 10;

/// Reads a payload chunk by chunk; the chunk that meets the reader's end is
/// the last (it may be empty).
#[derive(Debug)]
pub(super) struct ChunkReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes read so far.
    pub(super) total: u64,
}

impl<R: AsyncRead + Unpin> ChunkReader<R> {
    pub(super) fn new(reader: R) -> Self {
        Self { reader, buf: vec![0; CHUNK], total: 0 }
    }

    /// The next chunk (full unless it is the last) and whether it is the last.
    pub(super) async fn next(&mut self) -> std::io::Result<(&[u8], bool)> {
        let mut filled = 0;
        let mut last = false;
        while let Some(spare) = self.buf.get_mut(filled..).filter(|spare| !spare.is_empty()) {
            match self.reader.read(spare).await? {
                0 => {
                    last = true;
                    break;
                }
                n => filled += n,
            }
        }
        self.total += filled as u64;
        Ok((self.buf.get(..filled).unwrap_or_default(), last))
    }
}
