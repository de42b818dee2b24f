//! Whole cockpit screens at 80×24 and 120×40, rendered into a `TestBackend`.
//! The header's clock is masked (`[now]`) so the snapshots hold what matters.
//! The panes' data is made up and put into the state (`support/fake.rs`): these
//! test what a screen shows, `tui_flow` what the workers' data means.

#[path = "support/fake.rs"]
mod fake;

use std::path::PathBuf;

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
    update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// The screen as text, with the header's clock masked.
fn screen(app: &mut App, (w, h): (u16, u16)) -> String {
    update(app, Event::Resize(w, h));
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
    update(
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
    let screens: [fn() -> App; 14] = [
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
        override_short_reason_app,
        rehearsal_app,
        rehearsal_quit_app,
        early_copy_app,
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
    update(app, Event::Resize(120, 40));
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

/// The TTL lowered at 10:48 instead of 09:00 (old TTL 24 h): the Next step pane and the
/// timeline bar count down to the same end, Tue 8 Dec 10:48, not to the planned slot.
fn late_lowering_app() -> App {
    let lowered = at(108);
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
    let mut app = App::new(plan, &entries, Role::Driving, at(200));
    app.journal_scroll = 0;
    app
}

#[test]
fn a_late_lowering_shows_one_wait_end() {
    let app = late_lowering_app();
    let clears = at(108).checked_add(SignedDuration::from_hours(24)).unwrap();
    let step = app.eval.step("ttl-wait").unwrap();
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

#[path = "support/rounds.rs"]
mod rounds;

/// A plan watched by one authoritative server (found under ns1.example.com) and three
/// resolvers: two public ones named by default, one the plan names "office".
fn dns_plan_app(entries: &[Entry], now: Timestamp) -> App {
    let mut plan = fake::plan(PathBuf::from("/srv/cutover/cutover.toml"), 3);
    plan.dns.old_ttl = Some(86_400);
    plan.dns.authoritative = vec!["192.0.2.53:53".parse().unwrap()];
    plan.dns.resolvers = ["1.1.1.1:53", "8.8.8.8:53", "203.0.113.7:53"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    plan.dns
        .names
        .insert("203.0.113.7:53".parse().unwrap(), "office".into());
    let mut app = App::new(plan, entries, Role::Driving, now);
    app.focus = Pane::Dns;
    app
}

/// A round measured 90 s before `app.now`: the zone serves the old MX and SPF with
/// `served` TTL (the MX set and SPF record replaced when given), the resolvers still
/// hold them for `cached` seconds each.
fn measured(app: &mut App, served: u32, mx: Option<&[&str]>, spf: Option<&str>, cached: [u32; 3]) {
    use cutover::dns::Rtype;
    let at = app.now.checked_sub(SignedDuration::from_secs(90)).unwrap();
    let mut zone = rounds::old_zone(&app.plan, served, at);
    for answer in &mut zone {
        match (answer.rtype, mx, spf) {
            (Rtype::MX, Some(mx), _) => answer.records = mx.iter().map(|r| r.to_string()).collect(),
            (Rtype::TXT, _, Some(spf)) => answer.records = vec![spf.to_string()],
            _ => {}
        }
    }
    let mut round = rounds::round(&app.plan, at, &zone, &zone);
    round.servers[0].ns_host = Some("ns1.example.com.".into());
    for (server, ttl) in round.servers[1..].iter_mut().zip(cached) {
        for answer in &mut server.answers {
            answer.ttl = ttl.min(answer.ttl.max(ttl));
        }
    }
    update(app, Event::DnsRound(Box::new(round)));
}

fn dns_before_lowering_app() -> App {
    let mut app = dns_plan_app(&[], at(5));
    measured(&mut app, 86_400, None, None, [86_400, 52_000, 3_600]);
    app
}

fn dns_after_lowering_app() -> App {
    let lowered = at(16);
    let entries = [overridden("lower-ttl", lowered)];
    let mut app = dns_plan_app(&entries, at(25));
    measured(&mut app, 300, None, None, [300, 51_000, 240]);
    app
}

#[test]
fn dns_pane_before_and_after_the_ttl_lowering() {
    let mut before = dns_before_lowering_app();
    let text = screen(&mut before, (80, 24));
    // Named columns, the TTL on every measured cell, and what lower-ttl still wants.
    for word in [
        "ns1",
        "Cloudflare",
        "Google",
        "office",
        "MX",
        "✗ old",
        "24h",
    ] {
        assert!(text.contains(word), "{word} missing:\n{text}");
    }
    assert!(
        text.contains("- example.com. 86400 IN MX 10 mx1.old.example."),
        "{text}"
    );
    assert!(
        text.contains("+ example.com. 300 IN MX 10 mx1.old.example."),
        "{text}"
    );
    let mut after = dns_after_lowering_app();
    let text = screen(&mut after, (80, 24));
    // Served 5 min at ns1; a resolver's cache counts down by the cockpit's clock (90 s gone).
    assert!(text.contains("✓ old") && text.contains("5m"), "{text}");
    assert!(text.contains("14h"), "51000 s less 90 s: {text}");
    assert!(text.contains("2m30s"), "240 s less 90 s: {text}");
    snapshot("dns_before_lowering", dns_before_lowering_app);
    snapshot("dns_after_lowering", dns_after_lowering_app);
}

fn dns_host_card_app() -> App {
    let done = at(24 * 60 - 60);
    let entries: Vec<Entry> = [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
        "ttl-wait",
    ]
    .iter()
    .map(|s| overridden(s, done))
    .collect();
    let mut app = dns_plan_app(&entries, at(24 * 60 + 5));
    let spf = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
    measured(&mut app, 300, None, Some(spf), [300, 280, 120]);
    app
}

#[test]
fn dns_host_card_for_adding_the_new_mx() {
    let mut app = dns_host_card_app();
    assert_eq!(
        app.eval.next.as_ref().map(|n| n.step.as_str()),
        Some("add-new-mx")
    );
    let text = screen(&mut app, (80, 24));
    assert!(
        text.contains("+ example.com. 300 IN MX 1 smtp.new.example."),
        "{text}"
    );
    assert!(
        text.contains("  example.com. 300 IN MX 10 mx1.old.example."),
        "{text}"
    );
    snapshot("dns_host_card", dns_host_card_app);
}

fn dns_cell_popup_app() -> App {
    let mut app = dns_after_lowering_app();
    // spf-add-new is next: SPF is the first row, MX the second.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn dns_cell_popup_decodes_records_one_a_line() {
    let mut app = dns_cell_popup_app();
    let text = screen(&mut app, (120, 40));
    assert!(!text.contains("\\u{a}"), "{text}");
    assert!(text.contains("10 mx1.old.example."), "{text}");
    assert!(text.contains("20 mx2.old.example."), "{text}");
    assert!(text.contains("TTL 5 min as served"), "{text}");
    snapshot("dns_cell_popup", dns_cell_popup_app);
}

/// Like `snapshot`, with keys pressed once the screen has its size (the help scrolls by it).
fn snapshot_after_keys(name: &str, make: fn() -> App, keys: &[KeyCode]) {
    for size in SIZES {
        let mut app = make();
        update(&mut app, Event::Resize(size.0, size.1));
        for k in keys {
            key(&mut app, *k);
        }
        let text = screen(&mut app, size);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), text);
    }
}

fn rehearsal_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(5));
    app.rehearsal = true;
    app
}

/// The help scrolled to its end: the last keys and "end" in its border, at both sizes.
#[test]
fn help_scrolled_to_its_end() {
    snapshot_after_keys(
        "help_end",
        rehearsal_app,
        &[KeyCode::Char('?'), KeyCode::End],
    );
    let mut app = rehearsal_app();
    update(&mut app, Event::Resize(80, 24));
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::End);
    let text = screen(&mut app, (80, 24));
    assert!(text.contains("? or Esc   close"), "{text}");
    let border = text.lines().nth(22).unwrap_or_default();
    assert!(border.contains(" · end "), "{border}");
}

/// The override popup after `y` then Enter: nothing recorded, the reason field under its
/// own label holds the `y`, and the popup and the status line say what is needed.
fn override_short_reason_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(20));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('y'));
    key(&mut app, KeyCode::Enter);
    app
}

#[test]
fn override_popup_with_a_short_reason() {
    snapshot("override_short_reason", override_short_reason_app);
    let mut app = override_short_reason_app();
    let text = screen(&mut app, (80, 24));
    assert!(
        text.contains("Override reason (at least 10 characters"),
        "{text}"
    );
    assert!(text.contains("1 of at least 10 characters typed"), "{text}");
    assert!(
        text.contains("a reason of at least 10 characters"),
        "{text}"
    );
}

/// The rehearsal at 80 columns: the footer keeps `>` and the console keys `1-8`.
#[test]
fn rehearsal_footer_at_80_columns() {
    snapshot("rehearsal_footer", rehearsal_app);
    let mut app = rehearsal_app();
    let text = screen(&mut app, (80, 24));
    let footer = text.lines().last().unwrap_or_default();
    for needle in [" > ", " 1-8 ", " p ", " ? ", " q "] {
        assert!(footer.contains(needle), "{needle}: {footer}");
    }
}

fn rehearsal_quit_app() -> App {
    let mut app = rehearsal_app();
    key(&mut app, KeyCode::Char('q'));
    app
}

#[test]
fn quitting_the_rehearsal_asks() {
    snapshot("rehearsal_quit", rehearsal_quit_app);
}

fn early_copy_app() -> App {
    let mut app = app_at(3, &[], Role::Driving, at(20));
    key(&mut app, KeyCode::Char('s'));
    app
}

#[test]
fn an_early_copy_asks() {
    snapshot("early_copy", early_copy_app);
}
