//! What a command ends with: [`Outcome`] (success, or a negative answer:
//! damage found, a key absent) and [`CliError`] (the command could not do
//! its work), each with its exit status, and the one-line messages made
//! from the library's errors.

use std::path::{Path, PathBuf};

/// Exit status of a command that did its work and found nothing wrong.
pub const EXIT_OK: u8 = 0;
/// Exit status of a command whose answer is negative: damage was found
/// (`verify`, `table --verify`, a dump that reports damage) or `get` found
/// no value.
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit status of a command that failed (a missing or locked database, a
/// file that cannot be read, bad arguments).
pub const EXIT_ERROR: u8 = 2;

/// How a command that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checked is intact; the answer was found.
    Ok,
    /// Damage was found, or the key is absent.
    Negative,
}

impl Outcome {
    /// The process exit status.
    pub fn exit_status(self) -> u8 {
        match self {
            Self::Ok => EXIT_OK,
            Self::Negative => EXIT_NEGATIVE,
        }
    }

    /// [`Outcome::Negative`] when `damaged`.
    pub fn damaged_if(damaged: bool) -> Self {
        if damaged {
            Self::Negative
        } else {
            Self::Ok
        }
    }
}

/// A command that could not do its work: one line for standard error
/// (exit status [`EXIT_ERROR`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The message, one line, naming the file or argument at fault.
    pub message: String,
    /// Whether writing to standard output failed because its reader went
    /// away (`seer scan DB | head`): the command stops quietly.
    pub broken_pipe: bool,
}

impl CliError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            message: one_line(&message),
            broken_pipe: false,
        }
    }

    /// A bad command-line argument.
    pub fn argument(name: &str, problem: &str) -> Self {
        Self::new(format!("bad {name}: {problem}"))
    }

    /// The library's error on database `db`, made one line with a hint
    /// where one helps.
    pub fn from_db(db: &Path, error: &seer_db::Error) -> Self {
        match error {
            seer_db::Error::Locked { .. } => Self::new(format!(
                "{}: the database is locked: another process has it open (seer takes the \
                 writer's lock, even to read, until read-only opens exist)",
                db.display()
            )),
            other => Self::new(other.to_string()),
        }
    }

    /// A failed write to standard output.
    pub fn output(error: &std::io::Error) -> Self {
        Self {
            broken_pipe: error.kind() == std::io::ErrorKind::BrokenPipe,
            ..Self::new(format!("writing to standard output: {error}"))
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        Self::output(&error)
    }
}

/// Any displayable error about file `file` (the library's own messages
/// name the file already; `file` is added when they do not).
pub fn file_error(file: &Path, error: &dyn std::fmt::Display) -> CliError {
    let text = error.to_string();
    let shown = file.display().to_string();
    if text.contains(&shown) {
        CliError::new(text)
    } else {
        CliError::new(format!("{shown}: {text}"))
    }
}

/// `path` checked to exist, with a clear error when it does not.
pub fn existing(path: &Path) -> Result<PathBuf, CliError> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(path.to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(CliError::new(format!(
            "{}: no such file or directory",
            path.display()
        ))),
        Err(error) => Err(file_error(path, &error)),
    }
}

/// `text` with line breaks replaced, so every message is one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
