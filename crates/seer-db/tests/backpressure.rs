//! Write stalls: a writer stopped by too many unflushed memtables resumes
//! once the flush catches up, and fails with `WriteStall` after the stall
//! timeout when it does not. A file system that holds table creation at a
//! gate makes the background fall behind on demand.
#![allow(clippy::unwrap_used)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use seer_core::{FileLock, FileSystem, RandomAccessFile, RealFileSystem, WritableFile};
use seer_db::{DBOptions, Error, HealthStatus, SyncPolicy, DB};

/// The real file system, except that creating a table waits while the gate
/// is closed.
#[derive(Debug, Default)]
struct GatedFs {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl GatedFs {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

impl FileSystem for GatedFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        if path.extension().is_some_and(|e| e == "sst") {
            let mut closed = self.closed.lock().unwrap();
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
        RealFileSystem.create(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        RealFileSystem.open_append(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        RealFileSystem.open_read(path)
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        RealFileSystem.map(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFileSystem.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFileSystem.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFileSystem.remove_file(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        RealFileSystem.truncate(path, len)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealFileSystem.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        RealFileSystem.exists(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        RealFileSystem.file_size(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFileSystem.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        RealFileSystem.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        RealFileSystem.available_space(dir)
    }
}

fn open(dir: &Path, fs: &Arc<GatedFs>, stall_timeout: Duration) -> DB {
    DBOptions::default()
        .file_system(Arc::clone(fs) as Arc<dyn FileSystem>)
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(1024)
        .max_immutable_memtables(1)
        .write_stall_timeout(stall_timeout)
        .open(dir)
        .unwrap()
}

/// Writes until the database reports a stop.
fn fill_until_stopped(db: &DB) {
    for i in 0..10_000u32 {
        if db
            .health()
            .write_stall
            .is_some_and(|s| s.starts_with("stop"))
        {
            return;
        }
        db.put(format!("key{i:05}"), [1u8; 100]).unwrap();
    }
    panic!("writes never stopped");
}

/// Waits (bounded) until a writer is blocked by the stop, so opening the gate
/// afterwards really resumes a stalled write.
fn wait_until_stalled(db: &DB) {
    for _ in 0..60_000 {
        if db.health().stalled_writers == 1 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the writer never stalled");
}

#[test]
fn a_stalled_write_resumes_when_the_flush_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(GatedFs::default());
    let db = open(dir.path(), &fs, Duration::from_secs(60));
    fs.set_closed(true);
    fill_until_stopped(&db);
    assert!(matches!(db.health().status, HealthStatus::Degraded));
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || db.put(b"stalled", b"write"))
    };
    wait_until_stalled(&db);
    fs.set_closed(false);
    writer.join().unwrap().unwrap();
    assert_eq!(db.get(b"stalled").unwrap().as_deref(), Some(&b"write"[..]));
    assert!(db.metrics().stall_count >= 1);
}

#[test]
fn a_stall_that_outlives_its_timeout_fails() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(GatedFs::default());
    let db = open(dir.path(), &fs, Duration::from_millis(50));
    fs.set_closed(true);
    fill_until_stopped(&db);
    let error = db.put(b"late", b"write").unwrap_err();
    assert!(matches!(error, Error::WriteStall { .. }), "{error}");
    assert_eq!(db.get(b"late").unwrap(), None);
    fs.set_closed(false);
    db.flush().unwrap();
    db.put(b"late", b"write").unwrap();
    assert!(db.health().is_writable());
}
