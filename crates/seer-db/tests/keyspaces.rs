//! Named keyspaces: separate data in one database, one WAL shared by all,
//! each keyspace's tree in its own directory; recovery from the WAL and
//! from tables, the WAL kept until every keyspace flushed past it.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use seer_db::{DBOptions, KeyspaceOptions, StringAppendOperator, DB};

fn small() -> DBOptions {
    DBOptions::default().memtable_capacity(64 << 10)
}

fn scan(iter: seer_db::DbIterator) -> Vec<(String, String)> {
    iter.map(|entry| {
        let (key, value) = entry.unwrap();
        (
            String::from_utf8(key.to_vec()).unwrap(),
            String::from_utf8(value.to_vec()).unwrap(),
        )
    })
    .collect()
}

#[test]
fn keyspaces_hold_separate_data_that_survives_reopen_from_wal_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    let state = db.keyspace("state").unwrap();
    db.put("k", "default").unwrap();
    log.put("k", "log").unwrap();
    log.put("only-log", "1").unwrap();
    state.put("k", "state").unwrap();
    state.delete("k").unwrap();
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"default"[..]));
    assert_eq!(log.get("k").unwrap().as_deref(), Some(&b"log"[..]));
    assert_eq!(state.get("k").unwrap(), None);
    assert_eq!(db.get("only-log").unwrap(), None);
    assert_eq!(
        scan(log.iter()),
        vec![("k".into(), "log".into()), ("only-log".into(), "1".into())]
    );
    assert_eq!(scan(db.iter()), vec![("k".into(), "default".into())]);
    assert!(scan(state.iter()).is_empty());
    assert_eq!(
        db.keyspace_names(),
        vec!["log".to_owned(), "state".to_owned()]
    );
    let stats = db.stats();
    assert!(stats.contains("** keyspace log **") && stats.contains("** keyspace state **"));
    db.close().unwrap();
    drop((db, log, state));

    // A read-only open reads the default keyspace (its WAL ops among the
    // keyed ones) and the named ones, and creates none.
    let reader = DB::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.get("k").unwrap().as_deref(), Some(&b"default"[..]));
    assert_eq!(reader.get("only-log").unwrap(), None);
    let log_reader = reader.keyspace("log").unwrap();
    assert_eq!(log_reader.get("k").unwrap().as_deref(), Some(&b"log"[..]));
    assert!(matches!(
        reader.keyspace("absent"),
        Err(seer_db::Error::OpenedReadOnly)
    ));
    drop((reader, log_reader));

    // From the WAL.
    let db = small().open(dir.path()).unwrap();
    assert_eq!(
        db.keyspace_names(),
        vec!["log".to_owned(), "state".to_owned()]
    );
    let log = db.keyspace("log").unwrap();
    let state = db.keyspace("state").unwrap();
    assert_eq!(log.get("k").unwrap().as_deref(), Some(&b"log"[..]));
    assert_eq!(state.get("k").unwrap(), None);
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"default"[..]));
    // Into tables, with more after the flush.
    log.flush().unwrap();
    log.put("after", "flush").unwrap();
    db.flush().unwrap();
    drop((db, log, state));

    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    assert_eq!(
        scan(log.iter()),
        vec![
            ("after".into(), "flush".into()),
            ("k".into(), "log".into()),
            ("only-log".into(), "1".into())
        ]
    );
    assert_eq!(scan(db.iter()), vec![("k".into(), "default".into())]);
    // Each tree verifies on its own, the database's beside the keyspaces'
    // directory.
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// A keyspace written once holds its data in a WAL segment that the
/// default keyspace's flushes would otherwise delete: the segment stays
/// until the keyspace itself flushed past it, so a reopen still reads it.
#[test]
fn a_flush_of_one_keyspace_keeps_the_wal_segments_another_still_needs() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let rare = db.keyspace("rare").unwrap();
    rare.put("kept", "in the wal").unwrap();
    for round in 0..3 {
        for i in 0..200 {
            db.put(format!("key{round}-{i:04}"), "v".repeat(100))
                .unwrap();
        }
        db.flush().unwrap();
    }
    drop((db, rare));
    let db = small().open(dir.path()).unwrap();
    let rare = db.keyspace("rare").unwrap();
    assert_eq!(
        rare.get("kept").unwrap().as_deref(),
        Some(&b"in the wal"[..])
    );
}

/// Each keyspace has its own options: here a merge operator the default
/// keyspace lacks, kept across a reopen (and refused when changed).
#[test]
fn a_keyspace_has_its_own_merge_operator() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let with = || KeyspaceOptions::default().merge_operator(StringAppendOperator::new(","));
    let counters = db.keyspace_with("counters", with()).unwrap();
    counters.merge("k", "a").unwrap();
    counters.merge("k", "b").unwrap();
    assert!(
        db.merge("k", "x").is_err(),
        "the default keyspace has no operator"
    );
    assert_eq!(counters.get("k").unwrap().as_deref(), Some(&b"a,b"[..]));
    counters.flush().unwrap();
    counters.merge("k", "c").unwrap();
    drop((db, counters));
    let db = DB::open_with(dir.path(), small()).unwrap();
    let counters = db.keyspace_with("counters", with()).unwrap();
    assert_eq!(counters.get("k").unwrap().as_deref(), Some(&b"a,b,c"[..]));
}

/// A batch spans keyspaces (one atomic write, one sequence range), and a
/// snapshot reads every keyspace at its one sequence number, whatever is
/// written, flushed or compacted after it.
#[test]
fn batches_and_snapshots_span_keyspaces() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    let state = db.keyspace("state").unwrap();
    let mut batch = db.batch();
    batch
        .put("applied", "1")
        .put_in(&log, "entry-1", "set x")
        .put_in(&state, "x", "1")
        .delete_in(&state, "gone");
    let first_seq = db.write(batch, seer_db::WriteOptions::default()).unwrap();
    assert_eq!(db.visible_seq(), first_seq + 3);
    let snapshot = db.snapshot();
    let mut batch = db.batch();
    batch
        .put_in(&log, "entry-2", "set x")
        .put_in(&state, "x", "2")
        .delete_range_in(&log, "entry-1".."entry-2");
    db.write(batch, seer_db::WriteOptions::default()).unwrap();
    state.flush().unwrap();
    state.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(state.get("x").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(log.get("entry-1").unwrap(), None);
    assert_eq!(
        snapshot.get_in(&state, "x").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        scan(snapshot.range_in(&log, ..)),
        vec![("entry-1".into(), "set x".into())]
    );
    assert_eq!(snapshot.get("applied").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(scan(log.iter()), vec![("entry-2".into(), "set x".into())]);
    drop(snapshot);
    drop((db, log, state));
    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    let state = db.keyspace("state").unwrap();
    assert_eq!(state.get("x").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(scan(log.iter()), vec![("entry-2".into(), "set x".into())]);
}

/// The first op of a batch may be the one in a named keyspace (the bug:
/// its keyspace was lost, so it was written to the default keyspace).
#[test]
fn a_batch_whose_first_op_is_in_a_named_keyspace_writes_it_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    let mut batch = db.batch();
    batch.put_in(&log, "first", "1").put("second", "2");
    db.write(batch, seer_db::WriteOptions::default()).unwrap();
    assert_eq!(log.get("first").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("first").unwrap(), None);
    assert_eq!(db.get("second").unwrap().as_deref(), Some(&b"2"[..]));
}

/// The bytes of the sealed WAL segments in `dir` (all but the newest,
/// whose file is preallocated ahead of its writes).
fn wal_bytes(dir: &std::path::Path) -> u64 {
    let mut segments: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".wal"))
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, entry.metadata().unwrap().len())
        })
        .collect();
    segments.sort();
    segments.pop();
    segments.iter().map(|(_, bytes)| bytes).sum()
}

/// A keyspace written once and never again would keep its WAL segment,
/// and every later one, forever; past `max_total_wal_bytes` it is flushed,
/// so the WAL shrinks back under the bound while the default keyspace
/// keeps writing.
#[test]
fn a_rarely_written_keyspace_does_not_pin_the_wal_past_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let bound_bytes = 256 << 10;
    let db = small()
        .sync_policy(seer_db::SyncPolicy::Never)
        .max_total_wal_bytes(Some(bound_bytes))
        .open(dir.path())
        .unwrap();
    let rare = db.keyspace("rare").unwrap();
    rare.put("once", "x").unwrap();
    for i in 0..4000 {
        db.put(format!("key{i:05}"), "v".repeat(100)).unwrap();
    }
    // Flushes run in the background: wait (without a deadline on a
    // loaded machine) until the WAL is back under its bound, which it
    // never is while `rare` pins its first segment.
    let mut attempts = 0;
    while wal_bytes(dir.path()) > bound_bytes + (64 << 10) {
        db.flush().unwrap();
        attempts += 1;
        assert!(
            attempts < 2000,
            "the WAL stays at {} bytes",
            wal_bytes(dir.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(rare.get("once").unwrap().as_deref(), Some(&b"x"[..]));
    drop((db, rare));
    let db = small().open(dir.path()).unwrap();
    assert_eq!(
        db.keyspace("rare").unwrap().get("once").unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

/// The files of keyspace directory `id` of database `dir`.
fn keyspace_files(dir: &std::path::Path, id: u32) -> usize {
    match std::fs::read_dir(dir.join("keyspaces").join(id.to_string())) {
        Ok(entries) => entries.count(),
        Err(_) => 0,
    }
}

/// A dropped keyspace is gone from the registry at once (and after a
/// reopen), an iterator made before keeps reading it, its files go only
/// when that iterator and the last handle go, and its name can be created
/// again, empty, under a new id.
#[test]
fn a_dropped_keyspace_keeps_its_files_until_its_last_reader_goes_and_its_name_comes_back_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let doomed = db.keyspace("doomed").unwrap();
    for i in 0..100 {
        doomed.put(format!("k{i:03}"), "v").unwrap();
    }
    doomed.flush().unwrap();
    doomed.put("unflushed", "w").unwrap();
    let mut reader = doomed.iter();
    db.drop_keyspace("doomed").unwrap();
    assert!(db.keyspace_names().is_empty());
    assert!(matches!(doomed.get("k000"), Err(seer_db::Error::Closed)));
    assert!(
        keyspace_files(dir.path(), 1) > 0,
        "a reader still holds them"
    );
    assert_eq!(reader.next().unwrap().unwrap().0.as_ref(), b"k000");
    assert_eq!(reader.count(), 100, "the rest, and the unflushed write");
    drop(doomed);
    assert_eq!(keyspace_files(dir.path(), 1), 0, "the last reader went");
    assert!(db.drop_keyspace("doomed").is_err(), "no such keyspace");

    let again = db.keyspace("doomed").unwrap();
    assert_eq!(again.get("k000").unwrap(), None);
    again.put("new", "1").unwrap();
    drop(again);
    drop(db);
    let db = small().open(dir.path()).unwrap();
    assert_eq!(db.keyspace_names(), vec!["doomed".to_owned()]);
    let again = db.keyspace("doomed").unwrap();
    assert_eq!(scan(again.iter()), vec![("new".into(), "1".into())]);
    assert_eq!(keyspace_files(dir.path(), 1), 0);
}

/// Copies the checked-in database written before keyspaces existed (a
/// table, a WAL segment with a batch and a merge, edit format version 1)
/// into a fresh directory. It was written by the code of commit 2ca9747
/// (before the keyspace formats of 36e0bcc): with a `StringAppendOperator`
/// (","), puts of `table00`..`table49` = `v0`..`v49`, deletes of `table07`
/// and `table08`, a flush, a batch putting `wal-1` = `a` and `wal-2` = `b`,
/// a merge of `c` into `wal-1`, and a close.
fn pre_keyspace_fixture() -> tempfile::TempDir {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/pre_keyspaces");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// The first byte of the first edit of the live manifest: its format
/// version (after the 24-byte log header and the 12-byte frame header).
fn manifest_format_version(dir: &std::path::Path) -> u8 {
    let current = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    let name = current.lines().next().unwrap();
    std::fs::read(dir.join(name)).unwrap()[36]
}

/// A database written before keyspaces reads unchanged, is rewritten in
/// the old formats while it makes no keyspace (so older code still reads
/// it), and takes a keyspace beside its data.
#[test]
fn a_database_written_before_keyspaces_reads_unchanged_and_takes_keyspaces() {
    let dir = pre_keyspace_fixture();
    let open = || {
        small()
            .merge_operator(StringAppendOperator::new(","))
            .open(dir.path())
            .unwrap()
    };
    let check = |db: &DB| {
        assert_eq!(db.get("table00").unwrap().as_deref(), Some(&b"v0"[..]));
        assert_eq!(db.get("table07").unwrap(), None);
        assert_eq!(db.get("table08").unwrap(), None);
        assert_eq!(db.get("table49").unwrap().as_deref(), Some(&b"v49"[..]));
        assert_eq!(db.get("wal-1").unwrap().as_deref(), Some(&b"a,c"[..]));
        assert_eq!(db.iter().count(), 50);
    };
    assert_eq!(manifest_format_version(dir.path()), 1);
    let db = open();
    check(&db);
    assert!(db.keyspace_names().is_empty());
    db.close().unwrap();
    drop(db);
    assert_eq!(
        manifest_format_version(dir.path()),
        1,
        "no keyspace, old format"
    );
    assert!(!dir.path().join("keyspaces").exists());

    let db = open();
    db.keyspace("new").unwrap().put("k", "v").unwrap();
    db.close().unwrap();
    drop(db);
    let db = open();
    // The open's fresh manifest starts with a snapshot holding the registry.
    assert_eq!(
        manifest_format_version(dir.path()),
        2,
        "the registry needs the new one"
    );
    check(&db);
    assert_eq!(
        db.keyspace("new").unwrap().get("k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

/// A transaction spans keyspaces: it reads each at its start, commits its
/// writes to all of them atomically, and conflicts when a key it read in a
/// named keyspace was written there after it began (writing nothing).
#[test]
fn a_transaction_spans_keyspaces_and_conflicts_per_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let log = db.keyspace("log").unwrap();
    let state = db.keyspace("state").unwrap();
    state.put("x", "1").unwrap();

    let mut txn = db.begin_transaction();
    assert_eq!(txn.get_in(&state, "x").unwrap().as_deref(), Some(&b"1"[..]));
    state.put("x", "2").unwrap();
    assert_eq!(
        txn.get_in(&state, "x").unwrap().as_deref(),
        Some(&b"1"[..]),
        "its start"
    );
    txn.put_in(&log, "entry", "x=1+1");
    txn.put("applied", "1");
    assert!(matches!(
        txn.commit(),
        Err(seer_db::Error::TransactionConflict { .. })
    ));
    assert_eq!(log.get("entry").unwrap(), None, "nothing written");
    assert_eq!(db.get("applied").unwrap(), None);

    let mut txn = db.begin_transaction();
    let x = txn.get_in(&state, "x").unwrap().unwrap();
    txn.put_in(&log, "entry", [&b"x="[..], &x].concat());
    txn.put_in(&state, "x", "3");
    txn.delete_in(&state, "absent");
    txn.put("applied", "2");
    assert_eq!(
        txn.get_in(&state, "x").unwrap().as_deref(),
        Some(&b"3"[..]),
        "its own write"
    );
    // A write in another keyspace, or to a key it did not touch, is no conflict.
    log.put("other", "o").unwrap();
    txn.commit().unwrap();
    assert_eq!(log.get("entry").unwrap().as_deref(), Some(&b"x=2"[..]));
    assert_eq!(state.get("x").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.get("applied").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn db_flush_and_verify_cover_every_open_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path().join("db")).unwrap();
    db.put(b"d", b"default").unwrap();
    let queue = db.keyspace("queue").unwrap();
    queue.put(b"q", b"named").unwrap();
    db.flush().unwrap();
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.bad_files);
    let named_tables = named_tables(&report);
    assert_eq!(
        named_tables.len(),
        1,
        "db.flush() wrote the keyspace's table"
    );
    // A damaged table of the named keyspace is reported by db.verify().
    let damaged = &named_tables[0];
    let mut bytes = std::fs::read(damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(damaged, &bytes).unwrap();
    let report = db.verify().unwrap();
    assert!(
        report.bad_files.iter().any(|(path, _)| path == damaged),
        "{:?}",
        report.bad_files
    );
}

/// The tables of named keyspaces that `report` checked.
fn named_tables(report: &seer_db::VerifyReport) -> Vec<std::path::PathBuf> {
    report
        .checked_files
        .iter()
        .map(|(path, _)| path.clone())
        .filter(|path| {
            path.components().any(|c| c.as_os_str() == "keyspaces")
                && path.extension().is_some_and(|e| e == "sst")
        })
        .collect()
}

/// `DB::metrics` sums every keyspace's figures (trees, memtables, bytes,
/// flushes, operations), and a keyspace's own figures count the writes
/// batches made to it.
#[test]
fn db_metrics_sum_every_keyspace_and_a_keyspace_counts_its_batch_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let direct = db.keyspace("direct").unwrap();
    let batched = db.keyspace("batched").unwrap();
    for i in 0..10 {
        db.put(format!("d{i}"), "0123456789").unwrap();
        direct.put(format!("k{i}"), "0123456789").unwrap();
    }
    let mut batch = db.batch();
    for i in 0..10 {
        batch.put_in(&batched, format!("b{i}"), "0123456789");
    }
    batch.put("d-batch", "x");
    db.write(batch, Default::default()).unwrap();
    let payload_bytes = 10 * (2 + 10) as u64;

    let before_flush = db.metrics();
    assert_eq!(direct.metrics().user_bytes_written, payload_bytes);
    assert_eq!(
        batched.metrics().user_bytes_written,
        payload_bytes,
        "a batch's ops count in their keyspace"
    );
    assert_eq!(
        before_flush.user_bytes_written,
        3 * payload_bytes + "d-batch".len() as u64 + 1
    );
    assert!(batched.metrics().wal_bytes_written > 0);
    assert!(
        before_flush.wal_bytes_written
            > direct.metrics().wal_bytes_written + batched.metrics().wal_bytes_written
    );
    let puts = |m: &seer_db::MetricsSnapshot| {
        m.ops
            .iter()
            .find(|op| op.op == "put")
            .map_or(0, |op| op.count)
    };
    assert_eq!(puts(&before_flush), 20, "the default's and direct's puts");
    assert_eq!(puts(&direct.metrics()), 10);
    assert!(
        before_flush.memtable_bytes
            >= direct.metrics().memtable_bytes + batched.metrics().memtable_bytes
    );

    db.flush().unwrap();
    let all = db.metrics();
    assert_eq!(all.flush_count, 3, "one flush per keyspace");
    assert_eq!(direct.metrics().flush_count, 1);
    let l0_tables = |m: &seer_db::MetricsSnapshot| m.levels.first().map_or(0, |l| l.tables);
    assert_eq!(l0_tables(&all), 3, "every keyspace's level 0");
    assert_eq!(l0_tables(&direct.metrics()), 1);
    assert_eq!(
        all.flush_bytes_written,
        db.metrics().flush_bytes_written,
        "stable"
    );
    assert!(all.flush_bytes_written > direct.metrics().flush_bytes_written);
}

/// A keyspace recovered from the manifest but not opened in this handle is
/// still in `DB::verify`, `DB::metrics` and `DB::stats`, and `DB::flush`
/// leaves nothing of it unflushed (recovery wrote its WAL ops to its level
/// 0).
#[test]
fn db_verify_metrics_and_flush_cover_keyspaces_recovered_but_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let queue = db.keyspace("queue").unwrap();
    queue.put("in-table", "1").unwrap();
    queue.flush().unwrap();
    queue.put("in-wal", "2").unwrap();
    db.close().unwrap();
    drop((db, queue));

    let db = small().open(dir.path()).unwrap();
    db.flush().unwrap();
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.bad_files);
    let tables = named_tables(&report);
    assert_eq!(tables.len(), 2, "the flushed table and the replayed one");
    assert_eq!(db.metrics().levels[0].tables, 2);
    assert!(db.stats().contains("** keyspace queue (not opened) **"));
    // A damaged table of the unopened keyspace is reported.
    let mut bytes = std::fs::read(&tables[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&tables[0], &bytes).unwrap();
    let report = db.verify().unwrap();
    assert!(
        report.bad_files.iter().any(|(path, _)| *path == tables[0]),
        "{:?}",
        report.bad_files
    );
    std::fs::write(&tables[0], {
        bytes[middle] ^= 0xff;
        &bytes
    })
    .unwrap();
    db.close().unwrap();
    drop(db);
    // Nothing was left in the WAL alone: with the WAL gone, both reads stay.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wal") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let db = small().open(dir.path()).unwrap();
    let queue = db.keyspace("queue").unwrap();
    assert_eq!(queue.get("in-table").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(queue.get("in-wal").unwrap().as_deref(), Some(&b"2"[..]));
}

/// Many keyspaces each written to well under its own memtable capacity
/// keep the total of their memtables under `max_total_memtable_bytes`:
/// the largest active memtable is flushed early, and writes stop at the
/// bound until flushes bring the total back.
#[test]
fn many_keyspaces_each_under_its_memtable_capacity_keep_their_total_under_the_db_bound() {
    let dir = tempfile::tempdir().unwrap();
    let bound_bytes: u64 = 256 << 10;
    let db = small()
        .sync_policy(seer_db::SyncPolicy::Never)
        .max_total_memtable_bytes(Some(bound_bytes))
        .open(dir.path())
        .unwrap();
    let keyspaces: Vec<_> = (0..16)
        .map(|i| db.keyspace(&format!("ks{i:02}")).unwrap())
        .collect();
    let value = vec![b'v'; 200];
    let mut largest_total_bytes = 0;
    // 40 KiB into each keyspace (640 KiB in all): each stays under its own
    // 64 KiB capacity.
    for round in 0..200 {
        for keyspace in &keyspaces {
            keyspace.put(format!("key{round:04}"), &value).unwrap();
        }
        largest_total_bytes = largest_total_bytes.max(db.metrics().memtable_bytes);
    }
    // One write past the bound at most (its key, value and entry overhead).
    assert!(
        largest_total_bytes <= bound_bytes + 1024,
        "{largest_total_bytes} bytes in memtables, bound {bound_bytes}"
    );
    assert!(db.metrics().flush_count > 0);
    for keyspace in &keyspaces {
        assert_eq!(keyspace.iter().count(), 200);
        assert_eq!(
            keyspace.get("key0000").unwrap().as_deref(),
            Some(&value[..])
        );
    }
}

/// A transaction merges into a named keyspace with that keyspace's
/// operator, iterates it (as of its start, overlaid with its own writes
/// there) and conflicts when a key its iterator yielded is written after it
/// began.
#[test]
fn a_transaction_merges_into_and_iterates_a_named_keyspace_and_conflicts_on_keys_it_iterated() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    let tags = db
        .keyspace_with(
            "tags",
            KeyspaceOptions::default().merge_operator(StringAppendOperator::new(",")),
        )
        .unwrap();
    tags.put("a", "1").unwrap();
    tags.put("b", "2").unwrap();
    tags.put("c", "3").unwrap();
    db.put("a", "default").unwrap();

    let mut txn = db.begin_transaction();
    txn.merge_in(&tags, "a", "x");
    txn.merge_in(&tags, "new", "y");
    txn.delete_in(&tags, "c");
    assert_eq!(
        txn.get_in(&tags, "a").unwrap().as_deref(),
        Some(&b"1,x"[..])
    );
    let seen: Vec<(Bytes, Bytes)> = txn.iter_in(&tags).map(Result::unwrap).collect();
    assert_eq!(
        seen,
        vec![
            (Bytes::from("a"), Bytes::from("1,x")),
            (Bytes::from("b"), Bytes::from("2")),
            (Bytes::from("new"), Bytes::from("y")),
        ]
    );
    let backwards: Vec<Bytes> = txn
        .range_in(&tags, "b".."z")
        .rev()
        .map(|entry| entry.unwrap().0)
        .collect();
    assert_eq!(backwards, vec![Bytes::from("new"), Bytes::from("b")]);
    assert_eq!(txn.prefix_in(&tags, "a").count(), 1);
    txn.commit().unwrap();
    assert_eq!(tags.get("a").unwrap().as_deref(), Some(&b"1,x"[..]));
    assert_eq!(tags.get("new").unwrap().as_deref(), Some(&b"y"[..]));
    assert_eq!(tags.get("c").unwrap(), None);
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"default"[..]));

    // A key the iterator yielded, written after the start: a conflict.
    let mut txn = db.begin_transaction();
    let count = txn.range_in(&tags, "b".."c").count();
    assert_eq!(count, 1);
    tags.put("b", "changed").unwrap();
    txn.put_in(&tags, "summary", count.to_string());
    assert!(matches!(
        txn.commit(),
        Err(seer_db::Error::TransactionConflict { .. })
    ));
    assert_eq!(tags.get("summary").unwrap(), None, "nothing written");

    // The same key in the default keyspace is another key.
    let mut txn = db.begin_transaction();
    assert_eq!(txn.iter_in(&tags).count(), 3);
    db.put("b", "default").unwrap();
    txn.merge_in(&tags, "a", "z");
    txn.commit().unwrap();
    assert_eq!(tags.get("a").unwrap().as_deref(), Some(&b"1,x,z"[..]));
}
/// Two keyspaces whose memtables fill at once switch them at once; each
/// switch rolls the one WAL to the spare segment, so they must take turns
/// (before they shared a switch lock, the second roll was refused and the
/// database turned read-only).
#[test]
fn memtable_switches_of_two_keyspaces_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let db = small()
        .memtable_capacity(16 << 10)
        .open(dir.path())
        .unwrap();
    let keyspaces = [db.keyspace("a").unwrap(), db.keyspace("b").unwrap()];
    std::thread::scope(|scope| {
        for keyspace in &keyspaces {
            scope.spawn(move || {
                for i in 0..3000 {
                    keyspace.put(format!("k{i:05}"), [b'v'; 100]).unwrap();
                }
            });
        }
    });
    for keyspace in &keyspaces {
        assert_eq!(scan(keyspace.iter()).len(), 3000);
    }
}
