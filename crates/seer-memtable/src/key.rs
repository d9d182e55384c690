//! Keys as the skip list compares them: a borrowed search [`Target`] (no
//! allocation per lookup or seek), the 16-byte user-key prefix stored in
//! every node, the trailers of entries and seek keys, and the translation of
//! user-key bounds into internal-key bounds ([`KeyBounds`]).
//!
//! Each node keeps the first 16 bytes of its user key as two big-endian
//! integers beside its tower. Most comparisons during a skip-list search are
//! decided by them, without reading the key bytes further on or calling
//! `memcmp`. Sixteen bytes rather than eight: common fixed-width keys
//! (zero-padded decimal counters, 16-byte ids) share their first 8 bytes, so
//! an 8-byte prefix decided almost nothing for them (callgrind, 16-byte
//! decimal keys: 15 `memcmp` calls per insert with 8 bytes).

use std::cmp::Ordering;
use std::ops::Bound;

use seer_core::{compare_internal_keys, InternalKey, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES};

/// The first 16 bytes of `user_key`, zero-padded, as two big-endian
/// integers (most significant first; two `u64`s rather than a `u128`, which
/// would align the node to 16 bytes and pad it).
///
/// If two prefixes differ, the user keys compare the same way: at the first
/// differing byte either both keys have a byte (which decides both orders)
/// or the shorter key ended, making it a prefix of the longer key (smaller),
/// while its padding zero is below the longer key's non-zero byte.
#[inline]
pub(crate) fn user_key_prefix(user_key: &[u8]) -> [u64; 2] {
    let mut bytes = [0u8; 16];
    let len = user_key.len().min(16);
    bytes[..len].copy_from_slice(&user_key[..len]);
    let (high, low) = bytes.split_at(8);
    [be_u64(high), be_u64(low)]
}

/// `bytes` (exactly 8) as a big-endian integer.
#[inline]
fn be_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    u64::from_be_bytes(word)
}

/// A search position in internal-key order, borrowing its user key: the
/// user key, its prefix and a trailer (user key ascending, trailer
/// descending, as [`compare_internal_keys`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) prefix: [u64; 2],
    pub(crate) user_key: &'a [u8],
    pub(crate) trailer: u64,
}

impl<'a> Target<'a> {
    /// `user_key` with `trailer`.
    #[inline]
    pub(crate) fn new(user_key: &'a [u8], trailer: u64) -> Self {
        Self {
            prefix: user_key_prefix(user_key),
            user_key,
            trailer,
        }
    }

    /// An encoded internal key (a seek target). Like
    /// [`compare_internal_keys`], an input shorter than a trailer counts as a
    /// bare user key with trailer zero.
    pub(crate) fn from_encoded(encoded: &'a [u8]) -> Self {
        match encoded.len().checked_sub(TRAILER_BYTES) {
            Some(split) => {
                let (user_key, trailer) = encoded.split_at(split);
                let mut trailer_bytes = [0u8; TRAILER_BYTES];
                trailer_bytes.copy_from_slice(trailer);
                Self::new(user_key, u64::from_le_bytes(trailer_bytes))
            }
            None => Self::new(encoded, 0),
        }
    }
}

/// The trailer of an entry of `kind` written at `seq`.
#[inline]
pub(crate) fn entry_trailer(seq: SeqNo, kind: ValueKind) -> u64 {
    InternalKey::new(bytes::Bytes::new(), seq, kind).trailer()
}

/// The trailer of the seek key at `snapshot_seq`: it sorts just before the
/// newest entry of a user key with `seq <= snapshot_seq`.
#[inline]
pub(crate) fn seek_trailer(snapshot_seq: SeqNo) -> u64 {
    InternalKey::seek_key(bytes::Bytes::new(), snapshot_seq.min(MAX_SEQ)).trailer()
}

/// The kind byte of a stored trailer. Stored trailers are built by
/// [`entry_trailer`] from a [`ValueKind`], so the byte is always valid.
#[inline]
pub(crate) fn kind_of_trailer(trailer: u64) -> ValueKind {
    let kind_byte = trailer.to_le_bytes()[0];
    let kind = ValueKind::from_byte(kind_byte);
    debug_assert!(kind.is_ok(), "stored key with kind byte {kind_byte}");
    kind.unwrap_or(ValueKind::Put)
}

/// The trailer that sorts before every entry of a user key (the seek key at
/// [`MAX_SEQ`]: all bits set).
fn first_trailer() -> u64 {
    seek_trailer(MAX_SEQ)
}

/// The trailer that sorts after (or equal to) every entry of a user key: a
/// tombstone at sequence number zero.
fn last_trailer() -> u64 {
    entry_trailer(0, ValueKind::Delete)
}

fn encode(user_key: &[u8], trailer: u64) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(user_key.len() + TRAILER_BYTES);
    encoded.extend_from_slice(user_key);
    encoded.extend_from_slice(&trailer.to_le_bytes());
    encoded
}

/// Internal-key bounds (encoded) equivalent to user-key bounds.
#[derive(Clone, Debug)]
pub(crate) struct KeyBounds {
    /// Every yielded key is above this.
    pub(crate) lower: Bound<Vec<u8>>,
    /// Every yielded key is below this.
    pub(crate) upper: Bound<Vec<u8>>,
}

impl KeyBounds {
    /// Translates user-key bounds: an included lower user key starts before
    /// its first entry, an excluded one after its last, and symmetrically
    /// for the upper bound.
    pub(crate) fn from_user_bounds(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Self {
        let lower = match lower {
            Bound::Included(user_key) => Bound::Included(encode(user_key, first_trailer())),
            Bound::Excluded(user_key) => Bound::Excluded(encode(user_key, last_trailer())),
            Bound::Unbounded => Bound::Unbounded,
        };
        let upper = match upper {
            Bound::Included(user_key) => Bound::Included(encode(user_key, last_trailer())),
            Bound::Excluded(user_key) => Bound::Excluded(encode(user_key, first_trailer())),
            Bound::Unbounded => Bound::Unbounded,
        };
        Self { lower, upper }
    }

    /// Whether the encoded internal key `key` lies below the lower bound.
    pub(crate) fn is_below(&self, key: &[u8]) -> bool {
        match &self.lower {
            Bound::Included(lower) => compare_internal_keys(key, lower) == Ordering::Less,
            Bound::Excluded(lower) => compare_internal_keys(key, lower) != Ordering::Greater,
            Bound::Unbounded => false,
        }
    }

    /// Whether the encoded internal key `key` lies above the upper bound.
    pub(crate) fn is_above(&self, key: &[u8]) -> bool {
        match &self.upper {
            Bound::Included(upper) => compare_internal_keys(key, upper) == Ordering::Greater,
            Bound::Excluded(upper) => compare_internal_keys(key, upper) != Ordering::Less,
            Bound::Unbounded => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Vec<u8> {
        InternalKey::new(user_key.to_vec(), seq, kind)
            .encode()
            .to_vec()
    }

    #[test]
    fn bounds_bracket_every_entry_of_the_user_key() {
        let newest = encoded(b"k", MAX_SEQ, ValueKind::Merge);
        let oldest = encoded(b"k", 0, ValueKind::Delete);
        let included = KeyBounds::from_user_bounds(Bound::Included(b"k"), Bound::Included(b"k"));
        for key in [&newest, &oldest] {
            assert!(!included.is_below(key) && !included.is_above(key));
        }
        assert!(included.is_below(&encoded(b"j", 0, ValueKind::Delete)));
        assert!(included.is_above(&encoded(b"k\0", MAX_SEQ, ValueKind::Merge)));
        let excluded = KeyBounds::from_user_bounds(Bound::Excluded(b"k"), Bound::Excluded(b"k"));
        for key in [&newest, &oldest] {
            assert!(excluded.is_below(key) && excluded.is_above(key));
        }
        assert!(!excluded.is_below(&encoded(b"k\0", MAX_SEQ, ValueKind::Merge)));
        assert!(!excluded.is_above(&encoded(b"j", 0, ValueKind::Delete)));
    }

    proptest::proptest! {
        #[test]
        fn targets_split_like_compare_internal_keys(
            a in proptest::collection::vec(0u8..3, 0..20),
            b in proptest::collection::vec(0u8..3, 0..20),
        ) {
            let (ta, tb) = (Target::from_encoded(&a), Target::from_encoded(&b));
            let by_target = ta.prefix.cmp(&tb.prefix)
                .then_with(|| ta.user_key.cmp(tb.user_key))
                .then_with(|| tb.trailer.cmp(&ta.trailer));
            proptest::prop_assert_eq!(by_target, compare_internal_keys(&a, &b));
        }
    }

    #[test]
    fn trailers_round_trip_their_kind() {
        for kind in [ValueKind::Put, ValueKind::Delete, ValueKind::Merge] {
            assert_eq!(kind_of_trailer(entry_trailer(42, kind)), kind);
        }
        assert!(seek_trailer(7) > entry_trailer(7, ValueKind::Merge));
        assert!(seek_trailer(7) < entry_trailer(8, ValueKind::Delete));
    }
}
