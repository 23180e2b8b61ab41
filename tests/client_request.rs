//! The adapters' `connect`/`connect_with`/`client` take anything that is
//! `IntoClientRequest`: an `http::Request<()>`'s headers reach the server's
//! hook, and requests that cannot open a WebSocket fail before any I/O.

use std::sync::mpsc;
use std::time::Duration;

use rfc6455::handshake::{Accept, ClientRequest, UpgradeRequest};
use rfc6455::io::{blocking, tokio_ws, Error};
use rfc6455::{Config, UsageError};

const WAIT: Duration = Duration::from_secs(10);

/// What the server's hook saw: the target, `Authorization`, and the offered subprotocols.
type Seen = (String, Option<Vec<u8>>, Vec<String>);

fn seen(request: &UpgradeRequest) -> Seen {
    (
        request.target().to_owned(),
        request.header("authorization").map(<[u8]>::to_vec),
        request.protocols().map(str::to_owned).collect(),
    )
}

fn http_request(port: u16) -> http::Request<()> {
    http::Request::get(format!("ws://127.0.0.1:{port}/feed?v=2"))
        .header(http::header::AUTHORIZATION, "Bearer s3cr3t")
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, "chat.v2, chat.v1")
        .body(())
        .unwrap()
}

fn expected() -> Seen {
    ("/feed?v=2".to_owned(), Some(b"Bearer s3cr3t".to_vec()), vec!["chat.v2".to_owned(), "chat.v1".to_owned()])
}

/// A blocking server on a fresh port that accepts one connection, choosing
/// the first offered subprotocol, and reports what its hook saw.
fn blocking_server() -> (u16, mpsc::Receiver<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let _ws = blocking::accept_with(tcp, &Config::default(), |request| {
            let seen = seen(request);
            let first = seen.2.first().cloned();
            tx.send(seen).unwrap();
            match first {
                Some(protocol) => Ok(Accept::new().protocol(&protocol)?),
                None => Ok(Accept::new()),
            }
        });
    });
    (port, rx)
}

#[test]
fn blocking_connect_sends_the_http_request_headers() {
    let (port, rx) = blocking_server();
    let (_ws, response) = blocking::connect(http_request(port)).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), expected());
    assert_eq!(response.protocol(), Some("chat.v2"));
}

#[test]
fn blocking_connect_takes_every_form() {
    for form in 0..6 {
        let (port, rx) = blocking_server();
        let url = format!("ws://127.0.0.1:{port}/feed?v=2");
        let uri: http::Uri = url.parse().unwrap();
        let request = ClientRequest::new(&url).unwrap();
        let result = match form {
            0 => blocking::connect(url.as_str()),
            1 => blocking::connect(&url),
            2 => blocking::connect(url),
            3 => blocking::connect(&uri),
            4 => blocking::connect(uri),
            _ => blocking::connect_with(&request, &Config::default()),
        };
        result.unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap().0, "/feed?v=2", "form {form}");
    }
}

#[tokio::test]
async fn tokio_connect_sends_the_http_request_headers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut saw = None;
        let _ws = tokio_ws::accept_with(tcp, &Config::default(), |request| {
            saw = Some(seen(request));
            Ok(Accept::new().protocol("chat.v1")?)
        })
        .await
        .unwrap();
        saw
    });
    let request = http_request(port);
    let (_ws, response) =
        tokio::time::timeout(WAIT, tokio_ws::connect_with(&request, &Config::default())).await.unwrap().unwrap();
    assert_eq!(response.protocol(), Some("chat.v1"));
    assert_eq!(server.await.unwrap(), Some(expected()));
}

#[tokio::test]
async fn tokio_client_takes_an_http_request_over_any_stream() {
    let (client_io, server_io) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut saw = None;
        let _ws = tokio_ws::accept_with(server_io, &Config::default(), |request| {
            saw = Some(seen(request));
            Ok(Accept::new())
        })
        .await
        .unwrap();
        saw
    });
    let request = http::Request::get("ws://example.com/feed?v=2")
        .header("Authorization", "Bearer s3cr3t")
        .header("sec-websocket-protocol", "chat.v2")
        .header("Sec-WebSocket-Protocol", "chat.v1")
        .body(())
        .unwrap();
    let (_ws, _) = tokio_ws::client(request, client_io, &Config::default()).await.unwrap();
    assert_eq!(server.await.unwrap(), Some(expected()));
}

fn is_usage(result: Result<impl Sized, Error>, expected: fn(&UsageError) -> bool) -> bool {
    matches!(result, Err(Error::Usage(ref err)) if expected(err))
}

/// A refused request: what it is, the request, and the error it must give.
type Refused = (&'static str, http::Request<()>, fn(&UsageError) -> bool);

/// Port 9 (discard) is never dialled: these fail before any I/O.
fn refused() -> Vec<Refused> {
    vec![
        ("POST", http::Request::post("ws://127.0.0.1:9/").body(()).unwrap(), |e| {
            matches!(e, UsageError::InvalidRequest(_))
        }),
        ("http://", http::Request::get("http://127.0.0.1:9/").body(()).unwrap(), |e| {
            matches!(e, UsageError::InvalidUrl(_))
        }),
        ("relative", http::Request::get("/chat").body(()).unwrap(), |e| matches!(e, UsageError::InvalidUrl(_))),
        ("Host header", http::Request::get("ws://127.0.0.1:9/").header("Host", "x").body(()).unwrap(), |e| {
            matches!(e, UsageError::ReservedHeader(_))
        }),
    ]
}

#[test]
fn blocking_refuses_what_cannot_open_a_websocket() {
    for (what, request, expected) in refused() {
        assert!(is_usage(blocking::connect(request), expected), "{what}");
    }
    let uri: http::Uri = "https://127.0.0.1:9/".parse().unwrap();
    assert!(is_usage(blocking::connect(uri), |e| matches!(e, UsageError::InvalidUrl(_))));
}

#[tokio::test]
async fn tokio_refuses_what_cannot_open_a_websocket() {
    for (what, request, expected) in refused() {
        assert!(is_usage(tokio_ws::connect(request).await, expected), "{what}");
    }
    assert!(is_usage(tokio_ws::connect("http://127.0.0.1:9/").await, |e| matches!(e, UsageError::InvalidUrl(_))));
}
