//! Popups drawn over the panes: confirmation, help, mailbox detail, DNS answer detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::mailbox_pane::{bytes, count, rate_and_left};
use super::panes::{check_style, tone_style};
use super::text::{fit, pad, wrap};
use super::{local, style};
use crate::actions::{MIN_REASON_CHARS, alarm_blockers, reason_is_enough};
use crate::app::dns_view::{current_dns_step, judge, row_order, ttl_now};
use crate::app::key_help::{HelpLine, help_lines};
use crate::app::model::{DnsCell, DnsRow, LoginState, MailboxRow, ServerRole, SyncedAs};
use crate::app::{App, Ask, ConfirmKind, ConfirmPopup};
use crate::check::Kind;
use crate::runbook::eval::confirm_blockers;
use crate::sanitize::sanitize;
use crate::units;

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
        ConfirmKind::Rollback => "Roll back to the old server".to_string(),
    };
    let tw = usize::from(w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    // Where the question starts: the lines from here on stay visible when the popup is cut.
    let mut question = 0;
    // A rollback is about no one step: its popup says what it undoes instead.
    if popup.kind != ConfirmKind::Rollback {
        for l in wrap(&status.title, tw, "") {
            lines.push(bold(l));
        }
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
        ConfirmKind::Rollback => {
            lines.push(Line::from(""));
            for l in wrap(
                &format!(
                    "This records in the journal: rollback decided by {operator} at {at}, with your reason. The steps from {} on are then rolled back, and the way back (the old MX back, the new removed, the new mail copied back) follows in the timeline.",
                    crate::step::StepId::AddNewMx
                ),
                tw,
                "",
            ) {
                lines.push(Line::from(l));
            }
            lines.push(Line::from(""));
            question = lines.len();
            lines.extend(reason_field(app, &popup.reason, tw));
        }
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
            let mut blockers = confirm_blockers(status, ticks);
            blockers.extend(alarm_blockers(&status.id, &app.eval.alarms));
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
            question = lines.len();
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
                let count = match blockers.len() {
                    1 => "1 check does not hold".to_string(),
                    n => format!("{n} checks do not hold"),
                };
                for l in wrap(
                    &format!(
                        "{count} ({}): confirming now is an override, journaled with your reason.",
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
                lines.extend(reason_field(app, &popup.reason, tw));
            }
        }
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX).min(h);
    let inner = popup_box(frame, app, area, w, height, &title);
    // Keep the end (the question and the reason) visible: cut from the middle of the evidence.
    let room = usize::from(inner.height);
    let tail = lines.len() - question.min(lines.len());
    let tail = if tail + 2 <= room { tail } else { 3 };
    if lines.len() > room && room > tail + 1 {
        let mut kept: Vec<Line<'static>> = lines[..room - tail - 1].to_vec();
        kept.push(Line::from("…"));
        kept.extend_from_slice(&lines[lines.len() - tail..]);
        lines = kept;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The override reason: its own label, the field, and what Enter needs or does.
fn reason_field(app: &App, reason: &str, tw: usize) -> Vec<Line<'static>> {
    let mut lines = vec![bold(fit(
        &format!("Override reason (at least {MIN_REASON_CHARS} characters, journaled verbatim):"),
        tw,
    ))];
    let field = format!(" {reason}▏");
    // Show the end of a long reason: that is where the typing happens.
    let shown = if super::text::width(&field) > tw {
        let skip = field.chars().count().saturating_sub(tw.saturating_sub(1));
        format!("…{}", field.chars().skip(skip).collect::<String>())
    } else {
        pad(&field, tw)
    };
    lines.push(Line::from(Span::styled(
        shown,
        Style::default().add_modifier(Modifier::REVERSED),
    )));
    let typed = reason.trim().chars().count();
    let hint = if reason_is_enough(reason) {
        Span::styled(
            fit("Enter records the override · Esc cancels", tw),
            Style::default().add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled(
            fit(
                &format!("{typed} of at least {MIN_REASON_CHARS} characters typed · Esc cancels"),
                tw,
            ),
            style(app, Color::Yellow, None),
        )
    };
    lines.push(Line::from(hint));
    lines
}

/// A yes/no question: what it is about, then `y …` or `n/Esc`.
pub fn ask(frame: &mut Frame, app: &App, ask: &Ask, area: Rect) {
    let w = area.width.saturating_sub(4).min(78);
    let tw = usize::from(w.saturating_sub(2));
    let mut lines: Vec<Line<'static>> = Vec::new();
    for (i, paragraph) in ask.text.iter().enumerate() {
        if i > 0 {
            lines.push(Line::from(""));
        }
        for l in wrap(&sanitize(paragraph), tw, "") {
            lines.push(Line::from(l));
        }
    }
    lines.push(Line::from(""));
    let answer = format!("y {} · n/Esc cancel", ask.yes);
    lines.push(bold(fit(&answer, tw)));
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, &ask.title);
    let room = usize::from(inner.height);
    // The answer line stays visible when the text is cut.
    if lines.len() > room && room > 1 {
        let last = lines.pop().unwrap_or_default();
        lines = cut(lines, room - 1);
        lines.push(last);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The `?` help: every key, one line each, scrolled by `app.help_scroll`, with where the
/// view is in its bottom border.
pub fn help(frame: &mut Frame, app: &App, area: Rect) {
    let w = area.width.saturating_sub(4).min(80);
    let tw = usize::from(w.saturating_sub(2));
    let lines: Vec<Line<'static>> = help_lines(app.rehearsal)
        .into_iter()
        .map(|l| match l {
            HelpLine::Heading(title) => bold(fit(title, tw)),
            HelpLine::Key(label, help) => {
                Line::from(fit(&format!("  {} {help}", pad(label, 10)), tw))
            }
        })
        .chain(
            app.log_path
                .iter()
                .map(|log| Line::from(fit(&format!("Log: {}", log.display()), tw))),
        )
        .collect();
    let total = lines.len();
    let height = u16::try_from(total + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, "Keys (? or Esc closes)");
    let room = usize::from(inner.height);
    let first = app.help_scroll.min(total.saturating_sub(room));
    let shown: Vec<Line<'static>> = lines.into_iter().skip(first).take(room).collect();
    frame.render_widget(Paragraph::new(shown), inner);
    if total > room && room > 0 && inner.width > 4 {
        let last = (first + room).min(total);
        let more = if last == total {
            "end · ↑/k PgUp back".to_string()
        } else {
            "↓/j PgDn more".to_string()
        };
        let hint = fit(
            &format!(" lines {}–{last} of {total} · {more} ", first + 1),
            usize::from(inner.width - 2),
        );
        let at = Rect {
            x: inner.x + 1,
            y: inner.y + inner.height,
            width: u16::try_from(super::text::width(&hint))
                .unwrap_or(0)
                .min(inner.width - 2),
            height: 1,
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                hint,
                Style::default().add_modifier(Modifier::BOLD),
            ))),
            at,
        );
    }
}

fn login_words(state: &LoginState) -> &'static str {
    match state {
        LoginState::Unknown => "not tried yet",
        LoginState::Ok => "works",
        LoginState::Failed => "fails",
    }
}

pub fn mailbox(frame: &mut Frame, app: &App, address: &str, area: Rect) {
    let Some(m) = app.mailboxes.iter().find(|m| m.address == address) else {
        return;
    };
    let w = area.width.saturating_sub(4).min(90);
    let tw = usize::from(w.saturating_sub(2));
    let opt = |n: Option<u64>| n.map_or("not measured".to_string(), |n| n.to_string());
    let copied = m
        .copied_at
        .map(|t| format!("the copy of {}", local(app, t, "%a %H:%M")))
        .unwrap_or_else(|| "the last copy".to_string());
    let synced = match (m.synced_as, m.synced_percent) {
        (SyncedAs::Stale, Some(p)) => {
            format!("stale: {p:.1}% verified by {copied}; the old side changed since")
        }
        (_, Some(p)) => format!("{p:.1}% verified by {copied}"),
        (_, None) => "no copy has verified it yet".to_string(),
    };
    let fetch = match m.fetch_detected {
        Some(true) => "detected",
        Some(false) => "not detected",
        None => "not measured (no probe before a copy put messages there)",
    };
    let mut lines = vec![
        Line::from(fit(
            &format!(
                "Login old: {} · new: {}",
                login_words(&m.old_login),
                login_words(&m.new_login)
            ),
            tw,
        )),
        Line::from(fit(
            &format!(
                "Messages old: {} · new: {}",
                opt(m.old_messages),
                opt(m.new_messages),
            ),
            tw,
        )),
        Line::from(fit(&format!("Synced: {synced}"), tw)),
        Line::from(fit(
            &format!(
                "POP3 fetch: {fetch} · throttled: {}",
                if m.throttled { "yes" } else { "no" }
            ),
            tw,
        )),
    ];
    lines.extend(new_mx_lines(app, m, tw));
    if let Some(c) = app.copy_state(m) {
        let (rate, left) = rate_and_left(&c);
        let text = if c.running() {
            format!(
                "Copy running: {} of {} messages, {} · {rate} · {left}",
                c.messages_done,
                c.messages_done + c.messages_left,
                bytes(c.bytes_done)
            )
        } else {
            format!(
                "Last copy: {} · {} copied, {} left, {}",
                sanitize(&c.state),
                c.messages_done,
                c.messages_left,
                bytes(c.bytes_done)
            )
        };
        for l in wrap(&text, tw, "  ") {
            lines.push(Line::from(l));
        }
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
    for f in &m.folders {
        lines.push(Line::from(fit(
            &format!(
                "{} {:>7} {:>7} {:>7} {}",
                pad(&sanitize(&f.name), name_w),
                count(f.old_messages),
                count(f.new_messages),
                count(f.missing),
                match f.verified {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
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
    let step = current_dns_step(&app.eval);
    // `row` counts rows as the pane shows them.
    let order = row_order(view, step);
    let Some(r) = order.get(row).and_then(|&i| view.rows.get(i)) else {
        return;
    };
    let (Some(server), Some(cell)) = (view.servers.get(col), r.cells.get(col)) else {
        return;
    };
    let w = area.width.saturating_sub(4).min(96);
    let tw = usize::from(w.saturating_sub(2));
    let role = match server.role {
        ServerRole::Authoritative => "authoritative",
        ServerRole::Resolver => "resolver",
    };
    let (status, why) = judge(&app.plan, step, r.kind, cell, server.role);
    let ttl = |cell: &DnsCell| match (
        server.role,
        ttl_now(cell, server.role, view.measured_at, app.now),
    ) {
        (_, None) => String::new(),
        (ServerRole::Authoritative, Some(t)) => format!("TTL {} as served", units::ttl(t)),
        (ServerRole::Resolver, Some(t)) => format!("{} left in the cache", units::ttl(t)),
    };
    let mut lines = vec![
        bold(fit(
            &format!(
                "{} of {} at {}, {role}",
                r.label,
                domain_name(&r.name, &app.plan.domain),
                server.full
            ),
            tw,
        )),
        Line::from(Span::styled(
            fit(&format!("{} {}", status.mark(), why), tw),
            check_style(app, status),
        )),
        Line::from(Span::styled(
            fit(
                &[sanitize(&cell.short), ttl(cell)]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · "),
                tw,
            ),
            tone_style(app, cell.tone),
        )),
    ];
    // One record a line, decoded: a long one (a DKIM key) wraps.
    for record in &cell.records {
        for l in wrap(&format!("  {}", sanitize(record)), tw, "    ") {
            lines.push(Line::from(l));
        }
    }
    lines.push(Line::from(Span::styled(
        fit(&sanitize(&cell.detail), tw),
        style(app, Color::DarkGray, None),
    )));
    let others: Vec<(&DnsRow, &DnsCell)> = view
        .other_rows
        .iter()
        .filter_map(|o| o.cells.get(col).map(|c| (o, c)))
        .collect();
    if !others.is_empty() {
        lines.push(bold(format!("Also at {}:", server.label)));
        for (o, c) in others {
            let when = ttl(c);
            let records: Vec<String> = if c.records.is_empty() && !c.definite {
                vec![sanitize(&c.detail)]
            } else if c.records.is_empty() {
                vec![sanitize(&c.short)]
            } else {
                c.records.iter().map(|r| sanitize(r)).collect()
            };
            for record in records {
                let text = format!("  {} {} {record}", o.name, o.rtype);
                let text = if when.is_empty() {
                    text
                } else {
                    format!("{text} · {when}")
                };
                lines.push(Line::from(fit(&text, tw)));
            }
        }
    }
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let inner = popup_box(frame, app, area, w, height, "DNS answer");
    frame.render_widget(Paragraph::new(cut(lines, usize::from(inner.height))), inner);
}

/// A name relative to the domain written out in full, without a final dot: `@` is the domain.
fn domain_name(relative: &str, domain: &str) -> String {
    match relative {
        "@" => domain.to_string(),
        name => format!("{}.{domain}", name.trim_end_matches('.')),
    }
}

/// The new MX's replies about the mailbox's addresses (its aliases too), refusals first.
fn new_mx_lines(app: &App, m: &MailboxRow, tw: usize) -> Vec<Line<'static>> {
    let Some(probe) = app.new_mx.get(&m.address.to_lowercase()) else {
        return vec![Line::from(fit(
            "New MX: not asked yet (`r` or `cutover status --probe-smtp` asks it)",
            tw,
        ))];
    };
    let mut answers: Vec<_> = probe.answers.iter().collect();
    answers.sort_by_key(|a| a.accepts.map_or(1, |ok| if ok { 2 } else { 0 }));
    let mut lines = vec![Line::from(fit(
        &format!(
            "New MX, asked {}:{}",
            local(app, probe.at, "%a %H:%M"),
            if probe.accepts_anything {
                " it accepts made-up addresses too, so acceptance proves nothing"
            } else {
                ""
            }
        ),
        tw,
    ))];
    for a in answers {
        let (word, colour) = match a.accepts {
            Some(true) => ("accepts", Color::Green),
            Some(false) => ("REFUSES", Color::Red),
            None => ("no answer for", Color::Yellow),
        };
        let text = format!(
            "{} {word} {}: {}",
            sanitize(&a.host),
            sanitize(&a.address),
            sanitize(&a.reply)
        );
        for l in wrap(&text, tw.saturating_sub(2), "  ") {
            lines.push(Line::from(Span::styled(
                format!("  {l}"),
                style(app, colour, None),
            )));
        }
    }
    lines
}
