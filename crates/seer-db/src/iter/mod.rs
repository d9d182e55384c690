//! User-level iteration: [`DbIterator`] (keys and values) and
//! [`KeyIterator`] (keys only) over a consistent read view, made by the
//! `iter`, `range`, `prefix` and `keys` methods of [`DB`](crate::DB).
//!
//! An iterator pins a [`ReadView`](crate::engine::ReadView) (the memtables and
//! the tree: its version, hence every table file it may read, and its open
//! tables) and registers its sequence number with the snapshot registry, so
//! compaction keeps every version it can see. It is
//! lazy: nothing is read until the first `next` or `next_back`, and then
//! only one block per run and memtable partition at a time; no table or
//! level is ever materialised. When dropped, it counts as one range lookup
//! (short or long by the entries it yielded) in the metrics the adaptive
//! compaction policy reads.
//!
//! Layers, bottom up: [`run`] concatenates the tables of one sorted run,
//! [`source`] merges memtables and runs into one internal cursor, and
//! [`visible`] turns internal entries into user entries at a sequence
//! number. The two ends of a [`DbIterator`] are two independent cursors,
//! created on first use, that stop when they meet, as std's double-ended
//! iterators do; [`cursor`] wraps one visible cursor as the public,
//! reusable [`Cursor`]. A later filter (range tombstones) slots in
//! between [`source`] and [`visible`]: every user-level cursor reads the
//! merged cursor through [`visible`] only.

mod bounds;
mod cursor;
mod run;
mod source;
mod visible;

use std::sync::Arc;

use bytes::Bytes;
use seer_core::SeqNo;

use crate::engine::{Engine, PinnedView};
use crate::error::{Error, Result};

pub use bounds::KeyRange;
pub(crate) use bounds::{bound_bytes, KeyBounds};
pub use cursor::Cursor;
use visible::{ReadContext, VisibleCursor, Yield};

/// Which end of a double-ended iteration a step serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// `next`: ascending keys.
    Front,
    /// `next_back`: descending keys.
    Back,
}

/// One end of a [`DbIterator`]: its cursor (made and positioned on first
/// use) and the last key it yielded, where the other end stops.
#[derive(Default)]
struct IterEnd {
    cursor: Option<VisibleCursor>,
    last_key: Option<Vec<u8>>,
}

/// A double-ended iterator over `(key, value)` pairs in key order, at one
/// sequence number: the newest visible version of each key, tombstones
/// hidden, merge operands resolved.
///
/// Items are `Result`s: after an error the iterator ends. Both ends may be
/// consumed; they never cross, so every key is yielded at most once.
/// Values are shared with the tables as [`DB::get`](crate::DB::get) says (copied with
/// [`DBOptions::owned_values`](crate::DBOptions::owned_values)).
pub struct DbIterator {
    context: ReadContext,
    /// Keeps the read sequence number registered while the iterator lives.
    _pinned: PinnedView,
    front: IterEnd,
    back: IterEnd,
    /// An error to report before anything else (e.g. a closed database).
    pending_error: Option<Error>,
    finished: bool,
    /// Entries yielded at both ends, counted as one range lookup on drop.
    yielded_count: u64,
}

impl std::fmt::Debug for DbIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIterator")
            .field("seq", &self.context.view.seq)
            .field("bounds", &self.context.bounds)
            .field("front_key", &self.front.last_key)
            .field("back_key", &self.back.last_key)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl DbIterator {
    /// An iterator over `bounds` of the `pinned` view, which it keeps for
    /// as long as it lives.
    pub(crate) fn new(db: Arc<Engine>, pinned: PinnedView, bounds: KeyBounds) -> Self {
        let pending_error = db.check_open().err();
        Self {
            context: ReadContext {
                db,
                view: pinned.view().clone(),
                bounds,
                yields: Yield::KeysAndValues,
            },
            _pinned: pinned,
            front: IterEnd::default(),
            back: IterEnd::default(),
            pending_error,
            finished: false,
            yielded_count: 0,
        }
    }

    /// An iterator over the current state of `db` within `bounds`.
    pub(crate) fn latest(db: &Arc<Engine>, bounds: KeyBounds) -> Self {
        Self::new(Arc::clone(db), db.pin(), bounds)
    }

    /// The sequence number the iterator reads at.
    pub fn seq(&self) -> SeqNo {
        self.context.view.seq
    }

    /// This iterator's keys only. Called before the first step, values are
    /// then never resolved (merges are not evaluated).
    pub fn keys(mut self) -> KeyIterator {
        if self.front.cursor.is_none() && self.back.cursor.is_none() {
            self.context.yields = Yield::KeysOnly;
        }
        KeyIterator { inner: self }
    }

    /// The next entry at `end`, unless the ends have met.
    fn step(&mut self, end: End) -> Option<Result<(Bytes, Bytes)>> {
        if let Some(error) = self.pending_error.take() {
            self.finished = true;
            return Some(Err(error));
        }
        if self.finished {
            return None;
        }
        let (this, other) = match end {
            End::Front => (&mut self.front, &self.back),
            End::Back => (&mut self.back, &self.front),
        };
        let context = &self.context;
        let stepped = match (&mut this.cursor, end) {
            (Some(cursor), End::Front) => cursor.next(context),
            (Some(cursor), End::Back) => cursor.prev(context),
            (None, _) => {
                let cursor = this.cursor.insert(VisibleCursor::new(context));
                match end {
                    End::Front => cursor.seek_to_first(context),
                    End::Back => cursor.seek_to_last(context),
                }
            }
        };
        let cursor = this.cursor.as_ref().filter(|cursor| cursor.valid());
        let before_other_end = |key: &[u8]| {
            other.last_key.as_deref().is_none_or(|other_key| match end {
                End::Front => key < other_key,
                End::Back => key > other_key,
            })
        };
        match (stepped, cursor) {
            (Ok(()), Some(cursor)) if before_other_end(cursor.key()) => {
                let last_key = this.last_key.get_or_insert_with(Vec::new);
                last_key.clear();
                last_key.extend_from_slice(cursor.key());
                self.yielded_count += 1;
                let key = Bytes::copy_from_slice(cursor.key());
                Some(Ok((key, context.db.returned(cursor.value().clone()))))
            }
            (Ok(()), _) => {
                self.finished = true;
                None
            }
            (Err(error), _) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(End::Front)
    }
}

impl DoubleEndedIterator for DbIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(End::Back)
    }
}

impl std::iter::FusedIterator for DbIterator {}

impl Drop for DbIterator {
    /// Counts the iterator as one range lookup (short or long by the
    /// entries it yielded) for the metrics and the adaptive policy.
    fn drop(&mut self) {
        self.context
            .db
            .metrics()
            .record_range_lookup(self.yielded_count);
    }
}

/// A double-ended iterator over the keys of a [`DbIterator`]; made by
/// [`DbIterator::keys`] or [`DB::keys`](crate::DB::keys).
#[derive(Debug)]
pub struct KeyIterator {
    inner: DbIterator,
}

impl KeyIterator {
    /// The sequence number the iterator reads at.
    pub fn seq(&self) -> SeqNo {
        self.inner.seq()
    }
}

impl Iterator for KeyIterator {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|item| item.map(|(key, _)| key))
    }
}

impl DoubleEndedIterator for KeyIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|item| item.map(|(key, _)| key))
    }
}

impl std::iter::FusedIterator for KeyIterator {}
