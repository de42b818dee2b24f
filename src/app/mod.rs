//! The cockpit's state: one `App`, changed only by [`update`] from [`Event`]s.
//!
//! Workers (DNS watcher, mailbox prober, journal follower, input, clock) send
//! events; `update` is synchronous and pure and returns [`Command`]s for the
//! loop to carry out (append to the journal, start a copy, refresh now).
//! Rendering (`crate::ui`) reads the state and nothing else.

pub mod dns_view;
pub mod event;
pub mod journal_view;
pub mod key_help;
pub mod keymap;
pub mod layout;
pub mod mail_flow_view;
pub mod mail_view;
pub mod model;
pub mod new_mx_view;
mod questions;
pub mod rehearsal;
pub(crate) mod update;

#[cfg(test)]
mod dns_target_tests;

use crate::step::StepId;
use std::collections::BTreeSet;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::app::journal_view::JournalView;
use crate::app::mail_view::CopyRuns;
use crate::app::model::{DnsView, MailboxRow};
use crate::journal::History;
use crate::journal::{Driver, Entry};
use crate::plan::Plan;
use crate::runbook::eval::Inputs;
use crate::runbook::timeline::{self, Timeline};
use crate::runbook::{Evaluation, Runbook, StepStatus, evaluate};

pub use event::{Command, Event};
pub use keymap::{Rehearse, Scope};
pub use update::update;

/// How many clock ticks (about a second each) a notice stays on the status line.
pub const NOTICE_TICKS: u32 = 10;

/// How many journal entries the journal pane keeps.
pub const JOURNAL_TAIL: usize = 2_000;

/// Whether this cockpit may change anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// This process holds the driver lock: it may confirm steps.
    Driving,
    /// Another process drives; this one follows the journal, read-only.
    Observing(Driver),
}

/// The panes, in Tab order. At small sizes each is a tab of its own; the first,
/// Next step, is where the cockpit opens: what to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Next,
    Steps,
    Dns,
    Mailboxes,
    Journal,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Next,
        Pane::Steps,
        Pane::Dns,
        Pane::Mailboxes,
        Pane::Journal,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Steps => "Timeline",
            Pane::Next => "Next step",
            Pane::Dns => "DNS",
            Pane::Mailboxes => "Mailboxes",
            Pane::Journal => "Journal",
        }
    }

    /// The key scope of this pane.
    pub fn scope(self) -> Scope {
        match self {
            Pane::Steps | Pane::Next => Scope::Steps,
            Pane::Dns => Scope::Dns,
            Pane::Mailboxes => Scope::Mailboxes,
            Pane::Journal => Scope::Journal,
        }
    }
}

/// The column the mailbox table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Address,
    Synced,
    OldMessages,
    NewMessages,
    Error,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Address => SortKey::Synced,
            SortKey::Synced => SortKey::OldMessages,
            SortKey::OldMessages => SortKey::NewMessages,
            SortKey::NewMessages => SortKey::Error,
            SortKey::Error => SortKey::Address,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Address => "address",
            SortKey::Synced => "synced",
            SortKey::OldMessages => "old messages",
            SortKey::NewMessages => "new messages",
            SortKey::Error => "errors",
        }
    }
}

/// The mailbox table's view: which rows show, in what order, where the cursor is.
#[derive(Debug, Clone)]
pub struct MailboxView {
    /// Indices into `App::mailboxes`, filtered and sorted.
    pub order: Vec<usize>,
    /// Position in `order`.
    pub selected: usize,
    /// First visible position in `order`.
    pub offset: usize,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    /// `/` was pressed: keys type into the filter until Enter or Esc.
    pub editing_filter: bool,
    /// Lowercase addresses selected with Space.
    pub marked: BTreeSet<String>,
}

/// What a confirmation popup will record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmKind {
    Confirm,
    Reopen,
    /// `R`: roll back to the old server (R18); the reason is typed like an override's.
    Rollback,
}

/// The confirmation popup. Its checks are read from the current evaluation,
/// so what it shows is exactly what `y` records.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmPopup {
    pub kind: ConfirmKind,
    pub step: StepId,
    /// Per-mailbox ticks; empty for the step as a whole.
    pub mailboxes: Vec<String>,
    /// The override reason typed so far (only when checks fail).
    pub reason: String,
}

/// What a yes/no question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskKind {
    /// `q` while a copy runs, or in the rehearsal.
    Quit,
    /// `s` before the final-copy gate holds: an early (bulk) copy.
    EarlyCopy,
    /// `a` on a step whose gates do not hold yet.
    AppliedEarly,
    /// `m`: send canaries now.
    SendCanary,
}

/// A yes/no question before a key does something that cannot be taken back:
/// `y` carries out `then`, `n` or Esc does nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub kind: AskKind,
    pub title: String,
    /// What the question says, a paragraph per entry.
    pub text: Vec<String>,
    /// What `y` does, in a few words ("quit", "start the early copy").
    pub yes: String,
    /// What `y` carries out.
    pub then: Vec<Command>,
    /// The status line after `y`, when `then` does not say it itself.
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Confirm(ConfirmPopup),
    /// A yes/no question (quit, an early copy, applied before the gates hold).
    Ask(Ask),
    /// The detail of one mailbox (address).
    Mailbox(String),
    /// The detail of one DNS answer (row, column).
    DnsCell(usize, usize),
}

/// The whole state of one cockpit.
#[derive(Debug)]
pub struct App {
    pub plan: Plan,
    pub runbook: Runbook,
    pub timeline: Timeline,
    pub history: History,
    pub now: Timestamp,
    pub eval: Evaluation,
    pub role: Role,
    /// Started with `--offline`: no DNS or mailbox workers run.
    pub offline: bool,
    /// `NO_COLOR` is set: no colours, only bold and reverse.
    pub no_color: bool,
    /// `cutover demo`: a rehearsal on the sandbox (labelled so; the rehearsal keys work).
    pub rehearsal: bool,
    /// `cutover demo --keep DIR`: the rehearsal's directory stays after quitting.
    pub rehearsal_kept: bool,
    pub log_path: Option<PathBuf>,
    /// The latest DNS round, which the DNS checks read.
    pub dns_round: Option<crate::dns::DnsSnapshot>,
    /// The latest mailbox probes, which the mailbox checks read.
    pub mail_probes: Option<Vec<crate::mail::MailboxProbe>>,
    /// What the DNS pane shows, built from `dns_round` and the journal's DNS facts.
    pub dns: Option<DnsView>,
    pub mailboxes: Vec<MailboxRow>,
    pub mailbox_view: MailboxView,
    /// The journal pane's lines: the tail folded for people, with its kind filter.
    pub journal_view: JournalView,
    /// Journal pane: lines (of those the filter shows) scrolled up from the newest.
    pub journal_scroll: usize,
    /// The copies the journal reports: progress, rate and time left per mailbox.
    pub copies: CopyRuns,
    /// What the new MX said of each mailbox's addresses (lowercase address), from the
    /// journal's newest SMTP probe.
    pub new_mx: std::collections::HashMap<String, new_mx_view::NewMxAnswers>,
    /// Next-step pane: lines scrolled down from the top.
    pub next_scroll: usize,
    pub focus: Pane,
    /// Index into `eval.steps`.
    pub selected_step: usize,
    /// DNS pane cursor: (row, column).
    pub dns_cursor: (usize, usize),
    pub popup: Option<Popup>,
    pub help: bool,
    /// Help: lines scrolled down from the top.
    pub help_scroll: usize,
    /// The status line: the last thing that happened or was refused. It passes: the next
    /// key or [`NOTICE_TICKS`] clock ticks clear it, and the schedule line shows again.
    pub notice: Option<String>,
    /// Clock ticks since the notice last changed.
    pub notice_ticks: u32,
    /// The terminal size (columns, rows).
    pub size: (u16, u16),
    pub quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    /// The clock value last shown (minutes, or seconds near a deadline).
    shown_clock: i64,
    /// Automatic steps whose observed-done fact was asked for (not asked twice).
    pub observed_requested: BTreeSet<String>,
    // The rehearsal (issue 12 item 9): its introduction, clock and summary.
    pub rehearsal_screens: rehearsal::RehearsalScreens,
}

impl App {
    /// A cockpit on `plan` with the journal's `entries` replayed, at `now`.
    pub fn new(plan: Plan, entries: &[Entry], role: Role, now: Timestamp) -> App {
        let runbook = Runbook::for_plan(&plan);
        let timeline = timeline::build(&plan, &runbook);
        let history = History::from_entries(entries);
        // Until the first probe, what the journal's copy reports say.
        let mailboxes = mail_view::mailbox_rows(&plan, &[], &history);
        let copies = CopyRuns::from_entries(entries);
        let journal_view = JournalView::from_entries(entries, JOURNAL_TAIL, JOURNAL_TAIL);
        let eval = evaluate(&Inputs {
            plan: &plan,
            runbook: &runbook,
            timeline: &timeline,
            history: &history,
            dns: None,
            mail: None,
            now,
        });
        let selected_step = eval
            .next
            .as_ref()
            .and_then(|n| eval.steps.iter().position(|s| s.id == n.step))
            .unwrap_or(0);
        let new_mx = new_mx_view::new_mx_by_mailbox(&plan, &history);
        let mut app = App {
            plan,
            runbook,
            timeline,
            history,
            now,
            eval,
            role,
            offline: false,
            no_color: false,
            rehearsal: false,
            rehearsal_kept: false,
            log_path: None,
            dns_round: None,
            mail_probes: None,
            dns: None,
            mailboxes,
            mailbox_view: MailboxView {
                order: Vec::new(),
                selected: 0,
                offset: 0,
                sort: SortKey::Address,
                descending: false,
                filter: String::new(),
                editing_filter: false,
                marked: BTreeSet::new(),
            },
            journal_view,
            journal_scroll: 0,
            copies,
            new_mx,
            next_scroll: 0,
            focus: Pane::Next,
            selected_step,
            dns_cursor: (0, 0),
            popup: None,
            help: false,
            help_scroll: 0,
            notice: None,
            notice_ticks: 0,
            size: (120, 40),
            quit: false,
            dirty: true,
            shown_clock: 0,
            observed_requested: BTreeSet::new(),
            rehearsal_screens: rehearsal::RehearsalScreens::default(),
        };
        app.shown_clock = app.clock_key();
        app.reorder_mailboxes();
        app
    }

    /// Evaluates every step again; true if anything the screen shows changed.
    /// A cursor on the next step moves on with it once that step is finished.
    pub fn reevaluate(&mut self) -> bool {
        let was_next = self.eval.next.as_ref().map(|n| n.step.clone());
        let on_next =
            was_next.is_some() && self.selected_step().map(|s| &s.id) == was_next.as_ref();
        let mut eval = evaluate(&Inputs {
            plan: &self.plan,
            runbook: &self.runbook,
            timeline: &self.timeline,
            history: &self.history,
            dns: self.dns_round.as_ref(),
            mail: self.mail_probes.as_deref(),
            now: self.now,
        });
        if self.rehearsal {
            rehearsal::console_fixes(&self.plan, &mut eval);
        }
        let changed = eval.steps.len() != self.eval.steps.len()
            || eval.steps.iter().zip(&self.eval.steps).any(|(a, b)| {
                a.state != b.state || a.checks != b.checks || a.wait_until != b.wait_until
            })
            || eval.next.as_ref().map(|n| &n.step) != self.eval.next.as_ref().map(|n| &n.step)
            || eval.day != self.eval.day;
        self.eval = eval;
        let next = self.eval.next.as_ref().map(|n| n.step.clone());
        if on_next && next != was_next {
            self.next_scroll = 0;
            if let Some(i) = next.and_then(|id| self.eval.steps.iter().position(|s| s.id == id)) {
                self.selected_step = i;
            }
        }
        if self.selected_step >= self.eval.steps.len() {
            self.selected_step = self.eval.steps.len().saturating_sub(1);
        }
        changed
    }

    /// What the clock display depends on: the minute, or the second when a
    /// countdown under two minutes is on screen. A tick redraws only when it changes.
    fn clock_key(&self) -> i64 {
        let secs = self.now.as_second();
        let near = self
            .eval
            .steps
            .iter()
            .filter_map(|s| s.wait_until)
            .any(|u| {
                let left = u.as_second() - secs;
                (0..120).contains(&left)
            });
        if near { secs } else { secs.div_euclid(60) }
    }

    pub fn driving(&self) -> bool {
        self.role == Role::Driving
    }

    /// Indices into `eval.steps` in the order the timeline pane shows them: day by day,
    /// each day by start time (steps the timeline does not place come last). Up and Down
    /// move in this order, so the cursor never jumps about on screen.
    pub fn timeline_order(&self) -> Vec<usize> {
        let mut placed: Vec<(jiff::Timestamp, usize)> = Vec::with_capacity(self.eval.steps.len());
        for day in &self.timeline.days {
            for planned in &day.steps {
                if let Some(i) = self.eval.steps.iter().position(|s| s.id == planned.id) {
                    placed.push((planned.start.timestamp(), i));
                }
            }
        }
        // Stable: steps at the same time keep the runbook's order.
        placed.sort_by_key(|&(at, _)| at);
        let mut order: Vec<usize> = placed.into_iter().map(|(_, i)| i).collect();
        for i in 0..self.eval.steps.len() {
            if !order.contains(&i) {
                order.push(i);
            }
        }
        order
    }

    pub fn selected_step(&self) -> Option<&StepStatus> {
        self.eval.steps.get(self.selected_step)
    }

    /// The per-mailbox step ticks go to: the selected step if it is one, else
    /// the first open per-mailbox step.
    pub fn tick_step(&self) -> Option<&StepStatus> {
        if let Some(s) = self.selected_step()
            && s.mailboxes.is_some()
        {
            return Some(s);
        }
        let per_mailbox = || self.eval.steps.iter().filter(|s| s.mailboxes.is_some());
        per_mailbox()
            .find(|s| {
                !s.state.is_finished()
                    && !matches!(
                        s.state,
                        crate::runbook::StepState::Pending | crate::runbook::StepState::RolledBack
                    )
            })
            .or_else(|| per_mailbox().find(|s| !s.state.is_finished()))
            .or_else(|| per_mailbox().next())
    }

    /// The mailbox under the cursor in the table.
    pub fn selected_mailbox(&self) -> Option<&MailboxRow> {
        self.mailbox_view
            .order
            .get(self.mailbox_view.selected)
            .and_then(|&i| self.mailboxes.get(i))
    }

    /// The marked mailboxes, or the one under the cursor if none is marked.
    pub fn mailbox_targets(&self) -> Vec<String> {
        if self.mailbox_view.marked.is_empty() {
            self.selected_mailbox()
                .map(|m| vec![m.address.clone()])
                .unwrap_or_default()
        } else {
            self.mailboxes
                .iter()
                .filter(|m| self.mailbox_view.marked.contains(&m.address.to_lowercase()))
                .map(|m| m.address.clone())
                .collect()
        }
    }

    /// Rebuilds the table order after a filter, sort or data change, keeping the cursor on its mailbox.
    pub fn reorder_mailboxes(&mut self) {
        let keep = self.selected_mailbox().map(|m| m.address.clone());
        let filter = self.mailbox_view.filter.to_lowercase();
        let rows = &self.mailboxes;
        let mut order: Vec<usize> = (0..rows.len())
            .filter(|&i| filter.is_empty() || rows[i].address.to_lowercase().contains(&filter))
            .collect();
        let key = self.mailbox_view.sort;
        order.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            let by = match key {
                SortKey::Address => std::cmp::Ordering::Equal,
                SortKey::Synced => a
                    .synced_percent
                    .unwrap_or(-1.0)
                    .total_cmp(&b.synced_percent.unwrap_or(-1.0)),
                SortKey::OldMessages => a.old_messages.cmp(&b.old_messages),
                SortKey::NewMessages => a.new_messages.cmp(&b.new_messages),
                SortKey::Error => b.last_error.is_some().cmp(&a.last_error.is_some()),
            };
            by.then_with(|| a.address.cmp(&b.address))
        });
        if self.mailbox_view.descending {
            order.reverse();
        }
        self.mailbox_view.order = order;
        self.mailbox_view.selected = keep
            .and_then(|addr| {
                self.mailbox_view
                    .order
                    .iter()
                    .position(|&i| self.mailboxes[i].address == addr)
            })
            .unwrap_or(0);
        self.scroll_mailboxes_into_view();
    }

    /// Keeps the cursor row on screen, moving the window as little as possible.
    pub fn scroll_mailboxes_into_view(&mut self) {
        let rows = layout::mailbox_rows_visible(self).max(1);
        let view = &mut self.mailbox_view;
        let len = view.order.len();
        view.selected = view.selected.min(len.saturating_sub(1));
        if view.selected < view.offset {
            view.offset = view.selected;
        } else if view.selected >= view.offset + rows {
            view.offset = view.selected + 1 - rows;
        }
        view.offset = view.offset.min(len.saturating_sub(rows));
    }

    /// The copy progress of a mailbox, from the journal's copy lines.
    pub fn copy_state(&self, row: &MailboxRow) -> Option<crate::app::model::CopyProgress> {
        self.copies.progress(&row.address)
    }

    /// Every running copy together (how many, their sums), for the table's total line.
    pub fn copy_total(&self) -> Option<(usize, crate::app::model::CopyProgress)> {
        self.copies.total()
    }

    /// The mailboxes whose copy runs now, as the journal says, in address order.
    pub fn running_copies(&self) -> Vec<&str> {
        let mut running: Vec<&str> = self
            .history
            .sync
            .iter()
            .filter(|(_, s)| s.state == "running")
            .map(|(m, _)| m.as_str())
            .collect();
        running.sort_unstable();
        running
    }

    /// Whether R12's 24 h gate for the final copy holds now.
    pub fn final_copy_gate_holds(&self) -> bool {
        self.eval
            .step(&StepId::FinalCopy)
            .is_some_and(|s| s.gates_hold())
    }
}
