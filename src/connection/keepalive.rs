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
    /// The ping waiting for its pong: its payload and when it was queued.
    outstanding: Option<([u8; PING_LEN], Instant)>,
    sequence: u64,
    rtt: Option<RttEstimate>,
}

impl Heartbeat {
    /// A heartbeat that pings every `interval` of silence (`None`: never),
    /// starting from `now`.
    pub(crate) fn new(interval: Option<Duration>, timeout: Duration, now: Instant) -> Self {
        Self { interval, timeout, last_heard: now, outstanding: None, sequence: 0, rtt: None }
    }

    /// Bytes arrived from the peer at `now`: it is alive. Any byte counts, so
    /// a peer busy sending a large message is not declared dead because its
    /// pong waits behind it.
    #[inline]
    pub(crate) fn on_heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// When [`on_deadline`](Self::on_deadline) has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let interval = self.interval?;
        match self.outstanding {
            None => self.last_heard.checked_add(interval),
            Some((_, sent)) => sent.max(self.last_heard).checked_add(self.timeout),
        }
    }

    /// The timer fired at `now`: ping, declare the peer dead, or nothing.
    pub(crate) fn on_deadline(&mut self, now: Instant) -> HeartbeatDue {
        if self.deadline().is_none_or(|deadline| now < deadline) {
            return HeartbeatDue::Nothing;
        }
        if self.outstanding.is_some() {
            return HeartbeatDue::Dead;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let payload = self.sequence.to_be_bytes();
        self.outstanding = Some((payload, now));
        HeartbeatDue::Ping(payload)
    }

    /// A pong arrived at `now`. If it answers the outstanding heartbeat
    /// ping, the wait ends and the round trip is measured: the new estimate
    /// is returned. Other pongs (unsolicited, or answers to the
    /// application's own pings) change nothing.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant) -> Option<RttEstimate> {
        let (expected, sent) = self.outstanding?;
        if payload != expected {
            return None;
        }
        self.outstanding = None;
        let sample = now.saturating_duration_since(sent);
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
    pub(crate) fn new(limit: Option<Duration>, now: Instant) -> Self {
        Self { limit, last_active: now, sent_since_deadline: false }
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
        assert_eq!(heartbeat.on_deadline(start + 9 * S), HeartbeatDue::Nothing, "early");
        // Hearing from the peer pushes the ping back.
        heartbeat.on_heard(start + 4 * S);
        assert_eq!(heartbeat.on_deadline(start + 10 * S), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 14 * S), HeartbeatDue::Ping(1u64.to_be_bytes()));
        assert_eq!(heartbeat.deadline(), Some(start + 19 * S));
        assert_eq!(heartbeat.on_deadline(start + 18 * S), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 19 * S), HeartbeatDue::Dead);
    }

    #[test]
    fn only_the_matching_pong_ends_the_wait_and_measures_the_round_trip() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), S, start);
        assert_eq!(heartbeat.on_pong(&1u64.to_be_bytes(), start), None, "no ping sent yet");
        let HeartbeatDue::Ping(payload) = heartbeat.on_deadline(start + S) else { panic!("no ping") };
        assert_eq!(heartbeat.on_pong(b"other", start + S), None);
        let rtt = heartbeat.on_pong(&payload, start + S + Duration::from_millis(30)).expect("matched");
        assert_eq!((rtt.latest, rtt.samples), (Duration::from_millis(30), 1));
        assert_eq!(heartbeat.rtt(), Some(rtt));
        assert_eq!(heartbeat.on_pong(&payload, start + 2 * S), None, "answered already");
        // The next ping carries the next sequence number.
        heartbeat.on_heard(start + 2 * S);
        assert_eq!(heartbeat.on_deadline(start + 3 * S), HeartbeatDue::Ping(2u64.to_be_bytes()));
    }

    #[test]
    fn bytes_from_a_busy_peer_keep_it_alive_while_its_pong_waits() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(Some(S), 2 * S, start);
        assert!(matches!(heartbeat.on_deadline(start + S), HeartbeatDue::Ping(_)));
        heartbeat.on_heard(start + 2 * S);
        assert_eq!(heartbeat.on_deadline(start + 3 * S), HeartbeatDue::Nothing);
        assert_eq!(heartbeat.on_deadline(start + 4 * S), HeartbeatDue::Dead);
    }

    #[test]
    fn no_interval_means_no_timer() {
        let start = Instant::now();
        let mut heartbeat = Heartbeat::new(None, S, start);
        assert_eq!(heartbeat.deadline(), None);
        assert_eq!(heartbeat.on_deadline(start + 1000 * S), HeartbeatDue::Nothing);
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
