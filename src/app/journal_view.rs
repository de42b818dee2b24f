//! The journal pane's view: the journal's tail folded for people. A probe round's facts of one
//! key become one line ("old INBOX UIDNEXT seen for 5 mailboxes; 1 changed: alice"), a copy's
//! progress, checkpoint and ledger lines become its one line, and a filter shows one kind.
//! Folded as lines arrive, so a frame only reads it. The journal file keeps every line.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use crate::journal::Entry;
use crate::journal::history::STEP_OBSERVED;
use crate::mail::steps::OLD_INBOX_UIDNEXT;
use crate::mail::sync::{COPY_RESULT_FACT, LEDGER_FACT};

/// What a journal line is about, for the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKind {
    /// What people recorded: applied, confirmed, overridden, reopened, notes; steps observed done.
    Confirmation,
    /// Alarms raised and cleared.
    Alarm,
    /// What was measured and first seen.
    Fact,
    /// Copies: progress, checkpoints, ledger, results.
    Copy,
}

/// Which kinds the pane shows; `f` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JournalFilter {
    #[default]
    All,
    Confirmations,
    Alarms,
    Facts,
    Copies,
}

impl JournalFilter {
    pub fn next(self) -> JournalFilter {
        match self {
            JournalFilter::All => JournalFilter::Confirmations,
            JournalFilter::Confirmations => JournalFilter::Alarms,
            JournalFilter::Alarms => JournalFilter::Facts,
            JournalFilter::Facts => JournalFilter::Copies,
            JournalFilter::Copies => JournalFilter::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JournalFilter::All => "all",
            JournalFilter::Confirmations => "confirmations",
            JournalFilter::Alarms => "alarms",
            JournalFilter::Facts => "facts",
            JournalFilter::Copies => "copies",
        }
    }

    pub fn admits(self, kind: JournalKind) -> bool {
        match self {
            JournalFilter::All => true,
            JournalFilter::Confirmations => kind == JournalKind::Confirmation,
            JournalFilter::Alarms => kind == JournalKind::Alarm,
            JournalFilter::Facts => kind == JournalKind::Fact,
            JournalFilter::Copies => kind == JournalKind::Copy,
        }
    }
}

/// One copy's lines folded: its last progress and how many checkpoints and ledger lines.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyLine {
    pub mailbox: String,
    pub pid: Option<u32>,
    /// `running`, `verified`, `incomplete`, `failed`; `None` when only checkpoints were seen.
    pub state: Option<String>,
    pub messages_done: u64,
    pub messages_left: u64,
    pub bytes_done: u64,
    pub detail: Option<String>,
    /// Old folders checkpointed, each once.
    pub folders: Vec<String>,
    pub checkpoints: usize,
    pub ledger_lines: usize,
    /// The copy's report (`mail-copy-result`): its evidence sentence.
    pub result: Option<String>,
    pub last_at: Timestamp,
}

/// One line of the pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Fold {
    /// A line shown as it is.
    One(Entry),
    /// The old INBOX UIDNEXT facts of one probe round.
    Uidnext {
        mailboxes: usize,
        /// Mailboxes whose UIDNEXT differs from the one seen before (first sightings are not changes).
        changed: Vec<String>,
        /// When the probe round was asked for, when the facts say (the cockpit's prober
        /// journals a round in batches, each at its own time).
        round: Option<Timestamp>,
    },
    /// Facts of one key written at the same moment (one round).
    Facts {
        key: String,
        count: usize,
        first: String,
    },
    Copy(CopyLine),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JournalItem {
    pub kind: JournalKind,
    pub at: Option<Timestamp>,
    pub fold: Fold,
}

/// How far back a round's facts look for the line they fold into (other writers may interleave).
const ROUND_LOOKBACK: usize = 8;

/// The folded tail of the journal, at most `cap` lines.
#[derive(Debug, Clone)]
pub struct JournalView {
    items: VecDeque<JournalItem>,
    /// The id of `items[0]`: ids keep counting as old lines fall off the front.
    base: u64,
    /// The line of each mailbox's current copy (lowercase address → id).
    open_copies: HashMap<String, u64>,
    /// The last old INBOX UIDNEXT per mailbox (lowercase), to tell changes from first sightings.
    uidnext: HashMap<String, u64>,
    cap: usize,
    pub filter: JournalFilter,
}

impl JournalView {
    pub fn new(cap: usize) -> JournalView {
        JournalView {
            items: VecDeque::new(),
            base: 0,
            open_copies: HashMap::new(),
            uidnext: HashMap::new(),
            cap,
            filter: JournalFilter::All,
        }
    }

    /// The view of a whole journal: its last `tail` lines folded, the UIDNEXT values before
    /// them remembered (so a change in the tail is told from a first sighting).
    pub fn from_entries(entries: &[Entry], tail: usize, cap: usize) -> JournalView {
        let mut view = JournalView::new(cap);
        let start = entries.len().saturating_sub(tail);
        for e in &entries[..start] {
            if let Some((m, u)) = uidnext_fact(e) {
                view.uidnext.insert(m, u);
            }
        }
        for e in &entries[start..] {
            view.push(e);
        }
        view
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many lines the filter lets through.
    pub fn shown(&self) -> usize {
        self.items
            .iter()
            .filter(|i| self.filter.admits(i.kind))
            .count()
    }

    /// The lines the filter lets through, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &JournalItem> {
        self.items
            .iter()
            .rev()
            .filter(|i| self.filter.admits(i.kind))
    }

    /// Folds one more journal line in.
    pub fn push(&mut self, entry: &Entry) {
        match entry {
            Entry::Sync { .. } | Entry::Checkpoint { .. } => self.copy(entry),
            Entry::Fact { key, .. } if key == LEDGER_FACT || key == COPY_RESULT_FACT => {
                self.copy(entry)
            }
            Entry::Fact { key, at, .. } if key == OLD_INBOX_UIDNEXT => {
                let Some((mailbox, uidnext)) = uidnext_fact(entry) else {
                    return self.add(JournalKind::Fact, entry.clone());
                };
                let changed = self
                    .uidnext
                    .insert(mailbox, uidnext)
                    .is_some_and(|before| before != uidnext);
                let name = entry_mailbox(entry).unwrap_or_default();
                let round = uidnext_round(entry);
                if let Some(Fold::Uidnext {
                    mailboxes,
                    changed: names,
                    ..
                }) = self.round(key, *at, round)
                {
                    *mailboxes += 1;
                    if changed {
                        names.push(name);
                    }
                    return;
                }
                self.insert(JournalItem {
                    kind: JournalKind::Fact,
                    at: Some(*at),
                    fold: Fold::Uidnext {
                        mailboxes: 1,
                        changed: if changed { vec![name] } else { Vec::new() },
                        round,
                    },
                });
            }
            Entry::Fact { key, .. } if key.contains("alarm") => {
                self.add(JournalKind::Alarm, entry.clone())
            }
            Entry::Fact { key, .. } if key == STEP_OBSERVED => {
                self.add(JournalKind::Confirmation, entry.clone())
            }
            Entry::Fact { key, at, .. } => {
                if let Some(fold) = self.round(key, *at, None) {
                    match fold {
                        Fold::One(Entry::Fact {
                            evidence: first, ..
                        }) => {
                            let first = std::mem::take(first);
                            *fold = Fold::Facts {
                                key: key.clone(),
                                count: 2,
                                first,
                            };
                        }
                        Fold::Facts { count, .. } => *count += 1,
                        _ => {}
                    }
                    return;
                }
                self.add(JournalKind::Fact, entry.clone());
            }
            Entry::Applied { .. }
            | Entry::Confirm { .. }
            | Entry::Override { .. }
            | Entry::Reopen { .. }
            | Entry::Note { .. } => self.add(JournalKind::Confirmation, entry.clone()),
            Entry::Other => self.add(JournalKind::Fact, entry.clone()),
        }
    }

    fn add(&mut self, kind: JournalKind, entry: Entry) {
        self.insert(JournalItem {
            kind,
            at: entry.at(),
            fold: Fold::One(entry),
        });
    }

    fn insert(&mut self, item: JournalItem) -> u64 {
        self.items.push_back(item);
        while self.items.len() > self.cap {
            self.items.pop_front();
            self.base += 1;
        }
        self.base + self.items.len() as u64 - 1
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut JournalItem> {
        let i = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.items.get_mut(i)
    }

    /// A line of this round to fold a fact of `key` at `at` into: the same key, and the same
    /// moment or the same probe round (`round`, when the fact names it).
    fn round(&mut self, key: &str, at: Timestamp, round: Option<Timestamp>) -> Option<&mut Fold> {
        let n = self.items.len();
        let i = (n.saturating_sub(ROUND_LOOKBACK)..n).rev().find(|&i| {
            let item = &self.items[i];
            match &item.fold {
                Fold::Uidnext { round: theirs, .. } => {
                    key == OLD_INBOX_UIDNEXT
                        && (item.at == Some(at) || (round.is_some() && *theirs == round))
                }
                _ => {
                    item.at == Some(at)
                        && match &item.fold {
                            Fold::Facts { key: k, .. } => k == key,
                            Fold::One(Entry::Fact { key: k, .. }) => {
                                k == key && item.kind == JournalKind::Fact
                            }
                            _ => false,
                        }
                }
            }
        })?;
        Some(&mut self.items[i].fold)
    }

    fn copy(&mut self, entry: &Entry) {
        let Some(mailbox) = entry_mailbox(entry) else {
            return self.add(JournalKind::Copy, entry.clone());
        };
        let key = mailbox.to_lowercase();
        let at = entry.at().unwrap_or(Timestamp::UNIX_EPOCH);
        // A new run starts a new line: a `running` line after an ended copy, or from another process.
        let starts = |line: &CopyLine| match entry {
            Entry::Sync { state, pid, .. } => {
                state == "running"
                    && (line.state.as_deref() != Some("running") || line.pid != Some(*pid))
            }
            _ => false,
        };
        let reuse = self.open_copies.get(&key).copied().filter(|&id| {
            let i = id
                .checked_sub(self.base)
                .and_then(|i| usize::try_from(i).ok());
            matches!(
                i.and_then(|i| self.items.get(i)),
                Some(JournalItem { fold: Fold::Copy(line), .. }) if !starts(line)
            )
        });
        let id = match reuse {
            Some(id) => id,
            None => {
                let id = self.insert(JournalItem {
                    kind: JournalKind::Copy,
                    at: Some(at),
                    fold: Fold::Copy(CopyLine {
                        mailbox,
                        pid: None,
                        state: None,
                        messages_done: 0,
                        messages_left: 0,
                        bytes_done: 0,
                        detail: None,
                        folders: Vec::new(),
                        checkpoints: 0,
                        ledger_lines: 0,
                        result: None,
                        last_at: at,
                    }),
                });
                self.open_copies.insert(key, id);
                id
            }
        };
        let Some(JournalItem {
            fold: Fold::Copy(line),
            ..
        }) = self.get_mut(id)
        else {
            return;
        };
        line.last_at = at;
        match entry {
            Entry::Sync {
                pid,
                state,
                messages_done,
                messages_left,
                bytes_done,
                detail,
                ..
            } => {
                line.pid = Some(*pid);
                line.state = Some(state.clone());
                line.messages_done = *messages_done;
                line.messages_left = *messages_left;
                line.bytes_done = *bytes_done;
                line.detail.clone_from(detail);
            }
            Entry::Checkpoint { folder, .. } => {
                line.checkpoints += 1;
                if !line.folders.contains(folder) {
                    line.folders.push(folder.clone());
                }
            }
            Entry::Fact { key, evidence, .. } if key == COPY_RESULT_FACT => {
                line.result = Some(evidence.clone());
            }
            _ => line.ledger_lines += 1,
        }
    }
}

fn entry_mailbox(entry: &Entry) -> Option<String> {
    match entry {
        Entry::Sync { mailbox, .. } | Entry::Checkpoint { mailbox, .. } => Some(mailbox.clone()),
        Entry::Fact { value, .. } => value
            .get("mailbox")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// When the probe round of an old INBOX UIDNEXT fact was asked for, when it says.
fn uidnext_round(entry: &Entry) -> Option<Timestamp> {
    let Entry::Fact { value, .. } = entry else {
        return None;
    };
    value.get(crate::mail::steps::ROUND)?.as_str()?.parse().ok()
}

fn uidnext_fact(entry: &Entry) -> Option<(String, u64)> {
    let Entry::Fact { key, value, .. } = entry else {
        return None;
    };
    if key != OLD_INBOX_UIDNEXT {
        return None;
    }
    let mailbox = value.get("mailbox")?.as_str()?.to_lowercase();
    Some((mailbox, value.get("uidnext")?.as_u64()?))
}

#[cfg(test)]
#[path = "journal_view_tests.rs"]
mod tests;
