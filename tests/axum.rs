//! WebSocket routes in axum and hyper servers on 127.0.0.1: our clients
//! through the axum extractor and `hyper_ws::upgrade` (messages both ways,
//! permessage-deflate, a clean close), beside an ordinary route; and the
//! answers to upgrades that must not go ahead (400, 426, 403, 401).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{Either, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::handshake::{Accept, ClientRequest, OriginPolicy, Reject};
use rfc6455::io::axum_ws::{WebSocket, WebSocketUpgrade};
use rfc6455::io::{blocking, hyper_ws, tokio_ws};
use rfc6455::{CloseCode, Config, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

/// Bound on every test.
const WAIT: Duration = Duration::from_secs(20);

fn deflate() -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    config
}

async fn echo_until_closed(mut socket: WebSocket) {
    while let Ok(Some(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            break;
        }
    }
}

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.config(deflate()).on_upgrade(echo_until_closed)
}

async fn strict(upgrade: WebSocketUpgrade) -> Response {
    let policy = OriginPolicy::only_listed().allow("https://good.example").unwrap();
    upgrade.origin_policy(policy).on_upgrade(echo_until_closed)
}

async fn versioned(upgrade: WebSocketUpgrade) -> Response {
    let upgrade = upgrade.protocols(["v2", "v1"]);
    if upgrade.selected_protocol().is_none() {
        return (http::StatusCode::BAD_REQUEST, "speak v1 or v2").into_response();
    }
    upgrade.on_upgrade(echo_until_closed)
}

fn app() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ws", get(echo).connect(echo))
        .route("/strict", get(strict).connect(strict))
        .route("/versioned", get(versioned))
}

/// Serves `app` as the example does (HTTP/1.1 with upgrades, h2c with
/// extended CONNECT) on a free port, in the current runtime.
async fn serve(app: Router) -> u16 {
    serve_with(app, true).await
}

async fn serve_with(app: Router, extended_connect: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let app = app.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| app.clone().call(request));
                let mut builder = auto::Builder::new(TokioExecutor::new());
                if extended_connect {
                    builder.http2().enable_connect_protocol();
                }
                let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await;
            });
        }
    });
    port
}

fn messages() -> Vec<Message> {
    let text: String = "WebSocket in axum, compressed. ".repeat(40_000); // about 1.2 MB
    vec![Message::text("hello"), Message::binary((0..=255u8).collect::<Vec<_>>()), Message::text(text)]
}

fn deflate_accepted(response: &rfc6455::handshake::Response) -> bool {
    response.extensions().iter().any(|extension| extension.name() == "permessage-deflate")
}

/// Writes a raw HTTP/1.1 request and returns the response head.
async fn raw(port: u16, request: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "the server closed before a whole head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn our_clients_echo_through_the_axum_extractor_with_deflate_beside_an_ordinary_route() {
    tokio::time::timeout(WAIT, async {
        let port = serve(app()).await;
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (mut socket, response) = tokio_ws::connect_with(url.as_str(), &deflate()).await.unwrap();
        assert!(deflate_accepted(&response), "{response:?}");
        for message in messages() {
            socket.send(message.clone()).await.unwrap();
            assert_eq!(socket.recv().await.unwrap(), Some(message));
        }
        socket.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), None, "a clean close");
        // The blocking client, from a thread.
        let blocking = std::thread::spawn(move || {
            let (mut socket, response) = blocking::connect_with(url.as_str(), &deflate()).unwrap();
            assert!(deflate_accepted(&response));
            socket.set_read_timeout(Some(WAIT));
            for message in messages() {
                socket.send(message.clone()).unwrap();
                assert_eq!(socket.read().unwrap(), Some(message));
            }
            socket.close(CloseCode::NORMAL, "").unwrap();
            assert_eq!(socket.read().unwrap(), None);
        });
        while !blocking.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        blocking.join().unwrap();
        let health = raw(port, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn invalid_upgrades_get_the_status_that_says_why_and_never_reach_the_handler() {
    tokio::time::timeout(WAIT, async {
        let port = serve(app()).await;
        // A version other than 13: 426, naming the version we speak.
        let head = raw(port, &upgrade_request("/ws", "Sec-WebSocket-Version: 8\r\n")).await;
        assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
        assert!(head.to_ascii_lowercase().contains("sec-websocket-version: 13\r\n"), "{head}");
        // No version at all: the same.
        let head = raw(port, &upgrade_request("/ws", "")).await;
        assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
        // A key that is not 16 bytes of base64: 400.
        let bad_key = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let head = raw(port, bad_key).await;
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        // Not an upgrade at all: 400 (the route is a WebSocket route).
        let head = raw(port, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_origin_policy_refuses_a_foreign_origin_with_403_and_admits_its_own() {
    tokio::time::timeout(WAIT, async {
        let port = serve(app()).await;
        let foreign = upgrade_request("/strict", "Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n");
        let head = raw(port, &foreign).await;
        assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/strict"))
            .unwrap()
            .header("Origin", "https://good.example")
            .unwrap();
        let (mut socket, _) = tokio_ws::connect(request).await.unwrap();
        socket.send("from a good origin").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Some(Message::text("from a good origin")));
        socket.close(CloseCode::NORMAL, "").await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_clients_first_offer_among_the_routes_protocols_is_chosen() {
    tokio::time::timeout(WAIT, async {
        let port = serve(app()).await;
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/versioned"))
            .unwrap()
            .protocol("v1")
            .unwrap()
            .protocol("v2")
            .unwrap();
        let (mut socket, response) = tokio_ws::connect(request).await.unwrap();
        assert_eq!(response.protocol(), Some("v1"));
        socket.close(CloseCode::NORMAL, "").await.unwrap();
        let none = ClientRequest::new(&format!("ws://127.0.0.1:{port}/versioned")).unwrap().protocol("v3").unwrap();
        let err = tokio_ws::connect(none).await.unwrap_err();
        assert!(err.to_string().contains("400"), "{err}");
    })
    .await
    .unwrap();
}

type HyperBody = Either<Empty<Bytes>, Full<Bytes>>;

/// A hyper service whose `/ws` wants `Authorization: Bearer s3cr3t`.
async fn hyper_route(
    mut request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<HyperBody>, Infallible> {
    if !hyper_ws::is_upgrade_request(&request) {
        return Ok(http::Response::new(Either::Right(Full::from("plain HTTP"))));
    }
    let hook = |upgrade: &rfc6455::handshake::UpgradeRequest| match upgrade.bearer_token() {
        Some(token) if rfc6455::handshake::secrets_equal(token, b"s3cr3t") => Ok(Accept::new()),
        _ => Err(Reject::unauthorized().body("a bearer token, please")),
    };
    match hyper_ws::upgrade_with(&mut request, &deflate(), hook) {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                if let Ok(socket) = upgrade.await {
                    echo_until_closed(socket).await;
                }
            });
            Ok(response.map(Either::Left))
        }
        Err(refused) => Ok(refused.into_response().map(Either::Right)),
    }
}

#[tokio::test]
async fn a_plain_hyper_server_upgrades_with_the_hook_deciding() {
    tokio::time::timeout(WAIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(hyper_route))
                        .with_upgrades(),
                );
            }
        });
        let head = raw(port, &upgrade_request("/ws", "Sec-WebSocket-Version: 13\r\n")).await;
        assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
        assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/ws"))
            .unwrap()
            .header("Authorization", "Bearer s3cr3t")
            .unwrap();
        let (mut socket, response) = tokio_ws::connect_with(request, &deflate()).await.unwrap();
        assert!(deflate_accepted(&response));
        for message in messages() {
            socket.send(message.clone()).await.unwrap();
            assert_eq!(socket.recv().await.unwrap(), Some(message));
        }
        socket.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), None);
        let plain = raw(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        assert!(plain.starts_with("HTTP/1.1 200 "), "{plain}");
    })
    .await
    .unwrap();
}

/// An HTTP/2 connection (h2c, prior knowledge) to 127.0.0.1:`port`.
async fn h2(port: u16) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_http2_share_one_connection_with_ordinary_requests_and_respect_flow_control() {
    tokio::time::timeout(WAIT, async {
        let port = serve(app()).await;
        let mut sender = h2(port).await;
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut sockets = Vec::new();
        for _ in 0..3 {
            let (socket, response) = hyper_ws::connect_h2(&mut sender, url.as_str(), &deflate()).await.unwrap();
            assert_eq!(response.status(), http::StatusCode::OK);
            assert!(deflate_accepted(&response), "{response:?}");
            sockets.push(socket);
        }
        // An ordinary request on the same connection, between WebSocket messages.
        let health = http::Request::get(format!("http://127.0.0.1:{port}/health")).body(Empty::new()).unwrap();
        let answer = sender.send_request(health).await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::OK);
        assert_eq!(answer.version(), http::Version::HTTP_2);
        // Each stream echoes its own messages, interleaved; one carries 16 MiB (far past
        // HTTP/2's 64 KiB initial window: the flow control has to move).
        let mut big = vec![0u8; 16 << 20];
        for (i, byte) in big.iter_mut().enumerate() {
            *byte = (i * 7 % 251) as u8;
        }
        let tasks: Vec<_> = sockets
            .into_iter()
            .enumerate()
            .map(|(n, mut socket)| {
                let big = big.clone();
                tokio::spawn(async move {
                    for round in 0..20 {
                        let message = Message::text(format!("stream {n} round {round}"));
                        socket.send(message.clone()).await.unwrap();
                        assert_eq!(socket.recv().await.unwrap(), Some(message));
                    }
                    if n == 1 {
                        let message = Message::binary(big);
                        socket.send(message.clone()).await.unwrap();
                        assert_eq!(socket.recv().await.unwrap(), Some(message));
                    }
                    socket.close(CloseCode::NORMAL, "").await.unwrap();
                    assert_eq!(socket.recv().await.unwrap(), None, "a clean close");
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // The connection is still good for more.
        let (mut socket, _) = hyper_ws::connect_h2(&mut sender, url.as_str(), &Config::default()).await.unwrap();
        socket.send("again").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Some(Message::text("again")));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_server_without_extended_connect_gives_the_http2_client_a_clear_error() {
    tokio::time::timeout(WAIT, async {
        let port = serve_with(app(), false).await;
        let mut sender = h2(port).await;
        let err = hyper_ws::connect_h2(&mut sender, format!("ws://127.0.0.1:{port}/ws"), &Config::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"), "{err}");
        // A refusal over HTTP/2 is typed, with its status: a foreign Origin on /strict.
        let port = serve(app()).await;
        let mut sender = h2(port).await;
        let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/strict"))
            .unwrap()
            .header("Origin", "https://evil.example")
            .unwrap();
        match hyper_ws::connect_h2(&mut sender, request, &Config::default()).await {
            Err(rfc6455::io::Error::Handshake(rfc6455::HandshakeError::Rejected(response))) => {
                assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
                assert_eq!(response.body_state(), rfc6455::handshake::BodyState::Complete);
                assert!(!response.body().is_empty(), "the refusal's body says why: {response:?}");
            }
            other => panic!("expected a 403, got {other:?}"),
        }
    })
    .await
    .unwrap();
}
