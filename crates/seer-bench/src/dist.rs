//! Key-index distributions: uniform, YCSB's scrambled zipfian (hot keys
//! spread over the key space) and "latest" (hot keys are the newest), plus
//! the seeded permutations the fill workloads walk.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// YCSB's default zipfian constant.
pub const ZIPFIAN_THETA: f64 = 0.99;

/// How request keys are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Zipfian over key ranks, scrambled by a hash so hot keys are spread.
    Zipfian,
}

impl KeyDist {
    /// The name used in workload names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Zipfian => "zipfian",
        }
    }
}

/// Draws zipfian ranks in `0..item_count` (rank 0 the most popular), after
/// Gray et al., "Quickly generating billion-record synthetic databases", as
/// YCSB does.
#[derive(Debug, Clone)]
pub struct Zipfian {
    item_count: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

impl Zipfian {
    /// A generator over `item_count` items with constant `theta` (0 < theta < 1).
    pub fn new(item_count: u64, theta: f64) -> Self {
        let item_count = item_count.max(1);
        let zeta_2 = zeta(2, theta);
        let zeta_n = zeta(item_count, theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / item_count as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Self {
            item_count,
            theta,
            alpha,
            zeta_n,
            eta,
        }
    }

    /// The next rank, in `0..item_count`.
    pub fn next_rank(&self, rng: &mut impl Rng) -> u64 {
        let u: f64 = rng.gen();
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.item_count - 1);
        }
        let rank =
            (self.item_count as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.item_count - 1)
    }

    /// The next rank scrambled over `0..item_count` by a hash, so the popular
    /// items are not neighbours.
    pub fn next_scrambled(&self, rng: &mut impl Rng) -> u64 {
        fnv1a_64(self.next_rank(rng)) % self.item_count
    }
}

fn zeta(item_count: u64, theta: f64) -> f64 {
    (1..=item_count).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

/// FNV-1a over the 8 little-endian bytes of `value`, as YCSB scrambles ranks.
pub fn fnv1a_64(value: u64) -> u64 {
    const OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01B3;
    value.to_le_bytes().iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// Draws key indexes for request traffic over a key space that may grow
/// (YCSB D and E insert new keys).
#[derive(Debug, Clone)]
pub struct KeyChooser {
    dist: KeyDist,
    zipfian: Option<Zipfian>,
}

impl KeyChooser {
    /// A chooser over the initial `key_count` keys. The zipfian constants are
    /// computed once here (linear in `key_count`); clone the chooser per thread.
    pub fn new(dist: KeyDist, key_count: u64) -> Self {
        let zipfian = match dist {
            KeyDist::Uniform => None,
            KeyDist::Zipfian => Some(Zipfian::new(key_count, ZIPFIAN_THETA)),
        };
        Self { dist, zipfian }
    }

    /// A key index in `0..key_count`, hot keys scattered.
    pub fn next_index(&self, key_count: u64, rng: &mut impl Rng) -> u64 {
        match &self.zipfian {
            Some(zipfian) => zipfian.next_scrambled(rng) % key_count.max(1),
            None => rng.gen_range(0..key_count.max(1)),
        }
    }

    /// A key index in `0..key_count` favouring the newest (highest) indexes
    /// under the zipfian distribution ("latest" in YCSB D).
    pub fn next_latest_index(&self, key_count: u64, rng: &mut impl Rng) -> u64 {
        let key_count = key_count.max(1);
        match &self.zipfian {
            Some(zipfian) => key_count - 1 - zipfian.next_rank(rng).min(key_count - 1),
            None => rng.gen_range(0..key_count),
        }
    }

    /// The distribution this chooser draws from.
    pub fn dist(&self) -> KeyDist {
        self.dist
    }
}

/// `0..count` in a seeded random order.
pub fn permutation(count: u64, seed: u64) -> Vec<u64> {
    let mut indexes: Vec<u64> = (0..count).collect();
    indexes.shuffle(&mut StdRng::seed_from_u64(seed));
    indexes
}

/// The RNG of thread `thread` of a job seeded with `seed`.
pub fn thread_rng(seed: u64, thread: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ fnv1a_64(thread as u64 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_deterministic_and_complete() {
        let a = permutation(1000, 3);
        assert_eq!(a, permutation(1000, 3));
        assert_ne!(a, permutation(1000, 4));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn zipfian_ranks_follow_the_power_law() {
        let item_count = 10_000;
        let zipfian = Zipfian::new(item_count, ZIPFIAN_THETA);
        let mut rng = thread_rng(1, 0);
        let draws = 200_000;
        let mut counts = vec![0u64; item_count as usize];
        for _ in 0..draws {
            counts[zipfian.next_rank(&mut rng) as usize] += 1;
        }
        // P(rank 0) = 1 / zeta(n): about 0.1 for n = 10^4 and theta 0.99.
        let expected_top = draws as f64 / zeta(item_count, ZIPFIAN_THETA);
        let top = counts[0] as f64;
        assert!(
            (top / expected_top - 1.0).abs() < 0.1,
            "top {top} vs {expected_top}"
        );
        // Rank 0 about twice as popular as rank 1 (ratio 2^theta).
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((1.7..2.3).contains(&ratio), "ratio {ratio}");
        // The hottest 1% of ranks take most of the traffic.
        let hot: u64 = counts[..100].iter().sum();
        assert!(hot as f64 > 0.5 * draws as f64, "hot share {hot}");
    }

    #[test]
    fn uniform_choices_are_spread_and_zipfian_choices_are_skewed() {
        let mut rng = thread_rng(2, 0);
        let key_count = 1000;
        for (dist, max_share_low, max_share_high) in
            [(KeyDist::Uniform, 0.0, 0.01), (KeyDist::Zipfian, 0.05, 0.5)]
        {
            let chooser = KeyChooser::new(dist, key_count);
            let mut counts = vec![0u64; key_count as usize];
            for _ in 0..100_000 {
                let index = chooser.next_index(key_count, &mut rng);
                assert!(index < key_count);
                counts[index as usize] += 1;
            }
            let max_share = *counts.iter().max().unwrap() as f64 / 100_000.0;
            assert!(
                (max_share_low..max_share_high).contains(&max_share),
                "{dist:?}: {max_share}"
            );
        }
    }

    #[test]
    fn latest_favours_the_newest_keys() {
        let chooser = KeyChooser::new(KeyDist::Zipfian, 1000);
        let mut rng = thread_rng(3, 0);
        let newest = (0..10_000)
            .filter(|_| chooser.next_latest_index(1000, &mut rng) >= 990)
            .count();
        // The 10 newest of 1000 keys get about 40% of the draws (1% if uniform).
        assert!(newest > 3_000, "{newest}");
    }
}
