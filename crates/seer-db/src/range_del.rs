//! Range deletes on the read path: the tombstones a read view holds, the
//! exact point read of a key a range tombstone covers, and the transaction
//! check that a key read was not range-deleted since.
//!
//! A range tombstone at `t` deletes every version of its keys with a smaller
//! sequence number, in whichever source (memtable or table) it lies, so the
//! tombstones of a view are the fragment sets of its memtables and its tree
//! ([`OpenVersion::range_tombstones`], built once per version), read side
//! by side. Point reads
//! take the usual path unless a source they reach holds a tombstone covering
//! the key at their snapshot; then [`Engine::read_covered`] collects the
//! key's versions from every source and drops those the tombstones delete.
//! Iterators wrap each source's cursor in a [`seer_core::RangeDelFilter`]
//! (see `iter::source`).

use std::sync::Arc;

use bytes::Bytes;
use seer_core::{
    InternalIterator, InternalKey, ParsedInternalKey, SeqNo, TombstoneSets, ValueKind,
};
use seer_memtable::Memtable;

use crate::engine::{Engine, NewestFirstFold, ReadView};
use crate::error::Result;
use crate::tree::OpenVersion;

/// The range tombstone sets of `view`: each memtable's and the tree's that
/// hold any, side by side (merging them would cost every new iterator time
/// in the number of tombstones).
pub(crate) fn view_tombstones(view: &ReadView) -> TombstoneSets {
    view.memtables
        .iter()
        .filter(|memtable| !memtable.range_tombstones().is_empty())
        .map(|memtable| memtable.range_tombstones().fragments())
        .chain(
            (!view.tree.range_tombstones.is_empty())
                .then(|| Arc::clone(&view.tree.range_tombstones)),
        )
        .collect()
}

/// The newest range tombstone covering `key` visible at `seq` in any of
/// `memtables` or `tree`.
fn covering_seq(
    key: &[u8],
    seq: SeqNo,
    memtables: &[Arc<Memtable>],
    tree: &OpenVersion,
) -> Option<SeqNo> {
    memtables
        .iter()
        .filter_map(|memtable| memtable.range_tombstones().max_covering_seq(key, seq))
        .chain(tree.range_tombstones.max_covering_seq(key, seq))
        .max()
}

/// Whether a range tombstone in `view` newer than `seq` covers `key`: a
/// transaction that began at `seq` and read `key` conflicts with it.
pub(crate) fn deleted_after(view: &ReadView, key: &[u8], seq: SeqNo) -> bool {
    covering_seq(key, SeqNo::MAX, &view.memtables, &view.tree).is_some_and(|t| t > seq)
}

/// Appends to `out` the versions of `key` at or below `seq` under `cursor`,
/// positioned by a seek to the key's newest visible version.
fn collect_versions<I: InternalIterator>(
    cursor: &mut I,
    key: &[u8],
    out: &mut Vec<(SeqNo, ValueKind, Bytes)>,
) -> std::result::Result<(), I::Error> {
    while cursor.valid() {
        let Ok(entry) = ParsedInternalKey::parse(cursor.key()) else {
            break;
        };
        if entry.user_key != key {
            break;
        }
        out.push((entry.seq, entry.kind, cursor.value().clone()));
        cursor.next()?;
    }
    Ok(())
}

impl Engine {
    /// The value of `key` at `seq` in `memtables` (newest first) and `tree`
    /// when a range tombstone may cover it: every visible version from every
    /// source, without those a tombstone deletes, newest first.
    pub(crate) fn read_covered(
        &self,
        key: &[u8],
        seq: SeqNo,
        memtables: &[Arc<Memtable>],
        tree: &OpenVersion,
    ) -> Result<Option<Bytes>> {
        let seek = InternalKey::seek_key(Bytes::copy_from_slice(key), seq).encode();
        let mut versions = Vec::new();
        for memtable in memtables {
            let mut cursor = memtable.iter();
            let Ok(()) = cursor.seek(&seek);
            let Ok(()) = collect_versions(&mut cursor, key, &mut versions);
        }
        for (_, run) in tree.version.runs_newest_first() {
            let Some(meta) = run.table_for_key(key) else {
                continue;
            };
            if meta.smallest_seq > seq {
                continue;
            }
            let table = self.table_in(tree, meta)?;
            let mut cursor = table.iter();
            cursor.seek(&seek)?;
            collect_versions(&mut cursor, key, &mut versions)?;
        }
        let deleted_below = covering_seq(key, seq, memtables, tree).unwrap_or(0);
        versions.retain(|(version_seq, _, _)| *version_seq >= deleted_below);
        versions.sort_by_key(|(version_seq, _, _)| std::cmp::Reverse(*version_seq));
        let mut fold = NewestFirstFold::default();
        for (_, kind, value) in versions {
            if !fold.feed(kind, value, self.options().clock.as_ref())? {
                break;
            }
        }
        let value = if fold.operands.is_empty() {
            fold.base
        } else {
            Some(self.resolve(key, &fold.operands, fold.base.as_deref())?)
        };
        Ok(value.map(|value| self.returned(value)))
    }
}
