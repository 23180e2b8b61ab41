//! Reassembly of incoming messages from data frames, with the message-level
//! rules of RFC 6455 §5.4, incremental UTF-8 validation (§8.1) and, when
//! negotiated, permessage-deflate decompression (RFC 7692 §6).

use bytes::{Bytes, BytesMut};

use crate::extensions::{InflateError, Inflater};
use crate::frame::{DataKind, Frame, FrameHeader, OpCode};
use crate::utf8::Utf8Validator;
use crate::{Message, ProtocolError, Utf8Bytes};

/// Tracks the incoming message in progress.
///
/// The connection calls [`on_header`](Self::on_header) for every frame header,
/// [`on_payload`](Self::on_payload) for payload bytes as they are unmasked, and
/// [`on_data_frame`](Self::on_data_frame) when a data frame completes. A
/// single-frame uncompressed message is handed out as the frame's own `Bytes`
/// (no copy); fragments are copied into one buffer whose size is checked
/// against `max_message_size` at each header, before the payload is
/// buffered. A compressed message is inflated frame by frame into a buffer
/// that may never grow past `max_message_size`.
#[derive(Debug)]
pub(crate) struct MessageAssembler {
    max_message_size: usize,
    /// Kind of the message in progress, if any.
    current: Option<DataKind>,
    /// Payload of the finished fragments of the uncompressed message in progress.
    fragments: BytesMut,
    /// Whether the frame being received is part of an uncompressed text
    /// message (compressed text is validated after inflating).
    validating: bool,
    utf8: Utf8Validator,
    /// The permessage-deflate decompressor, when negotiated.
    inflater: Option<Inflater>,
    /// The message in progress is compressed (RSV1 on its first frame).
    compressed: bool,
    /// Inflated payload of the compressed message in progress.
    inflated: Vec<u8>,
}

impl MessageAssembler {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Self {
            max_message_size,
            current: None,
            fragments: BytesMut::new(),
            validating: false,
            utf8: Utf8Validator::default(),
            inflater: None,
            compressed: false,
            inflated: Vec::new(),
        }
    }

    /// Enables decompression of messages whose first frame has RSV1 set.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(inflater);
    }

    /// Applies the fragmentation rules and the message size limit to a new frame header.
    pub(crate) fn on_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // The decoder lets RSV1 through only when permessage-deflate was negotiated.
        let rsv1 = header.rsv & FrameHeader::RSV1 != 0;
        let kind = match (header.opcode, self.current) {
            (op, _) if op.is_control() => {
                if rsv1 {
                    return Err(ProtocolError::CompressedControlFrame);
                }
                self.validating = false;
                return Ok(());
            }
            (OpCode::Continuation, _) if rsv1 => return Err(ProtocolError::CompressedContinuation),
            (OpCode::Continuation, Some(kind)) => kind,
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (OpCode::Text, None) => DataKind::Text,
            (_, None) => DataKind::Binary,
        };
        if header.opcode != OpCode::Continuation {
            self.compressed = rsv1;
        }
        if !self.compressed {
            let total = self.fragments.len() as u64 + header.payload_len;
            if total > self.max_message_size as u64 {
                return Err(ProtocolError::MessageTooLarge { len: total, limit: self.max_message_size });
            }
        }
        self.current = Some(kind);
        self.validating = kind == DataKind::Text && !self.compressed;
        Ok(())
    }

    /// Validates newly unmasked payload bytes of the current frame.
    pub(crate) fn on_payload(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        if self.validating {
            self.utf8.feed(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Takes a completed data frame; returns the message when it was the last fragment.
    pub(crate) fn on_data_frame(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let Some(kind) = self.current else {
            // `on_header` admitted this frame, so a message is in progress.
            return Err(ProtocolError::UnexpectedContinuation);
        };
        if self.compressed {
            return self.on_compressed_frame(kind, frame);
        }
        if !frame.header.fin {
            self.append(&frame.payload);
            return Ok(None);
        }
        self.current = None;
        self.validating = false;
        let payload = if self.fragments.is_empty() {
            frame.payload
        } else {
            self.append(&frame.payload);
            self.fragments.split().freeze()
        };
        self.finish(kind, payload).map(Some)
    }

    /// Inflates a compressed frame, validating text as it comes out.
    fn on_compressed_frame(&mut self, kind: DataKind, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        let Some(inflater) = &mut self.inflater else {
            return Err(ProtocolError::ReservedBits(FrameHeader::RSV1));
        };
        let limit = self.max_message_size;
        let before = self.inflated.len();
        let mut result = inflater.inflate(&frame.payload, &mut self.inflated, limit);
        if frame.header.fin && result.is_ok() {
            result = inflater.finish(&mut self.inflated, limit);
        }
        result.map_err(|err| match err {
            InflateError::TooLarge => ProtocolError::MessageTooLarge { len: self.inflated.len() as u64, limit },
            InflateError::Corrupt => ProtocolError::InvalidCompressedData,
        })?;
        if kind == DataKind::Text {
            let fresh = self.inflated.get(before..).unwrap_or_default();
            self.utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !frame.header.fin {
            return Ok(None);
        }
        self.current = None;
        self.compressed = false;
        let payload = Bytes::from(std::mem::take(&mut self.inflated));
        self.finish(kind, payload).map(Some)
    }

    fn finish(&mut self, kind: DataKind, payload: Bytes) -> Result<Message, ProtocolError> {
        Ok(match kind {
            DataKind::Binary => Message::Binary(payload),
            DataKind::Text => {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(Utf8Bytes::from_validated(payload))
            }
        })
    }

    /// Appends a fragment; the size was checked against the limit at its header.
    fn append(&mut self, payload: &[u8]) {
        super::buffer::reserve(&mut self.fragments, payload.len(), self.max_message_size);
        self.fragments.extend_from_slice(payload);
    }

    /// Drops any message in progress and its memory.
    pub(crate) fn clear(&mut self) {
        self.current = None;
        self.validating = false;
        self.compressed = false;
        self.fragments = BytesMut::new();
        self.inflated = Vec::new();
        self.inflater = None;
        self.utf8 = Utf8Validator::default();
    }
}
