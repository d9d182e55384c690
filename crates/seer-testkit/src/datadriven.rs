//! Data-driven tests in the style of Pebble's `testdata/` files: a text file
//! of commands, each with its input and the output it must produce, run by
//! a crate-specific interpreter and compared line by line.
//!
//! File format:
//!
//! ```text
//! # A comment (kept as is; so are blank lines between cases).
//! command key=value key=(a,b) flag
//! input line
//! input line
//! ----
//! expected output
//! expected output
//!
//! next-command
//! ----
//! ----
//! output that holds a blank line
//!
//! ends at a doubled separator
//! ----
//! ----
//! ```
//!
//! A case is a command line (a name and arguments), input lines up to a
//! `----` line, and the expected output up to the next blank line (or end of
//! file). An output that holds blank lines is written between two doubled
//! `----` lines instead. [`run_file`] fails the test with a diff of every
//! case whose output differs; with the environment variable
//! [`REWRITE_ENV`]`=1` it writes the actual outputs into the file instead
//! (review the change with `git diff`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable that makes [`run_file`] rewrite the expected
/// outputs instead of comparing them.
pub const REWRITE_ENV: &str = "SEER_REWRITE_TESTDATA";

const SEPARATOR: &str = "----";

/// One argument of a command line: `key`, `key=value` or `key=(a,b,c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandArg {
    /// The name before `=`.
    pub key: String,
    /// The values after `=` (none for a bare flag).
    pub values: Vec<String>,
}

/// One command of a test file, with its input and expected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The file it came from.
    pub path: PathBuf,
    /// The line number (from 1) of its command line.
    pub line: usize,
    /// The command line as written.
    pub command_line: String,
    /// The command's name (the first word of the command line).
    pub command: String,
    /// The arguments after the name.
    pub args: Vec<CommandArg>,
    /// The input lines, each ending in `\n`.
    pub input: String,
    /// The expected output, each line ending in `\n`.
    pub expected: String,
}

impl TestCase {
    /// `file:line` of the command, for messages.
    pub fn position(&self) -> String {
        format!("{}:{}", self.path.display(), self.line)
    }

    /// The argument named `key`.
    pub fn arg(&self, key: &str) -> Option<&CommandArg> {
        self.args.iter().find(|arg| arg.key == key)
    }

    /// Whether the bare flag (or argument) `key` is present.
    pub fn has_arg(&self, key: &str) -> bool {
        self.arg(key).is_some()
    }

    /// The single value of argument `key`, if present.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.arg(key)
            .and_then(|arg| arg.values.first())
            .map(String::as_str)
    }
}

/// A piece of a test file: text kept verbatim, or a case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Verbatim(String),
    Case(TestCase),
}

/// Runs every case of the test file at `path` through `run`, which returns
/// the case's actual output; panics with a diff of every mismatch (or, with
/// [`REWRITE_ENV`]`=1`, rewrites the file with the actual outputs).
pub fn run_file(path: impl AsRef<Path>, run: impl FnMut(&TestCase) -> String) {
    let rewrite = std::env::var(REWRITE_ENV).is_ok_and(|value| value == "1");
    if let Err(report) = check_file(path.as_ref(), rewrite, run) {
        panic!("{report}");
    }
}

/// Every `*.txt` file of `dir`, in name order (the test fails when there is
/// none, so a moved directory does not pass silently).
pub fn test_files(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => panic!("reading {}: {error}", dir.display()),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| match entry {
            Ok(entry) => entry.path(),
            Err(error) => panic!("listing {}: {error}", dir.display()),
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no *.txt test files in {}",
        dir.display()
    );
    paths
}

/// [`run_file`] without the environment: `Err` holds the report of every
/// mismatching case (or a parse or I/O error); with `rewrite` the file is
/// rewritten with the actual outputs and the result is `Ok`.
pub fn check_file(
    path: &Path,
    rewrite: bool,
    mut run: impl FnMut(&TestCase) -> String,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    let pieces = parse(path, &text)?;
    let mut report = String::new();
    let mut rewritten = String::new();
    for piece in &pieces {
        match piece {
            Piece::Verbatim(text) => rewritten.push_str(text),
            Piece::Case(case) => {
                let actual = normalize(&run(case));
                if actual != case.expected {
                    let _ = writeln!(
                        report,
                        "{}: `{}` output differs (-expected +actual):\n{}",
                        case.position(),
                        case.command_line,
                        line_diff(&case.expected, &actual)
                    );
                }
                write_case(&mut rewritten, case, &actual);
            }
        }
    }
    if rewrite {
        if rewritten != text {
            std::fs::write(path, rewritten)
                .map_err(|error| format!("rewriting {}: {error}", path.display()))?;
        }
        return Ok(());
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{report}(run with {REWRITE_ENV}=1 to rewrite the expected outputs)"
        ))
    }
}

/// Output compared and written: every line ends in `\n`, no trailing blank
/// lines.
fn normalize(output: &str) -> String {
    let trimmed = output.trim_end_matches('\n');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}\n")
    }
}

fn write_case(out: &mut String, case: &TestCase, actual: &str) {
    out.push_str(&case.command_line);
    out.push('\n');
    out.push_str(&case.input);
    out.push_str(SEPARATOR);
    out.push('\n');
    if actual.lines().any(|line| line.trim().is_empty()) {
        out.push_str(SEPARATOR);
        out.push('\n');
        out.push_str(actual);
        out.push_str(SEPARATOR);
        out.push('\n');
        out.push_str(SEPARATOR);
        out.push('\n');
    } else {
        out.push_str(actual);
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<Piece>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let error = |line: usize, what: &str| format!("{}:{}: {what}", path.display(), line + 1);
    let mut pieces = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if line.trim().is_empty() || line.starts_with('#') {
            pieces.push(Piece::Verbatim(format!("{line}\n")));
            index += 1;
            continue;
        }
        let command_index = index;
        let command_line = line;
        let (command, args) = parse_command(line).map_err(|what| error(index, &what))?;
        index += 1;
        let mut input = String::new();
        while index < lines.len() && lines[index] != SEPARATOR {
            input.push_str(lines[index]);
            input.push('\n');
            index += 1;
        }
        if index == lines.len() {
            return Err(error(command_index, "command without a `----` line"));
        }
        index += 1;
        let mut expected = String::new();
        if lines.get(index) == Some(&SEPARATOR) {
            index += 1;
            loop {
                match (lines.get(index), lines.get(index + 1)) {
                    (Some(&SEPARATOR), Some(&SEPARATOR)) => {
                        index += 2;
                        break;
                    }
                    (Some(line), _) => {
                        expected.push_str(line);
                        expected.push('\n');
                        index += 1;
                    }
                    (None, _) => {
                        return Err(error(
                            command_index,
                            "output without its closing `----` `----`",
                        ))
                    }
                }
            }
        } else {
            while index < lines.len() && !lines[index].trim().is_empty() {
                expected.push_str(lines[index]);
                expected.push('\n');
                index += 1;
            }
        }
        pieces.push(Piece::Case(TestCase {
            path: path.to_path_buf(),
            line: command_index + 1,
            command_line: command_line.to_owned(),
            command,
            args,
            input,
            expected: normalize(&expected),
        }));
    }
    Ok(pieces)
}

fn parse_command(line: &str) -> Result<(String, Vec<CommandArg>), String> {
    let mut words = split_words(line)?.into_iter();
    let command = words.next().ok_or("empty command line")?;
    let args = words
        .map(|word| match word.split_once('=') {
            None => CommandArg {
                key: word,
                values: Vec::new(),
            },
            Some((key, value)) => {
                let values = match value.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
                    Some(list) => list.split(',').map(|v| v.trim().to_owned()).collect(),
                    None => vec![value.to_owned()],
                };
                CommandArg {
                    key: key.to_owned(),
                    values,
                }
            }
        })
        .collect();
    Ok((command, args))
}

/// Splits on spaces, keeping `key=(a, b)` lists together.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced `)`")?,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if depth != 0 {
        return Err("unbalanced `(`".to_owned());
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// A line diff of `expected` and `actual` (longest common subsequence):
/// common lines start with two spaces, removed ones with `- `, added ones
/// with `+ `.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    // common[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            let _ = writeln!(out, "  {}", old[i]);
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            let _ = writeln!(out, "- {}", old[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", new[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Doubles its input.
double n=2 flags=(a, b) verbose
x
y
----
x
x
y
y

empty
----

gap
----
----
one

two
----
----
";

    fn doubling(case: &TestCase) -> String {
        match case.command.as_str() {
            "double" => case
                .input
                .lines()
                .flat_map(|line| [line, line])
                .map(|line| format!("{line}\n"))
                .collect(),
            "gap" => "one\n\ntwo\n".to_owned(),
            _ => String::new(),
        }
    }

    fn temp_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn cases_parse_with_arguments_input_and_both_output_forms() {
        let pieces = parse(Path::new("t.txt"), FILE).unwrap();
        let cases: Vec<&TestCase> = pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Case(case) => Some(case),
                Piece::Verbatim(_) => None,
            })
            .collect();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].line, 2);
        assert_eq!(cases[0].value("n"), Some("2"));
        assert_eq!(cases[0].arg("flags").unwrap().values, vec!["a", "b"]);
        assert!(cases[0].has_arg("verbose"));
        assert_eq!(cases[0].input, "x\ny\n");
        assert_eq!(cases[0].expected, "x\nx\ny\ny\n");
        assert_eq!(cases[1].expected, "");
        assert_eq!(cases[2].expected, "one\n\ntwo\n");
    }

    #[test]
    fn matching_outputs_pass_and_leave_the_file_unchanged() {
        let (_dir, path) = temp_file(FILE);
        check_file(&path, false, doubling).unwrap();
        check_file(&path, true, doubling).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
    }

    #[test]
    fn a_wrong_expectation_fails_with_a_diff_naming_the_case() {
        let (_dir, path) = temp_file(&FILE.replace("x\nx\ny\ny\n", "x\nx\nz\ny\n"));
        let report = check_file(&path, false, doubling).unwrap_err();
        assert!(
            report.contains("case.txt:2: `double n=2 flags=(a, b) verbose`"),
            "{report}"
        );
        assert!(report.contains("  x\n- z\n  y\n+ y\n"), "{report}");
        assert!(report.contains(REWRITE_ENV), "{report}");
    }

    #[test]
    fn rewrite_writes_the_actual_outputs() {
        let wrong = FILE
            .replace("x\nx\ny\ny\n", "stale\n")
            .replace("----\n----\none\n\ntwo\n----\n----\n", "----\nold\n");
        let (_dir, path) = temp_file(&wrong);
        assert!(check_file(&path, false, doubling).is_err());
        check_file(&path, true, doubling).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
    }

    #[test]
    fn a_command_without_its_separator_is_an_error() {
        let error = parse(Path::new("t.txt"), "cmd\ninput\n").unwrap_err();
        assert!(error.contains("t.txt:1"), "{error}");
    }

    #[test]
    fn line_diff_marks_removed_and_added_lines() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nc\nd\n"), "  a\n- b\n  c\n+ d\n");
    }
}
