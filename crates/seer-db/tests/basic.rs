//! Point operations, batches, merges, flush, compaction and reopen.
#![allow(clippy::unwrap_used)]

use seer_db::{Batch, DBOptions, Error, U64AddOperator, WriteOptions, DB};

fn small() -> DBOptions {
    DBOptions::default()
        .memtable_capacity(4 << 10)
        .target_file_size(4 << 10)
        .base_level_size(16 << 10)
        .l0_compaction_trigger(2)
        .block_size(256)
        .merge_operator(U64AddOperator)
        .sync_policy(seer_db::SyncPolicy::Never)
}

#[test]
fn put_get_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = DB::open(dir.path()).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"", b"empty key").unwrap();
    db.put(b"b", b"2").unwrap();
    db.delete(b"b").unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(db.get(b"b").unwrap(), None);
    assert_eq!(db.get(b"c").unwrap(), None);
    db.close().unwrap();
    assert!(matches!(db.put(b"x", b"y"), Err(Error::Closed)));
    drop(db);
    let db = DB::open(dir.path()).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(db.get(b"b").unwrap(), None);
}

#[test]
fn many_writes_flush_compact_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = small().open(dir.path()).unwrap();
    for i in 0..3000u32 {
        db.put(format!("key{:05}", i % 700), format!("value{i}"))
            .unwrap();
        if i % 7 == 0 {
            db.delete(format!("key{:05}", (i * 3) % 700)).unwrap();
        }
        db.merge(b"counter", 1u64.to_le_bytes()).unwrap();
    }
    let expect = |db: &DB| {
        let mut model = std::collections::BTreeMap::new();
        for i in 0..3000u32 {
            model.insert(format!("key{:05}", i % 700), format!("value{i}"));
            if i % 7 == 0 {
                model.remove(&format!("key{:05}", (i * 3) % 700));
            }
        }
        for k in 0..700u32 {
            let key = format!("key{k:05}");
            let got = db.get(&key).unwrap();
            assert_eq!(
                got.as_deref(),
                model.get(&key).map(|v| v.as_bytes()),
                "{key}"
            );
        }
        let counter = db.get(b"counter").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(counter[..].try_into().unwrap()), 3000);
    };
    expect(&db);
    db.flush().unwrap();
    expect(&db);
    db.compact_range::<&[u8]>(..).unwrap();
    expect(&db);
    let metrics = db.metrics();
    assert!(metrics.flush_count > 0);
    assert!(metrics.compaction_count > 0);
    db.close().unwrap();
    drop(db);
    let db = small().open(dir.path()).unwrap();
    expect(&db);
}

#[test]
fn batches_are_atomic_and_survive_drop_without_close() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = small().open(dir.path()).unwrap();
        let mut batch = db.batch_with_capacity(3);
        batch
            .put(b"x", b"1")
            .merge(b"n", 5u64.to_le_bytes())
            .delete(b"y");
        assert_eq!(batch.len(), 3);
        let seq = db.write(batch, WriteOptions::default()).unwrap();
        assert!(seq > 0);
        db.write(Batch::new(), WriteOptions::default()).unwrap();
        let values = db.multi_get(&[&b"x"[..], b"n", b"y"]).unwrap();
        assert_eq!(values[0].as_deref(), Some(&b"1"[..]));
        assert_eq!(values[1].as_deref(), Some(&5u64.to_le_bytes()[..]));
        assert_eq!(values[2], None);
    }
    let db = small().open(dir.path()).unwrap();
    assert_eq!(db.get(b"x").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        db.get(b"n").unwrap().as_deref(),
        Some(&5u64.to_le_bytes()[..])
    );
}

fn counting_keyspace() -> seer_db::KeyspaceOptions {
    seer_db::KeyspaceOptions::default().merge_operator(U64AddOperator)
}

/// `delete_opt` and `merge_opt` write one operation each with the options
/// given and return its sequence number, on the database and on a
/// keyspace, as `put_opt` does; a synced one survives a reopen.
#[test]
fn delete_opt_and_merge_opt_write_one_operation_and_return_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let synced = WriteOptions {
        sync: true,
        disable_wal: false,
    };
    {
        let db = small().open(dir.path()).unwrap();
        let keyspace = db.keyspace_with("ks", counting_keyspace()).unwrap();
        let put_seq = db.put_opt("gone", "v", WriteOptions::default()).unwrap();
        let delete_seq = db.delete_opt("gone", synced).unwrap();
        let merge_seq = db.merge_opt("count", 5u64.to_le_bytes(), synced).unwrap();
        assert_eq!((delete_seq, merge_seq), (put_seq + 1, put_seq + 2));
        keyspace.put("gone", "v").unwrap();
        let keyspace_delete_seq = keyspace.delete_opt("gone", synced).unwrap();
        let keyspace_merge_seq = keyspace
            .merge_opt("count", 7u64.to_le_bytes(), synced)
            .unwrap();
        assert_eq!(keyspace_merge_seq, keyspace_delete_seq + 1);
        assert!(keyspace_delete_seq > merge_seq);
        // Dropped without close: only the log keeps these.
    }
    let db = small().open(dir.path()).unwrap();
    let keyspace = db.keyspace_with("ks", counting_keyspace()).unwrap();
    assert_eq!(db.get("gone").unwrap(), None);
    assert_eq!(&db.get("count").unwrap().unwrap()[..], 5u64.to_le_bytes());
    assert_eq!(keyspace.get("gone").unwrap(), None);
    assert_eq!(
        &keyspace.get("count").unwrap().unwrap()[..],
        7u64.to_le_bytes()
    );
}
