//! The merged cursor over everything a [`ReadView`] holds: one child per
//! memtable (newest first) and one [`RunIterator`] per sorted run (newest
//! first), each behind a [`RangeDelFilter`] of the view's range tombstones,
//! combined by seer-core's [`MergingIterator`].

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{InternalIterator, MergingIterator, RangeDelFilter, SeqNo};
use seer_memtable::MemtableIterator;

use crate::engine::Engine;
use crate::engine::ReadView;
use crate::error::{Error, Result};
use crate::iter::bounds::KeyBounds;
use crate::iter::run::RunIterator;

/// One child of the merged cursor: a memtable or a sorted run (boxed: a
/// run cursor holds a whole table iterator).
#[derive(Debug)]
pub(crate) enum SourceCursor {
    /// A memtable's entries within the bounds.
    Memtable(MemtableIterator),
    /// A sorted run's entries within the bounds.
    Run(Box<RunIterator>),
}

/// Memtable cursors never fail.
fn infallible(never: Infallible) -> Error {
    match never {}
}

impl InternalIterator for SourceCursor {
    type Error = Error;

    #[inline]
    fn valid(&self) -> bool {
        match self {
            Self::Memtable(it) => it.valid(),
            Self::Run(it) => it.valid(),
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        match self {
            Self::Memtable(it) => it.key(),
            Self::Run(it) => it.key(),
        }
    }

    #[inline]
    fn value(&self) -> &Bytes {
        match self {
            Self::Memtable(it) => it.value(),
            Self::Run(it) => it.value(),
        }
    }

    fn seek_to_first(&mut self) -> Result<()> {
        match self {
            Self::Memtable(it) => it.seek_to_first().map_err(infallible),
            Self::Run(it) => it.seek_to_first(),
        }
    }

    fn seek_to_last(&mut self) -> Result<()> {
        match self {
            Self::Memtable(it) => it.seek_to_last().map_err(infallible),
            Self::Run(it) => it.seek_to_last(),
        }
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        match self {
            Self::Memtable(it) => it.seek(target).map_err(infallible),
            Self::Run(it) => it.seek(target),
        }
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        match self {
            Self::Memtable(it) => it.seek_for_prev(target).map_err(infallible),
            Self::Run(it) => it.seek_for_prev(target),
        }
    }

    fn next(&mut self) -> Result<()> {
        match self {
            Self::Memtable(it) => it.next().map_err(infallible),
            Self::Run(it) => it.next(),
        }
    }

    fn prev(&mut self) -> Result<()> {
        match self {
            Self::Memtable(it) => it.prev().map_err(infallible),
            Self::Run(it) => it.prev(),
        }
    }
}

/// The merged cursor of a view: its sources, each behind a filter hiding
/// what the view's range tombstones delete.
pub(crate) type MergedCursor = MergingIterator<RangeDelFilter<SourceCursor>>;

/// A merged cursor (not positioned) over the entries of `view` whose user
/// keys lie within `bounds`: memtables first, then runs, each newest first.
pub(crate) fn merged_cursor(db: &Arc<Engine>, view: &ReadView, bounds: &KeyBounds) -> MergedCursor {
    if bounds.is_empty() {
        return MergingIterator::new(Vec::new());
    }
    let (lower, upper) = bounds.as_std_bounds();
    let tombstones = crate::range_del::view_tombstones(view);
    let filtered = |cursor: SourceCursor, largest_seq: SeqNo| {
        RangeDelFilter::new(cursor, Arc::clone(&tombstones), view.seq, largest_seq)
    };
    let memtables = view.memtables.iter().map(|memtable| {
        let cursor = SourceCursor::Memtable(memtable.range(lower, upper));
        let filter = filtered(cursor, memtable.largest_seq().unwrap_or(0));
        let own = memtable.range_tombstones();
        if own.is_empty() {
            filter
        } else {
            // A memtable's own clean tombstones skip its consumed ranges
            // with one seek even though it holds newer entries elsewhere.
            filter.with_clean_tombstones(own.clean_seqs())
        }
    });
    let runs = view
        .tree
        .version
        .levels()
        .iter()
        .enumerate()
        .flat_map(|(level_index, level)| {
            (0..level.runs().len()).map(move |run_index| (level_index, run_index))
        })
        .filter_map(|(level_index, run_index)| {
            let largest_seq = view.tree.version.levels()[level_index].runs()[run_index]
                .tables()
                .iter()
                .map(|table| table.largest_seq)
                .max()
                .unwrap_or(0);
            let run = RunIterator::new(
                Arc::clone(db),
                Arc::clone(&view.tree),
                level_index,
                run_index,
                bounds.clone(),
            )?;
            Some(filtered(SourceCursor::Run(Box::new(run)), largest_seq))
        });
    MergingIterator::new(memtables.chain(runs).collect())
}
