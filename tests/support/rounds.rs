//! DNS rounds built by hand, in the shape the watcher hands them on (the cockpit's
//! `Event::DnsRound`, a one-shot command's observation): for tests of what a
//! round means to the runbook, without a DNS server. Tests of how a round is
//! measured use the real server in `dns_server.rs`.

#![allow(dead_code)] // each test binary uses a different part of it

use cutover::dns::{Answer, AnswerStatus, DnsSnapshot, Role, Rtype, ServerView};
use cutover::plan::Plan;
use jiff::Timestamp;

/// The A record every test zone serves at its apex, with the TTL it keeps
/// throughout (R1: only MX and TXT are lowered).
pub const APEX_A: (&str, u32) = ("192.0.2.10", 3_600);

/// One answer, as the watcher records it.
pub fn answer(name: &str, rtype: Rtype, ttl: u32, records: &[&str], at: Timestamp) -> Answer {
    Answer {
        name: format!("{}.", name.trim_end_matches('.')),
        rtype,
        status: AnswerStatus::Ok,
        ttl,
        records: records.iter().map(|r| r.to_string()).collect(),
        measured_at: at,
        latency_ms: 1,
        tcp: false,
        detail: None,
    }
}

/// What the zone serves before the switch: `plan`'s old MX hosts and old SPF
/// record, both with `ttl`, and the apex A record.
pub fn old_zone(plan: &Plan, ttl: u32, at: Timestamp) -> Vec<Answer> {
    let mx: Vec<String> = plan
        .old
        .mx
        .iter()
        .map(|m| format!("{} {}", m.preference, m.host))
        .collect();
    let mx: Vec<&str> = mx.iter().map(String::as_str).collect();
    let spf = format!("v=spf1 {} ~all", plan.old.spf.join(" "));
    vec![
        answer(&plan.domain, Rtype::MX, ttl, &mx, at),
        answer(&plan.domain, Rtype::TXT, ttl, &[&spf], at),
        answer(&plan.domain, Rtype::A, APEX_A.1, &[APEX_A.0], at),
    ]
}

/// A round at `at` in which every authoritative server of `plan` serves
/// `authoritative` and every resolver answers `resolvers` (their remaining cache TTLs).
pub fn round(
    plan: &Plan,
    at: Timestamp,
    authoritative: &[Answer],
    resolvers: &[Answer],
) -> DnsSnapshot {
    let servers = plan
        .dns
        .authoritative
        .iter()
        .map(|a| (a, Role::Authoritative, authoritative))
        .chain(
            plan.dns
                .resolvers
                .iter()
                .map(|a| (a, Role::Resolver, resolvers)),
        )
        .map(|(address, role, answers)| ServerView {
            address: *address,
            role,
            ns_host: None,
            answers: answers.to_vec(),
        })
        .collect();
    DnsSnapshot {
        round: 1,
        measured_at: at,
        servers,
        discovery_error: None,
        spf_targets: Default::default(),
        mta_sts: None,
        judged: Default::default(),
    }
}

/// The round after step lower-ttl took effect: the old records everywhere, at
/// the plan's migration TTL, and every resolver holding the MX for that long at most.
pub fn ttl_lowered(plan: &Plan, at: Timestamp) -> DnsSnapshot {
    resolvers_hold_mx_for(plan, at, plan.dns.migration_ttl)
}

/// Like [`ttl_lowered`], but the resolvers hold the MX for `ttl` more seconds.
pub fn resolvers_hold_mx_for(plan: &Plan, at: Timestamp, ttl: u32) -> DnsSnapshot {
    let zone = old_zone(plan, plan.dns.migration_ttl, at);
    let cached: Vec<Answer> = zone
        .iter()
        .filter(|a| a.rtype == Rtype::MX)
        .map(|a| Answer { ttl, ..a.clone() })
        .collect();
    round(plan, at, &zone, &cached)
}
