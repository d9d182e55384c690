//! fjall 3 behind [`Engine`]: one database with one keyspace.

use std::path::Path;

use fjall::config::{
    BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry,
};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{engine_error, visit_found};
use crate::engine::{
    BatchOp, Direction, Engine, EngineConfig, EngineReport, ScanPerSeek, SeekCursor,
};
use crate::error::{BenchError, Result};

const NAME: &str = "fjall";

/// Data block size, as the other engines use.
const BLOCK_SIZE_BYTES: u32 = 4096;

/// A fjall database and the keyspace the benchmark uses.
pub struct FjallEngine {
    db: Database,
    keyspace: Keyspace,
}

impl FjallEngine {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, config: &EngineConfig) -> Result<Self> {
        if config.compression {
            // seer-bench builds fjall without its `lz4` feature.
            return Err(BenchError::InvalidArgument(
                "fjall is built without compression (no `lz4` feature)".to_owned(),
            ));
        }
        let db = Database::builder(dir)
            .cache_size(config.block_cache_bytes)
            .open()
            .map_err(|error| engine_error(NAME, error))?;
        let bloom_bits = f32::from(u16::try_from(config.bloom_bits_per_key).unwrap_or(u16::MAX));
        let memtable_bytes = config.memtable_bytes;
        let keyspace = db
            .keyspace("bench", || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(memtable_bytes)
                    .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                        BloomConstructionPolicy::BitsPerKey(bloom_bits),
                    )))
                    .data_block_size_policy(BlockSizePolicy::all(BLOCK_SIZE_BYTES))
                    .data_block_compression_policy(CompressionPolicy::all(CompressionType::None))
                    .index_block_compression_policy(CompressionPolicy::all(CompressionType::None))
            })
            .map_err(|error| engine_error(NAME, error))?;
        Ok(Self { db, keyspace })
    }

    fn persist_if(&self, sync: bool) -> Result<()> {
        if sync {
            self.db
                .persist(PersistMode::SyncData)
                .map_err(|error| engine_error(NAME, error))?;
        }
        Ok(())
    }
}

impl Engine for FjallEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.keyspace
            .insert(key, value)
            .map_err(|error| engine_error(NAME, error))?;
        self.persist_if(sync)
    }

    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let value = self
            .keyspace
            .get(key)
            .map_err(|error| engine_error(NAME, error))?;
        Ok(visit_found(value, visit))
    }

    fn delete(&self, key: &[u8], sync: bool) -> Result<()> {
        self.keyspace
            .remove(key)
            .map_err(|error| engine_error(NAME, error))?;
        self.persist_if(sync)
    }

    fn merge(&self, _key: &[u8], _operand: &[u8], _sync: bool) -> Result<()> {
        Err(BenchError::Unsupported {
            engine: NAME,
            operation: "merge",
        })
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> Result<()> {
        let mut batch = self.db.batch();
        for op in ops {
            match *op {
                BatchOp::Put { key, value } => batch.insert(&self.keyspace, key, value),
                BatchOp::Delete { key } => batch.remove(&self.keyspace, key),
                // fjall has no range deletion (`drop_range` drops whole
                // tables only): delete the keys the range holds.
                BatchOp::DeleteRange { start, end } => {
                    for entry in self.keyspace.range(start..end) {
                        let key = entry.key().map_err(|error| engine_error(NAME, error))?;
                        batch.remove(&self.keyspace, key);
                    }
                }
            }
        }
        batch.commit().map_err(|error| engine_error(NAME, error))?;
        self.persist_if(sync)
    }

    fn scan(
        &self,
        start: Option<&[u8]>,
        direction: Direction,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        let entries: Box<dyn Iterator<Item = fjall::Guard>> = match (start, direction) {
            (None, Direction::Forward) => Box::new(self.keyspace.iter()),
            (None, Direction::Reverse) => Box::new(self.keyspace.iter().rev()),
            (Some(start), Direction::Forward) => Box::new(self.keyspace.range(start..)),
            (Some(start), Direction::Reverse) => Box::new(self.keyspace.range(..=start).rev()),
        };
        let mut visited = 0;
        for entry in entries.take(limit) {
            let (key, value) = entry
                .into_inner()
                .map_err(|error| engine_error(NAME, error))?;
            visited += 1;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(visited)
    }

    /// fjall 3 has no cursor that seeks again: its closest equivalent is a
    /// new `range(start..)` per seek, as `seekrandom` does.
    fn cursor(&self) -> Result<Box<dyn SeekCursor + '_>> {
        Ok(Box::new(ScanPerSeek(self)))
    }

    fn flush(&self) -> Result<()> {
        self.keyspace
            .rotate_memtable_and_wait()
            .map_err(|error| engine_error(NAME, error))
    }

    fn report(&self) -> EngineReport {
        EngineReport {
            write_amp: None,
            notes: Some(format!(
                "{} tables, {} compactions",
                self.keyspace.table_count(),
                self.db.compactions_completed()
            )),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db
            .persist(PersistMode::Buffer)
            .map_err(|error| engine_error(NAME, error))
    }
}
