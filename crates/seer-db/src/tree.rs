//! The on-disk tree as the DB sees it: an [`OpenVersionSet`] is
//! seer-compaction's [`VersionSet`] (current version, manifest, file
//! numbers, obsolete-table tracking) plus the open [`Table`]s of the current
//! version, swapped together atomically so point reads take no lock.
//!
//! An [`OpenVersion`] holds the open table of every table of its version,
//! and every reader pins the `OpenVersion` it loaded, so readers never open a table file: an
//! iterator or snapshot that outlives its database reads its tables through
//! these open maps, even after a new instance deleted the files (an unlinked
//! file's mapping stays readable). A table moved to another level (a
//! trivial move) keeps its open [`Table`].

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use seer_compaction::manifest::ManifestState;
use seer_compaction::{TableMeta, Version, VersionEdit, VersionSet};
use seer_core::filename::file_name;
use seer_core::{FileKind, FileSystem, FragmentedTombstones, SeqNo, SharedFileSystem};
use seer_sstable::{BlockCache, Table};

use crate::error::Result;

/// The open tables of a version, by file number. Every point read looks
/// up each table it probes here, so the map hashes with
/// [`FileNumberHasher`] rather than the standard SipHash (about 150
/// instructions a probe, a fifth of a lookup that the filters answer).
pub(crate) type TableMap = HashMap<u64, Arc<Table>, BuildHasherDefault<FileNumberHasher>>;

/// The hasher of [`TableMap`]: one multiply by the 64-bit golden-ratio
/// constant (Fibonacci hashing). File numbers are distinct integers the
/// database hands out itself, not input an adversary could choose, so no
/// keyed hash is needed; the multiply spreads consecutive numbers over
/// both the low bits (the bucket) and the high bits (the tag) of the hash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FileNumberHasher(u64);

/// The multiplier of [`FileNumberHasher`]: 2^64 divided by the golden
/// ratio, odd.
const FIBONACCI_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for FileNumberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, number: u64) {
        self.0 = (self.0.rotate_left(5) ^ number).wrapping_mul(FIBONACCI_MULTIPLIER);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A version with its tables opened.
#[derive(Debug)]
pub(crate) struct OpenVersion {
    /// The tree's shape.
    pub version: Arc<Version>,
    /// Every table of `version`, by file number.
    pub tables: TableMap,
    /// The manifest's log number as of `version`: an immutable memtable
    /// whose WAL segment is below it is flushed into `version`'s tables, so
    /// a reader that loaded it before this one must skip it.
    pub log_number: u64,
    /// The range tombstones of every table, fragmented together.
    pub range_tombstones: Arc<FragmentedTombstones>,
}

impl OpenVersion {
    /// `version` with its open `tables`, as of manifest log number
    /// `log_number`.
    pub(crate) fn new(version: Arc<Version>, tables: TableMap, log_number: u64) -> Self {
        Self {
            range_tombstones: tree_tombstones(&tables),
            version,
            tables,
            log_number,
        }
    }

    /// The number of sorted runs on level 0.
    pub(crate) fn l0_runs(&self) -> usize {
        self.version.level(0).map_or(0, |level| level.runs().len())
    }
}

/// The version set and the open tables of its current version.
#[derive(Debug)]
pub(crate) struct OpenVersionSet {
    fs: SharedFileSystem,
    dir: PathBuf,
    cache: Option<Arc<BlockCache>>,
    versions: VersionSet,
    current: ArcSwap<OpenVersion>,
    /// `current`'s level-0 run count, stored after every store of
    /// `current` (under `install_lock`), so that the write path's admission
    /// check reads one atomic instead of loading the version.
    l0_runs: AtomicUsize,
    /// Keeps `current` in step with the version set's current version.
    install_lock: Mutex<()>,
}

impl OpenVersionSet {
    /// Opens the tables of `versions`' current version that `opened` (the
    /// tables recovery opened before its first write) lacks.
    pub(crate) fn new(
        fs: SharedFileSystem,
        dir: &Path,
        cache: Option<Arc<BlockCache>>,
        versions: VersionSet,
        mut opened: TableMap,
    ) -> Result<Self> {
        let version = versions.current();
        let log_number = versions.log_number();
        let mut tables = TableMap::default();
        for (_, meta) in version.tables() {
            let table = match opened.remove(&meta.file_number) {
                Some(table) => table,
                None => open_table(fs.as_ref(), dir, meta.file_number, cache.clone())?,
            };
            tables.insert(meta.file_number, table);
        }
        let current = OpenVersion::new(version, tables, log_number);
        Ok(Self {
            fs,
            dir: dir.to_owned(),
            cache,
            versions,
            l0_runs: AtomicUsize::new(current.l0_runs()),
            current: ArcSwap::from_pointee(current),
            install_lock: Mutex::new(()),
        })
    }

    /// The current version with its open tables (a cheap, lock-free load).
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<OpenVersion>> {
        self.current.load()
    }

    /// The level-0 run count of the current version, as of its last
    /// install: one atomic load, for the write path's admission check.
    #[inline]
    pub(crate) fn l0_runs(&self) -> usize {
        self.l0_runs.load(Ordering::Acquire)
    }

    /// Makes `open` current and mirrors its level-0 run count; the caller
    /// holds `install_lock`.
    fn store_current(&self, open: OpenVersion) {
        let l0_runs = open.l0_runs();
        self.current.store(Arc::new(open));
        self.l0_runs.store(l0_runs, Ordering::Release);
    }

    /// The version set (its counters and the keyspace registry).
    pub(crate) fn versions(&self) -> &VersionSet {
        &self.versions
    }

    /// A new, unique file number (tables, WAL segments, run ids).
    pub(crate) fn new_file_number(&self) -> u64 {
        self.versions.new_file_number()
    }

    /// Opens table `meta` anew (for a table no pinned `OpenVersion` holds).
    pub(crate) fn open_table_file(&self, meta: &TableMeta) -> Result<Arc<Table>> {
        open_table(
            self.fs.as_ref(),
            &self.dir,
            meta.file_number,
            self.cache.clone(),
        )
    }

    /// Logs `edit` durably and makes it current; `new_tables` are the
    /// opened tables it adds. Returns the new version.
    pub(crate) fn install(
        &self,
        edit: VersionEdit,
        new_tables: Vec<Arc<Table>>,
    ) -> Result<Arc<Version>> {
        let _installing = self.install_lock.lock();
        // A table removed and added again (moved to another level) stays
        // open: same file, same table.
        let readded: HashSet<u64> = edit
            .added_tables
            .iter()
            .map(|added| added.meta.file_number)
            .collect();
        let removed: Vec<u64> = edit
            .removed_tables
            .iter()
            .map(|r| r.file_number)
            .filter(|number| !readded.contains(number))
            .collect();
        let version = self.versions.log_and_apply(edit)?;
        let old = self.current.load();
        let mut tables = old.tables.clone();
        for number in removed {
            tables.remove(&number);
        }
        for table in new_tables {
            tables.insert(table.file_number(), table);
        }
        self.store_current(OpenVersion::new(
            Arc::clone(&version),
            tables,
            self.versions.log_number(),
        ));
        Ok(version)
    }

    /// The files a copy of the database needs, as of one logged state
    /// (see [`LiveFiles`]): the one list checkpoints and backups copy.
    pub(crate) fn live_files(&self) -> LiveFiles {
        let state = self.versions.state();
        let tables = state
            .version
            .tables()
            .map(|(_, meta)| LiveTable {
                path: self.dir.join(file_name(FileKind::Table, meta.file_number)),
                file_number: meta.file_number,
                size_bytes: meta.file_size_bytes,
            })
            .collect();
        LiveFiles { state, tables }
    }

    /// Makes `open` current without logging anything: a read-only open
    /// catching up with the writer's newer manifest.
    pub(crate) fn replace_current(&self, open: OpenVersion) {
        let _installing = self.install_lock.lock();
        self.store_current(open);
    }

    /// Deletes removed tables that no version references any more (a
    /// reader still holding one keeps its open map).
    pub(crate) fn delete_unreferenced(&self) -> Result<usize> {
        let obsolete = self.versions.obsolete_table_files();
        self.versions.remove_table_files(&obsolete)?;
        if !obsolete.is_empty() {
            tracing::debug!(tables = ?obsolete, "deleted obsolete tables");
        }
        Ok(obsolete.len())
    }

    /// Verifies `CURRENT`, the manifest and the presence of its tables,
    /// while no edit is logged (see [`VersionSet::verify`]).
    pub(crate) fn verify_manifest(
        &self,
    ) -> seer_compaction::Result<seer_compaction::manifest::ManifestVerification> {
        self.versions.verify()
    }
}

/// What a copy of the database (a checkpoint, a backup) takes: one logged
/// state and the table files it lists. Holding it pins those tables (a
/// compaction that removes one from the tree meanwhile leaves its file in
/// place until this is dropped). Written out with
/// [`seer_compaction::manifest::create_live`], `state` describes exactly
/// `tables`.
#[derive(Debug)]
pub(crate) struct LiveFiles {
    /// The manifest state: the version (pinning its tables), the last
    /// sequence number durable in them, the log number, counters, policy
    /// and merge operator.
    pub state: ManifestState,
    /// Every table of `state.version`.
    pub tables: Vec<LiveTable>,
}

/// What a copy of the whole database takes: the [`LiveFiles`] of every
/// tree (the default keyspace's, whose manifest holds the keyspace
/// registry, and each named keyspace's the registry lists), all as of one
/// sequence number (see `Engine::with_database_files`).
pub(crate) struct DatabaseFiles {
    /// The copy holds exactly the writes up to this sequence number, all
    /// of them in the tables (no WAL is needed).
    pub seq: SeqNo,
    /// The default keyspace's tree.
    pub root: LiveFiles,
    /// Each named keyspace's tree, with its directory relative to the
    /// database directory (`keyspaces/<id>`).
    pub keyspaces: Vec<(PathBuf, LiveFiles)>,
    /// Holds the engines of open named keyspaces, so a keyspace dropped
    /// meanwhile keeps its files until the copy is done.
    pub _keep_alive: Vec<Arc<dyn std::any::Any + Send + Sync>>,
}

impl DatabaseFiles {
    /// Every tree with its directory relative to the database directory
    /// (empty for the default keyspace, `keyspaces/<id>` for a named one).
    pub(crate) fn trees(&self) -> impl Iterator<Item = (&Path, &LiveFiles)> {
        std::iter::once((Path::new(""), &self.root)).chain(
            self.keyspaces
                .iter()
                .map(|(relative, live)| (relative.as_path(), live)),
        )
    }
}

/// One table file of [`LiveFiles`].
#[derive(Debug, Clone)]
pub(crate) struct LiveTable {
    /// The file in the database directory.
    pub path: PathBuf,
    /// Its file number (its name is the table name of this number).
    pub file_number: u64,
    /// Its size, as the manifest records it.
    pub size_bytes: u64,
}

/// Opens every table of `version`, by file number.
pub(crate) fn open_tables(
    fs: &dyn FileSystem,
    dir: &Path,
    version: &Version,
    cache: Option<&Arc<BlockCache>>,
) -> Result<TableMap> {
    version
        .tables()
        .map(|(_, meta)| {
            let table = open_table(fs, dir, meta.file_number, cache.cloned())?;
            Ok((meta.file_number, table))
        })
        .collect()
}

/// Opens table `number` of `dir`.
pub(crate) fn open_table(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    cache: Option<Arc<BlockCache>>,
) -> Result<Arc<Table>> {
    let path = dir.join(file_name(FileKind::Table, number));
    Ok(Arc::new(Table::open(fs, &path, number, cache)?))
}

/// The range tombstones of every table of a version, fragmented together.
pub(crate) fn tree_tombstones(tables: &TableMap) -> Arc<FragmentedTombstones> {
    let all = tables
        .values()
        .flat_map(|table| table.range_tombstones().tombstones());
    Arc::new(FragmentedTombstones::new(all))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use seer_compaction::VersionEdit;

    use crate::options::DBOptions;

    /// A trivial move removes a table from one level and adds the same
    /// file to another: its open table must stay in the map (the same
    /// `Arc`), not be dropped and re-opened by every later read.
    #[test]
    fn a_trivially_moved_table_keeps_its_open_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = DBOptions::default().open(dir.path()).unwrap();
        db.put("k", "v").unwrap();
        db.flush().unwrap();
        db.inner.jobs().stop();
        let tree = db.inner.tree();
        let current = tree.current();
        let (level, meta) = current
            .version
            .tables()
            .map(|(level, meta)| (level, Arc::clone(meta)))
            .next()
            .unwrap();
        let open_before = Arc::clone(&current.tables[&meta.file_number]);
        assert_eq!(
            tree.l0_runs(),
            current.l0_runs(),
            "the mirrored level-0 runs"
        );
        drop(current);
        let mut edit = VersionEdit::new();
        edit.remove_table(level, meta.file_number);
        edit.add_table(level + 1, tree.new_file_number(), Arc::clone(&meta));
        tree.install(edit, Vec::new()).unwrap();
        let moved = tree.current();
        assert_eq!(moved.version.tables().next().unwrap().0, level + 1);
        assert_eq!(tree.l0_runs(), moved.l0_runs(), "mirrored at the install");
        let open_after = moved.tables.get(&meta.file_number).expect("still open");
        assert!(Arc::ptr_eq(open_after, &open_before));
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn the_file_number_hash_spreads_consecutive_numbers_over_buckets_and_tags() {
        use std::collections::HashSet;
        use std::hash::{BuildHasher, BuildHasherDefault};

        use super::FileNumberHasher;

        let build = BuildHasherDefault::<FileNumberHasher>::default();
        let hashes: Vec<u64> = (1000..2024u64).map(|n| build.hash_one(n)).collect();
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        assert_eq!(buckets.len(), 1024, "1024 numbers fill 1024 buckets");
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(tags.len() >= 100, "only {} of 128 tags", tags.len());
    }
}
