//! An echo server: every text and binary message comes back unchanged.
//! Also the Autobahn|Testsuite testee for the server role.
//!
//! Run: `cargo run --release --example echo_server -- --addr 127.0.0.1:9001 [--blocking] [--max-message-size BYTES]`
//!
//! The tokio adapter by default; `--blocking` uses the blocking adapter with
//! a thread per connection. `--max-message-size` sets the frame and message
//! limits (default: `Config::default()`'s). Prints `listening on ADDR` once
//! it accepts.

use std::io::Write;
use std::net::SocketAddr;

use rfc6455::handshake::Accept;
use rfc6455::io::{blocking, tokio as ws, Error};
use rfc6455::Config;

const USAGE: &str = "usage: echo_server [--addr ADDR] [--blocking] [--max-message-size BYTES]";

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
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(args)
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
        std::thread::spawn(move || -> Result<(), Error> {
            let mut socket = blocking::accept_tcp(stream, &config, |_| Ok(Accept::new()))?;
            while let Some(message) = socket.read()? {
                socket.send(message)?;
            }
            Ok(())
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
            stream.set_nodelay(true)?;
            let mut socket = ws::accept_with(stream, &config, |_| Ok(Accept::new())).await?;
            while let Some(message) = socket.recv().await? {
                socket.send(message).await?;
            }
            Ok::<_, Error>(())
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
