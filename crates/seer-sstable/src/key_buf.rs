//! [`KeyBuf`]: a byte buffer for one internal key that keeps short keys
//! inline and spills longer ones to the heap, so a point lookup's seek key
//! and a block cursor's current key cost no allocation for keys up to
//! [`INLINE_KEY_BYTES`].

use std::fmt;
use std::ops::Deref;

use seer_core::TRAILER_BYTES;

/// Keys up to this many bytes (a 56-byte user key and its trailer) stay
/// inline.
pub(crate) const INLINE_KEY_BYTES: usize = 64;

/// An internal key being assembled: inline while it fits, then on the heap
/// (keeping that allocation for later keys).
#[derive(Clone)]
pub(crate) enum KeyBuf {
    /// The first `len` bytes of `bytes`.
    Inline {
        /// Bytes in use.
        len: u8,
        /// The storage.
        bytes: [u8; INLINE_KEY_BYTES],
    },
    /// A key that outgrew the inline storage.
    Heap(Vec<u8>),
}

impl KeyBuf {
    /// An empty buffer.
    pub(crate) const fn new() -> Self {
        Self::Inline {
            len: 0,
            bytes: [0; INLINE_KEY_BYTES],
        }
    }

    /// `user_key | trailer (u64 LE)`: an encoded internal key.
    pub(crate) fn internal_key(user_key: &[u8], trailer: u64) -> Self {
        let user_end = user_key.len();
        let end = user_end + TRAILER_BYTES;
        if end > INLINE_KEY_BYTES {
            let mut heap = Vec::with_capacity(end);
            heap.extend_from_slice(user_key);
            heap.extend_from_slice(&trailer.to_le_bytes());
            return Self::Heap(heap);
        }
        let mut bytes = [0; INLINE_KEY_BYTES];
        bytes[..user_end].copy_from_slice(user_key);
        bytes[user_end..end].copy_from_slice(&trailer.to_le_bytes());
        Self::Inline {
            len: end as u8,
            bytes,
        }
    }

    /// The bytes.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }

    /// Empties the buffer (a heap buffer keeps its allocation).
    #[inline]
    pub(crate) fn clear(&mut self) {
        match self {
            Self::Inline { len, .. } => *len = 0,
            Self::Heap(bytes) => bytes.clear(),
        }
    }

    /// Keeps the first `keep_bytes` bytes and appends `tail`: one step of a
    /// prefix-compressed block's key (truncate, then extend).
    #[inline]
    pub(crate) fn replace_tail(&mut self, keep_bytes: usize, tail: &[u8]) {
        let kept = match self {
            Self::Inline { len, bytes } => {
                let kept = keep_bytes.min(usize::from(*len));
                let end = kept + tail.len();
                if let Some(slot) = bytes.get_mut(kept..end) {
                    slot.copy_from_slice(tail);
                    // At most INLINE_KEY_BYTES, so within u8.
                    *len = end as u8;
                    return;
                }
                kept
            }
            Self::Heap(bytes) => {
                bytes.truncate(keep_bytes);
                bytes.extend_from_slice(tail);
                return;
            }
        };
        let mut heap = Vec::with_capacity((kept + tail.len()).max(2 * INLINE_KEY_BYTES));
        heap.extend_from_slice(&self.as_slice()[..kept]);
        heap.extend_from_slice(tail);
        *self = Self::Heap(heap);
    }
}

impl Deref for KeyBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyBuf").field(&self.as_slice()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_keys_stay_inline_and_long_ones_spill() {
        let mut key = KeyBuf::internal_key(b"user", 0x0102);
        assert!(matches!(key, KeyBuf::Inline { .. }));
        assert_eq!(&key[..4], b"user");
        assert_eq!(&key[4..], &0x0102u64.to_le_bytes());
        key.replace_tail(2, &[7; INLINE_KEY_BYTES - 2]);
        assert!(matches!(key, KeyBuf::Inline { .. }));
        assert_eq!(key.len(), INLINE_KEY_BYTES);
        key.replace_tail(usize::MAX, b"x");
        assert!(matches!(key, KeyBuf::Heap(_)));
        assert_eq!(key.len(), INLINE_KEY_BYTES + 1);
        assert_eq!(&key[..2], b"us");
        assert_eq!(key[INLINE_KEY_BYTES], b'x');
        key.clear();
        assert!(key.is_empty());
        let long = KeyBuf::internal_key(&[1; INLINE_KEY_BYTES], 9);
        assert!(matches!(long, KeyBuf::Heap(_)));
        assert_eq!(&long[INLINE_KEY_BYTES..], &9u64.to_le_bytes());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Any sequence of tail replacements (and clears) leaves the same
        /// bytes as a `Vec` given the same steps.
        #[test]
        fn behaves_like_a_vec(
            steps in proptest::collection::vec(
                (0usize..80, proptest::collection::vec(any::<u8>(), 0..40)),
                0..20,
            )
        ) {
            let mut key = KeyBuf::new();
            let mut model = Vec::new();
            for (keep, more) in steps {
                key.replace_tail(keep, &more);
                model.truncate(keep);
                model.extend_from_slice(&more);
                prop_assert_eq!(key.as_slice(), &model[..]);
                if more.len() == 39 {
                    key.clear();
                    model.clear();
                }
            }
        }
    }
}
