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

use std::collections::{BTreeMap, HashMap};

use hickory_proto::rr::RecordType;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::imap::Mailstore;
use super::mailflow::{DeferReason, Delivery, MailRoutes, Pop3Fetch, Sender};
use super::world::World;
use crate::actions::confirmation_entry;
use crate::check::{Kind, Status};
use crate::cli::{Failure, Observations, Session};
use crate::clock::Clock;
use crate::journal::Entry;
use crate::mail::identity::Identity;
use crate::mail::{CredentialSource, SyncOptions};
use crate::plan::Plan;
use crate::runbook::{Evaluation, StepDef, StepState};

/// A classic mistake the autopilot makes on purpose, to show what the cockpit does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mistake {
    /// Switch the MX right after lowering the TTL, without waiting out the old TTL.
    NoTtlWait,
    /// Delete the old MX records before the new ones are added.
    DeleteOldMxFirst,
    /// Run the final copy right at the switch instead of 24 h after it.
    EarlyFinalCopy,
    /// Shut the old server down before it is quiet and before the final copy.
    EarlyDecommission,
}

impl Mistake {
    pub fn as_str(self) -> &'static str {
        match self {
            Mistake::NoTtlWait => "no-ttl-wait",
            Mistake::DeleteOldMxFirst => "delete-old-mx-first",
            Mistake::EarlyFinalCopy => "early-final-copy",
            Mistake::EarlyDecommission => "early-decommission",
        }
    }
}

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
    #[error("the rehearsal's DNS host console refused {what}: {detail}")]
    Console { what: String, detail: String },
    #[error("the rehearsal's mail store refused {what}: {detail}")]
    Store { what: String, detail: String },
}

impl From<Failure> for AutopilotError {
    fn from(f: Failure) -> AutopilotError {
        AutopilotError::Journal(f.message)
    }
}

/// Which mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Server {
    Old,
    New,
}

impl Server {
    pub fn as_str(self) -> &'static str {
        match self {
            Server::Old => "old",
            Server::New => "new",
        }
    }
}

/// A check that blocked a step, or alarmed, when the autopilot looked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caught {
    pub at: Timestamp,
    pub step: String,
    pub check: String,
    pub status: Status,
    pub evidence: String,
    pub until: Option<Timestamp>,
}

/// One line of the rehearsal's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Timestamp,
    pub text: String,
}

/// One copy run.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRun {
    pub at: Timestamp,
    pub copied: u64,
    pub verified: bool,
}

/// A message that is on the old server and not on the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingMessage {
    pub mailbox: String,
    pub folder: String,
    pub subject: String,
}

/// What happened, for the operator and the tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub mistake: Option<Mistake>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub events: Vec<Event>,
    /// Gates that blocked a step the autopilot wanted to do, first sighting per (step, check).
    pub blocked: Vec<Caught>,
    /// Checks that alarmed (MX alarm), first sighting per (step, check).
    pub alarms: Vec<Caught>,
    /// (at, step, reason) of every override.
    pub overrides: Vec<(Timestamp, String, String)>,
    /// Mail delivered by the senders, per working day (1-based) and server.
    pub delivered: BTreeMap<(u32, Server), u64>,
    /// Sent copies employees saved on the old server through their old account.
    pub sent_via_old: u64,
    /// Delivery attempts deferred by senders (each retried every tick).
    pub deferrals: u64,
    /// Distinct messages deferred at least once.
    pub deferred_messages: u64,
    /// Messages still queued at the senders when the run ended.
    pub still_queued: u64,
    pub bounced: Vec<String>,
    pub pop3_fetched: u64,
    pub copies: Vec<CopyRun>,
    /// Messages that arrived on the old server after an early final copy, caught by the next one.
    pub caught_by_next_copy: u64,
    /// When the old server was shut down, what was on it and not on the new one: lost.
    pub lost: Vec<MissingMessage>,
    /// At the end: old messages (seeded and delivered) not on the new server.
    pub missing_at_end: Vec<MissingMessage>,
    /// Messages on the old server at the end (all folders, all mailboxes).
    pub old_messages_at_end: u64,
    /// Every runbook step finished.
    pub finished: bool,
}

impl Report {
    /// 0 no check alarmed, nothing deferred or lost; 1 an alarm (or a blocked gate overridden)
    /// or deferred mail, nothing lost; 2 mail lost (or the run could not prove none was).
    pub fn exit_code(&self) -> u8 {
        if !self.lost.is_empty()
            || !self.bounced.is_empty()
            || !self.missing_at_end.is_empty()
            || self.still_queued > 0
        {
            2
        } else if !self.alarms.is_empty()
            || !self.overrides.is_empty()
            || self.deferrals > 0
            || !self.finished
        {
            1
        } else {
            0
        }
    }

    /// The first time `check` blocked or alarmed (any step).
    pub fn caught(&self, check: &str) -> Option<&Caught> {
        self.alarms
            .iter()
            .chain(&self.blocked)
            .filter(|c| c.check == check)
            .min_by_key(|c| c.at)
    }

    pub fn delivered_to(&self, server: Server) -> u64 {
        self.delivered
            .iter()
            .filter(|((_, s), _)| *s == server)
            .map(|(_, n)| n)
            .sum()
    }

    /// The report as printed by `cutover demo --autopilot`.
    pub fn render(&self) -> String {
        let when = |at: Timestamp| {
            at.to_zoned_datetime(TimeZone::UTC)
                .strftime("%a %-d %b %H:%M")
                .to_string()
        };
        let mut s = String::new();
        s.push_str(&format!(
            "REHEARSAL — cutover autopilot{}\n",
            match self.mistake {
                Some(m) => format!(", with the mistake `{}`", m.as_str()),
                None => String::new(),
            }
        ));
        if let (Some(a), Some(b)) = (self.start, self.end) {
            s.push_str(&format!("Simulated {} → {} (UTC)\n", when(a), when(b)));
        }
        s.push_str("\nTimeline\n");
        for e in &self.events {
            s.push_str(&format!("  {}  {}\n", when(e.at), e.text));
        }
        if !self.blocked.is_empty() || !self.alarms.is_empty() {
            s.push_str("\nWhat the checks held back, blocked or alarmed\n");
            for c in self.alarms.iter().chain(&self.blocked) {
                let until = c
                    .until
                    .map(|u| format!(" (clears {})", when(u)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "  {}  {} {} on {}: {}{until}\n",
                    when(c.at),
                    c.status.as_str().to_uppercase(),
                    c.check,
                    c.step,
                    crate::sanitize::sanitize(&c.evidence)
                ));
            }
        }
        s.push_str("\nMail delivered by senders\n  day   old server   new server\n");
        let days: std::collections::BTreeSet<u32> =
            self.delivered.keys().map(|(d, _)| *d).collect();
        for day in days {
            let n = |server| self.delivered.get(&(day, server)).copied().unwrap_or(0);
            s.push_str(&format!(
                "  {day:>3}   {:>10}   {:>10}\n",
                n(Server::Old),
                n(Server::New)
            ));
        }
        s.push_str(&format!(
            "  deferred attempts: {} ({} messages), still queued: {}, bounced: {}\n",
            self.deferrals,
            self.deferred_messages,
            self.still_queued,
            self.bounced.len()
        ));
        s.push_str(&format!(
            "  sent copies saved on the old server by employees: {}; POP3-fetched: {}\n",
            self.sent_via_old, self.pop3_fetched
        ));
        s.push_str("\nCopies\n");
        if self.copies.is_empty() {
            s.push_str("  none\n");
        }
        for c in &self.copies {
            s.push_str(&format!(
                "  {}  {} messages copied, {}\n",
                when(c.at),
                c.copied,
                if c.verified {
                    "verified complete"
                } else {
                    "NOT verified complete"
                }
            ));
        }
        if self.caught_by_next_copy > 0 {
            s.push_str(&format!(
                "  {} messages reached the old server after the early copy and were only caught by the next one\n",
                self.caught_by_next_copy
            ));
        }
        if !self.lost.is_empty() {
            s.push_str(&format!(
                "\nLOST: {} messages were on the old server and not on the new one when it was shut down\n",
                self.lost.len()
            ));
            for m in self.lost.iter().take(20) {
                s.push_str(&format!(
                    "  {} / {}: {}\n",
                    m.mailbox,
                    m.folder,
                    crate::sanitize::sanitize(&m.subject)
                ));
            }
            if self.lost.len() > 20 {
                s.push_str(&format!("  … and {} more\n", self.lost.len() - 20));
            }
        }
        if !self.missing_at_end.is_empty() && self.lost.is_empty() {
            s.push_str(&format!(
                "\n{} messages of the old server are not on the new one\n",
                self.missing_at_end.len()
            ));
        }
        s.push_str(&format!(
            "\nVerdict (exit {}): {}\n",
            self.exit_code(),
            self.verdict()
        ));
        s
    }

    fn verdict(&self) -> String {
        match self.exit_code() {
            0 => format!(
                "clean. Every message — {} on the old server, old mail and mail delivered during the rehearsal — is on the new server, verified.",
                self.old_messages_at_end
            ),
            1 => {
                let mut why = Vec::new();
                if !self.alarms.is_empty() {
                    why.push(format!("{} alarm(s)", self.alarms.len()));
                }
                if !self.overrides.is_empty() {
                    why.push(format!("{} check(s) overridden", self.overrides.len()));
                }
                if self.deferrals > 0 {
                    why.push(format!("{} messages deferred", self.deferred_messages));
                }
                if !self.finished {
                    why.push("the procedure did not finish".to_string());
                }
                format!("no mail lost, but: {}.", why.join(", "))
            }
            _ => format!(
                "MAIL LOST: {} messages lost at shutdown, {} bounced, {} never delivered, {} not on the new server.",
                self.lost.len(),
                self.bounced.len(),
                self.still_queued,
                self.missing_at_end.len()
            ),
        }
    }
}

/// What the mistake hook did this time.
enum Hook {
    /// It acted: evaluate again.
    Acted,
    /// The operator is busy making (or noticing) the mistake: do nothing else this tick.
    Hold,
    /// Nothing: the normal procedure goes on.
    Nothing,
}

/// A message a sender still has to deliver.
struct Queued {
    user: String,
    raw: Vec<u8>,
    deferred: bool,
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
    /// When each unfinished step was first seen stuck (not waiting on a time).
    stuck_since: HashMap<String, Timestamp>,
    /// Steps seen finished at least once (an automatic step's state follows its live checks,
    /// so a later change, e.g. the restored TTL, does not undo that it was done).
    finished_steps: std::collections::BTreeSet<String>,
    /// Old-side identities counted at the early copy, per (mailbox, folder).
    at_early_copy: Option<u64>,
    verification_copy_done: bool,
    decommissioned: bool,
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
        stuck_since: HashMap::new(),
        finished_steps: std::collections::BTreeSet::new(),
        at_early_copy: None,
        verification_copy_done: false,
        decommissioned: false,
        world,
    };
    pilot.drive().await?;
    pilot.finish();
    Ok(pilot.report)
}

/// One sender per public resolver; `with_old` false once the old server is shut down.
fn senders(world: &World, with_old: bool) -> Vec<Sender> {
    let mut routes = MailRoutes::new();
    if with_old {
        routes.add(&world.spec.old_mx, world.old.store().clone());
    }
    routes.add(&world.spec.new_mx, world.new.store().clone());
    world
        .resolvers
        .iter()
        .map(|r| {
            Sender::new(
                r.addr(),
                world.zone.origin(),
                routes.clone(),
                world.clock.clone(),
            )
        })
        .collect()
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
            .journal
            .append(&entry)
            .map_err(|e| AutopilotError::Journal(e.to_string()))?;
        self.session.history.apply(&entry);
        Ok(())
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

    /// This tick's mail: new messages from the senders, retries of deferred ones, and sent
    /// copies employees save on the old server while they still use the old account.
    async fn send_mail(&mut self) {
        let now = self.now();
        self.mail_due += self.opts.mail_per_hour * self.opts.tick.as_secs_f64() / 3600.0;
        let users: Vec<String> = self
            .world
            .employees
            .iter()
            .map(|e| e.login.clone())
            .collect();
        while self.mail_due >= 1.0 {
            self.mail_due -= 1.0;
            self.sent += 1;
            let user = users[(self.sent as usize) % users.len()].clone();
            let raw = message(self.sent, &user, &self.world.spec.domain, now, "customer");
            self.queue.push(Queued {
                user,
                raw,
                deferred: false,
            });
        }
        let queue = std::mem::take(&mut self.queue);
        let senders = self.senders.clone();
        let day = self.day(now);
        for (i, mut item) in queue.into_iter().enumerate() {
            let sender = &senders[i % senders.len()];
            match sender.send(&item.user, item.raw.clone()).await {
                Delivery::Delivered { host, .. } => {
                    let server = if host.trim_end_matches('.') == self.world.spec.old_mx {
                        Server::Old
                    } else {
                        Server::New
                    };
                    *self.report.delivered.entry((day, server)).or_insert(0) += 1;
                }
                Delivery::Deferred { reason } => {
                    self.report.deferrals += 1;
                    if !item.deferred {
                        item.deferred = true;
                        self.report.deferred_messages += 1;
                        if self.report.deferred_messages == 1 {
                            self.event(format!(
                                "senders start deferring mail: {}",
                                defer_text(&reason)
                            ));
                        }
                    }
                    self.queue.push(item);
                }
                Delivery::Bounced { host, user } => {
                    self.report.bounced.push(format!("{user} at {host}"));
                }
            }
        }
        // Every third employee still sends from the old account on a phone, once an hour in
        // working hours, until the evening of the switch day (their sent copies stay there).
        let zoned = now.to_zoned_datetime(TimeZone::UTC);
        let working = (8..18).contains(&zoned.hour()) && zoned.minute() == 0;
        let still = self.old_account_until.is_none_or(|until| now < until);
        if working && still && !self.decommissioned {
            for (n, employee) in self.world.employees.iter().enumerate().step_by(3) {
                let raw = message(
                    self.sent * 1000 + n as u64,
                    "colleague",
                    &self.world.spec.domain,
                    now,
                    &employee.login,
                );
                if self
                    .world
                    .old
                    .store()
                    .deliver(&employee.login, "Sent", raw, zoned.clone())
                    .is_ok()
                {
                    self.report.sent_via_old += 1;
                }
            }
        }
    }

    /// The rehearsal day `at` falls on, counted in calendar days from the first (1-based).
    fn day(&self, at: Timestamp) -> u32 {
        let date = |t: Timestamp| t.to_zoned_datetime(TimeZone::UTC).date();
        let start = date(self.report.start.unwrap_or(at));
        let days = start
            .until(date(at))
            .map(|span| span.get_days())
            .unwrap_or(0);
        u32::try_from(days).unwrap_or(0) + 1
    }

    fn run_fetches(&mut self) -> Result<(), AutopilotError> {
        if self.decommissioned {
            return Ok(());
        }
        let clock = self.world.clock.clone();
        for fetch in &mut self.fetches {
            let copied = fetch.run(&clock).map_err(|e| AutopilotError::Store {
                what: format!("the POP3 fetch for {}", fetch.new_user),
                detail: e.to_string(),
            })?;
            self.report.pop3_fetched += copied as u64;
        }
        Ok(())
    }

    async fn dns_round(&mut self) -> Result<(), AutopilotError> {
        let snapshot = {
            let _guard = self.world.clock.io_guard();
            crate::dns::one_round(&self.session.plan, &self.world.clock).await
        };
        let before = self.session.history.dns.alarms.len();
        self.session.record_dns_facts(&snapshot)?;
        let alarms: Vec<_> = self.session.history.dns.alarms[before..].to_vec();
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
        for fact in crate::mail::steps::mail_facts(&self.session.history, &probes, now) {
            match self.session.journal.append(&fact) {
                Ok(()) => self.session.history.apply(&fact),
                Err(e) => self.event(format!("cannot journal a mailbox fact: {e}")),
            }
        }
        self.observed.mail = Some(probes);
    }

    fn evaluate(&self) -> Evaluation {
        self.session
            .evaluate(self.now(), &self.observed, &|_| Vec::new())
    }

    /// Looks at the runbook and does what is due. Returns true when every step is finished.
    async fn act(&mut self) -> Result<bool, AutopilotError> {
        // Several steps may become possible in one tick; act until nothing changes.
        for _ in 0..8 {
            let eval = self.evaluate();
            self.watch_checks(&eval);
            self.note_finished(&eval);
            if eval.steps.iter().all(|s| s.state.is_finished()) {
                self.report.finished = true;
                self.event("every step of the runbook is finished");
                return Ok(true);
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
        for entry in crate::runbook::eval::observed_steps(eval, &self.session.history, self.now()) {
            match self.session.journal.append(&entry) {
                Ok(()) => self.session.history.apply(&entry),
                Err(e) => self.event(format!("cannot journal an observed step: {e}")),
            }
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
                    .any(|k| k.check == c.id && (alarm || k.step == step.id))
                {
                    continue;
                }
                list.push(Caught {
                    at: now,
                    step: step.id.clone(),
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
    }

    /// Does one thing the evaluation asks for; false when there was nothing to do.
    async fn step_once(&mut self, eval: &Evaluation) -> Result<bool, AutopilotError> {
        let now = self.now();
        for step in &eval.steps {
            if step.state.is_finished() {
                self.stuck_since.remove(&step.id);
                continue;
            }
            let Some(def) = self.session.runbook.step(&step.id).cloned() else {
                continue;
            };
            match step.state {
                StepState::Ready if def.per_mailbox => {
                    self.tick_every_mailbox(&def, eval).await?;
                    return Ok(true);
                }
                // The old server goes last, once everything else is finished.
                StepState::Ready
                    if def.id == "decommission-old"
                        && eval
                            .steps
                            .iter()
                            .any(|s| s.id != def.id && !self.finished_steps.contains(&s.id)) => {}
                StepState::Ready if def.mode == crate::runbook::Mode::Manual => {
                    self.do_manual(&def).await?;
                    if def.id == "decommission-old" {
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
                    if def.id == "decommission-old"
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

    /// After a mistake, some checks can never hold again (the order was wrong); the operator
    /// then confirms by override, with the reason journaled. Only after the step stayed stuck.
    fn unstick(
        &mut self,
        step: &crate::runbook::StepStatus,
        now: Timestamp,
    ) -> Result<bool, AutopilotError> {
        let Some(mistake) = self.opts.mistake else {
            return Ok(false);
        };
        let blockers = crate::runbook::eval::confirm_blockers(step, false);
        // Only what the mistake broke for good: deleting the old MX first means the old and
        // new set was never served, and the order can never be proven.
        let broken_for_good: &[&str] = match mistake {
            // The empty MX set is negatively cached by the resolvers, so `ttl-wait` (automatic,
            // judged live) reads as not done again until that cache expires.
            Mistake::DeleteOldMxFirst => &["mx-old-and-new-served", "mx-order", "done:ttl-wait"],
            _ => &[],
        };
        if blockers.is_empty()
            || !blockers
                .iter()
                .all(|c| broken_for_good.contains(&c.id.as_str()))
        {
            self.stuck_since.remove(&step.id);
            return Ok(false);
        }
        let since = *self.stuck_since.entry(step.id.clone()).or_insert(now);
        if now.duration_since(since) < SignedDuration::from_hours(1) {
            return Ok(false);
        }
        let reason = format!(
            "rehearsal: continuing after the mistake {} ({} no longer holds)",
            mistake.as_str(),
            blockers
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.confirm(&step.id, None, Some(&reason))?;
        self.after_confirm(&step.id);
        Ok(true)
    }

    fn after_confirm(&mut self, step: &str) {
        if step == "remove-old-mx" && self.old_account_until.is_none() {
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
        step: &str,
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
        ) {
            Ok(entry) => {
                let text = match (&entry, &mailbox) {
                    (Entry::Override { reason, .. }, _) => {
                        self.report
                            .overrides
                            .push((self.now(), step.to_string(), reason.clone()));
                        format!("{step}: confirmed by OVERRIDE — {reason}")
                    }
                    (_, Some(m)) => format!("{step}: ticked {m}"),
                    _ => format!("{step}: confirmed with the evidence"),
                };
                if mailbox.is_none() || self.session.plan.mailboxes.len() <= 3 {
                    self.event(text);
                }
                self.journal(entry)
            }
            Err(refusal) => {
                self.event(format!("{step}: confirmation refused: {refusal:?}"));
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
                .history
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
        match def.id.as_str() {
            "clients-configured" => {
                self.event("every employee's phone and mail program now has the new mailbox")
            }
            "remove-old-accounts" => {
                self.fetches.clear();
                self.event("employees remove the old accounts and turn off POP3 fetch");
            }
            "other-data" => {
                self.event("calendars, contacts and files moved (nothing on the rehearsal server)")
            }
            "announce-shutdown" => self.event("the shutdown notice goes out to every employee"),
            "decommission-old" => {
                if !self.verification_copy_done {
                    // The decommission gate needs a verification made now, not one from before.
                    self.copy("verification copy before the shutdown").await?;
                    self.verification_copy_done = true;
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
        let spec = self.world.spec.clone();
        let what = match def.id.as_str() {
            "lower-ttl" => {
                self.console(
                    "lower the MX TTL",
                    self.world.zone.set_ttl("@", RecordType::MX, 300).await,
                )?;
                self.console(
                    "lower the TXT TTL",
                    self.world.zone.set_ttl("@", RecordType::TXT, 300).await,
                )?;
                "MX and TXT TTLs lowered to 5 min at the DNS host".to_string()
            }
            "spf-add-new" => {
                let spf = format!("v=spf1 a:{} a:{} -all", spec.old_mx, spec.new_mx);
                self.console("edit SPF", self.world.zone.set_txt("@", &[&spf], 300).await)?;
                format!("SPF is now \"{spf}\"")
            }
            "new-server-ready" => {
                for employee in self.world.employees.clone() {
                    self.world.create_new_account(&employee).map_err(|e| {
                        AutopilotError::Store {
                            what: format!("creating {} on the new server", employee.login),
                            detail: e.to_string(),
                        }
                    })?;
                }
                format!(
                    "{} mailboxes created on the new server",
                    self.world.employees.len()
                )
            }
            "users-connected" => "every employee logs in to the new mailbox once".to_string(),
            "pop3-fetch" => {
                // Every other employee sets up the POP3 fetch.
                for employee in self.world.employees.iter().step_by(2) {
                    self.fetches.push(Pop3Fetch::new(
                        self.world.old.store().clone(),
                        &employee.login,
                        self.world.new.store().clone(),
                        &employee.login,
                    ));
                }
                format!(
                    "{} employees set up POP3 fetch from the old server",
                    self.fetches.len()
                )
            }
            "add-new-mx" => {
                self.console(
                    "add the new MX",
                    self.world.zone.add_mx(10, &spec.new_mx).await,
                )?;
                format!(
                    "MX 10 {} added at the DNS host (the old one stays)",
                    spec.new_mx
                )
            }
            "remove-old-mx" => {
                if self
                    .mx_hosts()
                    .await
                    .iter()
                    .any(|h| h.trim_end_matches('.') == spec.old_mx)
                {
                    self.console(
                        "delete the old MX",
                        self.world.zone.remove_mx(&spec.old_mx).await,
                    )?;
                }
                format!("MX {} deleted at the DNS host", spec.old_mx)
            }
            "dkim-spf-final" => {
                let dkim = format!(
                    "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArehearsal{}",
                    "AQAB"
                );
                let name = format!("{}._domainkey", super::demo::DKIM_SELECTOR);
                self.console(
                    "add DKIM",
                    self.world.zone.set_txt(&name, &[&dkim], 300).await,
                )?;
                let spf = format!("v=spf1 a:{} -all", spec.new_mx);
                self.console("edit SPF", self.world.zone.set_txt("@", &[&spf], 300).await)?;
                format!("DKIM published at {name}; SPF is now \"{spf}\"")
            }
            "restore-ttl" => {
                self.console(
                    "restore the MX TTL",
                    self.world.zone.set_ttl("@", RecordType::MX, 86_400).await,
                )?;
                self.console(
                    "restore the TXT TTL",
                    self.world.zone.set_ttl("@", RecordType::TXT, 21_600).await,
                )?;
                "TTLs restored: 24 h for MX, 6 h for TXT".to_string()
            }
            "final-copy" => {
                self.copy("final copy").await?;
                "final copy run".to_string()
            }
            other => format!("{other} done"),
        };
        self.event(format!("{}: {what}", def.id));
        let entry = Entry::Applied {
            at: self.now(),
            operator: self.session.plan.operator.clone(),
            step: def.id.clone(),
        };
        self.journal(entry)
    }

    fn console(
        &self,
        what: &str,
        result: Result<(), super::dns_zone::ZoneError>,
    ) -> Result<(), AutopilotError> {
        result.map_err(|e| AutopilotError::Console {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    async fn mx_hosts(&self) -> Vec<String> {
        match self.world.zone.lookup("@", RecordType::MX).await {
            Some((_, rdata)) => rdata
                .iter()
                .filter_map(|r| match r {
                    hickory_proto::rr::RData::MX(mx) => Some(mx.exchange.to_string()),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// Runs the copy engine over every mailbox and remembers its verification.
    async fn copy(&mut self, label: &str) -> Result<(), AutopilotError> {
        let report = {
            let _guard = self.world.clock.io_guard();
            crate::mail::run_sync(
                &self.session.plan,
                &self.creds,
                &self.world.clock,
                &SyncOptions::default(),
                &self.session.journal,
                None,
            )
            .await
        };
        // The copy journaled its checkpoints and ledger: fold them in.
        let replay = self
            .session
            .journal
            .replay()
            .map_err(|e| AutopilotError::Journal(e.to_string()))?;
        self.session.history = crate::runbook::History::from_entries(&replay.entries);
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

    /// Shuts the old server down; what is on it and not on the new one is lost.
    async fn decommission(&mut self, reason: Option<&str>) -> Result<(), AutopilotError> {
        self.report.lost = missing(
            self.world.old.store(),
            self.world.new.store(),
            &self.world.employees,
        );
        self.confirm("decommission-old", None, reason)?;
        self.event(format!(
            "decommission-old: the old server is shut down ({} messages on it were not on the new one)",
            self.report.lost.len()
        ));
        // Senders can no longer reach the old host; the IMAP server stops answering.
        self.senders = senders(&self.world, false);
        self.decommissioned = true;
        Ok(())
    }

    /// Records every check of `step` that does not hold now (the mistake overrides them).
    fn catch(&mut self, eval: &Evaluation, step: &str) {
        let now = self.now();
        let Some(status) = eval.step(step) else {
            return;
        };
        for c in &status.checks {
            if c.status.holds() || c.id.starts_with("done:") {
                continue;
            }
            if self
                .report
                .blocked
                .iter()
                .any(|k| k.step == step && k.check == c.id && k.at == now)
            {
                continue;
            }
            self.report.blocked.push(Caught {
                at: now,
                step: step.to_string(),
                check: c.id.clone(),
                status: c.status,
                evidence: c.evidence.clone(),
                until: c.until,
            });
        }
    }

    /// The mistake of this rehearsal, made at its moment.
    async fn mistake_hook(&mut self, eval: &Evaluation) -> Result<Hook, AutopilotError> {
        let Some(mistake) = self.opts.mistake else {
            return Ok(Hook::Nothing);
        };
        let state = |id: &str| eval.step(id).map(|s| s.state);
        let finished = |id: &str| state(id).is_some_and(|s| s.is_finished());
        let applied = |id: &str| {
            self.session
                .history
                .step(id)
                .is_some_and(|r| r.applied_at.is_some())
        };
        let reason = format!("rehearsal mistake `{}`", mistake.as_str());
        match mistake {
            Mistake::NoTtlWait if !self.mistake_done => {
                let others = ["spf-add-new", "users-connected", "clients-configured"];
                if finished("lower-ttl")
                    && others.iter().all(|s| finished(s))
                    && !finished("ttl-wait")
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator switches the MX without waiting out the old TTL",
                    );
                    self.catch(eval, "ttl-wait");
                    self.confirm(
                        "ttl-wait",
                        None,
                        Some(&format!("{reason}: switch MX right after lowering the TTL")),
                    )?;
                    return Ok(Hook::Acted);
                }
            }
            Mistake::DeleteOldMxFirst => {
                if !self.mistake_done
                    && state("add-new-mx") == Some(StepState::Ready)
                    && !applied("add-new-mx")
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator deletes the old MX before adding the new one",
                    );
                    let old_mx = self.world.spec.old_mx.clone();
                    self.console(
                        "delete the old MX",
                        self.world.zone.remove_mx(&old_mx).await,
                    )?;
                    return Ok(Hook::Hold);
                }
                if self.mistake_done && !applied("add-new-mx") {
                    // The operator reacts half an hour after the alarm; until then nothing else.
                    if let Some(seen) = self.alarm_seen_at
                        && self.now().duration_since(seen) >= SignedDuration::from_mins(30)
                        && let Some(def) = self.session.runbook.step("add-new-mx").cloned()
                    {
                        self.event("the operator sees the alarm and adds the new MX");
                        self.apply(&def).await?;
                        return Ok(Hook::Acted);
                    }
                    return Ok(Hook::Hold);
                }
            }
            Mistake::EarlyFinalCopy
                if !self.mistake_done && self.session.history.switch_at().is_some() =>
            {
                self.mistake_done = true;
                self.event("MISTAKE: the operator runs the final copy right at the switch");
                self.catch(eval, "final-copy");
                self.confirm(
                    "final-copy",
                    None,
                    Some(&format!("{reason}: copy now, not 24 h after the switch")),
                )?;
                self.copy("early final copy").await?;
                self.at_early_copy = Some(self.report.copies.last().map_or(0, |c| c.copied));
                return Ok(Hook::Acted);
            }
            Mistake::EarlyDecommission if !self.mistake_done => {
                if let Some(switch) = self.session.history.switch_at()
                    && self.now().duration_since(switch) >= SignedDuration::from_hours(1)
                {
                    self.mistake_done = true;
                    self.event(
                        "MISTAKE: the operator shuts the old server down an hour after the switch",
                    );
                    self.catch(eval, "decommission-old");
                    self.decommission(Some(&format!("{reason}: shut the old server down now")))
                        .await?;
                    return Ok(Hook::Acted);
                }
            }
            _ => {}
        }
        Ok(Hook::Nothing)
    }

    /// Ends the run: what is on the old server and not on the new one, what is still queued.
    fn finish(&mut self) {
        self.report.end = Some(self.now());
        let eval = self.evaluate();
        self.note_finished(&eval);
        let unfinished: Vec<&str> = eval
            .steps
            .iter()
            .filter(|s| !self.finished_steps.contains(&s.id))
            .map(|s| s.id.as_str())
            .collect();
        self.report.finished = unfinished.is_empty();
        if !unfinished.is_empty() {
            let text = format!("not finished: {}", unfinished.join(", "));
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
        if self.decommissioned {
            // The old mail that was lost is counted once, under `lost`.
            self.report.missing_at_end.clear();
        }
    }
}

/// Old messages (per mailbox and folder, as multisets of identities) not on the new server.
fn missing(
    old: &Mailstore,
    new: &Mailstore,
    employees: &[super::world::Employee],
) -> Vec<MissingMessage> {
    let mut out = Vec::new();
    for employee in employees {
        let Ok(folders) = old.folders(&employee.login) else {
            continue;
        };
        for folder in folders {
            let old_messages = old
                .messages(&employee.login, &folder.name)
                .unwrap_or_default();
            let mut on_new: HashMap<Identity, u32> = HashMap::new();
            for m in new
                .messages(&employee.login, &folder.name)
                .unwrap_or_default()
            {
                *on_new.entry(Identity::from_header(&m.raw)).or_insert(0) += 1;
            }
            for m in old_messages {
                let id = Identity::from_header(&m.raw);
                match on_new.get_mut(&id) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => out.push(MissingMessage {
                        mailbox: employee.address.clone(),
                        folder: folder.name.clone(),
                        subject: subject(&m.raw),
                    }),
                }
            }
        }
    }
    out
}

fn subject(raw: &[u8]) -> String {
    crate::mail::identity::HeaderFields::parse(raw)
        .subject
        .unwrap_or_else(|| "(no subject)".to_string())
}

fn defer_text(reason: &DeferReason) -> String {
    match reason {
        DeferReason::ResolverFailed => "the resolver did not answer".to_string(),
        DeferReason::NoMx => "the domain has no MX records".to_string(),
        DeferReason::NoReachableHost { hosts } => format!("no mail server at {}", hosts.join(", ")),
    }
}

/// One generated message of the rehearsal's live traffic.
pub(crate) fn message(n: u64, to: &str, domain: &str, at: Timestamp, from: &str) -> Vec<u8> {
    let date = at
        .to_zoned_datetime(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string();
    format!(
        "Message-ID: <live-{n}-{from}@rehearsal.test>\r\n\
Date: {date}\r\n\
From: {from}@elsewhere.test\r\n\
To: {to}@{domain}\r\n\
Subject: rehearsal mail {n} from {from} to {to}\r\n\
\r\n\
Sent during the rehearsal at {date}.\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_exit_code_says_lost_over_alarmed_over_clean() {
        let clean = Report {
            finished: true,
            ..Report::default()
        };
        assert_eq!(clean.exit_code(), 0);
        let deferred = Report {
            deferrals: 3,
            deferred_messages: 1,
            ..clean.clone()
        };
        assert_eq!(deferred.exit_code(), 1);
        let alarmed = Report {
            alarms: vec![Caught {
                at: t("2026-03-03T08:10:00Z"),
                step: "add-new-mx".into(),
                check: "mx-no-alarm".into(),
                status: Status::Fail,
                evidence: "empty MX set".into(),
                until: None,
            }],
            ..clean.clone()
        };
        assert_eq!(alarmed.exit_code(), 1);
        let unfinished = Report {
            finished: false,
            ..clean.clone()
        };
        assert_eq!(unfinished.exit_code(), 1);
        let lost = Report {
            lost: vec![MissingMessage {
                mailbox: "user1@example-firm.test".into(),
                folder: "Sent".into(),
                subject: "Quarterly report".into(),
            }],
            ..deferred
        };
        assert_eq!(lost.exit_code(), 2);
        assert!(lost.render().contains("Quarterly report"));
        let never_delivered = Report {
            still_queued: 2,
            ..clean
        };
        assert_eq!(never_delivered.exit_code(), 2);
    }
}
