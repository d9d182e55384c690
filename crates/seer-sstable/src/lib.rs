//! # seer-sstable
//!
//! seerdb's immutable sorted tables of internal entries. It owns the table
//! file format (data blocks with shared-prefix compression and restart
//! points, a range tombstone block of fragments, a bloom filter over user
//! keys, a properties block, an index of shortest separators and a
//! versioned footer; see `docs/FORMATS.md`), the
//! [`TableBuilder`] that writes one, the mmap-backed [`Table`] reader with
//! point lookups and [`TableIterator`], the sharded [`BlockCache`] for
//! decompressed blocks, and [`TableMeta`], the per-table record the
//! compaction layer keeps in its manifest.
//!
//! It deliberately does not decide which tables exist, their levels or when
//! to compact them (`seer-compaction`), nor resolve merge operands across
//! tables (`seer-db`): [`Table::get`] reports what this one table knows.
//!
//! Every file operation goes through [`seer_core::FileSystem`]. Corrupt
//! bytes give [`Error::Corruption`] naming the file and offset, never a
//! panic and never wrong data.

mod block;
mod builder;
mod cache;
mod codec;
mod error;
mod filter;
mod footer;
mod format;
mod index;
mod iterator;
mod key_buf;
mod meta;
mod options;
mod properties;
mod range_del;
mod readahead;
mod table;

pub use builder::{TableBuilder, MAX_ENTRY_PART_BYTES};
pub use cache::{BlockCache, CacheStats};
pub use error::{CorruptionReason, Error, Result};
pub use filter::HashedKey;
pub use footer::{FOOTER_BYTES, FORMAT_VERSION, TABLE_MAGIC};
pub use format::{BlockHandle, BLOCK_TRAILER_BYTES};
pub use iterator::{TableIterator, UserKeyBounds};
pub use meta::TableMeta;
pub use options::{Compression, TableOptions, MAX_BLOCK_SIZE_BYTES};
pub use properties::TableProperties;
pub use table::{FilterInfo, FilterStats, IndexEntry, Table, TableLayout};

/// The cursor over one decoded data or index block and its error, for the
/// block fuzz harness in `seer-testkit`; not part of the stable API and only
/// with the `block-api` feature, which no library build turns on.
#[cfg(feature = "block-api")]
pub use block::{BlockIter, BlockResult};
#[cfg(feature = "block-api")]
pub use error::LocalCorruption as BlockCorruption;
/// The range tombstone block's codec, for its fuzz harness and corpus in
/// `seer-testkit`; only with the `block-api` feature.
#[cfg(feature = "block-api")]
pub use range_del::{
    decode as decode_range_tombstone_block, encode as encode_range_tombstone_block,
};
