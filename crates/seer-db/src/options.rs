//! [`DBOptions`]: every knob of a database, its defaults, the presets
//! (`high_throughput`, `low_memory`, `durable`) and the validation run at
//! open time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use seer_compaction::picker::DEFAULT_MAX_SPACE_AMPLIFICATION;
use seer_compaction::{CompactionFilter, PolicyParams, MAX_FILTER_BITS_PER_KEY};
use seer_core::{Clock, FileSystem, MergeOperator, RealFileSystem, SharedFileSystem, SystemClock};
use seer_sstable::{Compression, MAX_BLOCK_SIZE_BYTES};
use seer_wal::{SyncPolicy, WalRecoveryMode};

use crate::error::{Error, Result};

/// Which compaction policy shapes the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompactionPolicy {
    /// Start from lazy leveling with `T = 10` and move toward the cheapest
    /// `(T, K, Z)` for the observed workload (Dostoevsky's cost model).
    #[default]
    Adaptive,
    /// Keep one fixed `(T, K, Z)`.
    Fixed(PolicyParams),
}

/// The largest key a table can hold (and so the largest `max_key_size`).
const KEY_SIZE_LIMIT_BYTES: usize = seer_sstable::MAX_ENTRY_PART_BYTES;
/// The largest value the WAL framing and tables can hold.
const VALUE_SIZE_LIMIT_BYTES: usize = seer_sstable::MAX_ENTRY_PART_BYTES;
/// The largest memtable capacity accepted (RocksDB's bound on
/// `write_buffer_size`); it keeps the memory arithmetic far from overflow.
const MEMTABLE_CAPACITY_LIMIT_BYTES: usize = 64 << 30;

/// Options of a database; build with the setters, then [`DBOptions::open`].
#[derive(Clone)]
pub struct DBOptions {
    pub(crate) memtable_capacity_bytes: usize,
    pub(crate) memtable_partitions: usize,
    pub(crate) max_immutable_memtables: usize,
    pub(crate) sync_policy: SyncPolicy,
    pub(crate) wal_recovery_mode: WalRecoveryMode,
    pub(crate) block_size_bytes: usize,
    pub(crate) block_cache_capacity_bytes: usize,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) compression: Compression,
    pub(crate) compaction_policy: CompactionPolicy,
    pub(crate) l0_compaction_trigger: usize,
    pub(crate) l0_slowdown_writes_trigger: usize,
    pub(crate) l0_stop_writes_trigger: usize,
    pub(crate) target_file_size_bytes: u64,
    pub(crate) base_level_size_bytes: u64,
    pub(crate) max_space_amplification: f64,
    pub(crate) levels_count: usize,
    pub(crate) max_memory_bytes: Option<u64>,
    pub(crate) max_total_wal_bytes: Option<u64>,
    pub(crate) max_total_memtable_bytes: Option<u64>,
    pub(crate) min_free_disk_bytes: Option<u64>,
    pub(crate) write_stall_timeout: Duration,
    pub(crate) max_key_size_bytes: usize,
    pub(crate) max_value_size_bytes: usize,
    pub(crate) merge_operator: Option<Arc<dyn MergeOperator>>,
    pub(crate) compaction_filter: Option<Arc<dyn CompactionFilter>>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) background_threads: usize,
    pub(crate) disable_metrics: bool,
    pub(crate) owned_values: bool,
    pub(crate) create_if_missing: bool,
    pub(crate) read_only: bool,
    pub(crate) file_system: SharedFileSystem,
}

impl Default for DBOptions {
    fn default() -> Self {
        Self {
            memtable_capacity_bytes: 64 << 20,
            memtable_partitions: seer_memtable::DEFAULT_PARTITIONS,
            max_immutable_memtables: 4,
            sync_policy: SyncPolicy::Always,
            wal_recovery_mode: WalRecoveryMode::TolerateCorruptedTail,
            block_size_bytes: 4096,
            block_cache_capacity_bytes: 64 << 20,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            compaction_policy: CompactionPolicy::Adaptive,
            l0_compaction_trigger: 4,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 36,
            target_file_size_bytes: 64 << 20,
            base_level_size_bytes: 256 << 20,
            max_space_amplification: DEFAULT_MAX_SPACE_AMPLIFICATION,
            levels_count: 7,
            max_memory_bytes: None,
            max_total_wal_bytes: None,
            max_total_memtable_bytes: None,
            min_free_disk_bytes: None,
            write_stall_timeout: Duration::from_secs(30),
            max_key_size_bytes: 64 << 10,
            max_value_size_bytes: 64 << 20,
            merge_operator: None,
            compaction_filter: None,
            default_ttl: None,
            clock: Arc::new(SystemClock),
            background_threads: 2,
            disable_metrics: false,
            owned_values: false,
            create_if_missing: true,
            read_only: false,
            file_system: RealFileSystem::shared(),
        }
    }
}

impl fmt::Debug for DBOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DBOptions")
            .field("memtable_capacity_bytes", &self.memtable_capacity_bytes)
            .field("memtable_partitions", &self.memtable_partitions)
            .field("max_immutable_memtables", &self.max_immutable_memtables)
            .field("sync_policy", &self.sync_policy)
            .field("wal_recovery_mode", &self.wal_recovery_mode)
            .field("block_size_bytes", &self.block_size_bytes)
            .field(
                "block_cache_capacity_bytes",
                &self.block_cache_capacity_bytes,
            )
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("compression", &self.compression)
            .field("compaction_policy", &self.compaction_policy)
            .field("max_space_amplification", &self.max_space_amplification)
            .field(
                "l0_slowdown_writes_trigger",
                &self.l0_slowdown_writes_trigger,
            )
            .field("l0_stop_writes_trigger", &self.l0_stop_writes_trigger)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .field("max_total_wal_bytes", &self.max_total_wal_bytes)
            .field("max_total_memtable_bytes", &self.max_total_memtable_bytes)
            .field("min_free_disk_bytes", &self.min_free_disk_bytes)
            .field("write_stall_timeout", &self.write_stall_timeout)
            .field(
                "merge_operator",
                &self.merge_operator.as_ref().map(|m| m.name().to_owned()),
            )
            .field(
                "compaction_filter",
                &self.compaction_filter.as_ref().map(|f| f.name().to_owned()),
            )
            .field("default_ttl", &self.default_ttl)
            .field("background_threads", &self.background_threads)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        }
    };
}

impl DBOptions {
    /// Large memtables, several background threads, no fsync per write
    /// (`SyncPolicy::Never`): the most writes per second, losing the last
    /// unsynced writes on power failure (never on a process crash).
    pub fn high_throughput() -> Self {
        Self::default()
            .memtable_capacity(128 << 20)
            .max_immutable_memtables(6)
            .sync_policy(SyncPolicy::Never)
            .background_threads(4)
            .l0_slowdown_writes_trigger(28)
            .l0_stop_writes_trigger(48)
    }

    /// Small memtables and cache, a 64 MiB memory budget: for small devices.
    pub fn low_memory() -> Self {
        Self::default()
            .memtable_capacity(4 << 20)
            .max_immutable_memtables(2)
            .block_cache_capacity(8 << 20)
            .max_memory_bytes(Some(64 << 20))
            .background_threads(1)
            .target_file_size(8 << 20)
            .base_level_size(32 << 20)
    }

    /// An fsync per commit group and strict WAL recovery: nothing
    /// acknowledged is ever lost, and any WAL damage is reported.
    pub fn durable() -> Self {
        Self::default()
            .sync_policy(SyncPolicy::Always)
            .wal_recovery_mode(WalRecoveryMode::AbsoluteConsistency)
    }

    setter!(
        /// Bytes a memtable holds before it is switched and flushed (1 KiB
        /// to 64 GiB); WAL replay at open flushes at the same capacity.
        memtable_capacity, memtable_capacity_bytes: usize
    );
    setter!(
        /// Skip-list partitions per memtable (1 to 256).
        memtable_partitions, memtable_partitions: usize
    );
    setter!(
        /// Immutable memtables waiting for flush before writes stop.
        max_immutable_memtables, max_immutable_memtables: usize
    );
    setter!(
        /// When the WAL is synced.
        sync_policy, sync_policy: SyncPolicy
    );
    setter!(
        /// How damaged WAL bytes are treated at open.
        wal_recovery_mode, wal_recovery_mode: WalRecoveryMode
    );
    setter!(
        /// Uncompressed size of a table's data blocks.
        block_size, block_size_bytes: usize
    );
    setter!(
        /// Bytes of decompressed blocks cached (0 disables the cache).
        block_cache_capacity, block_cache_capacity_bytes: usize
    );
    setter!(
        /// Bloom filter bits per key on average (0 disables filters; at
        /// most 24, the most any level's filter gets).
        bloom_bits_per_key, bloom_bits_per_key: u32
    );
    setter!(
        /// Compression of table data blocks.
        compression, compression: Compression
    );
    setter!(
        /// Adaptive (default) or a fixed `(T, K, Z)`.
        compaction_policy, compaction_policy: CompactionPolicy
    );
    setter!(
        /// Level-0 runs that trigger a level-0 compaction.
        l0_compaction_trigger, l0_compaction_trigger: usize
    );
    setter!(
        /// Level-0 runs from which writes are rate limited.
        l0_slowdown_writes_trigger, l0_slowdown_writes_trigger: usize
    );
    setter!(
        /// Level-0 runs from which writes stop until compaction catches up.
        l0_stop_writes_trigger, l0_stop_writes_trigger: usize
    );
    setter!(
        /// Flush and compaction outputs are cut at about this many bytes.
        target_file_size, target_file_size_bytes: u64
    );
    setter!(
        /// The least capacity of the level that level 0 compacts into.
        base_level_size, base_level_size_bytes: u64
    );
    setter!(
        /// Bound on space amplification, the tree's bytes over its live
        /// data (estimated as the largest level's bytes; default 1.5, the
        /// anchor being RocksDB universal compaction's
        /// `max_size_amplification_percent`): the adaptive policy only
        /// chooses shapes whose worst case at rest takes at most a quarter
        /// of the allowance (`seer_compaction::adaptive::shape_space_bound`,
        /// 1.125 at 1.5: the rest is for level 0 and running compactions),
        /// and a space-amplification compaction starts when the measured
        /// ratio (every level, level 0 included) passes it. Raise it to let
        /// the adaptive policy trade disk for cheaper writes (at 3.0 it may
        /// choose lazy leveling at `T = 3`). A finite ratio above 1.0.
        max_space_amplification, max_space_amplification: f64
    );
    setter!(
        /// Memory budget of memtables: flush early at 80%, stop writes at 95%.
        max_memory_bytes, max_memory_bytes: Option<u64>
    );
    setter!(
        /// Bytes of WAL segments past which the keyspaces holding data in
        /// the oldest segment are flushed, so one rarely written keyspace
        /// does not keep every segment (RocksDB's `max_total_wal_size`);
        /// `None` (the default): four memtables' capacity.
        max_total_wal_bytes, max_total_wal_bytes: Option<u64>
    );
    setter!(
        /// Bound on the memtables of all keyspaces together, active and
        /// immutable (RocksDB's `db_write_buffer_size`): when the active
        /// ones reach half of it, the keyspace with the largest active
        /// memtable is switched and flushed, however far it is from its own
        /// capacity; at the bound, writes to every keyspace stop until
        /// flushes bring the total back under it. `None` (the default):
        /// `max_immutable_memtables + 2` memtables of the database's
        /// capacity (384 MiB with the defaults), which a database with one
        /// keyspace never reaches. At least two memtables.
        max_total_memtable_bytes, max_total_memtable_bytes: Option<u64>
    );
    setter!(
        /// Writes stop while the disk has less free space than this.
        min_free_disk_bytes, min_free_disk_bytes: Option<u64>
    );
    setter!(
        /// How long a stopped write waits before failing with `WriteStall`,
        /// and the longest a slowed-down write is paced.
        write_stall_timeout, write_stall_timeout: Duration
    );
    setter!(
        /// Largest key accepted, in bytes.
        max_key_size, max_key_size_bytes: usize
    );
    setter!(
        /// Largest value (or merge operand) accepted, in bytes.
        max_value_size, max_value_size_bytes: usize
    );
    setter!(
        /// Compaction threads (one more thread always flushes).
        background_threads, background_threads: usize
    );
    setter!(
        /// Skip operation counts and latency sampling.
        disable_metrics, disable_metrics: bool
    );
    setter!(
        /// Copy every value returned to the user (by `get`, `multi_get`,
        /// snapshots, transactions and iterators) into its own allocation.
        /// By default (`false`) a value read from a table is a zero-copy
        /// slice of the table's memory map: cheap, but a value kept after
        /// compaction deleted its table keeps that table's disk space (and
        /// the mapping) until the value is dropped. With `true` no returned
        /// value pins a table, at the cost of one allocation and copy per
        /// value returned.
        owned_values, owned_values: bool
    );
    setter!(
        /// Create the directory and a new database when missing (default).
        create_if_missing, create_if_missing: bool
    );
    setter!(
        /// Open read-only (default `false`), as
        /// [`DB::open_read_only`](crate::DB::open_read_only) does: without
        /// the directory lock (another process may hold the database open
        /// for writing) and without writing, creating, renaming or deleting
        /// a file; reads see the manifest's tree plus the WAL replayed into
        /// memory, [`DB::try_catch_up`](crate::DB::try_catch_up) moves to
        /// the writer's newer state, and every write fails with
        /// [`Error::OpenedReadOnly`].
        /// `create_if_missing` is ignored.
        read_only, read_only: bool
    );

    /// The operator that resolves `merge` operands (e.g. [`crate::U64AddOperator`]).
    #[must_use]
    pub fn merge_operator(mut self, operator: impl MergeOperator) -> Self {
        self.merge_operator = Some(Arc::new(operator));
        self
    }

    /// The filter compactions ask about every put they keep (default: none):
    /// keep it, remove the key, or change its value. It is shown only a
    /// key's newest version, and only when no live snapshot can read that
    /// version; flushes do not call it (`docs/OPERATIONS.md`, "Compaction
    /// filters").
    #[must_use]
    pub fn compaction_filter(mut self, filter: impl CompactionFilter) -> Self {
        self.compaction_filter = Some(Arc::new(filter));
        self
    }

    /// The time to live of plain puts (`put`, `Batch::put`, transactions'
    /// puts; default `None`: they never expire): when set, each is written
    /// as an expiring put, as [`DB::put_with_ttl`](crate::DB::put_with_ttl)
    /// writes it. Changing it affects only later writes.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The wall clock that stamps expiring puts and decides, on every read
    /// and compaction, whether they have expired (default: the system's;
    /// tests inject a [`crate::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The file system all I/O goes through (default: the real one).
    #[must_use]
    pub fn file_system(mut self, file_system: Arc<dyn FileSystem>) -> Self {
        self.file_system = file_system;
        self
    }

    /// The WAL size bound in force (see [`DBOptions::max_total_wal_bytes`]).
    pub(crate) fn wal_bound_bytes(&self) -> u64 {
        self.max_total_wal_bytes
            .unwrap_or(4 * self.memtable_capacity_bytes as u64)
    }

    /// The bound on all keyspaces' memtables in force (see
    /// [`DBOptions::max_total_memtable_bytes`]).
    pub(crate) fn memtable_bound_bytes(&self) -> u64 {
        self.max_total_memtable_bytes
            .unwrap_or_else(|| self.default_memtable_bound_bytes())
    }

    /// The default of [`DBOptions::max_total_memtable_bytes`]: more than
    /// one keyspace's memtables can hold.
    pub(crate) fn default_memtable_bound_bytes(&self) -> u64 {
        let memtables = self.max_immutable_memtables.saturating_add(2) as u64;
        memtables.saturating_mul(self.memtable_capacity_bytes as u64)
    }

    /// The configured merge operator.
    pub(crate) fn merge_operator_ref(&self) -> Option<&dyn MergeOperator> {
        self.merge_operator.as_deref()
    }

    /// The compaction policy to start from.
    pub(crate) fn initial_policy(&self) -> PolicyParams {
        match self.compaction_policy {
            CompactionPolicy::Fixed(params) => params,
            CompactionPolicy::Adaptive => default_adaptive_start(),
        }
    }

    /// Checks every option; the first problem is an `InvalidArgument`.
    pub(crate) fn validate(&self) -> Result<()> {
        let checks: [(bool, &str); 15] = [
            (
                (1024..=MEMTABLE_CAPACITY_LIMIT_BYTES).contains(&self.memtable_capacity_bytes),
                "memtable_capacity must be 1 KiB..=64 GiB",
            ),
            (
                (1..=256).contains(&self.memtable_partitions),
                "memtable_partitions must be 1..=256",
            ),
            (
                self.max_immutable_memtables >= 1,
                "max_immutable_memtables must be at least 1",
            ),
            (
                (64..=MAX_BLOCK_SIZE_BYTES).contains(&self.block_size_bytes),
                "block_size must be 64 bytes..=64 MiB",
            ),
            (
                f64::from(self.bloom_bits_per_key) <= MAX_FILTER_BITS_PER_KEY,
                "bloom_bits_per_key must be at most 24",
            ),
            (
                self.l0_compaction_trigger >= 1,
                "l0_compaction_trigger must be at least 1",
            ),
            (
                self.l0_slowdown_writes_trigger >= self.l0_compaction_trigger,
                "l0_slowdown_writes_trigger must be at least l0_compaction_trigger",
            ),
            (
                self.l0_stop_writes_trigger > self.l0_slowdown_writes_trigger,
                "l0_stop_writes_trigger must exceed l0_slowdown_writes_trigger",
            ),
            (
                self.target_file_size_bytes >= 1024,
                "target_file_size must be at least 1 KiB",
            ),
            (
                (2..=16).contains(&self.levels_count),
                "levels must be 2..=16",
            ),
            (
                self.max_key_size_bytes <= KEY_SIZE_LIMIT_BYTES,
                "max_key_size exceeds what a table can hold",
            ),
            (
                self.max_value_size_bytes <= VALUE_SIZE_LIMIT_BYTES,
                "max_value_size exceeds what a table can hold",
            ),
            (
                (1..=64).contains(&self.background_threads),
                "background_threads must be 1..=64",
            ),
            (
                !self.write_stall_timeout.is_zero(),
                "write_stall_timeout must be positive",
            ),
            (
                self.max_space_amplification.is_finite() && self.max_space_amplification > 1.0,
                "max_space_amplification must be a finite ratio above 1.0 (bytes on disk over live bytes, e.g. 1.5)",
            ),
        ];
        if let Some((_, reason)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(Error::invalid(*reason));
        }
        if let Some(budget) = self.max_memory_bytes {
            let two_memtables_bytes = u64::try_from(self.memtable_capacity_bytes)
                .ok()
                .and_then(|c| c.checked_mul(2));
            if two_memtables_bytes.is_none_or(|needed| budget < needed) {
                return Err(Error::invalid(
                    "max_memory_bytes must hold at least two memtables",
                ));
            }
        }
        if self.memtable_bound_bytes() < 2 * self.memtable_capacity_bytes as u64 {
            return Err(Error::invalid(
                "max_total_memtable_bytes must hold at least two memtables",
            ));
        }
        if let Compression::Zstd { level } = self.compression {
            if !(-7..=22).contains(&level) {
                return Err(Error::invalid("zstd level must be -7..=22"));
            }
        }
        if let SyncPolicy::Interval(period) = self.sync_policy {
            if period.is_zero() {
                return Err(Error::invalid(
                    "SyncPolicy::Interval needs a positive period",
                ));
            }
        }
        Ok(())
    }
}

/// The adaptive policy's starting point: lazy leveling with `T = 10`.
fn default_adaptive_start() -> PolicyParams {
    PolicyParams::lazy_leveling(10).expect("T = 10 lazy leveling is a valid policy")
}

/// The options of a named keyspace that may differ from the database's
/// [`DBOptions`]: each one left unset is the database's. As with
/// `DBOptions`, a reopen may change them (a keyspace written with a merge
/// operator must be opened with the same one).
#[derive(Clone, Default)]
pub struct KeyspaceOptions {
    merge_operator: Option<Arc<dyn MergeOperator>>,
    compaction_policy: Option<CompactionPolicy>,
    bloom_bits_per_key: Option<u32>,
    compression: Option<Compression>,
    block_size_bytes: Option<usize>,
    memtable_capacity_bytes: Option<usize>,
    default_ttl: Option<Option<Duration>>,
    compaction_filter: Option<Arc<dyn CompactionFilter>>,
}

impl std::fmt::Debug for KeyspaceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceOptions")
            .field(
                "merge_operator",
                &self.merge_operator.as_ref().map(|op| op.name().to_owned()),
            )
            .field("compaction_policy", &self.compaction_policy)
            .field("bloom_bits_per_key", &self.bloom_bits_per_key)
            .field("compression", &self.compression)
            .field("block_size_bytes", &self.block_size_bytes)
            .field("memtable_capacity_bytes", &self.memtable_capacity_bytes)
            .field("default_ttl", &self.default_ttl)
            .field(
                "compaction_filter",
                &self.compaction_filter.as_ref().map(|f| f.name().to_owned()),
            )
            .finish()
    }
}

impl KeyspaceOptions {
    /// The keyspace's merge operator (the database's is not inherited: a
    /// keyspace without one takes no merges).
    #[must_use]
    pub fn merge_operator(mut self, operator: impl MergeOperator) -> Self {
        self.merge_operator = Some(Arc::new(operator));
        self
    }

    /// The keyspace's compaction policy.
    #[must_use]
    pub fn compaction_policy(mut self, policy: CompactionPolicy) -> Self {
        self.compaction_policy = Some(policy);
        self
    }

    /// Bloom filter bits per key of the keyspace's tables.
    #[must_use]
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = Some(bits);
        self
    }

    /// Compression of the keyspace's table data blocks.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Uncompressed size of the keyspace's data blocks.
    #[must_use]
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size_bytes = Some(bytes);
        self
    }

    /// Bytes one of the keyspace's memtables holds before it is flushed.
    #[must_use]
    pub fn memtable_capacity(mut self, bytes: usize) -> Self {
        self.memtable_capacity_bytes = Some(bytes);
        self
    }

    /// The time to live of the keyspace's plain puts (its own, batches'
    /// and transactions' writes to it), as
    /// [`DBOptions::default_ttl`] for the database's; unset, the
    /// database's. `None` here: they never expire.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The keyspace's compaction filter (see
    /// [`DBOptions::compaction_filter`], whose filter applies to the
    /// default keyspace only: a keyspace without one filters nothing).
    #[must_use]
    pub fn compaction_filter(mut self, filter: impl CompactionFilter) -> Self {
        self.compaction_filter = Some(Arc::new(filter));
        self
    }

    /// The options of the keyspace's engine: `base` (the database's) with
    /// these set over it, one background compaction thread, and no merge
    /// operator or compaction filter unless set here.
    pub(crate) fn apply(&self, base: &DBOptions) -> DBOptions {
        let mut options = base.clone();
        // The bound on all keyspaces' memtables is the database's.
        options.max_total_memtable_bytes = Some(base.memtable_bound_bytes());
        options.merge_operator.clone_from(&self.merge_operator);
        options
            .compaction_filter
            .clone_from(&self.compaction_filter);
        options.background_threads = 1;
        if let Some(policy) = self.compaction_policy {
            options.compaction_policy = policy;
        }
        if let Some(bits) = self.bloom_bits_per_key {
            options.bloom_bits_per_key = bits;
        }
        if let Some(compression) = self.compression {
            options.compression = compression;
        }
        if let Some(bytes) = self.block_size_bytes {
            options.block_size_bytes = bytes;
        }
        if let Some(bytes) = self.memtable_capacity_bytes {
            options.memtable_capacity_bytes = bytes;
        }
        if let Some(ttl) = self.default_ttl {
            options.default_ttl = ttl;
        }
        options
    }
}
