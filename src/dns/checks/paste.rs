//! The exact zone-file lines to paste at the DNS host for each step.

use super::*;
use crate::dns::target::{Record, Served, dns_target};

/// The exact zone-file lines to paste at the DNS host for a step (comments
/// start with `;`): the records of the step's DNS target (`dns::target`) that are
/// not served as they must be, which are the host card's `+` lines; `; delete:`
/// for each record that goes; then notes. What is served is what the first
/// authoritative server that answered MX and TXT serves; without one, the plan.
pub fn records_to_paste(
    step_id: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
) -> Vec<String> {
    let served = Served::in_round(plan, snapshot).map(|(_, served)| served);
    let Some(target) = dns_target(step_id, plan, served.as_ref()) else {
        return vec![];
    };
    let mut lines: Vec<String> = target
        .to_add(plan, served.as_ref())
        .into_iter()
        .map(|l| {
            if l.to_fill {
                format!("; {}", l.line)
            } else {
                l.line
            }
        })
        .collect();
    // What goes: a served record of a set the step sets whose data is not in the set
    // any more (a changed TTL alone is not a deletion); unmeasured, of the records the
    // steps before would have left.
    let starts_from = served
        .clone()
        .unwrap_or_else(|| Served::assumed_before(step_id, plan));
    for now in [&starts_from.mx, &starts_from.txt].into_iter().flatten() {
        let Some(set) = target
            .rrsets
            .iter()
            .find(|t| t.rtype == now.rtype && t.name.eq_ignore_ascii_case(&now.name))
        else {
            continue;
        };
        for (record, line) in now.records.iter().zip(now.lines()) {
            if !set.records.contains(record) {
                lines.push(format!("; delete: {}", line.line));
            }
        }
    }
    lines.extend(target.notes.iter().map(|n| format!("; {}", sanitize(n))));
    match step_id {
        StepId::SpfAddNew | StepId::DkimSpfFinal => {
            if let Some(record) = target
                .rrsets
                .iter()
                .filter(|s| s.rtype == Rtype::TXT)
                .flat_map(|s| &s.records)
                .find_map(|r| match r {
                    Record::Txt(t) if spf::is_spf(t) => Some(t),
                    _ => None,
                })
            {
                lines.extend(spf_notes(plan, snapshot, record));
            }
        }
        StepId::AddNewMx => {
            if let Some(policy_lines) = mta_sts_to_publish(plan, snapshot) {
                lines.push(format!(
                    "; first publish this MTA-STS policy at https://mta-sts.{}/.well-known/mta-sts.txt and change the id in _mta-sts.{}:",
                    plan.domain,
                    fqdn(&plan.domain)
                ));
                lines.extend(policy_lines.into_iter().map(|l| format!(";   {l}")));
            }
        }
        _ => {}
    }
    lines
}

/// `;` notes on the SPF record to paste: when it would need more than 10 lookups, the
/// largest includes with their counts (the operator must flatten or drop one: no
/// merge can fix that alone); else when receivers would still reject it, why.
fn spf_notes(plan: &Plan, snapshot: Option<&DnsSnapshot>, record: &str) -> Vec<String> {
    let lookup = |name: &str, rtype: Rtype| match snapshot {
        Some(s) => s.spf_fetched(name, rtype),
        None => spf::Fetched::Unknown,
    };
    if let Some(over) = spf::over_limit(&plan.domain, record, &lookup) {
        return vec![format!("; {}", sanitize(&over.describe()))];
    }
    let verdict = spf::evaluate(&plan.domain, record, &lookup);
    if verdict.valid == Some(false) {
        return vec![format!(
            "; receivers would still reject this record: {}",
            sanitize(&spf::SpfVerdict::describe(&verdict.errors))
        )];
    }
    vec![]
}

/// The MTA-STS policy lines to publish before add-new-mx, when the served
/// policy does not cover the new hosts.
pub fn mta_sts_to_publish(plan: &Plan, snapshot: Option<&DnsSnapshot>) -> Option<Vec<String>> {
    let policy = mta_sts::parse_policy(snapshot?.mta_sts.as_ref()?.policy.as_ref()?).ok()?;
    let hosts: Vec<String> = plan.new.mx.iter().map(|m| m.host.clone()).collect();
    let missing = mta_sts::uncovered(&policy, &hosts);
    (!missing.is_empty()).then(|| mta_sts::policy_to_publish(&policy, &missing))
}

/// A TXT line in zone-file syntax: strings of at most 255 bytes, quoted, with
/// `"`, `\` and anything unprintable escaped (so server text cannot reach the
/// terminal raw, and the line pastes back to exactly the same record).
pub fn txt_line(name: &str, ttl: u32, text: &str) -> String {
    let mut strings = Vec::new();
    let bytes = text.as_bytes();
    for chunk in bytes.chunks(255) {
        strings.push(format!("\"{}\"", escape_bytes(chunk)));
    }
    if strings.is_empty() {
        strings.push("\"\"".to_string());
    }
    format!("{name} {ttl} IN TXT {}", strings.join(" "))
}

fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            other => out.push_str(&format!("\\{other:03}")),
        }
    }
    out
}
