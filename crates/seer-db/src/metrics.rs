//! Operation counts, sampled latency histograms and byte counters.
//!
//! The hot path pays little: counters are sharded per thread (cache-padded,
//! relaxed adds to a shard no other thread usually touches), and only one
//! operation in [`SAMPLE_EVERY`] per thread reads the clock and lands in a
//! lock-free log-linear histogram. `disable_metrics` turns the latency
//! sampling off; the counts stay, as the adaptive compaction policy feeds on
//! them.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

/// One operation in this many (per thread) is timed.
pub(crate) const SAMPLE_EVERY: u32 = 8;
const SHARDS: usize = 16;
/// Sub-buckets per power of two in the latency histogram.
const SUB_BUCKET_BITS: u32 = 3;
const BUCKETS: usize = (64 << SUB_BUCKET_BITS) as usize;

/// The operations that are counted and timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `put`.
    Put,
    /// `get`.
    Get,
    /// `delete`.
    Delete,
    /// `merge`.
    Merge,
    /// `write` of a batch.
    Write,
    /// `multi_get`.
    MultiGet,
}

impl Op {
    const ALL: [Self; 6] = [
        Self::Put,
        Self::Get,
        Self::Delete,
        Self::Merge,
        Self::Write,
        Self::MultiGet,
    ];

    /// The operation's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Delete => "delete",
            Self::Merge => "merge",
            Self::Write => "write",
            Self::MultiGet => "multi_get",
        }
    }
}

/// Per-thread counters.
#[derive(Debug, Default)]
struct Shard {
    ops: [AtomicU64; 6],
    updates: AtomicU64,
    lookups: AtomicU64,
    get_misses: AtomicU64,
    runs_probed: AtomicU64,
    user_bytes: AtomicU64,
    wal_bytes: AtomicU64,
    short_ranges: AtomicU64,
    long_ranges: AtomicU64,
}

/// A lock-free log-linear histogram of nanoseconds.
#[derive(Debug)]
struct Histogram {
    buckets: Box<[AtomicU64]>,
    max_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

/// The value at quantile `q` of a histogram's bucket `counts` (`total` of
/// them, the largest `max_nanos`): the upper bound of its bucket.
fn quantile(counts: &[u64], total: u64, max_nanos: u64, q: f64) -> Duration {
    if total == 0 {
        return Duration::ZERO;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Duration::from_nanos(bucket_upper(index).min(max_nanos));
        }
    }
    Duration::from_nanos(max_nanos)
}

fn bucket_of(nanos: u64) -> usize {
    let sub = 1u64 << SUB_BUCKET_BITS;
    if nanos < sub {
        return nanos as usize;
    }
    let magnitude = 63 - nanos.leading_zeros();
    let shift = magnitude - SUB_BUCKET_BITS;
    let offset = (nanos >> shift) - sub;
    (((shift + 1) << SUB_BUCKET_BITS) as u64 + offset) as usize
}

fn bucket_upper(index: usize) -> u64 {
    let sub = 1u64 << SUB_BUCKET_BITS;
    let index = index as u64;
    if index < sub {
        return index;
    }
    let shift = (index >> SUB_BUCKET_BITS) - 1;
    let offset = index & (sub - 1);
    ((sub + offset + 1) << shift).saturating_sub(1)
}

thread_local! {
    static THREAD_SLOT: Cell<(usize, u32)> = const { Cell::new((usize::MAX, 0)) };
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// This thread's shard index, and whether this operation is sampled.
#[inline]
fn thread_slot() -> (usize, bool) {
    THREAD_SLOT.with(|slot| {
        let (mut shard, tick) = slot.get();
        if shard == usize::MAX {
            shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let tick = tick.wrapping_add(1);
        slot.set((shard, tick));
        (shard, tick % SAMPLE_EVERY == 0)
    })
}

/// A started operation.
#[derive(Debug)]
pub(crate) struct Timer {
    op: Op,
    shard: usize,
    started: Option<Instant>,
}

/// Every counter of one database.
#[derive(Debug)]
pub(crate) struct Metrics {
    shards: Box<[CachePadded<Shard>]>,
    latency: Box<[Histogram]>,
    sample: bool,
    pub(crate) flush_count: AtomicU64,
    pub(crate) flush_bytes: AtomicU64,
    pub(crate) compaction_count: AtomicU64,
    pub(crate) compaction_read_bytes: AtomicU64,
    pub(crate) compaction_write_bytes: AtomicU64,
    pub(crate) stall_count: AtomicU64,
    pub(crate) stall_nanos: AtomicU64,
    pub(crate) slowdown_count: AtomicU64,
}

/// Counts and latency percentiles of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OpMetrics {
    /// The operation (`put`, `get`, ...).
    pub op: &'static str,
    /// Successful calls.
    pub count: u64,
    /// Sampled calls behind the percentiles.
    pub sampled_count: u64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// 99.9th percentile latency.
    pub p999: Duration,
    /// Largest sampled latency.
    pub max: Duration,
}

/// The operation counts the adaptive policy reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WorkloadCounts {
    pub updates: u64,
    pub lookups: u64,
    pub lookup_misses: u64,
    pub short_ranges: u64,
    pub long_ranges: u64,
}

impl WorkloadCounts {
    /// The counts of `self` and `other` together.
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            updates: self.updates + other.updates,
            lookups: self.lookups + other.lookups,
            lookup_misses: self.lookup_misses + other.lookup_misses,
            short_ranges: self.short_ranges + other.short_ranges,
            long_ranges: self.long_ranges + other.long_ranges,
        }
    }
}

impl Metrics {
    pub(crate) fn new(disable_latency: bool) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Shard::default()))
                .collect(),
            latency: Op::ALL.iter().map(|_| Histogram::new()).collect(),
            sample: !disable_latency,
            flush_count: AtomicU64::new(0),
            flush_bytes: AtomicU64::new(0),
            compaction_count: AtomicU64::new(0),
            compaction_read_bytes: AtomicU64::new(0),
            compaction_write_bytes: AtomicU64::new(0),
            stall_count: AtomicU64::new(0),
            stall_nanos: AtomicU64::new(0),
            slowdown_count: AtomicU64::new(0),
        }
    }

    /// Starts timing `op` (only sampled operations read the clock).
    #[inline]
    pub(crate) fn start(&self, op: Op) -> Timer {
        let (shard, sampled) = thread_slot();
        Timer {
            op,
            shard,
            started: (self.sample && sampled).then(Instant::now),
        }
    }

    /// Counts a finished `op` and records its latency when sampled.
    #[inline]
    pub(crate) fn finish(&self, timer: Timer) {
        self.shards[timer.shard].ops[timer.op as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(started) = timer.started {
            let nanos = started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
            self.latency[timer.op as usize].record(nanos);
        }
    }

    fn shard(&self) -> &Shard {
        &self.shards[thread_slot().0]
    }

    /// Counts the bytes of a committed write.
    #[inline]
    pub(crate) fn record_write(&self, user_bytes: u64, wal_bytes: u64, updates: u64) {
        let shard = self.shard();
        shard.user_bytes.fetch_add(user_bytes, Ordering::Relaxed);
        shard.wal_bytes.fetch_add(wal_bytes, Ordering::Relaxed);
        shard.updates.fetch_add(updates, Ordering::Relaxed);
    }

    /// Counts a point lookup and the sorted runs it probed.
    #[inline]
    pub(crate) fn record_lookup(&self, found: bool, runs_probed: u64) {
        let shard = self.shard();
        shard.lookups.fetch_add(1, Ordering::Relaxed);
        if !found {
            shard.get_misses.fetch_add(1, Ordering::Relaxed);
        }
        if runs_probed > 0 {
            shard.runs_probed.fetch_add(runs_probed, Ordering::Relaxed);
        }
    }

    /// Counts a range scan that returned `entries_count` entries (for the
    /// adaptive policy; every iterator calls it once, when dropped).
    pub(crate) fn record_range_lookup(&self, entries_count: u64) {
        let shard = self.shard();
        let counter = if entries_count >= seer_compaction::adaptive::LONG_RANGE_MIN_ENTRIES {
            &shard.long_ranges
        } else {
            &shard.short_ranges
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a stall of `waited`.
    pub(crate) fn record_stall(&self, waited: Duration) {
        self.stall_count.fetch_add(1, Ordering::Relaxed);
        self.stall_nanos.fetch_add(
            waited.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .sum()
    }

    /// Calls of `op` so far.
    pub(crate) fn op_count(&self, op: Op) -> u64 {
        self.sum(|s| &s.ops[op as usize])
    }

    /// Totals the adaptive policy diffs into windows.
    pub(crate) fn workload_counts(&self) -> WorkloadCounts {
        WorkloadCounts {
            updates: self.sum(|s| &s.updates),
            lookups: self.sum(|s| &s.lookups),
            lookup_misses: self.sum(|s| &s.get_misses),
            short_ranges: self.sum(|s| &s.short_ranges),
            long_ranges: self.sum(|s| &s.long_ranges),
        }
    }

    /// Bytes users wrote (keys and values).
    pub(crate) fn user_bytes(&self) -> u64 {
        self.sum(|s| &s.user_bytes)
    }

    /// Bytes logged to the WAL.
    pub(crate) fn wal_bytes(&self) -> u64 {
        self.sum(|s| &s.wal_bytes)
    }

    /// Sorted runs probed by point lookups.
    pub(crate) fn runs_probed(&self) -> u64 {
        self.sum(|s| &s.runs_probed)
    }

    /// Per-operation counts and percentiles over every one of `all` (the
    /// engines of a database's keyspaces): counts summed, percentiles of
    /// their histograms merged.
    pub(crate) fn op_metrics_of(all: &[&Self]) -> Vec<OpMetrics> {
        Op::ALL
            .iter()
            .map(|&op| {
                let histograms: Vec<&Histogram> =
                    all.iter().map(|m| &m.latency[op as usize]).collect();
                let mut counts = vec![0_u64; BUCKETS];
                for histogram in &histograms {
                    for (sum, bucket) in counts.iter_mut().zip(histogram.buckets.iter()) {
                        *sum += bucket.load(Ordering::Relaxed);
                    }
                }
                let max_nanos = histograms
                    .iter()
                    .map(|h| h.max_nanos.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0);
                let sampled: u64 = counts.iter().sum();
                OpMetrics {
                    op: op.name(),
                    count: all.iter().map(|m| m.op_count(op)).sum(),
                    sampled_count: sampled,
                    p50: quantile(&counts, sampled, max_nanos, 0.50),
                    p99: quantile(&counts, sampled, max_nanos, 0.99),
                    p999: quantile(&counts, sampled, max_nanos, 0.999),
                    max: Duration::from_nanos(max_nanos),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut previous = 0;
        for nanos in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1000,
            123_456,
            10_000_000_000,
            u64::MAX / 2,
        ] {
            let bucket = bucket_of(nanos);
            assert!(bucket >= previous, "bucket of {nanos}");
            assert!(bucket < BUCKETS);
            assert!(bucket_upper(bucket) >= nanos, "upper bound of {nanos}");
            previous = bucket;
        }
    }

    #[test]
    fn percentiles_follow_the_samples() {
        let metrics = Metrics::new(false);
        let histogram = &metrics.latency[Op::Get as usize];
        for nanos in 1..=1000u64 {
            histogram.record(nanos * 1000);
        }
        let counts: Vec<u64> = histogram
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let max_nanos = histogram.max_nanos.load(Ordering::Relaxed);
        let p50 = quantile(&counts, 1000, max_nanos, 0.5);
        assert!(p50 >= Duration::from_micros(450) && p50 <= Duration::from_micros(600));
        assert_eq!(
            quantile(&counts, 1000, max_nanos, 1.0),
            Duration::from_micros(1000)
        );
    }
}
