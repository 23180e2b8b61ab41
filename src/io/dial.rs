//! [`Dialer`]: how a client reaches its server (directly or through a proxy) and which TLS it uses; the route each dial follows.

use std::io;

use super::proxy::{Proxy, ProxyEnv};
use super::{Error, TlsConnector, TlsError};
use crate::handshake::ClientRequest;

/// How a client reaches its server: which proxy, if any, and which TLS
/// configuration for `wss://`. The connect functions without a dialer use
/// [`Dialer::new`]: no proxy, the default TLS configuration.
///
/// ```no_run
/// # fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use rfc6455::io::{blocking, Dialer};
/// use rfc6455::io::proxy::Proxy;
/// // Through a proxy given explicitly ...
/// let dialer = Dialer::new().proxy(Proxy::parse("http://user:pass@proxy.internal:3128")?);
/// // ... or as the environment says (HTTPS_PROXY, NO_PROXY, ... as curl reads them).
/// let dialer = Dialer::new().proxy_from_env()?;
/// let (ws, _) = blocking::connect_with_dialer("wss://example.com/feed", &Default::default(), &dialer)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    tls: Option<TlsConnector>,
    proxy: ProxyChoice,
}

#[derive(Debug, Clone, Default)]
enum ProxyChoice {
    /// Connect directly (the default: proxies only when asked for).
    #[default]
    Direct,
    /// Every connection through this proxy.
    Always(Proxy),
    /// As the environment's variables say, per target.
    Env(ProxyEnv),
}

impl Dialer {
    /// Direct connections, the default TLS configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `connector` for `wss://` (your roots, your rustls or native-tls
    /// configuration) instead of the shared default.
    pub fn tls(mut self, connector: TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Sends every connection through `proxy` (HTTP CONNECT or SOCKS5), TLS
    /// for `wss://` running end to end through the tunnel.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyChoice::Always(proxy);
        self
    }

    /// Chooses a proxy per connection as `env` says (see [`ProxyEnv`]).
    pub fn proxy_env(mut self, env: ProxyEnv) -> Self {
        self.proxy = ProxyChoice::Env(env);
        self
    }

    /// Chooses a proxy per connection as the process environment says:
    /// `https_proxy` for `wss://`, `http_proxy` for `ws://`, `all_proxy`
    /// for both, `no_proxy` for the hosts to reach directly (upper-case
    /// names too; see [`ProxyEnv::from_env`]). Read now, once.
    ///
    /// # Errors
    ///
    /// A variable that is set but is not a proxy URL we can use.
    pub fn proxy_from_env(self) -> Result<Self, super::proxy::ProxyError> {
        Ok(self.proxy_env(ProxyEnv::from_env()?))
    }

    /// The proxy a connection to `host:port` would go through, if any.
    pub fn proxy_for(&self, host: &str, port: u16, secure: bool) -> Option<&Proxy> {
        match &self.proxy {
            ProxyChoice::Direct => None,
            ProxyChoice::Always(proxy) => Some(proxy),
            ProxyChoice::Env(env) => env.proxy_for(host, port, secure),
        }
    }

    /// The TLS configuration for `wss://`: this dialer's, or the shared default.
    pub(crate) fn tls_connector(&self) -> Result<TlsConnector, TlsError> {
        match &self.tls {
            Some(connector) => Ok(connector.clone()),
            None => TlsConnector::shared_default(),
        }
    }

    /// Where a dial for `request` goes first.
    pub(crate) fn route<'a>(&'a self, request: &'a ClientRequest) -> Route<'a> {
        match self.proxy_for(request.host(), request.port(), request.is_secure()) {
            Some(proxy) => Route { host: proxy.host(), port: proxy.port(), proxy: Some(proxy) },
            None => Route { host: request.host(), port: request.port(), proxy: None },
        }
    }
}

/// The first hop of a dial: the TCP connection's address, and the proxy it
/// reaches, whose tunnel then leads to the server.
#[derive(Debug)]
pub(crate) struct Route<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) proxy: Option<&'a Proxy>,
}

impl Route<'_> {
    /// The error for a TCP connection that failed: one to a proxy says so.
    pub(crate) fn unreachable(&self, err: io::Error) -> Error {
        match self.proxy {
            Some(proxy) => io::Error::new(
                err.kind(),
                format!("could not reach the proxy {}:{}: {err}", proxy.host(), proxy.port()),
            )
            .into(),
            None => err.into(),
        }
    }
}
