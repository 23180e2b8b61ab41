//! Parsing a proxy URL, `scheme://[user:password@]host[:port][/]`, and
//! redacting one for error messages.

use std::net::Ipv6Addr;

use super::{Proxy, ProxyKind};

/// How much of a URL an error message repeats.
const SHOWN_URL_LIMIT: usize = 200;

/// Parses a proxy URL as [`Proxy::parse`] documents; the error says what is
/// wrong and what to write instead.
pub(super) fn parse(url: &str) -> Result<Proxy, &'static str> {
    let (kind, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (kind_of(scheme)?, rest),
        None => (ProxyKind::Http, url),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, authority) = match rest.rsplit_once('@') {
        Some((userinfo, authority)) => (Some(userinfo), authority),
        None => (None, rest),
    };
    if rest.contains(['/', '?', '#']) {
        return Err("a proxy URL is scheme://host:port, without a path, query or fragment \
                    (percent-encode / ? # in the user or password)");
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None | Some("") => Proxy::DEFAULT_PORT,
        Some(digits) => parse_port(digits)?,
    };
    let proxy = Proxy::new(kind, host.to_owned(), port);
    let Some(userinfo) = userinfo else { return Ok(proxy) };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (user, password) = (percent_decode(user)?, percent_decode(password)?);
    if user.is_empty() && password.is_empty() {
        return Ok(proxy);
    }
    Ok(proxy.with_credentials(user, password))
}

/// `url` for an error message: anything before an `@` (user and password)
/// replaced by `***`, and cut to [`SHOWN_URL_LIMIT`] bytes.
pub(super) fn redact(url: &str) -> String {
    let mut shown = match url.rsplit_once('@') {
        Some((before, host)) => {
            let scheme = before.split_once("://").map_or("", |(scheme, _)| scheme);
            if scheme.is_empty() {
                format!("***@{host}")
            } else {
                format!("{scheme}://***@{host}")
            }
        }
        None => url.to_owned(),
    };
    if shown.len() > SHOWN_URL_LIMIT {
        let mut end = SHOWN_URL_LIMIT;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push_str("...");
    }
    shown
}

fn kind_of(scheme: &str) -> Result<ProxyKind, &'static str> {
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" => Ok(ProxyKind::Http),
        "socks5" | "socks5h" => Ok(ProxyKind::Socks5),
        "https" => Err("https:// proxies (TLS to the proxy itself) are not supported: use http:// \
                        (a wss:// connection still runs TLS end to end inside the tunnel)"),
        "socks4" | "socks4a" => Err("SOCKS4 is not supported: use socks5:// or socks5h://"),
        _ => Err("unsupported proxy scheme: use http://, socks5:// or socks5h://"),
    }
}

/// Splits `host[:port]` or `[ipv6][:port]`; the host comes without brackets.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (ipv6, after) = rest.split_once(']').ok_or("the [IPv6] host has no closing bracket")?;
        if ipv6.parse::<Ipv6Addr>().is_err() {
            return Err("the host in brackets is not an IPv6 address");
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("unexpected text after the [IPv6] host: expected :port")?),
        };
        return Ok((ipv6, port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("the proxy URL has no host");
    }
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err("the host may only hold letters, digits, '-', '.' and '_' (IPv6 addresses go in brackets)");
    }
    Ok((host, port))
}

fn parse_port(digits: &str) -> Result<u16, &'static str> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number");
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err("the port must be between 1 and 65535"),
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, &'static str> {
    const BAD_ESCAPE: &str = "a % in the user or password must be followed by two hex digits (write % as %25)";
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = after.get(..2).and_then(|hex| std::str::from_utf8(hex).ok()).ok_or(BAD_ESCAPE)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BAD_ESCAPE);
            }
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| BAD_ESCAPE)?);
            rest = after.get(2..).unwrap_or_default();
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).map_err(|_| "the user or password is not UTF-8 once percent-decoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(url: &str) -> Proxy {
        parse(url).unwrap_or_else(|err| panic!("{url}: {err}"))
    }

    #[test]
    fn schemes_hosts_and_ports() {
        let cases = [
            ("http://proxy.corp:3128", ProxyKind::Http, "proxy.corp", 3128),
            ("HTTP://proxy.corp:3128/", ProxyKind::Http, "proxy.corp", 3128),
            ("http://proxy.corp", ProxyKind::Http, "proxy.corp", 1080),
            ("http://proxy.corp:", ProxyKind::Http, "proxy.corp", 1080),
            ("proxy.corp:3128", ProxyKind::Http, "proxy.corp", 3128),
            ("proxy.corp", ProxyKind::Http, "proxy.corp", 1080),
            ("socks5://127.0.0.1:1080", ProxyKind::Socks5, "127.0.0.1", 1080),
            ("socks5h://gw_1.example:9050/", ProxyKind::Socks5, "gw_1.example", 9050),
            ("Socks5h://gw", ProxyKind::Socks5, "gw", 1080),
            ("http://[::1]:3128", ProxyKind::Http, "::1", 3128),
            ("socks5://[fd00::7]/", ProxyKind::Socks5, "fd00::7", 1080),
            ("http://p:65535", ProxyKind::Http, "p", 65535),
        ];
        for (url, kind, host, port) in cases {
            let proxy = parse_ok(url);
            assert_eq!((proxy.kind(), proxy.host(), proxy.port(), proxy.user()), (kind, host, port, None), "{url}");
        }
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let proxy = parse_ok("socks5://user:pw@127.0.0.1:1080");
        let creds = proxy.credentials().unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("user", "pw"));

        let proxy = parse_ok("http://a%40b%3Ac:p%25%2F%3f%23w@h:1");
        let creds = proxy.credentials().unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("a@b:c", "p%/?#w"));

        // A raw '@' or ':' in the password is kept: the last '@' ends the credentials.
        let creds = parse_ok("http://u:p@:ss@h").credentials().cloned().unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("u", "p@:ss"));

        let creds = parse_ok("http://u@h").credentials().cloned().unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("u", ""));
        let creds = parse_ok("http://%C3%A9t%C3%A9:x@h").credentials().cloned().unwrap();
        assert_eq!(creds.user, "été");

        assert!(parse_ok("http://@h:1").credentials().is_none());
        assert!(parse_ok("http://:@h:1").credentials().is_none());
    }

    #[test]
    fn refusals_name_what_is_unsupported() {
        let cases = [
            ("https://proxy:443", "https:// proxies"),
            ("socks4://proxy", "SOCKS4"),
            ("socks4a://proxy", "SOCKS4"),
            ("ftp://proxy", "unsupported proxy scheme"),
            ("socks://proxy", "unsupported proxy scheme"),
            ("http://proxy/path", "without a path"),
            ("http://proxy:1?q", "without a path"),
            ("http://proxy#f", "without a path"),
            ("http://u:p/w@proxy", "without a path"),
            ("http://", "no host"),
            ("http://:3128", "no host"),
            ("http://pro xy", "letters, digits"),
            ("http://proxy:0", "between 1 and 65535"),
            ("http://proxy:65536", "between 1 and 65535"),
            ("http://proxy:x", "must be a number"),
            ("http://proxy:+1", "must be a number"),
            ("http://[::1", "closing bracket"),
            ("http://[zz::1]:1", "not an IPv6"),
            ("http://[1.2.3.4]:1", "not an IPv6"),
            ("http://[::1]x", "expected :port"),
            ("http://u:%4@h", "two hex digits"),
            ("http://u:%zz@h", "two hex digits"),
            ("http://u:%@h", "two hex digits"),
            ("http://%ff:x@h", "not UTF-8"),
        ];
        for (url, needle) in cases {
            let err = parse(url).err().unwrap_or_else(|| panic!("{url} parsed"));
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn redaction_hides_credentials_and_bounds_length() {
        assert_eq!(redact("socks5://user:pw@127.0.0.1:1080"), "socks5://***@127.0.0.1:1080");
        assert_eq!(redact("u:p@@host"), "***@host");
        assert_eq!(redact("http://h:1"), "http://h:1");
        let long = format!("http://{}", "é".repeat(300));
        let shown = redact(&long);
        assert!(shown.len() <= SHOWN_URL_LIMIT + 3 && shown.ends_with("..."), "{}", shown.len());
    }
}
