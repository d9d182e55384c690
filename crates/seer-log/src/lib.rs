//! # seer-log
//!
//! The log framing that every log seerdb writes shares, as LevelDB's
//! `log_format` and Pebble's `record` package serve both of their logs. It
//! owns:
//!
//! - [`frame`]: the 24-byte [`LogHeader`] that opens each log file (magic,
//!   format version, [`LogKind`], file number, checksum) and the
//!   checksummed frames after it, built in a [`FrameBuffer`];
//! - [`writer`]: [`LogWriter`], which creates a log and appends frames,
//!   refusing all work after a failed append or sync;
//! - [`reader`]: [`LogReader`], which iterates the frames of one file and
//!   applies the torn-tail rule and the bounded search for valid frames
//!   after damage, under a [`RecoveryMode`] ([`mode`]);
//! - [`verify`]: [`verify_log`], which reads one log back, checks every
//!   frame (and, through the owner's callback, every payload) and counts
//!   them in a [`LogSummary`];
//! - [`error`]: [`LogError`], I/O and corruption naming the file and offset.
//!
//! It deliberately knows nothing of what the payloads mean: WAL records and
//! their sequence order belong to `seer-wal` (which names the mode
//! `WalRecoveryMode`), version edits and `CURRENT` to `seer-compaction`'s
//! manifest. Nor does it know of several logs: which file is the newest,
//! truncating a torn tail and ignoring later files after a stop are the
//! owner's. The byte layout and the rules are in `docs/FORMATS.md` ("WAL and
//! log framing").

pub mod error;
pub mod frame;
pub mod mode;
pub mod reader;
pub mod verify;
pub mod writer;

pub use error::{LogError, Result};
pub use frame::{FrameBuffer, LogHeader, LogKind};
pub use mode::RecoveryMode;
pub use reader::{Frame, LogEnd, LogReader, SkippedRange};
pub use verify::{verify_log, LogSummary, TailRule};
pub use writer::LogWriter;
