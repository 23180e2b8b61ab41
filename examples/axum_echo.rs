//! An axum application with a WebSocket echo route beside ordinary ones:
//! `GET /health` answers 200, `/ws` echoes every message (permessage-deflate
//! and the heartbeat on). HTTP/1.1 and cleartext HTTP/2 (h2c, prior
//! knowledge) on the same port, through hyper-util's auto builder.
//!
//! Run: `cargo run --release --example axum_echo -- --addr 127.0.0.1:8080`
//! (prints `listening on ADDR` once it accepts), then
//! `cargo run --example client -- ws://127.0.0.1:8080/ws`.

use std::net::SocketAddr;

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rfc6455::io::axum_ws::{WebSocket, WebSocketUpgrade};
use rfc6455::Config;
use tower_service::Service;

const USAGE: &str = "usage: axum_echo [--addr ADDR]   (default 127.0.0.1:8080)";

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.config(Config::default()).on_upgrade(|mut socket: WebSocket| async move {
        loop {
            match socket.recv().await {
                Ok(Some(message)) => {
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => break eprintln!("connection ended: {err}"),
            }
        }
    })
}

fn app() -> Router {
    // GET for HTTP/1.1's upgrade, CONNECT for HTTP/2's (RFC 8441).
    Router::new().route("/health", get(|| async { "ok\n" })).route("/ws", get(echo).connect(echo))
}

fn parse_args() -> Result<SocketAddr, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args.next().ok_or(format!("--addr needs an address; {USAGE}"))?;
                addr = value.parse().map_err(|e| format!("invalid --addr {value:?}: {e}; {USAGE}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(addr)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = match parse_args() {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = app();
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| app.clone().call(request));
            // HTTP/1.1 with upgrades, and h2c by prior knowledge; extended
            // CONNECT (RFC 8441) announced for WebSocket over HTTP/2.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            if let Err(err) = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await {
                eprintln!("connection error: {err}");
            }
        });
    }
}
