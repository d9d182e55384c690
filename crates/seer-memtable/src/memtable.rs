//! The [`Memtable`]: partitioned skip lists, point lookups, size accounting
//! and freezing.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;
use seer_core::{Lookup, MergeBase, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES};

use crate::iter::MemtableIterator;
use crate::key::{EncodedKey, KeyBounds};
use crate::MemtableError;

/// One partition: encoded internal key -> value (empty for tombstones).
pub(crate) type Partition = SkipMap<EncodedKey, Bytes>;

/// Estimated bytes one entry costs beyond its key and value bytes: the skip
/// list node (reference count and height word, the key's prefix and
/// `Arc<[u8]>` pointer, the `Bytes` value handle, two tower pointers on
/// average at p = 1/2), the
/// key allocation's two reference counts, and two allocator headers.
pub const ENTRY_OVERHEAD_BYTES: usize = std::mem::size_of::<usize>()
    + std::mem::size_of::<EncodedKey>()
    + std::mem::size_of::<Bytes>()
    + 2 * std::mem::size_of::<usize>()
    + 2 * std::mem::size_of::<usize>()
    + 2 * 16;

/// The in-memory write buffer: `P` lock-free skip lists ordered by internal
/// key, `partition = xxh3(user_key) % P`.
///
/// Inserts take `&self` and may run from many threads at once. Once
/// [`frozen`](Self::freeze), the memtable refuses inserts but stays readable
/// and iterable; iterators hold an `Arc<Memtable>` and keep it alive.
#[derive(Debug)]
pub struct Memtable {
    partitions: Box<[Partition]>,
    capacity_bytes: usize,
    frozen: AtomicBool,
    stats: Stats,
}

/// Counters updated by every insert.
#[derive(Debug)]
struct Stats {
    memory_bytes: AtomicUsize,
    entry_count: AtomicU64,
    tombstone_count: AtomicU64,
    merge_count: AtomicU64,
    /// `u64::MAX` while empty.
    smallest_seq: AtomicU64,
    /// Meaningful only once `entry_count > 0`.
    largest_seq: AtomicU64,
}

impl Stats {
    fn new() -> Self {
        Self {
            memory_bytes: AtomicUsize::new(0),
            entry_count: AtomicU64::new(0),
            tombstone_count: AtomicU64::new(0),
            merge_count: AtomicU64::new(0),
            smallest_seq: AtomicU64::new(u64::MAX),
            largest_seq: AtomicU64::new(0),
        }
    }

    /// Accounts one inserted entry. Sequence bounds are only written when
    /// they move, so that writers with increasing sequence numbers mostly
    /// read `smallest_seq` instead of bouncing its cache line.
    fn record(&self, kind: ValueKind, seq: SeqNo, charged_bytes: usize) {
        self.memory_bytes
            .fetch_add(charged_bytes, Ordering::Relaxed);
        self.entry_count.fetch_add(1, Ordering::Relaxed);
        match kind {
            ValueKind::Delete => self.tombstone_count.fetch_add(1, Ordering::Relaxed),
            ValueKind::Merge => self.merge_count.fetch_add(1, Ordering::Relaxed),
            ValueKind::Put => 0,
        };
        if seq < self.smallest_seq.load(Ordering::Relaxed) {
            self.smallest_seq.fetch_min(seq, Ordering::Relaxed);
        }
        if seq > self.largest_seq.load(Ordering::Relaxed) {
            self.largest_seq.fetch_max(seq, Ordering::Relaxed);
        }
    }
}

impl Memtable {
    /// An empty memtable with `partition_count` partitions (at least one)
    /// that asks to be flushed once its accounted size reaches
    /// `capacity_bytes`. See [`crate::DEFAULT_PARTITIONS`].
    pub fn new(partition_count: usize, capacity_bytes: usize) -> Self {
        let partitions = (0..partition_count.max(1))
            .map(|_| Partition::new())
            .collect();
        Self {
            partitions,
            capacity_bytes,
            frozen: AtomicBool::new(false),
            stats: Stats::new(),
        }
    }

    /// Inserts an entry: a put (`value`), a tombstone (`kind == Delete`,
    /// `value` ignored by readers, pass `Bytes::new()`) or a merge operand.
    /// Lock-free; may be called from many threads at once.
    ///
    /// `value` is stored as given (no copy): a `Bytes` slicing a larger
    /// buffer keeps that whole buffer alive while only its length is
    /// accounted.
    pub fn insert(
        &self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: Bytes,
    ) -> Result<(), MemtableError> {
        if self.is_frozen() {
            return Err(MemtableError::Frozen);
        }
        if seq > MAX_SEQ {
            return Err(MemtableError::SeqTooLarge { seq });
        }
        let charged_bytes = user_key.len() + TRAILER_BYTES + value.len() + ENTRY_OVERHEAD_BYTES;
        let key = EncodedKey::entry(user_key, seq, kind);
        self.partition_of(user_key).insert(key, value);
        self.stats.record(kind, seq, charged_bytes);
        Ok(())
    }

    /// What this memtable knows about `user_key` at `snapshot_seq`: only
    /// entries with `seq <= snapshot_seq` are seen. Merge operands are
    /// returned newest first, with the put or tombstone below them if it lies
    /// in this memtable.
    pub fn get(&self, user_key: &[u8], snapshot_seq: SeqNo) -> Lookup {
        let seek_key = EncodedKey::seek(user_key, snapshot_seq.min(MAX_SEQ));
        let mut operands = Vec::new();
        for entry in self.partition_of(user_key).range(seek_key..) {
            let (entry_user_key, kind) = entry.key().user_key_and_kind();
            if entry_user_key != user_key {
                break;
            }
            let base = match kind {
                ValueKind::Merge => {
                    operands.push(entry.value().clone());
                    continue;
                }
                ValueKind::Put => MergeBase::Value(entry.value().clone()),
                ValueKind::Delete => MergeBase::Deleted,
            };
            return lookup_with_base(operands, Some(base));
        }
        lookup_with_base(operands, None)
    }

    /// An iterator over every entry, in internal-key order. It holds this
    /// memtable alive. Not positioned: call a seek first.
    pub fn iter(self: &Arc<Self>) -> MemtableIterator {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// An iterator over the entries whose user key lies within
    /// `lower..upper`, in internal-key order. It holds this memtable alive.
    /// Not positioned: call a seek first.
    pub fn range(self: &Arc<Self>, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> MemtableIterator {
        MemtableIterator::new(self, KeyBounds::from_user_bounds(lower, upper))
    }

    /// Makes the memtable immutable: later inserts fail with
    /// [`MemtableError::Frozen`]. This guards against misuse; the DB must
    /// still let in-flight writers finish before it flushes.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Whether [`Self::freeze`] was called.
    #[inline]
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// Whether the accounted size reached the capacity (one atomic load).
    #[inline]
    pub fn should_flush(&self) -> bool {
        self.approximate_memory_bytes() >= self.capacity_bytes
    }

    /// Accounted size: key and value bytes plus [`ENTRY_OVERHEAD_BYTES`] per
    /// entry.
    #[inline]
    pub fn approximate_memory_bytes(&self) -> usize {
        self.stats.memory_bytes.load(Ordering::Relaxed)
    }

    /// The capacity given to [`Self::new`].
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// The number of partitions.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Entries inserted (puts, tombstones and merge operands).
    pub fn entry_count(&self) -> u64 {
        self.stats.entry_count.load(Ordering::Relaxed)
    }

    /// Tombstones inserted.
    pub fn tombstone_count(&self) -> u64 {
        self.stats.tombstone_count.load(Ordering::Relaxed)
    }

    /// Merge operands inserted.
    pub fn merge_count(&self) -> u64 {
        self.stats.merge_count.load(Ordering::Relaxed)
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.entry_count() == 0
    }

    /// The smallest sequence number inserted, if any.
    pub fn smallest_seq(&self) -> Option<SeqNo> {
        let seq = self.stats.smallest_seq.load(Ordering::Relaxed);
        (seq != u64::MAX).then_some(seq)
    }

    /// The largest sequence number inserted, if any.
    pub fn largest_seq(&self) -> Option<SeqNo> {
        (!self.is_empty()).then(|| self.stats.largest_seq.load(Ordering::Relaxed))
    }

    /// The partitions, for iterators.
    pub(crate) fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// The partition that holds `user_key`.
    #[inline]
    fn partition_of(&self, user_key: &[u8]) -> &Partition {
        let count = self.partitions.len();
        let index = if count == 1 {
            0
        } else {
            (xxhash_rust::xxh3::xxh3_64(user_key) % count as u64) as usize
        };
        &self.partitions[index]
    }
}

/// The answer for `operands` (newest first) above `base`.
fn lookup_with_base(operands: Vec<Bytes>, base: Option<MergeBase>) -> Lookup {
    match (operands.is_empty(), base) {
        (true, None) => Lookup::NotFound,
        (true, Some(MergeBase::Value(value))) => Lookup::Value(value),
        (true, Some(MergeBase::Deleted)) => Lookup::Deleted,
        (false, base) => Lookup::Merge { operands, base },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(memtable: &Memtable, key: &[u8], seq: SeqNo, kind: ValueKind, value: &'static [u8]) {
        memtable
            .insert(key, seq, kind, Bytes::from_static(value))
            .unwrap();
    }

    #[test]
    fn get_sees_only_its_snapshot() {
        let memtable = Memtable::new(4, 1 << 20);
        put(&memtable, b"k", 1, ValueKind::Put, b"one");
        put(&memtable, b"k", 2, ValueKind::Merge, b"+2");
        put(&memtable, b"k", 3, ValueKind::Merge, b"+3");
        put(&memtable, b"k", 4, ValueKind::Delete, b"");
        assert_eq!(memtable.get(b"k", 0), Lookup::NotFound);
        assert_eq!(
            memtable.get(b"k", 1),
            Lookup::Value(Bytes::from_static(b"one"))
        );
        assert_eq!(
            memtable.get(b"k", 3),
            Lookup::Merge {
                operands: vec![Bytes::from_static(b"+3"), Bytes::from_static(b"+2")],
                base: Some(MergeBase::Value(Bytes::from_static(b"one"))),
            }
        );
        assert_eq!(memtable.get(b"k", 4), Lookup::Deleted);
        assert_eq!(memtable.get(b"k", MAX_SEQ), Lookup::Deleted);
        assert_eq!(memtable.get(b"j", MAX_SEQ), Lookup::NotFound);
        assert_eq!(memtable.get(b"k\0", MAX_SEQ), Lookup::NotFound);
    }

    #[test]
    fn accounting_and_sequence_bounds() {
        let memtable = Memtable::new(2, 3 * ENTRY_OVERHEAD_BYTES);
        assert_eq!(
            (memtable.smallest_seq(), memtable.largest_seq()),
            (None, None)
        );
        put(&memtable, b"a", 7, ValueKind::Put, b"xyz");
        put(&memtable, b"b", 5, ValueKind::Delete, b"");
        assert!(!memtable.should_flush());
        put(&memtable, b"c", 9, ValueKind::Merge, b"m");
        assert!(memtable.should_flush());
        assert_eq!(memtable.entry_count(), 3);
        assert_eq!(memtable.tombstone_count(), 1);
        assert_eq!(memtable.merge_count(), 1);
        assert_eq!(
            (memtable.smallest_seq(), memtable.largest_seq()),
            (Some(5), Some(9))
        );
        let key_and_value_bytes = 3 * (1 + TRAILER_BYTES) + 3 + 1;
        assert_eq!(
            memtable.approximate_memory_bytes(),
            key_and_value_bytes + 3 * ENTRY_OVERHEAD_BYTES
        );
    }

    #[test]
    fn frozen_memtable_refuses_inserts_but_stays_readable() {
        let memtable = Memtable::new(1, 1 << 20);
        put(&memtable, b"k", 1, ValueKind::Put, b"v");
        memtable.freeze();
        assert!(memtable.is_frozen());
        let refused = memtable.insert(b"k", 2, ValueKind::Put, Bytes::new());
        assert_eq!(refused, Err(MemtableError::Frozen));
        assert_eq!(
            memtable.get(b"k", 9),
            Lookup::Value(Bytes::from_static(b"v"))
        );
        assert_eq!(memtable.entry_count(), 1);
    }

    #[test]
    fn oversized_sequence_is_refused() {
        let memtable = Memtable::new(1, 1 << 20);
        let refused = memtable.insert(b"k", MAX_SEQ + 1, ValueKind::Put, Bytes::new());
        assert_eq!(
            refused,
            Err(MemtableError::SeqTooLarge { seq: MAX_SEQ + 1 })
        );
        assert!(memtable.is_empty());
    }
}
