//! permessage-deflate (RFC 7692): negotiation and the per-message codec.
//!
//! Negotiation is pure: [`DeflateConfig::accept_offer`] (server) and
//! [`DeflateConfig::accept_response`] (client) turn `Sec-WebSocket-Extensions`
//! entries into [`DeflateParams`]. The codec compresses whole messages (or
//! fragments) with a sync flush and strips the `00 00 ff ff` tail, and
//! inflates with an output cap so that a small message cannot expand past
//! `Config::max_message_size` (decompression bombs stop at the cap, not after).
//!
//! Backend: flate2 on zlib-rs, a pure-Rust zlib that supports raw deflate with
//! window sizes 2^9..2^15 for both directions (flate2's default miniz_oxide
//! backend has no window-size control). zlib cannot compress with a 2^8
//! window; like zlib's own documentation suggests, a negotiated 8 compresses
//! with 9, which is safe: zlib never emits a match distance above
//! `2^bits - 262`, i.e. 250 bytes for 9, within what an 8-bit window peer accepts.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::ExtensionOffer;
use crate::{HandshakeError, Role};

/// The extension token.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What we want from permessage-deflate: put it in `Config::deflate`.
///
/// Parameter names follow RFC 7692: `server_*` is about what the server
/// compresses, `client_*` about what the client compresses, whichever role
/// we play.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Ask that the server reset its compression context after every message
    /// (less memory held between messages, worse ratio). Default false.
    pub server_no_context_takeover: bool,
    /// Ask that the client reset its compression context after every message. Default false.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (log2, 8..=15) the server may compress with. Default 15.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (log2, 8..=15) the client may compress with. Default 15.
    pub client_max_window_bits: u8,
    /// zlib compression level, 0 (store) to 9 (smallest). Default 3: on
    /// text-like data zlib-rs compresses about 3x as fast as at zlib's
    /// usual 6 for output about a third larger (15.5 % vs 11.3 % of 1 MiB of
    /// JSON-ish text, measured here), and unlike level 1 (fixed Huffman codes
    /// only) it stores incompressible data instead of growing it by 5 %.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed. Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 3,
            threshold: 64,
        }
    }
}

/// The permessage-deflate parameters both ends agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (log2).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (log2).
    pub client_max_window_bits: u8,
}

/// The parameters of one offer or response, parsed strictly.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn parse(offer: &ExtensionOffer) -> Result<Parsed, &'static str> {
    let mut parsed = Parsed::default();
    for param in offer.params() {
        let name = param.name.to_ascii_lowercase();
        let value = param.value.as_deref();
        let duplicate = match name.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" if value.is_some() => {
                return Err("a no_context_takeover parameter has a value")
            }
            "server_no_context_takeover" => std::mem::replace(&mut parsed.server_no_context_takeover, true),
            "client_no_context_takeover" => std::mem::replace(&mut parsed.client_no_context_takeover, true),
            "server_max_window_bits" => {
                let bits = window_bits(value.ok_or("server_max_window_bits needs a value")?)?;
                parsed.server_max_window_bits.replace(bits).is_some()
            }
            "client_max_window_bits" => {
                let bits = value.map(window_bits).transpose()?;
                parsed.client_max_window_bits.replace(bits).is_some()
            }
            _ => return Err("unknown permessage-deflate parameter"),
        };
        if duplicate {
            return Err("duplicate permessage-deflate parameter");
        }
    }
    Ok(parsed)
}

/// A window size: the decimal 8..=15, without sign or leading zeros.
fn window_bits(value: &str) -> Result<u8, &'static str> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().map_err(|_| "invalid window bits"),
        _ => Err("window bits must be 8 to 15"),
    }
}

impl DeflateConfig {
    /// The server's side of negotiation: the parameters for `offer`, or
    /// `None` to decline it (not permessage-deflate, or malformed, which RFC
    /// 7692 §5 says to decline rather than fail). Try the client's offers in
    /// order and take the first accepted.
    pub fn accept_offer(&self, offer: &ExtensionOffer) -> Option<DeflateParams> {
        if !offer.name().eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return None;
        }
        let parsed = parse(offer).ok()?;
        let ours = self.clamped();
        Some(DeflateParams {
            server_no_context_takeover: parsed.server_no_context_takeover || ours.server_no_context_takeover,
            client_no_context_takeover: parsed.client_no_context_takeover || ours.client_no_context_takeover,
            server_max_window_bits: parsed.server_max_window_bits.unwrap_or(15).min(ours.server_max_window_bits),
            // We may limit the client's window only if it said it can be limited.
            client_max_window_bits: match parsed.client_max_window_bits {
                None => 15,
                Some(bits) => bits.unwrap_or(15).min(ours.client_max_window_bits),
            },
        })
    }

    /// The client's offer.
    pub fn offer(&self) -> ExtensionOffer {
        let ours = self.clamped();
        let mut params: Vec<(&str, Option<String>)> = Vec::new();
        if ours.server_no_context_takeover {
            params.push(("server_no_context_takeover", None));
        }
        if ours.client_no_context_takeover {
            params.push(("client_no_context_takeover", None));
        }
        if ours.server_max_window_bits < 15 {
            params.push(("server_max_window_bits", Some(ours.server_max_window_bits.to_string())));
        }
        // Always present: it tells the server it may limit our window.
        let client_bits = (ours.client_max_window_bits < 15).then(|| ours.client_max_window_bits.to_string());
        params.push(("client_max_window_bits", client_bits));
        ExtensionOffer::from_parts(PERMESSAGE_DEFLATE, params)
    }

    /// The client's side of negotiation: checks the server's response to
    /// [`offer`](Self::offer) (RFC 7692 §7.1) and returns the agreed parameters.
    pub fn accept_response(&self, response: &ExtensionOffer) -> Result<DeflateParams, HandshakeError> {
        let invalid = HandshakeError::InvalidDeflateResponse;
        let parsed = parse(response).map_err(invalid)?;
        let ours = self.clamped();
        let server_max_window_bits = parsed.server_max_window_bits.unwrap_or(15);
        if server_max_window_bits > ours.server_max_window_bits {
            return Err(invalid("server_max_window_bits is larger than we asked for"));
        }
        let client_max_window_bits = match parsed.client_max_window_bits {
            None => ours.client_max_window_bits,
            Some(None) => return Err(invalid("client_max_window_bits in a response needs a value")),
            Some(Some(bits)) => bits.min(ours.client_max_window_bits),
        };
        Ok(DeflateParams {
            server_no_context_takeover: parsed.server_no_context_takeover,
            client_no_context_takeover: parsed.client_no_context_takeover || ours.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }

    fn clamped(&self) -> DeflateConfig {
        DeflateConfig {
            server_max_window_bits: self.server_max_window_bits.clamp(8, 15),
            client_max_window_bits: self.client_max_window_bits.clamp(8, 15),
            level: self.level.min(9),
            ..self.clone()
        }
    }
}

impl DeflateParams {
    /// The compressor for what `role` sends and the decompressor for what it
    /// receives, with `config`'s level and threshold.
    pub(crate) fn codecs(&self, role: Role, config: &DeflateConfig) -> (Deflater, Inflater) {
        let (ours, theirs) = match role {
            Role::Server => (
                (self.server_max_window_bits, self.server_no_context_takeover),
                (self.client_max_window_bits, self.client_no_context_takeover),
            ),
            Role::Client => (
                (self.client_max_window_bits, self.client_no_context_takeover),
                (self.server_max_window_bits, self.server_no_context_takeover),
            ),
        };
        (Deflater::new(ours.0, config.level.min(9), ours.1, config.threshold), Inflater::new(theirs.0, theirs.1))
    }

    /// The server's response header entry for these parameters, given the
    /// offer they answer.
    pub fn response(&self, offer: &ExtensionOffer) -> ExtensionOffer {
        let offered = parse(offer).unwrap_or_default();
        let mut params: Vec<(&str, Option<String>)> = Vec::new();
        if self.server_no_context_takeover {
            params.push(("server_no_context_takeover", None));
        }
        if self.client_no_context_takeover {
            params.push(("client_no_context_takeover", None));
        }
        if offered.server_max_window_bits.is_some() || self.server_max_window_bits < 15 {
            params.push(("server_max_window_bits", Some(self.server_max_window_bits.to_string())));
        }
        if offered.client_max_window_bits.is_some() && self.client_max_window_bits < 15 {
            params.push(("client_max_window_bits", Some(self.client_max_window_bits.to_string())));
        }
        ExtensionOffer::from_parts(PERMESSAGE_DEFLATE, params)
    }
}

/// Why inflating a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The output would exceed the limit.
    TooLarge,
    /// The compressed data is invalid.
    Corrupt,
    /// The memory budget refused room for more output.
    OverBudget,
}

/// The tail a sync flush ends with; stripped by the sender, re-appended by the receiver.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What a compressor without context takeover's output depends on, besides
/// the message: see [`Deflater::shared_output_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflaterKey {
    window_bits: u8,
    level: u32,
}

/// One direction's compressor, created on first use.
#[derive(Debug)]
pub(crate) struct Deflater {
    compress: Option<Compress>,
    window_bits: u8,
    level: u32,
    reset_after_message: bool,
    threshold: usize,
}

impl Deflater {
    pub(crate) fn new(window_bits: u8, level: u32, reset_after_message: bool, threshold: usize) -> Self {
        Self { compress: None, window_bits: window_bits.clamp(9, 15), level, reset_after_message, threshold }
    }

    /// Messages shorter than this are sent uncompressed.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
    }

    /// Without context takeover every message is compressed from a fresh
    /// state, so the bytes depend only on the message and these parameters:
    /// a message compressed once by any compressor with the same key is what
    /// this one would send. `None` with context takeover (the bytes depend
    /// on what this connection sent before).
    pub(crate) fn shared_output_key(&self) -> Option<DeflaterKey> {
        self.reset_after_message.then_some(DeflaterKey { window_bits: self.window_bits, level: self.level })
    }

    /// Compresses one whole message from a fresh state with the parameters
    /// of `key`: the bytes a compressor with that key sends for it.
    pub(crate) fn compress_alone(key: DeflaterKey, message: &[u8], out: &mut Vec<u8>) {
        Self::new(key.window_bits, key.level, true, 0).compress(message, true, out);
    }

    /// Compresses one fragment of a message into `out` (cleared first). The
    /// last fragment (`fin`) has the `00 00 ff ff` tail removed.
    pub(crate) fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        out.clear();
        let (bits, level) = (self.window_bits, self.level);
        let compress =
            self.compress.get_or_insert_with(|| Compress::new_with_window_bits(Compression::new(level), false, bits));
        let start = compress.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(input.len() / 2 + 64);
            }
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(input.len()).min(input.len());
            let rest = input.get(consumed..).unwrap_or_default();
            if compress.compress_vec(rest, out, FlushCompress::Sync).is_err() {
                // zlib reports errors only for misuse (our bug); send what we have.
                break;
            }
            let consumed = usize::try_from(compress.total_in() - start).unwrap_or(input.len());
            if consumed >= input.len() && out.len() < out.capacity() {
                break; // the flush is complete once output space is left over
            }
        }
        if fin {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else {
                // Nothing was pending, so zlib flushed nothing: the receiver's
                // appended tail needs a stored-block header before it, which a
                // single 0x00 byte gives (RFC 7692 §7.2.3.6).
                out.push(0x00);
            }
            if self.reset_after_message {
                compress.reset();
            }
        }
    }
}

/// One direction's decompressor, created on first use.
#[derive(Debug)]
pub(crate) struct Inflater {
    decompress: Option<Decompress>,
    window_bits: u8,
    reset_after_message: bool,
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(window_bits: u8, reset_after_message: bool) -> Self {
        // A larger window than the peer uses is always safe; zlib has no 8.
        Self { decompress: None, window_bits: window_bits.clamp(9, 15), reset_after_message, ended: false }
    }

    /// Inflates the next compressed piece of a message into `out`, never
    /// letting `out` hold more than `limit` bytes (+1 to detect the excess).
    #[cfg(test)]
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate_granted(input, out, limit, &mut |_| true)
    }

    /// Inflates `input` onto `out`, up to `limit` bytes of output; before
    /// `out` grows, `allow` is asked with the capacity it would grow to.
    pub(crate) fn inflate_granted(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        allow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        let bits = self.window_bits;
        let decompress = self.decompress.get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let start = decompress.total_in();
        loop {
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            if out.len() == out.capacity() {
                // Grow geometrically, but never past the limit.
                let target = out.capacity().saturating_mul(2).max(out.len() + 4096).min(limit.saturating_add(1));
                if !allow(target) {
                    return Err(InflateError::OverBudget);
                }
                out.reserve_exact(target - out.len());
            }
            let consumed = usize::try_from(decompress.total_in() - start).unwrap_or(input.len()).min(input.len());
            let rest = input.get(consumed..).unwrap_or_default();
            let status =
                decompress.decompress_vec(rest, out, FlushDecompress::Sync).map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            let consumed_now = usize::try_from(decompress.total_in() - start).unwrap_or(input.len());
            if status == Status::StreamEnd {
                self.ended = true; // a final block: nothing may follow in this stream
                if consumed_now < input.len() {
                    return Err(InflateError::Corrupt);
                }
                return Ok(());
            }
            if consumed_now >= input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if consumed_now == consumed && out.len() < out.capacity() && status == Status::BufError {
                return Ok(()); // no progress possible without more input
            }
        }
    }

    /// Ends a message: inflates the stripped tail and resets if the context
    /// is not carried over.
    #[cfg(test)]
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.finish_granted(out, limit, &mut |_| true)
    }

    /// [`finish`](Self::finish), asking `allow` before `out` grows.
    pub(crate) fn finish_granted(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
        allow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        if !self.ended {
            self.inflate_granted(&TAIL, out, limit, allow)?;
        }
        if self.reset_after_message || self.ended {
            if let Some(decompress) = &mut self.decompress {
                decompress.reset(false);
            }
            self.ended = false;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
