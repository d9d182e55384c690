//! Shared by the checkpoint and backup tests: a file system that runs a
//! hook before every call that changes something (seer-testkit's
//! `ForwardingFs`, so a test can cut the power at the Nth step of a copy,
//! fail a hard link as across file systems, or compact in the middle of a
//! checkpoint), and small helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use seer_core::fault::{FaultFileSystem, PowerLossMode, PowerSwitch};
use seer_core::SharedFileSystem;
use seer_db::{DBOptions, DB};
use seer_testkit::ForwardingFs;

/// The change hook of [`hooked`]: the name of a changing call and the
/// path it changes (see `seer_testkit::forwarding_fs::ChangeHook`).
pub type Hook = seer_testkit::forwarding_fs::ChangeHook;

/// `inner`, with `hook` called before each changing call (an error from
/// the hook fails the call).
pub fn hooked(inner: SharedFileSystem, hook: Hook) -> SharedFileSystem {
    Arc::new(ForwardingFs::new(inner).on_change(move |call, path| hook(call, path)))
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

    /// The hook to give [`hooked`].
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

/// Every entry of `iter`, in key order.
pub fn entries(iter: seer_db::DbIterator) -> BTreeMap<Vec<u8>, Vec<u8>> {
    iter.map(|entry| {
        let (key, value) = entry.unwrap();
        (key.to_vec(), value.to_vec())
    })
    .collect()
}

/// A database of busy options with the keyspaces a copy must (and must
/// not) take: `idle`, written and then only recovered (never opened in the
/// returned handle), and `gone`, created, written and dropped; the handle
/// has `a` and `b` open for [`write_across_keyspaces`].
pub struct KeyspacedDb {
    pub db: DB,
    pub a: seer_db::Keyspace,
    pub b: seer_db::Keyspace,
    /// What `idle` holds.
    pub idle: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Opens `path` of `options`' file system as a [`KeyspacedDb`].
pub fn keyspaced_db(options: DBOptions, path: &str) -> KeyspacedDb {
    let db = options.clone().open(path).unwrap();
    let idle = db.keyspace("idle").unwrap();
    let gone = db.keyspace("gone").unwrap();
    for i in 0..300 {
        idle.put(format!("idle{i:04}"), format!("idle value {i}"))
            .unwrap();
        gone.put(format!("gone{i:04}"), "dropped").unwrap();
    }
    idle.flush().unwrap();
    let idle_entries = entries(idle.iter());
    db.drop_keyspace("gone").unwrap();
    drop((idle, gone));
    db.close().unwrap();
    drop(db);
    let db = options.create_if_missing(false).open(path).unwrap();
    let a = db.keyspace("a").unwrap();
    let b = db.keyspace("b").unwrap();
    KeyspacedDb {
        db,
        a,
        b,
        idle: idle_entries,
    }
}

/// The batches of [`write_across_keyspaces`]: each batch's sequence
/// number and its index.
pub type BatchHistory = Vec<(seer_core::SeqNo, u64)>;

fn batch_key(i: u64) -> String {
    format!("key{:04}", (i * 7919) % 700)
}

fn batch_value(i: u64) -> String {
    format!("value-{i}-{}", "x".repeat((i % 64) as usize))
}

/// Writes batches, each putting one key in the default keyspace, `a` and
/// `b` at once, until `stop` is set (and at least `min_count`), counting
/// them in `written`.
pub fn write_across_keyspaces(
    db: &KeyspacedDb,
    stop: &std::sync::atomic::AtomicBool,
    written: &AtomicU64,
    min_count: u64,
) -> BatchHistory {
    let mut history = BatchHistory::new();
    let mut i = 0u64;
    while !stop.load(Ordering::SeqCst) || i < min_count {
        let (key, value) = (batch_key(i), batch_value(i));
        let mut batch = db.db.batch();
        batch.put(&key, &value);
        batch.put_in(&db.a, &key, &value);
        batch.put_in(&db.b, &key, &value);
        let seq = db
            .db
            .write(batch, seer_db::WriteOptions::default())
            .unwrap();
        history.push((seq, i));
        i += 1;
        written.store(i, Ordering::SeqCst);
    }
    history
}

/// Waits until `written` reaches `count` (the writer is that far).
pub fn wait_for_batches(written: &AtomicU64, count: u64) {
    while written.load(Ordering::SeqCst) < count {
        std::thread::yield_now();
    }
}

/// What each of the default keyspace, `a` and `b` holds once every batch
/// of `history` with a sequence number up to `seq` is applied.
pub fn batches_at(history: &BatchHistory, seq: seer_core::SeqNo) -> BTreeMap<Vec<u8>, Vec<u8>> {
    history
        .iter()
        .filter(|(batch_seq, _)| *batch_seq <= seq)
        .map(|(_, i)| (batch_key(*i).into_bytes(), batch_value(*i).into_bytes()))
        .collect()
}

/// Checks a copy of a [`KeyspacedDb`] taken at `seq`: the default
/// keyspace, `a` and `b` each hold exactly the batches up to `seq`,
/// `idle` its entries, and `gone` is not there.
pub fn check_keyspaced_copy(
    copy: &DB,
    history: &BatchHistory,
    seq: seer_core::SeqNo,
    idle: &BTreeMap<Vec<u8>, Vec<u8>>,
) {
    assert_eq!(copy.keyspace_names(), ["a", "b", "idle"]);
    let expected = batches_at(history, seq);
    assert!(contents(copy) == expected, "the default keyspace at {seq}");
    for name in ["a", "b"] {
        let keyspace = copy.keyspace(name).unwrap();
        assert!(
            entries(keyspace.iter()) == expected,
            "keyspace {name} at {seq}"
        );
    }
    assert!(entries(copy.keyspace("idle").unwrap().iter()) == *idle);
}
