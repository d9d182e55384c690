//! Data-driven tests of the picker and of version edits: the files in
//! `tests/testdata/` hold commands, their inputs and the outputs they must
//! print (format and rewriting: `seer_testkit::datadriven`;
//! `SEER_REWRITE_TESTDATA=1 cargo test -p seer-compaction --test datadriven`
//! rewrites the outputs, to be reviewed with `git diff`).
//!
//! Commands (each file starts from an empty 5-level tree and the default
//! options below):
//!
//! - `define [levels=N]`: the version whose levels, runs and tables the
//!   input lists, in the form versions print:
//!   `L4` / `run 1` / `#7 a..f seq=1..10 size=4M` (a table's boundary keys
//!   carry its largest and smallest sequence number unless written
//!   `a#5..f#3`). Prints the version and the invariant check's result;
//!   clears the running compactions.
//! - `apply`: an edit, one line each `remove L<n> #<file>` or
//!   `add L<n> run <id> #<file> <keys> seq=.. size=..`. Prints the new
//!   version, or why it is refused: the edit does not fit the version, or
//!   its result breaks an invariant (the version set refuses both and keeps
//!   the version, and so does this command).
//! - `options [l0-trigger=N] [base-level=SIZE] [target-file=SIZE]
//!   [policy=leveling(T)|tiering(T)|lazy(T)|fluid(T,K,Z)]`: picker options
//!   and policy for the commands after it; prints them.
//! - `targets`, `scores`: the level capacities and base level; every
//!   non-empty level's score.
//! - `flush-splits`: the user keys a flush would cut its level-0 run at
//!   (`Picker::flush_split_keys`), or `no split`.
//! - `pick [as=NAME]`: the picker's next compaction given the running ones;
//!   `as` registers it as running under `NAME`.
//! - `pick-manual [range=a..z] [as=NAME]`: the next step of a manual
//!   compaction of the range (everything without `range`).
//! - `install NAME file=N`: compaction `NAME` finished: it stops running and
//!   its result is applied (a trivial move relinks the tables; otherwise one
//!   output table `#N`, spanning the inputs' keys, sequence numbers and
//!   bytes, in run `N` or the run the outputs join), printed as `apply`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use seer_compaction::picker::{
    Compaction, CompactionsInProgress, ManualPick, Picker, PickerOptions,
    DEFAULT_MAX_SPACE_AMPLIFICATION,
};
use seer_compaction::{PolicyParams, TableMeta, Version, VersionEdit};
use seer_core::{InternalKey, ValueKind};
use seer_testkit::datadriven::{run_file, TestCase};

const DEFAULT_LEVELS: usize = 5;
const MIB: u64 = 1 << 20;

/// What one test file has built so far.
struct State {
    version: Version,
    options: PickerOptions,
    params: PolicyParams,
    in_progress: CompactionsInProgress,
    running: HashMap<String, Compaction>,
}

impl State {
    fn new() -> Self {
        Self {
            version: Version::empty(DEFAULT_LEVELS),
            options: PickerOptions {
                l0_trigger_runs: 4,
                base_level_bytes: 10 * MIB,
                target_file_size_bytes: MIB,
                max_space_amplification: DEFAULT_MAX_SPACE_AMPLIFICATION,
            },
            params: PolicyParams::leveling(10).unwrap(),
            in_progress: CompactionsInProgress::new(),
            running: HashMap::new(),
        }
    }

    fn picker(&self) -> Picker {
        Picker::new(self.options)
    }

    fn run(&mut self, case: &TestCase) -> Result<String, String> {
        match case.command.as_str() {
            "define" => self.define(case),
            "apply" => {
                let edit = parse_edit(&case.input)?;
                Ok(self.install_edit(&edit))
            }
            "options" => self.set_options(case),
            "targets" => Ok(self.targets()),
            "flush-splits" => Ok(self.flush_splits()),
            "scores" => Ok(self.scores()),
            "pick" => {
                let pick = self
                    .picker()
                    .pick(&self.version, self.params, &self.in_progress);
                Ok(match pick {
                    Some(compaction) => self.picked(case, compaction),
                    None => "no compaction\n".to_owned(),
                })
            }
            "pick-manual" => {
                let range = case.value("range").map(parse_range).transpose()?;
                let range = range.as_ref().map(|(s, e)| (s.as_bytes(), e.as_bytes()));
                let pick =
                    self.picker()
                        .pick_manual(&self.version, self.params, range, &self.in_progress);
                Ok(match pick {
                    ManualPick::Compaction(compaction) => self.picked(case, compaction),
                    ManualPick::Busy => "busy\n".to_owned(),
                    ManualPick::Done => "done\n".to_owned(),
                })
            }
            "install" => self.install_compaction(case),
            other => Err(format!("unknown command `{other}`")),
        }
    }

    fn define(&mut self, case: &TestCase) -> Result<String, String> {
        let levels = match case.value("levels") {
            Some(levels) => parse_number(levels)? as usize,
            None => DEFAULT_LEVELS,
        };
        let edit = parse_version(&case.input)?;
        self.in_progress = CompactionsInProgress::new();
        self.running.clear();
        let version = Version::empty(levels)
            .apply(&edit)
            .map_err(|error| format!("edit refused: {error}"))?;
        let mut out = print_version(&version);
        match version.check_invariants() {
            Ok(()) => out.push_str("invariants: ok\n"),
            Err(violation) => {
                let _ = writeln!(out, "invariants: {violation}");
            }
        }
        self.version = version;
        Ok(out)
    }

    /// Applies `edit` as the version set does: refused (and the version
    /// kept) when it does not fit or breaks an invariant.
    fn install_edit(&mut self, edit: &VersionEdit) -> String {
        let next = match self.version.apply(edit) {
            Ok(next) => next,
            Err(error) => return format!("edit refused: {error}\n"),
        };
        if let Err(violation) = next.check_invariants() {
            return format!("invariant refused: {violation}\n");
        }
        self.version = next;
        print_version(&self.version)
    }

    fn set_options(&mut self, case: &TestCase) -> Result<String, String> {
        for arg in &case.args {
            let value = arg.values.first().map(String::as_str).unwrap_or_default();
            match arg.key.as_str() {
                "l0-trigger" => self.options.l0_trigger_runs = parse_number(value)? as usize,
                "base-level" => self.options.base_level_bytes = parse_size(value)?,
                "target-file" => self.options.target_file_size_bytes = parse_size(value)?,
                "policy" => self.params = parse_policy(value)?,
                "space-bound" => {
                    self.options.max_space_amplification = value
                        .parse()
                        .map_err(|error| format!("space-bound `{value}`: {error}"))?
                }
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(format!(
            "l0-trigger={} base-level={} target-file={} space-bound={} policy: {}\n",
            self.options.l0_trigger_runs,
            print_size(self.options.base_level_bytes),
            print_size(self.options.target_file_size_bytes),
            self.options.max_space_amplification,
            self.params
        ))
    }

    fn targets(&self) -> String {
        let targets = self.picker().level_targets(&self.version, self.params);
        let mut out = format!("base level: L{}\n", targets.base_level);
        for (level, capacity) in targets.capacity_bytes.iter().enumerate().skip(1) {
            let size = self.version.levels()[level].size_bytes();
            let _ = writeln!(
                out,
                "L{level}: size {} capacity {}",
                print_size(size),
                print_size(*capacity)
            );
        }
        out
    }

    fn flush_splits(&self) -> String {
        let keys = self.picker().flush_split_keys(&self.version, self.params);
        if keys.is_empty() {
            return "no split\n".to_owned();
        }
        let keys: Vec<String> = keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        format!("{}\n", keys.join(" "))
    }

    fn scores(&self) -> String {
        let mut out = String::new();
        for score in self.picker().scores(&self.version, self.params) {
            let _ = writeln!(
                out,
                "L{}: {:.2} ({})",
                score.level, score.score, score.reason
            );
        }
        if out.is_empty() {
            out.push_str("no level holds data\n");
        }
        out
    }

    fn picked(&mut self, case: &TestCase, compaction: Compaction) -> String {
        let out = print_compaction(&compaction);
        if let Some(name) = case.value("as") {
            self.in_progress.register(&compaction);
            self.running.insert(name.to_owned(), compaction);
        }
        out
    }

    fn install_compaction(&mut self, case: &TestCase) -> Result<String, String> {
        let name = case
            .args
            .first()
            .map(|arg| arg.key.clone())
            .ok_or("install needs the name of a running compaction")?;
        let compaction = self
            .running
            .remove(&name)
            .ok_or(format!("no running compaction `{name}`"))?;
        let file_number = parse_number(case.value("file").ok_or("install needs file=N")?)?;
        self.in_progress.finish(&compaction);
        let run_id = compaction.output_run_id.unwrap_or(file_number);
        if compaction.is_trivial_move() {
            return Ok(self.install_edit(&compaction.trivial_move_edit(run_id)));
        }
        let (start, end) = compaction
            .user_key_range()
            .ok_or("compaction without inputs")?;
        let smallest_seq = compaction.input_tables().map(|t| t.smallest_seq).min();
        let largest_seq = compaction.input_tables().map(|t| t.largest_seq).max();
        let output = TableSpec {
            file_number,
            smallest: start,
            largest: end,
            smallest_seq: smallest_seq.unwrap_or(0),
            largest_seq: largest_seq.unwrap_or(0),
            boundary_seqs: None,
            size_bytes: compaction.input_bytes(),
        };
        let mut edit = compaction.removal_edit();
        edit.add_table(compaction.output_level, run_id, output.meta());
        Ok(self.install_edit(&edit))
    }
}

/// A table as the test files write it.
struct TableSpec {
    file_number: u64,
    smallest: Bytes,
    largest: Bytes,
    smallest_seq: u64,
    largest_seq: u64,
    /// The boundary keys' sequence numbers, when not `(largest_seq,
    /// smallest_seq)`.
    boundary_seqs: Option<(u64, u64)>,
    size_bytes: u64,
}

impl TableSpec {
    fn meta(&self) -> Arc<TableMeta> {
        let (smallest_key_seq, largest_key_seq) = self
            .boundary_seqs
            .unwrap_or((self.largest_seq, self.smallest_seq));
        Arc::new(TableMeta {
            file_number: self.file_number,
            file_size_bytes: self.size_bytes,
            smallest: InternalKey::new(self.smallest.clone(), smallest_key_seq, ValueKind::Put),
            largest: InternalKey::new(self.largest.clone(), largest_key_seq, ValueKind::Put),
            smallest_seq: self.smallest_seq,
            largest_seq: self.largest_seq,
            entry_count: 1,
            tombstone_count: 0,
            merge_count: 0,
            raw_key_bytes: 0,
            raw_value_bytes: 0,
            earliest_expiry_unix_ms: None,
        })
    }

    /// `#<file> <smallest>[#seq]..<largest>[#seq] seq=<lo>..<hi> size=<size>`.
    fn parse(words: &[&str]) -> Result<Self, String> {
        let [file, keys, rest @ ..] = words else {
            return Err(format!(
                "a table is `#<file> <keys> seq=.. size=..`, not `{}`",
                words.join(" ")
            ));
        };
        let file_number = parse_number(
            file.strip_prefix('#')
                .ok_or("a table starts with #<file>")?,
        )?;
        let (smallest, largest) = parse_range(keys)?;
        let split_seq = |key: &str| -> Result<(String, Option<u64>), String> {
            match key.split_once('#') {
                Some((key, seq)) => Ok((key.to_owned(), Some(parse_number(seq)?))),
                None => Ok((key.to_owned(), None)),
            }
        };
        let (smallest, smallest_key_seq) = split_seq(&smallest)?;
        let (largest, largest_key_seq) = split_seq(&largest)?;
        let mut spec = Self {
            file_number,
            smallest: Bytes::from(smallest),
            largest: Bytes::from(largest),
            smallest_seq: 0,
            largest_seq: 0,
            boundary_seqs: None,
            size_bytes: MIB,
        };
        for word in rest {
            match word.split_once('=') {
                Some(("seq", seqs)) => {
                    let (lo, hi) = parse_range(seqs)?;
                    spec.smallest_seq = parse_number(&lo)?;
                    spec.largest_seq = parse_number(&hi)?;
                }
                Some(("size", size)) => spec.size_bytes = parse_size(size)?,
                _ => return Err(format!("unknown table field `{word}`")),
            }
        }
        if smallest_key_seq.is_some() || largest_key_seq.is_some() {
            spec.boundary_seqs = Some((
                smallest_key_seq.unwrap_or(spec.largest_seq),
                largest_key_seq.unwrap_or(spec.smallest_seq),
            ));
        }
        Ok(spec)
    }
}

fn print_table(out: &mut String, table: &TableMeta) {
    let smallest = String::from_utf8_lossy(table.smallest.user_key());
    let largest = String::from_utf8_lossy(table.largest.user_key());
    let default_bounds =
        table.smallest.seq() == table.largest_seq && table.largest.seq() == table.smallest_seq;
    let keys = if default_bounds {
        format!("{smallest}..{largest}")
    } else {
        format!(
            "{smallest}#{}..{largest}#{}",
            table.smallest.seq(),
            table.largest.seq()
        )
    };
    let _ = writeln!(
        out,
        "#{} {keys} seq={}..{} size={}",
        table.file_number,
        table.smallest_seq,
        table.largest_seq,
        print_size(table.file_size_bytes)
    );
}

fn print_version(version: &Version) -> String {
    let mut out = String::new();
    for (index, level) in version.levels().iter().enumerate() {
        if level.is_empty() {
            continue;
        }
        let _ = writeln!(out, "L{index}");
        for run in level.runs() {
            let _ = writeln!(out, "  run {}", run.run_id());
            for table in run.tables() {
                out.push_str("    ");
                print_table(&mut out, table);
            }
        }
    }
    if out.is_empty() {
        out.push_str("(empty)\n");
    }
    out
}

fn print_compaction(compaction: &Compaction) -> String {
    let source_level = compaction.inputs.first().map_or(0, |input| input.level);
    let mut out = format!(
        "L{source_level} -> L{}: {}\n",
        compaction.output_level, compaction.reason
    );
    for input in &compaction.inputs {
        let tables: Vec<String> = input
            .tables
            .iter()
            .map(|t| format!("#{}", t.file_number))
            .collect();
        let _ = writeln!(
            out,
            "  input L{} run {}: {}",
            input.level,
            input.run_id,
            tables.join(" ")
        );
    }
    let output_run = match compaction.output_run_id {
        Some(run_id) => format!("joins run {run_id}"),
        None => "new run".to_owned(),
    };
    let _ = writeln!(
        out,
        "  output: {output_run}, {} input bytes{}{}",
        print_size(compaction.input_bytes()),
        if compaction.bottommost {
            ", bottommost"
        } else {
            ""
        },
        if compaction.is_trivial_move() {
            ", trivial move"
        } else {
            ""
        },
    );
    out
}

/// A version's tables, as an edit from the empty tree.
fn parse_version(input: &str) -> Result<VersionEdit, String> {
    let mut edit = VersionEdit::new();
    let mut level = None;
    let mut run_id = None;
    for line in input.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            [word] if word.starts_with('L') => {
                level = Some(parse_level(word)?);
                run_id = None;
            }
            ["run", id] => run_id = Some(parse_number(id)?),
            [first, ..] if first.starts_with('#') => {
                let (Some(level), Some(run_id)) = (level, run_id) else {
                    return Err(format!("table before its level and run: `{line}`"));
                };
                edit.add_table(level, run_id, TableSpec::parse(&words)?.meta());
            }
            _ => return Err(format!("not a level, run or table: `{line}`")),
        }
    }
    Ok(edit)
}

/// `remove L<n> #<file>` and `add L<n> run <id> <table>` lines.
fn parse_edit(input: &str) -> Result<VersionEdit, String> {
    let mut edit = VersionEdit::new();
    for line in input.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["remove", level, file] => {
                let file = file.strip_prefix('#').ok_or("remove L<n> #<file>")?;
                edit.remove_table(parse_level(level)?, parse_number(file)?);
            }
            ["add", level, "run", id, table @ ..] => {
                edit.add_table(
                    parse_level(level)?,
                    parse_number(id)?,
                    TableSpec::parse(table)?.meta(),
                );
            }
            _ => return Err(format!("not an edit line: `{line}`")),
        }
    }
    Ok(edit)
}

fn parse_level(word: &str) -> Result<usize, String> {
    let number = word
        .strip_prefix('L')
        .ok_or(format!("`{word}` is not a level"))?;
    Ok(parse_number(number)? as usize)
}

fn parse_number(word: &str) -> Result<u64, String> {
    word.parse()
        .map_err(|_| format!("`{word}` is not a number"))
}

fn parse_range(word: &str) -> Result<(String, String), String> {
    let (start, end) = word
        .split_once("..")
        .ok_or(format!("`{word}` is not a range `start..end`"))?;
    Ok((start.to_owned(), end.to_owned()))
}

/// `123`, `64K`, `10M`, `2G` (binary units).
fn parse_size(word: &str) -> Result<u64, String> {
    let (digits, unit) = match word.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => word.split_at(index),
        None => (word, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("`{word}`: a size is a number and K, M or G")),
    };
    Ok(parse_number(digits)? << shift)
}

fn print_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// `leveling(T)`, `tiering(T)`, `lazy(T)` or `fluid(T,K,Z)`.
fn parse_policy(word: &str) -> Result<PolicyParams, String> {
    let (name, args) = word
        .strip_suffix(')')
        .and_then(|w| w.split_once('('))
        .ok_or(format!("`{word}` is not a policy such as leveling(10)"))?;
    let numbers: Vec<u32> = args
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .map_err(|_| format!("`{n}` is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let params = match (name, numbers.as_slice()) {
        ("leveling", [t]) => PolicyParams::leveling(*t),
        ("tiering", [t]) => PolicyParams::tiering(*t),
        ("lazy", [t]) => PolicyParams::lazy_leveling(*t),
        ("fluid", [t, k, z]) => PolicyParams::new(*t, *k, *z),
        _ => return Err(format!("unknown policy `{word}`")),
    };
    params.map_err(|error| error.to_string())
}

fn run_testdata(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name);
    let mut state = State::new();
    run_file(&path, |case| match state.run(case) {
        Ok(out) => out,
        Err(error) => format!("error: {error}\n"),
    });
}

#[test]
fn version_edits_testdata() {
    run_testdata("version_edits.txt");
}

#[test]
fn picker_base_level_testdata() {
    run_testdata("picker_base_level.txt");
}

#[test]
fn picker_bottommost_testdata() {
    run_testdata("picker_bottommost.txt");
}

#[test]
fn picker_leveled_testdata() {
    run_testdata("picker_leveled.txt");
}

#[test]
fn picker_tiered_testdata() {
    run_testdata("picker_tiered.txt");
}

#[test]
fn picker_manual_testdata() {
    run_testdata("picker_manual.txt");
}

#[test]
fn picker_level0_split_testdata() {
    run_testdata("picker_level0_split.txt");
}

/// Every file in `tests/testdata/` has its test above.
#[test]
fn every_testdata_file_is_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let names: Vec<String> = seer_testkit::datadriven::test_files(&dir)
        .iter()
        .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
        .collect();
    let source = include_str!("datadriven.rs");
    for name in names {
        assert!(
            source.contains(&format!("run_testdata(\"{name}\")")),
            "{name} has no test in datadriven.rs"
        );
    }
}
