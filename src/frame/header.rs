//! Frame header encoding and strict decoding (RFC 6455 §5.2).

use bytes::BufMut;

use super::{MaskKey, OpCode, MAX_CONTROL_PAYLOAD};
use crate::{ProtocolError, Status};

/// The longest possible header: 2 fixed bytes, 8 bytes of extended length and
/// a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// The RSV1-RSV3 bits, in their wire positions (`RSV1 = 0x40`,
    /// `RSV2 = 0x20`, `RSV3 = 0x10`); zero unless an extension uses them.
    pub rsv: u8,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<MaskKey>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The RSV1 bit (used by permessage-deflate).
    pub const RSV1: u8 = 0x40;
    /// The RSV2 bit.
    pub const RSV2: u8 = 0x20;
    /// The RSV3 bit.
    pub const RSV3: u8 = 0x10;

    /// Decodes a header from the start of `buf`.
    ///
    /// Returns [`Status::Partial`] when `buf` holds only part of the header,
    /// otherwise the header and its length in bytes. Rejects, as the RFC
    /// requires: reserved opcodes, control frames that are fragmented or carry
    /// more than 125 bytes, 64-bit lengths with the top bit set, and lengths
    /// not written in the shortest form. Masking and RSV bits are checked by
    /// [`FrameDecoder`](super::FrameDecoder), which knows the role and the
    /// negotiated extensions.
    ///
    /// ```
    /// use rfc6455::{frame::{FrameHeader, OpCode}, Status};
    /// let Status::Complete((header, len)) = FrameHeader::decode(&[0x81, 0x05])? else { panic!() };
    /// assert_eq!((header.opcode, header.fin, header.payload_len, len), (OpCode::Text, true, 5, 2));
    /// # Ok::<(), rfc6455::ProtocolError>(())
    /// ```
    pub fn decode(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(Status::Partial);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::UnknownOpcode(b0 & 0x0F))?;
        let masked = b1 & 0x80 != 0;
        let short_len = b1 & 0x7F;

        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if usize::from(short_len) > MAX_CONTROL_PAYLOAD {
                // 126 and 127 announce an extended length; the real value is
                // larger still, so the frame is too long either way.
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }

        let (payload_len, len_bytes) = match short_len {
            126 => {
                let Some(&[a, b]) = rest.first_chunk::<2>() else {
                    return Ok(Status::Partial);
                };
                let len = u16::from_be_bytes([a, b]);
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (u64::from(len), 2)
            }
            127 => {
                let Some(bytes) = rest.first_chunk::<8>() else {
                    return Ok(Status::Partial);
                };
                let len = u64::from_be_bytes(*bytes);
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthOverflow);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (len, 8)
            }
            n => (u64::from(n), 0),
        };

        let rest = rest.get(len_bytes..).unwrap_or_default();
        let mask = if masked {
            let Some(key) = rest.first_chunk::<4>() else {
                return Ok(Status::Partial);
            };
            Some(MaskKey(*key))
        } else {
            None
        };
        let header_len = 2 + len_bytes + if masked { 4 } else { 0 };
        Ok(Status::Complete((FrameHeader { fin, rsv, opcode, mask, payload_len }, header_len)))
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header in its shortest form.
    ///
    /// The caller keeps the invariants [`decode`](Self::decode) checks:
    /// control frames are final and at most 125 bytes, the length is below
    /// 2^63, and only the low three RSV bits (`0x70`) are used.
    pub fn encode(&self, out: &mut impl BufMut) {
        // Built in a small array and appended at once: one capacity check
        // instead of one per field.
        let b0 = u8::from(self.fin) << 7 | (self.rsv & 0x70) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let [l0, l1, l2, l3, l4, l5, l6, l7] = len.to_be_bytes();
        let mut head = [b0, 0, l0, l1, l2, l3, l4, l5, l6, l7, 0, 0, 0, 0];
        let len_end = match (u8::try_from(len), u16::try_from(len)) {
            (Ok(short @ 0..=125), _) => {
                head[1] = mask_bit | short;
                2
            }
            (_, Ok(_)) => {
                // The two low bytes of the big-endian length.
                head[1] = mask_bit | 126;
                head[2] = l6;
                head[3] = l7;
                4
            }
            _ => {
                head[1] = mask_bit | 127;
                10
            }
        };
        let mut end = len_end;
        if let (Some(key), Some(slot)) = (self.mask, head.get_mut(len_end..len_end + 4)) {
            slot.copy_from_slice(&key.0);
            end += 4;
        }
        out.put_slice(head.get(..end).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_ok(buf: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::decode(buf) {
            Ok(Status::Complete(done)) => done,
            other => panic!("expected a complete header, got {other:?}"),
        }
    }

    #[test]
    fn rfc_examples() {
        // §5.7: single-frame unmasked text "Hello".
        let (h, n) = decode_ok(&[0x81, 0x05]);
        assert_eq!((h.fin, h.opcode, h.mask, h.payload_len, n), (true, OpCode::Text, None, 5, 2));
        // §5.7: masked "Hello".
        let (h, n) = decode_ok(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(h.mask, Some(MaskKey([0x37, 0xfa, 0x21, 0x3d])));
        assert_eq!(n, 6);
        // §5.7: 256 bytes binary in a single unmasked frame.
        let (h, n) = decode_ok(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::Binary, 256, 4));
        // §5.7: 64 KiB binary in a single unmasked frame.
        let (h, n) = decode_ok(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
        // §5.7: fragmented "Hel" then "lo".
        let (h, _) = decode_ok(&[0x01, 0x03]);
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = decode_ok(&[0x80, 0x02]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
    }

    #[test]
    fn every_prefix_is_partial() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(FrameHeader::decode(&full[..cut]), Ok(Status::Partial), "cut {cut}");
        }
        assert_eq!(decode_ok(&full).1, 14);
    }

    #[test]
    fn strict_rejections() {
        assert_eq!(FrameHeader::decode(&[0x83, 0]), Err(ProtocolError::UnknownOpcode(3)));
        assert_eq!(FrameHeader::decode(&[0x8F, 0]), Err(ProtocolError::UnknownOpcode(0xF)));
        assert_eq!(FrameHeader::decode(&[0x09, 0]), Err(ProtocolError::FragmentedControlFrame));
        assert_eq!(FrameHeader::decode(&[0x89, 126]), Err(ProtocolError::ControlFrameTooLong));
        assert_eq!(FrameHeader::decode(&[0x88, 127]), Err(ProtocolError::ControlFrameTooLong));
        assert_eq!(FrameHeader::decode(&[0x82, 126, 0, 125]), Err(ProtocolError::NonMinimalLength));
        assert_eq!(
            FrameHeader::decode(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(ProtocolError::NonMinimalLength)
        );
        assert_eq!(FrameHeader::decode(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(ProtocolError::LengthOverflow));
        // 2^63 - 1 is a legal encoding; limits reject it later.
        let (h, _) = decode_ok(&[0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(h.payload_len, (1 << 63) - 1);
    }

    #[test]
    fn encode_uses_shortest_form_and_round_trips() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 1 << 40] {
            for mask in [None, Some(MaskKey([1, 2, 3, 4]))] {
                let header = FrameHeader {
                    fin: len % 2 == 0,
                    rsv: FrameHeader::RSV1,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                };
                let mut out = Vec::new();
                header.encode(&mut out);
                assert_eq!(out.len(), header.encoded_len());
                assert_eq!(decode_ok(&out), (header, out.len()));
            }
        }
    }
}
