//! `seer-bench`: runs the db_bench-style suite on the engines built in and
//! prints a table; optionally writes JSON and a markdown/SVG report.
//!
//! `cargo run --release -p seer-bench -- --help`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use seer_bench::engine::built_in_engines;
use seer_bench::report::{self, BenchOutput, RunInfo};
use seer_bench::suite::{self, SuiteOptions};
use seer_bench::{BenchError, EngineConfig, EngineKind, RunParams, Workload};

/// db_bench-style workloads on seerdb and its peers.
#[derive(Parser, Debug)]
#[command(name = "seer-bench", version)]
struct Cli {
    /// Keys in the key space, and writes of each fill workload.
    #[arg(long, default_value_t = 200_000)]
    num: u64,
    /// Operations of the read and mixed workloads (default: --num).
    #[arg(long)]
    reads: Option<u64>,
    /// Key size in bytes.
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Threads per workload (readers in readwhilewriting, besides its writer).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Comma-separated workloads; `all`, `fillsync`, `ycsb`, `ycsb-a` name groups.
    #[arg(long, default_value = "all")]
    workloads: String,
    /// Comma-separated engines (default: every engine built in).
    #[arg(long)]
    engines: Option<String>,
    /// Directory for the DBs (emptied and removed afterwards).
    #[arg(long, default_value = "target/seer-bench-db")]
    db_dir: PathBuf,
    /// Sync (fdatasync) every write of every workload.
    #[arg(long)]
    sync: bool,
    /// Runs of each (workload, engine); the table shows the median.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Stop read and mixed workloads after this many seconds (0: no cap).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Memtable (write buffer) size in MiB, for every engine.
    #[arg(long, default_value_t = 64)]
    memtable_mib: u64,
    /// Block cache size in MiB, for every engine.
    #[arg(long, default_value_t = 64)]
    cache_mib: u64,
    /// Bloom filter bits per key, for every engine.
    #[arg(long, default_value_t = 10)]
    bloom_bits: u32,
    /// Compress tables (off by default, for every engine).
    #[arg(long)]
    compression: bool,
    /// seerdb's compaction policy: `adaptive` (the default) or a fixed
    /// `T,K,Z` (e.g. `6,5,1`: lazy leveling with size ratio 6).
    #[arg(long, default_value = "adaptive", value_parser = parse_seer_policy)]
    seer_policy: SeerPolicy,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0x5EE_DB)]
    seed: u64,
    /// Writes a markdown report and one SVG chart per workload into DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Writes every result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Runs jobs in this process instead of one child process per job
    /// (peak RSS is then the maximum so far, not the job's own).
    #[arg(long)]
    in_process: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let outcome = match args.get(1).map(String::as_str) {
        Some(suite::JOB_FLAG) => match args.get(2) {
            Some(spec) => suite::run_child_job(spec),
            None => Err(BenchError::InvalidArgument("--job needs a spec".to_owned())),
        },
        _ => run(Cli::parse(), args.join(" ")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seer-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse_engines(list: Option<&str>) -> seer_bench::Result<Vec<EngineKind>> {
    let Some(list) = list else {
        let engines = built_in_engines();
        if engines.is_empty() {
            return Err(BenchError::InvalidArgument(
                "no engine is built in: build with --features fjall and/or rocksdb".to_owned(),
            ));
        }
        return Ok(engines);
    };
    let mut engines = Vec::new();
    for name in list.split(',').filter(|name| !name.trim().is_empty()) {
        let kind: EngineKind = name.parse()?;
        if !kind.is_built_in() {
            return Err(seer_bench::engine::not_built_in(kind));
        }
        if !engines.contains(&kind) {
            engines.push(kind);
        }
    }
    Ok(engines)
}

/// `--seer-policy`: `None` is adaptive.
#[derive(Debug, Clone, Copy)]
struct SeerPolicy(Option<(u32, u32, u32)>);

fn parse_seer_policy(text: &str) -> Result<SeerPolicy, String> {
    if text == "adaptive" {
        return Ok(SeerPolicy(None));
    }
    let parts: Vec<u32> = text
        .split(',')
        .map(|part| part.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{text:?}: {error}"))?;
    match parts[..] {
        [t, k, z] => seer_db::PolicyParams::new(t, k, z)
            .map(|_| SeerPolicy(Some((t, k, z))))
            .map_err(|error| format!("{text:?}: {error}")),
        _ => Err(format!("{text:?}: expected `adaptive` or `T,K,Z`")),
    }
}

fn run(cli: Cli, command: String) -> seer_bench::Result<()> {
    let engines = parse_engines(cli.engines.as_deref())?;
    let params = RunParams {
        num: cli.num,
        reads: cli.reads.unwrap_or(cli.num),
        key_size_bytes: cli.key_size,
        value_size_bytes: cli.value_size,
        threads: cli.threads,
        sync: cli.sync,
        duration_secs: cli.duration,
        seed: cli.seed,
    };
    let config = EngineConfig {
        memtable_bytes: cli.memtable_mib << 20,
        block_cache_bytes: cli.cache_mib << 20,
        bloom_bits_per_key: cli.bloom_bits,
        compression: cli.compression,
        seer_policy_tkz: cli.seer_policy.0,
    };
    let options = SuiteOptions {
        engines: engines.clone(),
        workloads: Workload::parse_list(&cli.workloads)?,
        params: params.clone(),
        config: config.clone(),
        repeat: cli.repeat.max(1),
        db_dir: cli.db_dir.clone(),
        isolate: !cli.in_process,
    };
    let started = Instant::now();
    let results = suite::run_suite(&options)?;
    let info = RunInfo {
        command: command_line(&command),
        engine_settings: engines
            .iter()
            .map(|&engine| (engine, engine.settings(&config)))
            .collect(),
        engines,
        params,
        config,
        repeat: options.repeat,
        cpu_count: std::thread::available_parallelism().map_or(1, usize::from),
        total_seconds: started.elapsed().as_secs_f64(),
    };
    let output = BenchOutput { info, results };
    println!("{}", report::settings_text(&output.info));
    let rows = report::summarize(&output.results);
    println!("{}", report::text_table(&rows));
    if let Some(scale) = report::scale_table(&rows, &output.info.params) {
        println!("{scale}");
    }
    if let Some(path) = &cli.json {
        report::write_json(path, &output)?;
        eprintln!("results written to {}", path.display());
    }
    if let Some(dir) = &cli.report {
        report::write_report(dir, &output)?;
        eprintln!("report written to {}", dir.join("report.md").display());
    }
    Ok(())
}

/// The command line with the binary's path shortened to its name.
fn command_line(command: &str) -> String {
    let mut parts = command.splitn(2, ' ');
    let exe = parts.next().unwrap_or_default();
    let name = exe.rsplit('/').next().unwrap_or(exe);
    match parts.next() {
        Some(rest) => format!("{name} {rest}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seer_policy;

    #[test]
    fn the_seer_policy_flag_takes_adaptive_or_a_valid_t_k_z() {
        assert_eq!(parse_seer_policy("adaptive").unwrap().0, None);
        assert_eq!(parse_seer_policy("6,5,1").unwrap().0, Some((6, 5, 1)));
        assert_eq!(parse_seer_policy(" 10, 1 ,1").unwrap().0, Some((10, 1, 1)));
        for bad in ["", "6,5", "6,5,1,1", "6,6,1", "1,1,1", "x,1,1"] {
            assert!(parse_seer_policy(bad).is_err(), "{bad:?} accepted");
        }
    }
}
