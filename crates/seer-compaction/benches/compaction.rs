//! Benchmarks of the compaction layer's CPU paths: the adaptive policy's
//! grid search over the cost model, the picker on a deep version, and the
//! per-key version selection of the executor.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use seer_compaction::adaptive::{AdaptiveOptions, AdaptivePolicy, WorkloadWindow};
use seer_compaction::cost::TreeInputs;
use seer_compaction::picker::{CompactionsInProgress, Picker, PickerOptions};
use seer_compaction::{KeyCompactor, PolicyParams, TableMeta, Version, VersionEdit};
use seer_core::{InternalKey, SeqNo, U64AddOperator, ValueKind};

fn adaptive_decision(c: &mut Criterion) {
    let tree = TreeInputs::default();
    let window = WorkloadWindow {
        updates: 5000,
        zero_result_lookups: 2000,
        point_lookups: 2000,
        short_ranges: 1000,
        long_ranges: 0,
    };
    let mut policy = AdaptivePolicy::new(PolicyParams::default(), AdaptiveOptions::default());
    c.bench_function("adaptive_observe_grid", |b| {
        b.iter(|| black_box(policy.observe(black_box(&window), &tree).params))
    });
}

fn table(file_number: u64, smallest: u64, largest: u64, size: u64) -> Arc<TableMeta> {
    let key = |k: u64| InternalKey::new(Bytes::from(format!("{k:012}")), 1, ValueKind::Put);
    Arc::new(TableMeta {
        file_number,
        file_size_bytes: size,
        smallest: key(smallest),
        largest: key(largest),
        smallest_seq: 1,
        largest_seq: 1,
        entry_count: size / 100,
        tombstone_count: 0,
        merge_count: 0,
        raw_key_bytes: 0,
        raw_value_bytes: 0,
        earliest_expiry_unix_ms: None,
    })
}

/// A tree of 7 levels: 3 level-0 runs, and 9 runs on each lower level, each
/// of 64 tables.
fn deep_version() -> Version {
    let mut edit = VersionEdit::new();
    let mut number = 1;
    for level in 0..7usize {
        let runs = if level == 0 { 3 } else { 9 };
        for _ in 0..runs {
            let run_id = number;
            for t in 0..64u64 {
                edit.add_table(
                    level,
                    run_id,
                    table(number, t * 1000, t * 1000 + 999, 1 << (20 + level)),
                );
                number += 1;
            }
        }
    }
    Version::empty(7).apply(&edit).unwrap()
}

fn picker(c: &mut Criterion) {
    let version = deep_version();
    let picker = Picker::new(PickerOptions::default());
    let params = PolicyParams::tiering(10).unwrap();
    let idle = CompactionsInProgress::new();
    c.bench_function("picker_pick_deep_version", |b| {
        b.iter(|| black_box(picker.pick(black_box(&version), params, &idle)))
    });
}

fn key_compactor(c: &mut Criterion) {
    let operator = U64AddOperator;
    let snapshots: Vec<SeqNo> = vec![100, 200, 300];
    let compactor = KeyCompactor {
        snapshots: &snapshots,
        bottommost: true,
        merge_operator: Some(&operator),
    };
    let versions: Vec<(InternalKey, Bytes)> = (0..16u64)
        .rev()
        .map(|i| {
            let kind = if i % 4 == 0 {
                ValueKind::Put
            } else {
                ValueKind::Merge
            };
            let key = InternalKey::new(Bytes::from_static(b"user-key"), i * 25 + 1, kind);
            (key, Bytes::copy_from_slice(&i.to_le_bytes()))
        })
        .collect();
    let mut group = c.benchmark_group("key_compactor");
    group.throughput(Throughput::Elements(versions.len() as u64));
    group.bench_function("16_versions_3_snapshots", |b| {
        b.iter(|| black_box(compactor.compact_key(black_box(&versions)).unwrap()))
    });
    group.finish();
}

// `missing_docs` is allowed above for the functions `criterion_group!` defines.
criterion_group!(benches, adaptive_decision, picker, key_compactor);
criterion_main!(benches);
