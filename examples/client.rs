//! A small interactive client: each line typed is sent as a text message,
//! every message received is printed. End input (Ctrl-D) to close.
//!
//! Run: `cargo run --example client -- ws://127.0.0.1:9001`

use rfc6455::io::tokio as ws;
use rfc6455::{CloseCode, Message};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let (socket, response) = ws::connect(&url).await?;
    eprintln!("connected to {url} (status {})", response.status());
    let (mut reader, mut writer) = socket.split();

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
