//! The block cache: decompressed blocks shared by every table, keyed by
//! `(table id, block offset)`, bounded in bytes.
//!
//! The cache is split into shards by key hash, each behind its own mutex, and
//! each shard evicts by CLOCK: a hit sets the entry's reference bit; the
//! eviction hand clears set bits and evicts the first entry whose bit is
//! already clear. Uncompressed blocks never enter the cache: they are read
//! straight from the mapped file. Table ids are never reused, so the blocks
//! of a closed table are simply never hit again and age out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Bookkeeping bytes charged per cached block on top of its length.
const ENTRY_OVERHEAD_BYTES: usize = 64;
/// Default shard count.
const DEFAULT_SHARD_COUNT: usize = 16;

/// Identifies a cached block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) table_id: u64,
    pub(crate) block_offset: u64,
}

impl CacheKey {
    fn shard_hash(&self) -> u64 {
        (self.table_id ^ self.block_offset.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Hit, miss and size counters of a [`BlockCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found their block.
    pub hit_count: u64,
    /// Lookups that did not.
    pub miss_count: u64,
    /// Blocks inserted.
    pub insert_count: u64,
    /// Blocks evicted to make room.
    pub eviction_count: u64,
    /// Bytes charged now (block lengths plus per-entry overhead).
    pub used_bytes: u64,
}

/// A sharded, byte-bounded CLOCK cache of decompressed blocks.
#[derive(Debug)]
pub struct BlockCache {
    shards: Box<[Mutex<Shard>]>,
    capacity_bytes: usize,
    next_table_id: AtomicU64,
}

impl BlockCache {
    /// A cache holding at most about `capacity_bytes`, in 16 shards.
    pub fn new(capacity_bytes: usize) -> Self {
        Self::with_shards(capacity_bytes, DEFAULT_SHARD_COUNT)
    }

    /// A cache holding at most about `capacity_bytes` in `shard_count` shards
    /// (at least one). A block larger than one shard's share is not cached.
    pub fn with_shards(capacity_bytes: usize, shard_count: usize) -> Self {
        let shard_count = shard_count.max(1);
        let shard_capacity = capacity_bytes / shard_count;
        Self {
            shards: (0..shard_count)
                .map(|_| Mutex::new(Shard::new(shard_capacity)))
                .collect(),
            capacity_bytes,
            next_table_id: AtomicU64::new(1),
        }
    }

    /// The configured capacity.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Counters summed over the shards.
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            total.hit_count += shard.stats.hit_count;
            total.miss_count += shard.stats.miss_count;
            total.insert_count += shard.stats.insert_count;
            total.eviction_count += shard.stats.eviction_count;
            total.used_bytes += shard.used_bytes as u64;
        }
        total
    }

    /// A fresh id for a table using this cache.
    pub(crate) fn new_table_id(&self) -> u64 {
        self.next_table_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The cached block for `key`, counting a hit or a miss.
    pub(crate) fn get(&self, key: CacheKey) -> Option<Bytes> {
        self.shard(key).lock().get(key)
    }

    /// Caches `block` under `key`, evicting as needed.
    pub(crate) fn insert(&self, key: CacheKey, block: Bytes) {
        self.shard(key).lock().insert(key, block);
    }

    fn shard(&self, key: CacheKey) -> &Mutex<Shard> {
        let index = (key.shard_hash() >> 32) as usize % self.shards.len();
        &self.shards[index]
    }
}

#[derive(Debug)]
struct Slot {
    key: CacheKey,
    block: Bytes,
    referenced: bool,
}

#[derive(Debug)]
struct Shard {
    capacity_bytes: usize,
    used_bytes: usize,
    slot_of: HashMap<CacheKey, usize>,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<usize>,
    hand: usize,
    stats: CacheStats,
}

impl Shard {
    fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            used_bytes: 0,
            slot_of: HashMap::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            hand: 0,
            stats: CacheStats::default(),
        }
    }

    fn get(&mut self, key: CacheKey) -> Option<Bytes> {
        let found = self
            .slot_of
            .get(&key)
            .and_then(|&index| self.slots[index].as_mut());
        match found {
            Some(slot) => {
                slot.referenced = true;
                self.stats.hit_count += 1;
                Some(slot.block.clone())
            }
            None => {
                self.stats.miss_count += 1;
                None
            }
        }
    }

    fn insert(&mut self, key: CacheKey, block: Bytes) {
        let charge = block.len() + ENTRY_OVERHEAD_BYTES;
        if charge > self.capacity_bytes {
            return;
        }
        if let Some(&index) = self.slot_of.get(&key) {
            self.evict_slot(index);
        }
        while self.used_bytes + charge > self.capacity_bytes {
            if !self.evict_one() {
                return;
            }
        }
        let slot = Slot {
            key,
            block,
            referenced: false,
        };
        let index = match self.free_slots.pop() {
            Some(index) => {
                self.slots[index] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.slot_of.insert(key, index);
        self.used_bytes += charge;
        self.stats.insert_count += 1;
    }

    /// Advances the CLOCK hand to a victim and evicts it; at most two sweeps.
    fn evict_one(&mut self) -> bool {
        let slot_count = self.slots.len();
        for _ in 0..2 * slot_count {
            let index = self.hand;
            self.hand = (self.hand + 1) % slot_count;
            match &mut self.slots[index] {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => {
                    self.evict_slot(index);
                    self.stats.eviction_count += 1;
                    return true;
                }
                None => {}
            }
        }
        false
    }

    fn evict_slot(&mut self, index: usize) {
        if let Some(slot) = self.slots[index].take() {
            self.slot_of.remove(&slot.key);
            self.used_bytes -= slot.block.len() + ENTRY_OVERHEAD_BYTES;
            self.free_slots.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(offset: u64) -> CacheKey {
        CacheKey {
            table_id: 1,
            block_offset: offset,
        }
    }

    #[test]
    fn hits_misses_and_byte_bound() {
        let cache = BlockCache::with_shards(10 * (100 + ENTRY_OVERHEAD_BYTES), 1);
        for offset in 0..30 {
            cache.insert(key(offset), Bytes::from(vec![offset as u8; 100]));
            assert!(cache.stats().used_bytes <= cache.capacity_bytes() as u64);
        }
        assert_eq!(cache.get(key(29)).unwrap()[0], 29);
        assert!(cache.get(key(0)).is_none());
        let stats = cache.stats();
        assert_eq!((stats.hit_count, stats.miss_count), (1, 1));
        assert_eq!(stats.insert_count, 30);
        assert_eq!(stats.eviction_count, 20);
        cache.insert(key(99), Bytes::from(vec![0; 10_000]));
        assert!(cache.get(key(99)).is_none());
    }

    #[test]
    fn referenced_blocks_survive_a_sweep() {
        let cache = BlockCache::with_shards(4 * (10 + ENTRY_OVERHEAD_BYTES), 1);
        for offset in 0..4 {
            cache.insert(key(offset), Bytes::from(vec![0; 10]));
        }
        assert!(cache.get(key(0)).is_some());
        cache.insert(key(4), Bytes::from(vec![0; 10]));
        assert!(cache.get(key(0)).is_some());
        assert!(cache.get(key(1)).is_none());
    }
}
