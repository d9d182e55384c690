//! The properties block: what a table holds and how it was built.
//!
//! Layout (all varints unless stated), in this order:
//! `entry_count, tombstone_count, merge_count, raw_key_bytes,
//! raw_value_bytes, smallest (len | encoded internal key), largest (same),
//! smallest_seq, largest_seq, data_block_count, data_bytes (stored, with
//! trailers), filter_key_count, bloom_bits_per_key, compression (0 none,
//! 1 zstd followed by the zigzag-encoded level), creation_level (0 unknown,
//! else level + 1), creation_policy (len | UTF-8)`, then, only in a table
//! holding expiring puts, `earliest_expiry_unix_ms` (the earliest expiry
//! among them). The block must end after the last field.

use seer_core::varint::put_varint64;
use seer_core::{DecodeError, InternalKey, SeqNo};

use crate::codec::{put_internal_key, put_length_prefixed, FieldReader};
use crate::options::Compression;

const COMPRESSION_CODE_NONE: u64 = 0;
const COMPRESSION_CODE_ZSTD: u64 = 1;

/// What a table holds and how it was built, stored in its properties block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProperties {
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
    /// The first internal key.
    pub smallest: InternalKey,
    /// The last internal key.
    pub largest: InternalKey,
    /// The smallest sequence number of any entry.
    pub smallest_seq: SeqNo,
    /// The largest sequence number of any entry.
    pub largest_seq: SeqNo,
    /// Number of data blocks.
    pub data_block_count: u64,
    /// Bytes of the data blocks as stored, trailers included.
    pub data_bytes: u64,
    /// Distinct user keys in the filter.
    pub filter_key_count: u64,
    /// Bloom bits per key the filter was built with (0: no filter).
    pub bloom_bits_per_key: u32,
    /// Compression the builder was asked for.
    pub compression: Compression,
    /// The LSM level the table was written for.
    pub creation_level: Option<u32>,
    /// The policy that wrote the table; empty when unknown.
    pub creation_policy: String,
    /// The earliest expiry among the table's expiring puts, in
    /// milliseconds since the Unix epoch (`None`: it holds none).
    pub earliest_expiry_unix_ms: Option<u64>,
}

impl TableProperties {
    /// The properties block's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.smallest.encoded_len() * 2);
        for count in [
            self.entry_count,
            self.tombstone_count,
            self.merge_count,
            self.raw_key_bytes,
            self.raw_value_bytes,
        ] {
            put_varint64(&mut out, count);
        }
        put_internal_key(&mut out, &self.smallest);
        put_internal_key(&mut out, &self.largest);
        for count in [
            self.smallest_seq,
            self.largest_seq,
            self.data_block_count,
            self.data_bytes,
            self.filter_key_count,
            u64::from(self.bloom_bits_per_key),
        ] {
            put_varint64(&mut out, count);
        }
        encode_compression(&mut out, self.compression);
        put_varint64(
            &mut out,
            self.creation_level.map_or(0, |l| u64::from(l) + 1),
        );
        put_length_prefixed(&mut out, self.creation_policy.as_bytes());
        if let Some(expiry) = self.earliest_expiry_unix_ms {
            put_varint64(&mut out, expiry);
        }
        out
    }

    /// Decodes and checks a properties block.
    pub(crate) fn decode(block: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = FieldReader::new(block);
        let mut properties = Self {
            entry_count: reader.varint()?,
            tombstone_count: reader.varint()?,
            merge_count: reader.varint()?,
            raw_key_bytes: reader.varint()?,
            raw_value_bytes: reader.varint()?,
            smallest: reader.internal_key("smallest key")?,
            largest: reader.internal_key("largest key")?,
            smallest_seq: reader.varint()?,
            largest_seq: reader.varint()?,
            data_block_count: reader.varint()?,
            data_bytes: reader.varint()?,
            filter_key_count: reader.varint()?,
            bloom_bits_per_key: reader.varint_u32("bloom bits per key")?,
            compression: decode_compression(&mut reader)?,
            creation_level: decode_level(&mut reader)?,
            creation_policy: decode_policy(&mut reader)?,
            earliest_expiry_unix_ms: None,
        };
        if !reader.is_at_end() {
            properties.earliest_expiry_unix_ms = Some(reader.varint()?);
        }
        if !reader.is_at_end() {
            return Err(invalid("trailing bytes".to_owned()));
        }
        properties.check()?;
        Ok(properties)
    }

    fn check(&self) -> Result<(), DecodeError> {
        // A table of only range tombstones has no entry and no data block;
        // the table checks that it has tombstones then.
        if (self.entry_count == 0) != (self.data_block_count == 0) {
            return Err(invalid(format!(
                "{} entries in {} data blocks",
                self.entry_count, self.data_block_count
            )));
        }
        if self.tombstone_count.saturating_add(self.merge_count) > self.entry_count {
            return Err(invalid(
                "more tombstones and merges than entries".to_owned(),
            ));
        }
        if self.smallest > self.largest || self.smallest_seq > self.largest_seq {
            return Err(invalid("key or sequence range reversed".to_owned()));
        }
        Ok(())
    }
}

fn invalid(detail: String) -> DecodeError {
    DecodeError::Invalid {
        what: "properties block",
        detail,
    }
}

fn encode_compression(out: &mut Vec<u8>, compression: Compression) {
    match compression {
        Compression::None => put_varint64(out, COMPRESSION_CODE_NONE),
        Compression::Zstd { level } => {
            put_varint64(out, COMPRESSION_CODE_ZSTD);
            put_varint64(out, zigzag(level));
        }
    }
}

fn decode_compression(reader: &mut FieldReader<'_>) -> Result<Compression, DecodeError> {
    match reader.varint()? {
        COMPRESSION_CODE_NONE => Ok(Compression::None),
        COMPRESSION_CODE_ZSTD => {
            let level = unzigzag(reader.varint_u32("zstd level")?);
            Ok(Compression::Zstd { level })
        }
        other => Err(invalid(format!("unknown compression code {other}"))),
    }
}

fn decode_level(reader: &mut FieldReader<'_>) -> Result<Option<u32>, DecodeError> {
    let stored = reader.varint_u32("creation level")?;
    Ok(stored.checked_sub(1))
}

fn decode_policy(reader: &mut FieldReader<'_>) -> Result<String, DecodeError> {
    let bytes = reader.length_prefixed("creation policy")?;
    String::from_utf8(bytes.to_vec()).map_err(|_| invalid("policy is not UTF-8".to_owned()))
}

fn zigzag(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_core::ValueKind;

    fn sample() -> TableProperties {
        TableProperties {
            entry_count: 10,
            tombstone_count: 2,
            merge_count: 3,
            raw_key_bytes: 100,
            raw_value_bytes: 1000,
            smallest: InternalKey::new(&b"a"[..], 9, ValueKind::Put),
            largest: InternalKey::new(&b"z"[..], 1, ValueKind::Delete),
            smallest_seq: 1,
            largest_seq: 9,
            data_block_count: 2,
            data_bytes: 1200,
            filter_key_count: 8,
            bloom_bits_per_key: 10,
            compression: Compression::Zstd { level: -3 },
            creation_level: Some(0),
            creation_policy: "flush".to_owned(),
            earliest_expiry_unix_ms: None,
        }
    }

    #[test]
    fn round_trip_and_rejects_trailing_or_inconsistent_bytes() {
        let properties = sample();
        let mut encoded = properties.encode();
        assert_eq!(TableProperties::decode(&encoded), Ok(properties.clone()));
        let expiring = TableProperties {
            earliest_expiry_unix_ms: Some(1_764_608_400_000),
            ..properties.clone()
        };
        let mut expiring_encoded = expiring.encode();
        assert_eq!(expiring_encoded.len(), encoded.len() + 6);
        assert_eq!(TableProperties::decode(&expiring_encoded), Ok(expiring));
        expiring_encoded.push(0);
        assert!(TableProperties::decode(&expiring_encoded).is_err());
        encoded.extend([0, 0]);
        assert!(TableProperties::decode(&encoded).is_err());
        let reversed = TableProperties {
            smallest_seq: 10,
            ..properties
        };
        assert!(TableProperties::decode(&reversed.encode()).is_err());
        for level in [i32::MIN, -1, 0, 1, 22, i32::MAX] {
            assert_eq!(unzigzag(zigzag(level) as u32), level);
        }
    }
}
