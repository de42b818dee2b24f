//! The mistake `new-server-breaks` and the way back (R18): two hours after the switch the
//! new provider breaks, its MX answering 4xx to every message, so senders defer. The
//! autopilot notices it as an operator would, from the SMTP probe of the new MX the cockpit
//! makes hourly (`smtp.new-mx-accepts` no longer a pass), decides the rollback, then follows
//! the way back as the Next step pane says: SPF, the old MX back, the new MX removed, the
//! mail that reached the new server copied back (POP3 fetches turned off and ticked first),
//! and ends on the old server (`rollback --stay`: SPF without the new server, TTLs restored).
//! At the end the sandbox's mailstores are counted: where the deferred mail went, and
//! whether anything on the new server is missing on the old one.

use jiff::{SignedDuration, Timestamp};

use super::super::imap::Mailstore;
use super::super::operator::{self, OperatorAction};
use super::super::world::Employee;
use super::mistakes::Hook;
use super::{Autopilot, AutopilotError, Caught, MissingMessage, Origin};
use crate::check::Status;
use crate::journal::Entry;
use crate::mail::identity::Identity;
use crate::runbook::rollback;
use crate::runbook::{Evaluation, StepState, StepStatus};
use crate::step::StepId;

/// How long after the switch the new server breaks.
const BREAKS_AFTER: SignedDuration = SignedDuration::from_hours(2);

/// The way back as it went, for the report: what happened when, and what the mailstores
/// held at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WayBackReport {
    /// When the new provider broke, and the reply its MX gave every message.
    pub broke_at: Option<Timestamp>,
    pub reply: String,
    /// When the autopilot saw it in a check, and that check's evidence.
    pub noticed_at: Option<Timestamp>,
    pub noticed_by: String,
    pub rolled_back_at: Option<Timestamp>,
    /// When `rollback-add-old-mx` and `rollback-remove-new-mx` were confirmed.
    pub old_mx_back_at: Option<Timestamp>,
    pub new_mx_removed_at: Option<Timestamp>,
    /// The copy back: messages appended to the old server, and whether every mailbox verified.
    pub copied_back: Option<u64>,
    pub copy_back_verified: bool,
    /// When the autopilot decided to stay on the old server.
    pub stayed_at: Option<Timestamp>,
    /// Distinct messages senders deferred because the new MX answered 4xx.
    pub deferred: u64,
    /// Of those, counted at the end: in the old server's INBOXes (its mailstore), and still
    /// queued at the senders.
    pub deferred_on_old: u64,
    pub deferred_queued: u64,
    /// At the end: messages on the new server that the old one (where the migration ends)
    /// lacks. Empty when nothing is lost by staying there.
    pub not_on_old: Vec<MissingMessage>,
}

/// The autopilot's own memory of the way back.
#[derive(Debug, Default)]
pub(super) struct WayBack {
    pub(super) report: WayBackReport,
    /// The messages deferred by the outage: (login, identity), each once.
    pub(super) deferred: Vec<(String, Identity)>,
    bulk_copied: bool,
    copied_back: bool,
}

impl Autopilot {
    /// The mistake's moments: the breakdown, noticing it, the rollback, staying.
    pub(super) async fn new_server_breaks(
        &mut self,
        eval: &Evaluation,
    ) -> Result<Hook, AutopilotError> {
        let now = self.now();
        // A careful operator starts the bulk copy on day 1 (its step says so): the copy
        // back must then leave alone what the forward copy put on the new server.
        if !self.way_back.bulk_copied
            && eval
                .step(&StepId::BulkCopy)
                .is_some_and(|s| s.state == StepState::Ready)
        {
            self.way_back.bulk_copied = true;
            self.copy("bulk copy").await?;
            return Ok(Hook::Acted);
        }
        let history = self.session.history();
        let Some(switch) = history.switch_at() else {
            return Ok(Hook::Nothing);
        };
        if self.way_back.report.broke_at.is_none() {
            if now.duration_since(switch) < BREAKS_AFTER {
                return Ok(Hook::Nothing);
            }
            let done = operator::perform(&self.world, OperatorAction::BreakNewServer).await?;
            self.way_back.report.broke_at = Some(now);
            self.way_back.report.reply = self.world.new_smtp.outage().reply().unwrap_or_default();
            self.event(format!("MISTAKE (the provider's): {}", done.text));
            return Ok(Hook::Acted);
        }
        if self.way_back.report.rolled_back_at.is_none() {
            return self.notice_and_roll_back(now);
        }
        if self.way_back.report.stayed_at.is_none()
            && eval
                .step(&StepId::RollbackCopyBack)
                .is_some_and(|s| s.state.is_finished())
        {
            let reason = "rehearsal: the new provider cannot say when its server works again; the migration ends on the old server";
            let entries = rollback::stay(history, &self.session.plan.operator, reason, now)
                .map_err(|r| AutopilotError::Journal(r.to_string()))?;
            for entry in entries {
                self.journal(entry)?;
            }
            self.way_back.report.stayed_at = Some(now);
            self.event(format!(
                "the operator decides to stay on the old server (`cutover rollback --stay`): {reason}"
            ));
            return Ok(Hook::Acted);
        }
        Ok(Hook::Nothing)
    }

    /// The new MX's check, judged from the journal's newest SMTP probe (the cockpit probes
    /// hourly): once a probe made after the breakdown no longer passes, the operator rolls
    /// back, naming the check and its verdict as the reason.
    fn notice_and_roll_back(&mut self, now: Timestamp) -> Result<Hook, AutopilotError> {
        let broke_at = self.way_back.report.broke_at.unwrap_or(now);
        let history = self.session.history();
        let probed_since =
            crate::smtp::steps::journaled(history).is_some_and(|(at, _)| at >= broke_at);
        let check = crate::smtp::steps::new_mx_check(&self.session.plan, history, now);
        if !probed_since || check.status == Status::Pass {
            return Ok(Hook::Nothing);
        }
        self.report.alarms.push(Caught {
            at: now,
            step: None,
            check: check.id.clone(),
            status: check.status,
            evidence: check.evidence.clone(),
            until: None,
        });
        self.way_back.report.noticed_at = Some(now);
        // The evidence names every address with the same reply: the clause about the
        // plan's addresses says it (the made-up address's clause is about the probe).
        let evidence = crate::sanitize::sanitize(&check.evidence);
        let first = evidence
            .split("; ")
            .find(|c| !c.contains("made-up"))
            .unwrap_or(&evidence);
        self.way_back.report.noticed_by =
            format!("{} {}: {first}", check.id, check.status.as_str());
        self.event(format!(
            "the cockpit shows it: the SMTP probe of the new MX: {}",
            self.way_back.report.noticed_by
        ));
        let reason = format!(
            "the SMTP probe of the new MX no longer passes: {} {}",
            check.id,
            check.status.as_str()
        );
        let entries = rollback::start(
            self.session.history(),
            &self.session.plan.operator,
            &reason,
            now,
        )
        .map_err(|r| AutopilotError::Journal(r.to_string()))?;
        let steps = match entries.last() {
            Some(Entry::Fact { value, .. }) => value
                .get("steps")
                .and_then(|s| s.as_array())
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        for entry in entries {
            self.journal(entry)?;
        }
        self.way_back.report.rolled_back_at = Some(now);
        self.event(format!(
            "ROLLBACK decided (`cutover rollback --reason \"{reason}\"`): the way back is {steps}"
        ));
        Ok(Hook::Acted)
    }

    /// `rollback-copy-back` as its step says: employees turn their POP3 fetch of the old
    /// server off and the operator ticks those mailboxes, then `cutover sync --reverse`.
    /// Returns whether it acted.
    pub(super) async fn copy_back(&mut self, step: &StepStatus) -> Result<bool, AutopilotError> {
        if self.way_back.copied_back
            || step.state.is_finished()
            || step
                .checks
                .iter()
                .any(|c| c.id.starts_with("done:") && !c.status.holds())
        {
            return Ok(false);
        }
        self.way_back.copied_back = true;
        if !self.fetches.is_empty() {
            self.fetches.clear();
            self.event("employees turn off their POP3 fetch of the old server");
        }
        let fetched: std::collections::BTreeSet<String> = self
            .session
            .history()
            .facts
            .get(crate::recorder::keys::POP3_FETCH_SEEN)
            .into_iter()
            .flatten()
            .filter_map(|f| f.value.get("mailbox")?.as_str().map(str::to_lowercase))
            .collect();
        // Their fetch is off now: each is ticked, as the step asks.
        for address in fetched {
            self.confirm(&StepId::RollbackCopyBack, Some(address), None)?;
        }
        let run = {
            let _guard = self.world.clock.io_guard();
            super::super::copy_back::run(
                &self.session.plan,
                &self.creds,
                &self.world.clock,
                self.session.recorder.journal(),
                self.session.history(),
            )
            .await
        };
        self.session.recorder.catch_up();
        let run = match run {
            Ok(run) => run,
            Err(why) => {
                self.event(format!("{}: {why}", StepId::RollbackCopyBack));
                return Ok(true);
            }
        };
        let verified = run.verified && run.waiting.is_empty();
        self.way_back.report.copied_back = Some(run.copied);
        self.way_back.report.copy_back_verified = verified;
        self.event(format!(
            "{}: `cutover sync --reverse`: {} messages that reached the new server since the switch copied to the old one, {}",
            StepId::RollbackCopyBack,
            run.copied,
            if verified {
                "every mailbox verified"
            } else {
                "NOT verified complete"
            }
        ));
        Ok(true)
    }

    /// When a step of the way back was confirmed, for the report.
    pub(super) fn note_way_back(&mut self, step: &StepId) {
        let now = Some(self.now());
        match step {
            StepId::RollbackAddOldMx => self.way_back.report.old_mx_back_at = now,
            StepId::RollbackRemoveNewMx => self.way_back.report.new_mx_removed_at = now,
            _ => {}
        }
    }

    /// Every step finished. While a rollback stands the forward steps it undid do not
    /// count, and the rehearsal ends only once it stays on the old server.
    pub(super) fn all_finished(&self, eval: &Evaluation) -> bool {
        let standing = rollback::active(self.session.history());
        let rolled_back = |s: &StepStatus| standing.is_some() && s.state == StepState::RolledBack;
        eval.steps
            .iter()
            .all(|s| s.state.is_finished() || rolled_back(s))
            && standing.is_none_or(|r| r.stayed)
    }

    /// At the end, from the mailstores: where the deferred messages are, and what the new
    /// server holds that the old one (where the migration ends) lacks.
    pub(super) fn count_way_back(&mut self) {
        if self.way_back.report.broke_at.is_none() {
            return;
        }
        let count_in = |store: &super::super::imap::Mailstore| {
            self.way_back
                .deferred
                .iter()
                .filter(|(login, id)| {
                    store
                        .messages(login, "INBOX")
                        .unwrap_or_default()
                        .iter()
                        .any(|m| Identity::from_header(&m.raw) == *id)
                })
                .count() as u64
        };
        let on_old = count_in(self.world.old.store());
        let queued = self.queue.iter().filter(|q| q.outage).count() as u64;
        let report = &mut self.way_back.report;
        report.deferred = self.way_back.deferred.len() as u64;
        report.deferred_on_old = on_old;
        report.deferred_queued = queued;
        if report.rolled_back_at.is_some() {
            report.not_on_old = not_on(
                self.world.new.store(),
                self.world.old.store(),
                &self.world.employees,
            );
        }
    }
}

impl WayBackReport {
    /// What the breakdown cost and how the way back went, as "What the mistake cost" says it.
    pub(super) fn render(&self) -> String {
        use super::report::when;
        let at = |t: Option<Timestamp>| t.map_or_else(|| "never".to_string(), when);
        let mut s = String::new();
        if let Some(broke) = self.broke_at {
            s.push_str(&format!(
                "  {}: the new server broke: its MX answered \"{}\" to every message.\n",
                when(broke),
                self.reply
            ));
        }
        match (self.broke_at, self.noticed_at) {
            (Some(broke), Some(noticed)) => s.push_str(&format!(
                "  {}: noticed {} later by the hourly SMTP probe of the new MX: {}.\n",
                when(noticed),
                crate::units::duration(noticed.duration_since(broke)),
                self.noticed_by
            )),
            _ => s.push_str("  The breakdown was never noticed by a check.\n"),
        }
        if let Some(rolled_back) = self.rolled_back_at {
            s.push_str(&format!(
                "  {}: rolled back; the old MX was served again from {}, the new MX removed at {}.\n",
                when(rolled_back),
                at(self.old_mx_back_at),
                at(self.new_mx_removed_at)
            ));
        }
        s.push_str(&format!(
            "  Senders deferred {} while the new MX answered 4xx; counted at the end: {} in the old server's INBOXes (delivered once its MX was back), {} still queued.\n",
            crate::units::count(self.deferred, "message", "messages"),
            self.deferred_on_old,
            self.deferred_queued
        ));
        match self.copied_back {
            Some(n) => s.push_str(&format!(
                "  The copy back put {} that had reached the new server since the switch on the old one, {}.\n",
                crate::units::count(n, "message", "messages"),
                if self.copy_back_verified {
                    "verified"
                } else {
                    "NOT verified complete"
                }
            )),
            None if self.rolled_back_at.is_some() => {
                s.push_str("  The copy back never ran.\n");
            }
            None => {}
        }
        if let Some(stayed) = self.stayed_at {
            s.push_str(&format!(
                "  {}: the migration ends on the old server (`rollback --stay`); at the end the new server holds {} the old one lacks.\n",
                when(stayed),
                crate::units::count(self.not_on_old.len() as u64, "message", "messages")
            ));
        }
        s
    }
}

/// The messages of `from` (per mailbox and folder) whose identity `to` does not hold at all
/// in that folder. Unlike [`super::missing`] this counts no duplicate: a message a POP3
/// fetch brought into the new INBOX twice is on the old server once, and nothing is lost.
fn not_on(from: &Mailstore, to: &Mailstore, employees: &[Employee]) -> Vec<MissingMessage> {
    let mut out = Vec::new();
    for employee in employees {
        for folder in from.folders(&employee.login).unwrap_or_default() {
            let there: std::collections::HashSet<Identity> = to
                .messages(&employee.login, &folder.name)
                .unwrap_or_default()
                .iter()
                .map(|m| Identity::from_header(&m.raw))
                .collect();
            for m in from
                .messages(&employee.login, &folder.name)
                .unwrap_or_default()
            {
                if !there.contains(&Identity::from_header(&m.raw)) {
                    out.push(MissingMessage {
                        mailbox: employee.address.clone(),
                        folder: folder.name.clone(),
                        subject: crate::mail::identity::HeaderFields::parse(&m.raw)
                            .subject
                            .unwrap_or_else(|| "(no subject)".to_string()),
                        origin: Origin::of(&m.raw),
                    });
                }
            }
        }
    }
    out
}

/// The way back of a rehearsal a person drove, from its journal and the mailstores: when it
/// was rolled back and stayed, what the copy back did, and what the new server holds that
/// the old one lacks (the breakdown and the deferred mail are the autopilot's to count).
pub(super) fn after_rollback(
    history: &crate::journal::History,
    world: &super::super::world::World,
    rollback: &rollback::Rollback,
) -> WayBackReport {
    let confirmed = |id: &StepId| {
        history
            .step(id)
            .and_then(|r| r.confirmed.as_ref())
            .map(|c| c.at)
    };
    let mut copied = None;
    let mut last: std::collections::HashMap<String, String> = Default::default();
    for fact in history
        .facts
        .get(crate::mail::sync::COPY_BACK_RESULT_FACT)
        .into_iter()
        .flatten()
        .filter(|f| f.at >= rollback.at)
    {
        if let Ok(r) =
            serde_json::from_value::<crate::mail::sync::CopyBackResult>(fact.value.clone())
        {
            copied = Some(copied.unwrap_or(0) + r.copied);
            last.insert(r.mailbox.to_lowercase(), r.state);
        }
    }
    // Each mailbox as its last copy back ended.
    let verified = world.employees.iter().all(|e| {
        last.get(&e.address.to_lowercase())
            .is_some_and(|s| s == "verified")
    });
    let stayed_at = history
        .facts
        .get(rollback::FACT)
        .into_iter()
        .flatten()
        .filter(|f| {
            f.at >= rollback.at && f.value.get("action").and_then(|a| a.as_str()) == Some("stay")
        })
        .map(|f| f.at)
        .next();
    WayBackReport {
        rolled_back_at: Some(rollback.at),
        old_mx_back_at: confirmed(&StepId::RollbackAddOldMx),
        new_mx_removed_at: confirmed(&StepId::RollbackRemoveNewMx),
        copied_back: copied,
        copy_back_verified: verified,
        stayed_at,
        not_on_old: not_on(world.new.store(), world.old.store(), &world.employees),
        ..WayBackReport::default()
    }
}
