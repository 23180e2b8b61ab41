//! Fuzzes the `Sec-WebSocket-Extensions` parser
//! (`rfc6455::extensions::ExtensionOffer::parse_list`) on arbitrary strings,
//! and permessage-deflate negotiation (`DeflateConfig::accept_offer`,
//! `DeflateParams::response`, `DeflateConfig::accept_response`) on every
//! parsed entry, with client and server configurations from the input.
//!
//! Input: `[client_flags, client_server_bits, client_client_bits,
//! server_flags, server_server_bits, server_client_bits]` then the header
//! value (invalid UTF-8 replaced). Flags: bit 0 server_no_context_takeover,
//! bit 1 client_no_context_takeover.
//!
//! Invariants:
//! * a list that parses re-serializes (`Display`, joined with ", ") to a
//!   string that parses back to the same list, and each entry on its own
//!   parses back to itself; an error points inside the input;
//! * a server accepts only permessage-deflate, with window bits 8..=15 and
//!   no larger than its own, and limits the client's window only if the
//!   offer allowed it; its response re-parses to itself;
//! * the response to an offer is accepted by a client whose configuration
//!   that offer describes, and both ends agree: same server window and
//!   server context takeover, a client window no larger than the server
//!   inflates with, and the client resets its context whenever the server
//!   expects it to;
//! * the same holds for the offer our client configuration writes;
//! * a response the client accepts stays within what it offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams, PERMESSAGE_DEFLATE};
use rfc6455::extensions::ExtensionOffer;
use rfc6455_fuzz::take_prefix;

fn config(flags: u8, server_bits: u8, client_bits: u8) -> DeflateConfig {
    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = flags & 1 != 0;
    config.client_no_context_takeover = flags & 2 != 0;
    // Mostly in range, sometimes outside it (the crate clamps).
    config.server_max_window_bits = server_bits % 20;
    config.client_max_window_bits = client_bits % 20;
    config
}

fn clamped(bits: u8) -> u8 {
    bits.clamp(8, 15)
}

fn reparses_to_itself(offer: &ExtensionOffer) {
    let text = offer.to_string();
    let back = ExtensionOffer::parse_list(&text).unwrap_or_else(|err| panic!("{text:?} does not re-parse: {err}"));
    assert_eq!(back, std::slice::from_ref(offer), "{text:?}");
}

/// Server `server` answered `offer` with `agreed`; a client configured as
/// `client` (which wrote `offer`) must accept the response and agree.
fn check_agreement(client: &DeflateConfig, offer: &ExtensionOffer, agreed: &DeflateParams) {
    let response = agreed.response(offer);
    reparses_to_itself(&response);
    let ours = client
        .accept_response(&response)
        .unwrap_or_else(|err| panic!("response {response} to offer {offer} refused: {err}"));
    assert_eq!(ours.server_max_window_bits, agreed.server_max_window_bits, "{offer} -> {response}");
    assert_eq!(ours.server_no_context_takeover, agreed.server_no_context_takeover, "{offer} -> {response}");
    assert!(ours.client_max_window_bits <= agreed.client_max_window_bits, "{offer} -> {response}");
    if agreed.client_no_context_takeover {
        assert!(ours.client_no_context_takeover, "{offer} -> {response}");
    }
}

/// The client configuration an offer describes, when it allows the server
/// to limit the client's window (as our offers always do).
fn describes(offer: &ExtensionOffer) -> Option<DeflateConfig> {
    let bits = |name: &str| match offer.param(name) {
        Some(Some(value)) => value.parse::<u8>().ok(),
        _ => Some(15),
    };
    offer.param("client_max_window_bits")?;
    let mut config = DeflateConfig::default();
    config.server_no_context_takeover = offer.param("server_no_context_takeover").is_some();
    config.client_no_context_takeover = offer.param("client_no_context_takeover").is_some();
    config.server_max_window_bits = bits("server_max_window_bits")?;
    config.client_max_window_bits = bits("client_max_window_bits")?;
    Some(config)
}

fuzz_target!(|data: &[u8]| {
    let ([cf, csb, ccb, sf, ssb, scb], rest) = take_prefix::<6>(data);
    let client = config(cf, csb, ccb);
    let server = config(sf, ssb, scb);
    let text = String::from_utf8_lossy(rest);

    // Our own offer always negotiates.
    let offer = client.offer();
    reparses_to_itself(&offer);
    let agreed = server.accept_offer(&offer).expect("a server accepts our offer");
    check_agreement(&client, &offer, &agreed);

    let list = match ExtensionOffer::parse_list(&text) {
        Ok(list) => list,
        Err(err) => {
            assert!(err.at <= text.len(), "error position {} past the end {}", err.at, text.len());
            return;
        }
    };
    let joined = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let back = ExtensionOffer::parse_list(&joined).unwrap_or_else(|err| panic!("{joined:?} does not re-parse: {err}"));
    assert_eq!(back, list, "{text:?} -> {joined:?}");

    for offer in &list {
        reparses_to_itself(offer);
        if let Some(agreed) = server.accept_offer(offer) {
            assert!(offer.name().eq_ignore_ascii_case(PERMESSAGE_DEFLATE));
            assert!((8..=15).contains(&agreed.server_max_window_bits));
            assert!((8..=15).contains(&agreed.client_max_window_bits));
            assert!(agreed.server_max_window_bits <= clamped(server.server_max_window_bits));
            if offer.param("client_max_window_bits").is_some() {
                assert!(agreed.client_max_window_bits <= clamped(server.client_max_window_bits));
            } else {
                assert_eq!(agreed.client_max_window_bits, 15, "limited a client that did not allow it");
            }
            if server.server_no_context_takeover {
                assert!(agreed.server_no_context_takeover);
            }
            if server.client_no_context_takeover {
                assert!(agreed.client_no_context_takeover);
            }
            if let Some(writer) = describes(offer) {
                check_agreement(&writer, offer, &agreed);
            }
        }
        if let Ok(params) = client.accept_response(offer) {
            assert!((8..=15).contains(&params.server_max_window_bits));
            assert!(params.server_max_window_bits <= clamped(client.server_max_window_bits));
            assert!((8..=15).contains(&params.client_max_window_bits));
            assert!(params.client_max_window_bits <= clamped(client.client_max_window_bits));
            if client.client_no_context_takeover {
                assert!(params.client_no_context_takeover);
            }
        }
    }
});
