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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use jiff::Timestamp;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc};

use crate::clock::Clock;
use crate::journal::{Entry, JournalError};
use crate::mail::connect::{FolderName, Imap, SpecialUse, Timeouts, connect, timed};
use crate::mail::credentials::CredentialSource;
use crate::mail::error::{MailError, Place, is_throttling_text, outcome_text, server_text};
use crate::mail::identity::{Identity, IdentityCounts};
use crate::mail::scan::ScannedMessage;
use crate::mail::{pattern, utf7};
use crate::plan::{Mailbox, Plan, SyncPlan, WhichSide};
use crate::sanitize::sanitize;

/// The journal fact key of ledger lines.
pub const LEDGER_FACT: &str = "mail-ledger";

/// Where the copy engine writes its checkpoints, ledger and progress, and reads the
/// ledger back. The integrator plugs the journal in; tests use [`MemoryLog`].
pub trait SyncLog: Send + Sync {
    fn record(&self, entry: &Entry) -> Result<(), JournalError>;
    /// Every entry so far (the ledger is rebuilt from the `mail-ledger` facts).
    fn entries(&self) -> Result<Vec<Entry>, JournalError>;
}

/// A `SyncLog` in memory (tests, dry runs).
#[derive(Debug, Default, Clone)]
pub struct MemoryLog(Arc<Mutex<Vec<Entry>>>);

impl MemoryLog {
    pub fn snapshot(&self) -> Vec<Entry> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl SyncLog for MemoryLog {
    fn record(&self, entry: &Entry) -> Result<(), JournalError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry.clone());
        Ok(())
    }
    fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        Ok(self.snapshot())
    }
}

/// What was copied to, or seen in, each new-side folder: identity → highest count.
#[derive(Debug, Default, Clone)]
pub struct Ledger(HashMap<(String, String), HashMap<Identity, u32>>);

impl Ledger {
    /// Rebuilds the ledger from the log's `mail-ledger` facts.
    pub fn from_entries(entries: &[Entry]) -> Ledger {
        let mut ledger = Ledger::default();
        for entry in entries {
            let Entry::Fact { key, value, .. } = entry else {
                continue;
            };
            if key != LEDGER_FACT {
                continue;
            }
            let (Some(mailbox), Some(folder), Some(ids)) = (
                value.get("mailbox").and_then(|v| v.as_str()),
                value.get("folder").and_then(|v| v.as_str()),
                value.get("ids").and_then(|v| v.as_object()),
            ) else {
                continue;
            };
            let slot = ledger
                .0
                .entry((mailbox.to_ascii_lowercase(), folder.to_string()))
                .or_default();
            for (hex, count) in ids {
                if let (Some(id), Some(n)) = (Identity::from_hex(hex), count.as_u64()) {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    let c = slot.entry(id).or_insert(0);
                    *c = (*c).max(n);
                }
            }
        }
        ledger
    }

    pub fn folder(&self, mailbox: &str, folder: &str) -> HashMap<Identity, u32> {
        self.0
            .get(&(mailbox.to_ascii_lowercase(), folder.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

fn ledger_entry(
    at: Timestamp,
    mailbox: &str,
    folder: &str,
    ids: &HashMap<Identity, u32>,
    evidence: String,
) -> Entry {
    let ids: serde_json::Map<String, serde_json::Value> = ids
        .iter()
        .map(|(id, n)| (id.to_hex(), serde_json::Value::from(*n)))
        .collect();
    Entry::Fact {
        at,
        key: LEDGER_FACT.to_string(),
        value: serde_json::json!({ "mailbox": mailbox, "folder": folder, "ids": ids }),
        evidence,
    }
}

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
    /// connections per user and address by default; keep well below).
    pub connections_per_mailbox: usize,
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
}

/// A message on the old side that is not (or would not be) on the new side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRef {
    pub uid: u32,
    pub subject: String,
    pub size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why one message was not copied (its report line says so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageFailure {
    /// The new server answered NO or BAD to its APPEND: the server's text, sanitised.
    #[error("the new server refused it: {0}")]
    Refused(String),
    /// It was to be copied, but the old server no longer had it when it was fetched.
    #[error("vanished from the old server during the copy")]
    Vanished,
}

/// One folder's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FolderReport {
    /// Old-side folder (UTF-8, sanitised).
    pub old: String,
    /// New-side folder it maps to (UTF-8, sanitised).
    pub new: String,
    pub old_messages: u64,
    pub copied: u64,
    pub bytes_copied: u64,
    pub already_present: u64,
    /// Copied (or seen) earlier, since deleted or moved by the user on the new side; not copied again.
    pub deleted_on_new: u64,
    /// Dry run: what would be copied.
    pub would_copy: Vec<MessageRef>,
    pub failed: Vec<MessageRef>,
    /// After verification: old messages still missing on the new side.
    pub missing: Vec<MessageRef>,
    pub verified: bool,
}

/// One mailbox's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxReport {
    pub address: String,
    pub folders: Vec<FolderReport>,
    /// Folders not copied, with the reason (excluded by the plan).
    pub skipped: Vec<(String, String)>,
    /// Why the mailbox could not be copied (or finished), if so.
    #[serde(serialize_with = "error_text")]
    pub error: Option<MailError>,
}

fn error_text<S: serde::Serializer>(e: &Option<MailError>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_some(&e.to_string()),
        None => s.serialize_none(),
    }
}

impl MailboxReport {
    pub fn copied(&self) -> u64 {
        self.folders.iter().map(|f| f.copied).sum()
    }
    pub fn already_present(&self) -> u64 {
        self.folders.iter().map(|f| f.already_present).sum()
    }
    pub fn deleted_on_new(&self) -> u64 {
        self.folders.iter().map(|f| f.deleted_on_new).sum()
    }
    pub fn failed(&self) -> u64 {
        self.folders.iter().map(|f| f.failed.len() as u64).sum()
    }
    pub fn missing(&self) -> u64 {
        self.folders.iter().map(|f| f.missing.len() as u64).sum()
    }
    /// Every folder verified complete and no error.
    pub fn verified(&self) -> bool {
        self.error.is_none() && self.folders.iter().all(|f| f.verified)
    }
    /// Share of old messages that are on the new side (or were, before the user deleted them).
    pub fn synced_percent(&self) -> Option<f64> {
        if self.error.is_some() && self.folders.is_empty() {
            return None;
        }
        let old: u64 = self.folders.iter().map(|f| f.old_messages).sum();
        if old == 0 {
            return Some(100.0);
        }
        let missing: u64 = self.folders.iter().map(|f| f.missing.len() as u64).sum();
        Some(100.0 * old.saturating_sub(missing) as f64 / old as f64)
    }
}

/// The outcome of a copy run.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub dry_run: bool,
    pub mailboxes: Vec<MailboxReport>,
}

impl SyncReport {
    /// 0 every mailbox verified complete; 1 some incomplete; 3 authentication failed;
    /// 4 a server unreachable (2, plan or usage error, is the CLI's).
    pub fn exit_code(&self) -> i32 {
        let errors = || self.mailboxes.iter().filter_map(|m| m.error.as_ref());
        if errors().any(|e| e.is_auth()) {
            3
        } else if errors().any(|e| e.is_unreachable() || e.is_tls()) {
            4
        } else if self.dry_run {
            // A dry run verifies nothing; it succeeded if it could look everywhere.
            if self.mailboxes.iter().any(|m| m.error.is_some()) {
                1
            } else {
                0
            }
        } else if self.mailboxes.iter().all(MailboxReport::verified) {
            0
        } else {
            1
        }
    }

    /// The final statistics table, one line per mailbox.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let width = self
            .mailboxes
            .iter()
            .map(|m| m.address.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>7}  verified",
            "mailbox",
            if self.dry_run { "to copy" } else { "copied" },
            "present",
            "deleted",
            "failed",
            "skipped",
        );
        for m in &self.mailboxes {
            let to_copy: u64 = if self.dry_run {
                m.folders.iter().map(|f| f.would_copy.len() as u64).sum()
            } else {
                m.copied()
            };
            let verdict = match (&m.error, self.dry_run) {
                (Some(e), _) => format!("no: {}", sanitize(&e.to_string())),
                (None, true) => "dry run".to_string(),
                (None, false) if m.verified() => "verified complete".to_string(),
                (None, false) => format!("no: {} missing, {} failed", m.missing(), m.failed()),
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>7}  {}",
                sanitize(&m.address),
                to_copy,
                m.already_present(),
                m.deleted_on_new(),
                m.failed(),
                m.skipped.len(),
                verdict
            );
            for (folder, reason) in &m.skipped {
                let _ = writeln!(out, "    skipped {folder}: {reason}");
            }
            for f in &m.folders {
                for r in f.failed.iter().chain(&f.missing) {
                    let _ = writeln!(
                        out,
                        "    {} uid {} \"{}\": {}",
                        f.old,
                        r.uid,
                        r.subject,
                        r.reason.as_deref().unwrap_or("missing on new")
                    );
                }
            }
        }
        out
    }
}

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

/// Keeps bytes/s and messages/s under the plan's limits, across every connection of a run.
struct Throttle {
    max_bytes_per_sec: Option<u64>,
    max_messages_per_sec: Option<u32>,
    start: Instant,
    /// Bytes and messages let through so far.
    passed: Mutex<(u64, u64)>,
}

impl Throttle {
    fn new(plan: &SyncPlan) -> Throttle {
        Throttle {
            max_bytes_per_sec: plan.max_bytes_per_sec.filter(|&b| b > 0),
            max_messages_per_sec: plan.max_messages_per_sec.filter(|&m| m > 0),
            start: Instant::now(),
            passed: Mutex::new((0, 0)),
        }
    }

    /// Waits until one more message of `bytes` fits under the limits.
    async fn pass(&self, bytes: u64) {
        if self.max_bytes_per_sec.is_none() && self.max_messages_per_sec.is_none() {
            return;
        }
        let (total_bytes, total_messages) = {
            let mut p = self.passed.lock().unwrap_or_else(|e| e.into_inner());
            p.0 += bytes;
            p.1 += 1;
            *p
        };
        let mut need = Duration::ZERO;
        if let Some(bps) = self.max_bytes_per_sec {
            need = need.max(Duration::from_secs_f64(total_bytes as f64 / bps as f64));
        }
        if let Some(mps) = self.max_messages_per_sec {
            need = need.max(Duration::from_secs_f64(
                total_messages as f64 / f64::from(mps),
            ));
        }
        let elapsed = self.start.elapsed();
        if need > elapsed {
            tokio::time::sleep(need - elapsed).await;
        }
    }
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
    let ledger = Ledger::from_entries(&log.entries().unwrap_or_default());
    let throttle = Throttle::new(&plan.sync);
    // Built eagerly (a Vec, not a lazy stream: keeps the future `Send`); the semaphore
    // bounds how many run at once.
    let copies: Vec<_> = selected
        .into_iter()
        .map(|m| {
            let limit = limit.clone();
            let progress = progress.clone();
            let (ledger, throttle) = (&ledger, &throttle);
            async move {
                let _permit = limit.acquire().await;
                sync_mailbox(plan, creds, clock, opts, log, ledger, throttle, m, progress).await
            }
        })
        .collect();
    let mailboxes = futures_util::future::join_all(copies).await;
    SyncReport {
        dry_run: opts.dry_run,
        mailboxes,
    }
}

/// One mailbox, with retries on transient failures (each retry compares afresh).
#[allow(clippy::too_many_arguments)]
async fn sync_mailbox(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    opts: &SyncOptions,
    log: &dyn SyncLog,
    ledger: &Ledger,
    throttle: &Throttle,
    mailbox: &Mailbox,
    progress: Option<mpsc::Sender<SyncProgress>>,
) -> MailboxReport {
    let mut ledger = ledger.clone();
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
        if attempt > 1 {
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
        };
        let result = run.go(creds).await;
        let mut report = run.report;
        match result {
            Ok(()) => {
                record_sync(log, clock, mailbox, &report, opts.dry_run);
                return report;
            }
            Err(e) if e.is_transient() && attempt < opts.attempts => {
                tracing::warn!("{e}; retrying (attempt {attempt} of {})", opts.attempts);
                tokio::time::sleep(opts.backoff * 2u32.pow(attempt - 1)).await;
            }
            Err(e) => {
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
    old_messages: Vec<ScannedMessage>,
    old_counts: IdentityCounts,
    new_counts: IdentityCounts,
    ledger_before: HashMap<Identity, u32>,
    to_copy: Vec<ScannedMessage>,
    deleted_on_new: HashMap<Identity, u32>,
}

impl MailboxRun<'_> {
    async fn go(&mut self, creds: &CredentialSource) -> Result<(), MailError> {
        let mut old = self.open(creds, WhichSide::Old).await?;
        let mut new = self.open(creds, WhichSide::New).await?;
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
        let old_folders = old.folders().await?;
        let mut new_folders = new.folders().await?;
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
            let target = map_folder(&folder, &self.plan.sync, &new_folders, &new_delimiter);
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
        let extra = if self.opts.dry_run {
            0
        } else {
            self.opts.connections_per_mailbox.max(1).min(work.max(1)) - 1
        };
        let extra_lanes = (0..extra).map(|_| async {
            // A server refusing more connections just means fewer lanes.
            let pair = async {
                Ok::<_, MailError>((
                    this.open(creds, WhichSide::Old).await?,
                    this.open(creds, WhichSide::New).await?,
                ))
            };
            let Ok((mut o, mut n)) = pair.await else {
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
                self.ledger.0.insert(
                    (self.mailbox.address.to_ascii_lowercase(), target),
                    ledger_now,
                );
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
        let status = old.examine(&folder.wire).await?;
        let old_messages: Vec<ScannedMessage> = old.scan(status.messages).await?;
        let old_counts: IdentityCounts = old_messages.iter().map(|m| m.identity).collect();
        let target_wire = utf7::encode(&target);
        let target_exists = new_folders.iter().any(|f| {
            f.wire == target_wire || (target == "INBOX" && f.wire.eq_ignore_ascii_case("INBOX"))
        });
        let new_counts: IdentityCounts = if target_exists {
            let st = new.examine(&target_wire).await?;
            new.scan(st.messages)
                .await?
                .into_iter()
                .map(|m| m.identity)
                .collect()
        } else {
            IdentityCounts::default()
        };
        let ledger_before = self.ledger.folder(&self.mailbox.address, &target);
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
                format!("{} messages seen on the new side", seen_delta.len()),
            ));
        }
        let mut copied_per_id: HashMap<Identity, u32> = HashMap::new();
        if !plan.to_copy.is_empty() {
            old.examine(&plan.old.wire).await?;
        }
        let batches = batches(
            &plan.to_copy,
            self.opts.batch_messages,
            self.opts.batch_bytes,
        );
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
                self.record(ledger_entry(
                    self.clock.now(),
                    &self.mailbox.address,
                    &plan.target,
                    &delta,
                    format!("{} messages copied", delta.values().count()),
                ));
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
            self.send_progress(&plan.target);
        };
        let (read, write) = tokio::join!(
            read_batches(old, &batches, budget, tx),
            write_batches(
                new,
                &target_wire,
                &batches,
                pipelined,
                self.throttle,
                rx,
                on_batch
            )
        );
        read?;
        write?;
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

    fn record(&self, entry: Entry) {
        if let Err(e) = self.log.record(&entry) {
            tracing::error!("journal: {e}");
        }
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

/// Splits the copy list into batches bounded by count and bytes.
fn batches(list: &[ScannedMessage], max_messages: usize, max_bytes: u64) -> Vec<&[ScannedMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, m) in list.iter().enumerate() {
        let size = u64::from(m.size);
        if i > start && (i - start >= max_messages.max(1) || bytes + size > max_bytes) {
            out.push(&list[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < list.len() {
        out.push(&list[start..]);
    }
    out
}

/// The APPEND flag list: system flags we keep and keywords; never \Deleted or \Recent.
fn append_flags(fetch: &async_imap::types::Fetch) -> String {
    use async_imap::types::Flag;
    let flags: Vec<String> = fetch
        .flags()
        .filter_map(|f| match f {
            Flag::Seen => Some("\\Seen".to_string()),
            Flag::Answered => Some("\\Answered".to_string()),
            Flag::Flagged => Some("\\Flagged".to_string()),
            Flag::Draft => Some("\\Draft".to_string()),
            Flag::Custom(k) if !k.starts_with('\\') && is_atom(&k) => Some(k.into_owned()),
            _ => None,
        })
        .collect();
    format!("({})", flags.join(" "))
}

fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Mail in flight between reading old and writing new, at most (KiB).
const IN_FLIGHT_KIB: u32 = 16 * 1024;

/// What the reader hands the writer.
enum Fetched {
    /// One message from old, holding its share of the in-flight budget.
    Message(async_imap::types::Fetch, tokio::sync::OwnedSemaphorePermit),
    /// Every message of batch `n` has been handed over.
    EndOfBatch(usize),
}

/// Reads the batches from old (one UID FETCH each, BODY.PEEK: nothing changes there).
/// Stops quietly when the writer has stopped.
async fn read_batches(
    old: &mut Imap,
    batches: &[&[ScannedMessage]],
    budget: Arc<Semaphore>,
    tx: mpsc::Sender<Fetched>,
) -> Result<(), MailError> {
    let limit = old.timeouts.command;
    let place = old.place.clone();
    for (index, batch) in batches.iter().enumerate() {
        let uids: Vec<String> = batch.iter().map(|m| m.uid.to_string()).collect();
        let uid_set = uids.join(",");
        let mut stream = timed(
            &place,
            "UID FETCH",
            limit,
            old.session
                .uid_fetch(&uid_set, "(UID FLAGS INTERNALDATE BODY.PEEK[])"),
        )
        .await?;
        loop {
            let next = timed(&place, "UID FETCH", limit, stream.try_next()).await?;
            let Some(fetch) = next else { break };
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            if !batch.iter().any(|m| m.uid == uid) {
                continue; // an unsolicited FETCH (flag change) for another message
            }
            let kib = u32::try_from(body.len() / 1024 + 1)
                .unwrap_or(u32::MAX)
                .min(IN_FLIGHT_KIB);
            let Ok(permit) = budget.clone().acquire_many_owned(kib).await else {
                return Ok(());
            };
            if tx.send(Fetched::Message(fetch, permit)).await.is_err() {
                return Ok(());
            }
        }
        drop(stream);
        if tx.send(Fetched::EndOfBatch(index)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Appends what the reader hands over (pipelined with LITERAL+ when offered) and
/// reports each batch's outcome: per message Ok, or the reason it failed. A broken
/// connection is an `Err` (the caller retries afresh; nothing is lost or doubled, as
/// every run compares identities first).
async fn write_batches(
    new: &mut Imap,
    target_wire: &str,
    batches: &[&[ScannedMessage]],
    pipelined: bool,
    throttle: &Throttle,
    mut rx: mpsc::Receiver<Fetched>,
    mut on_batch: impl FnMut(usize, Vec<Result<(), MessageFailure>>),
) -> Result<(), MailError> {
    let mut results: HashMap<u32, Result<(), MessageFailure>> = HashMap::new();
    let mut pending: HashMap<String, u32> = HashMap::new();
    let mut n = 0u64;
    while let Some(item) = rx.recv().await {
        match item {
            Fetched::Message(fetch, permit) => {
                let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                    continue;
                };
                let flags = append_flags(&fetch);
                let date = fetch
                    .internal_date()
                    .map(|d| quote(&d.format("%d-%b-%Y %H:%M:%S %z").to_string()));
                throttle.pass(body.len() as u64).await;
                if pipelined {
                    n += 1;
                    let tag = format!("P{n}");
                    let mut command = format!("{tag} APPEND {} {flags}", quote(target_wire));
                    if let Some(d) = &date {
                        command.push(' ');
                        command.push_str(d);
                    }
                    command.push_str(&format!(" {{{}+}}\r\n", body.len()));
                    let write = async {
                        let stream = new.session.get_mut();
                        stream.write_all(command.as_bytes()).await?;
                        stream.write_all(body).await?;
                        stream.write_all(b"\r\n").await?;
                        Ok::<(), async_imap::error::Error>(())
                    };
                    timed(&new.place, "APPEND", new.timeouts.command, write).await?;
                    pending.insert(tag, uid);
                } else {
                    let result =
                        append_one(new, target_wire, &flags, date.as_deref(), body).await?;
                    results.insert(uid, result);
                }
                drop(permit);
            }
            Fetched::EndOfBatch(index) => {
                if pipelined {
                    drain_appends(new, &mut pending, &mut results).await?;
                }
                let outcome = batches[index]
                    .iter()
                    .map(|m| {
                        results
                            .remove(&m.uid)
                            .unwrap_or(Err(MessageFailure::Vanished))
                    })
                    .collect();
                on_batch(index, outcome);
            }
        }
    }
    Ok(())
}

/// One APPEND with a round trip (servers without LITERAL+).
async fn append_one(
    new: &mut Imap,
    target_wire: &str,
    flags: &str,
    date: Option<&str>,
    body: &[u8],
) -> Result<Result<(), MessageFailure>, MailError> {
    let append = new.session.append(target_wire, Some(flags), date, body);
    match tokio::time::timeout(new.timeouts.command, append).await {
        Ok(Ok(())) => Ok(Ok(())),
        Ok(Err(e @ (async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)))) => {
            let text = server_text(&e);
            if is_throttling_text(&text) {
                return Err(MailError::Throttled {
                    place: new.place.clone(),
                    detail: text,
                });
            }
            Ok(Err(MessageFailure::Refused(text)))
        }
        Ok(Err(e)) => Err(MailError::from_imap(&new.place, "APPEND", &e)),
        Err(_) => Err(MailError::Timeout {
            place: new.place.clone(),
            during: "APPEND".to_string(),
            seconds: new.timeouts.command.as_secs(),
        }),
    }
}

/// Reads the tagged answers of every pipelined APPEND still open.
async fn drain_appends(
    new: &mut Imap,
    pending: &mut HashMap<String, u32>,
    results: &mut HashMap<u32, Result<(), MessageFailure>>,
) -> Result<(), MailError> {
    let limit = new.timeouts.command;
    timed(&new.place, "APPEND", limit, async {
        new.session.get_mut().flush().await?;
        Ok(())
    })
    .await?;
    while !pending.is_empty() {
        let response = match tokio::time::timeout(limit, new.session.read_response()).await {
            Err(_) => {
                return Err(MailError::Timeout {
                    place: new.place.clone(),
                    during: "APPEND".to_string(),
                    seconds: limit.as_secs(),
                });
            }
            Ok(Err(e)) => return Err(MailError::from_imap(&new.place, "APPEND", &e.into())),
            Ok(Ok(None)) => {
                return Err(MailError::from_imap(
                    &new.place,
                    "APPEND",
                    &async_imap::error::Error::ConnectionLost,
                ));
            }
            Ok(Ok(Some(r))) => r,
        };
        if let async_imap::imap_proto::Response::Done {
            tag,
            status,
            outcome,
        } = response.parsed()
            && let Some(uid) = pending.remove(&tag.0)
        {
            let result = if matches!(status, async_imap::imap_proto::Status::Ok) {
                Ok(())
            } else {
                let text = outcome_text(outcome.code.as_ref(), outcome.information.as_deref());
                if is_throttling_text(&text) {
                    return Err(MailError::Throttled {
                        place: new.place.clone(),
                        detail: text,
                    });
                }
                Err(MessageFailure::Refused(text))
            };
            results.insert(uid, result);
        }
    }
    Ok(())
}

/// A batch summary per folder, for tests and the CLI: old name → copied count.
pub fn copied_by_folder(report: &MailboxReport) -> BTreeMap<String, u64> {
    report
        .folders
        .iter()
        .map(|f| (f.old.clone(), f.copied))
        .collect()
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

    #[test]
    fn batches_bound_count_and_bytes() {
        let m = |uid, size| ScannedMessage {
            uid,
            identity: Identity::from_header(format!("Subject: {uid}\r\n\r\n").as_bytes()),
            size,
            subject: String::new(),
            deleted: false,
        };
        let list = vec![m(1, 10), m(2, 10), m(3, 100), m(4, 10), m(5, 10)];
        let b = batches(&list, 2, 50);
        let sizes: Vec<usize> = b.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 1, 2]);
        assert!(batches(&[], 2, 50).is_empty());
    }

    #[test]
    fn ledger_replays_highest_counts() {
        let id = Identity::from_header(b"Subject: x\r\n\r\n");
        let log = MemoryLog::default();
        let at = Timestamp::UNIX_EPOCH;
        log.record(&ledger_entry(
            at,
            "A@x",
            "INBOX",
            &HashMap::from([(id, 2)]),
            String::new(),
        ))
        .unwrap();
        log.record(&ledger_entry(
            at,
            "a@x",
            "INBOX",
            &HashMap::from([(id, 1)]),
            String::new(),
        ))
        .unwrap();
        let ledger = Ledger::from_entries(&log.snapshot());
        assert_eq!(ledger.folder("a@x", "INBOX").get(&id), Some(&2));
        assert!(ledger.folder("a@x", "Sent").is_empty());
    }

    #[test]
    fn exit_codes() {
        let place = Place::new("a@x", WhichSide::Old, "imaps://old");
        let mailbox = |error: Option<MailError>, verified: bool| MailboxReport {
            address: "a@x".into(),
            folders: vec![FolderReport {
                verified,
                ..FolderReport::default()
            }],
            skipped: vec![],
            error,
        };
        let report = |m: Vec<MailboxReport>| SyncReport {
            dry_run: false,
            mailboxes: m,
        };
        assert_eq!(report(vec![mailbox(None, true)]).exit_code(), 0);
        assert_eq!(
            report(vec![mailbox(None, true), mailbox(None, false)]).exit_code(),
            1
        );
        let auth = MailError::Auth {
            place: place.clone(),
            login: "a".into(),
            detail: "no".into(),
        };
        let down = MailError::Unreachable {
            place,
            detail: "refused".into(),
        };
        assert_eq!(
            report(vec![
                mailbox(Some(down.clone()), false),
                mailbox(Some(auth), false)
            ])
            .exit_code(),
            3
        );
        assert_eq!(
            report(vec![mailbox(Some(down), false), mailbox(None, true)]).exit_code(),
            4
        );
        let table = report(vec![mailbox(None, true)]).render_table();
        assert!(table.contains("verified complete"), "{table}");
    }
}
