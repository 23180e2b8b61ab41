//! Fuzzes a client `Connection` and a server `Connection` talking to each
//! other, with and without permessage-deflate (fuzzed parameters, level and
//! threshold): arbitrary text and binary messages, whole or in fragments
//! with pings between the fragments, and pings on their own, sent either
//! way, with the bytes delivered in arbitrary chunk sizes at arbitrary
//! points; then a close handshake.
//!
//! Invariants:
//! * each side receives exactly the messages and pings the other sent, in
//!   order, and the pongs answering its own pings, in order;
//! * neither side ever fails or refuses a valid send;
//! * the close handshake completes cleanly on both sides (the client saw it
//!   initiated locally, the server remotely, code 1000 and the reason) and
//!   then both sides want the transport closed.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::{CloseCode, CloseReason, Config, Connection, DataKind, Event, Initiator, Message};
use rfc6455_fuzz::{chunks, transmit_all, FuzzParams, Watch};

#[derive(Debug, Arbitrary)]
struct Deflate {
    params: FuzzParams,
    client_level: u8,
    server_level: u8,
    threshold: u8,
}

#[derive(Debug, Arbitrary)]
enum Item {
    Text(String),
    Binary(Vec<u8>),
    Fragmented { text: bool, data: Vec<u8>, cuts: Vec<u8>, ping: Option<Vec<u8>> },
    Ping(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Step {
    from_server: bool,
    item: Item,
    deliver: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    deflate: Option<Deflate>,
    client_chunks: u8,
    server_chunks: u8,
    steps: Vec<Step>,
}

/// What a receiver must see: data messages and pings, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Message(Message),
    Ping(Vec<u8>),
}

struct Side {
    conn: Connection,
    watch: Watch,
    /// What this side sent, as the other must see it.
    sent: Vec<Seen>,
    /// Messages and pings this side received.
    received: Vec<Seen>,
    /// Payloads of the pings this side sent, and of the pongs it received.
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    closed: Option<CloseReason>,
    /// Chunking of the bytes this side receives.
    chunk_seed: u8,
}

impl Side {
    fn new(conn: Connection, config: &Config, chunk_seed: u8) -> Self {
        Self {
            conn,
            watch: Watch::new(config.max_message_size, config.write_buffer_limit),
            sent: Vec::new(),
            received: Vec::new(),
            pings: Vec::new(),
            pongs: Vec::new(),
            closed: None,
            chunk_seed,
        }
    }

    fn record(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Message(message) => self.received.push(Seen::Message(message)),
                Event::Ping(payload) => self.received.push(Seen::Ping(payload.to_vec())),
                Event::Pong { payload, .. } => self.pongs.push(payload.to_vec()),
                Event::Closed(reason) => {
                    assert!(self.closed.is_none());
                    self.closed = Some(reason);
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    fn ping(&mut self, payload: &[u8]) {
        let payload = &payload[..payload.len().min(125)];
        self.conn.ping(payload).expect("ping on an open connection");
        self.sent.push(Seen::Ping(payload.to_vec()));
        self.pings.push(payload.to_vec());
    }

    fn send(&mut self, item: Item) {
        match item {
            Item::Text(text) => {
                self.conn.send_text(&text).expect("send_text");
                self.sent.push(Seen::Message(Message::from(text)));
            }
            Item::Binary(data) => {
                self.conn.send_binary(&data).expect("send_binary");
                self.sent.push(Seen::Message(Message::from(data)));
            }
            Item::Fragmented { text, data, cuts, ping } => {
                let (kind, data) = match text {
                    true => (DataKind::Text, String::from_utf8_lossy(&data).into_owned().into_bytes()),
                    false => (DataKind::Binary, data),
                };
                let mut cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (data.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(data.len());
                let mut from = 0;
                for (i, &to) in cuts.iter().enumerate() {
                    let fin = i == cuts.len() - 1;
                    self.conn.send_fragment(kind, &data[from..to], fin).expect("send_fragment");
                    from = to;
                    // A ping between the first and the second fragment.
                    if let (0, false, Some(payload)) = (i, fin, &ping) {
                        self.ping(payload);
                    }
                }
                self.sent.push(Seen::Message(match kind {
                    DataKind::Text => Message::from(String::from_utf8(data).expect("lossy output is UTF-8")),
                    DataKind::Binary => Message::from(data),
                }));
                // With a single fragment, the ping follows the message.
                if let (1, Some(payload)) = (cuts.len(), &ping) {
                    self.ping(payload);
                }
            }
            Item::Ping(payload) => self.ping(&payload),
        }
        self.watch.check(&self.conn);
    }
}

/// Moves everything `from` has queued to `to`, in `to`'s chunking.
fn deliver(from: &mut Side, to: &mut Side, now: Instant) -> bool {
    let bytes = transmit_all(&mut from.conn);
    for piece in chunks(&bytes, to.chunk_seed) {
        to.conn.handle_read(piece, now);
        let events = to.watch.drain(&mut to.conn);
        to.record(events);
    }
    !bytes.is_empty()
}

/// Delivers both ways until neither side has anything to send.
fn settle(client: &mut Side, server: &mut Side, now: Instant) {
    for _ in 0..64 {
        let a = deliver(client, server, now);
        let b = deliver(server, client, now);
        if !a && !b {
            return;
        }
    }
    panic!("the connections keep talking");
}

fuzz_target!(|input: Input| {
    let now = Instant::now();
    let mut config = Config::default();
    config.write_buffer_limit = usize::MAX;
    let mut client_conn = Connection::client(&config, now, [42; 32]);
    let mut server_conn = Connection::server(&config, now);
    if let Some(deflate) = &input.deflate {
        let params = deflate.params.params();
        let mut client_deflate = DeflateConfig::default();
        client_deflate.level = u32::from(deflate.client_level % 10);
        client_deflate.threshold = usize::from(deflate.threshold);
        let mut server_deflate = client_deflate.clone();
        server_deflate.level = u32::from(deflate.server_level % 10);
        client_conn = client_conn.with_deflate(&params, &client_deflate);
        server_conn = server_conn.with_deflate(&params, &server_deflate);
    }
    let mut client = Side::new(client_conn, &config, input.client_chunks);
    let mut server = Side::new(server_conn, &config, input.server_chunks);

    for step in input.steps {
        if step.from_server {
            server.send(step.item);
        } else {
            client.send(step.item);
        }
        if step.deliver {
            deliver(&mut client, &mut server, now);
            deliver(&mut server, &mut client, now);
        }
    }
    settle(&mut client, &mut server, now);
    assert_eq!(server.received, client.sent, "the server did not receive what the client sent");
    assert_eq!(client.received, server.sent, "the client did not receive what the server sent");
    assert_eq!(client.pongs, client.pings, "the client's pings were not answered");
    assert_eq!(server.pongs, server.pings, "the server's pings were not answered");
    assert!(client.closed.is_none() && server.closed.is_none());

    client.conn.close(CloseCode::NORMAL, "done", now).expect("close on an open connection");
    settle(&mut client, &mut server, now);
    match &server.closed {
        Some(CloseReason::Clean { initiator: Initiator::Remote, remote }) => {
            assert_eq!((remote.code, remote.reason.as_str()), (CloseCode::NORMAL, "done"));
        }
        other => panic!("server close: {other:?}"),
    }
    match &client.closed {
        Some(CloseReason::Clean { initiator: Initiator::Local, remote }) => assert_eq!(remote.code, CloseCode::NORMAL),
        other => panic!("client close: {other:?}"),
    }
    assert!(server.conn.should_close_transport(), "the server closes the transport first");
    assert!(!client.conn.should_close_transport(), "the client waits for the server to close");
    client.conn.handle_eof(now);
    client.watch.drain(&mut client.conn);
    assert!(client.conn.should_close_transport());
});
