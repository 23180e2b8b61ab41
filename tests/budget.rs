//! `Config::memory_budget`: one ceiling for the memory all connections
//! reserve for their peers' input. In the core (sans-IO): a fragmented
//! message, a large frame and a deflate bomb that would take their
//! connection past the budget fail that connection with 1013 while the
//! others go on, and the budget is given back as buffers are. Over TCP: 200
//! concurrent deflate bombs against one multi-threaded server stay under the
//! budget (its peak, and the process's peak RSS, measured) while legitimate
//! clients keep echoing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
#[cfg(all(feature = "deflate", feature = "tokio"))]
#[path = "common/echo.rs"]
mod echo;

use std::time::{Duration, Instant};

use common::{client_frame, close_code_of, events, sent_frames, take_transmit};
use rfc6455::frame::OpCode;
use rfc6455::{
    CloseReason, Config, Connection, Event, MemoryBudget, Message, PreparedMessage, ProtocolError, UsageError,
};

/// What each connection holds without asking the budget (see `MemoryBudget`).
const UNCHARGED: usize = 64 << 10;

fn server(budget: &MemoryBudget) -> Connection {
    let mut config = Config::default();
    config.memory_budget = Some(budget.clone());
    Connection::server(&config, Instant::now())
}

/// The connection's last event is a close for being over the budget, and its close frame says 1013.
fn assert_refused(conn: &mut Connection) {
    match events(conn).last() {
        Some(Event::Closed(CloseReason::Protocol(ProtocolError::OverBudget { limit, needed }))) => {
            assert!(*needed > 0 && *limit > 0, "{needed} {limit}");
        }
        other => panic!("expected an OverBudget close, got {other:?}"),
    }
    assert_eq!(close_code_of(sent_frames(conn).last().unwrap()), Some(1013));
}

#[test]
fn a_fragmented_message_past_the_budget_fails_its_connection_with_1013_and_the_other_goes_on() {
    // Buffers grow by doubling, so 700 KiB of fragments may hold 1 MiB.
    let budget = MemoryBudget::new(2 << 20);
    let (mut a, mut b) = (server(&budget), server(&budget));
    let piece = vec![7u8; 100 << 10];
    // A holds 700 KiB of an unfinished message.
    a.handle_read(&client_frame(OpCode::Binary, false, &piece), Instant::now());
    for _ in 0..6 {
        a.handle_read(&client_frame(OpCode::Continuation, false, &piece), Instant::now());
    }
    assert!(events(&mut a).is_empty());
    let held_by_a = budget.used();
    assert!(held_by_a >= (700 << 10) - UNCHARGED, "A's fragments are charged: {held_by_a}");
    // B's 1.2 MiB do not fit beside them.
    b.handle_read(&client_frame(OpCode::Binary, false, &piece), Instant::now());
    for _ in 0..11 {
        b.handle_read(&client_frame(OpCode::Continuation, false, &piece), Instant::now());
    }
    assert_refused(&mut b);
    assert_eq!(budget.used(), held_by_a, "B gave back all it held when it failed");
    assert!(budget.refused() >= 1);
    // A finishes its message: delivered whole, and the budget is free again.
    a.handle_read(&client_frame(OpCode::Continuation, true, &piece), Instant::now());
    match events(&mut a).as_slice() {
        [Event::Message(Message::Binary(data))] => assert_eq!(data.len(), 800 << 10),
        other => panic!("{other:?}"),
    }
    assert!(budget.used() <= UNCHARGED, "the delivered message is the application's: {} held", budget.used());
    // Now a third connection gets what B could not.
    let mut c = server(&budget);
    c.handle_read(&client_frame(OpCode::Binary, false, &piece), Instant::now());
    for _ in 0..5 {
        c.handle_read(&client_frame(OpCode::Continuation, false, &piece), Instant::now());
    }
    c.handle_read(&client_frame(OpCode::Continuation, true, &piece), Instant::now());
    assert!(matches!(events(&mut c).as_slice(), [Event::Message(_)]));
    assert!(budget.peak() <= budget.limit());
}

#[test]
fn a_large_frame_past_the_budget_is_refused_while_its_bytes_arrive() {
    let budget = MemoryBudget::new(1 << 20);
    let mut conn = server(&budget);
    let wire = client_frame(OpCode::Binary, true, &vec![1u8; 4 << 20]);
    let mut fed = 0;
    for read in wire.chunks(16 << 10) {
        conn.handle_read(read, Instant::now());
        fed += read.len();
        if conn.state() == rfc6455::State::Closed {
            break;
        }
    }
    assert!(fed < 2 << 20, "refused only after {fed} bytes");
    assert_refused(&mut conn);
    assert_eq!(budget.used(), 0);
    assert!(budget.peak() <= budget.limit());
}

#[test]
fn without_a_budget_nothing_changes() {
    let mut conn = Connection::server(&Config::default(), Instant::now());
    conn.handle_read(&client_frame(OpCode::Binary, true, &vec![1u8; 4 << 20]), Instant::now());
    assert!(matches!(events(&mut conn).as_slice(), [Event::Message(_)]));
}

/// A server whose send queue is bounded by the budget alone, not by
/// `write_buffer_limit`.
fn server_queuing(budget: &MemoryBudget) -> Connection {
    let mut config = Config::default();
    config.memory_budget = Some(budget.clone());
    config.write_buffer_limit = 64 << 20;
    Connection::server(&config, Instant::now())
}

#[test]
fn sends_to_a_peer_that_reads_nothing_stop_at_the_budget_with_nothing_queued_and_the_rest_go_on() {
    let budget = MemoryBudget::new(1 << 20);
    let (mut slow, mut other) = (server_queuing(&budget), server_queuing(&budget));
    let message = vec![3u8; 100 << 10];
    let mut sent = 0;
    let refused = loop {
        match slow.send_binary(&message) {
            Ok(()) => sent += 1,
            Err(err) => break err,
        }
        assert!(sent < 100, "the budget never refused a queue of {} bytes", slow.buffered_amount());
    };
    match refused {
        UsageError::OverBudget { needed, limit } => assert!(needed > 0 && limit == 1 << 20, "{needed} {limit}"),
        other => panic!("expected OverBudget, got {other:?}"),
    }
    // 1 MiB plus the uncharged 64 KiB, less what a doubling buffer leaves spare.
    assert!((5..=11).contains(&sent), "{sent} messages of 100 KiB queued");
    assert!(budget.peak() <= budget.limit(), "peak {}", budget.peak());
    let buffered = slow.buffered_amount();
    assert_eq!(buffered, sent * ((100 << 10) + 10), "whole frames only");
    // Refused again, and still nothing queued; the connection stays open.
    assert!(matches!(slow.send_binary(&message), Err(UsageError::OverBudget { .. })));
    assert_eq!(slow.buffered_amount(), buffered);
    assert_eq!(slow.state(), rfc6455::State::Open);
    // Ordinary traffic elsewhere fits in its connection's uncharged allowance.
    for i in 0..1000 {
        other.send_text(&format!("message {i}")).unwrap();
        assert!(!take_transmit(&mut other).is_empty());
    }
    // The peer catches up: every queued frame goes out whole, the queue's
    // memory is given back when it is released, and sending works again.
    let wire = take_transmit(&mut slow);
    assert_eq!(wire.len(), buffered);
    assert_eq!(wire[..2], [0x82, 127]);
    slow.release_idle_buffers();
    assert_eq!(budget.used(), 0);
    slow.send_binary(&message).unwrap();
    drop(slow);
    assert_eq!(budget.used(), 0, "a dropped connection gives back what its queue held");
}

#[test]
fn messages_handed_over_without_a_copy_are_charged_while_only_the_queue_holds_them() {
    // Both roles, vectored: a server queues the message's own bytes, a
    // client masks them in place; neither copies, and nobody else holds them.
    for role in [rfc6455::Role::Server, rfc6455::Role::Client] {
        let budget = MemoryBudget::new(1 << 20);
        let mut config = Config::default();
        config.memory_budget = Some(budget.clone());
        config.write_buffer_limit = 64 << 20;
        config.deflate = None;
        let mut conn = match role {
            rfc6455::Role::Server => Connection::server(&config, Instant::now()),
            rfc6455::Role::Client => Connection::client(&config, Instant::now(), [7; 32]),
        };
        conn.set_vectored_transmit(true);
        let mut sent = 0;
        let refused = loop {
            match conn.send_owned(Message::binary(vec![5u8; 100 << 10])) {
                Ok(()) => sent += 1,
                Err(err) => break err,
            }
            assert!(sent < 100, "{role:?}: the budget never refused {} queued bytes", conn.buffered_amount());
        };
        assert!(matches!(refused, UsageError::OverBudget { .. }), "{role:?}: {refused:?}");
        assert!((9..=11).contains(&sent), "{role:?}: {sent} messages of 100 KiB under 1 MiB + 64 KiB");
        assert!(budget.peak() <= budget.limit());
        // A message the caller still holds stays the caller's memory (a
        // server queues it as it is; a client would need the masking stage).
        if role == rfc6455::Role::Server {
            let kept = Message::binary(vec![6u8; 100 << 10]);
            assert!(conn.send_owned(kept.clone()).is_ok(), "a shared payload is not charged");
        }
        let _ = take_transmit(&mut conn);
        conn.release_idle_buffers();
        assert_eq!(budget.used(), 0, "{role:?}: written out, every byte given back");
    }
}

#[test]
fn a_prepared_message_sent_to_many_is_charged_once_not_per_connection() {
    let budget = MemoryBudget::new(1 << 20);
    let prepared = PreparedMessage::new(Message::binary(vec![9u8; 512 << 10]));
    // Written with vectored writes, every queue shares the prepared frame.
    let mut sharing: Vec<Connection> = (0..100)
        .map(|_| {
            let mut conn = server_queuing(&budget);
            conn.set_vectored_transmit(true);
            conn
        })
        .collect();
    for conn in &mut sharing {
        conn.send_prepared(&prepared).unwrap();
    }
    assert_eq!(budget.used(), 0, "100 queues of the same 512 KiB frame hold no copy of it");
    // Without vectored writes each queue copies the frame, and the budget holds two.
    let mut copying: Vec<Connection> = (0..4).map(|_| server_queuing(&budget)).collect();
    let results: Vec<_> = copying.iter_mut().map(|conn| conn.send_prepared(&prepared)).collect();
    assert!(results[..2].iter().all(Result::is_ok), "{results:?}");
    assert!(matches!(results[3], Err(UsageError::OverBudget { .. })), "{results:?}");
    assert!(budget.peak() <= budget.limit());
    drop(copying);
    assert_eq!(budget.used(), 0);
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use common::client_frame_rsv;
    use rfc6455::extensions::deflate::{DeflateConfig, DeflateParams};
    use rfc6455::frame::FrameHeader;

    /// Raw deflate of `len` zeros with a sync flush, its tail stripped: a
    /// bomb (64 MiB inflate from about 64 KiB).
    pub(super) fn bomb(len: usize) -> Vec<u8> {
        common::deflate_raw(&vec![0u8; len])
    }

    /// The bomb as a masked client frame with RSV1 set.
    pub(super) fn bomb_frame(len: usize) -> Vec<u8> {
        client_frame_rsv(OpCode::Binary, true, FrameHeader::RSV1, &bomb(len))
    }

    fn server_with_deflate(budget: &MemoryBudget) -> Connection {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        server(budget).with_deflate(&params, &DeflateConfig::default())
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_budget_not_at_the_message_limit() {
        let budget = MemoryBudget::new(8 << 20);
        let mut conn = server_with_deflate(&budget);
        conn.handle_read(&bomb_frame(64 << 20), Instant::now());
        assert_refused(&mut conn);
        assert!(budget.peak() <= 8 << 20, "peak {}", budget.peak());
        assert!(budget.peak() >= 2 << 20, "the bomb inflated as far as the budget allowed: {}", budget.peak());
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn small_compressed_messages_never_touch_the_budget() {
        let budget = MemoryBudget::new(0);
        let mut conn = server_with_deflate(&budget);
        for _ in 0..100 {
            conn.handle_read(&bomb_frame(16 << 10), Instant::now());
            assert!(matches!(events(&mut conn).as_slice(), [Event::Message(m)] if m.len() == 16 << 10));
        }
        assert_eq!((budget.peak(), budget.refused()), (0, 0));
    }
}

/// 200 deflate bombs at once against one multi-threaded tokio server with a
/// 32 MiB budget (and the default 64 MiB message limit, which alone would
/// let them hold 12.5 GiB), while 10 clients keep echoing small messages.
#[cfg(all(feature = "deflate", feature = "tokio"))]
mod storm {
    use super::*;
    use rfc6455::io::{tokio_ws, Error};
    use rfc6455::CloseCode;
    use tokio::io::AsyncWriteExt;

    const BOMBS: usize = 200;
    const ECHO_CLIENTS: usize = 10;
    /// Under the message limit, so that no bomb can complete.
    const BUDGET: usize = 32 << 20;

    /// Peak resident memory of this process (`VmHWM`), in bytes.
    fn peak_rss() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_concurrent_bombs_stay_under_the_budget_and_echo_clients_go_on() {
        let budget = MemoryBudget::new(BUDGET);
        let mut config = Config::default();
        config.memory_budget = Some(budget.clone());
        let addr = crate::echo::echo_server(config).await;
        let frame = bytes::Bytes::from(deflate::bomb_frame(64 << 20));
        let url = format!("ws://{addr}/");
        let before = peak_rss();
        let started = Instant::now();

        let echoes: Vec<_> = (0..ECHO_CLIENTS)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let (mut ws, _) = tokio_ws::connect(url.as_str()).await?;
                    for n in 0..50 {
                        let text = format!("client {i} message {n} {}", "x".repeat(1000));
                        ws.send(text.as_str()).await?;
                        match ws.recv().await? {
                            Some(Message::Text(echo)) if echo.as_str() == text => {}
                            other => panic!("client {i}: expected the echo of {n}, got {other:?}"),
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Ok::<_, Error>(())
                })
            })
            .collect();
        let bombs: Vec<_> = (0..BOMBS)
            .map(|_| {
                let (url, frame) = (url.clone(), frame.clone());
                tokio::spawn(async move {
                    let (mut ws, response) = tokio_ws::connect(url.as_str()).await.unwrap();
                    assert!(!response.extensions().is_empty(), "permessage-deflate was negotiated");
                    ws.get_mut().write_all(&frame).await.unwrap();
                    match ws.recv().await {
                        Err(Error::Closed(reason)) => reason.code(),
                        Err(other) => panic!("a bomb ended with {other:?}"),
                        Ok(message) => panic!("a bomb was answered with {:?} bytes", message.map(|m| m.len())),
                    }
                })
            })
            .collect();

        let mut codes = std::collections::BTreeMap::new();
        for bomb in bombs {
            let code = tokio::time::timeout(Duration::from_secs(60), bomb).await.unwrap().unwrap();
            *codes.entry(code.0).or_insert(0) += 1;
        }
        for echo in echoes {
            tokio::time::timeout(Duration::from_secs(60), echo).await.unwrap().unwrap().unwrap();
        }
        let grown = peak_rss().saturating_sub(before);
        println!(
            "{BOMBS} bombs of 64 MiB, budget {} MiB: close codes {codes:?}; budget peak {:.1} MiB, {} refusals; \
             peak RSS grew {:.1} MiB; {ECHO_CLIENTS} echo clients x 50 messages all answered; {:?}",
            BUDGET >> 20,
            budget.peak() as f64 / f64::from(1 << 20),
            budget.refused(),
            grown as f64 / f64::from(1 << 20),
            started.elapsed()
        );
        assert_eq!(codes.get(&CloseCode::TRY_AGAIN_LATER.0).copied(), Some(BOMBS), "every bomb was refused with 1013");
        assert!(budget.peak() <= BUDGET, "the budget's peak {} is over its limit", budget.peak());
        // The budget, each connection's uncharged 64 KiB, and the runtime's
        // and sockets' own memory; without the budget this is gigabytes.
        let bound = BUDGET + (BOMBS + ECHO_CLIENTS) * (UNCHARGED + (128 << 10)) + (64 << 20);
        assert!(grown <= bound, "peak RSS grew {grown} bytes, over {bound}");
        assert_eq!(budget.used(), 0, "every connection gave back what it held");
    }
}
