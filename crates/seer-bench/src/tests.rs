//! Whole-job tests on the in-memory engine: every workload runs, reads find
//! what fills wrote, and the reports are written.

use std::path::Path;

use crate::engine::{EngineConfig, EngineKind};
use crate::mem_engine::MemEngine;
use crate::report::{self, BenchOutput, RunInfo};
use crate::run::{run_job_on, JobResult, JobSpec};
use crate::workload::{RunParams, Workload};

const NUM: u64 = 2_000;

fn params() -> RunParams {
    RunParams {
        num: NUM,
        reads: NUM,
        key_size_bytes: 16,
        value_size_bytes: 100,
        threads: 2,
        sync: false,
        duration_secs: 0,
        seed: 9,
    }
}

fn spec(workload: Workload, dir: &Path) -> JobSpec {
    JobSpec {
        engine: EngineKind::Seer,
        workload,
        dir: dir.to_path_buf(),
        params: params(),
        config: EngineConfig::default(),
        repeat: 0,
    }
}

/// Runs `workload` on `engine`, loading it first when the workload needs it.
fn run_on(engine: &MemEngine, workload: Workload) -> JobResult {
    let dir = tempfile::tempdir().unwrap();
    if workload.start_state() == crate::workload::StartState::Loaded && engine.len() == 0 {
        run_job_on(
            Box::new(engine.clone()),
            &spec(Workload::Load, dir.path()),
            None,
        )
        .unwrap();
        assert_eq!(engine.len() as u64, NUM);
    }
    run_job_on(Box::new(engine.clone()), &spec(workload, dir.path()), None).unwrap()
}

#[test]
fn every_workload_runs_and_counts_its_operations() {
    for workload in Workload::all() {
        let engine = MemEngine::default();
        let result = run_on(&engine, workload);
        assert!(result.skipped.is_none(), "{workload}");
        assert_eq!(result.ops, workload.planned_ops(&params()), "{workload}");
        assert!(result.latency.samples > 0, "{workload}");
        assert!(result.ops_per_sec > 0.0, "{workload}");
    }
}

#[test]
fn reads_find_present_keys_and_miss_absent_ones() {
    let engine = MemEngine::default();
    assert_eq!(run_on(&engine, Workload::ReadRandom).found, NUM);
    assert_eq!(run_on(&engine, Workload::ReadMissing).found, 0);
    let forward = run_on(&engine, Workload::ReadSeq);
    assert_eq!(forward.found, NUM * 2, "each of 2 threads scans all keys");
    for seeking in [Workload::SeekRandom, Workload::SeekCursor] {
        let seeks = run_on(&engine, seeking);
        assert!(seeks.found > NUM / 10 * 10, "{seeking}: {}", seeks.found);
    }
}

#[test]
fn fills_write_every_key_once_and_deletes_remove_them() {
    for fill in [Workload::FillSeq, Workload::FillRandom, Workload::FillBatch] {
        let engine = MemEngine::default();
        let result = run_on(&engine, fill);
        assert_eq!(engine.len() as u64, NUM, "{fill}");
        assert_eq!(result.user_write_bytes, NUM * 116, "{fill}");
        assert!(result.space_amp.is_some(), "{fill}");
    }
    let engine = MemEngine::default();
    run_on(&engine, Workload::DeleteRandom);
    assert_eq!(engine.len(), 0);
}

#[test]
fn merges_add_up_to_the_operation_count() {
    let engine = MemEngine::default();
    let result = run_on(&engine, Workload::MergeRandom);
    assert_eq!(engine.counter_sum(), result.ops);
}

#[test]
fn readwhilewriting_reports_readers_and_the_writer_apart() {
    let engine = MemEngine::default();
    let result = run_on(&engine, Workload::ReadWhileWriting);
    assert_eq!(result.threads, 2);
    assert_eq!(result.found, NUM);
    assert!(result.writer_ops_per_sec.unwrap() > 0.0);
}

#[test]
fn ycsb_inserts_grow_the_key_space() {
    let engine = MemEngine::default();
    let workload: Workload = "ycsb-d-zipfian".parse().unwrap();
    run_on(&engine, workload);
    let inserted = engine.len() as u64 - NUM;
    assert!(inserted > NUM / 40 && inserted < NUM / 10, "{inserted}");
}

#[test]
fn reports_hold_the_table_json_and_one_chart_per_workload() {
    let mut results = Vec::new();
    for (engine_kind, scale) in [(EngineKind::Seer, 1.0), (EngineKind::Fjall, 2.0)] {
        for workload in [Workload::FillSeq, Workload::ReadRandom] {
            let mut result = run_on(&MemEngine::default(), workload);
            result.engine = engine_kind;
            result.ops_per_sec = 1000.0 * scale;
            results.push(result);
        }
    }
    let output = BenchOutput {
        info: RunInfo {
            command: "seer-bench --num 2000".to_owned(),
            engines: vec![EngineKind::Seer, EngineKind::Fjall],
            params: params(),
            config: EngineConfig::default(),
            engine_settings: vec![(EngineKind::Seer, "defaults".to_owned())],
            repeat: 1,
            cpu_count: 2,
            total_seconds: 1.0,
        },
        results,
    };
    let dir = tempfile::tempdir().unwrap();
    report::write_report(dir.path(), &output).unwrap();
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(markdown.contains("| fillseq | seer |"), "{markdown}");
    assert!(markdown.contains("![readrandom](readrandom.svg)"));
    let svg = std::fs::read_to_string(dir.path().join("fillseq.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("fjall") && svg.contains("seer"));

    let json_path = dir.path().join("results.json");
    report::write_json(&json_path, &output).unwrap();
    let back: BenchOutput =
        serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(back.results.len(), 4);
    assert_eq!(back.results[0].workload, Workload::FillSeq);

    let table = report::text_table(&report::summarize(&output.results));
    let seer_row = table
        .lines()
        .find(|line| line.starts_with("fillseq  ") && line.contains("seer"));
    assert!(
        seer_row.unwrap().contains("0.50"),
        "seer is half the best: {table}"
    );
}

#[test]
fn the_median_repetition_is_summarized() {
    let engine = MemEngine::default();
    let mut results: Vec<JobResult> = (0..3).map(|_| run_on(&engine, Workload::FillSeq)).collect();
    for (repeat, (result, ops_per_sec)) in results.iter_mut().zip([5.0, 1.0, 3.0]).enumerate() {
        result.repeat = repeat;
        result.ops_per_sec = ops_per_sec;
    }
    let rows = report::summarize(&results);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].median.ops_per_sec, 3.0);
    assert_eq!(rows[0].runs, 3);
    assert_eq!(
        (rows[0].min_ops_per_sec, rows[0].max_ops_per_sec),
        (1.0, 5.0)
    );
    let table = report::text_table(&rows);
    assert!(table.contains(" 1-5 "), "the spread is shown: {table}");
}

#[test]
fn scale_fills_then_overwrites_every_key_once() {
    let engine = MemEngine::default();
    let result = run_on(&engine, Workload::Scale);
    assert_eq!(result.ops, 2 * NUM);
    assert_eq!(result.threads, 1);
    assert_eq!(engine.len() as u64, NUM);
    assert_eq!(result.user_write_bytes, 2 * NUM * 116);
    assert!(result.space_amp.is_some());
}

#[test]
fn scale_on_seer_reports_the_peak_directory_size() {
    let dir = tempfile::tempdir().unwrap();
    let result = crate::run::run_job(&spec(Workload::Scale, dir.path())).unwrap();
    assert!(result.skipped.is_none());
    let peak_bytes = result.peak_db_size_bytes.unwrap();
    assert!(peak_bytes >= result.db_size_bytes && result.db_size_bytes > 0);
    assert!(result.peak_space_amp.unwrap() >= result.space_amp.unwrap());
    let rows = report::summarize(&[result]);
    let table = report::scale_table(&rows, &params()).unwrap();
    assert!(table.contains("| seer | "), "{table}");
    assert!(report::scale_table(&rows[..0], &params()).is_none());
}

/// Runs `scale` on a peer engine in a fresh directory, through its adapter,
/// and checks its settings line names `version`.
#[cfg(any(feature = "fjall", feature = "rocksdb"))]
fn check_peer_runs_scale(engine: EngineKind, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(Workload::Scale, dir.path());
    spec.engine = engine;
    let result = crate::run::run_job(&spec).unwrap();
    assert!(result.skipped.is_none(), "{result:?}");
    assert_eq!(result.ops, 2 * NUM);
    assert!(result.peak_db_size_bytes.unwrap() > 0);
    let settings = engine.settings(&EngineConfig::default());
    assert!(settings.contains(version), "{settings}");
}

#[cfg(feature = "fjall")]
#[test]
fn fjall_fills_overwrites_and_reports_its_version() {
    check_peer_runs_scale(EngineKind::Fjall, "fjall 3.");
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_fills_overwrites_and_reports_its_version() {
    check_peer_runs_scale(EngineKind::Rocksdb, "the library reports RocksDB 11.");
}

#[test]
fn the_queue_consumes_its_head_and_keeps_only_the_backlog() {
    let engine = MemEngine::default();
    let result = run_on(&engine, Workload::Queue);
    assert_eq!(result.ops, NUM);
    let backlog = crate::workload::QUEUE_BACKLOG_MESSAGES.min(NUM / 2);
    // Rounds consume down to the backlog; the last round may leave up to
    // one chunk more.
    let left = engine.len() as u64;
    assert!(
        (backlog..backlog + crate::workload::QUEUE_CHUNK_MESSAGES).contains(&left),
        "{left} messages left"
    );
    assert_eq!(result.found, NUM - left, "every consumed message was read");
}

#[test]
fn deleting_every_key_per_key_or_in_one_range_empties_the_db_and_times_the_scan() {
    for workload in [Workload::DeletePerKey, Workload::DeleteRange] {
        let engine = MemEngine::default();
        let result = run_on(&engine, workload);
        assert_eq!(engine.len(), 0, "{workload}");
        assert_eq!(result.ops, NUM, "{workload}");
        assert!(result.scan_after_seconds.is_some(), "{workload}");
    }
}
