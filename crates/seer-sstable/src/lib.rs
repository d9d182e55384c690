//! # seer-sstable
//!
//! seerdb's on-disk sorted tables. It will own the block format with prefix
//! compression, bloom filters, zstd compression, checksums, the mmap reader,
//! the block cache and table iterators.
