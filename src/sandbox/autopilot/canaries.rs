//! The canaries under the autopilot, sent as an operator would: `cutover canary --route …`
//! when the only checks holding a step back are canary checks, and a world canary whenever
//! one is due (as `status` and the cockpit send it). Each round is cutover's own
//! (`canary::run_round`), journaled through the recorder, so the gates and outcomes hold on
//! measured canaries.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::SignedDuration;

use super::{Autopilot, AutopilotError};
use crate::canary::checks::{DIRECT_NEW, OUTBOUND_AUTH, WORLD_NEW};
use crate::canary::{Options, Route};
use crate::runbook::{Evaluation, StepState};
use crate::step::StepId;

/// A route's canary is not sent again sooner than this (simulated time), as an operator
/// who just read one waits before sending the next.
const RESEND: SignedDuration = SignedDuration::from_hours(1);

/// How long a round looks for its canaries (real time): the sandbox delivers at once.
const LOOK_FOR: Duration = Duration::from_secs(10);

impl Autopilot {
    /// Sends the canaries a check asks for now; true when a round ran.
    pub(super) async fn send_canaries(
        &mut self,
        eval: &Evaluation,
    ) -> Result<bool, AutopilotError> {
        let plan = &self.session.plan;
        if plan.canary.is_none() {
            return Ok(false);
        }
        let now = self.now();
        let history = self.session.history();
        let journaled = crate::canary::facts::journaled(history);
        let sent_lately = |route: Route| {
            journaled
                .iter()
                .rev()
                .find(|c| c.route == route)
                .is_some_and(|c| now.duration_since(c.sent_at) < RESEND)
        };
        let mut routes = BTreeSet::new();
        // World canaries hourly while a step still judges by them (as the cockpit sends them).
        let world_judged = eval
            .steps
            .iter()
            .any(|s| !s.state.is_finished() && s.checks.iter().any(|c| c.id == WORLD_NEW));
        if world_judged && crate::canary::checks::world_canary_due(plan, history, now) {
            routes.insert(Route::World);
        }
        // Served by every authoritative server and given by every public resolver (none
        // still holds the absence it cached before the key was published): the receiver,
        // which asks them too, sees the key.
        let key_visible = history
            .dns
            .records_served
            .contains_key(StepId::DkimSpfFinal.as_str());
        for step in &eval.steps {
            if step.state.is_finished() {
                continue;
            }
            // What holds it back now: its gate until it is applied, then its outcome too.
            let blockers: Vec<crate::check::Check> = if step.state == StepState::Applied {
                crate::runbook::eval::confirm_blockers(step, false)
            } else {
                step.checks
                    .iter()
                    .filter(|c| c.kind == crate::check::Kind::Gate && !c.status.holds())
                    .cloned()
                    .collect()
            };
            if blockers.is_empty() || !blockers.iter().all(|c| c.id.starts_with("canary.")) {
                continue;
            }
            for c in blockers {
                let route = match c.id.as_str() {
                    DIRECT_NEW => Route::Direct,
                    OUTBOUND_AUTH if key_visible => Route::Outbound,
                    // canary.world-new: a world canary counts once it is due (above).
                    _ => continue,
                };
                if !sent_lately(route) {
                    routes.insert(route);
                }
            }
        }
        if routes.is_empty() {
            return Ok(false);
        }
        let Ok(credentials) = crate::mail::CredentialSource::new(plan.credentials.as_ref()) else {
            return Ok(false);
        };
        let options = Options {
            routes: routes.clone(),
            timeout: LOOK_FOR,
            poll: Duration::from_millis(200),
            world_expect: crate::runbook::rollback::world_canary_expect(plan, history, now),
            served_mx: vec![],
        };
        let results = {
            let _guard = self.world.clock.io_guard();
            crate::canary::run_round(plan, &credentials, &options, &self.world.clock).await
        };
        let results = match results {
            Ok(results) => results,
            Err(e) => {
                self.event(format!("canaries not sent: {e}"));
                return Ok(false);
            }
        };
        self.session
            .recorder
            .canary_round(&results, now)
            .map_err(|e| AutopilotError::Journal(e.to_string()))?;
        // The timeline says when a route's canary is first sent and whenever its verdict
        // changes; the report counts them all.
        let said = |route: Route, verdict: String| {
            journaled
                .iter()
                .rev()
                .find(|c| c.route == route)
                .is_some_and(|c| verdict_line(c, &self.session.plan) == verdict)
        };
        let lines: Vec<(Route, String, bool)> = results
            .iter()
            .map(|r| {
                let line = verdict_line(r, &self.session.plan);
                let repeat = said(r.route, line.clone());
                (r.route, line, repeat)
            })
            .collect();
        for r in &results {
            // An outbound canary counts by what its authentication makes of it.
            let status = r.auth.as_ref().map_or(r.verdict, |a| {
                crate::mailauth::checks::outbound_auth_check(
                    Some(a),
                    &self.session.plan.domain,
                    self.session.plan.new.dkim_selector.as_deref(),
                )
                .status
            });
            self.report.canaries.push((r.route, status));
        }
        if lines.iter().all(|(_, _, repeat)| *repeat) {
            return Ok(true);
        }
        let asked: Vec<&str> = routes.iter().map(|r| r.as_str()).collect();
        self.event(format!(
            "the operator sends canaries (`cutover canary --route {}`)",
            asked.join(",")
        ));
        for (_, line, repeat) in lines {
            if !repeat {
                self.event(line);
            }
        }
        Ok(true)
    }
}

/// A canary as the timeline tells it: where it landed and, for the outbound one, what
/// `canary.outbound-auth` makes of its authentication.
fn verdict_line(r: &crate::canary::CanaryResult, plan: &crate::plan::Plan) -> String {
    let target = r
        .target
        .as_ref()
        .map(|t| format!(" to {t}"))
        .unwrap_or_default();
    let auth = r
        .auth
        .as_ref()
        .map(|a| {
            let check = crate::mailauth::checks::outbound_auth_check(
                Some(a),
                &plan.domain,
                plan.new.dkim_selector.as_deref(),
            );
            format!(
                "; {OUTBOUND_AUTH} {}: {}",
                check.status.as_str(),
                crate::sanitize::sanitize(&check.evidence)
            )
        })
        .unwrap_or_default();
    format!(
        "{} canary{target} ({}): {} — {}{auth}",
        r.route.as_str(),
        r.route.describe(),
        r.verdict.as_str(),
        crate::sanitize::sanitize(&r.evidence),
    )
}
