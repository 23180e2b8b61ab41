//! Huge messages through the adapters without holding them: `send_from` a
//! reader, `recv_part` / `read_part` in parts. A 1 GiB message each way
//! costs a few MiB, counted by the allocator (not timed); the bytes are
//! checked against the pattern they were generated from.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use common::alloc::{measure, Counting};
use rfc6455::io::blocking::WebSocket;
use rfc6455::io::tokio_ws::WebSocketStream;
use rfc6455::{Config, Connection, DataKind, MessagePart};
use tokio::io::{AsyncRead, ReadBuf};

#[global_allocator]
static GLOBAL: Counting = Counting;

const GIB: u64 = 1 << 30;

/// The payload repeats this block: 64 KiB plus 3 bytes, so parts and
/// fragments never line up with it.
fn block() -> Vec<u8> {
    (0..(64 << 10) + 3).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

/// `len` bytes of the repeated block, produced as they are read.
struct Pattern {
    block: Vec<u8>,
    offset: u64,
    len: u64,
}

impl Pattern {
    fn new(len: u64) -> Self {
        Self { block: block(), offset: 0, len }
    }

    fn fill(&mut self, out: &mut [u8]) -> usize {
        let at = (self.offset % self.block.len() as u64) as usize;
        let n = out.len().min(self.block.len() - at).min((self.len - self.offset) as usize);
        out[..n].copy_from_slice(&self.block[at..at + n]);
        self.offset += n as u64;
        n
    }
}

impl std::io::Read for Pattern {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        Ok(self.fill(out))
    }
}

impl AsyncRead for Pattern {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = this.fill(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Checks parts against the pattern as they come (slice comparisons, so a
/// debug build keeps up); returns the message's length at its last part.
struct Checker {
    block: Vec<u8>,
    offset: u64,
    parts: u64,
}

impl Checker {
    fn new() -> Self {
        Self { block: block(), offset: 0, parts: 0 }
    }

    fn part(&mut self, part: &MessagePart) -> Option<u64> {
        assert_eq!(part.kind, DataKind::Binary);
        assert_eq!(part.first, self.parts == 0);
        self.parts += 1;
        let mut data = &part.data[..];
        while !data.is_empty() {
            let at = (self.offset % self.block.len() as u64) as usize;
            let n = data.len().min(self.block.len() - at);
            assert!(data[..n] == self.block[at..at + n], "payload differs at byte {}", self.offset);
            self.offset += n as u64;
            data = &data[n..];
        }
        part.last.then_some(self.offset)
    }
}

fn huge_config() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 2 << 30;
    config.max_message_size = 2 << 30;
    config
}

#[test]
fn a_gib_each_way_through_the_tokio_adapter_in_a_few_mib() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ((), usage) = measure(|| {
        runtime.block_on(async {
            let (a, b) = tokio::io::duplex(256 << 10);
            let config = huge_config();
            let mut server = WebSocketStream::from_connection(a, Connection::server(&config, Instant::now()));
            let mut client = WebSocketStream::from_connection(b, Connection::client(&config, Instant::now(), [7; 32]));
            let upload = async {
                assert_eq!(client.send_from(DataKind::Binary, Pattern::new(GIB)).await.unwrap(), GIB);
                let mut checker = Checker::new();
                loop {
                    let part = client.recv_part().await.unwrap().expect("the echo");
                    if let Some(len) = checker.part(&part) {
                        return (len, checker.parts);
                    }
                }
            };
            let echo = async {
                let mut checker = Checker::new();
                let len = loop {
                    let part = server.recv_part().await.unwrap().expect("the upload");
                    if let Some(len) = checker.part(&part) {
                        break len;
                    }
                };
                assert_eq!(server.send_from(DataKind::Binary, Pattern::new(len)).await.unwrap(), GIB);
                checker.parts
            };
            let ((len, parts_down), parts_up) = tokio::join!(upload, echo);
            assert_eq!(len, GIB);
            assert!(parts_up > 1000 && parts_down > 1000, "handed out in parts: {parts_up} up, {parts_down} down");
        });
    });
    eprintln!("tokio adapter, 1 GiB each way: {usage:?}");
    assert!(usage.peak < 16 << 20, "{usage:?}");
}

/// A relay: every part received on one connection (`recv_part`) goes out
/// on another (`send_part`) as it arrives, so a message larger than any
/// buffer passes through in memory bounded by the parts.
#[test]
fn a_relay_forwards_a_64_mib_message_part_by_part_in_a_few_mib() {
    const LEN: u64 = 64 << 20;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ((), usage) = measure(|| {
        runtime.block_on(async {
            let config = huge_config();
            // sender -> relay_in (server) ... relay_out (client) -> receiver (server)
            let (a, b) = tokio::io::duplex(256 << 10);
            let mut sender = WebSocketStream::from_connection(a, Connection::client(&config, Instant::now(), [1; 32]));
            let mut relay_in = WebSocketStream::from_connection(b, Connection::server(&config, Instant::now()));
            let (c, d) = tokio::io::duplex(256 << 10);
            let mut relay_out =
                WebSocketStream::from_connection(c, Connection::client(&config, Instant::now(), [2; 32]));
            let mut receiver = WebSocketStream::from_connection(d, Connection::server(&config, Instant::now()));
            let send = async { assert_eq!(sender.send_from(DataKind::Binary, Pattern::new(LEN)).await.unwrap(), LEN) };
            let relay = async {
                let mut forwarded = 0u64;
                loop {
                    let part = relay_in.recv_part().await.unwrap().expect("the message");
                    let last = part.last;
                    forwarded += 1;
                    relay_out.send_part(part).await.unwrap();
                    if last {
                        return forwarded;
                    }
                }
            };
            let receive = async {
                let mut checker = Checker::new();
                loop {
                    let part = receiver.recv_part().await.unwrap().expect("the relayed message");
                    if let Some(len) = checker.part(&part) {
                        return (len, checker.parts);
                    }
                }
            };
            let ((), forwarded, (len, parts)) = tokio::join!(send, relay, receive);
            assert_eq!(len, LEN);
            assert!(forwarded > 100 && parts > 100, "relayed in parts: {forwarded} forwarded, {parts} received");
        });
    });
    eprintln!("relay, 64 MiB: {usage:?}");
    assert!(usage.peak < 16 << 20, "{usage:?}");
}

#[test]
fn a_gib_each_way_through_the_blocking_adapter_in_a_few_mib() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap();
        let mut ws = WebSocket::from_connection(tcp, Connection::server(&huge_config(), Instant::now()));
        measure(|| {
            let mut checker = Checker::new();
            let len = loop {
                let part = ws.read_part().unwrap().expect("the upload");
                if let Some(len) = checker.part(&part) {
                    break len;
                }
            };
            assert_eq!(ws.send_from(DataKind::Binary, Pattern::new(len)).unwrap(), GIB);
        })
        .1
    });
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(120))).unwrap();
    let mut ws = WebSocket::from_connection(tcp, Connection::client(&huge_config(), Instant::now(), [9; 32]));
    let (len, client_usage) = measure(|| {
        assert_eq!(ws.send_from(DataKind::Binary, Pattern::new(GIB)).unwrap(), GIB);
        let mut checker = Checker::new();
        loop {
            let part = ws.read_part().unwrap().expect("the echo");
            if let Some(len) = checker.part(&part) {
                return len;
            }
        }
    });
    assert_eq!(len, GIB);
    let server_usage = server.join().unwrap();
    eprintln!("blocking adapter, 1 GiB each way: client {client_usage:?}, server {server_usage:?}");
    assert!(client_usage.peak < 16 << 20, "client: {client_usage:?}");
    assert!(server_usage.peak < 16 << 20, "server: {server_usage:?}");
}

fn small_config() -> Config {
    let mut config = Config::default();
    config.max_frame_size = 1 << 20;
    config.max_message_size = 1 << 20;
    config
}

/// Limits raised for one connection after the handshake (an upload route),
/// and what the sender of a message over the limit learns: its send fails,
/// and `recv` then gives the peer's 1009.
#[tokio::test]
async fn limits_raised_per_connection_and_a_refused_upload_reports_1009() {
    let (a, b) = tokio::io::duplex(64 << 10);
    let mut server = WebSocketStream::from_connection(a, Connection::server(&small_config(), Instant::now()));
    let mut client = WebSocketStream::from_connection(b, Connection::client(&small_config(), Instant::now(), [3; 32]));
    server.set_receive_limits(8 << 20, 8 << 20);
    let upload = async { client.send_from(DataKind::Binary, Pattern::new(3 << 20)).await.unwrap() };
    let receive = async {
        let mut checker = Checker::new();
        loop {
            if let Some(len) = checker.part(&server.recv_part().await.unwrap().unwrap()) {
                return len;
            }
        }
    };
    let (sent, received) = tokio::join!(upload, receive);
    assert_eq!((sent, received), (3 << 20, 3 << 20), "over the config's 1 MiB, under the raised 8 MiB");

    // Back to 1 MiB: the next upload of 3 MiB is refused with 1009.
    server.set_receive_limits(1 << 20, 1 << 20);
    let upload = async {
        let sent = client.send_from(DataKind::Binary, Pattern::new(3 << 20)).await;
        (sent, client.recv().await)
    };
    let receive = async move {
        let mut checker = Checker::new();
        loop {
            match server.recv_part().await {
                Ok(Some(part)) => assert!(checker.part(&part).is_none(), "the message never ends"),
                // The server's side ends here (dropped, as a server task's
                // socket is): the client's writes fail from now on.
                other => return other,
            }
        }
    };
    let ((sent, after), refused) = tokio::join!(upload, receive);
    let Err(rfc6455::io::Error::Closed(reason)) = refused else { panic!("server: {refused:?}") };
    assert_eq!(reason.code(), rfc6455::CloseCode::MESSAGE_TOO_BIG, "{reason:?}");
    eprintln!("the sender's send_from: {sent:?}; then recv: {after:?}");
    let Err(rfc6455::io::Error::Closed(reason)) = after else { panic!("client recv: {after:?}") };
    assert_eq!(reason.code(), rfc6455::CloseCode::MESSAGE_TOO_BIG, "{reason:?}");
}
