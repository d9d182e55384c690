//! The entry points of seer-sstable's fuzz targets `block_decoder`,
//! `range_del_decoder` and `table_reader`. Any input must give entries or errors, never a panic or
//! a hang.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use seer_core::{compare_internal_keys, InternalIterator, MAX_SEQ, TRAILER_BYTES};

use seer_sstable::{
    decode_range_tombstone_block, encode_range_tombstone_block, BlockCache, BlockIter, Table,
};

/// Most entries a fuzz run walks, so one input stays fast.
const MAX_WALK_ENTRIES: usize = 4096;
/// Most keys a fuzz run seeks to or looks up.
const MAX_PROBED_KEYS: usize = 64;

/// Positions `iter` with `start`, then moves it with `step` while it stays
/// valid and error-free, calling `visit` on each entry, up to
/// [`MAX_WALK_ENTRIES`] entries.
fn walk<T>(
    iter: &mut T,
    start: fn(&mut T) -> bool,
    step: fn(&mut T) -> bool,
    valid: fn(&T) -> bool,
    mut visit: impl FnMut(&T),
) {
    let mut moved = start(iter);
    let mut visited = 0;
    while moved && valid(iter) && visited < MAX_WALK_ENTRIES {
        visit(iter);
        visited += 1;
        moved = step(iter);
    }
}

/// Decodes `input` as one block: walks it both ways and seeks to every key
/// seen; a seek that lands must land on a key `>=` its target.
pub fn block_decoder(input: &[u8]) {
    let Ok(mut iter) = BlockIter::new(Bytes::copy_from_slice(input)) else {
        return;
    };
    let mut keys = Vec::new();
    walk(
        &mut iter,
        |i| i.seek_to_first().is_ok(),
        |i| i.next().is_ok(),
        BlockIter::valid,
        |i| keys.push(i.key().to_vec()),
    );
    walk(
        &mut iter,
        |i| i.seek_to_last().is_ok(),
        |i| i.prev().is_ok(),
        BlockIter::valid,
        |_| {},
    );
    for target in keys.iter().take(MAX_PROBED_KEYS) {
        if iter.seek(target).is_ok() && iter.valid() {
            assert_ne!(compare_internal_keys(iter.key(), target), Ordering::Less);
        }
    }
}

/// Decodes `input` as a range tombstone block; fragments that decode must
/// answer covering queries at their own bounds (a fragment covers its start,
/// not its end) and survive an encode and decode.
pub fn range_del_decoder(input: &[u8]) {
    let Ok(tombstones) = decode_range_tombstone_block(&Bytes::copy_from_slice(input)) else {
        return;
    };
    for fragment in tombstones.fragments().iter().take(MAX_PROBED_KEYS) {
        let newest = fragment.seqs().first().copied();
        assert_eq!(
            tombstones.max_covering_seq(fragment.start(), MAX_SEQ),
            newest
        );
        if let Some(next) = tombstones.fragment_containing(fragment.end()) {
            assert_eq!(next.start(), fragment.end());
        }
    }
    let encoded = Bytes::from(encode_range_tombstone_block(&tombstones));
    assert_eq!(
        decode_range_tombstone_block(&encoded).ok(),
        Some(tombstones)
    );
}

/// Opens `input` as a whole table file; when it opens, walks it both ways
/// and looks up the user keys seen.
pub fn table_reader(input: &[u8]) {
    let cache = Arc::new(BlockCache::new(1 << 20));
    let path = PathBuf::from("fuzz.sst");
    let Ok(table) = Table::open_bytes(path, 1, Bytes::copy_from_slice(input), Some(cache)) else {
        return;
    };
    let table = Arc::new(table);
    let mut iter = table.iter();
    let mut user_keys = Vec::new();
    walk(
        &mut iter,
        |i| i.seek_to_first().is_ok(),
        |i| i.next().is_ok(),
        |i| i.valid(),
        |i| {
            let key = i.key();
            user_keys.push(key[..key.len().saturating_sub(TRAILER_BYTES)].to_vec());
        },
    );
    walk(
        &mut iter,
        |i| i.seek_to_last().is_ok(),
        |i| i.prev().is_ok(),
        |i| i.valid(),
        |_| {},
    );
    for user_key in user_keys.iter().take(MAX_PROBED_KEYS) {
        let _ = table.get(user_key, MAX_SEQ);
        let _ = table.range_tombstones().max_covering_seq(user_key, MAX_SEQ);
        let _ = iter.seek_for_prev(user_key);
    }
}
