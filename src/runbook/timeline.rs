//! The timeline: the runbook's steps laid on three working days from the plan's start, in its time zone.
//!
//! Dates are advice: being ahead or behind is shown, never a gate. Times
//! within a day are civil (09:00 stays 09:00 across a clock change); waits are
//! absolute durations (a 24 h TTL is 24 real hours).

use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use serde::Serialize;

use crate::plan::Plan;
use crate::runbook::Runbook;
use crate::step::StepId;

/// A step placed in time: `start`/`end` as planned, `expected_start`/`expected_end` as
/// re-planned from the journal ([`Timeline::replan`]; the plan's times until then).
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    pub id: StepId,
    pub title: String,
    #[serde(serialize_with = "rfc3339")]
    pub start: ZonedDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub end: ZonedDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub expected_start: ZonedDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub expected_end: ZonedDateTime,
}

impl PlannedStep {
    /// Whether the re-planned start differs from the plan's.
    pub fn moved(&self) -> bool {
        self.expected_start.timestamp() != self.start.timestamp()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub day: u8,
    #[serde(serialize_with = "iso_date")]
    pub date: Date,
    pub steps: Vec<PlannedStep>,
}

/// A wait between steps (the old TTL, the 24 h monitor), as a span.
#[derive(Debug, Clone, Serialize)]
pub struct Wait {
    pub id: StepId,
    #[serde(serialize_with = "rfc3339")]
    pub start: ZonedDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub end: ZonedDateTime,
    /// When the wait clears by the journal (the step's `wait_until`); null when unknown.
    #[serde(serialize_with = "rfc3339_opt")]
    pub wait_until: Option<ZonedDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub days: Vec<Day>,
    pub waits: Vec<Wait>,
}

/// The waits, by the step that is the wait and how long it lasts.
fn wait_of(plan: &Plan, id: &StepId) -> Option<(StepId, Duration)> {
    match id {
        // The old TTL; 24 h when the plan does not know it (R4).
        StepId::TtlWait => Some((
            StepId::LowerTtl,
            Duration::from_secs(u64::from(plan.dns.old_ttl.unwrap_or(86_400))),
        )),
        StepId::Monitor24h => Some((StepId::RemoveOldMx, Duration::from_secs(86_400))),
        _ => None,
    }
}

/// The working days from the plan's start: day 1 is the start date (or the next working day).
pub fn working_dates(plan: &Plan, count: usize) -> Vec<Date> {
    let mut dates = Vec::with_capacity(count);
    let mut date = plan.start.date();
    // Bounded: working_days is never empty after validation, so a match comes within a week.
    for _ in 0..(count * 7 + 7) {
        if dates.len() == count {
            break;
        }
        if plan.working_days.contains(&date.weekday()) {
            dates.push(date);
        }
        date = date.tomorrow().unwrap_or(date);
    }
    dates
}

fn zoned(plan: &Plan, at: DateTime) -> ZonedDateTime {
    at.to_zoned_datetime(plan.timezone.clone())
        .unwrap_or_else(|_| Timestamp::UNIX_EPOCH.to_zoned_datetime(plan.timezone.clone()))
}

pub fn build(plan: &Plan, runbook: &Runbook) -> Timeline {
    let dates = working_dates(plan, 3);
    let day_start = |day: u8| -> DateTime {
        let date = dates[usize::from(day.clamp(1, 3)) - 1];
        date.to_datetime(plan.start.time())
    };
    let mut days: Vec<Day> = (1..=3u8)
        .map(|day| Day {
            day,
            date: dates[usize::from(day) - 1],
            steps: vec![],
        })
        .collect();
    let mut waits = Vec::new();
    let vars = crate::runbook::template::variables(plan, dates.last().copied());
    for step in &runbook.steps {
        let civil_start = day_start(step.day)
            .checked_add(SignedDuration::try_from(step.at_offset()).unwrap_or_default())
            .unwrap_or(day_start(step.day));
        let civil_end = civil_start
            .checked_add(SignedDuration::try_from(step.planned_duration()).unwrap_or_default())
            .unwrap_or(civil_start);
        let (mut start, mut end) = (zoned(plan, civil_start), zoned(plan, civil_end));
        if let Some((from, length)) = wait_of(plan, &step.id) {
            // A wait starts when the step it waits on is planned to end.
            if let Some(prev) = days.iter().flat_map(|d| &d.steps).find(|s| s.id == from) {
                start = prev.end.clone();
            }
            end = start
                .checked_add(SignedDuration::try_from(length).unwrap_or_default())
                .unwrap_or(start.clone());
            waits.push(Wait {
                id: step.id.clone(),
                start: start.clone(),
                end: end.clone(),
                wait_until: None,
            });
        }
        days[usize::from(step.day.clamp(1, 3)) - 1]
            .steps
            .push(PlannedStep {
                id: step.id.clone(),
                title: crate::runbook::template::render(&step.title, &vars),
                expected_start: start.clone(),
                expected_end: end.clone(),
                start,
                end,
            });
    }
    Timeline { days, waits }
}

impl Timeline {
    /// Sets each wait's `wait_until` from an evaluation of the journal.
    pub fn set_wait_ends(&mut self, steps: &[crate::runbook::eval::StepStatus]) {
        for wait in &mut self.waits {
            wait.wait_until = steps
                .iter()
                .find(|s| s.id == wait.id && !s.state.is_finished())
                .and_then(|s| s.wait_until)
                .map(|t| t.to_zoned_datetime(wait.end.time_zone().clone()));
        }
    }

    /// Re-plans the remaining steps from the journal (never the network): a finished step
    /// ends when it was confirmed; a remaining step starts at the later of its slot, the time
    /// its gates clear (`wait_until`) and the expected end of the steps it comes after, moved
    /// onto a working day; a wait ends at its `wait_until` (else its length after it starts).
    pub fn replan(
        &mut self,
        plan: &Plan,
        runbook: &Runbook,
        steps: &[crate::runbook::eval::StepStatus],
        history: &crate::journal::History,
    ) {
        let tz = plan.timezone.clone();
        let mut ends: std::collections::HashMap<StepId, Timestamp> = Default::default();
        for def in &runbook.steps {
            let Some(planned) = self.step(&def.id).cloned() else {
                continue;
            };
            let status = steps.iter().find(|s| s.id == def.id);
            let length = planned
                .end
                .timestamp()
                .duration_since(planned.start.timestamp());
            let confirmed = history
                .step(&def.id)
                .and_then(|r| r.confirmed.as_ref())
                .map(|c| c.at);
            let (start, end) = match (status.map(|s| s.state.is_finished()), confirmed) {
                (Some(true), Some(at)) => (planned.start.timestamp().min(at), at),
                (Some(true), None) => (planned.start.timestamp(), planned.end.timestamp()),
                _ => {
                    let after = def.after.iter().filter_map(|a| ends.get(a)).copied().max();
                    let is_wait = self.waits.iter().any(|w| w.id == def.id);
                    let mut start = planned.start.timestamp();
                    if let Some(a) = after {
                        start = start.max(a);
                    }
                    let gate = status.and_then(|s| s.wait_until);
                    if is_wait {
                        // A wait runs from the step it waits on; it ends when its time is up.
                        let from = after.unwrap_or(start);
                        let end = gate.unwrap_or_else(|| from.checked_add(length).unwrap_or(from));
                        (from.min(end), end)
                    } else {
                        if let Some(g) = gate {
                            start = start.max(g);
                        }
                        let start = on_working_day(plan, start);
                        (start, start.checked_add(length).unwrap_or(start))
                    }
                }
            };
            ends.insert(def.id.clone(), end);
            for day in &mut self.days {
                for p in day.steps.iter_mut().filter(|p| p.id == def.id) {
                    p.expected_start = start.to_zoned_datetime(tz.clone());
                    p.expected_end = end.to_zoned_datetime(tz.clone());
                }
            }
        }
    }

    pub fn step(&self, id: &StepId) -> Option<&PlannedStep> {
        self.days
            .iter()
            .flat_map(|d| &d.steps)
            .find(|s| &s.id == id)
    }

    /// Which working day `now` falls on (1–3), 0 before day 1, 4 after day 3.
    pub fn day_of(&self, now: &ZonedDateTime) -> u8 {
        let today = now.date();
        if let Some(d) = self.days.iter().find(|d| d.date == today) {
            return d.day;
        }
        match self.days.first() {
            Some(first) if today < first.date => 0,
            _ => match self.days.iter().rev().find(|d| d.date < today) {
                Some(d) if d.day == 3 => 4,
                // Between working days (a weekend): the day that comes next.
                Some(d) => d.day + 1,
                None => 0,
            },
        }
    }

    /// A day's steps that are not waits (waits are listed on their own).
    fn work_on<'a>(&'a self, day: &'a Day) -> impl Iterator<Item = &'a PlannedStep> {
        day.steps
            .iter()
            .filter(|s| !self.waits.iter().any(|w| w.id == s.id))
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for day in &self.days {
            out.push_str(&format!("Day {} — {}\n", day.day, long_date(day.date)));
            for s in self.work_on(day) {
                out.push_str(&format!(
                    "  {}  {:<20} {}{}\n",
                    hours(s),
                    s.id,
                    s.title,
                    moved(s)
                ));
            }
        }
        out.push_str("Waits\n");
        for w in &self.waits {
            let (from, until) = wait_span(w);
            out.push_str(&format!("  {:<12} {from} → {until}{}\n", w.id, clears(w)));
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for day in &self.days {
            out.push_str(&format!(
                "## Day {} — {}\n\n| time | step | what |\n|---|---|---|\n",
                day.day,
                long_date(day.date)
            ));
            for s in self.work_on(day) {
                let title = s.title.replace('|', "\\|");
                out.push_str(&format!(
                    "| {}{} | `{}` | {title} |\n",
                    hours(s),
                    moved(s),
                    s.id
                ));
            }
            out.push('\n');
        }
        out.push_str("## Waits\n\n| wait | from | until |\n|---|---|---|\n");
        for w in &self.waits {
            let (from, until) = wait_span(w);
            out.push_str(&format!("| `{}` | {from} | {until}{} |\n", w.id, clears(w)));
        }
        out
    }
}

/// `at`, or when it falls on a day that is not a working day, the next working day at the
/// plan's start time (the time of day day 1 begins).
fn on_working_day(plan: &Plan, at: Timestamp) -> Timestamp {
    let zoned = at.to_zoned_datetime(plan.timezone.clone());
    if plan.working_days.is_empty() || plan.working_days.contains(&zoned.date().weekday()) {
        return at;
    }
    let mut date = zoned.date();
    for _ in 0..7 {
        date = date.tomorrow().unwrap_or(date);
        if plan.working_days.contains(&date.weekday()) {
            return zoned_ts(plan, date.to_datetime(plan.start.time())).unwrap_or(at);
        }
    }
    at
}

fn zoned_ts(plan: &Plan, at: DateTime) -> Option<Timestamp> {
    at.to_zoned_datetime(plan.timezone.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// ` (moved to Tue 8 Dec 09:48–10:03)` when the re-planned times differ from the plan.
fn moved(s: &PlannedStep) -> String {
    if !s.moved() {
        return String::new();
    }
    format!(
        " (moved to {}–{})",
        s.expected_start.strftime("%a %-d %b %H:%M"),
        s.expected_end.strftime("%H:%M")
    )
}

fn long_date(date: Date) -> String {
    date.strftime("%A %-d %B %Y").to_string()
}

/// `09:00–09:15`
fn hours(s: &PlannedStep) -> String {
    format!("{}–{}", s.start.strftime("%H:%M"), s.end.strftime("%H:%M"))
}

fn wait_span(w: &Wait) -> (String, String) {
    (
        w.start.strftime("%a %-d %b %H:%M").to_string(),
        w.end.strftime("%a %-d %b %H:%M %Z").to_string(),
    )
}

/// "; clears Tue 8 Dec 11:03 EET", when the journal says when the wait ends.
fn clears(w: &Wait) -> String {
    w.wait_until
        .as_ref()
        .map(|z| format!("; clears {}", z.strftime("%a %-d %b %H:%M %Z")))
        .unwrap_or_default()
}

/// RFC 3339 with the plan's local offset, e.g. `2026-12-07T09:00:00+02:00`.
pub fn rfc3339_string(z: &ZonedDateTime) -> String {
    z.timestamp().display_with_offset(z.offset()).to_string()
}

fn rfc3339<S: serde::Serializer>(z: &ZonedDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339_string(z))
}

fn iso_date<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

fn rfc3339_opt<S: serde::Serializer>(z: &Option<ZonedDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match z {
        Some(z) => s.serialize_str(&rfc3339_string(z)),
        None => s.serialize_none(),
    }
}
