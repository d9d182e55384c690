//! RocksDB (the `rocksdb` crate) behind [`Engine`].

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, MergeOperands, Options, WriteBatch, WriteOptions,
    DB,
};

use super::{engine_error, visit_found};
use crate::engine::{
    decode_counter, BatchOp, Direction, Engine, EngineConfig, EngineReport, SeekCursor,
};
use crate::error::{BenchError, Result};
use crate::host;

const NAME: &str = "rocksdb";

/// An open RocksDB and the two write modes the benchmark uses.
pub struct RocksdbEngine {
    db: DB,
    buffered: WriteOptions,
    synced: WriteOptions,
}

impl RocksdbEngine {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, config: &EngineConfig) -> Result<Self> {
        let block_cache_bytes = usize::try_from(config.block_cache_bytes)
            .map_err(|_| BenchError::InvalidArgument("block cache too large".to_owned()))?;
        let memtable_bytes = usize::try_from(config.memtable_bytes)
            .map_err(|_| BenchError::InvalidArgument("memtable too large".to_owned()))?;
        let cache = Cache::new_lru_cache(block_cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_block_size(4096);
        table.set_bloom_filter(f64::from(config.bloom_bits_per_key), false);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_write_buffer_size(memtable_bytes);
        options.set_max_write_buffer_number(2);
        options.set_max_background_jobs(2);
        options.set_compression_type(if config.compression {
            DBCompressionType::Lz4
        } else {
            DBCompressionType::None
        });
        options.set_block_based_table_factory(&table);
        options.set_merge_operator_associative("u64_add", u64_add);
        let db = DB::open(&options, dir).map_err(|error| engine_error(NAME, error))?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(Self {
            db,
            buffered: WriteOptions::default(),
            synced,
        })
    }

    fn write_options(&self, sync: bool) -> &WriteOptions {
        if sync {
            &self.synced
        } else {
            &self.buffered
        }
    }
}

/// Which RocksDB this build measures: the linked library and the version it
/// writes into a new database's OPTIONS file (`rocksdb_version=`).
pub fn library_description() -> String {
    let reported = library_version().unwrap_or_else(|| "unknown".to_owned());
    #[cfg(rocksdb_system_lib)]
    {
        let dir = std::path::Path::new(env!("SEER_BENCH_ROCKSDB_LIB_DIR"));
        format!(
            "system librocksdb from {} (the library reports RocksDB {reported})",
            dir.display()
        )
    }
    #[cfg(not(rocksdb_system_lib))]
    {
        format!(
            "bundled RocksDB built from source by librocksdb-sys {} (the library reports \
             RocksDB {reported})",
            env!("SEER_BENCH_LIBROCKSDB_SYS_VERSION")
        )
    }
}

/// The version the linked RocksDB records in a fresh database it creates in a
/// scratch directory (the C API has no version call).
fn library_version() -> Option<String> {
    let dir =
        std::env::temp_dir().join(format!("seer-bench-rocksdb-version-{}", std::process::id()));
    let mut options = Options::default();
    options.create_if_missing(true);
    let version = DB::open(&options, &dir)
        .ok()
        .map(drop)
        .and_then(|()| host::setting_in_files(&dir, "OPTIONS-", "rocksdb_version"));
    // A scratch directory left behind is harmless; the version is what matters.
    let _ = host::remove_dir(&dir);
    version
}

/// The u64 add operator: the sum of the existing value and every operand.
fn u64_add(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let sum = operands
        .iter()
        .fold(decode_counter(existing), |sum, operand| {
            sum.wrapping_add(decode_counter(Some(operand)))
        });
    Some(sum.to_le_bytes().to_vec())
}

/// RocksDB's raw iterator, kept by one thread and re-seeked for every
/// operation (as RocksDB's own `db_bench` reuses iterators).
struct RawCursor<'db>(rocksdb::DBRawIterator<'db>);

impl SeekCursor for RawCursor<'_> {
    fn seek_scan(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        self.0.seek(start);
        walk(&mut self.0, Direction::Forward, limit, visit)
    }
}

/// Visits up to `limit` entries of `iter` from where it is positioned,
/// stepping in `direction`, until `visit` returns false; the number
/// visited.
fn walk(
    iter: &mut rocksdb::DBRawIterator<'_>,
    direction: Direction,
    limit: usize,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<u64> {
    let mut visited = 0u64;
    while visited < limit as u64 {
        let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
            break;
        };
        visited += 1;
        if !visit(key, value) {
            break;
        }
        match direction {
            Direction::Forward => iter.next(),
            Direction::Reverse => iter.prev(),
        }
    }
    iter.status().map_err(|error| engine_error(NAME, error))?;
    Ok(visited)
}

impl Engine for RocksdbEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.db
            .put_opt(key, value, self.write_options(sync))
            .map_err(|error| engine_error(NAME, error))
    }

    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let value = self
            .db
            .get_pinned(key)
            .map_err(|error| engine_error(NAME, error))?;
        Ok(visit_found(value, visit))
    }

    fn delete(&self, key: &[u8], sync: bool) -> Result<()> {
        self.db
            .delete_opt(key, self.write_options(sync))
            .map_err(|error| engine_error(NAME, error))
    }

    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> Result<()> {
        self.db
            .merge_opt(key, operand, self.write_options(sync))
            .map_err(|error| engine_error(NAME, error))
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> Result<()> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match *op {
                BatchOp::Put { key, value } => batch.put(key, value),
                BatchOp::Delete { key } => batch.delete(key),
                BatchOp::DeleteRange { start, end } => batch.delete_range(start, end),
            }
        }
        self.db
            .write_opt(batch, self.write_options(sync))
            .map_err(|error| engine_error(NAME, error))
    }

    fn scan(
        &self,
        start: Option<&[u8]>,
        direction: Direction,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        let mut iter = self.db.raw_iterator();
        match (start, direction) {
            (None, Direction::Forward) => iter.seek_to_first(),
            (None, Direction::Reverse) => iter.seek_to_last(),
            (Some(start), Direction::Forward) => iter.seek(start),
            (Some(start), Direction::Reverse) => iter.seek_for_prev(start),
        }
        walk(&mut iter, direction, limit, visit)
    }

    /// One raw iterator per thread, re-seeked for every operation (it reads
    /// the state of its creation, which a read-only workload does not
    /// change).
    fn cursor(&self) -> Result<Box<dyn SeekCursor + '_>> {
        Ok(Box::new(RawCursor(self.db.raw_iterator())))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|error| engine_error(NAME, error))
    }

    fn report(&self) -> EngineReport {
        let level_files = (0..7)
            .filter_map(|level| {
                self.db
                    .property_int_value(&format!("rocksdb.num-files-at-level{level}"))
                    .ok()
                    .flatten()
            })
            .map(|count| count.to_string())
            .collect::<Vec<_>>()
            .join("/");
        EngineReport {
            write_amp: None,
            notes: Some(format!("files per level {level_files}")),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.cancel_all_background_work(true);
        Ok(())
    }
}
