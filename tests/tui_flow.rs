//! The cockpit driven headless: events and keys go into `App`, commands and state come out.
//! The loop's part (appending, then reading the journal back) is played by `settle`.

#[path = "support/plans.rs"]
mod plans;
#[path = "support/rounds.rs"]
mod rounds;

use cutover::app::{App, AskKind, Command, ConfirmKind, Event, Pane, Popup, Role, update};
use cutover::check::Status;
use cutover::dns::DnsSnapshot;
use cutover::journal::{Driver, Entry};
use cutover::runbook::StepState;
use cutover::step::StepId;
use jiff::Timestamp;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Day 1, 09:40 in Vilnius.
fn now() -> Timestamp {
    "2026-12-07T07:40:00Z".parse().unwrap()
}

fn app_with(entries: &[Entry], role: Role) -> App {
    let mut app = App::new(plans::plan_from(plans::PLAN), entries, role, now());
    let _ = update(&mut app, Event::Resize(120, 40));
    app
}

fn app() -> App {
    app_with(&[], Role::Driving)
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        assert!(
            key(app, KeyCode::Char(c)).is_empty(),
            "typing {c:?} did something"
        );
    }
}

/// What the loop does with commands: append entries (and what follows each), then feed
/// the journal back.
fn settle(app: &mut App, commands: Vec<Command>) -> Vec<Entry> {
    let entries: Vec<Entry> = commands
        .into_iter()
        .flat_map(|c| match c {
            Command::Append { entry, then, .. } => [Some(entry), then.map(|t| *t)],
            _ => [None, None],
        })
        .flatten()
        .collect();
    let _ = update(
        app,
        Event::Journal {
            entries: entries.clone(),
            restarted: false,
        },
    );
    entries
}

fn state(app: &App, step: &str) -> StepState {
    app.eval.step(&step.into()).unwrap().state
}

fn select_step(app: &mut App, step: &str) {
    app.focus = Pane::Steps;
    app.selected_step = app.eval.steps.iter().position(|s| s.id == step).unwrap();
}

fn override_entry(step: &str) -> Entry {
    Entry::Override {
        at: now(),
        operator: "tester".into(),
        step: step.into(),
        mailbox: None,
        reason: "earlier".into(),
        evidence: vec![],
    }
}

/// What the DNS watcher's relay does with a round: journal the facts it shows
/// first (the loop reads them back), then hand the round to the loop.
fn dns_round(app: &mut App, round: DnsSnapshot) {
    let (_, facts) = cutover::dns::dns_facts(&app.plan, &app.history.dns, &round);
    let _ = update(
        app,
        Event::Journal {
            entries: facts,
            restarted: false,
        },
    );
    let _ = update(app, Event::DnsRound(Box::new(round)));
}

/// A round showing step lower-ttl done at the DNS host: every check of it holds.
/// The TTL change marked made (`a`) and then seen served: every check of lower-ttl is
/// measured (`ttl-honoured` holds once the lowered TTL is served, marked or not).
fn lowered_ttl_measured(app: &mut App) {
    select_step(app, "lower-ttl");
    let commands = key(app, KeyCode::Char('a'));
    settle(app, commands);
    let round = rounds::ttl_lowered(&app.plan, now());
    dns_round(app, round);
}

#[test]
fn a_marks_the_selected_step_applied() {
    let mut app = app();
    select_step(&mut app, "lower-ttl");
    let commands = key(&mut app, KeyCode::Char('a'));
    let entries = settle(&mut app, commands);
    assert!(matches!(&entries[..], [Entry::Applied { step, .. }] if step == "lower-ttl"));
    assert_eq!(state(&app, "lower-ttl"), StepState::Applied);
    // Before its gates hold (the TTL wait runs), `a` asks first, naming the gates;
    // `n` records nothing, `y` records it with the warning.
    select_step(&mut app, "add-new-mx");
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    let Some(Popup::Ask(ask)) = &app.popup else {
        panic!("no question: {:?}", app.popup);
    };
    assert_eq!(ask.kind, AskKind::AppliedEarly);
    assert!(
        ask.text[0].contains("add-new-mx's gates do not hold yet: done:ttl-wait (fail)"),
        "{ask:?}"
    );
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.popup.is_none());
    assert_eq!(state(&app, "add-new-mx"), StepState::Pending);
    key(&mut app, KeyCode::Char('a'));
    let commands = key(&mut app, KeyCode::Char('y'));
    let done: Vec<String> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Append { done, .. } => Some(done.clone()),
            _ => None,
        })
        .collect();
    assert!(
        done.iter().any(
            |d| d.contains("Warning: add-new-mx's gates do not hold yet: done:ttl-wait (fail)")
        ),
        "{done:?}"
    );
    let entries = settle(&mut app, commands);
    assert!(matches!(&entries[..], [Entry::Applied { step, .. }] if step == "add-new-mx"));
    // Automatic steps have nothing to apply.
    select_step(&mut app, "ttl-wait");
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("automatic"));
}

#[test]
fn a_step_whose_checks_hold_is_confirmed_with_y_and_records_the_evidence_shown() {
    let mut app = app();
    lowered_ttl_measured(&mut app);
    select_step(&mut app, "lower-ttl");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(p)) if p.step == "lower-ttl" && p.kind == ConfirmKind::Confirm)
    );
    let shown = app.eval.step(&StepId::LowerTtl).unwrap().checks.clone();
    assert!(shown.iter().all(|c| c.status == Status::Pass), "{shown:?}");
    let commands = key(&mut app, KeyCode::Char('y'));
    let entries = settle(&mut app, commands);
    match &entries[..] {
        [
            Entry::Confirm {
                step,
                evidence,
                operator,
                mailbox: None,
                ..
            },
            Entry::Fact { key, value, .. },
        ] => {
            assert_eq!(step, "lower-ttl");
            assert_eq!(operator, "tester");
            assert_eq!(evidence, &shown);
            // Then what the authoritative servers served in the round it was judged on.
            assert_eq!(key, "dns-records");
            assert_eq!(value["step"], "lower-ttl");
            let migration_ttl = app.plan.dns.migration_ttl;
            let servers = value["servers"].as_object().expect("servers");
            assert!(!servers.is_empty(), "{value:#}");
            for records in servers.values() {
                let mx = records
                    .as_array()
                    .and_then(|r| r.iter().find(|r| r["type"] == "MX"))
                    .unwrap_or_else(|| panic!("an MX record served: {value:#}"));
                assert_eq!(mx["ttl"], migration_ttl, "{value:#}");
            }
        }
        other => panic!("expected the confirmation and the records served, got {other:?}"),
    }
    assert!(app.popup.is_none());
    assert_eq!(state(&app, "lower-ttl"), StepState::Done);
}

#[test]
fn n_and_esc_cancel_without_recording() {
    let mut app = app();
    lowered_ttl_measured(&mut app);
    select_step(&mut app, "lower-ttl");
    key(&mut app, KeyCode::Enter);
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.popup.is_none());
    key(&mut app, KeyCode::Enter);
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.popup.is_none());
    // Still only applied (by `a`), not confirmed.
    assert_eq!(state(&app, "lower-ttl"), StepState::Applied);
}

#[test]
fn a_step_whose_checks_fail_needs_a_typed_reason_and_records_it_verbatim() {
    let mut app = app();
    select_step(&mut app, "lower-ttl");
    key(&mut app, KeyCode::Enter);
    // `y` is not a way round failing checks: it is just the reason's first letter,
    // and Enter on it records nothing but says what is needed.
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let notice = app.notice.clone().unwrap();
    assert!(
        notice.contains("a reason of at least 10 characters (1 typed)"),
        "{notice}"
    );
    assert!(app.popup.is_some());
    // Nine characters are not enough either, blanks around them not counted.
    key(&mut app, KeyCode::Backspace);
    typed(&mut app, "  too short ");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("(9 typed)"));
    // An empty reason is refused.
    for _ in 0..12 {
        key(&mut app, KeyCode::Backspace);
    }
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("(0 typed)"));
    assert!(matches!(&app.popup, Some(Popup::Confirm(p)) if p.reason.is_empty()));
    typed(&mut app, "TTL checked by phone with the DNS host");
    let commands = key(&mut app, KeyCode::Enter);
    let entries = settle(&mut app, commands);
    match &entries[..] {
        [
            Entry::Override {
                step,
                reason,
                evidence,
                ..
            },
        ] => {
            assert_eq!(step, "lower-ttl");
            assert_eq!(reason, "TTL checked by phone with the DNS host");
            assert!(evidence.iter().any(|c| c.status == Status::Unknown));
        }
        other => panic!("expected one override, got {other:?}"),
    }
    assert_eq!(state(&app, "lower-ttl"), StepState::Overridden);
}

#[test]
fn the_cockpit_records_exactly_what_the_cli_would() {
    let mut app = app();
    select_step(&mut app, "lower-ttl");
    key(&mut app, KeyCode::Enter);
    typed(&mut app, "the same rule");
    let commands = key(&mut app, KeyCode::Enter);
    let status = app.eval.step(&StepId::LowerTtl).unwrap().clone();
    let expected = cutover::actions::confirmation_entry(
        &status,
        None,
        Some("the same rule"),
        "tester",
        now(),
        &[],
    )
    .unwrap();
    assert_eq!(settle(&mut app, commands), vec![expected]);
}

#[test]
fn reopen_takes_a_confirmation_back_and_is_journaled() {
    let mut app = app_with(&[override_entry("lower-ttl")], Role::Driving);
    assert_eq!(state(&app, "lower-ttl"), StepState::Overridden);
    select_step(&mut app, "lower-ttl");
    // Enter on a finished step explains how to reopen instead of confirming twice.
    key(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());
    assert!(app.notice.as_deref().unwrap().contains("`u` reopens"));
    key(&mut app, KeyCode::Char('u'));
    assert!(matches!(&app.popup, Some(Popup::Confirm(p)) if p.kind == ConfirmKind::Reopen));
    let commands = key(&mut app, KeyCode::Char('y'));
    let entries = settle(&mut app, commands);
    assert!(
        matches!(&entries[..], [Entry::Reopen { step, mailbox: None, .. }] if step == "lower-ttl")
    );
    assert_eq!(state(&app, "lower-ttl"), StepState::Ready);
}

#[test]
fn per_mailbox_ticks_for_a_selection_need_only_the_gates() {
    let earlier = [
        override_entry("new-server-ready"),
        override_entry("users-connected"),
    ];
    let mut app = app_with(&earlier, Role::Driving);
    assert_eq!(state(&app, "clients-configured"), StepState::Ready);
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.focus, Pane::Mailboxes);
    // Space marks alice and moves to bob; Space marks bob.
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(app.mailbox_view.marked.len(), 2);
    key(&mut app, KeyCode::Char('t'));
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(p)) if p.step == "clients-configured" && p.mailboxes.len() == 2)
    );
    // The popup never says every check holds beside the ✗ of the outcome.
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
    terminal
        .draw(|f| cutover::ui::render(f, &app))
        .expect("draw");
    let screen = format!("{}", terminal.backend());
    assert!(
        screen.contains("✗ outcome every-mailbox-ticked"),
        "{screen}"
    );
    assert!(!screen.contains("Every check holds"), "{screen}");
    assert!(
        screen.contains("The gates hold; not yet: every-mailbox-ticked"),
        "{screen}"
    );
    // The outcome (every mailbox ticked) fails, but ticks only need the gates: `y` works.
    let commands = key(&mut app, KeyCode::Char('y'));
    let entries = settle(&mut app, commands);
    let ticked: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Confirm {
                step,
                mailbox: Some(m),
                ..
            } if step == "clients-configured" => Some(m.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ticked, ["alice@example.com", "bob@example.com"]);
    let ticks = app
        .eval
        .step(&StepId::ClientsConfigured)
        .unwrap()
        .mailboxes
        .clone()
        .unwrap();
    assert_eq!((ticks.ticked, ticks.total), (2, 2));
    assert!(app.mailbox_view.marked.is_empty());

    // Taking one tick back.
    key(&mut app, KeyCode::Char('u'));
    let commands = key(&mut app, KeyCode::Char('y'));
    let entries = settle(&mut app, commands);
    assert!(
        matches!(&entries[..], [Entry::Reopen { mailbox: Some(m), .. }] if m == "bob@example.com")
    );
    let ticks = app
        .eval
        .step(&StepId::ClientsConfigured)
        .unwrap()
        .mailboxes
        .clone()
        .unwrap();
    assert_eq!(ticks.ticked, 1);
}

#[test]
fn s_asks_before_an_early_copy_before_the_24h_gate_and_pauses_a_running_one() {
    let mut app = app();
    app.focus = Pane::Mailboxes;
    // Before the final-copy gate: a question saying what an early copy is; `n` starts nothing.
    assert!(key(&mut app, KeyCode::Char('s')).is_empty());
    let Some(Popup::Ask(ask)) = &app.popup else {
        panic!("no question: {:?}", app.popup);
    };
    assert_eq!(ask.kind, AskKind::EarlyCopy);
    let text = ask.text.join(" ");
    for needle in [
        "early (bulk) copy",
        "recommended for large mailboxes",
        "final copy (step final-copy) follows the switch plus 24 h",
        "Start the early copy of alice@example.com now?",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.popup.is_none());
    key(&mut app, KeyCode::Char('s'));
    let commands = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        commands,
        vec![Command::StartCopy {
            mailbox: Some("alice@example.com".into()),
            precopy: true,
            reverse: false
        }]
    );
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("Early (bulk) copy: starting for alice@example.com")
    );
    // The detached copy reports through the journal; the table shows it, `s` now pauses it.
    let _ = update(
        &mut app,
        Event::Journal {
            entries: vec![Entry::Sync {
                at: now(),
                mailbox: "alice@example.com".into(),
                pid: 4242,
                state: "running".into(),
                messages_done: 10,
                messages_left: 90,
                bytes_done: 1000,
                detail: None,
            }],
            restarted: false,
        },
    );
    let alice = app.mailboxes[0].clone();
    assert_eq!(app.copy_state(&alice).unwrap().messages_done, 10);
    let commands = key(&mut app, KeyCode::Char('s'));
    assert_eq!(
        commands,
        vec![Command::PauseCopy {
            mailbox: "alice@example.com".into(),
            pid: 4242
        }]
    );
    // Outside the mailbox pane, `s` pauses every running copy.
    app.focus = Pane::Steps;
    assert_eq!(key(&mut app, KeyCode::Char('s')).len(), 1);
}

#[test]
fn an_observer_changes_nothing_and_says_who_drives() {
    let driver = Driver {
        user: "bob".into(),
        pid: 4242,
        host: "jump1".into(),
        since: now(),
    };
    let mut app = app_with(&[], Role::Observing(driver));
    select_step(&mut app, "lower-ttl");
    for k in ['a', 'u'] {
        assert!(key(&mut app, KeyCode::Char(k)).is_empty());
    }
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.popup.is_none());
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("bob (pid 4242 on jump1)")
    );
    app.focus = Pane::Mailboxes;
    assert!(key(&mut app, KeyCode::Char('s')).is_empty());
    assert!(key(&mut app, KeyCode::Char('t')).is_empty());
    // It still follows the journal live.
    let _ = update(
        &mut app,
        Event::Journal {
            entries: vec![override_entry("lower-ttl")],
            restarted: false,
        },
    );
    assert_eq!(state(&app, "lower-ttl"), StepState::Overridden);
}

#[test]
fn slash_filters_the_mailbox_table_and_esc_clears_it() {
    let mut app = app();
    app.focus = Pane::Mailboxes;
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "bob");
    assert_eq!(app.mailbox_view.order.len(), 1);
    assert_eq!(app.selected_mailbox().unwrap().address, "bob@example.com");
    key(&mut app, KeyCode::Enter);
    assert!(!app.mailbox_view.editing_filter);
    // `q` quits again once the filter is closed (at once: no copy runs, no rehearsal).
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mailbox_view.order.len(), 2);
    assert_eq!(key(&mut app, KeyCode::Char('q')), vec![Command::Quit]);
    assert!(app.quit);
}

#[test]
fn an_idle_tick_redraws_only_when_the_minute_changes() {
    let mut app = app();
    app.dirty = false;
    let _ = update(
        &mut app,
        Event::Tick(
            now()
                .checked_add(jiff::SignedDuration::from_secs(5))
                .unwrap(),
        ),
    );
    assert!(!app.dirty, "same minute, nothing changed: no frame");
    let _ = update(
        &mut app,
        Event::Tick(
            now()
                .checked_add(jiff::SignedDuration::from_secs(65))
                .unwrap(),
        ),
    );
    assert!(app.dirty, "the clock shows a new minute");
}

#[test]
fn help_opens_with_question_mark_and_esc_closes_it() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    // Keys do nothing under the help but close it.
    assert!(key(&mut app, KeyCode::Char('a')).is_empty());
    key(&mut app, KeyCode::Esc);
    assert!(!app.help);
}

#[test]
fn r_asks_workers_to_refresh_unless_offline() {
    let mut app = app();
    assert_eq!(key(&mut app, KeyCode::Char('r')), vec![Command::Refresh]);
    app.offline = true;
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("Offline"));
}

#[test]
fn in_the_next_step_pane_enter_and_a_act_on_the_next_step() {
    let mut app = app();
    // The timeline's cursor is elsewhere; the next-step pane still means the next step.
    select_step(&mut app, "pop3-fetch");
    app.focus = Pane::Next;
    let next = app.eval.next.as_ref().unwrap().step.clone();
    assert_eq!(next, "lower-ttl");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(&app.popup, Some(Popup::Confirm(p)) if p.step == next));
    key(&mut app, KeyCode::Esc);
    let commands = key(&mut app, KeyCode::Char('a'));
    let entries = settle(&mut app, commands);
    assert!(matches!(&entries[..], [Entry::Applied { step, .. }] if *step == next));
}

fn probe(address: &str, new_login: cutover::mail::LoginState) -> cutover::mail::MailboxProbe {
    use cutover::mail::probe::{FolderProbe, SideProbe};
    let side = |login, messages| SideProbe {
        login,
        messages: Some(messages),
        folders: vec![FolderProbe {
            name: "INBOX".into(),
            messages: messages as u32,
            uidnext: messages as u32 + 1,
            uidvalidity: 7,
            special_use: None,
        }],
        error: None,
        inbox: None,
        inbox_newest_at: None,
    };
    cutover::mail::MailboxProbe {
        address: address.into(),
        old: side(cutover::mail::LoginState::Ok, 12),
        new: side(new_login, 3),
        synced_percent: None,
        fetch_detected: None,
        fetch_share: None,
        verified: None,
        old_bytes: None,
        probed_at: now(),
    }
}

#[test]
fn mailbox_probes_fill_the_table_and_the_mailbox_checks() {
    use cutover::mail::LoginState;
    let mut app = app();
    let mail_check = |app: &App| {
        app.eval
            .step(&StepId::NewServerReady)
            .and_then(|s| s.checks.iter().find(|c| c.id == "mail.new-login"))
            .map(|c| c.status)
    };
    assert_eq!(
        mail_check(&app),
        Some(Status::Unknown),
        "nothing probed: unknown, never green"
    );
    // Only alice probed so far: the check waits for every mailbox.
    let _ = update(
        &mut app,
        Event::MailProbes(vec![probe("alice@example.com", LoginState::Ok)]),
    );
    assert_eq!(app.mailboxes.len(), 2, "unprobed mailboxes keep their row");
    assert_eq!(app.mailboxes[0].old_messages, Some(12));
    assert_eq!(mail_check(&app), Some(Status::Unknown));
    let _ = update(
        &mut app,
        Event::MailProbes(vec![
            probe("alice@example.com", LoginState::Ok),
            probe("bob@example.com", LoginState::AuthFailed),
        ]),
    );
    assert_eq!(mail_check(&app), Some(Status::Fail));
    assert_eq!(
        app.mailboxes[1].new_login,
        cutover::app::model::LoginState::Failed
    );
    let _ = update(
        &mut app,
        Event::MailProbes(vec![
            probe("alice@example.com", LoginState::Ok),
            probe("bob@example.com", LoginState::Ok),
        ]),
    );
    assert_eq!(mail_check(&app), Some(Status::Pass));
}

/// A raised alarm leads the cockpit: the top banner names it and gives its fix, and the
/// Next step's actions are the fix (the same as `status`).
#[test]
fn an_alarm_puts_its_fix_in_the_top_banner_and_the_next_step() {
    let mut app = app();
    // The SPF record named the old server; now it names neither.
    let named = rounds::ttl_lowered(&app.plan, now());
    dns_round(&mut app, named);
    let mut lost = rounds::ttl_lowered(&app.plan, now());
    for server in &mut lost.servers {
        for a in &mut server.answers {
            if a.rtype == cutover::dns::Rtype::TXT {
                a.records = vec!["v=spf1 include:_spf.other.example -all".into()];
            }
        }
    }
    dns_round(&mut app, lost);
    assert_eq!(
        app.eval
            .alarms
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["spf-lost"]
    );
    let next = app.eval.next.as_ref().unwrap();
    assert_eq!(next.alarm.as_deref(), Some("spf-lost"));
    assert!(
        next.actions[0].starts_with("Re-publish the SPF record now"),
        "{next:?}"
    );
    assert!(
        next.records
            .iter()
            .any(|r| r.contains("include:_spf.old.example")
                && r.contains("include:_spf.new.example")),
        "{next:?}"
    );
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 40)).expect("terminal");
    terminal
        .draw(|f| cutover::ui::render(f, &app))
        .expect("draw");
    let screen = format!("{}", terminal.backend());
    let banner = screen.lines().nth(1).unwrap_or_default().to_string();
    assert!(banner.contains("ALARM spf-lost"), "{screen}");
    assert!(banner.contains("Re-publish the SPF record now"), "{banner}");
}

fn running_copy(app: &mut App, mailbox: &str) {
    let _ = update(
        app,
        Event::Journal {
            entries: vec![Entry::Sync {
                at: now(),
                mailbox: mailbox.into(),
                pid: 4242,
                state: "running".into(),
                messages_done: 10,
                messages_left: 90,
                bytes_done: 1000,
                detail: None,
            }],
            restarted: false,
        },
    );
}

fn question(app: &App) -> (AskKind, String) {
    match &app.popup {
        Some(Popup::Ask(ask)) => (ask.kind, ask.text.join(" ")),
        other => panic!("no question: {other:?}"),
    }
}

#[test]
fn q_asks_first_while_a_copy_runs_and_n_keeps_the_cockpit() {
    let mut app = app();
    running_copy(&mut app, "alice@example.com");
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    let (kind, text) = question(&app);
    assert_eq!(kind, AskKind::Quit);
    assert!(text.contains("the copy of alice@example.com"), "{text}");
    assert!(text.contains("it goes on after you quit"), "{text}");
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(!app.quit && app.popup.is_none());
    // From the help too; `y` quits.
    key(&mut app, KeyCode::Char('?'));
    assert!(key(&mut app, KeyCode::Char('q')).is_empty());
    assert!(!app.help);
    assert_eq!(key(&mut app, KeyCode::Char('y')), vec![Command::Quit]);
    assert!(app.quit);
}

#[test]
fn q_in_the_rehearsal_says_its_directory_goes_unless_kept() {
    let mut app = app();
    app.rehearsal = true;
    key(&mut app, KeyCode::Char('q'));
    let (kind, text) = question(&app);
    assert_eq!(kind, AskKind::Quit);
    let dir = app.plan.path.parent().unwrap().display().to_string();
    assert!(
        text.contains(&format!("its directory {dir} is deleted")),
        "{text}"
    );
    assert!(text.contains("cutover demo --keep DIR"), "{text}");
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(!app.quit && app.popup.is_none());
    app.rehearsal_kept = true;
    key(&mut app, KeyCode::Char('q'));
    let (_, text) = question(&app);
    assert!(text.contains(&format!("stay in {dir}")), "{text}");
    assert!(!text.contains("deleted"), "{text}");
    // Ctrl-C in the question means it.
    let commands = update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(commands, vec![Command::Quit]);
    assert!(app.quit);
}

#[test]
fn help_scrolls_to_its_end_and_no_further() {
    let mut app = app();
    let _ = update(&mut app, Event::Resize(80, 24));
    key(&mut app, KeyCode::Char('?'));
    let end = cutover::app::layout::help_scroll_max(&app);
    assert!(end > 0, "at 80×24 the help is longer than the screen");
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.help_scroll, 2);
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.help_scroll, 1);
    key(&mut app, KeyCode::End);
    assert_eq!(app.help_scroll, end);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.help_scroll, end, "no scrolling past the end");
    key(&mut app, KeyCode::PageUp);
    assert!(app.help_scroll < end);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.help_scroll, 0);
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Esc);
    assert!(!app.help);
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.help_scroll, 0, "help opens at its top");
}

#[test]
fn a_notice_passes_and_the_schedule_line_returns() {
    let mut app = app();
    let schedule = |app: &mut App| {
        let _ = update(app, Event::Resize(80, 24));
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("terminal");
        terminal
            .draw(|f| cutover::ui::render(f, app))
            .expect("draw");
        let screen = format!("{}", terminal.backend());
        screen.lines().nth(22).unwrap_or_default().to_string()
    };
    assert!(schedule(&mut app).contains("Schedule:"));
    key(&mut app, KeyCode::Char('r'));
    assert!(schedule(&mut app).contains("Refreshing DNS and mailboxes"));
    // A while later (ticks of the 1 s clock), the schedule is back.
    for _ in 0..cutover::app::NOTICE_TICKS {
        let _ = update(&mut app, Event::Tick(now()));
    }
    assert_eq!(app.notice, None);
    assert!(schedule(&mut app).contains("Schedule:"));
    // The next key clears it too.
    key(&mut app, KeyCode::Char('r'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.notice, None);
}

/// Down and Up walk the timeline as it is drawn (day by day, by start time), so the
/// cursor never jumps about; Home and End reach its first and last rows.
#[test]
fn the_timeline_cursor_moves_in_the_order_the_steps_are_shown() {
    let mut app = app();
    select_step(&mut app, "lower-ttl");
    let mut walked = vec![app.selected_step().unwrap().id.clone()];
    for _ in 1..app.eval.steps.len() {
        key(&mut app, KeyCode::Down);
        walked.push(app.selected_step().unwrap().id.clone());
    }
    let shown: Vec<_> = app
        .timeline
        .days
        .iter()
        .flat_map(|d| {
            let mut steps: Vec<_> = d.steps.iter().collect();
            steps.sort_by_key(|s| s.start.timestamp());
            steps.into_iter().map(|s| s.id.clone())
        })
        .collect();
    assert_eq!(walked, shown);
    // ttl-wait is drawn between spf-add-new and new-server-ready, and is walked there.
    let at = |id: &str| walked.iter().position(|w| w == id).unwrap();
    assert!(at("spf-add-new") < at("ttl-wait") && at("ttl-wait") < at("new-server-ready"));
    key(&mut app, KeyCode::Home);
    assert_eq!(app.selected_step().unwrap().id, shown[0]);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.selected_step().unwrap().id, shown[0]);
    key(&mut app, KeyCode::End);
    assert_eq!(&app.selected_step().unwrap().id, shown.last().unwrap());
}

/// The whole cockpit at 80×24, as text.
fn screen_80x24(app: &mut App) -> String {
    let _ = update(app, Event::Resize(80, 24));
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("terminal");
    terminal
        .draw(|f| cutover::ui::render(f, app))
        .expect("draw");
    format!("{}", terminal.backend())
}

/// The Next step pane lists the step's checks, one line each with its mark, and once every
/// one holds (after `a` and the lowered TTL served) folds them into one line saying that
/// Enter now confirms.
#[test]
fn the_next_step_pane_lists_its_checks_and_says_when_enter_confirms() {
    let mut app = app();
    app.focus = Pane::Next;
    let screen = screen_80x24(&mut app);
    assert!(screen.contains("Checks:"), "{screen}");
    for id in ["mx-ttl-lowered", "txt-ttl-lowered", "ttl-honoured"] {
        assert!(screen.contains(&format!("? {id}:")), "{id}:\n{screen}");
    }
    lowered_ttl_measured(&mut app);
    assert_eq!(app.eval.next.as_ref().unwrap().step, "lower-ttl");
    app.focus = Pane::Next;
    let screen = screen_80x24(&mut app);
    assert!(
        screen.contains("✓ 4 of 4 checks hold — Enter confirms"),
        "{screen}"
    );
    assert!(!screen.contains("Checks:"), "{screen}");
}

/// In the rehearsal the DNS host is the console: the next step's "at your DNS host" names
/// the key that makes the change; the real cockpit has no such key and says nothing of it.
#[test]
fn in_the_rehearsal_an_action_at_the_dns_host_names_its_console_key() {
    let actions = |rehearsal: bool| {
        let mut app = app();
        app.rehearsal = rehearsal;
        app.reevaluate();
        let next = app.eval.next.as_ref().expect("next");
        assert_eq!(next.step, "lower-ttl");
        next.actions.join("\n")
    };
    let rehearsal = actions(true);
    assert!(
        rehearsal.contains("At your DNS host")
            && rehearsal.contains("In this rehearsal, the DNS host is the console: press 1."),
        "{rehearsal}"
    );
    assert!(!actions(false).contains("press 1"));
}

/// An old INBOX UIDNEXT fact as the cockpit's prober journals it: at the batch's time,
/// naming when its round was asked for.
fn uidnext_fact(at: Timestamp, round: Timestamp, mailbox: &str, uidnext: u32) -> Entry {
    Entry::Fact {
        at,
        key: cutover::mail::steps::OLD_INBOX_UIDNEXT.into(),
        value: serde_json::json!({"mailbox": mailbox, "uidnext": uidnext, "round": round.to_string()}),
        evidence: format!("{mailbox}: old INBOX UIDNEXT {uidnext}"),
    }
}

/// One probe round's old INBOX facts, journaled in three batches that reach the loop
/// separately (each at its own time), are one journal line; the next round is another.
#[test]
fn a_probe_round_arriving_in_batches_is_one_journal_line() {
    let mut app = app();
    let secs = |n: i64| now() + jiff::SignedDuration::from_secs(n);
    let first = [("alice@example.com", 7), ("bob@example.com", 9)];
    for (mailbox, uidnext) in first {
        settle_entries(
            &mut app,
            vec![uidnext_fact(secs(0), secs(0), mailbox, uidnext)],
        );
    }
    let round = secs(60);
    settle_entries(
        &mut app,
        vec![uidnext_fact(secs(62), round, "bob@example.com", 10)],
    );
    settle_entries(
        &mut app,
        vec![uidnext_fact(secs(75), round, "alice@example.com", 8)],
    );
    let _ = update(&mut app, Event::Tick(secs(80)));
    let lines: Vec<&cutover::app::journal_view::Fold> = app
        .journal_view
        .newest_first()
        .map(|i| &i.fold)
        .filter(|f| matches!(f, cutover::app::journal_view::Fold::Uidnext { .. }))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        matches!(
            lines[0],
            cutover::app::journal_view::Fold::Uidnext { mailboxes: 2, changed, .. }
                if changed == &["bob@example.com".to_string(), "alice@example.com".to_string()]
        ),
        "{lines:#?}"
    );
}

fn settle_entries(app: &mut App, entries: Vec<Entry>) {
    let _ = update(
        app,
        Event::Journal {
            entries,
            restarted: false,
        },
    );
}

/// Pausing simulated time redraws the header at once with the paused time, so no pane
/// shows a time later than the header's (a DNS round measured after the last tick).
#[test]
fn pausing_the_rehearsal_clock_shows_the_paused_time_in_the_header_at_once() {
    use cutover::app::rehearsal::RehearsalUpdate;
    let mut app = app();
    app.rehearsal = true;
    let _ = update(&mut app, Event::Tick(now()));
    app.dirty = false;
    // The last tick said 09:40; simulated time ran on to 09:44:30 before the pause.
    let paused_at = now() + jiff::SignedDuration::from_secs(270);
    let _ = update(
        &mut app,
        Event::Rehearsal(RehearsalUpdate::Clock {
            speed: 432.0,
            paused: true,
            now: paused_at,
        }),
    );
    assert!(app.dirty, "the pause is drawn at once");
    assert_eq!(app.now, paused_at);
    let screen = screen_80x24(&mut app);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("09:44") && header.contains("paused"),
        "{header}"
    );
}

/// `m` without [canary]: nothing is sent, and the cockpit says how mail flow is proven; the
/// Mail flow block says it too.
#[test]
fn m_without_canary_says_mail_flow_is_not_proven() {
    let mut app = app();
    assert!(key(&mut app, KeyCode::Char('m')).is_empty());
    assert!(app.popup.is_none());
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.starts_with("Mail flow is not proven"), "{notice}");
    let block = cutover::app::mail_flow_view::mail_flow(&app.plan, &app.history, now());
    assert!(block[0].text.contains("Add a [canary] table"), "{block:?}");
}

/// `m` with [canary] asks first; `y` sends canaries (a command to the canary worker), `n`
/// sends nothing; a canary the journal brings shows in the Mail flow block.
#[test]
fn m_asks_then_sends_canaries_and_the_block_shows_the_last_per_route() {
    let text = format!(
        "{}\n[[mailbox]]\naddress = \"cutover-canary@example.com\"\n\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"gmail\", address = \"someone@gmail.com\" }}\n",
        plans::PLAN
    );
    let mut app = App::new(plans::plan_from(&text), &[], Role::Driving, now());
    let _ = update(&mut app, Event::Resize(120, 40));
    let block = cutover::app::mail_flow_view::mail_flow(&app.plan, &app.history, now());
    assert!(block[0].text.starts_with("No canary sent yet"), "{block:?}");
    assert!(key(&mut app, KeyCode::Char('m')).is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Ask(a)) if a.kind == AskKind::SendCanary),
        "{:?}",
        app.popup
    );
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert_eq!(app.notice.as_deref(), Some("Cancelled: no canary sent."));
    let _ = key(&mut app, KeyCode::Char('m'));
    assert_eq!(key(&mut app, KeyCode::Char('y')), vec![Command::SendCanary]);
    // The worker journals the round; the follower brings it back.
    let landed = Entry::Fact {
        at: now(),
        key: "canary".into(),
        value: serde_json::json!({
            "route": "world", "token": "c1", "message_id": "cutover-canary-c1@gmail.com",
            "sent_at": "2026-12-07T07:30:00Z", "landed": "old", "folder": "INBOX",
            "delay_s": 4, "hops": ["from mx.google.com"], "verdict": "pass",
            "evidence": "landed on the old server in INBOX after 4 s, 1 hops"
        }),
        evidence: String::new(),
    };
    let _ = update(
        &mut app,
        Event::Journal {
            entries: vec![landed],
            restarted: false,
        },
    );
    let block = cutover::app::mail_flow_view::mail_flow(&app.plan, &app.history, now());
    assert_eq!(block.len(), 1, "{block:?}");
    assert_eq!(block[0].status, Some(Status::Pass));
    assert_eq!(
        block[0].text,
        "✓ world, 10 min ago: landed on the old server in INBOX after 4 s, 1 hops"
    );
}
