//! [`TableMeta`]: what the compaction layer keeps about a table in its
//! manifest, with a stable binary encoding.
//!
//! Encoding (all varints): `version (1), file_number, file_size_bytes,
//! smallest (len | encoded internal key), largest (same), smallest_seq,
//! largest_seq, entry_count, tombstone_count, merge_count, raw_key_bytes,
//! raw_value_bytes`; version 2, written only for a table holding expiring
//! puts, adds `earliest_expiry_unix_ms` after them (a version 1 record has
//! none). [`TableMeta::decode`] reports how many bytes it used, so a record
//! can be embedded in a larger one.

use seer_core::varint::put_varint64;
use seer_core::{DecodeError, InternalKey, SeqNo};

use crate::codec::{put_internal_key, FieldReader};
use crate::properties::TableProperties;

/// The encoding of a table without expiring puts.
const META_ENCODING_VERSION: u64 = 1;

/// The encoding of a table with expiring puts (its earliest expiry last).
const META_ENCODING_VERSION_EXPIRING: u64 = 2;

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
    /// The earliest expiry among the table's expiring puts, in
    /// milliseconds since the Unix epoch (`None`: it holds none); the
    /// compaction picker rewrites a table once it has passed.
    pub earliest_expiry_unix_ms: Option<u64>,
}

impl TableMeta {
    /// The meta of table `file_number` of `file_size_bytes` with `properties`.
    pub fn from_properties(
        file_number: u64,
        file_size_bytes: u64,
        properties: &TableProperties,
    ) -> Self {
        Self {
            file_number,
            file_size_bytes,
            smallest: properties.smallest.clone(),
            largest: properties.largest.clone(),
            smallest_seq: properties.smallest_seq,
            largest_seq: properties.largest_seq,
            entry_count: properties.entry_count,
            tombstone_count: properties.tombstone_count,
            merge_count: properties.merge_count,
            raw_key_bytes: properties.raw_key_bytes,
            raw_value_bytes: properties.raw_value_bytes,
            earliest_expiry_unix_ms: properties.earliest_expiry_unix_ms,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let version = match self.earliest_expiry_unix_ms {
            Some(_) => META_ENCODING_VERSION_EXPIRING,
            None => META_ENCODING_VERSION,
        };
        put_varint64(out, version);
        put_varint64(out, self.file_number);
        put_varint64(out, self.file_size_bytes);
        put_internal_key(out, &self.smallest);
        put_internal_key(out, &self.largest);
        for count in [
            self.smallest_seq,
            self.largest_seq,
            self.entry_count,
            self.tombstone_count,
            self.merge_count,
            self.raw_key_bytes,
            self.raw_value_bytes,
        ] {
            put_varint64(out, count);
        }
        if let Some(expiry) = self.earliest_expiry_unix_ms {
            put_varint64(out, expiry);
        }
    }

    /// The encoding as a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.smallest.encoded_len() * 2);
        self.encode_into(&mut out);
        out
    }

    /// Decodes a record from the front of `input`, returning it and the
    /// number of bytes it used.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        let mut reader = FieldReader::new(input);
        let version = reader.varint()?;
        if version != META_ENCODING_VERSION && version != META_ENCODING_VERSION_EXPIRING {
            return Err(DecodeError::Invalid {
                what: "table meta",
                detail: format!("unknown encoding version {version}"),
            });
        }
        let mut meta = Self {
            file_number: reader.varint()?,
            file_size_bytes: reader.varint()?,
            smallest: reader.internal_key("table meta smallest key")?,
            largest: reader.internal_key("table meta largest key")?,
            smallest_seq: reader.varint()?,
            largest_seq: reader.varint()?,
            entry_count: reader.varint()?,
            tombstone_count: reader.varint()?,
            merge_count: reader.varint()?,
            raw_key_bytes: reader.varint()?,
            raw_value_bytes: reader.varint()?,
            earliest_expiry_unix_ms: None,
        };
        if version == META_ENCODING_VERSION_EXPIRING {
            meta.earliest_expiry_unix_ms = Some(reader.varint()?);
        }
        Ok((meta, reader.position()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use seer_core::{ValueKind, MAX_SEQ};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn round_trip_with_trailing_bytes(
            numbers in proptest::array::uniform9(any::<u64>()),
            small in proptest::collection::vec(any::<u8>(), 0..20),
            large in proptest::collection::vec(any::<u8>(), 0..20),
            seqs in (0..=MAX_SEQ, 0..=MAX_SEQ),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
            expiry in proptest::option::of(any::<u64>()),
        ) {
            let meta = TableMeta {
                file_number: numbers[0],
                file_size_bytes: numbers[1],
                smallest: InternalKey::new(small, seqs.0, ValueKind::Merge),
                largest: InternalKey::new(large, seqs.1, ValueKind::Delete),
                smallest_seq: numbers[2],
                largest_seq: numbers[3],
                entry_count: numbers[4],
                tombstone_count: numbers[5],
                merge_count: numbers[6],
                raw_key_bytes: numbers[7],
                raw_value_bytes: numbers[8],
                earliest_expiry_unix_ms: expiry,
            };
            let mut encoded = meta.encode();
            let used = encoded.len();
            encoded.extend_from_slice(&tail);
            prop_assert_eq!(TableMeta::decode(&encoded), Ok((meta, used)));
            for cut in 0..used {
                prop_assert!(TableMeta::decode(&encoded[..cut]).is_err());
            }
        }
    }

    #[test]
    fn known_encoding_is_stable() {
        let meta = TableMeta {
            file_number: 7,
            file_size_bytes: 300,
            smallest: InternalKey::new(&b"a"[..], 1, ValueKind::Put),
            largest: InternalKey::new(&b"b"[..], 2, ValueKind::Delete),
            smallest_seq: 1,
            largest_seq: 2,
            entry_count: 2,
            tombstone_count: 1,
            merge_count: 0,
            raw_key_bytes: 18,
            raw_value_bytes: 5,
            earliest_expiry_unix_ms: None,
        };
        let expected: Vec<u8> = [
            &[1, 7, 0xac, 0x02, 9, b'a', 1, 1, 0, 0, 0, 0, 0, 0, 9, b'b'][..],
            &[0, 2, 0, 0, 0, 0, 0, 0, 1, 2, 2, 1, 0, 18, 5],
        ]
        .concat();
        assert_eq!(meta.encode(), expected);
    }
}
