//! The [`Memtable`]: partitioned skip lists, point lookups, size accounting
//! and freezing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{Lookup, MergeBase, RangeTombstone, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES};

use crate::key::{entry_trailer, kind_of_trailer, seek_trailer, Target};
use crate::key_filter::KeyFilter;
use crate::range_del::RangeTombstoneSet;
use crate::skiplist::{
    height_from_hash, node_overhead_bytes, SkipList, Splice, NODE_OVERHEAD_BYTES,
    VALUELESS_NODE_OVERHEAD_BYTES,
};
use crate::MemtableError;

/// One partition: an arena skip list of encoded internal key -> value
/// (empty for tombstones).
pub(crate) type Partition = SkipList;

/// Estimated bytes one entry with a non-empty value costs beyond its key
/// and value bytes: its arena node's fixed part (the 16-byte key prefix,
/// key length and height), the `Bytes` value handle and a tower of two
/// pointers (mean height 4/3 plus alignment padding). The value bytes
/// themselves are counted at their length, wherever they live.
pub const ENTRY_OVERHEAD_BYTES: usize = NODE_OVERHEAD_BYTES;

/// Estimated bytes one entry with an empty value (every tombstone, and a
/// put or merge operand of an empty value) costs beyond its key bytes:
/// [`ENTRY_OVERHEAD_BYTES`] without the value handle, which such a node
/// does not have. A 16-byte key's tombstone is charged 16 + 8 + 40 = 64
/// bytes.
pub const VALUELESS_ENTRY_OVERHEAD_BYTES: usize = VALUELESS_NODE_OVERHEAD_BYTES;

/// The longest user key an entry may have (its encoded length is stored in
/// 32 bits).
pub const MAX_USER_KEY_BYTES: usize = u32::MAX as usize - TRAILER_BYTES;

/// Smallest arena block of a partition.
const MIN_BLOCK_BYTES: usize = 16 << 10;
/// Largest arena block of a partition (a 64 MiB memtable with two
/// partitions allocates 64 blocks).
const MAX_BLOCK_BYTES: usize = 1 << 20;

/// Multiplier mixing a sequence number into the key hash for the height.
const SEQ_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The in-memory write buffer: `P` lock-free arena skip lists ordered by
/// internal key, a user key's partition picked from its xxh3 hash, and a
/// key filter over the same hashes that lets [`Self::get`] of an absent key
/// skip the search (`key_filter`; 1/64 of the capacity, not charged to the
/// accounted size).
///
/// Inserts take `&self` and may run from many threads at once. Once
/// [`frozen`](Self::freeze), the memtable refuses inserts but stays readable
/// and iterable; iterators hold its partitions (and so its entries) alive.
#[derive(Debug)]
pub struct Memtable {
    partitions: Box<[Arc<Partition>]>,
    capacity_bytes: usize,
    frozen: AtomicBool,
    stats: Stats,
    range_tombstones: RangeTombstoneSet,
    filter: KeyFilter,
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
        self.entry_count.fetch_add(1, Ordering::Relaxed);
        match kind {
            ValueKind::Delete => self.tombstone_count.fetch_add(1, Ordering::Relaxed),
            ValueKind::Merge => self.merge_count.fetch_add(1, Ordering::Relaxed),
            ValueKind::Put | ValueKind::ExpiringPut => 0,
        };
        self.record_bytes_and_seq(seq, charged_bytes);
    }

    /// Accounts `charged_bytes` more and widens the sequence bounds to `seq`
    /// (an entry or a range tombstone).
    fn record_bytes_and_seq(&self, seq: SeqNo, charged_bytes: usize) {
        self.memory_bytes
            .fetch_add(charged_bytes, Ordering::Relaxed);
        if seq < self.smallest_seq.load(Ordering::Relaxed) {
            self.smallest_seq.fetch_min(seq, Ordering::Relaxed);
        }
        self.widen_largest_seq(seq);
    }

    /// Raises `largest_seq` to `seq`. Sequentially consistent, so that an
    /// entry counted here before it checks the range tombstones and a range
    /// tombstone published before it reads `largest_seq` cannot miss each
    /// other (on x86 the same instructions as relaxed ones).
    fn widen_largest_seq(&self, seq: SeqNo) {
        if seq > self.largest_seq.load(Ordering::SeqCst) {
            self.largest_seq.fetch_max(seq, Ordering::SeqCst);
        }
    }
}

impl Memtable {
    /// An empty memtable with `partition_count` partitions (at least one)
    /// that asks to be flushed once its accounted size reaches
    /// `capacity_bytes`. See [`crate::DEFAULT_PARTITIONS`].
    pub fn new(partition_count: usize, capacity_bytes: usize) -> Self {
        let partition_count = partition_count.max(1);
        let block_bytes =
            (capacity_bytes / partition_count / 16).clamp(MIN_BLOCK_BYTES, MAX_BLOCK_BYTES);
        let partitions = (0..partition_count)
            .map(|_| Arc::new(Partition::new(block_bytes)))
            .collect();
        Self {
            partitions,
            capacity_bytes,
            frozen: AtomicBool::new(false),
            stats: Stats::new(),
            range_tombstones: RangeTombstoneSet::new(),
            filter: KeyFilter::for_capacity(capacity_bytes),
        }
    }

    /// Inserts an entry: a put (`value`), a tombstone (`kind == Delete`,
    /// `value` ignored by readers, pass `Bytes::new()`) or a merge operand.
    /// Lock-free; may be called from many threads at once.
    ///
    /// The key is copied into the partition's arena together with the skip
    /// list node (one bump allocation, no heap allocation); `value` is
    /// stored as given (no copy): a `Bytes` slicing a larger buffer keeps
    /// that whole buffer alive while only its length is accounted. An empty
    /// `value` is not stored (its node has no value handle, see
    /// [`VALUELESS_ENTRY_OVERHEAD_BYTES`]) and reads back as `Bytes::new()`.
    /// Inserting an internal key (user key, `seq`, `kind`) that is already
    /// present keeps the first value.
    pub fn insert(
        &self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: Bytes,
    ) -> Result<(), MemtableError> {
        self.insert_at(None, user_key, seq, kind, value)
    }

    /// An inserter for a run of inserts by one thread (a write batch) that
    /// remembers, per partition, where its last insert went, so that keys
    /// that ascend skip most of the skip-list search. See
    /// [`MemtableInserter`].
    pub fn inserter(&self) -> MemtableInserter<'_> {
        MemtableInserter {
            memtable: self,
            splices: self
                .partitions
                .iter()
                .map(|list| Splice::new(list))
                .collect(),
        }
    }

    /// [`Self::insert`], from the remembered positions `splices` (one per
    /// partition) when given.
    fn insert_at(
        &self,
        splices: Option<&mut [Splice<'_>]>,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: Bytes,
    ) -> Result<(), MemtableError> {
        self.check_insert(user_key.len(), seq)?;
        // Counted before the insert so that a range tombstone inserted
        // concurrently sees it (see `range_del`).
        self.stats.widen_largest_seq(seq);
        self.range_tombstones.note_point_entry(user_key, seq);
        let charged_bytes =
            user_key.len() + TRAILER_BYTES + value.len() + node_overhead_bytes(&value);
        let hash = xxhash_rust::xxh3::xxh3_64(user_key);
        let height = height_from_hash(mix(hash ^ seq.wrapping_mul(SEQ_MIX)));
        let index = self.partition_index(hash);
        let partition = &self.partitions[index];
        // Before the node is published (see `key_filter`).
        self.filter.insert(hash);
        let trailer = entry_trailer(seq, kind);
        let inserted = match splices.and_then(|splices| splices.get_mut(index)) {
            Some(splice) => partition.insert_at(splice, user_key, trailer, value, height),
            None => partition.insert(user_key, trailer, value, height),
        };
        if inserted {
            self.stats.record(kind, seq, charged_bytes);
        }
        Ok(())
    }

    /// Inserts the range tombstone `[start, end) @ seq` (an empty range is
    /// ignored), charged like an entry whose key and value are `start` and
    /// `end`. Readers ask [`Self::range_tombstones`]; [`Self::get`] and the
    /// iterators do not apply it.
    pub fn insert_range_tombstone(
        &self,
        start: &[u8],
        end: &[u8],
        seq: SeqNo,
    ) -> Result<(), MemtableError> {
        self.check_insert(start.len().max(end.len()), seq)?;
        self.range_tombstones.insert(RangeTombstone::new(
            Bytes::copy_from_slice(start),
            Bytes::copy_from_slice(end),
            seq,
        ));
        // An entry newer than the tombstone may already be in its range
        // (inserts out of sequence order): then it is not clean.
        if self.stats.largest_seq.load(Ordering::SeqCst) > seq {
            self.range_tombstones.mark_overwritten_seq(seq);
        }
        let charged_bytes = start.len() + TRAILER_BYTES + end.len() + ENTRY_OVERHEAD_BYTES;
        self.stats.record_bytes_and_seq(seq, charged_bytes);
        Ok(())
    }

    /// The memtable's range tombstones.
    pub fn range_tombstones(&self) -> &RangeTombstoneSet {
        &self.range_tombstones
    }

    /// Refuses an insert into a frozen memtable, a sequence number above
    /// 56 bits or a key longer than [`MAX_USER_KEY_BYTES`].
    #[inline]
    fn check_insert(&self, key_bytes: usize, seq: SeqNo) -> Result<(), MemtableError> {
        if self.is_frozen() {
            return Err(MemtableError::Frozen);
        }
        if seq > MAX_SEQ {
            return Err(MemtableError::SeqTooLarge { seq });
        }
        if key_bytes > MAX_USER_KEY_BYTES {
            return Err(MemtableError::KeyTooLarge { key_bytes });
        }
        Ok(())
    }

    /// What this memtable knows about `user_key` at `snapshot_seq`: only
    /// entries with `seq <= snapshot_seq` are seen. Merge operands are
    /// returned newest first, with the put or tombstone below them if it lies
    /// in this memtable.
    ///
    /// The probe borrows `user_key` (no seek key is built) and allocates
    /// nothing unless merge operands are found.
    pub fn get(&self, user_key: &[u8], snapshot_seq: SeqNo) -> Lookup {
        let hash = xxhash_rust::xxh3::xxh3_64(user_key);
        if !self.filter.may_contain(hash) {
            return Lookup::NotFound;
        }
        let target = Target::new(user_key, seek_trailer(snapshot_seq));
        let mut operands = Vec::new();
        let mut cursor = self.partition_at(hash).seek(&target);
        while let Some(entry) = cursor {
            let (entry_user_key, trailer) = entry.user_key_and_trailer();
            if entry_user_key != user_key {
                break;
            }
            let base = match kind_of_trailer(trailer) {
                ValueKind::Merge => {
                    operands.push(entry.value().clone());
                    cursor = entry.next();
                    continue;
                }
                ValueKind::Put => MergeBase::Value(entry.value().clone()),
                ValueKind::ExpiringPut => MergeBase::Expiring(entry.value().clone()),
                ValueKind::Delete => MergeBase::Deleted,
            };
            return lookup_with_base(operands, Some(base));
        }
        lookup_with_base(operands, None)
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
    /// entry ([`VALUELESS_ENTRY_OVERHEAD_BYTES`] per entry with an empty
    /// value).
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

    /// Whether nothing was inserted (no entry and no range tombstone).
    pub fn is_empty(&self) -> bool {
        self.entry_count() == 0 && self.range_tombstones.is_empty()
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
    pub(crate) fn partitions(&self) -> &[Arc<Partition>] {
        &self.partitions
    }

    /// The partition of the user key whose xxh3 hash is `hash`.
    #[inline]
    fn partition_at(&self, hash: u64) -> &Partition {
        &self.partitions[self.partition_index(hash)]
    }

    /// The index of the partition of the user key whose xxh3 hash is
    /// `hash`: the hash scaled to the partition count by a multiply and a
    /// shift (uniform for a uniform hash, and without the 64-bit division
    /// of `hash % count`, which costs tens of cycles on every insert and
    /// lookup). Partitions live in memory only, so the mapping is free to
    /// change between versions.
    #[inline]
    fn partition_index(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.partitions.len() as u128) >> 64) as usize
    }
}

/// Inserts into one [`Memtable`] by one thread that start each skip-list
/// search from where the thread's previous insert into that partition went
/// (the splice of that insert) instead of the top, so that ascending
/// keys, as in a sorted batch, cost a few comparisons each instead of a
/// full search. Other threads may insert meanwhile: a remembered position
/// they changed is detected and searched again. Same contract and results
/// as [`Memtable::insert`].
#[derive(Debug)]
pub struct MemtableInserter<'m> {
    memtable: &'m Memtable,
    /// One per partition.
    splices: Box<[Splice<'m>]>,
}

impl MemtableInserter<'_> {
    /// [`Memtable::insert`], from the remembered position.
    pub fn insert(
        &mut self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: Bytes,
    ) -> Result<(), MemtableError> {
        self.memtable
            .insert_at(Some(&mut self.splices), user_key, seq, kind, value)
    }
}

/// A bijective 64-bit mixer (the splitmix64 finaliser), so that the height
/// bits of `hash ^ seq * SEQ_MIX` are well spread for every version of a key.
#[inline]
fn mix(mut word: u64) -> u64 {
    word = (word ^ (word >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    word = (word ^ (word >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    word ^ (word >> 31)
}

/// The answer for `operands` (newest first) above `base`.
fn lookup_with_base(operands: Vec<Bytes>, base: Option<MergeBase>) -> Lookup {
    match (operands.is_empty(), base) {
        (true, None) => Lookup::NotFound,
        (true, Some(MergeBase::Value(value))) => Lookup::Value(value),
        (true, Some(MergeBase::Expiring(stored))) => Lookup::Expiring(stored),
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
        let key_and_value_bytes = 3 * (1 + TRAILER_BYTES) + 3 + 1;
        let charged_bytes =
            key_and_value_bytes + 2 * ENTRY_OVERHEAD_BYTES + VALUELESS_ENTRY_OVERHEAD_BYTES;
        let memtable = Memtable::new(2, charged_bytes);
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
        assert_eq!(memtable.approximate_memory_bytes(), charged_bytes);
    }

    #[test]
    fn entries_with_empty_values_are_charged_without_a_value_handle() {
        assert_eq!(
            VALUELESS_ENTRY_OVERHEAD_BYTES,
            ENTRY_OVERHEAD_BYTES - std::mem::size_of::<Bytes>()
        );
        let memtable = Memtable::new(2, 1 << 20);
        let key = [7u8; 16];
        put(&memtable, &key, 1, ValueKind::Delete, b"");
        // A 16-byte key's tombstone: key, trailer and a node without a
        // value handle.
        assert_eq!(memtable.approximate_memory_bytes(), 64);
        put(&memtable, &key, 2, ValueKind::Put, b"");
        assert_eq!(memtable.approximate_memory_bytes(), 2 * 64);
        put(&memtable, &key, 3, ValueKind::Put, b"v");
        assert_eq!(
            memtable.approximate_memory_bytes(),
            2 * 64 + 16 + TRAILER_BYTES + 1 + ENTRY_OVERHEAD_BYTES
        );
        assert_eq!(memtable.get(&key, 1), Lookup::Deleted);
        assert_eq!(memtable.get(&key, 2), Lookup::Value(Bytes::new()));
        assert_eq!(
            memtable.get(&key, 3),
            Lookup::Value(Bytes::from_static(b"v"))
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
