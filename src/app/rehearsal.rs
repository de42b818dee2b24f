//! The rehearsal's own screens (`cutover demo`): the introduction it starts paused on, the
//! clock the header shows, and the summary at the end.
//!
//! The sandbox owns the clock and the mail; it tells the cockpit through
//! [`Event::Rehearsal`](crate::app::Event::Rehearsal). The cockpit asks for the summary
//! ([`Rehearse::Summary`]) once every step is finished.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::keymap::{KEYMAP, KeyAction, Scope, lookup};
use super::{App, Command, Rehearse};
use crate::check::{Check, Status};
use crate::plan::Plan;
use crate::runbook::Evaluation;
use crate::step::StepId;

/// What the sandbox tells the cockpit about the rehearsal.
#[derive(Debug, Clone, PartialEq)]
pub enum RehearsalUpdate {
    /// The simulated clock: simulated seconds per real second, whether it is paused, and its
    /// time when it changed. The header shows that time at once: a pause would otherwise
    /// leave it at the last tick's, minutes behind at a high speed, under panes measured since.
    Clock {
        speed: f64,
        paused: bool,
        now: jiff::Timestamp,
    },
    /// The summary of this run, line by line (the autopilot report's content).
    Summary(Vec<String>),
}

/// The simulated clock as the header shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RehearsalClock {
    pub speed: f64,
    pub paused: bool,
}

/// The rehearsal's screens: which is open, and what they show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RehearsalScreens {
    /// `p` closed the introduction and started the clock.
    pub started: bool,
    pub clock: Option<RehearsalClock>,
    /// The summary was asked for (once).
    pub summary_asked: bool,
    pub summary: Option<Vec<String>>,
    /// The summary is on screen (Esc or Enter hides it).
    pub summary_open: bool,
    /// Lines of the summary scrolled past.
    pub summary_scroll: usize,
}

impl App {
    /// The introduction is on screen: a rehearsal not started yet, nothing else open.
    pub fn rehearsal_intro_open(&self) -> bool {
        self.rehearsal && !self.rehearsal_screens.started && !self.help && self.popup.is_none()
    }

    /// The summary is on screen.
    pub fn rehearsal_summary_open(&self) -> bool {
        self.rehearsal_screens.summary_open
            && self.rehearsal_screens.summary.is_some()
            && !self.help
            && self.popup.is_none()
    }
}

/// Applies what the sandbox reports.
pub(crate) fn on_update(app: &mut App, update: RehearsalUpdate) -> Vec<Command> {
    match update {
        RehearsalUpdate::Clock { speed, paused, now } => {
            app.rehearsal_screens.clock = Some(RehearsalClock { speed, paused });
            app.now = now;
            app.reevaluate();
            app.shown_clock = app.clock_key();
        }
        RehearsalUpdate::Summary(lines) => {
            app.rehearsal_screens.summary = Some(lines);
            app.rehearsal_screens.summary_open = true;
            app.rehearsal_screens.summary_scroll = 0;
        }
    }
    app.dirty = true;
    Vec::new()
}

/// Keys while the introduction or the summary is open; `None` lets the cockpit handle it
/// (quitting, help, and every key once neither is open).
pub(crate) fn on_key(app: &mut App, key: &KeyEvent) -> Option<Vec<Command>> {
    if app.rehearsal_intro_open() {
        return match lookup(Scope::Rehearsal, key) {
            Some(KeyAction::Rehearsal(Rehearse::PauseClock)) => {
                app.rehearsal_screens.started = true;
                Some(vec![Command::Rehearsal(Rehearse::PauseClock)])
            }
            // Quitting and the help work as everywhere; nothing else until `p`.
            _ => match lookup(Scope::Global, key) {
                Some(KeyAction::Quit | KeyAction::Help) => None,
                _ => Some(Vec::new()),
            },
        };
    }
    if app.rehearsal_summary_open() {
        let screens = &mut app.rehearsal_screens;
        let len = screens.summary.as_ref().map_or(0, Vec::len);
        let step = |by: isize, at: usize| at.saturating_add_signed(by).min(len.saturating_sub(1));
        match lookup(Scope::Global, key) {
            Some(KeyAction::Down) => screens.summary_scroll = step(1, screens.summary_scroll),
            Some(KeyAction::Up) => screens.summary_scroll = step(-1, screens.summary_scroll),
            Some(KeyAction::PageDown) => screens.summary_scroll = step(10, screens.summary_scroll),
            Some(KeyAction::PageUp) => screens.summary_scroll = step(-10, screens.summary_scroll),
            Some(KeyAction::Close) => screens.summary_open = false,
            Some(KeyAction::Quit | KeyAction::Help) => return None,
            _ if key.code == KeyCode::Enter => screens.summary_open = false,
            _ => {}
        }
        return Some(Vec::new());
    }
    None
}

/// Once every step is finished, the summary of the run is asked for (once).
pub(crate) fn after_update(app: &mut App) -> Vec<Command> {
    let all_done =
        !app.eval.steps.is_empty() && app.eval.steps.iter().all(|s| s.state.is_finished());
    if !app.rehearsal || !app.driving() || app.rehearsal_screens.summary_asked || !all_done {
        return Vec::new();
    }
    app.rehearsal_screens.summary_asked = true;
    vec![Command::Rehearsal(Rehearse::Summary)]
}

/// In the rehearsal, the fix of a refused alias (`smtp.new-mx-accepts` failing) names the
/// console key that creates it at the new provider; a real provider has no such key.
pub(crate) fn console_fixes(plan: &Plan, eval: &mut Evaluation) {
    let Some(key) = KEYMAP
        .iter()
        .find(|b| b.action == KeyAction::Rehearsal(Rehearse::CreateAlias))
        .map(|b| b.label)
    else {
        return;
    };
    let hint = format!(
        ". In this rehearsal: press {key} to create it at the new provider; the cockpit then asks the new MX again."
    );
    let aliases: Vec<&str> = plan
        .mailboxes
        .iter()
        .flat_map(|m| m.aliases.iter().map(String::as_str))
        .collect();
    let annotate = |check: &mut Check| {
        let refused_alias = aliases
            .iter()
            .any(|a| check.evidence.contains(&format!("{a} at ")));
        if check.id == crate::smtp::NEW_MX_ACCEPTS && check.status == Status::Fail && refused_alias
        {
            check.evidence.push_str(&hint);
        }
    };
    for step in &mut eval.steps {
        step.checks.iter_mut().for_each(&annotate);
    }
    if let Some(next) = &mut eval.next {
        next.blocked_by.iter_mut().for_each(&annotate);
        name_dns_host_keys(next);
    }
}

/// In the rehearsal, the DNS host is the console: an action that says "at your DNS host"
/// names the key that makes that change, so a first-time user does not hunt for it.
fn name_dns_host_keys(next: &mut crate::runbook::Next) {
    // An alarm's fix that is done at the DNS host is setting the TTLs again (key of lower-ttl).
    let console = match next.alarm.as_deref() {
        Some(_) => Rehearse::LowerTtl,
        None => match next.step {
            StepId::LowerTtl => Rehearse::LowerTtl,
            StepId::SpfAddNew => Rehearse::SpfAddNew,
            StepId::AddNewMx => Rehearse::AddNewMx,
            StepId::RemoveOldMx => Rehearse::DeleteOldMx,
            StepId::DkimSpfFinal => Rehearse::DkimSpfFinal,
            StepId::RestoreTtl => Rehearse::RestoreTtl,
            // The way back, practised after `b` broke the new server and `R` rolled back.
            StepId::RollbackSpf => Rehearse::RepublishSpf,
            StepId::RollbackLowerTtl => Rehearse::LowerTtl,
            StepId::RollbackAddOldMx => Rehearse::RestoreOldMx,
            StepId::RollbackRemoveNewMx => Rehearse::DeleteNewMx,
            StepId::StaySpfOldOnly => Rehearse::SpfOldOnly,
            StepId::StayRestoreTtl => Rehearse::RestoreTtl,
            _ => return,
        },
    };
    let Some(key) = KEYMAP
        .iter()
        .find(|b| b.action == KeyAction::Rehearsal(console))
        .map(|b| b.label)
    else {
        return;
    };
    for action in &mut next.actions {
        if action.to_lowercase().contains("at your dns host") {
            action.push_str(&format!(
                " In this rehearsal, the DNS host is the console: press {key}."
            ));
        }
    }
}
