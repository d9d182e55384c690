//! [`Batch`]: puts, deletes and merges applied atomically by `DB::write`
//! (in the default keyspace, or in named ones: `put_in` and the like), its
//! expiring puts stamped with their expiry when it is written
//! ([`Batch::into_record_at`]), and the copy of a write's key and value
//! into the writer thread's copy chunk ([`key_and_value`],
//! [`key_and_expiring_value`], [`copy_key`]), which every write goes
//! through.

use std::cell::RefCell;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use seer_core::expiry::{split_expiring, EXPIRY_BYTES};
use seer_wal::{KeyspaceId, WriteOp, WriteRecord, DEFAULT_KEYSPACE};

/// An atomic group of writes: all of them become visible together, with
/// consecutive sequence numbers, or none does. Later operations on the same
/// key win over earlier ones. A batch may span keyspaces
/// ([`Batch::put_in`] and the like, with keyspaces of the database it is
/// written to): it is still
/// one atomic write, all of it or none after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<WriteOp>,
    /// The keyspace of each op; empty while every op is in the default one.
    keyspaces: Vec<KeyspaceId>,
    payload_bytes: usize,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `capacity` operations.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ops: Vec::with_capacity(capacity),
            keyspaces: Vec::new(),
            payload_bytes: 0,
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = key_and_value(key.as_ref(), value.as_ref());
        self.push(WriteOp::Put { key, value })
    }

    /// Sets `key` to `value` for `ttl`: from `ttl` after the batch is
    /// written on (by the database's clock), readers find the key deleted,
    /// and compactions remove it.
    pub fn put_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> &mut Self {
        // The expiry is relative until `into_record_at` stamps it.
        let (key, stored) = key_and_expiring_value(key.as_ref(), ttl_ms(ttl), value.as_ref());
        self.push(WriteOp::ExpiringPut { key, stored })
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = copy_key(key.as_ref());
        self.push(WriteOp::Delete { key })
    }

    /// Adds a merge operand to `key`.
    pub fn merge(&mut self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> &mut Self {
        let (key, operand) = key_and_value(key.as_ref(), operand.as_ref());
        self.push(WriteOp::Merge { key, operand })
    }

    /// Deletes every key in `range` (`start..end`: `start` included, `end`
    /// excluded) with one range tombstone, whatever the range holds. An
    /// empty range (`start >= end`) deletes nothing.
    pub fn delete_range<K: AsRef<[u8]>>(&mut self, range: std::ops::Range<K>) -> &mut Self {
        let (start, end) = key_and_value(range.start.as_ref(), range.end.as_ref());
        self.push(WriteOp::DeleteRange { start, end })
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.keyspaces.clear();
        self.payload_bytes = 0;
    }

    /// The operations, in order.
    pub(crate) fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// The keyspace of op `index`.
    pub(crate) fn keyspace_of(&self, index: usize) -> KeyspaceId {
        self.keyspaces
            .get(index)
            .copied()
            .unwrap_or(DEFAULT_KEYSPACE)
    }

    /// The named keyspaces the batch writes to, each once, ascending.
    pub(crate) fn named_keyspaces(&self) -> Vec<KeyspaceId> {
        let mut ids: Vec<KeyspaceId> = self
            .keyspaces
            .iter()
            .copied()
            .filter(|&id| id != DEFAULT_KEYSPACE)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The WAL record of the batch (a single op of the default keyspace
    /// travels as `Single`, a batch with an op in a named keyspace as
    /// `Keyed`).
    pub(crate) fn into_record(mut self) -> WriteRecord {
        if !self.keyspaces.is_empty() {
            return WriteRecord::Keyed {
                ops: self.ops,
                keyspaces: self.keyspaces,
            };
        }
        if self.ops.len() == 1 {
            if let Some(op) = self.ops.pop() {
                return WriteRecord::Single(op);
            }
        }
        WriteRecord::Batch(self.ops)
    }

    /// The WAL record of the batch written at `now_unix_ms`: its expiring
    /// puts' times to live become absolute expiries, and the plain puts of
    /// a keyspace with a default time to live (`default_ttl` of its id)
    /// become expiring puts.
    pub(crate) fn into_record_at(
        mut self,
        now_unix_ms: u64,
        default_ttl: impl Fn(KeyspaceId) -> Option<Duration>,
    ) -> WriteRecord {
        for (index, op) in self.ops.iter_mut().enumerate() {
            let keyspace = self
                .keyspaces
                .get(index)
                .copied()
                .unwrap_or(DEFAULT_KEYSPACE);
            match op {
                WriteOp::ExpiringPut { stored, .. } => {
                    // Every expiring put of a batch comes from
                    // `put_with_ttl`, whose stored value is well formed.
                    if let Ok((ttl_ms, value)) = split_expiring(stored) {
                        let expiry_unix_ms = now_unix_ms.saturating_add(ttl_ms);
                        *stored = key_and_expiring_value(b"", expiry_unix_ms, &value).1;
                    }
                }
                WriteOp::Put { key, value } => {
                    if let Some(ttl) = default_ttl(keyspace) {
                        let expiry_unix_ms = now_unix_ms.saturating_add(ttl_ms(ttl));
                        let stored = key_and_expiring_value(b"", expiry_unix_ms, value).1;
                        *op = WriteOp::ExpiringPut {
                            key: key.clone(),
                            stored,
                        };
                    }
                }
                WriteOp::Delete { .. } | WriteOp::Merge { .. } | WriteOp::DeleteRange { .. } => {}
            }
        }
        self.into_record()
    }

    fn push(&mut self, op: WriteOp) -> &mut Self {
        self.push_in(DEFAULT_KEYSPACE, op)
    }

    /// Appends `op` in keyspace `id`.
    pub(crate) fn push_in(&mut self, id: KeyspaceId, op: WriteOp) -> &mut Self {
        let keyed = id != DEFAULT_KEYSPACE || !self.keyspaces.is_empty();
        if keyed {
            self.keyspaces.resize(self.ops.len(), DEFAULT_KEYSPACE);
            self.keyspaces.push(id);
        }
        self.payload_bytes += op_payload_bytes(&op);
        self.ops.push(op);
        self
    }
}

/// Bytes of a write operation's key and value.
pub(crate) fn op_payload_bytes(op: &WriteOp) -> usize {
    match op {
        WriteOp::Put { key, value } => key.len() + value.len(),
        WriteOp::Merge { key, operand } => key.len() + operand.len(),
        WriteOp::Delete { key } => key.len(),
        WriteOp::DeleteRange { start, end } => start.len() + end.len(),
        WriteOp::ExpiringPut { key, stored } => key.len() + stored.len(),
    }
}

/// A time to live in whole milliseconds (saturating).
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

/// Bytes of a writer thread's copy chunk once it writes steadily.
const COPY_CHUNK_BYTES: usize = 16 << 10;
/// Bytes of a thread's first copy chunk; each next one is twice as large,
/// up to [`COPY_CHUNK_BYTES`], so a thread that writes once wastes little.
const FIRST_COPY_CHUNK_BYTES: usize = 1 << 10;
/// A write whose key and value together are larger than this gets a buffer
/// of its own rather than a share of the copy chunk.
const MAX_CHUNKED_BYTES: usize = COPY_CHUNK_BYTES / 4;

/// A thread's copy chunk: the unused rest of its buffer, and the size of
/// the next one.
#[derive(Default)]
struct CopyChunk {
    rest: BytesMut,
    next_bytes: usize,
}

thread_local! {
    static COPY_CHUNK: RefCell<CopyChunk> = RefCell::new(CopyChunk::default());
}

/// Copies a key and a value into the writer thread's copy chunk, each as a
/// `Bytes` of its own.
///
/// The keys and values of a thread's consecutive writes share one 16 KiB
/// buffer (a thread's first chunks are smaller: 1 KiB, doubling), so a
/// write allocates nothing (two allocations per chunk: the buffer and its
/// reference count). The memtable keeps the value handle
/// (its key is copied into the memtable's arena), and a handle keeps its
/// whole chunk alive: a chunk is freed once the memtables holding its
/// values are flushed and the values read from them are dropped. A write
/// larger than a quarter chunk gets a buffer of its own.
pub(crate) fn key_and_value(key: &[u8], value: &[u8]) -> (Bytes, Bytes) {
    with_room(key.len() + value.len(), |buffer| {
        buffer.extend_from_slice(key);
        let key = buffer.split().freeze();
        buffer.extend_from_slice(value);
        (key, buffer.split().freeze())
    })
}

/// Copies a key and an expiring put's stored value (`expiry_unix_ms`, then
/// `value`) into the writer thread's copy chunk, as [`key_and_value`] does.
pub(crate) fn key_and_expiring_value(
    key: &[u8],
    expiry_unix_ms: u64,
    value: &[u8],
) -> (Bytes, Bytes) {
    with_room(key.len() + EXPIRY_BYTES + value.len(), |buffer| {
        buffer.extend_from_slice(key);
        let key = buffer.split().freeze();
        buffer.put_u64_le(expiry_unix_ms);
        buffer.extend_from_slice(value);
        (key, buffer.split().freeze())
    })
}

/// Copies a key (of a delete) into the writer thread's copy chunk, as
/// [`key_and_value`] does.
pub(crate) fn copy_key(key: &[u8]) -> Bytes {
    with_room(key.len(), |buffer| {
        buffer.extend_from_slice(key);
        buffer.split().freeze()
    })
}

/// Runs `copy` on an empty buffer with room for `bytes` more bytes: the
/// thread's copy chunk (replaced by a fresh one when its rest is too
/// small), or a buffer of its own for a large write (and during thread
/// exit, when the chunk is gone).
fn with_room<R>(bytes: usize, copy: impl FnOnce(&mut BytesMut) -> R) -> R {
    if bytes > MAX_CHUNKED_BYTES {
        return copy(&mut BytesMut::with_capacity(bytes));
    }
    let mut chunk = COPY_CHUNK
        .try_with(|chunk| std::mem::take(&mut *chunk.borrow_mut()))
        .unwrap_or_default();
    if chunk.rest.capacity() < bytes {
        let chunk_bytes = chunk
            .next_bytes
            .clamp(FIRST_COPY_CHUNK_BYTES, COPY_CHUNK_BYTES);
        chunk.rest = BytesMut::with_capacity(chunk_bytes.max(bytes));
        chunk.next_bytes = 2 * chunk_bytes;
    }
    let copied = copy(&mut chunk.rest);
    // Fails only during thread exit; the rest of the chunk is dropped then.
    let _ = COPY_CHUNK.try_with(|slot| *slot.borrow_mut() = chunk);
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies are exact and independent of each other, across chunk
    /// replacements and for writes too large to share a chunk.
    #[test]
    fn copied_keys_and_values_stay_intact_across_chunks() {
        let mut copies = Vec::new();
        for i in 0..3 * COPY_CHUNK_BYTES / 100 {
            let key = format!("key{i}");
            let value = vec![(i % 251) as u8; i % 180];
            copies.push((
                key.clone(),
                value.clone(),
                key_and_value(key.as_bytes(), &value),
            ));
        }
        let large = vec![9u8; MAX_CHUNKED_BYTES + 1];
        let (large_key, large_value) = key_and_value(b"large", &large);
        let deleted = copy_key(b"deleted");
        for (key, value, (key_copy, value_copy)) in &copies {
            assert_eq!(key_copy.as_ref(), key.as_bytes());
            assert_eq!(value_copy.as_ref(), value.as_slice());
        }
        assert_eq!(
            (large_key.as_ref(), large_value.as_ref()),
            (&b"large"[..], &large[..])
        );
        assert_eq!(deleted.as_ref(), b"deleted");
    }
}
