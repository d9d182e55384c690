//! Adapters from each engine's API to [`crate::engine::Engine`]; the peers
//! are compiled only with their cargo features.

use std::path::Path;

use crate::engine::{not_built_in, Engine, EngineConfig, EngineKind};
use crate::error::{BenchError, Result};

#[cfg(feature = "fjall")]
mod fjall_engine;
#[cfg(feature = "rocksdb")]
mod rocksdb_engine;
mod seer_engine;

/// Whether the seer engine is compiled in (it needs seer-db's `DB` facade).
pub const SEER_BUILT_IN: bool = true;

/// Opens `kind` in `dir`.
pub fn open(kind: EngineKind, dir: &Path, config: &EngineConfig) -> Result<Box<dyn Engine>> {
    match kind {
        EngineKind::Seer => Ok(Box::new(seer_engine::SeerEngine::open(dir, config)?)),
        #[cfg(feature = "fjall")]
        EngineKind::Fjall => Ok(Box::new(fjall_engine::FjallEngine::open(dir, config)?)),
        #[cfg(feature = "rocksdb")]
        EngineKind::Rocksdb => Ok(Box::new(rocksdb_engine::RocksdbEngine::open(dir, config)?)),
        #[allow(unreachable_patterns)] // Reached only without the peers' features.
        _ => Err(not_built_in(kind)),
    }
}

/// How `kind` is configured from `config`, in its own terms.
pub fn settings(kind: EngineKind, config: &EngineConfig) -> String {
    let memtable_mib = config.memtable_bytes >> 20;
    let cache_mib = config.block_cache_bytes >> 20;
    let bloom = config.bloom_bits_per_key;
    match kind {
        EngineKind::Seer => format!(
            "seer-db {}: DBOptions: memtable_capacity {memtable_mib} MiB, block_cache_capacity \
             {cache_mib} MiB, bloom_bits_per_key {bloom}, compression {}, sync_policy Never \
             (per-write sync for fillsync), merge_operator U64AddOperator, compaction_policy {}",
            env!("SEER_BENCH_SEER_DB_VERSION"),
            if config.compression { "Zstd" } else { "None" },
            match config.seer_policy_tkz {
                None => "Adaptive".to_owned(),
                Some((t, k, z)) => format!("Fixed(T={t} K={k} Z={z})"),
            }
        ),
        EngineKind::Fjall => format!(
            "fjall {} (lsm-tree {}, built without lz4): keyspace max_memtable_size \
             {memtable_mib} MiB, cache_size {cache_mib} MiB, bloom {bloom} bits/key in every \
             level, data and index block compression None, data blocks 4 KiB, other options \
             default (leveled compaction, worker threads min(CPUs, 4), no write buffer cap), \
             journal flushed to the OS per write (persist(SyncData) after each write in \
             fillsync); no merge operator; no range delete (a batch's DeleteRange is a remove \
             of each key the range holds)",
            env!("SEER_BENCH_FJALL_VERSION"),
            env!("SEER_BENCH_LSM_TREE_VERSION"),
        ),
        EngineKind::Rocksdb => format!(
            "{}: write_buffer_size {memtable_mib} MiB (max_write_buffer_number 2), \
             LRU block cache {cache_mib} MiB, bloom {bloom} bits/key (full filter), compression \
             {}, block_size 4 KiB, WAL on, WriteOptions.sync only in fillsync, max_background_jobs 2, \
             associative u64-add merge operator",
            rocksdb_library(),
            if config.compression { "Lz4" } else { "None" }
        ),
    }
}

fn rocksdb_library() -> String {
    let crate_version = env!("SEER_BENCH_ROCKSDB_CRATE_VERSION");
    #[cfg(feature = "rocksdb")]
    {
        format!(
            "rocksdb crate {crate_version}, {}",
            rocksdb_engine::library_description()
        )
    }
    #[cfg(not(feature = "rocksdb"))]
    {
        format!("rocksdb crate {crate_version} (not built in)")
    }
}

/// Hands a point lookup's value, if found, to `visit`; whether it was found.
pub(crate) fn visit_found(value: Option<impl AsRef<[u8]>>, visit: &mut dyn FnMut(&[u8])) -> bool {
    match value {
        Some(value) => {
            visit(value.as_ref());
            true
        }
        None => false,
    }
}

/// Wraps an engine's error.
pub(crate) fn engine_error(engine: &'static str, error: impl std::fmt::Display) -> BenchError {
    BenchError::Engine {
        engine,
        message: error.to_string(),
    }
}
