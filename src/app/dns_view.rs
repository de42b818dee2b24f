//! A DNS round shaped for the cockpit's matrix: one row per name and type, one cell per server.

use crate::app::model::{DnsCell, DnsRow, DnsView, ServerColumn, ServerRole, Tone};
use crate::dns::matrix::{relative, summary};
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::watch::{DnsSnapshot, Role, questions};
use crate::dns::{MxState, mx, spf};
use crate::journal::dns_facts::DnsFacts;
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// The view of one round; the alarm comes from the journal's DNS facts.
pub fn dns_view(plan: &Plan, snapshot: &DnsSnapshot, facts: &DnsFacts) -> DnsView {
    let apex = fqdn(&plan.domain);
    let servers = snapshot
        .servers
        .iter()
        .map(|s| ServerColumn {
            label: if s.address.port() == 53 {
                s.address.ip().to_string()
            } else {
                s.address.to_string()
            },
            role: match s.role {
                Role::Authoritative => ServerRole::Authoritative,
                Role::Resolver => ServerRole::Resolver,
            },
        })
        .collect();
    let rows = questions(plan)
        .into_iter()
        .map(|(name, rtype)| DnsRow {
            name: relative(&name, &apex),
            rtype: rtype.as_str().to_string(),
            cells: snapshot
                .servers
                .iter()
                .map(|s| cell(plan, s.answer(&name, rtype)))
                .collect(),
        })
        .collect();
    // Any raised alarm (mx-empty, mx-neither, spf-lost, ttl-ignored) puts up the banner.
    let raised = facts
        .raised_alarms()
        .first()
        .map(|a| format!("{}: {}", a.id, sanitize(&a.evidence)));
    let alarm = facts
        .alarm_active
        .then(|| facts.alarms.last())
        .flatten()
        .map(|a| {
            let what = match a.state {
                MxState::Empty => "an empty MX set".to_string(),
                other => format!(
                    "an MX set with neither the old nor the new hosts ({})",
                    other.as_str()
                ),
            };
            format!(
                "{what} is served by {}: senders defer or use the apex A record",
                sanitize(&a.server)
            )
        });
    DnsView {
        servers,
        rows,
        alarm: alarm.or(raised),
        measured_at: snapshot.measured_at,
    }
}

fn cell(plan: &Plan, answer: Option<&Answer>) -> DnsCell {
    let Some(answer) = answer else {
        return DnsCell {
            short: "-".into(),
            ttl: None,
            tone: Tone::Neutral,
            detail: "not asked".into(),
        };
    };
    let detail = format!(
        "{} {} at {} in {} ms{}: {}{}",
        sanitize(&answer.name),
        answer.rtype.as_str(),
        answer.measured_at.strftime("%H:%M:%S UTC"),
        answer.latency_ms,
        if answer.tcp { " (TCP)" } else { "" },
        answer.status.as_str(),
        if answer.records.is_empty() {
            String::new()
        } else {
            format!(
                ", TTL {}\n{}",
                answer.ttl,
                answer
                    .records
                    .iter()
                    .map(|r| sanitize(r))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
    ) + &answer
        .detail
        .as_ref()
        .map(|d| format!("\n{}", sanitize(d)))
        .unwrap_or_default();
    let (short, ttl, tone) = match answer.status {
        AnswerStatus::Ok => (summary(answer, plan), Some(answer.ttl), tone(plan, answer)),
        AnswerStatus::Nodata | AnswerStatus::Nxdomain => {
            let tone = if answer.rtype == Rtype::MX {
                Tone::Missing
            } else {
                Tone::Neutral
            };
            ("(none)".to_string(), None, tone)
        }
        other => (other.as_str().to_string(), None, Tone::Error),
    };
    DnsCell {
        short,
        ttl,
        tone,
        detail,
    }
}

/// Old, new or both: for MX the hosts, for the apex TXT the SPF terms.
fn tone(plan: &Plan, answer: &Answer) -> Tone {
    match answer.rtype {
        Rtype::MX => match mx::classify(&answer.records, &plan.old.mx, &plan.new.mx) {
            MxState::Old => Tone::Old,
            MxState::New => Tone::New,
            MxState::OldAndNew => Tone::Both,
            MxState::Empty => Tone::Missing,
            MxState::Foreign | MxState::Mixed => Tone::Error,
            MxState::Unknown => Tone::Neutral,
        },
        Rtype::TXT => {
            let Some(record) = answer.records.iter().find(|r| spf::is_spf(r)) else {
                return Tone::Neutral;
            };
            let terms: Vec<String> = record.split_whitespace().map(spf::normalise_term).collect();
            let has = |side: &[String]| {
                !side.is_empty() && side.iter().all(|t| terms.contains(&spf::normalise_term(t)))
            };
            match (has(&plan.old.spf), has(&plan.new.spf)) {
                (true, true) => Tone::Both,
                (true, false) => Tone::Old,
                (false, true) => Tone::New,
                (false, false) => Tone::Neutral,
            }
        }
        _ => Tone::Neutral,
    }
}
