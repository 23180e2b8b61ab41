//! The scenarios, each an `async fn(Adapter, Role)` run four ways by `four_ways!`.

use std::sync::Arc;
use std::time::Duration;

use rfc6455::io::Error;
use rfc6455::{CloseCode, CloseReason, Config, Message, Role, TimeoutKind};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::endpoint::{Adapter, Finish, Step};
use crate::relay::{Action, Cut, Dir, Fault, Stats};
use crate::{link, payload, quiet, Link};

/// The heartbeat of the end under test in the half-open scenarios.
const PING_INTERVAL: Duration = Duration::from_millis(300);
const PONG_TIMEOUT: Duration = Duration::from_millis(300);
/// Slack over a promised bound: scheduling on a busy 2-core machine, debug builds.
const SLACK: Duration = Duration::from_millis(700);

/// The direction in which bytes travel toward the end under test.
fn toward(role: Role) -> Dir {
    match role {
        Role::Server => Dir::Up,
        Role::Client => Dir::Down,
    }
}

/// The end under test with a fast heartbeat.
fn heartbeat() -> Config {
    let mut config = quiet();
    config.ping_interval = Some(PING_INTERVAL);
    config.pong_timeout = PONG_TIMEOUT;
    config
}

/// Waits (bounded) until the relay has seen the side of `role` end its transport.
async fn transport_dropped_by(stats: &Stats, role: Role) {
    let ended = match role {
        Role::Server => &stats.server_ended,
        Role::Client => &stats.client_ended,
    };
    for _ in 0..200 {
        if ended.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the {role:?} under test did not close its transport within 2 s of giving up");
}

fn is_pong_timeout(result: &Result<(), Error>) -> bool {
    matches!(result, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::Pong))))
}

/// The transport broke before a close frame: `Abnormal` (1006) or the reset itself.
fn is_abnormal(result: &Result<(), Error>) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match result {
        Err(Error::Closed(CloseReason::Abnormal)) => true,
        Err(Error::Io(err)) => matches!(err.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof),
        _ => false,
    }
}

/// Half-open after the handshake (both directions black-holed, no FIN, no
/// RST): the end under test notices within `ping_interval + pong_timeout`
/// (+ slack), with `TimeoutKind::Pong`, and drops its transport.
pub async fn half_open_after_the_handshake_is_detected_by_the_heartbeat(adapter: Adapter, role: Role) {
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (heartbeat(), vec![Step::Read]),
        (quiet(), vec![Step::Send(Message::text("hello")), Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    assert_eq!(under.received().await, Message::text("hello"));
    relay.set_both(Fault::BlackHole);
    let cut_at = Instant::now();
    let finish = under.finish().await;
    let took = finish.at - cut_at;
    assert!(is_pong_timeout(&finish.result), "expected a pong timeout, got {:?}", finish.result);
    assert!(finish.messages.is_empty(), "nothing was sent after hello: {:?}", finish.messages);
    assert!(took >= PONG_TIMEOUT, "declared dead after {took:?}, before the pong timeout ran");
    assert!(took <= PING_INTERVAL + PONG_TIMEOUT + SLACK, "declared dead only after {took:?}");
    transport_dropped_by(relay.stats(), role).await;
    assert!(relay.stats().dropped(toward(role).other()) > 0, "the heartbeat's ping was sent (and lost)");
}

/// Half-open in the middle of a 256 KiB message: the same detection, and
/// no message (nor any part of one) is delivered.
pub async fn half_open_mid_message_is_detected_and_nothing_is_delivered(adapter: Adapter, role: Role) {
    let gate = Arc::new(Notify::new());
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (heartbeat(), vec![Step::Read]),
        (quiet(), vec![Step::Gate(Arc::clone(&gate)), Step::Send(Message::Binary(payload(256 << 10))), Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    relay.after(toward(role), 100 << 10, Action::Set(toward(role), Fault::BlackHole));
    relay.set(toward(role).other(), Fault::BlackHole);
    gate.notify_one();
    let finish = under.finish().await;
    assert!(!relay.armed(), "the fault fired mid-message");
    assert!(is_pong_timeout(&finish.result), "expected a pong timeout, got {:?}", finish.result);
    assert!(finish.messages.is_empty(), "a message was delivered from a cut link: {:?}", finish.messages.len());
    transport_dropped_by(relay.stats(), role).await;
}

/// A link cut `how` after 100 KiB of a 256 KiB single-frame message.
async fn cut_mid_frame(adapter: Adapter, role: Role, how: Cut) {
    let gate = Arc::new(Notify::new());
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (quiet(), vec![Step::Read]),
        (quiet(), vec![Step::Gate(Arc::clone(&gate)), Step::Send(Message::Binary(payload(256 << 10))), Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    relay.after(toward(role), 100 << 10, Action::Cut(how));
    gate.notify_one();
    let finish = under.finish().await;
    assert!(!relay.armed(), "the cut fired mid-frame");
    assert!(is_abnormal(&finish.result), "expected an abnormal end after {how:?}, got {:?}", finish.result);
    assert!(finish.messages.is_empty(), "a message was delivered from a cut frame");
}

/// A reset in the middle of a frame: an abnormal end, at once (no timer involved).
pub async fn reset_mid_frame_ends_with_an_abnormal_close(adapter: Adapter, role: Role) {
    cut_mid_frame(adapter, role, Cut::Rst).await;
}

/// A FIN in the middle of a frame: the stream ended before the close frame.
pub async fn fin_mid_frame_ends_with_an_abnormal_close(adapter: Adapter, role: Role) {
    cut_mid_frame(adapter, role, Cut::Fin).await;
}

/// A link cut `how` after the first two of three 64 KiB fragments.
async fn cut_mid_fragmented_message(adapter: Adapter, role: Role, how: Cut) {
    let fragment = payload(64 << 10);
    let gate = Arc::new(Notify::new());
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (quiet(), vec![Step::Read]),
        (
            quiet(),
            vec![
                Step::Gate(Arc::clone(&gate)),
                Step::Part(fragment.clone(), true, false),
                Step::Part(fragment.clone(), false, false),
                Step::Sleep(Duration::from_millis(100)),
                Step::Part(fragment, false, true),
                Step::Read,
            ],
        ),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    // About two frames of 64 KiB + 14 bytes of header (client frames carry a
    // mask; deflate may add a few bytes): the third fragment waits 100 ms.
    relay.after(toward(role), 2 * ((64 << 10) + 14), Action::Cut(how));
    gate.notify_one();
    let finish = under.finish().await;
    assert!(is_abnormal(&finish.result), "expected an abnormal end after {how:?}, got {:?}", finish.result);
    assert!(finish.messages.is_empty(), "part of a fragmented message was delivered as a message");
}

/// A reset between the fragments of a message: no part is delivered.
pub async fn reset_mid_fragmented_message_delivers_no_part(adapter: Adapter, role: Role) {
    cut_mid_fragmented_message(adapter, role, Cut::Rst).await;
}

/// A FIN between the fragments of a message: no part is delivered.
pub async fn fin_mid_fragmented_message_delivers_no_part(adapter: Adapter, role: Role) {
    cut_mid_fragmented_message(adapter, role, Cut::Fin).await;
}

/// The end under test sends its close; the peer's reply is lost, then the
/// link is cut `how`: an abnormal end as soon as the transport says so,
/// long before the close timeout.
async fn cut_mid_close_handshake(adapter: Adapter, role: Role, how: Cut) {
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (quiet(), vec![Step::Sleep(Duration::from_millis(200)), Step::Close(CloseCode::NORMAL), Step::Read]),
        (quiet(), vec![Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    relay.set(toward(role), Fault::BlackHole);
    // The peer got our close and answered it; the answer was lost.
    for _ in 0..300 {
        if relay.stats().dropped(toward(role)) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(relay.stats().dropped(toward(role)) > 0, "the peer did not answer our close within 3 s");
    let cut_at = Instant::now();
    relay.cut(how);
    let finish = under.finish().await;
    assert!(is_abnormal(&finish.result), "expected an abnormal end after {how:?}, got {:?}", finish.result);
    let took = finish.at - cut_at;
    assert!(took < Duration::from_secs(2), "the cut was noticed only after {took:?}");
}

/// A reset while waiting for the peer's close frame.
pub async fn reset_mid_close_handshake_ends_abnormally(adapter: Adapter, role: Role) {
    cut_mid_close_handshake(adapter, role, Cut::Rst).await;
}

/// A FIN while waiting for the peer's close frame.
pub async fn fin_mid_close_handshake_ends_abnormally(adapter: Adapter, role: Role) {
    cut_mid_close_handshake(adapter, role, Cut::Fin).await;
}

/// Asserts that an end's script ended with the close timeout, one
/// `close_timeout` after its `Close` step began (within [`SLACK`]).
fn assert_ended_by_the_close_timeout(finish: Finish, close_timeout: Duration) {
    assert!(
        matches!(finish.result, Err(Error::Closed(CloseReason::Timeout(TimeoutKind::CloseHandshake)))),
        "expected the close timeout, got {:?}",
        finish.result
    );
    let closing = finish.closing.expect("the script has a Close step");
    let took = finish.at.saturating_duration_since(closing);
    assert!(took >= close_timeout - Duration::from_millis(50), "gave up after {took:?}, before the close timeout");
    assert!(took <= close_timeout + SLACK, "gave up only after {took:?}");
}

/// The peer's close reply is black-holed and the link stays up: the close
/// timeout ends the wait, with `TimeoutKind::CloseHandshake`.
pub async fn a_dropped_close_reply_is_ended_by_the_close_timeout(adapter: Adapter, role: Role) {
    let close_timeout = Duration::from_millis(400);
    let mut config = quiet();
    config.close_timeout = close_timeout;
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (config, vec![Step::Sleep(Duration::from_millis(200)), Step::Close(CloseCode::NORMAL), Step::Read]),
        (quiet(), vec![Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    relay.set(toward(role), Fault::BlackHole);
    assert_ended_by_the_close_timeout(under.finish().await, close_timeout);
    transport_dropped_by(relay.stats(), role).await;
}

/// The end under test queues a message its peer never reads (the relay
/// stops reading toward the peer, so the sockets fill up) and closes:
/// `close` returns once `close_timeout` has passed rather than waiting on
/// the socket for ever, the connection ends with
/// `TimeoutKind::CloseHandshake`, and the transport is dropped.
pub async fn a_close_behind_a_queue_the_peer_never_reads_ends_at_the_close_timeout(adapter: Adapter, role: Role) {
    let close_timeout = Duration::from_millis(400);
    let mut config = quiet();
    config.close_timeout = close_timeout;
    // Not compressed: queuing it takes no time worth counting.
    config.deflate = None;
    // More than the kernel's socket buffers on both sides of the relay hold.
    let stuck = Message::Binary(payload(32 << 20));
    let Link { relay, mut under, mut peer } = link(
        adapter,
        role,
        (
            config,
            vec![
                Step::Sleep(Duration::from_millis(200)),
                Step::Feed(stuck),
                Step::Close(CloseCode::NORMAL),
                Step::Read,
            ],
        ),
        (quiet(), vec![Step::Read]),
    )
    .await;
    under.opened().await;
    peer.opened().await;
    relay.set(toward(role).other(), Fault::Stall);
    assert_ended_by_the_close_timeout(under.finish().await, close_timeout);
    // Let the relay read again (and throw the bytes away): behind the queued
    // bytes it finds the end of the transport.
    relay.set(toward(role).other(), Fault::BlackHole);
    transport_dropped_by(relay.stats(), role).await;
}
