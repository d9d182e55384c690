//! The public [`MetricsSnapshot`] assembled from the counters, the tree,
//! the tables' filter counters and the block cache, and its text form for
//! `DB::stats`. One snapshot covers one keyspace (`Keyspace::metrics`) or,
//! summed, every keyspace of the database (`DB::metrics`; see
//! [`ReportInputs`] for which figures are summed and which are shared).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use seer_compaction::PolicyParams;
use seer_sstable::BlockCache;

use crate::memtables::Memtables;
use crate::metrics::{Metrics, OpMetrics, WorkloadCounts};
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

/// One keyspace's part of a [`MetricsSnapshot`]: its counters, its tree
/// and its memtables (a keyspace recovered but not opened in this handle
/// has only its tree).
pub(crate) struct KeyspaceInputs<'a> {
    /// The keyspace engine's counters.
    pub metrics: Option<&'a Metrics>,
    /// Its current version with its open tables.
    pub tree: &'a OpenVersion,
    /// Its memtable set.
    pub memtables: Option<&'a Memtables>,
}

/// What [`MetricsSnapshot`] reports on: the keyspaces it sums (one for a
/// keyspace's own figures, all of them for the database's) and the figures
/// the keyspaces share, counted once: the block cache (one for the
/// database), the compaction policy shown (the first keyspace's: the
/// default keyspace's for the database) and the visible sequence number (one
/// commit pipeline). Everything else is summed: operation counts and their
/// latency histograms, bytes written (the WAL's among them: each record is
/// counted once, by the keyspaces it writes to, so the sum is the WAL's),
/// flushes, compactions, stalls, bloom counters, memtables and each level's
/// runs, tables and bytes; the amplifications are computed from the sums.
pub(crate) struct ReportInputs<'a> {
    /// The keyspaces summed, the one whose policy is shown first.
    pub keyspaces: Vec<KeyspaceInputs<'a>>,
    /// The block cache, when configured.
    pub block_cache: Option<&'a BlockCache>,
    /// The compaction policy in force and why.
    pub policy: (PolicyParams, String),
    /// The newest visible sequence number.
    pub visible_seq: u64,
}

impl MetricsSnapshot {
    /// The figures of `inputs` now.
    pub(crate) fn gather(inputs: ReportInputs<'_>) -> Self {
        let ReportInputs {
            keyspaces,
            block_cache,
            policy: (policy, reason),
            visible_seq,
        } = inputs;
        let (mut checks, mut useful, mut false_positives) = (0, 0, 0);
        let mut levels: Vec<LevelMetrics> = Vec::new();
        let (mut memtable_bytes, mut immutable_memtables) = (0, 0);
        for keyspace in &keyspaces {
            for table in keyspace.tree.tables.values() {
                let stats = table.filter_stats();
                checks += stats.check_count;
                useful += stats.useful_count;
                false_positives += stats.false_positive_count;
            }
            for (index, level) in keyspace.tree.version.levels().iter().enumerate() {
                if levels.len() <= index {
                    levels.push(LevelMetrics {
                        level: index,
                        runs: 0,
                        tables: 0,
                        size_bytes: 0,
                    });
                }
                let sum = &mut levels[index];
                sum.runs += level.runs().len();
                sum.tables += level.table_count();
                sum.size_bytes += level.size_bytes();
            }
            if let Some(memtables) = keyspace.memtables {
                memtable_bytes += memtables.memory_bytes();
                immutable_memtables += memtables.immutables().len();
            }
        }
        let all: Vec<&Metrics> = keyspaces.iter().filter_map(|k| k.metrics).collect();
        let total = |figure: fn(&Metrics) -> u64| all.iter().map(|m| figure(m)).sum::<u64>();
        let load = |counter: fn(&Metrics) -> &AtomicU64| {
            all.iter()
                .map(|m| counter(m).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        let cache = block_cache.map(|c| c.stats()).unwrap_or_default();
        let user = total(Metrics::user_bytes);
        let wal = total(Metrics::wal_bytes);
        let flush = load(|m| &m.flush_bytes);
        let compaction_written = load(|m| &m.compaction_write_bytes);
        let workload = all
            .iter()
            .map(|m| m.workload_counts())
            .fold(WorkloadCounts::default(), WorkloadCounts::plus);
        MetricsSnapshot {
            ops: Metrics::op_metrics_of(&all),
            user_bytes_written: user,
            wal_bytes_written: wal,
            flush_bytes_written: flush,
            compaction_bytes_written: compaction_written,
            compaction_bytes_read: load(|m| &m.compaction_read_bytes),
            write_amplification: ratio(wal + flush + compaction_written, user),
            read_amplification: ratio(total(Metrics::runs_probed), workload.lookups),
            short_range_lookups: workload.short_ranges,
            long_range_lookups: workload.long_ranges,
            bloom_checks: checks,
            bloom_useful: useful,
            bloom_false_positives: false_positives,
            block_cache_hits: cache.hit_count,
            block_cache_misses: cache.miss_count,
            block_cache_hit_rate: ratio(cache.hit_count, cache.hit_count + cache.miss_count),
            stall_count: load(|m| &m.stall_count),
            stall_time: Duration::from_nanos(load(|m| &m.stall_nanos)),
            slowdown_count: load(|m| &m.slowdown_count),
            flush_count: load(|m| &m.flush_count),
            compaction_count: load(|m| &m.compaction_count),
            compaction_policy: policy.to_string(),
            compaction_policy_reason: reason,
            memtable_bytes,
            immutable_memtables,
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
