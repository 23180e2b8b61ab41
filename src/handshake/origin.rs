//! Which web pages may open a WebSocket to this server: the `Origin` check
//! against cross-site WebSocket hijacking (RFC 6455 §10.2), and a
//! constant-time comparison for secrets such as tokens.

use super::{Reject, UpgradeRequest};
use crate::UsageError;

/// A policy for the `Origin` header of upgrade requests, for a server hook.
///
/// Browsers send `Origin` (the scheme, host and port of the page) with every
/// WebSocket handshake, and they send the user's cookies along whichever
/// page opened the socket: the same-origin policy does not cover
/// WebSockets. A server that trusts a session cookie without checking
/// `Origin` lets any web site the user visits talk to it as that user
/// (cross-site WebSocket hijacking). So the default policy,
/// [`same_origin`](Self::same_origin), admits a browser page only from the
/// server's own origin, plus whatever [`allow`](Self::allow) adds.
///
/// Requests without `Origin` come from programs, not browsers, and carry no
/// ambient cookies; they are admitted unless
/// [`require_origin`](Self::require_origin) is set.
///
/// ```
/// use rfc6455::handshake::{Accept, OriginPolicy, Reject, UpgradeRequest};
/// let policy = OriginPolicy::same_origin().allow("https://app.example.com")?;
/// let hook = move |request: &UpgradeRequest| -> Result<Accept, Reject> {
///     policy.check(request)?; // 403 for other sites' pages
///     Ok(Accept::new())
/// };
/// # let _ = hook;
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    same_origin: bool,
    any: bool,
    require: bool,
    allowed: Vec<Origin>,
}

impl Default for OriginPolicy {
    /// [`OriginPolicy::same_origin`].
    fn default() -> Self {
        Self::same_origin()
    }
}

impl OriginPolicy {
    /// Admits browser pages whose origin has the host and port of the
    /// request's `Host` header (the page was served by this server), and
    /// requests without `Origin`.
    pub fn same_origin() -> Self {
        Self { same_origin: true, any: false, require: false, allowed: Vec::new() }
    }

    /// Admits pages of the listed origins only (add them with
    /// [`allow`](Self::allow)), not the server's own unless listed: for an
    /// API host whose pages are served from elsewhere.
    pub fn only_listed() -> Self {
        Self { same_origin: false, ..Self::same_origin() }
    }

    /// Admits every origin. Only for endpoints that authenticate without
    /// cookies or other ambient credentials (e.g. a token sent in the first
    /// message), where a foreign page gains nothing.
    pub fn any() -> Self {
        Self { any: true, ..Self::same_origin() }
    }

    /// Also admits pages from `origin`, written as a browser sends it:
    /// `scheme://host[:port]` (`https://app.example.com`,
    /// `http://localhost:3000`). Scheme and host compare case-insensitively;
    /// a missing port is the scheme's default.
    ///
    /// Fails with [`UsageError::InvalidOrigin`] if `origin` is not of that
    /// form (a path, a query or user info are mistakes here).
    pub fn allow(mut self, origin: &str) -> Result<Self, UsageError> {
        let parsed = Origin::parse(origin).ok_or_else(|| UsageError::InvalidOrigin(origin.to_owned()))?;
        self.allowed.push(parsed);
        Ok(self)
    }

    /// Refuses requests without an `Origin` header, for endpoints only
    /// browsers use.
    pub fn require_origin(mut self) -> Self {
        self.require = true;
        self
    }

    /// Whether the policy admits `request`.
    pub fn admits(&self, request: &UpgradeRequest) -> bool {
        let Some(origin) = request.origin() else {
            return !self.require;
        };
        if self.any {
            return true;
        }
        // "null" (sandboxed frames, file: pages) and garbage match nothing.
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        self.allowed.contains(&origin) || (self.same_origin && origin.serves(request.host()))
    }

    /// `Ok(())` if the policy admits `request`, otherwise a
    /// `403 Forbidden` to return from the handshake hook (`?` does it).
    pub fn check(&self, request: &UpgradeRequest) -> Result<(), Reject> {
        if self.admits(request) {
            return Ok(());
        }
        Err(Reject::forbidden().body("origin not allowed\n"))
    }
}

/// A web origin: scheme, host (lowercase) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    secure: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` for the http(s) and ws(s) schemes.
    fn parse(text: &str) -> Option<Self> {
        let (scheme, authority) = text.split_once("://")?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return None,
        };
        let (host, port) = split_port(authority)?;
        let port = port.unwrap_or(if secure { 443 } else { 80 });
        Some(Self { secure, host: host.to_ascii_lowercase(), port })
    }

    /// Whether a page of this origin was served by the server named in a
    /// `Host` header (`host[:port]`; no port means the origin's default).
    fn serves(&self, host_header: &str) -> bool {
        let Some((host, port)) = split_port(host_header) else {
            return false;
        };
        let default = if self.secure { 443 } else { 80 };
        host.eq_ignore_ascii_case(&self.host) && port.unwrap_or(default) == self.port
    }
}

/// Splits `host[:port]` (with `[v6]` brackets kept on the host); `None` for
/// an empty host, a bad port, or anything that looks like a path, query,
/// fragment or user info.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority.get(colon..)?.contains(']') => {
            (authority.get(..colon)?, Some(authority.get(colon + 1..)?.parse().ok()?))
        }
        _ => (authority, None),
    };
    (!host.is_empty()).then_some((host, port))
}

/// Compares two secrets (tokens, API keys) in time that depends only on
/// their lengths, not on where they first differ, so that timing the
/// handshake's answer reveals nothing about a valid token (secrets of
/// different lengths are unequal at once: the length is not secret). It is
/// [`subtle::ConstantTimeEq`] on byte slices, the crate the RustCrypto
/// projects use for this. Use it instead of `==` in a handshake hook:
///
/// ```
/// use rfc6455::handshake::{secrets_equal, Accept, Reject, UpgradeRequest};
/// fn hook(request: &UpgradeRequest, token: &[u8]) -> Result<Accept, Reject> {
///     match request.bearer_token() {
///         Some(sent) if secrets_equal(sent, token) => Ok(Accept::new()),
///         _ => Err(Reject::unauthorized()),
///     }
/// }
/// ```
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_with_default_ports_and_lowercase_hosts() {
        let origin = Origin::parse("HTTPS://App.Example.COM").unwrap();
        assert_eq!(origin, Origin { secure: true, host: "app.example.com".into(), port: 443 });
        assert_eq!(Origin::parse("http://localhost:3000").unwrap().port, 3000);
        assert_eq!(Origin::parse("http://[::1]:8080").unwrap().host, "[::1]");
        assert_eq!(Origin::parse("http://[::1]").unwrap().port, 80);
        for bad in
            ["null", "example.com", "ftp://x", "http://", "http://x/path", "http://u@x", "http://x:99999", "http://x:"]
        {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        let page = Origin::parse("http://example.com").unwrap();
        assert!(page.serves("example.com"));
        assert!(page.serves("EXAMPLE.com:80"));
        assert!(!page.serves("example.com:8080"));
        assert!(!page.serves("evil.com"));
        assert!(!page.serves("example.com.evil.com"));
        let secure = Origin::parse("https://example.com:8443").unwrap();
        assert!(secure.serves("example.com:8443"));
        assert!(!secure.serves("example.com"));
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(secrets_equal(b"s3cr3t", b"s3cr3t"));
        assert!(!secrets_equal(b"s3cr3t", b"s3cr3T"));
        assert!(!secrets_equal(b"s3cr3t", b"s3cr3"));
        assert!(secrets_equal(b"", b""));
    }
}
