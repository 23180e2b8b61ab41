//! The default native-tls connector: the platform's roots, extra roots, ALPN.

use super::{TlsError, ALPN_HTTP11};

/// A connector trusting the platform's roots plus `extra_roots` (DER),
/// offering ALPN `http/1.1` only.
#[cfg_attr(feature = "__rustls", allow(dead_code))] // rustls is the default when both are on
pub(super) fn connector(extra_roots: &[Vec<u8>]) -> Result<native_tls::TlsConnector, TlsError> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.request_alpns(&[ALPN_HTTP11]);
    for (i, der) in extra_roots.iter().enumerate() {
        let certificate = native_tls::Certificate::from_der(der)
            .map_err(|err| TlsError::InvalidPem(format!("certificate {}: {err}", i + 1)))?;
        builder.add_root_certificate(certificate);
    }
    builder.build().map_err(|err| TlsError::Config(err.to_string()))
}
