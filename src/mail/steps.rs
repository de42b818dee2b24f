//! The mailbox checks of each runbook step, from the latest probes and the journal,
//! and the mailbox facts the journal keeps (the old INBOXes' UIDNEXT over time).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::check::{Check, Kind, Status};
use crate::journal::Entry;
use crate::journal::History;
use crate::mail::checks;
use crate::mail::probe::MailboxProbe;
use crate::plan::Plan;

/// The journal fact recording an old INBOX's UIDNEXT whenever it changes.
pub const OLD_INBOX_UIDNEXT: &str = "old-inbox-uidnext";

/// How long the old INBOXes must stay quiet (R10, R14).
const QUIET_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// The check ids each step gets from here (the runbook lists them).
pub fn check_ids(step_id: &str) -> &'static [&'static str] {
    match step_id {
        "new-server-ready" | "users-connected" => &["mail.new-login"],
        "pop3-fetch" => &["mail.pop3-fetch"],
        "monitor-24h" => &["mail.old-inbox-quiet"],
        "final-copy" => &["mail.copy-verified"],
        "decommission-old" => &["mail.copy-verified", "mail.old-inbox-quiet"],
        _ => &[],
    }
}

/// The mailbox checks of one step. Without probes, what needs them is `unknown`;
/// the copy's verification and the old INBOXes' history come from the journal.
pub fn step_checks(
    step_id: &str,
    plan: &Plan,
    probes: Option<&[MailboxProbe]>,
    history: &History,
    now: Timestamp,
) -> Vec<Check> {
    check_ids(step_id)
        .iter()
        .map(|id| match *id {
            "mail.new-login" => match probes {
                Some(p) => checks::new_logins(p, plan.mailboxes.len()),
                None => not_probed(id),
            },
            "mail.pop3-fetch" => match probes {
                Some(p) => pop3_fetch_all(p),
                None => not_probed(id),
            },
            "mail.old-inbox-quiet" => old_inboxes_quiet(plan, probes, history, now),
            _ => copy_verified(plan, history),
        })
        .collect()
}

fn not_probed(id: &str) -> Check {
    Check::new(
        id,
        Kind::Outcome,
        Status::Unknown,
        "not measured: the mailboxes have not been probed",
    )
}

/// R7 over every mailbox: advice, so at worst a warning.
fn pop3_fetch_all(probes: &[MailboxProbe]) -> Check {
    let each: Vec<Check> = probes.iter().map(checks::pop3_fetch).collect();
    let fetching = each.iter().filter(|c| c.status == Status::Pass).count();
    let unknown = each.iter().filter(|c| c.status == Status::Unknown).count();
    let without: Vec<&str> = probes
        .iter()
        .zip(&each)
        .filter(|(_, c)| c.status == Status::Warn)
        .map(|(p, _)| p.address.as_str())
        .collect();
    let status = if unknown == each.len() {
        Status::Unknown
    } else if without.is_empty() && unknown == 0 {
        Status::Pass
    } else {
        Status::Warn
    };
    let mut evidence = format!(
        "{fetching} of {} mailboxes already hold their old INBOX on the new server",
        probes.len()
    );
    if !without.is_empty() {
        evidence.push_str(&format!("; not yet: {}", list(&without)));
    }
    Check::new("mail.pop3-fetch", Kind::Outcome, status, evidence)
}

/// R10/R14 over every mailbox: each old INBOX unchanged for 24 h, from the
/// journal's UIDNEXT history and the latest probe.
fn old_inboxes_quiet(
    plan: &Plan,
    probes: Option<&[MailboxProbe]>,
    history: &History,
    now: Timestamp,
) -> Check {
    let id = "mail.old-inbox-quiet";
    let recorded = uidnext_history(history);
    let probed: HashMap<String, &MailboxProbe> = probes
        .unwrap_or_default()
        .iter()
        .map(|p| (p.address.to_lowercase(), p))
        .collect();
    let mut growing = Vec::new();
    let mut unknown = Vec::new();
    let mut until: Option<Timestamp> = None;
    for mailbox in &plan.mailboxes {
        let key = mailbox.address.to_lowercase();
        let mut seen: Vec<(Timestamp, u32)> = recorded.get(&key).cloned().unwrap_or_default();
        if let Some(probe) = probed.get(&key)
            && let Some(uidnext) = probe.old.inbox_uidnext()
        {
            seen.push((now, uidnext));
        }
        let check = checks::old_inbox_quiet(&mailbox.address, &seen, now, QUIET_WINDOW);
        match check.status {
            Status::Unknown => unknown.push(mailbox.address.as_str()),
            Status::Fail => {
                growing.push(mailbox.address.as_str());
                until = until.max(check.until);
            }
            _ => {}
        }
    }
    if !growing.is_empty() {
        let check = Check::new(
            id,
            Kind::Outcome,
            Status::Fail,
            format!(
                "{} of {} old INBOXes received mail within the last 24 h: {}",
                growing.len(),
                plan.mailboxes.len(),
                list(&growing)
            ),
        );
        return match until {
            Some(u) => check.until(u),
            None => check,
        };
    }
    if !unknown.is_empty() {
        return Check::new(
            id,
            Kind::Outcome,
            Status::Unknown,
            format!("old INBOX not probed yet: {}", list(&unknown)),
        );
    }
    Check::new(
        id,
        Kind::Outcome,
        Status::Pass,
        format!(
            "no new mail reached any of the {} old INBOXes for 24 h",
            plan.mailboxes.len()
        ),
    )
}

/// R12/R14: every mailbox's last copy verified complete, after the 24 h gate.
fn copy_verified(plan: &Plan, history: &History) -> Check {
    let id = "mail.copy-verified";
    let gate = history
        .switch_at()
        .and_then(|s| s.checked_add(SignedDuration::from_hours(24)).ok());
    let mut missing = Vec::new();
    let mut early = Vec::new();
    let mut incomplete = Vec::new();
    for mailbox in &plan.mailboxes {
        match history.sync.get(&mailbox.address) {
            None => missing.push(mailbox.address.as_str()),
            Some(s) if s.state != "verified" => {
                incomplete.push(format!("{} ({})", mailbox.address, s.state))
            }
            Some(s) if gate.is_none_or(|g| s.at < g) => early.push(mailbox.address.as_str()),
            Some(_) => {}
        }
    }
    if missing.len() == plan.mailboxes.len() {
        return Check::new(id, Kind::Outcome, Status::Unknown, "no copy has run yet");
    }
    if !incomplete.is_empty() || !missing.is_empty() {
        let mut parts = Vec::new();
        if !incomplete.is_empty() {
            let names: Vec<&str> = incomplete.iter().map(String::as_str).collect();
            parts.push(format!("not verified complete: {}", list(&names)));
        }
        if !missing.is_empty() {
            parts.push(format!("not copied yet: {}", list(&missing)));
        }
        return Check::new(id, Kind::Outcome, Status::Fail, parts.join("; "));
    }
    if !early.is_empty() {
        return Check::new(
            id,
            Kind::Outcome,
            Status::Fail,
            format!(
                "verified before the 24 h after the switch, so later mail may be missing: {} — copy again",
                list(&early)
            ),
        );
    }
    Check::new(
        id,
        Kind::Outcome,
        Status::Pass,
        format!(
            "all {} mailboxes verified complete after the 24 h gate",
            plan.mailboxes.len()
        ),
    )
}

/// The facts a probe round adds: each old INBOX's UIDNEXT when it first differs from the journal's.
pub fn mail_facts(history: &History, probes: &[MailboxProbe], now: Timestamp) -> Vec<Entry> {
    let recorded = uidnext_history(history);
    probes
        .iter()
        .filter_map(|p| {
            let uidnext = p.old.inbox_uidnext()?;
            let last = recorded
                .get(&p.address.to_lowercase())
                .and_then(|h| h.last())
                .map(|(_, u)| *u);
            (last != Some(uidnext)).then(|| Entry::Fact {
                at: now,
                key: OLD_INBOX_UIDNEXT.to_string(),
                value: json!({ "mailbox": p.address, "uidnext": uidnext }),
                evidence: format!("{}: old INBOX UIDNEXT {uidnext}", p.address),
            })
        })
        .collect()
}

/// Mailbox (lowercase) → (time, UIDNEXT) of its old INBOX, oldest first.
fn uidnext_history(history: &History) -> HashMap<String, Vec<(Timestamp, u32)>> {
    let mut out: HashMap<String, Vec<(Timestamp, u32)>> = HashMap::new();
    for fact in history.facts.get(OLD_INBOX_UIDNEXT).into_iter().flatten() {
        let mailbox = fact.value.get("mailbox").and_then(|v| v.as_str());
        let uidnext = fact.value.get("uidnext").and_then(|v| v.as_u64());
        if let (Some(m), Some(u)) = (mailbox, uidnext) {
            out.entry(m.to_lowercase())
                .or_default()
                .push((fact.at, u32::try_from(u).unwrap_or(u32::MAX)));
        }
    }
    out
}

fn list(names: &[&str]) -> String {
    let shown: Vec<&str> = names.iter().take(3).copied().collect();
    if names.len() > 3 {
        format!("{} and {} more", shown.join(", "), names.len() - 3)
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Mailbox;

    fn plan_with(addresses: &[&str]) -> Plan {
        let mut plan = crate::plan::load::parse(
            std::path::Path::new("/nonexistent/p.toml"),
            "domain = \"x.test\"\nstart = \"2026-03-02T09:00\"\ntimezone = \"UTC\"\n\
             [old]\nmx = [\"1 a.x.\"]\nspf = [\"mx\"]\nimap = \"imaps://a.x\"\n\
             [new]\nmx = [\"1 b.x.\"]\nspf = [\"mx\"]\ndkim_selector = \"s\"\nimap = \"imaps://b.x\"\n\
             [[mailbox]]\naddress = \"z@x.test\"\n",
            &crate::plan::load::Environment {
                login_user: "t".into(),
                system_timezone: None,
            },
        )
        .expect("plan")
        .plan;
        plan.mailboxes = addresses
            .iter()
            .map(|a| Mailbox {
                address: a.to_string(),
                old_login: a.to_string(),
                new_login: a.to_string(),
            })
            .collect();
        plan
    }

    fn fact(at: Timestamp, mailbox: &str, uidnext: u32) -> Entry {
        Entry::Fact {
            at,
            key: OLD_INBOX_UIDNEXT.into(),
            value: json!({"mailbox": mailbox, "uidnext": uidnext}),
            evidence: String::new(),
        }
    }

    #[test]
    fn the_old_inboxes_are_quiet_only_when_every_one_is_for_24_hours() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).expect("time");
        let history = History::from_entries(&[
            fact(h(0), "a@x", 10),
            fact(h(0), "b@x", 10),
            fact(h(20), "b@x", 12),
        ]);
        let plan = plan_with(&["a@x", "b@x"]);
        let quiet = old_inboxes_quiet(&plan, None, &history, h(30));
        assert_eq!(quiet.status, Status::Fail);
        assert_eq!(quiet.until, Some(h(44)));
        assert!(quiet.evidence.contains("b@x"), "{}", quiet.evidence);
        assert_eq!(
            old_inboxes_quiet(&plan, None, &history, h(44)).status,
            Status::Pass
        );
        // A mailbox whose old INBOX was never seen is not "quiet".
        let plan = plan_with(&["a@x", "b@x", "c@x"]);
        assert_eq!(
            old_inboxes_quiet(&plan, None, &history, h(44)).status,
            Status::Unknown
        );
    }

    #[test]
    fn only_changes_of_uidnext_become_facts() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let history = History::from_entries(&[fact(t0, "a@x", 10)]);
        let probe = |uidnext: u32| {
            let side = crate::mail::probe::SideProbe {
                login: crate::mail::LoginState::Ok,
                messages: Some(1),
                folders: vec![crate::mail::probe::FolderProbe {
                    name: "INBOX".into(),
                    messages: 1,
                    uidnext,
                    uidvalidity: 1,
                    special_use: None,
                }],
                error: None,
                inbox: None,
            };
            MailboxProbe {
                address: "a@x".into(),
                old: side.clone(),
                new: side,
                synced_percent: None,
                fetch_detected: None,
                fetch_share: None,
                verified: None,
                probed_at: t0,
            }
        };
        assert!(mail_facts(&history, &[probe(10)], t0).is_empty());
        assert_eq!(mail_facts(&history, &[probe(11)], t0).len(), 1);
    }
}
