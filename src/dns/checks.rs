//! The DNS checks of the runbook's steps (pure: plan, snapshot, facts, time in;
//! verdicts with one plain sentence out), and the exact zone-file lines to paste.

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
                "mx-old-and-new-served" => at.auth_mx(
                    &[MxState::OldAndNew, MxState::New],
                    "serves the old and the new MX hosts",
                ),
                "mx-no-alarm" => at.no_alarm(),
                "new-mx-served" => at.auth_mx(
                    &[MxState::OldAndNew, MxState::New],
                    "serves the new MX hosts, so the old ones can go",
                ),
                "mx-only-new-served" => at.auth_mx(&[MxState::New], "serves only the new MX hosts"),
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

    fn ttl_lowered(&self, rtype: Rtype) -> Verdict {
        let limit = self.plan.dns.migration_ttl;
        let (mut status, mut evidence, until) = every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &self.apex, rtype) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl <= limit => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "{} still serves {rtype} with TTL {} (the migration TTL is {})",
                    s.address,
                    human_seconds(a.ttl),
                    human_seconds(limit)
                )),
                Some(a)
                    if rtype == Rtype::TXT
                        && matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) =>
                {
                    Judged::Good
                }
                Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
                    Judged::Bad(format!(
                        "{} serves no {rtype} record for {}",
                        s.address, self.plan.domain
                    ))
                }
                other => unmeasured(s.address, other),
            },
            format!(
                "Every authoritative server serves {rtype} at {} with a TTL of at most {}.",
                self.plan.domain,
                human_seconds(limit)
            ),
        );
        if status == Status::Pass && limit < 60 {
            status = Status::Warn;
            evidence = format!(
                "{evidence} A TTL under 60 s causes problems of its own (R2): 5 min is the usual value."
            );
        }
        (status, evidence, until)
    }

    fn other_ttls_untouched(&self) -> Verdict {
        let Some(baseline) = &self.facts.baseline else {
            return (
                Status::Warn,
                "No baseline TTLs were recorded before the change, so a lowered A/AAAA TTL cannot be noticed.".into(),
                None,
            );
        };
        let names = [self.apex.clone(), format!("www.{}", self.apex)];
        let mut lowered = Vec::new();
        let mut measured = false;
        for server in &self.auth {
            for name in &names {
                for rtype in [Rtype::A, Rtype::AAAA] {
                    let Some(a) = self.answer(server, name, rtype) else {
                        continue;
                    };
                    if a.status != AnswerStatus::Ok {
                        continue;
                    }
                    measured = true;
                    let key = format!("{} {}", rtype.as_str(), name.to_ascii_lowercase());
                    if let Some(&before) = baseline.get(&key)
                        && a.ttl < before
                    {
                        lowered.push(format!(
                            "{} serves {rtype} for {name} with TTL {} (first seen {})",
                            server.address,
                            human_seconds(a.ttl),
                            human_seconds(before)
                        ));
                    }
                }
            }
        }
        if !lowered.is_empty() {
            (
                Status::Warn,
                format!(
                    "{} R1 says to lower only MX and TXT: a low TTL on the website's records slows it down.",
                    sentence(&lowered)
                ),
                None,
            )
        } else if !measured {
            (
                Status::Unknown,
                "No A or AAAA answer came from the authoritative servers for the apex or www."
                    .into(),
                None,
            )
        } else {
            (
                Status::Pass,
                "The A/AAAA TTLs at the apex and www are as first observed.".into(),
                None,
            )
        }
    }

    fn ttl_honoured(&self, applied_at: Option<Timestamp>, now: Timestamp) -> Verdict {
        let Some(applied) = applied_at else {
            return (
                Status::Pass,
                "The TTL change is not marked as made at the DNS host yet.".into(),
                None,
            );
        };
        let limit = self.plan.dns.migration_ttl;
        let mut still_high = Vec::new();
        let mut measured = !self.auth.is_empty();
        for server in &self.auth {
            for rtype in [Rtype::MX, Rtype::TXT] {
                match self.answer(server, &self.apex, rtype) {
                    Some(a) if a.status == AnswerStatus::Ok && a.ttl > limit => {
                        still_high.push(format!(
                            "{} still serves {rtype} with TTL {}",
                            server.address,
                            human_seconds(a.ttl)
                        ))
                    }
                    Some(a) if a.status.is_definite() => {}
                    _ => measured = false,
                }
            }
        }
        let since = now.duration_since(applied);
        let grace_end = applied.checked_add(TTL_GRACE).unwrap_or(applied);
        if still_high.is_empty() && measured {
            (
                Status::Pass,
                "The DNS host serves the TTL you set.".into(),
                None,
            )
        } else if !still_high.is_empty() && since >= TTL_GRACE {
            (
                Status::Fail,
                format!(
                    "Your DNS host seems to ignore the TTL you set: {} {} min after the change was marked made; move the zone to a DNS host that allows per-record TTLs (R3).",
                    still_high.join(", "),
                    since.as_mins()
                ),
                None,
            )
        } else if !still_high.is_empty() {
            (
                Status::Unknown,
                format!(
                    "The change was marked made {} min ago and {}; the DNS host gets until {} to serve it.",
                    since.as_mins(),
                    still_high.join(", "),
                    grace_end.strftime("%H:%M UTC")
                ),
                Some(grace_end),
            )
        } else {
            (
                Status::Unknown,
                "Not every authoritative server answered for MX and TXT.".into(),
                None,
            )
        }
    }

    fn spf_txts<'s>(&self, server: &'s ServerView) -> Result<&'s [String], Judged> {
        match self.answer(server, &self.apex, Rtype::TXT) {
            Some(a) if a.status == AnswerStatus::Ok => Ok(&a.records),
            Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => Ok(&[]),
            other => Err(unmeasured(server.address, other)),
        }
    }

    fn spf_single_record(&self) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| match self.spf_txts(s) {
                Err(j) => j,
                Ok(txts) => match txts.iter().filter(|t| spf::is_spf(t)).count() {
                    1 => Judged::Good,
                    0 => Judged::Bad(format!(
                        "{} serves no SPF record for {}",
                        s.address, self.plan.domain
                    )),
                    n => Judged::Bad(format!(
                        "{} serves {n} SPF records for {}: receivers treat that as an error (permerror), keep exactly one",
                        s.address, self.plan.domain
                    )),
                },
            },
            format!(
                "Every authoritative server serves exactly one SPF record for {}.",
                self.plan.domain
            ),
        )
    }

    /// `with_old`: R5 (old and new present); otherwise R9 (old gone, new present).
    fn spf_terms(&self, with_old: bool) -> Verdict {
        let plan = self.plan;
        every(
            &self.auth,
            "authoritative",
            |s| match self.spf_txts(s) {
                Err(j) => j,
                Ok(txts) => {
                    let a = spf::analyse(
                        &plan.domain,
                        txts,
                        &plan.old.spf,
                        &plan.new.spf,
                        &|_: &str, _: Rtype| spf::Fetched::Unknown,
                    );
                    let current = a.record.as_deref();
                    if a.record_count == 0 {
                        let publish = if with_old {
                            spf::merged_spf(None, &plan.old.spf, &plan.new.spf)
                        } else {
                            spf::final_spf(None, &plan.old.spf, &plan.new.spf)
                        };
                        return Judged::Bad(format!(
                            "{} serves no SPF record; publish \"{publish}\"",
                            s.address
                        ));
                    }
                    let old_present =
                        a.missing_old.len() < plan.old.spf.len() || plan.old.spf.is_empty();
                    if !a.missing_new.is_empty() {
                        let publish = if with_old {
                            spf::merged_spf(current, &plan.old.spf, &plan.new.spf)
                        } else {
                            spf::final_spf(current, &plan.old.spf, &plan.new.spf)
                        };
                        Judged::Bad(format!(
                            "{}'s SPF record lacks the new server's {}; publish \"{}\"",
                            s.address,
                            a.missing_new.join(" "),
                            sanitize(&publish)
                        ))
                    } else if with_old && !a.missing_old.is_empty() {
                        Judged::Bad(format!(
                            "{}'s SPF record lacks the old server's {} while it still sends mail; publish \"{}\"",
                            s.address,
                            a.missing_old.join(" "),
                            sanitize(&spf::merged_spf(current, &plan.old.spf, &plan.new.spf))
                        ))
                    } else if !with_old && old_present && !plan.old.spf.is_empty() {
                        Judged::Bad(format!(
                            "{}'s SPF record still names the old server; publish \"{}\"",
                            s.address,
                            sanitize(&spf::final_spf(current, &plan.old.spf, &plan.new.spf))
                        ))
                    } else {
                        Judged::Good
                    }
                }
            },
            if with_old {
                "Every authoritative server's SPF record names both the old and the new server."
                    .to_string()
            } else {
                "Every authoritative server's SPF record names the new server and no longer the old one.".to_string()
            },
        )
    }

    fn spf_valid(&self) -> Verdict {
        // The first authoritative server with an SPF record speaks for the zone;
        // disagreement between servers is spf-single-record's and spf-*'s business.
        let found = self.auth.iter().find_map(|s| {
            self.spf_txts(s)
                .ok()
                .filter(|t| t.iter().any(|r| spf::is_spf(r)))
                .map(|t| (s.address, t))
        });
        let Some((server, txts)) = found else {
            return (
                Status::Unknown,
                "No authoritative server served an SPF record to count.".into(),
                None,
            );
        };
        let fetched = |name: &str, rtype: Rtype| self.snapshot.spf_fetched(name, rtype);
        let a = spf::analyse(
            &self.plan.domain,
            txts,
            &self.plan.old.spf,
            &self.plan.new.spf,
            &fetched,
        );
        if a.record_count != 1 {
            return (
                Status::Fail,
                format!(
                    "{server} serves {} SPF records; exactly one is valid.",
                    a.record_count
                ),
                None,
            );
        }
        let Some(verdict) = &a.verdict else {
            return (Status::Unknown, "No SPF record to judge.".into(), None);
        };
        match verdict.result {
            spf::SpfResult::Permerror => {
                return (
                    Status::Fail,
                    format!(
                        "Receivers reject the SPF record at {server} as a permerror ({} DNS lookups, limit {}; {} void, limit {}): {}.",
                        verdict.lookups,
                        spf::LOOKUP_LIMIT,
                        verdict.void_lookups,
                        spf::VOID_LIMIT,
                        spf::SpfVerdict::describe(&verdict.errors)
                    ),
                    None,
                );
            }
            spf::SpfResult::Temperror => {
                return (
                    Status::Unknown,
                    format!(
                        "The SPF record needs at least {} DNS lookups (limit {}); not everything could be looked up: {}.",
                        verdict.lookups,
                        spf::LOOKUP_LIMIT,
                        spf::SpfVerdict::describe(&verdict.unresolved)
                    ),
                    None,
                );
            }
            spf::SpfResult::Pass | spf::SpfResult::Warn => {}
        }
        if let Some(all) = &a.permissive_all {
            return (
                Status::Warn,
                format!(
                    "The SPF record ends in {all}: it lets anyone send as {}.",
                    self.plan.domain
                ),
                None,
            );
        }
        if verdict.result == spf::SpfResult::Warn {
            return (
                Status::Warn,
                format!(
                    "The SPF record parses and needs {} DNS lookups (limit {}), but: {}.",
                    verdict.lookups,
                    spf::LOOKUP_LIMIT,
                    spf::SpfVerdict::describe(&verdict.warnings)
                ),
                None,
            );
        }
        (
            Status::Pass,
            format!(
                "The SPF record parses and needs {} DNS lookups (limit {}).",
                verdict.lookups,
                spf::LOOKUP_LIMIT
            ),
            None,
        )
    }

    fn old_ttl_expired(&self, now: Timestamp) -> Verdict {
        old_ttl_expired(self.plan, self.facts, now)
    }

    fn resolvers_ttl_low(&self) -> Verdict {
        let limit = self.plan.dns.migration_ttl;
        every(
            &self.resolvers,
            "resolver",
            |s| match self.answer(s, &self.apex, Rtype::MX) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl <= limit => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "resolver {} still holds the MX with {} to go",
                    s.address,
                    human_seconds(a.ttl)
                )),
                other => unmeasured(s.address, other),
            },
            format!(
                "Every watched resolver holds the MX for at most {}.",
                human_seconds(limit)
            ),
        )
    }

    fn mta_sts_covers_new(&self) -> Verdict {
        let Some(view) = &self.snapshot.mta_sts else {
            return (
                Status::Pass,
                format!("{} publishes no MTA-STS policy.", self.plan.domain),
                None,
            );
        };
        let Some(text) = &view.policy else {
            return (
                Status::Warn,
                format!(
                    "_mta-sts.{} announces an MTA-STS policy, but it could not be fetched: {}.",
                    self.plan.domain,
                    sanitize(view.error.as_deref().unwrap_or("unknown error"))
                ),
                None,
            );
        };
        let policy = match mta_sts::parse_policy(text) {
            Ok(p) => p,
            Err(e) => {
                return (
                    Status::Warn,
                    format!("The MTA-STS policy does not parse: {e}."),
                    None,
                );
            }
        };
        let hosts: Vec<String> = self.plan.new.mx.iter().map(|m| m.host.clone()).collect();
        let missing = mta_sts::uncovered(&policy, &hosts);
        if missing.is_empty() {
            return (
                Status::Pass,
                format!(
                    "The MTA-STS policy ({}) covers the new MX hosts.",
                    policy.mode.as_str()
                ),
                None,
            );
        }
        let names: Vec<String> = missing.iter().map(|h| mx::normalise_host(h)).collect();
        let lines = mta_sts::policy_to_publish(&policy, &missing);
        let status = if policy.mode == mta_sts::Mode::Enforce {
            Status::Fail
        } else {
            Status::Warn
        };
        (
            status,
            format!(
                "The MTA-STS policy in {} mode does not list {}: senders that honour it would refuse the new server; first publish at https://mta-sts.{}/.well-known/mta-sts.txt \"{}\" and change the id in _mta-sts.{}.",
                policy.mode.as_str(),
                names.join(", "),
                self.plan.domain,
                sanitize(&lines.join("\\n")),
                self.plan.domain
            ),
            None,
        )
    }

    fn auth_mx(&self, wanted: &[MxState], pass: &str) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| {
                let state = server_mx_state(self.plan, s);
                if wanted.contains(&state) {
                    return Judged::Good;
                }
                let answer = self.answer(s, &self.apex, Rtype::MX);
                match state {
                    MxState::Unknown => unmeasured(s.address, answer),
                    MxState::Empty => Judged::Bad(format!(
                        "ALARM: {} serves no MX record at all: senders fall back to the apex A record or defer",
                        s.address
                    )),
                    MxState::Foreign => Judged::Bad(format!(
                        "ALARM: {} serves MX hosts that are neither old nor new ({})",
                        s.address,
                        sanitize(&answer.map(|a| a.records.join(", ")).unwrap_or_default())
                    )),
                    MxState::Old => {
                        Judged::Bad(format!("{} still serves only the old MX hosts", s.address))
                    }
                    MxState::OldAndNew => Judged::Bad(format!(
                        "{} still serves the old MX hosts beside the new ones",
                        s.address
                    )),
                    MxState::New | MxState::Mixed => {
                        Judged::Bad(format!("{} serves {}", s.address, state.as_str()))
                    }
                }
            },
            format!("Every authoritative server {pass}."),
        )
    }

    fn no_alarm(&self) -> Verdict {
        if self.facts.alarm_active {
            let last = self.facts.alarms.last();
            return (
                Status::Fail,
                format!(
                    "ALARM: since {} {} serves {} MX set; mail is deferred or lost until old or new hosts are served again.",
                    last.map(|a| a.at.strftime("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default(),
                    last.map(|a| a.server.as_str())
                        .unwrap_or("an authoritative server"),
                    last.map(|a| if a.state == MxState::Empty {
                        "an empty"
                    } else {
                        "a foreign"
                    })
                    .unwrap_or("a broken")
                ),
                None,
            );
        }
        if let Some(last) = self.facts.alarms.last() {
            return (
                Status::Warn,
                format!(
                    "No MX alarm now, but at {} {} served {} MX set; mail sent then may have been deferred.",
                    last.at.strftime("%Y-%m-%d %H:%M UTC"),
                    last.server,
                    if last.state == MxState::Empty {
                        "an empty"
                    } else {
                        "a foreign"
                    }
                ),
                None,
            );
        }
        (
            Status::Pass,
            "No empty or foreign MX set has been seen at the authoritative servers.".into(),
            None,
        )
    }

    fn resolvers_new_mx(&self, now: Timestamp) -> Verdict {
        let mut longest = 0u32;
        for r in &self.resolvers {
            if let Some(a) = self.answer(r, &self.apex, Rtype::MX)
                && a.status == AnswerStatus::Ok
                && server_mx_state(self.plan, r) != MxState::New
            {
                longest = longest.max(a.ttl);
            }
        }
        let (status, evidence, _) = every(
            &self.resolvers,
            "resolver",
            |s| {
                let state = server_mx_state(self.plan, s);
                let answer = self.answer(s, &self.apex, Rtype::MX);
                match (state, answer) {
                    (MxState::New, _) => Judged::Good,
                    (MxState::Unknown, a) => unmeasured(s.address, a),
                    (state, Some(a)) => Judged::Bad(format!(
                        "resolver {} still answers the {} MX set for another {}",
                        s.address,
                        state.as_str(),
                        human_seconds(a.ttl)
                    )),
                    (_, None) => unmeasured(s.address, None),
                }
            },
            "Every watched resolver answers the new MX hosts.".to_string(),
        );
        let until = (status == Status::Fail)
            .then(|| {
                now.checked_add(SignedDuration::from_secs(i64::from(longest)))
                    .ok()
            })
            .flatten();
        (status, evidence, until)
    }

    fn mx_order(&self) -> Verdict {
        if let Some(at) = self.facts.order_unproven_at {
            return (
                Status::Warn,
                format!(
                    "At {} the MX set went from old to new between two polls without old+new being seen: the order is unproven (R8 wants the new MX added before the old is deleted).",
                    at.strftime("%Y-%m-%d %H:%M UTC")
                ),
                None,
            );
        }
        if self.facts.seen_old_and_new {
            return (
                Status::Pass,
                "Old and new MX hosts were served together before the old ones went: the order was right.".into(),
                None,
            );
        }
        (
            Status::Unknown,
            "The old+new MX set has not been seen yet.".into(),
            None,
        )
    }

    fn dkim_valid(&self) -> Verdict {
        let Some(selector) = &self.plan.new.dkim_selector else {
            return (
                Status::Fail,
                "The plan names no new.dkim_selector, so the new server's DKIM record cannot be checked.".into(),
                None,
            );
        };
        let name = format!("{selector}._domainkey.{}", self.apex);
        every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &name, Rtype::TXT) {
                Some(a) if a.status == AnswerStatus::Ok => {
                    let parsed: Vec<Result<dkim::DkimKey, dkim::DkimError>> =
                        a.records.iter().map(|r| dkim::parse_dkim(r)).collect();
                    if parsed.iter().any(|p| matches!(p, Ok(k) if !k.is_revoked())) {
                        Judged::Good
                    } else if parsed.iter().any(|p| matches!(p, Ok(k) if k.is_revoked())) {
                        Judged::Bad(format!(
                            "{} serves a revoked DKIM key (empty p=) at {name}",
                            s.address
                        ))
                    } else {
                        let why = parsed
                            .iter()
                            .find_map(|p| p.as_ref().err().map(|e| e.to_string()))
                            .unwrap_or_default();
                        Judged::Bad(format!(
                            "the DKIM record at {name} on {} does not parse: {why}",
                            s.address
                        ))
                    }
                }
                Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
                    Judged::Bad(format!(
                        "{} serves no DKIM record at {name}: mail signed by the new server will fail DKIM",
                        s.address
                    ))
                }
                other => unmeasured(s.address, other),
            },
            format!("Every authoritative server serves a valid DKIM key at {name}."),
        )
    }

    fn dmarc_not_tightened(&self) -> Verdict {
        let rank = |p: &str| match p {
            "reject" => 2,
            "quarantine" => 1,
            _ => 0,
        };
        let now = crate::dns::facts::dmarc_policy(self.plan, self.snapshot);
        match (&self.facts.dmarc_first, now) {
            (_, None) => (
                Status::Pass,
                format!("{} publishes no DMARC policy.", self.plan.domain),
                None,
            ),
            (Some(first), Some(now)) if rank(&now) > rank(first) => (
                Status::Warn,
                format!(
                    "The DMARC policy was tightened from p={first} to p={now} during the migration: mail the new server does not sign yet may be {}.",
                    if now == "reject" {
                        "rejected"
                    } else {
                        "quarantined"
                    }
                ),
                None,
            ),
            (_, Some(now)) => (
                Status::Pass,
                format!("The DMARC policy is p={now}, not tightened during the migration."),
                None,
            ),
        }
    }

    fn ttl_restored(&self, rtype: Rtype, wanted: u32) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &self.apex, rtype) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl == wanted => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "{} serves {rtype} with TTL {}; the plan restores {}",
                    s.address,
                    human_seconds(a.ttl),
                    human_seconds(wanted)
                )),
                Some(a)
                    if rtype == Rtype::TXT
                        && matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) =>
                {
                    Judged::Good
                }
                other => unmeasured(s.address, other),
            },
            format!(
                "Every authoritative server serves {rtype} with the restored TTL of {}.",
                human_seconds(wanted)
            ),
        )
    }
}

/// The exact zone-file lines to paste at the DNS host for a step (comments
/// start with `;`). Built from what is served where known, else from the plan.
pub fn records_to_paste(step_id: &str, plan: &Plan, snapshot: Option<&DnsSnapshot>) -> Vec<String> {
    let apex = fqdn(&plan.domain);
    let ttl = plan.dns.migration_ttl;
    let served_txt = served(snapshot, &apex, Rtype::TXT);
    let current_spf = served_txt
        .as_ref()
        .and_then(|t| t.iter().find(|r| spf::is_spf(r)).cloned());
    let old_mx: Vec<MxRecord> = plan.old.mx.clone();
    match step_id {
        "lower-ttl" => {
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
        "spf-add-new" => vec![txt_line(
            &apex,
            ttl,
            &spf::merged_spf(current_spf.as_deref(), &plan.old.spf, &plan.new.spf),
        )],
        "add-new-mx" => {
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
        "remove-old-mx" => {
            let mut lines: Vec<String> = old_mx
                .iter()
                .map(|m| format!("; delete: {}", mx_line(&apex, ttl, m)))
                .collect();
            lines.extend(plan.new.mx.iter().map(|m| mx_line(&apex, ttl, m)));
            lines
        }
        "dkim-spf-final" => {
            let mut lines = vec![txt_line(
                &apex,
                ttl,
                &spf::final_spf(current_spf.as_deref(), &plan.old.spf, &plan.new.spf),
            )];
            if let Some(selector) = &plan.new.dkim_selector {
                lines.push(format!(
                    "; {selector}._domainkey.{apex} {ttl} IN TXT \"v=DKIM1; k=rsa; p=<the public key {} gives you>\"",
                    plan.new.name
                ));
            }
            lines
        }
        "restore-ttl" => {
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
        _ => vec![],
    }
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

/// A plan for the unit tests of the dns module.
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
