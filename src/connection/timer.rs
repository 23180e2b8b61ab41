//! The connection's timers as one table: each [`Timer`] has at most one
//! deadline, and [`Connection::poll_timeout`](super::Connection::poll_timeout)
//! is the earliest of them. Components arm and stop their own entries; the
//! connection fires whichever are due.

use std::time::{Duration, Instant};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Send a heartbeat ping: the peer has been quiet for the ping interval.
    Ping,
    /// Give up on the peer: a heartbeat ping went unanswered.
    Pong,
    /// Close with 1001: no message for the idle timeout.
    Idle,
    /// Stop waiting for the peer's close frame (while closing), or for the
    /// flush and the peer's TCP close (once closed).
    Close,
}

impl Timer {
    const COUNT: usize = 4;
}

/// A deadline per [`Timer`], or none.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `timer` to fire `after` from `from` (stopped if that instant is
    /// not representable).
    #[inline]
    pub(crate) fn set_after(&mut self, timer: Timer, from: Instant, after: Duration) {
        *self.slot(timer) = from.checked_add(after);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        *self.slot(timer) = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        let [ping, pong, idle, close] = self.deadlines;
        match timer {
            Timer::Ping => ping,
            Timer::Pong => pong,
            Timer::Idle => idle,
            Timer::Close => close,
        }
    }

    fn slot(&mut self, timer: Timer) -> &mut Option<Instant> {
        let [ping, pong, idle, close] = &mut self.deadlines;
        match timer {
            Timer::Ping => ping,
            Timer::Pong => pong,
            Timer::Idle => idle,
            Timer::Close => close,
        }
    }

    /// True, and stops `timer`, if it is armed and due at `now`.
    pub(crate) fn take_expired(&mut self, timer: Timer, now: Instant) -> bool {
        let due = self.get(timer).is_some_and(|deadline| deadline <= now);
        if due {
            self.stop(timer);
        }
        due
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_the_earliest_armed_deadline_and_expiry_stops_a_timer() {
        let start = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = TimerTable::default();
        assert_eq!(timers.next(), None);
        timers.set_after(Timer::Close, start, 5 * s);
        timers.set_after(Timer::Idle, start, 3 * s);
        assert_eq!(timers.next(), Some(start + 3 * s));
        assert!(!timers.take_expired(Timer::Idle, start + 2 * s), "not due yet");
        assert!(timers.take_expired(Timer::Idle, start + 3 * s));
        assert!(!timers.take_expired(Timer::Idle, start + 3 * s), "fires once");
        assert_eq!(timers.next(), Some(start + 5 * s));
        timers.stop(Timer::Close);
        assert_eq!(timers.next(), None);
        timers.set_after(Timer::Ping, start, Duration::MAX);
        assert_eq!(timers.get(Timer::Ping), None, "an unrepresentable deadline is no deadline");
    }
}
