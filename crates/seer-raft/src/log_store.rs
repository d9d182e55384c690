//! [`LogStore`]: the Raft log and vote in seerdb, openraft's
//! `RaftLogStorage` and `RaftLogReader`.
//!
//! Layout: keyspace `raft_log` holds one entry per key, the key the entry's
//! index as 8 big-endian bytes (so key order is index order), the value the
//! entry as JSON. Keyspace `raft_meta` holds the vote (`vote`), the
//! committed log id (`committed`) and the last purged log id (`purged`),
//! each as JSON.
//!
//! - `append` writes its entries in one batch, then hands the `LogFlushed`
//!   callback to the [flusher](crate::flusher), which completes it after
//!   one `persist` shared by every append waiting (openraft 0.9 waits for
//!   each callback before appending again, so there a group is one append).
//! - `truncate` is one range delete (from the index to the end); `purge`
//!   is one batch holding the range delete of the purged prefix and the new
//!   purged log id, so the two never disagree.
//! - `get_log_state` reads the last key of `raft_log` (one seek, no scan)
//!   and the purged log id.
//! - `save_vote` writes the vote and persists before returning, as openraft
//!   requires; `save_committed` is not synced (a later persist covers it).
//!
//! seerdb's one WAL orders the writes of every keyspace, so what survives a
//! crash is a prefix of the writes in the order they were made, whatever
//! the `SyncPolicy`.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, ErrorSubject, ErrorVerb, LogId, RaftLogReader, StorageError, Vote};
use seer_db::{Batch, Keyspace, WriteOptions, DB};

use crate::blocking::run;
use crate::codec::{decode, encode, read_json};
use crate::error::Error;
use crate::flusher::Flusher;
use crate::types::TypeConfig;

/// Name of the keyspace of the log entries.
pub const LOG_KEYSPACE: &str = "raft_log";
/// Name of the keyspace of the vote, committed and purged log ids.
pub const META_KEYSPACE: &str = "raft_meta";

const VOTE_KEY: &[u8] = b"vote";
const COMMITTED_KEY: &[u8] = b"committed";
const PURGED_KEY: &[u8] = b"purged";
/// A key above every index key (9 bytes, all 0xFF), the end of "the rest
/// of the log".
const END_KEY: [u8; 9] = [0xFF; 9];

/// The Raft log and vote of one node, in a seerdb database. Cheap to
/// clone; clones share the database and the flusher (a clone is the log
/// reader openraft's replication streams use).
#[derive(Clone)]
pub struct LogStore {
    db: DB,
    log: Keyspace,
    meta: Keyspace,
    flusher: Flusher,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// The log store in `db`'s keyspaces [`LOG_KEYSPACE`] and
    /// [`META_KEYSPACE`] (created when absent); starts its flusher thread.
    pub fn open(db: &DB) -> Result<Self, Error> {
        let log = db.keyspace(LOG_KEYSPACE)?;
        let meta = db.keyspace(META_KEYSPACE)?;
        let flusher = Flusher::start(db.clone())
            .map_err(|error| Error::Task(format!("starting the flusher thread: {error}")))?;
        Ok(Self {
            db: db.clone(),
            log,
            meta,
            flusher,
        })
    }
}

/// The key of the entry at `index`.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The key range of the indexes in `range` (`end` exclusive).
fn key_range(range: &impl RangeBounds<u64>) -> (Vec<u8>, Vec<u8>) {
    let start = match range.start_bound() {
        Bound::Included(&index) => index_key(index).to_vec(),
        Bound::Excluded(&index) => match index.checked_add(1) {
            Some(next) => index_key(next).to_vec(),
            None => END_KEY.to_vec(),
        },
        Bound::Unbounded => index_key(0).to_vec(),
    };
    let end = match range.end_bound() {
        Bound::Included(&index) => match index.checked_add(1) {
            Some(next) => index_key(next).to_vec(),
            None => END_KEY.to_vec(),
        },
        Bound::Excluded(&index) => index_key(index).to_vec(),
        Bound::Unbounded => END_KEY.to_vec(),
    };
    (start, end)
}

/// The log id stored under `key` of `meta`, if any.
fn read_log_id(meta: &Keyspace, key: &[u8]) -> Result<Option<LogId<u64>>, Error> {
    read_json(meta, key, "log id")
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let (start, end) = key_range(&range);
        let log = self.log.clone();
        run(ErrorSubject::Logs, ErrorVerb::Read, move || {
            let mut entries = Vec::new();
            for pair in log.range(start..end) {
                let (_, value) = pair?;
                entries.push(decode("log entry", &value)?);
            }
            Ok(entries)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let (log, meta) = (self.log.clone(), self.meta.clone());
        run(ErrorSubject::Logs, ErrorVerb::Read, move || {
            let last_purged_log_id = read_log_id(&meta, PURGED_KEY)?;
            let last_log_id = match log.last_key_value()? {
                Some((_, value)) => {
                    let entry: Entry<TypeConfig> = decode("log entry", &value)?;
                    Some(entry.log_id)
                }
                None => last_purged_log_id,
            };
            Ok(LogState {
                last_purged_log_id,
                last_log_id,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let (db, meta, vote) = (self.db.clone(), self.meta.clone(), *vote);
        run(ErrorSubject::Vote, ErrorVerb::Write, move || {
            meta.put(VOTE_KEY, encode("vote", &vote)?)?;
            db.persist()?;
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        let meta = self.meta.clone();
        run(ErrorSubject::Vote, ErrorVerb::Read, move || {
            read_json(&meta, VOTE_KEY, "vote")
        })
        .await
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), StorageError<u64>> {
        let meta = self.meta.clone();
        run(ErrorSubject::Store, ErrorVerb::Write, move || {
            match committed {
                Some(log_id) => meta.put(COMMITTED_KEY, encode("log id", &log_id)?)?,
                None => meta.delete(COMMITTED_KEY)?,
            }
            Ok(())
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        let meta = self.meta.clone();
        run(ErrorSubject::Store, ErrorVerb::Read, move || {
            read_log_id(&meta, COMMITTED_KEY)
        })
        .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let (db, log) = (self.db.clone(), self.log.clone());
        run(ErrorSubject::Logs, ErrorVerb::Write, move || {
            let mut batch = Batch::with_capacity(entries.len());
            for entry in &entries {
                let value = encode("log entry", entry)?;
                batch.put_in(&log, index_key(entry.log_id.index), value);
            }
            db.write(batch, WriteOptions::default())?;
            Ok(())
        })
        .await?;
        self.flusher.submit(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let log = self.log.clone();
        run(ErrorSubject::Log(log_id), ErrorVerb::Delete, move || {
            log.delete_range(index_key(log_id.index).to_vec()..END_KEY.to_vec())?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let (db, log, meta) = (self.db.clone(), self.log.clone(), self.meta.clone());
        run(ErrorSubject::Log(log_id), ErrorVerb::Delete, move || {
            let (start, end) = key_range(&(..=log_id.index));
            let mut batch = Batch::new();
            batch
                .put_in(&meta, PURGED_KEY, encode("log id", &log_id)?)
                .delete_range_in(&log, start..end);
            db.write(batch, WriteOptions::default())?;
            Ok(())
        })
        .await
    }
}
