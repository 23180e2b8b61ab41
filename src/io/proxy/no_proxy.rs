//! The `NO_PROXY` list: which targets bypass the proxy.
//!
//! Comma-separated entries, spaces around them ignored, case-insensitive:
//!
//! * `*` bypasses the proxy for every target;
//! * a host name (`example.com`, `.example.com` or `*.example.com`) matches
//!   that host and its subdomains (`a.example.com`), never `notexample.com`;
//! * an IP address matches that address exactly, a CIDR block
//!   (`10.0.0.0/8`, `fd00::/8`) every address in it; IPv6 may be bracketed
//!   (`[::1]`). Names are not resolved: an address entry matches targets
//!   given as addresses;
//! * `:port` after any of these (`example.com:8080`, `[::1]:9001`) limits
//!   the entry to that port.
//!
//! A trailing dot on the target (`example.com.`) is ignored. Entries that
//! are not valid (`10.0.0.0/99`, `host:port` with a bad port) never match.

use std::net::IpAddr;

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    /// `*` was listed.
    everything: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    /// Only this port, if given.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A host name, lower-case, without leading or trailing dots: it and
    /// its subdomains.
    Domain(String),
    /// Addresses whose first `prefix` bits equal `addr`'s (an exact address
    /// has the full length).
    Network { addr: IpAddr, prefix: u8 },
}

impl NoProxy {
    /// Parses a comma-separated list; invalid entries are dropped.
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            if entry == "*" {
                no_proxy.everything = true;
            } else if let Some(entry) = parse_entry(entry) {
                no_proxy.entries.push(entry);
            }
        }
        no_proxy
    }

    /// True if a connection to `host:port` bypasses the proxy. `host` is a
    /// name or an address (IPv6 without brackets, though brackets are
    /// tolerated).
    pub(crate) fn matches(&self, host: &str, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| {
            entry.port.is_none_or(|only| only == port)
                && match &entry.pattern {
                    Pattern::Domain(name) => ip.is_none() && is_within(host, name),
                    Pattern::Network { addr, prefix } => ip.is_some_and(|ip| in_network(ip, *addr, *prefix)),
                }
        })
    }
}

fn parse_entry(entry: &str) -> Option<Entry> {
    let (host, port) = split_port(entry)?;
    let pattern = if let Some((addr, prefix)) = host.split_once('/') {
        let addr = addr.parse::<IpAddr>().ok()?;
        let prefix = prefix.parse::<u8>().ok().filter(|&prefix| prefix <= full_prefix(addr))?;
        Pattern::Network { addr, prefix }
    } else if let Ok(addr) = host.parse::<IpAddr>() {
        Pattern::Network { addr, prefix: full_prefix(addr) }
    } else {
        let name = host.strip_prefix("*.").or_else(|| host.strip_prefix('.')).unwrap_or(host);
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return None;
        }
        Pattern::Domain(name.to_ascii_lowercase())
    };
    Some(Entry { pattern, port })
}

/// Splits `host:port`, `[ipv6]:port`, `[ipv6]`, `ipv6` or `host`. `None`
/// for a malformed port or bracket.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        return Some((inside, port));
    }
    match entry.split_once(':') {
        // One colon: a port. More: an unbracketed IPv6 address.
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

/// `host` is `name` or ends with `.name`, ignoring ASCII case.
fn is_within(host: &str, name: &str) -> bool {
    let Some(split) = host.len().checked_sub(name.len()) else { return false };
    let tail_matches = host.get(split..).is_some_and(|tail| tail.eq_ignore_ascii_case(name));
    tail_matches && (split == 0 || host.as_bytes().get(split - 1) == Some(&b'.'))
}

fn full_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            (u32::from(ip) ^ u32::from(net)) & mask == 0
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            (u128::from(ip) ^ u128::from(net)) & mask == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &str, yes: &[(&str, u16)], no: &[(&str, u16)]) {
        let no_proxy = NoProxy::parse(list);
        for &(host, port) in yes {
            assert!(no_proxy.matches(host, port), "{list:?} should match {host}:{port}");
        }
        for &(host, port) in no {
            assert!(!no_proxy.matches(host, port), "{list:?} should not match {host}:{port}");
        }
    }

    #[test]
    fn empty_list_matches_nothing() {
        assert_eq!(NoProxy::parse(""), NoProxy::default());
        assert_eq!(NoProxy::parse(" , ,"), NoProxy::default());
        check("", &[], &[("example.com", 443), ("127.0.0.1", 80)]);
    }

    #[test]
    fn star_alone_matches_everything() {
        check("*", &[("example.com", 443), ("::1", 1), ("10.1.2.3", 80)], &[]);
        check("a.com, * ,b.com", &[("anything", 1)], &[]);
        // A star inside an entry is not the wildcard.
        check("*example.com", &[], &[("other.org", 443), ("example.com", 443)]);
    }

    #[test]
    fn names_match_the_host_and_its_subdomains() {
        for list in ["example.com", ".example.com", "*.example.com", "EXAMPLE.com", "example.com."] {
            check(
                list,
                &[("example.com", 443), ("a.example.com", 80), ("x.y.Example.COM", 1), ("example.com.", 443)],
                &[("notexample.com", 443), ("example.org", 443), ("example.com.evil", 443), ("com", 443)],
            );
        }
    }

    #[test]
    fn list_syntax_spaces_and_commas() {
        check(
            " localhost ,  internal.corp,,10.0.0.0/8 ",
            &[("localhost", 80), ("db.internal.corp", 5432), ("10.9.8.7", 443)],
            &[("localhost.com", 80), ("corp", 80), ("11.0.0.1", 443)],
        );
    }

    #[test]
    fn addresses_match_exactly() {
        check("127.0.0.1", &[("127.0.0.1", 80)], &[("127.0.0.2", 80), ("127.0.0.10", 80), ("localhost", 80)]);
        check("::1", &[("::1", 80), ("0:0:0:0:0:0:0:1", 80), ("[::1]", 80)], &[("::2", 80), ("127.0.0.1", 80)]);
        check("[::1]", &[("::1", 80)], &[("::2", 80)]);
        // An address entry does not match a name (nothing is resolved).
        check("93.184.216.34", &[], &[("example.com", 80)]);
    }

    #[test]
    fn cidr_blocks() {
        check(
            "10.0.0.0/8",
            &[("10.0.0.0", 1), ("10.255.255.255", 1), ("10.1.2.3", 1)],
            &[("11.0.0.0", 1), ("9.255.255.255", 1), ("::ffff:10.1.2.3", 1)],
        );
        check("192.168.1.0/24", &[("192.168.1.77", 1)], &[("192.168.2.1", 1)]);
        check("0.0.0.0/0", &[("1.2.3.4", 1), ("255.255.255.255", 1)], &[("::1", 1), ("host", 1)]);
        check("::1/128", &[("::1", 1)], &[("::2", 1)]);
        check("fd00::/8", &[("fd00::1", 1), ("fdff:ffff::9", 1)], &[("fe00::1", 1), ("fc00::1", 1), ("10.0.0.1", 1)]);
        check("[fd00::/8]", &[("fd12::1", 1)], &[("fe00::1", 1)]);
        check("10.0.0.0/8:443", &[("10.1.1.1", 443)], &[("10.1.1.1", 80)]);
        // Invalid blocks are dropped, never widened.
        check("10.0.0.0/33, ::/129, 10.0.0.0/x, host/8", &[], &[("10.0.0.1", 1), ("::1", 1), ("host", 1)]);
    }

    #[test]
    fn ports_narrow_an_entry() {
        check("example.com:8080", &[("example.com", 8080), ("a.example.com", 8080)], &[("example.com", 443)]);
        check("[::1]:9001", &[("::1", 9001)], &[("::1", 9002)]);
        check("127.0.0.1:80", &[("127.0.0.1", 80)], &[("127.0.0.1", 443)]);
        check("example.com:http, [::1]x, [::1", &[], &[("example.com", 80), ("::1", 80)]);
        check(
            "example.com:8080, example.com:443",
            &[("example.com", 443), ("example.com", 8080)],
            &[("example.com", 80)],
        );
    }

    #[test]
    fn trailing_dot_on_the_target_is_ignored() {
        check("example.com", &[("example.com.", 1), ("www.example.com.", 1)], &[("example.org.", 1)]);
        check("127.0.0.1", &[("127.0.0.1.", 1)], &[]);
        // Only one dot, and a bare dot is not a name.
        check(".", &[], &[("example.com", 1), (".", 1)]);
    }

    #[test]
    fn non_ascii_never_panics() {
        check("é.com", &[("é.com", 1), ("a.é.com", 1)], &[("aé.com", 1), ("€", 1)]);
        check("xé", &[], &[("aé", 1)]);
    }
}
