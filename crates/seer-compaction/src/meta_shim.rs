//! Stand-in for `seer_sstable::TableMeta` until seer-sstable lands; same
//! fields and encoding shape. Replaced by a re-export.

use bytes::Bytes;
use seer_core::varint::{get_varint64, put_varint64};
use seer_core::{DecodeError, InternalKey, SeqNo};

/// A table's file, key range, sequence range and entry counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// The table's file number.
    pub file_number: u64,
    /// The table file's length.
    pub file_size_bytes: u64,
    /// The first internal key.
    pub smallest: InternalKey,
    /// The last internal key.
    pub largest: InternalKey,
    /// The smallest sequence number of any entry.
    pub smallest_seq: SeqNo,
    /// The largest sequence number of any entry.
    pub largest_seq: SeqNo,
    /// Entries of every kind.
    pub entry_count: u64,
    /// Entries that are tombstones.
    pub tombstone_count: u64,
    /// Entries that are merge operands.
    pub merge_count: u64,
    /// Sum of the encoded internal key lengths.
    pub raw_key_bytes: u64,
    /// Sum of the value lengths.
    pub raw_value_bytes: u64,
}

impl TableMeta {
    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.file_number);
        put_varint64(out, self.file_size_bytes);
        for key in [&self.smallest, &self.largest] {
            put_varint64(out, key.encoded_len() as u64);
            key.encode_into(out);
        }
        for n in [
            self.smallest_seq,
            self.largest_seq,
            self.entry_count,
            self.tombstone_count,
            self.merge_count,
            self.raw_key_bytes,
            self.raw_value_bytes,
        ] {
            put_varint64(out, n);
        }
    }

    /// Decodes from the front of `input`.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        let mut pos = 0;
        let next = |pos: &mut usize| -> Result<u64, DecodeError> {
            let (v, used) = get_varint64(&input[*pos..])?;
            *pos += used;
            Ok(v)
        };
        let file_number = next(&mut pos)?;
        let file_size_bytes = next(&mut pos)?;
        let mut keys = Vec::new();
        for _ in 0..2 {
            let len = next(&mut pos)? as usize;
            let bytes = input
                .get(pos..pos + len)
                .ok_or(DecodeError::Truncated { what: "key" })?;
            pos += len;
            keys.push(InternalKey::decode(&Bytes::copy_from_slice(bytes))?);
        }
        let mut n = [0u64; 7];
        for slot in &mut n {
            *slot = next(&mut pos)?;
        }
        let largest = keys.pop().ok_or(DecodeError::Truncated { what: "key" })?;
        let smallest = keys.pop().ok_or(DecodeError::Truncated { what: "key" })?;
        Ok((
            Self {
                file_number,
                file_size_bytes,
                smallest,
                largest,
                smallest_seq: n[0],
                largest_seq: n[1],
                entry_count: n[2],
                tombstone_count: n[3],
                merge_count: n[4],
                raw_key_bytes: n[5],
                raw_value_bytes: n[6],
            },
            pos,
        ))
    }
}
