//! [`ProxyEnv`]: the proxy settings of the environment, read once.

use super::no_proxy::NoProxy;
use super::{Proxy, ProxyError};

/// The proxy settings of the environment, read once, as curl reads them.
///
/// Read them with [`from_env`](Self::from_env) (the rules are there), or
/// from any source with [`from_vars`](Self::from_vars); then ask
/// [`proxy_for`](Self::proxy_for) which proxy a target goes through.
/// `Debug` never shows a password.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// `https_proxy`: for `wss://` targets.
    https: Option<Proxy>,
    /// `http_proxy`: for `ws://` targets.
    http: Option<Proxy>,
    /// `all_proxy`: for either, when the one above is not set.
    all: Option<Proxy>,
    no_proxy: NoProxy,
}

impl ProxyEnv {
    /// Reads the process environment (the one place this module touches
    /// it), as curl does:
    ///
    /// * `https_proxy` for `wss://` targets, `http_proxy` for `ws://`
    ///   targets, `all_proxy` for both when the other is not set;
    /// * each name is read in lower case first, then in upper case
    ///   (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`);
    /// * except that `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set:
    ///   in a CGI program every request header `Proxy: x` becomes the
    ///   variable `HTTP_PROXY`, so a client could pick the proxy ("httpoxy").
    ///   curl never reads `HTTP_PROXY` at all; `http_proxy` always counts;
    /// * an empty value counts as unset (the other spelling is then read);
    /// * a value without a scheme (`proxy:3128`) is `http://`; otherwise as
    ///   [`Proxy::parse`];
    /// * `no_proxy` (then `NO_PROXY`) lists the targets that bypass the
    ///   proxy: comma-separated host names (each also matching its
    ///   subdomains: `example.com` covers `a.example.com`), IP addresses,
    ///   CIDR blocks (`10.0.0.0/8`, `fd00::/8`), each optionally with
    ///   `:port`; `*` bypasses the proxy for everything. It is checked first.
    ///
    /// A value that is not valid UTF-8 is read lossily (and so is then an
    /// invalid URL).
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidUrl`], naming the variable, if a proxy variable
    /// holds a URL that [`Proxy::parse`] refuses (an `https://` or SOCKS4
    /// proxy, a bad port, ...). Invalid `no_proxy` entries are not errors:
    /// they never match.
    pub fn from_env() -> Result<ProxyEnv, ProxyError> {
        ProxyEnv::from_vars(|name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()))
    }

    /// The same as [`from_env`](Self::from_env), with the variables looked
    /// up by `lookup` instead: for tests, or an application's own
    /// configuration source. `lookup` gets the exact variable names
    /// (`https_proxy`, `HTTPS_PROXY`, `REQUEST_METHOD`, ...).
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<ProxyEnv, ProxyError> {
        let set = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let cgi = set("REQUEST_METHOD").is_some();
        let read = |lower: &'static str, upper: Option<&'static str>| -> Result<Option<Proxy>, ProxyError> {
            let found = set(lower).map(|value| (lower, value)).or_else(|| {
                let upper = upper?;
                set(upper).map(|value| (upper, value))
            });
            let Some((name, value)) = found else { return Ok(None) };
            super::url::parse(&value).map(Some).map_err(|reason| ProxyError::invalid_url(&value, Some(name), reason))
        };
        Ok(ProxyEnv {
            https: read("https_proxy", Some("HTTPS_PROXY"))?,
            http: read("http_proxy", (!cgi).then_some("HTTP_PROXY"))?,
            all: read("all_proxy", Some("ALL_PROXY"))?,
            no_proxy: set("no_proxy").or_else(|| set("NO_PROXY")).map(|list| NoProxy::parse(&list)).unwrap_or_default(),
        })
    }

    /// The proxy to use for a connection to `host:port`, or `None` to
    /// connect directly. `secure` is true for `wss://` (`https_proxy`),
    /// false for `ws://` (`http_proxy`); `all_proxy` is the fallback for
    /// both. `no_proxy` is checked first. `host` is the target's name or
    /// address (IPv6 without brackets).
    pub fn proxy_for(&self, host: &str, port: u16, secure: bool) -> Option<&Proxy> {
        if self.no_proxy.matches(host, port) {
            return None;
        }
        let specific = if secure { &self.https } else { &self.http };
        specific.as_ref().or(self.all.as_ref())
    }

    /// True if no proxy is set, so every target is reached directly
    /// (`no_proxy` alone does not count).
    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none() && self.all.is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::io::proxy::ProxyKind;

    fn env(vars: &[(&str, &str)]) -> Result<ProxyEnv, ProxyError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ProxyEnv::from_vars(|name| vars.get(name).cloned())
    }

    fn host_for(env: &ProxyEnv, host: &str, secure: bool) -> Option<String> {
        env.proxy_for(host, 443, secure).map(|proxy| proxy.host().to_owned())
    }

    #[test]
    fn nothing_set() {
        let env = env(&[("PATH", "/bin")]).unwrap();
        assert!(env.is_empty());
        assert_eq!(env.proxy_for("example.com", 443, true), None);
        assert!(ProxyEnv::default().is_empty());
    }

    #[test]
    fn secure_uses_https_proxy_plain_uses_http_proxy_all_proxy_is_the_fallback() {
        let e =
            env(&[("https_proxy", "http://s:1"), ("http_proxy", "http://p:1"), ("all_proxy", "socks5://a:1")]).unwrap();
        assert!(!e.is_empty());
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("s"));
        assert_eq!(host_for(&e, "x", false).as_deref(), Some("p"));

        let e = env(&[("all_proxy", "socks5://a:1")]).unwrap();
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("a"));
        assert_eq!(host_for(&e, "x", false).as_deref(), Some("a"));
        assert_eq!(e.proxy_for("x", 1, true).map(Proxy::kind), Some(ProxyKind::Socks5));

        let e = env(&[("https_proxy", "http://s:1")]).unwrap();
        assert_eq!(host_for(&e, "x", false), None, "no http_proxy, no all_proxy");
    }

    #[test]
    fn lower_case_first_then_upper_case() {
        let e = env(&[("https_proxy", "http://lower:1"), ("HTTPS_PROXY", "http://upper:1")]).unwrap();
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("lower"));
        let e = env(&[("HTTPS_PROXY", "http://upper:1"), ("ALL_PROXY", "http://all:1")]).unwrap();
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("upper"));
        assert_eq!(host_for(&e, "x", false).as_deref(), Some("all"));
        let e = env(&[("HTTP_PROXY", "http://upper:1")]).unwrap();
        assert_eq!(host_for(&e, "x", false).as_deref(), Some("upper"));
    }

    #[test]
    fn empty_counts_as_unset() {
        let e = env(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:1"), ("no_proxy", "")]).unwrap();
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("upper"));
        let e = env(&[("https_proxy", ""), ("all_proxy", ""), ("ALL_PROXY", "")]).unwrap();
        assert!(e.is_empty());
        let e = env(&[("no_proxy", ""), ("NO_PROXY", "x"), ("all_proxy", "p")]).unwrap();
        assert_eq!(host_for(&e, "x", true), None);
    }

    #[test]
    fn upper_case_http_proxy_is_ignored_under_cgi() {
        let e = env(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://attacker:1")]).unwrap();
        assert_eq!(host_for(&e, "x", false), None);
        assert!(e.is_empty());
        let e = env(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://attacker:1"), ("http_proxy", "http://ok:1")])
            .unwrap();
        assert_eq!(host_for(&e, "x", false).as_deref(), Some("ok"));
        // Other upper-case names still count under CGI.
        let e = env(&[("REQUEST_METHOD", "POST"), ("HTTPS_PROXY", "http://s:1")]).unwrap();
        assert_eq!(host_for(&e, "x", true).as_deref(), Some("s"));
        // An invalid HTTP_PROXY under CGI is ignored, not an error.
        assert!(env(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "https://x")]).is_ok());
    }

    #[test]
    fn values_without_a_scheme_are_http() {
        let e = env(&[("https_proxy", "proxy.corp:3128")]).unwrap();
        let proxy = e.proxy_for("x", 443, true).unwrap();
        assert_eq!((proxy.kind(), proxy.host(), proxy.port()), (ProxyKind::Http, "proxy.corp", 3128));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("https_proxy", "https://p:1"),
            ("HTTPS_PROXY", "socks4://p"),
            ("http_proxy", "http://p:99999"),
            ("HTTP_PROXY", "ftp://p"),
            ("all_proxy", "socks5://p/x"),
            ("ALL_PROXY", "http://u:pw@[::1"),
        ] {
            let err = env(&[(name, value)]).unwrap_err();
            let ProxyError::InvalidUrl { variable, .. } = &err else { panic!("{err:?}") };
            assert_eq!(*variable, Some(name));
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(!text.contains("pw"), "{text}");
        }
    }

    #[test]
    fn no_proxy_is_checked_first() {
        let e = env(&[
            ("https_proxy", "http://s:1"),
            ("ALL_PROXY", "http://a:1"),
            ("NO_PROXY", "localhost, .corp, 10.0.0.0/8, [::1]:9001"),
        ])
        .unwrap();
        assert_eq!(host_for(&e, "localhost", true), None);
        assert_eq!(host_for(&e, "db.corp", false), None);
        assert_eq!(host_for(&e, "10.2.3.4", true), None);
        assert_eq!(e.proxy_for("::1", 9001, true), None);
        assert!(e.proxy_for("::1", 9002, true).is_some());
        assert_eq!(host_for(&e, "example.com", true).as_deref(), Some("s"));
        assert_eq!(host_for(&e, "example.com", false).as_deref(), Some("a"));

        let e = env(&[("no_proxy", "*"), ("NO_PROXY", "other"), ("all_proxy", "http://a:1")]).unwrap();
        assert_eq!(host_for(&e, "anything", true), None);
        assert!(!e.is_empty(), "no_proxy does not make the environment empty, nor does it count alone");
        assert!(env(&[("no_proxy", "*")]).unwrap().is_empty());
    }

    #[test]
    fn debug_hides_passwords() {
        let e = env(&[("all_proxy", "socks5://u:topsecret@h:1")]).unwrap();
        assert!(!format!("{e:?}").contains("topsecret"));
    }

    #[test]
    fn from_env_reads_the_process_environment() {
        // Whatever this process has, reading it must not panic; an error
        // can only be an invalid URL naming its variable.
        match ProxyEnv::from_env() {
            Ok(_) => {}
            Err(ProxyError::InvalidUrl { variable, .. }) => assert!(variable.is_some()),
            Err(other) => panic!("{other:?}"),
        }
    }
}
