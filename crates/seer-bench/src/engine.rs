//! The one trait every measured engine implements, the settings they are all
//! given, and the list of engines compiled into this build.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};

/// Scan direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys (`next`).
    Forward,
    /// Descending keys (`prev`).
    Reverse,
}

/// One write of a batch.
#[derive(Debug, Clone, Copy)]
pub enum BatchOp<'a> {
    /// Insert or replace `key` with `value`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Remove every key in `start..end` (`end` excluded): one range
    /// tombstone in engines that have range deletion, per-key deletes of the
    /// keys found in the range in those that do not (the engine's settings
    /// say which).
    DeleteRange {
        /// First key removed.
        start: &'a [u8],
        /// First key past the range.
        end: &'a [u8],
    },
}

/// What an engine says about itself after a run, beyond what the harness
/// measures from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineReport {
    /// Write amplification as the engine counts it, if it does.
    pub write_amp: Option<f64>,
    /// Anything else worth printing (one line).
    pub notes: Option<String>,
}

/// A cursor one thread keeps for many seeks ([`Engine::cursor`]).
pub trait SeekCursor {
    /// Visits up to `limit` entries forward from the first key at or after
    /// `start`, as [`Engine::scan`] does, reusing the cursor. Stops early
    /// when `visit` returns false; returns the number of entries visited.
    fn seek_scan(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64>;
}

/// The [`SeekCursor`] of an engine without a reusable cursor: every seek is
/// a new [`Engine::scan`].
pub struct ScanPerSeek<'e>(pub &'e dyn Engine);

impl SeekCursor for ScanPerSeek<'_> {
    fn seek_scan(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        self.0.scan(Some(start), Direction::Forward, limit, visit)
    }
}

/// A key-value engine under test. All methods take `&self`: one engine is
/// shared by every thread of a job.
pub trait Engine: Send + Sync {
    /// The engine's name, as given to `--engines`.
    fn name(&self) -> &'static str;
    /// Inserts or replaces `key`; `sync` makes the write durable (fdatasync)
    /// before returning.
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()>;
    /// Looks `key` up; calls `visit` with the value when found.
    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool>;
    /// Removes `key`.
    fn delete(&self, key: &[u8], sync: bool) -> Result<()>;
    /// Adds `operand` (a little-endian u64) to the counter at `key`.
    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> Result<()>;
    /// Applies `ops` atomically.
    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> Result<()>;
    /// Visits up to `limit` entries in `direction`, starting at the first key
    /// at or after `start` (forward) or at or before it (reverse), or at the
    /// first (last) key when `start` is `None`. Stops early when `visit`
    /// returns false. Returns the number of entries visited.
    fn scan(
        &self,
        start: Option<&[u8]>,
        direction: Direction,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64>;
    /// A cursor for one thread's repeated seeks (`seekcursor`): the
    /// engine's reusable cursor where it has one, else [`ScanPerSeek`].
    fn cursor(&self) -> Result<Box<dyn SeekCursor + '_>>;
    /// Writes every memtable to tables and waits for it.
    fn flush(&self) -> Result<()>;
    /// The engine's own statistics.
    fn report(&self) -> EngineReport;
    /// Closes the engine, waiting for its threads.
    fn close(self: Box<Self>) -> Result<()>;
}

/// The settings every engine is opened with, the same for all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Size of one memtable (write buffer).
    pub memtable_bytes: u64,
    /// Capacity of the block cache.
    pub block_cache_bytes: u64,
    /// Bloom filter bits per key.
    pub bloom_bits_per_key: u32,
    /// Whether tables are compressed (zstd/lz4 as the engine prefers).
    pub compression: bool,
    /// seerdb's compaction policy as `(T, K, Z)`, fixed; `None`: adaptive,
    /// the database's default. The peers keep their own defaults.
    #[serde(default)]
    pub seer_policy_tkz: Option<(u32, u32, u32)>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memtable_bytes: 64 << 20,
            block_cache_bytes: 64 << 20,
            bloom_bits_per_key: 10,
            compression: false,
            seer_policy_tkz: None,
        }
    }
}

impl fmt::Display for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memtable {} MiB, block cache {} MiB, bloom {} bits/key, compression {}, WAL on, \
             fsync per write only in fillsync (or with --sync)",
            self.memtable_bytes >> 20,
            self.block_cache_bytes >> 20,
            self.bloom_bits_per_key,
            if self.compression { "on" } else { "off" },
        )
    }
}

/// The engines this harness knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// seerdb.
    Seer,
    /// fjall (cargo feature `fjall`).
    Fjall,
    /// RocksDB through the `rocksdb` crate (cargo feature `rocksdb`).
    Rocksdb,
}

impl EngineKind {
    /// Every engine, built in or not.
    pub const ALL: [EngineKind; 3] = [Self::Seer, Self::Fjall, Self::Rocksdb];

    /// The engine's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seer => "seer",
            Self::Fjall => "fjall",
            Self::Rocksdb => "rocksdb",
        }
    }

    /// Whether this build can run the engine.
    pub fn is_built_in(self) -> bool {
        match self {
            Self::Seer => crate::engines::SEER_BUILT_IN,
            Self::Fjall => cfg!(feature = "fjall"),
            Self::Rocksdb => cfg!(feature = "rocksdb"),
        }
    }

    /// The cargo feature that builds the engine in, if it is optional.
    pub fn cargo_feature(self) -> Option<&'static str> {
        match self {
            Self::Seer => None,
            Self::Fjall => Some("fjall"),
            Self::Rocksdb => Some("rocksdb"),
        }
    }

    /// How this engine is configured from an [`EngineConfig`], in its own
    /// terms, for the report.
    pub fn settings(self, config: &EngineConfig) -> String {
        crate::engines::settings(self, config)
    }

    /// Opens (creating if needed) the engine in `dir`.
    pub fn open(self, dir: &Path, config: &EngineConfig) -> Result<Box<dyn Engine>> {
        if !self.is_built_in() {
            return Err(not_built_in(self));
        }
        crate::engines::open(self, dir, config)
    }
}

/// The error for an engine this build does not contain.
pub fn not_built_in(kind: EngineKind) -> BenchError {
    let hint = match kind.cargo_feature() {
        Some(feature) => {
            format!("rebuild with `--features {feature}` (or `cargo xtask bench --engines ...`)")
        }
        None => "seer-db has no DB facade in this build yet".to_owned(),
    };
    BenchError::InvalidArgument(format!("engine {} is not built in: {hint}", kind.name()))
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = BenchError;

    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name.trim())
            .ok_or_else(|| {
                BenchError::InvalidArgument(format!(
                    "unknown engine {name:?} (known: seer, fjall, rocksdb)"
                ))
            })
    }
}

/// The engines compiled into this build, in the order they are listed.
pub fn built_in_engines() -> Vec<EngineKind> {
    EngineKind::ALL
        .into_iter()
        .filter(|kind| kind.is_built_in())
        .collect()
}

/// Decodes a little-endian u64 counter, treating a missing or short value as 0.
pub fn decode_counter(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|bytes| bytes.get(..8))
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(0, u64::from_le_bytes)
}
