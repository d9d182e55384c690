//! The entry point of seer-wal's fuzz target `wal_reader`.

use bytes::Bytes;

use seer_log::{LogHeader, LogKind, LogReader};

use seer_wal::{PredecessorRecord, SegmentReader, WalRecoveryMode};

/// Reads `data` as a WAL segment under every recovery mode. An odd first
/// byte prefixes the rest with a valid header, so the fuzzer reaches the
/// frames easily. Any input must give records or an error, never a panic;
/// records must come in ascending sequence order. The rest is also decoded
/// as a predecessor record payload, which must re-encode to itself when it
/// decodes.
pub fn wal_reader(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    if let Ok(predecessor) = PredecessorRecord::decode(body) {
        let mut again = Vec::new();
        predecessor.encode(&mut again);
        assert_eq!(again, body);
    }
    let mut bytes = Vec::with_capacity(data.len() + 24);
    if flags & 1 == 1 {
        bytes.extend_from_slice(
            &LogHeader {
                kind: LogKind::Wal,
                file_number: 1,
            }
            .encode(),
        );
    }
    bytes.extend_from_slice(body);
    let bytes = Bytes::from(bytes);
    for mode in WalRecoveryMode::ALL {
        let Ok(reader) =
            LogReader::from_bytes("fuzz.wal".into(), bytes.clone(), LogKind::Wal, mode)
        else {
            continue;
        };
        let mut segment = SegmentReader::new(reader);
        let _ = segment.predecessor();
        let mut last_seq = None;
        while let Ok(Some(record)) = segment.next_record(&mut last_seq) {
            assert!(record.first_seq() <= record.last_seq());
            assert_eq!(last_seq, Some(record.last_seq()));
        }
    }
}
