//! Sequence numbers, value kinds and internal keys.
//!
//! Every write carries a 56-bit sequence number. An internal key is the user
//! key followed by an 8-byte little-endian *trailer* `(seq << 8) | kind`.
//! Internal keys order by user key ascending, then trailer descending, so the
//! newest version of a key comes first and a reader at snapshot `s` finds its
//! version by seeking to [`InternalKey::seek_key`]`(key, s)`.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::DecodeError;

/// A sequence number: the position of a write in the global write order.
pub type SeqNo = u64;

/// The largest sequence number (56 bits).
pub const MAX_SEQ: SeqNo = (1 << 56) - 1;

/// Bytes of the trailer that ends every encoded internal key.
pub const TRAILER_BYTES: usize = 8;

/// Kind byte of a seek key: larger than every stored kind, so that among
/// entries with the same sequence number the seek key sorts first.
const SEEK_KIND_BYTE: u8 = 0xff;

/// What an entry records about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted.
    Delete = 0,
    /// A full value.
    Put = 1,
    /// A merge operand, combined with older versions by a `MergeOperator`.
    Merge = 2,
    /// A full value that readers treat as deleted from its expiry on: the
    /// stored value is `expiry_unix_ms: u64 LE | value`
    /// ([`crate::expiry`]).
    ExpiringPut = 3,
}

impl ValueKind {
    /// Whether the entry is a full value ([`Self::Put`] or
    /// [`Self::ExpiringPut`]).
    #[inline]
    pub fn is_put(self) -> bool {
        matches!(self, Self::Put | Self::ExpiringPut)
    }

    /// Decodes a kind byte.
    #[inline]
    pub fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            0 => Ok(Self::Delete),
            1 => Ok(Self::Put),
            2 => Ok(Self::Merge),
            3 => Ok(Self::ExpiringPut),
            other => Err(DecodeError::Invalid {
                what: "value kind",
                detail: format!("unknown kind byte {other}"),
            }),
        }
    }
}

/// Packs a sequence number and kind byte into a trailer.
#[inline]
fn pack_trailer(seq: SeqNo, kind_byte: u8) -> u64 {
    debug_assert!(seq <= MAX_SEQ, "sequence number {seq} exceeds 56 bits");
    (seq << 8) | u64::from(kind_byte)
}

/// An owned internal key: a user key and its trailer.
///
/// `Ord` is the internal key order; cloning is cheap (the user key is
/// reference counted).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InternalKey {
    user_key: Bytes,
    trailer: u64,
}

impl InternalKey {
    /// The key of an entry of `kind` written at `seq`.
    #[inline]
    pub fn new(user_key: impl Into<Bytes>, seq: SeqNo, kind: ValueKind) -> Self {
        Self {
            user_key: user_key.into(),
            trailer: pack_trailer(seq, kind as u8),
        }
    }

    /// The smallest internal key for `user_key` visible at `snapshot_seq`:
    /// seeking to it lands on the newest entry with `seq <= snapshot_seq`.
    #[inline]
    pub fn seek_key(user_key: impl Into<Bytes>, snapshot_seq: SeqNo) -> Self {
        Self {
            user_key: user_key.into(),
            trailer: pack_trailer(snapshot_seq, SEEK_KIND_BYTE),
        }
    }

    /// The user key.
    #[inline]
    pub fn user_key(&self) -> &Bytes {
        &self.user_key
    }

    /// The sequence number.
    #[inline]
    pub fn seq(&self) -> SeqNo {
        self.trailer >> 8
    }

    /// The kind; a seek key reports [`ValueKind::Put`].
    #[inline]
    pub fn kind(&self) -> ValueKind {
        ValueKind::from_byte(self.trailer as u8).unwrap_or(ValueKind::Put)
    }

    /// The packed `(seq << 8) | kind` trailer.
    #[inline]
    pub fn trailer(&self) -> u64 {
        self.trailer
    }

    /// Length of [`Self::encode_into`]'s output.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        self.user_key.len() + TRAILER_BYTES
    }

    /// Appends `user_key | trailer (u64 LE)` to `out`.
    #[inline]
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.user_key);
        out.extend_from_slice(&self.trailer.to_le_bytes());
    }

    /// The encoded form as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes an encoded internal key, sharing `encoded`'s buffer.
    pub fn decode(encoded: &Bytes) -> Result<Self, DecodeError> {
        let parsed = ParsedInternalKey::parse(encoded)?;
        Ok(Self {
            user_key: encoded.slice(..parsed.user_key.len()),
            trailer: pack_trailer(parsed.seq, parsed.kind as u8),
        })
    }

    /// A borrowed view of this key.
    #[inline]
    pub fn as_parsed(&self) -> ParsedInternalKey<'_> {
        ParsedInternalKey {
            user_key: &self.user_key,
            seq: self.seq(),
            kind: self.kind(),
        }
    }
}

impl Ord for InternalKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.user_key
            .cmp(&other.user_key)
            .then_with(|| other.trailer.cmp(&self.trailer))
    }
}

impl PartialOrd for InternalKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}@{}:{:?}",
            self.user_key.escape_ascii().to_string(),
            self.seq(),
            self.trailer as u8
        )
    }
}

/// A borrowed, decoded internal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    /// The user key.
    pub user_key: &'a [u8],
    /// The sequence number.
    pub seq: SeqNo,
    /// The kind.
    pub kind: ValueKind,
}

impl<'a> ParsedInternalKey<'a> {
    /// Splits an encoded internal key into its parts.
    #[inline]
    pub fn parse(encoded: &'a [u8]) -> Result<Self, DecodeError> {
        let split = encoded
            .len()
            .checked_sub(TRAILER_BYTES)
            .ok_or(DecodeError::Truncated {
                what: "internal key trailer",
            })?;
        let (user_key, trailer) = encoded.split_at(split);
        let mut trailer_bytes = [0u8; TRAILER_BYTES];
        trailer_bytes.copy_from_slice(trailer);
        let trailer = u64::from_le_bytes(trailer_bytes);
        Ok(Self {
            user_key,
            seq: trailer >> 8,
            kind: ValueKind::from_byte(trailer as u8)?,
        })
    }

    /// An owned copy.
    pub fn to_owned_key(&self) -> InternalKey {
        InternalKey::new(Bytes::copy_from_slice(self.user_key), self.seq, self.kind)
    }
}

/// Compares two *encoded* internal keys (user key ascending, trailer
/// descending). Inputs shorter than a trailer compare as bare user keys with
/// trailer zero, so the function never panics on malformed input.
#[inline]
pub fn compare_internal_keys(a: &[u8], b: &[u8]) -> Ordering {
    let (a_user, a_trailer) = split_encoded(a);
    let (b_user, b_trailer) = split_encoded(b);
    a_user.cmp(b_user).then_with(|| b_trailer.cmp(&a_trailer))
}

#[inline]
fn split_encoded(encoded: &[u8]) -> (&[u8], u64) {
    match encoded.len().checked_sub(TRAILER_BYTES) {
        Some(split) => {
            let (user, trailer) = encoded.split_at(split);
            let mut bytes = [0u8; TRAILER_BYTES];
            bytes.copy_from_slice(trailer);
            (user, u64::from_le_bytes(bytes))
        }
        None => (encoded, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newest_version_sorts_first() {
        let old = InternalKey::new(&b"k"[..], 5, ValueKind::Put);
        let new = InternalKey::new(&b"k"[..], 9, ValueKind::Delete);
        assert!(new < old);
        assert!(InternalKey::new(&b"a"[..], 1, ValueKind::Put) < new);
        let seek = InternalKey::seek_key(&b"k"[..], 7);
        assert!(new < seek && seek < old);
        assert!(InternalKey::seek_key(&b"k"[..], 5) < old);
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert!(InternalKey::decode(&Bytes::from_static(b"short")).is_err());
        let mut bad = b"key".to_vec();
        bad.extend_from_slice(&((7u64 << 8) | 9).to_le_bytes());
        assert!(InternalKey::decode(&Bytes::from(bad)).is_err());
    }

    fn kind() -> impl Strategy<Value = ValueKind> {
        prop_oneof![
            Just(ValueKind::Put),
            Just(ValueKind::Delete),
            Just(ValueKind::Merge)
        ]
    }

    proptest! {
        #[test]
        fn encoded_order_matches_owned_order(
            a in proptest::collection::vec(any::<u8>(), 0..6), sa in 0..MAX_SEQ, ka in kind(),
            b in proptest::collection::vec(any::<u8>(), 0..6), sb in 0..MAX_SEQ, kb in kind(),
        ) {
            let a = InternalKey::new(a, sa, ka);
            let b = InternalKey::new(b, sb, kb);
            prop_assert_eq!(compare_internal_keys(&a.encode(), &b.encode()), a.cmp(&b));
            let decoded = InternalKey::decode(&Bytes::from(a.encode())).unwrap();
            prop_assert_eq!(&decoded, &a);
            prop_assert_eq!(decoded.kind(), ka);
            prop_assert_eq!(decoded.seq(), sa);
        }
    }
}
