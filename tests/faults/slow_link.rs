//! A 4 KiB/s link with 1 MiB messages queued: the sender's memory stays at
//! the write buffer's limit (tokio `feed` waits for room; blocking `feed`
//! with `WhenBufferFull::Fail` refuses at once), and the heartbeat spares a
//! reader that is slow but alive, then drops it once it stops reading.

use std::time::Duration;

use rfc6455::handshake::Accept;
use rfc6455::io::{blocking, tokio_ws, Error};
use rfc6455::{CloseReason, Config, Message, TimeoutKind, UsageError};
use tokio::time::Instant;

use crate::relay::{Dir, Fault, Relay};
use crate::{payload, quiet};

/// The link's rate, server to client.
const RATE: u64 = 4096;
const MESSAGE: usize = 1 << 20;
/// What one queued message may cost beyond its payload: the frame header and
/// deflate's stored-block headers (incompressible data is sent stored).
const OVERHEAD: usize = 1024;
/// `Config::write_buffer_limit` of the sender (the default).
const LIMIT: usize = 1 << 20;
/// Socket buffers of the slow path (the server's send buffer, the relay's
/// receive buffer): as small as a slow link's window, so the server's
/// writes move every second or so instead of in 64 KiB loopback steps.
const SMALL_BUFFER: u32 = 4096;
/// Long enough for the kernel to take more bytes at `RATE` through those buffers.
const PONG_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the slow link is watched.
const WATCH: Duration = Duration::from_secs(5);

/// Incompressible, so permessage-deflate (on by default) leaves it 1 MiB on the wire.
fn message() -> Message {
    Message::Binary(payload(MESSAGE))
}

/// A server socket with the small send buffer, through a relay throttled to `RATE`
/// toward a client that reads everything (and counts it).
async fn slow_link() -> (Relay, std::net::TcpStream, tokio::task::JoinHandle<Result<usize, Error>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = Relay::start_with(listener.local_addr().unwrap(), Some(SMALL_BUFFER)).await;
    relay.set(Dir::Down, Fault::Throttle(RATE));
    let url = relay.url("/");
    let client = tokio::spawn(async move {
        let (mut ws, _) = tokio_ws::connect_with(url.as_str(), &quiet()).await?;
        let mut received = 0;
        while let Some(message) = ws.recv().await? {
            received += message.len();
        }
        Ok(received)
    });
    let (tcp, _) = tokio::task::spawn_blocking(move || listener.accept().unwrap()).await.unwrap();
    socket2::SockRef::from(&tcp).set_send_buffer_size(SMALL_BUFFER as usize).unwrap();
    (relay, tcp, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_feed_waits_at_the_limit_and_the_heartbeat_spares_a_slow_reader_then_drops_a_stalled_one() {
    let (relay, tcp, client) = slow_link().await;
    let mut config = quiet();
    config.ping_interval = Some(Duration::from_millis(300));
    config.pong_timeout = PONG_TIMEOUT;
    config.write_buffer_limit = LIMIT;
    tcp.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
    let ws = tokio_ws::accept_tcp(tcp, &config, |_| Ok(Accept::new())).await.unwrap();
    let (mut reader, mut writer) = ws.into_split();
    // The application's reading task: it drives the heartbeat and sees how the connection ends.
    let reading = tokio::spawn(async move {
        let result = reader.recv().await;
        (Instant::now(), result)
    });

    // Queue 1 MiB messages for WATCH: the queue takes them while under the
    // limit, then `feed` waits for room.
    let started = Instant::now();
    let mut queued = 0;
    let mut peak = 0;
    let mut passed = Vec::new();
    while started.elapsed() < WATCH {
        match tokio::time::timeout(Duration::from_millis(500), writer.feed(message())).await {
            Ok(result) => {
                result.unwrap();
                queued += 1;
            }
            Err(_) => passed.push(relay.stats().passed(Dir::Down)),
        }
        peak = peak.max(writer.buffered_amount());
    }
    let moved = relay.stats().passed(Dir::Down);
    println!(
        "slow link: {queued} messages queued in {WATCH:?}, peak buffered {peak} B, {moved} B delivered at {RATE} B/s"
    );
    assert!(queued <= 2, "feed did not wait at the write buffer's limit: {queued} MiB queued");
    assert!(peak <= LIMIT + MESSAGE + OVERHEAD, "the send queue held {peak} bytes");
    assert!(moved >= RATE * 3, "the link moved only {moved} bytes in {WATCH:?}");
    assert!(passed.windows(2).all(|w| w[0] <= w[1]) && passed.last() > passed.first(), "bytes kept moving: {passed:?}");
    assert!(!reading.is_finished(), "the heartbeat dropped a reader that was slow but alive");

    // Now the reader stops reading: nothing moves, and the heartbeat ends the connection.
    relay.set(Dir::Down, Fault::Stall);
    let stalled_at = Instant::now();
    let (ended_at, result) = tokio::time::timeout(Duration::from_secs(10), reading).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong)))),
        "expected a pong timeout once the reader stalled, got {result:?}"
    );
    let took = ended_at - stalled_at;
    assert!(took <= 2 * PONG_TIMEOUT + Duration::from_secs(1), "a stalled reader was dropped only after {took:?}");
    // The writer's next feed fails too, with the connection's reason rather
    // than the broken pipe under it.
    let fed = tokio::time::timeout(Duration::from_secs(2), writer.feed(message())).await;
    assert!(
        matches!(fed, Ok(Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong))))),
        "feed after the connection died: {fed:?}"
    );
    drop(relay);
    let _ = client.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_feed_with_when_buffer_full_fail_refuses_at_once_on_a_slow_link() {
    let (relay, tcp, client) = slow_link().await;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut config = Config::default();
        config.write_buffer_limit = LIMIT;
        let mut ws = blocking::accept_tcp(tcp, &config, |_| Ok(Accept::new())).unwrap();
        ws.set_when_buffer_full(blocking::WhenBufferFull::Fail);
        ws.feed(message()).unwrap(); // an empty queue takes one message
        let mut refusals = Vec::new();
        for _ in 0..10 {
            let message = message();
            let started = std::time::Instant::now();
            let result = ws.feed(message);
            refusals.push((started.elapsed(), result, ws.buffered_amount()));
        }
        refusals
    })
    .await
    .unwrap();
    for (took, result, buffered) in &outcome {
        assert!(
            matches!(result, Err(Error::Usage(UsageError::WriteBufferFull { .. }))),
            "expected WriteBufferFull, got {result:?}"
        );
        assert!(*took < Duration::from_millis(100), "a refusal took {took:?}");
        assert!(*buffered <= MESSAGE + OVERHEAD, "{buffered} bytes queued");
    }
    drop(relay);
    let _ = client.await;
}
