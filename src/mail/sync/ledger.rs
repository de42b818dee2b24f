//! The ledger: per mailbox and new-side folder, how many messages of each identity were
//! copied there or seen there, kept in the log as `mail-ledger` facts; and the log itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::journal::{Entry, JournalError};
use crate::mail::identity::Identity;

/// The journal fact key of ledger lines.
pub const LEDGER_FACT: &str = "mail-ledger";
/// The journal fact key of what a copy verified, per folder (written after its last `sync` line).
pub const COPY_RESULT_FACT: &str = "mail-copy-result";

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

    /// Replaces a folder's counts with those after a copy (already in the log).
    pub(super) fn set_folder(
        &mut self,
        mailbox: &str,
        folder: String,
        ids: HashMap<Identity, u32>,
    ) {
        self.0.insert((mailbox.to_ascii_lowercase(), folder), ids);
    }
}

pub(super) fn ledger_entry(
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

/// A ledger line for messages this copy appended (not merely seen there): the copy back
/// reads it to leave alone what came from the old server in the first place.
pub(super) fn mark_copied(mut entry: Entry) -> Entry {
    if let Entry::Fact { value, .. } = &mut entry
        && let Some(map) = value.as_object_mut()
    {
        map.insert("copied".to_string(), serde_json::Value::Bool(true));
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
