//! The option draws of a configuration: every knob the tree's shape, the
//! background work and the table format depend on, drawn from a seed within
//! what `DBOptions` validation accepts.

use std::fmt;
use std::time::Duration;

use seer_db::{CompactionPolicy, Compression, DBOptions, PolicyParams, SyncPolicy};

use super::ops::MergeKind;
use super::rng::Rng;

/// The policy of a draw, kept as its parts so it prints readably.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PolicyDraw {
    /// `CompactionPolicy::Adaptive`.
    Adaptive,
    /// `PolicyParams::leveling(t)`.
    Leveling(u32),
    /// `PolicyParams::tiering(t)`.
    Tiering(u32),
    /// `PolicyParams::lazy_leveling(t)`.
    LazyLeveling(u32),
}

/// The sync policy of a draw.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SyncDraw {
    /// `SyncPolicy::Always`.
    Always,
    /// `SyncPolicy::Interval` of this many milliseconds.
    IntervalMs(u64),
    /// `SyncPolicy::Never`.
    Never,
}

/// One drawn set of options (printed on failure, so a reader sees the
/// shape the database had at each step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnOptions {
    /// `memtable_capacity`.
    pub memtable_capacity_bytes: usize,
    /// `memtable_partitions`.
    pub memtable_partitions: usize,
    /// `max_immutable_memtables`.
    pub max_immutable_memtables: usize,
    /// `sync_policy`.
    pub sync: SyncDraw,
    /// `block_size`.
    pub block_size_bytes: usize,
    /// `block_cache_capacity`.
    pub block_cache_capacity_bytes: usize,
    /// `bloom_bits_per_key`.
    pub bloom_bits_per_key: u32,
    /// `compression`: a zstd level, or none.
    pub zstd_level: Option<i32>,
    /// `compaction_policy`.
    pub policy: PolicyDraw,
    /// `l0_compaction_trigger`.
    pub l0_compaction_trigger: usize,
    /// `l0_slowdown_writes_trigger` (at least the compaction trigger).
    pub l0_slowdown_writes_trigger: usize,
    /// `l0_stop_writes_trigger` (above the slowdown trigger).
    pub l0_stop_writes_trigger: usize,
    /// `target_file_size`.
    pub target_file_size_bytes: u64,
    /// `base_level_size`.
    pub base_level_size_bytes: u64,
    /// `background_threads`.
    pub background_threads: usize,
    /// `max_memory_bytes`, as a multiple (at least 2) of the memtable.
    pub memory_budget_memtables: Option<u64>,
    /// `max_space_amplification`, in tenths (15: the default 1.5).
    pub max_space_amplification_tenths: u32,
}

impl DrawnOptions {
    /// The options drawn from `seed`.
    pub fn draw(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let memtable_capacity_bytes = if rng.chance(1, 10) {
            4 << 20
        } else {
            rng.log_uniform(1 << 10, 64 << 10) as usize
        };
        let sync = match rng.weighted(&[1, 3, 6]) {
            0 => SyncDraw::Always,
            1 => SyncDraw::IntervalMs(rng.between(1, 50)),
            _ => SyncDraw::Never,
        };
        // Small and large size ratios and base levels alike, so a redraw
        // often moves the base level (and the tree's shape) a long way.
        let t = match rng.weighted(&[4, 3, 1]) {
            0 => rng.between(2, 4),
            1 => rng.between(5, 16),
            _ => rng.between(17, 64),
        } as u32;
        let policy = match rng.weighted(&[1, 1, 1, 1]) {
            0 => PolicyDraw::Adaptive,
            1 => PolicyDraw::Leveling(t),
            2 => PolicyDraw::Tiering(t),
            _ => PolicyDraw::LazyLeveling(t),
        };
        let l0_compaction_trigger = rng.between_usize(1, 6);
        let l0_slowdown_writes_trigger = l0_compaction_trigger + rng.between_usize(2, 20);
        let l0_stop_writes_trigger = l0_slowdown_writes_trigger + rng.between_usize(1, 16);
        Self {
            memtable_capacity_bytes,
            memtable_partitions: rng.between_usize(1, 8),
            max_immutable_memtables: rng.between_usize(1, 4),
            sync,
            block_size_bytes: rng.log_uniform(64, 16 << 10) as usize,
            block_cache_capacity_bytes: if rng.chance(1, 3) { 0 } else { 1 << 20 },
            bloom_bits_per_key: rng.between(0, 24) as u32,
            zstd_level: rng
                .chance(1, 3)
                .then(|| [-1, 1, 3][rng.between_usize(0, 2)]),
            policy,
            l0_compaction_trigger,
            l0_slowdown_writes_trigger,
            l0_stop_writes_trigger,
            target_file_size_bytes: rng.log_uniform(1 << 10, 64 << 10),
            base_level_size_bytes: if rng.chance(1, 2) {
                rng.log_uniform(1 << 10, 4 << 10)
            } else {
                rng.log_uniform(16 << 10, 256 << 10)
            },
            background_threads: rng.between_usize(1, 4),
            memory_budget_memtables: rng.chance(1, 5).then(|| rng.between(4, 16)),
            // Tight bounds start space-amplification compactions often.
            max_space_amplification_tenths: [11, 12, 15, 15, 30, 100][rng.between_usize(0, 5)],
        }
    }

    /// The `DBOptions` of this draw, with the sequence's merge operator.
    pub fn to_db_options(&self, merge: MergeKind) -> DBOptions {
        let sync_policy = match self.sync {
            SyncDraw::Always => SyncPolicy::Always,
            SyncDraw::IntervalMs(ms) => SyncPolicy::Interval(Duration::from_millis(ms)),
            SyncDraw::Never => SyncPolicy::Never,
        };
        let compaction_policy = match self.policy {
            PolicyDraw::Adaptive => CompactionPolicy::Adaptive,
            PolicyDraw::Leveling(t) => CompactionPolicy::Fixed(valid(PolicyParams::leveling(t))),
            PolicyDraw::Tiering(t) => CompactionPolicy::Fixed(valid(PolicyParams::tiering(t))),
            PolicyDraw::LazyLeveling(t) => {
                CompactionPolicy::Fixed(valid(PolicyParams::lazy_leveling(t)))
            }
        };
        let compression = match self.zstd_level {
            Some(level) => Compression::Zstd { level },
            None => Compression::None,
        };
        let options = DBOptions::default()
            .memtable_capacity(self.memtable_capacity_bytes)
            .memtable_partitions(self.memtable_partitions)
            .max_immutable_memtables(self.max_immutable_memtables)
            .sync_policy(sync_policy)
            .block_size(self.block_size_bytes)
            .block_cache_capacity(self.block_cache_capacity_bytes)
            .bloom_bits_per_key(self.bloom_bits_per_key)
            .compression(compression)
            .compaction_policy(compaction_policy)
            .l0_compaction_trigger(self.l0_compaction_trigger)
            .l0_slowdown_writes_trigger(self.l0_slowdown_writes_trigger)
            .l0_stop_writes_trigger(self.l0_stop_writes_trigger)
            .target_file_size(self.target_file_size_bytes)
            .base_level_size(self.base_level_size_bytes)
            .background_threads(self.background_threads)
            .max_memory_bytes(
                self.memory_budget_memtables
                    .map(|count| count * self.memtable_capacity_bytes as u64),
            )
            .max_space_amplification(f64::from(self.max_space_amplification_tenths) / 10.0);
        merge.install(options)
    }
}

/// The params of a preset whose `T` was drawn in `2..=64`.
fn valid<E: std::fmt::Debug>(params: Result<PolicyParams, E>) -> PolicyParams {
    params.expect("T is drawn within 2..=64")
}

// Debug forms that are Rust expressions, so printed options paste into a
// regression test.

impl fmt::Debug for PolicyDraw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Adaptive => f.write_str("PolicyDraw::Adaptive"),
            Self::Leveling(t) => write!(f, "PolicyDraw::Leveling({t})"),
            Self::Tiering(t) => write!(f, "PolicyDraw::Tiering({t})"),
            Self::LazyLeveling(t) => write!(f, "PolicyDraw::LazyLeveling({t})"),
        }
    }
}

impl fmt::Debug for SyncDraw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("SyncDraw::Always"),
            Self::IntervalMs(ms) => write!(f, "SyncDraw::IntervalMs({ms})"),
            Self::Never => f.write_str("SyncDraw::Never"),
        }
    }
}
