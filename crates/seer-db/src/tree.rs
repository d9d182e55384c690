//! The on-disk tree as the DB sees it: the current [`Version`] with its
//! open tables (swapped atomically, so reads take no lock), the manifest
//! that records every change, and the deletion of table files once no
//! version references them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use seer_compaction::{TableMeta, Version, VersionEdit};
use seer_core::filename::file_name;
use seer_core::{FileKind, FileSystem, SharedFileSystem};
use seer_sstable::{BlockCache, Table};

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ManifestState};

/// A version with its tables opened.
#[derive(Debug)]
pub(crate) struct Tree {
    /// The tree's shape.
    pub version: Arc<Version>,
    /// Every table of `version`, by file number.
    pub tables: HashMap<u64, Arc<Table>>,
}

/// What changes the tree: serialised by one mutex (flushes and compactions
/// install edits one at a time).
#[derive(Debug)]
pub(crate) struct TreeWriter {
    manifest: Manifest,
    /// Bookkeeping recorded in the manifest.
    pub state: ManifestState,
    /// Tables removed from the current version, deleted once unreferenced.
    obsolete: Vec<(u64, Weak<TableMeta>)>,
}

/// The tree, its writer and the table opener.
#[derive(Debug)]
pub(crate) struct TreeSet {
    fs: SharedFileSystem,
    dir: PathBuf,
    cache: Option<Arc<BlockCache>>,
    current: ArcSwap<Tree>,
    writer: Mutex<TreeWriter>,
}

impl TreeSet {
    /// The tree of `version`, opening its tables, recorded by `manifest`.
    pub(crate) fn new(
        fs: SharedFileSystem,
        dir: &Path,
        cache: Option<Arc<BlockCache>>,
        version: Version,
        manifest: Manifest,
        state: ManifestState,
    ) -> Result<Self> {
        let mut tables = HashMap::new();
        for (_, meta) in version.tables() {
            let table = open_table(fs.as_ref(), dir, meta.file_number, cache.clone())?;
            tables.insert(meta.file_number, table);
        }
        let tree = Tree {
            version: Arc::new(version),
            tables,
        };
        Ok(Self {
            fs,
            dir: dir.to_owned(),
            cache,
            current: ArcSwap::from_pointee(tree),
            writer: Mutex::new(TreeWriter {
                manifest,
                state,
                obsolete: Vec::new(),
            }),
        })
    }

    /// The current tree (a cheap, lock-free load).
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<Tree>> {
        self.current.load()
    }

    /// The open table of `meta`: from the current tree, or opened anew
    /// when an older version still lists it.
    pub(crate) fn table(&self, meta: &TableMeta) -> Result<Arc<Table>> {
        if let Some(table) = self.current.load().tables.get(&meta.file_number) {
            return Ok(Arc::clone(table));
        }
        open_table(
            self.fs.as_ref(),
            &self.dir,
            meta.file_number,
            self.cache.clone(),
        )
    }

    /// Records `edit` in the manifest and makes it current; `new_tables`
    /// are the opened tables it adds. Returns the new version.
    pub(crate) fn install(
        &self,
        edit: &mut VersionEdit,
        new_tables: Vec<Arc<Table>>,
        next_file_number: u64,
    ) -> Result<Arc<Version>> {
        let mut writer = self.writer.lock();
        let old = self.current.load_full();
        let version = old.version.apply(edit).map_err(|e| Error::Corruption {
            file: self.dir.clone(),
            offset: 0,
            detail: format!("version edit does not apply: {e}"),
        })?;
        edit.next_file_number = Some(next_file_number);
        writer.manifest.append(edit)?;
        writer.state.absorb(edit);
        let mut tables = old.tables.clone();
        for removed in &edit.removed_tables {
            tables.remove(&removed.file_number);
            if let Some((_, meta)) = old
                .version
                .tables()
                .find(|(_, meta)| meta.file_number == removed.file_number)
            {
                writer
                    .obsolete
                    .push((removed.file_number, Arc::downgrade(meta)));
            }
        }
        for table in new_tables {
            tables.insert(table.file_number(), table);
        }
        let version = Arc::new(version);
        self.current.store(Arc::new(Tree {
            version: Arc::clone(&version),
            tables,
        }));
        Ok(version)
    }

    /// Deletes removed tables that no version references any more.
    pub(crate) fn delete_unreferenced(&self) -> Result<usize> {
        let mut writer = self.writer.lock();
        let mut deleted = 0;
        let mut first_error = None;
        writer.obsolete.retain(|(number, meta)| {
            if meta.strong_count() > 0 {
                return true;
            }
            let path = self.dir.join(file_name(FileKind::Table, *number));
            match self.fs.remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(Error::io(path, e));
                    return true;
                }
            }
            false
        });
        match first_error {
            Some(error) => Err(error),
            None => Ok(deleted),
        }
    }

    /// Removed tables still waiting for their last reader.
    pub(crate) fn pending_deletions(&self) -> usize {
        self.writer.lock().obsolete.len()
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

/// The version layer's record of a table the builder just finished.
pub(crate) fn version_meta(meta: &seer_sstable::TableMeta) -> Arc<TableMeta> {
    Arc::new(TableMeta {
        file_number: meta.file_number,
        file_size_bytes: meta.file_size_bytes,
        smallest: meta.smallest.clone(),
        largest: meta.largest.clone(),
        smallest_seq: meta.smallest_seq,
        largest_seq: meta.largest_seq,
        entry_count: meta.entry_count,
        tombstone_count: meta.tombstone_count,
        merge_count: meta.merge_count,
        raw_key_bytes: meta.raw_key_bytes,
        raw_value_bytes: meta.raw_value_bytes,
    })
}
