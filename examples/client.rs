//! A small interactive client: each line typed is sent as a text message,
//! every message received is printed. End input (Ctrl-D) to close.
//!
//! Run: `cargo run --example client -- [--ca CA.pem] [--proxy URL] ws://127.0.0.1:9001`
//!
//! `wss://` URLs work too (rustls, the system's roots); `--ca` trusts one
//! more CA (PEM) besides them, e.g. a test CA. `--proxy` connects through an
//! HTTP CONNECT (`http://[user:pass@]host:port`) or SOCKS5
//! (`socks5://[user:pass@]host:port`) proxy; without it the client follows
//! the proxy environment variables (`https_proxy`, `http_proxy`, `all_proxy`,
//! `no_proxy`, upper-case too), as curl does.

use rfc6455::io::proxy::Proxy;
use rfc6455::io::{tokio_ws as ws, Dialer, TlsConnector};
use rfc6455::{CloseCode, Config, Message};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Display, not Debug: the error says what went wrong and what to do.
            eprintln!("client: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = args.url;
    let mut dialer = match args.proxy {
        Some(proxy) => Dialer::new().proxy(Proxy::parse(&proxy)?),
        None => Dialer::new().proxy_from_env()?,
    };
    if let Some(ca) = args.ca {
        let pem = std::fs::read(&ca).map_err(|e| format!("--ca {ca}: {e}"))?;
        dialer = dialer.tls(TlsConnector::with_root_certificates_pem(&pem)?);
    }
    let (socket, response) = ws::connect_with_dialer(&url, &Config::default(), &dialer).await?;
    eprintln!("connected to {url} (status {})", response.status());
    let (mut reader, mut writer) = socket.into_split();

    let printer = tokio::spawn(async move {
        loop {
            match reader.recv().await {
                Ok(Some(Message::Text(text))) => println!("< {text}"),
                Ok(Some(Message::Binary(data))) => println!("< {} bytes of binary", data.len()),
                Ok(None) => break eprintln!("connection closed"),
                Err(err) => break eprintln!("connection ended: {err}"),
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if writer.send(line).await.is_err() {
            break;
        }
    }
    let _ = writer.close(CloseCode::NORMAL, "bye").await;
    printer.await?;
    Ok(())
}

const USAGE: &str = "usage: client [--ca CA.pem] [--proxy URL] [ws://HOST:PORT/PATH | wss://...]   \
                     (default ws://127.0.0.1:9001)";

struct Args {
    url: String,
    ca: Option<String>,
    proxy: Option<String>,
}

/// The flags and the one optional argument, a URL; `--help` prints the usage.
fn parse_args() -> Result<Args, String> {
    let (mut url, mut ca, mut proxy) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--ca" => ca = Some(it.next().ok_or(format!("--ca needs a PEM file; {USAGE}"))?),
            "--proxy" => proxy = Some(it.next().ok_or(format!("--proxy needs a URL; {USAGE}"))?),
            flag if flag.starts_with('-') => return Err(format!("unknown argument {flag:?}; {USAGE}")),
            _ if url.is_some() => return Err(format!("one URL only, got {arg:?} too; {USAGE}")),
            _ => url = Some(arg),
        }
    }
    Ok(Args { url: url.unwrap_or_else(|| "ws://127.0.0.1:9001".into()), ca, proxy })
}
