//! The WAL record codec: what one frame's payload holds.
//!
//! A writer submits a [`WriteRecord`] (one operation or an atomic batch,
//! without sequence numbers); the commit pipeline assigns sequence numbers
//! and encodes it. Recovery decodes payloads into [`Record`]s whose keys and
//! values are zero-copy slices of the log's buffer.
//!
//! Payload layout (all integers little-endian, lengths LEB128 varints):
//!
//! ```text
//! tag: u8 (1 Put, 2 Delete, 3 Merge, 4 Batch, 5 DeleteRange, 6 ExpiringPut, 7 KeyedBatch) | seq: u64
//! Put:    key_len | key | value_len | value
//! Delete: key_len | key
//! Merge:  key_len | key | operand_len | operand
//! DeleteRange: start_len | start | end_len | end
//! ExpiringPut: key_len | key | value_len | expiry_unix_ms: u64 | value
//! Batch:  op_count | op_count x (op_tag: u8 (1,2,3,5,6) | key_len | key | [value_len | value])
//! KeyedBatch: op_count | op_count x (keyspace_id | op_tag | key_len | key | [value_len | value])
//! ```
//!
//! An expiring put's value field is its stored value, the 8-byte absolute
//! expiry first (`seer_core::expiry`).
//!
//! A batch's `seq` is its base: op `i` has sequence number `seq + i`. Every
//! op of the first six tags is in the default keyspace (id 0), the only
//! one a log written before keyspaces holds; a record with an op in another
//! keyspace is a `KeyedBatch` (one op or many), each op naming its keyspace.
//!
//! Tag 8 is not a write: a [`PredecessorRecord`], the first frame of a
//! segment a roll switched to, says where the segment before it ended
//! (fixed width, no sequence number of its own):
//!
//! ```text
//! 8 | segment: u64 | length_bytes: u64 | last_seq: u64 | checksum: u64 (xxh3 of the 24 bytes before it)
//! ```

use bytes::Bytes;
use seer_core::expiry::EXPIRY_BYTES;
use seer_core::varint::{get_varint32, put_varint64, varint_len};
use seer_core::{DecodeError, SeqNo, MAX_SEQ};

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_MERGE: u8 = 3;
const TAG_BATCH: u8 = 4;
const TAG_DELETE_RANGE: u8 = 5;
const TAG_EXPIRING_PUT: u8 = 6;
const TAG_KEYED_BATCH: u8 = 7;
const TAG_PREDECESSOR: u8 = 8;
const SEQ_BYTES: usize = 8;

/// The id of a keyspace (seer-db's named key spaces, each with its own
/// memtables and tree, sharing one WAL); [`DEFAULT_KEYSPACE`] is the
/// database's original one.
pub type KeyspaceId = u32;

/// The default keyspace's id: ops of records without keyspace ids are in it.
pub const DEFAULT_KEYSPACE: KeyspaceId = 0;

/// One operation of a write, without a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Sets `key` to `value`.
    Put {
        /// The user key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Deletes `key`.
    Delete {
        /// The user key.
        key: Bytes,
    },
    /// Adds a merge operand to `key`.
    Merge {
        /// The user key.
        key: Bytes,
        /// The operand.
        operand: Bytes,
    },
    /// Deletes every key in `start..end` (one range tombstone).
    DeleteRange {
        /// The first deleted key.
        start: Bytes,
        /// The first key past the range.
        end: Bytes,
    },
    /// Sets `key` to a value that expires: `stored` is
    /// `expiry_unix_ms: u64 LE | value` (`seer_core::expiry`).
    ExpiringPut {
        /// The user key.
        key: Bytes,
        /// The expiry and the value.
        stored: Bytes,
    },
}

impl WriteOp {
    /// The operation's user key (a range delete's start).
    pub fn key(&self) -> &Bytes {
        match self {
            Self::Put { key, .. }
            | Self::Delete { key }
            | Self::Merge { key, .. }
            | Self::ExpiringPut { key, .. } => key,
            Self::DeleteRange { start, .. } => start,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Self::Put { .. } => TAG_PUT,
            Self::Delete { .. } => TAG_DELETE,
            Self::Merge { .. } => TAG_MERGE,
            Self::DeleteRange { .. } => TAG_DELETE_RANGE,
            Self::ExpiringPut { .. } => TAG_EXPIRING_PUT,
        }
    }

    /// The second field: a value, an operand or a range delete's end.
    fn value(&self) -> Option<&Bytes> {
        match self {
            Self::Put { value, .. } | Self::ExpiringPut { stored: value, .. } => Some(value),
            Self::Merge { operand, .. } => Some(operand),
            Self::DeleteRange { end, .. } => Some(end),
            Self::Delete { .. } => None,
        }
    }

    /// Bytes of the key and value fields (with their length prefixes).
    fn body_len(&self) -> usize {
        let key = self.key().len();
        let value = self
            .value()
            .map_or(0, |v| varint_len(v.len() as u64) + v.len());
        varint_len(key as u64) + key + value
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        put_slice(out, self.key());
        if let Some(value) = self.value() {
            put_slice(out, value);
        }
    }
}

/// What a writer submits to the commit pipeline: one operation or an atomic
/// batch. The pipeline gives it `seq_count()` consecutive sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRecord {
    /// A single put, delete or merge.
    Single(WriteOp),
    /// Operations applied atomically, op `i` at `first_seq + i`.
    Batch(Vec<WriteOp>),
    /// Operations applied atomically across keyspaces: op `i` at
    /// `first_seq + i` in keyspace `keyspaces[i]` (the two are as long).
    Keyed {
        /// The operations.
        ops: Vec<WriteOp>,
        /// The keyspace of each operation.
        keyspaces: Vec<KeyspaceId>,
    },
}

impl WriteRecord {
    /// How many sequence numbers the record takes.
    pub fn seq_count(&self) -> u64 {
        match self {
            Self::Single(_) => 1,
            Self::Batch(ops) | Self::Keyed { ops, .. } => ops.len() as u64,
        }
    }

    /// Bytes [`Self::encode`] appends, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Single(op) => 1 + SEQ_BYTES + op.body_len(),
            Self::Batch(ops) => batch_encoded_len(ops, None),
            Self::Keyed { ops, keyspaces } => batch_encoded_len(ops, Some(keyspaces)),
        }
    }

    /// Appends the payload of this record at sequence number `seq` to `out`.
    pub fn encode(&self, seq: SeqNo, out: &mut Vec<u8>) {
        match self {
            Self::Single(op) => encode_single(op, seq, out),
            Self::Batch(ops) => encode_batch(ops, None, seq, out),
            Self::Keyed { ops, keyspaces } => encode_batch(ops, Some(keyspaces), seq, out),
        }
    }

    /// The operations, in sequence order.
    pub fn ops(&self) -> &[WriteOp] {
        match self {
            Self::Single(op) => std::slice::from_ref(op),
            Self::Batch(ops) | Self::Keyed { ops, .. } => ops,
        }
    }

    /// The keyspace of op `index` ([`DEFAULT_KEYSPACE`] for a record
    /// without keyspace ids, or past the end).
    pub fn keyspace_of(&self, index: usize) -> KeyspaceId {
        match self {
            Self::Keyed { keyspaces, .. } => {
                keyspaces.get(index).copied().unwrap_or(DEFAULT_KEYSPACE)
            }
            Self::Single(_) | Self::Batch(_) => DEFAULT_KEYSPACE,
        }
    }
}

/// A decoded WAL record with its sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `key` set to `value` at `seq`.
    Put {
        /// The user key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// Its sequence number.
        seq: SeqNo,
    },
    /// `key` deleted at `seq`.
    Delete {
        /// The user key.
        key: Bytes,
        /// Its sequence number.
        seq: SeqNo,
    },
    /// A merge operand for `key` at `seq`.
    Merge {
        /// The user key.
        key: Bytes,
        /// The operand.
        operand: Bytes,
        /// Its sequence number.
        seq: SeqNo,
    },
    /// Every key in `start..end` deleted at `seq`.
    DeleteRange {
        /// The first deleted key.
        start: Bytes,
        /// The first key past the range.
        end: Bytes,
        /// Its sequence number.
        seq: SeqNo,
    },
    /// `key` set at `seq` to a value that expires (`stored`: expiry and
    /// value).
    ExpiringPut {
        /// The user key.
        key: Bytes,
        /// The expiry and the value.
        stored: Bytes,
        /// Its sequence number.
        seq: SeqNo,
    },
    /// An atomic batch; op `i` has sequence number `base_seq + i`.
    Batch {
        /// Sequence number of the first op.
        base_seq: SeqNo,
        /// The operations (never empty).
        ops: Vec<WriteOp>,
    },
    /// An atomic batch across keyspaces; op `i` has sequence number
    /// `base_seq + i` and is in keyspace `keyspaces[i]`.
    KeyedBatch {
        /// Sequence number of the first op.
        base_seq: SeqNo,
        /// The operations (never empty).
        ops: Vec<WriteOp>,
        /// The keyspace of each operation (as long as `ops`).
        keyspaces: Vec<KeyspaceId>,
    },
}

impl Record {
    /// The record a pipeline logs for `write` at `seq`.
    pub fn from_write(write: WriteRecord, seq: SeqNo) -> Self {
        match write {
            WriteRecord::Single(WriteOp::Put { key, value }) => Self::Put { key, value, seq },
            WriteRecord::Single(WriteOp::Delete { key }) => Self::Delete { key, seq },
            WriteRecord::Single(WriteOp::Merge { key, operand }) => {
                Self::Merge { key, operand, seq }
            }
            WriteRecord::Single(WriteOp::DeleteRange { start, end }) => {
                Self::DeleteRange { start, end, seq }
            }
            WriteRecord::Single(WriteOp::ExpiringPut { key, stored }) => {
                Self::ExpiringPut { key, stored, seq }
            }
            WriteRecord::Batch(ops) => Self::Batch { base_seq: seq, ops },
            WriteRecord::Keyed { ops, keyspaces } => Self::KeyedBatch {
                base_seq: seq,
                ops,
                keyspaces,
            },
        }
    }

    /// The first sequence number and the write, as the pipeline saw it.
    pub fn into_write(self) -> (SeqNo, WriteRecord) {
        match self {
            Self::Put { key, value, seq } => {
                (seq, WriteRecord::Single(WriteOp::Put { key, value }))
            }
            Self::Delete { key, seq } => (seq, WriteRecord::Single(WriteOp::Delete { key })),
            Self::Merge { key, operand, seq } => {
                (seq, WriteRecord::Single(WriteOp::Merge { key, operand }))
            }
            Self::DeleteRange { start, end, seq } => (
                seq,
                WriteRecord::Single(WriteOp::DeleteRange { start, end }),
            ),
            Self::ExpiringPut { key, stored, seq } => (
                seq,
                WriteRecord::Single(WriteOp::ExpiringPut { key, stored }),
            ),
            Self::Batch { base_seq, ops } => (base_seq, WriteRecord::Batch(ops)),
            Self::KeyedBatch {
                base_seq,
                ops,
                keyspaces,
            } => (base_seq, WriteRecord::Keyed { ops, keyspaces }),
        }
    }

    /// The record's first sequence number.
    pub fn first_seq(&self) -> SeqNo {
        match self {
            Self::Put { seq, .. }
            | Self::Delete { seq, .. }
            | Self::Merge { seq, .. }
            | Self::DeleteRange { seq, .. }
            | Self::ExpiringPut { seq, .. } => *seq,
            Self::Batch { base_seq, .. } | Self::KeyedBatch { base_seq, .. } => *base_seq,
        }
    }

    /// The record's last sequence number.
    pub fn last_seq(&self) -> SeqNo {
        match self {
            Self::Batch { base_seq, ops } | Self::KeyedBatch { base_seq, ops, .. } => {
                base_seq + ops.len() as u64 - 1
            }
            _ => self.first_seq(),
        }
    }

    /// Bytes [`Self::encode`] appends, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Put { key, value, .. }
            | Self::ExpiringPut {
                key, stored: value, ..
            }
            | Self::Merge {
                key,
                operand: value,
                ..
            }
            | Self::DeleteRange {
                start: key,
                end: value,
                ..
            } => 1 + SEQ_BYTES + slice_len(key) + slice_len(value),
            Self::Delete { key, .. } => 1 + SEQ_BYTES + slice_len(key),
            Self::Batch { ops, .. } => batch_encoded_len(ops, None),
            Self::KeyedBatch { ops, keyspaces, .. } => batch_encoded_len(ops, Some(keyspaces)),
        }
    }

    /// Appends this record's payload to `out`, allocating only if `out`
    /// must grow.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Put { key, value, seq } => encode_fields(out, TAG_PUT, *seq, key, Some(value)),
            Self::Delete { key, seq } => encode_fields(out, TAG_DELETE, *seq, key, None),
            Self::ExpiringPut { key, stored, seq } => {
                encode_fields(out, TAG_EXPIRING_PUT, *seq, key, Some(stored))
            }
            Self::Merge { key, operand, seq } => {
                encode_fields(out, TAG_MERGE, *seq, key, Some(operand))
            }
            Self::DeleteRange { start, end, seq } => {
                encode_fields(out, TAG_DELETE_RANGE, *seq, start, Some(end))
            }
            Self::Batch { base_seq, ops } => encode_batch(ops, None, *base_seq, out),
            Self::KeyedBatch {
                base_seq,
                ops,
                keyspaces,
            } => encode_batch(ops, Some(keyspaces), *base_seq, out),
        }
    }

    /// Decodes one payload; keys and values are slices of `payload`.
    pub fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
        let mut cursor = Cursor {
            bytes: payload,
            pos: 0,
        };
        let tag = cursor.byte("record tag")?;
        let seq = cursor.seq()?;
        let record = match tag {
            TAG_BATCH => decode_batch(&mut cursor, seq, false)?,
            TAG_KEYED_BATCH => decode_batch(&mut cursor, seq, true)?,
            _ => Self::from_write(WriteRecord::Single(cursor.op(tag)?), seq),
        };
        if cursor.pos != payload.len() {
            return Err(invalid(
                "record",
                format!("{} trailing bytes", payload.len() - cursor.pos),
            ));
        }
        Ok(record)
    }
}

/// The first frame of a segment a roll switched to: where the segment
/// before it ended, so recovery can tell a lost tail of that segment (a
/// power loss before the roll's background sync of it) from its clean end
/// (`docs/FORMATS.md`, "WAL"; `docs/DURABILITY.md`, "The WAL segment
/// lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredecessorRecord {
    /// The previous segment's number.
    pub segment: u64,
    /// The previous segment's length at the roll (header and frames): the
    /// offset where its last frame ends.
    pub length_bytes: u64,
    /// The last sequence number given out before the roll; every record
    /// of the previous segment is at or below it (records not logged may
    /// make it larger than the last one logged).
    pub last_seq: SeqNo,
}

impl PredecessorRecord {
    /// Bytes of an encoded predecessor record: the tag, three fields and
    /// the checksum.
    pub const ENCODED_BYTES: usize = 1 + 4 * 8;

    /// Whether `payload` is a predecessor record (by its tag; it may still
    /// not decode).
    pub fn is_predecessor(payload: &[u8]) -> bool {
        payload.first() == Some(&TAG_PREDECESSOR)
    }

    /// Appends the record's payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(TAG_PREDECESSOR);
        let fields = self.fields();
        out.extend_from_slice(&fields);
        out.extend_from_slice(&seer_core::checksum(&fields).to_le_bytes());
    }

    /// Decodes a predecessor record's payload: a wrong tag or length, a
    /// checksum that does not match its fields, or a sequence number past
    /// 56 bits is an error.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if !Self::is_predecessor(payload) {
            return Err(invalid("predecessor record", "not tag 8".to_owned()));
        }
        if payload.len() != Self::ENCODED_BYTES {
            return Err(invalid(
                "predecessor record",
                format!("{} bytes, expected {}", payload.len(), Self::ENCODED_BYTES),
            ));
        }
        let word = |index: usize| {
            let mut le = [0u8; 8];
            le.copy_from_slice(&payload[1 + 8 * index..9 + 8 * index]);
            u64::from_le_bytes(le)
        };
        let record = Self {
            segment: word(0),
            length_bytes: word(1),
            last_seq: word(2),
        };
        if seer_core::checksum(&record.fields()) != word(3) {
            return Err(invalid(
                "predecessor record",
                "checksum does not match its fields".to_owned(),
            ));
        }
        if record.last_seq > MAX_SEQ {
            return Err(invalid(
                "predecessor sequence",
                format!("{} exceeds 56 bits", record.last_seq),
            ));
        }
        Ok(record)
    }

    /// The checksummed fields, as encoded.
    fn fields(&self) -> [u8; 24] {
        let mut fields = [0u8; 24];
        fields[..8].copy_from_slice(&self.segment.to_le_bytes());
        fields[8..16].copy_from_slice(&self.length_bytes.to_le_bytes());
        fields[16..].copy_from_slice(&self.last_seq.to_le_bytes());
        fields
    }
}

/// Decodes a batch's ops (`keyed`: each after its keyspace id).
fn decode_batch(
    cursor: &mut Cursor<'_>,
    base_seq: SeqNo,
    keyed: bool,
) -> Result<Record, DecodeError> {
    let count = cursor.varint32("batch op count")? as usize;
    // Every op takes at least two bytes, which bounds the allocation.
    if count == 0 || count > cursor.remaining() / 2 {
        return Err(invalid("batch op count", format!("{count} ops do not fit")));
    }
    if base_seq + (count as u64 - 1) > MAX_SEQ {
        return Err(invalid(
            "batch sequence",
            format!("{base_seq} + {count} exceeds 56 bits"),
        ));
    }
    let mut ops = Vec::with_capacity(count);
    let mut keyspaces = Vec::with_capacity(if keyed { count } else { 0 });
    for _ in 0..count {
        if keyed {
            keyspaces.push(cursor.varint32("keyspace id")?);
        }
        let tag = cursor.byte("batch op tag")?;
        ops.push(cursor.op(tag)?);
    }
    if keyed {
        return Ok(Record::KeyedBatch {
            base_seq,
            ops,
            keyspaces,
        });
    }
    Ok(Record::Batch { base_seq, ops })
}

struct Cursor<'a> {
    bytes: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(DecodeError::Truncated { what })?;
        self.pos += 1;
        Ok(byte)
    }

    fn seq(&mut self) -> Result<SeqNo, DecodeError> {
        let end = self.pos + SEQ_BYTES;
        let field = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated {
                what: "sequence number",
            })?;
        let mut le = [0u8; SEQ_BYTES];
        le.copy_from_slice(field);
        let seq = u64::from_le_bytes(le);
        if seq > MAX_SEQ {
            return Err(invalid("sequence number", format!("{seq} exceeds 56 bits")));
        }
        self.pos = end;
        Ok(seq)
    }

    fn varint32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let (value, used) = get_varint32(&self.bytes[self.pos..]).map_err(|error| match error {
            DecodeError::Truncated { .. } => DecodeError::Truncated { what },
            other => other,
        })?;
        self.pos += used;
        Ok(value)
    }

    fn slice(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.varint32(what)? as usize;
        if len > self.remaining() {
            return Err(DecodeError::Truncated { what });
        }
        let slice = self.bytes.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(slice)
    }

    fn op(&mut self, tag: u8) -> Result<WriteOp, DecodeError> {
        let key = self.slice("key")?;
        match tag {
            TAG_PUT => Ok(WriteOp::Put {
                key,
                value: self.slice("value")?,
            }),
            TAG_DELETE => Ok(WriteOp::Delete { key }),
            TAG_EXPIRING_PUT => {
                let stored = self.slice("expiring value")?;
                if stored.len() < EXPIRY_BYTES {
                    return Err(invalid(
                        "expiring value",
                        format!("{} bytes, shorter than its expiry", stored.len()),
                    ));
                }
                Ok(WriteOp::ExpiringPut { key, stored })
            }
            TAG_MERGE => Ok(WriteOp::Merge {
                key,
                operand: self.slice("merge operand")?,
            }),
            TAG_DELETE_RANGE => Ok(WriteOp::DeleteRange {
                start: key,
                end: self.slice("range delete end")?,
            }),
            other => Err(invalid("record tag", format!("unknown tag {other}"))),
        }
    }
}

fn invalid(what: &'static str, detail: String) -> DecodeError {
    DecodeError::Invalid { what, detail }
}

fn slice_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64) + bytes.len()
}

fn put_slice(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn encode_fields(out: &mut Vec<u8>, tag: u8, seq: SeqNo, key: &[u8], value: Option<&Bytes>) {
    debug_assert!(seq <= MAX_SEQ);
    out.push(tag);
    out.extend_from_slice(&seq.to_le_bytes());
    put_slice(out, key);
    if let Some(value) = value {
        put_slice(out, value);
    }
}

fn encode_single(op: &WriteOp, seq: SeqNo, out: &mut Vec<u8>) {
    encode_fields(out, op.tag(), seq, op.key(), op.value());
}

/// A batch's encoded length; with `keyspaces`, a keyed batch's.
fn batch_encoded_len(ops: &[WriteOp], keyspaces: Option<&[KeyspaceId]>) -> usize {
    let ops_len: usize = ops.iter().map(|op| 1 + op.body_len()).sum();
    let ids_len: usize = keyspaces.map_or(0, |ids| {
        ids.iter().map(|&id| varint_len(u64::from(id))).sum()
    });
    1 + SEQ_BYTES + varint_len(ops.len() as u64) + ops_len + ids_len
}

/// Encodes a batch; with `keyspaces`, a keyed batch (op `i` after
/// `keyspaces[i]`).
fn encode_batch(
    ops: &[WriteOp],
    keyspaces: Option<&[KeyspaceId]>,
    base_seq: SeqNo,
    out: &mut Vec<u8>,
) {
    debug_assert!(!ops.is_empty(), "an empty batch has no sequence number");
    debug_assert!(keyspaces.is_none_or(|ids| ids.len() == ops.len()));
    out.push(if keyspaces.is_some() {
        TAG_KEYED_BATCH
    } else {
        TAG_BATCH
    });
    out.extend_from_slice(&base_seq.to_le_bytes());
    put_varint64(out, ops.len() as u64);
    for (index, op) in ops.iter().enumerate() {
        if let Some(ids) = keyspaces {
            put_varint64(
                out,
                u64::from(ids.get(index).copied().unwrap_or(DEFAULT_KEYSPACE)),
            );
        }
        out.push(op.tag());
        op.encode_body(out);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_op() -> impl Strategy<Value = WriteOp> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
        prop_oneof![
            (bytes(), bytes()).prop_map(|(key, value)| WriteOp::Put { key, value }),
            bytes().prop_map(|key| WriteOp::Delete { key }),
            (bytes(), bytes()).prop_map(|(key, operand)| WriteOp::Merge { key, operand }),
            (bytes(), bytes()).prop_map(|(start, end)| WriteOp::DeleteRange { start, end }),
            (bytes(), any::<u64>(), bytes()).prop_map(|(key, expiry, value)| {
                let stored = seer_core::expiry::encode_expiring(expiry, &value);
                WriteOp::ExpiringPut { key, stored }
            }),
        ]
    }

    #[test]
    fn known_delete_range_layout() {
        let record = Record::DeleteRange {
            start: Bytes::from_static(b"a"),
            end: Bytes::from_static(b"cd"),
            seq: 7,
        };
        let mut out = Vec::new();
        record.encode(&mut out);
        assert_eq!(
            out,
            [&[5, 7, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 2][..], b"cd"].concat()
        );
        assert_eq!(out.len(), record.encoded_len());
        assert_eq!(Record::decode(&Bytes::from(out)), Ok(record));
    }

    pub(crate) fn arb_write() -> impl Strategy<Value = WriteRecord> {
        prop_oneof![
            arb_op().prop_map(WriteRecord::Single),
            proptest::collection::vec(arb_op(), 1..6).prop_map(WriteRecord::Batch),
            proptest::collection::vec((arb_op(), any::<u32>()), 1..6).prop_map(|keyed| {
                let (ops, keyspaces) = keyed.into_iter().unzip();
                WriteRecord::Keyed { ops, keyspaces }
            }),
        ]
    }

    /// A keyed batch names each op's keyspace before its tag (a varint:
    /// one byte for id 3, two for 300), and reports it back per op.
    #[test]
    fn known_keyed_batch_layout_names_each_ops_keyspace() {
        let write = WriteRecord::Keyed {
            ops: vec![
                WriteOp::Delete {
                    key: Bytes::from_static(b"a"),
                },
                WriteOp::Put {
                    key: Bytes::from_static(b"b"),
                    value: Bytes::from_static(b"v"),
                },
            ],
            keyspaces: vec![3, 300],
        };
        let mut out = Vec::new();
        write.encode(9, &mut out);
        let expected = [
            &[7, 9, 0, 0, 0, 0, 0, 0, 0, 2][..],
            &[3, 2, 1, b'a'],
            &[0xac, 0x02, 1, 1, b'b', 1, b'v'],
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(write.encoded_len(), out.len());
        assert_eq!((write.keyspace_of(0), write.keyspace_of(1)), (3, 300));
        let decoded = Record::decode(&Bytes::from(out)).unwrap();
        assert_eq!(decoded.into_write(), (9, write));
        assert_eq!(put("k", "v").keyspace_of(0), DEFAULT_KEYSPACE);
    }

    pub(crate) fn put(key: &str, value: &str) -> WriteRecord {
        WriteRecord::Single(WriteOp::Put {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
        })
    }

    #[test]
    fn known_put_layout() {
        let record = Record::from_write(put("k", "vv"), 7);
        let mut out = Vec::new();
        record.encode(&mut out);
        assert_eq!(out, [1, 7, 0, 0, 0, 0, 0, 0, 0, 1, b'k', 2, b'v', b'v']);
        assert_eq!(record.encoded_len(), out.len());
    }

    #[test]
    fn batch_seqs_and_bad_inputs() {
        let batch = WriteRecord::Batch(vec![
            WriteOp::Delete {
                key: Bytes::from_static(b"a"),
            },
            WriteOp::Merge {
                key: Bytes::from_static(b"b"),
                operand: Bytes::from_static(b"1"),
            },
        ]);
        let record = Record::from_write(batch, 10);
        assert_eq!((record.first_seq(), record.last_seq()), (10, 11));
        let mut out = Vec::new();
        record.encode(&mut out);
        let payload = Bytes::from(out.clone());
        assert_eq!(Record::decode(&payload).unwrap(), record);
        for cut in 0..out.len() {
            assert!(
                Record::decode(&payload.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        out.push(0);
        assert!(Record::decode(&Bytes::from(out)).is_err(), "trailing byte");
        let mut bad_tag = vec![9u8];
        bad_tag.extend_from_slice(&[0; 8]);
        bad_tag.extend_from_slice(&[0]);
        assert!(Record::decode(&Bytes::from(bad_tag)).is_err());
        let mut big_seq = vec![TAG_DELETE];
        big_seq.extend_from_slice(&(MAX_SEQ + 1).to_le_bytes());
        big_seq.push(0);
        assert!(Record::decode(&Bytes::from(big_seq)).is_err());
    }

    #[test]
    fn an_expiring_put_shorter_than_its_expiry_is_refused() {
        let mut out = Vec::new();
        let record = Record::ExpiringPut {
            key: Bytes::from_static(b"k"),
            stored: Bytes::from_static(b"1234567"),
            seq: 3,
        };
        record.encode(&mut out);
        assert_eq!(out[0], TAG_EXPIRING_PUT);
        assert!(Record::decode(&Bytes::from(out)).is_err());
    }

    #[test]
    fn a_predecessor_record_round_trips_and_damage_is_an_error() {
        let record = PredecessorRecord {
            segment: 12,
            length_bytes: 4096,
            last_seq: 99,
        };
        let mut out = Vec::new();
        record.encode(&mut out);
        assert_eq!(out.len(), PredecessorRecord::ENCODED_BYTES);
        assert_eq!(out[0], TAG_PREDECESSOR);
        assert_eq!(&out[1..9], &12u64.to_le_bytes());
        assert_eq!(PredecessorRecord::decode(&out), Ok(record));
        assert!(PredecessorRecord::is_predecessor(&out));
        assert!(
            Record::decode(&Bytes::from(out.clone())).is_err(),
            "not a write"
        );
        for cut in 0..out.len() {
            assert!(
                PredecessorRecord::decode(&out[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for index in 1..out.len() {
            let mut damaged = out.clone();
            damaged[index] ^= 0x10;
            assert!(PredecessorRecord::decode(&damaged).is_err(), "byte {index}");
        }
        let mut longer = out;
        longer.push(0);
        assert!(PredecessorRecord::decode(&longer).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trip_is_zero_copy(write in arb_write(), seq in 0..MAX_SEQ - 8) {
            let mut out = vec![0xaa];
            write.encode(seq, &mut out);
            prop_assert_eq!(out.len() - 1, write.encoded_len());
            let record = Record::from_write(write.clone(), seq);
            prop_assert_eq!(record.encoded_len(), write.encoded_len());
            let mut again = vec![0xaa];
            record.encode(&mut again);
            prop_assert_eq!(&again, &out);
            let buffer = Bytes::from(out);
            let payload = buffer.slice(1..);
            let decoded = Record::decode(&payload).unwrap();
            prop_assert_eq!(&decoded, &record);
            let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
            for op in decoded.clone().into_write().1.ops() {
                if !op.key().is_empty() {
                    prop_assert!(range.contains(&(op.key().as_ptr() as usize)));
                }
            }
            prop_assert_eq!(decoded.into_write(), (seq, write));
        }
    }
}
