//! Reading certificates from PEM text (RFC 7468) into DER, for extra roots.

use base64::Engine;

use super::TlsError;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The DER bytes of every `CERTIFICATE` block in `pem`, in order. Other
/// blocks (keys, parameters) and text between blocks are skipped.
pub(super) fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, TlsError> {
    let text = std::str::from_utf8(pem).map_err(|_| TlsError::InvalidPem("the file is not PEM text".into()))?;
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body_and_after = &rest[start + BEGIN.len()..];
        let end = body_and_after
            .find(END)
            .ok_or_else(|| TlsError::InvalidPem(format!("certificate {} has no {END} line", certificates.len() + 1)))?;
        let body: String = body_and_after[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|err| {
            TlsError::InvalidPem(format!("certificate {} is not valid base64: {err}", certificates.len() + 1))
        })?;
        certificates.push(der);
        rest = &body_and_after[end + END.len()..];
    }
    if certificates.is_empty() {
        return Err(TlsError::InvalidPem(format!("no {BEGIN} block found")));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_certificate_block_and_skips_the_rest() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
                   -----BEGIN PRIVATE KEY-----\nBAU=\n-----END PRIVATE KEY-----\n\
                   -----BEGIN CERTIFICATE-----\r\n/w==\r\n-----END CERTIFICATE-----\r\n";
        assert_eq!(certificates(pem.as_bytes()).unwrap(), vec![vec![0, 1, 2, 3], vec![255]]);
    }

    #[test]
    fn refuses_files_without_a_certificate_or_with_a_broken_one() {
        for (pem, expected) in [
            (&b"no pem here"[..], "no -----BEGIN CERTIFICATE----- block"),
            (b"-----BEGIN CERTIFICATE-----\nAAEC\n", "certificate 1 has no"),
            (b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----", "not valid base64"),
            (b"\xff\xfe", "not PEM text"),
        ] {
            let err = certificates(pem).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
