//! Times checkpoints and backups of a large database (the figures in
//! docs/OPERATIONS.md):
//!
//! ```text
//! cargo run --release -p seer-db --example checkpoint_timing -- <dir> [bytes]
//! ```
//!
//! Fills `<dir>/db` with about `bytes` (default 1 GiB) of incompressible
//! 1000-byte values under 16-byte keys (unsynced batches of 100), flushes,
//! then takes a checkpoint with linked tables and one with copied tables
//! into `<dir>`, then a first and a second (incremental, nothing new)
//! backup into `<dir>/backups`, printing the wall time of each, the tables
//! placed and the database's size on disk.

use std::path::Path;
use std::time::Instant;

use seer_db::{BackupEngine, CheckpointOptions, DBOptions, SyncPolicy, WriteOptions};

const VALUE_BYTES: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: checkpoint_timing <dir> [bytes]")?;
    let total_bytes: u64 = match args.next() {
        Some(bytes) => bytes.parse()?,
        None => 1 << 30,
    };
    let dir = Path::new(&dir);
    let db = DBOptions::default()
        .sync_policy(SyncPolicy::Never)
        .open(dir.join("db"))?;
    let entries = total_bytes / (VALUE_BYTES as u64 + 16);
    let started = Instant::now();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut value = vec![0u8; VALUE_BYTES];
    for first in (0..entries).step_by(100) {
        let mut batch = db.batch();
        for index in first..(first + 100).min(entries) {
            for chunk in value.chunks_mut(8) {
                // xorshift64: incompressible values.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            batch.put(format!("key{index:013}"), &value);
        }
        db.write(batch, WriteOptions::default())?;
    }
    db.flush()?;
    let db_bytes = dir_bytes(&dir.join("db"))?;
    println!(
        "filled {entries} entries, {db_bytes} bytes on disk, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (name, options) in [
        ("linked", CheckpointOptions::default()),
        ("copied", CheckpointOptions::default().copy_tables(true)),
    ] {
        let started = Instant::now();
        let report = db.checkpoint_with(dir.join(name), options)?;
        println!(
            "checkpoint {name}: {:.3} s, {} tables linked, {} copied ({} bytes), seq {}",
            started.elapsed().as_secs_f64(),
            report.tables_linked_count,
            report.tables_copied_count,
            report.copied_bytes,
            report.seq
        );
    }
    let mut backups = BackupEngine::open(dir.join("backups"))?;
    for name in ["first", "second"] {
        let started = Instant::now();
        let id = backups.create_backup(&db)?;
        println!(
            "backup {id} ({name}): {:.3} s, {} bytes in the backup directory",
            started.elapsed().as_secs_f64(),
            dir_bytes(&dir.join("backups").join("shared"))?
        );
    }
    db.close()?;
    Ok(())
}

/// The bytes of the files in `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total_bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        total_bytes += entry?.metadata()?.len();
    }
    Ok(total_bytes)
}
