//! Background work: one flush thread turning the oldest immutable memtable
//! into a level-0 table, and `background_threads` compaction threads
//! running the picker. Threads sleep on channels (a wake-up is a message),
//! never poll; each
//! step bumps a progress generation under a condition variable that
//! stalled writers, `flush()` and `compact_range()` wait on. A failure or a
//! panic of a job is recorded in the health state, which turns the database
//! read-only; the thread lives on. Also `close()`, which stops all of it at
//! the next safe point before it releases the directory (see
//! [`crate::lifecycle`]).

mod compaction;
mod flush;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use seer_compaction::PolicyParams;

use crate::db::DbInner;
use crate::error::{Error, Result};
use crate::options::DBOptions;

pub(crate) use compaction::CompactionState;
pub(crate) use flush::{executor_context, largest_seq, write_level0};

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

/// Starts the flush thread and the compaction threads.
pub(crate) fn start(db: &Arc<DbInner>) -> Result<()> {
    let mut threads = db.jobs.threads.lock();
    let flush = spawn(
        db,
        "seerdb-flush",
        "flush",
        db.jobs.flush_rx.clone(),
        flush::flush_all,
    )?;
    threads.push(flush);
    for index in 0..db.jobs.compaction_threads {
        let name = format!("seerdb-compact-{index}");
        let thread = spawn(
            db,
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
fn spawn(
    db: &Arc<DbInner>,
    name: &str,
    job: &'static str,
    rx: Receiver<Signal>,
    work: fn(&DbInner) -> Result<()>,
) -> Result<JoinHandle<()>> {
    let weak: Weak<DbInner> = Arc::downgrade(db);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || run(weak, rx, job, work))
        .map_err(|e| Error::io(name, e))
}

fn run(
    weak: Weak<DbInner>,
    rx: Receiver<Signal>,
    job: &'static str,
    work: fn(&DbInner) -> Result<()>,
) {
    while let Ok(Signal::Work) = rx.recv() {
        let Some(db) = weak.upgrade() else {
            return;
        };
        if db.health.check_writable().is_ok() && db.check_open().is_ok() {
            run_step(&db, job, work);
        }
        db.jobs.announce_progress();
    }
}

/// Runs `work` once; a failure or a panic is recorded in the health state
/// (the thread lives on). Work abandoned because the database closes ends
/// with [`Error::Closed`], which is no failure.
fn run_step(db: &DbInner, job: &'static str, work: fn(&DbInner) -> Result<()>) {
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
pub(crate) fn record_failure(db: &DbInner, job: &'static str, error: Error) {
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

impl DbInner {
    /// Switches a non-empty memtable and waits until every memtable
    /// holding a write made before the call is flushed (or a failure or
    /// close makes that impossible). Memtables switched later, by
    /// concurrent writes, are not waited for.
    pub(crate) fn flush(&self) -> Result<()> {
        let waited_for: Vec<Arc<seer_memtable::Memtable>> = {
            let _active = self.lifecycle.enter()?;
            self.health.check_writable()?;
            self.switch_memtable(true)?;
            self.memtables()
                .immutables()
                .iter()
                .map(|frozen| Arc::clone(&frozen.memtable))
                .collect()
        };
        self.jobs.wake_flush();
        loop {
            let generation = self.jobs.progress_generation();
            self.health.check_writable()?;
            self.check_open()?;
            let immutables = self.memtables().immutables();
            let pending = waited_for.iter().any(|memtable| {
                immutables
                    .iter()
                    .any(|frozen| Arc::ptr_eq(&frozen.memtable, memtable))
            });
            if !pending {
                return Ok(());
            }
            drop(immutables);
            let deadline = Instant::now() + self.options().write_stall_timeout;
            self.jobs.wait_progress(generation, deadline);
        }
    }

    /// Flushes, then compacts `[start, end]` as it is at the call into the
    /// largest level.
    pub(crate) fn compact_range(
        &self,
        start: Option<bytes::Bytes>,
        end: Option<bytes::Bytes>,
    ) -> Result<()> {
        // Everything visible now is in a table once `flush` returns; later
        // flushes hold only newer sequence numbers.
        let start_seq = self.visible_seq();
        self.flush()?;
        compaction::compact_range(self, start, end, start_seq)
    }

    /// Closes the engine: marks it closed (new work fails with
    /// [`Error::Closed`]), wakes waiting work and waits until the work in
    /// flight left the lifecycle gate at its next safe point (the flush
    /// thread finishes the flush it is in, compactions are abandoned; what
    /// is not flushed stays in the WAL), stops the WAL syncer, syncs the
    /// WAL and cuts its segment's unused reservation off, joins the
    /// background threads, deletes unreferenced tables, and only then
    /// releases the directory lock. Reports the first failure seen.
    pub(crate) fn close(&self) -> Result<()> {
        if !self.lifecycle.begin_close() {
            return Ok(());
        }
        let span = tracing::info_span!("close", path = %self.dir.path().display());
        let _entered = span.enter();
        self.jobs.announce_progress();
        self.lifecycle.wait_drained();
        self.pipeline.stop_syncer();
        let sync = if self.health.cause().is_none() {
            self.pipeline.sync_and_trim().map_err(Error::from)
        } else {
            Ok(())
        };
        self.jobs.stop();
        let cleanup = self.tree().delete_unreferenced().map(|_| ());
        self.dir.unlock();
        if let Some(cause) = self.health.cause() {
            return Err(Error::clone(&cause));
        }
        sync.and(cleanup)
    }
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
        super::run_step(&db.inner, "compaction", |_| panic!("injected panic"));
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
