//! Shared by the checkpoint and backup tests: a file system that runs a
//! hook before every call that changes something (seer-testkit's
//! `ForwardingFs`, so a test can cut the power at the Nth step of a copy,
//! fail a hard link as across file systems, or compact in the middle of a
//! checkpoint), and small helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use seer_core::fault::{FaultFileSystem, PowerLossMode, PowerSwitch};
use seer_core::SharedFileSystem;
use seer_db::{DBOptions, DB};
use seer_testkit::ForwardingFs;

/// The change hook of [`hooked`]: the name of a changing call and the
/// path it changes (see `seer_testkit::forwarding_fs::ChangeHook`).
pub type Hook = seer_testkit::forwarding_fs::ChangeHook;

/// `inner`, with `hook` called before each changing call (an error from
/// the hook fails the call).
pub fn hooked(inner: SharedFileSystem, hook: Hook) -> SharedFileSystem {
    Arc::new(ForwardingFs::new(inner).on_change(move |call, path| hook(call, path)))
}

/// How a cut ends the instance.
#[derive(Debug, Clone, Copy)]
pub enum Cut {
    Crash,
    PowerLoss(PowerLossMode),
}

impl Cut {
    pub const ALL: [Cut; 3] = [
        Cut::Crash,
        Cut::PowerLoss(PowerLossMode::DropUnsynced),
        Cut::PowerLoss(PowerLossMode::KeepRandomPrefix { seed: 7 }),
    ];
}

/// A countdown armed on the changing calls whose path starts with one of
/// `prefixes` or is one of `exact`: the call that brings it to zero is
/// preceded by the cut, so it and everything after fail.
pub struct Countdown {
    remaining: AtomicU64,
    prefixes: Vec<String>,
    exact: Vec<String>,
    switch: Arc<PowerSwitch>,
    cut: Cut,
    /// The changing calls counted so far.
    pub counted: AtomicU64,
}

impl Countdown {
    /// Disarmed (remaining 0) until [`Countdown::arm`].
    pub fn new(switch: Arc<PowerSwitch>, prefixes: &[&str], exact: &[&str], cut: Cut) -> Arc<Self> {
        Arc::new(Self {
            remaining: AtomicU64::new(0),
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            exact: exact.iter().map(|p| (*p).to_owned()).collect(),
            switch,
            cut,
            counted: AtomicU64::new(0),
        })
    }

    /// Cuts before the `nth` counted call from now (`u64::MAX`: never,
    /// but count).
    pub fn arm(&self, nth: u64) {
        self.counted.store(0, Ordering::SeqCst);
        self.remaining.store(nth, Ordering::SeqCst);
    }

    pub fn fired(&self) -> bool {
        self.switch.is_off()
    }

    /// The hook to give [`hooked`].
    pub fn hook(self: &Arc<Self>) -> Hook {
        let countdown = Arc::clone(self);
        Arc::new(move |_call, path| {
            let text = path.to_string_lossy();
            if countdown.remaining.load(Ordering::SeqCst) == 0
                || !(countdown
                    .prefixes
                    .iter()
                    .any(|p| text.starts_with(p.as_str()))
                    || countdown.exact.iter().any(|p| text == p.as_str()))
            {
                return Ok(());
            }
            countdown.counted.fetch_add(1, Ordering::SeqCst);
            if countdown.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                match countdown.cut {
                    Cut::Crash => countdown.switch.crash(),
                    Cut::PowerLoss(mode) => countdown.switch.cut(mode),
                }
            }
            Ok(())
        })
    }
}

/// Small memtables and tables, so flushes and compactions run often.
pub fn busy_options() -> DBOptions {
    DBOptions::default()
        .memtable_capacity(16 << 10)
        .target_file_size(8 << 10)
        .base_level_size(32 << 10)
}

/// Every entry of `db`, in key order.
pub fn contents(db: &DB) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// The database at `path` of `fs` opened anew through a fresh switch.
pub fn reopen(fs: &FaultFileSystem, path: &str) -> seer_db::Result<DB> {
    DBOptions::default()
        .file_system(PowerSwitch::new(fs))
        .create_if_missing(false)
        .open(path)
}
