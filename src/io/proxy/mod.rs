//! Reaching a WebSocket server through a proxy: an HTTP `CONNECT` tunnel
//! (RFC 9110 §9.3.6) or a SOCKS5 tunnel (RFC 1928, with RFC 1929
//! username/password authentication).
//!
//! * [`Proxy`]: which proxy, parsed from a URL (`http://`, `socks5://`,
//!   `socks5h://`) or built with [`Proxy::http`] and [`Proxy::socks5`].
//! * [`ProxyEnv`]: the proxy settings of the environment (`https_proxy`,
//!   `http_proxy`, `all_proxy`, `no_proxy`), read as curl reads them, and
//!   which proxy (if any) a given target goes through.
//! * [`ProxyError`]: what went wrong while parsing a proxy URL or opening a
//!   tunnel, with advice on what to change.
//!
//! The tunnels themselves are sans-IO state machines that the adapters run
//! over the TCP stream to the proxy before TLS and the WebSocket handshake;
//! nothing here opens a socket. Both ask the proxy to resolve the target's
//! name (remote DNS), so a name that only the proxy can resolve works.
//!
//! ```
//! use rfc6455::io::proxy::{Proxy, ProxyEnv, ProxyKind};
//!
//! let proxy = Proxy::parse("socks5://user:pw@127.0.0.1:1080")?;
//! assert_eq!(proxy.kind(), ProxyKind::Socks5);
//! assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 1080));
//! // The password never appears in logs.
//! assert!(!format!("{proxy:?}").contains("pw"));
//!
//! // The environment, here from a map instead of the process's variables.
//! let env = ProxyEnv::from_vars(|name| match name {
//!     "https_proxy" => Some("http://proxy.corp:3128".to_owned()),
//!     "no_proxy" => Some("localhost,.internal.corp".to_owned()),
//!     _ => None,
//! })?;
//! let chosen = env.proxy_for("example.com", 443, true).expect("wss:// goes through https_proxy");
//! assert_eq!((chosen.kind(), chosen.host(), chosen.port()), (ProxyKind::Http, "proxy.corp", 3128));
//! assert!(env.proxy_for("db.internal.corp", 443, true).is_none(), "no_proxy");
//! assert!(env.proxy_for("example.com", 80, false).is_none(), "no http_proxy for ws://");
//! # Ok::<(), rfc6455::io::proxy::ProxyError>(())
//! ```

mod env;
mod error;
mod http_connect;
mod no_proxy;
mod socks5;
#[cfg(test)]
mod testing;
mod tunnel;
mod url;

use std::fmt;
use std::str::FromStr;

pub use env::ProxyEnv;
pub use error::ProxyError;
pub(crate) use tunnel::Tunnel;

/// A proxy to open a tunnel through: its kind, address and optional
/// credentials.
///
/// Its `Debug` shows the user name but never the password (`"***"`).
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    /// The host as written, IPv6 literals without brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
}

/// A user name and password for the proxy.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

/// The kind of tunnel a [`Proxy`] opens.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// An HTTP proxy: the tunnel is a `CONNECT host:port` request
    /// (RFC 9110 §9.3.6). URL scheme `http://`.
    Http,
    /// A SOCKS5 proxy (RFC 1928) that resolves the target's name itself.
    /// URL schemes `socks5://` and `socks5h://`.
    Socks5,
}

impl Proxy {
    /// The port a proxy URL without one gets, as with curl.
    pub const DEFAULT_PORT: u16 = 1080;

    /// Parses a proxy URL:
    ///
    /// * `http://[user:pass@]host[:port]`: an HTTP `CONNECT` tunnel;
    /// * `socks5://[user:pass@]host[:port]` and `socks5h://...`: SOCKS5.
    ///   Both ask the proxy to resolve the target's name (remote DNS).
    ///
    /// The scheme is case-insensitive; a URL without one (`proxy:3128`) is
    /// `http://`, as with curl. The port defaults to 1080
    /// ([`DEFAULT_PORT`](Self::DEFAULT_PORT)), as with curl, for every
    /// scheme. User and password are percent-decoded (write `@` as `%40`,
    /// `:` in the user as `%3A`). IPv6 hosts go in brackets
    /// (`http://[::1]:3128`). A trailing `/` is accepted; any other path, a
    /// query or a fragment is not.
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidUrl`], saying what is wrong, for anything else,
    /// in particular `https://` proxies (TLS to the proxy itself) and SOCKS4,
    /// which are not supported. The message never shows the password.
    pub fn parse(url: &str) -> Result<Proxy, ProxyError> {
        url::parse(url).map_err(|reason| ProxyError::invalid_url(url, None, reason))
    }

    /// An HTTP proxy at `host:port`, without credentials. An IPv6 host may
    /// be given with or without brackets.
    pub fn http(host: impl Into<String>, port: u16) -> Proxy {
        Proxy::new(ProxyKind::Http, host.into(), port)
    }

    /// A SOCKS5 proxy at `host:port`, without credentials. An IPv6 host may
    /// be given with or without brackets.
    pub fn socks5(host: impl Into<String>, port: u16) -> Proxy {
        Proxy::new(ProxyKind::Socks5, host.into(), port)
    }

    /// The same proxy, authenticating as `user` with `password`: HTTP Basic
    /// authentication (`Proxy-Authorization`) for an HTTP proxy, RFC 1929
    /// username/password for SOCKS5 (each at most 255 bytes there).
    pub fn with_credentials(self, user: impl Into<String>, password: impl Into<String>) -> Proxy {
        Proxy { credentials: Some(Credentials { user: user.into(), password: password.into() }), ..self }
    }

    /// The kind of tunnel this proxy opens.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host name or address (IPv6 without brackets): what to
    /// dial.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port: what to dial.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name sent to the proxy, if credentials are set.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|c| c.user.as_str())
    }

    /// The credentials, for the tunnels.
    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    fn new(kind: ProxyKind, host: String, port: u16) -> Proxy {
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.to_owned(),
            None => host,
        };
        Proxy { kind, host, port, credentials: None }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Proxy");
        out.field("kind", &self.kind).field("host", &self.host).field("port", &self.port);
        if let Some(credentials) = &self.credentials {
            out.field("user", &credentials.user).field("password", &"***");
        }
        out.finish()
    }
}

impl FromStr for Proxy {
    type Err = ProxyError;

    /// The same as [`Proxy::parse`].
    fn from_str(url: &str) -> Result<Proxy, ProxyError> {
        Proxy::parse(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_accessors() {
        let proxy = Proxy::http("proxy.corp", 3128);
        assert_eq!(
            (proxy.kind(), proxy.host(), proxy.port(), proxy.user()),
            (ProxyKind::Http, "proxy.corp", 3128, None)
        );
        let proxy = Proxy::socks5("[::1]", 1080).with_credentials("me", "secret");
        assert_eq!((proxy.kind(), proxy.host(), proxy.port()), (ProxyKind::Socks5, "::1", 1080));
        assert_eq!(proxy.user(), Some("me"));
        assert_eq!(Proxy::socks5("::1", 1080).host(), "::1");
        assert_eq!("socks5://h:9".parse::<Proxy>().unwrap(), Proxy::socks5("h", 9));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let proxy = Proxy::http("h", 1).with_credentials("alice", "hunter2");
        let debug = format!("{proxy:?}");
        assert!(debug.contains("alice") && debug.contains("***"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!format!("{proxy:#?}").contains("hunter2"));
        assert!(!format!("{:?}", Proxy::http("h", 1)).contains("***"));
    }
}
