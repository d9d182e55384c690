//! Block handles and the 9-byte block trailer.
//!
//! Every block is stored as `stored bytes | compression: u8 | checksum: u64 LE`
//! where the checksum is xxh3 of the stored bytes followed by the compression
//! byte. A zstd block's stored bytes are `raw_len: varint | zstd frame`.

use std::cell::RefCell;

use bytes::Bytes;
use seer_core::varint::{get_varint64, put_varint64};
use seer_core::Checksummer;

use crate::error::{CorruptionReason, LocalCorruption};

/// Bytes of the trailer after every block.
pub const BLOCK_TRAILER_BYTES: usize = 9;

/// Compression byte of a block stored as is.
pub(crate) const COMPRESSION_NONE: u8 = 0;
/// Compression byte of a zstd-compressed block.
pub(crate) const COMPRESSION_ZSTD: u8 = 1;

/// The largest raw size of a compressed block; larger blocks are stored
/// uncompressed, so a reader never allocates more than this for one block.
pub(crate) const MAX_COMPRESSED_RAW_BYTES: usize = 64 << 20;

/// Where a block lies in the file: its stored bytes, without the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Length of the stored bytes, not counting the trailer.
    pub size_bytes: u64,
}

impl BlockHandle {
    /// The offset just past the block's trailer.
    pub fn end_with_trailer(&self) -> u64 {
        self.offset
            .saturating_add(self.size_bytes)
            .saturating_add(BLOCK_TRAILER_BYTES as u64)
    }

    /// Appends `offset: varint | size: varint` (an index entry's value).
    pub(crate) fn encode_varint_into(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size_bytes);
    }

    /// Decodes [`Self::encode_varint_into`]'s output, which must fill `input`.
    pub(crate) fn decode_varint(input: &[u8]) -> Result<Self, CorruptionReason> {
        let (offset, used) = get_varint64(input)?;
        let (size_bytes, used_size) = get_varint64(&input[used..])?;
        if used + used_size != input.len() {
            return Err(CorruptionReason::malformed(
                "block handle",
                "trailing bytes",
            ));
        }
        Ok(Self { offset, size_bytes })
    }
}

/// The trailer for `stored` bytes with compression byte `compression`.
pub(crate) fn block_trailer(stored: &[u8], compression: u8) -> [u8; BLOCK_TRAILER_BYTES] {
    let mut trailer = [0u8; BLOCK_TRAILER_BYTES];
    trailer[0] = compression;
    trailer[1..].copy_from_slice(&block_checksum(stored, compression).to_le_bytes());
    trailer
}

fn block_checksum(stored: &[u8], compression: u8) -> u64 {
    Checksummer::new()
        .update(stored)
        .update(&[compression])
        .finish()
}

/// A block as found in the file: its stored bytes and trailer fields.
#[derive(Debug, Clone)]
pub(crate) struct RawBlock {
    pub(crate) stored: Bytes,
    pub(crate) compression: u8,
    stored_checksum: u64,
}

impl RawBlock {
    /// Slices the block at `handle` out of `file` (zero-copy).
    pub(crate) fn slice(file: &Bytes, handle: BlockHandle) -> Result<Self, LocalCorruption> {
        let truncated = || {
            LocalCorruption::new(
                0,
                CorruptionReason::Truncated {
                    what: "block beyond the end of the file",
                },
            )
        };
        let start = usize::try_from(handle.offset).map_err(|_| truncated())?;
        let end = usize::try_from(handle.end_with_trailer()).map_err(|_| truncated())?;
        if end > file.len() || handle.end_with_trailer() == u64::MAX {
            return Err(truncated());
        }
        let trailer_start = end - BLOCK_TRAILER_BYTES;
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&file[trailer_start + 1..end]);
        Ok(Self {
            stored: file.slice(start..trailer_start),
            compression: file[trailer_start],
            stored_checksum: u64::from_le_bytes(checksum),
        })
    }

    /// Checks the trailer's checksum; errors are at offsets relative to the
    /// block start.
    pub(crate) fn verify(&self, what: &'static str) -> Result<(), LocalCorruption> {
        let computed = block_checksum(&self.stored, self.compression);
        if computed == self.stored_checksum {
            Ok(())
        } else {
            Err(LocalCorruption::new(
                self.stored.len() + 1,
                CorruptionReason::BadChecksum {
                    what,
                    stored: self.stored_checksum,
                    computed,
                },
            ))
        }
    }

    /// The block's contents: the stored bytes when uncompressed (zero-copy),
    /// else freshly decompressed.
    pub(crate) fn contents(&self) -> Result<Bytes, LocalCorruption> {
        match self.compression {
            COMPRESSION_NONE => Ok(self.stored.clone()),
            COMPRESSION_ZSTD => decompress_zstd(&self.stored).map(Bytes::from),
            other => Err(LocalCorruption::new(
                self.stored.len(),
                CorruptionReason::malformed(
                    "block trailer",
                    format!("unknown compression byte {other}"),
                ),
            )),
        }
    }
}

/// Compresses `raw` as zstd stored bytes, or `None` when it does not pay
/// (saves less than an eighth) or the block is too large.
pub(crate) fn compress_zstd(
    compressor: &mut zstd::bulk::Compressor<'static>,
    raw: &[u8],
) -> Option<Vec<u8>> {
    if raw.len() > MAX_COMPRESSED_RAW_BYTES {
        return None;
    }
    let frame = compressor.compress(raw).ok()?;
    let mut stored = Vec::with_capacity(frame.len() + 5);
    put_varint64(&mut stored, raw.len() as u64);
    stored.extend_from_slice(&frame);
    (stored.len() < raw.len() - raw.len() / 8).then_some(stored)
}

thread_local! {
    /// One zstd decompression context per thread: creating one per block
    /// costs more than decompressing a 4 KiB block.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn decompress_zstd(stored: &[u8]) -> Result<Vec<u8>, LocalCorruption> {
    let (raw_len, used) =
        get_varint64(stored).map_err(|error| LocalCorruption::new(0, error.into()))?;
    let malformed =
        |detail: String| LocalCorruption::new(0, CorruptionReason::malformed("zstd block", detail));
    if raw_len > MAX_COMPRESSED_RAW_BYTES as u64 {
        return Err(malformed(format!("raw size {raw_len} exceeds the limit")));
    }
    let raw = DECOMPRESSOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            let decompressor = match &mut *slot {
                Some(decompressor) => decompressor,
                empty => empty.insert(zstd::bulk::Decompressor::new()?),
            };
            decompressor.decompress(&stored[used..], raw_len as usize)
        })
        .map_err(|error| malformed(error.to_string()))?;
    if raw.len() as u64 != raw_len {
        return Err(malformed(format!(
            "decompressed to {} bytes, expected {raw_len}",
            raw.len()
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_round_trip_and_trailing_bytes() {
        let handle = BlockHandle {
            offset: 123_456,
            size_bytes: 4096,
        };
        let mut out = Vec::new();
        handle.encode_varint_into(&mut out);
        assert_eq!(BlockHandle::decode_varint(&out), Ok(handle));
        out.push(0);
        assert!(BlockHandle::decode_varint(&out).is_err());
    }

    #[test]
    fn trailer_detects_flips_and_zstd_round_trips() {
        let raw = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(10);
        let mut compressor = zstd::bulk::Compressor::new(3).unwrap();
        let stored = compress_zstd(&mut compressor, &raw).unwrap();
        let mut file = stored.clone();
        file.extend_from_slice(&block_trailer(&stored, COMPRESSION_ZSTD));
        let handle = BlockHandle {
            offset: 0,
            size_bytes: stored.len() as u64,
        };
        let block = RawBlock::slice(&Bytes::from(file.clone()), handle).unwrap();
        block.verify("data block").unwrap();
        assert_eq!(&block.contents().unwrap()[..], &raw[..]);
        file[2] ^= 1;
        let block = RawBlock::slice(&Bytes::from(file), handle).unwrap();
        assert!(block.verify("data block").is_err());
        let too_long = BlockHandle {
            offset: 1,
            size_bytes: u64::MAX,
        };
        assert!(RawBlock::slice(&Bytes::from_static(b"x"), too_long).is_err());
    }
}
