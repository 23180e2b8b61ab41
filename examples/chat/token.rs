//! Session tokens, checked in the WebSocket handshake: the page is served
//! with a token (`EXPIRY.NONCE.MAC`, the MAC an HMAC-SHA1 over
//! `EXPIRY.NONCE` with the server's secret) and opens `/ws?token=...`; an
//! upgrade without a valid one is refused with 401 before any WebSocket
//! exists. Nodes that share a secret accept each other's tokens, so a page
//! may reconnect to any of them.

use rfc6455::handshake::secrets_equal;
use sha1::{Digest, Sha1};

/// How long a token is good for, in seconds.
const VALID_FOR: u64 = 24 * 60 * 60;
const BLOCK: usize = 64;

/// Issues and checks tokens with one secret.
#[derive(Clone)]
pub(crate) struct Signer {
    key: [u8; BLOCK],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <secret> }")
    }
}

impl Signer {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut key = [0; BLOCK];
        if secret.len() > BLOCK {
            key[..20].copy_from_slice(&Sha1::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        Self { key }
    }

    fn mac(&self, message: &[u8]) -> String {
        let pad = |byte: u8| self.key.map(|k| k ^ byte);
        let inner = Sha1::new().chain_update(pad(0x36)).chain_update(message).finalize();
        let outer = Sha1::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
        outer.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A new token, valid from `now` (seconds since the Unix epoch) for a day.
    pub(crate) fn issue(&self, now: u64) -> String {
        let payload = format!("{}.{:016x}", now + VALID_FOR, rand::random::<u64>());
        format!("{payload}.{}", self.mac(payload.as_bytes()))
    }

    /// True if `token` was issued with this secret and has not expired at `now`.
    pub(crate) fn verify(&self, token: &str, now: u64) -> bool {
        let Some((payload, mac)) = token.rsplit_once('.') else {
            return false;
        };
        let expiry = payload.split_once('.').and_then(|(expiry, _)| expiry.parse::<u64>().ok());
        expiry.is_some_and(|expiry| now <= expiry)
            && secrets_equal(self.mac(payload.as_bytes()).as_bytes(), mac.as_bytes())
    }
}

/// The `token` parameter of a request target's query, if any.
pub(crate) fn from_query(target: &str) -> Option<&str> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix("token="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // RFC 2202, test case 2.
        let mac = Signer::new(b"Jefe").mac(b"what do ya want for nothing?");
        assert_eq!(mac, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn tokens_verify_only_with_the_secret_and_in_time() {
        let signer = Signer::new(b"secret");
        let token = signer.issue(1000);
        assert!(signer.verify(&token, 1000));
        assert!(signer.verify(&token, 1000 + VALID_FOR));
        assert!(!signer.verify(&token, 1001 + VALID_FOR), "expired");
        assert!(!Signer::new(b"other").verify(&token, 1000));
        let (payload, _) = token.rsplit_once('.').unwrap();
        assert!(!signer.verify(&format!("{payload}.00"), 1000));
        assert!(!signer.verify(&token.replacen('1', "2", 1), 1000), "expiry changed");
        assert!(!signer.verify("", 1000));
        assert_eq!(from_query("/ws?a=1&token=xyz"), Some("xyz"));
        assert_eq!(from_query("/ws"), None);
    }
}
