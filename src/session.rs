//! What a one-shot command (and the autopilot) evaluates against: the plan,
//! its runbook and timeline, the journal and what one live round observed;
//! and the error that ends a command, with its exit code.

use jiff::Timestamp;

use crate::clock::Clock;
use crate::dns::DnsSnapshot;
use crate::journal::{DriverLock, History, Journal};
use crate::plan::Plan;
use crate::runbook::eval::Inputs;
use crate::runbook::timeline::{self, Timeline};
use crate::runbook::{Evaluation, Runbook, StepDef, evaluate};
use crate::sanitize::sanitize;

/// An error that ends a command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::journal::JournalError> for Failure {
    fn from(e: crate::journal::JournalError) -> Failure {
        let hint = if e.is_disk_full() {
            " — free some disk space; nothing was recorded"
        } else {
            " — nothing was recorded"
        };
        Failure::new(1, format!("{e}{hint}"))
    }
}

/// What the commands evaluate against: the plan, its runbook and timeline, the journal.
pub struct Session {
    pub plan: Plan,
    pub runbook: Runbook,
    pub timeline: Timeline,
    pub journal: Journal,
    pub history: History,
}

impl Session {
    pub fn open(plan: &Plan) -> Result<Session, Failure> {
        let runbook = Runbook::for_plan(plan);
        let timeline = timeline::build(plan, &runbook);
        let journal = Journal::open(Journal::path_for_plan(&plan.path))?;
        let replay = journal.replay()?;
        if let Some(torn) = &replay.torn {
            eprintln!(
                "warning: the journal's last line was torn ({} bytes, a crash mid-write); it was set aside in {}",
                torn.bytes.len(),
                torn.saved_to.display()
            );
        }
        for bad in &replay.bad_lines {
            eprintln!(
                "warning: {}:{}: this journal line is not a valid entry and was skipped: {}",
                journal.path().display(),
                bad.line,
                sanitize(&bad.error)
            );
        }
        let history = History::from_entries(&replay.entries);
        Ok(Session {
            plan: plan.clone(),
            runbook,
            timeline,
            journal,
            history,
        })
    }

    /// Evaluates every step against the journal and what was observed.
    pub fn evaluate(&self, now: Timestamp, observed: &Observations) -> Evaluation {
        evaluate(&Inputs {
            plan: &self.plan,
            runbook: &self.runbook,
            timeline: &self.timeline,
            history: &self.history,
            dns: observed.dns.as_ref(),
            mail: observed.mail.as_deref(),
            now,
        })
    }

    /// One round of live observation (nothing when offline). First-seen
    /// facts are journaled and folded into the history before evaluation.
    pub fn observe(&mut self, clock: &dyn Clock, offline: bool) -> Result<Observations, Failure> {
        if offline {
            return Ok(Observations::default());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(1, format!("cannot start the I/O runtime: {e}")))?;
        let credentials = match &self.plan.credentials {
            None => Err("the plan has no [credentials]: mailbox checks stay unknown".to_string()),
            Some(c) => crate::mail::CredentialSource::new(Some(c))
                .map_err(|e| format!("mailbox checks stay unknown: {e}")),
        };
        // DNS and mailboxes are measured at the same time: a one-shot command takes about one timeout.
        let (snapshot, probes) = runtime.block_on(async {
            let probes = async {
                match &credentials {
                    Ok(creds) => Some(crate::mail::probe_all_once(&self.plan, creds, clock).await),
                    Err(_) => None,
                }
            };
            tokio::join!(crate::dns::one_round(&self.plan, clock), probes)
        });
        self.record_dns_facts(&snapshot)?;
        if let Some(probes) = &probes {
            for entry in crate::mail::steps::mail_facts(&self.history, probes, clock.now()) {
                self.journal.append(&entry)?;
                self.history.apply(&entry);
            }
        }
        Ok(Observations {
            dns: Some(snapshot),
            mail: probes,
            mail_note: credentials.err(),
        })
    }

    /// Journals the automatic steps this evaluation shows done for the first time, and
    /// evaluates again so the result reflects the journal.
    pub fn record_observed_steps(
        &mut self,
        eval: Evaluation,
        now: Timestamp,
        observed: &Observations,
    ) -> Result<Evaluation, Failure> {
        let entries = crate::runbook::eval::observed_steps(&eval, &self.history, now);
        if entries.is_empty() {
            return Ok(eval);
        }
        for entry in &entries {
            self.journal.append(entry)?;
            self.history.apply(entry);
        }
        Ok(self.evaluate(now, observed))
    }

    /// Journals what this DNS round shows for the first time (TTL baseline, MX transitions, alarms).
    pub fn record_dns_facts(&mut self, snapshot: &DnsSnapshot) -> Result<(), Failure> {
        let (_, entries) = crate::dns::dns_facts(&self.plan, &self.history.dns, snapshot);
        for entry in entries {
            self.journal.append(&entry)?;
            self.history.apply(&entry);
        }
        Ok(())
    }

    /// Refuses while another process drives (holds the cockpit's driver lock).
    pub fn ensure_not_observing(&self) -> Result<(), Failure> {
        if let Some(driver) = DriverLock::current(self.journal.path())?
            && driver.pid != std::process::id()
        {
            return Err(Failure::new(
                1,
                format!(
                    "refused: this migration is driven by {driver}; confirm from that cockpit, or ask its operator"
                ),
            ));
        }
        Ok(())
    }

    pub fn step_def(&self, step: &str) -> Result<&StepDef, Failure> {
        self.runbook.step(step).ok_or_else(|| {
            let ids: Vec<&str> = self.runbook.steps.iter().map(|s| s.id.as_str()).collect();
            Failure::new(
                2,
                format!(
                    "no step `{}`; the steps are: {}",
                    sanitize(step),
                    ids.join(", ")
                ),
            )
        })
    }

    pub fn mailbox(&self, address: &str) -> Result<String, Failure> {
        self.plan
            .mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
            .map(|m| m.address.clone())
            .ok_or_else(|| {
                Failure::new(
                    2,
                    format!("{} is not a mailbox of this plan", sanitize(address)),
                )
            })
    }
}

/// What a one-shot command measured live; empty offline.
#[derive(Debug, Default)]
pub struct Observations {
    pub dns: Option<DnsSnapshot>,
    pub mail: Option<Vec<crate::mail::MailboxProbe>>,
    /// Why the mailboxes were not probed, when they could not be.
    pub mail_note: Option<String>,
}
