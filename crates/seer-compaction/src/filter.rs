//! Compaction filters: user code that a compaction asks, for each key it
//! keeps, whether to keep the value, remove the key or replace the value
//! ([`CompactionFilter`]), and the step of the executor that asks it
//! ([`EntryFilter`]) before the per-key rules of the
//! [`KeyCompactor`](crate::KeyCompactor) run.
//!
//! The rule, which `docs/OPERATIONS.md` states for users: the filter sees a
//! key's *newest* version in the compaction's inputs, only when that version
//! is a put that no range tombstone of the inputs deletes, and only when its
//! sequence number is above every live snapshot's (no snapshot can read it,
//! so no snapshot needs it in its old form). Merge operands, and the values
//! a compaction folds from them, are not shown. A removed key becomes a
//! point tombstone with the put's sequence number, so an older version below
//! the compaction does not come back; the [`KeyCompactor`](crate::KeyCompactor)
//! drops that tombstone at the bottom when nothing older is left and no
//! snapshot is older than it, as it does every tombstone. Flushes do not
//! call the filter.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::{InternalKey, SeqNo, ValueKind};

/// Where a compaction writes the entries a filter is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterContext {
    /// The level of the compaction's output.
    pub level: usize,
    /// Nothing older than the compaction's inputs lies below its output.
    pub is_bottommost: bool,
}

/// What a [`CompactionFilter`] decides about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterDecision {
    /// Keep the entry as it is.
    Keep,
    /// Remove the key: readers find it deleted from now on.
    Remove,
    /// Keep the key with this value instead.
    ChangeValue(Bytes),
}

/// Decides, during compactions, which values to keep, remove or replace
/// (e.g. to drop records a schema no longer has).
///
/// It must be deterministic for a key and value and must not block: it runs
/// on the compaction thread for every put a compaction keeps, under the rule
/// of the module documentation.
///
/// ```
/// use seer_compaction::{CompactionFilter, FilterContext, FilterDecision};
///
/// /// Removes every key that starts with `tmp/`.
/// struct DropTemporary;
///
/// impl CompactionFilter for DropTemporary {
///     fn name(&self) -> &str {
///         "example.drop_temporary"
///     }
///
///     fn filter(&self, _context: &FilterContext, key: &[u8], _value: &[u8]) -> FilterDecision {
///         if key.starts_with(b"tmp/") {
///             FilterDecision::Remove
///         } else {
///             FilterDecision::Keep
///         }
///     }
/// }
///
/// let context = FilterContext { level: 1, is_bottommost: false };
/// assert_eq!(DropTemporary.filter(&context, b"tmp/1", b"v"), FilterDecision::Remove);
/// ```
pub trait CompactionFilter: Send + Sync + 'static {
    /// A name for logs and `Debug` output.
    fn name(&self) -> &str;

    /// The decision about the put of `value` to `key`.
    fn filter(&self, context: &FilterContext, key: &[u8], value: &[u8]) -> FilterDecision;
}

/// The executor's step that applies a [`CompactionFilter`] to one user key's
/// versions before the [`KeyCompactor`](crate::KeyCompactor) sees them.
#[derive(Clone, Copy, Default)]
pub struct EntryFilter<'a> {
    /// The filter and the context it is called with; `None`: nothing is
    /// filtered (flushes, databases without a filter).
    pub filter: Option<(&'a dyn CompactionFilter, FilterContext)>,
    /// The newest registered reader's sequence number: versions at or
    /// below it are never filtered.
    pub newest_snapshot_seq: Option<SeqNo>,
}

impl<'a> EntryFilter<'a> {
    /// The step for a compaction writing to `context`'s level while the
    /// newest registered reader reads at `newest_reader_seq`.
    pub fn new(
        filter: Option<&'a Arc<dyn CompactionFilter>>,
        context: FilterContext,
        newest_reader_seq: Option<SeqNo>,
    ) -> Self {
        Self {
            filter: filter.map(|f| (f.as_ref(), context)),
            newest_snapshot_seq: newest_reader_seq,
        }
    }

    /// Whether the step changes nothing (no filter).
    pub fn is_noop(&self) -> bool {
        self.filter.is_none()
    }

    /// One user key's versions, newest first, with the filter's decision
    /// applied to the newest when the rule allows it.
    pub fn apply(&self, mut versions: Vec<(InternalKey, Bytes)>) -> Vec<(InternalKey, Bytes)> {
        let Some((filter, context)) = self.filter else {
            return versions;
        };
        let Some((key, value)) = versions.first_mut() else {
            return versions;
        };
        let unseen_by_snapshots = self.newest_snapshot_seq.is_none_or(|s| key.seq() > s);
        if key.kind() != ValueKind::Put || !unseen_by_snapshots {
            return versions;
        }
        match filter.filter(&context, key.user_key(), value) {
            FilterDecision::Keep => {}
            FilterDecision::ChangeValue(new_value) => *value = new_value,
            FilterDecision::Remove => {
                *key = InternalKey::new(key.user_key().clone(), key.seq(), ValueKind::Delete);
                *value = Bytes::new();
            }
        }
        versions
    }
}

impl std::fmt::Debug for EntryFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryFilter")
            .field(
                "filter",
                &self.filter.map(|(f, c)| (f.name().to_owned(), c)),
            )
            .field("newest_snapshot_seq", &self.newest_snapshot_seq)
            .finish()
    }
}
