//! The in-memory directory tree and its durability model: each file's current
//! and durable content, each directory's current and durable entries, and
//! what a power loss leaves of them.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use super::faults::SplitMix64;

/// A file's identity, independent of its names (an inode).
pub(super) type InodeId = u64;

/// How much of a file's unsynced tail a power loss keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLossMode {
    /// Every file is cut back to exactly its last synced content.
    DropUnsynced,
    /// Each file whose durable content is a prefix of its current content
    /// keeps a random prefix (possibly empty, possibly all) of its unsynced
    /// tail, as when some pages of a write reached the disk; the lengths are
    /// drawn from `seed`, file by file in creation order.
    KeepRandomPrefix {
        /// Seeds the kept lengths; the same seed on the same history gives
        /// the same result.
        seed: u64,
    },
}

/// What a power loss threw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PowerLossReport {
    /// Unsynced bytes discarded over all files.
    pub dropped_bytes: u64,
    /// Directory entries put back to their durable state (a pending create,
    /// removal or either side of a rename each count one).
    pub reverted_entries_count: usize,
}

/// The content a file would have after a power loss.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Durable {
    /// The first `len` bytes of the current content (the append-only case).
    Prefix(usize),
    /// Content the current content no longer starts with, kept aside since a
    /// `create` truncated the file.
    Owned(Vec<u8>),
}

/// A file: the bytes appended to it, and the zeros reserved past them.
///
/// Reserved space (`preallocate`) is a size floor: the file reads as its
/// content followed by zeros up to `reserved_bytes`, and appends land after
/// the content, inside the reservation. A sync makes the reservation
/// durable along with the content, as `fdatasync` commits a size change.
#[derive(Debug)]
struct Inode {
    content: Vec<u8>,
    durable: Durable,
    reserved_bytes: usize,
    durable_reserved_bytes: usize,
    open_handles_count: usize,
}

impl Inode {
    fn new() -> Self {
        Self {
            content: Vec::new(),
            durable: Durable::Prefix(0),
            reserved_bytes: 0,
            durable_reserved_bytes: 0,
            open_handles_count: 0,
        }
    }

    /// Empties the file as `create` does, keeping its durable content aside.
    fn truncate_for_create(&mut self) {
        if let Durable::Prefix(len) = self.durable {
            if len > 0 || self.durable_reserved_bytes > 0 {
                let mut durable = self.content[..len].to_vec();
                durable.resize(len.max(self.durable_reserved_bytes), 0);
                self.durable = Durable::Owned(durable);
                self.durable_reserved_bytes = 0;
            }
        }
        self.content.clear();
        self.reserved_bytes = 0;
    }

    fn sync(&mut self) {
        self.durable = Durable::Prefix(self.content.len());
        self.durable_reserved_bytes = self.reserved_bytes;
    }

    /// The file's size: its content, or its reservation if longer.
    fn size(&self) -> usize {
        self.content.len().max(self.reserved_bytes)
    }

    /// Reverts to the durable content (plus a random part of the unsynced
    /// tail when `rng` is given); returns the bytes dropped.
    fn lose_unsynced(&mut self, rng: Option<&mut SplitMix64>) -> u64 {
        let dropped_bytes = match std::mem::replace(&mut self.durable, Durable::Prefix(0)) {
            Durable::Prefix(len) => {
                debug_assert!(len <= self.content.len(), "durable prefix past the end");
                let tail_bytes = self.content.len() - len;
                let kept_bytes = rng.map_or(0, |rng| rng.up_to(tail_bytes));
                self.content.truncate(len + kept_bytes);
                tail_bytes - kept_bytes
            }
            Durable::Owned(old) => std::mem::replace(&mut self.content, old).len(),
        };
        self.reserved_bytes = self.durable_reserved_bytes;
        self.sync();
        dropped_bytes as u64
    }
}

#[derive(Debug, Default)]
struct Dir {
    entries: BTreeMap<String, InodeId>,
    durable_entries: BTreeMap<String, InodeId>,
}

impl Dir {
    /// Puts the entries back to their durable state; returns how many names
    /// changed.
    fn revert(&mut self) -> usize {
        let names: BTreeSet<&String> = self
            .entries
            .keys()
            .chain(self.durable_entries.keys())
            .collect();
        let changed_count = names
            .into_iter()
            .filter(|name| self.entries.get(*name) != self.durable_entries.get(*name))
            .count();
        self.entries = self.durable_entries.clone();
        changed_count
    }
}

/// Directories and files, with their durable state.
///
/// Directories themselves are durable once created; only their entries for
/// files follow the pending/durable model.
#[derive(Debug)]
pub(super) struct Tree {
    dirs: BTreeMap<PathBuf, Dir>,
    inodes: BTreeMap<InodeId, Inode>,
    next_inode: InodeId,
}

impl Tree {
    pub(super) fn new() -> Self {
        let mut dirs = BTreeMap::new();
        dirs.insert(PathBuf::new(), Dir::default());
        dirs.insert(PathBuf::from("/"), Dir::default());
        Self {
            dirs,
            inodes: BTreeMap::new(),
            next_inode: 1,
        }
    }

    pub(super) fn create_dir_all(&mut self, dir: &Path) -> io::Result<()> {
        let dir = normalize(dir);
        for ancestor in dir.ancestors() {
            if self.is_file(ancestor) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is a file", ancestor.display()),
                ));
            }
            self.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    /// Creates `path`, or empties it if it exists, as `create` does.
    pub(super) fn create_file(&mut self, path: &Path) -> io::Result<InodeId> {
        let id = self.open_or_create(path)?;
        self.inode_mut(id).truncate_for_create();
        Ok(id)
    }

    /// The file at `path`, created empty if missing.
    pub(super) fn open_or_create(&mut self, path: &Path) -> io::Result<InodeId> {
        if let Ok(id) = self.lookup(path) {
            return Ok(id);
        }
        let (parent, name) = split(path)?;
        if self.dirs.contains_key(&parent.join(&name)) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", path.display()),
            ));
        }
        let id = self.next_inode;
        self.dir_mut(&parent)?.entries.insert(name, id);
        self.next_inode += 1;
        self.inodes.insert(id, Inode::new());
        Ok(id)
    }

    /// The file currently named `path`.
    pub(super) fn lookup(&self, path: &Path) -> io::Result<InodeId> {
        let (parent, name) = split(path)?;
        self.dir(&parent)?
            .entries
            .get(&name)
            .copied()
            .ok_or_else(|| not_found(path))
    }

    pub(super) fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        if self.dirs.contains_key(&normalize(from)) {
            return self.rename_dir(from, to);
        }
        let id = self.lookup(from)?;
        let (from_parent, from_name) = split(from)?;
        let (to_parent, to_name) = split(to)?;
        self.dir(&to_parent)?;
        self.dir_mut(&from_parent)?.entries.remove(&from_name);
        self.dir_mut(&to_parent)?.entries.insert(to_name, id);
        self.collect_garbage();
        Ok(())
    }

    /// Moves directory `from`, its entries (current and durable) and its
    /// subdirectories, to `to`, which must not exist and whose parent must.
    /// Durable at once, like a directory's creation.
    fn rename_dir(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (normalize(from), normalize(to));
        if self.exists(&to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", to.display()),
            ));
        }
        let parent = to.parent().ok_or_else(|| not_found(&to))?;
        self.dir(parent)?;
        if to.starts_with(&from) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is inside {}", to.display(), from.display()),
            ));
        }
        let moved: Vec<PathBuf> = self
            .dirs
            .keys()
            .filter(|dir| dir.starts_with(&from))
            .cloned()
            .collect();
        for old in moved {
            if let (Some(dir), Ok(rest)) = (self.dirs.remove(&old), old.strip_prefix(&from)) {
                self.dirs.insert(to.join(rest), dir);
            }
        }
        Ok(())
    }

    /// Removes the empty directory `dir` (no file entry, no subdirectory);
    /// durable at once.
    pub(super) fn remove_dir(&mut self, dir: &Path) -> io::Result<()> {
        let dir = normalize(dir);
        if !self.list_dir(&dir)?.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::DirectoryNotEmpty,
                format!("{} is not empty", dir.display()),
            ));
        }
        self.dirs.remove(&dir);
        self.collect_garbage();
        Ok(())
    }

    /// Names the file `existing` also `new` (a hard link); the new entry
    /// is pending until its directory is synced.
    pub(super) fn hard_link(&mut self, existing: &Path, new: &Path) -> io::Result<()> {
        let id = self.lookup(existing)?;
        if self.exists(new) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", new.display()),
            ));
        }
        let (parent, name) = split(new)?;
        self.dir_mut(&parent)?.entries.insert(name, id);
        Ok(())
    }

    pub(super) fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        self.lookup(path)?;
        let (parent, name) = split(path)?;
        self.dir_mut(&parent)?.entries.remove(&name);
        self.collect_garbage();
        Ok(())
    }

    /// Cuts or zero-extends `path` to `len_bytes` and makes it durable.
    pub(super) fn truncate(&mut self, path: &Path, len_bytes: u64) -> io::Result<()> {
        let id = self.lookup(path)?;
        let len = usize::try_from(len_bytes).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "length does not fit memory")
        })?;
        let inode = self.inode_mut(id);
        inode.content.resize(len, 0);
        inode.reserved_bytes = 0;
        inode.sync();
        Ok(())
    }

    /// Entry names of `dir`: its files and its subdirectories, sorted.
    pub(super) fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let dir = normalize(dir);
        let mut names: Vec<String> = self.dir(&dir)?.entries.keys().cloned().collect();
        for sub in self.dirs.keys() {
            if sub.parent() == Some(dir.as_path()) {
                if let Some(name) = sub.file_name() {
                    names.push(name.to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    pub(super) fn exists(&self, path: &Path) -> bool {
        self.dirs.contains_key(&normalize(path)) || self.is_file(path)
    }

    pub(super) fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        let dir = self.dir_mut(&normalize(dir))?;
        dir.durable_entries = dir.entries.clone();
        self.collect_garbage();
        Ok(())
    }

    /// The bytes appended to the file (its reservation excluded).
    pub(super) fn content(&self, id: InodeId) -> &[u8] {
        self.inodes.get(&id).map_or(&[], |inode| &inode.content)
    }

    /// The file's size, reserved zeros included.
    pub(super) fn size(&self, id: InodeId) -> usize {
        self.inodes.get(&id).map_or(0, Inode::size)
    }

    /// The file as reads see it: its content, then its reserved zeros.
    pub(super) fn read_all(&self, id: InodeId) -> Vec<u8> {
        let mut bytes = self.content(id).to_vec();
        bytes.resize(self.size(id), 0);
        bytes
    }

    /// Reserves space up to `len_bytes` (a size floor).
    pub(super) fn preallocate(&mut self, id: InodeId, len_bytes: usize) {
        let inode = self.inode_mut(id);
        inode.reserved_bytes = inode.reserved_bytes.max(len_bytes);
    }

    /// Turns the reserved zeros into content, so appends land after them
    /// (as `O_APPEND` writes at the end of the file).
    pub(super) fn fill_reservation(&mut self, id: InodeId) {
        let inode = self.inode_mut(id);
        let size = inode.size();
        inode.content.resize(size, 0);
    }

    pub(super) fn append(&mut self, id: InodeId, bytes: &[u8]) {
        self.inode_mut(id).content.extend_from_slice(bytes);
    }

    pub(super) fn sync(&mut self, id: InodeId) {
        self.inode_mut(id).sync();
    }

    pub(super) fn open_handle(&mut self, id: InodeId) {
        self.inode_mut(id).open_handles_count += 1;
    }

    pub(super) fn close_handle(&mut self, id: InodeId) {
        let inode = self.inode_mut(id);
        inode.open_handles_count = inode.open_handles_count.saturating_sub(1);
        if inode.open_handles_count == 0 {
            self.collect_garbage();
        }
    }

    /// Closes every handle at once, as the death of the process does.
    pub(super) fn close_all_handles(&mut self) {
        for inode in self.inodes.values_mut() {
            inode.open_handles_count = 0;
        }
        self.collect_garbage();
    }

    /// Bytes held by files that still have a name or an open handle.
    pub(super) fn used_bytes(&self) -> u64 {
        let named: BTreeSet<InodeId> = self
            .dirs
            .values()
            .flat_map(|dir| dir.entries.values().copied())
            .collect();
        self.inodes
            .iter()
            .filter(|(id, inode)| inode.open_handles_count > 0 || named.contains(id))
            .map(|(_, inode)| inode.size() as u64)
            .sum()
    }

    /// Every file path, sorted.
    pub(super) fn file_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .dirs
            .iter()
            .flat_map(|(dir, entries)| entries.entries.keys().map(move |name| dir.join(name)))
            .collect();
        paths.sort();
        paths
    }

    /// Puts every directory and file back to its durable state; handles must
    /// be closed first.
    pub(super) fn power_loss(&mut self, mode: PowerLossMode) -> PowerLossReport {
        let reverted_entries_count = self.dirs.values_mut().map(Dir::revert).sum();
        self.close_all_handles();
        let mut rng = match mode {
            PowerLossMode::DropUnsynced => None,
            PowerLossMode::KeepRandomPrefix { seed } => Some(SplitMix64::new(seed)),
        };
        let dropped_bytes = self
            .inodes
            .values_mut()
            .map(|inode| inode.lose_unsynced(rng.as_mut()))
            .sum();
        PowerLossReport {
            dropped_bytes,
            reverted_entries_count,
        }
    }

    /// Forgets files no entry (current or durable) names and no handle holds.
    fn collect_garbage(&mut self) {
        let referenced: BTreeSet<InodeId> = self
            .dirs
            .values()
            .flat_map(|dir| dir.entries.values().chain(dir.durable_entries.values()))
            .copied()
            .collect();
        self.inodes
            .retain(|id, inode| inode.open_handles_count > 0 || referenced.contains(id));
    }

    fn is_file(&self, path: &Path) -> bool {
        self.lookup(path).is_ok()
    }

    fn dir(&self, dir: &Path) -> io::Result<&Dir> {
        self.dirs.get(dir).ok_or_else(|| not_found(dir))
    }

    fn dir_mut(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(dir).ok_or_else(|| not_found(dir))
    }

    /// The inode `id`; a missing one (only possible for a handle that outlived
    /// its file through a bug here) reads as a fresh, empty file.
    fn inode_mut(&mut self, id: InodeId) -> &mut Inode {
        self.inodes.entry(id).or_insert_with(Inode::new)
    }
}

/// `path` with `.` components and repeated separators removed.
pub(super) fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|component| !matches!(component, Component::CurDir))
        .collect()
}

/// The parent directory and file name of `path`.
fn split(path: &Path) -> io::Result<(PathBuf, String)> {
    let path = normalize(path);
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )),
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}
