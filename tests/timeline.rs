//! The timeline across weekends and clock changes.

#[path = "support/plans.rs"]
mod plans;

use cutover::runbook::Runbook;
use cutover::runbook::timeline::{build, rfc3339_string};
use cutover::step::StepId;
use plans::{PLAN, plan_from};

fn plan_starting(start: &str, extra: &str) -> cutover::plan::Plan {
    plan_from(&format!(
        "{extra}{}",
        PLAN.replace("2026-12-07T09:00", start)
    ))
}

#[test]
fn a_friday_start_puts_day_2_on_monday() {
    let plan = plan_starting("2026-12-11T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    let dates: Vec<String> = t.days.iter().map(|d| d.date.to_string()).collect();
    assert_eq!(dates, ["2026-12-11", "2026-12-14", "2026-12-15"]);
    let add = t.step(&StepId::AddNewMx).expect("step");
    assert_eq!(rfc3339_string(&add.start), "2026-12-14T09:00:00+02:00");
    // The TTL wait is real time: 24 h after lower-ttl ends, on the Saturday.
    let wait = t.waits.iter().find(|w| w.id == "ttl-wait").expect("wait");
    assert_eq!(rfc3339_string(&wait.start), "2026-12-11T09:15:00+02:00");
    assert_eq!(rfc3339_string(&wait.end), "2026-12-12T09:15:00+02:00");
}

#[test]
fn a_start_on_a_weekend_begins_on_the_next_working_day() {
    let plan = plan_starting("2026-12-12T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    assert_eq!(t.days[0].date.to_string(), "2026-12-14");
}

#[test]
fn the_spring_clock_change_keeps_local_times() {
    // Europe/Vilnius moves from +02:00 to +03:00 on Sunday 28 March 2027.
    let plan = plan_starting("2027-03-26T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    let lower = t.step(&StepId::LowerTtl).expect("step");
    assert_eq!(rfc3339_string(&lower.start), "2027-03-26T09:00:00+02:00");
    let add = t.step(&StepId::AddNewMx).expect("step");
    assert_eq!(rfc3339_string(&add.start), "2027-03-29T09:00:00+03:00");
    let copy = t.step(&StepId::FinalCopy).expect("step");
    assert_eq!(rfc3339_string(&copy.start), "2027-03-30T10:00:00+03:00");
}

#[test]
fn a_wait_across_the_clock_change_is_24_real_hours() {
    // Working every day, starting the Saturday before the change.
    let plan = plan_starting(
        "2027-03-27T09:00",
        "working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n",
    );
    let t = build(&plan, &Runbook::for_plan(&plan));
    let wait = t.waits.iter().find(|w| w.id == "ttl-wait").expect("wait");
    assert_eq!(rfc3339_string(&wait.start), "2027-03-27T09:15:00+02:00");
    // 24 real hours later the wall clock reads an hour more.
    assert_eq!(rfc3339_string(&wait.end), "2027-03-28T10:15:00+03:00");
    // Day 2 still starts at 09:00 local.
    assert_eq!(
        rfc3339_string(&t.step(&StepId::AddNewMx).expect("step").start),
        "2027-03-28T09:00:00+03:00"
    );
}

#[test]
fn the_autumn_clock_change_after_a_weekend() {
    // Back from +03:00 to +02:00 on Sunday 31 October 2027; start Friday the 29th.
    let plan = plan_starting("2027-10-29T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    assert_eq!(
        rfc3339_string(&t.step(&StepId::LowerTtl).expect("step").start),
        "2027-10-29T09:00:00+03:00"
    );
    assert_eq!(
        rfc3339_string(&t.step(&StepId::AddNewMx).expect("step").start),
        "2027-11-01T09:00:00+02:00"
    );
}

#[test]
fn timeline_json_has_the_documented_shape() {
    let plan = plan_starting("2026-12-07T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    let v = serde_json::to_value(&t).expect("json");
    assert_eq!(v["days"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["days"][0]["day"], 1);
    assert_eq!(v["days"][0]["date"], "2026-12-07");
    let first = &v["days"][0]["steps"][0];
    assert_eq!(first["id"], "lower-ttl");
    assert_eq!(
        first["title"],
        "Lower the TTL of MX and TXT records to 5 min"
    );
    assert_eq!(first["start"], "2026-12-07T09:00:00+02:00");
    assert_eq!(first["end"], "2026-12-07T09:15:00+02:00");
    let waits: Vec<&str> = v["waits"]
        .as_array()
        .expect("waits")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(waits, ["ttl-wait", "monitor-24h"]);
    assert_eq!(v["waits"][1]["start"], "2026-12-08T09:30:00+02:00");
    assert_eq!(v["waits"][1]["end"], "2026-12-09T09:30:00+02:00");
}

#[test]
fn a_known_old_ttl_sets_the_wait() {
    let plan = plan_starting("2026-12-07T09:00", "").clone();
    let mut plan = plan;
    plan.dns.old_ttl = Some(6 * 3600);
    let t = build(&plan, &Runbook::for_plan(&plan));
    let wait = t.waits.iter().find(|w| w.id == "ttl-wait").expect("wait");
    assert_eq!(rfc3339_string(&wait.end), "2026-12-07T15:15:00+02:00");
}

#[test]
fn text_and_markdown_list_each_step_once_and_the_waits_apart() {
    let plan = plan_starting("2026-12-07T09:00", "");
    let t = build(&plan, &Runbook::for_plan(&plan));
    let text = t.text();
    assert!(text.contains("Day 1 — Monday 7 December 2026"), "{text}");
    assert!(text.contains("  09:00–09:15  lower-ttl "), "{text}");
    assert_eq!(
        text.matches("ttl-wait").count(),
        1,
        "a wait is listed only under Waits: {text}"
    );
    assert!(
        text.contains("ttl-wait     Mon 7 Dec 09:15 → Tue 8 Dec 09:15 EET"),
        "{text}"
    );
    let md = t.markdown();
    assert!(
        md.contains("| 09:00–09:15 | `lower-ttl` | Lower the TTL of MX and TXT records to 5 min |"),
        "{md}"
    );
    assert!(
        md.contains("| `monitor-24h` | Tue 8 Dec 09:30 | Wed 9 Dec 09:30 EET |"),
        "{md}"
    );
}

/// Re-planned from the journal: a wait that ends on a Saturday moves the switch to Monday at
/// the day's start time, and the steps after it (the shutdown included) follow.
#[test]
fn a_wait_ending_on_a_weekend_moves_the_switch_to_the_next_working_day() {
    use cutover::journal::{Entry, History};
    use cutover::runbook::eval::{Inputs, evaluate};
    let plan = plan_from(
        &PLAN
            .replace("2026-12-07T09:00", "2026-12-10T09:00")
            .replace(
                "timeout = \"300ms\"",
                "timeout = \"300ms\"\nold_ttl = 172800",
            ),
    );
    let at: jiff::Timestamp = "2026-12-10T09:00:00Z".parse().unwrap();
    let mut entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
    ]
    .iter()
    .map(|s| Entry::Override {
        at,
        operator: "t".into(),
        step: (*s).into(),
        mailbox: None,
        reason: "test".into(),
        evidence: vec![],
    })
    .collect();
    entries.push(Entry::Fact {
        at,
        key: "ttl-lowered".into(),
        value: serde_json::json!({}),
        evidence: String::new(),
    });
    let runbook = Runbook::for_plan(&plan);
    let mut t = build(&plan, &runbook);
    let history = History::from_entries(&entries);
    let eval = evaluate(&Inputs {
        plan: &plan,
        runbook: &runbook,
        timeline: &t,
        history: &history,
        dns: None,
        mail: None,
        now: "2026-12-10T10:00:00Z".parse().unwrap(),
    });
    // The wait (48 h from Thursday 11:00) ends on Saturday.
    assert_eq!(
        eval.step(&StepId::TtlWait).unwrap().wait_until,
        Some("2026-12-12T09:00:00Z".parse().unwrap())
    );
    t.set_wait_ends(&eval.steps);
    t.replan(&plan, &runbook, &eval.steps, &history);
    let switch = t.step(&StepId::AddNewMx).unwrap();
    assert_eq!(rfc3339_string(&switch.start), "2026-12-11T09:00:00+02:00");
    assert_eq!(
        rfc3339_string(&switch.expected_start),
        "2026-12-14T09:00:00+02:00"
    );
    let shutdown = t.step(&StepId::DecommissionOld).unwrap();
    assert!(shutdown.expected_start.date() > shutdown.start.date());
    assert!(
        t.text().contains("(moved to Mon 14 Dec 09:00–"),
        "{}",
        t.text()
    );
    // Done steps keep their planned slot.
    assert!(!t.step(&StepId::NewServerReady).unwrap().moved());
}
