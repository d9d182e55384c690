//! Support of the metamorphic test (`tests/metamorphic.rs`), after Pebble's
//! `metamorphic` package: random operation sequences drawn from a seed
//! ([`ops`]), each run under several configurations of drawn options
//! ([`options`], [`runner`]) against a `BTreeMap` model ([`model`]), and on
//! a failure a replay command and a reduced sequence ([`reduce`]).
//!
//! This module owns the driver: the time budget, the seeds, the totals and
//! the failure report.

pub mod model;
pub mod ops;
pub mod options;
pub mod reduce;
pub mod rng;
pub mod runner;

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use ops::{Bounds, Direction, MergeKind, Op, Scan, TxnStep, Universe, Write};
pub use options::{DrawnOptions, PolicyDraw, SyncDraw};
pub use runner::Config;

use rng::Rng;

/// Configurations each sequence runs under: one keeps its first options at
/// every reopen, the others draw new options at every reopen.
pub const CONFIGS_PER_SEQUENCE: u64 = 3;

/// The environment's choices, with their defaults.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `SEER_METAMORPHIC_SECONDS`: run new sequences until this much time
    /// has passed (default 30).
    pub budget: Duration,
    /// `SEER_METAMORPHIC_SEED`: run this one sequence only.
    pub seed: Option<u64>,
    /// `SEER_METAMORPHIC_REDUCE_SECONDS`: time the reducer may spend on a
    /// failure (default 120).
    pub reduce_budget: Duration,
}

impl Settings {
    /// The settings from the environment.
    pub fn from_env() -> Self {
        let number = |name: &str| {
            std::env::var(name).ok().map(|text| {
                let text = text.trim();
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number"))
            })
        };
        Self {
            budget: Duration::from_secs(number("SEER_METAMORPHIC_SECONDS").unwrap_or(30)),
            seed: number("SEER_METAMORPHIC_SEED"),
            reduce_budget: Duration::from_secs(
                number("SEER_METAMORPHIC_REDUCE_SECONDS").unwrap_or(120),
            ),
        }
    }
}

/// What the sequences that agreed with the model did, summed.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Sequences (seeds) run.
    pub sequences_count: u64,
    /// Operations run, over every configuration.
    pub ops_count: u64,
    /// Reopens, over every configuration.
    pub reopens_count: u64,
    /// Reopens with newly drawn options.
    pub redrawn_reopens_count: u64,
    /// Runs (a sequence under one configuration).
    pub configurations_count: u64,
    /// Reads compared with the model.
    pub checks_count: u64,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sequences, {} configurations, {} operations, {} reopens ({} with newly drawn \
             options), {} reads checked",
            self.sequences_count,
            self.configurations_count,
            self.ops_count,
            self.reopens_count,
            self.redrawn_reopens_count,
            self.checks_count
        )
    }
}

/// Runs the sequences the settings ask for; panics with a report (seed,
/// step, op, expected and got, replay command, reduced sequence) at the
/// first failure, and prints the totals otherwise.
pub fn run_from_env() {
    let settings = Settings::from_env();
    let started = Instant::now();
    let mut totals = Totals::default();
    let seeds: Box<dyn Iterator<Item = u64>> = match settings.seed {
        Some(seed) => {
            eprintln!("metamorphic: replaying seed {seed}");
            Box::new(std::iter::once(seed))
        }
        None => {
            let base = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos() as u64);
            eprintln!(
                "metamorphic: base seed {base}, budget {} s",
                settings.budget.as_secs()
            );
            Box::new((0..).map(move |index| Rng::derived(base, index).next_u64()))
        }
    };
    for seed in seeds {
        if settings.seed.is_none() && started.elapsed() >= settings.budget {
            break;
        }
        if let Err(report) = check_seed(seed, &settings, &mut totals, started) {
            panic!("{report}");
        }
    }
    eprintln!(
        "metamorphic totals: {totals}, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Runs sequence `seed` under every configuration; a failure becomes the
/// report.
fn check_seed(
    seed: u64,
    settings: &Settings,
    totals: &mut Totals,
    started: Instant,
) -> Result<(), String> {
    let (universe, ops) = ops::generate(seed);
    eprintln!("metamorphic: seed {seed}: {} ops, {universe:?}", ops.len());
    let mut digests = Vec::new();
    for index in 0..CONFIGS_PER_SEQUENCE {
        let config = Config::of_sequence(seed, index);
        match runner::run(universe, &ops, &config) {
            Ok(stats) => {
                totals.configurations_count += 1;
                totals.ops_count += stats.ops_count;
                totals.reopens_count += stats.reopens_count;
                totals.redrawn_reopens_count += stats.redrawn_reopens_count;
                totals.checks_count += stats.checks_count;
                digests.push(stats.digest);
            }
            Err(failure) => {
                eprintln!(
                    "metamorphic: failure found after {totals} that agreed, in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return Err(report(
                    seed, universe, &ops, index, &config, &failure, settings,
                ));
            }
        }
    }
    totals.sequences_count += 1;
    if digests.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(format!(
            "metamorphic seed {seed}: the configurations returned different results although \
             each agreed with the model (digests {digests:?}): the harness is not deterministic"
        ));
    }
    Ok(())
}

/// The failure report, with a reduced sequence.
fn report(
    seed: u64,
    universe: Universe,
    ops: &[Op],
    index: u64,
    config: &Config,
    failure: &runner::Failure,
    settings: &Settings,
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "metamorphic test failed: seed {seed}, configuration {index} of {CONFIGS_PER_SEQUENCE} \
         ({}), {} ops, {universe:?}",
        if config.redraw_seed.is_some() {
            "new options at every reopen"
        } else {
            "the same options at every reopen"
        },
        ops.len()
    );
    let _ = writeln!(text, "{failure}");
    let _ = writeln!(
        text,
        "replay: SEER_METAMORPHIC_SEED={seed} cargo test -p seer-db --test metamorphic"
    );
    eprintln!(
        "{text}reducing for up to {} s ...",
        settings.reduce_budget.as_secs()
    );
    let (reduced, reduced_failure) =
        reduce::reduce(universe, ops, config, failure, settings.reduce_budget);
    let _ = writeln!(
        text,
        "reduced to {} ops (failing at step {}): {}",
        reduced.len(),
        reduced_failure.step,
        reduced_failure.op
    );
    let _ = writeln!(text, "  expected: {}", reduced_failure.expected);
    let _ = writeln!(text, "  got:      {}", reduced_failure.got);
    let _ = writeln!(text, "as a regression test:");
    let explicit = Config {
        first_options: config.first_options.clone(),
        redraw_seed: None,
    };
    let _ = writeln!(
        text,
        "    let universe = {universe:?};\n    let config = {explicit:?};\n    let ops = vec!["
    );
    for op in &config.explicit_reopens(&reduced) {
        let _ = writeln!(text, "        {op:?},");
    }
    let _ = writeln!(text, "    ];\n    replay(universe, &ops, &config);");
    text
}

/// Runs `ops` under `config` and panics with the failure, if any (for
/// regression tests built from a reduced sequence).
pub fn replay(universe: Universe, ops: &[Op], config: &Config) {
    if let Err(failure) = runner::run(universe, ops, config) {
        panic!("{failure}");
    }
}
