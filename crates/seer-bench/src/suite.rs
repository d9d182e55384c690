//! Runs a suite: every workload, repeated, on every engine in turn. Each job
//! runs in a child process of this binary (so peak RSS and bytes written are
//! the job's own), from a clean directory or a copy of a DB loaded the same
//! way for every engine, and engines alternate in order so drift on a noisy
//! machine hits all alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::engine::{EngineConfig, EngineKind};
use crate::error::{BenchError, Result};
use crate::host;
use crate::run::{run_job, JobResult, JobSpec};
use crate::workload::{RunParams, StartState, Workload};

/// The flag that makes this binary run one job (given as JSON) and print
/// its result; used by the suite for its child processes.
pub const JOB_FLAG: &str = "--job";

/// The prefix of the result line a child prints on stdout.
pub const RESULT_PREFIX: &str = "SEER-BENCH-RESULT ";

/// What to run.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Engines, in the order given.
    pub engines: Vec<EngineKind>,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Run parameters.
    pub params: RunParams,
    /// Engine settings.
    pub config: EngineConfig,
    /// Repetitions of each (workload, engine).
    pub repeat: usize,
    /// Where DB directories are made (removed afterwards).
    pub db_dir: PathBuf,
    /// Run each job in a child process (else in this one).
    pub isolate: bool,
}

/// Runs the suite and returns every job's result, in run order. A job that
/// fails is recorded as skipped with its error, and the suite goes on.
pub fn run_suite(options: &SuiteOptions) -> Result<Vec<JobResult>> {
    options.params.validate()?;
    if options.engines.is_empty() {
        return Err(BenchError::InvalidArgument("no engine to run".to_owned()));
    }
    let total_jobs = options.workloads.len() * options.repeat * options.engines.len();
    let mut templates: BTreeMap<EngineKind, PathBuf> = BTreeMap::new();
    let mut results = Vec::with_capacity(total_jobs);
    for (workload_index, &workload) in options.workloads.iter().enumerate() {
        for repeat in 0..options.repeat {
            for engine in engine_order(&options.engines, workload_index + repeat) {
                let spec = JobSpec {
                    engine,
                    workload,
                    dir: options.db_dir.join(engine.name()).join("run"),
                    params: options.params.clone(),
                    config: options.config.clone(),
                    repeat,
                };
                let result = prepare_dir(options, &spec, &mut templates)
                    .and_then(|()| execute(&spec, options.isolate))
                    .unwrap_or_else(|error| failed(&spec, &error));
                eprintln!(
                    "[{}/{total_jobs}] {}",
                    results.len() + 1,
                    crate::report::one_line(&result)
                );
                results.push(result);
                host::remove_dir(&spec.dir)?;
            }
        }
    }
    host::remove_dir(&options.db_dir)?;
    Ok(results)
}

/// The engines rotated left by `offset`.
pub fn engine_order(engines: &[EngineKind], offset: usize) -> Vec<EngineKind> {
    let count = engines.len().max(1);
    (0..engines.len())
        .map(|position| engines[(position + offset) % count])
        .collect()
}

fn prepare_dir(
    options: &SuiteOptions,
    spec: &JobSpec,
    templates: &mut BTreeMap<EngineKind, PathBuf>,
) -> Result<()> {
    match spec.workload.start_state() {
        StartState::Clean => host::reset_dir(&spec.dir),
        StartState::Loaded => {
            let template = match templates.get(&spec.engine) {
                Some(template) => template.clone(),
                None => {
                    let template = build_template(options, spec.engine)?;
                    templates.insert(spec.engine, template.clone());
                    template
                }
            };
            host::copy_dir(&template, &spec.dir)
        }
    }
}

/// Loads `num` keys in random order into a template DB for `engine`.
fn build_template(options: &SuiteOptions, engine: EngineKind) -> Result<PathBuf> {
    let dir = options.db_dir.join(engine.name()).join("template");
    host::reset_dir(&dir)?;
    let spec = JobSpec {
        engine,
        workload: Workload::Load,
        dir: dir.clone(),
        params: options.params.clone(),
        config: options.config.clone(),
        repeat: 0,
    };
    let result = execute(&spec, options.isolate)?;
    if let Some(reason) = result.skipped {
        return Err(BenchError::Job {
            job: format!("{engine}/load"),
            message: reason,
        });
    }
    eprintln!("[load] {}", crate::report::one_line(&result));
    Ok(dir)
}

fn execute(spec: &JobSpec, isolate: bool) -> Result<JobResult> {
    if isolate {
        execute_in_child(spec)
    } else {
        run_job(spec)
    }
}

fn execute_in_child(spec: &JobSpec) -> Result<JobResult> {
    let job = format!("{}/{}", spec.engine, spec.workload);
    let job_error = |message: String| BenchError::Job {
        job: job.clone(),
        message,
    };
    let exe = std::env::current_exe().map_err(|error| BenchError::io("current_exe", error))?;
    let output = Command::new(exe)
        .arg(JOB_FLAG)
        .arg(serde_json::to_string(spec)?)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| job_error(format!("could not start: {error}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX));
    match line {
        Some(json) if output.status.success() => Ok(serde_json::from_str(json)?),
        _ => Err(job_error(format!(
            "child process failed ({})",
            output.status
        ))),
    }
}

/// Runs the job given as JSON and prints its result line (the child side).
pub fn run_child_job(spec_json: &str) -> Result<()> {
    let spec: JobSpec = serde_json::from_str(spec_json)?;
    let result = run_job(&spec)?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&result)?);
    Ok(())
}

fn failed(spec: &JobSpec, error: &BenchError) -> JobResult {
    eprintln!("{}/{}: {error}", spec.engine, spec.workload);
    let mut result = crate::run::skipped_result(spec, format!("failed: {error}"));
    result.peak_rss_bytes = None;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_alternate_between_rounds() {
        let engines = [EngineKind::Seer, EngineKind::Fjall, EngineKind::Rocksdb];
        assert_eq!(engine_order(&engines, 0), engines);
        assert_eq!(
            engine_order(&engines, 1),
            [EngineKind::Fjall, EngineKind::Rocksdb, EngineKind::Seer]
        );
        assert_eq!(engine_order(&engines, 3), engines);
        assert!(engine_order(&[], 2).is_empty());
    }
}
