//! The headless CLI as an operator uses it: status, applied, confirm with gates and overrides,
//! reopen, the driver lock, and confirmations that survive `kill -9`.

#[path = "support/plans.rs"]
mod plans;

use cutover::step::StepId;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cutover::journal::{Drive, Driver, DriverLock, Entry, Journal};
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

fn journal_of(plan: &Path) -> Vec<Entry> {
    Journal::open(Journal::path_for_plan(plan))
        .expect("journal")
        .replay()
        .expect("replay")
        .entries
}

#[test]
fn status_json_for_a_fresh_plan_points_at_lower_ttl() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(v["domain"], "example.com");
    assert_eq!(v["next"]["step"], "lower-ttl");
    assert_eq!(v["next"]["ready"], true);
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(18));
    let text_out = cutover(&plan, &["status", "--offline"]);
    assert_eq!(text_out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text_out.stdout).contains("Next: lower-ttl"));
}

#[test]
fn an_invalid_plan_exits_2_everywhere() {
    let (_dir, plan) = write_plan(&PLAN.replace("Europe/Vilnius", "Nowhere/Land"));
    for args in [
        vec!["status", "--offline"],
        vec!["confirm", "lower-ttl"],
        vec!["timeline"],
        vec!["check"],
    ] {
        let out = cutover(&plan, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("cutover.toml:3:12: unknown time zone"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_gate_refuses_confirmation_and_an_override_records_its_reason_verbatim() {
    let (_dir, plan) = write_plan(PLAN);
    // spf-add-new needs lower-ttl first.
    let out = cutover(&plan, &["confirm", "spf-add-new", "--offline"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("refused: spf-add-new cannot be confirmed"),
        "{msg}"
    );
    assert!(
        msg.contains("done:lower-ttl (fail): lower-ttl is not done yet (ready)"),
        "{msg}"
    );
    assert!(journal_of(&plan).is_empty(), "a refusal records nothing");

    let reason = "Provider's TTL screen is broken; ticket #4711 — confirmed by phone «ok»";
    let out = cutover(
        &plan,
        &["confirm", "spf-add-new", "--offline", "--override", reason],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entries = journal_of(&plan);
    match &entries[..] {
        [
            Entry::Override {
                step,
                reason: r,
                evidence,
                operator,
                ..
            },
        ] => {
            assert_eq!(step, "spf-add-new");
            assert_eq!(r, reason);
            assert_eq!(operator, "tester");
            assert!(
                evidence.iter().any(|c| c.id == "done:lower-ttl"),
                "the evidence shown is recorded"
            );
        }
        other => panic!("expected one override, got {other:?}"),
    }
    let v: serde_json::Value =
        serde_json::from_slice(&cutover(&plan, &["status", "--json", "--offline"]).stdout)
            .expect("json");
    let spf = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "spf-add-new")
        .cloned()
        .expect("step");
    assert_eq!(spf["state"], "overridden");

    // An empty reason is no reason.
    let out = cutover(
        &plan,
        &["confirm", "lower-ttl", "--offline", "--override", "  "],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn outcome_checks_that_were_not_measured_refuse_confirmation() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(&plan, &["confirm", "lower-ttl", "--offline"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("mx-ttl-lowered (unknown)"),
        "{}",
        text(&out)
    );
}

#[test]
fn applied_then_reopen_and_per_mailbox_ticks() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(&plan, &["applied", "lower-ttl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&cutover(&plan, &["status", "--json", "--offline"]).stdout)
            .expect("json");
    assert_eq!(v["steps"][0]["state"], "applied");
    assert_eq!(v["next"]["step"], "lower-ttl");

    let out = cutover(&plan, &["reopen", "lower-ttl"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_slice(&cutover(&plan, &["status", "--json", "--offline"]).stdout)
            .expect("json");
    assert_eq!(v["steps"][0]["state"], "ready");

    for step in ["new-server-ready", "users-connected"] {
        assert_eq!(
            cutover(
                &plan,
                &["confirm", step, "--offline", "--override", "set up by hand"]
            )
            .status
            .code(),
            Some(0)
        );
    }
    let out = cutover(
        &plan,
        &[
            "confirm",
            "clients-configured",
            "--mailbox",
            "ALICE@example.com",
            "--offline",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(
        &plan,
        &[
            "confirm",
            "clients-configured",
            "--mailbox",
            "carol@example.com",
            "--offline",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown mailbox is a usage error"
    );
    // The whole step still lacks bob.
    let out = cutover(&plan, &["confirm", "clients-configured", "--offline"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("bob@example.com"), "{}", text(&out));
    assert_eq!(
        cutover(
            &plan,
            &[
                "confirm",
                "clients-configured",
                "--mailbox",
                "bob@example.com",
                "--offline"
            ]
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        cutover(&plan, &["confirm", "clients-configured", "--offline"])
            .status
            .code(),
        Some(0)
    );
    let out = cutover(&plan, &["applied", "no-such-step"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("the steps are: lower-ttl"));
}

#[test]
fn while_another_process_drives_confirm_applied_and_reopen_are_refused() {
    let (_dir, plan) = write_plan(PLAN);
    let journal = Journal::path_for_plan(&plan);
    let me = Driver {
        user: "night-shift".into(),
        pid: std::process::id(),
        host: "jump1".into(),
        since: jiff::Timestamp::now(),
    };
    let guard = match DriverLock::acquire(&journal, me).expect("lock") {
        Drive::Driving(g) => g,
        Drive::Observing(d) => panic!("nobody should drive yet, but {d} does"),
    };
    for args in [
        vec!["confirm", "lower-ttl", "--override", "x"],
        vec!["applied", "lower-ttl"],
        vec!["reopen", "lower-ttl"],
    ] {
        let out = cutover(&plan, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let msg = text(&out);
        assert!(msg.contains("driven by night-shift (pid"), "{msg}");
        assert!(msg.contains("on jump1"), "{msg}");
    }
    // Reading is always allowed.
    assert_eq!(
        cutover(&plan, &["status", "--offline"]).status.code(),
        Some(0)
    );
    drop(guard);
    assert_eq!(
        cutover(&plan, &["applied", "lower-ttl"]).status.code(),
        Some(0)
    );
}

/// Kills `cutover confirm` at random moments; every confirmation it reported
/// ("Recorded: …" on stdout, printed only after the fsync) must be in the
/// journal, and the journal must always replay.
#[test]
fn confirmations_survive_kill_9() {
    let mut plan_text = PLAN.to_string();
    for i in 0..40 {
        plan_text.push_str(&format!(
            "\n[[mailbox]]\naddress = \"user{i}@example.com\"\n"
        ));
    }
    let (_dir, plan) = write_plan(&plan_text);
    for step in ["new-server-ready", "users-connected"] {
        assert_eq!(
            cutover(
                &plan,
                &[
                    "confirm",
                    step,
                    "--offline",
                    "--override",
                    "prepared by hand"
                ]
            )
            .status
            .code(),
            Some(0)
        );
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cutover"));
    let mut reported = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for i in 0..40 {
        let mailbox = format!("user{i}@example.com");
        let mut child = Command::new(&bin)
            .args([
                "confirm",
                "clients-configured",
                "--offline",
                "--mailbox",
                &mailbox,
                "--plan",
            ])
            .arg(&plan)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 12_000));
        // Every fourth one is left to finish, so some confirmations complete
        // however slow a loaded machine makes each process.
        if i % 4 != 3 && child.try_wait().expect("wait").is_none() {
            let _ = child.kill();
            kills += 1;
        }
        let out = child.wait_with_output().expect("output");
        if String::from_utf8_lossy(&out.stdout).contains("Recorded:") {
            reported.push(mailbox.clone());
        }
        // The journal replays after every kill (a torn tail at most, set aside).
        let entries = Journal::open(Journal::path_for_plan(&plan))
            .expect("journal")
            .replay()
            .expect("replay")
            .entries;
        let ticked: Vec<String> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Confirm {
                    mailbox: Some(m), ..
                } => Some(m.clone()),
                _ => None,
            })
            .collect();
        for m in &reported {
            assert!(
                ticked.contains(m),
                "{m} was reported confirmed but is not in the journal"
            );
        }
    }
    assert!(
        kills >= 5,
        "the test must actually kill some processes (killed {kills})"
    );
    assert!(!reported.is_empty(), "some confirmations must complete");
}

/// The TTL lowered 1 h 48 min after its slot: the wait ends 24 h (the old TTL) after the
/// lowering, and JSON, `status` text and `cutover timeline` give that one time.
#[test]
fn a_late_lowering_gives_one_wait_end_on_every_surface() {
    use jiff::{SignedDuration, Timestamp, Unit};
    let now = Timestamp::now();
    let start = now
        .checked_sub(SignedDuration::from_hours(3))
        .unwrap()
        .round(Unit::Minute)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let lowered = start
        .timestamp()
        .checked_add(SignedDuration::from_mins(108))
        .unwrap();
    let clears = lowered.checked_add(SignedDuration::from_hours(24)).unwrap();
    let text_plan = PLAN
        .replace(
            "start = \"2026-12-07T09:00\"",
            &format!("start = \"{}\"", start.strftime("%Y-%m-%dT%H:%M")),
        )
        .replace(
            "timezone = \"Europe/Vilnius\"",
            "timezone = \"UTC\"\nworking_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]",
        )
        .replace("timeout = \"300ms\"", "timeout = \"300ms\"\nold_ttl = 86400");
    let (_dir, plan) = write_plan(&text_plan);
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    for step in [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
    ] {
        journal
            .append(&Entry::Override {
                at: lowered,
                operator: "tester".into(),
                step: step.into(),
                mailbox: None,
                reason: "test".into(),
                evidence: vec![],
            })
            .expect("append");
    }
    journal
        .append(&Entry::Fact {
            at: lowered,
            key: "ttl-lowered".into(),
            value: serde_json::json!({"mx_ttl": 300, "txt_ttl": 300, "servers": 1}),
            evidence: "MX and TXT served with TTL 300 by 1 of 1 authoritative servers".into(),
        })
        .expect("append");

    let out = cutover(&plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "ttl-wait")
        .unwrap();
    assert_eq!(step["state"], "waiting", "{step}");
    let at = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<Timestamp>().ok());
    assert_eq!(at(&step["wait_until"]), Some(clears), "{step}");
    assert_eq!(v["next"]["step"], "ttl-wait");
    assert_eq!(at(&v["next"]["wait_until"]), Some(clears));
    // Every step carries wait_until, null when it does not wait.
    assert!(
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("wait_until").is_some())
    );
    assert!(v["steps"][0]["wait_until"].is_null());

    let shown = clears
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a %-d %b %H:%M UTC")
        .to_string();
    let status = text(&cutover(&plan, &["status", "--offline"]));
    assert!(
        status.contains(&format!("Waiting until {shown}")),
        "{shown}\n{status}"
    );
    assert!(status.contains(&format!("— until {shown}")), "{status}");

    let timeline = text(&cutover(&plan, &["timeline"]));
    assert!(timeline.contains(&format!("clears {shown}")), "{timeline}");
    let out = cutover(&plan, &["timeline", "--format", "json"]);
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(t["waits"][0]["id"], "ttl-wait");
    assert_eq!(at(&t["waits"][0]["wait_until"]), Some(clears));
    assert!(t["waits"][1]["wait_until"].is_null());

    // The schedule re-planned from the journal: the switch moves to when the wait ends.
    let step = |id: &str| {
        t["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["steps"].as_array().unwrap())
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let switch = step(StepId::AddNewMx.as_str());
    let planned_switch = at(&switch["start"]).unwrap();
    assert_eq!(
        planned_switch,
        start
            .timestamp()
            .checked_add(SignedDuration::from_hours(24))
            .unwrap(),
        "{switch}"
    );
    assert_eq!(at(&switch["expected_start"]), Some(clears), "{switch}");
    assert_eq!(
        at(&switch["expected_end"]),
        clears.checked_add(SignedDuration::from_mins(15)).ok(),
        "{switch}"
    );
    let ttl_wait = step(StepId::TtlWait.as_str());
    assert_eq!(at(&ttl_wait["expected_end"]), Some(clears), "{ttl_wait}");
    // Steps already done keep their place; the lower-ttl slot is unchanged in the plan.
    let lower = step(StepId::LowerTtl.as_str());
    assert_eq!(at(&lower["start"]), Some(start.timestamp()));
    let later = step(StepId::RemoveOldMx.as_str());
    assert!(
        at(&later["expected_start"]) >= at(&switch["expected_end"]),
        "{later}"
    );
    let moved_to = clears
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("(moved to %a %-d %b %H:%M")
        .to_string();
    assert!(timeline.contains(&moved_to), "{moved_to}\n{timeline}");
    let md = text(&cutover(&plan, &["timeline", "--format", "markdown"]));
    assert!(md.contains(&moved_to), "{md}");

    // The notice announces the expected switch, saying it moved.
    let notice = text(&cutover(&plan, &["notice"]));
    let switch_words = format!(
        "From {} (moved from {}), new mail arrives only in the new mailbox",
        clears
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%A %-d %B at %H:%M"),
        planned_switch
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%A %-d %B at %H:%M")
    );
    assert!(
        notice
            .replace('\n', " ")
            .replace("  ", " ")
            .contains(&switch_words),
        "{switch_words}\n{notice}"
    );
}

/// `applied` warns, never refuses, when the step's gates do not hold yet, naming them.
#[test]
fn applied_before_the_gates_hold_warns_naming_them_and_records() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(&plan, &["applied", "add-new-mx"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: add-new-mx's gates do not hold yet: done:ttl-wait (fail)"),
        "{err}"
    );
    assert!(err.contains("done:spf-add-new (fail)"), "{err}");
    assert!(
        journal_of(&plan)
            .iter()
            .any(|e| matches!(e, Entry::Applied { step, .. } if step == "add-new-mx"))
    );
    // A step whose gates hold says nothing of the kind.
    let out = cutover(&plan, &["applied", "lower-ttl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
}

/// An override's reason is at least 10 characters, blanks around it not counted: an empty,
/// blank or short one is a usage error (exit 2) that says so, and records nothing.
#[test]
fn an_override_needs_a_reason_of_at_least_10_characters() {
    let (_dir, plan) = write_plan(PLAN);
    for reason in ["", "   ", "y", "  too short  "] {
        let out = cutover(
            &plan,
            &["confirm", "lower-ttl", "--offline", "--override", reason],
        );
        assert_eq!(out.status.code(), Some(2), "{reason:?}: {}", text(&out));
        let msg = text(&out);
        assert!(
            msg.contains("--override needs a reason of at least 10 characters"),
            "{msg}"
        );
        assert!(
            journal_of(&plan).is_empty(),
            "{reason:?} recorded something"
        );
    }
    let out = cutover(&plan, &["confirm", "lower-ttl", "--override", ""]);
    assert!(text(&out).contains("not an empty one"), "{}", text(&out));
    // Exactly ten is enough.
    let out = cutover(
        &plan,
        &[
            "confirm",
            "lower-ttl",
            "--offline",
            "--override",
            "ten chars!",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        matches!(&journal_of(&plan)[..], [Entry::Override { reason, .. }] if reason == "ten chars!")
    );
}

/// A journal line naming a step that is neither built in nor the plan's (a step since
/// removed from the plan, or another plan's journal) is warned about with its line and
/// skipped, as any bad line is; the plan's own steps and the rest of the journal count.
#[test]
fn a_journal_line_naming_no_step_of_the_plan_is_warned_about_and_skipped() {
    let (_dir, plan) = write_plan(&format!(
        "{PLAN}\n[[step]]\nid = \"check-printers\"\nday = 3\ntitle = \"Check the printers\"\n"
    ));
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    let confirm = |step: &str| Entry::Confirm {
        at: "2026-12-07T09:10:00Z".parse().unwrap(),
        operator: "tester".into(),
        step: step.into(),
        mailbox: None,
        evidence: vec![],
    };
    for step in ["lower-ttl", "check-scanners", "check-printers"] {
        journal.append(&confirm(step)).expect("append");
    }
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = format!(
        "warning: {}:2: this journal line is not a valid entry and was skipped: no step `check-scanners`",
        journal.path().display()
    );
    assert!(stderr.contains(&warning), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let state = |id: &str| {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["state"].clone())
    };
    assert_eq!(state("lower-ttl"), Some("done".into()));
    assert_eq!(state("check-printers"), Some("done".into()));
    assert_eq!(state("check-scanners"), None);
}
