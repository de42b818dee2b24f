//! `cutover sync`: copies what the new server lacks from the old one, verified, in the
//! foreground with progress, or in the background (`--detach`).

use crate::step::StepId;
use std::io::Write;

use crate::clock::Clock;
use crate::mail::SyncReport;
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Session};
use crate::units::countdown;

/// `cutover sync --detach`: the same copy in a session of its own, so a dropped SSH link
/// never stops it; its output goes to `<plan-stem>.sync.log`.
pub(crate) fn detached(
    plan: &Plan,
    mailboxes: &[String],
    dry_run: bool,
) -> Result<(), CommandFailure> {
    let started = crate::detach::start_sync(&plan.path, mailboxes, dry_run)?;
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
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let session = Session::open(plan)?;
    for m in &mailboxes {
        session.mailbox(m)?;
    }
    let Some(credentials) = &plan.credentials else {
        return Err(CommandFailure::NoCredentials);
    };
    let creds = crate::mail::CredentialSource::new(Some(credentials))
        .map_err(CommandFailure::Credentials)?;
    // Before the 24 h gate this is a pre-copy: useful, but `final-copy` still waits.
    let now = clock.now();
    if let Some(gate) = session
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
    let options = crate::mail::SyncOptions {
        mailboxes,
        dry_run,
        ..crate::mail::SyncOptions::default()
    };
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let report = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::mail::SyncProgress>(64);
        let tz = plan.timezone.clone();
        let printer = tokio::spawn(async move {
            let mut last_line = std::time::Instant::now();
            while let Some(p) = rx.recv().await {
                // A mailbox paused for its daily volume: always its own line, with when it resumes.
                if let Some(until) = p.paused_until {
                    println!(
                        "{}{}: paused, the daily volume (bytes_per_day_per_mailbox) is used up; resumes at {}",
                        if interactive { "\r\x1b[2K" } else { "" },
                        sanitize(&p.mailbox),
                        until.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d %H:%M %Z"),
                    );
                    continue;
                }
                let line = format!(
                    "{}: {} copied, {} left, {:.0} msg/s{}",
                    sanitize(&p.mailbox),
                    p.messages_done,
                    p.messages_left,
                    p.messages_per_sec,
                    p.eta_secs
                        .map(|s| format!(
                            ", about {} left",
                            countdown(jiff::SignedDuration::from_secs(s as i64))
                                .trim_start_matches("in ")
                        ))
                        .unwrap_or_default()
                );
                if interactive {
                    print!("\r\x1b[2K{line}");
                    let _ = std::io::stdout().flush();
                } else if last_line.elapsed() >= std::time::Duration::from_secs(5)
                    || p.messages_left == 0
                {
                    println!("{line}");
                    last_line = std::time::Instant::now();
                }
            }
            if interactive {
                println!();
            }
        });
        let report =
            crate::mail::run_sync(plan, &creds, clock, &options, session.recorder.journal(), Some(tx)).await;
        let _ = printer.await;
        report
    });
    print!("{}", report.render_table());
    outcome(&report)
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
