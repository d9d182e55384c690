//! [`RangeTombstoneSet`]: a memtable's range tombstones, and which of them
//! still delete every entry of the memtable in their range.
//!
//! Range deletes are rare next to point writes, so the set is simple: writers
//! take a mutex, add the tombstone to the fragments in one pass
//! ([`FragmentedTombstones::with`]) and publish the new fragments through an
//! [`ArcSwap`]; readers load the published fragments without a lock (one
//! atomic load when the set is empty, the common case). A reader sees every tombstone whose insert
//! returned before its load: the DB publishes a sequence number as visible
//! only after the whole batch, range deletes included, is in the memtable.
//!
//! The set also keeps the *clean* tombstones: those into whose range no
//! entry newer than the tombstone was written in this memtable. A cursor
//! over the memtable may skip a clean tombstone's range with one seek
//! (`seer_core::RangeDelFilter::with_clean_tombstones`): a queue's consumed
//! head is skipped, not walked. A tombstone stops being clean when a point
//! entry newer than it lands in its range ([`RangeTombstoneSet::note_point_entry`],
//! called before the entry is inserted, so before it can be visible), or,
//! for entries inserted out of sequence order, when the memtable already
//! held a newer entry as the tombstone went in (the memtable checks its
//! largest sequence number after [`RangeTombstoneSet::insert`]; both sides
//! use sequentially consistent operations, so one of them sees the other).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use seer_core::{FragmentedTombstones, RangeTombstone, SeqNo};

/// The range tombstones of one memtable.
#[derive(Debug, Default)]
pub struct RangeTombstoneSet {
    /// Serialises writers (inserts and clean-set updates); counts the
    /// tombstones inserted.
    inserted_count: Mutex<usize>,
    /// The fragments of `inserted`, as last published.
    fragments: ArcSwap<FragmentedTombstones>,
    /// Sorted sequence numbers of the clean tombstones, as last published.
    clean_seqs: ArcSwap<Vec<SeqNo>>,
    /// Tombstones published; written after `fragments` and `clean_seqs`.
    published_count: AtomicU64,
}

impl RangeTombstoneSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tombstone` (an empty range is ignored), clean, and publishes
    /// the new fragments.
    pub fn insert(&self, tombstone: RangeTombstone) {
        if tombstone.is_empty() {
            return;
        }
        let mut count = self.lock();
        let seq = tombstone.seq;
        let fragments = self.fragments.load().with(tombstone);
        self.fragments.store(Arc::new(fragments));
        let mut clean = Vec::clone(&self.clean_seqs.load());
        if let Err(position) = clean.binary_search(&seq) {
            clean.insert(position, seq);
        }
        self.clean_seqs.store(Arc::new(clean));
        *count += 1;
        self.published_count.fetch_add(1, Ordering::SeqCst);
    }

    /// A poisoned lock only means another writer panicked before it
    /// published; the published state is always whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.inserted_count
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that a point entry of `user_key` at `seq` is about to be
    /// inserted: every clean tombstone older than it covering the key stops
    /// being clean. Call it before the entry can be read, after the entry's
    /// `seq` is counted in the memtable's largest sequence number.
    pub fn note_point_entry(&self, user_key: &[u8], seq: SeqNo) {
        if self.published_count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let clean = self.clean_seqs.load();
        if clean.is_empty() {
            return;
        }
        let fragments = self.fragments.load();
        let Some(fragment) = fragments.fragment_containing(user_key) else {
            return;
        };
        let overwritten = fragment
            .seqs()
            .iter()
            .filter(|&&tombstone_seq| tombstone_seq < seq)
            .any(|tombstone_seq| clean.binary_search(tombstone_seq).is_ok());
        if overwritten {
            self.mark_overwritten(|tombstone_seq| {
                tombstone_seq < seq && fragment.seqs().contains(&tombstone_seq)
            });
        }
    }

    /// Takes the tombstone at `seq` out of the clean set: an entry newer
    /// than it may lie in its range.
    pub fn mark_overwritten_seq(&self, seq: SeqNo) {
        self.mark_overwritten(|tombstone_seq| tombstone_seq == seq);
    }

    fn mark_overwritten(&self, overwritten: impl Fn(SeqNo) -> bool) {
        let _writer = self.lock();
        let clean: Vec<SeqNo> = self
            .clean_seqs
            .load()
            .iter()
            .copied()
            .filter(|&seq| !overwritten(seq))
            .collect();
        self.clean_seqs.store(Arc::new(clean));
    }

    /// Whether no tombstone was inserted.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.published_count.load(Ordering::Acquire) == 0
    }

    /// The published fragments (shared, immutable).
    pub fn fragments(&self) -> Arc<FragmentedTombstones> {
        self.fragments.load_full()
    }

    /// The sorted sequence numbers of the clean tombstones: no entry of the
    /// memtable newer than one of them lies in its range (as of every entry
    /// whose insert returned before this call).
    pub fn clean_seqs(&self) -> Arc<Vec<SeqNo>> {
        self.clean_seqs.load_full()
    }

    /// The newest sequence number of a tombstone covering `user_key` visible
    /// at `snapshot_seq`, if any.
    #[inline]
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
        *self.lock()
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
    fn a_tombstone_stops_being_clean_when_a_newer_entry_lands_in_its_range() {
        let set = RangeTombstoneSet::new();
        set.insert(RangeTombstone::new(&b"a"[..], &b"f"[..], 5));
        set.insert(RangeTombstone::new(&b"d"[..], &b"k"[..], 8));
        assert_eq!(&*set.clean_seqs(), &[5, 8]);
        // Older entries and entries outside every range change nothing.
        set.note_point_entry(b"b", 4);
        set.note_point_entry(b"z", 20);
        assert_eq!(&*set.clean_seqs(), &[5, 8]);
        // Newer than 5 but older than 8, where both cover the key.
        set.note_point_entry(b"e", 6);
        assert_eq!(&*set.clean_seqs(), &[8]);
        set.note_point_entry(b"j", 9);
        assert!(set.clean_seqs().is_empty());
        set.insert(RangeTombstone::new(&b"m"[..], &b"p"[..], 12));
        set.mark_overwritten_seq(12);
        assert!(set.clean_seqs().is_empty());
    }

    #[test]
    fn a_tombstone_inserted_after_a_newer_entry_in_its_range_is_not_clean() {
        let memtable = crate::Memtable::new(1, 1 << 20);
        memtable
            .insert(b"k", 9, seer_core::ValueKind::Put, bytes::Bytes::new())
            .unwrap();
        memtable.insert_range_tombstone(b"a", b"z", 7).unwrap();
        assert!(memtable.range_tombstones().clean_seqs().is_empty());
        memtable.insert_range_tombstone(b"a", b"z", 11).unwrap();
        assert_eq!(&*memtable.range_tombstones().clean_seqs(), &[11]);
        memtable
            .insert(b"m", 12, seer_core::ValueKind::Put, bytes::Bytes::new())
            .unwrap();
        assert!(memtable.range_tombstones().clean_seqs().is_empty());
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
