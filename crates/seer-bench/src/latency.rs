//! Per-operation latency, recorded in an HDR histogram (nanoseconds, three
//! significant digits) per thread and merged at the end of a job.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The largest latency recorded exactly; longer ones are clamped to it.
const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// The two "slow operation" thresholds the summary counts operations over.
const SLOW_NS: u64 = 10_000_000;
const VERY_SLOW_NS: u64 = 100_000_000;

/// One thread's latency histogram.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        // Constant, valid bounds: construction cannot fail.
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3)
            .expect("1 <= 60 s with 3 significant digits are valid bounds");
        Self { histogram }
    }

    /// Records one operation's latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(MAX_TRACKED_NS);
        self.histogram
            .saturating_record(nanos.clamp(1, MAX_TRACKED_NS));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Both histograms have the same bounds, so adding cannot fail; if it
        // somehow did, the samples of `other` are dropped rather than panic.
        let _ = self.histogram.add(&other.histogram);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The percentiles reported with results.
    pub fn summary(&self) -> LatencySummary {
        let micros = |quantile: f64| self.histogram.value_at_quantile(quantile) as f64 / 1000.0;
        LatencySummary {
            samples: self.count(),
            mean_us: self.histogram.mean() / 1000.0,
            p50_us: micros(0.50),
            p99_us: micros(0.99),
            p999_us: micros(0.999),
            max_us: self.histogram.max() as f64 / 1000.0,
            over_10ms: self.count_over(SLOW_NS),
            over_100ms: self.count_over(VERY_SLOW_NS),
        }
    }

    /// Operations slower than `threshold_ns` (to the histogram's precision).
    fn count_over(&self, threshold_ns: u64) -> u64 {
        self.histogram
            .count_between(threshold_ns.saturating_add(1), MAX_TRACKED_NS)
    }
}

/// Latency percentiles of one job, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Operations timed.
    pub samples: u64,
    /// Mean latency.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest operation.
    pub max_us: f64,
    /// Operations slower than 10 ms.
    #[serde(default)]
    pub over_10ms: u64,
    /// Operations slower than 100 ms.
    #[serde(default)]
    pub over_100ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_a_known_distribution() {
        let mut recorder = LatencyRecorder::new();
        for micros in 1..=1000u64 {
            recorder.record(Duration::from_micros(micros));
        }
        let summary = recorder.summary();
        assert_eq!(summary.samples, 1000);
        let near = |value: f64, expected: f64| (value / expected - 1.0).abs() < 0.01;
        assert!(near(summary.p50_us, 500.0), "{summary:?}");
        assert!(near(summary.p99_us, 990.0), "{summary:?}");
        assert!(near(summary.p999_us, 999.0), "{summary:?}");
        assert!(near(summary.max_us, 1000.0), "{summary:?}");
        assert!(near(summary.mean_us, 500.5), "{summary:?}");
        assert_eq!((summary.over_10ms, summary.over_100ms), (0, 0));
    }

    #[test]
    fn operations_over_10_and_100_ms_are_counted() {
        let mut recorder = LatencyRecorder::new();
        for millis in [1, 9, 11, 50, 99, 101, 2000] {
            recorder.record(Duration::from_millis(millis));
        }
        let summary = recorder.summary();
        assert_eq!(summary.over_10ms, 5, "{summary:?}");
        assert_eq!(summary.over_100ms, 2, "{summary:?}");
    }

    #[test]
    fn merged_recorders_hold_every_sample_and_clamp_outliers() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::new();
        a.record(Duration::from_nanos(0));
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert!(a.summary().max_us <= MAX_TRACKED_NS as f64 / 1000.0 * 1.01);
    }
}
