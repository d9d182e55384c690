//! # seer-core
//!
//! The small vocabulary every seerdb layer shares, and nothing else:
//!
//! - [`key`]: sequence numbers, [`ValueKind`], [`InternalKey`] and the internal
//!   key order (user key ascending, then sequence number descending), in owned
//!   and encoded form.
//! - [`expiry`]: the stored value of an expiring put (time to live) and the
//!   injectable [`Clock`] that decides when it has expired.
//! - [`merge_operator`]: the [`MergeOperator`] trait and the two operators
//!   seerdb ships (u64 add and string append).
//! - [`range_tombstone`]: [`RangeTombstone`] (`[start, end) @ seq`) and the
//!   [`FragmentedTombstones`] fragmenter with its covering-sequence query;
//!   [`range_del_iter`]: the [`RangeDelFilter`] cursor that hides what they
//!   delete, seeking past a fragment in a source older than it.
//! - [`merging_iterator`]: the [`MergingIterator`], one cursor over many in
//!   internal-key order.
//! - [`varint`] and [`checksum`](mod@checksum): LEB128 varints and the xxh3 checksum used by
//!   every on-disk structure.
//! - [`lookup`] and [`iter`]: the point-lookup answer and the cursor trait that
//!   memtables and tables share, so the read path and compaction can combine
//!   them.
//! - [`filename`]: how the files of a database directory are named.
//! - [`fs`]: the [`FileSystem`] seam through which every layer does all of its
//!   file I/O, so that tests can inject faults and simulate power loss.
//! - `fault` (feature `fault-injection`): the in-memory file system that does
//!   so, for durability tests.
//!
//! It deliberately owns no data structure, format or thread: those belong to
//! the layer crates (`seer-wal`, `seer-memtable`, `seer-sstable`,
//! `seer-compaction`) and to the `seer-db` facade.

pub mod checksum;
pub mod error;
pub mod expiry;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod filename;
pub mod fs;
pub mod iter;
pub mod key;
pub mod lookup;
pub mod merge_operator;
pub mod merging_iterator;
pub mod range_del_iter;
pub mod range_tombstone;
pub mod varint;

pub use checksum::{checksum, Checksummer};
pub use error::{Corruption, DecodeError, IoError};
pub use expiry::{Clock, ManualClock, SystemClock};
pub use filename::FileKind;
pub use fs::{
    FileLock, FileSystem, RandomAccessFile, RealFileSystem, SharedFileSystem, WritableFile,
};
pub use iter::InternalIterator;
pub use key::{
    compare_internal_keys, InternalKey, ParsedInternalKey, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES,
};
pub use lookup::{Lookup, MergeBase};
pub use merge_operator::{MergeError, MergeOperator, StringAppendOperator, U64AddOperator};
pub use merging_iterator::MergingIterator;
pub use range_del_iter::{RangeDelFilter, TombstoneSets};
pub use range_tombstone::{BadFragment, FragmentedTombstones, RangeTombstone, TombstoneFragment};
