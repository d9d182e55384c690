//! [`RangeDelFilter`]: a cursor that hides the entries a set of range
//! tombstones deletes at a snapshot.
//!
//! It wraps one source's cursor (a memtable's or a sorted run's) beneath
//! the merge, so that the merged cursor and everything above it never see
//! a deleted entry. The tombstones come as several fragmented sets (each
//! memtable's and the tree's), read side by side rather than merged, so a
//! new cursor costs nothing per tombstone. An entry is deleted when a
//! visible tombstone of any set is newer than it.
//!
//! When a fragment deletes *every* entry of the source in its range, the
//! filter skips the range with one seek (to the fragment's end forward, to
//! just before its start backward) instead of stepping over dead entries,
//! and it chains: the contiguous fragments after it (before it, backward)
//! that also delete everything are skipped by the same seek, so a scan
//! over a thousand consumed queue chunks is one seek. A fragment whose
//! visible tombstone has sequence number `t` deletes every entry of the
//! source in its range when
//! - `t` is above the source's largest sequence number (a tombstone newer
//!   than the whole source: RocksDB's and Pebble's "seek past the range
//!   tombstone in older levels"), or
//! - `t` is one of the source's *clean* tombstones: its own range tombstones
//!   into whose range no newer entry of the source was written (a
//!   memtable's [`clean` seqs](RangeDelFilter::with_clean_tombstones)); the
//!   fragment lies inside that tombstone's range, so every entry of the
//!   source there is older than `t`.
//!
//! Otherwise it steps entry by entry.
//!
//! The filter is a pure function of the entry (key, sequence number) given
//! the fixed tombstones and snapshot, so every positioning call of
//! [`InternalIterator`] keeps its meaning over the filtered sequence.

use std::sync::Arc;

use bytes::Bytes;

use crate::{
    FragmentedTombstones, InternalIterator, InternalKey, ParsedInternalKey, SeqNo,
    TombstoneFragment, MAX_SEQ,
};

/// The range tombstone sets a read sees, one per source that holds any.
pub type TombstoneSets = Arc<[Arc<FragmentedTombstones>]>;

/// `inner` without the entries a tombstone of `sets` visible at
/// `snapshot_seq` deletes (tombstone `seq` > entry `seq`).
#[derive(Debug)]
pub struct RangeDelFilter<I> {
    inner: I,
    sets: TombstoneSets,
    snapshot_seq: SeqNo,
    /// No entry of `inner` has a larger sequence number ([`MAX_SEQ`] when
    /// unknown: then only clean tombstones skip by seeking).
    source_largest_seq: SeqNo,
    /// Sorted sequence numbers of the source's own tombstones whose range
    /// holds no newer entry of the source.
    clean_seqs: Arc<Vec<SeqNo>>,
}

/// What the filter does about the entry under the cursor.
enum Verdict {
    /// Not deleted (or not an internal key: left for the reader to report).
    Keep,
    /// Deleted: step to the neighbouring entry.
    Step,
    /// Deleted, and so is every entry of the source in `[start, end)`.
    Skip { start: Bytes, end: Bytes },
}

impl<I: InternalIterator> RangeDelFilter<I> {
    /// Filters `inner`, whose entries all have sequence numbers up to
    /// `source_largest_seq`, with the tombstone `sets` read at
    /// `snapshot_seq`.
    pub fn new(
        inner: I,
        sets: TombstoneSets,
        snapshot_seq: SeqNo,
        source_largest_seq: SeqNo,
    ) -> Self {
        Self {
            inner,
            sets,
            snapshot_seq,
            source_largest_seq,
            clean_seqs: Arc::new(Vec::new()),
        }
    }

    /// Names the source's clean tombstones (sorted sequence numbers): its
    /// own range tombstones into whose range it holds no newer entry, as
    /// seer-memtable's `RangeTombstoneSet` tracks them. A wrong claim hides
    /// live entries.
    pub fn with_clean_tombstones(mut self, clean_seqs: Arc<Vec<SeqNo>>) -> Self {
        debug_assert!(clean_seqs.windows(2).all(|pair| pair[0] < pair[1]));
        self.clean_seqs = clean_seqs;
        self
    }

    /// The wrapped cursor.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// Whether `fragment` deletes every entry of the source in its range at
    /// the snapshot.
    fn deletes_all(&self, fragment: &TombstoneFragment) -> bool {
        fragment.max_seq_at(self.snapshot_seq).is_some_and(|seq| {
            seq > self.source_largest_seq || self.clean_seqs.binary_search(&seq).is_ok()
        })
    }

    /// The range that one seek may skip from fragment `index` of `set` on,
    /// in `direction`: it and the contiguous fragments beyond it that also
    /// delete everything.
    fn chain(&self, set: &FragmentedTombstones, index: usize, direction: Direction) -> Verdict {
        let fragments = set.fragments();
        let (mut first, mut last) = (index, index);
        match direction {
            Direction::Forward => {
                while let Some(next) = fragments.get(last + 1) {
                    if next.start() != fragments[last].end() || !self.deletes_all(next) {
                        break;
                    }
                    last += 1;
                }
            }
            Direction::Backward => {
                while let Some(previous) = first.checked_sub(1).map(|i| &fragments[i]) {
                    if previous.end() != fragments[first].start() || !self.deletes_all(previous) {
                        break;
                    }
                    first -= 1;
                }
            }
        }
        Verdict::Skip {
            start: fragments[first].start().clone(),
            end: fragments[last].end().clone(),
        }
    }

    fn verdict(&self, direction: Direction) -> Verdict {
        if !self.inner.valid() {
            return Verdict::Keep;
        }
        let Ok(entry) = ParsedInternalKey::parse(self.inner.key()) else {
            return Verdict::Keep;
        };
        let mut verdict = Verdict::Keep;
        for set in self.sets.iter() {
            let Some(index) = set.fragment_index_containing(entry.user_key) else {
                continue;
            };
            let fragment = &set.fragments()[index];
            if fragment
                .max_seq_at(self.snapshot_seq)
                .is_none_or(|seq| seq <= entry.seq)
            {
                continue;
            }
            if !self.deletes_all(fragment) {
                if matches!(verdict, Verdict::Keep) {
                    verdict = Verdict::Step;
                }
                continue;
            }
            // Any one set's skippable chain is sound on its own; take the
            // one reaching farthest.
            let chain = self.chain(set, index, direction);
            let farther = match (&verdict, &chain, direction) {
                (
                    Verdict::Skip { end, .. },
                    Verdict::Skip { end: reach, .. },
                    Direction::Forward,
                ) => reach > end,
                (
                    Verdict::Skip { start, .. },
                    Verdict::Skip { start: reach, .. },
                    Direction::Backward,
                ) => reach < start,
                _ => true,
            };
            if farther {
                verdict = chain;
            }
        }
        verdict
    }

    /// Moves in `direction` to the nearest entry that is not deleted.
    fn skip(&mut self, direction: Direction) -> Result<(), I::Error> {
        if self.sets.is_empty() {
            return Ok(());
        }
        loop {
            match (self.verdict(direction), direction) {
                (Verdict::Keep, _) => return Ok(()),
                (Verdict::Step, Direction::Forward) => self.inner.next()?,
                (Verdict::Step, Direction::Backward) => self.inner.prev()?,
                (Verdict::Skip { end, .. }, Direction::Forward) => self
                    .inner
                    .seek(&InternalKey::seek_key(end, MAX_SEQ).encode())?,
                // The seek key of `start` at MAX_SEQ sorts before every entry
                // of `start`: the last entry at or before it is below `start`.
                (Verdict::Skip { start, .. }, Direction::Backward) => self
                    .inner
                    .seek_for_prev(&InternalKey::seek_key(start, MAX_SEQ).encode())?,
            }
        }
    }
}

/// Which way the cursor just moved.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

impl<I: InternalIterator> InternalIterator for RangeDelFilter<I> {
    type Error = I::Error;

    #[inline]
    fn valid(&self) -> bool {
        self.inner.valid()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.inner.key()
    }

    #[inline]
    fn value(&self) -> &Bytes {
        self.inner.value()
    }

    fn seek_to_first(&mut self) -> Result<(), Self::Error> {
        self.inner.seek_to_first()?;
        self.skip(Direction::Forward)
    }

    fn seek_to_last(&mut self) -> Result<(), Self::Error> {
        self.inner.seek_to_last()?;
        self.skip(Direction::Backward)
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.inner.seek(target)?;
        self.skip(Direction::Forward)
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.inner.seek_for_prev(target)?;
        self.skip(Direction::Backward)
    }

    fn next(&mut self) -> Result<(), Self::Error> {
        self.inner.next()?;
        self.skip(Direction::Forward)
    }

    fn prev(&mut self) -> Result<(), Self::Error> {
        self.inner.prev()?;
        self.skip(Direction::Backward)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::convert::Infallible;
    use std::ops::Bound;

    use proptest::prelude::*;

    use super::*;
    use crate::{RangeTombstone, ValueKind};

    /// A cursor over a map ordered by internal key, counting its moves.
    #[derive(Debug, Default)]
    struct MapCursor {
        entries: BTreeMap<InternalKey, Bytes>,
        /// The current key, owned and encoded.
        at: Option<(InternalKey, Vec<u8>)>,
        moves: usize,
    }

    /// An encoded key or seek key as an `InternalKey` (a seek key's kind
    /// byte 0xff does not parse as a stored kind).
    fn target_key(target: &[u8]) -> InternalKey {
        let split = target.len() - 8;
        let mut trailer = [0u8; 8];
        trailer.copy_from_slice(&target[split..]);
        let trailer = u64::from_le_bytes(trailer);
        let user_key = Bytes::copy_from_slice(&target[..split]);
        match ValueKind::from_byte(trailer as u8) {
            Ok(kind) => InternalKey::new(user_key, trailer >> 8, kind),
            Err(_) => InternalKey::seek_key(user_key, trailer >> 8),
        }
    }

    impl MapCursor {
        fn new(entries: &[(InternalKey, Bytes)]) -> Self {
            Self {
                entries: entries.iter().cloned().collect(),
                ..Self::default()
            }
        }

        fn place(&mut self, found: Option<&InternalKey>) -> Result<(), Infallible> {
            self.moves += 1;
            self.at = found.map(|key| (key.clone(), key.encode()));
            Ok(())
        }

        fn first_in(&mut self, low: Bound<&InternalKey>) -> Result<(), Infallible> {
            let found = self
                .entries
                .range((low, Bound::Unbounded))
                .next()
                .map(|(k, _)| k.clone());
            self.place(found.as_ref())
        }

        fn last_in(&mut self, high: Bound<&InternalKey>) -> Result<(), Infallible> {
            let found = self
                .entries
                .range((Bound::Unbounded, high))
                .next_back()
                .map(|(k, _)| k.clone());
            self.place(found.as_ref())
        }

        fn current(&self) -> InternalKey {
            self.at.as_ref().map(|(key, _)| key.clone()).unwrap()
        }
    }

    impl InternalIterator for MapCursor {
        type Error = Infallible;
        fn valid(&self) -> bool {
            self.at.is_some()
        }
        fn key(&self) -> &[u8] {
            &self.at.as_ref().unwrap().1
        }
        fn value(&self) -> &Bytes {
            &self.entries[&self.at.as_ref().unwrap().0]
        }
        fn seek_to_first(&mut self) -> Result<(), Infallible> {
            self.first_in(Bound::Unbounded)
        }
        fn seek_to_last(&mut self) -> Result<(), Infallible> {
            self.last_in(Bound::Unbounded)
        }
        fn seek(&mut self, target: &[u8]) -> Result<(), Infallible> {
            self.first_in(Bound::Included(&target_key(target)))
        }
        fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Infallible> {
            self.last_in(Bound::Included(&target_key(target)))
        }
        fn next(&mut self) -> Result<(), Infallible> {
            let current = self.current();
            self.first_in(Bound::Excluded(&current))
        }
        fn prev(&mut self) -> Result<(), Infallible> {
            let current = self.current();
            self.last_in(Bound::Excluded(&current))
        }
    }

    fn source(entries: &[(InternalKey, Bytes)]) -> MapCursor {
        MapCursor::new(entries)
    }

    fn one_set(tombstones: &Arc<FragmentedTombstones>) -> TombstoneSets {
        Arc::from(vec![Arc::clone(tombstones)])
    }

    fn put(key: &str, seq: SeqNo) -> (InternalKey, Bytes) {
        (
            InternalKey::new(key.as_bytes().to_vec(), seq, ValueKind::Put),
            Bytes::new(),
        )
    }

    #[test]
    fn a_tombstone_newer_than_the_source_is_skipped_with_one_seek() {
        let mut entries: Vec<_> = (0..1000).map(|i| put(&format!("k{i:04}"), 5)).collect();
        entries.push(put("z", 5));
        let tombstones = Arc::new(FragmentedTombstones::new([RangeTombstone::new(
            &b"k"[..],
            &b"l"[..],
            9,
        )]));
        let mut filter = RangeDelFilter::new(source(&entries), one_set(&tombstones), 20, 5);
        filter.seek_to_first().unwrap();
        assert_eq!(
            filter.key(),
            InternalKey::new(&b"z"[..], 5, ValueKind::Put).encode()
        );
        assert!(filter.inner().moves <= 2, "{} moves", filter.inner().moves);
        filter.prev().unwrap();
        assert!(!filter.valid());
        // Read below the tombstone, everything is there.
        let mut below = RangeDelFilter::new(source(&entries), one_set(&tombstones), 8, 5);
        below.seek_to_first().unwrap();
        assert_eq!(below.key(), entries[0].0.encode());
    }

    #[test]
    fn contiguous_clean_tombstones_over_a_queue_head_are_skipped_with_one_seek() {
        // A queue: chunk i of ten messages was written at seq 2i and
        // consumed by a range delete at seq 2i + 1; the newest chunk, at
        // the tail, is newer than every tombstone.
        let chunks = 200u64;
        let key = |message: u64| format!("m{message:06}");
        let mut entries = Vec::new();
        let mut tombstones = Vec::new();
        for chunk in 0..chunks {
            for message in chunk * 10..chunk * 10 + 10 {
                entries.push(put(&key(message), 2 * chunk));
            }
            tombstones.push(RangeTombstone::new(
                key(chunk * 10).into_bytes(),
                key(chunk * 10 + 10).into_bytes(),
                2 * chunk + 1,
            ));
        }
        let tail = chunks * 10;
        entries.push(put(&key(tail), 2 * chunks));
        let clean: Arc<Vec<SeqNo>> = Arc::new(tombstones.iter().map(|t| t.seq).collect());
        let sets = one_set(&Arc::new(FragmentedTombstones::new(tombstones)));
        let snapshot = 2 * chunks;
        let mut filter =
            RangeDelFilter::new(source(&entries), Arc::clone(&sets), snapshot, snapshot)
                .with_clean_tombstones(Arc::clone(&clean));
        filter.seek_to_first().unwrap();
        assert_eq!(filter.key(), entries.last().unwrap().0.encode());
        assert!(filter.inner().moves <= 2, "{} moves", filter.inner().moves);
        filter.prev().unwrap();
        assert!(!filter.valid());
        assert!(filter.inner().moves <= 4, "{} moves", filter.inner().moves);
        // Without the clean claim the source's newest entry is newer than
        // every tombstone: the filter steps over each dead entry.
        let mut stepping = RangeDelFilter::new(source(&entries), sets, snapshot, snapshot);
        stepping.seek_to_first().unwrap();
        assert_eq!(stepping.key(), entries.last().unwrap().0.encode());
        assert!(
            stepping.inner().moves > 1000,
            "{} moves",
            stepping.inner().moves
        );
    }

    #[test]
    fn a_clean_chain_stops_at_a_gap_and_at_a_tombstone_not_visible() {
        let entries: Vec<_> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|k| put(k, 1))
            .collect();
        // [a, b)@5 [b, c)@6 then a gap at c, [d, e)@9 (above the snapshot).
        let tombstones = Arc::new(FragmentedTombstones::new([
            RangeTombstone::new(&b"a"[..], &b"b"[..], 5),
            RangeTombstone::new(&b"b"[..], &b"c"[..], 6),
            RangeTombstone::new(&b"d"[..], &b"e"[..], 9),
        ]));
        let clean = Arc::new(vec![5, 6, 9]);
        let mut filter = RangeDelFilter::new(source(&entries), one_set(&tombstones), 8, 10)
            .with_clean_tombstones(clean);
        filter.seek_to_first().unwrap();
        assert_eq!(filter.key(), entries[2].0.encode(), "c is live");
        filter.next().unwrap();
        assert_eq!(
            filter.key(),
            entries[3].0.encode(),
            "d's tombstone is not visible"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        SeekToFirst,
        SeekToLast,
        Seek(Vec<u8>, SeqNo),
        SeekForPrev(Vec<u8>, SeqNo),
        Next,
        Prev,
    }

    fn user_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(b'a'..b'e', 0..3)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::SeekToFirst),
            1 => Just(Op::SeekToLast),
            1 => (user_key(), 0..12u64).prop_map(|(k, s)| Op::Seek(k, s)),
            1 => (user_key(), 0..12u64).prop_map(|(k, s)| Op::SeekForPrev(k, s)),
            3 => Just(Op::Next),
            3 => Just(Op::Prev),
        ]
    }

    proptest! {
        #[test]
        fn the_filter_moves_like_a_cursor_over_the_live_entries(
            keys in proptest::collection::vec((user_key(), 0..10u64), 0..30),
            ranges in proptest::collection::vec((user_key(), user_key(), 0..12u64), 0..5),
            snapshot_seq in 0..12u64,
            claim_largest in any::<bool>(),
            claim_clean in any::<bool>(),
            split_sets in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..30),
        ) {
            let entries: Vec<(InternalKey, Bytes)> = keys
                .iter()
                .map(|(k, s)| (InternalKey::new(k.clone(), *s, ValueKind::Put), Bytes::new()))
                .collect();
            let all: Vec<RangeTombstone> = ranges
                .iter()
                .enumerate()
                // Distinct sequence numbers, as every write has its own.
                .map(|(i, (a, b, s))| RangeTombstone::new(a.clone(), b.clone(), s * 8 + 1 + i as u64))
                .collect();
            let entries: Vec<(InternalKey, Bytes)> = entries
                .into_iter()
                .map(|(k, _)| (InternalKey::new(k.user_key().to_vec(), k.seq() * 8, ValueKind::Put), Bytes::new()))
                .collect();
            let snapshot_seq = snapshot_seq * 8 + 4;
            let tombstones = Arc::new(FragmentedTombstones::new(all.clone()));
            // Tombstones into whose range no newer entry was written.
            let mut clean: Vec<SeqNo> = all
                .iter()
                .filter(|t| !entries.iter().any(|(k, _)| t.contains(k.user_key()) && k.seq() > t.seq))
                .map(|t| t.seq)
                .collect();
            clean.sort_unstable();
            clean.dedup();
            let sets: TombstoneSets = if split_sets {
                let (odd, even): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.seq % 2 == 1);
                Arc::from(vec![
                    Arc::new(FragmentedTombstones::new(odd)),
                    Arc::new(FragmentedTombstones::new(even)),
                ])
            } else {
                one_set(&tombstones)
            };
            let largest = if claim_largest {
                entries.iter().map(|(k, _)| k.seq()).max().unwrap_or(0)
            } else {
                MAX_SEQ
            };
            let live: Vec<(InternalKey, Bytes)> = {
                let map: BTreeMap<_, _> = entries.iter().cloned().collect();
                map.into_iter()
                    .filter(|(k, _)| !tombstones.covers(k.user_key(), k.seq(), snapshot_seq))
                    .collect()
            };
            let mut filter = RangeDelFilter::new(source(&entries), sets, snapshot_seq, largest);
            if claim_clean {
                filter = filter.with_clean_tombstones(Arc::new(clean));
            }
            let mut model = source(&live);
            for op in ops {
                if !model.valid() && matches!(op, Op::Next | Op::Prev) {
                    continue;
                }
                match op {
                    Op::SeekToFirst => { filter.seek_to_first().unwrap(); model.seek_to_first().unwrap(); }
                    Op::SeekToLast => { filter.seek_to_last().unwrap(); model.seek_to_last().unwrap(); }
                    Op::Seek(k, s) => {
                        let target = InternalKey::seek_key(k, s).encode();
                        filter.seek(&target).unwrap();
                        model.seek(&target).unwrap();
                    }
                    Op::SeekForPrev(k, s) => {
                        let target = InternalKey::seek_key(k, s).encode();
                        filter.seek_for_prev(&target).unwrap();
                        model.seek_for_prev(&target).unwrap();
                    }
                    Op::Next => { filter.next().unwrap(); model.next().unwrap(); }
                    Op::Prev => { filter.prev().unwrap(); model.prev().unwrap(); }
                }
                prop_assert_eq!(filter.valid(), model.valid());
                if model.valid() {
                    prop_assert_eq!(filter.key(), model.key());
                }
            }
        }
    }
}
