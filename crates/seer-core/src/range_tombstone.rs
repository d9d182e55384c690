//! Range tombstones and their fragmented form.
//!
//! A [`RangeTombstone`] `[start, end) @ seq` deletes every entry of a user key
//! in `start <= key < end` written before `seq`. Tombstones may overlap;
//! [`FragmentedTombstones`] splits a set of them at every start and end into
//! non-overlapping [`TombstoneFragment`]s, each carrying the sequence numbers
//! of every tombstone that covers it (newest first), as RocksDB's fragmented
//! range tombstone list and Pebble's keyspan fragmenter do. On fragments the
//! question every reader asks, "the newest tombstone covering this key visible
//! at my snapshot", is one binary search and one scan of a short list.
//!
//! This module owns the data type and its queries only: where tombstones are
//! stored (memtable, table block, WAL record) belongs to the layer crates.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{DecodeError, SeqNo, MAX_SEQ};

/// Deletes every entry of a key in `[start, end)` with a sequence number
/// below `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeTombstone {
    /// The first deleted user key.
    pub start: Bytes,
    /// The first user key past the range (exclusive).
    pub end: Bytes,
    /// The sequence number of the delete.
    pub seq: SeqNo,
}

impl RangeTombstone {
    /// The tombstone `[start, end) @ seq`.
    pub fn new(start: impl Into<Bytes>, end: impl Into<Bytes>, seq: SeqNo) -> Self {
        Self {
            start: start.into(),
            end: end.into(),
            seq,
        }
    }

    /// Whether the range holds no key (`start >= end`).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Whether `key` lies in `[start, end)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_ref() <= key && key < self.end.as_ref()
    }
}

/// A key range `[start, end)` that no other fragment of its list overlaps,
/// with the sequence numbers of the tombstones covering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneFragment {
    start: Bytes,
    end: Bytes,
    /// Distinct, strictly descending, never empty.
    seqs_desc: Vec<SeqNo>,
}

impl TombstoneFragment {
    /// The first covered user key.
    pub fn start(&self) -> &Bytes {
        &self.start
    }

    /// The first user key past the fragment (exclusive).
    pub fn end(&self) -> &Bytes {
        &self.end
    }

    /// The sequence numbers of the tombstones covering the fragment, newest
    /// first.
    pub fn seqs(&self) -> &[SeqNo] {
        &self.seqs_desc
    }

    /// The newest tombstone sequence number visible at `snapshot_seq`.
    #[inline]
    pub fn max_seq_at(&self, snapshot_seq: SeqNo) -> Option<SeqNo> {
        self.seqs_desc
            .iter()
            .copied()
            .find(|&seq| seq <= snapshot_seq)
    }

    /// Whether `key` lies in `[start, end)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_ref() <= key && key < self.end.as_ref()
    }
}

/// Why [`FragmentedTombstones::from_fragments`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFragment {
    /// Position of the first bad fragment in the input.
    pub index: usize,
    /// What is wrong with it.
    pub error: DecodeError,
}

/// A set of range tombstones as sorted, non-overlapping fragments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentedTombstones {
    /// Sorted by start; each fragment's end is at most the next one's start.
    fragments: Vec<TombstoneFragment>,
}

impl FragmentedTombstones {
    /// Fragments `tombstones` (in any order, overlapping or not; empty ranges
    /// are ignored).
    pub fn new(tombstones: impl IntoIterator<Item = RangeTombstone>) -> Self {
        // For each boundary key, the sequence numbers that start and end there.
        let mut events: BTreeMap<Bytes, (Vec<SeqNo>, Vec<SeqNo>)> = BTreeMap::new();
        for tombstone in tombstones.into_iter().filter(|t| !t.is_empty()) {
            events
                .entry(tombstone.start)
                .or_default()
                .0
                .push(tombstone.seq);
            events
                .entry(tombstone.end)
                .or_default()
                .1
                .push(tombstone.seq);
        }
        // Multiset of the sequence numbers of the tombstones open at the sweep.
        let mut open: BTreeMap<SeqNo, usize> = BTreeMap::new();
        let mut fragments = Vec::new();
        let mut boundaries = events.into_iter().peekable();
        while let Some((boundary, (starting, ending))) = boundaries.next() {
            for seq in ending {
                if let Some(count) = open.get_mut(&seq) {
                    *count -= 1;
                    if *count == 0 {
                        open.remove(&seq);
                    }
                }
            }
            for seq in starting {
                *open.entry(seq).or_default() += 1;
            }
            if let (false, Some((next, _))) = (open.is_empty(), boundaries.peek()) {
                fragments.push(TombstoneFragment {
                    start: boundary,
                    end: next.clone(),
                    seqs_desc: open.keys().rev().copied().collect(),
                });
            }
        }
        let fragmented = Self { fragments };
        fragmented.debug_check();
        fragmented
    }

    /// The set with `tombstone` added (an empty range adds nothing), in one
    /// pass over the fragments: only those it overlaps are split. Equal to
    /// fragmenting every tombstone at once with [`Self::new`].
    pub fn with(&self, tombstone: RangeTombstone) -> Self {
        if tombstone.is_empty() {
            return self.clone();
        }
        let RangeTombstone { start, end, seq } = tombstone;
        let mut out: Vec<TombstoneFragment> = Vec::with_capacity(self.fragments.len() + 3);
        let mut push = |start: &Bytes, end: &Bytes, seqs_desc: Vec<SeqNo>| {
            out.push(TombstoneFragment {
                start: start.clone(),
                end: end.clone(),
                seqs_desc,
            })
        };
        // The first key of the new range not yet emitted, while there is one.
        let mut pending = Some(start.clone());
        for fragment in &self.fragments {
            if let Some(from) = pending.clone().filter(|from| *from < fragment.start) {
                let gap_end = (&fragment.start).min(&end).clone();
                push(&from, &gap_end, vec![seq]);
                pending = (gap_end < end).then_some(gap_end);
            }
            if fragment.end <= start || fragment.start >= end {
                push(&fragment.start, &fragment.end, fragment.seqs_desc.clone());
                continue;
            }
            let low = (&fragment.start).max(&start).clone();
            let high = (&fragment.end).min(&end).clone();
            if fragment.start < low {
                push(&fragment.start, &low, fragment.seqs_desc.clone());
            }
            let mut seqs_desc = fragment.seqs_desc.clone();
            if let Err(at) = seqs_desc.binary_search_by(|probe| seq.cmp(probe)) {
                seqs_desc.insert(at, seq);
            }
            push(&low, &high, seqs_desc);
            if high < fragment.end {
                push(&high, &fragment.end, fragment.seqs_desc.clone());
            }
            pending = (high < end).then_some(high);
        }
        if let Some(from) = pending {
            push(&from, &end, vec![seq]);
        }
        let added = Self { fragments: out };
        added.debug_check();
        added
    }

    /// The set of already fragmented `fragments` as `(start, end, seqs)`,
    /// checked: sorted and non-overlapping, each range non-empty, each
    /// sequence list non-empty, strictly descending and at most [`MAX_SEQ`].
    /// Decoders of stored fragments use it, so bad bytes are an error naming
    /// the first bad fragment.
    pub fn from_fragments(
        fragments: impl IntoIterator<Item = (Bytes, Bytes, Vec<SeqNo>)>,
    ) -> Result<Self, BadFragment> {
        let mut checked: Vec<TombstoneFragment> = Vec::new();
        for (index, (start, end, seqs_desc)) in fragments.into_iter().enumerate() {
            let bad = |detail: String| BadFragment {
                index,
                error: DecodeError::Invalid {
                    what: "range tombstone fragment",
                    detail,
                },
            };
            if start >= end {
                return Err(bad(format!("empty range {start:?}..{end:?}")));
            }
            if let Some(previous) = checked.last().filter(|p| p.end > start) {
                return Err(bad(format!(
                    "{start:?} starts before the previous fragment ends at {:?}",
                    previous.end
                )));
            }
            let descending = seqs_desc.windows(2).all(|w| w[0] > w[1]);
            if seqs_desc.is_empty() || !descending || seqs_desc[0] > MAX_SEQ {
                return Err(bad(format!("bad sequence numbers {seqs_desc:?}")));
            }
            checked.push(TombstoneFragment {
                start,
                end,
                seqs_desc,
            });
        }
        Ok(Self { fragments: checked })
    }

    /// The user-key range a table holding these fragments must claim: the
    /// first start, and an inclusive upper bound on every covered key (the
    /// last end, or the key just below it when the end is `k + [0]`, whose
    /// only smaller neighbour is `k`). `None` when empty.
    pub fn user_key_bounds(&self) -> Option<(&[u8], &[u8])> {
        let first = self.fragments.first()?;
        let last = self.fragments.last()?;
        let end = last.end.as_ref();
        let upper = match end.split_last() {
            Some((0, below)) => below,
            _ => end,
        };
        Some((first.start.as_ref(), upper))
    }

    /// Whether the set holds no tombstone.
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// The fragments, in key order.
    pub fn fragments(&self) -> &[TombstoneFragment] {
        &self.fragments
    }

    /// The tombstones the fragments stand for: one per fragment and sequence
    /// number, non-overlapping at equal sequence numbers, in key order.
    /// Fragmenting them again gives the same fragments.
    pub fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.fragments.iter().flat_map(|fragment| {
            fragment
                .seqs_desc
                .iter()
                .map(|&seq| RangeTombstone::new(fragment.start.clone(), fragment.end.clone(), seq))
        })
    }

    /// The fragment whose range holds `key`.
    #[inline]
    pub fn fragment_containing(&self, key: &[u8]) -> Option<&TombstoneFragment> {
        self.fragment_index_containing(key)
            .map(|index| &self.fragments[index])
    }

    /// The position in [`Self::fragments`] of the fragment whose range
    /// holds `key`.
    #[inline]
    pub fn fragment_index_containing(&self, key: &[u8]) -> Option<usize> {
        let after = self
            .fragments
            .partition_point(|fragment| fragment.start.as_ref() <= key);
        let index = after.checked_sub(1)?;
        self.fragments[index].contains(key).then_some(index)
    }

    /// The newest sequence number of a tombstone covering `key` visible at
    /// `snapshot_seq`: an entry of `key` with a smaller sequence number is
    /// deleted at that snapshot.
    #[inline]
    pub fn max_covering_seq(&self, key: &[u8], snapshot_seq: SeqNo) -> Option<SeqNo> {
        self.fragment_containing(key)?.max_seq_at(snapshot_seq)
    }

    /// Whether the entry of `key` written at `entry_seq` is deleted at
    /// `snapshot_seq`.
    pub fn covers(&self, key: &[u8], entry_seq: SeqNo, snapshot_seq: SeqNo) -> bool {
        self.max_covering_seq(key, snapshot_seq)
            .is_some_and(|seq| seq > entry_seq)
    }

    /// The fragments cut to `[lower, upper)` (`upper: None` is unbounded),
    /// for a table that holds only that key range.
    pub fn truncated(&self, lower: &[u8], upper: Option<&[u8]>) -> Self {
        let fragments = self
            .fragments
            .iter()
            .filter_map(|fragment| {
                let start = fragment.start.as_ref().max(lower);
                let end = match upper {
                    Some(upper) => fragment.end.as_ref().min(upper),
                    None => fragment.end.as_ref(),
                };
                (start < end).then(|| TombstoneFragment {
                    start: slice_of(&fragment.start, start),
                    end: slice_of(&fragment.end, end),
                    seqs_desc: fragment.seqs_desc.clone(),
                })
            })
            .collect();
        Self { fragments }
    }

    /// Keeps only the sequence numbers `keep(seq)` accepts, dropping the
    /// fragments left without any (compaction drops the tombstones no
    /// snapshot needs).
    pub fn retain_seqs(&self, mut keep: impl FnMut(SeqNo) -> bool) -> Self {
        let fragments = self
            .fragments
            .iter()
            .filter_map(|fragment| {
                let seqs_desc: Vec<SeqNo> = fragment
                    .seqs_desc
                    .iter()
                    .copied()
                    .filter(|&seq| keep(seq))
                    .collect();
                (!seqs_desc.is_empty()).then(|| TombstoneFragment {
                    start: fragment.start.clone(),
                    end: fragment.end.clone(),
                    seqs_desc,
                })
            })
            .collect();
        Self { fragments }
    }

    /// The smallest and largest sequence numbers of any tombstone.
    pub fn seq_bounds(&self) -> Option<(SeqNo, SeqNo)> {
        let mut seqs = self
            .fragments
            .iter()
            .flat_map(|fragment| fragment.seqs_desc.iter().copied());
        let first = seqs.next()?;
        Some(seqs.fold((first, first), |(low, high), seq| {
            (low.min(seq), high.max(seq))
        }))
    }

    fn debug_check(&self) {
        debug_assert!(self.fragments.iter().all(|f| f.start < f.end
            && !f.seqs_desc.is_empty()
            && f.seqs_desc.windows(2).all(|w| w[0] > w[1])));
        debug_assert!(self.fragments.windows(2).all(|w| w[0].end <= w[1].start));
    }
}

/// `chosen` as `Bytes`, sharing `owner`'s buffer when they are equal.
fn slice_of(owner: &Bytes, chosen: &[u8]) -> Bytes {
    if chosen == owner.as_ref() {
        owner.clone()
    } else {
        Bytes::copy_from_slice(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(start: &str, end: &str, seq: SeqNo) -> RangeTombstone {
        RangeTombstone::new(start.as_bytes().to_vec(), end.as_bytes().to_vec(), seq)
    }

    fn shape(set: &FragmentedTombstones) -> Vec<(String, String, Vec<SeqNo>)> {
        set.fragments()
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.start()).into_owned(),
                    String::from_utf8_lossy(f.end()).into_owned(),
                    f.seqs().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn overlapping_tombstones_split_at_every_boundary() {
        let set = FragmentedTombstones::new([t("c", "g", 5), t("a", "e", 9), t("x", "x", 3)]);
        let s = |a: &str, b: &str, seqs: &[SeqNo]| (a.to_owned(), b.to_owned(), seqs.to_vec());
        assert_eq!(
            shape(&set),
            vec![s("a", "c", &[9]), s("c", "e", &[9, 5]), s("e", "g", &[5])]
        );
        assert_eq!(set.max_covering_seq(b"d", 100), Some(9));
        assert_eq!(set.max_covering_seq(b"d", 8), Some(5));
        assert_eq!(set.max_covering_seq(b"d", 4), None);
        assert_eq!(set.max_covering_seq(b"g", 100), None);
        assert!(set.covers(b"f", 4, 100) && !set.covers(b"f", 5, 100));
        assert_eq!(set.seq_bounds(), Some((5, 9)));
    }

    #[test]
    fn truncation_keeps_only_the_window() {
        let set = FragmentedTombstones::new([t("a", "m", 4), t("k", "z", 7)]);
        let cut = set.truncated(b"f", Some(b"p"));
        let s = |a: &str, b: &str, seqs: &[SeqNo]| (a.to_owned(), b.to_owned(), seqs.to_vec());
        assert_eq!(
            shape(&cut),
            vec![s("f", "k", &[4]), s("k", "m", &[7, 4]), s("m", "p", &[7])]
        );
        assert!(set.truncated(b"z", None).is_empty());
        let newest = set.retain_seqs(|seq| seq > 5);
        assert_eq!(shape(&newest), vec![s("k", "m", &[7]), s("m", "z", &[7])]);
    }

    #[test]
    fn stored_fragments_are_checked() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let good = FragmentedTombstones::from_fragments([
            (b("a"), b("c"), vec![9, 4]),
            (b("c"), b("d"), vec![2]),
        ])
        .unwrap();
        assert_eq!(good.max_covering_seq(b"b", 8), Some(4));
        assert_eq!(FragmentedTombstones::new(good.tombstones()), good);
        assert_eq!(good.user_key_bounds(), Some((&b"a"[..], &b"d"[..])));
        let bad: [Vec<(Bytes, Bytes, Vec<SeqNo>)>; 5] = [
            vec![(b("c"), b("c"), vec![1])],
            vec![(b("a"), b("c"), vec![1]), (b("b"), b("d"), vec![1])],
            vec![(b("a"), b("c"), vec![])],
            vec![(b("a"), b("c"), vec![1, 2])],
            vec![(b("a"), b("c"), vec![MAX_SEQ + 1])],
        ];
        for fragments in bad {
            assert!(FragmentedTombstones::from_fragments(fragments).is_err());
        }
        let zero_end = FragmentedTombstones::new([RangeTombstone::new(b("a"), b("k\0"), 1)]);
        assert_eq!(zero_end.user_key_bounds(), Some((&b"a"[..], &b"k"[..])));
    }

    /// Small keys over a small alphabet so that ranges overlap often.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(b'a'..b'e', 0..3)
    }

    fn tombstones() -> impl Strategy<Value = Vec<RangeTombstone>> {
        proptest::collection::vec(
            (key(), key(), 0..20u64).prop_map(|(s, e, seq)| RangeTombstone::new(s, e, seq)),
            0..8,
        )
    }

    proptest! {
        #[test]
        fn fragments_answer_like_the_tombstone_list(
            list in tombstones(), probe in key(), snapshot_seq in 0..22u64,
            lower in key(), upper in proptest::option::of(key()),
        ) {
            let set = FragmentedTombstones::new(list.clone());
            let naive = list
                .iter()
                .filter(|t| t.contains(&probe) && t.seq <= snapshot_seq)
                .map(|t| t.seq)
                .max();
            prop_assert_eq!(set.max_covering_seq(&probe, snapshot_seq), naive);
            if let (Some(_), Some((low, high))) = (naive, set.user_key_bounds()) {
                prop_assert!(low <= &probe[..] && &probe[..] <= high);
            }
            // Adding one at a time gives the same fragments.
            let one_by_one = list
                .iter()
                .cloned()
                .fold(FragmentedTombstones::default(), |set, t| set.with(t));
            prop_assert_eq!(&one_by_one, &set);
            // Re-fragmenting the flattened form gives the same fragments.
            prop_assert_eq!(&FragmentedTombstones::new(set.tombstones()), &set);
            // Truncation answers like the untruncated set inside the window
            // and says nothing outside it.
            let cut = set.truncated(&lower, upper.as_deref());
            let inside = probe >= lower && upper.as_ref().is_none_or(|u| probe < *u);
            let expected = if inside { naive } else { None };
            prop_assert_eq!(cut.max_covering_seq(&probe, snapshot_seq), expected);
            let naive_bounds = list.iter().filter(|t| !t.is_empty()).map(|t| t.seq)
                .fold(None, |b: Option<(u64, u64)>, s| Some(b.map_or((s, s), |(l, h)| (l.min(s), h.max(s)))));
            prop_assert_eq!(set.seq_bounds(), naive_bounds);
        }
    }
}
