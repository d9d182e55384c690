//! The entry point of seer-memtable's fuzz target `memtable_concurrent`:
//! inserts decoded from the input run on two threads at once into one
//! memtable while a third thread reads; afterwards every lookup and a full
//! scan in both directions agree with a model.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{compare_internal_keys, InternalIterator, Lookup, MergeBase, SeqNo, ValueKind};
use seer_memtable::Memtable;

/// One decoded insert. Its value depends only on the internal key, so that
/// a repeated internal key (kept once, whichever thread wins) has one
/// possible value.
#[derive(Clone, Copy)]
struct Insert {
    user_key: [u8; 2],
    user_key_len: usize,
    seq: SeqNo,
    kind: ValueKind,
}

impl Insert {
    /// Three bytes: key length and bytes from a small alphabet (so keys
    /// collide and share prefixes), sequence number (so versions and
    /// repeats occur) and kind.
    fn decode(bytes: &[u8]) -> Self {
        let kind = match bytes[2] % 3 {
            0 => ValueKind::Put,
            1 => ValueKind::Delete,
            _ => ValueKind::Merge,
        };
        Self {
            user_key: [bytes[0] % 4, (bytes[0] >> 2) % 4],
            user_key_len: usize::from(bytes[0] >> 4) % 3,
            seq: SeqNo::from(bytes[1]),
            kind,
        }
    }

    fn user_key(&self) -> &[u8] {
        &self.user_key[..self.user_key_len]
    }

    fn value(&self) -> Bytes {
        match self.kind {
            ValueKind::Delete => Bytes::new(),
            _ => Bytes::from(format!("{}@{}", self.kind as u8, self.seq)),
        }
    }
}

/// user key -> (newest first: seq, then kind) -> value.
type Model = BTreeMap<Vec<u8>, BTreeMap<(Reverse<SeqNo>, Reverse<u8>), (ValueKind, Bytes)>>;

/// Runs the decoded inserts of `data` on two threads into one memtable
/// (partition count from the first byte) while the calling thread reads,
/// then checks gets and scans against the model. Any input must pass.
pub fn memtable_concurrent(data: &[u8]) {
    let Some((&config, body)) = data.split_first() else {
        return;
    };
    let inserts: Vec<Insert> = body.chunks_exact(3).map(Insert::decode).collect();
    let memtable = Arc::new(Memtable::new(usize::from(config % 4) + 1, 1 << 20));
    let (left, right) = inserts.split_at(inserts.len() / 2);
    std::thread::scope(|scope| {
        let writers: Vec<_> = [left, right]
            .into_iter()
            .map(|share| {
                let memtable = &memtable;
                scope.spawn(move || {
                    for insert in share {
                        memtable
                            .insert(insert.user_key(), insert.seq, insert.kind, insert.value())
                            .unwrap_or_else(|error| panic!("insert refused: {error}"));
                    }
                })
            })
            .collect();
        read_while_writing(&memtable, &inserts);
        // Joined explicitly, so the threads have exited (their thread-local
        // state freed) before the fuzzer's leak check runs.
        for writer in writers {
            if let Err(panic) = writer.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let mut model = Model::new();
    for insert in &inserts {
        model.entry(insert.user_key().to_vec()).or_default().insert(
            (Reverse(insert.seq), Reverse(insert.kind as u8)),
            (insert.kind, insert.value()),
        );
    }
    check_gets(&memtable, &model);
    check_scans(&memtable, &model);
}

/// Scans and probes while the writers run: what is seen is sorted, and
/// every value belongs to its key.
fn read_while_writing(memtable: &Arc<Memtable>, inserts: &[Insert]) {
    let mut cursor = memtable.iter();
    cursor
        .seek_to_first()
        .unwrap_or_else(|never| match never {});
    let mut last: Option<Vec<u8>> = None;
    while cursor.valid() {
        if let Some(last) = &last {
            assert!(
                compare_internal_keys(last, cursor.key()).is_lt(),
                "scan out of order"
            );
        }
        last = Some(cursor.key().to_vec());
        cursor.next().unwrap_or_else(|never| match never {});
    }
    for insert in inserts.iter().take(8) {
        if let Lookup::Value(value) = memtable.get(insert.user_key(), SeqNo::MAX) {
            assert!(value.contains(&b'@'), "a put's value is torn");
        }
    }
}

/// What the model answers for `user_key` at `snapshot_seq`: the merge
/// operands newest first down to the newest put or tombstone.
fn model_get(model: &Model, user_key: &[u8], snapshot_seq: SeqNo) -> Lookup {
    let mut operands = Vec::new();
    let mut base = None;
    let visible = model
        .get(user_key)
        .into_iter()
        .flatten()
        .filter(|((Reverse(seq), _), _)| *seq <= snapshot_seq);
    for (_, (kind, value)) in visible {
        match kind {
            ValueKind::Merge => operands.push(value.clone()),
            ValueKind::Put => base = Some(MergeBase::Value(value.clone())),
            ValueKind::ExpiringPut => base = Some(MergeBase::Expiring(value.clone())),
            ValueKind::Delete => base = Some(MergeBase::Deleted),
        }
        if base.is_some() {
            break;
        }
    }
    if !operands.is_empty() {
        return Lookup::Merge { operands, base };
    }
    base.map_or(Lookup::NotFound, |base| match base {
        MergeBase::Value(value) => Lookup::Value(value),
        MergeBase::Expiring(stored) => Lookup::Expiring(stored),
        MergeBase::Deleted => Lookup::Deleted,
    })
}

fn check_gets(memtable: &Memtable, model: &Model) {
    for user_key in model
        .keys()
        .map(Vec::as_slice)
        .chain([&b"\x03\x03\x03"[..]])
    {
        for snapshot_seq in [0, 1, 7, 64, 200, SeqNo::MAX] {
            assert_eq!(
                memtable.get(user_key, snapshot_seq),
                model_get(model, user_key, snapshot_seq),
                "get {user_key:?} at {snapshot_seq}"
            );
        }
    }
}

fn check_scans(memtable: &Arc<Memtable>, model: &Model) {
    let expected: Vec<Bytes> = model
        .values()
        .flat_map(|versions| versions.values().map(|(_, value)| value.clone()))
        .collect();
    let mut cursor = memtable.iter();
    let mut forward = Vec::new();
    cursor
        .seek_to_first()
        .unwrap_or_else(|never| match never {});
    while cursor.valid() {
        forward.push(cursor.value().clone());
        cursor.next().unwrap_or_else(|never| match never {});
    }
    assert_eq!(forward, expected, "forward scan");
    let mut backward = Vec::new();
    cursor.seek_to_last().unwrap_or_else(|never| match never {});
    while cursor.valid() {
        backward.push(cursor.value().clone());
        cursor.prev().unwrap_or_else(|never| match never {});
    }
    backward.reverse();
    assert_eq!(backward, expected, "backward scan");
}
