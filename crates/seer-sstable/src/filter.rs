//! The table's bloom filter over user keys.
//!
//! One xxh3 hash per key; probe `i` tests bit `(h + i * delta) mod m` with
//! `delta = rotate_left(h, 32) | 1` (Kirsch-Mitzenmacher double hashing).
//! The probe count is `round(bits_per_key * ln 2)`, clamped to `1..=30`, the
//! choice that minimises the false-positive rate
//! `(1 - e^(-k n / m))^k` for `m / n` bits per key.
//!
//! Block layout: `bit array (m / 8 bytes) | probe_count: u8`. A probe count
//! of zero means "no filter" (bits per key 0 or no keys): every key may be
//! present.

use bytes::Bytes;
use seer_core::checksum;

use crate::error::CorruptionReason;

/// The largest probe count a filter may declare.
const MAX_PROBE_COUNT: u8 = 30;
/// The smallest bit array, so tiny tables still filter well.
const MIN_FILTER_BITS: usize = 64;

/// The filter hash of a user key.
#[inline]
pub(crate) fn filter_hash(user_key: &[u8]) -> u64 {
    checksum(user_key)
}

/// The probe count for `bits_per_key`.
pub(crate) fn probe_count(bits_per_key: u32) -> u8 {
    let probes = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    probes.clamp(1.0, f64::from(MAX_PROBE_COUNT)) as u8
}

/// Builds a filter block from the hashes of a table's distinct user keys.
pub(crate) fn build_filter(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return vec![0];
    }
    let bit_count = (hashes.len() * bits_per_key as usize).max(MIN_FILTER_BITS);
    let byte_count = bit_count.div_ceil(8);
    let bit_count = (byte_count * 8) as u64;
    let probes = probe_count(bits_per_key);
    let mut block = vec![0u8; byte_count + 1];
    for &hash in hashes {
        for bit in probe_bits(hash, probes, bit_count) {
            block[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    block[byte_count] = probes;
    block
}

#[inline]
fn probe_bits(hash: u64, probes: u8, bit_count: u64) -> impl Iterator<Item = u64> {
    let delta = hash.rotate_left(32) | 1;
    (0..u64::from(probes)).map(move |i| hash.wrapping_add(i.wrapping_mul(delta)) % bit_count)
}

/// A decoded filter block.
#[derive(Debug, Clone)]
pub(crate) struct BloomFilter {
    bits: Bytes,
    probes: u8,
}

impl BloomFilter {
    /// Parses a filter block (zero-copy).
    pub(crate) fn parse(block: Bytes) -> Result<Self, CorruptionReason> {
        let Some((&probes, _)) = block.split_last() else {
            return Err(CorruptionReason::Truncated {
                what: "filter block",
            });
        };
        let bits = block.slice(..block.len() - 1);
        if probes > MAX_PROBE_COUNT || (probes > 0 && bits.is_empty()) {
            return Err(CorruptionReason::malformed(
                "filter block",
                format!("{probes} probes over {} bytes", bits.len()),
            ));
        }
        Ok(Self { bits, probes })
    }

    /// Whether the filter is absent (every key may be present).
    pub(crate) fn is_absent(&self) -> bool {
        self.probes == 0
    }

    /// False when `user_key` is certainly absent.
    #[inline]
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(filter_hash(user_key))
    }

    #[inline]
    fn may_contain_hash(&self, hash: u64) -> bool {
        if self.is_absent() {
            return true;
        }
        let bit_count = self.bits.len() as u64 * 8;
        probe_bits(hash, self.probes, bit_count)
            .all(|bit| self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }
}

/// The filter's size, for [`Table::filter_info`](crate::Table::filter_info).
impl BloomFilter {
    /// Bytes of the bit array.
    pub(crate) fn bits_bytes(&self) -> u64 {
        self.bits.len() as u64
    }

    /// Probes per key (0 for an absent filter).
    pub(crate) fn probes_count(&self) -> u8 {
        self.probes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 8] {
        i.to_be_bytes()
    }

    #[test]
    fn false_positive_rate_matches_theory_and_no_false_negatives() {
        const PRESENT: u64 = 100_000;
        const ABSENT: u64 = 1_000_000;
        let bits_per_key = 10;
        let hashes: Vec<u64> = (0..PRESENT).map(|i| filter_hash(&key(i))).collect();
        let filter = BloomFilter::parse(Bytes::from(build_filter(&hashes, bits_per_key))).unwrap();
        assert!((0..PRESENT).all(|i| filter.may_contain(&key(i))));
        let false_positives = (PRESENT..PRESENT + ABSENT)
            .filter(|&i| filter.may_contain(&key(i)))
            .count();
        let measured = false_positives as f64 / ABSENT as f64;
        let k = f64::from(probe_count(bits_per_key));
        let theory = (1.0 - (-k / f64::from(bits_per_key)).exp()).powf(k);
        assert!(
            (measured - theory).abs() <= 0.2 * theory,
            "measured {measured}, theory {theory}"
        );
    }

    #[test]
    fn absent_filter_admits_everything_and_bad_blocks_are_rejected() {
        let filter = BloomFilter::parse(Bytes::from(build_filter(&[], 10))).unwrap();
        assert!(filter.is_absent() && filter.may_contain(b"anything"));
        assert!(BloomFilter::parse(Bytes::new()).is_err());
        assert!(BloomFilter::parse(Bytes::from_static(&[7])).is_err());
        assert!(BloomFilter::parse(Bytes::from_static(&[0, 31])).is_err());
    }
}
