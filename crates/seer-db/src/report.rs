//! The public [`MetricsSnapshot`] assembled from the counters, the tree,
//! the tables' filter counters and the block cache, and its text form for
//! `DB::stats`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use seer_compaction::PolicyParams;
use seer_sstable::BlockCache;

use crate::memtables::Memtables;
use crate::metrics::{Metrics, OpMetrics};
use crate::tree::OpenVersion;

/// The shape of one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelMetrics {
    /// The level (0 is where flushes land).
    pub level: usize,
    /// Sorted runs on it.
    pub runs: usize,
    /// Tables on it.
    pub tables: usize,
    /// Bytes of its tables.
    pub size_bytes: u64,
}

/// A point-in-time copy of the database's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// Per operation: count and latency percentiles (sampled).
    pub ops: Vec<OpMetrics>,
    /// Bytes of keys and values users wrote.
    pub user_bytes_written: u64,
    /// Bytes appended to the WAL.
    pub wal_bytes_written: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes_written: u64,
    /// Bytes of tables written by compactions.
    pub compaction_bytes_written: u64,
    /// Bytes of tables read by compactions.
    pub compaction_bytes_read: u64,
    /// (WAL + flush + compaction bytes) per user byte.
    pub write_amplification: f64,
    /// Sorted runs probed per point lookup, on average.
    pub read_amplification: f64,
    /// Iterators (`iter`, `range`, `prefix`, `keys`, and those of snapshots
    /// and transactions) that yielded fewer than 100 entries, counted when
    /// dropped; the adaptive compaction policy weighs them.
    pub short_range_lookups: u64,
    /// Iterators that yielded at least 100 entries, counted when dropped.
    pub long_range_lookups: u64,
    /// Bloom filter checks by point lookups (tables of the current tree).
    pub bloom_checks: u64,
    /// Checks where the filter proved the key absent.
    pub bloom_useful: u64,
    /// Checks where the filter passed but the table held nothing.
    pub bloom_false_positives: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Hits over lookups (0 without lookups).
    pub block_cache_hit_rate: f64,
    /// Writes that waited in a stop.
    pub stall_count: u64,
    /// Total time writes waited in stops.
    pub stall_time: Duration,
    /// Writes delayed by the slowdown rate limit.
    pub slowdown_count: u64,
    /// Flushes done.
    pub flush_count: u64,
    /// Compactions done (including trivial moves).
    pub compaction_count: u64,
    /// The `(T, K, Z)` in force.
    pub compaction_policy: String,
    /// Why that policy is in force.
    pub compaction_policy_reason: String,
    /// Accounted bytes of all memtables.
    pub memtable_bytes: u64,
    /// Immutable memtables waiting for flush.
    pub immutable_memtables: usize,
    /// The levels.
    pub levels: Vec<LevelMetrics>,
    /// The newest visible sequence number.
    pub visible_seq: u64,
}

/// What [`MetricsSnapshot`] reports on: the counters, the tree, the block
/// cache, the compaction policy in force (and why), the memtables and the
/// visible sequence number.
pub(crate) struct ReportInputs<'a> {
    /// The engine's counters.
    pub metrics: &'a Metrics,
    /// The current version with its open tables.
    pub tree: &'a OpenVersion,
    /// The block cache, when configured.
    pub block_cache: Option<&'a BlockCache>,
    /// The compaction policy in force and why.
    pub policy: (PolicyParams, String),
    /// The memtable set.
    pub memtables: &'a Memtables,
    /// The newest visible sequence number.
    pub visible_seq: u64,
}

impl MetricsSnapshot {
    /// The figures of `inputs` now.
    pub(crate) fn gather(inputs: ReportInputs<'_>) -> Self {
        let ReportInputs {
            metrics,
            tree,
            block_cache,
            policy: (policy, reason),
            memtables,
            visible_seq,
        } = inputs;
        let (mut checks, mut useful, mut false_positives) = (0, 0, 0);
        for table in tree.tables.values() {
            let stats = table.filter_stats();
            checks += stats.check_count;
            useful += stats.useful_count;
            false_positives += stats.false_positive_count;
        }
        let cache = block_cache.map(|c| c.stats()).unwrap_or_default();
        let user = metrics.user_bytes();
        let wal = metrics.wal_bytes();
        let flush = metrics.flush_bytes.load(Ordering::Relaxed);
        let compaction_written = metrics.compaction_write_bytes.load(Ordering::Relaxed);
        let ops = metrics.op_metrics();
        let workload = metrics.workload_counts();
        let levels = tree
            .version
            .levels()
            .iter()
            .enumerate()
            .map(|(index, level)| LevelMetrics {
                level: index,
                runs: level.runs().len(),
                tables: level.table_count(),
                size_bytes: level.size_bytes(),
            })
            .collect();
        MetricsSnapshot {
            ops,
            user_bytes_written: user,
            wal_bytes_written: wal,
            flush_bytes_written: flush,
            compaction_bytes_written: compaction_written,
            compaction_bytes_read: metrics.compaction_read_bytes.load(Ordering::Relaxed),
            write_amplification: ratio(wal + flush + compaction_written, user),
            read_amplification: ratio(metrics.runs_probed(), workload.lookups),
            short_range_lookups: workload.short_ranges,
            long_range_lookups: workload.long_ranges,
            bloom_checks: checks,
            bloom_useful: useful,
            bloom_false_positives: false_positives,
            block_cache_hits: cache.hit_count,
            block_cache_misses: cache.miss_count,
            block_cache_hit_rate: ratio(cache.hit_count, cache.hit_count + cache.miss_count),
            stall_count: metrics.stall_count.load(Ordering::Relaxed),
            stall_time: Duration::from_nanos(metrics.stall_nanos.load(Ordering::Relaxed)),
            slowdown_count: metrics.slowdown_count.load(Ordering::Relaxed),
            flush_count: metrics.flush_count.load(Ordering::Relaxed),
            compaction_count: metrics.compaction_count.load(Ordering::Relaxed),
            compaction_policy: policy.to_string(),
            compaction_policy_reason: reason,
            memtable_bytes: memtables.memory_bytes(),
            immutable_memtables: memtables.immutables().len(),
            levels,
            visible_seq,
        }
    }

    /// The figures as readable text, headed by the database's `path`.
    pub(crate) fn to_text(&self, path: &std::path::Path) -> String {
        let m = self;
        let mut out = String::new();
        let _ = writeln!(out, "seerdb {}", path.display());
        let _ = writeln!(out, "visible seq {}", m.visible_seq);
        let _ = writeln!(
            out,
            "operations (latency sampled 1 in {}):",
            crate::metrics::SAMPLE_EVERY
        );
        for op in &m.ops {
            let _ = writeln!(
                out,
                "  {:<9} count {:>10}  p50 {:>10?}  p99 {:>10?}  p99.9 {:>10?}  max {:>10?}",
                op.op, op.count, op.p50, op.p99, op.p999, op.max
            );
        }
        let hit_percent = m.block_cache_hit_rate * 100.0;
        let _ = write!(
            out,
            "range lookups: short {short}  long {long}\n\
             bytes written: user {user}  wal {wal}  flush {flush}  \
             compaction {compaction} (read {compaction_read})\n\
             write amplification {write_amp:.2}  \
             read amplification {read_amp:.2} runs per lookup\n\
             bloom: checks {checks}  useful {useful}  false positives {false_positives}\n\
             block cache: hits {hits}  misses {misses}  hit rate {hit_percent:.1}%\n\
             stalls {stalls} ({stall_time:?})  slowdowns {slowdowns}  \
             flushes {flushes}  compactions {compactions}\n\
             compaction policy {policy}: {policy_reason}\n\
             memtables {memtable_bytes} bytes, {immutables} immutable\n",
            short = m.short_range_lookups,
            long = m.long_range_lookups,
            user = m.user_bytes_written,
            wal = m.wal_bytes_written,
            flush = m.flush_bytes_written,
            compaction = m.compaction_bytes_written,
            compaction_read = m.compaction_bytes_read,
            write_amp = m.write_amplification,
            read_amp = m.read_amplification,
            checks = m.bloom_checks,
            useful = m.bloom_useful,
            false_positives = m.bloom_false_positives,
            hits = m.block_cache_hits,
            misses = m.block_cache_misses,
            stalls = m.stall_count,
            stall_time = m.stall_time,
            slowdowns = m.slowdown_count,
            flushes = m.flush_count,
            compactions = m.compaction_count,
            policy = m.compaction_policy,
            policy_reason = m.compaction_policy_reason,
            memtable_bytes = m.memtable_bytes,
            immutables = m.immutable_memtables,
        );
        for level in &m.levels {
            let _ = writeln!(
                out,
                "  L{}: {} runs, {} tables, {} bytes",
                level.level, level.runs, level.tables, level.size_bytes
            );
        }
        out
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}
