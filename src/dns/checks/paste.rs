//! The exact zone-file lines to paste at the DNS host for each step.

use super::*;

/// The exact zone-file lines to paste at the DNS host for a step (comments
/// start with `;`). Built from what is served where known, else from the plan.
pub fn records_to_paste(
    step_id: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
) -> Vec<String> {
    let apex = fqdn(&plan.domain);
    let ttl = plan.dns.migration_ttl;
    let served_txt = served(snapshot, &apex, Rtype::TXT);
    let current_spf = served_txt
        .as_ref()
        .and_then(|t| t.iter().find(|r| spf::is_spf(r)).cloned());
    let old_mx: Vec<MxRecord> = plan.old.mx.clone();
    match step_id {
        StepId::LowerTtl | StepId::RollbackLowerTtl => {
            let mut lines: Vec<String> = match served(snapshot, &apex, Rtype::MX) {
                Some(records) if !records.is_empty() => records
                    .iter()
                    .map(|r| format!("{apex} {ttl} IN MX {}", fqdn_mx(r)))
                    .collect(),
                _ => old_mx.iter().map(|m| mx_line(&apex, ttl, m)).collect(),
            };
            match served_txt {
                Some(txts) => lines.extend(txts.iter().map(|txt| txt_line(&apex, ttl, txt))),
                // Not measured: the SPF record the plan implies, so the TXT TTL is not forgotten.
                None => lines.push(txt_line(
                    &apex,
                    ttl,
                    &spf::merged_spf(None, &plan.old.spf, &[]),
                )),
            }
            lines
        }
        // A rollback after dkim-spf-final puts spf-add-new's merged record back (R18).
        StepId::SpfAddNew | StepId::RollbackSpf => spf_to_paste(
            plan,
            snapshot,
            spf::merge(current_spf.as_deref(), &plan.old.spf, &plan.new.spf),
        ),
        StepId::AddNewMx => {
            let mut lines: Vec<String> =
                plan.new.mx.iter().map(|m| mx_line(&apex, ttl, m)).collect();
            if let Some(policy_lines) = mta_sts_to_publish(plan, snapshot) {
                lines.push(format!(
                    "; first publish this MTA-STS policy at https://mta-sts.{}/.well-known/mta-sts.txt and change the id in _mta-sts.{apex}:",
                    plan.domain
                ));
                lines.extend(policy_lines.into_iter().map(|l| format!(";   {l}")));
            }
            lines
        }
        StepId::RemoveOldMx => {
            let mut lines: Vec<String> = old_mx
                .iter()
                .map(|m| format!("; delete: {}", mx_line(&apex, ttl, m)))
                .collect();
            lines.extend(plan.new.mx.iter().map(|m| mx_line(&apex, ttl, m)));
            lines
        }
        StepId::DkimSpfFinal => {
            let record = spf::final_spf(current_spf.as_deref(), &plan.old.spf, &plan.new.spf);
            // Terms receivers would reject were already left out by the merge.
            let dropped = spf::merge(current_spf.as_deref(), &[], &plan.new.spf).dropped;
            let mut lines = spf_to_paste(plan, snapshot, spf::Merged { record, dropped });
            if let Some(selector) = &plan.new.dkim_selector {
                lines.push(format!(
                    "; {selector}._domainkey.{apex} {ttl} IN TXT \"v=DKIM1; k=rsa; p=<the public key {} gives you>\"",
                    plan.new.name
                ));
            }
            lines
        }
        StepId::RestoreTtl => {
            let mut lines: Vec<String> = plan
                .new
                .mx
                .iter()
                .map(|m| mx_line(&apex, plan.dns.restore_ttl_mx, m))
                .collect();
            let txts = served_txt
                .unwrap_or_else(|| vec![spf::final_spf(None, &plan.old.spf, &plan.new.spf)]);
            for txt in txts {
                lines.push(txt_line(&apex, plan.dns.restore_ttl_txt, &txt));
            }
            lines
        }
        StepId::StaySpfOldOnly => {
            let record = spf::final_spf(current_spf.as_deref(), &plan.new.spf, &plan.old.spf);
            let dropped = spf::merge(current_spf.as_deref(), &[], &plan.old.spf).dropped;
            spf_to_paste(plan, snapshot, spf::Merged { record, dropped })
        }
        StepId::StayRestoreTtl => {
            let mut lines: Vec<String> = old_mx
                .iter()
                .map(|m| mx_line(&apex, plan.dns.restore_ttl_mx, m))
                .collect();
            let txts =
                served_txt.unwrap_or_else(|| vec![spf::merged_spf(None, &plan.old.spf, &[])]);
            for txt in txts {
                lines.push(txt_line(&apex, plan.dns.restore_ttl_txt, &txt));
            }
            lines
        }
        StepId::RollbackAddOldMx => {
            let mut lines: Vec<String> = old_mx.iter().map(|m| mx_line(&apex, ttl, m)).collect();
            lines.extend(
                plan.new
                    .mx
                    .iter()
                    .map(|m| format!("; keep: {}", mx_line(&apex, ttl, m))),
            );
            lines
        }
        StepId::RollbackRemoveNewMx => {
            let mut lines: Vec<String> = plan
                .new
                .mx
                .iter()
                .map(|m| format!("; delete: {}", mx_line(&apex, ttl, m)))
                .collect();
            lines.extend(old_mx.iter().map(|m| mx_line(&apex, ttl, m)));
            lines
        }
        _ => vec![],
    }
}

/// The SPF record to paste, with `;` notes: the terms of the current record
/// left out (receivers reject them), and, when the record would need more
/// than 10 lookups, the largest includes with their counts (the operator
/// must flatten or drop one: no merge can fix that alone).
fn spf_to_paste(plan: &Plan, snapshot: Option<&DnsSnapshot>, merged: spf::Merged) -> Vec<String> {
    let apex = fqdn(&plan.domain);
    let mut lines = vec![txt_line(&apex, plan.dns.migration_ttl, &merged.record)];
    if !merged.dropped.is_empty() {
        lines.push(format!(
            "; left out of the current record because receivers reject them: {}",
            merged.dropped.join(" ")
        ));
    }
    let lookup = |name: &str, rtype: Rtype| match snapshot {
        Some(s) => s.spf_fetched(name, rtype),
        None => spf::Fetched::Unknown,
    };
    if let Some(over) = spf::over_limit(&plan.domain, &merged.record, &lookup) {
        lines.push(format!("; {}", sanitize(&over.describe())));
    } else {
        let verdict = spf::evaluate(&plan.domain, &merged.record, &lookup);
        if verdict.valid == Some(false) {
            lines.push(format!(
                "; receivers would still reject this record: {}",
                sanitize(&spf::SpfVerdict::describe(&verdict.errors))
            ));
        }
    }
    lines
}

/// The MTA-STS policy lines to publish before add-new-mx, when the served
/// policy does not cover the new hosts.
pub fn mta_sts_to_publish(plan: &Plan, snapshot: Option<&DnsSnapshot>) -> Option<Vec<String>> {
    let policy = mta_sts::parse_policy(snapshot?.mta_sts.as_ref()?.policy.as_ref()?).ok()?;
    let hosts: Vec<String> = plan.new.mx.iter().map(|m| m.host.clone()).collect();
    let missing = mta_sts::uncovered(&policy, &hosts);
    (!missing.is_empty()).then(|| mta_sts::policy_to_publish(&policy, &missing))
}

/// The records of the first authoritative server (else resolver) that answered definitely.
fn served(snapshot: Option<&DnsSnapshot>, name: &str, rtype: Rtype) -> Option<Vec<String>> {
    let snapshot = snapshot?;
    snapshot
        .authoritative()
        .chain(snapshot.resolvers())
        .filter_map(|s| s.answer(name, rtype))
        .find(|a| a.status.is_definite())
        .map(|a| a.records.clone())
}

fn mx_line(apex: &str, ttl: u32, mx: &MxRecord) -> String {
    format!("{apex} {ttl} IN MX {} {}", mx.preference, fqdn(&mx.host))
}

fn fqdn_mx(record: &str) -> String {
    match mx::parse_mx(record) {
        Some((preference, host)) => format!("{preference} {}", fqdn(&host)),
        None => escape_txt(record),
    }
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

fn escape_txt(text: &str) -> String {
    escape_bytes(text.as_bytes())
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
