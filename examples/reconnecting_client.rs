//! A client that outlives its server: it sends a message every second,
//! prints the echoes, every change of state and the round-trip time its
//! heartbeat measures, and dials again (with back-off and jitter) when the
//! server goes away or stops answering.
//!
//! Run the echo server, then this client, then stop and restart the server:
//!
//! ```text
//! cargo run --example echo_server -- --addr 127.0.0.1:9001
//! cargo run --example reconnecting_client -- ws://127.0.0.1:9001 [--count N]
//! ```
//!
//! `--count N` closes normally after N seconds (N ticks), connected or not,
//! so the run is bounded (for CI). Without it, Ctrl-C ends the client.

use std::time::Duration;

use rfc6455::handshake::ClientRequest;
use rfc6455::io::reconnect::{ClientEvent, ClientState, DisconnectReason, ReconnectingClient};
use rfc6455::{Backoff, CloseCode, Config, Message};
use tokio::time::MissedTickBehavior;

const USAGE: &str = "usage: reconnecting_client [ws://HOST:PORT/PATH] [--count N]";

struct Args {
    url: String,
    count: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { url: "ws://127.0.0.1:9001".into(), count: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--count" => {
                let value = it.next().ok_or("--count needs a number of ticks")?;
                args.count = Some(value.parse().map_err(|e| format!("invalid --count {value:?}: {e}"))?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            url if !url.starts_with('-') => args.url = url.into(),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn describe(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::DialFailed(err) => format!("dial failed: {err}"),
        DisconnectReason::Closed(reason) => format!("{reason}"),
        DisconnectReason::Transport(err) => format!("transport failed: {err}"),
        other => format!("{other:?}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    let request = ClientRequest::new(&args.url)?;
    // Quicker than the default schedule, for a demo: retries within 250 ms,
    // then 500 ms, 1 s, ... never more than 5 s apart.
    let backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    // A heartbeat after half a second of silence (between an echo and the
    // next tick): it measures the round trip, and a server that stops
    // answering is dropped 2 s later, and re-dialed.
    let mut config = Config::default();
    config.ping_interval = Some(Duration::from_millis(500));
    config.pong_timeout = Duration::from_secs(2);
    let mut client = ReconnectingClient::new(request, config)?.backoff(backoff);

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            event = client.next() => match event {
                None => break,
                Some(ClientEvent::Connecting { retry: 0 }) => eprintln!("[connecting] {}", args.url),
                Some(ClientEvent::Connecting { retry }) => eprintln!("[connecting] {} (retry {retry})", args.url),
                Some(ClientEvent::Open(response)) => {
                    eprintln!("[open] status {}", response.status());
                    // A real application re-subscribes here: the server kept
                    // nothing from the previous connection.
                    if let Err(err) = client.send("hello").await {
                        eprintln!("[send failed] {err}"); // `next` reports the disconnect
                    }
                }
                Some(ClientEvent::Message(Message::Text(text))) => println!("< {text}"),
                Some(ClientEvent::Message(Message::Binary(data))) => println!("< {} bytes of binary", data.len()),
                Some(ClientEvent::Disconnected { reason, will_retry }) => {
                    let then = if will_retry { "will retry" } else { "will not retry" };
                    eprintln!("[disconnected] {} ({then})", describe(&reason));
                }
                Some(ClientEvent::Reconnecting { retry, delay }) => {
                    eprintln!("[reconnecting] retry {retry} in {} ms", delay.as_millis());
                }
                Some(ClientEvent::GaveUp { retries }) => eprintln!("[gave up] after {retries} retries"),
                Some(ClientEvent::Closed { reason }) => match reason {
                    Some(reason) => eprintln!("[closed] {reason}"),
                    None => eprintln!("[closed]"),
                },
                Some(other) => eprintln!("[event] {other:?}"),
            },
            _ = ticker.tick() => {
                if args.count.is_some_and(|count| ticks >= count) {
                    if matches!(client.state(), ClientState::Closing | ClientState::Closed) {
                        continue; // finishing: `next` reports Closed
                    }
                    eprintln!("[closing] after {ticks} ticks");
                    if let Err(err) = client.close(CloseCode::NORMAL, "done").await {
                        eprintln!("[close failed] {err}"); // still closing: `next` reports Closed
                    }
                    continue;
                }
                ticks += 1;
                if client.state() == ClientState::Open {
                    if let Err(err) = client.send(format!("tick {ticks}")).await {
                        eprintln!("[send failed] {err}"); // `next` reports the disconnect
                    }
                    if let Some(rtt) = client.connection().and_then(|conn| conn.rtt()) {
                        eprintln!(
                            "[rtt] latest {:?}, min {:?}, smoothed {:?} ± {:?}, rto {:?} ({} samples)",
                            rtt.latest, rtt.min, rtt.smoothed, rtt.variance, rtt.rto, rtt.samples
                        );
                    }
                } else {
                    eprintln!("(tick {ticks}: not connected, nothing sent)");
                }
            }
        }
    }
    Ok(())
}
