//! `cutover status` and `cutover sync` against two real private Dovecots: the `mailboxes[]`
//! keys scripts rely on, the mailbox checks, the copy's exit codes, and secrets kept out of output.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::path::Path;
use std::process::{Command, Output};

use dovecot::{Dovecot, SeedMessage, plan_text, write_secrets};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn msg(n: u32, to: &str) -> SeedMessage {
    SeedMessage::new(format!(
        "Message-ID: <{n}@old>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: c@x\r\nTo: {to}\r\nSubject: m{n}\r\n\r\nbody {n}\r\n"
    ))
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

fn status(plan: &Path) -> serde_json::Value {
    let out = cutover(plan, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn check<'a>(v: &'a serde_json::Value, step: &str, id: &str) -> &'a serde_json::Value {
    v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == step))
        .and_then(|s| s["checks"].as_array())
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{step}/{id} in {v:#}"))
}

#[test]
fn status_probes_both_servers_and_sync_copies_verified() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    old.seed(
        ALICE,
        "INBOX",
        &[msg(1, ALICE), msg(2, ALICE), msg(3, ALICE)],
    );
    old.seed(ALICE, "Entwürfe", &[msg(4, ALICE)]);
    old.seed(BOB, "INBOX", &[msg(5, BOB)]);
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );

    let v = status(&plan);
    let alice = &v["mailboxes"][0];
    assert_eq!(alice["address"], ALICE);
    assert_eq!(alice["old"]["login"], "ok");
    assert_eq!(alice["new"]["login"], "ok");
    assert_eq!(alice["old"]["messages"], 4);
    let inbox = alice["old"]["folders"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "INBOX"))
        .expect("INBOX");
    for key in ["messages", "uidnext", "uidvalidity"] {
        assert!(inbox[key].is_number(), "folders[].{key}");
    }
    assert!(
        alice.get("synced_percent").is_some()
            && alice.get("fetch_detected").is_some()
            && alice.get("verified").is_some()
    );
    assert_eq!(
        check(&v, "new-server-ready", "mail.new-login")["status"],
        "pass"
    );

    // A dry run changes nothing.
    let out = cutover(&plan, &["sync", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(status(&plan)["mailboxes"][0]["new"]["messages"], 0);

    // The copy: every mailbox verified complete, exit 0; the journal says so.
    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Pre-copy"),
        "before the switch it is a pre-copy: {}",
        text(&out)
    );
    let v = status(&plan);
    assert_eq!(v["mailboxes"][0]["new"]["messages"], 4);
    assert_eq!(v["mailboxes"][1]["new"]["messages"], 1);
    assert_eq!(v["mailboxes"][0]["verified"], true);
    // Verified, but before the 24 h gate: the final copy's check does not count it.
    assert_eq!(
        check(&v, "final-copy", "mail.copy-verified")["status"],
        "fail"
    );

    // A rerun copies nothing more.
    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(status(&plan)["mailboxes"][0]["new"]["messages"], 4);
}

#[test]
fn a_wrong_password_exits_3_naming_mailbox_and_side_never_the_password() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[
            (ALICE, "alice-pw", "Sup3rSecret-typo"),
            (BOB, "bob-pw", "bob-pw"),
        ],
        None,
    );
    let out = cutover(&plan, &["sync", "--mailbox", ALICE]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains(ALICE) && all.contains("new"), "{all}");
    assert!(
        !all.contains("Sup3rSecret-typo"),
        "the password leaked: {all}"
    );
    let v = status(&plan);
    assert_eq!(v["mailboxes"][0]["new"]["login"], "auth_failed");
    assert!(!v.to_string().contains("Sup3rSecret-typo"));
    assert_eq!(
        check(&v, "new-server-ready", "mail.new-login")["status"],
        "fail"
    );
    let journal = std::fs::read_to_string(dir.path().join("cutover.journal")).unwrap_or_default();
    assert!(
        !journal.contains("Sup3rSecret-typo"),
        "the password reached the journal"
    );
}

#[test]
fn a_secrets_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "a", "a")], None);
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
}

#[test]
fn a_detached_copy_runs_in_its_own_session_and_reports_through_the_journal() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    old.seed(ALICE, "INBOX", &[msg(1, ALICE), msg(2, ALICE)]);
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );
    let out = cutover(&plan, &["sync", "--detach"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("cutover.sync.log"),
        "the log file is named: {said}"
    );
    let pid: i32 = said
        .split("pid ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("the pid is named");
    // Its own session: hanging up this terminal (SIGHUP to our session) does not reach it.
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        let session: i32 = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(3))
            .and_then(|s| s.parse().ok())
            .expect("session id");
        assert_eq!(session, pid, "the copy leads its own session");
    }
    // It finishes by itself; the journal says every mailbox is verified.
    let journal =
        cutover::journal::Journal::open(dir.path().join("cutover.journal")).expect("journal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let history =
            cutover::journal::History::from_entries(&journal.replay().expect("replay").entries);
        let states: Vec<&str> = [ALICE, BOB]
            .iter()
            .filter_map(|m| history.sync.get(*m))
            .map(|s| s.state.as_str())
            .collect();
        if states == ["verified", "verified"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the detached copy did not finish: {states:?}\n{}",
            std::fs::read_to_string(dir.path().join("cutover.sync.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(dir.path().join("cutover.sync.log")).expect("log");
    assert!(log.contains("verified complete"), "{log}");
}

/// The mailbox table's row for `address`, from the journal alone (no probe): what the
/// cockpit shows before its next probe round.
fn table_row(plan: &Path, address: &str) -> cutover::app::model::MailboxRow {
    let loaded = cutover::plan::load::load(plan).expect("plan");
    let journal = cutover::journal::Journal::open(plan.with_extension("journal")).expect("journal");
    let history =
        cutover::journal::History::from_entries(&journal.replay().expect("replay").entries);
    cutover::app::mail_view::mailbox_rows(&loaded.plan, &[], &history)
        .into_iter()
        .find(|r| r.address == address)
        .expect("a row per mailbox")
}

/// New mail reaching an old INBOX after the final copy verified it: `mail.copy-verified`
/// fails naming the mailbox, the table says `stale` (one definition), and a copy that takes
/// the new mail passes again.
#[test]
fn new_mail_after_the_verified_copy_fails_copy_verified_until_copied_again() {
    use cutover::app::model::SyncedAs;
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    old.seed(ALICE, "INBOX", &[msg(1, ALICE), msg(2, ALICE)]);
    old.seed(BOB, "INBOX", &[msg(3, BOB)]);
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );
    // The MX moved to the new server 25 h ago: the copy that follows is the final one.
    let journal =
        cutover::journal::Journal::open(dir.path().join("cutover.journal")).expect("journal");
    let switched = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(25);
    journal
        .append(&cutover::journal::Entry::Fact {
            at: switched,
            key: "mx-set".into(),
            value: serde_json::json!({"from": "old+new", "to": "new"}),
            evidence: "MX moved to the new server".into(),
        })
        .expect("append");

    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // This status probes and journals each old INBOX's UIDNEXT, unchanged since the copy.
    let v = status(&plan);
    let c = check(&v, "final-copy", "mail.copy-verified");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(table_row(&plan, ALICE).synced_as, SyncedAs::Current);

    // Two messages reach Alice's old INBOX; the next status journals its UIDNEXT.
    old.seed(ALICE, "INBOX", &[msg(4, ALICE), msg(5, ALICE)]);
    let v = status(&plan);
    let c = check(&v, "final-copy", "mail.copy-verified");
    assert_eq!(c["status"], "fail", "{c}");
    let evidence = c["evidence"].as_str().expect("evidence");
    assert!(
        evidence.contains(&format!("{ALICE} (2 messages since the copy verified at")),
        "{evidence}"
    );
    assert!(!evidence.contains(BOB), "{evidence}");
    assert_eq!(table_row(&plan, ALICE).synced_as, SyncedAs::Stale);
    assert_eq!(table_row(&plan, BOB).synced_as, SyncedAs::Current);

    // A copy that takes the new mail: the check holds again, the row is current.
    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = status(&plan);
    let c = check(&v, "final-copy", "mail.copy-verified");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(table_row(&plan, ALICE).synced_as, SyncedAs::Current);
}

/// As a POP3 fetcher delivers a message to the new INBOX: a Received line on top.
fn fetched(n: u32, to: &str) -> SeedMessage {
    SeedMessage::new(format!(
        "Received: from pop3 fetcher by new; Mon, 1 Jan 2024 11:00:00 +0000\r\nMessage-ID: <{n}@old>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: c@x\r\nTo: {to}\r\nSubject: m{n}\r\n\r\nbody {n}\r\n"
    ))
}

/// `status` journals a POP3 fetch it sees before any copy, once, as the cockpit does: the
/// fact goes through the one recorder whoever observes.
#[test]
fn status_journals_a_pop3_fetch_it_sees_once() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]);
    }
    old.seed(ALICE, "INBOX", &[msg(1, ALICE), msg(2, ALICE)]);
    new.seed(ALICE, "INBOX", &[fetched(1, ALICE), fetched(2, ALICE)]);
    old.seed(BOB, "INBOX", &[msg(5, BOB)]);
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE, BOB], "")).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );
    let fetch_facts = || -> Vec<String> {
        let journal = cutover::journal::Journal::path_for_plan(&plan);
        std::fs::read_to_string(journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["key"] == "pop3-fetch-seen")
            .map(|v| {
                v["value"]["mailbox"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let v = status(&plan);
    assert_eq!(v["mailboxes"][0]["fetch_detected"], true, "{v:#}");
    assert_eq!(fetch_facts(), [ALICE]);
    // A second look records nothing new.
    status(&plan);
    assert_eq!(fetch_facts(), [ALICE]);
}
