//! The copy engine against two real private Dovecots ("old" and "new").

#[path = "support/dovecot.rs"]
mod dovecot;

use std::collections::BTreeMap;

use cutover::clock::SystemClock;
use cutover::mail::credentials::{AuthMethod, CredentialSource, Login, Secret};
use cutover::mail::sync::{MemoryLog, SyncOptions, run_sync};
use cutover::mail::{Imap, Place, Timeouts, connect};
use cutover::plan::{Plan, Security, WhichSide};
use dovecot::{Dovecot, SeedMessage, plan, write_secrets};
use futures_util::TryStreamExt;

const ALICE: &str = "alice@example.com";

fn msg(mid: Option<&str>, subject: &str, body: &str) -> Vec<u8> {
    let mut m = String::new();
    if let Some(mid) = mid {
        m.push_str(&format!("Message-ID: <{mid}>\r\n"));
    }
    m.push_str(&format!(
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Bob <bob@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    ));
    m.into_bytes()
}

struct World {
    old: Dovecot,
    new: Dovecot,
    _dir: tempfile::TempDir,
    plan: Plan,
}

fn world(new_password: &str) -> Option<World> {
    let old = Dovecot::start("old")?;
    let new = Dovecot::start("new")?;
    old.add_user(ALICE, "old-pw");
    new.add_user(ALICE, "new-pw");
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "old-pw", new_password)], None);
    let plan = plan(&old, &new, &[ALICE], &secrets);
    Some(World {
        old,
        new,
        _dir: dir,
        plan,
    })
}

async fn login(d: &Dovecot, side: WhichSide, password: &str) -> Imap {
    let login = Login {
        user: ALICE.to_string(),
        method: AuthMethod::Password,
        secret: Secret::new(password),
    };
    connect(
        &d.endpoint(Security::Implicit),
        &Place::new(ALICE, side, "test"),
        &login,
        Timeouts::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()))
}

/// Every folder (UTF-8 name) → sorted "subject | flags | internal date | size" lines.
async fn contents(d: &Dovecot, password: &str) -> BTreeMap<String, Vec<String>> {
    let mut imap = login(d, WhichSide::New, password).await;
    let mut out = BTreeMap::new();
    for f in imap
        .folders()
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.selectable)
    {
        imap.session.examine(&f.wire).await.unwrap();
        let fetches: Vec<_> = imap
            .session
            .uid_fetch(
                "1:*",
                "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
            )
            .await
            .unwrap()
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
                    "{subject} | {} | {} | {}",
                    flags.join(","),
                    m.internal_date().map(|d| d.timestamp()).unwrap_or(0),
                    m.size.unwrap_or(0)
                )
            })
            .collect();
        lines.sort();
        out.insert(f.name.clone(), lines);
    }
    imap.logout().await;
    out
}

fn seed_old(old: &Dovecot) {
    old.seed_keywords(ALICE, "INBOX", &["$Project"]);
    old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(msg(Some("1@x"), "plain", "one")).date(1_600_000_000),
            SeedMessage::new(msg(Some("2@x"), "flagged and seen", "two"))
                .flags("FSa")
                .date(1_600_000_100),
            SeedMessage::new(msg(Some("3@x"), "answered draft", "three"))
                .flags("RD")
                .date(1_600_000_200),
            SeedMessage::new(msg(None, "no message id", "four")).date(1_600_000_300),
            SeedMessage::new(msg(Some("dup@x"), "shares an id (A)", "five")).date(1_600_000_400),
            SeedMessage::new(msg(Some("dup@x"), "shares an id (B)", "six")).date(1_600_000_500),
            SeedMessage::new(msg(
                Some("trashed@x"),
                "deleted flag is not copied",
                "seven",
            ))
            .flags("ST"),
        ],
    );
    old.seed(
        ALICE,
        "Entwürfe",
        &[SeedMessage::new(msg(Some("d@x"), "Entwurf", "x")).flags("D")],
    );
    old.seed(
        ALICE,
        "Projekte/日本語",
        &[SeedMessage::new(msg(Some("j@x"), "nihongo", "y"))],
    );
    old.seed(ALICE, "Leer", &[]);
    // Quoted with escapes by the server: copied under the name it has.
    old.seed(
        ALICE,
        BILLS,
        &[SeedMessage::new(msg(Some("b@x"), "bill", "q"))],
    );
    old.seed(
        ALICE,
        "Sent",
        &[SeedMessage::new(msg(Some("s@x"), "sent one", "z")).flags("S")],
    );
}

/// A folder whose name holds the two characters IMAP escapes in a quoted string.
const BILLS: &str = r#"Bills\2026 "Q1""#;

#[tokio::test]
async fn full_copy_keeps_everything_and_changes_nothing_on_old() {
    full_copy(true).await;
}

/// The same with one APPEND round trip per message (servers without LITERAL+).
#[tokio::test]
async fn full_copy_without_pipelining() {
    full_copy(false).await;
}

async fn full_copy(pipeline: bool) {
    let Some(w) = world("new-pw") else { return };
    let copy = SyncOptions {
        pipeline,
        ..SyncOptions::default()
    };
    seed_old(&w.old);
    let old_files = w.old.message_files(ALICE);
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let log = MemoryLog::default();

    // A dry run lists everything and changes nothing.
    let before = contents(&w.new, "new-pw").await;
    let dry = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let report = run_sync(&w.plan, &creds, &SystemClock, &dry, &log, None).await;
    assert!(
        report.mailboxes[0].error.is_none(),
        "{}",
        report.render_table()
    );
    let would: usize = report.mailboxes[0]
        .folders
        .iter()
        .map(|f| f.would_copy.len())
        .sum();
    assert_eq!(would, 11, "{}", report.render_table());
    assert_eq!(
        contents(&w.new, "new-pw").await,
        before,
        "dry run changed the new side"
    );
    assert!(log.snapshot().is_empty(), "dry run wrote to the journal");

    // The copy.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1000);
    let report = run_sync(&w.plan, &creds, &SystemClock, &copy, &log, Some(tx)).await;
    let table = report.render_table();
    assert_eq!(report.exit_code(), 0, "{table}");
    assert_eq!(report.mailboxes[0].copied(), 11, "{table}");
    assert!(table.contains("verified complete"), "{table}");
    let mut last = None;
    while let Ok(p) = rx.try_recv() {
        last = Some(p);
    }
    let last = last.expect("progress events");
    assert_eq!((last.messages_done, last.messages_left), (11, 0));

    let old_view = contents(&w.old, "old-pw").await;
    let new_view = contents(&w.new, "new-pw").await;
    for folder in [
        "INBOX",
        "Entwürfe",
        "Projekte/日本語",
        "Leer",
        "Sent",
        BILLS,
    ] {
        assert!(
            new_view.contains_key(folder),
            "{folder} missing on new: {new_view:?}"
        );
        // Identical but for \Deleted, which is never carried over.
        let expected: Vec<String> = old_view[folder]
            .iter()
            .map(|l| l.replace("Deleted,", ""))
            .collect();
        assert_eq!(new_view[folder], expected, "{folder}");
    }
    assert!(new_view["Leer"].is_empty());
    let inbox = new_view["INBOX"].join("\n");
    assert!(
        inbox.contains("Flagged") && inbox.contains("Custom(\"$Project\")"),
        "{inbox}"
    );
    assert!(inbox.contains("Subject: no message id"), "{inbox}");
    assert!(inbox.contains("(A)") && inbox.contains("(B)"), "{inbox}");
    // \Deleted is never carried over (the message itself is).
    let trashed = new_view["INBOX"]
        .iter()
        .find(|l| l.contains("deleted flag"))
        .unwrap();
    assert!(!trashed.contains("Deleted"), "{trashed}");

    // The old server's message files: same names, flags and contents.
    assert_eq!(
        w.old.message_files(ALICE),
        old_files,
        "the old side changed"
    );

    // A rerun copies nothing.
    let again = run_sync(&w.plan, &creds, &SystemClock, &copy, &log, None).await;
    assert_eq!(again.mailboxes[0].copied(), 0, "{}", again.render_table());
    assert_eq!(again.mailboxes[0].already_present(), 11);
    assert_eq!(again.exit_code(), 0);

    // The user deletes a message on new: a later copy does not bring it back.
    let mut imap = login(&w.new, WhichSide::New, "new-pw").await;
    imap.session.select("INBOX").await.unwrap();
    let uids = imap.session.uid_search("SUBJECT \"plain\"").await.unwrap();
    assert_eq!(uids.len(), 1);
    let uid = uids.into_iter().next().unwrap();
    let _: Vec<_> = imap
        .session
        .uid_store(uid.to_string(), "+FLAGS (\\Deleted)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let _: Vec<_> = imap
        .session
        .expunge()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    imap.logout().await;
    let after_delete = run_sync(&w.plan, &creds, &SystemClock, &copy, &log, None).await;
    let m = &after_delete.mailboxes[0];
    assert_eq!(
        (m.copied(), m.deleted_on_new()),
        (0, 1),
        "{}",
        after_delete.render_table()
    );
    assert_eq!(
        after_delete.exit_code(),
        0,
        "{}",
        after_delete.render_table()
    );
    assert!(
        !contents(&w.new, "new-pw").await["INBOX"]
            .join("\n")
            .contains("Subject: plain\r")
    );
    assert_eq!(
        w.old.message_files(ALICE),
        old_files,
        "the old side changed"
    );

    // Checkpoints went to the journal.
    assert!(
        log.snapshot()
            .iter()
            .any(|e| matches!(e, cutover::journal::Entry::Checkpoint { .. }))
    );
    // So did the copy's progress after each batch, and what it verified per folder, which
    // the cockpit's mailbox table reads (its counts, synced share and `stale`).
    let entries = log.snapshot();
    assert!(entries.iter().any(|e| matches!(
        e,
        cutover::journal::Entry::Sync { state, messages_done, .. }
            if state == "running" && *messages_done > 0
    )));
    let result = entries.iter().rev().find_map(|e| match e {
        cutover::journal::Entry::Fact { key, value, .. }
            if key == cutover::mail::sync::COPY_RESULT_FACT =>
        {
            serde_json::from_value::<cutover::mail::sync::CopyResult>(value.clone()).ok()
        }
        _ => None,
    });
    let result = result.expect("a copy-result fact");
    let inbox = result
        .folders
        .iter()
        .find(|f| f.old == "INBOX")
        .expect("INBOX");
    assert_eq!((result.state.as_str(), inbox.missing), ("verified", 0));
    assert!(inbox.old_uidnext > 0, "the old INBOX's UIDNEXT as read");
}

#[tokio::test]
async fn a_twenty_megabyte_message_is_copied_intact() {
    let Some(w) = world("new-pw") else { return };
    let mut big = msg(Some("big@x"), "big attachment", "");
    big.truncate(big.len() - 2);
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while big.len() < 20 * 1024 * 1024 {
        big.extend_from_slice(line.as_bytes());
    }
    w.old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(big.clone()),
            SeedMessage::new(msg(Some("s@x"), "small", "s")),
        ],
    );
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let report = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &MemoryLog::default(),
        None,
    )
    .await;
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    assert_eq!(report.mailboxes[0].copied(), 2);
    let mut imap = login(&w.new, WhichSide::New, "new-pw").await;
    imap.session.examine("INBOX").await.unwrap();
    let fetches: Vec<_> = imap
        .session
        .uid_fetch("1:*", "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        fetches.iter().any(|f| f.body() == Some(&big[..])),
        "20 MB message differs on new"
    );
}

#[tokio::test]
async fn wrong_password_gives_exit_code_3_and_names_mailbox_and_side() {
    let Some(w) = world("not-the-password") else {
        return;
    };
    w.old.seed(
        ALICE,
        "INBOX",
        &[SeedMessage::new(msg(Some("1@x"), "one", "1"))],
    );
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let report = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &MemoryLog::default(),
        None,
    )
    .await;
    assert_eq!(report.exit_code(), 3, "{}", report.render_table());
    let text = report.mailboxes[0].error.as_ref().unwrap().to_string();
    assert!(
        text.contains(ALICE) && text.contains("new server"),
        "{text}"
    );
    assert!(!report.render_table().contains("not-the-password"));
}

#[tokio::test]
async fn master_user_copies_a_mailbox_without_the_users_password() {
    let Some(mut w) = world("new-pw") else { return };
    w.old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(msg(Some("1@x"), "one", "1")),
            SeedMessage::new(msg(Some("2@x"), "two", "2")),
        ],
    );
    let secrets = w._dir.path().join("admin-secrets.toml");
    write_secrets(
        &secrets,
        &[],
        Some((dovecot::MASTER_PASSWORD, dovecot::MASTER_PASSWORD)),
    );
    w.plan.credentials = Some(cutover::plan::Credentials {
        secrets_file: Some(secrets),
        admin: Some(cutover::plan::Admin {
            old: Some(dovecot::MASTER_USER.to_string()),
            new: Some(dovecot::MASTER_USER.to_string()),
            mode: cutover::plan::AdminMode::Master,
        }),
        ..Default::default()
    });
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let report = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &MemoryLog::default(),
        None,
    )
    .await;
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    assert_eq!(report.mailboxes[0].copied(), 2);
    assert_eq!(contents(&w.new, "new-pw").await["INBOX"].len(), 2);
}

#[tokio::test]
async fn plan_limits_messages_per_second() {
    let Some(mut w) = world("new-pw") else { return };
    // Three folders, so that several connections copy at once: the limit is for all of them.
    for folder in ["INBOX", "A", "B"] {
        let messages: Vec<SeedMessage> = (0..4)
            .map(|n| SeedMessage::new(msg(Some(&format!("{folder}{n}@x")), &format!("m{n}"), "b")))
            .collect();
        w.old.seed(ALICE, folder, &messages);
    }
    w.plan.sync.max_messages_per_sec = Some(20);
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let started = std::time::Instant::now();
    let report = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &MemoryLog::default(),
        None,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    assert_eq!(report.mailboxes[0].copied(), 12);
    // 12 messages at 20/s cannot take less than 0.6 s.
    assert!(
        elapsed >= std::time::Duration::from_millis(600),
        "{elapsed:?}"
    );
}

/// Gmail-style "All Mail" (\\All) only mirrors other folders: copying it would double everything.
#[tokio::test]
async fn virtual_all_mail_folder_is_skipped_with_its_reason() {
    let Some(w) = world("new-pw") else { return };
    w.old.seed(
        ALICE,
        "INBOX",
        &[SeedMessage::new(msg(Some("1@x"), "one", "1"))],
    );
    w.old.seed(
        ALICE,
        "All Mail",
        &[SeedMessage::new(msg(Some("1@x"), "one", "1"))],
    );
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let report = run_sync(
        &w.plan,
        &creds,
        &SystemClock,
        &SyncOptions::default(),
        &MemoryLog::default(),
        None,
    )
    .await;
    let table = report.render_table();
    assert_eq!(report.exit_code(), 0, "{table}");
    assert_eq!(report.mailboxes[0].copied(), 1, "{table}");
    assert!(
        table.contains("skipped All Mail: virtual folder"),
        "{table}"
    );
}

/// A changed UIDVALIDITY on the old side (a restored or rebuilt mailbox) is no reason to
/// copy again: messages are compared by identity, not by UID.
#[tokio::test]
async fn changed_uidvalidity_on_old_copies_nothing_twice() {
    let Some(w) = world("new-pw") else { return };
    let messages: Vec<SeedMessage> = (0..5)
        .map(|n| SeedMessage::new(msg(Some(&format!("{n}@x")), &format!("m{n}"), "b")))
        .collect();
    w.old.seed(ALICE, "INBOX", &messages);
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let log = MemoryLog::default();
    let opts = SyncOptions::default();
    let first = run_sync(&w.plan, &creds, &SystemClock, &opts, &log, None).await;
    assert_eq!(first.mailboxes[0].copied(), 5, "{}", first.render_table());

    let mut imap = login(&w.old, WhichSide::Old, "old-pw").await;
    let before = imap.status("INBOX").await.unwrap().uidvalidity;
    imap.logout().await;
    w.old.doveadm(&[
        "mailbox",
        "update",
        "-u",
        ALICE,
        "--uid-validity",
        &(before + 1000).to_string(),
        "INBOX",
    ]);
    let mut imap = login(&w.old, WhichSide::Old, "old-pw").await;
    assert_eq!(
        imap.status("INBOX").await.unwrap().uidvalidity,
        before + 1000
    );
    imap.logout().await;

    let again = run_sync(&w.plan, &creds, &SystemClock, &opts, &log, None).await;
    assert_eq!(again.mailboxes[0].copied(), 0, "{}", again.render_table());
    assert_eq!(again.exit_code(), 0);
    assert_eq!(contents(&w.new, "new-pw").await["INBOX"].len(), 5);
}
