//! Reassembly of incoming messages from data frames, with the message-level
//! rules of RFC 6455 §5.4, incremental UTF-8 validation (§8.1) and, when
//! negotiated, permessage-deflate decompression (RFC 7692 §6).

use bytes::{Bytes, BytesMut};

use super::{Event, MessagePart};
use crate::budget::Charge;
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
    /// Messages that begin from now on are handed out in parts.
    streaming: bool,
    /// The message in progress is handed out in parts.
    streamed: bool,
    /// The frame being received is a data frame (not a control frame
    /// between fragments).
    data_frame: bool,
    /// Bytes of the streamed message handed out so far.
    streamed_len: u64,
    /// No part of the streamed message was handed out yet.
    first_part: bool,
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
            streaming: false,
            streamed: false,
            data_frame: false,
            streamed_len: 0,
            first_part: false,
        }
    }

    /// Changes the message size limit for what is received from now on.
    pub(crate) fn set_max_message_size(&mut self, max_message_size: usize) {
        self.max_message_size = max_message_size;
    }

    /// Hands out the messages that begin from now on in parts
    /// ([`MessagePart`]) or whole.
    pub(crate) fn set_streaming(&mut self, on: bool) {
        self.streaming = on;
    }

    /// The frame being received belongs to a message handed out in parts:
    /// its payload may be taken as it arrives.
    pub(crate) fn streams_frame(&self) -> bool {
        self.streamed && self.data_frame
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
                self.data_frame = false;
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
            self.streamed = self.streaming;
            self.streamed_len = 0;
            self.first_part = true;
        }
        self.data_frame = true;
        if !self.compressed {
            let held = if self.streamed { self.streamed_len } else { self.fragments.len() as u64 };
            let total = held + header.payload_len;
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

    /// Takes payload bytes of a streamed message's frame before the frame
    /// is complete (see [`streams_frame`](Self::streams_frame)): the next
    /// part, unless there is nothing to hand out yet.
    pub(crate) fn on_streamed_piece(
        &mut self,
        data: Bytes,
        charge: &mut Charge,
        others_held: usize,
    ) -> Result<Option<MessagePart>, ProtocolError> {
        let Some(kind) = self.current else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        let data = self.streamed_data(kind, data, false, charge, others_held)?;
        Ok(self.part(kind, data, false))
    }

    /// Takes a completed data frame; returns the message when it was the
    /// last fragment, or the next part of a streamed message.
    /// (`charge` is asked before a buffer grows, `others_held` being what the
    /// connection's other buffers hold.)
    pub(crate) fn on_data_frame(
        &mut self,
        frame: Frame,
        charge: &mut Charge,
        others_held: usize,
    ) -> Result<Option<Event>, ProtocolError> {
        let Some(kind) = self.current else {
            // `on_header` admitted this frame, so a message is in progress.
            return Err(ProtocolError::UnexpectedContinuation);
        };
        self.data_frame = false;
        if self.streamed {
            let fin = frame.header.fin;
            let data = self.streamed_data(kind, frame.payload, fin, charge, others_held)?;
            if fin {
                if kind == DataKind::Text {
                    self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                self.current = None;
                self.validating = false;
                self.compressed = false;
                self.streamed = false;
            }
            return Ok(self.part(kind, data, fin).map(Event::Part));
        }
        self.whole_message_frame(kind, frame, charge, others_held).map(|message| message.map(Event::Message))
    }

    /// Bytes held by the buffers of a message being received.
    pub(crate) fn held(&self) -> usize {
        self.fragments.capacity() + self.inflated.capacity()
    }

    /// A streamed message's bytes as handed out: inflated (and then checked
    /// as UTF-8) when compressed, else as they are (checked as they were
    /// unmasked); counted against the message limit.
    fn streamed_data(
        &mut self,
        kind: DataKind,
        data: Bytes,
        fin: bool,
        charge: &mut Charge,
        others_held: usize,
    ) -> Result<Bytes, ProtocolError> {
        let limit = self.max_message_size;
        let data = if self.compressed {
            let Some(inflater) = &mut self.inflater else {
                return Err(ProtocolError::ReservedBits(FrameHeader::RSV1));
            };
            let room = usize::try_from((limit as u64).saturating_sub(self.streamed_len)).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            // Charged while it is inflated; the application's once handed out.
            let others = others_held + self.fragments.capacity() + self.inflated.capacity();
            inflate_charged(inflater, &data, fin, &mut out, room, charge, others).map_err(|err| {
                err.unwrap_or(ProtocolError::MessageTooLarge { len: self.streamed_len + out.len() as u64, limit })
            })?;
            if kind == DataKind::Text {
                self.utf8.feed(&out).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Bytes::from(out)
        } else {
            data
        };
        self.streamed_len += data.len() as u64;
        Ok(data)
    }

    /// The next part of the streamed message, if there is anything to say:
    /// some bytes, or its end.
    fn part(&mut self, kind: DataKind, data: Bytes, last: bool) -> Option<MessagePart> {
        if data.is_empty() && !last {
            return None;
        }
        let first = std::mem::take(&mut self.first_part);
        Some(MessagePart { kind, data, first, last })
    }

    /// A data frame of a message handed out whole.
    fn whole_message_frame(
        &mut self,
        kind: DataKind,
        frame: Frame,
        charge: &mut Charge,
        others_held: usize,
    ) -> Result<Option<Message>, ProtocolError> {
        if self.compressed {
            return self.on_compressed_frame(kind, frame, charge, others_held);
        }
        if !frame.header.fin {
            self.append(&frame.payload, charge, others_held)?;
            return Ok(None);
        }
        self.current = None;
        self.validating = false;
        let payload = if self.fragments.is_empty() {
            frame.payload
        } else {
            self.append(&frame.payload, charge, others_held)?;
            self.fragments.split().freeze()
        };
        self.finish(kind, payload).map(Some)
    }

    /// Inflates a compressed frame, validating text as it comes out.
    fn on_compressed_frame(
        &mut self,
        kind: DataKind,
        frame: Frame,
        charge: &mut Charge,
        others_held: usize,
    ) -> Result<Option<Message>, ProtocolError> {
        let Some(inflater) = &mut self.inflater else {
            return Err(ProtocolError::ReservedBits(FrameHeader::RSV1));
        };
        let limit = self.max_message_size;
        let before = self.inflated.len();
        let others = others_held + self.fragments.capacity();
        let fin = frame.header.fin;
        inflate_charged(inflater, &frame.payload, fin, &mut self.inflated, limit, charge, others)
            .map_err(|err| err.unwrap_or(ProtocolError::MessageTooLarge { len: self.inflated.len() as u64, limit }))?;
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
    fn append(&mut self, payload: &[u8], charge: &mut Charge, others_held: usize) -> Result<(), ProtocolError> {
        let others = others_held + self.inflated.capacity();
        let reserved = super::buffer::reserve(&mut self.fragments, payload.len(), self.max_message_size, |capacity| {
            charge.cover(others.saturating_add(capacity))
        });
        reserved.map_err(|capacity| charge.refused(others.saturating_add(capacity)))?;
        self.fragments.extend_from_slice(payload);
        Ok(())
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
        self.streamed = false;
        self.data_frame = false;
        self.streamed_len = 0;
    }
}

/// Inflates `input` into `out` (ending the message when `fin`), letting
/// `out` grow to at most `room` bytes and only as far as `charge` covers it
/// beside the `others` bytes the connection holds elsewhere. `Err(None)`:
/// past `room` (the caller says how large the message got).
fn inflate_charged(
    inflater: &mut Inflater,
    input: &[u8],
    fin: bool,
    out: &mut Vec<u8>,
    room: usize,
    charge: &mut Charge,
    others: usize,
) -> Result<(), Option<ProtocolError>> {
    let mut asked = 0;
    let mut allow = |capacity: usize| {
        asked = others.saturating_add(capacity);
        charge.cover(asked)
    };
    let mut result = inflater.inflate_granted(input, out, room, &mut allow);
    if fin && result.is_ok() {
        result = inflater.finish_granted(out, room, &mut allow);
    }
    result.map_err(|err| match err {
        InflateError::TooLarge => None,
        InflateError::Corrupt => Some(ProtocolError::InvalidCompressedData),
        InflateError::OverBudget => Some(charge.refused(asked)),
    })
}
