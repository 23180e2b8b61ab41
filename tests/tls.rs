//! `wss://` end to end on 127.0.0.1 with certificates made at test time
//! (rcgen): our TLS clients (blocking, tokio, reconnecting) against TLS
//! servers on both adapters, permessage-deflate on, a 1 MiB message and the
//! close handshake; and the failures a user must be able to tell apart: a
//! certificate for another host, an unknown CA, an expired certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unreachable_pub)]
#[path = "common/noise.rs"]
mod noise;
#[path = "common/tls.rs"]
mod tls_support;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use noise::noise;
use rfc6455::extensions::deflate::DeflateConfig;
use rfc6455::handshake::Accept;
use rfc6455::io::blocking::{self, StreamHooks};
use rfc6455::io::reconnect::{ClientEvent, ReconnectingClient};
use rfc6455::io::{tokio_ws, Dialer, Error, TlsConnector, TlsError};
use rfc6455::{CloseCode, Config, Message};
use rustls::pki_types::CertificateDer;
use tls_support::{pki, server_tls, trusting as dialer, Pki};

/// Bound on every test.
const WAIT: Duration = Duration::from_secs(20);

fn deflate_config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    config.handshake_timeout = Some(WAIT);
    config
}

/// What a test server saw of its one connection.
#[derive(Debug)]
struct Seen {
    /// The ALPN protocol TLS settled on.
    alpn: Option<Vec<u8>>,
    echoed: usize,
}

type BlockingTls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// A blocking TLS echo server for one connection: echoes until the close.
fn blocking_server(tls: Arc<rustls::ServerConfig>) -> (SocketAddr, JoinHandle<Result<Seen, Error>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept()?;
        tcp.set_read_timeout(Some(WAIT))?;
        let session = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
        let mut ws = blocking::accept_with(BlockingTls::new(session, tcp), &deflate_config(), |_| Ok(Accept::new()))?;
        ws.set_stream_hooks(StreamHooks::new(
            |tls: &BlockingTls, limit| tls.sock.set_read_timeout(limit),
            |tls: &BlockingTls, limit| tls.sock.set_write_timeout(limit),
            |tls: &BlockingTls| tls.sock.shutdown(Shutdown::Both),
        ));
        let alpn = ws.get_ref().conn.alpn_protocol().map(<[u8]>::to_vec);
        let mut echoed = 0;
        while let Some(message) = ws.read()? {
            ws.send(message)?;
            echoed += 1;
        }
        Ok(Seen { alpn, echoed })
    });
    (addr, server)
}

/// A tokio TLS echo server for one connection, on its own runtime thread.
fn tokio_server(tls: Arc<rustls::ServerConfig>) -> (SocketAddr, JoinHandle<Result<Seen, Error>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let (tcp, _) = tokio::time::timeout(WAIT, listener.accept()).await.map_err(std::io::Error::other)??;
            let stream = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await?;
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut ws = tokio_ws::accept_with(stream, &deflate_config(), |_| Ok(Accept::new())).await?;
            let mut echoed = 0;
            while let Some(message) = tokio::time::timeout(WAIT, ws.recv()).await.map_err(std::io::Error::other)?? {
                ws.send(message).await?;
                echoed += 1;
            }
            Ok(Seen { alpn, echoed })
        })
    });
    (addr, server)
}

fn messages() -> Vec<Message> {
    let mut megabyte = vec![0u8; 1 << 20];
    for (i, byte) in megabyte.iter_mut().enumerate() {
        *byte = (i % 251) as u8; // compressible, but not trivially
    }
    vec![
        Message::text("hello over TLS, ünïcødé"),
        Message::binary((0..=255u8).collect::<Vec<_>>()),
        Message::binary(megabyte),
    ]
}

fn deflate_accepted(response: &rfc6455::handshake::Response) -> bool {
    response.extensions().iter().any(|extension| extension.name() == "permessage-deflate")
}

/// Our blocking client: echoes every message, then closes with 1000.
fn blocking_client(url: &str, dialer: &Dialer) -> Result<(), Error> {
    let (mut ws, response) = blocking::connect_with_dialer(url, &deflate_config(), dialer)?;
    assert_eq!(response.status(), 101);
    assert!(ws.get_ref().is_tls());
    assert!(deflate_accepted(&response), "permessage-deflate negotiated: {response:?}");
    ws.set_read_timeout(Some(WAIT));
    for message in messages() {
        ws.send(message.clone())?;
        assert_eq!(ws.read()?, Some(message));
    }
    ws.close(CloseCode::NORMAL, "done")?;
    assert_eq!(ws.read()?, None, "a clean close");
    Ok(())
}

/// Our tokio client: the same.
async fn tokio_client(url: &str, dialer: &Dialer) -> Result<(), Error> {
    let (mut ws, response) = tokio_ws::connect_with_dialer(url, &deflate_config(), dialer).await?;
    assert_eq!(response.status(), 101);
    assert!(ws.get_ref().is_tls());
    assert!(deflate_accepted(&response), "permessage-deflate negotiated: {response:?}");
    for message in messages() {
        ws.send(message.clone()).await?;
        assert_eq!(tokio::time::timeout(WAIT, ws.recv()).await.unwrap()?, Some(message));
    }
    ws.close(CloseCode::NORMAL, "done").await?;
    assert_eq!(tokio::time::timeout(WAIT, ws.recv()).await.unwrap()?, None, "a clean close");
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn finish(server: JoinHandle<Result<Seen, Error>>) -> Seen {
    let seen = server.join().expect("the server panicked").expect("the server failed");
    assert_eq!(seen.echoed, messages().len(), "{seen:?}");
    seen
}

#[test]
fn both_clients_talk_to_both_servers_over_tls_with_deflate_a_megabyte_and_a_clean_close() {
    let pki = pki(&["localhost", "127.0.0.1"], false);
    let dialer = dialer(&pki);
    for host in ["127.0.0.1", "localhost"] {
        // Blocking client against the tokio server, tokio client against the blocking server, and the
        // same-adapter pairs.
        let (addr, server) = tokio_server(server_tls(&pki, &[b"http/1.1"]));
        blocking_client(&format!("wss://{host}:{}/", addr.port()), &dialer).unwrap();
        finish(server);
        let (addr, server) = blocking_server(server_tls(&pki, &[b"http/1.1"]));
        runtime().block_on(tokio_client(&format!("wss://{host}:{}/x?y=1", addr.port()), &dialer)).unwrap();
        finish(server);
        let (addr, server) = blocking_server(server_tls(&pki, &[]));
        blocking_client(&format!("wss://{host}:{}/", addr.port()), &dialer).unwrap();
        finish(server);
        let (addr, server) = tokio_server(server_tls(&pki, &[]));
        runtime().block_on(tokio_client(&format!("wss://{host}:{}/", addr.port()), &dialer)).unwrap();
        finish(server);
    }
}

#[test]
fn the_client_offers_http11_only_so_a_server_preferring_h2_cannot_break_the_upgrade() {
    let pki = pki(&["127.0.0.1"], false);
    // The default configuration...
    let (addr, server) = tokio_server(server_tls(&pki, &[b"h2", b"http/1.1"]));
    blocking_client(&format!("wss://127.0.0.1:{}/", addr.port()), &dialer(&pki)).unwrap();
    assert_eq!(finish(server).alpn.as_deref(), Some(&b"http/1.1"[..]));
    // ... and an application's own rustls configuration that asks for h2 first.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pem_to_der(&pki.ca_pem))).unwrap();
    // ring: deprecated since rustls 0.23.48 (no post-quantum key exchange), fine here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut own = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    own.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let own = Dialer::new().tls(TlsConnector::rustls(Arc::new(own)));
    let (addr, server) = blocking_server(server_tls(&pki, &[b"h2", b"http/1.1"]));
    runtime().block_on(tokio_client(&format!("wss://127.0.0.1:{}/", addr.port()), &own)).unwrap();
    assert_eq!(finish(server).alpn.as_deref(), Some(&b"http/1.1"[..]));
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

#[test]
fn an_ipv6_literal_is_checked_against_the_certificates_ip_address() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    };
    let pki = pki(&["::1"], false);
    let tls = server_tls(&pki, &[]);
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let session = rustls::ServerConnection::new(tls).unwrap();
        let mut ws = blocking::accept(BlockingTls::new(session, tcp)).unwrap();
        let message = ws.read().unwrap().unwrap();
        ws.send(message).unwrap();
        let _ = ws.read();
    });
    runtime()
        .block_on(async {
            let (mut ws, _) =
                tokio_ws::connect_with_dialer(format!("wss://[::1]:{port}/"), &Config::default(), &dialer(&pki))
                    .await?;
            ws.send("over IPv6").await?;
            assert_eq!(ws.recv().await?, Some(Message::text("over IPv6")));
            ws.close(CloseCode::NORMAL, "").await
        })
        .unwrap();
    server.join().unwrap();
}

/// The error a client gets from a server with this certificate, by both adapters.
fn refused(pki_of_server: &Pki, host: &str, dialer: &Dialer) -> Vec<TlsError> {
    let mut errors = Vec::new();
    let (addr, server) = tokio_server(server_tls(pki_of_server, &[]));
    match blocking::connect_with_dialer(format!("wss://{host}:{}/", addr.port()), &deflate_config(), dialer) {
        Err(Error::Tls(err)) => errors.push(err),
        other => panic!("blocking: expected a TLS error, got {other:?}"),
    }
    assert!(server.join().unwrap().is_err(), "the server saw the client give up");
    let (addr, server) = blocking_server(server_tls(pki_of_server, &[]));
    let url = format!("wss://{host}:{}/", addr.port());
    match runtime().block_on(tokio_ws::connect_with_dialer(url, &deflate_config(), dialer)) {
        Err(Error::Tls(err)) => errors.push(err),
        other => panic!("tokio: expected a TLS error, got {other:?}"),
    }
    assert!(server.join().unwrap().is_err(), "the server saw the client give up");
    errors
}

#[test]
fn a_certificate_for_another_host_is_refused_with_an_error_that_says_so() {
    let pki = pki(&["other.example"], false);
    for err in refused(&pki, "127.0.0.1", &dialer(&pki)) {
        assert!(err.is_certificate_error(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("127.0.0.1") && text.contains("not valid for name"), "{text}");
        assert!(text.contains("other.example"), "says which names the certificate has: {text}");
    }
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_an_error_that_says_so() {
    let pki = pki(&["127.0.0.1"], false);
    // Only the system's roots: the test CA is not among them.
    for err in refused(&pki, "127.0.0.1", &Dialer::new()) {
        assert!(err.is_certificate_error(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("UnknownIssuer") && text.contains("with_root_certificates_pem"), "{text}");
    }
}

#[test]
fn an_expired_certificate_is_refused_with_an_error_that_says_so() {
    let pki = pki(&["127.0.0.1"], true);
    for err in refused(&pki, "127.0.0.1", &dialer(&pki)) {
        assert!(err.is_certificate_error(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("expired"), "{text}");
    }
}

#[test]
fn broken_pem_is_a_typed_error_not_a_panic() {
    for pem in [&b"not a certificate"[..], b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
        match TlsConnector::with_root_certificates_pem(pem) {
            Err(TlsError::InvalidPem(reason)) => assert!(!reason.is_empty()),
            other => panic!("expected InvalidPem, got {other:?}"),
        }
    }
}

#[test]
fn the_reconnecting_client_dials_wss_and_comes_back_after_the_server_drops_it() {
    let pki = pki(&["127.0.0.1"], false);
    let tls = server_tls(&pki, &[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Two connections: the first is dropped after one echo, the second echoes and closes with 1000.
    let server = std::thread::spawn(move || {
        for round in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            let session = rustls::ServerConnection::new(tls.clone()).unwrap();
            let mut ws = blocking::accept(BlockingTls::new(session, tcp)).unwrap();
            let message = ws.read().unwrap().unwrap();
            ws.send(message).unwrap();
            if round == 0 {
                ws.get_ref().sock.shutdown(Shutdown::Both).unwrap(); // gone without a close
            } else {
                ws.close(CloseCode::NORMAL, "bye").unwrap();
                while ws.read().unwrap().is_some() {}
            }
        }
    });
    let mut backoff = rfc6455::Backoff::default();
    backoff.base = Duration::from_millis(10);
    backoff.cap = Duration::from_millis(50);
    let mut client =
        ReconnectingClient::with_dialer(format!("wss://127.0.0.1:{port}/"), Config::default(), dialer(&pki))
            .unwrap()
            .backoff(backoff);
    let (opened, echoes) = runtime().block_on(async {
        let (mut opened, mut echoes) = (0, 0);
        while let Some(event) = tokio::time::timeout(WAIT, client.next()).await.expect("an event in time") {
            match event {
                ClientEvent::Open(_) => {
                    opened += 1;
                    client.send(format!("round {opened}")).await.unwrap();
                }
                ClientEvent::Message(message) => {
                    assert_eq!(message, Message::text(format!("round {opened}")));
                    echoes += 1;
                }
                ClientEvent::GaveUp { .. } => panic!("gave up"),
                _ => {}
            }
        }
        (opened, echoes)
    });
    assert_eq!((opened, echoes), (2, 2));
    server.join().unwrap();
}

#[cfg(feature = "native-tls")]
#[test]
fn a_native_tls_connector_works_on_both_adapters_and_refuses_an_unknown_ca() {
    use rfc6455::io::tls::native_tls;
    let pki = pki(&["127.0.0.1"], false);
    let ca = native_tls::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let connector = native_tls::TlsConnector::builder().add_root_certificate(ca).request_alpns(&["http/1.1"]).build();
    let dialer = Dialer::new().tls(TlsConnector::native_tls(connector.unwrap()));
    assert!(format!("{dialer:?}").contains("native-tls"), "{dialer:?}");
    let (addr, server) = tokio_server(server_tls(&pki, &[b"h2", b"http/1.1"]));
    blocking_client(&format!("wss://127.0.0.1:{}/", addr.port()), &dialer).unwrap();
    assert_eq!(finish(server).alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (addr, server) = blocking_server(server_tls(&pki, &[]));
    runtime().block_on(tokio_client(&format!("wss://127.0.0.1:{}/", addr.port()), &dialer)).unwrap();
    finish(server);
    let untrusted = Dialer::new().tls(TlsConnector::native_tls(native_tls::TlsConnector::new().unwrap()));
    for err in refused(&pki, "127.0.0.1", &untrusted) {
        assert!(err.is_certificate_error(), "{err:?}");
        assert!(err.to_string().contains("certificate verify failed"), "{err}");
    }
}

#[test]
fn the_reconnecting_client_gives_up_at_once_on_an_untrusted_certificate() {
    let pki = pki(&["127.0.0.1"], false);
    let (addr, server) = tokio_server(server_tls(&pki, &[]));
    // ReconnectingClient::new dials wss:// with the default TLS configuration: the test CA is unknown.
    let mut client = ReconnectingClient::new(format!("wss://127.0.0.1:{}/", addr.port()), Config::default()).unwrap();
    let events = runtime().block_on(async {
        let mut events = Vec::new();
        while let Some(event) = tokio::time::timeout(WAIT, client.next()).await.expect("an event in time") {
            events.push(format!("{event:?}"));
        }
        events
    });
    assert!(events.last().unwrap().contains("GaveUp { retries: 0 }"), "{events:?}");
    assert!(events.iter().any(|event| event.contains("UnknownIssuer")), "{events:?}");
    assert!(server.join().unwrap().is_err());
}

/// A blocking TLS server's bounds hold although rustls reads inside a
/// write (and writes inside a read): against a `wss://` client that
/// completes both handshakes, then reads and sends nothing, a read with a
/// limit, a send with a write limit, and a close each return in time.
#[test]
fn a_blocking_tls_server_keeps_its_limits_against_a_peer_that_reads_nothing() {
    use std::time::Instant;
    let pki = pki(&["127.0.0.1"], false);
    let tls = server_tls(&pki, &[b"http/1.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pem_to_der(&pki.ca_pem))).unwrap();
    // ring: deprecated since rustls 0.23.48 (no post-quantum key exchange), fine here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // The peer: TLS and WebSocket over a socket with a tiny receive buffer,
    // then nothing.
    let client = std::thread::spawn(move || {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4 << 10).unwrap();
        socket.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let session = rustls::ClientConnection::new(client_tls, name).unwrap();
        let tls = rustls::StreamOwned::new(session, TcpStream::from(socket));
        let (ws, _) = blocking::client(&format!("ws://127.0.0.1:{port}/") as &str, tls, &Config::default()).unwrap();
        let _ = done_rx.recv_timeout(WAIT);
        drop(ws);
    });
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    socket2::SockRef::from(&tcp).set_send_buffer_size(4 << 10).unwrap();
    let session = rustls::ServerConnection::new(tls).unwrap();
    let mut config = Config::default();
    config.close_timeout = Duration::from_millis(300);
    let mut ws = blocking::accept_with(BlockingTls::new(session, tcp), &config, |_| Ok(Accept::new())).unwrap();
    ws.get_ref().sock.set_read_timeout(None).unwrap();
    ws.set_stream_hooks(StreamHooks::new(
        |tls: &BlockingTls, limit| tls.sock.set_read_timeout(limit),
        |tls: &BlockingTls, limit| tls.sock.set_write_timeout(limit),
        |tls: &BlockingTls| tls.sock.shutdown(Shutdown::Both),
    ));
    let bound = Duration::from_secs(3);

    // A read with a limit, with 4 MiB queued that the peer will not take.
    ws.feed(noise(60 << 10)).unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let read = ws.read();
    let read_took = started.elapsed();
    // A send with a write limit.
    ws.set_write_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let sent = ws.send(noise(1 << 20));
    let send_took = started.elapsed();
    // The close, then the read that reports how it ended.
    ws.set_read_timeout(None);
    ws.set_write_timeout(None);
    let started = Instant::now();
    let closed = ws.close(CloseCode::NORMAL, "");
    let close_took = started.elapsed();
    let started = Instant::now();
    let end = ws.read();
    let end_took = started.elapsed();
    let _ = done_tx.send(());
    client.join().unwrap();

    assert!(matches!(&read, Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock), "{read:?}");
    assert!(read_took < bound, "the read took {read_took:?}");
    assert!(sent.is_ok() && send_took < bound, "{sent:?} after {send_took:?}");
    assert!(closed.is_ok() && close_took < bound, "{closed:?} after {close_took:?}");
    assert!(
        matches!(&end, Err(Error::Closed(rfc6455::CloseReason::Timeout(rfc6455::TimeoutKind::CloseHandshake)))),
        "{end:?}"
    );
    assert!(end_took < bound, "the read after the close took {end_took:?}");
}
