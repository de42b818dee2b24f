//! `cutover archive`: reads from the old server what the archive lacks (excluded folders,
//! messages the copies skipped, or that the new side already had), with the copy's own
//! reader, daily volume and rate limits; and lists the old folders for the online
//! verification. Only EXAMINE and BODY.PEEK: nothing changes on the old server.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};

use super::append::{Fetched, IN_FLIGHT_KIB, Throttle, batches, read_batches};
use super::window::{DayWindow, Reserved};
use super::{SyncLog, SyncOptions, SyncProgress};
use crate::clock::Clock;
use crate::mail::archive::{
    Archive, ArchiveError, ArchiveIndex, OldFolder, Verification, compare_with_old,
};
use crate::mail::connect::{FolderName, FolderStatus, Imap, SpecialUse, connect};
use crate::mail::credentials::CredentialSource;
use crate::mail::error::{MailError, Place};
use crate::mail::scan::ScannedMessage;
use crate::plan::{Mailbox, Plan, WhichSide};
use crate::sanitize::sanitize;

/// One old folder as scanned, and what of it the archive lacks.
#[derive(Debug, Clone)]
pub struct FolderToArchive {
    pub folder: FolderName,
    pub status: FolderStatus,
    pub old_bytes: u64,
    pub uids: Vec<u32>,
    pub missing: Vec<ScannedMessage>,
}

/// One mailbox's old folders, or why they could not be listed.
#[derive(Debug, Clone)]
pub struct MailboxToArchive {
    pub address: String,
    pub folders: Vec<FolderToArchive>,
    /// Folders not archived on purpose, with why.
    pub skipped: Vec<(String, String)>,
    pub error: Option<MailError>,
}

impl MailboxToArchive {
    /// Bytes and messages the archive still lacks.
    pub fn missing(&self) -> (u64, u64) {
        self.folders
            .iter()
            .flat_map(|f| &f.missing)
            .fold((0, 0), |(n, b), m| (n + 1, b + u64::from(m.size)))
    }

    /// Why the old server could not be read for this mailbox, said as the copy says it.
    pub fn unread(&self) -> Option<String> {
        self.error
            .as_ref()
            .map(|e| format!("{}: {}", sanitize(&self.address), e))
    }

    /// The old folders as the online verification compares them.
    pub fn old_folders(&self) -> Vec<OldFolder> {
        self.folders
            .iter()
            .map(|f| OldFolder {
                name: f.folder.name.clone(),
                uidvalidity: f.status.uidvalidity,
                uidnext: f.status.uidnext,
                uids: f.uids.clone(),
            })
            .collect()
    }
}

/// What `cutover archive` did for one mailbox.
#[derive(Debug, Clone, Default)]
pub struct MailboxFill {
    pub address: String,
    pub messages: u64,
    pub bytes: u64,
    /// The daily volume ran out: the rest waits for this time.
    pub paused_until: Option<jiff::Timestamp>,
    pub error: Option<MailError>,
}

fn selected<'p>(plan: &'p Plan, opts: &SyncOptions) -> Vec<&'p Mailbox> {
    plan.mailboxes
        .iter()
        .filter(|m| {
            opts.mailboxes.is_empty()
                || opts
                    .mailboxes
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&m.address))
        })
        .collect()
}

async fn open_old(
    plan: &Plan,
    creds: &CredentialSource,
    opts: &SyncOptions,
    mailbox: &Mailbox,
) -> Result<Imap, MailError> {
    let endpoint = &plan.old.imap;
    let place = Place::new(&mailbox.address, WhichSide::Old, &endpoint.url);
    let login = creds
        .login(mailbox, WhichSide::Old)
        .await
        .map_err(|e| MailError::Credentials {
            place: place.clone(),
            detail: e.to_string(),
        })?;
    connect(endpoint, &place, &login, opts.timeouts).await
}

/// Lists every old folder of the selected mailboxes (excluded ones too: they are what
/// the archive must still get) with what the archive lacks, mailboxes side by side.
pub async fn plan_archive(
    plan: &Plan,
    creds: &CredentialSource,
    opts: &SyncOptions,
    archive: Option<&Archive>,
) -> Vec<MailboxToArchive> {
    let limit = Arc::new(Semaphore::new(plan.sync.concurrency.max(1)));
    let each = selected(plan, opts).into_iter().map(|m| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            let mut out = MailboxToArchive {
                address: m.address.clone(),
                folders: Vec::new(),
                skipped: Vec::new(),
                error: None,
            };
            let result = async {
                let mut old = open_old(plan, creds, opts, m).await?;
                let listed = scan_folders(&mut old, m, archive, &mut out).await;
                old.logout().await;
                listed
            }
            .await;
            out.error = result.err();
            out
        }
    });
    futures_util::future::join_all(each).await
}

async fn scan_folders(
    old: &mut Imap,
    mailbox: &Mailbox,
    archive: Option<&Archive>,
    out: &mut MailboxToArchive,
) -> Result<(), MailError> {
    for folder in old.folders().await?.into_iter().filter(|f| f.selectable) {
        // Virtual folders show messages that live in other folders (as the copy skips them).
        if let Some(role @ (SpecialUse::All | SpecialUse::Flagged)) = folder.special_use {
            out.skipped.push((
                sanitize(&folder.name),
                format!(
                    "virtual folder (\\{}): its messages are archived from their own folders",
                    role.attribute()
                ),
            ));
            continue;
        }
        let status = old.examine(&folder.wire).await?;
        let messages = old.scan(status.messages).await?;
        let archived = archive
            .map(|a| a.archived(&mailbox.address, &folder.name))
            .unwrap_or_default();
        let missing = messages
            .iter()
            .filter(|m| !archived.contains(&(status.uidvalidity, m.uid)))
            .cloned()
            .collect();
        out.folders.push(FolderToArchive {
            old_bytes: messages.iter().map(|m| u64::from(m.size)).sum(),
            uids: messages.iter().map(|m| m.uid).collect(),
            folder,
            status,
            missing,
        });
    }
    Ok(())
}

/// The online half of `cutover archive --verify`: every old folder of the selected mailboxes
/// (as the old server has them now) against what the archive at `dir` holds. A mailbox the
/// old server could not be read for is a problem: its coverage is not known.
pub async fn compare_archive_with_old(
    plan: &Plan,
    creds: &CredentialSource,
    opts: &SyncOptions,
    dir: &std::path::Path,
    verification: &mut Verification,
) -> Result<(), ArchiveError> {
    let index = ArchiveIndex::read(dir)?;
    for p in &plan_archive(plan, creds, opts, None).await {
        match p.unread() {
            Some(line) => verification
                .problems
                .push(format!("{line} (the old server could not be compared)")),
            None => compare_with_old(verification, &index, &p.address, &p.old_folders()),
        }
    }
    Ok(())
}

/// Reads into the archive what `planned` says it lacks, mailboxes side by side (the
/// plan's `[sync] concurrency`), each within its daily volume and the rate limits.
#[allow(clippy::too_many_arguments)]
pub async fn fill_archive(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    opts: &SyncOptions,
    log: &dyn SyncLog,
    archive: &Archive,
    planned: &[MailboxToArchive],
    progress: Option<mpsc::Sender<SyncProgress>>,
) -> Vec<MailboxFill> {
    let limit = Arc::new(Semaphore::new(plan.sync.concurrency.max(1)));
    let entries = log.entries().unwrap_or_default();
    let throttle = Throttle::new(&plan.sync);
    let cap = plan.sync.bytes_per_day_per_mailbox;
    let each = planned.iter().filter(|p| p.error.is_none()).map(|p| {
        let limit = limit.clone();
        let progress = progress.clone();
        let window = DayWindow::new(&p.address, cap, &entries, clock.now());
        let throttle = &throttle;
        async move {
            let _permit = limit.acquire().await;
            let Some(mailbox) = plan
                .mailboxes
                .iter()
                .find(|m| m.address.eq_ignore_ascii_case(&p.address))
            else {
                return MailboxFill::default();
            };
            let mut fill = MailboxFill {
                address: p.address.clone(),
                ..MailboxFill::default()
            };
            let run = FillRun {
                plan,
                clock,
                opts,
                log,
                archive,
                throttle,
                window: &window,
                progress,
                started: Instant::now(),
                total: p.missing(),
            };
            let mut attempt = 0;
            loop {
                attempt += 1;
                match run.mailbox(creds, mailbox, p, &mut fill).await {
                    Err(e) if e.is_transient() && attempt < opts.attempts => {
                        tracing::warn!("{e}; retrying (attempt {attempt} of {})", opts.attempts);
                        tokio::time::sleep(opts.backoff * 2u32.pow(attempt - 1)).await;
                    }
                    Err(e) => {
                        fill.error = Some(e);
                        return fill;
                    }
                    Ok(()) => return fill,
                }
            }
        }
    });
    futures_util::future::join_all(each).await
}

struct FillRun<'a> {
    plan: &'a Plan,
    clock: &'a dyn Clock,
    opts: &'a SyncOptions,
    log: &'a dyn SyncLog,
    archive: &'a Archive,
    throttle: &'a Throttle,
    window: &'a DayWindow,
    progress: Option<mpsc::Sender<SyncProgress>>,
    started: Instant,
    /// Messages and bytes this mailbox lacked at the start.
    total: (u64, u64),
}

impl FillRun<'_> {
    async fn mailbox(
        &self,
        creds: &CredentialSource,
        mailbox: &Mailbox,
        planned: &MailboxToArchive,
        fill: &mut MailboxFill,
    ) -> Result<(), MailError> {
        let mut old = open_old(self.plan, creds, self.opts, mailbox).await?;
        let result = self.folders(&mut old, planned, fill).await;
        old.logout().await;
        result
    }

    async fn folders(
        &self,
        old: &mut Imap,
        planned: &MailboxToArchive,
        fill: &mut MailboxFill,
    ) -> Result<(), MailError> {
        for f in &planned.folders {
            let writer = match self.archive.begin_folder(
                &planned.address,
                &self.plan.old.imap.url,
                &f.folder.name,
                f.folder.delimiter.as_deref(),
                f.status,
                f.old_bytes,
            ) {
                Ok(w) => w,
                Err(e) => {
                    self.archive.note(&e);
                    continue;
                }
            };
            // What an earlier attempt of this run already wrote is not read again.
            let missing: Vec<ScannedMessage> = f
                .missing
                .iter()
                .filter(|m| !writer.has(m.uid))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let status = old.examine(&f.folder.wire).await?;
                if status.uidvalidity != f.status.uidvalidity {
                    // The UIDs scanned no longer name these messages: the next run rescans.
                    self.archive.note(&crate::mail::archive::ArchiveError::Corrupt {
                        path: self.archive.dir().join(&planned.address),
                        detail: format!(
                            "{}: UIDVALIDITY changed on the old server while archiving; run `cutover archive` again",
                            sanitize(&f.folder.name)
                        ),
                    });
                    continue;
                }
            }
            let mut rest: &[ScannedMessage] = &missing;
            while !rest.is_empty() {
                let take = match self.window.reserve(rest, self.clock.now()) {
                    (Reserved::Take(n), fact) => {
                        if let Some(fact) = fact
                            && let Err(e) = self.log.record(&fact)
                        {
                            tracing::error!("journal: {e}");
                        }
                        n
                    }
                    (Reserved::Full { resume_at }, _) => {
                        fill.paused_until = Some(resume_at);
                        return Ok(());
                    }
                };
                let (segment, after) = rest.split_at(take);
                rest = after;
                self.segment(old, segment, &writer, &f.folder.name, fill)
                    .await?;
            }
            if let Err(e) = writer.cover(f.uids.iter().copied(), f.status.uidnext) {
                self.archive.note(&e);
            }
        }
        Ok(())
    }

    /// Reads one segment into the archive with the copy's reader; the rate limits apply
    /// as each message arrives.
    async fn segment(
        &self,
        old: &mut Imap,
        segment: &[ScannedMessage],
        writer: &crate::mail::archive::FolderWriter<'_>,
        folder: &str,
        fill: &mut MailboxFill,
    ) -> Result<(), MailError> {
        let batches = batches(segment, self.opts.batch_messages, self.opts.batch_bytes);
        let budget = Arc::new(Semaphore::new(IN_FLIGHT_KIB as usize));
        let (tx, mut rx) = mpsc::channel(64);
        let consume = async {
            while let Some(item) = rx.recv().await {
                match item {
                    Fetched::Message(fetch, permit) => {
                        let size = fetch.body().map_or(0, |b| b.len() as u64);
                        self.throttle.pass(size).await;
                        fill.messages += 1;
                        fill.bytes += size;
                        drop(permit);
                    }
                    Fetched::EndOfBatch(_) => self.send_progress(fill, folder),
                }
            }
        };
        let (read, ()) = tokio::join!(
            read_batches(old, &batches, budget, tx, Some(writer)),
            consume
        );
        read
    }

    fn send_progress(&self, fill: &MailboxFill, folder: &str) {
        let Some(tx) = &self.progress else { return };
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            fill.messages as f64 / secs
        } else {
            0.0
        };
        let left = self.total.0.saturating_sub(fill.messages);
        let _ = tx.try_send(SyncProgress {
            mailbox: fill.address.clone(),
            folder: sanitize(folder),
            messages_done: fill.messages,
            messages_left: left,
            bytes_done: fill.bytes,
            bytes_left: self.total.1.saturating_sub(fill.bytes),
            messages_per_sec: rate,
            eta_secs: (rate > 0.0).then(|| (left as f64 / rate).ceil() as u64),
            paused_until: None,
        });
    }
}
