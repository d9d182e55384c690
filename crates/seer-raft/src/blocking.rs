//! Runs seerdb calls off openraft's async tasks.
//!
//! seerdb's API is blocking: a write waits for its group commit (an
//! `fdatasync` under `SyncPolicy::Always`), `persist` waits for a sync, a
//! read may load a block from disk and a write may wait out a stall. The
//! adapter's storage methods are called from openraft's tasks (the Raft
//! core, the replication streams, the state machine worker) on the tokio
//! runtime, so each one runs its seerdb work in
//! [`tokio::task::spawn_blocking`] and awaits it: the runtime's worker
//! threads keep driving the network and timers meanwhile. The cost is a
//! thread hand-off per call (microseconds), small beside the sync the
//! writes wait for. The one exception is the log flusher (the `flusher`
//! module), a thread of its own.

use openraft::{ErrorSubject, ErrorVerb, StorageError};

use crate::error::Error;

/// Runs `work` on tokio's blocking pool and maps its failure to an openraft
/// error about `subject` while doing `verb`.
pub(crate) async fn run<T, F>(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    work: F,
) -> Result<T, StorageError<u64>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let outcome = match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(join) => Err(Error::Task(join.to_string())),
    };
    outcome.map_err(|error| error.into_storage_error(subject, verb))
}
