#![doc = include_str!("../../../README.md")]
//!
//! # seer-db
//!
//! The `DB` facade users depend on. It composes the layers (`seer-wal`'s
//! commit pipeline and recovery, `seer-memtable`, `seer-sstable`'s tables
//! and block cache, `seer-compaction`'s versions, picker and adaptive
//! policy) and owns what they deliberately do not: threads, policies and the
//! public API. It parses no file format itself.
//!
//! - [`DBOptions`] (with presets) and [`DB::open`]; [`Error`];
//! - writes: [`DB::put`], [`DB::delete`], [`DB::delete_range`], [`DB::merge`],
//!   atomic [`Batch`]es
//!   through [`DB::write`] with [`WriteOptions`];
//! - point reads: [`DB::get`], [`DB::multi_get`];
//! - iteration at a consistent point: [`DB::iter`], [`DB::range`],
//!   [`DB::prefix`], [`DB::keys`]; read-only [`Snapshot`]s
//!   ([`DB::snapshot`]); optimistic [`Transaction`]s
//!   ([`DB::begin_transaction`]);
//! - named keyspaces, each with its own memtables and tree in one WAL:
//!   [`DB::keyspace`], [`DB::keyspace_with`] ([`KeyspaceOptions`]),
//!   [`DB::keyspace_names`]; a [`Keyspace`] has the data API above;
//! - maintenance: [`DB::flush`], [`DB::compact_range`], [`DB::close`];
//! - copies: [`DB::checkpoint`], incremental backups with [`BackupEngine`];
//! - bulk load: [`TableWriter`] files added with [`DB::ingest`];
//! - observability: [`DB::metrics`], [`DB::stats`], [`DB::health`].

mod background;
mod backpressure;
mod backup;
mod batch;
mod checkpoint;
mod db;
mod dir;
mod engine;
mod error;
mod health;
mod ingest;
mod iter;
mod keyspace;
mod keyspace_routes;
mod level0;
mod lifecycle;
mod memtables;
mod metrics;
mod options;
mod pipeline;
mod range_del;
mod recovery;
mod report;
mod snapshot;
mod snapshot_registry;
mod transaction;
mod tree;
mod verify;

pub use backup::{BackupEngine, BackupId, BackupInfo};
pub use batch::Batch;
pub use checkpoint::{CheckpointOptions, CheckpointReport};
pub use db::DB;
pub use error::{Error, Result};
pub use health::{Health, HealthStatus};
pub use ingest::{IngestReport, TableWriter, TableWriterReport};
pub use iter::{Cursor, DbIterator, KeyIterator, KeyRange};
pub use keyspace::Keyspace;
pub use metrics::OpMetrics;
pub use options::{CompactionPolicy, DBOptions, KeyspaceOptions};
pub use report::{LevelMetrics, MetricsSnapshot};
pub use seer_compaction::{CompactionFilter, FilterContext, FilterDecision, PolicyParams};
pub use seer_core::{
    Clock, Corruption, IoError, ManualClock, MergeOperator, StringAppendOperator, SystemClock,
    U64AddOperator,
};
pub use seer_sstable::Compression;
pub use seer_wal::{SyncPolicy, WalRecoveryMode, WriteOptions};
pub use snapshot::Snapshot;
pub use transaction::{Transaction, TransactionIterator};
pub use verify::VerifyReport;
