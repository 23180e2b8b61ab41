//! Broken networks, on 127.0.0.1 through a fault-injecting relay
//! ([`relay`]): half-open links, resets and FINs mid-frame, mid-message and
//! mid-close, a close that never comes back, and a reconnecting client that
//! comes back once the link heals.
//!
//! Each scenario runs four ways: the end under test is a server or a client,
//! on the tokio or the blocking adapter; its peer is the tokio adapter in the
//! other role. Every test checks the exact outcome (which error, which close
//! reason, nothing half-delivered) and a bound on how long it took; timers
//! are short (hundreds of milliseconds) so the whole file runs in seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, unreachable_pub, dead_code)]

#[path = "../common/echo.rs"]
mod echo;
mod endpoint;
#[path = "../common/noise.rs"]
mod noise;
mod redial;
mod relay;
mod scenarios;
mod slow_link;

use std::time::Duration;

use bytes::Bytes;
use endpoint::{Adapter, Endpoint, Step};
use relay::Relay;
use rfc6455::{Config, Role};

/// Both ends of a link through a relay.
#[derive(Debug)]
pub struct Link {
    /// The relay between them.
    pub relay: Relay,
    /// The end whose behaviour the test checks.
    pub under: Endpoint,
    /// Its peer (tokio adapter, the other role).
    pub peer: Endpoint,
}

/// Starts the end under test (`role`, `adapter`) and its peer, linked through a relay.
pub async fn link(adapter: Adapter, role: Role, under: (Config, Vec<Step>), peer: (Config, Vec<Step>)) -> Link {
    let (under_config, under_steps) = under;
    let (peer_config, peer_steps) = peer;
    match role {
        Role::Server => {
            let (addr, under) = endpoint::serve_one(adapter, under_config, under_steps);
            let relay = Relay::start(addr).await;
            let peer = endpoint::connect(Adapter::Tokio, relay.url("/"), peer_config, peer_steps);
            Link { relay, under, peer }
        }
        Role::Client => {
            let (addr, peer) = endpoint::serve_one(Adapter::Tokio, peer_config, peer_steps);
            let relay = Relay::start(addr).await;
            let under = endpoint::connect(adapter, relay.url("/"), under_config, under_steps);
            Link { relay, under, peer }
        }
    }
}

/// A config with the heartbeat off and a close timeout long enough never to matter.
pub fn quiet() -> Config {
    let mut config = Config::default();
    config.ping_interval = None;
    config.close_timeout = Duration::from_secs(20);
    config
}

/// A binary message of `len` pseudo-random bytes: permessage-deflate (on
/// by default) cannot shrink it, so its frames are as long on the wire.
pub fn payload(len: usize) -> Bytes {
    noise::noise(len).into()
}

/// Runs a scenario `async fn(Adapter, Role)` four ways, one test each: the
/// tokio and blocking adapters in both roles (`@one` takes more tests for
/// the scenario's module).
macro_rules! four_ways {
    ($($scenario:ident),* $(,)?) => {$(
        four_ways!(@one $scenario {});
    )*};
    (@one $scenario:ident { $($more:item)* }) => {
        mod $scenario {
            use super::{Adapter, Role};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tokio_server() {
                crate::scenarios::$scenario(Adapter::Tokio, Role::Server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tokio_client() {
                crate::scenarios::$scenario(Adapter::Tokio, Role::Client).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn blocking_server() {
                crate::scenarios::$scenario(Adapter::Blocking, Role::Server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn blocking_client() {
                crate::scenarios::$scenario(Adapter::Blocking, Role::Client).await;
            }
            $($more)*
        }
    };
}

/// Runs a scenario `async fn(Adapter, Role)` every way: the four ways, plus
/// the tokio adapter split into halves (a task reading while the write half
/// closes) in both roles, and split with nobody reading until the script's
/// end.
macro_rules! every_way {
    ($($scenario:ident),* $(,)?) => {$(
        four_ways!(@one $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn split_server() {
                crate::scenarios::$scenario(Adapter::TokioSplit, Role::Server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn split_client() {
                crate::scenarios::$scenario(Adapter::TokioSplit, Role::Client).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn split_nobody_reading_server() {
                crate::scenarios::$scenario(Adapter::TokioSplitLateReader, Role::Server).await;
            }
        });
    )*};
}

four_ways!(
    half_open_after_the_handshake_is_detected_by_the_heartbeat,
    half_open_mid_message_is_detected_and_nothing_is_delivered,
    reset_mid_frame_ends_with_an_abnormal_close,
    fin_mid_frame_ends_with_an_abnormal_close,
    reset_mid_fragmented_message_delivers_no_part,
    fin_mid_fragmented_message_delivers_no_part,
    reset_mid_close_handshake_ends_abnormally,
    fin_mid_close_handshake_ends_abnormally,
    a_dropped_close_reply_is_ended_by_the_close_timeout,
);

every_way!(a_close_behind_a_queue_the_peer_never_reads_ends_at_the_close_timeout);

/// The dropped close reply again, with the read half already waiting in
/// `recv` when the write half closes: the read half still ends at the
/// close timeout.
mod a_dropped_close_reply_with_split_halves {
    use super::{Adapter, Role};
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_server() {
        crate::scenarios::a_dropped_close_reply_is_ended_by_the_close_timeout(Adapter::TokioSplit, Role::Server).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn split_client() {
        crate::scenarios::a_dropped_close_reply_is_ended_by_the_close_timeout(Adapter::TokioSplit, Role::Client).await;
    }
}
