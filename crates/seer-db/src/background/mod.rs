//! Background work: one flush thread turning the oldest immutable memtable
//! into a level-0 table, and `background_threads` compaction threads
//! running the picker. Threads sleep on channels (a wake-up is a message),
//! never poll; each
//! step bumps a progress generation under a condition variable that
//! stalled writers, `flush()` and `compact_range()` wait on. A failure or a
//! panic of a job is recorded in the health state, which turns the database
//! read-only; the thread lives on. `close()` stops all of it at the next
//! safe point before it releases the directory (see [`crate::lifecycle`]).
//!
//! The jobs see the engine through a [`JobContext`]: the parts they read and
//! change (options, files, memtables, tree, live snapshots, health, metrics,
//! lifecycle and the jobs' own state), never the write path (commit
//! pipeline, backpressure, commit gates). The threads hold the engine only
//! weakly, as an owner they know nothing of but the function that lends them
//! its context.

mod compaction;
mod flush;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};
use seer_compaction::{ExecutorContext, PolicyParams};
use seer_core::SharedFileSystem;
use seer_sstable::BlockCache;
use seer_wal::CommitPipeline;

use crate::dir::DbDir;
use crate::error::{Error, Result};
use crate::health::HealthState;
use crate::keyspace_routes::KeyspaceRoutes;
use crate::keyspace_routes::MemtableApplier;
use crate::level0::executor_context;
use crate::lifecycle::Lifecycle;
use crate::memtables::Memtables;
use crate::metrics::Metrics;
use crate::options::DBOptions;
use crate::snapshot_registry::LiveSnapshots;
use crate::tree::OpenVersionSet;

pub(crate) use compaction::{compact_range, while_no_compaction_runs, CompactionState};

/// The parts of the engine a background job uses, lent for one step.
pub(crate) struct JobContext<'a> {
    /// The options the database was opened with.
    pub options: &'a DBOptions,
    /// The database directory.
    pub dir: &'a DbDir,
    /// The file system the directory is on.
    pub fs: &'a SharedFileSystem,
    /// The block cache new tables share.
    pub block_cache: &'a Option<Arc<BlockCache>>,
    /// The memtable set: flushes take its oldest immutable.
    pub memtables: &'a Memtables,
    /// The on-disk tree the jobs install their edits into.
    pub tree: &'a OpenVersionSet,
    /// Every open keyspace's memtables and tree: a flush deletes only the
    /// WAL segments all of them flushed past.
    pub routes: &'a KeyspaceRoutes,
    /// The database directory, which holds the WAL.
    pub wal_dir: &'a std::path::Path,
    /// The live snapshots a flush or compaction must keep.
    pub snapshots: LiveSnapshots<'a>,
    /// The jobs' own state: wake-ups, progress, compaction picker.
    pub jobs: &'a Jobs,
    /// Where a failure is recorded (the database turns read-only).
    pub health: &'a HealthState,
    /// The byte and job counters.
    pub metrics: &'a Metrics,
    /// The gate every job's I/O passes.
    pub lifecycle: &'a Lifecycle,
    /// The database's commit pipeline (`None` read-only): a flush waits
    /// for the segments its memtable was logged in to be durable.
    pub wal: Option<&'a Arc<CommitPipeline<MemtableApplier>>>,
}

impl JobContext<'_> {
    /// The options the database was opened with.
    pub(crate) fn options(&self) -> &DBOptions {
        self.options
    }

    /// The memtable set.
    pub(crate) fn memtables(&self) -> &Memtables {
        self.memtables
    }

    /// The on-disk tree.
    pub(crate) fn tree(&self) -> &OpenVersionSet {
        self.tree
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        self.metrics
    }

    /// Fails with [`Error::Closed`] once closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        self.lifecycle.check_open()
    }

    /// The executor context of a flush or compaction starting now.
    pub(crate) fn executor_context(&self) -> ExecutorContext {
        ExecutorContext {
            // Loaded before the live snapshots: a reader registered in
            // between is one registered while the work runs.
            newest_reader_seq: self.snapshots.newest_registered_seq(),
            ..executor_context(
                self.options(),
                self.fs,
                self.dir.path(),
                self.block_cache.clone(),
                self.snapshots.live_seqs(),
            )
        }
    }
}

/// How a background thread borrows the [`JobContext`] from the engine it
/// holds weakly.
pub(crate) type LendContext<E> = for<'a> fn(&'a E) -> JobContext<'a>;

/// The work of one background step.
type Work = fn(&JobContext<'_>) -> Result<()>;

/// A message to a background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Look for work.
    Work,
    /// Exit.
    Stop,
}

/// The background threads' wake-up channels and progress condition.
#[derive(Debug)]
pub(crate) struct Jobs {
    flush_tx: Sender<Signal>,
    flush_rx: Receiver<Signal>,
    compact_tx: Sender<Signal>,
    compact_rx: Receiver<Signal>,
    progress: Mutex<u64>,
    progressed: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    compaction_threads: usize,
    pub(crate) compaction: CompactionState,
}

impl Jobs {
    /// The jobs of a database opened with `options`; `recorded_policy` is
    /// the compaction policy its manifest recorded.
    pub(crate) fn new(options: &DBOptions, recorded_policy: Option<PolicyParams>) -> Self {
        let (flush_tx, flush_rx) = unbounded();
        let (compact_tx, compact_rx) = unbounded();
        Self {
            flush_tx,
            flush_rx,
            compact_tx,
            compact_rx,
            progress: Mutex::new(0),
            progressed: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            compaction_threads: options.background_threads,
            compaction: CompactionState::new(options, recorded_policy),
        }
    }

    /// Wakes the flush thread.
    pub(crate) fn wake_flush(&self) {
        wake(&self.flush_tx);
    }

    /// Wakes a compaction thread.
    pub(crate) fn wake_compaction(&self) {
        wake(&self.compact_tx);
    }

    /// The current progress generation.
    pub(crate) fn progress_generation(&self) -> u64 {
        *self.progress.lock()
    }

    /// Announces that a flush or compaction finished (or failed).
    pub(crate) fn announce_progress(&self) {
        *self.progress.lock() += 1;
        self.progressed.notify_all();
    }

    /// Waits until the generation moves past `seen` or `deadline` passes.
    pub(crate) fn wait_progress(&self, seen: u64, deadline: Instant) {
        let mut generation = self.progress.lock();
        while *generation == seen {
            if self
                .progressed
                .wait_until(&mut generation, deadline)
                .timed_out()
            {
                return;
            }
        }
    }

    /// Stops and joins every thread (except the calling one, when a
    /// background thread drops the last handle).
    pub(crate) fn stop(&self) {
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock());
        if threads.is_empty() {
            return;
        }
        // Unbounded channels: sending never blocks, even from a background
        // thread that is itself stopping.
        let _ = self.flush_tx.send(Signal::Stop);
        for _ in 0..self.compaction_threads {
            let _ = self.compact_tx.send(Signal::Stop);
        }
        let me = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() == me {
                continue;
            }
            if thread.join().is_err() {
                tracing::error!("a background thread panicked");
            }
        }
        self.announce_progress();
    }
}

fn wake(tx: &Sender<Signal>) {
    // Fails only when the threads are gone (closing): nothing to wake.
    let _ = tx.send(Signal::Work);
}

/// Starts the flush thread and the compaction threads of `owner` (the
/// engine), which lends each step its context through `context`.
pub(crate) fn start<E: Send + Sync + 'static>(
    owner: &Arc<E>,
    context: LendContext<E>,
) -> Result<()> {
    let db = context(owner);
    let mut threads = db.jobs.threads.lock();
    let flush = spawn(
        owner,
        context,
        "seerdb-flush",
        "flush",
        db.jobs.flush_rx.clone(),
        flush::flush_all,
    )?;
    threads.push(flush);
    for index in 0..db.jobs.compaction_threads {
        let name = format!("seerdb-compact-{index}");
        let thread = spawn(
            owner,
            context,
            &name,
            "compaction",
            db.jobs.compact_rx.clone(),
            compaction::compact_while_needed,
        )?;
        threads.push(thread);
    }
    drop(threads);
    db.jobs.wake_compaction();
    Ok(())
}

/// Starts the thread `name` that runs `work`, the background `job`
/// (`flush` or `compaction`, the label its failures carry), at each signal.
fn spawn<E: Send + Sync + 'static>(
    owner: &Arc<E>,
    context: LendContext<E>,
    name: &str,
    job: &'static str,
    rx: Receiver<Signal>,
    work: Work,
) -> Result<JoinHandle<()>> {
    let weak: Weak<E> = Arc::downgrade(owner);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run(weak, context, rx, job, work))
        .map_err(|e| Error::io(name, e))
}

/// How long a background thread waits for a signal before it looks for
/// work anyway (see [`run`]).
const IDLE_WAKE_PERIOD: std::time::Duration = std::time::Duration::from_secs(60);

fn run<E>(
    weak: Weak<E>,
    context: LendContext<E>,
    rx: Receiver<Signal>,
    job: &'static str,
    work: Work,
) {
    loop {
        // An idle database's threads look for work now and then too: a
        // table's expired data asks for a compaction once the clock
        // passes it, with no write to wake anything.
        match rx.recv_timeout(IDLE_WAKE_PERIOD) {
            Ok(Signal::Work) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(owner) = weak.upgrade() else {
            return;
        };
        let db = context(&owner);
        if db.health.check_writable().is_ok() && db.check_open().is_ok() {
            run_step(&db, job, work);
        }
        db.jobs.announce_progress();
    }
}

/// Runs `work` once; a failure or a panic is recorded in the health state
/// (the thread lives on). Work abandoned because the database closes ends
/// with [`Error::Closed`], which is no failure.
fn run_step(db: &JobContext<'_>, job: &'static str, work: Work) {
    match std::panic::catch_unwind(AssertUnwindSafe(|| work(db))) {
        Ok(Ok(()) | Err(Error::Closed)) => {}
        Ok(Err(error)) => record_failure(db, job, error),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            record_failure(
                db,
                job,
                Error::Background {
                    job,
                    reason: format!("panicked: {reason}"),
                },
            );
        }
    }
}

/// Records a background failure: the database turns read-only.
pub(crate) fn record_failure(db: &JobContext<'_>, job: &'static str, error: Error) {
    tracing::error!(job, %error, "background job failed");
    let cause = match error {
        already @ Error::Background { .. } => already,
        other => Error::Background {
            job,
            reason: other.to_string(),
        },
    };
    db.health.set_read_only(cause);
    db.jobs.announce_progress();
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::health::HealthStatus;
    use crate::options::DBOptions;

    /// A background job that panics turns the database read-only with the
    /// panic's message in `health()`, instead of its thread dying silently.
    #[test]
    fn a_panicking_background_job_is_reported_in_health() {
        let dir = tempfile::tempdir().unwrap();
        let db = DBOptions::default().open(dir.path()).unwrap();
        super::run_step(&db.inner.job_context(), "compaction", |_| {
            panic!("injected panic")
        });
        match db.health().status {
            HealthStatus::ReadOnly(Error::Background { job, reason }) => {
                assert_eq!(job, "compaction");
                assert!(reason.contains("injected panic"), "{reason}");
            }
            other => panic!("health after a panicking job: {other:?}"),
        }
        assert!(db.put("k", "v").is_err());
        assert_eq!(db.get("k").unwrap(), None);
    }
}
