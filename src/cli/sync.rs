//! `cutover sync`: copies what the new server lacks from the old one, verified, in the
//! foreground with progress, or in the background (`--detach`).

use crate::step::StepId;
use std::io::Write;

use crate::clock::Clock;
use crate::mail::SyncReport;
use crate::mail::archive::Archive;
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Session};
use crate::units::countdown;

/// `cutover sync --detach`: the same copy in a session of its own, so a dropped SSH link
/// never stops it; its output goes to `<plan-stem>.sync.log`. A copy back is refused here,
/// before it starts, when no rollback stands (not only in the log).
pub(crate) fn detached(
    plan: &Plan,
    mailboxes: &[String],
    dry_run: bool,
    reverse: bool,
) -> Result<(), CommandFailure> {
    if reverse {
        let session = Session::open(plan)?;
        for m in mailboxes {
            session.mailbox(m)?;
        }
        copy_back_plan(plan, &session, mailboxes)?;
    }
    let started = crate::detach::start_sync(&plan.path, mailboxes, dry_run, reverse)?;
    println!(
        "The copy runs in the background as pid {}. Its output: {}. Its progress is in the journal \
(the cockpit and `cutover status` follow it).",
        started.child.id(),
        started.log.display()
    );
    Ok(())
}

/// `cutover sync`: copies, printing progress, then the table; its outcome decides the exit code.
pub(crate) fn run(
    plan: &Plan,
    mailboxes: Vec<String>,
    dry_run: bool,
    reverse: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let session = Session::open(plan)?;
    for m in &mailboxes {
        session.mailbox(m)?;
    }
    let back = if reverse {
        Some(copy_back_plan(plan, &session, &mailboxes)?)
    } else {
        None
    };
    let Some(credentials) = &plan.credentials else {
        return Err(CommandFailure::NoCredentials);
    };
    let creds = crate::mail::CredentialSource::new(Some(credentials))
        .map_err(CommandFailure::Credentials)?;
    // Before the 24 h gate this is a pre-copy: useful, but `final-copy` still waits.
    let now = clock.now();
    if back.is_some() {
        // The copy back is not the forward copy: no pre-copy advice.
    } else if let Some(gate) = session
        .history()
        .switch_at()
        .and_then(|s| s.checked_add(jiff::SignedDuration::from_hours(24)).ok())
        && now < gate
    {
        println!(
            "Pre-copy: the switch was less than 24 h ago; `{}` waits until {} and the copy must run again then.",
            StepId::FinalCopy,
            crate::runbook::eval::local(plan, gate)
        );
    } else if session.history().switch_at().is_none() {
        println!(
            "Pre-copy: MX has not switched yet; `{}` runs again 24 h after the switch.",
            StepId::FinalCopy
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandFailure::Runtime)?;
    // Each message the forward copy reads from the old server is kept in the archive as
    // well; the copy back reads the new server, whose mail is not the old server's.
    let archive = match &back {
        Some(_) => None,
        None => open_archive(plan, dry_run),
    };
    let options = match &back {
        Some(back) => crate::mail::SyncOptions {
            mailboxes: back.mailboxes.clone(),
            dry_run,
            reverse: Some(back.reverse.clone()),
            ..crate::mail::SyncOptions::default()
        },
        None => crate::mail::SyncOptions {
            mailboxes,
            dry_run,
            archive: archive.clone(),
            ..crate::mail::SyncOptions::default()
        },
    };
    if back.as_ref().is_some_and(|b| b.mailboxes.is_empty()) {
        // Every selected mailbox waits for its POP3 tick: nothing to copy now.
        return copy_back_end(
            plan,
            &session,
            clock,
            &SyncReport {
                dry_run,
                mailboxes: vec![],
            },
            back,
        );
    }
    let report = runtime.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel::<crate::mail::SyncProgress>(64);
        let printer = tokio::spawn(print_progress(rx, plan.timezone.clone(), "copied"));
        let journal = session.recorder.journal();
        let back_log = crate::mail::sync::BackLog(journal);
        let log: &dyn crate::mail::SyncLog = if back.is_some() { &back_log } else { journal };
        let report = crate::mail::run_sync(plan, &creds, clock, &options, log, Some(tx)).await;
        let _ = printer.await;
        report
    });
    if let Some(archive) = &archive {
        finish_archive(archive, "the copy did not read");
    }
    print!("{}", report.render_table());
    if back.is_some() {
        return copy_back_end(plan, &session, clock, &report, back);
    }
    outcome(&report)
}

/// The plan's archive, open for this copy; when it cannot be written the copy goes on
/// without it, saying why (the mail reaching the new server matters more).
fn open_archive(plan: &Plan, dry_run: bool) -> Option<std::sync::Arc<Archive>> {
    let dir = &plan.archive.as_ref()?.dir;
    if dry_run {
        return None;
    }
    match Archive::open(dir) {
        Ok(a) => Some(std::sync::Arc::new(a)),
        Err(e) => {
            eprintln!("archive: {e}; copying without keeping the old messages in the archive");
            None
        }
    }
}

/// Writes archive.json and the manifest after a run, and says what the archive gained.
pub(super) fn finish_archive(archive: &Archive, rest: &str) {
    let written = archive.written();
    match archive.finish() {
        Ok(sha) => println!(
            "Archive {}: {} ({}) added; manifest SHA-256 {sha}. `cutover archive` fills in what {rest}; `cutover archive --verify` checks it.",
            archive.dir().display(),
            crate::units::count(written.messages, "message", "messages"),
            crate::units::bytes(written.bytes),
        ),
        Err(e) => eprintln!("archive: {e}"),
    }
    let problems = archive.problems();
    if let Some(first) = problems.first() {
        eprintln!(
            "archive: {} could not be kept; first: {}",
            crate::units::count(
                problems.len() as u64,
                "message or folder",
                "messages or folders"
            ),
            sanitize(first)
        );
    }
}

/// Prints progress lines as they come: one line rewritten on a terminal, a line every 5 s
/// in a log (`sync --detach`), a paused mailbox always on its own line.
pub(super) async fn print_progress(
    mut rx: tokio::sync::mpsc::Receiver<crate::mail::SyncProgress>,
    tz: jiff::tz::TimeZone,
    verb: &'static str,
) {
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut last_line = std::time::Instant::now();
    while let Some(p) = rx.recv().await {
        // A mailbox paused for its daily volume: always its own line, with when it resumes.
        if let Some(until) = p.paused_until {
            println!(
                "{}{}: paused, the daily volume (bytes_per_day_per_mailbox) is used up; resumes at {}",
                if interactive { "\r\x1b[2K" } else { "" },
                sanitize(&p.mailbox),
                until
                    .to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%d %H:%M %Z"),
            );
            continue;
        }
        let line = format!(
            "{}: {} {verb}, {} left, {:.0} msg/s{}",
            sanitize(&p.mailbox),
            p.messages_done,
            p.messages_left,
            p.messages_per_sec,
            p.eta_secs
                .map(|s| format!(
                    ", about {} left",
                    countdown(jiff::SignedDuration::from_secs(s as i64)).trim_start_matches("in ")
                ))
                .unwrap_or_default()
        );
        if interactive {
            print!("\r\x1b[2K{line}");
            let _ = std::io::stdout().flush();
        } else if last_line.elapsed() >= std::time::Duration::from_secs(5) || p.messages_left == 0 {
            println!("{line}");
            last_line = std::time::Instant::now();
        }
    }
    if interactive {
        println!();
    }
}

/// What `sync --reverse` copies: the mailboxes selected (all by default) less those still
/// waiting for their POP3 tick, and what it takes from each.
struct CopyBack {
    reverse: crate::mail::sync::Reverse,
    mailboxes: Vec<String>,
    /// Mailboxes whose POP3 fetch of the old server may still run (not ticked off).
    waiting: Vec<String>,
}

/// The copy back is possible only while a rollback stands and once the new MX was served.
fn copy_back_plan(
    plan: &Plan,
    session: &Session,
    selected: &[String],
) -> Result<CopyBack, CommandFailure> {
    let history = session.history();
    if crate::runbook::rollback::active(history).is_none() {
        return Err(CommandFailure::Usage(
            "`sync --reverse` copies mail back to the old server only after `cutover rollback`"
                .into(),
        ));
    }
    let entries = session.recorder.journal().replay()?.entries;
    let reverse = crate::mail::sync::Reverse::from_journal(&entries, history).ok_or_else(|| {
        CommandFailure::Usage(
            "the journal never saw the new MX served: no mail can have reached the new server by it, nothing to copy back".into(),
        )
    })?;
    // Copied back while its POP3 fetch still runs, a mailbox's mail would come straight
    // back into the new INBOX as duplicates: it waits for the operator's tick.
    let (mailboxes, waiting) = crate::mail::sync::copy_back_select(plan, history, selected);
    Ok(CopyBack {
        reverse,
        mailboxes,
        waiting,
    })
}

/// Journals each mailbox's copy back result (and those waiting for their POP3 tick), then
/// exits as the copy's outcome says; a mailbox waiting for its tick makes it incomplete.
fn copy_back_end(
    plan: &Plan,
    session: &Session,
    clock: &dyn Clock,
    report: &SyncReport,
    back: Option<CopyBack>,
) -> Result<(), CommandFailure> {
    let waiting = back.map(|b| b.waiting).unwrap_or_default();
    let journal = session.recorder.journal();
    if !report.dry_run {
        for m in &report.mailboxes {
            let result = crate::mail::sync::CopyBackResult::of(m);
            journal.append(&crate::mail::sync::copy_back_result(clock.now(), &result))?;
        }
        for address in &waiting {
            let result = crate::mail::sync::CopyBackResult {
                mailbox: address.clone(),
                state: "waiting".into(),
                copied: 0,
                missing: 0,
            };
            journal.append(&crate::mail::sync::copy_back_result(clock.now(), &result))?;
        }
    }
    for address in &waiting {
        println!(
            "{}: not copied back yet: it fetched the old server by POP3. Once that fetch is off, tick it: `cutover confirm {} --mailbox {}`.",
            sanitize(address),
            StepId::RollbackCopyBack,
            sanitize(address)
        );
    }
    let _ = plan;
    outcome(report)?;
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(CommandFailure::Incomplete {
            unfinished: waiting.len(),
            total: report.mailboxes.len() + waiting.len(),
            dry_run: report.dry_run,
        })
    }
}

/// The copy's outcome as the exit code `SyncReport::exit_code` decides: a refused login
/// (3) before an unreachable server (4) before an incomplete copy (1).
fn outcome(report: &SyncReport) -> Result<(), CommandFailure> {
    let mut errors = report.mailboxes.iter().filter_map(|m| m.error.as_ref());
    match report.exit_code() {
        0 => Ok(()),
        3 => match errors.find(|e| e.is_auth()) {
            Some(e) => Err(CommandFailure::Login(e.clone())),
            None => Err(incomplete(report)),
        },
        4 => match errors.find(|e| e.is_unreachable() || e.is_tls()) {
            Some(e) => Err(CommandFailure::Unreachable(e.clone())),
            None => Err(incomplete(report)),
        },
        _ => Err(incomplete(report)),
    }
}

fn incomplete(report: &SyncReport) -> CommandFailure {
    let unfinished = report
        .mailboxes
        .iter()
        .filter(|m| m.error.is_some() || (!report.dry_run && !m.verified()))
        .count();
    CommandFailure::Incomplete {
        unfinished,
        total: report.mailboxes.len(),
        dry_run: report.dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::sync::{FolderReport, MailboxReport};
    use crate::mail::{MailError, Place};
    use crate::plan::WhichSide;

    fn mailbox(address: &str, verified: bool, error: Option<MailError>) -> MailboxReport {
        MailboxReport {
            address: address.into(),
            folders: vec![FolderReport {
                verified,
                ..FolderReport::default()
            }],
            skipped: vec![],
            error,
        }
    }

    #[test]
    fn the_outcome_keeps_the_report_s_exit_code_and_names_the_first_cause() {
        let place = |m: &str| Place::new(m, WhichSide::Old, "imaps://old:993");
        let refused = MailError::Auth {
            place: place("b@x"),
            login: "b".into(),
            detail: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
        };
        let down = MailError::Unreachable {
            place: place("c@x"),
            detail: "connection refused".into(),
        };
        let report = |dry_run, mailboxes| SyncReport { dry_run, mailboxes };

        assert!(outcome(&report(false, vec![mailbox("a@x", true, None)])).is_ok());
        let incomplete = outcome(&report(
            false,
            vec![mailbox("a@x", true, None), mailbox("b@x", false, None)],
        ))
        .expect_err("b@x is not verified");
        assert_eq!(incomplete.exit_code(), 1);
        assert_eq!(
            incomplete.to_string(),
            "1 of 2 mailbox(es) not verified complete; the table above says why"
        );
        let login = outcome(&report(
            false,
            vec![
                mailbox("c@x", false, Some(down.clone())),
                mailbox("b@x", false, Some(refused)),
            ],
        ))
        .expect_err("a login failed");
        assert_eq!(login.exit_code(), 3);
        assert!(login.to_string().contains("login refused for b"), "{login}");
        let unreachable = outcome(&report(true, vec![mailbox("c@x", false, Some(down))]))
            .expect_err("a server is down");
        assert_eq!(unreachable.exit_code(), 4);
        assert!(
            unreachable.to_string().contains("unreachable"),
            "{unreachable}"
        );
    }
}
