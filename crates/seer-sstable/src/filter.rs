//! The table's bloom filter over user keys, in one of two layouts chosen by
//! the table's format version ([`FilterLayout`]).
//!
//! Both take one xxh3 hash `h` per key and the probe count
//! `k = round(bits_per_key * ln 2)`, clamped to `1..=30` (the choice that
//! minimises the false-positive rate `(1 - e^(-k n / m))^k` for `m / n`
//! bits per key).
//!
//! - **Blocked** (format version 3, written today): the bit array is cut
//!   into 512-bit blocks (one 64-byte cache line each) and every probe of a
//!   key lands in one block, chosen by the high 32 bits of `h`
//!   (multiply-shift, no division), so a lookup touches one cache line per
//!   table instead of one per probe. Probe `i` tests the top 9 bits of
//!   `lo * G^i` (wrapping u32, `lo` the low 32 bits of `h`, `G` the 32-bit
//!   golden-ratio constant). The builder pads the block's start so the bit
//!   array begins at a file offset that is a multiple of 64: the tables are
//!   memory-mapped, so each block is one cache line in memory too. Block
//!   layout: `padding (p zero bytes, 0..=63) | bit array (64 * b bytes) |
//!   probe_count: u8 | p: u8`. Confining a key's probes to one block raises
//!   the false-positive rate a little at the same bits per key (blocks
//!   receive a Poisson number of keys): about 1.0% instead of 0.82% at 10
//!   bits per key (`blocked_false_positive_rate`).
//! - **Spread** (versions 1 and 2, still read): probe `i` tests bit
//!   `(h + i * delta) mod m` with `delta = rotate_left(h, 32) | 1`
//!   (Kirsch-Mitzenmacher double hashing) anywhere in the array. Block
//!   layout: `bit array (m / 8 bytes) | probe_count: u8`.
//!
//! A probe count of zero means "no filter" (bits per key 0 or no keys):
//! every key may be present.

use bytes::Bytes;
use seer_core::checksum;

use crate::error::CorruptionReason;

/// The largest probe count a filter may declare.
const MAX_PROBE_COUNT: u8 = 30;
/// Bytes of one block of a blocked filter: a cache line.
const FILTER_BLOCK_BYTES: usize = 64;
/// Bits of one block of a blocked filter.
const FILTER_BLOCK_BITS: u64 = FILTER_BLOCK_BYTES as u64 * 8;
/// The multiplier that derives each probe of a blocked filter from the
/// previous one: the 32-bit golden-ratio constant (odd, so every step is a
/// bijection of the 32-bit state).
const PROBE_MULTIPLIER: u32 = 0x9E37_79B9;

/// How a filter block lays out its bits; set by the table's format
/// version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterLayout {
    /// Versions 1 and 2: probes anywhere in one bit array.
    Spread,
    /// Version 3: every probe of a key inside one 512-bit block.
    Blocked,
}

impl FilterLayout {
    /// The layout of a table of format `version`.
    pub(crate) fn of_version(version: u32) -> Self {
        if version >= 3 {
            Self::Blocked
        } else {
            Self::Spread
        }
    }
}

/// The filter hash of a user key.
#[inline]
pub(crate) fn filter_hash(user_key: &[u8]) -> u64 {
    checksum(user_key)
}

/// A user key with its filter hash, computed once for a point lookup that
/// probes several tables ([`Table::get_hashed`](crate::Table::get_hashed)).
#[derive(Debug, Clone, Copy)]
pub struct HashedKey<'k> {
    user_key: &'k [u8],
    hash: u64,
}

impl<'k> HashedKey<'k> {
    /// `user_key` and its filter hash.
    #[inline]
    pub fn new(user_key: &'k [u8]) -> Self {
        Self {
            user_key,
            hash: filter_hash(user_key),
        }
    }

    /// The user key.
    #[inline]
    pub fn user_key(&self) -> &'k [u8] {
        self.user_key
    }
}

/// The probe count for `bits_per_key`.
pub(crate) fn probe_count(bits_per_key: u32) -> u8 {
    let probes = (f64::from(bits_per_key) * std::f64::consts::LN_2).round();
    probes.clamp(1.0, f64::from(MAX_PROBE_COUNT)) as u8
}

/// Builds a blocked filter block (the layout tables are written in) from
/// the hashes of a table's distinct user keys; `block_offset` is the file
/// offset the block will be written at, so that its bit array can start on
/// a multiple of 64.
pub(crate) fn build_filter(hashes: &[u64], bits_per_key: u32, block_offset: u64) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return vec![0, 0];
    }
    let bit_count = (hashes.len() as u64)
        .saturating_mul(u64::from(bits_per_key))
        .max(FILTER_BLOCK_BITS);
    let block_count = bit_count.div_ceil(FILTER_BLOCK_BITS);
    let array_bytes = block_count as usize * FILTER_BLOCK_BYTES;
    let misalignment = (block_offset % FILTER_BLOCK_BYTES as u64) as usize;
    let padding = (FILTER_BLOCK_BYTES - misalignment) % FILTER_BLOCK_BYTES;
    let probes = probe_count(bits_per_key);
    let mut block = vec![0u8; padding + array_bytes + 2];
    let bits = &mut block[padding..padding + array_bytes];
    for &hash in hashes {
        for bit in blocked_probe_bits(hash, probes, block_count) {
            bits[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    block[padding + array_bytes] = probes;
    block[padding + array_bytes + 1] = padding as u8;
    block
}

/// The bits a blocked filter of `block_count` blocks probes for `hash`.
#[inline]
fn blocked_probe_bits(hash: u64, probes: u8, block_count: u64) -> impl Iterator<Item = u64> {
    let block = ((u128::from(hash >> 32) * u128::from(block_count)) >> 32) as u64;
    let base = block * FILTER_BLOCK_BITS;
    let mut state = hash as u32;
    (0..probes).map(move |_| {
        let bit = base + u64::from(state >> 23);
        state = state.wrapping_mul(PROBE_MULTIPLIER);
        bit
    })
}

/// The bits a spread filter of `bit_count` bits probes for `hash`.
#[inline]
fn spread_probe_bits(hash: u64, probes: u8, bit_count: u64) -> impl Iterator<Item = u64> {
    let delta = hash.rotate_left(32) | 1;
    (0..u64::from(probes)).map(move |i| hash.wrapping_add(i.wrapping_mul(delta)) % bit_count)
}

/// A decoded filter block.
#[derive(Debug, Clone)]
pub(crate) struct BloomFilter {
    bits: Bytes,
    probes: u8,
    layout: FilterLayout,
}

impl BloomFilter {
    /// Parses a filter block of `layout` (zero-copy).
    pub(crate) fn parse(block: Bytes, layout: FilterLayout) -> Result<Self, CorruptionReason> {
        let truncated = || CorruptionReason::Truncated {
            what: "filter block",
        };
        let malformed = |detail: String| CorruptionReason::malformed("filter block", detail);
        let (probes, bits) = match layout {
            FilterLayout::Spread => {
                let (&probes, _) = block.split_last().ok_or_else(truncated)?;
                (probes, block.slice(..block.len() - 1))
            }
            FilterLayout::Blocked => {
                let [.., probes, padding] = block[..] else {
                    return Err(truncated());
                };
                let padding = usize::from(padding);
                if padding >= FILTER_BLOCK_BYTES || padding + 2 > block.len() {
                    return Err(malformed(format!(
                        "{padding} bytes of padding in {} bytes",
                        block.len()
                    )));
                }
                let bits = block.slice(padding..block.len() - 2);
                if !bits.len().is_multiple_of(FILTER_BLOCK_BYTES)
                    || (probes == 0 && !bits.is_empty())
                {
                    return Err(malformed(format!(
                        "a bit array of {} bytes with {probes} probes",
                        bits.len()
                    )));
                }
                (probes, bits)
            }
        };
        if probes > MAX_PROBE_COUNT || (probes > 0 && bits.is_empty()) {
            return Err(malformed(format!(
                "{probes} probes over {} bytes",
                bits.len()
            )));
        }
        Ok(Self {
            bits,
            probes,
            layout,
        })
    }

    /// Whether the filter is absent (every key may be present).
    pub(crate) fn is_absent(&self) -> bool {
        self.probes == 0
    }

    /// False when `user_key` is certainly absent.
    #[inline]
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_key(&HashedKey::new(user_key))
    }

    /// False when the key is certainly absent.
    #[inline]
    pub(crate) fn may_contain_key(&self, key: &HashedKey<'_>) -> bool {
        let hash = key.hash;
        if self.is_absent() {
            return true;
        }
        let is_set = |bit: u64| self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0;
        match self.layout {
            FilterLayout::Blocked => {
                let block_count = (self.bits.len() / FILTER_BLOCK_BYTES) as u64;
                blocked_probe_bits(hash, self.probes, block_count).all(is_set)
            }
            FilterLayout::Spread => {
                let bit_count = self.bits.len() as u64 * 8;
                spread_probe_bits(hash, self.probes, bit_count).all(is_set)
            }
        }
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

    /// The smallest bit array versions 1 and 2 wrote.
    const MIN_FILTER_BITS: usize = 64;

    /// A spread filter block as versions 1 and 2 wrote it.
    fn build_spread_filter(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
        let bit_count = (hashes.len() * bits_per_key as usize).max(MIN_FILTER_BITS);
        let byte_count = bit_count.div_ceil(8);
        let probes = probe_count(bits_per_key);
        let mut block = vec![0u8; byte_count + 1];
        for &hash in hashes {
            for bit in spread_probe_bits(hash, probes, (byte_count * 8) as u64) {
                block[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        block[byte_count] = probes;
        block
    }

    /// The false-positive rate of a spread filter: `(1 - e^(-k n / m))^k`.
    fn spread_false_positive_rate(bits_per_key: u32) -> f64 {
        let k = f64::from(probe_count(bits_per_key));
        (1.0 - (-k / f64::from(bits_per_key)).exp()).powf(k)
    }

    /// The false-positive rate of a blocked filter: a block receives a
    /// Poisson number `j` of keys (mean `512 / bits_per_key`), and a probe
    /// of an absent key then fails with the spread rate of one block of
    /// `j` keys.
    fn blocked_false_positive_rate(bits_per_key: u32) -> f64 {
        let k = f64::from(probe_count(bits_per_key));
        let mean = FILTER_BLOCK_BITS as f64 / f64::from(bits_per_key);
        let mut poisson = (-mean).exp();
        let mut rate = 0.0;
        for j in 0..2000 {
            if j > 0 {
                poisson *= mean / f64::from(j);
            }
            let unset = (1.0 - 1.0 / FILTER_BLOCK_BITS as f64).powf(k * f64::from(j));
            rate += poisson * (1.0 - unset).powf(k);
        }
        rate
    }

    /// The measured false-positive rate of `filter` over absent keys.
    fn measured_false_positive_rate(filter: &BloomFilter, present: u64) -> f64 {
        const ABSENT: u64 = 1_000_000;
        assert!(
            (0..present).all(|i| filter.may_contain(&key(i))),
            "false negative"
        );
        let false_positives = (present..present + ABSENT)
            .filter(|&i| filter.may_contain(&key(i)))
            .count();
        false_positives as f64 / ABSENT as f64
    }

    #[test]
    fn a_blocked_filter_has_no_false_negatives_and_the_blocked_false_positive_rate() {
        const PRESENT: u64 = 100_000;
        let hashes: Vec<u64> = (0..PRESENT).map(|i| filter_hash(&key(i))).collect();
        for bits_per_key in [4, 10, 16] {
            let block = build_filter(&hashes, bits_per_key, 0);
            let filter = BloomFilter::parse(Bytes::from(block), FilterLayout::Blocked).unwrap();
            let measured = measured_false_positive_rate(&filter, PRESENT);
            let theory = blocked_false_positive_rate(bits_per_key);
            assert!(
                (measured - theory).abs() <= 0.2 * theory,
                "{bits_per_key} bits per key: measured {measured}, theory {theory}"
            );
            assert!(theory >= spread_false_positive_rate(bits_per_key));
        }
        let ten = blocked_false_positive_rate(10);
        assert!((0.009..0.011).contains(&ten), "{ten}");
    }

    #[test]
    fn a_spread_filter_of_an_older_table_reads_with_the_spread_rate() {
        const PRESENT: u64 = 100_000;
        let hashes: Vec<u64> = (0..PRESENT).map(|i| filter_hash(&key(i))).collect();
        let block = Bytes::from(build_spread_filter(&hashes, 10));
        let filter = BloomFilter::parse(block, FilterLayout::Spread).unwrap();
        let measured = measured_false_positive_rate(&filter, PRESENT);
        let theory = spread_false_positive_rate(10);
        assert!(
            (measured - theory).abs() <= 0.2 * theory,
            "measured {measured}, theory {theory}"
        );
    }

    #[test]
    fn a_blocked_filter_starts_its_bit_array_on_a_multiple_of_64_from_any_offset() {
        let hashes: Vec<u64> = (0..1000u64).map(|i| filter_hash(&key(i))).collect();
        for offset in [0u64, 1, 63, 64, 65, 4097] {
            let block = build_filter(&hashes, 10, offset);
            let padding = usize::from(*block.last().unwrap());
            assert_eq!((offset + padding as u64) % 64, 0, "offset {offset}");
            assert!(block[..padding].iter().all(|&b| b == 0));
            let filter = BloomFilter::parse(Bytes::from(block), FilterLayout::Blocked).unwrap();
            assert_eq!(filter.bits_bytes() % 64, 0);
            assert!((0..1000u64).all(|i| filter.may_contain(&key(i))));
        }
    }

    #[test]
    fn absent_filter_admits_everything_and_bad_blocks_are_rejected() {
        let block = Bytes::from(build_filter(&[], 10, 0));
        let filter = BloomFilter::parse(block, FilterLayout::Blocked).unwrap();
        assert!(filter.is_absent() && filter.may_contain(b"anything"));
        let spread = |bytes: &'static [u8]| {
            BloomFilter::parse(Bytes::from_static(bytes), FilterLayout::Spread)
        };
        assert!(spread(&[0]).unwrap().is_absent());
        assert!(spread(&[]).is_err());
        assert!(spread(&[7]).is_err());
        assert!(spread(&[0, 31]).is_err());
        let blocked =
            |bytes: Vec<u8>| BloomFilter::parse(Bytes::from(bytes), FilterLayout::Blocked);
        assert!(blocked(vec![0]).is_err(), "too short");
        assert!(blocked(vec![7, 0]).is_err(), "probes without bits");
        assert!(
            blocked([vec![0; 64], vec![31, 0]].concat()).is_err(),
            "31 probes"
        );
        assert!(
            blocked([vec![0; 63], vec![6, 0]].concat()).is_err(),
            "not whole blocks"
        );
        assert!(
            blocked([vec![0; 64], vec![6, 64]].concat()).is_err(),
            "padding past a line"
        );
        assert!(
            blocked([vec![0; 64], vec![6, 70]].concat()).is_err(),
            "padding past the block"
        );
        assert!(
            blocked([vec![0; 64], vec![0, 0]].concat()).is_err(),
            "bits without probes"
        );
        assert!(blocked([vec![0; 64], vec![6, 0]].concat()).is_ok());
    }
}
