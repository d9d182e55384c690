//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! does.
//!
//! - `ci`: format check, the import-graph check, clippy with warnings
//!   denied, the documentation with rustdoc's warnings denied, every test
//!   (unit, integration, doc, fuzz-corpus replay; the metamorphic test among
//!   them with its default 30 s budget), the loom models, a 20-cycle kill -9
//!   crash test and a 60 s release run of the metamorphic test.
//! - `imports [--verbose]`: the module import graph of every library crate
//!   (see [`imports`]), failing on a circle.
//! - `bench [ARGS]`: the benchmark harness (`seer-bench`) in release mode;
//!   `--engines seer,fjall,rocksdb` also turns on the peers' cargo features.
//! - `loom`: the loom models of the commit pipeline and of the memtable's
//!   arena skip list.
//! - `asan`: seer-memtable's unit, model and concurrency tests under
//!   AddressSanitizer (nightly toolchain; not part of `ci`).
//! - `fuzz <target|all> [--seconds N]`: cargo-fuzz targets, found under
//!   `crates/*/fuzz/fuzz_targets/`.
//! - `crash [--cycles N] [--seed S]`: the kill -9 crash test (seer-db's
//!   `crashtest` example) in release mode.
//! - `stress [--seconds N] [--seed S] [--config C]`: seer-db's concurrent
//!   stress test (`tests/stress.rs`) in release mode with a budget of `N`
//!   seconds over its configurations (CI runs it in the ordinary test run
//!   with its small default budget).
//! - `metamorphic [--seconds N] [--seed S]`: seer-db's metamorphic test
//!   (`tests/metamorphic.rs`) in release mode for a time budget, or one
//!   sequence replayed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

mod imports;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "seerdb project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Format check, clippy, all tests and the loom models.
    Ci,
    /// Checks that no library crate's modules import each other in a
    /// circle; prints each crate's edge count.
    Imports {
        /// The crates to check (directory names under `crates/`; default:
        /// every library crate).
        crates: Vec<String>,
        /// Also print every module's imports.
        #[arg(long)]
        verbose: bool,
    },
    /// Runs the benchmark harness; extra arguments go to `seer-bench`.
    Bench {
        /// Arguments for seer-bench (see `cargo xtask bench -- --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Runs the loom models of the commit pipeline and the arena skip list.
    Loom,
    /// Runs seer-memtable's tests under AddressSanitizer (nightly).
    Asan,
    /// Runs a cargo-fuzz target, or `all` of them, for a time.
    Fuzz {
        /// Target name, or `all`.
        target: String,
        /// Seconds to fuzz each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Kills a writing child with SIGKILL and checks what it acknowledged.
    Crash {
        /// Kill and verify cycles.
        #[arg(long, default_value_t = 20)]
        cycles: u64,
        /// Seed of the cycles' random choices (default: the process id).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Runs the concurrent stress test in release mode for a time.
    Stress {
        /// Seconds over all configurations (policies x sync policies).
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Seed of the threads' random choices (default: the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Only the configurations whose name contains this, e.g.
        /// `tiering/never`.
        #[arg(long)]
        config: Option<String>,
    },
    /// Runs random operation sequences under changing options against a
    /// model (seer-db's metamorphic test) and prints the totals.
    Metamorphic {
        /// Seconds to run new sequences for.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Replay this one sequence instead (the seed a failure printed).
        #[arg(long)]
        seed: Option<u64>,
    },
}

type TaskResult = Result<(), String>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::Imports { crates, verbose } => import_graph(&crates, verbose),
        Task::Bench { args } => bench(&args),
        Task::Loom => loom(),
        Task::Asan => asan(),
        Task::Fuzz { target, seconds } => fuzz(&target, seconds),
        Task::Crash { cycles, seed } => crash(cycles, seed),
        Task::Stress {
            seconds,
            seed,
            config,
        } => stress(seconds, seed, config.as_deref()),
        Task::Metamorphic { seconds, seed } => metamorphic(seconds, seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(step: &str, command: &mut Command) -> TaskResult {
    eprintln!("==> {step}");
    let status = command
        .status()
        .map_err(|error| format!("{step}: could not start: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step}: failed ({status})"))
    }
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false)
}

fn ci() -> TaskResult {
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    let acyclic: Vec<String> = ACYCLIC_CRATES.iter().map(|&c| c.to_owned()).collect();
    import_graph(&acyclic, false)?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    docs()?;
    if has_nextest() {
        run(
            "cargo nextest run",
            cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
                "--profile",
                "ci",
            ]),
        )?;
    } else {
        run(
            "cargo test",
            cargo().args([
                "test",
                "--workspace",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ]),
        )?;
    }
    run(
        "doc tests",
        cargo().args(["test", "--workspace", "--locked", "--doc"]),
    )?;
    loom()?;
    crash(20, None)?;
    metamorphic(CI_METAMORPHIC_SECONDS, None)
}

/// Builds the documentation with rustdoc's warnings denied: once as users
/// see it (which catches public docs that link to private items) and once
/// with the private items (which checks the links of the internal docs).
fn docs() -> TaskResult {
    for (step, private) in [("cargo doc", false), ("cargo doc (private items)", true)] {
        let mut command = cargo();
        command
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings");
        if private {
            command.arg("--document-private-items");
        }
        run(step, &mut command)?;
    }
    Ok(())
}

/// The crates whose module graph `ci` requires to be free of circles.
const ACYCLIC_CRATES: &[&str] = &[
    "seer-cli",
    "seer-compaction",
    "seer-core",
    "seer-db",
    "seer-log",
    "seer-memtable",
    "seer-raft",
    "seer-testkit",
    "seer-wal",
];

fn import_graph(crates: &[String], verbose: bool) -> TaskResult {
    eprintln!("==> import graph");
    imports::check(&workspace_root(), crates, verbose)
}

fn crash(cycles: u64, seed: Option<u64>) -> TaskResult {
    let mut command = release_seer_db("run", "--example", "crashtest");
    command.args(["parent", "--cycles", &cycles.to_string()]);
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    run(
        &format!("kill -9 crash test, {cycles} cycles"),
        &mut command,
    )
}

/// `cargo <cargo_command> --release` of seer-db's `<kind> <target>` (an
/// `--example` or a `--test`) with the tree's invariant checker on (feature
/// `invariants`); arguments added later go to the program.
fn release_seer_db(cargo_command: &str, kind: &str, target: &str) -> Command {
    let mut command = cargo();
    command.args([
        cargo_command,
        "--release",
        "--locked",
        "-p",
        "seer-db",
        "--features",
        "invariants",
        kind,
        target,
        "--",
    ]);
    command
}

/// [`release_seer_db`] for integration test `test`, its output shown.
fn release_seer_db_test(test: &str) -> Command {
    let mut command = release_seer_db("test", "--test", test);
    command.arg("--nocapture");
    command
}

fn stress(seconds: u64, seed: Option<u64>, config: Option<&str>) -> TaskResult {
    let mut command = release_seer_db_test("stress");
    command.env("SEER_STRESS_SECONDS", seconds.to_string());
    if let Some(seed) = seed {
        command.env("SEER_STRESS_SEED", seed.to_string());
    }
    if let Some(config) = config {
        command.env("SEER_STRESS_CONFIG", config);
    }
    run(&format!("stress test, {seconds} s"), &mut command)
}

/// Budget of the metamorphic step of `ci` (the test's own default under
/// `cargo nextest run` is 30 s of a debug build; this adds a release run).
const CI_METAMORPHIC_SECONDS: u64 = 60;

fn metamorphic(seconds: u64, seed: Option<u64>) -> TaskResult {
    let mut command = release_seer_db_test("metamorphic");
    command
        .env("SEER_METAMORPHIC_SECONDS", seconds.to_string())
        .args([
            "--exact",
            "random_sequences_agree_with_the_model_under_changing_options",
        ]);
    let step = match seed {
        Some(seed) => {
            command.env("SEER_METAMORPHIC_SEED", seed.to_string());
            format!("metamorphic test, seed {seed}")
        }
        None => {
            command.env_remove("SEER_METAMORPHIC_SEED");
            format!("metamorphic test for {seconds}s (totals: the `metamorphic totals` line)")
        }
    };
    run(&step, &mut command)
}

fn bench(args: &[String]) -> TaskResult {
    let features = bench_features(args);
    let mut command = cargo();
    command.args(["run", "--release", "--locked", "-p", "seer-bench"]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let outcome = run("seer-bench", command.arg("--").args(args));
    if outcome.is_err() && features.contains(&"rocksdb") {
        eprintln!(
            "xtask: hint: the rocksdb engine compiles the RocksDB bundled with the `rocksdb` \
             crate (11.x) from source; its bindings need libclang and a C++ compiler \
             (Debian/Ubuntu: `apt-get install -y libclang-dev clang`, or set LIBCLANG_PATH). \
             ROCKSDB_LIB_DIR=<dir> links a system librocksdb instead, which must be the same \
             major version (Debian 12's 7.8 is not). Drop `rocksdb` from --engines to bench \
             without it."
        );
    }
    outcome
}

/// The cargo features of seer-bench that `--engines a,b` (or
/// `--engines=a,b`) among `args` needs: one per optional peer engine.
fn bench_features(args: &[String]) -> Vec<&'static str> {
    let mut lists = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--engines" {
            lists.extend(iter.next().cloned());
        } else if let Some(list) = arg.strip_prefix("--engines=") {
            lists.push(list.to_owned());
        }
    }
    let named = |engine: &str| {
        lists
            .iter()
            .any(|list| list.split(',').any(|name| name.trim() == engine))
    };
    ["fjall", "rocksdb"]
        .into_iter()
        .filter(|engine| named(engine))
        .collect()
}

/// A target directory of its own for builds with other `RUSTFLAGS` (so they
/// do not evict the ordinary build): `name` under `CARGO_TARGET_DIR` if set,
/// else under the workspace's `target`.
fn flagged_target_dir(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join(name)
}

fn loom() -> TaskResult {
    let target_dir = flagged_target_dir("loom");
    for package in ["seer-wal", "seer-memtable"] {
        run(
            &format!("loom models of {package}"),
            cargo()
                .env("RUSTFLAGS", "--cfg loom")
                .env("LOOM_MAX_PREEMPTIONS", "2")
                .env("CARGO_TARGET_DIR", &target_dir)
                .args([
                    "test",
                    "--release",
                    "--locked",
                    "-p",
                    package,
                    "--lib",
                    "loom",
                ]),
        )?;
    }
    Ok(())
}

/// The memtable's unsafe arena module, with its unit, model and concurrency
/// tests, under AddressSanitizer. Needs the nightly toolchain (`-Z` flags)
/// and an explicit target, so that the sanitizer flags skip build scripts
/// and proc macros.
fn asan() -> TaskResult {
    let target_dir = flagged_target_dir("asan");
    run(
        "seer-memtable tests under AddressSanitizer",
        Command::new("cargo")
            .current_dir(workspace_root())
            .env("RUSTFLAGS", "-Zsanitizer=address")
            .env("RUSTDOCFLAGS", "-Zsanitizer=address")
            .env("CARGO_TARGET_DIR", target_dir)
            .args([
                "+nightly",
                "test",
                "--locked",
                "-p",
                "seer-memtable",
                "--target",
                "x86_64-unknown-linux-gnu",
                "--lib",
                "--tests",
            ]),
    )
}

/// Every fuzz target as `(fuzz dir, target name)`.
fn fuzz_targets() -> Vec<(PathBuf, String)> {
    let mut targets = Vec::new();
    let crates = workspace_root().join("crates");
    let Ok(entries) = std::fs::read_dir(&crates) else {
        return targets;
    };
    for entry in entries.flatten() {
        let fuzz_dir = entry.path().join("fuzz");
        let Ok(sources) = std::fs::read_dir(fuzz_dir.join("fuzz_targets")) else {
            continue;
        };
        for source in sources.flatten() {
            let path = source.path();
            if path.extension().is_some_and(|e| e == "rs") {
                if let Some(stem) = path.file_stem() {
                    targets.push((fuzz_dir.clone(), stem.to_string_lossy().into_owned()));
                }
            }
        }
    }
    targets.sort();
    targets
}

fn ensure_cargo_fuzz() -> TaskResult {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    run(
        "cargo install cargo-fuzz",
        cargo().args(["install", "--locked", "cargo-fuzz"]),
    )
}

fn fuzz(target: &str, seconds: u64) -> TaskResult {
    let all = fuzz_targets();
    let chosen: Vec<_> = all
        .iter()
        .filter(|(_, name)| target == "all" || name == target)
        .collect();
    if chosen.is_empty() {
        let names: Vec<_> = all.iter().map(|(_, name)| name.as_str()).collect();
        return Err(format!("no fuzz target {target:?}; known: {names:?}"));
    }
    ensure_cargo_fuzz()?;
    for (fuzz_dir, name) in chosen {
        // libFuzzer writes new inputs into the first corpus directory, so it
        // gets a scratch one; the checked-in corpus is read-only input.
        let scratch = fuzz_dir.join("target").join("corpus").join(name);
        std::fs::create_dir_all(&scratch)
            .map_err(|error| format!("creating {}: {error}", scratch.display()))?;
        let corpus = fuzz_dir.join("corpus").join(name);
        run(
            &format!("fuzz {name} for {seconds}s"),
            cargo()
                // cargo-fuzz needs nightly flags; the stable toolchain is the
                // only one here, and RUSTC_BOOTSTRAP unlocks them.
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["fuzz", "run", "--fuzz-dir"])
                .arg(fuzz_dir)
                .arg(name)
                .arg(&scratch)
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={seconds}")),
        )?;
    }
    Ok(())
}
