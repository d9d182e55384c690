//! [`RangeTombstoneSet`]: a memtable's range tombstones.
//!
//! Range deletes are rare next to point writes, so the set is simple: writers
//! take a mutex, add the tombstone to the fragments in one pass
//! ([`FragmentedTombstones::with`]) and publish the new fragments through an
//! [`ArcSwap`]; readers load the published fragments without a lock (one
//! atomic load when the set is empty, the common case). A reader sees every tombstone whose insert
//! returned before its load: the DB publishes a sequence number as visible
//! only after the whole batch, range deletes included, is in the memtable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use seer_core::{FragmentedTombstones, RangeTombstone, SeqNo};

/// The range tombstones of one memtable.
#[derive(Debug, Default)]
pub struct RangeTombstoneSet {
    /// Serialises writers; counts the tombstones inserted.
    inserted_count: Mutex<usize>,
    /// The fragments of `inserted`, as last published.
    fragments: ArcSwap<FragmentedTombstones>,
    /// Set once the first tombstone is published.
    non_empty: AtomicBool,
}

impl RangeTombstoneSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tombstone` (an empty range is ignored) and publishes the new
    /// fragments.
    pub fn insert(&self, tombstone: RangeTombstone) {
        if tombstone.is_empty() {
            return;
        }
        // A poisoned lock only means another insert panicked before it
        // published; the published fragments are always whole.
        let mut count = self
            .inserted_count
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let fragments = self.fragments.load().with(tombstone);
        self.fragments.store(Arc::new(fragments));
        *count += 1;
        self.non_empty.store(true, Ordering::Release);
    }

    /// Whether no tombstone was inserted.
    pub fn is_empty(&self) -> bool {
        !self.non_empty.load(Ordering::Acquire)
    }

    /// The published fragments (shared, immutable).
    pub fn fragments(&self) -> Arc<FragmentedTombstones> {
        self.fragments.load_full()
    }

    /// The newest sequence number of a tombstone covering `user_key` visible
    /// at `snapshot_seq`, if any.
    pub fn max_covering_seq(&self, user_key: &[u8], snapshot_seq: SeqNo) -> Option<SeqNo> {
        if self.is_empty() {
            return None;
        }
        self.fragments
            .load()
            .max_covering_seq(user_key, snapshot_seq)
    }

    /// Tombstones inserted so far.
    pub fn len(&self) -> usize {
        *self
            .inserted_count
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_fragmented_and_visible_by_snapshot() {
        let set = RangeTombstoneSet::new();
        assert!(set.is_empty());
        assert_eq!(set.max_covering_seq(b"k", 100), None);
        set.insert(RangeTombstone::new(&b"a"[..], &b"m"[..], 5));
        set.insert(RangeTombstone::new(&b"k"[..], &b"z"[..], 9));
        set.insert(RangeTombstone::new(&b"q"[..], &b"q"[..], 11));
        assert!(!set.is_empty());
        assert_eq!(set.len(), 2);
        assert_eq!(set.max_covering_seq(b"l", 100), Some(9));
        assert_eq!(set.max_covering_seq(b"l", 8), Some(5));
        assert_eq!(set.max_covering_seq(b"z", 100), None);
        assert_eq!(set.fragments().fragments().len(), 3);
    }

    #[test]
    fn a_memtable_holds_its_range_tombstones_in_its_size_and_sequence_range() {
        let memtable = crate::Memtable::new(2, 1 << 20);
        memtable
            .insert(
                b"k",
                3,
                seer_core::ValueKind::Put,
                bytes::Bytes::from_static(b"v"),
            )
            .unwrap();
        let before_bytes = memtable.approximate_memory_bytes();
        memtable.insert_range_tombstone(b"a", b"z", 7).unwrap();
        assert!(memtable.approximate_memory_bytes() > before_bytes);
        assert_eq!(memtable.largest_seq(), Some(7));
        assert_eq!(memtable.entry_count(), 1);
        assert_eq!(
            memtable.range_tombstones().max_covering_seq(b"k", 10),
            Some(7)
        );
        let only_tombstones = crate::Memtable::new(1, 1 << 20);
        assert!(only_tombstones.is_empty());
        only_tombstones
            .insert_range_tombstone(b"a", b"b", 2)
            .unwrap();
        assert!(!only_tombstones.is_empty());
        assert_eq!(only_tombstones.smallest_seq(), Some(2));
        only_tombstones.freeze();
        assert_eq!(
            only_tombstones.insert_range_tombstone(b"c", b"d", 3),
            Err(crate::MemtableError::Frozen)
        );
        let too_long = vec![0; crate::MAX_USER_KEY_BYTES + 1];
        assert!(matches!(
            memtable.insert_range_tombstone(b"c", &too_long, 3),
            Err(crate::MemtableError::KeyTooLarge { .. })
        ));
    }

    /// Readers running beside a writer never see a tombstone vanish or a
    /// fragment list that answers differently from some prefix of the
    /// inserts.
    #[test]
    fn readers_beside_a_writer_see_a_growing_prefix() {
        let set = Arc::new(RangeTombstoneSet::new());
        let writer = {
            let set = Arc::clone(&set);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let start = format!("k{:03}", i).into_bytes();
                    let end = format!("k{:03}", i + 5).into_bytes();
                    set.insert(RangeTombstone::new(start, end, i + 1));
                }
            })
        };
        let mut newest_seen = 0;
        loop {
            let finished = writer.is_finished();
            // Tombstone i + 1 is the only one covering the tail of the last
            // fragment, so its newest seq counts the published inserts.
            let covered = set
                .fragments()
                .fragments()
                .last()
                .and_then(|f| f.seqs().first().copied())
                .unwrap_or(0);
            assert!(covered >= newest_seen, "{covered} < {newest_seen}");
            newest_seen = covered;
            if finished {
                assert_eq!(covered, 200);
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(set.max_covering_seq(b"k199", 1000), Some(200));
        assert_eq!(set.max_covering_seq(b"k100", 1000), Some(101));
    }
}
