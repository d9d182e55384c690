//! # seer-wal
//!
//! seerdb's write-ahead log. It owns:
//!
//! - [`record`]: the WAL record codec (put, delete, merge and atomic
//!   batches with sequence numbers, and the predecessor record a segment a
//!   roll switched to starts with), encoded into a caller's buffer and
//!   decoded zero-copy;
//! - [`segment`]: segment file names, listing and deletion;
//! - [`pipeline`]: the group-commit [`CommitPipeline`] with its
//!   [`SyncPolicy`], sequence numbering and `visible_seq` (with two private
//!   modules: `sync_primitives`, the std-or-loom shim of its locks,
//!   atomics and threads, `interval_syncer`, the thread of
//!   `SyncPolicy::Interval`, and `segment_tasks`, the background half of a
//!   segment roll: the spare segment and the retired segment's sync and
//!   trim);
//! - [`recovery`]: replay of the segments under a [`WalRecoveryMode`];
//! - [`verify`]: verification of the segments ([`verify_segments`]): every
//!   frame through `seer_log::verify_log`, every record decoded and in
//!   sequence order;
//! - [`inspect`]: [`SegmentInspector`], a read-only walk over one segment
//!   for tools, listing every record with its offset and reporting damage
//!   and a torn tail instead of failing on them.
//!
//! It deliberately knows nothing of memtables or tables: the owner inserts
//! committed groups through the [`Apply`] callback and replays recovered
//! [`Record`]s itself. Nor does it own the log framing (file header, frames,
//! checksums, the torn-tail rule): its segments are `seer-log` logs of kind
//! `LogKind::Wal`, written by `seer_log::LogWriter` and read by
//! `seer_log::LogReader`, and [`WalRecoveryMode`] is `seer_log::RecoveryMode`
//! under the WAL's name. The byte layout is in `docs/FORMATS.md` ("WAL").

pub mod error;
pub mod inspect;
mod interval_syncer;
pub mod pipeline;
pub mod record;
pub mod recovery;
pub mod segment;
mod segment_tasks;
mod sync_primitives;
pub mod verify;

pub use error::{Result, WalError};
pub use inspect::{InspectedRecord, SegmentInspector};
pub use pipeline::{
    Apply, CommitPipeline, Sequenced, SyncPolicy, WalOptions, WriteOptions,
    DEFAULT_PREALLOCATE_STEP_BYTES,
};
pub use record::{KeyspaceId, PredecessorRecord, Record, WriteOp, WriteRecord, DEFAULT_KEYSPACE};
pub use recovery::{
    truncate_torn_tail, SegmentReader, StopPoint, TornTail, WalRecovery, WalRecoveryReport,
};
/// How recovery treats damaged segment bytes: the framing's recovery mode,
/// applied across the segments: a torn tail of an older segment, or a tail
/// its successor's predecessor record shows was lost, ends the log there
/// under `TolerateCorruptedTail` and `PointInTime` (the later segments are
/// ignored), is skipped under `SkipCorrupted` and is corruption under
/// `AbsoluteConsistency`.
pub use seer_log::RecoveryMode as WalRecoveryMode;
pub use segment::{delete_segments_before, list_segments, segment_path};
pub use verify::{verify_segment, verify_segments, SegmentSummary, SegmentVerdict};
