//! Plumbing tests for the tokio adapter (`rfc6455::io::tokio_ws`): loopback TCP
//! against both adapters, partial writes and EOF over `tokio::io::duplex`,
//! split halves, cancel safety, `Stream`/`Sink`, and the close timeout in
//! paused time. Protocol rules are tested in the core.
//!
//! Every test whose outcome depends on a timer or a sleep runs over
//! in-memory `duplex` streams in paused time (`start_paused`), where the
//! clock moves only when every task waits: no outcome depends on how fast
//! the machine is. The loopback TCP tests use real time, bounded by [`WAIT`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{client_frame, close_payload, config, server_frame};
use futures_util::{SinkExt, StreamExt};
use rfc6455::frame::{FrameDecoder, OpCode};
use rfc6455::handshake::{ClientRequest, Reject};
use rfc6455::io::tokio_ws::WebSocketStream;
use rfc6455::io::{blocking, Error};
use rfc6455::{
    CloseCode, CloseFrame, CloseReason, Config, Connection, HandshakeError, Initiator, Message, ReadyState, Role,
    TimeoutKind, UsageError,
};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Bound on every test (and on every blocking read in them).
const WAIT: Duration = Duration::from_secs(20);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, test).await.expect("the test did not finish in time")
}

/// The current time on tokio's clock, which the adapter uses.
fn tokio_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn server_over(io: DuplexStream, config: &Config) -> WebSocketStream<DuplexStream> {
    WebSocketStream::from_connection(io, Connection::server(config, tokio_now()))
}

fn client_over(io: DuplexStream, config: &Config) -> WebSocketStream<DuplexStream> {
    WebSocketStream::from_connection(io, Connection::client(config, tokio_now(), [42; 32]))
}

/// Waits for a std thread without blocking the runtime (bounded by [`bounded`]).
async fn join<T>(handle: std::thread::JoinHandle<T>) -> T {
    while !handle.is_finished() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    handle.join().expect("the thread panicked")
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|i| ((i as u32).wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect()
}

fn clean_close(reason: Option<CloseReason>, initiator: Initiator, code: CloseCode, text: &str) {
    match reason {
        Some(CloseReason::Clean { initiator: got, remote: CloseFrame { code: got_code, reason } }) => {
            assert_eq!((got, got_code, reason.as_str()), (initiator, code, text));
        }
        other => panic!("expected a clean close by {initiator:?}, got {other:?}"),
    }
}

// ----- loopback TCP, every pair of adapters --------------------------------------------------------------------------

fn loopback_messages() -> Vec<Message> {
    vec![
        Message::from("hello \u{1F30D}"),
        Message::from(pattern(300, 1)),
        Message::from(pattern(1 << 20, 2)),
        Message::from("x".repeat(70_000)),
    ]
}

/// What one end saw.
#[derive(Debug)]
struct Outcome {
    received: Vec<Message>,
    end: Result<Option<Message>, Error>,
    reason: Option<CloseReason>,
    /// A server's socket, kept open until the test has the client's outcome:
    /// the client must see EOF because the adapter shut the stream down, not
    /// because it was dropped.
    _keep: Option<Box<dyn std::any::Any + Send>>,
}

/// A client config whose close timeout is far beyond [`WAIT`]: a client that
/// returns `Ok(None)` in time saw the server close the TCP connection.
fn client_config() -> Config {
    let mut config = Config::default();
    config.close_timeout = Duration::from_secs(600);
    config
}

fn request(port: u16) -> ClientRequest {
    ClientRequest::new(&format!("ws://127.0.0.1:{port}/echo")).unwrap()
}

/// Sends each message and waits for its echo, then closes.
async fn tokio_client(port: u16) -> Outcome {
    let (mut ws, response) = rfc6455::io::tokio_ws::connect_with(&request(port), &client_config()).await.unwrap();
    assert_eq!(response.status(), 101);
    let mut received = Vec::new();
    for message in loopback_messages() {
        ws.send(message).await.unwrap();
        received.push(ws.recv().await.unwrap().expect("an echo"));
    }
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    let end = ws.recv().await;
    Outcome { received, end, reason: ws.connection().close_reason().cloned(), _keep: None }
}

fn blocking_client(port: u16) -> Outcome {
    let (mut ws, response) = blocking::connect_with(request(port), &client_config()).unwrap();
    assert_eq!(response.status(), 101);
    ws.set_read_timeout(Some(WAIT));
    let mut received = Vec::new();
    for message in loopback_messages() {
        ws.send(message).unwrap();
        received.push(ws.read().unwrap().expect("an echo"));
    }
    ws.close(CloseCode::NORMAL, "done").unwrap();
    let end = ws.read();
    Outcome { received, end, reason: ws.connection().close_reason().cloned(), _keep: None }
}

/// Echoes until the end of the stream.
async fn tokio_server(listener: tokio::net::TcpListener) -> Outcome {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = rfc6455::io::tokio_ws::accept(tcp).await.unwrap();
    let mut received = Vec::new();
    let end = loop {
        match ws.recv().await {
            Ok(Some(message)) => {
                ws.send(message.clone()).await.unwrap();
                received.push(message);
            }
            other => break other,
        }
    };
    let reason = ws.connection().close_reason().cloned();
    Outcome { received, end, reason, _keep: Some(Box::new(ws)) }
}

fn blocking_server(listener: std::net::TcpListener) -> Outcome {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut ws = blocking::accept(tcp).unwrap();
    ws.set_stream_hooks(blocking::StreamHooks::tcp());
    let mut received = Vec::new();
    let end = loop {
        match ws.read() {
            Ok(Some(message)) => {
                ws.send(message.clone()).unwrap();
                received.push(message);
            }
            other => break other,
        }
    };
    let reason = ws.connection().close_reason().cloned();
    Outcome { received, end, reason, _keep: Some(Box::new(ws)) }
}

fn check_loopback(client: Outcome, server: Outcome) {
    assert_eq!(client.received, loopback_messages(), "the client's echoes");
    assert!(matches!(client.end, Ok(None)), "client end: {:?}", client.end);
    clean_close(client.reason, Initiator::Local, CloseCode::NORMAL, "");
    assert_eq!(server.received, loopback_messages(), "what the server received");
    assert!(matches!(server.end, Ok(None)), "server end: {:?}", server.end);
    clean_close(server.reason, Initiator::Remote, CloseCode::NORMAL, "done");
}

#[tokio::test]
async fn tokio_client_tokio_server() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(tokio_server(listener));
        let client = tokio_client(port).await;
        check_loopback(client, server.await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn blocking_client_tokio_server() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::thread::spawn(move || blocking_client(port));
        let server = tokio_server(listener).await;
        check_loopback(join(client).await, server);
    })
    .await;
}

#[tokio::test]
async fn tokio_client_blocking_server() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || blocking_server(listener));
        let client = tokio_client(port).await;
        check_loopback(client, join(server).await);
    })
    .await;
}

#[tokio::test]
async fn blocking_client_blocking_server() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || blocking_server(listener));
        let client = std::thread::spawn(move || blocking_client(port));
        let client = join(client).await;
        check_loopback(client, join(server).await);
    })
    .await;
}

#[tokio::test]
async fn tokio_rejected_upgrade() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            rfc6455::io::tokio_ws::accept_with(tcp, &Config::default(), |_| Err(Reject::new(403).unwrap()))
                .await
                .map(|_| ())
        });
        let client = rfc6455::io::tokio_ws::connect(&format!("ws://127.0.0.1:{port}/")).await.map(|_| ());
        match client {
            Err(Error::Handshake(HandshakeError::Rejected(response))) => assert_eq!(response.status(), 403),
            other => panic!("client: expected a rejected handshake, got {other:?}"),
        }
        match server.await.unwrap() {
            Err(Error::Refused(http::StatusCode::FORBIDDEN)) => {}
            other => panic!("server: expected Err(Refused(403)), got {other:?}"),
        }
    })
    .await;
}

// As in the blocking adapter, `accept`/`accept_with` write the 101 before
// returning. In paused time: were the 101 not written, every task would wait
// and the clock would jump to the client's timeout.
#[tokio::test(start_paused = true)]
async fn tokio_accept_writes_the_101_before_returning() {
    bounded(async {
        let (server_io, client_io) = duplex(4096);
        let client = tokio::spawn(async move {
            let request = ClientRequest::new("ws://localhost/").unwrap();
            let config = config();
            let handshake = rfc6455::io::tokio_ws::client(&request, client_io, &config);
            let result = tokio::time::timeout(Duration::from_secs(2), handshake).await;
            result.map(|done| done.map(|(_, response)| response.status()))
        });
        let server = rfc6455::io::tokio_ws::accept(server_io).await.unwrap();
        // The handshake is done: hold the connection without further I/O for now.
        let status = client.await.unwrap();
        drop(server);
        match status {
            Ok(Ok(http::StatusCode::SWITCHING_PROTOCOLS)) => {}
            other => panic!("the client got no 101 while the server held the accepted connection: {other:?}"),
        }
    })
    .await;
}

// ----- duplex: partial writes and EOF --------------------------------------------------------------------------------

#[tokio::test]
async fn partial_writes_through_a_64_byte_pipe() {
    bounded(async {
        let (a, b) = duplex(64);
        let mut server = server_over(a, &config());
        let mut client = client_over(b, &config());
        let messages = vec![
            Message::from("\u{e9}t\u{e9} \u{2713} ".repeat(10_000)),
            Message::from(pattern(300_000, 3)),
            Message::from("small"),
            Message::from(Vec::new()),
        ];
        let echo = tokio::spawn(async move {
            let mut received = Vec::new();
            let end = loop {
                match server.recv().await {
                    Ok(Some(message)) => {
                        server.send(message.clone()).await.unwrap();
                        received.push(message);
                    }
                    other => break other,
                }
            };
            let reason = server.connection().close_reason().cloned();
            Outcome { received, end, reason, _keep: Some(Box::new(server)) }
        });
        let mut echoes = Vec::new();
        for message in &messages {
            client.send(message.clone()).await.unwrap();
            echoes.push(client.recv().await.unwrap().expect("an echo"));
        }
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(client.recv().await, Ok(None)));
        clean_close(client.connection().close_reason().cloned(), Initiator::Local, CloseCode::NORMAL, "");
        assert_eq!(echoes, messages);

        let server = echo.await.unwrap();
        assert_eq!(server.received, messages);
        assert!(matches!(server.end, Ok(None)), "{:?}", server.end);
        clean_close(server.reason, Initiator::Remote, CloseCode::NORMAL, "");
    })
    .await;
}

fn assert_abnormal(result: Result<Option<Message>, Error>, what: &str) {
    match result {
        Err(Error::Closed(CloseReason::Abnormal)) => {}
        other => panic!("{what}: expected Err(Closed(Abnormal)), got {other:?}"),
    }
}

#[tokio::test]
async fn eof_mid_frame_is_abnormal() {
    bounded(async {
        // A 16-bit extended length: cuts fall in the header, the length, the mask and the payload.
        let wire = client_frame(OpCode::Binary, true, &pattern(300, 4));
        for cut in 1..wire.len() {
            let what = format!("EOF after {cut}/{} bytes", wire.len());
            let (io, mut peer) = duplex(1024);
            let mut server = server_over(io, &config());
            peer.write_all(&wire[..cut]).await.unwrap();
            drop(peer);
            assert_abnormal(server.recv().await, &what);
            assert_abnormal(server.recv().await, &what);
        }
    })
    .await;
}

#[tokio::test]
async fn eof_at_a_frame_boundary_without_close_is_abnormal() {
    bounded(async {
        let (io, mut peer) = duplex(1024);
        let mut server = server_over(io, &config());
        peer.write_all(&client_frame(OpCode::Text, true, b"last words")).await.unwrap();
        drop(peer);
        assert_eq!(server.recv().await.unwrap(), Some(Message::from("last words")));
        assert_abnormal(server.recv().await, "EOF after a frame");
        assert_abnormal(server.recv().await, "EOF after a frame, again");
    })
    .await;
}

// ----- a raw peer ----------------------------------------------------------------------------------------------------

/// The client end of a duplex, speaking raw frames: decodes what the server sends.
struct RawClient {
    io: DuplexStream,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl RawClient {
    fn new(io: DuplexStream) -> Self {
        Self { io, decoder: FrameDecoder::new(Role::Client, usize::MAX), buf: BytesMut::new() }
    }

    async fn send(&mut self, opcode: OpCode, payload: &[u8]) {
        self.io.write_all(&client_frame(opcode, true, payload)).await.unwrap();
    }

    /// The next frame from the server, or `None` at EOF (with no partial frame).
    async fn next_frame(&mut self) -> Option<(OpCode, Vec<u8>)> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                assert!(frame.header.fin);
                return Some((frame.header.opcode, frame.payload.to_vec()));
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                assert!(self.buf.is_empty() && !self.decoder.is_mid_frame(), "EOF inside a frame");
                return None;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn split_reader_answers_pings_and_completes_the_close_while_the_app_only_writes() {
    bounded(async {
        const UPDATES: usize = 30;
        const PINGS: usize = 5;
        let (io, peer) = duplex(256);
        let mut peer = RawClient::new(peer);
        let (mut reader, mut writer) = server_over(io, &config()).into_split();

        let writer_task = tokio::spawn(async move {
            for i in 0..UPDATES {
                writer.send(format!("update {i}")).await?;
                assert_eq!(writer.with_connection(|conn| conn.buffered_amount()), 0, "send writes everything out");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<_, Error>(writer)
        });
        let reader_task = tokio::spawn(async move {
            let mut received = Vec::new();
            loop {
                match reader.recv().await {
                    Ok(Some(message)) => received.push(message),
                    other => return (received, other),
                }
            }
        });

        let (mut texts, mut pongs) = (Vec::new(), Vec::new());
        for i in 0..PINGS {
            peer.send(OpCode::Ping, format!("ping {i}").as_bytes()).await;
            loop {
                match peer.next_frame().await.expect("a frame") {
                    (OpCode::Text, payload) => texts.push(String::from_utf8(payload).unwrap()),
                    (OpCode::Pong, payload) => {
                        pongs.push(String::from_utf8(payload).unwrap());
                        break;
                    }
                    other => panic!("unexpected frame {other:?}"),
                }
            }
        }
        while texts.len() < UPDATES {
            match peer.next_frame().await.expect("a frame") {
                (OpCode::Text, payload) => texts.push(String::from_utf8(payload).unwrap()),
                other => panic!("unexpected frame {other:?}"),
            }
        }
        let writer = writer_task.await.unwrap().unwrap();

        peer.send(OpCode::Close, &close_payload(1000, b"peer bye")).await;
        assert_eq!(peer.next_frame().await, Some((OpCode::Close, close_payload(1000, b""))));
        assert_eq!(peer.next_frame().await, None, "the server must close the transport");
        let (received, end) = reader_task.await.unwrap();
        assert!(received.is_empty());
        assert!(matches!(end, Ok(None)), "{end:?}");
        drop(writer);

        let expected_pongs: Vec<String> = (0..PINGS).map(|i| format!("ping {i}")).collect();
        let expected_texts: Vec<String> = (0..UPDATES).map(|i| format!("update {i}")).collect();
        assert_eq!(pongs, expected_pongs);
        assert_eq!(texts, expected_texts);
    })
    .await;
}

#[tokio::test]
async fn recv_keeps_reading_while_the_peer_does_not_read() {
    bounded(async {
        const PINGS: usize = 300;
        // The peer writes far more than the pipe holds and reads nothing until
        // the server has received its message, so the server's pongs cannot be
        // written meanwhile: recv must keep reading anyway.
        let (io, peer_io) = duplex(64);
        let mut server = server_over(io, &config());
        let writer = tokio::spawn(async move {
            let mut peer = RawClient::new(peer_io);
            for i in 0..PINGS {
                peer.send(OpCode::Ping, format!("ping {i}").as_bytes()).await;
            }
            peer.send(OpCode::Text, b"after the pings").await;
            peer
        });
        assert_eq!(server.recv().await.unwrap(), Some(Message::from("after the pings")));
        let mut peer = writer.await.unwrap();

        let read_pongs = async {
            let mut pongs = Vec::new();
            while pongs.len() < PINGS {
                match peer.next_frame().await.expect("a frame") {
                    (OpCode::Pong, payload) => pongs.push(String::from_utf8(payload).unwrap()),
                    other => panic!("unexpected frame {other:?}"),
                }
            }
            pongs
        };
        let (flushed, pongs) = tokio::join!(server.flush(), read_pongs);
        flushed.unwrap();
        assert_eq!(pongs, (0..PINGS).map(|i| format!("ping {i}")).collect::<Vec<_>>());
        assert_eq!(server.connection().buffered_amount(), 0);
    })
    .await;
}

// ----- the protocol's verbs on the socket and its halves -------------------------------------------------------------

fn assert_control_payload_too_long(result: Result<(), Error>, what: &str) {
    assert!(matches!(result, Err(Error::Usage(UsageError::ControlPayloadTooLong(126)))), "{what}: {result:?}");
}

#[tokio::test]
async fn ping_and_pong_go_out_as_control_frames_and_an_oversized_payload_is_refused() {
    bounded(async {
        let (io, peer) = duplex(4096);
        let mut peer = RawClient::new(peer);
        let mut server = server_over(io, &config());
        server.ping(b"are you there").await.unwrap();
        assert_eq!(peer.next_frame().await, Some((OpCode::Ping, b"are you there".to_vec())));
        server.pong(b"unsolicited").await.unwrap();
        assert_eq!(peer.next_frame().await, Some((OpCode::Pong, b"unsolicited".to_vec())));
        // The core's limit, surfaced as the adapter's error; nothing is queued.
        assert_control_payload_too_long(server.ping(&[0; 126]).await, "ping");
        assert_control_payload_too_long(server.pong(&[0; 126]).await, "pong");
        assert_eq!(server.buffered_amount(), 0);
        server.ping(&[7; 125]).await.unwrap();
        assert_eq!(peer.next_frame().await, Some((OpCode::Ping, vec![7; 125])));
        // recv consumes the peer's pong; an application's ping is not a
        // round-trip sample (only the heartbeat's are).
        peer.send(OpCode::Pong, &[7; 125]).await;
        peer.send(OpCode::Text, b"after the pong").await;
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("after the pong")));
        assert_eq!(server.rtt(), None);
        // feed queues without writing; flush empties the queue.
        server.feed("queued").await.unwrap();
        assert_eq!(server.buffered_amount(), server_frame(OpCode::Text, true, b"queued").len());
        server.flush().await.unwrap();
        assert_eq!(server.buffered_amount(), 0);
        assert_eq!(peer.next_frame().await, Some((OpCode::Text, b"queued".to_vec())));
    })
    .await;
}

#[tokio::test]
async fn close_reason_and_ready_state_follow_the_close_handshake() {
    bounded(async {
        let (client_io, server_io) = duplex(4096);
        let mut client = client_over(client_io, &config());
        let mut server = server_over(server_io, &config());
        assert_eq!((client.ready_state(), server.ready_state()), (ReadyState::Open, ReadyState::Open));
        assert_eq!((client.close_reason(), server.close_reason()), (None, None));
        client.close(CloseCode(4000), "client done").await.unwrap();
        assert_eq!(client.ready_state(), ReadyState::Closing);
        assert_eq!(client.close_reason(), None);
        // The server answers and closes the transport; the client reads both.
        let (server_end, client_end) = tokio::join!(server.recv(), client.recv());
        // The server sees the peer's 4000, not a normal close; the client
        // started the close, so its end is normal.
        assert!(
            matches!(&server_end, Err(Error::Closed(reason)) if reason.code() == CloseCode(4000)),
            "{server_end:?}"
        );
        assert!(matches!(client_end, Ok(None)), "{client_end:?}");
        assert_eq!((client.ready_state(), server.ready_state()), (ReadyState::Closed, ReadyState::Closed));
        clean_close(server.close_reason().cloned(), Initiator::Remote, CloseCode(4000), "client done");
        clean_close(client.close_reason().cloned(), Initiator::Local, CloseCode(4000), "");
    })
    .await;
}

#[tokio::test]
async fn the_halves_ping_pong_and_read_the_shared_state() {
    bounded(async {
        let (io, peer) = duplex(4096);
        let mut peer = RawClient::new(peer);
        let (mut reader, mut writer) = server_over(io, &config()).into_split();
        writer.ping(b"half ping").await.unwrap();
        assert_eq!(peer.next_frame().await, Some((OpCode::Ping, b"half ping".to_vec())));
        writer.pong(b"half pong").await.unwrap();
        assert_eq!(peer.next_frame().await, Some((OpCode::Pong, b"half pong".to_vec())));
        assert_control_payload_too_long(writer.ping(&[0; 126]).await, "ping");
        assert_control_payload_too_long(writer.pong(&[0; 126]).await, "pong");
        // Both halves see one queue.
        writer.feed("queued").await.unwrap();
        let queued = server_frame(OpCode::Text, true, b"queued").len();
        assert_eq!((writer.buffered_amount(), reader.buffered_amount()), (queued, queued));
        writer.flush().await.unwrap();
        assert_eq!((writer.buffered_amount(), reader.buffered_amount()), (0, 0));
        assert_eq!(peer.next_frame().await, Some((OpCode::Text, b"queued".to_vec())));
        assert_eq!((reader.rtt(), writer.rtt()), (None, None));

        assert_eq!((reader.ready_state(), writer.ready_state()), (ReadyState::Open, ReadyState::Open));
        writer.close(CloseCode(4000), "writer done").await.unwrap();
        assert_eq!((reader.ready_state(), writer.ready_state()), (ReadyState::Closing, ReadyState::Closing));
        assert_eq!((reader.close_reason(), writer.close_reason()), (None, None));
        assert_eq!(peer.next_frame().await, Some((OpCode::Close, close_payload(4000, b"writer done"))));
        peer.send(OpCode::Close, &close_payload(4000, b"peer agrees")).await;
        let end = reader.recv().await;
        assert!(matches!(end, Ok(None)), "{end:?}");
        assert_eq!(peer.next_frame().await, None, "the server must close the transport");
        assert_eq!((reader.ready_state(), writer.ready_state()), (ReadyState::Closed, ReadyState::Closed));
        clean_close(reader.close_reason(), Initiator::Local, CloseCode(4000), "peer agrees");
        clean_close(writer.close_reason(), Initiator::Local, CloseCode(4000), "peer agrees");
    })
    .await;
}

// ----- cancel safety -------------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn recv_is_cancel_safe_while_bytes_trickle_in() {
    bounded(async {
        let (io, peer_io) = duplex(1 << 16);
        let mut server = server_over(io, &config());
        let frames = vec![
            client_frame(OpCode::Text, true, b"a"),
            client_frame(OpCode::Binary, true, &pattern(125, 5)),
            client_frame(OpCode::Binary, true, &pattern(126, 6)),
            client_frame(OpCode::Text, false, "fragmented \u{2713}".as_bytes()),
            client_frame(OpCode::Ping, true, b"mid"),
            client_frame(OpCode::Continuation, true, " \u{1F30D} text".as_bytes()),
            client_frame(OpCode::Binary, true, &pattern(70_000, 7)),
            client_frame(OpCode::Text, true, b"last"),
            client_frame(OpCode::Close, true, &close_payload(1000, b"")),
        ];
        let expected = vec![
            Message::from("a"),
            Message::from(pattern(125, 5)),
            Message::from(pattern(126, 6)),
            Message::from("fragmented \u{2713} \u{1F30D} text"),
            Message::from(pattern(70_000, 7)),
            Message::from("last"),
        ];
        // One byte per write; the start of every frame arrives slowly (a sleep
        // after each byte), the rest with yields and an occasional sleep. In
        // paused time, each of those sleeps lets the 1 ms timer below win.
        let peer = tokio::spawn(async move {
            let mut peer_io = peer_io;
            for frame in frames {
                for (i, byte) in frame.iter().enumerate() {
                    peer_io.write_all(&[*byte]).await.unwrap();
                    if i < 24 || i % 4096 == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            }
            peer_io
        });

        let (mut received, mut cancelled) = (Vec::new(), 0usize);
        let end = loop {
            tokio::select! {
                result = server.recv() => match result {
                    Ok(Some(message)) => received.push(message),
                    other => break other,
                },
                () = tokio::time::sleep(Duration::from_millis(1)) => cancelled += 1,
            }
        };
        assert_eq!(received, expected, "no message lost or corrupted");
        assert!(matches!(end, Ok(None)), "{end:?}");
        assert!(cancelled > 20, "recv() was cancelled only {cancelled} times: the test did not exercise cancellation");

        let mut peer = RawClient::new(peer.await.unwrap());
        assert_eq!(peer.next_frame().await, Some((OpCode::Pong, b"mid".to_vec())));
        assert_eq!(peer.next_frame().await, Some((OpCode::Close, close_payload(1000, b""))));
        assert_eq!(peer.next_frame().await, None);
    })
    .await;
}

// ----- Stream / Sink -------------------------------------------------------------------------------------------------

#[tokio::test]
async fn stream_and_sink() {
    bounded(async {
        let (a, b) = duplex(4096);
        let mut server = server_over(a, &config());
        let mut client = client_over(b, &config());
        let messages = vec![Message::from("one"), Message::from(pattern(10_000, 8)), Message::from("three")];

        let echo = tokio::spawn(async move {
            let mut received = Vec::new();
            while let Some(item) = StreamExt::next(&mut server).await {
                let message = item.unwrap();
                SinkExt::send(&mut server, message.clone()).await.unwrap();
                received.push(message);
            }
            let again = StreamExt::next(&mut server).await.map(|item| item.map_err(|e| e.to_string()));
            (received, again, server.connection().close_reason().cloned())
        });

        let mut echoes = Vec::new();
        for message in &messages {
            SinkExt::send(&mut client, message.clone()).await.unwrap();
            echoes.push(StreamExt::next(&mut client).await.expect("an echo").unwrap());
        }
        SinkExt::close(&mut client).await.unwrap();
        let end = StreamExt::next(&mut client).await;
        assert!(end.is_none(), "the stream must end after a clean close, got {end:?}");
        assert!(StreamExt::next(&mut client).await.is_none(), "and stay ended");
        clean_close(client.connection().close_reason().cloned(), Initiator::Local, CloseCode::NORMAL, "");
        assert_eq!(echoes, messages);

        let (received, again, reason) = echo.await.unwrap();
        assert_eq!(received, messages);
        assert_eq!(again, None);
        clean_close(reason, Initiator::Remote, CloseCode::NORMAL, "");
    })
    .await;
}

#[tokio::test]
async fn the_stream_ends_after_an_error() {
    bounded(async {
        let (io, mut peer) = duplex(1024);
        let mut server = server_over(io, &config());
        let wire = client_frame(OpCode::Text, true, b"cut short");
        peer.write_all(&wire[..wire.len() - 1]).await.unwrap();
        drop(peer);
        match StreamExt::next(&mut server).await {
            Some(Err(Error::Closed(CloseReason::Abnormal))) => {}
            other => panic!("expected Some(Err(Closed(Abnormal))), got {other:?}"),
        }
        assert!(StreamExt::next(&mut server).await.is_none(), "the stream must end after its error");
        assert!(StreamExt::next(&mut server).await.is_none());
    })
    .await;
}

// ----- close timeout in paused time ----------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn close_timeout_in_paused_time() {
    bounded(async {
        let mut config = config();
        config.close_timeout = Duration::from_secs(7);
        let (io, peer_io) = duplex(4096);
        let mut server = server_over(io, &config);
        let start = tokio::time::Instant::now();
        server.close(CloseCode::NORMAL, "bye").await.unwrap();

        // Not before the timeout (recv is cancel-safe, so cutting it short is fine) ...
        let early = tokio::time::timeout(Duration::from_millis(6_900), server.recv()).await;
        assert!(early.is_err(), "recv finished before the close timeout: {early:?}");

        // ... and right at it.
        match server.recv().await {
            Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake))) => {}
            other => panic!("expected a close-handshake timeout, got {other:?}"),
        }
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(7) && waited < Duration::from_millis(7_100), "waited {waited:?}");
        assert!(matches!(server.recv().await, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake)))));

        // The peer got exactly one close frame, then the transport closed.
        let mut peer = RawClient::new(peer_io);
        assert_eq!(peer.next_frame().await, Some((OpCode::Close, close_payload(1000, b"bye"))));
        assert_eq!(peer.next_frame().await, None);
    })
    .await;
}

// ----- wakeups -------------------------------------------------------------------------------------------------------

/// A stream whose first `poll_write` yields: it wakes the task at once and
/// returns `Pending` (allowed by the `AsyncWrite` contract; it is how a
/// cooperative-budget yield looks). Everything else goes to the duplex.
struct YieldOnceWriter {
    io: DuplexStream,
    yielded: bool,
}

impl tokio::io::AsyncRead for YieldOnceWriter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for YieldOnceWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts write calls that wrote something; everything goes to the duplex.
/// With `vectored`, it takes vectored writes as TCP does.
struct CountingWriter {
    io: DuplexStream,
    writes: usize,
    vectored: bool,
}

impl tokio::io::AsyncRead for CountingWriter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountingWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.writes += 1;
        }
        result
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        assert!(self.vectored, "vectored write on a stream that said it does not write vectored");
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.writes += 1;
        }
        result
    }
    fn is_write_vectored(&self) -> bool {
        self.vectored
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn feed_batches_replies_until_recv_has_to_wait() {
    bounded(async {
        let (io, mut peer) = duplex(1 << 16);
        let stream = CountingWriter { io, writes: 0, vectored: false };
        let mut ws = WebSocketStream::from_connection(stream, Connection::server(&config(), tokio_now()));
        let texts = ["one", "two", "three"];
        let burst: Vec<u8> = texts.iter().flat_map(|t| client_frame(OpCode::Text, true, t.as_bytes())).collect();
        peer.write_all(&burst).await.unwrap();
        for text in texts {
            let message = ws.recv().await.unwrap().unwrap();
            assert_eq!(message, Message::from(text));
            ws.feed(message).await.unwrap();
            assert_eq!(ws.get_mut().writes, 0, "fed {text}: nothing written yet");
        }
        // The next recv has nothing buffered: it writes the batch, then waits.
        assert!(tokio::time::timeout(Duration::from_millis(50), ws.recv()).await.is_err());
        assert_eq!(ws.get_mut().writes, 1, "all three replies in one write");
        let mut out = vec![0u8; 64];
        let n = peer.read(&mut out).await.unwrap();
        let mut decoder = FrameDecoder::new(Role::Client, 1 << 20);
        let mut buf = BytesMut::from(&out[..n]);
        for text in texts {
            let frame = decoder.decode(&mut buf).unwrap().expect("a whole frame");
            assert_eq!(&frame.payload[..], text.as_bytes());
        }
        assert!(buf.is_empty());
    })
    .await;
}

/// Counts wakeups.
#[derive(Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// A stream may wake its waker before returning `Pending` (AsyncWrite allows it,
// and an I/O driver on another thread can): the task must still be woken.
#[tokio::test]
async fn a_stream_that_wakes_before_returning_pending_does_not_lose_the_wakeup() {
    let (io, _peer) = duplex(4096);
    let stream = YieldOnceWriter { io, yielded: false };
    let mut ws = WebSocketStream::from_connection(stream, Connection::server(&config(), tokio_now()));
    let counter = Arc::new(WakeCounter::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let mut send = std::pin::pin!(ws.send("hello"));
    assert!(send.as_mut().poll(&mut cx).is_pending(), "the stream yields once");
    assert!(
        counter.0.load(Ordering::SeqCst) > 0,
        "the stream woke its waker before returning Pending, but the task was never woken: the wakeup was lost"
    );
    assert!(matches!(send.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
}

/// A large echo goes out in one write whether or not the stream writes
/// vectored: the shared (uncopied) payload with `writev`, one coalesced
/// buffer otherwise; never a frame header in a write of its own.
#[tokio::test(start_paused = true)]
async fn a_large_echo_leaves_in_one_write_with_or_without_vectored_writes() {
    bounded(async {
        for vectored in [true, false] {
            let (io, mut peer) = duplex(1 << 20);
            let stream = CountingWriter { io, writes: 0, vectored };
            let mut ws = WebSocketStream::from_connection(stream, Connection::server(&config(), tokio_now()));
            let payloads: Vec<Vec<u8>> = (0..3).map(|i| pattern(9000 + i * 1000, i as u32)).collect();
            for (echoed, payload) in payloads.iter().enumerate() {
                peer.write_all(&client_frame(OpCode::Binary, true, payload)).await.unwrap();
                let message = ws.recv().await.unwrap().unwrap();
                ws.feed(message).await.unwrap();
                // The next recv writes the echo, then waits.
                assert!(tokio::time::timeout(Duration::from_millis(20), ws.recv()).await.is_err());
                assert_eq!(ws.get_mut().writes, echoed + 1, "vectored: {vectored}");
            }
            let mut decoder = FrameDecoder::new(Role::Client, 1 << 20);
            let mut buf = BytesMut::new();
            for payload in &payloads {
                let frame = loop {
                    if let Some(frame) = decoder.decode(&mut buf).unwrap() {
                        break frame;
                    }
                    let mut chunk = vec![0u8; 1 << 16];
                    let n = peer.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the echoes ended early");
                    buf.extend_from_slice(&chunk[..n]);
                };
                assert_eq!(&frame.payload[..], &payload[..], "vectored: {vectored}");
            }
            assert!(buf.is_empty());
        }
    })
    .await;
}

// ----- liveness, backpressure and transport defaults ----------------------------------------------------------------

fn heartbeat(interval: Duration, timeout: Duration) -> Config {
    let mut config = config();
    config.ping_interval = Some(interval);
    config.pong_timeout = timeout;
    config
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_drops_a_silent_peer_in_paused_time() {
    bounded(async {
        let (io, peer_io) = duplex(4096);
        let mut server = server_over(io, &heartbeat(Duration::from_secs(1), Duration::from_secs(1)));
        let start = tokio::time::Instant::now();
        match server.recv().await {
            Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong))) => {}
            other => panic!("expected a pong timeout, got {other:?}"),
        }
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_millis(2_050), "waited {waited:?}");
        assert_eq!(server.connection().ready_state(), rfc6455::ReadyState::Closed);
        // The silent peer, reading at last, finds the ping, a 1011 close and the end.
        let mut peer = RawClient::new(peer_io);
        assert_eq!(peer.next_frame().await, Some((OpCode::Ping, 1u64.to_be_bytes().to_vec())));
        let (opcode, payload) = peer.next_frame().await.unwrap();
        assert_eq!((opcode, &payload[..2]), (OpCode::Close, &1011u16.to_be_bytes()[..]));
        assert_eq!(peer.next_frame().await, None);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_keeps_an_answering_peer_and_measures_its_round_trip() {
    bounded(async {
        let (io, peer_io) = duplex(4096);
        let mut server = server_over(io, &heartbeat(Duration::from_secs(1), Duration::from_secs(1)));
        let mut client = client_over(peer_io, &config());
        // Both sides read for 10.5 virtual seconds: ten pings, ten pongs.
        let until = tokio::time::Instant::now() + Duration::from_millis(10_500);
        let (server_end, client_end) =
            tokio::join!(tokio::time::timeout_at(until, server.recv()), tokio::time::timeout_at(until, client.recv()),);
        assert!(server_end.is_err() && client_end.is_err(), "{server_end:?} {client_end:?}");
        let rtt = server.connection().rtt().expect("heartbeat pongs came back");
        assert_eq!(rtt.samples, 10);
        assert_eq!(server.connection().ready_state(), rfc6455::ReadyState::Open);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_makes_send_wait_instead_of_growing_the_buffer() {
    bounded(async {
        const MESSAGE: usize = 16 << 10;
        let mut config = config();
        config.write_buffer_limit = 64 << 10;
        let (io, peer_io) = duplex(8 << 10);
        let mut server = server_over(io, &config);
        // The peer reads nothing. `send` waits as soon as the pipe is full;
        // `feed` (and the `Sink`) queue without writing, until the queue
        // reaches its limit; then they wait too.
        assert!(tokio::time::timeout(Duration::from_millis(100), server.send(vec![7u8; MESSAGE])).await.is_err());
        let mut sent = 1;
        while tokio::time::timeout(Duration::from_millis(100), server.feed(vec![7u8; MESSAGE])).await.is_ok() {
            sent += 1;
            assert!(sent < 64, "send never waited");
            assert!(server.connection().buffered_amount() < config.write_buffer_limit + MESSAGE);
        }
        assert!(sent >= 4, "sent only {sent} before waiting");
        // Once the peer reads, everything (the message send was waiting to queue
        // was dropped with its future: cancel safety) arrives in order.
        let buffered = server.connection().buffered_amount();
        let drain = tokio::spawn(async move {
            let mut peer = RawClient::new(peer_io);
            let mut frames = 0;
            while let Some((opcode, payload)) = peer.next_frame().await {
                assert_eq!((opcode, payload.len()), (OpCode::Binary, MESSAGE));
                frames += 1;
            }
            frames
        });
        server.flush().await.unwrap();
        assert_eq!(server.connection().buffered_amount(), 0, "{buffered} bytes were queued");
        drop(server);
        assert_eq!(drain.await.unwrap(), sent);
    })
    .await;
}

#[tokio::test]
async fn tcp_helpers_set_nodelay_unless_told_not_to() {
    bounded(async {
        for nodelay in [true, false] {
            let mut config = config();
            config.tcp_nodelay = nodelay;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server_config = config.clone();
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let ws =
                    rfc6455::io::tokio_ws::accept_tcp(tcp, &server_config, |_| Ok(Default::default())).await.unwrap();
                ws.get_ref().nodelay().unwrap()
            });
            let (client, _) = rfc6455::io::tokio_ws::connect_with(&request(port), &config).await.unwrap();
            assert_eq!(client.get_ref().get_ref().nodelay().unwrap(), nodelay, "client");
            assert_eq!(server.await.unwrap(), nodelay, "server");
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_pong_waiting_in_the_stream_is_read_before_the_timeout_fires() {
    bounded(async {
        let (io, mut peer_io) = duplex(4096);
        let mut server = server_over(io, &heartbeat(Duration::from_secs(1), Duration::from_secs(1)));
        let mut peer_config = config();
        peer_config.ping_interval = None;
        peer_config.auto_pong = false;
        let mut peer = Connection::client(&peer_config, tokio_now(), [42; 32]);
        let peer_task = async move {
            let mut buf = [0u8; 1024];
            let payload = loop {
                let n = peer_io.read(&mut buf).await.unwrap();
                peer.handle_read(&buf[..n], tokio_now());
                if let Some(rfc6455::Event::Ping(payload)) = std::iter::from_fn(|| peer.poll_event()).next() {
                    break payload;
                }
            };
            peer.send_text("busy").unwrap();
            peer_io.write_all(peer.poll_transmit()).await.unwrap();
            peer.advance_transmit(usize::MAX);
            tokio::time::sleep(Duration::from_millis(100)).await;
            peer.pong(&payload).unwrap();
            peer_io.write_all(peer.poll_transmit()).await.unwrap();
            peer.advance_transmit(usize::MAX);
            peer_io
        };
        let server_task = async move {
            assert_eq!(server.recv().await.unwrap(), Some(Message::from("busy")));
            // The application is busy for longer than the pong timeout; the
            // pong arrives meanwhile and waits in the stream.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let next = tokio::time::timeout(Duration::from_millis(200), server.recv()).await;
            assert!(next.is_err(), "a live peer was declared dead with its pong unread: {next:?}");
            assert!(server.connection().rtt().is_some());
        };
        let (_peer_io, ()) = tokio::join!(peer_task, server_task);
    })
    .await;
}

/// A server task usually awaits `accept` and then serves the connection, and
/// a future keeps room for its largest state as long as it lives: the
/// handshake's state must be boxed, or every idle connection pays for it
/// (2.5 KiB each, measured by `benches/compare.sh`'s idle row, when it was
/// not). The bounds sit between the boxed sizes (about 2.4 and 1.3 KiB today)
/// and the unboxed ones (5.7 and 4.8 KiB).
#[test]
fn handshake_futures_keep_their_state_on_the_heap() {
    let config = Config::default();
    let accept = rfc6455::io::tokio_ws::accept_with(duplex(64).0, &config, |_| Ok(rfc6455::handshake::Accept::new()));
    let accept_size = std::mem::size_of_val(&accept);
    let connect = rfc6455::io::tokio_ws::connect("ws://127.0.0.1:1/");
    let connect_size = std::mem::size_of_val(&connect);
    assert!(accept_size < 4096, "accept_with's future is {accept_size} bytes");
    assert!(connect_size < 2560, "connect's future is {connect_size} bytes");
}

/// `recv` ends with `Ok(None)` only when the peer closes normally (1000,
/// 1001 or no code); any other code is an error that carries it, so a 1011
/// is never mistaken for a normal close.
#[tokio::test]
async fn only_a_normal_close_from_the_peer_ends_the_stream_quietly() {
    let cases: [(Vec<u8>, Option<u16>); 6] = [
        (close_payload(1000, b""), None),
        (close_payload(1001, b"going away"), None),
        (Vec::new(), None),
        (close_payload(1011, b"server error"), Some(1011)),
        (close_payload(1008, b"policy"), Some(1008)),
        (close_payload(4000, b"app code"), Some(4000)),
    ];
    for (payload, error_code) in cases {
        bounded(async {
            let (io, peer) = duplex(4096);
            let mut peer = RawClient::new(peer);
            let mut server = server_over(io, &config());
            peer.send(OpCode::Close, &payload).await;
            let end = server.recv().await;
            match error_code {
                None => assert!(matches!(end, Ok(None)), "{payload:?}: {end:?}"),
                Some(code) => assert!(
                    matches!(&end, Err(Error::Closed(reason)) if reason.was_clean() && reason.code() == CloseCode(code)),
                    "{payload:?}: {end:?}"
                ),
            }
            // Either way the close handshake was answered.
            assert_eq!(peer.next_frame().await.map(|(opcode, _)| opcode), Some(OpCode::Close));
        })
        .await;
    }
}

/// Code written for tokio-tungstenite, `let (write, read) = socket.split();`
/// with `StreamExt` in scope, gets the `Sink` half first and the `Stream`
/// half second, as there: the adapter's own halves are `into_split`.
#[tokio::test]
async fn streamext_split_gives_sink_then_stream_as_in_tokio_tungstenite() {
    bounded(async {
        let (client_io, server_io) = duplex(4096);
        let (mut write, mut read) = client_over(client_io, &config()).split();
        let mut server = server_over(server_io, &config());
        write.send(Message::text("through the sink half")).await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("through the sink half")));
        server.send("to the stream half").await.unwrap();
        assert_eq!(read.next().await.map(Result::unwrap), Some(Message::text("to the stream half")));
        // SinkExt::close on the sink half closes with 1000.
        let (closed, end) = tokio::join!(write.close(), server.recv());
        closed.unwrap();
        assert!(matches!(end, Ok(None)), "{end:?}");
        assert_eq!(server.close_reason().map(|r| r.code()), Some(CloseCode::NORMAL));
    })
    .await;
}

/// A stream whose writes and flushes fail once `broken` is set, like an
/// HTTP/2 stream the peer ended after sending its close frame; reads go on.
struct WritesBreak {
    io: DuplexStream,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl WritesBreak {
    fn check(&self) -> std::io::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the peer ended this stream"));
        }
        Ok(())
    }
}

impl tokio::io::AsyncRead for WritesBreak {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WritesBreak {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Once our close frame is out, a transport that stops taking writes does
/// not hide the peer's close that is waiting to be read: the close ends
/// cleanly. (An HTTP/2 server ends the stream after its close frame; the
/// flush that came first failed and lost the close before this was fixed.)
#[tokio::test(start_paused = true)]
async fn a_transport_that_stops_taking_writes_after_our_close_still_delivers_the_peers_close() {
    bounded(async {
        let (ours, mut theirs) = duplex(1 << 16);
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stream = WritesBreak { io: ours, broken: Arc::clone(&broken) };
        let mut client = WebSocketStream::from_connection(stream, Connection::client(&config(), tokio_now(), [42; 32]));
        client.close(CloseCode::NORMAL, "done").await.unwrap();
        // The peer answers with its close, then stops reading: our writes fail from now on.
        theirs.write_all(&server_frame(OpCode::Close, true, &close_payload(1000, b""))).await.unwrap();
        broken.store(true, Ordering::SeqCst);
        assert_eq!(client.recv().await.unwrap(), None, "a clean close");
        assert!(client.connection().close_reason().is_some_and(|reason| reason.is_normal()));
    })
    .await;
}

/// Fan-out: one message encoded once, sent to fifty connections (the tokio
/// stream and the split writer), each client gets it whole; small and large
/// (the large frame shared by reference).
#[tokio::test]
async fn a_prepared_message_reaches_every_subscriber() {
    bounded(async {
        let mut servers = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..50 {
            let (a, b) = duplex(1 << 20);
            servers.push(server_over(a, &config()));
            clients.push(client_over(b, &config()));
        }
        let small = rfc6455::PreparedMessage::new("price 42.17");
        let large = rfc6455::PreparedMessage::new(vec![9u8; 100_000]);
        for server in &mut servers {
            server.send_prepared(&small).await.unwrap();
        }
        let (_reader, mut writer) = servers.pop().unwrap().into_split();
        writer.send_prepared(&large).await.unwrap();
        for server in &mut servers {
            server.send_prepared(&large).await.unwrap();
        }
        for client in &mut clients {
            assert_eq!(client.recv().await.unwrap(), Some(Message::text("price 42.17")));
            assert_eq!(client.recv().await.unwrap(), Some(Message::binary(vec![9u8; 100_000])));
        }
    })
    .await;
}

/// `feed_prepared` queues without writing (one write for a burst of
/// updates), on the stream and on the split writer.
#[tokio::test]
async fn prepared_messages_fed_go_out_at_the_flush() {
    bounded(async {
        let updates: Vec<_> = (0..3).map(|i| rfc6455::PreparedMessage::new(format!("update {i}"))).collect();
        let (a, b) = duplex(1 << 20);
        let mut server = server_over(a, &config());
        let mut client = client_over(b, &config());
        for update in &updates {
            server.feed_prepared(update).await.unwrap();
        }
        assert!(server.buffered_amount() > 0, "queued, not written");
        server.flush().await.unwrap();
        assert_eq!(server.buffered_amount(), 0);
        let (_reader, mut writer) = server.into_split();
        for update in &updates {
            writer.feed_prepared(update).await.unwrap();
        }
        assert!(writer.buffered_amount() > 0, "queued, not written");
        writer.flush().await.unwrap();
        for round in 0..2 {
            for i in 0..3 {
                assert_eq!(client.recv().await.unwrap(), Some(Message::text(format!("update {i}"))), "round {round}");
            }
        }
    })
    .await;
}
