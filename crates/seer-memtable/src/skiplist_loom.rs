//! loom models of the arena skip list (run with `--cfg loom`): concurrent
//! inserts at several heights, with a reader scanning meanwhile, link every
//! entry exactly once in order, readers only ever see fully written entries
//! in order (forward through the next pointers, backward through the
//! cursor's windows), of two racing inserts of one internal key
//! exactly one wins (whether or not the loser's node has a value handle),
//! and an insert from a remembered position (a splice) racing a plain
//! insert into the gap it remembers links both in order. Key `b` has an
//! empty value, so its node has the layout without a value handle.
//! The arena's blocks are small, so that inserts also race to replace a full
//! block.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;

/// Blocks that hold two nodes of height 2 with one-byte user keys, so that
/// the third insert replaces the block.
fn small_list() -> Arc<SkipList> {
    Arc::new(SkipList::new(4 * node_bytes(2, true, 1 + TRAILER_BYTES)))
}

/// The value of `user_key`: empty for `b` (a node without a value handle),
/// the key's bytes otherwise.
fn value_of(user_key: &[u8]) -> Bytes {
    if user_key == b"b" {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(user_key)
    }
}

/// The user keys in list order, checking each entry's value and the order.
fn scan(list: &Arc<SkipList>) -> Vec<Vec<u8>> {
    let mut cursor = ListCursor::new(Arc::clone(list));
    cursor.seek_to_first();
    let mut user_keys: Vec<Vec<u8>> = Vec::new();
    while let Some(entry) = cursor.entry() {
        let (user_key, _) = entry.user_key_and_trailer();
        assert_eq!(entry.value(), &value_of(user_key), "torn entry");
        if let Some(last) = user_keys.last() {
            assert!(last.as_slice() < user_key, "out of order");
        }
        user_keys.push(user_key.to_vec());
        cursor.next();
    }
    user_keys
}

/// The user keys from the last entry back through `prev`, checking each
/// entry's value and the descending order.
fn scan_back(list: &Arc<SkipList>) -> Vec<Vec<u8>> {
    let mut cursor = ListCursor::new(Arc::clone(list));
    cursor.seek_to_last();
    let mut user_keys: Vec<Vec<u8>> = Vec::new();
    while let Some(entry) = cursor.entry() {
        let (user_key, _) = entry.user_key_and_trailer();
        assert_eq!(entry.value(), &value_of(user_key), "torn entry");
        if let Some(last) = user_keys.last() {
            assert!(last.as_slice() > user_key, "out of order backward");
        }
        user_keys.push(user_key.to_vec());
        cursor.prev();
    }
    user_keys
}

/// One writer thread per list of `(user key, height)` inserts.
fn spawn_writers<const N: usize>(
    list: &Arc<SkipList>,
    writers: [Vec<(&'static [u8; 1], usize)>; N],
) -> Vec<loom::thread::JoinHandle<()>> {
    writers
        .into_iter()
        .map(|inserts| {
            let list = Arc::clone(list);
            loom::thread::spawn(move || {
                for (user_key, height) in inserts {
                    assert!(list.insert(user_key, 1, value_of(user_key), height));
                }
            })
        })
        .collect()
}

#[test]
fn loom_prev_during_inserts_before_one_node_walks_back_in_order() {
    loom::model(|| {
        let list = small_list();
        assert!(list.insert(b"d", 1, value_of(b"d"), 1));
        let writers = spawn_writers(&list, [vec![(b"b", 1)], vec![(b"c", 2), (b"a", 1)]]);
        let seen = scan_back(&list);
        assert_eq!(seen.first().map(Vec::as_slice), Some(&b"d"[..]));
        for writer in writers {
            writer.join().unwrap();
        }
        let all = scan_back(&list);
        assert!(seen.iter().all(|key| all.contains(key)));
        let expected: Vec<Vec<u8>> = [b"d", b"c", b"b", b"a"].map(|k| k.to_vec()).into();
        assert_eq!(all, expected);
    });
}

#[test]
fn loom_concurrent_inserts_link_every_entry_once_in_order() {
    loom::model(|| {
        let list = small_list();
        let writers = spawn_writers(&list, [vec![(b"b", 2)], vec![(b"a", 1), (b"c", 2)]]);
        let seen = scan(&list);
        if let Some(found) = list.seek(&Target::new(b"b", 1)) {
            assert_eq!(found.value(), &value_of(found.user_key_and_trailer().0));
        }
        for writer in writers {
            writer.join().unwrap();
        }
        let all = scan(&list);
        assert!(seen.iter().all(|key| all.contains(key)));
        assert_eq!(all, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    });
}

#[test]
fn loom_racing_inserts_of_one_key_keep_exactly_one() {
    loom::model(|| {
        let list = small_list();
        // The height-1 racer's value is empty (no value handle in its node).
        let value_at = |height: usize| match height {
            1 => Bytes::new(),
            _ => value_of(b"k"),
        };
        let racers: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|height| {
                let list = Arc::clone(&list);
                loom::thread::spawn(move || list.insert(b"k", 7, value_at(height), height))
            })
            .collect();
        let winners: Vec<usize> = racers
            .into_iter()
            .zip([1usize, 2])
            .filter_map(|(racer, height)| racer.join().unwrap().then_some(height))
            .collect();
        assert_eq!(winners.len(), 1);
        let found = list.seek(&Target::new(b"k", 7)).unwrap();
        assert_eq!(found.value(), &value_at(winners[0]));
        assert!(found.next().is_none());
    });
}

#[test]
fn loom_insert_from_a_splice_racing_a_plain_insert_into_its_gap_links_both_in_order() {
    loom::model(|| {
        let list = small_list();
        assert!(list.insert(b"a", 1, value_of(b"a"), 2));
        assert!(list.insert(b"e", 1, value_of(b"e"), 2));
        let plain = {
            let list = Arc::clone(&list);
            loom::thread::spawn(move || assert!(list.insert(b"c", 1, value_of(b"c"), 2)))
        };
        let hinted = {
            let list = Arc::clone(&list);
            loom::thread::spawn(move || {
                let mut splice = Splice::new(&list);
                assert!(list.insert_at(&mut splice, b"b", 1, value_of(b"b"), 2));
                assert!(list.insert_at(&mut splice, b"d", 1, value_of(b"d"), 1));
            })
        };
        let seen = scan(&list);
        plain.join().unwrap();
        hinted.join().unwrap();
        let all = scan(&list);
        assert!(seen.iter().all(|key| all.contains(key)));
        let expected: Vec<Vec<u8>> = [b"a", b"b", b"c", b"d", b"e"].map(|k| k.to_vec()).into();
        assert_eq!(all, expected);
    });
}
