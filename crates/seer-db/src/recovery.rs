//! Opening a database: directory and lock, the manifest's version, replay
//! of every WAL segment the manifest does not cover (restoring sequence
//! numbers), a table holding the replayed records, a fresh manifest, and the
//! removal of files nothing refers to any more.
//!
//! Replayed records are written to a level-0 table before the database
//! takes writes, so the old segments (including any torn or, under
//! point-in-time recovery, ignored ones) are obsolete and deleted, and the
//! new WAL starts clean with a segment numbered above every file on disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use seer_compaction::{Version, VersionEdit};
use seer_core::filename::parse_file_name;
use seer_core::{FileKind, FileSystem, SeqNo};
use seer_memtable::Memtable;
use seer_sstable::BlockCache;
use seer_wal::{truncate_torn_tail, CommitPipeline, WalOptions, WalRecovery};

use crate::background::{build_table, Jobs};
use crate::backpressure::Backpressure;
use crate::db::DbInner;
use crate::dir::{DbDir, DirState};
use crate::error::{Error, Result};
use crate::health::HealthState;
use crate::manifest::{self, Manifest, ManifestState};
use crate::memtables::{insert_ops, MemtableApplier, Memtables};
use crate::metrics::Metrics;
use crate::options::DBOptions;
use crate::snapshot_registry::SnapshotRegistry;
use crate::tree::{version_meta, TreeSet};

/// The allocator of file numbers (tables, WAL segments, manifests, runs).
#[derive(Debug)]
pub(crate) struct FileNumbers {
    next: AtomicU64,
}

impl FileNumbers {
    fn new(next: u64) -> Self {
        Self {
            next: AtomicU64::new(next),
        }
    }

    /// A fresh number.
    pub(crate) fn allocate(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The next number to be handed out (recorded in the manifest).
    pub(crate) fn peek_next(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

/// Opens the database at `path`.
pub(crate) fn open(path: &Path, options: DBOptions) -> Result<Arc<DbInner>> {
    options.validate()?;
    let fs = Arc::clone(&options.file_system);
    let span = tracing::info_span!("recovery", path = %path.display());
    let _entered = span.enter();
    let dir = DbDir::open(fs.as_ref(), path, options.create_if_missing)?;
    let (mut version, mut state) = match dir.state() {
        DirState::Existing => manifest::recover(fs.as_ref(), path, options.levels_count)?,
        DirState::New => (
            Version::empty(options.levels_count),
            ManifestState::default(),
        ),
    };
    check_merge_operator(&options, &state)?;
    let file_numbers = FileNumbers::new(next_file_number(fs.as_ref(), path, &state)?);
    let cache = (options.block_cache_capacity_bytes > 0)
        .then(|| Arc::new(BlockCache::new(options.block_cache_capacity_bytes)));

    let replayed = replay_wal(fs.as_ref(), path, &options, state.log_number)?;
    let mut last_seq = state
        .last_seq
        .max(replayed.last_seq)
        .max(tables_last_seq(&version));
    if let Some(memtable) = replayed.memtable.filter(|m| !m.is_empty()) {
        let number = file_numbers.allocate();
        let meta = build_table(&fs, path, number, &memtable, &options, &version, "recovery")?;
        let mut edit = VersionEdit::new();
        edit.add_table(0, number, version_meta(&meta));
        version = version.apply(&edit).map_err(|e| Error::Corruption {
            file: path.to_owned(),
            offset: 0,
            detail: format!("recovered table does not fit the version: {e}"),
        })?;
        last_seq = last_seq.max(meta.largest_seq);
        tracing::info!(
            table = number,
            entries = meta.entry_count,
            "replayed WAL records written to level 0"
        );
    }

    let manifest_number = file_numbers.allocate();
    let segment = file_numbers.allocate();
    state.log_number = segment;
    state.last_seq = last_seq;
    state.next_file_number = file_numbers.peek_next();
    state.merge_operator_name = options.merge_operator_ref().map(|m| m.name().to_owned());
    if state.policy.is_none() {
        state.policy = Some(options.initial_policy());
    }
    let manifest = Manifest::create(fs.as_ref(), path, manifest_number, &version, &state)?;
    remove_obsolete_files(fs.as_ref(), path, &version, manifest.number(), segment)?;

    let memtables = Arc::new(Memtables::new(
        options.memtable_partitions,
        options.memtable_capacity_bytes,
        Vec::new(),
    ));
    let applier = MemtableApplier {
        memtables: Arc::clone(&memtables),
    };
    let wal_options = WalOptions {
        sync_policy: options.sync_policy,
        ..WalOptions::default()
    };
    let pipeline = CommitPipeline::open(
        Arc::clone(&fs),
        path,
        segment,
        last_seq,
        wal_options,
        applier,
    )?;
    let tree = TreeSet::new(
        Arc::clone(&fs),
        path,
        cache.clone(),
        version,
        manifest,
        state,
    )?;
    tracing::info!(last_seq, segment, "database opened");
    let metrics = Metrics::new(options.disable_metrics);
    Ok(Arc::new(DbInner {
        jobs: Jobs::new(&options),
        options,
        dir,
        fs,
        memtables,
        pipeline,
        tree,
        block_cache: cache,
        snapshots: SnapshotRegistry::default(),
        backpressure: Backpressure::new(),
        health: HealthState::default(),
        metrics,
        file_numbers,
        switch_lock: Mutex::new(()),
        closed: AtomicBool::new(false),
    }))
}

/// What WAL replay produced.
struct Replayed {
    memtable: Option<Arc<Memtable>>,
    last_seq: SeqNo,
}

/// Replays every segment numbered `log_number` or above into one memtable.
fn replay_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &DBOptions,
    log_number: u64,
) -> Result<Replayed> {
    let mut recovery = WalRecovery::open(fs, dir, log_number, options.wal_recovery_mode)?;
    let memtable = Arc::new(Memtable::new(options.memtable_partitions, usize::MAX));
    while let Some(record) = recovery.next_record()? {
        let (seq, write) = record.into_write();
        insert_ops(&memtable, seq, write.ops()).map_err(|reason| Error::Background {
            job: "recovery",
            reason,
        })?;
    }
    let report = recovery.into_report();
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(file = %torn.file.display(), offset = torn.offset, "truncating a torn WAL tail");
        truncate_torn_tail(fs, torn)?;
    }
    if let Some(stop) = &report.stopped_at {
        tracing::warn!(file = %stop.file.display(), offset = stop.offset, detail = %stop.detail, "WAL replay stopped early (point in time)");
    }
    for skipped in &report.skipped {
        tracing::warn!(file = %skipped.file.display(), start = skipped.start, end = skipped.end, "skipped damaged WAL bytes");
    }
    tracing::info!(segments = ?report.segments, records = report.records_count, "WAL replayed");
    Ok(Replayed {
        memtable: Some(memtable),
        last_seq: report.last_seq.unwrap_or(0),
    })
}

fn tables_last_seq(version: &Version) -> SeqNo {
    version
        .tables()
        .map(|(_, meta)| meta.largest_seq)
        .max()
        .unwrap_or(0)
}

/// Above every number in the manifest and every numbered file on disk.
fn next_file_number(fs: &dyn FileSystem, dir: &Path, state: &ManifestState) -> Result<u64> {
    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let on_disk = names
        .iter()
        .filter_map(|name| parse_file_name(name))
        .map(|(_, number)| number + 1)
        .max()
        .unwrap_or(1);
    Ok(on_disk
        .max(state.next_file_number)
        .max(state.log_number + 1)
        .max(1))
}

/// A database written with one merge operator must not be read with
/// another.
fn check_merge_operator(options: &DBOptions, state: &ManifestState) -> Result<()> {
    match (&state.merge_operator_name, options.merge_operator_ref()) {
        (Some(recorded), Some(configured)) if recorded != configured.name() => {
            Err(Error::invalid(format!(
                "the database was written with merge operator {recorded:?}, not {:?}",
                configured.name()
            )))
        }
        _ => Ok(()),
    }
}

/// Removes WAL segments below `first_live_segment`, manifests other than
/// `live_manifest`, temp files and tables no version lists.
fn remove_obsolete_files(
    fs: &dyn FileSystem,
    dir: &Path,
    version: &Version,
    live_manifest: u64,
    first_live_segment: u64,
) -> Result<()> {
    let live_tables = version.live_file_numbers();
    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut removed = 0;
    for name in &names {
        let obsolete = match parse_file_name(name) {
            Some((FileKind::Wal, n)) => n < first_live_segment,
            Some((FileKind::Manifest, n)) => n != live_manifest,
            Some((FileKind::Table, n)) => !live_tables.contains(&n),
            Some((FileKind::Temp, _)) => true,
            _ => false,
        };
        if obsolete {
            let path = dir.join(name);
            fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
            removed += 1;
        }
    }
    if removed > 0 {
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        tracing::debug!(removed, "removed obsolete files");
    }
    Ok(())
}
