//! The harness's error type: what can go wrong while preparing, running or
//! reporting a benchmark.

use std::path::PathBuf;

/// Everything the harness can fail on.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An engine call failed; the engine's own message is kept.
    #[error("{engine}: {message}")]
    Engine {
        /// The engine's name.
        engine: &'static str,
        /// The engine's error, as text.
        message: String,
    },
    /// The engine cannot do this operation (e.g. fjall has no merge operator).
    #[error("{engine} does not support {operation}")]
    Unsupported {
        /// The engine's name.
        engine: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
    /// A file or directory operation of the harness failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A command-line value or combination makes no sense.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A job's child process failed or answered something unreadable.
    #[error("job {job}: {message}")]
    Job {
        /// The job, as `engine/workload`.
        job: String,
        /// What went wrong.
        message: String,
    },
    /// Writing or reading a JSON file failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing a chart failed.
    #[error("chart {path}: {message}")]
    Chart {
        /// The SVG file being drawn.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },
}

impl BenchError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, BenchError>;
