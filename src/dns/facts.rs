//! DNS facts for the journal: a round's snapshot in, the facts first seen out
//! (R1's baseline, R4's lowering, R8's MX order). Pure; the state they fold
//! into is `journal::dns_facts::DnsFacts`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::json;

use crate::check::Status;
use crate::dns::mx::{self, MxState};
use crate::dns::query::{AnswerStatus, Rtype, fqdn};
use crate::dns::watch::{DnsSnapshot, ServerView};
use crate::journal::Entry;
pub use crate::journal::dns_facts::{DnsFacts, OldTtlSource, baseline_key, keys};
use crate::plan::Plan;

/// The MX state one server serves (Unknown without a definite answer).
pub fn server_mx_state(plan: &Plan, server: &ServerView) -> MxState {
    match server.answer(&plan.domain, Rtype::MX) {
        Some(a) if a.status == AnswerStatus::Ok => {
            mx::classify(&a.records, &plan.old.mx, &plan.new.mx)
        }
        Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
            MxState::Empty
        }
        _ => MxState::Unknown,
    }
}

/// The facts a snapshot adds to what the journal already knows. The returned
/// entries are to be appended to the journal; the returned state equals
/// `previous` with them applied.
pub fn dns_facts(
    plan: &Plan,
    previous: &DnsFacts,
    snapshot: &DnsSnapshot,
) -> (DnsFacts, Vec<Entry>) {
    let at = snapshot.measured_at;
    let authoritative: Vec<&ServerView> = snapshot.authoritative().collect();
    let mut entries = Vec::new();
    let fact = |key: &str, value: serde_json::Value, evidence: String| Entry::Fact {
        at,
        key: key.to_string(),
        value,
        evidence,
    };

    if previous.baseline.is_none() {
        let mut ttls: BTreeMap<String, u32> = BTreeMap::new();
        for server in &authoritative {
            for answer in &server.answers {
                if answer.status == AnswerStatus::Ok
                    && matches!(
                        answer.rtype,
                        Rtype::MX | Rtype::TXT | Rtype::A | Rtype::AAAA
                    )
                {
                    let key = baseline_key(answer.rtype.as_str(), &answer.name);
                    let slot = ttls.entry(key).or_insert(0);
                    *slot = (*slot).max(answer.ttl);
                }
            }
        }
        if !ttls.is_empty() {
            let listed: Vec<String> = ttls.iter().map(|(k, v)| format!("{k} {v} s")).collect();
            entries.push(fact(
                keys::TTL_BASELINE,
                json!({ "ttls": ttls }),
                format!(
                    "TTLs first observed at the authoritative servers: {}.",
                    listed.join(", ")
                ),
            ));
        }
    }

    if previous.lowered_at.is_none()
        && let Some((mx_ttl, txt_ttl)) = lowered_everywhere(plan, &authoritative)
    {
        entries.push(fact(
            keys::TTL_LOWERED,
            json!({ "mx_ttl": mx_ttl, "txt_ttl": txt_ttl, "servers": authoritative.len() }),
            format!(
                "{} MX with TTL {} and TXT with TTL {} (migration TTL {}).",
                match authoritative.len() {
                    1 => "The 1 authoritative server serves".to_string(),
                    n => format!("All {n} authoritative servers serve"),
                },
                crate::units::ttl(mx_ttl),
                crate::units::ttl(txt_ttl),
                crate::units::ttl(plan.dns.migration_ttl)
            ),
        ));
    }

    let states: Vec<(SocketAddr, MxState, Vec<String>)> = authoritative
        .iter()
        .map(|s| {
            let records = s
                .answer(&plan.domain, Rtype::MX)
                .map(|a| a.records.clone())
                .unwrap_or_default();
            (s.address, server_mx_state(plan, s), records)
        })
        .collect();
    let alarming: Vec<&(SocketAddr, MxState, Vec<String>)> =
        states.iter().filter(|(_, s, _)| s.is_alarm()).collect();
    if let Some((server, state, records)) = alarming.first() {
        if !previous.alarm_active {
            let what = if *state == MxState::Empty {
                format!(
                    "{server} serves no MX record for {}: senders fall back to the apex A record or defer the mail",
                    plan.domain
                )
            } else {
                format!(
                    "{server} serves an MX set with neither the old nor the new hosts ({}): mail goes elsewhere",
                    records.join(", ")
                )
            };
            entries.push(fact(
                keys::MX_ALARM,
                json!({ "state": state.as_str(), "server": server.to_string(), "records": records }),
                format!("ALARM: {}.", crate::sanitize::sanitize(&what)),
            ));
        }
    } else if previous.alarm_active && states.iter().any(|(_, s, _)| *s != MxState::Unknown) {
        entries.push(fact(
            keys::MX_ALARM_CLEARED,
            json!({}),
            "Every authoritative server that answered serves old or new MX hosts again."
                .to_string(),
        ));
    }

    let combined = mx::combine(&states.iter().map(|(_, s, _)| *s).collect::<Vec<_>>());
    if combined != MxState::Unknown && previous.mx_state != Some(combined) {
        let records: BTreeMap<String, Vec<String>> = states
            .iter()
            .map(|(a, _, r)| (a.to_string(), r.clone()))
            .collect();
        let from = previous.mx_state;
        entries.push(fact(
            keys::MX_SET,
            json!({ "from": from.map(|f| f.as_str()), "to": combined.as_str(), "records": records }),
            match from {
                Some(f) => format!(
                    "The MX set at the authoritative servers changed from {} to {}.",
                    f.as_str(),
                    combined.as_str()
                ),
                None => format!(
                    "The MX set at the authoritative servers was first seen as {}.",
                    combined.as_str()
                ),
            },
        ));
        let jumped = matches!(from, Some(MxState::Old | MxState::Mixed));
        if combined == MxState::New
            && jumped
            && !previous.seen_old_and_new
            && previous.order_unproven_at.is_none()
        {
            entries.push(fact(
                keys::MX_ORDER_UNPROVEN,
                json!({ "from": from.map(|f| f.as_str()), "to": "new" }),
                "The MX set went from old to new between two polls without old+new ever being seen: the order (new added before old removed) is unproven.".to_string(),
            ));
        }
    }

    let resolvers: Vec<&ServerView> = snapshot.resolvers().collect();
    if previous.resolvers_new_mx_at.is_none()
        && !resolvers.is_empty()
        && resolvers
            .iter()
            .all(|r| server_mx_state(plan, r) == MxState::New)
    {
        entries.push(fact(
            keys::RESOLVERS_NEW_MX,
            json!({ "resolvers": resolvers.iter().map(|r| r.address.to_string()).collect::<Vec<_>>() }),
            format!("All {} watched resolvers answer the new MX set.", resolvers.len()),
        ));
    }

    if let Some(policy) = dmarc_policy(plan, snapshot)
        && previous.dmarc_latest.as_deref() != Some(policy.as_str())
    {
        entries.push(fact(
            keys::DMARC_POLICY,
            json!({ "policy": policy, "from": previous.dmarc_latest }),
            match &previous.dmarc_latest {
                Some(from) => format!(
                    "The DMARC policy of {} changed from p={from} to p={policy}.",
                    plan.domain
                ),
                None => format!("The DMARC policy of {} is p={policy}.", plan.domain),
            },
        ));
    }

    // With [canary], an outbound canary judges dkim-spf-final once its records are served,
    // and once the public resolvers (the ones cutover verifies the canary with) give the
    // key: one that still holds the "no such key" it cached before the key was published
    // would fail a canary the receivers might pass.
    let final_auth = crate::step::StepId::DkimSpfFinal;
    if plan.canary.is_some()
        && !previous.records_served.contains_key(final_auth.as_str())
        && resolvers_give_the_dkim_key(plan, snapshot)
    {
        let checks = super::step_checks(&final_auth, plan, Some(snapshot), previous, None, at);
        if !checks.is_empty() && checks.iter().all(|c| c.status == Status::Pass) {
            entries.push(fact(
                keys::RECORDS_SERVED,
                json!({ "step": final_auth.as_str() }),
                format!(
                    "{final_auth}'s records are served by every authoritative server, the key given by every public resolver: {}.",
                    checks
                        .iter()
                        .map(|c| c.id.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }

    entries.extend(alarm_facts(
        plan,
        previous,
        &authoritative,
        &states,
        combined,
        at,
    ));

    let mut next = previous.clone();
    for entry in &entries {
        next.apply(entry);
    }
    (next, entries)
}

/// What one alarm's condition is this round: observed (with evidence), not observed
/// (measured), or not measured (the alarm stays as it was).
enum Condition {
    Observed(String),
    Clear,
    Unmeasured,
}

/// The plan's SPF terms of the old and the new server, lowercased.
fn server_terms(plan: &Plan) -> Vec<String> {
    plan.old
        .spf
        .iter()
        .chain(&plan.new.spf)
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

/// The SPF records an authoritative server serves at the apex (`None` without a definite answer).
/// Whether every public resolver answered the plan's DKIM key name with a record (none
/// still gives the NXDOMAIN or empty answer it may have cached). Without a selector there
/// is no key name: the authoritative checks decide alone.
fn resolvers_give_the_dkim_key(plan: &Plan, snapshot: &DnsSnapshot) -> bool {
    let Some(selector) = plan.new.dkim_selector.as_deref() else {
        return true;
    };
    let name = format!("{selector}._domainkey.{}", plan.domain);
    snapshot.resolvers().all(|server| {
        server
            .answer(&name, Rtype::TXT)
            .is_some_and(|a| a.status == AnswerStatus::Ok && !a.records.is_empty())
    })
}

fn served_spf(plan: &Plan, server: &ServerView) -> Option<Vec<String>> {
    let a = server.answer(&plan.domain, Rtype::TXT)?;
    match a.status {
        AnswerStatus::Ok => Some(
            a.records
                .iter()
                .filter(|r| r.trim_start().to_ascii_lowercase().starts_with("v=spf1"))
                .cloned()
                .collect(),
        ),
        AnswerStatus::Nodata | AnswerStatus::Nxdomain => Some(vec![]),
        _ => None,
    }
}

fn names_a_server(record: &str, terms: &[String]) -> bool {
    record
        .split_ascii_whitespace()
        .any(|t| terms.contains(&t.to_ascii_lowercase()))
}

/// Raises and clears the alarms (`mx-empty`, `mx-neither`, `spf-lost`, `ttl-ignored`)
/// from what this round observed; an alarm clears only when its condition was measured again.
fn alarm_facts(
    plan: &Plan,
    previous: &DnsFacts,
    authoritative: &[&ServerView],
    states: &[(SocketAddr, MxState, Vec<String>)],
    combined: MxState,
    at: jiff::Timestamp,
) -> Vec<Entry> {
    use crate::journal::dns_facts::alarm_ids;
    let sanitize = crate::sanitize::sanitize;
    let mut entries = Vec::new();
    let mx_measured = states.iter().any(|(_, s, _)| *s != MxState::Unknown);
    let mx_condition = |wanted: MxState| {
        let hits: Vec<String> = states
            .iter()
            .filter(|(_, s, _)| *s == wanted)
            .map(|(server, _, records)| {
                if wanted == MxState::Empty {
                    format!("{server} serves no MX record for {}", plan.domain)
                } else {
                    format!(
                        "{server} serves MX {} — neither the old nor the new hosts",
                        sanitize(&records.join(", "))
                    )
                }
            })
            .collect();
        match (hits.is_empty(), mx_measured) {
            (false, _) => Condition::Observed(hits.join("; ")),
            (true, true) => Condition::Clear,
            (true, false) => Condition::Unmeasured,
        }
    };

    // spf-lost: an SPF record that named the old or the new server now names neither.
    let terms = server_terms(plan);
    let spf: Vec<(SocketAddr, Vec<String>)> = authoritative
        .iter()
        .filter_map(|s| served_spf(plan, s).map(|r| (s.address, r)))
        .collect();
    let named_now = spf
        .iter()
        .any(|(_, records)| records.iter().any(|r| names_a_server(r, &terms)));
    if named_now && !previous.spf_named {
        entries.push(Entry::Fact {
            at,
            key: keys::SPF_NAMES_SERVER.to_string(),
            value: json!({}),
            evidence: "The SPF record served names the old or the new mail server.".to_string(),
        });
    }
    let spf_condition = if !(previous.spf_named || named_now) || spf.is_empty() {
        Condition::Unmeasured
    } else {
        let lost: Vec<String> = spf
            .iter()
            .filter(|(_, records)| !records.iter().any(|r| names_a_server(r, &terms)))
            .map(|(server, records)| match records.first() {
                None => format!("{server} serves no SPF record for {}", plan.domain),
                Some(r) => format!(
                    "{server} serves SPF \"{}\", which names neither the old nor the new server",
                    sanitize(r)
                ),
            })
            .collect();
        if lost.is_empty() {
            Condition::Clear
        } else {
            Condition::Observed(lost.join("; "))
        }
    };

    // ttl-ignored (R3): after the lowering was served and before the switch, a DNS host
    // serving MX or TXT above the migration TTL again does not keep the TTL that was set.
    let switched =
        combined == MxState::New || previous.mx_transitions.iter().any(|t| t.to == MxState::New);
    let ttl_condition = if previous.lowered_at.is_none() || switched {
        Condition::Unmeasured
    } else {
        let limit = plan.dns.migration_ttl;
        let mut measured = false;
        let mut high = Vec::new();
        for server in authoritative {
            for rtype in [Rtype::MX, Rtype::TXT] {
                if let Some(a) = server.answer(&plan.domain, rtype)
                    && a.status == AnswerStatus::Ok
                {
                    measured = true;
                    if a.ttl > limit {
                        high.push(format!(
                            "{} serves {rtype} with TTL {} (set: {})",
                            server.address,
                            crate::units::ttl(a.ttl),
                            crate::units::ttl(limit)
                        ));
                    }
                }
            }
        }
        match (high.is_empty(), measured) {
            (false, _) => Condition::Observed(high.join("; ")),
            (true, true) => Condition::Clear,
            (true, false) => Condition::Unmeasured,
        }
    };

    for (id, condition) in [
        (alarm_ids::MX_EMPTY, mx_condition(MxState::Empty)),
        (alarm_ids::MX_NEITHER, mx_condition(MxState::Foreign)),
        (alarm_ids::SPF_LOST, spf_condition),
        (alarm_ids::TTL_IGNORED, ttl_condition),
    ] {
        let raised = previous.raised.contains_key(id);
        match condition {
            Condition::Observed(what) if !raised => entries.push(Entry::Fact {
                at,
                key: keys::ALARM_RAISED.to_string(),
                value: json!({ "id": id }),
                evidence: format!("{}.", sanitize(&what)),
            }),
            Condition::Clear if raised => entries.push(Entry::Fact {
                at,
                key: keys::ALARM_CLEARED.to_string(),
                value: json!({ "id": id }),
                evidence: format!("Alarm {id} cleared: its condition is no longer observed."),
            }),
            _ => {}
        }
    }
    entries
}

/// The DMARC policy (`p=`) the first authoritative server (else resolver) serves.
pub fn dmarc_policy(plan: &Plan, snapshot: &DnsSnapshot) -> Option<String> {
    let name = format!("_dmarc.{}", fqdn(&plan.domain));
    snapshot
        .authoritative()
        .chain(snapshot.resolvers())
        .filter_map(|s| s.answer(&name, Rtype::TXT))
        .find(|a| a.status == AnswerStatus::Ok)?
        .records
        .iter()
        .find_map(|r| crate::dns::dmarc::parse_dmarc(r).ok())
        .map(|d| d.policy)
}

/// (MX TTL, TXT TTL) when every authoritative server serves both at or under the
/// migration TTL (a missing apex TXT counts as lowered: there is nothing to lower).
fn lowered_everywhere(plan: &Plan, authoritative: &[&ServerView]) -> Option<(u32, u32)> {
    if authoritative.is_empty() {
        return None;
    }
    let limit = plan.dns.migration_ttl;
    let (mut mx_ttl, mut txt_ttl) = (0, 0);
    for server in authoritative {
        let mx = server.answer(&plan.domain, Rtype::MX)?;
        if mx.status != AnswerStatus::Ok || mx.ttl > limit {
            return None;
        }
        mx_ttl = mx_ttl.max(mx.ttl);
        let txt = server.answer(&plan.domain, Rtype::TXT)?;
        match txt.status {
            AnswerStatus::Ok if txt.ttl <= limit => txt_ttl = txt_ttl.max(txt.ttl),
            AnswerStatus::Nodata | AnswerStatus::Nxdomain => {}
            _ => return None,
        }
    }
    Some((mx_ttl, txt_ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_with(mx: u32, txt: u32) -> DnsFacts {
        DnsFacts {
            baseline: Some(BTreeMap::from([
                ("MX example.com.".to_string(), mx),
                ("TXT example.com.".to_string(), txt),
            ])),
            ..DnsFacts::default()
        }
    }

    fn plan(old_ttl: Option<u32>) -> Plan {
        crate::dns::checks::tests_support::plan(old_ttl)
    }

    #[test]
    fn old_ttl_is_never_the_lowered_one() {
        // Seen before any lowering: observed.
        let o = facts_with(3600, 7200).old_ttl(&plan(None));
        assert_eq!((o.seconds, o.source), (7200, OldTtlSource::Observed));
        // The plan's is larger: the plan's.
        let o = facts_with(3600, 3600).old_ttl(&plan(Some(86400)));
        assert_eq!((o.seconds, o.source), (86400, OldTtlSource::Plan));
        // Observed larger than the plan's: observed.
        let o = facts_with(172800, 3600).old_ttl(&plan(Some(86400)));
        assert_eq!((o.seconds, o.source), (172800, OldTtlSource::Observed));
        // MX already lowered when first seen, TXT not: MX's old TTL is unknown, so 24 h.
        let o = facts_with(300, 3600).old_ttl(&plan(None));
        assert_eq!((o.seconds, o.source), (86400, OldTtlSource::Assumed));
        // Everything already lowered, nothing planned: 24 h assumed.
        let o = facts_with(300, 300).old_ttl(&plan(None));
        assert_eq!((o.seconds, o.source), (86400, OldTtlSource::Assumed));
        let o = DnsFacts::default().old_ttl(&plan(None));
        assert_eq!((o.seconds, o.source), (86400, OldTtlSource::Assumed));
        // Already lowered, but the plan says 1 h: the operator's word.
        let o = facts_with(300, 300).old_ttl(&plan(Some(3600)));
        assert_eq!((o.seconds, o.source), (3600, OldTtlSource::Plan));
    }

    mod alarms {
        use super::*;
        use crate::dns::query::Answer;
        use crate::dns::watch::Role;

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
                measured_at: jiff::Timestamp::UNIX_EPOCH,
                latency_ms: 1,
                tcp: false,
                detail: None,
            }
        }

        fn round(mx: &[&str], txt: &[&str], ttl: u32) -> DnsSnapshot {
            DnsSnapshot {
                round: 1,
                measured_at: jiff::Timestamp::UNIX_EPOCH,
                servers: vec![ServerView {
                    address: "127.0.0.1:5300".parse().unwrap(),
                    role: Role::Authoritative,
                    ns_host: None,
                    answers: vec![answer(Rtype::MX, ttl, mx), answer(Rtype::TXT, ttl, txt)],
                }],
                discovery_error: None,
                spf_targets: Default::default(),
                mta_sts: None,
                judged: Default::default(),
            }
        }

        const OLD_MX: &str = "10 mx1.old.example.";
        const SPF: &str = "v=spf1 include:_spf.old.example ~all";

        /// Folds rounds in turn and returns the raised alarm ids after each.
        fn raised_after(rounds: &[DnsSnapshot]) -> Vec<Vec<String>> {
            let plan = plan(None);
            let mut facts = DnsFacts::default();
            let mut out = Vec::new();
            for r in rounds {
                let (next, _) = dns_facts(&plan, &facts, r);
                facts = next;
                out.push(facts.raised_alarms().iter().map(|a| a.id.clone()).collect());
            }
            out
        }

        /// dkim-spf-final's records served: the new MX, SPF naming only the new server, the
        /// key at the plan's selector.
        fn final_round(dkim: &str) -> DnsSnapshot {
            let mut r = round(
                &["10 smtp.new.example."],
                &["v=spf1 ip4:192.0.2.3 -all"],
                300,
            );
            let mut key = answer(Rtype::TXT, 300, &[dkim]);
            key.name = "sel1._domainkey.example.com.".into();
            r.servers[0].answers.push(key);
            r
        }

        #[test]
        fn dkim_spf_final_served_everywhere_is_journaled_once_and_only_with_a_canary() {
            let key = format!("v=DKIM1; k=rsa; p={}", crate::dns::dkim::tests::RSA_2048);
            let served = |facts: &DnsFacts, plan: &Plan, r: &DnsSnapshot| {
                dns_facts(plan, facts, r)
                    .1
                    .into_iter()
                    .filter(|e| matches!(e, Entry::Fact { key, .. } if key == keys::RECORDS_SERVED))
                    .count()
            };
            let mut without = plan(None);
            // An SPF term that needs no lookup: the round holds no other record.
            without.new.spf = vec!["ip4:192.0.2.3".into()];
            assert_eq!(
                served(&DnsFacts::default(), &without, &final_round(&key)),
                0
            );

            let mut with = without.clone();
            with.canary = Some(crate::plan::CanaryPlan::for_tests(with.old.imap.clone()));
            // The key cut off: not served as it must be.
            let cut = &key[..key.len() - 60];
            assert_eq!(served(&DnsFacts::default(), &with, &final_round(cut)), 0);
            let (facts, entries) = dns_facts(&with, &DnsFacts::default(), &final_round(&key));
            assert!(
                entries
                    .iter()
                    .any(|e| matches!(e, Entry::Fact { key, value, .. }
                    if key == keys::RECORDS_SERVED && value["step"] == "dkim-spf-final")),
                "{entries:?}"
            );
            assert_eq!(
                facts.records_served.get("dkim-spf-final"),
                Some(&jiff::Timestamp::UNIX_EPOCH)
            );
            // Served again: already journaled.
            assert_eq!(served(&facts, &with, &final_round(&key)), 0);

            // A public resolver still gives the NXDOMAIN it cached before the key was
            // published: a canary verified through it would fail, so not yet.
            let with_resolver = |status: AnswerStatus, records: &[&str]| {
                let mut r = final_round(&key);
                let mut cached = answer(Rtype::TXT, 3600, records);
                cached.name = "sel1._domainkey.example.com.".into();
                cached.status = status;
                r.servers.push(ServerView {
                    address: "127.0.0.1:5301".parse().unwrap(),
                    role: Role::Resolver,
                    ns_host: None,
                    answers: vec![cached],
                });
                r
            };
            let stale = with_resolver(AnswerStatus::Nxdomain, &[]);
            assert_eq!(served(&DnsFacts::default(), &with, &stale), 0);
            let fresh = with_resolver(AnswerStatus::Ok, &[&key]);
            assert_eq!(served(&DnsFacts::default(), &with, &fresh), 1);
        }

        #[test]
        fn mx_neither_is_raised_and_cleared() {
            let r = raised_after(&[
                round(&[OLD_MX], &[SPF], 300),
                round(&["10 mail.elsewhere.example."], &[SPF], 300),
                round(&[OLD_MX], &[SPF], 300),
            ]);
            assert_eq!(r, [vec![], vec!["mx-neither".to_string()], vec![]]);
        }

        #[test]
        fn spf_lost_needs_an_spf_that_named_a_server_first() {
            // Never named a server: nothing was lost.
            let r = raised_after(&[round(&[OLD_MX], &["v=spf1 -all"], 300)]);
            assert_eq!(r, [Vec::<String>::new()]);
            let r = raised_after(&[
                round(&[OLD_MX], &[SPF], 300),
                round(&[OLD_MX], &["v=spf1 include:_spf.other.example -all"], 300),
                round(&[OLD_MX], &[], 300),
                round(&[OLD_MX], &[SPF], 300),
            ]);
            assert_eq!(
                r,
                [
                    vec![],
                    vec!["spf-lost".to_string()],
                    vec!["spf-lost".to_string()],
                    vec![]
                ]
            );
        }

        #[test]
        fn spf_lost_evidence_quotes_the_record_served() {
            let plan = plan(None);
            let (facts, _) = dns_facts(&plan, &DnsFacts::default(), &round(&[OLD_MX], &[SPF], 300));
            let (facts, _) = dns_facts(
                &plan,
                &facts,
                &round(&[OLD_MX], &["v=spf1 include:_spf.other.example -all"], 300),
            );
            let a = &facts.raised["spf-lost"];
            assert!(
                a.evidence.contains(
                    "127.0.0.1:5300 serves SPF \"v=spf1 include:_spf.other.example -all\", which names neither"
                ),
                "{a:?}"
            );
        }

        #[test]
        fn ttl_ignored_after_the_lowering_until_the_switch() {
            let r = raised_after(&[
                round(&[OLD_MX], &[SPF], 86_400),
                round(&[OLD_MX], &[SPF], 300),
                round(&[OLD_MX], &[SPF], 3_600),
                round(&[OLD_MX], &[SPF], 300),
            ]);
            assert_eq!(r, [vec![], vec![], vec!["ttl-ignored".to_string()], vec![]]);
            // After the switch, restoring the TTLs is the plan, not an alarm.
            let r = raised_after(&[
                round(&[OLD_MX], &[SPF], 300),
                round(&["10 smtp.new.example."], &[SPF], 300),
                round(&["10 smtp.new.example."], &[SPF], 86_400),
            ]);
            assert!(r.iter().all(Vec::is_empty), "{r:?}");
        }
    }
}
