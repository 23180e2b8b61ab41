//! Unit tests of permessage-deflate: negotiation tables and the codec (round trips, fragments, the inflate limit).

use super::*;

fn offer(text: &str) -> ExtensionOffer {
    ExtensionOffer::parse_list(text).unwrap().remove(0)
}

#[test]
fn server_negotiation_table() {
    let config = DeflateConfig::default();
    let cases = [
        ("permessage-deflate", Some((false, false, 15, 15)), "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", Some((false, false, 15, 15)), "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=10",
            Some((false, false, 10, 15)),
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Some((true, true, 15, 15)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=8",
            Some((false, false, 8, 9)),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9",
        ),
        ("permessage-deflate; server_max_window_bits", None, ""),
        ("permessage-deflate; server_max_window_bits=7", None, ""),
        ("permessage-deflate; server_max_window_bits=16", None, ""),
        ("permessage-deflate; server_max_window_bits=010", None, ""),
        ("permessage-deflate; client_max_window_bits=0", None, ""),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None, ""),
        ("permessage-deflate; server_no_context_takeover=1", None, ""),
        ("permessage-deflate; mystery", None, ""),
        ("x-webkit-deflate-frame", None, ""),
    ];
    for (text, expected, response) in cases {
        let offered = offer(text);
        let params = config.accept_offer(&offered);
        let got = params.map(|p| {
            (
                p.server_no_context_takeover,
                p.client_no_context_takeover,
                p.server_max_window_bits,
                p.client_max_window_bits,
            )
        });
        assert_eq!(got, expected, "{text}");
        if let Some(params) = params {
            assert_eq!(params.response(&offered).to_string(), response, "{text}");
        }
    }
}

#[test]
fn server_config_limits_what_it_grants() {
    let config = DeflateConfig { server_max_window_bits: 12, client_max_window_bits: 10, ..Default::default() };
    let offered = offer("permessage-deflate; client_max_window_bits");
    let params = config.accept_offer(&offered).unwrap();
    assert_eq!((params.server_max_window_bits, params.client_max_window_bits), (12, 10));
    assert_eq!(
        params.response(&offered).to_string(),
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"
    );
    // Without client_max_window_bits in the offer, the client's window cannot be limited.
    let params = config.accept_offer(&offer("permessage-deflate")).unwrap();
    assert_eq!(params.client_max_window_bits, 15);
}

#[test]
fn client_offer_and_response_checks() {
    let config = DeflateConfig { server_max_window_bits: 10, ..Default::default() };
    assert_eq!(config.offer().to_string(), "permessage-deflate; server_max_window_bits=10; client_max_window_bits");
    let ok = config.accept_response(&offer("permessage-deflate; server_max_window_bits=9; client_max_window_bits=8"));
    assert_eq!(
        ok.unwrap(),
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 9,
            client_max_window_bits: 8
        }
    );
    for bad in [
        "permessage-deflate",                            // server ignored our limit of 10
        "permessage-deflate; server_max_window_bits=11", // larger than asked
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits", // no value
        "permessage-deflate; server_max_window_bits=10; foo",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    ] {
        assert!(config.accept_response(&offer(bad)).is_err(), "{bad}");
    }
}

fn round_trip(params_bits: (u8, u8), reset: bool, messages: &[Vec<u8>]) {
    let mut deflater = Deflater::new(params_bits.0, 6, reset, 0);
    let mut inflater = Inflater::new(params_bits.1.max(params_bits.0), reset);
    let mut wire = Vec::new();
    for message in messages {
        deflater.compress(message, true, &mut wire);
        assert!(!wire.ends_with(&TAIL));
        let mut out = Vec::new();
        inflater.inflate(&wire, &mut out, 1 << 24).unwrap();
        inflater.finish(&mut out, 1 << 24).unwrap();
        assert_eq!(&out, message);
    }
}

#[test]
fn codec_round_trips_for_every_window_and_takeover() {
    let text: Vec<u8> = b"hello permessage-deflate ".iter().cycle().take(5000).copied().collect();
    let noise: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let messages = vec![text.clone(), Vec::new(), Vec::new(), noise, text, b"x".to_vec(), Vec::new()];
    for bits in 8..=15 {
        for reset in [false, true] {
            round_trip((bits, bits), reset, &messages);
        }
    }
}

#[test]
fn fragments_compress_as_one_stream() {
    let mut deflater = Deflater::new(15, 6, false, 0);
    let mut wire = Vec::new();
    let mut piece = Vec::new();
    for (chunk, fin) in [(&b"first part, "[..], false), (b"", false), (b"second part", true)] {
        deflater.compress(chunk, fin, &mut piece);
        wire.extend_from_slice(&piece);
    }
    let mut inflater = Inflater::new(15, false);
    let mut out = Vec::new();
    inflater.inflate(&wire, &mut out, 1000).unwrap();
    inflater.finish(&mut out, 1000).unwrap();
    assert_eq!(out, b"first part, second part");
}

#[test]
fn inflate_stops_at_the_limit() {
    let bomb = vec![0u8; 10 << 20];
    let mut deflater = Deflater::new(15, 9, false, 0);
    let mut wire = Vec::new();
    deflater.compress(&bomb, true, &mut wire);
    assert!(wire.len() < 20 << 10, "10 MiB of zeros compress to {} bytes", wire.len());
    let mut inflater = Inflater::new(15, false);
    let mut out = Vec::new();
    assert_eq!(inflater.inflate(&wire, &mut out, 1 << 20), Err(InflateError::TooLarge));
    assert!(out.capacity() <= (1 << 20) + 1, "capacity {}", out.capacity());
    let mut inflater = Inflater::new(15, false);
    assert_eq!(inflater.inflate(&[0xff, 0xff, 0xff], &mut Vec::new(), 100), Err(InflateError::Corrupt));
}
