//! The Autobahn|Testsuite client loop: asks the fuzzing server how many
//! cases there are, runs each one echoing every message, then asks it to
//! write its reports.
//!
//! Run: `cargo run --release --example autobahn_client -- --url ws://127.0.0.1:9001 --agent NAME [--blocking]`

use rfc6455::io::{blocking, tokio_ws as ws, Error};
use rfc6455::Message;

const USAGE: &str = "usage: autobahn_client [--url URL] [--agent NAME] [--blocking]";

struct Args {
    url: String,
    agent: String,
    blocking: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { url: "ws://127.0.0.1:9001".into(), agent: "rfc6455".into(), blocking: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => args.url = it.next().ok_or("--url needs a ws:// URL")?,
            "--agent" => args.agent = it.next().ok_or("--agent needs a name")?,
            "--blocking" => args.blocking = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(args)
}

/// Connects to `url` and echoes every message until the connection ends;
/// returns the first message (the case count, for `getCaseCount`).
fn session_blocking(url: &str) -> Result<Option<Message>, Error> {
    let (mut socket, _) = blocking::connect(url)?;
    let mut first = None;
    while let Some(message) = socket.read()? {
        first.get_or_insert_with(|| message.clone());
        socket.send(message)?;
    }
    Ok(first)
}

async fn session_tokio(url: &str) -> Result<Option<Message>, Error> {
    let (mut socket, _) = ws::connect(url).await?;
    let mut first = None;
    while let Some(message) = socket.recv().await? {
        first.get_or_insert_with(|| message.clone());
        socket.send(message).await?;
    }
    Ok(first)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let session = |url: String| -> Result<Option<Message>, Error> {
        if args.blocking {
            session_blocking(&url)
        } else {
            runtime.block_on(session_tokio(&url))
        }
    };
    let count = session(format!("{}/getCaseCount", args.url))?
        .and_then(|m| m.as_text().and_then(|t| t.trim().parse::<u32>().ok()))
        .ok_or("getCaseCount did not answer with a number")?;
    println!("running {count} cases as agent {}", args.agent);
    for case in 1..=count {
        // Many cases end the connection on purpose (protocol errors): not our failure.
        if let Err(err) = session(format!("{}/runCase?case={case}&agent={}", args.url, args.agent)) {
            eprintln!("case {case}: {err}");
        }
    }
    session(format!("{}/updateReports?agent={}", args.url, args.agent))?;
    println!("reports updated");
    Ok(())
}
