//! The log flusher: the thread that makes appended entries durable and
//! reports it through openraft's [`LogFlushed`] callbacks.
//!
//! `append` writes its entries (one batch, readable at once) and hands its
//! callback to the flusher. The flusher takes every callback waiting, calls
//! [`DB::persist`] once and completes them in order: appends that arrive
//! while a sync runs share the next one (openraft 0.9's core awaits each
//! callback before appending again, so under it a group is one append; the
//! grouping is for a caller that does not wait). `persist` covers every write
//! acknowledged before it (under every `SyncPolicy`; under `Always` the
//! append's own group commit has already synced and `persist` finds nothing
//! to do), and seerdb's one WAL orders the writes of all keyspaces, so a
//! completed callback also covers the vote, truncations and state machine
//! writes made before the append.

use std::io;
use std::sync::mpsc;

use openraft::storage::LogFlushed;
use seer_db::DB;

use crate::types::TypeConfig;

/// The sending side of a flusher thread; the thread ends once every clone
/// is dropped (after completing what it was given).
#[derive(Clone)]
pub(crate) struct Flusher {
    queue: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl Flusher {
    /// Starts the flusher thread of `db`.
    pub(crate) fn start(db: DB) -> io::Result<Self> {
        let (queue, waiting) = mpsc::channel();
        std::thread::Builder::new()
            .name("seer-raft-flush".into())
            .spawn(move || flush_until_closed(&db, &waiting))?;
        Ok(Self { queue })
    }

    /// Completes `callback` once everything written so far is durable.
    pub(crate) fn submit(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(callback)) = self.queue.send(callback) {
            callback.log_io_completed(Err(io::Error::other("the seer-raft flusher has stopped")));
        }
    }
}

/// The flusher thread's loop: one `persist` per group of waiting callbacks.
fn flush_until_closed(db: &DB, waiting: &mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = waiting.recv() {
        let group: Vec<_> = std::iter::once(first).chain(waiting.try_iter()).collect();
        let synced = db.persist();
        for callback in group {
            let result = match &synced {
                Ok(()) => Ok(()),
                Err(error) => Err(io::Error::other(error.to_string())),
            };
            callback.log_io_completed(result);
        }
    }
}
