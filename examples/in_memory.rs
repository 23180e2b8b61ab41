//! A WebSocket client and server talking through memory, no sockets: the
//! sans-IO core on its own. Prints every event and every byte count moved.
//!
//! Run: `cargo run --example in_memory`

use std::time::Instant;

use rfc6455::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
use rfc6455::{CloseCode, Config, Connection, DataKind, Event, Status};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(arg) = std::env::args().nth(1) {
        let usage = "usage: in_memory   (no arguments: a client and a server talk through memory)";
        if arg == "-h" || arg == "--help" {
            println!("{usage}");
            return Ok(());
        }
        eprintln!("unknown argument {arg:?}; {usage}");
        std::process::exit(2);
    }
    let now = Instant::now();
    let config = Config::default();

    // Opening handshake.
    let request =
        ClientRequest::new("ws://localhost/echo")?.protocol("demo")?.header("Authorization", "Bearer demo-token")?;
    let mut client_hs = ClientHandshake::new(&request, &config, [42; 32]);
    let mut server_hs = ServerHandshake::new(&config);

    println!("client -> server: {} bytes of upgrade request", client_hs.poll_transmit().len());
    server_hs.handle_read(client_hs.poll_transmit());
    client_hs.advance_transmit(client_hs.poll_transmit().len());
    let Status::Complete(upgrade) = server_hs.poll_request()? else {
        return Err("request incomplete".into());
    };
    println!(
        "server sees GET {} (protocols offered: {:?}, auth: {:?})",
        upgrade.target(),
        upgrade.protocols().collect::<Vec<_>>(),
        upgrade.header("Authorization").map(String::from_utf8_lossy),
    );
    let mut server = server_hs.accept(&Accept::new().protocol("demo")?, now)?;

    let response_len = server.poll_transmit().len();
    client_hs.handle_read(server.poll_transmit());
    server.advance_transmit(response_len);
    println!("server -> client: {response_len} bytes of 101 response");
    let Status::Complete(response) = client_hs.poll_response()? else {
        return Err("response incomplete".into());
    };
    println!("client: upgraded, subprotocol {:?}", response.protocol());
    let mut client = client_hs.into_connection(now)?;

    // Messages both ways, a fragmented one with a ping in the middle.
    client.send_text("hello, server")?;
    client.send_fragment(DataKind::Binary, &[1, 2, 3], false)?;
    client.ping(b"are you there?")?;
    client.send_fragment(DataKind::Binary, &[4, 5], true)?;
    pump(&mut client, &mut server, now, "server");
    server.send_text("hello, client")?;
    pump(&mut server, &mut client, now, "client");
    pump(&mut server, &mut client, now, "client"); // the pong queued above

    // Close handshake, started by the client.
    client.close(CloseCode::NORMAL, "demo over", now)?;
    pump(&mut client, &mut server, now, "server");
    pump(&mut server, &mut client, now, "client");
    println!(
        "server closes the transport: {}; client waits for it: {}",
        server.should_close_transport(),
        !client.should_close_transport()
    );
    Ok(())
}

/// Moves `from`'s pending bytes to `to` and prints the events they cause.
fn pump(from: &mut Connection, to: &mut Connection, now: Instant, name: &str) {
    let bytes = from.poll_transmit().to_vec();
    from.advance_transmit(bytes.len());
    if bytes.is_empty() {
        return;
    }
    println!("-- {} bytes to the {name}", bytes.len());
    to.handle_read(&bytes, now);
    while let Some(event) = to.poll_event() {
        match event {
            Event::Message(message) => match message.as_text() {
                Some(text) => println!("{name}: text {text:?}"),
                None => println!("{name}: binary {:?}", message.as_bytes()),
            },
            Event::Ping(payload) => println!("{name}: ping {:?} (pong queued)", String::from_utf8_lossy(&payload)),
            Event::Pong { payload, .. } => println!("{name}: pong {:?}", String::from_utf8_lossy(&payload)),
            Event::Closed(reason) => println!("{name}: {reason}"),
            other => println!("{name}: {other:?}"),
        }
    }
}
