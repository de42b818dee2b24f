//! The copy engine: per mailbox, per folder, copy from old to new what the new side lacks,
//! never touching the old side, remembering what was copied, and verifying after.
//!
//! Every run compares folders by message identity (multisets; headers only, so it is
//! cheap), which makes a rerun copy nothing and makes a changed UIDVALIDITY harmless:
//! there is no blind recopy from a UID onwards. Checkpoints (`Entry::Checkpoint`,
//! UIDVALIDITY and last copied UID per folder) mark progress for followers of the
//! journal. The ledger (`Entry::Fact` with key [`LEDGER_FACT`]) remembers, per
//! mailbox and new-side folder, how many messages of each identity were copied
//! there or seen there; a message the user deleted on the new side after that is
//! reported as "deleted on the new side since copy" and not copied again.
//!
//! Here: the options and `run_sync` over every mailbox. Beside it: `engine.rs` (one
//! mailbox: plan, create, copy over connection lanes, verify, retry), `append.rs` (the
//! APPEND pipeline: fetch from old, append to new, rate limits), `ledger.rs` (the log and
//! the ledger), `report.rs` (the report, its table and exit code), `window.rs` (the daily
//! volume per mailbox and the pause until the next window), `estimate.rs` (how long a copy
//! takes under the plan's limits), `fill.rs` (`cutover archive`: what the archive still lacks,
//! read with the same reader and limits).

mod append;
mod engine;
pub mod estimate;
mod fill;
mod ledger;
mod report;
mod reverse;
mod window;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::clock::Clock;
use crate::mail::connect::Timeouts;
use crate::mail::credentials::CredentialSource;
use crate::plan::{Mailbox, Plan};

pub use engine::map_folder;
pub use estimate::{CopyEstimate, RATE_FACT};
pub use fill::{compare_archive_with_old, fill_archive, plan_archive};
pub use ledger::{COPY_RESULT_FACT, LEDGER_FACT, Ledger, MemoryLog, SyncLog};
pub use report::{CopiedFolder, CopyResult, FolderReport, MailboxReport, SyncReport};
pub use reverse::{
    BackLog, COPY_BACK_RESULT_FACT, CopyBackResult, Reverse, copy_back_check, copy_back_result,
    select as copy_back_select,
};
pub use window::WINDOW_FACT;

/// What to copy and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Addresses to copy; empty means every mailbox of the plan.
    pub mailboxes: Vec<String>,
    /// List what would be copied; change nothing anywhere.
    pub dry_run: bool,
    pub timeouts: Timeouts,
    /// Messages per fetch batch (and per checkpoint).
    pub batch_messages: usize,
    /// Bytes per fetch batch (a larger single message forms its own batch).
    pub batch_bytes: u64,
    /// Attempts per mailbox on a cut connection, a timeout or throttling.
    pub attempts: u32,
    /// First backoff; doubled per attempt.
    pub backoff: Duration,
    /// Pipeline APPENDs with LITERAL+ when the new server offers it (else one round trip each).
    pub pipeline: bool,
    /// Connection pairs per mailbox copying folders side by side (Dovecot allows 10
    /// connections per user and address by default; keep well below). The plan's
    /// `[sync] connections_per_mailbox` caps it.
    pub connections_per_mailbox: usize,
    /// How often a mailbox paused for its daily volume looks at the clock.
    pub pause_poll: Duration,
    /// Where each message read from the old server is also kept (`[archive] dir`, opened
    /// by the caller, who calls `Archive::finish` after the run).
    pub archive: Option<Arc<crate::mail::archive::Archive>>,
    /// The copy back (R18): new → old, only what arrived after the switch (`reverse.rs`).
    pub reverse: Option<Reverse>,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            mailboxes: Vec::new(),
            dry_run: false,
            timeouts: Timeouts::default(),
            batch_messages: 100,
            batch_bytes: 16 * 1024 * 1024,
            attempts: 4,
            backoff: Duration::from_secs(1),
            pipeline: true,
            connections_per_mailbox: 4,
            pause_poll: Duration::from_secs(1),
            archive: None,
            reverse: None,
        }
    }
}

/// Progress of a copy, per mailbox (the app shows it; `messages_left` counts what is still to copy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncProgress {
    pub mailbox: String,
    pub folder: String,
    pub messages_done: u64,
    pub messages_left: u64,
    pub bytes_done: u64,
    pub bytes_left: u64,
    pub messages_per_sec: f64,
    pub eta_secs: Option<u64>,
    /// Paused for the daily volume (`bytes_per_day_per_mailbox`) until then.
    pub paused_until: Option<jiff::Timestamp>,
}

/// Copies every selected mailbox (bounded by `plan.sync.concurrency`), then verifies.
pub async fn run_sync(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    opts: &SyncOptions,
    log: &dyn SyncLog,
    progress: Option<mpsc::Sender<SyncProgress>>,
) -> SyncReport {
    let selected: Vec<&Mailbox> = plan
        .mailboxes
        .iter()
        .filter(|m| {
            opts.mailboxes.is_empty()
                || opts
                    .mailboxes
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&m.address))
        })
        .collect();
    // One old and one new connection per mailbox: the plan's limit bounds both servers.
    let limit = Arc::new(Semaphore::new(plan.sync.concurrency.max(1)));
    let entries = log.entries().unwrap_or_default();
    let ledger = Ledger::from_entries(&entries);
    let throttle = append::Throttle::new(&plan.sync);
    // Each mailbox's daily volume, resumed from the log when its window is still open.
    let cap = plan
        .sync
        .bytes_per_day_per_mailbox
        .filter(|_| !opts.dry_run);
    let windows: Vec<window::DayWindow> = selected
        .iter()
        .map(|m| window::DayWindow::new(&m.address, cap, &entries, clock.now()))
        .collect();
    // Built eagerly (a Vec, not a lazy stream: keeps the future `Send`); the semaphore
    // bounds how many run at once.
    let copies: Vec<_> = selected
        .into_iter()
        .zip(&windows)
        .map(|(m, window)| {
            let limit = limit.clone();
            let progress = progress.clone();
            let (ledger, throttle) = (&ledger, &throttle);
            async move {
                let _permit = limit.acquire().await;
                engine::sync_mailbox(
                    plan, creds, clock, opts, log, ledger, throttle, window, m, progress,
                )
                .await
            }
        })
        .collect();
    let mailboxes = futures_util::future::join_all(copies).await;
    SyncReport {
        dry_run: opts.dry_run,
        mailboxes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integrator spawns the copy on tokio: its future must be `Send`.
    #[allow(dead_code)]
    fn run_sync_can_be_spawned(plan: &Plan, creds: &CredentialSource, log: &MemoryLog) {
        fn send<T: Send>(_: T) {}
        send(run_sync(
            plan,
            creds,
            &crate::clock::SystemClock,
            &SyncOptions::default(),
            log,
            None,
        ));
    }
}
