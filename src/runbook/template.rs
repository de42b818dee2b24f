//! Filling the runbook's `{placeholders}` from the plan (the records to paste come from `dns::records_to_paste`).

use std::collections::HashMap;

use crate::plan::Plan;
use crate::units::ttl as human_secs;

/// The values every placeholder can take for this plan.
pub fn variables(
    plan: &Plan,
    shutdown_date: Option<jiff::civil::Date>,
) -> HashMap<&'static str, String> {
    let d = &plan.domain;
    let mut v = HashMap::new();
    v.insert("domain", d.clone());
    v.insert("migration_ttl", plan.dns.migration_ttl.to_string());
    v.insert("migration_ttl_human", human_secs(plan.dns.migration_ttl));
    v.insert(
        "old_ttl_human",
        plan.dns
            .old_ttl
            .map(human_secs)
            .unwrap_or_else(|| "24 h unless a longer one was observed".into()),
    );
    v.insert(
        "dkim_name",
        match &plan.new.dkim_selector {
            Some(sel) => format!("{sel}._domainkey.{d}."),
            None => format!("<selector>._domainkey.{d}. (set `dkim_selector` in [new])"),
        },
    );
    v.insert("restore_mx_human", human_secs(plan.dns.restore_ttl_mx));
    v.insert("restore_txt_human", human_secs(plan.dns.restore_ttl_txt));
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
    fn unknown_placeholders_stay_visible() {
        let mut vars = HashMap::new();
        vars.insert("domain", "example.com".to_string());
        assert_eq!(render("{domain} {nope} {", &vars), "example.com {nope} {");
    }
}
