//! The rehearsal's own screens: the introduction it starts paused on, and the summary of the
//! run at the end (the autopilot report's content, computed by the sandbox from this run).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::popups::popup_box;
use super::style;
use super::text::{fit, wrap};
use crate::app::App;
use crate::sanitize::sanitize;

/// The keys a newcomer needs first, with what they do.
const KEYS: [(&str, &str); 10] = [
    ("p", "start / pause simulated time"),
    ("+ / -", "simulated time twice / half as fast"),
    (">", "skip to when the next gate clears"),
    ("1–8", "your DNS host's console and the mail servers"),
    (
        "c",
        "create an alias the new provider lacks (when a gate says so)",
    ),
    ("s", "copy the mail from the old server to the new one"),
    (
        "m",
        "send canaries: prove mail flows (a gate of the switch)",
    ),
    ("Enter", "confirm the selected step (a: mark it applied)"),
    ("?", "every key"),
    ("q", "quit"),
];

fn speed_text(app: &App) -> String {
    match app.rehearsal_screens.clock {
        Some(c) => format!("{}× real time", speed(c.speed)),
        None => "hundreds of times real time".to_string(),
    }
}

/// A speed factor as the header writes it: "432", "1.5".
pub fn speed(factor: f64) -> String {
    if factor >= 10.0 || factor.fract() == 0.0 {
        format!("{factor:.0}")
    } else {
        format!("{factor:.1}")
    }
}

/// The introduction: what the rehearsal is, the keys that matter, and how to start.
pub fn intro(frame: &mut Frame, app: &App, area: Rect) {
    let box_w = area.width.saturating_sub(2).min(84);
    let w = usize::from(box_w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    let text = [
        format!(
            "A whole email migration on a sandbox: DNS servers, public resolvers, an old and a new \
             mail server, all on this machine; nothing real is touched. Three working days run \
             in simulated time ({}), about ten minutes.",
            speed_text(app)
        ),
        "You are the operator and the DNS host. The Next step pane says what to do and why; \
         a step is confirmed only when its evidence holds."
            .to_string(),
    ];
    for paragraph in text {
        for l in wrap(&paragraph, w, "") {
            lines.push(Line::from(l));
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled(
        "Keys that matter",
        Style::default().add_modifier(Modifier::BOLD),
    )));
    for (key, what) in KEYS {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {key:<6} "),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(fit(what, w.saturating_sub(9))),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        fit("Simulated time is paused. Press p to start.", w),
        style(app, Color::Yellow, None).add_modifier(Modifier::BOLD),
    )));
    // As tall as its text, so the header (speed, paused) stays in sight above it.
    let box_h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let inner = popup_box(frame, app, area, box_w, box_h, "REHEARSAL · cutover demo");
    let h = usize::from(inner.height);
    if lines.len() > h {
        // Keep the way out visible on a short screen: the blank lines go first.
        lines.retain(|l| l.width() > 0);
        let last = lines.pop();
        lines.truncate(h.saturating_sub(1));
        lines.extend(last);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The summary of the run, scrolled with ↑/↓ and PgUp/PgDn.
pub fn summary(frame: &mut Frame, app: &App, area: Rect) {
    let Some(summary) = &app.rehearsal_screens.summary else {
        return;
    };
    let inner = popup_box(
        frame,
        app,
        area,
        area.width.saturating_sub(2).min(110),
        area.height,
        "Rehearsal summary",
    );
    let w = usize::from(inner.width);
    let h = usize::from(inner.height).saturating_sub(1);
    let skip = app
        .rehearsal_screens
        .summary_scroll
        .min(summary.len().saturating_sub(h));
    let mut lines: Vec<Line<'static>> = summary
        .iter()
        .skip(skip)
        .take(h)
        .map(|l| {
            let s = if l.starts_with("LOST") || l.starts_with("Verdict") {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            Line::from(Span::styled(fit(&sanitize(l), w), s))
        })
        .collect();
    let more = skip + h < summary.len();
    let hint = format!(
        "{}↑/↓ PgUp/PgDn scroll · Esc close · q quit",
        if more { "more below · " } else { "" }
    );
    lines.push(Line::from(Span::styled(
        fit(&hint, w),
        style(app, Color::Cyan, None),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}
