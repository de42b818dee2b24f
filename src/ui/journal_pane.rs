//! The journal pane: the folded tail of the journal (`app::journal_view`), newest at the
//! bottom, filtered by kind with `f`.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use super::mailbox_pane::bytes;
use super::text::fit;
use super::{local, style};
use crate::app::App;
use crate::app::journal_view::{CopyLine, Fold, JournalFilter, JournalItem, JournalKind};
use crate::journal::Entry;
use crate::sanitize::sanitize;

/// "Journal", or "Journal · alarms only · f: next kind" while filtered.
pub fn title(app: &App) -> String {
    match app.journal_view.filter {
        JournalFilter::All => "Journal".to_string(),
        f => format!("Journal · {} only · f: next kind", f.as_str()),
    }
}

/// A mailbox as the pane names it: without `@` and the plan's own domain (short lines fit).
fn short(app: &App, address: &str) -> String {
    let local = address
        .rsplit_once('@')
        .filter(|(_, domain)| domain.eq_ignore_ascii_case(&app.plan.domain))
        .map_or(address, |(local, _)| local);
    sanitize(local)
}

/// Up to three names, then how many more.
fn names(app: &App, list: &[String]) -> String {
    let shown: Vec<String> = list.iter().take(3).map(|n| short(app, n)).collect();
    let mut s = shown.join(", ");
    if list.len() > 3 {
        s.push_str(&format!(" and {} more", list.len() - 3));
    }
    s
}

fn entry_text(e: &Entry) -> String {
    let mb = |m: &Option<String>| {
        m.as_ref()
            .map(|m| format!(" for {}", sanitize(m)))
            .unwrap_or_default()
    };
    match e {
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
        Entry::Fact { key, evidence, .. } if evidence.is_empty() => {
            format!("seen      {}", sanitize(key))
        }
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
    }
}

fn copy_text(app: &App, c: &CopyLine) -> String {
    let state = c
        .state
        .as_deref()
        .map_or("checkpoints".to_string(), sanitize);
    let mut s = format!("copy      {} {state}", short(app, &c.mailbox));
    if c.state.is_some() {
        s.push_str(&format!(
            ": {} copied, {} left, {}",
            c.messages_done,
            c.messages_left,
            bytes(c.bytes_done)
        ));
    }
    if !c.folders.is_empty() {
        s.push_str(&format!(
            " · {} checkpointed",
            crate::units::count(c.folders.len() as u64, "folder", "folders")
        ));
    }
    if let Some(detail) = &c.detail {
        s.push_str(&format!(" · {}", sanitize(detail)));
    }
    s
}

pub fn journal_line(app: &App, item: &JournalItem) -> String {
    let at = item
        .at
        .map(|t| local(app, t, "%a %H:%M"))
        .unwrap_or_else(|| "         ".into());
    let what = match &item.fold {
        Fold::One(Entry::Fact { key, evidence, .. }) if item.kind == JournalKind::Alarm => {
            let word = if key.contains("cleared") {
                "cleared  "
            } else {
                "ALARM    "
            };
            format!("{word} {}", sanitize(evidence))
        }
        Fold::One(e) => entry_text(e),
        Fold::Uidnext {
            mailboxes, changed, ..
        } => {
            let mut s = format!(
                "seen      old INBOX UIDNEXT of {}",
                crate::units::count(*mailboxes as u64, "mailbox", "mailboxes")
            );
            if changed.is_empty() {
                s.push_str(", none changed");
            } else {
                s.push_str(&format!(
                    "; {} changed: {}",
                    changed.len(),
                    names(app, changed)
                ));
            }
            s
        }
        Fold::Facts { key, count, first } => format!(
            "seen      {} ×{count}: {} (and {} more)",
            sanitize(key),
            sanitize(first),
            count - 1
        ),
        Fold::Copy(c) => copy_text(app, c),
    };
    format!("{at} {what}")
}

fn item_style(app: &App, item: &JournalItem) -> Style {
    match (&item.fold, item.kind) {
        (Fold::One(Entry::Override { .. }), _) => style(app, Color::Yellow, None),
        (_, JournalKind::Alarm) => style(app, Color::Red, None),
        (_, JournalKind::Confirmation) => style(app, Color::Green, None),
        _ => Style::default(),
    }
}

pub fn journal(app: &App, w: usize, h: usize) -> Vec<Line<'static>> {
    let view = &app.journal_view;
    if view.is_empty() {
        return vec![Line::from(fit("nothing recorded yet", w))];
    }
    // Newest first from the scroll position, then turned so the newest is at the bottom.
    let mut lines: Vec<Line<'static>> = view
        .newest_first()
        .skip(app.journal_scroll)
        .take(h)
        .map(|item| {
            Line::from(Span::styled(
                fit(&journal_line(app, item), w),
                item_style(app, item),
            ))
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from(fit(
            &match view.len() {
                0 => "nothing in the journal yet".to_string(),
                n => format!(
                    "no {} in the last {}",
                    view.filter.as_str(),
                    crate::units::count(n as u64, "line", "lines")
                ),
            },
            w,
        )));
    }
    lines.reverse();
    lines
}
