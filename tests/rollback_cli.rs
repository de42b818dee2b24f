//! `cutover rollback` as an operator uses it: refused before the switch, journaled with who,
//! when and why, the way back in `status` and `status --json` (forward steps `rolled-back`),
//! `rollback-clients` only for the users who removed the old account, and `--retry`.

#[path = "support/plans.rs"]
mod plans;

use std::path::Path;
use std::process::{Command, Output};

use cutover::journal::{Entry, Journal};
use cutover::step::StepId;
use plans::{PLAN, write_plan};

fn cutover(plan: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn journal(plan: &Path) -> Journal {
    Journal::open(Journal::path_for_plan(plan)).expect("journal")
}

fn confirm(plan: &Path, step: StepId, mailbox: Option<&str>) {
    journal(plan)
        .append(&Entry::Confirm {
            at: "2026-12-08T10:00:00Z".parse().expect("time"),
            operator: "tester".into(),
            step,
            mailbox: mailbox.map(str::to_string),
            evidence: vec![],
        })
        .expect("append");
}

fn status_json(plan: &Path) -> serde_json::Value {
    let out = cutover(plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn state_of(v: &serde_json::Value, id: &str) -> String {
    v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .map(|s| s["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| "absent".into())
}

#[test]
fn rollback_is_journaled_and_the_way_back_follows_in_status_until_retry() {
    let (_dir, plan) = write_plan(PLAN);
    // Before the switch: nothing to roll back (exit 1), and a short reason is a usage error.
    let out = cutover(&plan, &["rollback", "--reason", "new server is broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nothing to roll back"),
        "{}",
        text(&out)
    );
    for step in [
        StepId::LowerTtl,
        StepId::SpfAddNew,
        StepId::TtlWait,
        StepId::AddNewMx,
        StepId::RemoveOldMx,
        StepId::DkimSpfFinal,
    ] {
        confirm(&plan, step, None);
    }
    confirm(&plan, StepId::RemoveOldAccounts, Some("bob@example.com"));
    let out = cutover(&plan, &["rollback", "--reason", "short"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = cutover(
        &plan,
        &["rollback", "--reason", "the new server refuses every login"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("rollback-spf"), "{}", text(&out));
    assert!(text(&out).contains("Next: rollback-spf"), "{}", text(&out));
    let entries = journal(&plan).replay().expect("replay").entries;
    let decision = entries
        .iter()
        .find_map(|e| match e {
            Entry::Fact { key, value, .. } if key == "rollback" => Some(value.clone()),
            _ => None,
        })
        .expect("the decision is journaled");
    assert_eq!(decision["reason"], "the new server refuses every login");
    assert!(decision["operator"].is_string());

    let v = status_json(&plan);
    assert_eq!(v["next"]["step"], "rollback-spf");
    for id in [
        "add-new-mx",
        "remove-old-mx",
        "dkim-spf-final",
        "decommission-old",
    ] {
        assert_eq!(state_of(&v, id), "rolled-back", "{id}");
    }
    assert_eq!(state_of(&v, "lower-ttl"), "done");
    // restore-ttl was not done: no TTL to lower again.
    assert_eq!(state_of(&v, "rollback-lower-ttl"), "absent");
    assert_eq!(state_of(&v, "rollback-add-old-mx"), "pending");
    assert_eq!(state_of(&v, "rollback-clients"), "pending");
    // Only bob removed the old account: only bob is asked about.
    let clients = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "rollback-clients")
        .expect("rollback-clients")
        .clone();
    let evidence = clients["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "rollback-clients-ticked")
        .expect("its check")["evidence"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        evidence.contains("bob@example.com") && !evidence.contains("alice"),
        "{evidence}"
    );
    // The rollback steps are steps like any other: applied, confirmed, in the text too.
    let out = cutover(&plan, &["applied", "rollback-spf"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(&plan, &["status", "--offline"]);
    let shown = text(&out);
    // The way back has no day of its own: "back" stands where the forward steps say theirs,
    // and the columns stay aligned with the longer state and ids.
    let line = |id: &str| {
        shown
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(id))
            .unwrap_or_else(|| panic!("{id} in\n{shown}"))
            .to_string()
    };
    let spf = line("rollback-spf");
    assert!(spf.contains(" applied     back rollback-spf "), "{shown}");
    assert!(
        line("add-new-mx").contains(" rolled-back d2   add-new-mx "),
        "{shown}"
    );
    let column = |l: &str, id: &str| l[..l.find(id).expect("id")].chars().count();
    assert_eq!(
        column(&spf, "rollback-spf"),
        column(&line("rollback-remove-new-mx"), "rollback-remove-new-mx"),
        "{shown}"
    );
    assert!(
        !shown.contains("a bulk copy may run"),
        "no forward copy reminder: {shown}"
    );
    // A second rollback while one stands is refused.
    let out = cutover(&plan, &["rollback", "--reason", "again, to be sure of it"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let out = cutover(
        &plan,
        &[
            "rollback",
            "--retry",
            "--reason",
            "the provider fixed the logins",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = status_json(&plan);
    assert_eq!(state_of(&v, "rollback-spf"), "absent");
    assert_eq!(state_of(&v, "add-new-mx"), "pending");
    assert_eq!(state_of(&v, "remove-old-mx"), "pending");
    assert_eq!(state_of(&v, "lower-ttl"), "done");
}

#[test]
fn rollback_stay_ends_the_migration_on_the_old_server_with_two_more_steps() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(
        &plan,
        &["rollback", "--stay", "--reason", "we stay on the old host"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no rollback stands"), "{}", text(&out));
    confirm(&plan, StepId::AddNewMx, None);
    let out = cutover(
        &plan,
        &["rollback", "--reason", "the new host lost our tenant"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(
        &plan,
        &["rollback", "--stay", "--reason", "we stay on the old host"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stay-spf-old-only"), "{}", text(&out));
    let v = status_json(&plan);
    assert_eq!(state_of(&v, "stay-spf-old-only"), "pending");
    assert_eq!(state_of(&v, "stay-restore-ttl"), "pending");
    assert_eq!(state_of(&v, "add-new-mx"), "rolled-back");
    let out = cutover(
        &plan,
        &["rollback", "--stay", "--reason", "we stay on the old host"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = cutover(
        &plan,
        &["rollback", "--stay", "--retry", "--reason", "both at once"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
