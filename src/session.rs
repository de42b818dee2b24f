//! What a one-shot command (and the autopilot) evaluates against: the plan,
//! its runbook and timeline, the journal and what one live round observed;
//! and the error that ends a command, with its exit code.

use crate::step::StepId;
use std::io;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::check::Check;
use crate::clock::Clock;
use crate::detach::DetachError;
use crate::dns::DnsSnapshot;
use crate::journal::{Driver, DriverLock, Entry, History, Journal, JournalError, Replay};
use crate::mail::MailError;
use crate::mail::credentials::CredentialError;
use crate::plan::{Plan, PlanErrors, Severity};
use crate::recorder::Recorder;
use crate::runbook::eval::Inputs;
use crate::runbook::timeline::{self, Timeline};
use crate::runbook::{Evaluation, Runbook, StepDef, evaluate};
use crate::sanitize::sanitize;
use crate::smtp::SmtpProbe;

/// Why a command ended without doing what it was asked, with the exit code the
/// README documents. Expected failures are told to the operator as one plain
/// message (`cutover: …`); the few that mean a bug or a broken system
/// ([`CommandFailure::is_expected`] is false) are reported with their causes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandFailure {
    /// The plan does not load: every diagnostic as FILE:LINE:COLUMN (exit 2).
    #[error(transparent)]
    InvalidPlan(PlanErrors),
    /// `cutover check` found errors, already listed on stdout; says how many (exit 2).
    #[error("{} in the plan", crate::units::count(count_errors(.0) as u64, "error", "errors"))]
    PlanHasErrors(PlanErrors),
    /// The command line asks for what cannot be; the message says what to write instead (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No step has this id; the message lists the ids there are (exit 2).
    #[error("no step `{}`; the steps are: {}", sanitize(.step), .known.join(", "))]
    UnknownStep { step: String, known: Vec<String> },
    /// The address is not one of the plan's mailboxes (exit 2).
    #[error("{} is not a mailbox of this plan", sanitize(.0))]
    UnknownMailbox(String),
    /// `cutover init` would overwrite a file without `--force` (exit 2).
    #[error("{} exists; use --force to overwrite it, or -o to write elsewhere", .0.display())]
    WouldOverwrite(PathBuf),
    /// A file could not be written (exit 2).
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// A step's checks do not hold, so its confirmation is refused (exit 1).
    #[error(
        "refused: {what} cannot be confirmed while these checks do not hold:\n{}\
Fix them, or confirm anyway with --override \"REASON\" (the reason is journaled).{}",
        blocker_lines(.blockers),
        if *.offline { " Without --offline, cutover measures the live checks." } else { "" }
    )]
    Refused {
        /// The step, and the mailbox for a per-mailbox tick ("clients-configured for a@x").
        what: String,
        /// The checks that do not hold.
        blockers: Vec<Check>,
        /// Whether live checks were left unmeasured (`--offline`).
        offline: bool,
    },
    /// `cutover rollback` is not possible now: the message says why (exit 1).
    #[error("refused: {0}")]
    RollbackRefused(crate::runbook::rollback::Refusal),
    /// Another process drives this migration (holds the cockpit's driver lock) (exit 1).
    #[error(
        "refused: this migration is driven by {0}; confirm from that cockpit, or ask its operator"
    )]
    DrivenElsewhere(Driver),
    /// The journal could not be read or appended to; nothing was recorded (exit 1).
    #[error("{}{}", .0, journal_hint(.0))]
    Journal(#[from] JournalError),
    /// `sync` needs credentials and the plan names none (exit 2).
    #[error(
        "the plan has no [credentials]: add `secrets_file = \"secrets.toml\"` (or a password_command) to copy mail"
    )]
    NoCredentials,
    /// The plan's credentials could not be read (exit 2).
    #[error("cannot read the credentials: {0}")]
    Credentials(#[source] CredentialError),
    /// `sync --detach` could not start the copy in the background (exit 2).
    #[error(transparent)]
    Detach(#[from] DetachError),
    /// `sync` ran, but not every mailbox is verified complete (dry run: could be looked at) (exit 1).
    #[error(
        "{unfinished} of {total} mailbox(es) {}; the table above says why",
        if *.dry_run { "could not be looked at" } else { "not verified complete" }
    )]
    Incomplete {
        unfinished: usize,
        total: usize,
        dry_run: bool,
    },
    /// `sync`: a server refused a login, or the credentials for it could not be had (exit 3).
    #[error("{0}")]
    Login(MailError),
    /// `sync`: a server could not be reached, or its TLS failed (exit 4).
    #[error("{0}")]
    Unreachable(MailError),
    /// `archive`: the plan has no `[archive] dir` and no directory was given (exit 2).
    #[error(
        "the plan has no [archive]: add `[archive]` with `dir = \"cutover-archive\"` (or give `--verify DIR`)"
    )]
    NoArchive,
    /// `archive`: the archive cannot be written or read, is busy, or does not fit (exit 1).
    #[error(transparent)]
    Archive(#[from] crate::mail::archive::ArchiveError),
    /// `archive --verify` found files or folders that do not match (listed above) (exit 1).
    #[error("the archive did not verify: {problems} problem(s), listed above")]
    ArchiveUnverified { problems: usize },
    /// `archive`: some mailboxes could not be archived completely (the table above says why) (exit 1).
    #[error("{unfinished} of {total} mailbox(es) not archived completely; the lines above say why")]
    ArchiveIncomplete { unfinished: usize, total: usize },
    /// Unexpected: the I/O runtime could not start (exit 1).
    #[error("cannot start the I/O runtime")]
    Runtime(#[source] io::Error),
    /// Unexpected: a value could not be written as JSON (exit 1).
    #[error("cannot encode JSON")]
    Json(#[source] serde_json::Error),
    /// Unexpected: the cockpit stopped with an error (`tui::TuiError`, which lives a layer up) (exit 1).
    #[error("the cockpit stopped")]
    Cockpit(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl CommandFailure {
    /// The process's exit code: 1 refused or incomplete, 2 invalid plan or usage,
    /// 3 a login failed, 4 a server unreachable (as the README documents).
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandFailure::InvalidPlan(_)
            | CommandFailure::PlanHasErrors(_)
            | CommandFailure::Usage(_)
            | CommandFailure::UnknownStep { .. }
            | CommandFailure::UnknownMailbox(_)
            | CommandFailure::WouldOverwrite(_)
            | CommandFailure::Write { .. }
            | CommandFailure::NoCredentials
            | CommandFailure::Credentials(_)
            | CommandFailure::NoArchive
            | CommandFailure::Detach(_) => 2,
            CommandFailure::Refused { .. }
            | CommandFailure::RollbackRefused(_)
            | CommandFailure::DrivenElsewhere(_)
            | CommandFailure::Journal(_)
            | CommandFailure::Incomplete { .. }
            | CommandFailure::Archive(_)
            | CommandFailure::ArchiveUnverified { .. }
            | CommandFailure::ArchiveIncomplete { .. }
            | CommandFailure::Runtime(_)
            | CommandFailure::Json(_)
            | CommandFailure::Cockpit(_) => 1,
            CommandFailure::Login(_) => 3,
            CommandFailure::Unreachable(_) => 4,
        }
    }

    /// Whether this is an outcome an operator can act on from its message alone
    /// (false: a bug or a broken system, worth a report with every cause).
    pub fn is_expected(&self) -> bool {
        !matches!(
            self,
            CommandFailure::Runtime(_) | CommandFailure::Json(_) | CommandFailure::Cockpit(_)
        )
    }
}

fn count_errors(errors: &PlanErrors) -> usize {
    errors
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

fn blocker_lines(blockers: &[Check]) -> String {
    blockers
        .iter()
        .map(|c| {
            format!(
                "  {} {} ({}): {}\n",
                c.status.mark(),
                c.id,
                c.status.as_str(),
                sanitize(&c.evidence)
            )
        })
        .collect()
}

fn journal_hint(e: &JournalError) -> &'static str {
    if e.is_disk_full() {
        " — free some disk space; nothing was recorded"
    } else {
        " — nothing was recorded"
    }
}

/// What the commands evaluate against: the plan, its runbook and timeline, the journal.
pub(crate) struct Session {
    pub(crate) plan: Plan,
    pub(crate) runbook: Runbook,
    pub(crate) timeline: Timeline,
    /// The journal, its history, and the one writer of facts.
    pub(crate) recorder: Recorder,
}

impl Session {
    /// Reads the journal beside the plan (warning about a torn or bad line) and folds it.
    pub(crate) fn open(plan: &Plan) -> Result<Session, CommandFailure> {
        let runbook = Runbook::for_plan(plan);
        let timeline = timeline::build(plan, &runbook);
        let (recorder, replay) = Recorder::open(plan)?;
        warn_about_the_journal(recorder.journal(), &replay);
        Ok(Session {
            plan: plan.clone(),
            runbook,
            timeline,
            recorder,
        })
    }

    /// Everything the journal holds so far.
    pub(crate) fn history(&self) -> &History {
        self.recorder.history()
    }

    /// Appends one line (a confirmation, a note) and folds it into the history.
    pub(crate) fn append(&mut self, entry: &Entry) -> Result<(), CommandFailure> {
        Ok(self.recorder.append(entry)?)
    }

    /// Evaluates every step against the journal and what was observed.
    pub(crate) fn evaluate(&self, now: Timestamp, observed: &Observations) -> Evaluation {
        evaluate(&Inputs {
            plan: &self.plan,
            runbook: &self.runbook,
            timeline: &self.timeline,
            history: self.recorder.history(),
            dns: observed.dns.as_ref(),
            mail: observed.mail.as_deref(),
            now,
        })
    }

    /// One round of live observation (nothing when offline). First-seen
    /// facts are journaled and folded into the history before evaluation.
    pub(crate) fn observe(
        &mut self,
        clock: &dyn Clock,
        offline: bool,
    ) -> Result<Observations, CommandFailure> {
        if offline {
            return Ok(Observations::default());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CommandFailure::Runtime)?;
        // Without credentials the mailbox checks stay unknown, and the note says why.
        let (credentials, mail_note) = match &self.plan.credentials {
            None => (
                None,
                Some("the plan has no [credentials]: mailbox checks stay unknown".to_string()),
            ),
            Some(c) => match crate::mail::CredentialSource::new(Some(c)) {
                Ok(source) => (Some(source), None),
                Err(e) => (None, Some(format!("mailbox checks stay unknown: {e}"))),
            },
        };
        // DNS and mailboxes are measured at the same time: a one-shot command takes about one timeout.
        let (snapshot, probes) = runtime.block_on(async {
            let probes = async {
                match &credentials {
                    Some(creds) => {
                        Some(crate::mail::probe_all_once(&self.plan, creds, clock).await)
                    }
                    None => None,
                }
            };
            tokio::join!(crate::dns::one_round(&self.plan, clock), probes)
        });
        self.recorder.dns_round(&snapshot)?;
        if let Some(probes) = &probes {
            self.recorder.mailbox_probes(probes, clock.now(), None)?;
        }
        Ok(Observations {
            dns: Some(snapshot),
            mail: probes,
            mail_note,
        })
    }

    /// Asks the new MX about every address of the plan (`status --probe-smtp`, `confirm
    /// add-new-mx`) and journals the answers when they changed or the journaled ones are
    /// an hour old. `Ok(Err(why))`: the probe could not start (its TLS trust anchors).
    pub(crate) fn probe_smtp(
        &mut self,
        clock: &dyn Clock,
    ) -> Result<Result<SmtpProbe, String>, CommandFailure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CommandFailure::Runtime)?;
        let probe = match runtime.block_on(crate::smtp::steps::probe_plan(&self.plan, clock)) {
            Ok(probe) => probe,
            Err(e) => return Ok(Err(format!("the new MX was not asked: {e}"))),
        };
        self.recorder.smtp_probe(&probe, clock.now())?;
        Ok(Ok(probe))
    }

    /// Journals the automatic steps this evaluation shows done for the first time, and
    /// evaluates again so the result reflects the journal.
    pub(crate) fn record_observed_steps(
        &mut self,
        eval: Evaluation,
        now: Timestamp,
        observed: &Observations,
    ) -> Result<Evaluation, CommandFailure> {
        if self.recorder.observed_steps(&eval, now)?.is_empty() {
            return Ok(eval);
        }
        Ok(self.evaluate(now, observed))
    }

    /// Refuses while another process drives (holds the cockpit's driver lock).
    pub(crate) fn ensure_not_observing(&self) -> Result<(), CommandFailure> {
        if let Some(driver) = DriverLock::current(self.recorder.journal().path())?
            && driver.pid != std::process::id()
        {
            return Err(CommandFailure::DrivenElsewhere(driver));
        }
        Ok(())
    }

    /// The runbook's step with this id.
    /// A step of the runbook as the journal has it (with the rollback steps while a
    /// rollback stands).
    pub(crate) fn step_def(&self, step: &str) -> Result<StepDef, CommandFailure> {
        let runbook = crate::runbook::rollback::effective(&self.runbook, self.history());
        runbook
            .step(&StepId::parse(step))
            .cloned()
            .ok_or_else(|| CommandFailure::UnknownStep {
                step: step.to_string(),
                known: runbook.steps.iter().map(|s| s.id.to_string()).collect(),
            })
    }

    /// The plan's spelling of a mailbox address, matched without regard to case.
    pub(crate) fn mailbox(&self, address: &str) -> Result<String, CommandFailure> {
        self.plan
            .mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
            .map(|m| m.address.clone())
            .ok_or_else(|| CommandFailure::UnknownMailbox(address.to_string()))
    }
}

/// Replays the journal, warning on stderr about a torn last line (set aside) or a line
/// that is not a valid entry (skipped).
pub(crate) fn read_journal(journal: &Journal) -> Result<Replay, CommandFailure> {
    let replay = journal.replay()?;
    warn_about_the_journal(journal, &replay);
    Ok(replay)
}

/// Tells the operator on stderr about a torn last line and every line skipped.
fn warn_about_the_journal(journal: &Journal, replay: &Replay) {
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
}

/// What a one-shot command measured live; empty offline.
#[derive(Debug, Default)]
pub(crate) struct Observations {
    pub(crate) dns: Option<DnsSnapshot>,
    pub(crate) mail: Option<Vec<crate::mail::MailboxProbe>>,
    /// Why the mailboxes were not probed, when they could not be.
    pub(crate) mail_note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Kind, Status};
    use crate::mail::Place;
    use crate::plan::WhichSide;
    use crate::plan::load::Diagnostic;

    fn plan_errors() -> PlanErrors {
        PlanErrors {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                file: "cutover.toml".into(),
                line: 3,
                column: 12,
                message: "unknown time zone".into(),
                instead: String::new(),
            }],
        }
    }

    fn mail_error(auth: bool) -> MailError {
        let place = Place::new("alice@example.com", WhichSide::New, "imaps://new:993");
        if auth {
            MailError::Auth {
                place,
                login: "alice".into(),
                detail: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
            }
        } else {
            MailError::Unreachable {
                place,
                detail: "connection refused".into(),
            }
        }
    }

    fn io_error() -> io::Error {
        io::Error::other("no space")
    }

    #[test]
    fn every_failure_has_its_documented_exit_code() {
        let driver = Driver {
            user: "eve".into(),
            pid: 4242,
            host: "jump".into(),
            since: Timestamp::UNIX_EPOCH,
        };
        let cases: Vec<(CommandFailure, u8, bool)> = vec![
            (CommandFailure::InvalidPlan(plan_errors()), 2, true),
            (CommandFailure::PlanHasErrors(plan_errors()), 2, true),
            (
                CommandFailure::Usage("--override needs a reason".into()),
                2,
                true,
            ),
            (
                CommandFailure::UnknownStep {
                    step: "lower".into(),
                    known: vec!["lower-ttl".into()],
                },
                2,
                true,
            ),
            (CommandFailure::UnknownMailbox("x@y".into()), 2, true),
            (
                CommandFailure::WouldOverwrite("cutover.toml".into()),
                2,
                true,
            ),
            (
                CommandFailure::Write {
                    path: "cutover.toml".into(),
                    source: io_error(),
                },
                2,
                true,
            ),
            (CommandFailure::NoCredentials, 2, true),
            (
                CommandFailure::Credentials(CredentialError::Missing {
                    login: "alice".into(),
                    side: "old",
                }),
                2,
                true,
            ),
            (
                CommandFailure::Detach(DetachError::Spawn(io_error())),
                2,
                true,
            ),
            (
                CommandFailure::Refused {
                    what: "lower-ttl".into(),
                    blockers: vec![],
                    offline: true,
                },
                1,
                true,
            ),
            (CommandFailure::DrivenElsewhere(driver), 1, true),
            (
                CommandFailure::Journal(JournalError::NoDirectory {
                    path: "/gone/cutover.journal".into(),
                }),
                1,
                true,
            ),
            (
                CommandFailure::Incomplete {
                    unfinished: 1,
                    total: 2,
                    dry_run: false,
                },
                1,
                true,
            ),
            (CommandFailure::Login(mail_error(true)), 3, true),
            (CommandFailure::Unreachable(mail_error(false)), 4, true),
            (CommandFailure::Runtime(io_error()), 1, false),
            (
                CommandFailure::Json(serde_json::from_str::<u8>("x").expect_err("not JSON")),
                1,
                false,
            ),
            (CommandFailure::Cockpit(Box::new(io_error())), 1, false),
        ];
        for (failure, code, expected) in cases {
            assert_eq!(failure.exit_code(), code, "{failure:?}");
            assert_eq!(failure.is_expected(), expected, "{failure:?}");
        }
    }

    #[test]
    fn messages_read_as_the_commands_always_said_them() {
        assert_eq!(
            CommandFailure::UnknownStep {
                step: "lower\x1b[2J".into(),
                known: vec!["lower-ttl".into(), "spf-add-new".into()],
            }
            .to_string(),
            "no step `lower\\u{1b}[2J`; the steps are: lower-ttl, spf-add-new"
        );
        assert_eq!(
            CommandFailure::PlanHasErrors(plan_errors()).to_string(),
            "1 error in the plan"
        );
        assert_eq!(
            CommandFailure::InvalidPlan(plan_errors()).to_string(),
            "cutover.toml:3:12: unknown time zone\n1 error: the plan was not loaded"
        );
        let refused = CommandFailure::Refused {
            what: "spf-add-new".into(),
            blockers: vec![Check::new(
                "done:lower-ttl",
                Kind::Gate,
                Status::Fail,
                "lower-ttl is not done yet (ready)",
            )],
            offline: true,
        };
        assert_eq!(
            refused.to_string(),
            "refused: spf-add-new cannot be confirmed while these checks do not hold:\n  \
✗ done:lower-ttl (fail): lower-ttl is not done yet (ready)\n\
Fix them, or confirm anyway with --override \"REASON\" (the reason is journaled). \
Without --offline, cutover measures the live checks."
        );
        assert_eq!(
            CommandFailure::Journal(JournalError::NoDirectory {
                path: "/gone/cutover.journal".into()
            })
            .to_string(),
            "the journal's directory /gone/cutover.journal does not exist (is the plan file's directory right?) — nothing was recorded"
        );
        assert_eq!(
            CommandFailure::Login(mail_error(true)).to_string(),
            "alice@example.com on the new server (imaps://new:993): login refused for alice: [AUTHENTICATIONFAILED] Authentication failed."
        );
    }
}
