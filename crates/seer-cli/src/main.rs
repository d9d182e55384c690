//! The `seer` binary: parses the command line, runs it (see the
//! `seer_cli` library) and turns its outcome into an exit status; every
//! error is one line on standard error, never a panic or a backtrace.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use seer_cli::cli::Cli;
use seer_cli::error::{CliError, EXIT_ERROR, EXIT_OK};

fn main() -> ExitCode {
    // A bug must still end in one line and status 2, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "seer: internal error (please report it): {}",
            info.to_string().replace('\n', "; ")
        );
    }));
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seer_cli::run(cli, &mut out)
    }));
    match result {
        Ok(Ok(outcome)) => ExitCode::from(outcome.exit_status()),
        Ok(Err(CliError {
            broken_pipe: true, ..
        })) => ExitCode::from(EXIT_OK),
        Ok(Err(error)) => {
            let _ = out.flush();
            let _ = writeln!(std::io::stderr(), "seer: {}", error.message);
            ExitCode::from(EXIT_ERROR)
        }
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}
