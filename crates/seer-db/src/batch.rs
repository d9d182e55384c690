//! [`Batch`]: puts, deletes and merges applied atomically by `DB::write`.

use bytes::Bytes;
use seer_wal::{WriteOp, WriteRecord};

/// An atomic group of writes: all of them become visible together, with
/// consecutive sequence numbers, or none does. Later operations on the same
/// key win over earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<WriteOp>,
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
            payload_bytes: 0,
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = key_and_value(key.as_ref(), value.as_ref());
        self.push(WriteOp::Put { key, value })
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = Bytes::copy_from_slice(key.as_ref());
        self.push(WriteOp::Delete { key })
    }

    /// Adds a merge operand to `key`.
    pub fn merge(&mut self, key: impl AsRef<[u8]>, operand: impl AsRef<[u8]>) -> &mut Self {
        let (key, operand) = key_and_value(key.as_ref(), operand.as_ref());
        self.push(WriteOp::Merge { key, operand })
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
        self.payload_bytes = 0;
    }

    /// The operations, in order.
    pub(crate) fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    /// The WAL record of the batch (a single op travels as `Single`).
    pub(crate) fn into_record(mut self) -> WriteRecord {
        if self.ops.len() == 1 {
            if let Some(op) = self.ops.pop() {
                return WriteRecord::Single(op);
            }
        }
        WriteRecord::Batch(self.ops)
    }

    fn push(&mut self, op: WriteOp) -> &mut Self {
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
    }
}

/// Copies a key and a value into one allocation, sliced in two.
pub(crate) fn key_and_value(key: &[u8], value: &[u8]) -> (Bytes, Bytes) {
    let mut buffer = Vec::with_capacity(key.len() + value.len());
    buffer.extend_from_slice(key);
    buffer.extend_from_slice(value);
    let buffer = Bytes::from(buffer);
    (buffer.slice(..key.len()), buffer.slice(key.len()..))
}
