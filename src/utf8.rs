//! UTF-8: the validated-text payload type and the incremental validator.
//!
//! This is the crate's only module with `unsafe`: [`Utf8Bytes::as_str`]
//! skips re-validation, which would otherwise cost a full pass over the text
//! on every access (the `frames` benchmark, `utf8_bytes_as_str`, measures
//! the difference). The invariant is kept by construction: every constructor
//! validates, or is crate-private and fed only by [`Utf8Validator`]-checked
//! payloads. The unit tests below run under Miri.
#![allow(unsafe_code)]

use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;

/// Immutable bytes that are guaranteed to be valid UTF-8: the payload of a
/// text message, shared without copying.
///
/// Dereferences to `str`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A string backed by static memory, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes the caller has already validated (crate-internal).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text as a `&str`, without re-checking it.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Utf8Bytes` either validates its input
        // (`TryFrom<Bytes>`, `From<String>`, `From<&str>`) or is crate-private
        // and only called with payloads that `Utf8Validator` accepted in full,
        // and `Bytes` is immutable, so the bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps into the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Validates UTF-8 that arrives in pieces, failing as soon as a sequence is
/// impossible rather than at the end.
///
/// It keeps at most three bytes of an unfinished code point between pieces:
/// a piece is split before a sequence it cuts off, the whole part is checked
/// in one pass (SIMD for all but short pieces), and the cut-off part is
/// checked as a prefix with `std::str::from_utf8`, which tells a truncated
/// sequence from an impossible one. Both reject overlong forms, surrogates
/// and code points above U+10FFFF.
#[derive(Debug, Clone, Default)]
pub(crate) struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
}

/// The input can never become valid UTF-8, whatever follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8Validator {
    /// Checks the next piece of the text.
    #[inline]
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        // A short piece with nothing pending that is valid on its own (a
        // small message, the usual case) needs no look for a cut-off tail:
        // valid UTF-8 ends on a code point boundary.
        if self.pending_len == 0 && input.len() < SHORT_TEXT && is_valid_short(input) {
            return Ok(());
        }
        if self.pending_len > 0 {
            input = self.complete_pending(input)?;
        }
        // A sequence cut off at the end is checked as a prefix and kept; the
        // rest must be complete UTF-8.
        let cut = incomplete_tail_start(input);
        let (whole, tail) = input.split_at(cut);
        if !is_valid(whole) {
            return Err(InvalidUtf8);
        }
        if !tail.is_empty() {
            match std::str::from_utf8(tail) {
                Err(err) if err.valid_up_to() == 0 && err.error_len().is_none() => {}
                _ => return Err(InvalidUtf8),
            }
            self.pending_len = tail.len();
            if let Some(slot) = self.pending.get_mut(..tail.len()) {
                slot.copy_from_slice(tail);
            }
        }
        Ok(())
    }

    /// Completes the code point left unfinished by the previous piece;
    /// returns the rest of `input`.
    fn complete_pending<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let width = sequence_width(self.pending[0]);
        let take = (width - self.pending_len).min(input.len());
        let (head, rest) = input.split_at(take);
        let end = self.pending_len + take;
        if let Some(slot) = self.pending.get_mut(self.pending_len..end) {
            slot.copy_from_slice(head);
        }
        let candidate = self.pending.get(..end).unwrap_or_default();
        match std::str::from_utf8(candidate) {
            Ok(_) => self.pending_len = 0,
            // Still a valid prefix; `input` is exhausted.
            Err(err) if err.error_len().is_none() => self.pending_len = end,
            Err(_) => return Err(InvalidUtf8),
        }
        Ok(rest)
    }

    /// Checks that the text ended on a code point boundary, and resets.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// The length of the sequence a valid lead byte starts (the validator only
/// keeps lead bytes that `from_utf8` accepted as a prefix).
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xF4 => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

/// Where a multi-byte sequence that `bytes` cuts off begins, or
/// `bytes.len()` if the last sequence is complete (or not a sequence at all:
/// then the full check rejects it). Looks at the last three bytes only.
fn incomplete_tail_start(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let at = bytes.len() - back;
        let byte = bytes.get(at).copied().unwrap_or(0);
        if byte & 0xC0 != 0x80 {
            // The last lead (or ASCII) byte: is its sequence longer than what is here?
            let width = match byte {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 1,
            };
            return if width > back { at } else { bytes.len() };
        }
    }
    bytes.len()
}

/// Whole-input validation: an ASCII check for short input (cheapest for
/// small messages), SIMD (`simdutf8`, which picks AVX2/SSE4.2/NEON at run
/// time) for the rest.
///
/// Under Miri the SIMD path is left out: simdutf8 0.1.5's AVX2 loop computes a
/// prefetch address past the end of the input (`ptr.add`, never read), which
/// Miri reports as undefined behaviour and which would stop it from checking
/// our own code. Fixed upstream (simdutf8 pull request 120), not yet released.
#[inline]
fn is_valid(bytes: &[u8]) -> bool {
    if bytes.len() < SHORT_TEXT {
        is_valid_short(bytes)
    } else if cfg!(miri) {
        std::str::from_utf8(bytes).is_ok()
    } else {
        simdutf8::basic::from_utf8(bytes).is_ok()
    }
}

/// Below this length, text is checked by [`is_valid_short`]: a plain loop
/// beats the set-up of the SIMD and the standard library's word-at-a-time
/// checks (measured: `std::str::from_utf8` takes about 170 instructions
/// for 16 bytes of mostly ASCII text with a few 2- to 4-byte sequences).
const SHORT_TEXT: usize = 64;

/// Whether `bytes` is UTF-8 (RFC 3629): eight ASCII bytes at a time where
/// they are, else one sequence at a time, each lead byte
/// admitting exactly the second bytes that keep the sequence shortest, off
/// the UTF-16 surrogates and at most U+10FFFF (the ranges of RFC 3629's
/// section 4 syntax), then continuation bytes.
fn is_valid_short(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((&lead, tail)) = rest.split_first() {
        // Eight ASCII bytes at once where they are.
        if let Some((word, after)) = rest.split_first_chunk::<8>() {
            if u64::from_ne_bytes(*word) & 0x8080_8080_8080_8080 == 0 {
                rest = after;
                continue;
            }
        }
        if lead < 0x80 {
            rest = tail;
            continue;
        }
        let (second, continuations) = match lead {
            0xC2..=0xDF => (0x80..=0xBF, 0),
            0xE0 => (0xA0..=0xBF, 1),
            0xE1..=0xEC | 0xEE..=0xEF => (0x80..=0xBF, 1),
            0xED => (0x80..=0x9F, 1),
            0xF0 => (0x90..=0xBF, 2),
            0xF1..=0xF3 => (0x80..=0xBF, 2),
            0xF4 => (0x80..=0x8F, 2),
            _ => return false,
        };
        let Some((&byte, tail)) = tail.split_first() else {
            return false;
        };
        if !second.contains(&byte) {
            return false;
        }
        let Some((more, tail)) = tail.split_at_checked(continuations) else {
            return false;
        };
        if !more.iter().all(|&b| b & 0xC0 == 0x80) {
            return false;
        }
        rest = tail;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sequence of one to three bytes, and four-byte ones around every
    /// boundary of the lead and second byte, against the standard library.
    #[test]
    fn the_short_check_agrees_with_the_standard_library_exhaustively() {
        let agrees = |bytes: &[u8]| {
            assert_eq!(is_valid_short(bytes), std::str::from_utf8(bytes).is_ok(), "{bytes:02x?}");
        };
        let every: Vec<u8> = if cfg!(miri) {
            vec![0x00, 0x7f, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xff]
        } else {
            (0..=255).collect()
        };
        agrees(&[]);
        for &a in &every {
            agrees(&[a]);
            for &b in &every {
                agrees(&[a, b]);
                if cfg!(miri) {
                    continue;
                }
                for c in 0..=255u8 {
                    agrees(&[a, b, c]);
                }
            }
        }
        let edges: &[u8] = if cfg!(miri) {
            &[0x7f, 0x80, 0xbf, 0xe0, 0xf4, 0xff]
        } else {
            &[
                0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf3,
                0xf4, 0xf5, 0xff,
            ]
        };
        for &a in edges {
            for &b in edges {
                for &c in edges {
                    for &d in edges {
                        agrees(&[a, b, c, d]);
                        agrees(&[b'x', a, b, c, d, b'y']);
                    }
                }
            }
        }
    }

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> bool {
        let mut validator = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            if validator.feed(&bytes[start..cut]).is_err() {
                return false;
            }
            start = cut;
        }
        validator.finish().is_ok()
    }

    #[test]
    fn agrees_with_std_for_every_split_of_tricky_inputs() {
        let inputs: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "𝄞 music €".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
            b"\xc0\xaf",                                                       // overlong '/'
            b"\xe0\x80\xaf",                                                   // overlong 3-byte
            b"\xf4\x90\x80\x80",                                               // above U+10FFFF
            b"\xf0\x9f\x98",                                                   // truncated emoji
            b"\xff",
            b"",
            b"plain ascii",
        ];
        for input in inputs {
            let expected = std::str::from_utf8(input).is_ok();
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    assert_eq!(validate_in_pieces(input, &[a, b]), expected, "{input:?} cut at {a},{b}");
                }
            }
        }
    }

    #[test]
    fn agrees_with_std_on_long_inputs_cut_anywhere() {
        // Past 64 bytes the SIMD path runs; corrupt one byte at a time and
        // cut the text at every position around the damage.
        let text = "Καλημέρα κόσμε, 你好世界 🦀 plain ascii to pad it out past sixty-four bytes".repeat(2);
        let bytes = text.as_bytes();
        // Under Miri (slow) every 23rd byte: still every kind of damage at many offsets.
        for damage_at in (0..bytes.len()).step_by(if cfg!(miri) { 23 } else { 7 }) {
            for bad in [0xFF, 0x80, 0xC0, 0xED, 0xF4] {
                let mut input = bytes.to_vec();
                input[damage_at] = bad;
                let expected = std::str::from_utf8(&input).is_ok();
                for cut in (damage_at.saturating_sub(4)..(damage_at + 5).min(input.len())).chain([0, 70, 100]) {
                    assert_eq!(
                        validate_in_pieces(&input, &[cut]),
                        expected,
                        "damage {bad:#x} at {damage_at}, cut {cut}"
                    );
                }
            }
        }
        for cut in (0..=bytes.len()).step_by(if cfg!(miri) { 5 } else { 1 }) {
            assert!(validate_in_pieces(bytes, &[cut, cut + 65]), "valid text cut at {cut}");
        }
    }

    #[test]
    fn fails_fast_on_an_impossible_prefix() {
        // 0xF4 0x90 can never start a valid sequence: reject before more input.
        let mut validator = Utf8Validator::default();
        assert_eq!(validator.feed(b"ok \xf4"), Ok(()));
        assert_eq!(validator.feed(b"\x90"), Err(InvalidUtf8));
        // Surrogate lead ED A0 fails at the second byte too.
        let mut validator = Utf8Validator::default();
        assert_eq!(validator.feed(b"\xed"), Ok(()));
        assert_eq!(validator.feed(b"\xa0"), Err(InvalidUtf8));
    }

    #[test]
    fn utf8_bytes_round_trips_and_rejects_invalid() {
        let text = Utf8Bytes::try_from(Bytes::from_static("héllo".as_bytes())).unwrap();
        assert_eq!(text.as_str(), "héllo");
        assert_eq!(&*text, "héllo");
        assert_eq!(text, "héllo");
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(Utf8Bytes::from(String::from("x")).as_str(), "x");
        assert_eq!(Utf8Bytes::from_static("static").len(), 6);
        assert_eq!(Utf8Bytes::new().as_str(), "");
        assert_eq!(format!("{:?}", Utf8Bytes::from("q")), "\"q\"");
    }
}
