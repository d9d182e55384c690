//! [`PowerSwitch`]: a fence around [`FaultFileSystem`] that models the death
//! of a process or machine atomically, so nothing the dead instance still
//! runs (a writer, a flush, a compaction thread) reaches the next life of
//! the disk.

use std::io;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

use super::{FaultFileSystem, PowerLossMode};
use crate::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};

/// A [`FileSystem`] that forwards to a [`FaultFileSystem`] until it is
/// switched off by [`PowerSwitch::cut`] (power loss) or
/// [`PowerSwitch::crash`] (process crash), and fails every operation after.
///
/// The cut waits for operations in flight, then ends the fault file
/// system's epoch, so handles opened through the switch before the cut are
/// dead as well. Give one switch to each database instance: the instance
/// after the crash opens through a fresh switch on the same
/// [`FaultFileSystem`].
#[derive(Debug)]
pub struct PowerSwitch {
    fs: FaultFileSystem,
    off: RwLock<bool>,
}

impl PowerSwitch {
    /// A switch, on, in front of `fs` (sharing its state).
    pub fn new(fs: &FaultFileSystem) -> Arc<Self> {
        Arc::new(Self {
            fs: fs.clone(),
            off: RwLock::new(false),
        })
    }

    /// Cuts the power (once; later calls and calls after
    /// [`crash`](Self::crash) do nothing): see
    /// [`FaultFileSystem::power_loss`].
    pub fn cut(&self, mode: PowerLossMode) {
        self.switch_off(|fs| {
            fs.power_loss(mode);
        });
    }

    /// Kills the process but not the machine (once): see
    /// [`FaultFileSystem::crash`].
    pub fn crash(&self) {
        self.switch_off(FaultFileSystem::crash);
    }

    /// Whether the switch is off.
    pub fn is_off(&self) -> bool {
        *self.off.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn switch_off(&self, end: impl FnOnce(&FaultFileSystem)) {
        let mut off = self.off.write().unwrap_or_else(PoisonError::into_inner);
        if !*off {
            *off = true;
            end(&self.fs);
        }
    }

    fn with<T>(&self, op: impl FnOnce(&FaultFileSystem) -> io::Result<T>) -> io::Result<T> {
        let off = self.off.read().unwrap_or_else(PoisonError::into_inner);
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
    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        self.with(|fs| fs.hard_link(existing, new))
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        self.with(|fs| fs.remove_dir(dir))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_crash_the_switch_fails_everything_and_old_handles_are_dead() {
        let fs = FaultFileSystem::new();
        let switch = PowerSwitch::new(&fs);
        let dir = Path::new("/d");
        switch.create_dir_all(dir).unwrap();
        let mut file = switch.create(&dir.join("a")).unwrap();
        file.append(b"x").unwrap();
        switch.crash();
        assert!(switch.is_off());
        assert!(file.append(b"y").is_err());
        assert!(switch.create(&dir.join("b")).is_err());
        assert!(switch.list_dir(dir).is_err());
        assert_eq!(fs.file_content(&dir.join("a")).unwrap(), b"x");
        let next = PowerSwitch::new(&fs);
        assert_eq!(next.list_dir(dir).unwrap(), vec!["a".to_string()]);
    }

    #[test]
    fn a_cut_loses_what_was_not_synced() {
        let fs = FaultFileSystem::new();
        let switch = PowerSwitch::new(&fs);
        let dir = Path::new("/d");
        switch.create_dir_all(dir).unwrap();
        let mut file = switch.create(&dir.join("a")).unwrap();
        file.append(b"x").unwrap();
        switch.cut(PowerLossMode::DropUnsynced);
        switch.crash();
        assert!(!fs.exists(&dir.join("a")).unwrap());
        assert_eq!(fs.stats().crashes_count, 0);
    }
}
