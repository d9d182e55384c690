//! Whether the database takes writes: a background or fsync failure is
//! recorded once and turns the database read-only (every later write fails
//! with [`Error::ReadOnly`] carrying the cause); [`Health`] reports it. A
//! poisoned WAL is recorded the moment it is poisoned (the pipeline tells
//! its applier), so a failed `SyncPolicy::Interval` sync, which no writer
//! waits for, shows at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// The database's overall state.
#[derive(Debug, Clone)]
pub enum HealthStatus {
    /// Reads and writes are served.
    Ok,
    /// Writes are slowed or stopped (see [`Health::write_stall`]).
    Degraded,
    /// Writes are refused after this failure; reads still work.
    ReadOnly(Error),
    /// The database was closed.
    Closed,
}

/// A health report.
#[derive(Debug, Clone)]
pub struct Health {
    /// The overall state.
    pub status: HealthStatus,
    /// Why writes are slowed or stopped right now, if they are.
    pub write_stall: Option<String>,
    /// Writers waiting out a write stop right now.
    pub stalled_writers: usize,
    /// Immutable memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Sorted runs on level 0.
    pub l0_runs: usize,
    /// Live snapshots and transactions.
    pub live_snapshots: usize,
}

impl Health {
    /// Whether writes are accepted.
    pub fn is_writable(&self) -> bool {
        matches!(self.status, HealthStatus::Ok | HealthStatus::Degraded)
    }
}

/// The recorded failure, if any.
#[derive(Debug, Default)]
pub(crate) struct HealthState {
    read_only: AtomicBool,
    cause: Mutex<Option<Arc<Error>>>,
}

impl HealthState {
    /// Fails with [`Error::ReadOnly`] once a failure was recorded.
    #[inline]
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only.load(Ordering::Acquire) {
            return Err(self.read_only_error());
        }
        Ok(())
    }

    /// The error later writes get.
    pub(crate) fn read_only_error(&self) -> Error {
        let cause = self.cause.lock().clone();
        Error::ReadOnly {
            cause: cause.unwrap_or_else(|| Arc::new(Error::Closed)),
        }
    }

    /// Records `cause` (the first failure wins) and turns read-only.
    pub(crate) fn set_read_only(&self, cause: Error) {
        let mut slot = self.cause.lock();
        if slot.is_none() {
            tracing::error!(error = %cause, "database turns read-only");
            *slot = Some(Arc::new(cause));
        }
        self.read_only.store(true, Ordering::Release);
    }

    /// A failed commit: I/O, corruption or a poisoned log turn the database
    /// read-only; the error is returned to the writer.
    pub(crate) fn fail_write(&self, error: Error) -> Error {
        match &error {
            Error::InvalidArgument(_)
            | Error::WriteStall { .. }
            | Error::Closed
            | Error::OpenedReadOnly => {}
            Error::ReadOnly { cause } => self.set_read_only(Error::clone(cause)),
            _ => self.set_read_only(error.clone()),
        }
        error
    }

    /// The recorded failure.
    pub(crate) fn cause(&self) -> Option<Arc<Error>> {
        self.cause.lock().clone()
    }

    /// The overall state of an engine that is `closed` or not and whose
    /// writes are `stalled` (slowed or stopped) or not.
    pub(crate) fn status(&self, closed: bool, stalled: bool) -> HealthStatus {
        if closed {
            HealthStatus::Closed
        } else if let Some(cause) = self.cause() {
            HealthStatus::ReadOnly(Error::clone(&cause))
        } else if stalled {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        }
    }
}
