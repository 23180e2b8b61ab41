//! "No heap allocation per frame": counts allocations on the receive and
//! send paths with a counting global allocator. One test per binary run, so
//! no other test thread allocates at the same time.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{Connection, Event, Message};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
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
