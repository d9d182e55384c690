//! # seer-compaction
//!
//! The shape of seerdb's LSM tree. It will own versions and the manifest, the
//! compaction policy (Dostoevsky's fluid LSM, adaptive by default) and the
//! merge that executes a compaction. It owns no threads.

pub mod adaptive;
pub mod cost;
pub mod edit;
mod error;
pub mod executor;
pub mod manifest;
pub mod picker;
pub mod policy;
pub mod version;
pub mod version_set;

pub use adaptive::{
    AdaptiveOptions, AdaptivePolicy, PolicyDecision, WorkloadStats, WorkloadWindow,
};
pub use edit::{AddedTable, RemovedTable, VersionEdit};
pub use error::{Error, Result};
pub use executor::{
    flush, run_compaction, CompactionResult, CompactionStats, ExecutorContext, KeyCompactor,
};
pub use picker::{
    Compaction, CompactionReason, CompactionsInProgress, ManualPick, Picker, PickerOptions,
};
pub use policy::{PolicyError, PolicyParams};
pub use seer_sstable::TableMeta;
pub use version::{EditError, Level, SortedRun, Version};
pub use version_set::{RecoveryReport, VersionSet, VersionSetOptions};
