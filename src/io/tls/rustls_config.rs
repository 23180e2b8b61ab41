//! The default rustls client configuration: the crypto provider, the root certificates and ALPN.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::{TlsError, ALPN_HTTP11};

/// A client configuration trusting the roots the features select plus
/// `extra_roots` (DER), offering ALPN `http/1.1` only.
///
/// The crypto provider is the process default if the application installed
/// one (`CryptoProvider::install_default`), else ring, which this crate's
/// rustls features compile in: never the panic rustls gives when it cannot
/// choose.
pub(super) fn client_config(extra_roots: &[Vec<u8>]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut problems: Vec<String> = Vec::new();
    #[cfg(feature = "rustls-native-roots")]
    {
        let native = rustls_native_certs::load_native_certs();
        problems.extend(native.errors.iter().map(ToString::to_string));
        let (_added, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 {
            problems.push(format!("{ignored} unreadable certificates in the system store"));
        }
        if roots.is_empty() && problems.is_empty() {
            problems.push("the system's certificate store is empty".into());
        }
    }
    #[cfg(feature = "rustls-webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (i, der) in extra_roots.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|err| TlsError::InvalidPem(format!("certificate {} is not a usable CA: {err}", i + 1)))?;
    }
    if roots.is_empty() {
        if problems.is_empty() {
            problems.push("no root feature is on".into());
        }
        return Err(TlsError::NoRootCertificates(problems.join("; ")));
    }
    let provider = CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(ring_provider()));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Config(err.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.as_bytes().to_vec()];
    Ok(Arc::new(config))
}

/// rustls' ring provider, used when the application installed none. rustls
/// 0.23.48 deprecates it for lacking post-quantum key exchange; an
/// application that wants that installs the aws-lc-rs provider as the
/// process default, which is then used instead.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// `config`, with its ALPN list replaced by `http/1.1` if it offers anything
/// else (copied only then).
pub(super) fn with_http11_alpn(config: Arc<ClientConfig>) -> Arc<ClientConfig> {
    if config.alpn_protocols.iter().all(|protocol| protocol == ALPN_HTTP11.as_bytes()) {
        return config;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![ALPN_HTTP11.as_bytes().to_vec()];
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_http11_only_even_when_the_application_asked_for_h2() {
        let config = client_config(&[]).expect("roots from the features");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let mut h2 = (*config).clone();
        h2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        assert_eq!(with_http11_alpn(Arc::new(h2)).alpn_protocols, vec![b"http/1.1".to_vec()]);
        let mut none = (*config).clone();
        none.alpn_protocols = Vec::new();
        let none = Arc::new(none);
        assert!(Arc::ptr_eq(&with_http11_alpn(none.clone()), &none), "nothing to replace, no copy");
    }

    #[test]
    fn the_applications_installed_crypto_provider_is_used_when_there_is_one() {
        // A provider the application narrowed to one cipher suite, installed for the process
        // (tests in this binary that build configurations later get it too, and still work).
        let mut narrowed = ring_provider();
        narrowed.cipher_suites.truncate(1);
        let suite = narrowed.cipher_suites[0].suite();
        let installed = narrowed.install_default().is_ok();
        let default = CryptoProvider::get_default().expect("a default is installed now");
        let config = client_config(&[]).expect("roots from the features");
        assert!(Arc::ptr_eq(config.crypto_provider(), default), "the installed provider, not our own ring");
        if installed {
            assert_eq!(config.crypto_provider().cipher_suites.len(), 1);
            assert_eq!(config.crypto_provider().cipher_suites[0].suite(), suite);
        }
    }
}
