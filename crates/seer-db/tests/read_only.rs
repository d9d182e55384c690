//! Read-only opens (`DB::open_read_only`, `DBOptions::read_only`): no lock,
//! not a byte written, the manifest's tree plus the WAL in memory, every
//! write refused with `Error::OpenedReadOnly`, and `try_catch_up` following
//! a writer, in this process and in a child process (the test binary run
//! again as the writer).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use seer_db::{DBOptions, Error, WriteOptions, DB};

/// Set in the child process: the directory the writer opens.
const CHILD_DIR_ENV: &str = "SEER_READ_ONLY_WRITER_DIR";

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn value(i: usize) -> String {
    format!("value-{i}-{}", "x".repeat(i % 17))
}

/// Writes keys `range` in order, each synced.
fn write_keys(db: &DB, range: std::ops::Range<usize>) {
    for i in range {
        db.put(key(i), value(i)).unwrap();
    }
}

/// Every file under `dir` (keyspace directories included) by its path
/// from `dir`, with its size, modification time and contents.
fn dir_state(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime, Vec<u8>)> {
    let mut state = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let name = entry.file_name().into_string().unwrap();
        if meta.is_dir() {
            for (inner, file) in dir_state(&entry.path()) {
                state.insert(format!("{name}/{inner}"), file);
            }
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        state.insert(name, (meta.len(), meta.modified().unwrap(), bytes));
    }
    state
}

/// Asserts that `db` holds exactly keys `0..count` with their values.
fn assert_holds_prefix(db: &DB, count: usize) {
    let entries: Vec<(String, String)> = db
        .iter()
        .map(|entry| {
            let (k, v) = entry.unwrap();
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = (0..count).map(|i| (key(i), value(i))).collect();
    assert_eq!(entries, expected);
}

/// How many leading keys `db` holds, after checking they are a prefix
/// `0..n` with the right values (never a gap, never a wrong value).
fn prefix_len(db: &DB) -> usize {
    let mut count = 0;
    for entry in db.iter() {
        let (k, v) = entry.unwrap();
        assert_eq!(k.as_ref(), key(count).as_bytes(), "a gap in the prefix");
        assert_eq!(v.as_ref(), value(count).as_bytes());
        count += 1;
    }
    count
}

/// Every write API fails with the read-only error.
fn assert_writes_refused(db: &DB) {
    let refused = |result: Result<(), Error>| {
        assert!(
            matches!(result, Err(Error::OpenedReadOnly)),
            "expected OpenedReadOnly, got {result:?}"
        );
    };
    refused(db.put("k", "v"));
    refused(db.put_opt("k", "v", WriteOptions::default()).map(|_| ()));
    refused(db.delete("k"));
    refused(db.merge("k", "v"));
    let mut batch = db.batch();
    batch.put("k", "v");
    refused(db.write(batch, WriteOptions::default()).map(|_| ()));
    refused(db.write(db.batch(), WriteOptions::default()).map(|_| ()));
    let mut transaction = db.begin_transaction();
    transaction.put("k", "v");
    refused(transaction.commit());
    refused(db.flush());
    refused(db.compact_range::<&[u8]>(..));
    refused(db.persist());
}

#[test]
fn read_only_open_of_a_database_locked_in_this_process_reads_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DBOptions::default()
        .memtable_capacity(64 << 10)
        .open(dir.path())
        .unwrap();
    write_keys(&writer, 0..300);
    writer.flush().unwrap();
    write_keys(&writer, 300..400);
    // A second writable open is refused; a read-only one is not.
    assert!(matches!(DB::open(dir.path()), Err(Error::Locked { .. })));
    let before = dir_state(dir.path());

    let reader = DB::open_read_only(dir.path()).unwrap();
    assert_holds_prefix(&reader, 400);
    assert_eq!(
        reader.get(key(350)).unwrap().unwrap(),
        value(350).as_bytes()
    );
    assert_eq!(reader.visible_seq(), writer.visible_seq());
    assert_writes_refused(&reader);
    let verify = reader.verify().unwrap();
    assert!(verify.is_ok(), "{verify:?}");
    assert!(!reader.stats().is_empty());
    assert_eq!(dir_state(dir.path()), before);

    // The reader's state stays fixed until it catches up.
    write_keys(&writer, 400..500);
    assert_holds_prefix(&reader, 400);
    let snapshot = reader.snapshot();
    reader.try_catch_up().unwrap();
    assert_holds_prefix(&reader, 500);
    assert_eq!(snapshot.get(key(450)).unwrap(), None);
    drop(snapshot);
    reader.close().unwrap();

    // Nothing a reader does changes a file while the writer is idle.
    let after_writes = dir_state(dir.path());
    let reader = DB::open_read_only(dir.path()).unwrap();
    assert_holds_prefix(&reader, 500);
    assert_writes_refused(&reader);
    reader.try_catch_up().unwrap();
    reader.close().unwrap();
    assert_eq!(dir_state(dir.path()), after_writes);
    writer.close().unwrap();
}

#[test]
fn read_only_open_of_a_closed_database_changes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DB::open(dir.path()).unwrap();
    write_keys(&writer, 0..50);
    writer.flush().unwrap();
    write_keys(&writer, 50..80);
    writer.close().unwrap();
    let before = dir_state(dir.path());
    let reader = DBOptions::default()
        .read_only(true)
        .open(dir.path())
        .unwrap();
    assert_holds_prefix(&reader, 80);
    assert_writes_refused(&reader);
    reader.try_catch_up().unwrap();
    assert_holds_prefix(&reader, 80);
    reader.close().unwrap();
    drop(reader);
    assert_eq!(dir_state(dir.path()), before);
}

#[test]
fn read_only_open_of_a_missing_or_empty_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert!(DB::open_read_only(&missing).is_err());
    assert!(!missing.exists());
    assert!(DB::open_read_only(dir.path()).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn try_catch_up_on_a_writable_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    assert!(matches!(db.try_catch_up(), Err(Error::InvalidArgument(_))));
}

/// The writer child: run only as the child of
/// `read_only_open_follows_a_writer_in_another_process`. It writes keys
/// `0..200` (a flush in the middle), says `ready 200`; on `more` it writes
/// `200..600` with a flush and a full compaction (which deletes the tables
/// the reader opened) in between, then says `ready 600`; it closes when
/// its stdin closes.
#[test]
fn writer_child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let db = DBOptions::default()
        .memtable_capacity(64 << 10)
        .open(PathBuf::from(dir))
        .unwrap();
    write_keys(&db, 0..100);
    db.flush().unwrap();
    write_keys(&db, 100..200);
    println!("ready 200");
    std::io::stdout().flush().unwrap();
    let mut lines = std::io::stdin().lock().lines();
    while let Some(Ok(line)) = lines.next() {
        if line == "more" {
            write_keys(&db, 200..350);
            db.flush().unwrap();
            db.compact_range::<&[u8]>(..).unwrap();
            write_keys(&db, 350..600);
            println!("ready 600");
            std::io::stdout().flush().unwrap();
        }
    }
    db.close().unwrap();
}

/// The writer child process and its pipes.
struct Writer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Writer {
    fn spawn(dir: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "writer_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Waits for the child's `ready N` line and returns N.
    fn ready(&mut self) -> usize {
        let mut line = String::new();
        loop {
            line.clear();
            assert_ne!(
                self.stdout.read_line(&mut line).unwrap(),
                0,
                "the writer died"
            );
            // libtest may print `test writer_child_process ... ` first.
            if let Some((_, count)) = line.trim().rsplit_once("ready ") {
                return count.parse().unwrap();
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn read_only_open_follows_a_writer_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::spawn(dir.path());
    assert_eq!(writer.ready(), 200);

    // The child holds the lock.
    assert!(matches!(DB::open(dir.path()), Err(Error::Locked { .. })));
    let reader = DB::open_read_only(dir.path()).unwrap();
    assert_holds_prefix(&reader, 200);
    assert_writes_refused(&reader);

    // While the writer writes, flushes and compacts, the reader's state
    // stays a prefix, and every catch-up that succeeds shows a prefix at
    // least as long (one that fails leaves the state as it was).
    writer.send("more");
    let pinned = reader.snapshot();
    let mut seen = 200;
    for _ in 0..50 {
        if reader.try_catch_up().is_ok() {
            let now = prefix_len(&reader);
            assert!(now >= seen, "went back from {seen} to {now}");
            seen = now;
        }
    }
    assert_eq!(writer.ready(), 600);
    // The snapshot taken before still reads its tables, deleted by the
    // writer's compaction meanwhile.
    let pinned_keys = pinned.iter().count();
    assert_eq!(pinned_keys, 200);
    assert_eq!(
        pinned.get(key(150)).unwrap().unwrap(),
        value(150).as_bytes()
    );
    drop(pinned);
    reader.try_catch_up().unwrap();
    assert_holds_prefix(&reader, 600);
    reader.close().unwrap();
    writer.finish();
}

#[test]
fn health_of_a_read_only_open_says_read_only_and_never_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DB::open(dir.path()).unwrap();
    write_keys(&writer, 0..20);
    assert!(writer.health().is_writable());
    writer.close().unwrap();
    let reader = DB::open_read_only(dir.path()).unwrap();
    let health = reader.health();
    assert!(!health.is_writable(), "{health:?}");
    assert!(
        matches!(
            health.status,
            seer_db::HealthStatus::ReadOnly(Error::OpenedReadOnly)
        ),
        "{health:?}"
    );
    assert!(health.write_stall.is_none(), "{health:?}");
    reader.close().unwrap();
    assert!(matches!(
        reader.health().status,
        seer_db::HealthStatus::Closed
    ));
}

/// A read-only open reads the named keyspaces (their tables and their WAL
/// ops, batches across keyspaces included), refuses to create or write
/// one, and `try_catch_up` moves them on too: keyspaces opened in the
/// reader, ones it had not opened yet, and ones the writer created since.
#[test]
fn read_only_open_reads_named_keyspaces_and_catches_up_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DBOptions::default()
        .memtable_capacity(64 << 10)
        .open(dir.path())
        .unwrap();
    let log = writer.keyspace("log").unwrap();
    let state = writer.keyspace("state").unwrap();
    log.put("flushed", "1").unwrap();
    log.flush().unwrap();
    log.put("in-wal", "2").unwrap();
    let mut batch = writer.batch();
    batch
        .put_in(&log, "entry", "e")
        .put_in(&state, "applied", "e");
    writer.write(batch, WriteOptions::default()).unwrap();
    let before = dir_state(dir.path());

    let reader = DB::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.keyspace_names(), ["log", "state"]);
    let log_reader = reader.keyspace("log").unwrap();
    let read = |keyspace: &seer_db::Keyspace, key: &str| {
        keyspace
            .get(key)
            .unwrap()
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    };
    assert_eq!(read(&log_reader, "flushed").as_deref(), Some("1"));
    assert_eq!(read(&log_reader, "in-wal").as_deref(), Some("2"));
    assert_eq!(read(&log_reader, "entry").as_deref(), Some("e"));
    assert_eq!(log_reader.iter().count(), 3);
    assert!(matches!(
        log_reader.put("x", "y"),
        Err(Error::OpenedReadOnly)
    ));
    assert!(matches!(
        reader.keyspace("absent"),
        Err(Error::OpenedReadOnly)
    ));
    assert!(reader.verify().unwrap().is_ok());
    assert_eq!(dir_state(dir.path()), before);

    // The writer moves on: more in the WAL, a flush, a new keyspace.
    log.put("later", "3").unwrap();
    state.put("applied", "f").unwrap();
    state.flush().unwrap();
    writer.keyspace("new").unwrap().put("k", "v").unwrap();
    assert_eq!(read(&log_reader, "later"), None, "fixed until caught up");
    reader.try_catch_up().unwrap();
    assert_eq!(read(&log_reader, "later").as_deref(), Some("3"));
    let state_reader = reader.keyspace("state").unwrap();
    assert_eq!(read(&state_reader, "applied").as_deref(), Some("f"));
    assert_eq!(
        read(&reader.keyspace("new").unwrap(), "k").as_deref(),
        Some("v")
    );
    assert_eq!(reader.visible_seq(), writer.visible_seq());
    reader.close().unwrap();
    writer.close().unwrap();
}
