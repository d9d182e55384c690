//! # seer-compaction
//!
//! The shape of seerdb's LSM tree. It will own versions and the manifest, the
//! compaction policy (Dostoevsky's fluid LSM, adaptive by default) and the
//! merge that executes a compaction. It owns no threads.

pub mod adaptive;
pub mod cost;
pub mod policy;

pub use adaptive::{
    AdaptiveOptions, AdaptivePolicy, PolicyDecision, WorkloadStats, WorkloadWindow,
};
pub use policy::{PolicyError, PolicyParams};
