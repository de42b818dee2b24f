//! Where everything goes on the screen: pure layout from the state and the
//! terminal size. `update` pages the mailbox table by it; `ui` draws into it.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::{App, Pane, Role};

/// Below this size the panes become tabs.
pub const WIDE_COLUMNS: u16 = 100;
pub const WIDE_ROWS: u16 = 30;

/// How many banner lines stand above the panes: an alarm, and "observing".
pub fn banner_count(app: &App) -> u16 {
    let alarm = app.dns.as_ref().is_some_and(|d| d.alarm.is_some());
    let observing = matches!(app.role, Role::Observing(_));
    u16::from(alarm) + u16::from(observing)
}

/// Where everything goes on a screen of a given size.
#[derive(Debug, Clone)]
pub struct Areas {
    pub header: Rect,
    pub banners: Rect,
    /// The tab bar, when the panes are tabs.
    pub tabs: Option<Rect>,
    pub panes: Vec<(Pane, Rect)>,
    pub status: Rect,
    pub footer: Rect,
}

/// Whether the screen is large enough to show every pane at once.
pub fn is_wide(area: Rect) -> bool {
    area.width >= WIDE_COLUMNS && area.height >= WIDE_ROWS
}

/// The layout of `area` for this state.
pub fn areas(app: &App, area: Rect) -> Areas {
    let banners = banner_count(app);
    let [header, banner, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banners),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if !is_wide(area) {
        let [tabs, pane] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        return Areas {
            header,
            banners: banner,
            tabs: Some(tabs),
            panes: vec![(app.focus, pane)],
            status,
            footer,
        };
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(46), Constraint::Fill(1)]).areas(body);
    let steps_rows = u16::try_from(app.eval.steps.len() + 3 + 1 + 2).unwrap_or(u16::MAX);
    let [steps, next] = Layout::vertical([
        Constraint::Length(steps_rows.min(left.height * 3 / 5)),
        Constraint::Fill(1),
    ])
    .areas(left);
    // Borders and two heading lines; the DNS host card below (heading, records,
    // a blank line) may take up to half the column.
    let card = app
        .eval
        .next
        .as_ref()
        .and_then(|n| crate::dns::host_card::host_card(&n.step, &app.plan, app.dns_round.as_ref()))
        .map_or(0, |c| {
            // The pane's inner width: a record longer than it takes more than one row.
            let w = usize::from(right.width.saturating_sub(2));
            c.rows(w).len() + c.notes.len() + 3 + if c.wraps(w) { 2 } else { 0 }
        });
    let dns_rows = app.dns.as_ref().map_or(1, |d| d.rows.len() + 1) + 3 + card;
    let dns_rows = u16::try_from(dns_rows)
        .unwrap_or(u16::MAX)
        .clamp(4, right.height / if card > 0 { 2 } else { 3 });
    let [dns, mailboxes, journal] = Layout::vertical([
        Constraint::Length(dns_rows),
        Constraint::Fill(1),
        Constraint::Length((right.height / 4).max(4)),
    ])
    .areas(right);
    Areas {
        header,
        banners: banner,
        tabs: None,
        panes: vec![
            (Pane::Steps, steps),
            (Pane::Next, next),
            (Pane::Dns, dns),
            (Pane::Mailboxes, mailboxes),
            (Pane::Journal, journal),
        ],
        status,
        footer,
    }
}

/// How many mailbox rows the table shows at the current size (for paging and scrolling).
pub fn mailbox_rows_visible(app: &App) -> usize {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let a = areas(app, area);
    let pane = a
        .panes
        .iter()
        .find(|(p, _)| *p == Pane::Mailboxes)
        .or_else(|| a.panes.first())
        .map(|(_, r)| *r)
        .unwrap_or_default();
    // Borders (2), the column header (1) and, while copies run, their total line (1).
    let total = u16::from(app.copy_total().is_some());
    usize::from(pane.height.saturating_sub(3 + total))
}

/// How many lines of the `?` help show at once: the screen less a row above and below
/// the box and its two borders.
pub fn help_rows_visible(app: &App) -> usize {
    usize::from(app.size.1.saturating_sub(4)).max(1)
}

/// The furthest the help scrolls: its last line at the bottom of the box.
pub fn help_scroll_max(app: &App) -> usize {
    // The help ends with the log file's path when there is one.
    let lines =
        crate::app::key_help::help_lines(app.rehearsal).len() + usize::from(app.log_path.is_some());
    lines.saturating_sub(help_rows_visible(app))
}
