//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §1.3, §4.2.2).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

use super::GUID;
use crate::HandshakeError;

/// A client's `Sec-WebSocket-Key`: 16 random bytes in base64 (24 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey([u8; 24]);

impl ClientKey {
    /// The key for a 16-byte nonce. The nonce must be freshly random for each
    /// connection (RFC 6455 §4.1); [`ClientHandshake::new`](super::ClientHandshake::new)
    /// picks one for you.
    ///
    /// ```
    /// use rfc6455::handshake::ClientKey;
    /// assert_eq!(ClientKey::from_nonce(*b"the sample nonce").as_str(), "dGhlIHNhbXBsZSBub25jZQ==");
    /// ```
    pub fn from_nonce(nonce: [u8; 16]) -> Self {
        let mut key = [0u8; 24];
        // 16 bytes always encode to exactly 24 characters.
        let _ = STANDARD.encode_slice(nonce, &mut key);
        Self(key)
    }

    /// Validates a received key: exactly 24 characters of canonical base64
    /// that decode to 16 bytes.
    pub(crate) fn parse(value: &[u8]) -> Result<Self, HandshakeError> {
        let key: [u8; 24] = value.try_into().map_err(|_| HandshakeError::InvalidKey)?;
        let mut nonce = [0u8; 18];
        match STANDARD.decode_slice(key, &mut nonce) {
            Ok(16) => Ok(Self(key)),
            _ => Err(HandshakeError::InvalidKey),
        }
    }

    /// The key as sent in the header.
    pub fn as_str(&self) -> &str {
        // base64 output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The `Sec-WebSocket-Accept` value a server must answer this key with.
    pub fn accept_key(&self) -> AcceptKey {
        accept_key(&self.0)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientKey").field(&self.as_str()).finish()
    }
}

/// A `Sec-WebSocket-Accept` value: base64(SHA-1(key ‖ GUID)), 28 characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// The value as sent in the header.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value, without allocating.
///
/// ```
/// // The example of RFC 6455 §1.3.
/// let accept = rfc6455::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> AcceptKey {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    let digest = sha1.finalize();
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 characters.
    let _ = STANDARD.encode_slice(digest, &mut out);
    AcceptKey(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1_3_example() {
        let key = ClientKey::parse(b"dGhlIHNhbXBsZSBub25jZQ==").unwrap();
        assert_eq!(key.accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn key_validation() {
        assert!(ClientKey::parse(b"dGhlIHNhbXBsZSBub25jZQ==").is_ok());
        // 15 and 17 bytes.
        assert!(ClientKey::parse(STANDARD.encode([0u8; 15]).as_bytes()).is_err());
        assert!(ClientKey::parse(STANDARD.encode([0u8; 17]).as_bytes()).is_err());
        // Not base64, wrong length, non-canonical trailing bits.
        assert!(ClientKey::parse(b"!GhlIHNhbXBsZSBub25jZQ==").is_err());
        assert!(ClientKey::parse(b"dGhlIHNhbXBsZSBub25jZQ=").is_err());
        assert!(ClientKey::parse(b"dGhlIHNhbXBsZSBub25jZR==").is_err());
        assert!(ClientKey::parse(b"").is_err());
    }

    #[test]
    fn nonce_round_trip() {
        let key = ClientKey::from_nonce([0xAB; 16]);
        assert_eq!(key.as_str().len(), 24);
        assert_eq!(ClientKey::parse(key.as_str().as_bytes()).unwrap(), key);
    }
}
