//! A DNS round shaped for the cockpit's matrix: the records the steps change as
//! rows, one column per server, each cell the answer in short with its TTL; and
//! each cell judged against what the current step expects.

use crate::step::StepId;
use jiff::Timestamp;

use crate::app::model::{DnsCell, DnsRow, DnsView, RecordKind, ServerColumn, ServerRole, Tone};
use crate::check::Status;
use crate::dns::matrix::relative;
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::target::{self, DNS_STEPS, SpfTerms, TtlRule};
use crate::dns::watch::{DnsSnapshot, Role, ServerView, questions};
use crate::dns::{MxState, dkim, mx, spf};
use crate::journal::dns_facts::DnsFacts;
use crate::plan::Plan;
use crate::runbook::{Evaluation, StepState};
use crate::sanitize::sanitize;
use crate::units::ttl as human_ttl;

/// The view of one round; the alarm comes from the journal's DNS facts.
pub fn dns_view(plan: &Plan, snapshot: &DnsSnapshot, facts: &DnsFacts) -> DnsView {
    let apex = fqdn(&plan.domain);
    let servers = columns(plan, &snapshot.servers);
    let (mut rows, mut other_rows) = (Vec::new(), Vec::new());
    for (name, rtype) in questions(plan) {
        let kind = kind_of(plan, &name, rtype, &apex);
        let relative_name = relative(&name, &apex);
        let row = DnsRow {
            label: match kind {
                RecordKind::Mx => "MX".to_string(),
                RecordKind::Spf => "SPF".to_string(),
                RecordKind::Dkim => format!(
                    "DKIM {}",
                    plan.new.dkim_selector.as_deref().unwrap_or_default()
                ),
                RecordKind::Dmarc => "DMARC".to_string(),
                RecordKind::MtaSts => "MTA-STS".to_string(),
                RecordKind::Other => format!("{} {}", relative_name, rtype.as_str()),
            },
            name: relative_name,
            rtype: rtype.as_str().to_string(),
            kind,
            cells: snapshot
                .servers
                .iter()
                .map(|s| cell(plan, kind, s.answer(&name, rtype)))
                .collect(),
        };
        if kind == RecordKind::Other {
            other_rows.push(row);
        } else {
            rows.push(row);
        }
    }
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
        other_rows,
        alarm: alarm.or(raised),
        measured_at: snapshot.measured_at,
    }
}

fn kind_of(plan: &Plan, name: &str, rtype: Rtype, apex: &str) -> RecordKind {
    let dkim = plan
        .new
        .dkim_selector
        .as_ref()
        .map(|s| format!("{s}._domainkey.{apex}"));
    match rtype {
        Rtype::MX if name == apex => RecordKind::Mx,
        Rtype::TXT if name == apex => RecordKind::Spf,
        Rtype::TXT if Some(name) == dkim.as_deref() => RecordKind::Dkim,
        Rtype::TXT if name == format!("_dmarc.{apex}") => RecordKind::Dmarc,
        Rtype::TXT if name == format!("_mta-sts.{apex}") => RecordKind::MtaSts,
        _ => RecordKind::Other,
    }
}

/// An address as short as it can be said: the IP alone on port 53.
fn address_text(address: std::net::SocketAddr) -> String {
    if address.port() == 53 {
        address.ip().to_string()
    } else {
        address.to_string()
    }
}

/// The columns' names: the plan's name, an NS host's first label (two when the first
/// is not enough to tell them apart), a public resolver's operator, else the address.
fn columns(plan: &Plan, servers: &[ServerView]) -> Vec<ServerColumn> {
    let hosts: Vec<String> = servers
        .iter()
        .filter_map(|s| s.ns_host.as_deref())
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let short_host = |host: &str| -> String {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        let first = labels.first().copied().unwrap_or_default();
        let shared = hosts
            .iter()
            .filter(|h| h.split('.').next() == Some(first))
            .count();
        if shared > 1 && labels.len() > 2 {
            labels[..2].join(".")
        } else {
            first.to_string()
        }
    };
    servers
        .iter()
        .map(|s| {
            let address = address_text(s.address);
            let role = match s.role {
                Role::Authoritative => ServerRole::Authoritative,
                Role::Resolver => ServerRole::Resolver,
            };
            let named = plan.dns.names.get(&s.address).cloned();
            let (label, full) = match (role, named, &s.ns_host) {
                (_, Some(name), _) => (name.clone(), format!("{name} ({address})")),
                (ServerRole::Authoritative, None, Some(host)) => (
                    short_host(host),
                    format!("{} ({address})", host.trim_end_matches('.')),
                ),
                (ServerRole::Resolver, None, _) => match plan.dns.server_name(s.address) {
                    Some(name) => (name.clone(), format!("{name} ({address})")),
                    None => (address.clone(), address),
                },
                (ServerRole::Authoritative, None, None) => (address.clone(), address),
            };
            ServerColumn {
                label: sanitize(&label),
                full: sanitize(&full),
                role,
            }
        })
        .collect()
}

fn cell(plan: &Plan, kind: RecordKind, answer: Option<&Answer>) -> DnsCell {
    let Some(answer) = answer else {
        return DnsCell {
            short: "-".into(),
            ttl: None,
            tone: Tone::Neutral,
            definite: false,
            records: vec![],
            detail: "not asked".into(),
        };
    };
    let detail = format!(
        "{} at {} in {} ms{}{}",
        answer.status.as_str(),
        answer.measured_at.strftime("%H:%M:%S UTC"),
        answer.latency_ms,
        if answer.tcp { " (TCP)" } else { "" },
        answer
            .detail
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let (short, ttl, tone) = match answer.status {
        AnswerStatus::Ok => {
            let (short, tone) = summary(plan, kind, answer);
            (short, Some(answer.ttl), tone)
        }
        AnswerStatus::Nodata | AnswerStatus::Nxdomain => {
            let tone = match kind {
                RecordKind::Mx | RecordKind::Spf | RecordKind::Dkim => Tone::Missing,
                _ => Tone::Neutral,
            };
            ("none".to_string(), None, tone)
        }
        other => (other.as_str().to_string(), None, Tone::Error),
    };
    DnsCell {
        short: sanitize(&short),
        ttl,
        tone,
        definite: answer.status.is_definite(),
        records: answer.records.clone(),
        detail,
    }
}

/// What an answer says in a word or two, and how it stands to the migration.
fn summary(plan: &Plan, kind: RecordKind, answer: &Answer) -> (String, Tone) {
    let records = &answer.records;
    match kind {
        RecordKind::Mx => {
            let state = mx::classify(records, &plan.old.mx, &plan.new.mx);
            let tone = match state {
                MxState::Old => Tone::Old,
                MxState::New => Tone::New,
                MxState::OldAndNew => Tone::Both,
                MxState::Empty => Tone::Missing,
                MxState::Foreign | MxState::Mixed => Tone::Error,
                MxState::Unknown => Tone::Neutral,
            };
            (state.as_str().to_string(), tone)
        }
        RecordKind::Spf => {
            let spfs: Vec<&String> = records.iter().filter(|r| spf::is_spf(r)).collect();
            match spfs.as_slice() {
                [] => ("no spf".into(), Tone::Missing),
                [record] => {
                    let terms: Vec<String> =
                        record.split_whitespace().map(spf::normalise_term).collect();
                    let has = |side: &[String]| {
                        !side.is_empty()
                            && side.iter().all(|t| terms.contains(&spf::normalise_term(t)))
                    };
                    match (has(&plan.old.spf), has(&plan.new.spf)) {
                        (true, true) => ("old+new".into(), Tone::Both),
                        (true, false) => ("old".into(), Tone::Old),
                        (false, true) => ("new".into(), Tone::New),
                        (false, false) => ("other".into(), Tone::Neutral),
                    }
                }
                // Receivers reject a domain with two SPF records (RFC 7208 3.2).
                more => (format!("{} spf", more.len()), Tone::Error),
            }
        }
        RecordKind::Dkim => match records.first().map(|r| dkim::judge(r).valid) {
            Some(true) => ("key".into(), Tone::New),
            Some(false) => ("bad key".into(), Tone::Error),
            None => ("none".into(), Tone::Missing),
        },
        RecordKind::Dmarc | RecordKind::MtaSts => {
            let tag = if kind == RecordKind::Dmarc { "p" } else { "id" };
            let value = records
                .iter()
                .flat_map(|r| r.split(';'))
                .filter_map(|t| t.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(tag))
                .map(|(_, v)| format!("{tag}={}", v.trim()));
            (
                value.unwrap_or_else(|| records.first().cloned().unwrap_or_default()),
                Tone::Neutral,
            )
        }
        RecordKind::Other => (
            match answer.rtype {
                Rtype::SOA => records
                    .first()
                    .and_then(|r| r.split_whitespace().nth(2))
                    .map(|serial| format!("serial {serial}"))
                    .unwrap_or_default(),
                _ => records.join(" "),
            },
            Tone::Neutral,
        ),
    }
}

/// The step the matrix is judged against: the next step when it is a DNS step,
/// else the last DNS step already applied, done or overridden.
pub fn current_dns_step(eval: &Evaluation) -> Option<&StepId> {
    if let Some(next) = &eval.next
        && DNS_STEPS.contains(&next.step)
    {
        return Some(&next.step);
    }
    eval.steps
        .iter()
        .filter(|s| DNS_STEPS.contains(&s.id))
        .rfind(|s| {
            matches!(
                s.state,
                StepState::Applied | StepState::Done | StepState::Overridden
            )
        })
        .and_then(|s| DNS_STEPS.iter().find(|d| **d == s.id))
}

/// What a step expects of the records once it is done, in the pane's tones: the
/// expectation of the step's DNS target (`dns::target`), which the checks read too.
struct Want {
    mx: Vec<Tone>,
    spf: Vec<Tone>,
    dkim: bool,
    ttl: TtlRule,
}

fn want(step: &StepId, plan: &Plan) -> Option<Want> {
    let expect = target::expectation(step, plan)?;
    let mx = expect
        .mx
        .unwrap_or_default()
        .iter()
        .filter_map(|state| match state {
            MxState::Old => Some(Tone::Old),
            MxState::New => Some(Tone::New),
            MxState::OldAndNew => Some(Tone::Both),
            _ => None,
        })
        .collect();
    let spf = match expect.spf {
        Some(SpfTerms::OldAndNew) => vec![Tone::Both],
        Some(SpfTerms::NewOnly) => vec![Tone::New],
        Some(SpfTerms::OldOnly) => vec![Tone::Old],
        None => vec![],
    };
    Some(Want {
        mx,
        spf,
        dkim: expect.dkim_key,
        ttl: expect.ttl,
    })
}

fn tone_words(tones: &[Tone]) -> String {
    tones
        .iter()
        .map(|t| match t {
            Tone::Old => "old",
            Tone::New => "new",
            Tone::Both => "old+new",
            _ => "?",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// One cell against what `step` expects: ✓ only on a definite answer that meets
/// every expectation; unknown when the step expects nothing of it or nothing came.
pub fn judge(
    plan: &Plan,
    step: Option<&StepId>,
    kind: RecordKind,
    cell: &DnsCell,
    role: ServerRole,
) -> (Status, String) {
    let Some((step, want)) = step.and_then(|s| want(s, plan).map(|w| (s, w))) else {
        return (
            Status::Unknown,
            "not judged: no DNS step is under way".into(),
        );
    };
    let content = match kind {
        RecordKind::Mx => Some(&want.mx).filter(|t| !t.is_empty()),
        RecordKind::Spf => Some(&want.spf).filter(|t| !t.is_empty()),
        _ => None,
    };
    // A restored TTL is judged where it is set; a resolver counts its cache down.
    let ttl_judged = matches!(kind, RecordKind::Mx | RecordKind::Spf)
        && (matches!(want.ttl, TtlRule::AtMost(_)) || role == ServerRole::Authoritative);
    let dkim_judged = kind == RecordKind::Dkim && want.dkim;
    if content.is_none() && !ttl_judged && !dkim_judged {
        return (
            Status::Unknown,
            format!("not judged: {step} expects nothing of this record"),
        );
    }
    if !cell.definite {
        return (
            Status::Unknown,
            format!("not measured: the server answered {}", cell.short),
        );
    }
    // An empty or foreign MX set is wrong at every step.
    if kind == RecordKind::Mx && matches!(cell.tone, Tone::Missing | Tone::Error) {
        return (
            Status::Fail,
            format!("{} MX set: mail is deferred or lost", cell.short),
        );
    }
    if let Some(tones) = content
        && !tones.contains(&cell.tone)
    {
        return (
            Status::Fail,
            format!(
                "serves {}; {step} expects {}",
                cell.short,
                tone_words(tones)
            ),
        );
    }
    if dkim_judged && cell.tone != Tone::New {
        return (
            Status::Fail,
            format!("DKIM key: {}; {step} expects a valid key", cell.short),
        );
    }
    if ttl_judged && let Some(ttl) = cell.ttl {
        match want.ttl {
            TtlRule::AtMost(limit) if ttl > limit => {
                return (
                    Status::Fail,
                    format!(
                        "TTL {} is over the migration TTL of {}",
                        human_ttl(ttl),
                        human_ttl(limit)
                    ),
                );
            }
            TtlRule::Restored { mx, txt } => {
                let restored = if kind == RecordKind::Mx { mx } else { txt };
                if ttl != restored {
                    return (
                        Status::Fail,
                        format!(
                            "TTL {}; {step} restores {}",
                            human_ttl(ttl),
                            human_ttl(restored)
                        ),
                    );
                }
            }
            TtlRule::AtMost(_) => {}
        }
    }
    (Status::Pass, format!("as {step} expects"))
}

/// The order the rows are shown in: those `step` judges first, the rest as measured.
pub fn row_order(view: &DnsView, step: Option<&StepId>) -> Vec<usize> {
    let first: &[RecordKind] = match step {
        Some(StepId::SpfAddNew) => &[RecordKind::Spf],
        Some(StepId::AddNewMx) => &[RecordKind::Mx, RecordKind::MtaSts],
        Some(StepId::DkimSpfFinal) => &[RecordKind::Dkim, RecordKind::Spf],
        Some(StepId::Monitor24h) => &[RecordKind::Mx, RecordKind::Dmarc],
        _ => &[],
    };
    let rank = |k: RecordKind| first.iter().position(|f| *f == k).unwrap_or(first.len());
    let mut order: Vec<usize> = (0..view.rows.len()).collect();
    order.sort_by_key(|&i| rank(view.rows[i].kind));
    order
}

/// A cell's TTL now: as served at an authoritative server; at a resolver, what is left of
/// the cached TTL by the cockpit's clock.
pub fn ttl_now(
    cell: &DnsCell,
    role: ServerRole,
    measured_at: Timestamp,
    now: Timestamp,
) -> Option<u32> {
    let ttl = cell.ttl?;
    match role {
        ServerRole::Authoritative => Some(ttl),
        ServerRole::Resolver => {
            let passed = now.duration_since(measured_at).as_secs().max(0);
            Some(ttl.saturating_sub(u32::try_from(passed).unwrap_or(u32::MAX)))
        }
    }
}
