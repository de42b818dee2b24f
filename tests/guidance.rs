//! The guidance engine: step states, gates, waits and what to do next, from the journal and checks.

#[path = "support/plans.rs"]
mod plans;
#[path = "support/rounds.rs"]
mod rounds;

use cutover::check::{Kind, Status};
use cutover::dns::{DnsFacts, DnsSnapshot, MtaStsView};
use cutover::journal::Entry;
use cutover::journal::History;
use cutover::plan::Plan;
use cutover::runbook::eval::{Inputs, confirm_blockers};
use cutover::runbook::timeline::build;
use cutover::runbook::{Evaluation, Runbook, StepState, evaluate};
use cutover::step::StepId;
use jiff::{SignedDuration, Timestamp};
use plans::{PLAN, plan_from};

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn confirm(step: &str, at: &str) -> Entry {
    Entry::Confirm {
        at: t(at),
        operator: "tester".into(),
        step: step.into(),
        mailbox: None,
        evidence: vec![],
    }
}

/// The evaluation with the journal's `entries` and the DNS `round` (none: offline).
fn eval_with(plan: &Plan, entries: &[Entry], now: &str, round: Option<&DnsSnapshot>) -> Evaluation {
    let runbook = Runbook::for_plan(plan);
    let timeline = build(plan, &runbook);
    let history = History::from_entries(entries);
    evaluate(&Inputs {
        plan,
        runbook: &runbook,
        timeline: &timeline,
        history: &history,
        dns: round,
        mail: None,
        now: t(now),
    })
}

fn eval(plan: &Plan, entries: &[Entry], now: &str) -> Evaluation {
    eval_with(plan, entries, now, None)
}

/// The facts a DNS round first shows, as the watcher journals them.
fn dns_facts(plan: &Plan, round: &DnsSnapshot) -> Vec<Entry> {
    cutover::dns::dns_facts(plan, &DnsFacts::default(), round).1
}

/// Step lower-ttl confirmed at `at`, after the lowered TTL was first seen
/// served everywhere then (the journal's `ttl-lowered` fact starts R4's wait).
fn ttl_lowered_at(plan: &Plan, at: &str) -> Vec<Entry> {
    let mut entries = dns_facts(plan, &rounds::ttl_lowered(plan, t(at)));
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::Fact { key, .. } if key == "ttl-lowered")),
        "{entries:?}"
    );
    entries.push(confirm("lower-ttl", at));
    entries
}

fn state(e: &Evaluation, id: &str) -> StepState {
    e.step(&id.into()).expect("step").state
}

#[test]
fn a_fresh_plan_points_at_lower_ttl_with_the_records_to_paste() {
    let plan = plan_from(PLAN);
    let e = eval(&plan, &[], "2026-12-07T07:05:00Z");
    let next = e.next.clone().expect("a next step");
    assert_eq!(next.step, "lower-ttl");
    assert!(next.ready);
    assert!(next.blocked_by.is_empty());
    let actions = next.records.join("\n");
    assert!(
        actions.contains("example.com. 300 IN MX 10 mx1.old.example."),
        "{actions}"
    );
    assert!(
        actions.contains("example.com. 300 IN MX 20 mx2.old.example."),
        "{actions}"
    );
    assert!(
        actions.contains("example.com. 300 IN TXT \"v=spf1 include:_spf.old.example ~all\""),
        "{actions}"
    );
    assert_eq!(e.day, 1);
    assert_eq!(state(&e, "spf-add-new"), StepState::Pending);
    assert_eq!(state(&e, "new-server-ready"), StepState::Ready);
    assert!(next.also_ready.contains(&StepId::NewServerReady));
    // Nothing measured: the outcome checks are unknown, never green.
    let lower = e.step(&StepId::LowerTtl).expect("step");
    assert!(
        lower.checks.iter().all(|c| c.status == Status::Unknown),
        "{:?}",
        lower.checks
    );
}

#[test]
fn the_merged_spf_record_is_given_exactly() {
    let plan = plan_from(PLAN);
    let e = eval(
        &plan,
        &[confirm("lower-ttl", "2026-12-07T07:10:00Z")],
        "2026-12-07T07:15:00Z",
    );
    let next = e.next.expect("next");
    assert_eq!(next.step, "spf-add-new");
    assert!(
        next.records.iter().any(|a| a.trim()
            == "example.com. 300 IN TXT \"v=spf1 include:_spf.old.example include:_spf.new.example ~all\""),
        "{:?}",
        next.records
    );
}

#[test]
fn applied_steps_wait_for_their_outcome_and_come_first() {
    let plan = plan_from(PLAN);
    let applied = Entry::Applied {
        at: t("2026-12-07T07:01:00Z"),
        operator: "tester".into(),
        step: "lower-ttl".into(),
    };
    let e = eval(&plan, &[applied], "2026-12-07T07:05:00Z");
    assert_eq!(state(&e, "lower-ttl"), StepState::Applied);
    let next = e.next.expect("next");
    assert_eq!(next.step, "lower-ttl");
    assert!(!next.ready);
    let ids: Vec<&str> = next.blocked_by.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mx-ttl-lowered",
            "txt-ttl-lowered",
            "other-ttls-untouched",
            "ttl-honoured"
        ]
    );
    assert!(next.blocked_by.iter().all(|c| c.kind == Kind::Outcome));
}

#[test]
fn a_time_gate_makes_a_step_wait_with_a_countdown() {
    let plan = plan_from(PLAN);
    // The plan gives no old TTL and none was seen before the lowering: 24 h is assumed.
    let clears = t("2026-12-08T07:15:00Z");
    let entries = ttl_lowered_at(&plan, "2026-12-07T07:15:00Z");
    // Every resolver already holds the MX for at most the migration TTL.
    let round = rounds::ttl_lowered(&plan, t("2026-12-07T12:00:00Z"));
    let e = eval_with(&plan, &entries, "2026-12-07T12:00:00Z", Some(&round));
    let wait = e.step(&StepId::TtlWait).expect("step");
    assert_eq!(wait.state, StepState::Waiting);
    assert_eq!(wait.wait_until, Some(clears));
    // Once the time has come and the evidence holds, the automatic step is done by itself.
    let round = rounds::ttl_lowered(&plan, t("2026-12-08T07:16:00Z"));
    let e = eval_with(&plan, &entries, "2026-12-08T07:16:00Z", Some(&round));
    assert_eq!(state(&e, "ttl-wait"), StepState::Done);
}

#[test]
fn a_failing_gate_blocks_and_names_the_evidence() {
    let plan = plan_from(PLAN);
    // The domain's MTA-STS policy enforces the old MX hosts only.
    let mut round = rounds::ttl_lowered(&plan, t("2026-12-08T07:00:00Z"));
    round.mta_sts = Some(MtaStsView {
        txt: "v=STSv1; id=20261201".into(),
        policy: Some(
            "version: STSv1\nmode: enforce\nmx: mx1.old.example\nmx: mx2.old.example\nmax_age: 604800\n"
                .into(),
        ),
        error: None,
    });
    let entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
        "ttl-wait",
    ]
    .iter()
    .map(|s| confirm(s, "2026-12-07T08:00:00Z"))
    .collect();
    let e = eval_with(&plan, &entries, "2026-12-08T07:00:00Z", Some(&round));
    let add = e.step(&StepId::AddNewMx).expect("step");
    assert_eq!(add.state, StepState::Blocked);
    let blockers = confirm_blockers(add, false);
    assert!(
        blockers
            .iter()
            .any(|c| c.id == "mta-sts-covers-new" && c.evidence.contains("smtp.new.example")),
        "{blockers:?}"
    );
    let next = e.next.expect("next");
    assert_eq!(next.step, "add-new-mx");
    assert_eq!(next.blocked_by[0].id, "mta-sts-covers-new");
}

#[test]
fn the_final_copy_waits_24_hours_after_the_switch() {
    let plan = plan_from(PLAN);
    let switch = "2026-12-08T07:30:00Z";
    let mut entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "ttl-wait",
        "add-new-mx",
    ]
    .iter()
    .map(|s| confirm(s, "2026-12-07T08:00:00Z"))
    .collect();
    entries.push(confirm("remove-old-mx", switch));
    entries.push(confirm("monitor-24h", "2026-12-08T08:00:00Z"));
    let e = eval(&plan, &entries, "2026-12-08T09:00:00Z");
    let copy = e.step(&StepId::FinalCopy).expect("step");
    let gate = copy
        .checks
        .iter()
        .find(|c| c.id == "switch-24h-elapsed")
        .expect("R12 gate");
    assert_eq!(gate.status, Status::Fail);
    assert_eq!(
        gate.until,
        Some(
            t(switch)
                .checked_add(SignedDuration::from_hours(24))
                .expect("time")
        )
    );
    assert_eq!(copy.state, StepState::Waiting);
    let e = eval(&plan, &entries, "2026-12-09T07:31:00Z");
    let gate = e
        .step(&StepId::FinalCopy)
        .expect("step")
        .checks
        .iter()
        .find(|c| c.id == "switch-24h-elapsed")
        .cloned()
        .expect("gate");
    assert_eq!(gate.status, Status::Pass);
    assert_eq!(state(&e, "final-copy"), StepState::Ready);
}

#[test]
fn overrides_and_reopens_are_followed() {
    let plan = plan_from(PLAN);
    let over = Entry::Override {
        at: t("2026-12-07T07:20:00Z"),
        operator: "tester".into(),
        step: "lower-ttl".into(),
        mailbox: None,
        reason: "DNS host confirmed by phone".into(),
        evidence: vec![],
    };
    let e = eval(&plan, std::slice::from_ref(&over), "2026-12-07T07:30:00Z");
    assert_eq!(state(&e, "lower-ttl"), StepState::Overridden);
    // An overridden predecessor lets the next step go, with a warning.
    let spf = e.step(&StepId::SpfAddNew).expect("step");
    assert_eq!(spf.state, StepState::Ready);
    assert!(
        spf.checks
            .iter()
            .any(|c| c.id == "done:lower-ttl" && c.status == Status::Warn)
    );
    let reopen = Entry::Reopen {
        at: t("2026-12-07T07:40:00Z"),
        operator: "tester".into(),
        step: "lower-ttl".into(),
        mailbox: None,
    };
    let e = eval(&plan, &[over, reopen], "2026-12-07T07:45:00Z");
    assert_eq!(state(&e, "lower-ttl"), StepState::Ready);
    assert_eq!(state(&e, "spf-add-new"), StepState::Pending);
}

#[test]
fn per_mailbox_steps_count_ticks() {
    let plan = plan_from(PLAN);
    let mut entries: Vec<Entry> = ["new-server-ready", "users-connected"]
        .iter()
        .map(|s| confirm(s, "2026-12-07T08:00:00Z"))
        .collect();
    entries.push(Entry::Confirm {
        at: t("2026-12-07T09:00:00Z"),
        operator: "tester".into(),
        step: "clients-configured".into(),
        mailbox: Some("Alice@Example.com".into()),
        evidence: vec![],
    });
    let e = eval(&plan, &entries, "2026-12-07T10:00:00Z");
    let clients = e.step(&StepId::ClientsConfigured).expect("step");
    let ticks = clients.mailboxes.as_ref().expect("ticks");
    assert_eq!((ticks.ticked, ticks.total), (1, 2));
    let check = clients
        .checks
        .iter()
        .find(|c| c.id == "every-mailbox-ticked")
        .expect("check");
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.evidence.contains("bob@example.com"),
        "{}",
        check.evidence
    );
    // A tick needs only the gates; the whole step needs every tick.
    assert!(confirm_blockers(clients, true).is_empty());
    assert!(!confirm_blockers(clients, false).is_empty());
}

#[test]
fn plan_steps_join_the_runbook_after_the_step_they_name() {
    let plan = plan_from(&format!(
        "{PLAN}\n[[step]]\nid = \"printers\"\nday = 3\ntitle = \"Point the scanners at the new SMTP\"\nafter = \"monitor-24h\"\n"
    ));
    let runbook = Runbook::for_plan(&plan);
    let ids: Vec<&str> = runbook.steps.iter().map(|s| s.id.as_str()).collect();
    let at = ids.iter().position(|i| *i == "printers").expect("added");
    assert_eq!(ids[at - 1], "monitor-24h");
    let e = eval(&plan, &[], "2026-12-07T07:05:00Z");
    assert_eq!(state(&e, "printers"), StepState::Pending);
}

#[test]
fn status_json_has_the_documented_keys() {
    let plan = plan_from(PLAN);
    let e = eval(&plan, &[], "2026-12-07T07:05:00Z");
    let v = serde_json::to_value(&e).expect("json");
    assert_eq!(v["domain"], "example.com");
    assert_eq!(v["now"], "2026-12-07T09:05:00+02:00");
    assert_eq!(v["day"], 1);
    let step = &v["steps"][0];
    for key in ["id", "day", "title", "state", "checks"] {
        assert!(step.get(key).is_some(), "steps[].{key}");
    }
    let check = &step["checks"][0];
    assert_eq!(check["kind"], "outcome");
    assert_eq!(check["status"], "unknown");
    assert!(check["evidence"].is_string());
    for key in ["step", "ready", "blocked_by", "wait_until", "actions"] {
        assert!(v["next"].get(key).is_some(), "next.{key}");
    }
    assert_eq!(v["next"]["step"], "lower-ttl");
}

#[test]
fn an_automatic_step_seen_done_stays_done_once_journaled() {
    use cutover::runbook::eval::observed_steps;
    let plan = plan_from(PLAN);
    let mut entries = ttl_lowered_at(&plan, "2026-12-07T07:15:00Z");
    // A day later the old TTL has passed and the resolvers hold the MX for 5 min at most.
    let round = rounds::ttl_lowered(&plan, t("2026-12-08T08:00:00Z"));
    let e = eval_with(&plan, &entries, "2026-12-08T08:00:00Z", Some(&round));
    assert_eq!(state(&e, "ttl-wait"), StepState::Done);
    let history = History::from_entries(&entries);
    let facts = observed_steps(&e, &history, t("2026-12-08T08:00:00Z"));
    assert_eq!(facts.len(), 1, "one fact for the newly observed step");
    // Later the TTLs are restored and the resolvers hold the MX for a day again.
    let restored = rounds::resolvers_hold_mx_for(&plan, t("2026-12-10T08:00:00Z"), 86_400);
    let e = eval_with(&plan, &entries, "2026-12-10T08:00:00Z", Some(&restored));
    // (waiting on the resolvers' day-long caches, which clear by themselves)
    assert_eq!(
        state(&e, "ttl-wait"),
        StepState::Waiting,
        "without the fact it would flip back"
    );
    assert_eq!(
        e.step(&StepId::TtlWait).and_then(|s| s.wait_until),
        Some(t("2026-12-11T08:00:00Z"))
    );
    entries.extend(facts);
    let e = eval_with(&plan, &entries, "2026-12-10T08:00:00Z", Some(&restored));
    assert_eq!(state(&e, "ttl-wait"), StepState::Done);
    let history = History::from_entries(&entries);
    assert!(
        observed_steps(&e, &history, t("2026-12-10T08:00:00Z")).is_empty(),
        "recorded once"
    );
}

/// R8: an MX jump from old to new with old+new never observed is a warning in the next step
/// (not only in a later step's JSON), with when it was seen.
#[test]
fn an_unproven_mx_order_is_a_warning_in_the_next_step() {
    let plan = plan_from(PLAN);
    let jumped = Entry::Fact {
        at: t("2026-12-08T07:20:00Z"),
        key: "mx-order-unproven".into(),
        value: serde_json::json!({"from": "old", "to": "new"}),
        evidence: String::new(),
    };
    let e = eval(&plan, &[jumped], "2026-12-08T07:30:00Z");
    let next = e.next.expect("next");
    assert_eq!(next.warnings.len(), 1, "{:?}", next.warnings);
    assert!(
        next.warnings[0].starts_with("R8: at Tue 8 Dec 09:20")
            && next.warnings[0].contains("without old+new ever being observed"),
        "{:?}",
        next.warnings
    );
    let e = eval(&plan, &[], "2026-12-08T07:30:00Z");
    assert!(e.next.expect("next").warnings.is_empty());
}

/// After the MX jumped from old to new, the next step does not ask to delete records that
/// are already gone: it says what was observed.
#[test]
fn remove_old_mx_says_the_old_records_are_already_gone() {
    let plan = plan_from(PLAN);
    let at = "2026-12-08T07:20:00Z";
    let entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
        "ttl-wait",
        "add-new-mx",
    ]
    .iter()
    .map(|s| confirm(s, at))
    .collect();
    let new_only = rounds::answer(
        &plan.domain,
        cutover::dns::Rtype::MX,
        300,
        &["1 smtp.new.example."],
        t(at),
    );
    let served = std::slice::from_ref(&new_only);
    let round = rounds::round(&plan, t(at), served, served);
    let e = eval_with(&plan, &entries, "2026-12-08T07:30:00Z", Some(&round));
    let next = e.next.expect("next");
    assert_eq!(next.step, "remove-old-mx");
    assert!(
        next.actions[0].starts_with("The old MX records are already gone"),
        "{:?}",
        next.actions
    );
    // With the old MX still served, the usual instruction comes first.
    let both = rounds::answer(
        &plan.domain,
        cutover::dns::Rtype::MX,
        300,
        &[
            "10 mx1.old.example.",
            "20 mx2.old.example.",
            "1 smtp.new.example.",
        ],
        t(at),
    );
    let served = std::slice::from_ref(&both);
    let round = rounds::round(&plan, t(at), served, served);
    let e = eval_with(&plan, &entries, "2026-12-08T07:30:00Z", Some(&round));
    assert!(!e.next.expect("next").actions[0].starts_with("The old MX records are already gone"));
}

/// With `[canary]`, dkim-spf-final's guidance names the selector the provider really signs
/// with (found on the outbound canary the journal holds) and the key record to publish.
#[test]
fn dkim_spf_final_names_the_selector_found_on_the_outbound_canary() {
    let text = format!(
        "{PLAN}\n[new.submission]\nurl = \"smtp://smtp.new.example:587\"\n\n[canary]\nmailbox = \"alice@example.com\"\nexternal = {{ preset = \"gmail\", address = \"tester@gmail.test\" }}\n"
    );
    let plan = plan_from(&text);
    let applied = Entry::Applied {
        at: t("2026-12-08T09:00:00Z"),
        operator: "tester".into(),
        step: "dkim-spf-final".into(),
    };
    // As `cutover canary` journals an outbound canary signed with selector s2, no key there.
    let canary = Entry::Fact {
        at: t("2026-12-08T09:10:00Z"),
        key: "canary".into(),
        value: serde_json::json!({
            "route": "outbound", "token": "c1", "message_id": "cutover-canary-c1@example.com",
            "sent_at": "2026-12-08T09:09:00Z", "landed": "external", "folder": "INBOX",
            "verdict": "pass", "evidence": "landed on the external mailbox",
            "from_domain": "example.com",
            "dkim": {"result": "permerror", "domain": "example.com", "selector": "s2", "aligned": false,
                     "reason": "no key is published at s2._domainkey.example.com"},
            "signatures": [{"result": "permerror", "domain": "example.com", "selector": "s2", "aligned": false}],
            "spf": {"result": "pass", "ip": "192.0.2.3", "domain": "example.com", "aligned": true},
            "dmarc": {"result": "pass", "policy": "reject", "domain": "example.com"},
            "receiver": null, "warnings": []
        }),
        evidence: String::new(),
    };
    let e = eval(&plan, &[applied, canary], "2026-12-08T09:15:00Z");
    let next = e.next.as_ref().expect("next");
    assert_eq!(next.step, "dkim-spf-final");
    assert!(
        next.actions.iter().any(|a| a
            == "The last outbound canary was signed with DKIM selector s2 (not sel1 as the plan says): put `dkim_selector = \"s2\"` in [new] of the plan."),
        "{:?}",
        next.actions
    );
    assert!(
        next.actions.iter().any(
            |a| a.starts_with("Its key is not served: publish `s2._domainkey.example.com. TXT")
        ),
        "{:?}",
        next.actions
    );
    // The check itself waits for the records to be served before it judges.
    let check = e
        .step(&"dkim-spf-final".into())
        .and_then(|s| s.checks.iter().find(|c| c.id == "canary.outbound-auth"))
        .expect("canary.outbound-auth on dkim-spf-final");
    assert_eq!(check.status, Status::Unknown, "{check:?}");
    assert_eq!(check.kind, Kind::Outcome);
}
