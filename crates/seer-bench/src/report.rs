//! What a run produces: the summary table on stdout, the JSON file of every
//! result, and the `--report` directory (markdown plus one SVG bar chart per
//! workload).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::{EngineConfig, EngineKind};
use crate::error::{BenchError, Result};
use crate::run::JobResult;
use crate::workload::{RunParams, Workload};

/// Columns of the summary table.
const COLUMNS: usize = 15;

/// The column headers of the summary table.
const HEADERS: [&str; COLUMNS] = [
    "workload",
    "engine",
    "ops/s",
    "min-max ops/s",
    "x best",
    "MB/s",
    "p50 us",
    "p99 us",
    "p99.9 us",
    "write amp",
    "space amp",
    "db MiB",
    "peak RSS MiB",
    "peak anon MiB",
    "peak file MiB",
];

/// How the run was made: everything needed to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The command line.
    pub command: String,
    /// Engines, in the order given.
    pub engines: Vec<EngineKind>,
    /// Run parameters.
    pub params: RunParams,
    /// Engine settings, common to all.
    pub config: EngineConfig,
    /// Each engine's settings in its own terms, as `(engine, settings)`.
    pub engine_settings: Vec<(EngineKind, String)>,
    /// Repetitions.
    pub repeat: usize,
    /// CPUs available to the run.
    pub cpu_count: usize,
    /// Wall time of the whole suite.
    pub total_seconds: f64,
}

/// The JSON file: the run and every job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchOutput {
    /// How the run was made.
    pub info: RunInfo,
    /// Every job, in run order (all repetitions).
    pub results: Vec<JobResult>,
}

/// One (workload, engine) over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The repetition with the median ops/s (the upper one of an even count).
    pub median: JobResult,
    /// Repetitions.
    pub runs: usize,
    /// The slowest repetition's ops/s.
    pub min_ops_per_sec: f64,
    /// The fastest repetition's ops/s.
    pub max_ops_per_sec: f64,
}

/// One row per (workload, engine): the median repetition and the spread.
/// Workloads keep their order of first appearance, engines their order in
/// [`EngineKind`].
pub fn summarize(results: &[JobResult]) -> Vec<SummaryRow> {
    let mut workloads: Vec<Workload> = Vec::new();
    let mut engines: Vec<EngineKind> = Vec::new();
    for result in results {
        if !workloads.contains(&result.workload) {
            workloads.push(result.workload);
        }
        if !engines.contains(&result.engine) {
            engines.push(result.engine);
        }
    }
    engines.sort();
    let mut rows = Vec::new();
    for workload in workloads {
        for &engine in &engines {
            let mut runs: Vec<&JobResult> = results
                .iter()
                .filter(|r| r.workload == workload && r.engine == engine)
                .collect();
            if runs.is_empty() {
                continue;
            }
            runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
            rows.push(SummaryRow {
                median: runs[runs.len() / 2].clone(),
                runs: runs.len(),
                min_ops_per_sec: runs[0].ops_per_sec,
                max_ops_per_sec: runs[runs.len() - 1].ops_per_sec,
            });
        }
    }
    rows
}

/// Operations per second in three significant digits: `301K`, `2.03M`.
pub fn compact_ops(ops_per_sec: f64) -> String {
    match ops_per_sec {
        x if x >= 1e6 => format!("{:.2}M", x / 1e6),
        x if x >= 1e5 => format!("{:.0}K", x / 1e3),
        x if x >= 1e4 => format!("{:.1}K", x / 1e3),
        x if x >= 1e3 => format!("{:.2}K", x / 1e3),
        x => format!("{x:.0}"),
    }
}

/// The table's cells for summary rows.
fn table_cells(summary: &[SummaryRow]) -> Vec<[String; COLUMNS]> {
    summary
        .iter()
        .map(|summary_row| {
            let row = &summary_row.median;
            let best = summary
                .iter()
                .map(|other| &other.median)
                .filter(|other| other.workload == row.workload)
                .map(|other| other.ops_per_sec)
                .fold(0.0, f64::max);
            let mib = |bytes: u64| format!("{:.1}", bytes as f64 / (1u64 << 20) as f64);
            let optional = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.2}"));
            if let Some(reason) = &row.skipped {
                let mut cells: [String; COLUMNS] = Default::default();
                cells[0] = row.workload.name();
                cells[1] = row.engine.name().to_owned();
                cells[2] = format!("n/a ({reason})");
                return cells;
            }
            [
                row.workload.name(),
                row.engine.name().to_owned(),
                format!("{:.0}", row.ops_per_sec),
                if summary_row.runs > 1 {
                    format!(
                        "{}-{}",
                        compact_ops(summary_row.min_ops_per_sec),
                        compact_ops(summary_row.max_ops_per_sec)
                    )
                } else {
                    "-".to_owned()
                },
                if best > 0.0 {
                    format!("{:.2}", row.ops_per_sec / best)
                } else {
                    "-".to_owned()
                },
                format!("{:.1}", row.mb_per_sec),
                format!("{:.1}", row.latency.p50_us),
                format!("{:.1}", row.latency.p99_us),
                format!("{:.1}", row.latency.p999_us),
                optional(row.write_amp),
                optional(row.space_amp),
                mib(row.db_size_bytes),
                row.peak_rss_bytes.map_or("-".to_owned(), mib),
                row.peak_rss_anon_bytes.map_or("-".to_owned(), mib),
                row.peak_rss_file_bytes.map_or("-".to_owned(), mib),
            ]
        })
        .collect()
}

/// The summary table as aligned text.
pub fn text_table(rows: &[SummaryRow]) -> String {
    let cells = table_cells(rows);
    let mut widths = HEADERS.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&HEADERS.map(str::to_owned));
    for row in &cells {
        line(row);
    }
    out
}

/// The summary table as markdown.
pub fn markdown_table(rows: &[SummaryRow]) -> String {
    let mut out = format!("| {} |\n", HEADERS.join(" | "));
    let aligns: Vec<&str> = (0..HEADERS.len())
        .map(|column| if column < 2 { ":--" } else { "--:" })
        .collect();
    let _ = writeln!(out, "| {} |", aligns.join(" | "));
    for row in table_cells(rows) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// The `scale` rows as a markdown table of what issue 14 asks for, or
/// `None` when the run has no `scale` job. Write amplification is shown
/// twice: as the harness measures it for every engine (`/proc/self/io`
/// `write_bytes` from open to close over the user's key and value bytes)
/// and as the engine counts it itself, where it does.
pub fn scale_table(rows: &[SummaryRow], params: &RunParams) -> Option<String> {
    let scale: Vec<&JobResult> = rows
        .iter()
        .map(|row| &row.median)
        .filter(|row| row.workload == Workload::Scale)
        .collect();
    if scale.is_empty() {
        return None;
    }
    let live_mb = params.live_bytes() as f64 / 1e6;
    let mut out = format!(
        "scale: random fill of {} keys then an overwrite of each once ({live_mb:.0} MB live)\n\n\
         | engine | puts/s | p99.9 put us | max put ms | puts > 10 ms | puts > 100 ms | \
         peak dir / live | after close / live | write amp (process) | write amp (engine) |\n\
         | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: |\n",
        params.num
    );
    let ratio = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.2}x"));
    for row in scale {
        if let Some(reason) = &row.skipped {
            let _ = writeln!(out, "| {} | n/a ({reason}) |", row.engine);
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |",
            row.engine,
            row.ops_per_sec,
            row.latency.p999_us,
            row.latency.max_us / 1000.0,
            row.latency.over_10ms,
            row.latency.over_100ms,
            ratio(row.peak_space_amp),
            ratio(row.space_amp),
            ratio(row.write_amp),
            ratio(row.engine_report.write_amp),
        );
    }
    Some(out)
}

/// The settings, as printed with the results.
pub fn settings_text(info: &RunInfo) -> String {
    let params = &info.params;
    let mut out = format!(
        "num {} keys, reads {}, key {} B, value {} B, threads {}, sync {}, duration cap {}, \
         repeat {}, seed {}, {} CPUs, suite {:.0} s\ncommon: {}\n",
        params.num,
        params.reads,
        params.key_size_bytes,
        params.value_size_bytes,
        params.threads,
        params.sync,
        if params.duration_secs > 0 {
            format!("{} s", params.duration_secs)
        } else {
            "none".to_owned()
        },
        info.repeat,
        params.seed,
        info.cpu_count,
        info.total_seconds,
        info.config,
    );
    for (engine, settings) in &info.engine_settings {
        let _ = writeln!(out, "{engine}: {settings}");
    }
    out
}

/// A one-line summary of one job, for the progress log.
pub fn one_line(result: &JobResult) -> String {
    if let Some(reason) = &result.skipped {
        return format!("{} {}: skipped: {reason}", result.engine, result.workload);
    }
    format!(
        "{} {} #{}: {:.0} ops/s, p99 {:.1} us, {:.1} s, db {:.1} MiB{}",
        result.engine,
        result.workload,
        result.repeat,
        result.ops_per_sec,
        result.latency.p99_us,
        result.seconds,
        result.db_size_bytes as f64 / (1u64 << 20) as f64,
        result
            .engine_report
            .notes
            .as_ref()
            .map_or(String::new(), |notes| format!(" ({notes})")),
    )
}

/// Writes the JSON file of the run.
pub fn write_json(path: &Path, output: &BenchOutput) -> Result<()> {
    let json = serde_json::to_string_pretty(output)?;
    fs::write(path, json).map_err(|error| BenchError::io(path, error))
}

/// Writes `report.md` and one `<workload>.svg` per workload into `dir`.
pub fn write_report(dir: &Path, output: &BenchOutput) -> Result<()> {
    fs::create_dir_all(dir).map_err(|error| BenchError::io(dir, error))?;
    let rows = summarize(&output.results);
    let mut markdown = String::from("# seer-bench report\n\n");
    let _ = writeln!(markdown, "Command: `{}`\n", output.info.command);
    let _ = writeln!(markdown, "```text\n{}```\n", settings_text(&output.info));
    markdown.push_str(&markdown_table(&rows));
    markdown.push('\n');
    if let Some(scale) = scale_table(&rows, &output.info.params) {
        markdown.push_str(&scale);
        markdown.push('\n');
    }
    let mut workloads: Vec<Workload> = Vec::new();
    for row in &rows {
        if !workloads.contains(&row.median.workload) {
            workloads.push(row.median.workload);
        }
    }
    for workload in workloads {
        let bars: Vec<(String, f64)> = rows
            .iter()
            .map(|row| &row.median)
            .filter(|row| row.workload == workload && row.skipped.is_none())
            .map(|row| (row.engine.name().to_owned(), row.ops_per_sec))
            .collect();
        let file = format!("{}.svg", workload.name());
        crate::chart::bar_chart_svg(&dir.join(&file), &format!("{workload} (ops/s)"), &bars)?;
        let _ = writeln!(markdown, "![{workload}]({file})");
    }
    let path = dir.join("report.md");
    fs::write(&path, markdown).map_err(|error| BenchError::io(&path, error))
}
