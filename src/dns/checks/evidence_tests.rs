use super::*;
use crate::dns::query::{Answer, AnswerStatus};
use crate::dns::watch::{Role, ServerView};
use crate::journal::Entry;
use crate::journal::dns_facts::keys;
use crate::step::StepId;

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
        ns_host: None,
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
        StepId::LowerTtl,
        StepId::TtlWait,
        StepId::AddNewMx,
        StepId::RemoveOldMx,
        StepId::RestoreTtl,
    ]
    .into_iter()
    .find(|s| check_ids(s).iter().any(|(c, _)| *c == id))
    .expect("a step has the check");
    step_checks(&step, &plan, Some(snap), facts, applied, at())
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
    assert_says(&c, Status::Fail, &[AUTH, "TTL 24 h", ", 1 h after", "R3"]);
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

#[test]
fn evidence_names_a_server_by_its_plan_name_with_its_address() {
    let mut plan = tests_support::plan(Some(86_400));
    plan.dns
        .names
        .insert(RESOLVER.parse().unwrap(), "office".into());
    let snap = zone(&[OLD], 300, 3_600);
    let c = step_checks(
        &StepId::TtlWait,
        &plan,
        Some(&snap),
        &lowered_facts(),
        None,
        at(),
    )
    .into_iter()
    .find(|c| c.id == "resolvers-ttl-low")
    .expect("the check");
    assert_says(
        &c,
        Status::Fail,
        &["office (127.0.0.1:5301) still holds the MX"],
    );
}
