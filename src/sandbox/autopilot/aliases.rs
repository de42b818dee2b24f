//! The careful operator's answer to a refused alias: when `smtp.new-mx-accepts` names an
//! alias of the plan that the new MX refuses, the operator creates it at the new provider
//! (the console's `c`) and the new MX is asked again at once, as the cockpit does after a key.

use super::super::operator::{self, OperatorAction};
use super::{Autopilot, AutopilotError, Caught};
use crate::check::Status;
use crate::runbook::Evaluation;
use crate::smtp::NEW_MX_ACCEPTS;

impl Autopilot {
    /// Creates the refused alias once; true when it acted (evaluate again).
    pub(super) async fn create_refused_alias(
        &mut self,
        eval: &Evaluation,
    ) -> Result<bool, AutopilotError> {
        if self.alias_created {
            return Ok(false);
        }
        let failing = eval.steps.iter().find_map(|s| {
            s.checks
                .iter()
                .find(|c| c.id == NEW_MX_ACCEPTS && c.status == Status::Fail)
                .map(|c| (s.id.clone(), c.clone()))
        });
        let Some((step, check)) = failing else {
            return Ok(false);
        };
        let refused: Vec<String> = self
            .session
            .plan
            .mailboxes
            .iter()
            .flat_map(|m| m.aliases.iter())
            .filter(|a| check.evidence.contains(&format!("{a} at ")))
            .cloned()
            .collect();
        if refused.is_empty() {
            return Ok(false);
        }
        self.alias_created = true;
        let now = self.now();
        if self.report.caught(NEW_MX_ACCEPTS).is_none() {
            self.report.blocked.push(Caught {
                at: now,
                step: Some(step.clone()),
                check: check.id.clone(),
                status: check.status,
                evidence: check.evidence.clone(),
                until: check.until,
            });
        }
        self.event(format!(
            "{NEW_MX_ACCEPTS} fails: the new MX refuses {}; the operator creates it at the new provider (console key c)",
            refused.join(", ")
        ));
        let done = operator::perform(&self.world, OperatorAction::CreateAlias).await?;
        self.event(done.text);
        self.probe_smtp().await;
        let now = self.now();
        let again =
            crate::smtp::steps::new_mx_check(&self.session.plan, self.session.history(), now);
        self.event(format!(
            "the new MX asked again: {NEW_MX_ACCEPTS} {}",
            again.status.as_str()
        ));
        Ok(true)
    }
}
