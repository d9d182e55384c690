//! The k-way merging cursor: one [`InternalIterator`] over many child cursors
//! (memtable partitions, memtables and tables), in internal-key order.
//!
//! It owns the merge order and the direction switches, nothing else: it does
//! not hide shadowed versions or resolve merges (the DB read path and the
//! compaction do that on top of it).
//!
//! # Order and ties
//!
//! Entries are ordered by `(internal key, child index)`: children are compared
//! with [`compare_internal_keys`], and equal keys (which the layers never
//! produce, but a caller may) come from the lower child index first when
//! moving forward. Moving backward yields the exact reverse, so `prev` always
//! undoes `next`. Each child must itself be strictly ordered.
//!
//! # Why a binary heap
//!
//! The children are kept in a binary heap of child indices (a min-heap moving
//! forward, a max-heap moving backward). A step costs `O(log k)` comparisons
//! instead of the `O(k)` of a linear scan; the read path merges a handful of
//! memtable partitions, while the compaction merges tens of tables, where the
//! linear scan would dominate. For `k = 1` the heap degenerates into a single
//! slot and costs nothing. The heap is a `Vec<usize>` allocated once in
//! [`MergingIterator::new`]; no step allocates.
//!
//! # Direction switches
//!
//! As in LevelDB, the heap only orders children positioned on the same side of
//! the current entry. When `next` follows `prev` (or the reverse), every child
//! but the current one is repositioned relative to the current key: to the
//! first entry after it (forward) or the last entry before it (backward).

use std::cmp::Ordering;

use bytes::Bytes;

use crate::{compare_internal_keys, InternalIterator};

/// Which way the heap is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Min-heap: the current entry is the smallest of the children's.
    Forward,
    /// Max-heap: the current entry is the largest of the children's.
    Backward,
}

/// A k-way merge of child cursors; see the [module documentation](self).
#[derive(Debug)]
pub struct MergingIterator<I> {
    /// The child cursors; their index breaks ties between equal keys.
    children: Vec<I>,
    /// Indices of the valid children, heap-ordered for `direction`; the top
    /// (`heap[0]`) is the current child.
    heap: Vec<usize>,
    direction: Direction,
}

/// An empty value, returned by [`MergingIterator::value`] when not valid.
static EMPTY_VALUE: Bytes = Bytes::new();

impl<I: InternalIterator> MergingIterator<I> {
    /// A merging cursor over `children` (not yet positioned).
    pub fn new(children: Vec<I>) -> Self {
        let heap = Vec::with_capacity(children.len());
        Self {
            children,
            heap,
            direction: Direction::Forward,
        }
    }

    /// The child cursors, in the order given to [`Self::new`].
    pub fn children(&self) -> &[I] {
        &self.children
    }

    /// The index of the child that holds the current entry, while valid.
    pub fn current_child(&self) -> Option<usize> {
        self.heap.first().copied()
    }

    /// Gives the child cursors back.
    pub fn into_children(self) -> Vec<I> {
        self.children
    }

    /// Positions every child with `position`, then rebuilds the heap for
    /// `direction`. The heap is emptied first, so a child's error leaves the
    /// cursor invalid.
    fn position_all(
        &mut self,
        direction: Direction,
        mut position: impl FnMut(&mut I) -> Result<(), I::Error>,
    ) -> Result<(), I::Error> {
        self.direction = direction;
        self.heap.clear();
        for child in &mut self.children {
            position(child)?;
        }
        self.rebuild_heap();
        Ok(())
    }

    /// Refills the heap with every valid child and heapifies it.
    fn rebuild_heap(&mut self) {
        self.heap.clear();
        let children = &self.children;
        self.heap
            .extend((0..children.len()).filter(|&index| children[index].valid()));
        for slot in (0..self.heap.len() / 2).rev() {
            sift_down(&mut self.heap, &self.children, self.direction, slot);
        }
    }

    /// Moves every child but the current one to the first entry after the
    /// current one (forward) or the last entry before it (backward), and
    /// orders the heap for `direction`. The heap is emptied first, so a
    /// child's error leaves the cursor invalid.
    fn switch_direction(&mut self, direction: Direction) -> Result<(), I::Error> {
        let Some(current) = self.current_child() else {
            return Ok(());
        };
        self.heap.clear();
        let (before, rest) = self.children.split_at_mut(current);
        if let Some((current_child, after)) = rest.split_first_mut() {
            let key = current_child.key();
            // A lower-indexed child's equal key sorts before the current
            // entry, a higher-indexed one's after it.
            for child in before {
                reposition(child, key, direction, direction == Direction::Forward)?;
            }
            for child in after {
                reposition(child, key, direction, direction == Direction::Backward)?;
            }
        }
        self.direction = direction;
        self.rebuild_heap();
        Ok(())
    }

    /// Steps the current child (`next` or `prev` per `step`) and restores the
    /// heap.
    fn step_current(
        &mut self,
        step: impl FnOnce(&mut I) -> Result<(), I::Error>,
    ) -> Result<(), I::Error> {
        let Some(&current) = self.heap.first() else {
            return Ok(());
        };
        if let Err(error) = step(&mut self.children[current]) {
            self.heap.clear();
            return Err(error);
        }
        if !self.children[current].valid() {
            self.heap.swap_remove(0);
        }
        if !self.heap.is_empty() {
            sift_down(&mut self.heap, &self.children, self.direction, 0);
        }
        Ok(())
    }
}

/// Moves `child` to its first entry at or after `key` (forward) or its last
/// entry at or before `key` (backward); with `past_equal`, also past entries
/// equal to `key`.
fn reposition<I: InternalIterator>(
    child: &mut I,
    key: &[u8],
    direction: Direction,
    past_equal: bool,
) -> Result<(), I::Error> {
    match direction {
        Direction::Forward => child.seek(key)?,
        Direction::Backward => child.seek_for_prev(key)?,
    }
    while past_equal && child.valid() && compare_internal_keys(child.key(), key) == Ordering::Equal
    {
        match direction {
            Direction::Forward => child.next()?,
            Direction::Backward => child.prev()?,
        }
    }
    Ok(())
}

/// Whether child `a` comes out of the heap before child `b`.
#[inline]
fn comes_first<I: InternalIterator>(
    children: &[I],
    direction: Direction,
    a: usize,
    b: usize,
) -> bool {
    let order = compare_internal_keys(children[a].key(), children[b].key()).then(a.cmp(&b));
    match direction {
        Direction::Forward => order == Ordering::Less,
        Direction::Backward => order == Ordering::Greater,
    }
}

/// Restores the heap property below `slot`.
#[inline]
fn sift_down<I: InternalIterator>(
    heap: &mut [usize],
    children: &[I],
    direction: Direction,
    mut slot: usize,
) {
    loop {
        let left = 2 * slot + 1;
        if left >= heap.len() {
            return;
        }
        let right = left + 1;
        let mut first = left;
        if right < heap.len() && comes_first(children, direction, heap[right], heap[left]) {
            first = right;
        }
        if !comes_first(children, direction, heap[first], heap[slot]) {
            return;
        }
        heap.swap(slot, first);
        slot = first;
    }
}

impl<I: InternalIterator> InternalIterator for MergingIterator<I> {
    type Error = I::Error;

    #[inline]
    fn valid(&self) -> bool {
        !self.heap.is_empty()
    }

    #[inline]
    fn key(&self) -> &[u8] {
        debug_assert!(self.valid(), "key() on an invalid merging iterator");
        match self.heap.first() {
            Some(&current) => self.children[current].key(),
            None => &[],
        }
    }

    #[inline]
    fn value(&self) -> &Bytes {
        debug_assert!(self.valid(), "value() on an invalid merging iterator");
        match self.heap.first() {
            Some(&current) => self.children[current].value(),
            None => &EMPTY_VALUE,
        }
    }

    fn seek_to_first(&mut self) -> Result<(), Self::Error> {
        self.position_all(Direction::Forward, |child| child.seek_to_first())
    }

    fn seek_to_last(&mut self) -> Result<(), Self::Error> {
        self.position_all(Direction::Backward, |child| child.seek_to_last())
    }

    fn seek(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.position_all(Direction::Forward, |child| child.seek(target))
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Self::Error> {
        self.position_all(Direction::Backward, |child| child.seek_for_prev(target))
    }

    fn next(&mut self) -> Result<(), Self::Error> {
        debug_assert!(self.valid(), "next() on an invalid merging iterator");
        if self.direction == Direction::Backward {
            self.switch_direction(Direction::Forward)?;
        }
        self.step_current(|child| child.next())
    }

    fn prev(&mut self) -> Result<(), Self::Error> {
        debug_assert!(self.valid(), "prev() on an invalid merging iterator");
        if self.direction == Direction::Forward {
            self.switch_direction(Direction::Backward)?;
        }
        self.step_current(|child| child.prev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InternalKey, ValueKind};
    use proptest::prelude::*;
    use std::convert::Infallible;

    /// A child over a sorted vector of `(encoded key, value)`.
    #[derive(Debug)]
    struct VecCursor {
        entries: Vec<(Vec<u8>, Bytes)>,
        position: Option<usize>,
    }

    impl VecCursor {
        fn new(mut entries: Vec<(Vec<u8>, Bytes)>) -> Self {
            entries.sort_by(|a, b| compare_internal_keys(&a.0, &b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
            Self {
                entries,
                position: None,
            }
        }

        fn first_at_or_after(&self, target: &[u8]) -> usize {
            self.entries
                .partition_point(|(key, _)| compare_internal_keys(key, target) == Ordering::Less)
        }

        fn set(&mut self, position: Option<usize>) {
            self.position = position.filter(|&p| p < self.entries.len());
        }
    }

    impl InternalIterator for VecCursor {
        type Error = Infallible;
        fn valid(&self) -> bool {
            self.position.is_some()
        }
        fn key(&self) -> &[u8] {
            &self.entries[self.position.unwrap()].0
        }
        fn value(&self) -> &Bytes {
            &self.entries[self.position.unwrap()].1
        }
        fn seek_to_first(&mut self) -> Result<(), Infallible> {
            self.set(Some(0));
            Ok(())
        }
        fn seek_to_last(&mut self) -> Result<(), Infallible> {
            self.set(self.entries.len().checked_sub(1));
            Ok(())
        }
        fn seek(&mut self, target: &[u8]) -> Result<(), Infallible> {
            self.set(Some(self.first_at_or_after(target)));
            Ok(())
        }
        fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), Infallible> {
            let after = self.entries.partition_point(|(key, _)| {
                compare_internal_keys(key, target) != Ordering::Greater
            });
            self.set(after.checked_sub(1));
            Ok(())
        }
        fn next(&mut self) -> Result<(), Infallible> {
            self.set(self.position.map(|p| p + 1));
            Ok(())
        }
        fn prev(&mut self) -> Result<(), Infallible> {
            self.set(self.position.and_then(|p| p.checked_sub(1)));
            Ok(())
        }
    }

    /// A cursor operation of the random sequences.
    #[derive(Debug, Clone)]
    enum Op {
        SeekToFirst,
        SeekToLast,
        Seek(Vec<u8>),
        SeekForPrev(Vec<u8>),
        Next,
        Prev,
    }

    fn encoded_key() -> impl Strategy<Value = Vec<u8>> {
        // Few user keys and sequence numbers, so that children overlap and
        // collide (equal keys across children exercise the tie rule).
        (prop::collection::vec(0u8..4, 0..3), 0u64..6, 0u8..3).prop_map(|(user, seq, kind)| {
            let kind = ValueKind::from_byte(kind).unwrap();
            InternalKey::new(user, seq, kind).encode()
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::SeekToFirst),
            1 => Just(Op::SeekToLast),
            2 => encoded_key().prop_map(Op::Seek),
            2 => encoded_key().prop_map(Op::SeekForPrev),
            5 => Just(Op::Next),
            5 => Just(Op::Prev),
        ]
    }

    /// The model: every entry of every child, sorted by (key, child index).
    fn model_of(children: &[VecCursor]) -> Vec<(Vec<u8>, usize, Bytes)> {
        let mut model: Vec<_> = children
            .iter()
            .enumerate()
            .flat_map(|(index, child)| {
                child
                    .entries
                    .iter()
                    .map(move |(key, value)| (key.clone(), index, value.clone()))
            })
            .collect();
        model.sort_by(|a, b| compare_internal_keys(&a.0, &b.0).then(a.1.cmp(&b.1)));
        model
    }

    /// Applies `op` to the model position.
    fn model_step(
        model: &[(Vec<u8>, usize, Bytes)],
        position: Option<usize>,
        op: &Op,
    ) -> Option<usize> {
        let first_at_or_after = |target: &[u8]| {
            model.partition_point(|e| compare_internal_keys(&e.0, target) == Ordering::Less)
        };
        let found = match op {
            Op::SeekToFirst => Some(0),
            Op::SeekToLast => model.len().checked_sub(1),
            Op::Seek(target) => Some(first_at_or_after(target)),
            Op::SeekForPrev(target) => model
                .partition_point(|e| compare_internal_keys(&e.0, target) != Ordering::Greater)
                .checked_sub(1),
            Op::Next => position.map(|p| p + 1),
            Op::Prev => position.and_then(|p| p.checked_sub(1)),
        };
        found.filter(|&p| p < model.len())
    }

    fn apply(cursor: &mut MergingIterator<VecCursor>, op: &Op) {
        match op {
            Op::SeekToFirst => cursor.seek_to_first(),
            Op::SeekToLast => cursor.seek_to_last(),
            Op::Seek(target) => cursor.seek(target),
            Op::SeekForPrev(target) => cursor.seek_for_prev(target),
            Op::Next => cursor.next(),
            Op::Prev => cursor.prev(),
        }
        .unwrap();
    }

    fn children() -> impl Strategy<Value = Vec<Vec<(Vec<u8>, Bytes)>>> {
        let entry = (encoded_key(), any::<u8>()).prop_map(|(k, v)| (k, Bytes::from(vec![v])));
        prop::collection::vec(prop::collection::vec(entry, 0..12), 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_sorted_model(children in children(), ops in prop::collection::vec(op(), 1..40)) {
            let children: Vec<VecCursor> = children.into_iter().map(VecCursor::new).collect();
            let model = model_of(&children);
            let mut cursor = MergingIterator::new(children);
            let mut position = None;
            for op in &ops {
                if matches!(op, Op::Next | Op::Prev) && position.is_none() {
                    continue;
                }
                position = model_step(&model, position, op);
                apply(&mut cursor, op);
                prop_assert_eq!(cursor.valid(), position.is_some(), "after {:?}", op);
                if let Some(p) = position {
                    prop_assert_eq!(cursor.key(), &model[p].0[..], "after {:?}", op);
                    prop_assert_eq!(cursor.current_child(), Some(model[p].1));
                    prop_assert_eq!(cursor.value(), &model[p].2);
                }
            }
        }
    }

    #[test]
    fn empty_merge_is_never_valid() {
        let mut cursor = MergingIterator::<VecCursor>::new(Vec::new());
        cursor.seek_to_first().unwrap();
        assert!(!cursor.valid());
        cursor.seek_to_last().unwrap();
        assert!(!cursor.valid());
        assert_eq!(cursor.current_child(), None);
    }

    #[test]
    fn equal_keys_come_from_the_lower_child_first() {
        let key = InternalKey::new(&b"k"[..], 3, ValueKind::Put).encode();
        let child = |v: &'static [u8]| VecCursor::new(vec![(key.clone(), Bytes::from_static(v))]);
        let mut cursor = MergingIterator::new(vec![child(b"0"), child(b"1"), child(b"2")]);
        cursor.seek_to_first().unwrap();
        let mut forward = Vec::new();
        while cursor.valid() {
            forward.push(cursor.current_child().unwrap());
            cursor.next().unwrap();
        }
        assert_eq!(forward, [0, 1, 2]);
        cursor.seek_to_last().unwrap();
        assert_eq!(cursor.current_child(), Some(2));
        cursor.prev().unwrap();
        assert_eq!(cursor.current_child(), Some(1));
        cursor.next().unwrap();
        assert_eq!(cursor.current_child(), Some(2));
    }
}
