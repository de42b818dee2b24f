//! A real third-party client against the rehearsal IMAP server: isync's `mbsync` pulls every
//! folder into a local Maildir. Skipped (with a note) when `mbsync` is not installed.
//!
//! Pushing with mbsync is not tested: without UIDPLUS (not implemented here) mbsync 1.4 finds
//! its appended messages by fetching X-TUID headers outside its message-listing state and
//! rejects the answer ("received extraneous data in FETCH response").

use std::path::Path;
use std::sync::Arc;

use cutover::clock::ManualClock;
use cutover::sandbox::imap::{ImapServer, Mailstore, SeedSpec, encode_folder_name, seed_user};

fn count_messages(folder: &Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|sub| std::fs::read_dir(folder.join(sub)).map_or(0, |dir| dir.count()))
        .sum()
}

#[tokio::test]
async fn mbsync_pulls_every_folder_with_its_content_intact() {
    if std::process::Command::new("mbsync")
        .arg("--version")
        .output()
        .is_err()
    {
        // CI sets CUTOVER_REQUIRE_SERVERS=1 and installs isync: there a missing mbsync is a failure.
        assert!(
            std::env::var_os("CUTOVER_REQUIRE_SERVERS").is_none_or(|v| v != "1"),
            "mbsync is not installed and CUTOVER_REQUIRE_SERVERS=1: apt-get install -y isync"
        );
        eprintln!("mbsync is not installed: skipping the isync interoperability test");
        return;
    }
    let store = Mailstore::new();
    let seeded = seed_user(
        &store,
        &SeedSpec {
            login: "anna".into(),
            password: "anna-secret".into(),
            domain: "example-firm.test".into(),
            messages_per_folder: 20,
            body_size: 3_000,
            newest: "2026-03-02T08:00:00+01:00[+01:00]".parse().unwrap(),
            seed: 3,
        },
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().unwrap()));
    let server = ImapServer::start(store.clone(), clock).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount rehearsal\nHost 127.0.0.1\nPort {port}\nUser anna\nPass anna-secret\n\
             SSLType None\nAuthMechs PLAIN\n\n\
             IMAPStore remote\nAccount rehearsal\n\n\
             MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n\
             Channel pull\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\n\
             SyncState *\n",
            port = server.addr().port(),
            mail = mail.display(),
        ),
    )
    .unwrap();

    let output = tokio::process::Command::new("mbsync")
        .arg("-c")
        .arg(&config)
        .arg("-a")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "mbsync failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    for folder in &seeded.folders {
        let local = if folder == "INBOX" {
            mail.join("INBOX")
        } else {
            mail.join(encode_folder_name(folder))
        };
        let expected = store.messages("anna", folder).unwrap().len();
        assert_eq!(
            count_messages(&local),
            expected,
            "folder {folder} at {}",
            local.display()
        );
    }
    // The bytes arrive unchanged (as a multiset: two messages share a Message-ID).
    let mut pulled: Vec<Vec<u8>> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(mail.join("INBOX").join(sub)).unwrap())
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        // mbsync adds its own tracking header (X-TUID) to every message it stores.
        .map(|text| {
            text.split_inclusive('\n')
                .filter(|line| !line.starts_with("X-TUID: "))
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let mut stored: Vec<Vec<u8>> = store
        .messages("anna", "INBOX")
        .unwrap()
        .iter()
        // A Maildir keeps Unix line ends: mbsync turns CRLF into LF on the way in.
        .map(|m| {
            String::from_utf8_lossy(&m.raw)
                .replace("\r\n", "\n")
                .into_bytes()
        })
        .collect();
    pulled.sort();
    stored.sort();
    assert_eq!(pulled.len(), stored.len());
    for (got, want) in pulled.iter().zip(&stored) {
        assert!(
            got == want,
            "INBOX message differs after mbsync:\n{}\n---\n{}",
            String::from_utf8_lossy(&got[..got.len().min(400)]),
            String::from_utf8_lossy(&want[..want.len().min(400)])
        );
    }

    // The source is never changed by a read-only pull.
    let seen_after: usize = store
        .messages("anna", "INBOX")
        .unwrap()
        .iter()
        .filter(|m| m.is_seen())
        .count();
    assert_eq!(seen_after, 10, "mbsync's BODY.PEEK must not set \\Seen");
}
