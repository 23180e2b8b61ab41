//! The README's "Coming from tokio-tungstenite" patterns, run over loopback
//! TCP: a server with a hook, a client with a header, split halves in two
//! tasks, a non-normal close observed with its code, and ping/pong through
//! the adapter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rfc6455::handshake::{secrets_equal, Accept, ClientRequest, Reject};
use rfc6455::io::tokio_ws::{self as ws, WebSocketStream};
use rfc6455::io::Error;
use rfc6455::{CloseCode, Config, HandshakeError, Message, UsageError};
use tokio::net::{TcpListener, TcpStream};

/// Bound on every test: nothing here may hang.
const WAIT: Duration = Duration::from_secs(20);

async fn bounded<T>(test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, test).await.expect("the test did not finish in time")
}

/// A server like the README's: a hook that wants `Authorization: Bearer
/// secret`, then `serve` on each accepted connection.
async fn server<F, Fut>(serve: F) -> u16
where
    F: Fn(WebSocketStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = std::sync::Arc::new(serve);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let serve = serve.clone();
            tokio::spawn(async move {
                let hook = |request: &rfc6455::handshake::UpgradeRequest| match request.bearer_token() {
                    Some(token) if secrets_equal(token, b"secret") => Ok(Accept::new()),
                    _ => Err(Reject::unauthorized()),
                };
                if let Ok(socket) = ws::accept_with(tcp, &Config::default(), hook).await {
                    serve(socket).await;
                }
            });
        }
    });
    port
}

async fn echo(mut socket: WebSocketStream<TcpStream>) {
    while let Ok(Some(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            break;
        }
    }
}

fn authorized(port: u16) -> ClientRequest {
    ClientRequest::new(&format!("ws://127.0.0.1:{port}/chat"))
        .unwrap()
        .header("Authorization", "Bearer secret")
        .unwrap()
}

#[tokio::test]
async fn the_hook_admits_the_header_and_refuses_its_absence() {
    bounded(async {
        let port = server(echo).await;
        let (mut socket, response) = ws::connect_with(&authorized(port), &Config::default()).await.unwrap();
        assert_eq!(response.status(), 101);
        socket.send(Message::text("hello")).await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Some(Message::text("hello")));
        socket.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(matches!(socket.recv().await, Ok(None)));

        let refused = ws::connect(&format!("ws://127.0.0.1:{port}/chat")).await.map(|_| ());
        let Err(Error::Handshake(HandshakeError::Rejected(response))) = refused else {
            panic!("expected a 401 rejection, got {refused:?}")
        };
        assert_eq!(response.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn an_http_request_carries_its_authorization_header() {
    bounded(async {
        let port = server(echo).await;
        let request = http::Request::builder()
            .uri(format!("ws://127.0.0.1:{port}/chat"))
            .header("Authorization", "Bearer secret")
            .body(())
            .unwrap();
        let (mut socket, response) = ws::connect(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        socket.send("with the header").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Some(Message::text("with the header")));

        // The same request without the header is refused by the hook, and the
        // refusal is readable.
        let uri: http::Uri = format!("ws://127.0.0.1:{port}/chat").parse().unwrap();
        let refused = ws::connect(uri).await.map(|_| ());
        let Err(Error::Handshake(HandshakeError::Rejected(response))) = refused else {
            panic!("expected a 401 rejection, got {refused:?}")
        };
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        assert!(format!("{response:?}").contains("Unauthorized"), "{response:?}");
    })
    .await;
}

#[tokio::test]
async fn streamext_split_halves_in_two_tasks() {
    bounded(async {
        let port = server(echo).await;
        let (socket, _) = ws::connect_with(&authorized(port), &Config::default()).await.unwrap();
        let (mut write, mut read) = socket.split();
        let writer = tokio::spawn(async move {
            for i in 0..3 {
                write.send(Message::text(format!("message {i}"))).await.unwrap();
            }
            write
        });
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 3 {
                got.push(read.next().await.expect("an echo").unwrap().into_text().unwrap().to_string());
            }
            (read, got)
        });
        let write = writer.await.unwrap();
        let (read, got) = reader.await.unwrap();
        assert_eq!(got, ["message 0", "message 1", "message 2"]);
        // The halves join back; closing through the sink sends a close frame.
        let mut socket = read.reunite(write).unwrap();
        socket.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(matches!(socket.recv().await, Ok(None)));
    })
    .await;
}

#[tokio::test]
async fn a_server_error_close_is_an_error_with_its_code() {
    bounded(async {
        let port = server(|mut socket| async move {
            let _ = socket.recv().await; // the client's first message
            socket.close(CloseCode::INTERNAL_ERROR, "overloaded").await.unwrap();
            while let Ok(Some(_)) = socket.recv().await {}
        })
        .await;
        let (mut socket, _) = ws::connect_with(&authorized(port), &Config::default()).await.unwrap();
        socket.send("work").await.unwrap();
        let end = socket.recv().await;
        let Err(Error::Closed(reason)) = end else { panic!("a 1011 must not look like a normal close: {end:?}") };
        assert_eq!((reason.code(), reason.reason()), (CloseCode::INTERNAL_ERROR, "overloaded"));
        assert!(reason.was_clean(), "the close handshake itself completed");
        assert_eq!(socket.close_reason().map(|r| r.code()), Some(CloseCode::INTERNAL_ERROR));
    })
    .await;
}

#[tokio::test]
async fn ping_and_pong_through_the_adapter() {
    bounded(async {
        let port = server(echo).await;
        let (mut socket, _) = ws::connect_with(&authorized(port), &Config::default()).await.unwrap();
        socket.ping(b"are you there").await.unwrap();
        socket.pong(b"unsolicited").await.unwrap();
        let too_long = socket.ping(&[0; 126]).await;
        assert!(matches!(too_long, Err(Error::Usage(UsageError::ControlPayloadTooLong { .. }))), "{too_long:?}");
        // The server answered the ping by itself and still echoes.
        socket.send("after the ping").await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Some(Message::text("after the ping")));
    })
    .await;
}
