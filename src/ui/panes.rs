//! The five panes: timeline, next step, DNS matrix (`dns_pane.rs`), mailbox table, journal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::text::{fit, pad, pad_left, wrap};
use super::{local, style};
use crate::app::model::{LoginState, MailboxRow, Tone};
use crate::app::{App, Pane};
use crate::check::Status;
use crate::journal::Entry;
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
        Pane::Mailboxes => mailbox_title(app),
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
        Pane::Mailboxes => mailboxes(app, w, h),
        Pane::Journal => journal(app, w, h),
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

pub(super) fn not_measured(app: &App) -> String {
    if app.offline {
        "not measured (offline)".to_string()
    } else {
        "not measured yet".to_string()
    }
}

fn mailbox_title(app: &App) -> String {
    let v = &app.mailbox_view;
    let mut t = format!("Mailboxes {}/{}", v.order.len(), app.mailboxes.len());
    t.push_str(&format!(
        " · by {}{}",
        v.sort.as_str(),
        if v.descending { " ↓" } else { "" }
    ));
    if !v.filter.is_empty() {
        t.push_str(&format!(" · /{}", v.filter));
    }
    if !v.marked.is_empty() {
        t.push_str(&format!(" · {} selected", v.marked.len()));
    }
    if let Some(step) = app.tick_step()
        && let Some(ticks) = &step.mailboxes
    {
        t.push_str(&format!(
            " · ticked for {}: {}/{}",
            step.id, ticks.ticked, ticks.total
        ));
    }
    t
}

fn login(state: &LoginState) -> &'static str {
    match state {
        LoginState::Unknown => "?",
        LoginState::Ok => "✓",
        LoginState::Failed => "✗",
        LoginState::NoCredentials => "–",
    }
}

fn count(n: Option<u64>) -> String {
    n.map_or("?".to_string(), |n| n.to_string())
}

/// One mailbox as a table row of `w` columns; narrow tables drop the right columns.
/// The ticks of the per-mailbox step the mailbox pane ticks for (lowercase addresses).
type Ticks<'a> =
    Option<&'a std::collections::HashMap<String, crate::journal::history::Confirmation>>;

fn mailbox_line(
    app: &App,
    m: &MailboxRow,
    w: usize,
    selected: bool,
    ticks: Ticks<'_>,
) -> Line<'static> {
    let lower = m.address.to_lowercase();
    let marked = app.mailbox_view.marked.contains(&lower);
    let ticked = ticks.is_some_and(|t| t.contains_key(&lower));
    let synced = m
        .synced_percent
        .map_or("?".to_string(), |p| format!("{p:.0}%"));
    let fetch = match m.fetch_detected {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    };
    let copy = app
        .copy_state(m)
        .map(|c| {
            let total = (c.messages_done + c.messages_left).max(1);
            format!("{} {}%", sanitize(&c.state), c.messages_done * 100 / total)
        })
        .unwrap_or_default();
    let error = m.last_error.as_deref().map(sanitize).unwrap_or_default();
    let (addr_w, rest_w) = columns(w);
    let mut text = format!(
        "{}{}{} {} {} {} {} {} {}",
        if marked { "•" } else { " " },
        if ticked { "✓" } else { " " },
        pad(&sanitize(&m.address), addr_w),
        pad(
            &format!("{} {}", login(&m.old_login), login(&m.new_login)),
            3
        ),
        pad_left(&count(m.old_messages), 6),
        pad_left(&count(m.new_messages), 6),
        pad_left(&synced, 4),
        pad(fetch, 3),
        if m.throttled { "T" } else { " " },
    );
    if rest_w > 0 {
        let tail = if error.is_empty() { copy } else { error };
        text.push(' ');
        text.push_str(&pad(&tail, rest_w));
    }
    let text = pad(&text, w);
    let mut s = if m.last_error.is_some() {
        style(app, Color::Red, None)
    } else if m.synced_percent.is_some_and(|p| p >= 100.0) {
        style(app, Color::Green, None)
    } else {
        Style::default()
    };
    if selected {
        s = s.add_modifier(Modifier::REVERSED);
    }
    Line::from(Span::styled(text, s))
}

/// Widths of the address column and the last (copy/error) column for a table `w` wide.
fn columns(w: usize) -> (usize, usize) {
    // marker 1, tick 1, logins 3, messages 6+6, synced 4, fetch 3, throttled 1, 7 separators.
    let fixed = 1 + 1 + 3 + 6 + 6 + 4 + 3 + 1 + 7;
    // Leave the copy / error column at least 11 columns when there is room.
    let addr = w.saturating_sub(fixed + 12).clamp(12, 30);
    let rest = w.saturating_sub(fixed + addr + 1);
    (addr, rest)
}

fn mailboxes(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let (addr_w, rest_w) = columns(w);
    let mut head = format!(
        "  {} {} {} {} {} {} {}",
        pad("address", addr_w),
        pad("o/n", 3),
        pad_left("old #", 6),
        pad_left("new #", 6),
        pad_left("sync", 4),
        pad("pop", 3),
        "T",
    );
    if rest_w > 0 {
        head.push(' ');
        head.push_str(&pad("copy / last error", rest_w));
    }
    let mut lines = vec![Line::from(Span::styled(
        pad(&head, w),
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    ))];
    let v = &app.mailbox_view;
    let rows = h.saturating_sub(1);
    // Only the visible rows are built: 5,000 mailboxes cost what a screenful does.
    let offset = v.offset.min(v.order.len().saturating_sub(rows));
    let ticks = app
        .tick_step()
        .and_then(|s| app.history.step(&s.id))
        .map(|r| &r.ticks);
    for (pos, &i) in v.order.iter().enumerate().skip(offset).take(rows) {
        let selected = pos == v.selected && app.focus == Pane::Mailboxes;
        lines.push(mailbox_line(app, &app.mailboxes[i], w, selected, ticks));
    }
    if v.order.is_empty() {
        lines.push(Line::from(fit("no mailbox matches the filter", w)));
    }
    lines
}

fn journal_line(app: &App, e: &Entry) -> String {
    let at = e
        .at()
        .map(|t| local(app, t, "%a %H:%M"))
        .unwrap_or_else(|| "         ".into());
    let mb = |m: &Option<String>| {
        m.as_ref()
            .map(|m| format!(" for {}", sanitize(m)))
            .unwrap_or_default()
    };
    let what = match e {
        Entry::Applied { operator, step, .. } => {
            format!("applied   {step} by {}", sanitize(operator))
        }
        Entry::Confirm {
            operator,
            step,
            mailbox,
            ..
        } => format!("confirmed {step}{} by {}", mb(mailbox), sanitize(operator)),
        Entry::Override {
            operator,
            step,
            mailbox,
            reason,
            ..
        } => format!(
            "OVERRIDE  {step}{} by {}: {}",
            mb(mailbox),
            sanitize(operator),
            sanitize(reason)
        ),
        Entry::Reopen {
            operator,
            step,
            mailbox,
            ..
        } => format!("reopened  {step}{} by {}", mb(mailbox), sanitize(operator)),
        Entry::Fact { key, evidence, .. } => {
            format!("seen      {}: {}", sanitize(key), sanitize(evidence))
        }
        Entry::Checkpoint {
            mailbox,
            folder,
            last_uid,
            ..
        } => format!(
            "checkpt   {} {} uid {last_uid}",
            sanitize(mailbox),
            sanitize(folder)
        ),
        Entry::Sync {
            mailbox,
            state,
            messages_done,
            messages_left,
            ..
        } => format!(
            "copy      {} {}: {messages_done} done, {messages_left} left",
            sanitize(mailbox),
            sanitize(state)
        ),
        Entry::Note { operator, text, .. } => {
            format!("note      {}: {}", sanitize(operator), sanitize(text))
        }
        Entry::Other => "(an entry from a newer cutover)".to_string(),
    };
    format!("{at} {what}")
}

fn journal(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    if app.journal.is_empty() {
        return vec![Line::from(fit("nothing recorded yet", w))];
    }
    let end = app.journal.len().saturating_sub(app.journal_scroll);
    let start = end.saturating_sub(h);
    app.journal
        .range(start..end)
        .map(|e| {
            let s = match e {
                Entry::Override { .. } => style(app, Color::Yellow, None),
                Entry::Confirm { .. } => style(app, Color::Green, None),
                _ => Style::default(),
            };
            Line::from(Span::styled(fit(&journal_line(app, e), w), s))
        })
        .collect()
}
