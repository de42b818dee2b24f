//! The DNS checks of the runbook's steps (pure: plan, snapshot, facts, time in;
//! verdicts with one plain sentence out), by record family — TTLs (`ttl_checks.rs`),
//! SPF (`spf_checks.rs`), MX (`mx_checks.rs`), DKIM/DMARC/MTA-STS (`auth_checks.rs`) — and the exact
//! zone-file lines to paste (`paste.rs`).

mod auth_checks;
mod mx_checks;
mod paste;
mod spf_checks;
mod ttl_checks;

pub use paste::{records_to_paste, txt_line};

use crate::step::StepId;
use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::dns::dkim;
use crate::dns::facts::{DnsFacts, server_mx_state};
use crate::dns::mta_sts;
use crate::dns::mx::{self, MxState};
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::spf;
use crate::dns::target::{self, SpfTerms, TtlRule};
use crate::dns::watch::{DnsSnapshot, ServerView};
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::units::ttl as human_seconds;

/// How long a DNS host gets to serve a changed TTL before R3's blocker.
const TTL_GRACE: SignedDuration = SignedDuration::from_secs(600);

/// The check ids each DNS step has, with their kind (the order they are shown in).
pub fn check_ids(step_id: &StepId) -> &'static [(&'static str, Kind)] {
    use Kind::{Gate, Outcome};
    match step_id {
        StepId::LowerTtl => &[
            ("mx-ttl-lowered", Outcome),
            ("txt-ttl-lowered", Outcome),
            ("other-ttls-untouched", Outcome),
            ("ttl-honoured", Outcome),
        ],
        StepId::SpfAddNew => &[
            ("spf-single-record", Outcome),
            ("spf-old-and-new", Outcome),
            ("spf-lookups", Outcome),
        ],
        StepId::TtlWait => &[("old-ttl-expired", Gate), ("resolvers-ttl-low", Outcome)],
        StepId::AddNewMx => &[
            ("mta-sts-covers-new", Gate),
            ("mx-old-and-new-served", Outcome),
            ("mx-no-alarm", Outcome),
        ],
        StepId::RemoveOldMx => &[
            ("new-mx-served", Gate),
            ("mx-only-new-served", Outcome),
            ("resolvers-new-mx", Outcome),
            ("mx-order", Outcome),
            ("mx-no-alarm", Outcome),
        ],
        StepId::DkimSpfFinal => &[
            ("dkim-valid", Outcome),
            ("spf-old-removed", Outcome),
            ("spf-valid", Outcome),
        ],
        StepId::Monitor24h => &[
            ("resolvers-new-mx", Outcome),
            ("mx-no-alarm", Outcome),
            ("dmarc-not-tightened", Outcome),
        ],
        StepId::RestoreTtl => &[("mx-ttl-restored", Outcome), ("txt-ttl-restored", Outcome)],
        // The way back (R18): the same records in reverse.
        StepId::RollbackSpf => &[
            ("spf-single-record", Outcome),
            ("spf-old-and-new", Outcome),
            ("spf-lookups", Outcome),
        ],
        StepId::RollbackLowerTtl => &[
            ("mx-ttl-lowered", Outcome),
            ("txt-ttl-lowered", Outcome),
            ("ttl-honoured", Outcome),
        ],
        StepId::RollbackAddOldMx => &[("old-mx-back-served", Outcome), ("mx-no-alarm", Outcome)],
        StepId::RollbackRemoveNewMx => &[
            ("old-mx-back-served", Gate),
            ("new-mx-ttl-passed", Gate),
            ("mx-only-old-served", Outcome),
            ("mx-no-alarm", Outcome),
        ],
        StepId::StaySpfOldOnly => &[
            ("spf-single-record", Outcome),
            ("spf-new-removed", Outcome),
            ("spf-lookups", Outcome),
        ],
        StepId::StayRestoreTtl => &[
            ("mx-only-old-served", Outcome),
            ("mx-ttl-restored", Outcome),
            ("txt-ttl-restored", Outcome),
        ],
        _ => &[],
    }
}

/// The DNS checks of one step. Without a snapshot every check is `Unknown`
/// ("not measured"), never `Pass`. Steps without DNS checks give none.
pub fn step_checks(
    step_id: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
    facts: &DnsFacts,
    applied_at: Option<Timestamp>,
    now: Timestamp,
) -> Vec<Check> {
    let Some(snapshot) = snapshot else {
        return check_ids(step_id)
            .iter()
            .map(|(id, kind)| {
                let check = Check::new(
                    id,
                    *kind,
                    Status::Unknown,
                    "Not measured: no DNS answers have been collected yet.",
                );
                // The wait is measured from a journal fact: it needs no new round.
                match (*id, facts.lowered_at) {
                    ("old-ttl-expired", Some(_)) => {
                        let (status, evidence, until) = old_ttl_expired(plan, facts, now);
                        let check = Check::new(id, *kind, status, evidence);
                        match until {
                            Some(until) => check.until(until),
                            None => check,
                        }
                    }
                    _ => check,
                }
            })
            .collect();
    };
    let at = Ctx {
        plan,
        snapshot,
        facts,
        auth: snapshot.authoritative().collect(),
        resolvers: snapshot.resolvers().collect(),
        apex: fqdn(&plan.domain),
    };
    // What each record check holds the served records to: the expectation of the DNS
    // target of the step the check belongs to (a gate: of the step before).
    let expect = |step: StepId| target::expectation(&step, plan);
    let lowered = match expect(StepId::LowerTtl).map(|e| e.ttl) {
        Some(TtlRule::AtMost(limit)) => limit,
        _ => plan.dns.migration_ttl,
    };
    let (restored_mx, restored_txt) = match expect(StepId::RestoreTtl).map(|e| e.ttl) {
        Some(TtlRule::Restored { mx, txt }) => (mx, txt),
        _ => (plan.dns.restore_ttl_mx, plan.dns.restore_ttl_txt),
    };
    let mx_wanted = |step: StepId| expect(step).and_then(|e| e.mx).unwrap_or(&[]);
    let spf_keeps_old =
        |step: StepId| expect(step).and_then(|e| e.spf) == Some(SpfTerms::OldAndNew);
    check_ids(step_id)
        .iter()
        .map(|(id, kind)| {
            let (status, evidence, until) = match *id {
                "mx-ttl-lowered" => at.ttl_lowered(Rtype::MX, lowered),
                "txt-ttl-lowered" => at.ttl_lowered(Rtype::TXT, lowered),
                "other-ttls-untouched" => at.other_ttls_untouched(),
                "ttl-honoured" => at.ttl_honoured(applied_at, now),
                "spf-single-record" => at.spf_single_record(),
                "spf-old-and-new" => at.spf_terms(spf_keeps_old(StepId::SpfAddNew)),
                "spf-lookups" | "spf-valid" => at.spf_valid(),
                "old-ttl-expired" => at.old_ttl_expired(now),
                "resolvers-ttl-low" => at.resolvers_ttl_low(),
                "mta-sts-covers-new" => at.mta_sts_covers_new(),
                "mx-old-and-new-served" => {
                    let (status, evidence, until) =
                        at.auth_mx(mx_wanted(StepId::AddNewMx));
                    // Only the new hosts: the old went too, so old+new was never seen here (R8).
                    let evidence = if status == Status::Pass
                        && at.auth.iter().all(|s| server_mx_state(plan, s) == MxState::New)
                    {
                        format!(
                            "{} The old MX hosts are already gone: the old and new set was not observed at this check (R8).",
                            evidence
                        )
                    } else {
                        evidence
                    };
                    (status, evidence, until)
                }
                "mx-no-alarm" => at.no_alarm(),
                "new-mx-served" => at.auth_mx(mx_wanted(StepId::AddNewMx)),
                "mx-only-new-served" => at.auth_mx(mx_wanted(StepId::RemoveOldMx)),
                "resolvers-new-mx" => at.resolvers_new_mx(now),
                "mx-order" => at.mx_order(),
                "dkim-valid" => at.dkim_valid(),
                "spf-old-removed" => at.spf_terms(spf_keeps_old(StepId::DkimSpfFinal)),
                "dmarc-not-tightened" => at.dmarc_not_tightened(),
                "old-mx-back-served" => at.auth_mx(&[MxState::OldAndNew, MxState::Old]),
                "mx-only-old-served" => at.auth_mx(&[MxState::Old]),
                "new-mx-ttl-passed" => at.new_mx_ttl_passed(now),
                "spf-new-removed" => at.spf_back_to_old(),
                "mx-ttl-restored" => at.ttl_restored(Rtype::MX, restored_mx),
                "txt-ttl-restored" => at.ttl_restored(Rtype::TXT, restored_txt),
                _ => (Status::Unknown, "No such check.".to_string(), None),
            };
            let check = Check::new(id, *kind, status, evidence);
            match until {
                Some(t) => check.until(t),
                None => check,
            }
        })
        .collect()
}

/// When the old TTL has run out since the lowering (R4), if the lowering was seen.
fn wait_until(plan: &Plan, facts: &DnsFacts) -> Option<Timestamp> {
    let lowered = facts.lowered_at?;
    let old = facts.old_ttl(plan);
    lowered
        .checked_add(SignedDuration::from_secs(i64::from(old.seconds)))
        .ok()
}

type Verdict = (Status, String, Option<Timestamp>);

/// What one server says for one check.
enum Judged {
    Good,
    Bad(String),
    Unmeasured(String),
}

struct Ctx<'a> {
    plan: &'a Plan,
    snapshot: &'a DnsSnapshot,
    facts: &'a DnsFacts,
    auth: Vec<&'a ServerView>,
    resolvers: Vec<&'a ServerView>,
    apex: String,
}

impl Ctx<'_> {
    /// A server as evidence names it: its plan name or NS host name with the address,
    /// else the address ("resolver 1 (127.0.0.1:5301)", "192.0.2.53:53").
    fn who(&self, server: &ServerView) -> String {
        match self
            .plan
            .dns
            .server_name(server.address)
            .or_else(|| server.ns_host.clone())
        {
            Some(name) => format!("{} ({})", crate::sanitize::sanitize(&name), server.address),
            None => server.address.to_string(),
        }
    }
}

fn unmeasured(server: &str, answer: Option<&Answer>) -> Judged {
    Judged::Unmeasured(no_usable_answer(server, answer))
}

/// Why a server's answer says nothing: "… was not asked", "… gave no usable answer (…)".
fn no_usable_answer(server: &str, answer: Option<&Answer>) -> String {
    match answer {
        None => format!("{server} was not asked"),
        Some(a) => format!(
            "{server} gave no usable answer ({})",
            describe_failure(a.status)
        ),
    }
}

fn describe_failure(status: AnswerStatus) -> &'static str {
    match status {
        AnswerStatus::Ok => "ok",
        AnswerStatus::Nxdomain => "the name does not exist there",
        AnswerStatus::Nodata => "no record of that type",
        AnswerStatus::Servfail => "server failure",
        AnswerStatus::Refused => "it refused to answer",
        AnswerStatus::Timeout => "no answer in time",
        AnswerStatus::Unreachable => "unreachable",
    }
}

/// One verdict over several servers: the first bad one fails it, then an
/// unmeasured one makes it unknown, else it passes.
fn every(
    servers: &[&ServerView],
    what: &str,
    judge: impl Fn(&ServerView) -> Judged,
    pass: String,
) -> Verdict {
    if servers.is_empty() {
        return (
            Status::Unknown,
            format!("No {what} server is known, so nothing was measured."),
            None,
        );
    }
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    for server in servers {
        match judge(server) {
            Judged::Good => {}
            Judged::Bad(why) => bad.push(why),
            Judged::Unmeasured(why) => unknown.push(why),
        }
    }
    if !bad.is_empty() {
        (Status::Fail, sentence(&bad), None)
    } else if !unknown.is_empty() {
        (Status::Unknown, sentence(&unknown), None)
    } else {
        (Status::Pass, pass, None)
    }
}

fn sentence(parts: &[String]) -> String {
    let mut s = parts.join("; ");
    if let Some(first) = s.get(..1) {
        s.replace_range(..1, &first.to_uppercase());
    }
    // A name ends in its own dot ("…example.com."): the sentence does not add a second.
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

impl Ctx<'_> {
    fn answer<'s>(&self, server: &'s ServerView, name: &str, rtype: Rtype) -> Option<&'s Answer> {
        server.answer(name, rtype)
    }
}

/// R4's wait, from the journal's facts alone: the lowered TTL first served everywhere, plus the old TTL.
fn old_ttl_expired(plan: &Plan, facts: &DnsFacts, now: Timestamp) -> Verdict {
    let old = facts.old_ttl(plan);
    let Some(lowered) = facts.lowered_at else {
        return (
            Status::Fail,
            format!(
                "The lowered TTL is not yet served by every authoritative server (step {}), so the wait has not started.",
                StepId::LowerTtl
            ),
            None,
        );
    };
    let until = wait_until(plan, facts).unwrap_or(lowered);
    if now >= until {
        (
            Status::Pass,
            format!(
                "The lowered TTL was first served everywhere at {}; the old TTL of {} has passed since.",
                lowered.strftime("%Y-%m-%d %H:%M UTC"),
                old.describe()
            ),
            None,
        )
    } else {
        (
            Status::Fail,
            format!(
                "Resolvers may cache the old MX for the old TTL of {} after the lowering was first seen at {}: wait until {}.",
                old.describe(),
                lowered.strftime("%Y-%m-%d %H:%M UTC"),
                until.strftime("%Y-%m-%d %H:%M UTC")
            ),
            Some(until),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::time::Duration;

    use crate::plan::{DnsPlan, ImapEndpoint, MxRecord, Plan, Security, Side, SyncPlan};

    fn side(mx: &str, spf: &str) -> Side {
        Side {
            name: "host".into(),
            mx: vec![MxRecord {
                preference: 10,
                host: mx.into(),
            }],
            spf: vec![spf.into()],
            dkim_selector: Some("sel1".into()),
            imap: ImapEndpoint {
                url: "imap://127.0.0.1:1".into(),
                host: "127.0.0.1".into(),
                port: 1,
                security: Security::None,
                ca_file: None,
                insecure_skip_verify: false,
                pin_sha256: None,
            },
            smtp: vec![],
            submission: None,
        }
    }

    pub(crate) fn plan(old_ttl: Option<u32>) -> Plan {
        Plan {
            path: "/tmp/cutover.toml".into(),
            domain: "example.com".into(),
            start: jiff::civil::date(2026, 12, 7).at(9, 0, 0, 0),
            timezone_name: "UTC".into(),
            timezone: jiff::tz::TimeZone::UTC,
            working_days: vec![],
            operator: "ops".into(),
            dns: DnsPlan {
                migration_ttl: 300,
                restore_ttl_mx: 86400,
                restore_ttl_txt: 21600,
                old_ttl,
                poll: Duration::from_secs(30),
                timeout: Duration::from_secs(3),
                resolvers: vec!["127.0.0.1:5301".parse().unwrap()],
                authoritative: vec!["127.0.0.1:5300".parse().unwrap()],
                names: Default::default(),
            },
            old: side("mx1.old.example.", "include:_spf.old.example"),
            new: side("smtp.new.example.", "include:_spf.new.example"),
            credentials: None,
            sync: SyncPlan::default(),
            archive: None,
            mailboxes: vec![],
            extra_steps: vec![],
            canary: None,
        }
    }
}

#[cfg(test)]
mod tests;

/// The evidence of each DNS check id (TTL and MX families, and R4's wait), for a passing
/// and a failing observation: built from what was served (servers, records, TTLs, times).
#[cfg(test)]
mod evidence_tests;
