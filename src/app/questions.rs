//! The yes/no questions asked before a key does what cannot be taken back: quitting
//! (a copy runs, or the rehearsal ends), an early copy, `applied` before the gates hold.

use crate::step::StepId;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::{KeyAction, Scope, lookup};
use super::update::quit;
use super::{App, Ask, AskKind, Command, Popup};
use crate::sanitize::sanitize;

/// `q`: at once, unless leaving costs something — a running copy (it goes on, detached, but
/// the operator should know), or the rehearsal (its servers stop; its directory may go).
pub(super) fn ask_quit(app: &mut App) -> Vec<Command> {
    let running: Vec<String> = app.running_copies().iter().map(|m| sanitize(m)).collect();
    if !app.rehearsal && running.is_empty() {
        return quit(app);
    }
    let copies = match running.as_slice() {
        [] => String::new(),
        [one] => format!("the copy of {one}"),
        [first, rest @ ..] => format!("the copies of {first} and {} more", rest.len()),
    };
    let mut text = Vec::new();
    if app.rehearsal {
        let dir = app
            .plan
            .path
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        text.push(if app.rehearsal_kept {
            format!(
                "This ends the rehearsal: its simulated servers stop. Its plan and journal stay in {dir} (--keep)."
            )
        } else {
            format!(
                "This ends the rehearsal: its simulated servers stop and its directory {dir} is deleted, with the plan, journal and log. To keep them, start it with `cutover demo --keep DIR`."
            )
        });
        if !running.is_empty() {
            text.push(format!(
                "Running now: {copies}; it stops with the rehearsal."
            ));
        }
    } else {
        text.push(format!(
            "Running now: {copies}. A copy runs in its own process: it goes on after you quit, and the cockpit shows it again when started."
        ));
    }
    app.popup = Some(Popup::Ask(Ask {
        kind: AskKind::Quit,
        title: if app.rehearsal {
            "Quit the rehearsal?".into()
        } else {
            "Quit the cockpit?".into()
        },
        text,
        yes: "quit".into(),
        then: vec![Command::Quit],
        notice: None,
    }));
    Vec::new()
}

/// `m`: what a canary round sends, and whether to send it now; without `[canary]` (or
/// offline), why nothing can be sent.
pub(super) fn ask_send_canary(app: &mut App) -> Vec<Command> {
    let Some(canary) = &app.plan.canary else {
        app.notice = Some(crate::canary::NOT_PROVEN.to_string());
        return Vec::new();
    };
    if app.offline {
        app.notice = Some("Offline (--offline): no canary is sent.".into());
        return Vec::new();
    }
    let text = vec![
        format!(
            "This sends three kinds of test message, each removed once found: from {} through its provider to {} (world); from this host on port 25 to each MX host (direct); from {} through the new server's submission to {} (outbound).",
            sanitize(&canary.external.address),
            sanitize(&canary.mailbox),
            sanitize(&canary.mailbox),
            sanitize(&canary.external.address)
        ),
        "Where each lands shows under Mail flow within 5 minutes; on the old server a canary is never touched.".into(),
    ];
    app.popup = Some(Popup::Ask(Ask {
        kind: AskKind::SendCanary,
        title: "Send canaries now?".into(),
        text,
        yes: "send".into(),
        then: vec![Command::SendCanary],
        notice: Some("Canaries sent; Mail flow shows where they land.".into()),
    }));
    Vec::new()
}

/// A yes/no question: `y` carries it out, `n` or Esc does nothing; Ctrl-C in the quit
/// question quits (pressed twice, it means it).
pub(super) fn answer(app: &mut App, ask: Ask, key: KeyEvent) -> Vec<Command> {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    let yes =
        lookup(Scope::Popup, &key) == Some(KeyAction::Yes) || (ctrl_c && ask.kind == AskKind::Quit);
    if yes {
        app.popup = None;
        app.notice = ask.notice;
        if ask.then.contains(&Command::Quit) {
            app.quit = true;
        }
        return ask.then;
    }
    if lookup(Scope::Popup, &key) == Some(KeyAction::No) {
        app.popup = None;
        app.notice = Some(match ask.kind {
            AskKind::Quit => "Not quitting.".into(),
            AskKind::EarlyCopy => "Cancelled: no copy started.".into(),
            AskKind::AppliedEarly => "Cancelled: nothing was recorded.".into(),
            AskKind::SendCanary => "Cancelled: no canary sent.".into(),
        });
    }
    Vec::new()
}

/// `s` before the final-copy gate holds: what an early copy is, and whether to start it.
pub(super) fn early_copy_question(
    app: &App,
    what: &str,
    then: Vec<Command>,
    notice: String,
) -> Ask {
    let from = app
        .eval
        .step(&StepId::FinalCopy)
        .and_then(|s| s.wait_until)
        .map(|at| {
            let at = at.to_zoned_datetime(app.plan.timezone.clone());
            format!(" (from {})", at.strftime("%a %-d %b %H:%M"))
        })
        .unwrap_or_default();
    Ask {
        kind: AskKind::EarlyCopy,
        title: "Early (bulk) copy?".into(),
        text: vec![
            format!(
                "This is an early (bulk) copy, not the final copy. The final copy (step {}) follows the switch plus 24 h{from}, so that it also takes the mail still arriving at the old server.",
                StepId::FinalCopy
            ),
            "An early copy moves the bulk of the mail ahead and is recommended for large mailboxes: the final copy then has only what arrived since. It reads the old server without changing it.".into(),
            format!("Start the early copy of {what} now?"),
        ],
        yes: "start the early copy".into(),
        then,
        notice: Some(notice),
    }
}
