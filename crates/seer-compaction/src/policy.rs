//! The shape parameters of Dostoevsky's fluid LSM-tree: size ratio `T`, at
//! most `K` sorted runs on each level below the largest and at most `Z` runs on
//! the largest level. This module owns their validation, the named presets
//! and nothing else; the costs live in [`crate::cost`].

use std::fmt;

/// Why a `(T, K, Z)` triple was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `T` must be at least 2 (and at most [`MAX_SIZE_RATIO`]).
    #[error("size ratio T={0} outside 2..={MAX_SIZE_RATIO}")]
    SizeRatio(u32),
    /// `K` and `Z` must lie in `1..=T-1`.
    #[error("{name}={value} outside 1..={max} for T={size_ratio}")]
    RunCount {
        /// `K` or `Z`.
        name: &'static str,
        /// The refused value.
        value: u32,
        /// The largest allowed value, `T - 1`.
        max: u32,
        /// The size ratio it was checked against.
        size_ratio: u32,
    },
}

/// The largest size ratio accepted.
pub const MAX_SIZE_RATIO: u32 = 64;

/// A validated `(T, K, Z)`: size ratio, runs per level below the largest,
/// runs at the largest level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyParams {
    size_ratio_t: u32,
    runs_per_level_k: u32,
    runs_at_largest_z: u32,
}

impl PolicyParams {
    /// A policy with size ratio `t`, at most `k` runs on levels below the
    /// largest and at most `z` runs on the largest; `2 <= t <= 64` and
    /// `1 <= k, z <= t - 1`.
    pub fn new(t: u32, k: u32, z: u32) -> Result<Self, PolicyError> {
        if !(2..=MAX_SIZE_RATIO).contains(&t) {
            return Err(PolicyError::SizeRatio(t));
        }
        for (name, value) in [("K", k), ("Z", z)] {
            if !(1..t).contains(&value) {
                return Err(PolicyError::RunCount {
                    name,
                    value,
                    max: t - 1,
                    size_ratio: t,
                });
            }
        }
        Ok(Self {
            size_ratio_t: t,
            runs_per_level_k: k,
            runs_at_largest_z: z,
        })
    }

    /// Leveling: one run per level (`K = Z = 1`).
    pub fn leveling(t: u32) -> Result<Self, PolicyError> {
        Self::new(t, 1, 1)
    }

    /// Tiering: `T - 1` runs per level (`K = Z = T - 1`).
    pub fn tiering(t: u32) -> Result<Self, PolicyError> {
        Self::new(t, t.saturating_sub(1).max(1), t.saturating_sub(1).max(1))
    }

    /// Lazy leveling: tiering below the largest level, leveling at it
    /// (`K = T - 1`, `Z = 1`).
    pub fn lazy_leveling(t: u32) -> Result<Self, PolicyError> {
        Self::new(t, t.saturating_sub(1).max(1), 1)
    }

    /// The size ratio `T` between adjacent levels.
    pub fn size_ratio_t(&self) -> u32 {
        self.size_ratio_t
    }

    /// `K`: the most runs a level below the largest may hold.
    pub fn runs_per_level_k(&self) -> u32 {
        self.runs_per_level_k
    }

    /// `Z`: the most runs the largest level may hold.
    pub fn runs_at_largest_z(&self) -> u32 {
        self.runs_at_largest_z
    }

    /// The most runs level `level` may hold, `K` below the largest, `Z` on it.
    pub fn max_runs(&self, is_largest_level: bool) -> u32 {
        if is_largest_level {
            self.runs_at_largest_z
        } else {
            self.runs_per_level_k
        }
    }

    /// The preset this triple matches, if any.
    pub fn preset_name(&self) -> Option<&'static str> {
        let tiered = self.size_ratio_t - 1;
        match (self.runs_per_level_k, self.runs_at_largest_z) {
            (1, 1) => Some("leveling"),
            (k, z) if k == tiered && z == tiered => Some("tiering"),
            (k, 1) if k == tiered => Some("lazy leveling"),
            _ => None,
        }
    }
}

impl Default for PolicyParams {
    /// Lazy leveling with `T = 10` (see `docs/COMPACTION.md` for why).
    fn default() -> Self {
        Self {
            size_ratio_t: 10,
            runs_per_level_k: 9,
            runs_at_largest_z: 1,
        }
    }
}

impl fmt::Display for PolicyParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "T={} K={} Z={}",
            self.size_ratio_t, self.runs_per_level_k, self.runs_at_largest_z
        )?;
        match self.preset_name() {
            Some(name) => write!(f, " ({name})"),
            None => write!(f, " (fluid)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_validation() {
        assert_eq!(
            PolicyParams::leveling(10).unwrap().preset_name(),
            Some("leveling")
        );
        let tiering = PolicyParams::tiering(4).unwrap();
        assert_eq!(
            (tiering.runs_per_level_k(), tiering.runs_at_largest_z()),
            (3, 3)
        );
        assert_eq!(tiering.preset_name(), Some("tiering"));
        let lazy = PolicyParams::lazy_leveling(8).unwrap();
        assert_eq!(lazy.to_string(), "T=8 K=7 Z=1 (lazy leveling)");
        assert_eq!(
            PolicyParams::default(),
            PolicyParams::lazy_leveling(10).unwrap()
        );
        assert_eq!(
            PolicyParams::new(6, 2, 3).unwrap().to_string(),
            "T=6 K=2 Z=3 (fluid)"
        );
        // T = 2 makes all three presets coincide.
        assert_eq!(
            PolicyParams::tiering(2).unwrap(),
            PolicyParams::leveling(2).unwrap()
        );
        assert!(matches!(
            PolicyParams::new(1, 1, 1),
            Err(PolicyError::SizeRatio(1))
        ));
        assert!(PolicyParams::new(65, 1, 1).is_err());
        assert!(PolicyParams::new(10, 0, 1).is_err());
        assert!(PolicyParams::new(10, 1, 10).is_err());
        assert_eq!(PolicyParams::new(10, 9, 9).unwrap().max_runs(true), 9);
    }
}
