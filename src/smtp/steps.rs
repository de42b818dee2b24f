//! The SMTP probe in a migration: where a plan's new MX hosts are asked, the probe
//! the journal keeps (a fact at most once an hour unless the answers changed), and
//! the gate `smtp.new-mx-accepts` of `add-new-mx`, judged from the journaled probe.

use crate::step::StepId;
use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::clock::Clock;
use crate::dns::query::{Ask, Rtype};
use crate::journal::{Entry, History};
use crate::plan::Plan;
use crate::smtp::model::same_host;
use crate::smtp::{MxTarget, NEW_MX_ACCEPTS, ProbeOptions, SmtpError, SmtpProbe, new_mx_accepts};

/// The journal fact holding a whole probe (`SmtpProbe` as JSON).
pub const PROBE_FACT: &str = "smtp-probe";
/// How often the new MX is asked again (the cockpit), and how often an unchanged probe
/// is journaled.
pub const PROBE_EVERY: SignedDuration = SignedDuration::from_hours(1);
/// How old a probe may be for `smtp.new-mx-accepts` to pass: an hourly probe lands
/// before the last one goes stale.
pub const FRESH_FOR: SignedDuration = SignedDuration::from_mins(70);
/// The step the probe gates.
pub const GATED_STEP: StepId = StepId::AddNewMx;

/// The check ids each step gets from here (the runbook lists them).
pub fn check_ids(step_id: &StepId) -> &'static [&'static str] {
    match step_id {
        StepId::AddNewMx => &[NEW_MX_ACCEPTS],
        _ => &[],
    }
}

/// The checks of one step, from the probe the journal holds.
pub fn step_checks(step_id: &StepId, plan: &Plan, history: &History, now: Timestamp) -> Vec<Check> {
    check_ids(step_id)
        .iter()
        .map(|_| new_mx_check(plan, history, now))
        .collect()
}

/// Where each `[new] mx` host is asked: at its `[new] smtp` address when the plan gives
/// one (in the same order), else by its name on port 25.
pub fn targets(plan: &Plan) -> Vec<MxTarget> {
    plan.new
        .mx
        .iter()
        .enumerate()
        .map(|(i, mx)| match plan.new.smtp.get(i) {
            Some(at) => MxTarget::at(&mx.host, &at.host, at.port),
            None => MxTarget::new(&mx.host),
        })
        .collect()
}

/// Asks every new MX host about every address of the plan (aliases included). The new
/// side's `ca_file` is trusted beside the system's roots.
pub async fn probe_plan(plan: &Plan, clock: &dyn Clock) -> Result<SmtpProbe, SmtpError> {
    let tls = crate::smtp::tls_config(plan.new.imap.ca_file.as_deref())?;
    let mut targets = targets(plan);
    for target in &mut targets {
        if plan.new.smtp.is_empty() {
            resolve(plan, target, clock).await;
        }
    }
    let options = ProbeOptions::new(tls);
    Ok(crate::smtp::probe_hosts(&targets, &plan.domain, &plan.addresses(), &options, clock).await)
}

/// The MX host's address through the plan's resolvers (as senders find it); left to
/// the system's resolver when none answers.
async fn resolve(plan: &Plan, target: &mut MxTarget, clock: &dyn Clock) {
    for rtype in [Rtype::A, Rtype::AAAA] {
        for server in &plan.dns.resolvers {
            let ask = Ask {
                server: *server,
                recursion_desired: true,
                timeout: plan.dns.timeout,
            };
            let answer = crate::dns::query::ask(ask, &target.host, rtype, clock.now()).await;
            if let Some(ip) = answer
                .records
                .iter()
                .find_map(|r| r.parse::<std::net::IpAddr>().ok())
            {
                target.connect_to = ip.to_string();
                return;
            }
        }
    }
}

/// The newest probe the journal holds, with when it was journaled.
pub fn journaled(history: &History) -> Option<(Timestamp, SmtpProbe)> {
    history
        .facts
        .get(PROBE_FACT)?
        .iter()
        .rev()
        .find_map(|f| Some((f.at, serde_json::from_value(f.value.clone()).ok()?)))
}

/// The fact to journal for a probe just made: when the answers differ from the
/// journaled ones, or those are an hour old; `None` otherwise.
pub fn probe_fact(
    plan: &Plan,
    history: &History,
    probe: &SmtpProbe,
    now: Timestamp,
) -> Option<Entry> {
    if probe.hosts.is_empty() {
        return None;
    }
    if let Some((at, last)) = journaled(history)
        && outcome(&last) == outcome(probe)
        && now.duration_since(at) < PROBE_EVERY
    {
        return None;
    }
    let value = serde_json::to_value(probe).ok()?;
    Some(Entry::Fact {
        at: now,
        key: PROBE_FACT.to_string(),
        value,
        evidence: new_mx_accepts(probe, &plan.addresses()).evidence,
    })
}

/// What a probe found, without its times, the made-up address or the replies' wording.
fn outcome(probe: &SmtpProbe) -> Vec<String> {
    let mut out: Vec<String> = probe
        .hosts
        .iter()
        .map(|h| {
            format!(
                "{} {} {} {} {:?} {:?} {}",
                h.host.trim_end_matches('.').to_lowercase(),
                h.port,
                h.reachable,
                h.starttls,
                h.cert_valid,
                h.accepts_anything,
                h.error.is_some()
            )
        })
        .chain(probe.answers.iter().map(|a| {
            format!(
                "{} {} {:?}",
                a.host.trim_end_matches('.').to_lowercase(),
                a.address.to_lowercase(),
                a.accepts
            )
        }))
        .collect();
    out.sort();
    out
}

/// Whether the cockpit should ask the new MX now: the new server is ready (its step
/// done) and the journaled probe is missing or an hour old.
pub fn due(history: &History, now: Timestamp) -> bool {
    new_server_ready(history)
        && journaled(history).is_none_or(|(at, _)| now.duration_since(at) >= PROBE_EVERY)
}

/// Whether the journal holds `new-server-ready` done: before, the new MX has nothing to
/// accept yet.
pub fn new_server_ready(history: &History) -> bool {
    history
        .step(&StepId::NewServerReady)
        .is_some_and(|r| r.confirmed.is_some())
}

/// `smtp.new-mx-accepts` from the journaled probe: `unknown` without one (saying how to
/// get one) or when it is older than [`FRESH_FOR`] and not failing; the probe's age is
/// always said.
pub fn new_mx_check(plan: &Plan, history: &History, now: Timestamp) -> Check {
    let Some((at, probe)) = journaled(history) else {
        return Check::new(
            NEW_MX_ACCEPTS,
            Kind::Gate,
            Status::Unknown,
            "not measured: the new MX has not been asked about the addresses yet; run `cutover status --probe-smtp` (the cockpit asks once the new server is ready)",
        );
    };
    let targets = targets(plan);
    let mut probe = probe;
    // Hosts no longer in the plan say nothing about the new MX.
    probe
        .hosts
        .retain(|h| targets.iter().any(|t| same_host(&t.host, &h.host)));
    probe
        .answers
        .retain(|a| targets.iter().any(|t| same_host(&t.host, &a.host)));
    let mut check = new_mx_accepts(&probe, &plan.addresses());
    let unasked: Vec<&str> = targets
        .iter()
        .filter(|t| probe.host(&t.host).is_none())
        .map(|t| t.host.as_str())
        .collect();
    if !unasked.is_empty() && !probe.hosts.is_empty() {
        let line = format!("{} has not been asked yet", unasked.join(", "));
        match check.status {
            Status::Fail => check.evidence.push_str(&format!("; also: {line}")),
            Status::Pass => check.evidence = line,
            _ => check.evidence = format!("{}; {line}", check.evidence),
        }
        if check.status != Status::Fail {
            check.status = Status::Unknown;
        }
    }
    let age = now.duration_since(at);
    check
        .evidence
        .push_str(&format!(" (asked {} ago)", crate::units::duration(age)));
    if age > FRESH_FOR && check.status != Status::Fail {
        check.status = Status::Unknown;
        check.evidence = format!(
            "the last answer is too old to rely on: {}; ask again with `cutover status --probe-smtp`",
            check.evidence
        );
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{AddressAnswer, HostReport};

    fn plan() -> Plan {
        let mut plan = crate::dns::checks::tests_support::plan(None);
        plan.new.mx = vec![crate::plan::MxRecord {
            preference: 10,
            host: "mx.new.test.".into(),
        }];
        plan.mailboxes = vec![crate::plan::Mailbox {
            address: "a@example.com".into(),
            aliases: vec!["sales@example.com".into()],
            ..Default::default()
        }];
        plan
    }

    fn probe(at: Timestamp, sales: Option<bool>) -> SmtpProbe {
        let answer = |address: &str, accepts| AddressAnswer {
            host: "mx.new.test.".into(),
            address: address.into(),
            accepts,
            reply: "250 2.1.5 Ok".into(),
        };
        SmtpProbe {
            hosts: vec![HostReport {
                host: "mx.new.test.".into(),
                port: 25,
                at,
                reachable: true,
                banner: None,
                starttls: false,
                cert_valid: None,
                cert_days_left: None,
                tls_error: None,
                probe_address: format!("cutover-probe-{}@example.com", at.as_second()),
                probe_reply: Some("550 5.1.1 unknown".into()),
                accepts_anything: Some(false),
                error: None,
            }],
            answers: vec![
                answer("a@example.com", Some(true)),
                answer("sales@example.com", sales),
            ],
        }
    }

    fn at(minutes: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(minutes)
    }

    #[test]
    fn an_unchanged_probe_is_journaled_once_an_hour_a_changed_one_at_once() {
        let plan = plan();
        let mut history = History::default();
        let first = probe_fact(&plan, &history, &probe(at(0), Some(false)), at(0)).expect("first");
        history.apply(&first);
        // The same answers (another made-up address, another time): not again within the hour.
        assert!(probe_fact(&plan, &history, &probe(at(30), Some(false)), at(30)).is_none());
        assert!(probe_fact(&plan, &history, &probe(at(60), Some(false)), at(60)).is_some());
        // Changed answers: at once.
        let changed = probe_fact(&plan, &history, &probe(at(31), Some(true)), at(31));
        assert!(changed.is_some());
    }

    #[test]
    fn the_gate_passes_on_a_fresh_probe_and_is_unknown_on_a_stale_one() {
        let plan = plan();
        let mut history = History::default();
        let check = new_mx_check(&plan, &history, at(0));
        assert_eq!(check.status, Status::Unknown);
        assert!(
            check.evidence.contains("--probe-smtp"),
            "{}",
            check.evidence
        );

        history.apply(&probe_fact(&plan, &history, &probe(at(0), Some(true)), at(0)).unwrap());
        let check = new_mx_check(&plan, &history, at(20));
        assert_eq!(check.status, Status::Pass, "{}", check.evidence);
        assert!(
            check.evidence.ends_with("(asked 20 min ago)"),
            "{}",
            check.evidence
        );
        let check = new_mx_check(&plan, &history, at(71));
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(check.evidence.contains("too old"), "{}", check.evidence);

        // A refusal stays a failure however old, until asked again.
        history.apply(&probe_fact(&plan, &history, &probe(at(80), Some(false)), at(80)).unwrap());
        let check = new_mx_check(&plan, &history, at(300));
        assert_eq!(check.status, Status::Fail, "{}", check.evidence);
        assert!(check.evidence.contains("sales@example.com at mx.new.test."));
    }

    #[test]
    fn an_mx_host_the_probe_did_not_ask_keeps_the_gate_unknown() {
        let mut plan = plan();
        let mut history = History::default();
        history.apply(&probe_fact(&plan, &history, &probe(at(0), Some(true)), at(0)).unwrap());
        plan.new.mx.push(crate::plan::MxRecord {
            preference: 20,
            host: "mx2.new.test.".into(),
        });
        let check = new_mx_check(&plan, &history, at(1));
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(
            check
                .evidence
                .contains("mx2.new.test. has not been asked yet"),
            "{}",
            check.evidence
        );
        let targets = targets(&plan);
        assert_eq!(targets[1], MxTarget::new("mx2.new.test."));
    }
}
