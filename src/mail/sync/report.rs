//! What a copy run did, per mailbox and folder: the report `cutover sync` prints as a table,
//! serialises for `--json`, and turns into an exit code.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::mail::error::MailError;
use crate::sanitize::sanitize;

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
    /// The old folder's UIDNEXT when it was read: what the cockpit compares later probes
    /// with, to say a verified copy is stale.
    #[serde(skip)]
    pub old_uidnext: u32,
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

/// One folder as a copy verified it: the `folders` of its `mail-copy-result` fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedFolder {
    pub old: String,
    pub new: String,
    pub old_messages: u64,
    /// The old folder's UIDNEXT when the copy read it (0: not known).
    #[serde(default)]
    pub old_uidnext: u32,
    /// Old messages not on the new side after the copy (missing or refused).
    pub missing: u64,
    pub verified: bool,
}

/// What a copy of one mailbox verified: the value of its `mail-copy-result` fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyResult {
    pub mailbox: String,
    /// `verified`, `incomplete` or `failed`, as its last `sync` line.
    pub state: String,
    pub folders: Vec<CopiedFolder>,
}

impl MailboxReport {
    pub fn copy_result(&self, state: &str) -> CopyResult {
        CopyResult {
            mailbox: self.address.clone(),
            state: state.to_string(),
            folders: self
                .folders
                .iter()
                .map(|f| CopiedFolder {
                    old: f.old.clone(),
                    new: f.new.clone(),
                    old_messages: f.old_messages,
                    old_uidnext: f.old_uidnext,
                    missing: f.missing.len() as u64 + f.failed.len() as u64,
                    verified: f.verified,
                })
                .collect(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::error::Place;
    use crate::plan::WhichSide;

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
