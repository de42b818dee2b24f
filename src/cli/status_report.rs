//! `status --json` as types: the whole document is one [`StatusReport`], and
//! `assets/status.schema.json` (printed by `cutover status --json-schema`) is generated from
//! it, so the interface operators' scripts read is written down once, here.
//!
//! The evaluation's own types are reused where they serialise as the document says (checks,
//! alarms, the schedule, the DNS round, the host card); a step and the next step are copied
//! into [`StepReport`] and [`NextReport`] so that their times carry a schema.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::check::Check;
use crate::dns::host_card::HostCard;
use crate::dns::watch::DnsSnapshot;
use crate::mail::probe::SideProbe;
use crate::mail::sync::estimate::Rate;
use crate::runbook::Mode;
use crate::runbook::eval::{Alarm, Next, Schedule, StepState, StepStatus, Ticks};
use crate::smtp::model::{AddressAnswer, HostReport};

/// The document's version. A script checks it before reading: it goes up when a key is
/// removed or changes meaning; keys may be added without it.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A step's id as journals, the runbook and the command line spell it (e.g. `lower-ttl`).
pub(crate) type StepName = crate::step::StepId;

/// What `cutover status --json` prints: every step's state and what to do next, with
/// the DNS round, the mailboxes and the new MX's SMTP answers it was decided from.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "cutover status --json")]
pub(crate) struct StatusReport {
    /// This document's version (see the README): 1.
    pub(crate) schema_version: u32,
    /// The mail domain that moves.
    pub(crate) domain: String,
    /// When the status was taken (RFC 3339).
    pub(crate) now: String,
    /// The working day now falls on: 1–3, 0 before day 1, 4 after day 3.
    pub(crate) day: u8,
    /// The raised alarms, leading everything else (empty when none).
    pub(crate) alarms: Vec<Alarm>,
    /// Every step of the runbook (and the plan's own), in order.
    pub(crate) steps: Vec<StepReport>,
    /// What to do now; `null` when every step is done.
    pub(crate) next: Option<NextReport>,
    /// The next step ahead of or behind the timeline (advice); absent when every step is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) schedule: Option<Schedule>,
    /// The DNS round this status was decided from; `null` offline.
    pub(crate) dns: Option<DnsSnapshot>,
    /// One row per mailbox of the plan, in plan order.
    pub(crate) mailboxes: Vec<MailboxRow>,
    /// One row per new MX host: what the SMTP probe saw, or why it was not asked.
    pub(crate) smtp: Vec<SmtpHost>,
    /// "At your DNS host now" for the next step; `null` when it changes nothing there.
    pub(crate) dns_host_card: Option<HostCard>,
    /// Seconds to copy every mailbox, `concurrency` at once; `null` while a size is unmeasured.
    pub(crate) copy_estimate_s: Option<u64>,
    /// The copy rate the estimates assume, and whether a copy measured it.
    pub(crate) copy_rate: Rate,
    /// The last canary per route (per MX host for direct ones), from the journal: where it
    /// landed, its folder, delay, hops and verdict; empty before the first `cutover canary`.
    pub(crate) canaries: Vec<crate::canary::CanaryResult>,
    /// Why mail flow is not proven and how to set it up: present only without `[canary]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mail_flow_note: Option<String>,
}

/// One step, evaluated.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StepReport {
    pub(crate) id: StepName,
    /// The working day the timeline lays it on (1–3).
    pub(crate) day: u8,
    pub(crate) title: String,
    pub(crate) state: StepState,
    /// Who carries it out.
    pub(crate) mode: Mode,
    /// Its gate and outcome checks, each with its evidence.
    pub(crate) checks: Vec<Check>,
    /// When every failing check clears by itself (RFC 3339); `null` when the step does
    /// not wait on time.
    #[schemars(with = "Option<String>")]
    pub(crate) wait_until: Option<Timestamp>,
    /// Per-mailbox ticks, for a step done mailbox by mailbox; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mailboxes: Option<Ticks>,
    pub(crate) planned_start: String,
    pub(crate) planned_end: String,
}

impl From<StepStatus> for StepReport {
    fn from(s: StepStatus) -> StepReport {
        StepReport {
            id: s.id,
            day: s.day,
            title: s.title,
            state: s.state,
            mode: s.mode,
            checks: s.checks,
            wait_until: s.wait_until,
            mailboxes: s.mailboxes,
            planned_start: s.planned_start,
            planned_end: s.planned_end,
        }
    }
}

/// What to do now.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct NextReport {
    pub(crate) step: StepName,
    pub(crate) title: String,
    pub(crate) state: StepState,
    /// Whether it may start now.
    pub(crate) ready: bool,
    pub(crate) why: String,
    /// The checks that hold it back, gates first.
    pub(crate) blocked_by: Vec<Check>,
    /// When the only thing holding it back clears (RFC 3339); `null` when not waiting.
    #[schemars(with = "Option<String>")]
    pub(crate) wait_until: Option<Timestamp>,
    pub(crate) actions: Vec<String>,
    /// The exact zone-file lines to paste at the DNS host (lines starting `;` are instructions).
    pub(crate) records: Vec<String>,
    /// The records were built from the plan alone (offline): the live SPF record may hold more terms.
    pub(crate) records_from_plan_only: bool,
    /// Other steps that may be worked on at the same time.
    pub(crate) also_ready: Vec<StepName>,
    /// The raised alarm that leads (its id): `actions` and `records` are then its fix.
    pub(crate) alarm: Option<String>,
    /// Advice from what was observed, e.g. an MX jump from old to new between two rounds.
    pub(crate) warnings: Vec<String>,
}

impl From<Next> for NextReport {
    fn from(n: Next) -> NextReport {
        NextReport {
            step: n.step,
            title: n.title,
            state: n.state,
            ready: n.ready,
            why: n.why,
            blocked_by: n.blocked_by,
            wait_until: n.wait_until,
            actions: n.actions,
            records: n.records,
            records_from_plan_only: n.records_from_plan_only,
            also_ready: n.also_ready,
            alarm: n.alarm,
            warnings: n.warnings,
        }
    }
}

/// One mailbox: both sides as probed (offline, or when the probe could not run, every
/// login `unknown`), its copy, its copy estimate and what the new MX answered for it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct MailboxRow {
    pub(crate) address: String,
    pub(crate) old: SideProbe,
    pub(crate) new: SideProbe,
    /// Share of the old messages on the new side, from the last copy; `null` before any copy.
    pub(crate) synced_percent: Option<f64>,
    /// Whether most of the old INBOX is already in the new INBOX (a POP3 fetch runs);
    /// `null` when not measured.
    pub(crate) fetch_detected: Option<bool>,
    /// Present only when the mailbox was probed in this round.
    #[serde(flatten)]
    pub(crate) probed: Option<Probed>,
    /// Whether the last copy verified every folder; `null` before any copy.
    pub(crate) verified: Option<bool>,
    /// Bytes on the old server in the folders a copy would copy; `null` when not measured.
    pub(crate) old_bytes: Option<u64>,
    /// Per new MX host and address of the mailbox (its aliases included): accepted or not.
    pub(crate) new_mx: Vec<AddressAnswer>,
    /// Seconds to copy this mailbox; `null` while its `old_bytes` is unmeasured.
    pub(crate) copy_estimate_s: Option<u64>,
}

/// The keys of a mailbox row that only a probe of it gives.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Probed {
    /// The share behind `fetch_detected`, 0.0–1.0; `null` when not measured.
    pub(crate) fetch_share: Option<f64>,
    /// When the mailbox was probed (RFC 3339).
    #[schemars(with = "String")]
    pub(crate) probed_at: Timestamp,
}

/// One new MX host in `smtp[]`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SmtpHost {
    /// What the probe (just now, or the journal's last) saw.
    Probed(ProbedHost),
    /// Not asked: every answer `null`, and `error` says why.
    NotAsked(UnaskedHost),
}

/// A probed host: the probe's report and how old it is.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ProbedHost {
    #[serde(flatten)]
    pub(crate) report: HostReport,
    /// How long ago the host was probed, e.g. `30 min`.
    pub(crate) age: String,
}

/// A host the probe has not asked: its answers are all `null`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct UnaskedHost {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) at: (),
    pub(crate) age: (),
    pub(crate) reachable: (),
    pub(crate) banner: (),
    pub(crate) starttls: (),
    pub(crate) cert_valid: (),
    pub(crate) cert_days_left: (),
    pub(crate) tls_error: (),
    pub(crate) accepts_anything: (),
    /// Why it was not asked, and how to ask it.
    pub(crate) error: String,
}

impl UnaskedHost {
    pub(crate) fn new(host: &str, port: u16, why: String) -> UnaskedHost {
        UnaskedHost {
            host: host.to_string(),
            port,
            at: (),
            age: (),
            reachable: (),
            banner: (),
            starttls: (),
            cert_valid: (),
            cert_days_left: (),
            tls_error: (),
            accepts_anything: (),
            error: why,
        }
    }
}

/// `assets/status.schema.json`: the JSON Schema (2020-12) of [`StatusReport`], as the
/// document is written (a key the serialiser may leave out is not required).
pub(crate) fn schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<StatusReport>()
}
