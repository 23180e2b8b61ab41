//! The liveness timers of an open connection: the heartbeat (ping after a
//! quiet spell, declare the peer dead when no pong follows) and the idle
//! timeout (close a connection that carries no messages). Pure bookkeeping:
//! the [`Connection`](super::Connection) passes the time in and acts on the
//! answers.

use std::time::{Duration, Instant};

use super::rtt::RttEstimate;

/// Length of a heartbeat ping's payload: a big-endian sequence number.
const PING_LEN: usize = 8;

/// What the heartbeat wants done when its deadline has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeartbeatDue {
    /// Not yet (called early, or the deadline moved).
    Nothing,
    /// Send a ping with this payload.
    Ping([u8; PING_LEN]),
    /// No pong, and nothing else, arrived within the pong timeout.
    Dead,
}

/// Pings the peer after `interval` without hearing from it; the peer is dead
/// when `timeout` more passes without a byte from it.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    interval: Option<Duration>,
    timeout: Duration,
    /// When the peer last sent us anything.
    last_heard: Instant,
    /// The ping waiting for its pong.
    outstanding: Option<Outstanding>,
    /// The pong timeout ran out; the connection gives up once the bytes
    /// already received are decoded (a pong among them saves it).
    expired: bool,
    sequence: u64,
    rtt: Option<RttEstimate>,
}

/// A heartbeat ping waiting for its pong.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    payload: [u8; PING_LEN],
    /// When the pong timeout's clock (re)started.
    since: Instant,
    /// Queued into an empty send queue, so it left at once: its round trip
    /// is a fair sample.
    timed: bool,
    /// While the ping waits behind earlier bytes in the send queue: the
    /// transport's write count at which they are out, and at the last check.
    behind: Option<(u64, u64)>,
}

impl Heartbeat {
    /// A heartbeat that pings every `interval` of silence (`None` or zero:
    /// never), starting from `now`. A zero `timeout` is taken as 1 ms.
    pub(crate) fn new(interval: Option<Duration>, timeout: Duration, now: Instant) -> Self {
        Self {
            interval: interval.filter(|interval| !interval.is_zero()),
            timeout: timeout.max(Duration::from_millis(1)),
            last_heard: now,
            outstanding: None,
            expired: false,
            sequence: 0,
            rtt: None,
        }
    }

    /// Bytes arrived from the peer at `now`: it is alive. Any byte counts, so
    /// a peer busy sending a large message is not declared dead because its
    /// pong waits behind it.
    #[inline]
    pub(crate) fn on_heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.expired = false;
    }

    /// When [`on_deadline`](Self::on_deadline) has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let interval = self.interval.filter(|_| !self.expired)?;
        match self.outstanding {
            None => self.last_heard.checked_add(interval),
            Some(ping) => ping.since.max(self.last_heard).checked_add(self.timeout),
        }
    }

    /// The timer fired at `now`, with `written` bytes written to the
    /// transport so far and `queued` waiting: ping, declare the peer dead,
    /// or nothing.
    ///
    /// A ping queued behind earlier bytes leaves only when they do: while
    /// the queue ahead of it keeps moving, the peer is reading and the pong
    /// timeout starts again; once it stops moving, or the ping has left,
    /// the timeout runs out for good.
    pub(crate) fn on_deadline(&mut self, now: Instant, written: u64, queued: usize) -> HeartbeatDue {
        if self.deadline().is_none_or(|deadline| now < deadline) {
            return HeartbeatDue::Nothing;
        }
        if let Some(ping) = &mut self.outstanding {
            if let Some((clear_at, _)) = ping.behind.filter(|&(_, seen)| written > seen) {
                ping.since = now;
                ping.behind = (written < clear_at).then_some((clear_at, written));
                return HeartbeatDue::Nothing;
            }
            self.expired = true;
            return HeartbeatDue::Dead;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let payload = self.sequence.to_be_bytes();
        let queued = u64::try_from(queued).unwrap_or(u64::MAX);
        let behind = (queued > 0).then(|| (written.saturating_add(queued), written));
        self.outstanding = Some(Outstanding { payload, since: now, timed: queued == 0, behind });
        HeartbeatDue::Ping(payload)
    }

    /// True once the pong timeout ran out with no pong decoded since.
    pub(crate) fn is_expired(&self) -> bool {
        self.expired
    }

    /// A pong arrived at `now`. Any pong ends the wait for the heartbeat's
    /// (RFC 6455 §5.5.3 lets a peer answer only the latest of several
    /// pings, which may be the application's). If it answers the heartbeat
    /// ping, and that ping left at once, the round trip is measured: the new
    /// estimate is returned.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant) -> Option<RttEstimate> {
        let ping = self.outstanding.take()?;
        self.expired = false;
        if payload != ping.payload || !ping.timed {
            return None;
        }
        let sample = now.saturating_duration_since(ping.since);
        let estimate = match self.rtt {
            None => RttEstimate::first(sample),
            Some(estimate) => estimate.update(sample),
        };
        self.rtt = Some(estimate);
        Some(estimate)
    }

    /// The round-trip estimate, once a heartbeat pong came back.
    pub(crate) fn rtt(&self) -> Option<RttEstimate> {
        self.rtt
    }
}

/// Closes a connection over which no message went either way for `limit`.
///
/// Received messages are timed exactly (the time of the read that completed
/// them); sends are only flagged, because sending takes no time argument, and
/// count as activity at the next deadline. So a connection closes between
/// `limit` and `2 · limit` after its last sent message, and exactly `limit`
/// after its last received one.
#[derive(Debug, Clone)]
pub(crate) struct IdleTimer {
    limit: Option<Duration>,
    last_active: Instant,
    sent_since_deadline: bool,
}

impl IdleTimer {
    /// An idle timer closing after `limit` (`None` or zero: never).
    pub(crate) fn new(limit: Option<Duration>, now: Instant) -> Self {
        Self { limit: limit.filter(|limit| !limit.is_zero()), last_active: now, sent_since_deadline: false }
    }

    /// A whole message arrived at `now`.
    #[inline]
    pub(crate) fn on_received(&mut self, now: Instant) {
        self.last_active = now;
    }

    /// A message (or a fragment of one) was queued.
    #[inline]
    pub(crate) fn on_sent(&mut self) {
        self.sent_since_deadline = true;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.last_active.checked_add(self.limit?)
    }

    /// The timer fired at `now`; true when the connection has been idle for
    /// the whole limit.
    pub(crate) fn is_expired(&mut self, now: Instant) -> bool {
        if self.deadline().is_none_or(|deadline| now < deadline) {
            return false;
        }
        if std::mem::take(&mut self.sent_since_deadline) {
            self.last_active = now;
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_after_the_interval_of_silence_and_dies_after_the_timeout() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(10 * S), 5 * S, start);
        assert_eq!(heartbeat.deadline(), Some(start + 10 * S));
        assert_eq!(heartbeat.on_deadline(start + 9 * S, 0, 0), HeartbeatDue::Nothing, "early");
        // Hearing from the peer pushes the ping back.
        heartbeat.on_heard(start + 4 * S);
        assert_eq!(heartbeat.on_deadline(start + 10 * S, 0, 0), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 14 * S, 0, 0), HeartbeatDue::Ping(1u64.to_be_bytes()));
        assert_eq!(heartbeat.deadline(), Some(start + 19 * S));
        assert_eq!(heartbeat.on_deadline(start + 18 * S, 0, 0), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 19 * S, 0, 0), HeartbeatDue::Dead);
        assert!(heartbeat.is_expired());
        assert_eq!(heartbeat.deadline(), None, "no timer while the connection gives up");
    }

    #[test]
    fn a_ping_behind_a_moving_queue_restarts_its_clock_and_is_not_a_fair_sample() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), S, start);
        // 1000 bytes were written, 500 are queued ahead of the ping.
        assert!(matches!(heartbeat.on_deadline(start + S, 1000, 500), HeartbeatDue::Ping(_)));
        // The queue moved (1200 written): alive, the clock restarts.
        assert_eq!(heartbeat.on_deadline(start + 2 * S, 1200, 300), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.deadline(), Some(start + 3 * S));
        // The ping left (1500 written): one last full timeout.
        assert_eq!(heartbeat.on_deadline(start + 3 * S, 1600, 0), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.deadline(), Some(start + 4 * S));
        assert_eq!(
            heartbeat.on_deadline(start + 4 * S, 1700, 0),
            HeartbeatDue::Dead,
            "writes after the ping prove nothing"
        );
        // Answered late after all: no sample, since the ping waited in our queue.
        assert_eq!(heartbeat.on_pong(&1u64.to_be_bytes(), start + 4 * S), None);
        assert!(!heartbeat.is_expired());
        assert_eq!(heartbeat.rtt(), None);
    }

    #[test]
    fn a_ping_behind_a_stuck_queue_times_out() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), S, start);
        assert!(matches!(heartbeat.on_deadline(start + S, 1000, 500), HeartbeatDue::Ping(_)));
        assert_eq!(heartbeat.on_deadline(start + 2 * S, 1000, 500), HeartbeatDue::Dead);
    }

    #[test]
    fn any_pong_ends_the_wait_since_a_peer_may_answer_only_the_latest_ping() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), S, start);
        assert!(matches!(heartbeat.on_deadline(start + S, 0, 0), HeartbeatDue::Ping(_)));
        heartbeat.on_heard(start + S);
        assert_eq!(heartbeat.on_pong(b"the app's ping", start + S), None);
        assert_eq!(heartbeat.deadline(), Some(start + 2 * S), "the next ping after the interval");
    }

    #[test]
    fn zero_settings_do_not_storm_or_kill_at_once() {
        let start = Instant::now();
        assert_eq!(Heartbeat::new(Some(Duration::ZERO), S, start).deadline(), None);
        let mut heartbeat = Heartbeat::new(Some(S), Duration::ZERO, start);
        assert!(matches!(heartbeat.on_deadline(start + S, 0, 0), HeartbeatDue::Ping(_)));
        assert_eq!(heartbeat.deadline(), Some(start + S + Duration::from_millis(1)));
    }

    #[test]
    fn only_the_matching_pong_ends_the_wait_and_measures_the_round_trip() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), S, start);
        assert_eq!(heartbeat.on_pong(&1u64.to_be_bytes(), start), None, "no ping sent yet");
        let HeartbeatDue::Ping(payload) = heartbeat.on_deadline(start + S, 0, 0) else { panic!("no ping") };
        let rtt = heartbeat.on_pong(&payload, start + S + Duration::from_millis(30)).expect("matched");
        assert_eq!((rtt.latest, rtt.samples), (Duration::from_millis(30), 1));
        assert_eq!(heartbeat.rtt(), Some(rtt));
        assert_eq!(heartbeat.on_pong(&payload, start + 2 * S), None, "answered already");
        // The next ping carries the next sequence number.
        heartbeat.on_heard(start + 2 * S);
        assert_eq!(heartbeat.on_deadline(start + 3 * S, 0, 0), HeartbeatDue::Ping(2u64.to_be_bytes()));
    }

    #[test]
    fn bytes_from_a_busy_peer_keep_it_alive_while_its_pong_waits() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), 2 * S, start);
        assert!(matches!(heartbeat.on_deadline(start + S, 0, 0), HeartbeatDue::Ping(_)));
        heartbeat.on_heard(start + 2 * S);
        assert_eq!(heartbeat.on_deadline(start + 3 * S, 0, 0), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 4 * S, 0, 0), HeartbeatDue::Dead);
    }

    #[test]
    fn no_interval_means_no_timer() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(None, S, start);
        assert_eq!(heartbeat.deadline(), None);
        assert_eq!(heartbeat.on_deadline(start + 1000 * S, 0, 0), HeartbeatDue::Nothing);
    }

    #[test]
    fn idle_counts_received_messages_exactly_and_sends_at_the_next_deadline() {
        let start = Instant::now();
        let mut idle = IdleTimer::new(Some(10 * S), start);
        idle.on_received(start + 5 * S);
        assert!(!idle.is_expired(start + 14 * S));
        idle.on_sent();
        assert!(!idle.is_expired(start + 15 * S), "a send since the last deadline restarts the wait");
        assert_eq!(idle.deadline(), Some(start + 25 * S));
        assert!(!idle.is_expired(start + 24 * S));
        assert!(idle.is_expired(start + 25 * S));
        assert_eq!(IdleTimer::new(None, start).deadline(), None);
    }
}
