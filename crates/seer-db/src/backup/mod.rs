//! Incremental backups: [`BackupEngine`] keeps numbered backups of a
//! database in a directory of its own, sharing each table between the
//! backups that hold it.
//!
//! ```text
//! <dir>/LOCK                          one engine at a time
//! <dir>/meta/<id>                     a backup's metadata (meta.rs); its
//!                                     rename into place commits the backup
//! <dir>/private/<id>/MANIFEST-…, CURRENT   the backup's own manifest
//! <dir>/private/<id>/keyspaces/<ks>/…   each named keyspace's manifest
//! <dir>/shared/<number>-<size>-<xxh3>.sst  tables, named by content
//! ```
//!
//! A backup flushes the database and takes the [`DatabaseFiles`] of every
//! keyspace's tree as of one sequence number, as a checkpoint does (see
//! [`crate::checkpoint`]); writes a fresh manifest describing exactly each
//! tree's tables into its private directory (a named keyspace's under
//! `keyspaces/<id>/` there); checksums every table and copies the ones whose content name
//! is not in `shared/` yet (through a temporary name, synced, renamed);
//! and last writes its metadata (temporary name, sync, rename, directory
//! sync). Until that rename the backup does not exist: [`BackupEngine::open`]
//! deletes the temporary files, the private directories without metadata
//! and the shared tables no metadata lists, so a backup interrupted by a
//! crash is ignored and cleaned up. [`BackupEngine::purge_old`] deletes
//! metadata first and the files nothing lists any more after, for the
//! same reason. A restore copies a backup's files into a staging directory
//! renamed into place once complete (as a checkpoint is built), checking
//! each file's checksum on the way.

mod meta;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use seer_core::filename::{file_name, parse_file_name};
use seer_core::{
    Corruption, FileKind, FileLock, FileSystem, RealFileSystem, SeqNo, SharedFileSystem,
};

use crate::checkpoint::{
    build_staged, check_size, copy_file, file_digest, remove_copy_dir, sync_keyspace_dirs,
    write_manifest, FileDigest,
};
use crate::db::DB;
use crate::dir::lock_dir;
use crate::error::{Error, Result};
use crate::tree::{DatabaseFiles, LiveTable};
use meta::{private_dir_name, BackupFile, BackupMeta};

/// The number of a backup in its backup directory (1, 2, …; never reused
/// while a later one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupId(pub u64);

impl std::fmt::Display for BackupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One backup, as [`BackupEngine::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Its id.
    pub id: BackupId,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// It holds exactly the writes up to this sequence number.
    pub seq: SeqNo,
    /// The bytes of its files (tables shared with other backups included).
    pub size_bytes: u64,
    /// Its files: tables, manifest, `CURRENT`.
    pub files_count: usize,
}

/// A directory of incremental backups of one database (its layout and
/// crash safety: docs/OPERATIONS.md, "Backups"). Holds the directory's
/// lock while open.
#[derive(Debug)]
pub struct BackupEngine {
    fs: SharedFileSystem,
    dir: PathBuf,
    backups: BTreeMap<u64, BackupMeta>,
    _lock: Box<dyn FileLock>,
}

const META_DIR: &str = "meta";
const PRIVATE_DIR: &str = "private";
const SHARED_DIR: &str = "shared";
const TEMP_SUFFIX: &str = ".tmp";

impl BackupEngine {
    /// Opens (creating it if needed) the backup directory `dir` on the real
    /// file system; see [`BackupEngine::open_with`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(RealFileSystem::shared(), dir.as_ref())
    }

    /// Opens (creating it if needed) the backup directory `dir` on `fs`:
    /// takes its lock ([`Error::Locked`] when another engine holds it),
    /// reads every backup's metadata (a damaged one is an
    /// [`Error::Corruption`] naming it) and deletes what an interrupted
    /// backup or purge left: temporary files, private directories without
    /// metadata, shared tables no backup lists.
    pub fn open_with(fs: SharedFileSystem, dir: &Path) -> Result<Self> {
        for sub in [META_DIR, PRIVATE_DIR, SHARED_DIR] {
            let path = dir.join(sub);
            fs.create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
        let lock = lock_dir(fs.as_ref(), dir)?;
        let mut engine = Self {
            fs,
            dir: dir.to_owned(),
            backups: BTreeMap::new(),
            _lock: lock,
        };
        engine.load_metadata()?;
        engine.remove_unlisted()?;
        Ok(engine)
    }

    /// Backs up `db` as it is at the call (it flushes first, so the backup
    /// has no WAL and holds exactly the writes up to one sequence number,
    /// reported by [`BackupEngine::list`]; every named keyspace of the
    /// database as of that one number, as [`DB::checkpoint`] takes them).
    /// Tables already in the backup
    /// directory (same number, size and checksum) are not copied again.
    /// Every live table is read once to checksum it; only the new ones
    /// are written.
    pub fn create_backup(&mut self, db: &DB) -> Result<BackupId> {
        let id = self.backups.keys().next_back().map_or(1, |last| last + 1);
        let meta = db
            .inner
            .with_database_files(|db_fs, files| self.write_backup_files(id, db_fs, &files))?;
        self.commit(&meta)?;
        tracing::info!(id, seq = meta.seq, "backup created");
        self.backups.insert(id, meta);
        Ok(BackupId(id))
    }

    /// Every backup, oldest first.
    pub fn list(&self) -> Vec<BackupInfo> {
        self.backups
            .values()
            .map(|meta| BackupInfo {
                id: BackupId(meta.id),
                timestamp_ms: meta.timestamp_ms,
                seq: meta.seq,
                size_bytes: meta.files.iter().map(|file| file.size_bytes).sum(),
                files_count: meta.files.len(),
            })
            .collect()
    }

    /// Reads every file of backup `id` and checks its size and checksum:
    /// a damaged or missing file is an [`Error::Corruption`] or
    /// [`Error::Io`] naming it; [`Error::BackupNotFound`] for an unknown id.
    pub fn verify(&self, id: BackupId) -> Result<()> {
        for file in &self.meta(id)?.files {
            let path = self.dir.join(&file.stored);
            check_digest(&path, file, file_digest(self.fs.as_ref(), &path)?)?;
        }
        Ok(())
    }

    /// Restores backup `id` as a new database directory `target` (which
    /// must not exist: [`Error::TargetExists`]) on the backup directory's
    /// file system: its files are copied and checked against their
    /// checksums into a staging directory renamed into place once complete
    /// (as [`DB::checkpoint`] builds its copy), so a crash leaves no
    /// partial database at `target`. Opened, the database holds exactly
    /// what the source held at the backup's sequence number.
    pub fn restore(&self, id: BackupId, target: impl AsRef<Path>) -> Result<()> {
        let meta = self.meta(id)?;
        let fs = self.fs.as_ref();
        build_staged(fs, target.as_ref(), |staging| {
            for file in &meta.files {
                let from = self.dir.join(&file.stored);
                let to = staging.join(&file.name);
                if let Some(parent) = to.parent() {
                    fs.create_dir_all(parent)
                        .map_err(|e| Error::io(parent, e))?;
                }
                let digest = copy_file(fs, &from, fs, &to)?;
                check_digest(&from, file, digest)?;
            }
            // A named keyspace's directory is synced once its files are in.
            for file in &meta.files {
                if let Some(parent) = Path::new(&file.name).parent() {
                    if !parent.as_os_str().is_empty() {
                        let dir = staging.join(parent);
                        fs.sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
                    }
                }
            }
            sync_keyspace_dirs(fs, staging)
        })
    }

    /// Deletes every backup but the newest `keep_count`, and the files no
    /// remaining backup lists (tables shared with a kept backup stay).
    /// Returns the ids deleted.
    pub fn purge_old(&mut self, keep_count: usize) -> Result<Vec<BackupId>> {
        let purge_count = self.backups.len().saturating_sub(keep_count);
        let purged: Vec<u64> = self.backups.keys().take(purge_count).copied().collect();
        let meta_dir = self.dir.join(META_DIR);
        for id in &purged {
            let path = meta_dir.join(private_dir_name(*id));
            self.fs
                .remove_file(&path)
                .map_err(|e| Error::io(&path, e))?;
            self.backups.remove(id);
        }
        self.sync_dir(&meta_dir)?;
        self.remove_unlisted()?;
        Ok(purged.into_iter().map(BackupId).collect())
    }

    /// The metadata of backup `id`.
    fn meta(&self, id: BackupId) -> Result<&BackupMeta> {
        self.backups
            .get(&id.0)
            .ok_or_else(|| Error::BackupNotFound {
                id: id.0,
                dir: self.dir.clone(),
            })
    }

    /// Writes backup `id`'s manifests (one per tree: the default
    /// keyspace's in its private directory, each named keyspace's under
    /// `keyspaces/<id>/` there) and the tables `shared/` lacks; returns its
    /// metadata (not yet written).
    fn write_backup_files(
        &self,
        id: u64,
        db_fs: &dyn FileSystem,
        files: &DatabaseFiles,
    ) -> Result<BackupMeta> {
        let private_name = private_dir_name(id);
        let private = self.dir.join(PRIVATE_DIR).join(&private_name);
        let mut listed = Vec::new();
        for (relative, live) in files.trees() {
            let dir = private.join(relative);
            self.fs
                .create_dir_all(&dir)
                .map_err(|e| Error::io(&dir, e))?;
            write_manifest(self.fs.as_ref(), &dir, &live.state)?;
            for name in self.names(&dir)? {
                if parse_file_name(&name).is_none() {
                    continue; // `keyspaces/`
                }
                let path = dir.join(&name);
                let digest = file_digest(self.fs.as_ref(), &path)?;
                let name = relative.join(&name).to_string_lossy().into_owned();
                listed.push(backup_file(
                    format!("{PRIVATE_DIR}/{private_name}/{name}"),
                    name,
                    digest,
                ));
            }
        }
        sync_keyspace_dirs(self.fs.as_ref(), &private)?;
        self.sync_dir(&self.dir.join(PRIVATE_DIR))?;
        let shared = self.dir.join(SHARED_DIR);
        for (relative, live) in files.trees() {
            for table in &live.tables {
                let file = self.share_table(db_fs, &shared, table)?;
                let name = relative.join(&file.name).to_string_lossy().into_owned();
                listed.push(BackupFile { name, ..file });
            }
        }
        self.sync_dir(&shared)?;
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        Ok(BackupMeta {
            id,
            timestamp_ms,
            seq: files.seq,
            files: listed,
        })
    }

    /// Checksums `table` and copies it into `shared/` unless a table of
    /// the same number, size and checksum is there already; its entry,
    /// named by its file name.
    fn share_table(
        &self,
        db_fs: &dyn FileSystem,
        shared: &Path,
        table: &LiveTable,
    ) -> Result<BackupFile> {
        let digest = file_digest(db_fs, &table.path)?;
        check_size(&table.path, digest.size_bytes, table.size_bytes)?;
        let stored_name = format!(
            "{:020}-{}-{:016x}.sst",
            table.file_number, digest.size_bytes, digest.checksum
        );
        let stored = shared.join(&stored_name);
        if !self.fs.exists(&stored).map_err(|e| Error::io(&stored, e))? {
            let temp = shared.join(format!("{stored_name}{TEMP_SUFFIX}"));
            let copied = copy_file(db_fs, &table.path, self.fs.as_ref(), &temp)?;
            if copied != digest {
                return Err(Error::Corruption(Corruption::new(
                    &table.path,
                    0,
                    "the table changed while it was backed up",
                )));
            }
            self.fs
                .rename(&temp, &stored)
                .map_err(|e| Error::io(&stored, e))?;
        }
        Ok(backup_file(
            format!("{SHARED_DIR}/{stored_name}"),
            file_name(FileKind::Table, table.file_number),
            digest,
        ))
    }

    /// Writes `meta` (temporary file, sync, rename, directory sync): from
    /// then on the backup exists.
    fn commit(&self, meta: &BackupMeta) -> Result<()> {
        let meta_dir = self.dir.join(META_DIR);
        let path = meta_dir.join(private_dir_name(meta.id));
        let temp = meta_dir.join(format!("{}{TEMP_SUFFIX}", private_dir_name(meta.id)));
        let mut file = self.fs.create(&temp).map_err(|e| Error::io(&temp, e))?;
        file.append(meta.encode().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&temp, e))?;
        drop(file);
        self.fs
            .rename(&temp, &path)
            .map_err(|e| Error::io(&path, e))?;
        self.sync_dir(&meta_dir)
    }

    /// Reads every metadata file; removes the temporary ones.
    fn load_metadata(&mut self) -> Result<()> {
        let meta_dir = self.dir.join(META_DIR);
        for name in self.names(&meta_dir)? {
            let path = meta_dir.join(&name);
            if name.ends_with(TEMP_SUFFIX) {
                self.fs
                    .remove_file(&path)
                    .map_err(|e| Error::io(&path, e))?;
                continue;
            }
            let bytes = self.fs.read(&path).map_err(|e| Error::io(&path, e))?;
            let meta = BackupMeta::decode(&path, &bytes)?;
            if private_dir_name(meta.id) != name {
                return Err(Error::Corruption(Corruption::new(
                    &path,
                    0,
                    format!("it describes backup {}", meta.id),
                )));
            }
            self.backups.insert(meta.id, meta);
        }
        self.sync_dir(&meta_dir)
    }

    /// Deletes the private directories and shared tables no backup lists
    /// (and temporary files).
    fn remove_unlisted(&self) -> Result<()> {
        let private = self.dir.join(PRIVATE_DIR);
        for name in self.names(&private)? {
            let listed = self.backups.keys().any(|&id| private_dir_name(id) == name);
            if !listed {
                remove_copy_dir(self.fs.as_ref(), &private.join(&name))?;
            }
        }
        self.sync_dir(&private)?;
        let listed: BTreeSet<&str> = self
            .backups
            .values()
            .flat_map(|meta| meta.files.iter())
            .filter_map(|file| file.stored.strip_prefix("shared/"))
            .collect();
        let shared = self.dir.join(SHARED_DIR);
        for name in self.names(&shared)? {
            if !listed.contains(name.as_str()) {
                self.remove(&shared.join(name))?;
            }
        }
        self.sync_dir(&shared)
    }

    fn names(&self, dir: &Path) -> Result<Vec<String>> {
        self.fs.list_dir(dir).map_err(|e| Error::io(dir, e))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        self.fs.remove_file(path).map_err(|e| Error::io(path, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
    }
}

fn backup_file(stored: String, name: String, digest: FileDigest) -> BackupFile {
    BackupFile {
        stored,
        name,
        size_bytes: digest.size_bytes,
        checksum: digest.checksum,
    }
}

/// A backup file read back must match its metadata.
fn check_digest(path: &Path, file: &BackupFile, digest: FileDigest) -> Result<()> {
    if digest.size_bytes == file.size_bytes && digest.checksum == file.checksum {
        return Ok(());
    }
    Err(Error::Corruption(Corruption::new(
        path,
        0,
        format!(
            "{} bytes with checksum {:016x}; the backup recorded {} bytes with {:016x}",
            digest.size_bytes, digest.checksum, file.size_bytes, file.checksum
        ),
    )))
}
