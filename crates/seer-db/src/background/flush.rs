//! Flush: the oldest immutable memtable becomes a level-0 run written by
//! seer-compaction's [`flush`](seer_compaction::flush) (Monkey's bloom bits
//! for the run, shadowed versions no live snapshot sees dropped, merge
//! operands collapsed), recorded in the manifest with the WAL log number
//! that makes its segment obsolete; then the immutable leaves the memtable
//! set and the WAL segments no keyspace needs any more are deleted (with the tables no live
//! version lists any more). Each flush runs inside the lifecycle gate; once
//! the database closes the flush thread stops after the flush it is in.
//! The memtable becomes tables through [`crate::level0`], the step recovery
//! writes its replayed records with too.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::JobContext;
use crate::error::Result;
use crate::level0::{largest_seq, write_level0};
use crate::memtables::Frozen;
use crate::tree::open_table;

/// Flushes immutable memtables, oldest first, until none is left.
pub(crate) fn flush_all(db: &JobContext<'_>) -> Result<()> {
    while let Some(frozen) = db.memtables().oldest_immutable() {
        // Fails once closed: the rest stays in the WAL.
        let active = db.lifecycle.enter()?;
        flush_one(db, &frozen)?;
        drop(active);
        db.jobs.announce_progress();
        db.jobs.wake_compaction();
    }
    Ok(())
}

fn flush_one(db: &JobContext<'_>, frozen: &Frozen) -> Result<()> {
    let started = Instant::now();
    let span = tracing::info_span!("flush", wal_segment = frozen.wal_segment);
    let _entered = span.enter();
    let dir = db.dir.path();
    let version = Arc::clone(&db.tree().current().version);
    // With the live snapshots as of now: for each of them the flush keeps
    // the newest version it sees (and always the newest version of a key).
    let context = db.executor_context();
    let new_file_number = || db.tree().new_file_number();
    let split_keys = db.jobs.compaction.flush_split_keys(&version);
    let flushed = write_level0(
        &frozen.memtable,
        &version,
        &context,
        db.options(),
        split_keys,
        &new_file_number,
    )?;
    // The version served the split keys and the filter bits only. Held to
    // the end it would keep the inputs of every compaction installed
    // meanwhile on disk past this flush's deletion of unreferenced tables
    // below, until some later job ended (issue 14: at 1M keys a level-0
    // merge's 152 MB of inputs stayed for seconds after it finished).
    drop(version);
    let mut new_tables = Vec::with_capacity(flushed.outputs.len());
    for meta in &flushed.outputs {
        new_tables.push(open_table(
            db.fs.as_ref(),
            dir,
            meta.file_number,
            db.block_cache.clone(),
        )?);
    }
    db.metrics()
        .flush_bytes
        .fetch_add(flushed.stats.output_bytes, Ordering::Relaxed);
    // The memtable's records are logged in segments a roll closed, whose
    // sync runs in the background: once the table is installed it
    // outlives a power loss that takes their unsynced tail, and with it
    // the other keyspaces' share of the same batches. So the log goes
    // first (RocksDB syncs closed logs before a flush of one of several
    // column families for the same reason).
    if let Some(wal) = db.wal {
        wal.sync_closed_segments()?;
    }
    let mut edit = flushed.edit;
    edit.last_seq = largest_seq(&flushed.outputs);
    edit.log_number = Some(frozen.wal_segment + 1);
    db.tree().install(edit, new_tables)?;
    // Counted before the memtable leaves: `DB::flush` returns once it has,
    // and its caller reads the count.
    db.metrics().flush_count.fetch_add(1, Ordering::Relaxed);
    db.memtables().remove_flushed(&frozen.memtable);
    // Only the segments every keyspace has flushed past.
    db.routes
        .delete_obsolete_segments(db.fs.as_ref(), db.wal_dir, frozen.wal_segment + 1)?;
    // Tables a reader held when their compaction finished go once it let
    // them go, with the next flush at the latest.
    db.tree().delete_unreferenced()?;
    tracing::debug!(elapsed = ?started.elapsed(), "flush done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use seer_core::StringAppendOperator;

    use crate::level0::write_level0;
    use crate::options::DBOptions;
    use crate::tree::open_table;

    /// Between a flush's install and the removal of its immutable memtable,
    /// a reader sees both; it must read the memtable's entries once (found
    /// by the `db_ops` fuzz target as a doubled merge operand in a scan).
    #[test]
    fn a_memtable_flushed_but_not_yet_removed_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = DBOptions::default()
            .merge_operator(StringAppendOperator::new(","))
            .open(dir.path())
            .unwrap();
        db.inner.jobs().stop();
        db.put("k", "base").unwrap();
        db.merge("k", "op").unwrap();
        assert!(db.inner.switch_memtable(true).unwrap());
        let inner = &db.inner;
        let frozen = inner.memtables().oldest_immutable().unwrap();
        let version = Arc::clone(&inner.tree().current().version);
        let new_file_number = || inner.tree().new_file_number();
        let flushed = write_level0(
            &frozen.memtable,
            &version,
            &inner.job_context().executor_context(),
            inner.options(),
            Vec::new(),
            &new_file_number,
        )
        .unwrap();
        let tables = flushed
            .outputs
            .iter()
            .map(|meta| {
                open_table(inner.fs().as_ref(), dir.path(), meta.file_number, None).unwrap()
            })
            .collect();
        let mut edit = flushed.edit;
        edit.log_number = Some(frozen.wal_segment + 1);
        inner.tree().install(edit, tables).unwrap();
        // The flush has not removed the immutable yet.
        assert_eq!(inner.memtables().immutables().len(), 1);
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"base,op"[..]));
        let scanned: Vec<_> = db.iter().map(|entry| entry.unwrap()).collect();
        assert_eq!(scanned.len(), 1);
        assert_eq!(&scanned[0].1[..], b"base,op");
    }

    /// Issue 14: with a leveled base, the background flush cuts its
    /// level-0 run at the base run's table boundaries, so each level-0
    /// table meets one base table and a level-0 compaction can take one.
    #[test]
    fn a_flush_cuts_level0_at_the_base_tables_so_each_meets_one() {
        let dir = tempfile::tempdir().unwrap();
        let leveling = seer_compaction::PolicyParams::leveling(10).unwrap();
        let db = DBOptions::default()
            .compaction_policy(crate::options::CompactionPolicy::Fixed(leveling))
            .target_file_size(4096)
            .open(dir.path())
            .unwrap();
        // Values of another size the second time: cut at the target size
        // alone, the level-0 tables would straddle the base tables.
        let write_all = |value_bytes: usize| {
            for i in 0..800u32 {
                db.put(format!("key{i:05}"), "v".repeat(value_bytes))
                    .unwrap();
            }
        };
        write_all(100);
        db.compact_range::<&[u8]>(..).unwrap();
        write_all(30);
        db.flush().unwrap();
        let tree = db.inner.tree().current();
        let version = &tree.version;
        let base = version.levels()[version.last_level()].runs();
        assert_eq!(base.len(), 1);
        let level0 = version.levels()[0].runs();
        assert_eq!(level0.len(), 1, "one flush, below the level-0 trigger");
        assert!(base[0].tables().len() > 5, "several base tables");
        for table in level0[0].tables() {
            let (start, end) = (table.smallest.user_key(), table.largest.user_key());
            assert_eq!(base[0].overlapping_tables(start, end).len(), 1);
        }
    }

    #[test]
    fn flush_keeps_what_a_snapshot_sees_drops_the_rest_and_counts_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let db = DBOptions::default().open(dir.path()).unwrap();
        db.put("k", "old").unwrap();
        let snapshot = db.snapshot();
        for i in 0..10 {
            db.put("k", format!("v{i}")).unwrap();
        }
        db.put("other", "x").unwrap();
        db.flush().unwrap();
        assert_eq!(snapshot.get("k").unwrap().as_deref(), Some(&b"old"[..]));
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v9"[..]));
        let tree = db.inner.tree().current();
        let entries: u64 = tree.version.tables().map(|(_, t)| t.entry_count).sum();
        // "old" (the snapshot's), "v9" and "other": the shadowed v0..v8 went.
        assert_eq!(entries, 3);
        let flushed_bytes = db.metrics().flush_bytes_written;
        assert!(flushed_bytes > 0);
        assert_eq!(flushed_bytes, tree.version.size_bytes());
    }
}
