//! The background thread of [`SyncPolicy::Interval`](crate::SyncPolicy):
//! it wakes once per period (a timed condition-variable wait, cut short
//! when stopped) and syncs the log through the pipeline's queue, so its
//! sync is ordered with the writes like any other request.
//!
//! It uses `parking_lot` primitives directly: the timer is outside the loom models,
//! which cover the pipeline's own synchronisation.

use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::{Result, WalError};
use crate::pipeline::{Apply, Shared};
use crate::sync_primitives::Arc;

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
    pub(crate) fn start<A: Apply>(shared: Arc<Shared<A>>, period: Duration) -> Result<Self> {
        let flag = std::sync::Arc::new(StopFlag::default());
        let thread_flag = std::sync::Arc::clone(&flag);
        let period = period.max(MIN_PERIOD);
        let thread = std::thread::Builder::new()
            .name("seer-wal-sync".to_owned())
            .spawn(move || run(&shared, &thread_flag, period))
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

fn run<A: Apply>(shared: &Shared<A>, flag: &StopFlag, period: Duration) {
    loop {
        let mut stopped = flag.stopped.lock();
        flag.changed
            .wait_while_for(&mut stopped, |stopped| !*stopped, period);
        if *stopped {
            return;
        }
        drop(stopped);
        if let Err(error) = shared.sync() {
            tracing::error!(%error, "WAL interval sync failed; syncer stops");
            return;
        }
    }
}
