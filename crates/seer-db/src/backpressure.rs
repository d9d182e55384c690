//! Write admission. Before a write joins the commit pipeline it passes:
//!
//! - a **stop** when level 0 holds `l0_stop_writes_trigger` runs, the
//!   immutable memtables reach `max_immutable_memtables`, the memtables use
//!   95% of `max_memory_bytes`, or free disk space is below
//!   `min_free_disk_bytes` (checked at most every [`DISK_CHECK_INTERVAL`]):
//!   the writer waits on the background jobs' progress condition and fails
//!   with [`Error::WriteStall`] after `write_stall_timeout`;
//! - a **slowdown** from `l0_slowdown_writes_trigger` runs: a rate limit on
//!   written bytes (a shared schedule of "next free" instants, so the delay
//!   grows with the bytes written, not a fixed sleep per write), the rate
//!   falling linearly toward the stop trigger. The schedule never runs more
//!   than `write_stall_timeout` ahead, so a paced write sleeps at most that
//!   long however many writers queue up; it is slowed, never failed.
//!
//! The memory budget also asks for an early flush at 80%.
//!
//! Those are one keyspace's. Across keyspaces, the memtables of all of them
//! together stop writes at `max_total_memtable_bytes` (a stop whose waiter
//! re-checks every [`TOTAL_MEMORY_RECHECK`], as the flushes that end it may
//! be other keyspaces'); the write path switches the largest active
//! memtable when the active ones pass half of it
//! ([`KeyspaceRoutes::bound_memtables`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seer_core::SharedFileSystem;
use seer_memtable::Memtable;

use crate::background::Jobs;
use crate::error::{Error, Result};
use crate::health::HealthState;
use crate::keyspace_routes::KeyspaceRoutes;
use crate::lifecycle::Lifecycle;
use crate::memtables::Memtables;
use crate::metrics::Metrics;
use crate::options::DBOptions;
use crate::tree::OpenVersionSet;

/// Free disk space is re-checked at most this often.
pub(crate) const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// A writer stopped by the total memtable bound re-checks it this often.
pub(crate) const TOTAL_MEMORY_RECHECK: Duration = Duration::from_millis(10);
/// Write rate at the slowdown trigger, in bytes per second.
const SLOWDOWN_MAX_RATE_BYTES: f64 = 64.0 * 1024.0 * 1024.0;
/// Write rate just below the stop trigger.
const SLOWDOWN_MIN_RATE_BYTES: f64 = 1024.0 * 1024.0;
/// Every write counts at least this many bytes toward the rate.
const SLOWDOWN_MIN_WRITE_BYTES: usize = 64;

/// Why writes are held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Level 0 holds this many runs (slowdown).
    L0Slowdown(usize),
    /// Level 0 holds this many runs (stop).
    L0Stop(usize),
    /// This many immutable memtables wait for flush (stop).
    TooManyImmutables(usize),
    /// Memtables use this many bytes of the budget (stop).
    MemoryBudget(u64),
    /// Every keyspace's memtables together use this many bytes, the
    /// bound on them (stop).
    TotalMemoryBound(u64),
    /// The disk has less free space than required (stop).
    LowDisk,
}

impl Condition {
    fn is_stop(self) -> bool {
        !matches!(self, Self::L0Slowdown(_))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::L0Slowdown(runs) => write!(f, "slowdown: level 0 holds {runs} runs"),
            Self::L0Stop(runs) => write!(f, "stop: level 0 holds {runs} runs"),
            Self::TooManyImmutables(count) => {
                write!(f, "stop: {count} immutable memtables wait for flush")
            }
            Self::MemoryBudget(bytes) => {
                write!(
                    f,
                    "stop: memtables use {bytes} bytes (95% of max_memory_bytes)"
                )
            }
            Self::TotalMemoryBound(bytes) => write!(
                f,
                "stop: the memtables of all keyspaces use {bytes} bytes \
                 (max_total_memtable_bytes)"
            ),
            Self::LowDisk => write!(f, "stop: free disk space below min_free_disk_bytes"),
        }
    }
}

/// The options admission follows (copied from [`DBOptions`]).
#[derive(Debug, Clone, Copy)]
struct Limits {
    l0_slowdown_writes_trigger: usize,
    l0_stop_writes_trigger: usize,
    max_immutable_memtables: usize,
    max_memory_bytes: Option<u64>,
    memtable_bound_bytes: u64,
    /// Whether one keyspace alone can reach `memtable_bound_bytes` (a bound
    /// set below the default): otherwise it is checked only while several
    /// keyspaces are open.
    bound_reachable_alone: bool,
    min_free_disk_bytes: Option<u64>,
    write_stall_timeout: Duration,
}

/// What a writer stopped by backpressure reads and waits on: the tree
/// (level-0 runs), the jobs whose progress it waits for, the health and
/// lifecycle that end the wait, the metrics that count it.
pub(crate) struct Stall<'a> {
    /// The on-disk tree.
    pub tree: &'a OpenVersionSet,
    /// The background jobs.
    pub jobs: &'a Jobs,
    /// The database's health.
    pub health: &'a HealthState,
    /// Open or closed.
    pub lifecycle: &'a Lifecycle,
    /// Stall and slowdown counters.
    pub metrics: &'a Metrics,
}

/// Admission state, with what admission reads besides the tree: its
/// options, the memtable set, every keyspace's memtables (through the
/// routes) and the directory whose free space it checks.
#[derive(Debug)]
pub(crate) struct Backpressure {
    options: Limits,
    memtables: Arc<Memtables>,
    routes: Arc<KeyspaceRoutes>,
    fs: SharedFileSystem,
    dir: PathBuf,
    opened: Instant,
    /// Nanoseconds since `opened` at which the rate limiter is next free.
    next_free_nanos: AtomicU64,
    last_disk_check_nanos: AtomicU64,
    disk_checked: AtomicBool,
    disk_low: AtomicBool,
    /// Writers waiting out a stop right now.
    stalled_writers: AtomicUsize,
}

impl Backpressure {
    /// Admission by `options` over `memtables` (and every keyspace's, in
    /// `routes`), checking the free space of `dir` on `fs`.
    pub(crate) fn new(
        options: &DBOptions,
        memtables: Arc<Memtables>,
        routes: Arc<KeyspaceRoutes>,
        fs: SharedFileSystem,
        dir: &Path,
    ) -> Self {
        Self {
            options: Limits {
                l0_slowdown_writes_trigger: options.l0_slowdown_writes_trigger,
                l0_stop_writes_trigger: options.l0_stop_writes_trigger,
                max_immutable_memtables: options.max_immutable_memtables,
                max_memory_bytes: options.max_memory_bytes,
                memtable_bound_bytes: options.memtable_bound_bytes(),
                bound_reachable_alone: options.memtable_bound_bytes()
                    < options.default_memtable_bound_bytes(),
                min_free_disk_bytes: options.min_free_disk_bytes,
                write_stall_timeout: options.write_stall_timeout,
            },
            memtables,
            routes,
            fs,
            dir: dir.to_owned(),
            opened: Instant::now(),
            next_free_nanos: AtomicU64::new(0),
            last_disk_check_nanos: AtomicU64::new(0),
            disk_checked: AtomicBool::new(false),
            disk_low: AtomicBool::new(false),
            stalled_writers: AtomicUsize::new(0),
        }
    }

    /// The strongest condition holding writes back now, if any (`tree`
    /// gives the level-0 runs).
    pub(crate) fn condition(&self, tree: &OpenVersionSet) -> Option<Condition> {
        let options = &self.options;
        let l0_runs = tree.l0_runs();
        if l0_runs >= options.l0_stop_writes_trigger {
            return Some(Condition::L0Stop(l0_runs));
        }
        let immutables = self.memtables.immutable_count();
        if immutables >= options.max_immutable_memtables {
            return Some(Condition::TooManyImmutables(immutables));
        }
        if let Some(budget) = options.max_memory_bytes {
            let used = self.memtables.memory_bytes();
            if used.saturating_mul(100) >= budget.saturating_mul(95) {
                return Some(Condition::MemoryBudget(used));
            }
        }
        if options.bound_reachable_alone || self.routes.is_shared() {
            let total = self.routes.memtable_bytes();
            if total >= options.memtable_bound_bytes {
                return Some(Condition::TotalMemoryBound(total));
            }
        }
        if self.disk_is_low() {
            return Some(Condition::LowDisk);
        }
        (l0_runs >= options.l0_slowdown_writes_trigger).then_some(Condition::L0Slowdown(l0_runs))
    }

    /// Lets a write of `payload_bytes` through: waits out a stop (or fails
    /// after the stall timeout, or once `health` turns read-only or
    /// `lifecycle` closed) on the progress of `jobs`, and paces it under a
    /// slowdown; stalls and slowdowns are counted in `metrics`.
    pub(crate) fn admit(&self, stall: &Stall<'_>, payload_bytes: usize) -> Result<()> {
        match self.condition(stall.tree) {
            None => Ok(()),
            Some(Condition::L0Slowdown(runs)) => {
                self.pace(stall.metrics, runs, payload_bytes);
                Ok(())
            }
            Some(stop) => self.wait_out_stop(stall, stop),
        }
    }

    /// How many writers are waiting out a stop right now.
    pub(crate) fn stalled_writers(&self) -> usize {
        self.stalled_writers.load(Ordering::Relaxed)
    }

    fn wait_out_stop(&self, db: &Stall<'_>, first: Condition) -> Result<()> {
        self.stalled_writers.fetch_add(1, Ordering::Relaxed);
        let result = self.wait_out_stop_counted(db, first);
        self.stalled_writers.fetch_sub(1, Ordering::Relaxed);
        result
    }

    fn wait_out_stop_counted(&self, db: &Stall<'_>, first: Condition) -> Result<()> {
        let started = Instant::now();
        let deadline = started + self.options.write_stall_timeout;
        let span = tracing::info_span!("write_stall", reason = %first);
        let _entered = span.enter();
        tracing::info!("writes stopped");
        db.jobs.wake_flush();
        db.jobs.wake_compaction();
        loop {
            let progress = db.jobs.progress_generation();
            db.health.check_writable()?;
            db.lifecycle.check_open()?;
            let condition = match self.condition(db.tree) {
                Some(stop) if stop.is_stop() => stop,
                _ => {
                    db.metrics.record_stall(started.elapsed());
                    tracing::info!(waited = ?started.elapsed(), "writes resumed");
                    return Ok(());
                }
            };
            let now = Instant::now();
            if now >= deadline {
                let waited = started.elapsed();
                db.metrics.record_stall(waited);
                tracing::warn!(?waited, %condition, "write stall timed out");
                return Err(Error::WriteStall {
                    waited,
                    reason: condition.to_string(),
                });
            }
            let mut wait_until = deadline;
            match condition {
                Condition::LowDisk => wait_until = wait_until.min(now + DISK_CHECK_INTERVAL),
                Condition::TotalMemoryBound(_) => {
                    // Switch the largest active memtable, so a flush is under way.
                    self.routes
                        .bound_memtables(self.options.memtable_bound_bytes)?;
                    wait_until = wait_until.min(now + TOTAL_MEMORY_RECHECK);
                }
                _ => {}
            }
            db.jobs.wait_progress(progress, wait_until);
        }
    }

    /// Reserves the next slot of the rate limiter and sleeps until it (at
    /// most `write_stall_timeout`).
    fn pace(&self, metrics: &Metrics, l0_runs: usize, payload_bytes: usize) {
        let options = &self.options;
        let span = options.l0_stop_writes_trigger - options.l0_slowdown_writes_trigger;
        let over = l0_runs - options.l0_slowdown_writes_trigger;
        let fraction = 1.0 - over as f64 / span.max(1) as f64;
        let rate = SLOWDOWN_MIN_RATE_BYTES
            + (SLOWDOWN_MAX_RATE_BYTES - SLOWDOWN_MIN_RATE_BYTES) * fraction.clamp(0.0, 1.0);
        let cost_nanos = (payload_bytes.max(SLOWDOWN_MIN_WRITE_BYTES) as f64 / rate * 1e9) as u64;
        let wait = self.reserve_slot(cost_nanos, options.write_stall_timeout);
        if !wait.is_zero() {
            metrics.slowdown_count.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait);
        }
    }

    /// Reserves the rate limiter's next slot for a write that costs
    /// `cost_nanos` and returns how long the write waits for it: at most
    /// `max_wait`, as a slot is never scheduled later than `max_wait` from
    /// now.
    fn reserve_slot(&self, cost_nanos: u64, max_wait: Duration) -> Duration {
        let now = self.now_nanos();
        let max_wait_nanos = u64::try_from(max_wait.as_nanos()).unwrap_or(u64::MAX);
        let latest_start = now.saturating_add(max_wait_nanos);
        let mut slot = self.next_free_nanos.load(Ordering::Relaxed);
        loop {
            let start = slot.max(now).min(latest_start);
            match self.next_free_nanos.compare_exchange_weak(
                slot,
                start.saturating_add(cost_nanos),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Duration::from_nanos(start - now),
                Err(current) => slot = current,
            }
        }
    }

    /// Whether the memory budget asks to flush `active` early (80%).
    #[inline]
    pub(crate) fn wants_early_flush(&self, active: &Memtable) -> bool {
        let Some(budget) = self.options.max_memory_bytes else {
            return false;
        };
        if active.is_empty() || !self.memtables.immutables().is_empty() {
            return false;
        }
        self.memtables.memory_bytes().saturating_mul(100) >= budget.saturating_mul(80)
    }

    fn disk_is_low(&self) -> bool {
        let Some(min_free) = self.options.min_free_disk_bytes else {
            return false;
        };
        let now = self.now_nanos();
        let last = self.last_disk_check_nanos.load(Ordering::Relaxed);
        let due = !self.disk_checked.load(Ordering::Relaxed)
            || now.saturating_sub(last) >= DISK_CHECK_INTERVAL.as_nanos() as u64;
        if due
            && self
                .last_disk_check_nanos
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let low = match self.fs.available_space(&self.dir) {
                Ok(available) => available < min_free,
                Err(error) => {
                    tracing::warn!(%error, "free disk space unknown");
                    false
                }
            };
            self.disk_low.store(low, Ordering::Relaxed);
            self.disk_checked.store(true, Ordering::Relaxed);
        }
        self.disk_low.load(Ordering::Relaxed)
    }

    fn now_nanos(&self) -> u64 {
        self.opened.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use seer_core::SharedFileSystem;

    use super::Backpressure;
    use crate::memtables::Memtables;
    use crate::options::DBOptions;

    #[test]
    fn slowdown_pacing_never_waits_longer_than_the_stall_timeout() {
        let memtables = Arc::new(Memtables::new(1, 1 << 20, Vec::new()));
        let fs: SharedFileSystem = Arc::new(seer_core::fault::FaultFileSystem::new());
        let options = DBOptions::default();
        let backpressure =
            Backpressure::new(&options, memtables, Arc::default(), fs, Path::new("/db"));
        let max_wait = Duration::from_secs(30);
        let hour_nanos = Duration::from_secs(3600).as_nanos() as u64;
        // The first write takes the free slot at once.
        assert_eq!(
            backpressure.reserve_slot(hour_nanos, max_wait),
            Duration::ZERO
        );
        // Each later one would wait an hour more than the one before
        // without the bound.
        for _ in 0..100 {
            assert_eq!(backpressure.reserve_slot(hour_nanos, max_wait), max_wait);
        }
        let huge = Duration::from_secs(u64::MAX);
        assert!(backpressure.reserve_slot(u64::MAX, huge) <= huge);
    }
}
