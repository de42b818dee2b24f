//! A provider's published limits, obeyed by the copy against two real private Dovecots:
//! a daily volume per mailbox pauses that mailbox until the next 24 h window (on an
//! injected clock) and the copy still ends verified; the connections per mailbox never
//! exceed the plan's cap (counted in Dovecot's own log).

#[path = "support/dovecot.rs"]
mod dovecot;

use std::time::{Duration, Instant};

use cutover::clock::{ManualClock, SystemClock};
use cutover::journal::Entry;
use cutover::mail::credentials::CredentialSource;
use cutover::mail::sync::{MemoryLog, RATE_FACT, SyncOptions, WINDOW_FACT, run_sync};
use dovecot::{Dovecot, SeedMessage, plan, write_secrets};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// A message of about `kb` KB with its own Message-ID.
fn message(n: u32, kb: usize) -> SeedMessage {
    let line = "x".repeat(78);
    let body: String = (0..kb * 1000 / 80).map(|_| format!("{line}\r\n")).collect();
    SeedMessage::new(format!(
        "Message-ID: <{n}@limits.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: bob@example.org\r\nTo: {ALICE}\r\nSubject: message {n}\r\n\r\n{body}"
    ))
}

struct World {
    old: Dovecot,
    new: Dovecot,
    _dir: tempfile::TempDir,
    plan: cutover::plan::Plan,
}

fn world(users: &[&str]) -> Option<World> {
    let old = Dovecot::start("old")?;
    let new = Dovecot::start("new")?;
    let pairs: Vec<(&str, &str)> = users.iter().map(|u| (*u, "pw")).collect();
    old.add_users(&pairs);
    new.add_users(&pairs);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    let triples: Vec<(&str, &str, &str)> = users.iter().map(|u| (*u, "pw", "pw")).collect();
    write_secrets(&secrets, &triples, None);
    let plan = plan(&old, &new, users, &secrets);
    Some(World {
        old,
        new,
        _dir: dir,
        plan,
    })
}

fn paused_lines(log: &MemoryLog) -> Vec<String> {
    log.snapshot()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sync {
                detail: Some(d), ..
            } if d.starts_with("paused:") => Some(d),
            _ => None,
        })
        .collect()
}

/// Waits (real time, at most 30 s) until the log holds `n` pause lines.
async fn until_paused(log: &MemoryLog, n: usize, old: &Dovecot) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while paused_lines(log).len() < n {
        assert!(
            Instant::now() < deadline,
            "no pause number {n}: {:?}\n{}",
            log.snapshot(),
            old.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_volume_pauses_the_mailbox_until_the_next_window_and_the_copy_ends_verified() {
    let Some(mut w) = world(&[ALICE]) else { return };
    // 7 messages of about 300 KB under a 1 MB daily volume: 3 per window, so 3 windows.
    w.old.seed(
        ALICE,
        "INBOX",
        &(1..=4).map(|n| message(n, 300)).collect::<Vec<_>>(),
    );
    w.old.seed(
        ALICE,
        "Archive",
        &(5..=7).map(|n| message(n, 300)).collect::<Vec<_>>(),
    );
    w.plan.sync.bytes_per_day_per_mailbox = Some(1_000_000);
    let t0: jiff::Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    let clock = ManualClock::new(t0);
    let log = MemoryLog::default();
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let copy = {
        let (plan, clock, log) = (w.plan.clone(), clock.clone(), log.clone());
        tokio::spawn(async move {
            let opts = SyncOptions {
                pause_poll: Duration::from_millis(20),
                ..SyncOptions::default()
            };
            run_sync(&plan, &creds, &clock, &opts, &log, None).await
        })
    };

    // Day 1: three messages, then the mailbox pauses, saying when it resumes.
    until_paused(&log, 1, &w.old).await;
    let first = &paused_lines(&log)[0];
    assert!(
        first.contains("daily limit of 1 MB") && first.contains("resumes at 2026-01-06 08:00 UTC"),
        "{first}"
    );
    assert_eq!(w.new.message_files(ALICE).len(), 3);
    // It stays paused while the clock stands still, however long in real time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!copy.is_finished(), "the copy ended inside the window");
    assert_eq!(w.new.message_files(ALICE).len(), 3);

    // Day 2: the next window, three more; day 3: the last one, then verification.
    clock.advance(jiff::SignedDuration::from_hours(24));
    until_paused(&log, 2, &w.old).await;
    assert!(
        paused_lines(&log)[1].contains("resumes at 2026-01-07 08:00 UTC"),
        "{:?}",
        paused_lines(&log)
    );
    assert_eq!(w.new.message_files(ALICE).len(), 6);
    clock.advance(jiff::SignedDuration::from_hours(24));
    let report = tokio::time::timeout(Duration::from_secs(30), copy)
        .await
        .expect("the copy ends in the third window")
        .unwrap();
    let table = report.render_table();
    assert_eq!(report.exit_code(), 0, "{table}");
    assert!(table.contains("verified complete"), "{table}");
    assert_eq!(
        report.mailboxes[0].copied(),
        7,
        "every pass counted: {table}"
    );
    assert_eq!(w.new.message_files(ALICE).len(), 7);
    assert_eq!(paused_lines(&log).len(), 2);

    let entries = log.snapshot();
    // No window ever counted more than the daily volume, and each resumption was journaled.
    for e in &entries {
        if let Entry::Fact { key, value, .. } = e
            && key == WINDOW_FACT
        {
            assert!(value["bytes"].as_u64().unwrap() <= 1_000_000, "{value}");
        }
    }
    let resumed = entries
        .iter()
        .filter(|e| matches!(e, Entry::Sync { detail: Some(d), .. } if d.starts_with("resumed:")))
        .count();
    assert_eq!(resumed, 2);
    // The final line is the verified report; the copy's rate (waits excluded) is journaled.
    let last_sync = entries.iter().rev().find_map(|e| match e {
        Entry::Sync { state, .. } => Some(state.clone()),
        _ => None,
    });
    assert_eq!(last_sync.as_deref(), Some("verified"));
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::Fact { key, .. } if key == RATE_FACT)),
        "no measured rate"
    );
}

/// The most sessions of `login` open at once, from Dovecot's log: a session opens at its
/// `Login:` line and closes at its `Logged out` or `Disconnected` line (by session id).
fn peak_sessions(d: &Dovecot, login: &str) -> usize {
    let log = d.log();
    let mut open = std::collections::HashSet::new();
    let mut peak = 0;
    for line in log.lines() {
        let Some(session) = line
            .split("session=<")
            .nth(1)
            .or_else(|| line.split('>').nth(1).and_then(|r| r.strip_prefix('<')))
            .and_then(|r| r.split('>').next())
        else {
            continue;
        };
        if line.contains("imap-login: Info: Login: user=<") && line.contains(&format!("<{login}>"))
        {
            open.insert(session.to_string());
            peak = peak.max(open.len());
        } else if line.contains(&format!("imap({login})"))
            && (line.contains("Logged out") || line.contains("Disconnected"))
        {
            open.remove(session);
        }
    }
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_mailbox_never_exceed_the_plan_s_cap() {
    let Some(mut w) = world(&[ALICE, BOB]) else {
        return;
    };
    // Six folders each: the copy would use its 4 lanes if nothing capped them.
    for user in [ALICE, BOB] {
        for (i, folder) in ["INBOX", "A", "B", "C", "D", "E"].iter().enumerate() {
            let n = i as u32 * 10;
            w.old.seed(
                user,
                folder,
                &(n..n + 3).map(|k| message(k, 20)).collect::<Vec<_>>(),
            );
        }
    }
    let creds = CredentialSource::new(w.plan.credentials.as_ref()).unwrap();
    let log = MemoryLog::default();
    let only = |who: &str| SyncOptions {
        mailboxes: vec![who.to_string()],
        ..SyncOptions::default()
    };
    // Bob without a cap: the log shows the 4 lanes side by side (what the count can see).
    let report = run_sync(&w.plan, &creds, &SystemClock, &only(BOB), &log, None).await;
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    w.old.wait_until_no_sessions(BOB);
    w.new.wait_until_no_sessions(BOB);
    assert_eq!(peak_sessions(&w.old, BOB), 4, "{}", w.old.log());
    assert_eq!(peak_sessions(&w.new, BOB), 4, "{}", w.new.log());

    // Alice under a cap of 2: never more than 2 at once on either server, and verified.
    w.plan.sync.connections_per_mailbox = Some(2);
    let report = run_sync(&w.plan, &creds, &SystemClock, &only(ALICE), &log, None).await;
    assert_eq!(report.exit_code(), 0, "{}", report.render_table());
    assert!(report.render_table().contains("verified complete"));
    w.old.wait_until_no_sessions(ALICE);
    w.new.wait_until_no_sessions(ALICE);
    assert_eq!(peak_sessions(&w.old, ALICE), 2, "{}", w.old.log());
    assert_eq!(peak_sessions(&w.new, ALICE), 2, "{}", w.new.log());
}

const PLAN: &str = r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"

[old]
mx = ["10 mx1.old.example."]
spf = ["include:_spf.old.example"]
imap = "imaps://imap.old.example:993"

[new]
mx = ["1 smtp.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = "imaps://imap.new.example:993"

[[mailbox]]
address = "alice@example.com"

[sync]
"#;

fn load(sync_lines: &str) -> Result<cutover::plan::Plan, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let env = cutover::plan::load::Environment {
        login_user: "tester".into(),
        system_timezone: None,
    };
    cutover::plan::load::parse(
        &dir.path().join("plan.toml"),
        &format!("{PLAN}{sync_lines}"),
        &env,
    )
    .map(|l| l.plan)
    .map_err(|e| {
        e.diagnostics
            .iter()
            .map(|d| {
                d.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            })
            .collect()
    })
}

#[test]
fn the_plan_takes_the_copy_limits_as_providers_publish_them() {
    let plan = load("connections_per_mailbox = 20\nbytes_per_day_per_mailbox = \"2500MB\"\n")
        .expect("valid");
    assert_eq!(plan.sync.connections_per_mailbox, Some(20));
    assert_eq!(plan.sync.bytes_per_day_per_mailbox, Some(2_500_000_000));
    for (written, bytes) in [
        ("\"2.5GB\"", 2_500_000_000),
        ("\"500 MB\"", 500_000_000),
        ("\"1 GiB\"", 1_073_741_824),
        ("3000000000", 3_000_000_000),
    ] {
        let plan = load(&format!("bytes_per_day_per_mailbox = {written}\n")).expect(written);
        assert_eq!(
            plan.sync.bytes_per_day_per_mailbox,
            Some(bytes),
            "{written}"
        );
    }
    // Unset: no cap, and the copy's own connection default.
    let plan = load("").expect("valid");
    assert_eq!(plan.sync.connections_per_mailbox, None);
    assert_eq!(plan.sync.bytes_per_day_per_mailbox, None);
}

#[test]
fn a_bad_copy_limit_is_an_error_at_its_line_and_column() {
    // [sync] is line 19: the values below are on lines 20 and 21, after `key = `.
    let errors = load("bytes_per_day_per_mailbox = \"2.5 GiG\"\nconnections_per_mailbox = 0\n")
        .expect_err("invalid");
    assert_eq!(
        errors,
        vec![
            "plan.toml:20:29: `sync.bytes_per_day_per_mailbox` is not a size of at least 1 MB — write it as the provider publishes it, e.g. `bytes_per_day_per_mailbox = \"2500MB\"` or `\"2.5GB\"` (KB, MB, GB, TB; KiB, MiB, GiB, TiB)".to_string(),
            "plan.toml:21:27: `sync.connections_per_mailbox` must be a whole number from 1 to 64 — write e.g. `connections_per_mailbox = 1`".to_string(),
        ]
    );
    // A unit left out (bytes, not megabytes) is caught too.
    let errors = load("bytes_per_day_per_mailbox = 2500\n").expect_err("too small");
    assert!(errors[0].starts_with("plan.toml:20:29: "), "{errors:?}");
    // A typo is named with the key meant.
    let errors = load("bytes_per_day = \"1GB\"\n").expect_err("unknown key");
    assert!(
        errors[0].contains("unknown key `bytes_per_day` in [sync]")
            && errors[0].contains("bytes_per_day_per_mailbox"),
        "{errors:?}"
    );
}

fn cutover(plan: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover")
}

/// A plan file for two Dovecots with `sync` as its [sync] table.
fn plan_file(old: &Dovecot, new: &Dovecot, sync: &str) -> String {
    let side = |d: &Dovecot| {
        let e = d.endpoint(cutover::plan::Security::Implicit);
        format!(
            "{{ url = \"{}\", ca_file = \"{}\" }}",
            e.url,
            e.ca_file.expect("test CA").display()
        )
    };
    format!(
        "domain = \"example.com\"\nstart = \"2026-12-07T09:00\"\ntimezone = \"UTC\"\noperator = \"tester\"\n\n\
[dns]\nresolvers = [\"127.0.0.1:9\"]\nauthoritative = [\"127.0.0.1:9\"]\ntimeout = \"300ms\"\n\n\
[old]\nmx = [\"10 mx1.old.example.\"]\nspf = [\"include:_spf.old.example\"]\nimap = {}\n\n\
[new]\nmx = [\"1 smtp.new.example.\"]\nspf = [\"include:_spf.new.example\"]\ndkim_selector = \"sel1\"\nimap = {}\n\n\
[credentials]\nsecrets_file = \"secrets.toml\"\n\n[sync]\n{sync}\n\n\
[[mailbox]]\naddress = \"{ALICE}\"\n\n[[mailbox]]\naddress = \"{BOB}\"\n",
        side(old),
        side(new)
    )
}

#[test]
fn status_shows_each_old_size_and_the_copy_estimate_under_the_daily_volume() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[(ALICE, "pw"), (BOB, "pw")]);
    }
    // Alice: 4 × 300 KB in the folders the copy copies, and a Junk message it never copies.
    old.seed(ALICE, "INBOX", &[message(1, 300), message(2, 300)]);
    old.seed(ALICE, "Archive", &[message(3, 300), message(4, 300)]);
    old.seed(ALICE, "Junk", &[message(5, 300)]);
    old.seed(BOB, "INBOX", &[message(6, 20)]);
    let size = |user: &str| -> u64 {
        old.message_files(user)
            .iter()
            .filter(|(path, _)| !path.contains("Junk"))
            .map(|(_, body)| body.len() as u64)
            .sum()
    };
    let (alice_bytes, bob_bytes) = (size(ALICE), size(BOB));
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let sync = "exclude = [\"Junk\"]\nbytes_per_day_per_mailbox = \"1MB\"";
    std::fs::write(&plan, plan_file(&old, &new, sync)).unwrap();
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[(ALICE, "pw", "pw"), (BOB, "pw", "pw")],
        None,
    );

    let out = cutover(&plan, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (alice, bob) = (&v["mailboxes"][0], &v["mailboxes"][1]);
    assert_eq!(alice["old_bytes"], alice_bytes, "Junk left out: {alice}");
    assert_eq!(bob["old_bytes"], bob_bytes);
    // 1.2 MB under 1 MB a day at the assumed 2 MB/s: one full window, then 1 s for the rest.
    assert!(alice_bytes > 1_000_000 && alice_bytes < 1_300_000);
    assert_eq!(alice["copy_estimate_s"], 86_400 + 1);
    assert_eq!(bob["copy_estimate_s"], 1);
    assert_eq!(v["copy_estimate_s"], 86_401, "side by side: the longest");
    assert_eq!(v["copy_rate"]["measured"], false);

    let out = cutover(&plan, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("old size") && text.contains("copy time"),
        "{text}"
    );
    assert!(
        text.contains(
            "Copy estimate: 24 h for 1.2 MB on the old server (8 at a time, 1 MB per mailbox per 24 h), at 2 MB/s per mailbox (assumed: no copy has measured it yet)."
        ),
        "{text}"
    );

    // Offline nothing is measured: both keys are there, null.
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mailboxes"][0]["old_bytes"].is_null(), "{v}");
    assert!(v["mailboxes"][0]["copy_estimate_s"].is_null());
    assert!(v["copy_estimate_s"].is_null());
}
