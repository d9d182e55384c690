//! The openraft type configuration of the adapter, [`TypeConfig`], and the
//! application data it replicates: [`Command`]s of the key-value state
//! machine and their [`Response`]s (both serde, stored in the log as JSON).

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// The openraft types of a seerdb-backed cluster: [`Command`] as the
    /// application data, [`Response`] as its reply, `u64` node ids,
    /// `BasicNode` addresses, snapshots as bytes in memory
    /// (`Cursor<Vec<u8>>`) and the tokio runtime (openraft's defaults for
    /// the rest).
    pub TypeConfig:
        D = Command,
        R = Response,
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

/// A write to the key-value state machine, one per log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// Deletes `key` (deleting an absent key is not an error).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Sets `key` to `new` (`None` deletes it) only when its value is
    /// `expected` (`None`: only when it is absent).
    CompareAndSet {
        /// The key.
        key: Vec<u8>,
        /// The value the key must hold for the write to happen.
        expected: Option<Vec<u8>>,
        /// The value written when it does (`None` deletes the key).
        new: Option<Vec<u8>>,
    },
}

impl Command {
    /// The key the command writes.
    pub fn key(&self) -> &[u8] {
        match self {
            Command::Set { key, .. }
            | Command::Delete { key }
            | Command::CompareAndSet { key, .. } => key,
        }
    }
}

/// What applying a log entry did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The value of the command's key before it was applied (`None` for an
    /// absent key, and for a blank or membership entry).
    pub previous: Option<Vec<u8>>,
    /// Whether the command wrote: always for `Set` and `Delete`, for
    /// `CompareAndSet` only when the key held the expected value.
    pub written: bool,
}
