//! # seer-compaction
//!
//! The shape of seerdb's LSM tree, and how it changes. It owns:
//!
//! - [`policy`] and [`cost`]: Dostoevsky's fluid LSM parameters `(T, K, Z)`
//!   (leveling, tiering and lazy leveling are presets) and the closed-form
//!   cost model of updates, lookups, range scans and space, with Monkey's
//!   allocation of bloom-filter bits across levels;
//! - [`adaptive`]: the default mode, which counts the workload's operations
//!   and moves `(T, K, Z)` to the cheapest candidate, with hysteresis;
//! - [`version`] and [`edit`]: immutable [`Version`]s (levels of sorted runs
//!   of [`TableMeta`]) and the [`VersionEdit`]s between them;
//! - [`version_set`] and [`manifest`]: the current version behind `arc-swap`,
//!   the manifest log in seer-log's framing, `CURRENT`, recovery, and which
//!   table files no live version references;
//! - [`picker`]: which runs to merge next (scores, level-0 trigger, dynamic
//!   level sizing, manual `compact_range`);
//! - [`executor`]: the merge itself (snapshots, tombstones, merge operands,
//!   output cutting, also where the age rule needs it) and the memtable
//!   flush;
//! - [`filter`]: [`CompactionFilter`], the user's keep / remove / change
//!   decision on the puts a compaction keeps, and the rule of which entries
//!   it is shown;
//! - [`range_del`]: [`RangeDelCompaction`], the rules a compaction applies to
//!   range tombstones and the versions they delete (per stripe, at the
//!   bottom, and where consecutive outputs split them), which the executor
//!   applies in every flush and compaction;
//! - [`inspect`]: [`ManifestInspector`], a read-only walk over one manifest
//!   for tools, listing every version edit with its offset and reporting
//!   damage and a torn tail instead of failing on them.
//!
//! It deliberately owns no thread, no scheduling and no file deletion
//! policy: `seer-db` runs flushes and compactions, registers them in a
//! [`picker::CompactionsInProgress`], logs their edits with
//! [`VersionSet::log_and_apply`] and deletes the files reported obsolete.
//! The table format belongs to `seer-sstable`, the log framing to
//! `seer-log`. The policy, cost model and simulator results are described in
//! `docs/COMPACTION.md`, the manifest bytes in `docs/FORMATS.md`.

pub mod adaptive;
pub mod cost;
pub mod edit;
mod error;
pub mod executor;
pub mod filter;
pub mod inspect;
pub mod manifest;
pub mod picker;
pub mod policy;
pub mod range_del;
pub mod version;
pub mod version_set;

pub use adaptive::{
    AdaptiveOptions, AdaptivePolicy, PolicyDecision, WorkloadStats, WorkloadWindow,
};
pub use edit::{AddedTable, RemovedTable, VersionEdit};
pub use error::{Error, Result};
pub use executor::{
    flush, prepare_compaction, run_compaction, AgeBounds, AgeCursor, CompactionResult,
    CompactionStats, ExecutorContext, FlushInput, KeyCompactor, PreparedCompaction,
    MAX_FILTER_BITS_PER_KEY,
};
pub use filter::{CompactionFilter, EntryFilter, FilterContext, FilterDecision};
pub use inspect::{InspectedEdit, ManifestInspector};
pub use picker::{
    Compaction, CompactionReason, CompactionsInProgress, ManualPick, Picker, PickerOptions,
};
pub use policy::{PolicyError, PolicyParams};
pub use range_del::{output_boundary, OutputSplitter, RangeDelCompaction};
pub use seer_sstable::TableMeta;
pub use version::{EditError, InvariantViolation, Level, SortedRun, Version, INVARIANT_CHECKS};
pub use version_set::{LoadedManifest, ManifestRecoveryReport, VersionSet, VersionSetOptions};
