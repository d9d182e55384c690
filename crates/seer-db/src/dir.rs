//! The database directory: creating it, refusing a directory that holds
//! something other than a seerdb (never wiping it; a `CURRENT` that is not
//! seerdb's or names a missing manifest included; an unfinished checkpoint
//! or restore, which holds [`INCOMPLETE_MARKER_FILE_NAME`], is
//! [`Error::IncompleteCopy`]), and the exclusive lock
//! that keeps a second handle (in this or another process) out. A
//! read-only open ([`DbDir::open_read_only`]) takes no lock and creates
//! nothing: it only checks that the directory holds a database.

use std::path::{Path, PathBuf};

use seer_compaction::manifest;
use seer_core::filename::{parse_file_name, CURRENT_FILE_NAME, LOCK_FILE_NAME};
use seer_core::{FileKind, FileLock, FileSystem};

use crate::error::{Error, Result};

/// The file a checkpoint or restore keeps in its staging directory until
/// every other file is durable (see [`crate::checkpoint`]); a directory
/// holding it is refused with [`Error::IncompleteCopy`].
pub(crate) const INCOMPLETE_MARKER_FILE_NAME: &str = "INCOMPLETE-COPY";

/// What the directory held when it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirState {
    /// No `CURRENT`: a new database is created (left-over seerdb files of a
    /// creation that crashed before `CURRENT` was written are ignored).
    New,
    /// A database with a `CURRENT` file.
    Existing,
}

/// The subdirectory of a database directory that holds one directory per
/// named keyspace's tree (see [`crate::recovery::keyspace_dir`]).
pub(crate) const KEYSPACES_DIR_NAME: &str = "keyspaces";

/// An open, locked database directory; the lock is released by
/// [`DbDir::unlock`] (at close) or on drop.
#[derive(Debug)]
pub(crate) struct DbDir {
    path: PathBuf,
    lock: parking_lot::Mutex<Option<Box<dyn FileLock>>>,
}

impl DbDir {
    /// Creates (if allowed), checks and locks `path`.
    pub(crate) fn open(fs: &dyn FileSystem, path: &Path, create_if_missing: bool) -> Result<Self> {
        let exists = fs.exists(path).map_err(|e| Error::io(path, e))?;
        if !exists {
            if !create_if_missing {
                return Err(Error::invalid(format!(
                    "{} does not exist and create_if_missing is off",
                    path.display()
                )));
            }
            fs.create_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        let state = classify(fs, path)?;
        if state == DirState::New && !create_if_missing {
            return Err(Error::invalid(format!(
                "{} holds no database and create_if_missing is off",
                path.display()
            )));
        }
        let lock = lock_dir(fs, path)?;
        Ok(Self {
            path: path.to_owned(),
            lock: parking_lot::Mutex::new(Some(lock)),
        })
    }

    /// Checks that `path` holds a database, without locking it (a writer
    /// may hold the lock) or creating anything.
    pub(crate) fn open_read_only(fs: &dyn FileSystem, path: &Path) -> Result<Self> {
        let exists = fs.exists(path).map_err(|e| Error::io(path, e))?;
        if !exists || classify(fs, path)? == DirState::New {
            return Err(Error::invalid(format!(
                "{} holds no database to open read-only",
                path.display()
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            lock: parking_lot::Mutex::new(None),
        })
    }

    /// A named keyspace's directory inside an open database's (created
    /// when missing): not locked, the database's lock covers it.
    pub(crate) fn keyspace(fs: &dyn FileSystem, path: &Path) -> Result<Self> {
        fs.create_dir_all(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            lock: parking_lot::Mutex::new(None),
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the directory lock; called once the engine is closed.
    pub(crate) fn unlock(&self) {
        self.lock.lock().take();
    }
}

/// Takes the exclusive lock of directory `dir` (its `LOCK` file):
/// [`Error::Locked`] when another handle, in this or another process,
/// holds it. A database directory and a backup directory are locked so.
pub(crate) fn lock_dir(fs: &dyn FileSystem, dir: &Path) -> Result<Box<dyn FileLock>> {
    let lock_path = dir.join(LOCK_FILE_NAME);
    fs.lock(&lock_path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked {
            path: dir.to_owned(),
        },
        _ => Error::io(&lock_path, e),
    })
}

/// Removes every file in `dir` (a dropped keyspace's directory; the empty
/// directory stays).
pub(crate) fn remove_files_in(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    let names = match fs.list_dir(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for name in names {
        let path = dir.join(&name);
        match fs.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// Whether `path` is empty, a seerdb, or something else (an error).
fn classify(fs: &dyn FileSystem, path: &Path) -> Result<DirState> {
    let names = fs.list_dir(path).map_err(|e| Error::io(path, e))?;
    if names.iter().any(|name| name == INCOMPLETE_MARKER_FILE_NAME) {
        return Err(Error::IncompleteCopy {
            path: path.to_owned(),
        });
    }
    if let Some(foreign) = names
        .iter()
        .find(|name| parse_file_name(name).is_none() && *name != KEYSPACES_DIR_NAME)
    {
        return Err(Error::NotADatabase {
            path: path.to_owned(),
            reason: format!("it holds {foreign:?}, which is not a seerdb file"),
        });
    }
    let has_current = names.iter().any(|name| name == CURRENT_FILE_NAME);
    if has_current {
        check_current(fs, path)?;
    }
    let has_data = names
        .iter()
        .any(|name| matches!(parse_file_name(name), Some((FileKind::Table, _))));
    match (has_current, has_data) {
        (true, _) => Ok(DirState::Existing),
        (false, false) => Ok(DirState::New),
        (false, true) => Err(Error::NotADatabase {
            path: path.to_owned(),
            reason: "it holds tables but no CURRENT file".to_owned(),
        }),
    }
}

/// `CURRENT` must be a seerdb `CURRENT` naming a manifest that exists;
/// seer-compaction's reader (the only parser of `CURRENT`) decides. A damaged
/// `CURRENT` is a corruption error naming it.
fn check_current(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    match manifest::read_current(fs, dir) {
        Ok(_) => Ok(()),
        Err(seer_compaction::Error::NotADatabase { file, reason }) => Err(Error::NotADatabase {
            path: dir.to_owned(),
            reason: format!("{}: {reason}", file.display()),
        }),
        Err(other) => Err(other.into()),
    }
}
