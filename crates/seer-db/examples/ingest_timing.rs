//! Times a bulk load (the figures in docs/OPERATIONS.md, "Bulk load"):
//!
//! ```text
//! cargo run --release -p seer-db --example ingest_timing -- <dir> [entries]
//! ```
//!
//! Writes `entries` (default 1,000,000) entries of 100-byte incompressible
//! values under 16-byte keys into `<dir>/bulk.sst` with a `TableWriter`,
//! ingests it into a new database at `<dir>/db`, and, for comparison, puts
//! the same entries into `<dir>/db-puts` in unsynced batches of 100 and
//! flushes; prints the wall time of each step.

use std::path::Path;
use std::time::Instant;

use seer_db::{DBOptions, SyncPolicy, TableWriter, WriteOptions};

const VALUE_BYTES: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: ingest_timing <dir> [entries]")?;
    let entries: u64 = match args.next() {
        Some(entries) => entries.parse()?,
        None => 1_000_000,
    };
    let dir = Path::new(&dir);
    let options = DBOptions::default().sync_policy(SyncPolicy::Never);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut value = vec![0u8; VALUE_BYTES];
    let mut next_value = |value: &mut Vec<u8>| {
        for chunk in value.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
    };
    let file = dir.join("bulk.sst");
    let started = Instant::now();
    let mut writer = TableWriter::create(&file, &options)?;
    for i in 0..entries {
        next_value(&mut value);
        writer.put(format!("key{i:013}"), &value)?;
    }
    let written = writer.finish()?;
    println!(
        "TableWriter: {} entries, {} bytes in {:.2?}",
        written.entries,
        written.file_size_bytes,
        started.elapsed()
    );

    let db = options.clone().open(dir.join("db"))?;
    let started = Instant::now();
    let report = db.ingest(&[&file])?;
    println!(
        "ingest: {} entries, {} table bytes, level {:?} in {:.2?}",
        report.entries,
        report.table_bytes,
        report.levels,
        started.elapsed()
    );
    db.close()?;

    let db = options.open(dir.join("db-puts"))?;
    let started = Instant::now();
    for first in (0..entries).step_by(100) {
        let mut batch = db.batch();
        for i in first..(first + 100).min(entries) {
            next_value(&mut value);
            batch.put(format!("key{i:013}"), &value);
        }
        db.write(batch, WriteOptions::default())?;
    }
    db.flush()?;
    println!(
        "puts and flush of the same entries: {:.2?}",
        started.elapsed()
    );
    db.close()?;
    Ok(())
}
