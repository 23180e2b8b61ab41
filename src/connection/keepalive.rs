//! The liveness timers of an open connection: the heartbeat (ping after a
//! quiet spell, declare the peer dead when no pong follows) and the idle
//! timeout (close a connection that carries no messages). Pure bookkeeping:
//! each arms its entries in the connection's [`TimerTable`], and the
//! [`Connection`](super::Connection) calls back when one is due.

use std::time::{Duration, Instant};

use super::rtt::RttEstimate;
use super::timer::{Timer, TimerTable};

/// Length of a heartbeat ping's payload: a big-endian sequence number.
const PING_LEN: usize = 8;

/// Pings the peer after `interval` without hearing from it ([`Timer::Ping`]);
/// the peer is dead when `timeout` more passes without a byte from it
/// ([`Timer::Pong`]). At most one of the two is armed.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    interval: Option<Duration>,
    timeout: Duration,
    /// When the peer last sent us anything.
    last_heard: Instant,
    /// The ping waiting for its pong.
    outstanding: Option<Outstanding>,
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
    pub(crate) fn new(interval: Option<Duration>, timeout: Duration, now: Instant, timers: &mut TimerTable) -> Self {
        let heartbeat = Self {
            interval: interval.filter(|interval| !interval.is_zero()),
            timeout: timeout.max(Duration::from_millis(1)),
            last_heard: now,
            outstanding: None,
            sequence: 0,
            rtt: None,
        };
        heartbeat.arm(timers);
        heartbeat
    }

    /// Arms the timer that comes next: the ping after the interval of
    /// silence, or the end of the wait for the outstanding ping's pong.
    fn arm(&self, timers: &mut TimerTable) {
        let Some(interval) = self.interval else {
            return;
        };
        match self.outstanding {
            None => timers.set_after(Timer::Ping, self.last_heard, interval),
            Some(ping) => timers.set_after(Timer::Pong, ping.since.max(self.last_heard), self.timeout),
        }
    }

    /// Bytes arrived from the peer at `now`: it is alive. Any byte counts, so
    /// a peer busy sending a large message is not declared dead because its
    /// pong waits behind it.
    #[inline]
    pub(crate) fn on_heard(&mut self, now: Instant, timers: &mut TimerTable) {
        self.last_heard = now;
        self.arm(timers);
    }

    /// [`Timer::Ping`] fired at `now`, with `written` bytes written to the
    /// transport so far and `queued` waiting: returns the ping to send and
    /// arms [`Timer::Pong`].
    pub(crate) fn on_ping_due(
        &mut self,
        now: Instant,
        written: u64,
        queued: usize,
        timers: &mut TimerTable,
    ) -> [u8; PING_LEN] {
        self.sequence = self.sequence.wrapping_add(1);
        let payload = self.sequence.to_be_bytes();
        let queued = u64::try_from(queued).unwrap_or(u64::MAX);
        let behind = (queued > 0).then(|| (written.saturating_add(queued), written));
        self.outstanding = Some(Outstanding { payload, since: now, timed: queued == 0, behind });
        self.arm(timers);
        payload
    }

    /// [`Timer::Pong`] fired at `now` with `written` bytes written so far:
    /// true if the peer is to be declared dead (then no timer is armed).
    ///
    /// A ping queued behind earlier bytes leaves only when they do: while
    /// the queue ahead of it keeps moving, the peer is reading and the pong
    /// timeout starts again; once it stops moving, or the ping has left,
    /// the timeout runs out for good.
    pub(crate) fn on_pong_due(&mut self, now: Instant, written: u64, timers: &mut TimerTable) -> bool {
        let Some(ping) = &mut self.outstanding else {
            return false;
        };
        let Some((clear_at, _)) = ping.behind.filter(|&(_, seen)| written > seen) else {
            return true;
        };
        ping.since = now;
        ping.behind = (written < clear_at).then_some((clear_at, written));
        self.arm(timers);
        false
    }

    /// A pong arrived at `now`. Any pong ends the wait for the heartbeat's
    /// (RFC 6455 §5.5.3 lets a peer answer only the latest of several
    /// pings, which may be the application's). If it answers the heartbeat
    /// ping, and that ping left at once, the round trip is measured: the new
    /// estimate is returned.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant, timers: &mut TimerTable) -> Option<RttEstimate> {
        let ping = self.outstanding.take()?;
        timers.stop(Timer::Pong);
        self.arm(timers);
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

/// Closes a connection over which no message went either way for `limit`
/// ([`Timer::Idle`]).
///
/// Received messages are timed exactly (the time of the read that completed
/// them); sends are only flagged, because sending takes no time argument, and
/// count as activity at the next deadline. So a connection closes between
/// `limit` and `2 · limit` after its last sent message, and exactly `limit`
/// after its last received one.
#[derive(Debug, Clone)]
pub(crate) struct IdleTimer {
    limit: Option<Duration>,
    sent_since_deadline: bool,
}

impl IdleTimer {
    /// An idle timer closing after `limit` (`None` or zero: never).
    pub(crate) fn new(limit: Option<Duration>, now: Instant, timers: &mut TimerTable) -> Self {
        let idle = Self { limit: limit.filter(|limit| !limit.is_zero()), sent_since_deadline: false };
        idle.restart(now, timers);
        idle
    }

    fn restart(&self, now: Instant, timers: &mut TimerTable) {
        if let Some(limit) = self.limit {
            timers.set_after(Timer::Idle, now, limit);
        }
    }

    /// A whole message arrived at `now`.
    #[inline]
    pub(crate) fn on_received(&mut self, now: Instant, timers: &mut TimerTable) {
        self.restart(now, timers);
    }

    /// A message (or a fragment of one) was queued.
    #[inline]
    pub(crate) fn on_sent(&mut self) {
        self.sent_since_deadline = true;
    }

    /// [`Timer::Idle`] fired at `now`: true when the connection has been
    /// idle for the whole limit; otherwise the wait starts again.
    pub(crate) fn on_due(&mut self, now: Instant, timers: &mut TimerTable) -> bool {
        if std::mem::take(&mut self.sent_since_deadline) {
            self.restart(now, timers);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// A heartbeat and its timer table, fired as the connection fires them.
    struct Fixture {
        heartbeat: Heartbeat,
        timers: TimerTable,
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Due {
        Nothing,
        Ping([u8; PING_LEN]),
        Dead,
    }

    impl Fixture {
        fn new(interval: Option<Duration>, timeout: Duration, start: Instant) -> Self {
            let mut timers = TimerTable::default();
            let heartbeat = Heartbeat::new(interval, timeout, start, &mut timers);
            Self { heartbeat, timers }
        }

        fn deadline(&self) -> Option<Instant> {
            self.timers.next()
        }

        fn fire(&mut self, now: Instant, written: u64, queued: usize) -> Due {
            if self.timers.take_expired(Timer::Ping, now) {
                return Due::Ping(self.heartbeat.on_ping_due(now, written, queued, &mut self.timers));
            }
            if self.timers.take_expired(Timer::Pong, now) && self.heartbeat.on_pong_due(now, written, &mut self.timers)
            {
                return Due::Dead;
            }
            Due::Nothing
        }

        fn heard(&mut self, now: Instant) {
            self.heartbeat.on_heard(now, &mut self.timers);
        }

        fn pong(&mut self, payload: &[u8], now: Instant) -> Option<RttEstimate> {
            self.heartbeat.on_pong(payload, now, &mut self.timers)
        }
    }

    #[test]
    fn pings_after_the_interval_of_silence_and_dies_after_the_timeout() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(10 * S), 5 * S, start);
        assert_eq!(hb.deadline(), Some(start + 10 * S));
        assert_eq!(hb.fire(start + 9 * S, 0, 0), Due::Nothing, "early");
        // Hearing from the peer pushes the ping back.
        hb.heard(start + 4 * S);
        assert_eq!(hb.fire(start + 10 * S, 0, 0), Due::Nothing);
        assert_eq!(hb.fire(start + 14 * S, 0, 0), Due::Ping(1u64.to_be_bytes()));
        assert_eq!(hb.deadline(), Some(start + 19 * S));
        assert_eq!(hb.fire(start + 18 * S, 0, 0), Due::Nothing);
        assert_eq!(hb.fire(start + 19 * S, 0, 0), Due::Dead);
        assert_eq!(hb.deadline(), None, "no timer while the connection gives up");
    }

    #[test]
    fn a_ping_behind_a_moving_queue_restarts_its_clock_and_is_not_a_fair_sample() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(S), S, start);
        // 1000 bytes were written, 500 are queued ahead of the ping.
        assert!(matches!(hb.fire(start + S, 1000, 500), Due::Ping(_)));
        // The queue moved (1200 written): alive, the clock restarts.
        assert_eq!(hb.fire(start + 2 * S, 1200, 300), Due::Nothing);
        assert_eq!(hb.deadline(), Some(start + 3 * S));
        // The ping left (1500 written): one last full timeout.
        assert_eq!(hb.fire(start + 3 * S, 1600, 0), Due::Nothing);
        assert_eq!(hb.deadline(), Some(start + 4 * S));
        assert_eq!(hb.fire(start + 4 * S, 1700, 0), Due::Dead, "writes after the ping prove nothing");
        // Answered late after all: no sample, since the ping waited in our queue.
        assert_eq!(hb.pong(&1u64.to_be_bytes(), start + 4 * S), None);
        assert_eq!(hb.deadline(), Some(start + S), "alive again: the next ping counts from the last byte heard");
        assert_eq!(hb.heartbeat.rtt(), None);
    }

    #[test]
    fn a_ping_behind_a_stuck_queue_times_out() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(S), S, start);
        assert!(matches!(hb.fire(start + S, 1000, 500), Due::Ping(_)));
        assert_eq!(hb.fire(start + 2 * S, 1000, 500), Due::Dead);
    }

    #[test]
    fn any_pong_ends_the_wait_since_a_peer_may_answer_only_the_latest_ping() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(S), S, start);
        assert!(matches!(hb.fire(start + S, 0, 0), Due::Ping(_)));
        hb.heard(start + S);
        assert_eq!(hb.pong(b"the app's ping", start + S), None);
        assert_eq!(hb.deadline(), Some(start + 2 * S), "the next ping after the interval");
    }

    #[test]
    fn zero_settings_do_not_storm_or_kill_at_once() {
        let start = Instant::now();
        assert_eq!(Fixture::new(Some(Duration::ZERO), S, start).deadline(), None);
        let mut hb = Fixture::new(Some(S), Duration::ZERO, start);
        assert!(matches!(hb.fire(start + S, 0, 0), Due::Ping(_)));
        assert_eq!(hb.deadline(), Some(start + S + Duration::from_millis(1)));
    }

    #[test]
    fn only_the_matching_pong_ends_the_wait_and_measures_the_round_trip() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(S), S, start);
        assert_eq!(hb.pong(&1u64.to_be_bytes(), start), None, "no ping sent yet");
        let Due::Ping(payload) = hb.fire(start + S, 0, 0) else { panic!("no ping") };
        let rtt = hb.pong(&payload, start + S + Duration::from_millis(30)).expect("matched");
        assert_eq!((rtt.latest, rtt.samples), (Duration::from_millis(30), 1));
        assert_eq!(hb.heartbeat.rtt(), Some(rtt));
        assert_eq!(hb.pong(&payload, start + 2 * S), None, "answered already");
        // The next ping carries the next sequence number.
        hb.heard(start + 2 * S);
        assert_eq!(hb.fire(start + 3 * S, 0, 0), Due::Ping(2u64.to_be_bytes()));
    }

    #[test]
    fn bytes_from_a_busy_peer_keep_it_alive_while_its_pong_waits() {
        let start = Instant::now();
        let mut hb = Fixture::new(Some(S), 2 * S, start);
        assert!(matches!(hb.fire(start + S, 0, 0), Due::Ping(_)));
        hb.heard(start + 2 * S);
        assert_eq!(hb.fire(start + 3 * S, 0, 0), Due::Nothing);
        assert_eq!(hb.fire(start + 4 * S, 0, 0), Due::Dead);
    }

    #[test]
    fn no_interval_means_no_timer() {
        let start = Instant::now();
        let mut hb = Fixture::new(None, S, start);
        assert_eq!(hb.deadline(), None);
        assert_eq!(hb.fire(start + 1000 * S, 0, 0), Due::Nothing);
    }

    #[test]
    fn idle_counts_received_messages_exactly_and_sends_at_the_next_deadline() {
        let start = Instant::now();
        let mut timers = TimerTable::default();
        let mut idle = IdleTimer::new(Some(10 * S), start, &mut timers);
        let fire = |idle: &mut IdleTimer, timers: &mut TimerTable, now| {
            timers.take_expired(Timer::Idle, now) && idle.on_due(now, timers)
        };
        idle.on_received(start + 5 * S, &mut timers);
        assert!(!fire(&mut idle, &mut timers, start + 14 * S));
        idle.on_sent();
        assert!(!fire(&mut idle, &mut timers, start + 15 * S), "a send since the last deadline restarts the wait");
        assert_eq!(timers.get(Timer::Idle), Some(start + 25 * S));
        assert!(!fire(&mut idle, &mut timers, start + 24 * S));
        assert!(fire(&mut idle, &mut timers, start + 25 * S));
        let mut none = TimerTable::default();
        IdleTimer::new(None, start, &mut none);
        assert_eq!(none.next(), None);
    }
}
