//! Certificates made at test time (rcgen) and rustls server configurations,
//! for the `wss://` tests (tls.rs, proxy.rs). Included with `#[path]`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rfc6455::io::{Dialer, TlsConnector};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test CA and a server certificate it signed.
pub struct Pki {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// A CA, and a certificate for `names` signed by it; `expired` dates it in 2019.
pub fn pki(names: &[&str], expired: bool) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "rfc6455 test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2019, 12, 31);
    }
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// A rustls server configuration for `pki`'s certificate, offering `alpn`.
pub fn server_tls(pki: &Pki, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    // ring: deprecated since rustls 0.23.48 (no post-quantum key exchange), fine here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A dialer that trusts `pki`'s CA besides the system's roots.
pub fn trusting(pki: &Pki) -> Dialer {
    Dialer::new().tls(TlsConnector::with_root_certificates_pem(pki.ca_pem.as_bytes()).unwrap())
}
