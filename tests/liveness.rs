//! The core's liveness timers on a virtual clock: heartbeat pings and the
//! pong timeout, the RTT estimate, the idle timeout, the close timeout and
//! the ready state, with a client and a server wired back to back.
//!
//! Where the peer answers at once, `Pair::run_until` jumps the clock from
//! deadline to deadline. Where it is silent, slow, drops a frame or answers
//! after a chosen round trip, the test steps one side's clock by hand.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{
    CloseCode, CloseReason, Config, Connection, Event, Initiator, Message, ReadyState, RttEstimate, TimeoutKind,
};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn heartbeat_config(interval: Duration, timeout: Duration) -> Config {
    let mut config = config();
    config.ping_interval = Some(interval);
    config.pong_timeout = timeout;
    config
}

fn quiet_config() -> Config {
    let mut config = config();
    config.ping_interval = None;
    config
}

/// Moves the clock to `conn`'s next deadline and fires it; returns the time.
fn fire_next_timer(conn: &mut Connection) -> Instant {
    let at = conn.poll_timeout().expect("a timer must be armed");
    conn.handle_timeout(at);
    at
}

/// Runs `conn`'s timers, with nothing arriving from its peer, until it
/// closes; returns when it closed and why. Bounded.
fn run_until_closed(conn: &mut Connection) -> (Instant, CloseReason) {
    for _ in 0..100 {
        let at = fire_next_timer(conn);
        for event in events(conn) {
            if let Event::Closed(reason) = event {
                return (at, reason);
            }
        }
    }
    panic!("the connection never closed");
}

#[test]
fn a_silent_peer_is_declared_dead_after_ping_interval_plus_pong_timeout_in_both_roles() {
    for pinger_is_server in [true, false] {
        let busy = heartbeat_config(10 * S, 5 * S);
        let (client_config, server_config) =
            if pinger_is_server { (quiet_config(), busy) } else { (busy, quiet_config()) };
        let mut pair = Pair::with_configs(&client_config, &server_config);
        let start = pair.now;
        let pinger = if pinger_is_server { &mut pair.server } else { &mut pair.client };

        let (at, reason) = run_until_closed(pinger);
        assert_eq!(at, start + 15 * S, "server pings: {pinger_is_server}");
        assert_eq!(reason, CloseReason::Timeout(TimeoutKind::Pong));
        assert!(!reason.was_clean());
        assert!(pinger.should_close_transport(), "a dead peer's transport is closed at once");
        assert_eq!(pinger.poll_timeout(), None);
        assert_eq!(pinger.ready_state(), ReadyState::Closed);
        // What it sent: the heartbeat ping, then a close frame saying why.
        let frames = sent_frames(pinger);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frames[0].header.opcode, OpCode::Ping);
        assert_eq!(&frames[0].payload[..], 1u64.to_be_bytes());
        assert_eq!(close_code_of(&frames[1]), Some(1011));
    }
}

#[test]
fn an_answering_peer_stays_open_and_each_pong_measures_the_round_trip() {
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(10 * S, 5 * S));
    let rtts = [100, 200, 50].map(Duration::from_millis);
    let mut last = None;
    for (round, rtt) in rtts.into_iter().enumerate() {
        let at = fire_next_timer(&mut pair.server);
        assert_eq!(at, pair.now + 10 * S, "round {round}: the ping goes out after 10 s of silence");
        pair.now = at;
        let client_events = pair.to_client();
        assert!(matches!(&client_events[..], [Event::Ping(_)]), "{client_events:?}");
        pair.advance(rtt);
        let server_events = pair.to_server();
        let [Event::Pong { payload, rtt: Some(estimate) }] = &server_events[..] else {
            panic!("round {round}: {server_events:?}")
        };
        assert_eq!(&payload[..], (round as u64 + 1).to_be_bytes(), "pings carry a sequence number");
        assert_eq!(estimate.latest, rtt);
        assert_eq!(pair.server.rtt(), Some(*estimate));
        last = Some(*estimate);
    }
    // The hand-computed RFC 6298 sequence for 100, 200, 50 ms (see rtt.rs).
    let estimate = last.unwrap();
    let ms = |n: f64| Duration::from_secs_f64(n / 1000.0);
    assert_eq!((estimate.smoothed, estimate.variance), (ms(104.6875), ms(62.5)));
    assert_eq!((estimate.rto, estimate.min, estimate.samples), (ms(354.6875), ms(50.0), 3));
    assert!(estimate.rto >= RttEstimate::RTO_MIN);
    assert_eq!(pair.server.ready_state(), ReadyState::Open);
    assert_eq!(pair.client.rtt(), None, "the client sent no heartbeat");
}

#[test]
fn any_pong_ends_the_wait_but_only_the_heartbeats_own_measures_the_round_trip() {
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(10 * S, 5 * S));
    pair.now = fire_next_timer(&mut pair.server); // the ping, which the client never sees
    take_transmit(&mut pair.server);
    // RFC 6455 §5.5.3 lets a peer answer only the latest ping: here a pong
    // with another payload (for the application's own ping, say) arrives.
    pair.now += 4 * S;
    pair.client.pong(b"the latest ping's").unwrap();
    let events = pair.to_server();
    assert!(matches!(&events[..], [Event::Pong { rtt: None, .. }]), "{events:?}");
    assert_eq!(pair.server.rtt(), None);
    assert_eq!(pair.server.poll_timeout(), Some(pair.now + 10 * S), "no longer waiting: the next ping is due");
}

#[test]
fn any_byte_from_the_peer_proves_it_alive_while_its_pong_is_awaited() {
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(10 * S, 5 * S));
    pair.now = fire_next_timer(&mut pair.server);
    take_transmit(&mut pair.server);
    pair.now += 4 * S;
    pair.client.send_text("still here").unwrap();
    let events = pair.to_server();
    assert!(matches!(&events[..], [Event::Message(_)]), "{events:?}");
    // Alive: the deadline moved to 5 s after those bytes.
    assert_eq!(pair.server.poll_timeout(), Some(pair.now + 5 * S));
    let (at, reason) = run_until_closed(&mut pair.server);
    assert_eq!((at, reason), (pair.now + 5 * S, CloseReason::Timeout(TimeoutKind::Pong)));
}

#[test]
fn a_pong_received_but_not_yet_decoded_when_the_timeout_fires_still_counts() {
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(10 * S, 5 * S));
    pair.now = fire_next_timer(&mut pair.server);
    pair.to_client(); // the client answers the ping (auto pong) ...
    pair.client.send_text("hello").unwrap();
    pair.advance(S);
    let wire = take_transmit(&mut pair.client);
    pair.server.handle_read(&wire, pair.now); // ... and the answer arrives, undecoded
    pair.advance(5 * S);
    pair.server.handle_timeout(pair.now); // the pong timeout is due before anyone decoded
    let events = events(&mut pair.server);
    assert!(matches!(&events[..], [Event::Pong { rtt: Some(_), .. }, Event::Message(_)]), "{events:?}");
    assert_eq!(pair.server.ready_state(), ReadyState::Open);
}

#[test]
fn a_peer_still_draining_our_large_message_is_not_declared_dead() {
    let mut server_config = heartbeat_config(S, S);
    server_config.write_buffer_limit = 64 << 20;
    let mut pair = Pair::with_configs(&quiet_config(), &server_config);
    pair.server.send_binary(&vec![1u8; 8 << 20]).unwrap();
    // The peer reads 256 KiB every 250 ms: 8 s for the message. The
    // heartbeat's ping waits behind it; the queue moving proves the peer
    // alive, and the pong answers once the ping gets through.
    let mut pongs = Vec::new();
    for _ in 0..60 {
        pair.advance(S / 4);
        let n = pair.server.poll_transmit().len().min(256 << 10);
        let bytes = pair.server.poll_transmit()[..n].to_vec();
        pair.server.advance_transmit(n);
        pair.client.handle_read(&bytes, pair.now);
        events(&mut pair.client);
        let answer = take_transmit(&mut pair.client);
        if !answer.is_empty() {
            pair.server.handle_read(&answer, pair.now);
        }
        pair.server.handle_timeout(pair.now);
        for event in events(&mut pair.server) {
            match event {
                Event::Pong { rtt, .. } => pongs.push(rtt),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(pair.server.ready_state(), ReadyState::Open);
    // The first ping waited 8 s in our queue: no RTT sample. Later ones,
    // sent into an empty queue, are.
    assert!(pongs.len() >= 2, "{pongs:?}");
    assert_eq!(pongs[0], None, "a ping that waited in our queue is no RTT sample");
    assert!(pongs[1].is_some_and(|rtt| rtt.latest <= S / 4), "{pongs:?}");
    assert_eq!(pair.server.buffered_amount(), 0);
}

#[test]
fn a_peer_that_stops_reading_our_large_message_is_declared_dead() {
    let mut server_config = heartbeat_config(S, S);
    server_config.write_buffer_limit = 64 << 20;
    let mut pair = Pair::with_configs(&quiet_config(), &server_config);
    pair.server.send_binary(&vec![1u8; 8 << 20]).unwrap();
    pair.server.advance_transmit(1 << 20); // the socket took 1 MiB, then nothing more
    let start = pair.now;
    let (at, reason) = run_until_closed(&mut pair.server);
    assert_eq!((at, reason), (start + 2 * S, CloseReason::Timeout(TimeoutKind::Pong)));
}

#[test]
fn a_peer_that_never_answers_our_close_is_dropped_after_the_close_timeout() {
    let mut config = quiet_config();
    config.close_timeout = 3 * S;
    let mut pair = Pair::with_configs(&config, &config);
    let start = pair.now;
    pair.client.close(CloseCode::NORMAL, "bye", start).unwrap();
    assert_eq!(pair.client.ready_state(), ReadyState::Closing);
    let (at, reason) = run_until_closed(&mut pair.client);
    assert_eq!((at, reason), (start + 3 * S, CloseReason::Timeout(TimeoutKind::CloseHandshake)));
    assert!(pair.client.should_close_transport());
    assert_eq!(pair.client.ready_state(), ReadyState::Closed);
}

#[test]
fn a_connection_without_messages_closes_after_the_idle_timeout_despite_the_heartbeat() {
    let mut config = heartbeat_config(4 * S, 2 * S);
    config.idle_timeout = Some(30 * S);
    let mut pair = Pair::with_configs(&quiet_config(), &config);
    let start = pair.now;
    // Pings (at 4, 8, ... 28 s) are answered all along; only messages count as activity.
    let (_, server_events) = pair.run_until(start + 30 * S - MS);
    assert_eq!(server_events.len(), 7, "{server_events:?}");
    assert!(server_events.iter().all(|e| matches!(e, Event::Pong { rtt: Some(_), .. })), "{server_events:?}");
    assert_eq!(pair.server.ready_state(), ReadyState::Open);
    // At 30 s exactly: a 1001 close, which the client answers at once.
    let (client_events, server_events) = pair.run_until(start + 30 * S);
    let [Event::Closed(CloseReason::Clean { initiator: Initiator::Local, remote })] = &server_events[..] else {
        panic!("{server_events:?}")
    };
    assert_eq!(remote.code, CloseCode::GOING_AWAY);
    assert!(matches!(&client_events[..], [Event::Closed(reason)] if reason.was_clean()), "{client_events:?}");
    assert_eq!(pair.server.rtt().map(|rtt| rtt.samples), Some(7));
}

#[test]
fn messages_either_way_keep_an_idle_timeout_from_firing() {
    let mut config = quiet_config();
    config.idle_timeout = Some(10 * S);
    let mut pair = Pair::with_configs(&quiet_config(), &config);
    let start = pair.now;
    // A message received at 8 s moves the deadline to 18 s exactly.
    pair.run_until(start + 8 * S);
    pair.client.send_text("in").unwrap();
    pair.drive();
    assert_eq!(pair.server.poll_timeout(), Some(start + 18 * S));
    // A message sent at 15 s counts at that deadline: the next is 18 s + 10 s.
    pair.run_until(start + 15 * S);
    pair.server.send_text("out").unwrap();
    let (client_events, server_events) = pair.run_until(start + 28 * S - MS);
    assert_eq!(client_events, [Event::Message(Message::from("out"))]);
    assert_eq!(server_events, []);
    assert_eq!(pair.server.poll_timeout(), Some(start + 28 * S));
    // Then a 1001 close, which the client answers at once.
    let (client_events, server_events) = pair.run_until(start + 28 * S);
    let [Event::Closed(CloseReason::Clean { initiator: Initiator::Local, remote })] = &server_events[..] else {
        panic!("{server_events:?}")
    };
    assert_eq!(remote.code, CloseCode::GOING_AWAY);
    assert!(matches!(&client_events[..], [Event::Closed(reason)] if reason.was_clean()), "{client_events:?}");
}

#[test]
fn no_heartbeat_and_no_idle_timeout_means_no_timer_while_open() {
    let mut pair = Pair::with_configs(&quiet_config(), &quiet_config());
    pair.client.send_text("x").unwrap();
    pair.drive();
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.server.poll_timeout(), None);
    // A late handle_timeout queues nothing, and 1000 quiet seconds bring no
    // ping, no close, nothing (`run_for` would deliver whatever was queued).
    pair.server.handle_timeout(pair.now + 1000 * S);
    assert_eq!(pair.run_for(1000 * S), (vec![], vec![]));
    assert_eq!((pair.client.ready_state(), pair.server.ready_state()), (ReadyState::Open, ReadyState::Open));
}

#[test]
fn an_answering_peer_is_kept_through_a_hundred_heartbeats() {
    // As quinn-proto's keep_alive test: many times the pong timeout on the
    // virtual clock, with no real waiting.
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(10 * S, 5 * S));
    let (client_events, server_events) = pair.run_for(1000 * S);
    assert_eq!(client_events.len(), 100, "one ping every 10 s");
    assert!(client_events.iter().all(|e| matches!(e, Event::Ping(_))), "{client_events:?}");
    assert_eq!(server_events.len(), 100);
    for (i, event) in server_events.iter().enumerate() {
        let Event::Pong { payload, rtt: Some(_) } = event else { panic!("{event:?}") };
        assert_eq!(&payload[..], (i as u64 + 1).to_be_bytes());
    }
    assert_eq!(pair.server.ready_state(), ReadyState::Open);
    assert_eq!(pair.server.poll_timeout(), Some(pair.now + 10 * S), "the 101st ping is due in 10 s");
}

#[test]
fn the_heartbeat_stops_once_the_close_handshake_starts() {
    let mut pair = Pair::with_configs(&quiet_config(), &heartbeat_config(S, S));
    pair.server.close(CloseCode::NORMAL, "", pair.now).unwrap();
    let deadline = pair.server.poll_timeout().unwrap();
    assert_eq!(deadline, pair.now + Config::default().close_timeout, "only the close timer is armed");
    pair.server.handle_timeout(pair.now + 2 * S);
    let frames = sent_frames(&mut pair.server);
    assert_eq!(frames.len(), 1, "the close frame, and no ping: {frames:?}");
}
