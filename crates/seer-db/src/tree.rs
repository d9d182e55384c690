//! The on-disk tree as the DB sees it: seer-compaction's [`VersionSet`]
//! (current version, manifest, file numbers, obsolete-table tracking) plus
//! the open [`Table`]s of the current version, swapped together atomically
//! so point reads take no lock, and the open tables that left the current
//! version but that an older version (a reader's pinned view) still lists.
//!
//! Every table of every live version is open here, so readers never open a
//! table file: an iterator or snapshot that outlives its database reads its
//! tables through these open maps, even after a new instance deleted the
//! files (an unlinked file's mapping stays readable). A table moved to
//! another level (a trivial move) keeps its open [`Table`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use seer_compaction::{TableMeta, Version, VersionEdit, VersionSet};
use seer_core::filename::file_name;
use seer_core::{FileKind, FileSystem, SharedFileSystem};
use seer_sstable::{BlockCache, Table};

use crate::error::Result;

/// A version with its tables opened.
#[derive(Debug)]
pub(crate) struct Tree {
    /// The tree's shape.
    pub version: Arc<Version>,
    /// Every table of `version`, by file number.
    pub tables: HashMap<u64, Arc<Table>>,
    /// The manifest's log number as of `version`: an immutable memtable
    /// whose WAL segment is below it is flushed into `version`'s tables, so
    /// a reader that loaded it before this tree must skip it.
    pub log_number: u64,
}

/// Open tables by file number, each with a weak reference to the metadata
/// the versions listing it share.
type RetiredTables = HashMap<u64, (Weak<TableMeta>, Arc<Table>)>;

/// The version set and the open tables of its current version.
#[derive(Debug)]
pub(crate) struct TreeSet {
    fs: SharedFileSystem,
    dir: PathBuf,
    cache: Option<Arc<BlockCache>>,
    versions: VersionSet,
    current: ArcSwap<Tree>,
    /// Keeps `current` in step with the version set's current version.
    install_lock: Mutex<()>,
    /// Tables an install removed from `current`, kept open while a live
    /// version lists them (the weak reference is that version's metadata);
    /// dropped by [`TreeSet::delete_unreferenced`] with their files.
    retired: Mutex<RetiredTables>,
}

impl TreeSet {
    /// Opens the tables of `versions`' current version.
    pub(crate) fn new(
        fs: SharedFileSystem,
        dir: &Path,
        cache: Option<Arc<BlockCache>>,
        versions: VersionSet,
    ) -> Result<Self> {
        let version = versions.current();
        let log_number = versions.log_number();
        let mut tables = HashMap::new();
        for (_, meta) in version.tables() {
            let table = open_table(fs.as_ref(), dir, meta.file_number, cache.clone())?;
            tables.insert(meta.file_number, table);
        }
        Ok(Self {
            fs,
            dir: dir.to_owned(),
            cache,
            versions,
            current: ArcSwap::from_pointee(Tree {
                version,
                tables,
                log_number,
            }),
            install_lock: Mutex::new(()),
            retired: Mutex::new(HashMap::new()),
        })
    }

    /// The current tree (a cheap, lock-free load).
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<Tree>> {
        self.current.load()
    }

    /// A new, unique file number (tables, WAL segments, run ids).
    pub(crate) fn new_file_number(&self) -> u64 {
        self.versions.new_file_number()
    }

    /// The open table of `meta`, from the current tree or, when only an
    /// older version lists it, from the retired tables; `None` when it is
    /// not open (it is then in no live version).
    pub(crate) fn open_table_of(&self, meta: &TableMeta) -> Option<Arc<Table>> {
        if let Some(table) = self.current.load().tables.get(&meta.file_number) {
            return Some(Arc::clone(table));
        }
        let retired = self.retired.lock();
        retired
            .get(&meta.file_number)
            .map(|(_, table)| Arc::clone(table))
    }

    /// Opens table `meta` anew (for a table no open map holds).
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
        let removed: Vec<u64> = edit
            .removed_tables
            .iter()
            .map(|r| r.file_number)
            .filter(|&number| {
                !edit
                    .added_tables
                    .iter()
                    .any(|added| added.meta.file_number == number)
            })
            .collect();
        let version = self.versions.log_and_apply(edit)?;
        let old = self.current.load();
        let mut tables = old.tables.clone();
        let mut retired = self.retired.lock();
        for number in removed {
            let Some(table) = tables.remove(&number) else {
                continue;
            };
            if let Some((_, meta)) = old.version.tables().find(|(_, m)| m.file_number == number) {
                retired.insert(number, (Arc::downgrade(meta), table));
            }
        }
        drop(retired);
        for table in new_tables {
            tables.insert(table.file_number(), table);
        }
        self.current.store(Arc::new(Tree {
            version: Arc::clone(&version),
            tables,
            log_number: self.versions.log_number(),
        }));
        Ok(version)
    }

    /// Closes and deletes removed tables that no version references any
    /// more.
    pub(crate) fn delete_unreferenced(&self) -> Result<usize> {
        let obsolete = self.versions.obsolete_table_files();
        {
            let mut retired = self.retired.lock();
            retired.retain(|_, (meta, _)| meta.strong_count() > 0);
        }
        self.versions.remove_table_files(&obsolete)?;
        if !obsolete.is_empty() {
            tracing::debug!(tables = ?obsolete, "deleted obsolete tables");
        }
        Ok(obsolete.len())
    }
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
        db.inner.jobs.stop();
        let tree = db.inner.tree();
        let current = tree.current();
        let (level, meta) = current
            .version
            .tables()
            .map(|(level, meta)| (level, Arc::clone(meta)))
            .next()
            .unwrap();
        let open_before = Arc::clone(&current.tables[&meta.file_number]);
        drop(current);
        let mut edit = VersionEdit::new();
        edit.remove_table(level, meta.file_number);
        edit.add_table(level + 1, tree.new_file_number(), Arc::clone(&meta));
        tree.install(edit, Vec::new()).unwrap();
        let moved = tree.current();
        assert_eq!(moved.version.tables().next().unwrap().0, level + 1);
        let open_after = moved.tables.get(&meta.file_number).expect("still open");
        assert!(Arc::ptr_eq(open_after, &open_before));
        assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
