//! The background half of a segment roll (the protocol is in
//! `pipeline`'s module doc): the *spare* segment, created, preallocated
//! and synced under its temporary name ahead of the roll that switches to
//! it, and the *retired* segment's sync of its last records and trim,
//! together with the directory sync that makes its successor's new name
//! durable. Each runs on a thread of
//! its own (a loom thread in the models), started by the pipeline and
//! joined by whoever needs its outcome; [`SegmentTasks`] holds them under
//! a lock of their own.

use std::path::PathBuf;

use seer_log::LogWriter;

use crate::error::{Result, WalError};
use crate::sync_primitives::{spawn_named, JoinHandle};

/// Work on a segment file running on its own thread, or its outcome once
/// joined (or at once, when no thread could be started).
pub(crate) struct Task<T> {
    thread: Option<JoinHandle<Result<T>>>,
    outcome: Option<Result<T>>,
    /// The file or directory the work is on, for the errors it cannot
    /// report itself.
    path: PathBuf,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on a new thread named `name`.
    pub(crate) fn start(
        name: &str,
        path: PathBuf,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Self {
        match spawn_named(name, work) {
            Ok(thread) => Self {
                thread: Some(thread),
                outcome: None,
                path,
            },
            Err(error) => Self {
                thread: None,
                outcome: Some(Err(WalError::io(&path, error))),
                path,
            },
        }
    }

    /// Waits for the thread, keeping its outcome for [`Self::wait`].
    pub(crate) fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(thread_lost(&self.path)));
            self.outcome = Some(outcome);
        }
    }

    /// The work's error, once it finished with one.
    pub(crate) fn failure(&self) -> Option<&WalError> {
        self.outcome
            .as_ref()
            .and_then(|outcome| outcome.as_ref().err())
    }

    /// Waits for the thread and returns its outcome.
    pub(crate) fn wait(mut self) -> Result<T> {
        self.join();
        let path = self.path;
        self.outcome.unwrap_or_else(|| Err(thread_lost(&path)))
    }
}

fn thread_lost(path: &std::path::Path) -> WalError {
    WalError::io(path, std::io::Error::other("a WAL segment thread panicked"))
}

/// The spare segment: file number `segment`, created under its temporary
/// name by `task`.
pub(crate) struct Spare {
    /// The number the next roll must switch to.
    pub(crate) segment: u64,
    /// Creates the file and returns its writer.
    pub(crate) task: Task<LogWriter>,
}

/// A pipeline's background segment work. Its lock is never taken while
/// the state lock is held.
#[derive(Default)]
pub(crate) struct SegmentTasks {
    /// The spare a roll switches to, if one was prepared.
    pub(crate) spare: Option<Spare>,
    /// The last roll's sync and trim of the retired segment and directory
    /// sync; a sync of the segment rolled to waits for it (the retired
    /// segment's records and the new name must be durable first), and so
    /// does the next roll.
    pub(crate) retiring: Option<Task<()>>,
}

impl SegmentTasks {
    /// Waits for every thread, keeping the outcomes.
    pub(crate) fn join_all(&mut self) {
        if let Some(spare) = &mut self.spare {
            spare.task.join();
        }
        if let Some(retiring) = &mut self.retiring {
            retiring.join();
        }
    }
}
