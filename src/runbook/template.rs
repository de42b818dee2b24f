//! Filling the runbook's `{placeholders}` from the plan: the exact records an operator pastes.

use std::collections::HashMap;

use crate::plan::load::human_secs;
use crate::plan::{MxRecord, Plan};

/// The SPF record built from the plan's terms (the live record, when known, is the DNS module's).
pub fn spf_record(terms: &[&String]) -> String {
    let mut parts = vec!["v=spf1".to_string()];
    for t in terms {
        if !parts.iter().any(|p| p.eq_ignore_ascii_case(t)) {
            parts.push((*t).clone());
        }
    }
    parts.push("~all".into());
    parts.join(" ")
}

/// A zone-file line: `example.com. 300 IN MX 10 mx1.old.example.`
pub fn mx_line(domain: &str, ttl: u32, mx: &MxRecord) -> String {
    format!("{domain}. {ttl} IN MX {} {}", mx.preference, mx.host)
}

pub fn txt_line(name: &str, ttl: u32, text: &str) -> String {
    format!("{name}. {ttl} IN TXT \"{}\"", text.replace('"', "\\\""))
}

/// The values every placeholder can take for this plan.
pub fn variables(
    plan: &Plan,
    shutdown_date: Option<jiff::civil::Date>,
) -> HashMap<&'static str, String> {
    let d = &plan.domain;
    let ttl = plan.dns.migration_ttl;
    let lines = |mx: &[MxRecord], ttl: u32| {
        mx.iter()
            .map(|m| format!("  {}", mx_line(d, ttl, m)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let old_terms: Vec<&String> = plan.old.spf.iter().collect();
    let merged: Vec<&String> = plan.old.spf.iter().chain(plan.new.spf.iter()).collect();
    let new_terms: Vec<&String> = plan.new.spf.iter().collect();
    let mut v = HashMap::new();
    v.insert("domain", d.clone());
    v.insert("migration_ttl", ttl.to_string());
    v.insert("migration_ttl_human", human_secs(ttl));
    v.insert(
        "old_ttl_human",
        plan.dns
            .old_ttl
            .map(human_secs)
            .unwrap_or_else(|| "24 h unless a longer one was observed".into()),
    );
    v.insert("old_mx_lines", lines(&plan.old.mx, ttl));
    v.insert("new_mx_lines", lines(&plan.new.mx, ttl));
    v.insert(
        "spf_current_line",
        format!("  {}", txt_line(d, ttl, &spf_record(&old_terms))),
    );
    v.insert(
        "spf_merged_line",
        format!("  {}", txt_line(d, ttl, &spf_record(&merged))),
    );
    v.insert(
        "spf_final_line",
        format!("  {}", txt_line(d, ttl, &spf_record(&new_terms))),
    );
    v.insert(
        "dkim_name",
        match &plan.new.dkim_selector {
            Some(sel) => format!("  {sel}._domainkey.{d}."),
            None => "  <selector>._domainkey.{d}. (set `dkim_selector` in [new])".replace("{d}", d),
        },
    );
    v.insert("restore_mx_human", human_secs(plan.dns.restore_ttl_mx));
    v.insert("restore_txt_human", human_secs(plan.dns.restore_ttl_txt));
    let mut restore = lines(&plan.new.mx, plan.dns.restore_ttl_mx);
    restore.push('\n');
    restore.push_str(&format!(
        "  {}",
        txt_line(d, plan.dns.restore_ttl_txt, &spf_record(&new_terms))
    ));
    v.insert("restore_lines", restore);
    v.insert("mailbox_count", plan.mailboxes.len().to_string());
    v.insert("old_name", plan.old.name.clone());
    v.insert("new_name", plan.new.name.clone());
    v.insert("old_imap", plan.old.imap.url.clone());
    v.insert("new_imap", plan.new.imap.url.clone());
    v.insert(
        "shutdown_date",
        shutdown_date
            .map(|d| d.strftime("%A %-d %B %Y").to_string())
            .unwrap_or_else(|| "the end of day 3".into()),
    );
    v
}

/// Replaces `{name}` with its value; unknown names are left visible rather than dropped.
pub fn render(text: &str, vars: &HashMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if vars.contains_key(&after[..close]) => {
                out.push_str(&vars[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spf_merges_without_duplicates() {
        let a = "include:_spf.old.example".to_string();
        let b = "include:_spf.new.example".to_string();
        assert_eq!(
            spf_record(&[&a, &b, &a]),
            "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
        );
    }

    #[test]
    fn unknown_placeholders_stay_visible() {
        let mut vars = HashMap::new();
        vars.insert("domain", "example.com".to_string());
        assert_eq!(render("{domain} {nope} {", &vars), "example.com {nope} {");
    }
}
