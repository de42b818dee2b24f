//! The copy back (R18) against two real private Dovecots: after a rollback, the mail that
//! reached the new server after the switch is appended to the old one, once, in the same
//! folders; the new server is unchanged; a rerun copies nothing; a later forward copy
//! duplicates nothing; what the forward copy brought to the new server stays where it is.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::collections::BTreeMap;

use cutover::clock::SystemClock;
use cutover::journal::{Entry, History};
use cutover::mail::credentials::{AuthMethod, CredentialSource, Login, Secret};
use cutover::mail::sync::{BackLog, MemoryLog, Reverse, SyncLog, SyncOptions, run_sync};
use cutover::mail::{Imap, Place, Timeouts, connect};
use cutover::plan::{Plan, Security, WhichSide};
use dovecot::{Dovecot, SeedMessage, plan, write_secrets};
use futures_util::TryStreamExt;

const ALICE: &str = "alice@example.com";
/// The new MX first served (the journal's `mx-set` fact): 2 h ago.
fn switch() -> jiff::Timestamp {
    jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2)
}

fn msg(mid: &str, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{mid}>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: Bob <bob@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\n{subject}\r\n"
    )
    .into_bytes()
}

async fn login(d: &Dovecot, password: &str) -> Imap {
    let login = Login {
        user: ALICE.to_string(),
        method: AuthMethod::Password,
        secret: Secret::new(password),
    };
    connect(
        &d.endpoint(Security::Implicit),
        &Place::new(ALICE, WhichSide::New, "test"),
        &login,
        Timeouts::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()))
}

/// Every folder → sorted "subject | flags | internal date" lines.
async fn contents(d: &Dovecot, password: &str) -> BTreeMap<String, Vec<String>> {
    let mut imap = login(d, password).await;
    let mut out = BTreeMap::new();
    for f in imap
        .folders()
        .await
        .expect("folders")
        .into_iter()
        .filter(|f| f.selectable)
    {
        imap.session.examine(&f.wire).await.expect("examine");
        let fetches: Vec<_> = imap
            .session
            .uid_fetch(
                "1:*",
                "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
            )
            .await
            .expect("fetch")
            .try_collect()
            .await
            .unwrap_or_default();
        let mut lines: Vec<String> = fetches
            .iter()
            .map(|m| {
                let subject = String::from_utf8_lossy(m.header().unwrap_or(b""))
                    .trim()
                    .to_string();
                let mut flags: Vec<String> = m
                    .flags()
                    .filter(|f| !matches!(f, async_imap::types::Flag::Recent))
                    .map(|f| format!("{f:?}"))
                    .collect();
                flags.sort();
                format!(
                    "{subject} | {} | {}",
                    flags.join(","),
                    m.internal_date().map(|d| d.timestamp()).unwrap_or(0)
                )
            })
            .collect();
        lines.sort();
        out.insert(f.name.clone(), lines);
    }
    imap.logout().await;
    out
}

fn subjects(folder: &[String]) -> Vec<String> {
    let mut s: Vec<String> = folder
        .iter()
        .map(|l| l.split(" | ").next().unwrap_or("").replace("Subject: ", ""))
        .collect();
    s.sort();
    s
}

struct World {
    old: Dovecot,
    new: Dovecot,
    _dir: tempfile::TempDir,
    plan: Plan,
}

fn world() -> Option<World> {
    let old = Dovecot::start("old")?;
    let new = Dovecot::start("new")?;
    old.add_user(ALICE, "old-pw");
    new.add_user(ALICE, "new-pw");
    let dir = tempfile::tempdir().expect("dir");
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "old-pw", "new-pw")], None);
    let plan = plan(&old, &new, &[ALICE], &secrets);
    Some(World {
        old,
        new,
        _dir: dir,
        plan,
    })
}

/// The journal's `mx-set` fact: the new MX served beside the old at the switch.
fn mx_set_at(at: jiff::Timestamp) -> Entry {
    Entry::Fact {
        at,
        key: "mx-set".into(),
        value: serde_json::json!({ "from": "old", "to": "old+new" }),
        evidence: String::new(),
    }
}

fn copied(report: &cutover::mail::sync::SyncReport) -> u64 {
    report.mailboxes.iter().map(|m| m.copied()).sum()
}

#[tokio::test]
async fn copy_back_brings_the_new_mail_to_the_old_server_once_and_changes_nothing_on_new() {
    let Some(w) = world() else { return };
    let s = switch().as_second();
    // The old server before the switch, and a straggler that reached it after.
    w.old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(msg("o1@x", "old one")).date(s - 86_400),
            SeedMessage::new(msg("o2@x", "old two"))
                .flags("S")
                .date(s - 7200),
            SeedMessage::new(msg("straggler@x", "straggler at old")).date(s + 300),
        ],
    );
    // The new server: a test mail before the switch, then mail delivered after it.
    w.new.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(msg("test@x", "test before the switch")).date(s - 3 * 3600),
            SeedMessage::new(msg("n1@x", "new one"))
                .flags("S")
                .date(s + 600),
            SeedMessage::new(msg("n2@x", "new two"))
                .flags("F")
                .date(s + 1200),
        ],
    );
    w.new.seed(
        ALICE,
        "Projects",
        &[SeedMessage::new(msg("n3@x", "new in projects")).date(s + 1800)],
    );
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).expect("creds");
    let log = MemoryLog::default();
    log.record(&mx_set_at(switch())).expect("record");

    // The forward copy brings the old mail (and the straggler) to the new server.
    let forward = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &log,
        None,
    )
    .await;
    assert_eq!(copied(&forward), 3, "{}", forward.render_table());
    // The user deletes the straggler on the old server: it came from there, it stays gone.
    w.old.doveadm(&[
        "expunge",
        "-u",
        ALICE,
        "mailbox",
        "INBOX",
        "header",
        "Message-ID",
        "straggler@x",
    ]);
    let old_before = contents(&w.old, "old-pw").await;
    assert_eq!(
        subjects(&old_before["INBOX"]),
        ["old one", "old two"],
        "{old_before:?}"
    );
    let new_before = contents(&w.new, "new-pw").await;
    let forward_lines = log.snapshot().len();

    // The rollback: new → old.
    let entries = log.snapshot();
    let history = History::from_entries(&entries);
    let reverse = Reverse::from_journal(&entries, &history).expect("the new MX was served");
    let back = SyncOptions {
        reverse: Some(reverse.clone()),
        ..SyncOptions::default()
    };
    let report = run_sync(&w.plan, &creds, &SystemClock, &back, &BackLog(&log), None).await;
    let table = report.render_table();
    assert!(report.mailboxes[0].error.is_none(), "{table}");
    assert!(report.mailboxes[0].verified(), "{table}");
    assert_eq!(copied(&report), 3, "{table}");

    let old_after = contents(&w.old, "old-pw").await;
    assert_eq!(
        subjects(&old_after["INBOX"]),
        ["new one", "new two", "old one", "old two"],
        "{old_after:?}"
    );
    assert_eq!(subjects(&old_after["Projects"]), ["new in projects"]);
    // Flags and arrival times come along; nothing else on old changed.
    assert!(
        old_after["INBOX"].iter().any(|l| l.contains("new one")
            && l.contains("Seen")
            && l.ends_with(&(s + 600).to_string())),
        "{old_after:?}"
    );
    for line in &old_before["INBOX"] {
        assert!(old_after["INBOX"].contains(line), "{line} changed");
    }
    // The new server is exactly as it was: read with EXAMINE and BODY.PEEK only.
    assert_eq!(contents(&w.new, "new-pw").await, new_before);
    // The forward copy's own lines (progress, checkpoints, ledger, result) were held back.
    assert!(
        log.snapshot()[forward_lines..]
            .iter()
            .all(|e| !matches!(e, Entry::Sync { .. } | Entry::Checkpoint { .. })),
        "{:?}",
        &log.snapshot()[forward_lines..]
    );

    // A rerun copies nothing.
    let again = run_sync(&w.plan, &creds, &SystemClock, &back, &BackLog(&log), None).await;
    assert_eq!(copied(&again), 0, "{}", again.render_table());
    assert!(again.mailboxes[0].verified());
    assert_eq!(contents(&w.old, "old-pw").await, old_after);

    // Forward again (`--retry`), then a forward copy: nothing is duplicated on new.
    let forward = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &log,
        None,
    )
    .await;
    assert_eq!(copied(&forward), 0, "{}", forward.render_table());
    assert_eq!(contents(&w.new, "new-pw").await, new_before);
}
