//! # seer-memtable
//!
//! seerdb's in-memory write buffer. It will own the partitioned, lock-free
//! MVCC memtable (skip lists keyed by internal key), its size accounting and
//! ordered iteration across partitions. It knows nothing of the WAL or tables.
