//! The full-screen commands: the cockpit on a plan (`cutover`, `cutover tui`) and the
//! rehearsal on a sandbox (`cutover demo`).

use std::path::PathBuf;

use crate::plan::Plan;
use crate::sandbox::autopilot::Mistake;
use crate::sandbox::demo::DemoOptions;
use crate::session::CommandFailure;

/// `cutover tui`: the cockpit with its live workers (none offline) until the operator
/// quits; the cockpit's own exit code.
pub(crate) fn run(plan: &Plan, offline: bool) -> Result<u8, CommandFailure> {
    crate::tui::run(
        plan,
        crate::tui::Options {
            offline,
            ..crate::tui::Options::default()
        },
        Some(crate::live::workers()),
    )
    .map_err(|e| CommandFailure::Cockpit(Box::new(e)))
}

/// `cutover demo`: the rehearsal; its exit code is the rehearsal's verdict.
pub(crate) fn demo(
    speed: Option<f64>,
    keep: Option<PathBuf>,
    autopilot: bool,
    mistake: Option<Mistake>,
    mailboxes: usize,
    messages: usize,
) -> u8 {
    crate::sandbox::demo::run(&DemoOptions {
        speed,
        keep,
        autopilot,
        mistake,
        mailboxes,
        messages,
    })
}
