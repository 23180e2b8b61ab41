//! How long to wait before re-dialing: exponential back-off with full jitter.
//!
//! Pure arithmetic over a caller-owned random generator: no clock, no sleep.
//! The tokio [`ReconnectingClient`](crate::io::reconnect::ReconnectingClient)
//! sleeps for what [`Backoff::delay`] returns; other drivers can do the same.
//!
//! ## Why full jitter
//!
//! Every client that lost the same server (a restart, a network blip) starts
//! its series at the same moment. Drawing the whole wait uniformly from
//! `[0, ceiling]` spreads such a herd evenly over the window instead of
//! sending it back in waves, and AWS's published comparison of jitter
//! strategies ("Exponential Backoff And Jitter", 2015) found full jitter did
//! the least total work of the strategies it simulated, with completion times
//! close to decorrelated jitter's. Full jitter also keeps the delay a function
//! of the retry number alone, so each retry has a bound that can be stated and
//! tested; decorrelated jitter draws from a range built on the previous delay,
//! which makes the schedule stateful and its per-retry bound harder to state.
//! The cost is that a retry may come almost at once; with the ceiling
//! doubling, later retries still back off on average.
//!
//! ## Why these defaults
//!
//! `base` 500 ms: the first retry comes within half a second, so a blip is
//! barely noticed. `cap` 30 s: once the server is back, a client notices
//! within 30 s, and a herd at the cap arrives spread over 30 s. `max_retries`
//! `None`: a long-lived client such as a feed or a dashboard should come back
//! whenever the server does. `reset_after` 10 s: a connection that lasted
//! that long was a real one, not an accept-then-drop.

use std::time::Duration;

use rand::{Rng, RngExt};

/// The back-off schedule of a reconnecting client: after the `n`-th failure
/// in a row it waits a random time between zero and
/// `min(cap, base * 2^(n-1))`, and it gives up after `max_retries` retries.
///
/// Full jitter spreads a herd of clients that lost the same server evenly
/// over the window instead of sending it back in waves.
///
/// **Defaults** ([`Backoff::default`]): `base` 500 ms, `cap` 30 s,
/// `max_retries` `None` (retry whenever the server comes back; set a limit
/// when the application must fail instead), `reset_after` 10 s.
///
/// ```
/// use std::time::Duration;
/// use rand::SeedableRng;
///
/// let mut backoff = rfc6455::Backoff::default();
/// backoff.max_retries = Some(3);
/// let mut rng = rand::rngs::StdRng::from_seed([1; 32]);
/// let first = backoff.delay(0, &mut rng).unwrap();
/// assert!(first <= Duration::from_millis(500));
/// assert_eq!(backoff.delay(3, &mut rng), None, "three retries were made: give up");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The ceiling of the first retry's delay; each further retry doubles
    /// the ceiling, up to `cap`. Zero retries at once, every time.
    pub base: Duration,
    /// The largest ceiling: no delay is ever longer than this.
    pub cap: Duration,
    /// How many retries in a row (re-dials after a failure) to make before
    /// giving up; the first dial is not a retry. `None` retries forever,
    /// `Some(0)` never retries.
    pub max_retries: Option<u32>,
    /// How long a connection must stay open to end a series of failures.
    /// When it ends sooner, its end counts as one more failure in the same
    /// series, so a server that accepts and then drops every connection at
    /// once still meets a growing delay and, eventually, `max_retries`. A
    /// connection that lasted this long starts the next series from the
    /// first retry. Not used by [`delay`](Self::delay); drivers compare it
    /// with how long the connection was open.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retries: None,
            reset_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// A schedule with this `base` and `cap`, retrying forever, with the
    /// default `reset_after`. Set the public fields to change the rest.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap, ..Self::default() }
    }

    /// How long to wait before the next retry, given how many retries this
    /// series of failures has already made (0 before the first retry), or
    /// `None` once `max_retries` retries were made: give up then.
    ///
    /// The delay is drawn uniformly from `[0, ceiling(retries_so_far)]`.
    /// Never panics or overflows, for any count.
    pub fn delay<R: Rng + ?Sized>(&self, retries_so_far: u32, rng: &mut R) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| retries_so_far >= max) {
            return None;
        }
        let ceiling = duration_to_nanos(self.ceiling(retries_so_far));
        Some(nanos_to_duration(rng.random_range(0..=ceiling)))
    }

    /// The longest delay [`delay`](Self::delay) may return for this retry
    /// count: `min(cap, base * 2^retries_so_far)`, computed without
    /// overflow.
    pub fn ceiling(&self, retries_so_far: u32) -> Duration {
        let base = duration_to_nanos(self.base);
        let cap = duration_to_nanos(self.cap);
        // `base << n` fits in a u128 while `n` is below the number of leading
        // zero bits; past that it is above any `Duration`, so above `cap`.
        let doubled = if base == 0 {
            0
        } else if retries_so_far < base.leading_zeros() {
            base << retries_so_far
        } else {
            u128::MAX
        };
        nanos_to_duration(doubled.min(cap))
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

fn duration_to_nanos(duration: Duration) -> u128 {
    duration.as_nanos()
}

/// The inverse of [`duration_to_nanos`] for values it produced (at most
/// `Duration::MAX`), saturating anything larger.
fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC);
    let subsec = u32::try_from(nanos % NANOS_PER_SEC);
    match (secs, subsec) {
        (Ok(secs), Ok(subsec)) => Duration::new(secs, subsec),
        _ => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const MS: Duration = Duration::from_millis(1);

    fn seeded() -> StdRng {
        StdRng::from_seed([42; 32])
    }

    fn schedule(base_ms: u32, cap_ms: u32) -> Backoff {
        Backoff::new(base_ms * MS, cap_ms * MS)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let backoff = Backoff::default();
        assert_eq!(backoff.base, Duration::from_millis(500));
        assert_eq!(backoff.cap, Duration::from_secs(30));
        assert_eq!(backoff.max_retries, None);
        assert_eq!(backoff.reset_after, Duration::from_secs(10));
    }

    #[test]
    fn ceiling_doubles_from_base_then_stays_at_cap() {
        let backoff = schedule(100, 1_000);
        let ceilings: Vec<u64> = (0..7).map(|n| backoff.ceiling(n).as_millis() as u64).collect();
        // Checked by hand: 100, 200, 400, 800, then 1600 > cap.
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
    }

    #[test]
    fn seeded_delays_stay_within_each_retrys_ceiling() {
        let backoff = schedule(100, 1_000);
        let mut rng = seeded();
        let bounds_ms = [100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000];
        let delays: Vec<Duration> = (0..8).map(|n| backoff.delay(n, &mut rng).unwrap()).collect();
        for (n, (delay, bound)) in delays.iter().zip(bounds_ms).enumerate() {
            assert!(*delay <= bound * MS, "retry {n}: {delay:?} above {bound} ms");
        }
        // The same seed gives the same schedule (what the tokio tests rely on).
        let mut again = seeded();
        let replay: Vec<Duration> = (0..8).map(|n| backoff.delay(n, &mut again).unwrap()).collect();
        assert_eq!(delays, replay);
    }

    #[test]
    fn delays_vary_and_fill_the_range() {
        // Jitter is not a constant: many draws at the cap hit both the lowest
        // and the highest quarter of [0, cap], and take many values.
        let backoff = schedule(1_000, 1_000);
        let mut rng = seeded();
        let draws: Vec<Duration> = (0..400).map(|_| backoff.delay(5, &mut rng).unwrap()).collect();
        assert!(draws.iter().all(|d| *d <= 1_000 * MS));
        assert!(draws.iter().any(|d| *d < 250 * MS), "no draw in the lowest quarter");
        assert!(draws.iter().any(|d| *d > 750 * MS), "no draw in the highest quarter");
        let mut distinct = draws.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 390, "only {} distinct delays in 400 draws", distinct.len());
        // And the mean is near the middle (uniform): 500 ms +- 50.
        let mean = draws.iter().sum::<Duration>() / 400;
        assert!((450 * MS..=550 * MS).contains(&mean), "mean {mean:?}");
    }

    #[test]
    fn max_retries_is_respected() {
        let mut backoff = schedule(10, 100);
        let mut rng = seeded();
        backoff.max_retries = Some(3);
        assert!((0..3).all(|n| backoff.delay(n, &mut rng).is_some()));
        assert_eq!(backoff.delay(3, &mut rng), None);
        assert_eq!(backoff.delay(u32::MAX, &mut rng), None);
        backoff.max_retries = Some(0);
        assert_eq!(backoff.delay(0, &mut rng), None, "Some(0) never retries");
        backoff.max_retries = None;
        assert!(backoff.delay(u32::MAX, &mut rng).is_some(), "None retries forever");
    }

    #[test]
    fn no_overflow_for_any_retry_count_or_duration() {
        let mut rng = seeded();
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        for n in [0, 1, 31, 32, 63, 64, 127, 128, 1_000, u32::MAX] {
            assert_eq!(schedule(500, 30_000).ceiling(n), if n >= 6 { 30_000 * MS } else { 500 * MS * (1 << n) });
            assert_eq!(huge.ceiling(n), Duration::MAX);
            assert!(huge.delay(n, &mut rng).is_some());
        }
        // A 1 ns base needs 35 doublings to pass a 30 s cap: not capped early.
        let tiny = Backoff::new(Duration::from_nanos(1), Duration::from_secs(30));
        assert_eq!(tiny.ceiling(32), Duration::from_nanos(1 << 32));
        assert_eq!(tiny.ceiling(35), Duration::from_secs(30));
        assert_eq!(tiny.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn zero_base_or_cap_means_no_wait() {
        let mut rng = seeded();
        assert_eq!(schedule(0, 1_000).delay(7, &mut rng), Some(Duration::ZERO));
        assert_eq!(schedule(100, 0).delay(7, &mut rng), Some(Duration::ZERO));
    }

    #[test]
    fn nanos_round_trip_and_saturate() {
        for d in [Duration::ZERO, Duration::new(1, 999_999_999), Duration::MAX] {
            assert_eq!(nanos_to_duration(duration_to_nanos(d)), d);
        }
        assert_eq!(nanos_to_duration(u128::MAX), Duration::MAX);
    }
}
