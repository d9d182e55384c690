//! The engine's lifecycle: once `close()` returns (or the last handle is
//! dropped) the instance does no more I/O in its directory, whatever
//! writes, flushes, compactions and `compact_range` calls were running;
//! close stops at the next safe point instead of working off the backlog;
//! `compact_range` compacts what exists when it starts; a compaction's
//! inputs leave the disk as soon as nothing reads them; an iterator that
//! outlives its database keeps reading after a reopen.
//!
//! A counting file system (a wrapper of the real one) records every call
//! the old instance makes after it was closed.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use seer_core::{
    FileLock, FileSystem, RandomAccessFile, RealFileSystem, SharedFileSystem, WritableFile,
};
use seer_db::{DBOptions, Error, HealthStatus, SyncPolicy, DB};

/// What the counting file system shares with its file handles.
#[derive(Debug, Default)]
struct Calls {
    /// Calls served, handles' calls included.
    count: AtomicU64,
    /// Table files created.
    tables_created: AtomicU64,
    /// Set once the instance using this file system is closed: every later
    /// call is recorded in `after_close`.
    closed: AtomicBool,
    after_close: Mutex<Vec<String>>,
    /// While set, creating a table file blocks (the flush holding it
    /// cannot finish) until it is cleared.
    hold_tables: Mutex<bool>,
    tables_released: Condvar,
    /// Each table the thread named [`MANUAL_COMPACTOR`] creates asks the
    /// writer for one more flushed memtable (a new level-0 run) and waits
    /// until it is installed (or the writer stopped).
    flushes_requested: AtomicU64,
    flushes_served: AtomicU64,
    writer_stopped: AtomicBool,
}

/// The name of the thread that runs `compact_range` in the pacing test.
const MANUAL_COMPACTOR: &str = "manual-compactor";

impl Calls {
    fn record(&self, call: &str, path: &Path) {
        self.count.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.after_close
                .lock()
                .unwrap()
                .push(format!("{call} {}", path.display()));
        }
    }

    fn calls_after_close(&self) -> Vec<String> {
        self.after_close.lock().unwrap().clone()
    }

    fn pace_table_creation(&self) {
        if thread::current().name() != Some(MANUAL_COMPACTOR) {
            return;
        }
        let request = self.flushes_requested.fetch_add(1, Ordering::SeqCst) + 1;
        wait_for(|| {
            self.flushes_served.load(Ordering::SeqCst) >= request
                || self.writer_stopped.load(Ordering::SeqCst)
        });
    }

    fn release_tables(&self) {
        *self.hold_tables.lock().unwrap() = false;
        self.tables_released.notify_all();
    }
}

/// The real file system, counting every call.
#[derive(Debug)]
struct CountingFs {
    inner: SharedFileSystem,
    calls: Arc<Calls>,
}

impl CountingFs {
    /// A counting file system and its counters.
    fn shared() -> (SharedFileSystem, Arc<Calls>) {
        let calls = Arc::new(Calls::default());
        let fs = Self {
            inner: RealFileSystem::shared(),
            calls: Arc::clone(&calls),
        };
        (Arc::new(fs), calls)
    }
}

#[derive(Debug)]
struct CountingWritable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    calls: Arc<Calls>,
}

impl WritableFile for CountingWritable {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.calls.record("append", &self.path);
        self.inner.append(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.calls.record("sync_data", &self.path);
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.calls.record("sync_all", &self.path);
        self.inner.sync_all()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

#[derive(Debug)]
struct CountingReadable {
    inner: Box<dyn RandomAccessFile>,
    path: PathBuf,
    calls: Arc<Calls>,
}

impl RandomAccessFile for CountingReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.calls.record("read_exact_at", &self.path);
        self.inner.read_exact_at(buf, offset)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

fn is_table(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "sst")
}

impl FileSystem for CountingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.calls.record("create_dir_all", dir);
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.calls.record("create", path);
        if is_table(path) {
            self.calls.tables_created.fetch_add(1, Ordering::SeqCst);
            self.calls.pace_table_creation();
            let mut held = self.calls.hold_tables.lock().unwrap();
            while *held {
                held = self.calls.tables_released.wait(held).unwrap();
            }
        }
        let inner = self.inner.create(path)?;
        Ok(Box::new(CountingWritable {
            inner,
            path: path.to_owned(),
            calls: Arc::clone(&self.calls),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.calls.record("open_append", path);
        let inner = self.inner.open_append(path)?;
        Ok(Box::new(CountingWritable {
            inner,
            path: path.to_owned(),
            calls: Arc::clone(&self.calls),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn RandomAccessFile>> {
        self.calls.record("open_read", path);
        let inner = self.inner.open_read(path)?;
        Ok(Box::new(CountingReadable {
            inner,
            path: path.to_owned(),
            calls: Arc::clone(&self.calls),
        }))
    }
    fn map(&self, path: &Path) -> io::Result<Bytes> {
        self.calls.record("map", path);
        self.inner.map(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.calls.record("read", path);
        self.inner.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.calls.record("rename", from);
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.calls.record("remove_file", path);
        self.inner.remove_file(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.calls.record("truncate", path);
        self.inner.truncate(path, len)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.calls.record("list_dir", dir);
        self.inner.list_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.calls.record("exists", path);
        self.inner.exists(path)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.calls.record("file_size", path);
        self.inner.file_size(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.calls.record("sync_dir", dir);
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.calls.record("lock", path);
        self.inner.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        self.calls.record("available_space", dir);
        self.inner.available_space(dir)
    }
}

/// Small memtables and files, so flushes and compactions run all the time.
fn busy_options(fs: SharedFileSystem, sync_policy: SyncPolicy) -> DBOptions {
    DBOptions::default()
        .memtable_capacity(8 * 1024)
        .target_file_size(4 * 1024)
        .base_level_size(16 * 1024)
        .l0_compaction_trigger(2)
        .background_threads(2)
        .sync_policy(sync_policy)
        .min_free_disk_bytes(Some(1))
        .file_system(fs)
}

/// Options under which nothing compacts in the background.
fn quiet_options() -> DBOptions {
    DBOptions::default()
        .l0_compaction_trigger(100)
        .l0_slowdown_writes_trigger(200)
        .l0_stop_writes_trigger(300)
        .sync_policy(SyncPolicy::Never)
}

fn value_of(key: &str, round: usize) -> String {
    format!("{key}-value-{round}-{}", "x".repeat(40))
}

/// Writes `writer`'s keys until the database refuses (it must be closed);
/// returns the acknowledged writes.
fn write_until_closed(db: &DB, writer: usize, acked: &AtomicU64) -> Vec<(String, String)> {
    let mut written = Vec::new();
    for i in 0.. {
        let key = format!("w{writer}-{i:06}");
        let value = value_of(&key, 0);
        match db.put(&key, &value) {
            Ok(()) => {
                written.push((key, value));
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Err(Error::Closed) => break,
            Err(other) => panic!("writer {writer}: {other}"),
        }
    }
    written
}

/// Runs `step` until it fails, which must be because the database closed.
fn repeat_until_closed(name: &str, step: impl Fn() -> seer_db::Result<()>) {
    loop {
        match step() {
            Ok(()) => {}
            Err(Error::Closed) => return,
            Err(other) => panic!("{name}: {other}"),
        }
    }
}

/// Waits (without a time bound: a state, not a timing) until `done`.
fn wait_for(done: impl Fn() -> bool) {
    while !done() {
        thread::sleep(Duration::from_millis(1));
    }
}

/// The reopened database holds every acknowledged write and verifies.
fn check_reopened(db: &DB, written: &BTreeMap<String, String>) {
    for (key, value) in written {
        let got = db.get(key).unwrap();
        assert_eq!(got.as_deref(), Some(value.as_bytes()), "key {key}");
    }
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// Close (or drop the last handle) while writers, `flush`, `compact_range`
/// and the background flush and compactions run, reopen at once, and work
/// on the new instance: the old one makes no file-system call after
/// `close()` (or the drop) returned, and every acknowledged write is there.
/// Rounds vary the moment of the close, the sync policy, and close vs drop.
#[test]
fn a_closed_instance_does_no_io_while_its_writes_flushes_and_compactions_were_running() {
    for round in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let (fs, calls) = CountingFs::shared();
        let sync_policy = match round % 3 {
            0 => SyncPolicy::Never,
            1 => SyncPolicy::Interval(Duration::from_millis(1)),
            _ => SyncPolicy::Always,
        };
        let db = busy_options(fs, sync_policy).open(dir.path()).unwrap();
        let by_drop = round % 2 == 1;
        // An iterator and a snapshot that outlive the instance.
        let pinned;
        let acked = Arc::new(AtomicU64::new(0));
        let mut written = BTreeMap::new();
        let mut threads = Vec::new();
        if by_drop {
            // Only this handle: dropping it closes the engine while the
            // background threads work off what these writes queued.
            for i in 0..300 * (round + 1) {
                let key = format!("main-{i:06}");
                db.put(&key, value_of(&key, 0)).unwrap();
                written.insert(key.clone(), value_of(&key, 0));
            }
            pinned = Some((db.iter(), db.snapshot()));
            drop(db);
        } else {
            for writer in 0..2 {
                let db = db.clone();
                let acked = Arc::clone(&acked);
                threads.push(thread::spawn(move || {
                    write_until_closed(&db, writer, &acked)
                }));
            }
            let flusher = db.clone();
            threads.push(thread::spawn(move || {
                repeat_until_closed("flush", || flusher.flush());
                Vec::new()
            }));
            let compactor = db.clone();
            threads.push(thread::spawn(move || {
                repeat_until_closed("compact_range", || compactor.compact_range::<&[u8]>(..));
                Vec::new()
            }));
            let enough = 200 * (round as u64 + 1);
            wait_for(|| acked.load(Ordering::SeqCst) >= enough);
            pinned = Some((db.iter(), db.snapshot()));
            db.close().unwrap();
            calls.closed.store(true, Ordering::SeqCst);
            assert!(matches!(db.health().status, HealthStatus::Closed));
        }
        calls.closed.store(true, Ordering::SeqCst);

        let (new_fs, _) = CountingFs::shared();
        let reopened = busy_options(new_fs, SyncPolicy::Never)
            .open(dir.path())
            .unwrap();
        for thread in threads {
            written.extend(thread.join().unwrap());
        }
        for i in 0..500 {
            reopened.put(format!("new-{i:04}"), "v").unwrap();
        }
        reopened.flush().unwrap();
        reopened.compact_range::<&[u8]>(..).unwrap();
        check_reopened(&reopened, &written);
        // They read what they pinned (open tables only); the snapshot's
        // reads need the engine.
        let (iterator, snapshot) = pinned.unwrap();
        let entries: Vec<(Bytes, Bytes)> = iterator.collect::<Result<_, _>>().unwrap();
        assert!(!entries.is_empty());
        assert!(matches!(snapshot.get("main-000000"), Err(Error::Closed)));
        drop(snapshot);
        reopened.close().unwrap();
        let stray = calls.calls_after_close();
        assert!(
            stray.is_empty(),
            "round {round}: the closed instance made {} calls: {:?}",
            stray.len(),
            &stray[..stray.len().min(20)]
        );
    }
}

/// With many memtables waiting for the flush thread, `close()` finishes
/// the flush in progress and stops: the rest stays in the WAL, and the
/// reopen recovers every acknowledged write from it.
#[test]
fn close_stops_after_the_flush_in_progress_and_the_wal_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, calls) = CountingFs::shared();
    *calls.hold_tables.lock().unwrap() = true;
    let db = quiet_options()
        .memtable_capacity(4 * 1024)
        .max_immutable_memtables(100)
        .background_threads(1)
        .file_system(fs)
        .open(dir.path())
        .unwrap();
    let mut written = BTreeMap::new();
    let mut i = 0;
    // The first flush is held at its table's creation, so memtables queue.
    while db.health().immutable_memtables < 10 {
        let key = format!("k{i:06}");
        db.put(&key, value_of(&key, 0)).unwrap();
        written.insert(key.clone(), value_of(&key, 0));
        i += 1;
    }
    wait_for(|| calls.tables_created.load(Ordering::SeqCst) >= 1);
    assert_eq!(calls.tables_created.load(Ordering::SeqCst), 1);
    let closer = {
        let db = db.clone();
        thread::spawn(move || db.close())
    };
    wait_for(|| matches!(db.health().status, HealthStatus::Closed));
    calls.release_tables();
    closer.join().unwrap().unwrap();
    let flushed = calls.tables_created.load(Ordering::SeqCst);
    assert!(flushed <= 1, "close flushed {flushed} memtables");
    drop(db);

    let reopened = quiet_options().open(dir.path()).unwrap();
    check_reopened(&reopened, &written);
}

/// A writer keeps adding level-0 runs while `compact_range(..)` runs: each
/// table the compaction writes waits for one more flushed memtable. The
/// call compacts what existed when it started and returns while the writer
/// is still going; the writer gives up after 20 runs (before, the call
/// chased every new run until the writer had stopped).
#[test]
fn compact_range_returns_while_a_writer_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, calls) = CountingFs::shared();
    let db = quiet_options()
        .background_threads(1)
        .file_system(fs)
        .open(dir.path())
        .unwrap();
    for round in 0..4 {
        for i in 0..500 {
            let key = format!("old-{i:05}");
            db.put(&key, value_of(&key, round)).unwrap();
        }
        db.flush().unwrap();
    }
    let compact_done = Arc::new(AtomicBool::new(false));
    let writer = {
        let db = db.clone();
        let compact_done = Arc::clone(&compact_done);
        let calls = Arc::clone(&calls);
        thread::spawn(move || {
            let mut gave_up = false;
            let mut next_key = 0;
            while !compact_done.load(Ordering::SeqCst) {
                let served = calls.flushes_served.load(Ordering::SeqCst);
                if calls.flushes_requested.load(Ordering::SeqCst) <= served {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                if served == 20 {
                    gave_up = true;
                    break;
                }
                for _ in 0..100 {
                    let key = format!("new-{next_key:07}");
                    db.put(&key, value_of(&key, 0)).unwrap();
                    next_key += 1;
                }
                db.flush().unwrap();
                calls.flushes_served.fetch_add(1, Ordering::SeqCst);
            }
            calls.writer_stopped.store(true, Ordering::SeqCst);
            gave_up
        })
    };
    let compactor = {
        let db = db.clone();
        thread::Builder::new()
            .name(MANUAL_COMPACTOR.to_owned())
            .spawn(move || db.compact_range::<&[u8]>(..))
            .unwrap()
    };
    compactor.join().unwrap().unwrap();
    compact_done.store(true, Ordering::SeqCst);
    let writer_gave_up = writer.join().unwrap();
    assert!(
        !writer_gave_up,
        "compact_range ran until the writer stopped"
    );
    for i in (0..500).step_by(37) {
        let key = format!("old-{i:05}");
        assert_eq!(
            db.get(&key).unwrap().as_deref(),
            Some(value_of(&key, 3).as_bytes())
        );
    }
}

fn table_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sst"))
        .collect();
    names.sort();
    names
}

/// After a full `compact_range` on an idle database, the compacted tables
/// are gone from the directory at once: no later compaction or close is
/// needed to delete them.
#[test]
fn a_compaction_deletes_its_own_inputs_once_nothing_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = quiet_options().open(dir.path()).unwrap();
    for round in 0..3 {
        for i in 0..200 {
            let key = format!("k{i:05}");
            db.put(&key, value_of(&key, round)).unwrap();
        }
        db.flush().unwrap();
    }
    let before = table_files(dir.path());
    assert!(before.len() >= 3, "{before:?}");
    db.compact_range::<&[u8]>(..).unwrap();
    let live: usize = db.metrics().levels.iter().map(|level| level.tables).sum();
    let after = table_files(dir.path());
    assert_eq!(after.len(), live, "on disk: {after:?}");
    assert!(before.iter().all(|name| !after.contains(name)));
}

/// Tables a reader held while they were compacted stay for it, and go
/// with the first flush after it let them go.
#[test]
fn compacted_tables_a_reader_held_go_with_the_next_flush_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = quiet_options().open(dir.path()).unwrap();
    for round in 0..2 {
        for i in 0..200 {
            let key = format!("k{i:05}");
            db.put(&key, value_of(&key, round)).unwrap();
        }
        db.flush().unwrap();
    }
    let before = table_files(dir.path());
    let reader = db.iter();
    db.compact_range::<&[u8]>(..).unwrap();
    assert!(before
        .iter()
        .all(|name| table_files(dir.path()).contains(name)));
    assert_eq!(reader.count(), 200);
    db.put("another", "write").unwrap();
    db.flush().unwrap();
    let after = table_files(dir.path());
    assert!(before.iter().all(|name| !after.contains(name)), "{after:?}");
}

/// An iterator that outlives its database, whose tables were compacted
/// away (kept only for it) and then deleted by a new instance's orphan
/// sweep, still yields everything it saw: it reads its open tables and
/// opens no file.
#[test]
fn an_iterator_that_outlives_its_database_reads_on_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = quiet_options().open(dir.path()).unwrap();
    for i in 0..300 {
        let key = format!("k{i:05}");
        db.put(&key, value_of(&key, 0)).unwrap();
    }
    db.flush().unwrap();
    let pinned = db.iter();
    for i in 0..300 {
        let key = format!("k{i:05}");
        db.put(&key, value_of(&key, 1)).unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    let before_close = table_files(dir.path());
    db.close().unwrap();
    drop(db);

    let reopened = quiet_options().open(dir.path()).unwrap();
    let after_reopen = table_files(dir.path());
    assert!(
        before_close.iter().any(|name| !after_reopen.contains(name)),
        "the reopen should sweep the tables only the iterator held"
    );
    let seen: Vec<(Bytes, Bytes)> = pinned.map(|entry| entry.unwrap()).collect();
    assert_eq!(seen.len(), 300);
    for (i, (key, value)) in seen.iter().enumerate() {
        let expected_key = format!("k{i:05}");
        assert_eq!(&key[..], expected_key.as_bytes());
        assert_eq!(&value[..], value_of(&expected_key, 0).as_bytes());
    }
    assert_eq!(
        reopened.get("k00000").unwrap().as_deref(),
        Some(value_of("k00000", 1).as_bytes())
    );
}
