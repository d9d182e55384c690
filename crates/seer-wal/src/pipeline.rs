//! The group-commit pipeline (its place in the write path:
//! `docs/ARCHITECTURE.md`, "Write path"; its promises per sync policy:
//! `docs/DURABILITY.md`, "Promises by sync policy").
//!
//! Writers enqueue their records. The first waiter becomes the *leader*: it
//! takes a group from the front of the queue (bounded in bytes), assigns
//! sequence numbers in queue order, encodes the group into one buffer, does
//! one `append` and at most one `sync_data`, hands the group to the owner's
//! [`Apply`] callback, publishes `visible_seq`, and wakes every member with
//! its own result. Then it passes leadership to the writer now at the front,
//! which has queued up meanwhile. Only the leader touches the log, so groups
//! reach it in sequence order.
//!
//! Segments are preallocated ([`WalOptions::preallocate_step_bytes`]): the
//! log reserves zeroed space ahead of its frames, so the per-group
//! `fdatasync` need not also commit a size change; the unused reservation
//! is cut off when a segment is retired by a roll and at close.
//!
//! A persist request ([`CommitPipeline::persist`]) is a group member
//! without a record: the leader takes it into its group with the writes
//! queued around it, and the group syncs once after its append, so
//! persist calls and synced writes queued together share one `fdatasync`
//! (none when nothing was appended since the last sync).
//!
//! Rolling to a new segment and explicit syncs travel through the same
//! queue, so they happen between groups, never inside one.
//!
//! A roll keeps file creation and syncs off the writer's path: the owner
//! names the next segment ahead of time ([`CommitPipeline::prepare_segment`]),
//! and a background thread creates, preallocates and syncs that *spare*
//! under its temporary name (`NNN.tmp`, which recovery never replays and
//! deletes as an orphan). The roll waits for the previous roll's
//! background work (normally long done), renames the spare to its segment
//! name (`NNN.wal`), appends the new segment's first frame, a
//! [`PredecessorRecord`] (the old segment's number, its length in bytes and
//! the last sequence number given out), and switches to it. The old
//! segment's records are not synced on the writer's path: a thread of the
//! roll's own syncs them (if any are unsynced), then cuts off the old
//! segment's unused reservation and syncs the directory, which makes the
//! new name durable. The first sync of the new segment (a synced group, a
//! persist request, an interval sync, close) and the next roll wait for
//! that thread, so a record of the new segment is acknowledged as durable
//! only once the old segment's records and the new file's name are. Until
//! then a power loss may keep records of the new segment while losing the
//! old one's unsynced tail; recovery sees that hole through the predecessor
//! record and ends the log before it (`docs/DURABILITY.md`, "The WAL
//! segment lifecycle"), and none of what it drops was acknowledged as
//! durable. A failure of that thread poisons the pipeline at once, as a
//! failed sync of a group does, and the owner hears of it through
//! [`Apply::poisoned`]. Without a prepared spare a roll creates the segment
//! itself, the same way. A failed append,
//! sync or apply fails the whole group and *poisons* the pipeline: every
//! later request fails with [`WalError::Poisoned`] (a failed fsync is never
//! retried, as the kernel may have dropped the dirty pages). The owner hears
//! of the poisoning at once through [`Apply::poisoned`], even when no write
//! is waiting (a failed sync of the interval syncer or of a roll's thread).
//!
//! A leader whose group will be synced, and that finds fewer requests queued
//! than the previous group had, first yields its CPU once: the previous
//! group's writers were just woken with their results, and on a busy machine
//! they are queued again by the time it runs, so one `fdatasync` serves them
//! too instead of the next (groups otherwise alternate between large and
//! small). A lone writer never yields (its previous group had one member).
//!
//! Each waiter sleeps on its own condition variable; leadership is handed
//! over explicitly, so no waiter polls or sleeps in a loop. A request that
//! finds no leader leads at once and never sleeps, so it gets no wait slot:
//! a lone writer's commit allocates nothing in the pipeline and reads its
//! outcome directly from the group it led.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seer_core::filename::file_name;
use seer_core::{FileKind, SeqNo, SharedFileSystem, MAX_SEQ};
use seer_log::frame::{FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES};
use seer_log::{FrameBuffer, LogHeader, LogKind, LogWriter};

use crate::error::{Result, WalError};
use crate::interval_syncer::Syncer;
use crate::record::{PredecessorRecord, WriteRecord};
use crate::segment::segment_path;
use crate::segment_tasks::{SegmentTasks, Spare, Task};
use crate::sync_primitives::{
    lock, wait, yield_now, Arc, AtomicU64, Condvar, Mutex, MutexGuard, Ordering,
};

/// Receives every committed group, in sequence order, before its records
/// become visible. The owner inserts them into its memtable here.
pub trait Apply: Send + Sync + 'static {
    /// The owner's own error, handed back inside [`WalError::Apply`] (the
    /// owner downcasts it to get it back typed).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies `group` (ascending, consecutive per record). Called by one
    /// thread at a time; an error poisons the pipeline.
    fn apply(&self, group: &[Sequenced]) -> std::result::Result<(), Self::Error>;

    /// Told once, with the failure, when it poisons the pipeline (a failed
    /// append, sync, roll or apply, the interval syncer's sync included),
    /// before the request that failed returns; called under the pipeline's
    /// state lock, so it must not call back into the pipeline. Does nothing
    /// by default.
    fn poisoned(&self, cause: &WalError) {
        let _ = cause;
    }
}

/// A record with the first sequence number the pipeline gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// The record's first sequence number (a batch's op `i` has `seq + i`).
    pub seq: SeqNo,
    /// The record.
    pub record: WriteRecord,
}

/// When the pipeline makes groups durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// `fdatasync` once per group that wrote to the log.
    #[default]
    Always,
    /// A background thread syncs at most this long after a write.
    Interval(Duration),
    /// Only writes with [`WriteOptions::sync`] (and rolls, for the old
    /// segment, in the background) sync; the rest survive a process crash
    /// but not a power failure.
    Never,
}

/// Per-write choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Sync the log before acknowledging, whatever the policy.
    pub sync: bool,
    /// Do not log the record: it still gets a sequence number and is
    /// applied, but is lost on a crash.
    pub disable_wal: bool,
}

/// Settings of a [`CommitPipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// When groups are synced.
    pub sync_policy: SyncPolicy,
    /// A leader stops adding records to its group past this many encoded
    /// bytes (its own record always fits).
    pub max_group_bytes: usize,
    /// Each segment reserves its space this many bytes at a time ahead of
    /// its frames (a preallocated log: `docs/FORMATS.md`); 0 reserves
    /// nothing. One sync per step commits a size change; the zeros a
    /// reservation leaves read as the segment's clean end.
    pub preallocate_step_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync_policy: SyncPolicy::Always,
            max_group_bytes: 1 << 20,
            preallocate_step_bytes: DEFAULT_PREALLOCATE_STEP_BYTES,
        }
    }
}

/// The default [`WalOptions::preallocate_step_bytes`]: 1 MiB, a size change
/// per MiB of log rather than per group.
pub const DEFAULT_PREALLOCATE_STEP_BYTES: u64 = 1 << 20;

/// What wakes a waiting writer.
enum Wake {
    /// Lead the next group.
    Lead,
    /// The request is done: its first sequence number or its error.
    Done(Result<SeqNo>),
}

/// Where one waiter sleeps; written by the leader, read by its owner.
struct Slot {
    wake: Mutex<Option<Wake>>,
    ready: Condvar,
}

impl Slot {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            wake: Mutex::new(None),
            ready: Condvar::new(),
        })
    }

    fn post(&self, wake: Wake) {
        *lock(&self.wake) = Some(wake);
        self.ready.notify_one();
    }

    fn wait(&self) -> Wake {
        let mut guard = lock(&self.wake);
        loop {
            if let Some(wake) = guard.take() {
                return wake;
            }
            guard = wait(&self.ready, guard);
        }
    }
}

/// A write as it waits in the queue.
struct Submitted {
    record: WriteRecord,
    options: WriteOptions,
    /// Bytes the record adds to its group's frames (0 when not logged),
    /// computed once when it is checked.
    frame_bytes: usize,
}

/// What a queued request asks for.
enum Request {
    /// Commit a write.
    Write(Submitted),
    /// Make every write logged before it durable: a group member without a
    /// record that asks for its group's sync (see [`CommitPipeline::persist`]).
    Persist,
    /// A roll or sync that its caller performs itself once it leads.
    Control,
}

/// A queued request.
struct Pending {
    request: Request,
    /// Where the requester sleeps; `None` for the request of a caller that
    /// led at once (the current leader, which reads its outcome directly).
    slot: Option<Arc<Slot>>,
}

/// A group member's bookkeeping beside its [`Sequenced`] record.
struct Member {
    /// As in [`Pending`]: `None` for the leader's own request.
    slot: Option<Arc<Slot>>,
    logged: bool,
    sync: bool,
}

/// One commit group, as its leader holds it: the writes with their
/// sequence numbers, their bookkeeping, and the persist requests it
/// answers.
struct Group {
    entries: Vec<Sequenced>,
    members: Vec<Member>,
    persisters: Vec<Option<Arc<Slot>>>,
}

/// Delivers a request's outcome: to its sleeping requester, or (no slot) to
/// the leader's own `outcome`.
fn deliver(slot: Option<Arc<Slot>>, result: Result<SeqNo>, outcome: &mut Option<Result<SeqNo>>) {
    match slot {
        Some(slot) => slot.post(Wake::Done(result)),
        None => *outcome = Some(result),
    }
}

/// The segment being written, owned by the leader while it leads.
struct ActiveLog {
    writer: LogWriter,
    segment: u64,
    frames: FrameBuffer,
    unsynced: bool,
    /// Switched to by a roll whose background work (the old segment's
    /// sync and the directory sync of this segment's new name) may still
    /// run: it must finish before the segment's first sync.
    name_unsynced: bool,
}

impl ActiveLog {
    fn new(writer: LogWriter, segment: u64) -> Self {
        Self {
            writer,
            segment,
            frames: FrameBuffer::new(),
            unsynced: false,
            name_unsynced: false,
        }
    }

    fn sync_if_needed(&mut self) -> Result<()> {
        if self.unsynced {
            self.writer.sync()?;
            self.unsynced = false;
        }
        Ok(())
    }
}

struct State {
    queue: VecDeque<Pending>,
    leader_active: bool,
    next_seq: SeqNo,
    poison: Option<WalError>,
    log: Option<ActiveLog>,
    /// Buffers lent to each leader, so forming a group allocates nothing
    /// once they have grown.
    group: Vec<Sequenced>,
    members: Vec<Member>,
    /// The wait slots of a group's persist requests (`None`: the leader's
    /// own), lent to each leader like `group`.
    persisters: Vec<Option<Arc<Slot>>>,
    /// Members of the last group formed (the gathering yield's yardstick).
    last_group_count: usize,
}

/// How a request joined the queue.
enum Joined<'a> {
    /// The caller leads now; with the slot it slept on if it waited for the
    /// leadership, `None` if it found no leader, in which case it still
    /// holds the state lock it found no leader under (so forming its group
    /// takes no second lock).
    Lead(Option<Arc<Slot>>, Option<MutexGuard<'a, State>>),
    /// Another leader finished it.
    Done(Result<SeqNo>),
}

pub(crate) struct Shared<A> {
    state: Mutex<State>,
    visible_seq: AtomicU64,
    last_seq: AtomicU64,
    apply: A,
    fs: SharedFileSystem,
    dir: PathBuf,
    options: WalOptions,
    /// The spare segment and the last roll's background work.
    tasks: Mutex<SegmentTasks>,
}

/// The write-ahead log's commit pipeline; share it (`&self` methods) among
/// writer threads.
pub struct CommitPipeline<A: Apply> {
    shared: Arc<Shared<A>>,
    /// Taken (and joined) by [`CommitPipeline::stop_syncer`].
    syncer: parking_lot::Mutex<Option<Syncer>>,
}

impl<A: Apply> std::fmt::Debug for CommitPipeline<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitPipeline")
            .field("dir", &self.shared.dir)
            .field("last_seq", &self.last_seq())
            .field("visible_seq", &self.visible_seq())
            .finish_non_exhaustive()
    }
}

impl<A: Apply> CommitPipeline<A> {
    /// Starts logging to a new segment `segment` in `dir` (which must not
    /// exist yet), continuing after `last_seq` (the larger of the manifest's
    /// and recovery's last sequence number).
    pub fn open(
        fs: SharedFileSystem,
        dir: &Path,
        segment: u64,
        last_seq: SeqNo,
        options: WalOptions,
        apply: A,
    ) -> Result<Self> {
        let writer = create_segment(&fs, dir, segment, options, &segment_path(dir, segment))?;
        let state = State {
            queue: VecDeque::new(),
            leader_active: false,
            next_seq: last_seq + 1,
            poison: None,
            log: Some(ActiveLog::new(writer, segment)),
            group: Vec::new(),
            members: Vec::new(),
            persisters: Vec::new(),
            last_group_count: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            visible_seq: AtomicU64::new(last_seq),
            last_seq: AtomicU64::new(last_seq),
            apply,
            fs,
            dir: dir.to_owned(),
            options,
            tasks: Mutex::new(SegmentTasks::default()),
        });
        let syncer = match options.sync_policy {
            SyncPolicy::Interval(period) => {
                let syncing = Arc::clone(&shared);
                Some(Syncer::start(move || syncing.sync(), period)?)
            }
            SyncPolicy::Always | SyncPolicy::Never => None,
        };
        Ok(Self {
            shared,
            syncer: parking_lot::Mutex::new(syncer),
        })
    }

    /// Commits `record`, returning its first sequence number once it is
    /// logged (and synced, per policy and `options`), applied and visible.
    pub fn write(&self, record: WriteRecord, options: WriteOptions) -> Result<SeqNo> {
        self.shared.write(record, options)
    }

    /// Closes the current segment (its records synced in the background)
    /// and continues in new segment `new_segment`, the spare when one was prepared (see
    /// [`Self::prepare_segment`]; a roll to another number is refused);
    /// returns the old segment's number. Runs in order with the writes:
    /// every write before it is in the old segment and applied, none after
    /// it is. The old segment's sync and trim and the sync of the new name
    /// run in the background (the module doc has the protocol).
    pub fn roll(&self, new_segment: u64) -> Result<u64> {
        self.roll_with(new_segment, |_| ()).map(|(old, ())| old)
    }

    /// Like [`Self::roll`], and runs `switch(old_segment)` at the switch
    /// point, before any later write is applied (the owner swaps its
    /// memtable there).
    pub fn roll_with<R>(
        &self,
        new_segment: u64,
        switch: impl FnOnce(u64) -> R,
    ) -> Result<(u64, R)> {
        Shared::roll_with(&self.shared, new_segment, switch)
    }

    /// Waits until every segment before the current one is durable: the
    /// last roll's background sync of the old segment (and its trim and
    /// the directory sync) is done. An owner that makes records durable
    /// elsewhere before the log does (a flush of one keyspace's memtable,
    /// whose table outlives a power loss that takes the old segment's
    /// unsynced tail, with the other keyspaces' share of the same batches)
    /// calls it first. A failure is the poison the background work left.
    ///
    /// The task stays in place with its outcome: the leader's own wait
    /// before the new segment's first sync must still find it (taking it
    /// here would let that sync acknowledge records while the old
    /// segment's sync is still running). It is joined under the tasks
    /// lock, which a roll and a switch take too; a flush calls this long
    /// after the roll, when the work is normally done.
    pub fn sync_closed_segments(&self) -> Result<()> {
        let mut tasks = lock(&self.shared.tasks);
        match tasks.retiring.as_mut() {
            Some(retiring) => {
                retiring.join();
                retiring.failure().cloned().map_or(Ok(()), Err)
            }
            None => Ok(()),
        }
    }

    /// Makes every logged record durable now.
    pub fn sync(&self) -> Result<()> {
        self.shared.sync()
    }

    /// Creates segment `number` (above the current segment's) in the
    /// background, under its temporary name, as the spare the next roll
    /// switches to without creating a file; the owner reserves the number.
    /// Refused while another spare is prepared. A failure to create it is
    /// reported by that roll.
    pub fn prepare_segment(&self, number: u64) -> Result<()> {
        let mut tasks = lock(&self.shared.tasks);
        if tasks.spare.is_some() {
            return Err(WalError::InvalidWrite {
                reason: "a spare segment is already prepared",
            });
        }
        let (fs, dir, options) = (
            SharedFileSystem::clone(&self.shared.fs),
            self.shared.dir.clone(),
            self.shared.options,
        );
        let temp = spare_path(&dir, number);
        let task = Task::start("seer-wal-spare", temp.clone(), move || {
            create_segment(&fs, &dir, number, options, &temp)
        });
        tasks.spare = Some(Spare {
            segment: number,
            task,
        });
        Ok(())
    }

    /// Waits until the prepared spare (if any) is created, and returns the
    /// failure to create it (the spare stays prepared, so the next roll
    /// fails with it too). An owner that wants the directory's files
    /// settled, or a failure reported now, calls this.
    pub fn wait_for_spare(&self) -> Result<()> {
        let mut tasks = lock(&self.shared.tasks);
        let Some(spare) = &mut tasks.spare else {
            return Ok(());
        };
        spare.task.join();
        spare
            .task
            .failure()
            .map_or(Ok(()), |error| Err(error.clone()))
    }

    /// The number of the prepared spare segment, if any.
    pub fn spare_segment(&self) -> Option<u64> {
        self.shared.spare_segment()
    }

    /// Makes every write acknowledged before the call durable, without
    /// logging a record: the request joins the next commit group as a
    /// member without a record, and that group syncs the log after
    /// appending its records (if anything was appended since the last
    /// sync). So concurrent calls, and synced writes, share one
    /// `fdatasync` per group; a call queued behind an in-flight sync waits
    /// for it. Returns the visible sequence number after the group. A
    /// failed sync poisons the pipeline, as for a write.
    pub fn persist(&self) -> Result<SeqNo> {
        self.shared.submit(Request::Persist)
    }

    /// Publishes `seq` as visible and moves the next sequence number past
    /// it (never back): for a sequence number the owner gave data outside
    /// the log (a bulk load's tables, which its manifest records). The
    /// owner guarantees that no write is in flight meanwhile. The log then
    /// skips `seq`, which recovery allows (sequence numbers only ascend).
    pub fn advance_past(&self, seq: SeqNo) {
        let mut state = lock(&self.shared.state);
        if state.next_seq <= seq {
            state.next_seq = seq + 1;
        }
        self.shared.last_seq.fetch_max(seq, Ordering::AcqRel);
        self.shared.visible_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// The last sequence number handed out (possibly not yet visible).
    pub fn last_seq(&self) -> SeqNo {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// The newest sequence number whose group, and everything before it,
    /// is applied. Reads and snapshots use this.
    pub fn visible_seq(&self) -> SeqNo {
        self.shared.visible_seq.load(Ordering::Acquire)
    }

    /// The number of the segment being written.
    pub fn segment(&self) -> u64 {
        let state = lock(&self.shared.state);
        state.log.as_ref().map_or(0, |log| log.segment)
    }

    /// The failure that poisoned the pipeline, if any.
    pub fn poison(&self) -> Option<WalError> {
        lock(&self.shared.state).poison.clone()
    }

    /// The owner's apply callback.
    pub fn applier(&self) -> &A {
        &self.shared.apply
    }

    /// Syncs what was logged, cuts the unused reservation off the segment,
    /// removes the spare and stops the background threads.
    pub fn close(self) -> Result<()> {
        self.stop_syncer();
        self.sync_and_trim()
    }

    /// Makes every logged record durable, waits for the last roll's
    /// background work, cuts the segment's unused reservation off, so it
    /// ends at its last record, and removes the prepared spare (an owner
    /// that closes without giving up the pipeline calls this). Later
    /// writes still work; they extend the file without a reservation.
    pub fn sync_and_trim(&self) -> Result<()> {
        self.shared.sync_and_trim()
    }

    /// Stops and joins the background syncer of
    /// [`SyncPolicy::Interval`](crate::SyncPolicy) and waits for the
    /// background work of rolls and [`Self::prepare_segment`], so the log
    /// does no more I/O of its own (an owner that must stop touching the
    /// directory before the pipeline is dropped calls this). Idempotent;
    /// a later roll or prepared spare starts background work again.
    pub fn stop_syncer(&self) {
        let syncer = self.syncer.lock().take();
        if let Some(syncer) = syncer {
            syncer.stop();
        }
        lock(&self.shared.tasks).join_all();
    }
}

impl<A: Apply> Drop for CommitPipeline<A> {
    fn drop(&mut self) {
        self.stop_syncer();
    }
}

/// The temporary name of spare segment `segment` until a roll renames it.
fn spare_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(file_name(FileKind::Temp, segment))
}

/// Creates segment `segment` at `path` (its name, or its spare's), which
/// must not exist under its segment name yet.
fn create_segment(
    fs: &SharedFileSystem,
    dir: &Path,
    segment: u64,
    options: WalOptions,
    path: &Path,
) -> Result<LogWriter> {
    let final_path = segment_path(dir, segment);
    if fs
        .exists(&final_path)
        .map_err(|e| WalError::io(&final_path, e))?
    {
        let exists = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "WAL segment exists");
        return Err(WalError::io(&final_path, exists));
    }
    let header = LogHeader {
        kind: LogKind::Wal,
        file_number: segment,
    };
    Ok(LogWriter::create_preallocated(
        fs.as_ref(),
        path,
        header,
        options.preallocate_step_bytes,
    )?)
}

/// A roll's background work on the old segment: syncs its records (if any
/// are unsynced), cuts its reservation off, then syncs the directory so the
/// new segment's name (renamed from the spare's) is durable.
fn retire_segment(fs: &SharedFileSystem, dir: &Path, mut old: ActiveLog) -> Result<()> {
    old.sync_if_needed()?;
    trim_segment(fs, &mut old);
    drop(old);
    fs.sync_dir(dir).map_err(|e| WalError::io(dir, e))
}

/// Cuts the unused reservation off a segment that is retired or closed. Its
/// records are synced, and zeros after them read as a clean end, so a
/// failure only leaves the zeros: it is logged, not returned.
fn trim_segment(fs: &SharedFileSystem, log: &mut ActiveLog) {
    if let Err(error) = log.writer.trim_reservation(fs.as_ref()) {
        tracing::warn!(segment = log.segment, %error, "WAL segment keeps its unused reservation");
    }
}

/// Checks a write and returns it ready to queue, with its frame's size.
fn check_write(record: WriteRecord, options: WriteOptions) -> Result<Submitted> {
    let reason = if record.seq_count() == 0 {
        "an empty batch"
    } else if options.sync && options.disable_wal {
        "sync and disable_wal together"
    } else if options.disable_wal {
        return Ok(Submitted {
            record,
            options,
            frame_bytes: 0,
        });
    } else {
        let payload_bytes = record.encoded_len();
        if payload_bytes > MAX_FRAME_PAYLOAD_BYTES {
            "a record larger than a frame"
        } else {
            return Ok(Submitted {
                record,
                options,
                frame_bytes: FRAME_HEADER_BYTES + payload_bytes,
            });
        }
    };
    Err(WalError::InvalidWrite { reason })
}

fn poisoned(cause: &WalError) -> WalError {
    match cause {
        WalError::Poisoned { .. } => cause.clone(),
        other => WalError::Poisoned {
            cause: Box::new(other.clone()),
        },
    }
}

fn log_missing() -> WalError {
    WalError::InvalidWrite {
        reason: "the log is unavailable",
    }
}

impl<A: Apply> Shared<A> {
    fn write(&self, record: WriteRecord, options: WriteOptions) -> Result<SeqNo> {
        let submitted = check_write(record, options)?;
        self.submit(Request::Write(submitted))
    }

    /// Queues a write or persist request and returns its outcome, leading
    /// groups until another leader completes it.
    fn submit(&self, request: Request) -> Result<SeqNo> {
        match self.join(request)? {
            Joined::Done(result) => result,
            Joined::Lead(slot, state) => match (self.lead_group(state), slot) {
                (Some(result), _) => result,
                (None, Some(slot)) => match slot.wait() {
                    Wake::Done(result) => result,
                    Wake::Lead => Err(log_missing()),
                },
                (None, None) => Err(log_missing()),
            },
        }
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.await_leadership()?;
        let mut log = self.take_front_log();
        let result = log
            .as_mut()
            .map_or_else(|| Err(log_missing()), |active| self.sync_log(active));
        self.end_leadership(log, result.as_ref().err());
        result
    }

    /// Syncs the log and trims its reservation, in order with the writes.
    fn sync_and_trim(&self) -> Result<()> {
        self.await_leadership()?;
        let mut log = self.take_front_log();
        let result = log.as_mut().map_or_else(
            || Err(log_missing()),
            |active| {
                self.sync_log(active)?;
                self.finish_retiring()?;
                trim_segment(&self.fs, active);
                self.discard_spare();
                Ok(())
            },
        );
        self.end_leadership(log, result.as_ref().err());
        result
    }

    fn roll_with<R>(
        shared: &Arc<Self>,
        new_segment: u64,
        switch: impl FnOnce(u64) -> R,
    ) -> Result<(u64, R)> {
        shared.await_leadership()?;
        let mut log = shared.take_front_log();
        let result = match log.as_mut() {
            None => Err(log_missing()),
            Some(active) if new_segment <= active.segment => {
                shared.end_leadership(log, None);
                return Err(WalError::InvalidWrite {
                    reason: "a new segment must have a larger number",
                });
            }
            Some(_)
                if shared
                    .spare_segment()
                    .is_some_and(|spare| spare != new_segment) =>
            {
                shared.end_leadership(log, None);
                return Err(WalError::InvalidWrite {
                    reason: "a roll must switch to the prepared spare segment",
                });
            }
            Some(active) => Self::roll_log(shared, active, new_segment),
        };
        let result = result.map(|old| (old, switch(old)));
        shared.end_leadership(log, result.as_ref().err());
        result
    }

    /// Switches `log` to segment `new_segment` (see the module doc): the
    /// previous roll's work finished, the spare (or a segment created now)
    /// renamed, its predecessor record appended, the old segment's sync,
    /// trim and the directory sync started in the background.
    fn roll_log(shared: &Arc<Self>, log: &mut ActiveLog, new_segment: u64) -> Result<u64> {
        let mut tasks = lock(&shared.tasks);
        if let Some(previous) = tasks.retiring.take() {
            previous.wait()?;
        }
        let spare = tasks.spare.take_if(|spare| spare.segment == new_segment);
        let mut writer = match spare {
            Some(spare) => spare.task.wait()?,
            None => create_segment(
                &shared.fs,
                &shared.dir,
                new_segment,
                shared.options,
                &spare_path(&shared.dir, new_segment),
            )?,
        };
        writer.rename(shared.fs.as_ref(), &segment_path(&shared.dir, new_segment))?;
        let mut payload = Vec::with_capacity(PredecessorRecord::ENCODED_BYTES);
        PredecessorRecord {
            segment: log.segment,
            length_bytes: log.writer.len_bytes(),
            last_seq: shared.last_seq.load(Ordering::Acquire),
        }
        .encode(&mut payload);
        writer.add_frame(&payload)?;
        let old = std::mem::replace(log, ActiveLog::new(writer, new_segment));
        log.unsynced = true;
        log.name_unsynced = true;
        let old_segment = old.segment;
        let retiring = Arc::clone(shared);
        tasks.retiring = Some(Task::start(
            "seer-wal-retire",
            shared.dir.clone(),
            move || {
                let retired = retire_segment(&retiring.fs, &retiring.dir, old);
                if let Err(error) = &retired {
                    retiring.poison_in_background(error);
                }
                retired
            },
        ));
        Ok(old_segment)
    }

    /// Poisons the pipeline for a failure of background work whose
    /// outcome no request waits for yet (the old segment's sync after a
    /// roll): the owner hears of it now, later requests fail, and the
    /// current leader fails the queued ones when it hands over.
    fn poison_in_background(&self, error: &WalError) {
        let mut state = lock(&self.state);
        self.record_poison(&mut state, error);
    }

    /// Records the first failure as the poison and tells the owner.
    fn record_poison(&self, state: &mut State, error: &WalError) {
        if state.poison.is_none() {
            tracing::error!(%error, "write-ahead log poisoned");
            state.poison = Some(error.clone());
            self.apply.poisoned(error);
        }
    }

    /// The number of the prepared spare, if any.
    fn spare_segment(&self) -> Option<u64> {
        lock(&self.tasks).spare.as_ref().map(|spare| spare.segment)
    }

    /// Makes everything logged durable: the segment's name first, when a
    /// roll renamed it and its directory sync may still be running, then
    /// its records, if any are unsynced.
    fn sync_log(&self, log: &mut ActiveLog) -> Result<()> {
        if log.name_unsynced {
            self.finish_retiring()?;
            log.name_unsynced = false;
        }
        log.sync_if_needed()
    }

    /// Waits for the last roll's background work and returns its outcome.
    fn finish_retiring(&self) -> Result<()> {
        let retiring = lock(&self.tasks).retiring.take();
        retiring.map_or(Ok(()), Task::wait)
    }

    /// Removes the prepared spare (its number is then unused). A failure
    /// leaves an orphan that recovery deletes: it is logged, not returned.
    fn discard_spare(&self) {
        let Some(spare) = lock(&self.tasks).spare.take() else {
            return;
        };
        let path = spare_path(&self.dir, spare.segment);
        let removed = match spare.task.wait() {
            Ok(writer) => {
                drop(writer);
                self.fs
                    .remove_file(&path)
                    .map_err(|e| WalError::io(&path, e))
            }
            Err(error) => Err(error),
        };
        if let Err(error) = removed {
            tracing::warn!(segment = spare.segment, %error, "spare WAL segment left behind");
        }
    }

    /// Queues a request; returns whether the caller leads or is done.
    ///
    /// A caller that finds no leader leads at once, without a wait slot.
    /// One that finds a leader allocates its slot outside the state lock
    /// and looks again, as the leadership may have lapsed meanwhile.
    fn join(&self, request: Request) -> Result<Joined<'_>> {
        let mut slot: Option<Arc<Slot>> = None;
        loop {
            let mut state = lock(&self.state);
            if let Some(cause) = &state.poison {
                return Err(poisoned(cause));
            }
            // Invariant: with no leader the queue is empty, so a caller that
            // takes the leadership here is at the front.
            debug_assert!(state.leader_active || state.queue.is_empty());
            if !state.leader_active {
                state.leader_active = true;
                state.queue.push_back(Pending {
                    request,
                    slot: None,
                });
                return Ok(Joined::Lead(None, Some(state)));
            }
            let Some(waiter) = slot.take() else {
                drop(state);
                slot = Some(Slot::new());
                continue;
            };
            state.queue.push_back(Pending {
                request,
                slot: Some(Arc::clone(&waiter)),
            });
            drop(state);
            return Ok(match waiter.wait() {
                Wake::Lead => Joined::Lead(Some(waiter), None),
                Wake::Done(result) => Joined::Done(result),
            });
        }
    }

    /// Waits until a roll or sync request leads.
    fn await_leadership(&self) -> Result<()> {
        match self.join(Request::Control)? {
            Joined::Lead(..) => Ok(()),
            Joined::Done(result) => result.map(|_| ()),
        }
    }

    /// Removes the leader's own control request and takes the log.
    fn take_front_log(&self) -> Option<ActiveLog> {
        let mut state = lock(&self.state);
        let front = state.queue.pop_front();
        debug_assert!(front.is_some_and(|p| matches!(p.request, Request::Control)));
        state.log.take()
    }

    /// Leads one group of writes and persist requests, from the front of
    /// the queue, under `state` if the caller still holds the lock. Returns
    /// the outcome of the leader's own request if it has no wait slot.
    fn lead_group(&self, state: Option<MutexGuard<'_, State>>) -> Option<Result<SeqNo>> {
        let mut outcome = None;
        let (mut log, mut group) = {
            let mut state = state.unwrap_or_else(|| lock(&self.state));
            if self.should_gather(&state) {
                drop(state);
                yield_now();
                state = lock(&self.state);
            }
            let mut group = Group {
                entries: std::mem::take(&mut state.group),
                members: std::mem::take(&mut state.members),
                persisters: std::mem::take(&mut state.persisters),
            };
            self.form_group(&mut state, &mut group, &mut outcome);
            (state.log.take(), group)
        };
        let result = match log.as_mut() {
            Some(active) => self.commit(active, &group),
            None => Err(log_missing()),
        };
        for (entry, member) in group.entries.drain(..).zip(group.members.drain(..)) {
            let member_result = match &result {
                Ok(()) => Ok(entry.seq),
                Err(error) => Err(error.clone()),
            };
            deliver(member.slot, member_result, &mut outcome);
        }
        if !group.persisters.is_empty() {
            let visible_seq = self.visible_seq.load(Ordering::Acquire);
            for slot in group.persisters.drain(..) {
                let persist_result = match &result {
                    Ok(()) => Ok(visible_seq),
                    Err(error) => Err(error.clone()),
                };
                deliver(slot, persist_result, &mut outcome);
            }
        }
        let mut state = lock(&self.state);
        state.group = group.entries;
        state.members = group.members;
        state.persisters = group.persisters;
        self.hand_over(state, log, result.err().as_ref());
        outcome
    }

    /// Whether the leader should yield once before forming its group: the
    /// group will be synced and fewer requests are queued than the last
    /// group had members.
    fn should_gather(&self, state: &State) -> bool {
        state.queue.len() < state.last_group_count
            && (self.options.sync_policy == SyncPolicy::Always
                || state.queue.iter().any(|p| match &p.request {
                    Request::Write(write) => write.options.sync,
                    Request::Persist => true,
                    Request::Control => false,
                }))
    }

    /// Takes the writes and persist requests at the front of the queue
    /// into `group` (up to `max_group_bytes` of frames), giving the writes
    /// their sequence numbers.
    fn form_group(
        &self,
        state: &mut State,
        group: &mut Group,
        outcome: &mut Option<Result<SeqNo>>,
    ) {
        let mut group_bytes = 0;
        loop {
            let frame_bytes = match state.queue.front() {
                Some(Pending {
                    request: Request::Write(write),
                    ..
                }) => write.frame_bytes,
                Some(Pending {
                    request: Request::Persist,
                    ..
                }) => {
                    if let Some(persist) = state.queue.pop_front() {
                        group.persisters.push(persist.slot);
                    }
                    continue;
                }
                _ => break,
            };
            if !group.entries.is_empty() && group_bytes + frame_bytes > self.options.max_group_bytes
            {
                break;
            }
            let Some(Pending {
                request:
                    Request::Write(Submitted {
                        record, options, ..
                    }),
                slot,
            }) = state.queue.pop_front()
            else {
                break;
            };
            let seq = state.next_seq;
            let Some(last) = seq
                .checked_add(record.seq_count() - 1)
                .filter(|&last| last <= MAX_SEQ)
            else {
                deliver(slot, Err(WalError::SequenceExhausted), outcome);
                continue;
            };
            group_bytes += frame_bytes;
            state.next_seq = last + 1;
            group.entries.push(Sequenced { seq, record });
            group.members.push(Member {
                slot,
                logged: !options.disable_wal,
                sync: options.sync,
            });
        }
        state.last_group_count = group.members.len() + group.persisters.len();
        self.last_seq.store(state.next_seq - 1, Ordering::Release);
    }

    /// Logs and syncs one group, then applies and publishes its writes.
    fn commit(&self, log: &mut ActiveLog, group: &Group) -> Result<()> {
        log.frames.clear();
        for (entry, member) in group.entries.iter().zip(&group.members) {
            if member.logged {
                log.frames
                    .push_frame_with(|out| entry.record.encode(entry.seq, out));
            }
        }
        if !log.frames.is_empty() {
            log.writer.append_frames(&log.frames)?;
            log.unsynced = true;
        }
        let sync_wanted = !group.persisters.is_empty()
            || group.members.iter().any(|m| m.sync)
            || (self.options.sync_policy == SyncPolicy::Always && !log.frames.is_empty());
        if sync_wanted {
            self.sync_log(log)?;
        }
        let (Some(first), Some(last)) = (group.entries.first(), group.entries.last()) else {
            return Ok(());
        };
        debug_assert!(self.visible_seq.load(Ordering::Acquire) < first.seq);
        self.apply
            .apply(&group.entries)
            .map_err(|error| WalError::Apply {
                source: std::sync::Arc::new(error),
            })?;
        let last_seq = last.seq + last.record.seq_count() - 1;
        self.visible_seq.store(last_seq, Ordering::Release);
        Ok(())
    }

    fn end_leadership(&self, log: Option<ActiveLog>, failure: Option<&WalError>) {
        self.hand_over(lock(&self.state), log, failure);
    }

    /// Returns the log, records a failure, and passes the leadership to the
    /// request now at the front (or lets it lapse).
    fn hand_over(
        &self,
        mut state: MutexGuard<'_, State>,
        log: Option<ActiveLog>,
        failure: Option<&WalError>,
    ) {
        state.log = log;
        if let Some(error) = failure {
            self.record_poison(&mut state, error);
        }
        // A failure of this leader's or of a roll's background work.
        if let Some(cause) = state.poison.clone() {
            // Queued requests all sleep on slots: the only request without
            // one is the leader's own, which left the queue when it led.
            for pending in state.queue.drain(..) {
                if let Some(slot) = pending.slot {
                    slot.post(Wake::Done(Err(poisoned(&cause))));
                }
            }
        }
        match state.queue.front() {
            Some(next) => {
                debug_assert!(next.slot.is_some(), "a queued request without a slot");
                if let Some(slot) = &next.slot {
                    slot.post(Wake::Lead);
                }
            }
            None => state.leader_active = false,
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "pipeline_tests.rs"]
mod tests;

#[cfg(all(test, loom))]
#[path = "pipeline_loom.rs"]
mod loom_models;
