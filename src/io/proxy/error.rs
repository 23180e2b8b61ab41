//! [`ProxyError`]: a proxy URL that cannot be used, or a tunnel that did not
//! open, with what to do about it.

use std::io;

use http::StatusCode;

/// A proxy URL could not be used, or the proxy did not open the tunnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A proxy URL, given to [`Proxy::parse`](super::Proxy::parse) or read
    /// from an environment variable, is not one this crate can use.
    #[error("invalid proxy URL {url:?}{}: {reason}", in_variable(*.variable))]
    InvalidUrl {
        /// The URL as given, with any user and password replaced by `***`
        /// (and cut short if very long).
        url: String,
        /// The environment variable it came from, if any (`HTTPS_PROXY`, ...).
        variable: Option<&'static str>,
        /// What is wrong with it, and what to write instead.
        reason: &'static str,
    },
    /// The HTTP proxy answered the `CONNECT` request with a status other
    /// than 2xx.
    #[error("the HTTP proxy refused the tunnel with {}: {}", status_line(*.status, .reason), refusal_hint(*.status))]
    Refused {
        /// The proxy's status code (see [`ProxyError::status`]).
        status: StatusCode,
        /// The reason phrase as the proxy sent it, trimmed and cut to 128
        /// bytes (empty if it sent none).
        reason: String,
    },
    /// The SOCKS5 proxy answered the `CONNECT` request with a failure
    /// (RFC 1928 §6).
    #[error("the SOCKS5 proxy could not open the tunnel: {} (reply {reply:#04x}); {}", socks_reply_meaning(*.reply), socks_reply_hint(*.reply))]
    SocksRefused {
        /// The `REP` byte: 1 general failure, 2 not allowed by the proxy's
        /// rules, 3 network unreachable, 4 host unreachable, 5 connection
        /// refused, 6 TTL expired, 7 command not supported, 8 address type
        /// not supported.
        reply: u8,
    },
    /// The SOCKS5 proxy accepts none of the authentication methods offered:
    /// none without credentials, username/password with them.
    #[error(
        "the SOCKS5 proxy accepts none of the authentication methods offered (username/password when credentials \
         are set, none otherwise): add credentials to the proxy URL if it needs them, remove them if it does not \
         (GSSAPI is not supported)"
    )]
    SocksNoAcceptableAuth,
    /// The SOCKS5 proxy asked for a username and password and none were
    /// given, or it rejected the ones given (RFC 1929).
    #[error(
        "the SOCKS5 proxy rejected the username and password, or asked for them and none were given: check the \
         credentials (socks5://user:password@host:port, or Proxy::with_credentials)"
    )]
    SocksAuthFailed,
    /// The proxy's answer broke its protocol (HTTP/1.1 or SOCKS5); the
    /// text says how.
    #[error(
        "the proxy's answer is malformed ({0}): check that the proxy URL's scheme matches the proxy (http:// for \
         an HTTP proxy, socks5:// for SOCKS5) and that the port is the proxy's"
    )]
    Malformed(&'static str),
    /// The proxy closed the connection before the tunnel was open.
    #[error(
        "the proxy closed the connection before the tunnel was open: check the proxy's address, its logs, and \
         whether it allows this target"
    )]
    Closed,
    /// A name or credential is longer than SOCKS5 can carry (255 bytes);
    /// nothing was sent to the proxy.
    #[error("the {field} is {len} bytes long; SOCKS5 carries at most 255: shorten it, or use an HTTP proxy")]
    TooLong {
        /// What is too long: `target host name`, `SOCKS5 username` or
        /// `SOCKS5 password`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The target host cannot be put in a tunnel request; nothing was sent
    /// to the proxy.
    #[error("cannot ask the proxy for a tunnel to this target: {0}")]
    InvalidTarget(&'static str),
}

impl ProxyError {
    /// The HTTP proxy's status for [`Refused`](Self::Refused) (for example
    /// `407 Proxy Authentication Required`), `None` for every other error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// An [`InvalidUrl`](Self::InvalidUrl) for `url`, redacted.
    pub(crate) fn invalid_url(url: &str, variable: Option<&'static str>, reason: &'static str) -> Self {
        Self::InvalidUrl { url: super::url::redact(url), variable, reason }
    }

    /// The `io::ErrorKind` this error becomes in an `io::Error`.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::Refused { status, .. }
                if *status == StatusCode::PROXY_AUTHENTICATION_REQUIRED || *status == StatusCode::FORBIDDEN =>
            {
                io::ErrorKind::PermissionDenied
            }
            Self::SocksRefused { reply: 2 } | Self::SocksNoAcceptableAuth | Self::SocksAuthFailed => {
                io::ErrorKind::PermissionDenied
            }
            Self::SocksRefused { reply: 3 } => io::ErrorKind::NetworkUnreachable,
            Self::SocksRefused { reply: 4 } => io::ErrorKind::HostUnreachable,
            Self::SocksRefused { reply: 6 } => io::ErrorKind::TimedOut,
            Self::Refused { .. } | Self::SocksRefused { .. } => io::ErrorKind::ConnectionRefused,
            Self::Malformed(_) => io::ErrorKind::InvalidData,
            Self::Closed => io::ErrorKind::UnexpectedEof,
            Self::InvalidUrl { .. } | Self::TooLong { .. } | Self::InvalidTarget(_) => io::ErrorKind::InvalidInput,
        }
    }
}

fn in_variable(variable: Option<&'static str>) -> String {
    variable.map(|name| format!(" in {name} (fix or unset the variable)")).unwrap_or_default()
}

fn status_line(status: StatusCode, reason: &str) -> String {
    let reason = if reason.is_empty() { status.canonical_reason().unwrap_or("") } else { reason };
    format!("{} {reason}", status.as_u16()).trim_end().to_owned()
}

fn refusal_hint(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
            "the proxy wants credentials, or rejected the ones given: set them in the proxy URL \
             (http://user:password@host:port) or with Proxy::with_credentials"
        }
        StatusCode::FORBIDDEN => {
            "the proxy's rules forbid a tunnel to this host or port (many proxies allow CONNECT to port 443 only): \
             ask its administrator, or bypass the proxy for this host with NO_PROXY"
        }
        _ => "check the proxy's logs, or bypass the proxy for this host with NO_PROXY",
    }
}

fn socks_reply_meaning(reply: u8) -> &'static str {
    match reply {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by the proxy's ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused by the target",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    }
}

fn socks_reply_hint(reply: u8) -> &'static str {
    match reply {
        2 => "ask the proxy's administrator to allow this target, or bypass the proxy with NO_PROXY",
        3..=6 => "check the target's host and port, and that the proxy can reach it",
        7 | 8 => "the proxy does not support what was asked: try another proxy",
        _ => "check the proxy's logs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let err = ProxyError::Refused { status: StatusCode::PROXY_AUTHENTICATION_REQUIRED, reason: String::new() };
        let text = err.to_string();
        assert!(
            text.starts_with("the HTTP proxy refused the tunnel with 407 Proxy Authentication Required: "),
            "{text}"
        );
        assert!(text.contains("credentials"), "{text}");
        assert_eq!(err.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED));

        let err = ProxyError::Refused { status: StatusCode::FORBIDDEN, reason: "Nope".into() };
        let text = err.to_string();
        assert!(text.contains("403 Nope") && text.contains("forbid"), "{text}");

        let odd = StatusCode::from_u16(599).unwrap();
        let text = ProxyError::Refused { status: odd, reason: String::new() }.to_string();
        assert!(text.contains("with 599: check the proxy's logs"), "{text}");
        assert_eq!(ProxyError::Closed.status(), None);
    }

    #[test]
    fn socks_replies_are_spelled_out() {
        let expected = [
            (1, "general SOCKS server failure"),
            (2, "not allowed"),
            (3, "network unreachable"),
            (4, "host unreachable"),
            (5, "connection refused"),
            (6, "TTL expired"),
            (7, "command not supported"),
            (8, "address type not supported"),
            (9, "unknown"),
            (0xff, "unknown"),
        ];
        for (reply, meaning) in expected {
            let text = ProxyError::SocksRefused { reply }.to_string();
            assert!(text.contains(meaning), "{text}");
            assert!(text.contains(&format!("{reply:#04x}")), "{text}");
        }
    }

    #[test]
    fn invalid_url_names_the_variable_and_hides_the_password() {
        let err = ProxyError::invalid_url("socks4://bob:hunter2@h", Some("ALL_PROXY"), "SOCKS4 is not supported");
        let text = err.to_string();
        assert!(text.contains("ALL_PROXY") && text.contains("SOCKS4"), "{text}");
        assert!(!text.contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{text}");
        let text = ProxyError::invalid_url("ftp://h", None, "x").to_string();
        assert_eq!(text, "invalid proxy URL \"ftp://h\": x");
    }

    #[test]
    fn io_kinds() {
        use io::ErrorKind::*;
        let refused = |code| ProxyError::Refused { status: StatusCode::from_u16(code).unwrap(), reason: String::new() };
        let cases = [
            (refused(407), PermissionDenied),
            (refused(403), PermissionDenied),
            (refused(502), ConnectionRefused),
            (ProxyError::SocksRefused { reply: 5 }, ConnectionRefused),
            (ProxyError::SocksRefused { reply: 2 }, PermissionDenied),
            (ProxyError::SocksRefused { reply: 4 }, HostUnreachable),
            (ProxyError::SocksAuthFailed, PermissionDenied),
            (ProxyError::Malformed("x"), InvalidData),
            (ProxyError::Closed, UnexpectedEof),
            (ProxyError::TooLong { field: "f", len: 300 }, InvalidInput),
        ];
        for (err, kind) in cases {
            let text = err.to_string();
            let io_err = io::Error::from(crate::io::Error::from(err));
            assert_eq!(io_err.kind(), kind, "{text}");
            assert_eq!(io_err.to_string(), text);
        }
    }
}
