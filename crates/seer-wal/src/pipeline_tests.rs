//! Tests of the commit pipeline on the in-memory file system.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex as StdMutex;

use bytes::Bytes;
use seer_core::fault::{Fault, FaultFileSystem, PowerLossMode};
use seer_core::FileSystem;
use seer_log::LogError;

use super::*;
use crate::record::tests::put;
use crate::record::{Record, WriteOp};
use crate::recovery::WalRecovery;
use crate::WalRecoveryMode;

/// Remembers every applied record and every poisoning it is told of;
/// fails on a record whose key is `bad`.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) applied: StdMutex<Vec<Sequenced>>,
    pub(crate) poisoned_by: StdMutex<Vec<WalError>>,
}

impl Apply for Recorder {
    type Error = std::io::Error;

    fn apply(&self, group: &[Sequenced]) -> std::result::Result<(), Self::Error> {
        if group
            .iter()
            .any(|s| s.record.ops().iter().any(|op| op.key() == "bad"))
        {
            return Err(std::io::Error::other("bad key"));
        }
        self.applied.lock().unwrap().extend_from_slice(group);
        Ok(())
    }

    fn poisoned(&self, cause: &WalError) {
        self.poisoned_by.lock().unwrap().push(cause.clone());
    }
}

const DIR: &str = "/db";

fn open_with(fs: &FaultFileSystem, policy: SyncPolicy) -> CommitPipeline<Recorder> {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let options = WalOptions {
        sync_policy: policy,
        ..WalOptions::default()
    };
    CommitPipeline::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        1,
        0,
        options,
        Recorder::default(),
    )
    .unwrap()
}

fn replay(fs: &FaultFileSystem) -> Vec<Record> {
    let recovery =
        WalRecovery::open(fs, Path::new(DIR), 0, WalRecoveryMode::AbsoluteConsistency).unwrap();
    recovery.collect::<Result<Vec<_>>>().unwrap()
}

fn segment_seqs(fs: &FaultFileSystem, segment: u64) -> Vec<SeqNo> {
    let path = segment_path(Path::new(DIR), segment);
    let mut reader =
        crate::SegmentReader::open(fs, &path, WalRecoveryMode::AbsoluteConsistency).unwrap();
    let mut last = None;
    std::iter::from_fn(|| reader.next_record(&mut last).unwrap())
        .map(|r| r.first_seq())
        .collect()
}

#[test]
fn writes_get_sequence_numbers_in_log_order() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Always);
    let batch = WriteRecord::Batch(vec![
        WriteOp::Delete {
            key: Bytes::from_static(b"a"),
        },
        WriteOp::Put {
            key: Bytes::from_static(b"b"),
            value: Bytes::from_static(b"2"),
        },
        WriteOp::Merge {
            key: Bytes::from_static(b"c"),
            operand: Bytes::from_static(b"3"),
        },
    ]);
    let unlogged = WriteOptions {
        disable_wal: true,
        ..WriteOptions::default()
    };
    assert_eq!(
        wal.write(put("k", "v"), WriteOptions::default()).unwrap(),
        1
    );
    assert_eq!(
        wal.write(batch.clone(), WriteOptions::default()).unwrap(),
        2
    );
    assert_eq!(wal.write(put("x", "unlogged"), unlogged).unwrap(), 5);
    assert_eq!(
        wal.write(put("y", "w"), WriteOptions::default()).unwrap(),
        6
    );
    assert_eq!((wal.last_seq(), wal.visible_seq()), (6, 6));
    assert_eq!(wal.applier().applied.lock().unwrap().len(), 4);
    let expected = vec![
        Record::from_write(put("k", "v"), 1),
        Record::from_write(batch, 2),
        Record::from_write(put("y", "w"), 6),
    ];
    assert_eq!(replay(&fs), expected);
}

#[test]
fn concurrent_writers_each_complete_once_in_order() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Always);
    let (threads, per_thread) = (8u64, 100u64);
    let mut seqs: Vec<SeqNo> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = &wal;
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            wal.write(put(&format!("{t}-{i}"), "v"), WriteOptions::default())
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=threads * per_thread).collect::<Vec<_>>());
    assert_eq!(wal.visible_seq(), threads * per_thread);
    let logged: Vec<SeqNo> = replay(&fs).iter().map(Record::first_seq).collect();
    let applied: Vec<SeqNo> = wal
        .applier()
        .applied
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.seq)
        .collect();
    assert_eq!(logged, applied);
    assert_eq!(logged, (1..=threads * per_thread).collect::<Vec<_>>());
    assert!(fs.stats().syncs_count <= 1 + threads * per_thread);
}

#[test]
fn failed_append_fails_the_write_and_poisons() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Always);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    fs.arm(Fault::FailWrite { nth: 1 });
    assert!(matches!(
        wal.write(put("b", "2"), WriteOptions::default()),
        Err(WalError::Log(LogError::Io(_)))
    ));
    fs.disarm_all();
    assert!(matches!(
        wal.write(put("c", "3"), WriteOptions::default()),
        Err(WalError::Poisoned { .. })
    ));
    assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.roll(2), Err(WalError::Poisoned { .. })));
    assert!(wal.poison().is_some());
    assert_eq!(wal.visible_seq(), 1);
}

#[test]
fn failed_sync_is_not_retried() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Never);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    fs.arm(Fault::FailEverySync);
    let synced = WriteOptions {
        sync: true,
        ..WriteOptions::default()
    };
    assert!(matches!(
        wal.write(put("b", "2"), synced),
        Err(WalError::Log(LogError::Io(_)))
    ));
    fs.disarm_all();
    assert!(matches!(
        wal.write(put("c", "3"), synced),
        Err(WalError::Poisoned { .. })
    ));
    assert_eq!(wal.visible_seq(), 1);
}

#[test]
fn failed_interval_sync_tells_the_owner_at_once_without_a_write() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Interval(Duration::from_millis(2)));
    fs.arm(Fault::FailEverySync);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    // Bounded wait for the background sync; this checks that the owner is
    // told, not how fast.
    for _ in 0..5000 {
        if wal.poison().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let cause = wal
        .poison()
        .expect("the failed interval sync poisons the log");
    // The owner heard of it before the syncer's sync returned.
    let told = wal.applier().poisoned_by.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        matches!(&told[0], WalError::Log(LogError::Io(_))),
        "{told:?}"
    );
    assert_eq!(told[0].to_string(), cause.to_string());
    fs.disarm_all();
    assert!(matches!(
        wal.write(put("b", "2"), WriteOptions::default()),
        Err(WalError::Poisoned { .. })
    ));
    assert_eq!(
        wal.applier().poisoned_by.lock().unwrap().len(),
        1,
        "told once"
    );
}

#[test]
fn failed_apply_poisons_without_publishing() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Always);
    match wal.write(put("bad", "1"), WriteOptions::default()) {
        Err(WalError::Apply { source }) => {
            let own = source.downcast_ref::<std::io::Error>();
            assert_eq!(own.map(ToString::to_string).as_deref(), Some("bad key"));
        }
        other => panic!("a failed apply returned {other:?}"),
    }
    assert_eq!((wal.last_seq(), wal.visible_seq()), (1, 0));
    assert!(matches!(
        wal.write(put("ok", "1"), WriteOptions::default()),
        Err(WalError::Poisoned { .. })
    ));
}

#[test]
fn invalid_writes_are_refused_without_poison() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Always);
    let both = WriteOptions {
        sync: true,
        disable_wal: true,
    };
    assert!(matches!(
        wal.write(WriteRecord::Batch(vec![]), WriteOptions::default()),
        Err(WalError::InvalidWrite { .. })
    ));
    assert!(matches!(
        wal.write(put("a", "1"), both),
        Err(WalError::InvalidWrite { .. })
    ));
    assert!(matches!(wal.roll(1), Err(WalError::InvalidWrite { .. })));
    assert_eq!(
        wal.write(put("a", "1"), WriteOptions::default()).unwrap(),
        1
    );
}

#[test]
fn roll_splits_the_log_between_writes() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Never);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    wal.write(put("b", "2"), WriteOptions::default()).unwrap();
    let (old, visible_at_switch) = wal.roll_with(5, |_| wal.visible_seq()).unwrap();
    assert_eq!((old, visible_at_switch, wal.segment()), (1, 2, 5));
    wal.write(put("c", "3"), WriteOptions::default()).unwrap();
    assert_eq!(segment_seqs(&fs, 1), [1, 2]);
    assert_eq!(segment_seqs(&fs, 5), [3]);
    assert_eq!(replay(&fs).len(), 3);
    assert!(matches!(wal.roll(5), Err(WalError::InvalidWrite { .. })));
    wal.close().unwrap();
}

/// The roll's thread syncs the old segment's unsynced records; when that
/// sync fails the pipeline is poisoned as by a failed sync of a group (the
/// owner told once, at once, every later request refused), and the new
/// segment's first sync reports the failure rather than syncing.
#[test]
fn failed_background_sync_of_the_old_segment_poisons_the_pipeline() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Never);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    // The roll's own sync is the new segment's header (created now, no
    // spare prepared); the second is the old segment's, in the background.
    fs.arm(Fault::FailSync { nth: 2 });
    assert_eq!(wal.roll(2).unwrap(), 1);
    wal.stop_syncer();
    let cause = wal.poison().expect("the failed background sync poisons");
    assert!(matches!(cause, WalError::Log(LogError::Io(_))), "{cause}");
    let told = wal.applier().poisoned_by.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    fs.disarm_all();
    assert!(matches!(
        wal.write(put("b", "2"), WriteOptions::default()),
        Err(WalError::Poisoned { .. })
    ));
    assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
    assert_eq!(wal.applier().poisoned_by.lock().unwrap().len(), 1);
}

/// A failed background sync while writers are queued: whatever the
/// interleaving, no write after it is acknowledged as synced.
#[test]
fn a_synced_write_after_a_failed_background_sync_is_never_acknowledged() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Never);
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    fs.arm(Fault::FailSync { nth: 2 });
    wal.roll(2).unwrap();
    let synced = WriteOptions {
        sync: true,
        ..WriteOptions::default()
    };
    assert!(wal.write(put("b", "2"), synced).is_err());
    assert!(wal.poison().is_some());
}

/// Records logged unsynced before a roll are durable once a synced write
/// after it returns: the new segment's first sync waits for the roll's
/// background sync of the old one, so a power loss right after cannot
/// keep the synced write and lose what preceded it.
#[test]
fn a_synced_write_in_the_new_segment_is_durable_only_after_the_old_segment() {
    for mode in [
        PowerLossMode::DropUnsynced,
        PowerLossMode::KeepRandomPrefix { seed: 3 },
    ] {
        let fs = FaultFileSystem::new();
        let wal = open_with(&fs, SyncPolicy::Never);
        wal.write(put("a", "1"), WriteOptions::default()).unwrap();
        wal.write(put("b", "2"), WriteOptions::default()).unwrap();
        wal.roll(2).unwrap();
        let synced = WriteOptions {
            sync: true,
            ..WriteOptions::default()
        };
        assert_eq!(wal.write(put("c", "3"), synced).unwrap(), 3);
        fs.power_loss(mode);
        drop(wal);
        let seqs: Vec<SeqNo> = replay(&fs).iter().map(Record::first_seq).collect();
        assert_eq!(seqs, [1, 2, 3], "{mode:?}");
    }
}

/// What a flush of one keyspace relies on: once `sync_closed_segments`
/// returns, the records logged before the last roll survive a power loss
/// without any sync of the new segment; and the wait leaves the roll's
/// outcome for the new segment's first sync, which still finds the old
/// segment durable before it acknowledges.
#[test]
fn records_before_a_roll_are_durable_once_sync_closed_segments_returns() {
    for synced_after in [false, true] {
        let fs = FaultFileSystem::new();
        let wal = open_with(&fs, SyncPolicy::Never);
        wal.write(put("a", "1"), WriteOptions::default()).unwrap();
        wal.write(put("b", "2"), WriteOptions::default()).unwrap();
        wal.roll(2).unwrap();
        wal.sync_closed_segments().unwrap();
        let mut expected = vec![1, 2];
        if synced_after {
            let synced = WriteOptions {
                sync: true,
                ..WriteOptions::default()
            };
            assert_eq!(wal.write(put("c", "3"), synced).unwrap(), 3);
            expected.push(3);
        }
        fs.power_loss(PowerLossMode::DropUnsynced);
        drop(wal);
        let seqs: Vec<SeqNo> = replay(&fs).iter().map(Record::first_seq).collect();
        assert_eq!(seqs, expected);
    }
}

#[test]
fn sync_policies_decide_when_to_sync() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Never);
    let base = fs.stats().syncs_count;
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    assert_eq!(fs.stats().syncs_count, base);
    wal.write(
        put("b", "1"),
        WriteOptions {
            sync: true,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    assert_eq!(fs.stats().syncs_count, base + 1);
    wal.sync().unwrap();
    assert_eq!(fs.stats().syncs_count, base + 1, "nothing new to sync");
    let always = open_with(&FaultFileSystem::new(), SyncPolicy::Always);
    let fs_always = FaultFileSystem::new();
    drop(always);
    let always = open_with(&fs_always, SyncPolicy::Always);
    let base = fs_always.stats().syncs_count;
    always
        .write(put("a", "1"), WriteOptions::default())
        .unwrap();
    assert_eq!(fs_always.stats().syncs_count, base + 1);
    always
        .write(
            put("a", "1"),
            WriteOptions {
                disable_wal: true,
                ..WriteOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        fs_always.stats().syncs_count,
        base + 1,
        "an unlogged write does not sync"
    );
}

#[test]
fn interval_syncer_syncs_and_stops() {
    let fs = FaultFileSystem::new();
    let wal = open_with(&fs, SyncPolicy::Interval(Duration::from_millis(2)));
    let base = fs.stats().syncs_count;
    wal.write(put("a", "1"), WriteOptions::default()).unwrap();
    // Bounded wait for the background sync; this checks that it happens,
    // not how fast.
    for _ in 0..5000 {
        if fs.stats().syncs_count > base {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(fs.stats().syncs_count > base, "the syncer never synced");
    drop(wal);
    let wal = open_with(
        &FaultFileSystem::new(),
        SyncPolicy::Interval(Duration::from_secs(3600)),
    );
    wal.close().unwrap();
}

#[test]
fn opening_an_existing_segment_is_refused() {
    let fs = FaultFileSystem::new();
    drop(open_with(&fs, SyncPolicy::Always));
    let again = CommitPipeline::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        1,
        0,
        WalOptions::default(),
        Recorder::default(),
    );
    assert!(matches!(again, Err(WalError::Log(LogError::Io(_)))));
}

/// An applier that holds its first group until the test opens the gate,
/// so the test can queue requests behind a leader that is still leading.
#[derive(Default)]
struct GatedApplier {
    open: StdMutex<bool>,
    opened: std::sync::Condvar,
}

impl Apply for GatedApplier {
    type Error = std::io::Error;

    fn apply(&self, _group: &[Sequenced]) -> std::result::Result<(), Self::Error> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        Ok(())
    }
}

/// 7 writes and 7 persist requests queued alternately behind a leader
/// (write, persist, write, persist, ...) form the next group: one append
/// and one `fdatasync` answer all of them (under `SyncPolicy::Never`, where
/// the leader's own write syncs nothing). A persist that synced on its own
/// turn would sync 7 times, once after each write.
#[test]
fn persist_requests_join_the_next_group_and_share_its_sync() {
    const QUEUED: usize = 7;
    let fs = FaultFileSystem::new();
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let options = WalOptions {
        sync_policy: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let wal = CommitPipeline::open(
        Arc::new(fs.clone()),
        Path::new(DIR),
        1,
        0,
        options,
        GatedApplier::default(),
    )
    .unwrap();
    let wait_until_queued = |wal: &CommitPipeline<GatedApplier>, count: usize| {
        while lock(&wal.shared.state).queue.len() < count {
            std::thread::yield_now();
        }
    };
    let syncs_before = fs.stats().syncs_count;
    std::thread::scope(|scope| {
        let wal = &wal;
        // The leader: its write waits in the gated apply, leading.
        let leader = scope.spawn(move || wal.write(put("leader", "v"), WriteOptions::default()));
        while wal.last_seq() < 1 {
            std::thread::yield_now();
        }
        let mut writers = Vec::new();
        let mut persisters = Vec::new();
        for i in 0..QUEUED {
            writers.push(
                scope.spawn(move || wal.write(put(&format!("w{i}"), "v"), WriteOptions::default())),
            );
            wait_until_queued(wal, 2 * i + 1);
            persisters.push(scope.spawn(move || wal.persist()));
            wait_until_queued(wal, 2 * i + 2);
        }
        *wal.applier().open.lock().unwrap() = true;
        wal.applier().opened.notify_all();
        assert_eq!(leader.join().unwrap().unwrap(), 1);
        for writer in writers {
            writer.join().unwrap().unwrap();
        }
        for persister in persisters {
            assert_eq!(persister.join().unwrap().unwrap(), 1 + QUEUED as u64);
        }
    });
    assert_eq!(fs.stats().syncs_count - syncs_before, 1);
    assert_eq!(replay(&fs).len(), 1 + QUEUED);
}
