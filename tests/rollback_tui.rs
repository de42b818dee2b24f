//! `R` in the cockpit: the rollback asked with the override popup's reason field, refused
//! before the switch, journaled exactly as `cutover rollback` journals it.

#[path = "support/plans.rs"]
mod plans;

use cutover::app::{App, Command, ConfirmKind, Event, Pane, Popup, Role, update};
use cutover::journal::{Entry, History};
use cutover::runbook::StepState;
use cutover::step::StepId;
use jiff::Timestamp;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn now() -> Timestamp {
    "2026-12-08T16:00:00Z".parse().expect("time")
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn confirmed(step: StepId) -> Entry {
    Entry::Confirm {
        at: now(),
        operator: "tester".into(),
        step,
        mailbox: None,
        evidence: vec![],
    }
}

fn app_with(entries: &[Entry]) -> App {
    let mut app = App::new(plans::plan_from(plans::PLAN), entries, Role::Driving, now());
    let _ = update(&mut app, Event::Resize(120, 40));
    app.focus = Pane::Steps;
    app
}

#[test]
fn r_before_the_switch_says_why_not_and_opens_nothing() {
    let mut app = app_with(&[confirmed(StepId::LowerTtl)]);
    assert!(key(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app.popup.is_none());
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.contains("nothing to roll back"), "{notice}");
}

#[test]
fn r_asks_why_with_the_reason_field_and_records_the_rollback() {
    let entries = [confirmed(StepId::AddNewMx), confirmed(StepId::RemoveOldMx)];
    let mut app = app_with(&entries);
    assert!(key(&mut app, KeyCode::Char('R')).is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(p)) if p.kind == ConfirmKind::Rollback),
        "{:?}",
        app.popup
    );
    // `y` is the reason's first letter, not a yes; a short reason records nothing.
    for c in "yes".chars() {
        assert!(key(&mut app, KeyCode::Char(c)).is_empty());
    }
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        app.notice
            .as_deref()
            .unwrap_or_default()
            .contains("at least 10 characters (3 typed)")
    );
    for c in " the new MX refuses mail".chars() {
        assert!(key(&mut app, KeyCode::Char(c)).is_empty());
    }
    let commands = key(&mut app, KeyCode::Enter);
    let appended: Vec<Entry> = commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Append { entry, .. } => Some(entry),
            _ => None,
        })
        .collect();
    // Exactly what `cutover rollback` would append.
    let history = History::from_entries(&entries);
    let expected = cutover::runbook::rollback::start(
        &history,
        &app.plan.operator,
        "yes the new MX refuses mail",
        now(),
    )
    .expect("possible");
    assert_eq!(appended, expected);
    let _ = update(
        &mut app,
        Event::Journal {
            entries: appended,
            restarted: false,
        },
    );
    assert!(app.popup.is_none());
    assert_eq!(
        app.eval.step(&StepId::RemoveOldMx).map(|s| s.state),
        Some(StepState::RolledBack)
    );
    assert_eq!(
        app.eval.next.as_ref().map(|n| n.step.clone()),
        Some(StepId::RollbackAddOldMx)
    );
    // A second `R` while the rollback stands says so.
    assert!(key(&mut app, KeyCode::Char('R')).is_empty());
    assert!(app.popup.is_none());
    assert!(
        app.notice
            .as_deref()
            .unwrap_or_default()
            .contains("a rollback already stands")
    );
}

#[test]
fn the_timeline_shows_the_way_back_after_the_days_and_the_popup_asks_why() {
    use ratatui::{Terminal, backend::TestBackend};
    let entries = [confirmed(StepId::AddNewMx), confirmed(StepId::RemoveOldMx)];
    let mut app = app_with(&entries);
    let screen = |app: &mut App| {
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        terminal
            .draw(|f| cutover::ui::render(f, app))
            .expect("draw");
        format!("{}", terminal.backend())
    };
    key(&mut app, KeyCode::Char('R'));
    let popup = screen(&mut app);
    assert!(popup.contains("Roll back to the old server"), "{popup}");
    assert!(popup.contains("rollback decided by"), "{popup}");
    let commands = key(&mut app, KeyCode::Esc);
    assert!(commands.is_empty() && app.popup.is_none());
    let history = History::from_entries(&entries);
    let decision =
        cutover::runbook::rollback::start(&history, "tester", "the new MX refuses mail", now())
            .expect("possible");
    let _ = update(
        &mut app,
        Event::Journal {
            entries: decision,
            restarted: false,
        },
    );
    // The Next step pane leads with the way back; the timeline lists it after the days.
    app.focus = Pane::Steps;
    let shown = screen(&mut app);
    assert!(shown.contains("Way back"), "{shown}");
    assert!(shown.contains("rollback-add-old-mx"), "{shown}");
    assert!(shown.contains("↶"), "{shown}");
}

#[test]
fn during_a_rollback_mailbox_ticks_go_to_the_way_back_not_to_a_rolled_back_step() {
    let tick = Entry::Confirm {
        at: now(),
        operator: "tester".into(),
        step: StepId::RemoveOldAccounts,
        mailbox: Some("bob@example.com".into()),
        evidence: vec![],
    };
    let mut entries = vec![confirmed(StepId::AddNewMx), tick];
    entries.extend(
        cutover::runbook::rollback::start(
            &History::from_entries(&entries),
            "tester",
            "the new MX refuses mail",
            now(),
        )
        .expect("possible"),
    );
    entries.push(confirmed(StepId::RollbackAddOldMx));
    let app = app_with(&entries);
    assert_eq!(
        app.eval.step(&StepId::RemoveOldAccounts).map(|s| s.state),
        Some(StepState::RolledBack)
    );
    assert_eq!(
        app.tick_step().map(|s| s.id.clone()),
        Some(StepId::RollbackClients)
    );
}
