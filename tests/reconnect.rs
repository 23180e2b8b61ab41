//! The reconnecting client (`rfc6455::io::reconnect`) in tokio's paused time,
//! with a seeded jitter generator: its schedule and jitter bounds, what it
//! re-sends on each dial, and when it does not dial again. Servers run in
//! spawned tasks on in-memory `duplex` streams handed out by the connector.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rfc6455::handshake::{Accept, ClientRequest, Reject, UpgradeRequest};
use rfc6455::io::reconnect::{ClientEvent, ClientState, DisconnectReason, ReconnectingClient};
use rfc6455::io::tokio_ws::{accept_with, WebSocketStream};
use rfc6455::io::Error;
use rfc6455::{Backoff, CloseCode, CloseReason, Config, HandshakeError, Initiator, Message};
use tokio::io::{duplex, DuplexStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bound on every test, in tokio's (paused, virtual) time: a client or server
/// that waits forever makes the clock jump here and the test fail.
const WAIT: Duration = Duration::from_secs(3600);
const MS: Duration = Duration::from_millis(1);
const SEED: [u8; 32] = [7; 32];
const TOKEN: &str = "Bearer t0k3n";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, test).await.expect("the test did not finish in time")
}

fn request() -> ClientRequest {
    ClientRequest::new("ws://example.com/feed").unwrap().header("Authorization", TOKEN).unwrap()
}

fn config() -> Config {
    Config::default()
}

fn backoff(base_ms: u32, cap_ms: u32, max_retries: Option<u32>) -> Backoff {
    let mut backoff = Backoff::new(base_ms * MS, cap_ms * MS);
    backoff.max_retries = max_retries;
    backoff
}

async fn next(client: &mut ReconnectingClient<DuplexStream>) -> ClientEvent {
    client.next().await.expect("the client ended early")
}

/// A connector that hands the server end of each new in-memory stream to
/// the returned receiver, and counts dials.
#[allow(clippy::type_complexity)]
fn duplex_connector() -> (
    impl FnMut() -> std::future::Ready<io::Result<DuplexStream>> + Send + 'static,
    mpsc::UnboundedReceiver<DuplexStream>,
    Arc<AtomicUsize>,
) {
    let (to_server, streams) = mpsc::unbounded_channel();
    let dials = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dials);
    let connector = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let (client, server) = duplex(1 << 16);
        to_server.send(server).unwrap();
        std::future::ready(Ok(client))
    };
    (connector, streams, dials)
}

/// Accepts the next dial if it carries our token (401 otherwise) and
/// returns the socket with the `Authorization` header it saw.
async fn accept_next(streams: &mut mpsc::UnboundedReceiver<DuplexStream>) -> (WebSocketStream<DuplexStream>, String) {
    let stream = streams.recv().await.expect("no more dials");
    let mut seen = String::new();
    let hook = |request: &UpgradeRequest| {
        seen = String::from_utf8_lossy(request.header("authorization").unwrap_or_default()).into_owned();
        if seen == TOKEN {
            Ok(Accept::new())
        } else {
            Err(Reject::new(401).unwrap())
        }
    };
    let socket = accept_with(stream, &config(), hook).await.expect("server handshake");
    (socket, seen)
}

/// Answers the next dial with an HTTP status instead of accepting.
async fn refuse_next(streams: &mut mpsc::UnboundedReceiver<DuplexStream>, status: u16) {
    let stream = streams.recv().await.expect("no more dials");
    let refused = accept_with(stream, &config(), |_: &UpgradeRequest| Err(Reject::new(status).unwrap())).await;
    assert!(matches!(refused, Err(Error::Refused(s)) if s == status), "{refused:?}");
}

/// The server closes with `code` and completes the close handshake.
async fn server_close(mut socket: WebSocketStream<DuplexStream>, code: CloseCode) {
    socket.close(code, "").await.unwrap();
    while socket.recv().await.unwrap().is_some() {}
}

fn assert_open(event: ClientEvent) {
    assert!(matches!(event, ClientEvent::Open(ref response) if response.status() == 101), "{event:?}");
}

fn assert_connecting(event: ClientEvent, retry: u32) {
    assert!(
        matches!(event, ClientEvent::Connecting { retry: r } if r == retry),
        "expected Connecting {retry}: {event:?}"
    );
}

/// Takes `Reconnecting { retry, delay }` and returns the delay.
fn reconnecting(event: ClientEvent, retry: u32) -> Duration {
    match event {
        ClientEvent::Reconnecting { retry: r, delay } if r == retry => delay,
        other => panic!("expected Reconnecting {retry}, got {other:?}"),
    }
}

fn disconnected(event: ClientEvent, will_retry: bool) -> DisconnectReason {
    match event {
        ClientEvent::Disconnected { reason, will_retry: w } if w == will_retry => reason,
        other => panic!("expected Disconnected (will_retry: {will_retry}), got {other:?}"),
    }
}

fn clean_close_code(reason: &DisconnectReason) -> CloseCode {
    match reason {
        DisconnectReason::Closed(CloseReason::Clean { initiator: Initiator::Remote, remote }) => remote.code,
        other => panic!("expected a clean close by the server, got {other:?}"),
    }
}

// ----- (a) the schedule --------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn failing_dials_back_off_within_the_jitter_bounds_then_give_up() {
    let dial_times = Arc::new(Mutex::new(Vec::new()));
    let times = Arc::clone(&dial_times);
    let connector = move || {
        times.lock().unwrap().push(Instant::now());
        std::future::ready(Err::<DuplexStream, _>(io::Error::from(io::ErrorKind::ConnectionRefused)))
    };
    let schedule = backoff(100, 1_000, Some(6));
    let mut client = ReconnectingClient::with_connector(request(), config(), connector)
        .unwrap()
        .backoff(schedule.clone())
        .rng_seed(SEED);
    assert_eq!(client.state(), ClientState::Connecting);

    let delays = bounded(async {
        let mut delays = Vec::new();
        for retry in 0..=6 {
            assert_connecting(next(&mut client).await, retry);
            let reason = disconnected(next(&mut client).await, retry < 6);
            assert!(
                matches!(&reason, DisconnectReason::DialFailed(Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused),
                "{reason:?}"
            );
            if retry < 6 {
                delays.push(reconnecting(next(&mut client).await, retry + 1));
                assert_eq!(client.state(), ClientState::Waiting);
                assert!(matches!(client.send("early").await, Err(Error::NotConnected)));
            }
        }
        assert!(matches!(next(&mut client).await, ClientEvent::GaveUp { retries: 6 }));
        assert_eq!(client.state(), ClientState::Closed);
        assert!(client.next().await.is_none());
        assert!(client.next().await.is_none(), "stays ended");
        delays
    })
    .await;

    // Each delay lies in [0, min(cap, base * 2^n)] for the n-th retry (n from 0).
    let ceilings_ms = [100, 200, 400, 800, 1_000, 1_000];
    for (n, (delay, ceiling)) in delays.iter().zip(ceilings_ms).enumerate() {
        assert!(*delay <= ceiling * MS, "retry {n}: {delay:?} above {ceiling} ms");
    }
    // The jitter is the seeded generator's, and it varies.
    let mut rng = StdRng::from_seed(SEED);
    let expected: Vec<Duration> = (0..6).map(|n| schedule.delay(n, &mut rng).unwrap()).collect();
    assert_eq!(delays, expected);
    assert!(delays.windows(2).any(|w| w[0] != w[1]), "constant delays: {delays:?}");
    // The virtual time between two dials is the reported delay (tokio's
    // timer rounds a deadline up to the next millisecond).
    let times = dial_times.lock().unwrap();
    assert_eq!(times.len(), 7, "one first dial and six retries");
    for (n, (pair, delay)) in times.windows(2).zip(&delays).enumerate() {
        let waited = pair[1] - pair[0];
        assert!(waited >= *delay && waited <= *delay + MS, "retry {}: waited {waited:?}, reported {delay:?}", n + 1);
    }
}

#[tokio::test(start_paused = true)]
async fn next_is_cancel_safe_while_waiting() {
    let dial_times = Arc::new(Mutex::new(Vec::new()));
    let times = Arc::clone(&dial_times);
    let connector = move || {
        times.lock().unwrap().push(Instant::now());
        std::future::ready(Err::<DuplexStream, _>(io::Error::from(io::ErrorKind::ConnectionRefused)))
    };
    let mut client = ReconnectingClient::with_connector(request(), config(), connector)
        .unwrap()
        .backoff(backoff(1_000, 1_000, Some(1)))
        .rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        disconnected(next(&mut client).await, true);
        let delay = reconnecting(next(&mut client).await, 1);
        // Poll `next` in short slices, as a `select!` beside a timer would.
        let event = loop {
            if let Ok(event) = tokio::time::timeout(10 * MS, client.next()).await {
                break event.unwrap();
            }
        };
        assert_connecting(event, 1);
        let times = dial_times.lock().unwrap();
        let waited = times[1] - times[0];
        assert!(waited >= delay && waited <= delay + MS, "waited {waited:?}, reported {delay:?}");
    })
    .await;
}

// ----- (b) re-sent headers, re-subscription --------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn reconnects_after_an_abnormal_drop_resending_the_token_and_resubscribing() {
    let (connector, mut streams, dials) = duplex_connector();
    let server = tokio::spawn(async move {
        let mut tokens = Vec::new();
        // First connection: take the subscription, then drop the stream.
        let (mut socket, token) = accept_next(&mut streams).await;
        tokens.push(token);
        assert_eq!(socket.recv().await.unwrap(), Some(Message::from("subscribe prices")));
        drop(socket);
        // Second connection: the subscription comes again; answer, then end normally.
        let (mut socket, token) = accept_next(&mut streams).await;
        tokens.push(token);
        let resubscribed = socket.recv().await.unwrap();
        socket.send("price 42").await.unwrap();
        server_close(socket, CloseCode::NORMAL).await;
        (tokens, resubscribed)
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector)
        .unwrap()
        .backoff(backoff(500, 30_000, None))
        .rng_seed(SEED);

    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        assert_eq!(client.state(), ClientState::Open);
        assert!(client.connection().is_some());
        client.send("subscribe prices").await.unwrap();

        let reason = disconnected(next(&mut client).await, true);
        assert!(matches!(reason, DisconnectReason::Closed(CloseReason::Abnormal)), "{reason:?}");
        let delay = reconnecting(next(&mut client).await, 1);
        assert!(delay <= 500 * MS);
        assert!(client.connection().is_none());
        assert_connecting(next(&mut client).await, 1);
        assert_open(next(&mut client).await);
        client.send("subscribe prices").await.unwrap();
        assert!(matches!(next(&mut client).await, ClientEvent::Message(m) if m == Message::from("price 42")));

        // The server's normal close ends the client.
        match next(&mut client).await {
            ClientEvent::Closed { reason: Some(CloseReason::Clean { initiator: Initiator::Remote, remote }) } => {
                assert_eq!(remote.code, CloseCode::NORMAL);
            }
            other => panic!("expected Closed after the server's 1000, got {other:?}"),
        }
        assert!(client.next().await.is_none());
    })
    .await;

    let (tokens, resubscribed) = bounded(server).await.unwrap();
    assert_eq!(tokens, [TOKEN, TOKEN], "the Authorization header went out on every dial");
    assert_eq!(resubscribed, Some(Message::from("subscribe prices")), "the second connection was set up again");
    assert_eq!(dials.load(Ordering::SeqCst), 2);
}

// ----- (c) the application's close ---------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_applications_close_is_final() {
    let (connector, mut streams, dials) = duplex_connector();
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_next(&mut streams).await;
        // Echo until the client's close completes.
        while let Some(message) = socket.recv().await.unwrap() {
            socket.send(message).await.unwrap();
        }
        socket.connection().close_reason().cloned()
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector)
        .unwrap()
        .backoff(backoff(10, 100, None))
        .rng_seed(SEED);

    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        client.send("ping?").await.unwrap();
        assert!(matches!(next(&mut client).await, ClientEvent::Message(m) if m == Message::from("ping?")));
        client.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(client.state(), ClientState::Closing);
        assert!(matches!(client.send("late").await, Err(Error::Usage(_))));
        assert!(matches!(client.close(CloseCode::NORMAL, "").await, Err(Error::Usage(_))));
        match next(&mut client).await {
            ClientEvent::Closed { reason: Some(CloseReason::Clean { initiator: Initiator::Local, remote }) } => {
                assert_eq!(remote.code, CloseCode::NORMAL, "the server answered with our code");
            }
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(client.next().await.is_none());
        assert_eq!(client.state(), ClientState::Closed);
        // Much later, still no second dial.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(client.next().await.is_none());
    })
    .await;
    let server_saw = bounded(server).await.unwrap();
    assert!(matches!(server_saw, Some(CloseReason::Clean { initiator: Initiator::Remote, .. })), "{server_saw:?}");
    assert_eq!(dials.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_close_code_changes_nothing() {
    let (connector, mut streams, _dials) = duplex_connector();
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_next(&mut streams).await;
        while socket.recv().await.unwrap().is_some() {}
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector).unwrap().rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        assert!(matches!(client.close(CloseCode::ABNORMAL, "").await, Err(Error::Usage(_))));
        assert_eq!(client.state(), ClientState::Open);
        client.send("still open").await.unwrap();
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(next(&mut client).await, ClientEvent::Closed { reason: Some(_) }));
        assert!(client.next().await.is_none());
    })
    .await;
    bounded(server).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn closing_while_waiting_stops_without_another_dial() {
    let dials = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dials);
    let connector = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err::<DuplexStream, _>(io::Error::from(io::ErrorKind::ConnectionReset)))
    };
    let mut client = ReconnectingClient::with_connector(request(), config(), connector).unwrap().rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        disconnected(next(&mut client).await, true);
        reconnecting(next(&mut client).await, 1);
        client.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(next(&mut client).await, ClientEvent::Closed { reason: None }));
        assert!(client.next().await.is_none());
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(client.next().await.is_none());
    })
    .await;
    assert_eq!(dials.load(Ordering::SeqCst), 1);
}

// ----- (d) the server's close codes and refusals -------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn going_away_is_retried_and_a_normal_close_is_not() {
    let (connector, mut streams, dials) = duplex_connector();
    let server = tokio::spawn(async move {
        let (socket, _) = accept_next(&mut streams).await;
        server_close(socket, CloseCode::GOING_AWAY).await;
        let (socket, _) = accept_next(&mut streams).await;
        server_close(socket, CloseCode::NORMAL).await;
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector).unwrap().rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        let reason = disconnected(next(&mut client).await, true);
        assert_eq!(clean_close_code(&reason), CloseCode::GOING_AWAY);
        reconnecting(next(&mut client).await, 1);
        assert_connecting(next(&mut client).await, 1);
        assert_open(next(&mut client).await);
        match next(&mut client).await {
            ClientEvent::Closed { reason: Some(reason) } => assert_eq!(reason.code(), CloseCode::NORMAL),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(client.next().await.is_none());
        tokio::time::sleep(Duration::from_secs(600)).await;
    })
    .await;
    bounded(server).await.unwrap();
    assert_eq!(dials.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_close_blaming_the_client_gives_up() {
    let (connector, mut streams, dials) = duplex_connector();
    let server = tokio::spawn(async move {
        let (socket, _) = accept_next(&mut streams).await;
        server_close(socket, CloseCode::POLICY_VIOLATION).await;
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector).unwrap().rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        let reason = disconnected(next(&mut client).await, false);
        assert_eq!(clean_close_code(&reason), CloseCode::POLICY_VIOLATION);
        assert!(matches!(next(&mut client).await, ClientEvent::GaveUp { retries: 0 }));
        assert!(client.next().await.is_none());
    })
    .await;
    bounded(server).await.unwrap();
    assert_eq!(dials.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_and_a_401_gives_up() {
    let (connector, mut streams, dials) = duplex_connector();
    let server = tokio::spawn(async move {
        refuse_next(&mut streams, 503).await;
        refuse_next(&mut streams, 401).await;
    });
    let mut client = ReconnectingClient::with_connector(request(), config(), connector).unwrap().rng_seed(SEED);
    let status = |reason: DisconnectReason| match reason {
        DisconnectReason::DialFailed(Error::Handshake(HandshakeError::Rejected(response))) => response.status(),
        other => panic!("expected a refused handshake, got {other:?}"),
    };
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        assert_eq!(status(disconnected(next(&mut client).await, true)), 503);
        reconnecting(next(&mut client).await, 1);
        assert_connecting(next(&mut client).await, 1);
        assert_eq!(status(disconnected(next(&mut client).await, false)), 401);
        assert!(matches!(next(&mut client).await, ClientEvent::GaveUp { retries: 1 }));
        assert!(client.next().await.is_none());
    })
    .await;
    bounded(server).await.unwrap();
    assert_eq!(dials.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_the_handshake_out_and_is_retried() {
    let (connector, mut streams, _dials) = duplex_connector();
    let mut config = config();
    config.handshake_timeout = Some(Duration::from_secs(5));
    let mut client = ReconnectingClient::with_connector(request(), config, connector).unwrap().rng_seed(SEED);
    bounded(async {
        assert_connecting(next(&mut client).await, 0);
        let started = Instant::now();
        let reason = disconnected(next(&mut client).await, true);
        assert!(matches!(reason, DisconnectReason::DialFailed(Error::HandshakeTimeout(_))), "{reason:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let _silent = streams.recv().await.unwrap(); // kept open, never answered
    })
    .await;
}

// ----- when the retry count starts again ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn short_lived_connections_keep_backing_off_and_a_stable_one_resets_the_count() {
    let (connector, mut streams, _dials) = duplex_connector();
    let mut schedule = backoff(100, 10_000, None);
    schedule.reset_after = Duration::from_secs(10);
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            drop(accept_next(&mut streams).await); // accept, then drop at once
        }
        let (socket, _) = accept_next(&mut streams).await;
        tokio::time::sleep(Duration::from_secs(10)).await; // up for reset_after
        drop(socket);
        let (socket, _) = accept_next(&mut streams).await;
        server_close(socket, CloseCode::NORMAL).await;
    });
    let mut client =
        ReconnectingClient::with_connector(request(), config(), connector).unwrap().backoff(schedule).rng_seed(SEED);
    bounded(async {
        for retry in 0..3 {
            assert_connecting(next(&mut client).await, retry);
            assert_open(next(&mut client).await);
            disconnected(next(&mut client).await, true);
            // Dropped at once: the series goes on (1, 2); after 10 s up: back to 1.
            let expected = if retry < 2 { retry + 1 } else { 1 };
            let delay = reconnecting(next(&mut client).await, expected);
            assert!(delay <= 100 * MS * (1 << (expected - 1)), "retry {expected}: {delay:?}");
        }
        assert_connecting(next(&mut client).await, 1);
        assert_open(next(&mut client).await);
        assert!(matches!(next(&mut client).await, ClientEvent::Closed { .. }));
    })
    .await;
    bounded(server).await.unwrap();
}

#[test]
fn debug_output_leaves_the_token_out() {
    let client = ReconnectingClient::with_connector(request(), config(), || {
        std::future::ready(Err::<DuplexStream, _>(io::Error::from(io::ErrorKind::ConnectionRefused)))
    })
    .unwrap();
    let debug = format!("{client:?}");
    assert!(debug.contains("example.com") && debug.contains("Connecting"), "{debug}");
    assert!(!debug.contains("t0k3n"), "{debug}");
}

#[tokio::test(start_paused = true)]
async fn the_clients_own_idle_timeout_is_retried_like_a_server_going_away() {
    let (connector, mut streams, dials) = duplex_connector();
    let mut client_config = config();
    client_config.idle_timeout = Some(Duration::from_secs(5));
    let mut client = ReconnectingClient::with_connector(request(), client_config, connector)
        .unwrap()
        .rng_seed(SEED)
        .backoff(backoff(10, 100, None));
    bounded(async {
        let server = tokio::spawn(async move {
            let (mut socket, _) = accept_next(&mut streams).await;
            while let Ok(Some(_)) = socket.recv().await {}
            accept_next(&mut streams).await
        });
        assert_connecting(next(&mut client).await, 0);
        assert_open(next(&mut client).await);
        match disconnected(next(&mut client).await, true) {
            DisconnectReason::Closed(CloseReason::Clean { initiator: Initiator::Local, remote }) => {
                assert_eq!(remote.code, CloseCode::GOING_AWAY, "the idle timeout's 1001, echoed")
            }
            other => panic!("expected our idle timeout's clean close, got {other:?}"),
        }
        reconnecting(next(&mut client).await, 1);
        assert_connecting(next(&mut client).await, 1);
        assert_open(next(&mut client).await);
        let _second = server.await.unwrap();
        assert_eq!(dials.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[test]
fn requests_come_in_any_form_and_a_bad_one_is_refused_before_any_dial() {
    let refuse = || std::future::ready(Err::<DuplexStream, _>(io::Error::from(io::ErrorKind::ConnectionRefused)));
    let request = http::Request::get("wss://example.com/feed").header("Authorization", TOKEN).body(()).unwrap();
    let mut client = ReconnectingClient::with_connector(request, config(), refuse).unwrap();
    let http_url = ReconnectingClient::with_connector("http://example.com/", config(), refuse);
    assert!(matches!(http_url, Err(rfc6455::UsageError::InvalidUrl(_))));
    let post = http::Request::post("ws://elsewhere.example/").body(()).unwrap();
    assert!(matches!(client.set_request(post), Err(rfc6455::UsageError::InvalidRequest(_))));
    assert!(!format!("{client:?}").contains("elsewhere"), "the refused request replaced the old one");
    client.set_request("ws://elsewhere.example/feed").unwrap();
    assert!(format!("{client:?}").contains("elsewhere.example"), "{client:?}");
}
