//! An echo server: every text and binary message comes back unchanged.
//! Also the Autobahn|Testsuite testee for the server role.
//!
//! Run: `cargo run --release --example echo_server -- --addr 127.0.0.1:9001 [--blocking]
//! [--max-message-size BYTES] [--ping-interval SECS] [--pong-timeout SECS] [--idle-timeout SECS]`
//!
//! The tokio adapter by default; `--blocking` uses the blocking adapter with
//! a thread per connection. `--max-message-size` sets the frame and message
//! limits; `--ping-interval` (0 turns the heartbeat off) and `--pong-timeout`
//! the heartbeat, which drops a client that stops answering within their sum;
//! `--idle-timeout` closes connections that carry no message for that long
//! (defaults: `Config::default()`'s). Prints `listening on ADDR` once it
//! accepts, and why each connection that did not close cleanly ended.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use rfc6455::handshake::Accept;
use rfc6455::io::{blocking, tokio_ws as ws, Error};
use rfc6455::Config;

const USAGE: &str = "usage: echo_server [--addr ADDR] [--blocking] [--max-message-size BYTES] \
                     [--ping-interval SECS] [--pong-timeout SECS] [--idle-timeout SECS]";

struct Args {
    addr: SocketAddr,
    blocking: bool,
    config: Config,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { addr: SocketAddr::from(([127, 0, 0, 1], 9001)), blocking: false, config: Config::default() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let value = it.next().ok_or("--addr needs an address, e.g. 127.0.0.1:9001")?;
                args.addr = value.parse().map_err(|e| format!("invalid --addr {value:?}: {e}"))?;
            }
            "--blocking" => args.blocking = true,
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

fn run_blocking(addr: SocketAddr, config: Config) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    announce(listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let config = config.clone();
        std::thread::spawn(move || {
            report((|| {
                let mut socket = blocking::accept_tcp(stream, &config, |_| Ok(Accept::new()))?;
                while let Some(message) = socket.read()? {
                    socket.send(message)?;
                }
                Ok(())
            })())
        });
    }
    Ok(())
}

async fn run_tokio(addr: SocketAddr, config: Config) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    announce(listener.local_addr()?);
    let config = std::sync::Arc::new(config);
    loop {
        let (stream, _) = listener.accept().await?;
        let config = std::sync::Arc::clone(&config);
        tokio::spawn(async move {
            report(
                async {
                    let mut socket = ws::accept_tcp(stream, &config, |_| Ok(Accept::new())).await?;
                    while let Some(message) = socket.recv().await? {
                        socket.send(message).await?;
                    }
                    Ok(())
                }
                .await,
            )
        });
    }
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = if args.blocking {
        run_blocking(args.addr, args.config)
    } else {
        tokio::runtime::Runtime::new().and_then(|rt| rt.block_on(run_tokio(args.addr, args.config)))
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
