//! # seer-wal
//!
//! seerdb's write-ahead log. It owns:
//!
//! - [`record`]: the WAL record codec (put, delete, merge and atomic
//!   batches with sequence numbers), encoded into a caller's buffer and
//!   decoded zero-copy;
//! - [`frame`] and [`log`]: the checksummed framing and the general-purpose
//!   [`LogWriter`] / [`LogReader`] that the manifest uses too;
//! - [`segment`]: segment file names, listing and deletion;
//! - [`pipeline`]: the group-commit [`CommitPipeline`] with its
//!   [`SyncPolicy`], sequence numbering and `visible_seq`;
//! - [`recovery`]: replay of the segments under a [`WalRecoveryMode`].
//!
//! It deliberately knows nothing of memtables or tables: the owner inserts
//! committed groups through the [`Apply`] callback and replays recovered
//! [`Record`]s itself. The byte layout is in `docs/FORMATS.md` ("WAL").

pub mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod log;
pub mod pipeline;
pub mod record;
pub mod recovery;
pub mod segment;
mod sync;
mod syncer;
#[cfg(test)]
mod testfs;

pub use error::{Result, WalError};
pub use frame::{FrameBuffer, LogHeader, LogKind};
pub use log::{Frame, LogEnd, LogReader, LogWriter, SkippedRange, WalRecoveryMode};
pub use pipeline::{Apply, CommitPipeline, Sequenced, SyncPolicy, WalOptions, WriteOptions};
pub use record::{Record, WriteOp, WriteRecord};
pub use recovery::{
    truncate_torn_tail, RecoveryReport, SegmentReader, StopPoint, TornTail, WalRecovery,
};
pub use segment::{delete_segments_before, list_segments, segment_path};
