//! Whether the engine is open, and the gate every piece of work that does
//! I/O in the database directory passes through: writes (WAL appends and
//! rolls), memtable switches, `flush()`, each step of `compact_range`,
//! `verify`, each background flush and compaction (manifest writes and
//! table deletions included), and the opening of a table file a reader
//! needs.
//!
//! Work enters with [`Lifecycle::enter`] and holds the returned
//! [`ActiveWork`] while it does I/O; entering fails with
//! [`Error::Closed`] once the engine is closed. `close()` marks the engine
//! closed and then waits ([`Lifecycle::wait_drained`]) until every piece of
//! work that entered before has left, so once it returns (and before it
//! releases the directory lock) the instance does no more I/O there. Long
//! work checks [`Lifecycle::is_closed`] at its safe points (a compaction
//! between output keys, the flush thread between memtables) and leaves
//! early; waiting work (stalled writers, `flush()`) is woken by the close
//! and sees the flag.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// The open/closed flag and the count of work inside the gate.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// Shared with the compaction executor, which stops at its next safe
    /// point once it is set.
    closed: Arc<AtomicBool>,
    active_count: AtomicUsize,
    drained_lock: Mutex<()>,
    drained: Condvar,
}

/// Proof that a piece of work is inside the gate; leaving is dropping it.
#[derive(Debug)]
#[must_use = "the work is inside the gate only while this lives"]
pub(crate) struct ActiveWork<'a> {
    lifecycle: &'a Lifecycle,
}

impl Lifecycle {
    /// Whether the engine is closed (or closing).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Fails with [`Error::Closed`] once closed.
    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The closed flag, for work that polls it at its safe points.
    pub(crate) fn closed_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closed)
    }

    /// Enters the gate, or fails with [`Error::Closed`].
    #[inline]
    pub(crate) fn enter(&self) -> Result<ActiveWork<'_>> {
        // Counted before the flag is checked, and `close` sets the flag
        // before it reads the count (both sequentially consistent): either
        // this sees the flag or `close` sees this work and waits for it.
        self.active_count.fetch_add(1, Ordering::SeqCst);
        let active = ActiveWork { lifecycle: self };
        if self.is_closed() {
            return Err(Error::Closed);
        }
        Ok(active)
    }

    /// Marks the engine closed; `false` when it already was.
    pub(crate) fn begin_close(&self) -> bool {
        !self.closed.swap(true, Ordering::SeqCst)
    }

    /// Waits until no work is inside the gate (after [`Self::begin_close`]
    /// no new work gets in, so this returns once the work in flight left).
    /// Must not be called from inside the gate.
    pub(crate) fn wait_drained(&self) {
        let mut guard = self.drained_lock.lock();
        while self.active_count.load(Ordering::SeqCst) > 0 {
            self.drained.wait(&mut guard);
        }
    }

    fn leave(&self) {
        let was = self.active_count.fetch_sub(1, Ordering::SeqCst);
        if was == 1 && self.is_closed() {
            // Under the lock, so the wake-up cannot fall between the
            // waiter's check of the count and its wait.
            let _guard = self.drained_lock.lock();
            self.drained.notify_all();
        }
    }
}

impl Drop for ActiveWork<'_> {
    fn drop(&mut self) {
        self.lifecycle.leave();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::Lifecycle;
    use crate::error::Error;

    #[test]
    fn close_waits_for_work_inside_the_gate_and_refuses_new_work() {
        let lifecycle = Arc::new(Lifecycle::default());
        let active = lifecycle.enter().unwrap();
        assert!(lifecycle.begin_close());
        assert!(!lifecycle.begin_close());
        assert!(matches!(lifecycle.enter(), Err(Error::Closed)));
        let drained = Arc::new(AtomicBool::new(false));
        let waiter = {
            let lifecycle = Arc::clone(&lifecycle);
            let drained = Arc::clone(&drained);
            std::thread::spawn(move || {
                lifecycle.wait_drained();
                drained.store(true, Ordering::SeqCst);
            })
        };
        // The waiter cannot finish while `active` lives.
        std::thread::yield_now();
        assert!(!drained.load(Ordering::SeqCst));
        drop(active);
        waiter.join().unwrap();
        assert!(drained.load(Ordering::SeqCst));
    }
}
