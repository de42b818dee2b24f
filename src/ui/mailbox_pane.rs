//! The mailbox table: one row per mailbox (counts, synced share or `stale`, POP3 fetch, the
//! copy's progress or the last error), and while copies run a total line under it.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::style;
use super::text::{fit, pad, pad_left};
use crate::app::model::{CopyProgress, LoginState, MailboxRow, SyncedAs};
use crate::app::{App, Pane};
use crate::sanitize::sanitize;

pub fn mailbox_title(app: &App) -> String {
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
    }
}

pub fn count(n: Option<u64>) -> String {
    n.map_or("?".to_string(), |n| n.to_string())
}

/// Bytes in the largest unit that keeps a number ≥ 1: "900 B", "46 MB", "1.2 GB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 || v >= 10.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The synced column: the last copy's share, `stale` once the old side changed since.
pub fn synced(m: &MailboxRow) -> String {
    match (m.synced_as, m.synced_percent) {
        (SyncedAs::Stale, _) => "stale".to_string(),
        (_, Some(p)) => format!("{p:.0}%"),
        (_, None) => "?".to_string(),
    }
}

/// The new MX column: ✓ every address (aliases too) accepted, ✗ one refused, ? not asked
/// or no definite answer.
pub fn new_mx(app: &App, m: &MailboxRow) -> &'static str {
    match app
        .new_mx
        .get(&m.address.to_lowercase())
        .and_then(|a| a.verdict())
    {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "?",
    }
}

pub fn fetch(m: &MailboxRow) -> &'static str {
    match m.fetch_detected {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// A copy's rate and time left in words ("12 msg/s, 480 kB/s", "25 s left"); unknown said so.
pub fn rate_and_left(c: &CopyProgress) -> (String, String) {
    let rate = c.rate.map_or("rate unknown yet".to_string(), |r| {
        format!(
            "{:.0} msg/s, {}/s",
            r.messages_per_sec,
            bytes(r.bytes_per_sec as u64)
        )
    });
    let left = c.time_left().map_or("time left unknown".to_string(), |d| {
        format!("{} left", crate::units::duration(d))
    });
    (rate, left)
}

/// The first of `candidates` that fits `w` columns, else the last (to be cut).
fn first_fitting(mut candidates: Vec<String>, w: usize) -> String {
    let last = candidates.pop().unwrap_or_default();
    candidates
        .into_iter()
        .find(|s| super::text::width(s) <= w)
        .unwrap_or(last)
}

/// A copy in the row's last column, as long as fits `w`.
fn copy_cell(c: &CopyProgress, w: usize) -> String {
    let total = c.messages_done + c.messages_left;
    if !c.running() {
        return match c.state.as_str() {
            "verified" => "copy verified".to_string(),
            state if c.messages_left > 0 => {
                format!("copy {}, {} left", sanitize(state), c.messages_left)
            }
            state => format!("copy {}", sanitize(state)),
        };
    }
    if total == 0 {
        // Its first line: folders are still being read, nothing to count yet.
        return "starting".to_string();
    }
    let pct = format!("{}%", c.messages_done * 100 / total);
    let done = bytes(c.bytes_done);
    let mut candidates = Vec::new();
    match (c.rate, c.time_left()) {
        (Some(r), Some(left)) => {
            let left = crate::units::duration(left);
            let per_sec = r.messages_per_sec.round();
            candidates.push(format!(
                "{} of {total} · {done} · {per_sec} msg/s · {left} left",
                c.messages_done
            ));
            candidates.push(format!("{pct} {done} {per_sec}/s {left}"));
            candidates.push(format!("{pct} {done} {left}"));
            candidates.push(format!("{pct} {left}"));
        }
        _ => {
            candidates.push(format!(
                "{} of {total} · {done} · rate unknown yet",
                c.messages_done
            ));
            candidates.push(format!("{pct} {done}"));
        }
    }
    candidates.push(pct);
    first_fitting(candidates, w)
}

/// The ticks of the per-mailbox step the mailbox pane ticks for (lowercase addresses).
type Ticks<'a> =
    Option<&'a std::collections::HashMap<String, crate::journal::history::Confirmation>>;

/// One mailbox as a table row of `w` columns; narrow tables drop the right columns.
pub fn mailbox_line(
    app: &App,
    m: &MailboxRow,
    w: usize,
    selected: bool,
    ticks: Ticks<'_>,
) -> Line<'static> {
    let lower = m.address.to_lowercase();
    let marked = app.mailbox_view.marked.contains(&lower);
    let ticked = ticks.is_some_and(|t| t.contains_key(&lower));
    let error = m.last_error.as_deref().map(sanitize).unwrap_or_default();
    let (addr_w, rest_w) = columns(w);
    let mut text = format!(
        "{}{}{} {} {} {} {} {} {} {}",
        if marked { "•" } else { " " },
        if ticked { "✓" } else { " " },
        pad(&sanitize(&m.address), addr_w),
        pad(
            &format!("{} {}", login(&m.old_login), login(&m.new_login)),
            3
        ),
        pad_left(&count(m.old_messages), 6),
        pad_left(&count(m.new_messages), 6),
        pad_left(&synced(m), 5),
        pad(fetch(m), 3),
        pad(new_mx(app, m), 2),
        if m.throttled { "T" } else { " " },
    );
    if rest_w > 0 {
        let tail = if error.is_empty() {
            app.copy_state(m)
                .map(|c| copy_cell(&c, rest_w))
                .unwrap_or_default()
        } else {
            error
        };
        text.push(' ');
        text.push_str(&pad(&tail, rest_w));
    }
    let text = pad(&text, w);
    let mut s = if m.last_error.is_some() {
        style(app, Color::Red, None)
    } else if m.synced_as == SyncedAs::Stale {
        style(app, Color::Yellow, None)
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
pub fn columns(w: usize) -> (usize, usize) {
    // marker 1, tick 1, logins 3, messages 6+6, synced 5, fetch 3, new MX 2, throttled 1,
    // 8 separators.
    let fixed = 1 + 1 + 3 + 6 + 6 + 5 + 3 + 2 + 1 + 8;
    // Leave the copy / error column at least 11 columns when there is room.
    let addr = w.saturating_sub(fixed + 12).clamp(12, 30);
    let rest = w.saturating_sub(fixed + addr + 1);
    (addr, rest)
}

/// The running copies together, for the line under the table.
fn total_line(app: &App, w: usize) -> Option<Line<'static>> {
    let (n, total) = app.copy_total()?;
    let head = format!(
        "Copying {}: {}/{}, {}",
        crate::units::count(n as u64, "mailbox", "mailboxes"),
        total.messages_done,
        crate::units::count(
            total.messages_done + total.messages_left,
            "message",
            "messages"
        ),
        bytes(total.bytes_done),
    );
    let text = match (total.rate, total.time_left()) {
        (Some(r), Some(left)) => {
            let left = crate::units::duration(left);
            first_fitting(
                vec![
                    format!(
                        "{head} · {:.0} msg/s, {}/s · {left} left",
                        r.messages_per_sec,
                        bytes(r.bytes_per_sec as u64)
                    ),
                    format!("{head} · {:.0} msg/s · {left} left", r.messages_per_sec),
                    format!("{head} · {left} left"),
                ],
                w,
            )
        }
        _ => format!("{head} · rate and time left unknown yet"),
    };
    Some(Line::from(Span::styled(
        pad(&fit(&text, w), w),
        style(app, Color::Cyan, None).add_modifier(Modifier::BOLD),
    )))
}

pub fn mailboxes(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let (addr_w, rest_w) = columns(w);
    let mut head = format!(
        "  {} {} {} {} {} {} {} {}",
        pad("address", addr_w),
        pad("o/n", 3),
        pad_left("old #", 6),
        pad_left("new #", 6),
        pad_left("sync", 5),
        pad("pop", 3),
        pad("mx", 2),
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
    let total = total_line(app, w);
    let v = &app.mailbox_view;
    let rows = h.saturating_sub(1 + usize::from(total.is_some()));
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
    if let Some(total) = total {
        // The total stands on the pane's last line, below however many rows there are.
        while lines.len() + 1 < h {
            lines.push(Line::from(""));
        }
        lines.push(total);
    }
    lines
}
