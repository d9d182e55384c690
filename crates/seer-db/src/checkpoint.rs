//! Checkpoints ([`crate::DB::checkpoint`]): an openable copy of the
//! database as of one sequence number, taken while writes go on; and the
//! two steps every copy of a database shares with the backups of
//! [`crate::backup`]: building a directory under a staging name that is
//! renamed into place only once complete ([`build_staged`]), and copying a
//! file with its checksum ([`copy_file`]).
//!
//! A checkpoint takes the [`DatabaseFiles`] of the database (see
//! `Engine::with_database_files`: every keyspace flushed, each tree's
//! [`LiveFiles`](crate::tree::LiveFiles) as of one sequence number, so it
//! needs no WAL), which pins their tables while they are linked (a
//! compaction that finishes meanwhile leaves its inputs' files in place
//! until the checkpoint lets them go); for each tree (the default
//! keyspace's at the root, each named keyspace's in `keyspaces/<id>/`) it
//! hard-links each table into the staging directory (copying it when
//! linking fails because the target is on another file system, or when
//! [`CheckpointOptions::copy_tables`] asks for copies) and writes a fresh
//! manifest describing exactly those tables and a `CURRENT` naming it;
//! then it renames the staging directory to the target. Its sequence
//! number is the one the files were taken at.
//!
//! Crash safety: the staging directory `<target>.seer-staging` holds
//! [`INCOMPLETE_MARKER_FILE_NAME`] (durable before anything else is
//! written) until every other file and name in it is durable; only then is
//! the marker removed (and the removal made durable), the directory renamed
//! to the target and the parent synced. So after a crash or power loss at
//! any point the target is either absent or complete, and the staging
//! directory is either refused by `DB::open` ([`Error::IncompleteCopy`])
//! or complete. A later checkpoint or restore to the same target removes a
//! leftover staging directory first.

use std::path::{Path, PathBuf};

use seer_compaction::manifest::{self, ManifestState};
use seer_core::filename::{file_name, parse_file_name};
use seer_core::{Checksummer, FileKind, FileSystem, SeqNo};

use crate::dir::{INCOMPLETE_MARKER_FILE_NAME, KEYSPACES_DIR_NAME};
use crate::error::{Error, Result};
use crate::tree::DatabaseFiles;

/// How [`crate::DB::checkpoint_with`] places the tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointOptions {
    copy_tables: bool,
}

impl CheckpointOptions {
    /// Copies every table instead of hard-linking it (off by default:
    /// tables are linked, and copied only when the target is on another
    /// file system). A copy costs the tables' bytes; a link, a directory
    /// entry.
    pub fn copy_tables(mut self, copy: bool) -> Self {
        self.copy_tables = copy;
        self
    }
}

/// What a checkpoint contains and how its tables were placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The checkpoint holds exactly the writes with sequence numbers up to
    /// this one (opened, it reads as a snapshot taken at it).
    pub seq: SeqNo,
    /// Tables hard-linked from the database directory.
    pub tables_linked_count: usize,
    /// Tables copied (the target is on another file system, or copies
    /// were asked for).
    pub tables_copied_count: usize,
    /// Bytes of the copied tables.
    pub copied_bytes: u64,
}

/// Writes a checkpoint of `files` (of the database in `fs`) at `target`,
/// through a staging directory: each tree's tables and a fresh manifest in
/// its directory (the named keyspaces' under `keyspaces/<id>/`); `files`
/// is held until the tables are placed.
pub(crate) fn write_checkpoint(
    fs: &dyn FileSystem,
    files: DatabaseFiles,
    target: &Path,
    options: CheckpointOptions,
) -> Result<CheckpointReport> {
    build_staged(fs, target, |staging| {
        let mut report = CheckpointReport {
            seq: files.seq,
            tables_linked_count: 0,
            tables_copied_count: 0,
            copied_bytes: 0,
        };
        for (relative, live) in files.trees() {
            let dir = staging.join(relative);
            fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            for table in &live.tables {
                let to = dir.join(file_name(FileKind::Table, table.file_number));
                let linked = !options.copy_tables && hard_link(fs, &table.path, &to)?;
                if linked {
                    report.tables_linked_count += 1;
                } else {
                    let copied = copy_file(fs, &table.path, fs, &to)?;
                    check_size(&table.path, copied.size_bytes, table.size_bytes)?;
                    report.tables_copied_count += 1;
                    report.copied_bytes += copied.size_bytes;
                }
            }
            write_manifest(fs, &dir, &live.state)?;
        }
        sync_keyspace_dirs(fs, staging)?;
        Ok(report)
    })
}

/// Syncs `keyspaces/` of a database directory being built (the entries
/// of the keyspace directories made in it) and the directory itself;
/// nothing when it has no named keyspaces.
pub(crate) fn sync_keyspace_dirs(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let keyspaces = dir.join(KEYSPACES_DIR_NAME);
    if !fs
        .exists(&keyspaces)
        .map_err(|e| Error::io(&keyspaces, e))?
    {
        return Ok(());
    }
    fs.sync_dir(&keyspaces)
        .map_err(|e| Error::io(&keyspaces, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// A table copied at another size than the manifest records is damaged
/// (the copy would not open).
pub(crate) fn check_size(path: &Path, size_bytes: u64, recorded_bytes: u64) -> Result<()> {
    if size_bytes == recorded_bytes {
        return Ok(());
    }
    Err(Error::Corruption(seer_core::Corruption::new(
        path,
        size_bytes.min(recorded_bytes),
        format!("the file is {size_bytes} bytes, the manifest records {recorded_bytes}"),
    )))
}

/// Links `from` as `to`; `Ok(false)` when the file system cannot (another
/// file system, or no links at all), so the caller copies.
fn hard_link(fs: &dyn FileSystem, from: &Path, to: &Path) -> Result<bool> {
    match fs.hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::CrossesDevices | std::io::ErrorKind::Unsupported
            ) =>
        {
            tracing::debug!(from = %from.display(), "cannot hard-link, copying");
            Ok(false)
        }
        Err(e) => Err(Error::io(to, e)),
    }
}

/// Writes a fresh manifest holding `state` in `dir`, and the `CURRENT`
/// naming it (synced, the directory too).
pub(crate) fn write_manifest(fs: &dyn FileSystem, dir: &Path, state: &ManifestState) -> Result<()> {
    let mut state = state.clone();
    manifest::create_live(fs, dir, &mut state)?;
    Ok(())
}

/// Builds a directory at `target` (which must not exist): `build` fills
/// the staging directory it is given, whose files it must sync; then the
/// staging directory is made durable and renamed to `target` (see the
/// module documentation). A failed `build` removes the staging directory.
pub(crate) fn build_staged<T>(
    fs: &dyn FileSystem,
    target: &Path,
    build: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    if fs.exists(target).map_err(|e| Error::io(target, e))? {
        return Err(Error::TargetExists {
            path: target.to_owned(),
        });
    }
    let staging = staging_path(target)?;
    let parent = parent_dir(target);
    if fs.exists(&staging).map_err(|e| Error::io(&staging, e))? {
        remove_copy_dir(fs, &staging)?;
    }
    fs.create_dir_all(&staging)
        .map_err(|e| Error::io(&staging, e))?;
    let built = start_staging(fs, &staging, parent).and_then(|()| build(&staging));
    let value = match built {
        Ok(value) => value,
        Err(error) => {
            if let Err(cleanup) = remove_copy_dir(fs, &staging) {
                tracing::warn!(%cleanup, "could not remove an abandoned staging directory");
            }
            return Err(error);
        }
    };
    let marker = staging.join(INCOMPLETE_MARKER_FILE_NAME);
    fs.remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    fs.sync_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    fs.rename(&staging, target)
        .map_err(|e| Error::io(target, e))?;
    fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
    Ok(value)
}

/// Makes the marker and the staging directory durable before anything
/// else is written into it.
fn start_staging(fs: &dyn FileSystem, staging: &Path, parent: &Path) -> Result<()> {
    let marker = staging.join(INCOMPLETE_MARKER_FILE_NAME);
    let mut file = fs.create(&marker).map_err(|e| Error::io(&marker, e))?;
    file.sync_all().map_err(|e| Error::io(&marker, e))?;
    drop(file);
    fs.sync_dir(staging).map_err(|e| Error::io(staging, e))?;
    fs.sync_dir(parent).map_err(|e| Error::io(parent, e))
}

/// `<target>.seer-staging`, beside the target.
fn staging_path(target: &Path) -> Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| {
        Error::invalid(format!("{} names no directory to create", target.display()))
    })?;
    let mut staging_name = name.to_owned();
    staging_name.push(".seer-staging");
    Ok(target.with_file_name(staging_name))
}

/// The directory holding `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Removes a staging directory left by an interrupted copy (or a backup's
/// private directory), after checking that it holds only seerdb files, the
/// marker and named keyspaces' directories of seerdb files (anything else
/// is [`Error::TargetExists`]: it is not ours to delete).
pub(crate) fn remove_copy_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    collect_copy_dir(fs, dir, 0, &mut files, &mut dirs)?;
    for path in &files {
        fs.remove_file(path).map_err(|e| Error::io(path, e))?;
    }
    // Deepest first: every directory is empty by the time it is removed.
    for path in dirs.iter().rev() {
        fs.remove_dir(path).map_err(|e| Error::io(path, e))?;
    }
    fs.sync_dir(parent_dir(dir))
        .map_err(|e| Error::io(parent_dir(dir), e))
}

/// Gathers the files and directories under `dir` (at `depth` 0 a copy's
/// root, 1 its `keyspaces/`, 2 one keyspace's directory) into `files` and
/// `dirs` (parents before children), refusing a name a copy never makes.
fn collect_copy_dir(
    fs: &dyn FileSystem,
    dir: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    dirs: &mut Vec<PathBuf>,
) -> Result<()> {
    dirs.push(dir.to_owned());
    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    for name in names {
        let path = dir.join(&name);
        let is_file = match depth {
            0 if name == KEYSPACES_DIR_NAME => false,
            0 if name == INCOMPLETE_MARKER_FILE_NAME || parse_file_name(&name).is_some() => true,
            1 if name.parse::<seer_wal::KeyspaceId>().is_ok() => false,
            2 if parse_file_name(&name).is_some() => true,
            _ => {
                return Err(Error::TargetExists {
                    path: dir.to_owned(),
                })
            }
        };
        if is_file {
            files.push(path);
        } else {
            collect_copy_dir(fs, &path, depth + 1, files, dirs)?;
        }
    }
    Ok(())
}

/// The bytes read per step of a copy or checksum.
const COPY_CHUNK_BYTES: u64 = 1 << 20;

/// A file's size and xxh3-64 checksum (of its whole content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileDigest {
    /// The file's length.
    pub size_bytes: u64,
    /// [`seer_core::checksum()`] of its content.
    pub checksum: u64,
}

/// Copies `from` (in `from_fs`) to `to` (in `to_fs`, created or
/// truncated) in 1 MiB steps and syncs it; returns the content's digest.
pub(crate) fn copy_file(
    from_fs: &dyn FileSystem,
    from: &Path,
    to_fs: &dyn FileSystem,
    to: &Path,
) -> Result<FileDigest> {
    let mut file = to_fs.create(to).map_err(|e| Error::io(to, e))?;
    let digest = read_chunks(from_fs, from, |chunk| {
        file.append(chunk).map_err(|e| Error::io(to, e))
    })?;
    file.sync_all().map_err(|e| Error::io(to, e))?;
    Ok(digest)
}

/// The digest of `path`, read in 1 MiB steps.
pub(crate) fn file_digest(fs: &dyn FileSystem, path: &Path) -> Result<FileDigest> {
    read_chunks(fs, path, |_| Ok(()))
}

/// Feeds `path` to `each` in 1 MiB chunks, checksumming it.
fn read_chunks(
    fs: &dyn FileSystem,
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<FileDigest> {
    let file = fs.open_read(path).map_err(|e| Error::io(path, e))?;
    let size_bytes = file.len();
    let mut checksum = Checksummer::new();
    let mut buffer = vec![0u8; COPY_CHUNK_BYTES.min(size_bytes) as usize];
    let mut offset = 0;
    while offset < size_bytes {
        let chunk_bytes = COPY_CHUNK_BYTES.min(size_bytes - offset) as usize;
        let chunk = &mut buffer[..chunk_bytes];
        file.read_exact_at(chunk, offset)
            .map_err(|e| Error::io(path, e))?;
        checksum.update(chunk);
        each(chunk)?;
        offset += chunk_bytes as u64;
    }
    Ok(FileDigest {
        size_bytes,
        checksum: checksum.finish(),
    })
}
