//! Tests of the fault-injecting file system: what survives a power loss or a
//! crash, that each injected fault fires at exactly the Nth call, a full
//! disk, dead handles and locks.
#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use seer_core::fault::{Fault, FaultFileSystem, PowerLossMode, PowerLossReport};
use seer_core::{FileSystem, WritableFile};

const DIR: &str = "/db";

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

fn new_fs() -> FaultFileSystem {
    let fs = FaultFileSystem::new();
    fs.create_dir_all(Path::new(DIR)).unwrap();
    fs
}

/// Creates `name` holding `content`, synced and with its entry durable.
fn durable_file(fs: &FaultFileSystem, name: &str, content: &[u8]) {
    let mut file = fs.create(&path(name)).unwrap();
    file.append(content).unwrap();
    file.sync_data().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
}

fn content(fs: &FaultFileSystem, name: &str) -> Option<Vec<u8>> {
    fs.file_content(&path(name))
}

fn lose_power(fs: &FaultFileSystem) -> PowerLossReport {
    fs.power_loss(PowerLossMode::DropUnsynced)
}

#[test]
fn synced_data_survives_power_loss_and_unsynced_tail_is_lost() {
    let fs = new_fs();
    let mut file = fs.create(&path("wal")).unwrap();
    file.append(b"synced ").unwrap();
    file.sync_data().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    file.append(b"lost").unwrap();
    assert_eq!(content(&fs, "wal").unwrap(), b"synced lost");

    let report = lose_power(&fs);

    assert_eq!(content(&fs, "wal").unwrap(), b"synced ");
    assert_eq!(report.dropped_bytes, 4);
    assert_eq!(report.reverted_entries_count, 0);
}

#[test]
fn a_file_whose_entry_is_durable_but_data_never_synced_comes_back_empty() {
    let fs = new_fs();
    let mut file = fs.create(&path("a")).unwrap();
    file.append(b"never synced").unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    drop(file);

    lose_power(&fs);

    assert_eq!(content(&fs, "a").unwrap(), b"");
}

#[test]
fn a_created_file_disappears_unless_its_directory_was_synced() {
    let fs = new_fs();
    let mut file = fs.create(&path("new")).unwrap();
    file.append(b"data").unwrap();
    file.sync_all().unwrap();
    drop(file);
    assert_eq!(fs.list_files(), vec![path("new")]);

    let report = lose_power(&fs);

    assert_eq!(report.reverted_entries_count, 1);
    assert!(fs.list_files().is_empty());
    assert!(!fs.exists(&path("new")).unwrap());
    assert_eq!(fs.used_bytes(), 0);

    durable_file(&fs, "new", b"data");
    lose_power(&fs);
    assert_eq!(content(&fs, "new").unwrap(), b"data");
}

#[test]
fn a_rename_without_directory_sync_is_undone() {
    let fs = new_fs();
    durable_file(&fs, "old", b"payload");
    fs.rename(&path("old"), &path("new")).unwrap();
    assert_eq!(fs.list_files(), vec![path("new")]);

    let report = lose_power(&fs);

    assert_eq!(report.reverted_entries_count, 2);
    assert_eq!(fs.list_files(), vec![path("old")]);
    assert_eq!(content(&fs, "old").unwrap(), b"payload");

    fs.rename(&path("old"), &path("new")).unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    lose_power(&fs);
    assert_eq!(fs.list_files(), vec![path("new")]);
}

#[test]
fn replacing_current_by_rename_is_atomic_across_power_loss() {
    let fs = new_fs();
    durable_file(&fs, "CURRENT", b"MANIFEST-1");
    let mut temp = fs.create(&path("CURRENT.tmp")).unwrap();
    temp.append(b"MANIFEST-2").unwrap();
    temp.sync_all().unwrap();
    fs.rename(&path("CURRENT.tmp"), &path("CURRENT")).unwrap();
    assert_eq!(content(&fs, "CURRENT").unwrap(), b"MANIFEST-2");

    lose_power(&fs);

    assert_eq!(fs.list_files(), vec![path("CURRENT")]);
    assert_eq!(content(&fs, "CURRENT").unwrap(), b"MANIFEST-1");
}

#[test]
fn a_removed_file_is_back_unless_its_directory_was_synced() {
    let fs = new_fs();
    durable_file(&fs, "table", b"rows");
    fs.remove_file(&path("table")).unwrap();
    assert!(!fs.exists(&path("table")).unwrap());

    lose_power(&fs);
    assert_eq!(content(&fs, "table").unwrap(), b"rows");

    fs.remove_file(&path("table")).unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    lose_power(&fs);
    assert!(fs.list_files().is_empty());
}

#[test]
fn recreating_a_synced_file_keeps_the_old_content_durable_until_synced() {
    let fs = new_fs();
    durable_file(&fs, "f", b"old content");
    let mut file = fs.create(&path("f")).unwrap();
    file.append(b"new").unwrap();
    assert_eq!(content(&fs, "f").unwrap(), b"new");

    lose_power(&fs);
    assert_eq!(content(&fs, "f").unwrap(), b"old content");

    let mut file = fs.create(&path("f")).unwrap();
    file.append(b"new").unwrap();
    file.sync_data().unwrap();
    lose_power(&fs);
    assert_eq!(content(&fs, "f").unwrap(), b"new");
}

#[test]
fn truncate_is_durable_at_once() {
    let fs = new_fs();
    durable_file(&fs, "wal", b"good record|torn");
    fs.truncate(&path("wal"), 11).unwrap();
    lose_power(&fs);
    assert_eq!(content(&fs, "wal").unwrap(), b"good record");
    fs.truncate(&path("wal"), 13).unwrap();
    assert_eq!(content(&fs, "wal").unwrap(), b"good record\0\0");
}

#[test]
fn reserved_space_reads_as_zeros_and_survives_power_loss_once_synced() {
    let fs = new_fs();
    let mut file = fs.create(&path("wal")).unwrap();
    file.preallocate(16).unwrap();
    file.append(b"head").unwrap();
    assert_eq!(file.len(), 4);
    assert_eq!(
        content(&fs, "wal").unwrap(),
        b"head\0\0\0\0\0\0\0\0\0\0\0\0"
    );
    assert_eq!(fs.file_size(&path("wal")).unwrap(), 16);
    let mut read = [1u8; 6];
    let reader = fs.open_read(&path("wal")).unwrap();
    reader.read_exact_at(&mut read, 2).unwrap();
    assert_eq!(&read, b"ad\0\0\0\0");
    assert!(reader.read_exact_at(&mut read, 12).is_err());
    file.sync_data().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    file.preallocate(32).unwrap();
    file.append(b"torn").unwrap();
    lose_power(&fs);
    let mut expected = b"head".to_vec();
    expected.resize(16, 0);
    assert_eq!(
        content(&fs, "wal").unwrap(),
        expected,
        "unsynced growth is lost"
    );
}

#[test]
fn a_reservation_past_the_capacity_fails_and_reserves_nothing() {
    let fs = new_fs();
    fs.set_capacity_bytes(Some(100));
    let mut file = fs.create(&path("wal")).unwrap();
    let err = file.preallocate(101).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert_eq!(fs.used_bytes(), 0);
    file.preallocate(100).unwrap();
    assert_eq!(fs.used_bytes(), 100);
    file.append(b"fits").unwrap();
    assert_eq!(fs.used_bytes(), 100);
}

/// Writes `synced` then `tail` to a fresh file, syncing only `synced`, and
/// loses power with a random partial tail.
fn partial_tail_after_loss(synced: &[u8], tail: &[u8], seed: u64) -> Vec<u8> {
    let fs = new_fs();
    let mut file = fs.create(&path("wal")).unwrap();
    file.append(synced).unwrap();
    file.sync_data().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    file.append(tail).unwrap();
    fs.power_loss(PowerLossMode::KeepRandomPrefix { seed });
    content(&fs, "wal").unwrap()
}

#[test]
fn keep_random_prefix_keeps_a_seeded_part_of_the_unsynced_tail() {
    let tail = [7u8; 64];
    let kept_lens: Vec<usize> = (0..200)
        .map(|seed| {
            let after = partial_tail_after_loss(b"head", &tail, seed);
            assert_eq!(after, partial_tail_after_loss(b"head", &tail, seed));
            assert!(after.starts_with(b"head"));
            assert!(tail.starts_with(&after[4..]));
            after.len() - 4
        })
        .collect();
    assert!(kept_lens.contains(&0) || kept_lens.iter().any(|&n| n < 8));
    assert!(kept_lens.iter().any(|&n| n > 0 && n < tail.len()));
    assert!(kept_lens.iter().any(|&n| n > 56));
}

#[test]
fn dead_handles_fail_after_power_loss_and_crash_until_reopened() {
    let fs = new_fs();
    durable_file(&fs, "a", b"abc");
    let mut writer = fs.open_append(&path("a")).unwrap();
    let reader = fs.open_read(&path("a")).unwrap();

    lose_power(&fs);

    assert!(writer.append(b"x").is_err());
    assert!(writer.sync_data().is_err());
    assert!(reader.read_exact_at(&mut [0u8; 1], 0).is_err());
    let mut writer = fs.open_append(&path("a")).unwrap();
    assert_eq!(writer.len(), 3);
    writer.append(b"d").unwrap();

    fs.crash();

    assert!(writer.append(b"e").is_err());
    assert_eq!(content(&fs, "a").unwrap(), b"abcd", "a crash loses nothing");
    let reader = fs.open_read(&path("a")).unwrap();
    let mut buf = [0u8; 4];
    reader.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"abcd");
    lose_power(&fs);
    assert_eq!(
        content(&fs, "a").unwrap(),
        b"abc",
        "a crash makes nothing durable"
    );
}

#[test]
fn a_removed_file_stays_writable_through_an_open_handle() {
    let fs = new_fs();
    let mut file = fs.create(&path("a")).unwrap();
    fs.remove_file(&path("a")).unwrap();
    file.append(b"into the void").unwrap();
    assert_eq!(fs.used_bytes(), 13);
    drop(file);
    assert_eq!(fs.used_bytes(), 0);
    assert!(fs.list_files().is_empty());
}

/// Runs `call` five times with `fault` armed; which calls failed.
fn failing_calls(
    fs: &FaultFileSystem,
    fault: Fault,
    mut call: impl FnMut(usize) -> bool,
) -> Vec<usize> {
    fs.arm(fault);
    (1..=5).filter(|&i| !call(i)).collect()
}

#[test]
fn a_failed_write_fires_exactly_at_the_nth_append() {
    for nth in 1..=5u64 {
        let fs = new_fs();
        let mut file = fs.create(&path("a")).unwrap();
        let failed = failing_calls(&fs, Fault::FailWrite { nth }, |i| {
            file.append(&[b'0' + i as u8]).is_ok()
        });
        assert_eq!(failed, vec![nth as usize]);
        let expected: Vec<u8> = (1..=5u8)
            .filter(|&i| u64::from(i) != nth)
            .map(|i| b'0' + i)
            .collect();
        assert_eq!(content(&fs, "a").unwrap(), expected);
        assert_eq!(file.len(), 4);
        assert_eq!(fs.stats().injected_faults_count, 1);
    }
}

#[test]
fn a_short_write_lands_a_prefix_then_fails() {
    let fs = new_fs();
    let mut file = fs.create(&path("a")).unwrap();
    let failed = failing_calls(
        &fs,
        Fault::ShortWrite {
            nth: 2,
            kept_bytes: 3,
        },
        |_| file.append(b"abcdef").is_ok(),
    );
    assert_eq!(failed, vec![2]);
    assert_eq!(content(&fs, "a").unwrap(), b"abcdefabcabcdefabcdefabcdef");
    assert_eq!(file.len(), 27);
    assert_eq!(fs.stats().bytes_written, 27);
}

#[test]
fn a_failed_sync_fires_exactly_at_the_nth_sync() {
    for nth in 1..=5u64 {
        let fs = new_fs();
        let mut file = fs.create(&path("a")).unwrap();
        let failed = failing_calls(&fs, Fault::FailSync { nth }, |i| {
            file.append(&[b'0' + i as u8]).unwrap();
            file.sync_data().is_ok()
        });
        assert_eq!(failed, vec![nth as usize]);
        assert_eq!(fs.stats().syncs_count, 5);
    }
}

#[test]
fn a_failed_sync_makes_nothing_durable() {
    let fs = new_fs();
    durable_file(&fs, "a", b"kept");
    let mut file = fs.open_append(&path("a")).unwrap();
    file.append(b" lost").unwrap();
    fs.arm(Fault::FailSync { nth: 1 });
    assert!(file.sync_all().is_err());
    lose_power(&fs);
    assert_eq!(content(&fs, "a").unwrap(), b"kept");
}

#[test]
fn a_failed_create_dir_sync_or_rename_fires_at_the_nth_and_changes_nothing() {
    for nth in 1..=5u64 {
        let fs = new_fs();
        let name = |prefix: &str, i: usize| path(&format!("{prefix}{i}"));
        let failed = failing_calls(&fs, Fault::FailCreate { nth }, |i| {
            fs.create(&name("f", i)).is_ok()
        });
        assert_eq!(failed, vec![nth as usize]);
        assert!(!fs.exists(&name("f", nth as usize)).unwrap());

        let failed = failing_calls(&fs, Fault::FailDirSync { nth }, |i| {
            fs.create(&name("g", i)).unwrap();
            fs.sync_dir(Path::new(DIR)).is_ok()
        });
        assert_eq!(failed, vec![nth as usize]);

        let failed = failing_calls(&fs, Fault::FailRename { nth }, |i| {
            fs.rename(&name("g", i), &name("r", i)).is_ok()
        });
        assert_eq!(failed, vec![nth as usize]);
        assert!(fs.exists(&name("g", nth as usize)).unwrap());
        assert!(!fs.exists(&name("r", nth as usize)).unwrap());
        assert_eq!(fs.stats().injected_faults_count, 3);
    }
}

#[test]
fn fail_every_sync_fails_every_sync_until_disarmed() {
    let fs = new_fs();
    let mut file = fs.create(&path("a")).unwrap();
    file.append(b"x").unwrap();
    fs.arm(Fault::FailEverySync);
    for _ in 0..10 {
        assert!(file.sync_data().is_err());
        assert!(file.sync_all().is_err());
        assert!(fs.sync_dir(Path::new(DIR)).is_err());
    }
    fs.disarm_all();
    file.sync_data().unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    lose_power(&fs);
    assert_eq!(content(&fs, "a").unwrap(), b"x");
    let stats = fs.stats();
    assert_eq!((stats.syncs_count, stats.dir_syncs_count), (21, 11));
    assert_eq!(stats.injected_faults_count, 30);
}

#[test]
fn appends_past_the_capacity_write_what_fits_then_fail_storage_full() {
    let fs = new_fs();
    fs.set_capacity_bytes(Some(10));
    assert_eq!(fs.available_space(Path::new(DIR)).unwrap(), 10);
    let mut file = fs.create(&path("a")).unwrap();
    file.append(b"12345678").unwrap();
    let err = file.append(b"abcde").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert_eq!(content(&fs, "a").unwrap(), b"12345678ab");
    assert_eq!(fs.available_space(Path::new(DIR)).unwrap(), 0);
    let mut other = fs.create(&path("b")).unwrap();
    assert_eq!(
        other.append(b"z").unwrap_err().kind(),
        ErrorKind::StorageFull
    );
    drop(file);
    fs.remove_file(&path("a")).unwrap();
    other.append(b"z").unwrap();
    assert_eq!(fs.available_space(Path::new(DIR)).unwrap(), 9);
    assert_eq!(fs.stats().storage_full_count, 2);
    fs.set_capacity_bytes(None);
    assert_eq!(
        fs.available_space(Path::new(DIR)).unwrap(),
        seer_core::fault::UNLIMITED_AVAILABLE_BYTES
    );
}

#[test]
fn a_second_lock_would_block_until_released_or_the_holder_dies() {
    let fs = new_fs();
    let lock_path = path("LOCK");
    let held = fs.lock(&lock_path).unwrap();
    assert_eq!(
        fs.lock(&lock_path).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(held);
    let held = fs.lock(&lock_path).unwrap();

    fs.crash();

    let reacquired = fs.lock(&lock_path).unwrap();
    drop(held);
    assert_eq!(
        fs.lock(&lock_path).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(reacquired);
    fs.lock(&lock_path).unwrap();
}

#[test]
fn every_read_side_call_sees_the_current_tree() {
    let fs = new_fs();
    fs.create_dir_all(&path("sub/deeper")).unwrap();
    durable_file(&fs, "b", b"hello world");
    assert_eq!(fs.list_dir(Path::new(DIR)).unwrap(), vec!["b", "sub"]);
    assert_eq!(&fs.map(&path("b")).unwrap()[..], b"hello world");
    assert_eq!(fs.read(&path("b")).unwrap(), b"hello world");
    assert_eq!(fs.file_size(&path("b")).unwrap(), 11);
    assert!(fs.exists(&path("sub")).unwrap());
    assert!(fs.exists(Path::new("/db/./b")).unwrap());
    let reader = fs.open_read(&path("b")).unwrap();
    assert_eq!(reader.len(), 11);
    let mut buf = [0u8; 5];
    reader.read_exact_at(&mut buf, 6).unwrap();
    assert_eq!(&buf, b"world");
    let err = reader.read_exact_at(&mut buf, 10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(
        fs.open_read(&path("missing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs.create(Path::new("/nodir/x")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(fs.rename(&path("missing"), &path("x")).is_err());
    assert!(fs.list_dir(Path::new("/nodir")).is_err());
}

#[test]
fn stats_count_the_calls_served() {
    let fs = new_fs();
    let mut file = fs.create(&path("a")).unwrap();
    file.append(b"abc").unwrap();
    file.append(b"de").unwrap();
    file.sync_data().unwrap();
    fs.rename(&path("a"), &path("b")).unwrap();
    fs.remove_file(&path("b")).unwrap();
    fs.crash();
    lose_power(&fs);
    let stats = fs.stats();
    assert_eq!(
        (stats.appends_count, stats.bytes_written, stats.syncs_count),
        (2, 5, 1)
    );
    assert_eq!(
        (
            stats.creates_count,
            stats.renames_count,
            stats.removes_count
        ),
        (1, 1, 1)
    );
    assert_eq!((stats.crashes_count, stats.power_losses_count), (1, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// After any history of appends and syncs, a power loss leaves each file
    /// between its last synced length and its full content, as a prefix of it.
    #[test]
    fn power_loss_leaves_a_prefix_no_shorter_than_the_synced_part(
        steps in prop::collection::vec((0usize..3, 1usize..40, any::<bool>()), 1..40),
        keep_tail in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let fs = new_fs();
        let mut files: Vec<Box<dyn WritableFile>> = (0..3)
            .map(|i| fs.create(&path(&format!("f{i}"))).unwrap())
            .collect();
        fs.sync_dir(Path::new(DIR)).unwrap();
        let mut synced_lens = [0u64; 3];
        for (index, len, sync) in steps {
            files[index].append(&vec![index as u8 + 1; len]).unwrap();
            if sync {
                files[index].sync_data().unwrap();
                synced_lens[index] = files[index].len();
            }
        }
        let before: Vec<Vec<u8>> = (0..3).map(|i| content(&fs, &format!("f{i}")).unwrap()).collect();
        let mode = if keep_tail {
            PowerLossMode::KeepRandomPrefix { seed }
        } else {
            PowerLossMode::DropUnsynced
        };
        fs.power_loss(mode);
        for i in 0..3 {
            let after = content(&fs, &format!("f{i}")).unwrap();
            prop_assert!(before[i].starts_with(&after));
            prop_assert!(after.len() as u64 >= synced_lens[i]);
            if !keep_tail {
                prop_assert_eq!(after.len() as u64, synced_lens[i]);
            }
        }
    }
}

#[test]
fn a_hard_link_shares_the_content_and_its_name_is_pending_until_the_dir_sync() {
    let fs = new_fs();
    durable_file(&fs, "a", b"table");
    fs.create_dir_all(Path::new("/other")).unwrap();
    let linked = Path::new("/other/a");
    fs.hard_link(&path("a"), linked).unwrap();
    assert_eq!(fs.stats().links_count, 1);
    assert_eq!(
        fs.hard_link(&path("a"), linked).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    fs.remove_file(&path("a")).unwrap();
    fs.sync_dir(Path::new(DIR)).unwrap();
    assert_eq!(fs.file_content(linked).unwrap(), b"table");
    // The link's entry was never synced: a power loss takes it, and with
    // it the file (its other name is durably gone).
    lose_power(&fs);
    assert!(!fs.exists(linked).unwrap());
    durable_file(&fs, "b", b"kept");
    fs.hard_link(&path("b"), linked).unwrap();
    fs.sync_dir(Path::new("/other")).unwrap();
    lose_power(&fs);
    assert_eq!(fs.file_content(linked).unwrap(), b"kept");
}

#[test]
fn a_directory_renames_with_its_entries_and_removes_only_when_empty() {
    let fs = new_fs();
    fs.create_dir_all(Path::new("/stage")).unwrap();
    let mut file = fs.create(Path::new("/stage/f")).unwrap();
    file.append(b"x").unwrap();
    file.sync_all().unwrap();
    drop(file);
    fs.sync_dir(Path::new("/stage")).unwrap();
    fs.create_dir_all(Path::new("/stage/sub")).unwrap();
    assert_eq!(
        fs.rename(Path::new("/stage"), Path::new(DIR))
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    fs.rename(Path::new("/stage"), Path::new("/final")).unwrap();
    assert!(!fs.exists(Path::new("/stage")).unwrap());
    assert!(fs.exists(Path::new("/final/sub")).unwrap());
    lose_power(&fs);
    assert_eq!(fs.file_content(Path::new("/final/f")).unwrap(), b"x");
    assert_eq!(
        fs.remove_dir(Path::new("/final")).unwrap_err().kind(),
        ErrorKind::DirectoryNotEmpty
    );
    fs.remove_dir(Path::new("/final/sub")).unwrap();
    fs.remove_file(Path::new("/final/f")).unwrap();
    fs.remove_dir(Path::new("/final")).unwrap();
    assert!(!fs.exists(Path::new("/final")).unwrap());
}
