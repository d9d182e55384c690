//! loom models of the commit pipeline (run with `--cfg loom`): every record
//! completes exactly once, groups reach the log in sequence order,
//! `visible_seq` never passes an unapplied record nor moves backwards, a
//! failing leader wakes every follower with an error, persist requests
//! racing writers complete, and nothing deadlocks. The log lives in the in-memory file system, so no real I/O
//! happens.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex as StdMutex;

use bytes::Bytes;
use loom::sync::atomic::AtomicU64 as LoomAtomicU64;
use seer_core::fault::{Fault, FaultFileSystem};
use seer_core::FileSystem;
use seer_log::LogError;

use super::*;
use crate::record::{WriteOp, WriteRecord};
use crate::recovery::SegmentReader;
use crate::WalRecoveryMode;

/// Records what was applied, and the highest applied sequence number as a
/// loom atomic that observers compare `visible_seq` with.
struct Checker {
    applied: StdMutex<Vec<SeqNo>>,
    applied_max: LoomAtomicU64,
}

impl Apply for Checker {
    type Error = std::convert::Infallible;

    fn apply(&self, group: &[Sequenced]) -> std::result::Result<(), Self::Error> {
        let mut applied = self.applied.lock().unwrap();
        for entry in group {
            assert!(
                applied.last().is_none_or(|&last| last < entry.seq),
                "applied out of order"
            );
            applied.push(entry.seq);
        }
        let last = group.last().unwrap();
        let last_seq = last.seq + last.record.seq_count() - 1;
        self.applied_max.store(last_seq, Ordering::SeqCst);
        Ok(())
    }
}

const DIR: &str = "/db";

fn open(fs: &FaultFileSystem, policy: SyncPolicy) -> Arc<CommitPipeline<Checker>> {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let options = WalOptions {
        sync_policy: policy,
        ..WalOptions::default()
    };
    let checker = Checker {
        applied: StdMutex::new(Vec::new()),
        applied_max: LoomAtomicU64::new(0),
    };
    Arc::new(
        CommitPipeline::open(
            std::sync::Arc::new(fs.clone()),
            Path::new(DIR),
            1,
            0,
            options,
            checker,
        )
        .unwrap(),
    )
}

fn put(key: &'static str) -> WriteRecord {
    WriteRecord::Single(WriteOp::Put {
        key: Bytes::from_static(key.as_bytes()),
        value: Bytes::from_static(b"v"),
    })
}

fn logged_seqs(fs: &FaultFileSystem, segment: u64) -> Vec<SeqNo> {
    let path = segment_path(Path::new(DIR), segment);
    let mut reader = SegmentReader::open(fs, &path, WalRecoveryMode::AbsoluteConsistency).unwrap();
    let mut last = None;
    std::iter::from_fn(|| reader.next_record(&mut last).unwrap())
        .map(|r| r.first_seq())
        .collect()
}

/// `visible_seq` is covered by applied records and never moves backwards.
fn check_visibility(wal: &CommitPipeline<Checker>, previous: SeqNo) -> SeqNo {
    let visible = wal.visible_seq();
    assert!(visible >= previous, "visible_seq moved backwards");
    assert!(
        visible <= wal.applier().applied_max.load(Ordering::SeqCst),
        "visible_seq passed an unapplied record"
    );
    visible
}

#[test]
fn loom_concurrent_writes_complete_once_in_sequence_order() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Always);
        let writer = {
            let wal = Arc::clone(&wal);
            loom::thread::spawn(move || {
                let seq = wal.write(put("a"), WriteOptions::default()).unwrap();
                assert!(wal.visible_seq() >= seq, "acknowledged write not visible");
                seq
            })
        };
        let batch = WriteRecord::Batch(vec![
            WriteOp::Delete {
                key: Bytes::from_static(b"b"),
            },
            WriteOp::Delete {
                key: Bytes::from_static(b"c"),
            },
        ]);
        let visible = check_visibility(&wal, 0);
        let batch_seq = wal.write(batch, WriteOptions::default()).unwrap();
        check_visibility(&wal, visible.max(batch_seq + 1));
        let put_seq = writer.join().unwrap();
        let mut firsts = vec![put_seq, batch_seq];
        firsts.sort_unstable();
        let expected = if put_seq == 1 { [1, 2] } else { [1, 3] };
        assert_eq!(
            firsts, expected,
            "each record gets its own consecutive seqs exactly once"
        );
        assert_eq!((wal.last_seq(), wal.visible_seq()), (3, 3));
        assert_eq!(logged_seqs(&fs, 1), firsts, "the log is in sequence order");
        assert_eq!(*wal.applier().applied.lock().unwrap(), firsts);
    });
}

#[test]
fn loom_failing_leader_wakes_every_follower_with_an_error() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Always);
        fs.arm(Fault::FailWrite { nth: 1 });
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let wal = Arc::clone(&wal);
                loom::thread::spawn(move || wal.write(put(key), WriteOptions::default()))
            })
            .collect();
        for writer in writers {
            let result = writer.join().unwrap();
            assert!(
                matches!(
                    result,
                    Err(WalError::Log(LogError::Io(_)) | WalError::Poisoned { .. })
                ),
                "{result:?}"
            );
        }
        assert!(matches!(
            wal.write(put("c"), WriteOptions::default()),
            Err(WalError::Poisoned { .. })
        ));
        assert_eq!(wal.visible_seq(), 0);
        assert!(wal.applier().applied.lock().unwrap().is_empty());
    });
}

#[test]
fn loom_roll_never_splits_a_group() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Never);
        let writer = {
            let wal = Arc::clone(&wal);
            loom::thread::spawn(move || wal.write(put("a"), WriteOptions::default()).unwrap())
        };
        let (old, switched_at) = wal
            .roll_with(2, |_| {
                assert_eq!(
                    wal.last_seq(),
                    wal.visible_seq(),
                    "a write straddles the roll"
                );
                wal.visible_seq()
            })
            .unwrap();
        let seq = writer.join().unwrap();
        assert_eq!(old, 1);
        let (before, after) = (logged_seqs(&fs, 1), logged_seqs(&fs, 2));
        if switched_at >= seq {
            assert_eq!((before, after), (vec![seq], vec![]));
        } else {
            assert_eq!((before, after), (vec![], vec![seq]));
        }
    });
}

#[test]
fn loom_three_writers_each_complete_exactly_once() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Always);
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let wal = Arc::clone(&wal);
                loom::thread::spawn(move || wal.write(put(key), WriteOptions::default()).unwrap())
            })
            .collect();
        let mut seqs = vec![wal.write(put("c"), WriteOptions::default()).unwrap()];
        check_visibility(&wal, seqs[0]);
        seqs.extend(writers.into_iter().map(|w| w.join().unwrap()));
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(logged_seqs(&fs, 1), [1, 2, 3]);
        assert_eq!(*wal.applier().applied.lock().unwrap(), [1, 2, 3]);
    });
}

/// A persist request racing two writers under `SyncPolicy::Never`: every
/// request completes exactly once (a persist that leads with no wait slot,
/// one that joins a writer's group, one left for the next leader), nothing
/// deadlocks, a persist's result is a visible sequence number, and once
/// every write is acknowledged a persist syncs at most once and the next
/// one not at all.
#[test]
fn loom_persist_racing_writers_completes_and_covers_acknowledged_writes() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Never);
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let wal = Arc::clone(&wal);
                loom::thread::spawn(move || wal.write(put(key), WriteOptions::default()).unwrap())
            })
            .collect();
        let persisted = wal.persist().unwrap();
        assert!(persisted <= wal.visible_seq());
        for writer in writers {
            writer.join().unwrap();
        }
        // Everything is acknowledged now; one more persist covers it all.
        let syncs_before = fs.stats().syncs_count;
        wal.persist().unwrap();
        wal.persist().unwrap();
        assert!(fs.stats().syncs_count - syncs_before <= 1);
        assert_eq!(wal.visible_seq(), 2);
    });
}

/// A roll to a prepared spare racing a persist request under
/// `SyncPolicy::Never`: the roll waits for the spare's creation if it is
/// still running, its background thread (the old segment's sync and trim
/// and the directory sync of the new name) is joined by the pipeline,
/// nothing deadlocks, and a persist that starts after the switch returns
/// only once that thread synced the old segment's unsynced record and the
/// directory (the open, the spare and the roll each sync the directory
/// once; the open's and the spare's headers, the old segment's record and
/// the persist are four file syncs).
#[test]
fn loom_roll_to_a_spare_waits_for_the_new_name_before_a_sync() {
    loom::model(|| {
        let fs = FaultFileSystem::new();
        let wal = open(&fs, SyncPolicy::Never);
        wal.write(put("a"), WriteOptions::default()).unwrap();
        wal.prepare_segment(2).unwrap();
        let persister = {
            let (wal, fs) = (Arc::clone(&wal), fs.clone());
            loom::thread::spawn(move || {
                let rolled = wal.segment() == 2;
                wal.persist().unwrap();
                if rolled {
                    let stats = fs.stats();
                    assert_eq!(
                        stats.dir_syncs_count, 3,
                        "persist returned before the new segment's name was durable"
                    );
                    assert_eq!(
                        stats.syncs_count, 4,
                        "persist returned before the old segment's record was durable"
                    );
                }
            })
        };
        assert_eq!(wal.roll(2).unwrap(), 1);
        wal.write(put("b"), WriteOptions::default()).unwrap();
        persister.join().unwrap();
        assert_eq!(
            (logged_seqs(&fs, 1), logged_seqs(&fs, 2)),
            (vec![1], vec![2])
        );
    });
}
