//! # seer-raft
//!
//! seerdb as the log and state-machine storage of
//! [openraft](https://docs.rs/openraft/0.9) (0.9, its `storage-v2` API):
//! [`LogStore`] implements `RaftLogStorage` and `RaftLogReader`,
//! [`StateMachine`] implements `RaftStateMachine` and `RaftSnapshotBuilder`
//! for a key-value state machine of [`Command`]s (set, delete,
//! compare-and-set). [`open`] gives both on one seerdb database, each in
//! keyspaces of its own ([`LOG_KEYSPACE`], [`META_KEYSPACE`],
//! [`STATE_MACHINE_KEYSPACE`]), so the application can keep its other data
//! in the same database. openraft's own storage test suite
//! (`openraft::testing::Suite`) runs against them in this crate's tests.
//!
//! It owns the glue only: the record layout in seerdb, the mapping of
//! errors to openraft's `StorageError` (the seerdb error as its source),
//! and how blocking seerdb calls run under tokio (each on tokio's blocking
//! pool, `spawn_blocking`: seerdb calls block on I/O and syncs, and would
//! otherwise stall openraft's tasks on the runtime's worker threads). It owns no
//! network (openraft's `RaftNetwork` is the application's; the
//! `cluster` example has one over in-process channels) and no Raft logic.
//!
//! ## Durability
//!
//! All three keyspaces share the database's one WAL, so a crash keeps a
//! prefix of the writes in the order they were made. The adapter makes
//! durable, with [`DB::persist`](seer_db::DB::persist), what openraft
//! requires before it goes on: appended entries before their `LogFlushed`
//! callback (a flusher thread of its own completes every callback waiting
//! after one persist), the vote before `save_vote` returns, an installed
//! snapshot before `install_snapshot` returns. openraft 0.9's core waits
//! for each append's callback before its next command, so there each
//! append gets a persist of its own (a leader appends each client write
//! alone: one sync per command on the leader, see `docs/BENCHMARKS.md`);
//! the grouping pays once appends are issued without waiting (openraft
//! 0.10's core). Applied entries, the
//! committed log id, truncations and purges are covered by the next of
//! those; under `SyncPolicy::Always` every write is synced anyway. So the
//! database may be opened with `SyncPolicy::Never`: the adapter then syncs
//! only where Raft needs it, and a crash leaves the state machine at an
//! earlier applied log id, which openraft re-applies from the log.

mod blocking;
mod codec;
mod error;
mod flusher;
mod log_store;
mod snapshot_data;
mod state_machine;
mod types;

pub use error::Error;
pub use log_store::{LogStore, LOG_KEYSPACE, META_KEYSPACE};
pub use state_machine::{KeyValue, StateMachine, STATE_MACHINE_KEYSPACE};
pub use types::{Command, Response, TypeConfig};

/// The log store and the state machine of one node, both in `db`.
pub fn open(db: &seer_db::DB) -> Result<(LogStore, StateMachine), Error> {
    Ok((LogStore::open(db)?, StateMachine::open(db)?))
}
