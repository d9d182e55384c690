//! [`StateMachine`]: the replicated key-value state in seerdb, openraft's
//! `RaftStateMachine` and `RaftSnapshotBuilder`.
//!
//! Layout: keyspace `raft_sm` holds the user data under `d` + the user key,
//! the last applied log id (`m/applied`) and the last applied membership
//! (`m/membership`) as JSON, and the current snapshot: its metadata
//! (`s/meta`, JSON) and its data (`s/data`, in the
//! [snapshot format](crate::snapshot_data)).
//!
//! - `apply` turns a group of entries into one batch: the data they change
//!   (a command sees the writes of the commands before it in the group),
//!   the last applied log id and, if the group holds one, the membership;
//!   so the data and the applied log id never disagree, even after a crash.
//! - `build_snapshot` reads a seerdb snapshot (one sequence number: data,
//!   applied log id and membership all of the same moment), streams its
//!   data range into the snapshot format and stores the result as the
//!   current snapshot.
//! - `install_snapshot` replaces the state in one batch: a range delete of
//!   the whole data range, the snapshot's pairs, its applied log id and
//!   membership, and the snapshot itself as current; then persists.

use std::collections::HashMap;
use std::io::Cursor;

use openraft::storage::RaftStateMachine;
use openraft::BasicNode;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StoredMembership,
};
use seer_db::{Batch, Keyspace, WriteOptions, DB};

use crate::blocking::run;
use crate::codec::{decode, encode, read_json};
use crate::error::Error;
use crate::snapshot_data::{pairs, push_pair};
use crate::types::{Command, Response, TypeConfig};

/// Name of the keyspace of the state machine.
pub const STATE_MACHINE_KEYSPACE: &str = "raft_sm";

/// A `(key, value)` pair of the state machine.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// First byte of every data key.
const DATA_PREFIX: u8 = b'd';
/// The data key range: `DATA_START..DATA_END`.
const DATA_START: &[u8] = b"d";
const DATA_END: &[u8] = b"e";
const APPLIED_KEY: &[u8] = b"m/applied";
const MEMBERSHIP_KEY: &[u8] = b"m/membership";
const SNAPSHOT_META_KEY: &[u8] = b"s/meta";
const SNAPSHOT_DATA_KEY: &[u8] = b"s/data";

/// The key-value state machine of one node, in a seerdb database. Cheap to
/// clone; a clone is its snapshot builder.
#[derive(Clone)]
pub struct StateMachine {
    db: DB,
    state: Keyspace,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// `key`'s data key.
fn data_key(key: &[u8]) -> Vec<u8> {
    let mut data_key = Vec::with_capacity(key.len() + 1);
    data_key.push(DATA_PREFIX);
    data_key.extend_from_slice(key);
    data_key
}

impl StateMachine {
    /// The state machine in `db`'s keyspace [`STATE_MACHINE_KEYSPACE`]
    /// (created when absent).
    pub fn open(db: &DB) -> Result<Self, Error> {
        Ok(Self {
            db: db.clone(),
            state: db.keyspace(STATE_MACHINE_KEYSPACE)?,
        })
    }

    /// The value of `key` in the state machine (a local read: it sees what
    /// this node has applied).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.state.get(data_key(key))?.map(|value| value.to_vec()))
    }

    /// Every `(key, value)` of the state machine, in key order.
    pub fn pairs(&self) -> Result<Vec<KeyValue>, Error> {
        let mut all = Vec::new();
        for pair in self.state.range(DATA_START..DATA_END) {
            let (key, value) = pair?;
            all.push((key.get(1..).unwrap_or_default().to_vec(), value.to_vec()));
        }
        Ok(all)
    }

    /// The last applied log id, if any.
    pub fn last_applied(&self) -> Result<Option<LogId<u64>>, Error> {
        read_json(&self.state, APPLIED_KEY, "log id")
    }
}

/// The writes of one applied group, before they go into their batch: each
/// key's value after the group (`None`: deleted).
struct GroupWrites<'a> {
    state: &'a Keyspace,
    values: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl GroupWrites<'_> {
    /// `key`'s current value: written earlier in the group, or stored.
    fn current(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self.values.get(key) {
            Some(value) => Ok(value.clone()),
            None => Ok(self.state.get(data_key(key))?.map(|value| value.to_vec())),
        }
    }

    /// Applies `command` and says what it did.
    fn apply(&mut self, command: Command) -> Result<Response, Error> {
        let previous = self.current(command.key())?;
        let (key, new, written) = match command {
            Command::Set { key, value } => (key, Some(value), true),
            Command::Delete { key } => (key, None, true),
            Command::CompareAndSet { key, expected, new } => {
                let written = previous == expected;
                (key, new, written)
            }
        };
        if written {
            self.values.insert(key, new);
        }
        Ok(Response { previous, written })
    }

    /// Adds the group's data writes to `batch`.
    fn into_batch(self, batch: &mut Batch) {
        for (key, value) in self.values {
            match value {
                Some(value) => batch.put_in(self.state, data_key(&key), value),
                None => batch.delete_in(self.state, data_key(&key)),
            };
        }
    }
}

/// Applies `entries` to `state` in one batch written to `db`.
fn apply_group(
    db: &DB,
    state: &Keyspace,
    entries: Vec<Entry<TypeConfig>>,
) -> Result<Vec<Response>, Error> {
    let mut writes = GroupWrites {
        state,
        values: HashMap::new(),
    };
    let mut responses = Vec::with_capacity(entries.len());
    let mut last_applied = None;
    let mut membership = None;
    for entry in entries {
        last_applied = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Blank => responses.push(Response::default()),
            EntryPayload::Normal(command) => responses.push(writes.apply(command)?),
            EntryPayload::Membership(config) => {
                membership = Some(StoredMembership::new(Some(entry.log_id), config));
                responses.push(Response::default());
            }
        }
    }
    let Some(last_applied) = last_applied else {
        return Ok(responses);
    };
    let mut batch = Batch::new();
    writes.into_batch(&mut batch);
    batch.put_in(state, APPLIED_KEY, encode("log id", &last_applied)?);
    if let Some(membership) = membership {
        batch.put_in(state, MEMBERSHIP_KEY, encode("membership", &membership)?);
    }
    db.write(batch, WriteOptions::default())?;
    Ok(responses)
}

/// Builds a snapshot of `state` as of now and stores it as the current one.
fn build(db: &DB, state: &Keyspace) -> Result<Snapshot<TypeConfig>, Error> {
    let view = db.snapshot();
    let last_log_id: Option<LogId<u64>> = view
        .get_in(state, APPLIED_KEY)?
        .map(|bytes| decode("log id", &bytes))
        .transpose()?;
    let last_membership: StoredMembership<u64, BasicNode> = view
        .get_in(state, MEMBERSHIP_KEY)?
        .map(|bytes| decode("membership", &bytes))
        .transpose()?
        .unwrap_or_default();
    let mut data = Vec::new();
    for pair in view.range_in(state, DATA_START..DATA_END) {
        let (key, value) = pair?;
        push_pair(&mut data, key.get(1..).unwrap_or_default(), &value);
    }
    let snapshot_id = match last_log_id {
        Some(log_id) => format!("{}-{}-{}", log_id.leader_id, log_id.index, view.seq()),
        None => format!("none-{}", view.seq()),
    };
    let meta = SnapshotMeta {
        last_log_id,
        last_membership,
        snapshot_id,
    };
    let mut batch = Batch::new();
    batch
        .put_in(state, SNAPSHOT_META_KEY, encode("snapshot meta", &meta)?)
        .put_in(state, SNAPSHOT_DATA_KEY, &data);
    db.write(batch, WriteOptions::default())?;
    Ok(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    })
}

/// Replaces `state` with the snapshot `meta` and `data`, atomically and
/// durably.
fn install(
    db: &DB,
    state: &Keyspace,
    meta: &SnapshotMeta<u64, BasicNode>,
    data: &[u8],
) -> Result<(), Error> {
    let decoded = pairs(data)?;
    let mut batch = Batch::with_capacity(decoded.len() + 5);
    batch.delete_range_in(state, DATA_START..DATA_END);
    for (key, value) in decoded {
        batch.put_in(state, data_key(key), value);
    }
    match &meta.last_log_id {
        Some(log_id) => batch.put_in(state, APPLIED_KEY, encode("log id", log_id)?),
        None => batch.delete_in(state, APPLIED_KEY),
    };
    batch
        .put_in(
            state,
            MEMBERSHIP_KEY,
            encode("membership", &meta.last_membership)?,
        )
        .put_in(state, SNAPSHOT_META_KEY, encode("snapshot meta", meta)?)
        .put_in(state, SNAPSHOT_DATA_KEY, data);
    db.write(batch, WriteOptions::default())?;
    db.persist()?;
    Ok(())
}

/// The stored current snapshot, if any.
fn current(state: &Keyspace) -> Result<Option<Snapshot<TypeConfig>>, Error> {
    let Some(meta) = read_json(state, SNAPSHOT_META_KEY, "snapshot meta")? else {
        return Ok(None);
    };
    let data = state
        .get(SNAPSHOT_DATA_KEY)?
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    Ok(Some(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    }))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (db, state) = (self.db.clone(), self.state.clone());
        run(ErrorSubject::Snapshot(None), ErrorVerb::Write, move || {
            build(&db, &state)
        })
        .await
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let state = self.state.clone();
        run(ErrorSubject::StateMachine, ErrorVerb::Read, move || {
            let applied = read_json(&state, APPLIED_KEY, "log id")?;
            let membership = read_json(&state, MEMBERSHIP_KEY, "membership")?;
            Ok((applied, membership.unwrap_or_default()))
        })
        .await
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let (db, state) = (self.db.clone(), self.state.clone());
        run(ErrorSubject::StateMachine, ErrorVerb::Write, move || {
            apply_group(&db, &state, entries)
        })
        .await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let (db, state, meta) = (self.db.clone(), self.state.clone(), meta.clone());
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        run(subject, ErrorVerb::Write, move || {
            install(&db, &state, &meta, snapshot.get_ref())
        })
        .await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let state = self.state.clone();
        run(ErrorSubject::Snapshot(None), ErrorVerb::Read, move || {
            current(&state)
        })
        .await
    }
}
