//! [`ForwardingFs`]: a file system that forwards every call to an inner
//! one, except that file creation and removal can go through hooks, so a
//! test can hold creation at a gate, wrap the created file (to count its
//! syncs, say) or fail chosen removals; and a change hook can see (and
//! fail) every call that changes something, appends and syncs on the
//! files it opens included, so a test can cut the power at the Nth step;
//! it counts the files mapped through it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};

/// The hook [`ForwardingFs::on_create`] installs: it gets the path and
/// the inner file system and returns the file (normally after calling
/// `inner.create(path)` itself).
pub type CreateHook =
    Box<dyn Fn(&Path, &dyn FileSystem) -> io::Result<Box<dyn WritableFile>> + Send + Sync>;

/// The hook [`ForwardingFs::on_remove_file`] installs: it gets the path
/// and the inner file system and removes the file (or fails).
pub type RemoveHook = Box<dyn Fn(&Path, &dyn FileSystem) -> io::Result<()> + Send + Sync>;

/// The hook [`ForwardingFs::on_change`] installs: it gets the name of a
/// changing call (`create_dir_all`, `create`, `append`, `sync`, `rename`,
/// `remove_file`, `hard_link`, `remove_dir`, `truncate`, `sync_dir`) and
/// the path it changes (a rename's and a link's new name, a file's own
/// path for `append` and `sync`), before the call; an error fails it.
pub type ChangeHook = Arc<dyn Fn(&str, &Path) -> io::Result<()> + Send + Sync>;

/// Forwards every call to `inner`; `create` and `remove_file` go through
/// their hooks when set, and every changing call through the change hook.
pub struct ForwardingFs {
    inner: SharedFileSystem,
    on_create: Option<CreateHook>,
    on_remove_file: Option<RemoveHook>,
    on_change: Option<ChangeHook>,
    /// `map` calls so far.
    maps_count: AtomicU64,
}

impl ForwardingFs {
    /// Forwards every call to `inner`, with no hook set.
    pub fn new(inner: SharedFileSystem) -> Self {
        Self {
            inner,
            on_create: None,
            on_remove_file: None,
            on_change: None,
            maps_count: AtomicU64::new(0),
        }
    }

    /// How many files were mapped through this file system so far.
    pub fn maps_count(&self) -> u64 {
        self.maps_count.load(Ordering::Relaxed)
    }

    /// Calls `hook` before every changing call (see [`ChangeHook`]).
    pub fn on_change(
        mut self,
        hook: impl Fn(&str, &Path) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.on_change = Some(Arc::new(hook));
        self
    }

    fn changing(&self, call: &str, path: &Path) -> io::Result<()> {
        match &self.on_change {
            Some(hook) => hook(call, path),
            None => Ok(()),
        }
    }

    /// `file`, its appends and syncs seen by the change hook.
    fn watched(&self, path: &Path, file: Box<dyn WritableFile>) -> Box<dyn WritableFile> {
        match &self.on_change {
            Some(hook) => Box::new(WatchedFile {
                inner: file,
                path: path.to_owned(),
                hook: Arc::clone(hook),
            }),
            None => file,
        }
    }
}

/// A file whose appends and syncs go through a [`ChangeHook`] first.
struct WatchedFile {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    hook: ChangeHook,
}

impl fmt::Debug for WatchedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WritableFile for WatchedFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        (self.hook)("append", &self.path)?;
        self.inner.append(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        (self.hook)("sync", &self.path)?;
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        (self.hook)("sync", &self.path)?;
        self.inner.sync_all()
    }
    fn preallocate(&mut self, len_bytes: u64) -> io::Result<()> {
        self.inner.preallocate(len_bytes)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl ForwardingFs {
    /// Creates files through `hook`.
    pub fn on_create(
        mut self,
        hook: impl Fn(&Path, &dyn FileSystem) -> io::Result<Box<dyn WritableFile>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.on_create = Some(Box::new(hook));
        self
    }

    /// Removes files through `hook`.
    pub fn on_remove_file(
        mut self,
        hook: impl Fn(&Path, &dyn FileSystem) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.on_remove_file = Some(Box::new(hook));
        self
    }
}

impl fmt::Debug for ForwardingFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardingFs")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl FileSystem for ForwardingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.changing("create_dir_all", dir)?;
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.changing("create", path)?;
        let file = match &self.on_create {
            Some(hook) => hook(path, &*self.inner),
            None => self.inner.create(path),
        }?;
        Ok(self.watched(path, file))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(self.watched(path, self.inner.open_append(path)?))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        self.inner.open_read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.maps_count.fetch_add(1, Ordering::Relaxed);
        self.inner.map(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.changing("rename", to)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.changing("remove_file", path)?;
        match &self.on_remove_file {
            Some(hook) => hook(path, &*self.inner),
            None => self.inner.remove_file(path),
        }
    }
    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        self.changing("hard_link", new)?;
        self.inner.hard_link(existing, new)
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        self.changing("remove_dir", dir)?;
        self.inner.remove_dir(dir)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.changing("truncate", path)?;
        self.inner.truncate(path, len)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.changing("sync_dir", dir)?;
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        self.inner.available_space(dir)
    }
}
