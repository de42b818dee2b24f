//! The copy back in the rehearsal, as `cutover sync --reverse` makes it, for the autopilot
//! and the rehearsal's copy key (during a rollback) alike: the new server's mail since the
//! switch appended to the old server, each mailbox's result journaled; a mailbox that
//! fetched the old server by POP3 waits until it is ticked in `rollback-copy-back`.

use crate::clock::Clock;
use crate::journal::{History, Journal};
use crate::mail::CredentialSource;
use crate::mail::sync::{BackLog, CopyBackResult, Reverse, copy_back_result, copy_back_select};
use crate::plan::Plan;

/// What one copy back did.
pub(crate) struct CopyBackRun {
    /// The mailboxes copied back now, by address.
    pub(crate) mailboxes: Vec<String>,
    /// Messages appended to the old server.
    pub(crate) copied: u64,
    /// Every mailbox copied back now was verified.
    pub(crate) verified: bool,
    /// Mailboxes waiting for their POP3 tick.
    pub(crate) waiting: Vec<String>,
}

/// Runs the copy back of every mailbox that may be copied back now; `Err` says why none can.
pub(crate) async fn run(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    journal: &Journal,
    history: &History,
) -> Result<CopyBackRun, String> {
    let entries = journal.replay().map_err(|e| e.to_string())?.entries;
    let reverse = Reverse::from_journal(&entries, history).ok_or_else(|| {
        "the journal never saw the new MX served: nothing can have reached the new server by it"
            .to_string()
    })?;
    let (mailboxes, waiting) = copy_back_select(plan, history, &[]);
    let mut run = CopyBackRun {
        mailboxes: mailboxes.clone(),
        copied: 0,
        verified: true,
        waiting,
    };
    if !mailboxes.is_empty() {
        let report = crate::mail::run_sync(
            plan,
            creds,
            clock,
            &crate::mail::SyncOptions {
                mailboxes,
                reverse: Some(reverse),
                ..crate::mail::SyncOptions::default()
            },
            &BackLog(journal),
            None,
        )
        .await;
        for m in &report.mailboxes {
            journal
                .append(&copy_back_result(clock.now(), &CopyBackResult::of(m)))
                .map_err(|e| e.to_string())?;
        }
        run.copied = report.mailboxes.iter().map(|m| m.copied()).sum();
        run.verified = report.mailboxes.iter().all(|m| m.verified());
    }
    for address in &run.waiting {
        let result = CopyBackResult {
            mailbox: address.clone(),
            state: "waiting".into(),
            copied: 0,
            missing: 0,
        };
        journal
            .append(&copy_back_result(clock.now(), &result))
            .map_err(|e| e.to_string())?;
    }
    Ok(run)
}
