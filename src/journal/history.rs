//! What the journal says happened, folded into the state the checks read.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::journal::Entry;
use crate::step::StepId;

/// The fact recording that an automatic step was observed done (`{"step": id}`).
pub const STEP_OBSERVED: &str = "step-observed";

/// A step's confirmation as the journal holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub at: Timestamp,
    pub operator: String,
    /// The typed reason, when the confirmation overrode failing checks.
    pub reason: Option<String>,
}

/// Everything the journal says about one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub applied_at: Option<Timestamp>,
    pub confirmed: Option<Confirmation>,
    /// Per-mailbox ticks (address, lowercase) for per-mailbox steps.
    pub ticks: HashMap<String, Confirmation>,
}

/// A fact as journaled: when, what, and the evidence sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct FactRecord {
    pub at: Timestamp,
    pub value: serde_json::Value,
    pub evidence: String,
}

/// The latest copy progress one mailbox reported.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRecord {
    pub at: Timestamp,
    pub pid: u32,
    pub state: String,
    pub messages_done: u64,
    pub messages_left: u64,
    pub bytes_done: u64,
    pub detail: Option<String>,
}

/// The journal folded: built once from a replay, then updated line by line as it grows.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub steps: HashMap<StepId, StepRecord>,
    /// Facts by key, in journal order (transitions keep every line; first-seen facts have one).
    pub facts: HashMap<String, Vec<FactRecord>>,
    pub sync: HashMap<String, SyncRecord>,
    /// (mailbox, folder) → (uidvalidity, last uid).
    pub checkpoints: HashMap<(String, String), (u32, u32)>,
    /// What DNS facts the journal holds (first-seen TTLs, MX transitions, alarms).
    pub dns: crate::journal::dns_facts::DnsFacts,
    pub entries: usize,
}

impl History {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> History {
        let mut history = History::default();
        for e in entries {
            history.apply(e);
        }
        history
    }

    /// Folds one more journal line in.
    pub fn apply(&mut self, entry: &Entry) {
        self.entries += 1;
        self.dns.apply(entry);
        match entry {
            Entry::Applied { at, step, .. } => {
                self.steps.entry(step.clone()).or_default().applied_at = Some(*at);
            }
            Entry::Confirm {
                at,
                operator,
                step,
                mailbox,
                ..
            } => self.confirm(step, mailbox.as_deref(), *at, operator, None),
            Entry::Override {
                at,
                operator,
                step,
                mailbox,
                reason,
                ..
            } => self.confirm(
                step,
                mailbox.as_deref(),
                *at,
                operator,
                Some(reason.clone()),
            ),
            Entry::Reopen { step, mailbox, .. } => {
                let record = self.steps.entry(step.clone()).or_default();
                match mailbox {
                    Some(m) => {
                        record.ticks.remove(&m.to_lowercase());
                        // A step that was done as a whole is no longer, once one mailbox is reopened.
                        record.confirmed = None;
                    }
                    None => {
                        record.confirmed = None;
                        record.applied_at = None;
                    }
                }
            }
            Entry::Fact { at, key, value, .. } if key == STEP_OBSERVED => {
                // An automatic step seen done stays done, even if its evidence later changes
                // (restored TTLs, a resolver's cached answer): the journal remembers it.
                if let Some(step) = value.get("step").and_then(|v| v.as_str()) {
                    let record = self.steps.entry(StepId::parse(step)).or_default();
                    if record.confirmed.is_none() {
                        record.confirmed = Some(Confirmation {
                            at: *at,
                            operator: "cutover (observed)".to_string(),
                            reason: None,
                        });
                    }
                }
                self.facts.entry(key.clone()).or_default().push(FactRecord {
                    at: *at,
                    value: value.clone(),
                    evidence: String::new(),
                });
            }
            Entry::Fact {
                at,
                key,
                value,
                evidence,
            } => self.facts.entry(key.clone()).or_default().push(FactRecord {
                at: *at,
                value: value.clone(),
                evidence: evidence.clone(),
            }),
            Entry::Checkpoint {
                mailbox,
                folder,
                uidvalidity,
                last_uid,
                ..
            } => {
                self.checkpoints
                    .insert((mailbox.clone(), folder.clone()), (*uidvalidity, *last_uid));
            }
            Entry::Sync {
                at,
                mailbox,
                pid,
                state,
                messages_done,
                messages_left,
                bytes_done,
                detail,
            } => {
                self.sync.insert(
                    mailbox.clone(),
                    SyncRecord {
                        at: *at,
                        pid: *pid,
                        state: state.clone(),
                        messages_done: *messages_done,
                        messages_left: *messages_left,
                        bytes_done: *bytes_done,
                        detail: detail.clone(),
                    },
                );
            }
            Entry::Note { .. } | Entry::Other => {}
        }
    }

    fn confirm(
        &mut self,
        step: &StepId,
        mailbox: Option<&str>,
        at: Timestamp,
        operator: &str,
        reason: Option<String>,
    ) {
        let record = self.steps.entry(step.clone()).or_default();
        let confirmation = Confirmation {
            at,
            operator: operator.to_string(),
            reason,
        };
        match mailbox {
            Some(m) => {
                record.ticks.insert(m.to_lowercase(), confirmation);
            }
            None => record.confirmed = Some(confirmation),
        }
    }

    pub fn step(&self, id: &StepId) -> Option<&StepRecord> {
        self.steps.get(id)
    }

    pub fn first_fact(&self, key: &str) -> Option<&FactRecord> {
        self.facts.get(key).and_then(|v| v.first())
    }

    pub fn last_fact(&self, key: &str) -> Option<&FactRecord> {
        self.facts.get(key).and_then(|v| v.last())
    }

    /// When mail switched to the new server: the first time only the new MX was
    /// served everywhere (a DNS fact), else when `remove-old-mx` was confirmed.
    pub fn switch_at(&self) -> Option<Timestamp> {
        let observed = self.facts.get("mx-set").and_then(|facts| {
            facts
                .iter()
                .find(|f| {
                    f.value
                        .get("to")
                        .and_then(|v| v.as_str())
                        .is_some_and(|s| s.eq_ignore_ascii_case("new"))
                })
                .map(|f| f.at)
        });
        observed.or_else(|| {
            self.step(&StepId::RemoveOldMx)
                .and_then(|r| r.confirmed.as_ref())
                .map(|c| c.at)
        })
    }
}
