//! TLS for `wss://` clients: which TLS library, which root certificates, and
//! the errors a TLS connection can end in.
//!
//! A [`TlsConnector`] holds a ready client configuration. The connect
//! functions of both adapters use the one you give a
//! [`Dialer`](crate::io::Dialer), or else a shared default built on first use:
//! rustls (features `rustls`, `rustls-native-roots`, `rustls-webpki-roots`)
//! when one of its features is on, otherwise native-tls (feature
//! `native-tls`). Without any of them a `wss://` URL fails with
//! [`TlsError::NotEnabled`], which names the feature to turn on.
//!
//! Whatever the library, the client offers exactly one ALPN protocol,
//! `http/1.1`: a server that picked `h2` could not answer the upgrade
//! request. The server name (SNI) is the URL's host; an IP literal
//! (`wss://127.0.0.1`, `wss://[::1]`) sends none and is checked against the
//! certificate's IP addresses.
//!
//! ```no_run
//! # fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use rfc6455::io::{Dialer, TlsConnector};
//! // The default roots and a private CA besides them (e.g. a test or company CA).
//! let connector = TlsConnector::with_root_certificates_pem(&std::fs::read("ca.pem")?)?;
//! let dialer = Dialer::new().tls(connector);
//! let (ws, _) = rfc6455::io::blocking::connect_with_dialer("wss://localhost:9443", &Default::default(), &dialer)?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::OnceLock;

/// The native-tls crate this crate was built with, for
/// [`TlsConnector::native_tls`] (so that versions cannot mismatch).
#[cfg(feature = "native-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "native-tls")))]
pub use ::native_tls;
/// The rustls crate this crate was built with, for
/// [`TlsConnector::rustls`] (so that versions cannot mismatch).
#[cfg(feature = "__rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use ::rustls;

#[cfg(feature = "native-tls")]
mod native;
mod pem;
#[cfg(feature = "__rustls")]
mod rustls_config;

/// The ALPN protocol a WebSocket client offers: HTTP/1.1, the only HTTP
/// version whose `Upgrade` mechanism RFC 6455 uses.
#[cfg_attr(not(any(feature = "__rustls", feature = "native-tls")), allow(dead_code))]
const ALPN_HTTP11: &str = "http/1.1";

/// A TLS client configuration for `wss://` connections: rustls or
/// native-tls, with the roots it trusts. Cheap to clone (shared inside).
///
/// Build one with [`new`](Self::new) (the default roots) or
/// [`with_root_certificates_pem`](Self::with_root_certificates_pem) (the
/// default roots and your own), or wrap your own configuration with
/// `TlsConnector::rustls` (feature `rustls`) or `TlsConnector::native_tls`
/// (feature `native-tls`) for pinned
/// certificates, client certificates or a platform verifier.
#[derive(Clone)]
pub struct TlsConnector {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    #[cfg(feature = "__rustls")]
    Rustls(std::sync::Arc<::rustls::ClientConfig>),
    #[cfg(feature = "native-tls")]
    NativeTls(::native_tls::TlsConnector),
    /// No TLS library is compiled in; never constructed.
    #[cfg(not(any(feature = "__rustls", feature = "native-tls")))]
    #[allow(dead_code)]
    None(std::convert::Infallible),
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsConnector").field(&self.library()).finish()
    }
}

impl TlsConnector {
    /// The default configuration: rustls if one of its features is on (with
    /// the roots those features select), else native-tls with the
    /// platform's roots. Loads the root certificates now.
    ///
    /// # Errors
    ///
    /// [`TlsError::NotEnabled`] without a TLS feature;
    /// [`TlsError::NoRootCertificates`] if no root certificate could be
    /// loaded (rustls); [`TlsError::Config`] if the TLS library refuses the
    /// configuration.
    pub fn new() -> Result<Self, TlsError> {
        Self::with_root_certificates_pem(&[])
    }

    /// The default configuration, trusting the certificates in `pem` (one
    /// or more `-----BEGIN CERTIFICATE-----` blocks) besides the default
    /// roots: a private or test CA.
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidPem`] if `pem` holds no certificate or a broken
    /// one; otherwise as [`new`](Self::new).
    pub fn with_root_certificates_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let extra = if pem.is_empty() { Vec::new() } else { pem::certificates(pem)? };
        Self::build(&extra)
    }

    #[cfg(feature = "__rustls")]
    fn build(extra_roots: &[Vec<u8>]) -> Result<Self, TlsError> {
        Ok(Self { inner: Inner::Rustls(rustls_config::client_config(extra_roots)?) })
    }

    #[cfg(all(feature = "native-tls", not(feature = "__rustls")))]
    fn build(extra_roots: &[Vec<u8>]) -> Result<Self, TlsError> {
        Ok(Self { inner: Inner::NativeTls(native::connector(extra_roots)?) })
    }

    #[cfg(not(any(feature = "__rustls", feature = "native-tls")))]
    fn build(_extra_roots: &[Vec<u8>]) -> Result<Self, TlsError> {
        Err(TlsError::NotEnabled)
    }

    /// Your own rustls configuration (pinned or private CAs, client
    /// certificates, a platform verifier, another crypto provider). Its ALPN
    /// list is replaced by `http/1.1` if it offers anything else (an `h2`
    /// answer would break the upgrade).
    #[cfg(feature = "__rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn rustls(config: std::sync::Arc<::rustls::ClientConfig>) -> Self {
        Self { inner: Inner::Rustls(rustls_config::with_http11_alpn(config)) }
    }

    /// Your own native-tls connector. Build it with
    /// `.request_alpns(&["http/1.1"])` (or no ALPN at all): a server that
    /// picked `h2` could not answer the upgrade request.
    #[cfg(feature = "native-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-tls")))]
    pub fn native_tls(connector: ::native_tls::TlsConnector) -> Self {
        Self { inner: Inner::NativeTls(connector) }
    }

    /// Which library this connector uses: `"rustls"` or `"native-tls"`.
    pub fn library(&self) -> &'static str {
        match self.inner {
            #[cfg(feature = "__rustls")]
            Inner::Rustls(_) => "rustls",
            #[cfg(feature = "native-tls")]
            Inner::NativeTls(_) => "native-tls",
            #[cfg(not(any(feature = "__rustls", feature = "native-tls")))]
            Inner::None(never) => match never {},
        }
    }

    /// The process-wide default connector, built on first use (loading the
    /// root store once, not per connection).
    #[cfg_attr(not(any(feature = "__rustls", feature = "native-tls")), allow(unreachable_code))]
    pub(crate) fn shared_default() -> Result<Self, TlsError> {
        static DEFAULT: OnceLock<TlsConnector> = OnceLock::new();
        if let Some(connector) = DEFAULT.get() {
            return Ok(connector.clone());
        }
        let connector = Self::new()?;
        Ok(DEFAULT.get_or_init(|| connector).clone())
    }

    /// The rustls configuration, if this connector uses rustls.
    #[cfg(feature = "__rustls")]
    pub(crate) fn rustls_config(&self) -> Option<&std::sync::Arc<::rustls::ClientConfig>> {
        match &self.inner {
            Inner::Rustls(config) => Some(config),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The native-tls connector, if this connector uses native-tls.
    #[cfg(feature = "native-tls")]
    pub(crate) fn native_connector(&self) -> Option<&::native_tls::TlsConnector> {
        match &self.inner {
            Inner::NativeTls(connector) => Some(connector),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// Why a TLS connection could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The URL is `wss://`, and this build of rfc6455 has no TLS library.
    #[error(
        "wss:// needs TLS, which this build of rfc6455 leaves out: turn on its `rustls` feature (or `native-tls`), \
         or connect a TLS stream yourself and use client()"
    )]
    NotEnabled,
    /// No root certificate could be loaded, so no server could be trusted.
    #[error(
        "no root certificates to trust ({0}): install the system's CA certificates (ca-certificates), \
         point SSL_CERT_FILE at a PEM bundle, turn on the `rustls-webpki-roots` feature, or pass roots to \
         TlsConnector::with_root_certificates_pem"
    )]
    NoRootCertificates(String),
    /// A certificate given as PEM could not be read.
    #[error("invalid PEM certificate: {0}")]
    InvalidPem(String),
    /// The URL's host cannot be a TLS server name.
    #[error("{0:?} cannot be a TLS server name (a DNS name or an IP address is needed)")]
    InvalidServerName(String),
    /// The TLS library refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
    /// The TLS handshake with the server failed: most often its certificate
    /// is not trusted (unknown CA, another host's name, expired).
    #[error("TLS handshake with {host} failed: {source}{}", hint(source.as_ref()))]
    Handshake {
        /// The server's host, as in the URL.
        host: String,
        /// What the TLS library reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl TlsError {
    /// True if the server's certificate was refused (untrusted issuer,
    /// another name, expired, revoked...), as opposed to a broken connection
    /// or a protocol failure.
    pub fn is_certificate_error(&self) -> bool {
        match self {
            Self::Handshake { source, .. } => is_certificate_problem(source.as_ref()),
            _ => false,
        }
    }
}

/// A hint after a handshake failure that is the certificate's: what to
/// check for the reason rustls gives, a general one otherwise.
fn hint(source: &(dyn std::error::Error + Send + Sync + 'static)) -> &'static str {
    if !is_certificate_problem(source) {
        return "";
    }
    #[cfg(feature = "__rustls")]
    if let Some(::rustls::Error::InvalidCertificate(problem)) = source.downcast_ref::<::rustls::Error>() {
        use ::rustls::CertificateError::{
            Expired, ExpiredContext, NotValidForName, NotValidForNameContext, UnknownIssuer,
        };
        match problem {
            UnknownIssuer => {
                return " (no trusted CA signed the server's certificate: to trust a private CA, use \
                        TlsConnector::with_root_certificates_pem, or add it to the system's store)";
            }
            NotValidForName | NotValidForNameContext { .. } => {
                return " (the certificate is another host's: check the host name in the URL)";
            }
            Expired | ExpiredContext { .. } => {
                return " (the server's certificate has expired, or this machine's clock is wrong)";
            }
            _ => {}
        }
    }
    " (the server's certificate was refused: check the host name in the URL and the certificate's dates; \
     to trust a private CA, use TlsConnector::with_root_certificates_pem)"
}

fn is_certificate_problem(source: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let mut error: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(current) = error {
        #[cfg(feature = "__rustls")]
        if let Some(::rustls::Error::InvalidCertificate(_)) = current.downcast_ref::<::rustls::Error>() {
            return true;
        }
        let text = current.to_string().to_ascii_lowercase();
        if text.contains("certificate verify failed") || text.contains("invalid peer certificate") {
            return true;
        }
        error = current.source();
    }
    false
}

/// The TLS server name for `host` (a DNS name or an IP literal, without brackets).
#[cfg(feature = "__rustls")]
pub(crate) fn server_name(host: &str) -> Result<rustls_pki_types::ServerName<'static>, TlsError> {
    rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName(host.to_owned()))
}

/// The error for a failed TLS handshake with `host`. An I/O error that
/// carries the TLS library's own error becomes [`TlsError::Handshake`] with
/// that error; a plain I/O error (a reset, a timeout) stays an I/O error, so
/// that timeouts are still reported as such.
#[cfg(any(feature = "__rustls", feature = "native-tls"))]
pub(crate) fn handshake_failed<E>(host: &str, err: E) -> crate::io::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let source: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    let source = match source.downcast::<std::io::Error>() {
        Ok(io) if io.get_ref().is_none() => return crate::io::Error::Io(*io),
        Ok(io) => io.into_inner().unwrap_or_else(|| Box::new(std::io::Error::other("TLS handshake failed"))),
        Err(other) => other,
    };
    TlsError::Handshake { host: host.to_owned(), source }.into()
}
