//! The skip-list key: an encoded internal key behind a shared pointer, and the
//! translation of user-key bounds into internal-key bounds.
//!
//! Keys are stored encoded (`user_key | trailer u64 LE`, seer-core's format)
//! so that an iterator hands out the stored bytes as `&[u8]` without
//! re-encoding, and cloning one into an iterator's buffer is one reference
//! count increment (`Arc<[u8]>`: one allocation per key, no separate header
//! as a promoted `Bytes` would need).
//!
//! Beside the pointer, each key keeps the first 16 bytes of its user key as a
//! big-endian integer *inside the skip-list node*. Most comparisons during a
//! skip-list search are decided by that integer, without following the
//! pointer to the key bytes (a cache miss per visited node) or calling
//! `memcmp`; see `examples/throughput.rs` for the measured effect. Sixteen
//! bytes rather than eight: common fixed-width keys (zero-padded decimal
//! counters, 16-byte ids) share their first 8 bytes, so an 8-byte prefix
//! decided almost nothing for them (callgrind, 16-byte decimal keys: 15
//! `memcmp` calls per insert with 8 bytes).

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use seer_core::{compare_internal_keys, InternalKey, SeqNo, ValueKind, MAX_SEQ, TRAILER_BYTES};

/// Encoded keys up to this length are assembled on the stack.
const STACK_KEY_BYTES: usize = 64;

/// An encoded internal key, ordered by [`compare_internal_keys`].
#[derive(Clone, Debug)]
pub(crate) struct EncodedKey {
    /// [`user_key_prefix`] of the user key: orders like the user key
    /// wherever two prefixes differ.
    prefix: [u64; 2],
    encoded: Arc<[u8]>,
}

/// The first 16 bytes of `user_key`, zero-padded, as two big-endian
/// integers (most significant first; two `u64`s rather than a `u128`, which
/// would align the skip-list node to 16 bytes and pad it).
///
/// If two prefixes differ, the user keys compare the same way: at the first
/// differing byte either both keys have a byte (which decides both orders)
/// or the shorter key ended, making it a prefix of the longer key (smaller),
/// while its padding zero is below the longer key's non-zero byte.
#[inline]
fn user_key_prefix(user_key: &[u8]) -> [u64; 2] {
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

    /// A copy of an already encoded internal key (a seek target). Like
    /// [`compare_internal_keys`], an input shorter than a trailer counts as
    /// a bare user key.
    pub(crate) fn from_encoded(encoded: &[u8]) -> Self {
        let user_key_len = encoded
            .len()
            .checked_sub(TRAILER_BYTES)
            .unwrap_or(encoded.len());
        Self {
            prefix: user_key_prefix(&encoded[..user_key_len]),
            encoded: Arc::from(encoded),
        }
    }

    /// `user_key | trailer`, in one allocation for keys up to
    /// [`STACK_KEY_BYTES`] (assembled on the stack, then copied once).
    fn from_parts(user_key: &[u8], trailer: u64) -> Self {
        let encoded_len = user_key.len() + TRAILER_BYTES;
        let encoded: Arc<[u8]> = if encoded_len <= STACK_KEY_BYTES {
            let mut buffer = [0u8; STACK_KEY_BYTES];
            buffer[..user_key.len()].copy_from_slice(user_key);
            buffer[user_key.len()..encoded_len].copy_from_slice(&trailer.to_le_bytes());
            Arc::from(&buffer[..encoded_len])
        } else {
            let mut buffer = Vec::with_capacity(encoded_len);
            buffer.extend_from_slice(user_key);
            buffer.extend_from_slice(&trailer.to_le_bytes());
            Arc::from(buffer)
        };
        Self {
            prefix: user_key_prefix(user_key),
            encoded,
        }
    }

    /// The encoded internal key.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The user key and the kind. Stored keys are built by [`Self::entry`]
    /// from a [`ValueKind`], so their kind byte is always valid.
    #[inline]
    pub(crate) fn user_key_and_kind(&self) -> (&[u8], ValueKind) {
        let split = self.encoded.len().saturating_sub(TRAILER_BYTES);
        let (user_key, trailer) = self.encoded.split_at(split);
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
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| compare_internal_keys(&self.encoded, &other.encoded))
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

    proptest::proptest! {
        #[test]
        fn prefixed_order_is_the_internal_key_order(
            a in proptest::collection::vec(0u8..3, 0..20), sa in 0..MAX_SEQ,
            b in proptest::collection::vec(0u8..3, 0..20), sb in 0..MAX_SEQ,
        ) {
            let a = EncodedKey::entry(&a, sa, ValueKind::Put);
            let b = EncodedKey::entry(&b, sb, ValueKind::Put);
            proptest::prop_assert_eq!(a.cmp(&b), compare_internal_keys(a.as_bytes(), b.as_bytes()));
            let b_target = EncodedKey::from_encoded(b.as_bytes());
            proptest::prop_assert_eq!(a.cmp(&b_target), a.cmp(&b));
        }
    }

    #[test]
    fn parts_round_trip_for_short_and_long_keys() {
        let long_user_key = vec![7u8; STACK_KEY_BYTES];
        for user_key in [&b"user"[..], &long_user_key] {
            let key = EncodedKey::entry(user_key, 42, ValueKind::Merge);
            assert_eq!(key.user_key_and_kind(), (user_key, ValueKind::Merge));
            let expected = InternalKey::new(user_key.to_vec(), 42, ValueKind::Merge).encode();
            assert_eq!(key.as_bytes(), &expected[..]);
        }
    }
}
