//! Named keyspaces: the set the database's engine keeps of them, and
//! opening, creating and listing them. A named keyspace is an [`Engine`]
//! of its own over the tree in its directory (`keyspaces/<id>/`, see
//! [`keyspace_dir`]), with its own memtables, background jobs and
//! [`KeyspaceOptions`] applied over the database's [`DBOptions`], sharing
//! the database's commit pipeline (so one WAL and one group commit), its
//! snapshot registry (so one sequence of snapshots), its health and its
//! [`KeyspaceRoutes`](crate::keyspace_routes::KeyspaceRoutes). Creating a keyspace makes its directory and empty
//! manifest first, then records it in the default keyspace's manifest (the
//! registry); a crash in between leaves a directory the registry does not
//! name, which is never read.
//!
//! Dropping a keyspace records the drop in the registry first (durable when
//! [`Engine::drop_keyspace`] returns), then closes its engine; its files
//! are deleted when the engine itself goes, with the last handle, iterator
//! or snapshot view holding it (an open deletes those of a keyspace the
//! registry no longer names, should a crash have come first). Its ops
//! still in the WAL are skipped by recovery, and its id is never reused.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use seer_compaction::{VersionEdit, VersionSet};
use seer_core::SeqNo;
use seer_wal::KeyspaceId;

use super::{Engine, Shared};
use crate::background;
use crate::dir::DbDir;
use crate::error::{Error, Result};
use crate::keyspace_routes::Route;
use crate::memtables::Memtables;
use crate::options::{DBOptions, KeyspaceOptions};
use crate::pipeline::Pipeline;
use crate::recovery::{
    check_merge_operator, keyspace_dir, version_set_options, ReadOnlyKeyspace, RecoveredKeyspace,
};
use crate::tree::{DatabaseFiles, OpenVersion, OpenVersionSet};
use crate::verify::VerifyReport;

/// The longest keyspace name, in bytes.
const MAX_KEYSPACE_NAME_BYTES: usize = 255;

/// The named keyspaces of a database's engine: those opened (by name) and
/// those recovered but not opened yet.
#[derive(Default)]
pub(super) struct KeyspaceSet {
    state: Mutex<KeyspaceState>,
}

/// A keyspace recovered but not opened: what reports and `verify` read of
/// it.
pub(super) struct RecoveredTree {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: std::path::PathBuf,
    /// Its tree.
    pub tree: Arc<OpenVersionSet>,
}

#[derive(Default)]
struct KeyspaceState {
    opened: HashMap<String, Arc<Engine>>,
    recovered: HashMap<String, RecoveredKeyspace>,
}

impl KeyspaceSet {
    /// The set of a database that recovered `keyspaces`, none open yet.
    pub(super) fn recovered(keyspaces: Vec<RecoveredKeyspace>) -> Self {
        let recovered = keyspaces
            .into_iter()
            .map(|keyspace| (keyspace.name.clone(), keyspace))
            .collect();
        Self {
            state: Mutex::new(KeyspaceState {
                opened: HashMap::new(),
                recovered,
            }),
        }
    }

    /// The open keyspaces' engines, by name, sorted.
    pub(super) fn opened(&self) -> Vec<(String, Arc<Engine>)> {
        let mut opened: Vec<(String, Arc<Engine>)> = self
            .state
            .lock()
            .opened
            .iter()
            .map(|(name, engine)| (name.clone(), Arc::clone(engine)))
            .collect();
        opened.sort_by(|a, b| a.0.cmp(&b.0));
        opened
    }

    /// The keyspaces recovered but not opened (by `DB::keyspace`) yet, by
    /// name, sorted: their current trees.
    pub(super) fn recovered_trees(&self, root: &std::path::Path) -> Vec<RecoveredTree> {
        let mut recovered: Vec<RecoveredTree> = self
            .state
            .lock()
            .recovered
            .values()
            .map(|keyspace| RecoveredTree {
                name: keyspace.name.clone(),
                dir: keyspace_dir(root, keyspace.id),
                tree: Arc::clone(&keyspace.tree),
            })
            .collect();
        recovered.sort_by(|a, b| a.name.cmp(&b.name));
        recovered
    }

    /// The current version of every named keyspace, opened or not, by id.
    pub(super) fn current_versions(&self) -> HashMap<KeyspaceId, Arc<OpenVersion>> {
        let state = self.state.lock();
        let opened = state
            .opened
            .values()
            .map(|engine| (engine.keyspace_id(), engine.tree.current()));
        let recovered = state
            .recovered
            .values()
            .map(|keyspace| (keyspace.id, keyspace.tree.current()));
        opened
            .chain(recovered)
            .map(|(id, current)| (id, arc_swap::Guard::into_inner(current)))
            .collect()
    }

    /// Swaps a read-only catch-up's loads of the named keyspaces in: each
    /// opened one's engine moves to its load, each other one is replaced
    /// by its load (a keyspace created since is added, one dropped since is
    /// no longer offered to `DB::keyspace`; an opened one stays as it is).
    /// Everything fallible is done before anything is swapped.
    pub(super) fn catch_up(
        &self,
        loaded: Vec<ReadOnlyKeyspace>,
        last_seq: SeqNo,
        fs: &seer_core::SharedFileSystem,
        root: &std::path::Path,
        cache: Option<&Arc<seer_sstable::BlockCache>>,
    ) -> Result<()> {
        let mut state = self.state.lock();
        let mut swaps = Vec::new();
        let mut recovered = HashMap::new();
        for keyspace in loaded {
            match state.opened.get(&keyspace.name) {
                Some(engine) if engine.keyspace_id() == keyspace.id => {
                    swaps.push((Arc::clone(engine), keyspace));
                }
                Some(_) => {}
                None => {
                    let keyspace = keyspace.into_recovered(fs, root, cache)?;
                    recovered.insert(keyspace.name.clone(), keyspace);
                }
            }
        }
        for (engine, keyspace) in swaps {
            engine.swap_in(keyspace.open_version, keyspace.immutables, last_seq);
        }
        state.recovered = recovered;
        Ok(())
    }

    /// Closes every open keyspace's engine; the first failure.
    pub(super) fn close_all(&self) -> Result<()> {
        let opened: Vec<Arc<Engine>> = self.state.lock().opened.values().cloned().collect();
        opened
            .iter()
            .map(|engine| engine.close())
            .fold(Ok(()), Result::and)
    }
}

impl Engine {
    /// [`Engine::flush`] of the default keyspace, then of every open named
    /// one. A keyspace recovered but not opened in this handle has nothing
    /// to flush: recovery wrote every op of it the WAL held into its level
    /// 0 before the open returned, and nothing can write to it until it is
    /// opened.
    pub(crate) fn flush_all(&self) -> Result<()> {
        self.flush()?;
        for (_, keyspace) in self.keyspaces.opened() {
            keyspace.flush()?;
        }
        Ok(())
    }

    /// [`Engine::verify`] of the default keyspace (with the WAL), and of
    /// every named keyspace's manifest and tables (those recovered but not
    /// opened in this handle too, read through their recovered trees), in
    /// one report.
    pub(crate) fn verify_all(&self) -> Result<VerifyReport> {
        let mut report = self.verify()?;
        let mut theirs = Vec::new();
        for (_, keyspace) in self.keyspaces.opened() {
            theirs.push(keyspace.verify()?);
        }
        for keyspace in self.keyspaces.recovered_trees(&self.wal_dir) {
            let _active = self.lifecycle.enter()?;
            theirs.push(crate::verify::verify(
                self.fs.as_ref(),
                &keyspace.dir,
                &keyspace.tree,
            )?);
        }
        for their in theirs {
            report.checked_files.extend(their.checked_files);
            report.bad_files.extend(their.bad_files);
        }
        Ok(report)
    }

    /// Lends `copy` the file system and the [`DatabaseFiles`] of every
    /// tree as of one sequence number (pinning their tables), inside the
    /// lifecycle gate: the one entry of checkpoints and backups, so a close
    /// waits for the copy. Flushes every keyspace first; a database with
    /// named keyspaces then holds every write off (the commit gate,
    /// exclusively) while it flushes again what was written meanwhile and
    /// takes every tree's files, so each holds exactly the writes up to
    /// the visible sequence number and an atomic batch across keyspaces is
    /// in all of them or none (see docs/OPERATIONS.md, "Checkpoints").
    pub(crate) fn with_database_files<T>(
        &self,
        copy: impl FnOnce(&dyn seer_core::FileSystem, DatabaseFiles) -> Result<T>,
    ) -> Result<T> {
        self.flush_all()?;
        let _active = self.lifecycle.enter()?;
        let files = self.database_files(None)?;
        if files.keyspaces.is_empty() {
            // One tree is consistent by itself: no writes are held.
            return copy(self.fs.as_ref(), files);
        }
        drop(files);
        let files = {
            let _exclusive = self.commit_gate.write();
            self.flush_all()?;
            self.database_files(Some(self.visible_seq()))?
        };
        copy(self.fs.as_ref(), files)
    }

    /// The files of the default keyspace's tree and of each named keyspace
    /// its registry lists (open in this handle or only recovered), taken
    /// under the keyspace set's lock so none is created or dropped in
    /// between; `held_seq` is the visible sequence number while writes are
    /// held (`None`: the default keyspace's tree alone decides).
    fn database_files(&self, held_seq: Option<SeqNo>) -> Result<DatabaseFiles> {
        let state = self.keyspaces.state.lock();
        let mut root = self.tree.live_files();
        let mut keyspaces = Vec::with_capacity(root.state.keyspaces.len());
        let mut keep_alive: Vec<Arc<dyn std::any::Any + Send + Sync>> = Vec::new();
        for (&id, name) in &root.state.keyspaces {
            let live = match (state.opened.get(name), state.recovered.get(name)) {
                (Some(engine), _) => {
                    keep_alive.push(Arc::clone(engine) as Arc<dyn std::any::Any + Send + Sync>);
                    engine.tree.live_files()
                }
                (None, Some(recovered)) => recovered.tree.live_files(),
                (None, None) => {
                    return Err(Error::invalid(format!(
                        "keyspace {name:?} is registered but neither open nor recovered"
                    )))
                }
            };
            keyspaces.push((keyspace_dir(std::path::Path::new(""), id), live));
        }
        // The copy's sequence numbers go on above every keyspace's.
        let seq = keyspaces
            .iter()
            .map(|(_, live)| live.state.last_seq)
            .fold(held_seq.unwrap_or(root.state.last_seq), SeqNo::max);
        root.state.last_seq = seq;
        Ok(DatabaseFiles {
            seq,
            root,
            keyspaces,
            _keep_alive: keep_alive,
        })
    }

    /// The names of the named keyspaces, sorted (the default keyspace is
    /// not listed).
    pub(crate) fn keyspace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tree.versions().keyspaces().into_values().collect();
        names.sort();
        names
    }

    /// Drops the named keyspace `name` (see the module documentation).
    pub(crate) fn drop_keyspace(&self, name: &str) -> Result<()> {
        let _active = self.lifecycle.enter()?;
        self.refuse_read_only()?;
        self.health.check_writable()?;
        let mut state = self.keyspaces.state.lock();
        let registry = self.tree.versions().keyspaces();
        let Some((&id, _)) = registry.iter().find(|(_, live)| live.as_str() == name) else {
            return Err(Error::invalid(format!("no keyspace is named {name:?}")));
        };
        let dropped = VersionEdit {
            dropped_keyspaces: vec![id],
            ..VersionEdit::default()
        };
        self.tree.install(dropped, Vec::new())?;
        self.routes.remove(id);
        tracing::info!(name, id, "keyspace dropped");
        if let Some(engine) = state.opened.remove(name) {
            engine.dropped.store(true, Ordering::Release);
            return engine.close();
        }
        if let Some(recovered) = state.recovered.remove(name) {
            drop(recovered);
            crate::dir::remove_files_in(self.fs.as_ref(), &keyspace_dir(&self.wal_dir, id))?;
        }
        Ok(())
    }

    /// This engine's keyspace id ([`seer_wal::DEFAULT_KEYSPACE`] for the
    /// database's own).
    pub(crate) fn keyspace_id(&self) -> KeyspaceId {
        self.pipeline.keyspace_id()
    }

    /// The engine of the open keyspace `id` of this database; fails when
    /// none is open (a batch naming a keyspace of another database, or
    /// one dropped).
    pub(crate) fn open_keyspace_by_id(&self, id: KeyspaceId) -> Result<Arc<Self>> {
        self.keyspaces
            .state
            .lock()
            .opened
            .values()
            .find(|engine| engine.keyspace_id() == id)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("keyspace id {id} is not open in this database")))
    }

    /// Opens the named keyspace `name`, creating it (durably) when the
    /// database has none of that name; `options` apply over the database's
    /// from this open until the database closes (a keyspace already open
    /// keeps the options it was opened with).
    pub(crate) fn open_keyspace(&self, name: &str, options: &KeyspaceOptions) -> Result<Arc<Self>> {
        let _active = self.lifecycle.enter()?;
        check_name(name)?;
        if self.pipeline.is_read_only() {
            return self.open_keyspace_read_only(name, options);
        }
        let Some(wal) = self.pipeline.shared().cloned() else {
            return Err(Error::OpenedReadOnly);
        };
        if self.pipeline.keyspace_id() != seer_wal::DEFAULT_KEYSPACE {
            return Err(Error::invalid("keyspaces are opened from the database"));
        }
        let mut state = self.keyspaces.state.lock();
        if let Some(engine) = state.opened.get(name) {
            return Ok(Arc::clone(engine));
        }
        let options = options.apply(&self.options);
        options.validate()?;
        if let Some(recovered) = state.recovered.get(name) {
            check_merge_operator(
                &options,
                recovered.tree.versions().merge_operator_name().as_deref(),
            )?;
        }
        let (id, tree, recorded_policy) = match state.recovered.remove(name) {
            Some(recovered) => {
                let policy = recovered.tree.versions().policy();
                (recovered.id, recovered.tree, Some(policy))
            }
            None => {
                self.health.check_writable()?;
                let (id, tree) = self.create_keyspace(name, &options, wal.segment())?;
                (id, Arc::new(tree), None)
            }
        };
        if let Some(operator) = options.merge_operator_ref() {
            let edit = VersionEdit {
                merge_operator_name: Some(operator.name().to_owned()),
                ..VersionEdit::default()
            };
            tree.install(edit, Vec::new())?;
        }
        let dir = DbDir::keyspace(self.fs.as_ref(), &keyspace_dir(&self.wal_dir, id))?;
        let memtables = Arc::new(Memtables::new(
            options.memtable_partitions,
            options.memtable_capacity_bytes,
            Vec::new(),
        ));
        let engine = Self::assemble(
            options,
            dir,
            Arc::clone(&memtables),
            Pipeline::Keyspace {
                wal,
                root_tree: Arc::clone(&self.tree),
                id,
            },
            Arc::clone(&tree),
            self.block_cache.clone(),
            self.shared(),
            recorded_policy,
            KeyspaceSet::default(),
        );
        let flusher: std::sync::Weak<Self> = Arc::downgrade(&engine);
        self.routes.insert(
            id,
            Route {
                memtables,
                tree,
                flusher,
            },
        );
        background::start(&engine, Self::job_context)?;
        state.opened.insert(name.to_owned(), Arc::clone(&engine));
        tracing::info!(name, id, "keyspace opened");
        Ok(engine)
    }

    /// Opens keyspace `name` of a read-only open: the engine over its
    /// recovered tree and replayed memtables, read-only as the database's
    /// (no background thread, every write refused). Fails with
    /// [`Error::OpenedReadOnly`] when the database has no keyspace of that
    /// name (a read-only open cannot create one).
    fn open_keyspace_read_only(&self, name: &str, options: &KeyspaceOptions) -> Result<Arc<Self>> {
        let mut state = self.keyspaces.state.lock();
        if let Some(engine) = state.opened.get(name) {
            return Ok(Arc::clone(engine));
        }
        let options = options.apply(&self.options);
        options.validate()?;
        let Some(recovered) = state.recovered.get(name) else {
            return Err(Error::OpenedReadOnly);
        };
        check_merge_operator(
            &options,
            recovered.tree.versions().merge_operator_name().as_deref(),
        )?;
        let Some(recovered) = state.recovered.remove(name) else {
            return Err(Error::OpenedReadOnly);
        };
        let dir = DbDir::keyspace(self.fs.as_ref(), &keyspace_dir(&self.wal_dir, recovered.id))?;
        let memtables = Arc::new(Memtables::new(
            options.memtable_partitions,
            options.memtable_capacity_bytes,
            recovered.immutables,
        ));
        let policy = recovered.tree.versions().policy();
        let engine = Self::assemble(
            options,
            dir,
            memtables,
            Pipeline::ReadOnly {
                visible_seq: std::sync::atomic::AtomicU64::new(self.visible_seq()),
                id: recovered.id,
            },
            recovered.tree,
            self.block_cache.clone(),
            self.shared(),
            Some(policy),
            KeyspaceSet::default(),
        );
        state.opened.insert(name.to_owned(), Arc::clone(&engine));
        tracing::info!(name, id = recovered.id, "keyspace opened read-only");
        Ok(engine)
    }

    /// What a keyspace's engine shares with this (the database's) one.
    fn shared(&self) -> Shared {
        Shared {
            snapshots: Arc::clone(&self.snapshots),
            routes: Arc::clone(&self.routes),
            commit_gate: Arc::clone(&self.commit_gate),
            switch_lock: Arc::clone(&self.switch_lock),
            health: Arc::clone(&self.health),
            wal_dir: self.wal_dir.clone(),
        }
    }

    /// Creates keyspace `name`: its directory and empty tree (logging from
    /// WAL segment `first_segment` on, the one being written), then its
    /// entry in the registry.
    fn create_keyspace(
        &self,
        name: &str,
        options: &DBOptions,
        first_segment: u64,
    ) -> Result<(KeyspaceId, OpenVersionSet)> {
        let id = self.tree.versions().next_keyspace_id();
        let dir = keyspace_dir(&self.wal_dir, id);
        let fs = self.fs.as_ref();
        fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let (versions, _) =
            VersionSet::open(Arc::clone(&self.fs), &dir, version_set_options(options))?;
        versions.log_and_apply(VersionEdit {
            log_number: Some(first_segment),
            ..VersionEdit::default()
        })?;
        for parent in dir.ancestors().skip(1).take(2) {
            fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
        }
        let registered = VersionEdit {
            created_keyspaces: vec![(id, name.to_owned())],
            next_keyspace_id: Some(id + 1),
            ..VersionEdit::default()
        };
        self.tree.install(registered, Vec::new())?;
        let tree = OpenVersionSet::new(
            Arc::clone(&self.fs),
            &dir,
            self.block_cache.clone(),
            versions,
            crate::tree::TableMap::default(),
        )?;
        tracing::info!(name, id, "keyspace created");
        Ok((id, tree))
    }
}

/// A keyspace name is 1 to [`MAX_KEYSPACE_NAME_BYTES`] bytes.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_KEYSPACE_NAME_BYTES {
        return Err(Error::invalid(format!(
            "a keyspace name is 1 to {MAX_KEYSPACE_NAME_BYTES} bytes, not {}",
            name.len()
        )));
    }
    Ok(())
}
