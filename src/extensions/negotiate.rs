//! Extension negotiation for both handshakes: the client's offer, the server's answer, the client's check of that answer, and the codecs the connection runs as a result.
//!
//! permessage-deflate (RFC 7692) is the only extension the connection runs
//! itself, and it is negotiated from `Config::deflate`, never by hand. This
//! file is the one place that knows whether the `deflate` feature is on:
//! without it the same functions exist and agree on nothing, so the
//! handshakes call them without a `cfg` of their own.

use super::{Deflater, ExtensionOffer, Inflater};
use crate::{Config, HandshakeError, Role};

/// What the opening handshake agreed on for the extensions the connection
/// runs itself (permessage-deflate). The default is "nothing".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Negotiated {
    /// The permessage-deflate parameters, if it was agreed on.
    #[cfg(feature = "deflate")]
    deflate: Option<super::deflate::DeflateParams>,
}

/// The extension offers a client adds to its request from `config`
/// (permessage-deflate when `Config::deflate` is set).
pub(crate) fn client_offer(config: &Config) -> Option<ExtensionOffer> {
    Negotiated::offer(config)
}

/// The server's side: given the client's `offers`, in its order of
/// preference, what the server runs and the entry to add to the
/// `Sec-WebSocket-Extensions` header of its `101` (if any).
pub(crate) fn negotiate_server(offers: &[ExtensionOffer], config: &Config) -> (Negotiated, Option<ExtensionOffer>) {
    Negotiated::accept_offers(offers, config)
}

/// The client's side: checks every `Sec-WebSocket-Extensions` value of the
/// server's response against the extension names the client `offered`, and
/// returns every accepted extension, in order, with what the client runs.
///
/// Fails on a value that is not UTF-8 or not in the RFC 6455 §9.1 grammar,
/// on an extension that was not offered, and on a permessage-deflate answer
/// that breaks RFC 7692 §7.1 or comes twice, in the order the header
/// values and their elements arrive.
pub(crate) fn negotiate_client<'a>(
    values: impl Iterator<Item = &'a [u8]>,
    offered: &[String],
    config: &Config,
) -> Result<(Vec<ExtensionOffer>, Negotiated), HandshakeError> {
    let mut accepted = Vec::new();
    let mut negotiated = Negotiated::default();
    for value in values {
        let value =
            std::str::from_utf8(value).map_err(|_| HandshakeError::InvalidHeader("Sec-WebSocket-Extensions"))?;
        for extension in ExtensionOffer::parse_list(value)? {
            if !offered.iter().any(|n| n.eq_ignore_ascii_case(extension.name())) {
                return Err(HandshakeError::UnofferedExtension(extension.name().to_owned()));
            }
            negotiated.record_response(&extension, config)?;
            accepted.push(extension);
        }
    }
    Ok((accepted, negotiated))
}

#[cfg(feature = "deflate")]
impl Negotiated {
    fn offer(config: &Config) -> Option<ExtensionOffer> {
        config.deflate.as_ref().map(super::deflate::DeflateConfig::offer)
    }

    fn accept_offers(offers: &[ExtensionOffer], config: &Config) -> (Self, Option<ExtensionOffer>) {
        // permessage-deflate: the client's first acceptable offer (RFC 7692 §5).
        let accepted = config.deflate.as_ref().and_then(|deflate| {
            offers.iter().find_map(|offer| deflate.accept_offer(offer).map(|params| (params, params.response(offer))))
        });
        match accepted {
            Some((params, response)) => (Self { deflate: Some(params) }, Some(response)),
            None => (Self::default(), None),
        }
    }

    /// Takes note of one extension the server accepted.
    fn record_response(&mut self, extension: &ExtensionOffer, config: &Config) -> Result<(), HandshakeError> {
        let is_deflate = extension.name().eq_ignore_ascii_case(super::deflate::PERMESSAGE_DEFLATE);
        if let Some(deflate) = config.deflate.as_ref().filter(|_| is_deflate) {
            if self.deflate.is_some() {
                return Err(HandshakeError::DuplicateDeflate);
            }
            self.deflate = Some(deflate.accept_response(extension)?);
        }
        Ok(())
    }

    /// The permessage-deflate parameters agreed on, if any.
    pub(crate) fn deflate(&self) -> Option<&super::deflate::DeflateParams> {
        self.deflate.as_ref()
    }

    /// The compressor and decompressor for `role`, if permessage-deflate was
    /// agreed on (and `config` still enables it).
    pub(crate) fn codecs(&self, role: Role, config: &Config) -> Option<(Deflater, Inflater)> {
        Some(self.deflate.as_ref()?.codecs(role, config.deflate.as_ref()?))
    }
}

#[cfg(not(feature = "deflate"))]
impl Negotiated {
    fn offer(_config: &Config) -> Option<ExtensionOffer> {
        None
    }

    fn accept_offers(_offers: &[ExtensionOffer], _config: &Config) -> (Self, Option<ExtensionOffer>) {
        (Self::default(), None)
    }

    /// Takes note of one extension the server accepted: none runs in the
    /// connection without the `deflate` feature.
    fn record_response(&mut self, _extension: &ExtensionOffer, _config: &Config) -> Result<(), HandshakeError> {
        Ok(())
    }

    /// No codec runs without the `deflate` feature.
    pub(crate) fn codecs(&self, _role: Role, _config: &Config) -> Option<(Deflater, Inflater)> {
        None
    }
}
