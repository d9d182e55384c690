//! Rolls to a prepared spare segment (`CommitPipeline::prepare_segment`):
//! the writer's roll creates and syncs no file, the retired segment's
//! background work (the sync of its unsynced records, its trim, the
//! directory sync of the new name) is waited for by the new segment's first
//! sync, and a power loss after a roll keeps every write acknowledged as
//! durable and a prefix of the rest (no hole, even when the new segment
//! keeps records the old one's lost tail preceded).
#![allow(clippy::unwrap_used)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;
use seer_core::fault::{FaultFileSystem, PowerLossMode, PowerSwitch};
use seer_core::{FileSystem, SeqNo, WritableFile};
use seer_testkit::forwarding_fs::ForwardingFs;
use seer_wal::{
    segment_path, Apply, CommitPipeline, Sequenced, SyncPolicy, WalOptions, WalRecovery,
    WalRecoveryMode, WriteOp, WriteOptions, WriteRecord,
};

const DIR: &str = "/db";

struct Discard;

impl Apply for Discard {
    type Error = std::convert::Infallible;

    fn apply(&self, _group: &[Sequenced]) -> Result<(), Self::Error> {
        Ok(())
    }
}

const SYNC: WriteOptions = WriteOptions {
    sync: true,
    disable_wal: false,
};

fn put(key: &str) -> WriteRecord {
    WriteRecord::Single(WriteOp::Put {
        key: Bytes::from(key.to_owned()),
        value: Bytes::from_static(b"value"),
    })
}

fn open(fs: Arc<dyn FileSystem>) -> CommitPipeline<Discard> {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let options = WalOptions {
        sync_policy: SyncPolicy::Never,
        preallocate_step_bytes: 4096,
        ..WalOptions::default()
    };
    CommitPipeline::open(fs, Path::new(DIR), 1, 0, options, Discard).unwrap()
}

fn recovered_seqs(fs: &FaultFileSystem) -> Vec<SeqNo> {
    let recovery = WalRecovery::open(
        fs,
        Path::new(DIR),
        0,
        WalRecoveryMode::TolerateCorruptedTail,
    )
    .unwrap();
    recovery.map(|record| record.unwrap().first_seq()).collect()
}

/// A file whose syncs are recorded with the calling thread, and whose drop
/// runs a hook.
#[derive(Debug)]
struct Watched {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    events: Arc<Events>,
}

#[derive(Debug, Default)]
struct Events {
    /// (thread, what, file) of every create and file sync.
    log: Mutex<Vec<(ThreadId, &'static str, PathBuf)>>,
    /// Set when the test lets a dropped segment 1 go on (see
    /// `persist_after_a_roll_waits_for_the_new_segment_name`).
    released: Mutex<bool>,
    release: Condvar,
    hold_drop_of: Mutex<Option<PathBuf>>,
}

impl Events {
    fn record(&self, what: &'static str, path: &Path) {
        let thread = std::thread::current().id();
        self.log
            .lock()
            .unwrap()
            .push((thread, what, path.to_owned()));
    }

    /// What this thread created or synced.
    fn on_this_thread(&self) -> Vec<(&'static str, PathBuf)> {
        let thread = std::thread::current().id();
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|(t, ..)| *t == thread)
            .map(|(_, what, path)| (*what, path.clone()))
            .collect()
    }

    /// What any thread created or synced.
    fn all(&self) -> Vec<(&'static str, PathBuf)> {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|(_, what, path)| (*what, path.clone()))
            .collect()
    }

    fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.release.notify_all();
    }
}

impl WritableFile for Watched {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.append(bytes)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.events.record("sync", &self.path);
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.events.record("sync", &self.path);
        self.inner.sync_all()
    }
    fn preallocate(&mut self, len_bytes: u64) -> io::Result<()> {
        self.inner.preallocate(len_bytes)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl Drop for Watched {
    /// Holds the drop of the chosen file until released, or for at most a
    /// second (so a pipeline that waits for the dropping thread still
    /// finishes; the test's outcome does not depend on the bound).
    fn drop(&mut self) {
        if self.events.hold_drop_of.lock().unwrap().as_deref() != Some(&self.path) {
            return;
        }
        let released = self.events.released.lock().unwrap();
        drop(
            self.events
                .release
                .wait_timeout_while(released, Duration::from_secs(1), |released| !*released)
                .unwrap(),
        );
    }
}

fn watched_fs(inner: Arc<dyn FileSystem>, events: &Arc<Events>) -> Arc<dyn FileSystem> {
    let events = Arc::clone(events);
    Arc::new(ForwardingFs::new(inner).on_create(move |path, inner| {
        events.record("create", path);
        Ok(Box::new(Watched {
            inner: inner.create(path)?,
            path: path.to_owned(),
            events: Arc::clone(&events),
        }))
    }))
}

#[test]
fn a_roll_to_a_prepared_spare_creates_and_syncs_no_file_on_the_writers_thread() {
    let fs = FaultFileSystem::new();
    let events = Arc::new(Events::default());
    let wal = open(watched_fs(Arc::new(fs.clone()), &events));
    wal.write(put("a"), WriteOptions::default()).unwrap();
    wal.prepare_segment(2).unwrap();
    assert_eq!(wal.spare_segment(), Some(2));
    // Joins the spare's creation, so the roll finds it ready.
    wal.stop_syncer();
    events.clear();
    assert_eq!(wal.roll(2).unwrap(), 1);
    assert_eq!(events.on_this_thread(), [], "the roll syncs nothing itself");
    assert_eq!(wal.spare_segment(), None);
    wal.stop_syncer();
    assert_eq!(
        events.all(),
        [("sync", segment_path(Path::new(DIR), 1))],
        "the roll's own thread syncs the old segment's unsynced record"
    );

    // Nothing unsynced: no thread syncs the old segment.
    wal.write(put("b"), SYNC).unwrap();
    wal.prepare_segment(3).unwrap();
    wal.stop_syncer();
    events.clear();
    assert_eq!(wal.roll(3).unwrap(), 2);
    wal.stop_syncer();
    assert_eq!(events.all(), []);
    assert!(matches!(
        wal.roll(5).map(drop).and_then(|()| wal.prepare_segment(6)),
        Ok(())
    ));
    assert!(
        wal.roll(7).is_err(),
        "a roll to another number than the spare's is refused"
    );
    wal.close().unwrap();
    let names = fs.list_dir(Path::new(DIR)).unwrap();
    assert!(
        names.iter().all(|name| name.ends_with(".wal")),
        "close removes the spare: {names:?}"
    );
    assert_eq!(recovered_seqs(&fs), [1, 2]);
}

/// Writes acknowledged with `sync` before and after a roll, unsynced ones
/// around them, then the power goes before the roll's background work can
/// have finished (or after it): every synced write and everything before it
/// comes back, in sequence order, and nothing else but unsynced writes is
/// missing. The old segment's unsynced write is durable only once the
/// roll's thread synced it, which a sync in the new segment waits for;
/// when a power loss keeps part of the new segment but not that write,
/// the new segment's predecessor record ends the log before it.
#[test]
fn a_power_loss_after_a_roll_keeps_every_write_acknowledged_as_durable() {
    for (index, mode) in [
        PowerLossMode::DropUnsynced,
        PowerLossMode::KeepRandomPrefix { seed: 7 },
        PowerLossMode::KeepRandomPrefix { seed: 8 },
    ]
    .into_iter()
    .enumerate()
    {
        for cut_after_writes in 0..6 {
            let fs = FaultFileSystem::new();
            let switch = PowerSwitch::new(&fs);
            let wal = open(Arc::clone(&switch) as Arc<dyn FileSystem>);
            let mut durable_seq = 0;
            let mut acked_seq = 0;
            wal.write(put("a"), WriteOptions::default()).unwrap();
            durable_seq = durable_seq.max(wal.write(put("b"), SYNC).unwrap());
            acked_seq = acked_seq.max(wal.write(put("c"), WriteOptions::default()).unwrap());
            wal.prepare_segment(2).unwrap();
            wal.roll(2).unwrap();
            for write in 0..cut_after_writes {
                let options = if write % 2 == 1 {
                    SYNC
                } else {
                    WriteOptions::default()
                };
                let seq = wal.write(put(&format!("d{write}")), options).unwrap();
                acked_seq = seq;
                if options.sync {
                    durable_seq = seq;
                }
            }
            switch.cut(mode);
            drop(wal);
            let seqs = recovered_seqs(&fs);
            let expected: Vec<SeqNo> = (1..=seqs.len() as SeqNo).collect();
            assert_eq!(seqs, expected, "a hole ({index}, {cut_after_writes})");
            let recovered_seq = seqs.last().copied().unwrap_or(0);
            assert!(
                recovered_seq >= durable_seq,
                "lost a durable write: recovered {recovered_seq}, durable {durable_seq} \
                 ({index}, {cut_after_writes})"
            );
            assert!(recovered_seq <= acked_seq.max(3));
        }
    }
}

/// `persist` after a roll returns only once the new segment's name is
/// durable: segment 1's handle, dropped by the roll's background work just
/// before its directory sync, is held until `persist` returns (or a second
/// passed); the power is cut before it is let go, so a `persist` that did
/// not wait would lose the write it covered.
#[test]
fn persist_after_a_roll_waits_for_the_new_segment_name() {
    let fs = FaultFileSystem::new();
    let switch = PowerSwitch::new(&fs);
    let events = Arc::new(Events::default());
    *events.hold_drop_of.lock().unwrap() = Some(segment_path(Path::new(DIR), 1));
    let wal = open(watched_fs(
        Arc::clone(&switch) as Arc<dyn FileSystem>,
        &events,
    ));
    wal.write(put("a"), WriteOptions::default()).unwrap();
    wal.prepare_segment(2).unwrap();
    wal.roll(2).unwrap();
    wal.write(put("b"), WriteOptions::default()).unwrap();
    wal.persist().unwrap();
    switch.cut(PowerLossMode::DropUnsynced);
    events.release();
    drop(wal);
    assert_eq!(recovered_seqs(&fs), [1, 2]);
}
