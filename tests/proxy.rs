//! Clients through proxies on 127.0.0.1: a small HTTP CONNECT proxy and a
//! small SOCKS5 proxy written here (the real tinyproxy and microsocks run in
//! CI's `tests/e2e/proxies.sh`), `ws://` and `wss://` through each, from
//! both adapters and the reconnecting client; refusals as typed errors; the
//! proxy given the host name, not an address (remote DNS); `no_proxy`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "common/tls.rs"]
mod tls_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rfc6455::handshake::Accept;
use rfc6455::io::proxy::{Proxy, ProxyEnv, ProxyError};
use rfc6455::io::reconnect::{ClientEvent, ReconnectingClient};
use rfc6455::io::{blocking, tokio_ws, Dialer, Error};
use rfc6455::{CloseCode, Config, Message};
use tls_support::{pki, server_tls, trusting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on every test.
const WAIT: Duration = Duration::from_secs(20);

/// The targets a test proxy was asked for, as the client wrote them.
type Seen = Arc<Mutex<Vec<String>>>;

/// Echo servers for the tests, on one runtime thread: `ws://` and `wss://`.
struct Servers {
    ws: u16,
    wss: u16,
    pki: tls_support::Pki,
    _runtime: tokio::runtime::Runtime,
}

fn servers() -> Servers {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let pki = pki(&["localhost", "127.0.0.1"], false);
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls(&pki, &[]));
    let (ws, wss) = runtime.block_on(async {
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ports = (plain.local_addr().unwrap().port(), tls.local_addr().unwrap().port());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = plain.accept().await {
                tokio::spawn(async move {
                    let mut ws = tokio_ws::accept_tcp(tcp, &Config::default(), |_| Ok(Accept::new())).await?;
                    while let Some(message) = ws.recv().await? {
                        ws.send(message).await?;
                    }
                    Ok::<_, Error>(())
                });
            }
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = tls.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let stream = acceptor.accept(tcp).await?;
                    let mut ws = tokio_ws::accept(stream).await?;
                    while let Some(message) = ws.recv().await? {
                        ws.send(message).await?;
                    }
                    Ok::<_, Error>(())
                });
            }
        });
        ports
    });
    Servers { ws, wss, pki, _runtime: runtime }
}

/// Relays bytes both ways until either side ends.
async fn relay(mut client: TcpStream, target: &str) {
    if let Ok(mut server) = TcpStream::connect(target).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// Reads an HTTP head (bounded), or `None` if the client went away first.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// An HTTP CONNECT proxy that wants `credentials` (`user:pass`) if given,
/// answering 407 otherwise, and records each CONNECT target.
fn http_proxy(runtime: &tokio::runtime::Runtime, credentials: Option<&'static str>) -> (u16, Seen) {
    let seen = Seen::default();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let record = Arc::clone(&seen);
    runtime.spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let Some(head) = read_head(&mut client).await else { return };
                let target = head.strip_prefix("CONNECT ").and_then(|rest| rest.split(' ').next()).unwrap().to_owned();
                let wanted = credentials
                    .map(|c| format!("proxy-authorization: basic {}", base64::prelude::BASE64_STANDARD.encode(c)));
                let authorized =
                    wanted.is_none_or(|line| head.to_ascii_lowercase().contains(&line.to_ascii_lowercase()));
                record.lock().unwrap().push(target.clone());
                if !authorized {
                    let refusal = "HTTP/1.1 407 Proxy Authentication Required\r\n\
                                   Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n";
                    let _ = client.write_all(refusal.as_bytes()).await;
                    return;
                }
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                relay(client, &target).await;
            });
        }
    });
    (port, seen)
}

/// A SOCKS5 proxy (RFC 1928) that wants username/password (RFC 1929)
/// `user`/`pass` if given, and records each target as the client sent it.
fn socks5_proxy(runtime: &tokio::runtime::Runtime, credentials: Option<(&'static str, &'static str)>) -> (u16, Seen) {
    let seen = Seen::default();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let record = Arc::clone(&seen);
    runtime.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let _ = socks5_session(client, credentials, record).await;
            });
        }
    });
    (port, seen)
}

async fn socks5_session(mut client: TcpStream, credentials: Option<(&str, &str)>, record: Seen) -> std::io::Result<()> {
    let mut header = [0u8; 2];
    client.read_exact(&mut header).await?;
    let mut methods = vec![0u8; usize::from(header[1])];
    client.read_exact(&mut methods).await?;
    let method = if credentials.is_some() { 2 } else { 0 };
    if !methods.contains(&method) {
        return client.write_all(&[5, 0xFF]).await;
    }
    client.write_all(&[5, method]).await?;
    if let Some((user, pass)) = credentials {
        let mut version_and_len = [0u8; 2];
        client.read_exact(&mut version_and_len).await?;
        let mut given_user = vec![0u8; usize::from(version_and_len[1])];
        client.read_exact(&mut given_user).await?;
        let mut len = [0u8; 1];
        client.read_exact(&mut len).await?;
        let mut given_pass = vec![0u8; usize::from(len[0])];
        client.read_exact(&mut given_pass).await?;
        let ok = given_user == user.as_bytes() && given_pass == pass.as_bytes();
        client.write_all(&[1, if ok { 0 } else { 1 }]).await?;
        if !ok {
            return Ok(());
        }
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            format!("name {}", String::from_utf8_lossy(&name))
        }
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            format!("ipv4 {}", std::net::Ipv4Addr::from(ip))
        }
        _ => return client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await,
    };
    let port = client.read_u16().await?;
    record.lock().unwrap().push(format!("{host}:{port}"));
    let address = host.split_once(' ').map(|(_, address)| address.to_owned()).unwrap();
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    relay(client, &format!("{address}:{port}")).await;
    Ok(())
}

/// One echo through a blocking client, then a clean close.
fn blocking_echo(url: &str, dialer: &Dialer) -> Result<(), Error> {
    let (mut ws, _) = blocking::connect_with_dialer(url, &Config::default(), dialer)?;
    ws.set_read_timeout(Some(WAIT));
    let message = Message::text(format!("hello {url}"));
    ws.send(message.clone())?;
    assert_eq!(ws.read()?, Some(message));
    ws.close(CloseCode::NORMAL, "")?;
    assert_eq!(ws.read()?, None);
    Ok(())
}

/// One echo through a tokio client (on its own runtime), then a clean close.
fn tokio_echo(url: &str, dialer: &Dialer) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (mut ws, _) = tokio_ws::connect_with_dialer(url, &Config::default(), dialer).await?;
        let message = Message::binary(vec![7u8; 100_000]);
        ws.send(message.clone()).await?;
        assert_eq!(tokio::time::timeout(WAIT, ws.recv()).await.unwrap()?, Some(message));
        ws.close(CloseCode::NORMAL, "").await?;
        assert_eq!(tokio::time::timeout(WAIT, ws.recv()).await.unwrap()?, None);
        Ok(())
    })
}

fn urls(servers: &Servers) -> [String; 2] {
    [format!("ws://localhost:{}/", servers.ws), format!("wss://localhost:{}/chat", servers.wss)]
}

#[test]
fn ws_and_wss_go_through_an_http_connect_proxy_with_basic_auth_from_both_adapters() {
    let servers = servers();
    let (port, seen) = http_proxy(&servers._runtime, Some("alice:s3cr3t"));
    let proxy = Proxy::parse(&format!("http://alice:s3cr3t@127.0.0.1:{port}")).unwrap();
    let dialer = trusting(&servers.pki).proxy(proxy);
    for url in urls(&servers) {
        blocking_echo(&url, &dialer).unwrap();
        tokio_echo(&url, &dialer).unwrap();
    }
    // The proxy was asked for the host by name (TLS ran end to end through it).
    let expected: Vec<String> =
        [servers.ws, servers.ws, servers.wss, servers.wss].iter().map(|port| format!("localhost:{port}")).collect();
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[test]
fn a_proxy_that_wants_other_credentials_is_a_typed_407_on_both_adapters() {
    let servers = servers();
    let (port, _) = http_proxy(&servers._runtime, Some("alice:s3cr3t"));
    for proxy in [format!("http://alice:wrong@127.0.0.1:{port}"), format!("http://127.0.0.1:{port}")] {
        let dialer = trusting(&servers.pki).proxy(Proxy::parse(&proxy).unwrap());
        for url in urls(&servers) {
            for result in [blocking_echo(&url, &dialer), tokio_echo(&url, &dialer)] {
                match result {
                    Err(Error::Proxy(err)) => {
                        assert_eq!(err.status().map(|s| s.as_u16()), Some(407), "{err:?}");
                        assert!(err.to_string().contains("407"), "{err}");
                    }
                    other => panic!("expected a 407 from the proxy, got {other:?}"),
                }
            }
        }
    }
}

#[test]
fn ws_and_wss_go_through_socks5_with_credentials_and_the_proxy_resolves_the_name() {
    let servers = servers();
    let (port, seen) = socks5_proxy(&servers._runtime, Some(("bob", "hunter2")));
    let dialer = trusting(&servers.pki).proxy(Proxy::parse(&format!("socks5://bob:hunter2@127.0.0.1:{port}")).unwrap());
    for url in urls(&servers) {
        blocking_echo(&url, &dialer).unwrap();
        tokio_echo(&url, &dialer).unwrap();
    }
    let expected: Vec<String> = [servers.ws, servers.ws, servers.wss, servers.wss]
        .iter()
        .map(|port| format!("name localhost:{port}"))
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected, "the name goes to the proxy, which resolves it");
    // An IP literal goes as an address.
    blocking_echo(&format!("ws://127.0.0.1:{}/", servers.ws), &dialer).unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap(), &format!("ipv4 127.0.0.1:{}", servers.ws));
}

#[test]
fn socks5_with_wrong_credentials_or_none_is_a_typed_error() {
    let servers = servers();
    let (port, _) = socks5_proxy(&servers._runtime, Some(("bob", "hunter2")));
    let url = format!("ws://localhost:{}/", servers.ws);
    let wrong = Dialer::new().proxy(Proxy::parse(&format!("socks5://bob:nope@127.0.0.1:{port}")).unwrap());
    for result in [blocking_echo(&url, &wrong), tokio_echo(&url, &wrong)] {
        assert!(matches!(result, Err(Error::Proxy(ProxyError::SocksAuthFailed))), "{result:?}");
    }
    let anonymous = Dialer::new().proxy(Proxy::parse(&format!("socks5://127.0.0.1:{port}")).unwrap());
    for result in [blocking_echo(&url, &anonymous), tokio_echo(&url, &anonymous)] {
        assert!(matches!(result, Err(Error::Proxy(ProxyError::SocksNoAcceptableAuth))), "{result:?}");
    }
}

/// A port with nothing listening.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_environment_chooses_the_proxy_and_no_proxy_bypasses_it() {
    let servers = servers();
    let (port, seen) = http_proxy(&servers._runtime, None);
    let dead = dead_port();
    let env = |vars: &'static [(&'static str, String)]| {
        ProxyEnv::from_vars(|name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())).unwrap()
    };
    let leak = |vars: Vec<(&'static str, String)>| -> &'static [(&'static str, String)] { vars.leak() };
    // https_proxy for wss://, HTTP_PROXY (upper case) for ws://: both through the working proxy.
    let through = env(leak(vec![
        ("https_proxy", format!("http://127.0.0.1:{port}")),
        ("HTTP_PROXY", format!("127.0.0.1:{port}")),
    ]));
    let dialer = trusting(&servers.pki).proxy_env(through);
    for url in urls(&servers) {
        blocking_echo(&url, &dialer).unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    // A dead proxy: the connection fails, saying it was the proxy...
    let dead_env = leak(vec![
        ("https_proxy", format!("http://127.0.0.1:{dead}")),
        ("http_proxy", format!("http://127.0.0.1:{dead}")),
    ]);
    let dialer = trusting(&servers.pki).proxy_env(env(dead_env));
    for url in urls(&servers) {
        let err = blocking_echo(&url, &dialer).unwrap_err();
        assert!(err.to_string().contains(&format!("could not reach the proxy 127.0.0.1:{dead}")), "{err}");
    }
    // ... unless no_proxy names the host.
    let mut bypass = dead_env.to_vec();
    bypass.push(("no_proxy", "example.com, localhost".to_owned()));
    let dialer = trusting(&servers.pki).proxy_env(env(leak(bypass)));
    for url in urls(&servers) {
        blocking_echo(&url, &dialer).unwrap();
        tokio_echo(&url, &dialer).unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "no_proxy went direct");
}

#[test]
fn the_reconnecting_client_dials_through_the_proxy_and_gives_up_on_a_407() {
    let servers = servers();
    let (port, seen) = http_proxy(&servers._runtime, Some("alice:s3cr3t"));
    let url = format!("wss://localhost:{}/", servers.wss);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let good = trusting(&servers.pki).proxy(Proxy::parse(&format!("http://alice:s3cr3t@127.0.0.1:{port}")).unwrap());
    let mut client = ReconnectingClient::with_dialer(url.as_str(), Config::default(), good).unwrap();
    runtime.block_on(async {
        loop {
            match tokio::time::timeout(WAIT, client.next()).await.unwrap().unwrap() {
                ClientEvent::Open(_) => client.send("through the proxy").await.unwrap(),
                ClientEvent::Message(message) => {
                    assert_eq!(message, Message::text("through the proxy"));
                    client.close(CloseCode::NORMAL, "").await.unwrap();
                }
                ClientEvent::Closed { .. } => break,
                other => assert!(matches!(other, ClientEvent::Connecting { .. }), "{other:?}"),
            }
        }
    });
    assert_eq!(seen.lock().unwrap().len(), 1);
    let bad = trusting(&servers.pki).proxy(Proxy::parse(&format!("http://alice:wrong@127.0.0.1:{port}")).unwrap());
    let mut client = ReconnectingClient::with_dialer(url.as_str(), Config::default(), bad).unwrap();
    let events = runtime.block_on(async {
        let mut events = Vec::new();
        while let Some(event) = tokio::time::timeout(WAIT, client.next()).await.unwrap() {
            events.push(format!("{event:?}"));
        }
        events
    });
    assert!(events.last().unwrap().contains("GaveUp { retries: 0 }"), "{events:?}");
    assert!(events.iter().any(|event| event.contains("407")), "{events:?}");
}

#[test]
fn the_proxy_address_may_be_any_socket_address() {
    // A sanity check of the parsing the tests above rely on.
    let proxy = Proxy::parse("http://[::1]:3128").unwrap();
    assert_eq!((proxy.host(), proxy.port()), ("::1", 3128));
    let addr: SocketAddr = "127.0.0.1:1080".parse().unwrap();
    let proxy = Proxy::parse(&format!("socks5://{addr}")).unwrap();
    assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 1080));
}
