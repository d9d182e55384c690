//! The entry points of seer-compaction's fuzz targets `manifest_reader`
//! and `current_reader`.

use bytes::Bytes;
use seer_log::{LogHeader, LogKind};

use seer_compaction::manifest::{decode_current, encode_current, replay_bytes};
use seer_compaction::{Version, VersionEdit};

/// Levels of the tree the fuzzed manifests are replayed onto.
const FUZZ_LEVELS: usize = 7;

/// Replays `data` as a manifest. An odd first byte prefixes the rest with a
/// valid manifest header so the fuzzer reaches the edits. Any input must give
/// a state or an error, never a panic; a recovered state's snapshot edit must
/// round-trip and rebuild the same version, and the invariant checker must
/// judge it without panicking.
pub fn manifest_reader(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mut bytes = Vec::with_capacity(data.len() + 24);
    if flags & 1 == 1 {
        let header = LogHeader {
            kind: LogKind::Manifest,
            file_number: 1,
        };
        bytes.extend_from_slice(&header.encode());
    }
    bytes.extend_from_slice(body);
    let Ok(state) = replay_bytes("fuzz.manifest".into(), Bytes::from(bytes), FUZZ_LEVELS) else {
        return;
    };
    let snapshot = state.snapshot_edit();
    let decoded = VersionEdit::decode(&snapshot.encode());
    assert_eq!(decoded.as_ref(), Ok(&snapshot));
    let rebuilt = Version::empty(FUZZ_LEVELS).apply(&snapshot);
    assert_eq!(rebuilt.as_ref(), Ok(&*state.version));
    // The checker must answer any version, never panic.
    let _ = state.version.check_invariants();
}

/// Decodes `data` as a `CURRENT` file. Any input must give a manifest
/// number or a typed error, never a panic; a decoded number must encode
/// back to a `CURRENT` naming the same manifest, and (since the checksum
/// covers the name) a flipped byte of a valid `CURRENT` must not decode to
/// another manifest.
pub fn current_reader(data: &[u8]) {
    let path = std::path::Path::new("fuzz/CURRENT");
    let Ok(number) = decode_current(path, data) else {
        return;
    };
    let encoded = encode_current(number);
    assert_eq!(decode_current(path, encoded.as_bytes()).ok(), Some(number));
    let mut flipped = encoded.into_bytes();
    for index in 0..flipped.len() {
        flipped[index] ^= 0x01;
        let decoded = decode_current(path, &flipped).ok();
        assert!(
            decoded.is_none() || decoded == Some(number),
            "a flipped byte {index} named manifest {decoded:?} instead of {number}"
        );
        flipped[index] ^= 0x01;
    }
}
