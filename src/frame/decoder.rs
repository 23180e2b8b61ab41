//! Incremental frame decoder.
//!
//! The decoder reads from the front of a `BytesMut` that the caller keeps
//! appending to. It never looks at a byte twice: the header is decoded once
//! (a partial header costs at most 14 bytes of re-reading), payload bytes are
//! unmasked in place as they arrive with the mask offset carried across
//! chunks, and a finished payload is split off the buffer as `Bytes` without
//! copying. The declared length is checked against the limit before any
//! payload is buffered.
//!
//! [`FrameDecoder::step`] reports progress in small steps (header, newly
//! unmasked payload bytes, finished frame) so that the connection can check
//! message-level rules at the header and validate UTF-8 as bytes arrive,
//! before the frame is complete.

use bytes::{Buf, BytesMut};

use super::{Frame, FrameHeader};
use crate::{ProtocolError, Role, Status};

/// One step of decoding progress, returned by [`FrameDecoder::step`].
/// More kinds of step may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// The buffer holds no further complete step: append more bytes.
    NeedMore,
    /// A new frame's header was decoded and removed from the buffer; its
    /// payload follows.
    Header(FrameHeader),
    /// Payload bytes `buf[start..end]` of the current frame were just
    /// unmasked. They stay in the buffer until the frame completes.
    Payload {
        /// Start of the newly unmasked bytes, as an index into the buffer.
        start: usize,
        /// End (exclusive) of the newly unmasked bytes.
        end: usize,
    },
    /// The current frame is complete; its payload was split off the buffer.
    Frame(Frame),
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    /// `len` payload bytes of the frame are left at the front of the buffer,
    /// the first `unmasked` of them unmasked; `taken` were already handed
    /// out by [`FrameDecoder::take_payload`] (they set the mask's phase).
    Payload {
        header: FrameHeader,
        len: usize,
        unmasked: usize,
        taken: usize,
    },
}

/// An incremental, limit-aware frame decoder for one direction of a connection.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    accept_unmasked: bool,
    max_frame_size: usize,
    allowed_rsv: u8,
    state: State,
}

impl FrameDecoder {
    /// A decoder for frames received by `role`: a server requires masked
    /// frames, a client requires unmasked ones. Frames longer than
    /// `max_frame_size` are rejected when their header arrives.
    pub fn new(role: Role, max_frame_size: usize) -> Self {
        Self { role, accept_unmasked: false, max_frame_size, allowed_rsv: 0, state: State::Header }
    }

    /// Changes the frame size limit for frames whose header has not arrived
    /// yet (the frame being received was checked at its header).
    pub fn set_max_frame_size(&mut self, max_frame_size: usize) {
        self.max_frame_size = max_frame_size;
    }

    /// Lets a server accept unmasked frames (RFC 6455 forbids them; some
    /// tunnels over already-encrypted links use them). Has no effect on a client.
    pub fn set_accept_unmasked(&mut self, accept: bool) {
        self.accept_unmasked = accept;
    }

    /// The RSV bits (see [`FrameHeader::RSV1`]) that a negotiated extension
    /// defines; frames with any other RSV bit set are rejected.
    pub fn set_allowed_rsv(&mut self, rsv: u8) {
        self.allowed_rsv = rsv & 0x70;
    }

    /// While a frame's payload is being received: how many bytes, from the
    /// start of the buffer, the rest of that payload occupies.
    pub fn frame_end(&self) -> Option<usize> {
        match self.state {
            State::Header => None,
            State::Payload { len, .. } => Some(len),
        }
    }

    /// Removes the current frame's payload bytes unmasked so far (those of
    /// the last [`Progress::Payload`] steps) from the front of `buf` and
    /// returns them, so a large frame can be handed on in pieces without
    /// being held whole. The frame's [`Progress::Frame`] then carries only
    /// the bytes after the last piece taken (its header still has the whole
    /// frame's length). Empty between frames.
    pub fn take_payload(&mut self, buf: &mut BytesMut) -> bytes::Bytes {
        match self.state {
            State::Payload { header, len, unmasked, taken } if unmasked > 0 => {
                self.state =
                    State::Payload { header, len: len - unmasked, unmasked: 0, taken: taken.wrapping_add(unmasked) };
                buf.split_to(unmasked).freeze()
            }
            _ => bytes::Bytes::new(),
        }
    }

    /// True while a frame has been started but not finished.
    pub fn is_mid_frame(&self) -> bool {
        matches!(self.state, State::Payload { .. })
    }

    /// Advances decoding by one step over the bytes at the front of `buf`.
    ///
    /// Call it in a loop until it returns [`Progress::NeedMore`], then append
    /// more bytes to `buf` and call it again. The decoder consumes the header
    /// bytes and, when a frame completes, its payload; it never touches bytes
    /// past the current frame. After an `Err` the stream is unusable.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Progress, ProtocolError> {
        match self.state {
            State::Header => {
                let (header, header_len) = match FrameHeader::decode(buf)? {
                    Status::Partial => return Ok(Progress::NeedMore),
                    Status::Complete(done) => done,
                };
                self.check(&header)?;
                // `check` bounded the length by `max_frame_size`, a usize.
                let len = usize::try_from(header.payload_len).map_err(|_| ProtocolError::FrameTooLarge {
                    len: header.payload_len,
                    limit: self.max_frame_size,
                })?;
                buf.advance(header_len);
                self.state = State::Payload { header, len, unmasked: 0, taken: 0 };
                Ok(Progress::Header(header))
            }
            State::Payload { header, len, unmasked, taken } => {
                let available = buf.len().min(len);
                if available > unmasked {
                    if let (Some(key), Some(fresh)) = (header.mask, buf.get_mut(unmasked..available)) {
                        super::apply_mask(fresh, key, taken.wrapping_add(unmasked));
                    }
                    self.state = State::Payload { header, len, unmasked: available, taken };
                    return Ok(Progress::Payload { start: unmasked, end: available });
                }
                if available < len {
                    return Ok(Progress::NeedMore);
                }
                self.state = State::Header;
                Ok(Progress::Frame(Frame { header, payload: buf.split_to(len).freeze() }))
            }
        }
    }

    /// Between frames, when `buf` holds a whole frame: decodes it in one go
    /// (the checks, unmasking and split that [`step`](Self::step) makes
    /// over a `Header`, a `Payload` and a `Frame` step). `None` when a frame
    /// is in progress or the next one is not all in `buf` yet: use `step`.
    /// For a caller that would do nothing between those steps (the
    /// connection, for the many small frames that arrive whole).
    pub(crate) fn whole_frame(&mut self, buf: &mut BytesMut) -> Option<Result<Frame, ProtocolError>> {
        if !matches!(self.state, State::Header) {
            return None;
        }
        let (header, header_len) = match FrameHeader::decode(buf) {
            Ok(Status::Complete(done)) => done,
            Ok(Status::Partial) => return None,
            Err(err) => return Some(Err(err)),
        };
        let len = usize::try_from(header.payload_len).ok()?;
        if buf.len().saturating_sub(header_len) < len {
            return None;
        }
        if let Err(err) = self.check(&header) {
            return Some(Err(err));
        }
        buf.advance(header_len);
        let mut payload = buf.split_to(len);
        if let Some(key) = header.mask {
            super::apply_mask(&mut payload, key, 0);
        }
        Some(Ok(Frame { header, payload: payload.freeze() }))
    }

    /// Decodes the next complete frame, if `buf` holds one.
    ///
    /// A convenience over [`step`](Self::step) for callers that only want
    /// whole frames.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use rfc6455::{frame::FrameDecoder, Role};
    /// let mut decoder = FrameDecoder::new(Role::Server, 1 << 20);
    /// // RFC 6455 §5.7: a masked "Hello" from a client, fed in two pieces.
    /// let mut buf = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa][..]);
    /// assert!(decoder.decode(&mut buf)?.is_none());
    /// buf.extend_from_slice(&[0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// let frame = decoder.decode(&mut buf)?.expect("complete");
    /// assert_eq!(&frame.payload[..], b"Hello");
    /// # Ok::<(), rfc6455::ProtocolError>(())
    /// ```
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        loop {
            match self.step(buf)? {
                Progress::NeedMore => return Ok(None),
                Progress::Frame(frame) => return Ok(Some(frame)),
                Progress::Header(_) | Progress::Payload { .. } => {}
            }
        }
    }

    fn check(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let stray_rsv = header.rsv & !self.allowed_rsv;
        if stray_rsv != 0 {
            return Err(ProtocolError::ReservedBits(stray_rsv));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) if !self.accept_unmasked => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge { len: header.payload_len, limit: self.max_frame_size });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{MaskKey, OpCode};

    const MASKED_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    #[test]
    fn decodes_rfc_masked_hello_one_byte_at_a_time() {
        let mut decoder = FrameDecoder::new(Role::Server, 1024);
        let mut buf = BytesMut::new();
        let mut steps = Vec::new();
        for &byte in &MASKED_HELLO {
            buf.extend_from_slice(&[byte]);
            loop {
                match decoder.step(&mut buf).unwrap() {
                    Progress::NeedMore => break,
                    step => steps.push(step),
                }
            }
        }
        // One header, five single-byte payload steps, one frame.
        assert!(matches!(steps.first(), Some(Progress::Header(h)) if h.opcode == OpCode::Text));
        let payload_steps: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Progress::Payload { start, end } => Some((*start, *end)),
                _ => None,
            })
            .collect();
        assert_eq!(payload_steps, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]);
        match steps.last() {
            Some(Progress::Frame(frame)) => {
                assert_eq!(&frame.payload[..], b"Hello");
                assert_eq!(frame.header.mask, Some(MaskKey([0x37, 0xfa, 0x21, 0x3d])));
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
        assert!(!decoder.is_mid_frame());
    }

    #[test]
    fn leaves_following_bytes_untouched() {
        let mut decoder = FrameDecoder::new(Role::Client, 1024);
        let mut buf = BytesMut::from(&[0x81, 0x02, b'h', b'i', 0x89, 0x00, 0xAA][..]);
        let frame = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&frame.payload[..], b"hi");
        let ping = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(ping.header.opcode, OpCode::Ping);
        assert!(ping.payload.is_empty());
        assert_eq!(&buf[..], [0xAA]);
    }

    #[test]
    fn role_rules_for_masking() {
        let mut server = FrameDecoder::new(Role::Server, 1024);
        let mut buf = BytesMut::from(&[0x81, 0x00][..]);
        assert_eq!(server.step(&mut buf), Err(ProtocolError::UnmaskedFrame));

        let mut lenient = FrameDecoder::new(Role::Server, 1024);
        lenient.set_accept_unmasked(true);
        let mut buf = BytesMut::from(&[0x81, 0x00][..]);
        assert!(lenient.decode(&mut buf).unwrap().is_some());

        let mut client = FrameDecoder::new(Role::Client, 1024);
        let mut buf = BytesMut::from(&MASKED_HELLO[..]);
        assert_eq!(client.step(&mut buf), Err(ProtocolError::MaskedFrame));
    }

    #[test]
    fn rsv_bits_need_an_extension() {
        let mut decoder = FrameDecoder::new(Role::Client, 1024);
        let mut buf = BytesMut::from(&[0xC1, 0x00][..]);
        assert_eq!(decoder.step(&mut buf), Err(ProtocolError::ReservedBits(0x40)));

        decoder.set_allowed_rsv(FrameHeader::RSV1);
        let mut buf = BytesMut::from(&[0xC1, 0x00, 0xA1, 0x00][..]);
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(decoder.step(&mut buf), Err(ProtocolError::ReservedBits(0x20)));
    }

    #[test]
    fn frame_limit_is_checked_at_the_header_before_any_payload() {
        let mut decoder = FrameDecoder::new(Role::Client, 100);
        // Exactly at the limit: accepted.
        let mut buf = BytesMut::from(&[0x82, 100][..]);
        assert!(matches!(decoder.step(&mut buf), Ok(Progress::Header(_))));
        // One over: rejected as soon as the 2-byte header is in.
        let mut decoder = FrameDecoder::new(Role::Client, 100);
        let mut buf = BytesMut::from(&[0x82, 101][..]);
        assert_eq!(decoder.step(&mut buf), Err(ProtocolError::FrameTooLarge { len: 101, limit: 100 }));
        // A 2^63-1 length is refused without reserving anything.
        let mut buf = BytesMut::from(&[0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert!(matches!(decoder.step(&mut buf), Err(ProtocolError::FrameTooLarge { .. })));
        assert!(buf.capacity() < 64);
    }

    #[test]
    fn payload_taken_in_pieces_unmasks_with_the_right_phase() {
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut wire = Vec::new();
        crate::frame::encode_frame(&mut wire, OpCode::Binary, true, 0, Some(MaskKey([9, 1, 7, 3])), &payload);
        for piece in [1, 3, 5, 64, 299, 400] {
            let mut decoder = FrameDecoder::new(Role::Server, 1 << 20);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut finished = None;
            for chunk in wire.chunks(piece) {
                buf.extend_from_slice(chunk);
                loop {
                    match decoder.step(&mut buf).unwrap() {
                        Progress::NeedMore => break,
                        Progress::Header(_) => assert!(decoder.take_payload(&mut buf).is_empty()),
                        // Odd piece sizes take every piece; even ones leave all to the frame.
                        Progress::Payload { .. } if piece % 2 == 1 => {
                            out.extend_from_slice(&decoder.take_payload(&mut buf))
                        }
                        Progress::Payload { .. } => {}
                        Progress::Frame(frame) => finished = Some(frame),
                    }
                }
            }
            let frame = finished.expect("the frame completes");
            assert_eq!(frame.header.payload_len, 300, "the header keeps the whole length");
            out.extend_from_slice(&frame.payload);
            assert_eq!(out, payload, "pieces of {piece}");
            assert!(buf.is_empty());
        }
    }
}
