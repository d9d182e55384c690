//! Power loss with batches across keyspaces, on `FaultFileSystem`: each
//! batch writes the same counter to two named keyspaces and the default
//! one, with flushes of single keyspaces (which roll the shared WAL and
//! move one keyspace's log number but not the others') in between, and
//! some writes synced. After the cut and a reopen, the three keyspaces
//! hold exactly the state after one prefix of the batches (no batch half
//! applied, in any keyspace), and the prefix covers every synced batch.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use seer_core::fault::{FaultFileSystem, PowerLossMode};
use seer_db::{DBOptions, Keyspace, SyncPolicy, WriteOptions, DB};

const KEYS: u64 = 7;

fn options(fs: &FaultFileSystem) -> DBOptions {
    DBOptions::default()
        .file_system(fs.shared())
        .sync_policy(SyncPolicy::Never)
        .memtable_capacity(16 << 10)
        .max_memory_bytes(None)
}

fn value_of(db_value: Option<bytes::Bytes>) -> Option<u64> {
    db_value.map(|v| std::str::from_utf8(&v).unwrap().parse().unwrap())
}

/// The batches applied, as read back: `None` when the keyspaces disagree
/// with every prefix.
fn applied_prefix(db: &DB, a: &Keyspace, b: &Keyspace) -> u64 {
    let applied = value_of(db.get("applied").unwrap()).map_or(0, |last| last + 1);
    for key in 0..KEYS {
        // The last batch below `applied` that wrote `key`.
        let expected = (0..applied).rev().find(|i| i % KEYS == key);
        let name = format!("k{key}");
        assert_eq!(
            value_of(a.get(&name).unwrap()),
            expected,
            "a {name} after {applied}"
        );
        assert_eq!(
            value_of(b.get(&name).unwrap()),
            expected,
            "b {name} after {applied}"
        );
    }
    applied
}

#[test]
fn a_batch_across_keyspaces_is_all_or_nothing_after_power_loss() {
    let path = Path::new("/db");
    let mut lost_count = 0;
    for seed in 0..12_u64 {
        let fs = FaultFileSystem::new();
        let mut next = 0_u64;
        let mut synced_through = 0_u64;
        for generation in 0..3_u64 {
            let db = options(&fs).open(path).unwrap();
            let a = db.keyspace("a").unwrap();
            let b = db.keyspace("b").unwrap();
            let applied = applied_prefix(&db, &a, &b);
            assert!(
                applied >= synced_through,
                "seed {seed}: lost a synced batch"
            );
            assert!(applied <= next);
            lost_count += next - applied;
            next = applied;
            let steps = 150 + (seed * 37 + generation * 11) % 200;
            for step in 0..steps {
                let i = next;
                let mut batch = db.batch();
                let value = i.to_string();
                let padding = "p".repeat(((i * 13) % 200) as usize);
                batch
                    .put_in(&a, format!("k{}", i % KEYS), &value)
                    .put_in(&b, format!("k{}", i % KEYS), &value)
                    .put("applied", &value)
                    .put_in(&a, format!("pad{i}"), &padding);
                let sync = (step + seed) % 23 == 0;
                db.write(
                    batch,
                    WriteOptions {
                        sync,
                        disable_wal: false,
                    },
                )
                .unwrap();
                next += 1;
                if sync {
                    synced_through = next;
                }
                match (step + seed) % 31 {
                    3 => a.flush().unwrap(),
                    17 => b.flush().unwrap(),
                    _ => {}
                }
            }
            let mode = if (seed + generation) % 2 == 0 {
                PowerLossMode::DropUnsynced
            } else {
                PowerLossMode::KeepRandomPrefix {
                    seed: seed * 10 + generation,
                }
            };
            fs.power_loss(mode);
            drop((a, b, db));
        }
    }
    assert!(lost_count > 0, "the power cuts lost unsynced batches");
}
