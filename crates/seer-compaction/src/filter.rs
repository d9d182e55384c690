//! Compaction filters: user code that a compaction asks, for each key it
//! keeps, whether to keep the value, remove the key or replace the value
//! ([`CompactionFilter`]), and the step of the executor that asks it and
//! turns expired puts into tombstones ([`EntryFilter`]) before the per-key
//! rules of the [`KeyCompactor`](crate::KeyCompactor) run.
//!
//! The rule, which `docs/OPERATIONS.md` states for users: the filter sees a
//! key's *newest* version in the compaction's inputs, only when that version
//! is a put that no range tombstone of the inputs deletes, and only when its
//! sequence number is above every registered reader's (no snapshot can read
//! it, so no snapshot needs it in its old form). An expiring put is shown
//! its value without the expiry, and a changed value keeps the expiry; an
//! expired one is a tombstone before the filter runs. Merge operands, and the values
//! a compaction folds from them, are not shown. A removed key becomes a
//! point tombstone with the put's sequence number, so an older version below
//! the compaction does not come back; the [`KeyCompactor`](crate::KeyCompactor)
//! drops that tombstone at the bottom when nothing older is left and no
//! snapshot is older than it, as it does every tombstone. Flushes do not
//! call the filter.

use std::sync::Arc;

use bytes::Bytes;
use seer_core::expiry::{encode_expiring, is_expired, split_expiring};
use seer_core::{InternalKey, SeqNo, ValueKind};

use crate::error::Error;
use crate::version::InvariantViolation;

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

/// The executor's step that applies expiry and the [`CompactionFilter`] to
/// one user key's versions before the [`KeyCompactor`](crate::KeyCompactor)
/// sees them.
#[derive(Clone, Copy, Default)]
pub struct EntryFilter<'a> {
    /// The filter and the context it is called with; `None`: nothing is
    /// filtered (flushes, databases without a filter).
    pub filter: Option<(&'a dyn CompactionFilter, FilterContext)>,
    /// The newest registered reader's sequence number: versions at or
    /// below it are never filtered.
    pub newest_snapshot_seq: Option<SeqNo>,
    /// The clock's reading at the compaction's start: expiring puts expired
    /// by then become tombstones. `None`: expiry is left to readers.
    pub now_unix_ms: Option<u64>,
}

impl<'a> EntryFilter<'a> {
    /// The step for a compaction writing to `context`'s level while the
    /// newest registered reader reads at `newest_reader_seq`, at
    /// `now_unix_ms`.
    pub fn new(
        filter: Option<&'a Arc<dyn CompactionFilter>>,
        context: FilterContext,
        newest_reader_seq: Option<SeqNo>,
        now_unix_ms: Option<u64>,
    ) -> Self {
        Self {
            filter: filter.map(|f| (f.as_ref(), context)),
            newest_snapshot_seq: newest_reader_seq,
            now_unix_ms,
        }
    }

    /// Whether the step changes nothing (no filter, no clock).
    pub fn is_noop(&self) -> bool {
        self.filter.is_none() && self.now_unix_ms.is_none()
    }

    /// One user key's versions, newest first, with every expired put turned
    /// into a tombstone of its sequence number (every reader, at any
    /// snapshot, already finds it deleted), then the filter's decision
    /// applied to the newest when the rule allows it.
    pub fn apply(
        &self,
        mut versions: Vec<(InternalKey, Bytes)>,
    ) -> Result<Vec<(InternalKey, Bytes)>, Error> {
        if let Some(now_unix_ms) = self.now_unix_ms {
            for (key, value) in &mut versions {
                if key.kind() != ValueKind::ExpiringPut {
                    continue;
                }
                let (expiry_unix_ms, _) = split_expiring(value).map_err(Error::InputValue)?;
                if is_expired(expiry_unix_ms, now_unix_ms) {
                    *key = tombstone_of(key);
                    *value = Bytes::new();
                }
            }
        }
        let Some((filter, context)) = self.filter else {
            return Ok(versions);
        };
        let Some((key, value)) = versions.first_mut() else {
            return Ok(versions);
        };
        let unseen_by_snapshots = self.newest_snapshot_seq.is_none_or(|s| key.seq() > s);
        if !key.kind().is_put() || !unseen_by_snapshots {
            return Ok(versions);
        }
        let expiring = key.kind() == ValueKind::ExpiringPut;
        let (expiry_unix_ms, user_value) = if expiring {
            let (expiry, user_value) = split_expiring(value).map_err(Error::InputValue)?;
            (Some(expiry), user_value)
        } else {
            (None, value.clone())
        };
        match filter.filter(&context, key.user_key(), &user_value) {
            FilterDecision::Keep => {}
            FilterDecision::ChangeValue(new_value) => {
                *value = match expiry_unix_ms {
                    Some(expiry) => encode_expiring(expiry, &new_value),
                    None => new_value,
                };
            }
            FilterDecision::Remove => {
                *key = tombstone_of(key);
                *value = Bytes::new();
            }
        }
        Ok(versions)
    }
}

impl EntryFilter<'_> {
    /// The invariant check of a key's survivors (when
    /// [`INVARIANT_CHECKS`](crate::INVARIANT_CHECKS) is on): every expiring
    /// put has a well-formed expiry, not yet reached at the compaction's
    /// start.
    pub fn check_survivors(&self, survivors: &[(InternalKey, Bytes)]) -> Result<(), Error> {
        for (key, value) in survivors {
            if key.kind() != ValueKind::ExpiringPut {
                continue;
            }
            let violation = |detail: String| {
                Error::Invariant(InvariantViolation::ExpiringSurvivor {
                    key: format!("{key:?}"),
                    detail,
                })
            };
            let (expiry_unix_ms, _) =
                split_expiring(value).map_err(|e| violation(e.to_string()))?;
            if let Some(now_unix_ms) = self.now_unix_ms {
                if is_expired(expiry_unix_ms, now_unix_ms) {
                    return Err(violation(format!(
                        "expired at {expiry_unix_ms} ms, compacted at {now_unix_ms} ms"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A point tombstone with `key`'s user key and sequence number.
fn tombstone_of(key: &InternalKey) -> InternalKey {
    InternalKey::new(key.user_key().clone(), key.seq(), ValueKind::Delete)
}

impl std::fmt::Debug for EntryFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryFilter")
            .field(
                "filter",
                &self.filter.map(|(f, c)| (f.name().to_owned(), c)),
            )
            .field("newest_snapshot_seq", &self.newest_snapshot_seq)
            .field("now_unix_ms", &self.now_unix_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `!` to every value it is shown.
    struct Exclaim;

    impl CompactionFilter for Exclaim {
        fn name(&self) -> &str {
            "test.exclaim"
        }

        fn filter(&self, _: &FilterContext, _: &[u8], value: &[u8]) -> FilterDecision {
            let mut changed = value.to_vec();
            changed.push(b'!');
            FilterDecision::ChangeValue(changed.into())
        }
    }

    fn entry(seq: SeqNo, kind: ValueKind, value: Bytes) -> (InternalKey, Bytes) {
        (InternalKey::new(Bytes::from_static(b"k"), seq, kind), value)
    }

    #[test]
    fn expired_puts_become_tombstones_and_a_changed_value_keeps_its_expiry() {
        let filter: Arc<dyn CompactionFilter> = Arc::new(Exclaim);
        let context = FilterContext {
            level: 2,
            is_bottommost: false,
        };
        let step = EntryFilter::new(Some(&filter), context, None, Some(1_000));
        let live = encode_expiring(1_001, b"v");
        let versions = vec![
            entry(9, ValueKind::ExpiringPut, live),
            entry(5, ValueKind::ExpiringPut, encode_expiring(1_000, b"old")),
        ];
        let applied = step.apply(versions).unwrap();
        assert_eq!(applied[0].0.kind(), ValueKind::ExpiringPut);
        assert_eq!(
            split_expiring(&applied[0].1).unwrap(),
            (1_001, Bytes::from_static(b"v!"))
        );
        assert_eq!(applied[1], entry(5, ValueKind::Delete, Bytes::new()));
        // An expired newest version is a tombstone: the filter is not asked.
        let expired = vec![entry(9, ValueKind::ExpiringPut, encode_expiring(7, b"v"))];
        assert_eq!(
            step.apply(expired).unwrap(),
            vec![entry(9, ValueKind::Delete, Bytes::new())]
        );
        let short = vec![entry(9, ValueKind::ExpiringPut, Bytes::from_static(b"1"))];
        assert!(step.apply(short).is_err());
    }

    #[test]
    fn the_survivor_check_refuses_an_expired_or_malformed_expiring_put() {
        let step = EntryFilter::new(
            None,
            FilterContext {
                level: 1,
                is_bottommost: true,
            },
            None,
            Some(1_000),
        );
        let live = entry(3, ValueKind::ExpiringPut, encode_expiring(1_001, b"v"));
        assert!(step.check_survivors(std::slice::from_ref(&live)).is_ok());
        let expired = entry(4, ValueKind::ExpiringPut, encode_expiring(1_000, b"v"));
        assert!(matches!(
            step.check_survivors(&[live, expired]),
            Err(Error::Invariant(
                InvariantViolation::ExpiringSurvivor { .. }
            ))
        ));
        let short = entry(5, ValueKind::ExpiringPut, Bytes::from_static(b"1"));
        assert!(step.check_survivors(&[short]).is_err());
    }
}
