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
    let mut lines = Vec::new();
    for r in &last {
        let target = r
            .target
            .as_ref()
            .map(|t| format!(" to {t}"))
            .unwrap_or_default();
        lines.push(FlowLine {
            status: Some(r.verdict),
            text: format!(
                "{} {}{target}, {} ago: {}",
                r.verdict.mark(),
                r.route.as_str(),
                crate::units::duration(now.duration_since(r.sent_at)),
                sanitize(&r.evidence)
            ),
        });
        // The outbound canary's authentication as received, coloured as its check judges it.
        if let Some(auth) = &r.auth {
            let judged = crate::mailauth::checks::outbound_auth_check(
                Some(auth),
                &plan.domain,
                plan.new.dkim_selector.as_deref(),
            );
            lines.push(FlowLine {
                status: Some(judged.status),
                text: format!("  {} {}", judged.status.mark(), sanitize(&auth.one_line())),
            });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbound_canary_shows_its_authentication_coloured_as_judged() {
        let mut plan = crate::dns::checks::tests_support::plan(None);
        let mut canary = crate::plan::CanaryPlan::for_tests(plan.old.imap.clone());
        canary.external.authserv_id = Some("mx.ext.test".into());
        canary.external.received_by = vec!["mx.ext.test".into()];
        plan.canary = Some(canary);
        let canary = serde_json::json!({
            "route": "outbound", "token": "c1", "message_id": "cutover-canary-c1@example.com",
            "sent_at": "1970-01-01T00:00:00Z", "landed": "external", "folder": "INBOX",
            "verdict": "pass", "evidence": "landed on the external mailbox in INBOX",
            "from_domain": "example.com",
            "dkim": {"result": "permerror", "domain": "example.com", "selector": "s2", "aligned": false},
            "signatures": [],
            "spf": {"result": "pass", "ip": "192.0.2.3", "domain": "example.com", "aligned": true},
            "dmarc": {"result": "pass", "policy": "reject", "domain": "example.com"},
            "receiver": {"authserv_id": "mx.ext.test", "dkim": "permerror\u{1b}[2J", "spf": "pass", "dmarc": "pass"},
            "warnings": []
        });
        let history = History::from_entries(&[crate::journal::Entry::Fact {
            at: Timestamp::UNIX_EPOCH,
            key: crate::canary::facts::CANARY_FACT.into(),
            value: canary,
            evidence: String::new(),
        }]);
        let lines = mail_flow(&plan, &history, Timestamp::UNIX_EPOCH);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].status, Some(Status::Pass), "it landed");
        assert_eq!(lines[1].status, Some(Status::Fail), "{lines:?}");
        assert!(
            lines[1].text.starts_with(
                "  ✗ DKIM permerror (d=example.com, s=s2, not aligned); SPF pass for 192.0.2.3 at example.com (aligned); DMARC pass (policy reject); mx.ext.test wrote dkim=permerror"
            ),
            "{lines:?}"
        );
        assert!(!lines[1].text.contains('\u{1b}'), "server text sanitised");
    }
}
