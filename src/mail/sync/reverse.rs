//! The copy back (R18): after `cutover rollback`, the mail that reached the new server since
//! the switch is copied to the old one, once, verified — the one write to the old server.
//!
//! It is the forward copy with its sides swapped (`engine.rs` reads `new` and appends to
//! `old` when `SyncOptions::reverse` is set): EXAMINE and BODY.PEEK on the new server,
//! APPEND on the old, nothing deleted or flagged on either, and compared by the same message
//! identity, so a rerun copies nothing and a later forward copy duplicates nothing. It takes
//! only messages that arrived on the new server after the new MX was first served, less an
//! hour for clock skew, and never one the forward copy appended there (its ledger). It keeps
//! no ledger, checkpoints or progress lines of its own ([`BackLog`] holds them back, so the
//! forward copy's state is untouched); each mailbox ends with a [`COPY_BACK_RESULT_FACT`].

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::check::{Check, Kind, Status};
use crate::journal::history::History;
use crate::journal::{Entry, JournalError};
use crate::mail::connect::FolderName;
use crate::mail::identity::Identity;
use crate::mail::scan::ScannedMessage;
use crate::plan::{Plan, SyncPlan};

/// The clock skew allowed between the journal's MX fact and the new server's INTERNALDATE.
const SKEW: SignedDuration = SignedDuration::from_hours(1);

/// What the copy back takes: messages that arrived after `since`, except those the forward
/// copy appended to the new server (per mailbox, lowercase, and new-side folder).
#[derive(Debug, Clone, Default)]
pub struct Reverse {
    pub since: Option<Timestamp>,
    from_old: HashMap<(String, String), HashSet<Identity>>,
}

impl Reverse {
    /// From the journal: the first `mx-set` fact serving the new hosts (less an hour), and
    /// the forward copy's ledger lines of what it appended. `None` when the new MX was never
    /// seen served (nothing can have arrived there by it).
    pub fn from_journal(entries: &[Entry], history: &History) -> Option<Reverse> {
        let first_served = history
            .facts
            .get(crate::journal::dns_facts::keys::MX_SET)?
            .iter()
            .find(|f| {
                f.value.get("to").and_then(|v| v.as_str()).is_some_and(|s| {
                    s.eq_ignore_ascii_case("new") || s.eq_ignore_ascii_case("old+new")
                })
            })?;
        let mut from_old: HashMap<(String, String), HashSet<Identity>> = HashMap::new();
        for entry in entries {
            let Entry::Fact { key, value, .. } = entry else {
                continue;
            };
            if key != super::LEDGER_FACT
                || value.get("copied").and_then(|v| v.as_bool()) != Some(true)
            {
                continue;
            }
            let (Some(mailbox), Some(folder), Some(ids)) = (
                value.get("mailbox").and_then(|v| v.as_str()),
                value.get("folder").and_then(|v| v.as_str()),
                value.get("ids").and_then(|v| v.as_object()),
            ) else {
                continue;
            };
            from_old
                .entry((mailbox.to_lowercase(), folder.to_string()))
                .or_default()
                .extend(ids.keys().filter_map(|hex| Identity::from_hex(hex)));
        }
        Some(Reverse {
            since: Some(first_served.at.checked_sub(SKEW).unwrap_or(first_served.at)),
            from_old,
        })
    }

    /// Whether a message of the new server's `folder` is copied back: it arrived after the
    /// switch (a message without INTERNALDATE is taken: the old side's identity decides) and
    /// the forward copy did not bring it there.
    pub(super) fn takes(&self, mailbox: &str, folder: &str, m: &ScannedMessage) -> bool {
        let after_switch = match (self.since, m.arrived) {
            (Some(since), Some(arrived)) => arrived >= since,
            _ => true,
        };
        let from_old = self
            .from_old
            .get(&(mailbox.to_lowercase(), folder.to_string()))
            .is_some_and(|ids| ids.contains(&m.identity));
        after_switch && !from_old
    }
}

/// The old folder a new-side folder goes back to: the plan's `folder_map` read backwards,
/// then special use and the same name, as the forward copy maps them.
pub(super) fn map_back(
    new: &FolderName,
    plan: &SyncPlan,
    old_folders: &[FolderName],
    old_delimiter: &str,
) -> String {
    if let Some((from, _)) = plan.folder_map.iter().find(|(_, to)| *to == new.name) {
        return from.clone();
    }
    let forward_only = SyncPlan {
        folder_map: Vec::new(),
        ..plan.clone()
    };
    super::map_folder(new, &forward_only, old_folders, old_delimiter)
}

/// The journal as the copy back's log: the forward copy's own lines (progress, checkpoints,
/// ledger, its result and rate) are held back so the forward copy's state stays as it was;
/// everything else (the daily volume window) is written.
pub struct BackLog<'a>(pub &'a dyn super::SyncLog);

impl super::SyncLog for BackLog<'_> {
    fn record(&self, entry: &Entry) -> Result<(), JournalError> {
        let forward_only = match entry {
            Entry::Sync { .. } | Entry::Checkpoint { .. } => true,
            Entry::Fact { key, .. } => [
                super::LEDGER_FACT,
                super::COPY_RESULT_FACT,
                super::RATE_FACT,
            ]
            .contains(&key.as_str()),
            _ => false,
        };
        if forward_only {
            return Ok(());
        }
        self.0.record(entry)
    }

    fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        self.0.entries()
    }
}

/// The fact a copy back of one mailbox ends with.
pub fn copy_back_result(at: Timestamp, result: &CopyBackResult) -> Entry {
    Entry::Fact {
        at,
        key: COPY_BACK_RESULT_FACT.to_string(),
        value: serde_json::to_value(result).unwrap_or_default(),
        evidence: format!(
            "{}: copy back {}, {} copied to the old server, {} missing there",
            result.mailbox, result.state, result.copied, result.missing
        ),
    }
}

/// The fact a copy back journals per mailbox when it ends (its value: [`CopyBackResult`]).
pub const COPY_BACK_RESULT_FACT: &str = "mail-copy-back-result";

/// What a copy back of one mailbox verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyBackResult {
    pub mailbox: String,
    /// `verified`, `incomplete`, `failed`, or `waiting` (for the POP3 tick).
    pub state: String,
    /// Messages appended to the old server by this run.
    pub copied: u64,
    /// Messages that arrived on the new server since the switch and that the old server
    /// now lacks (0 when verified).
    pub missing: u64,
}

/// Which of the `selected` mailboxes (all when empty) a copy back takes now, and which wait:
/// a mailbox seen fetching the old server by POP3 (`pop3-fetch-seen`) waits until the
/// operator ticks it in `rollback-copy-back` (its fetch is off), or the copied-back mail
/// would come straight back into the new INBOX as duplicates.
pub fn select(plan: &Plan, history: &History, selected: &[String]) -> (Vec<String>, Vec<String>) {
    let ticked = history.step(&crate::step::StepId::RollbackCopyBack);
    let pop3: Vec<String> = history
        .facts
        .get(crate::mail::steps::POP3_FETCH_SEEN)
        .into_iter()
        .flatten()
        .filter_map(|f| f.value.get("mailbox")?.as_str().map(str::to_lowercase))
        .collect();
    let (mut now, mut waiting) = (Vec::new(), Vec::new());
    for m in &plan.mailboxes {
        if !selected.is_empty() && !selected.iter().any(|s| s.eq_ignore_ascii_case(&m.address)) {
            continue;
        }
        let address = m.address.to_lowercase();
        if pop3.contains(&address) && !ticked.is_some_and(|r| r.ticks.contains_key(&address)) {
            waiting.push(m.address.clone());
        } else {
            now.push(m.address.clone());
        }
    }
    (now, waiting)
}

impl CopyBackResult {
    /// How one mailbox's copy back ended, as `sync --reverse` and the rehearsal journal it.
    pub fn of(report: &super::MailboxReport) -> CopyBackResult {
        let state = if report.verified() {
            "verified"
        } else if report.error.is_some() {
            "failed"
        } else {
            "incomplete"
        };
        CopyBackResult {
            mailbox: report.address.clone(),
            state: state.into(),
            copied: report.copied(),
            missing: report.missing() + report.failed(),
        }
    }
}

/// The copy back's check (`id`): every mailbox's latest copy back since the rollback was
/// decided (`since`) is verified; unknown before any copy back ran.
pub fn copy_back_check(
    id: &str,
    kind: Kind,
    plan: &Plan,
    history: &History,
    since: Option<jiff::Timestamp>,
) -> Check {
    let mut latest: std::collections::HashMap<String, CopyBackResult> = Default::default();
    for fact in history
        .facts
        .get(COPY_BACK_RESULT_FACT)
        .into_iter()
        .flatten()
    {
        if since.is_some_and(|s| fact.at < s) {
            continue;
        }
        if let Ok(result) = serde_json::from_value::<CopyBackResult>(fact.value.clone()) {
            latest.insert(result.mailbox.to_lowercase(), result);
        }
    }
    if latest.is_empty() {
        return Check::new(
            id,
            kind,
            Status::Unknown,
            "no copy back has run yet (`cutover sync --reverse`)",
        );
    }
    let not_yet: Vec<String> = plan
        .mailboxes
        .iter()
        .filter_map(|m| match latest.get(&m.address.to_lowercase()) {
            Some(r) if r.state == "verified" => None,
            Some(r) => Some(format!("{} ({})", m.address, r.state)),
            None => Some(format!("{} (not copied back)", m.address)),
        })
        .collect();
    if not_yet.is_empty() {
        let copied: u64 = latest.values().map(|r| r.copied).sum();
        return Check::new(
            id,
            kind,
            Status::Pass,
            format!(
                "{} verified: the old server holds every message that reached the new one since the switch ({} copied back)",
                crate::units::all(plan.mailboxes.len() as u64, "mailbox", "mailboxes"),
                copied
            ),
        );
    }
    let shown: Vec<&str> = not_yet.iter().take(3).map(String::as_str).collect();
    Check::new(
        id,
        kind,
        Status::Fail,
        format!(
            "{} of {} not copied back yet: {}",
            not_yet.len(),
            crate::units::count(plan.mailboxes.len() as u64, "mailbox", "mailboxes"),
            crate::sanitize::sanitize(&shown.join(", "))
        ),
    )
}
