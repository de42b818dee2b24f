//! The copy back (R18): after `cutover rollback`, the mail that reached the new server since
//! the switch is copied to the old one, once, verified. Here: its journal fact and the check
//! `rollback-copy-back` is judged by.

use serde::{Deserialize, Serialize};

use crate::check::{Check, Kind, Status};
use crate::journal::history::History;
use crate::plan::Plan;

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
