//! I/O failures through the fault-injecting file system: a failed WAL sync
//! fails the write and turns the database read-only; after reopening,
//! every acknowledged write is there.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use seer_core::fault::{Fault, FaultFileSystem};
use seer_db::{DBOptions, Error, HealthStatus, SyncPolicy};
use seer_testkit::ForwardingFs;

fn options(fs: &FaultFileSystem) -> DBOptions {
    DBOptions::default()
        .file_system(fs.shared())
        .sync_policy(SyncPolicy::Always)
        .memtable_capacity(4 << 10)
}

#[test]
fn failed_fsync_fails_the_write_and_turns_read_only() {
    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    let db = options(&fs).open(path).unwrap();
    db.put(b"before", b"1").unwrap();
    fs.arm(Fault::FailSync { nth: 1 });
    let error = db.put(b"failed", b"2").unwrap_err();
    assert!(!matches!(error, Error::InvalidArgument(_)), "{error}");
    let error = db.put(b"after", b"3").unwrap_err();
    assert!(matches!(error, Error::ReadOnly { .. }), "{error}");
    assert!(matches!(db.health().status, HealthStatus::ReadOnly(_)));
    assert!(!db.health().is_writable());
    assert_eq!(db.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
    assert!(db.close().is_err(), "close reports the failure");
    drop(db);

    fs.disarm_all();
    let db = options(&fs).open(path).unwrap();
    assert_eq!(db.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"after").unwrap(), None);
    db.put(b"again", b"4").unwrap();
}

#[test]
fn failed_flush_turns_read_only_without_losing_data() {
    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    // Table creates fail once armed (the WAL's spare segment is created in
    // the background meanwhile, so a counted `FailCreate` could hit it).
    let fail_tables = Arc::new(AtomicBool::new(false));
    let armed = Arc::clone(&fail_tables);
    let failing = ForwardingFs::new(fs.shared()).on_create(move |file, inner| {
        if armed.load(Ordering::SeqCst) && file.extension().is_some_and(|ext| ext == "sst") {
            return Err(std::io::Error::other("injected table create failure"));
        }
        inner.create(file)
    });
    let db = options(&fs)
        .file_system(Arc::new(failing))
        .sync_policy(SyncPolicy::Never)
        .open(path)
        .unwrap();
    for i in 0..50u32 {
        db.put(format!("k{i}"), [7u8; 32]).unwrap();
    }
    fail_tables.store(true, Ordering::SeqCst);
    let error = db.flush().unwrap_err();
    assert!(matches!(error, Error::ReadOnly { .. }), "{error}");
    assert!(matches!(db.put(b"x", b"y"), Err(Error::ReadOnly { .. })));
    drop(db);
    let db = options(&fs).open(path).unwrap();
    for i in 0..50u32 {
        assert!(db.get(format!("k{i}")).unwrap().is_some(), "k{i}");
    }
}

#[test]
fn power_loss_keeps_synced_writes() {
    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    let db = options(&fs).open(path).unwrap();
    for i in 0..200u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).unwrap();
    }
    fs.power_loss(seer_core::fault::PowerLossMode::DropUnsynced);
    drop(db);
    let db = options(&fs).open(path).unwrap();
    for i in 0..200u32 {
        assert_eq!(
            db.get(format!("k{i:03}")).unwrap().as_deref(),
            Some(format!("v{i}").as_bytes()),
            "k{i:03}"
        );
    }
}

#[test]
fn failed_interval_sync_turns_read_only_at_once_without_a_write() {
    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    let db = options(&fs)
        .sync_policy(SyncPolicy::Interval(std::time::Duration::from_millis(2)))
        .open(path)
        .unwrap();
    fs.arm(Fault::FailSync { nth: 1 });
    // Acknowledged before the interval sync, as the policy allows.
    db.put(b"unsynced", b"1").unwrap();
    // Bounded wait for the background sync; this checks that health learns
    // of its failure with no write in between, not how fast.
    for _ in 0..10_000 {
        if !db.health().is_writable() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(fs.stats().injected_faults_count, 1);
    assert!(
        matches!(db.health().status, HealthStatus::ReadOnly(_)),
        "{:?}",
        db.health().status
    );
    let error = db.put(b"after", b"2").unwrap_err();
    assert!(matches!(error, Error::ReadOnly { .. }), "{error}");
}
