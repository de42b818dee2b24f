//! Whole cockpit screens at 80×24 and 120×40, rendered into a `TestBackend`.
//! The header's clock is masked (`[now]`) so the snapshots hold what matters.
//! The panes' data is made up and put into the state (`support/fake.rs`): these
//! test what a screen shows, `tui_flow` what the workers' data means.

#[path = "support/fake.rs"]
mod fake;

use cutover::step::StepId;
use std::path::PathBuf;

use cutover::app::rehearsal::RehearsalUpdate;
use cutover::app::{App, Event, Pane, Role, update};
use cutover::check::{Check, Kind, Status};
use cutover::journal::{Driver, Entry};
use cutover::ui;
use jiff::{SignedDuration, Timestamp};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn at(minutes_after_9: i64) -> Timestamp {
    // 09:00 in Vilnius on day 1 is 07:00 UTC.
    "2026-12-07T07:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(SignedDuration::from_mins(minutes_after_9))
        .unwrap()
}

fn app_at(mailboxes: usize, entries: &[Entry], role: Role, now: Timestamp) -> App {
    let plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), mailboxes);
    App::new(plan, entries, role, now)
}

fn key(app: &mut App, code: KeyCode) {
    let _ = update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// The screen as text, with the header's clock masked.
fn screen(app: &mut App, (w, h): (u16, u16)) -> String {
    let _ = update(app, Event::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| ui::render(f, app)).unwrap();
    let clock = ui::local(app, app.now, "%a %-d %b %H:%M %Z");
    let mask = format!("{:<1$}", "[now]", clock.chars().count());
    format!("{}", terminal.backend()).replace(&clock, &mask)
}

fn snapshot(name: &str, make: fn() -> App) {
    for size in SIZES {
        let mut app = make();
        let text = screen(&mut app, size);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), text);
    }
}

fn overridden(step: &str, now: Timestamp) -> Entry {
    Entry::Override {
        at: now,
        operator: "ann".into(),
        step: step.into(),
        mailbox: None,
        reason: "rehearsal".into(),
        evidence: vec![],
    }
}

fn fresh_plan_app() -> App {
    app_at(3, &[], Role::Driving, at(5))
}

#[test]
fn fresh_plan() {
    snapshot("fresh_plan", fresh_plan_app);
}

fn waiting_out_the_ttl_app() -> App {
    let lowered = at(15);
    let entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
    ]
    .iter()
    .map(|s| overridden(s, lowered))
    .collect();
    let mut entries = entries;
    // The DNS watcher saw the lowered TTL served everywhere at 09:15.
    entries.push(Entry::Fact {
        at: lowered,
        key: "ttl-lowered".into(),
        value: serde_json::json!({"mx_ttl": 300, "txt_ttl": 300, "servers": 2}),
        evidence: "MX and TXT served with TTL 300 by 2 of 2 authoritative servers".into(),
    });
    let mut app = app_at(3, &entries, Role::Driving, at(40));
    app.plan.dns.old_ttl = Some(3600);
    let checks = vec![Check::new(
        "resolvers-ttl-low",
        Kind::Outcome,
        Status::Pass,
        "every watched resolver holds the MX for at most 300 s",
    )];
    fake::measured(&mut app, "ttl-wait", checks);
    app.journal_scroll = 0;
    app
}

#[test]
fn waiting_out_the_ttl() {
    snapshot("waiting_out_the_ttl", waiting_out_the_ttl_app);
}

fn lower_ttl_measured() -> Vec<Check> {
    let pass = |id: &str, e: &str| Check::new(id, Kind::Outcome, Status::Pass, e);
    vec![
        pass("mx-ttl-lowered", "ns1 and ns2 serve the MX with TTL 300"),
        pass(
            "txt-ttl-lowered",
            "ns1 and ns2 serve the SPF TXT with TTL 300",
        ),
        pass("other-ttls-untouched", "A and AAAA keep their TTL of 3600"),
        pass("ttl-honoured", "the TTL served is the TTL set"),
    ]
}

fn confirm_ready_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(20));
    fake::measured(&mut app, "lower-ttl", lower_ttl_measured());
    app.selected_step = 0;
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn confirm_popup_for_a_ready_step() {
    snapshot("confirm_ready", confirm_ready_app);
}

fn confirm_gated_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(20));
    app.selected_step = 0;
    key(&mut app, KeyCode::Enter);
    for c in "provider confirmed by phone".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    app
}

#[test]
fn confirm_popup_for_a_gated_step() {
    snapshot("confirm_gated", confirm_gated_app);
}

fn alarm_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(24 * 60 + 20));
    let view = fake::dns_view(app.now, true);
    fake::show_dns(&mut app, view);
    app.focus = Pane::Dns;
    app
}

#[test]
fn alarm_empty_mx_set() {
    snapshot("alarm", alarm_app);
}

fn half_synced_app() -> App {
    let mut app = app_at(40, &[], Role::Driving, at(2 * 24 * 60 + 70));
    let rows = fake::mailbox_rows(&app.plan, 0.5);
    let now = app.now;
    fake::show_mailboxes(&mut app, rows);
    let _ = update(
        &mut app,
        Event::Journal {
            entries: vec![Entry::Sync {
                at: now,
                mailbox: "user0021@example.com".into(),
                pid: 777,
                state: "running".into(),
                messages_done: 1200,
                messages_left: 300,
                bytes_done: 48_000_000,
                detail: None,
            }],
            restarted: false,
        },
    );
    app.focus = Pane::Mailboxes;
    for _ in 0..22 {
        key(&mut app, KeyCode::Down);
    }
    app
}

#[test]
fn half_synced_mailbox_table() {
    snapshot("half_synced", half_synced_app);
}

fn observer_app() -> App {
    let driver = Driver {
        user: "bob".into(),
        pid: 4242,
        host: "jump1".into(),
        since: at(0),
    };
    app_at(
        3,
        &[overridden("lower-ttl", at(10))],
        Role::Observing(driver),
        at(30),
    )
}

#[test]
fn observer_banner() {
    snapshot("observer", observer_app);
}

fn help_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(5));
    key(&mut app, KeyCode::Char('?'));
    app
}

#[test]
fn help_screen() {
    snapshot("help", help_app);
}

#[test]
fn server_text_cannot_reach_the_terminal_raw() {
    let mut app = app_at(3, &[], Role::Driving, at(5));
    let mut view = fake::dns_view(app.now, false);
    view.rows[0].cells[0].short = "\x1b[2Jevil".into();
    view.alarm = Some("bad\x07bell".into());
    fake::show_dns(&mut app, view);
    let text = screen(&mut app, (120, 40));
    assert!(!text.contains('\x1b') && !text.contains('\x07'));
    assert!(text.contains("\\u{1b}"), "the escape is shown as text");
    assert!(text.contains("bad\\u{7}bell"));
}

#[test]
fn nothing_is_green_without_data() {
    let mut app = app_at(3, &[], Role::Driving, at(5));
    let text = screen(&mut app, (120, 40));
    assert!(text.contains("not measured yet"));
    // Unmeasured logins show `?`, never ✓.
    assert!(!text.contains('✓'));
}

fn mailbox_detail_app() -> App {
    let mut app = half_synced_app();
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn mailbox_detail_with_folders() {
    snapshot("mailbox_detail", mailbox_detail_app);
}

fn dns_detail_app() -> App {
    let mut app = alarm_app();
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn dns_answer_detail() {
    snapshot("dns_detail", dns_detail_app);
}

/// Every screen draws at any size, down to one cell, without a panic or a
/// line longer than the screen.
#[test]
fn every_screen_draws_at_any_size() {
    let screens: [fn() -> App; 10] = [
        fresh_plan_app,
        waiting_out_the_ttl_app,
        confirm_ready_app,
        confirm_gated_app,
        alarm_app,
        half_synced_app,
        observer_app,
        help_app,
        mailbox_detail_app,
        dns_detail_app,
    ];
    for make in screens {
        for size in [
            (1, 1),
            (10, 5),
            (24, 8),
            (40, 12),
            (60, 20),
            (79, 23),
            (99, 29),
            (100, 30),
            (200, 60),
        ] {
            let mut app = make();
            let text = screen(&mut app, size);
            assert_eq!(text.lines().count(), usize::from(size.1), "{size:?}");
        }
    }
}

fn colours(app: &mut App) -> Vec<ratatui::style::Color> {
    let _ = update(app, Event::Resize(120, 40));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| ui::render(f, app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    buffer.content.iter().flat_map(|c| [c.fg, c.bg]).collect()
}

#[test]
fn only_the_16_colour_palette_is_used_and_no_color_means_none() {
    use ratatui::style::Color;
    for make in [
        alarm_app,
        half_synced_app,
        observer_app,
        waiting_out_the_ttl_app,
    ] {
        let mut app = make();
        let used = colours(&mut app);
        assert!(used.contains(&Color::Red), "the alarm or errors are red");
        assert!(
            used.iter()
                .all(|c| !matches!(c, Color::Rgb(..) | Color::Indexed(_))),
            "a colour outside the 16-colour palette"
        );
        let mut plain = make();
        plain.no_color = true;
        assert!(
            colours(&mut plain).iter().all(|c| *c == Color::Reset),
            "NO_COLOR: no colour at all"
        );
    }
}

/// Day 1's steps done by `lowered`, when the lowered TTL was first served (old TTL 24 h);
/// the cockpit at `now`.
fn lowered_at(lowered: Timestamp, now: Timestamp) -> App {
    let mut entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
    ]
    .iter()
    .map(|s| overridden(s, lowered))
    .collect();
    entries.push(Entry::Fact {
        at: lowered,
        key: "ttl-lowered".into(),
        value: serde_json::json!({"mx_ttl": 300, "txt_ttl": 300, "servers": 2}),
        evidence: "MX and TXT served with TTL 300 by 2 of 2 authoritative servers".into(),
    });
    let mut plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), 3);
    plan.dns.old_ttl = Some(86_400);
    App::new(plan, &entries, Role::Driving, now)
}

/// The TTL lowered at 10:48 instead of 09:00 (old TTL 24 h): the Next step pane and the
/// timeline bar count down to the same end, Tue 8 Dec 10:48, not to the planned slot.
fn late_lowering_app() -> App {
    let mut app = lowered_at(at(108), at(200));
    app.journal_scroll = 0;
    app
}

#[test]
fn a_late_lowering_shows_one_wait_end() {
    let app = late_lowering_app();
    let clears = at(108).checked_add(SignedDuration::from_hours(24)).unwrap();
    let step = app.eval.step(&StepId::TtlWait).unwrap();
    assert_eq!(step.wait_until, Some(clears));
    assert_eq!(app.eval.next.as_ref().unwrap().wait_until, Some(clears));
    assert_eq!(
        cutover::tui::next_gate_clears(&app.eval, app.now),
        Some(clears)
    );
    let mut app = late_lowering_app();
    let text = screen(&mut app, (120, 40));
    // 24 h from 10:48 less the 1 h 32 min since: the bar and the Next pane agree.
    assert!(text.contains("22 h 28 min left"), "{text}");
    assert!(text.contains("Tue 8 Dec 10:48"), "{text}");
    snapshot("late_lowering", late_lowering_app);
}

/// `cutover demo` as it opens: paused on its introduction, the speed in the header.
fn rehearsal_intro_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(0));
    app.rehearsal = true;
    let _ = update(
        &mut app,
        Event::Rehearsal(RehearsalUpdate::Clock {
            speed: 432.0,
            paused: true,
        }),
    );
    app
}

#[test]
fn rehearsal_intro() {
    snapshot("rehearsal_intro", rehearsal_intro_app);
    let mut app = rehearsal_intro_app();
    let text = screen(&mut app, (80, 24));
    assert!(text.contains("Press p to start"), "{text}");
    assert!(text.contains("432× paused"), "{text}");
    // Keys other than p do nothing while it is open; p closes it and starts the clock.
    key(&mut app, KeyCode::Char('5'));
    assert!(screen(&mut app, (80, 24)).contains("Press p to start"));
    let commands = update(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE)),
    );
    assert_eq!(
        commands,
        vec![cutover::app::Command::Rehearsal(
            cutover::app::Rehearse::PauseClock
        )]
    );
    let _ = update(
        &mut app,
        Event::Rehearsal(RehearsalUpdate::Clock {
            speed: 432.0,
            paused: false,
        }),
    );
    let text = screen(&mut app, (80, 24));
    assert!(!text.contains("Press p to start"), "{text}");
    assert!(text.contains("432× running"), "{text}");
}

/// Monday 22:12, the evening of day 1 (the TTL lowered at 09:15): the now line closes day 1,
/// above day 2's header, not under it.
fn now_between_days_app() -> App {
    // Mon 7 Dec 22:12 in Vilnius.
    let mut app = lowered_at(at(15), at(13 * 60 + 12));
    app.journal_scroll = 0;
    // At 80×24 the cockpit opens on Next step; this screen is about the timeline.
    app.focus = Pane::Steps;
    app
}

#[test]
fn the_now_line_stands_in_its_own_day() {
    snapshot("now_between_days", now_between_days_app);
    for size in SIZES {
        let mut app = now_between_days_app();
        let text = screen(&mut app, size);
        let lines: Vec<&str> = text.lines().collect();
        let now = lines
            .iter()
            .position(|l| l.contains("── now Mon 22:12"))
            .unwrap_or_else(|| panic!("no now line:\n{text}"));
        let day2 = lines
            .iter()
            .position(|l| l.contains("Day 2 · Tue 8 Dec"))
            .unwrap_or_else(|| panic!("no day 2:\n{text}"));
        assert!(now < day2, "the now line is under day 2's header:\n{text}");
        // The TTL wait is waiting: it counts down to 24 h after the lowering was seen.
        assert!(text.contains("ttl-wait ▕"), "{text}");
    }
}

/// A wait whose step is not waiting says how long it is and what starts it, never a countdown.
#[test]
fn a_wait_not_yet_started_says_what_it_waits_for() {
    let mut app = app_at(3, &[], Role::Driving, at(5));
    app.focus = Pane::Steps;
    let text = screen(&mut app, (80, 24));
    assert!(
        text.contains("ttl-wait waits 1 h after the TTL lowering is seen"),
        "{text}"
    );
    assert!(!text.contains(" left"), "{text}");
}

/// Once every step is finished, the rehearsal asks the sandbox for the summary of the run,
/// once, and shows it when it comes; Esc closes it.
#[test]
fn the_rehearsal_ends_on_its_summary() {
    let plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), 3);
    let runbook = cutover::runbook::Runbook::for_plan(&plan);
    let now = at(3 * 24 * 60);
    let entries: Vec<Entry> = runbook
        .steps
        .iter()
        .map(|s| overridden(s.id.as_str(), now))
        .collect();
    let mut app = App::new(plan, &entries, Role::Driving, now);
    app.rehearsal = true;
    app.rehearsal_screens.started = true;
    let asked = update(&mut app, Event::Tick(now));
    assert_eq!(
        asked,
        vec![cutover::app::Command::Rehearsal(
            cutover::app::Rehearse::Summary
        )]
    );
    assert!(update(&mut app, Event::Tick(now)).is_empty(), "asked once");
    let lines = vec![
        "REHEARSAL — summary of your run".to_string(),
        "Verdict (exit 1): no mail lost, but: 13 checks overridden.".to_string(),
    ];
    let _ = update(&mut app, Event::Rehearsal(RehearsalUpdate::Summary(lines)));
    let text = screen(&mut app, (80, 24));
    assert!(text.contains("Rehearsal summary"), "{text}");
    assert!(text.contains("Verdict (exit 1)"), "{text}");
    key(&mut app, KeyCode::Esc);
    let text = screen(&mut app, (80, 24));
    assert!(!text.contains("Rehearsal summary"), "{text}");
}

/// The rehearsal's introduction and the timeline between days draw at any size.
#[test]
fn the_rehearsal_screens_draw_at_any_size() {
    let screens: [fn() -> App; 2] = [rehearsal_intro_app, now_between_days_app];
    for make in screens {
        for size in [
            (1, 1),
            (10, 5),
            (24, 8),
            (40, 12),
            (60, 20),
            (79, 23),
            (200, 60),
        ] {
            let mut app = make();
            let text = screen(&mut app, size);
            assert_eq!(text.lines().count(), usize::from(size.1), "{size:?}");
        }
    }
}

fn copy_line(mailbox: &str, at: Timestamp, done: u64, left: u64) -> Entry {
    Entry::Sync {
        at,
        mailbox: mailbox.into(),
        pid: 4242,
        state: "running".into(),
        messages_done: done,
        messages_left: left,
        bytes_done: done * 40_000,
        detail: None,
    }
}

/// Three copies running: two measured over two minutes of journal lines, one just started.
fn copying_app() -> App {
    let now = at(2 * 24 * 60 + 70);
    let minutes_ago = |m: i64| now.checked_sub(SignedDuration::from_mins(m)).unwrap();
    let entries = vec![
        copy_line("user0021@example.com", minutes_ago(2), 0, 0),
        copy_line("user0023@example.com", minutes_ago(2), 0, 0),
        copy_line("user0021@example.com", minutes_ago(1), 600, 900),
        copy_line("user0023@example.com", minutes_ago(1), 300, 2_100),
        copy_line("user0021@example.com", now, 1_200, 300),
        copy_line("user0023@example.com", now, 600, 1_800),
        copy_line("user0025@example.com", now, 0, 0),
    ];
    let mut app = app_at(40, &entries, Role::Driving, now);
    let rows = fake::mailbox_rows(&app.plan, 0.5);
    fake::show_mailboxes(&mut app, rows);
    app.focus = Pane::Mailboxes;
    for _ in 0..25 {
        key(&mut app, KeyCode::Down);
    }
    app
}

#[test]
fn mailbox_table_during_a_copy() {
    snapshot("copying", copying_app);
}

fn uidnext_round(at: Timestamp, first: u32) -> Vec<Entry> {
    (0..5)
        .map(|i| Entry::Fact {
            at,
            key: "old-inbox-uidnext".into(),
            value: serde_json::json!({
                "mailbox": format!("user{i:04}@example.com"),
                "uidnext": if i == 1 { first } else { 40 },
            }),
            evidence: format!("user{i:04}@example.com: old INBOX UIDNEXT"),
        })
        .collect()
}

/// Rounds of UIDNEXT facts, a copy with its checkpoints and ledger lines, an alarm, people.
fn folded_journal_app() -> App {
    let mailbox = "user0002@example.com";
    let copy_fact = |at, key: &str, value: serde_json::Value| Entry::Fact {
        at,
        key: key.into(),
        value,
        evidence: "3 messages copied".into(),
    };
    let checkpoint = |at, folder: &str| Entry::Checkpoint {
        at,
        mailbox: mailbox.into(),
        folder: folder.into(),
        uidvalidity: 1,
        last_uid: 90,
    };
    let mut entries = vec![Entry::Confirm {
        at: at(0),
        operator: "ann".into(),
        step: "lower-ttl".into(),
        mailbox: None,
        evidence: vec![],
    }];
    entries.extend(uidnext_round(at(10), 40));
    entries.extend(uidnext_round(at(40), 41));
    entries.push(Entry::Fact {
        at: at(45),
        key: "alarm-raised".into(),
        value: serde_json::json!({ "alarm": "mx-empty" }),
        evidence: "ns1 served an empty MX set".into(),
    });
    let ledger = serde_json::json!({ "mailbox": mailbox, "folder": "INBOX", "ids": {} });
    entries.extend([
        copy_line(mailbox, at(50), 0, 0),
        copy_fact(at(50), "mail-ledger", ledger.clone()),
        checkpoint(at(50), "INBOX"),
        copy_line(mailbox, at(51), 120, 60),
        copy_fact(at(51), "mail-ledger", ledger),
        checkpoint(at(51), "INBOX"),
        checkpoint(at(51), "Sent"),
        Entry::Sync {
            at: at(52),
            mailbox: mailbox.into(),
            pid: 4242,
            state: "verified".into(),
            messages_done: 180,
            messages_left: 0,
            bytes_done: 180 * 40_000,
            detail: None,
        },
    ]);
    entries.extend(uidnext_round(at(70), 42));
    entries.push(overridden("add-new-mx", at(75)));
    let mut app = app_at(5, &entries, Role::Driving, at(80));
    app.focus = Pane::Journal;
    app
}

#[test]
fn journal_pane_folded() {
    snapshot("folded_journal", folded_journal_app);
}

/// The journal's newest SMTP probe: user0000 accepted but its alias refused, user0001
/// accepted, user0002 greylisted (no definite answer).
fn new_mx_app() -> App {
    use cutover::smtp::{AddressAnswer, HostReport, SmtpProbe};
    let mut plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), 3);
    plan.mailboxes[0].aliases = vec!["sales@example.com".into()];
    let host = "mx.new.example.";
    let answer = |address: &str, accepts: Option<bool>, reply: &str| AddressAnswer {
        host: host.into(),
        address: address.into(),
        accepts,
        reply: reply.into(),
    };
    let probe = SmtpProbe {
        hosts: vec![HostReport {
            host: host.into(),
            port: 25,
            at: at(30),
            reachable: true,
            banner: Some("220 mx.new.example ESMTP".into()),
            starttls: true,
            cert_valid: Some(true),
            cert_days_left: Some(80),
            tls_error: None,
            probe_address: "cutover-probe-x1@example.com".into(),
            probe_reply: Some("550 5.1.1 User unknown".into()),
            accepts_anything: Some(false),
            error: None,
        }],
        answers: vec![
            answer("user0000@example.com", Some(true), "250 2.1.5 Ok"),
            answer(
                "sales@example.com",
                Some(false),
                "550 5.1.1 <sales@example.com>: User unknown",
            ),
            answer("user0001@example.com", Some(true), "250 2.1.5 Ok"),
            answer(
                "user0002@example.com",
                None,
                "451 4.7.1 Greylisted, try again later",
            ),
        ],
    };
    let entries = [Entry::Fact {
        at: at(30),
        key: "smtp-probe".into(),
        value: serde_json::to_value(&probe).unwrap(),
        evidence: "the new MX refuses sales@example.com".into(),
    }];
    let mut app = App::new(plan, &entries, Role::Driving, at(35));
    app.focus = Pane::Mailboxes;
    app
}

fn new_mx_detail_app() -> App {
    let mut app = new_mx_app();
    key(&mut app, KeyCode::Enter);
    app
}

/// The mailbox table's `mx` column says what the new MX answered for each mailbox's
/// addresses (its aliases too), and the detail lists the replies, refusals first.
#[test]
fn the_new_mx_answers_per_mailbox() {
    let mut app = new_mx_app();
    let text = screen(&mut app, (120, 40));
    let row = |who: &str| {
        text.lines()
            .find(|l| l.contains(who))
            .unwrap_or_else(|| panic!("no row for {who}:\n{text}"))
            .to_string()
    };
    // After the (cut) address: o/n (two marks), old #, new #, sync, pop, mx.
    let mx = |who: &str| {
        let row = row(who);
        let rest = row.split(who).nth(1).unwrap_or_default().to_string();
        rest.split_whitespace().nth(7).map(str::to_string)
    };
    assert_eq!(mx("user0000@").as_deref(), Some("✗"), "{text}");
    assert_eq!(mx("user0001@").as_deref(), Some("✓"), "{text}");
    assert_eq!(mx("user0002@").as_deref(), Some("?"), "{text}");
    let mut app = new_mx_detail_app();
    let text = screen(&mut app, (120, 40));
    let refused = text.find("REFUSES sales@example.com").expect(&text);
    let accepted = text.find("accepts user0000@example.com").expect(&text);
    assert!(refused < accepted, "refusals first:\n{text}");
    assert!(text.contains("550 5.1.1"), "{text}");
    snapshot("new_mx_detail", new_mx_detail_app);
}
