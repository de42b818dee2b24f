//! The DNS pane: the records the steps change, one column per server, each cell
//! ✓/✗ against the current step, the value in short and the TTL (served at an
//! authoritative server, counting down at a resolver); under it, for a DNS step,
//! the card of what to change at the DNS host.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::panes::{check_style, not_measured, tone_style, window};
use super::style;
use super::text::{fit, pad, width, wrap};
use crate::app::dns_view::{current_dns_step, judge, row_order, ttl_now};
use crate::app::model::{DnsView, ServerRole};
use crate::app::{App, Pane};
use crate::dns::host_card::{Change, HostCard, ONE_LINE_NOTE, host_card};
use crate::sanitize::sanitize;
use crate::units::ttl_short;

/// The widest the label column gets (`DKIM selector1`).
const LABEL_MAX: usize = 14;

pub fn dns(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let Some(view) = &app.dns else {
        let mut lines = vec![Line::from(Span::styled(
            fit(&not_measured(app), w),
            style(app, Color::DarkGray, None),
        ))];
        lines.extend(card_lines(app, w));
        return window(lines, h, None);
    };
    let step = current_dns_step(&app.eval);
    let order = row_order(view, step);
    let label_w = view
        .rows
        .iter()
        .map(|r| width(&r.label))
        .max()
        .unwrap_or(0)
        .clamp(3, LABEL_MAX)
        + 1;
    let n = view.servers.len().max(1);
    let col_w = (w.saturating_sub(label_w) / n).max(4);
    let mut lines = head(app, view, label_w, col_w);
    let mut focus = None;
    for (shown, &r) in order.iter().enumerate() {
        let row = &view.rows[r];
        let mut spans = vec![Span::raw(pad(&sanitize(&row.label), label_w))];
        for (c, (cell, server)) in row.cells.iter().zip(&view.servers).enumerate() {
            let (status, _) = judge(&app.plan, step, row.kind, cell, server.role);
            let ttl = ttl_now(cell, server.role, view.measured_at, app.now)
                .map(ttl_short)
                .unwrap_or_default();
            // The mark and the TTL always show; the value gets what is left.
            let inner = col_w.saturating_sub(1);
            let value_w = inner.saturating_sub(2 + width(&ttl) + usize::from(!ttl.is_empty()));
            let value = pad(&sanitize(&cell.short), value_w);
            let text = if ttl.is_empty() {
                format!("{} {value}", status.mark())
            } else {
                format!("{} {value} {ttl}", status.mark())
            };
            let mut s = tone_style(app, cell.tone);
            if app.focus == Pane::Dns && app.dns_cursor == (shown, c) {
                s = s.add_modifier(Modifier::REVERSED);
                focus = Some(lines.len());
            }
            spans.push(Span::styled(
                pad(&text, inner),
                check_style(app, status).patch(s),
            ));
            spans.push(Span::raw(" "));
        }
        lines.push(Line::from(spans));
    }
    let card = card_lines(app, w);
    if !card.is_empty() {
        lines.push(Line::from(""));
        lines.extend(card);
    }
    window(lines, h, focus)
}

/// Two heading lines: the role over each run of columns, then each server's name.
fn head(app: &App, view: &DnsView, label_w: usize, col_w: usize) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut roles = vec![Span::raw(" ".repeat(label_w))];
    let mut names = vec![Span::raw(pad("", label_w))];
    let mut i = 0;
    while i < view.servers.len() {
        let role = view.servers[i].role;
        let run = view.servers[i..]
            .iter()
            .take_while(|s| s.role == role)
            .count();
        let word = match (role, run) {
            (ServerRole::Authoritative, 1) => "authoritative",
            (ServerRole::Authoritative, _) => "authoritative servers",
            (ServerRole::Resolver, 1) => "resolver",
            (ServerRole::Resolver, _) => "resolvers",
        };
        let room = (run * col_w).saturating_sub(1);
        let word = match role {
            _ if width(word) <= room => word,
            ServerRole::Authoritative => "auth",
            ServerRole::Resolver => "res",
        };
        let rule = "─".repeat(room.saturating_sub(width(word) + 1));
        roles.push(Span::styled(
            pad(&format!("{word} {rule}"), run * col_w),
            style(app, Color::DarkGray, None),
        ));
        i += run;
    }
    for s in &view.servers {
        // A space between names, however long: `127.0.0.1:5301` runs into the next otherwise.
        names.push(Span::styled(pad(&s.label, col_w.saturating_sub(1)), bold));
        names.push(Span::raw(" "));
    }
    vec![Line::from(roles), Line::from(names)]
}

/// The DNS host card of the next step, when it changes records there.
fn card_lines(app: &App, w: usize) -> Vec<Line<'static>> {
    let Some(next) = &app.eval.next else {
        return vec![];
    };
    match host_card(&next.step, &app.plan, app.dns_round.as_ref()) {
        Some(card) => card_view(app, &card, w),
        None => vec![],
    }
}

/// A card drawn: its heading, then each record whole (`-` red, `+` green), a longer
/// one over continuation rows marked `↳`, and then, when one wrapped, where to copy it
/// from in one line.
pub fn card_view(app: &App, card: &HostCard, w: usize) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = wrap(&card.heading(), w, "  ")
        .into_iter()
        .map(|l| {
            Line::from(Span::styled(
                l,
                Style::default().add_modifier(Modifier::BOLD),
            ))
        })
        .collect();
    // Every record whole: a longer one goes on over continuation rows.
    for (change, row) in card.rows(w) {
        let colour = match change {
            Change::Keep => Style::default(),
            Change::Remove => style(app, Color::Red, None),
            Change::Add => style(app, Color::Green, None),
        };
        lines.push(Line::from(Span::styled(sanitize(&row), colour)));
    }
    if card.wraps(w) {
        for l in wrap(ONE_LINE_NOTE, w, "  ") {
            lines.push(Line::from(Span::styled(
                l,
                style(app, Color::DarkGray, None),
            )));
        }
    }
    for note in &card.notes {
        for l in wrap(&format!("; {}", sanitize(note)), w, "  ") {
            lines.push(Line::from(Span::styled(l, style(app, Color::Yellow, None))));
        }
    }
    lines
}
