//! The way back in the report (R18): every rollback decision (who, when, why), the steps of
//! the last rollback with their states and evidence, and per mailbox what the copy back
//! since it put on the old server. Absent when no rollback was ever decided.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::journal::History;
use crate::mail::sync::{COPY_BACK_RESULT_FACT, CopyBackResult};
use crate::plan::Plan;
use crate::report::model::{RollbackDecision, RollbackSection, RollbackStep};
use crate::runbook::Evaluation;
use crate::runbook::rollback::{self, Decision};
use crate::sanitize::sanitize;
use crate::step::StepId;

use super::build::{Done, Pass};

/// Every rollback decision in journal order; a line that does not read as one is left out.
fn decisions(history: &History) -> Vec<RollbackDecision> {
    history
        .facts
        .get(rollback::FACT)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let decision = serde_json::from_value::<Decision>(f.value.clone()).ok()?;
            let (action, operator, reason, steps) = match decision {
                Decision::Start {
                    operator,
                    reason,
                    steps,
                    ..
                } => ("rollback", operator, reason, steps),
                Decision::Retry { operator, reason } => ("retry", operator, reason, vec![]),
                Decision::Stay { operator, reason } => ("stay", operator, reason, vec![]),
            };
            Some(RollbackDecision {
                at: f.at,
                action: action.to_string(),
                operator: sanitize(&operator),
                reason: sanitize(&reason),
                steps,
            })
        })
        .collect()
}

/// The rollback section: null without a rollback decision.
pub(super) fn section(
    plan: &Plan,
    history: &History,
    pass: &Pass,
    eval: &Evaluation,
) -> Option<RollbackSection> {
    let decisions = decisions(history);
    let last_start = decisions.iter().rposition(|d| d.action == "rollback")?;
    let start = &decisions[last_start];
    let later = &decisions[last_start + 1..];
    let retried = later.iter().find(|d| d.action == "retry");
    let stayed = later.iter().find(|d| d.action == "stay");
    let mut ids = start.steps.clone();
    if stayed.is_some() {
        ids.extend([StepId::StaySpfOldOnly, StepId::StayRestoreTtl]);
    }
    let titles: HashMap<StepId, String> = rollback::definitions()
        .into_iter()
        .map(|d| (d.id, d.title))
        .collect();
    let vars = crate::runbook::template::variables(plan, None);
    let steps: Vec<RollbackStep> = ids
        .iter()
        .map(|id| {
            let status = eval.step(id);
            let per_mailbox = matches!(id, StepId::RollbackCopyBack | StepId::RollbackClients);
            let done = Done::of(
                plan,
                id,
                status.map(|s| s.state),
                history,
                pass,
                per_mailbox,
            );
            // While the rollback stands its steps are evaluated; after a retry only the
            // journal says whether each was done.
            let state = match (status, &done.done_at) {
                (Some(s), _) => s.state.as_str(),
                (None, Some(_)) => "done",
                (None, None) => "not-done",
            };
            let title = titles
                .get(id)
                .map(|t| crate::runbook::template::render(t, &vars))
                .unwrap_or_else(|| id.as_str().to_string());
            RollbackStep {
                id: id.clone(),
                title: sanitize(&title),
                state: state.to_string(),
                applied_at: done.applied_at,
                done_at: done.done_at,
                by: done.by,
                how: done.how,
                ticked: done.ticked,
                evidence: done.evidence,
                observed: done.observed,
            }
        })
        .collect();
    let finished = steps
        .iter()
        .filter(|s| s.done_at.is_some() || matches!(s.state.as_str(), "done" | "overridden"))
        .count();
    let since = format!(
        "Rolled back on {} by {} (“{}”)",
        local(plan, start.at),
        start.operator,
        start.reason
    );
    let (outcome, standing) = match (retried, stayed) {
        (Some(r), _) => (
            "retried",
            format!(
                "{since}; forward again since {} by {} (“{}”).",
                local(plan, r.at),
                r.operator,
                r.reason
            ),
        ),
        (None, Some(s)) => (
            "staying",
            format!(
                "{since}; staying on the old server, decided on {} by {}: {finished} of {} steps of the way back done.",
                local(plan, s.at),
                s.operator,
                steps.len()
            ),
        ),
        (None, None) => (
            "rolling-back",
            format!(
                "{since}: {finished} of {} steps of the way back done.",
                steps.len()
            ),
        ),
    };
    Some(RollbackSection {
        outcome: outcome.to_string(),
        standing,
        decisions,
        steps,
    })
}

/// Per mailbox (lowercase), the copy back since the last rollback decision: messages
/// appended by every run, and the last run's result.
pub(super) fn copy_back(history: &History) -> HashMap<String, (u64, CopyBackResult)> {
    let since = decisions(history)
        .iter()
        .rev()
        .find(|d| d.action == "rollback")
        .map(|d| d.at);
    let Some(since) = since else {
        return HashMap::new();
    };
    let mut out: HashMap<String, (u64, CopyBackResult)> = HashMap::new();
    for fact in history
        .facts
        .get(COPY_BACK_RESULT_FACT)
        .into_iter()
        .flatten()
        .filter(|f| f.at >= since)
    {
        let Ok(result) = serde_json::from_value::<CopyBackResult>(fact.value.clone()) else {
            continue;
        };
        let key = result.mailbox.to_lowercase();
        let copied = out.get(&key).map_or(0, |(n, _)| *n) + result.copied;
        out.insert(key, (copied, result));
    }
    out
}

/// A time in the plan's zone, as the report's tables write it (`Tue 3 Mar 18:05`).
fn local(plan: &Plan, at: Timestamp) -> String {
    at.to_zoned_datetime(plan.timezone.clone())
        .strftime("%a %-d %b %H:%M")
        .to_string()
}
