//! Fuzzes `rfc6455::frame::FrameDecoder` with arbitrary bytes, decoded whole
//! and in arbitrary chunks, for both roles, a `max_frame_size` of 0..=64 KiB
//! and any allowed RSV bits.
//!
//! Input: `[flags, max_lo, max_hi, chunk_seed]` then the wire bytes. Flags:
//! bit 0 server role, bit 1 accept unmasked frames, bit 2 allow the RSV bits
//! `flags & 0x70`.
//!
//! Invariants:
//! * decoding in one piece and in chunks gives the same frames, the same
//!   first error, and leaves the same bytes and decoder state behind;
//! * the `step` API (header, payload ranges, frame) agrees with `decode`:
//!   the payload ranges tile the payload exactly;
//! * every frame respects the limit, the role's masking rule, the allowed
//!   RSV bits and the control-frame rules, and its header length matches
//!   its payload;
//! * re-encoding the frames with `encode_frame` gives back exactly the wire
//!   bytes they were decoded from (the decoder accepts only the shortest
//!   length encoding, so encoding is canonical);
//! * after an error, decoding stops (the harness feeds nothing more).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rfc6455::frame::{encode_frame, Frame, FrameDecoder, FrameHeader, Progress};
use rfc6455::{ProtocolError, Role};
use rfc6455_fuzz::{chunks, take_prefix};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<ProtocolError>,
    leftover: Vec<u8>,
    mid_frame: bool,
}

struct Setup {
    role: Role,
    max: usize,
    accept_unmasked: bool,
    allowed_rsv: u8,
}

impl Setup {
    fn decoder(&self) -> FrameDecoder {
        let mut decoder = FrameDecoder::new(self.role, self.max);
        decoder.set_accept_unmasked(self.accept_unmasked);
        decoder.set_allowed_rsv(self.allowed_rsv);
        decoder
    }
}

/// After an error the harness stops feeding, so how many bytes were
/// buffered then depends on the chunking: compare those only without error.
fn outcome(frames: Vec<Frame>, error: Option<ProtocolError>, buf: &BytesMut, decoder: &FrameDecoder) -> Outcome {
    match error {
        Some(_) => Outcome { frames, error, leftover: Vec::new(), mid_frame: false },
        None => Outcome { frames, error, leftover: buf.to_vec(), mid_frame: decoder.is_mid_frame() },
    }
}

/// Decodes with `decode`, feeding `pieces` one after another.
fn decode_pieces(setup: &Setup, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = setup.decoder();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut error = None;
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => {
                    error = Some(err);
                    break 'feed;
                }
            }
        }
    }
    outcome(frames, error, &buf, &decoder)
}

/// Decodes with `step`, feeding `pieces`, checking the step protocol.
fn step_pieces(setup: &Setup, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = setup.decoder();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut error = None;
    // The header of the frame in progress and how far its payload was unmasked.
    let mut current: Option<(FrameHeader, usize)> = None;
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decoder.step(&mut buf) {
                Ok(Progress::NeedMore) => break,
                Ok(Progress::Header(header)) => {
                    assert!(current.is_none(), "header while a frame is in progress");
                    assert!(decoder.is_mid_frame());
                    assert_eq!(decoder.frame_end(), Some(header.payload_len as usize));
                    current = Some((header, 0));
                }
                Ok(Progress::Payload { start, end }) => {
                    let (header, done) = current.as_mut().expect("payload without a header");
                    assert_eq!(start, *done, "payload ranges must be contiguous");
                    assert!(start < end && end as u64 <= header.payload_len && end <= buf.len());
                    *done = end;
                }
                Ok(Progress::Frame(frame)) => {
                    let (header, done) = current.take().expect("frame without a header");
                    assert_eq!(frame.header, header);
                    assert_eq!(done, frame.payload.len(), "payload ranges must cover the payload");
                    assert!(!decoder.is_mid_frame());
                    frames.push(frame);
                }
                Err(err) => {
                    error = Some(err);
                    break 'feed;
                }
                Ok(other) => panic!("a step this target does not know: {other:?}"),
            }
        }
    }
    outcome(frames, error, &buf, &decoder)
}

fuzz_target!(|data: &[u8]| {
    let ([flags, lo, hi, chunk_seed], wire) = take_prefix::<4>(data);
    let setup = Setup {
        role: if flags & 1 != 0 { Role::Server } else { Role::Client },
        max: usize::from(u16::from_le_bytes([lo, hi])),
        accept_unmasked: flags & 2 != 0,
        allowed_rsv: if flags & 4 != 0 { flags & 0x70 } else { 0 },
    };

    let whole = decode_pieces(&setup, &[wire]);
    let pieces = chunks(wire, chunk_seed);
    let chunked = decode_pieces(&setup, &pieces);
    assert_eq!(whole, chunked, "decoding in chunks differs from decoding whole");
    let bytewise = step_pieces(&setup, &chunks(wire, 0));
    assert_eq!(whole, bytewise, "step-by-step decoding differs from decode");

    let mut reencoded = Vec::new();
    for frame in &whole.frames {
        let header = &frame.header;
        assert_eq!(header.payload_len, frame.payload.len() as u64);
        assert!(frame.payload.len() <= setup.max, "frame over max_frame_size");
        assert_eq!(header.rsv & !setup.allowed_rsv, 0, "RSV bits not allowed");
        match setup.role {
            Role::Server => assert!(header.mask.is_some() || setup.accept_unmasked, "unmasked frame to a server"),
            Role::Client => assert!(header.mask.is_none(), "masked frame to a client"),
        }
        if header.opcode.is_control() {
            assert!(header.fin && frame.payload.len() <= 125, "invalid control frame accepted");
        }
        encode_frame(&mut reencoded, header.opcode, header.fin, header.rsv, header.mask, &frame.payload);
    }
    assert!(wire.starts_with(&reencoded), "re-encoded frames differ from the wire bytes");
    if whole.error.is_none() {
        // What is left is the unfinished frame: its payload bytes (the header
        // was consumed) or a partial header (at most 13 bytes).
        let consumed = reencoded.len();
        let rest = wire.len() - consumed;
        assert!(whole.leftover.len() <= rest);
        if !whole.mid_frame {
            assert!(whole.leftover.len() < 14, "a complete header was left undecoded");
            assert_eq!(&wire[consumed..], &whole.leftover[..]);
        }
    }
});
