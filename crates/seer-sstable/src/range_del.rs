//! The range-tombstone block (format version 2): a table's range tombstones
//! as sorted, non-overlapping fragments.
//!
//! ```text
//! fragment_count: varint
//! per fragment, in key order:
//!   start: varint len | bytes
//!   end:   varint len | bytes       (exclusive, > start, <= next start)
//!   seq_count: varint (>= 1)
//!   seqs: seq_count varints, strictly descending, each <= MAX_SEQ
//! ```
//!
//! The block ends after the last fragment. It is stored like the other meta
//! blocks (never compressed, 9-byte trailer with its checksum); `decode`
//! checks every rule above and reports the offset of the bad fragment.

use bytes::Bytes;
use seer_core::varint::put_varint64;
use seer_core::{FragmentedTombstones, SeqNo};

use crate::codec::{put_length_prefixed, FieldReader};
use crate::error::{CorruptionReason, LocalCorruption};

/// Most sequence numbers one fragment may list when decoded: bounds the
/// allocation a corrupt count could ask for (the block's bytes bound it too).
const MAX_SEQS_PER_FRAGMENT: u64 = 1 << 20;

/// The block's bytes for `tombstones`.
pub fn encode(tombstones: &FragmentedTombstones) -> Vec<u8> {
    let fragments = tombstones.fragments();
    let mut out = Vec::new();
    put_varint64(&mut out, fragments.len() as u64);
    for fragment in fragments {
        put_length_prefixed(&mut out, fragment.start());
        put_length_prefixed(&mut out, fragment.end());
        put_varint64(&mut out, fragment.seqs().len() as u64);
        for &seq in fragment.seqs() {
            put_varint64(&mut out, seq);
        }
    }
    out
}

/// Decodes and checks a range-tombstone block; error offsets are relative
/// to the block start.
pub fn decode(block: &Bytes) -> Result<FragmentedTombstones, LocalCorruption> {
    let mut reader = FieldReader::new(block);
    let at = |reader: &FieldReader<'_>, error: seer_core::DecodeError| {
        LocalCorruption::new(reader.position(), error.into())
    };
    let count = reader.varint().map_err(|e| at(&reader, e))?;
    let mut fragments = Vec::new();
    for _ in 0..count {
        let fragment_at = reader.position();
        let fragment = read_fragment(&mut reader, block).map_err(|e| at(&reader, e))?;
        fragments.push((fragment_at, fragment));
    }
    if !reader.is_at_end() {
        return Err(LocalCorruption::new(
            reader.position(),
            CorruptionReason::malformed("range tombstone block", "trailing bytes"),
        ));
    }
    let offsets: Vec<usize> = fragments.iter().map(|(at, _)| *at).collect();
    FragmentedTombstones::from_fragments(fragments.into_iter().map(|(_, f)| f)).map_err(|bad| {
        let offset = offsets.get(bad.index).copied().unwrap_or(0);
        LocalCorruption::new(offset, bad.error.into())
    })
}

fn read_fragment(
    reader: &mut FieldReader<'_>,
    block: &Bytes,
) -> Result<(Bytes, Bytes, Vec<SeqNo>), seer_core::DecodeError> {
    let start = share(block, reader.length_prefixed("range tombstone start")?);
    let end = share(block, reader.length_prefixed("range tombstone end")?);
    let seq_count = reader.varint()?;
    if seq_count > MAX_SEQS_PER_FRAGMENT {
        return Err(seer_core::DecodeError::Invalid {
            what: "range tombstone fragment",
            detail: format!("{seq_count} sequence numbers"),
        });
    }
    let seqs = (0..seq_count)
        .map(|_| reader.varint())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((start, end, seqs))
}

/// `part` (a slice of `block`) as a zero-copy `Bytes`.
fn share(block: &Bytes, part: &[u8]) -> Bytes {
    block.slice_ref(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seer_core::{RangeTombstone, MAX_SEQ};

    fn sample() -> FragmentedTombstones {
        FragmentedTombstones::new([
            RangeTombstone::new(&b"b"[..], &b"f"[..], 7),
            RangeTombstone::new(&b"d"[..], &b"k"[..], 3),
        ])
    }

    #[test]
    fn round_trip_and_known_bytes() {
        let encoded = encode(&sample());
        assert_eq!(decode(&Bytes::from(encoded.clone())), Ok(sample()));
        let expected: Vec<u8> = vec![
            3, 1, b'b', 1, b'd', 1, 7, // [b, d) @ 7
            1, b'd', 1, b'f', 2, 7, 3, // [d, f) @ 7, 3
            1, b'f', 1, b'k', 1, 3, // [f, k) @ 3
        ];
        assert_eq!(encoded, expected);
        let empty = encode(&FragmentedTombstones::default());
        assert_eq!(empty, vec![0]);
        assert_eq!(
            decode(&Bytes::from(empty)),
            Ok(FragmentedTombstones::default())
        );
    }

    #[test]
    fn bad_blocks_are_typed_errors_at_the_bad_fragment() {
        let good = encode(&sample());
        // Every truncation fails.
        for cut in 0..good.len() {
            assert!(decode(&Bytes::copy_from_slice(&good[..cut])).is_err());
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode(&Bytes::from(trailing)).is_err());
        // The second fragment overlapping the first: reported at its start.
        let mut overlapping = good.clone();
        overlapping[8] = b'c';
        let error = decode(&Bytes::from(overlapping)).unwrap_err();
        assert_eq!(error.offset, 7);
        assert!(matches!(error.reason, CorruptionReason::Malformed { .. }));
        // Ascending sequence numbers.
        let mut ascending = good.clone();
        ascending[13] = 9;
        assert!(decode(&Bytes::from(ascending)).is_err());
        let mut too_large = vec![1, 1, b'a', 1, b'b', 1];
        put_varint64(&mut too_large, MAX_SEQ + 1);
        assert!(decode(&Bytes::from(too_large)).is_err());
        let huge_count = vec![1, 1, b'a', 1, b'b', 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode(&Bytes::from(huge_count)).is_err());
    }
}
