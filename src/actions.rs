//! What a confirmation records: the one rule the CLI and the cockpit share.
//!
//! A step (or one mailbox's tick) is confirmed with the checks seen now as
//! evidence. It is refused while a check that matters does not hold (for a
//! tick, only the gates matter), unless an override gives a typed reason.

use jiff::Timestamp;

use crate::check::Check;
use crate::journal::Entry;
use crate::runbook::StepStatus;
use crate::runbook::eval::confirm_blockers;

/// Why a confirmation cannot be recorded as asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// An override was asked for with an empty (or blank) reason.
    EmptyReason,
    /// These checks do not hold; an override with a reason is needed.
    Blocked(Vec<Check>),
}

/// The journal entry confirming `status` (or one `mailbox` of it) at `now`,
/// or why it is refused. With `override_reason`, the entry is an override that
/// keeps the reason verbatim; the evidence is always every check shown.
pub fn confirmation_entry(
    status: &StepStatus,
    mailbox: Option<String>,
    override_reason: Option<&str>,
    operator: &str,
    now: Timestamp,
) -> Result<Entry, Refusal> {
    let evidence = status.checks.clone();
    let blockers = confirm_blockers(status, mailbox.is_some());
    match override_reason {
        Some(reason) if reason.trim().is_empty() => Err(Refusal::EmptyReason),
        Some(reason) => Ok(Entry::Override {
            at: now,
            operator: operator.to_string(),
            step: status.id.clone(),
            mailbox,
            reason: reason.to_string(),
            evidence,
        }),
        None if !blockers.is_empty() => Err(Refusal::Blocked(blockers)),
        None => Ok(Entry::Confirm {
            at: now,
            operator: operator.to_string(),
            step: status.id.clone(),
            mailbox,
            evidence,
        }),
    }
}
