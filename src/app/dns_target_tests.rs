//! One DNS target per step, held to its readers: over generated plans and served
//! records, the records to paste are the host card's `+` lines (both are the
//! target's records not yet served), and serving the target makes every record
//! check of the step pass, the DNS pane's cells ✓ and the card "nothing to change".

use super::*;
use crate::app::model::RecordKind;
use crate::check::Status;
use crate::dns::checks::tests_support;
use crate::dns::host_card::{Change, host_card};
use crate::dns::query::{Answer, AnswerStatus, Rtype, fqdn};
use crate::dns::records_to_paste;
use crate::dns::step_checks;
use crate::dns::target::{Record, RrSet, Served, dns_target};
use crate::dns::watch::{DnsSnapshot, Findings, Role, ServerView};
use crate::journal::dns_facts::DnsFacts;
use crate::plan::{MxRecord, Plan};
use crate::step::StepId;
use jiff::Timestamp;
use proptest::prelude::*;

/// The DNS steps in runbook order.
const STEPS: [StepId; 8] = [
    StepId::LowerTtl,
    StepId::SpfAddNew,
    StepId::TtlWait,
    StepId::AddNewMx,
    StepId::RemoveOldMx,
    StepId::DkimSpfFinal,
    StepId::Monitor24h,
    StepId::RestoreTtl,
];

/// The checks whose verdict is a function of what the authoritative servers serve
/// (the others read resolvers, the journal's facts, time or the SPF include tree).
const RECORD_CHECKS: [&str; 11] = [
    "mx-ttl-lowered",
    "txt-ttl-lowered",
    "spf-single-record",
    "spf-old-and-new",
    "mx-old-and-new-served",
    "new-mx-served",
    "mx-only-new-served",
    "dkim-valid",
    "spf-old-removed",
    "mx-ttl-restored",
    "txt-ttl-restored",
];

/// A 2048-bit RSA key, as the new provider would give it.
const DKIM_KEY: &str = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu7i/VdKAwOIDU1TVdkHhRe3i8T+7x3ZxK76HGL9mwfEI/M/XhyhVQFBJR+M+cOfnrG2SQ364crZHb3oi5SWXurqUPSPiXHcyn0louDIM3b7YoQlCdE4sFmEB5V1esWZgIgCWeRt+ui84Eze4h8/kYxT2iy1UZ4VOzG65r+RpzA8VaKmjFnJ/69A5IHsxWqiPeo21R6OMo3Qwp7Qdi0ZI/Fu+rjy6RTQMe3uB3uAhI9DUyWOO3K+u6VDuCz2lGeiQe5e/XJ/VExEifAwVW5BJbPOx1CGVggSbJV2HxqlUljgN6GnmNu5UgsTQTilvsWt6Jb714zApJGu7hHbqcx4jCwIDAQAB";

fn mx(preference: u16, host: &str) -> MxRecord {
    MxRecord {
        preference,
        host: host.into(),
    }
}

/// A plan: old and new MX hosts and SPF terms (disjoint), TTLs, a DKIM selector or none.
fn plans() -> impl Strategy<Value = Plan> {
    let hosts = |names: &'static [&'static str]| {
        proptest::sample::subsequence(names.to_vec(), 1..=names.len())
    };
    let terms = |terms: &'static [&'static str]| {
        proptest::sample::subsequence(terms.to_vec(), 1..=terms.len())
    };
    (
        hosts(&["mx1.old.example", "mx2.old.example."]),
        hosts(&["smtp.new.example.", "mx2.new.example"]),
        terms(&["include:_spf.old.example", "ip4:192.0.2.1"]),
        terms(&[
            "include:_spf.new.example",
            "ip4:198.51.100.7",
            "ip6:2001:db8::7",
        ]),
        prop_oneof![Just(60u32), Just(300), Just(600)],
        prop_oneof![Just(3600u32), Just(86_400)],
        prop_oneof![Just(3600u32), Just(21_600)],
        proptest::option::of(Just("sel1".to_string())),
    )
        .prop_map(
            |(old_mx, new_mx, old_spf, new_spf, migration, restore_mx, restore_txt, selector)| {
                let mut plan = tests_support::plan(None);
                plan.old.mx = old_mx
                    .iter()
                    .enumerate()
                    .map(|(i, h)| mx(10 * (i as u16 + 1), h))
                    .collect();
                plan.new.mx = new_mx
                    .iter()
                    .enumerate()
                    .map(|(i, h)| mx(i as u16 + 1, h))
                    .collect();
                plan.old.spf = old_spf.iter().map(|t| t.to_string()).collect();
                plan.new.spf = new_spf.iter().map(|t| t.to_string()).collect();
                plan.dns.migration_ttl = migration;
                plan.dns.restore_ttl_mx = restore_mx;
                plan.dns.restore_ttl_txt = restore_txt;
                plan.new.dkim_selector = selector;
                plan
            },
        )
}

/// What is served before the migration: the old MX hosts and the old SPF record (or
/// none), maybe another TXT record, each set at a TTL (one the operator may already
/// have lowered below the migration TTL), and maybe a DKIM key already published.
fn starts() -> impl Strategy<Value = (u32, u32, bool, bool, bool)> {
    let ttl = prop_oneof![Just(86_400u32), Just(3600), Just(120)];
    (
        ttl.clone(),
        ttl,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
}

fn start(plan: &Plan, (mx_ttl, txt_ttl, spf, other, key): (u32, u32, bool, bool, bool)) -> Served {
    let apex = fqdn(&plan.domain);
    let mut txt = Vec::new();
    if other {
        txt.push(Record::Txt("google-site-verification=abc123".into()));
    }
    if spf {
        txt.push(Record::Txt(format!(
            "v=spf1 {} -all",
            plan.old.spf.join(" ")
        )));
    }
    Served {
        mx: Some(RrSet {
            name: apex.clone(),
            rtype: Rtype::MX,
            ttl: mx_ttl,
            records: plan
                .old
                .mx
                .iter()
                .map(|m| Record::Mx {
                    preference: m.preference,
                    host: crate::dns::mx::normalise_host(&m.host),
                })
                .collect(),
        }),
        txt: Some(RrSet {
            name: apex,
            rtype: Rtype::TXT,
            ttl: if txt.is_empty() { 0 } else { txt_ttl },
            records: txt,
        }),
        dkim: crate::dns::target::dkim_name(plan).map(|name| RrSet {
            name,
            rtype: Rtype::TXT,
            ttl: if key { 3600 } else { 0 },
            records: if key {
                vec![Record::Txt(DKIM_KEY.into())]
            } else {
                vec![]
            },
        }),
    }
}

/// MX records and their TTL, apex TXT records and theirs, whether a DKIM key is served.
type AnyServed = (Vec<&'static str>, u32, Vec<&'static str>, u32, bool);

/// Any served records: MX hosts old, new or foreign, TXT records of any kind, a DKIM
/// key or not, at any TTL; or no definite answer.
fn any_served() -> impl Strategy<Value = Option<AnyServed>> {
    proptest::option::of((
        proptest::sample::subsequence(
            vec![
                "10 mx1.old.example.",
                "20 MX2.old.example",
                "1 smtp.new.example.",
                "5 mx.other.example.",
            ],
            0..=3,
        ),
        prop_oneof![Just(300u32), Just(60), Just(86_400)],
        proptest::sample::subsequence(
            vec![
                "v=spf1 include:_spf.old.example -all",
                "v=spf1 include:_spf.old.example include:_spf.new.example ~all",
                "v=spf1 ip4:198.51.100.7 ~all",
                "google-site-verification=abc123",
                "a \"quoted\" text",
            ],
            0..=3,
        ),
        prop_oneof![Just(300u32), Just(120), Just(21_600)],
        any::<bool>(),
    ))
}

fn answer(set: &RrSet) -> Answer {
    let records: Vec<String> = set
        .records
        .iter()
        .map(|r| match r {
            Record::Mx { preference, host } => format!("{preference} {}", fqdn(host)),
            Record::Txt(t) => t.clone(),
            // The operator pasted the key the new provider gave.
            Record::DkimKeyToFill { .. } => DKIM_KEY.to_string(),
        })
        .collect();
    Answer {
        name: set.name.clone(),
        rtype: set.rtype,
        status: if records.is_empty() {
            AnswerStatus::Nodata
        } else {
            AnswerStatus::Ok
        },
        ttl: if records.is_empty() { 0 } else { set.ttl },
        records,
        measured_at: Timestamp::UNIX_EPOCH,
        latency_ms: 1,
        tcp: false,
        detail: None,
    }
}

/// One authoritative server serving `served`.
fn snapshot(served: &Served) -> DnsSnapshot {
    DnsSnapshot {
        round: 1,
        measured_at: Timestamp::UNIX_EPOCH,
        servers: vec![ServerView {
            address: "127.0.0.1:5300".parse().expect("a socket address"),
            role: Role::Authoritative,
            ns_host: None,
            answers: [&served.mx, &served.txt, &served.dkim]
                .into_iter()
                .flatten()
                .map(answer)
                .collect(),
        }],
        discovery_error: None,
        spf_targets: vec![],
        mta_sts: None,
        judged: Findings::default(),
    }
}

/// What is served once the operator has done the step: its record sets replace the
/// served ones, the DKIM key line filled in.
fn apply(served: &Served, target: &[RrSet]) -> Served {
    let filled: Vec<RrSet> = target
        .iter()
        .map(|set| RrSet {
            records: set
                .records
                .iter()
                .map(|r| match r {
                    Record::DkimKeyToFill { .. } => Record::Txt(DKIM_KEY.into()),
                    other => other.clone(),
                })
                .collect(),
            ..set.clone()
        })
        .collect();
    served.with(&filled)
}

/// The records a paste asks for: its lines that are not notes, and the DKIM key line
/// to fill in (a `;` line that is a record).
fn pasted_records(paste: &[String]) -> Vec<String> {
    paste
        .iter()
        .filter_map(|l| match l.strip_prefix("; ") {
            None => Some(l.clone()),
            Some(rest) if rest.contains(" IN TXT \"v=DKIM1; k=rsa; p=<") => Some(rest.to_string()),
            Some(_) => None,
        })
        .collect()
}

fn added(card: Option<crate::dns::host_card::HostCard>) -> Vec<String> {
    card.map(|c| {
        c.lines
            .into_iter()
            .filter(|l| l.change == Change::Add)
            .map(|l| l.record)
            .collect()
    })
    .unwrap_or_default()
}

/// The card's `+` lines, the pasted records and the target's records not yet served
/// are one list.
fn paste_and_card_agree(
    step: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
) -> Result<(), TestCaseError> {
    let served = Served::in_round(plan, snapshot).map(|(_, s)| s);
    let target = dns_target(step, plan, served.as_ref()).expect("a DNS step");
    let wanted: Vec<String> = target
        .to_add(plan, served.as_ref())
        .into_iter()
        .map(|l| l.line)
        .collect();
    let paste = records_to_paste(step, plan, snapshot);
    prop_assert_eq!(&pasted_records(&paste), &wanted, "paste {:?}", paste);
    // The card lays a record under those of its name and type: the same lines, maybe
    // in another order.
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines
    };
    prop_assert_eq!(
        sorted(added(host_card(step, plan, snapshot))),
        sorted(wanted)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Step by step from the old records: what the paste and the card ask for agree, and
    /// once served, the step's record checks pass, the pane judges every cell it expects
    /// something of ✓, and neither card nor paste asks for anything more.
    #[test]
    fn serving_each_steps_target_satisfies_its_checks_pane_and_card(
        plan in plans(),
        begin in starts(),
    ) {
        let mut served = start(&plan, begin);
        let now = Timestamp::UNIX_EPOCH;
        for step in &STEPS {
            let before = snapshot(&served);
            paste_and_card_agree(step, &plan, Some(&before))?;
            let target = dns_target(step, &plan, Some(&served)).expect("a DNS step");
            served = apply(&served, &target.rrsets);
            let after = snapshot(&served);
            let checks = step_checks(step, &plan, Some(&after), &DnsFacts::default(), None, now);
            for c in checks.iter().filter(|c| RECORD_CHECKS.contains(&c.id.as_str())) {
                let no_selector = c.id == "dkim-valid" && plan.new.dkim_selector.is_none();
                prop_assert!(c.status == Status::Pass || no_selector, "{step}: {c:?}");
            }
            // remove-old-mx's gate holds on what add-new-mx leaves.
            if *step == StepId::AddNewMx {
                let gate = step_checks(&StepId::RemoveOldMx, &plan, Some(&after), &DnsFacts::default(), None, now);
                let gate = gate.iter().find(|c| c.id == "new-mx-served").expect("the gate");
                prop_assert_eq!(gate.status, Status::Pass, "{:?}", gate);
            }
            let view = dns_view::dns_view(&plan, &after, &DnsFacts::default());
            for row in &view.rows {
                for (cell, column) in row.cells.iter().zip(&view.servers) {
                    let (status, why) = dns_view::judge(&plan, Some(step), row.kind, cell, column.role);
                    let no_selector = row.kind == RecordKind::Dkim && plan.new.dkim_selector.is_none();
                    prop_assert!(
                        status == Status::Pass || why.starts_with("not judged") || no_selector,
                        "{step}: {} {status:?} {why}", row.label
                    );
                }
            }
            if crate::dns::host_card::has_card(step) {
                let card = host_card(step, &plan, Some(&after)).expect("a card");
                prop_assert!(card.nothing_to_change(), "{step}: {card:?}");
            }
            prop_assert!(pasted_records(&records_to_paste(step, &plan, Some(&after))).is_empty());
        }
    }

    /// Whatever is served, or when nothing is measured, the paste and the card agree.
    #[test]
    fn paste_and_card_agree_on_any_served_records(
        plan in plans(),
        served in any_served(),
    ) {
        let snapshot = served.map(|(mx, mx_ttl, txt, txt_ttl, key)| {
            let set = |name: String, rtype, ttl, records: Vec<Record>| RrSet { name, rtype, ttl, records };
            let apex = fqdn(&plan.domain);
            let served = Served {
                mx: Some(set(apex.clone(), Rtype::MX, mx_ttl, mx.iter().filter_map(|r| crate::dns::mx::parse_mx(r)).map(|(preference, host)| Record::Mx { preference, host }).collect())),
                txt: Some(set(apex, Rtype::TXT, txt_ttl, txt.iter().map(|t| Record::Txt(t.to_string())).collect())),
                dkim: crate::dns::target::dkim_name(&plan).map(|name| set(name, Rtype::TXT, 3600, if key { vec![Record::Txt(DKIM_KEY.into())] } else { vec![] })),
            };
            snapshot(&served)
        });
        for step in &STEPS {
            paste_and_card_agree(step, &plan, snapshot.as_ref())?;
        }
    }
}
