//! rfc6455 beside tungstenite, fastwebsockets and tokio-websockets, on
//! identical inputs, one criterion group per row so that every ratio is a
//! same-run comparison:
//!
//! * `receive/{size}/{one_buffer,4KiB_chunks}/{impl}`: server receive of
//!   masked client text frames (decode, unmask, UTF-8 validation);
//! * `send/{size}/{server_unmasked,client_masked}/{impl}`: encoding binary
//!   messages and writing them to an in-memory sink;
//! * `mask/{size}/{function}`: the public masking functions beside a memcpy;
//! * `handshake/{impl}`: parsing a browser's upgrade request and producing
//!   the `101` response.
//!
//! Every implementation is checked once, on a fresh instance, before it is
//! timed (message count and payload bytes, or the frames and the response it
//! produced), so no row can silently measure nothing. Each adapter's module
//! in `src/` says which API it uses and why that is its fastest public path.
//!
//! Run: `benches/peers/run.sh` (or `cargo bench` here, then `report.py`).

use std::hint::black_box;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rfc6455_peer_benches::fastwebsockets_impl::{
    self, FastwebsocketsHandshaker, FastwebsocketsReceiver, FastwebsocketsSender,
};
use rfc6455_peer_benches::rfc6455_impl::{self, Rfc6455Handshaker, Rfc6455Receiver, Rfc6455Sender};
use rfc6455_peer_benches::tokio_websockets_impl::{
    TokioWebsocketsHandshaker, TokioWebsocketsReceiver, TokioWebsocketsSender,
};
use rfc6455_peer_benches::tungstenite_impl::{TungsteniteHandshaker, TungsteniteReceiver, TungsteniteSender};
use rfc6455_peer_benches::{
    check_101, masked_text_wire, messages_per_pass, parse_frames, text_payload, Handshaker, Receiver, Sender,
    CHROME_KEY, CHROME_REQUEST, CHUNK, SIZES,
};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Times `receive_pass` of a receiver made by `make`, after checking on that
/// same (fresh) receiver that two passes deliver exactly `count` copies of
/// `payload` each. Setup happens only if criterion selects the benchmark.
fn bench_receive<R: Receiver>(group: &mut Group<'_>, name: &str, make: impl Fn() -> R, payload: &[u8], count: usize) {
    let mut receiver: Option<R> = None;
    group.bench_function(name, |b| {
        let receiver = receiver.get_or_insert_with(|| {
            let mut receiver = make();
            for _ in 0..2 {
                let mut seen = 0;
                receiver.receive_pass(count, |text| {
                    assert_eq!(text, payload, "{name}: payload {seen} differs");
                    seen += 1;
                });
                assert_eq!(seen, count, "{name}: message count");
            }
            receiver
        });
        b.iter(|| {
            receiver.receive_pass(count, |text| {
                black_box(text);
            })
        });
    });
}

fn receive(c: &mut Criterion) {
    for (len, size) in SIZES {
        let payload = text_payload(len);
        let count = messages_per_pass(len);
        let wire = masked_text_wire(payload.as_bytes(), count);
        for (mode, chunk) in [("one_buffer", usize::MAX), ("4KiB_chunks", CHUNK)] {
            let mut group = c.benchmark_group(format!("receive/{size}/{mode}"));
            group.throughput(Throughput::Bytes((len * count) as u64));
            let payload = payload.as_bytes();
            bench_receive(&mut group, "rfc6455", || Rfc6455Receiver::new(wire.clone(), chunk), payload, count);
            bench_receive(&mut group, "tungstenite", || TungsteniteReceiver::new(wire.clone(), chunk), payload, count);
            bench_receive(
                &mut group,
                "fastwebsockets",
                || FastwebsocketsReceiver::new(wire.clone(), chunk),
                payload,
                count,
            );
            bench_receive(
                &mut group,
                "tokio-websockets",
                || TokioWebsocketsReceiver::new(wire.clone(), chunk),
                payload,
                count,
            );
            group.finish();
        }
    }
}

/// Checks what a fresh sender from `make` writes for two batches, then
/// times `send_batch` on another fresh one.
fn bench_send<S: Sender>(
    group: &mut Group<'_>,
    name: &str,
    make: impl Fn() -> S,
    payload: &Bytes,
    count: usize,
    masked: bool,
) {
    let mut sender: Option<S> = None;
    group.bench_function(name, |b| {
        let sender = sender.get_or_insert_with(|| {
            let mut checked = make();
            checked.send_batch(payload, count);
            checked.send_batch(payload, count);
            let frames = parse_frames(&checked.into_output());
            assert_eq!(frames.len(), 2 * count, "{name}: one frame per message");
            for (i, frame) in frames.iter().enumerate() {
                assert!(frame.fin && frame.rsv == 0 && frame.opcode == 0x2, "{name}: frame {i} header");
                assert_eq!(frame.masked, masked, "{name}: frame {i} mask bit");
                assert_eq!(frame.payload.len(), payload.len(), "{name}: frame {i} length");
                // An implementation that masks the caller's buffer in place
                // sends the original bytes only the first time.
                if i == 0 || !(masked && S::MASKS_IN_PLACE) {
                    assert_eq!(frame.payload, payload[..], "{name}: frame {i} payload");
                }
            }
            make()
        });
        b.iter(|| sender.send_batch(black_box(payload), count));
    });
}

fn send(c: &mut Criterion) {
    use fastwebsockets::Role as FwsRole;
    use rfc6455::Role;
    use tungstenite::protocol::Role as TungRole;
    for (len, size) in SIZES {
        let payload = Bytes::from(text_payload(len).into_bytes());
        let count = messages_per_pass(len);
        for (mode, client) in [("server_unmasked", false), ("client_masked", true)] {
            let mut group = c.benchmark_group(format!("send/{size}/{mode}"));
            group.throughput(Throughput::Bytes((len * count) as u64));
            let (role, tung_role, fws_role) = match client {
                true => (Role::Client, TungRole::Client, FwsRole::Client),
                false => (Role::Server, TungRole::Server, FwsRole::Server),
            };
            bench_send(&mut group, "rfc6455", || Rfc6455Sender::new(role), &payload, count, client);
            bench_send(&mut group, "tungstenite", || TungsteniteSender::new(tung_role), &payload, count, client);
            bench_send(&mut group, "fastwebsockets", || FastwebsocketsSender::new(fws_role), &payload, count, client);
            bench_send(&mut group, "tokio-websockets", || TokioWebsocketsSender::new(client), &payload, count, client);
            group.finish();
        }
    }
}

/// The masking key of the `mask` group.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Public masking functions. tungstenite (`protocol::frame::mask`) and
/// tokio-websockets (`mask`) keep theirs in private modules, so they have no
/// row here; their masking is measured inside `receive` and `send`.
fn mask(c: &mut Criterion) {
    type MaskFn = fn(&mut [u8], [u8; 4]);
    let functions: [(&str, MaskFn); 2] =
        [("rfc6455_apply_mask", rfc6455_impl::mask), ("fastwebsockets_unmask", fastwebsockets_impl::mask)];
    for (len, size) in SIZES.into_iter().skip(1) {
        let src = text_payload(len).into_bytes();
        let expected: Vec<u8> = src.iter().zip(KEY.iter().cycle()).map(|(byte, k)| byte ^ k).collect();
        let mut group = c.benchmark_group(format!("mask/{size}"));
        group.throughput(Throughput::Bytes(len as u64));
        for (name, function) in functions {
            let mut buf = src.clone();
            function(&mut buf, KEY);
            assert_eq!(buf, expected, "{name} masks wrongly");
            function(&mut buf, KEY);
            assert_eq!(buf, src, "{name} does not unmask");
            group.bench_function(name, |b| b.iter(|| function(black_box(&mut buf[..]), black_box(KEY))));
        }
        let mut dst = vec![0u8; len];
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src[..]));
                black_box(&mut dst[..]);
            })
        });
        group.finish();
    }
}

fn bench_handshake<H: Handshaker>(group: &mut Group<'_>, name: &str, mut handshaker: H, expected_accept: &str) {
    let mut out = Vec::with_capacity(512);
    handshaker.handshake(CHROME_REQUEST, &mut out);
    check_101(&out, expected_accept);
    group.bench_function(name, |b| b.iter(|| handshaker.handshake(black_box(CHROME_REQUEST), &mut out)));
}

fn handshake(c: &mut Criterion) {
    // Computed by rfc6455 and checked against every implementation's
    // response; RFC 6455 §1.3's arithmetic is what they must all agree on.
    let accept = rfc6455::handshake::accept_key(CHROME_KEY.as_bytes());
    assert_eq!(accept.as_str(), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Bytes(CHROME_REQUEST.len() as u64));
    bench_handshake(&mut group, "rfc6455", Rfc6455Handshaker::default(), accept.as_str());
    bench_handshake(&mut group, "tungstenite", TungsteniteHandshaker, accept.as_str());
    bench_handshake(&mut group, "fastwebsockets", FastwebsocketsHandshaker, accept.as_str());
    bench_handshake(&mut group, "tokio-websockets", TokioWebsocketsHandshaker::new(CHROME_REQUEST), accept.as_str());
    group.finish();
}

criterion_group!(benches, receive, send, mask, handshake);
criterion_main!(benches);
