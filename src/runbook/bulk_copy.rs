//! The `bulk-copy` step: an early copy on day 1 that blocks nothing. Done when every
//! mailbox's copy is verified (the copy's report, as `final-copy`'s evidence) or when the
//! operator ticks it; never blocked, never the step the guidance leads with while another
//! is open; its reminder (with the copy estimate) rides on the leading step's actions, and
//! stresses it when a mailbox's estimated copy takes more than a few hours.

use crate::check::{Check, Kind, Status};
use crate::journal::history::History;
use crate::mail::sync::CopyEstimate;
use crate::plan::Plan;
use crate::runbook::eval::{StepState, StepStatus};

/// The step's id.
pub const STEP: crate::step::StepId = crate::step::StepId::BulkCopy;

/// Its outcome check's id.
pub const VERIFIED: &str = "bulk-copy-verified";

/// A copy estimate above this stresses the bulk copy (4 h: longer than an afternoon).
pub const STRESS_SECS: u64 = 4 * 3600;

/// Every mailbox's last copy verified complete, at any time (unlike `mail.copy-verified`,
/// which counts only copies after the switch + 24 h).
pub(super) fn verified(kind: Kind, plan: &Plan, history: &History) -> Check {
    let mut not_yet = Vec::new();
    let mut last = None;
    for m in &plan.mailboxes {
        match history.sync.get(&m.address) {
            Some(s) if s.state == "verified" => last = last.max(Some(s.at)),
            Some(s) => not_yet.push(format!("{} ({})", m.address, s.state)),
            None => not_yet.push(format!("{} (not copied)", m.address)),
        }
    }
    match last {
        None if not_yet.iter().all(|m| m.ends_with("(not copied)")) => {
            Check::new(VERIFIED, kind, Status::Unknown, "no copy has run yet")
        }
        Some(at) if not_yet.is_empty() => Check::new(
            VERIFIED,
            kind,
            Status::Pass,
            format!(
                "all {} mailboxes verified complete by the copy (the last at {})",
                plan.mailboxes.len(),
                super::eval::local(plan, at)
            ),
        ),
        _ => {
            let shown: Vec<&str> = not_yet.iter().take(3).map(String::as_str).collect();
            let more = if not_yet.len() > 3 {
                format!(" and {} more", not_yet.len() - 3)
            } else {
                String::new()
            };
            Check::new(
                VERIFIED,
                kind,
                Status::Fail,
                format!(
                    "{} of {} mailboxes not verified yet: {}{more}",
                    not_yet.len(),
                    plan.mailboxes.len(),
                    shown.join(", ")
                ),
            )
        }
    }
}

/// The action line about the bulk copy while it is open: stressed when the longest mailbox's
/// estimated copy exceeds [`STRESS_SECS`], else a mention with the estimate; `None` when the
/// step is not open.
pub(super) fn reminder(
    plan: &Plan,
    history: &History,
    mail: Option<&[crate::mail::MailboxProbe]>,
    steps: &[StepStatus],
) -> Option<String> {
    let step = steps.iter().find(|s| s.id == STEP)?;
    if step.state != StepState::Ready {
        return None;
    }
    let estimate = CopyEstimate::new(plan, mail, history);
    let summary = estimate.summary(&plan.sync);
    let running = plan.mailboxes.iter().any(|m| {
        history
            .sync
            .get(&m.address)
            .is_some_and(|s| s.state == "running")
    });
    Some(if running {
        format!(
            "The bulk copy is running; the final copy after the switch + 24 h then copies only the rest. {summary}"
        )
    } else if let Some(longest) = estimate.longest().filter(|&s| s > STRESS_SECS) {
        format!(
            "Start the bulk copy now (`cutover sync --detach`, or `s`): the largest mailbox needs about {} under the limits, so the final copy after the switch + 24 h then copies only the rest. {summary}",
            crate::units::duration_secs(longest)
        )
    } else {
        format!(
            "Also: a bulk copy may run any time now (`cutover sync --detach`), so the final copy after the switch + 24 h copies only the rest. {summary}"
        )
    })
}
