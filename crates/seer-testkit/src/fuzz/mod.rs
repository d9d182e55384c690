//! The entry points of the cargo-fuzz targets in `crates/*/fuzz`: each
//! target calls one of these, and so does its corpus-replay test
//! (`tests/corpus_replay.rs`). Any input must give results or errors of the
//! library under test, never a panic; a panic here is a finding.

mod db_ops;
mod manifest;
mod memtable;
mod sstable;
mod wal;

pub use db_ops::db_ops;
pub use manifest::{current_reader, manifest_reader};
pub use memtable::memtable_concurrent;
pub use sstable::{block_decoder, range_del_decoder, table_reader};
pub use wal::wal_reader;
