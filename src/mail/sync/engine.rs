//! One mailbox's copy: plan every folder by identity, create what the new side lacks, copy
//! folders over up to `connections_per_mailbox` connection pairs, then verify; with retries
//! on transient failures, each comparing afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};

use super::append::{IN_FLIGHT_KIB, Throttle, batches, read_batches, write_batches};
use super::ledger::{Ledger, SyncLog, ledger_entry};
use super::report::{FolderReport, MailboxReport, MessageFailure, MessageRef};
use super::window::{Carried, DayWindow, Reserved};
use super::{SyncOptions, SyncProgress};
use crate::clock::Clock;
use crate::journal::Entry;
use crate::mail::archive::FolderWriter;
use crate::mail::connect::{FolderName, FolderStatus, Imap, SpecialUse, connect, timed};
use crate::mail::credentials::CredentialSource;
use crate::mail::error::{MailError, Place};
use crate::mail::identity::{Identity, IdentityCounts};
use crate::mail::scan::ScannedMessage;
use crate::mail::{pattern, utf7};
use crate::plan::{Mailbox, Plan, SyncPlan, WhichSide};
use crate::sanitize::sanitize;

/// The new-side name (UTF-8) for an old folder: explicit rule, then special use, then same name.
pub fn map_folder(
    old: &FolderName,
    plan: &SyncPlan,
    new_folders: &[FolderName],
    new_delimiter: &str,
) -> String {
    if old.wire.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_string();
    }
    if let Some((_, to)) = plan.folder_map.iter().find(|(from, _)| *from == old.name) {
        return to.clone();
    }
    if let Some(role) = old.special_use
        && matches!(
            role,
            SpecialUse::Sent
                | SpecialUse::Drafts
                | SpecialUse::Trash
                | SpecialUse::Junk
                | SpecialUse::Archive
        )
        && let Some(target) = new_folders.iter().find(|f| f.special_use == Some(role))
    {
        return target.name.clone();
    }
    match old.delimiter.as_deref() {
        Some(d) if d != new_delimiter && !d.is_empty() => old.name.replace(d, new_delimiter),
        _ => old.name.clone(),
    }
}

/// One mailbox, with retries on transient failures (each retry compares afresh).
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync_mailbox(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    opts: &SyncOptions,
    log: &dyn SyncLog,
    ledger: &Ledger,
    throttle: &Throttle,
    window: &DayWindow,
    mailbox: &Mailbox,
    progress: Option<mpsc::Sender<SyncProgress>>,
) -> MailboxReport {
    let mut ledger = ledger.clone();
    // What passes ended by a used-up daily volume copied, and how long the passes ran.
    let mut carried = Carried::default();
    if !opts.dry_run {
        // Followers of the journal see the copy start even before the first checkpoint.
        let _ = log.record(&Entry::Sync {
            at: clock.now(),
            mailbox: mailbox.address.clone(),
            pid: std::process::id(),
            state: "running".to_string(),
            messages_done: 0,
            messages_left: 0,
            bytes_done: 0,
            detail: None,
        });
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt > 1 || carried.passes > 0 {
            // A failed attempt may have copied and journalled batches: start from the log.
            if let Ok(entries) = log.entries() {
                ledger = Ledger::from_entries(&entries);
            }
        }
        let mut run = MailboxRun {
            plan,
            clock,
            opts,
            log,
            mailbox,
            ledger: &mut ledger,
            progress: progress.clone(),
            report: MailboxReport {
                address: mailbox.address.clone(),
                folders: Vec::new(),
                skipped: Vec::new(),
                error: None,
            },
            started: Instant::now(),
            counters: Mutex::new(Counters::default()),
            throttle,
            window,
            paused: Mutex::new(None),
        };
        let result = run.go(creds).await;
        let paused = *run.paused.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = run.report;
        carried.active += run.started.elapsed();
        match (result, paused) {
            // The daily volume is used up: wait for the next window, then compare afresh.
            (Ok(()), Some(resume_at)) => {
                carried.add(&report);
                attempt = 0;
                super::window::pause(
                    plan, clock, opts, log, window, mailbox, &progress, &carried, resume_at,
                )
                .await;
            }
            (Ok(()), None) => {
                carried.merge_into(&mut report);
                record_sync(log, clock, mailbox, &report, opts.dry_run);
                carried.record_rate(log, clock, mailbox, &report, opts.dry_run);
                return report;
            }
            (Err(e), _) if e.is_transient() && attempt < opts.attempts => {
                tracing::warn!("{e}; retrying (attempt {attempt} of {})", opts.attempts);
                tokio::time::sleep(opts.backoff * 2u32.pow(attempt - 1)).await;
            }
            (Err(e), _) => {
                carried.merge_into(&mut report);
                report.error = Some(e);
                record_sync(log, clock, mailbox, &report, opts.dry_run);
                return report;
            }
        }
    }
}

fn record_sync(
    log: &dyn SyncLog,
    clock: &dyn Clock,
    mailbox: &Mailbox,
    report: &MailboxReport,
    dry_run: bool,
) {
    if dry_run {
        return;
    }
    let state = if report.verified() {
        "verified"
    } else if report.error.is_some() {
        "failed"
    } else {
        "incomplete"
    };
    let _ = log.record(&Entry::Sync {
        at: clock.now(),
        mailbox: mailbox.address.clone(),
        pid: std::process::id(),
        state: state.to_string(),
        messages_done: report.copied(),
        messages_left: report.missing() + report.failed(),
        bytes_done: report.folders.iter().map(|f| f.bytes_copied).sum(),
        detail: report.error.as_ref().map(|e| sanitize(&e.to_string())),
    });
    let _ = log.record(&copy_result_entry(clock.now(), report, state));
}

/// What a copy verified, per folder (old and new name, old count and UIDNEXT, how many
/// missing): the cockpit's mailbox table and its `stale` read it.
fn copy_result_entry(at: jiff::Timestamp, report: &MailboxReport, state: &str) -> Entry {
    let result = report.copy_result(state);
    let old: u64 = result.folders.iter().map(|f| f.old_messages).sum();
    let missing: u64 = result.folders.iter().map(|f| f.missing).sum();
    Entry::Fact {
        at,
        key: super::ledger::COPY_RESULT_FACT.to_string(),
        value: serde_json::to_value(&result).unwrap_or_default(),
        evidence: format!(
            "{}: {} of {old} old messages on the new server, {state}",
            report.address,
            old.saturating_sub(missing)
        ),
    }
}

struct MailboxRun<'a> {
    plan: &'a Plan,
    clock: &'a dyn Clock,
    opts: &'a SyncOptions,
    log: &'a dyn SyncLog,
    mailbox: &'a Mailbox,
    ledger: &'a mut Ledger,
    progress: Option<mpsc::Sender<SyncProgress>>,
    report: MailboxReport,
    started: Instant,
    /// Shared by the connection lanes copying folders side by side.
    counters: Mutex<Counters>,
    throttle: &'a Throttle,
    window: &'a DayWindow,
    /// Set when the daily volume is used up: when the next window begins.
    paused: Mutex<Option<jiff::Timestamp>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    done_messages: u64,
    done_bytes: u64,
    left_messages: u64,
    left_bytes: u64,
}

/// A copied folder: its position, report, new-side name and ledger after the copy.
type FolderDone = (usize, FolderReport, String, HashMap<Identity, u32>);

/// One folder, planned: what the old side has, what to copy.
struct FolderPlan {
    old: FolderName,
    target: String,
    target_exists: bool,
    old_uidvalidity: u32,
    old_uidnext: u32,
    old_messages: Vec<ScannedMessage>,
    old_counts: IdentityCounts,
    new_counts: IdentityCounts,
    ledger_before: HashMap<Identity, u32>,
    to_copy: Vec<ScannedMessage>,
    deleted_on_new: HashMap<Identity, u32>,
}

impl MailboxRun<'_> {
    /// The side read and the side written: old → new, or new → old for the copy back.
    fn sides(&self) -> (WhichSide, WhichSide) {
        match self.opts.reverse {
            Some(_) => (WhichSide::New, WhichSide::Old),
            None => (WhichSide::Old, WhichSide::New),
        }
    }

    async fn go(&mut self, creds: &CredentialSource) -> Result<(), MailError> {
        // Both sides at once: over a real link each login costs several round trips.
        // Below, `old` is the side read and `new` the side written (swapped for the copy back).
        let (from, to) = self.sides();
        let (old, new) = tokio::join!(self.open(creds, from), self.open(creds, to));
        let (mut old, mut new) = (old?, new?);
        let result = self.copy_all(creds, &mut old, &mut new).await;
        old.logout().await;
        new.logout().await;
        result
    }

    async fn open(&self, creds: &CredentialSource, side: WhichSide) -> Result<Imap, MailError> {
        let endpoint = &self.plan.side(side).imap;
        let place = Place::new(&self.mailbox.address, side, &endpoint.url);
        let login = creds
            .login(self.mailbox, side)
            .await
            .map_err(|e| MailError::Credentials {
                place: place.clone(),
                detail: e.to_string(),
            })?;
        connect(endpoint, &place, &login, self.opts.timeouts).await
    }

    async fn copy_all(
        &mut self,
        creds: &CredentialSource,
        old: &mut Imap,
        new: &mut Imap,
    ) -> Result<(), MailError> {
        let (old_folders, new_folders) = tokio::join!(old.folders(), new.folders());
        let (old_folders, mut new_folders) = (old_folders?, new_folders?);
        let new_delimiter = new_folders
            .iter()
            .find_map(|f| f.delimiter.clone())
            .unwrap_or_else(|| "/".to_string());
        // Plan every folder first, so progress knows the whole amount left.
        let mut plans = Vec::new();
        for folder in old_folders.into_iter().filter(|f| f.selectable) {
            // Virtual folders (Gmail's "All Mail", "Starred") only show messages that live
            // in other folders: copying them would duplicate every message.
            if let Some(role @ (SpecialUse::All | SpecialUse::Flagged)) = folder.special_use {
                self.report.skipped.push((
                    sanitize(&folder.name),
                    format!(
                        "virtual folder (\\{}): its messages are copied from their own folders",
                        role.attribute()
                    ),
                ));
                continue;
            }
            if let Some(pattern) = self
                .plan
                .sync
                .exclude
                .iter()
                .find(|p| pattern::matches(p.as_bytes(), folder.name.as_bytes(), None))
            {
                self.report.skipped.push((
                    sanitize(&folder.name),
                    format!("excluded by the plan (`{}`)", sanitize(pattern)),
                ));
                continue;
            }
            let target = match &self.opts.reverse {
                Some(_) => {
                    super::reverse::map_back(&folder, &self.plan.sync, &new_folders, &new_delimiter)
                }
                None => map_folder(&folder, &self.plan.sync, &new_folders, &new_delimiter),
            };
            let plan = self
                .plan_folder(old, new, folder, target, &new_folders)
                .await?;
            let mut c = self.counters();
            c.left_messages += plan.to_copy.len() as u64;
            c.left_bytes += plan.to_copy.iter().map(|m| u64::from(m.size)).sum::<u64>();
            drop(c);
            plans.push(plan);
        }
        for plan in plans.iter_mut() {
            let wire = utf7::encode(&plan.target);
            // Two old folders may map to one new folder: create it once.
            if new_folders.iter().any(|f| f.wire == wire) {
                plan.target_exists = true;
            }
            if !plan.target_exists && !self.opts.dry_run {
                let during = format!("CREATE {}", sanitize(&plan.target));
                let limit = new.timeouts.command;
                timed(&new.place, &during, limit, new.session.create(&wire)).await?;
                let _ = timed(&new.place, "SUBSCRIBE", limit, new.session.subscribe(&wire)).await;
                new_folders.push(FolderName {
                    wire: wire.clone(),
                    name: plan.target.clone(),
                    delimiter: Some(new_delimiter.clone()),
                    special_use: None,
                    selectable: true,
                });
                plan.target_exists = true;
            }
        }
        // Folders are copied by up to `connections_per_mailbox` connection pairs side by side.
        let work = plans.len();
        let queue: Mutex<VecDeque<(usize, FolderPlan)>> =
            Mutex::new(plans.into_iter().enumerate().collect());
        let done: Mutex<Vec<FolderDone>> = Mutex::new(Vec::new());
        let this = &*self;
        // The plan's connections_per_mailbox (a provider's limit) caps the lanes.
        let allowed = self
            .plan
            .sync
            .connections_per_mailbox
            .map_or(usize::MAX, |c| c as usize);
        let extra = if self.opts.dry_run {
            0
        } else {
            self.opts
                .connections_per_mailbox
                .min(allowed)
                .max(1)
                .min(work.max(1))
                - 1
        };
        let extra_lanes = (0..extra).map(|_| async {
            // A server refusing more connections just means fewer lanes.
            let (from, to) = this.sides();
            let pair = tokio::join!(this.open(creds, from), this.open(creds, to));
            let (Ok(mut o), Ok(mut n)) = pair else {
                return Ok(());
            };
            let result = this.run_lane(&queue, &done, &mut o, &mut n).await;
            o.logout().await;
            n.logout().await;
            result
        });
        let (first, others) = tokio::join!(
            this.run_lane(&queue, &done, old, new),
            futures_util::future::join_all(extra_lanes)
        );
        let results = std::iter::once(first).chain(others);
        let mut first_error = None;
        for r in results {
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
        done.sort_by_key(|(index, ..)| *index);
        for (_, report, target, ledger_now) in done {
            if !self.opts.dry_run {
                self.ledger
                    .set_folder(&self.mailbox.address, target, ledger_now);
            }
            self.report.folders.push(report);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One connection pair taking folders from the queue until it is empty.
    async fn run_lane(
        &self,
        queue: &Mutex<VecDeque<(usize, FolderPlan)>>,
        done: &Mutex<Vec<FolderDone>>,
        old: &mut Imap,
        new: &mut Imap,
    ) -> Result<(), MailError> {
        loop {
            // A used-up daily volume ends the pass: what is left waits for the next window.
            if self
                .paused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
            {
                return Ok(());
            }
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some((index, plan)) = next else {
                return Ok(());
            };
            let target = plan.target.clone();
            let (report, ledger) = self.copy_folder(old, new, plan).await?;
            done.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((index, report, target, ledger));
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn plan_folder(
        &mut self,
        old: &mut Imap,
        new: &mut Imap,
        folder: FolderName,
        target: String,
        new_folders: &[FolderName],
    ) -> Result<FolderPlan, MailError> {
        let target_wire = utf7::encode(&target);
        let target_exists = new_folders.iter().any(|f| {
            f.wire == target_wire || (target == "INBOX" && f.wire.eq_ignore_ascii_case("INBOX"))
        });
        // Both sides scanned at once: each scan is a few round trips.
        let old_side = async {
            let status = old.examine(&folder.wire).await?;
            let messages = old.scan(status.messages).await?;
            Ok::<_, MailError>((status, messages))
        };
        let new_side = async {
            if !target_exists {
                return Ok(IdentityCounts::default());
            }
            let st = new.examine(&target_wire).await?;
            Ok::<_, MailError>(
                new.scan(st.messages)
                    .await?
                    .into_iter()
                    .map(|m| m.identity)
                    .collect(),
            )
        };
        let (old_side, new_counts) = tokio::join!(old_side, new_side);
        let ((status, mut old_messages), new_counts): ((_, Vec<ScannedMessage>), IdentityCounts) =
            (old_side?, new_counts?);
        // The copy back takes only what reached the new server since the switch and did not
        // come from the old one; it keeps no ledger of its own (the old side is compared).
        let ledger_before = match &self.opts.reverse {
            Some(reverse) => {
                old_messages.retain(|m| reverse.takes(&self.mailbox.address, &folder.name, m));
                HashMap::new()
            }
            None => self.ledger.folder(&self.mailbox.address, &target),
        };
        let old_counts: IdentityCounts = old_messages.iter().map(|m| m.identity).collect();
        // Per identity: what the new side has or had (ledger), what is still needed.
        let mut need: HashMap<Identity, u32> = HashMap::new();
        let mut deleted_on_new = HashMap::new();
        for (id, &o) in old_counts.iter() {
            let n = new_counts.count(id);
            let l = ledger_before.get(id).copied().unwrap_or(0);
            let had = n.max(l);
            if o > had {
                need.insert(*id, o - had);
            }
            let gone = o.min(l).saturating_sub(n);
            if gone > 0 {
                deleted_on_new.insert(*id, gone);
            }
        }
        // Copy the latest UIDs of an identity: the earliest ones are those already copied.
        let mut to_copy = Vec::new();
        for m in old_messages.iter().rev() {
            if let Some(n) = need.get_mut(&m.identity)
                && *n > 0
            {
                *n -= 1;
                to_copy.push(m.clone());
            }
        }
        to_copy.reverse();
        Ok(FolderPlan {
            old: folder,
            target,
            target_exists,
            old_uidvalidity: status.uidvalidity,
            old_uidnext: status.uidnext,
            old_messages,
            old_counts,
            new_counts,
            ledger_before,
            to_copy,
            deleted_on_new,
        })
    }

    async fn copy_folder(
        &self,
        old: &mut Imap,
        new: &mut Imap,
        plan: FolderPlan,
    ) -> Result<(FolderReport, HashMap<Identity, u32>), MailError> {
        let mut report = FolderReport {
            old: sanitize(&plan.old.name),
            new: sanitize(&plan.target),
            old_messages: plan.old_messages.len() as u64,
            old_uidnext: plan.old_uidnext,
            deleted_on_new: plan.deleted_on_new.values().map(|&n| u64::from(n)).sum(),
            ..FolderReport::default()
        };
        report.already_present = report.old_messages
            - plan.to_copy.len() as u64
            - report
                .deleted_on_new
                .min(report.old_messages - plan.to_copy.len() as u64);
        let target_wire = utf7::encode(&plan.target);
        if self.opts.dry_run {
            report.would_copy = plan.to_copy.iter().map(message_ref).collect();
            report.verified = plan.to_copy.is_empty();
            return Ok((report, plan.ledger_before));
        }
        // The ledger learns what the new side already holds before anything is copied.
        let mut ledger_now = plan.ledger_before.clone();
        let mut seen_delta = HashMap::new();
        for (id, &n) in plan.new_counts.iter() {
            if n > ledger_now.get(id).copied().unwrap_or(0) {
                ledger_now.insert(*id, n);
                seen_delta.insert(*id, n);
            }
        }
        if !seen_delta.is_empty() {
            self.record(ledger_entry(
                self.clock.now(),
                &self.mailbox.address,
                &plan.target,
                &seen_delta,
                format!(
                    "{} seen on the new side",
                    crate::units::count(seen_delta.len() as u64, "message", "messages")
                ),
            ));
        }
        let mut copied_per_id: HashMap<Identity, u32> = HashMap::new();
        if !plan.to_copy.is_empty() {
            old.examine(&plan.old.wire).await?;
        }
        // Each message read for the copy is kept in the archive too, as it is read.
        let writer = self.opts.archive.as_deref().and_then(|archive| {
            let status = FolderStatus {
                messages: u32::try_from(plan.old_messages.len()).unwrap_or(u32::MAX),
                uidnext: plan.old_uidnext,
                uidvalidity: plan.old_uidvalidity,
            };
            let old_bytes = plan.old_messages.iter().map(|m| u64::from(m.size)).sum();
            archive
                .begin_folder(
                    &self.mailbox.address,
                    &self.plan.old.imap.url,
                    &plan.old.name,
                    plan.old.delimiter.as_deref(),
                    status,
                    old_bytes,
                )
                .map_err(|e| archive.note(&e))
                .ok()
        });
        // In segments that fit the daily volume left (one segment when there is no cap).
        let mut rest: &[ScannedMessage] = &plan.to_copy;
        while !rest.is_empty() {
            let take = match self.window.reserve(rest, self.clock.now()) {
                (Reserved::Take(n), fact) => {
                    // Counted before it is copied: a crash over-counts, never under-counts.
                    if let Some(fact) = fact {
                        self.record(fact);
                    }
                    n
                }
                (Reserved::Full { resume_at }, _) => {
                    let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
                    *paused = Some(paused.map_or(resume_at, |p| p.max(resume_at)));
                    break;
                }
            };
            let (segment, after) = rest.split_at(take);
            rest = after;
            self.copy_segment(
                old,
                new,
                &plan,
                segment,
                &target_wire,
                &mut report,
                &mut ledger_now,
                &mut copied_per_id,
                writer.as_ref(),
            )
            .await?;
        }
        if let Some(w) = &writer
            && let Err(e) = w.cover(plan.old_messages.iter().map(|m| m.uid), plan.old_uidnext)
        {
            w.archive().note(&e);
        }
        if !rest.is_empty() {
            // Not verified: the rest waits for the next window, and the pass is compared afresh then.
            return Ok((report, ledger_now));
        }
        // Verification: the new side must now hold every old message, except those the
        // user deleted there after an earlier copy.
        let st = new.examine(&target_wire).await?;
        let after: IdentityCounts = new
            .scan(st.messages)
            .await?
            .into_iter()
            .map(|m| m.identity)
            .collect();
        let mut short: HashMap<Identity, u32> = HashMap::new();
        for (id, &o) in plan.old_counts.iter() {
            let allowed_gone = plan.deleted_on_new.get(id).copied().unwrap_or(0);
            let have = after.count(id) + allowed_gone;
            if o > have {
                short.insert(*id, o - have);
            }
        }
        for m in plan.old_messages.iter().rev() {
            if let Some(n) = short.get_mut(&m.identity)
                && *n > 0
            {
                *n -= 1;
                if !report.failed.iter().any(|f| f.uid == m.uid) {
                    report.missing.push(message_ref(m));
                }
            }
        }
        report.missing.reverse();
        report.verified = report.missing.is_empty() && report.failed.is_empty();
        Ok((report, ledger_now))
    }

    /// Copies one segment of a folder's list: the old side read and the new side written at
    /// the same time, journaling the ledger and a checkpoint per batch.
    #[allow(clippy::too_many_arguments)]
    async fn copy_segment(
        &self,
        old: &mut Imap,
        new: &mut Imap,
        plan: &FolderPlan,
        segment: &[ScannedMessage],
        target_wire: &str,
        report: &mut FolderReport,
        ledger_now: &mut HashMap<Identity, u32>,
        copied_per_id: &mut HashMap<Identity, u32>,
        archive: Option<&FolderWriter<'_>>,
    ) -> Result<(), MailError> {
        let batches = batches(segment, self.opts.batch_messages, self.opts.batch_bytes);
        let pipelined = self.opts.pipeline && new.has_capability("LITERAL+");
        // The old side is read and the new side written at the same time, with a
        // bounded amount of mail in between.
        let budget = Arc::new(Semaphore::new(IN_FLIGHT_KIB as usize));
        let (tx, rx) = mpsc::channel(64);
        let on_batch = |index: usize, outcome: Vec<Result<(), MessageFailure>>| {
            let batch = batches[index];
            let mut delta = HashMap::new();
            let mut last_uid = 0;
            for (m, result) in batch.iter().zip(outcome) {
                match result {
                    Ok(()) => {
                        report.copied += 1;
                        report.bytes_copied += u64::from(m.size);
                        {
                            let mut c = self.counters();
                            c.done_messages += 1;
                            c.done_bytes += u64::from(m.size);
                        }
                        last_uid = last_uid.max(m.uid);
                        let copies = copied_per_id.entry(m.identity).or_insert(0);
                        *copies += 1;
                        let value = plan.new_counts.count(&m.identity) + *copies;
                        let l = ledger_now.entry(m.identity).or_insert(0);
                        if value > *l {
                            *l = value;
                            delta.insert(m.identity, value);
                        }
                    }
                    Err(reason) => {
                        let mut r = message_ref(m);
                        r.reason = Some(reason.to_string());
                        report.failed.push(r);
                    }
                }
                let mut c = self.counters();
                c.left_messages = c.left_messages.saturating_sub(1);
                c.left_bytes = c.left_bytes.saturating_sub(u64::from(m.size));
            }
            if !delta.is_empty() {
                self.record(super::ledger::mark_copied(ledger_entry(
                    self.clock.now(),
                    &self.mailbox.address,
                    &plan.target,
                    &delta,
                    format!(
                        "{} copied",
                        crate::units::count(delta.len() as u64, "message", "messages")
                    ),
                )));
            }
            if last_uid > 0 {
                self.record(Entry::Checkpoint {
                    at: self.clock.now(),
                    mailbox: self.mailbox.address.clone(),
                    folder: plan.old.name.clone(),
                    uidvalidity: plan.old_uidvalidity,
                    last_uid,
                });
            }
            self.record_progress();
            self.send_progress(&plan.target);
        };
        let (read, write) = tokio::join!(
            read_batches(old, &batches, budget, tx, archive),
            write_batches(
                new,
                target_wire,
                &batches,
                pipelined,
                self.throttle,
                rx,
                on_batch
            )
        );
        read?;
        write?;
        Ok(())
    }

    fn record(&self, entry: Entry) {
        if let Err(e) = self.log.record(&entry) {
            tracing::error!("journal: {e}");
        }
    }

    /// The copy's progress in the journal, after each batch: what followers (the cockpit)
    /// show as done, left, rate and time left.
    fn record_progress(&self) {
        let c = *self.counters();
        self.record(Entry::Sync {
            at: self.clock.now(),
            mailbox: self.mailbox.address.clone(),
            pid: std::process::id(),
            state: "running".to_string(),
            messages_done: c.done_messages,
            messages_left: c.left_messages,
            bytes_done: c.done_bytes,
            detail: None,
        });
    }

    fn send_progress(&self, folder: &str) {
        let Some(tx) = &self.progress else { return };
        let c = *self.counters();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            c.done_messages as f64 / secs
        } else {
            0.0
        };
        let eta = (rate > 0.0).then(|| (c.left_messages as f64 / rate).ceil() as u64);
        // Progress is advisory: never slow the copy down for a slow reader.
        let _ = tx.try_send(SyncProgress {
            mailbox: self.mailbox.address.clone(),
            folder: sanitize(folder),
            messages_done: c.done_messages,
            messages_left: c.left_messages,
            bytes_done: c.done_bytes,
            bytes_left: c.left_bytes,
            messages_per_sec: rate,
            eta_secs: eta,
            paused_until: None,
        });
    }
}

fn message_ref(m: &ScannedMessage) -> MessageRef {
    MessageRef {
        uid: m.uid,
        subject: m.subject.clone(),
        size: m.size,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, special_use: Option<SpecialUse>, delimiter: &str) -> FolderName {
        FolderName {
            wire: utf7::encode(name),
            name: name.to_string(),
            delimiter: Some(delimiter.to_string()),
            special_use,
            selectable: true,
        }
    }

    #[test]
    fn folder_mapping_rules_in_order() {
        let plan = SyncPlan {
            folder_map: vec![("Archiv/2023".into(), "Archive/2023".into())],
            ..SyncPlan::default()
        };
        let new = [
            folder("Sent Items", Some(SpecialUse::Sent), "/"),
            folder("INBOX", None, "/"),
        ];
        assert_eq!(
            map_folder(&folder("Archiv/2023", None, "/"), &plan, &new, "/"),
            "Archive/2023"
        );
        assert_eq!(
            map_folder(
                &folder("Gesendet", Some(SpecialUse::Sent), "."),
                &plan,
                &new,
                "/"
            ),
            "Sent Items"
        );
        assert_eq!(
            map_folder(&folder("Projekte.Ä", None, "."), &plan, &new, "/"),
            "Projekte/Ä"
        );
        assert_eq!(
            map_folder(&folder("inbox", None, "."), &plan, &new, "/"),
            "INBOX"
        );
        // A special use the new side lacks keeps the name.
        assert_eq!(
            map_folder(
                &folder("Müll", Some(SpecialUse::Trash), "/"),
                &plan,
                &new,
                "/"
            ),
            "Müll"
        );
    }
}
