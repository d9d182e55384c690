//! # seer-memtable
//!
//! seerdb's in-memory write buffer: the partitioned, lock-free MVCC
//! [`Memtable`]. It owns
//!
//! - the partitions: `P` lock-free arena skip lists keyed by encoded internal
//!   key, a user key living in the partition its xxh3 hash picks, so that writer
//!   threads mostly touch different skip lists. Each entry (node, tower and
//!   key) is one bump allocation in its partition's arena, freed all at once
//!   with the memtable (`skiplist`, the only module with `unsafe` code);
//! - point lookups at a snapshot ([`Memtable::get`] answers a
//!   [`seer_core::Lookup`], merge operands newest first), behind a key
//!   filter (`key_filter`, a register-blocked Bloom filter of the same hashes) that
//!   answers most absent keys without a search;
//! - ordered, bounded, bidirectional iteration across all partitions
//!   ([`MemtableIterator`], a [`seer_core::InternalIterator`] built on
//!   [`seer_core::MergingIterator`]) for the DB's read path and the flush;
//! - size accounting (`should_flush` is one atomic load), entry counts and
//!   sequence-number bounds;
//! - freezing: an immutable memtable refuses inserts and stays readable;
//! - range tombstones ([`RangeTombstoneSet`], `range_del`): a rarely written,
//!   mutex-guarded list published to readers as fragments.
//!
//! It deliberately knows nothing of the WAL, tables, snapshots' lifetimes or
//! merge operators: the DB resolves operands across memtables and tables, and
//! decides when to swap and flush.

mod error;
mod iter;
mod key;
mod key_filter;
mod memtable;
mod range_del;
#[allow(unsafe_code)]
mod skiplist;

pub use error::MemtableError;
pub use iter::MemtableIterator;
pub use memtable::{
    Memtable, MemtableInserter, ENTRY_OVERHEAD_BYTES, MAX_USER_KEY_BYTES,
    VALUELESS_ENTRY_OVERHEAD_BYTES,
};
pub use range_del::RangeTombstoneSet;

/// The partition count seerdb uses unless configured otherwise: 2.
///
/// Chosen from `benches/memtable.rs` and `examples/throughput.rs` on the
/// project's 2-core machine (16-byte keys, 100-byte values, random order):
/// single-thread inserts and gets do not depend on `P` (a skip-list
/// operation is bound by cache misses along its search path, and `P` only
/// shortens that path by `log2 P` levels); two writer threads gain about a
/// quarter from `P = 1` to `P = 2` (they stop sharing one skip list's hot
/// counters and CAS targets) and nothing more at 4, 8 or 16; a full scan
/// gets slower as `P` grows (one more merge level per doubling), fastest
/// at 1 and 2. A machine with more writer threads may want
/// `P` near its writer count. (Measured on the seed's crossbeam skip lists;
/// not re-measured with the arena lists, whose full scans are 2-3x faster.)
pub const DEFAULT_PARTITIONS: usize = 2;
