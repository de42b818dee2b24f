//! Popups drawn over the panes: confirmation, help, mailbox detail, DNS answer detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::panes::{check_style, tone_style};
use super::text::{fit, pad, wrap};
use super::{local, style};
use crate::app::keymap::{KEYMAP, Scope};
use crate::app::{App, ConfirmKind, ConfirmPopup};
use crate::check::Kind;
use crate::runbook::eval::confirm_blockers;
use crate::sanitize::sanitize;

/// A centred box of at most `w`×`h` inside `area`, cleared, with a title; returns its inside.
pub(super) fn popup_box(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    w: u16,
    h: u16,
    title: &str,
) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_style(style(app, Color::Yellow, None).add_modifier(Modifier::BOLD))
        .title(Line::from(Span::styled(
            format!(" {title} "),
            Style::default().add_modifier(Modifier::BOLD),
        )));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

/// Cuts to `h` lines, marking a cut with `…`.
fn cut(mut lines: Vec<Line<'static>>, h: usize) -> Vec<Line<'static>> {
    if lines.len() > h && h > 0 {
        lines.truncate(h);
        if let Some(last) = lines.last_mut() {
            *last = Line::from("…");
        }
    }
    lines
}

fn bold(s: String) -> Line<'static> {
    Line::from(Span::styled(
        s,
        Style::default().add_modifier(Modifier::BOLD),
    ))
}

pub fn confirm(frame: &mut Frame, app: &App, popup: &ConfirmPopup, area: Rect) {
    let w = area.width.saturating_sub(4).min(96);
    let h = area.height.saturating_sub(2);
    let Some(status) = app.eval.step(&popup.step) else {
        return;
    };
    let title = match popup.kind {
        ConfirmKind::Confirm => format!("Confirm {}", popup.step),
        ConfirmKind::Reopen => format!("Reopen {}", popup.step),
    };
    let tw = usize::from(w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    for l in wrap(&status.title, tw, "") {
        lines.push(bold(l));
    }
    if !popup.mailboxes.is_empty() {
        let list: Vec<String> = popup.mailboxes.iter().map(|m| sanitize(m)).collect();
        for l in wrap(
            &format!("For {} mailbox(es): {}", list.len(), list.join(", ")),
            tw,
            "  ",
        )
        .into_iter()
        .take(3)
        {
            lines.push(Line::from(l));
        }
    }
    let operator = sanitize(&app.plan.operator);
    let at = local(app, app.now, "%a %-d %b %H:%M %Z");
    match popup.kind {
        ConfirmKind::Reopen => {
            lines.push(Line::from(""));
            for l in wrap(
                &format!(
                    "This records in the journal: reopen {} by {operator} at {at}. The step must then be confirmed again.",
                    popup.step
                ),
                tw,
                "",
            ) {
                lines.push(Line::from(l));
            }
            lines.push(Line::from(""));
            lines.push(bold("y reopen · n/Esc cancel".into()));
        }
        ConfirmKind::Confirm => {
            let ticks = !popup.mailboxes.is_empty();
            let blockers = confirm_blockers(status, ticks);
            lines.push(Line::from(fit(
                &format!("This records: confirmed by {operator} at {at}, with this evidence:"),
                tw,
            )));
            for c in &status.checks {
                let kind = match c.kind {
                    Kind::Gate => "gate",
                    Kind::Outcome => "outcome",
                };
                let text = format!(
                    "{} {kind:<7} {}: {}",
                    c.status.mark(),
                    c.id,
                    sanitize(&c.evidence)
                );
                for l in wrap(&text, tw, "          ") {
                    lines.push(Line::from(Span::styled(l, check_style(app, c.status))));
                }
            }
            if status.checks.is_empty() {
                lines.push(Line::from("(no checks)"));
            }
            lines.push(Line::from(""));
            let not_holding: Vec<&str> = status
                .checks
                .iter()
                .filter(|c| !c.status.holds())
                .map(|c| c.id.as_str())
                .collect();
            if blockers.is_empty() && not_holding.is_empty() {
                lines.push(bold("Every check holds. y confirms · n/Esc cancels".into()));
            } else if blockers.is_empty() {
                // A tick needs only the gates: say so, never "every check holds" beside a ✗.
                for l in wrap(
                    &format!(
                        "The gates hold; not yet: {}. y records this tick · n/Esc cancels",
                        not_holding.join(", ")
                    ),
                    tw,
                    "",
                ) {
                    lines.push(bold(l));
                }
            } else {
                let ids: Vec<&str> = blockers.iter().map(|c| c.id.as_str()).collect();
                for l in wrap(
                    &format!(
                        "{} check(s) do not hold ({}). Confirming needs an override: type why, then Enter (journaled verbatim). Esc cancels.",
                        blockers.len(),
                        ids.join(", ")
                    ),
                    tw,
                    "",
                ) {
                    lines.push(Line::from(Span::styled(
                        l,
                        style(app, Color::Red, None).add_modifier(Modifier::BOLD),
                    )));
                }
                let reason = format!("Reason: {}▏", popup.reason);
                // Show the end of a long reason: that is where the typing happens.
                let shown = if super::text::width(&reason) > tw {
                    let skip = reason.chars().count().saturating_sub(tw.saturating_sub(1));
                    format!("…{}", reason.chars().skip(skip).collect::<String>())
                } else {
                    reason
                };
                lines.push(Line::from(Span::styled(
                    shown,
                    Style::default().add_modifier(Modifier::REVERSED),
                )));
            }
        }
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX).min(h);
    let inner = popup_box(frame, app, area, w, height, &title);
    // Keep the end (the question and the reason) visible: cut from the middle of the evidence.
    let room = usize::from(inner.height);
    if lines.len() > room && room > 4 {
        let tail = 3;
        let mut kept: Vec<Line<'static>> = lines[..room - tail - 1].to_vec();
        kept.push(Line::from("…"));
        kept.extend_from_slice(&lines[lines.len() - tail..]);
        lines = kept;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn help(frame: &mut Frame, app: &App, area: Rect) {
    let w = area.width.saturating_sub(4).min(80);
    let tw = usize::from(w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    for scope in [
        Scope::Global,
        Scope::Steps,
        Scope::Dns,
        Scope::Mailboxes,
        Scope::Popup,
        Scope::Rehearsal,
    ] {
        if scope == Scope::Rehearsal && !app.rehearsal {
            continue;
        }
        lines.push(bold(scope.title().to_string()));
        for b in KEYMAP.iter().filter(|b| b.scope == scope) {
            lines.push(Line::from(fit(
                &format!("  {} {}", pad(b.label, 7), b.help),
                tw,
            )));
        }
    }
    if let Some(log) = &app.log_path {
        lines.push(Line::from(fit(&format!("Log: {}", log.display()), tw)));
    }
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, "Keys (? or Esc closes)");
    // Two columns when the list does not fit in one.
    let room = usize::from(inner.height);
    if lines.len() > room && inner.width >= 60 {
        let half = inner.width / 2;
        let left = Rect {
            width: half,
            ..inner
        };
        let right = Rect {
            x: inner.x + half,
            width: inner.width - half,
            ..inner
        };
        let second = lines.split_off(room.min(lines.len()));
        let fitw = usize::from(half.saturating_sub(1));
        let refit = |ls: Vec<Line<'static>>| -> Vec<Line<'static>> {
            ls.into_iter()
                .map(|l| {
                    let s: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
                    let st = l.spans.first().map(|s| s.style).unwrap_or_default();
                    Line::from(Span::styled(fit(&s, fitw), st))
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(refit(lines)), left);
        frame.render_widget(Paragraph::new(cut(refit(second), room)), right);
    } else {
        frame.render_widget(Paragraph::new(cut(lines, room)), inner);
    }
}

pub fn mailbox(frame: &mut Frame, app: &App, address: &str, area: Rect) {
    let Some(m) = app.mailboxes.iter().find(|m| m.address == address) else {
        return;
    };
    let w = area.width.saturating_sub(4).min(90);
    let tw = usize::from(w.saturating_sub(2));
    let opt = |n: Option<u64>| n.map_or("not measured".to_string(), |n| n.to_string());
    let mut lines = vec![
        Line::from(fit(
            &format!("Login old: {:?} · new: {:?}", m.old_login, m.new_login),
            tw,
        )),
        Line::from(fit(
            &format!(
                "Messages old: {} · new: {} · synced: {}",
                opt(m.old_messages),
                opt(m.new_messages),
                m.synced_percent
                    .map_or("not measured".into(), |p| format!("{p:.1}%"))
            ),
            tw,
        )),
        Line::from(fit(
            &format!(
                "POP3 fetch detected: {} · throttled: {}",
                match m.fetch_detected {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "not measured",
                },
                if m.throttled { "yes" } else { "no" }
            ),
            tw,
        )),
    ];
    if let Some(c) = app.copy_state(m) {
        lines.push(Line::from(fit(
            &format!(
                "Copy: {} · {} done, {} left, {} bytes",
                sanitize(&c.state),
                c.messages_done,
                c.messages_left,
                c.bytes_done
            ),
            tw,
        )));
    }
    if let Some(e) = &m.last_error {
        for l in wrap(&format!("Last error: {}", sanitize(e)), tw, "  ") {
            lines.push(Line::from(Span::styled(l, style(app, Color::Red, None))));
        }
    }
    lines.push(Line::from(""));
    let name_w = tw.saturating_sub(34).max(8);
    lines.push(bold(fit(
        &format!(
            "{} {:>7} {:>7} {:>7} {}",
            pad("folder", name_w),
            "old",
            "new",
            "missing",
            "verified"
        ),
        tw,
    )));
    if m.folders.is_empty() {
        lines.push(Line::from("no folders measured yet"));
    }
    let c = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    for f in &m.folders {
        lines.push(Line::from(fit(
            &format!(
                "{} {:>7} {:>7} {:>7} {}",
                pad(&sanitize(&f.name), name_w),
                c(f.old_messages),
                c(f.new_messages),
                c(f.missing),
                if f.verified { "yes" } else { "no" }
            ),
            tw,
        )));
    }
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, &sanitize(&m.address));
    frame.render_widget(Paragraph::new(cut(lines, usize::from(inner.height))), inner);
}

pub fn dns_cell(frame: &mut Frame, app: &App, row: usize, col: usize, area: Rect) {
    let Some(view) = &app.dns else {
        return;
    };
    let (Some(r), Some(server)) = (view.rows.get(row), view.servers.get(col)) else {
        return;
    };
    let Some(cell) = r.cells.get(col) else {
        return;
    };
    let w = area.width.saturating_sub(4).min(90);
    let tw = usize::from(w.saturating_sub(2));
    let mut lines = vec![
        Line::from(fit(
            &format!(
                "{} {} at {} ({:?})",
                sanitize(&r.name),
                r.rtype,
                sanitize(&server.label),
                server.role
            ),
            tw,
        )),
        Line::from(Span::styled(
            fit(
                &format!(
                    "{} · TTL {}",
                    sanitize(&cell.short),
                    cell.ttl.map_or("—".into(), |t| format!("{t} s"))
                ),
                tw,
            ),
            tone_style(app, cell.tone),
        )),
    ];
    for l in wrap(&sanitize(&cell.detail), tw, "") {
        lines.push(Line::from(l));
    }
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, "DNS answer");
    frame.render_widget(Paragraph::new(cut(lines, usize::from(inner.height))), inner);
}
