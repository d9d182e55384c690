//! The benchmark workload shared by `benches/memtable.rs` and
//! `examples/throughput.rs`: 16-byte keys in random order and 100-byte
//! values sliced from one shared buffer (as the DB slices a WAL batch).

use std::sync::Arc;

use bytes::Bytes;
use seer_core::{SeqNo, ValueKind};
use seer_memtable::Memtable;

/// User key length of the workload.
pub const KEY_BYTES: usize = 16;
/// Value length of the workload.
pub const VALUE_BYTES: usize = 100;

/// Pre-built keys and values: write `i` puts `keys[i]` at seq `i + 1`.
pub struct Workload {
    /// Distinct keys in pseudo-random order.
    pub keys: Vec<[u8; KEY_BYTES]>,
    /// One value per key, each a slice of one shared buffer.
    pub values: Vec<Bytes>,
}

impl Workload {
    /// `entry_count` distinct keys, hashed so that they arrive unsorted.
    pub fn new(entry_count: usize) -> Self {
        let keys = (0..entry_count as u64)
            .map(|index| {
                let mut key = [0u8; KEY_BYTES];
                key[..8].copy_from_slice(
                    &xxhash_rust::xxh3::xxh3_64(&index.to_le_bytes()).to_be_bytes(),
                );
                key[8..].copy_from_slice(&index.to_be_bytes());
                key
            })
            .collect();
        let buffer = Bytes::from(vec![b'v'; entry_count * VALUE_BYTES]);
        let values = (0..entry_count)
            .map(|index| buffer.slice(index * VALUE_BYTES..(index + 1) * VALUE_BYTES))
            .collect();
        Self { keys, values }
    }

    /// Inserts writes `range` into `memtable`.
    pub fn insert_range(&self, memtable: &Memtable, range: std::ops::Range<usize>) {
        for index in range {
            let seq = index as SeqNo + 1;
            memtable
                .insert(
                    &self.keys[index],
                    seq,
                    ValueKind::Put,
                    self.values[index].clone(),
                )
                .unwrap();
        }
    }

    /// Inserts every write, split into contiguous shares over `thread_count`
    /// threads.
    pub fn insert_all(&self, memtable: &Arc<Memtable>, thread_count: usize) {
        let share = self.keys.len().div_ceil(thread_count);
        std::thread::scope(|scope| {
            for start in (0..self.keys.len()).step_by(share.max(1)) {
                let end = (start + share).min(self.keys.len());
                scope.spawn(move || self.insert_range(memtable, start..end));
            }
        });
    }
}
