//! `cutover`: parses the command line, runs the command, and turns its outcome into
//! the exit code. Expected failures are one plain line (`cutover: …`); unexpected ones
//! (a bug, or a system that refused a resource) get color-eyre's report with every cause.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use color_eyre::config::{HookBuilder, Theme};
use color_eyre::eyre::Report;

fn main() -> ExitCode {
    install_error_report();
    match cutover::cli::run(cutover::cli::Cli::parse()) {
        Ok(code) => code,
        Err(failure) if failure.is_expected() => {
            eprintln!("cutover: {failure}");
            ExitCode::from(failure.exit_code())
        }
        Err(failure) => {
            let code = failure.exit_code();
            eprintln!("cutover: unexpected error:{:?}", Report::new(failure));
            ExitCode::from(code)
        }
    }
}

/// color-eyre's report for errors, in colour only on a terminal. Only its error hook:
/// panics keep Rust's own message, and the cockpit installs a hook that restores the
/// terminal first.
fn install_error_report() {
    let theme = if std::io::stderr().is_terminal() {
        Theme::dark()
    } else {
        Theme::new()
    };
    let (_panic_hook, eyre_hook) = HookBuilder::default().theme(theme).into_hooks();
    // Only fails if a hook is already installed, which nothing here does; then the
    // default report is used.
    let _ = eyre_hook.install();
}
