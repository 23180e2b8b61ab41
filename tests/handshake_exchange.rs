//! The whole opening handshake, a client and a server wired together: the
//! RFC 6455 §1.3 example, seeded keys, the subprotocol and extensions
//! negotiated, and a refused accept that the handshake survives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::handshake::*;
use rfc6455::extensions::ExtensionOffer;
use rfc6455::handshake::{accept_key, Accept, ClientHandshake, ServerHandshake};
use rfc6455::{Event, Message, Status, UsageError};

#[test]
fn rfc_1_3_accept_key_example() {
    assert_eq!(accept_key(SAMPLE_KEY.as_bytes()).as_str(), SAMPLE_ACCEPT);
    assert_eq!(sample_key().as_str(), SAMPLE_KEY);
    assert_eq!(sample_key().accept_key().as_str(), SAMPLE_ACCEPT);
}

#[test]
fn rfc_example_full_handshake_with_subprotocol_selection() {
    let now = Instant::now();
    let request = chat_request()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap()
        .header("Origin", "http://example.com")
        .unwrap();
    let mut client_hs = client_handshake(&request);
    assert_eq!(client_hs.key().as_str(), SAMPLE_KEY);
    let request_wire = client_hs.poll_transmit().to_vec();
    assert_eq!(
        text(&request_wire),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://example.com\r\n\r\n"
    );
    client_hs.advance_transmit(request_wire.len());
    assert!(client_hs.poll_transmit().is_empty());

    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(&request_wire);
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("the RFC request must be accepted") };
    assert_eq!(upgrade.protocols().collect::<Vec<_>>(), ["chat", "superchat"]);
    assert_eq!(upgrade.origin(), Some("http://example.com"));
    assert_eq!(upgrade.key().as_str(), SAMPLE_KEY);
    let mut server = server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap();

    let response_wire = take(&mut server);
    assert_eq!(
        text(&response_wire),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    client_hs.handle_read(&response_wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("the server's 101 must be accepted") };
    assert_eq!(response.status(), 101);
    assert_eq!(response.reason(), "Switching Protocols");
    assert_eq!(response.protocol(), Some("chat"));
    assert!(response.extensions().is_empty());
    assert_eq!(response.header("sec-websocket-accept"), Some(SAMPLE_ACCEPT.as_bytes()));
    let mut client = client_hs.into_connection(now).unwrap();
    assert!(client.poll_transmit().is_empty(), "the request must not be sent twice");

    // Both directions work afterwards.
    client.send_text("hello").unwrap();
    server.handle_read(&take(&mut client), now);
    assert_eq!(common::events(&mut server), [Event::Message(Message::from("hello"))]);
    server.send_binary(&[1, 2, 3]).unwrap();
    client.handle_read(&take(&mut server), now);
    assert_eq!(common::events(&mut client), [Event::Message(Message::Binary(Bytes::from_static(&[1, 2, 3])))]);
}

#[test]
fn seeded_random_key_is_reproducible_and_accepted() {
    let request = chat_request();
    let first = ClientHandshake::new(&request, &config(), [42; 32]);
    let second = ClientHandshake::new(&request, &config(), [42; 32]);
    assert_eq!(first.key(), second.key());
    assert_eq!(first.poll_transmit(), second.poll_transmit());
    assert_ne!(ClientHandshake::new(&request, &config(), [7; 32]).key(), first.key());

    let mut client_hs = first;
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("a generated key must be accepted") };
    assert_eq!(upgrade.key(), client_hs.key());
    assert_eq!(upgrade.key().as_str().len(), 24);
    let mut server = server_hs.accept(&Accept::new(), Instant::now()).unwrap();
    let response_wire = take(&mut server);
    let accept_line = format!("\r\nSec-WebSocket-Accept: {}\r\n", client_hs.key().accept_key().as_str());
    assert!(text(&response_wire).contains(&accept_line));
    client_hs.handle_read(&response_wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("expected the 101 to be accepted") };
    assert_eq!(response.protocol(), None);
}

#[test]
fn accepting_an_unoffered_subprotocol_is_a_usage_error_and_the_handshake_survives() {
    let now = Instant::now();
    let request = chat_request().protocol("chat").unwrap();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    // Before the request arrived there is nothing to accept.
    assert_eq!(server_hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeIncomplete);
    server_hs.handle_read(client_hs.poll_transmit());
    assert!(server_hs.poll_request().unwrap().is_complete());

    assert_eq!(
        server_hs.accept(&Accept::new().protocol("mqtt").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("mqtt".into())
    );
    assert_eq!(
        server_hs.accept(&Accept::new().protocol("Chat").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("Chat".into())
    );
    assert_eq!(
        server_hs.accept(&Accept::new().extension(ExtensionOffer::new("x-foo").unwrap()).unwrap(), now).unwrap_err(),
        UsageError::ExtensionNotOffered("x-foo".into())
    );
    assert!(server_hs.poll_transmit().is_empty(), "nothing may be sent by a refused accept");
    assert!(server_hs.poll_request().unwrap().is_complete());

    let mut server = server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap();
    client_hs.handle_read(&take(&mut server));
    let Ok(Status::Complete(response)) = client_hs.poll_response() else {
        panic!("the corrected accept must complete the handshake")
    };
    assert_eq!(response.protocol(), Some("chat"));
    assert_eq!(server_hs.accept(&Accept::new(), now).unwrap_err(), UsageError::HandshakeAnswered);

    // With no subprotocol offered at all, choosing one is refused too.
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(&request_with(&[], &[]));
    assert!(server_hs.poll_request().unwrap().is_complete());
    assert_eq!(
        server_hs.accept(&Accept::new().protocol("chat").unwrap(), now).unwrap_err(),
        UsageError::ProtocolNotOffered("chat".into())
    );
    assert!(server_hs.accept(&Accept::new(), now).is_ok());
}

#[test]
fn accepted_extension_and_headers_reach_the_client() {
    let now = Instant::now();
    let offer = ExtensionOffer::new("x-foo").unwrap().with_param("level", Some("3")).unwrap();
    let request = chat_request().extension(offer).unwrap();
    let mut client_hs = client_handshake(&request);
    let mut server_hs = ServerHandshake::new(&config());
    server_hs.handle_read(client_hs.poll_transmit());
    let Ok(Status::Complete(upgrade)) = server_hs.poll_request() else { panic!("request refused") };
    assert_eq!(upgrade.extensions()[0].param("level"), Some(Some("3")));
    let accept = Accept::new()
        .extension(ExtensionOffer::new("X-Foo").unwrap())
        .unwrap()
        .header("Set-Cookie", "session=1")
        .unwrap();
    let mut server = server_hs.accept(&accept, now).unwrap();
    let wire = take(&mut server);
    assert_eq!(
        text(&wire),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: X-Foo\r\n\
         Set-Cookie: session=1\r\n\r\n"
    );
    client_hs.handle_read(&wire);
    let Ok(Status::Complete(response)) = client_hs.poll_response() else { panic!("response refused") };
    assert_eq!(response.extensions(), [ExtensionOffer::new("X-Foo").unwrap()]);
    assert_eq!(response.header("set-cookie"), Some(&b"session=1"[..]));
}
