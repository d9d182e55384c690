//! Shared setup of the read-side tests (iterators, snapshots, transactions).

#![allow(dead_code)] // each test file uses a part

use seer_db::{DBOptions, StringAppendOperator, SyncPolicy, DB};

/// Options with tiny memtables, tables and blocks, so that a few hundred
/// writes span several memtables and tables; no fsync per write.
pub fn tiny_options() -> DBOptions {
    DBOptions::default()
        .memtable_capacity(4 << 10)
        .target_file_size(4 << 10)
        .block_size(256)
        .sync_policy(SyncPolicy::Never)
}

/// Opens a database in `dir` with [`tiny_options`] and a `,`-joining
/// string-append merge operator.
pub fn open_appending(dir: &tempfile::TempDir) -> DB {
    tiny_options()
        .merge_operator(StringAppendOperator::new(","))
        .open(dir.path())
        .expect("open the test database")
}
