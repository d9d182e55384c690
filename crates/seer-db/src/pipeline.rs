//! The engine's commit pipeline, or its stand-in on a read-only open.
//!
//! A writable engine commits through seer-wal's [`CommitPipeline`]. A
//! read-only one ([`crate::DB::open_read_only`]) has no log: its visible
//! sequence number is the last one its load replayed (moved on only by
//! [`crate::DB::try_catch_up`]), and every call that would log, roll or
//! sync fails with [`Error::OpenedReadOnly`] (the write APIs refuse before
//! they get here; this is the backstop). A named keyspace's engine
//! ([`crate::Keyspace`]) commits through the database's one pipeline
//! ([`Pipeline::Keyspace`]): its records are logged as keyed batches naming
//! its id, and it rolls the shared WAL with segment numbers of the default
//! keyspace's tree (the WAL lives in the database directory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use seer_core::SeqNo;
use seer_wal::{CommitPipeline, KeyspaceId, WalError, WriteOptions, WriteRecord};

use crate::error::Error;
use crate::keyspace_routes::MemtableApplier;
use crate::tree::OpenVersionSet;

/// The commit pipeline of a writable engine, or a read-only engine's fixed
/// visible sequence number.
pub(crate) enum Pipeline {
    /// A writable open's pipeline.
    Writable(Arc<CommitPipeline<MemtableApplier>>),
    /// A named keyspace's view of the database's pipeline.
    Keyspace {
        /// The database's pipeline (its one WAL).
        wal: Arc<CommitPipeline<MemtableApplier>>,
        /// The default keyspace's tree, which numbers WAL segments.
        root_tree: Arc<OpenVersionSet>,
        /// The keyspace every record written through here goes to.
        id: KeyspaceId,
    },
    /// A read-only open: nothing is logged.
    ReadOnly {
        /// The last sequence number the read-only load replayed.
        visible_seq: AtomicU64,
        /// The keyspace read ([`seer_wal::DEFAULT_KEYSPACE`] for the
        /// database's own).
        id: KeyspaceId,
    },
}

/// The error a read-only engine's log calls fail with, as the pipeline
/// hands the applier's own errors back.
fn refused() -> WalError {
    WalError::Apply {
        source: Arc::new(Error::OpenedReadOnly),
    }
}

impl Pipeline {
    /// Logs and applies `record` (see [`CommitPipeline::write`]).
    pub(crate) fn write(
        &self,
        record: WriteRecord,
        options: WriteOptions,
    ) -> seer_wal::Result<SeqNo> {
        match self {
            Self::Writable(pipeline) => pipeline.write(record, options),
            Self::Keyspace { wal, id, .. } => wal.write(keyed(record, *id), options),
            Self::ReadOnly { .. } => Err(refused()),
        }
    }

    /// Syncs what was logged (see [`CommitPipeline::persist`]).
    pub(crate) fn persist(&self) -> seer_wal::Result<SeqNo> {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => pipeline.persist(),
            Self::ReadOnly { .. } => Err(refused()),
        }
    }

    /// Rolls to `new_segment` at a point between commit groups (see
    /// [`CommitPipeline::roll_with`]).
    pub(crate) fn roll_with<R>(
        &self,
        new_segment: u64,
        switch: impl FnOnce(u64) -> R,
    ) -> seer_wal::Result<(u64, R)> {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => {
                pipeline.roll_with(new_segment, switch)
            }
            Self::ReadOnly { .. } => Err(refused()),
        }
    }

    /// Creates segment `number` in the background as the spare the next
    /// roll switches to (see [`CommitPipeline::prepare_segment`]).
    pub(crate) fn prepare_segment(&self, number: u64) -> seer_wal::Result<()> {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => {
                pipeline.prepare_segment(number)
            }
            Self::ReadOnly { .. } => Err(refused()),
        }
    }

    /// The number of the prepared spare segment, if any.
    pub(crate) fn spare_segment(&self) -> Option<u64> {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => {
                pipeline.spare_segment()
            }
            Self::ReadOnly { .. } => None,
        }
    }

    /// The newest sequence number whose whole group is applied.
    #[inline]
    pub(crate) fn visible_seq(&self) -> SeqNo {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => {
                pipeline.visible_seq()
            }
            Self::ReadOnly { visible_seq, .. } => visible_seq.load(Ordering::Acquire),
        }
    }

    /// Publishes `seq`, given to data outside the log (see
    /// [`CommitPipeline::advance_past`]); nothing to do read-only.
    pub(crate) fn advance_past(&self, seq: SeqNo) {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => {
                pipeline.advance_past(seq);
            }
            Self::ReadOnly { .. } => {}
        }
    }

    /// Whether this is a read-only open's stand-in.
    #[inline]
    pub(crate) fn is_read_only(&self) -> bool {
        matches!(self, Self::ReadOnly { .. })
    }

    /// Moves a read-only open's visible sequence number to `seq` (never
    /// back); a writable pipeline publishes its own.
    pub(crate) fn catch_up_to(&self, seq: SeqNo) {
        if let Self::ReadOnly { visible_seq, .. } = self {
            visible_seq.fetch_max(seq, Ordering::AcqRel);
        }
    }

    /// Stops the interval syncer, if any.
    pub(crate) fn stop_syncer(&self) {
        if let Self::Writable(pipeline) = self {
            pipeline.stop_syncer();
        }
    }

    /// Syncs the log and trims its segment's reservation (nothing to do
    /// read-only, nor for a keyspace: the database's close does it).
    pub(crate) fn sync_and_trim(&self) -> seer_wal::Result<()> {
        match self {
            Self::Writable(pipeline) => pipeline.sync_and_trim(),
            Self::ReadOnly { .. } | Self::Keyspace { .. } => Ok(()),
        }
    }

    /// A number for the next WAL segment: from `own_tree` (the default
    /// keyspace's, whose directory holds the WAL), or for a keyspace from
    /// the default keyspace's tree.
    pub(crate) fn new_segment_number(&self, own_tree: &OpenVersionSet) -> u64 {
        match self {
            Self::Keyspace { root_tree, .. } => root_tree.new_file_number(),
            Self::Writable(_) | Self::ReadOnly { .. } => own_tree.new_file_number(),
        }
    }

    /// The keyspace this pipeline writes to.
    pub(crate) fn keyspace_id(&self) -> KeyspaceId {
        match self {
            Self::Keyspace { id, .. } | Self::ReadOnly { id, .. } => *id,
            Self::Writable(_) => seer_wal::DEFAULT_KEYSPACE,
        }
    }

    /// The database's commit pipeline (`None` read-only).
    pub(crate) fn shared(&self) -> Option<&Arc<CommitPipeline<MemtableApplier>>> {
        match self {
            Self::Writable(pipeline) | Self::Keyspace { wal: pipeline, .. } => Some(pipeline),
            Self::ReadOnly { .. } => None,
        }
    }
}

/// `record` with every op in keyspace `id` (a keyed batch; a record already
/// keyed keeps its ids).
pub(crate) fn keyed(record: WriteRecord, id: KeyspaceId) -> WriteRecord {
    match record {
        WriteRecord::Single(op) => WriteRecord::Keyed {
            ops: vec![op],
            keyspaces: vec![id],
        },
        WriteRecord::Batch(ops) => WriteRecord::Keyed {
            keyspaces: vec![id; ops.len()],
            ops,
        },
        keyed @ WriteRecord::Keyed { .. } => keyed,
    }
}
