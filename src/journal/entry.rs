//! What one journal line says. The journal is JSON lines; each line is one `Entry`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::check::Check;
use crate::step::StepId;

/// One journal line. `kind` tags the variant; unknown kinds from a newer
/// cutover are kept as `Other` so an older binary never refuses a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// The operator says the change was made (at the DNS host or elsewhere).
    Applied {
        at: Timestamp,
        operator: String,
        step: StepId,
    },
    /// A step (or one mailbox's tick of a per-mailbox step) confirmed with the evidence shown.
    Confirm {
        at: Timestamp,
        operator: String,
        step: StepId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mailbox: Option<String>,
        evidence: Vec<Check>,
    },
    /// Confirmed although a check failed; `reason` is what the operator typed, verbatim.
    Override {
        at: Timestamp,
        operator: String,
        step: StepId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mailbox: Option<String>,
        reason: String,
        evidence: Vec<Check>,
    },
    /// A confirmation taken back.
    Reopen {
        at: Timestamp,
        operator: String,
        step: StepId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mailbox: Option<String>,
    },
    /// Something first observed (or a transition), recorded with its evidence.
    /// `key` names the fact (see `journal::facts`); `value` is its data.
    Fact {
        at: Timestamp,
        key: String,
        value: serde_json::Value,
        evidence: String,
    },
    /// A copy's resume point for one folder.
    Checkpoint {
        at: Timestamp,
        mailbox: String,
        folder: String,
        uidvalidity: u32,
        last_uid: u32,
    },
    /// A copy's progress or end, written by the process doing the copy.
    Sync {
        at: Timestamp,
        mailbox: String,
        pid: u32,
        state: String,
        messages_done: u64,
        messages_left: u64,
        bytes_done: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    Note {
        at: Timestamp,
        operator: String,
        text: String,
    },
    #[serde(other)]
    Other,
}

impl Entry {
    /// The step this line is about: a confirmation's, or an observed step's fact.
    pub fn step(&self) -> Option<StepId> {
        match self {
            Entry::Applied { step, .. }
            | Entry::Confirm { step, .. }
            | Entry::Override { step, .. }
            | Entry::Reopen { step, .. } => Some(step.clone()),
            Entry::Fact { key, value, .. } if key == crate::journal::history::STEP_OBSERVED => {
                value
                    .get("step")
                    .and_then(|v| v.as_str())
                    .map(StepId::parse)
            }
            _ => None,
        }
    }

    pub fn at(&self) -> Option<Timestamp> {
        match self {
            Entry::Applied { at, .. }
            | Entry::Confirm { at, .. }
            | Entry::Override { at, .. }
            | Entry::Reopen { at, .. }
            | Entry::Fact { at, .. }
            | Entry::Checkpoint { at, .. }
            | Entry::Sync { at, .. }
            | Entry::Note { at, .. } => Some(*at),
            Entry::Other => None,
        }
    }
}
