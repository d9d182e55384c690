//! The Dostoevsky cost model (Dayan and Idreos, SIGMOD 2018) and Monkey's
//! filter-memory allocation (Dayan, Athanassoulis and Idreos, SIGMOD 2017).
//!
//! Costs are in I/Os per operation, as functions of the policy `(T, K, Z)`
//! and a [`TreeInputs`] (entries `N`, entries per flushed buffer `P`, filter
//! bits per entry `M/N`, entries per page `B`, entries of a long range `s`).
//! The tree has `L = ceil(log_T(N/P * (T-1)/T))` levels; level `i` holds
//! `T^(i-L)` of the largest level's entries, and `K` runs (`Z` on level `L`).
//! The sums over levels are evaluated numerically, which for many levels
//! converges to the paper's closed forms (the unit tests check that).
//!
//! This module is pure arithmetic: no I/O, no state.

use crate::policy::PolicyParams;

/// `ln(2)^2`: a bloom filter with `b` bits per entry has false-positive rate
/// `exp(-b * ln(2)^2)` at its optimal hash count.
pub const LN2_SQUARED: f64 = std::f64::consts::LN_2 * std::f64::consts::LN_2;

/// The size of the tree the costs are evaluated for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeInputs {
    /// `N`: entries in the tree.
    pub entries_count: f64,
    /// `P`: entries that reach level 1 in one step (a flushed buffer, or the
    /// L0 trigger times the flush size).
    pub buffer_entries_count: f64,
    /// `M/N`: bloom-filter bits per entry, over the whole tree.
    pub filter_bits_per_entry: f64,
    /// `B`: entries per page (disk block).
    pub entries_per_page: f64,
    /// `s`: entries returned by a long range lookup.
    pub long_range_entries_count: f64,
}

impl Default for TreeInputs {
    /// A 100 M-entry tree with 64 MiB buffers of 1 KiB entries, 10 bits per
    /// entry, 4 entries per 4 KiB page and 1000-entry long ranges.
    fn default() -> Self {
        Self {
            entries_count: 1e8,
            buffer_entries_count: 65_536.0,
            filter_bits_per_entry: 10.0,
            entries_per_page: 4.0,
            long_range_entries_count: 1000.0,
        }
    }
}

/// One level as the filter allocation sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelShape {
    /// Entries on the level (all its runs).
    pub entries_count: f64,
    /// Sorted runs on the level.
    pub runs_count: f64,
}

/// The model's costs for one policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// `L`: levels below the buffer.
    pub levels_count: usize,
    /// `W`: amortised I/Os per update (each entry rewritten `(T-1)/(K+1)`
    /// times per level below the largest and `(T-1)/(Z+1)` times on it,
    /// `B` entries per I/O).
    pub update_w: f64,
    /// `R`: expected I/Os of a point lookup that finds nothing (the sum of
    /// the false-positive rates of every run's filter, Monkey allocation).
    pub zero_result_lookup_r: f64,
    /// `V`: expected I/Os of a point lookup that finds its key on the largest
    /// level: one true read, the false positives of the smaller levels, and
    /// on average half of the other runs of the largest level.
    pub point_lookup_v: f64,
    /// `Q` of a short range: one seek per run, `K (L-1) + Z`.
    pub short_range_q: f64,
    /// `Q` of a long range of `s` entries: the seeks plus `s/B (Z + 1/T)`.
    pub long_range_q: f64,
    /// Worst-case space amplification: obsolete copies in the smaller levels
    /// (`1/T + 1/T^2 + ... = 1/(T-1)` of the largest, full; Dostoevsky
    /// writes its leading term `1/T`, which at `T = 2` is half the truth)
    /// and in the extra runs of the largest level (`Z - 1`).
    pub space_amplification: f64,
}

/// The fraction of each operation kind in a workload (fractions sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OperationMix {
    /// Puts, deletes and merges.
    pub updates: f64,
    /// Point lookups that found nothing.
    pub zero_result_lookups: f64,
    /// Point lookups that found a value.
    pub point_lookups: f64,
    /// Range scans of a few entries.
    pub short_ranges: f64,
    /// Range scans of about `s` entries.
    pub long_ranges: f64,
}

impl OperationMix {
    /// The mix with every fraction divided by their sum (all zero stays zero).
    pub fn normalized(self) -> Self {
        let total = self.updates
            + self.zero_result_lookups
            + self.point_lookups
            + self.short_ranges
            + self.long_ranges;
        if total <= 0.0 {
            return Self::default();
        }
        Self {
            updates: self.updates / total,
            zero_result_lookups: self.zero_result_lookups / total,
            point_lookups: self.point_lookups / total,
            short_ranges: self.short_ranges / total,
            long_ranges: self.long_ranges / total,
        }
    }
}

impl Costs {
    /// Expected I/Os per operation of `mix`: `w W + r R + v V + q Q`.
    pub fn weighted(&self, mix: &OperationMix) -> f64 {
        mix.updates * self.update_w
            + mix.zero_result_lookups * self.zero_result_lookup_r
            + mix.point_lookups * self.point_lookup_v
            + mix.short_ranges * self.short_range_q
            + mix.long_ranges * self.long_range_q
    }
}

/// `L`, the number of levels below the buffer for `N` entries.
pub fn levels_count(params: PolicyParams, inputs: &TreeInputs) -> usize {
    let t = f64::from(params.size_ratio_t());
    let ratio = inputs.entries_count / inputs.buffer_entries_count.max(1.0) * (t - 1.0) / t;
    if ratio <= 1.0 {
        return 1;
    }
    // Round away float noise before the ceiling (ratio = T^k exactly).
    let levels = (ratio.ln() / t.ln() - 1e-9).ceil();
    (levels as usize).max(1)
}

/// The model's levels 1..=L: entries per level growing by `T`, summing to `N`,
/// `K` runs below the largest and `Z` on it.
pub fn model_levels(params: PolicyParams, inputs: &TreeInputs) -> Vec<LevelShape> {
    let levels = levels_count(params, inputs);
    let t = f64::from(params.size_ratio_t());
    let weights: Vec<f64> = (1..=levels)
        .map(|i| t.powi(i as i32 - levels as i32))
        .collect();
    let weight_sum: f64 = weights.iter().sum();
    weights
        .iter()
        .enumerate()
        .map(|(index, weight)| LevelShape {
            entries_count: inputs.entries_count * weight / weight_sum,
            runs_count: f64::from(params.max_runs(index + 1 == levels)),
        })
        .collect()
}

/// The false-positive rate of a bloom filter with `bits` bits per entry.
pub fn false_positive_rate_for_bits(bits_per_entry: f64) -> f64 {
    (-bits_per_entry.max(0.0) * LN2_SQUARED).exp().min(1.0)
}

/// The bits per entry a bloom filter needs for false-positive rate `rate`
/// (zero for a rate of 1 or more: no filter).
pub fn bits_for_false_positive_rate(rate: f64) -> f64 {
    if rate >= 1.0 {
        0.0
    } else {
        -rate.max(f64::MIN_POSITIVE).ln() / LN2_SQUARED
    }
}

/// Monkey: the per-run false-positive rate of each level that minimises the
/// sum of false-positive rates over all runs, for a total filter memory of
/// `bits_per_entry` times all entries. The optimum makes each rate
/// proportional to the entries per run of its level; levels whose rate would
/// reach 1 get no filter and the memory goes to the others.
pub fn monkey_false_positive_rates(levels: &[LevelShape], bits_per_entry: f64) -> Vec<f64> {
    let mut rates = vec![1.0; levels.len()];
    let total_entries: f64 = levels.iter().map(|l| l.entries_count.max(0.0)).sum();
    if total_entries <= 0.0 || bits_per_entry <= 0.0 {
        return rates;
    }
    let memory_nats = bits_per_entry * total_entries * LN2_SQUARED;
    let mut active: Vec<usize> = (0..levels.len())
        .filter(|&i| levels[i].entries_count > 0.0 && levels[i].runs_count > 0.0)
        .collect();
    while !active.is_empty() {
        let active_entries: f64 = active.iter().map(|&i| levels[i].entries_count).sum();
        let entropy: f64 = active
            .iter()
            .map(|&i| levels[i].entries_count * entries_per_run(&levels[i]).ln())
            .sum();
        let ln_lambda = (-memory_nats - entropy) / active_entries;
        let rate_of = |i: usize| (ln_lambda + entries_per_run(&levels[i]).ln()).exp();
        let before = active.len();
        active.retain(|&i| rate_of(i) < 1.0);
        if active.len() == before {
            for &i in &active {
                rates[i] = rate_of(i);
            }
            break;
        }
    }
    rates
}

/// Monkey's bits per entry for each level (see [`monkey_false_positive_rates`]).
pub fn monkey_bits_per_key(levels: &[LevelShape], bits_per_entry: f64) -> Vec<f64> {
    monkey_false_positive_rates(levels, bits_per_entry)
        .into_iter()
        .map(bits_for_false_positive_rate)
        .collect()
}

fn entries_per_run(level: &LevelShape) -> f64 {
    level.entries_count / level.runs_count
}

/// The model's costs of `params` for a tree of `inputs`.
pub fn evaluate(params: PolicyParams, inputs: &TreeInputs) -> Costs {
    let t = f64::from(params.size_ratio_t());
    let k = f64::from(params.runs_per_level_k());
    let z = f64::from(params.runs_at_largest_z());
    let levels = model_levels(params, inputs);
    let levels_count = levels.len();
    let smaller_levels = (levels_count - 1) as f64;
    let page = inputs.entries_per_page.max(1.0);
    let rates = monkey_false_positive_rates(&levels, inputs.filter_bits_per_entry);
    let zero_result: f64 = levels
        .iter()
        .zip(&rates)
        .map(|(level, rate)| level.runs_count * rate)
        .sum();
    let largest_rate = rates.last().copied().unwrap_or(1.0);
    let short_range = k * smaller_levels + z;
    Costs {
        levels_count,
        update_w: ((t - 1.0) / (k + 1.0) * smaller_levels + (t - 1.0) / (z + 1.0)) / page,
        zero_result_lookup_r: zero_result,
        point_lookup_v: 1.0 + zero_result - z * largest_rate + largest_rate * (z - 1.0) / 2.0,
        short_range_q: short_range,
        long_range_q: short_range + inputs.long_range_entries_count / page * (z + 1.0 / t),
        space_amplification: z - 1.0 + 1.0 / (t - 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t: u32, k: u32, z: u32) -> PolicyParams {
        PolicyParams::new(t, k, z).unwrap()
    }

    /// A tree deep enough that the level sums converge to the closed forms.
    fn deep_tree(t: u32) -> TreeInputs {
        TreeInputs {
            entries_count: 1e15,
            buffer_entries_count: 1e15 / f64::from(t).powi(40),
            filter_bits_per_entry: 10.0,
            entries_per_page: 64.0,
            long_range_entries_count: 6400.0,
        }
    }

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        ((actual - expected) / expected).abs() < tolerance
    }

    #[test]
    fn level_count_follows_log_t() {
        let p = params(10, 1, 1);
        let mut inputs = TreeInputs {
            entries_count: 1000.0,
            buffer_entries_count: 1000.0,
            ..TreeInputs::default()
        };
        assert_eq!(levels_count(p, &inputs), 1);
        inputs.entries_count = 1000.0 * 10.0 * 10.0 / 0.9;
        assert_eq!(levels_count(p, &inputs), 2);
        inputs.entries_count *= 1.01;
        assert_eq!(levels_count(p, &inputs), 3);
        let shape = model_levels(params(10, 9, 1), &inputs);
        assert_eq!(shape.len(), 3);
        assert_eq!(shape[0].runs_count, 9.0);
        assert_eq!(shape[2].runs_count, 1.0);
        let total: f64 = shape.iter().map(|l| l.entries_count).sum();
        assert!(close(total, inputs.entries_count, 1e-9));
        assert!(close(
            shape[2].entries_count / shape[1].entries_count,
            10.0,
            1e-9
        ));
    }

    #[test]
    fn zero_result_cost_matches_the_closed_forms() {
        for t in [2u32, 4, 10, 16] {
            let inputs = deep_tree(t);
            let tf = f64::from(t);
            let base = (-10.0 * LN2_SQUARED).exp() * tf.powf(tf / (tf - 1.0));
            // Leveling: e^(-M/N ln2^2) T^(T/(T-1)) / (T-1).
            let leveling = evaluate(PolicyParams::leveling(t).unwrap(), &inputs);
            assert!(close(
                leveling.zero_result_lookup_r,
                base / (tf - 1.0),
                1e-3
            ));
            // Tiering: e^(-M/N ln2^2) T^(T/(T-1)).
            let tiering = evaluate(PolicyParams::tiering(t).unwrap(), &inputs);
            assert!(close(tiering.zero_result_lookup_r, base, 1e-3));
            // Fluid: ... * Z^((T-1)/T) K^(1/T) / (T-1).
            for (k, z) in [(1, 1), (t - 1, 1), (1, t - 1), (t / 2, t / 2)] {
                let fluid = evaluate(params(t, k, z), &inputs);
                let expected = base / (tf - 1.0)
                    * f64::from(z).powf((tf - 1.0) / tf)
                    * f64::from(k).powf(1.0 / tf);
                assert!(
                    close(fluid.zero_result_lookup_r, expected, 1e-3),
                    "T={t} K={k} Z={z}: {} vs {expected}",
                    fluid.zero_result_lookup_r
                );
            }
        }
    }

    #[test]
    fn a_full_tree_of_size_ratio_two_counts_twice_its_live_data() {
        // Levels of 1, 1/2, 1/4, ... of the largest: the smaller ones hold as
        // much as the largest, so the worst case is 2x, not 1.5x.
        let inputs = TreeInputs::default();
        let leveling = evaluate(PolicyParams::leveling(2).unwrap(), &inputs);
        assert!(close(leveling.space_amplification, 1.0, 1e-9));
        let lazy = evaluate(PolicyParams::lazy_leveling(4).unwrap(), &inputs);
        assert!(close(lazy.space_amplification, 1.0 / 3.0, 1e-9));
    }

    #[test]
    fn update_and_range_costs_match_the_textbook_forms() {
        let t = 10u32;
        let inputs = deep_tree(t);
        let levels = levels_count(PolicyParams::leveling(t).unwrap(), &inputs) as f64;
        let b = inputs.entries_per_page;
        let leveling = evaluate(PolicyParams::leveling(t).unwrap(), &inputs);
        assert!(close(leveling.update_w, levels * 9.0 / 2.0 / b, 1e-9));
        assert!(close(leveling.short_range_q, levels, 1e-9));
        assert!(close(
            leveling.long_range_q,
            levels + 6400.0 / b * 1.1,
            1e-9
        ));
        assert!(close(leveling.space_amplification, 1.0 / 9.0, 1e-9));
        let tiering = evaluate(PolicyParams::tiering(t).unwrap(), &inputs);
        assert!(close(tiering.update_w, levels * 9.0 / 10.0 / b, 1e-9));
        assert!(close(tiering.short_range_q, levels * 9.0, 1e-9));
        assert!(close(tiering.space_amplification, 8.0 + 1.0 / 9.0, 1e-9));
        let lazy = evaluate(PolicyParams::lazy_leveling(t).unwrap(), &inputs);
        assert!(close(lazy.update_w, ((levels - 1.0) * 0.9 + 4.5) / b, 1e-9));
        // Lazy leveling: R within a small factor of leveling, V = 1 + R - p_L.
        assert!(lazy.zero_result_lookup_r < 2.0 * leveling.zero_result_lookup_r);
        assert!(lazy.update_w < 0.5 * leveling.update_w);
        assert!(lazy.point_lookup_v < 1.0 + lazy.zero_result_lookup_r);
        assert!(leveling.point_lookup_v > 1.0);
    }

    #[test]
    fn monkey_beats_uniform_with_the_same_memory() {
        let inputs = TreeInputs {
            entries_count: 1e9,
            buffer_entries_count: 1e5,
            filter_bits_per_entry: 5.0,
            ..TreeInputs::default()
        };
        for p in [params(10, 1, 1), params(10, 9, 9), params(4, 3, 1)] {
            let levels = model_levels(p, &inputs);
            let monkey = monkey_false_positive_rates(&levels, 5.0);
            let uniform = false_positive_rate_for_bits(5.0);
            let monkey_r: f64 = levels
                .iter()
                .zip(&monkey)
                .map(|(l, r)| l.runs_count * r)
                .sum();
            let uniform_r: f64 = levels.iter().map(|l| l.runs_count * uniform).sum();
            assert!(monkey_r < uniform_r, "{p}: {monkey_r} vs {uniform_r}");
            // Same memory: sum of entries times bits.
            let bits = monkey_bits_per_key(&levels, 5.0);
            let used: f64 = levels
                .iter()
                .zip(&bits)
                .map(|(l, b)| l.entries_count * b)
                .sum();
            assert!(close(used, 5.0 * inputs.entries_count, 1e-6));
            // Smaller levels get more bits.
            assert!(bits.windows(2).all(|w| w[0] >= w[1]));
        }
    }

    #[test]
    fn monkey_caps_rates_at_one_and_handles_empty_input() {
        // One run of 1000 entries against 1000 runs of one entry: the big run
        // would need a rate of about 1000 times the small runs', so it gets
        // no filter and its memory goes to the small runs.
        let levels = [
            LevelShape {
                entries_count: 1000.0,
                runs_count: 1.0,
            },
            LevelShape {
                entries_count: 1000.0,
                runs_count: 1000.0,
            },
        ];
        let rates = monkey_false_positive_rates(&levels, 1.0);
        assert_eq!(rates[0], 1.0);
        assert!(close(rates[1], false_positive_rate_for_bits(2.0), 1e-9));
        assert_eq!(monkey_false_positive_rates(&levels, 0.0), vec![1.0, 1.0]);
        assert_eq!(monkey_false_positive_rates(&[], 10.0), Vec::<f64>::new());
        assert_eq!(bits_for_false_positive_rate(1.0), 0.0);
        assert!(close(
            bits_for_false_positive_rate(false_positive_rate_for_bits(7.0)),
            7.0,
            1e-9
        ));
    }

    #[test]
    fn weighted_cost_prefers_tiering_for_writes_and_leveling_for_scans() {
        let inputs = TreeInputs::default();
        let writes = OperationMix {
            updates: 1.0,
            ..OperationMix::default()
        };
        let scans = OperationMix {
            short_ranges: 1.0,
            ..OperationMix::default()
        };
        let leveling = evaluate(PolicyParams::leveling(10).unwrap(), &inputs);
        let tiering = evaluate(PolicyParams::tiering(10).unwrap(), &inputs);
        assert!(tiering.weighted(&writes) < leveling.weighted(&writes));
        assert!(leveling.weighted(&scans) < tiering.weighted(&scans));
        let mix = OperationMix {
            updates: 2.0,
            point_lookups: 2.0,
            ..OperationMix::default()
        };
        assert_eq!(mix.normalized().updates, 0.5);
        assert_eq!(
            OperationMix::default().normalized(),
            OperationMix::default()
        );
    }
}
