//! "No heap allocation per frame": counts allocations on the receive and
//! send paths with the counting allocator of `common::alloc` (per thread, so
//! other tests running meanwhile are not counted).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::alloc::{measure, Counting};
use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Connection, Event, Message};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    measure(f).1.calls
}

const FRAMES: usize = 1000;

#[test]
fn receiving_and_sending_frames_does_not_allocate_per_frame() {
    // Receive: 1000 masked text, binary and ping frames arrive in one read.
    let wire: Vec<u8> = (0..FRAMES)
        .flat_map(|i| match i % 3 {
            0 => client_frame(OpCode::Text, true, b"hello, websocket"),
            1 => client_frame(OpCode::Binary, true, &[7; 16]),
            _ => client_frame(OpCode::Ping, true, b"p"),
        })
        .collect();
    let mut server = Connection::server(&config(), Instant::now());
    let mut delivered = 0;
    let receive = allocations_during(|| {
        server.handle_read(&wire, Instant::now());
        while let Some(event) = server.poll_event() {
            match event {
                Event::Message(Message::Text(text)) => assert_eq!(text, "hello, websocket"),
                Event::Message(Message::Binary(data)) => assert_eq!(data.len(), 16),
                Event::Ping(_) => {}
                other => panic!("{other:?}"),
            }
            delivered += 1;
        }
    });
    assert_eq!(delivered, FRAMES);
    // Only buffer growth allocates (the receive buffer once, the send buffer
    // a logarithmic number of times for the 333 pongs): far below one per frame.
    assert!(receive <= 16, "{receive} allocations to receive {FRAMES} frames");

    // Send: 1000 masked client frames into a send buffer that is drained as we go.
    let mut client = Connection::client(&config(), Instant::now(), [42; 32]);
    client.send_text("warm up").unwrap();
    let n = client.poll_transmit().len();
    client.advance_transmit(n);
    let send = allocations_during(|| {
        for i in 0..FRAMES {
            client.send_text("hello, websocket").unwrap();
            if i % 10 == 9 {
                let n = client.poll_transmit().len();
                client.advance_transmit(n);
            }
        }
    });
    assert!(send <= 4, "{send} allocations to send {FRAMES} frames");
}
