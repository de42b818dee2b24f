//! The mailbox checks of each runbook step, from the latest probes and the journal,
//! and the mailbox facts the journal keeps (the old INBOXes' UIDNEXT over time).

use crate::step::StepId;
use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::check::{Check, Kind, Status};
use crate::journal::Entry;
use crate::journal::History;
use crate::mail::checks;
use crate::mail::probe::MailboxProbe;
use crate::mail::sync::{COPY_RESULT_FACT, CopyResult};
use crate::plan::Plan;

/// The journal fact recording an old INBOX's UIDNEXT whenever it changes.
pub const OLD_INBOX_UIDNEXT: &str = "old-inbox-uidnext";

/// The fact journaled the first time a probe sees a POP3 fetch into a mailbox no copy has
/// touched yet (afterwards the copy's messages hide a fetch): `{"mailbox", "share"}`.
pub const POP3_FETCH_SEEN: &str = "pop3-fetch-seen";

/// The key of an old INBOX UIDNEXT fact's value naming when its probe round was asked for
/// (the cockpit's prober writes it; one round's facts may be journaled in several batches).
pub const ROUND: &str = "round";

/// The gate of `decommission-old` on a verified archive of the old server (R19).
pub const ARCHIVE_VERIFIED: &str = "mail.archive-verified";

/// How long the old INBOXes must stay quiet (R10, R14).
const QUIET_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// The check ids each step gets from here (the runbook lists them).
pub fn check_ids(step_id: &StepId) -> &'static [&'static str] {
    match step_id {
        StepId::NewServerReady | StepId::UsersConnected => &["mail.new-login"],
        StepId::Pop3Fetch => &["mail.pop3-fetch"],
        StepId::Monitor24h => &["mail.old-inbox-quiet"],
        StepId::FinalCopy => &["mail.copy-verified"],
        StepId::DecommissionOld => &[
            "mail.copy-verified",
            "mail.old-inbox-quiet",
            ARCHIVE_VERIFIED,
        ],
        _ => &[],
    }
}

/// The mailbox checks of one step. Without probes, what needs them is `unknown`;
/// the copy's verification and the old INBOXes' history come from the journal.
pub fn step_checks(
    step_id: &StepId,
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
            ARCHIVE_VERIFIED => crate::mail::archive::archive_verified(plan, history, now),
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
        "{fetching} of {} already hold their old INBOX on the new server",
        crate::units::count(probes.len() as u64, "mailbox", "mailboxes")
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
    let mut unwatched = Vec::new();
    let mut unknown = Vec::new();
    let mut until: Option<Timestamp> = None;
    // The canary mailbox receives canaries only, every hour: a canary never keeps
    // decommission waiting.
    for mailbox in plan
        .mailboxes
        .iter()
        .filter(|m| !plan.is_canary_mailbox(&m.address))
    {
        let key = mailbox.address.to_lowercase();
        let mut seen: Vec<(Timestamp, u32)> = recorded.get(&key).cloned().unwrap_or_default();
        if let Some(probe) = probed.get(&key)
            && let Some(uidnext) = probe.old.inbox_uidnext()
        {
            let previous = seen.last().copied();
            let at = match previous {
                Some((p, u)) if u != uidnext => began(now, probe.old.inbox_newest_at, Some(p)),
                _ => now,
            };
            seen.push((at, uidnext));
        }
        let check = checks::old_inbox_quiet(&mailbox.address, &seen, now, QUIET_WINDOW);
        match check.status {
            Status::Unknown => unknown.push(mailbox.address.as_str()),
            Status::Fail => {
                let latest = seen.last().map(|(_, u)| *u);
                if seen.iter().any(|(_, u)| Some(*u) != latest) {
                    growing.push(mailbox.address.as_str());
                } else {
                    unwatched.push(mailbox.address.as_str());
                }
                until = until.max(check.until);
            }
            _ => {}
        }
    }
    if !growing.is_empty() || !unwatched.is_empty() {
        let mut parts = Vec::new();
        if !growing.is_empty() {
            parts.push(format!(
                "{} of {} old INBOXes received mail within the last 24 h: {}",
                growing.len(),
                plan.mailboxes.len(),
                list(&growing)
            ));
        }
        if !unwatched.is_empty() {
            parts.push(format!(
                "no mail seen but not watched for 24 h yet: {}",
                list(&unwatched)
            ));
        }
        let check = Check::new(id, Kind::Outcome, Status::Fail, parts.join("; "));
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

/// What a copy read of an old INBOX: when its result was journaled, and the UIDNEXT it
/// verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboxAtCopy {
    pub(crate) at: Timestamp,
    pub(crate) uidnext: u32,
}

impl InboxAtCopy {
    /// From a copy's result journaled at `at`; none when the copy did not read the old
    /// INBOX's UIDNEXT (a result from before it was recorded).
    pub(crate) fn of(at: Timestamp, result: &CopyResult) -> Option<InboxAtCopy> {
        result
            .folders
            .iter()
            .find(|f| f.old.eq_ignore_ascii_case("INBOX"))
            .map(|f| f.old_uidnext)
            .filter(|&uidnext| uidnext != 0)
            .map(|uidnext| InboxAtCopy { at, uidnext })
    }
}

/// "The old side moved since the copy": the last `old-inbox-uidnext` fact of the mailbox
/// (`last_fact`: when journaled, the UIDNEXT) was journaled after the copy and exceeds the
/// UIDNEXT the copy verified; that UIDNEXT. The one definition `mail.copy-verified` and the
/// mailbox table's `stale` read.
pub(crate) fn old_inbox_moved_since(
    copy: InboxAtCopy,
    last_fact: Option<(Timestamp, u32)>,
) -> Option<u32> {
    last_fact
        .filter(|&(at, uidnext)| at > copy.at && uidnext > copy.uidnext)
        .map(|(_, uidnext)| uidnext)
}

/// Each mailbox's last `old-inbox-uidnext` fact (lowercase address): when journaled, the UIDNEXT.
pub(crate) fn last_inbox_uidnext(history: &History) -> HashMap<String, (Timestamp, u32)> {
    let mut out = HashMap::new();
    for fact in history.facts.get(OLD_INBOX_UIDNEXT).into_iter().flatten() {
        let mailbox = fact.value.get("mailbox").and_then(|v| v.as_str());
        let uidnext = fact.value.get("uidnext").and_then(|v| v.as_u64());
        if let (Some(m), Some(u)) = (mailbox, uidnext) {
            out.insert(
                m.to_lowercase(),
                (fact.at, u32::try_from(u).unwrap_or(u32::MAX)),
            );
        }
    }
    out
}

/// Each mailbox's last copy result (lowercase address): when journaled, and the result.
fn last_copy_results(history: &History) -> HashMap<String, (Timestamp, CopyResult)> {
    let mut out = HashMap::new();
    for fact in history.facts.get(COPY_RESULT_FACT).into_iter().flatten() {
        if let Ok(result) = serde_json::from_value::<CopyResult>(fact.value.clone()) {
            out.insert(result.mailbox.to_lowercase(), (fact.at, result));
        }
    }
    out
}

/// The old INBOXes that moved since their last verified copy: (address, how many messages by
/// UIDNEXT, when the copy was verified).
fn received_after_copy(plan: &Plan, history: &History) -> Vec<(String, u32, Timestamp)> {
    let facts = last_inbox_uidnext(history);
    let copies = last_copy_results(history);
    let mut out = Vec::new();
    for mailbox in &plan.mailboxes {
        let key = mailbox.address.to_lowercase();
        let Some(copy) = copies
            .get(&key)
            .filter(|(_, result)| result.state == "verified")
            .and_then(|(at, result)| InboxAtCopy::of(*at, result))
        else {
            continue;
        };
        if let Some(uidnext) = old_inbox_moved_since(copy, facts.get(&key).copied()) {
            out.push((mailbox.address.clone(), uidnext - copy.uidnext, copy.at));
        }
    }
    out
}

/// R12/R14: every mailbox's last copy verified complete, after the 24 h gate, and no old
/// INBOX received mail since.
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
    let late = received_after_copy(plan, history);
    if !late.is_empty() {
        let named: Vec<String> = late
            .iter()
            .map(|(address, n, at)| {
                format!(
                    "{address} ({} since the copy verified at {})",
                    crate::units::count(u64::from(*n), "message", "messages"),
                    at.strftime("%Y-%m-%d %H:%M UTC")
                )
            })
            .collect();
        return Check::new(
            id,
            Kind::Outcome,
            Status::Fail,
            format!(
                "old INBOXes received mail after their last verified copy: {} — copy again",
                named.join(", ")
            ),
        );
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
            "{} verified complete after the 24 h gate",
            crate::units::all(plan.mailboxes.len() as u64, "mailbox", "mailboxes")
        ),
    )
}

/// Whether a probe's POP3 share means anything: no copy has put messages into the mailbox
/// yet (a copy's first journal line comes before it copies anything).
pub fn fetch_measurable(history: &History, address: &str) -> bool {
    !history.sync.keys().any(|m| m.eq_ignore_ascii_case(address))
}

/// A POP3 fetch seen into a mailbox no copy has touched yet, once: after a copy its messages
/// fill the new INBOX too, and the probe's share can no longer tell a fetch.
pub fn pop3_fetch_facts(history: &History, probes: &[MailboxProbe], now: Timestamp) -> Vec<Entry> {
    let seen: std::collections::HashSet<String> = history
        .facts
        .get(POP3_FETCH_SEEN)
        .into_iter()
        .flatten()
        .filter_map(|f| f.value.get("mailbox")?.as_str().map(str::to_lowercase))
        .collect();
    probes
        .iter()
        .filter(|p| p.fetch_detected == Some(true))
        .filter(|p| !seen.contains(&p.address.to_lowercase()))
        .filter(|p| fetch_measurable(history, &p.address))
        .map(|p| {
            let share = p.fetch_share.unwrap_or(0.0);
            Entry::Fact {
                at: now,
                key: POP3_FETCH_SEEN.to_string(),
                value: json!({ "mailbox": p.address, "share": share }),
                evidence: format!(
                    "{}: {:.0}% of the old INBOX is in the new INBOX before any copy: a POP3 fetch runs",
                    p.address,
                    share * 100.0
                ),
            }
        })
        .collect()
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
            (last != Some(uidnext)).then(|| {
                // When the newest message arrived (INTERNALDATE), beside when it was noticed.
                let mut value = json!({ "mailbox": p.address, "uidnext": uidnext });
                let mut evidence = format!("{}: old INBOX UIDNEXT {uidnext}", p.address);
                if let Some(arrived) = p.old.inbox_newest_at {
                    value["arrived"] = json!(arrived.to_string());
                    evidence.push_str(&format!(
                        ", newest message arrived {}",
                        arrived.strftime("%Y-%m-%d %H:%M UTC")
                    ));
                }
                Entry::Fact {
                    at: now,
                    key: OLD_INBOX_UIDNEXT.to_string(),
                    value,
                    evidence,
                }
            })
        })
        .collect()
}

/// When a UIDNEXT value began: the newest message's arrival (INTERNALDATE) when known,
/// with the time it was noticed as the upper bound and the previous observation as the lower.
fn began(noticed: Timestamp, arrived: Option<Timestamp>, previous: Option<Timestamp>) -> Timestamp {
    let at = arrived.map_or(noticed, |a| a.min(noticed));
    previous.map_or(at, |p| at.max(p))
}

/// Mailbox (lowercase) → (time, UIDNEXT) of its old INBOX, oldest first; each time is when
/// that value began ([`began`]): mail is judged by its own arrival, not by when it was noticed.
fn uidnext_history(history: &History) -> HashMap<String, Vec<(Timestamp, u32)>> {
    let mut out: HashMap<String, Vec<(Timestamp, u32)>> = HashMap::new();
    for fact in history.facts.get(OLD_INBOX_UIDNEXT).into_iter().flatten() {
        let mailbox = fact.value.get("mailbox").and_then(|v| v.as_str());
        let uidnext = fact.value.get("uidnext").and_then(|v| v.as_u64());
        let arrived = fact
            .value
            .get("arrived")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<Timestamp>().ok());
        if let (Some(m), Some(u)) = (mailbox, uidnext) {
            let seen = out.entry(m.to_lowercase()).or_default();
            let previous = seen.last().map(|(at, _)| *at);
            // The first observation of a mailbox starts its watch: it is not an arrival.
            let at = match previous {
                None => fact.at,
                Some(_) => began(fact.at, arrived, previous),
            };
            seen.push((at, u32::try_from(u).unwrap_or(u32::MAX)));
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
                ..Mailbox::default()
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
    fn the_canary_mailbox_never_keeps_the_old_inboxes_from_being_quiet() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).expect("time");
        // A canary landed in the canary mailbox's old INBOX 2 h ago; alice has been quiet.
        let history = History::from_entries(&[
            fact(h(0), "a@x", 10),
            fact(h(0), "canary@x", 10),
            fact(h(28), "canary@x", 11),
        ]);
        let mut plan = plan_with(&["a@x", "canary@x"]);
        assert_eq!(
            old_inboxes_quiet(&plan, None, &history, h(30)).status,
            Status::Fail,
            "without [canary] it is a mailbox like any other"
        );
        plan.canary = Some(crate::plan::CanaryPlan {
            mailbox: "canary@x".into(),
            ..crate::plan::CanaryPlan::for_tests(plan.old.imap.clone())
        });
        let c = old_inboxes_quiet(&plan, None, &history, h(30));
        assert_eq!(c.status, Status::Pass, "{c:?}");
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
                inbox_newest_at: None,
            };
            MailboxProbe {
                address: "a@x".into(),
                old: side.clone(),
                new: side,
                synced_percent: None,
                fetch_detected: None,
                fetch_share: None,
                verified: None,
                old_bytes: None,
                probed_at: t0,
            }
        };
        assert!(mail_facts(&history, &[probe(10)], t0).is_empty());
        assert_eq!(mail_facts(&history, &[probe(11)], t0).len(), 1);
    }

    fn verified(at: Timestamp, mailbox: &str) -> Entry {
        Entry::Sync {
            at,
            mailbox: mailbox.into(),
            pid: 1,
            state: "verified".into(),
            messages_done: 10,
            messages_left: 0,
            bytes_done: 100,
            detail: None,
        }
    }

    /// "Received mail" only of a mailbox whose old INBOX grew; one that did not but was
    /// watched for less than 24 h is "not watched for 24 h yet".
    #[test]
    fn received_mail_is_said_only_of_a_mailbox_that_did() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).expect("time");
        let history = History::from_entries(&[
            fact(h(0), "a@x", 10),
            fact(h(2), "a@x", 11),
            fact(h(10), "b@x", 5),
        ]);
        let plan = plan_with(&["a@x", "b@x"]);
        let c = old_inboxes_quiet(&plan, None, &history, h(12));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence
                .contains("1 of 2 old INBOXes received mail within the last 24 h: a@x"),
            "{}",
            c.evidence
        );
        assert!(
            c.evidence
                .contains("no mail seen but not watched for 24 h yet: b@x"),
            "{}",
            c.evidence
        );
        assert_eq!(c.until, Some(h(34)));
    }

    /// A verified copy of `mailbox`: its `sync` line and its result, which read the old
    /// INBOX at `uidnext`.
    fn copied(at: Timestamp, mailbox: &str, uidnext: u32) -> [Entry; 2] {
        let result = CopyResult {
            mailbox: mailbox.into(),
            state: "verified".into(),
            folders: vec![crate::mail::sync::CopiedFolder {
                old: "INBOX".into(),
                new: "INBOX".into(),
                old_messages: u64::from(uidnext - 1),
                old_uidnext: uidnext,
                missing: 0,
                verified: true,
            }],
        };
        [
            verified(at, mailbox),
            Entry::Fact {
                at,
                key: COPY_RESULT_FACT.into(),
                value: serde_json::to_value(result).expect("a copy result is JSON"),
                evidence: String::new(),
            },
        ]
    }

    /// `mail.copy-verified` fails when an old-inbox-uidnext fact journaled after a mailbox's
    /// verified copy exceeds the UIDNEXT that copy verified, naming the mailbox and how many
    /// messages; a fact that merely repeats it, or one from before the copy, does not count.
    #[test]
    fn copy_verified_fails_when_mail_arrives_after_the_verified_copy() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).expect("time");
        let switch = Entry::Fact {
            at: h(0),
            key: crate::journal::dns_facts::keys::MX_SET.into(),
            value: json!({"from": "old+new", "to": "new"}),
            evidence: String::new(),
        };
        let plan = plan_with(&["a@x", "b@x"]);
        // No fact before the copy at all (the prober was not running): the copy's own
        // UIDNEXT is what later facts are compared with.
        let mut entries = vec![switch, fact(h(0), "a@x", 10)];
        entries.extend(copied(h(25), "a@x", 11));
        entries.extend(copied(h(25), "b@x", 20));
        entries.push(fact(h(26), "a@x", 11));
        entries.push(fact(h(26), "b@x", 20));
        let c = copy_verified(&plan, &History::from_entries(&entries));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        entries.push(fact(h(27), "b@x", 23));
        let c = copy_verified(&plan, &History::from_entries(&entries));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(
            c.evidence
                .contains("b@x (3 messages since the copy verified at 2026-03-04 09:00 UTC)"),
            "{}",
            c.evidence
        );
        assert!(!c.evidence.contains("a@x"), "{}", c.evidence);
        // A new copy that read the new mail passes again.
        entries.extend(copied(h(28), "b@x", 23));
        let c = copy_verified(&plan, &History::from_entries(&entries));
        assert_eq!(c.status, Status::Pass, "{c:?}");
    }

    fn arrived(at: Timestamp, mailbox: &str, uidnext: u32, arrived: Timestamp) -> Entry {
        Entry::Fact {
            at,
            key: OLD_INBOX_UIDNEXT.into(),
            value: json!({"mailbox": mailbox, "uidnext": uidnext, "arrived": arrived.to_string()}),
            evidence: String::new(),
        }
    }

    /// Mail is judged by its own arrival (INTERNALDATE): a message that arrived at 03:00 but
    /// was first noticed at 30:00 does not restart the 24 h window from 30:00; the previous
    /// observation bounds it from below.
    #[test]
    fn the_quiet_window_runs_from_the_arrival_not_from_when_it_was_noticed() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).expect("time");
        let plan = plan_with(&["a@x"]);
        let noticed_late =
            History::from_entries(&[fact(h(0), "a@x", 10), arrived(h(30), "a@x", 11, h(3))]);
        let c = old_inboxes_quiet(&plan, None, &noticed_late, h(30));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        // Without the arrival time, the window runs from when it was noticed.
        let unknown_arrival =
            History::from_entries(&[fact(h(0), "a@x", 10), fact(h(30), "a@x", 11)]);
        let c = old_inboxes_quiet(&plan, None, &unknown_arrival, h(30));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert_eq!(c.until, Some(h(54)));
        // An arrival dated before the previous observation counts from that observation.
        let odd = History::from_entries(&[fact(h(10), "a@x", 10), arrived(h(20), "a@x", 11, h(1))]);
        let c = old_inboxes_quiet(&plan, None, &odd, h(20));
        assert_eq!(c.until, Some(h(34)), "{c:?}");
    }

    #[test]
    fn a_uidnext_fact_carries_the_newest_arrival() {
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().expect("time");
        let side = crate::mail::probe::SideProbe {
            login: crate::mail::LoginState::Ok,
            messages: Some(1),
            folders: vec![crate::mail::probe::FolderProbe {
                name: "INBOX".into(),
                messages: 1,
                uidnext: 5,
                uidvalidity: 1,
                special_use: None,
            }],
            error: None,
            inbox: None,
            inbox_newest_at: Some(t0),
        };
        let probe = MailboxProbe {
            address: "a@x".into(),
            old: side.clone(),
            new: side,
            synced_percent: None,
            fetch_detected: None,
            fetch_share: None,
            verified: None,
            old_bytes: None,
            probed_at: t0,
        };
        let later = t0.checked_add(SignedDuration::from_hours(2)).expect("time");
        let facts = mail_facts(&History::default(), &[probe], later);
        match &facts[..] {
            [
                Entry::Fact {
                    value, evidence, ..
                },
            ] => {
                assert_eq!(value["arrived"], json!(t0.to_string()));
                assert!(
                    evidence.contains("newest message arrived 2026-03-03 08:00 UTC"),
                    "{evidence}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    fn fetch_probe(address: &str, fetch: Option<bool>) -> MailboxProbe {
        let side = crate::mail::probe::SideProbe {
            login: crate::mail::LoginState::Ok,
            messages: Some(4),
            folders: Vec::new(),
            error: None,
            inbox: None,
            inbox_newest_at: None,
        };
        MailboxProbe {
            address: address.into(),
            old: side.clone(),
            new: side,
            synced_percent: None,
            fetch_detected: fetch,
            fetch_share: fetch.map(|f| if f { 1.0 } else { 0.0 }),
            verified: None,
            old_bytes: None,
            probed_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Journaled once, only for a fetch a probe saw before any copy of that mailbox.
    #[test]
    fn a_pop3_fetch_is_journaled_once_and_only_before_a_copy() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let probes = [
            fetch_probe("a@x.test", Some(true)),
            fetch_probe("b@x.test", Some(false)),
            fetch_probe("c@x.test", Some(true)),
        ];
        let copied = Entry::Sync {
            at: now,
            mailbox: "c@x.test".into(),
            pid: 1,
            state: "running".into(),
            messages_done: 0,
            messages_left: 0,
            bytes_done: 0,
            detail: None,
        };
        let mut history = History::from_entries(&[copied]);
        let facts = pop3_fetch_facts(&history, &probes, now);
        let named: Vec<String> = facts
            .iter()
            .filter_map(|f| match f {
                Entry::Fact { value, .. } => Some(value["mailbox"].as_str()?.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(named, ["a@x.test"]);
        facts.iter().for_each(|f| history.apply(f));
        assert!(pop3_fetch_facts(&history, &probes, now).is_empty());
    }
}
