//! [`RangeDelFilter`]: a cursor that hides the entries a set of range
//! tombstones deletes at a snapshot.
//!
//! It wraps one source's cursor (a memtable's or a sorted run's) beneath
//! the merge, so that the merged cursor and everything above it never see
//! a deleted entry. Each source is given the largest sequence number of its
//! entries: a fragment whose visible tombstone is newer than that deletes
//! every entry of the source in its range, so the filter skips the whole
//! range with one seek (to the fragment's end forward, to just before its
//! start backward) instead of stepping over dead entries; otherwise it steps
//! entry by entry. This is RocksDB's and Pebble's "seek past the range
//! tombstone in older levels", done per source.
//!
//! The filter is a pure function of the entry (key, sequence number) given
//! the fixed tombstones and snapshot, so every positioning call of
//! [`InternalIterator`] keeps its meaning over the filtered sequence.

use std::sync::Arc;

use bytes::Bytes;

use crate::{
    FragmentedTombstones, InternalIterator, InternalKey, ParsedInternalKey, SeqNo, MAX_SEQ,
};

/// `inner` without the entries a tombstone of `tombstones` visible at
/// `snapshot_seq` deletes (tombstone `seq` > entry `seq`).
#[derive(Debug)]
pub struct RangeDelFilter<I> {
    inner: I,
    tombstones: Arc<FragmentedTombstones>,
    snapshot_seq: SeqNo,
    /// No entry of `inner` has a larger sequence number ([`MAX_SEQ`] when
    /// unknown: then the filter never skips by seeking).
    source_largest_seq: SeqNo,
}

/// What the filter does about the entry under the cursor.
enum Verdict {
    /// Not deleted (or not an internal key: left for the reader to report).
    Keep,
    /// Deleted: step to the neighbouring entry.
    Step,
    /// Deleted, and so is every entry of the source in `[start, end)`.
    SkipFragment { start: Bytes, end: Bytes },
}

impl<I: InternalIterator> RangeDelFilter<I> {
    /// Filters `inner`, whose entries all have sequence numbers up to
    /// `source_largest_seq`, with `tombstones` read at `snapshot_seq`.
    pub fn new(
        inner: I,
        tombstones: Arc<FragmentedTombstones>,
        snapshot_seq: SeqNo,
        source_largest_seq: SeqNo,
    ) -> Self {
        Self {
            inner,
            tombstones,
            snapshot_seq,
            source_largest_seq,
        }
    }

    /// The wrapped cursor.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    fn verdict(&self) -> Verdict {
        if !self.inner.valid() {
            return Verdict::Keep;
        }
        let Ok(entry) = ParsedInternalKey::parse(self.inner.key()) else {
            return Verdict::Keep;
        };
        let Some(fragment) = self.tombstones.fragment_containing(entry.user_key) else {
            return Verdict::Keep;
        };
        match fragment.max_seq_at(self.snapshot_seq) {
            Some(seq) if seq > entry.seq && seq > self.source_largest_seq => {
                Verdict::SkipFragment {
                    start: fragment.start().clone(),
                    end: fragment.end().clone(),
                }
            }
            Some(seq) if seq > entry.seq => Verdict::Step,
            _ => Verdict::Keep,
        }
    }

    /// Moves in `direction` to the nearest entry that is not deleted.
    fn skip(&mut self, direction: Direction) -> Result<(), I::Error> {
        if self.tombstones.is_empty() {
            return Ok(());
        }
        loop {
            match (self.verdict(), direction) {
                (Verdict::Keep, _) => return Ok(()),
                (Verdict::Step, Direction::Forward) => self.inner.next()?,
                (Verdict::Step, Direction::Backward) => self.inner.prev()?,
                (Verdict::SkipFragment { end, .. }, Direction::Forward) => self
                    .inner
                    .seek(&InternalKey::seek_key(end, MAX_SEQ).encode())?,
                // The seek key of `start` at MAX_SEQ sorts before every entry
                // of `start`: the last entry at or before it is below `start`.
                (Verdict::SkipFragment { start, .. }, Direction::Backward) => self
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
        let mut filter = RangeDelFilter::new(source(&entries), Arc::clone(&tombstones), 20, 5);
        filter.seek_to_first().unwrap();
        assert_eq!(
            filter.key(),
            InternalKey::new(&b"z"[..], 5, ValueKind::Put).encode()
        );
        assert!(filter.inner().moves <= 2, "{} moves", filter.inner().moves);
        filter.prev().unwrap();
        assert!(!filter.valid());
        // Read below the tombstone, everything is there.
        let mut below = RangeDelFilter::new(source(&entries), tombstones, 8, 5);
        below.seek_to_first().unwrap();
        assert_eq!(below.key(), entries[0].0.encode());
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
            ops in proptest::collection::vec(op(), 1..30),
        ) {
            let entries: Vec<(InternalKey, Bytes)> = keys
                .iter()
                .map(|(k, s)| (InternalKey::new(k.clone(), *s, ValueKind::Put), Bytes::new()))
                .collect();
            let tombstones = Arc::new(FragmentedTombstones::new(
                ranges.iter().map(|(a, b, s)| RangeTombstone::new(a.clone(), b.clone(), *s)),
            ));
            let largest = if claim_largest {
                keys.iter().map(|(_, s)| *s).max().unwrap_or(0)
            } else {
                MAX_SEQ
            };
            let live: Vec<(InternalKey, Bytes)> = {
                let map: BTreeMap<_, _> = entries.iter().cloned().collect();
                map.into_iter()
                    .filter(|(k, _)| !tombstones.covers(k.user_key(), k.seq(), snapshot_seq))
                    .collect()
            };
            let mut filter = RangeDelFilter::new(source(&entries), tombstones, snapshot_seq, largest);
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
