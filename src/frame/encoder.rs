//! Frame encoder: header and payload written straight into the output buffer.

use bytes::BufMut;

use super::mask::put_masked;
use super::{FrameHeader, MaskKey, OpCode};

/// Appends one frame to `out`: the header in its shortest form, then the
/// payload, masked on the way in when `mask` is given (clients must mask every
/// frame; servers never do).
///
/// `rsv` holds RSV bits in their wire positions ([`FrameHeader::RSV1`], ...).
/// The caller keeps the RFC's rules for what it encodes: control frames are
/// final and at most 125 bytes.
///
/// ```
/// use rfc6455::frame::{encode_frame, MaskKey, OpCode};
/// let mut out = Vec::new();
/// encode_frame(&mut out, OpCode::Text, true, 0, Some(MaskKey([0x37, 0xfa, 0x21, 0x3d])), b"Hello");
/// assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn encode_frame(out: &mut impl BufMut, opcode: OpCode, fin: bool, rsv: u8, mask: Option<MaskKey>, payload: &[u8]) {
    let header = FrameHeader { fin, rsv, opcode, mask, payload_len: payload.len() as u64 };
    header.encode(out);
    match mask {
        Some(key) => put_masked(out, payload, key),
        None => out.put_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_vectors() {
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Text, true, 0, None, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        out.clear();
        encode_frame(&mut out, OpCode::Text, false, 0, None, b"Hel");
        encode_frame(&mut out, OpCode::Continuation, true, 0, None, b"lo");
        assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);

        out.clear();
        encode_frame(&mut out, OpCode::Ping, true, 0, None, b"Hello");
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        out.clear();
        let key = MaskKey([0x37, 0xfa, 0x21, 0x3d]);
        encode_frame(&mut out, OpCode::Pong, true, 0, Some(key), b"Hello");
        assert_eq!(out, [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);

        out.clear();
        encode_frame(&mut out, OpCode::Binary, true, 0, None, &[0u8; 256]);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(out.len(), 4 + 256);

        out.clear();
        encode_frame(&mut out, OpCode::Binary, true, 0, None, &[0u8; 65536]);
        assert_eq!(out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(out.len(), 10 + 65536);
    }
}
