//! The guidance engine: every step's state from its checks, and what to do next.
//!
//! Pure: (plan, runbook, journal history, DNS round, mailbox probes, now) → [`Evaluation`].
//! `status`, the cockpit and the tests all read the same evaluation.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::check::{Check, Kind, Status};
use crate::dns::DnsSnapshot;
use crate::journal::history::History;
use crate::mail::MailboxProbe;
use crate::plan::Plan;
use crate::runbook::timeline::{self, Timeline};
use crate::runbook::{Mode, Runbook, StepDef, template};
use crate::step::StepId;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// An earlier step is not done.
    Pending,
    /// It may start now.
    Ready,
    /// Only a time-based gate is outstanding (`wait_until` says when).
    Waiting,
    /// A gate check fails.
    Blocked,
    /// The operator marked the change as made; the outcome is not yet seen.
    Applied,
    Done,
    /// Confirmed although a check failed, with a typed reason.
    Overridden,
    /// A forward step from `add-new-mx` on, undone by a rollback that stands (R18).
    #[serde(rename = "rolled-back")]
    RolledBack,
}

impl StepState {
    /// The glyph shown beside a step in the timeline and in `status`.
    pub fn glyph(self) -> &'static str {
        match self {
            StepState::Pending => "·",
            StepState::Ready => "▶",
            StepState::Waiting => "⧗",
            StepState::Blocked => "✗",
            StepState::Applied => "…",
            StepState::Done => "✓",
            StepState::Overridden => "!",
            StepState::RolledBack => "↶",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Ready => "ready",
            StepState::Waiting => "waiting",
            StepState::Blocked => "blocked",
            StepState::Applied => "applied",
            StepState::Done => "done",
            StepState::Overridden => "overridden",
            StepState::RolledBack => "rolled-back",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, StepState::Done | StepState::Overridden)
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Ticks {
    pub ticked: usize,
    pub total: usize,
}

/// One step, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    pub id: StepId,
    pub day: u8,
    pub title: String,
    pub state: StepState,
    pub mode: Mode,
    pub checks: Vec<Check>,
    /// When every failing check clears by itself (null when a step does not wait on time).
    pub wait_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailboxes: Option<Ticks>,
    pub planned_start: String,
    pub planned_end: String,
}

impl StepStatus {
    pub fn gates_hold(&self) -> bool {
        self.checks
            .iter()
            .filter(|c| c.kind == Kind::Gate)
            .all(|c| c.status.holds())
    }
}

/// What to do now.
#[derive(Debug, Clone, Serialize)]
pub struct Next {
    pub step: StepId,
    pub title: String,
    pub state: StepState,
    pub ready: bool,
    pub why: String,
    pub blocked_by: Vec<Check>,
    /// When the only thing holding the step back clears (null when not waiting).
    pub wait_until: Option<Timestamp>,
    pub actions: Vec<String>,
    /// The exact zone-file lines to paste at the DNS host (lines starting `;` are instructions).
    pub records: Vec<String>,
    /// The records were built from the plan alone (offline): the live SPF record may hold more terms.
    pub records_from_plan_only: bool,
    /// Other steps that may be worked on at the same time.
    pub also_ready: Vec<StepId>,
    /// The raised alarm that leads (its id): `actions` and `records` are then its fix.
    pub alarm: Option<String>,
    /// Advice from what was observed, e.g. R8's MX jump from old to new.
    pub warnings: Vec<String>,
}

/// An alarm's fix: what to do now, and the exact records to paste (as `next.records`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Fix {
    pub action: String,
    pub records: Vec<String>,
}

/// A raised alarm, as `status --json` lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Alarm {
    pub id: String,
    pub since: String,
    pub evidence: String,
    pub fix: Fix,
}

/// Ahead of or behind the timeline (advice, never a gate).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Schedule {
    pub step: StepId,
    pub planned_start: String,
    /// Positive: behind the plan by this many minutes; negative: ahead.
    pub behind_minutes: i64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub domain: String,
    pub now: String,
    /// The working day now falls on: 1–3, 0 before day 1, 4 after day 3.
    pub day: u8,
    /// The raised alarms, leading everything else (empty when none).
    pub alarms: Vec<Alarm>,
    pub steps: Vec<StepStatus>,
    pub next: Option<Next>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

impl Evaluation {
    pub fn step(&self, id: &StepId) -> Option<&StepStatus> {
        self.steps.iter().find(|s| &s.id == id)
    }
}

/// Everything a check may read.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub runbook: &'a Runbook,
    pub timeline: &'a Timeline,
    pub history: &'a History,
    /// The latest DNS round; `None` offline or before the first round.
    pub dns: Option<&'a DnsSnapshot>,
    /// The latest mailbox probes; `None` offline or before the first probe.
    pub mail: Option<&'a [MailboxProbe]>,
    pub now: Timestamp,
}

/// Evaluates every step. The journal and the clock answer some checks, the
/// DNS round and the mailbox probes others (with the journal's facts). Any
/// check the runbook names that nothing answers is `unknown`, never green.
pub fn evaluate(inputs: &Inputs<'_>) -> Evaluation {
    let Inputs {
        plan,
        runbook,
        timeline,
        history,
        dns,
        mail,
        now,
    } = *inputs;
    // While a rollback stands, its steps follow the forward ones, which it undoes (R18).
    let runbook = &*super::rollback::effective(runbook, history);
    let inputs = &Inputs { runbook, ..*inputs };
    let rollback = super::rollback::active(history);
    let mut steps: Vec<StepStatus> = Vec::with_capacity(runbook.steps.len());
    for def in &runbook.steps {
        let mut checks = Vec::new();
        for after in &def.after {
            let state = steps.iter().find(|s| &s.id == after).map(|s| s.state);
            checks.push(predecessor_check(after, state));
        }
        let applied_at = history.step(&def.id).and_then(|r| r.applied_at);
        let mut live_checks =
            crate::dns::step_checks(&def.id, plan, dns, &history.dns, applied_at, now);
        live_checks.extend(crate::mail::steps::step_checks(
            &def.id, plan, mail, history, now,
        ));
        live_checks.extend(crate::smtp::steps::step_checks(&def.id, plan, history, now));
        live_checks.extend(crate::canary::checks::step_checks(
            plan,
            &def.id,
            history,
            rollback.as_ref().map(|r| r.at),
            now,
        ));
        for (ids, kind) in [(&def.gate, Kind::Gate), (&def.outcome, Kind::Outcome)] {
            for id in ids {
                let check = builtin_check(id, kind, def, inputs)
                    .or_else(|| {
                        live_checks
                            .iter()
                            .find(|c| &c.id == id)
                            .map(|c| Check { kind, ..c.clone() })
                    })
                    .unwrap_or_else(|| {
                        Check::new(
                            id,
                            kind,
                            Status::Unknown,
                            "not measured: needs live DNS or mailbox data",
                        )
                    });
                checks.push(check);
            }
        }
        let record = history.step(&def.id);
        let ticks = def.per_mailbox.then(|| Ticks {
            ticked: record.map_or(0, |r| {
                plan.mailboxes
                    .iter()
                    .filter(|m| r.ticks.contains_key(&m.address.to_lowercase()))
                    .count()
            }),
            total: plan.mailboxes.len(),
        });
        let preds_done = def.after.iter().all(|a| {
            steps
                .iter()
                .find(|s| &s.id == a)
                .is_some_and(|s| s.state.is_finished())
        });
        let (state, wait_until) = if rollback.is_some() && def.id.rolled_back_by_rollback() {
            (StepState::RolledBack, None)
        } else {
            step_state(def, &checks, record, preds_done)
        };
        let planned = timeline.step(&def.id);
        steps.push(StepStatus {
            id: def.id.clone(),
            day: def.day,
            title: template::render(&def.title, &vars(plan, timeline)),
            state,
            mode: def.mode,
            checks,
            wait_until,
            mailboxes: ticks,
            planned_start: planned
                .map(|p| timeline::rfc3339_string(&p.start))
                .unwrap_or_default(),
            planned_end: planned
                .map(|p| timeline::rfc3339_string(&p.end))
                .unwrap_or_default(),
        });
    }
    let now_zoned = now
        .round(jiff::Unit::Second)
        .unwrap_or(now)
        .to_zoned_datetime(plan.timezone.clone());
    let alarms = alarms(plan, history, dns);
    let vars = replanned_vars(plan, runbook, timeline, &steps, history);
    let mut next = next_step(plan, runbook, &vars, &steps, dns);
    if let Some(next) = next.as_mut()
        && next.step == StepId::DkimSpfFinal
    {
        // The selector the provider really signs with, found on the outbound canary.
        next.actions
            .extend(crate::canary::checks::selector_guidance(plan, history));
    }
    if let Some(next) = next.as_mut() {
        // During a rollback the forward copy is not what is next: no bulk-copy reminder.
        if next.step != StepId::FinalCopy && rollback.is_none() {
            next.actions
                .extend(super::bulk_copy::reminder(plan, history, mail, &steps));
        }
        if let Some(alarm) = alarms.first() {
            next.alarm = Some(alarm.id.clone());
            next.actions = vec![alarm.fix.action.clone()];
            next.records = alarm.fix.records.clone();
            next.records_from_plan_only = dns.is_none();
        }
        next.warnings = warnings(plan, history);
    }
    let schedule = next.as_ref().and_then(|n| schedule(timeline, &n.step, now));
    Evaluation {
        domain: plan.domain.clone(),
        now: timeline::rfc3339_string(&now_zoned),
        day: timeline.day_of(&now_zoned),
        alarms,
        steps,
        next,
        schedule,
    }
}

fn vars(plan: &Plan, timeline: &Timeline) -> std::collections::HashMap<&'static str, String> {
    template::variables(plan, timeline.days.last().map(|d| d.date))
}

fn predecessor_check(after: &StepId, state: Option<StepState>) -> Check {
    let id = after.done_check();
    match state {
        Some(StepState::Done) => {
            Check::new(&id, Kind::Gate, Status::Pass, format!("{after} is done"))
        }
        Some(StepState::Overridden) => Check::new(
            &id,
            Kind::Gate,
            Status::Warn,
            format!("{after} was confirmed by override"),
        ),
        Some(s) => Check::new(
            &id,
            Kind::Gate,
            Status::Fail,
            format!("{after} is not done yet ({})", s.as_str()),
        ),
        None => Check::new(
            &id,
            Kind::Gate,
            Status::Fail,
            format!("{after} is not a step of this runbook"),
        ),
    }
}

/// The checks the journal and the clock answer alone.
fn builtin_check(id: &str, kind: Kind, def: &StepDef, inputs: &Inputs<'_>) -> Option<Check> {
    let Inputs {
        plan, history, now, ..
    } = *inputs;
    if let Some(check) = super::rollback::builtin_check(id, kind, plan, history, now) {
        return Some(check);
    }
    match id {
        super::bulk_copy::VERIFIED => Some(super::bulk_copy::verified(kind, plan, history)),
        "switch-24h-elapsed" => Some(match history.switch_at() {
            None => Check::new(
                id,
                kind,
                Status::Fail,
                "the switch has not happened: the old MX records are not yet removed",
            ),
            Some(at) => {
                let clears = at
                    .saturating_add(SignedDuration::from_hours(24))
                    .unwrap_or(at);
                if now >= clears {
                    Check::new(
                        id,
                        kind,
                        Status::Pass,
                        format!("24 h have passed since the switch at {}", local(plan, at)),
                    )
                } else {
                    Check::new(
                        id,
                        kind,
                        Status::Fail,
                        format!(
                            "the switch was at {}; 24 h pass at {} (R12)",
                            local(plan, at),
                            local(plan, clears)
                        ),
                    )
                    .until(clears)
                }
            }
        }),
        "every-mailbox-ticked" => {
            let record = history.step(&def.id);
            let missing: Vec<&str> = plan
                .mailboxes
                .iter()
                .filter(|m| {
                    !record.is_some_and(|r| r.ticks.contains_key(&m.address.to_lowercase()))
                })
                .map(|m| m.address.as_str())
                .collect();
            Some(if missing.is_empty() {
                Check::new(
                    id,
                    kind,
                    Status::Pass,
                    format!(
                        "{} ticked",
                        crate::units::all(plan.mailboxes.len() as u64, "mailbox", "mailboxes")
                    ),
                )
            } else {
                let shown: Vec<&str> = missing.iter().take(3).copied().collect();
                let more = if missing.len() > 3 {
                    format!(" and {} more", missing.len() - 3)
                } else {
                    String::new()
                };
                Check::new(
                    id,
                    kind,
                    Status::Fail,
                    format!(
                        "{} of {} not ticked yet: {}{more}",
                        missing.len(),
                        crate::units::count(plan.mailboxes.len() as u64, "mailbox", "mailboxes"),
                        shown.join(", ")
                    ),
                )
            })
        }
        _ => None,
    }
}

/// A time in the plan's zone, as operators read it.
pub fn local(plan: &Plan, at: Timestamp) -> String {
    at.to_zoned_datetime(plan.timezone.clone())
        .strftime("%a %-d %b %H:%M %Z")
        .to_string()
}

fn step_state(
    def: &StepDef,
    checks: &[Check],
    record: Option<&crate::journal::history::StepRecord>,
    preds_done: bool,
) -> (StepState, Option<Timestamp>) {
    if let Some(c) = record.and_then(|r| r.confirmed.as_ref()) {
        return if c.reason.is_some() {
            (StepState::Overridden, None)
        } else {
            (StepState::Done, None)
        };
    }
    let outcomes_hold = {
        let mut outcomes = checks.iter().filter(|c| c.kind == Kind::Outcome).peekable();
        outcomes.peek().is_some() && outcomes.all(|c| c.status.holds())
    };
    if def.mode == Mode::Automatic
        && preds_done
        && outcomes_hold
        && checks.iter().all(|c| c.status.holds())
    {
        return (StepState::Done, None);
    }
    if record.and_then(|r| r.applied_at).is_some() {
        return (StepState::Applied, None);
    }
    if !preds_done {
        return (StepState::Pending, None);
    }
    // The bulk copy blocks nothing and waits for nothing: it may start at any time; the copy
    // back may start once its predecessors are done. Each is done when its copy is verified.
    if def.id == super::bulk_copy::STEP || def.id == StepId::RollbackCopyBack {
        return (StepState::Ready, None);
    }
    // An automatic step's outcome is what it waits for, so it counts as its gate.
    let holding: Vec<&Check> = checks
        .iter()
        .filter(|c| c.kind == Kind::Gate || def.mode == Mode::Automatic)
        .filter(|c| !c.status.holds())
        .collect();
    if holding.is_empty() {
        return (StepState::Ready, None);
    }
    // A measured failure blocks; otherwise an outstanding time gate means waiting
    // (even while something else is not measured yet: the wait comes first).
    if holding
        .iter()
        .any(|c| c.status == Status::Fail && c.until.is_none())
    {
        return (StepState::Blocked, None);
    }
    if let Some(until) = holding.iter().filter_map(|c| c.until).max() {
        return (StepState::Waiting, Some(until));
    }
    (StepState::Blocked, None)
}

/// The placeholders with the shutdown date re-planned from the journal: the expected day of
/// `decommission-old`, "(moved from …)" when it differs from the plan's.
fn replanned_vars(
    plan: &Plan,
    runbook: &Runbook,
    timeline: &Timeline,
    steps: &[StepStatus],
    history: &History,
) -> std::collections::HashMap<&'static str, String> {
    let mut vars = vars(plan, timeline);
    let mut replanned = timeline.clone();
    replanned.set_wait_ends(steps);
    replanned.replan(plan, runbook, steps, history);
    if let Some(step) = replanned.step(&StepId::DecommissionOld) {
        let expected = step.expected_start.date();
        let planned = timeline.days.last().map(|d| d.date);
        let shown = expected.strftime("%A %-d %B %Y").to_string();
        let text = match planned {
            Some(p) if p != expected => {
                format!("{shown} (moved from {})", p.strftime("%A %-d %B %Y"))
            }
            _ => shown,
        };
        vars.insert("shutdown_date", text);
    }
    vars
}

fn next_step(
    plan: &Plan,
    runbook: &Runbook,
    vars: &std::collections::HashMap<&'static str, String>,
    steps: &[StepStatus],
    dns: Option<&DnsSnapshot>,
) -> Option<Next> {
    let open: Vec<&StepStatus> = steps
        .iter()
        .filter(|s| {
            !s.state.is_finished() && !matches!(s.state, StepState::Pending | StepState::RolledBack)
        })
        .collect();
    // An applied step comes first: the operator is waiting to see its outcome. The bulk
    // copy leads only when nothing else is open (its reminder rides on the leading step).
    // During a rollback its steps lead: the way back is what matters now (R18).
    let current = open
        .iter()
        .find(|s| s.state == StepState::Applied)
        .or_else(|| open.iter().find(|s| s.id.is_rollback()))
        .or_else(|| open.iter().find(|s| s.id != super::bulk_copy::STEP))
        .or_else(|| open.first())?;
    let def = runbook.step(&current.id)?;
    let blocked_by: Vec<Check> = match current.state {
        StepState::Applied => current
            .checks
            .iter()
            .filter(|c| c.kind == Kind::Outcome && !c.status.holds())
            .cloned()
            .collect(),
        StepState::Ready => vec![],
        _ => current
            .checks
            .iter()
            .filter(|c| (c.kind == Kind::Gate || def.mode == Mode::Automatic) && !c.status.holds())
            .cloned()
            .collect(),
    };
    let mut actions: Vec<String> = template::render(def.what.trim(), vars)
        .lines()
        .map(str::to_string)
        .collect();
    match (current.state, def.mode) {
        (StepState::Ready, Mode::Automatic) => {}
        (StepState::Ready | StepState::Applied, _) if def.per_mailbox => actions.push(format!(
            "Tick each mailbox: `cutover confirm {} --mailbox ADDRESS` ({} of {} ticked).",
            def.id,
            current.mailboxes.as_ref().map_or(0, |t| t.ticked),
            plan.mailboxes.len()
        )),
        (StepState::Ready, Mode::Both) => actions.push(format!(
            "When the change is made: `cutover applied {}`; once the evidence holds: `cutover confirm {}`.",
            def.id, def.id
        )),
        (StepState::Ready | StepState::Applied, _) => {
            actions.push(format!("When it is done: `cutover confirm {}`.", def.id))
        }
        _ => {}
    }
    // The observation comes first: old MX records already gone need no deleting (R8's jump).
    if def.id == StepId::RemoveOldMx
        && current
            .checks
            .iter()
            .any(|c| c.id == "mx-only-new-served" && c.status == Status::Pass)
    {
        actions.insert(
            0,
            "The old MX records are already gone: every authoritative server serves only the new MX hosts. Nothing to delete; confirm once the evidence holds.".to_string(),
        );
    }
    let also_ready = open
        .iter()
        .filter(|s| s.id != current.id && matches!(s.state, StepState::Ready | StepState::Applied))
        .map(|s| s.id.clone())
        .collect();
    let records = crate::dns::records_to_paste(&def.id, plan, dns);
    // Without a single answer from an authoritative server, the records come from the plan.
    let measured = dns.is_some_and(|d| {
        d.authoritative().any(|s| {
            s.answers
                .iter()
                .any(|a| a.status == crate::dns::AnswerStatus::Ok)
        })
    });
    let records_from_plan_only = !measured && !records.is_empty();
    Some(Next {
        records,
        records_from_plan_only,
        step: current.id.clone(),
        title: current.title.clone(),
        state: current.state,
        ready: current.state == StepState::Ready,
        why: template::render(&def.why, vars),
        blocked_by,
        wait_until: current.wait_until,
        actions,
        also_ready,
        alarm: None,
        warnings: vec![],
    })
}

/// The steps an alarm holds back: confirming them while it is raised needs an override.
pub const HELD_BY_ALARMS: [StepId; 8] = [
    StepId::AddNewMx,
    StepId::RemoveOldMx,
    StepId::DkimSpfFinal,
    StepId::RestoreTtl,
    StepId::FinalCopy,
    StepId::DecommissionOld,
    StepId::RollbackRemoveNewMx,
    StepId::RollbackCopyBack,
];

/// The raised alarms with their fixes, in the order they lead.
fn alarms(plan: &Plan, history: &History, dns: Option<&DnsSnapshot>) -> Vec<Alarm> {
    history
        .dns
        .raised_alarms()
        .into_iter()
        .map(|a| Alarm {
            id: a.id.clone(),
            since: timeline::rfc3339_string(&a.since.to_zoned_datetime(plan.timezone.clone())),
            evidence: a.evidence.clone(),
            fix: fix(&a.id, plan, history, dns),
        })
        .collect()
}

fn mx_lines(plan: &Plan, mx: &[crate::plan::MxRecord]) -> Vec<String> {
    let apex = crate::dns::query::fqdn(&plan.domain);
    mx.iter()
        .map(|m| {
            format!(
                "{apex} {} IN MX {} {}",
                plan.dns.migration_ttl, m.preference, m.host
            )
        })
        .collect()
}

/// What puts an alarm's condition right, with the exact records.
fn fix(id: &str, plan: &Plan, history: &History, dns: Option<&DnsSnapshot>) -> Fix {
    let done = |step: StepId| history.step(&step).is_some_and(|r| r.confirmed.is_some());
    let paste = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.trim_start().starts_with(';'))
            .collect()
    };
    // During a rollback the old MX is where mail must go (R18), whatever was done before.
    let rolling_back = super::rollback::active(history).is_some();
    match id {
        "canary-lost" => Fix {
            action: "A canary was found nowhere in time: look in the new provider's quarantine (Microsoft 365 and Google Workspace hold suspected mail there) and its delivery logs for the canary's Message-ID, check that every address is accepted (`cutover status --probe-smtp`), then send another with `cutover canary`.".to_string(),
            records: vec![],
        },
        "canary-old" if rolling_back => {
            let records = mx_lines(plan, &plan.old.mx);
            let hosts: Vec<&str> = plan
                .new
                .mx
                .iter()
                .map(|m| m.host.trim_end_matches('.'))
                .collect();
            Fix {
                action: format!(
                    "During the rollback mail must reach the old server only: a canary on the new server once its MX was removed and the TTL passed means senders still reach the new MX ({}). Check that only the old MX is served everywhere (`{}`) and that the new provider no longer takes the domain's mail, then send another with `cutover canary --route world`: one landing on the old server clears this alarm.",
                    hosts.join(", "),
                    records.join("`, `")
                ),
                records,
            }
        }
        "canary-old" => {
            let records = mx_lines(plan, &plan.new.mx);
            Fix {
                action: format!(
                    "A canary landed on the old server after the switch: senders still reach the old MX. Check that only the new MX is served everywhere (`{}`), that the old server does not forward to itself, then send another with `cutover canary --route world`.",
                    records.join("`, `")
                ),
                records,
            }
        }
        "mx-empty" | "mx-neither" if done(StepId::AddNewMx) && !rolling_back => {
            let records = mx_lines(plan, &plan.new.mx);
            Fix {
                action: format!("Put the new MX back now: `{}`", records.join("`, `")),
                records,
            }
        }
        "mx-empty" | "mx-neither" => {
            let records = mx_lines(plan, &plan.old.mx);
            Fix {
                action: format!("Put the old MX back now: `{}`", records.join("`, `")),
                records,
            }
        }
        "spf-lost" => {
            let records = paste(crate::dns::records_to_paste(&StepId::SpfAddNew, plan, dns));
            Fix {
                action: format!(
                    "Re-publish the SPF record now, naming the old and the new server: `{}`",
                    records.join("`, `")
                ),
                records,
            }
        }
        _ => {
            let records = paste(crate::dns::records_to_paste(&StepId::LowerTtl, plan, dns));
            Fix {
                action: format!(
                    "Set MX and TXT to the migration TTL of {} again at your DNS host; if it does not keep it, move the zone to a DNS host that allows per-record TTLs (R3).",
                    crate::units::ttl(plan.dns.migration_ttl)
                ),
                records,
            }
        }
    }
}

/// R8: the MX set went from old to new between two polls, so the order is unproven.
fn warnings(plan: &Plan, history: &History) -> Vec<String> {
    history
        .dns
        .order_unproven_at
        .map(|at| {
            format!(
                "R8: at {} the MX set went from old to new without old+new ever being observed: the order (new added before old removed) is unproven, and mail may have been deferred.",
                local(plan, at)
            )
        })
        .into_iter()
        .collect()
}

fn schedule(timeline: &Timeline, step: &StepId, now: Timestamp) -> Option<Schedule> {
    let planned = timeline.step(step)?;
    let start = planned.start.timestamp();
    let behind = now.duration_since(start).as_secs() / 60;
    let text = match behind {
        m if m > 15 => format!("behind the timeline by {}", human_minutes(m)),
        m if m < -15 => format!("ahead of the timeline by {}", human_minutes(-m)),
        _ => "on schedule".to_string(),
    };
    Some(Schedule {
        step: step.clone(),
        planned_start: timeline::rfc3339_string(&planned.start),
        behind_minutes: behind,
        text,
    })
}

fn human_minutes(m: i64) -> String {
    crate::units::duration_secs(u64::try_from(m).unwrap_or(0) * 60)
}

/// What `cutover applied` and the `a` key say when the step's gates do not hold yet (they
/// warn, never refuse: the change may already be made), naming each gate; `None` when they hold.
pub fn applied_warning(status: &StepStatus) -> Option<String> {
    let gates: Vec<String> = status
        .checks
        .iter()
        .filter(|c| c.kind == Kind::Gate && !c.status.holds())
        .map(|c| format!("{} ({})", c.id, c.status.as_str()))
        .collect();
    (!gates.is_empty()).then(|| {
        format!(
            "{}'s gates do not hold yet: {}",
            status.id,
            gates.join(", ")
        )
    })
}

/// Why a confirmation is refused: the checks that do not hold.
/// A per-mailbox tick needs only the gates; a whole step needs gates and outcomes.
pub fn confirm_blockers(status: &StepStatus, mailbox: bool) -> Vec<Check> {
    // The bulk copy may be ticked by the operator before its copy is verified.
    let tick_only = mailbox || status.id == super::bulk_copy::STEP;
    status
        .checks
        .iter()
        .filter(|c| !tick_only || c.kind == Kind::Gate)
        .filter(|c| !c.status.holds())
        .cloned()
        .collect()
}

/// The facts to journal for automatic steps observed done now and not yet
/// recorded, so they stay done (with the evidence that showed it).
pub fn observed_steps(
    eval: &Evaluation,
    history: &History,
    now: Timestamp,
) -> Vec<crate::journal::Entry> {
    eval.steps
        .iter()
        .filter(|s| s.mode == Mode::Automatic && s.state == StepState::Done)
        .filter(|s| history.step(&s.id).is_none_or(|r| r.confirmed.is_none()))
        .map(|s| crate::journal::Entry::Fact {
            at: now,
            key: crate::journal::history::STEP_OBSERVED.to_string(),
            value: serde_json::json!({ "step": s.id }),
            evidence: s
                .checks
                .iter()
                .map(|c| format!("{} {}: {}", c.status.as_str(), c.id, c.evidence))
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect()
}
