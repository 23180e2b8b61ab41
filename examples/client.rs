//! A small interactive client: each line typed is sent as a text message,
//! every message received is printed. End input (Ctrl-D) to close.
//!
//! Run: `cargo run --example client -- ws://127.0.0.1:9001`

use rfc6455::io::tokio_ws as ws;
use rfc6455::{CloseCode, Message};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match parse_args() {
        Ok(url) => url,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let (socket, response) = ws::connect(&url).await?;
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

const USAGE: &str = "usage: client [ws://HOST:PORT/PATH]   (default ws://127.0.0.1:9001)";

/// The one optional argument, a URL; `--help` prints the usage.
fn parse_args() -> Result<String, String> {
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => return Err(format!("unknown argument {flag:?}; {USAGE}")),
            _ if url.is_some() => return Err(format!("one URL only, got {arg:?} too; {USAGE}")),
            _ => url = Some(arg),
        }
    }
    Ok(url.unwrap_or_else(|| "ws://127.0.0.1:9001".into()))
}
