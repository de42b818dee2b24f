//! A step of the migration by its id: one variant per built-in runbook step,
//! and [`StepId::Plan`] for the steps a plan adds with `[[step]]`.
//!
//! Everything that decides something per step matches on this type; the ids
//! below are the only place a step id is written as text. They are stable:
//! journals, the CLI, `status --json` and `assets/runbook.toml` use them.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One step of the procedure, serialised as its id (`"lower-ttl"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepId {
    LowerTtl,
    SpfAddNew,
    NewServerReady,
    BulkCopy,
    UsersConnected,
    ClientsConfigured,
    Pop3Fetch,
    TtlWait,
    AddNewMx,
    RemoveOldMx,
    DkimSpfFinal,
    Monitor24h,
    RestoreTtl,
    FinalCopy,
    OtherData,
    AnnounceShutdown,
    RemoveOldAccounts,
    DecommissionOld,
    // The way back (R18), appended to the runbook only after `cutover rollback`.
    RollbackSpf,
    RollbackLowerTtl,
    RollbackAddOldMx,
    RollbackRemoveNewMx,
    RollbackCopyBack,
    RollbackClients,
    // Staying on the old server after a rollback (`cutover rollback --stay`).
    StaySpfOldOnly,
    StayRestoreTtl,
    /// A step the plan adds (`[[step]]`), by the id the plan gives it.
    Plan(Arc<str>),
}

impl StepId {
    /// The built-in steps, in the runbook's order.
    pub const BUILT_IN: &'static [StepId] = &[
        StepId::LowerTtl,
        StepId::SpfAddNew,
        StepId::NewServerReady,
        StepId::BulkCopy,
        StepId::UsersConnected,
        StepId::ClientsConfigured,
        StepId::Pop3Fetch,
        StepId::TtlWait,
        StepId::AddNewMx,
        StepId::RemoveOldMx,
        StepId::DkimSpfFinal,
        StepId::Monitor24h,
        StepId::RestoreTtl,
        StepId::FinalCopy,
        StepId::OtherData,
        StepId::AnnounceShutdown,
        StepId::RemoveOldAccounts,
        StepId::DecommissionOld,
    ];

    /// The rollback steps (R18), in the order they are carried out, then the two that end
    /// the migration on the old server (`rollback --stay`); only those a rollback needs are
    /// appended to the runbook (see `runbook::rollback`).
    pub const ROLLBACK: &'static [StepId] = &[
        StepId::RollbackSpf,
        StepId::RollbackLowerTtl,
        StepId::RollbackAddOldMx,
        StepId::RollbackRemoveNewMx,
        StepId::RollbackCopyBack,
        StepId::RollbackClients,
        StepId::StaySpfOldOnly,
        StepId::StayRestoreTtl,
    ];

    /// The id as the journal, the CLI and the runbook write it.
    pub fn as_str(&self) -> &str {
        match self {
            StepId::LowerTtl => "lower-ttl",
            StepId::SpfAddNew => "spf-add-new",
            StepId::NewServerReady => "new-server-ready",
            StepId::BulkCopy => "bulk-copy",
            StepId::UsersConnected => "users-connected",
            StepId::ClientsConfigured => "clients-configured",
            StepId::Pop3Fetch => "pop3-fetch",
            StepId::TtlWait => "ttl-wait",
            StepId::AddNewMx => "add-new-mx",
            StepId::RemoveOldMx => "remove-old-mx",
            StepId::DkimSpfFinal => "dkim-spf-final",
            StepId::Monitor24h => "monitor-24h",
            StepId::RestoreTtl => "restore-ttl",
            StepId::FinalCopy => "final-copy",
            StepId::OtherData => "other-data",
            StepId::AnnounceShutdown => "announce-shutdown",
            StepId::RemoveOldAccounts => "remove-old-accounts",
            StepId::DecommissionOld => "decommission-old",
            StepId::RollbackSpf => "rollback-spf",
            StepId::RollbackLowerTtl => "rollback-lower-ttl",
            StepId::RollbackAddOldMx => "rollback-add-old-mx",
            StepId::RollbackRemoveNewMx => "rollback-remove-new-mx",
            StepId::RollbackCopyBack => "rollback-copy-back",
            StepId::RollbackClients => "rollback-clients",
            StepId::StaySpfOldOnly => "stay-spf-old-only",
            StepId::StayRestoreTtl => "stay-restore-ttl",
            StepId::Plan(id) => id,
        }
    }

    /// The built-in step with this id (a forward or a rollback step), if there is one.
    pub fn built_in(id: &str) -> Option<StepId> {
        StepId::BUILT_IN
            .iter()
            .chain(StepId::ROLLBACK)
            .find(|s| s.as_str() == id)
            .cloned()
    }

    /// Whether this is one of the rollback steps (R18).
    pub fn is_rollback(&self) -> bool {
        StepId::ROLLBACK.contains(self)
    }

    /// The forward steps a rollback undoes: `add-new-mx` and every built-in step after it.
    pub fn rolled_back_by_rollback(&self) -> bool {
        let position = |s: &StepId| StepId::BUILT_IN.iter().position(|b| b == s);
        match (position(self), position(&StepId::AddNewMx)) {
            (Some(me), Some(switch)) => me >= switch,
            _ => false,
        }
    }

    /// The step an id names: a built-in one, else one of the plan's. Whether a
    /// plan step of that id exists is for the reader to check against its plan.
    pub fn parse(id: &str) -> StepId {
        StepId::built_in(id).unwrap_or_else(|| StepId::Plan(Arc::from(id)))
    }

    /// Whether confirming this step means the DNS was changed (or restored): the steps at
    /// whose confirmation the recorder journals what every authoritative server served.
    pub fn changes_dns(&self) -> bool {
        matches!(
            self,
            StepId::LowerTtl
                | StepId::SpfAddNew
                | StepId::AddNewMx
                | StepId::RemoveOldMx
                | StepId::DkimSpfFinal
                | StepId::RestoreTtl
        )
    }

    /// Whether this is one of the plan's own `[[step]]`s.
    pub fn is_plan_step(&self) -> bool {
        matches!(self, StepId::Plan(_))
    }

    /// Ids joined with `separator`, as lists of steps are written ("a, b").
    pub fn join(ids: &[StepId], separator: &str) -> String {
        let ids: Vec<&str> = ids.iter().map(StepId::as_str).collect();
        ids.join(separator)
    }

    /// The check id that gates a step on this one being done: `done:<id>`.
    pub fn done_check(&self) -> String {
        format!("done:{}", self.as_str())
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so widths and alignment (`{:<20}`) apply as they do to a `&str`.
        f.pad(self.as_str())
    }
}

impl From<&str> for StepId {
    fn from(id: &str) -> StepId {
        StepId::parse(id)
    }
}

impl From<String> for StepId {
    fn from(id: String) -> StepId {
        StepId::parse(&id)
    }
}

impl PartialEq<str> for StepId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StepId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for StepId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// In a JSON Schema a step id is a string: a built-in id (`lower-ttl`, …) or a plan's own.
impl schemars::JsonSchema for StepId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let built_in: Vec<&str> = StepId::BUILT_IN
            .iter()
            .chain(StepId::ROLLBACK)
            .map(StepId::as_str)
            .collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A step's id: one of the runbook's (listed in examples, in runbook order) or one of the plan's own [[step]] ids.",
            "examples": built_in,
        })
    }
}

impl<'de> Deserialize<'de> for StepId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StepId, D::Error> {
        let id = String::deserialize(deserializer)?;
        Ok(StepId::parse(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_id_parses_back_to_its_variant() {
        for step in StepId::BUILT_IN.iter().chain(StepId::ROLLBACK) {
            assert_eq!(StepId::parse(step.as_str()), *step);
            assert!(!step.is_plan_step());
        }
        let ids: std::collections::HashSet<&str> = StepId::BUILT_IN
            .iter()
            .chain(StepId::ROLLBACK)
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            ids.len(),
            StepId::BUILT_IN.len() + StepId::ROLLBACK.len(),
            "ids are distinct"
        );
        assert!(StepId::RollbackCopyBack.is_rollback());
        assert!(StepId::AddNewMx.rolled_back_by_rollback());
        assert!(StepId::DecommissionOld.rolled_back_by_rollback());
        assert!(!StepId::TtlWait.rolled_back_by_rollback());
        assert!(!StepId::RollbackSpf.rolled_back_by_rollback());
    }

    #[test]
    fn an_unknown_id_is_a_plan_step_and_serialises_as_written() {
        let step = StepId::parse("check-printers");
        assert_eq!(step, StepId::Plan(Arc::from("check-printers")));
        assert_eq!(
            serde_json::to_string(&step).expect("json"),
            "\"check-printers\""
        );
        let back: StepId = serde_json::from_str("\"ttl-wait\"").expect("json");
        assert_eq!(back, StepId::TtlWait);
        assert_eq!(StepId::Monitor24h.to_string(), "monitor-24h");
        assert_eq!(StepId::AddNewMx.done_check(), "done:add-new-mx");
    }
}
