//! Frame-layer throughput: decode + unmask, the connection's receive path,
//! masking beside a plain memcpy of the same bytes, and `Utf8Bytes::as_str`
//! beside re-validating (the reason `utf8.rs` has its one `unsafe` block).
//!
//! Run: `cargo bench --bench frames`.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rfc6455::frame::{apply_mask, encode_frame, FrameDecoder, MaskKey, OpCode};
use rfc6455::{Config, Connection, Event, Message, Role};

const SIZES: [(usize, &str); 4] = [(16, "16B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
const KEY: MaskKey = MaskKey([0x37, 0xfa, 0x21, 0x3d]);

fn text_payload(len: usize) -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog. ".iter().copied().cycle().take(len).collect()
}

/// Text with multi-byte characters (Greek, CJK, emoji) among ASCII, `len`
/// bytes or a few less (it ends on a character boundary).
fn mixed_text_payload(len: usize) -> Vec<u8> {
    let mut text = String::with_capacity(len);
    for c in "Καλημέρα κόσμε, 你好世界 🦀 the quick brown fox. ".chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    text.into_bytes()
}

/// One masked client frame (as a server receives it).
fn masked_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(payload.len() + 14);
    encode_frame(&mut wire, opcode, true, 0, Some(KEY), payload);
    wire
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_unmask");
    for (len, name) in SIZES {
        let wire = masked_frame(OpCode::Binary, &text_payload(len));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            let mut decoder = FrameDecoder::new(Role::Server, 16 << 20);
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| {
                    let frame = decoder.decode(buf).unwrap().unwrap();
                    black_box(frame.payload.len())
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn receive_text(c: &mut Criterion) {
    // The full server receive path: decode, unmask, validate UTF-8, deliver.
    let mut group = c.benchmark_group("connection_receive_text");
    let now = Instant::now();
    let config = Config::default();
    let inputs = SIZES.iter().flat_map(|&(len, name)| {
        [(text_payload(len), format!("ascii/{name}")), (mixed_text_payload(len), format!("mixed/{name}"))]
    });
    for (payload, name) in inputs {
        let wire = masked_frame(OpCode::Text, &payload);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(name, |b| {
            let mut conn = Connection::server(&config, now);
            b.iter(|| {
                conn.handle_read(&wire, now);
                match conn.poll_event() {
                    Some(Event::Message(Message::Text(text))) => black_box(text.len()),
                    other => panic!("unexpected {other:?}"),
                }
            });
        });
    }
    group.finish();
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for (len, name) in SIZES {
        let src = text_payload(len);
        let mut dst = src.clone();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("apply_mask/{name}"), |b| {
            b.iter(|| apply_mask(black_box(&mut dst), KEY, 1));
        });
        group.bench_function(format!("memcpy/{name}"), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)));
        });
    }
    group.finish();
}

fn utf8_access(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8_bytes_as_str");
    let text = rfc6455::Utf8Bytes::from(String::from_utf8(text_payload(64 << 10)).unwrap());
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("as_str/64KiB", |b| b.iter(|| black_box(black_box(&text).as_str().len())));
    group.bench_function("from_utf8/64KiB", |b| {
        b.iter(|| black_box(std::str::from_utf8(black_box(text.as_bytes())).unwrap().len()))
    });
    group.finish();
}

criterion_group!(benches, decode, receive_text, mask, utf8_access);
criterion_main!(benches);
