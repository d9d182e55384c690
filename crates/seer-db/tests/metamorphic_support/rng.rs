//! The metamorphic test's draws (ranges, chances, log-uniform sizes,
//! weights, derived streams) over the tests' shared SplitMix64
//! (`durability_support::Rng`), so that a seed names the same operation
//! sequence and option draws on every machine and every version of the
//! dependencies.

use crate::durability_support::Rng as SplitMix64;

/// A seeded stream of draws.
pub struct Rng {
    inner: SplitMix64,
}

impl Rng {
    /// A generator whose output is a function of `seed` alone.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: SplitMix64(seed),
        }
    }

    /// A generator for the sub-stream `salt` of `seed` (e.g. one option
    /// draw), independent of how much of the main stream was used.
    pub fn derived(seed: u64, salt: u64) -> Self {
        let mut mixer = Self::new(seed ^ salt.wrapping_mul(0xA24B_AED4_963E_E407));
        Self::new(mixer.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// A `usize` in `low..=high`.
    pub fn between_usize(&mut self, low: usize, high: usize) -> usize {
        usize::try_from(self.between(low as u64, high as u64)).unwrap_or(low)
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// A size in `low..=high` drawn log-uniformly (small sizes as likely as
    /// large ones, per doubling).
    pub fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let low_bits = 63 - low.leading_zeros();
        let high_bits = 63 - high.leading_zeros();
        let bits = self.between(u64::from(low_bits), u64::from(high_bits));
        let base = 1u64 << bits;
        (base + self.below(base)).clamp(low, high)
    }

    /// The index of an entry of `weights`, chosen with probability
    /// proportional to its weight.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut pick = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if pick < weight {
                return index;
            }
            pick -= weight;
        }
        weights.len() - 1
    }
}
