//! [`Progress`]: the spinner or bar a long command (verify, compact, flush,
//! a table's entries) shows on standard error, only when standard error is
//! a terminal; piped or redirected, a command prints nothing but its
//! output. A bar over dumped entries also stays hidden while the entries
//! themselves go to the terminal, where it would interleave with them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a spinner redraws while the work it waits for runs.
const SPINNER_TICK: Duration = Duration::from_millis(120);

/// A progress indicator, hidden when standard error is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner labelled `message`, for one call whose length is unknown.
    pub fn spinner(message: &'static str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(SPINNER_TICK);
        Self { bar }
    }

    /// A bar of `len` steps labelled `message`, shown only while the
    /// command's output is not itself going to the terminal.
    pub fn bar(len: u64, message: &'static str) -> Self {
        if !std::io::stderr().is_terminal() || std::io::stdout().is_terminal() {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {eta}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        Self { bar }
    }

    fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// One step done.
    pub fn step(&self) {
        self.bar.inc(1);
    }

    /// Removes the indicator.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
