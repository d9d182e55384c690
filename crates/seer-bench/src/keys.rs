//! Keys and values, db_bench style: key `i` is the decimal number `i`
//! zero-padded to the key size (so keys sort like their numbers), and values
//! are slices of one seeded random buffer. Everything is a pure function of
//! the index and the seed, so every engine sees the same bytes.

use rand::{RngCore, SeedableRng};

use crate::error::{BenchError, Result};

/// The smallest key size accepted: enough digits for any key count that
/// fits in a benchmark, plus room for the missing-key marker.
pub const MIN_KEY_SIZE_BYTES: usize = 8;

/// Size of the shared random buffer values are sliced from.
const VALUE_POOL_BYTES: usize = 1 << 20;

/// The byte that replaces a key's last digit to make a key that is never
/// written: it sorts after every digit, so missing keys fall between present
/// ones and must be rejected by filters rather than by key ranges.
const MISSING_MARKER: u8 = b'x';

/// Writes key bytes for indexes of one fixed key size.
#[derive(Debug, Clone)]
pub struct KeyFormat {
    key_size_bytes: usize,
}

impl KeyFormat {
    /// A format for keys of `key_size_bytes`, checked to hold the indexes
    /// `0..key_count`.
    pub fn new(key_size_bytes: usize, key_count: u64) -> Result<Self> {
        if key_size_bytes < MIN_KEY_SIZE_BYTES {
            return Err(BenchError::InvalidArgument(format!(
                "--key-size {key_size_bytes} is below the minimum {MIN_KEY_SIZE_BYTES}"
            )));
        }
        let digits = decimal_digits(key_count.saturating_sub(1));
        if digits > key_size_bytes {
            return Err(BenchError::InvalidArgument(format!(
                "--key-size {key_size_bytes} cannot hold {key_count} keys ({digits} digits needed)"
            )));
        }
        Ok(Self { key_size_bytes })
    }

    /// The key size in bytes.
    pub fn key_size_bytes(&self) -> usize {
        self.key_size_bytes
    }

    /// A buffer of the right size to pass to [`KeyFormat::write_key`].
    pub fn buffer(&self) -> Vec<u8> {
        vec![b'0'; self.key_size_bytes]
    }

    /// Writes key `index` into `buf` (of `key_size_bytes`): zero-padded
    /// decimal, right-aligned.
    pub fn write_key(&self, index: u64, buf: &mut [u8]) {
        let mut rest = index;
        for byte in buf.iter_mut().rev() {
            *byte = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        debug_assert_eq!(rest, 0, "KeyFormat::new checked the digit count");
    }

    /// Writes a key that is never written by any workload, near key `index`.
    pub fn write_missing_key(&self, index: u64, buf: &mut [u8]) {
        self.write_key(index, buf);
        if let Some(last) = buf.last_mut() {
            *last = MISSING_MARKER;
        }
    }
}

fn decimal_digits(mut value: u64) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

/// Values of one fixed size, sliced from a seeded random buffer.
#[derive(Debug, Clone)]
pub struct ValuePool {
    pool: Vec<u8>,
    value_size_bytes: usize,
}

impl ValuePool {
    /// A pool for values of `value_size_bytes`, from `seed`.
    pub fn new(value_size_bytes: usize, seed: u64) -> Self {
        let mut pool = vec![0u8; VALUE_POOL_BYTES.max(value_size_bytes * 2)];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut pool);
        Self {
            pool,
            value_size_bytes,
        }
    }

    /// The value size in bytes.
    pub fn value_size_bytes(&self) -> usize {
        self.value_size_bytes
    }

    /// The value for write number `index`.
    pub fn value(&self, index: u64) -> &[u8] {
        let span = (self.pool.len() - self.value_size_bytes) as u64;
        let start = (index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16) % span.max(1);
        let start = start as usize;
        &self.pool[start..start + self.value_size_bytes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_decimal_and_sort_like_their_indexes() {
        let format = KeyFormat::new(16, 1_000_000).unwrap();
        let mut a = format.buffer();
        let mut b = format.buffer();
        format.write_key(42, &mut a);
        assert_eq!(&a, b"0000000000000042");
        for (x, y) in [(0u64, 1u64), (9, 10), (99_999, 100_000), (123, 1_000_000)] {
            format.write_key(x, &mut a);
            format.write_key(y, &mut b);
            assert!(a < b, "{x} vs {y}");
        }
    }

    #[test]
    fn missing_keys_fall_between_present_keys_and_are_never_present() {
        let format = KeyFormat::new(16, 1000).unwrap();
        let mut missing = format.buffer();
        let mut low = format.buffer();
        let mut high = format.buffer();
        format.write_missing_key(125, &mut missing);
        format.write_key(129, &mut low);
        format.write_key(130, &mut high);
        assert_eq!(&missing, b"000000000000012x");
        assert!(low < missing && missing < high);
        for index in 0..2000 {
            format.write_key(index, &mut low);
            assert_ne!(low, missing);
        }
    }

    #[test]
    fn too_small_key_sizes_are_refused() {
        assert!(KeyFormat::new(4, 10).is_err());
        assert!(KeyFormat::new(8, 100_000_001).is_err());
        assert!(KeyFormat::new(8, 100_000_000).is_ok());
        assert!(KeyFormat::new(8, 1_000_000).is_ok());
    }

    #[test]
    fn values_are_deterministic_per_seed_and_sized() {
        let a = ValuePool::new(100, 7);
        let b = ValuePool::new(100, 7);
        let c = ValuePool::new(100, 8);
        assert_eq!(a.value(5), b.value(5));
        assert_ne!(a.value(5), c.value(5));
        assert_ne!(a.value(5), a.value(6));
        assert_eq!(a.value(u64::MAX).len(), 100);
    }
}
