//! Where output goes: results to stdout, progress and diagnostics to stderr.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    verbose: bool,
}

impl Printer {
    pub fn new(quiet: bool, verbose: bool) -> Printer {
        Printer { quiet, verbose }
    }

    pub fn is_verbose(&self) -> bool {
        self.verbose && !self.quiet
    }

    /// A one-line message on stderr, unless `--quiet`.
    pub fn status(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn detail(&self, message: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("warning: {}", message.as_ref());
    }

    pub fn error(&self, message: impl AsRef<str>) {
        eprintln!("error: {}", message.as_ref());
    }

    /// A byte-counting progress bar on stderr; hidden with `--quiet` or when stderr is not a terminal.
    pub fn progress_bytes(&self) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// Prints an error and its causes to stderr, one per line.
pub fn print_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// True when the error is a closed stdout (`ctidx ... | head`), which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    // serde_json and csv wrap the io::Error of their writer without giving it as a source.
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
            || cause.downcast_ref::<csv::Error>().is_some_and(
                |e| matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe),
            )
    })
}
