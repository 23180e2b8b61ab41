//! The reconnecting client over a link that goes half-open: its heartbeat
//! notices, it re-dials with back-off while the link is still dead (each
//! dial reaches the relay, whose black hole swallows the handshake, so the
//! handshake timeout ends it), and it opens again once the link heals.

use std::time::Duration;

use rfc6455::io::reconnect::{ClientEvent, DisconnectReason, ReconnectingClient};
use rfc6455::io::Error;
use rfc6455::{Backoff, CloseReason, Config, Message, TimeoutKind};
use tokio::time::{sleep_until, Instant};

use crate::echo::echo_server;
use crate::quiet;
use crate::relay::{Fault, Relay};

const PING_INTERVAL: Duration = Duration::from_millis(300);
const PONG_TIMEOUT: Duration = Duration::from_millis(300);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_millis(400);
/// How long the link stays dead.
const OUTAGE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_notices_a_half_open_link_and_comes_back_once_it_heals() {
    let relay = Relay::start(echo_server(quiet()).await).await;
    let mut config = Config::default();
    config.ping_interval = Some(PING_INTERVAL);
    config.pong_timeout = PONG_TIMEOUT;
    config.handshake_timeout = Some(HANDSHAKE_TIMEOUT);
    let mut backoff = Backoff::default();
    backoff.base = Duration::from_millis(100);
    backoff.cap = BACKOFF_CAP;
    let mut client = ReconnectingClient::new(relay.url("/").as_str(), config).unwrap().backoff(backoff);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut opens = 0;
    let mut cut_at = None;
    let mut heal_at = None;
    let mut detected_after = None;
    let mut failed_dials = 0;
    let mut echoes = Vec::new();
    loop {
        let event = tokio::select! {
            event = client.next() => event.expect("the client finished"),
            () = sleep_until(heal_at.unwrap_or(deadline)), if heal_at.is_some() => {
                relay.heal();
                heal_at = None;
                continue;
            }
            () = sleep_until(deadline) => panic!("the scenario did not complete within 20 s"),
        };
        match event {
            ClientEvent::Open(_) => {
                opens += 1;
                client.send(if opens == 1 { "before" } else { "after" }).await.unwrap();
            }
            ClientEvent::Message(message) => {
                echoes.push(message.clone());
                if opens == 1 {
                    relay.set_both(Fault::BlackHole);
                    let now = Instant::now();
                    cut_at = Some(now);
                    heal_at = Some(now + OUTAGE);
                } else {
                    break;
                }
            }
            ClientEvent::Disconnected { reason, will_retry } => {
                assert!(will_retry, "the client gave up after {reason:?}");
                match reason {
                    DisconnectReason::Closed(CloseReason::Timeout(TimeoutKind::Pong)) => {
                        detected_after = cut_at.map(|at| at.elapsed());
                    }
                    DisconnectReason::DialFailed(Error::HandshakeTimeout(_)) => failed_dials += 1,
                    other => panic!("unexpected disconnect: {other:?}"),
                }
            }
            ClientEvent::Connecting { .. } | ClientEvent::Reconnecting { .. } => {}
            other => panic!("unexpected event: {other:?}"),
        }
    }
    let detected = detected_after.expect("the half-open link was noticed by the heartbeat");
    let back_after = cut_at.unwrap().elapsed();
    println!(
        "half-open noticed after {detected:?}; {failed_dials} dials timed out; open again {back_after:?} after the cut"
    );
    assert_eq!(echoes, [Message::text("before"), Message::text("after")]);
    assert!(detected <= PING_INTERVAL + PONG_TIMEOUT + Duration::from_millis(700), "noticed after {detected:?}");
    assert!(failed_dials >= 1, "no dial was tried while the link was dead");
    assert!(back_after >= OUTAGE, "opened through a dead link");
    let bound = OUTAGE + BACKOFF_CAP + HANDSHAKE_TIMEOUT + Duration::from_secs(1);
    assert!(back_after <= bound, "open again only {back_after:?} after the cut");
}
