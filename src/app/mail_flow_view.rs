//! The cockpit's "Mail flow" block: the last canary per route with its age and verdict,
//! from the journal; or why mail flow is not proven and how to prove it.

use jiff::Timestamp;

use crate::check::Status;
use crate::journal::History;
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// One line of the block; `status` colours it (none: advice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLine {
    pub status: Option<Status>,
    pub text: String,
}

/// The block's lines, pure of the plan, the journal and the time.
pub fn mail_flow(plan: &Plan, history: &History, now: Timestamp) -> Vec<FlowLine> {
    if plan.canary.is_none() {
        return vec![FlowLine {
            status: None,
            text: crate::canary::NOT_PROVEN.to_string(),
        }];
    }
    let last = crate::canary::facts::last_per_route(history);
    if last.is_empty() {
        return vec![FlowLine {
            status: Some(Status::Unknown),
            text: "No canary sent yet: m sends one on every route.".to_string(),
        }];
    }
    last.iter()
        .map(|r| {
            let target = r
                .target
                .as_ref()
                .map(|t| format!(" to {t}"))
                .unwrap_or_default();
            FlowLine {
                status: Some(r.verdict),
                text: format!(
                    "{} {}{target}, {} ago: {}",
                    r.verdict.mark(),
                    r.route.as_str(),
                    crate::units::duration(now.duration_since(r.sent_at)),
                    sanitize(&r.evidence)
                ),
            }
        })
        .collect()
}
