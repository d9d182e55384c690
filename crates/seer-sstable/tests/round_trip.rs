//! Property test: any sorted set of entries round-trips through a table, by
//! point lookup at random snapshots and by iteration in both directions
//! with random seeks and bounds, for every compression, several block sizes
//! and restart intervals, with and without filter and cache.
#![allow(clippy::unwrap_used)]

mod common;

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use common::{build_table, drain_forward, expected_lookup, Entry};
use proptest::prelude::*;
use seer_core::{compare_internal_keys, InternalIterator, InternalKey, RealFileSystem, ValueKind};
use seer_sstable::{BlockCache, Compression, Table, TableOptions, UserKeyBounds};

fn kind() -> impl Strategy<Value = ValueKind> {
    prop_oneof![
        3 => Just(ValueKind::Put),
        1 => Just(ValueKind::Delete),
        2 => Just(ValueKind::Merge),
    ]
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()],
        0..5,
    )
}

fn sorted_entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec(
        (
            user_key(),
            1u64..40,
            kind(),
            proptest::collection::vec(any::<u8>(), 0..48),
        ),
        1..200,
    )
    .prop_map(|raw| {
        let mut entries: Vec<Entry> = raw
            .into_iter()
            .map(|(user, seq, kind, value)| (InternalKey::new(user, seq, kind).encode(), value))
            .collect();
        entries.sort_by(|a, b| compare_internal_keys(&a.0, &b.0));
        entries.dedup_by(|a, b| {
            a.0[..a.0.len() - 8] == b.0[..b.0.len() - 8]
                && a.0[a.0.len() - 8..][1..] == b.0[b.0.len() - 8..][1..]
        });
        entries
    })
}

fn options() -> impl Strategy<Value = (TableOptions, bool)> {
    (
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Zstd { level: 1 }),
            Just(Compression::Zstd { level: 5 }),
        ],
        prop_oneof![Just(48usize), Just(256), Just(4096)],
        prop_oneof![Just(1usize), Just(3), Just(16)],
        prop_oneof![Just(0u32), Just(4), Just(10)],
        any::<bool>(),
    )
        .prop_map(
            |(compression, block_size_bytes, restart_interval, bits, cached)| {
                let options = TableOptions {
                    block_size_bytes,
                    restart_interval,
                    compression,
                    bloom_bits_per_key: bits,
                    ..TableOptions::default()
                };
                (options, cached)
            },
        )
}

fn seek_key(user: &[u8], seq: u64) -> Vec<u8> {
    InternalKey::seek_key(Bytes::copy_from_slice(user), seq).encode()
}

fn user(key: &[u8]) -> &[u8] {
    &key[..key.len() - 8]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn any_sorted_entries_round_trip(
        entries in sorted_entries(),
        (options, cached) in options(),
        probes in proptest::collection::vec((user_key(), 0u64..45), 1..24),
        bounds in (proptest::option::of(user_key()), proptest::option::of(user_key())),
        readahead_bytes in prop_oneof![Just(1usize), Just(100), Just(1 << 20)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, meta) = build_table(dir.path(), &entries, options);
        let cache = cached.then(|| Arc::new(BlockCache::new(1 << 20)));
        let table = Arc::new(Table::open(&RealFileSystem, &path, 1, cache).unwrap());
        prop_assert_eq!(&table.meta(), &meta);
        prop_assert_eq!(meta.entry_count, entries.len() as u64);

        // Whole-table iteration, both directions.
        let mut iter = table.iter();
        iter.seek_to_first().unwrap();
        prop_assert_eq!(&drain_forward(&mut iter), &entries);
        iter.seek_to_last().unwrap();
        let mut backward = Vec::new();
        while iter.valid() {
            backward.push((iter.key().to_vec(), iter.value().to_vec()));
            iter.prev().unwrap();
        }
        backward.reverse();
        prop_assert_eq!(&backward, &entries);

        // A compaction's pass with positional reads (a read smaller than a
        // block, a few blocks, the whole file): the same entries, and
        // stepping back still works.
        let mut sequential = table.sequential_iter(&RealFileSystem, readahead_bytes).unwrap();
        sequential.seek_to_first().unwrap();
        prop_assert_eq!(&drain_forward(&mut sequential), &entries);
        sequential.seek_to_last().unwrap();
        prop_assert_eq!(sequential.key(), &entries[entries.len() - 1].0[..]);
        sequential.prev().unwrap();
        prop_assert_eq!(sequential.valid().then(|| sequential.key().to_vec()), entries.len().checked_sub(2).map(|i| entries[i].0.clone()));

        // Point lookups of present and absent keys at random snapshots.
        let lookups = entries.iter().map(|(k, _)| (user(k).to_vec(), 40)).chain(probes.clone());
        for (user_key, snapshot) in lookups {
            let got = table.get(&user_key, snapshot).unwrap();
            prop_assert_eq!(got, expected_lookup(&entries, &user_key, snapshot));
        }

        // Random seeks, each followed by a step each way.
        for (user_key, seq) in &probes {
            let target = seek_key(user_key, *seq);
            let at = entries.partition_point(|(k, _)| compare_internal_keys(k, &target) == Ordering::Less);
            iter.seek(&target).unwrap();
            prop_assert_eq!(iter.valid().then(|| iter.key().to_vec()), entries.get(at).map(|e| e.0.clone()));
            if iter.valid() {
                iter.prev().unwrap();
                prop_assert_eq!(iter.valid().then(|| iter.key().to_vec()), at.checked_sub(1).map(|i| entries[i].0.clone()));
            }
            let before = entries.partition_point(|(k, _)| compare_internal_keys(k, &target) != Ordering::Greater);
            iter.seek_for_prev(&target).unwrap();
            prop_assert_eq!(iter.valid().then(|| iter.key().to_vec()), before.checked_sub(1).map(|i| entries[i].0.clone()));
            if iter.valid() {
                iter.next().unwrap();
                prop_assert_eq!(iter.valid().then(|| iter.key().to_vec()), entries.get(before).map(|e| e.0.clone()));
            }
        }

        // Bounded iteration, both directions.
        let (lower, upper) = bounds;
        let in_bounds: Vec<Entry> = entries
            .iter()
            .filter(|(k, _)| lower.as_ref().is_none_or(|l| user(k) >= &l[..]))
            .filter(|(k, _)| upper.as_ref().is_none_or(|u| user(k) < &u[..]))
            .cloned()
            .collect();
        let bounds = UserKeyBounds { lower: lower.map(Bytes::from), upper: upper.map(Bytes::from) };
        let mut bounded = table.iter_with_bounds(bounds);
        bounded.seek_to_first().unwrap();
        prop_assert_eq!(&drain_forward(&mut bounded), &in_bounds);
        bounded.seek_to_last().unwrap();
        let mut backward = Vec::new();
        while bounded.valid() {
            backward.push((bounded.key().to_vec(), bounded.value().to_vec()));
            bounded.prev().unwrap();
        }
        backward.reverse();
        prop_assert_eq!(&backward, &in_bounds);
        for (user_key, seq) in &probes {
            let target = seek_key(user_key, *seq);
            bounded.seek(&target).unwrap();
            let expected = in_bounds.iter().find(|(k, _)| compare_internal_keys(k, &target) != Ordering::Less);
            prop_assert_eq!(bounded.valid().then(|| bounded.key().to_vec()), expected.map(|e| e.0.clone()));
            bounded.seek_for_prev(&target).unwrap();
            let expected = in_bounds.iter().rev().find(|(k, _)| compare_internal_keys(k, &target) != Ordering::Greater);
            prop_assert_eq!(bounded.valid().then(|| bounded.key().to_vec()), expected.map(|e| e.0.clone()));
        }
    }
}
