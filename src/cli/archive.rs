//! `cutover archive`: fills in the archive with what the copies did not read from the old
//! server, and `--verify [DIR]` checks it (offline against its manifest, online against
//! the old server too), journaling what it found.

use std::path::{Path, PathBuf};

use crate::clock::Clock;
use crate::mail::archive::{Archive, free_space, space_needed, verify_offline};
use crate::mail::sync::{compare_archive_with_old, fill_archive, plan_archive};
use crate::mail::{CredentialSource, SyncOptions};
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Session};

fn runtime() -> Result<tokio::runtime::Runtime, CommandFailure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandFailure::Runtime)
}

fn credentials(plan: &Plan) -> Result<CredentialSource, CommandFailure> {
    let Some(credentials) = &plan.credentials else {
        return Err(CommandFailure::NoCredentials);
    };
    CredentialSource::new(Some(credentials)).map_err(CommandFailure::Credentials)
}

/// `cutover archive [--mailbox A]...`: reads what the archive lacks, within the `[sync]`
/// limits, after checking it fits in the free space.
pub(crate) fn fill(
    plan: &Plan,
    mailboxes: Vec<String>,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let dir = &plan.archive.as_ref().ok_or(CommandFailure::NoArchive)?.dir;
    let session = Session::open(plan)?;
    for m in &mailboxes {
        session.mailbox(m)?;
    }
    let creds = credentials(plan)?;
    let archive = Archive::open(dir)?;
    let options = SyncOptions {
        mailboxes,
        ..SyncOptions::default()
    };
    let runtime = runtime()?;
    let planned = runtime.block_on(plan_archive(plan, &creds, &options, Some(&archive)));
    let (free, block) = free_space(dir)?;
    let sizes = planned
        .iter()
        .flat_map(|p| &p.folders)
        .flat_map(|f| &f.missing)
        .map(|m| u64::from(m.size));
    let need = space_needed(sizes, block);
    if need > free {
        return Err(crate::mail::archive::ArchiveError::NoSpace {
            dir: dir.clone(),
            need,
            free,
        }
        .into());
    }
    let (messages, bytes) = planned.iter().fold((0, 0), |(n, b), p| {
        let (pn, pb) = p.missing();
        (n + pn, b + pb)
    });
    println!(
        "Archiving {} ({}) the archive lacks into {} ({} free).",
        crate::units::count(messages, "message", "messages"),
        crate::units::bytes(bytes),
        dir.display(),
        crate::units::bytes(free)
    );
    let fills = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel::<crate::mail::SyncProgress>(64);
        let printer = tokio::spawn(super::sync::print_progress(
            rx,
            plan.timezone.clone(),
            "archived",
        ));
        let fills = fill_archive(
            plan,
            &creds,
            clock,
            &options,
            session.recorder.journal(),
            &archive,
            &planned,
            Some(tx),
        )
        .await;
        let _ = printer.await;
        fills
    });
    let mut unfinished = 0;
    for p in &planned {
        for (folder, why) in &p.skipped {
            println!("{}: {folder} skipped: {why}", sanitize(&p.address));
        }
        if let Some(line) = p.unread() {
            println!("{line}");
            unfinished += 1;
        }
    }
    for f in &fills {
        let mut line = format!(
            "{}: {} ({}) archived",
            sanitize(&f.address),
            crate::units::count(f.messages, "message", "messages"),
            crate::units::bytes(f.bytes)
        );
        if let Some(until) = f.paused_until {
            line.push_str(&format!(
                "; the daily volume (bytes_per_day_per_mailbox) is used up: run `cutover archive` again after {}",
                until
                    .to_zoned_datetime(plan.timezone.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
            ));
            unfinished += 1;
        }
        if let Some(e) = &f.error {
            line.push_str(&format!("; stopped: {e}"));
            unfinished += 1;
        }
        println!("{line}");
    }
    super::sync::finish_archive(&archive, "is still missing");
    if !archive.problems().is_empty() && unfinished == 0 {
        unfinished = 1;
    }
    match unfinished {
        0 => Ok(()),
        n => Err(CommandFailure::ArchiveIncomplete {
            unfinished: n.min(planned.len()),
            total: planned.len(),
        }),
    }
}

/// `cutover archive --verify [DIR]`: every file against the manifest and every folder's
/// count against archive.json; unless `offline`, every old message against the archive.
/// Journals the outcome as a fact.
pub(crate) fn verify(
    plan: &Plan,
    dir: Option<PathBuf>,
    mailboxes: Vec<String>,
    offline: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let dir = match dir {
        Some(d) => d,
        None => plan
            .archive
            .as_ref()
            .ok_or(CommandFailure::NoArchive)?
            .dir
            .clone(),
    };
    let mut session = Session::open(plan)?;
    for m in &mailboxes {
        session.mailbox(m)?;
    }
    if !dir.join(crate::mail::archive::ARCHIVE_JSON).exists() {
        // Not an archive (yet): say so without creating anything there.
        verify_offline(&dir)?;
    }
    // Held while verifying: no copy writes into what is being read.
    let _lock = Archive::open(&dir)?;
    let mut v = verify_offline(&dir)?;
    if !offline {
        let creds = credentials(plan)?;
        let options = SyncOptions {
            mailboxes,
            ..SyncOptions::default()
        };
        runtime()?.block_on(compare_archive_with_old(
            plan, &creds, &options, &dir, &mut v,
        ))?;
    }
    report(&v);
    session.recorder.archive_verification(&v, clock.now())?;
    if v.ok() {
        Ok(())
    } else {
        Err(CommandFailure::ArchiveUnverified {
            problems: v.problems.len(),
        })
    }
}

/// `--verify` with no plan to read: the archive alone, offline, nothing journaled.
pub(crate) fn verify_without_plan(dir: &Path) -> Result<(), CommandFailure> {
    let v = verify_offline(dir)?;
    report(&v);
    println!("(No plan: the old server was not compared and nothing was journaled.)");
    if v.ok() {
        Ok(())
    } else {
        Err(CommandFailure::ArchiveUnverified {
            problems: v.problems.len(),
        })
    }
}

fn report(v: &crate::mail::archive::Verification) {
    for problem in &v.problems {
        println!("✗ {}", sanitize(problem));
    }
    for m in &v.mailboxes {
        println!(
            "{}: {} ({}) in {}{}{}",
            sanitize(&m.address),
            crate::units::count(m.messages, "message", "messages"),
            crate::units::bytes(m.bytes),
            crate::units::count(m.folders, "folder", "folders"),
            m.old_messages
                .map(|n| format!("; the old server has {n}"))
                .unwrap_or_default(),
            m.inbox_uidnext
                .map(|u| format!("; covers the old INBOX below UID {u}"))
                .unwrap_or_default()
        );
    }
    let how = if v.online {
        "against its manifest and the old server"
    } else {
        "against its manifest (offline)"
    };
    if v.ok() {
        println!(
            "✓ {} verified {how}: {} files, manifest SHA-256 {}",
            v.dir.display(),
            v.files,
            v.manifest_sha256
        );
    } else {
        println!(
            "✗ {} did not verify {how}: {}",
            v.dir.display(),
            crate::units::count(v.problems.len() as u64, "problem", "problems")
        );
    }
}
