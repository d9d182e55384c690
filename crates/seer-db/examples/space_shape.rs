//! Where the disk goes during seer-bench's `scale` workload: a random fill
//! of N keys (16-byte keys, 100-byte values, `SyncPolicy::Never`, the
//! default options), then an overwrite of every key once. Every 200 ms it
//! samples the directory (table files, WAL and other files), the tree's
//! levels (runs, tables, bytes) and the table files outside the tree
//! (outputs of running compactions, replaced tables not yet deleted); it
//! prints a sample every `--every` samples, the sample at the peak
//! directory size, and the directory after close, each over the live data
//! (N * 116 bytes).
//!
//! `cargo run --release -p seer-db --example space_shape -- N DIR [EVERY]`
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seer_db::{DBOptions, SyncPolicy, DB};

const VALUE_BYTES: usize = 100;
const KEY_BYTES: u64 = 16;
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// Bytes of the files under `dir`: (tables, everything else), and the
/// count of table files.
fn dir_bytes(dir: &Path) -> (u64, u64, usize) {
    let mut tables = 0;
    let mut other = 0;
    let mut table_files = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if entry.path().extension().is_some_and(|e| e == "sst") {
                tables += meta.len();
                table_files += 1;
            } else {
                other += meta.len();
            }
        }
    }
    (tables, other, table_files)
}

/// One line: the phase, the directory and the levels.
fn sample(db: &DB, dir: &Path, started: Instant, phase: u8, live_bytes: u64) -> (u64, String) {
    let (tables, other, table_files) = dir_bytes(dir);
    let metrics = db.metrics();
    let tree_tables: usize = metrics.levels.iter().map(|level| level.tables).sum();
    let tree_bytes: u64 = metrics.levels.iter().map(|level| level.size_bytes).sum();
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    let levels: Vec<String> = metrics
        .levels
        .iter()
        .filter(|level| level.tables > 0)
        .map(|level| {
            format!(
                "L{} {}r/{}t/{:.0}M",
                level.level,
                level.runs,
                level.tables,
                mib(level.size_bytes)
            )
        })
        .collect();
    let total = tables + other;
    let line = format!(
        "{:6.1}s {} dir {:6.0}M ({:.2}x) tables {:6.0}M other {:5.0}M outside the tree {} files {:.0}M imm {} | {} | {}",
        started.elapsed().as_secs_f64(),
        ["fill", "overwrite", "done"][usize::from(phase.min(2))],
        mib(total),
        total as f64 / live_bytes as f64,
        mib(tables),
        mib(other),
        table_files.saturating_sub(tree_tables),
        mib(tables.saturating_sub(tree_bytes)),
        metrics.immutable_memtables,
        levels.join(" "),
        metrics.compaction_policy,
    );
    (total, line)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let num: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/space_shape".into()));
    let every: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let live_bytes = num * (KEY_BYTES + VALUE_BYTES as u64);
    let _ = std::fs::remove_dir_all(&dir);
    let db = Arc::new(
        DBOptions::default()
            .sync_policy(SyncPolicy::Never)
            .open(&dir)
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU8::new(0));
    let started = Instant::now();
    let sampler = {
        let (db, dir, done, phase) = (
            Arc::clone(&db),
            dir.clone(),
            Arc::clone(&done),
            Arc::clone(&phase),
        );
        std::thread::spawn(move || {
            let mut peak = (0, String::new());
            let mut count = 0u64;
            while !done.load(Ordering::Relaxed) {
                let (total, line) = sample(
                    &db,
                    &dir,
                    started,
                    phase.load(Ordering::Relaxed),
                    live_bytes,
                );
                if count.is_multiple_of(every.max(1)) {
                    println!("{line}");
                }
                if total > peak.0 {
                    peak = (total, line);
                }
                count += 1;
                std::thread::sleep(SAMPLE_INTERVAL);
            }
            peak
        })
    };
    // Two permutations of 0..num (multipliers coprime with num).
    let coprime = |mut m: u64| {
        while gcd(m, num) != 1 {
            m += 1;
        }
        m
    };
    let (fill_step, overwrite_step) = (coprime(1_000_003), coprime(7_000_003));
    let value = [b'v'; VALUE_BYTES];
    for (round, step) in [fill_step, overwrite_step].into_iter().enumerate() {
        phase.store(round as u8, Ordering::Relaxed);
        for i in 0..num {
            let key = format!("{:016}", (i * step) % num);
            db.put(key.as_bytes(), &value[..]).unwrap();
        }
    }
    phase.store(2, Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    let (peak, line) = sampler.join().unwrap();
    println!("peak: {line}");
    let metrics = db.metrics();
    println!(
        "write amp {:.2}, {} flushes, {} compactions, peak {:.2}x",
        metrics.write_amplification,
        metrics.flush_count,
        metrics.compaction_count,
        peak as f64 / live_bytes as f64
    );
    db.close().unwrap();
    let (tables, other, _) = dir_bytes(&dir);
    println!(
        "after close: {:.2}x (tables {:.2}x, other {:.2}x)",
        (tables + other) as f64 / live_bytes as f64,
        tables as f64 / live_bytes as f64,
        other as f64 / live_bytes as f64
    );
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
