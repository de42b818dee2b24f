//! The rehearsal's autopilot: runs the whole migration on the sandbox in simulated time, as a
//! careful operator would (or making one classic mistake on purpose), and reports what it cost.
//!
//! Each tick (one simulated minute) senders on the internet deliver mail through the public
//! resolvers, employees' POP3 fetches run, and every few ticks cutover's own DNS round and
//! mailbox probes run against the sandbox, exactly as the cockpit's workers would. The runbook
//! is then evaluated with the same engine as `status`, and the autopilot does what the next step
//! says: it applies the change at the DNS host console, marks the step applied, waits for the
//! outcome and confirms through the same confirmation rule, journaling every line.
//!
//! Simulated time only moves when the autopilot skips it forward between ticks (the clock runs
//! at speed 0), and every DNS round, probe and copy holds an I/O guard besides: no wait, TTL or
//! timeout can lie because real I/O took time.

mod aliases;
mod canaries;
mod missing;
mod mistakes;
mod report;
mod summary;
mod traffic;
mod way_back;

use crate::step::StepId;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::mailflow::{Pop3Fetch, Sender};
use super::operator::{self, OperatorAction, OperatorError};
use super::world::World;
use crate::actions::confirmation_entry;
use crate::check::{Kind, Status};
use crate::clock::Clock;
use crate::journal::Entry;
use crate::mail::archive::Archive;
use crate::mail::{CredentialSource, SyncOptions};
use crate::plan::Plan;
use crate::runbook::{Evaluation, StepDef, StepState};
use crate::session::{CommandFailure, Observations, Session};

pub(crate) use missing::missing;
use mistakes::Hook;
pub use mistakes::Mistake;
pub use report::{Caught, CopyRun, Event, Held, MissingMessage, Origin, Report, Server};
pub use summary::interactive_report;
pub(crate) use traffic::message;
use traffic::{Queued, senders};
pub use way_back::WayBackReport;

/// How the autopilot runs.
#[derive(Debug, Clone)]
pub struct AutopilotOptions {
    pub mistake: Option<Mistake>,
    /// Simulated time per tick.
    pub tick: SignedDuration,
    /// A DNS round every this many ticks (the plan's poll).
    pub dns_every: u32,
    /// Mailbox probes every this many ticks.
    pub probe_every: u32,
    /// POP3 fetch rounds every this many ticks.
    pub fetch_every: u32,
    /// New mail to the domain per simulated hour, all senders together.
    pub mail_per_hour: f64,
    /// Simulated seconds per real second; `None`: as fast as the machine goes.
    pub pace: Option<f64>,
    /// Simulated time after which an unfinished run gives up.
    pub give_up_after: SignedDuration,
}

impl AutopilotOptions {
    /// Sensible defaults for a company of `mailboxes` mailboxes.
    pub fn for_mailboxes(mailboxes: usize) -> AutopilotOptions {
        AutopilotOptions {
            mistake: None,
            tick: SignedDuration::from_mins(1),
            dns_every: 5,
            probe_every: 60,
            fetch_every: 15,
            // About four messages per mailbox per hour, at least one a minute domain-wide, so
            // the short windows of a mistake still see mail.
            mail_per_hour: (mailboxes as f64 * 4.0).max(60.0),
            pace: None,
            give_up_after: SignedDuration::from_hours(24 * 5),
        }
    }
}

/// Why the autopilot could not run the rehearsal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AutopilotError {
    #[error("rehearsal journal: {0}")]
    Journal(String),
    #[error("rehearsal credentials: {0}")]
    Credentials(String),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("the rehearsal's mail store refused {what}: {detail}")]
    Store { what: String, detail: String },
}

impl From<CommandFailure> for AutopilotError {
    fn from(f: CommandFailure) -> AutopilotError {
        AutopilotError::Journal(f.to_string())
    }
}

/// The rehearsal's state while it runs.
struct Autopilot {
    opts: AutopilotOptions,
    world: World,
    session: Session,
    creds: CredentialSource,
    senders: Vec<Sender>,
    observed: Observations,
    report: Report,
    queue: Vec<Queued>,
    fetches: Vec<Pop3Fetch>,
    sent: u64,
    mail_due: f64,
    /// Employees still sending through their old account (their sent copies land there).
    old_account_until: Option<Timestamp>,
    mistake_done: bool,
    alarm_seen_at: Option<Timestamp>,
    /// The alarm's fix was made (`--mistake delete-old-mx-first`).
    fix_applied: bool,
    /// The alias the new MX refused was created (once).
    alias_created: bool,
    /// When each unfinished step was first seen stuck (not waiting on a time).
    stuck_since: HashMap<StepId, Timestamp>,
    /// Steps seen finished at least once (an automatic step's state follows its live checks,
    /// so a later change, e.g. the restored TTL, does not undo that it was done).
    finished_steps: std::collections::BTreeSet<StepId>,
    /// Old-side identities counted at the early copy, per (mailbox, folder).
    at_early_copy: Option<u64>,
    verification_copy_done: bool,
    /// `cutover archive` and `cutover archive --verify` ran before the shutdown.
    archive_verified: bool,
    decommissioned: bool,
    /// The new server broken and the way back (`--mistake new-server-breaks`).
    way_back: way_back::WayBack,
}

/// Runs the rehearsal to the end (or until it gives up) and returns the report.
pub async fn run(
    world: World,
    plan: Plan,
    opts: AutopilotOptions,
) -> Result<Report, AutopilotError> {
    let creds = CredentialSource::new(plan.credentials.as_ref())
        .map_err(|e| AutopilotError::Credentials(e.to_string()))?;
    let session = Session::open(&plan)?;
    let senders = senders(&world, true);
    let mut pilot = Autopilot {
        report: Report {
            mistake: opts.mistake,
            start: Some(world.clock.now()),
            ..Report::default()
        },
        opts,
        session,
        creds,
        senders,
        observed: Observations::default(),
        queue: Vec::new(),
        fetches: Vec::new(),
        sent: 0,
        mail_due: 0.0,
        old_account_until: None,
        mistake_done: false,
        alarm_seen_at: None,
        fix_applied: false,
        alias_created: false,
        stuck_since: HashMap::new(),
        finished_steps: std::collections::BTreeSet::new(),
        at_early_copy: None,
        verification_copy_done: false,
        archive_verified: false,
        decommissioned: false,
        way_back: way_back::WayBack::default(),
        world,
    };
    pilot.drive().await?;
    pilot.finish();
    let entries = pilot
        .session
        .recorder
        .journal()
        .replay()
        .map_err(|e| AutopilotError::Journal(e.to_string()))?
        .entries;
    pilot.report.migration = Some(report::migration_markdown(&pilot.session.plan, &entries));
    Ok(pilot.report)
}

impl Autopilot {
    fn now(&self) -> Timestamp {
        self.world.clock.now()
    }

    fn event(&mut self, text: impl Into<String>) {
        let at = self.now();
        self.report.events.push(Event {
            at,
            text: text.into(),
        });
    }

    fn journal(&mut self, entry: Entry) -> Result<(), AutopilotError> {
        self.session
            .recorder
            .append(&entry)
            .map_err(|e| AutopilotError::Journal(e.to_string()))
    }

    async fn drive(&mut self) -> Result<(), AutopilotError> {
        let start = self.now();
        let give_up = start
            .checked_add(self.opts.give_up_after)
            .unwrap_or(Timestamp::MAX);
        let mut tick: u64 = 0;
        self.event(
            "rehearsal starts: the old server holds every mailbox; MX and SPF TTLs are 24 h",
        );
        loop {
            if tick > 0 {
                let next = self
                    .now()
                    .checked_add(self.opts.tick)
                    .unwrap_or(Timestamp::MAX);
                if let Some(speed) = self.opts.pace.filter(|s| *s > 0.0) {
                    let real = self.opts.tick.as_secs_f64() / speed;
                    tokio::time::sleep(std::time::Duration::from_secs_f64(real)).await;
                }
                self.world.clock.skip_to(next);
            }
            self.send_mail().await;
            if tick.is_multiple_of(u64::from(self.opts.fetch_every.max(1))) {
                self.run_fetches()?;
            }
            if tick.is_multiple_of(u64::from(self.opts.dns_every.max(1))) {
                self.dns_round().await?;
            }
            if tick.is_multiple_of(u64::from(self.opts.probe_every.max(1))) && !self.decommissioned
            {
                self.probe().await;
            }
            if crate::smtp::steps::due(self.session.history(), self.now()) {
                self.probe_smtp().await;
            }
            let finished = self.act().await?;
            tick += 1;
            if finished || self.decommissioned {
                break;
            }
            if self.now() >= give_up {
                self.event("the autopilot gives up: the procedure did not finish in time");
                break;
            }
        }
        Ok(())
    }

    async fn dns_round(&mut self) -> Result<(), AutopilotError> {
        let snapshot = {
            let _guard = self.world.clock.io_guard();
            crate::dns::one_round(&self.session.plan, &self.world.clock).await
        };
        let before = self.session.history().dns.alarms.len();
        self.session
            .recorder
            .dns_round(&snapshot)
            .map_err(|e| AutopilotError::Journal(e.to_string()))?;
        let alarms: Vec<_> = self.session.history().dns.alarms[before..].to_vec();
        for alarm in alarms {
            self.event(format!(
                "ALARM: {} serves {} MX set",
                alarm.server,
                alarm.state.as_str()
            ));
        }
        self.observed.dns = Some(snapshot);
        Ok(())
    }

    async fn probe(&mut self) {
        let probes = {
            let _guard = self.world.clock.io_guard();
            crate::mail::probe_all_once(&self.session.plan, &self.creds, &self.world.clock).await
        };
        // The old INBOXes' UIDNEXT over time is a journal fact, as in the cockpit.
        let now = self.now();
        if let Err(e) = self.session.recorder.mailbox_probes(&probes, now, None) {
            self.event(format!("cannot journal a mailbox fact: {e}"));
        }
        self.observed.mail = Some(probes);
    }

    /// Asks the new MX about every address, as the cockpit does hourly once the new
    /// server is ready; the answers are journaled.
    async fn probe_smtp(&mut self) {
        let probe = {
            let _guard = self.world.clock.io_guard();
            crate::smtp::steps::probe_plan(&self.session.plan, &self.world.clock).await
        };
        let probe = match probe {
            Ok(probe) => probe,
            Err(e) => {
                self.event(format!("the new MX could not be asked: {e}"));
                return;
            }
        };
        let now = self.now();
        if let Err(e) = self.session.recorder.smtp_probe(&probe, now) {
            self.event(format!("cannot journal the SMTP probe: {e}"));
        }
    }

    fn evaluate(&self) -> Evaluation {
        self.session.evaluate(self.now(), &self.observed)
    }

    /// Looks at the runbook and does what is due. Returns true when every step is finished.
    async fn act(&mut self) -> Result<bool, AutopilotError> {
        // Several steps may become possible in one tick; act until nothing changes.
        for _ in 0..8 {
            let eval = self.evaluate();
            self.watch_checks(&eval);
            self.note_finished(&eval);
            if self.all_finished(&eval) {
                self.report.finished = true;
                self.event("every step of the runbook is finished");
                return Ok(true);
            }
            if self.create_refused_alias(&eval).await? {
                continue;
            }
            if self.send_canaries(&eval).await? {
                continue;
            }
            match self.mistake_hook(&eval).await? {
                Hook::Acted => continue,
                Hook::Hold => return Ok(false),
                Hook::Nothing => {}
            }
            if !self.step_once(&eval).await? {
                return Ok(false);
            }
            if self.decommissioned {
                return Ok(false);
            }
        }
        Ok(false)
    }

    fn note_finished(&mut self, eval: &Evaluation) {
        // As the cockpit does: an automatic step seen done is journaled, so it stays done.
        let now = self.now();
        if let Err(e) = self.session.recorder.observed_steps(eval, now) {
            self.event(format!("cannot journal an observed step: {e}"));
        }
        for step in &eval.steps {
            if step.state.is_finished() && !self.finished_steps.contains(&step.id) {
                self.finished_steps.insert(step.id.clone());
                if step.mode == crate::runbook::Mode::Automatic && step.state == StepState::Done {
                    self.event(format!("{}: done (observed)", step.id));
                }
            }
        }
    }

    /// Records the first sighting of each gate that blocks a reachable step, and of each alarm.
    fn watch_checks(&mut self, eval: &Evaluation) {
        let now = self.now();
        for step in &eval.steps {
            for c in &step.checks {
                let alarm = c.id == "mx-no-alarm" && c.status == Status::Fail;
                let blocking = matches!(step.state, StepState::Waiting | StepState::Blocked)
                    && (c.kind == Kind::Gate || step.mode == crate::runbook::Mode::Automatic)
                    && c.status == Status::Fail
                    && !c.id.starts_with("done:");
                let list = if alarm {
                    &mut self.report.alarms
                } else if blocking {
                    &mut self.report.blocked
                } else {
                    continue;
                };
                // An alarm is one event however many steps show it; a block is per step.
                if list
                    .iter()
                    .any(|k| k.check == c.id && (alarm || k.step.as_ref() == Some(&step.id)))
                {
                    continue;
                }
                list.push(Caught {
                    at: now,
                    step: Some(step.id.clone()),
                    check: c.id.clone(),
                    status: c.status,
                    evidence: c.evidence.clone(),
                    until: c.until,
                });
            }
        }
        if self.alarm_seen_at.is_none() && !self.report.alarms.is_empty() {
            self.alarm_seen_at = Some(now);
        }
        self.watch_held(eval, now);
        if self.report.switch_at.is_none() {
            self.report.switch_at = self.session.history().switch_at();
        }
    }

    /// How long each step is held back by failing checks once it could otherwise go on.
    fn watch_held(&mut self, eval: &Evaluation, now: Timestamp) {
        for step in &eval.steps {
            let open = self
                .report
                .held
                .iter()
                .rposition(|h| h.step == step.id && h.to.is_none());
            let blockers = crate::runbook::eval::confirm_blockers(step, false);
            let held = match step.state {
                StepState::Waiting | StepState::Blocked => true,
                StepState::Applied => !blockers.is_empty(),
                _ => false,
            };
            match (held, open) {
                (true, None) => self.report.held.push(Held {
                    step: step.id.clone(),
                    checks: blockers.iter().map(|c| c.id.clone()).collect(),
                    from: now,
                    to: None,
                    wait: self.session.timeline.waits.iter().any(|w| w.id == step.id),
                }),
                (false, Some(i)) => self.report.held[i].to = Some(now),
                _ => {}
            }
        }
    }

    /// Does one thing the evaluation asks for; false when there was nothing to do.
    async fn step_once(&mut self, eval: &Evaluation) -> Result<bool, AutopilotError> {
        let now = self.now();
        for step in &eval.steps {
            if step.state.is_finished() {
                self.stuck_since.remove(&step.id);
                continue;
            }
            // While a rollback stands, its steps follow the forward ones.
            let runbook =
                crate::runbook::rollback::effective(&self.session.runbook, self.session.history());
            let Some(def) = runbook.step(&step.id).cloned() else {
                continue;
            };
            if def.id == StepId::RollbackCopyBack {
                // Its own way: POP3 fetches off and ticked, then the copy back itself.
                if self.copy_back(step).await? {
                    return Ok(true);
                }
                continue;
            }
            match step.state {
                StepState::Ready if def.per_mailbox => {
                    self.tick_every_mailbox(&def, eval).await?;
                    return Ok(true);
                }
                // The old server goes last, once everything else is finished.
                StepState::Ready
                    if def.id == StepId::DecommissionOld
                        && eval
                            .steps
                            .iter()
                            .any(|s| s.id != def.id && !self.finished_steps.contains(&s.id)) => {}
                StepState::Ready if def.mode == crate::runbook::Mode::Manual => {
                    self.do_manual(&def).await?;
                    if def.id == StepId::DecommissionOld {
                        return Ok(true);
                    }
                    self.confirm(&step.id, None, None)?;
                    return Ok(true);
                }
                StepState::Ready if def.mode == crate::runbook::Mode::Both => {
                    self.apply(&def).await?;
                    return Ok(true);
                }
                StepState::Applied => {
                    if crate::runbook::eval::confirm_blockers(step, false).is_empty() {
                        self.confirm(&step.id, None, None)?;
                        self.after_confirm(&step.id);
                        return Ok(true);
                    }
                    if self.unstick(step, now)? {
                        return Ok(true);
                    }
                }
                // The copy's verification is too old (or missing): copy again, as an operator would.
                StepState::Blocked
                    if def.id == StepId::DecommissionOld
                        && !self.verification_copy_done
                        && step
                            .checks
                            .iter()
                            .any(|c| c.id == "mail.copy-verified" && !c.status.holds())
                        && eval
                            .steps
                            .iter()
                            .all(|s| s.id == def.id || self.finished_steps.contains(&s.id)) =>
                {
                    self.copy("verification copy before the shutdown").await?;
                    self.verification_copy_done = true;
                    return Ok(true);
                }
                // Only the archive holds the shutdown back: keep the old server's mail, as
                // an operator runs `cutover archive`, then `cutover archive --verify`.
                StepState::Blocked
                    if def.id == StepId::DecommissionOld
                        && !self.archive_verified
                        && crate::runbook::eval::confirm_blockers(step, false)
                            .iter()
                            .all(|c| c.id == crate::mail::steps::ARCHIVE_VERIFIED)
                        && eval
                            .steps
                            .iter()
                            .all(|s| s.id == def.id || self.finished_steps.contains(&s.id)) =>
                {
                    self.archive_and_verify().await?;
                    return Ok(true);
                }
                StepState::Blocked | StepState::Waiting
                    if step.wait_until.is_none() && self.unstick(step, now)? =>
                {
                    return Ok(true);
                }
                _ => {}
            }
        }
        Ok(false)
    }

    fn after_confirm(&mut self, step: &StepId) {
        self.note_way_back(step);
        if *step == StepId::RemoveOldMx && self.old_account_until.is_none() {
            // Employees drop the old account from their phones by the evening of the switch.
            let zoned = self.now().to_zoned_datetime(TimeZone::UTC);
            let evening = zoned
                .date()
                .at(18, 0, 0, 0)
                .to_zoned_datetime(TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(self.now());
            self.old_account_until = Some(evening.max(self.now()));
        }
    }

    /// Confirms `step` (or ticks `mailbox`) through the shared confirmation rule.
    fn confirm(
        &mut self,
        step: &StepId,
        mailbox: Option<String>,
        override_reason: Option<&str>,
    ) -> Result<(), AutopilotError> {
        let eval = self.evaluate();
        let Some(status) = eval.step(step) else {
            return Ok(());
        };
        let operator = self.session.plan.operator.clone();
        match confirmation_entry(
            status,
            mailbox.clone(),
            override_reason,
            &operator,
            self.now(),
            &eval.alarms,
        ) {
            Ok(entry) => {
                let text = match (&entry, &mailbox) {
                    (Entry::Override { reason, .. }, _) => {
                        self.report
                            .overrides
                            .push((self.now(), step.clone(), reason.clone()));
                        format!("{step}: confirmed by OVERRIDE — {reason}")
                    }
                    (_, Some(m)) => format!("{step}: ticked {m}"),
                    _ => format!("{step}: confirmed with the evidence"),
                };
                if mailbox.is_none() || self.session.plan.mailboxes.len() <= 3 {
                    self.event(text);
                }
                self.journal(entry)?;
                // The records the confirmation was judged on, for the report's DNS section.
                if let (None, Some(snapshot)) = (&mailbox, &self.observed.dns) {
                    let at = self.now();
                    self.session
                        .recorder
                        .dns_records(step, snapshot, at)
                        .map_err(|e| AutopilotError::Journal(e.to_string()))?;
                }
                Ok(())
            }
            Err(refusal) => {
                self.event(format!(
                    "{step}: confirmation refused: {}",
                    refusal_text(&refusal)
                ));
                Ok(())
            }
        }
    }

    async fn tick_every_mailbox(
        &mut self,
        def: &StepDef,
        eval: &Evaluation,
    ) -> Result<(), AutopilotError> {
        let ticked = eval
            .step(&def.id)
            .and_then(|s| s.mailboxes.as_ref())
            .map_or(0, |t| t.ticked);
        if ticked == 0 {
            self.do_manual(def).await?;
        }
        let addresses: Vec<String> = self
            .session
            .plan
            .mailboxes
            .iter()
            .map(|m| m.address.clone())
            .collect();
        for address in addresses {
            let done = self
                .session
                .history()
                .step(&def.id)
                .is_some_and(|r| r.ticks.contains_key(&address.to_lowercase()));
            if !done {
                self.confirm(&def.id, Some(address), None)?;
            }
        }
        self.confirm(&def.id, None, None)
    }

    /// The hands-on part of a manual step.
    async fn do_manual(&mut self, def: &StepDef) -> Result<(), AutopilotError> {
        match def.id {
            StepId::ClientsConfigured => {
                self.event("every employee's phone and mail program now has the new mailbox")
            }
            StepId::RemoveOldAccounts => {
                self.fetches.clear();
                self.event("employees remove the old accounts and turn off POP3 fetch");
            }
            StepId::OtherData => {
                self.event("calendars, contacts and files moved (nothing on the rehearsal server)")
            }
            StepId::AnnounceShutdown => {
                self.event("the shutdown notice goes out to every employee")
            }
            StepId::DecommissionOld => {
                if !self.verification_copy_done {
                    // The decommission gate needs a verification made now, not one from before.
                    self.copy("verification copy before the shutdown").await?;
                    self.verification_copy_done = true;
                    return Ok(());
                }
                if !self.archive_verified {
                    self.archive_and_verify().await?;
                    return Ok(());
                }
                self.decommission(None).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Makes the change of a step the operator does and cutover verifies, then marks it applied.
    async fn apply(&mut self, def: &StepDef) -> Result<(), AutopilotError> {
        let what = match (&def.id, OperatorAction::for_step(&def.id)) {
            (StepId::FinalCopy, _) => {
                self.copy("final copy").await?;
                "final copy run".to_string()
            }
            (StepId::UsersConnected, _) => {
                "every employee logs in to the new mailbox once".to_string()
            }
            (_, Some(action)) => {
                let done = operator::perform(&self.world, action).await?;
                self.fetches.extend(done.fetches);
                done.text
            }
            (other, None) => format!("{other} done"),
        };
        self.event(format!("{}: {what}", def.id));
        let entry = Entry::Applied {
            at: self.now(),
            operator: self.session.plan.operator.clone(),
            step: def.id.clone(),
        };
        self.journal(entry)
    }

    /// Runs the copy engine over every mailbox and remembers its verification.
    async fn copy(&mut self, label: &str) -> Result<(), AutopilotError> {
        // As `cutover sync` does: each message read from the old server goes into the archive.
        let archive = self.open_archive();
        let report = {
            let _guard = self.world.clock.io_guard();
            crate::mail::run_sync(
                &self.session.plan,
                &self.creds,
                &self.world.clock,
                &SyncOptions {
                    archive: archive.clone(),
                    ..SyncOptions::default()
                },
                self.session.recorder.journal(),
                None,
            )
            .await
        };
        if let Some(archive) = archive
            && let Err(e) = archive.finish()
        {
            self.event(format!("{label}: the archive could not be written: {e}"));
        }
        // The copy journaled its checkpoints and ledger: fold them in.
        self.session.recorder.catch_up();
        let copied: u64 = report.mailboxes.iter().map(|m| m.copied()).sum();
        let verified = report.mailboxes.iter().all(|m| m.verified());
        if self.at_early_copy.is_some() && label.starts_with("verification") {
            self.report.caught_by_next_copy = copied;
        }
        self.report.copies.push(CopyRun {
            at: self.now(),
            copied,
            verified,
        });
        self.event(format!(
            "{label}: {copied} messages copied, {}",
            if verified {
                "every mailbox verified complete"
            } else {
                "NOT verified complete"
            }
        ));
        Ok(())
    }

    /// The plan's archive, open for one copy, as `cutover sync` opens it.
    fn open_archive(&mut self) -> Option<Arc<Archive>> {
        match super::archive::open(&self.session.plan) {
            Ok(archive) => archive,
            Err(e) => {
                self.event(format!("the archive cannot be opened: {e}"));
                None
            }
        }
    }

    /// `cutover archive` then `cutover archive --verify`: reads what the copies did not, then
    /// checks every file against the manifest and every old folder against the archive,
    /// journaling the verification through the recorder (the gate of the shutdown).
    async fn archive_and_verify(&mut self) -> Result<(), AutopilotError> {
        self.archive_verified = true;
        let kept = {
            let _guard = self.world.clock.io_guard();
            super::archive::fill_and_verify(
                &self.session.plan,
                &self.creds,
                &self.world.clock,
                self.session.recorder.journal(),
            )
            .await
        };
        let kept = match kept {
            Ok(Some(kept)) => kept,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.event(format!("archive: {e}"));
                return Ok(());
            }
        };
        let now = self.now();
        self.session
            .recorder
            .archive_verification(&kept.verification, now)
            .map_err(|e| AutopilotError::Journal(e.to_string()))?;
        let v = &kept.verification;
        let messages: u64 = v.mailboxes.iter().map(|m| m.messages).sum();
        self.event(if v.ok() {
            format!(
                "archive: {} messages the copies did not read archived; {messages} messages verified against the manifest and the old server (manifest SHA-256 {}…)",
                kept.added,
                v.manifest_sha256.chars().take(12).collect::<String>()
            )
        } else {
            format!(
                "archive: NOT verified: {}",
                v.problems.first().map(String::as_str).unwrap_or("?")
            )
        });
        Ok(())
    }

    /// Shuts the old server down; what is on it and not on the new one is lost.
    async fn decommission(&mut self, reason: Option<&str>) -> Result<(), AutopilotError> {
        self.report.lost = missing(
            self.world.old.store(),
            self.world.new.store(),
            &self.world.employees,
        );
        self.confirm(&StepId::DecommissionOld, None, reason)?;
        self.event(format!(
            "{}: the old server is shut down ({} messages on it were not on the new one)",
            StepId::DecommissionOld,
            self.report.lost.len()
        ));
        // Senders can no longer reach the old host; the IMAP server stops answering.
        self.senders = senders(&self.world, false);
        self.decommissioned = true;
        Ok(())
    }

    /// Ends the run: what is on the old server and not on the new one, what is still queued.
    fn finish(&mut self) {
        self.report.end = Some(self.now());
        let eval = self.evaluate();
        self.note_finished(&eval);
        // The forward steps a standing rollback undid are not unfinished: it replaced them.
        let rolled_back = crate::runbook::rollback::active(self.session.history()).is_some();
        let unfinished: Vec<StepId> = eval
            .steps
            .iter()
            .filter(|s| !self.finished_steps.contains(&s.id))
            .filter(|s| !(rolled_back && s.state == StepState::RolledBack))
            .map(|s| s.id.clone())
            .collect();
        self.report.finished = unfinished.is_empty();
        if !unfinished.is_empty() {
            let text = format!("not finished: {}", StepId::join(&unfinished, ", "));
            self.event(text);
        }
        self.report.still_queued = self.queue.len() as u64;
        let old = self.world.old.store();
        self.report.old_messages_at_end = self
            .world
            .employees
            .iter()
            .flat_map(|e| old.folders(&e.login).unwrap_or_default())
            .map(|f| u64::from(f.messages))
            .sum();
        if !self.decommissioned || self.report.lost.is_empty() {
            self.report.missing_at_end =
                missing(old, self.world.new.store(), &self.world.employees);
        }
        if self.decommissioned || rolled_back {
            // The old mail that was lost is counted once, under `lost`; after a rollback
            // the migration ends on the old server, and what counts is what it lacks.
            self.report.missing_at_end.clear();
        }
        self.count_way_back();
        if self.way_back.report.broke_at.is_some() {
            self.report.way_back = Some(self.way_back.report.clone());
        }
    }
}

/// Why a confirmation was refused, in the words `cutover confirm` uses.
fn refusal_text(refusal: &crate::actions::Refusal) -> String {
    match refusal {
        crate::actions::Refusal::Blocked(checks) => {
            let failing: Vec<String> = checks
                .iter()
                .map(|c| format!("{} ({})", c.id, crate::sanitize::sanitize(&c.evidence)))
                .collect();
            format!("these checks do not hold: {}", failing.join("; "))
        }
        crate::actions::Refusal::ShortReason => format!(
            "an override needs a reason of at least {} characters",
            crate::actions::MIN_REASON_CHARS
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal_text;
    use crate::actions::Refusal;
    use crate::check::{Check, Kind, Status};

    #[test]
    fn a_refusal_reads_as_words_not_as_debug_output() {
        let refusal = Refusal::Blocked(vec![Check::new(
            "old-ttl-expired",
            Kind::Gate,
            Status::Fail,
            "wait until Tue 3 Mar 08:05",
        )]);
        let text = refusal_text(&refusal);
        assert_eq!(
            text,
            "these checks do not hold: old-ttl-expired (wait until Tue 3 Mar 08:05)"
        );
        assert_eq!(
            refusal_text(&Refusal::ShortReason),
            "an override needs a reason of at least 10 characters"
        );
    }
}
