//! The checksum of every on-disk structure: 64-bit xxh3.

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// The xxh3-64 checksum of `bytes`.
#[inline]
pub fn checksum(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

/// A streaming checksum over several byte strings, equal to [`checksum`] of
/// their concatenation.
#[derive(Clone, Default)]
pub struct Checksummer {
    state: Xxh3,
}

impl Checksummer {
    /// A checksummer that has seen no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `bytes` into the checksum.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        self.state.update(bytes);
        self
    }

    /// The checksum of all bytes fed so far.
    #[inline]
    pub fn finish(&self) -> u64 {
        self.state.digest()
    }
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checksummer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot() {
        let mut c = Checksummer::new();
        c.update(b"hello ").update(b"world");
        assert_eq!(c.finish(), checksum(b"hello world"));
        assert_ne!(checksum(b"hello world"), checksum(b"hello worle"));
    }
}
