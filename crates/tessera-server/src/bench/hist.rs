//! Latency summaries over HDR histograms: one per connection while a load runs, merged at the
//! end, read as percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies in microseconds, from 1 µs to 60 s at 3 significant digits.
#[derive(Clone, Debug)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty summary.
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"))
    }

    /// Records one latency (clamped into the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `percentile` (0 to 100), in milliseconds; 0 when empty.
    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(percentile / 100.0) as f64 / 1000.0
    }

    /// The largest latency recorded, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_one_to_a_thousand() {
        let mut l = Latencies::new();
        for i in 1..=1000 {
            l.record(ms(i));
        }
        assert_eq!(l.count(), 1000);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(
            close(l.percentile_ms(50.0), 500.0),
            "{}",
            l.percentile_ms(50.0)
        );
        assert!(
            close(l.percentile_ms(99.0), 990.0),
            "{}",
            l.percentile_ms(99.0)
        );
        assert!(
            close(l.percentile_ms(99.9), 999.0),
            "{}",
            l.percentile_ms(99.9)
        );
        assert!(close(l.max_ms(), 1000.0));
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Latencies::new(), Latencies::new(), Latencies::new());
        for i in 0..500 {
            a.record(ms(1 + i % 7));
            all.record(ms(1 + i % 7));
        }
        for i in 0..50 {
            b.record(ms(100 + i));
            all.record(ms(100 + i));
        }
        a.merge(&b);
        assert_eq!(a.count(), 550);
        for p in [50.0, 90.0, 99.0, 99.9] {
            assert_eq!(a.percentile_ms(p), all.percentile_ms(p));
        }
        // The tail comes from the merged-in histogram.
        assert!(a.percentile_ms(99.0) >= 100.0);
    }

    #[test]
    fn empty_and_out_of_range() {
        let mut l = Latencies::new();
        assert_eq!(l.percentile_ms(99.0), 0.0);
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(3600));
        assert_eq!(l.count(), 2);
        assert!(l.max_ms() >= 59_000.0);
    }
}
