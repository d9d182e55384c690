//! Table benchmarks: build throughput, point lookups (hits and misses, warm
//! cache) and iteration on a 1M-entry table of 16-byte keys and 100-byte
//! values, without and with zstd.
// criterion_group! generates an undocumented function.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use seer_core::{
    checksum, FileSystem, InternalIterator, InternalKey, RealFileSystem, ValueKind, MAX_SEQ,
};
use seer_sstable::{BlockCache, Compression, Table, TableBuilder, TableOptions};

const TABLE_ENTRIES: u64 = 1_000_000;
const BUILD_ENTRIES: u64 = 200_000;
const VALUE_BYTES: usize = 100;
const LOOKUPS_PER_ITER: usize = 1000;

/// A 16-byte user key; even numbers are stored, odd ones probe misses.
fn user_key(i: u64) -> Vec<u8> {
    format!("key{:013}", i * 2).into_bytes()
}

fn absent_user_key(i: u64) -> Vec<u8> {
    format!("key{:013}", i * 2 + 1).into_bytes()
}

/// A xorshift64 generator: deterministic inputs without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Values drawn from a small alphabet: compressible about 2x, like text.
fn entries(count: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = XorShift(7);
    (0..count)
        .map(|i| {
            let key = InternalKey::new(user_key(i), i + 1, ValueKind::Put).encode();
            let value = (0..VALUE_BYTES)
                .map(|_| b'a' + (rng.next() % 16) as u8)
                .collect();
            (key, value)
        })
        .collect()
}

fn compressions() -> [(&'static str, Compression); 2] {
    [
        ("none", Compression::None),
        ("zstd1", Compression::Zstd { level: 1 }),
    ]
}

fn build(path: &Path, compression: Compression, entries: &[(Vec<u8>, Vec<u8>)]) {
    let options = TableOptions {
        compression,
        ..TableOptions::default()
    };
    let mut builder = TableBuilder::new(RealFileSystem::shared(), path, options).unwrap();
    for (key, value) in entries {
        builder.add(key, value).unwrap();
    }
    builder.finish().unwrap();
}

fn raw_bytes(entries: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    entries
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}

fn bench_build(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let entries = entries(BUILD_ENTRIES);
    let mut group = c.benchmark_group("build");
    group.throughput(Throughput::Bytes(raw_bytes(&entries)));
    for (name, compression) in compressions() {
        let path = dir.path().join("00000000000000000001.sst");
        group.bench_function(name, |b| b.iter(|| build(&path, compression, &entries)));
    }
    group.finish();
}

fn open_warm(dir: &Path, name: &str, compression: Compression) -> Arc<Table> {
    let path = dir.join(format!("0000000000000000000{}.sst", name.len()));
    build(&path, compression, &entries(TABLE_ENTRIES));
    let cache = Arc::new(BlockCache::new(1 << 30));
    let fs: Arc<dyn FileSystem> = RealFileSystem::shared();
    let table = Arc::new(Table::open(&*fs, &path, 1, Some(cache)).unwrap());
    let mut iter = table.iter();
    iter.seek_to_first().unwrap();
    while iter.valid() {
        iter.next().unwrap();
    }
    table
}

fn shuffled_keys(make: fn(u64) -> Vec<u8>) -> Vec<Vec<u8>> {
    let mut rng = XorShift(11);
    let mut keys: Vec<_> = (0..TABLE_ENTRIES).map(make).collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    keys
}

fn bench_reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let hits = shuffled_keys(user_key);
    let misses = shuffled_keys(absent_user_key);
    for (name, compression) in compressions() {
        let table = open_warm(dir.path(), name, compression);
        let mut group = c.benchmark_group(format!("lookup_{name}"));
        group.throughput(Throughput::Elements(LOOKUPS_PER_ITER as u64));
        for (kind, keys) in [("hit", &hits), ("miss", &misses)] {
            let mut batches = keys.chunks(LOOKUPS_PER_ITER).cycle();
            group.bench_function(kind, |b| {
                b.iter_batched(
                    || batches.next().unwrap(),
                    |batch| {
                        for key in batch {
                            black_box(table.get(key, MAX_SEQ).unwrap());
                        }
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("iterate_{name}"));
        group.throughput(Throughput::Elements(TABLE_ENTRIES));
        group.bench_function("forward", |b| {
            b.iter(|| {
                let mut iter = table.iter();
                iter.seek_to_first().unwrap();
                while iter.valid() {
                    black_box(iter.value());
                    iter.next().unwrap();
                }
            })
        });
        group.finish();
        println!("{name}: filter {:?}", table.filter_stats());
    }
}

fn bench_checksum(c: &mut Criterion) {
    let block = vec![0x5au8; 4096];
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("xxh3_4KiB_block", |b| {
        b.iter(|| checksum(black_box(&block)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_build, bench_reads, bench_checksum
}
criterion_main!(benches);
