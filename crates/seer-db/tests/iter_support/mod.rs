//! Shared setup of the read-side tests (iterators, snapshots, transactions).

use seer_db::{DBOptions, SyncPolicy};

/// Options with tiny memtables, tables and blocks, so that a few hundred
/// writes span several memtables and tables; no fsync per write.
pub fn tiny_options() -> DBOptions {
    DBOptions::default()
        .memtable_capacity(4 << 10)
        .target_file_size(4 << 10)
        .block_size(256)
        .sync_policy(SyncPolicy::Never)
}
