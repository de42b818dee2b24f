//! Mailbox probes and copy reports shaped for the cockpit's table: one row per mailbox,
//! folders for the detail view, and the running copies' progress.
//!
//! A row's counts come from whichever is newer, the last probe or the last copy's report
//! (the `mail-copy-result` fact); `synced` is the share that copy verified, `stale` once the
//! old side moved since (a later probe disagrees with it, or a later old INBOX UIDNEXT fact
//! exceeds it, as `mail.copy-verified` judges: `mail::steps::old_inbox_moved_since`).

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use crate::app::model::{CopyProgress, CopyRate, FolderRow, LoginState, MailboxRow, SyncedAs};
use crate::journal::{Entry, History};
use crate::mail::probe::{LoginState as Probed, MailboxProbe, SideProbe};
use crate::mail::steps::{
    InboxAtCopy, OLD_INBOX_UIDNEXT, POP3_FETCH_SEEN, last_inbox_uidnext, old_inbox_moved_since,
};
use crate::mail::sync::{COPY_RESULT_FACT, CopiedFolder, CopyResult};
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// The last copy's report of a mailbox, and when it was written.
#[derive(Debug, Clone)]
struct LastCopy {
    at: Timestamp,
    result: CopyResult,
}

impl LastCopy {
    fn folders(&self) -> &[CopiedFolder] {
        &self.result.folders
    }

    fn old(&self) -> u64 {
        self.folders().iter().map(|f| f.old_messages).sum()
    }

    fn missing(&self) -> u64 {
        self.folders().iter().map(|f| f.missing).sum()
    }

    /// The share of old messages on the new side; none when the copy failed before any folder.
    fn share(&self) -> Option<f32> {
        let old = self.old();
        if self.folders().is_empty() && self.result.state != "verified" {
            return None;
        }
        if old == 0 {
            return Some(100.0);
        }
        Some((old.saturating_sub(self.missing()) as f64 * 100.0 / old as f64) as f32)
    }

    fn inbox(&self) -> Option<InboxAtCopy> {
        InboxAtCopy::of(self.at, &self.result)
    }

    /// Whether the old side a probe saw differs from what this copy verified.
    fn old_side_moved(&self, old: &SideProbe) -> bool {
        self.folders().iter().any(|f| {
            old.folders
                .iter()
                .find(|p| sanitize(&p.name) == f.old)
                .is_some_and(|p| {
                    u64::from(p.messages) != f.old_messages
                        || (f.old_uidnext != 0 && p.uidnext != f.old_uidnext)
                })
        })
    }
}

/// What rows are built from besides the probes: read from the journal once per rebuild.
#[derive(Default)]
struct Context {
    /// The last copy report per mailbox (lowercase address).
    copies: HashMap<String, LastCopy>,
    /// The last old INBOX UIDNEXT fact per mailbox: when, and the value.
    uidnext: HashMap<String, (Timestamp, u32)>,
    /// Mailboxes a POP3 fetch was seen into.
    fetch_seen: HashSet<String>,
}

impl Context {
    /// From the journal's facts; `only`: just these mailboxes (lowercase).
    fn read(history: &History, only: Option<&HashSet<String>>) -> Context {
        let wanted = |m: &str| only.is_none_or(|o| o.contains(&m.to_lowercase()));
        let mailbox = |v: &serde_json::Value| {
            v.get("mailbox")
                .and_then(|m| m.as_str())
                .map(str::to_lowercase)
        };
        let mut ctx = Context::default();
        for f in history.facts.get(COPY_RESULT_FACT).into_iter().flatten() {
            if let Some(m) = mailbox(&f.value).filter(|m| wanted(m))
                && let Ok(result) = serde_json::from_value::<CopyResult>(f.value.clone())
            {
                ctx.copies.insert(m, LastCopy { at: f.at, result });
            }
        }
        ctx.uidnext = last_inbox_uidnext(history);
        ctx.uidnext.retain(|m, _| wanted(m));
        for f in history.facts.get(POP3_FETCH_SEEN).into_iter().flatten() {
            if let Some(m) = mailbox(&f.value).filter(|m| wanted(m)) {
                ctx.fetch_seen.insert(m);
            }
        }
        ctx
    }
}

/// The table rows for every mailbox of the plan: probed ones from their probe, the rest
/// unmeasured; counts, synced share and folders from the last copy's report when newer.
pub fn mailbox_rows(plan: &Plan, probes: &[MailboxProbe], history: &History) -> Vec<MailboxRow> {
    let by_address: HashMap<String, &MailboxProbe> = probes
        .iter()
        .map(|p| (p.address.to_lowercase(), p))
        .collect();
    let ctx = Context::read(history, None);
    plan.mailboxes
        .iter()
        .map(|m| {
            let probe = by_address.get(&m.address.to_lowercase()).copied();
            row(&m.address, probe, &ctx, history)
        })
        .collect()
}

/// Rebuilds the rows of `touched` mailboxes (lowercase) only, after journal lines about them.
pub fn refresh_rows(
    rows: &mut [MailboxRow],
    touched: &HashSet<String>,
    probes: Option<&[MailboxProbe]>,
    history: &History,
) {
    let ctx = Context::read(history, Some(touched));
    for r in rows.iter_mut() {
        let key = r.address.to_lowercase();
        if !touched.contains(&key) {
            continue;
        }
        let probe = probes
            .into_iter()
            .flatten()
            .find(|p| p.address.to_lowercase() == key);
        *r = row(&r.address, probe, &ctx, history);
    }
}

/// The mailbox (lowercase) a journal line changes the row of.
pub fn touches(entry: &Entry) -> Option<String> {
    match entry {
        // A running copy's lines change only its progress, which is not part of the row.
        Entry::Sync { mailbox, state, .. } if state != "running" => Some(mailbox.to_lowercase()),
        Entry::Fact { key, value, .. }
            if key == COPY_RESULT_FACT || key == OLD_INBOX_UIDNEXT || key == POP3_FETCH_SEEN =>
        {
            value
                .get("mailbox")
                .and_then(|m| m.as_str())
                .map(str::to_lowercase)
        }
        _ => None,
    }
}

fn row(
    address: &str,
    probe: Option<&MailboxProbe>,
    ctx: &Context,
    history: &History,
) -> MailboxRow {
    let key = address.to_lowercase();
    let mut r = match probe {
        Some(p) => probed(p),
        None => MailboxRow::unmeasured(address),
    };
    r.address = address.to_string();
    r.fetch_detected = if ctx.fetch_seen.contains(&key) {
        Some(true)
    } else if history.sync.contains_key(address) || ctx.copies.contains_key(&key) {
        None
    } else {
        probe.and_then(|p| p.fetch_detected)
    };
    let Some(copy) = ctx.copies.get(&key) else {
        // A journal from before copy reports: only a verified end says anything.
        if let Some(s) = history.sync.get(address)
            && s.state == "verified"
        {
            r.synced_percent = Some(100.0);
            r.synced_as = SyncedAs::Current;
            r.copied_at = Some(s.at);
        }
        return r;
    };
    r.copied_at = Some(copy.at);
    r.synced_percent = copy.share();
    let newer_probe = probe.filter(|p| p.probed_at > copy.at && p.old.login == Probed::Ok);
    let probe_moved = newer_probe.is_some_and(|p| copy.old_side_moved(&p.old));
    let uidnext_moved = copy
        .inbox()
        .and_then(|inbox| old_inbox_moved_since(inbox, ctx.uidnext.get(&key).copied()))
        .is_some();
    r.synced_as = if probe_moved || uidnext_moved {
        SyncedAs::Stale
    } else {
        SyncedAs::Current
    };
    match newer_probe {
        Some(p) => r.folders = merged_folders(p, copy),
        None => {
            r.old_messages = Some(copy.old());
            r.new_messages = Some(copy.old().saturating_sub(copy.missing()));
            r.folders = copied_folders(copy, probe);
        }
    }
    r
}

fn probed(p: &MailboxProbe) -> MailboxRow {
    let error = match (&p.old.error, &p.new.error) {
        (Some(o), _) => Some(format!("old: {}", sanitize(o))),
        (None, Some(n)) => Some(format!("new: {}", sanitize(n))),
        (None, None) => None,
    };
    MailboxRow {
        old_login: login(&p.old),
        new_login: login(&p.new),
        old_messages: p.old.messages,
        new_messages: p.new.messages,
        synced_percent: p.synced_percent.map(|s| s as f32),
        throttled: p.old.login == Probed::Throttled || p.new.login == Probed::Throttled,
        last_error: error,
        folders: probe_folders(p),
        ..MailboxRow::unmeasured(&p.address)
    }
}

fn login(side: &SideProbe) -> LoginState {
    match side.login {
        Probed::Ok | Probed::Throttled => LoginState::Ok,
        Probed::Unknown => LoginState::Unknown,
        Probed::AuthFailed | Probed::Unreachable | Probed::TlsFailed => LoginState::Failed,
    }
}

fn count(side: &SideProbe, name: &str) -> Option<u64> {
    side.folders
        .iter()
        .find(|f| sanitize(&f.name) == name)
        .map(|f| u64::from(f.messages))
}

/// The probe's folders (old first, then those only the new side has), with what the copy
/// verified of each: the probe is newer, so its counts stand.
fn merged_folders(p: &MailboxProbe, copy: &LastCopy) -> Vec<FolderRow> {
    let mut rows = probe_folders(p);
    for row in &mut rows {
        if let Some(c) = copy.folders().iter().find(|c| c.old == row.name) {
            row.new_messages = count(&p.new, &c.new).or(row.new_messages);
            row.missing = Some(c.missing);
            row.verified = Some(c.verified);
        }
    }
    // A folder copied under another name is not "only on the new side".
    rows.retain(|row| {
        row.old_messages.is_some()
            || !copy
                .folders()
                .iter()
                .any(|c| c.new == row.name && c.old != row.name)
    });
    rows
}

/// The copy's folders (it is newer than any probe), then folders only a probe has.
fn copied_folders(copy: &LastCopy, probe: Option<&MailboxProbe>) -> Vec<FolderRow> {
    let mut rows: Vec<FolderRow> = copy
        .folders()
        .iter()
        .map(|c| FolderRow {
            name: c.old.clone(),
            old_messages: Some(c.old_messages),
            new_messages: Some(c.old_messages.saturating_sub(c.missing)),
            missing: Some(c.missing),
            verified: Some(c.verified),
        })
        .collect();
    if let Some(p) = probe {
        for f in probe_folders(p) {
            let copied = copy
                .folders()
                .iter()
                .any(|c| c.old == f.name || c.new == f.name);
            if !copied {
                rows.push(f);
            }
        }
    }
    rows
}

/// Old folders first, with the new side's count of the same name; then folders only the new side has.
fn probe_folders(p: &MailboxProbe) -> Vec<FolderRow> {
    let mut rows: Vec<FolderRow> = p
        .old
        .folders
        .iter()
        .map(|f| {
            let new = p.new.folders.iter().find(|n| n.name == f.name);
            FolderRow {
                name: sanitize(&f.name),
                old_messages: Some(u64::from(f.messages)),
                new_messages: new.map(|n| u64::from(n.messages)),
                missing: None,
                verified: None,
            }
        })
        .collect();
    for f in &p.new.folders {
        if !p.old.folders.iter().any(|o| o.name == f.name) {
            rows.push(FolderRow {
                name: sanitize(&f.name),
                old_messages: None,
                new_messages: Some(u64::from(f.messages)),
                missing: None,
                verified: None,
            });
        }
    }
    rows
}

/// One progress sample of a copy: a `sync` journal line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: Timestamp,
    messages: u64,
    bytes: u64,
}

/// One mailbox's copy run, from its first `running` line to its last line.
#[derive(Debug, Clone, PartialEq)]
struct CopyRun {
    pid: u32,
    state: String,
    first: Sample,
    last: Sample,
    messages_left: u64,
}

impl CopyRun {
    fn progress(&self) -> CopyProgress {
        let secs = self.last.at.duration_since(self.first.at).as_secs_f64();
        // Two samples, some time apart: before that the rate is unknown, not zero.
        let rate = (secs > 0.0).then(|| CopyRate {
            messages_per_sec: self.last.messages.saturating_sub(self.first.messages) as f64 / secs,
            bytes_per_sec: self.last.bytes.saturating_sub(self.first.bytes) as f64 / secs,
        });
        CopyProgress {
            state: self.state.clone(),
            messages_done: self.last.messages,
            messages_left: self.messages_left,
            bytes_done: self.last.bytes,
            rate,
        }
    }
}

/// The copies the journal reports, per mailbox: folded line by line, so rate and time left
/// come from the journal's own timestamps (any cockpit following it sees the same).
#[derive(Debug, Clone, Default)]
pub struct CopyRuns {
    /// By address as the copy's lines spell it.
    runs: HashMap<String, CopyRun>,
    /// Mailboxes whose copy is running.
    running: HashSet<String>,
}

impl CopyRuns {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> CopyRuns {
        let mut runs = CopyRuns::default();
        for e in entries {
            runs.apply(e);
        }
        runs
    }

    pub fn apply(&mut self, entry: &Entry) {
        let Entry::Sync {
            at,
            mailbox,
            pid,
            state,
            messages_done,
            messages_left,
            bytes_done,
            ..
        } = entry
        else {
            return;
        };
        let sample = Sample {
            at: *at,
            messages: *messages_done,
            bytes: *bytes_done,
        };
        let fresh = |run: &CopyRun| run.state != "running" || run.pid != *pid;
        // Keyed by the address as the copy writes it (the plan's): a long journal replays
        // without an allocation per line.
        match self.runs.get_mut(mailbox.as_str()) {
            Some(run) if !fresh(run) => {
                run.last = sample;
                if run.state != *state {
                    run.state.clone_from(state);
                }
                run.messages_left = *messages_left;
            }
            _ => {
                self.runs.insert(
                    mailbox.clone(),
                    CopyRun {
                        pid: *pid,
                        state: state.clone(),
                        first: sample,
                        last: sample,
                        messages_left: *messages_left,
                    },
                );
            }
        }
        if state != "running" {
            self.running.remove(mailbox.as_str());
        } else if !self.running.contains(mailbox.as_str()) {
            self.running.insert(mailbox.clone());
        }
    }

    pub fn progress(&self, address: &str) -> Option<CopyProgress> {
        self.runs
            .get(&address.to_lowercase())
            .map(CopyRun::progress)
    }

    /// Every running copy together: how many, and their sums; the rate is the sum of those
    /// measured (none until one is).
    pub fn total(&self) -> Option<(usize, CopyProgress)> {
        if self.running.is_empty() {
            return None;
        }
        let mut total = CopyProgress {
            state: "running".to_string(),
            messages_done: 0,
            messages_left: 0,
            bytes_done: 0,
            rate: None,
        };
        for key in &self.running {
            let p = self.runs[key].progress();
            total.messages_done += p.messages_done;
            total.messages_left += p.messages_left;
            total.bytes_done += p.bytes_done;
            if let Some(r) = p.rate {
                let sum = total.rate.get_or_insert(CopyRate {
                    messages_per_sec: 0.0,
                    bytes_per_sec: 0.0,
                });
                sum.messages_per_sec += r.messages_per_sec;
                sum.bytes_per_sec += r.bytes_per_sec;
            }
        }
        Some((self.running.len(), total))
    }
}

#[cfg(test)]
#[path = "mail_view_tests.rs"]
mod tests;
