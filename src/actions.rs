//! What a confirmation records: the one rule the CLI and the cockpit share.
//!
//! A step (or one mailbox's tick) is confirmed with the checks seen now as
//! evidence. It is refused while a check that matters does not hold (for a
//! tick, only the gates matter), unless an override gives a typed reason.

use crate::step::StepId;
use jiff::Timestamp;

use crate::check::Check;
use crate::check::{Kind, Status};
use crate::journal::Entry;
use crate::runbook::StepStatus;
use crate::runbook::eval::{Alarm, HELD_BY_ALARMS, confirm_blockers};

/// The raised alarms as failing checks of a step they hold back (none for other steps).
pub fn alarm_blockers(step: &StepId, alarms: &[Alarm]) -> Vec<Check> {
    if !HELD_BY_ALARMS.contains(step) {
        return vec![];
    }
    alarms
        .iter()
        .map(|a| {
            Check::new(
                &format!("alarm:{}", a.id),
                Kind::Gate,
                Status::Fail,
                format!(
                    "ALARM {} since {}: {} Fix: {}",
                    a.id, a.since, a.evidence, a.fix.action
                ),
            )
        })
        .collect()
}

/// The fewest characters an override's reason has (blanks at either end not counted):
/// a stray `y` or "ok" is no reason.
pub const MIN_REASON_CHARS: usize = 10;

/// Whether `reason` is long enough to journal as an override's reason.
pub fn reason_is_enough(reason: &str) -> bool {
    reason.trim().chars().count() >= MIN_REASON_CHARS
}

/// Why a confirmation cannot be recorded as asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// An override was asked for with a reason shorter than [`MIN_REASON_CHARS`]
    /// (empty or blank included).
    ShortReason,
    /// These checks do not hold; an override with a reason is needed.
    Blocked(Vec<Check>),
}

/// The journal entry confirming `status` (or one `mailbox` of it) at `now`,
/// or why it is refused. With `override_reason`, the entry is an override that
/// keeps the reason verbatim; the evidence is always every check shown.
/// While an alarm is raised, the steps it holds back (`HELD_BY_ALARMS`) are refused too.
pub fn confirmation_entry(
    status: &StepStatus,
    mailbox: Option<String>,
    override_reason: Option<&str>,
    operator: &str,
    now: Timestamp,
    alarms: &[Alarm],
) -> Result<Entry, Refusal> {
    let held = alarm_blockers(&status.id, alarms);
    let mut evidence = status.checks.clone();
    evidence.extend(held.iter().cloned());
    let mut blockers = confirm_blockers(status, mailbox.is_some());
    blockers.extend(held);
    match override_reason {
        Some(reason) if !reason_is_enough(reason) => Err(Refusal::ShortReason),
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
