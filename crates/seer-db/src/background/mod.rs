//! Background work: one flush thread turning the oldest immutable memtable
//! into a level-0 table, and `background_threads` compaction threads
//! running the picker. Threads sleep on channels (a wake-up is a message),
//! never poll; each
//! step bumps a progress generation under a condition variable that
//! stalled writers, `flush()` and `compact_range()` wait on. A failure is
//! recorded in the health state, which turns the database read-only.

mod compaction;
mod flush;

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
    let flush = spawn(db, "seerdb-flush", db.jobs.flush_rx.clone(), |db| {
        flush::flush_all(db)
    })?;
    threads.push(flush);
    for index in 0..db.jobs.compaction_threads {
        let name = format!("seerdb-compact-{index}");
        let thread = spawn(db, &name, db.jobs.compact_rx.clone(), |db| {
            compaction::compact_while_needed(db)
        })?;
        threads.push(thread);
    }
    drop(threads);
    db.jobs.wake_compaction();
    Ok(())
}

fn spawn(
    db: &Arc<DbInner>,
    name: &str,
    rx: Receiver<Signal>,
    work: fn(&DbInner) -> Result<()>,
) -> Result<JoinHandle<()>> {
    let weak: Weak<DbInner> = Arc::downgrade(db);
    let job = if name == "seerdb-flush" {
        "flush"
    } else {
        "compaction"
    };
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
            if let Err(error) = work(&db) {
                record_failure(&db, job, error);
            }
        }
        db.jobs.announce_progress();
    }
}

/// Records a background failure: the database turns read-only.
pub(crate) fn record_failure(db: &DbInner, job: &'static str, error: Error) {
    tracing::error!(job, %error, "background job failed");
    db.health.set_read_only(Error::Background {
        job,
        reason: error.to_string(),
    });
    db.jobs.announce_progress();
}

impl DbInner {
    /// Switches a non-empty memtable and waits until every immutable
    /// memtable is flushed (or a failure makes that impossible).
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.health.check_writable()?;
        self.switch_memtable(true)?;
        self.jobs.wake_flush();
        loop {
            let generation = self.jobs.progress_generation();
            self.health.check_writable()?;
            self.check_open()?;
            if self.memtables().immutables().is_empty() {
                return Ok(());
            }
            let deadline = Instant::now() + self.options().write_stall_timeout;
            self.jobs.wait_progress(generation, deadline);
        }
    }

    /// Flushes, then compacts `[start, end]` into the largest level.
    pub(crate) fn compact_range(
        &self,
        start: Option<bytes::Bytes>,
        end: Option<bytes::Bytes>,
    ) -> Result<()> {
        self.flush()?;
        compaction::compact_range(self, start, end)
    }

    /// Syncs the WAL, stops and joins the background threads, deletes
    /// unreferenced tables, and reports the first failure seen.
    pub(crate) fn close(&self) -> Result<()> {
        if self.closed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        let span = tracing::info_span!("close", path = %self.dir.path().display());
        let _entered = span.enter();
        let sync = if self.health.cause().is_none() {
            self.pipeline.sync().map_err(Error::from)
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
