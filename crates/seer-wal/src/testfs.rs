//! An in-memory `FileSystem` for tests and loom models: no real I/O, and
//! appends or syncs can be made to fail on demand.
//!
//! It deliberately uses `std` locks, not the loom shim: the pipeline only
//! touches a log file while it holds the leadership, which the models check.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use seer_core::{FileLock, FileSystem, RandomAccessFile, WritableFile};

#[derive(Debug, Default)]
struct Faults {
    appends_left: AtomicUsize,
    fail_sync: AtomicBool,
    syncs_count: AtomicUsize,
}

/// Files held in memory, shared by clones.
#[derive(Debug, Clone)]
pub(crate) struct MemFs {
    files: Arc<Mutex<BTreeMap<PathBuf, Vec<u8>>>>,
    faults: Arc<Faults>,
}

impl MemFs {
    pub(crate) fn new() -> Self {
        let faults = Faults {
            appends_left: AtomicUsize::new(usize::MAX),
            fail_sync: AtomicBool::new(false),
            syncs_count: AtomicUsize::new(0),
        };
        Self {
            files: Arc::default(),
            faults: Arc::new(faults),
        }
    }

    /// Lets `count` more appends succeed, then fails every append.
    pub(crate) fn fail_appends_after(&self, count: usize) {
        self.faults.appends_left.store(count, Ordering::SeqCst);
    }

    /// Makes every sync fail (or succeed again).
    pub(crate) fn fail_syncs(&self, fail: bool) {
        self.faults.fail_sync.store(fail, Ordering::SeqCst);
    }

    /// How many file syncs succeeded.
    pub(crate) fn syncs_count(&self) -> usize {
        self.faults.syncs_count.load(Ordering::SeqCst)
    }

    /// Replaces the content of `path`.
    pub(crate) fn put(&self, path: &Path, bytes: Vec<u8>) {
        self.files().insert(path.to_owned(), bytes);
    }

    fn files(&self) -> MutexGuard<'_, BTreeMap<PathBuf, Vec<u8>>> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn missing(path: &Path) -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
    }

    fn content(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files()
            .get(path)
            .cloned()
            .ok_or_else(|| Self::missing(path))
    }
}

#[derive(Debug)]
struct MemFile {
    fs: MemFs,
    path: PathBuf,
    len: u64,
}

impl WritableFile for MemFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let left = self.fs.faults.appends_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(io::Error::other("injected append failure"));
        }
        if left != usize::MAX {
            self.fs
                .faults
                .appends_left
                .store(left - 1, Ordering::SeqCst);
        }
        let mut files = self.fs.files();
        let file = files
            .get_mut(&self.path)
            .ok_or_else(|| MemFs::missing(&self.path))?;
        file.extend_from_slice(bytes);
        self.len = file.len() as u64;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        if self.fs.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected sync failure"));
        }
        self.fs.faults.syncs_count.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct MemReader(Vec<u8>);

impl RandomAccessFile for MemReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let bytes = self
            .0
            .get(start..start + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

#[derive(Debug)]
struct MemLock;

impl FileLock for MemLock {}

impl FileSystem for MemFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.files().insert(path.to_owned(), Vec::new());
        Ok(Box::new(MemFile {
            fs: self.clone(),
            path: path.to_owned(),
            len: 0,
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let len = self.content(path)?.len() as u64;
        Ok(Box::new(MemFile {
            fs: self.clone(),
            path: path.to_owned(),
            len,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        Ok(Box::new(MemReader(self.content(path)?)))
    }

    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.content(path).map(Bytes::from)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.content(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files();
        let bytes = files.remove(from).ok_or_else(|| Self::missing(from))?;
        files.insert(to.to_owned(), bytes);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.files()
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| Self::missing(path))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut files = self.files();
        let file = files.get_mut(path).ok_or_else(|| Self::missing(path))?;
        file.truncate(usize::try_from(len).map_err(io::Error::other)?);
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let files = self.files();
        let names = files.keys().filter(|path| path.parent() == Some(dir));
        Ok(names
            .filter_map(|path| path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.files().contains_key(path))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.content(path).map(|bytes| bytes.len() as u64)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self, _path: &Path) -> io::Result<Box<dyn FileLock>> {
        Ok(Box::new(MemLock))
    }

    fn available_space(&self, _dir: &Path) -> io::Result<u64> {
        Ok(u64::MAX)
    }
}
