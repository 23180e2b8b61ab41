//! Close frames: payload parsing and validation, and payloads we send.

use bytes::{Buf, Bytes};

use crate::frame::{CloseCode, MAX_CONTROL_PAYLOAD};
use crate::utf8::Utf8Validator;
use crate::{ProtocolError, UsageError, Utf8Bytes};

/// The content of a close frame: a status code and a UTF-8 reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code; [`CloseCode::NO_STATUS`] when the frame carried none.
    pub code: CloseCode,
    /// The reason text (at most 123 bytes), often empty.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// Parses and validates a received close payload (RFC 6455 §5.5.1, §7.4):
    /// empty, or a sendable 2-byte code followed by a UTF-8 reason.
    pub(crate) fn parse(mut payload: Bytes) -> Result<CloseFrame, ProtocolError> {
        match payload.len() {
            0 => Ok(CloseFrame { code: CloseCode::NO_STATUS, reason: Utf8Bytes::new() }),
            1 => Err(ProtocolError::TruncatedCloseCode),
            _ => {
                let code = CloseCode(payload.get_u16());
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let mut validator = Utf8Validator::default();
                validator.feed(&payload).and_then(|()| validator.finish()).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(CloseFrame { code, reason: Utf8Bytes::from_validated(payload) })
            }
        }
    }
}

/// A control-frame payload (at most 125 bytes) kept on the stack.
#[derive(Clone, Copy)]
pub(crate) struct ControlPayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: usize,
}

impl std::fmt::Debug for ControlPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ControlPayload").field(&self.as_slice()).finish()
    }
}

impl ControlPayload {
    /// Copies `data`, refusing more than 125 bytes.
    pub(crate) fn new(data: &[u8]) -> Result<Self, UsageError> {
        let mut payload = Self { bytes: [0; MAX_CONTROL_PAYLOAD], len: 0 };
        payload.push(data)?;
        Ok(payload)
    }

    /// The payload of a close frame with `code` and `reason`. Codes that may
    /// not be sent are refused, except [`CloseCode::NO_STATUS`], which gives
    /// an empty payload (a close frame without a code).
    pub(crate) fn close(code: CloseCode, reason: &str) -> Result<Self, UsageError> {
        if code == CloseCode::NO_STATUS && reason.is_empty() {
            return Self::new(&[]);
        }
        if !code.is_sendable() {
            return Err(UsageError::UnsendableCloseCode(code));
        }
        let mut payload = Self::new(&code.0.to_be_bytes())?;
        payload.push(reason.as_bytes()).map_err(|_| UsageError::ControlPayloadTooLong(2 + reason.len()))?;
        Ok(payload)
    }

    /// The payload of our reply to a peer's close: its code echoed
    /// (RFC 6455 §5.5.1), or nothing if its close carried no code.
    pub(crate) fn echo(code: CloseCode) -> Self {
        let mut payload = Self { bytes: [0; MAX_CONTROL_PAYLOAD], len: 0 };
        if code != CloseCode::NO_STATUS {
            let [hi, lo] = code.0.to_be_bytes();
            payload.bytes[0] = hi;
            payload.bytes[1] = lo;
            payload.len = 2;
        }
        payload
    }

    fn push(&mut self, data: &[u8]) -> Result<(), UsageError> {
        let end = self.len + data.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(UsageError::ControlPayloadTooLong(end))?;
        slot.copy_from_slice(data);
        self.len = end;
        Ok(())
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Shortens `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_utf8(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let empty = CloseFrame::parse(Bytes::new()).unwrap();
        assert_eq!(empty.code, CloseCode::NO_STATUS);
        assert_eq!(CloseFrame::parse(Bytes::from_static(&[0x03])), Err(ProtocolError::TruncatedCloseCode));
        let normal = CloseFrame::parse(Bytes::from_static(b"\x03\xe8bye")).unwrap();
        assert_eq!((normal.code, normal.reason.as_str()), (CloseCode::NORMAL, "bye"));
        assert_eq!(CloseFrame::parse(Bytes::from_static(b"\x03\xed")), Err(ProtocolError::InvalidCloseCode(1005)));
        assert_eq!(CloseFrame::parse(Bytes::from_static(b"\x03\xe8\xff")), Err(ProtocolError::InvalidUtf8));
        // A reason cut in the middle of a character is invalid too.
        assert_eq!(CloseFrame::parse(Bytes::from_static(b"\x03\xe8\xce")), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn outgoing_payload_limits() {
        let reason = "x".repeat(123);
        assert_eq!(ControlPayload::close(CloseCode::NORMAL, &reason).unwrap().as_slice().len(), 125);
        assert_eq!(
            ControlPayload::close(CloseCode::NORMAL, &"x".repeat(124)).unwrap_err(),
            UsageError::ControlPayloadTooLong(126)
        );
        assert_eq!(
            ControlPayload::close(CloseCode(1006), "").unwrap_err(),
            UsageError::UnsendableCloseCode(CloseCode(1006))
        );
        assert!(ControlPayload::close(CloseCode::NO_STATUS, "").unwrap().as_slice().is_empty());
        assert!(ControlPayload::new(&[0; 126]).is_err());
        assert_eq!(ControlPayload::new(&[1; 125]).unwrap().as_slice(), &[1; 125]);
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
