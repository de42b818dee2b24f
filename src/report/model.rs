//! The report's model: what every format shows, and the JSON document itself.
//!
//! Times are RFC 3339 instants in JSON; the renderers write them in the plan's time zone.
//! Text from servers, DNS and the operator is already sanitised here.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::Serialize;

/// The whole report (`report --format json`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Report {
    /// Bumped when a field changes meaning or goes away.
    pub schema_version: u32,
    /// The migrated domain.
    pub domain: String,
    /// The old and the new provider, as the plan names them.
    pub old_server: String,
    pub new_server: String,
    /// The plan's time zone, in which the other formats write times.
    pub timezone: String,
    /// The time of the journal's last line: what the report knows is as of then.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub as_of: Option<Timestamp>,
    /// Whether every step of the runbook is done (or overridden).
    pub finished: bool,
    pub summary: Summary,
    /// Every step of the runbook, in order.
    pub timeline: Vec<StepRow>,
    pub overrides: Vec<Override>,
    pub alarms: Vec<AlarmSpan>,
    /// The DNS records at each stage, as the journal holds them.
    pub dns: Vec<DnsStage>,
    pub mailboxes: Vec<MailboxRow>,
    /// The archive of the old server as its last verification journaled it (R19); null
    /// when no `archive --verify` is journaled.
    pub archive: Option<ArchiveSection>,
    /// Every canary the journal holds (R16), in the order sent: where it landed and its
    /// verdict; empty when none was sent.
    pub canaries: Vec<crate::canary::CanaryResult>,
    /// The way back (R18): every rollback decision, the steps of the last rollback and
    /// where they stand; the copy back per mailbox is in `mailboxes[]`. Null when no
    /// rollback was ever decided.
    pub rollback: Option<RollbackSection>,
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) zone: TimeZone,
}

/// What a manager reads in 30 seconds.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Summary {
    /// One sentence: finished, or in progress with the next step.
    pub standing: String,
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub planned_start: Option<Timestamp>,
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub planned_end: Option<Timestamp>,
    /// The journal's first line.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub actual_start: Option<Timestamp>,
    /// When the last step was done; null while in progress.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub actual_end: Option<Timestamp>,
    pub steps_done: usize,
    pub steps_total: usize,
    /// The step to do next; null when finished.
    pub next_step: Option<crate::step::StepId>,
    /// Messages on the old server at each mailbox's last copy, summed; null when no copy ran.
    pub old_messages: Option<u64>,
    /// How many mailboxes `old_messages` covers (a mailbox never copied is not counted).
    pub mailboxes_copied: usize,
    pub mailboxes_total: usize,
    /// Messages every copy run put on the new server, summed.
    pub copied: u64,
    /// Old messages found on the new server by each mailbox's last copy; null when no
    /// copy's verification is journaled.
    pub verified: Option<u64>,
    /// Old messages not on the new server at each mailbox's last copy; null when no copy ran.
    pub missing: Option<u64>,
    /// Where the missing messages are, per mailbox and folder.
    pub missing_folders: Vec<MissingFolder>,
    /// Mailboxes whose old INBOX changed after their last copy (new mail not copied).
    pub changed_after_copy: Vec<String>,
    pub overrides: usize,
    pub alarms: usize,
}

/// Old messages a copy did not find on the new server, in one folder.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MissingFolder {
    pub mailbox: String,
    pub folder: String,
    pub missing: u64,
}

/// One step: planned and actual times, who confirmed it, and its evidence as journaled.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StepRow {
    pub id: crate::step::StepId,
    pub title: String,
    pub day: u8,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub planned_start: Timestamp,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub planned_end: Timestamp,
    /// pending, ready, waiting, blocked, applied, done or overridden, as of the report.
    pub state: String,
    /// When the operator said the change was made.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub applied_at: Option<Timestamp>,
    /// When it was confirmed, overridden or observed done.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub done_at: Option<Timestamp>,
    /// The `operator` of the confirming journal line (`cutover (observed)` for automatic steps).
    pub by: Option<String>,
    /// confirmed, overridden or observed; null while not done.
    pub how: Option<String>,
    /// Per-mailbox steps: mailboxes ticked, of the plan's.
    pub ticked: Option<usize>,
    /// The checks recorded with the confirmation, as journaled.
    pub evidence: Vec<CheckLine>,
    /// An automatic step's evidence sentence, as journaled when it was observed done.
    pub observed: Option<String>,
}

impl StepRow {
    /// The state cell: how it was done (and that a rollback undid it), or its state.
    pub(crate) fn state_text(&self) -> String {
        match (&self.how, self.ticked) {
            (Some(how), _) if self.state == "rolled-back" => format!("{how}, rolled back"),
            (Some(how), _) => how.clone(),
            (None, Some(n)) => format!("{} ({n} ticked)", self.state),
            (None, None) => self.state.clone(),
        }
    }
}

/// One check as a journal line recorded it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CheckLine {
    pub check: String,
    /// pass, warn, fail or unknown.
    pub status: String,
    pub evidence: String,
}

/// A confirmation despite failing checks.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Override {
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: Timestamp,
    pub operator: String,
    pub step: String,
    pub mailbox: Option<String>,
    /// What the operator typed, verbatim (sanitised).
    pub reason: String,
    /// The checks that did not hold when it was confirmed.
    pub overrode: Vec<CheckLine>,
}

/// An alarm from its raising to its clearing, and what the journal says happened meanwhile.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AlarmSpan {
    /// mx-empty, mx-neither, spf-lost or ttl-ignored.
    pub id: String,
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub raised_at: Timestamp,
    /// Null while it is still raised.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub cleared_at: Option<Timestamp>,
    /// Raised to cleared, or to the report's `as_of` while still raised.
    pub duration_s: i64,
    /// What was observed when it was raised.
    pub evidence: String,
    /// The journal lines between raise and clear.
    pub entries: Vec<JournalLine>,
}

/// One journal line told in a sentence.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JournalLine {
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: Timestamp,
    /// The line's kind (`confirm`, `fact`, `sync`, …).
    pub kind: String,
    pub text: String,
}

/// The DNS records at one stage of the migration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DnsStage {
    /// before, lowered, switched, restored, or `after:<step>` for a step's own records.
    pub stage: String,
    pub title: String,
    /// When they were observed.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub at: Option<Timestamp>,
    /// The records as served, one per server (TTL and data when recorded).
    pub records: Vec<DnsRecord>,
    /// What this journal did not record for the stage; null when complete.
    pub not_recorded: Option<String>,
}

/// One record (or one TTL) as an authoritative server served it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DnsRecord {
    /// The authoritative server, or `all` when the journal holds one value for all of them.
    pub server: String,
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: Option<u32>,
    /// The record's data; null when only its TTL was recorded.
    pub data: Option<String>,
}

/// One mailbox (`report --format csv` has these columns, with these names).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MailboxRow {
    pub address: String,
    /// Messages on the old server at the last copy; null when no copy's verification is
    /// journaled (never copied, or a journal older than the `mail-copy-result` fact).
    pub old_messages: Option<u64>,
    /// Messages all copy runs put on the new server.
    pub copied: u64,
    /// Bytes all copy runs put on the new server.
    pub copied_bytes: u64,
    /// Old messages the last copy found on the new server.
    pub verified: Option<u64>,
    /// Old messages not on the new server at the last copy (0 when complete).
    pub skipped: Option<u64>,
    /// Why some were skipped, by folder; null when none were.
    pub skipped_why: Option<String>,
    /// verified, incomplete, failed, running, or null when never copied.
    pub copy_state: Option<String>,
    /// The newest message seen in the old INBOX.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub last_old_arrival: Option<Timestamp>,
    /// The old INBOX changed after the last copy.
    pub old_changed_after_copy: bool,
    /// A POP3 fetch into the new mailbox was seen before any copy; null when none was seen.
    pub pop3_fetch_seen: Option<bool>,
    /// After a rollback: messages every copy back since it appended to the old server;
    /// null when no copy back ran since the last rollback.
    pub copied_back: Option<u64>,
    /// After a rollback: how the last copy back ended (verified, incomplete, failed, or
    /// waiting for the POP3 tick); null when none ran.
    pub copy_back_state: Option<String>,
    /// After a rollback: messages that reached the new server since the switch and that the
    /// old server still lacked at the last copy back (0 when verified); null when none ran.
    pub copy_back_missing: Option<u64>,
}

/// The way back (R18), as the journal holds it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RollbackSection {
    /// rolling-back (the way back under way), staying (the migration ends on the old
    /// server) or retried (forward again since).
    pub outcome: String,
    /// One sentence: where the way back stands.
    pub standing: String,
    /// Every rollback decision in journal order: who, when, why.
    pub decisions: Vec<RollbackDecision>,
    /// The steps of the last rollback (and of staying on the old server, once decided),
    /// in order, with their states and evidence as journaled.
    pub steps: Vec<RollbackStep>,
}

/// One decision: to roll back, to go forward again, or to stay on the old server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RollbackDecision {
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: Timestamp,
    /// rollback, retry or stay.
    pub action: String,
    pub operator: String,
    /// What the operator typed, verbatim (sanitised).
    pub reason: String,
    /// The rollback steps a rollback called for; empty for retry and stay.
    pub steps: Vec<crate::step::StepId>,
}

/// What was journaled when a step was done, forward or back: the part of a step the
/// renderers list under "Evidence, as journaled".
pub(crate) struct Journaled<'a> {
    pub id: &'a crate::step::StepId,
    pub how: Option<&'a str>,
    pub done_at: Option<Timestamp>,
    pub by: Option<&'a str>,
    pub evidence: &'a [CheckLine],
    pub observed: Option<&'a str>,
}

impl Journaled<'_> {
    /// Whether there is anything to list.
    pub(crate) fn is_empty(&self) -> bool {
        self.evidence.is_empty() && self.observed.is_none()
    }
}

impl StepRow {
    pub(crate) fn journaled(&self) -> Journaled<'_> {
        Journaled {
            id: &self.id,
            how: self.how.as_deref(),
            done_at: self.done_at,
            by: self.by.as_deref(),
            evidence: &self.evidence,
            observed: self.observed.as_deref(),
        }
    }
}

impl RollbackStep {
    pub(crate) fn journaled(&self) -> Journaled<'_> {
        Journaled {
            id: &self.id,
            how: self.how.as_deref(),
            done_at: self.done_at,
            by: self.by.as_deref(),
            evidence: &self.evidence,
            observed: self.observed.as_deref(),
        }
    }
}

/// One step of the way back.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RollbackStep {
    pub id: crate::step::StepId,
    pub title: String,
    /// pending, ready, waiting, blocked, applied, done or overridden while the rollback
    /// stands; done or not-done once a retry ended it.
    pub state: String,
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub applied_at: Option<Timestamp>,
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub done_at: Option<Timestamp>,
    /// The `operator` of the confirming journal line.
    pub by: Option<String>,
    /// confirmed, overridden or observed; null while not done.
    pub how: Option<String>,
    /// Per-mailbox steps: mailboxes ticked.
    pub ticked: Option<usize>,
    /// The checks recorded with the confirmation, as journaled.
    pub evidence: Vec<CheckLine>,
    /// An automatic step's evidence sentence, as journaled when it was observed done.
    pub observed: Option<String>,
}

impl RollbackDecision {
    /// The decision as a table cell: "roll back (steps: …)", "forward again", "stay on the
    /// old server".
    pub(crate) fn label(&self) -> String {
        match self.action.as_str() {
            "rollback" => format!(
                "roll back (steps: {})",
                crate::step::StepId::join(&self.steps, ", ")
            ),
            "retry" => "forward again".to_string(),
            _ => "stay on the old server".to_string(),
        }
    }
}

impl RollbackStep {
    /// The state cell: how it was done, or its state.
    pub(crate) fn state_text(&self) -> String {
        match (&self.how, self.ticked) {
            (Some(how), _) => how.clone(),
            (None, Some(n)) => format!("{} ({n} ticked)", self.state),
            (None, None) => self.state.clone(),
        }
    }
}

impl Report {
    /// The mailboxes a copy back ran for since the last rollback.
    pub(crate) fn copied_back(&self) -> Vec<&MailboxRow> {
        self.mailboxes
            .iter()
            .filter(|m| m.copy_back_state.is_some())
            .collect()
    }
}

/// What the rollback section says when no copy back ran since the rollback.
pub(crate) const NO_COPY_BACK: &str =
    "No copy back has run since the rollback (`cutover sync --reverse`).";

/// The archive of the old server, as `cutover archive --verify` last journaled it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArchiveSection {
    /// When it was verified.
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub verified_at: Timestamp,
    /// The archive's directory.
    pub path: String,
    /// SHA-256 of `MANIFEST.sha256` as it was verified: the archive's fingerprint.
    pub manifest_sha256: String,
    /// Whether every file matched the manifest (and, online, every old message was archived).
    pub ok: bool,
    /// Whether the old server's messages were compared too (false: offline only).
    pub online: bool,
    /// Problems found, as many as there were.
    pub problem_count: u64,
    /// The first problems, each naming its file or folder.
    pub problems: Vec<String>,
    pub mailboxes: Vec<ArchiveMailbox>,
}

/// One mailbox as the archive holds it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArchiveMailbox {
    pub address: String,
    pub folders: u64,
    pub messages: u64,
    pub bytes: u64,
    /// Every old INBOX message with a UID below this is archived; null when not known.
    pub inbox_uidnext: Option<u32>,
    /// The old server's message count over every folder; null when verified offline.
    pub old_messages: Option<u64>,
}

impl ArchiveSection {
    /// One sentence: verified or not, how, when.
    pub(crate) fn standing(&self, r: &Report) -> String {
        let how = if self.online {
            "against its manifest and the old server"
        } else {
            "against its manifest only (offline)"
        };
        match self.ok {
            true => format!("Verified {how} on {}.", r.local(self.verified_at)),
            false => format!(
                "NOT verified {how} on {}: {}.",
                r.local(self.verified_at),
                crate::units::count(self.problem_count, "problem", "problems")
            ),
        }
    }
}

impl Report {
    /// A time in the plan's zone, as operators read it (`Tue 3 Mar 08:15 UTC`).
    pub(crate) fn local(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%a %-d %b %Y %H:%M %Z")
            .to_string()
    }

    /// `as_of` in the plan's zone, or "no journal yet".
    pub(crate) fn as_of_text(&self) -> String {
        self.as_of
            .map(|t| self.local(t))
            .unwrap_or_else(|| "before the first journal line".to_string())
    }
}

/// A mailbox's `skipped` cell: the count and why, or why it is unknown.
pub(crate) fn skipped_text(m: &MailboxRow) -> String {
    match (&m.skipped, &m.skipped_why) {
        (Some(n), Some(why)) => format!("{n}: {why}"),
        (Some(n), None) => n.to_string(),
        (None, _) if m.copied > 0 => "— (no copy's verification journaled)".to_string(),
        (None, _) => "— (never copied)".to_string(),
    }
}

impl Report {
    /// A time in the plan's zone, short, for tables (`Tue 3 Mar 08:15`).
    pub(crate) fn clock(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.zone.clone())
            .strftime("%a %-d %b %H:%M")
            .to_string()
    }

    /// The first line under the title: finished or in progress, and as of when.
    pub(crate) fn headline(&self) -> String {
        match self.finished {
            true => format!("Finished. As of {}.", self.as_of_text()),
            false => format!("In progress, as of {}.", self.as_of_text()),
        }
    }

    /// The summary as (label, value, stands out) rows, shared by the HTML and Markdown forms.
    pub(crate) fn summary_rows(&self) -> Vec<(String, String, bool)> {
        let s = &self.summary;
        let at = |t: Option<Timestamp>| t.map(|t| self.clock(t));
        let span = |from: Option<Timestamp>, to: Option<String>| match (at(from), to) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (Some(from), None) => from,
            (None, _) => "not started".to_string(),
        };
        let mut rows = vec![
            ("Domain".to_string(), self.domain.clone(), false),
            (
                "From → to".to_string(),
                format!("{} → {}", self.old_server, self.new_server),
                false,
            ),
            (
                "Planned".to_string(),
                span(s.planned_start, at(s.planned_end)),
                false,
            ),
            (
                "Actual".to_string(),
                span(
                    s.actual_start,
                    Some(at(s.actual_end).unwrap_or_else(|| "in progress".to_string())),
                ),
                false,
            ),
            ("Where it stands".to_string(), s.standing.clone(), true),
        ];
        if let Some(rollback) = &self.rollback {
            rows.push(("Rollback".to_string(), rollback.standing.clone(), true));
        }
        let unverified = match s.copied {
            0 => "no copy has run yet",
            _ => "this journal holds no copy's verification",
        };
        let copies = match s.mailboxes_copied {
            0 => unverified.to_string(),
            n if n == s.mailboxes_total => format!("all {n} mailboxes, at their last copy"),
            n => format!("{n} of {} mailboxes, at their last copy", s.mailboxes_total),
        };
        rows.push((
            "Messages on the old server".to_string(),
            match s.old_messages {
                Some(n) => format!("{n} ({copies})"),
                None => format!("unknown ({copies})"),
            },
            false,
        ));
        rows.push((
            "Copied to the new server".to_string(),
            s.copied.to_string(),
            false,
        ));
        rows.push((
            "Verified on the new server".to_string(),
            match s.verified {
                Some(n) => n.to_string(),
                None => format!("unknown: {unverified}"),
            },
            false,
        ));
        rows.push((
            "Old-server messages not on the new server at the last verified copy".to_string(),
            match s.missing {
                Some(0) => "0".to_string(),
                Some(n) => format!(
                    "{n}: {}",
                    s.missing_folders
                        .iter()
                        .map(|f| format!("{} {} {}", f.mailbox, f.folder, f.missing))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => format!("unknown: {unverified}"),
            },
            true,
        ));
        rows.push((
            "Old INBOXes changed after their last copy".to_string(),
            match s.changed_after_copy.len() {
                0 if s.mailboxes_copied == 0 => format!("unknown: {unverified}"),
                0 => "none".to_string(),
                _ => s.changed_after_copy.join(", "),
            },
            !s.changed_after_copy.is_empty(),
        ));
        rows.push((
            "Overrides".to_string(),
            s.overrides.to_string(),
            s.overrides > 0,
        ));
        rows.push(("Alarms".to_string(), s.alarms.to_string(), s.alarms > 0));
        rows
    }

    /// When a step happened, as a table cell: "Mon 2 Mar 08:05", or "—".
    pub(crate) fn when(&self, at: Option<Timestamp>) -> String {
        at.map(|t| self.clock(t)).unwrap_or_else(|| "—".to_string())
    }
}

/// A duration as operators read it ("35 min", "2 h 5 min").
pub(crate) fn duration_text(secs: i64) -> String {
    crate::units::duration_secs(u64::try_from(secs).unwrap_or(0))
}

/// A value or an empty cell.
pub(crate) fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "—".to_string())
}
