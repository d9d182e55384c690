//! Bulk load: files written by `TableWriter` and added with `DB::ingest`
//! read back, shadow older data and are shadowed by later writes, stay
//! invisible to earlier snapshots, survive a reopen, go to the deepest
//! level nothing above overlaps; unsorted keys, overlapping files and
//! damaged or foreign files are refused with the file named and the
//! database unchanged; a crash or power loss at any step of an ingest
//! leaves all the files' data or none.
#![allow(clippy::unwrap_used)]

mod copy_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use copy_support::{contents, hooked, reopen, Countdown, Cut};
use seer_core::fault::{FaultFileSystem, PowerSwitch};
use seer_db::{
    CompactionPolicy, DBOptions, Error, PolicyParams, StringAppendOperator, TableWriter,
    WriteOptions, DB,
};

/// Writes `entries` (`None`: a delete) as a table file at `path`.
fn write_table(path: &Path, options: &DBOptions, entries: &[(String, Option<String>)]) {
    let mut writer = TableWriter::create(path, options).unwrap();
    for (key, value) in entries {
        match value {
            Some(value) => writer.put(key, value).unwrap(),
            None => writer.delete(key).unwrap(),
        }
    }
    let report = writer.finish().unwrap();
    assert_eq!(report.entries, entries.len() as u64);
}

fn puts(range: std::ops::Range<u32>, prefix: &str, tag: &str) -> Vec<(String, Option<String>)> {
    range
        .map(|i| (format!("{prefix}{i:05}"), Some(format!("{tag}-{i}"))))
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_ingested_file_reads_back_through_get_and_iter() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default().merge_operator(StringAppendOperator::new(","));
    let db = options.clone().open(dir.path().join("db")).unwrap();
    let file = dir.path().join("bulk.sst");
    let mut writer = TableWriter::create(&file, &options).unwrap();
    for i in 0..3000u32 {
        writer.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    writer.merge("m", "op").unwrap();
    let report = writer.finish().unwrap();
    assert_eq!(report.entries, 3001);
    assert_eq!(&report.smallest_key[..], b"k00000");
    assert_eq!(&report.largest_key[..], b"m");
    assert!(report.file_size_bytes > 0);
    assert_eq!(files_in(dir.path()), ["bulk.sst", "db"], "no staging left");

    db.put("m", "base").unwrap();
    let ingested = db.ingest(&[&file]).unwrap();
    assert_eq!(ingested.entries, 3001);
    assert_eq!(db.get("k01234").unwrap().as_deref(), Some(&b"v1234"[..]));
    assert_eq!(db.get("m").unwrap().as_deref(), Some(&b"base,op"[..]));
    assert_eq!(db.get("k99999").unwrap(), None);
    let all = contents(&db);
    assert_eq!(all.len(), 3001);
    assert_eq!(all[&b"k02999"[..].to_vec()], b"v2999");
    assert!(file.exists(), "the given file stays");
}

#[test]
fn ingested_data_shadows_older_writes_and_later_writes_shadow_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let db = options.clone().open(dir.path().join("db")).unwrap();
    // Older data in a table and in the memtable.
    db.put("a", "table").unwrap();
    db.put("b", "table").unwrap();
    db.flush().unwrap();
    db.put("c", "memtable").unwrap();
    db.put("d", "memtable").unwrap();
    let file = dir.path().join("f.sst");
    write_table(
        &file,
        &options,
        &[
            ("a".into(), Some("ingested".into())),
            ("b".into(), None),
            ("c".into(), Some("ingested".into())),
            ("d".into(), None),
        ],
    );
    let report = db.ingest(&[&file]).unwrap();
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"ingested"[..]));
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.get("c").unwrap().as_deref(), Some(&b"ingested"[..]));
    assert_eq!(db.get("d").unwrap(), None);
    let later = db.put_opt("a", "later", WriteOptions::default()).unwrap();
    assert!(later > report.seq);
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"later"[..]));
    db.flush().unwrap();
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"later"[..]));
    assert_eq!(db.get("b").unwrap(), None);
    assert_eq!(db.get("c").unwrap().as_deref(), Some(&b"ingested"[..]));
}

#[test]
fn a_range_deletion_in_an_ingested_file_hides_older_data_not_its_own_entries() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let path = dir.path().join("db");
    let db = options.clone().open(&path).unwrap();
    for i in 0..20u32 {
        db.put(format!("k{i:02}"), "old").unwrap();
        if i == 10 {
            db.flush().unwrap();
        }
    }
    let with_entries = dir.path().join("mixed.sst");
    let mut writer = TableWriter::create(&with_entries, &options).unwrap();
    writer.delete_range("k05", "k15").unwrap();
    writer.put("k10", "ingested").unwrap();
    assert!(matches!(
        writer.delete_range("k2", "k1"),
        Err(Error::InvalidArgument(_))
    ));
    let report = writer.finish().unwrap();
    assert_eq!(
        (&report.smallest_key[..], &report.largest_key[..]),
        (&b"k05"[..], &b"k15"[..])
    );
    let only_tombstones = dir.path().join("tombstones.sst");
    let mut writer = TableWriter::create(&only_tombstones, &options).unwrap();
    writer.delete_range("k16", "k18").unwrap();
    assert_eq!(writer.finish().unwrap().entries, 0);
    db.ingest(&[&with_entries, &only_tombstones]).unwrap();
    db.put("k07", "later").unwrap();
    let expected: Vec<(String, &str)> = [
        (0..5)
            .map(|i| (format!("k{i:02}"), "old"))
            .collect::<Vec<_>>(),
        vec![("k07".to_owned(), "later"), ("k10".to_owned(), "ingested")],
        (15..16).map(|i| (format!("k{i:02}"), "old")).collect(),
        (18..20).map(|i| (format!("k{i:02}"), "old")).collect(),
    ]
    .concat();
    let expected: Model = expected
        .into_iter()
        .map(|(k, v)| (k.into_bytes(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(contents(&db), expected);
    assert_eq!(db.get("k06").unwrap(), None);
    assert_eq!(db.get("k17").unwrap(), None);
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(contents(&db), expected);
    drop(db);
    let db = options.open(&path).unwrap();
    assert_eq!(contents(&db), expected);
}

#[test]
fn a_snapshot_taken_before_an_ingest_does_not_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let db = options.clone().open(dir.path().join("db")).unwrap();
    db.put("k00001", "old").unwrap();
    let snapshot = db.snapshot();
    let file = dir.path().join("f.sst");
    write_table(&file, &options, &puts(0..100, "k", "new"));
    db.ingest(&[&file]).unwrap();
    assert_eq!(
        snapshot.get("k00001").unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(snapshot.get("k00002").unwrap(), None);
    assert_eq!(snapshot.iter().count(), 1);
    assert_eq!(db.get("k00001").unwrap().as_deref(), Some(&b"new-1"[..]));
    assert_eq!(db.iter().count(), 100);
}

#[test]
fn an_ingest_survives_a_reopen_and_later_writes_get_larger_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let path = dir.path().join("db");
    let db = options.clone().open(&path).unwrap();
    db.put("z", "before").unwrap();
    let file = dir.path().join("f.sst");
    write_table(&file, &options, &puts(0..50, "k", "v"));
    let report = db.ingest(&[&file]).unwrap();
    db.close().unwrap();
    drop(db);
    let db = options.open(&path).unwrap();
    assert_eq!(db.get("k00049").unwrap().as_deref(), Some(&b"v-49"[..]));
    assert_eq!(db.get("z").unwrap().as_deref(), Some(&b"before"[..]));
    let seq = db
        .put_opt("k00049", "after", WriteOptions::default())
        .unwrap();
    assert!(seq > report.seq, "{seq} after ingest seq {}", report.seq);
    assert_eq!(db.get("k00049").unwrap().as_deref(), Some(&b"after"[..]));
}

#[test]
fn a_table_writer_refuses_keys_out_of_order_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.sst");
    let mut writer = TableWriter::create(&path, &DBOptions::default()).unwrap();
    writer.put("b", "1").unwrap();
    match writer.put("a", "2") {
        Err(Error::UnsortedKey { key, previous }) => {
            assert_eq!((key, previous), (b"a".to_vec(), b"b".to_vec()));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(writer.delete("b"), Err(Error::UnsortedKey { .. })));
    writer.put("c", "3").unwrap();
    drop(writer);
    assert!(
        files_in(dir.path()).is_empty(),
        "an unfinished writer leaves nothing"
    );
    let empty = TableWriter::create(&path, &DBOptions::default()).unwrap();
    assert!(matches!(empty.finish(), Err(Error::InvalidArgument(_))));
}

#[test]
fn files_whose_key_ranges_meet_are_refused_and_nothing_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let db = options.clone().open(dir.path().join("db")).unwrap();
    let (first, second, third) = (
        dir.path().join("1.sst"),
        dir.path().join("2.sst"),
        dir.path().join("3.sst"),
    );
    write_table(&first, &options, &puts(0..10, "k", "one"));
    write_table(&second, &options, &puts(20..30, "k", "two"));
    write_table(&third, &options, &puts(9..12, "k", "three"));
    match db.ingest(&[&first, &second, &third]) {
        Err(Error::IngestOverlap { file, other }) => {
            assert_eq!((file, other), (third.clone(), first.clone()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(db.iter().count(), 0);
    let report = db.ingest(&[&first, &second]).unwrap();
    assert_eq!(report.entries, 20);
    assert_eq!(report.levels.len(), 2);
    assert_eq!(db.iter().count(), 20);
}

/// `file`, copied to `to` with the byte at `offset` flipped.
fn damaged_copy(file: &Path, to: &Path, offset: usize) -> PathBuf {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[offset] ^= 0x40;
    std::fs::write(to, bytes).unwrap();
    to.to_path_buf()
}

#[test]
fn a_damaged_or_foreign_file_is_refused_naming_it_and_the_db_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let db_path = dir.path().join("db");
    let db = options.clone().open(&db_path).unwrap();
    db.put("k00003", "kept").unwrap();
    db.flush().unwrap();
    let good = dir.path().join("good.sst");
    write_table(&good, &options, &puts(0..500, "k", "v"));
    let len = std::fs::metadata(&good).unwrap().len() as usize;
    let foreign = dir.path().join("foreign.sst");
    std::fs::write(&foreign, b"name,value\nnot,a table\n".repeat(50)).unwrap();
    // One of the database's own tables: its entries are not at sequence 0.
    let own_table = std::fs::read_dir(&db_path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    let own = dir.path().join("own.sst");
    std::fs::copy(&own_table, &own).unwrap();
    let bad_files = [
        damaged_copy(&good, &dir.path().join("data.sst"), 10),
        damaged_copy(&good, &dir.path().join("middle.sst"), len / 2),
        damaged_copy(&good, &dir.path().join("tail.sst"), len - 3),
        foreign,
        own,
        dir.path().join("missing.sst"),
    ];
    let before = contents(&db);
    let files_before = files_in(&db_path);
    for bad in &bad_files {
        match db.ingest(&[&good, bad]) {
            Err(Error::IngestRejected { file, reason }) => {
                assert_eq!(&file, bad, "{reason}");
            }
            other => panic!("{}: {other:?}", bad.display()),
        }
        assert_eq!(contents(&db), before);
        assert_eq!(files_in(&db_path), files_before);
    }
    db.ingest(&[&good]).unwrap();
    assert_eq!(db.iter().count(), 500);
}

#[test]
fn ingested_tables_go_to_the_deepest_level_nothing_above_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default().target_file_size(16 << 10);
    let db = options.clone().open(dir.path().join("db")).unwrap();
    for i in 0..2000u32 {
        db.put(format!("m{i:05}"), "x".repeat(40)).unwrap();
    }
    db.compact_range::<&[u8]>(..).unwrap();
    let data_level = db
        .metrics()
        .levels
        .iter()
        .rposition(|level| level.tables > 0)
        .unwrap();
    let levels_count = db.metrics().levels.len();
    let (disjoint, overlapping, newest) = (
        dir.path().join("disjoint.sst"),
        dir.path().join("overlapping.sst"),
        dir.path().join("newest.sst"),
    );
    write_table(&disjoint, &options, &puts(0..100, "z", "z"));
    write_table(&overlapping, &options, &puts(500..600, "m", "new"));
    let report = db.ingest(&[&disjoint, &overlapping]).unwrap();
    assert_eq!(report.levels, [levels_count - 1, data_level - 1]);
    // A level-0 table over the same keys: the next file goes above it.
    db.put("m00550", "memtable").unwrap();
    db.flush().unwrap();
    write_table(&newest, &options, &puts(540..560, "m", "newest"));
    let report = db.ingest(&[&newest]).unwrap();
    assert_eq!(report.levels, [0]);
    assert_eq!(
        db.get("m00550").unwrap().as_deref(),
        Some(&b"newest-550"[..])
    );
    assert_eq!(db.get("m00520").unwrap().as_deref(), Some(&b"new-520"[..]));
    assert_eq!(db.get("z00050").unwrap().as_deref(), Some(&b"z-50"[..]));
    assert_eq!(
        db.get("m01500").unwrap().as_deref(),
        Some(&b"x".repeat(40)[..])
    );
    db.compact_range::<&[u8]>(..).unwrap();
    assert_eq!(
        db.get("m00550").unwrap().as_deref(),
        Some(&b"newest-550"[..])
    );
    assert_eq!(db.iter().count(), 2100);
}

#[test]
fn an_ingest_beside_writers_gets_a_seq_no_write_shares_and_the_writes_stay() {
    let dir = tempfile::tempdir().unwrap();
    let options = copy_support::busy_options();
    let db = options.clone().open(dir.path().join("db")).unwrap();
    let files: Vec<PathBuf> = (0..4u32)
        .map(|round| {
            let path = dir.path().join(format!("{round}.sst"));
            write_table(
                &path,
                &options,
                &puts(round * 100..round * 100 + 100, "b", "bulk"),
            );
            path
        })
        .collect();
    let (seqs, ingested) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            (0..3000u32)
                .map(|i| {
                    db.put_opt(
                        format!("w{:05}", i % 700),
                        format!("w{i}"),
                        WriteOptions::default(),
                    )
                    .unwrap()
                })
                .collect::<Vec<_>>()
        });
        let ingested: Vec<u64> = files
            .iter()
            .map(|file| db.ingest(&[file]).unwrap().seq)
            .collect();
        (writer.join().unwrap(), ingested)
    });
    for seq in &ingested {
        assert!(
            !seqs.contains(seq),
            "ingest seq {seq} was given to a write too"
        );
    }
    let all = contents(&db);
    assert_eq!(all.len(), 700 + 400);
    assert_eq!(all[&b"w00699"[..].to_vec()], b"w2799");
    assert_eq!(all[&b"b00399"[..].to_vec()], b"bulk-399");
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Under each fixed policy, with compactions running: ingests of files
/// over old keys, new keys and between them, each followed by writes over
/// some of their keys, leave the database equal to the model (the tree's
/// invariant checker runs at every install in debug builds).
#[test]
fn ingests_between_writes_and_compactions_match_a_model_under_every_policy() {
    let policies = [
        PolicyParams::leveling(4).unwrap(),
        PolicyParams::tiering(4).unwrap(),
        PolicyParams::lazy_leveling(4).unwrap(),
    ];
    for params in policies {
        let dir = tempfile::tempdir().unwrap();
        let options =
            copy_support::busy_options().compaction_policy(CompactionPolicy::Fixed(params));
        let db = options.clone().open(dir.path().join("db")).unwrap();
        let mut model = Model::new();
        for round in 0..12u32 {
            for i in 0..300u32 {
                let key = format!("k{:05}", (i * 37 + round * 11) % 2000);
                let value = format!("put {round} {i}");
                db.put(&key, &value).unwrap();
                model.insert(key.into_bytes(), value.into_bytes());
            }
            // Alternately over written keys, above them, and sparse.
            let (start, step) = match round % 3 {
                0 => (round * 50, 1),
                1 => (3000 + round * 100, 1),
                _ => (round, 7),
            };
            let file = dir.path().join(format!("{round}.sst"));
            let mut writer = TableWriter::create(&file, &options).unwrap();
            for i in 0..200u32 {
                let key = format!("k{:05}", start + i * step);
                if i % 10 == 9 {
                    writer.delete(&key).unwrap();
                    model.remove(key.as_bytes());
                } else {
                    let value = format!("bulk {round} {i}");
                    writer.put(&key, &value).unwrap();
                    model.insert(key.into_bytes(), value.into_bytes());
                }
            }
            writer.finish().unwrap();
            db.ingest(&[&file]).unwrap();
            assert_eq!(contents(&db), model, "{params:?} round {round}");
        }
        db.compact_range::<&[u8]>(..).unwrap();
        assert_eq!(contents(&db), model, "{params:?} compacted");
        drop(db);
        let db = options.open(dir.path().join("db")).unwrap();
        assert_eq!(contents(&db), model, "{params:?} reopened");
    }
}

/// How the cut ingests recovered.
#[derive(Debug, Default)]
struct Outcomes {
    /// With every file's data.
    all: usize,
    /// With none of it.
    none: usize,
}

/// Cuts the power (or crashes) before the `nth` changing call in the
/// database directory during an ingest of two files; checks the database
/// recovers with both files' data or neither's; returns `false` once the
/// ingest made fewer calls than `nth` (it finished). With `keyspace`, the
/// older writes and the ingest go to that named keyspace.
fn crash_ingest_at(nth: u64, cut: Cut, outcomes: &mut Outcomes, keyspace: Option<&str>) -> bool {
    let fs = FaultFileSystem::new();
    let switch = PowerSwitch::new(&fs);
    let countdown = Countdown::new(Arc::clone(&switch), &["/db"], &[], cut);
    let options = copy_support::busy_options().file_system(hooked(switch, countdown.hook()));
    seer_core::FileSystem::create_dir_all(&fs, Path::new("/in")).unwrap();
    write_table(Path::new("/in/a.sst"), &options, &puts(0..300, "k", "bulk"));
    write_table(Path::new("/in/b.sst"), &options, &puts(0..300, "n", "bulk"));
    let db = options.open("/db").unwrap();
    // The keyspace's (or the database's) contents, and an ingest into it.
    let read = |db: &DB| match keyspace {
        Some(name) => copy_support::entries(db.keyspace(name).unwrap().iter()),
        None => contents(db),
    };
    let ingest = |db: &DB| match keyspace {
        Some(name) => db
            .keyspace(name)
            .unwrap()
            .ingest(&["/in/a.sst", "/in/b.sst"]),
        None => db.ingest(&["/in/a.sst", "/in/b.sst"]),
    };
    let target = keyspace.map(|name| db.keyspace(name).unwrap());
    for i in 0..400u32 {
        let (key, value) = (format!("k{:05}", i * 2), format!("old {i}"));
        match &target {
            Some(keyspace) => keyspace.put(key, value).unwrap(),
            None => db.put(key, value).unwrap(),
        }
    }
    drop(target);
    db.persist().unwrap();
    let before: Model = read(&db);
    let mut after = before.clone();
    for prefix in ["k", "n"] {
        for i in 0..300u32 {
            after.insert(
                format!("{prefix}{i:05}").into_bytes(),
                format!("bulk-{i}").into_bytes(),
            );
        }
    }
    countdown.arm(nth);
    let result = ingest(&db);
    drop(db);
    let db = reopen(&fs, "/db").unwrap();
    let recovered = read(&db);
    if !countdown.fired() {
        result.unwrap();
        assert_eq!(recovered, after);
        return false;
    }
    assert!(
        recovered == before || recovered == after,
        "step {nth} {cut:?}: neither all nor none of the ingest"
    );
    // A cut of background work (the WAL's spare segment) may let the
    // ingest itself succeed: then all of it must be there.
    if result.is_ok() {
        assert_eq!(
            recovered, after,
            "step {nth} {cut:?}: an acknowledged ingest was lost"
        );
    }
    if recovered == after {
        outcomes.all += 1;
    } else {
        outcomes.none += 1;
    }
    // The reopened database takes the ingest again and new writes after it.
    let report = ingest(&db).unwrap();
    let seq = db
        .put_opt("k00001", "last", WriteOptions::default())
        .unwrap();
    assert!(seq > report.seq);
    assert_eq!(
        read(&db).get(&b"n00299"[..]).map(Vec::as_slice),
        Some(&b"bulk-299"[..])
    );
    true
}

/// [`crash_ingest_at`] at every step in turn, under every kind of cut.
fn crash_ingest_at_every_step(keyspace: Option<&str>) {
    for cut in Cut::ALL {
        let mut outcomes = Outcomes::default();
        let mut nth = 1;
        while crash_ingest_at(nth, cut, &mut outcomes, keyspace) {
            nth += 1;
            assert!(nth < 500, "the ingest never finished");
        }
        eprintln!("{cut:?}: {} steps, {outcomes:?}", nth - 1);
        assert!(outcomes.none > 3, "{outcomes:?}");
    }
}

#[test]
fn a_crash_at_any_step_of_an_ingest_leaves_all_its_data_or_none() {
    crash_ingest_at_every_step(None);
}

/// The same into a named keyspace: its tree and manifest, the database's
/// WAL and sequence number.
#[test]
fn a_crash_at_any_step_of_an_ingest_into_a_keyspace_leaves_all_its_data_or_none() {
    crash_ingest_at_every_step(Some("ks"));
}

/// A manifest sync that fails during an ingest leaves the edit's fate
/// unknown (it was appended); the ingest's sequence number must still be
/// skipped, or a later write of an ingested key would share it and a
/// reopen could read the ingested value instead of the write's.
#[test]
fn a_failed_ingest_still_moves_later_writes_past_its_seq() {
    let fs = FaultFileSystem::new();
    let fail_manifest_sync = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook: copy_support::Hook = {
        let fail = Arc::clone(&fail_manifest_sync);
        Arc::new(move |call, path| {
            let manifest = path.to_string_lossy().contains("MANIFEST");
            if call == "sync" && manifest && fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::other("injected manifest sync failure"));
            }
            Ok(())
        })
    };
    let options = DBOptions::default().file_system(hooked(fs.shared(), hook));
    seer_core::FileSystem::create_dir_all(&fs, Path::new("/in")).unwrap();
    write_table(Path::new("/in/a.sst"), &options, &puts(0..10, "k", "bulk"));
    let db = options.open("/db").unwrap();
    let before = db
        .put_opt("k00001", "before", WriteOptions::default())
        .unwrap();
    // The ingest's own flush then has nothing to do: the sync that fails
    // is its edit's.
    db.flush().unwrap();
    fail_manifest_sync.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(db.ingest(&["/in/a.sst"]).is_err());
    fail_manifest_sync.store(false, std::sync::atomic::Ordering::SeqCst);
    let after = db
        .put_opt(
            "k00001",
            "after",
            WriteOptions {
                sync: true,
                ..WriteOptions::default()
            },
        )
        .unwrap();
    assert!(
        after > before + 1,
        "write {after} took the ingest's seq {}",
        before + 1
    );
    drop(db);
    let db = reopen(&fs, "/db").unwrap();
    assert_eq!(db.get("k00001").unwrap().as_deref(), Some(&b"after"[..]));
}

#[test]
fn a_read_only_open_refuses_to_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let path = dir.path().join("db");
    let db = options.clone().open(&path).unwrap();
    let file = dir.path().join("f.sst");
    write_table(&file, &options, &puts(0..5, "k", "v"));
    let reader = DB::open_read_only(&path).unwrap();
    assert!(matches!(
        reader.ingest(&[&file]),
        Err(Error::OpenedReadOnly)
    ));
    drop(db);
}

/// `Keyspace::ingest` adds the files to that keyspace only, at one
/// sequence number of the database's: it shadows the keyspace's older
/// writes (in a table and in the memtable), later writes in any keyspace
/// get larger numbers, a snapshot taken before sees none of it, another
/// keyspace holding the same keys is untouched, and all of it survives a
/// reopen.
#[test]
fn an_ingest_into_a_keyspace_touches_that_keyspace_only_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = DBOptions::default();
    let path = dir.path().join("db");
    let db = options.clone().open(&path).unwrap();
    let target = db.keyspace("target").unwrap();
    let other = db.keyspace("other").unwrap();
    for name in ["k00001", "k00002"] {
        db.put(name, "default").unwrap();
        other.put(name, "other").unwrap();
        target.put(name, "older").unwrap();
    }
    target.flush().unwrap();
    target.put("k00003", "memtable").unwrap();
    let before = db.snapshot();
    let file = dir.path().join("f.sst");
    write_table(&file, &options, &puts(0..50, "k", "ingested"));
    let report = target.ingest(&[&file]).unwrap();
    assert_eq!(report.entries, 50);
    let later = db.put_opt("z", "later", WriteOptions::default()).unwrap();
    assert!(
        later > report.seq,
        "{later} after ingest seq {}",
        report.seq
    );
    let later_in_target = target
        .put_opt("k00049", "later", WriteOptions::default())
        .unwrap();
    assert!(later_in_target > report.seq);
    let check = |db: &DB| {
        let target = db.keyspace("target").unwrap();
        let other = db.keyspace("other").unwrap();
        for i in [1, 2, 3] {
            let key = format!("k{i:05}");
            let ingested = format!("ingested-{i}");
            assert_eq!(
                target.get(&key).unwrap().as_deref(),
                Some(ingested.as_bytes())
            );
        }
        assert_eq!(
            target.get("k00049").unwrap().as_deref(),
            Some(&b"later"[..])
        );
        assert_eq!(target.iter().count(), 50);
        assert_eq!(other.get("k00001").unwrap().as_deref(), Some(&b"other"[..]));
        assert_eq!(other.iter().count(), 2);
        assert_eq!(db.get("k00001").unwrap().as_deref(), Some(&b"default"[..]));
        assert_eq!(db.iter().count(), 3);
    };
    check(&db);
    assert_eq!(
        before.get_in(&target, "k00001").unwrap().as_deref(),
        Some(&b"older"[..])
    );
    assert_eq!(before.get_in(&target, "k00040").unwrap(), None);
    drop((before, target, other));
    db.close().unwrap();
    drop(db);
    let db = options.open(&path).unwrap();
    check(&db);
    let seq = db.put_opt("z", "after", WriteOptions::default()).unwrap();
    assert!(seq > later_in_target);
}
