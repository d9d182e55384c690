//! fjall 2 behind [`Engine`]: one keyspace with one partition.

use std::path::Path;

use fjall::{
    CompressionType, Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode,
};

use super::engine_error;
use crate::engine::{BatchOp, Direction, Engine, EngineConfig, EngineReport};
use crate::error::{BenchError, Result};

const NAME: &str = "fjall";

/// A fjall keyspace and the partition the benchmark uses.
pub struct FjallEngine {
    keyspace: Keyspace,
    partition: PartitionHandle,
}

impl FjallEngine {
    /// Opens or creates the keyspace in `dir`.
    pub fn open(dir: &Path, config: &EngineConfig) -> Result<Self> {
        let keyspace = Config::new(dir)
            .cache_size(config.block_cache_bytes)
            .max_write_buffer_size(config.memtable_bytes.saturating_mul(2).max(1 << 20))
            .open()
            .map_err(|error| engine_error(NAME, error))?;
        let memtable_bytes = u32::try_from(config.memtable_bytes).map_err(|_| {
            BenchError::InvalidArgument("fjall memtables are at most 4 GiB".to_owned())
        })?;
        let bloom_bits = u8::try_from(config.bloom_bits_per_key.min(20)).unwrap_or(10);
        let compression = if config.compression {
            CompressionType::Lz4
        } else {
            CompressionType::None
        };
        let options = PartitionCreateOptions::default()
            .max_memtable_size(memtable_bytes)
            .bloom_filter_bits(Some(bloom_bits))
            .block_size(4096)
            .compression(compression);
        let partition = keyspace
            .open_partition("bench", options)
            .map_err(|error| engine_error(NAME, error))?;
        Ok(Self {
            keyspace,
            partition,
        })
    }

    fn persist_if(&self, sync: bool) -> Result<()> {
        if sync {
            self.keyspace
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
        self.partition
            .insert(key, value)
            .map_err(|error| engine_error(NAME, error))?;
        self.persist_if(sync)
    }

    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self
            .partition
            .get(key)
            .map_err(|error| engine_error(NAME, error))?
        {
            Some(value) => {
                visit(&value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn delete(&self, key: &[u8], sync: bool) -> Result<()> {
        self.partition
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
        let mut batch = self.keyspace.batch();
        for op in ops {
            match *op {
                BatchOp::Put { key, value } => batch.insert(&self.partition, key, value),
                BatchOp::Delete { key } => batch.remove(&self.partition, key),
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
        let entries: Box<dyn Iterator<Item = fjall::Result<fjall::KvPair>>> =
            match (start, direction) {
                (None, Direction::Forward) => Box::new(self.partition.iter()),
                (None, Direction::Reverse) => Box::new(self.partition.iter().rev()),
                (Some(start), Direction::Forward) => Box::new(self.partition.range(start..)),
                (Some(start), Direction::Reverse) => Box::new(self.partition.range(..=start).rev()),
            };
        let mut visited = 0;
        for entry in entries.take(limit) {
            let (key, value) = entry.map_err(|error| engine_error(NAME, error))?;
            visited += 1;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(visited)
    }

    fn flush(&self) -> Result<()> {
        self.partition
            .rotate_memtable_and_wait()
            .map_err(|error| engine_error(NAME, error))
    }

    fn report(&self) -> EngineReport {
        EngineReport {
            write_amp: None,
            notes: Some(format!(
                "{} tables, {} compactions",
                self.partition.segment_count(),
                self.keyspace.compactions_completed()
            )),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.keyspace
            .persist(PersistMode::Buffer)
            .map_err(|error| engine_error(NAME, error))
    }
}
