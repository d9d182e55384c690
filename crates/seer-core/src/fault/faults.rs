//! What can be injected ([`Fault`]), the countdowns that fire them, the
//! operation counters ([`FaultStats`]) and the seeded generator behind the
//! random parts of a power loss.

use std::io;
use std::path::Path;

/// One fault to inject, armed with [`super::FaultFileSystem::arm`].
///
/// `nth` counts calls of the named operation from the moment the fault is
/// armed: `nth = 1` fails the very next call, `nth = 3` lets two succeed and
/// fails the third (0 behaves as 1). A counted fault fires once and then
/// disarms itself; arming a fault of the same operation again replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The `nth` append fails and writes nothing.
    FailWrite {
        /// Which append fails, counting from 1.
        nth: u64,
    },
    /// The `nth` append writes only its first `kept_bytes` bytes, then fails.
    ShortWrite {
        /// Which append is cut short, counting from 1.
        nth: u64,
        /// How many of its bytes land in the file before the error.
        kept_bytes: usize,
    },
    /// The `nth` file sync (`sync_data` or `sync_all`) fails; nothing it
    /// would have made durable becomes durable.
    FailSync {
        /// Which file sync fails, counting from 1.
        nth: u64,
    },
    /// The `nth` `sync_dir` fails; the directory's pending entries stay
    /// pending.
    FailDirSync {
        /// Which directory sync fails, counting from 1.
        nth: u64,
    },
    /// The `nth` rename fails and changes nothing.
    FailRename {
        /// Which rename fails, counting from 1.
        nth: u64,
    },
    /// The `nth` create fails and creates nothing.
    FailCreate {
        /// Which create fails, counting from 1.
        nth: u64,
    },
    /// Every file sync and directory sync fails from now on, until
    /// [`super::FaultFileSystem::disarm_all`].
    FailEverySync,
}

/// Counts of the calls the file system has served, for assertions.
///
/// Calls are counted when they reach the file system, including those that
/// fail (by an injected fault, a full disk or a missing file); calls on
/// handles made dead by a crash are not counted. `bytes_written` counts only
/// bytes that landed in a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// `append` calls.
    pub appends_count: u64,
    /// Bytes appended to files (the kept part of short writes included).
    pub bytes_written: u64,
    /// File syncs (`sync_data` and `sync_all`).
    pub syncs_count: u64,
    /// `sync_dir` calls.
    pub dir_syncs_count: u64,
    /// `create` calls.
    pub creates_count: u64,
    /// `rename` calls.
    pub renames_count: u64,
    /// `remove_file` calls.
    pub removes_count: u64,
    /// `hard_link` calls.
    pub links_count: u64,
    /// Armed faults that fired.
    pub injected_faults_count: u64,
    /// Appends refused in part or whole because the capacity was reached.
    pub storage_full_count: u64,
    /// Simulated process crashes.
    pub crashes_count: u64,
    /// Simulated power losses.
    pub power_losses_count: u64,
}

/// How an armed append fault fails the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteFailure {
    /// Nothing is written.
    Nothing,
    /// The first `kept_bytes` bytes are written.
    Prefix { kept_bytes: usize },
}

/// The faults currently armed: one countdown per operation.
#[derive(Debug, Default)]
pub(super) struct ArmedFaults {
    write: Option<(Countdown, WriteFailure)>,
    sync: Option<Countdown>,
    dir_sync: Option<Countdown>,
    rename: Option<Countdown>,
    create: Option<Countdown>,
    every_sync: bool,
}

impl ArmedFaults {
    /// Arms `fault`, replacing an armed fault of the same operation.
    pub(super) fn arm(&mut self, fault: Fault) {
        match fault {
            Fault::FailWrite { nth } => {
                self.write = Some((Countdown::new(nth), WriteFailure::Nothing));
            }
            Fault::ShortWrite { nth, kept_bytes } => {
                self.write = Some((Countdown::new(nth), WriteFailure::Prefix { kept_bytes }));
            }
            Fault::FailSync { nth } => self.sync = Some(Countdown::new(nth)),
            Fault::FailDirSync { nth } => self.dir_sync = Some(Countdown::new(nth)),
            Fault::FailRename { nth } => self.rename = Some(Countdown::new(nth)),
            Fault::FailCreate { nth } => self.create = Some(Countdown::new(nth)),
            Fault::FailEverySync => self.every_sync = true,
        }
    }

    /// Counts one append; how it fails if an armed fault fires.
    pub(super) fn on_write(&mut self) -> Option<WriteFailure> {
        let (countdown, failure) = self.write.as_mut()?;
        let failure = *failure;
        countdown.tick().then(|| {
            self.write = None;
            failure
        })
    }

    /// Counts one file sync; whether it fails.
    pub(super) fn on_sync(&mut self) -> bool {
        Countdown::tick_slot(&mut self.sync) || self.every_sync
    }

    /// Counts one directory sync; whether it fails.
    pub(super) fn on_dir_sync(&mut self) -> bool {
        Countdown::tick_slot(&mut self.dir_sync) || self.every_sync
    }

    /// Counts one rename; whether it fails.
    pub(super) fn on_rename(&mut self) -> bool {
        Countdown::tick_slot(&mut self.rename)
    }

    /// Counts one create; whether it fails.
    pub(super) fn on_create(&mut self) -> bool {
        Countdown::tick_slot(&mut self.create)
    }
}

/// Calls left until an armed fault fires.
#[derive(Debug, Clone, Copy)]
struct Countdown {
    calls_left: u64,
}

impl Countdown {
    fn new(nth: u64) -> Self {
        Self {
            calls_left: nth.max(1),
        }
    }

    /// Counts one call; true when this call is the one that fails.
    fn tick(&mut self) -> bool {
        self.calls_left -= 1;
        self.calls_left == 0
    }

    /// Ticks the countdown in `slot`, disarming it when it fires.
    fn tick_slot(slot: &mut Option<Countdown>) -> bool {
        let fired = slot.as_mut().is_some_and(Countdown::tick);
        if fired {
            *slot = None;
        }
        fired
    }
}

/// The error an injected fault returns.
pub(super) fn injected_error(operation: &str, path: &Path) -> io::Error {
    io::Error::other(format!(
        "injected fault: {operation} of {} failed",
        path.display()
    ))
}

/// The error an append past the configured capacity returns.
pub(super) fn storage_full_error(path: &Path, capacity_bytes: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!(
            "no space left for {} (capacity {capacity_bytes} bytes)",
            path.display()
        ),
    )
}

/// SplitMix64: a tiny, seedable generator, so a power loss replays exactly
/// from its seed.
#[derive(Debug, Clone)]
pub(super) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(super) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max`, uniform up to a negligible modulo bias.
    pub(super) fn up_to(&mut self, max: usize) -> usize {
        let span = max as u64 + 1;
        if span == 0 {
            return self.next_u64() as usize;
        }
        (self.next_u64() % span) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_fire_once_at_the_nth_call() {
        let mut armed = ArmedFaults::default();
        armed.arm(Fault::FailRename { nth: 3 });
        let fired: Vec<bool> = (0..5).map(|_| armed.on_rename()).collect();
        assert_eq!(fired, [false, false, true, false, false]);
        armed.arm(Fault::FailCreate { nth: 0 });
        assert!(armed.on_create());
        assert!(!armed.on_create());
    }

    #[test]
    fn short_write_reports_its_prefix_and_every_sync_keeps_failing() {
        let mut armed = ArmedFaults::default();
        armed.arm(Fault::ShortWrite {
            nth: 2,
            kept_bytes: 4,
        });
        assert_eq!(armed.on_write(), None);
        assert_eq!(
            armed.on_write(),
            Some(WriteFailure::Prefix { kept_bytes: 4 })
        );
        assert_eq!(armed.on_write(), None);
        armed.arm(Fault::FailEverySync);
        assert!((0..4).all(|_| armed.on_sync() && armed.on_dir_sync()));
    }

    #[test]
    fn splitmix_is_deterministic_and_stays_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let drawn: Vec<usize> = (0..100).map(|_| a.up_to(10)).collect();
        assert_eq!(drawn, (0..100).map(|_| b.up_to(10)).collect::<Vec<_>>());
        assert!(drawn.iter().all(|&n| n <= 10));
        assert!(drawn.contains(&0) && drawn.contains(&10));
        assert_eq!(a.up_to(0), 0);
    }
}
