//! HTTP token helpers (RFC 7230 §3.2.6, §7): tokens, comma-separated lists, trimming, header-value checks.
//!
//! A leaf module: it imports nothing from the rest of the crate, so both
//! `handshake` and `extensions` can use it without depending on each other.

/// Whether `bytes` is a non-empty HTTP token (RFC 7230 §3.2.6).
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// Whether `byte` may appear in an HTTP token.
#[inline]
pub(crate) fn is_tchar(byte: u8) -> bool {
    TCHAR.get(usize::from(byte)).copied().unwrap_or(false)
}

/// `TCHAR[b]`: whether byte `b` is a token character (one lookup per byte).
// Built at compile time, where an out-of-range index or cast would be a
// compile error, not a panic.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    table
};

/// Whether `bytes` may be sent as a header value (no CR, LF or NUL, which
/// would let a value inject headers).
pub(crate) fn is_header_value(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0)
}

/// The elements of a comma-separated header value, trimmed, empty ones skipped.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// Whether any comma-separated element of any of `values` equals `token`,
/// ignoring ASCII case (as for `Connection: keep-alive, Upgrade`).
pub(crate) fn has_token<'a>(values: impl Iterator<Item = &'a [u8]>, token: &str) -> bool {
    values.flat_map(list_elements).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// `bytes` without leading and trailing spaces and tabs.
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists() {
        assert!(has_token([&b"keep-alive, Upgrade"[..]].into_iter(), "upgrade"));
        assert!(has_token([&b"close"[..], b" UPGRADE "].into_iter(), "upgrade"));
        assert!(!has_token([&b"upgrades"[..]].into_iter(), "upgrade"));
        assert_eq!(list_elements(b" a ,, b\t,").collect::<Vec<_>>(), [&b"a"[..], b"b"]);
        assert_eq!(trim(b"  "), b"");
        assert!(is_token(b"chat.v2"));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b""));
    }

    #[test]
    fn header_values_refuse_line_breaks_and_nul() {
        assert!(is_header_value(b"Bearer abc"));
        assert!(!is_header_value(b"a\r\nInjected: 1"));
        assert!(!is_header_value(b"a\0b"));
    }
}
