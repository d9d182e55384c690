//! The skip-list key: an encoded internal key behind a shared pointer, and the
//! translation of user-key bounds into internal-key bounds.
//!
//! Keys are stored encoded (`user_key | trailer u64 LE`, seer-core's format)
//! so that an iterator hands out the stored bytes as `&[u8]` without
//! re-encoding, and cloning one into an iterator's buffer is one reference
//! count increment (`Arc<[u8]>`: one allocation per key, no separate header
//! as a promoted `Bytes` would need).

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use seer_core::{compare_internal_keys, InternalKey, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES};

/// An encoded internal key, ordered by [`compare_internal_keys`].
#[derive(Clone, Debug)]
pub(crate) struct EncodedKey(Arc<[u8]>);

impl EncodedKey {
    /// The key of an entry of `kind` for `user_key` written at `seq`.
    pub(crate) fn entry(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Self {
        Self::from_parts(
            user_key,
            InternalKey::new(bytes::Bytes::new(), seq, kind).trailer(),
        )
    }

    /// The seek key of `user_key` at `snapshot_seq`: it sorts just before the
    /// newest entry of `user_key` with `seq <= snapshot_seq`.
    pub(crate) fn seek(user_key: &[u8], snapshot_seq: SeqNo) -> Self {
        Self::from_parts(
            user_key,
            InternalKey::seek_key(bytes::Bytes::new(), snapshot_seq).trailer(),
        )
    }

    /// A copy of an already encoded internal key (a seek target).
    pub(crate) fn from_encoded(encoded: &[u8]) -> Self {
        Self(Arc::from(encoded))
    }

    /// `user_key | trailer` in one allocation.
    fn from_parts(user_key: &[u8], trailer: u64) -> Self {
        let bytes = user_key
            .iter()
            .copied()
            .chain(trailer.to_le_bytes())
            .collect();
        Self(bytes)
    }

    /// The encoded internal key.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The user key and the kind. Stored keys are built by [`Self::entry`]
    /// from a [`ValueKind`], so their kind byte is always valid.
    #[inline]
    pub(crate) fn user_key_and_kind(&self) -> (&[u8], ValueKind) {
        let split = self.0.len().saturating_sub(TRAILER_BYTES);
        let (user_key, trailer) = self.0.split_at(split);
        let kind_byte = trailer.first().copied().unwrap_or_default();
        let kind = ValueKind::from_byte(kind_byte);
        debug_assert!(kind.is_ok(), "stored key with kind byte {kind_byte}");
        (user_key, kind.unwrap_or(ValueKind::Put))
    }
}

impl PartialEq for EncodedKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for EncodedKey {}

impl PartialOrd for EncodedKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EncodedKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal_keys(&self.0, &other.0)
    }
}

/// The trailer that sorts before every entry of a user key (the seek key at
/// [`MAX_SEQ`]: all bits set).
fn first_trailer() -> u64 {
    InternalKey::seek_key(bytes::Bytes::new(), MAX_SEQ).trailer()
}

/// The trailer that sorts after (or equal to) every entry of a user key: a
/// tombstone at sequence number zero.
fn last_trailer() -> u64 {
    InternalKey::new(bytes::Bytes::new(), 0, ValueKind::Delete).trailer()
}

/// Internal-key bounds equivalent to user-key bounds.
#[derive(Clone, Debug)]
pub(crate) struct KeyBounds {
    /// Every yielded key is above this.
    pub(crate) lower: Bound<EncodedKey>,
    /// Every yielded key is below this.
    pub(crate) upper: Bound<EncodedKey>,
}

impl KeyBounds {
    /// Translates user-key bounds: an included lower user key starts before
    /// its first entry, an excluded one after its last, and symmetrically
    /// for the upper bound.
    pub(crate) fn from_user_bounds(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Self {
        let lower = match lower {
            Bound::Included(user_key) => {
                Bound::Included(EncodedKey::from_parts(user_key, first_trailer()))
            }
            Bound::Excluded(user_key) => {
                Bound::Excluded(EncodedKey::from_parts(user_key, last_trailer()))
            }
            Bound::Unbounded => Bound::Unbounded,
        };
        let upper = match upper {
            Bound::Included(user_key) => {
                Bound::Included(EncodedKey::from_parts(user_key, last_trailer()))
            }
            Bound::Excluded(user_key) => {
                Bound::Excluded(EncodedKey::from_parts(user_key, first_trailer()))
            }
            Bound::Unbounded => Bound::Unbounded,
        };
        Self { lower, upper }
    }

    /// The tighter of the lower bound and "at or after `target`".
    pub(crate) fn lower_at(&self, target: EncodedKey) -> Bound<EncodedKey> {
        match &self.lower {
            Bound::Included(lower) if target < *lower => Bound::Included(lower.clone()),
            Bound::Excluded(lower) if target <= *lower => Bound::Excluded(lower.clone()),
            _ => Bound::Included(target),
        }
    }

    /// The tighter of the upper bound and "at or before `target`".
    pub(crate) fn upper_at(&self, target: EncodedKey) -> Bound<EncodedKey> {
        match &self.upper {
            Bound::Included(upper) if target > *upper => Bound::Included(upper.clone()),
            Bound::Excluded(upper) if target >= *upper => Bound::Excluded(upper.clone()),
            _ => Bound::Included(target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_bracket_every_entry_of_the_user_key() {
        let newest = EncodedKey::entry(b"k", MAX_SEQ, ValueKind::Merge);
        let oldest = EncodedKey::entry(b"k", 0, ValueKind::Delete);
        let first = EncodedKey::from_parts(b"k", first_trailer());
        let last = EncodedKey::from_parts(b"k", last_trailer());
        assert!(first < newest);
        assert_eq!(last, oldest);
        assert!(EncodedKey::entry(b"j", 0, ValueKind::Delete) < first);
        assert!(last < EncodedKey::entry(b"k\0", MAX_SEQ, ValueKind::Merge));
    }

    #[test]
    fn seek_targets_are_clamped_to_the_bounds() {
        let bounds = KeyBounds::from_user_bounds(Bound::Excluded(b"b"), Bound::Excluded(b"d"));
        let at_lower = EncodedKey::entry(b"b", 0, ValueKind::Delete);
        let at_upper = EncodedKey::from_parts(b"d", first_trailer());
        assert_eq!(bounds.lower_at(at_lower.clone()), Bound::Excluded(at_lower));
        assert_eq!(bounds.upper_at(at_upper.clone()), Bound::Excluded(at_upper));
        let inside = EncodedKey::entry(b"c", 5, ValueKind::Put);
        assert_eq!(
            bounds.lower_at(inside.clone()),
            Bound::Included(inside.clone())
        );
        assert_eq!(bounds.upper_at(inside.clone()), Bound::Included(inside));

        let bounds = KeyBounds::from_user_bounds(Bound::Included(b"b"), Bound::Included(b"d"));
        let below = EncodedKey::entry(b"a", 5, ValueKind::Put);
        let above = EncodedKey::entry(b"e", 5, ValueKind::Put);
        let first_b = EncodedKey::from_parts(b"b", first_trailer());
        let last_d = EncodedKey::entry(b"d", 0, ValueKind::Delete);
        assert_eq!(bounds.lower_at(below), Bound::Included(first_b));
        assert_eq!(bounds.upper_at(above), Bound::Included(last_d));
    }

    #[test]
    fn parts_round_trip() {
        let key = EncodedKey::entry(b"user", 42, ValueKind::Merge);
        assert_eq!(key.user_key_and_kind(), (&b"user"[..], ValueKind::Merge));
        let parsed = seer_core::ParsedInternalKey::parse(key.as_bytes()).unwrap();
        assert_eq!(parsed.seq, 42);
    }
}
