//! `update`: the one place the cockpit's state changes. Synchronous, no I/O.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::journal_view::JournalView;
use super::keymap::{KeyAction, Scope, lookup};
use super::questions::{answer, ask_quit, early_copy_question};
use super::{
    App, Ask, AskKind, Command, ConfirmKind, ConfirmPopup, Event, JOURNAL_TAIL, NOTICE_TICKS, Pane,
    Popup, Role,
};
use crate::actions::{MIN_REASON_CHARS, Refusal, alarm_blockers, confirmation_entry};
use crate::journal::Entry;
use crate::journal::History;
use crate::runbook::Mode;
use crate::runbook::eval::confirm_blockers;
use crate::sanitize::sanitize;

/// Applies one event to the state; returns what must be done outside (I/O).
#[must_use = "the commands update returns must be carried out"]
pub fn update(app: &mut App, event: Event) -> Vec<Command> {
    let before = app.notice.clone();
    let mut commands = apply(app, event);
    commands.extend(observed_steps(app));
    commands.extend(super::rehearsal::after_update(app));
    if app.notice != before {
        app.notice_ticks = 0;
        app.dirty = true;
    }
    commands
}

/// A notice passes: after [`NOTICE_TICKS`] ticks the status line shows the schedule again.
fn age_notice(app: &mut App) {
    if app.notice.is_none() {
        return;
    }
    app.notice_ticks += 1;
    if app.notice_ticks >= NOTICE_TICKS {
        app.notice = None;
        app.dirty = true;
    }
}

/// The driving cockpit journals automatic steps it sees done, so they stay done.
fn observed_steps(app: &mut App) -> Vec<Command> {
    if !app.driving() {
        return Vec::new();
    }
    crate::runbook::eval::observed_steps(&app.eval, &app.history, app.now)
        .into_iter()
        .filter_map(|entry| {
            let Entry::Fact { value, .. } = &entry else {
                return None;
            };
            let step = value.get("step")?.as_str()?.to_string();
            // Asked once; the journal's echo then marks it done in the history.
            app.observed_requested
                .insert(step.clone())
                .then(|| Command::Append {
                    entry,
                    done: format!("{step} observed done"),
                    then: None,
                })
        })
        .collect()
}

fn apply(app: &mut App, event: Event) -> Vec<Command> {
    match event {
        Event::Key(key) => {
            if key.kind != KeyEventKind::Press {
                return Vec::new();
            }
            app.dirty = true;
            // A key means the notice was read: the status line returns to the schedule
            // unless the key says something new.
            app.notice = None;
            app.notice_ticks = 0;
            on_key(app, key)
        }
        Event::Tick(now) => {
            app.now = now;
            age_notice(app);
            let changed = app.reevaluate();
            let clock = app.clock_key();
            if changed || clock != app.shown_clock {
                app.shown_clock = clock;
                app.dirty = true;
            }
            Vec::new()
        }
        Event::Resize(columns, rows) => {
            app.size = (columns, rows);
            app.scroll_mailboxes_into_view();
            app.dirty = true;
            Vec::new()
        }
        Event::Journal { entries, restarted } => {
            if restarted {
                app.history = History::from_entries(&entries);
                app.copies = crate::app::mail_view::CopyRuns::from_entries(&entries);
                let filter = app.journal_view.filter;
                app.journal_view = JournalView::from_entries(&entries, JOURNAL_TAIL, JOURNAL_TAIL);
                app.journal_view.filter = filter;
            } else {
                for entry in &entries {
                    app.history.apply(entry);
                    app.copies.apply(entry);
                    app.journal_view.push(entry);
                }
            }
            if !entries.is_empty() || restarted {
                refresh_mailboxes(app, &entries, restarted);
                let probed = entries.iter().any(
                    |e| matches!(e, Entry::Fact { key, .. } if key == crate::smtp::steps::PROBE_FACT),
                );
                if probed || restarted {
                    app.new_mx =
                        crate::app::new_mx_view::new_mx_by_mailbox(&app.plan, &app.history);
                }
                // New DNS facts (an alarm, a transition) change what the DNS pane says.
                if let Some(round) = &app.dns_round {
                    app.dns = Some(crate::app::dns_view::dns_view(
                        &app.plan,
                        round,
                        &app.history.dns,
                    ));
                }
                app.reevaluate();
                app.dirty = true;
            }
            Vec::new()
        }
        Event::DnsRound(round) => {
            app.dns = Some(crate::app::dns_view::dns_view(
                &app.plan,
                &round,
                &app.history.dns,
            ));
            app.dns_round = Some(*round);
            app.reevaluate();
            app.dirty = true;
            Vec::new()
        }
        Event::MailProbes(probes) => {
            app.mailboxes = crate::app::mail_view::mailbox_rows(&app.plan, &probes, &app.history);
            app.mail_probes = Some(probes);
            app.reorder_mailboxes();
            app.reevaluate();
            app.dirty = true;
            Vec::new()
        }
        Event::Notice(text) => {
            app.notice = Some(text);
            app.dirty = true;
            Vec::new()
        }
        Event::Role(role) => {
            app.notice = Some(match &role {
                Role::Driving => "The driver left: this cockpit now drives.".to_string(),
                Role::Observing(d) => format!("{d} drives now; this cockpit observes."),
            });
            app.role = role;
            app.dirty = true;
            Vec::new()
        }
        Event::Rehearsal(what) => super::rehearsal::on_update(app, what),
        Event::Shutdown => {
            app.quit = true;
            vec![Command::Quit]
        }
    }
}

/// Copy lines and mailbox facts change rows: those mailboxes' rows are built again (all of
/// them when many changed at once or the journal restarted).
fn refresh_mailboxes(app: &mut App, entries: &[Entry], restarted: bool) {
    let touched: std::collections::HashSet<String> = entries
        .iter()
        .filter_map(crate::app::mail_view::touches)
        .collect();
    if touched.is_empty() && !restarted {
        return;
    }
    let probes = app.mail_probes.as_deref();
    if restarted || touched.len() > 64 {
        app.mailboxes =
            crate::app::mail_view::mailbox_rows(&app.plan, probes.unwrap_or(&[]), &app.history);
    } else {
        crate::app::mail_view::refresh_rows(&mut app.mailboxes, &touched, probes, &app.history);
    }
    app.reorder_mailboxes();
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Command> {
    if app.help {
        return help_key(app, key);
    }
    if let Some(commands) = super::rehearsal::on_key(app, &key) {
        return commands;
    }
    if let Some(Popup::Confirm(popup)) = &app.popup {
        let popup = popup.clone();
        if needs_reason(app, &popup) {
            return type_reason(app, popup, key);
        }
        match lookup(Scope::Popup, &key) {
            Some(KeyAction::Yes) => return record(app, &popup),
            Some(KeyAction::No) => {
                app.popup = None;
                app.notice = Some("Cancelled: nothing was recorded.".into());
            }
            _ => {}
        }
        return Vec::new();
    }
    if let Some(Popup::Ask(ask)) = &app.popup {
        let ask = ask.clone();
        return answer(app, ask, key);
    }
    if app.popup.is_some() {
        match lookup(Scope::Global, &key) {
            Some(KeyAction::Close) => app.popup = None,
            Some(KeyAction::Quit) => {
                app.popup = None;
                return ask_quit(app);
            }
            _ if key.code == KeyCode::Enter => app.popup = None,
            _ => {}
        }
        return Vec::new();
    }
    if app.mailbox_view.editing_filter {
        edit_filter(app, key);
        return Vec::new();
    }
    let action = lookup(app.focus.scope(), &key).or_else(|| {
        app.rehearsal
            .then(|| lookup(Scope::Rehearsal, &key))
            .flatten()
    });
    let Some(action) = action else {
        return Vec::new();
    };
    on_action(app, action)
}

pub(super) fn quit(app: &mut App) -> Vec<Command> {
    app.quit = true;
    vec![Command::Quit]
}

/// The help's own keys: it scrolls; `?` or Esc closes it.
fn help_key(app: &mut App, key: KeyEvent) -> Vec<Command> {
    let page = crate::app::layout::help_rows_visible(app);
    let end = crate::app::layout::help_scroll_max(app);
    let scroll = &mut app.help_scroll;
    match lookup(Scope::Global, &key) {
        Some(KeyAction::Help | KeyAction::Close) => {
            app.help = false;
            app.help_scroll = 0;
        }
        Some(KeyAction::Quit) => {
            app.help = false;
            return ask_quit(app);
        }
        Some(KeyAction::Up) => *scroll = scroll.saturating_sub(1),
        Some(KeyAction::Down) => *scroll += 1,
        Some(KeyAction::PageUp) => *scroll = scroll.saturating_sub(page),
        Some(KeyAction::PageDown) => *scroll += page,
        Some(KeyAction::Top) => *scroll = 0,
        Some(KeyAction::Bottom) => *scroll = end,
        _ => {}
    }
    app.help_scroll = app.help_scroll.min(end);
    Vec::new()
}

fn on_action(app: &mut App, action: KeyAction) -> Vec<Command> {
    match action {
        KeyAction::Up => move_cursor(app, -1),
        KeyAction::Down => move_cursor(app, 1),
        KeyAction::PageUp => move_cursor(app, -page(app)),
        KeyAction::PageDown => move_cursor(app, page(app)),
        KeyAction::Top => move_cursor(app, -(isize::MAX / 2)),
        KeyAction::Bottom => move_cursor(app, isize::MAX / 2),
        KeyAction::Left | KeyAction::Right if app.focus == Pane::Dns => {
            let columns = app.dns.as_ref().map_or(0, |d| d.servers.len());
            let col = &mut app.dns_cursor.1;
            *col = if action == KeyAction::Left {
                col.saturating_sub(1)
            } else {
                (*col + 1).min(columns.saturating_sub(1))
            };
        }
        KeyAction::Left | KeyAction::Right => {}
        KeyAction::NextPane | KeyAction::PrevPane => {
            let panes = Pane::ALL;
            let at = panes.iter().position(|p| *p == app.focus).unwrap_or(0);
            let next = if action == KeyAction::NextPane {
                (at + 1) % panes.len()
            } else {
                (at + panes.len() - 1) % panes.len()
            };
            app.focus = panes[next];
        }
        KeyAction::Open => open(app),
        KeyAction::Applied => return applied(app),
        KeyAction::Reopen => reopen(app),
        KeyAction::Rollback => rollback(app),
        KeyAction::Tick => tick(app),
        KeyAction::Mark => {
            if let Some(m) = app.selected_mailbox() {
                let addr = m.address.to_lowercase();
                if !app.mailbox_view.marked.remove(&addr) {
                    app.mailbox_view.marked.insert(addr);
                }
                move_cursor(app, 1);
            }
        }
        KeyAction::Filter => app.mailbox_view.editing_filter = true,
        KeyAction::Sort => {
            app.mailbox_view.sort = app.mailbox_view.sort.next();
            app.notice = Some(format!(
                "Mailboxes sorted by {}.",
                app.mailbox_view.sort.as_str()
            ));
            app.reorder_mailboxes();
        }
        KeyAction::ReverseSort => {
            app.mailbox_view.descending = !app.mailbox_view.descending;
            app.reorder_mailboxes();
        }
        KeyAction::Copy => return copy(app),
        KeyAction::SendCanary => return super::questions::ask_send_canary(app),
        KeyAction::Refresh => {
            if app.offline {
                app.notice =
                    Some("Offline (--offline): nothing is measured, nothing to refresh.".into());
                return Vec::new();
            }
            app.notice = Some("Refreshing DNS and mailboxes…".into());
            return vec![Command::Refresh];
        }
        KeyAction::Help => {
            app.help = true;
            app.help_scroll = 0;
        }
        KeyAction::Quit => return ask_quit(app),
        KeyAction::Close => {
            app.notice = None;
            app.mailbox_view.marked.clear();
        }
        KeyAction::JournalFilter => {
            app.journal_view.filter = app.journal_view.filter.next();
            app.journal_scroll = 0;
            app.notice = Some(format!(
                "Journal shows {}.",
                app.journal_view.filter.as_str()
            ));
        }
        KeyAction::Yes | KeyAction::No => {}
        KeyAction::Rehearsal(what) if app.rehearsal => return vec![Command::Rehearsal(what)],
        KeyAction::Rehearsal(_) => {}
    }
    Vec::new()
}

fn page(app: &App) -> isize {
    isize::try_from(crate::app::layout::mailbox_rows_visible(app).max(1)).unwrap_or(10)
}

fn step_by(at: usize, by: isize, len: usize) -> usize {
    let moved = if by < 0 {
        at.saturating_sub(by.unsigned_abs())
    } else {
        at.saturating_add(by.unsigned_abs())
    };
    moved.min(len.saturating_sub(1))
}

fn move_cursor(app: &mut App, by: isize) {
    match app.focus {
        Pane::Steps => {
            // In the order the timeline shows, not the runbook's.
            let order = app.timeline_order();
            let at = order
                .iter()
                .position(|&i| i == app.selected_step)
                .unwrap_or(0);
            if let Some(&i) = order.get(step_by(at, by, order.len())) {
                app.selected_step = i;
            }
        }
        Pane::Next => {
            // The pane clamps it to its text when drawn.
            app.next_scroll = step_by(app.next_scroll, by, 200);
        }
        Pane::Dns => {
            let rows = app.dns.as_ref().map_or(0, |d| d.rows.len());
            app.dns_cursor.0 = step_by(app.dns_cursor.0, by, rows);
        }
        Pane::Mailboxes => {
            let view = &mut app.mailbox_view;
            view.selected = step_by(view.selected, by, view.order.len());
            app.scroll_mailboxes_into_view();
        }
        Pane::Journal => {
            // Up scrolls back in time.
            let up = -by;
            app.journal_scroll = step_by(app.journal_scroll, up, app.journal_view.shown());
        }
    }
}

fn edit_filter(app: &mut App, key: KeyEvent) {
    let view = &mut app.mailbox_view;
    match key.code {
        KeyCode::Esc => {
            view.filter.clear();
            view.editing_filter = false;
        }
        KeyCode::Enter => view.editing_filter = false,
        KeyCode::Backspace => {
            view.filter.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) && !c.is_control() => {
            view.filter.push(c);
        }
        _ => return,
    }
    app.reorder_mailboxes();
}

/// Observers change nothing: every recording action says who drives instead.
fn refuse_if_observing(app: &mut App) -> bool {
    if let Role::Observing(driver) = &app.role {
        app.notice = Some(format!(
            "Read-only: this cockpit observes; {driver} drives. Confirm from that cockpit."
        ));
        return true;
    }
    false
}

/// The step a step key acts on: the next step in its own pane, else the timeline's cursor.
fn target_step(app: &App) -> Option<&crate::runbook::StepStatus> {
    match (app.focus, &app.eval.next) {
        (Pane::Next, Some(next)) => app.eval.step(&next.step),
        _ => app.selected_step(),
    }
}

fn open(app: &mut App) {
    match app.focus {
        Pane::Steps | Pane::Next => {
            if refuse_if_observing(app) {
                return;
            }
            let Some(step) = target_step(app) else {
                return;
            };
            if step.state.is_finished() {
                app.notice = Some(format!(
                    "{} is already {}; `u` reopens it.",
                    step.id,
                    step.state.as_str()
                ));
                return;
            }
            app.popup = Some(Popup::Confirm(ConfirmPopup {
                kind: ConfirmKind::Confirm,
                step: step.id.clone(),
                mailboxes: Vec::new(),
                reason: String::new(),
            }));
        }
        Pane::Dns => {
            if app.dns.as_ref().is_some_and(|d| !d.rows.is_empty()) {
                app.popup = Some(Popup::DnsCell(app.dns_cursor.0, app.dns_cursor.1));
            } else {
                app.notice = Some("DNS not measured yet.".into());
            }
        }
        Pane::Mailboxes => {
            if let Some(m) = app.selected_mailbox() {
                app.popup = Some(Popup::Mailbox(m.address.clone()));
            }
        }
        Pane::Journal => {}
    }
}

fn applied(app: &mut App) -> Vec<Command> {
    if refuse_if_observing(app) {
        return Vec::new();
    }
    let Some(step) = target_step(app) else {
        return Vec::new();
    };
    // From the evaluation, which knows the rollback steps too.
    if step.mode == Mode::Automatic {
        app.notice = Some(format!(
            "{} is automatic: cutover sees it happen; there is nothing to apply.",
            step.id
        ));
        return Vec::new();
    }
    let id = step.id.clone();
    let warning = crate::runbook::eval::applied_warning(step);
    let failing: Vec<String> = step
        .checks
        .iter()
        .filter(|c| c.kind == crate::check::Kind::Gate && !c.status.holds())
        .map(|c| format!("{} {}: {}", c.status.mark(), c.id, sanitize(&c.evidence)))
        .collect();
    let done = match &warning {
        Some(warning) => format!("Recorded: {id} applied. Warning: {warning}."),
        None => format!("Recorded: {id} applied. cutover now watches for its outcome."),
    };
    let append = Command::Append {
        entry: Entry::Applied {
            at: app.now,
            operator: app.plan.operator.clone(),
            step: id.clone(),
        },
        done,
        then: None,
    };
    let Some(warning) = warning else {
        return vec![append];
    };
    // The change may be made already, so it can be recorded; but the gates are there
    // because making it too early costs mail: ask first.
    let mut text = vec![format!("{warning}.")];
    text.extend(failing);
    text.push(format!(
        "`a` records that you made {id}'s change now. Made before its gates hold, it may cost mail. Record it applied anyway?"
    ));
    app.popup = Some(Popup::Ask(Ask {
        kind: AskKind::AppliedEarly,
        title: format!("{id}: gates do not hold yet"),
        text,
        yes: "record anyway".into(),
        then: vec![append],
        notice: None,
    }));
    Vec::new()
}

fn reopen(app: &mut App) {
    if refuse_if_observing(app) {
        return;
    }
    let (step, mailboxes) = if app.focus == Pane::Mailboxes {
        let Some(step) = app.tick_step() else {
            app.notice = Some("No per-mailbox step to take a tick back from.".into());
            return;
        };
        (step.id.clone(), app.mailbox_targets())
    } else {
        let Some(step) = target_step(app) else {
            return;
        };
        (step.id.clone(), Vec::new())
    };
    app.popup = Some(Popup::Confirm(ConfirmPopup {
        kind: ConfirmKind::Reopen,
        step,
        mailboxes,
        reason: String::new(),
    }));
}

fn tick(app: &mut App) {
    if refuse_if_observing(app) {
        return;
    }
    let Some(step) = app.tick_step() else {
        app.notice = Some("This plan has no per-mailbox step.".into());
        return;
    };
    let step = step.id.clone();
    let mailboxes = app.mailbox_targets();
    if mailboxes.is_empty() {
        app.notice = Some("No mailbox selected.".into());
        return;
    }
    app.popup = Some(Popup::Confirm(ConfirmPopup {
        kind: ConfirmKind::Confirm,
        step,
        mailboxes,
        reason: String::new(),
    }));
}

/// `R`: the rollback popup, asking why; refused at once (with the reason) when a rollback
/// is not possible now, as `cutover rollback` refuses it.
fn rollback(app: &mut App) {
    if refuse_if_observing(app) {
        return;
    }
    let trial = crate::runbook::rollback::start(&app.history, &app.plan.operator, "", app.now);
    if let Err(refusal) = trial {
        app.notice = Some(format!("Not possible: {refusal}."));
        return;
    }
    app.popup = Some(Popup::Confirm(ConfirmPopup {
        kind: ConfirmKind::Rollback,
        step: crate::step::StepId::AddNewMx,
        mailboxes: Vec::new(),
        reason: String::new(),
    }));
}

/// Whether confirming needs a typed override reason: a check that matters does not
/// hold, or a raised alarm holds the step back. A rollback always says why.
pub fn needs_reason(app: &App, popup: &ConfirmPopup) -> bool {
    popup.kind == ConfirmKind::Rollback
        || popup.kind == ConfirmKind::Confirm
            && app.eval.step(&popup.step).is_some_and(|s| {
                !confirm_blockers(s, !popup.mailboxes.is_empty()).is_empty()
                    || !alarm_blockers(&s.id, &app.eval.alarms).is_empty()
            })
}

/// The override popup: every printable key types into the reason (`y` and `n` too);
/// only Enter (record) and Esc (cancel) act.
fn type_reason(app: &mut App, mut popup: ConfirmPopup, key: KeyEvent) -> Vec<Command> {
    match lookup(Scope::Reason, &key) {
        Some(KeyAction::No) => {
            app.popup = None;
            app.notice = Some("Cancelled: nothing was recorded.".into());
            return Vec::new();
        }
        Some(KeyAction::Yes) => return record(app, &popup),
        _ => {}
    }
    match key.code {
        KeyCode::Backspace => {
            popup.reason.pop();
        }
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            app.popup = None;
            return Vec::new();
        }
        KeyCode::Char(c) if !c.is_control() => popup.reason.push(c),
        _ => {}
    }
    app.popup = Some(Popup::Confirm(popup));
    Vec::new()
}

/// Turns the popup into journal entries, with the same rule as `cutover confirm`.
fn record(app: &mut App, popup: &ConfirmPopup) -> Vec<Command> {
    if refuse_if_observing(app) {
        app.popup = None;
        return Vec::new();
    }
    let Some(status) = app.eval.step(&popup.step) else {
        app.popup = None;
        return Vec::new();
    };
    let operator = app.plan.operator.clone();
    let targets: Vec<Option<String>> = if popup.mailboxes.is_empty() {
        vec![None]
    } else {
        popup.mailboxes.iter().cloned().map(Some).collect()
    };
    let what = |m: &Option<String>| match m {
        Some(m) => format!("{} for {}", popup.step, sanitize(m)),
        None => popup.step.to_string(),
    };
    let mut commands = Vec::new();
    match popup.kind {
        ConfirmKind::Rollback => {
            if !crate::actions::reason_is_enough(&popup.reason) {
                app.notice = Some(format!(
                    "Not recorded: a rollback needs a reason of at least {MIN_REASON_CHARS} characters ({} typed).",
                    popup.reason.trim().chars().count()
                ));
                return Vec::new();
            }
            match crate::runbook::rollback::start(&app.history, &operator, &popup.reason, app.now) {
                Ok(entries) => {
                    let last = entries.len().saturating_sub(1);
                    for (i, entry) in entries.into_iter().enumerate() {
                        let done = if i == last {
                            "Recorded: rollback decided; the way back is in the timeline.".into()
                        } else {
                            String::new()
                        };
                        commands.push(Command::Append {
                            entry,
                            done,
                            then: None,
                        });
                    }
                }
                Err(refusal) => {
                    app.popup = None;
                    app.notice = Some(format!("Not possible: {refusal}."));
                    return Vec::new();
                }
            }
        }
        ConfirmKind::Reopen => {
            for m in &targets {
                commands.push(Command::Append {
                    entry: Entry::Reopen {
                        at: app.now,
                        operator: operator.clone(),
                        step: popup.step.clone(),
                        mailbox: m.clone(),
                    },
                    done: format!("Recorded: {} reopened.", what(m)),
                    then: None,
                });
            }
        }
        ConfirmKind::Confirm => {
            // With a check that does not hold, what was typed is the override's reason,
            // even when empty: the one rule then says what is missing.
            let reason = needs_reason(app, popup).then_some(popup.reason.as_str());
            for m in &targets {
                match confirmation_entry(
                    status,
                    m.clone(),
                    reason,
                    &operator,
                    app.now,
                    &app.eval.alarms,
                ) {
                    Ok(entry) => {
                        let done = match entry {
                            Entry::Override { .. } => {
                                format!("Recorded: {} confirmed by override.", what(m))
                            }
                            _ => format!("Recorded: {} confirmed.", what(m)),
                        };
                        // What the authoritative servers served in the round the step was
                        // judged on (the report's DNS section); not for a mailbox's tick.
                        let then = match (m, &app.dns_round) {
                            (None, Some(round)) => crate::recorder::Recorder::dns_records_fact(
                                &popup.step,
                                round,
                                app.now,
                            )
                            .map(Box::new),
                            _ => None,
                        };
                        commands.push(Command::Append { entry, done, then });
                    }
                    Err(Refusal::ShortReason) => {
                        app.notice = Some(format!(
                            "Not recorded: an override needs a reason of at least {MIN_REASON_CHARS} characters ({} typed).",
                            popup.reason.trim().chars().count()
                        ));
                        return Vec::new();
                    }
                    Err(Refusal::Blocked(_)) => {
                        app.notice = Some(
                            "Not recorded: checks do not hold. Type why they may be ignored, then Enter."
                                .into(),
                        );
                        return Vec::new();
                    }
                }
            }
        }
    }
    app.popup = None;
    app.mailbox_view.marked.clear();
    commands
}

fn copy(app: &mut App) -> Vec<Command> {
    if refuse_if_observing(app) {
        return Vec::new();
    }
    let running = |app: &App, addr: &str| {
        app.history
            .sync
            .get(addr)
            .filter(|s| s.state == "running")
            .map(|s| s.pid)
    };
    let targets: Vec<String> = if app.focus == Pane::Mailboxes {
        app.mailbox_targets()
    } else {
        Vec::new()
    };
    // During a rollback `s` copies back what reached the new server (R18), never forward.
    let reverse = crate::runbook::rollback::active(&app.history).is_some();
    let precopy = !reverse && !app.final_copy_gate_holds();
    let label = if reverse {
        "Copy back"
    } else if precopy {
        "Early (bulk) copy"
    } else {
        "Copy"
    };
    let commands = if targets.is_empty() {
        let pauses: Vec<Command> = app
            .history
            .sync
            .iter()
            .filter(|(_, s)| s.state == "running")
            .map(|(m, s)| Command::PauseCopy {
                mailbox: m.clone(),
                pid: s.pid,
            })
            .collect();
        if !pauses.is_empty() {
            app.notice = Some(format!("Pausing {} running copies…", pauses.len()));
            return pauses;
        }
        vec![Command::StartCopy {
            mailbox: None,
            precopy,
            reverse,
        }]
    } else {
        targets
            .into_iter()
            .map(|m| match running(app, &m) {
                Some(pid) => Command::PauseCopy { mailbox: m, pid },
                None => Command::StartCopy {
                    mailbox: Some(m),
                    precopy,
                    reverse,
                },
            })
            .collect()
    };
    let what = match commands.as_slice() {
        [
            Command::StartCopy {
                mailbox: Some(m), ..
            },
        ] => sanitize(m),
        [Command::StartCopy { mailbox: None, .. }] => "every mailbox".to_string(),
        _ => format!("{} mailboxes", commands.len()),
    };
    let notice = match commands.as_slice() {
        [Command::PauseCopy { mailbox, .. }] => {
            format!("Pausing the copy of {}…", sanitize(mailbox))
        }
        _ => format!("{label}: starting for {what}…"),
    };
    let starts = commands
        .iter()
        .any(|c| matches!(c, Command::StartCopy { .. }));
    if precopy && starts {
        app.popup = Some(Popup::Ask(early_copy_question(
            app, &what, commands, notice,
        )));
        return Vec::new();
    }
    app.notice = Some(notice);
    commands
}
