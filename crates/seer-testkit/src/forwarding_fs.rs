//! [`ForwardingFs`]: a file system that forwards every call to an inner
//! one, except that file creation goes through a hook, so a test can hold
//! creation at a gate or wrap the created file (to count its syncs, say).

use std::fmt;
use std::io;
use std::path::Path;

use bytes::Bytes;
use seer_core::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};

/// The hook [`ForwardingFs`] calls for every `create`: it gets the path and
/// the inner file system and returns the file (normally after calling
/// `inner.create(path)` itself).
pub type CreateHook =
    Box<dyn Fn(&Path, &dyn FileSystem) -> io::Result<Box<dyn WritableFile>> + Send + Sync>;

/// Forwards every call to `inner`; `create` goes through the hook.
pub struct ForwardingFs {
    inner: SharedFileSystem,
    on_create: CreateHook,
}

impl ForwardingFs {
    /// Forwards to `inner`, creating files through `on_create`.
    pub fn new(
        inner: SharedFileSystem,
        on_create: impl Fn(&Path, &dyn FileSystem) -> io::Result<Box<dyn WritableFile>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            inner,
            on_create: Box::new(on_create),
        }
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
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        (self.on_create)(path, &*self.inner)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.inner.open_append(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        self.inner.open_read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.inner.map(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
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
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        self.inner.available_space(dir)
    }
}
