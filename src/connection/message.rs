//! Reassembly of incoming messages from data frames, with the message-level
//! rules of RFC 6455 §5.4 and incremental UTF-8 validation (§8.1).

use bytes::BytesMut;

use crate::frame::{DataKind, Frame, FrameHeader, OpCode};
use crate::utf8::Utf8Validator;
use crate::{Message, ProtocolError, Utf8Bytes};

/// Tracks the incoming message in progress.
///
/// The connection calls [`on_header`](Self::on_header) for every frame header,
/// [`on_payload`](Self::on_payload) for payload bytes as they are unmasked, and
/// [`on_data_frame`](Self::on_data_frame) when a data frame completes. A
/// single-frame message is handed out as the frame's own `Bytes` (no copy);
/// fragments are copied into one buffer whose size is checked against
/// `max_message_size` at each header, before the payload is buffered.
#[derive(Debug)]
pub(crate) struct MessageAssembler {
    max_message_size: usize,
    /// Kind of the message in progress, if any.
    current: Option<DataKind>,
    /// Payload of the finished fragments of the message in progress.
    fragments: BytesMut,
    /// Whether the frame being received is part of a text message.
    validating: bool,
    utf8: Utf8Validator,
}

impl MessageAssembler {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Self {
            max_message_size,
            current: None,
            fragments: BytesMut::new(),
            validating: false,
            utf8: Utf8Validator::default(),
        }
    }

    /// Applies the fragmentation rules and the message size limit to a new frame header.
    pub(crate) fn on_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let kind = match (header.opcode, self.current) {
            (op, _) if op.is_control() => {
                self.validating = false;
                return Ok(());
            }
            (OpCode::Continuation, Some(kind)) => kind,
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (OpCode::Text, None) => DataKind::Text,
            (_, None) => DataKind::Binary,
        };
        let total = self.fragments.len() as u64 + header.payload_len;
        if total > self.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge { len: total, limit: self.max_message_size });
        }
        self.current = Some(kind);
        self.validating = kind == DataKind::Text;
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
        Ok(Some(match kind {
            DataKind::Binary => Message::Binary(payload),
            DataKind::Text => {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(Utf8Bytes::from_validated(payload))
            }
        }))
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
        self.fragments = BytesMut::new();
        self.utf8 = Utf8Validator::default();
    }
}
