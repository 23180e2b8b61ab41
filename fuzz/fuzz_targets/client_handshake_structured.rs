//! Fuzzes `rfc6455::handshake::ClientHandshake` with mostly valid `101`
//! responses: the right `Sec-WebSocket-Accept` for `handshake.key()`, and
//! fuzzed status line, `Upgrade`/`Connection` values, subprotocol,
//! `Sec-WebSocket-Extensions` (structured permessage-deflate parameters and
//! raw strings), extra headers and bytes after the head. The client's own
//! permessage-deflate configuration is fuzzed too.
//!
//! Invariants:
//! * a complete response is a `101` with an offered subprotocol, and
//!   permessage-deflate parameters only if we offered it, within what we
//!   offered (window bits 8..=15, no larger than ours, our
//!   `client_no_context_takeover` kept);
//! * the negotiated parameters work: a server `Connection` that uses the
//!   parameters literally written in the response and the client
//!   `Connection` from `into_connection` exchange compressed messages both
//!   ways (twice, to exercise context takeover) and receive them unchanged;
//! * a clean, well-formed response with the right accept key and no
//!   extension is never refused.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams};
use rfc6455::extensions::ExtensionOffer;
use rfc6455::handshake::{ClientHandshake, ClientRequest};
use rfc6455::{Config, Connection, Event, Message, Status};
use rfc6455_fuzz::{transmit_all, Watch};

#[derive(Debug, Arbitrary)]
struct Knobs {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
}

#[derive(Debug, Clone, Arbitrary)]
enum DeflateParam {
    ServerNoContextTakeover,
    ClientNoContextTakeover,
    ServerMaxWindowBits { bits: u8, quoted: bool },
    ClientMaxWindowBits { bits: Option<u8>, quoted: bool },
    Unknown(String),
}

#[derive(Debug, Arbitrary)]
enum Extension {
    Deflate(Vec<DeflateParam>),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    offer_deflate: Option<Knobs>,
    offer_protocols: bool,
    status: u8,
    upgrade: u8,
    connection: u8,
    bad_accept: Option<String>,
    protocol: Option<u8>,
    extensions: Vec<Vec<Extension>>,
    extra: Vec<(String, String)>,
    trailing: Vec<u8>,
}

/// `text` without line breaks, so that the head ends where this harness
/// ends it (the raw `client_handshake` target covers broken heads).
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn bits_text(bits: u8) -> String {
    // Mostly 8..=15, sometimes out of range or with a leading zero.
    match bits % 24 {
        n @ 0..=7 => (n + 8).to_string(),
        16 => "015".to_owned(),
        17 => "+9".to_owned(),
        n => n.to_string(),
    }
}

fn param_text(param: &DeflateParam) -> String {
    let value = |text: String, quoted: bool| if quoted { format!("\"{text}\"") } else { text };
    match param {
        DeflateParam::ServerNoContextTakeover => "server_no_context_takeover".to_owned(),
        DeflateParam::ClientNoContextTakeover => "client_no_context_takeover".to_owned(),
        DeflateParam::ServerMaxWindowBits { bits, quoted } => {
            format!("server_max_window_bits={}", value(bits_text(*bits), *quoted))
        }
        DeflateParam::ClientMaxWindowBits { bits: None, .. } => "client_max_window_bits".to_owned(),
        DeflateParam::ClientMaxWindowBits { bits: Some(bits), quoted } => {
            format!("client_max_window_bits={}", value(bits_text(*bits), *quoted))
        }
        DeflateParam::Unknown(text) => text.clone(),
    }
}

/// The parameters a server that wrote the response entry `entry` uses,
/// read from the text as written (valid when the client accepted it, which
/// rules out duplicates, unknown names and bad values).
fn server_view(entry: &str) -> DeflateParams {
    let offers = ExtensionOffer::parse_list(entry).expect("the client parsed it");
    let mut view = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    for param in offers[0].params() {
        let bits = || param.value.as_deref().and_then(|v| v.parse().ok());
        match param.name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => view.server_no_context_takeover = true,
            "client_no_context_takeover" => view.client_no_context_takeover = true,
            "server_max_window_bits" => view.server_max_window_bits = bits().expect("accepted bits"),
            "client_max_window_bits" => view.client_max_window_bits = bits().unwrap_or(15),
            other => panic!("the client accepted an unknown parameter {other:?}"),
        }
    }
    view
}

fn deliver(from: &mut Connection, to: &mut Connection, watch: &mut Watch, now: Instant) -> Vec<Event> {
    let bytes = transmit_all(from);
    to.handle_read(&bytes, now);
    watch.drain(to)
}

fn sample(seed: usize) -> Vec<u8> {
    // Compressible, longer than the default 64-byte threshold.
    format!("message {seed}: the quick brown fox jumps over the lazy dog. ").repeat(3).into_bytes()
}

fn talk(client: &mut Connection, server_params: &DeflateParams, now: Instant) {
    let config = Config::default();
    let mut server = Connection::server(&config, now).with_deflate(server_params, &DeflateConfig::default());
    let mut client_watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    let mut server_watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    client_watch.drain(client);
    for round in 0..2 {
        let up = sample(round);
        client.send_binary(&up).expect("client send");
        let events = deliver(client, &mut server, &mut server_watch, now);
        assert_eq!(events, [Event::Message(Message::Binary(up.into()))], "client to server, round {round}");
        let down = sample(round + 10);
        server.send_binary(&down).expect("server send");
        let events = deliver(&mut server, client, &mut client_watch, now);
        assert_eq!(events, [Event::Message(Message::Binary(down.into()))], "server to client, round {round}");
    }
}

fuzz_target!(|input: Input| {
    let now = Instant::now();
    let mut config = Config::default();
    config.deflate = input.offer_deflate.as_ref().map(|knobs| {
        let mut deflate = DeflateConfig::default();
        deflate.server_no_context_takeover = knobs.server_no_context_takeover;
        deflate.client_no_context_takeover = knobs.client_no_context_takeover;
        deflate.server_max_window_bits = knobs.server_max_window_bits % 18;
        deflate.client_max_window_bits = knobs.client_max_window_bits % 18;
        deflate
    });
    let mut request = ClientRequest::new("ws://example.com/chat").expect("a valid URL");
    if input.offer_protocols {
        request = request.protocol("chat").and_then(|r| r.protocol("superchat")).expect("tokens");
    }
    let mut hs = ClientHandshake::new(&request, &config, [42; 32]);
    // The request is written out; the connection must not send it again.
    hs.advance_transmit(hs.poll_transmit().len());

    let mut clean = true;
    let mut head = String::new();
    head.push_str(match input.status % 8 {
        0..=3 => "HTTP/1.1 101 Switching Protocols\r\n",
        4 => "HTTP/1.1 101 \r\n",
        5 => {
            clean = false;
            "HTTP/1.0 101 Switching Protocols\r\n"
        }
        6 => {
            clean = false;
            "HTTP/1.1 200 OK\r\n"
        }
        _ => {
            clean = false;
            "HTTP/1.1 426 Upgrade Required\r\n"
        }
    });
    head.push_str(match input.upgrade % 6 {
        0..=2 => "Upgrade: websocket\r\n",
        3 => "upgrade: WebSocket\r\n",
        4 => "Upgrade: h2c, websocket\r\n",
        _ => {
            clean = false;
            "Upgrade: websockets\r\n"
        }
    });
    head.push_str(match input.connection % 6 {
        0..=2 => "Connection: Upgrade\r\n",
        3 => "connection: keep-alive, upgrade\r\n",
        4 => "Connection: UPGRADE\r\n",
        _ => {
            clean = false;
            "Connection: close\r\n"
        }
    });
    match &input.bad_accept {
        None => head.push_str(&format!("Sec-WebSocket-Accept: {}\r\n", hs.key().accept_key().as_str())),
        Some(bad) => {
            clean = false;
            head.push_str(&format!("Sec-WebSocket-Accept: {}\r\n", one_line(bad)));
        }
    }
    if let Some(choice) = input.protocol {
        clean = false;
        head.push_str(match choice % 4 {
            0 => "Sec-WebSocket-Protocol: chat\r\n",
            1 => "Sec-WebSocket-Protocol: superchat\r\n",
            2 => "Sec-WebSocket-Protocol: mqtt\r\n",
            _ => "Sec-WebSocket-Protocol: chat, superchat\r\n",
        });
    }
    let mut raw_extensions = false;
    let mut deflate_entries = Vec::new();
    for line in &input.extensions {
        clean = false;
        let entries: Vec<String> = line
            .iter()
            .map(|extension| match extension {
                Extension::Deflate(params) => {
                    let mut text = "permessage-deflate".to_owned();
                    for param in params {
                        text.push_str("; ");
                        text.push_str(&param_text(param));
                    }
                    deflate_entries.push(one_line(&text));
                    text
                }
                Extension::Raw(text) => {
                    raw_extensions = true;
                    text.clone()
                }
            })
            .collect();
        head.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", one_line(&entries.join(", "))));
    }
    for (name, value) in &input.extra {
        clean = false;
        head.push_str(&format!("{}: {}\r\n", one_line(name), one_line(value)));
    }
    head.push_str("\r\n");
    let mut wire = head.into_bytes();
    wire.extend_from_slice(&input.trailing);

    hs.handle_read(&wire);
    let outcome = hs.poll_response();
    if clean {
        assert!(matches!(outcome, Ok(Status::Complete(_))), "a clean response was refused: {outcome:?}");
    }
    let Ok(Status::Complete(response)) = outcome else {
        return;
    };
    assert_eq!(response.status(), 101);
    if let Some(protocol) = response.protocol() {
        assert!(input.offer_protocols && (protocol == "chat" || protocol == "superchat"), "unoffered {protocol:?}");
    }
    let deflate = response.deflate().copied();
    if let Some(params) = &deflate {
        let knobs = input.offer_deflate.as_ref().expect("permessage-deflate accepted without an offer");
        let ours = config.deflate.as_ref().expect("offered");
        assert!((8..=15).contains(&params.server_max_window_bits));
        assert!((8..=15).contains(&params.client_max_window_bits));
        assert!(params.server_max_window_bits <= ours.server_max_window_bits.clamp(8, 15));
        assert!(params.client_max_window_bits <= ours.client_max_window_bits.clamp(8, 15));
        if knobs.client_no_context_takeover {
            assert!(params.client_no_context_takeover);
        }
    }
    let mut client = hs.into_connection(now).expect("a complete handshake gives a connection");
    if input.trailing.is_empty() {
        match (&deflate, raw_extensions) {
            (Some(_), false) => {
                // The one accepted entry is the structured one.
                assert_eq!(deflate_entries.len(), 1, "permessage-deflate accepted from {deflate_entries:?}");
                talk(&mut client, &server_view(&deflate_entries[0]), now);
            }
            (None, _) => talk_plain(&mut client, now),
            (Some(_), true) => {}
        }
    } else {
        let mut watch = Watch::new(config.max_message_size, config.write_buffer_limit);
        watch.drain(&mut client);
    }
});

/// Without permessage-deflate, plain messages go both ways.
fn talk_plain(client: &mut Connection, now: Instant) {
    let config = Config::default();
    let mut server = Connection::server(&config, now);
    let mut client_watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    let mut server_watch = Watch::new(config.max_message_size, config.write_buffer_limit);
    client_watch.drain(client);
    let up = sample(1);
    client.send_binary(&up).expect("client send");
    let events = deliver(client, &mut server, &mut server_watch, now);
    assert_eq!(events, [Event::Message(Message::Binary(up.into()))]);
}
