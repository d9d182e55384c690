//! [`RecoveryMode`]: what a [`LogReader`](crate::LogReader) makes of damaged
//! bytes.

/// How a reader treats damaged log bytes, as RocksDB's WAL recovery modes.
///
/// The reader judges one file; an owner of several logs (the WAL's
/// segments) applies the same mode across them: only its newest log may
/// end torn, and after a point-in-time stop it ignores the later logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn final record of the newest log (an incomplete frame, or a
    /// zero-filled tail) is dropped and reported so the owner can truncate
    /// it; any other damage, a damaged complete final frame included, is an
    /// error.
    #[default]
    TolerateCorruptedTail,
    /// Any damage, even a torn final record, is an error.
    AbsoluteConsistency,
    /// Replay stops at the first damage; everything after it, including
    /// later logs, is ignored.
    PointInTime,
    /// Damaged regions are skipped and replay goes on after them.
    SkipCorrupted,
}

impl RecoveryMode {
    /// Every mode, for tests and tools.
    pub const ALL: [Self; 4] = [
        Self::TolerateCorruptedTail,
        Self::AbsoluteConsistency,
        Self::PointInTime,
        Self::SkipCorrupted,
    ];
}
