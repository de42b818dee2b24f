//! The cockpit's views: `render(frame, &App)` draws the whole screen from state alone.
//!
//! At 100×30 and above every pane is on screen; smaller, the panes become
//! tabs. Every line is fitted to its cell (a word cut ends with `…`), colours
//! come from the 16-colour palette only (none with `NO_COLOR`), and every
//! piece of server or journal text goes through [`crate::sanitize`].

mod dns_pane;
mod journal_pane;
mod mailbox_pane;
mod panes;
mod popups;
mod rehearsal;
pub mod text;
mod timeline_pane;

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::layout::areas;
use crate::app::{App, Pane, Popup, Role, Scope, key_help};
use crate::sanitize::sanitize;
use text::{fit, width};

fn banner_lines(app: &App, w: u16) -> Vec<Line<'static>> {
    let w = usize::from(w);
    let mut lines = Vec::new();
    if let Some(alarm) = app.dns.as_ref().and_then(|d| d.alarm.as_ref()) {
        // The evaluation's alarm leads with its fix; the DNS view's sentence otherwise.
        let text = match app.eval.alarms.first() {
            Some(a) => format!(
                " ALARM {}: {} — {}",
                a.id,
                sanitize(&a.evidence),
                sanitize(&a.fix.action)
            ),
            None => format!(" ALARM: {}", sanitize(alarm)),
        };
        lines.push(Line::from(Span::styled(
            fit(&text, w),
            style(app, Color::White, Some(Color::Red)).add_modifier(Modifier::BOLD),
        )));
    }
    if let Role::Observing(driver) = &app.role {
        lines.push(Line::from(Span::styled(
            fit(&format!(" OBSERVING (read-only): driven by {driver}"), w),
            style(app, Color::Black, Some(Color::Yellow)).add_modifier(Modifier::BOLD),
        )));
    }
    lines
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let a = areas(app, area);
    frame.render_widget(Paragraph::new(header(app, a.header.width)), a.header);
    frame.render_widget(Paragraph::new(banner_lines(app, area.width)), a.banners);
    if let Some(tabs) = a.tabs {
        frame.render_widget(Paragraph::new(tab_bar(app, tabs.width)), tabs);
    }
    for (pane, rect) in &a.panes {
        panes::render(frame, app, *pane, *rect);
    }
    frame.render_widget(Paragraph::new(status_line(app, a.status.width)), a.status);
    frame.render_widget(Paragraph::new(footer(app, a.footer.width)), a.footer);
    if app.help {
        popups::help(frame, app, area);
    } else if app.rehearsal_intro_open() {
        rehearsal::intro(frame, app, area);
    } else if app.rehearsal_summary_open() {
        rehearsal::summary(frame, app, area);
    } else if let Some(popup) = &app.popup {
        match popup {
            Popup::Confirm(p) => popups::confirm(frame, app, p, area),
            Popup::Ask(ask) => popups::ask(frame, app, ask, area),
            Popup::Mailbox(address) => popups::mailbox(frame, app, address, area),
            Popup::DnsCell(row, col) => popups::dns_cell(frame, app, *row, *col, area),
        }
    }
}

/// A foreground (and optional background) colour, or none with `NO_COLOR`.
pub fn style(app: &App, fg: Color, bg: Option<Color>) -> Style {
    if app.no_color {
        return Style::default();
    }
    let s = Style::default().fg(fg);
    match bg {
        Some(bg) => s.bg(bg),
        None => s,
    }
}

/// A time in the plan's zone.
pub fn local(app: &App, at: jiff::Timestamp, format: &str) -> String {
    at.to_zoned_datetime(app.plan.timezone.clone())
        .strftime(format)
        .to_string()
}

fn day_text(day: u8) -> String {
    match day {
        0 => "before day 1".to_string(),
        4 => "after day 3".to_string(),
        d => format!("day {d} of 3"),
    }
}

fn header(app: &App, w: u16) -> Line<'static> {
    let w = usize::from(w);
    let role = match &app.role {
        Role::Driving => "DRIVING".to_string(),
        Role::Observing(d) => format!("OBSERVING ({} drives)", sanitize(&d.user)),
    };
    let role = if app.offline {
        format!("{role} · OFFLINE")
    } else {
        role
    };
    // The rehearsal's clock stays in sight: its speed, and whether it runs.
    let role = match (app.rehearsal, app.rehearsal_screens.clock) {
        (false, _) => role,
        (true, None) => format!("REHEARSAL · {role}"),
        (true, Some(clock)) => format!(
            "REHEARSAL {}× {} · {role}",
            rehearsal::speed(clock.speed),
            if clock.paused { "paused" } else { "running" }
        ),
    };
    let domain = app.plan.domain.clone();
    let sides = format!(
        "{} → {}",
        sanitize(&app.plan.old.name),
        sanitize(&app.plan.new.name)
    );
    let day = day_text(app.eval.day);
    let clock = local(app, app.now, "%a %-d %b %H:%M %Z");
    // Drop the least useful parts first when the line is too narrow.
    let mut parts = vec![domain.clone(), sides, day, clock];
    loop {
        let len: usize = parts.iter().map(|p| width(p) + 3).sum::<usize>() + width(&role) + 2;
        if len <= w || parts.len() <= 1 {
            break;
        }
        parts.remove(1);
    }
    let left = format!(" {}", parts.join(" · "));
    let gap = w.saturating_sub(width(&left) + width(&role) + 1);
    let role_style = match app.role {
        Role::Driving => style(app, Color::Black, Some(Color::Green)),
        Role::Observing(_) => style(app, Color::Black, Some(Color::Yellow)),
    }
    .add_modifier(Modifier::BOLD);
    Line::from(vec![
        Span::styled(fit(&left, w), Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(" ".repeat(gap)),
        Span::styled(fit(&role, w.saturating_sub(width(&left))), role_style),
    ])
}

fn tab_bar(app: &App, w: u16) -> Line<'static> {
    let mut spans = Vec::new();
    let mut used = 0;
    for pane in Pane::ALL {
        let label = format!(" {} ", pane.title());
        used += width(&label) + 1;
        if used > usize::from(w) {
            break;
        }
        let s = if pane == app.focus {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(label, s));
        spans.push(Span::raw("│"));
    }
    Line::from(spans)
}

fn status_line(app: &App, w: u16) -> Line<'static> {
    let text = match (&app.notice, app.mailbox_view.editing_filter) {
        (_, true) => format!(
            " Filter mailboxes: {}▏ (Enter keeps, Esc clears)",
            app.mailbox_view.filter
        ),
        (Some(n), false) => format!(" {n}"),
        (None, false) => match &app.eval.schedule {
            Some(s) => format!(" Schedule: {}", s.text),
            None => String::new(),
        },
    };
    Line::from(Span::styled(
        fit(&text, usize::from(w)),
        style(app, Color::Cyan, None),
    ))
}

/// The current key scope: a popup's, or the focused pane's.
pub fn scope(app: &App) -> Scope {
    match &app.popup {
        Some(Popup::Confirm(p)) if crate::app::update::needs_reason(app, p) => Scope::Reason,
        Some(Popup::Confirm(_) | Popup::Ask(_)) => Scope::Popup,
        _ => app.focus.scope(),
    }
}

/// The keys that work now, each once: labels shorten before keys are dropped, so at
/// 80 columns the rehearsal still shows `>` and `1-8`.
fn footer(app: &App, w: u16) -> Line<'static> {
    let w = usize::from(w);
    let fixed = |hints: &[(&'static str, &'static str)]| -> Vec<key_help::Hint> {
        hints
            .iter()
            .map(|&(key, long)| key_help::Hint {
                key,
                long,
                short: long,
                rank: 90,
            })
            .collect()
    };
    let hints: Vec<(String, String)> = match &app.popup {
        _ if app.help => key_help::fit_hints(
            &fixed(&[("↑↓ PgUp/PgDn", "scroll"), ("Esc", "close"), ("q", "quit")]),
            w,
        )
        .into_iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect(),
        Some(Popup::Ask(ask)) => vec![
            ("y".to_string(), ask.yes.clone()),
            ("n/Esc".to_string(), "cancel".to_string()),
        ],
        Some(Popup::Mailbox(_) | Popup::DnsCell(..)) => {
            vec![("Esc".into(), "close".into()), ("q".into(), "quit".into())]
        }
        _ => {
            let scope = scope(app);
            let mut hints = key_help::hints(scope, app.rehearsal);
            if scope == Scope::Reason {
                hints.insert(
                    0,
                    key_help::Hint {
                        key: "type",
                        long: "the reason (10+ characters)",
                        short: "reason",
                        rank: 95,
                    },
                );
            }
            key_help::fit_hints(&hints, w)
                .into_iter()
                .map(|(k, l)| (k.to_string(), l.to_string()))
                .collect()
        }
    };
    let mut spans = Vec::new();
    let mut used = 0;
    for (key, what) in hints {
        let chunk = width(&key) + width(&what) + 3;
        if used + chunk > w {
            break;
        }
        used += chunk;
        spans.push(Span::styled(
            format!(" {key}"),
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    Line::from(spans)
}
