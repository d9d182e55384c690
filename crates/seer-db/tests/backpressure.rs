//! Write stalls: a writer stopped by too many unflushed memtables resumes
//! once the flush catches up, and fails with `WriteStall` after the stall
//! timeout when it does not. A file system that holds table creation at a
//! gate (a `ForwardingFs` from seer-testkit)
//! makes the background fall behind on demand.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use seer_core::RealFileSystem;
use seer_db::{DBOptions, Error, HealthStatus, SyncPolicy, DB};
use seer_testkit::ForwardingFs;

/// A gate that table creation waits at while it is closed.
#[derive(Debug, Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
    }
}

/// Opens a database on the real file system, except that creating a table
/// waits while `gate` is closed.
fn open(dir: &Path, gate: &Arc<Gate>, stall_timeout: Duration) -> DB {
    let gate = Arc::clone(gate);
    let fs = ForwardingFs::new(RealFileSystem::shared()).on_create(move |path, inner| {
        if path.extension().is_some_and(|e| e == "sst") {
            gate.pass();
        }
        inner.create(path)
    });
    DBOptions::default()
        .file_system(Arc::new(fs))
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
    let fs = Arc::new(Gate::default());
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
    let fs = Arc::new(Gate::default());
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
