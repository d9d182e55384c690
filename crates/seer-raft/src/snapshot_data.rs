//! The byte format of a state machine snapshot's data: the state machine's
//! `(key, value)` pairs in key order, each as a record
//!
//! | field     | width          | meaning                  |
//! |-----------|----------------|--------------------------|
//! | key_len   | 4, big-endian  | bytes of the key         |
//! | key       | key_len        | the user key             |
//! | value_len | 4, big-endian  | bytes of the value       |
//! | value     | value_len      | the value                |
//!
//! and nothing else (the snapshot's metadata, last applied log id and
//! membership, travels beside it in openraft's `SnapshotMeta`). Empty data
//! is the empty state machine.

use crate::error::Error;

/// A `(key, value)` pair borrowed from snapshot data.
pub(crate) type Pair<'a> = (&'a [u8], &'a [u8]);

/// Appends the record of `key` and `value` to `data`.
pub(crate) fn push_pair(data: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    push_field(data, key);
    push_field(data, value);
}

fn push_field(data: &mut Vec<u8>, field: &[u8]) {
    // A seerdb key or value is far below 4 GiB.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(field);
}

/// The `(key, value)` pairs of `data`, in order; fails with
/// [`Error::SnapshotTruncated`] naming the offset of a record that runs
/// past the end.
pub(crate) fn pairs(data: &[u8]) -> Result<Vec<Pair<'_>>, Error> {
    let mut pairs = Vec::new();
    let mut offset_bytes = 0;
    while offset_bytes < data.len() {
        let record_offset = offset_bytes;
        let truncated = Error::SnapshotTruncated {
            offset_bytes: record_offset,
        };
        let Some((key, after_key)) = field(data, offset_bytes) else {
            return Err(truncated);
        };
        let Some((value, after_value)) = field(data, after_key) else {
            return Err(truncated);
        };
        pairs.push((key, value));
        offset_bytes = after_value;
    }
    Ok(pairs)
}

/// The field at `offset` of `data` and the offset after it, or `None` when
/// it runs past the end.
fn field(data: &[u8], offset: usize) -> Option<(&[u8], usize)> {
    let len_end = offset.checked_add(4)?;
    let len_bytes: [u8; 4] = data.get(offset..len_end)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    let end = len_end.checked_add(len)?;
    Some((data.get(len_end..end)?, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_pairs_round_trip_and_a_cut_record_is_refused_at_its_offset() {
        let mut data = Vec::new();
        push_pair(&mut data, b"a", b"1");
        push_pair(&mut data, b"", b"");
        push_pair(&mut data, b"key", &[7u8; 300]);
        let decoded = pairs(&data).unwrap();
        assert_eq!(
            decoded,
            vec![
                (&b"a"[..], &b"1"[..]),
                (&b""[..], &b""[..]),
                (&b"key"[..], &[7u8; 300][..])
            ]
        );
        let second_record_offset = 4 + 1 + 4 + 1;
        let cut = &data[..data.len() - 1];
        match pairs(cut) {
            Err(Error::SnapshotTruncated { offset_bytes }) => {
                assert_eq!(offset_bytes, second_record_offset + 8)
            }
            other => panic!("expected a truncation, got {other:?}"),
        }
        assert!(pairs(&[]).unwrap().is_empty());
    }
}
