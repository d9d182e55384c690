//! seerdb (the `seer-db` facade) behind [`Engine`].

use std::path::Path;

use seer_db::{
    Batch, CompactionPolicy, Compression, DBOptions, PolicyParams, SyncPolicy, U64AddOperator,
    WriteOptions, DB,
};

use super::{engine_error, visit_found};
use crate::engine::{BatchOp, Direction, Engine, EngineConfig, EngineReport, SeekCursor};
use crate::error::{BenchError, Result};

const NAME: &str = "seer";

/// An open seerdb.
pub struct SeerEngine {
    db: DB,
}

impl SeerEngine {
    /// Opens or creates the database in `dir`.
    pub fn open(dir: &Path, config: &EngineConfig) -> Result<Self> {
        let too_large = |what: &str| BenchError::InvalidArgument(format!("{what} too large"));
        let policy = match config.seer_policy_tkz {
            None => CompactionPolicy::Adaptive,
            Some((t, k, z)) => CompactionPolicy::Fixed(
                PolicyParams::new(t, k, z)
                    .map_err(|error| BenchError::InvalidArgument(error.to_string()))?,
            ),
        };
        let db = DBOptions::default()
            .compaction_policy(policy)
            .memtable_capacity(
                usize::try_from(config.memtable_bytes).map_err(|_| too_large("memtable"))?,
            )
            .block_cache_capacity(
                usize::try_from(config.block_cache_bytes).map_err(|_| too_large("block cache"))?,
            )
            .bloom_bits_per_key(config.bloom_bits_per_key)
            .compression(if config.compression {
                Compression::Zstd { level: 1 }
            } else {
                Compression::None
            })
            .sync_policy(SyncPolicy::Never)
            .merge_operator(U64AddOperator)
            .open(dir)
            .map_err(|error| engine_error(NAME, error))?;
        Ok(Self { db })
    }

    /// Writes `batch` with the per-write sync choice.
    fn commit(&self, batch: Batch, sync: bool) -> Result<()> {
        acknowledged(self.db.write(batch, write_options(sync)))
    }
}

/// A write's outcome without what seerdb reports about it.
fn acknowledged<T>(result: seer_db::Result<T>) -> Result<()> {
    result.map(drop).map_err(|error| engine_error(NAME, error))
}

/// Visits up to `limit` entries of `entries`, stopping when `visit` says so.
fn visit_entries<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    entries: impl Iterator<Item = seer_db::Result<(K, V)>>,
    limit: usize,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<u64> {
    let mut visited = 0;
    for entry in entries.take(limit) {
        let (key, value) = entry.map_err(|error| engine_error(NAME, error))?;
        visited += 1;
        if !visit(key.as_ref(), value.as_ref()) {
            break;
        }
    }
    Ok(visited)
}

/// seerdb's reusable [`seer_db::Cursor`]: seeks without rebuilding its
/// source stack.
struct SeerCursor(seer_db::Cursor);

impl SeekCursor for SeerCursor {
    fn seek_scan(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        let cursor = &mut self.0;
        let failed = |error| engine_error(NAME, error);
        cursor.seek(start).map_err(failed)?;
        let mut visited = 0;
        while visited < limit as u64 && cursor.valid() {
            visited += 1;
            if !visit(cursor.key(), cursor.value()) {
                break;
            }
            cursor.next().map_err(failed)?;
        }
        Ok(visited)
    }
}

fn write_options(sync: bool) -> WriteOptions {
    WriteOptions {
        sync,
        disable_wal: false,
    }
}

impl Engine for SeerEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        acknowledged(self.db.put_opt(key, value, write_options(sync)))
    }

    fn get(&self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let value = self
            .db
            .get(key)
            .map_err(|error| engine_error(NAME, error))?;
        Ok(visit_found(value, visit))
    }

    fn delete(&self, key: &[u8], sync: bool) -> Result<()> {
        acknowledged(self.db.delete_opt(key, write_options(sync)))
    }

    fn merge(&self, key: &[u8], operand: &[u8], sync: bool) -> Result<()> {
        acknowledged(self.db.merge_opt(key, operand, write_options(sync)))
    }

    fn write_batch(&self, ops: &[BatchOp<'_>], sync: bool) -> Result<()> {
        let mut batch = Batch::with_capacity(ops.len());
        for op in ops {
            match *op {
                BatchOp::Put { key, value } => batch.put(key, value),
                BatchOp::Delete { key } => batch.delete(key),
                BatchOp::DeleteRange { start, end } => batch.delete_range(start..end),
            };
        }
        self.commit(batch, sync)
    }

    fn scan(
        &self,
        start: Option<&[u8]>,
        direction: Direction,
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<u64> {
        match (start, direction) {
            (None, Direction::Forward) => visit_entries(self.db.iter(), limit, visit),
            (None, Direction::Reverse) => visit_entries(self.db.iter().rev(), limit, visit),
            (Some(start), Direction::Forward) => {
                visit_entries(self.db.range(start..), limit, visit)
            }
            (Some(start), Direction::Reverse) => {
                visit_entries(self.db.range(..=start).rev(), limit, visit)
            }
        }
    }

    fn cursor(&self) -> Result<Box<dyn SeekCursor + '_>> {
        let cursor = self
            .db
            .cursor()
            .map_err(|error| engine_error(NAME, error))?;
        Ok(Box::new(SeerCursor(cursor)))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(|error| engine_error(NAME, error))
    }

    fn report(&self) -> EngineReport {
        let metrics = self.db.metrics();
        let levels = metrics
            .levels
            .iter()
            .map(|level| format!("{}", level.tables))
            .collect::<Vec<_>>()
            .join("/");
        EngineReport {
            write_amp: Some(metrics.write_amplification),
            notes: Some(format!(
                "tables per level {levels}, {} compactions, policy {}, stalls {}",
                metrics.compaction_count, metrics.compaction_policy, metrics.stall_count
            )),
        }
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.db.close().map_err(|error| engine_error(NAME, error))
    }
}
