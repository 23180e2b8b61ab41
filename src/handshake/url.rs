//! Parsing `ws://` and `wss://` URLs (RFC 6455 §3) into what a handshake needs.
//!
//! Deliberately small: scheme, host (names, IPv4, bracketed IPv6), port, and
//! the request target (path and query). Fragments are refused, as §3 requires;
//! credentials are refused with a hint to send an `Authorization` header.
//! Bytes a request target may not contain (spaces, controls, non-ASCII) are
//! percent-encoded, as browsers do.

use crate::UsageError;

/// The parts of a WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsUrl {
    pub(crate) secure: bool,
    /// The host as written, IPv6 literals without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, percent-encoded where needed; at least "/".
    pub(crate) target: String,
}

impl WsUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, UsageError> {
        let (scheme, rest) =
            url.split_once("://").ok_or(UsageError::InvalidUrl("expected ws://host/path or wss://host/path"))?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UsageError::InvalidUrl("the scheme must be ws or wss"));
        };
        if rest.contains('#') {
            return Err(UsageError::InvalidUrl("WebSocket URLs may not have a #fragment"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UsageError::InvalidUrl(
                "credentials in the URL are not supported; send an Authorization header instead",
            ));
        }
        let (host, port) = split_host_port(authority)?;
        let default_port = if secure { 443 } else { 80 };
        let port = match port {
            None | Some("") => default_port,
            Some(digits) => parse_port(digits)?,
        };
        let mut encoded = String::with_capacity(target.len() + 1);
        if !target.starts_with('/') {
            encoded.push('/');
        }
        percent_encode_into(target, &mut encoded);
        Ok(Self { secure, host: host.to_owned(), port, target: encoded })
    }

    /// The `Host` header value: the host (bracketed if IPv6) and the port
    /// unless it is the scheme's default.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UsageError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (ipv6, after) = rest.split_once(']').ok_or(UsageError::InvalidUrl("unterminated [IPv6] host"))?;
        let valid = ipv6.contains(':') && ipv6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(UsageError::InvalidUrl("invalid IPv6 address in brackets"));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UsageError::InvalidUrl("unexpected text after the [IPv6] host"))?),
        };
        return Ok((ipv6, port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UsageError::InvalidUrl("the URL has no host"));
    }
    let valid = host.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    });
    if !valid {
        return Err(UsageError::InvalidUrl("the host contains characters a host name may not have"));
    }
    Ok((host, port))
}

fn parse_port(digits: &str) -> Result<u16, UsageError> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UsageError::InvalidUrl("the port must be a number"));
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(UsageError::InvalidUrl("the port must be between 1 and 65535")),
    }
}

fn percent_encode_into(target: &str, out: &mut String) {
    for byte in target.bytes() {
        if (0x21..=0x7E).contains(&byte) && byte != b'"' && byte != b'<' && byte != b'>' && byte != b'`' {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xF));
        }
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).map_or('0', |c| c.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> WsUrl {
        WsUrl::parse(url).unwrap()
    }

    #[test]
    fn parts_and_defaults() {
        let url = parse("ws://example.com/chat?room=1");
        assert_eq!(
            (url.secure, url.host.as_str(), url.port, url.target.as_str()),
            (false, "example.com", 80, "/chat?room=1")
        );
        assert_eq!(url.host_header(), "example.com");

        let url = parse("WSS://example.com");
        assert_eq!((url.secure, url.port, url.target.as_str()), (true, 443, "/"));

        let url = parse("ws://example.com:9001?x");
        assert_eq!((url.port, url.target.as_str()), (9001, "/?x"));
        assert_eq!(url.host_header(), "example.com:9001");

        assert_eq!(parse("wss://h:443/").host_header(), "h");
        assert_eq!(parse("ws://h:/").port, 80);
    }

    #[test]
    fn ipv6_literals() {
        let url = parse("ws://[::1]:9001/x");
        assert_eq!((url.host.as_str(), url.port), ("::1", 9001));
        assert_eq!(url.host_header(), "[::1]:9001");
        assert_eq!(parse("wss://[2001:db8::7]").host_header(), "[2001:db8::7]");
        assert!(WsUrl::parse("ws://[::1/").is_err());
        assert!(WsUrl::parse("ws://[zz::1]/").is_err());
        assert!(WsUrl::parse("ws://[::1]x/").is_err());
    }

    #[test]
    fn refusals() {
        for bad in [
            "http://example.com/",
            "example.com",
            "ws:///path",
            "ws://example.com/#frag",
            "ws://user:pw@example.com/",
            "ws://example.com:0/",
            "ws://example.com:65536/",
            "ws://example.com:x/",
            "ws://exa mple.com/",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_is_percent_encoded() {
        assert_eq!(parse("ws://h/a b/ü?q=\"x\"").target, "/a%20b/%C3%BC?q=%22x%22");
    }
}
