//! WAL replay at open: a WAL larger than the memtable capacity is replayed
//! into memtables of that capacity, each written to level 0 when it fills,
//! and a crash in the middle of replay leaves a database that recovers the
//! same data again, every merge operand counted once.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_core::fault::{FaultFileSystem, PowerLossMode};
use seer_db::{DBOptions, SyncPolicy, U64AddOperator, WriteOptions, DB};

const KEYS_COUNT: u32 = 3000;
const VALUE_BYTES: usize = 200;
/// Replay writes about 1 MiB into memtables of this capacity.
const SMALL_MEMTABLE_BYTES: usize = 64 << 10;

fn options(fs: &FaultFileSystem, memtable_capacity_bytes: usize) -> DBOptions {
    DBOptions::default()
        .file_system(fs.shared())
        .sync_policy(SyncPolicy::Never)
        .merge_operator(U64AddOperator)
        .memtable_capacity(memtable_capacity_bytes)
        .max_memory_bytes(None)
        // Keep the level-0 runs replay writes where the test can count them.
        .l0_compaction_trigger(1000)
        .l0_slowdown_writes_trigger(1001)
        .l0_stop_writes_trigger(1002)
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn is_deleted(i: u32) -> bool {
    i % 7 == 3
}

/// Writes about 1 MiB into one large memtable (nothing is flushed): puts,
/// deletes of every seventh key, and a merge on `counter` after each put,
/// the last write synced; then the process crashes, so everything is in the
/// WAL alone, durable.
fn write_a_large_wal_then_crash(fs: &FaultFileSystem, path: &Path) {
    let db = options(fs, 16 << 20).open(path).unwrap();
    for i in 0..KEYS_COUNT {
        db.put(key(i), vec![(i % 251) as u8; VALUE_BYTES]).unwrap();
        db.merge("counter", 1u64.to_le_bytes()).unwrap();
        if is_deleted(i) {
            db.delete(key(i)).unwrap();
        }
    }
    let synced = WriteOptions {
        sync: true,
        ..WriteOptions::default()
    };
    db.put_opt("last", "synced", synced).unwrap();
    assert_eq!(db.metrics().flush_bytes_written, 0);
    fs.crash();
    drop(db);
}

fn check_contents(db: &DB) {
    for i in 0..KEYS_COUNT {
        let value = db.get(key(i)).unwrap();
        if is_deleted(i) {
            assert_eq!(value, None, "{}", key(i));
        } else {
            assert_eq!(
                value.as_deref(),
                Some(&vec![(i % 251) as u8; VALUE_BYTES][..]),
                "{}",
                key(i)
            );
        }
    }
    let counter = db.get("counter").unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(counter[..].try_into().unwrap()),
        u64::from(KEYS_COUNT),
        "every merge operand counted once"
    );
}

fn level0_runs(db: &DB) -> usize {
    db.metrics().levels[0].runs
}

fn table_files_count(fs: &FaultFileSystem) -> usize {
    fs.list_files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .count()
}

#[test]
fn replay_of_a_wal_larger_than_several_memtables_writes_several_level0_runs() {
    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    write_a_large_wal_then_crash(&fs, path);

    let db = options(&fs, SMALL_MEMTABLE_BYTES).open(path).unwrap();
    let runs = level0_runs(&db);
    assert!(runs >= 8, "replay wrote {runs} level-0 runs");
    check_contents(&db);
    db.close().unwrap();
    drop(db);

    // The replayed segments are gone: a second open replays nothing.
    let db = options(&fs, SMALL_MEMTABLE_BYTES).open(path).unwrap();
    assert_eq!(level0_runs(&db), runs);
    check_contents(&db);
}

#[test]
fn crash_after_a_flush_in_the_middle_of_replay_recovers_every_record_once() {
    let power_losses = [
        None,
        Some(PowerLossMode::DropUnsynced),
        Some(PowerLossMode::KeepRandomPrefix { seed: 11 }),
    ];
    for power_loss in power_losses {
        let fs = FaultFileSystem::new();
        let path = Path::new("/db");
        write_a_large_wal_then_crash(&fs, path);
        let tables_before = table_files_count(&fs);

        // The disk fills up after a few replayed memtables are written.
        fs.set_capacity_bytes(Some(fs.used_bytes() + 4 * SMALL_MEMTABLE_BYTES as u64));
        assert!(options(&fs, SMALL_MEMTABLE_BYTES).open(path).is_err());
        assert!(
            table_files_count(&fs) > tables_before,
            "replay wrote level-0 tables before it failed"
        );
        match power_loss {
            None => fs.crash(),
            Some(mode) => {
                fs.power_loss(mode);
            }
        }
        fs.set_capacity_bytes(None);

        let db = options(&fs, SMALL_MEMTABLE_BYTES).open(path).unwrap();
        check_contents(&db);
        db.close().unwrap();
        drop(db);
        let db = options(&fs, SMALL_MEMTABLE_BYTES).open(path).unwrap();
        check_contents(&db);
    }
}

/// What a power loss between a roll and its background sync of the old
/// segment can leave: the next segment (here made by hand, starting with
/// its predecessor record as a roll writes it) kept, the old segment's
/// last records lost. The open recovers the prefix before the hole and
/// none of the later segment's records; the segment past the hole is gone
/// for good, so writes after the open survive the next open and the lost
/// records never come back.
#[test]
fn a_lost_tail_before_a_roll_recovers_a_prefix_and_the_next_open_loses_nothing() {
    use seer_core::FileSystem;
    use seer_log::{LogHeader, LogKind, LogWriter};
    use seer_wal::{PredecessorRecord, WriteOp, WriteRecord};

    let fs = FaultFileSystem::new();
    let path = Path::new("/db");
    let db = options(&fs, 16 << 20).open(path).unwrap();
    for i in 0..10 {
        db.put(key(i), "old").unwrap();
    }
    let last_seq = db.visible_seq();
    fs.crash();
    drop(db);
    let wal = |number: u64| path.join(format!("{number:020}.wal"));
    let old = (1..1000)
        .find(|&number| fs.exists(&wal(number)).unwrap())
        .unwrap();
    // Ten puts of one size after the 24-byte header (the file reads longer,
    // with the zeros of its reservation).
    let put = |i: u32, value: &'static str| {
        WriteRecord::Single(WriteOp::Put {
            key: key(i).into_bytes().into(),
            value: value.into(),
        })
    };
    let record_bytes = 12 + put(0, "old").encoded_len();
    let old_len_bytes = 24 + 10 * record_bytes;
    let next = old + 100;
    let mut writer = LogWriter::create(
        &fs,
        &wal(next),
        LogHeader {
            kind: LogKind::Wal,
            file_number: next,
        },
    )
    .unwrap();
    let mut payload = Vec::new();
    PredecessorRecord {
        segment: old,
        length_bytes: old_len_bytes as u64,
        last_seq,
    }
    .encode(&mut payload);
    writer.add_frame(&payload).unwrap();
    for i in 10..20 {
        payload.clear();
        put(i, "lost").encode(last_seq + 1 + u64::from(i - 10), &mut payload);
        writer.add_frame(&payload).unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    // The old segment's last two records never reached the disk.
    fs.truncate(&wal(old), (old_len_bytes - 2 * record_bytes) as u64)
        .unwrap();

    let db = options(&fs, 16 << 20).open(path).unwrap();
    let present = |db: &DB, range: std::ops::Range<u32>| {
        range
            .filter(|&i| db.get(key(i)).unwrap().is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(present(&db, 0..20), (0..8).collect::<Vec<_>>());
    assert!(
        !fs.exists(&wal(next)).unwrap(),
        "the segment past the hole is gone"
    );
    let synced = WriteOptions {
        sync: true,
        ..WriteOptions::default()
    };
    for i in 20..30 {
        db.put_opt(key(i), "new", synced).unwrap();
    }
    fs.power_loss(PowerLossMode::DropUnsynced);
    drop(db);
    let db = options(&fs, 16 << 20).open(path).unwrap();
    assert_eq!(
        present(&db, 0..30),
        (0..8).chain(20..30).collect::<Vec<_>>()
    );
    db.close().unwrap();
}
