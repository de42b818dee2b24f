//! The way back (R18): the decision to roll back, and the rollback steps it appends.
//!
//! `cutover rollback --reason …` (or `R` in the cockpit) journals a [`FACT`] line with who
//! decided, when and why, and which rollback steps this rollback needs: `rollback-spf` only
//! when `dkim-spf-final` was done, `rollback-lower-ttl` only when `restore-ttl` was done,
//! `rollback-clients` only for the mailboxes ticked in `remove-old-accounts`. While it
//! stands, the forward steps from `add-new-mx` on are shown as rolled back and the rollback
//! steps (`assets/rollback.toml`) follow the runbook, evaluated like any step.
//! `--retry` ends the rollback (the forward steps from `add-new-mx` become pending again);
//! `--stay` ends the migration on the old server: two more steps, the new server's terms out
//! of SPF and the TTLs restored.

use std::borrow::Cow;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::check::{Check, Kind, Status};
use crate::journal::Entry;
use crate::journal::history::History;
use crate::plan::Plan;
use crate::runbook::{Runbook, StepDef};
use crate::step::StepId;

/// The fact key of a rollback decision (`{"action": "start" | "retry", …}`).
pub const FACT: &str = "rollback";

/// Check ids the journal, the plan and the clock answer for the rollback steps.
pub const RESTORED_TTL_EXPIRED: &str = "restored-ttl-expired";
pub const CLIENTS_TICKED: &str = "rollback-clients-ticked";
pub const COPY_BACK_VERIFIED: &str = "copy-back-verified";

const ROLLBACK_STEPS: &str = include_str!("../../assets/rollback.toml");

/// One rollback line of the journal, as its fact's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Decision {
    /// Roll back: the steps this rollback needs, and the mailboxes whose users removed the
    /// old account (`rollback-clients` asks only about them).
    Start {
        operator: String,
        reason: String,
        steps: Vec<StepId>,
        #[serde(default)]
        clients: Vec<String>,
    },
    /// Go forward again: the forward steps from `add-new-mx` are pending again.
    Retry { operator: String, reason: String },
    /// Stay on the old server: the rollback stands and the migration ends there.
    Stay { operator: String, reason: String },
}

/// A rollback standing now: when it was decided, and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub at: Timestamp,
    pub operator: String,
    pub reason: String,
    pub steps: Vec<StepId>,
    pub clients: Vec<String>,
    /// `--stay` was decided after it: the migration ends on the old server.
    pub stayed: bool,
}

/// The rollback standing now, if any: the journal's last start of one, unless a retry
/// followed it.
pub fn active(history: &History) -> Option<Rollback> {
    let mut standing: Option<Rollback> = None;
    for fact in history.facts.get(FACT).into_iter().flatten() {
        match serde_json::from_value::<Decision>(fact.value.clone()) {
            Ok(Decision::Start {
                operator,
                reason,
                steps,
                clients,
            }) => {
                standing = Some(Rollback {
                    at: fact.at,
                    operator,
                    reason,
                    steps,
                    clients,
                    stayed: false,
                })
            }
            Ok(Decision::Retry { .. }) => standing = None,
            Ok(Decision::Stay { .. }) => {
                if let Some(r) = standing.as_mut() {
                    r.stayed = true;
                }
            }
            Err(_) => {}
        }
    }
    standing
}

/// The rollback standing now as the canaries need it: when `rollback-remove-new-mx` was
/// confirmed, and the TTL the new MX was last served with. That is the migration TTL: the
/// new MX may only go once the MX set has it again (either `restore-ttl` was never done,
/// or `rollback-lower-ttl` put it back first); a TTL the operator set lower only makes the
/// wait longer than needed, never too short.
pub fn for_canaries(plan: &Plan, history: &History) -> Option<crate::canary::RollingBack> {
    active(history)?;
    let new_mx_removed_at = history
        .step(&StepId::RollbackRemoveNewMx)
        .and_then(|r| r.confirmed.as_ref())
        .map(|c| c.at);
    Some(crate::canary::RollingBack {
        new_mx_removed_at,
        new_mx_ttl: plan.dns.migration_ttl,
    })
}

/// Where the world's canary should land now, the rollback included (`cutover canary`,
/// `status` and the cockpit ask this).
pub fn world_canary_expect(
    plan: &Plan,
    history: &History,
    now: Timestamp,
) -> crate::canary::Expect {
    crate::canary::expect_world(plan, history, for_canaries(plan, history), now)
}

/// The rollback steps as the asset defines them, in their order.
pub(crate) fn definitions() -> Vec<StepDef> {
    #[derive(Deserialize)]
    struct File {
        step: Vec<StepDef>,
    }
    // The asset is part of the binary and covered by tests, so it always parses.
    let file: File =
        toml::from_str(ROLLBACK_STEPS).expect("assets/rollback.toml is valid (tested)");
    file.step
}

/// The runbook as it stands for this journal: the forward steps, then (while a rollback
/// stands) the rollback steps it needs, each after the one before it (`rollback-clients`
/// after `rollback-add-old-mx`: users can be helped while the copy back runs).
pub fn effective<'a>(runbook: &'a Runbook, history: &History) -> Cow<'a, Runbook> {
    let rollback = active(history);
    let has_rollback_steps = runbook.steps.iter().any(|s| s.id.is_rollback());
    let Some(rollback) = rollback else {
        if !has_rollback_steps {
            return Cow::Borrowed(runbook);
        }
        let mut forward = runbook.clone();
        forward.steps.retain(|s| !s.id.is_rollback());
        return Cow::Owned(forward);
    };
    let mut out = runbook.clone();
    out.steps.retain(|s| !s.id.is_rollback());
    let mut previous: Option<StepId> = None;
    let staying = [StepId::StaySpfOldOnly, StepId::StayRestoreTtl];
    for mut def in definitions() {
        let wanted =
            rollback.steps.contains(&def.id) || (rollback.stayed && staying.contains(&def.id));
        if !wanted {
            continue;
        }
        def.after = match def.id {
            StepId::RollbackClients => vec![StepId::RollbackAddOldMx],
            // The DNS ends on the old server once the new MX is gone; the copy back may run on.
            StepId::StaySpfOldOnly => vec![StepId::RollbackRemoveNewMx],
            StepId::StayRestoreTtl => vec![StepId::StaySpfOldOnly],
            _ => previous.iter().cloned().collect(),
        };
        if !matches!(def.id, StepId::RollbackClients) && !staying.contains(&def.id) {
            previous = Some(def.id.clone());
        }
        out.steps.push(def);
    }
    Cow::Owned(out)
}

/// Why a rollback cannot be decided now.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// `add-new-mx` is not confirmed: nothing has switched, there is nothing to roll back.
    NotSwitched,
    /// `decommission-old` is confirmed: the old server is gone.
    Decommissioned,
    /// A rollback already stands (since then, by whom).
    AlreadyRolledBack(Rollback),
    /// `--retry` or `--stay` without a rollback standing.
    NoRollback,
    /// `--stay` a second time.
    AlreadyStaying,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotSwitched => write!(
                f,
                "nothing to roll back: {} is not confirmed, the old MX still receives all mail",
                StepId::AddNewMx
            ),
            Refusal::Decommissioned => write!(
                f,
                "too late to roll back: {} is confirmed, the old server is gone",
                StepId::DecommissionOld
            ),
            Refusal::AlreadyRolledBack(r) => write!(
                f,
                "a rollback already stands, decided by {} ({})",
                crate::sanitize::sanitize(&r.operator),
                crate::sanitize::sanitize(&r.reason)
            ),
            Refusal::NoRollback => write!(f, "no rollback stands: nothing to retry or stay with"),
            Refusal::AlreadyStaying => {
                write!(f, "staying on the old server is already decided")
            }
        }
    }
}

fn confirmed(history: &History, step: &StepId) -> bool {
    history.step(step).is_some_and(|r| r.confirmed.is_some())
}

/// The journal lines that roll back now: earlier rollback steps' records taken back (a
/// second rollback starts afresh), then the decision with who, when and why.
pub fn start(
    history: &History,
    operator: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<Entry>, Refusal> {
    if let Some(r) = active(history) {
        return Err(Refusal::AlreadyRolledBack(r));
    }
    if !confirmed(history, &StepId::AddNewMx) {
        return Err(Refusal::NotSwitched);
    }
    if confirmed(history, &StepId::DecommissionOld) {
        return Err(Refusal::Decommissioned);
    }
    let mut steps = Vec::new();
    if confirmed(history, &StepId::DkimSpfFinal) {
        steps.push(StepId::RollbackSpf);
    }
    if confirmed(history, &StepId::RestoreTtl) {
        steps.push(StepId::RollbackLowerTtl);
    }
    steps.extend([
        StepId::RollbackAddOldMx,
        StepId::RollbackRemoveNewMx,
        StepId::RollbackCopyBack,
    ]);
    let mut clients: Vec<String> = history
        .step(&StepId::RemoveOldAccounts)
        .map(|r| r.ticks.keys().cloned().collect())
        .unwrap_or_default();
    clients.sort();
    if !clients.is_empty() {
        steps.push(StepId::RollbackClients);
    }
    let mut entries = reopen_all(history, operator, now, StepId::is_rollback);
    let evidence = format!(
        "rollback decided by {operator}: {reason}; steps {}",
        StepId::join(&steps, ", ")
    );
    let decision = Decision::Start {
        operator: operator.to_string(),
        reason: reason.to_string(),
        steps,
        clients,
    };
    entries.push(Entry::Fact {
        at: now,
        key: FACT.to_string(),
        value: serde_json::to_value(&decision).unwrap_or_default(),
        evidence,
    });
    Ok(entries)
}

/// The journal lines that go forward again after a rollback: the forward steps from
/// `add-new-mx` on taken back (every confirmation, application and tick), then the decision.
pub fn retry(
    history: &History,
    operator: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<Entry>, Refusal> {
    if active(history).is_none() {
        return Err(Refusal::NoRollback);
    }
    let mut entries = reopen_all(history, operator, now, StepId::rolled_back_by_rollback);
    let decision = Decision::Retry {
        operator: operator.to_string(),
        reason: reason.to_string(),
    };
    entries.push(Entry::Fact {
        at: now,
        key: FACT.to_string(),
        value: serde_json::to_value(&decision).unwrap_or_default(),
        evidence: format!("rollback ended by {operator}, forward again: {reason}"),
    });
    Ok(entries)
}

/// The journal line that ends the migration on the old server: the rollback stands, and
/// the new server's terms out of SPF and the TTLs restored follow as steps.
pub fn stay(
    history: &History,
    operator: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<Entry>, Refusal> {
    match active(history) {
        None => return Err(Refusal::NoRollback),
        Some(r) if r.stayed => return Err(Refusal::AlreadyStaying),
        Some(_) => {}
    }
    let decision = Decision::Stay {
        operator: operator.to_string(),
        reason: reason.to_string(),
    };
    Ok(vec![Entry::Fact {
        at: now,
        key: FACT.to_string(),
        value: serde_json::to_value(&decision).unwrap_or_default(),
        evidence: format!("staying on the old server, decided by {operator}: {reason}"),
    }])
}

/// `Reopen` lines for every step `which` selects that the journal holds anything for.
fn reopen_all(
    history: &History,
    operator: &str,
    now: Timestamp,
    which: fn(&StepId) -> bool,
) -> Vec<Entry> {
    let mut ids: Vec<&StepId> = history.steps.keys().filter(|s| which(s)).collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let Some(record) = history.step(id) else {
            continue;
        };
        let mut ticks: Vec<&String> = record.ticks.keys().collect();
        ticks.sort();
        for mailbox in ticks {
            out.push(Entry::Reopen {
                at: now,
                operator: operator.to_string(),
                step: id.clone(),
                mailbox: Some(mailbox.clone()),
            });
        }
        if record.confirmed.is_some() || record.applied_at.is_some() {
            out.push(Entry::Reopen {
                at: now,
                operator: operator.to_string(),
                step: id.clone(),
                mailbox: None,
            });
        }
    }
    out
}

/// The rollback steps' checks that the journal, the plan and the clock answer.
pub fn builtin_check(
    id: &str,
    kind: Kind,
    plan: &Plan,
    history: &History,
    now: Timestamp,
) -> Option<Check> {
    match id {
        RESTORED_TTL_EXPIRED => Some(restored_ttl_expired(kind, plan, history, now)),
        CLIENTS_TICKED => Some(clients_ticked(kind, history)),
        COPY_BACK_VERIFIED => Some(crate::mail::sync::copy_back_check(
            id,
            kind,
            plan,
            history,
            active(history).map(|r| r.at),
        )),
        _ => None,
    }
}

/// `rollback-add-old-mx`'s wait: after `restore-ttl`, resolvers hold the MX set for the
/// restored TTL; the wait runs from when `rollback-lower-ttl` was confirmed (its outcome:
/// the migration TTL served everywhere).
fn restored_ttl_expired(kind: Kind, plan: &Plan, history: &History, now: Timestamp) -> Check {
    let id = RESTORED_TTL_EXPIRED;
    let lowering = active(history).is_some_and(|r| r.steps.contains(&StepId::RollbackLowerTtl));
    if !lowering {
        return Check::new(
            id,
            kind,
            Status::Pass,
            format!(
                "{} was not done: MX and TXT still have the migration TTL of {}, nothing to wait out",
                StepId::RestoreTtl,
                crate::units::ttl(plan.dns.migration_ttl)
            ),
        );
    }
    let restored = plan.dns.restore_ttl_mx.max(plan.dns.restore_ttl_txt);
    let Some(lowered) = history
        .step(&StepId::RollbackLowerTtl)
        .and_then(|r| r.confirmed.as_ref())
        .map(|c| c.at)
    else {
        return Check::new(
            id,
            kind,
            Status::Fail,
            format!(
                "the wait of {} starts when {} is confirmed",
                crate::units::ttl(restored),
                StepId::RollbackLowerTtl
            ),
        );
    };
    let until = lowered
        .checked_add(SignedDuration::from_secs(i64::from(restored)))
        .unwrap_or(lowered);
    let at = |t: Timestamp| super::eval::local(plan, t);
    if now >= until {
        Check::new(
            id,
            kind,
            Status::Pass,
            format!(
                "the TTL was lowered again at {}; the restored TTL of {} has passed since",
                at(lowered),
                crate::units::ttl(restored)
            ),
        )
    } else {
        Check::new(
            id,
            kind,
            Status::Fail,
            format!(
                "resolvers may hold the MX set for the restored TTL of {} after {}: wait until {}",
                crate::units::ttl(restored),
                at(lowered),
                at(until)
            ),
        )
        .until(until)
    }
}

/// `rollback-clients`: every mailbox whose user removed the old account is ticked again.
fn clients_ticked(kind: Kind, history: &History) -> Check {
    let id = CLIENTS_TICKED;
    let clients = active(history).map(|r| r.clients).unwrap_or_default();
    let record = history.step(&StepId::RollbackClients);
    let missing: Vec<&String> = clients
        .iter()
        .filter(|m| !record.is_some_and(|r| r.ticks.contains_key(m.as_str())))
        .collect();
    if missing.is_empty() {
        return Check::new(
            id,
            kind,
            Status::Pass,
            format!(
                "{} ticked",
                crate::units::all(clients.len() as u64, "mailbox", "mailboxes")
            ),
        );
    }
    let shown: Vec<String> = missing
        .iter()
        .take(3)
        .map(|m| crate::sanitize::sanitize(m))
        .collect();
    Check::new(
        id,
        kind,
        Status::Fail,
        format!(
            "{} of {} not ticked yet: {}",
            missing.len(),
            crate::units::count(clients.len() as u64, "mailbox", "mailboxes"),
            shown.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollback_asset_has_every_rollback_step_in_order_with_its_checks() {
        let defs = definitions();
        let ids: Vec<&StepId> = defs.iter().map(|d| &d.id).collect();
        assert_eq!(ids, StepId::ROLLBACK.iter().collect::<Vec<_>>());
        for def in &defs {
            for (id, kind) in crate::dns::checks::check_ids(&def.id) {
                let listed = match kind {
                    Kind::Gate => &def.gate,
                    Kind::Outcome => &def.outcome,
                };
                assert!(listed.iter().any(|l| l == id), "{}: {id} missing", def.id);
            }
            assert!(def.after.is_empty(), "{}: chained in code", def.id);
        }
    }
}
