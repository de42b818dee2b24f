//! The DNS checks of the runbook's steps (pure: plan, snapshot, facts, time in;
//! verdicts with one plain sentence out), by record family — TTLs (`ttl_checks.rs`),
//! SPF (`spf_checks.rs`), MX (`mx_checks.rs`), DKIM/DMARC/MTA-STS (`auth_checks.rs`) — and the exact
//! zone-file lines to paste (`paste.rs`).

mod auth_checks;
mod mx_checks;
mod paste;
mod spf_checks;
mod ttl_checks;

pub use paste::{mta_sts_to_publish, records_to_paste, txt_line};

use std::net::SocketAddr;

use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::dns::dkim;
use crate::dns::facts::{DnsFacts, server_mx_state};
use crate::dns::mta_sts;
use crate::dns::mx::{self, MxState};
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::spf;
use crate::dns::watch::{DnsSnapshot, ServerView};
use crate::plan::{MxRecord, Plan};
use crate::sanitize::sanitize;
use crate::units::ttl as human_seconds;

/// How long a DNS host gets to serve a changed TTL before R3's blocker.
const TTL_GRACE: SignedDuration = SignedDuration::from_secs(600);

/// The check ids each DNS step has, with their kind (the order they are shown in).
pub fn check_ids(step_id: &str) -> &'static [(&'static str, Kind)] {
    use Kind::{Gate, Outcome};
    match step_id {
        "lower-ttl" => &[
            ("mx-ttl-lowered", Outcome),
            ("txt-ttl-lowered", Outcome),
            ("other-ttls-untouched", Outcome),
            ("ttl-honoured", Outcome),
        ],
        "spf-add-new" => &[
            ("spf-single-record", Outcome),
            ("spf-old-and-new", Outcome),
            ("spf-lookups", Outcome),
        ],
        "ttl-wait" => &[("old-ttl-expired", Gate), ("resolvers-ttl-low", Outcome)],
        "add-new-mx" => &[
            ("mta-sts-covers-new", Gate),
            ("mx-old-and-new-served", Outcome),
            ("mx-no-alarm", Outcome),
        ],
        "remove-old-mx" => &[
            ("new-mx-served", Gate),
            ("mx-only-new-served", Outcome),
            ("resolvers-new-mx", Outcome),
            ("mx-order", Outcome),
            ("mx-no-alarm", Outcome),
        ],
        "dkim-spf-final" => &[
            ("dkim-valid", Outcome),
            ("spf-old-removed", Outcome),
            ("spf-valid", Outcome),
        ],
        "monitor-24h" => &[
            ("resolvers-new-mx", Outcome),
            ("mx-no-alarm", Outcome),
            ("dmarc-not-tightened", Outcome),
        ],
        "restore-ttl" => &[("mx-ttl-restored", Outcome), ("txt-ttl-restored", Outcome)],
        _ => &[],
    }
}

/// The DNS checks of one step. Without a snapshot every check is `Unknown`
/// ("not measured"), never `Pass`. Steps without DNS checks give none.
pub fn step_checks(
    step_id: &str,
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
    check_ids(step_id)
        .iter()
        .map(|(id, kind)| {
            let (status, evidence, until) = match *id {
                "mx-ttl-lowered" => at.ttl_lowered(Rtype::MX),
                "txt-ttl-lowered" => at.ttl_lowered(Rtype::TXT),
                "other-ttls-untouched" => at.other_ttls_untouched(),
                "ttl-honoured" => at.ttl_honoured(applied_at, now),
                "spf-single-record" => at.spf_single_record(),
                "spf-old-and-new" => at.spf_terms(true),
                "spf-lookups" | "spf-valid" => at.spf_valid(),
                "old-ttl-expired" => at.old_ttl_expired(now),
                "resolvers-ttl-low" => at.resolvers_ttl_low(),
                "mta-sts-covers-new" => at.mta_sts_covers_new(),
                "mx-old-and-new-served" => {
                    let (status, evidence, until) =
                        at.auth_mx(&[MxState::OldAndNew, MxState::New]);
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
                "new-mx-served" => at.auth_mx(&[MxState::OldAndNew, MxState::New]),
                "mx-only-new-served" => at.auth_mx(&[MxState::New]),
                "resolvers-new-mx" => at.resolvers_new_mx(now),
                "mx-order" => at.mx_order(),
                "dkim-valid" => at.dkim_valid(),
                "spf-old-removed" => at.spf_terms(false),
                "dmarc-not-tightened" => at.dmarc_not_tightened(),
                "mx-ttl-restored" => at.ttl_restored(Rtype::MX, plan.dns.restore_ttl_mx),
                "txt-ttl-restored" => at.ttl_restored(Rtype::TXT, plan.dns.restore_ttl_txt),
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

fn unmeasured(server: SocketAddr, answer: Option<&Answer>) -> Judged {
    match answer {
        None => Judged::Unmeasured(format!("{server} was not asked")),
        Some(a) => Judged::Unmeasured(format!(
            "{server} gave no usable answer ({})",
            describe_failure(a.status)
        )),
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
    s.push('.');
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
                "The lowered TTL is not yet served by every authoritative server (step lower-ttl), so the wait has not started.".into(),
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
            },
            old: side("mx1.old.example.", "include:_spf.old.example"),
            new: side("smtp.new.example.", "include:_spf.new.example"),
            credentials: None,
            sync: SyncPlan::default(),
            mailboxes: vec![],
            extra_steps: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_lines_are_quoted_split_and_escaped() {
        assert_eq!(
            txt_line(
                "example.com.",
                300,
                "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
            ),
            "example.com. 300 IN TXT \"v=spf1 include:_spf.old.example include:_spf.new.example ~all\""
        );
        assert_eq!(txt_line("x.", 1, "a\"b\x1b"), "x. 1 IN TXT \"a\\\"b\\027\"");
        let long = "a".repeat(300);
        assert!(txt_line("x.", 1, &long).ends_with(&format!("\" \"{}\"", "a".repeat(45))));
    }

    use crate::dns::facts::{DnsFacts, dns_facts};
    use crate::dns::matrix::render_matrix;
    use crate::dns::query::{Answer, AnswerStatus};
    use crate::dns::watch::{DnsSnapshot, Role, ServerView, questions};
    use proptest::prelude::*;

    const STEPS: [&str; 9] = [
        "lower-ttl",
        "spf-add-new",
        "ttl-wait",
        "add-new-mx",
        "remove-old-mx",
        "dkim-spf-final",
        "monitor-24h",
        "restore-ttl",
        "final-copy",
    ];

    fn record() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("10 mx1.old.example.".to_string()),
            Just("1 smtp.new.example.".to_string()),
            Just("0 .".to_string()),
            Just("v=spf1 include:_spf.old.example ~all".to_string()),
            Just("v=spf1 include:_spf.new.example +all".to_string()),
            Just("v=DKIM1; k=rsa; p=".to_string()),
            Just("v=DMARC1; p=reject".to_string()),
            Just("v=STSv1; id=1".to_string()),
            "[\\x00-\\x1f\\x7f a-z0-9=:;.+~?\"\\\\-]{0,40}",
            "\\PC{0,60}",
        ]
    }

    fn status() -> impl Strategy<Value = AnswerStatus> {
        prop_oneof![
            Just(AnswerStatus::Ok),
            Just(AnswerStatus::Ok),
            Just(AnswerStatus::Nxdomain),
            Just(AnswerStatus::Nodata),
            Just(AnswerStatus::Servfail),
            Just(AnswerStatus::Refused),
            Just(AnswerStatus::Timeout),
            Just(AnswerStatus::Unreachable),
        ]
    }

    fn snapshot(
        round: u64,
        cells: Vec<(AnswerStatus, u32, Vec<String>)>,
        policy: Option<String>,
    ) -> DnsSnapshot {
        let plan = tests_support::plan(None);
        let qs = questions(&plan);
        let at = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(round as i64);
        let mut cells = cells.into_iter();
        let servers = [
            ("127.0.0.1:5300", Role::Authoritative),
            ("127.0.0.1:5301", Role::Resolver),
        ]
        .iter()
        .map(|(addr, role)| ServerView {
            address: addr.parse().unwrap(),
            role: *role,
            answers: qs
                .iter()
                .map(|(name, rtype)| {
                    let (status, ttl, records) =
                        cells.next().unwrap_or((AnswerStatus::Timeout, 0, vec![]));
                    Answer {
                        name: name.clone(),
                        rtype: *rtype,
                        status,
                        ttl,
                        records: if status == AnswerStatus::Ok {
                            records
                        } else {
                            vec![]
                        },
                        measured_at: at,
                        latency_ms: 1,
                        tcp: false,
                        detail: None,
                    }
                })
                .collect(),
        })
        .collect();
        DnsSnapshot {
            round,
            measured_at: at,
            servers,
            discovery_error: None,
            spf_targets: Default::default(),
            judged: Default::default(),
            mta_sts: policy.map(|p| crate::dns::watch::MtaStsView {
                txt: "v=STSv1; id=1".into(),
                policy: Some(p),
                error: None,
            }),
        }
    }

    fn cell() -> impl Strategy<Value = (AnswerStatus, u32, Vec<String>)> {
        (
            status(),
            prop_oneof![Just(300u32), Just(3600u32), any::<u32>()],
            proptest::collection::vec(record(), 0..4),
        )
    }

    fn no_control(text: &str) -> bool {
        !text.chars().any(|c| c.is_control() && c != '\n')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever servers answer, over several rounds: facts, checks, the
        /// matrix and the lines to paste never panic and never carry a raw
        /// control character to the screen.
        #[test]
        fn any_answers_give_safe_checks_and_text(
            rounds in proptest::collection::vec(
                (proptest::collection::vec(cell(), 22), proptest::option::of("\\PC{0,80}|version: STSv1\nmode: enforce\nmx: [a-z.*]{0,12}")),
                1..4,
            ),
            applied in proptest::option::of(0i64..100_000),
        ) {
            let plan = tests_support::plan(None);
            let mut facts = DnsFacts::default();
            let mut journal = Vec::new();
            for (i, (cells, policy)) in rounds.into_iter().enumerate() {
                let snap = snapshot(i as u64 + 1, cells, policy);
                let (next, entries) = dns_facts(&plan, &facts, &snap);
                for e in &entries {
                    if let crate::journal::Entry::Fact { evidence, .. } = e {
                        prop_assert!(no_control(evidence), "{evidence:?}");
                    }
                }
                journal.extend(entries);
                facts = next;
                let now = snap.measured_at + SignedDuration::from_mins(30);
                let applied_at = applied.map(|s| Timestamp::UNIX_EPOCH + SignedDuration::from_secs(s));
                for step in STEPS {
                    for c in step_checks(step, &plan, Some(&snap), &facts, applied_at, now) {
                        prop_assert!(no_control(&c.evidence), "{c:?}");
                        prop_assert!(!c.evidence.is_empty());
                    }
                    // Without a round nothing is measured, except R4's wait, which the journal times.
                    for c in step_checks(step, &plan, None, &facts, applied_at, now) {
                        let journal_timed = c.id == "old-ttl-expired" && facts.lowered_at.is_some();
                        prop_assert!(c.status == Status::Unknown || journal_timed, "{c:?}");
                    }
                    for line in records_to_paste(step, &plan, Some(&snap)) {
                        prop_assert!(no_control(&line), "{line:?}");
                    }
                }
                let matrix = render_matrix(&snap, &plan, 80);
                prop_assert!(no_control(&matrix), "{matrix:?}");
                let json = serde_json::to_string(&snap).unwrap();
                let back: DnsSnapshot = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, snap);
            }
            prop_assert_eq!(DnsFacts::from_entries(&journal), facts);
        }
    }
}

/// The evidence of each DNS check id (TTL and MX families, and R4's wait), for a passing
/// and a failing observation: built from what was served (servers, records, TTLs, times).
#[cfg(test)]
mod evidence_tests {
    use super::*;
    use crate::dns::query::{Answer, AnswerStatus};
    use crate::dns::watch::{Role, ServerView};
    use crate::journal::Entry;
    use crate::journal::dns_facts::keys;

    const AUTH: &str = "127.0.0.1:5300";
    const RESOLVER: &str = "127.0.0.1:5301";

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn at() -> Timestamp {
        t("2026-12-08T10:00:00Z")
    }

    fn answer(rtype: Rtype, ttl: u32, records: &[&str]) -> Answer {
        Answer {
            name: "example.com.".into(),
            rtype,
            status: if records.is_empty() {
                AnswerStatus::Nodata
            } else {
                AnswerStatus::Ok
            },
            ttl,
            records: records.iter().map(|r| r.to_string()).collect(),
            measured_at: at(),
            latency_ms: 1,
            tcp: false,
            detail: None,
        }
    }

    fn a(ttl: u32) -> Answer {
        answer(Rtype::A, ttl, &["192.0.2.10"])
    }

    const OLD: &str = "10 mx1.old.example.";
    const NEW: &str = "10 smtp.new.example.";
    const SPF: &str = "v=spf1 include:_spf.old.example ~all";

    fn round(auth: Vec<Answer>, resolver: Vec<Answer>) -> DnsSnapshot {
        let view = |addr: &str, role, answers| ServerView {
            address: addr.parse().unwrap(),
            role,
            answers,
        };
        DnsSnapshot {
            round: 1,
            measured_at: at(),
            servers: vec![
                view(AUTH, Role::Authoritative, auth),
                view(RESOLVER, Role::Resolver, resolver),
            ],
            discovery_error: None,
            spf_targets: Default::default(),
            mta_sts: None,
            judged: Default::default(),
        }
    }

    /// Served MX/TXT with `ttl` at the authoritative server; the resolver caches the MX for `cached`.
    fn zone(mx: &[&str], ttl: u32, cached: u32) -> DnsSnapshot {
        round(
            vec![
                answer(Rtype::MX, ttl, mx),
                answer(Rtype::TXT, ttl, &[SPF]),
                a(3600),
            ],
            vec![answer(Rtype::MX, cached, mx)],
        )
    }

    fn fact(key: &str, at: &str, value: serde_json::Value) -> Entry {
        Entry::Fact {
            at: t(at),
            key: key.into(),
            value,
            evidence: String::new(),
        }
    }

    fn lowered_facts() -> DnsFacts {
        DnsFacts::from_entries(&[
            fact(
                keys::TTL_BASELINE,
                "2026-12-07T07:00:00Z",
                serde_json::json!({"ttls": {"MX example.com.": 86400, "TXT example.com.": 86400, "A example.com.": 3600}}),
            ),
            fact(
                keys::TTL_LOWERED,
                "2026-12-07T09:48:00Z",
                serde_json::json!({}),
            ),
        ])
    }

    fn check(id: &str, snap: &DnsSnapshot, facts: &DnsFacts, applied: Option<Timestamp>) -> Check {
        let plan = tests_support::plan(Some(86_400));
        let step = [
            "lower-ttl",
            "ttl-wait",
            "add-new-mx",
            "remove-old-mx",
            "restore-ttl",
        ]
        .into_iter()
        .find(|s| check_ids(s).iter().any(|(c, _)| *c == id))
        .expect("a step has the check");
        step_checks(step, &plan, Some(snap), facts, applied, at())
            .into_iter()
            .find(|c| c.id == id)
            .expect("the check")
    }

    fn assert_says(c: &Check, status: Status, words: &[&str]) {
        assert_eq!(c.status, status, "{c:?}");
        for w in words {
            assert!(c.evidence.contains(w), "{w:?} not in {:?}", c.evidence);
        }
    }

    #[test]
    fn ttl_lowered_names_the_served_ttl() {
        let facts = DnsFacts::default();
        for (id, rtype) in [("mx-ttl-lowered", "MX"), ("txt-ttl-lowered", "TXT")] {
            let c = check(id, &zone(&[OLD], 300, 300), &facts, None);
            assert_says(&c, Status::Pass, &[rtype, "example.com", "5 min"]);
            let c = check(id, &zone(&[OLD], 86_400, 300), &facts, None);
            assert_says(&c, Status::Fail, &[AUTH, rtype, "24 h", "5 min"]);
        }
    }

    #[test]
    fn other_ttls_untouched_compares_with_the_baseline() {
        let facts = lowered_facts();
        let c = check(
            "other-ttls-untouched",
            &zone(&[OLD], 300, 300),
            &facts,
            None,
        );
        assert_says(&c, Status::Pass, &["A/AAAA", "as first observed"]);
        let mut snap = zone(&[OLD], 300, 300);
        snap.servers[0].answers[2] = a(300);
        let c = check("other-ttls-untouched", &snap, &facts, None);
        assert_says(&c, Status::Warn, &[AUTH, "TTL 5 min", "first seen 1 h"]);
    }

    #[test]
    fn ttl_honoured_is_unknown_until_applied_then_judged_from_the_servers() {
        let facts = lowered_facts();
        let c = check("ttl-honoured", &zone(&[OLD], 300, 300), &facts, None);
        assert_says(&c, Status::Unknown, &["Not marked as applied yet"]);
        let applied = Some(t("2026-12-08T09:00:00Z"));
        let c = check("ttl-honoured", &zone(&[OLD], 300, 300), &facts, applied);
        assert_says(&c, Status::Pass, &["at most 5 min", "2026-12-08 09:00 UTC"]);
        let c = check("ttl-honoured", &zone(&[OLD], 86_400, 300), &facts, applied);
        assert_says(&c, Status::Fail, &[AUTH, "TTL 24 h", "60 min after", "R3"]);
    }

    #[test]
    fn old_ttl_expired_gives_the_time_from_the_lowering() {
        let facts = lowered_facts();
        let c = check("old-ttl-expired", &zone(&[OLD], 300, 300), &facts, None);
        assert_says(
            &c,
            Status::Pass,
            &["2026-12-07 09:48 UTC", "24 h", "has passed"],
        );
        let early = DnsFacts::from_entries(&[fact(
            keys::TTL_LOWERED,
            "2026-12-07T10:48:00Z",
            serde_json::json!({}),
        )]);
        let c = check("old-ttl-expired", &zone(&[OLD], 300, 300), &early, None);
        assert_says(
            &c,
            Status::Fail,
            &[
                "2026-12-07 10:48 UTC",
                "24 h",
                "wait until 2026-12-08 10:48 UTC",
            ],
        );
        assert_eq!(c.until, Some(t("2026-12-08T10:48:00Z")));
        let c = check(
            "old-ttl-expired",
            &zone(&[OLD], 300, 300),
            &DnsFacts::default(),
            None,
        );
        assert_says(&c, Status::Fail, &["not yet served"]);
        assert_eq!(c.until, None);
    }

    #[test]
    fn resolvers_ttl_low_says_until_when_each_cache_holds() {
        let facts = lowered_facts();
        let c = check("resolvers-ttl-low", &zone(&[OLD], 300, 300), &facts, None);
        assert_says(&c, Status::Pass, &["at most 5 min"]);
        let c = check("resolvers-ttl-low", &zone(&[OLD], 300, 3_600), &facts, None);
        assert_says(
            &c,
            Status::Fail,
            &[RESOLVER, "1 h to go", "until 2026-12-08 11:00 UTC"],
        );
        assert_eq!(c.until, Some(t("2026-12-08T11:00:00Z")));
    }

    #[test]
    fn ttl_restored_names_the_served_and_the_planned_ttl() {
        let facts = lowered_facts();
        let c = check("mx-ttl-restored", &zone(&[NEW], 86_400, 300), &facts, None);
        assert_says(&c, Status::Pass, &["MX", "24 h"]);
        let c = check("mx-ttl-restored", &zone(&[NEW], 300, 300), &facts, None);
        assert_says(&c, Status::Fail, &[AUTH, "TTL 5 min", "restores 24 h"]);
        let c = check("txt-ttl-restored", &zone(&[NEW], 21_600, 300), &facts, None);
        assert_says(&c, Status::Pass, &["TXT", "6 h"]);
        let c = check("txt-ttl-restored", &zone(&[NEW], 300, 300), &facts, None);
        assert_says(&c, Status::Fail, &[AUTH, "TXT", "TTL 5 min"]);
    }

    #[test]
    fn mx_served_checks_say_which_hosts_were_served() {
        let facts = lowered_facts();
        let both = zone(&[OLD, NEW], 300, 300);
        let c = check("mx-old-and-new-served", &both, &facts, None);
        assert_says(
            &c,
            Status::Pass,
            &[
                "the old and the new MX hosts",
                "mx1.old.example.",
                "smtp.new.example.",
            ],
        );
        // The MX jump: only the new host served. Never "the old and the new".
        let jumped = zone(&[NEW], 300, 300);
        let c = check("mx-old-and-new-served", &jumped, &facts, None);
        assert_says(
            &c,
            Status::Pass,
            &["only the new MX hosts", "already gone", "R8"],
        );
        assert!(
            !c.evidence.contains("the old and the new MX hosts"),
            "{c:?}"
        );
        let c = check(
            "mx-old-and-new-served",
            &zone(&[OLD], 300, 300),
            &facts,
            None,
        );
        assert_says(&c, Status::Fail, &[AUTH, "only the old MX hosts"]);

        let c = check("new-mx-served", &both, &facts, None);
        assert_says(&c, Status::Pass, &["the old and the new MX hosts"]);
        let c = check("new-mx-served", &zone(&[], 300, 300), &facts, None);
        assert_says(&c, Status::Fail, &["ALARM", AUTH, "no MX record"]);

        let c = check("mx-only-new-served", &jumped, &facts, None);
        assert_says(
            &c,
            Status::Pass,
            &["only the new MX hosts", "smtp.new.example."],
        );
        let c = check("mx-only-new-served", &both, &facts, None);
        assert_says(&c, Status::Fail, &[AUTH, "old MX hosts beside the new"]);
    }

    #[test]
    fn mx_no_alarm_names_the_server_and_the_time() {
        let c = check(
            "mx-no-alarm",
            &zone(&[OLD], 300, 300),
            &DnsFacts::default(),
            None,
        );
        assert_says(&c, Status::Pass, &["No empty or foreign MX set"]);
        let raised = DnsFacts::from_entries(&[fact(
            keys::MX_ALARM,
            "2026-12-08T08:10:00Z",
            serde_json::json!({"state": "empty", "server": AUTH}),
        )]);
        let c = check("mx-no-alarm", &zone(&[], 300, 300), &raised, None);
        assert_says(
            &c,
            Status::Fail,
            &["ALARM", "2026-12-08 08:10 UTC", AUTH, "empty"],
        );
    }

    #[test]
    fn resolvers_new_mx_names_the_resolver_and_its_cache() {
        let facts = lowered_facts();
        let c = check("resolvers-new-mx", &zone(&[NEW], 300, 300), &facts, None);
        assert_says(&c, Status::Pass, &["new MX hosts"]);
        let mut snap = zone(&[NEW], 300, 300);
        snap.servers[1].answers = vec![answer(Rtype::MX, 240, &[OLD])];
        let c = check("resolvers-new-mx", &snap, &facts, None);
        assert_says(&c, Status::Fail, &[RESOLVER, "old MX set", "4 min"]);
    }

    #[test]
    fn mx_order_says_when_the_jump_was_seen() {
        let seen = DnsFacts::from_entries(&[fact(
            keys::MX_SET,
            "2026-12-08T08:00:00Z",
            serde_json::json!({"from": "old", "to": "old+new"}),
        )]);
        let c = check("mx-order", &zone(&[NEW], 300, 300), &seen, None);
        assert_says(
            &c,
            Status::Pass,
            &["Old and new MX hosts were served together"],
        );
        let jumped = DnsFacts::from_entries(&[fact(
            keys::MX_ORDER_UNPROVEN,
            "2026-12-08T08:05:00Z",
            serde_json::json!({"from": "old", "to": "new"}),
        )]);
        let c = check("mx-order", &zone(&[NEW], 300, 300), &jumped, None);
        assert_says(&c, Status::Warn, &["2026-12-08 08:05 UTC", "unproven"]);
    }
}
