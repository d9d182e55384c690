//! Flush: the oldest immutable memtable becomes a level-0 table (one new
//! sorted run), recorded in the manifest with the WAL log number that makes
//! its segment obsolete; then the immutable leaves the memtable set and the
//! obsolete WAL segments are deleted.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use seer_compaction::{Version, VersionEdit};
use seer_core::filename::file_name;
use seer_core::{FileKind, InternalIterator, SharedFileSystem};
use seer_memtable::Memtable;
use seer_sstable::{TableBuilder, TableMeta, TableOptions};
use seer_wal::delete_segments_before;

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::memtables::Frozen;
use crate::options::DBOptions;
use crate::tree::open_table;

/// Flushes immutable memtables, oldest first, until none is left.
pub(crate) fn flush_all(db: &DbInner) -> Result<()> {
    while let Some(frozen) = db.memtables().oldest_immutable() {
        flush_one(db, &frozen)?;
        db.jobs.announce_progress();
        db.jobs.wake_compaction();
    }
    Ok(())
}

fn flush_one(db: &DbInner, frozen: &Frozen) -> Result<()> {
    let started = Instant::now();
    let span = tracing::info_span!("flush", wal_segment = frozen.wal_segment);
    let _entered = span.enter();
    let number = db.tree().new_file_number();
    let dir = db.dir.path();
    let version = Arc::clone(&db.tree().current().version);
    let mut edit = VersionEdit::new();
    let mut new_tables = Vec::new();
    if !frozen.memtable.is_empty() {
        let meta = build_table(
            &db.fs,
            dir,
            number,
            &frozen.memtable,
            db.options(),
            &version,
            "flush",
        )?;
        db.metrics()
            .flush_bytes
            .fetch_add(meta.file_size_bytes, Ordering::Relaxed);
        edit.last_seq = Some(meta.largest_seq);
        new_tables.push(open_table(
            db.fs.as_ref(),
            dir,
            number,
            db.block_cache.clone(),
        )?);
        tracing::info!(
            table = number,
            entries = meta.entry_count,
            bytes = meta.file_size_bytes,
            "flushed memtable"
        );
        edit.add_table(0, number, Arc::new(meta));
    }
    edit.log_number = Some(frozen.wal_segment + 1);
    db.tree().install(edit, new_tables)?;
    db.memtables().remove_flushed(&frozen.memtable);
    delete_segments_before(db.fs.as_ref(), dir, frozen.wal_segment + 1)?;
    db.metrics().flush_count.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(elapsed = ?started.elapsed(), "flush done");
    Ok(())
}

/// Writes every entry of `memtable` into table `number` of `dir` (level 0),
/// with Monkey's bloom bits for a new level-0 run of `version`.
pub(crate) fn build_table(
    fs: &SharedFileSystem,
    dir: &Path,
    number: u64,
    memtable: &Arc<Memtable>,
    options: &DBOptions,
    version: &Version,
    policy: &str,
) -> Result<TableMeta> {
    let table_options = table_options(options, version, 0, memtable.entry_count(), policy);
    let path = dir.join(file_name(FileKind::Table, number));
    let mut builder = TableBuilder::new(Arc::clone(fs), &path, table_options)?;
    let mut iter = memtable.iter();
    let Ok(()) = iter.seek_to_first();
    while iter.valid() {
        if let Err(error) = builder.add(iter.key(), iter.value()) {
            abandon(builder);
            return Err(error.into());
        }
        let Ok(()) = iter.next();
    }
    let meta = builder.finish()?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(meta)
}

/// Drops a half-built table (its error is secondary to the one reported).
pub(crate) fn abandon(builder: TableBuilder) {
    if let Err(error) = builder.abandon() {
        tracing::warn!(%error, "could not remove a half-built table");
    }
}

/// The table options for a new run of `entries_count` entries on `level`.
pub(crate) fn table_options(
    options: &DBOptions,
    version: &Version,
    level: usize,
    entries_count: u64,
    policy: &str,
) -> TableOptions {
    let bits = if options.bloom_bits_per_key == 0 {
        0
    } else {
        let monkey = version.filter_bits_per_key(
            level,
            entries_count,
            f64::from(options.bloom_bits_per_key),
        );
        monkey.round().clamp(1.0, 32.0) as u32
    };
    TableOptions {
        block_size_bytes: options.block_size_bytes,
        compression: options.compression,
        bloom_bits_per_key: bits,
        creation_level: Some(level as u32),
        creation_policy: policy.to_owned(),
        ..TableOptions::default()
    }
}
