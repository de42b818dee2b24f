//! The rehearsal's hands: every change made at the DNS host console and on the mail servers
//! during a migration, performed in one place for the interactive console's keys (1–0, `c`,
//! and `b`, `x`, `z` for the way back) and the autopilot, so both make exactly the same change.

use crate::step::StepId;
use hickory_proto::rr::{RData, RecordType};

use super::dns_zone::ZoneError;
use super::imap::StoreError;
use super::mailflow::Pop3Fetch;
use super::smtp_server::OUTAGE_REPLY;
use super::world::World;
use crate::units;

/// The TTL set for the migration (the rehearsal plan's `migration_ttl`).
pub const MIGRATION_TTL: u32 = 300;
/// The TTLs restored at the end (the rehearsal plan's `restore_ttl`).
pub const RESTORED_MX_TTL: u32 = 86_400;
pub const RESTORED_TXT_TTL: u32 = 21_600;
/// The DKIM selector the rehearsal's new provider "gave" the operator.
pub const DKIM_SELECTOR: &str = "rehearsal";

/// One change made by hand during the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// DNS host: MX and TXT TTLs down to the migration TTL.
    LowerTtl,
    /// DNS host: SPF names the old and the new provider.
    SpfAddNew,
    /// New server: every employee's mailbox, with the usual folders.
    CreateMailboxes,
    /// Employees: every other one sets up a POP3 fetch from the old server.
    StartPop3Fetch,
    /// DNS host: the new MX record beside the old one.
    AddNewMx,
    /// DNS host: the old MX record deleted.
    DeleteOldMx,
    /// DNS host: the DKIM key published, SPF down to the new provider.
    DkimSpfFinal,
    /// DNS host: the TTLs back to everyday values.
    RestoreTtl,
    /// DNS host: the old MX record put back (the fix of the `mx-empty` alarm).
    RestoreOldMx,
    /// DNS host: SPF naming the old and the new provider again (the fix of `spf-lost`).
    RepublishSpf,
    /// New provider: the aliases it lacks created (the fix of a refused alias in
    /// `smtp.new-mx-accepts`).
    CreateAlias,
    /// New provider: its server breaks, its MX answers 4xx to every message (a rehearsed
    /// outage, to practise the way back).
    BreakNewServer,
    /// DNS host: the new MX record deleted (the way back, `rollback-remove-new-mx`).
    DeleteNewMx,
    /// DNS host: SPF naming the old provider only (staying on it, `stay-spf-old-only`).
    SpfOldOnly,
}

impl OperatorAction {
    /// The action that makes the change of runbook step `step`, if one does.
    pub fn for_step(step: &StepId) -> Option<OperatorAction> {
        Some(match step {
            StepId::LowerTtl => OperatorAction::LowerTtl,
            StepId::SpfAddNew => OperatorAction::SpfAddNew,
            StepId::NewServerReady => OperatorAction::CreateMailboxes,
            StepId::Pop3Fetch => OperatorAction::StartPop3Fetch,
            StepId::AddNewMx => OperatorAction::AddNewMx,
            StepId::RemoveOldMx => OperatorAction::DeleteOldMx,
            StepId::DkimSpfFinal => OperatorAction::DkimSpfFinal,
            StepId::RestoreTtl => OperatorAction::RestoreTtl,
            // The way back (R18) and staying on the old server.
            StepId::RollbackSpf => OperatorAction::RepublishSpf,
            StepId::RollbackLowerTtl => OperatorAction::LowerTtl,
            StepId::RollbackAddOldMx => OperatorAction::RestoreOldMx,
            StepId::RollbackRemoveNewMx => OperatorAction::DeleteNewMx,
            StepId::StaySpfOldOnly => OperatorAction::SpfOldOnly,
            StepId::StayRestoreTtl => OperatorAction::RestoreTtl,
            _ => return None,
        })
    }

    /// The console key's action, if it is one of the DNS host and mail server keys.
    pub fn for_key(key: crate::app::Rehearse) -> Option<OperatorAction> {
        use crate::app::Rehearse;
        Some(match key {
            Rehearse::LowerTtl => OperatorAction::LowerTtl,
            Rehearse::SpfAddNew => OperatorAction::SpfAddNew,
            Rehearse::CreateMailboxes => OperatorAction::CreateMailboxes,
            Rehearse::StartPop3Fetch => OperatorAction::StartPop3Fetch,
            Rehearse::AddNewMx => OperatorAction::AddNewMx,
            Rehearse::DeleteOldMx => OperatorAction::DeleteOldMx,
            Rehearse::DkimSpfFinal => OperatorAction::DkimSpfFinal,
            Rehearse::RestoreTtl => OperatorAction::RestoreTtl,
            Rehearse::RestoreOldMx => OperatorAction::RestoreOldMx,
            Rehearse::RepublishSpf => OperatorAction::RepublishSpf,
            Rehearse::CreateAlias => OperatorAction::CreateAlias,
            Rehearse::BreakNewServer => OperatorAction::BreakNewServer,
            Rehearse::DeleteNewMx => OperatorAction::DeleteNewMx,
            Rehearse::SpfOldOnly => OperatorAction::SpfOldOnly,
            Rehearse::PauseClock
            | Rehearse::Faster
            | Rehearse::Slower
            | Rehearse::SkipToGate
            | Rehearse::Summary => {
                return None;
            }
        })
    }
}

/// What an action did.
#[derive(Debug)]
pub struct Done {
    /// As the console shows it and the autopilot's timeline records it.
    pub text: String,
    /// The POP3 fetches the employees set up ([`OperatorAction::StartPop3Fetch`]), for the caller's
    /// mail traffic to run.
    pub fetches: Vec<Pop3Fetch>,
}

impl Done {
    fn said(text: impl Into<String>) -> Done {
        Done {
            text: text.into(),
            fetches: Vec::new(),
        }
    }
}

/// Why an action could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The DNS host console refused a change.
    #[error("the rehearsal's DNS host console refused to {what}: {source}")]
    DnsHost {
        what: &'static str,
        #[source]
        source: ZoneError,
    },
    /// The new mail server refused to create a mailbox.
    #[error("the rehearsal's mail store refused {what}: {source}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
}

/// Makes the change `action` stands for in `world`.
pub async fn perform(world: &World, action: OperatorAction) -> Result<Done, OperatorError> {
    let spec = &world.spec;
    let zone = &world.zone;
    let console = |what: &'static str| move |source| OperatorError::DnsHost { what, source };
    match action {
        OperatorAction::LowerTtl => {
            zone.set_ttl("@", RecordType::MX, MIGRATION_TTL)
                .await
                .map_err(console("lower the MX TTL"))?;
            zone.set_ttl("@", RecordType::TXT, MIGRATION_TTL)
                .await
                .map_err(console("lower the TXT TTL"))?;
            Ok(Done::said(format!(
                "MX and TXT TTLs set to {} at the DNS host",
                units::ttl(MIGRATION_TTL)
            )))
        }
        OperatorAction::SpfAddNew | OperatorAction::RepublishSpf => {
            let spf = format!("v=spf1 a:{} a:{} -all", spec.old_mx, spec.new_mx);
            zone.set_txt("@", &[&spf], MIGRATION_TTL)
                .await
                .map_err(console("edit SPF"))?;
            Ok(Done::said(format!("SPF is now \"{spf}\"")))
        }
        OperatorAction::CreateMailboxes => {
            let mut made = 0;
            // The canary mailbox too: it is one of the plan's mailboxes.
            for employee in world.employees.iter().chain([&world.canary]) {
                match world.create_new_account(employee) {
                    Ok(()) => made += 1,
                    // Created by an earlier press of the key: nothing to do.
                    Err(StoreError::UserExists { .. }) => {}
                    Err(source) => {
                        return Err(OperatorError::Store {
                            what: format!("creating {} on the new server", employee.login),
                            source,
                        });
                    }
                }
            }
            let mailboxes = if made == 1 { "mailbox" } else { "mailboxes" };
            Ok(Done::said(format!(
                "{made} {mailboxes} created on the new server"
            )))
        }
        OperatorAction::StartPop3Fetch => {
            let fetches: Vec<Pop3Fetch> = world
                .employees
                .iter()
                .step_by(2)
                .map(|e| {
                    Pop3Fetch::new(
                        world.old.store().clone(),
                        &e.login,
                        world.new.store().clone(),
                        &e.login,
                    )
                })
                .collect();
            let who = match fetches.len() {
                1 => "1 employee sets".to_string(),
                n => format!("{n} employees set"),
            };
            Ok(Done {
                text: format!("{who} up POP3 fetch from the old server"),
                fetches,
            })
        }
        OperatorAction::AddNewMx => {
            let old_stays = mx_hosts(world).await.contains(&spec.old_mx);
            zone.add_mx(10, &spec.new_mx)
                .await
                .map_err(console("add the new MX"))?;
            Ok(Done::said(format!(
                "MX 10 {} added at the DNS host{}",
                spec.new_mx,
                if old_stays {
                    " (the old one stays)"
                } else {
                    ""
                }
            )))
        }
        OperatorAction::DeleteOldMx => {
            // Already gone (deleted first by mistake, or the key pressed twice): nothing to do.
            if mx_hosts(world).await.contains(&spec.old_mx) {
                zone.remove_mx(&spec.old_mx)
                    .await
                    .map_err(console("delete the old MX"))?;
            }
            Ok(Done::said(format!(
                "MX {} deleted at the DNS host",
                spec.old_mx
            )))
        }
        OperatorAction::RestoreOldMx => {
            // Already served (the key pressed twice): nothing to do.
            let hosts = mx_hosts(world).await;
            if hosts.is_empty() {
                // The set was deleted: it comes back with the migration TTL, as the fix says.
                zone.set_mx(&[(10, &spec.old_mx)], MIGRATION_TTL)
                    .await
                    .map_err(console("put the old MX back"))?;
            } else if !hosts.contains(&spec.old_mx) {
                zone.add_mx(10, &spec.old_mx)
                    .await
                    .map_err(console("put the old MX back"))?;
            }
            Ok(Done::said(format!(
                "MX 10 {} put back at the DNS host",
                spec.old_mx
            )))
        }
        OperatorAction::DkimSpfFinal => {
            let name = format!("{DKIM_SELECTOR}._domainkey");
            // The key the new provider gave for its selector (the one it signs with, unless
            // the rehearsal's mistake made the two differ).
            let record = world.dkim.record();
            zone.set_txt(&name, &[&record], MIGRATION_TTL)
                .await
                .map_err(console("add DKIM"))?;
            let spf = format!("v=spf1 a:{} -all", spec.new_mx);
            zone.set_txt("@", &[&spf], MIGRATION_TTL)
                .await
                .map_err(console("edit SPF"))?;
            Ok(Done::said(format!(
                "DKIM published at {name}; SPF is now \"{spf}\""
            )))
        }
        OperatorAction::CreateAlias => {
            let created = world.create_missing_aliases();
            if created.is_empty() {
                return Ok(Done::said(
                    "the new provider already has every alias: nothing to create",
                ));
            }
            let list: Vec<String> = created
                .iter()
                .map(|(alias, mailbox)| format!("{alias} (to {mailbox})"))
                .collect();
            let (what, them) = if created.len() == 1 {
                ("alias", "it")
            } else {
                ("aliases", "them")
            };
            Ok(Done::said(format!(
                "{what} {} created at the new provider; its MX accepts {them} now",
                list.join(", ")
            )))
        }
        OperatorAction::BreakNewServer => {
            world.new_smtp.outage().begin(OUTAGE_REPLY);
            Ok(Done::said(format!(
                "the new provider breaks: its MX {} answers \"{OUTAGE_REPLY}\" to every message; senders defer and retry",
                spec.new_mx
            )))
        }
        OperatorAction::DeleteNewMx => {
            // Already gone (the key pressed twice): nothing to do.
            if mx_hosts(world).await.contains(&spec.new_mx) {
                zone.remove_mx(&spec.new_mx)
                    .await
                    .map_err(console("delete the new MX"))?;
            }
            Ok(Done::said(format!(
                "MX {} deleted at the DNS host",
                spec.new_mx
            )))
        }
        OperatorAction::SpfOldOnly => {
            let spf = format!("v=spf1 a:{} -all", spec.old_mx);
            zone.set_txt("@", &[&spf], MIGRATION_TTL)
                .await
                .map_err(console("edit SPF"))?;
            Ok(Done::said(format!("SPF is now \"{spf}\"")))
        }
        OperatorAction::RestoreTtl => {
            zone.set_ttl("@", RecordType::MX, RESTORED_MX_TTL)
                .await
                .map_err(console("restore the MX TTL"))?;
            zone.set_ttl("@", RecordType::TXT, RESTORED_TXT_TTL)
                .await
                .map_err(console("restore the TXT TTL"))?;
            Ok(Done::said(format!(
                "TTLs restored: {} for MX, {} for TXT",
                units::ttl(RESTORED_MX_TTL),
                units::ttl(RESTORED_TXT_TTL)
            )))
        }
    }
}

/// The MX hosts the zone holds now, without the final dot.
async fn mx_hosts(world: &World) -> Vec<String> {
    match world.zone.lookup("@", RecordType::MX).await {
        Some((_, rdata)) => rdata
            .iter()
            .filter_map(|r| match r {
                RData::MX(mx) => Some(mx.exchange.to_string().trim_end_matches('.').to_string()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    }
}
