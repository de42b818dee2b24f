//! The five panes: timeline, next step, DNS matrix (`dns_pane.rs`), mailbox table, journal.

use crate::step::StepId;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::text::{fit, wrap};
use super::{journal_pane, local, mailbox_pane, style};
use crate::app::model::Tone;
use crate::app::{App, Pane};
use crate::check::Status;
use crate::runbook::StepState;
use crate::sanitize::sanitize;

/// A titled, bordered pane; the focused one is drawn bold.
fn frame_block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let focused = app.focus == pane;
    let border = if focused {
        style(app, Color::Cyan, None).add_modifier(Modifier::BOLD)
    } else {
        style(app, Color::DarkGray, None)
    };
    Block::bordered()
        .border_style(border)
        .title(Line::from(Span::styled(
            format!(" {title} "),
            Style::default().add_modifier(if focused {
                Modifier::BOLD
            } else {
                Modifier::empty()
            }),
        )))
}

pub fn render(frame: &mut Frame, app: &App, pane: Pane, rect: Rect) {
    let title = match pane {
        Pane::Mailboxes => mailbox_pane::mailbox_title(app),
        Pane::Journal => journal_pane::title(app),
        Pane::Dns => match &app.dns {
            Some(d) => format!("DNS · measured {}", local(app, d.measured_at, "%H:%M:%S")),
            None => "DNS".to_string(),
        },
        p => p.title().to_string(),
    };
    let title = fit(&title, usize::from(rect.width.saturating_sub(4)));
    let block = frame_block(app, pane, title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = usize::from(inner.width);
    let h = usize::from(inner.height);
    let lines = match pane {
        Pane::Steps => super::timeline_pane::steps(app, w, h),
        Pane::Next => next(app, w, h),
        Pane::Dns => super::dns_pane::dns(app, w, h),
        Pane::Mailboxes => mailbox_pane::mailboxes(app, w, h),
        Pane::Journal => journal_pane::journal(app, w, h),
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn state_style(app: &App, state: StepState) -> Style {
    match state {
        StepState::Pending => style(app, Color::DarkGray, None),
        StepState::Ready => style(app, Color::Cyan, None).add_modifier(Modifier::BOLD),
        StepState::Waiting => style(app, Color::Blue, None),
        StepState::Blocked => style(app, Color::Red, None),
        StepState::Applied => style(app, Color::Magenta, None),
        StepState::Done => style(app, Color::Green, None),
        StepState::Overridden => style(app, Color::Yellow, None),
        StepState::RolledBack => {
            style(app, Color::DarkGray, None).add_modifier(Modifier::CROSSED_OUT)
        }
    }
}

pub fn check_style(app: &App, status: Status) -> Style {
    match status {
        Status::Pass => style(app, Color::Green, None),
        Status::Warn => style(app, Color::Yellow, None),
        Status::Fail => style(app, Color::Red, None),
        Status::Unknown => style(app, Color::DarkGray, None),
    }
}

/// Cuts `lines` to `h`, keeping `focus` (a line index) visible; a cut end is marked `…`.
pub(super) fn window(
    mut lines: Vec<Line<'static>>,
    h: usize,
    focus: Option<usize>,
) -> Vec<Line<'static>> {
    if lines.len() <= h || h == 0 {
        return lines;
    }
    let start = match focus {
        Some(f) if f >= h => f + 1 - h,
        _ => 0,
    };
    let more_below = start + h < lines.len();
    lines.drain(..start);
    lines.truncate(h);
    if more_below
        && focus != Some(start + h - 1)
        && let Some(last) = lines.last_mut()
    {
        *last = Line::from("…");
    }
    lines
}

fn next(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let Some(next) = &app.eval.next else {
        lines.push(Line::from("Every step is done."));
        return lines;
    };
    let head = format!(
        "{} {} — {} ({})",
        next.state.glyph(),
        next.step,
        next.title,
        next.state.as_str()
    );
    for l in wrap(&head, w, "  ") {
        lines.push(Line::from(Span::styled(
            l,
            state_style(app, next.state).add_modifier(Modifier::BOLD),
        )));
    }
    if let Some(until) = next.wait_until {
        let left = until.duration_since(app.now);
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "Clears {} ({})",
                    crate::units::countdown(left),
                    local(app, until, "%a %-d %b %H:%M")
                ),
                w,
            ),
            style(app, Color::Blue, None).add_modifier(Modifier::BOLD),
        )));
    }
    if let Some(alarm) = &next.alarm {
        for l in wrap(
            &format!("First, alarm {alarm}: fix it before anything else."),
            w,
            "  ",
        ) {
            lines.push(Line::from(Span::styled(
                l,
                style(app, Color::Red, None).add_modifier(Modifier::BOLD),
            )));
        }
    }
    for warning in &next.warnings {
        for l in wrap(&format!("Warning: {}", sanitize(warning)), w, "  ") {
            lines.push(Line::from(Span::styled(l, style(app, Color::Yellow, None))));
        }
    }
    for l in wrap(&format!("Why: {}", next.why), w, "  ") {
        lines.push(Line::from(l));
    }
    lines.extend(step_checks(app, next, w));
    lines.push(Line::from(Span::styled(
        "Do:",
        Style::default().add_modifier(Modifier::BOLD),
    )));
    for a in &next.actions {
        for l in wrap(&format!("  {a}"), w, "    ") {
            lines.push(Line::from(l));
        }
    }
    if !next.records.is_empty() {
        let title = if next.records_from_plan_only {
            "Records (from the plan, not yet measured; `cutover status` prints them whole):"
        } else {
            "Records to paste (`cutover status` prints them whole):"
        };
        for l in wrap(title, w, "  ") {
            lines.push(Line::from(Span::styled(
                l,
                Style::default().add_modifier(Modifier::BOLD),
            )));
        }
        for r in &next.records {
            for l in wrap(&format!("  {}", sanitize(r)), w, "    ") {
                lines.push(Line::from(Span::styled(l, style(app, Color::Cyan, None))));
            }
        }
    }
    if !next.also_ready.is_empty() {
        let also = format!("Also ready: {}", StepId::join(&next.also_ready, ", "));
        for l in wrap(&also, w, "  ") {
            lines.push(Line::from(l));
        }
    }
    // Mail flow (R16): the last canary per route, or why mail flow is not proven.
    lines.push(Line::from(Span::styled(
        "Mail flow (m sends canaries):",
        Style::default().add_modifier(Modifier::BOLD),
    )));
    for f in crate::app::mail_flow_view::mail_flow(&app.plan, &app.history, app.now) {
        let tone = f.status.map_or(Style::default(), |s| check_style(app, s));
        for l in wrap(&format!("  {}", f.text), w, "    ") {
            lines.push(Line::from(Span::styled(l, tone)));
        }
    }
    // Scrolled (↑/↓ in this pane): never past the last screenful.
    let skip = app.next_scroll.min(lines.len().saturating_sub(h));
    if skip > 0 {
        lines.drain(..skip);
        lines[0] = Line::from("…");
    }
    window(lines, h, None)
}

/// The next step's checks, one line each with its mark, so that after `a` the pane shows
/// what holds; folded to one line when every check holds (and, for a step the operator
/// confirms, that Enter would now do it).
fn step_checks(app: &App, next: &crate::runbook::Next, w: usize) -> Vec<Line<'static>> {
    let Some(step) = app.eval.steps.iter().find(|s| s.id == next.step) else {
        return Vec::new();
    };
    let checks = &step.checks;
    if checks.is_empty() {
        return Vec::new();
    }
    if checks.iter().all(|c| c.status.holds()) {
        let confirms = if step.mode != crate::runbook::Mode::Automatic {
            " — Enter confirms"
        } else {
            ""
        };
        let n = checks.len();
        return vec![Line::from(Span::styled(
            fit(&format!("✓ {n} of {n} checks hold{confirms}"), w),
            check_style(app, Status::Pass).add_modifier(Modifier::BOLD),
        ))];
    }
    let mut lines = vec![Line::from(Span::styled(
        "Checks:",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for c in checks {
        let until = match c.until {
            Some(u) if !c.status.holds() => format!(
                " — clears {}",
                crate::units::countdown(u.duration_since(app.now))
            ),
            _ => String::new(),
        };
        let text = format!(
            "  {} {}: {}{until}",
            c.status.mark(),
            c.id,
            sanitize(&c.evidence)
        );
        lines.push(Line::from(Span::styled(
            fit(&text, w),
            check_style(app, c.status),
        )));
    }
    lines
}

pub fn tone_style(app: &App, tone: Tone) -> Style {
    match tone {
        Tone::Old => style(app, Color::Yellow, None),
        Tone::New => style(app, Color::Green, None),
        Tone::Both => style(app, Color::Cyan, None),
        Tone::Missing => style(app, Color::Red, None).add_modifier(Modifier::BOLD),
        Tone::Error => style(app, Color::LightRed, None),
        Tone::Neutral => Style::default(),
    }
}

pub(super) fn not_measured(app: &App) -> String {
    if app.offline {
        "not measured (offline)".to_string()
    } else {
        "not measured yet".to_string()
    }
}
