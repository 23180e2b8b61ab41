//! An echo server: every text and binary message comes back unchanged.
//! Also the Autobahn|Testsuite testee for the server role.
//!
//! Run: `cargo run --release --example echo_server -- --addr 127.0.0.1:9001 [--blocking]
//! [--tls-cert CERT.pem --tls-key KEY.pem] [--max-message-size BYTES] [--ping-interval SECS]
//! [--pong-timeout SECS] [--idle-timeout SECS]`
//!
//! The tokio adapter by default; `--blocking` uses the blocking adapter with
//! a thread per connection. `--tls-cert` and `--tls-key` (PEM: the
//! certificate chain, then its private key) serve `wss://` with rustls: the
//! WebSocket handshake runs over the TLS stream, as over TCP. `--max-message-size` sets the frame and message
//! limits; `--ping-interval` (0 turns the heartbeat off) and `--pong-timeout`
//! the heartbeat, which drops a client that stops answering within their sum;
//! `--idle-timeout` closes connections that carry no message for that long
//! (defaults: `Config::default()`'s). Prints `listening on ADDR` once it
//! accepts, and why each connection that did not close cleanly ended.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rfc6455::handshake::Accept;
use rfc6455::io::blocking::StreamHooks;
use rfc6455::io::{blocking, tokio_ws as ws, Error};
use rfc6455::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const USAGE: &str = "usage: echo_server [--addr ADDR] [--blocking] [--tls-cert CERT.pem --tls-key KEY.pem] \
                     [--max-message-size BYTES] [--ping-interval SECS] [--pong-timeout SECS] [--idle-timeout SECS]";

struct Args {
    addr: SocketAddr,
    blocking: bool,
    config: Config,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
        blocking: false,
        config: Config::default(),
        tls_cert: None,
        tls_key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let value = it.next().ok_or("--addr needs an address, e.g. 127.0.0.1:9001")?;
                args.addr = value.parse().map_err(|e| format!("invalid --addr {value:?}: {e}"))?;
            }
            "--blocking" => args.blocking = true,
            "--tls-cert" => args.tls_cert = Some(it.next().ok_or("--tls-cert needs a PEM file")?),
            "--tls-key" => args.tls_key = Some(it.next().ok_or("--tls-key needs a PEM file")?),
            "--max-message-size" => {
                let value = it.next().ok_or("--max-message-size needs a number of bytes")?;
                let limit = value.parse().map_err(|e| format!("invalid --max-message-size {value:?}: {e}"))?;
                args.config.max_message_size = limit;
                args.config.max_frame_size = limit;
            }
            "--ping-interval" => args.config.ping_interval = seconds(&arg, it.next())?,
            "--pong-timeout" => {
                args.config.pong_timeout = seconds(&arg, it.next())?.ok_or("--pong-timeout must be above 0")?
            }
            "--idle-timeout" => args.config.idle_timeout = seconds(&arg, it.next())?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err(format!("--tls-cert and --tls-key go together; {USAGE}"));
    }
    Ok(args)
}

/// A flag's value in seconds (fractions allowed); 0 means `None` (off).
fn seconds(flag: &str, value: Option<String>) -> Result<Option<Duration>, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number of seconds"))?;
    let secs: f64 = value.parse().map_err(|e| format!("invalid {flag} {value:?}: {e}"))?;
    let duration = Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid {flag} {value:?}: {e}"))?;
    Ok((!duration.is_zero()).then_some(duration))
}

/// Reports a connection that ended other than by a clean close.
fn report(result: Result<(), Error>) {
    if let Err(err) = result {
        eprintln!("connection ended: {err}");
    }
}

fn announce(addr: SocketAddr) {
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
}

/// The rustls server configuration from a PEM certificate chain and key.
fn tls_config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {key}: {e}"))?;
    // ring: deprecated since rustls 0.23.48 (no post-quantum key exchange), fine here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("TLS configuration: {e}"))?;
    // The WebSocket upgrade is an HTTP/1.1 request: a browser must not pick h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The blocking adapter over rustls: the stream hooks reach the TCP socket.
type BlockingTls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

fn run_blocking(addr: SocketAddr, config: Config, tls: Option<Arc<rustls::ServerConfig>>) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    announce(listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let config = config.clone();
        let tls = tls.clone();
        std::thread::spawn(move || {
            report((|| {
                let Some(tls) = tls else {
                    let mut socket = blocking::accept_tcp(stream, &config, |_| Ok(Accept::new()))?;
                    while let Some(message) = socket.read()? {
                        socket.send(message)?;
                    }
                    return Ok(());
                };
                // The TLS and WebSocket handshakes within the handshake timeout.
                stream.set_nodelay(config.tcp_nodelay)?;
                stream.set_read_timeout(config.handshake_timeout)?;
                stream.set_write_timeout(config.handshake_timeout)?;
                let session = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
                let mut socket =
                    blocking::accept_with(BlockingTls::new(session, stream), &config, |_| Ok(Accept::new()))?;
                socket.get_ref().sock.set_write_timeout(None)?;
                socket.set_stream_hooks(StreamHooks::new(
                    |tls: &BlockingTls, limit| tls.sock.set_read_timeout(limit),
                    |tls: &BlockingTls, limit| tls.sock.set_write_timeout(limit),
                    |tls: &BlockingTls| tls.sock.shutdown(std::net::Shutdown::Both),
                ));
                while let Some(message) = socket.read()? {
                    socket.send(message)?;
                }
                Ok(())
            })())
        });
    }
    Ok(())
}

async fn run_tokio(addr: SocketAddr, config: Config, tls: Option<Arc<rustls::ServerConfig>>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    announce(listener.local_addr()?);
    let config = Arc::new(config);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, _) = listener.accept().await?;
        let config = Arc::clone(&config);
        // One task kind per transport: a task keeps room for its future's
        // largest state, and a TLS handshake's (kilobytes) would otherwise
        // cost every plain connection too.
        match acceptor.clone() {
            None => tokio::spawn(async move { report(echo_tcp(stream, &config).await) }),
            Some(acceptor) => tokio::spawn(async move { report(echo_tls(stream, acceptor, &config).await) }),
        };
    }
}

async fn echo_tcp(stream: tokio::net::TcpStream, config: &Config) -> Result<(), Error> {
    let mut socket = ws::accept_tcp(stream, config, |_| Ok(Accept::new())).await?;
    while let Some(message) = socket.recv().await? {
        socket.send(message).await?;
    }
    Ok(())
}

async fn echo_tls(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    config: &Config,
) -> Result<(), Error> {
    stream.set_nodelay(config.tcp_nodelay)?;
    // The TLS handshake within the handshake timeout too.
    let limit = config.handshake_timeout.unwrap_or(Duration::MAX);
    let tls =
        tokio::time::timeout(limit, acceptor.accept(stream)).await.map_err(|_| Error::HandshakeTimeout(limit))??;
    let mut socket = ws::accept_with(tls, config, |_| Ok(Accept::new())).await?;
    while let Some(message) = socket.recv().await? {
        socket.send(message).await?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls_config(cert, key) {
            Ok(config) => Some(config),
            Err(message) => {
                eprintln!("echo_server: {message}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let result = if args.blocking {
        run_blocking(args.addr, args.config, tls)
    } else {
        tokio::runtime::Runtime::new().and_then(|rt| rt.block_on(run_tokio(args.addr, args.config, tls)))
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
