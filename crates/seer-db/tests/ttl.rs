//! Integration tests of expiring puts (`put_with_ttl`, `Batch::put_with_ttl`,
//! `DBOptions::default_ttl`) under a manual clock: reads never return an
//! expired entry, through flushes, compactions, reopens, snapshots,
//! transactions and merges, and a full compaction removes them from disk.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use seer_core::RealFileSystem;
use seer_db::{Batch, Clock, DBOptions, ManualClock, DB};

mod iter_support;

use iter_support::tiny_options;

/// The clock's start: an arbitrary instant well after the epoch.
const START_MS: u64 = 1_700_000_000_000;

fn open_at(dir: &Path, clock: &Arc<ManualClock>, options: DBOptions) -> DB {
    options
        .merge_operator(seer_db::StringAppendOperator::new(","))
        .clock(Arc::clone(clock))
        .open(dir)
        .unwrap()
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Entries in the database's tables, counted from their properties.
fn table_entries(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sst"))
        .map(|path| {
            let table = seer_sstable::Table::open(&RealFileSystem, &path, 0, None).unwrap();
            table.properties().entry_count
        })
        .sum()
}

/// A key's state in the model: its newest put (value and expiry, if any)
/// and the merge operands above it, oldest first.
#[derive(Debug, Clone, Default)]
struct ModelKey {
    base: Option<(String, Option<u64>)>,
    operands: Vec<String>,
}

impl ModelKey {
    fn read(&self, now_ms: u64) -> Option<String> {
        let base = self
            .base
            .as_ref()
            .filter(|(_, expiry)| expiry.is_none_or(|e| now_ms < e))
            .map(|(value, _)| value.clone());
        if self.operands.is_empty() {
            return base;
        }
        let mut parts: Vec<String> = base.into_iter().collect();
        parts.extend(self.operands.iter().cloned());
        Some(parts.join(","))
    }
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn check(db: &DB, model: &BTreeMap<String, ModelKey>, now_ms: u64, step: usize) {
    let expected: Vec<(Bytes, Bytes)> = model
        .iter()
        .filter_map(|(k, state)| {
            state
                .read(now_ms)
                .map(|v| (Bytes::from(k.clone()), Bytes::from(v)))
        })
        .collect();
    for (key, state) in model {
        let want = state.read(now_ms);
        let got = db.get(key).unwrap();
        assert_eq!(
            got.as_deref(),
            want.as_deref().map(str::as_bytes),
            "get {key} at step {step}, now {now_ms}"
        );
    }
    let keys: Vec<&String> = model.keys().collect();
    let multi: Vec<Option<Bytes>> = db.multi_get(&keys).unwrap();
    let want_multi: Vec<Option<Bytes>> = model
        .values()
        .map(|state| state.read(now_ms).map(Bytes::from))
        .collect();
    assert_eq!(multi, want_multi, "multi_get at step {step}");
    let forward: Vec<(Bytes, Bytes)> = db.iter().map(Result::unwrap).collect();
    assert_eq!(forward, expected, "forward scan at step {step}");
    let mut backward: Vec<(Bytes, Bytes)> = db.iter().rev().map(Result::unwrap).collect();
    backward.reverse();
    assert_eq!(backward, expected, "backward scan at step {step}");
}

#[test]
fn reads_match_a_model_of_expiring_puts_through_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut db = open_at(dir.path(), &clock, tiny_options());
    let mut model: BTreeMap<String, ModelKey> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..3_000 {
        let key = format!("key{:03}", rng.below(60));
        let value = format!("v{step}");
        let state = model.entry(key.clone()).or_default();
        match rng.below(100) {
            0..=29 => {
                db.put(&key, &value).unwrap();
                *state = ModelKey {
                    base: Some((value, None)),
                    operands: Vec::new(),
                };
            }
            30..=64 => {
                let ttl_ms = 1 + rng.below(400);
                db.put_with_ttl(&key, &value, ms(ttl_ms)).unwrap();
                let expiry = clock.now_unix_ms() + ttl_ms;
                *state = ModelKey {
                    base: Some((value, Some(expiry))),
                    operands: Vec::new(),
                };
            }
            65..=74 => {
                db.delete(&key).unwrap();
                *state = ModelKey::default();
            }
            75..=89 => {
                db.merge(&key, &value).unwrap();
                state.operands.push(value);
            }
            90..=95 => clock.advance_ms(rng.below(120)),
            96 => db.flush().unwrap(),
            97 => db.compact_range::<&[u8]>(..).unwrap(),
            98 => {
                db.close().unwrap();
                db = open_at(dir.path(), &clock, tiny_options());
            }
            _ => check(&db, &model, clock.now_unix_ms(), step),
        }
    }
    check(&db, &model, clock.now_unix_ms(), usize::MAX);
    clock.advance_ms(1_000);
    db.compact_range::<&[u8]>(..).unwrap();
    check(&db, &model, clock.now_unix_ms(), usize::MAX);
}

#[test]
fn expired_entries_are_gone_from_disk_after_a_full_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut db = open_at(dir.path(), &clock, tiny_options());
    // A background compaction running beside `compact_range` can hold the
    // replaced tables a moment longer; `close` waits for it and deletes
    // them, so the files are counted after a close and a reopen.
    let settled = |db: DB| {
        db.close().unwrap();
        drop(db);
        open_at(dir.path(), &clock, tiny_options())
    };
    for i in 0..200 {
        db.put_with_ttl(format!("short{i:03}"), "x", ms(10))
            .unwrap();
        db.put_with_ttl(format!("long{i:03}"), "y", ms(10_000))
            .unwrap();
        db.put(format!("plain{i:03}"), "z").unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    db = settled(db);
    assert_eq!(table_entries(dir.path()), 600);
    clock.advance_ms(10);
    assert_eq!(db.get("short000").unwrap(), None);
    assert_eq!(db.iter().count(), 400);
    // Fresh writes give the full compaction work, so it rewrites the
    // bottom run, and with it the expired entries.
    for i in 0..200 {
        db.put(format!("plain{i:03}"), "z2").unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    let db = settled(db);
    assert_eq!(table_entries(dir.path()), 400);
    assert_eq!(db.get("long000").unwrap().as_deref(), Some(&b"y"[..]));
}

#[test]
fn a_snapshot_never_reads_an_expired_entry_and_compaction_keeps_what_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(dir.path(), &clock, tiny_options());
    db.put("k", "old").unwrap();
    let before = db.snapshot();
    db.put_with_ttl("k", "new", ms(50)).unwrap();
    let after = db.snapshot();
    db.merge("m", "base-less").unwrap();
    clock.advance_ms(50);
    db.compact_range::<&[u8]>(..).unwrap();
    // The expired put becomes a tombstone, not a hole: the older version
    // stays for the snapshot that reads it, and stays hidden from the rest.
    assert_eq!(before.get("k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(after.get("k").unwrap(), None);
    assert_eq!(db.get("k").unwrap(), None);
    assert_eq!(after.iter().count(), 0);
    let txn = db.begin_transaction();
    assert_eq!(txn.get("k").unwrap(), None);
}

#[test]
fn a_merge_on_an_expired_base_merges_onto_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(dir.path(), &clock, tiny_options());
    db.put_with_ttl("m", "base", ms(100)).unwrap();
    db.merge("m", "a").unwrap();
    db.flush().unwrap();
    db.merge("m", "b").unwrap();
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"base,a,b"[..]));
    // A compaction before the expiry must not fold the operands into a
    // value that outlives the base.
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"base,a,b"[..]));
    clock.advance_ms(100);
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"a,b"[..]));
    let scanned: Vec<(Bytes, Bytes)> = db.iter().map(Result::unwrap).collect();
    assert_eq!(scanned, vec![(Bytes::from("m"), Bytes::from("a,b"))]);
    assert_eq!(db.iter().rev().count(), 1);
    db.merge("m", "c").unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"a,b,c"[..]));
}

#[test]
fn ttl_values_survive_a_reopen_with_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(dir.path(), &clock, tiny_options());
    db.put_with_ttl("in-table", "t", ms(1_000)).unwrap();
    db.flush().unwrap();
    db.put_with_ttl("in-wal", "w", ms(2_000)).unwrap();
    db.close().unwrap();
    let db = open_at(dir.path(), &clock, tiny_options());
    assert_eq!(db.get("in-table").unwrap().as_deref(), Some(&b"t"[..]));
    assert_eq!(db.get("in-wal").unwrap().as_deref(), Some(&b"w"[..]));
    clock.advance_ms(1_000);
    assert_eq!(db.get("in-table").unwrap(), None);
    assert_eq!(db.get("in-wal").unwrap().as_deref(), Some(&b"w"[..]));
    db.close().unwrap();
    // Reopened later, the expiry is the one written, not one restarted
    // from the reopen.
    clock.advance_ms(1_000);
    let db = open_at(dir.path(), &clock, tiny_options());
    assert_eq!(db.get("in-wal").unwrap(), None);
    assert_eq!(db.iter().count(), 0);
}

/// Writes a put, then one batch of an expiring put, a put and a delete of
/// the first put; closes the database (the WAL holds both records).
fn write_a_batch_with_a_ttl(dir: &Path, clock: &Arc<ManualClock>) {
    let db = open_at(dir, clock, DBOptions::default());
    db.put("before", "b").unwrap();
    let mut batch = Batch::new();
    batch
        .put_with_ttl("ttl", "t", ms(500))
        .put("plain", "p")
        .delete("before");
    db.write(batch, Default::default()).unwrap();
    db.close().unwrap();
}

#[test]
fn put_with_ttl_in_a_batch_is_all_or_nothing_through_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    write_a_batch_with_a_ttl(dir.path(), &clock);
    let db = open_at(dir.path(), &clock, DBOptions::default());
    assert_eq!(db.get("ttl").unwrap().as_deref(), Some(&b"t"[..]));
    assert_eq!(db.get("plain").unwrap().as_deref(), Some(&b"p"[..]));
    assert_eq!(db.get("before").unwrap(), None);
    clock.advance_ms(500);
    assert_eq!(db.get("ttl").unwrap(), None);
    assert_eq!(db.get("plain").unwrap().as_deref(), Some(&b"p"[..]));
    db.close().unwrap();

    // The same batch torn at the end of the log: none of it comes back.
    let dir = tempfile::tempdir().unwrap();
    write_a_batch_with_a_ttl(dir.path(), &clock);
    let wal = newest_wal(dir.path());
    let len = std::fs::metadata(&wal).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(len - 3).unwrap();
    drop(file);
    let db = open_at(dir.path(), &clock, DBOptions::default());
    assert_eq!(db.get("before").unwrap().as_deref(), Some(&b"b"[..]));
    assert_eq!(db.get("ttl").unwrap(), None);
    assert_eq!(db.get("plain").unwrap(), None);
}

fn newest_wal(dir: &Path) -> std::path::PathBuf {
    let mut wals: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .filter(|path| std::fs::metadata(path).unwrap().len() > 0)
        .collect();
    wals.sort();
    wals.pop().unwrap()
}

#[test]
fn a_default_ttl_makes_plain_puts_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(
        dir.path(),
        &clock,
        tiny_options().default_ttl(Some(ms(100))),
    );
    db.put("a", "1").unwrap();
    let mut batch = Batch::new();
    batch.put("b", "2");
    db.write(batch, Default::default()).unwrap();
    let mut txn = db.begin_transaction();
    txn.put("c", "3");
    txn.commit().unwrap();
    db.put_with_ttl("d", "4", ms(1_000)).unwrap();
    assert_eq!(db.iter().count(), 4);
    clock.advance_ms(100);
    assert_eq!(
        db.multi_get(&["a", "b", "c", "d"]).unwrap()[..3],
        [None, None, None]
    );
    assert_eq!(db.get("d").unwrap().as_deref(), Some(&b"4"[..]));
}

/// A keyspace's own default time to live applies to its plain puts however
/// they are written (its handle, a batch through the database, a
/// transaction), in place of the database's; `put_with_ttl` and
/// `Batch::put_with_ttl_in` set one put's.
#[test]
fn a_keyspace_default_ttl_applies_to_its_puts_through_every_path_in_place_of_the_databases() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(
        dir.path(),
        &clock,
        tiny_options().default_ttl(Some(ms(100))),
    );
    let keyspace = |name: &str, ttl: Option<Option<Duration>>| {
        let options = seer_db::KeyspaceOptions::default();
        let options = match ttl {
            Some(ttl) => options.default_ttl(ttl),
            None => options,
        };
        db.keyspace_with(name, options).unwrap()
    };
    let forever = keyspace("forever", Some(None));
    let short = keyspace("short", Some(Some(ms(10))));
    let inherits = keyspace("inherits", None);
    forever.put("a", "1").unwrap();
    short.put("a", "1").unwrap();
    inherits.put("a", "1").unwrap();
    short.put_with_ttl("long", "1", ms(1_000)).unwrap();
    let mut batch = Batch::new();
    batch
        .put_in(&forever, "b", "2")
        .put_in(&short, "b", "2")
        .put_with_ttl_in(&forever, "c", "3", ms(50))
        .put("d", "4");
    db.write(batch, Default::default()).unwrap();
    let mut txn = db.begin_transaction();
    txn.put_in(&short, "t", "5");
    txn.put_in(&forever, "t", "5");
    txn.commit().unwrap();
    let live = |keyspace: &seer_db::Keyspace| -> Vec<Bytes> {
        keyspace.iter().map(|entry| entry.unwrap().0).collect()
    };
    assert_eq!(live(&short), ["a", "b", "long", "t"].map(Bytes::from));

    clock.advance_ms(10);
    assert_eq!(live(&short), [Bytes::from("long")], "its own 10 ms");
    assert_eq!(live(&forever), ["a", "b", "c", "t"].map(Bytes::from));
    clock.advance_ms(40);
    assert_eq!(
        live(&forever),
        ["a", "b", "t"].map(Bytes::from),
        "c's 50 ms"
    );
    assert_eq!(live(&inherits), [Bytes::from("a")]);
    clock.advance_ms(50);
    assert!(live(&inherits).is_empty(), "the database's 100 ms");
    assert_eq!(db.get("d").unwrap(), None);
    assert_eq!(live(&forever), ["a", "b", "t"].map(Bytes::from), "never");
    assert_eq!(live(&short), [Bytes::from("long")]);
}

/// Expired data in a run of the largest level that no compaction would
/// otherwise touch (a full `compact_range` skips a level already in one
/// run) is rewritten once the tree is otherwise idle: each table records
/// its earliest expiry and the picker schedules it once the clock passes
/// it, so the expired entries' space comes back without any manual call.
#[test]
fn expired_data_in_the_largest_level_is_compacted_away_once_the_tree_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let db = open_at(dir.path(), &clock, tiny_options());
    for i in 0..300 {
        db.put_with_ttl(format!("key{i:03}-a"), "expiring", ms(1_000))
            .unwrap();
        db.put(format!("key{i:03}-b"), "stays").unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(table_entries(dir.path()), 600);
    // Not expired yet: a wake-up of the compaction threads changes nothing.
    db.put("trigger", "1").unwrap();
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(table_entries(dir.path()), 601);
    let metrics = db.metrics();
    let largest_level_tables = metrics.levels.last().unwrap().tables;
    let compactions_before = metrics.compaction_count;
    clock.advance_ms(1_000);
    // Any flush wakes the compaction threads; nothing else asks for work.
    db.put("trigger", "2").unwrap();
    db.flush().unwrap();
    // Each of the largest level's tables holds expiring puts, so each is
    // rewritten once (waited for, within a bound; the count is the check).
    for _ in 0..2_000 {
        let done = db.metrics().compaction_count - compactions_before;
        if done >= largest_level_tables as u64 {
            break;
        }
        std::thread::sleep(ms(10));
    }
    assert_eq!(db.iter().count(), 301);
    assert_eq!(db.get("key007-b").unwrap().as_deref(), Some(&b"stays"[..]));
    assert_eq!(db.get("key007-a").unwrap(), None);
    // Closed, so no file is being replaced: the 300 plain entries and the
    // two versions of the trigger (one in the largest level, one in
    // level 0) are all that is left.
    db.close().unwrap();
    assert_eq!(
        table_entries(dir.path()),
        302,
        "the expired entries are still on disk"
    );
}
