//! A power switch around `FaultFileSystem`, shared by the durability tests
//! of seer-db and seer-wal (which includes this file by path).

use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use seer_core::fault::{FaultFileSystem, PowerLossMode};
use seer_core::{FileLock, FileSystem, RandomAccessFile, WritableFile};

/// A file system that can be switched off atomically: once the power is cut,
/// no operation reaches the fault file system any more, so no thread of the
/// dead "process" (a writer, a flush, a compaction) can touch the next life
/// of the disk. Handles opened before the cut are dead by the fault file
/// system's own epoch check.
#[derive(Debug)]
pub struct PowerSwitch {
    fs: FaultFileSystem,
    off: RwLock<bool>,
}

impl PowerSwitch {
    pub fn new(fs: &FaultFileSystem) -> Arc<Self> {
        Arc::new(Self {
            fs: fs.clone(),
            off: RwLock::new(false),
        })
    }

    /// Cuts the power (once; later calls do nothing).
    pub fn cut(&self, mode: PowerLossMode) {
        let mut off = self.off.write().unwrap();
        if !*off {
            *off = true;
            self.fs.power_loss(mode);
        }
    }

    /// Kills the process but not the machine (once).
    pub fn crash(&self) {
        let mut off = self.off.write().unwrap();
        if !*off {
            *off = true;
            self.fs.crash();
        }
    }

    pub fn is_off(&self) -> bool {
        *self.off.read().unwrap()
    }

    fn with<T>(&self, op: impl FnOnce(&FaultFileSystem) -> io::Result<T>) -> io::Result<T> {
        let off = self.off.read().unwrap();
        if *off {
            return Err(io::Error::other("the power is off"));
        }
        op(&self.fs)
    }
}

impl FileSystem for PowerSwitch {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.with(|fs| fs.create_dir_all(dir))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.with(|fs| fs.create(path))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.with(|fs| fs.open_append(path))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        self.with(|fs| fs.open_read(path))
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.with(|fs| fs.map(path))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.with(|fs| fs.read(path))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.with(|fs| fs.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.with(|fs| fs.remove_file(path))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.with(|fs| fs.truncate(path, len))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.with(|fs| fs.list_dir(dir))
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.with(|fs| fs.exists(path))
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.with(|fs| fs.file_size(path))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.with(|fs| fs.sync_dir(dir))
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.with(|fs| fs.lock(path))
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        self.with(|fs| fs.available_space(dir))
    }
}
