//! Benchmark: what the archive costs. Between two private Dovecots holding the same
//! 10,000-message mailbox as `mail_copy`, in the same run and alternating rounds:
//!
//! - the copy without the archive, and the same copy writing the archive (target: the
//!   archive adds under 10 % to the copy's time);
//! - `cutover archive` alone (scan, fetch, write, manifest) against mbsync (isync) pulling
//!   the same mailbox into a Maildir (the ratio cutover/mbsync is printed). mbsync runs
//!   with its defaults, so it fsyncs every message file; the archive syncs only
//!   `archive.json` and the manifest (a file lost to a crash is found by `--verify` and
//!   read again by the next `cutover archive`).
//!
//! `cargo bench --bench mail_archive` (env `CUTOVER_BENCH_MESSAGES`, default 10000;
//! `CUTOVER_BENCH_ROUNDS`, default 3; the best round of each is compared, as the machine
//! is shared).

#[path = "../tests/support/dovecot.rs"]
mod dovecot;
#[path = "support/mailbox.rs"]
mod mailbox;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use cutover::clock::SystemClock;
use cutover::mail::archive::Archive;
use cutover::mail::credentials::CredentialSource;
use cutover::mail::sync::{MemoryLog, SyncOptions, fill_archive, plan_archive, run_sync};
use dovecot::{Dovecot, SeedMessage, write_secrets};
use mailbox::{ALICE, FOLDERS, env_usize, message, which};

/// Message files under a Maildir tree.
fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                usize::from(
                    path.parent()
                        .and_then(|p| p.file_name())
                        .is_some_and(|n| n == "cur" || n == "new"),
                )
            }
        })
        .sum()
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn main() {
    let messages = env_usize("CUTOVER_BENCH_MESSAGES", 10_000);
    let rounds = env_usize("CUTOVER_BENCH_ROUNDS", 3).max(1);
    let (Some(old), Some(new)) = (
        Dovecot::start_for_many_users("old"),
        Dovecot::start_for_many_users("new"),
    ) else {
        return;
    };
    for d in [&old, &new] {
        d.add_user(ALICE, "pw");
    }
    let mut bytes = 0usize;
    for (i, folder) in FOLDERS.iter().enumerate() {
        let count = messages / FOLDERS.len() + usize::from(i < messages % FOLDERS.len());
        let mut chunk = Vec::new();
        for n in 0..count {
            let m = message(i * 1_000_000 + n, folder);
            bytes += m.len();
            chunk.push(SeedMessage::new(m).flags(if n % 2 == 0 { "S" } else { "" }));
            if chunk.len() == 1_000 {
                old.seed(ALICE, folder, &chunk);
                chunk.clear();
            }
        }
        old.seed(ALICE, folder, &chunk);
    }
    println!(
        "seeded {messages} messages, {:.1} MiB, in {} folders",
        bytes as f64 / 1048576.0,
        FOLDERS.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);
    let plan = dovecot::plan(&old, &new, &[ALICE], &secrets);
    let creds = CredentialSource::new(plan.credentials.as_ref()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mbsync = which("mbsync");
    let maildir = dir.path().join("mbsync-maildir");
    let rc = dir.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount old\nHost localhost\nPort {}\nUser {ALICE}\nPass pw\nSSLType IMAPS\nCertificateFile {}\nPipelineDepth 50\n\n\
             IMAPStore old\nAccount old\n\n\
             MaildirStore local\nPath {m}/\nInbox {m}/INBOX\nSubFolders Verbatim\n\n\
             Channel pull\nFar :old:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\nSyncState *\n",
            old.imaps_port,
            old.ca_file.display(),
            m = maildir.display()
        ),
    )
    .unwrap();

    let (mut plain, mut archived, mut alone, mut pulled) = (vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        // The copy without the archive, onto an emptied new server.
        new.doveadm(&["expunge", "-u", ALICE, "mailbox", "*", "all"]);
        let t = Instant::now();
        let report = runtime.block_on(run_sync(
            &plan,
            &creds,
            &SystemClock,
            &SyncOptions::default(),
            &MemoryLog::default(),
            None,
        ));
        let secs = t.elapsed().as_secs_f64();
        println!(
            "round {round} copy:                {} copied in {secs:.2} s",
            report.mailboxes[0].copied()
        );
        plain.push(secs);

        // The same copy writing the archive (archive.json and the manifest included).
        new.doveadm(&["expunge", "-u", ALICE, "mailbox", "*", "all"]);
        let archive_dir = dir.path().join(format!("archive-copy-{round}"));
        let t = Instant::now();
        let archive = Arc::new(Archive::open(&archive_dir).unwrap());
        let opts = SyncOptions {
            archive: Some(archive.clone()),
            ..SyncOptions::default()
        };
        let report = runtime.block_on(run_sync(
            &plan,
            &creds,
            &SystemClock,
            &opts,
            &MemoryLog::default(),
            None,
        ));
        archive.finish().unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "round {round} copy with archive:   {} copied, {} archived in {secs:.2} s",
            report.mailboxes[0].copied(),
            archive.written().messages
        );
        archived.push(secs);
        drop(opts);
        drop(archive);
        let _ = std::fs::remove_dir_all(&archive_dir);

        // `cutover archive` alone into an empty directory.
        let archive_dir = dir.path().join(format!("archive-alone-{round}"));
        let t = Instant::now();
        let archive = Archive::open(&archive_dir).unwrap();
        let opts = SyncOptions::default();
        let planned = runtime.block_on(plan_archive(&plan, &creds, &opts, Some(&archive)));
        let fills = runtime.block_on(fill_archive(
            &plan,
            &creds,
            &SystemClock,
            &opts,
            &MemoryLog::default(),
            &archive,
            &planned,
            None,
        ));
        archive.finish().unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "round {round} archive alone:       {} archived in {secs:.2} s",
            fills.iter().map(|f| f.messages).sum::<u64>()
        );
        alone.push(secs);
        drop(archive);
        let _ = std::fs::remove_dir_all(&archive_dir);

        // mbsync pulling the same mailbox into a Maildir.
        if let Some(bin) = &mbsync {
            let _ = std::fs::remove_dir_all(&maildir);
            std::fs::create_dir_all(&maildir).unwrap();
            let t = Instant::now();
            let out = Command::new(bin)
                .arg("-c")
                .arg(&rc)
                .args(["-a", "-q"])
                .output()
                .unwrap();
            let secs = t.elapsed().as_secs_f64();
            if !out.status.success() {
                println!("mbsync failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            println!(
                "round {round} mbsync to a Maildir: {} pulled in {secs:.2} s",
                files_under(&maildir)
            );
            pulled.push(secs);
        }
    }
    println!(
        "best of {rounds}: copy {:.2} s, copy with archive {:.2} s: the archive adds {:+.1} % (target < 10 %)",
        best(&plain),
        best(&archived),
        (best(&archived) / best(&plain) - 1.0) * 100.0
    );
    if pulled.is_empty() {
        println!("mbsync not installed: archive alone {:.2} s", best(&alone));
    } else {
        println!(
            "best of {rounds}: archive alone {:.2} s, mbsync to a Maildir {:.2} s; ratio cutover/mbsync: {:.2}",
            best(&alone),
            best(&pulled),
            best(&alone) / best(&pulled)
        );
    }
}
