//! The reducer: delta debugging over a failing sequence. It repeatedly
//! drops chunks of operations (halving the chunk size down to one) and
//! keeps a shorter sequence whenever a fresh run of it still fails, until
//! nothing more can be dropped or the time budget is spent.

use std::time::{Duration, Instant};

use super::ops::{Op, Universe};
use super::runner::{run, Config, Failure};

/// A shorter sequence that still fails under `config`, and its failure.
/// Background work makes some failures timing-dependent; a candidate
/// counts as failing when any run of it fails (with any difference).
pub fn reduce(
    universe: Universe,
    ops: &[Op],
    config: &Config,
    failure: &Failure,
    budget: Duration,
) -> (Vec<Op>, Failure) {
    let deadline = Instant::now() + budget;
    let mut current = ops[..(failure.step + 1).min(ops.len())].to_vec();
    let mut current_failure = failure.clone();
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut dropped_any = false;
        let mut start = 0;
        while start < current.len() && Instant::now() < deadline {
            let end = (start + chunk).min(current.len());
            let candidate = [&current[..start], &current[end..]].concat();
            match run(universe, &candidate, config) {
                Err(failure) => {
                    current = candidate;
                    current.truncate((failure.step + 1).min(current.len()));
                    current_failure = failure;
                    dropped_any = true;
                }
                Ok(_) => start += chunk,
            }
        }
        if Instant::now() >= deadline || (chunk == 1 && !dropped_any) {
            return (current, current_failure);
        }
        chunk = (chunk / 2).max(1);
    }
}
