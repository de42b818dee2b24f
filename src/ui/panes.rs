//! The five panes: timeline, next step, DNS matrix, mailbox table, journal.

use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::text::{fit, pad, wrap};
use super::{journal_pane, local, mailbox_pane, style};
use crate::app::model::{ServerRole, Tone};
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
        Pane::Steps => steps(app, w, h),
        Pane::Next => next(app, w, h),
        Pane::Dns => dns(app, w, h),
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
fn window(mut lines: Vec<Line<'static>>, h: usize, focus: Option<usize>) -> Vec<Line<'static>> {
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

/// A wait drawn as a bar: how much of it has passed, and the countdown.
fn wait_bar(app: &App, id: &str, end: Option<Timestamp>, w: usize) -> String {
    let Some(wait) = app.timeline.waits.iter().find(|x| x.id == id) else {
        return String::new();
    };
    let length = wait.end.timestamp().duration_since(wait.start.timestamp());
    // The bar counts down to the step's own `wait_until` only: the planned slot is not when it clears.
    let left = end.map(|end| end.duration_since(app.now));
    let done = match left {
        None => 0.0,
        Some(_) if length.as_secs() <= 0 => 1.0,
        Some(left) => (1.0 - left.as_secs_f64() / length.as_secs_f64()).clamp(0.0, 1.0),
    };
    let bar_w = w.clamp(4, 12);
    let filled = (done * bar_w as f64).round() as usize;
    let countdown = match left {
        None if app.now < wait.start.timestamp() => format!(
            "{} wait from {}",
            crate::units::duration(length),
            local(app, wait.start.timestamp(), "%a %H:%M")
        ),
        None => format!("{} wait, not started", crate::units::duration(length)),
        Some(left) if left > SignedDuration::ZERO => crate::units::duration(left) + " left",
        Some(_) => "over".to_string(),
    };
    format!(
        "▕{}{}▏ {countdown}",
        "█".repeat(filled),
        "░".repeat(bar_w - filled)
    )
}

fn steps(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut focus = None;
    let mut now_drawn = false;
    let now_marker = |app: &App| {
        Line::from(Span::styled(
            fit(
                &format!("── now {} ──────────────", local(app, app.now, "%a %H:%M")),
                w,
            ),
            style(app, Color::Yellow, None).add_modifier(Modifier::BOLD),
        ))
    };
    for day in &app.timeline.days {
        let today = app.eval.day == day.day;
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    "Day {} · {}{}",
                    day.day,
                    day.date.strftime("%a %-d %b"),
                    if today { " (today)" } else { "" }
                ),
                w,
            ),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )));
        for planned in &day.steps {
            let Some((index, status)) = app
                .eval
                .steps
                .iter()
                .enumerate()
                .find(|(_, s)| s.id == planned.id)
            else {
                continue;
            };
            if !now_drawn && planned.start.timestamp() > app.now {
                lines.push(now_marker(app));
                now_drawn = true;
            }
            let glyph = status.state.glyph();
            let is_wait = app.timeline.waits.iter().any(|x| x.id == planned.id);
            let prefix = format!("{glyph} {} ", planned.start.strftime("%H:%M"));
            let rest = if is_wait && !status.state.is_finished() {
                let bar = wait_bar(app, &planned.id, status.wait_until, 10);
                format!("{} {bar}", planned.id)
            } else {
                let ticks = status
                    .mailboxes
                    .as_ref()
                    .map(|t| format!(" {}/{}", t.ticked, t.total))
                    .unwrap_or_default();
                format!("{:<19}{ticks} {}", planned.id, status.title)
            };
            let text = pad(&format!("{prefix}{rest}"), w);
            let mut s = state_style(app, status.state);
            if index == app.selected_step {
                s = s.add_modifier(Modifier::REVERSED);
                focus = Some(lines.len());
            }
            lines.push(Line::from(Span::styled(text, s)));
        }
    }
    if !now_drawn {
        lines.push(now_marker(app));
    }
    window(lines, h, focus)
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
    if !next.blocked_by.is_empty() {
        lines.push(Line::from(Span::styled(
            "Blocked by:",
            Style::default().add_modifier(Modifier::BOLD),
        )));
        for c in &next.blocked_by {
            let mut until = String::new();
            if let Some(u) = c.until {
                until = format!(
                    " — clears {}",
                    crate::units::countdown(u.duration_since(app.now))
                );
            }
            let text = format!(
                "{} {}: {}{until}",
                c.status.mark(),
                c.id,
                sanitize(&c.evidence)
            );
            for l in wrap(&text, w, "    ") {
                lines.push(Line::from(Span::styled(l, check_style(app, c.status))));
            }
        }
    }
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
        let also = format!("Also ready: {}", next.also_ready.join(", "));
        for l in wrap(&also, w, "  ") {
            lines.push(Line::from(l));
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

fn not_measured(app: &App) -> String {
    if app.offline {
        "not measured (offline)".to_string()
    } else {
        "not measured yet".to_string()
    }
}

fn dns(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let Some(view) = &app.dns else {
        return vec![Line::from(Span::styled(
            fit(&not_measured(app), w),
            style(app, Color::DarkGray, None),
        ))];
    };
    let label_w = (w / 3).clamp(8, 26);
    let n = view.servers.len().max(1);
    let col_w = (w.saturating_sub(label_w) / n).max(4);
    let mut head = vec![Span::raw(pad("name type", label_w))];
    for s in &view.servers {
        let mark = match s.role {
            ServerRole::Authoritative => "*",
            ServerRole::Resolver => "",
        };
        head.push(Span::styled(
            pad(&format!(" {}{mark}", sanitize(&s.label)), col_w),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    let mut lines = vec![Line::from(head)];
    let mut focus = None;
    for (r, row) in view.rows.iter().enumerate() {
        let mut spans = vec![Span::raw(pad(
            &format!("{} {}", sanitize(&row.name), row.rtype),
            label_w,
        ))];
        for (c, cell) in row.cells.iter().enumerate() {
            let ttl = cell.ttl.map(|t| format!(" {t}")).unwrap_or_default();
            let mut s = tone_style(app, cell.tone);
            if app.focus == Pane::Dns && app.dns_cursor == (r, c) {
                s = s.add_modifier(Modifier::REVERSED);
                focus = Some(r + 1);
            }
            spans.push(Span::styled(
                pad(&format!(" {}{ttl}", sanitize(&cell.short)), col_w),
                s,
            ));
        }
        lines.push(Line::from(spans));
    }
    window(lines, h, focus)
}
