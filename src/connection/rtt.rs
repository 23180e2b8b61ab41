//! Round-trip time from heartbeat pings, smoothed as TCP does (RFC 6298 §2).

use std::time::Duration;

/// What the heartbeat has measured of the round-trip time: reported with
/// every heartbeat pong ([`Event::Pong`](crate::Event::Pong)) and by
/// [`Connection::rtt`](crate::Connection::rtt).
///
/// The smoothing follows RFC 6298 §2 (the TCP retransmission timer): the
/// first sample `R` sets `smoothed = R` and `variance = R/2`; each later one
/// moves `variance` a quarter of the way towards `|smoothed − R|` and then
/// `smoothed` an eighth of the way towards `R`. An RTT sample includes the
/// time the peer took to answer and the time our side took to read the
/// pong, so a busy event loop shows up here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RttEstimate {
    /// The most recent sample.
    pub latest: Duration,
    /// The smallest sample so far: the best the path has done.
    pub min: Duration,
    /// The smoothed round-trip time (RFC 6298 `SRTT`).
    pub smoothed: Duration,
    /// The smoothed mean deviation of the samples (RFC 6298 `RTTVAR`).
    pub variance: Duration,
    /// How long a prompt answer may plausibly take: `smoothed + 4 · variance`
    /// (RFC 6298 `RTO`), kept within [`RttEstimate::RTO_MIN`] and
    /// [`RttEstimate::RTO_MAX`]. A pong timeout well above this is safe from
    /// false alarms.
    pub rto: Duration,
    /// How many samples went into the estimate.
    pub samples: u64,
}

impl RttEstimate {
    /// Lower clamp of [`rto`](Self::rto): 200 ms, the minimum Linux uses for
    /// TCP. (RFC 6298 suggests 1 s, chosen for the coarse clocks of 2000;
    /// with nanosecond clocks a local network would only see that clamp.)
    pub const RTO_MIN: Duration = Duration::from_millis(200);
    /// Upper clamp of [`rto`](Self::rto): 60 s, as RFC 6298 §2.5 allows.
    pub const RTO_MAX: Duration = Duration::from_secs(60);

    /// The estimate after a first sample (RFC 6298 §2.2).
    pub(crate) fn first(sample: Duration) -> Self {
        let variance = sample / 2;
        Self { latest: sample, min: sample, smoothed: sample, variance, rto: rto(sample, variance), samples: 1 }
    }

    /// The estimate after one more sample (RFC 6298 §2.3; `variance` is
    /// updated with the old `smoothed`, as the RFC orders it).
    pub(crate) fn update(self, sample: Duration) -> Self {
        let deviation = self.smoothed.abs_diff(sample);
        let variance = self.variance.saturating_mul(3).saturating_add(deviation) / 4;
        let smoothed = self.smoothed.saturating_mul(7).saturating_add(sample) / 8;
        Self {
            latest: sample,
            min: self.min.min(sample),
            smoothed,
            variance,
            rto: rto(smoothed, variance),
            samples: self.samples.saturating_add(1),
        }
    }
}

/// Clock granularity `G` of RFC 6298: `Instant` counts nanoseconds, but a
/// sample is no finer than the event loop that takes it.
const GRANULARITY: Duration = Duration::from_millis(1);

fn rto(smoothed: Duration, variance: Duration) -> Duration {
    smoothed
        .saturating_add(GRANULARITY.max(variance.saturating_mul(4)))
        .clamp(RttEstimate::RTO_MIN, RttEstimate::RTO_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: f64) -> Duration {
        Duration::from_secs_f64(n / 1000.0)
    }

    #[test]
    fn follows_rfc_6298_by_hand() {
        // Sample 1 = 100 ms: SRTT 100, RTTVAR 50, RTO 100 + 4·50 = 300.
        let one = RttEstimate::first(ms(100.0));
        assert_eq!((one.smoothed, one.variance, one.rto, one.min), (ms(100.0), ms(50.0), ms(300.0), ms(100.0)));
        // Sample 2 = 200 ms: RTTVAR = 3/4·50 + 1/4·|100 − 200| = 62.5;
        // SRTT = 7/8·100 + 1/8·200 = 112.5; RTO = 112.5 + 250 = 362.5.
        let two = one.update(ms(200.0));
        assert_eq!((two.smoothed, two.variance, two.rto), (ms(112.5), ms(62.5), ms(362.5)));
        assert_eq!((two.latest, two.min, two.samples), (ms(200.0), ms(100.0), 2));
        // Sample 3 = 50 ms: RTTVAR = 3/4·62.5 + 1/4·|112.5 − 50| = 62.5;
        // SRTT = 7/8·112.5 + 1/8·50 = 104.6875; RTO = 354.6875.
        let three = two.update(ms(50.0));
        assert_eq!((three.smoothed, three.variance, three.rto), (ms(104.6875), ms(62.5), ms(354.6875)));
        assert_eq!((three.latest, three.min, three.samples), (ms(50.0), ms(50.0), 3));
    }

    #[test]
    fn steady_samples_shrink_the_variance_and_the_rto_stops_at_its_floor() {
        let mut estimate = RttEstimate::first(ms(10.0));
        assert_eq!(estimate.rto, RttEstimate::RTO_MIN, "10 + 4·5 ms is under the floor");
        for _ in 0..50 {
            estimate = estimate.update(ms(10.0));
        }
        assert_eq!(estimate.smoothed, ms(10.0));
        assert!(estimate.variance < Duration::from_micros(10), "{:?}", estimate.variance);
        assert_eq!(estimate.rto, RttEstimate::RTO_MIN);
    }

    #[test]
    fn huge_samples_saturate_instead_of_overflowing() {
        let estimate = RttEstimate::first(Duration::MAX).update(Duration::ZERO).update(Duration::MAX);
        assert_eq!(estimate.rto, RttEstimate::RTO_MAX);
        assert_eq!(estimate.min, Duration::ZERO);
    }
}
