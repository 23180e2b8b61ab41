//! A WebSocket echo route in a plain hyper 1.x server: `rfc6455::io::hyper_ws::upgrade`
//! validates and answers the upgrade, the tokio adapter runs the connection.
//! Other paths answer 404.
//!
//! Run: `cargo run --release --example hyper_echo -- --addr 127.0.0.1:8080`
//! (prints `listening on ADDR`), then `cargo run --example client -- ws://127.0.0.1:8080/ws`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{Either, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rfc6455::io::hyper_ws;

const USAGE: &str = "usage: hyper_echo [--addr ADDR]   (default 127.0.0.1:8080)";

type Body = Either<Empty<Bytes>, Full<Bytes>>;

async fn route(mut request: http::Request<Incoming>) -> Result<http::Response<Body>, Infallible> {
    if request.uri().path() != "/ws" {
        let mut not_found = http::Response::new(Either::Right(Full::from("not found\n")));
        *not_found.status_mut() = http::StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    match hyper_ws::upgrade(&mut request) {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                let result = async {
                    let mut socket = upgrade.await?;
                    while let Some(message) = socket.recv().await? {
                        socket.send(message).await?;
                    }
                    Ok::<_, rfc6455::io::Error>(())
                };
                if let Err(err) = result.await {
                    eprintln!("connection ended: {err}");
                }
            });
            Ok(response.map(Either::Left))
        }
        // Not a valid upgrade: 400, 405 or 426, with the reason.
        Err(refused) => Ok(refused.into_response().map(Either::Right)),
    }
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
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            // `with_upgrades`: hyper hands the connection over after the 101.
            let connection =
                http1::Builder::new().serve_connection(TokioIo::new(tcp), service_fn(route)).with_upgrades();
            if let Err(err) = connection.await {
                eprintln!("connection error: {err}");
            }
        });
    }
}
