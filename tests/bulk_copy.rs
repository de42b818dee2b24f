//! The `bulk-copy` step (issue 14): an early copy on day 1, after new-server-ready, that no
//! step waits for; done by the copy's verified report or an operator's tick; its reminder
//! rides on the leading step, stressed when a mailbox's copy takes more than a few hours.

#[path = "support/plans.rs"]
mod plans;

use cutover::actions::confirmation_entry;
use cutover::journal::{Entry, History};
use cutover::mail::MailboxProbe;
use cutover::plan::Plan;
use cutover::runbook::eval::{Inputs, observed_steps};
use cutover::runbook::timeline::build;
use cutover::runbook::{Evaluation, Runbook, StepState, evaluate};
use cutover::step::StepId;
use jiff::Timestamp;
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

fn eval(plan: &Plan, entries: &[Entry], mail: Option<&[MailboxProbe]>, now: &str) -> Evaluation {
    let runbook = Runbook::for_plan(plan);
    let timeline = build(plan, &runbook);
    let history = History::from_entries(entries);
    evaluate(&Inputs {
        plan,
        runbook: &runbook,
        timeline: &timeline,
        history: &history,
        dns: None,
        mail,
        now: t(now),
    })
}

/// A probe whose old side holds `old_bytes` (logins fine, nothing copied).
fn probe(address: &str, old_bytes: u64) -> MailboxProbe {
    use cutover::mail::LoginState;
    use cutover::mail::probe::SideProbe;
    let side = || SideProbe {
        login: LoginState::Ok,
        messages: Some(10),
        folders: vec![],
        error: None,
        inbox: None,
        inbox_newest_at: None,
    };
    MailboxProbe {
        address: address.into(),
        old: side(),
        new: side(),
        synced_percent: None,
        fetch_detected: None,
        fetch_share: None,
        verified: None,
        old_bytes: Some(old_bytes),
        probed_at: t("2026-12-07T10:00:00Z"),
    }
}

fn verified_copy(address: &str, at: &str) -> Entry {
    Entry::Sync {
        at: t(at),
        mailbox: address.into(),
        pid: 1,
        state: "verified".into(),
        messages_done: 10,
        messages_left: 0,
        bytes_done: 1000,
        detail: None,
    }
}

#[test]
fn bulk_copy_is_on_day_one_after_new_server_ready_and_no_step_waits_for_it() {
    let plan = plan_from(PLAN);
    let runbook = Runbook::for_plan(&plan);
    let step = runbook.step(&StepId::BulkCopy).expect("the step");
    assert_eq!(step.day, 1);
    assert_eq!(step.after, ["new-server-ready"]);
    assert!(step.gate.is_empty());
    for other in &runbook.steps {
        assert!(
            !other.after.iter().any(|a| a == "bulk-copy"),
            "{} waits for bulk-copy",
            other.id
        );
    }
    let timeline = build(&plan, &runbook);
    let planned = timeline.step(&StepId::BulkCopy).expect("on the timeline");
    assert_eq!(planned.start.date(), timeline.days[0].date, "day 1");
    let ready = timeline.step(&StepId::NewServerReady).expect("step");
    assert!(planned.start >= ready.end, "after new-server-ready");
}

#[test]
fn bulk_copy_blocks_nothing_and_never_leads_while_another_step_is_open() {
    let plan = plan_from(PLAN);
    let day1 = [
        confirm("lower-ttl", "2026-12-07T07:10:00Z"),
        confirm("spf-add-new", "2026-12-07T07:20:00Z"),
        confirm("new-server-ready", "2026-12-07T08:00:00Z"),
    ];
    let e = eval(&plan, &day1, None, "2026-12-07T10:00:00Z");
    let bulk = e.step(&StepId::BulkCopy).expect("step");
    // Not copied yet: ready (never blocked), its outcome unknown, not green.
    assert_eq!(bulk.state, StepState::Ready);
    let next = e.next.expect("next");
    assert_ne!(
        next.step, "bulk-copy",
        "it leads only when nothing else is open"
    );
    assert!(next.also_ready.contains(&StepId::BulkCopy));
    // Every later step runs through to the end without it.
    let all_but_bulk: Vec<Entry> = StepId::BUILT_IN
        .iter()
        .filter(|s| **s != StepId::BulkCopy)
        .map(|s| confirm(s.as_str(), "2026-12-09T12:00:00Z"))
        .collect();
    let e = eval(&plan, &all_but_bulk, None, "2026-12-09T13:00:00Z");
    for s in &e.steps {
        assert!(
            s.checks.iter().all(|c| c.id != "done:bulk-copy"),
            "{} has a gate on bulk-copy",
            s.id
        );
        if s.id != "bulk-copy" {
            assert!(s.state.is_finished(), "{}: {:?}", s.id, s.state);
        }
    }
    // Then, and only then, it is the step the guidance names.
    assert_eq!(e.next.expect("next").step, "bulk-copy");
}

#[test]
fn the_guidance_stresses_the_bulk_copy_when_a_mailbox_takes_hours_and_mentions_it_otherwise() {
    let mut plan = plan_from(PLAN);
    plan.sync.bytes_per_day_per_mailbox = Some(2_500_000_000);
    let day1 = [
        confirm("lower-ttl", "2026-12-07T07:10:00Z"),
        confirm("spf-add-new", "2026-12-07T07:20:00Z"),
        confirm("new-server-ready", "2026-12-07T08:00:00Z"),
    ];
    // 7 GB behind 2.5 GB a day: two full windows and the rest, about 2 days.
    let big = [
        probe("alice@example.com", 7_000_000_000),
        probe("bob@example.com", 50_000_000),
    ];
    let e = eval(&plan, &day1, Some(&big), "2026-12-07T10:00:00Z");
    let actions = e.next.expect("next").actions.join("\n");
    assert!(
        actions.contains("Start the bulk copy now (`cutover sync --detach`, or `s`): the largest mailbox needs about 2 d")
            && actions.contains("the final copy after the switch + 24 h then copies only the rest")
            && actions.contains("2.5 GB per mailbox per 24 h")
            && actions.contains("(assumed: no copy has measured it yet)"),
        "{actions}"
    );
    // Small mailboxes: a mention with the estimate, not a call to act now.
    let small = [
        probe("alice@example.com", 40_000_000),
        probe("bob@example.com", 50_000_000),
    ];
    let e = eval(&plan, &day1, Some(&small), "2026-12-07T10:00:00Z");
    let actions = e.next.expect("next").actions.join("\n");
    assert!(
        actions.contains("Also: a bulk copy may run any time now")
            && actions.contains("Copy estimate: 25 s for 90 MB"),
        "{actions}"
    );
    assert!(!actions.contains("Start the bulk copy now"), "{actions}");
    // Not probed: the estimate says it is unknown, and why.
    let e = eval(&plan, &day1, None, "2026-12-07T10:00:00Z");
    let actions = e.next.expect("next").actions.join("\n");
    assert!(
        actions.contains(
            "Copy estimate: unknown: the old server's size of 2 of 2 mailboxes is not measured yet."
        ),
        "{actions}"
    );
    // Before new-server-ready it is pending, and nothing reminds of it.
    let e = eval(&plan, &day1[..2], Some(&big), "2026-12-07T07:30:00Z");
    assert_eq!(
        e.step(&StepId::BulkCopy).expect("step").state,
        StepState::Pending
    );
    assert!(
        !e.next
            .expect("next")
            .actions
            .join("\n")
            .contains("bulk copy")
    );
}

#[test]
fn the_copy_s_verified_report_or_an_operator_tick_completes_it() {
    let plan = plan_from(PLAN);
    let mut entries = vec![
        confirm("lower-ttl", "2026-12-07T07:10:00Z"),
        confirm("spf-add-new", "2026-12-07T07:20:00Z"),
        confirm("new-server-ready", "2026-12-07T08:00:00Z"),
    ];
    // An operator's tick is accepted before any copy is verified.
    let e = eval(&plan, &entries, None, "2026-12-07T10:00:00Z");
    let bulk = e.step(&StepId::BulkCopy).expect("step");
    let tick = confirmation_entry(bulk, None, None, "tester", t("2026-12-07T10:00:00Z"), &[])
        .expect("a tick needs no verified copy");
    assert!(matches!(tick, Entry::Confirm { .. }));
    let mut ticked = entries.clone();
    ticked.push(tick);
    let e = eval(&plan, &ticked, None, "2026-12-07T10:01:00Z");
    assert_eq!(
        e.step(&StepId::BulkCopy).expect("step").state,
        StepState::Done
    );

    // Or the copy's verified report: done by itself, with the copy as evidence, journaled.
    entries.push(verified_copy("alice@example.com", "2026-12-07T11:00:00Z"));
    let e = eval(&plan, &entries, None, "2026-12-07T11:05:00Z");
    let bulk = e.step(&StepId::BulkCopy).expect("step");
    assert_eq!(bulk.state, StepState::Ready, "bob is not copied yet");
    let check = bulk.checks.iter().find(|c| c.id == "bulk-copy-verified");
    assert!(
        check.is_some_and(|c| c.evidence.contains("bob@example.com (not copied)")),
        "{check:?}"
    );
    entries.push(verified_copy("bob@example.com", "2026-12-07T11:10:00Z"));
    let e = eval(&plan, &entries, None, "2026-12-07T11:15:00Z");
    let bulk = e.step(&StepId::BulkCopy).expect("step");
    assert_eq!(bulk.state, StepState::Done);
    assert!(
        bulk.checks.iter().any(|c| c
            .evidence
            .starts_with("all 2 mailboxes verified complete by the copy")),
        "{:?}",
        bulk.checks
    );
    let history = History::from_entries(&entries);
    let observed = observed_steps(&e, &history, t("2026-12-07T11:15:00Z"));
    assert!(
        observed
            .iter()
            .any(|f| matches!(f, Entry::Fact { value, .. } if value["step"] == "bulk-copy")),
        "{observed:?}"
    );
}
