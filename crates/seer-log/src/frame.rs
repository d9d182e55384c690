//! The checksummed framing shared by every log seerdb writes (WAL segments
//! and the manifest), and the fixed header that opens each log file.
//!
//! ```text
//! file   = header | frame*
//! header = magic: u32 (0x474f_4c53, "SLOG") | format_version: u8 (1)
//!        | log_kind: u8 (1 WAL, 2 manifest)
//!        | flags: u8 (bit 0: preallocated, see LOG_FLAG_PREALLOCATED) | reserved: u8 (0)
//!        | file_number: u64 | checksum: u64 (xxh3 of the 16 bytes before it)
//! frame  = len: u32 | checksum: u64 (xxh3 of the 4 len bytes and the payload) | payload
//! ```
//!
//! All integers are little-endian.

use seer_core::{checksum, Checksummer};

/// Bytes of a frame header (`len` and `checksum`).
pub const FRAME_HEADER_BYTES: usize = 12;
/// The largest payload one frame can carry.
pub const MAX_FRAME_PAYLOAD_BYTES: usize = u32::MAX as usize;
/// Bytes of the header that opens every log file.
pub const LOG_HEADER_BYTES: usize = 24;
/// Identifies a seerdb log file.
pub const LOG_MAGIC: u32 = 0x474f_4c53;
/// The log format version this crate writes and reads.
pub const LOG_FORMAT_VERSION: u8 = 1;
/// Header flag (byte 6, bit 0): the file's space was reserved ahead of its
/// frames, so zeros after the last frame are unused reservation, and a
/// final frame whose bytes turn to zeros up to the end of the file was cut
/// short by a crash (`docs/FORMATS.md`, "Preallocated logs").
pub const LOG_FLAG_PREALLOCATED: u8 = 1;

/// What a log file holds; recorded in its header so a manifest is never
/// replayed as a WAL or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A write-ahead log segment of WAL records.
    Wal = 1,
    /// A manifest of version edits.
    Manifest = 2,
}

/// The fields of a log file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// What the log holds.
    pub kind: LogKind,
    /// The file's number (its name's number).
    pub file_number: u64,
}

impl LogHeader {
    /// The header's 24 bytes, with no flag set.
    pub fn encode(&self) -> [u8; LOG_HEADER_BYTES] {
        self.encode_with_flags(0)
    }

    /// The header's 24 bytes with `flags` (such as
    /// [`LOG_FLAG_PREALLOCATED`]) in byte 6.
    pub fn encode_with_flags(&self, flags: u8) -> [u8; LOG_HEADER_BYTES] {
        let mut out = [0u8; LOG_HEADER_BYTES];
        out[0..4].copy_from_slice(&LOG_MAGIC.to_le_bytes());
        out[4] = LOG_FORMAT_VERSION;
        out[5] = self.kind as u8;
        out[6] = flags;
        out[8..16].copy_from_slice(&self.file_number.to_le_bytes());
        let sum = checksum(&out[..16]);
        out[16..24].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes a header; `Err` says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        Self::decode_with_flags(bytes).map(|(header, _)| header)
    }

    /// Decodes a header and its flags; unknown flag bits are an error.
    pub fn decode_with_flags(bytes: &[u8]) -> Result<(Self, u8), String> {
        let Some(header) = bytes.get(..LOG_HEADER_BYTES) else {
            return Err(format!(
                "log header needs {LOG_HEADER_BYTES} bytes, file has {}",
                bytes.len()
            ));
        };
        if read_u64(&header[16..24]) != checksum(&header[..16]) {
            return Err("log header checksum mismatch".to_owned());
        }
        if read_u32(&header[0..4]) != LOG_MAGIC {
            return Err("not a seerdb log (bad magic)".to_owned());
        }
        if header[4] != LOG_FORMAT_VERSION {
            return Err(format!("unsupported log format version {}", header[4]));
        }
        let kind = match header[5] {
            1 => LogKind::Wal,
            2 => LogKind::Manifest,
            other => return Err(format!("unknown log kind {other}")),
        };
        let flags = header[6];
        if flags & !LOG_FLAG_PREALLOCATED != 0 {
            return Err(format!("unknown log flags {flags:#04x}"));
        }
        let header = Self {
            kind,
            file_number: read_u64(&header[8..16]),
        };
        Ok((header, flags))
    }
}

/// A reusable buffer of whole frames, appended to a log in one write.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `payload` as one frame.
    pub fn push_frame(&mut self, payload: &[u8]) {
        self.push_frame_with(|out| out.extend_from_slice(payload));
    }

    /// Appends one frame whose payload `encode` appends to the given vector
    /// (which must only be appended to); no intermediate copy is made.
    ///
    /// The checksum is one pass of [`checksum()`] over the `len` field and the
    /// payload laid side by side: `len` is first written into the last four
    /// header bytes, right before the payload, then moved to its place.
    pub fn push_frame_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        let payload_start = start + FRAME_HEADER_BYTES;
        self.bytes.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
        encode(&mut self.bytes);
        let payload_bytes = self.bytes.len() - payload_start;
        debug_assert!(payload_bytes <= MAX_FRAME_PAYLOAD_BYTES);
        let len = (payload_bytes as u32).to_le_bytes();
        let covered_start = payload_start - len.len();
        self.bytes[covered_start..payload_start].copy_from_slice(&len);
        let sum = checksum(&self.bytes[covered_start..]);
        self.bytes[start..start + 4].copy_from_slice(&len);
        self.bytes[start + 4..payload_start].copy_from_slice(&sum.to_le_bytes());
    }

    /// The framed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Forgets the frames, keeping the capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }
}

/// The payload range of the well-formed frame at `offset` of `bytes`, or
/// `None` when no whole frame with a matching checksum starts there.
pub(crate) fn check_frame(bytes: &[u8], offset: usize) -> Option<std::ops::Range<usize>> {
    let header = bytes.get(offset..offset.checked_add(FRAME_HEADER_BYTES)?)?;
    let len = read_u32(&header[0..4]) as usize;
    let start = offset + FRAME_HEADER_BYTES;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    let sum = Checksummer::new()
        .update(&header[0..4])
        .update(payload)
        .finish();
    (sum == read_u64(&header[4..12])).then_some(start..start + len)
}

/// Where the frame at `offset` of `bytes` ends by its declared `len` (the
/// header must lie inside `bytes`; the end may lie past it).
pub(crate) fn declared_frame_end(bytes: &[u8], offset: usize) -> usize {
    offset + FRAME_HEADER_BYTES + read_u32(&bytes[offset..offset + 4]) as usize
}

/// Bytes the checksum of the frame at `offset` covers (its `len` field and
/// the payload it declares): what [`check_frame`] hashes there. The header
/// must lie inside `bytes`.
pub(crate) fn frame_covered_bytes(bytes: &[u8], offset: usize) -> usize {
    4 + read_u32(&bytes[offset..offset + 4]) as usize
}

/// How the frame that starts at `offset` of `bytes` lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameExtent {
    /// Fewer than [`FRAME_HEADER_BYTES`] bytes remain: the header is cut.
    HeaderCut {
        /// Bytes left from `offset` to the end.
        remaining_bytes: usize,
    },
    /// The header is whole but its `len` runs past the end of the file.
    PastEnd {
        /// The payload length the header declares.
        declared_bytes: usize,
    },
    /// The header and the declared payload both lie inside the file.
    Inside,
}

/// Where the frame at `offset` of `bytes` would end, judged from its header
/// alone (the checksum is not looked at).
pub(crate) fn frame_extent(bytes: &[u8], offset: usize) -> FrameExtent {
    let remaining_bytes = bytes.len().saturating_sub(offset);
    if remaining_bytes < FRAME_HEADER_BYTES {
        return FrameExtent::HeaderCut { remaining_bytes };
    }
    let declared_bytes = read_u32(&bytes[offset..offset + 4]) as usize;
    if declared_bytes > remaining_bytes - FRAME_HEADER_BYTES {
        FrameExtent::PastEnd { declared_bytes }
    } else {
        FrameExtent::Inside
    }
}

/// Whether the bytes from `offset` to the end of `bytes` are one whole
/// frame whose `len` field alone is damaged: the stored checksum matches
/// when `len` is taken as "every byte up to the end of the file". Tells a
/// damaged final frame from a torn one (whose checksum covers bytes that
/// never reached the file, so it cannot match but by an xxh3 collision).
pub(crate) fn is_whole_final_frame_with_damaged_len(bytes: &[u8], offset: usize) -> bool {
    let Some(header) = bytes.get(offset..offset.saturating_add(FRAME_HEADER_BYTES)) else {
        return false;
    };
    let payload = &bytes[offset + FRAME_HEADER_BYTES..];
    let Ok(true_len) = u32::try_from(payload.len()) else {
        return false;
    };
    let sum = Checksummer::new()
        .update(&true_len.to_le_bytes())
        .update(payload)
        .finish();
    sum == read_u64(&header[4..12])
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut le = [0u8; 4];
    le.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(le)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(le)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_and_check() {
        let mut frames = FrameBuffer::new();
        frames.push_frame(b"abc");
        frames.push_frame(b"");
        let bytes = frames.as_bytes();
        assert_eq!(bytes.len(), 2 * FRAME_HEADER_BYTES + 3);
        assert_eq!(&bytes[0..4], &3u32.to_le_bytes());
        let mut covered = Vec::from(&bytes[0..4]);
        covered.extend_from_slice(b"abc");
        assert_eq!(&bytes[4..12], &checksum(&covered).to_le_bytes());
        assert_eq!(check_frame(bytes, 0), Some(12..15));
        assert_eq!(check_frame(bytes, 15), Some(27..27));
        assert_eq!(check_frame(bytes, 1), None);
        assert_eq!(check_frame(&bytes[..14], 0), None);
        let mut flipped = bytes.to_vec();
        flipped[13] ^= 1;
        assert_eq!(check_frame(&flipped, 0), None);
    }

    #[test]
    fn header_round_trip_and_damage() {
        let header = LogHeader {
            kind: LogKind::Manifest,
            file_number: 42,
        };
        let bytes = header.encode();
        assert_eq!(LogHeader::decode(&bytes), Ok(header));
        assert!(LogHeader::decode(&bytes[..23]).is_err());
        for i in 0..LOG_HEADER_BYTES {
            let mut damaged = bytes;
            damaged[i] ^= 0x10;
            assert!(LogHeader::decode(&damaged).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn header_flags_round_trip_and_unknown_flags_are_refused() {
        let header = LogHeader {
            kind: LogKind::Wal,
            file_number: 7,
        };
        let flagged = header.encode_with_flags(LOG_FLAG_PREALLOCATED);
        assert_eq!(
            LogHeader::decode_with_flags(&flagged),
            Ok((header, LOG_FLAG_PREALLOCATED))
        );
        assert_eq!(
            LogHeader::decode_with_flags(&header.encode()),
            Ok((header, 0))
        );
        let unknown = header.encode_with_flags(0x02);
        assert!(LogHeader::decode(&unknown).is_err());
    }

    #[test]
    fn an_all_zero_frame_is_never_valid() {
        // The reader's search after damage relies on it: it looks at one
        // candidate of a zero tail, as every other is the same bytes.
        assert_eq!(check_frame(&[0u8; 64], 0), None);
    }
}
