//! User-key bounds of an iteration: the public [`KeyRange`] argument of
//! `range`, and the normalised half-open form [`KeyBounds`] the cursors use.
//!
//! Every bound is normalised to `[lower, upper)` on byte strings: an excluded
//! lower bound `k` becomes the included `k\0` (the next byte string after
//! `k`), an included upper bound `k` becomes the excluded `k\0`, and a prefix
//! `p` becomes `[p, successor(p))`.

use std::ops::{Bound, Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use bytes::{BufMut, Bytes, BytesMut};
use seer_sstable::UserKeyBounds;

/// A range of user keys, as accepted by `range` on [`crate::DB`],
/// [`crate::Snapshot`] and [`crate::Transaction`].
///
/// Implemented for every std range of anything that is `AsRef<[u8]>`
/// (`b"a".as_slice()..b"z".as_slice()`, `"a"..="m"`, `..`, `key..`) and for a
/// pair of [`Bound`]s (`(Bound::Excluded(k), Bound::Unbounded)`).
pub trait KeyRange {
    /// The start and end bounds, copied into owned bytes.
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>);
}

fn owned<K: AsRef<[u8]>>(bound: Bound<K>) -> Bound<Bytes> {
    match bound {
        Bound::Included(key) => Bound::Included(Bytes::copy_from_slice(key.as_ref())),
        Bound::Excluded(key) => Bound::Excluded(Bytes::copy_from_slice(key.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl<K: AsRef<[u8]>> KeyRange for (Bound<K>, Bound<K>) {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (owned(self.0), owned(self.1))
    }
}

impl<K: AsRef<[u8]>> KeyRange for Range<K> {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (
            owned(Bound::Included(self.start)),
            owned(Bound::Excluded(self.end)),
        )
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeInclusive<K> {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        let (start, end) = self.into_inner();
        (owned(Bound::Included(start)), owned(Bound::Included(end)))
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeFrom<K> {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (owned(Bound::Included(self.start)), Bound::Unbounded)
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeTo<K> {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (Bound::Unbounded, owned(Bound::Excluded(self.end)))
    }
}

impl<K: AsRef<[u8]>> KeyRange for RangeToInclusive<K> {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (Bound::Unbounded, owned(Bound::Included(self.end)))
    }
}

impl KeyRange for RangeFull {
    fn into_bounds(self) -> (Bound<Bytes>, Bound<Bytes>) {
        (Bound::Unbounded, Bound::Unbounded)
    }
}

/// Half-open user-key bounds `[lower, upper)`; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyBounds {
    /// The smallest user key inside (inclusive).
    pub(crate) lower: Option<Bytes>,
    /// The first user key past the end (exclusive).
    pub(crate) upper: Option<Bytes>,
}

/// The byte string right after `key`: `key` followed by a zero byte.
fn immediate_successor(key: &[u8]) -> Bytes {
    let mut next = BytesMut::with_capacity(key.len() + 1);
    next.put_slice(key);
    next.put_u8(0);
    next.freeze()
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` when there is none (`prefix` is all `0xff`).
fn prefix_successor(prefix: &[u8]) -> Option<Bytes> {
    let last_incrementable = prefix.iter().rposition(|&byte| byte != u8::MAX)?;
    let mut end = prefix[..=last_incrementable].to_vec();
    end[last_incrementable] += 1;
    Some(Bytes::from(end))
}

impl KeyBounds {
    /// Every user key.
    pub(crate) fn unbounded() -> Self {
        Self::default()
    }

    /// The bounds of a [`KeyRange`].
    pub(crate) fn from_range(range: impl KeyRange) -> Self {
        let (start, end) = range.into_bounds();
        let lower = match start {
            Bound::Included(key) => Some(key),
            Bound::Excluded(key) => Some(immediate_successor(&key)),
            Bound::Unbounded => None,
        };
        let upper = match end {
            Bound::Included(key) => Some(immediate_successor(&key)),
            Bound::Excluded(key) => Some(key),
            Bound::Unbounded => None,
        };
        Self { lower, upper }
    }

    /// The keys starting with `prefix`.
    pub(crate) fn prefix(prefix: &[u8]) -> Self {
        Self {
            lower: Some(Bytes::copy_from_slice(prefix)),
            upper: prefix_successor(prefix),
        }
    }

    /// Whether `user_key` is at or above the lower bound.
    #[inline]
    pub(crate) fn above_lower(&self, user_key: &[u8]) -> bool {
        self.lower
            .as_ref()
            .is_none_or(|lower| user_key >= &lower[..])
    }

    /// Whether `user_key` is below the upper bound.
    #[inline]
    pub(crate) fn below_upper(&self, user_key: &[u8]) -> bool {
        self.upper
            .as_ref()
            .is_none_or(|upper| user_key < &upper[..])
    }

    /// Whether `user_key` lies within the bounds.
    #[cfg(test)]
    fn contains(&self, user_key: &[u8]) -> bool {
        self.above_lower(user_key) && self.below_upper(user_key)
    }

    /// Whether no key lies within the bounds (`lower >= upper`).
    pub(crate) fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Some(lower), Some(upper)) => lower >= upper,
            _ => false,
        }
    }

    /// The bounds as a pair of std bounds (for memtables and `BTreeMap`s).
    /// Empty bounds come out as the valid empty range `[lower, lower)`, so
    /// `BTreeMap::range` never sees a start above its end.
    pub(crate) fn as_std_bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        if let (true, Some(lower)) = (self.is_empty(), self.lower.as_deref()) {
            return (Bound::Included(lower), Bound::Excluded(lower));
        }
        let lower = self
            .lower
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Included);
        let upper = self
            .upper
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        (lower, upper)
    }

    /// The bounds in the table iterator's form.
    pub(crate) fn to_table_bounds(&self) -> UserKeyBounds {
        UserKeyBounds {
            lower: self.lower.clone(),
            upper: self.upper.clone(),
        }
    }
}

/// The user key of a bound, owned, for manual compaction (`None` when
/// unbounded).
pub(crate) fn bound_bytes<K: AsRef<[u8]>>(bound: Bound<&K>) -> Option<Bytes> {
    match bound {
        Bound::Included(key) | Bound::Excluded(key) => Some(Bytes::copy_from_slice(key.as_ref())),
        Bound::Unbounded => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(range: impl KeyRange) -> KeyBounds {
        KeyBounds::from_range(range)
    }

    #[test]
    fn std_ranges_normalise_to_half_open_bounds() {
        let b = bounds(b"a".as_slice()..b"c".as_slice());
        assert!(b.contains(b"a") && b.contains(b"b") && !b.contains(b"c"));
        let b = bounds("a"..="c");
        assert!(b.contains(b"c") && !b.contains(b"c\0"));
        let b = bounds((Bound::Excluded("a"), Bound::Unbounded));
        assert!(!b.contains(b"a") && b.contains(b"a\0") && b.contains(b"zzz"));
        let b = bounds(..);
        assert!(b.contains(b"") && b.contains(b"\xff\xff"));
        let b = bounds(.."b");
        assert!(b.contains(b"") && !b.contains(b"b"));
        let b = bounds(..="b");
        assert!(b.contains(b"b") && !b.contains(b"b\0"));
        let b = bounds(b"b".to_vec()..);
        assert!(!b.contains(b"a") && b.contains(b"b"));
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefixed_keys() {
        let b = KeyBounds::prefix(b"ab");
        assert!(b.contains(b"ab") && b.contains(b"ab\xff\xff"));
        assert!(!b.contains(b"aa\xff") && !b.contains(b"ac"));
        let b = KeyBounds::prefix(b"a\xff");
        assert_eq!(b.upper.as_deref(), Some(&b"b"[..]));
        let b = KeyBounds::prefix(b"\xff\xff");
        assert!(b.upper.is_none() && b.contains(b"\xff\xff\x00"));
        assert!(bounds("b".."a").is_empty() && bounds("a".."a").is_empty());
        assert!(!bounds("a"..="a").is_empty() && !bounds(..).is_empty());
        let b = KeyBounds::prefix(b"");
        assert_eq!(b, KeyBounds::unbounded().with_lower_empty());
    }

    impl KeyBounds {
        fn with_lower_empty(mut self) -> Self {
            self.lower = Some(Bytes::new());
            self
        }
    }
}
