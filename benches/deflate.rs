//! permessage-deflate throughput: a server compresses messages and a client
//! inflates them, through the public `Connection` API (so framing, masking
//! and UTF-8 validation are included), on text-like and binary payloads.
//!
//! Run: `cargo bench --bench deflate`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Config, Connection, Event};

/// Text that compresses like chat or JSON: repetitive words, some variety.
fn text_like(len: usize) -> String {
    let words = [
        "{\"user\":",
        "\"alice\",",
        "\"text\":",
        "\"hello",
        "world\",",
        "\"ts\":",
        "1700000000}",
        "the",
        "quick",
        "brown",
        "fox",
    ];
    let mut out = String::with_capacity(len + 16);
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(words[(i * 7 + i / 3) % words.len()]);
        out.push(' ');
        i += 1;
    }
    out.truncate(len);
    out
}

/// Binary that barely compresses (a simple PRNG).
fn binary_like(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn pair(level: u32) -> (Connection, Connection) {
    let now = Instant::now();
    let config = Config::default();
    let mut deflate = DeflateConfig::default();
    deflate.level = level;
    deflate.threshold = 0;
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let server = Connection::server(&config, now).with_deflate(&params, &deflate);
    let client = Connection::client(&config, now, [42; 32]).with_deflate(&params, &deflate);
    (server, client)
}

fn round_trip(c: &mut Criterion) {
    let now = Instant::now();
    for level in [1, 3, 6] {
        let mut group = c.benchmark_group(format!("deflate_level_{level}"));
        for (name, len) in [("1KiB", 1 << 10), ("64KiB", 64 << 10)] {
            let text = text_like(len);
            let binary = binary_like(len);
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function(format!("text/{name}"), |b| {
                let (mut server, mut client) = pair(level);
                b.iter(|| {
                    server.send_text(&text).unwrap();
                    let wire = server.poll_transmit().len();
                    client.handle_read(server.poll_transmit(), now);
                    server.advance_transmit(wire);
                    match client.poll_event() {
                        Some(Event::Message(m)) => black_box(m.len()),
                        other => panic!("{other:?}"),
                    }
                });
            });
            group.bench_function(format!("binary/{name}"), |b| {
                let (mut server, mut client) = pair(level);
                b.iter(|| {
                    server.send_binary(&binary).unwrap();
                    let wire = server.poll_transmit().len();
                    client.handle_read(server.poll_transmit(), now);
                    server.advance_transmit(wire);
                    match client.poll_event() {
                        Some(Event::Message(m)) => black_box(m.len()),
                        other => panic!("{other:?}"),
                    }
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
