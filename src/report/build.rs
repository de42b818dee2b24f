//! The journal folded into the report: one pass over its lines, then the runbook's
//! evaluation as of the last line (offline: nothing is measured, nothing contacted).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::Deserialize;

use crate::check::Check;
use crate::journal::dns_facts::keys;
use crate::journal::history::STEP_OBSERVED;
use crate::journal::{Entry, History};
use crate::mail::steps::OLD_INBOX_UIDNEXT;
use crate::mail::steps::POP3_FETCH_SEEN;
use crate::mail::sync::{COPY_RESULT_FACT, CopyResult};
use crate::plan::Plan;
use crate::report::model::{
    AlarmSpan, ArchiveMailbox, ArchiveSection, CheckLine, DnsRecord, DnsStage, JournalLine,
    MailboxRow, MissingFolder, Override, Report, StepRow, Summary,
};
use crate::runbook::eval::Inputs;
use crate::runbook::{Runbook, evaluate, timeline};
use crate::sanitize::sanitize;
use crate::step::StepId;

/// The version of the JSON document (`schema_version`).
const SCHEMA_VERSION: u32 = 1;

/// The longest journal text a report repeats (a fact's evidence can list every server).
const MAX_TEXT: usize = 400;

/// Builds the report from the plan and the journal's lines, as of the last line.
pub fn build(plan: &Plan, entries: &[Entry]) -> Report {
    let runbook = Runbook::for_plan(plan);
    let timeline = timeline::build(plan, &runbook);
    let history = History::from_entries(entries);
    let as_of = entries.iter().filter_map(Entry::at).max();
    let planned: HashMap<&str, &timeline::PlannedStep> = timeline
        .days
        .iter()
        .flat_map(|d| &d.steps)
        .map(|s| (s.id.as_str(), s))
        .collect();
    let planned_start = timeline
        .days
        .iter()
        .flat_map(|d| &d.steps)
        .map(|s| s.start.timestamp())
        .min();
    let now = as_of.or(planned_start).unwrap_or(Timestamp::UNIX_EPOCH);
    let eval = evaluate(&Inputs {
        plan,
        runbook: &runbook,
        timeline: &timeline,
        history: &history,
        dns: None,
        mail: None,
        now,
    });

    let pass = Pass::read(entries);
    let steps: Vec<StepRow> = runbook
        .steps
        .iter()
        .filter_map(|def| {
            let when = planned.get(def.id.as_str())?;
            let state = eval.step(&def.id).map(|s| s.state);
            Some(step_row(
                plan,
                def,
                when,
                state,
                &history,
                &pass,
                def.per_mailbox,
            ))
        })
        .collect();
    // Staying on the old server after a rollback ends the migration there: the forward
    // steps it undid are then no longer to do.
    let stayed = crate::runbook::rollback::active(&history).is_some_and(|r| r.stayed);
    let finished = !steps.is_empty()
        && eval.steps.iter().all(|s| {
            s.state.is_finished() || (stayed && s.state == crate::runbook::StepState::RolledBack)
        });
    let mailboxes = mailbox_rows(plan, &history, &pass);
    let alarms = alarm_spans(entries, as_of.unwrap_or(now));
    let overrides = pass.overrides.clone();
    let dns = dns_stages(&format!("{}.", plan.domain), &history, &pass, &eval);

    let done = steps.iter().filter(|s| s.done_at.is_some()).count();
    let standing = match (&eval.next, finished) {
        (_, true) if stayed => format!(
            "Finished on the old server: the way back is done and the migration ends there ({} of {} forward steps had been done).",
            done,
            steps.len()
        ),
        (_, true) => format!(
            "Finished: all {} steps done{}.",
            steps.len(),
            match overrides.len() {
                0 => String::new(),
                n => format!(
                    ", {} by override",
                    crate::units::count(n as u64, "confirmation", "confirmations")
                ),
            }
        ),
        (Some(next), false) => format!(
            "In progress: {done} of {} steps done; next: {} — {} ({}).",
            steps.len(),
            next.step,
            sanitize(&next.title),
            next.state.as_str()
        ),
        (None, false) => format!("In progress: {done} of {} steps done.", steps.len()),
    };
    let copied_rows: Vec<&MailboxRow> = mailboxes
        .iter()
        .filter(|m| m.old_messages.is_some())
        .collect();
    let missing_folders: Vec<MissingFolder> = plan
        .mailboxes
        .iter()
        .filter_map(|m| pass.copies.get(&m.address.to_lowercase()))
        .flat_map(|(_, copy)| {
            copy.folders
                .iter()
                .filter(|f| f.missing > 0)
                .map(move |f| MissingFolder {
                    mailbox: sanitize(&copy.mailbox),
                    folder: sanitize(&f.old),
                    missing: f.missing,
                })
        })
        .collect();
    let summary = Summary {
        standing,
        planned_start,
        planned_end: timeline
            .days
            .iter()
            .flat_map(|d| &d.steps)
            .map(|s| s.end.timestamp())
            .max(),
        actual_start: entries.iter().filter_map(Entry::at).min(),
        actual_end: finished
            .then(|| steps.iter().filter_map(|s| s.done_at).max())
            .flatten(),
        steps_done: done,
        steps_total: steps.len(),
        next_step: (!finished)
            .then(|| eval.next.as_ref().map(|n| n.step.clone()))
            .flatten(),
        old_messages: (!copied_rows.is_empty())
            .then(|| copied_rows.iter().filter_map(|m| m.old_messages).sum()),
        mailboxes_copied: copied_rows.len(),
        mailboxes_total: mailboxes.len(),
        copied: mailboxes.iter().map(|m| m.copied).sum(),
        verified: (!copied_rows.is_empty())
            .then(|| mailboxes.iter().filter_map(|m| m.verified).sum()),
        missing: (!copied_rows.is_empty())
            .then(|| copied_rows.iter().filter_map(|m| m.skipped).sum()),
        missing_folders,
        changed_after_copy: mailboxes
            .iter()
            .filter(|m| m.old_changed_after_copy)
            .map(|m| m.address.clone())
            .collect(),
        overrides: overrides.len(),
        alarms: alarms.len(),
    };
    Report {
        schema_version: SCHEMA_VERSION,
        domain: plan.domain.clone(),
        old_server: sanitize(&plan.old.name),
        new_server: sanitize(&plan.new.name),
        timezone: plan.timezone_name.clone(),
        as_of,
        finished,
        summary,
        timeline: steps,
        overrides,
        alarms,
        dns,
        mailboxes,
        archive: archive_section(&history),
        canaries: canaries(&history),
        rollback: super::rollback::section(plan, &history, &pass, &eval),
        zone: plan.timezone.clone(),
    }
}

/// Every canary journaled, as sent; a line that does not read as one is left out.
fn canaries(history: &History) -> Vec<crate::canary::CanaryResult> {
    let mut found: Vec<crate::canary::CanaryResult> = history
        .facts
        .get(crate::recorder::keys::CANARY)
        .into_iter()
        .flatten()
        .filter_map(|f| serde_json::from_value(f.value.clone()).ok())
        .collect();
    found.sort_by_key(|c| c.sent_at);
    found
}

/// The last `archive-verified` fact, as the report shows it; none when there is none.
fn archive_section(history: &History) -> Option<ArchiveSection> {
    let fact = history.last_fact(crate::recorder::keys::ARCHIVE_VERIFIED)?;
    let v = &fact.value;
    let text = |key: &str| sanitize(v.get(key).and_then(|s| s.as_str()).unwrap_or_default());
    let coverage: Vec<crate::mail::archive::MailboxCoverage> = v
        .get("mailboxes")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let problems: Vec<String> = v
        .get("problems")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .map(sanitize)
        .collect();
    Some(ArchiveSection {
        verified_at: fact.at,
        path: text("dir"),
        manifest_sha256: text("manifest_sha256"),
        ok: v.get("ok").and_then(|o| o.as_bool()) == Some(true),
        online: v.get("online").and_then(|o| o.as_bool()) == Some(true),
        problem_count: v
            .get("problem_count")
            .and_then(|n| n.as_u64())
            .unwrap_or(problems.len() as u64),
        problems,
        mailboxes: coverage
            .into_iter()
            .map(|c| ArchiveMailbox {
                address: sanitize(&c.address),
                folders: c.folders,
                messages: c.messages,
                bytes: c.bytes,
                inbox_uidnext: c.inbox_uidnext,
                old_messages: c.old_messages,
            })
            .collect(),
    })
}

/// A confirmation of a whole step as its journal line recorded it.
#[derive(Debug, Clone)]
struct Confirmed {
    evidence: Vec<Check>,
}

/// What one pass over the journal collects besides the [`History`].
#[derive(Default)]
pub(super) struct Pass {
    /// The standing confirmation of each step (a reopen removes it).
    confirmed: HashMap<StepId, Confirmed>,
    /// An automatic step's evidence when it was first observed done.
    observed: HashMap<StepId, String>,
    overrides: Vec<Override>,
    /// The last copy report per mailbox (lowercase), with when.
    copies: HashMap<String, (Timestamp, CopyResult)>,
    /// Messages and bytes each finished copy run put on the new server, per mailbox (lowercase).
    copied: HashMap<String, (u64, u64)>,
    /// Old INBOX UIDNEXT facts per mailbox (lowercase): when, the UIDNEXT, the newest arrival.
    uidnext: HashMap<String, Vec<(Timestamp, u64, Option<Timestamp>)>>,
    /// Mailboxes (lowercase) a POP3 fetch was seen into.
    pop3: HashMap<String, Timestamp>,
    /// The per-step DNS records, in journal order: (when, step, records).
    dns_records: Vec<(Timestamp, String, Vec<DnsRecord>)>,
}

impl Pass {
    fn read(entries: &[Entry]) -> Pass {
        let mut pass = Pass::default();
        let mailbox_of = |v: &serde_json::Value| {
            v.get("mailbox")
                .and_then(|m| m.as_str())
                .map(str::to_lowercase)
        };
        for entry in entries {
            match entry {
                Entry::Confirm {
                    step,
                    mailbox: None,
                    evidence,
                    ..
                } => {
                    pass.confirmed.insert(
                        step.clone(),
                        Confirmed {
                            evidence: evidence.clone(),
                        },
                    );
                }
                Entry::Override {
                    at,
                    operator,
                    step,
                    mailbox,
                    reason,
                    evidence,
                } => {
                    if mailbox.is_none() {
                        pass.confirmed.insert(
                            step.clone(),
                            Confirmed {
                                evidence: evidence.clone(),
                            },
                        );
                    }
                    pass.overrides.push(Override {
                        at: *at,
                        operator: sanitize(operator),
                        step: sanitize(step.as_str()),
                        mailbox: mailbox.as_deref().map(sanitize),
                        reason: sanitize(reason),
                        overrode: evidence
                            .iter()
                            .filter(|c| !c.status.holds())
                            .map(check_line)
                            .collect(),
                    });
                }
                Entry::Reopen { step, .. } => {
                    pass.confirmed.remove(step);
                }
                Entry::Fact {
                    key,
                    value,
                    evidence,
                    ..
                } if key == STEP_OBSERVED => {
                    if let Some(step) = value.get("step").and_then(|s| s.as_str()) {
                        pass.observed
                            .entry(StepId::parse(step))
                            .or_insert_with(|| short(evidence));
                    }
                }
                Entry::Fact { at, key, value, .. } if key == COPY_RESULT_FACT => {
                    if let Ok(result) = CopyResult::deserialize(value) {
                        pass.copies
                            .insert(result.mailbox.to_lowercase(), (*at, result));
                    }
                }
                Entry::Fact { at, key, value, .. } if key == OLD_INBOX_UIDNEXT => {
                    if let (Some(m), Some(u)) = (
                        mailbox_of(value),
                        value.get("uidnext").and_then(|u| u.as_u64()),
                    ) {
                        let arrived = value
                            .get("arrived")
                            .and_then(|a| a.as_str())
                            .and_then(|a| a.parse().ok());
                        pass.uidnext.entry(m).or_default().push((*at, u, arrived));
                    }
                }
                Entry::Fact { at, key, value, .. } if key == POP3_FETCH_SEEN => {
                    if let Some(m) = mailbox_of(value) {
                        pass.pop3.entry(m).or_insert(*at);
                    }
                }
                Entry::Fact { at, key, value, .. } if key == crate::recorder::keys::DNS_RECORDS => {
                    if let Some(step) = value.get("step").and_then(|s| s.as_str()) {
                        pass.dns_records
                            .push((*at, sanitize(step), served_records(value)));
                    }
                }
                Entry::Sync {
                    mailbox,
                    state,
                    messages_done,
                    bytes_done,
                    ..
                } if state != "running" => {
                    let sums = pass.copied.entry(mailbox.to_lowercase()).or_default();
                    sums.0 += messages_done;
                    sums.1 += bytes_done;
                }
                _ => {}
            }
        }
        pass
    }
}

/// The records of a `dns-records` fact, server by server.
fn served_records(value: &serde_json::Value) -> Vec<DnsRecord> {
    let Some(servers) = value.get("servers").and_then(|s| s.as_object()) else {
        return vec![];
    };
    let text = |r: &serde_json::Value, k: &str| r.get(k).and_then(|v| v.as_str()).map(sanitize);
    servers
        .iter()
        .flat_map(|(server, records)| {
            records
                .as_array()
                .into_iter()
                .flatten()
                .map(move |r| DnsRecord {
                    server: sanitize(server),
                    name: text(r, "name").unwrap_or_default(),
                    rtype: text(r, "type").unwrap_or_default(),
                    ttl: r
                        .get("ttl")
                        .and_then(|t| t.as_u64())
                        .and_then(|t| u32::try_from(t).ok()),
                    data: text(r, "data"),
                })
        })
        .collect()
}

fn check_line(c: &Check) -> CheckLine {
    CheckLine {
        check: sanitize(&c.id),
        status: c.status.as_str().to_string(),
        evidence: short(&c.evidence),
    }
}

/// Sanitised, and cut at [`MAX_TEXT`] characters with an ellipsis.
fn short(text: &str) -> String {
    let clean = sanitize(text);
    match clean.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

fn step_row(
    plan: &Plan,
    def: &crate::runbook::StepDef,
    when: &timeline::PlannedStep,
    state: Option<crate::runbook::StepState>,
    history: &History,
    pass: &Pass,
    per_mailbox: bool,
) -> StepRow {
    let done = Done::of(plan, &def.id, state, history, pass, per_mailbox);
    StepRow {
        id: def.id.clone(),
        title: sanitize(&when.title),
        day: def.day,
        planned_start: when.start.timestamp(),
        planned_end: when.end.timestamp(),
        state: state.map(|s| s.as_str()).unwrap_or("pending").to_string(),
        applied_at: done.applied_at,
        done_at: done.done_at,
        by: done.by,
        how: done.how,
        ticked: done.ticked,
        evidence: done.evidence,
        observed: done.observed,
    }
}

/// What the journal says about a step's doing: applied, done when and by whom, how, the
/// ticks and the evidence recorded (the timeline's rows and the rollback's steps alike).
pub(super) struct Done {
    pub(super) applied_at: Option<Timestamp>,
    pub(super) done_at: Option<Timestamp>,
    pub(super) by: Option<String>,
    pub(super) how: Option<String>,
    pub(super) ticked: Option<usize>,
    pub(super) evidence: Vec<CheckLine>,
    pub(super) observed: Option<String>,
}

impl Done {
    pub(super) fn of(
        plan: &Plan,
        id: &StepId,
        state: Option<crate::runbook::StepState>,
        history: &History,
        pass: &Pass,
        per_mailbox: bool,
    ) -> Done {
        let record = history.step(id);
        let finished = state.is_some_and(|s| s.is_finished());
        let (done_at, by, how) = match record.and_then(|r| r.confirmed.as_ref()) {
            Some(c) => {
                let how = if c.reason.is_some() {
                    "overridden"
                } else if pass.observed.contains_key(id) && !pass.confirmed.contains_key(id) {
                    "observed"
                } else {
                    "confirmed"
                };
                (
                    Some(c.at),
                    Some(sanitize(&c.operator)),
                    Some(how.to_string()),
                )
            }
            None if per_mailbox && finished => {
                // Done by its ticks: when the last mailbox was ticked, and by whom.
                let ticks = record.map(|r| r.ticks.values().collect::<Vec<_>>());
                let mut operators: Vec<String> = ticks
                    .iter()
                    .flatten()
                    .map(|t| sanitize(&t.operator))
                    .collect();
                operators.sort();
                operators.dedup();
                let last = ticks.iter().flatten().map(|t| t.at).max();
                match last {
                    Some(last) => (
                        Some(last),
                        Some(operators.join(", ")),
                        Some("confirmed".into()),
                    ),
                    None => (None, None, None),
                }
            }
            None => (None, None, None),
        };
        Done {
            applied_at: record.and_then(|r| r.applied_at),
            done_at,
            by,
            ticked: per_mailbox.then(|| {
                record.map_or(0, |r| {
                    plan.mailboxes
                        .iter()
                        .filter(|m| r.ticks.contains_key(&m.address.to_lowercase()))
                        .count()
                })
            }),
            evidence: pass
                .confirmed
                .get(id)
                .filter(|_| done_at.is_some())
                .map(|c| c.evidence.iter().map(check_line).collect())
                .unwrap_or_default(),
            observed: pass
                .observed
                .get(id)
                .filter(|_| how.as_deref() == Some("observed"))
                .cloned(),
            how,
        }
    }
}

fn mailbox_rows(plan: &Plan, history: &History, pass: &Pass) -> Vec<MailboxRow> {
    let progress: HashMap<String, &crate::journal::history::SyncRecord> = history
        .sync
        .iter()
        .map(|(a, s)| (a.to_lowercase(), s))
        .collect();
    let copied_back = super::rollback::copy_back(history);
    plan.mailboxes
        .iter()
        .map(|m| {
            let key = m.address.to_lowercase();
            let back = copied_back.get(&key);
            let copy = pass.copies.get(&key);
            let (copied, copied_bytes) = pass.copied.get(&key).copied().unwrap_or_default();
            let old_messages = copy.map(|(_, c)| c.folders.iter().map(|f| f.old_messages).sum());
            let skipped: Option<u64> = copy.map(|(_, c)| c.folders.iter().map(|f| f.missing).sum());
            let skipped_why = copy.filter(|_| skipped.unwrap_or(0) > 0).map(|(_, c)| {
                let folders: Vec<String> = c
                    .folders
                    .iter()
                    .filter(|f| f.missing > 0)
                    .map(|f| format!("{}: {}", sanitize(&f.old), f.missing))
                    .collect();
                format!(
                    "{}; not on the new server after the last copy ({})",
                    folders.join(", "),
                    sanitize(&c.state)
                )
            });
            let inbox_uidnext = copy.and_then(|(_, c)| {
                c.folders
                    .iter()
                    .find(|f| f.old.eq_ignore_ascii_case("INBOX"))
                    .map(|f| u64::from(f.old_uidnext))
                    .filter(|&u| u != 0)
            });
            let uidnexts = pass.uidnext.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let old_changed_after_copy = match (copy, inbox_uidnext) {
                (Some((copied_at, _)), Some(at_copy)) => uidnexts
                    .iter()
                    .any(|(at, u, _)| at > copied_at && *u > at_copy),
                _ => false,
            };
            MailboxRow {
                address: sanitize(&m.address),
                old_messages,
                copied,
                copied_bytes,
                verified: copy.map(|(_, c)| {
                    c.folders
                        .iter()
                        .filter(|f| f.verified)
                        .map(|f| f.old_messages.saturating_sub(f.missing))
                        .sum()
                }),
                skipped,
                skipped_why,
                // The copy's verification says how it ended; a later progress line, that
                // another copy runs.
                copy_state: match (copy, progress.get(&key)) {
                    (Some((at, c)), Some(s)) if s.at <= *at => Some(sanitize(&c.state)),
                    (_, Some(s)) => Some(sanitize(&s.state)),
                    (Some((_, c)), None) => Some(sanitize(&c.state)),
                    (None, None) => None,
                },
                last_old_arrival: uidnexts.iter().filter_map(|(_, _, a)| *a).max(),
                old_changed_after_copy,
                pop3_fetch_seen: pass.pop3.contains_key(&key).then_some(true),
                copied_back: back.map(|(n, _)| *n),
                copy_back_state: back.map(|(_, r)| sanitize(&r.state)),
                copy_back_missing: back.map(|(_, r)| r.missing),
            }
        })
        .collect()
}

/// Every alarm from raise to clear, with the lines between. Journals older than the
/// `alarm-raised` facts have only the MX alarm (`mx-alarm`, `mx-alarm-cleared`).
fn alarm_spans(entries: &[Entry], as_of: Timestamp) -> Vec<AlarmSpan> {
    let has_raised = entries
        .iter()
        .any(|e| matches!(e, Entry::Fact { key, .. } if key == keys::ALARM_RAISED));
    // id → (index of the raising line, when, evidence)
    let mut open: BTreeMap<String, (usize, Timestamp, String)> = BTreeMap::new();
    let mut spans: Vec<(usize, AlarmSpan, usize)> = Vec::new();
    let id_of =
        |value: &serde_json::Value| value.get("id").and_then(|v| v.as_str()).map(str::to_string);
    for (i, entry) in entries.iter().enumerate() {
        let Entry::Fact {
            at,
            key,
            value,
            evidence,
        } = entry
        else {
            continue;
        };
        let (raised, cleared): (Option<String>, Vec<String>) = match key.as_str() {
            keys::ALARM_RAISED if has_raised => (id_of(value), vec![]),
            keys::ALARM_CLEARED if has_raised => (None, id_of(value).into_iter().collect()),
            keys::MX_ALARM if !has_raised => {
                let state = value.get("state").and_then(|s| s.as_str()).unwrap_or("");
                let id = match state {
                    "empty" => crate::journal::dns_facts::alarm_ids::MX_EMPTY,
                    _ => crate::journal::dns_facts::alarm_ids::MX_NEITHER,
                };
                (Some(id.to_string()), vec![])
            }
            keys::MX_ALARM_CLEARED if !has_raised => (
                None,
                open.keys()
                    .filter(|id| id.starts_with("mx-"))
                    .cloned()
                    .collect(),
            ),
            _ => (None, vec![]),
        };
        if let Some(id) = raised {
            open.entry(id).or_insert((i, *at, short(evidence)));
        }
        for id in cleared {
            if let Some((from, since, evidence)) = open.remove(&id) {
                spans.push((
                    from,
                    AlarmSpan {
                        duration_s: at.duration_since(since).as_secs(),
                        id: sanitize(&id),
                        raised_at: since,
                        cleared_at: Some(*at),
                        evidence,
                        entries: vec![],
                    },
                    i,
                ));
            }
        }
    }
    for (id, (from, since, evidence)) in open {
        spans.push((
            from,
            AlarmSpan {
                duration_s: as_of.duration_since(since).as_secs(),
                id: sanitize(&id),
                raised_at: since,
                cleared_at: None,
                evidence,
                entries: vec![],
            },
            entries.len(),
        ));
    }
    spans.sort_by_key(|(from, span, _)| (span.raised_at, *from));
    spans
        .into_iter()
        .map(|(from, mut span, to)| {
            span.entries = entries[from + 1..to]
                .iter()
                .filter(|e| !is_alarm_line(e))
                .filter_map(journal_line)
                .collect();
            span
        })
        .collect()
}

fn is_alarm_line(entry: &Entry) -> bool {
    matches!(entry, Entry::Fact { key, .. } if [keys::ALARM_RAISED, keys::ALARM_CLEARED, keys::MX_ALARM, keys::MX_ALARM_CLEARED].contains(&key.as_str()))
}

/// One journal line in a sentence; `None` for a line from a newer cutover (no time).
fn journal_line(entry: &Entry) -> Option<JournalLine> {
    let (kind, text) = match entry {
        Entry::Applied { operator, step, .. } => (
            "applied",
            format!("{} applied {}", sanitize(operator), sanitize(step.as_str())),
        ),
        Entry::Confirm {
            operator,
            step,
            mailbox,
            ..
        } => (
            "confirm",
            format!(
                "{} confirmed {}{}",
                sanitize(operator),
                sanitize(step.as_str()),
                for_mailbox(mailbox.as_deref())
            ),
        ),
        Entry::Override {
            operator,
            step,
            mailbox,
            reason,
            ..
        } => (
            "override",
            format!(
                "{} overrode {}{}: {}",
                sanitize(operator),
                sanitize(step.as_str()),
                for_mailbox(mailbox.as_deref()),
                short(reason)
            ),
        ),
        Entry::Reopen {
            operator,
            step,
            mailbox,
            ..
        } => (
            "reopen",
            format!(
                "{} reopened {}{}",
                sanitize(operator),
                sanitize(step.as_str()),
                for_mailbox(mailbox.as_deref())
            ),
        ),
        Entry::Fact { key, evidence, .. } => (
            "fact",
            match evidence.is_empty() {
                true => sanitize(key),
                false => format!("{}: {}", sanitize(key), short(evidence)),
            },
        ),
        Entry::Checkpoint {
            mailbox,
            folder,
            last_uid,
            ..
        } => (
            "checkpoint",
            format!(
                "copy of {} {}: resumes after UID {last_uid}",
                sanitize(mailbox),
                sanitize(folder)
            ),
        ),
        Entry::Sync {
            mailbox,
            state,
            messages_done,
            messages_left,
            ..
        } => (
            "sync",
            format!(
                "copy of {}: {}, {messages_done} done, {messages_left} left",
                sanitize(mailbox),
                sanitize(state)
            ),
        ),
        Entry::Note { operator, text, .. } => {
            ("note", format!("{}: {}", sanitize(operator), short(text)))
        }
        Entry::Other => return None,
    };
    Some(JournalLine {
        at: entry.at()?,
        kind: kind.to_string(),
        text,
    })
}

fn for_mailbox(mailbox: Option<&str>) -> String {
    mailbox
        .map(|m| format!(" for {}", sanitize(m)))
        .unwrap_or_default()
}

/// The DNS at each stage: before (the TTL baseline and the first MX set), lowered, switched
/// (only the new MX served), restored; a `dns-records` fact replaces its stage's older facts.
fn dns_stages(
    domain: &str,
    history: &History,
    pass: &Pass,
    eval: &crate::runbook::Evaluation,
) -> Vec<DnsStage> {
    let recorded = |step: StepId| {
        pass.dns_records
            .iter()
            .rev()
            .find(|(_, s, _)| *s == step.as_str())
    };
    let mut stages = Vec::new();
    let first_mx = history.first_fact(keys::MX_SET);
    let baseline = history.first_fact(keys::TTL_BASELINE);
    if baseline.is_some() || first_mx.is_some() {
        let ttls: BTreeMap<String, u32> = baseline
            .and_then(|b| b.value.get("ttls"))
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        let mut records = Vec::new();
        let mx_ttl = ttls
            .iter()
            .find(|(k, _)| k.starts_with("MX "))
            .map(|(_, t)| *t);
        if let Some(mx) = first_mx {
            records.extend(mx_records(domain, &mx.value, mx_ttl));
        }
        for (key, ttl) in &ttls {
            let (rtype, name) = key.split_once(' ').unwrap_or((key, ""));
            if rtype == "MX" && first_mx.is_some() {
                continue;
            }
            records.push(DnsRecord {
                server: "largest at any authoritative server".into(),
                name: sanitize(name),
                rtype: sanitize(rtype),
                ttl: Some(*ttl),
                data: None,
            });
        }
        stages.push(DnsStage {
            stage: "before".into(),
            title: "Before the migration".into(),
            at: [baseline.map(|b| b.at), first_mx.map(|m| m.at)]
                .into_iter()
                .flatten()
                .min(),
            records,
            not_recorded: Some(
                "The TXT (SPF) and other records' contents were not recorded; only their TTLs and the MX set."
                    .into(),
            ),
        });
    }
    let lowered = history.first_fact(keys::TTL_LOWERED);
    match recorded(StepId::LowerTtl) {
        Some(found) => stages.push(recorded_stage("lowered", "TTLs lowered", found)),
        None => {
            if let Some(l) = lowered {
                let ttl = |k: &str| {
                    l.value
                        .get(k)
                        .and_then(|v| v.as_u64())
                        .and_then(|t| u32::try_from(t).ok())
                };
                let servers = l.value.get("servers").and_then(|v| v.as_u64()).unwrap_or(0);
                let server = format!(
                    "all {}",
                    crate::units::count(servers, "authoritative server", "authoritative servers")
                );
                stages.push(DnsStage {
                    stage: "lowered".into(),
                    title: "TTLs lowered".into(),
                    at: Some(l.at),
                    records: vec![
                        DnsRecord {
                            server: server.clone(),
                            name: domain.to_string(),
                            rtype: "MX".into(),
                            ttl: ttl("mx_ttl"),
                            data: None,
                        },
                        DnsRecord {
                            server,
                            name: domain.to_string(),
                            rtype: "TXT".into(),
                            ttl: ttl("txt_ttl"),
                            data: None,
                        },
                    ],
                    not_recorded: Some(
                        "The records' contents were not recorded at the lowering; only the TTLs served."
                            .into(),
                    ),
                });
            }
        }
    }
    let switched = history.facts.get(keys::MX_SET).and_then(|sets| {
        sets.iter().find(|f| {
            f.value
                .get("to")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t == "new")
        })
    });
    match recorded(StepId::RemoveOldMx) {
        Some(found) => stages.push(recorded_stage("switched", "After the switch", found)),
        None => {
            if let Some(s) = switched {
                stages.push(DnsStage {
                    stage: "switched".into(),
                    title: "After the switch".into(),
                    at: Some(s.at),
                    records: mx_records(domain, &s.value, None),
                    not_recorded: Some(
                        "The TTLs and the TXT (SPF, DKIM) records were not recorded at the switch; only the MX set served."
                            .into(),
                    ),
                });
            }
        }
    }
    let restored = eval
        .step(&StepId::RestoreTtl)
        .is_some_and(|s| s.state.is_finished());
    match recorded(StepId::RestoreTtl) {
        Some(found) => stages.push(recorded_stage("restored", "After the TTL restore", found)),
        None if restored => stages.push(DnsStage {
            stage: "restored".into(),
            title: "After the TTL restore".into(),
            at: history
                .step(&StepId::RestoreTtl)
                .and_then(|r| r.confirmed.as_ref())
                .map(|c| c.at),
            records: vec![],
            not_recorded: Some(
                "This journal holds no records or TTLs after the TTL restore; the checks its confirmation recorded are in the timeline."
                    .into(),
            ),
        }),
        None => {}
    }
    for found in &pass.dns_records {
        let staged = [StepId::LowerTtl, StepId::RemoveOldMx, StepId::RestoreTtl];
        if !staged.iter().any(|s| s.as_str() == found.1) {
            let title = format!("After {}", found.1);
            stages.push(recorded_stage(&format!("after:{}", found.1), &title, found));
        }
    }
    stages.sort_by_key(|s| s.at);
    stages
}

fn recorded_stage(
    stage: &str,
    title: &str,
    (at, _, records): &(Timestamp, String, Vec<DnsRecord>),
) -> DnsStage {
    DnsStage {
        stage: stage.to_string(),
        title: title.to_string(),
        at: Some(*at),
        records: records.clone(),
        not_recorded: None,
    }
}

/// The MX records of an `mx-set` fact (`{"records": {server: ["10 host."]}}`).
fn mx_records(domain: &str, value: &serde_json::Value, ttl: Option<u32>) -> Vec<DnsRecord> {
    let Some(servers) = value.get("records").and_then(|r| r.as_object()) else {
        return vec![];
    };
    servers
        .iter()
        .flat_map(|(server, records)| {
            records
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str())
                .map(move |r| DnsRecord {
                    server: sanitize(server),
                    name: domain.to_string(),
                    rtype: "MX".into(),
                    ttl,
                    data: Some(sanitize(r)),
                })
        })
        .collect()
}
