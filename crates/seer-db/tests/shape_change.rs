//! The tree's shape changing between reopens (issue 11, defects 1, 8, 13):
//! a larger `base_level_size` moves the base level down and leaves data
//! above it; later writes, deletes and compactions must still read as
//! written. The adaptive policy resumes the policy the manifest recorded,
//! and `compact_range` of a few keys rewrites only the tables holding them.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_db::{CompactionPolicy, DBOptions, PolicyParams, DB};

const KEYS: u32 = 1500;
const TARGET_FILE_BYTES: u64 = 8 << 10;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32, round: u32) -> Vec<u8> {
    format!("value-{i}-round-{round}-{}", "x".repeat(60)).into_bytes()
}

fn small_tree(base_level_size_bytes: u64, policy: CompactionPolicy) -> DBOptions {
    DBOptions::default()
        .memtable_capacity(16 << 10)
        .target_file_size(TARGET_FILE_BYTES)
        .base_level_size(base_level_size_bytes)
        .l0_compaction_trigger(2)
        .background_threads(2)
        .compaction_policy(policy)
}

/// The levels holding data, top first.
fn non_empty_levels(db: &DB) -> Vec<usize> {
    db.metrics()
        .levels
        .iter()
        .filter(|level| level.size_bytes > 0)
        .map(|level| level.level)
        .collect()
}

/// Every key reads as `expected` says: `Some(round)` of its last put, or
/// `None` once deleted.
fn check(db: &DB, expected: &[Option<u32>]) {
    for (i, round) in expected.iter().enumerate() {
        let i = i as u32;
        let got = db.get(key(i)).unwrap();
        assert_eq!(
            got.as_deref(),
            round.map(|round| value(i, round)).as_deref(),
            "key {i}"
        );
    }
}

fn write_round(db: &DB, expected: &mut [Option<u32>], round: u32, delete_every: u32) {
    for i in 0..KEYS {
        if (i + round).is_multiple_of(delete_every) {
            db.delete(key(i)).unwrap();
            expected[i as usize] = None;
        } else if (i + round).is_multiple_of(3) {
            db.put(key(i), value(i, round)).unwrap();
            expected[i as usize] = Some(round);
        }
    }
    db.flush().unwrap();
}

fn open(path: &Path, options: DBOptions) -> DB {
    options.open(path).unwrap()
}

#[test]
fn level0_never_compacts_below_data_left_above_the_base_level() {
    let dir = tempfile::tempdir().unwrap();
    let leveling = CompactionPolicy::Fixed(PolicyParams::leveling(3).unwrap());
    let mut expected = vec![None; KEYS as usize];
    {
        let db = open(dir.path(), small_tree(16 << 10, leveling));
        for i in 0..KEYS {
            db.put(key(i), value(i, 0)).unwrap();
            expected[i as usize] = Some(0);
        }
        db.flush().unwrap();
        for round in 1..4 {
            write_round(&db, &mut expected, round, 7);
        }
        db.compact_range::<&[u8]>(..).unwrap();
        for round in 4..6 {
            write_round(&db, &mut expected, round, 5);
        }
        check(&db, &expected);
        assert!(
            non_empty_levels(&db).len() >= 2,
            "the tree spans levels: {:?}",
            non_empty_levels(&db)
        );
        db.close().unwrap();
    }
    // A base level 64 times larger (and a larger T) puts the base at the
    // largest level: every level above it that holds data is above the base.
    for (round, options) in [
        (6, small_tree(1 << 20, leveling)),
        (
            9,
            small_tree(
                1 << 20,
                CompactionPolicy::Fixed(PolicyParams::leveling(8).unwrap()),
            ),
        ),
    ] {
        let db = open(dir.path(), options);
        check(&db, &expected);
        for round in round..round + 3 {
            write_round(&db, &mut expected, round, 4);
            db.compact_range(key(0)..key(KEYS / 2)).unwrap();
            check(&db, &expected);
        }
        db.compact_range::<&[u8]>(..).unwrap();
        check(&db, &expected);
        db.close().unwrap();
        let db = open(dir.path(), small_tree(16 << 10, leveling));
        check(&db, &expected);
        db.close().unwrap();
    }
}

/// Issue 11, defect 1, the manual path: level 0 holds tombstones for keys
/// whose older values lie in levels the reopen left above the base level.
/// `compact_range` right after the reopen must not compact level 0 into the
/// base level (below those values) and drop the tombstones.
#[test]
fn compact_range_after_the_base_level_moved_down_keeps_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let leveling = CompactionPolicy::Fixed(PolicyParams::leveling(3).unwrap());
    let mut expected = vec![None; KEYS as usize];
    {
        let db = open(dir.path(), small_tree(16 << 10, leveling));
        for round in 0..3 {
            write_round(&db, &mut expected, round, 1000);
        }
        db.compact_range::<&[u8]>(..).unwrap();
        // Newer values of every key: they settle above the largest level.
        for i in 0..KEYS {
            db.put(key(i), value(i, 3)).unwrap();
            expected[i as usize] = Some(3);
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    {
        // Tombstones, left in level 0 (one run, under the trigger).
        let db = open(
            dir.path(),
            small_tree(16 << 10, leveling).memtable_capacity(4 << 20),
        );
        for i in (0..KEYS).filter(|i| i % 4 == 1) {
            db.delete(key(i)).unwrap();
            expected[i as usize] = None;
        }
        db.close().unwrap();
    }
    let options = small_tree(1 << 20, leveling).background_threads(1);
    let db = open(dir.path(), options);
    db.compact_range::<&[u8]>(..).unwrap();
    check(&db, &expected);
    db.compact_range::<&[u8]>(..).unwrap();
    check(&db, &expected);
    db.close().unwrap();
    let db = open(dir.path(), small_tree(16 << 10, leveling));
    check(&db, &expected);
    db.close().unwrap();
}

/// Issue 11, defect 8: with the adaptive policy, a reopen resumes the
/// policy recorded in the manifest instead of restarting from the default.
#[test]
fn the_adaptive_policy_resumes_the_recorded_policy_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = PolicyParams::new(6, 2, 1).unwrap();
    let mut expected = vec![None; KEYS as usize];
    {
        let db = open(
            dir.path(),
            small_tree(16 << 10, CompactionPolicy::Fixed(recorded)),
        );
        for round in 0..3 {
            write_round(&db, &mut expected, round, 11);
        }
        db.compact_range::<&[u8]>(..).unwrap();
        db.close().unwrap();
    }
    let db = open(dir.path(), small_tree(16 << 10, CompactionPolicy::Adaptive));
    let metrics = db.metrics();
    assert_eq!(metrics.compaction_policy, recorded.to_string());
    assert!(
        metrics.compaction_policy_reason.contains("resumed"),
        "{}",
        metrics.compaction_policy_reason
    );
    check(&db, &expected);
    db.close().unwrap();
    // A fixed policy in the options still wins.
    let fixed = PolicyParams::tiering(4).unwrap();
    let db = open(
        dir.path(),
        small_tree(16 << 10, CompactionPolicy::Fixed(fixed)),
    );
    assert_eq!(db.metrics().compaction_policy, fixed.to_string());
    db.close().unwrap();
}

/// Issue 14: the adaptive policy keeps to shapes whose worst-case space
/// amplification is under `max_space_amplification`: resumed from a
/// recorded tiering policy (`Z = 3`, worst case 2.25) under the default
/// bound of 1.5, it moves to `Z = 1` at its first window.
#[test]
fn the_adaptive_policy_leaves_a_recorded_shape_over_the_space_bound() {
    let dir = tempfile::tempdir().unwrap();
    let tiering = PolicyParams::tiering(4).unwrap();
    let mut expected = vec![None; KEYS as usize];
    {
        let db = open(
            dir.path(),
            small_tree(16 << 10, CompactionPolicy::Fixed(tiering)),
        );
        write_round(&db, &mut expected, 0, 11);
        db.compact_range::<&[u8]>(..).unwrap();
        db.close().unwrap();
    }
    let db = open(dir.path(), small_tree(16 << 10, CompactionPolicy::Adaptive));
    assert_eq!(db.metrics().compaction_policy, tiering.to_string());
    // Compaction threads decide once a window holds 1000 operations.
    let mut round = 1;
    while !db.metrics().compaction_policy_reason.contains("SpaceBound") {
        assert!(round < 60, "{}", db.metrics().compaction_policy_reason);
        write_round(&db, &mut expected, round, 11);
        round += 1;
    }
    let metrics = db.metrics();
    assert!(
        metrics.compaction_policy.contains("Z=1"),
        "{}",
        metrics.compaction_policy
    );
    check(&db, &expected);
    db.close().unwrap();
}

/// Issue 11, defect 13: `compact_range` over a few keys rewrites the
/// tables of the largest level that hold them, not the whole run.
#[test]
fn compact_range_of_a_small_range_rewrites_only_the_overlapping_tables() {
    let dir = tempfile::tempdir().unwrap();
    let leveling = CompactionPolicy::Fixed(PolicyParams::leveling(4).unwrap());
    let db = open(dir.path(), small_tree(1 << 20, leveling));
    let mut expected = vec![None; KEYS as usize];
    write_round(&db, &mut expected, 0, 13);
    write_round(&db, &mut expected, 1, 17);
    db.compact_range::<&[u8]>(..).unwrap();
    let before = db.metrics();
    let tree_bytes: u64 = before.levels.iter().map(|level| level.size_bytes).sum();
    let largest = before.levels.last().unwrap();
    assert_eq!(largest.runs, 1);
    assert!(largest.tables > 10, "{} tables", largest.tables);
    for i in 100..110 {
        db.put(key(i), value(i, 2)).unwrap();
        expected[i as usize] = Some(2);
    }
    db.delete(key(105)).unwrap();
    expected[105] = None;
    db.flush().unwrap();
    db.compact_range(key(100)..key(110)).unwrap();
    let after = db.metrics();
    let written = after.compaction_bytes_written - before.compaction_bytes_written;
    // The level-0 table and the one or two 8 KiB tables of the largest
    // level holding those keys.
    assert!(
        written <= 2 * TARGET_FILE_BYTES,
        "{written} bytes rewritten for 10 keys of a {tree_bytes}-byte tree"
    );
    assert_eq!(after.levels.last().unwrap().runs, 1);
    check(&db, &expected);
    db.close().unwrap();
    let db = open(dir.path(), small_tree(1 << 20, leveling));
    check(&db, &expected);
    db.close().unwrap();
}

/// Issue 14: a `compact_range` of a few keys whose data sits in a level
/// above the largest moves only that level's table holding them, merged
/// with the largest level's tables meeting it; the other tables of both
/// levels stay (whole-level merges rewrote both levels).
#[test]
fn compact_range_of_a_small_range_leaves_the_other_tables_of_a_middle_level() {
    let dir = tempfile::tempdir().unwrap();
    let leveling = CompactionPolicy::Fixed(PolicyParams::leveling(4).unwrap());
    // 4 KiB tables; an 8 KiB base level puts it one level above the
    // largest for this tree (largest about 88 KB, the level above a quarter
    // of it, the one above that 5.5 KB).
    let options = small_tree(8 << 10, leveling)
        .target_file_size(4 << 10)
        .l0_compaction_trigger(1);
    let db = open(dir.path(), options.clone());
    let mut expected = vec![None; KEYS as usize];
    write_round(&db, &mut expected, 0, 13);
    write_round(&db, &mut expected, 1, 17);
    db.compact_range::<&[u8]>(..).unwrap();
    // Every 10th key again (about 14 KB): compacted into the level above
    // the largest, which stays under its capacity.
    for i in (0..KEYS).step_by(10) {
        db.put(key(i), value(i, 2)).unwrap();
        expected[i as usize] = Some(2);
    }
    db.flush().unwrap();
    let settled = |db: &DB| {
        let levels = db.metrics().levels;
        levels[0].runs == 0 && levels.iter().filter(|l| l.size_bytes > 0).count() == 2
    };
    for _ in 0..6000 {
        if settled(&db) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before = db.metrics();
    assert!(settled(&db), "{:?}", before.levels);
    let middle = before
        .levels
        .iter()
        .find(|l| l.size_bytes > 0)
        .unwrap()
        .clone();
    let largest = before.levels.last().unwrap().clone();
    assert!(
        middle.level < largest.level && middle.tables >= 3,
        "{middle:?}"
    );
    let tree_bytes = middle.size_bytes + largest.size_bytes;
    db.compact_range(key(100)..key(110)).unwrap();
    let after = db.metrics();
    let written = after.compaction_bytes_written - before.compaction_bytes_written;
    // One table of the middle level covers about 1/tables of the keys, so
    // about that share of the largest level is rewritten with it.
    let share_bytes =
        middle.size_bytes / middle.tables as u64 + 2 * largest.size_bytes / middle.tables as u64;
    assert!(
        written <= share_bytes,
        "{written} bytes rewritten (bound {share_bytes}) for 10 keys of a {tree_bytes}-byte tree: {:?}",
        before.levels
    );
    let middle_after = &after.levels[middle.level];
    assert_eq!(middle_after.tables, middle.tables - 1, "{:?}", after.levels);
    check(&db, &expected);
    db.close().unwrap();
    let db = open(dir.path(), options);
    check(&db, &expected);
    db.close().unwrap();
}
