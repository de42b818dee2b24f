//! Mailbox probes shaped for the cockpit's table: one row per mailbox, folders for the detail view.

use crate::app::model::{FolderRow, LoginState, MailboxRow};
use crate::journal::History;
use crate::mail::probe::{LoginState as Probed, MailboxProbe, SideProbe};
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// The table rows for every mailbox of the plan: probed ones from their probe, the rest
/// unmeasured; the synced share from the last copy the journal records.
pub fn mailbox_rows(plan: &Plan, probes: &[MailboxProbe], history: &History) -> Vec<MailboxRow> {
    let by_address: std::collections::HashMap<String, &MailboxProbe> = probes
        .iter()
        .map(|p| (p.address.to_lowercase(), p))
        .collect();
    plan.mailboxes
        .iter()
        .map(|m| {
            let mut row = match by_address.get(&m.address.to_lowercase()) {
                Some(p) => row(p),
                None => MailboxRow::unmeasured(&m.address),
            };
            if row.synced_percent.is_none()
                && let Some(copy) = history.sync.get(&m.address)
            {
                let total = copy.messages_done + copy.messages_left;
                row.synced_percent = Some(if total == 0 {
                    if copy.state == "verified" { 100.0 } else { 0.0 }
                } else {
                    (copy.messages_done as f64 * 100.0 / total as f64) as f32
                });
            }
            row
        })
        .collect()
}

fn row(p: &MailboxProbe) -> MailboxRow {
    let error = match (&p.old.error, &p.new.error) {
        (Some(o), _) => Some(format!("old: {}", sanitize(o))),
        (None, Some(n)) => Some(format!("new: {}", sanitize(n))),
        (None, None) => None,
    };
    MailboxRow {
        address: p.address.clone(),
        old_login: login(&p.old),
        new_login: login(&p.new),
        old_messages: p.old.messages,
        new_messages: p.new.messages,
        synced_percent: p.synced_percent.map(|s| s as f32),
        fetch_detected: p.fetch_detected,
        throttled: p.old.login == Probed::Throttled || p.new.login == Probed::Throttled,
        last_error: error,
        folders: folders(p),
        copy: None,
    }
}

fn login(side: &SideProbe) -> LoginState {
    match side.login {
        Probed::Ok | Probed::Throttled => LoginState::Ok,
        Probed::Unknown => LoginState::Unknown,
        Probed::AuthFailed | Probed::Unreachable | Probed::TlsFailed => LoginState::Failed,
    }
}

/// Old folders first, with the new side's count of the same name; then folders only the new side has.
fn folders(p: &MailboxProbe) -> Vec<FolderRow> {
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
                verified: false,
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
                verified: false,
            });
        }
    }
    rows
}
