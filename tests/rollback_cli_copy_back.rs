//! `cutover sync --reverse` as an operator runs it against two real private Dovecots: refused
//! before a rollback, a mailbox that fetched the old server by POP3 waits for its tick, and
//! `rollback-copy-back` is done once every mailbox's copy back is verified.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::path::Path;
use std::process::{Command, Output};

use cutover::journal::{Entry, Journal};
use cutover::step::StepId;
use dovecot::{Dovecot, SeedMessage, plan_text, write_secrets};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn msg(n: &str, to: &str, arrived: i64) -> SeedMessage {
    SeedMessage::new(format!(
        "Message-ID: <{n}@new>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: c@x\r\nTo: {to}\r\nSubject: {n}\r\n\r\nbody {n}\r\n"
    ))
    .date(arrived)
}

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

fn append(plan: &Path, entry: Entry) {
    Journal::open(Journal::path_for_plan(plan))
        .expect("journal")
        .append(&entry)
        .expect("append");
}

fn confirmed(step: StepId, at: jiff::Timestamp) -> Entry {
    Entry::Confirm {
        at,
        operator: "tester".into(),
        step,
        mailbox: None,
        evidence: vec![],
    }
}

fn step<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("{id} in {v:#}"))
}

fn copy_back_check(plan: &Path) -> (String, String, String) {
    let out = cutover(plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = step(&v, "rollback-copy-back");
    let c = s["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "copy-back-verified"))
        .expect("copy-back-verified");
    (
        s["state"].as_str().unwrap_or("").to_string(),
        c["status"].as_str().unwrap_or("").to_string(),
        c["evidence"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn sync_reverse_waits_for_the_pop3_tick_then_copies_back_and_the_step_is_done() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    let switch = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    let s = switch.as_second();
    new.seed(ALICE, "INBOX", &[msg("a1", ALICE, s + 600)]);
    new.seed(BOB, "INBOX", &[msg("b1", BOB, s + 900)]);
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );
    // The journal: bob fetched the old server by POP3; the new MX was served at the switch.
    append(
        &plan,
        Entry::Fact {
            at: switch - jiff::SignedDuration::from_hours(24),
            key: "pop3-fetch-seen".into(),
            value: serde_json::json!({ "mailbox": BOB, "share": 0.9 }),
            evidence: String::new(),
        },
    );
    append(
        &plan,
        Entry::Fact {
            at: switch,
            key: "mx-set".into(),
            value: serde_json::json!({ "from": "old", "to": "old+new" }),
            evidence: String::new(),
        },
    );
    append(&plan, confirmed(StepId::AddNewMx, switch));

    // Before a rollback the old server is never written, in the foreground or not.
    for args in [
        &["sync", "--reverse"][..],
        &["sync", "--reverse", "--detach"],
    ] {
        let out = cutover(&plan, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("only after `cutover rollback`"),
            "{}",
            text(&out)
        );
    }

    let out = cutover(
        &plan,
        &["rollback", "--reason", "the new MX defers every message"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, status, evidence) = copy_back_check(&plan);
    assert_eq!(status, "unknown", "{evidence}");

    // Bob's POP3 fetch may still run: he waits, alice is copied back. In the background,
    // so a dropped SSH link does not stop it; its output goes to the sync log.
    let out = cutover(&plan, &["sync", "--reverse", "--detach"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("runs in the background"),
        "{}",
        text(&out)
    );
    let pid = text(&out)
        .split("as pid ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .expect("the pid is named")
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Running until its process is gone (or only a zombie waiting for init).
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy back still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let logged = std::fs::read_to_string(dir.path().join("cutover.sync.log")).unwrap();
    assert!(
        logged.contains("bob@example.com: not copied back yet"),
        "{logged}"
    );
    assert_eq!(
        old.doveadm(&["search", "-u", ALICE, "mailbox", "INBOX", "all"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        old.doveadm(&["search", "-u", BOB, "mailbox", "INBOX", "all"])
            .lines()
            .count(),
        0
    );
    let (state, status, evidence) = copy_back_check(&plan);
    assert_eq!(status, "fail", "{evidence}");
    assert!(evidence.contains("bob@example.com (waiting)"), "{evidence}");
    assert_ne!(state, "done");

    // The way back's DNS steps done; bob's fetch is off: the operator ticks him.
    let now = jiff::Timestamp::now();
    append(&plan, confirmed(StepId::RollbackAddOldMx, now));
    append(&plan, confirmed(StepId::RollbackRemoveNewMx, now));
    let out = cutover(
        &plan,
        &[
            "confirm",
            "rollback-copy-back",
            "--mailbox",
            BOB,
            "--offline",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(&plan, &["sync", "--reverse"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        old.doveadm(&["search", "-u", BOB, "mailbox", "INBOX", "all"])
            .lines()
            .count(),
        1
    );
    // Alice's message is there once, not twice.
    assert_eq!(
        old.doveadm(&["search", "-u", ALICE, "mailbox", "INBOX", "all"])
            .lines()
            .count(),
        1
    );
    let (state, status, evidence) = copy_back_check(&plan);
    assert_eq!(status, "pass", "{evidence}");
    assert_eq!(state, "done", "{evidence}");
}
