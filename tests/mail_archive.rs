//! The archive of the old server against real private Dovecots: written by `cutover sync`,
//! filled in by `cutover archive` (an excluded folder, a message the new side already had,
//! nothing else), verified online and offline, `sha256sum -c` clean, and served back byte
//! for byte by a restoring Dovecot pointed at it, after which it still verifies.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cutover::mail::{AuthMethod, Login, Secret};
use cutover::mail::{Imap, Place, Timeouts, connect};
use cutover::plan::{Security, WhichSide};
use dovecot::{Dovecot, SeedMessage, plan_text, write_secrets};
use futures_util::TryStreamExt;

const ALICE: &str = "alice@example.com";
/// The copy leaves Junk alone; the archive keeps it.
const ARCHIVE_TABLES: &str = "\n[sync]\nexclude = [\"Junk\"]\n\n[archive]\ndir = \"archive\"\n";

fn msg(mid: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{mid}>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Bob <bob@example.org>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    )
    .into_bytes()
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

async fn login(d: &Dovecot, password: &str) -> Imap {
    let login = Login {
        user: ALICE.to_string(),
        method: AuthMethod::Password,
        secret: Secret::new(password),
    };
    connect(
        &d.endpoint(Security::Implicit),
        &Place::new(ALICE, WhichSide::Old, "test"),
        &login,
        Timeouts::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()))
}

/// Every folder (UTF-8 name) → every message's BODY[] bytes with its flags and
/// INTERNALDATE, sorted: what a server serves, byte for byte.
async fn served(d: &Dovecot, password: &str) -> BTreeMap<String, Vec<(Vec<u8>, String, i64)>> {
    let mut imap = login(d, password).await;
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
            .uid_fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap_or_default();
        let mut messages: Vec<(Vec<u8>, String, i64)> = fetches
            .iter()
            .filter_map(|m| {
                let mut flags: Vec<String> = m
                    .flags()
                    .filter(|f| !matches!(f, async_imap::types::Flag::Recent))
                    .map(|f| format!("{f:?}"))
                    .collect();
                flags.sort();
                Some((
                    m.body()?.to_vec(),
                    flags.join(","),
                    m.internal_date().map(|d| d.timestamp()).unwrap_or(0),
                ))
            })
            .collect();
        messages.sort();
        out.insert(f.name.clone(), messages);
    }
    imap.logout().await;
    out
}

/// Every message file under the archive (relative path → bytes).
fn archive_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "cur")
            {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn sha256sum_check(dir: &Path) -> Output {
    Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST.sha256"])
        .current_dir(dir)
        .output()
        .expect("run sha256sum")
}

fn archive_facts(plan_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(plan_dir.join("cutover.journal"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "fact" && e["key"] == "archive-verified")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_writes_the_archive_archive_fills_it_in_and_it_restores_byte_for_byte() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    old.add_user(ALICE, "alice-pw");
    new.add_user(ALICE, "alice-pw");
    let already = msg("1@x", "already on the new side", "one");
    old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(already.clone()).date(1_600_000_000),
            SeedMessage::new(msg("2@x", "flagged and seen", "two"))
                .flags("FS")
                .date(1_600_000_100),
            SeedMessage::new(msg("3@x", "answered draft", "three"))
                .flags("RD")
                .date(1_600_000_200),
        ],
    );
    old.seed(
        ALICE,
        "Entwürfe",
        &[SeedMessage::new(msg("d@x", "Entwurf", "x")).flags("D")],
    );
    old.seed(
        ALICE,
        "Projekte/日本語",
        &[SeedMessage::new(msg("j@x", "nihongo", "y"))],
    );
    old.seed(ALICE, "Leer", &[]);
    old.seed(
        ALICE,
        "Junk",
        &[SeedMessage::new(msg(
            "junk@x",
            "excluded from the copy",
            "j",
        ))],
    );
    // The new side already has one INBOX message: the copy does not read it.
    new.seed(
        ALICE,
        "INBOX",
        &[SeedMessage::new(already).date(1_600_000_000)],
    );
    let old_before = old.message_files(ALICE);
    let dir = tempfile::tempdir().expect("dir");
    // The restoring Dovecot's mail processes (the test mail uid) must reach the archive.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE], ARCHIVE_TABLES)).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw")],
        None,
    );
    let archive = dir.path().join("archive");

    // The copy keeps what it reads: 4 messages (not Junk, not the one the new side had).
    let out = cutover(&plan, &["sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("4 messages"), "{}", text(&out));
    let files = archive_files(&archive);
    assert_eq!(files.len(), 4, "{files:#?}");
    let flagged = files
        .keys()
        .find(|p| {
            p.starts_with("alice@example.com/INBOX/cur") && p.to_string_lossy().ends_with(":2,FS")
        })
        .unwrap_or_else(|| panic!("the flagged message in INBOX/cur with :2,FS: {files:#?}"));
    let meta = std::fs::metadata(archive.join(flagged)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        meta.modified().unwrap(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_100),
        "INTERNALDATE is the file's mtime"
    );
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(
        archive
            .join("alice@example.com/Projekte/日本語/cur")
            .is_dir(),
        "LAYOUT=fs, UTF-8"
    );
    let check = sha256sum_check(&archive);
    assert!(check.status.success(), "{}", text(&check));

    // `archive` reads what the copy did not: Junk and the message the new side had.
    let out = cutover(&plan, &["archive"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("alice@example.com: 2 messages"),
        "{}",
        text(&out)
    );
    let after = archive_files(&archive);
    assert_eq!(after.len(), 6, "{after:#?}");
    for (path, bytes) in &files {
        assert_eq!(
            after.get(path),
            Some(bytes),
            "kept as it was: {}",
            path.display()
        );
    }
    let added: Vec<_> = after.keys().filter(|p| !files.contains_key(*p)).collect();
    assert!(
        added
            .iter()
            .any(|p| p.starts_with("alice@example.com/Junk/cur")),
        "{added:?}"
    );
    assert!(
        added
            .iter()
            .any(|p| p.starts_with("alice@example.com/INBOX/cur")),
        "{added:?}"
    );
    // A rerun adds nothing.
    let out = cutover(&plan, &["archive"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 messages"), "{}", text(&out));
    assert_eq!(archive_files(&archive), after);

    // Verified against its manifest and the old server, and journaled.
    let out = cutover(&plan, &["archive", "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let facts = archive_facts(dir.path());
    let fact = facts.last().expect("an archive-verified fact");
    assert_eq!(fact["value"]["ok"], true, "{fact:#}");
    assert_eq!(fact["value"]["online"], true, "{fact:#}");
    assert_eq!(fact["value"]["mailboxes"][0]["messages"], 6, "{fact:#}");
    assert_eq!(
        fact["value"]["mailboxes"][0]["inbox_uidnext"], 4,
        "{fact:#}"
    );
    let manifest = std::fs::read(archive.join("MANIFEST.sha256")).unwrap();
    assert_eq!(
        fact["value"]["manifest_sha256"],
        cutover::mail::archive::sha256_hex(&manifest)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("archive.json")).unwrap()).unwrap();
    let inbox = &json["mailboxes"][ALICE]["folders"]["INBOX"];
    assert_eq!(inbox["old_messages"], 3, "{inbox:#}");
    assert_eq!(inbox["list"][1]["message_id"], "<2@x>", "{inbox:#}");

    // The old server was only read.
    assert_eq!(old.message_files(ALICE), old_before);

    // A Dovecot pointed at the archive serves every message as the old server did.
    let original = served(&old, "alice-pw").await;
    let Some(restoring) = Dovecot::start_serving_archive("restore", &archive) else {
        return;
    };
    restoring.add_user(ALICE, "restore-pw");
    let restored = served(&restoring, "restore-pw").await;
    assert_eq!(restored, original, "{}", restoring.log());
    // Serving it changed nothing the manifest covers.
    let check = sha256sum_check(&archive);
    assert!(check.status.success(), "{}", text(&check));
    let out = cutover(&plan, &["archive", "--verify", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A flipped byte fails the verification, naming the file.
    let victim = archive.join(flagged);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&victim, bytes).unwrap();
    let out = cutover(&plan, &["archive", "--verify", "--offline"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let name = flagged.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text(&out).contains(&name), "{}", text(&out));
    let facts = archive_facts(dir.path());
    assert_eq!(facts.last().unwrap()["value"]["ok"], false);
    // Without a plan, the archive alone still verifies offline (and fails the same way).
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["--plan", "/nonexistent/cutover.toml", "archive", "--verify"])
        .arg(&archive)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&name), "{}", text(&out));
}

#[test]
fn archive_refuses_to_start_without_room_saying_how_much_is_needed() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    old.add_user(ALICE, "alice-pw");
    new.add_user(ALICE, "alice-pw");
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(2_000_000));
    old.seed(ALICE, "INBOX", &[SeedMessage::new(big)]);
    let dir = tempfile::tempdir().expect("dir");
    // A 1 MB file system for the archive.
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        if std::env::var("CUTOVER_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!("cannot mount a small tmpfs for the archive");
        }
        println!("SKIPPED: cannot mount a small tmpfs");
        return;
    }
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        plan_text(&old, &new, &[ALICE], ARCHIVE_TABLES)
            .replace("dir = \"archive\"", "dir = \"small/archive\""),
    )
    .unwrap();
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw")],
        None,
    );
    let out = cutover(&plan, &["archive"]);
    let _ = Command::new("umount").arg(&small).status();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("still to archive need 2 MB"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("free"), "{}", text(&out));
}

/// Folder names Dovecot refuses to create, served by the rehearsal's IMAP server: each is
/// archived inside the directory, as a plain name, and the archive verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_folder_names_are_stored_inside_the_archive() {
    use cutover::clock::ManualClock;
    use cutover::mail::archive::{Archive, verify_offline};
    use cutover::mail::sync::{MemoryLog, SyncOptions, fill_archive, plan_archive};
    use cutover::sandbox::imap::{ImapServer, Mailstore};
    use std::sync::Arc;

    let store = Mailstore::new();
    store.create_user(ALICE, "pw").unwrap();
    let clock = Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().unwrap()));
    let server = ImapServer::start(store, clock.clone()).await.unwrap();
    let hostile = [
        "../../escaped",
        "a/..",
        "evil\u{1b}[2J\u{7}bell",
        "cur",
        ".hidden",
        "100%",
    ];
    {
        let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client.login(ALICE, "pw").await.map_err(|(e, _)| e).unwrap();
        for (i, name) in hostile.iter().enumerate() {
            let wire = cutover::mail::utf7::encode(name);
            session
                .create(&wire)
                .await
                .unwrap_or_else(|e| panic!("CREATE {name:?}: {e}"));
            let body = format!("Subject: {i}\r\n\r\nin {name:?}\r\n");
            session
                .append(&wire, None, None, body.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("APPEND {name:?}: {e}"));
        }
        session.logout().await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);
    let endpoint = cutover::plan::ImapEndpoint {
        url: format!("imap://{}", server.addr()),
        host: server.addr().ip().to_string(),
        port: server.addr().port(),
        security: Security::None,
        ca_file: None,
        insecure_skip_verify: false,
        pin_sha256: None,
    };
    let mut plan = dovecot::plan_for_endpoints(endpoint.clone(), endpoint, &[ALICE], &secrets);
    // The archive sits one level down: anything climbing out would land beside it.
    let root = dir.path().join("keep");
    std::fs::create_dir(&root).unwrap();
    let archive_dir = root.join("archive");
    plan.archive = Some(cutover::plan::ArchivePlan {
        dir: archive_dir.clone(),
        required: true,
    });
    let creds = cutover::mail::CredentialSource::new(plan.credentials.as_ref()).unwrap();
    let archive = Archive::open(&archive_dir).unwrap();
    let opts = SyncOptions::default();
    let planned = plan_archive(&plan, &creds, &opts, Some(&archive)).await;
    assert!(planned[0].error.is_none(), "{:?}", planned[0].error);
    let names: Vec<&str> = planned[0]
        .folders
        .iter()
        .map(|f| f.folder.name.as_str())
        .collect();
    for name in hostile {
        assert!(names.contains(&name), "{name:?} listed: {names:?}");
    }
    let log = MemoryLog::default();
    let fills = fill_archive(
        &plan, &creds, &*clock, &opts, &log, &archive, &planned, None,
    )
    .await;
    assert!(fills[0].error.is_none(), "{:?}", fills[0].error);
    assert_eq!(fills[0].messages, hostile.len() as u64);
    archive.finish().unwrap();
    assert!(archive.problems().is_empty(), "{:?}", archive.problems());
    drop(archive);

    // Nothing beside the archive; every file under it, with plain, printable names.
    let beside: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
    let files = archive_files(&archive_dir);
    assert_eq!(files.len(), hostile.len(), "{files:#?}");
    for path in files.keys() {
        let shown = path.to_string_lossy();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            path.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{shown:?}"
        );
        let canonical = archive_dir.join(path).canonicalize().unwrap();
        assert!(canonical.starts_with(archive_dir.canonicalize().unwrap()));
        // Every folder is a Maildir of its own, never another's cur/.
        assert_eq!(path.iter().filter(|c| *c == "cur").count(), 1, "{shown:?}");
    }
    assert!(
        files
            .keys()
            .any(|p| p.starts_with("alice@example.com/%2E./%2E./escaped/cur"))
    );
    let v = verify_offline(&archive_dir).unwrap();
    assert!(v.ok(), "{:?}", v.problems);
    let check = sha256sum_check(&archive_dir);
    assert!(check.status.success(), "{}", text(&check));
    server.shutdown().await;
}

/// `cutover archive` spends the same daily volume as the copy (`bytes_per_day_per_mailbox`):
/// what a copy already used today counts, and what does not fit waits for the next window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_stays_within_the_daily_volume_the_copy_shares() {
    use cutover::clock::SystemClock;
    use cutover::mail::archive::Archive;
    use cutover::mail::sync::{MemoryLog, SyncLog, SyncOptions, fill_archive, plan_archive};

    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    old.add_user(ALICE, "pw");
    new.add_user(ALICE, "pw");
    let big = |n: u32| {
        SeedMessage::new(format!(
            "Message-ID: <{n}@x>\r\nSubject: {n}\r\n\r\n{}\r\n",
            "y".repeat(400_000)
        ))
    };
    old.seed(ALICE, "INBOX", &[big(1), big(2), big(3)]);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);
    let mut plan = dovecot::plan(&old, &new, &[ALICE], &secrets);
    plan.sync.bytes_per_day_per_mailbox = Some(1_000_000);
    let creds = cutover::mail::CredentialSource::new(plan.credentials.as_ref()).unwrap();
    // A copy already moved 500 KB of this mailbox in the current window.
    let log = MemoryLog::default();
    log.record(&cutover::journal::Entry::Fact {
        at: jiff::Timestamp::now(),
        key: cutover::mail::sync::WINDOW_FACT.into(),
        value: serde_json::json!({
            "mailbox": ALICE,
            "start": jiff::Timestamp::now().to_string(),
            "bytes": 500_000,
        }),
        evidence: String::new(),
    })
    .unwrap();
    let archive = Archive::open(&dir.path().join("archive")).unwrap();
    let opts = SyncOptions::default();
    let planned = plan_archive(&plan, &creds, &opts, Some(&archive)).await;
    let fills = fill_archive(
        &plan,
        &creds,
        &SystemClock,
        &opts,
        &log,
        &archive,
        &planned,
        None,
    )
    .await;
    assert!(fills[0].error.is_none(), "{:?}", fills[0].error);
    // 500 KB used + one 400 KB message fits under 1 MB; the next waits.
    assert_eq!(fills[0].messages, 1, "{:?}", fills[0]);
    assert!(fills[0].paused_until.is_some(), "{:?}", fills[0]);
    let used: Vec<u64> = log
        .entries()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Fact { key, value, .. }
                if key == cutover::mail::sync::WINDOW_FACT =>
            {
                value["bytes"].as_u64()
            }
            _ => None,
        })
        .collect();
    assert!(used.last().is_some_and(|&b| b > 900_000), "{used:?}");
}

/// `decommission-old`'s gate as `status --json` shows it.
fn archive_gate(plan: &Path) -> serde_json::Value {
    let out = cutover(plan, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}", text(&out)));
    let step = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "decommission-old")
        .expect("decommission-old")
        .clone();
    step["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "mail.archive-verified")
        .unwrap_or_else(|| panic!("no archive gate: {step:#}"))
        .clone()
}

/// An archive verified before the last arrival in the old INBOX does not let the old server
/// be switched off: `status` (which probes the old INBOX and journals its UIDNEXT) fails the
/// gate naming the mailbox; with `required = false` it is a warning.
#[test]
fn an_archive_older_than_the_last_old_arrival_fails_the_decommission_gate() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    old.add_user(ALICE, "alice-pw");
    new.add_user(ALICE, "alice-pw");
    old.seed(
        ALICE,
        "INBOX",
        &[
            SeedMessage::new(msg("1@x", "one", "1")),
            SeedMessage::new(msg("2@x", "two", "2")),
        ],
    );
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("cutover.toml");
    std::fs::write(&plan, plan_text(&old, &new, &[ALICE], ARCHIVE_TABLES)).expect("plan");
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "alice-pw", "alice-pw")],
        None,
    );

    // Never verified: the gate says what to run.
    let gate = archive_gate(&plan);
    assert_eq!(gate["status"], "fail", "{gate:#}");
    assert_eq!(gate["kind"], "gate", "{gate:#}");
    assert!(
        gate["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("never verified")),
        "{gate:#}"
    );

    // Archived and verified online, covering the old INBOX as `status` sees it: it holds.
    let out = cutover(&plan, &["archive"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(&plan, &["archive", "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let gate = archive_gate(&plan);
    assert_eq!(gate["status"], "pass", "{gate:#}");

    // New mail reaches the old INBOX after the verification: the archive is older than the
    // last arrival, and the gate names the mailbox.
    old.seed(
        ALICE,
        "INBOX",
        &[SeedMessage::new(msg("3@x", "after the archive", "3"))],
    );
    let gate = archive_gate(&plan);
    assert_eq!(gate["status"], "fail", "{gate:#}");
    let evidence = gate["evidence"].as_str().unwrap_or_default();
    assert!(
        evidence.contains("older than the last arrival in the old INBOX: alice@example.com"),
        "{gate:#}"
    );
    assert!(evidence.contains("cutover archive"), "{gate:#}");

    // A company whose old provider keeps its own export: the same is a warning.
    std::fs::write(
        &plan,
        plan_text(&old, &new, &[ALICE], ARCHIVE_TABLES)
            .replace("dir = \"archive\"", "dir = \"archive\"\nrequired = false"),
    )
    .expect("plan");
    let gate = archive_gate(&plan);
    assert_eq!(gate["status"], "warn", "{gate:#}");

    // Archived and verified again, it holds again.
    let out = cutover(&plan, &["archive"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cutover(&plan, &["archive", "--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(archive_gate(&plan)["status"], "pass");
}
