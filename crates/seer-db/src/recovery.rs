//! Recovering a database before the engine opens on it: directory and lock,
//! seer-compaction's [`VersionSet`] (manifest replay, a fresh manifest,
//! orphan report), replay of every WAL segment the manifest does not cover
//! (restoring sequence numbers) into memtables of the configured capacity,
//! each written as a level-0 run when it fills (by [`crate::level0`], the
//! step a memtable flush takes too), and the removal of files nothing refers
//! to any more. It returns what it [`Recovered`]; the engine is built from
//! that, so recovery knows nothing of it.
//!
//! Recovery reads before it writes: the manifest is replayed
//! ([`VersionSet::load`]), the merge operator checked against the recorded
//! one, every live table opened and every WAL segment read through under
//! the configured recovery mode before the first byte is written (the
//! fresh manifest, the replayed level-0 runs, a truncated torn tail, the
//! removal of orphans and old segments). An open refused for damage or
//! options leaves the directory as it found it (the `LOCK` file aside,
//! created when missing), so another attempt with other options, or a
//! repair tool, sees the original. A WAL that fills more than one memtable
//! is read twice for that (the checking pass keeps one memtable at a time);
//! one that fits in one memtable is read once.
//!
//! A read-only open ([`recover_read_only`]) writes nothing and takes no
//! lock: it loads the manifest and every named keyspace's, opens their
//! tables, replays the WAL segments the manifests do not cover into
//! memtables kept in memory, per keyspace (one or more per segment, tagged
//! with it, so a reader that later loads a newer tree skips those the
//! writer flushed meanwhile), and then reads the manifests again: when the
//! writer moved a log number in between (it may have deleted a segment
//! being replayed), the whole load is retried, up to
//! [`READ_ONLY_ATTEMPTS`] times, after which the open fails with the last
//! error. Tables deleted by the writer after they were opened stay
//! readable through their open maps.
//!
//! Replayed records are written to level 0 before the database
//! takes writes, so the old segments (including any torn or, under
//! point-in-time recovery, ignored ones) are obsolete and deleted, and the
//! new WAL starts clean with a segment numbered above every file on disk.
//!
//! Replay holds at most one memtable (and the segment being read), as
//! LevelDB's `RecoverLogFile`: a memtable that reaches
//! `memtable_capacity_bytes` is written to level 0 at once, but its tables
//! join the manifest only with the one edit logged after the last record,
//! which also moves the log number past every replayed segment. Until that
//! edit is durable the tables are orphans and the segments still live: a
//! crash during replay leaves a database that deletes the orphans and
//! replays the same segments again, so no record (a merge operand in
//! particular) is ever applied both from a table and from the WAL.
//!
//! # Keyspaces
//!
//! Each named keyspace the manifest's registry lists has its own tree in
//! `keyspaces/<id>/` (its own manifest and tables, see [`keyspace_dir`]).
//! Recovery loads them all with the default keyspace's, replays the WAL
//! from the smallest of their log numbers, and routes every op to its
//! keyspace, skipping the ops in segments below that keyspace's own log
//! number (already in its tables) and those of keyspaces no longer listed
//! (dropped). Each keyspace's replayed memtables become level-0 runs of its
//! own tree, logged with the new segment as its log number, the keyspaces
//! first and the default keyspace last; only then are the old segments
//! deleted. A crash in between leaves some trees moved past the segments
//! and the others not, which the next open replays again: an atomic batch
//! across keyspaces is never half applied. The replay writes keyspace
//! tables without a merge operator (operands stay operands until the
//! keyspace, opened with its own operator, compacts them).

use std::path::Path;
use std::sync::Arc;

use seer_compaction::{
    ExecutorContext, ManifestRecoveryReport, PolicyParams, Version, VersionEdit, VersionSet,
    VersionSetOptions,
};
use seer_core::filename::file_name;
use seer_core::{FileKind, FileSystem, SeqNo};
use seer_memtable::Memtable;
use seer_sstable::BlockCache;
use seer_wal::{
    delete_segments_before, truncate_torn_tail, KeyspaceId, WalRecovery, WalRecoveryReport,
    WriteOp, DEFAULT_KEYSPACE,
};

use crate::dir::DbDir;
use crate::error::{Error, Result};
use crate::level0::{executor_context, largest_seq, write_level0};
use crate::memtables::{insert_ops, insert_record, Frozen};
use crate::options::DBOptions;
use crate::tree::{open_tables, OpenVersion, OpenVersionSet};

/// What opening a database recovered: its locked directory, its tree with
/// the tables open, and where the commit pipeline resumes.
pub(crate) struct Recovered {
    /// The directory, locked.
    pub dir: DbDir,
    /// The block cache the tables share (when configured).
    pub block_cache: Option<Arc<BlockCache>>,
    /// The version set with its current version's tables open.
    pub tree: OpenVersionSet,
    /// The compaction policy the manifest recorded (`None` for a new
    /// database).
    pub recorded_policy: Option<PolicyParams>,
    /// The last sequence number used.
    pub last_seq: SeqNo,
    /// The WAL segment new writes go to (every older one is deleted).
    pub wal_segment: u64,
    /// The named keyspaces, recovered (their trees hold every replayed op).
    pub keyspaces: Vec<RecoveredKeyspace>,
}

/// A named keyspace's recovered tree, waiting for
/// [`crate::DB::keyspace`] to open it with its options.
pub(crate) struct RecoveredKeyspace {
    /// Its id.
    pub id: KeyspaceId,
    /// Its name.
    pub name: String,
    /// Its version set with its current version's tables open.
    pub tree: Arc<OpenVersionSet>,
    /// On a read-only open, its ops the WAL holds beyond its tree, in
    /// frozen memtables, newest first (empty on a writable open, whose
    /// recovery wrote them to its tree).
    pub immutables: Vec<Frozen>,
}

/// The directory of keyspace `id`'s tree (manifest and tables) inside the
/// database directory `root`.
pub(crate) fn keyspace_dir(root: &Path, id: KeyspaceId) -> std::path::PathBuf {
    root.join(crate::dir::KEYSPACES_DIR_NAME)
        .join(id.to_string())
}

/// A keyspace's loaded manifest and open tables, before recovery writes.
struct LoadedKeyspace {
    id: KeyspaceId,
    name: String,
    dir: std::path::PathBuf,
    loaded: seer_compaction::LoadedManifest,
    tables: crate::tree::TableMap,
}

/// Recovers the database at `path` opened with `options`.
pub(crate) fn recover(path: &Path, options: &DBOptions) -> Result<Recovered> {
    options.validate()?;
    let fs = Arc::clone(&options.file_system);
    let span = tracing::info_span!("recovery", path = %path.display());
    let _entered = span.enter();
    let dir = DbDir::open(fs.as_ref(), path, options.create_if_missing)?;
    let version_options = version_set_options(options);

    // Reads: everything that can refuse the database, before any write.
    let loaded = VersionSet::load(Arc::clone(&fs), path, version_options.clone())?;
    check_merge_operator(options, loaded.merge_operator_name())?;
    let cache = (options.block_cache_capacity_bytes > 0)
        .then(|| Arc::new(BlockCache::new(options.block_cache_capacity_bytes)));
    let tables = open_tables(fs.as_ref(), path, loaded.version(), cache.as_ref())?;
    let mut keyspaces = Vec::new();
    for (&id, name) in loaded.keyspaces() {
        let dir = keyspace_dir(path, id);
        // A keyspace's directory is made before the registry names it; the
        // one exception to reading first is a crash between the two steps
        // of a drop's cleanup, which left it empty or gone.
        fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let loaded = VersionSet::load(Arc::clone(&fs), &dir, version_options.clone())?;
        let tables = open_tables(fs.as_ref(), &dir, loaded.version(), cache.as_ref())?;
        keyspaces.push(LoadedKeyspace {
            id,
            name: name.clone(),
            dir,
            loaded,
            tables,
        });
    }
    let targets: Vec<ReplayTarget> = std::iter::once(ReplayTarget {
        id: DEFAULT_KEYSPACE,
        log_number: loaded.log_number(),
    })
    .chain(keyspaces.iter().map(|ks| ReplayTarget {
        id: ks.id,
        log_number: ks.loaded.log_number(),
    }))
    .collect();
    let mut filled_count = 0_usize;
    let checked = replay_wal(fs.as_ref(), path, options, &targets, &mut |_, _| {
        filled_count += 1;
        Ok(())
    })?;

    // Writes.
    remove_orphans(fs.as_ref(), path, loaded.report())?;
    remove_dropped_keyspaces(fs.as_ref(), path, loaded.keyspaces())?;
    let (versions, report) = loaded.start()?;
    let mut started = Vec::with_capacity(keyspaces.len());
    for keyspace in keyspaces {
        remove_orphans(fs.as_ref(), &keyspace.dir, keyspace.loaded.report())?;
        let (versions, _) = keyspace.loaded.start()?;
        started.push((
            keyspace.id,
            keyspace.name,
            keyspace.dir,
            versions,
            keyspace.tables,
        ));
    }
    let versions_of: Vec<(&Path, &VersionSet, Arc<Version>)> =
        std::iter::once((path, &versions, versions.current()))
            .chain(
                started
                    .iter()
                    .map(|(_, _, dir, versions, _)| (dir.as_path(), versions, versions.current())),
            )
            .collect();
    // Keyspace tables are written without the default keyspace's operator.
    let keyspace_options = DBOptions {
        merge_operator: None,
        ..options.clone()
    };
    let mut level0s: Vec<ReplayLevel0<'_>> = versions_of
        .iter()
        .enumerate()
        .map(|(index, (dir, versions, version))| ReplayLevel0 {
            // No snapshot is live while the database opens.
            context: executor_context(options, &fs, dir, cache.clone(), Vec::new()),
            version,
            versions,
            options: if index == 0 {
                options
            } else {
                &keyspace_options
            },
            edit: VersionEdit::new(),
            largest_seq: 0,
        })
        .collect();
    let replayed = if filled_count == 0 {
        checked
    } else {
        replay_wal(
            fs.as_ref(),
            path,
            options,
            &targets,
            &mut |index, memtable| level0s[index].write(memtable),
        )?
    };
    for (level0, memtable) in level0s.iter_mut().zip(&replayed.last_memtables) {
        level0.write(memtable)?;
    }
    log_wal_replay(&replayed.report);
    if let Some(torn) = &replayed.report.torn_tail {
        truncate_torn_tail(fs.as_ref(), torn)?;
    }
    // Sequence numbers are the database's: above every keyspace's too.
    let last_seq = versions_of
        .iter()
        .map(|(_, versions, version)| versions.last_seq().max(tables_last_seq(version)))
        .chain(level0s.iter().map(|level0| level0.largest_seq))
        .fold(replayed.report.last_seq.unwrap_or(0), SeqNo::max);
    let segment = versions.new_file_number();
    let mut edits: Vec<VersionEdit> = level0s.into_iter().map(|level0| level0.edit).collect();
    for (edit, (_, versions, _)) in edits.iter_mut().zip(&versions_of).skip(1) {
        edit.log_number = Some(segment);
        edit.last_seq = Some(last_seq);
        versions.log_and_apply(std::mem::take(edit))?;
    }
    drop(versions_of);
    let mut edit = edits.swap_remove(0);
    edit.log_number = Some(segment);
    edit.last_seq = Some(last_seq);
    edit.merge_operator_name = options.merge_operator_ref().map(|m| m.name().to_owned());
    versions.log_and_apply(edit)?;
    delete_segments_before(fs.as_ref(), path, segment)?;

    let recorded_policy = (!report.created).then(|| versions.policy());
    let tree = OpenVersionSet::new(Arc::clone(&fs), path, cache.clone(), versions, tables)?;
    let keyspaces = started
        .into_iter()
        .map(|(id, name, dir, versions, tables)| {
            let tree = OpenVersionSet::new(Arc::clone(&fs), &dir, cache.clone(), versions, tables)?;
            Ok(RecoveredKeyspace {
                id,
                name,
                tree: Arc::new(tree),
                immutables: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    tracing::info!(
        last_seq,
        segment,
        keyspaces = keyspaces.len(),
        "database recovered"
    );
    Ok(Recovered {
        dir,
        block_cache: cache,
        tree,
        recorded_policy,
        last_seq,
        wal_segment: segment,
        keyspaces,
    })
}

/// How many times a read-only load is tried before its error is returned
/// (the writer moving its log number or deleting a file mid-load).
pub(crate) const READ_ONLY_ATTEMPTS: usize = 5;

/// What a read-only open recovered: the tree as of the manifest and the
/// WAL beyond it, in memory.
pub(crate) struct RecoveredReadOnly {
    /// The directory, unlocked.
    pub dir: DbDir,
    /// The block cache the tables share (when configured).
    pub block_cache: Option<Arc<BlockCache>>,
    /// The read-only version set with its current version's tables open.
    pub tree: OpenVersionSet,
    /// The replayed memtables, newest first, each frozen.
    pub immutables: Vec<Frozen>,
    /// The compaction policy the manifest recorded.
    pub recorded_policy: PolicyParams,
    /// The last sequence number replayed (or recorded).
    pub last_seq: SeqNo,
    /// The named keyspaces, loaded as the default one is.
    pub keyspaces: Vec<RecoveredKeyspace>,
}

/// One consistent read-only load of the directory: what a read-only open
/// starts from and what [`crate::DB::try_catch_up`] swaps in.
pub(crate) struct ReadOnlyState {
    /// The manifest's current version with its tables open.
    pub open_version: OpenVersion,
    /// The version set it came from (writes nothing).
    pub versions: VersionSet,
    /// The replayed memtables, newest first, each frozen.
    pub immutables: Vec<Frozen>,
    /// The last sequence number replayed (or recorded), over every
    /// keyspace.
    pub last_seq: SeqNo,
    /// The named keyspaces the registry lists, each loaded as the default
    /// one is.
    pub keyspaces: Vec<ReadOnlyKeyspace>,
}

/// One named keyspace of a [`ReadOnlyState`].
pub(crate) struct ReadOnlyKeyspace {
    /// Its id.
    pub id: KeyspaceId,
    /// Its name.
    pub name: String,
    /// Its manifest's current version with its tables open.
    pub open_version: OpenVersion,
    /// The version set it came from (writes nothing).
    pub versions: VersionSet,
    /// Its replayed memtables, newest first, each frozen.
    pub immutables: Vec<Frozen>,
}

impl ReadOnlyKeyspace {
    /// The keyspace as a read-only open keeps it until `DB::keyspace`
    /// opens it (its tree in the database directory `root`).
    pub(crate) fn into_recovered(
        self,
        fs: &seer_core::SharedFileSystem,
        root: &Path,
        cache: Option<&Arc<BlockCache>>,
    ) -> Result<RecoveredKeyspace> {
        let tree = OpenVersionSet::new(
            Arc::clone(fs),
            &keyspace_dir(root, self.id),
            cache.cloned(),
            self.versions,
            self.open_version.tables,
        )?;
        Ok(RecoveredKeyspace {
            id: self.id,
            name: self.name,
            tree: Arc::new(tree),
            immutables: self.immutables,
        })
    }
}

/// Opens the database at `path` read-only: no lock, no byte written.
pub(crate) fn recover_read_only(path: &Path, options: &DBOptions) -> Result<RecoveredReadOnly> {
    options.validate()?;
    let fs = Arc::clone(&options.file_system);
    let dir = DbDir::open_read_only(fs.as_ref(), path)?;
    let cache = (options.block_cache_capacity_bytes > 0)
        .then(|| Arc::new(BlockCache::new(options.block_cache_capacity_bytes)));
    let state = load_read_only(path, options, cache.as_ref(), &|_| None)?;
    let recorded_policy = state.versions.policy();
    let keyspaces = state
        .keyspaces
        .into_iter()
        .map(|keyspace| keyspace.into_recovered(&fs, path, cache.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let tree = OpenVersionSet::new(
        fs,
        path,
        cache.clone(),
        state.versions,
        state.open_version.tables,
    )?;
    Ok(RecoveredReadOnly {
        dir,
        block_cache: cache,
        tree,
        immutables: state.immutables,
        recorded_policy,
        last_seq: state.last_seq,
        keyspaces,
    })
}

/// Loads the manifest, its tables and the WAL beyond it without writing,
/// the default keyspace's and every named one's, retrying while the writer
/// moves on mid-load (see the module docs). Tables that `opened` (of a
/// keyspace id) already holds are reused rather than opened again (the
/// writer may have deleted their files).
pub(crate) fn load_read_only(
    path: &Path,
    options: &DBOptions,
    cache: Option<&Arc<BlockCache>>,
    opened: &dyn Fn(KeyspaceId) -> Option<Arc<OpenVersion>>,
) -> Result<ReadOnlyState> {
    let mut attempt = 1;
    loop {
        match load_read_only_once(path, options, cache, opened) {
            Ok(Some(state)) => return Ok(state),
            Ok(None) if attempt < READ_ONLY_ATTEMPTS => {}
            Ok(None) => {
                return Err(Error::invalid(format!(
                    "{}: the writer kept moving its WAL on while it was read; try again",
                    path.display()
                )))
            }
            Err(error) if attempt < READ_ONLY_ATTEMPTS => {
                tracing::debug!(%error, attempt, "read-only load failed; retrying");
            }
            Err(error) => return Err(error),
        }
        attempt += 1;
    }
}

/// One try of [`load_read_only`]; `None` when the writer moved a log
/// number (the default keyspace's or a named one's) during the load.
fn load_read_only_once(
    path: &Path,
    options: &DBOptions,
    cache: Option<&Arc<BlockCache>>,
    opened: &dyn Fn(KeyspaceId) -> Option<Arc<OpenVersion>>,
) -> Result<Option<ReadOnlyState>> {
    let fs = Arc::clone(&options.file_system);
    let version_options = version_set_options(options);
    let load_tree = |id: KeyspaceId, dir: &Path| -> Result<_> {
        let loaded = VersionSet::load(Arc::clone(&fs), dir, version_options.clone())?;
        let opened = opened(id);
        let mut tables = crate::tree::TableMap::default();
        for (_, meta) in loaded.version().tables() {
            let number = meta.file_number;
            let table = match opened.as_ref().and_then(|open| open.tables.get(&number)) {
                Some(table) => Arc::clone(table),
                None => crate::tree::open_table(fs.as_ref(), dir, number, cache.cloned())?,
            };
            tables.insert(number, table);
        }
        Ok((loaded, tables))
    };
    let (loaded, tables) = load_tree(DEFAULT_KEYSPACE, path)?;
    check_merge_operator(options, loaded.merge_operator_name())?;
    let mut named = Vec::new();
    for (&id, name) in loaded.keyspaces() {
        let (loaded, tables) = load_tree(id, &keyspace_dir(path, id))?;
        named.push((id, name.clone(), loaded, tables));
    }
    let targets: Vec<ReplayTarget> = std::iter::once(ReplayTarget {
        id: DEFAULT_KEYSPACE,
        log_number: loaded.log_number(),
    })
    .chain(named.iter().map(|(id, _, loaded, _)| ReplayTarget {
        id: *id,
        log_number: loaded.log_number(),
    }))
    .collect();
    let (mut frozen, report) = replay_wal_frozen(fs.as_ref(), path, options, &targets)?;
    let moved = |dir: &Path, log_number: u64| -> Result<bool> {
        let again = VersionSet::load(Arc::clone(&fs), dir, version_options.clone())?;
        Ok(again.log_number() != log_number)
    };
    if moved(path, loaded.log_number())? {
        return Ok(None);
    }
    for (id, _, loaded, _) in &named {
        if moved(&keyspace_dir(path, *id), loaded.log_number())? {
            return Ok(None);
        }
    }
    let mut last_seq = report.last_seq.unwrap_or(0);
    let mut open = |loaded: &seer_compaction::LoadedManifest, tables| {
        let version = Arc::clone(loaded.version());
        last_seq = last_seq
            .max(loaded.last_seq())
            .max(tables_last_seq(&version));
        OpenVersion::new(version, tables, loaded.log_number())
    };
    let open_version = open(&loaded, tables);
    let mut keyspaces = Vec::with_capacity(named.len());
    for ((id, name, loaded, tables), immutables) in named.into_iter().zip(frozen.drain(1..)) {
        keyspaces.push(ReadOnlyKeyspace {
            id,
            name,
            open_version: open(&loaded, tables),
            versions: loaded.into_read_only(),
            immutables,
        });
    }
    Ok(Some(ReadOnlyState {
        open_version,
        versions: loaded.into_read_only(),
        immutables: frozen.pop().unwrap_or_default(),
        last_seq,
        keyspaces,
    }))
}

/// Replays every segment numbered at or above the smallest log number of
/// `targets` into frozen memtables, one list per target (newest first),
/// each memtable holding records of one segment only and tagged with it;
/// an op goes to its keyspace's list unless its segment is below that
/// keyspace's log number (or its keyspace is not a target). Nothing is
/// truncated or written.
fn replay_wal_frozen(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &DBOptions,
    targets: &[ReplayTarget],
) -> Result<(Vec<Vec<Frozen>>, WalRecoveryReport)> {
    let mut frozen: Vec<Vec<Frozen>> = targets.iter().map(|_| Vec::new()).collect();
    let report = replay_routed(fs, dir, options, targets, &mut |replayed| {
        let Replayed::Ops {
            index,
            segment,
            seq,
            ops,
        } = replayed
        else {
            return Ok(());
        };
        let list = &mut frozen[index];
        let reuse = list
            .last()
            .is_some_and(|last| last.wal_segment == segment && !last.memtable.should_flush());
        if !reuse {
            list.push(Frozen {
                memtable: Arc::new(Memtable::new(
                    options.memtable_partitions,
                    options.memtable_capacity_bytes,
                )),
                wal_segment: segment,
            });
        }
        match list.last() {
            Some(last) => insert_ops(&last.memtable, seq, ops),
            None => Ok(()),
        }
    })?;
    // Read-only: a torn tail is the writer's record in progress, not truncated.
    tracing::debug!(segments = ?report.segments, records = report.records_count, "WAL replayed read-only");
    for list in &mut frozen {
        for memtable in list.iter() {
            memtable.memtable.freeze();
        }
        list.reverse();
    }
    Ok((frozen, report))
}

/// Writes the memtables WAL replay fills to level 0 and gathers their
/// tables into the one edit recovery logs after the last record.
struct ReplayLevel0<'a> {
    context: ExecutorContext,
    version: &'a Version,
    versions: &'a VersionSet,
    options: &'a DBOptions,
    /// The tables written so far, newest run last.
    edit: VersionEdit,
    /// The largest sequence number in those tables.
    largest_seq: SeqNo,
}

impl ReplayLevel0<'_> {
    /// Writes `memtable` as a new level-0 run (a newer run than every one
    /// written before it); an empty memtable writes nothing.
    fn write(&mut self, memtable: &Arc<Memtable>) -> Result<()> {
        if memtable.is_empty() {
            return Ok(());
        }
        let new_file_number = || self.versions.new_file_number();
        let flushed = write_level0(
            memtable,
            self.version,
            &self.context,
            self.options,
            Vec::new(),
            &new_file_number,
        )?;
        debug_assert!(flushed.edit.removed_tables.is_empty());
        self.largest_seq = self
            .largest_seq
            .max(largest_seq(&flushed.outputs).unwrap_or(0));
        self.edit.added_tables.extend(flushed.edit.added_tables);
        Ok(())
    }
}

/// What reading the WAL found: the report and each target's last memtable
/// (never handed to `on_full`).
struct WalReplay {
    report: WalRecoveryReport,
    last_memtables: Vec<Arc<Memtable>>,
}

/// A keyspace WAL replay fills: its id and the first segment it needs.
struct ReplayTarget {
    id: KeyspaceId,
    log_number: u64,
}

/// The index of the target among `targets` an op of keyspace `id` read
/// from WAL segment `segment` goes to (`None`: its keyspace is dropped, or
/// its tree holds the segment already).
fn target_of(targets: &[ReplayTarget], id: KeyspaceId, segment: u64) -> Option<usize> {
    targets
        .iter()
        .position(|t| t.id == id && segment >= t.log_number)
}

/// What [`replay_routed`] hands its visitor, record by record.
enum Replayed<'r> {
    /// Ops of the record being replayed for target `index`, at consecutive
    /// sequence numbers from `seq`, read from WAL segment `segment`.
    Ops {
        index: usize,
        segment: u64,
        seq: SeqNo,
        ops: &'r [WriteOp],
    },
    /// Every op of that record has been handed over.
    RecordEnd,
}

/// Reads every segment numbered at or above the smallest log number of
/// `targets`, in order, and hands each record's ops to `visit` routed to
/// their target (an op whose keyspace is not a target, or whose segment
/// is below its target's log number, is skipped), then the record's end.
/// The one replay loop of both the writable recovery and a read-only load.
fn replay_routed(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &DBOptions,
    targets: &[ReplayTarget],
    visit: &mut dyn FnMut(Replayed<'_>) -> Result<()>,
) -> Result<WalRecoveryReport> {
    let first_live = targets.iter().map(|t| t.log_number).min().unwrap_or(0);
    let mut recovery = WalRecovery::open(fs, dir, first_live, options.wal_recovery_mode)?;
    while let Some(record) = recovery.next_record()? {
        let segment = recovery
            .report()
            .segments
            .last()
            .copied()
            .unwrap_or(first_live);
        let (seq, write) = record.into_write();
        insert_record(seq, &write, |id, seq, ops| {
            match target_of(targets, id, segment) {
                Some(index) => visit(Replayed::Ops {
                    index,
                    segment,
                    seq,
                    ops,
                }),
                None => Ok(()),
            }
        })?;
        visit(Replayed::RecordEnd)?;
    }
    Ok(recovery.into_report())
}

/// Replays every segment numbered at or above the smallest log number of
/// `targets` into memtables of the configured capacity, one set per
/// target, each op into its keyspace's unless its segment is below that
/// keyspace's log number (or its keyspace is not a target: dropped); a
/// memtable is handed to `on_full` with its target's index when it fills.
/// The last memtable of each target is returned with the report.
fn replay_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &DBOptions,
    targets: &[ReplayTarget],
    on_full: &mut dyn FnMut(usize, &Arc<Memtable>) -> Result<()>,
) -> Result<WalReplay> {
    let new_memtable = || {
        Arc::new(Memtable::new(
            options.memtable_partitions,
            options.memtable_capacity_bytes,
        ))
    };
    let mut memtables: Vec<Arc<Memtable>> = targets.iter().map(|_| new_memtable()).collect();
    let mut touched = Vec::new();
    let report = replay_routed(fs, dir, options, targets, &mut |replayed| match replayed {
        Replayed::Ops {
            index, seq, ops, ..
        } => {
            touched.push(index);
            insert_ops(&memtables[index], seq, ops)
        }
        Replayed::RecordEnd => {
            for index in touched.drain(..) {
                if memtables[index].should_flush() {
                    on_full(index, &memtables[index])?;
                    memtables[index] = new_memtable();
                }
            }
            Ok(())
        }
    })?;
    Ok(WalReplay {
        report,
        last_memtables: memtables,
    })
}

/// Logs what WAL replay found: a torn tail, an early stop, skipped bytes.
fn log_wal_replay(report: &WalRecoveryReport) {
    if let Some(torn) = &report.torn_tail {
        tracing::warn!(file = %torn.file.display(), offset = torn.offset, "truncating a torn WAL tail");
    }
    if let Some(stop) = &report.stopped_at {
        tracing::warn!(file = %stop.file.display(), offset = stop.offset, detail = %stop.detail, "WAL replay stopped early (point in time)");
    }
    for skipped in &report.skipped {
        tracing::warn!(file = %skipped.file.display(), start = skipped.start, end = skipped.end, "skipped damaged WAL bytes");
    }
    tracing::info!(segments = ?report.segments, records = report.records_count, "WAL replayed");
}

fn tables_last_seq(version: &Version) -> SeqNo {
    version
        .tables()
        .map(|(_, meta)| meta.largest_seq)
        .max()
        .unwrap_or(0)
}

/// The version set's options of a database opened with `options`.
pub(crate) fn version_set_options(options: &DBOptions) -> VersionSetOptions {
    VersionSetOptions {
        levels_count: options.levels_count,
        initial_policy: options.initial_policy(),
        ..VersionSetOptions::default()
    }
}

/// A database written with one merge operator must not be read with
/// another.
pub(crate) fn check_merge_operator(options: &DBOptions, recorded: Option<&str>) -> Result<()> {
    match (recorded, options.merge_operator_ref()) {
        (Some(recorded), Some(configured)) if recorded != configured.name() => {
            Err(Error::invalid(format!(
                "the database was written with merge operator {recorded:?}, not {:?}",
                configured.name()
            )))
        }
        _ => Ok(()),
    }
}

/// Deletes the files of every keyspace directory the registry no longer
/// names (a keyspace dropped, whose last reader had not gone before the
/// process ended; or one whose creation a crash cut short).
fn remove_dropped_keyspaces(
    fs: &dyn FileSystem,
    root: &Path,
    live: &std::collections::BTreeMap<KeyspaceId, String>,
) -> Result<()> {
    let parent = root.join(crate::dir::KEYSPACES_DIR_NAME);
    if !fs.exists(&parent).map_err(|e| Error::io(&parent, e))? {
        return Ok(());
    }
    let names = fs.list_dir(&parent).map_err(|e| Error::io(&parent, e))?;
    for name in names {
        let dropped = name
            .parse::<KeyspaceId>()
            .map_or(true, |id| !live.contains_key(&id));
        if dropped {
            crate::dir::remove_files_in(fs, &parent.join(&name))?;
        }
    }
    Ok(())
}

/// Deletes the tables and temp files no version refers to (left by a flush
/// or compaction that never committed, or an interrupted `CURRENT` swap).
fn remove_orphans(fs: &dyn FileSystem, dir: &Path, report: &ManifestRecoveryReport) -> Result<()> {
    let orphans = report
        .orphan_table_files
        .iter()
        .map(|&n| (FileKind::Table, n))
        .chain(
            report
                .orphan_temp_files
                .iter()
                .map(|&n| (FileKind::Temp, n)),
        );
    let mut removed = 0;
    for (kind, number) in orphans {
        let path = dir.join(file_name(kind, number));
        match fs.remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    if removed > 0 {
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        tracing::info!(removed, "removed orphan files");
    }
    Ok(())
}
