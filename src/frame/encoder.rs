//! The one frame encoder: header and payload appended to an output buffer,
//! masked in place. [`Connection`](crate::Connection) queues every frame it
//! sends through it, and the fuzz targets and benchmarks call the same code.

use bytes::{BufMut, BytesMut};

use super::mask::{apply_mask, mask_into};
use super::{FrameHeader, MaskKey, OpCode};

/// A growable byte buffer that frames are encoded into: `Vec<u8>` or
/// [`BytesMut`]. Sealed: the encoder needs to reserve room and then mask the
/// bytes it appended in place.
pub trait FrameBuf: BufMut + AsMut<[u8]> + sealed::Sealed {
    /// Makes room for `additional` more bytes in one allocation.
    fn reserve_exact_room(&mut self, additional: usize);

    /// Appends `payload` masked with `key`, copying and masking in one pass.
    fn put_masked(&mut self, payload: &[u8], key: MaskKey);
}

impl FrameBuf for Vec<u8> {
    fn reserve_exact_room(&mut self, additional: usize) {
        self.reserve(additional);
    }

    fn put_masked(&mut self, payload: &[u8], key: MaskKey) {
        self.reserve(payload.len());
        let len = self.len();
        let Some(spare) = self.spare_capacity_mut().get_mut(..payload.len()) else {
            return two_pass_masked(self, payload, key); // not after `reserve`; kept correct anyway
        };
        mask_into(payload, spare, key);
        // SAFETY: `reserve` made room for `payload.len()` more bytes, and
        // `mask_into` initialized exactly the first `payload.len()` bytes of
        // the spare capacity (it writes every byte of the slice it is given,
        // which has that length).
        #[allow(unsafe_code)]
        unsafe {
            self.set_len(len + payload.len());
        }
    }
}

impl FrameBuf for BytesMut {
    fn reserve_exact_room(&mut self, additional: usize) {
        self.reserve(additional);
    }

    fn put_masked(&mut self, payload: &[u8], key: MaskKey) {
        self.reserve(payload.len());
        let len = self.len();
        let Some(spare) = self.spare_capacity_mut().get_mut(..payload.len()) else {
            return two_pass_masked(self, payload, key); // not after `reserve`; kept correct anyway
        };
        mask_into(payload, spare, key);
        // SAFETY: as for `Vec<u8>`: room was reserved, and exactly the first
        // `payload.len()` bytes of the spare capacity were initialized.
        #[allow(unsafe_code)]
        unsafe {
            self.set_len(len + payload.len());
        }
    }
}

/// Appends `payload`, then masks the appended bytes in place.
fn two_pass_masked<B: BufMut + AsMut<[u8]>>(out: &mut B, payload: &[u8], key: MaskKey) {
    let start = out.as_mut().len();
    out.put_slice(payload);
    if let Some(queued) = out.as_mut().get_mut(start..) {
        apply_mask(queued, key, 0);
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for Vec<u8> {}
    impl Sealed for bytes::BytesMut {}
}

/// Appends one frame to `out`: the header in its shortest form, then the
/// payload, masked when `mask` is given (clients must mask every frame;
/// servers never do).
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
#[inline]
pub fn encode_frame<B: FrameBuf>(
    out: &mut B,
    opcode: OpCode,
    fin: bool,
    rsv: u8,
    mask: Option<MaskKey>,
    payload: &[u8],
) {
    let header = FrameHeader { fin, rsv, opcode, mask, payload_len: payload.len() as u64 };
    out.reserve_exact_room(header.encoded_len() + payload.len());
    header.encode(out);
    match mask {
        // Copy and mask in one pass: as fast as the copy alone (before:
        // a copy, then a second pass masking in place).
        Some(key) => out.put_masked(payload, key),
        None => out.put_slice(payload),
    }
}

/// Appends only the header of an unmasked frame whose `payload_len` bytes
/// the caller queues separately (a server sending a shared payload without
/// copying it). Masked frames cannot be sent this way: their payload must be
/// copied to be masked.
pub fn encode_frame_head<B: FrameBuf>(out: &mut B, opcode: OpCode, fin: bool, rsv: u8, payload_len: usize) {
    let header = FrameHeader { fin, rsv, opcode, mask: None, payload_len: payload_len as u64 };
    header.encode(out);
}

/// Appends the header of a frame masked with `key` and masks `payload` in
/// place, for a payload the caller owns and queues separately (a client
/// sending without copying): the header followed by `payload` is exactly what
/// [`encode_frame`] would have appended.
pub(crate) fn encode_masked_head<B: FrameBuf>(
    out: &mut B,
    opcode: OpCode,
    fin: bool,
    key: MaskKey,
    payload: &mut [u8],
) {
    let header = FrameHeader { fin, rsv: 0, opcode, mask: Some(key), payload_len: payload.len() as u64 };
    header.encode(out);
    apply_mask(payload, key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masked frame, as encoding it with a plain copy and then masking
    /// the copy in place gives it.
    fn two_pass(prefix: &[u8], key: MaskKey, payload: &[u8]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some(key), payload_len: payload.len() as u64 }
            .encode(&mut out);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], key, 0);
        out
    }

    #[test]
    fn masked_frames_copy_and_mask_in_one_pass_into_vec_and_bytes_mut_after_queued_bytes() {
        let key = MaskKey([0x91, 0x2e, 0x07, 0xcb]);
        let prefix = [0xaa; 5]; // bytes already queued must stay as they are
        let lens: &[usize] =
            if cfg!(miri) { &[0, 5, 126, 130] } else { &[0, 1, 5, 8, 125, 126, 127, 128, 300, 65_536] };
        for &len in lens {
            let payload: Vec<u8> = (0..len).map(|i| (i * 3 + 1) as u8).collect();
            let expected = two_pass(&prefix, key, &payload);
            let mut vec = prefix.to_vec();
            encode_frame(&mut vec, OpCode::Binary, true, 0, Some(key), &payload);
            assert_eq!(vec, expected, "Vec, len {len}");
            let mut bytes = BytesMut::from(&prefix[..]);
            encode_frame(&mut bytes, OpCode::Binary, true, 0, Some(key), &payload);
            assert_eq!(bytes[..], expected[..], "BytesMut, len {len}");
        }
    }

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

    #[test]
    fn masks_only_the_appended_payload_whatever_came_before() {
        let key = MaskKey([9, 8, 7, 6]);
        let payload: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        let mut out = BytesMut::from(&b"earlier frames"[..]);
        encode_frame(&mut out, OpCode::Binary, true, 0, Some(key), &payload);
        assert_eq!(&out[..14], b"earlier frames");
        let body = &out[14 + 8..];
        let unmasked: Vec<u8> = body.iter().enumerate().map(|(i, b)| b ^ key.0[i % 4]).collect();
        assert_eq!(unmasked, payload);
    }

    #[test]
    fn head_then_payload_equals_whole_frame() {
        let payload = vec![7u8; 70_000];
        let mut whole = Vec::new();
        encode_frame(&mut whole, OpCode::Binary, true, FrameHeader::RSV1, None, &payload);
        let mut split = Vec::new();
        encode_frame_head(&mut split, OpCode::Binary, true, FrameHeader::RSV1, payload.len());
        split.extend_from_slice(&payload);
        assert_eq!(whole, split);
    }

    #[test]
    fn masked_head_then_payload_masked_in_place_equals_whole_frame() {
        let key = MaskKey([1, 2, 3, 4]);
        for len in [0, 5, 125, 126, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut whole = Vec::new();
            encode_frame(&mut whole, OpCode::Text, true, 0, Some(key), &payload);
            let mut split = Vec::new();
            let mut owned = payload.clone();
            encode_masked_head(&mut split, OpCode::Text, true, key, &mut owned);
            split.extend_from_slice(&owned);
            assert_eq!(whole, split, "len {len}");
        }
    }
}
