//! # seer-wal
//!
//! seerdb's write-ahead log. It will own the WAL record codec (put, delete,
//! merge and atomic batches with sequence numbers), the checksummed framing,
//! segment files, sync policies, the group-commit pipeline and the recovery
//! reader. It does not know about memtables or tables.
