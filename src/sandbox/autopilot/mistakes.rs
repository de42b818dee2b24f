//! The classic mistakes the autopilot makes on purpose (`--mistake`), each at its moment, and
//! how it carries on after one: an override with the reason journaled, once a check the
//! mistake broke for good has kept a step stuck.

use crate::step::StepId;
use jiff::{SignedDuration, Timestamp};

use super::super::operator::{self, OperatorAction};
use super::{Autopilot, AutopilotError, Caught};
use crate::runbook::{Evaluation, StepState};

/// A classic mistake the autopilot makes on purpose, to show what the cockpit does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mistake {
    /// Switch the MX right after lowering the TTL, without waiting out the old TTL.
    NoTtlWait,
    /// Delete the old MX records before the new ones are added.
    DeleteOldMxFirst,
    /// Run the final copy right at the switch instead of 24 h after it.
    EarlyFinalCopy,
    /// Shut the old server down before it is quiet and before the final copy.
    EarlyDecommission,
    /// Not the operator's: two hours after the switch the new server's MX answers 4xx to
    /// every message; the operator rolls back and stays on the old server.
    NewServerBreaks,
    /// Publish the new provider's DKIM key under the plan's selector while the new server
    /// signs with another one.
    DkimWrongSelector,
}

/// The selector the new server signs with in the rehearsal of `dkim-wrong-selector`.
pub(super) const SIGNING_SELECTOR: &str = "s2026";

impl Mistake {
    pub fn as_str(self) -> &'static str {
        match self {
            Mistake::NoTtlWait => "no-ttl-wait",
            Mistake::DeleteOldMxFirst => "delete-old-mx-first",
            Mistake::EarlyFinalCopy => "early-final-copy",
            Mistake::EarlyDecommission => "early-decommission",
            Mistake::NewServerBreaks => "new-server-breaks",
            Mistake::DkimWrongSelector => "dkim-wrong-selector",
        }
    }
}

/// What the mistake hook did this time.
pub(super) enum Hook {
    /// It acted: evaluate again.
    Acted,
    /// The operator is busy making (or noticing) the mistake: do nothing else this tick.
    Hold,
    /// Nothing: the normal procedure goes on.
    Nothing,
}

impl Autopilot {
    /// After a mistake, some checks can never hold again (the order was wrong); the operator
    /// then confirms by override, with the reason journaled. Only after the step stayed stuck.
    pub(super) fn unstick(
        &mut self,
        step: &crate::runbook::StepStatus,
        now: Timestamp,
    ) -> Result<bool, AutopilotError> {
        let Some(mistake) = self.opts.mistake else {
            return Ok(false);
        };
        let blockers = crate::runbook::eval::confirm_blockers(step, false);
        // Only what the mistake broke for good: deleting the old MX first means the old and
        // new set was never served, and the order can never be proven.
        let broken_for_good: Vec<String> = match mistake {
            // The empty MX set is negatively cached by the resolvers, so `ttl-wait` (automatic,
            // judged live) reads as not done again until that cache expires.
            Mistake::DeleteOldMxFirst => vec![
                "mx-old-and-new-served".into(),
                "mx-order".into(),
                StepId::TtlWait.done_check(),
            ],
            // The key is where no signature points: no outbound canary can pass.
            Mistake::DkimWrongSelector => vec![crate::canary::checks::OUTBOUND_AUTH.into()],
            _ => vec![],
        };
        // A wrong selector shows once a canary failed; before, the check waits on one.
        let measured = mistake != Mistake::DkimWrongSelector
            || blockers
                .iter()
                .all(|c| c.status == crate::check::Status::Fail);
        if blockers.is_empty()
            || !measured
            || !blockers.iter().all(|c| broken_for_good.contains(&c.id))
        {
            self.stuck_since.remove(&step.id);
            return Ok(false);
        }
        let since = *self.stuck_since.entry(step.id.clone()).or_insert(now);
        if now.duration_since(since) < SignedDuration::from_hours(1) {
            return Ok(false);
        }
        if mistake == Mistake::DkimWrongSelector {
            // An outcome that fails on an applied step: the report names it and what it said.
            for c in &blockers {
                if !self
                    .report
                    .blocked
                    .iter()
                    .any(|k| k.step.as_ref() == Some(&step.id) && k.check == c.id)
                {
                    self.report.blocked.push(Caught {
                        at: since,
                        step: Some(step.id.clone()),
                        check: c.id.clone(),
                        status: c.status,
                        evidence: c.evidence.clone(),
                        until: c.until,
                    });
                }
            }
        }
        let reason = format!(
            "rehearsal: continuing after the mistake {} ({} no longer holds)",
            mistake.as_str(),
            blockers
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.confirm(&step.id, None, Some(&reason))?;
        self.after_confirm(&step.id);
        Ok(true)
    }

    /// Records every check of `step` that does not hold now (the mistake overrides them).
    fn catch(&mut self, eval: &Evaluation, step: &StepId) {
        let now = self.now();
        let Some(status) = eval.step(step) else {
            return;
        };
        for c in &status.checks {
            if c.status.holds() || c.id.starts_with("done:") {
                continue;
            }
            if self
                .report
                .blocked
                .iter()
                .any(|k| k.step.as_ref() == Some(step) && k.check == c.id)
            {
                continue;
            }
            self.report.blocked.push(Caught {
                at: now,
                step: Some(step.clone()),
                check: c.id.clone(),
                status: c.status,
                evidence: c.evidence.clone(),
                until: c.until,
            });
        }
    }

    /// The mistake of this rehearsal, made at its moment.
    pub(super) async fn mistake_hook(&mut self, eval: &Evaluation) -> Result<Hook, AutopilotError> {
        let Some(mistake) = self.opts.mistake else {
            return Ok(Hook::Nothing);
        };
        let state = |id: &StepId| eval.step(id).map(|s| s.state);
        let finished = |id: &StepId| state(id).is_some_and(|s| s.is_finished());
        let applied = |id: &StepId| {
            self.session
                .history()
                .step(id)
                .is_some_and(|r| r.applied_at.is_some())
        };
        let reason = format!("rehearsal mistake `{}`", mistake.as_str());
        match mistake {
            Mistake::NoTtlWait if !self.mistake_done => {
                let others = [
                    StepId::SpfAddNew,
                    StepId::UsersConnected,
                    StepId::ClientsConfigured,
                ];
                if finished(&StepId::LowerTtl)
                    && others.iter().all(finished)
                    && !finished(&StepId::TtlWait)
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator switches the MX without waiting out the old TTL",
                    );
                    self.catch(eval, &StepId::TtlWait);
                    self.confirm(
                        &StepId::TtlWait,
                        None,
                        Some(&format!("{reason}: switch MX right after lowering the TTL")),
                    )?;
                    return Ok(Hook::Acted);
                }
            }
            Mistake::DeleteOldMxFirst => {
                if !self.mistake_done
                    && state(&StepId::AddNewMx) == Some(StepState::Ready)
                    && !applied(&StepId::AddNewMx)
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator deletes the old MX before adding the new one",
                    );
                    operator::perform(&self.world, OperatorAction::DeleteOldMx).await?;
                    return Ok(Hook::Hold);
                }
                if self.mistake_done && !applied(&StepId::AddNewMx) {
                    let raised = self.session.history().dns.raised_alarms();
                    let Some(seen) = self.alarm_seen_at else {
                        return Ok(Hook::Hold);
                    };
                    if let Some(alarm) = raised.first() {
                        // The operator reacts half an hour after the alarm, by its fix.
                        if !self.fix_applied
                            && self.now().duration_since(seen) >= SignedDuration::from_mins(30)
                        {
                            self.fix_applied = true;
                            let fix = eval
                                .alarms
                                .first()
                                .map(|a| a.fix.action.clone())
                                .unwrap_or_default();
                            let id = alarm.id.clone();
                            self.event(format!(
                                "the operator follows the fix of alarm {id}: {fix}"
                            ));
                            let done = operator::perform(&self.world, OperatorAction::RestoreOldMx)
                                .await?;
                            self.event(done.text);
                            return Ok(Hook::Acted);
                        }
                        return Ok(Hook::Hold);
                    }
                    // The alarm cleared: the procedure goes on in order (new MX added, then old deleted).
                }
            }
            Mistake::EarlyFinalCopy
                if !self.mistake_done && self.session.history().switch_at().is_some() =>
            {
                self.mistake_done = true;
                self.event("MISTAKE: the operator runs the final copy right at the switch");
                self.catch(eval, &StepId::FinalCopy);
                self.confirm(
                    &StepId::FinalCopy,
                    None,
                    Some(&format!("{reason}: copy now, not 24 h after the switch")),
                )?;
                self.copy("early final copy").await?;
                self.at_early_copy = Some(self.report.copies.last().map_or(0, |c| c.copied));
                return Ok(Hook::Acted);
            }
            Mistake::EarlyDecommission if !self.mistake_done => {
                if let Some(switch) = self.session.history().switch_at()
                    && self.now().duration_since(switch) >= SignedDuration::from_hours(1)
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator shuts the old server down an hour after the switch",
                    );
                    self.catch(eval, &StepId::DecommissionOld);
                    self.decommission(Some(&format!("{reason}: shut the old server down now")))
                        .await?;
                    return Ok(Hook::Acted);
                }
            }
            Mistake::NewServerBreaks => return self.new_server_breaks(eval).await,
            Mistake::DkimWrongSelector
                if !self.mistake_done
                    && state(&StepId::DkimSpfFinal) == Some(StepState::Ready)
                    && !applied(&StepId::DkimSpfFinal) =>
            {
                self.mistake_done = true;
                self.world.dkim.set_selector(SIGNING_SELECTOR);
                self.event(format!(
                    "MISTAKE: the operator publishes the new provider's DKIM key under selector {}, as the plan says, without checking the selector the new server signs with ({SIGNING_SELECTOR})",
                    super::super::operator::DKIM_SELECTOR
                ));
                // The procedure goes on: the step's records are published as planned.
            }
            _ => {}
        }
        Ok(Hook::Nothing)
    }
}
