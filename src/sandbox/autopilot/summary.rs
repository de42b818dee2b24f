//! The summary of a rehearsal a person drove (`cutover demo`): the autopilot's report, filled
//! from this run's journal, the mail the sandbox's senders delivered, the copies that ran and
//! what the two mail servers hold now.

use crate::step::StepId;
use jiff::Timestamp;

use super::super::world::World;
use super::report::{Caught, Report};
use crate::journal::{Entry, History};
use crate::runbook::Runbook;
use crate::sanitize::sanitize;

/// The report of an interactive run so far, led by the migration report of `plan` and its
/// journal's `entries`. `tally` holds what the sandbox counted while it
/// ran (mail delivered per day and server, deferrals, POP3 fetches, copies); `old_deliveries`
/// when each message reached the old server.
pub fn interactive_report(
    plan: &crate::plan::Plan,
    mut tally: Report,
    old_deliveries: &[Timestamp],
    entries: &[Entry],
    runbook: &Runbook,
    world: &World,
    now: Timestamp,
) -> Report {
    let history = History::from_entries(entries);
    tally.interactive = true;
    // What the operator will hand over, from this run's plan and journal, comes first.
    tally.migration = Some(super::report::migration_markdown(plan, entries));
    tally.mistake = None;
    tally.start = tally.start.or(Some(world.spec.start));
    tally.end = Some(now);
    tally.switch_at = history.switch_at();
    let after: Vec<&Timestamp> = match tally.switch_at {
        Some(switch) => old_deliveries.iter().filter(|at| **at >= switch).collect(),
        None => Vec::new(),
    };
    tally.old_after_switch = after.len() as u64;
    tally.last_old_delivery = after.last().copied().copied();
    let few_mailboxes = world.employees.len() <= 3;
    for entry in entries {
        if let Some(text) = event_text(entry, few_mailboxes) {
            let at = entry.at().unwrap_or(now);
            tally.events.push(super::Event { at, text });
        }
        if let Entry::Fact {
            at,
            key,
            value,
            evidence,
        } = entry
            && key == "alarm-raised"
        {
            tally.alarms.push(Caught {
                at: *at,
                step: None,
                check: value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("alarm")
                    .to_string(),
                status: crate::check::Status::Fail,
                evidence: evidence.clone(),
                until: None,
            });
        }
        if let Entry::Override {
            at,
            step,
            reason,
            evidence,
            mailbox: None,
            ..
        } = entry
        {
            tally.overrides.push((*at, step.clone(), reason.clone()));
            for c in evidence.iter().filter(|c| !c.status.holds()) {
                tally.blocked.push(Caught {
                    at: *at,
                    step: Some(step.clone()),
                    check: c.id.clone(),
                    status: c.status,
                    evidence: c.evidence.clone(),
                    until: c.until,
                });
            }
        }
    }
    let done = |id: &StepId| history.step(id).is_some_and(|r| r.confirmed.is_some());
    let rollback = crate::runbook::rollback::active(&history);
    tally.finished = match &rollback {
        None => runbook.steps.iter().all(|s| done(&s.id)),
        // Rolled back: finished once it stays on the old server with the way back done.
        Some(r) => {
            r.stayed
                && crate::runbook::rollback::effective(runbook, &history)
                    .steps
                    .iter()
                    .filter(|s| !s.id.rolled_back_by_rollback())
                    .all(|s| done(&s.id))
        }
    };
    let decommissioned = done(&StepId::DecommissionOld);
    if let Some(r) = &rollback {
        // The migration ends on the old server: what counts is what it lacks of the new one.
        tally.way_back = Some(super::way_back::after_rollback(&history, world, r));
    } else {
        let missing = super::missing(world.old.store(), world.new.store(), &world.employees);
        // Confirming the shutdown is when the old server's mail is gone for good.
        if decommissioned {
            tally.lost = missing;
        } else {
            tally.missing_at_end = missing;
        }
    }
    let old = world.old.store();
    tally.old_messages_at_end = world
        .employees
        .iter()
        .flat_map(|e| old.folders(&e.login).unwrap_or_default())
        .map(|f| u64::from(f.messages))
        .sum();
    tally
}

/// One journal line as a line of the summary's timeline (the noise left out).
fn event_text(entry: &Entry, few_mailboxes: bool) -> Option<String> {
    match entry {
        Entry::Applied { step, .. } => Some(format!("{step}: applied")),
        Entry::Confirm {
            step,
            mailbox: None,
            ..
        } => Some(format!("{step}: confirmed with the evidence")),
        Entry::Confirm {
            step,
            mailbox: Some(m),
            ..
        } if few_mailboxes => Some(format!("{step}: ticked {}", sanitize(m))),
        Entry::Override {
            step,
            reason,
            mailbox,
            ..
        } => Some(format!(
            "{step}{}: confirmed by OVERRIDE — {}",
            mailbox
                .as_ref()
                .map(|m| format!(" for {}", sanitize(m)))
                .unwrap_or_default(),
            sanitize(reason)
        )),
        Entry::Reopen { step, .. } => Some(format!("{step}: reopened")),
        Entry::Fact {
            key,
            value,
            evidence,
            ..
        } => match key.as_str() {
            crate::journal::history::STEP_OBSERVED => value
                .get("step")
                .and_then(|s| s.as_str())
                .map(|s| format!("{s}: done (observed)")),
            "ttl-lowered" | "mx-set" | "alarm-raised" | "alarm-cleared" | "ttl-baseline" => {
                Some(format!("seen: {}", sanitize(evidence)))
            }
            crate::runbook::rollback::FACT => Some(format!("ROLLBACK: {}", sanitize(evidence))),
            _ => None,
        },
        _ => None,
    }
}
