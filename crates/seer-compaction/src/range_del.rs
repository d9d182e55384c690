//! [`RangeDelCompaction`]: what a compaction does with range tombstones,
//! as rules over one user key's versions and over the inputs' fragments,
//! for the executor to apply around its [`KeyCompactor`](crate::executor::KeyCompactor).
//!
//! With live snapshots `s_1 < ... < s_n` cutting versions into stripes (as
//! [`KeyCompactor`](crate::executor::KeyCompactor) does), a range tombstone at `t` deletes a version at
//! `seq < t` for readers at `t` and above. So:
//!
//! - a version deleted by a tombstone of its own stripe is needed by no
//!   reader and is dropped ([`RangeDelCompaction::apply_to_key`]);
//! - a tombstone of a newer stripe is placed among the key's versions as a
//!   point tombstone (`Delete` at its sequence number), so that merge
//!   operands above it resolve against nothing rather than against an older
//!   stripe's value, which only older snapshots still read; the placed
//!   tombstones are taken out again after the key is compacted
//!   ([`RangeDelCompaction::without_placed`]): the output's range tombstones
//!   stand for them;
//! - in each fragment only the newest tombstone of each stripe is kept (a
//!   reader sees the newest one at or below its snapshot), and at the bottom
//!   of the tree a tombstone at or below the oldest snapshot is dropped: the
//!   versions it deleted are gone (they were all in its stripe) and nothing
//!   lies below ([`RangeDelCompaction::surviving`]), as point tombstones are;
//! - consecutive outputs split the surviving fragments at
//!   [`output_boundary`] ([`OutputSplitter`]): an output whose last key is
//!   `k` (an entry's, or a position the fragments give) holds the fragments
//!   below `k + [0]`, the next one those at or above it, so that
//!   their claimed key ranges stay disjoint and the gap between them stays
//!   covered.

use bytes::Bytes;
use seer_core::{FragmentedTombstones, InternalKey, RangeTombstone, SeqNo, ValueKind, MAX_SEQ};

/// The range tombstone rules of one compaction.
#[derive(Debug, Clone)]
pub struct RangeDelCompaction {
    /// Live snapshot sequence numbers, ascending.
    snapshots: Vec<SeqNo>,
    /// Nothing older than the inputs lies below the output.
    bottommost: bool,
    /// The inputs' range tombstones, fragmented together.
    inputs: FragmentedTombstones,
}

impl RangeDelCompaction {
    /// The rules for a compaction of inputs holding `tombstones`, with live
    /// `snapshots` (ascending) and, when `bottommost`, nothing below.
    pub fn new(
        tombstones: impl IntoIterator<Item = RangeTombstone>,
        snapshots: &[SeqNo],
        bottommost: bool,
    ) -> Self {
        debug_assert!(snapshots.windows(2).all(|w| w[0] <= w[1]));
        Self {
            snapshots: snapshots.to_vec(),
            bottommost,
            inputs: FragmentedTombstones::new(tombstones),
        }
    }

    /// Whether the inputs hold no range tombstone (then every rule is the
    /// identity).
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The index of the first snapshot that sees `seq` (`snapshots.len()`
    /// when only the latest view does), as [`KeyCompactor`](crate::executor::KeyCompactor) counts stripes.
    fn stripe(&self, seq: SeqNo) -> usize {
        self.snapshots.partition_point(|&s| s < seq)
    }

    /// The newest sequence number a stripe holds.
    fn stripe_top(&self, stripe: usize) -> SeqNo {
        self.snapshots.get(stripe).copied().unwrap_or(MAX_SEQ)
    }

    /// The newest tombstone of each stripe among `seqs_desc`, newest first.
    fn stripe_newest(&self, seqs_desc: &[SeqNo]) -> Vec<SeqNo> {
        let mut kept: Vec<SeqNo> = Vec::new();
        for &seq in seqs_desc {
            if kept
                .last()
                .is_none_or(|&newer| self.stripe(newer) != self.stripe(seq))
            {
                kept.push(seq);
            }
        }
        kept
    }

    /// One user key's versions (newest first, as the executor collects them)
    /// as the [`KeyCompactor`](crate::executor::KeyCompactor) must see them: versions a tombstone of their
    /// own stripe deletes are dropped, and each stripe's newest tombstone
    /// covering the key that lies above a remaining version is placed as a
    /// point tombstone.
    pub fn apply_to_key(&self, versions: &[(InternalKey, Bytes)]) -> Vec<(InternalKey, Bytes)> {
        let Some((first, _)) = versions.first() else {
            return Vec::new();
        };
        let user_key = first.user_key();
        let Some(fragment) = self.inputs.fragment_containing(user_key) else {
            return versions.to_vec();
        };
        let live: Vec<&(InternalKey, Bytes)> = versions
            .iter()
            .filter(|(key, _)| {
                let top = self.stripe_top(self.stripe(key.seq()));
                fragment.max_seq_at(top).is_none_or(|t| t <= key.seq())
            })
            .collect();
        let oldest_live = live.last().map(|(key, _)| key.seq());
        let mut placed: Vec<(InternalKey, Bytes)> = self
            .stripe_newest(fragment.seqs())
            .into_iter()
            .filter(|&t| oldest_live.is_some_and(|oldest| t > oldest))
            .map(|t| {
                (
                    InternalKey::new(user_key.clone(), t, ValueKind::Delete),
                    Bytes::new(),
                )
            })
            .collect();
        placed.extend(live.into_iter().cloned());
        placed.sort_by(|a, b| a.0.cmp(&b.0));
        placed
    }

    /// `survivors` of one user key without the point tombstones
    /// [`Self::apply_to_key`] placed. (Every write has its own sequence
    /// number, so no real entry of the key shares one with a tombstone.)
    pub fn without_placed(
        &self,
        mut survivors: Vec<(InternalKey, Bytes)>,
    ) -> Vec<(InternalKey, Bytes)> {
        let Some((first, _)) = survivors.first() else {
            return survivors;
        };
        let Some(fragment) = self.inputs.fragment_containing(first.user_key()) else {
            return survivors;
        };
        survivors.retain(|(key, _)| {
            key.kind() != ValueKind::Delete || !fragment.seqs().contains(&key.seq())
        });
        survivors
    }

    /// The tombstones the outputs keep: the newest of each stripe per
    /// fragment, without those at or below the oldest snapshot at the bottom.
    pub fn surviving(&self) -> FragmentedTombstones {
        let oldest_snapshot = self.snapshots.first().copied().unwrap_or(MAX_SEQ);
        let kept = self.inputs.fragments().iter().flat_map(|fragment| {
            self.stripe_newest(fragment.seqs())
                .into_iter()
                .filter(|&t| !(self.bottommost && t <= oldest_snapshot))
                .map(|t| RangeTombstone::new(fragment.start().clone(), fragment.end().clone(), t))
        });
        FragmentedTombstones::new(kept)
    }
}

/// Hands each output of a compaction, in key order, its share of the
/// surviving tombstones: from where the previous output's share ended up to
/// [`output_boundary`] of the last user key it reaches (an entry's, or one of
/// [`OutputSplitter::positions`]), and everything left to the last
/// output (a compaction whose entries all went still writes one table when
/// tombstones survive).
#[derive(Debug, Clone)]
pub struct OutputSplitter {
    tombstones: FragmentedTombstones,
    /// Where the next output's share starts (empty: the smallest key).
    lower: Bytes,
}

impl OutputSplitter {
    /// Splits `surviving` (see [`RangeDelCompaction::surviving`]).
    pub fn new(surviving: FragmentedTombstones) -> Self {
        Self {
            tombstones: surviving,
            lower: Bytes::new(),
        }
    }

    /// Whether any tombstone is left to hand out.
    pub fn is_exhausted(&self) -> bool {
        self.tombstones
            .fragments()
            .last()
            .is_none_or(|last| last.end().as_ref() <= self.lower.as_ref())
    }

    /// The user keys where a table's claimed key range can start or end
    /// because of the fragments: each fragment's start and upper claim
    /// (`k` for an end `k + [0]`, else the end), ascending and distinct.
    pub fn positions(&self) -> Vec<Bytes> {
        let mut positions: Vec<Bytes> = self
            .tombstones
            .fragments()
            .iter()
            .flat_map(|f| [f.start().clone(), upper_claim(f.end())])
            .collect();
        positions.sort();
        positions.dedup();
        positions
    }

    /// The sequence range of the fragments a table takes with it when its
    /// claimed key range reaches `user_key` from below: those whose claimed
    /// range `[start, upper claim]` holds `user_key` (the one containing it,
    /// and one ending at it whose claim is `user_key` itself).
    pub fn seqs_around(&self, user_key: &[u8]) -> Option<(SeqNo, SeqNo)> {
        let fragments = self.tombstones.fragments();
        let after = fragments.partition_point(|f| f.start().as_ref() <= user_key);
        fragments[after.saturating_sub(2)..after]
            .iter()
            .filter(|f| upper_claim(f.end()).as_ref() >= user_key)
            .flat_map(|f| f.seqs().iter().copied())
            .fold(None, |range, seq| match range {
                None => Some((seq, seq)),
                Some((low, high)) => Some((seq.min(low), seq.max(high))),
            })
    }

    /// The share of the output whose last user key is `last_user_key`.
    pub fn for_output(&mut self, last_user_key: &[u8]) -> FragmentedTombstones {
        let upper = output_boundary(last_user_key);
        let share = self.tombstones.truncated(&self.lower, Some(&upper));
        self.lower = upper;
        share
    }

    /// The share of the last output: everything left.
    pub fn for_last_output(&mut self) -> FragmentedTombstones {
        let share = self.tombstones.truncated(&self.lower, None);
        self.lower = self
            .tombstones
            .fragments()
            .last()
            .map_or_else(Bytes::new, |last| last.end().clone());
        share
    }
}

/// Where the tombstones of an output whose last user key is
/// `last_user_key` end and the next output's begin: `last_user_key + [0]`,
/// the smallest key above it, whose own upper bound claim is
/// `last_user_key` (see `FragmentedTombstones::user_key_bounds`).
pub fn output_boundary(last_user_key: &[u8]) -> Bytes {
    let mut boundary = Vec::with_capacity(last_user_key.len() + 1);
    boundary.extend_from_slice(last_user_key);
    boundary.push(0);
    Bytes::from(boundary)
}

/// The inclusive upper user key a table claims for fragments ending at the
/// exclusive `end`: the key just below it when `end` is `k + [0]` (whose
/// only smaller neighbour is `k`), else `end` itself (see
/// `FragmentedTombstones::user_key_bounds`).
fn upper_claim(end: &Bytes) -> Bytes {
    match end.split_last() {
        Some((0, below)) => end.slice(..below.len()),
        _ => end.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use seer_core::{MergeOperator, U64AddOperator};

    use super::*;
    use crate::executor::KeyCompactor;

    type Versions = Vec<(InternalKey, Bytes)>;

    /// What a reader at `snapshot_seq` reads for `user_key` from `entries`
    /// (any order) and `tombstones`: a version is deleted by a visible
    /// tombstone newer than it; merges resolve with the u64 adder.
    fn read(
        entries: &[(InternalKey, Bytes)],
        tombstones: &[RangeTombstone],
        user_key: &[u8],
        snapshot_seq: SeqNo,
    ) -> Option<Vec<u8>> {
        let mut versions: Vec<&(InternalKey, Bytes)> = entries
            .iter()
            .filter(|(key, _)| key.user_key().as_ref() == user_key && key.seq() <= snapshot_seq)
            .filter(|(key, _)| {
                !tombstones
                    .iter()
                    .any(|t| t.contains(user_key) && t.seq <= snapshot_seq && t.seq > key.seq())
            })
            .collect();
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        let mut operands = Vec::new();
        let mut base = None;
        for (key, value) in versions {
            match key.kind() {
                ValueKind::Merge => operands.push(value.clone()),
                ValueKind::Put => {
                    base = Some(value.clone());
                    break;
                }
                ValueKind::Delete => break,
            }
        }
        if operands.is_empty() {
            return base.map(|b| b.to_vec());
        }
        operands.reverse();
        U64AddOperator
            .full_merge(user_key, base.as_deref(), &operands)
            .ok()
    }

    fn put(key: &str, seq: SeqNo) -> (InternalKey, Bytes) {
        let value = Bytes::copy_from_slice(&seq.to_le_bytes());
        (
            InternalKey::new(key.as_bytes().to_vec(), seq, ValueKind::Put),
            value,
        )
    }

    #[test]
    fn a_merge_above_a_newer_stripe_tombstone_does_not_merge_into_the_older_value() {
        // put k@3 | snapshot 5 | range delete @8 | merge +1 @10.
        let rules =
            RangeDelCompaction::new([RangeTombstone::new(&b"a"[..], &b"z"[..], 8)], &[5], false);
        let merge = (
            InternalKey::new(&b"k"[..], 10, ValueKind::Merge),
            Bytes::copy_from_slice(&1u64.to_le_bytes()),
        );
        let versions = vec![merge.clone(), put("k", 3)];
        let applied = rules.apply_to_key(&versions);
        assert_eq!(applied.len(), 3, "{applied:?}");
        assert_eq!(applied[1].0.kind(), ValueKind::Delete);
        assert_eq!(applied[1].0.seq(), 8);
        let compactor = KeyCompactor {
            snapshots: &[5],
            bottommost: false,
            merge_operator: Some(&U64AddOperator),
        };
        let survivors = rules.without_placed(compactor.compact_key(&applied).unwrap());
        let tombstones: Vec<_> = rules.surviving().tombstones().collect();
        assert_eq!(
            read(&survivors, &tombstones, b"k", MAX_SEQ),
            Some(1u64.to_le_bytes().to_vec())
        );
        assert_eq!(
            read(&survivors, &tombstones, b"k", 5),
            Some(3u64.to_le_bytes().to_vec())
        );
    }

    #[test]
    fn the_bottom_drops_what_every_snapshot_sees_deleted() {
        let tombstones = [
            RangeTombstone::new(&b"a"[..], &b"m"[..], 4),
            RangeTombstone::new(&b"a"[..], &b"m"[..], 6),
            RangeTombstone::new(&b"f"[..], &b"z"[..], 9),
        ];
        let rules = RangeDelCompaction::new(tombstones.clone(), &[7], true);
        // 4 and 6 share a stripe; 6 is at or below the oldest snapshot, at the
        // bottom: gone. 9 is above it: kept.
        let surviving: BTreeSet<SeqNo> = rules.surviving().tombstones().map(|t| t.seq).collect();
        assert_eq!(surviving, BTreeSet::from([9]));
        assert!(rules.apply_to_key(&[put("b", 2), put("b", 1)]).is_empty());
        let no_bottom = RangeDelCompaction::new(tombstones, &[7], false);
        let kept: BTreeSet<SeqNo> = no_bottom.surviving().tombstones().map(|t| t.seq).collect();
        assert_eq!(kept, BTreeSet::from([6, 9]));
        assert_eq!(output_boundary(b"k"), Bytes::from_static(b"k\0"));
    }

    #[test]
    fn a_position_takes_the_fragments_whose_claimed_range_holds_it() {
        let splitter = OutputSplitter::new(FragmentedTombstones::new([
            RangeTombstone::new(&b"a"[..], &b"c"[..], 5),
            RangeTombstone::new(&b"c"[..], &b"e\0"[..], 7),
        ]));
        let positions: Vec<&[u8]> = vec![b"a", b"c", b"e"];
        assert_eq!(splitter.positions(), positions);
        // `[a, c)` claims `c` (a table holding it reaches `c`), and `[c, e + [0])`
        // holds it.
        assert_eq!(splitter.seqs_around(b"c"), Some((5, 7)));
        assert_eq!(splitter.seqs_around(b"b"), Some((5, 5)));
        assert_eq!(splitter.seqs_around(b"e"), Some((7, 7)));
        assert_eq!(splitter.seqs_around(b"e\0"), None);
        assert_eq!(splitter.seqs_around(b"0"), None);
    }

    proptest! {
        #[test]
        fn outputs_split_the_tombstones_into_disjoint_claims_covering_them_all(
            ranges in proptest::collection::vec((proptest::collection::vec(b'a'..b'e', 0..3), proptest::collection::vec(b'a'..b'e', 0..3), 1..9u64), 0..6),
            cuts in proptest::collection::btree_set(proptest::collection::vec(b'a'..b'e', 1..3), 0..4),
            probe in proptest::collection::vec(b'a'..b'e', 0..4),
        ) {
            let all = FragmentedTombstones::new(ranges.into_iter().map(|(a, b, s)| RangeTombstone::new(a, b, s)));
            let mut splitter = OutputSplitter::new(all.clone());
            let mut shares: Vec<(FragmentedTombstones, Option<Vec<u8>>)> = cuts
                .iter()
                .map(|last| (splitter.for_output(last), Some(last.clone())))
                .collect();
            shares.push((splitter.for_last_output(), None));
            prop_assert!(splitter.is_exhausted());
            // Every key is covered by exactly one share, as by the whole set.
            let answers: Vec<Option<SeqNo>> = shares.iter().map(|(share, _)| share.max_covering_seq(&probe, MAX_SEQ)).collect();
            let covering: Vec<&Option<SeqNo>> = answers.iter().filter(|a| a.is_some()).collect();
            prop_assert!(covering.len() <= 1);
            prop_assert_eq!(covering.first().copied().copied().flatten(), all.max_covering_seq(&probe, MAX_SEQ));
            // Each output's claim (its last key and its share's bounds) ends
            // below where the next output's share begins.
            for (index, (share, last)) in shares.iter().enumerate() {
                let Some(last) = last else { continue };
                if let Some((_, upper)) = share.user_key_bounds() {
                    prop_assert!(upper <= &last[..]);
                }
                for (later, _) in &shares[index + 1..] {
                    if let Some((lower, _)) = later.user_key_bounds() {
                        prop_assert!(lower > &last[..]);
                    }
                }
            }
        }
    }

    fn scenario() -> impl Strategy<Value = (Versions, Vec<RangeTombstone>, Vec<SeqNo>, bool)> {
        // Distinct sequence numbers for every write, as the DB assigns them.
        let writes = proptest::collection::vec(
            (
                0..5usize,
                prop_oneof![Just(0u8), Just(1), Just(2), Just(3)],
                b'a'..b'f',
                b'a'..b'g',
            ),
            1..24,
        );
        (
            writes,
            proptest::collection::btree_set(1..30u64, 0..4),
            any::<bool>(),
        )
            .prop_map(|(writes, snapshots, bottommost)| {
                let mut entries = Vec::new();
                let mut tombstones = Vec::new();
                for (index, (key, kind, start, end)) in writes.into_iter().enumerate() {
                    let seq = index as SeqNo + 1;
                    let user_key = vec![b'a' + key as u8];
                    let value = Bytes::copy_from_slice(&seq.to_le_bytes());
                    match kind {
                        0 => entries.push((InternalKey::new(user_key, seq, ValueKind::Put), value)),
                        1 => {
                            entries.push((InternalKey::new(user_key, seq, ValueKind::Merge), value))
                        }
                        2 => entries.push((
                            InternalKey::new(user_key, seq, ValueKind::Delete),
                            Bytes::new(),
                        )),
                        _ => tombstones.push(RangeTombstone::new(vec![start], vec![end], seq)),
                    }
                }
                (
                    entries,
                    tombstones,
                    snapshots.into_iter().collect(),
                    bottommost,
                )
            })
    }

    proptest! {
        #[test]
        fn compacted_keys_read_the_same_at_every_snapshot(
            (entries, tombstones, snapshots, bottommost) in scenario(),
        ) {
            let rules = RangeDelCompaction::new(tombstones.clone(), &snapshots, bottommost);
            let compactor = KeyCompactor {
                snapshots: &snapshots,
                bottommost,
                merge_operator: Some(&U64AddOperator),
            };
            let mut by_key: BTreeMap<Bytes, Versions> = BTreeMap::new();
            for entry in &entries {
                by_key.entry(entry.0.user_key().clone()).or_default().push(entry.clone());
            }
            let mut output = Vec::new();
            for versions in by_key.values_mut() {
                versions.sort_by(|a, b| a.0.cmp(&b.0));
                let applied = rules.apply_to_key(versions);
                output.extend(rules.without_placed(compactor.compact_key(&applied).unwrap()));
            }
            let surviving: Vec<RangeTombstone> = rules.surviving().tombstones().collect();
            // Older data below a compaction that is not at the bottom must
            // stay deleted by the surviving tombstones.
            let below: Versions = if bottommost {
                Vec::new()
            } else {
                (b'a'..=b'e').map(|k| (InternalKey::new(vec![k], 0, ValueKind::Put), Bytes::copy_from_slice(&7u64.to_le_bytes()))).collect()
            };
            let before: Versions = entries.iter().chain(&below).cloned().collect();
            let after: Versions = output.iter().chain(&below).cloned().collect();
            let readers = snapshots.iter().copied().chain([MAX_SEQ]);
            for snapshot_seq in readers {
                for key in [b"a", b"b", b"c", b"d", b"e"] {
                    prop_assert_eq!(
                        read(&after, &surviving, key, snapshot_seq),
                        read(&before, &tombstones, key, snapshot_seq),
                        "key {:?} at {}", key, snapshot_seq
                    );
                }
            }
            if bottommost {
                let oldest = snapshots.first().copied().unwrap_or(MAX_SEQ);
                prop_assert!(surviving.iter().all(|t| t.seq > oldest));
            }
        }
    }
}
