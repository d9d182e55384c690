//! Shared by the checkpoint and backup tests: a file system that runs a
//! hook before every call that changes something (so a test can cut the
//! power at the Nth step of a copy, fail a hard link as across file
//! systems, or compact in the middle of a checkpoint), and small helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::fault::{FaultFileSystem, PowerLossMode, PowerSwitch};
use seer_core::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};
use seer_db::{DBOptions, DB};

/// A changing call: its name (`create`, `append`, `sync`, `sync_dir`,
/// `rename`, `remove_file`, `hard_link`, `remove_dir`, `create_dir_all`)
/// and the path it changes (a rename's and a link's target).
pub type Hook = Arc<dyn Fn(&str, &Path) -> io::Result<()> + Send + Sync>;

/// Forwards to `inner`, calling `hook` before each changing call (an
/// error from the hook fails the call).
pub struct HookFs {
    pub inner: SharedFileSystem,
    pub hook: Hook,
}

impl HookFs {
    pub fn shared(inner: SharedFileSystem, hook: Hook) -> SharedFileSystem {
        Arc::new(Self { inner, hook })
    }
}

impl fmt::Debug for HookFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookFs").finish_non_exhaustive()
    }
}

struct HookFile {
    inner: Box<dyn WritableFile>,
    path: std::path::PathBuf,
    hook: Hook,
}

impl fmt::Debug for HookFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookFile")
            .field("path", &self.path)
            .finish()
    }
}

impl WritableFile for HookFile {
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

impl FileSystem for HookFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        (self.hook)("create_dir_all", dir)?;
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        (self.hook)("create", path)?;
        let inner = self.inner.create(path)?;
        Ok(Box::new(HookFile {
            inner,
            path: path.to_owned(),
            hook: Arc::clone(&self.hook),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let inner = self.inner.open_append(path)?;
        Ok(Box::new(HookFile {
            inner,
            path: path.to_owned(),
            hook: Arc::clone(&self.hook),
        }))
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
        (self.hook)("rename", to)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        (self.hook)("remove_file", path)?;
        self.inner.remove_file(path)
    }
    fn hard_link(&self, existing: &Path, new: &Path) -> io::Result<()> {
        (self.hook)("hard_link", new)?;
        self.inner.hard_link(existing, new)
    }
    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        (self.hook)("remove_dir", dir)?;
        self.inner.remove_dir(dir)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        (self.hook)("truncate", path)?;
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
        (self.hook)("sync_dir", dir)?;
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        self.inner.available_space(dir)
    }
}

/// How a cut ends the instance.
#[derive(Debug, Clone, Copy)]
pub enum Cut {
    Crash,
    PowerLoss(PowerLossMode),
}

impl Cut {
    pub const ALL: [Cut; 3] = [
        Cut::Crash,
        Cut::PowerLoss(PowerLossMode::DropUnsynced),
        Cut::PowerLoss(PowerLossMode::KeepRandomPrefix { seed: 7 }),
    ];
}

/// A countdown armed on the changing calls whose path starts with one of
/// `prefixes` or is one of `exact`: the call that brings it to zero is
/// preceded by the cut, so it and everything after fail.
pub struct Countdown {
    remaining: AtomicU64,
    prefixes: Vec<String>,
    exact: Vec<String>,
    switch: Arc<PowerSwitch>,
    cut: Cut,
    /// The changing calls counted so far.
    pub counted: AtomicU64,
}

impl Countdown {
    /// Disarmed (remaining 0) until [`Countdown::arm`].
    pub fn new(switch: Arc<PowerSwitch>, prefixes: &[&str], exact: &[&str], cut: Cut) -> Arc<Self> {
        Arc::new(Self {
            remaining: AtomicU64::new(0),
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            exact: exact.iter().map(|p| (*p).to_owned()).collect(),
            switch,
            cut,
            counted: AtomicU64::new(0),
        })
    }

    /// Cuts before the `nth` counted call from now (`u64::MAX`: never,
    /// but count).
    pub fn arm(&self, nth: u64) {
        self.counted.store(0, Ordering::SeqCst);
        self.remaining.store(nth, Ordering::SeqCst);
    }

    pub fn fired(&self) -> bool {
        self.switch.is_off()
    }

    /// The hook to give [`HookFs`].
    pub fn hook(self: &Arc<Self>) -> Hook {
        let countdown = Arc::clone(self);
        Arc::new(move |_call, path| {
            let text = path.to_string_lossy();
            if countdown.remaining.load(Ordering::SeqCst) == 0
                || !(countdown
                    .prefixes
                    .iter()
                    .any(|p| text.starts_with(p.as_str()))
                    || countdown.exact.iter().any(|p| text == p.as_str()))
            {
                return Ok(());
            }
            countdown.counted.fetch_add(1, Ordering::SeqCst);
            if countdown.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                match countdown.cut {
                    Cut::Crash => countdown.switch.crash(),
                    Cut::PowerLoss(mode) => countdown.switch.cut(mode),
                }
            }
            Ok(())
        })
    }
}

/// Small memtables and tables, so flushes and compactions run often.
pub fn busy_options() -> DBOptions {
    DBOptions::default()
        .memtable_capacity(16 << 10)
        .target_file_size(8 << 10)
        .base_level_size(32 << 10)
}

/// Every entry of `db`, in key order.
pub fn contents(db: &DB) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// The database at `path` of `fs` opened anew through a fresh switch.
pub fn reopen(fs: &FaultFileSystem, path: &str) -> seer_db::Result<DB> {
    DBOptions::default()
        .file_system(PowerSwitch::new(fs))
        .create_if_missing(false)
        .open(path)
}
