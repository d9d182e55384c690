//! The memtable's key filter: a register-blocked Bloom filter over the user keys
//! inserted, so that [`Memtable::get`](crate::Memtable::get) of a key the
//! memtable does not hold (the usual case for a read served by the tree)
//! answers without a skip-list search. RocksDB's
//! `memtable_whole_key_filtering` is the same idea (off by default there).
//!
//! It reuses the xxh3 hash the memtable already computes to pick a key's
//! partition, so a probe costs no extra hashing. All of a key's
//! [`PROBES`] bits lie in one 64-bit word (a register-blocked filter: one
//! atomic `fetch_or` per insert and one load per probe, at a false
//! positive rate a few times a classic filter's of the same size, which at
//! the default sizing is still well under 1%), picked by the hash's low
//! half scaled to the word count; the bits within the word come from the
//! whole hash mixed.
//!
//! Concurrency: bits are only ever set (`fetch_or`), before the entry's
//! skip-list node is published. A reader looks only for entries visible
//! at its sequence number, which the commit pipeline published (release)
//! after inserting them and the reader loaded (acquire) before probing,
//! so the bits of every entry it may see are set by then: the filter has
//! no false negatives for them. Relaxed ordering suffices on the bits.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits set per key.
const PROBES: u32 = 4;

/// Filter bytes per byte of memtable capacity: 1/64 (1 MiB for a
/// 64 MiB memtable, about 20 bits per key for entries of 170 bytes).
const CAPACITY_BYTES_PER_FILTER_BYTE: usize = 64;

/// The largest filter: 16 MiB (a 1 GiB memtable's; larger ones, and
/// unbounded ones sized `usize::MAX`, get this one).
const MAX_FILTER_BYTES: usize = 16 << 20;

/// A register-blocked Bloom filter of user-key hashes (see the module
/// docs).
#[derive(Debug)]
pub(crate) struct KeyFilter {
    words: Box<[AtomicU64]>,
}

impl KeyFilter {
    /// An empty filter sized for a memtable of `capacity_bytes`.
    pub(crate) fn for_capacity(capacity_bytes: usize) -> Self {
        let filter_bytes = (capacity_bytes / CAPACITY_BYTES_PER_FILTER_BYTE).min(MAX_FILTER_BYTES);
        let word_count = (filter_bytes / 8).max(1);
        Self {
            words: (0..word_count).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Bytes the filter takes.
    #[cfg(test)]
    fn memory_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Records the key whose xxh3 hash is `hash`.
    #[inline]
    pub(crate) fn insert(&self, hash: u64) {
        let (word, mask) = self.word_and_mask(hash);
        // Relaxed: see the module docs. Most inserts into a filling filter
        // set a new bit, so the load-before-or would rarely save the write.
        word.fetch_or(mask, Ordering::Relaxed);
    }

    /// False when no key with hash `hash` was inserted.
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (word, mask) = self.word_and_mask(hash);
        word.load(Ordering::Relaxed) & mask == mask
    }

    /// The word of `hash` (its low half scaled to the word count by a
    /// multiply and a shift) and its [`PROBES`] bits in that word: 6-bit
    /// positions from the top of the hash times an odd constant (a
    /// bijection whose high bits depend on every bit of the hash, so they
    /// are independent of the low half that picked the word).
    #[inline]
    fn word_and_mask(&self, hash: u64) -> (&AtomicU64, u64) {
        let low = hash & u64::from(u32::MAX);
        let index = ((low * self.words.len() as u64) >> 32) as usize;
        let mixed = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mask = (1..=PROBES).fold(0u64, |mask, probe| {
            mask | 1u64 << ((mixed >> (64 - 6 * probe)) & 63)
        });
        (&self.words[index], mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&i.to_be_bytes())
    }

    #[test]
    fn every_inserted_key_may_be_contained() {
        let filter = KeyFilter::for_capacity(1 << 20);
        for i in 0..20_000 {
            filter.insert(hash(i));
        }
        assert!((0..20_000).all(|i| filter.may_contain(hash(i))));
    }

    #[test]
    fn a_filter_sized_for_its_load_rejects_most_absent_keys() {
        // 1 MiB of capacity: 16 KiB of filter; 6,000 keys (about the
        // memtable's 170-byte entries) are 22 bits per key.
        let filter = KeyFilter::for_capacity(1 << 20);
        assert_eq!(filter.memory_bytes(), 16 << 10);
        for i in 0..6_000 {
            filter.insert(hash(i));
        }
        let passed = (1_000_000..1_100_000)
            .filter(|&i| filter.may_contain(hash(i)))
            .count();
        assert!(passed < 1_000, "{passed} of 100,000 absent keys passed");
    }

    #[test]
    fn an_unbounded_memtable_gets_the_largest_filter() {
        let filter = KeyFilter::for_capacity(usize::MAX);
        assert_eq!(filter.memory_bytes(), MAX_FILTER_BYTES);
    }

    #[test]
    fn an_empty_filter_contains_nothing_and_a_tiny_one_still_works() {
        let filter = KeyFilter::for_capacity(0);
        assert!(!filter.may_contain(hash(7)));
        filter.insert(hash(7));
        assert!(filter.may_contain(hash(7)));
    }
}
