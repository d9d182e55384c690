//! A fault-injecting, power-loss-simulating [`FileSystem`] held in memory,
//! for durability tests (compiled with the `fault-injection` feature).
//!
//! [`FaultFileSystem`] keeps a directory tree of files in memory behind one
//! mutex and models what a disk keeps when the power goes, strictly as POSIX
//! promises it and no more:
//!
//! - **File content.** Each file has its *current* content (what reads see:
//!   the page cache) and its *durable* content, the current content as of its
//!   last successful `sync_data`/`sync_all` (or [`FileSystem::truncate`],
//!   which syncs). Appends change only the current content. A `create` of an
//!   existing file empties its current content; its durable content stays as
//!   it was until the next sync.
//! - **Reserved space.** `WritableFile::preallocate` sets a size floor: the
//!   file reads as its appended bytes followed by zeros up to it, and later
//!   appends land after the appended bytes, inside the reservation. The
//!   reservation becomes durable with the next sync, as `fdatasync` commits
//!   a size change; a power loss keeps the durable reservation, so the file
//!   reads as its durable bytes (plus any kept prefix of the unsynced tail)
//!   and then zeros. It counts toward the capacity (a reservation past it
//!   fails with [`io::ErrorKind::StorageFull`] and reserves nothing); an
//!   `open_append` turns the zeros into content, as `O_APPEND` writes after
//!   them.
//! - **Directory entries.** Creating, renaming and removing a file change the
//!   directory's *current* entries at once; they become *durable* only when
//!   [`FileSystem::sync_dir`] succeeds on that directory (for a rename across
//!   directories, on each of the two). Syncing a file does not make its name
//!   durable. A hard link (`hard_link`) is one more entry naming the same
//!   file (content and durability shared), pending like a create.
//!   Directories themselves are durable as soon as `create_dir_all`
//!   returns, and so are the renaming (with their entries, current and
//!   durable) and the removal (`remove_dir`, of an empty one) of a
//!   directory.
//! - **Power loss** ([`FaultFileSystem::power_loss`]): every directory's
//!   entries go back to their durable state (a file created since the last
//!   `sync_dir` is gone, a renamed file is back under its old name, a removed
//!   file is back), then every surviving file goes back to its durable
//!   content; with [`PowerLossMode::KeepRandomPrefix`] an appended file keeps
//!   a seeded random prefix of its unsynced tail, as when some pages reached
//!   the disk. All handles die and all locks are released.
//! - **Process crash** ([`FaultFileSystem::crash`]): nothing is lost, since
//!   the OS still holds every write; all handles die and all locks are
//!   released. What was not synced is still not durable: a later power loss
//!   can still take it.
//! - **Dead handles.** A file or lock handle opened before a crash or power
//!   loss fails every operation with an error naming the file; the test must
//!   reopen, as a restarted process would. Dropping it is harmless.
//! - **Injected faults** ([`Fault`], armed with [`FaultFileSystem::arm`]):
//!   the Nth append, file sync, directory sync, rename or create (counted
//!   from the moment the fault is armed) fails; a short write lands a prefix
//!   and then fails; every sync can be made to fail. A failed operation
//!   leaves nothing more durable than before. Faults stay armed across
//!   crashes and power losses until they fire or
//!   [`FaultFileSystem::disarm_all`].
//! - **Capacity.** With [`FaultFileSystem::set_capacity_bytes`], an append
//!   that would exceed the capacity writes what fits and fails with
//!   [`io::ErrorKind::StorageFull`] (as `write_all` does on a full disk).
//!   Files that have a name or an open handle count toward it.
//!
//! `truncate`, `remove_file`, `hard_link`, `remove_dir`, reads, `list_dir`, `lock` (which creates the
//! lock file if missing, as a pending entry) and `create_dir_all` are never
//! failed by injection. [`FaultStats`] counts the calls for assertions.
//! [`PowerSwitch`] fences one instance's I/O: after its cut, the dead
//! instance's threads reach nothing, as after a real crash. The
//! tree is deterministic: the same sequence of calls (and power-loss seeds)
//! gives the same files.

mod faults;
mod handles;
mod switch;
mod tree;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

pub use faults::{Fault, FaultStats};
pub use switch::PowerSwitch;
pub use tree::{PowerLossMode, PowerLossReport};

use crate::fs::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};
use faults::{injected_error, storage_full_error, ArmedFaults, WriteFailure};
use handles::{FaultFileLock, FaultRandomAccessFile, FaultWritableFile, OpenHandle};
use tree::{InodeId, Tree};

/// What `available_space` reports when no capacity is set: 1 TiB.
pub const UNLIMITED_AVAILABLE_BYTES: u64 = 1 << 40;

/// An in-memory [`FileSystem`] that injects faults and simulates crashes and
/// power loss; see the [module documentation](self) for the model.
///
/// Clones share one tree, so a test keeps a clone to drive faults while the
/// code under test holds another as a [`SharedFileSystem`].
#[derive(Clone, Default)]
pub struct FaultFileSystem {
    state: SharedState,
}

type SharedState = Arc<Mutex<State>>;

fn lock(state: &SharedState) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

struct State {
    tree: Tree,
    armed: ArmedFaults,
    stats: FaultStats,
    capacity_bytes: Option<u64>,
    /// Bumped by every crash and power loss; handles from an older epoch are
    /// dead.
    epoch: u64,
    /// Held locks by path, with the epoch that took them.
    locks: BTreeMap<PathBuf, u64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            tree: Tree::new(),
            armed: ArmedFaults::default(),
            stats: FaultStats::default(),
            capacity_bytes: None,
            epoch: 0,
            locks: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultFileSystem")
            .field("files_count", &self.tree.file_paths().len())
            .field("epoch", &self.epoch)
            .field("stats", &self.stats)
            .field("armed", &self.armed)
            .field("capacity_bytes", &self.capacity_bytes)
            .finish()
    }
}

impl fmt::Debug for FaultFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lock(&self.state).fmt(f)
    }
}

impl State {
    fn check_epoch(&self, epoch: u64, path: &Path) -> io::Result<()> {
        if epoch == self.epoch {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "handle of {} was opened before a simulated crash or power loss",
            path.display()
        )))
    }

    /// Appends what the armed faults and the capacity let through; returns
    /// the bytes written and the outcome.
    fn append(&mut self, inode: InodeId, path: &Path, bytes: &[u8]) -> (usize, io::Result<()>) {
        self.stats.appends_count += 1;
        let (mut written_bytes, mut outcome) = match self.armed.on_write() {
            None => (bytes.len(), Ok(())),
            Some(failure) => {
                self.stats.injected_faults_count += 1;
                let kept_bytes = match failure {
                    WriteFailure::Nothing => 0,
                    WriteFailure::Prefix { kept_bytes } => kept_bytes.min(bytes.len()),
                };
                (kept_bytes, Err(injected_error("append", path)))
            }
        };
        if let Some(capacity_bytes) = self.capacity_bytes {
            // Bytes landing in the file's reservation need no more room.
            let reserved_unused_bytes = self.tree.size(inode) - self.tree.content(inode).len();
            let room_bytes = capacity_bytes.saturating_sub(self.tree.used_bytes())
                + reserved_unused_bytes as u64;
            if written_bytes as u64 > room_bytes {
                self.stats.storage_full_count += 1;
                written_bytes = room_bytes as usize;
                outcome = Err(storage_full_error(path, capacity_bytes));
            }
        }
        self.tree.append(inode, &bytes[..written_bytes]);
        self.stats.bytes_written += written_bytes as u64;
        (written_bytes, outcome)
    }

    /// Reserves space up to `len_bytes`, within the capacity.
    fn preallocate(&mut self, inode: InodeId, path: &Path, len_bytes: u64) -> io::Result<()> {
        let len = usize::try_from(len_bytes).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "length does not fit memory")
        })?;
        let growth_bytes = len.saturating_sub(self.tree.size(inode)) as u64;
        if let Some(capacity_bytes) = self.capacity_bytes {
            if growth_bytes > capacity_bytes.saturating_sub(self.tree.used_bytes()) {
                self.stats.storage_full_count += 1;
                return Err(storage_full_error(path, capacity_bytes));
            }
        }
        self.tree.preallocate(inode, len);
        Ok(())
    }

    fn sync(&mut self, inode: InodeId, path: &Path) -> io::Result<()> {
        self.stats.syncs_count += 1;
        if self.armed.on_sync() {
            self.stats.injected_faults_count += 1;
            return Err(injected_error("sync", path));
        }
        self.tree.sync(inode);
        Ok(())
    }

    fn close_handle(&mut self, inode: InodeId, epoch: u64) {
        if epoch == self.epoch {
            self.tree.close_handle(inode);
        }
    }

    fn release_lock(&mut self, path: &Path, epoch: u64) {
        if self.locks.get(path) == Some(&epoch) {
            self.locks.remove(path);
        }
    }

    /// Ends the epoch: every handle and lock of the dead process goes.
    fn end_epoch(&mut self) {
        self.epoch += 1;
        self.locks.clear();
        self.tree.close_all_handles();
    }
}

impl FaultFileSystem {
    /// An empty file system with no fault armed and no capacity limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shared handle to this file system (sharing its state) for the code
    /// under test.
    pub fn shared(&self) -> SharedFileSystem {
        Arc::new(self.clone())
    }

    /// Arms `fault`; see [`Fault`] for how the Nth call is counted.
    pub fn arm(&self, fault: Fault) {
        lock(&self.state).armed.arm(fault);
    }

    /// Disarms every fault, [`Fault::FailEverySync`] included.
    pub fn disarm_all(&self) {
        lock(&self.state).armed = ArmedFaults::default();
    }

    /// Limits the bytes all files may hold (`None`: unlimited). Lowering it
    /// below what is stored fails the next append; nothing is removed.
    pub fn set_capacity_bytes(&self, capacity_bytes: Option<u64>) {
        lock(&self.state).capacity_bytes = capacity_bytes;
    }

    /// Bytes held by files that have a name or an open handle.
    pub fn used_bytes(&self) -> u64 {
        lock(&self.state).tree.used_bytes()
    }

    /// The calls served so far.
    pub fn stats(&self) -> FaultStats {
        lock(&self.state).stats
    }

    /// Simulates a process crash: nothing is lost, every handle dies, every
    /// lock is released.
    pub fn crash(&self) {
        let mut state = lock(&self.state);
        state.stats.crashes_count += 1;
        state.end_epoch();
    }

    /// Simulates a power loss: directory entries and file contents go back to
    /// their durable state (see the module documentation), every handle
    /// dies, every lock is released.
    pub fn power_loss(&self, mode: PowerLossMode) -> PowerLossReport {
        let mut state = lock(&self.state);
        state.stats.power_losses_count += 1;
        state.end_epoch();
        state.tree.power_loss(mode)
    }

    /// Every file's path, sorted.
    pub fn list_files(&self) -> Vec<PathBuf> {
        lock(&self.state).tree.file_paths()
    }

    /// The current content of the file at `path`, if there is one.
    pub fn file_content(&self, path: &Path) -> Option<Vec<u8>> {
        let state = lock(&self.state);
        let inode = state.tree.lookup(path).ok()?;
        Some(state.tree.read_all(inode))
    }

    fn writable(&self, state: &mut State, path: &Path, inode: InodeId) -> Box<dyn WritableFile> {
        Box::new(FaultWritableFile {
            len_bytes: state.tree.content(inode).len() as u64,
            handle: OpenHandle::open(&self.state, state, path, inode),
        })
    }
}

impl FileSystem for FaultFileSystem {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        lock(&self.state).tree.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut state = lock(&self.state);
        state.stats.creates_count += 1;
        if state.armed.on_create() {
            state.stats.injected_faults_count += 1;
            return Err(injected_error("create", path));
        }
        let inode = state.tree.create_file(path)?;
        Ok(self.writable(&mut state, path, inode))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut state = lock(&self.state);
        let inode = state.tree.lookup(path)?;
        state.tree.fill_reservation(inode);
        Ok(self.writable(&mut state, path, inode))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        let mut state = lock(&self.state);
        let inode = state.tree.lookup(path)?;
        Ok(Box::new(FaultRandomAccessFile {
            len_bytes: state.tree.size(inode) as u64,
            handle: OpenHandle::open(&self.state, &mut state, path, inode),
        }))
    }

    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.read(path).map(Bytes::from)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let state = lock(&self.state);
        let inode = state.tree.lookup(path)?;
        Ok(state.tree.read_all(inode))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.stats.renames_count += 1;
        if state.armed.on_rename() {
            state.stats.injected_faults_count += 1;
            return Err(injected_error("rename", from));
        }
        state.tree.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.stats.removes_count += 1;
        state.tree.remove_file(path)
    }

    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.stats.links_count += 1;
        state.tree.hard_link(existing, new)
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        lock(&self.state).tree.remove_dir(dir)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        lock(&self.state).tree.truncate(path, len)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        lock(&self.state).tree.list_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(lock(&self.state).tree.exists(path))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let state = lock(&self.state);
        let inode = state.tree.lookup(path)?;
        Ok(state.tree.size(inode) as u64)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = lock(&self.state);
        state.stats.dir_syncs_count += 1;
        if state.armed.on_dir_sync() {
            state.stats.injected_faults_count += 1;
            return Err(injected_error("directory sync", dir));
        }
        state.tree.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut state = lock(&self.state);
        state.tree.open_or_create(path)?;
        let key = tree::normalize(path);
        if state.locks.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another holder", path.display()),
            ));
        }
        let epoch = state.epoch;
        state.locks.insert(key.clone(), epoch);
        Ok(Box::new(FaultFileLock {
            state: Arc::clone(&self.state),
            path: key,
            epoch,
        }))
    }

    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        let state = lock(&self.state);
        if !state.tree.exists(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", dir.display()),
            ));
        }
        Ok(match state.capacity_bytes {
            Some(capacity_bytes) => capacity_bytes.saturating_sub(state.tree.used_bytes()),
            None => UNLIMITED_AVAILABLE_BYTES,
        })
    }
}
