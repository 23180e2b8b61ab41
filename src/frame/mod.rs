//! The WebSocket frame layer (RFC 6455 §5): opcodes, close codes, frame
//! headers, masking, and an incremental decoder and encoder.
//!
//! Most applications never touch this module: [`Connection`](crate::Connection)
//! drives it. It is public for tools that need frames rather than messages
//! (proxies, fuzzers, benchmarks).

mod close_code;
mod decoder;
mod encoder;
mod header;
mod mask;

use bytes::Bytes;

pub use close_code::CloseCode;
pub use decoder::{FrameDecoder, Progress};
pub(crate) use encoder::encode_masked_head;
pub use encoder::{encode_frame, encode_frame_head, FrameBuf};
pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use mask::{apply_mask, MaskKey};

/// The largest payload a control frame (close, ping, pong) may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame opcode (RFC 6455 §5.2). The reserved opcodes 0x3-0x7 and 0xB-0xF
/// have no variant: a frame carrying one is rejected with
/// [`ProtocolError::UnknownOpcode`](crate::ProtocolError::UnknownOpcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: continues a fragmented data message.
    Continuation,
    /// `0x1`: first frame of a UTF-8 text message.
    Text,
    /// `0x2`: first frame of a binary message.
    Binary,
    /// `0x8`: close control frame.
    Close,
    /// `0x9`: ping control frame.
    Ping,
    /// `0xA`: pong control frame.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of the first header byte; `None` for reserved opcodes.
    pub fn from_u8(bits: u8) -> Option<Self> {
        match bits {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// True for close, ping and pong (opcodes with the high bit set).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A complete, unmasked frame as produced by [`FrameDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The decoded header. `header.mask` still records the key the peer used,
    /// but `payload` is already unmasked.
    pub header: FrameHeader,
    /// The unmasked payload, split from the receive buffer without copying.
    pub payload: Bytes,
}

/// The kind of a data message, used when sending a message in fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// A UTF-8 text message (opcode `0x1`).
    Text,
    /// A binary message (opcode `0x2`).
    Binary,
}

impl DataKind {
    /// The opcode that starts a message of this kind.
    pub fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Text,
            Self::Binary => OpCode::Binary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_round_trips_and_rejects_reserved() {
        for bits in 0u8..16 {
            match OpCode::from_u8(bits) {
                Some(op) => assert_eq!(op.as_u8(), bits),
                None => assert!(matches!(bits, 0x3..=0x7 | 0xB..=0xF), "{bits:#x}"),
            }
        }
        assert!(OpCode::Ping.is_control());
        assert!(!OpCode::Continuation.is_control());
    }
}
