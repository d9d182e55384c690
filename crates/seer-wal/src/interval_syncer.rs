//! The background thread of [`SyncPolicy::Interval`](crate::SyncPolicy):
//! it wakes once per period (a timed condition-variable wait, cut short
//! when stopped) and calls the sync it was given: the pipeline passes one
//! through its queue, so the sync is ordered with the writes like any
//! other request. It knows nothing of the pipeline (which starts it).
//!
//! It uses `parking_lot` primitives directly: the timer is outside the loom models,
//! which cover the pipeline's own synchronisation.

use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{Result, WalError};

/// The shortest period the syncer accepts.
const MIN_PERIOD: Duration = Duration::from_millis(1);

#[derive(Default)]
struct StopFlag {
    stopped: Mutex<bool>,
    changed: Condvar,
}

/// A running syncer thread; [`Syncer::stop`] ends and joins it.
pub(crate) struct Syncer {
    flag: std::sync::Arc<StopFlag>,
    thread: JoinHandle<()>,
}

impl Syncer {
    /// Starts the thread, calling `sync` once per `period` until stopped
    /// or until `sync` fails.
    pub(crate) fn start(
        sync: impl Fn() -> Result<()> + Send + 'static,
        period: Duration,
    ) -> Result<Self> {
        let flag = std::sync::Arc::new(StopFlag::default());
        let thread_flag = std::sync::Arc::clone(&flag);
        let period = period.max(MIN_PERIOD);
        let thread = std::thread::Builder::new()
            .name("seer-wal-sync".to_owned())
            .spawn(move || run(&sync, &thread_flag, period))
            .map_err(|e| WalError::io("seer-wal-sync thread", e))?;
        Ok(Self { flag, thread })
    }

    pub(crate) fn stop(self) {
        *self.flag.stopped.lock() = true;
        self.flag.changed.notify_all();
        if self.thread.join().is_err() {
            tracing::error!("WAL syncer thread panicked");
        }
    }
}

fn run(sync: &dyn Fn() -> Result<()>, flag: &StopFlag, period: Duration) {
    loop {
        let mut stopped = flag.stopped.lock();
        flag.changed
            .wait_while_for(&mut stopped, |stopped| !*stopped, period);
        if *stopped {
            return;
        }
        drop(stopped);
        if let Err(error) = sync() {
            tracing::error!(%error, "WAL interval sync failed; syncer stops");
            return;
        }
    }
}
