//! # seer-db
//!
//! The `DB` facade users depend on. It will compose the WAL, memtable, table
//! and compaction layers and own threads, policies and the public API.
